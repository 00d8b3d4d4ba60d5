/*
 * One connection shared by many threads: 8 threads take and give back
 * blocks of a pool too small for all of them for 10 seconds, waiting
 * forever or with timeouts, and nothing may be lost, granted twice or left
 * waiting.  Then shmpool_disconnect while threads are blocked in the daemon.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmpool.h"
#include "testutil.h"

#define NTHREADS 8
#define NBLOCKS 4
#define BLOCK_SIZE 256
#define RUN_SECONDS 10
#define SEED 20261123u
#define HUNG "test_client_threads: hung (a lost wake-up?), giving up\n"

static const char config[] =
	"[region r0]\n"
	"size = 4M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 4\n"
	"[pool one]\n"
	"region = r0\n"
	"block_size = 64\n"
	"blocks = 1\n"
	"[region r1]\n"
	"size = 1M\n"
	"[pool q]\n"
	"region = r1\n"
	"block_size = 64\n"
	"blocks = 8\n"
	"[region r2]\n"
	"size = 1M\n"
	"attr = non-cacheable\n";

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

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */

struct shared {
	shmpool_pool_t *pool;
	shmpool_t *sp;
	char *base;                      /* block 0 */
	int owner[NBLOCKS];              /* thread id + 1 while a thread holds it */
	int64_t deadline;
	int failures;
	char first_failure[256];
	pthread_mutex_t lock;
};

struct worker {
	struct shared *s;
	int id;
	unsigned seed;
	long grants, eagain, enomem, heap_ops, stats;
	long waits_forever;
};

