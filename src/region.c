/*
 * region: create, size and map the backing of one region.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                             /* memfd_create, fallocate, F_ADD_SEALS */
#endif

#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "log.h"

/* glibc's <sys/mman.h> has MFD_HUGETLB but not the size flags, and
 * <linux/memfd.h> redefines what glibc already has. */
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21u << MFD_HUGE_SHIFT)
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB (30u << MFD_HUGE_SHIFT)
#endif

#define REGION_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define HUGE_1G ((uint64_t)1 << 30)

/* What opening a backing produced, before it is mapped. */
struct region_open {
	int fd;
	uint64_t size;
	uint64_t granularity;
	enum region_pages pages;
	int sealed;
	char *path;
};

__attribute__((format(printf, 4, 5)))
static void region_error(char *err, size_t errlen, const struct config_region *cfg,
			 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "region '%s': %s", cfg->name, msg);
}

const char *region_backing_name(enum config_backing b)
{
	return config_backing_name(b);
}

const char *region_pages_name(enum region_pages p)
{
	switch (p) {
	case REGION_PAGES_NORMAL:
		return "normal";
	case REGION_PAGES_THP:
		return "thp";
	case REGION_PAGES_HUGETLB:
		return "hugetlb";
	}
	return "unknown";
}

void region_describe(const struct region *r, char *buf, size_t len)
{
	if (r->backing == CONFIG_BACKING_HUGETLB && r->pages != REGION_PAGES_HUGETLB)
		snprintf(buf, len, "hugetlb\xe2\x86\x92%s", region_pages_name(r->pages));
	else
		snprintf(buf, len, "%s", region_backing_name(r->backing));
}

/* Round size up to a multiple of the power of two page; 0 on overflow. */
static uint64_t round_up(uint64_t size, uint64_t page)
{
	if (size > (uint64_t)INT64_MAX - (page - 1))
		return 0;
	return (size + page - 1) & ~(page - 1);
}

static uint64_t system_page_size(void)
{
	long v = sysconf(_SC_PAGESIZE);

	return v > 0 ? (uint64_t)v : 4096;
}

/* A memfd of size bytes that allows sealing. */
static int memfd_open(const struct config_region *cfg, uint64_t size, int *fdp, char *err,
		      size_t errlen)
{
	char name[CONFIG_NAME_MAX + 16];
	char human[32];
	int fd, rc;

	snprintf(name, sizeof(name), "shmpool:%s", cfg->name);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "memfd_create: %s", strerror(-rc));
		return rc;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		config_size_human(size, human, sizeof(human));
		region_error(err, errlen, cfg, "cannot size to %s: %s", human, strerror(-rc));
		goto fail;
	}
	*fdp = fd;
	return 0;

fail:
	close(fd);
	return rc;
}

