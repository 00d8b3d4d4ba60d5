/*
 * The block cache (`[pool] cache = N`) against a real shmpoold: the lanes a
 * pool descriptor names, refills with extra blocks, cache hits and cached
 * frees that send nothing, the daemon taking cached blocks back (a
 * shortage, a report, quotas, a closing client, a shared block), and lanes
 * a client breaks.  Raw tests write the lane exactly as libshmpool does,
 * through the client's own mapping of its ring.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

static struct harness h;

/* Pool ids follow the file: c = 0, u = 1, q = 2, c2 = 3, z = 4. */
static const char config[] =
	"[region r0]\n"
	"size = 1M\n"
	"[pool c]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 10\n"
	"cache = 4\n"
	"[pool u]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 4\n"
	"[pool q]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 16\n"
	"cache = 8\n"
	"max_blocks_per_client = 5\n"
	"[pool c2]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 8\n"
	"cache = 2\n"
	"[region r1]\n"
	"size = 1M\n"
	"scrub = always\n"
	"[pool z]\n"
	"region = r1\n"
	"block_size = 256\n"
	"blocks = 4\n"
	"cache = 4\n";

#define POOL_C 0u
#define POOL_U 1u
#define POOL_Q 2u
#define POOL_C2 3u
#define POOL_Z 4u
#define CACHE_C 4u

/* A block alloc of count asking for up to stock more: the status, or the
 * number of indices granted (into idx). */
