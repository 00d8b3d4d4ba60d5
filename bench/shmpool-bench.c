/*
 * shmpool-bench: the cost of shmpoold requests, against a raw AF_UNIX
 * SOCK_SEQPACKET baseline taken in the same run with the same CPU placement.
 *
 * The bench starts its own shmpoold on a private socket with a generated
 * configuration (or uses the daemon given with -s), then measures every
 * figure twice: with the bench, its helper processes and the daemon all on
 * one CPU, and with the bench on one CPU and the daemon and the helpers on
 * another.  It prints one table: median, p99 and the ratio to the figure's
 * baseline for each placement, next to the target and whether the one-CPU
 * figure meets it.  The exit status does not depend on the targets.
 *
 * Per-operation times are clock_gettime(CLOCK_MONOTONIC) around each call;
 * nothing is subtracted (the cost of a pair of clock reads is printed).  The
 * daemon's CPU time comes from /proc/PID/task/TID/schedstat (nanoseconds),
 * read before and after each run, or from the utime and stime ticks of
 * /proc/PID/stat where schedstat is missing.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmpool.h"

#define POOL_NAME "bench"
#define WAKE_POOL_NAME "wake"
#define CACHED_POOL_NAME "bench-cached"
#define BLOCKS_REGION_SIZE ((uint64_t)17 << 20)
#define BATCH 64
#define MSG_SIZE 32
#define HEAP_MIN 64.0
#define HEAP_MAX 65536.0
#define SEED 42
#define MAX_CLIENTS 16
#define MAX_CHILDREN (MAX_CLIENTS + 4)
#define RECV_BATCH 64                     /* as the daemon reads */
#define NPLACES 2

/* The configuration of the daemon the bench starts; -C prints it.  A daemon
 * given with -s needs the same pools (bench-cached with a cache) and a
 * default heap instance. */
static const char bench_config[] =
	"# shmpool-bench: the configuration a daemon used with -s needs\n"
	"[daemon]\n"
	"log_level = warning\n"
	"max_clients = 256\n"
	"\n"
	"# Pools live in their own heap instance, so the default heap is the\n"
	"# 64 MiB region alone.\n"
	"[region bench-blocks]\n"
	"size = 17M\n"
	"prefault = yes\n"
	"\n"
	"[heap bench-pools]\n"
	"regions = bench-blocks\n"
	"\n"
	"[pool bench]\n"
	"region = bench-blocks\n"
	"block_size = 4096\n"
	"blocks = 4096\n"
	"\n"
	"# Exactly one block: the wake-up figure empties it.\n"
	"[pool wake]\n"
	"region = bench-blocks\n"
	"block_size = 4096\n"
	"blocks = 1\n"
	"\n"
	"# The cached figures (2c, 3c, 7 cache): every connection keeps up to 32\n"
	"# blocks of it, so most allocs and frees send no message.  512 KiB: with\n"
	"# 'bench' and 'wake' it fits the 17 MiB region.\n"
	"[pool bench-cached]\n"
	"region = bench-blocks\n"
	"block_size = 256\n"
	"blocks = 2048\n"
	"cache = 32\n"
	"\n"
	"[region bench-heap]\n"
	"size = 64M\n"
	"prefault = yes\n";

enum fig {
	FIG_RTT = 1u << 0,
	FIG_ALLOC = 1u << 1,
	FIG_PAIR = 1u << 2,
	FIG_BATCH = 1u << 3,
	FIG_HEAP = 1u << 4,
	FIG_WAKE = 1u << 5,
	FIG_TPUT = 1u << 6,
	FIG_ATTACH = 1u << 7,
	FIG_ALL = (1u << 8) - 1,
};

static const struct {
	const char *name;
	unsigned bit;
} fig_names[] = {
	{ "rtt", FIG_RTT }, { "alloc", FIG_ALLOC }, { "pair", FIG_PAIR },
	{ "batch", FIG_BATCH }, { "heap", FIG_HEAP }, { "wake", FIG_WAKE },
	{ "tput", FIG_TPUT }, { "attach", FIG_ATTACH },
};

static const int tput_clients[3] = { 1, 4, 16 };
/* Throughput windows per figure: the raw one-way rate and the shmpool
 * pairs alternate, and each is the median of its windows (-q: 3). */
#define TPUT_ROUNDS 5

/* Memory shared with the helper processes, mapped before any fork. */
struct shared {
	uint64_t t1;                            /* a helper's wake-up time */
	int stop;
	int ready[MAX_CLIENTS + 1];
	int failed;
	struct {
		uint64_t n;
		char pad[56];
	} count[MAX_CLIENTS + 1];               /* ops done, one cache line each */
};

struct stat2 {
	double med, p99;
	int has_med, has_p99;
};

/* The smallest and largest of some values, such as the medians of the
 * baseline in each round. */
struct range {
	double min, max;
	int n;
};

static void range_add(struct range *r, double v)
{
	if (r->n == 0 || v < r->min)
		r->min = v;
	if (r->n == 0 || v > r->max)
		r->max = v;
	r->n++;
}

/* Everything measured in one placement.  Times in ns, rates in ops/s. */
struct result {
	struct stat2 rtt, oneway;
	struct range rtt_rounds;                /* the baseline's median in each round */
	struct stat2 alloc, pair, b64_alloc, b64_free, b64_pair, b64_block, heap, wake;
	struct stat2 attach, mmap;
	struct stat2 raw_tput[3], rr_tput[3], sp_tput[3];
	struct stat2 sp_ops[3];                       /* sp_tput counted as calls: 2 per pair */
	/* The same on the cached pool: a cache hit sends no message. */
	struct stat2 alloc_c, pair_c, sp_ops_c[3];
	/* Daemon CPU in ns (and instructions, under callgrind) per request. */
	struct stat2 cpu_alloc, cpu_pair, cpu_b64, cpu_b64_block, cpu_b64_extra, cpu_heap;
	struct stat2 cpu_wake, cpu_tput16, cpu_tput16_c, cpu_attach;
	struct stat2 cpu_echo, cpu_recv16, cpu_rr16;  /* the raw helpers' CPU per message */
	struct stat2 self_rtt, self_alloc, self_pair, self_heap;  /* the bench's own */
	struct stat2 ir_alloc, ir_pair, ir_b64, ir_b64_block, ir_b64_extra, ir_heap;
	struct stat2 ir_wake, ir_tput16, ir_tput16_c, ir_attach;
};

struct place {
	int bench_cpu;
	int peer_cpu;
	int valid;
	int daemon_pinned;
};

struct bench {
	/* Options. */
	size_t iters;
	int rounds;
	double tput_secs;
	int tput_rounds;                        /* windows per throughput figure */
	unsigned figs;
	int json;
	int verbose;
	int callgrind;
	const char *socket_arg;
	const char *daemon_bin;
	const char *wrapper;
	/* State. */
	char socket[108];
	pid_t daemon_pid;
	int own_daemon;
	uint64_t region_size;
	shmpool_t *sp;
	shmpool_pool_t *pool, *wake, *cached;
	struct shared *sh;
	int cpus[2];
	int ncpus;
	double timer_ns;
	double load;                            /* 1-minute load average at the start */
	struct place places[NPLACES];
	struct result res[NPLACES];
};

/* The daemon and helpers, for the exit paths. */
static struct {
	char dir[PATH_MAX];
	char socket[108];
	char config[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
	int slow;
} dmn;

static pid_t children[MAX_CHILDREN];
static int in_child;

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* SplitMix64: a small, fixed-seed generator for the heap sizes. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static size_t size_loguniform(uint64_t *s)
{
	double u = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
	double v = exp(log(HEAP_MIN) + u * (log(HEAP_MAX) - log(HEAP_MIN)));

	if (v < HEAP_MIN)
		v = HEAP_MIN;
	if (v > HEAP_MAX)
		v = HEAP_MAX;
	return (size_t)v;
}

/* Per-operation samples; median and p99 come from the sorted array. */
struct samples {
	uint64_t *v;
	size_t n, cap;
};

static int samples_init(struct samples *s, size_t cap)
{
	s->n = 0;
	s->cap = cap;
	s->v = malloc((cap ? cap : 1) * sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

static inline void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median and p99 (nearest rank) of the samples; frees them. */
static struct stat2 samples_done(struct samples *s)
{
	struct stat2 r = { 0 };

	if (s->n) {
		size_t k = (size_t)ceil(0.99 * (double)s->n);

		qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
		r.med = s->n % 2 ? (double)s->v[s->n / 2] :
				   ((double)s->v[s->n / 2 - 1] + (double)s->v[s->n / 2]) / 2;
		r.p99 = (double)s->v[k ? k - 1 : 0];
		r.has_med = r.has_p99 = 1;
	}
	free(s->v);
	s->v = NULL;
	return r;
}

static struct stat2 value(double v)
{
	struct stat2 r = { .med = v, .has_med = 1 };

	return r;
}

/* The mean cost of a pair of clock reads, printed next to the figures. */
static double timer_overhead(void)
{
	const int n = 200000;
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		uint64_t t1 = now_ns();

		sum += t1 - t0;
	}
	return (double)sum / n;
}

/* --- Child processes ------------------------------------------------- */

static void children_add(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (!children[i]) {
			children[i] = pid;
			return;
		}
	}
}

static void children_remove(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static void children_kill(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
}

/* Pin the calling process (pid 0) or every thread of pid to one CPU. */
static int pin(pid_t pid, int cpu)
{
	char path[64];
	struct dirent *de;
	cpu_set_t set;
	DIR *d;
	int rc = 0;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pid == 0)
		return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return sched_setaffinity(pid, sizeof(set), &set) < 0 ? -errno : 0;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid > 0 && sched_setaffinity(tid, sizeof(set), &set) < 0 && rc == 0)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

static void child_fail(struct bench *b, const char *what, int rc)
{
	fprintf(stderr, "shmpool-bench: helper %d: %s: %s\n", (int)getpid(), what,
		rc < 0 ? shmpool_strerror(rc) : strerror(errno));
	__atomic_store_n(&b->sh->failed, 1, __ATOMIC_RELEASE);
	_exit(1);
}

typedef void (*child_fn)(struct bench *b, void *arg);

/* Fork a helper pinned to cpu that runs fn and exits; it dies with the
 * bench (PR_SET_PDEATHSIG) and never runs the bench's exit handlers. */
static pid_t child_spawn(struct bench *b, int cpu, child_fn fn, void *arg)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		in_child = 1;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (pin(0, cpu) < 0)
			child_fail(b, "sched_setaffinity", 0);
		fn(b, arg);
		_exit(0);
	}
	children_add(pid);
	return pid;
}

/* Reap a helper; after a failure (rc < 0) it is killed first, since it may
 * be blocked on something that will never come. */