/* Add the seals that keep every client from resizing the memfd. */
static int memfd_seal(const struct config_region *cfg, int fd, char *err, size_t errlen)
{
	int rc;

	if (fcntl(fd, F_ADD_SEALS, REGION_SEALS) < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "cannot seal: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* A plain memfd of o->size bytes, sealed against resizing. */
static int memfd_sealed(const struct config_region *cfg, struct region_open *o, char *err,
			size_t errlen)
{
	int rc = memfd_open(cfg, o->size, &o->fd, err, errlen);

	if (rc < 0)
		return rc;
	rc = memfd_seal(cfg, o->fd, err, errlen);
	if (rc < 0) {
		close(o->fd);
		o->fd = -1;
		return rc;
	}
	o->sealed = 1;
	return 0;
}

static int open_memfd(const struct config_region *cfg, struct region_open *o, char *err,
		      size_t errlen)
{
	int rc;

	o->granularity = system_page_size();
	o->size = round_up(cfg->size, o->granularity);
	if (o->size == 0) {
		region_error(err, errlen, cfg, "size is too large");
		return -EINVAL;
	}
	rc = memfd_sealed(cfg, o, err, errlen);
	if (rc < 0)
		return rc;
	o->pages = REGION_PAGES_NORMAL;
	return 0;
}

#ifdef HAVE_NUMA
/* A node mask with room for every node numa_node may name; the kernel reads
 * one bit less than the maxnode it is given. */
#define NODE_MASK_WORDS (CONFIG_NUMA_NODE_MAX / (8 * sizeof(unsigned long)) + 2)
#define NODE_MASK_BITS (NODE_MASK_WORDS * 8 * sizeof(unsigned long))

static void node_mask(int node, unsigned long mask[NODE_MASK_WORDS])
{
	const unsigned long bits = 8 * sizeof(unsigned long);

	memset(mask, 0, NODE_MASK_WORDS * sizeof(unsigned long));
	mask[(unsigned long)node / bits] = 1ul << ((unsigned long)node % bits);
}

/*
 * Bind the mapping to one node.  numa_tonode_memory() would do the same
 * but returns nothing and reports failures through numa_error(), which only
 * the program may override, so the mbind() that libnuma wraps is called
 * directly.
 */
static int region_bind(const struct config_region *cfg, void *base, uint64_t size, char *err,
		       size_t errlen)
{
	unsigned long mask[NODE_MASK_WORDS];
	int rc;

	node_mask(cfg->numa_node, mask);
	if (mbind(base, size, MPOL_BIND, mask, NODE_MASK_BITS, MPOL_MF_MOVE) < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "cannot bind to numa_node %d: %s", cfg->numa_node,
			     strerror(-rc));
		return rc;
	}
	return 0;
}

/* The calling thread's memory policy, kept while it is bound to a node. */
struct task_policy {
	int bound;
	int mode;
	unsigned long mask[NODE_MASK_WORDS];
};

/*
 * fallocate() on a hugetlb memfd takes its pages before there is a mapping
 * to mbind(), following the policy of the calling thread; so the thread is
 * bound to the region's node around it and restored afterwards.
 */
static void task_bind(const struct config_region *cfg, struct task_policy *saved)
{
	unsigned long mask[NODE_MASK_WORDS];

	saved->bound = 0;
	if (cfg->numa_node == CONFIG_NO_NUMA_NODE)
		return;
	if (get_mempolicy(&saved->mode, saved->mask, NODE_MASK_BITS, NULL, 0) < 0)
		return;
	node_mask(cfg->numa_node, mask);
	if (set_mempolicy(MPOL_BIND, mask, NODE_MASK_BITS) == 0)
		saved->bound = 1;
}

static void task_unbind(struct task_policy *saved)
{
	if (saved->bound)
		set_mempolicy(saved->mode, saved->mask, NODE_MASK_BITS);
}
#else
struct task_policy {
	int bound;
};

static void task_bind(const struct config_region *cfg, struct task_policy *saved)
{
	(void)cfg;
	saved->bound = 0;
}

static void task_unbind(struct task_policy *saved)
{
	(void)saved;
}
#endif

/* Read a small sysfs or procfs file into buf; 0 or -errno. */
static int read_small_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		rc = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return rc;
}

/* Free huge pages of this size, or -1 when the kernel does not say. */
static long hugepages_free(uint64_t page_size)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (unsigned long long)(page_size >> 10));
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* Where the administrator reserves huge pages of this size. */
static void hugepages_knob(uint64_t page_size, char *buf, size_t len)
{
	if (page_size == CONFIG_DEFAULT_PAGE_SIZE)
		snprintf(buf, len, "/proc/sys/vm/nr_hugepages");
	else
		snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages",
			 (unsigned long long)(page_size >> 10));
}

/* Whether the kernel's shmem policy lets madvise(MADV_HUGEPAGE) give a
 * memfd transparent huge pages of this size. */