static int raw_alloc(struct harness_ring *c, uint32_t pool, uint32_t count, uint32_t stock, uint32_t *idx)
{
	struct proto_block_alloc m = { .pool_id = pool, .count = count, .stock = stock };
	union {
		struct proto_block_reply r;
		unsigned char b[sizeof(struct proto_block_reply) + 80 * sizeof(uint32_t)];
	} in;
	long n;

	harness_hdr_set(&m.hdr, PROTO_BLOCK_ALLOC, 3);
	assert_int_equal(proto_send(c->fd, &m, sizeof(m), -1, 0), 0);
	n = harness_recv(c->fd, &in, sizeof(in), NULL);
	assert_true(n >= (long)sizeof(struct proto_reply_hdr));
	assert_int_equal(in.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
	if (in.r.r.status < 0)
		return in.r.r.status;
	assert_int_equal(in.r.count, in.r.nindices);
	memcpy(idx, in.r.index, in.r.nindices * sizeof(uint32_t));
	return (int)in.r.nindices;
}

static uint32_t slot_get(const struct harness_ring *c, uint32_t lane, uint32_t s)
{
	return __atomic_load_n(&c->ring->stock[lane][s], __ATOMIC_ACQUIRE);
}

/* Put v in a slot and mark its lane, as the library does. */
static void slot_set(struct harness_ring *c, uint32_t lane, uint32_t s, uint32_t v)
{
	__atomic_store_n(&c->ring->stock[lane][s], v, __ATOMIC_RELEASE);
	__atomic_fetch_or(&c->ring->stock_mask, 1u << lane, __ATOMIC_SEQ_CST);
}

/* Lanes go to pools with a cache, one per pool, in the order opened; every
 * slot starts empty; a pool opened again keeps its lane. */
static void test_lanes(void **state)
{
	struct harness_ring a;
	struct proto_pool_desc d;

	(void)state;
	harness_ring_hello(&h, &a);
	for (uint32_t k = 0; k < PROTO_STOCK_LANES; k++)
		for (uint32_t s = 0; s < PROTO_STOCK_SLOTS; s++)
			assert_int_equal(slot_get(&a, k, s), PROTO_STOCK_EMPTY);
	d = harness_pool_open(a.fd, "u", POOL_U);
	assert_int_equal(d.cache_lane, PROTO_STOCK_NONE);
	assert_int_equal(d.cache_slots, 0);
	d = harness_pool_open(a.fd, "c2", POOL_C2);
	assert_int_equal(d.cache_lane, 0);
	assert_int_equal(d.cache_slots, 2);
	d = harness_pool_open(a.fd, "c", POOL_C);
	assert_int_equal(d.cache_lane, 1);
	assert_int_equal(d.cache_slots, CACHE_C);
	d = harness_pool_open(a.fd, "c2", POOL_C2);
	assert_int_equal(d.cache_lane, 0);
	/* Zeroed on every free: a cached free would not be. */
	d = harness_pool_open(a.fd, "z", POOL_Z);
	assert_int_equal(d.cache_lane, PROTO_STOCK_NONE);
	assert_int_equal(d.cache_slots, 0);
	harness_ring_close(&a);
}

/* A refill grants the block and up to stock more, within the lane; the
 * extras are held by the connection until they come back. */
static void test_refill(void **state)
{
	struct harness_ring a, b;
	uint32_t idx[80];
	struct proto_stats_reply s0, s1;

	(void)state;
	harness_ring_hello(&h, &a);
	harness_ring_hello(&h, &b);
	harness_pool_open(a.fd, "c", POOL_C);
	harness_stats(b.fd, 10, &s0);
	/* More than the lane holds is cut to the lane. */
	assert_int_equal(raw_alloc(&a, POOL_C, 1, 40, idx), 1 + (int)CACHE_C);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < i; j++)
			assert_int_not_equal(idx[i], idx[j]);
	assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 5);
	/* Into the lane as the library puts them: a report takes them back. */
	for (uint32_t s = 0; s < CACHE_C; s++)
		slot_set(&a, 0, s, idx[1 + s]);
	assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 1);
	for (uint32_t s = 0; s < CACHE_C; s++)
		assert_int_equal(slot_get(&a, 0, s), PROTO_STOCK_EMPTY);
	assert_int_equal(a.ring->stock_mask, 0);
	/* A lane not marked in stock_mask is not looked at: its block stays
	 * held, until the mark. */
	assert_int_equal(raw_alloc(&a, POOL_C, 1, 0, idx), 1);
	__atomic_store_n(&a.ring->stock[0][0], idx[0], __ATOMIC_RELEASE);
	assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 2);
	assert_int_equal(slot_get(&a, 0, 0), idx[0]);
	__atomic_fetch_or(&a.ring->stock_mask, 1u, __ATOMIC_SEQ_CST);
	assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 1);
	assert_int_equal(slot_get(&a, 0, 0), PROTO_STOCK_EMPTY);
	harness_stats(b.fd, 11, &s1);
	assert_int_equal(s1.allocs - s0.allocs, 6);
	assert_int_equal(s1.frees - s0.frees, 5);
	assert_int_equal(s1.bad_messages, s0.bad_messages);
	/* A pool without a cache grants no extras; nor does a bad stock. */
	harness_pool_open(a.fd, "u", POOL_U);
	assert_int_equal(raw_alloc(&a, POOL_U, 1, 4, idx), 1);
	assert_int_equal(raw_alloc(&a, POOL_C, 1, PROTO_STOCK_SLOTS + 1, idx), -EINVAL);
	/* Extras come from what the request leaves: 9 free, 7 asked. */
	assert_int_equal(raw_alloc(&a, POOL_C, 7, 4, idx), 9);
	assert_int_equal(raw_alloc(&a, POOL_C, 1, 4, idx), -ENOMEM);
	harness_ring_close(&a);
	harness_ring_close(&b);
}

/* The library: a hit and a cached free send nothing; the daemon's figures
 * move only when blocks move between it and the connection. */