static int child_reap(pid_t pid, int rc)
{
	int status;

	if (rc < 0)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	children_remove(pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* --- The daemon ------------------------------------------------------- */

static int can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The pid of the process listening on a socket, from SO_PEERCRED. */
static pid_t socket_peer_pid(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	pid_t pid = -1;

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}

static void dump_log(void)
{
	char buf[4096];
	int fd = open(dmn.log, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	fprintf(stderr, "--- shmpoold log (%s) ---\n", dmn.log);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	close(fd);
}

static void daemon_cleanup_files(void)
{
	if (!dmn.dir[0])
		return;
	unlink(dmn.config);
	unlink(dmn.log);
	unlink(dmn.socket);
	rmdir(dmn.dir);
	dmn.dir[0] = '\0';
}

/* SIGTERM the daemon and wait for it, then SIGKILL; returns its status or
 * -1.  Only async-signal-safe calls, so the signal handler can use it. */
static int daemon_stop(void)
{
	struct timespec ts = { 0, 10000000 };
	int status, limit = dmn.slow ? 6000 : 500;

	if (dmn.pid <= 0)
		return 0;
	kill(dmn.pid, SIGTERM);
	for (int i = 0; i < limit; i++) {
		if (waitpid(dmn.pid, &status, WNOHANG) == dmn.pid) {
			dmn.pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		nanosleep(&ts, NULL);
	}
	kill(dmn.pid, SIGKILL);
	waitpid(dmn.pid, NULL, 0);
	dmn.pid = 0;
	return -1;
}

static void bench_atexit(void)
{
	int rc;

	if (in_child)
		return;
	children_kill();
	rc = daemon_stop();
	if (rc != 0) {
		fprintf(stderr, "shmpool-bench: shmpoold exited with status %d\n", rc);
		dump_log();
	}
	daemon_cleanup_files();
}

static void on_signal(int sig)
{
	static const char timeout[] = "shmpool-bench: a run took too long; stopping\n";

	if (in_child)
		_exit(128 + sig);
	if (sig == SIGALRM) {
		ssize_t n = write(STDERR_FILENO, timeout, sizeof(timeout) - 1);

		(void)n;
	}
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	daemon_stop();
	daemon_cleanup_files();
	_exit(128 + sig);
}

static int path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Split the -W wrapper on blanks into argv, then the daemon and its
 * arguments.  Returns the argument count or -ENOMEM. */
static int daemon_argv(struct bench *b, char **argv, int max, char *words)
{
	int n = 0;

	if (words) {
		for (char *w = strtok(words, " \t"); w && n < max - 8; w = strtok(NULL, " \t"))
			argv[n++] = w;
	}
	argv[n++] = (char *)b->daemon_bin;
	argv[n++] = "-f";
	argv[n++] = "-c";
	argv[n++] = dmn.config;
	argv[n++] = "-s";
	argv[n++] = dmn.socket;
	argv[n] = NULL;
	return n;
}

/* Write the configuration to a private directory, start the daemon there
 * and wait until it accepts connections. */
static int daemon_start(struct bench *b)
{
	const char *tmp = getenv("TMPDIR");
	char *words = b->wrapper ? strdup(b->wrapper) : NULL;
	char *argv[64];
	pid_t parent = getpid(), pid;
	uint64_t deadline;
	FILE *f;
	int rc;

	if (b->wrapper && !words)
		return -ENOMEM;
	snprintf(dmn.dir, sizeof(dmn.dir), "%s/shmpool-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dmn.dir)) {
		rc = -errno;
		dmn.dir[0] = '\0';
		goto out;
	}
	if (path_join(dmn.socket, sizeof(dmn.socket), dmn.dir, "s.sock") < 0 ||
	    path_join(dmn.config, sizeof(dmn.config), dmn.dir, "shmpool.conf") < 0 ||
	    path_join(dmn.log, sizeof(dmn.log), dmn.dir, "shmpoold.log") < 0) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	f = fopen(dmn.config, "w");
	if (!f) {
		rc = -errno;
		goto out;
	}
	fputs(bench_config, f);
	if (fclose(f) != 0) {
		rc = -EIO;
		goto out;
	}
	daemon_argv(b, argv, (int)(sizeof(argv) / sizeof(argv[0])), words);
	dmn.slow = b->wrapper != NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0) {
		int fd = open(dmn.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		in_child = 1;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	dmn.pid = pid;
	deadline = now_ns() + (dmn.slow ? 120 : 10) * UINT64_C(1000000000);
	for (;;) {
		int status;

		if (can_connect(dmn.socket))
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			dmn.pid = 0;
			fprintf(stderr, "shmpool-bench: %s did not start\n", b->daemon_bin);
			dump_log();
			rc = -ECHILD;
			goto out;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "shmpool-bench: %s does not accept connections\n",
				b->daemon_bin);
			dump_log();
			rc = -ETIMEDOUT;
			goto out;
		}
		sleep_ns(10000000);
	}
	snprintf(b->socket, sizeof(b->socket), "%s", dmn.socket);
	b->daemon_pid = pid;
	b->own_daemon = 1;
	b->region_size = BLOCKS_REGION_SIZE;
	rc = 0;
out:
	free(words);
	return rc;
}

/* The daemon's CPU time in ns: schedstat of every thread, or utime+stime
 * ticks when schedstat is missing; -1 when neither can be read. */
static int64_t daemon_cpu_ns(pid_t pid)
{
	char path[96], buf[1024];
	struct dirent *de;
	int64_t sum = 0;
	int found = 0;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			unsigned long long ns;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)pid,
				 de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fscanf(f, "%llu", &ns) == 1) {
				sum += (int64_t)ns;
				found = 1;
			}
			fclose(f);
		}
		closedir(d);
	}
	if (found)
		return sum;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		const char *p = strrchr(buf, ')');
		unsigned long long ut, st;

		/* After the comm: fields 3 to 13, then utime and stime. */
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) == 2) {
			fclose(f);
			return (int64_t)((double)(ut + st) * 1e9 / (double)sysconf(_SC_CLK_TCK));
		}
	}
	fclose(f);
	return -1;
}

/* Instructions the daemon has executed so far, as callgrind counts them;
 * -1 when callgrind_control cannot tell. */
static int64_t daemon_ir(pid_t pid)
{
	char cmd[96], line[256];
	int64_t sum = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "callgrind_control -e %d 2>/dev/null", (int)pid);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		const char *s = line;
		int64_t v = 0;
		int digits = 0;

		while (*s == ' ')
			s++;
		if (strncmp(s, "Th ", 3) != 0)
			continue;
		s += 3;
		while (isdigit((unsigned char)*s))
			s++;
		for (; *s && *s != '\n'; s++) {
			if (isdigit((unsigned char)*s)) {
				v = v * 10 + (*s - '0');
				digits = 1;
			}
		}
		if (digits)
			sum = (sum < 0 ? 0 : sum) + v;
	}
	pclose(p);
	return sum;
}

/*
 * What a figure gathers over the rounds of a placement: its per-call
 * samples, and the CPU time (and instructions) one process spent on it,
 * with the count of requests or messages that time is divided by.
 */
struct meter {
	struct samples s;
	int64_t cpu, ir, self;                  /* self: the bench's own CPU */
	double units;
	int cpu_bad, ir_bad, self_bad;          /* a reading failed in some round */
	int cpu_seen, ir_seen, self_seen;
};

static int meter_init(struct meter *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	return samples_init(&m->s, cap);
}

static struct stat2 meter_cpu(const struct meter *m)
{
	struct stat2 r = { 0 };

	if (m->cpu_seen && !m->cpu_bad && m->units > 0)
		r = value((double)m->cpu / m->units);
	return r;
}

static struct stat2 meter_self(const struct meter *m)
{
	struct stat2 r = { 0 };

	if (m->self_seen && !m->self_bad && m->units > 0)
		r = value((double)m->self / m->units);
	return r;
}

static struct stat2 meter_ir(const struct meter *m)
{
	struct stat2 r = { 0 };

	if (m->ir_seen && !m->ir_bad && m->units > 0)
		r = value((double)m->ir / m->units);
	return r;
}

/* The CPU cost of a stretch of work to one process (the daemon unless a
 * helper's pid is given): read before, and after with the request count. */
struct cost {
	pid_t pid;
	int64_t cpu0, ir0, self0;
	int on;
};

static void cost_begin_pid(const struct bench *b, pid_t pid, struct cost *c)
{
	c->pid = pid;
	c->on = 1;
	c->cpu0 = pid > 0 ? daemon_cpu_ns(pid) : -1;
	c->ir0 = b->callgrind && pid == b->daemon_pid ? daemon_ir(pid) : -1;
	c->self0 = daemon_cpu_ns(getpid());
}

static void cost_begin(const struct bench *b, struct cost *c)
{
	cost_begin_pid(b, b->daemon_pid, c);
}

static void cost_end(const struct bench *b, const struct cost *c, double units, struct meter *m)
{
	int64_t cpu1, ir1, self1;

	if (!c->on)
		return;
	self1 = c->self0 >= 0 ? daemon_cpu_ns(getpid()) : -1;
	cpu1 = c->cpu0 >= 0 ? daemon_cpu_ns(c->pid) : -1;
	ir1 = c->ir0 >= 0 ? daemon_ir(c->pid) : -1;
	if (self1 >= 0) {
		m->self += self1 - c->self0;
		m->self_seen = 1;
	} else {
		m->self_bad = 1;
	}
	if (cpu1 >= 0) {
		m->cpu += cpu1 - c->cpu0;
		m->cpu_seen = 1;
	} else {
		m->cpu_bad = 1;
	}
	if (ir1 >= 0) {
		m->ir += ir1 - c->ir0;
		m->ir_seen = 1;
	} else if (b->callgrind && c->pid == b->daemon_pid) {
		m->ir_bad = 1;
	}
	m->units += units;
}

/* A round trip on the bench's connection: every free it sent before has
 * been handled when this returns. */
static int barrier(struct bench *b)
{
	struct shmpool_pool_stat st;

	return shmpool_pool_stat(b->pool, &st);
}

/*
 * A round trip that leaves the block caches alone: pool_stat makes the
 * daemon take every cached block back, set_priority does not.  The frees
 * the bench parked before it have been handled when it returns.
 */
static int barrier_keep(struct bench *b)
{
	return shmpool_set_priority(b->sp, 0);
}

/* The barrier for runs on pool: on the cached pool, one that keeps what
 * the bench has cached, as a program that uses its cache would. */
static int barrier_pool(struct bench *b, const shmpool_pool_t *pool)
{
	return pool == b->cached ? barrier_keep(b) : barrier(b);
}

static size_t warmup(size_t n)
{
	size_t w = n / 10;

	return w < 50 ? 50 : w;
}

/* --- 1: raw SEQPACKET round trip and one-way latency ------------------ */

struct pair_fds {
	int mine;                               /* the helper's end */
	int other;                              /* the bench's end, closed in the helper */
};

/* Echo every message; one that starts with 'O' first has its arrival
 * time stored for the one-way figure. */
static void echo_main(struct bench *b, void *arg)
{
	const struct pair_fds *p = arg;
	char buf[MSG_SIZE * 2];

	close(p->other);
	for (;;) {
		ssize_t n = recv(p->mine, buf, sizeof(buf), 0);

		if (n == 0)
			return;
		if (n < 0)
			child_fail(b, "recv", 0);
		if (buf[0] == 'O')
			__atomic_store_n(&b->sh->t1, now_ns(), __ATOMIC_RELEASE);
		if (send(p->mine, buf, (size_t)n, MSG_NOSIGNAL) != n)
			child_fail(b, "send", 0);
	}
}

static int raw_roundtrip(int fd, const char *msg)
{
	char reply[MSG_SIZE * 2];

	if (send(fd, msg, MSG_SIZE, MSG_NOSIGNAL) != MSG_SIZE)
		return errno ? -errno : -EIO;
	if (recv(fd, reply, sizeof(reply), 0) != MSG_SIZE)
		return -EIO;
	return 0;
}