static int thp_shmem_allowed(uint64_t page_size)
{
	static const char *const yes[] = { "always", "within_size", "advise", "force" };
	char path[128], buf[256];
	char *open_br, *close_br;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/transparent_hugepage/hugepages-%llukB/shmem_enabled",
		 (unsigned long long)(page_size >> 10));
	if (read_small_file(path, buf, sizeof(buf)) < 0 || strstr(buf, "[inherit]")) {
		if (read_small_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled", buf,
				    sizeof(buf)) < 0)
			return 0;
	}
	open_br = strchr(buf, '[');
	close_br = open_br ? strchr(open_br, ']') : NULL;
	if (!close_br)
		return 0;
	*close_br = '\0';
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(open_br + 1, yes[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * A memfd of huge pages with every page allocated up front.
 * memfd_create(MFD_HUGETLB) and ftruncate succeed even when no huge page
 * is free, and the mapping would then SIGBUS at the first touch; fallocate
 * takes the pages now and fails with ENOSPC when they are not there.
 * Returns -ENOMEM with the reason in why when huge pages are missing or
 * not supported, any other error as it is.
 */
static int hugetlb_try(const struct config_region *cfg, struct region_open *o, char *why,
		       size_t whylen, char *err, size_t errlen)
{
	unsigned int flag = cfg->page_size == HUGE_1G ? MFD_HUGE_1GB : MFD_HUGE_2MB;
	char name[CONFIG_NAME_MAX + 16];
	char human[32], knob[128];
	struct task_policy policy;
	long nfree;
	int fd, rc;

	config_size_human(cfg->page_size, human, sizeof(human));
	hugepages_knob(cfg->page_size, knob, sizeof(knob));
	snprintf(name, sizeof(name), "shmpool:%s", cfg->name);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | flag);
	if (fd < 0) {
		rc = -errno;
		/* No hstate of that size: EINVAL or ENOENT from older
		 * kernels, ENODEV from hugetlb_file_setup on newer ones. */
		if (rc == -EINVAL || rc == -ENOENT || rc == -ENODEV) {
			snprintf(why, whylen, "%s huge pages are not supported here", human);
			return -ENOMEM;
		}
		region_error(err, errlen, cfg, "memfd_create: %s", strerror(-rc));
		return rc;
	}
	if (ftruncate(fd, (off_t)o->size) < 0) {
		rc = -errno;
		close(fd);
		region_error(err, errlen, cfg, "cannot size the huge page memfd: %s", strerror(-rc));
		return rc;
	}
	task_bind(cfg, &policy);
	rc = fallocate(fd, 0, 0, (off_t)o->size) < 0 ? -errno : 0;
	task_unbind(&policy);
	if (rc < 0) {
		close(fd);
		if (rc != -ENOSPC && rc != -ENOMEM) {
			region_error(err, errlen, cfg, "cannot allocate huge pages: %s", strerror(-rc));
			return rc;
		}
		nfree = hugepages_free(cfg->page_size);
		if (nfree <= 0)
			snprintf(why, whylen, "no %s huge pages available (reserve some via %s)", human,
				 knob);
		else
			snprintf(why, whylen, "not enough %s huge pages (need %llu, %ld free; "
				 "reserve more via %s)", human,
				 (unsigned long long)(o->size / cfg->page_size), nfree, knob);
		return -ENOMEM;
	}
	rc = memfd_seal(cfg, fd, err, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	o->fd = fd;
	o->sealed = 1;
	o->pages = REGION_PAGES_HUGETLB;
	return 0;
}

static int open_hugetlb(const struct config_region *cfg, struct region_open *o, char *err,
			size_t errlen)
{
	char why[256] = "";
	int rc;

	if (cfg->page_size != CONFIG_DEFAULT_PAGE_SIZE && cfg->page_size != HUGE_1G) {
		region_error(err, errlen, cfg, "page_size must be 2M or 1G");
		return -EINVAL;
	}
	o->granularity = cfg->page_size;
	o->size = round_up(cfg->size, o->granularity);
	if (o->size == 0) {
		region_error(err, errlen, cfg, "size is too large");
		return -EINVAL;
	}
	rc = hugetlb_try(cfg, o, why, sizeof(why), err, errlen);
	if (rc != -ENOMEM || why[0] == '\0')
		return rc;
	if (cfg->hugepages == CONFIG_HUGEPAGES_REQUIRE) {
		region_error(err, errlen, cfg, "%s", why);
		return rc;
	}

	/* hugepages = prefer: a plain memfd, with transparent huge pages when
	 * the kernel's shmem policy allows them.  The size stays rounded to
	 * the huge page size so that every huge page can be filled. */
	rc = memfd_sealed(cfg, o, err, errlen);
	if (rc < 0)
		return rc;
	o->pages = thp_shmem_allowed(CONFIG_DEFAULT_PAGE_SIZE) ? REGION_PAGES_THP :
								 REGION_PAGES_NORMAL;
	log_notice("region '%s': %s; using %s", cfg->name, why,
		   o->pages == REGION_PAGES_THP ? "transparent huge pages" : "normal pages");
	return 0;
}

static int open_shm(const struct config_region *cfg, struct region_open *o, char *err,
		    size_t errlen)
{
	char def[CONFIG_NAME_MAX + 16];
	const char *name = cfg->path;
	struct stat st;
	int rc;

	if (!name) {
		snprintf(def, sizeof(def), "/shmpool.%s", cfg->name);
		name = def;
	}
	if (name[0] != '/' || name[1] == '\0' || strchr(name + 1, '/')) {
		region_error(err, errlen, cfg, "invalid shm name '%s'", name);
		return -EINVAL;
	}
	o->granularity = system_page_size();
	o->size = round_up(cfg->size, o->granularity);
	if (o->size == 0) {
		region_error(err, errlen, cfg, "size is too large");
		return -EINVAL;
	}
	o->path = strdup(name);
	if (!o->path) {
		region_error(err, errlen, cfg, "out of memory");
		return -ENOMEM;
	}
	o->fd = shm_open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->fd < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "shm_open %s: %s", name, strerror(-rc));
		goto fail;
	}
	if (fstat(o->fd, &st) < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "fstat %s: %s", name, strerror(-rc));
		goto fail_close;
	}
	/* An object left by an earlier run is grown when it is too small and
	 * never shrunk: its tail beyond the configured size is left unused. */
	if ((uint64_t)st.st_size < o->size) {
		if (ftruncate(o->fd, (off_t)o->size) < 0) {
			rc = -errno;
			region_error(err, errlen, cfg, "cannot grow %s: %s", name, strerror(-rc));
			goto fail_close;
		}
	} else if ((uint64_t)st.st_size > o->size) {
		log_notice("region '%s': %s is larger than configured; using its first %llu bytes",
			   cfg->name, name, (unsigned long long)o->size);
	}
	o->pages = REGION_PAGES_NORMAL;
	return 0;

