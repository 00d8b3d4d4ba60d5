#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blockpool_sync.h"

#define SENTINEL UINT64_C(0xdeadbeefdeadbeef)

enum req_kind {
	REQ_ONE,
	REQ_N,
	REQ_CONTIG,
};

/* One blocking request, run on a thread of its own. */
struct req {
	struct blockpool_sync *s;
	enum req_kind kind;
	size_t n;
	int prio;
	int timeout_ms;
	uint64_t offs[8];
	int rc;
	atomic_int done;
	pthread_t thread;
};

static int req_call(struct req *r)
{
	switch (r->kind) {
	case REQ_ONE:
		return blockpool_sync_alloc(r->s, &r->offs[0], r->prio, r->timeout_ms);
	case REQ_N:
		return blockpool_sync_alloc_n(r->s, r->n, r->offs, r->prio, r->timeout_ms);
	default:
		return blockpool_sync_alloc_contig(r->s, r->n, &r->offs[0], r->prio, r->timeout_ms);
	}
}

static void *req_main(void *arg)
{
	struct req *r = arg;

	r->rc = req_call(r);
	atomic_store(&r->done, 1);
	return NULL;
}

static void req_start(struct req *r, struct blockpool_sync *s, enum req_kind kind, size_t n,
		      int prio, int timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->kind = kind;
	r->n = n;
	r->prio = prio;
	r->timeout_ms = timeout_ms;
	for (int i = 0; i < 8; i++)
		r->offs[i] = SENTINEL;
	assert_int_equal(pthread_create(&r->thread, NULL, req_main, r), 0);
}

static int req_join(struct req *r)
{
	assert_int_equal(pthread_join(r->thread, NULL), 0);
	return r->rc;
}

static void pause_briefly(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static struct blockpool_sync_stat stat_of(struct blockpool_sync *s)
{
	struct blockpool_sync_stat st;

	blockpool_sync_stat(s, &st);
	return st;
}

/* Wait until n threads are queued; a hang here is caught by the alarm. */
static void wait_for_waiters(struct blockpool_sync *s, size_t n)
{
	while (stat_of(s).num_waiters != n)
		pause_briefly();
}

/* Like wait_for_waiters, for a timed request that may time out before it
 * is seen queued (a loaded machine can delay this thread past it): returns
 * 0 once it is queued, -1 if it has already finished. */
static int wait_for_queued(struct blockpool_sync *s, size_t n, struct req *r)
{
	while (stat_of(s).num_waiters != n) {
		if (atomic_load(&r->done))
			return -1;
		pause_briefly();
	}
	return 0;
}

static void assert_pool(struct blockpool_sync *s, uint32_t used, size_t waiters)
{
	struct blockpool_sync_stat st = stat_of(s);

	assert_int_equal(st.pool.num_used, used);
	assert_int_equal(st.pool.num_used + st.pool.num_free, st.pool.num_blocks);
	assert_int_equal(st.num_waiters, waiters);
}

static int64_t elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void test_init_errors(void **state)
{
	struct blockpool_sync s;

	(void)state;
	assert_int_equal(blockpool_sync_init(NULL, 16, 4, 16), -EINVAL);
	assert_int_equal(blockpool_sync_init(&s, 0, 4, 16), -EINVAL);
	assert_int_equal(blockpool_sync_init(&s, 16, 0, 16), -EINVAL);
	assert_int_equal(blockpool_sync_init(&s, 16, 4, 12), -EINVAL);
	assert_int_equal(blockpool_sync_init(&s, UINT64_MAX, 4, 16), -EOVERFLOW);
	assert_int_equal(blockpool_sync_init(&s, 24, 4, 0), 0);
	assert_int_equal(stat_of(&s).pool.stride, 32);
	blockpool_sync_fini(&s);
}

static void test_argument_errors(void **state)
{
	struct blockpool_sync s;
	uint64_t off = SENTINEL, offs[2];

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 16, 4, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, WAITQ_PRIO_MIN - 1, 0), -EINVAL);
	assert_int_equal(blockpool_sync_alloc(&s, &off, WAITQ_PRIO_MAX + 1, -1), -EINVAL);
	assert_int_equal(blockpool_sync_alloc_n(&s, 2, offs, 20, -1), -EINVAL);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 2, offs, -21, -1), -EINVAL);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, -2), -EINVAL);
	assert_int_equal(blockpool_sync_alloc(&s, NULL, 0, 0), -EINVAL);
	assert_int_equal(blockpool_sync_alloc_n(&s, 2, NULL, 0, 0), -EINVAL);
	assert_int_equal(off, SENTINEL);
	assert_pool(&s, 0, 0);

	/* Count 0 does nothing; more than the pool has fails at once, even
	 * for a request that would wait forever. */
	assert_int_equal(blockpool_sync_alloc_n(&s, 0, NULL, 0, BLOCKPOOL_SYNC_FOREVER), 0);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 0, NULL, 0, BLOCKPOOL_SYNC_FOREVER), 0);
	assert_int_equal(blockpool_sync_alloc_n(&s, 5, offs, 0, BLOCKPOOL_SYNC_FOREVER), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 5, &off, 0, BLOCKPOOL_SYNC_FOREVER), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 5, &off, 0, 1000), -ENOMEM);
	assert_pool(&s, 0, 0);

	/* The frees report what the plain pool reports. */
	assert_int_equal(blockpool_sync_free(&s, 0), -EFAULT);
	assert_int_equal(blockpool_sync_free(&s, 8), -EINVAL);
	assert_int_equal(blockpool_sync_free_n(&s, 0, NULL), 0);
	assert_int_equal(blockpool_sync_free_contig(&s, 0, 0), 0);
	assert_int_equal(blockpool_sync_free_contig(&s, 0, 2), -EFAULT);
	assert_int_equal(blockpool_sync_alloc_n(&s, 2, offs, 0, 0), 0);
	offs[1] = offs[0];
	assert_int_equal(blockpool_sync_free_n(&s, 2, offs), -EFAULT);
	assert_int_equal(blockpool_sync_free_contig(&s, 0, 2), 0);
	assert_pool(&s, 0, 0);
	blockpool_sync_fini(&s);
}

