/*
 * test_region: map every backing for real and check it from a second
 * mapping in a forked child.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifdef HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "config.h"
#include "log.h"
#include "region.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)

static char err[1024];
static char logbuf[4096];
static char shm_name[64];             /* unlinked by teardown if a test fails */

static void log_capture(void *ctx, enum log_level level, const char *msg)
{
	size_t n = strlen(logbuf);

	(void)ctx;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s: %s\n", log_level_name(level), msg);
}

static int setup(void **state)
{
	(void)state;
	logbuf[0] = '\0';
	err[0] = '\0';
	log_set_level(LOG_LEVEL_NOTICE);
	log_set_sink(log_capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_sink(NULL, NULL);
	if (shm_name[0])
		shm_unlink(shm_name);
	shm_name[0] = '\0';
	return 0;
}

/* A region configuration with every default of the file format. */
static void region_cfg(struct config_region *c, const char *name, uint64_t size,
		       enum config_backing backing)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->size = size;
	c->backing = backing;
	c->attr = CONFIG_ATTR_CACHEABLE;
	c->hugepages = CONFIG_HUGEPAGES_PREFER;
	c->page_size = CONFIG_DEFAULT_PAGE_SIZE;
	c->numa_node = CONFIG_NO_NUMA_NODE;
	snprintf(c->heap, sizeof(c->heap), "default");
}

static unsigned char pattern(uint64_t off, unsigned seed)
{
	return (unsigned char)((off * 131u + seed) ^ (off >> 12));
}

/*
 * Write a pattern through the daemon's mapping, have a forked child map the
 * fd a second time, check the pattern and answer through its mapping, and
 * check the answer here.  Offsets: the start, every page boundary's
 * neighbours at a stride, and the last byte.
 */
static void check_shared(const struct region *r)
{
	unsigned char *p = r->base;
	uint64_t step = r->size / 7 + 1;
	pid_t pid;
	int status;

	for (uint64_t off = 0; off < r->size; off += step)
		p[off] = pattern(off, 1);
	p[r->size - 1] = pattern(r->size - 1, 1);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char *q = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);

		if (q == MAP_FAILED)
			_exit(2);
		for (uint64_t off = 0; off < r->size; off += step) {
			if (q[off] != pattern(off, 1))
				_exit(3);
		}
		if (q[r->size - 1] != pattern(r->size - 1, 1))
			_exit(4);
		for (uint64_t off = 0; off < r->size; off += step)
			q[off] = pattern(off, 2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (uint64_t off = 0; off < r->size; off += step)
		assert_int_equal(p[off], pattern(off, 2));
}