fail_close:
	close(o->fd);
fail:
	free(o->path);
	o->path = NULL;
	return rc;
}

static int open_file(const struct config_region *cfg, struct region_open *o, char *err,
		     size_t errlen)
{
	int flags = O_RDWR | O_CLOEXEC | (cfg->sync ? O_SYNC : 0);
	char have[32];
	struct stat st;
	uint64_t devsize;
	int rc;

	if (!cfg->path || cfg->path[0] == '\0') {
		region_error(err, errlen, cfg, "backing file needs a path");
		return -EINVAL;
	}
	o->granularity = system_page_size();
	o->size = round_up(cfg->size, o->granularity);
	if (o->size == 0) {
		region_error(err, errlen, cfg, "size is too large");
		return -EINVAL;
	}
	o->path = strdup(cfg->path);
	if (!o->path) {
		region_error(err, errlen, cfg, "out of memory");
		return -ENOMEM;
	}
	o->fd = open(cfg->path, flags);
	/* A missing regular file is created, but nothing is created under
	 * /dev, where a missing path is a device that is not there. */
	if (o->fd < 0 && errno == ENOENT && strncmp(cfg->path, "/dev/", 5) != 0)
		o->fd = open(cfg->path, flags | O_CREAT | O_EXCL, 0600);
	if (o->fd < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "%s: %s", cfg->path, strerror(-rc));
		goto fail;
	}
	if (fstat(o->fd, &st) < 0) {
		rc = -errno;
		region_error(err, errlen, cfg, "fstat %s: %s", cfg->path, strerror(-rc));
		goto fail_close;
	}
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size < o->size && ftruncate(o->fd, (off_t)o->size) < 0) {
			rc = -errno;
			region_error(err, errlen, cfg, "cannot grow %s: %s", cfg->path, strerror(-rc));
			goto fail_close;
		}
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(o->fd, BLKGETSIZE64, &devsize) == 0 && devsize < o->size) {
			config_size_human(devsize, have, sizeof(have));
			region_error(err, errlen, cfg, "%s holds only %s", cfg->path, have);
			rc = -EINVAL;
			goto fail_close;
		}
	} else if (!S_ISCHR(st.st_mode)) {
		region_error(err, errlen, cfg, "%s is neither a regular file nor a device",
			     cfg->path);
		rc = -EINVAL;
		goto fail_close;
	}
	o->pages = REGION_PAGES_NORMAL;
	return 0;