static void failure(struct worker *w, const char *fmt, ...)
{
	struct shared *s = w->s;
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (s->failures++ == 0) {
		int n = snprintf(s->first_failure, sizeof(s->first_failure),
				 "thread %d (seed %u): ", w->id, SEED + (unsigned)w->id);

		va_start(ap, fmt);
		vsnprintf(s->first_failure + n, sizeof(s->first_failure) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Claim a granted block: it must be one of the pool's and held by nobody
 * else; fill it with our id. */
static int claim(struct worker *w, void *ptr)
{
	struct shared *s = w->s;
	ptrdiff_t off = (char *)ptr - s->base;
	int idx, expected = 0;

	if (off < 0 || off % BLOCK_SIZE != 0 || off / BLOCK_SIZE >= NBLOCKS) {
		failure(w, "granted %p, not a block of the pool", ptr);
		return -1;
	}
	idx = (int)(off / BLOCK_SIZE);
	if (!__atomic_compare_exchange_n(&s->owner[idx], &expected, w->id + 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		failure(w, "block %d granted while thread %d holds it", idx, expected - 1);
		return -1;
	}
	memset(ptr, w->id + 1, BLOCK_SIZE);
	return 0;
}

/* Check the block still holds our id, and let go of the claim. */
static int release(struct worker *w, void *ptr)
{
	struct shared *s = w->s;
	int idx = (int)(((char *)ptr - s->base) / BLOCK_SIZE);
	const unsigned char *b = ptr;

	for (int i = 0; i < BLOCK_SIZE; i++) {
		if (b[i] != w->id + 1) {
			failure(w, "block %d overwritten while held (byte %d is %d)", idx, i, b[i]);
			return -1;
		}
	}
	__atomic_store_n(&s->owner[idx], 0, __ATOMIC_RELEASE);
	return 0;
}

static void hold_briefly(struct worker *w)
{
	unsigned us = (unsigned)rand_r(&w->seed) % 300;

	if (us > 0)
		usleep(us);
}

/* One round: take blocks in one of several ways, hold them a moment, give
 * them back.  Returns -1 after a failure. */
static int worker_round(struct worker *w)
{
	struct shared *s = w->s;
	void *b[2] = { NULL, NULL };
	int op = rand_r(&w->seed) % 8, timeout = 1 + rand_r(&w->seed) % 30, rc, n = 1;

	switch (op) {
	case 0:
	case 1:
		w->waits_forever++;
		rc = shmpool_block_alloc(s->pool, &b[0], SHMPOOL_FOREVER);
		break;
	case 2:
		rc = shmpool_block_alloc(s->pool, &b[0], timeout);
		break;
	case 3:
		rc = shmpool_block_alloc(s->pool, &b[0], SHMPOOL_NO_WAIT);
		break;
	case 4:
		w->waits_forever++;
		n = 2;
		rc = shmpool_blocks_alloc(s->pool, 2, b, SHMPOOL_FOREVER);
		break;
	case 5:
		n = 2;
		rc = shmpool_blocks_alloc_contiguous(s->pool, 2, &b[0], timeout);
		if (rc == 0)
			b[1] = (char *)b[0] + BLOCK_SIZE;
		break;
	case 6: {
		void *a = NULL;

		w->heap_ops++;
		rc = shmpool_alloc(s->sp, SHMPOOL_ATTR_CACHEABLE, 64, &a);
		if (rc == 0) {
			memset(a, w->id, 64);
			rc = shmpool_free(s->sp, a);
		}
		if (rc != 0) {
			failure(w, "heap alloc/free: %d", rc);
			return -1;
		}
		return 0;
	}
	default: {
		struct shmpool_pool_stat st;

		w->stats++;
		rc = shmpool_pool_stat(s->pool, &st);
		if (rc != 0 || st.num_used > NBLOCKS || st.num_used + st.num_free != NBLOCKS) {
			failure(w, "pool_stat: %d, used %zu free %zu", rc, st.num_used, st.num_free);
			return -1;
		}
		return 0;
	}
	}
	if (rc == -EAGAIN && (op == 2 || op == 5)) {
		w->eagain++;
		return 0;
	}
	if (rc == -ENOMEM && op == 3) {
		w->enomem++;
		return 0;
	}
	if (rc != 0) {
		failure(w, "op %d: %d", op, rc);
		return -1;
	}
	w->grants++;
	for (int k = 0; k < n; k++)
		if (claim(w, b[k]) < 0)
			return -1;
	hold_briefly(w);
	for (int k = 0; k < n; k++)
		if (release(w, b[k]) < 0)
			return -1;
	if (op == 5)
		rc = shmpool_blocks_free_contiguous(s->pool, b[0], 2);
	else if (n == 2)
		rc = shmpool_blocks_free(s->pool, 2, b);
	else
		rc = shmpool_block_free(s->pool, b[0]);
	if (rc != 0) {
		failure(w, "free after op %d: %d", op, rc);
		return -1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (now_ns() < w->s->deadline) {
		if (worker_round(w) < 0)
			break;
	}
	return NULL;
}

static void test_threads_share_connection(void **state)
{
	struct shared s;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	shmpool_t *mon = NULL;
	shmpool_pool_t *mpool = NULL;
	struct shmpool_pool_stat st;
	size_t max_waiters = 0;
	int monitor_bad = 0;
	void *b[NBLOCKS];
	long grants = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	harness_watchdog(RUN_SECONDS + 50, HUNG);

	assert_int_equal(shmpool_connect(h.socket, &s.sp), 0);
	assert_int_equal(shmpool_pool_open(s.sp, "p", &s.pool), 0);
	/* Where the blocks are: a fresh pool hands them out in order. */
	assert_int_equal(shmpool_blocks_alloc(s.pool, NBLOCKS, b, SHMPOOL_NO_WAIT), 0);
	s.base = b[0];
	for (int i = 0; i < NBLOCKS; i++)
		assert_ptr_equal(b[i], s.base + i * BLOCK_SIZE);
	assert_int_equal(shmpool_blocks_free(s.pool, NBLOCKS, b), 0);
	assert_int_equal(shmpool_pool_reset_max(s.pool), 0);

	/* A second connection watches the queue. */
	assert_int_equal(shmpool_connect(h.socket, &mon), 0);
	assert_int_equal(shmpool_pool_open(mon, "p", &mpool), 0);

	s.deadline = now_ns() + (int64_t)RUN_SECONDS * 1000000000;
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .s = &s, .id = i, .seed = SEED + (unsigned)i };
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0)
			raise(SIGALRM);         /* give up as the watchdog would */
	}
	/* No assertion may leave this function while the threads run. */
	while (now_ns() < s.deadline) {
		int rc = shmpool_pool_stat(mpool, &st);

		if (rc != 0 || st.num_waiters > NTHREADS || st.num_used > NBLOCKS)
			monitor_bad++;
		else if (st.num_waiters > max_waiters)
			max_waiters = st.num_waiters;
		usleep(10000);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	harness_watchdog(0, NULL);
	assert_int_equal(monitor_bad, 0);

	if (s.failures)
		fail_msg("%d failures; first: %s", s.failures, s.first_failure);
	for (int i = 0; i < NTHREADS; i++) {
		print_message("thread %d: %ld grants, %ld forever waits, %ld -EAGAIN, %ld -ENOMEM, "
			      "%ld heap, %ld stat\n", i, w[i].grants, w[i].waits_forever,
			      w[i].eagain, w[i].enomem, w[i].heap_ops, w[i].stats);
		/* Every thread got through; none starved forever. */
		assert_true(w[i].grants > 0);
		grants += w[i].grants;
	}
	print_message("%ld grants in %d s; most waiters seen at once: %zu\n", grants,
		      RUN_SECONDS, max_waiters);
	/* The threads really waited for each other. */
	assert_true(max_waiters > 0);

	/* Everything back, nobody waiting, through both connections. */
	assert_int_equal(shmpool_pool_stat(s.pool, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, NBLOCKS);
	assert_int_equal(st.num_waiters, 0);
	assert_int_equal(st.max_used, NBLOCKS);
	assert_int_equal(shmpool_pool_stat(mpool, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_waiters, 0);
	/* And the whole pool can be taken at once. */
	assert_int_equal(shmpool_blocks_alloc(s.pool, NBLOCKS, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(s.pool, NBLOCKS, b), 0);
	for (int i = 0; i < NBLOCKS; i++)
		assert_int_equal(s.owner[i], 0);

	shmpool_pool_close(mpool);
	shmpool_disconnect(mon);
	shmpool_pool_close(s.pool);
	shmpool_disconnect(s.sp);
	pthread_mutex_destroy(&s.lock);
}

/* ------------------------------------------------------------------ */

struct blocked {
	shmpool_pool_t *pool;
	int timeout;
	int rc;
	void *block;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;

	b->rc = shmpool_block_alloc(b->pool, &b->block, b->timeout);
	return NULL;
}

/* shmpool_disconnect ends the calls blocked in the daemon with -ECANCELED,
 * and the daemon drops their waits. */
static void test_disconnect_cancels(void **state)
{
	shmpool_t *holder = NULL, *sp = NULL;
	shmpool_pool_t *hp = NULL;
	struct blocked forever = { .timeout = SHMPOOL_FOREVER, .rc = 1 };
	struct blocked timed = { .timeout = 600000, .rc = 1 };
	struct blocked third = { .timeout = SHMPOOL_FOREVER, .rc = 1 };
	pthread_t t1, t2, t3;
	void *blk = NULL, *x = NULL;

	(void)state;
	harness_watchdog(60, HUNG);
	assert_int_equal(shmpool_connect(h.socket, &holder), 0);
	assert_int_equal(shmpool_pool_open(holder, "one", &hp), 0);
	assert_int_equal(shmpool_block_alloc(hp, &blk, SHMPOOL_NO_WAIT), 0);

	assert_int_equal(shmpool_connect(h.socket, &sp), 0);
	assert_int_equal(shmpool_pool_open(sp, "one", &forever.pool), 0);
	timed.pool = forever.pool;
	third.pool = forever.pool;
	assert_int_equal(pthread_create(&t1, NULL, blocked_main, &forever), 0);
	testutil_wait_waiters(hp, 1);
	assert_int_equal(pthread_create(&t2, NULL, blocked_main, &timed), 0);
	testutil_wait_waiters(hp, 2);
	assert_int_equal(pthread_create(&t3, NULL, blocked_main, &third), 0);
	testutil_wait_waiters(hp, 3);

	shmpool_disconnect(sp);
	assert_int_equal(pthread_join(t1, NULL), 0);
	assert_int_equal(pthread_join(t2, NULL), 0);
	assert_int_equal(pthread_join(t3, NULL), 0);
	assert_int_equal(forever.rc, -ECANCELED);
	assert_int_equal(timed.rc, -ECANCELED);
	assert_int_equal(third.rc, -ECANCELED);
	assert_null(forever.block);
	assert_null(timed.block);
	assert_null(third.block);
	shmpool_pool_close(forever.pool);

	/* The daemon forgets the waits: the block goes to nobody else. */
	testutil_wait_waiters(hp, 0);
	assert_int_equal(shmpool_block_free(hp, blk), 0);
	assert_int_equal(shmpool_block_alloc(hp, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, blk);
	assert_int_equal(shmpool_block_free(hp, x), 0);
	harness_watchdog(0, NULL);
	shmpool_pool_close(hp);
	shmpool_disconnect(holder);
}

/*
 * A thread blocked in the daemon reads the shared socket with recv(), which
 * would drop a descriptor.  Calls of other threads that bring a region's fd
 * (a pool in a region not seen yet, a heap allocation in one) must get it
 * all the same, and the blocked thread its block afterwards.
 */
static void test_fd_while_blocked(void **state)
{
	shmpool_t *holder = NULL, *sp = NULL;
	shmpool_pool_t *hp = NULL, *q = NULL;
	struct blocked forever = { .timeout = SHMPOOL_FOREVER, .rc = 1 };
	void *blk = NULL, *qb = NULL, *hb = NULL;
	pthread_t t;

	(void)state;
	harness_watchdog(60, HUNG);
	assert_int_equal(shmpool_connect(h.socket, &holder), 0);
	assert_int_equal(shmpool_pool_open(holder, "one", &hp), 0);
	assert_int_equal(shmpool_block_alloc(hp, &blk, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_connect(h.socket, &sp), 0);
	assert_int_equal(shmpool_pool_open(sp, "one", &forever.pool), 0);
	assert_int_equal(pthread_create(&t, NULL, blocked_main, &forever), 0);
	testutil_wait_waiters(hp, 1);

	/* r1's fd comes with the pool; the block is usable memory. */
	assert_int_equal(shmpool_pool_open(sp, "q", &q), 0);
	assert_int_equal(shmpool_block_alloc(q, &qb, SHMPOOL_NO_WAIT), 0);
	memset(qb, 0x5a, 64);
	assert_int_equal(((unsigned char *)qb)[63], 0x5a);
	/* r2's fd comes with the first allocation in it. */
	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_NON_CACHEABLE, 100, &hb), 0);
	memset(hb, 0xa5, 100);
	assert_int_equal(((unsigned char *)hb)[99], 0xa5);
	assert_int_equal(shmpool_free(sp, hb), 0);
	assert_int_equal(shmpool_block_free(q, qb), 0);
	assert_int_equal(forever.rc, 1);

	/* And the blocked thread still gets its block. */
	assert_int_equal(shmpool_block_free(hp, blk), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(forever.rc, 0);
	assert_non_null(forever.block);
	assert_int_equal(shmpool_block_free(forever.pool, forever.block), 0);
	harness_watchdog(0, NULL);
	shmpool_pool_close(q);
	shmpool_pool_close(forever.pool);
	shmpool_pool_close(hp);
	shmpool_disconnect(sp);
	shmpool_disconnect(holder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disconnect_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_while_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_connection, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
