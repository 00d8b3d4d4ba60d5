/*
 * The client library across processes: memory handed over between forked
 * processes through shmpool_ref/shmpool_attach, stale refs, clients killed
 * with SIGKILL while they hold blocks or wait, and the order in which
 * waiters of different processes are served.
 *
 * Children connect on their own after fork, report through pipes and leave
 * with _exit, so they never run the parent's atexit handlers (which stop
 * the daemon) or cmocka's machinery.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmpool.h"
#include "testutil.h"

static const char config[] =
	"[region r0]\n"
	"size = 4M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool one]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 1\n";

static struct harness h;
static shmpool_t *sp;

/* Children still running when a test fails are killed by the teardown. */
static pid_t children[8];
static int nchildren;

static int setup(void **state)
{
	(void)state;
	nchildren = 0;
	return testutil_start(&h, config, &sp);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nchildren; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
		}
	}
	nchildren = 0;
	return testutil_finish(&h, &sp);
}

/* The pool's counters, once they settle; failures name the caller's line. */
#define wait_stat(pool, used, waiters) wait_stat_at(pool, used, waiters, __FILE__, __LINE__)

/*
 * Poll the pool until it has used blocks and waiters as given; other
 * processes' connections are served in no fixed order relative to ours, so
 * what they did shows up a little later.  The bound is a hang guard.
 */
static void wait_stat_at(shmpool_pool_t *pool, size_t used, size_t waiters, const char *file,
			 int line)
{
	struct shmpool_pool_stat st;

	for (int i = 0; i < 2000; i++) {
		_assert_int_equal(shmpool_pool_stat(pool, &st), 0, file, line);
		if (st.num_used == used && st.num_waiters == waiters) {
			_assert_int_equal(st.num_free, st.num_blocks - used, file, line);
			return;
		}
		usleep(5000);
	}
	print_error("%s:%d: pool stuck at %zu used / %zu waiters, want %zu / %zu\n", file,
		    line, st.num_used, st.num_waiters, used, waiters);
	fail();
}

/* Read one byte, failing the test if none comes within 10 s. */
static char read_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, 10000) != 1)
		fail_msg("no message from the child within 10 s");
	assert_int_equal(read(fd, &c, 1), 1);
	return c;
}

static void write_byte(int fd, char c)
{
	assert_int_equal(write(fd, &c, 1), 1);
}

static void expect_child_exit(pid_t pid, int code)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
	if (!WIFEXITED(status))
		fail_msg("child %d died of signal %d", (int)pid,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	assert_int_equal(WEXITSTATUS(status), code);
}

static void expect_child_killed(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid;

	assert_true(nchildren < (int)(sizeof(children) / sizeof(children[0])));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The inherited connection is the parent's; drop our copy. */
		shmpool_disconnect(sp);
		_exit(fn(arg));
	}
	children[nchildren++] = pid;
	return pid;
}

/* In a child: report a failed check and leave with the line as status. */
#define CHILD_CHECK(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, \
				__LINE__, #cond);                                      \
			return __LINE__ % 200 + 1;                                     \
		}                                                                      \
	} while (0)

static shmpool_t *child_connect(void)
{
	shmpool_t *c = NULL;

	if (shmpool_connect(h.socket, &c) != 0)
		return NULL;
	return c;
}

/* ------------------------------------------------------------------ */

struct handover {
	int to_child[2];
	int to_parent[2];
	shmpool_ref_t ref;
	size_t len;
};

/*
 * The child of a hand-over: attach the ref, check the parent's data, answer
 * in the second half, then (once the parent has freed its hold) check the
 * memory is still intact and let go.
 */