static void test_no_wait_empty_pool(void **state)
{
	struct blockpool_sync s;
	uint64_t off = SENTINEL, offs[2] = { SENTINEL, SENTINEL };

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 16, 2, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, BLOCKPOOL_SYNC_NO_WAIT), 0);
	assert_int_equal(off, 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, BLOCKPOOL_SYNC_NO_WAIT), 0);
	assert_int_equal(off, 16);
	off = SENTINEL;
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, BLOCKPOOL_SYNC_NO_WAIT), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc(&s, &off, WAITQ_PRIO_MIN, BLOCKPOOL_SYNC_NO_WAIT),
			 -ENOMEM);
	assert_int_equal(blockpool_sync_alloc_n(&s, 2, offs, 0, BLOCKPOOL_SYNC_NO_WAIT), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 1, &off, 0, BLOCKPOOL_SYNC_NO_WAIT),
			 -ENOMEM);
	assert_int_equal(off, SENTINEL);
	assert_int_equal(offs[0], SENTINEL);
	assert_pool(&s, 2, 0);

	assert_int_equal(blockpool_sync_free(&s, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, BLOCKPOOL_SYNC_NO_WAIT), 0);
	assert_int_equal(off, 16);
	blockpool_sync_fini(&s);
}

/* (a) The more urgent of two queued waiters gets the freed block. */
static void test_priority_wins(void **state)
{
	struct blockpool_sync s;
	struct req low, high;
	uint64_t off;

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 1, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 0), 0);
	req_start(&low, &s, REQ_ONE, 1, 10, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 1);
	req_start(&high, &s, REQ_ONE, 1, -5, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 2);

	assert_int_equal(blockpool_sync_free(&s, off), 0);
	assert_int_equal(req_join(&high), 0);
	assert_int_equal(high.offs[0], 0);
	assert_pool(&s, 1, 1);
	assert_int_equal(atomic_load(&low.done), 0);

	assert_int_equal(blockpool_sync_free(&s, high.offs[0]), 0);
	assert_int_equal(req_join(&low), 0);
	assert_int_equal(low.offs[0], 0);
	assert_pool(&s, 1, 0);
	blockpool_sync_fini(&s);
}