static void test_library_hits(void **state)
{
	shmpool_t *c = testutil_connect(&h);
	shmpool_pool_t *p = testutil_pool_open(c, "c");
	struct proto_stats_reply s0, s1, s2;
	void *blk[CACHE_C + 1];
	struct harness_ring r;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_stats(r.fd, 20, &s0);
	for (uint32_t i = 0; i < CACHE_C + 1; i++)
		assert_int_equal(shmpool_block_alloc(p, &blk[i], SHMPOOL_NO_WAIT), 0);
	for (uint32_t i = 0; i < CACHE_C + 1; i++)
		for (uint32_t j = 0; j < i; j++)
			assert_ptr_not_equal(blk[i], blk[j]);
	harness_stats(r.fd, 21, &s1);
	/* One request: the block and four for the cache, all in use now. */
	assert_int_equal(s1.allocs - s0.allocs, CACHE_C + 1);
	assert_int_equal(s1.frees - s0.frees, 0);
	/* Four frees go to the cache, the fifth finds it full. */
	for (uint32_t i = 0; i < CACHE_C + 1; i++) {
		memset(blk[i], (int)i, 256);
		assert_int_equal(shmpool_block_free(p, blk[i]), 0);
	}
	/* The next allocations come from the cache, last freed first. */
	for (uint32_t i = 0; i < CACHE_C; i++) {
		void *x;

		assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
		assert_ptr_equal(x, blk[CACHE_C - 1 - i]);
		blk[CACHE_C - 1 - i] = x;
	}
	for (uint32_t i = 0; i < CACHE_C; i++)
		assert_int_equal(shmpool_block_free(p, blk[i]), 0);
	/* Freed twice: the daemon, asked, takes the cache back first and
	 * finds the block free. */
	assert_int_equal(shmpool_block_free(p, blk[0]), -EFAULT);
	harness_stats(r.fd, 22, &s2);
	/* Every block is free again, and nothing else moved. */
	assert_int_equal(s2.allocs - s1.allocs, 0);
	assert_int_equal(s2.frees - s1.frees, CACHE_C + 1);
	testutil_expect_stat(p, 0, 0);
	harness_ring_close(&r);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
}

/* A multi-block allocation comes from the cache when it holds enough, all
 * or nothing; with too few, the request refills the cache. */
static void test_library_batch(void **state)
{
	shmpool_t *c = testutil_connect(&h);
	shmpool_pool_t *p = testutil_pool_open(c, "c");
	struct proto_stats_reply s0, s1, s2;
	void *a[3], *b[2], *e[CACHE_C];
	struct harness_ring r;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_stats(r.fd, 25, &s0);
	/* Three asked, four more for the cache: 7 of 10. */
	assert_int_equal(shmpool_blocks_alloc(p, 3, a, SHMPOOL_NO_WAIT), 0);
	/* Two hits, then two more than the cache has left (two): a request,
	 * which gets the blocks and no extras (one block free after it). */
	assert_int_equal(shmpool_blocks_alloc(p, 2, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 3, e, SHMPOOL_NO_WAIT), 0);
	harness_stats(r.fd, 26, &s1);
	/* The stats request took the two left in the cache back. */
	assert_int_equal(s1.allocs - s0.allocs, 7 + 3);
	assert_int_equal(s1.frees - s0.frees, 2);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			assert_ptr_not_equal(a[i], b[j]);
	assert_int_equal(shmpool_blocks_free(p, 3, e), 0);
	assert_int_equal(shmpool_blocks_free(p, 2, b), 0);
	assert_int_equal(shmpool_blocks_free(p, 3, a), 0);
	harness_stats(r.fd, 27, &s2);
	assert_int_equal(s2.frees - s1.frees, 8);
	testutil_expect_stat(p, 0, 0);
	harness_ring_close(&r);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
}

/* A shortage takes every cached block of the pool back, sets the pool's
 * kick, and while it is set a refill brings no extras. */