/* Median of the last n samples, without disturbing them. */
static double samples_tail_median(const struct samples *s, size_t n)
{
	uint64_t *v;
	double med;

	if (n == 0 || n > s->n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	memcpy(v, s->v + s->n - n, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u64);
	med = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
	free(v);
	return med;
}

/*
 * n round trips of 32-byte messages with a helper process, and the helper's
 * CPU time per round trip; then, when oneway is given, n one-way latencies
 * (from the send to the helper's return from recv).
 */
static int run_rtt(struct bench *b, const struct place *pl, size_t n, struct meter *rtt,
		   struct meter *oneway, struct range *rounds)
{
	struct cost c = { 0 };
	struct pair_fds p;
	char msg[MSG_SIZE];
	size_t w = warmup(n), before = rtt->s.n;
	int sv[2], rc = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	p.mine = sv[1];
	p.other = sv[0];
	pid = child_spawn(b, pl->peer_cpu, echo_main, &p);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return pid;
	}
	memset(msg, 'P', sizeof(msg));
	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		uint64_t t0;

		if (i == w)
			cost_begin_pid(b, pid, &c);
		t0 = now_ns();
		rc = raw_roundtrip(sv[0], msg);
		if (i >= w)
			samples_add(&rtt->s, now_ns() - t0);
	}
	if (rc == 0)
		cost_end(b, &c, (double)n, rtt);
	if (rc == 0 && rounds)
		range_add(rounds, samples_tail_median(&rtt->s, rtt->s.n - before));
	msg[0] = 'O';
	for (size_t i = 0; oneway && rc == 0 && i < w + n; i++) {
		uint64_t t0 = now_ns();

		rc = raw_roundtrip(sv[0], msg);
		if (i >= w)
			samples_add(&oneway->s, __atomic_load_n(&b->sh->t1, __ATOMIC_ACQUIRE) - t0);
	}
	close(sv[0]);
	if (child_reap(pid, rc) < 0 && rc == 0)
		rc = -ECHILD;
	return rc;
}

/* --- 2, 3, 4: block allocation ----------------------------------------- */

/*
 * n single allocations from pool, each timed; the blocks go back in
 * batches of 64, untimed, followed by a barrier so that the daemon's work
 * on the free is not in the next timed call.  On the cached pool the free
 * refills the cache (the rest is parked in the free ring) and the barrier
 * keeps it, so most allocations are cache hits; the daemon's CPU is not
 * counted there, since the requests are not known.
 */
static int run_alloc(struct bench *b, shmpool_pool_t *pool, size_t n, struct meter *m)
{
	void *blk[BATCH];
	struct cost c = { 0 };
	size_t w = warmup(n), reqs = 0;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < w; i++) {
		rc = shmpool_block_alloc(pool, &blk[0], SHMPOOL_NO_WAIT);
		if (rc == 0)
			rc = shmpool_block_free(pool, blk[0]);
	}
	if (rc == 0)
		rc = barrier_pool(b, pool);
	if (rc < 0)
		return rc;
	if (pool != b->cached)
		cost_begin(b, &c);
	for (size_t done = 0; rc == 0 && done < n;) {
		size_t k = n - done < BATCH ? n - done : BATCH, got = 0;

		for (; got < k; got++) {
			uint64_t t0 = now_ns();

			rc = shmpool_block_alloc(pool, &blk[got], SHMPOOL_NO_WAIT);
			samples_add(&m->s, now_ns() - t0);
			if (rc < 0)
				break;
		}
		if (got > 0 && shmpool_blocks_free(pool, got, blk) < 0 && rc == 0)
			rc = -EIO;
		if (rc == 0)
			rc = barrier_pool(b, pool);
		done += k;
		reqs += got + 2;
	}
	if (rc == 0)
		cost_end(b, &c, (double)reqs, m);
	return rc;
}

/* n back-to-back block_alloc + block_free pairs on pool, each pair timed;
 * on the cached pool both come from and go to the cache (no daemon CPU
 * counted, as in run_alloc). */
static int run_pair(struct bench *b, shmpool_pool_t *pool, size_t n, struct meter *m)
{
	struct cost c = { 0 };
	size_t w = warmup(n);
	void *blk;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		uint64_t t0;

		if (i == w) {
			rc = barrier_pool(b, pool);
			if (pool != b->cached)
				cost_begin(b, &c);
		}
		t0 = now_ns();
		if (rc == 0)
			rc = shmpool_block_alloc(pool, &blk, SHMPOOL_NO_WAIT);
		if (rc == 0)
			rc = shmpool_block_free(pool, blk);
		if (i >= w)
			samples_add(&m->s, now_ns() - t0);
	}
	if (rc == 0)
		rc = barrier_pool(b, pool);
	if (rc == 0)
		cost_end(b, &c, 2.0 * (double)n + 1, m);
	return rc;
}

/*
 * n batches of 64: a barrier, then blocks_alloc(64) and blocks_free(64),
 * each call timed, so the alloc compares with the single alloc of
 * run_alloc.  Then n batches with neither barriers nor per-call timing
 * give the daemon's CPU per block (loop->units counts blocks).
 */
/* The daemon's cost of n untimed cycles of blocks_alloc(count) and
 * blocks_free(count), per cycle if count is 1 and per block otherwise; the
 * round's CPU per cycle, in picoseconds, is kept as a sample (see
 * extra_block). */
static int cost_loop(struct bench *b, size_t n, size_t count, struct meter *m)
{
	void *blk[BATCH];
	struct cost c = { 0 };
	int64_t cpu0 = m->cpu;
	int rc = 0;

	cost_begin(b, &c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = shmpool_blocks_alloc(b->pool, count, blk, SHMPOOL_NO_WAIT);
		if (rc == 0)
			rc = shmpool_blocks_free(b->pool, count, blk);
	}
	if (rc == 0)
		rc = barrier(b);
	if (rc == 0)
		cost_end(b, &c, (double)n * (double)count, m);
	if (rc == 0 && n && m->cpu_seen && m->cpu >= cpu0)
		samples_add(&m->s, (uint64_t)(m->cpu - cpu0) * 1000 / n);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of d[0..n), n > 0; sorts d. */
static double median_sort(double *d, size_t n)
{
	qsort(d, n, sizeof(*d), cmp_double);
	return n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
}

/*
 * The daemon's CPU per extra block of a batch: in each round, the x64
 * loop's CPU per cycle less the x1 loop's, run next to it, over 63 (the
 * two take turns at going first); the median over the rounds, so that a
 * burst of other work on the machine in some rounds does not move it.
 * Before the samples are sorted.
 */
static struct stat2 extra_block(const struct samples *x64, const struct samples *x1)
{
	size_t n = x64->n < x1->n ? x64->n : x1->n;
	struct stat2 r = { 0 };
	double *d;

	if (n == 0 || x64->n != x1->n)
		return r;
	d = malloc(n * sizeof(*d));
	if (!d)
		return r;
	for (size_t i = 0; i < n; i++)
		d[i] = ((double)x64->v[i] - (double)x1->v[i]) / 1000.0 / (BATCH - 1);
	r = value(median_sort(d, n));
	free(d);
	return r;
}

static int run_batch(struct bench *b, size_t n, int round, struct meter *ma, struct meter *mf,
		     struct meter *mp, struct meter *loop, struct meter *loop1)
{
	void *blk[BATCH];
	size_t w = warmup(n);
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		uint64_t t0, t1, t2;

		rc = barrier(b);
		if (rc < 0)
			break;
		t0 = now_ns();
		rc = shmpool_blocks_alloc(b->pool, BATCH, blk, SHMPOOL_NO_WAIT);
		t1 = now_ns();
		if (rc < 0)
			break;
		rc = shmpool_blocks_free(b->pool, BATCH, blk);
		t2 = now_ns();
		if (i >= w) {
			samples_add(&ma->s, t1 - t0);
			samples_add(&mf->s, t2 - t1);
			samples_add(&mp->s, t2 - t0);
		}
	}
	if (rc == 0)
		rc = barrier(b);
	/* The same loop with batches of 1 next to it: what a batch of 64
	 * costs the daemon beyond it is the cost of its 63 extra blocks.
	 * The two take turns at going first, so that neither gains from
	 * its place. */
	if (rc == 0 && round % 2)
		rc = cost_loop(b, n, 1, loop1);
	if (rc == 0)
		rc = cost_loop(b, n, BATCH, loop);
	if (rc == 0 && round % 2 == 0)
		rc = cost_loop(b, n, 1, loop1);
	return rc;
}

/* --- 5: heap ---------------------------------------------------------- */

/* n shmpool_alloc + shmpool_free pairs, each timed, with log-uniform sizes
 * drawn from *seed. */
static int run_heap(struct bench *b, size_t n, uint64_t *seed, struct meter *m)
{
	struct cost c = { 0 };
	size_t w = warmup(n);
	void *p;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		size_t size = size_loguniform(seed);
		uint64_t t0;

		if (i == w) {
			rc = barrier(b);
			cost_begin(b, &c);
		}
		t0 = now_ns();
		if (rc == 0)
			rc = shmpool_alloc(b->sp, SHMPOOL_ATTR_CACHEABLE, size, &p);
		if (rc == 0)
			rc = shmpool_free(b->sp, p);
		if (i >= w)
			samples_add(&m->s, now_ns() - t0);
	}
	if (rc == 0)
		rc = barrier(b);
	if (rc == 0)
		cost_end(b, &c, 2.0 * (double)n + 1, m);
	return rc;
}

/* --- 6: wake-up of a waiter ------------------------------------------- */

/* The waiter: on each 'g', wait for the only block of the wake pool, note
 * the time it got it, give it back and answer 'd'. */
static void waiter_main(struct bench *b, void *arg)
{
	const struct pair_fds *p = arg;
	shmpool_pool_t *pool;
	shmpool_t *sp;
	void *blk;
	char ch;
	int rc;

	close(p->other);
	rc = shmpool_connect(b->socket, &sp);
	if (rc < 0)
		child_fail(b, "connect", rc);
	rc = shmpool_pool_open(sp, WAKE_POOL_NAME, &pool);
	if (rc < 0)
		child_fail(b, "pool_open", rc);
	while (recv(p->mine, &ch, 1, 0) == 1 && ch == 'g') {
		uint64_t t1;

		rc = shmpool_block_alloc(pool, &blk, SHMPOOL_FOREVER);
		t1 = now_ns();
		if (rc < 0)
			child_fail(b, "block_alloc", rc);
		__atomic_store_n(&b->sh->t1, t1, __ATOMIC_RELEASE);
		rc = shmpool_block_free(pool, blk);
		if (rc < 0)
			child_fail(b, "block_free", rc);
		if (send(p->mine, "d", 1, MSG_NOSIGNAL) != 1)
			child_fail(b, "send", 0);
	}
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
}

/*
 * The bench holds the wake pool's only block; a waiter blocks on it (seen
 * through the pool's waiter count), and the time runs from the bench's
 * block_free call to the waiter's return from block_alloc.
 */