/* (b) Equal priorities are served in arrival order. */
static void test_fifo_within_priority(void **state)
{
	struct blockpool_sync s;
	struct req first, second, third;
	uint64_t off;

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 1, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 0), 0);
	req_start(&first, &s, REQ_ONE, 1, 3, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 1);
	req_start(&second, &s, REQ_ONE, 1, 3, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 2);
	req_start(&third, &s, REQ_ONE, 1, 3, 60000);
	wait_for_waiters(&s, 3);

	assert_int_equal(blockpool_sync_free(&s, off), 0);
	assert_int_equal(req_join(&first), 0);
	assert_pool(&s, 1, 2);
	assert_int_equal(atomic_load(&second.done), 0);
	assert_int_equal(atomic_load(&third.done), 0);

	assert_int_equal(blockpool_sync_free(&s, first.offs[0]), 0);
	assert_int_equal(req_join(&second), 0);
	assert_pool(&s, 1, 1);
	assert_int_equal(atomic_load(&third.done), 0);

	assert_int_equal(blockpool_sync_free(&s, second.offs[0]), 0);
	assert_int_equal(req_join(&third), 0);
	assert_pool(&s, 1, 0);
	blockpool_sync_fini(&s);
}

/* (c) A waiter that gets nothing returns -EAGAIN, no earlier than asked. */
static void test_timeout(void **state)
{
	static const int timeouts[] = { 1, 30, 120 };
	struct blockpool_sync s;
	struct timespec start;
	uint64_t off, offs[2] = { SENTINEL, SENTINEL };

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 2, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 0), 0);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		assert_int_equal(blockpool_sync_alloc_n(&s, 2, offs, 0, timeouts[i]), -EAGAIN);
		assert_true(elapsed_ms(&start) >= timeouts[i]);
		assert_int_equal(offs[0], SENTINEL);
		assert_pool(&s, 1, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(blockpool_sync_alloc_contig(&s, 2, &off, 0, 40), -EAGAIN);
	assert_true(elapsed_ms(&start) >= 40);
	assert_pool(&s, 1, 0);
	blockpool_sync_fini(&s);
}

/* A waiter with a timeout that is handed a block in time keeps it. */
static void test_timed_wait_granted(void **state)
{
	struct blockpool_sync s;
	struct req r;
	uint64_t off;

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 1, 16), 0);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 0), 0);
	req_start(&r, &s, REQ_ONE, 1, 0, 600000);
	wait_for_waiters(&s, 1);
	assert_int_equal(blockpool_sync_free(&s, off), 0);
	assert_int_equal(req_join(&r), 0);
	assert_int_equal(r.offs[0], 0);
	assert_pool(&s, 1, 0);
	blockpool_sync_fini(&s);
}

/*
 * The timeout expires while a block is being handed over: the test holds
 * the pool's lock past the waiter's deadline, so the waiter's timed wait
 * has expired and it is blocked on the lock when the free runs.  Whichever
 * thread gets the lock first, the waiter must either hold the block and
 * return 0 or hold nothing and return -EAGAIN.
 */
