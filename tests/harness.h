/*
 * harness: start a real shmpoold on a private socket in a temporary
 * directory for an integration test, and stop it at the end whatever
 * happened (atexit, and PR_SET_PDEATHSIG if the test dies outright).
 */
#ifndef SHMPOOL_TEST_HARNESS_H
#define SHMPOOL_TEST_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proto_hdr;
struct proto_stats_reply;
struct proto_pool_stat_reply;
struct proto_pool_desc;
struct proto_ring;

struct harness {
	char dir[PATH_MAX];
	char socket[108];
	char config[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
	pid_t child;                            /* of harness_run_as, while it runs */
};

/* Write config_text to a file (NULL: run on the built-in default), start
 * the daemon from $SHMPOOLD, and wait until it accepts connections.
 * Returns 0 or -errno; prints the daemon's log on failure. */
int harness_start(struct harness *h, const char *config_text);

/* SIGTERM the daemon and reap it; returns its exit status, or -1 if it
 * had to be killed. */
int harness_stop(struct harness *h);

/* Kill a child that a failed harness_run_as left, stop the daemon and
 * remove its directory.  A daemon that crashed, leaked under ASan or would
 * not stop fails: its log is printed and -1 returned, for a cmocka
 * teardown to report. */
int harness_finish(struct harness *h);

/* SIGKILL the daemon (a crash) and reap it. */
void harness_kill(struct harness *h);

/* Start again on the same socket and config. */
int harness_restart(struct harness *h);

/* Remove the temporary directory. */
void harness_cleanup(struct harness *h);

/* Path of the shmpoold binary under test. */
const char *harness_daemon_path(void);

/* Lines of the daemon's log that contain needle and, unless it is NULL,
 * needle2.  Fails the test when the log cannot be read. */
int harness_log_lines(const struct harness *h, const char *needle, const char *needle2);

/* Replace the first from in the configuration file with to, send SIGHUP and
 * wait until the daemon has logged the reload, with line once among its
 * report. */
void harness_reload_with(struct harness *h, const char *from, const char *to, const char *line);

/* After seconds, print msg and _exit(1): a guard against a hung test where
 * a cmocka failure cannot leave (threads still use the frame).  0 seconds
 * disarms it; raise(SIGALRM) gives up at once. */
void harness_watchdog(unsigned int seconds, const char *msg);

/*
 * Raw protocol on the daemon's socket, for what the client library does
 * not show.  The calls fail the running cmocka test on any surprise.
 */

/* Fill in a message header of this protocol version. */
void harness_hdr_set(struct proto_hdr *hdr, uint16_t type, uint32_t id);

/* Receive one message within 10 s: its length or -errno.  A descriptor
 * that came with it goes to *rfd (-1 if none), or is closed when rfd is
 * NULL. */
long harness_recv(int fd, void *buf, size_t len, int *rfd);

/* A new SEQPACKET connection to the daemon, before any hello. */
int harness_raw_connect(const struct harness *h);

/* A new connection that said hello (id 1) and got the daemon's well-formed
 * reply; its status goes to *status, or must be 0 when status is NULL. */
int harness_hello(const struct harness *h, int *status);

/* The next message on fd is a reply of type to id with status and no
 * descriptor. */
void harness_expect_status(int fd, uint16_t type, uint32_t id, int status);

/* PROTO_STATS as request id on a connection that said hello. */
void harness_stats(int fd, uint32_t id, struct proto_stats_reply *r);

/* A raw connection with its free ring mapped, as libshmpool maps it. */
struct harness_ring {
	int fd;
	struct proto_ring *ring;
};

/* Connect, say hello (id 1) and map the ring the reply brings, checking
 * that it comes and has the right size. */
void harness_ring_hello(const struct harness *h, struct harness_ring *c);
void harness_ring_close(struct harness_ring *c);

/* POOL_OPEN of name on a raw connection (id 2): the pool's descriptor,
 * whose id must be want_id. */
struct proto_pool_desc harness_pool_open(int fd, const char *name, uint32_t want_id);

/* Whether the kick bit of pool_id is set in a ring. */
int harness_kick_bit(const struct proto_ring *r, uint32_t pool_id);

/* POOL_STAT of pool_id on a raw connection (id 9): the reply, status 0. */
struct proto_pool_stat_reply harness_pool_stat(int fd, uint32_t pool_id);

/*
 * Work done as another uid, in a forked child that never touches cmocka
 * and leaves with _exit, so that it runs neither the parent's atexit
 * handlers (which stop the daemon) nor its test machinery.
 */

/* Whom a child becomes. */
struct harness_who {
	uid_t uid;
	gid_t gid;
	size_t ngroups;
	gid_t groups[2];
};

/* nobody (65534) in group nogroup (65534), no supplementary groups. */
extern const struct harness_who harness_nobody;

/* Become w for good (the process stays dumpable); 0 or -1. */
int harness_become(const struct harness_who *w);

/* Run fn in a child that became w and return its exit status: fn's
 * result, or 90 if the child could not become w. */
int harness_fork_as(const struct harness_who *w, int (*fn)(void));

/* What a child reports: values in order, each with the child's line that
 * recorded it. */
#define CHILD_RESULTS_MAX 32

struct child_results {
	int n;
	int64_t v[CHILD_RESULTS_MAX];
	int line[CHILD_RESULTS_MAX];
};

/* A child's work: in is what the parent sent, of the size it gave. */
typedef void (*child_fn)(const void *in, struct child_results *res);

/* In a child: record x as the next result. */
#define child_put(res, x) child_put_at(res, (int64_t)(x), __LINE__)
void child_put_at(struct child_results *res, int64_t x, int line);

/* In the parent: result i is want; a failure names both lines. */
#define child_expect(res, i, want) child_expect_at(res, i, (int64_t)(want), __LINE__)
void child_expect_at(const struct child_results *res, int i, int64_t want, int line);

/* Run fn in a child that became w, handing it inlen (at most 256) bytes
 * of in through a pipe, and collect its results in res.  A child that
 * fails, or hangs for 20 s and is killed, fails the test. */
void harness_run_as(struct harness *h, const struct harness_who *w, child_fn fn, const void *in,
		    size_t inlen, struct child_results *res);

#endif