static int run_wake(struct bench *b, const struct place *pl, size_t n, struct meter *m)
{
	struct shmpool_pool_stat st;
	struct cost c = { 0 };
	struct pair_fds p;
	size_t w = warmup(n), reqs = 0;
	void *blk;
	int sv[2], rc;
	pid_t pid;

	rc = shmpool_pool_stat(b->wake, &st);
	if (rc < 0)
		return rc;
	if (st.num_blocks != 1 || st.num_used != 0) {
		fprintf(stderr, "shmpool-bench: pool '%s' must have exactly one block, unused\n",
			WAKE_POOL_NAME);
		return -EINVAL;
	}
	rc = shmpool_block_alloc(b->wake, &blk, SHMPOOL_NO_WAIT);
	if (rc < 0)
		return rc;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		shmpool_block_free(b->wake, blk);
		return rc;
	}
	p.mine = sv[1];
	p.other = sv[0];
	pid = child_spawn(b, pl->peer_cpu, waiter_main, &p);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		shmpool_block_free(b->wake, blk);
		return pid;
	}
	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		uint64_t t0;
		char ch;

		if (i == w) {
			cost_begin(b, &c);
			reqs = 0;
		}
		if (send(sv[0], "g", 1, MSG_NOSIGNAL) != 1) {
			rc = -EIO;
			break;
		}
		do {
			rc = shmpool_pool_stat(b->wake, &st);
			reqs++;
		} while (rc == 0 && st.num_waiters == 0);
		if (rc < 0)
			break;
		t0 = now_ns();
		rc = shmpool_block_free(b->wake, blk);
		if (rc < 0)
			break;
		if (recv(sv[0], &ch, 1, 0) != 1) {
			rc = -EIO;
			break;
		}
		if (i >= w)
			samples_add(&m->s, __atomic_load_n(&b->sh->t1, __ATOMIC_ACQUIRE) - t0);
		rc = shmpool_block_alloc(b->wake, &blk, SHMPOOL_FOREVER);
		reqs += 4;
	}
	if (rc == 0)
		rc = barrier(b);
	if (rc == 0)
		cost_end(b, &c, (double)reqs + 1, m);
	close(sv[0]);
	if (child_reap(pid, rc) < 0 && rc == 0)
		rc = -ECHILD;
	if (rc == 0)
		rc = shmpool_block_free(b->wake, blk);
	return rc;
}

/* --- 7: throughput ------------------------------------------------------ */

struct tput_arg {
	int n;
	int idx;
	int echo;                               /* request/reply instead of one-way */
	const char *pool;                       /* the shmpool clients' pool */
	int recv_fd[MAX_CLIENTS];
	int send_fd[MAX_CLIENTS];
};

/* The raw receiver: drain every socket, up to RECV_BATCH messages per
 * socket and wake-up as the daemon does, until every sender has gone; with
 * echo set, answer every message as the daemon answers an allocation. */
static void receiver_main(struct bench *b, void *arg)
{
	const struct tput_arg *a = arg;
	struct epoll_event ev[MAX_CLIENTS];
	uint64_t count = 0;
	int ep, live = a->n;

	for (int i = 0; i < a->n; i++)
		close(a->send_fd[i]);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		child_fail(b, "epoll_create1", 0);
	for (int i = 0; i < a->n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = a->recv_fd[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, a->recv_fd[i], &e) < 0)
			child_fail(b, "epoll_ctl", 0);
	}
	__atomic_store_n(&b->sh->ready[MAX_CLIENTS], 1, __ATOMIC_RELEASE);
	while (live > 0) {
		int k = epoll_wait(ep, ev, MAX_CLIENTS, -1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			child_fail(b, "epoll_wait", 0);
		for (int j = 0; j < k; j++) {
			char buf[MSG_SIZE * 2];

			for (int m = 0; m < RECV_BATCH; m++) {
				ssize_t got = recv(ev[j].data.fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (got > 0) {
					count++;
					if (a->echo && send(ev[j].data.fd, buf, (size_t)got,
							    MSG_NOSIGNAL) != got)
						child_fail(b, "send", 0);
					continue;
				}
				if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
					epoll_ctl(ep, EPOLL_CTL_DEL, ev[j].data.fd, NULL);
					close(ev[j].data.fd);
					live--;
				}
				break;
			}
		}
		__atomic_store_n(&b->sh->count[MAX_CLIENTS].n, count, __ATOMIC_RELAXED);
	}
	close(ep);
}

/* A raw sender: one-way 32-byte messages until told to stop, or with echo
 * set, round trips, counted. */
static void sender_main(struct bench *b, void *arg)
{
	const struct tput_arg *a = arg;
	char msg[MSG_SIZE], reply[MSG_SIZE * 2];
	int fd = a->send_fd[a->idx];
	uint64_t count = 0;

	for (int i = 0; i < a->n; i++) {
		close(a->recv_fd[i]);
		if (i != a->idx)
			close(a->send_fd[i]);
	}
	memset(msg, 'T', sizeof(msg));
	__atomic_store_n(&b->sh->ready[a->idx], 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&b->sh->stop, __ATOMIC_RELAXED)) {
		if (send(fd, msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg))
			child_fail(b, "send", 0);
		if (a->echo) {
			if (recv(fd, reply, sizeof(reply), 0) != (ssize_t)sizeof(msg))
				child_fail(b, "recv", 0);
			__atomic_store_n(&b->sh->count[a->idx].n, ++count, __ATOMIC_RELAXED);
		}
	}
}

/* A shmpool client: alloc + free pairs on a->pool until told to stop. */
static void client_main(struct bench *b, void *arg)
{
	const struct tput_arg *a = arg;
	shmpool_pool_t *pool;
	shmpool_t *sp;
	uint64_t count = 0;
	void *blk;
	int rc;

	rc = shmpool_connect(b->socket, &sp);
	if (rc < 0)
		child_fail(b, "connect", rc);
	rc = shmpool_pool_open(sp, a->pool, &pool);
	if (rc < 0)
		child_fail(b, "pool_open", rc);
	__atomic_store_n(&b->sh->ready[a->idx], 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&b->sh->stop, __ATOMIC_RELAXED)) {
		rc = shmpool_block_alloc(pool, &blk, SHMPOOL_FOREVER);
		if (rc == 0)
			rc = shmpool_block_free(pool, blk);
		if (rc < 0)
			child_fail(b, "alloc+free", rc);
		__atomic_store_n(&b->sh->count[a->idx].n, ++count, __ATOMIC_RELAXED);
	}
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
}

static uint64_t counts_sum(const struct bench *b, int from, int to)
{
	uint64_t sum = 0;

	for (int i = from; i < to; i++)
		sum += __atomic_load_n(&b->sh->count[i].n, __ATOMIC_RELAXED);
	return sum;
}

/* Wait until helpers [0, n) and, when extra, the receiver are ready. */
static int wait_ready(const struct bench *b, int n, int extra)
{
	uint64_t deadline = now_ns() + (dmn.slow ? 120 : 20) * UINT64_C(1000000000);

	for (;;) {
		int ready = extra ? __atomic_load_n(&b->sh->ready[MAX_CLIENTS], __ATOMIC_ACQUIRE) : 1;

		for (int i = 0; i < n; i++)
			ready &= __atomic_load_n(&b->sh->ready[i], __ATOMIC_ACQUIRE);
		if (ready)
			return 0;
		if (__atomic_load_n(&b->sh->failed, __ATOMIC_ACQUIRE) || now_ns() > deadline)
			return -ECHILD;
		sleep_ns(1000000);
	}
}

static void shared_reset(struct bench *b)
{
	memset(b->sh, 0, sizeof(*b->sh));
}

/* Let the helpers run for a warm-up, then count what they do in
 * tput_secs; returns ops/s.  The CPU of process pid goes to m, per
 * count * per_count messages or requests. */
static double tput_window(struct bench *b, int from, int to, double per_count, pid_t pid,
			  struct meter *m)
{
	uint64_t warm = (uint64_t)(b->tput_secs * 2e8), c0, c1, t0, t1;
	struct cost c = { 0 };

	sleep_ns(warm < 50000000 ? 50000000 : warm);
	if (m)
		cost_begin_pid(b, pid, &c);
	t0 = now_ns();
	c0 = counts_sum(b, from, to);
	sleep_ns((uint64_t)(b->tput_secs * 1e9));
	c1 = counts_sum(b, from, to);
	t1 = now_ns();
	if (m)
		cost_end(b, &c, (double)(c1 - c0) * per_count, m);
	__atomic_store_n(&b->sh->stop, 1, __ATOMIC_RELEASE);
	return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
}

/* N senders on the bench's CPU, one receiver on the peer CPU: one-way
 * messages, or round trips when echo is set. */
static int run_raw_tput(struct bench *b, const struct place *pl, int n, int echo,
			struct stat2 *out, struct meter *m)
{
	struct tput_arg a = { .n = n, .echo = echo };
	pid_t pids[MAX_CLIENTS + 1];
	int npids = 0, rc = 0;

	shared_reset(b);
	for (int i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			rc = -errno;
			for (int j = 0; j < i; j++) {
				close(a.recv_fd[j]);
				close(a.send_fd[j]);
			}
			return rc;
		}
		a.recv_fd[i] = sv[0];
		a.send_fd[i] = sv[1];
	}
	pids[npids] = child_spawn(b, pl->peer_cpu, receiver_main, &a);
	if (pids[npids] > 0)
		npids++;
	else
		rc = pids[npids];
	for (int i = 0; rc == 0 && i < n; i++) {
		a.idx = i;
		pids[npids] = child_spawn(b, pl->bench_cpu, sender_main, &a);
		if (pids[npids] > 0)
			npids++;
		else
			rc = pids[npids];
	}
	for (int i = 0; i < n; i++) {
		close(a.recv_fd[i]);
		close(a.send_fd[i]);
	}
	if (rc == 0)
		rc = wait_ready(b, n, 1);
	if (rc == 0)
		*out = value(echo ? tput_window(b, 0, n, 1, pids[0], m) :
				    tput_window(b, MAX_CLIENTS, MAX_CLIENTS + 1, 1, pids[0], m));
	__atomic_store_n(&b->sh->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < npids; i++)
		if (child_reap(pids[i], rc) < 0 && rc == 0)
			rc = -ECHILD;
	return rc;
}

/* N shmpool clients on the bench's CPU doing alloc+free pairs on pool. */
static int run_sp_tput(struct bench *b, const struct place *pl, const char *pool, int n,
		       struct stat2 *out, struct meter *m)
{
	struct tput_arg a = { .n = n, .pool = pool };
	pid_t pids[MAX_CLIENTS];
	int npids = 0, rc = 0;

	shared_reset(b);
	for (int i = 0; rc == 0 && i < n; i++) {
		a.idx = i;
		pids[npids] = child_spawn(b, pl->bench_cpu, client_main, &a);
		if (pids[npids] > 0)
			npids++;
		else
			rc = pids[npids];
	}
	if (rc == 0)
		rc = wait_ready(b, n, 0);
	if (rc == 0)
		*out = value(tput_window(b, 0, n, 2, b->daemon_pid, m));
	__atomic_store_n(&b->sh->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < npids; i++)
		if (child_reap(pids[i], rc) < 0 && rc == 0)
			rc = -ECHILD;
	return rc;
}

/* --- 9: attach ---------------------------------------------------------- */

/* n mmap + munmap of a memfd of the region's size: the part of an attach
 * that is not the round trip. */