static void test_timeout_handoff_race(void **state)
{
	const int timeout = 5;
	struct blockpool_sync s;
	struct timespec queued, nap = { 0, 1000000 };
	struct req r;
	uint64_t off;

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 1, 16), 0);
	for (int round = 0; round < 20; round++) {
		assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 0), 0);
		req_start(&r, &s, REQ_ONE, 1, 0, timeout);
		if (wait_for_queued(&s, 1, &r) < 0) {
			/* Timed out before it could be raced: nothing to see. */
			assert_int_equal(req_join(&r), -EAGAIN);
			assert_int_equal(blockpool_sync_free(&s, off), 0);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &queued);
		pthread_mutex_lock(&s.lock);
		while (elapsed_ms(&queued) < timeout + 5)
			nanosleep(&nap, NULL);
		pthread_mutex_unlock(&s.lock);
		assert_int_equal(blockpool_sync_free(&s, off), 0);

		switch (req_join(&r)) {
		case 0:
			assert_int_equal(r.offs[0], 0);
			assert_pool(&s, 1, 0);
			assert_int_equal(blockpool_sync_free(&s, r.offs[0]), 0);
			break;
		case -EAGAIN:
			assert_int_equal(r.offs[0], SENTINEL);
			assert_pool(&s, 0, 0);
			break;
		default:
			fail_msg("round %d: unexpected result %d", round, r.rc);
		}
	}
	assert_pool(&s, 0, 0);
	blockpool_sync_fini(&s);
}

/* (e) A multi-block waiter is not overtaken by later single requests. */
static void test_multi_block_not_overtaken(void **state)
{
	struct blockpool_sync s;
	struct req multi, single;
	uint64_t offs[4], off;
	int seen[4] = { 0 };

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 4, 16), 0);
	assert_int_equal(blockpool_sync_alloc_n(&s, 4, offs, 0, 0), 0);
	req_start(&multi, &s, REQ_N, 3, 0, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 1);

	assert_int_equal(blockpool_sync_free(&s, offs[0]), 0);
	assert_pool(&s, 3, 1);
	assert_int_equal(blockpool_sync_free(&s, offs[1]), 0);
	assert_pool(&s, 2, 1);
	assert_int_equal(atomic_load(&multi.done), 0);

	/* Two blocks are free, yet they are the waiter's to come. */
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, BLOCKPOOL_SYNC_NO_WAIT), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 19, BLOCKPOOL_SYNC_NO_WAIT), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 0, 20), -EAGAIN);
	assert_pool(&s, 2, 1);

	req_start(&single, &s, REQ_ONE, 1, 0, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 2);
	assert_pool(&s, 2, 2);

	assert_int_equal(blockpool_sync_free(&s, offs[2]), 0);
	assert_int_equal(req_join(&multi), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(multi.offs[i] % 64 == 0 && multi.offs[i] < 4 * 64);
		assert_int_equal(seen[multi.offs[i] / 64], 0);
		seen[multi.offs[i] / 64] = 1;
	}
	assert_int_equal(seen[3], 0);
	assert_pool(&s, 4, 1);
	assert_int_equal(atomic_load(&single.done), 0);

	assert_int_equal(blockpool_sync_free(&s, offs[3]), 0);
	assert_int_equal(req_join(&single), 0);
	assert_int_equal(single.offs[0], offs[3]);
	assert_pool(&s, 4, 0);
	blockpool_sync_fini(&s);
}

/* A contiguous waiter waits for adjacency, not just for enough blocks. */
static void test_contig_waiter(void **state)
{
	struct blockpool_sync s;
	struct req r;
	uint64_t offs[4];

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 4, 16), 0);
	assert_int_equal(blockpool_sync_alloc_n(&s, 4, offs, 0, 0), 0);
	req_start(&r, &s, REQ_CONTIG, 2, 0, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 1);

	assert_int_equal(blockpool_sync_free(&s, 0), 0);
	assert_int_equal(blockpool_sync_free(&s, 128), 0);
	assert_pool(&s, 2, 1);
	assert_int_equal(atomic_load(&r.done), 0);

	assert_int_equal(blockpool_sync_free(&s, 64), 0);
	assert_int_equal(req_join(&r), 0);
	assert_int_equal(r.offs[0], 0);
	assert_pool(&s, 3, 0);
	assert_int_equal(blockpool_sync_free_contig(&s, 0, 2), 0);
	assert_int_equal(blockpool_sync_free(&s, 192), 0);
	assert_pool(&s, 0, 0);
	blockpool_sync_fini(&s);
}

/* A more urgent request is ordered ahead of a queued waiter, so it may take
 * free blocks that the waiter cannot use yet. */
