#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"

static struct harness *live[8];

static void harness_atexit(void)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		struct harness *h = live[i];

		if (h) {
			harness_stop(h);  /* untracks h */
			harness_cleanup(h);
		}
	}
}

static void track(struct harness *h, int on)
{
	static int registered;

	if (!registered) {
		atexit(harness_atexit);
		registered = 1;
	}
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (on && !live[i]) {
			live[i] = h;
			return;
		}
		if (!on && live[i] == h) {
			live[i] = NULL;
			return;
		}
	}
}

const char *harness_daemon_path(void)
{
	const char *p = getenv("SHMPOOLD");

	return p && *p ? p : "../daemon/shmpoold";
}

static void dump_log(const struct harness *h)
{
	char buf[4096];
	int fd = open(h->log, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	fprintf(stderr, "--- shmpoold log (%s) ---\n", h->log);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	close(fd);
}

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

static int spawn(struct harness *h)
{
	const char *bin = harness_daemon_path();
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (h->config[0])
			execl(bin, bin, "-f", "-v", "-c", h->config, "-s", h->socket, (char *)NULL);
		else
			execl(bin, bin, "-f", "-v", "-s", h->socket, (char *)NULL);
		_exit(127);
	}
	h->pid = pid;
	for (int i = 0; i < 1000; i++) {
		int status;

		if (can_connect(h->socket)) {
			track(h, 1);
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			h->pid = 0;
			dump_log(h);
			return -ECHILD;
		}
		usleep(10000);
	}
	dump_log(h);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	h->pid = 0;
	return -ETIMEDOUT;
}

static int path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int harness_start(struct harness *h, const char *config_text)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/shmpool-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(h->dir))
		return -errno;
	if (path_join(h->socket, sizeof(h->socket), h->dir, "s.sock") < 0 ||
	    path_join(h->log, sizeof(h->log), h->dir, "shmpoold.log") < 0)
		return -ENAMETOOLONG;
	if (config_text) {
		FILE *f;

		if (path_join(h->config, sizeof(h->config), h->dir, "shmpool.conf") < 0)
			return -ENAMETOOLONG;
		f = fopen(h->config, "w");
		if (!f)
			return -errno;
		fputs(config_text, f);
		fclose(f);
	}
	return spawn(h);
}

int harness_restart(struct harness *h)
{
	return spawn(h);
}

int harness_stop(struct harness *h)
{
	int status = 0;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			track(h, 0);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	harness_kill(h);
	return -1;
}

int harness_finish(struct harness *h)
{
	int rc;

	if (h->child > 0) {
		kill(h->child, SIGKILL);
		waitpid(h->child, NULL, 0);
		h->child = 0;
	}
	rc = harness_stop(h);

	if (rc != 0) {
		fprintf(stderr, "shmpoold exited with status %d\n", rc);
		dump_log(h);
	}
	harness_cleanup(h);
	return rc == 0 ? 0 : -1;
}

void harness_kill(struct harness *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = 0;
	track(h, 0);
}

void harness_cleanup(struct harness *h)
{
	if (!h->dir[0])
		return;
	if (h->config[0])
		unlink(h->config);
	unlink(h->log);
	unlink(h->socket);
	rmdir(h->dir);
	h->dir[0] = '\0';
}

int harness_log_lines(const struct harness *h, const char *needle, const char *needle2)
{
	FILE *f = fopen(h->log, "r");
	char line[1024];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle) && (!needle2 || strstr(line, needle2)))
			n++;
	fclose(f);
	return n;
}