static int run_mmap(struct bench *b, size_t n, struct meter *m)
{
	size_t w = warmup(n);
	int fd, rc = 0;

	fd = memfd_create("shmpool-bench", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)b->region_size) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (size_t i = 0; i < w + n; i++) {
		uint64_t t0 = now_ns();
		void *p = mmap(NULL, b->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED) {
			rc = -errno;
			break;
		}
		munmap(p, b->region_size);
		if (i >= w)
			samples_add(&m->s, now_ns() - t0);
	}
	close(fd);
	return rc;
}

/*
 * n first attaches of a block on a fresh connection: the reply carries the
 * pool and region descriptors and the region's fd, which the library maps.
 * Connecting, freeing and disconnecting are not timed; the daemon's CPU is
 * counted per whole cycle.
 */
static int run_attach(struct bench *b, size_t n, struct meter *m)
{
	size_t w = warmup(n) / 2;
	struct cost c = { 0 };
	shmpool_ref_t ref;
	void *blk, *p;
	int rc;

	rc = shmpool_block_alloc(b->pool, &blk, SHMPOOL_NO_WAIT);
	if (rc < 0)
		return rc;
	rc = shmpool_ref(b->sp, blk, &ref);
	for (size_t i = 0; rc == 0 && i < w + n; i++) {
		shmpool_t *sp2;
		uint64_t t0, t1;

		if (i == w)
			cost_begin(b, &c);
		rc = shmpool_connect(b->socket, &sp2);
		if (rc < 0)
			break;
		t0 = now_ns();
		rc = shmpool_attach(sp2, &ref, &p);
		t1 = now_ns();
		if (rc == 0)
			rc = shmpool_free(sp2, p);
		shmpool_disconnect(sp2);
		if (i >= w)
			samples_add(&m->s, t1 - t0);
	}
	if (rc == 0)
		rc = barrier(b);
	if (rc == 0)
		cost_end(b, &c, (double)n, m);
	if (shmpool_block_free(b->pool, blk) < 0 && rc == 0)
		rc = -EIO;
	return rc;
}

/* --- Driver --------------------------------------------------------------- */

/* The meters of one placement, filled over its rounds. */
struct meters {
	struct meter rtt, oneway, alloc, pair, b64a, b64f, b64p, b64loop, b1loop, heap, wake;
	struct meter alloc_c, pair_c;                 /* on the cached pool */
	struct meter mmap, attach;
	uint64_t heap_seed;
};

static size_t iters_batch(const struct bench *b)
{
	return b->iters / 2 ? b->iters / 2 : 1;
}

static size_t iters_wake(const struct bench *b)
{
	return b->iters / 5 ? b->iters / 5 : 1;
}

static size_t iters_attach(const struct bench *b)
{
	return b->iters / 25 < 100 ? 100 : b->iters / 25;
}

/* The share of total for round k of rounds. */
static size_t round_share(size_t total, int k, int rounds)
{
	return total * (size_t)(k + 1) / (size_t)rounds - total * (size_t)k / (size_t)rounds;
}

static int meters_init(const struct bench *b, struct meters *m)
{
	int rc = 0;

	memset(m, 0, sizeof(*m));
	m->heap_seed = SEED;
	rc |= meter_init(&m->rtt, b->iters);
	rc |= meter_init(&m->oneway, b->iters);
	rc |= meter_init(&m->alloc, b->iters);
	rc |= meter_init(&m->pair, b->iters);
	rc |= meter_init(&m->alloc_c, b->iters);
	rc |= meter_init(&m->pair_c, b->iters);
	rc |= meter_init(&m->b64a, iters_batch(b));
	rc |= meter_init(&m->b64f, iters_batch(b));
	rc |= meter_init(&m->b64p, iters_batch(b));
	rc |= meter_init(&m->b64loop, (size_t)b->rounds);
	rc |= meter_init(&m->b1loop, (size_t)b->rounds);
	rc |= meter_init(&m->heap, b->iters);
	rc |= meter_init(&m->wake, iters_wake(b));
	rc |= meter_init(&m->mmap, iters_attach(b));
	rc |= meter_init(&m->attach, iters_attach(b));
	return rc ? -ENOMEM : 0;
}

/* Turn the meters of a placement into its results, and free them. */
static void meters_done(struct meters *m, struct result *r)
{
	r->cpu_echo = meter_cpu(&m->rtt);
	r->self_rtt = meter_self(&m->rtt);
	r->self_alloc = meter_self(&m->alloc);
	r->self_pair = meter_self(&m->pair);
	r->self_heap = meter_self(&m->heap);
	r->rtt = samples_done(&m->rtt.s);
	r->oneway = samples_done(&m->oneway.s);
	r->cpu_alloc = meter_cpu(&m->alloc);
	r->ir_alloc = meter_ir(&m->alloc);
	r->alloc = samples_done(&m->alloc.s);
	r->cpu_pair = meter_cpu(&m->pair);
	r->ir_pair = meter_ir(&m->pair);
	r->pair = samples_done(&m->pair.s);
	r->alloc_c = samples_done(&m->alloc_c.s);
	r->pair_c = samples_done(&m->pair_c.s);
	r->b64_alloc = samples_done(&m->b64a.s);
	r->b64_free = samples_done(&m->b64f.s);
	r->b64_pair = samples_done(&m->b64p.s);
	if (r->b64_pair.has_med) {
		r->b64_block = r->b64_pair;
		r->b64_block.med /= BATCH;
		r->b64_block.p99 /= BATCH;
	}
	r->cpu_b64_extra = extra_block(&m->b64loop.s, &m->b1loop.s);
	samples_done(&m->b64loop.s);
	samples_done(&m->b1loop.s);
	r->cpu_b64_block = meter_cpu(&m->b64loop);
	r->ir_b64_block = meter_ir(&m->b64loop);
	/* Two requests (alloc and free) per 64 blocks. */
	if (r->cpu_b64_block.has_med)
		r->cpu_b64 = value(r->cpu_b64_block.med * BATCH / 2);
	if (r->ir_b64_block.has_med) {
		struct stat2 one = meter_ir(&m->b1loop);

		r->ir_b64 = value(r->ir_b64_block.med * BATCH / 2);
		if (one.has_med)
			r->ir_b64_extra = value((r->ir_b64_block.med * BATCH - one.med) /
						(BATCH - 1));
	}
	r->cpu_heap = meter_cpu(&m->heap);
	r->ir_heap = meter_ir(&m->heap);
	r->heap = samples_done(&m->heap.s);
	r->cpu_wake = meter_cpu(&m->wake);
	r->ir_wake = meter_ir(&m->wake);
	r->wake = samples_done(&m->wake.s);
	r->mmap = samples_done(&m->mmap.s);
	r->cpu_attach = meter_cpu(&m->attach);
	r->ir_attach = meter_ir(&m->attach);
	r->attach = samples_done(&m->attach.s);
}

static int place_apply(struct bench *b, struct place *pl)
{
	int rc = pin(0, pl->bench_cpu);

	if (rc < 0)
		return rc;
	pl->daemon_pinned = b->daemon_pid > 0 && pin(b->daemon_pid, pl->peer_cpu) == 0;
	if (!pl->daemon_pinned)
		fprintf(stderr, "shmpool-bench: cannot set the daemon's CPU; its placement is "
			"the kernel's\n");
	return 0;
}

/* Every run arms a watchdog, so a daemon that stops answering ends the
 * bench (through on_signal) instead of hanging it. */
static void progress(const struct bench *b, const char *what, int place, int round)
{
	alarm(b->wrapper ? 3600 : 600);
	if (b->verbose)
		fprintf(stderr, "shmpool-bench: %s, %s, round %d\n", what,
			place ? "two CPUs" : "one CPU", round + 1);
}

/* One round of the latency figures: each figure's share of its iterations,
 * right after a share of the baseline round trips. */
static int run_round(struct bench *b, int idx, int k, struct meters *m)
{
	const struct place *pl = &b->places[idx];
	const int nr = b->rounds;
	int rc;

	progress(b, "raw round trip", idx, k);
	rc = run_rtt(b, pl, round_share(b->iters, k, nr), &m->rtt, &m->oneway,
		     &b->res[idx].rtt_rounds);
	if (rc == 0 && (b->figs & FIG_ALLOC)) {
		progress(b, "block_alloc", idx, k);
		rc = run_alloc(b, b->pool, round_share(b->iters, k, nr), &m->alloc);
	}
	if (rc == 0 && (b->figs & FIG_ALLOC)) {
		progress(b, "block_alloc, cache", idx, k);
		rc = run_alloc(b, b->cached, round_share(b->iters, k, nr), &m->alloc_c);
	}
	if (rc == 0 && (b->figs & (FIG_PAIR | FIG_BATCH))) {
		progress(b, "alloc+free pair", idx, k);
		rc = run_pair(b, b->pool, round_share(b->iters, k, nr), &m->pair);
	}
	if (rc == 0 && (b->figs & FIG_PAIR)) {
		progress(b, "alloc+free pair, cache", idx, k);
		rc = run_pair(b, b->cached, round_share(b->iters, k, nr), &m->pair_c);
	}
	if (rc == 0 && (b->figs & FIG_BATCH)) {
		progress(b, "batches of 64", idx, k);
		rc = run_batch(b, round_share(iters_batch(b), k, nr), k, &m->b64a, &m->b64f, &m->b64p,
			       &m->b64loop, &m->b1loop);
	}
	if (rc == 0 && (b->figs & FIG_HEAP)) {
		progress(b, "heap alloc+free", idx, k);
		rc = run_heap(b, round_share(b->iters, k, nr), &m->heap_seed, &m->heap);
	}
	if (rc == 0 && (b->figs & FIG_WAKE)) {
		progress(b, "wake-up", idx, k);
		rc = run_wake(b, pl, round_share(iters_wake(b), k, nr), &m->wake);
	}
	if (rc == 0 && (b->figs & FIG_ATTACH)) {
		progress(b, "attach", idx, k);
		rc = run_mmap(b, round_share(iters_attach(b), k, nr), &m->mmap);
		if (rc == 0)
			rc = run_attach(b, round_share(iters_attach(b), k, nr), &m->attach);
	}
	return rc;
}