static void test_more_urgent_goes_first(void **state)
{
	struct blockpool_sync s;
	struct req multi;
	uint64_t offs[3], off;

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 3, 16), 0);
	assert_int_equal(blockpool_sync_alloc_n(&s, 3, offs, 0, 0), 0);
	req_start(&multi, &s, REQ_N, 3, 5, BLOCKPOOL_SYNC_FOREVER);
	wait_for_waiters(&s, 1);
	assert_int_equal(blockpool_sync_free(&s, offs[0]), 0);

	assert_int_equal(blockpool_sync_alloc(&s, &off, 5, BLOCKPOOL_SYNC_NO_WAIT), -ENOMEM);
	assert_int_equal(blockpool_sync_alloc(&s, &off, 4, BLOCKPOOL_SYNC_NO_WAIT), 0);
	assert_int_equal(off, offs[0]);
	assert_pool(&s, 3, 1);

	assert_int_equal(blockpool_sync_free_n(&s, 3, (uint64_t[]){ offs[1], off, offs[2] }), 0);
	assert_int_equal(req_join(&multi), 0);
	assert_pool(&s, 3, 0);
	assert_int_equal(blockpool_sync_free_n(&s, 3, multi.offs), 0);
	assert_pool(&s, 0, 0);
	blockpool_sync_fini(&s);
}

/* When the head waiter gives up, the waiters behind it are served. */
static void test_head_timeout_serves_next(void **state)
{
	struct blockpool_sync s;
	struct req multi, single;
	uint64_t offs[2];

	(void)state;
	assert_int_equal(blockpool_sync_init(&s, 64, 2, 16), 0);
	assert_int_equal(blockpool_sync_alloc_n(&s, 2, offs, 0, 0), 0);
	req_start(&multi, &s, REQ_N, 2, 0, 300);
	wait_for_queued(&s, 1, &multi);
	assert_int_equal(blockpool_sync_free(&s, offs[0]), 0);
	req_start(&single, &s, REQ_ONE, 1, 0, BLOCKPOOL_SYNC_FOREVER);
	/* Normally the single request queues behind the multi one; if the
	 * multi one has already timed out, it is served at once instead. */
	while (stat_of(&s).num_waiters != 2 && !atomic_load(&multi.done))
		pause_briefly();

	assert_int_equal(req_join(&multi), -EAGAIN);
	assert_int_equal(req_join(&single), 0);
	assert_int_equal(single.offs[0], offs[0]);
	assert_pool(&s, 2, 0);
	blockpool_sync_fini(&s);
}

/*
 * (f) and a variant with timeouts: threads allocate and free as fast as
 * they can; each block is claimed in a shared owner table so that a block
 * handed to two threads at once is noticed.  Failures are counted, never
 * asserted, off the main thread.
 */

#define HAMMER_THREADS 4
#define HAMMER_BLOCKS 4
#define HAMMER_ITERATIONS 3000

struct hammer {
	struct blockpool_sync *s;
	int id;
	int use_timeouts;
	uint32_t rng;
	atomic_int *owner;
	atomic_int *errors;
	unsigned long granted;
	unsigned long refused;
};

static uint32_t hammer_rand(struct hammer *h)
{
	h->rng = h->rng * 1103515245u + 12345u;
	return h->rng >> 8;
}

