/*
 * shmpoolctl against a real shmpoold: the human output of every command
 * checked line by line, the JSON output through jq with exact values, the
 * exit statuses 0 to 3, the admin rules and watch.  Each test starts its
 * own daemon, so counters and ids are exact.  The ctl under test is
 * $SHMPOOLCTL; jq must be installed (.ci/install-deps does it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "autoconf.h"
#include "harness.h"
#include "shmpool.h"
#include "testutil.h"

/*
 * Two regions: shared (memfd, cacheable, heap "default") and dmamem (the
 * user attribute dma = 5, heap "fast"); pool small (16 x 64 B) is carved
 * at the start of shared, pool big (8 x 4 KiB) at the start of dmamem.
 */
static const char config[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[attributes]\n"
	"dma = 5\n"
	"[region shared]\n"
	"size = 1M\n"
	"[region dmamem]\n"
	"size = 256K\n"
	"attr = dma\n"
	"[heap fast]\n"
	"regions = dmamem\n"
	"[pool small]\n"
	"region = shared\n"
	"block_size = 64\n"
	"blocks = 16\n"
	"[pool big]\n"
	"attr = dma\n"
	"block_size = 4K\n"
	"blocks = 8\n"
	"[group frames]\n"
	"pools = small, big\n"
	"select = fit\n";

/* What one run of a program left. */
struct run {
	int status;                  /* exit status; 128 + n for signal n */
	char out[65536];
	char err[8192];
};

static struct harness h;
static shmpool_t *sp;
static struct run r;

extern char **environ;

static const char *ctl_path(void)
{
	const char *p = getenv("SHMPOOLCTL");

	return p && *p ? p : "../client/shmpoolctl";
}

static int setup(void **state)
{
	(void)state;
	return testutil_start(&h, config, &sp);
}

static int teardown(void **state)
{
	(void)state;
	return testutil_finish(&h, &sp);
}

static void read_file_keep(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	assert_true(fd >= 0);
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Read a file of the test directory into buf and remove it. */
static void read_file(const char *path, char *buf, size_t size)
{
	read_file_keep(path, buf, size);
	unlink(path);
}

/* The environment with the NAME=value entries of extra put first and the
 * inherited entries of the same names left out. */
static char **make_env(char *const *extra)
{
	size_t n = 0, k = 0, next = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[k])
		k++;
	env = calloc(n + k + 1, sizeof(*env));
	assert_non_null(env);
	for (size_t i = 0; i < k; i++)
		env[next++] = extra[i];
	for (size_t i = 0; i < n; i++) {
		int dup = 0;

		for (size_t j = 0; j < k; j++) {
			size_t len = strcspn(extra[j], "=") + 1;

			if (strncmp(environ[i], extra[j], len) == 0)
				dup = 1;
		}
		if (!dup)
			env[next++] = environ[i];
	}
	return env;
}

/* Start argv with stdin from in (NULL: /dev/null) and stdout and stderr to
 * files of the test directory, as uid 65534 when nobody is set. */
static pid_t start(char *const argv[], const char *in, int nobody, char *const *extra_env)
{
	char out[PATH_MAX + 8], err[PATH_MAX + 8];
	char **env = make_env(extra_env);
	pid_t pid;

	snprintf(out, sizeof(out), "%s/out", h.dir);
	snprintf(err, sizeof(err), "%s/err", h.dir);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int i = open(in ? in : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(125);
		if (nobody && harness_become(&harness_nobody) < 0)
			_exit(125);
		execve(argv[0], argv, env);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	free(env);
	return pid;
}

/* Wait for a started program and collect what it printed into r. */
static void finish(pid_t pid)
{
	char path[PATH_MAX + 8];
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	snprintf(path, sizeof(path), "%s/out", h.dir);
	read_file(path, r.out, sizeof(r.out));
	snprintf(path, sizeof(path), "%s/err", h.dir);
	read_file(path, r.err, sizeof(r.err));
}

/* Run shmpoolctl with args (NULL-terminated) after "-s SOCKET" unless
 * nosock; the result is in r. */
static void ctl_argv(int nobody, int nosock, char *const *extra_env, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;

	argv[n++] = ctl_path();
	if (!nosock) {
		argv[n++] = "-s";
		argv[n++] = h.socket;
	}
	for (size_t i = 0; args[i]; i++) {
		assert_true(n + 1 < sizeof(argv) / sizeof(argv[0]));
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	finish(start((char *const *)argv, NULL, nobody, extra_env));
	if (r.status == 126 || r.status == 127)
		fail_msg("cannot run %s: %s", ctl_path(), r.err);
}

#define CTL(...) ctl_argv(0, 0, NULL, (const char *[]){ __VA_ARGS__, NULL })
#define CTL_NOBODY(...) ctl_argv(1, 0, NULL, (const char *[]){ __VA_ARGS__, NULL })

/* The last run exited with want_status and printed exactly want_out and
 * want_err. */
#define expect_run(want_status, want_out, want_err)       \
	do {                                              \
		assert_string_equal(r.err, (want_err));   \
		assert_string_equal(r.out, (want_out));   \
		assert_int_equal(r.status, (want_status)); \
	} while (0)

/* s starts with prefix. */
static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/* jq -e filter on the last run's stdout must succeed: the filter is true. */
static void expect_jq(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void expect_jq(const char *fmt, ...)
{
	char filter[4096], in[PATH_MAX + 8];
	char *argv[] = { "/usr/bin/env", "jq", "-e", filter, NULL };
	struct run saved;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(filter, sizeof(filter), fmt, ap);
	va_end(ap);
	snprintf(in, sizeof(in), "%s/jq.in", h.dir);
	f = fopen(in, "w");
	assert_non_null(f);
	fputs(r.out, f);
	fclose(f);
	saved = r;
	finish(start(argv, in, 0, NULL));
	unlink(in);
	if (r.status != 0)
		fail_msg("jq -e '%s' gave %d (%s%s) on:\n%s", filter, r.status, r.out, r.err,
			 saved.out);
	r = saved;
}

/* Remove the line of buf that starts with prefix and return it in line. */
static void take_line(char *buf, const char *prefix, char *line, size_t size)
{
	size_t plen = strlen(prefix);

	for (char *p = buf; *p; p = strchr(p, '\n') + 1) {
		char *end = strchr(p, '\n');

		assert_non_null(end);
		if (strncmp(p, prefix, plen) == 0) {
			size_t len = (size_t)(end - p);

			assert_true(len < size);
			memcpy(line, p, len);
			line[len] = '\0';
			memmove(p, end + 1, strlen(end + 1) + 1);
			return;
		}
	}
	fail_msg("no line starting with '%s' in:\n%s", prefix, buf);
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

/* Take every block of a pool, in address order, so that blocks[i] is
 * block i. */
static void take_all(shmpool_pool_t *pool, size_t n, void **blocks)
{
	assert_int_equal(shmpool_blocks_alloc(pool, n, blocks, SHMPOOL_NO_WAIT), 0);
	qsort(blocks, n, sizeof(*blocks), ptr_cmp);
}

static void test_status(void **state)
{
	char want[8192], line[256];

	(void)state;
	CTL("status");
	assert_int_equal(r.status, 0);
	take_line(r.out, "uptime   ", line, sizeof(line));
	assert_true(strspn(line + 9, "0123456789") > 0);
	assert_string_equal(line + 9 + strspn(line + 9, "0123456789"), "s");
	snprintf(want, sizeof(want),
		 "version  %s\n"
		 "pid      %d\n"
		 "socket   %s\n"
		 "config   %s\n"
		 "clients  2\n"
		 "regions  2, 1.2 MiB mapped\n"
		 "pools    2, 33.0 KiB carved, 0 B used\n"
		 "heaps    2, 1.2 MiB outside pools, 0 B used\n"
		 "groups   1\n"
		 "waiters  0\n",
		 PACKAGE_VERSION, (int)h.pid, h.socket, h.config);
	expect_run(0, want, "");

	CTL("--json", "status");
	assert_int_equal(r.status, 0);
	expect_jq(".version == \"%s\" and .pid == %d and .socket == \"%s\" and .config == \"%s\" "
		  "and (.uptime_ms | type) == \"number\" and .clients == 2 and .regions == 2 "
		  "and .pools == 2 and .heaps == 2 and .groups == 1 and .region_bytes == 1310720 "
		  "and .pool_bytes == 33792 and .pool_used_bytes == 0 and .heap_bytes == 1276928 "
		  "and .heap_used_bytes == 0 and .waiters == 0 and (keys | length) == 16",
		  PACKAGE_VERSION, (int)h.pid, h.socket, h.config);
}

static void test_regions(void **state)
{
	(void)state;
	CTL("regions");
	expect_run(0,
		   "NAME    ID  BACKING  SIZE       ATTR       HEAP         USED        FREE  FLAGS\n"
		   "shared   0  memfd    1.0 MiB    cacheable  default   1.0 KiB  1023.0 KiB  sealed\n"
		   "dmamem   1  memfd    256.0 KiB  dma        fast     32.0 KiB   224.0 KiB  sealed\n",
		   "");
	CTL("regions", "--json");
	assert_int_equal(r.status, 0);
	expect_jq(".regions == [{\"name\":\"shared\",\"id\":0,\"backing\":\"memfd\","
		  "\"obtained\":\"memfd\",\"path\":null,\"size\":1048576,\"granularity\":%ld,"
		  "\"attr\":0,\"attr_name\":\"cacheable\",\"heap\":\"default\",\"used_bytes\":1024,"
		  "\"free_bytes\":1047552,\"sealed\":true,\"locked\":false,\"broken\":false,"
		  "\"scrub\":\"cross-uid\",\"scrubbed_bytes\":0,\"numa_node\":null},"
		  "{\"name\":\"dmamem\",\"id\":1,\"backing\":\"memfd\",\"obtained\":\"memfd\","
		  "\"path\":null,\"size\":262144,\"granularity\":%ld,\"attr\":5,\"attr_name\":\"dma\","
		  "\"heap\":\"fast\",\"used_bytes\":32768,\"free_bytes\":229376,\"sealed\":true,"
		  "\"locked\":false,\"broken\":false,\"scrub\":\"cross-uid\",\"scrubbed_bytes\":0,"
		  "\"numa_node\":null}]",
		  sysconf(_SC_PAGESIZE), sysconf(_SC_PAGESIZE));
}

static void test_pools(void **state)
{
	shmpool_pool_t *small = testutil_pool_open(sp, "small");
	shmpool_pool_t *big = testutil_pool_open(sp, "big");
	void *b[3];

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(small, 3, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(small, b[2]), 0);
	assert_int_equal(shmpool_block_alloc(big, &b[2], SHMPOOL_NO_WAIT), 0);
	testutil_barrier(sp);
	CTL("pools");
	expect_run(0,
		   "NAME   REGION    BLOCK  BLOCKS  USED  FREE  PEAK  WAITERS  CACHE\n"
		   "small  shared     64 B      16     2    14     3        0      0\n"
		   "big    dmamem  4.0 KiB       8     1     7     1        0      0\n",
		   "");
	CTL("--json", "pools");
	assert_int_equal(r.status, 0);
	expect_jq(".pools == [{\"name\":\"small\",\"id\":0,\"region\":\"shared\",\"attr\":0,"
		  "\"attr_name\":\"cacheable\",\"block_size\":64,\"stride\":64,\"base\":0,"
		  "\"blocks\":16,\"used\":2,\"free\":14,\"max_used\":3,\"waiters\":0,\"cache\":0},"
		  "{\"name\":\"big\",\"id\":1,\"region\":\"dmamem\",\"attr\":5,\"attr_name\":\"dma\","
		  "\"block_size\":4096,\"stride\":4096,\"base\":0,\"blocks\":8,\"used\":1,"
		  "\"free\":7,\"max_used\":1,\"waiters\":0,\"cache\":0}]");
	shmpool_pool_close(small);
	shmpool_pool_close(big);
}

static void test_heaps(void **state)
{
	void *a, *b, *c;
	double frag;
	char frag_text[32];
	unsigned long long free_b, largest;

	(void)state;
	CTL("heaps");
	expect_run(0,
		   "HEAP     REGION  ATTR            SIZE        FREE     LARGEST  FRAG  ALLOCS\n"
		   "default  shared  cacheable    1.0 MiB  1023.0 KiB  1023.0 KiB  0.0%       0\n"
		   "fast     dmamem  dma        256.0 KiB   224.0 KiB   224.0 KiB  0.0%       0\n",
		   "");
	CTL("--json", "heaps");
	expect_jq(".heaps | length == 2 and .[0].heap == \"default\" and .[0].region == \"shared\" "
		  "and .[0].region_id == 0 and .[0].attr == 0 and .[0].attr_name == \"cacheable\" "
		  "and .[0].total == 1048576 and .[0].free == 1047552 "
		  "and .[0].largest_free == 1047552 and .[0].fragmentation == 0 "
		  "and .[0].allocs == 0 and .[1].heap == \"fast\" and .[1].region == \"dmamem\" "
		  "and .[1].attr == 5 and .[1].attr_name == \"dma\" and .[1].total == 262144 "
		  "and .[1].free == 229376 and .[1].largest_free == 229376");

	/* A hole between two allocations splits the free memory of fast. */
	assert_int_equal(shmpool_alloc_ex(sp, "fast", 5, 0, 8192, &a), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "fast", 5, 0, 8192, &b), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "fast", 5, 0, 8192, &c), 0);
	assert_int_equal(shmpool_free(sp, b), 0);
	testutil_barrier(sp);
	CTL("--json", "heaps");
	assert_int_equal(r.status, 0);
	expect_jq(".heaps[1] | .allocs == 2 and .free > .largest_free and .largest_free > 0 "
		  "and ((.fragmentation - (1 - .largest_free / .free)) | fabs) < 0.000001 "
		  "and .fragmentation > 0");
	assert_non_null(strstr(r.out, "\"free\":"));
	/* The second entry's free and largest, to compute the FRAG column. */
	assert_int_equal(sscanf(strstr(strstr(r.out, "\"dmamem\""), "\"free\":"),
				"\"free\":%llu,\"largest_free\":%llu", &free_b, &largest), 2);
	frag = 100 * (1 - (double)largest / (double)free_b);
	snprintf(frag_text, sizeof(frag_text), " %.1f%% ", frag);
	CTL("heaps");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(strstr(r.out, "\nfast "), frag_text));
	assert_non_null(strstr(strstr(r.out, "\nfast "), "%       2\n"));
	assert_int_equal(shmpool_free(sp, a), 0);
	assert_int_equal(shmpool_free(sp, c), 0);
}

static void test_groups(void **state)
{
	(void)state;
	CTL("groups");
	expect_run(0, "NAME    SELECT  POOLS\nframes  fit     small, big\n", "");
	CTL("groups", "--json");
	expect_run(0, "{\"groups\":[{\"name\":\"frames\",\"select\":\"fit\",\"npools\":2,"
		      "\"pools\":[\"small\",\"big\"]}]}\n", "");
	expect_jq(".groups[0].pools == [\"small\",\"big\"] and .groups[0].select == \"fit\"");
}

/* The fields of the human clients row of pid, split at blanks. */
static int client_row(const char *out, long pid, char fields[8][64])
{
	char line[512];

	for (const char *p = out; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = (size_t)(end - p);
		int n;

		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		n = sscanf(line, "%63s %63s %63s %63s %63s %63s %63s %63s", fields[0], fields[1],
			   fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]);
		if (n >= 1 && strtol(fields[0], NULL, 10) == pid)
			return n;
		p = end + 1;
	}
	return 0;
}

struct waiter {
	shmpool_t *c;
	void *block;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	shmpool_pool_t *pool = NULL;

	w->rc = shmpool_pool_open(w->c, "big", &pool);
	if (w->rc == 0)
		w->rc = shmpool_block_alloc(pool, &w->block, SHMPOOL_FOREVER);
	shmpool_pool_close(pool);
	return NULL;
}

static void test_clients(void **state)
{
	shmpool_pool_t *big = testutil_pool_open(sp, "big");
	char comm[64] = "", fields[8][64], want[256];
	struct waiter w = { NULL, NULL, -1 };
	struct shmpool_pool_stat st;
	void *blocks[8];
	pthread_t t;
	FILE *f;

	(void)state;
	f = fopen("/proc/self/comm", "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';

	assert_int_equal(shmpool_blocks_alloc(big, 2, blocks, SHMPOOL_NO_WAIT), 0);
	testutil_barrier(sp);
	CTL("clients");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_int_equal(sscanf(r.out, "%63s %63s %63s %63s %63s %63s", fields[0], fields[1],
				fields[2], fields[3], fields[4], fields[5]), 6);
	assert_string_equal(fields[0], "PID");
	assert_string_equal(fields[1], "UID");
	assert_string_equal(fields[2], "COMM");
	assert_string_equal(fields[3], "HELD");
	assert_string_equal(fields[4], "BLOCKS");
	assert_string_equal(fields[5], "WAITS");
	assert_int_equal(client_row(r.out, getpid(), fields), 7);
	snprintf(want, sizeof(want), "%u", (unsigned)getuid());
	assert_string_equal(fields[1], want);
	assert_string_equal(fields[2], comm);
	assert_string_equal(fields[3], "8.0");
	assert_string_equal(fields[4], "KiB");
	assert_string_equal(fields[5], "2");
	assert_string_equal(fields[6], "0");

	/* A second connection of this process waits for a block of big. */
	assert_int_equal(shmpool_blocks_alloc(big, 6, blocks + 2, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_connect(h.socket, &w.c), 0);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(shmpool_pool_stat(big, &st), 0);
		if (st.num_waiters == 1)
			break;
		usleep(5000);
	}
	assert_int_equal(st.num_waiters, 1);
	CTL("clients", "--json");
	assert_int_equal(r.status, 0);
	expect_jq("(.clients | length) == 3 and ([.clients[] | select(.self)] | length) == 1 "
		  "and ([.clients[] | select(.self) | .comm | endswith(\"shmpoolctl\")] == [true]) "
		  "and ([.clients[] | select(.pid == %d and .blocks_held == 8)] | "
		  ".[0] | .uid == %u and .gid == %u and .comm == \"%s\" and .bytes_held == 32768 "
		  "and .waits == 0 and .self == false and .priority == 0) "
		  "and ([.clients[] | select(.pid == %d and .blocks_held == 0)] | "
		  ".[0] | .waits == 1 and .bytes_held == 0)",
		  (int)getpid(), (unsigned)getuid(), (unsigned)getgid(), comm, (int)getpid());
	CTL("pools");
	assert_non_null(strstr(r.out, "\nbig    dmamem  4.0 KiB       8     8     0     8        1      0\n"));
	assert_int_equal(shmpool_block_free(big, blocks[0]), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	shmpool_disconnect(w.c);
	shmpool_pool_close(big);
}

static void test_stats(void **state)
{
	shmpool_pool_t *small = testutil_pool_open(sp, "small");
	shmpool_pool_t *big = testutil_pool_open(sp, "big");
	void *b[8], *x;
	shmpool_t *c2 = NULL;
	shmpool_pool_t *small2 = NULL;
	struct shmpool_pool_stat st;
	char want[1024], line[128];
	int polls;

	(void)state;
	/* Requests through the call slots: the two blocks_alloc of small, the
	 * polls, big's blocks_alloc and block_alloc and the heap alloc.
	 * 3 allocs and a free; 2 blocks reclaimed from a connection that went
	 * away; 8 allocs, a timeout and 8 frees on big; a heap failure. */
	assert_int_equal(shmpool_blocks_alloc(small, 3, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(small, b[0]), 0);
	/* The free reaches the daemon before c2 allocates (a free parked in
	 * the free ring would count in max_used until something reads it). */
	testutil_barrier(sp);
	assert_int_equal(shmpool_connect(h.socket, &c2), 0);
	assert_int_equal(shmpool_pool_open(c2, "small", &small2), 0);
	assert_int_equal(shmpool_blocks_alloc(small2, 2, b + 3, SHMPOOL_NO_WAIT), 0);
	shmpool_pool_close(small2);
	shmpool_disconnect(c2);
	for (polls = 1; polls <= 2000; polls++) {
		assert_int_equal(shmpool_pool_stat(small, &st), 0);
		if (st.num_used == 2)
			break;
		usleep(5000);
	}
	assert_int_equal(st.num_used, 2);
	assert_int_equal(shmpool_blocks_alloc(big, 8, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(big, &x, 20), -EAGAIN);
	assert_int_equal(shmpool_blocks_free(big, 8, b), 0);
	assert_int_equal(shmpool_alloc(sp, 0, 64 << 20, &x), -ENOMEM);
	testutil_barrier(sp);

	CTL("stats");
	assert_int_equal(r.status, 0);
	take_line(r.out, "uptime  ", line, sizeof(line));
	snprintf(want, sizeof(want),
		 "allocs               13\n"
		 "frees                11\n"
		 "failures             1\n"
		 "timeouts             1\n"
		 "reclaimed            128 B\n"
		 "connections          4\n"
		 "refused connections  0\n"
		 "bad messages         0\n"
		 "refusals             0\n"
		 "scrubbed             0 B\n"
		 "slot calls           %d\n", polls + 5);
	expect_run(0, want, "");
	CTL("stats", "--json");
	expect_jq(".allocs == 13 and .frees == 11 and .failures == 1 and .timeouts == 1 "
		  "and .reclaimed_bytes == 128 and .connections == 5 "
		  "and .refused_connections == 0 and .bad_messages == 0 "
		  "and .refusals == 0 and .scrubbed_bytes == 0 and .calls == %d "
		  "and (.uptime_ms | type) == \"number\" and (keys | length) == 12", polls + 5);

	CTL("stats", "--prometheus");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "# HELP shmpool_allocs_total "));
	assert_non_null(strstr(r.out, "\n# TYPE shmpool_allocs_total counter\n"
				      "shmpool_allocs_total 13\n"));
	assert_non_null(strstr(r.out, "\n# TYPE shmpool_frees_total counter\n"
				      "shmpool_frees_total 11\n"));
	assert_non_null(strstr(r.out, "\nshmpool_alloc_failures_total 1\n"));
	assert_non_null(strstr(r.out, "\nshmpool_alloc_timeouts_total 1\n"));
	assert_non_null(strstr(r.out, "\nshmpool_reclaimed_bytes_total 128\n"));
	assert_non_null(strstr(r.out, "\nshmpool_connections_total 6\n"));
	snprintf(want, sizeof(want), "\n# TYPE shmpool_calls_total counter\nshmpool_calls_total %d\n",
		 polls + 5);
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, "\n# TYPE shmpool_clients gauge\nshmpool_clients 2\n"));
	assert_non_null(strstr(r.out, "\n# TYPE shmpool_pool_blocks_used gauge\n"
				      "shmpool_pool_blocks_used{pool=\"small\"} 2\n"
				      "shmpool_pool_blocks_used{pool=\"big\"} 0\n"));
	assert_non_null(strstr(r.out, "\nshmpool_pool_blocks{pool=\"small\"} 16\n"
				      "shmpool_pool_blocks{pool=\"big\"} 8\n"));
	assert_non_null(strstr(r.out, "\nshmpool_pool_blocks_max_used{pool=\"small\"} 4\n"
				      "shmpool_pool_blocks_max_used{pool=\"big\"} 8\n"));
	assert_non_null(strstr(r.out, "\nshmpool_pool_block_size_bytes{pool=\"big\"} 4096\n"));
	assert_non_null(strstr(r.out, "\n# TYPE shmpool_region_size_bytes gauge\n"
				      "shmpool_region_size_bytes{region=\"shared\"} 1048576\n"
				      "shmpool_region_size_bytes{region=\"dmamem\"} 262144\n"));
	assert_non_null(strstr(r.out, "\nshmpool_heap_free_bytes{heap=\"fast\",region=\"dmamem\"} "
				      "229376\n"));
	/* Every sample line is a metric, optional labels and a number. */
	for (char *p = r.out; *p; p = strchr(p, '\n') + 1) {
		char *end = strchr(p, '\n'), *sp_ = memrchr(p, ' ', (size_t)(end - p)), *num;

		if (*p == '#')
			continue;
		assert_true(strncmp(p, "shmpool_", 8) == 0);
		assert_non_null(sp_);
		strtod(sp_ + 1, &num);
		assert_ptr_equal(num, end);
	}
	shmpool_pool_close(small);
	shmpool_pool_close(big);
}

static void test_map(void **state)
{
	shmpool_pool_t *small = testutil_pool_open(sp, "small");
	shmpool_pool_t *big = testutil_pool_open(sp, "big"), *wide = NULL;
	struct shmpool_pool_config cfg = { .name = "wide", .block_size = 16, .num_blocks = 512,
					   .region = "shared" };
	void *b[512];
	char want[1024];

	(void)state;
	take_all(small, 16, b);
	assert_int_equal(shmpool_block_free(small, b[1]), 0);
	assert_int_equal(shmpool_block_free(small, b[2]), 0);
	assert_int_equal(shmpool_block_free(small, b[6]), 0);
	assert_int_equal(shmpool_blocks_free(small, 6, b + 10), 0);
	testutil_barrier(sp);
	CTL("map", "small");
	expect_run(0,
		   "pool 'small': 16 blocks, 7 used, 1 block per cell\n"
		   "#..###.###......\n"
		   "legend: . free  # used  1-9 tenths used\n",
		   "");
	CTL("map", "small", "--json");
	expect_run(0,
		   "{\"type\":\"pool\",\"name\":\"small\",\"unit\":\"block\",\"units\":16,"
		   "\"units_per_cell\":1,\"used_units\":7,\"cells\":16,"
		   "\"fill\":[255,0,0,255,255,255,0,255,255,255,0,0,0,0,0,0],"
		   "\"kind\":[\"used\",\"free\",\"free\",\"used\",\"used\",\"used\",\"free\",\"used\","
		   "\"used\",\"used\",\"free\",\"free\",\"free\",\"free\",\"free\",\"free\"]}\n",
		   "");
	expect_jq(".fill | length == 16");

	/* Region map of dmamem, 1 KiB per cell: block 0 of big in use, the
	 * rest of its 32 KiB carve-out idle. */
	take_all(big, 8, b);
	assert_int_equal(shmpool_blocks_free(big, 7, b + 1), 0);
	testutil_barrier(sp);
	CTL("map", "dmamem");
	memset(want, 0, sizeof(want));
	strcpy(want, "region 'dmamem': 256.0 KiB, 4.0 KiB used, 1.0 KiB per cell\n####");
	memset(want + strlen(want), 'P', 28);
	memset(want + strlen(want), '.', 32);
	strcat(want, "\n");
	for (int row = 0; row < 3; row++) {
		memset(want + strlen(want), '.', 64);
		strcat(want, "\n");
	}
	strcat(want, "legend: . free  # used  1-9 tenths used  P carved for a pool\n");
	expect_run(0, want, "");
	CTL("--json", "map", "dmamem");
	expect_jq(".type == \"region\" and .unit == \"byte\" and .units == 262144 "
		  "and .units_per_cell == 1024 and .used_units == 4096 and .cells == 256 "
		  "and .fill[0:4] == [255,255,255,255] and .kind[0:4] == [\"used\",\"used\",\"used\",\"used\"] "
		  "and (.kind[4:32] | all(. == \"pool\")) and (.fill[32:] | all(. == 0)) "
		  "and (.kind[32:] | all(. == \"free\"))");

	/* 512 blocks in 256 cells: a cell with one of its two blocks used. */
	assert_int_equal(shmpool_pool_create(sp, &cfg, &wide), 0);
	take_all(wide, 512, b);
	assert_int_equal(shmpool_block_free(wide, b[1]), 0);
	testutil_barrier(sp);
	CTL("map", "wide");
	assert_int_equal(r.status, 0);
	memset(want, 0, sizeof(want));
	strcpy(want, "pool 'wide': 512 blocks, 511 used, 2 blocks per cell\n5");
	memset(want + strlen(want), '#', 63);
	strcat(want, "\n");
	for (int row = 0; row < 3; row++) {
		memset(want + strlen(want), '#', 64);
		strcat(want, "\n");
	}
	strcat(want, "legend: . free  # used  1-9 tenths used\n");
	expect_run(0, want, "");
	CTL("map", "wide", "--json");
	expect_jq(".fill[0] == 127 and .kind[0] == \"used\" and (.fill[1:] | all(. == 255)) "
		  "and .cells == 256 and .units_per_cell == 2");

	CTL("map", "nothing");
	expect_run(1, "", "shmpoolctl: map: no pool or region named 'nothing'\n");
	shmpool_pool_close(small);
	shmpool_pool_close(big);
	shmpool_pool_close(wide);
}

static void test_pool_create_destroy(void **state)
{
	(void)state;
	CTL("pool", "create", "fresh", "--block-size", "1K", "--blocks", "4", "--region", "shared");
	expect_run(0, "pool 'fresh' created\n", "");
	CTL("pools");
	expect_run(0,
		   "NAME   REGION    BLOCK  BLOCKS  USED  FREE  PEAK  WAITERS  CACHE\n"
		   "small  shared     64 B      16     0    16     0        0      0\n"
		   "big    dmamem  4.0 KiB       8     0     8     0        0      0\n"
		   "fresh  shared  1.0 KiB       4     0     4     0        0      0\n",
		   "");
	CTL("pool", "create", "fresh", "--block-size", "1K", "--blocks", "4");
	expect_run(1, "", "shmpoolctl: pool create 'fresh': A pool with that name already exists\n");

	/* By attribute: the user attribute's name, resolved through the regions. */
	CTL("pool", "create", "bydma", "--block-size=2K", "--blocks=3", "--attr", "dma",
	    "--align", "4K");
	expect_run(0, "pool 'bydma' created\n", "");
	CTL("pool", "create", "bynum", "--block-size", "100", "--blocks", "2", "--attr", "5");
	expect_run(0, "pool 'bynum' created\n", "");
	CTL("--json", "pools");
	expect_jq("[.pools[] | select(.name == \"bydma\")][0] | .region == \"dmamem\" and .attr == 5 "
		  "and .block_size == 2048 and .stride == 4096 and .blocks == 3");
	expect_jq("[.pools[] | select(.name == \"bynum\")][0] | .region == \"dmamem\" "
		  "and .block_size == 100 and .blocks == 2");
	CTL("pool", "create", "nope", "--block-size", "1K", "--blocks", "4", "--attr", "fast");
	expect_run(1, "", "shmpoolctl: pool create: unknown attribute 'fast': no region has it\n");

	CTL("pool", "destroy", "fresh");
	expect_run(0, "pool 'fresh' destroyed\n", "");
	CTL("pool", "destroy", "bydma");
	expect_run(0, "pool 'bydma' destroyed\n", "");
	CTL("pool", "destroy", "bynum");
	expect_run(0, "pool 'bynum' destroyed\n", "");
	CTL("pools");
	expect_run(0,
		   "NAME   REGION    BLOCK  BLOCKS  USED  FREE  PEAK  WAITERS  CACHE\n"
		   "small  shared     64 B      16     0    16     0        0      0\n"
		   "big    dmamem  4.0 KiB       8     0     8     0        0      0\n",
		   "");
	CTL("pool", "destroy", "fresh");
	expect_run(1, "", "shmpoolctl: pool destroy 'fresh': "
			  "No such pool, group, heap, region or daemon socket\n");
}

/*
 * The CACHE column is the cache a connection that opens the pool gets: the
 * pool's cache setting, or 0 where the daemon gives none (a region zeroed
 * on every free, free_ring = no).
 */
static void test_pool_cache(void **state)
{
	static const char pools[] =
		"[region plain]\nsize = 1M\n"
		"[region zeroed]\nsize = 1M\nscrub = always\n"
		"[pool cached]\nregion = plain\nblock_size = 64\nblocks = 16\ncache = 8\n"
		"[pool plain]\nregion = plain\nblock_size = 64\nblocks = 16\n"
		"[pool zeroed]\nregion = zeroed\nblock_size = 64\nblocks = 16\ncache = 8\n";
	char text[1024];
	struct harness h2;

	(void)state;
	assert_int_equal(harness_start(&h2, pools), 0);
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", h2.socket, "pools", NULL });
	expect_run(0,
		   "NAME    REGION  BLOCK  BLOCKS  USED  FREE  PEAK  WAITERS  CACHE\n"
		   "cached  plain    64 B      16     0    16     0        0      8\n"
		   "plain   plain    64 B      16     0    16     0        0      0\n"
		   "zeroed  zeroed   64 B      16     0    16     0        0      0\n",
		   "");
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", h2.socket, "--json", "pools", NULL });
	expect_jq("[.pools[].cache] == [8,0,0]");
	assert_int_equal(harness_stop(&h2), 0);
	harness_cleanup(&h2);

	snprintf(text, sizeof(text), "[daemon]\nfree_ring = no\n%s", pools);
	assert_int_equal(harness_start(&h2, text), 0);
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", h2.socket, "--json", "pools", NULL });
	expect_jq("[.pools[].cache] == [0,0,0]");
	assert_int_equal(harness_stop(&h2), 0);
	harness_cleanup(&h2);
}

static void append_config(const char *text)
{
	FILE *f = fopen(h.config, "a");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The number of lines of the config file. */
static int config_lines(void)
{
	char buf[8192];
	int n = 0;

	read_file_keep(h.config, buf, sizeof(buf));
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		n++;
	return n;
}

static void test_reload(void **state)
{
	char want[PATH_MAX + 128];

	(void)state;
	CTL("reload");
	expect_run(0, "nothing changed\n", "");
	append_config("[pool x]\nregion = shared\nblock_size = 128\nblocks = 4\n");
	CTL("reload");
	expect_run(0, "pool 'x' added (id 2)\n", "");
	CTL("--json", "pools");
	expect_jq("[.pools[].name] == [\"small\",\"big\",\"x\"]");
	/* Access lists, quotas and limits that change are reported too. */
	append_config("max_blocks_per_client = 2\nallow_users = root\n"
		      "[limits]\nmax_waits_per_client = 5\nmax_bytes_per_client = 1M\n");
	CTL("reload");
	expect_run(0,
		   "[limits] max_bytes_per_client changed to 1048576\n"
		   "[limits] max_waits_per_client changed to 5\n"
		   "pool 'x': access lists changed\n"
		   "pool 'x': max_blocks_per_client changed to 2\n",
		   "");

	/* A broken file is refused, and the report says where. */
	snprintf(want, sizeof(want), "shmpoolctl: reload refused: %s:%d: [pool y] needs 'blocks'\n",
		 h.config, config_lines() + 1);
	append_config("[pool y]\nregion = shared\nblock_size = 128\n");
	CTL("reload");
	expect_run(1, "", want);
	CTL("--json", "pools");
	expect_jq("[.pools[].name] == [\"small\",\"big\",\"x\"]");
}

/*
 * [daemon] admin_group, looked up when the file is read: a member may
 * reload and create pools; a group that does not exist gives nobody rights,
 * and the daemon says so in its log.
 */
static void test_admin_group(void **state)
{
	struct harness h2;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: cannot become nobody to check the admin rules\n");
		skip();
	}
	assert_int_equal(harness_start(&h2, "[daemon]\nsocket_mode = 0666\nadmin_group = 65534\n"
				       "[region r]\nsize = 1M\n"), 0);
	assert_int_equal(chmod(h2.dir, 0755), 0);
	ctl_argv(1, 1, NULL, (const char *[]){ "-s", h2.socket, "reload", NULL });
	expect_run(0, "nothing changed\n", "");
	ctl_argv(1, 1, NULL, (const char *[]){ "-s", h2.socket, "pool", "create", "p2",
					     "--block-size", "64", "--blocks", "2", NULL });
	expect_run(0, "pool 'p2' created\n", "");
	assert_int_equal(harness_stop(&h2), 0);
	harness_cleanup(&h2);

	assert_int_equal(harness_start(&h2, "[daemon]\nsocket_mode = 0666\n"
				       "admin_group = shmpool-no-such-group\n"
				       "[region r]\nsize = 1M\n"), 0);
	assert_int_equal(chmod(h2.dir, 0755), 0);
	ctl_argv(1, 1, NULL, (const char *[]){ "-s", h2.socket, "reload", NULL });
	expect_run(1, "", "shmpoolctl: permission denied: reload needs root, the daemon's user or "
			  "membership of admin_group\n");
	assert_int_equal(harness_log_lines(&h2, "admin_group 'shmpool-no-such-group': no such group",
					   NULL), 1);
	assert_int_equal(harness_stop(&h2), 0);
	harness_cleanup(&h2);
}

/* Feed the daemon's configuration FIFO one reading of text. */
static void fifo_feed(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

/* Wait until the daemon's log has at least n lines with needle. */
static void wait_log(const struct harness *hh, const char *needle, int n)
{
	for (int i = 0; harness_log_lines(hh, needle, NULL) < n; i++) {
		assert_true(i < 1000);
		usleep(10000);
	}
}

/* Whether a thread of process pid sleeps opening a FIFO nobody writes
 * (its wchan), waiting up to 5 s for one to; 0 also where the kernel does
 * not tell. */
static int fifo_opener(pid_t pid)
{
	for (int i = 0; i < 500; i++) {
		char dir[64], path[384], wchan[64];
		DIR *d;
		struct dirent *e;
		int found = 0;

		snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
		d = opendir(dir);
		if (!d)
			return 0;
		while (!found && (e = readdir(d))) {
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/wchan", dir, e->d_name);
			f = fopen(path, "r");
			if (f && fgets(wchan, sizeof(wchan), f) &&
			    strcmp(wchan, "wait_for_partner") == 0)
				found = 1;
			if (f)
				fclose(f);
		}
		closedir(d);
		if (found)
			return 1;
		usleep(10000);
	}
	return 0;
}

/*
 * A reload whose file does not come (a FIFO nobody writes stands for a name
 * service that does not answer) does not stop the daemon: it serves
 * clients and shmpoolctl meanwhile.  A shmpoolctl reload asked meanwhile
 * waits for the reload after it, which reads the file anew; and SIGTERM
 * still stops the daemon cleanly while a reload hangs.
 */
static void test_reload_slow_file(void **state)
{
	char text[8192], more[8192 + 128];
	char *const argv[] = { (char *)ctl_path(), "-s", h.socket, "reload", NULL };
	shmpool_pool_t *small = testutil_pool_open(sp, "small"), *late = NULL;
	void *b = NULL;
	pid_t pid;
	int st, stuck;

	(void)state;
	harness_watchdog(60, "test_reload_slow_file: hung\n");
	read_file_keep(h.config, text, sizeof(text));
	snprintf(more, sizeof(more), "%s[pool late]\nregion = shared\nblock_size = 64\nblocks = 2\n",
		 text);
	assert_int_equal(unlink(h.config), 0);
	assert_int_equal(mkfifo(h.config, 0600), 0);

	assert_int_equal(kill(h.pid, SIGHUP), 0);
	wait_log(&h, "SIGHUP: reloading", 1);
	stuck = fifo_opener(h.pid);
	/* Stuck in the reload's open(), and serving. */
	CTL("status");
	assert_int_equal(r.status, 0);
	assert_int_equal(shmpool_block_alloc(small, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(small, b), 0);

	/* Asked while the first runs: answered by the next one. */
	pid = start(argv, NULL, 0, NULL);
	wait_log(&h, "reload requested by pid", 1);
	usleep(100000);
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
	fifo_feed(h.config, more);
	wait_log(&h, "reloaded", 1);
	/* (Not with shmpoolctl: the one running writes the same files.) */
	assert_int_equal(shmpool_pool_open(sp, "late", &late), 0);
	shmpool_pool_close(late);
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
	fifo_feed(h.config, more);
	finish(pid);
	expect_run(0, "nothing changed\n", "");

	/* A reload that never gets its file does not keep the daemon up. */
	assert_int_equal(kill(h.pid, SIGHUP), 0);
	wait_log(&h, "SIGHUP: reloading", 2);
	stuck = stuck && fifo_opener(h.pid);
	shmpool_pool_close(small);
	assert_int_equal(harness_stop(&h), 0);
	if (stuck)
		assert_int_equal(harness_log_lines(&h, "still reading its file at stop: abandoned",
						   NULL), 1);
	else
		print_message("no wchan here: the hang was not seen from outside\n");
	harness_watchdog(0, NULL);
	assert_int_equal(unlink(h.config), 0);
	append_config(text);
	assert_int_equal(harness_restart(&h), 0);
}

static void test_permission(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("not root: cannot become nobody to check the admin rules\n");
		skip();
	}
	assert_int_equal(chmod(h.dir, 0755), 0);
	CTL_NOBODY("status");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	CTL_NOBODY("reload");
	expect_run(1, "", "shmpoolctl: permission denied: reload needs root, the daemon's user or "
			  "membership of admin_group\n");
	CTL_NOBODY("pool", "create", "p2", "--block-size", "64", "--blocks", "2");
	expect_run(1, "", "shmpoolctl: permission denied: pool create needs root, the daemon's user "
			  "or membership of admin_group\n");
	CTL_NOBODY("pool", "destroy", "small");
	expect_run(1, "", "shmpoolctl: permission denied: pool destroy needs root, the daemon's "
			  "user or membership of admin_group\n");
	CTL("--json", "pools");
	expect_jq("[.pools[].name] == [\"small\",\"big\"]");
}

static void test_exit_codes(void **state)
{
	char missing[PATH_MAX + 32], want[PATH_MAX + 128], envsock[PATH_MAX + 64];
	char *env[] = { envsock, NULL };

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no-such-dir/s.sock", h.dir);
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", missing, "status", NULL });
	snprintf(want, sizeof(want),
		 "shmpoolctl: cannot connect to %s: No such file or directory\n", missing);
	expect_run(3, "", want);
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", missing, "pools", "--json", NULL });
	expect_run(3, "", want);

	/* Without -s, $SHMPOOL_SOCKET names the socket, as for the library. */
	snprintf(envsock, sizeof(envsock), "SHMPOOL_SOCKET=%s", missing);
	ctl_argv(0, 1, env, (const char *[]){ "groups", NULL });
	expect_run(3, "", want);
	snprintf(envsock, sizeof(envsock), "SHMPOOL_SOCKET=%s", h.socket);
	ctl_argv(0, 1, env, (const char *[]){ "groups", NULL });
	expect_run(0, "NAME    SELECT  POOLS\nframes  fit     small, big\n", "");

	CTL("frobnicate");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "");
	assert_prefix(r.err, "shmpoolctl: unknown command 'frobnicate'\n"
			     "usage: shmpoolctl [-s SOCKET] [--json] COMMAND [ARGS]\n");
	assert_non_null(strstr(r.err, "\n  pool create NAME --block-size SIZE --blocks N "));
	CTL("map");
	expect_run(2, "", "shmpoolctl: map: missing argument\nusage: shmpoolctl map POOL|REGION\n");
	CTL("pools", "extra");
	expect_run(2, "", "shmpoolctl: pools: too many arguments\nusage: shmpoolctl pools\n");
	CTL("pool", "create", "q", "--block-size", "12X", "--blocks", "2");
	expect_run(2, "", "shmpoolctl: pool create: bad block size '12X'\n"
			  "usage: shmpoolctl pool create NAME --block-size SIZE --blocks N "
			  "[--align SIZE] [--attr ATTR | --region REGION]\n");
	CTL("pool", "create", "q", "--block-size", "64", "--blocks", "-1");
	assert_int_equal(r.status, 2);
	assert_prefix(r.err, "shmpoolctl: pool create: bad number of blocks '-1'\n");
	CTL("pool", "create", "q", "--block-size", "64", "--blocks", "2", "--align", "48");
	assert_int_equal(r.status, 2);
	assert_prefix(r.err, "shmpoolctl: pool create: bad alignment '48'");
	CTL("pool", "create", "q", "--block-size", "64", "--blocks", "2", "--attr", "32");
	assert_int_equal(r.status, 2);
	CTL("pool", "create", "q", "--block-size", "64", "--blocks", "2", "--attr", "dma",
	    "--region", "shared");
	assert_int_equal(r.status, 2);
	CTL("stats", "--verbose");
	expect_run(2, "", "shmpoolctl: stats: unknown option '--verbose'\n"
			  "usage: shmpoolctl stats [--prometheus]\n");
	CTL("--json", "reload");
	expect_run(2, "", "shmpoolctl: reload: --json works with the read commands only\n"
			  "usage: shmpoolctl reload\n");
	CTL("pool");
	assert_int_equal(r.status, 2);
	assert_prefix(r.err, "shmpoolctl: pool: missing subcommand\n");
	CTL("watch", "-n", "0", "status");
	assert_int_equal(r.status, 2);
	CTL("watch", "reload");
	expect_run(2, "", "shmpoolctl: watch: only read commands can be watched, not reload\n"
			  "usage: shmpoolctl watch [-n SECONDS] [COMMAND [ARGS]]\n");
	CTL("watch", "-n", "0.1", "map");
	expect_run(2, "", "shmpoolctl: map: missing argument\nusage: shmpoolctl map POOL|REGION\n");
	/* Usage errors are found before the daemon is asked. */
	ctl_argv(0, 1, NULL, (const char *[]){ "-s", missing, "pools", "extra", NULL });
	assert_int_equal(r.status, 2);

	CTL("pool", "destroy", "nosuch");
	assert_int_equal(r.status, 1);
	CTL("status");
	assert_int_equal(r.status, 0);
}

/* Watch redraws until SIGINT, then exits 0; no escapes when not a tty. */
static void test_watch(void **state)
{
	const char *argv[] = { ctl_path(), "-s", h.socket, "watch", "-n", "0.1", "groups", NULL };
	char path[PATH_MAX + 8], buf[8192];
	const char *head = "NAME    SELECT  POOLS\nframes  fit     small, big\n";
	pid_t pid;
	int seen = 0;

	(void)state;
	pid = start((char *const *)argv, NULL, 0, NULL);
	snprintf(path, sizeof(path), "%s/out", h.dir);
	for (int i = 0; i < 1000 && seen < 3; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		seen = 0;
		if (n > 0) {
			buf[n] = '\0';
			for (char *p = buf; (p = strstr(p, head)); p += strlen(head))
				seen++;
		}
		usleep(10000);
	}
	assert_int_equal(kill(pid, SIGINT), 0);
	finish(pid);
	assert_true(seen >= 3);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_null(strchr(r.out, '\033'));
	assert_true(strncmp(r.out, head, strlen(head)) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_create_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_slow_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
	};
	char *const jq[] = { "/bin/sh", "-c", "jq --version >/dev/null 2>&1", NULL };
	pid_t pid;
	int status;

	/* jq is a requirement of this test, not an optional extra. */
	pid = fork();
	if (pid == 0) {
		execv(jq[0], jq);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "test_ctl: jq is missing: install it (apt-get install jq; "
				".ci/install-deps does)\n");
		return 1;
	}
	if (access(ctl_path(), X_OK) != 0) {
		fprintf(stderr, "test_ctl: cannot run %s (set SHMPOOLCTL): %s\n", ctl_path(),
			strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