static void test_shortage_steals(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h);
	shmpool_pool_t *pa = testutil_pool_open(a, "c"), *pb = testutil_pool_open(b, "c");
	struct proto_stats_reply s0, s1;
	void *x, *all[10];
	struct harness_ring r;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_pool_open(r.fd, "c", POOL_C);
	assert_int_equal(harness_kick_bit(r.ring, POOL_C), 0);
	/* a holds one block and caches four. */
	assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
	/* b needs all nine others: it gets them at once. */
	assert_int_equal(shmpool_blocks_alloc(pb, 9, all, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(harness_kick_bit(r.ring, POOL_C), 1);
	/* a's cache is empty and the pool is too. */
	assert_int_equal(shmpool_block_alloc(pa, &all[9], SHMPOOL_NO_WAIT), -ENOMEM);
	/* b's frees go by its socket while the kick is set. */
	assert_int_equal(shmpool_blocks_free(pb, 9, all), 0);
	testutil_barrier(b);
	harness_stats(r.fd, 30, &s0);
	assert_int_equal(shmpool_block_alloc(pa, &all[0], SHMPOOL_NO_WAIT), 0);
	harness_stats(r.fd, 31, &s1);
	assert_int_equal(s1.allocs - s0.allocs, 1);
	/* While the kick is set, a's frees are not cached but sent. */
	assert_int_equal(shmpool_block_free(pa, all[0]), 0);
	assert_int_equal(shmpool_block_free(pa, x), 0);
	testutil_barrier(a);
	testutil_expect_stat(pb, 0, 0);
	harness_ring_close(&r);
	shmpool_pool_close(pa);
	shmpool_pool_close(pb);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
}

/* A waiter queued behind a shortage is served from cached blocks at once. */
static void test_waiter_gets_cached(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h);
	shmpool_pool_t *pa = testutil_pool_open(a, "c"), *pb = testutil_pool_open(b, "c");
	void *x, *all[10];

	(void)state;
	assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(pa, x), 0);
	/* a caches the block back: its five blocks are in its cache. */
	assert_int_equal(shmpool_blocks_alloc(pb, 10, all, SHMPOOL_FOREVER), 0);
	testutil_expect_stat(pb, 10, 0);
	assert_int_equal(shmpool_blocks_free(pb, 10, all), 0);
	testutil_barrier(b);
	testutil_expect_stat(pa, 0, 0);
	shmpool_pool_close(pa);
	shmpool_pool_close(pb);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
}

struct waiting {
	shmpool_pool_t *pool;
	void *block;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct waiting *w = arg;

	w->rc = shmpool_block_alloc(w->pool, &w->block, 3000);
	return NULL;
}

/* While an allocation waits on the pool, a free of it is not cached but
 * sent, and serves the waiter at once. */