static int handover_child(void *arg)
{
	struct handover *ho = arg;
	shmpool_t *c = child_connect();
	shmpool_pool_t *p = NULL;
	struct shmpool_pool_stat st;
	shmpool_ref_t ref;
	size_t n = 0;
	void *ptr = NULL;
	char cmd;

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(read(ho->to_child[0], &ref, sizeof(ref)) == sizeof(ref));
	CHILD_CHECK(shmpool_attach(c, &ref, &ptr) == 0);
	CHILD_CHECK(shmpool_usable_size(c, ptr, &n) == 0);
	CHILD_CHECK(n == ho->len);
	CHILD_CHECK(testutil_check(ptr, ho->len / 2, 41));
	testutil_fill((char *)ptr + ho->len / 2, ho->len / 2, 42);
	CHILD_CHECK(write(ho->to_parent[1], "A", 1) == 1);
	CHILD_CHECK(read(ho->to_child[0], &cmd, 1) == 1 && cmd == 'F');
	/* The parent has let go; our hold keeps the memory. */
	CHILD_CHECK(testutil_check(ptr, ho->len / 2, 41));
	CHILD_CHECK(testutil_check((char *)ptr + ho->len / 2, ho->len / 2, 42));
	CHILD_CHECK(shmpool_free(c, ptr) == 0);
	/* A call on our own connection after the fire-and-forget free: once
	 * it returns, the daemon has done the free. */
	CHILD_CHECK(shmpool_free(c, ptr) == -EFAULT);
	if (ho->len == 4096) {
		CHILD_CHECK(shmpool_pool_open(c, "p", &p) == 0);
		CHILD_CHECK(shmpool_pool_stat(p, &st) == 0);
		CHILD_CHECK(st.num_used == 0);
		shmpool_pool_close(p);
	}
	CHILD_CHECK(write(ho->to_parent[1], "D", 1) == 1);
	shmpool_disconnect(c);
	return 0;
}

static void test_handover_block(void **state)
{
	struct handover ho = { .len = 4096 };
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b = NULL;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ho.to_child), 0);
	assert_int_equal(pipe(ho.to_parent), 0);
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	testutil_fill(b, 2048, 41);
	assert_int_equal(shmpool_ref(sp, b, &ho.ref), 0);
	pid = spawn(handover_child, &ho);
	assert_int_equal(write(ho.to_child[1], &ho.ref, sizeof(ho.ref)), sizeof(ho.ref));
	assert_int_equal(read_byte(ho.to_parent[0]), 'A');
	/* The child's answer, through its own mapping. */
	assert_true(testutil_check((char *)b + 2048, 2048, 42));
	testutil_expect_stat(p, 1, 0);
	/* Our free does not return the block: the child still holds it. */
	assert_int_equal(shmpool_block_free(p, b), 0);
	testutil_expect_stat(p, 1, 0);
	write_byte(ho.to_child[1], 'F');
	assert_int_equal(read_byte(ho.to_parent[0]), 'D');
	expect_child_exit(pid, 0);
	testutil_expect_stat(p, 0, 0);
	/* The memory is gone for good: the ref is stale. */
	{
		void *x = NULL;

		assert_int_equal(shmpool_attach(sp, &ho.ref, &x), -ESTALE);
	}
	for (int i = 0; i < 2; i++) {
		close(ho.to_child[i]);
		close(ho.to_parent[i]);
	}
	shmpool_pool_close(p);
}