/* Resident pages of the mapping, as mincore sees them. */
static size_t resident_pages(const struct region *r)
{
	size_t pages = r->size / 4096, n = 0;
	unsigned char *vec = malloc(pages);

	assert_non_null(vec);
	assert_int_equal(mincore(r->base, r->size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static void test_memfd(void **state)
{
	struct config_region c;
	struct region r;
	char desc[64];

	(void)state;
	region_cfg(&c, "mem", 5000, CONFIG_BACKING_MEMFD);
	assert_int_equal(region_map(&c, 3, &r, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(r.name, "mem");
	assert_int_equal(r.id, 3);
	assert_int_equal(r.attr, 0);
	assert_int_equal(r.backing, CONFIG_BACKING_MEMFD);
	assert_int_equal(r.pages, REGION_PAGES_NORMAL);
	assert_int_equal(r.size, 8192);
	assert_int_equal(r.granularity, 4096);
	assert_int_equal(r.sealed, 1);
	assert_int_equal(r.locked, 0);
	assert_null(r.path);
	assert_true(r.fd >= 0);
	assert_int_equal(fcntl(r.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	assert_int_equal(fcntl(r.fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	errno = 0;
	assert_int_equal(ftruncate(r.fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(r.fd, 1 << 20), -1);
	assert_int_equal(errno, EPERM);
	/* No client can add F_SEAL_WRITE and freeze everyone's writes. */
	errno = 0;
	assert_int_equal(fcntl(r.fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);

	/* Lazy by default: nothing resident until touched. */
	assert_int_equal(resident_pages(&r), 0);
	check_shared(&r);
	region_describe(&r, desc, sizeof(desc));
	assert_string_equal(desc, "memfd");
	region_unmap(&r);
	assert_int_equal(r.fd, -1);
	assert_null(r.base);
	assert_string_equal(logbuf, "");
}

static void test_memfd_prefault(void **state)
{
	struct config_region c;
	struct region r;

	(void)state;
	region_cfg(&c, "pre", 64 * KiB, CONFIG_BACKING_MEMFD);
	c.prefault = 1;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(resident_pages(&r), 16);
	region_unmap(&r);
}

static void test_shm(void **state)
{
	char name[64], path[80];
	struct config_region c;
	struct region r;
	struct stat st;
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "/shmpool-test.%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	snprintf(shm_name, sizeof(shm_name), "%s", name);
	shm_unlink(name);
	region_cfg(&c, "s", 1 * MiB + 1, CONFIG_BACKING_SHM);
	c.path = name;
	assert_int_equal(region_map(&c, 1, &r, err, sizeof(err)), 0);
	assert_int_equal(r.size, 1 * MiB + 4096);
	assert_int_equal(r.granularity, 4096);
	assert_int_equal(r.sealed, 0);
	assert_int_equal(r.pages, REGION_PAGES_NORMAL);
	assert_string_equal(r.path, name);
	/* A shm object carries F_SEAL_SEAL from birth: no seal can be added. */
	assert_int_equal(fcntl(r.fd, F_GET_SEALS), F_SEAL_SEAL);
	errno = 0;
	assert_int_equal(fcntl(r.fd, F_ADD_SEALS, F_SEAL_GROW), -1);
	assert_int_equal(errno, EPERM);
	check_shared(&r);
	region_unmap(&r);

	/* The object outlives the mapping, with its contents. */
	fd = shm_open(name, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 1 * MiB + 4096);
	close(fd);
	assert_int_equal(region_map(&c, 1, &r, err, sizeof(err)), 0);
	assert_int_equal(((unsigned char *)r.base)[0], pattern(0, 2));
	region_unmap(&r);

	/* A larger object from an earlier run is used, not shrunk. */
	c.size = 64 * KiB;
	assert_int_equal(region_map(&c, 1, &r, err, sizeof(err)), 0);
	assert_int_equal(r.size, 64 * KiB);
	region_unmap(&r);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1 * MiB + 4096);
	{
		char expect[256];

		snprintf(expect, sizeof(expect),
			 "notice: region 's': %s is larger than configured; using its first 65536 "
			 "bytes\n", name);
		assert_string_equal(logbuf, expect);
	}
	assert_int_equal(shm_unlink(name), 0);
}

static void test_shm_default_name(void **state)
{
	char rname[32], name[64];
	struct config_region c;
	struct region r;

	(void)state;
	snprintf(rname, sizeof(rname), "t%d", (int)getpid());
	snprintf(name, sizeof(name), "/shmpool.%s", rname);
	snprintf(shm_name, sizeof(shm_name), "%s", name);
	shm_unlink(name);
	region_cfg(&c, rname, 4096, CONFIG_BACKING_SHM);
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_string_equal(r.path, name);
	region_unmap(&r);
	assert_int_equal(shm_unlink(name), 0);

	c.path = "no-slash";
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err + strlen(err) - strlen("invalid shm name 'no-slash'"),
			    "invalid shm name 'no-slash'");
}

/* A number from /proc/meminfo, or -1. */
static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

/* Free 1 GiB huge pages, or -1 when the size is not supported. */
static long free_1g(void)
{
	char buf[64];
	long v = -1;
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "r");

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

static void test_hugetlb_prefer(void **state)
{
	struct config_region c;
	struct region r;
	char desc[64], expect[512];
	long before = meminfo("HugePages_Free");

	(void)state;
	assert_true(before >= 0);
	region_cfg(&c, "hp", 1 * MiB, CONFIG_BACKING_HUGETLB);
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.backing, CONFIG_BACKING_HUGETLB);
	assert_int_equal(r.size, 2 * MiB);
	assert_int_equal(r.sealed, 1);
	assert_int_equal(fcntl(r.fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	region_describe(&r, desc, sizeof(desc));
	if (before >= 1) {
		/* One huge page is ours now. */
		assert_int_equal(r.pages, REGION_PAGES_HUGETLB);
		assert_int_equal(r.granularity, 2 * MiB);
		assert_int_equal(meminfo("HugePages_Free"), before - 1);
		assert_string_equal(desc, "hugetlb");
		assert_string_equal(logbuf, "");
	} else {
		assert_true(r.pages == REGION_PAGES_THP || r.pages == REGION_PAGES_NORMAL);
		snprintf(expect, sizeof(expect), "hugetlb\xe2\x86\x92%s",
			 r.pages == REGION_PAGES_THP ? "thp" : "normal");
		assert_string_equal(desc, expect);
		snprintf(expect, sizeof(expect),
			 "notice: region 'hp': no 2 MiB huge pages available (reserve some via "
			 "/proc/sys/vm/nr_hugepages); using %s\n",
			 r.pages == REGION_PAGES_THP ? "transparent huge pages" : "normal pages");
		assert_string_equal(logbuf, expect);
		assert_int_equal(meminfo("HugePages_Free"), 0);
	}
	check_shared(&r);
	region_unmap(&r);
	assert_int_equal(meminfo("HugePages_Free"), before);
}

static void test_hugetlb_require(void **state)
{
	struct config_region c;
	struct region r;
	char expect[256];
	long before = meminfo("HugePages_Free");
	int rc;

	(void)state;
	region_cfg(&c, "hr", 2 * MiB, CONFIG_BACKING_HUGETLB);
	c.hugepages = CONFIG_HUGEPAGES_REQUIRE;
	rc = region_map(&c, 0, &r, err, sizeof(err));
	if (before >= 1) {
		assert_int_equal(rc, 0);
		assert_int_equal(r.pages, REGION_PAGES_HUGETLB);
		check_shared(&r);
		region_unmap(&r);

		c.size = (uint64_t)(before + 1) * 2 * MiB;
		assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -ENOMEM);
		snprintf(expect, sizeof(expect), "region 'hr': not enough 2 MiB huge pages (need %ld, "
			 "%ld free; reserve more via /proc/sys/vm/nr_hugepages)", before + 1, before);
		assert_string_equal(err, expect);
	} else {
		assert_int_equal(rc, -ENOMEM);
		assert_string_equal(err, "region 'hr': no 2 MiB huge pages available (reserve some via "
				    "/proc/sys/vm/nr_hugepages)");
	}
	assert_string_equal(logbuf, "");
}

static void test_hugetlb_require_1g(void **state)
{
	struct config_region c;
	struct region r;
	long before = free_1g();
	int rc;

	(void)state;
	region_cfg(&c, "hg", 1, CONFIG_BACKING_HUGETLB);
	c.hugepages = CONFIG_HUGEPAGES_REQUIRE;
	c.page_size = (uint64_t)1 << 30;
	rc = region_map(&c, 0, &r, err, sizeof(err));
	if (before >= 1) {
		assert_int_equal(rc, 0);
		assert_int_equal(r.size, (uint64_t)1 << 30);
		assert_int_equal(r.granularity, (uint64_t)1 << 30);
		region_unmap(&r);
	} else if (before == 0) {
		assert_int_equal(rc, -ENOMEM);
		assert_string_equal(err, "region 'hg': no 1 GiB huge pages available (reserve some via "
				    "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages)");
	} else {
		assert_int_equal(rc, -ENOMEM);
		assert_string_equal(err, "region 'hg': 1 GiB huge pages are not supported here");
	}
}

static void test_file_sync(void **state)
{
	char dir[] = "/tmp/test_region.XXXXXX";
	char path[64];
	struct config_region c;
	struct region r;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/backing", dir);
	region_cfg(&c, "f", 300 * KiB, CONFIG_BACKING_FILE);
	c.path = path;
	c.sync = 1;
	assert_int_equal(region_map(&c, 2, &r, err, sizeof(err)), 0);
	assert_int_equal(fcntl(r.fd, F_GETFL) & O_SYNC, O_SYNC);
	assert_int_equal(r.size, 300 * KiB);
	assert_int_equal(r.granularity, 4096);
	assert_string_equal(r.path, path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 300 * KiB);
	check_shared(&r);
	region_unmap(&r);

	/* Never shrunk; without sync no O_SYNC. */
	c.size = 64 * KiB;
	c.sync = 0;
	assert_int_equal(region_map(&c, 2, &r, err, sizeof(err)), 0);
	assert_int_equal(fcntl(r.fd, F_GETFL) & O_SYNC, 0);
	assert_int_equal(r.size, 64 * KiB);
	assert_int_equal(((unsigned char *)r.base)[0], pattern(0, 2));
	region_unmap(&r);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 300 * KiB);
	assert_string_equal(logbuf, "");

	/* A directory is neither a file nor a device. */
	c.path = dir;
	assert_int_equal(region_map(&c, 2, &r, err, sizeof(err)), -EISDIR);
	{
		char expect[128];

		snprintf(expect, sizeof(expect), "region 'f': %s: Is a directory", dir);
		assert_string_equal(err, expect);
	}
	unlink(path);
	rmdir(dir);
}

static void test_file_device(void **state)
{
	struct config_region c;
	struct region r;

	(void)state;
	/* A character device is used as it is. */
	region_cfg(&c, "dev", 64 * KiB, CONFIG_BACKING_FILE);
	c.path = "/dev/zero";
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.size, 64 * KiB);
	assert_int_equal(r.pages, REGION_PAGES_NORMAL);
	region_unmap(&r);

	/* Nothing is created under /dev. */
	c.path = "/dev/shmpool-test-no-such-device";
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "region 'dev': /dev/shmpool-test-no-such-device: "
			    "No such file or directory");
	assert_int_equal(access("/dev/shmpool-test-no-such-device", F_OK), -1);

	c.path = "/nonexistent-dir/x";
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "region 'dev': /nonexistent-dir/x: No such file or directory");
}

static void test_non_cacheable_warning(void **state)
{
	char dir[] = "/tmp/test_region.XXXXXX";
	char path[64];
	struct config_region c;
	struct region r;

	(void)state;
	region_cfg(&c, "nc", 4096, CONFIG_BACKING_MEMFD);
	c.attr = CONFIG_ATTR_NON_CACHEABLE;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.attr, 1);
	region_unmap(&r);
	assert_string_equal(logbuf,
			    "warning: region 'nc': non-cacheable on a memfd region only routes "
			    "allocations; the memory is cached (uncached memory needs a device that "
			    "provides it, with sync = yes)\n");

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	c.backing = CONFIG_BACKING_FILE;
	c.path = path;
	logbuf[0] = '\0';
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	region_unmap(&r);
	assert_string_equal(logbuf,
			    "warning: region 'nc': non-cacheable on a file (without sync = yes) region "
			    "only routes allocations; the memory is cached (uncached memory needs a "
			    "device that provides it, with sync = yes)\n");

	/* With sync = yes the file is trusted to be what it says. */
	c.sync = 1;
	logbuf[0] = '\0';
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	region_unmap(&r);
	assert_string_equal(logbuf, "");

	/* A user-defined attribute is only a label. */
	c.backing = CONFIG_BACKING_MEMFD;
	c.path = NULL;
	c.sync = 0;
	c.attr = 5;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	region_unmap(&r);
	assert_string_equal(logbuf, "");
	unlink(path);
	rmdir(dir);
}

/* Drop CAP_IPC_LOCK so that RLIMIT_MEMLOCK applies even to root. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[CAP_TO_INDEX(CAP_IPC_LOCK)].inheritable &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Run fn in a child without CAP_IPC_LOCK and a locked-memory limit; the
 * child's exit status is fn's result. */
static int in_limited_child(rlim_t limit, int (*fn)(void))
{
	struct rlimit rl = { limit, limit };
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (drop_ipc_lock() < 0 || setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(90);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int lock_over_limit(void)
{
	struct config_region c;
	struct region r;
	const char *expect = "region 'locked': cannot lock 1 MiB: RLIMIT_MEMLOCK is 64 KiB "
			     "(raise LimitMEMLOCK= or ulimit -l)";

	region_cfg(&c, "locked", 1 * MiB, CONFIG_BACKING_MEMFD);
	c.lock = 1;
	if (region_map(&c, 0, &r, err, sizeof(err)) != -ENOMEM)
		return 1;
	if (strcmp(err, expect) != 0) {
		fprintf(stderr, "got      %s\nexpected %s\n", err, expect);
		return 2;
	}
	/* Within the limit it works. */
	c.size = 32 * KiB;
	if (region_map(&c, 0, &r, err, sizeof(err)) != 0)
		return 3;
	if (!r.locked || resident_pages(&r) != 8) {
		fprintf(stderr, "locked %d resident %zu\n", r.locked, resident_pages(&r));
		return 4;
	}
	region_unmap(&r);
	return 0;
}

static int lock_mlock_fails(void)
{
	struct config_region c;
	struct region a, b;
	const char *expect = "region 'b': cannot lock 512 KiB: RLIMIT_MEMLOCK is 1 MiB "
			     "(raise LimitMEMLOCK= or ulimit -l)";

	/* Each fits the limit on its own, so only mlock itself can refuse b. */
	region_cfg(&c, "a", 768 * KiB, CONFIG_BACKING_MEMFD);
	c.lock = 1;
	if (region_map(&c, 0, &a, err, sizeof(err)) != 0)
		return 1;
	region_cfg(&c, "b", 512 * KiB, CONFIG_BACKING_MEMFD);
	c.lock = 1;
	if (region_map(&c, 1, &b, err, sizeof(err)) != -ENOMEM)
		return 2;
	if (strcmp(err, expect) != 0) {
		fprintf(stderr, "got      %s\nexpected %s\n", err, expect);
		return 3;
	}
	region_unmap(&a);
	return 0;
}

static void test_lock(void **state)
{
	struct config_region c;
	struct region r;

	(void)state;
	assert_int_equal(in_limited_child(64 * KiB, lock_over_limit), 0);
	assert_int_equal(in_limited_child(1 * MiB, lock_mlock_fails), 0);

	/* With the limits of this process (and maybe CAP_IPC_LOCK), a small
	 * lock works. */
	region_cfg(&c, "small", 16 * KiB, CONFIG_BACKING_MEMFD);
	c.lock = 1;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.locked, 1);
	assert_int_equal(resident_pages(&r), 4);
	region_unmap(&r);
}

static void test_numa(void **state)
{
	struct config_region c;
	struct region r;
	char expect[256];
	int rc;

	(void)state;
	region_cfg(&c, "n", 64 * KiB, CONFIG_BACKING_MEMFD);
	c.numa_node = 0;
	rc = region_map(&c, 0, &r, err, sizeof(err));
#ifdef HAVE_NUMA
	if (numa_available() < 0) {
		assert_int_equal(rc, -EOPNOTSUPP);
		assert_string_equal(err, "region 'n': numa_node is set but NUMA is not available here");
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(r.numa_node, 0);
	{
		unsigned long mask[16] = { 0 };
		int mode = -1;

		assert_int_equal(get_mempolicy(&mode, mask, sizeof(mask) * 8, r.base, MPOL_F_ADDR), 0);
		assert_int_equal(mode, MPOL_BIND);
		assert_int_equal(mask[0], 1);
	}
	check_shared(&r);
	region_unmap(&r);

	c.prefault = 1;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(resident_pages(&r), 16);
	region_unmap(&r);

	c.numa_node = numa_max_node() + 1;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "region 'n': numa_node %d does not exist (highest node is %d)",
		 numa_max_node() + 1, numa_max_node());
	assert_string_equal(err, expect);
#else
	assert_int_equal(rc, -EOPNOTSUPP);
	snprintf(expect, sizeof(expect), "region 'n': numa_node requires libnuma; rebuild with "
		 "libnuma-dev");
	assert_string_equal(err, expect);
#endif
}

static void test_bad_args(void **state)
{
	struct config_region c;
	struct region r;

	(void)state;
	region_cfg(&c, "bad", 0, CONFIG_BACKING_MEMFD);
	assert_int_equal(region_map(NULL, 0, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(region_map(&c, 0, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "region 'bad': size must not be 0");
	c.size = UINT64_MAX;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "region 'bad': size is too large");
	c.size = 4096;
	c.backing = CONFIG_BACKING_FILE;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "region 'bad': backing file needs a path");
	c.backing = CONFIG_BACKING_HUGETLB;
	c.page_size = 4 * MiB;
	assert_int_equal(region_map(&c, 0, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "region 'bad': page_size must be 2M or 1G");
	region_unmap(NULL);
}

static void test_names(void **state)
{
	struct region r;
	char desc[64];

	(void)state;
	assert_string_equal(region_backing_name(CONFIG_BACKING_MEMFD), "memfd");
	assert_string_equal(region_backing_name(CONFIG_BACKING_SHM), "shm");
	assert_string_equal(region_backing_name(CONFIG_BACKING_HUGETLB), "hugetlb");
	assert_string_equal(region_backing_name(CONFIG_BACKING_FILE), "file");
	assert_string_equal(region_pages_name(REGION_PAGES_NORMAL), "normal");
	assert_string_equal(region_pages_name(REGION_PAGES_THP), "thp");
	assert_string_equal(region_pages_name(REGION_PAGES_HUGETLB), "hugetlb");

	memset(&r, 0, sizeof(r));
	r.backing = CONFIG_BACKING_HUGETLB;
	r.pages = REGION_PAGES_THP;
	region_describe(&r, desc, sizeof(desc));
	assert_string_equal(desc, "hugetlb\xe2\x86\x92thp");
	r.pages = REGION_PAGES_NORMAL;
	region_describe(&r, desc, sizeof(desc));
	assert_string_equal(desc, "hugetlb\xe2\x86\x92normal");
	r.pages = REGION_PAGES_HUGETLB;
	region_describe(&r, desc, sizeof(desc));
	assert_string_equal(desc, "hugetlb");
	r.backing = CONFIG_BACKING_SHM;
	r.pages = REGION_PAGES_NORMAL;
	region_describe(&r, desc, sizeof(desc));
	assert_string_equal(desc, "shm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_prefault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_default_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugetlb_prefer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugetlb_require, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugetlb_require_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_cacheable_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