fail_close:
	close(o->fd);
fail:
	free(o->path);
	o->path = NULL;
	return rc;
}

/* Whether the process may lock memory beyond RLIMIT_MEMLOCK. */
static int has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)) != 0;
}

static void lock_limit_error(const struct config_region *cfg, uint64_t size, rlim_t limit,
			     char *err, size_t errlen)
{
	char want[32], have[32];

	config_size_human(size, want, sizeof(want));
	config_size_human((uint64_t)limit, have, sizeof(have));
	region_error(err, errlen, cfg,
		     "cannot lock %s: RLIMIT_MEMLOCK is %s (raise LimitMEMLOCK= or ulimit -l)", want,
		     have);
}

static int region_lock(const struct config_region *cfg, void *base, uint64_t size, char *err,
		       size_t errlen)
{
	struct rlimit rl;
	char want[32];
	int rc;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		rl.rlim_cur = RLIM_INFINITY;
	if (rl.rlim_cur != RLIM_INFINITY && size > rl.rlim_cur && !has_cap_ipc_lock()) {
		lock_limit_error(cfg, size, rl.rlim_cur, err, errlen);
		return -ENOMEM;
	}
	/* The raw system call, because AddressSanitizer turns mlock() into a
	 * no-op that always succeeds, and a sanitized daemon must still lock
	 * the region and meet the limit like any other. */
	if (syscall(SYS_mlock, base, (size_t)size) == 0)
		return 0;
	rc = -errno;
	if ((rc == -ENOMEM || rc == -EPERM) && rl.rlim_cur != RLIM_INFINITY) {
		lock_limit_error(cfg, size, rl.rlim_cur, err, errlen);
		return -ENOMEM;
	}
	config_size_human(size, want, sizeof(want));
	region_error(err, errlen, cfg, "cannot lock %s: %s", want, strerror(-rc));
	return rc;
}

/* Refuse a numa_node this build or this machine cannot honour. */
static int numa_check(const struct config_region *cfg, char *err, size_t errlen)
{
	if (cfg->numa_node == CONFIG_NO_NUMA_NODE)
		return 0;
#ifdef HAVE_NUMA
	if (cfg->numa_node < 0) {
		region_error(err, errlen, cfg, "invalid numa_node %d", cfg->numa_node);
		return -EINVAL;
	}
	if (numa_available() < 0) {
		region_error(err, errlen, cfg, "numa_node is set but NUMA is not available here");
		return -EOPNOTSUPP;
	}
	if (cfg->numa_node > numa_max_node()) {
		region_error(err, errlen, cfg, "numa_node %d does not exist (highest node is %d)",
			     cfg->numa_node, numa_max_node());
		return -EINVAL;
	}
	return 0;
#else
	region_error(err, errlen, cfg, "numa_node requires libnuma; rebuild with libnuma-dev");
	return -EOPNOTSUPP;
#endif
}