static void test_handover_heap(void **state)
{
	struct handover ho = { .len = 8192 };
	shmpool_ref_t ref2;
	void *a = NULL, *x = NULL;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ho.to_child), 0);
	assert_int_equal(pipe(ho.to_parent), 0);
	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_CACHEABLE, 8192, &a), 0);
	testutil_fill(a, 4096, 41);
	assert_int_equal(shmpool_ref(sp, a, &ho.ref), 0);
	pid = spawn(handover_child, &ho);
	assert_int_equal(write(ho.to_child[1], &ho.ref, sizeof(ho.ref)), sizeof(ho.ref));
	assert_int_equal(read_byte(ho.to_parent[0]), 'A');
	assert_true(testutil_check((char *)a + 4096, 4096, 42));
	assert_int_equal(shmpool_free(sp, a), 0);
	/* Alive while the child holds it: we can attach it again. */
	assert_int_equal(shmpool_attach(sp, &ho.ref, &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(shmpool_ref(sp, x, &ref2), 0);
	assert_int_equal(shmpool_free(sp, x), 0);
	write_byte(ho.to_child[1], 'F');
	assert_int_equal(read_byte(ho.to_parent[0]), 'D');
	expect_child_exit(pid, 0);
	/* The child's free and exit happened before 'D'; the last holder
	 * let go, so both refs are stale. */
	assert_int_equal(shmpool_attach(sp, &ho.ref, &x), -ESTALE);
	assert_int_equal(shmpool_attach(sp, &ref2, &x), -ESTALE);
	for (int i = 0; i < 2; i++) {
		close(ho.to_child[i]);
		close(ho.to_parent[i]);
	}
}

struct stale {
	shmpool_ref_t old_ref;
	shmpool_ref_t new_ref;
	size_t len;
	unsigned seed;
};

static int stale_child(void *arg)
{
	struct stale *s = arg;
	shmpool_t *c = child_connect();
	void *ptr = NULL;

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(shmpool_attach(c, &s->old_ref, &ptr) == -ESTALE);
	CHILD_CHECK(ptr == NULL);
	/* The ref of the memory's new life works. */
	CHILD_CHECK(shmpool_attach(c, &s->new_ref, &ptr) == 0);
	CHILD_CHECK(testutil_check(ptr, s->len, s->seed));
	CHILD_CHECK(shmpool_attach(c, &s->old_ref, &ptr) == -ESTALE);
	shmpool_disconnect(c);
	return 0;
}

/* A ref outlives the allocation it names only as a stale ref, even when the
 * same memory has been handed out again. */
static void test_stale_after_reuse(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct stale s = { .len = 4096, .seed = 51 };
	void *b = NULL, *b2 = NULL, *a = NULL, *a2 = NULL;
	pid_t pid;

	(void)state;
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_ref(sp, b, &s.old_ref), 0);
	assert_int_equal(shmpool_block_free(p, b), 0);
	assert_int_equal(shmpool_block_alloc(p, &b2, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(b2, b);
	testutil_fill(b2, 4096, 51);
	assert_int_equal(shmpool_ref(sp, b2, &s.new_ref), 0);
	assert_memory_not_equal(&s.old_ref, &s.new_ref, sizeof(s.old_ref));
	pid = spawn(stale_child, &s);
	expect_child_exit(pid, 0);
	testutil_expect_stat(p, 1, 0);
	assert_int_equal(shmpool_block_free(p, b2), 0);
	testutil_expect_stat(p, 0, 0);

	/* Heap memory. */
	s.len = 256;
	s.seed = 52;
	assert_int_equal(shmpool_alloc(sp, 0, 256, &a), 0);
	assert_int_equal(shmpool_ref(sp, a, &s.old_ref), 0);
	assert_int_equal(shmpool_free(sp, a), 0);
	assert_int_equal(shmpool_alloc(sp, 0, 256, &a2), 0);
	assert_ptr_equal(a2, a);
	testutil_fill(a2, 256, 52);
	assert_int_equal(shmpool_ref(sp, a2, &s.new_ref), 0);
	assert_memory_not_equal(&s.old_ref, &s.new_ref, sizeof(s.old_ref));
	pid = spawn(stale_child, &s);
	expect_child_exit(pid, 0);
	assert_int_equal(shmpool_free(sp, a2), 0);
	shmpool_pool_close(p);
}

struct hold {
	int to_parent[2];
	shmpool_ref_t ref;           /* attached too, when set */
	int attach;
	int count;                   /* blocks to take from "p" */
	int timeout;                 /* then wait for one more, unless 0 */
};

/* Take blocks (and maybe attach memory), tell the parent, then block, in
 * the daemon or in pause(), until killed. */
static int hold_child(void *arg)
{
	struct hold *ho = arg;
	shmpool_t *c = child_connect();
	shmpool_pool_t *p = NULL;
	void *b[4], *x = NULL, *heap = NULL;
	int rc;

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(shmpool_pool_open(c, "p", &p) == 0);
	if (ho->count > 0)
		CHILD_CHECK(shmpool_blocks_alloc(p, (size_t)ho->count, b, SHMPOOL_NO_WAIT) == 0);
	if (ho->attach)
		CHILD_CHECK(shmpool_attach(c, &ho->ref, &x) == 0);
	CHILD_CHECK(shmpool_alloc(c, 0, 1000, &heap) == 0);
	CHILD_CHECK(write(ho->to_parent[1], "R", 1) == 1);
	if (ho->timeout != 0) {
		rc = shmpool_block_alloc(p, &x, ho->timeout);
		fprintf(stderr, "child %d: the wait ended: %d\n", (int)getpid(), rc);
		return 100;
	}
	for (;;)
		pause();
}

static void test_kill_holder(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct hold ho = { .count = 3, .attach = 1 };
	void *mine = NULL, *b[4];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ho.to_parent), 0);
	/* Our block, which the child attaches as well. */
	assert_int_equal(shmpool_block_alloc(p, &mine, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_ref(sp, mine, &ho.ref), 0);
	pid = spawn(hold_child, &ho);
	assert_int_equal(read_byte(ho.to_parent[0]), 'R');
	testutil_expect_stat(p, 4, 0);
	expect_child_killed(pid);
	/* Its three blocks come back; ours stays ours alone. */
	wait_stat(p, 1, 0);
	assert_int_equal(shmpool_block_free(p, mine), 0);
	testutil_expect_stat(p, 0, 0);
	assert_int_equal(shmpool_blocks_alloc(p, 4, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(p, 4, b), 0);
	close(ho.to_parent[0]);
	close(ho.to_parent[1]);
	shmpool_pool_close(p);
}

static void test_kill_waiter(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct hold forever = { .timeout = SHMPOOL_FOREVER };
	struct hold timed = { .count = 1, .timeout = 600000 };
	void *b[5], *x = NULL;
	pid_t p1, p2;

	(void)state;
	assert_int_equal(pipe(forever.to_parent), 0);
	assert_int_equal(pipe(timed.to_parent), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 3, b, SHMPOOL_NO_WAIT), 0);
	p1 = spawn(hold_child, &timed);
	assert_int_equal(read_byte(timed.to_parent[0]), 'R');
	wait_stat(p, 4, 1);
	p2 = spawn(hold_child, &forever);
	assert_int_equal(read_byte(forever.to_parent[0]), 'R');
	wait_stat(p, 4, 2);

	expect_child_killed(p2);
	wait_stat(p, 4, 1);
	expect_child_killed(p1);
	wait_stat(p, 3, 0);
	/* No dead waiter takes what is freed now. */
	assert_int_equal(shmpool_block_free(p, b[0]), 0);
	testutil_expect_stat(p, 2, 0);
	assert_int_equal(shmpool_blocks_alloc(p, 2, b + 3, SHMPOOL_NO_WAIT), 0);
	testutil_expect_stat(p, 4, 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -ENOMEM);
	assert_int_equal(shmpool_blocks_free(p, 4, b + 1), 0);
	testutil_expect_stat(p, 0, 0);
	for (int i = 0; i < 2; i++) {
		close(forever.to_parent[i]);
		close(timed.to_parent[i]);
	}
	shmpool_pool_close(p);
}

struct getter {
	int to_parent[2];
	int timeout;
};

/* Wait for one block of "p"; report 'G' and check the memory once granted. */
static int getter_child(void *arg)
{
	struct getter *g = arg;
	shmpool_t *c = child_connect();
	shmpool_pool_t *p = NULL;
	void *b = NULL;

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(shmpool_pool_open(c, "p", &p) == 0);
	CHILD_CHECK(write(g->to_parent[1], "R", 1) == 1);
	CHILD_CHECK(shmpool_block_alloc(p, &b, g->timeout) == 0);
	memset(b, 0x5a, 4096);
	CHILD_CHECK(write(g->to_parent[1], "G", 1) == 1);
	CHILD_CHECK(shmpool_block_free(p, b) == 0);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
	return 0;
}

/* A waiter in one process gets a block that a SIGKILL took from another. */
static void test_kill_feeds_waiter(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct hold holder = { .count = 4 };
	struct getter forever = { .timeout = SHMPOOL_FOREVER };
	struct getter timed = { .timeout = 600000 };
	pid_t ph, pf, pt;

	(void)state;
	assert_int_equal(pipe(holder.to_parent), 0);
	assert_int_equal(pipe(forever.to_parent), 0);
	assert_int_equal(pipe(timed.to_parent), 0);
	ph = spawn(hold_child, &holder);
	assert_int_equal(read_byte(holder.to_parent[0]), 'R');
	wait_stat(p, 4, 0);
	pf = spawn(getter_child, &forever);
	assert_int_equal(read_byte(forever.to_parent[0]), 'R');
	wait_stat(p, 4, 1);
	pt = spawn(getter_child, &timed);
	assert_int_equal(read_byte(timed.to_parent[0]), 'R');
	wait_stat(p, 4, 2);

	expect_child_killed(ph);
	assert_int_equal(read_byte(forever.to_parent[0]), 'G');
	assert_int_equal(read_byte(timed.to_parent[0]), 'G');
	expect_child_exit(pf, 0);
	expect_child_exit(pt, 0);
	wait_stat(p, 0, 0);
	for (int i = 0; i < 2; i++) {
		close(holder.to_parent[i]);
		close(forever.to_parent[i]);
		close(timed.to_parent[i]);
	}
	shmpool_pool_close(p);
}

struct ordered {
	int go[2];                   /* parent to child: start waiting */
	int ready[2];                /* child to parent: connected */
	int *result;                 /* shared pipe: the child writes its id when served */
	int priority;
	char id;
};

/*
 * Wait on pool "one" at a priority.  When served, write the id, then free:
 * the next waiter can only be served after that, so the order of the ids in
 * the pipe is the order of service.
 */
static int ordered_child(void *arg)
{
	struct ordered *o = arg;
	shmpool_t *c = child_connect();
	shmpool_pool_t *p = NULL;
	void *b = NULL;
	char cmd;

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(shmpool_set_priority(c, o->priority) == 0);
	CHILD_CHECK(shmpool_pool_open(c, "one", &p) == 0);
	CHILD_CHECK(write(o->ready[1], "R", 1) == 1);
	CHILD_CHECK(read(o->go[0], &cmd, 1) == 1);
	CHILD_CHECK(shmpool_block_alloc(p, &b, SHMPOOL_FOREVER) == 0);
	CHILD_CHECK(write(o->result[1], &o->id, 1) == 1);
	CHILD_CHECK(shmpool_block_free(p, b) == 0);
	/* The free is fire-and-forget; a call after it makes it happen
	 * before the connection goes. */
	CHILD_CHECK(shmpool_pool_reset_max(p) == 0);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
	return 0;
}

/* Priority first, then arrival, across processes. */
static void test_waiter_order(void **state)
{
	int root = geteuid() == 0;
	/* Arrival order is the array order. */
	struct ordered o[5] = {
		{ .priority = 10, .id = 'a' },
		{ .priority = 10, .id = 'b' },
		{ .priority = root ? -5 : 1, .id = 'c' },
		{ .priority = 0, .id = 'd' },
		{ .priority = 10, .id = 'e' },
	};
	const char *want = "cdabe";
	shmpool_pool_t *one = testutil_pool_open(sp, "one");
	int result[2];
	pid_t pid[5];
	void *b = NULL;
	char got[6] = "";

	(void)state;
	if (!root)
		print_message("not root: using priority 1 instead of -5\n");
	assert_int_equal(pipe(result), 0);
	assert_int_equal(shmpool_block_alloc(one, &b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pipe(o[i].go), 0);
		assert_int_equal(pipe(o[i].ready), 0);
		o[i].result = result;
		pid[i] = spawn(ordered_child, &o[i]);
		assert_int_equal(read_byte(o[i].ready[0]), 'R');
		write_byte(o[i].go[1], 'G');
		/* Queued before the next one starts. */
		wait_stat(one, 1, (size_t)i + 1);
	}
	assert_int_equal(shmpool_block_free(one, b), 0);
	for (int i = 0; i < 5; i++)
		got[i] = read_byte(result[0]);
	assert_string_equal(got, want);
	for (int i = 0; i < 5; i++) {
		expect_child_exit(pid[i], 0);
		close(o[i].go[0]);
		close(o[i].go[1]);
		close(o[i].ready[0]);
		close(o[i].ready[1]);
	}
	wait_stat(one, 0, 0);
	close(result[0]);
	close(result[1]);
	shmpool_pool_close(one);
}

/* A waiter that is ahead in the queue is not overtaken by a later request,
 * even one that would fit: a 2-block request at the head holds back a
 * 1-block request behind it. */
struct multi {
	int ready[2];
	int done[2];
	size_t count;
};

static int multi_child(void *arg)
{
	struct multi *m = arg;
	shmpool_t *c = child_connect();
	shmpool_pool_t *p = NULL;
	void *b[4];

	CHILD_CHECK(c != NULL);
	CHILD_CHECK(shmpool_pool_open(c, "p", &p) == 0);
	CHILD_CHECK(write(m->ready[1], "R", 1) == 1);
	CHILD_CHECK(shmpool_blocks_alloc(p, m->count, b, SHMPOOL_FOREVER) == 0);
	CHILD_CHECK(write(m->done[1], "G", 1) == 1);
	CHILD_CHECK(shmpool_blocks_free(p, m->count, b) == 0);
	CHILD_CHECK(shmpool_pool_reset_max(p) == 0);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
	return 0;
}

static void test_no_overtaking(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct multi two = { .count = 2 }, one = { .count = 1 };
	struct pollfd pfd;
	void *b[4];
	pid_t p2, p1;

	(void)state;
	assert_int_equal(pipe(two.ready), 0);
	assert_int_equal(pipe(two.done), 0);
	assert_int_equal(pipe(one.ready), 0);
	assert_int_equal(pipe(one.done), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 4, b, SHMPOOL_NO_WAIT), 0);
	p2 = spawn(multi_child, &two);
	assert_int_equal(read_byte(two.ready[0]), 'R');
	wait_stat(p, 4, 1);
	p1 = spawn(multi_child, &one);
	assert_int_equal(read_byte(one.ready[0]), 'R');
	wait_stat(p, 4, 2);

	/* One block free: the head wants two, so nobody is served. */
	assert_int_equal(shmpool_block_free(p, b[0]), 0);
	testutil_expect_stat(p, 3, 2);
	pfd = (struct pollfd){ .fd = one.done[0], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 0);
	/* A newcomer with NO_WAIT does not get it either. */
	assert_int_equal(shmpool_block_alloc(p, &b[0], SHMPOOL_NO_WAIT), -ENOMEM);
	assert_int_equal(shmpool_block_free(p, b[1]), 0);
	assert_int_equal(read_byte(two.done[0]), 'G');
	assert_int_equal(read_byte(one.done[0]), 'G');
	expect_child_exit(p2, 0);
	expect_child_exit(p1, 0);
	wait_stat(p, 2, 0);
	assert_int_equal(shmpool_blocks_free(p, 2, b + 2), 0);
	testutil_expect_stat(p, 0, 0);
	for (int i = 0; i < 2; i++) {
		close(two.ready[i]);
		close(two.done[i]);
		close(one.ready[i]);
		close(one.done[i]);
	}
	shmpool_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handover_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handover_heap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_after_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_feeds_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overtaking, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
