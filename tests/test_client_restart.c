/*
 * The daemon goes away under connected clients, stopped or killed, and comes
 * back on the same socket: every old connection learns it once with
 * -ECONNRESET, then gets -ENOTCONN, and new connections work.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

static const char config[] =
	"[region r0]\n"
	"size = 4M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool c]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n"
	"cache = 4\n";

static struct harness h;

static int setup(void **state)
{
	(void)state;
	return harness_start(&h, config) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return harness_finish(&h);
}

/* Every kind of call on a connection whose daemon is gone: -ENOTCONN. */
static void expect_all_notconn(shmpool_t *c, shmpool_pool_t *pool, void *held)
{
	struct shmpool_pool_stat st;
	struct shmpool_pool_info in;
	shmpool_pool_t *q = NULL;
	shmpool_ref_t ref;
	size_t cursor = 0, bs;
	void *x = NULL;

	assert_int_equal(shmpool_pool_stat(pool, &st), -ENOTCONN);
	assert_int_equal(shmpool_block_alloc(pool, &x, SHMPOOL_NO_WAIT), -ENOTCONN);
	assert_int_equal(shmpool_block_alloc(pool, &x, SHMPOOL_FOREVER), -ENOTCONN);
	assert_int_equal(shmpool_blocks_alloc(pool, 2, &x, 100), -ENOTCONN);
	assert_int_equal(shmpool_block_free(pool, held), -ENOTCONN);
	assert_int_equal(shmpool_free(c, held), -ENOTCONN);
	assert_int_equal(shmpool_pool_open(c, "p", &q), -ENOTCONN);
	assert_int_equal(shmpool_pool_reset_max(pool), -ENOTCONN);
	assert_int_equal(shmpool_pool_info_next(c, &cursor, &in), -ENOTCONN);
	assert_int_equal(shmpool_group_alloc(c, "g", 0, 1, &x, &bs, 0), -ENOTCONN);
	assert_int_equal(shmpool_alloc(c, 0, 64, &x), -ENOTCONN);
	assert_int_equal(shmpool_ref(c, held, &ref), -ENOTCONN);
	assert_int_equal(shmpool_set_priority(c, 1), -ENOTCONN);
	assert_null(x);
	assert_null(q);
}

/*
 * A clean stop (SIGTERM) and a restart: each old connection's first call,
 * whatever it is (a request, a fire-and-forget free, a heap allocation),
 * fails with -ECONNRESET, then everything with -ENOTCONN.
 */