/* Say when non-cacheable is only a label for routing allocations. */
static void warn_cacheability(const struct config_region *cfg)
{
	if (cfg->attr != CONFIG_ATTR_NON_CACHEABLE)
		return;
	if (cfg->backing == CONFIG_BACKING_FILE && cfg->sync)
		return;
	log_warning("region '%s': non-cacheable on a %s region only routes allocations; the memory "
		    "is cached (uncached memory needs a device that provides it, with sync = yes)",
		    cfg->name,
		    cfg->backing == CONFIG_BACKING_FILE ? "file (without sync = yes)" :
							  config_backing_name(cfg->backing));
}

int region_map(const struct config_region *cfg, uint32_t id, struct region *r, char *err,
	       size_t errlen)
{
	struct region_open o = { .fd = -1 };
	char human[32];
	void *base;
	int populate;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !r)
		return -EINVAL;
	if (cfg->size == 0) {
		region_error(err, errlen, cfg, "size must not be 0");
		return -EINVAL;
	}
	rc = numa_check(cfg, err, errlen);
	if (rc < 0)
		return rc;
	warn_cacheability(cfg);

	switch (cfg->backing) {
	case CONFIG_BACKING_MEMFD:
		rc = open_memfd(cfg, &o, err, errlen);
		break;
	case CONFIG_BACKING_SHM:
		rc = open_shm(cfg, &o, err, errlen);
		break;
	case CONFIG_BACKING_HUGETLB:
		rc = open_hugetlb(cfg, &o, err, errlen);
		break;
	case CONFIG_BACKING_FILE:
		rc = open_file(cfg, &o, err, errlen);
		break;
	default:
		region_error(err, errlen, cfg, "unknown backing %d", (int)cfg->backing);
		return -EINVAL;
	}
	if (rc < 0)
		return rc;

	/* With a NUMA node the pages must not be faulted in before mbind, so
	 * prefaulting happens after it. */
	populate = cfg->prefault && cfg->numa_node == CONFIG_NO_NUMA_NODE;
	base = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0),
		    o.fd, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		config_size_human(o.size, human, sizeof(human));
		region_error(err, errlen, cfg, "cannot map %s: %s", human, strerror(-rc));
		goto fail_close;
	}
	if (o.pages == REGION_PAGES_THP && madvise(base, o.size, MADV_HUGEPAGE) < 0) {
		log_info("region '%s': madvise(MADV_HUGEPAGE): %s", cfg->name, strerror(errno));
		o.pages = REGION_PAGES_NORMAL;
	}
#ifdef HAVE_NUMA
	if (cfg->numa_node != CONFIG_NO_NUMA_NODE) {
		rc = region_bind(cfg, base, o.size, err, errlen);
		if (rc < 0)
			goto fail_unmap;
		if (cfg->prefault && madvise(base, o.size, MADV_POPULATE_WRITE) < 0)
			log_info("region '%s': cannot prefault: %s", cfg->name, strerror(errno));
	}
#endif
	if (cfg->lock) {
		rc = region_lock(cfg, base, o.size, err, errlen);
		if (rc < 0)
			goto fail_unmap;
	}

	memset(r, 0, sizeof(*r));
	memcpy(r->name, cfg->name, sizeof(r->name));
	r->name[sizeof(r->name) - 1] = '\0';
	r->id = id;
	r->attr = cfg->attr;
	r->backing = cfg->backing;
	r->pages = o.pages;
	r->fd = o.fd;
	r->base = base;
	r->size = o.size;
	r->granularity = o.granularity;
	r->sealed = o.sealed;
	r->locked = cfg->lock;
	r->numa_node = cfg->numa_node;
	r->path = o.path;
	config_size_human(o.size, human, sizeof(human));
	log_info("region '%s': %s, %s, %s pages", r->name, human, config_backing_name(r->backing),
		 region_pages_name(r->pages));
	return 0;

fail_unmap:
	munmap(base, o.size);
fail_close:
	close(o.fd);
	free(o.path);
	return rc;
}

void region_unmap(struct region *r)
{
	if (!r)
		return;
	if (r->base)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	r->base = NULL;
	r->fd = -1;
	r->path = NULL;
}