static int run_place(struct bench *b, int idx)
{
	struct place *pl = &b->places[idx];
	struct result *r = &b->res[idx];
	struct meters m;
	int rc;

	rc = place_apply(b, pl);
	if (rc < 0)
		return rc;
	rc = meters_init(b, &m);
	if (rc < 0)
		return rc;
	shared_reset(b);
	for (int k = 0; rc == 0 && k < b->rounds; k++)
		rc = run_round(b, idx, k, &m);
	meters_done(&m, r);
	for (int k = 0; rc == 0 && (b->figs & FIG_TPUT) && k < 3; k++) {
		struct meter recv_m = { 0 }, rr_m = { 0 }, sp_m = { 0 }, spc_m = { 0 };
		struct stat2 pairs_c = { 0 };
		int n = tput_clients[k];

		double raw[TPUT_ROUNDS], pairs[TPUT_ROUNDS];

		progress(b, "throughput", idx, 0);
		/* The machine's speed drifts over seconds: the figure and its
		 * baseline take turns, and each is the median of its windows. */
		for (int j = 0; rc == 0 && j < b->tput_rounds; j++) {
			struct stat2 v = { 0 };

			rc = run_raw_tput(b, pl, n, 0, &v, &recv_m);
			raw[j] = v.med;
			if (rc == 0)
				rc = run_sp_tput(b, pl, POOL_NAME, n, &v, &sp_m);
			pairs[j] = v.med;
		}
		if (rc == 0) {
			r->raw_tput[k] = value(median_sort(raw, (size_t)b->tput_rounds));
			r->sp_tput[k] = value(median_sort(pairs, (size_t)b->tput_rounds));
			rc = run_raw_tput(b, pl, n, 1, &r->rr_tput[k], &rr_m);
		}
		if (rc == 0)
			rc = run_sp_tput(b, pl, CACHED_POOL_NAME, n, &pairs_c, &spc_m);
		r->sp_ops[k] = r->sp_tput[k];
		r->sp_ops[k].med *= 2;
		r->sp_ops_c[k] = pairs_c;
		r->sp_ops_c[k].med *= 2;
		if (n == MAX_CLIENTS) {
			r->cpu_recv16 = meter_cpu(&recv_m);
			r->cpu_rr16 = meter_cpu(&rr_m);
			r->cpu_tput16 = meter_cpu(&sp_m);
			r->ir_tput16 = meter_ir(&sp_m);
			r->cpu_tput16_c = meter_cpu(&spc_m);
			r->ir_tput16_c = meter_ir(&spc_m);
		}
	}
	return rc;
}

/* --- Output ---------------------------------------------------------------- */

enum unit { U_US, U_NS, U_KOPS, U_IR };
enum tkind { T_NONE, T_LE, T_GE, T_ABS_LE };

struct row {
	const char *name;
	const char *base;                       /* baseline label, NULL: none */
	enum unit unit;
	struct stat2 v[NPLACES];
	struct stat2 bs[NPLACES];
	enum tkind tk;
	double t_med, t_p99;                    /* t_p99 0: no p99 target */
};

static const char *unit_name(enum unit u)
{
	static const char *const names[] = { "us", "ns", "kops/s", "instr" };

	return names[u];
}

static double unit_scale(enum unit u)
{
	return u == U_US || u == U_KOPS ? 1e-3 : 1.0;
}

static void fmt_val(char *buf, size_t len, enum unit u, double v, int has)
{
	if (!has)
		snprintf(buf, len, "-");
	else if (u == U_US)
		snprintf(buf, len, "%.2f", v * 1e-3);
	else if (u == U_KOPS)
		snprintf(buf, len, "%.1f", v * 1e-3);
	else if (u == U_IR)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f", v);
}

static void fmt_ratio(char *buf, size_t len, double v, double base, int has)
{
	if (!has || base <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", v / base);
}

static void fmt_target(char *buf, size_t len, const struct row *r)
{
	switch (r->tk) {
	case T_LE:
		if (r->t_p99 > 0)
			snprintf(buf, len, "<=%.2fx, p99<=%.2fx", r->t_med, r->t_p99);
		else
			snprintf(buf, len, "<=%.2fx", r->t_med);
		break;
	case T_GE:
		snprintf(buf, len, ">=%.2fx", r->t_med);
		break;
	case T_ABS_LE:
		snprintf(buf, len, "<=%.0f ns", r->t_med);
		break;
	default:
		snprintf(buf, len, "-");
	}
}

/* 1 met, 0 not met, -1 no target or no figure; judged on one CPU. */
static int row_met(const struct row *r)
{
	const struct stat2 *v = &r->v[0], *bs = &r->bs[0];

	if (r->tk == T_NONE || !v->has_med)
		return -1;
	if (r->tk == T_ABS_LE)
		return v->med <= r->t_med;
	if (!bs->has_med || bs->med <= 0)
		return -1;
	if (r->tk == T_GE)
		return v->med / bs->med >= r->t_med;
	if (v->med / bs->med > r->t_med)
		return 0;
	if (r->t_p99 > 0) {
		if (!v->has_p99 || !bs->has_p99 || bs->p99 <= 0)
			return -1;
		return v->p99 / bs->p99 <= r->t_p99;
	}
	return 1;
}

#define MAX_ROWS 80

static struct row *row_add(struct row *rows, int *n, const char *name, const char *base,
			   enum unit u)
{
	static struct row spare;
	struct row *r = *n < MAX_ROWS ? &rows[(*n)++] : &spare;

	memset(r, 0, sizeof(*r));
	r->name = name;
	r->base = base;
	r->unit = u;
	return r;
}

/* Fill one value/baseline pair for both placements from offsets into
 * struct result. */
static void row_set(struct row *r, const struct bench *b, size_t val_off, size_t base_off,
		    int has_base)
{
	for (int p = 0; p < NPLACES; p++) {
		const char *res = (const char *)&b->res[p];

		if (!b->places[p].valid)
			continue;
		memcpy(&r->v[p], res + val_off, sizeof(struct stat2));
		if (has_base)
			memcpy(&r->bs[p], res + base_off, sizeof(struct stat2));
	}
}

#define ROW(rows, n, b, name, basename, unit, field, basefield) \
	row_set(row_add(rows, n, name, basename, unit), b, offsetof(struct result, field), \
		offsetof(struct result, basefield), basename != NULL)

static int rows_build(const struct bench *b, struct row *rows)
{
	static char attach_name[64], mmap_name[64];
	int n = 0;
	struct row *r;

	snprintf(mmap_name, sizeof(mmap_name), "9 mmap+munmap of a %llu MiB memfd",
		 (unsigned long long)(b->region_size >> 20));
	snprintf(attach_name, sizeof(attach_name), "9 first attach: fd + mmap of %llu MiB",
		 (unsigned long long)(b->region_size >> 20));
	ROW(rows, &n, b, "1 raw RTT, 32 B SEQPACKET", NULL, U_US, rtt, rtt);
	ROW(rows, &n, b, "1 raw one-way wake-up", "RTT", U_US, oneway, rtt);
	if (b->figs & FIG_ALLOC) {
		ROW(rows, &n, b, "2 block_alloc", "RTT", U_US, alloc, rtt);
		r = &rows[n - 1];
		r->tk = T_LE;
		r->t_med = 1.10;
		r->t_p99 = 1.25;
		ROW(rows, &n, b, "2c block_alloc, cache", "RTT", U_US, alloc_c, rtt);
	}
	if (b->figs & FIG_PAIR) {
		ROW(rows, &n, b, "3 block_alloc+block_free", "RTT", U_US, pair, rtt);
		rows[n - 1].tk = T_LE;
		rows[n - 1].t_med = 1.2;
		ROW(rows, &n, b, "3c block_alloc+block_free, cache", "RTT", U_US, pair_c, rtt);
	}
	if (b->figs & FIG_BATCH) {
		ROW(rows, &n, b, "4 blocks_alloc x64", "alloc", U_US, b64_alloc, alloc);
		rows[n - 1].tk = T_LE;
		rows[n - 1].t_med = 1.15;
		ROW(rows, &n, b, "4 blocks_free x64", "alloc", U_US, b64_free, alloc);
		ROW(rows, &n, b, "4 blocks_alloc+free x64", "alloc", U_US, b64_pair, alloc);
		ROW(rows, &n, b, "4 ... per block", "alloc", U_US, b64_block, alloc);
	}
	if (b->figs & FIG_HEAP) {
		ROW(rows, &n, b, "5 heap alloc+free 64 B-64 KiB", "RTT", U_US, heap, rtt);
		rows[n - 1].tk = T_LE;
		rows[n - 1].t_med = 1.3;
	}
	if (b->figs & FIG_WAKE) {
		ROW(rows, &n, b, "6 wake-up: free -> waiter", "RTT", U_US, wake, rtt);
		rows[n - 1].tk = T_LE;
		rows[n - 1].t_med = 1.2;
		ROW(rows, &n, b, "6 wake-up: free -> waiter", "1-way", U_US, wake, oneway);
	}
	if (b->figs & FIG_TPUT) {
		static const char *const raw_names[3] = { "7 raw one-way msgs, 1 sender",
							  "7 raw one-way msgs, 4 senders",
							  "7 raw one-way msgs, 16 senders" };
		static const char *const rr_names[3] = { "7 raw round trips, 1 client",
							 "7 raw round trips, 4 clients",
							 "7 raw round trips, 16 clients" };
		static const char *const sp_names[3] = { "7 alloc+free pairs, 1 client",
							 "7 alloc+free pairs, 4 clients",
							 "7 alloc+free pairs, 16 clients" };
		static const char *const ops_names[3] = { "7 alloc+free ops, 1 client",
							  "7 alloc+free ops, 4 clients",
							  "7 alloc+free ops, 16 clients" };
		static const char *const opsc_names[3] = { "7 alloc+free ops, 1 client, cache",
							   "7 alloc+free ops, 4 clients, cache",
							   "7 alloc+free ops, 16 clients, cache" };

		for (int k = 0; k < 3; k++)
			ROW(rows, &n, b, raw_names[k], NULL, U_KOPS, raw_tput[k], raw_tput[k]);
		for (int k = 0; k < 3; k++)
			ROW(rows, &n, b, rr_names[k], "1-way", U_KOPS, rr_tput[k], raw_tput[k]);
		for (int k = 0; k < 3; k++)
			ROW(rows, &n, b, sp_names[k], "1-way", U_KOPS, sp_tput[k], raw_tput[k]);
		for (int k = 0; k < 3; k++) {
			ROW(rows, &n, b, ops_names[k], "1-way", U_KOPS, sp_ops[k], raw_tput[k]);
			if (k == 2) {
				rows[n - 1].tk = T_GE;
				rows[n - 1].t_med = 0.8;
			}
		}
		for (int k = 0; k < 3; k++) {
			ROW(rows, &n, b, opsc_names[k], "1-way", U_KOPS, sp_ops_c[k], raw_tput[k]);
			if (k == 2) {
				rows[n - 1].tk = T_GE;
				rows[n - 1].t_med = 0.8;
			}
		}
		for (int k = 0; k < 3; k++)
			ROW(rows, &n, b, sp_names[k], "raw RT", U_KOPS, sp_tput[k], rr_tput[k]);
	}
	ROW(rows, &n, b, "8 raw: bench CPU/round trip", NULL, U_NS, self_rtt, self_rtt);
	if (b->figs & FIG_ALLOC)
		ROW(rows, &n, b, "8 bench CPU/req: alloc run", "bench", U_NS, self_alloc, self_rtt);
	if (b->figs & FIG_PAIR)
		ROW(rows, &n, b, "8 bench CPU/req: pair run", "bench", U_NS, self_pair, self_rtt);
	if (b->figs & FIG_HEAP)
		ROW(rows, &n, b, "8 bench CPU/req: heap run", "bench", U_NS, self_heap, self_rtt);
	ROW(rows, &n, b, "8 raw: echo helper CPU/round trip", NULL, U_NS, cpu_echo, cpu_echo);
	if (b->figs & FIG_ALLOC)
		ROW(rows, &n, b, "8 daemon CPU/req: alloc run", "echo", U_NS, cpu_alloc, cpu_echo);
	if (b->figs & FIG_PAIR)
		ROW(rows, &n, b, "8 daemon CPU/req: pair run", "echo", U_NS, cpu_pair, cpu_echo);
	if (b->figs & FIG_BATCH) {
		ROW(rows, &n, b, "8 daemon CPU/req: x64 loop", "echo", U_NS, cpu_b64, cpu_echo);
		ROW(rows, &n, b, "8 daemon CPU/block: x64 loop", NULL, U_NS, cpu_b64_block,
		    cpu_b64_block);
		rows[n - 1].tk = T_ABS_LE;
		rows[n - 1].t_med = 2;
		ROW(rows, &n, b, "8 daemon CPU/extra block in x64", NULL, U_NS, cpu_b64_extra,
		    cpu_b64_extra);
		rows[n - 1].tk = T_ABS_LE;
		rows[n - 1].t_med = 2;
	}
	if (b->figs & FIG_HEAP)
		ROW(rows, &n, b, "8 daemon CPU/req: heap run", "echo", U_NS, cpu_heap, cpu_echo);
	if (b->figs & FIG_WAKE)
		ROW(rows, &n, b, "8 daemon CPU/req: wake-up run", "echo", U_NS, cpu_wake, cpu_echo);
	if (b->figs & FIG_TPUT) {
		ROW(rows, &n, b, "8 raw receiver CPU/msg, 16 senders", NULL, U_NS, cpu_recv16,
		    cpu_recv16);
		ROW(rows, &n, b, "8 raw echo server CPU/msg, 16 clients", NULL, U_NS, cpu_rr16,
		    cpu_rr16);
		ROW(rows, &n, b, "8 daemon CPU/req: 16 clients", "echo srv", U_NS, cpu_tput16,
		    cpu_rr16);
		ROW(rows, &n, b, "8 daemon CPU/op: 16 clients, cache", "echo srv", U_NS,
		    cpu_tput16_c, cpu_rr16);
	}
	if (b->figs & FIG_ATTACH)
		ROW(rows, &n, b, "8 daemon CPU per attach cycle", NULL, U_NS, cpu_attach,
		    cpu_attach);
	if (b->callgrind) {
		if (b->figs & FIG_ALLOC)
			ROW(rows, &n, b, "8 daemon instr/req: alloc run", NULL, U_IR, ir_alloc,
			    ir_alloc);
		if (b->figs & FIG_PAIR)
			ROW(rows, &n, b, "8 daemon instr/req: pair run", NULL, U_IR, ir_pair,
			    ir_pair);
		if (b->figs & FIG_BATCH) {
			ROW(rows, &n, b, "8 daemon instr/req: x64 loop", NULL, U_IR, ir_b64,
			    ir_b64);
			ROW(rows, &n, b, "8 daemon instr/block: x64 loop", NULL, U_IR,
			    ir_b64_block, ir_b64_block);
			ROW(rows, &n, b, "8 daemon instr/extra block x64", NULL, U_IR,
			    ir_b64_extra, ir_b64_extra);
		}
		if (b->figs & FIG_HEAP)
			ROW(rows, &n, b, "8 daemon instr/req: heap run", NULL, U_IR, ir_heap,
			    ir_heap);
		if (b->figs & FIG_WAKE)
			ROW(rows, &n, b, "8 daemon instr/req: wake-up run", NULL, U_IR, ir_wake,
			    ir_wake);
		if (b->figs & FIG_TPUT) {
			ROW(rows, &n, b, "8 daemon instr/req: 16 clients", NULL, U_IR, ir_tput16,
			    ir_tput16);
			ROW(rows, &n, b, "8 daemon instr/op: 16 clients, cache", NULL, U_IR,
			    ir_tput16_c, ir_tput16_c);
		}
		if (b->figs & FIG_ATTACH)
			ROW(rows, &n, b, "8 daemon instr/attach cycle", NULL, U_IR, ir_attach,
			    ir_attach);
	}
	if (b->figs & FIG_ATTACH) {
		ROW(rows, &n, b, mmap_name, NULL, U_US, mmap, mmap);
		r = row_add(rows, &n, attach_name, "RTT+mmap", U_US);
		for (int p = 0; p < NPLACES; p++) {
			const struct result *x = &b->res[p];

			if (!b->places[p].valid)
				continue;
			r->v[p] = x->attach;
			if (x->rtt.has_med && x->mmap.has_med) {
				r->bs[p] = x->rtt;
				r->bs[p].med += x->mmap.med;
				r->bs[p].p99 += x->mmap.p99;
			}
		}
	}
	return n;
}

#define ROW_FMT "%-38.38s %-6s %-8s  %8s %8s %6s %6s  %8s %8s %6s %6s  %-21s %s\n"

static void print_table(const struct bench *b, const struct row *rows, int n)
{
	char cpu0[32], cpu1[32];

	snprintf(cpu0, sizeof(cpu0), "one CPU (%d)", b->cpus[0]);
	if (b->places[1].valid)
		snprintf(cpu1, sizeof(cpu1), "two CPUs (%d | %d)", b->cpus[0], b->cpus[1]);
	else
		snprintf(cpu1, sizeof(cpu1), "two CPUs (n/a)");
	printf("%-38s %-6s %-8s  %-31s  %-31s\n", "", "", "", cpu0, cpu1);
	printf(ROW_FMT, "figure", "unit", "baseline", "median", "p99", "x med", "x p99", "median",
	       "p99", "x med", "x p99", "target (one CPU)", "met");
	printf(ROW_FMT, "--------------------------------------", "------", "--------", "--------",
	       "--------", "------", "------", "--------", "--------", "------", "------",
	       "---------------------", "---");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char cells[NPLACES][4][16], target[32];
		int met = row_met(r);

		for (int p = 0; p < NPLACES; p++) {
			const struct stat2 *v = &r->v[p], *bs = &r->bs[p];

			if (!b->places[p].valid) {
				for (int k = 0; k < 4; k++)
					snprintf(cells[p][k], sizeof(cells[p][k]), "n/a");
				continue;
			}
			fmt_val(cells[p][0], sizeof(cells[p][0]), r->unit, v->med, v->has_med);
			fmt_val(cells[p][1], sizeof(cells[p][1]), r->unit, v->p99, v->has_p99);
			fmt_ratio(cells[p][2], sizeof(cells[p][2]), v->med, bs->med,
				  r->base && v->has_med && bs->has_med);
			fmt_ratio(cells[p][3], sizeof(cells[p][3]), v->p99, bs->p99,
				  r->base && v->has_p99 && bs->has_p99);
		}
		fmt_target(target, sizeof(target), r);
		printf(ROW_FMT, r->name, unit_name(r->unit), r->base ? r->base : "-", cells[0][0],
		       cells[0][1], cells[0][2], cells[0][3], cells[1][0], cells[1][1], cells[1][2],
		       cells[1][3], target, met < 0 ? "-" : met ? "yes" : "no");
	}
}