static void test_stop_restart(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h), *c = testutil_connect(&h), *n;
	shmpool_pool_t *pa = testutil_pool_open(a, "p"), *pb = testutil_pool_open(b, "p");
	shmpool_pool_t *pc = testutil_pool_open(c, "p"), *pn;
	struct shmpool_pool_stat st;
	void *ba = NULL, *bb = NULL, *bc = NULL, *x = NULL, *heap = NULL;

	(void)state;
	assert_int_equal(shmpool_block_alloc(pa, &ba, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(pb, &bb, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(pc, &bc, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_alloc(c, 0, 100, &heap), 0);
	testutil_fill(ba, 4096, 1);

	assert_int_equal(harness_stop(&h), 0);

	assert_int_equal(shmpool_pool_stat(pa, &st), -ECONNRESET);
	assert_int_equal(shmpool_pool_stat(pa, &st), -ENOTCONN);
	expect_all_notconn(a, pa, ba);
	/* The mapping stays until disconnect: no pointer faults. */
	assert_true(testutil_check(ba, 4096, 1));

	assert_int_equal(shmpool_block_free(pb, bb), -ECONNRESET);
	expect_all_notconn(b, pb, bb);

	assert_int_equal(shmpool_alloc(c, 0, 64, &x), -ECONNRESET);
	assert_null(x);
	expect_all_notconn(c, pc, bc);
	assert_int_equal(shmpool_free(c, heap), -ENOTCONN);

	/* Nothing listens now. */
	n = NULL;
	assert_int_equal(shmpool_connect(h.socket, &n), -ENOENT);

	assert_int_equal(harness_restart(&h), 0);
	/* Old connections stay dead; new ones see a fresh daemon. */
	expect_all_notconn(a, pa, ba);
	n = testutil_connect(&h);
	pn = testutil_pool_open(n, "p");
	assert_int_equal(shmpool_pool_stat(pn, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, 4);
	assert_int_equal(st.max_used, 0);
	assert_int_equal(shmpool_block_alloc(pn, &x, SHMPOOL_NO_WAIT), 0);
	memset(x, 0x77, 4096);
	assert_int_equal(shmpool_block_free(pn, x), 0);

	/* A dead connection can be reconnected by making a new one. */
	shmpool_pool_close(pa);
	shmpool_disconnect(a);
	a = testutil_connect(&h);
	pa = testutil_pool_open(a, "p");
	assert_int_equal(shmpool_blocks_alloc(pa, 4, (void *[4]){ 0 }, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_pool_stat(pn, &st), 0);
	assert_int_equal(st.num_used, 4);

	shmpool_pool_close(pa);
	shmpool_pool_close(pb);
	shmpool_pool_close(pc);
	shmpool_pool_close(pn);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
	shmpool_disconnect(c);
	shmpool_disconnect(n);
}

struct blocked {
	shmpool_pool_t *pool;
	int timeout;
	int rc;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	void *x = NULL;

	b->rc = shmpool_block_alloc(b->pool, &x, b->timeout);
	return NULL;
}

/* The daemon crashes (SIGKILL) while threads wait in it: their calls end
 * with -ECONNRESET; a new daemon takes over the stale socket. */
static void test_crash_while_waiting(void **state)
{
	shmpool_t *sp = testutil_connect(&h), *mon = testutil_connect(&h), *n;
	shmpool_pool_t *pool = testutil_pool_open(sp, "p"), *mp = testutil_pool_open(mon, "p");
	shmpool_pool_t *pn;
	struct blocked forever = { .pool = pool, .timeout = SHMPOOL_FOREVER, .rc = 1 };
	struct blocked timed = { .pool = pool, .timeout = 600000, .rc = 1 };
	struct shmpool_pool_stat st;
	pthread_t t1, t2;
	void *b[4];

	(void)state;
	harness_watchdog(60, "test_client_restart: hung, giving up\n");
	assert_int_equal(shmpool_blocks_alloc(pool, 4, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(pthread_create(&t1, NULL, blocked_main, &forever), 0);
	assert_int_equal(pthread_create(&t2, NULL, blocked_main, &timed), 0);
	/* No assertion may leave while the threads use this frame. */
	st.num_waiters = 0;
	for (int i = 0; i < 2000; i++) {
		if (shmpool_pool_stat(mp, &st) != 0 || st.num_waiters == 2)
			break;
		usleep(5000);
	}

	harness_kill(&h);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	harness_watchdog(0, NULL);
	assert_int_equal(st.num_waiters, 2);
	assert_int_equal(forever.rc, -ECONNRESET);
	assert_int_equal(timed.rc, -ECONNRESET);
	expect_all_notconn(sp, pool, b[0]);
	/* The monitor had nothing in flight: it learns on its next call. */
	assert_int_equal(shmpool_pool_stat(mp, &st), -ECONNRESET);
	expect_all_notconn(mon, mp, b[1]);
	/* The crashed daemon left its socket file behind. */
	n = NULL;
	assert_int_equal(shmpool_connect(h.socket, &n), -ECONNREFUSED);

	assert_int_equal(harness_restart(&h), 0);
	n = testutil_connect(&h);
	pn = testutil_pool_open(n, "p");
	assert_int_equal(shmpool_pool_stat(pn, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_waiters, 0);

	shmpool_pool_close(pool);
	shmpool_pool_close(mp);
	shmpool_pool_close(pn);
	shmpool_disconnect(sp);
	shmpool_disconnect(mon);
	shmpool_disconnect(n);
}

/* A restart in the middle of normal use, several times over. */
static void test_repeated_restarts(void **state)
{
	(void)state;
	for (int round = 0; round < 5; round++) {
		shmpool_t *c = testutil_connect(&h);
		shmpool_pool_t *p = testutil_pool_open(c, "p");
		struct shmpool_pool_stat st;
		void *b = NULL;

		assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
		assert_int_equal(shmpool_pool_stat(p, &st), 0);
		assert_int_equal(st.num_used, 1);
		if (round % 2) {
			/* A daemon killed outright cannot say it is going,
			 * but its alive page says it is gone: the free is not
			 * parked in the free ring, it goes to the socket. */
			harness_kill(&h);
			assert_int_equal(shmpool_block_free(p, b), -ECONNRESET);
		} else {
			/* A clean stop tells every ring to send frees. */
			assert_int_equal(harness_stop(&h), 0);
			assert_int_equal(shmpool_block_free(p, b), -ECONNRESET);
		}
		assert_int_equal(shmpool_block_free(p, b), -ENOTCONN);
		shmpool_pool_close(p);
		shmpool_disconnect(c);
		assert_int_equal(harness_restart(&h), 0);
	}
}

/*
 * The alive page, through the raw protocol: offered in the hello reply,
 * sent on PROTO_ALIVE, read-only for the client, holding the id of a thread
 * of the daemon; once the daemon is killed outright, the kernel has put
 * FUTEX_OWNER_DIED in its place.
 */
static void test_alive_page(void **state)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION };
	struct proto_hello_reply hr;
	struct proto_hdr a;
	struct proto_reply_hdr r;
	char task[64];
	struct stat st;
	const uint32_t *word;
	uint32_t tid;
	void *w;
	int fd = harness_raw_connect(&h), rfd, afd;

	(void)state;
	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &hr, sizeof(hr), &rfd), (long)sizeof(hr));
	assert_int_equal(hr.r.status, 0);
	assert_int_equal(hr.r.flags & PROTO_F_ALIVE, PROTO_F_ALIVE);
	if (rfd >= 0)
		close(rfd);
	harness_hdr_set(&a, PROTO_ALIVE, 2);
	assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), &afd), (long)sizeof(r));
	assert_int_equal(r.hdr.type, PROTO_ALIVE | PROTO_REPLY);
	assert_int_equal(r.hdr.id, 2);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.flags, PROTO_F_ALIVE);
	assert_true(afd >= 0);
	assert_int_equal(fstat(afd, &st), 0);
	assert_int_equal(st.st_size, PROTO_ALIVE_SIZE);

	/* Nobody but the daemon may write it. */
	w = mmap(NULL, PROTO_ALIVE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	assert_true(w == MAP_FAILED);
	assert_int_equal(errno, EPERM);
	assert_int_equal(write(afd, "x", 1), -1);
	assert_int_equal(errno, EPERM);
	word = mmap(NULL, PROTO_ALIVE_SIZE, PROT_READ, MAP_SHARED, afd, 0);
	assert_true(word != MAP_FAILED);
	close(afd);
	assert_int_equal(mprotect((void *)word, PROTO_ALIVE_SIZE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);

	tid = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	assert_int_equal(tid & ~PROTO_ALIVE_TID_MASK, 0);
	assert_true(tid > 0);
	snprintf(task, sizeof(task), "/proc/%d/task/%u", (int)h.pid, tid);
	assert_int_equal(access(task, F_OK), 0);

	harness_kill(&h);
	assert_int_equal(__atomic_load_n(word, __ATOMIC_ACQUIRE), 0x40000000u);
	munmap((void *)word, PROTO_ALIVE_SIZE);
	close(fd);
	assert_int_equal(harness_restart(&h), 0);
}

/*
 * A block cache after the daemon was killed outright: while the daemon is
 * merely stopped, a cache hit needs no message; once it is dead, the alive
 * page keeps the cache from being used, and the call fails on the socket.
 */
static void test_kill_with_cache(void **state)
{
	shmpool_t *sp = testutil_connect(&h);
	shmpool_pool_t *pool = testutil_pool_open(sp, "c");
	void *b[2] = { NULL, NULL }, *x = NULL;
	int wst;

	(void)state;
	harness_watchdog(60, "test_kill_with_cache: a call reached the stopped daemon\n");
	/* The first alloc is a request; its reply fills the cache. */
	assert_int_equal(shmpool_block_alloc(pool, &b[0], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(kill(h.pid, SIGSTOP), 0);
	assert_int_equal(waitpid(h.pid, &wst, WUNTRACED), h.pid);
	assert_true(WIFSTOPPED(wst));
	/* Served from the cache, and back into it: no message. */
	assert_int_equal(shmpool_block_alloc(pool, &b[1], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(pool, b[1]), 0);
	harness_watchdog(0, NULL);

	harness_kill(&h);
	assert_int_equal(shmpool_block_alloc(pool, &x, SHMPOOL_NO_WAIT), -ECONNRESET);
	assert_null(x);
	assert_int_equal(shmpool_block_alloc(pool, &x, SHMPOOL_NO_WAIT), -ENOTCONN);
	assert_int_equal(shmpool_block_free(pool, b[0]), -ENOTCONN);
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);

	/* A connection made after the restart starts with a full pool. */
	assert_int_equal(harness_restart(&h), 0);
	sp = testutil_connect(&h);
	pool = testutil_pool_open(sp, "c");
	{
		struct shmpool_pool_stat st;

		assert_int_equal(shmpool_pool_stat(pool, &st), 0);
		assert_int_equal(st.num_used, 0);
		assert_int_equal(st.num_free, 8);
	}
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alive_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_with_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