void harness_reload_with(struct harness *h, const char *from, const char *to, const char *line)
{
	char buf[8192], out[8192 + 256];
	FILE *f = fopen(h->config, "r");
	size_t n;
	char *at;
	int before = harness_log_lines(h, "reloaded", NULL);

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	at = strstr(buf, from);
	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
	f = fopen(h->config, "w");
	assert_non_null(f);
	assert_int_equal(fputs(out, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(kill(h->pid, SIGHUP), 0);
	for (int i = 0; i < 1000 && harness_log_lines(h, "reloaded", NULL) == before; i++)
		usleep(10000);
	assert_true(harness_log_lines(h, "reloaded", NULL) > before);
	assert_int_equal(harness_log_lines(h, "reloaded", line), 1);
}

static const char *watchdog_msg;

static void watchdog_fire(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg)) < 0)
		_exit(2);
	_exit(1);
}

void harness_watchdog(unsigned int seconds, const char *msg)
{
	if (seconds) {
		watchdog_msg = msg;
		signal(SIGALRM, watchdog_fire);
	}
	alarm(seconds);
}

void harness_hdr_set(struct proto_hdr *hdr, uint16_t type, uint32_t id)
{
	hdr->version = SHMPOOL_PROTO_VERSION;
	hdr->type = type;
	hdr->id = id;
}

long harness_recv(int fd, void *buf, size_t len, int *rfd)
{
	struct timeval tv = { .tv_sec = 10 };
	int got;
	long n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = proto_recv(fd, buf, len, &got, 0);
	if (rfd)
		*rfd = got;
	else if (got >= 0)
		close(got);
	return n;
}

int harness_raw_connect(const struct harness *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", h->socket);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

int harness_hello(const struct harness *h, int *status)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION,
				 .pid = (uint32_t)getpid() };
	struct proto_hello_reply r;
	int fd = harness_raw_connect(h);

	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), NULL), (long)sizeof(r));
	assert_int_equal(r.r.hdr.type, PROTO_HELLO | PROTO_REPLY);
	assert_int_equal(r.r.hdr.id, 1);
	assert_int_equal(r.proto_version, SHMPOOL_PROTO_VERSION);
	assert_int_equal(r.daemon_pid, (uint32_t)h->pid);
	if (status)
		*status = r.r.status;
	else
		assert_int_equal(r.r.status, 0);
	return fd;
}

void harness_expect_status(int fd, uint16_t type, uint32_t id, int status)
{
	union {
		struct proto_reply_hdr r;
		unsigned char b[PROTO_MAX_MESSAGE];
	} in;
	int rfd;
	long n = harness_recv(fd, &in, sizeof(in), &rfd);

	if (rfd >= 0)
		close(rfd);
	assert_true(n >= (long)sizeof(in.r));
	assert_int_equal(rfd, -1);
	assert_int_equal(in.r.hdr.type, type);
	assert_int_equal(in.r.hdr.id, id);
	assert_int_equal(in.r.status, status);
}

void harness_stats(int fd, uint32_t id, struct proto_stats_reply *r)
{
	struct proto_hdr m;

	harness_hdr_set(&m, PROTO_STATS, id);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, r, sizeof(*r), NULL), (long)sizeof(*r));
	assert_int_equal(r->r.hdr.type, PROTO_STATS | PROTO_REPLY);
	assert_int_equal(r->r.hdr.id, id);
	assert_int_equal(r->r.status, 0);
}

void harness_ring_hello(const struct harness *h, struct harness_ring *c)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION, .pid = 1 };
	struct proto_hello_reply r;
	struct stat st;
	int rfd;

	c->fd = harness_raw_connect(h);
	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(c->fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(c->fd, &r, sizeof(r), &rfd), (long)sizeof(r));
	assert_int_equal(r.r.status, 0);
	assert_int_equal(r.r.flags & PROTO_F_RING, PROTO_F_RING);
	assert_true(rfd >= 0);
	assert_int_equal(fstat(rfd, &st), 0);
	assert_int_equal(st.st_size, PROTO_RING_SIZE);
	c->ring = mmap(NULL, PROTO_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	assert_true(c->ring != MAP_FAILED);
	close(rfd);
}

void harness_ring_close(struct harness_ring *c)
{
	munmap(c->ring, PROTO_RING_SIZE);
	close(c->fd);
}