static void test_waiter_served_by_free(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h), *m = testutil_connect(&h);
	shmpool_pool_t *pa = testutil_pool_open(a, "c"), *pm = testutil_pool_open(m, "c");
	struct waiting w = { .pool = testutil_pool_open(b, "c") };
	void *all[10];
	pthread_t t;

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(pa, 10, all, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	testutil_wait_waiters(pm, 1);
	memset(all[0], 0x77, 256);
	assert_int_equal(shmpool_block_free(pa, all[0]), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	/* The very block (b maps the region at an address of its own). */
	assert_int_equal(((unsigned char *)w.block)[255], 0x77);
	assert_int_equal(shmpool_block_free(w.pool, w.block), 0);
	assert_int_equal(shmpool_blocks_free(pa, 9, all + 1), 0);
	testutil_barrier(a);
	testutil_barrier(b);
	testutil_expect_stat(pm, 0, 0);
	shmpool_pool_close(pa);
	shmpool_pool_close(pm);
	shmpool_pool_close(w.pool);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
	shmpool_disconnect(m);
}

/* Cached blocks count against quotas, and come back before a refusal. */
static void test_quota(void **state)
{
	shmpool_t *a = testutil_connect(&h);
	shmpool_pool_t *q = testutil_pool_open(a, "q");
	struct proto_stats_reply s0, s1;
	void *x, *run;
	struct harness_ring r;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_stats(r.fd, 40, &s0);
	/* max_blocks_per_client = 5: the refill stops at the quota, so
	 * a holds one block and caches four. */
	assert_int_equal(shmpool_block_alloc(q, &x, SHMPOOL_NO_WAIT), 0);
	/* A run of four (never from the cache) needs the cached ones back
	 * first. */
	assert_int_equal(shmpool_blocks_alloc_contiguous(q, 4, &run, SHMPOOL_NO_WAIT), 0);
	harness_stats(r.fd, 41, &s1);
	assert_int_equal(s1.allocs - s0.allocs, 9);
	assert_int_equal(s1.frees - s0.frees, 4);
	assert_int_equal(s1.refusals, s0.refusals);
	/* Now a holds five: the cache is empty and the quota is met. */
	assert_int_equal(shmpool_block_alloc(q, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_blocks_free_contiguous(q, run, 4), 0);
	testutil_expect_stat(q, 1, 0);
	harness_ring_close(&r);
	shmpool_pool_close(q);
	shmpool_disconnect(a);
}

/* A block shared through a ref: its pool's frees are not cached while it
 * is, so its owner cannot hand it out again while another holds it. */
static void test_shared_not_cached(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h);
	shmpool_pool_t *pa = testutil_pool_open(a, "c");
	shmpool_ref_t ref;
	void *x, *y, *bx;

	(void)state;
	assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
	memset(x, 0x5a, 256);
	assert_int_equal(shmpool_ref(a, x, &ref), 0);
	assert_int_equal(shmpool_attach(b, &ref, &bx), 0);
	assert_int_equal(shmpool_block_free(pa, x), 0);
	/* a's next block is another one, and b's data is intact. */
	assert_int_equal(shmpool_block_alloc(pa, &y, SHMPOOL_NO_WAIT), 0);
	assert_ptr_not_equal(y, x);
	memset(y, 0x11, 256);
	for (int i = 0; i < 256; i++)
		assert_int_equal(((unsigned char *)bx)[i], 0x5a);
	testutil_expect_stat(pa, 2, 0);
	assert_int_equal(shmpool_free(b, bx), 0);
	/* b's free went by b's socket: let the daemon read it. */
	testutil_barrier(b);
	assert_int_equal(shmpool_block_free(pa, y), 0);
	testutil_expect_stat(pa, 0, 0);
	shmpool_pool_close(pa);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
}

/* A block shared before any connection had a lane for its pool: the first
 * lane sets the pool's kick, so no cache takes frees of the pool. */
static void test_share_before_lane(void **state)
{
	struct proto_ref_req m = { .region_id = 0 };
	struct proto_ref_reply rr;
	struct proto_attach at;
	struct proto_heap_reply ar;
	struct harness_ring d, e, w;
	uint32_t idx[1];
	int rfd;

	(void)state;
	harness_ring_hello(&h, &d);
	harness_ring_hello(&h, &e);
	harness_ring_hello(&h, &w);
	/* d allocates by id, without the descriptor (and so without a lane);
	 * c is the first pool of r0, its blocks 256 bytes apart. */
	assert_int_equal(raw_alloc(&d, POOL_C, 1, 0, idx), 1);
	m.offset = (uint64_t)idx[0] * 256;
	harness_hdr_set(&m.hdr, PROTO_REF, 4);
	assert_int_equal(proto_send(d.fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(d.fd, &rr, sizeof(rr), NULL), (long)sizeof(rr));
	assert_int_equal(rr.r.status, 0);
	harness_hdr_set(&at.hdr, PROTO_ATTACH, 5);
	memcpy(at.ref, rr.ref, sizeof(at.ref));
	assert_int_equal(proto_send(e.fd, &at, sizeof(at), -1, 0), 0);
	assert_int_equal(harness_recv(e.fd, &ar, sizeof(ar), &rfd), (long)sizeof(ar));
	assert_int_equal(ar.r.status, 0);
	if (rfd >= 0)
		close(rfd);
	/* The attach gave e the pool's first lane, and with it the kick. */
	assert_int_equal(ar.pool.cache_lane, 0);
	assert_int_equal(harness_kick_bit(e.ring, POOL_C), 1);
	assert_int_equal(harness_kick_bit(w.ring, POOL_C), 1);
	harness_ring_close(&d);
	harness_ring_close(&e);
	harness_ring_close(&w);
}

/* A client that dies with blocks cached: they count as frees, not as memory
 * reclaimed from the dead. */
static void test_dead_client_cached(void **state)
{
	shmpool_t *mon = testutil_connect(&h);
	shmpool_pool_t *mp = testutil_pool_open(mon, "c");
	struct proto_stats_reply s0, s1;
	struct harness_ring r;
	pid_t pid;
	int status;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_stats(r.fd, 50, &s0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmpool_t *c = NULL;
		shmpool_pool_t *p = NULL;
		void *x, *y;

		if (shmpool_connect(h.socket, &c) < 0 || shmpool_pool_open(c, "c", &p) < 0 ||
		    shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT) < 0 ||
		    shmpool_block_alloc(p, &y, SHMPOOL_NO_WAIT) < 0 || shmpool_block_free(p, x) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	testutil_expect_stat(mp, 0, 0);
	harness_stats(r.fd, 51, &s1);
	harness_ring_close(&r);
	/* Five granted; y alone was reclaimed, the four cached were freed. */
	assert_int_equal(s1.allocs - s0.allocs, 5);
	assert_int_equal(s1.frees - s0.frees, 5);
	assert_int_equal(s1.reclaimed_bytes - s0.reclaimed_bytes, 256);
	shmpool_pool_close(mp);
	shmpool_disconnect(mon);
}

/* A lane naming a block its client does not hold, or one twice: the valid
 * blocks are freed, the client is hung up, and nothing else is touched. */
static void test_bad_lane(void **state)
{
	struct harness_ring b;
	struct proto_stats_reply s0, s1;
	uint32_t other[2];

	(void)state;
	harness_ring_hello(&h, &b);
	harness_pool_open(b.fd, "c", POOL_C);
	/* b holds two blocks a lane might name. */
	assert_int_equal(raw_alloc(&b, POOL_C, 2, 0, other), 2);
	harness_stats(b.fd, 60, &s0);
	for (int how = 0; how < 3; how++) {
		uint32_t idx[8];
		struct harness_ring a;
		char buf[64];
		long n;

		harness_ring_hello(&h, &a);
		harness_pool_open(a.fd, "c", POOL_C);
		assert_int_equal(raw_alloc(&a, POOL_C, 1, 0, idx), 1);
		slot_set(&a, 0, 0, idx[0]);
		if (how == 0)
			slot_set(&a, 0, 1, other[0]);     /* held by b */
		else if (how == 1)
			slot_set(&a, 0, 1, idx[0]);       /* twice */
		else
			slot_set(&a, 0, 1, 10);           /* past the pool */
		assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 2);
		n = harness_recv(a.fd, buf, sizeof(buf), NULL);
		if (n != 0 && n != -ECONNRESET)
			fail_msg("case %d: the connection got %ld, not a hang-up", how, n);
		harness_ring_close(&a);
	}
	assert_int_equal(harness_log_lines(&h, "free ring broken", "a cached block it does not hold"),
			 3);
	harness_stats(b.fd, 61, &s1);
	assert_int_equal(s1.bad_messages - s0.bad_messages, 3);
	assert_int_equal(s1.frees - s0.frees, 3);
	assert_int_equal(s1.reclaimed_bytes, s0.reclaimed_bytes);
	/* b's blocks are still b's. */
	assert_int_equal(harness_pool_stat(b.fd, POOL_C).num_used, 2);
	harness_ring_close(&b);
}

/*
 * A reload to cache = 0 stops refills at once; a pool a reload removed
 * takes the frees of its blocks, and goes with the last one.
 */
static void test_reload(void **state)
{
	shmpool_t *a = testutil_connect(&h);
	shmpool_pool_t *p = testutil_pool_open(a, "c2");
	struct proto_stats_reply s0, s1;
	void *x, *y;
	struct harness_ring r;

	(void)state;
	assert_int_equal(shmpool_async_errors(a), 0);
	assert_int_equal(shmpool_async_errors(NULL), 0);
	harness_ring_hello(&h, &r);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	harness_reload_with(&h, "cache = 2\n[region r1]", "cache = 0\n[region r1]",
			    "pool 'c2': cache changed to 0");
	/* The reload took the two cached blocks back; no refill now. */
	harness_stats(r.fd, 80, &s0);
	assert_int_equal(shmpool_block_alloc(p, &y, SHMPOOL_NO_WAIT), 0);
	harness_stats(r.fd, 81, &s1);
	assert_int_equal(s1.allocs - s0.allocs, 1);
	harness_reload_with(&h, "[pool c2]", "[pool gone]", "pool 'c2' retired");
	assert_int_equal(shmpool_block_free(p, x), 0);
	assert_int_equal(harness_log_lines(&h, "retired pool (id 3)", NULL), 0);
	assert_int_equal(shmpool_block_free(p, y), 0);
	/* A call that waits brings any report sent before its reply. */
	testutil_barrier(a);
	assert_int_equal(shmpool_async_errors(a), 0);
	assert_int_equal(harness_log_lines(&h, "retired pool (id 3) is unused now and was removed",
					   NULL), 1);
	harness_ring_close(&r);
	shmpool_pool_close(p);
	shmpool_disconnect(a);
}

/*
 * Races between the library and the daemon over one lane: two threads of a
 * connection allocate and free (one block, two blocks) through its cache
 * while another process keeps emptying every cache (pool stats) and now
 * and then needs most of the pool.  Every holder stamps its blocks and checks the stamp before it
 * frees them, so a block handed to two holders at once shows; in the end
 * every block is free and no lane was found broken.
 */
#define STRESS_SECONDS 1.5

struct stresser {
	shmpool_pool_t *pool;
	uint32_t tag;
	size_t n;               /* blocks per allocation */
	long rounds, bad;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *stress_thread(void *arg)
{
	struct stresser *s = arg;
	double end = now_s() + STRESS_SECONDS;

	while (now_s() < end) {
		void *b[2];
		uint32_t stamp = s->tag << 24 | (uint32_t)(s->rounds & 0xffffff);

		if (shmpool_blocks_alloc(s->pool, s->n, b, 5) < 0)
			continue;
		for (size_t k = 0; k < s->n; k++)
			memcpy(b[k], &(uint32_t){ stamp + (uint32_t)k }, 4);
		sched_yield();
		for (size_t k = 0; k < s->n; k++)
			if (memcmp(b[k], &(uint32_t){ stamp + (uint32_t)k }, 4) != 0)
				s->bad++;
		if (shmpool_blocks_free(s->pool, s->n, b) < 0)
			s->bad++;
		s->rounds++;
	}
	return NULL;
}

static int stress_other(void)
{
	shmpool_t *c = NULL;
	shmpool_pool_t *p = NULL;
	double end = now_s() + STRESS_SECONDS;
	uint32_t round = 0;

	if (shmpool_connect(h.socket, &c) < 0 || shmpool_pool_open(c, "c", &p) < 0)
		return 1;
	while (now_s() < end) {
		struct shmpool_pool_stat st;
		void *b[8];

		if (shmpool_pool_stat(p, &st) < 0 || st.num_used + st.num_free != 10)
			return 2;
		if (++round % 64 || shmpool_blocks_alloc(p, 8, b, 100) < 0)
			continue;
		for (uint32_t k = 0; k < 8; k++)
			memcpy(b[k], &(uint32_t){ 0xee000000u | round << 3 | k }, 4);
		usleep(100);
		for (uint32_t k = 0; k < 8; k++)
			if (memcmp(b[k], &(uint32_t){ 0xee000000u | round << 3 | k }, 4) != 0)
				return 3;
		if (shmpool_blocks_free(p, 8, b) < 0)
			return 4;
	}
	shmpool_disconnect(c);
	return 0;
}

static void test_stress(void **state)
{
	shmpool_t *a = testutil_connect(&h);
	struct stresser s[2] = { { .tag = 1, .n = 1 }, { .tag = 2, .n = 2 } };
	struct proto_stats_reply s0, s1;
	pthread_t t[2];
	struct harness_ring r;
	pid_t pid;
	int status;

	(void)state;
	harness_ring_hello(&h, &r);
	harness_stats(r.fd, 90, &s0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stress_other());
	for (int k = 0; k < 2; k++) {
		s[k].pool = testutil_pool_open(a, "c");
		assert_int_equal(pthread_create(&t[k], NULL, stress_thread, &s[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(s[k].bad, 0);
		assert_true(s[k].rounds > 0);
		shmpool_pool_close(s[k].pool);
	}
	shmpool_disconnect(a);
	harness_stats(r.fd, 91, &s1);
	assert_int_equal(s1.bad_messages, s0.bad_messages);
	assert_int_equal(harness_pool_stat(r.fd, POOL_C).num_used, 0);
	harness_ring_close(&r);
}

/* The quotas of [limits] count cached blocks of every pool, and a client
 * gets them all back before one refuses it anything, heap included. */
static void test_limits(void **state)
{
	struct harness h2;
	shmpool_t *a;
	shmpool_pool_t *c, *d;
	void *x[4], *y[2], *m;

	(void)state;
	assert_int_equal(harness_start(&h2, "[limits]\nmax_blocks_per_client = 6\n"
				       "max_bytes_per_client = 8K\n"
				       "[region r0]\nsize = 1M\n"
				       "[pool c]\nregion = r0\nblock_size = 256\nblocks = 10\ncache = 4\n"
				       "[pool d]\nregion = r0\nblock_size = 256\nblocks = 10\ncache = 4\n"
				       "[region r1]\nsize = 1M\n"), 0);
	assert_int_equal(shmpool_connect(h2.socket, &a), 0);
	assert_int_equal(shmpool_pool_open(a, "c", &c), 0);
	assert_int_equal(shmpool_pool_open(a, "d", &d), 0);
	/* One block of c and four cached: five of six. */
	assert_int_equal(shmpool_block_alloc(c, &x[0], SHMPOOL_NO_WAIT), 0);
	/* Two of d need c's cache back. */
	assert_int_equal(shmpool_blocks_alloc(d, 2, y, SHMPOOL_NO_WAIT), 0);
	/* Three held: a refill of c stops at the quota, two cached, which
	 * the next two allocations take. */
	for (int i = 1; i < 4; i++)
		assert_int_equal(shmpool_block_alloc(c, &x[i], SHMPOOL_NO_WAIT), 0);
	/* d's two go into d's cache: 6 x 256 bytes counted, 4 x 256 in
	 * use, and 7000 more fit only once those two are back. */
	assert_int_equal(shmpool_blocks_free(d, 2, y), 0);
	assert_int_equal(shmpool_alloc(a, 0, 7000, &m), 0);
	assert_int_equal(shmpool_free(a, m), 0);
	assert_int_equal(shmpool_blocks_free(c, 4, x), 0);
	testutil_expect_stat(c, 0, 0);
	shmpool_pool_close(c);
	shmpool_pool_close(d);
	shmpool_disconnect(a);
	assert_int_equal(harness_finish(&h2), 0);
}

/* free_ring = no: no ring, so no cache; the pool works all the same. */
static void test_no_ring_no_cache(void **state)
{
	struct harness h2;
	shmpool_t *c;
	shmpool_pool_t *p;
	struct proto_stats_reply s0, s1;
	void *x[3];
	int fd;

	(void)state;
	assert_int_equal(harness_start(&h2, "[daemon]\nfree_ring = no\n[region r0]\nsize = 1M\n"
				       "[pool c]\nregion = r0\nblock_size = 256\nblocks = 4\n"
				       "cache = 4\n"), 0);
	assert_int_equal(shmpool_connect(h2.socket, &c), 0);
	assert_int_equal(shmpool_pool_open(c, "c", &p), 0);
	fd = harness_hello(&h2, NULL);
	harness_stats(fd, 70, &s0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmpool_block_alloc(p, &x[i], SHMPOOL_NO_WAIT), 0);
	harness_stats(fd, 71, &s1);
	/* No cache: three requests, three blocks. */
	assert_int_equal(s1.allocs - s0.allocs, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmpool_block_free(p, x[i]), 0);
	testutil_expect_stat(p, 0, 0);
	close(fd);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
	assert_int_equal(harness_finish(&h2), 0);
}

static int setup(void **state)
{
	(void)state;
	return harness_start(&h, config) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return harness_finish(&h) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shortage_steals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_gets_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_served_by_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_before_lane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_client_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_ring_no_cache),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