static void json_num(double v, int has, double scale)
{
	if (has && isfinite(v))
		printf("%.6g", v * scale);
	else
		printf("null");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct bench *b, const struct row *rows, int n)
{
	printf("{\n  \"bench\": \"shmpool-bench\",\n  \"iterations\": %zu,\n", b->iters);
	printf("  \"load_average\": %.2f,\n", b->load);
	printf("  \"timer_overhead_ns\": %.1f,\n  \"cpus\": [%d", b->timer_ns, b->cpus[0]);
	if (b->places[1].valid)
		printf(", %d", b->cpus[1]);
	printf("],\n  \"rounds\": %d,\n  \"throughput_seconds\": %.3f,\n", b->rounds,
	       b->tput_secs);
	printf("  \"throughput_rounds\": %d,\n", b->tput_rounds);
	printf("  \"baseline_round_medians_us\": {\"one_cpu\": [%.3f, %.3f], \"two_cpus\": ",
	       b->res[0].rtt_rounds.min * 1e-3, b->res[0].rtt_rounds.max * 1e-3);
	if (b->places[1].valid)
		printf("[%.3f, %.3f]},\n", b->res[1].rtt_rounds.min * 1e-3,
		       b->res[1].rtt_rounds.max * 1e-3);
	else
		printf("null},\n");
	printf("  \"rows\": [\n");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		double sc = unit_scale(r->unit);
		char target[32];
		int met = row_met(r);

		printf("    {\"figure\": ");
		json_str(r->name);
		printf(", \"unit\": ");
		json_str(unit_name(r->unit));
		printf(", \"baseline\": ");
		if (r->base)
			json_str(r->base);
		else
			printf("null");
		for (int p = 0; p < NPLACES; p++) {
			const struct stat2 *v = &r->v[p], *bs = &r->bs[p];

			printf(", \"%s\": ", p ? "two_cpus" : "one_cpu");
			if (!b->places[p].valid) {
				printf("null");
				continue;
			}
			printf("{\"median\": ");
			json_num(v->med, v->has_med, sc);
			printf(", \"p99\": ");
			json_num(v->p99, v->has_p99, sc);
			printf(", \"x_median\": ");
			json_num(bs->med > 0 ? v->med / bs->med : 0,
				 r->base && v->has_med && bs->has_med && bs->med > 0, 1);
			printf(", \"x_p99\": ");
			json_num(bs->p99 > 0 ? v->p99 / bs->p99 : 0,
				 r->base && v->has_p99 && bs->has_p99 && bs->p99 > 0, 1);
			printf("}");
		}
		fmt_target(target, sizeof(target), r);
		printf(", \"target\": ");
		if (r->tk == T_NONE)
			printf("null");
		else
			json_str(target);
		printf(", \"met\": %s}%s\n", met < 0 ? "null" : met ? "true" : "false",
		       i + 1 < n ? "," : "");
	}
	printf("  ]\n}\n");
}

/* The 1-minute load average, or -1: other work on the machine shows in
 * every figure, so the header says how busy it was. */