struct proto_pool_desc harness_pool_open(int fd, const char *name, uint32_t want_id)
{
	struct proto_name_req m = { 0 };
	struct proto_pool_reply r;

	harness_hdr_set(&m.hdr, PROTO_POOL_OPEN, 2);
	proto_set_name(m.name, name);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), NULL), (long)sizeof(r));
	assert_int_equal(r.r.status, 0);
	assert_int_equal(r.pool.id, want_id);
	return r.pool;
}

int harness_kick_bit(const struct proto_ring *r, uint32_t pool_id)
{
	return (int)((__atomic_load_n(&r->kick_pool[pool_id / 64], __ATOMIC_RELAXED) >>
		      (pool_id % 64)) & 1);
}

struct proto_pool_stat_reply harness_pool_stat(int fd, uint32_t pool_id)
{
	struct proto_pool_req m = { .pool_id = pool_id };
	struct proto_pool_stat_reply r;

	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 9);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), NULL), (long)sizeof(r));
	assert_int_equal(r.r.status, 0);
	return r;
}

const struct harness_who harness_nobody = { 65534, 65534, 0, { 0 } };

int harness_become(const struct harness_who *w)
{
	if (setgroups(w->ngroups, w->ngroups ? w->groups : NULL) < 0 || setgid(w->gid) < 0 ||
	    setuid(w->uid) < 0)
		return -1;
	/* A uid change makes the process undumpable, and its /proc/self
	 * files root's: tests read /proc/self/maps. */
	prctl(PR_SET_DUMPABLE, 1);
	return getuid() == w->uid && geteuid() == w->uid && getgid() == w->gid ? 0 : -1;
}

int harness_fork_as(const struct harness_who *w, int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (harness_become(w) < 0)
			_exit(90);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

void child_put_at(struct child_results *res, int64_t x, int line)
{
	if (res->n < CHILD_RESULTS_MAX) {
		res->v[res->n] = x;
		res->line[res->n] = line;
	}
	res->n++;
}

void child_expect_at(const struct child_results *res, int i, int64_t want, int line)
{
	if (i >= res->n)
		fail_msg("line %d: the child recorded only %d results, not #%d", line, res->n, i);
	if (res->v[i] != want)
		fail_msg("line %d: child result #%d (child line %d) is %" PRId64 ", want %" PRId64,
			 line, i, res->line[i], res->v[i], want);
}

/* Read exactly len bytes within timeout_ms for each piece; 0 or -errno. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
	}
	return 0;
}

void harness_run_as(struct harness *h, const struct harness_who *w, child_fn fn, const void *in,
		    size_t inlen, struct child_results *res)
{
	int to_child[2], from_child[2], status;
	unsigned char buf[256];
	pid_t parent = getpid();

	assert_true(inlen <= sizeof(buf));
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	h->child = fork();
	assert_true(h->child >= 0);
	if (h->child == 0) {
		struct child_results r;

		memset(&r, 0, sizeof(r));
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(3);
		close(to_child[1]);
		close(from_child[0]);
		if (harness_become(w) < 0)
			_exit(2);
		if (read_full(to_child[0], buf, inlen, 20000) < 0)
			_exit(4);
		fn(buf, &r);
		if (write(from_child[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(5);
		_exit(0);
	}
	close(to_child[0]);
	close(from_child[1]);
	if (inlen)
		assert_int_equal(write(to_child[1], in, inlen), (ssize_t)inlen);
	memset(res, 0, sizeof(*res));
	if (read_full(from_child[0], res, sizeof(*res), 20000) < 0) {
		kill(h->child, SIGKILL);
		waitpid(h->child, NULL, 0);
		h->child = 0;
		close(to_child[1]);
		close(from_child[0]);
		fail_msg("the child (uid %u) sent no results", (unsigned)w->uid);
	}
	assert_int_equal(waitpid(h->child, &status, 0), h->child);
	h->child = 0;
	close(to_child[1]);
	close(from_child[0]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(res->n <= CHILD_RESULTS_MAX);
}