static void hammer_claim(struct hammer *h, uint64_t off, int take)
{
	uint64_t i = off / 64;
	int expect = take ? 0 : h->id;

	if (off % 64 || i >= HAMMER_BLOCKS ||
	    !atomic_compare_exchange_strong(&h->owner[i], &expect, take ? h->id : 0))
		atomic_fetch_add(h->errors, 1);
}

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t offs[HAMMER_BLOCKS];

	for (int it = 0; it < HAMMER_ITERATIONS; it++) {
		uint32_t r = hammer_rand(h);
		size_t n = 1 + (r >> 4) % 3;
		int prio = WAITQ_PRIO_MIN + (int)((r >> 8) % WAITQ_LEVELS);
		int timeout = BLOCKPOOL_SYNC_FOREVER;
		int contig = 0, rc;

		if (h->use_timeouts)
			timeout = (int)((r >> 16) % 4) - 1;
		switch (r % 3) {
		case 0:
			n = 1;
			rc = blockpool_sync_alloc(h->s, &offs[0], prio, timeout);
			break;
		case 1:
			rc = blockpool_sync_alloc_n(h->s, n, offs, prio, timeout);
			break;
		default:
			contig = 1;
			rc = blockpool_sync_alloc_contig(h->s, n, &offs[0], prio, timeout);
			for (size_t k = 1; rc == 0 && k < n; k++)
				offs[k] = offs[0] + k * 64;
			break;
		}
		if (rc == -EAGAIN || rc == -ENOMEM) {
			if (!h->use_timeouts)
				atomic_fetch_add(h->errors, 1);
			h->refused++;
			continue;
		}
		if (rc != 0) {
			atomic_fetch_add(h->errors, 1);
			continue;
		}
		h->granted++;
		for (size_t k = 0; k < n; k++)
			hammer_claim(h, offs[k], 1);
		sched_yield();
		for (size_t k = 0; k < n; k++)
			hammer_claim(h, offs[k], 0);
		if (contig)
			rc = blockpool_sync_free_contig(h->s, offs[0], n);
		else if (n == 1)
			rc = blockpool_sync_free(h->s, offs[0]);
		else
			rc = blockpool_sync_free_n(h->s, n, offs);
		if (rc != 0)
			atomic_fetch_add(h->errors, 1);
	}
	return NULL;
}

static void hammer_run(int use_timeouts)
{
	struct blockpool_sync s;
	struct hammer h[HAMMER_THREADS];
	pthread_t threads[HAMMER_THREADS];
	atomic_int owner[HAMMER_BLOCKS];
	atomic_int errors = 0;
	unsigned long granted = 0;
	uint64_t first;

	assert_int_equal(blockpool_sync_init(&s, 64, HAMMER_BLOCKS, 16), 0);
	for (int i = 0; i < HAMMER_BLOCKS; i++)
		atomic_init(&owner[i], 0);
	for (int i = 0; i < HAMMER_THREADS; i++) {
		h[i] = (struct hammer){
			.s = &s, .id = i + 1, .use_timeouts = use_timeouts,
			.rng = 0x9e3779b9u * (uint32_t)(i + 1), .owner = owner, .errors = &errors,
		};
		assert_int_equal(pthread_create(&threads[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < HAMMER_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		granted += h[i].granted;
	}

	assert_int_equal(atomic_load(&errors), 0);
	assert_true(granted > 0);
	if (!use_timeouts)
		assert_int_equal(granted, HAMMER_THREADS * HAMMER_ITERATIONS);
	assert_pool(&s, 0, 0);
	for (int i = 0; i < HAMMER_BLOCKS; i++)
		assert_int_equal(atomic_load(&owner[i]), 0);
	assert_int_equal(blockpool_sync_alloc_contig(&s, HAMMER_BLOCKS, &first, 0, 0), 0);
	assert_int_equal(first, 0);
	blockpool_sync_fini(&s);
}

static void test_hammer_forever(void **state)
{
	(void)state;
	hammer_run(0);
}

static void test_hammer_timeouts(void **state)
{
	(void)state;
	hammer_run(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_argument_errors),
		cmocka_unit_test(test_no_wait_empty_pool),
		cmocka_unit_test(test_priority_wins),
		cmocka_unit_test(test_fifo_within_priority),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_timed_wait_granted),
		cmocka_unit_test(test_timeout_handoff_race),
		cmocka_unit_test(test_multi_block_not_overtaken),
		cmocka_unit_test(test_contig_waiter),
		cmocka_unit_test(test_more_urgent_goes_first),
		cmocka_unit_test(test_head_timeout_serves_next),
		cmocka_unit_test(test_hammer_forever),
		cmocka_unit_test(test_hammer_timeouts),
	};

	/* A lost wake-up would hang a test forever; make it a failure. */
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