static double load_average(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double v = -1;

	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void print_header(const struct bench *b)
{
	printf("shmpool-bench: daemon %s (pid %d) on %s%s\n",
	       b->own_daemon ? b->daemon_bin : "given with -s", (int)b->daemon_pid, b->socket,
	       b->wrapper ? ", run under the -W wrapper" : "");
	printf("Load average before the run: %.2f on %ld online CPUs%s\n", b->load,
	       sysconf(_SC_NPROCESSORS_ONLN),
	       b->load >= 0.5 ? " (other work is running: expect noise)" : "");
	printf("%zu timed calls per latency figure (batches %zu, wake-ups %zu, attaches %zu) in %d\n"
	       "rounds, each right after its share of the baseline and a warm-up; throughput\n"
	       "counted over %.2f s per run, the median of %d runs taking turns with the\n"
	       "raw one-way runs.  Times are clock_gettime(CLOCK_MONOTONIC) around each\n"
	       "call, nothing subtracted (a pair of clock reads costs %.1f ns).  \"x med\" and\n"
	       "\"x p99\" are the figure over its baseline in the same placement.  One CPU: bench,\n"
	       "helpers and daemon on CPU %d; two CPUs: bench and throughput clients on CPU %d,\n"
	       "daemon and helpers on the other.  A free of held memory needs no reply: it\n"
	       "is parked in the connection's free ring unless its pool is short or waited on.\n"
	       "Rows marked \"cache\" run on the pool 'bench-cached', whose blocks each\n"
	       "connection caches: a cache hit sends no message at all (see the notes).\n\n",
	       b->iters, iters_batch(b), iters_wake(b), iters_attach(b), b->rounds, b->tput_secs,
	       b->tput_rounds, b->timer_ns, b->cpus[0], b->cpus[0]);
}

static void print_notes(const struct bench *b)
{
	printf("\nNotes: 1 the baseline's median per round ranged over %.2f-%.2f us on one CPU",
	       b->res[0].rtt_rounds.min * 1e-3, b->res[0].rtt_rounds.max * 1e-3);
	if (b->places[1].valid)
		printf(",\n%.2f-%.2f us on two", b->res[1].rtt_rounds.min * 1e-3,
		       b->res[1].rtt_rounds.max * 1e-3);
	printf(" (the machine's noise).\n"
	       "2 times single allocations; their blocks go back 64 at a time, untimed,\n"
	       "followed by a round trip (pool_stat).  4 times blocks_alloc(64) and\n"
	       "blocks_free(64) after such a round trip; \"per block\" is the pair over 64.\n"
	       "5 sizes are log-uniform, seed %d.  6 runs from the bench's block_free to the\n"
	       "waiter's return from block_alloc(FOREVER) on the emptied pool 'wake'.\n"
	       "7 counts alloc+free pairs per second, and ops (an alloc or a free is one op,\n"
	       "so two per pair), against raw one-way 32-byte messages and raw round trips\n"
	       "per second, N processes each, to one epoll process.  The pairs and the raw\n"
	       "one-way messages are the medians of their runs, which take turns.\n"
	       "8 is CPU time (schedstat) over the requests or messages of the run: the\n"
	       "daemon's, the bench's own, the echo helper's per round trip, the raw\n"
	       "receiver's and echo server's per message.  The x64 loop runs batches with no\n"
	       "timing or round trips; \"extra block\" is (x64 loop - the same loop with\n"
	       "blocks_alloc(1) and blocks_free(1), the two taking turns at going first) / 63,\n"
	       "the median over the rounds.\n"
	       "9 times shmpool_attach on a fresh connection: the reply brings the region's\n"
	       "fd, which the library maps.\n"
	       "2c, 3c and the \"cache\" rows of 7 and 8 run on the pool 'bench-cached'\n"
	       "(cache = 32 in the bench's configuration): a single-block alloc takes a\n"
	       "block from the connection's cache, and a free of a block it was granted\n"
	       "goes back there, with no message and no system call.  Only an alloc that\n"
	       "finds the cache empty is a request, and the daemon grants up to 32 more\n"
	       "blocks with its reply.  2c frees its 64 blocks as 2 does, but the round trip\n"
	       "after them is set_priority, since pool_stat would take the cache back: the\n"
	       "cache stays full, one alloc in 64 is a request, so the median is a hit and\n"
	       "the p99 a refill.  These rows are not the request->reply path the targets\n"
	       "are set for: a cache hit has no round trip.  The >=0.80x next to the\n"
	       "16-client cached row is the same target applied to that other path.\n",
	       SEED);
	if (!b->places[1].valid)
		printf("Only one CPU is usable, so the two-CPU placement is n/a.\n");
}

static unsigned parse_figs(const char *s)
{
	unsigned figs = 0;
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		return 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		unsigned bit = 0;

		for (size_t i = 0; i < sizeof(fig_names) / sizeof(fig_names[0]); i++)
			if (strcmp(w, fig_names[i].name) == 0)
				bit = fig_names[i].bit;
		if (strcmp(w, "all") == 0)
			bit = FIG_ALL;
		if (!bit) {
			free(copy);
			return 0;
		}
		figs |= bit;
	}
	free(copy);
	return figs;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shmpool-bench [-q] [-j] [-v] [-n ITER] [-r ROUNDS] [-t SECONDS] [-F FIGURES]\n"
		"                     [-s SOCKET | -d DAEMON [-W WRAPPER]] [-C]\n"
		"  -q          quick: fewer iterations, shorter throughput runs\n"
		"  -n ITER     timed calls per latency figure (default 50000; -q 10000)\n"
		"  -r ROUNDS   split them in rounds, each right after its share of the\n"
		"              baseline (default 100; -q 30)\n"
		"  -t SECONDS  length of each throughput run (default 0.5; -q 0.2)\n"
		"  -F FIGURES  comma list of rtt,alloc,pair,batch,heap,wake,tput,attach (all);\n"
		"              alloc, pair and tput include their runs on the cached pool\n"
		"              (rows 2c, 3c and 7 ... cache)\n"
		"  -s SOCKET   use the daemon on SOCKET; it needs the pools of -C\n"
		"  -d DAEMON   the shmpoold to start (default $SHMPOOLD or ./daemon/shmpoold)\n"
		"  -W WRAPPER  start the daemon under WRAPPER, split on blanks; with callgrind,\n"
		"              the daemon's instructions per request are added to the table\n"
		"  -j          print JSON instead of the table\n"
		"  -v          report progress on stderr\n"
		"  -C          print the configuration the bench gives its daemon, and exit\n");
}

/* Connect, open the pools, and check that the daemon has what is needed. */
static int bench_connect(struct bench *b)
{
	struct shmpool_pool_stat st;
	int rc;

	rc = shmpool_connect(b->socket, &b->sp);
	if (rc < 0) {
		fprintf(stderr, "shmpool-bench: cannot connect to %s: %s\n", b->socket,
			shmpool_strerror(rc));
		return rc;
	}
	rc = shmpool_pool_open(b->sp, POOL_NAME, &b->pool);
	if (rc == 0)
		rc = shmpool_pool_open(b->sp, WAKE_POOL_NAME, &b->wake);
	if (rc == 0)
		rc = shmpool_pool_stat(b->pool, &st);
	if (rc < 0) {
		fprintf(stderr, "shmpool-bench: the daemon needs the pools '%s' and '%s' (see -C): "
			"%s\n", POOL_NAME, WAKE_POOL_NAME, shmpool_strerror(rc));
		return rc;
	}
	if (st.num_free < BATCH + MAX_CLIENTS + 1) {
		fprintf(stderr, "shmpool-bench: pool '%s' needs at least %d free blocks\n",
			POOL_NAME, BATCH + MAX_CLIENTS + 1);
		return -ENOSPC;
	}
	if (b->figs & (FIG_ALLOC | FIG_PAIR | FIG_TPUT)) {
		rc = shmpool_pool_open(b->sp, CACHED_POOL_NAME, &b->cached);
		if (rc == 0)
			rc = shmpool_pool_stat(b->cached, &st);
		if (rc < 0) {
			fprintf(stderr, "shmpool-bench: the daemon needs the pool '%s' (see -C): "
				"%s\n", CACHED_POOL_NAME, shmpool_strerror(rc));
			return rc;
		}
		if (st.num_free < BATCH + MAX_CLIENTS + 1) {
			fprintf(stderr, "shmpool-bench: pool '%s' needs at least %d free blocks\n",
				CACHED_POOL_NAME, BATCH + MAX_CLIENTS + 1);
			return -ENOSPC;
		}
	}
	if (!b->own_daemon)
		b->region_size = ((uint64_t)st.block_size * st.num_blocks + 4095) & ~UINT64_C(4095);
	return 0;
}

static int cpus_pick(struct bench *b)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	b->ncpus = 0;
	for (int c = 0; c < CPU_SETSIZE && b->ncpus < 2; c++)
		if (CPU_ISSET(c, &set))
			b->cpus[b->ncpus++] = c;
	if (b->ncpus == 0)
		return -ENODEV;
	b->places[0] = (struct place){ b->cpus[0], b->cpus[0], 1, 0 };
	if (b->ncpus > 1)
		b->places[1] = (struct place){ b->cpus[0], b->cpus[1], 1, 0 };
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	struct row rows[MAX_ROWS];
	int c, rc, quick = 0, nrows, rounds = 0;
	long iters = 0;
	double secs = 0;

	b->figs = FIG_ALL;
	while ((c = getopt(argc, argv, "qjvn:r:t:F:s:d:W:Ch")) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			break;
		case 'j':
			b->json = 1;
			break;
		case 'v':
			b->verbose = 1;
			break;
		case 'n':
			iters = strtol(optarg, NULL, 0);
			if (iters < 10) {
				fprintf(stderr, "shmpool-bench: -n wants 10 or more\n");
				return 2;
			}
			break;
		case 'r':
			rounds = (int)strtol(optarg, NULL, 0);
			if (rounds < 1 || rounds > 100) {
				fprintf(stderr, "shmpool-bench: -r wants 1 to 100 rounds\n");
				return 2;
			}
			break;
		case 't':
			secs = strtod(optarg, NULL);
			if (!(secs >= 0.01 && secs <= 600)) {
				fprintf(stderr, "shmpool-bench: -t wants 0.01 to 600 seconds\n");
				return 2;
			}
			break;
		case 'F':
			b->figs = parse_figs(optarg);
			if (!b->figs) {
				fprintf(stderr, "shmpool-bench: bad figure list '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			b->socket_arg = optarg;
			break;
		case 'd':
			b->daemon_bin = optarg;
			break;
		case 'W':
			b->wrapper = optarg;
			break;
		case 'C':
			fputs(bench_config, stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (b->socket_arg && (b->daemon_bin || b->wrapper))) {
		usage(stderr);
		return 2;
	}
	b->iters = iters ? (size_t)iters : quick ? 10000 : 50000;
	b->rounds = rounds ? rounds : quick ? 30 : 100;
	if ((size_t)b->rounds > b->iters / 5)
		b->rounds = (int)(b->iters / 5);
	b->tput_secs = secs > 0 ? secs : quick ? 0.2 : 0.5;
	b->tput_rounds = quick ? 3 : TPUT_ROUNDS;
	b->callgrind = b->wrapper && strstr(b->wrapper, "callgrind");
	if (!b->daemon_bin) {
		const char *env = getenv("SHMPOOLD");

		b->daemon_bin = env && *env ? env : "./daemon/shmpoold";
	}

	b->sh = mmap(NULL, sizeof(*b->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (b->sh == MAP_FAILED) {
		perror("shmpool-bench: mmap");
		return 1;
	}
	rc = cpus_pick(b);
	if (rc < 0)
		goto fail;
	atexit(bench_atexit);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (b->socket_arg) {
		if (strlen(b->socket_arg) >= sizeof(b->socket)) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(b->socket, b->socket_arg, strlen(b->socket_arg) + 1);
		b->daemon_pid = socket_peer_pid(b->socket);
	} else {
		rc = daemon_start(b);
		if (rc < 0)
			goto fail;
	}
	rc = bench_connect(b);
	if (rc < 0)
		goto fail;
	b->timer_ns = timer_overhead();
	b->load = load_average();
	for (int p = 0; p < NPLACES; p++) {
		if (!b->places[p].valid)
			continue;
		rc = run_place(b, p);
		if (rc < 0)
			goto fail;
	}
	if (b->cached)
		shmpool_pool_close(b->cached);
	shmpool_pool_close(b->pool);
	shmpool_pool_close(b->wake);
	shmpool_disconnect(b->sp);

	nrows = rows_build(b, rows);
	if (b->json) {
		print_json(b, rows, nrows);
	} else {
		print_header(b);
		print_table(b, rows, nrows);
		print_notes(b);
	}
	return 0;

fail:
	fprintf(stderr, "shmpool-bench: %s\n", shmpool_strerror(rc));
	return 1;
}
