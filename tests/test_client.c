/*
 * The client library against a real shmpoold: every API function and every
 * row of the error table of shmpool.h, through real sockets and real mapped
 * segments.  Each test starts its own daemon, so none can see another's
 * leftovers.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmpool.h"
#include "testutil.h"

/*
 * Region ids follow the file: r0 = 0 (cacheable, heap "default"), r1 = 1
 * (non-cacheable, heap "default"), r2 = 2 (attribute dma, heap "other").
 */
static const char config[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[attributes]\n"
	"dma = 2\n"
	"[region r0]\n"
	"size = 4M\n"
	"[region r1]\n"
	"size = 1M\n"
	"attr = non-cacheable\n"
	"[region r2]\n"
	"size = 1M\n"
	"attr = dma\n"
	"[heap other]\n"
	"regions = r2\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 16\n"
	"[pool small]\n"
	"region = r1\n"
	"block_size = 100\n"
	"blocks = 8\n"
	"align = 64\n"
	"[pool big]\n"
	"attr = dma\n"
	"block_size = 64K\n"
	"blocks = 2\n"
	"[group g]\n"
	"pools = small, p, big\n"
	"[group gfit]\n"
	"pools = p, small, big\n"
	"select = fit\n"
	"[group gattr]\n"
	"pools = p, small, big\n"
	"select = attr\n";

static struct harness h;
static shmpool_t *sp;

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

/* The pool's counters, checked exactly; failures name the caller's line. */
#define expect_stat(pool, used, max_used, waiters) \
	expect_stat_at(pool, used, max_used, waiters, __FILE__, __LINE__)

static void expect_stat_at(shmpool_pool_t *pool, size_t used, size_t max_used, size_t waiters,
			   const char *file, int line)
{
	struct shmpool_pool_stat st;

	memset(&st, 0xee, sizeof(st));
	_assert_int_equal(shmpool_pool_stat(pool, &st), 0, file, line);
	_assert_int_equal(st.num_used, used, file, line);
	_assert_int_equal(st.num_free, st.num_blocks - used, file, line);
	_assert_int_equal(st.max_used, max_used, file, line);
	_assert_int_equal(st.num_waiters, waiters, file, line);
}

static size_t stat_used(shmpool_pool_t *pool)
{
	struct shmpool_pool_stat st;

	assert_int_equal(shmpool_pool_stat(pool, &st), 0);
	return st.num_used;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A call that must fail with -EAGAIN, no earlier than its timeout after it
 * began (CLOCK_MONOTONIC; there is no upper bound). */
#define expect_eagain(call, timeout_ms)                                                   \
	do {                                                                              \
		int64_t t0_ = now_ns();                                                   \
		int rc_ = (call);                                                         \
		int64_t elapsed_ = now_ns() - t0_;                                        \
                                                                                          \
		assert_int_equal(rc_, -EAGAIN);                                           \
		if (elapsed_ < (int64_t)(timeout_ms) * 1000000)                           \
			fail_msg("-EAGAIN after %lld ns, before the timeout of %d ms",    \
				 (long long)elapsed_, (int)(timeout_ms));                 \
	} while (0)

/*
 * What ptr (memory held by a) is called in b's mappings: b attaches it
 * through a ref and lets go again.  Regions are mapped at different
 * addresses in each connection, so this is how a test names another
 * connection's memory.
 */
static ptrdiff_t mapping_delta(shmpool_t *a, void *ptr, shmpool_t *b)
{
	shmpool_ref_t ref;
	void *there = NULL;

	assert_int_equal(shmpool_ref(a, ptr, &ref), 0);
	assert_int_equal(shmpool_attach(b, &ref, &there), 0);
	assert_non_null(there);
	assert_int_equal(shmpool_free(b, there), 0);
	return (char *)there - (char *)ptr;
}

/* ------------------------------------------------------------------ */

static void test_connect_errors(void **state)
{
	char path[PATH_MAX + 32], longpath[300];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	shmpool_t *c = (shmpool_t *)&c;
	int fd, n;

	(void)state;
	snprintf(path, sizeof(path), "%s/none/s.sock", h.dir);
	assert_int_equal(shmpool_connect(path, &c), -ENOENT);
	assert_int_equal(shmpool_connect(h.socket, NULL), -EINVAL);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(shmpool_connect(longpath, &c), -ENAMETOOLONG);

	/* A socket file nobody listens on any more. */
	n = snprintf(path, sizeof(path), "%s/dead.sock", h.dir);
	assert_true(n > 0 && (size_t)n < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, (size_t)n + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(shmpool_connect(path, &c), -ECONNREFUSED);
	unlink(path);

	shmpool_disconnect(NULL);
	c = testutil_connect(&h);
	shmpool_disconnect(c);
}

static void test_strerror(void **state)
{
	static const int codes[] = {
		ENOMEM, EAGAIN, EINVAL, EFAULT, EPERM, EEXIST, ENOENT, EBUSY, ECONNRESET,
		ENOTCONN, ECANCELED, ESTALE,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = shmpool_strerror(-codes[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "Unknown error");
		/* The sign does not matter. */
		assert_string_equal(s, shmpool_strerror(codes[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, shmpool_strerror(-codes[j]));
	}
	assert_non_null(shmpool_strerror(0));
	assert_non_null(shmpool_strerror(-99999));
}

static void test_pool_open(void **state)
{
	shmpool_pool_t *p = NULL, *s, *b;
	struct shmpool_pool_stat st;

	(void)state;
	assert_int_equal(shmpool_pool_open(sp, "nope", &p), -ENOENT);
	assert_null(p);

	p = testutil_pool_open(sp, "p");
	memset(&st, 0xee, sizeof(st));
	assert_int_equal(shmpool_pool_stat(p, &st), 0);
	assert_int_equal(st.block_size, 4096);
	assert_int_equal(st.num_blocks, 16);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, 16);
	assert_int_equal(st.max_used, 0);
	assert_int_equal(st.num_waiters, 0);
	assert_int_equal(st.attr, SHMPOOL_ATTR_CACHEABLE);

	s = testutil_pool_open(sp, "small");
	assert_int_equal(shmpool_pool_stat(s, &st), 0);
	assert_int_equal(st.block_size, 100);
	assert_int_equal(st.num_blocks, 8);
	assert_int_equal(st.num_free, 8);
	assert_int_equal(st.attr, SHMPOOL_ATTR_NON_CACHEABLE);

	b = testutil_pool_open(sp, "big");
	assert_int_equal(shmpool_pool_stat(b, &st), 0);
	assert_int_equal(st.block_size, 65536);
	assert_int_equal(st.num_blocks, 2);
	assert_int_equal(st.attr, 2);

	shmpool_pool_close(p);
	shmpool_pool_close(s);
	shmpool_pool_close(b);
}

static void test_block_order_and_align(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *s = testutil_pool_open(sp, "small");
	void *b[16], *x = NULL;

	(void)state;
	/* A fresh pool hands out blocks in ascending order. */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(shmpool_block_alloc(p, &b[i], SHMPOOL_NO_WAIT), 0);
		assert_ptr_equal(b[i], (char *)b[0] + i * 4096);
		testutil_fill(b[i], 4096, (unsigned)i);
	}
	assert_int_equal((uintptr_t)b[0] % 16, 0);
	for (int i = 0; i < 16; i++)
		assert_true(testutil_check(b[i], 4096, (unsigned)i));
	expect_stat(p, 16, 16, 0);

	/* Empty, no wait. */
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -ENOMEM);
	assert_null(x);

	/* Then LIFO. */
	assert_int_equal(shmpool_block_free(p, b[3]), 0);
	assert_int_equal(shmpool_block_free(p, b[12]), 0);
	assert_int_equal(shmpool_block_free(p, b[7]), 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, b[7]);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, b[12]);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, b[3]);
	assert_int_equal(shmpool_blocks_free(p, 16, b), 0);
	expect_stat(p, 0, 16, 0);

	/* align = 64 with 100-byte blocks: 128 bytes apart, on 64. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(shmpool_block_alloc(s, &b[i], SHMPOOL_NO_WAIT), 0);
		assert_int_equal((uintptr_t)b[i] % 64, 0);
		assert_ptr_equal(b[i], (char *)b[0] + i * 128);
		memset(b[i], 0x40 + i, 100);
	}
	for (int i = 0; i < 8; i++)
		for (int k = 0; k < 100; k++)
			assert_int_equal(((unsigned char *)b[i])[k], 0x40 + i);
	assert_int_equal(shmpool_blocks_free(s, 8, b), 0);
	expect_stat(s, 0, 8, 0);

	shmpool_pool_close(p);
	shmpool_pool_close(s);
}

/* -EAGAIN comes no earlier than the timeout, for single, multi-block and
 * contiguous requests; nothing is taken by a request that times out. */
static void test_alloc_timeout(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b[16], *x = NULL;

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p, 15, b, SHMPOOL_NO_WAIT), 0);
	expect_eagain(shmpool_blocks_alloc(p, 2, b + 15, 150), 150);
	expect_stat(p, 15, 15, 0);
	expect_eagain(shmpool_blocks_alloc_contiguous(p, 2, &x, 100), 100);
	expect_stat(p, 15, 15, 0);
	assert_int_equal(shmpool_block_alloc(p, &b[15], SHMPOOL_NO_WAIT), 0);
	expect_eagain(shmpool_block_alloc(p, &x, 200), 200);
	/* Short timeouts too, where the granularity of the daemon's clock
	 * matters most. */
	for (int i = 0; i < 40; i++)
		expect_eagain(shmpool_block_alloc(p, &x, 1 + i % 7), 1 + i % 7);
	assert_null(x);
	expect_stat(p, 16, 16, 0);
	assert_int_equal(shmpool_blocks_free(p, 16, b), 0);
	shmpool_pool_close(p);
}

static void test_blocks_alloc_counts(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b[17], *x;

	(void)state;
	/* count 0: nothing done, nothing written. */
	for (int i = 0; i < 17; i++)
		b[i] = &b[i];
	assert_int_equal(shmpool_blocks_alloc(p, 0, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 0, b, SHMPOOL_FOREVER), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 0, b, SHMPOOL_FOREVER), 0);
	assert_int_equal(shmpool_blocks_get(p, b[0], 0), 0);
	assert_int_equal(shmpool_blocks_free(p, 0, b), 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, b[0], 0), 0);
	for (int i = 0; i < 17; i++)
		assert_ptr_equal(b[i], &b[i]);
	expect_stat(p, 0, 0, 0);

	/* More than the pool has: -ENOMEM at once, whatever the timeout (a
	 * wait would have ended in -EAGAIN, or never). */
	assert_int_equal(shmpool_blocks_alloc(p, 17, b, SHMPOOL_NO_WAIT), -ENOMEM);
	assert_int_equal(shmpool_blocks_alloc(p, 17, b, SHMPOOL_FOREVER), -ENOMEM);
	assert_int_equal(shmpool_blocks_alloc(p, 17, b, 60000), -ENOMEM);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 17, &x, SHMPOOL_FOREVER), -ENOMEM);
	expect_stat(p, 0, 0, 0);

	/* Never partial. */
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++) {
		assert_ptr_equal(b[i], (char *)b[0] + i * 4096);
		testutil_fill(b[i], 4096, 100u + (unsigned)i);
	}
	b[10] = b[11] = NULL;
	assert_int_equal(shmpool_blocks_alloc(p, 7, b + 10, SHMPOOL_NO_WAIT), -ENOMEM);
	expect_stat(p, 10, 10, 0);
	assert_int_equal(shmpool_blocks_alloc(p, 6, b + 10, SHMPOOL_NO_WAIT), 0);
	expect_stat(p, 16, 16, 0);
	for (int i = 0; i < 10; i++)
		assert_true(testutil_check(b[i], 4096, 100u + (unsigned)i));
	assert_int_equal(shmpool_blocks_free(p, 16, b), 0);
	expect_stat(p, 0, 16, 0);
	shmpool_pool_close(p);
}

static void test_contiguous(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b[16], *first = NULL, *x = NULL;

	(void)state;
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 4, &first, SHMPOOL_NO_WAIT), 0);
	testutil_fill(first, 4 * 4096, 7);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, (char *)first + 4 * 4096);
	assert_int_equal(shmpool_block_free(p, x), 0);
	expect_stat(p, 4, 5, 0);
	assert_true(testutil_check(first, 4 * 4096, 7));

	/* A run with a hole in it is refused as a whole. */
	assert_int_equal(shmpool_blocks_free_contiguous(p, first, 5), -EFAULT);
	expect_stat(p, 4, 5, 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, (char *)first + 1, 4), -EINVAL);
	assert_int_equal(shmpool_blocks_free_contiguous(p, (char *)first + 4096 * 13, 4), -EINVAL);
	assert_int_equal(shmpool_blocks_free_contiguous(p, first, 4), 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, first, 4), -EFAULT);
	expect_stat(p, 0, 5, 0);

	/* Fragmented: 8 free blocks, no two adjacent (first is block 0). */
	assert_int_equal(shmpool_blocks_alloc(p, 16, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 16; i += 2)
		assert_int_equal(shmpool_block_free(p, (char *)first + i * 4096), 0);
	expect_stat(p, 8, 16, 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 2, &x, SHMPOOL_NO_WAIT), -ENOMEM);
	expect_eagain(shmpool_blocks_alloc_contiguous(p, 2, &x, 50), 50);
	expect_stat(p, 8, 16, 0);
	/* Freeing a neighbour makes the one run of three: blocks 4..6. */
	assert_int_equal(shmpool_block_free(p, (char *)first + 5 * 4096), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 3, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, (char *)first + 4 * 4096);
	expect_stat(p, 10, 16, 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, x, 3), 0);
	for (int i = 1; i < 16; i += 2)
		if (i != 5)
			assert_int_equal(shmpool_block_free(p, (char *)first + i * 4096), 0);
	expect_stat(p, 0, 16, 0);
	shmpool_pool_close(p);
}

/*
 * Batches of adjacent blocks, which the daemon grants and takes back as
 * spans: the same order, errors and accounting as any other list.
 */
static void test_batch_runs(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *po = testutil_pool_open(other, "p");
	void *b[16], *c[16], *x = NULL;
	char *base, *lowest;
	ptrdiff_t d;

	(void)state;
	/* A fresh pool's batch runs up; freed, adjacent blocks go back as a
	 * run, lowest on top: the next batch is the same run going up. */
	assert_int_equal(shmpool_blocks_alloc(p, 12, b, SHMPOOL_NO_WAIT), 0);
	base = b[0];
	for (int i = 0; i < 12; i++) {
		assert_ptr_equal(b[i], base + i * 4096);
		testutil_fill(b[i], 4096, (unsigned)i);
	}
	assert_int_equal(shmpool_blocks_free(p, 12, b), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 12, c, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 12; i++) {
		assert_ptr_equal(c[i], b[i]);
		assert_true(testutil_check(c[i], 4096, (unsigned)i));
	}
	expect_stat(p, 12, 12, 0);
	/* Freed twice: the second is a double free and changes nothing. */
	assert_int_equal(shmpool_blocks_free(p, 12, c), 0);
	assert_int_equal(shmpool_blocks_free(p, 12, c), -EFAULT);
	expect_stat(p, 0, 12, 0);

	/* A run one block of which another connection holds: EPERM, and
	 * nothing of it is freed. */
	assert_int_equal(shmpool_blocks_alloc(p, 12, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 12; i++)
		assert_ptr_equal(b[i], base + i * 4096);
	assert_int_equal(shmpool_block_free(p, b[5]), 0);
	expect_stat(p, 11, 12, 0);  /* the free reaches the daemon */
	assert_int_equal(shmpool_block_alloc(po, &x, SHMPOOL_NO_WAIT), 0);
	d = mapping_delta(other, x, sp);
	assert_ptr_equal((char *)x + d, b[5]);
	assert_int_equal(shmpool_blocks_free(p, 12, b), -EPERM);
	expect_stat(p, 12, 12, 0);
	b[5] = b[11];
	assert_int_equal(shmpool_blocks_free(p, 11, b), 0);
	expect_stat(p, 1, 12, 0);
	assert_int_equal(shmpool_block_free(po, x), 0);
	expect_stat(p, 0, 12, 0);

	/* A contiguous free goes back highest first, so that single
	 * allocations take the run back in ascending order. */
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 10, &x, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, x, 10), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(shmpool_block_alloc(p, &c[i], SHMPOOL_NO_WAIT), 0);
		assert_ptr_equal(c[i], (char *)x + i * 4096);
	}
	assert_int_equal(shmpool_blocks_free(p, 10, c), 0);
	expect_stat(p, 0, 12, 0);

	/* A run one block of which another connection has attached: the
	 * free lets go of every hold of p's, and the attached block stays
	 * allocated, with its contents, until the other lets go too. */
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(b[i], c[i]);
	testutil_fill(b[3], 4096, 33);
	{
		shmpool_ref_t ref;

		assert_int_equal(shmpool_ref(sp, b[3], &ref), 0);
		assert_int_equal(shmpool_attach(other, &ref, &x), 0);
	}
	assert_int_equal(shmpool_blocks_free(p, 10, b), 0);
	expect_stat(p, 1, 12, 0);
	assert_true(testutil_check(x, 4096, 33));
	assert_int_equal(shmpool_free(other, x), 0);
	expect_stat(p, 0, 12, 0);

	/* Adjacent blocks in no run order (the blocks the last free put
	 * back, the attached one last): freed shuffled, they go back as a
	 * run, so the next batch gets them in ascending order, all of them,
	 * and nothing twice. */
	x = b[3];
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(b[0], x);
	assert_false(b[1] == (char *)x + 4096 || b[1] == (char *)x - 4096);
	lowest = x;
	for (int i = 0; i < 10; i++) {
		c[i] = b[(i * 3) % 10];
		lowest = (char *)c[i] < lowest ? c[i] : lowest;
	}
	assert_int_equal(shmpool_blocks_free(p, 10, c), 0);
	expect_stat(p, 0, 12, 0);
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(b[i], lowest + i * 4096);
	expect_stat(p, 10, 12, 0);
	assert_int_equal(shmpool_blocks_free(p, 10, b), 0);
	assert_int_equal(shmpool_blocks_free(p, 10, c), -EFAULT);
	expect_stat(p, 0, 12, 0);

	/* The same through the general way, which a free with an attached
	 * block takes: the nine blocks it lets go of are adjacent and go
	 * back as a run; the attached one follows when the other lets go. */
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++)
		assert_ptr_equal(b[i], lowest + i * 4096);
	{
		shmpool_ref_t ref;

		assert_int_equal(shmpool_ref(sp, b[9], &ref), 0);
		assert_int_equal(shmpool_attach(other, &ref, &x), 0);
	}
	for (int i = 0; i < 10; i++)
		c[i] = b[(i * 7) % 10];
	assert_int_equal(shmpool_blocks_free(p, 10, c), 0);
	expect_stat(p, 1, 12, 0);
	assert_int_equal(shmpool_free(other, x), 0);
	expect_stat(p, 0, 12, 0);
	assert_int_equal(shmpool_blocks_alloc(p, 10, b, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(b[0], lowest + 9 * 4096);
	for (int i = 1; i < 10; i++)
		assert_ptr_equal(b[i], lowest + (i - 1) * 4096);
	assert_int_equal(shmpool_blocks_free(p, 10, b), 0);
	expect_stat(p, 0, 12, 0);
	/* The pool agrees: every block is free, as one run of all 16. */
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 16, &x, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(x, base);
	assert_int_equal(shmpool_blocks_free_contiguous(p, x, 16), 0);
	shmpool_pool_close(po);
	shmpool_pool_close(p);
	shmpool_disconnect(other);
}

static void test_blocks_get(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b[16];
	int local;

	(void)state;
	/* Learn the address of every block, then give them all back. */
	assert_int_equal(shmpool_blocks_alloc(p, 16, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(p, 16, b), 0);
	assert_int_equal(shmpool_pool_reset_max(p), 0);

	assert_int_equal(shmpool_blocks_get(p, b[4], 3), 0);
	expect_stat(p, 3, 3, 0);
	testutil_fill(b[4], 3 * 4096, 9);

	/* Any taken block in the run: -ENOMEM, and nothing reserved. */
	assert_int_equal(shmpool_blocks_get(p, b[6], 2), -ENOMEM);
	assert_int_equal(shmpool_blocks_get(p, b[2], 3), -ENOMEM);
	expect_stat(p, 3, 3, 0);
	assert_int_equal(shmpool_blocks_get(p, b[7], 1), 0);
	assert_int_equal(shmpool_blocks_get(p, b[3], 1), 0);
	expect_stat(p, 5, 5, 0);

	/* Out of range. */
	assert_int_equal(shmpool_blocks_get(p, b[15], 2), -EINVAL);
	assert_int_equal(shmpool_blocks_get(p, b[0], 17), -EINVAL);
	assert_int_equal(shmpool_blocks_get(p, (char *)b[0] + 8, 1), -EINVAL);
	assert_int_equal(shmpool_blocks_get(p, (char *)b[15] + 4096, 1), -EINVAL);
	assert_int_equal(shmpool_blocks_get(p, &local, 1), -EINVAL);
	expect_stat(p, 5, 5, 0);

	/* Reserved blocks are held like allocated ones. */
	assert_true(testutil_check(b[4], 3 * 4096, 9));
	assert_int_equal(shmpool_blocks_free_contiguous(p, b[3], 5), 0);
	assert_int_equal(shmpool_block_free(p, b[5]), -EFAULT);
	expect_stat(p, 0, 5, 0);
	/* The whole pool at once. */
	assert_int_equal(shmpool_blocks_get(p, b[0], 16), 0);
	expect_stat(p, 16, 16, 0);
	assert_int_equal(shmpool_blocks_free(p, 16, b), 0);
	shmpool_pool_close(p);
}

static void test_free_errors(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *s = testutil_pool_open(sp, "small"), *p2;
	shmpool_t *other = testutil_connect(&h);
	void *b[4], *ob = NULL, *list[3];
	ptrdiff_t d;
	int local = 0;

	(void)state;
	p2 = testutil_pool_open(other, "p");
	assert_int_equal(shmpool_blocks_alloc(p, 3, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p2, &ob, SHMPOOL_NO_WAIT), 0);
	/* ob is block 3; what other calls it in our mappings: */
	d = mapping_delta(other, ob, sp);
	b[3] = (char *)ob + d;
	assert_ptr_equal(b[3], (char *)b[0] + 3 * 4096);
	expect_stat(p, 4, 4, 0);

	/* Outside every mapping, or not the start of a block. */
	assert_int_equal(shmpool_block_free(p, &local), -EINVAL);
	assert_int_equal(shmpool_free(sp, &local), -EINVAL);
	assert_int_equal(shmpool_block_free(p, (char *)b[0] + 1), -EINVAL);
	assert_int_equal(shmpool_block_free(p, (char *)b[1] + 4095), -EINVAL);
	assert_int_equal(shmpool_free(sp, (char *)b[0] + 16), -EINVAL);
	/* A block of another pool given to this one. */
	{
		void *sb = NULL;

		assert_int_equal(shmpool_block_alloc(s, &sb, SHMPOOL_NO_WAIT), 0);
		assert_int_equal(shmpool_block_free(p, sb), -EINVAL);
		assert_int_equal(shmpool_block_free(s, sb), 0);
	}
	/* Held by the other connection. */
	assert_int_equal(shmpool_block_free(p, b[3]), -EPERM);
	assert_int_equal(shmpool_free(sp, b[3]), -EPERM);
	assert_int_equal(shmpool_group_free(sp, 1, &b[3]), -EPERM);
	/* Never allocated, then a double free. */
	assert_int_equal(shmpool_block_free(p, (char *)b[0] + 9 * 4096), -EFAULT);
	assert_int_equal(shmpool_block_free(p, b[2]), 0);
	assert_int_equal(shmpool_block_free(p, b[2]), -EFAULT);
	assert_int_equal(shmpool_free(sp, b[2]), -EFAULT);
	expect_stat(p, 3, 4, 0);
	assert_int_equal(shmpool_free(sp, NULL), 0);

	/* A list with one bad entry frees nothing and says why. */
	assert_int_equal(shmpool_block_alloc(p, &b[2], SHMPOOL_NO_WAIT), 0);
	list[0] = b[0];
	list[1] = &local;
	list[2] = b[2];
	assert_int_equal(shmpool_blocks_free(p, 3, list), -EINVAL);
	assert_int_equal(shmpool_group_free(sp, 3, list), -EINVAL);
	list[1] = b[0];
	assert_int_equal(shmpool_blocks_free(p, 3, list), -EFAULT);
	assert_int_equal(shmpool_group_free(sp, 3, list), -EFAULT);
	list[1] = (char *)b[0] + 10 * 4096;
	assert_int_equal(shmpool_blocks_free(p, 3, list), -EFAULT);
	list[1] = b[3];
	assert_int_equal(shmpool_blocks_free(p, 3, list), -EPERM);
	assert_int_equal(shmpool_group_free(sp, 3, list), -EPERM);
	list[1] = (char *)b[1] + 64;
	assert_int_equal(shmpool_blocks_free(p, 3, list), -EINVAL);
	expect_stat(p, 4, 4, 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, b[0], 4), -EPERM);
	expect_stat(p, 4, 4, 0);

	/* Everything is still held and frees properly.  A free goes without
	 * a reply, so each connection's is checked through that connection. */
	assert_int_equal(shmpool_blocks_free(p, 3, b), 0);
	expect_stat(p, 1, 4, 0);
	assert_int_equal(shmpool_block_free(p2, ob), 0);
	expect_stat(p2, 0, 4, 0);

	shmpool_pool_close(p2);
	shmpool_disconnect(other);
	shmpool_pool_close(p);
	shmpool_pool_close(s);
}

static void test_pool_create(void **state)
{
	struct shmpool_pool_config cfg = {
		.name = "rt1", .block_size = 256, .num_blocks = 8,
	};
	struct shmpool_pool_stat st;
	shmpool_pool_t *a = NULL, *b = NULL, *c = NULL, *x = NULL;
	void *blk[8];

	(void)state;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &a), 0);
	assert_non_null(a);
	memset(&st, 0xee, sizeof(st));
	assert_int_equal(shmpool_pool_stat(a, &st), 0);
	assert_int_equal(st.block_size, 256);
	assert_int_equal(st.num_blocks, 8);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, 8);
	assert_int_equal(st.max_used, 0);
	assert_int_equal(st.num_waiters, 0);
	assert_int_equal(st.attr, SHMPOOL_ATTR_CACHEABLE);
	assert_int_equal(shmpool_blocks_alloc(a, 8, blk, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 8; i++) {
		assert_ptr_equal(blk[i], (char *)blk[0] + i * 256);
		assert_int_equal((uintptr_t)blk[i] % 16, 0);
		memset(blk[i], i, 256);
	}
	assert_int_equal(shmpool_blocks_free(a, 8, blk), 0);

	/* In a named region, with an alignment. */
	cfg.name = "rt2";
	cfg.block_size = 100;
	cfg.num_blocks = 4;
	cfg.align = 256;
	cfg.region = "r1";
	assert_int_equal(shmpool_pool_create(sp, &cfg, &b), 0);
	assert_int_equal(shmpool_pool_stat(b, &st), 0);
	assert_int_equal(st.block_size, 100);
	assert_int_equal(st.num_blocks, 4);
	assert_int_equal(st.attr, SHMPOOL_ATTR_NON_CACHEABLE);
	assert_int_equal(shmpool_blocks_alloc(b, 4, blk, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal((uintptr_t)blk[i] % 256, 0);
		assert_ptr_equal(blk[i], (char *)blk[0] + i * 256);
	}
	assert_int_equal(shmpool_blocks_free(b, 4, blk), 0);

	/* By attribute. */
	cfg = (struct shmpool_pool_config){ .name = "rt3", .block_size = 512, .num_blocks = 2,
					     .attr = 2 };
	assert_int_equal(shmpool_pool_create(sp, &cfg, &c), 0);
	assert_int_equal(shmpool_pool_stat(c, &st), 0);
	assert_int_equal(st.attr, 2);
	assert_int_equal(st.block_size, 512);

	/* The error rows. */
	cfg = (struct shmpool_pool_config){ .name = "rt1", .block_size = 64, .num_blocks = 2 };
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EEXIST);
	cfg.name = "p";
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EEXIST);
	cfg.name = "rt4";
	cfg.block_size = 0;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EINVAL);
	cfg.block_size = 64;
	cfg.num_blocks = 0;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EINVAL);
	cfg.num_blocks = 2;
	cfg.align = 3;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EINVAL);
	cfg.align = 48;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -EINVAL);
	cfg.align = 0;
	cfg.attr = 7;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -ENOENT);
	cfg.attr = 0;
	cfg.region = "nope";
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -ENOENT);
	cfg.region = "r1";
	cfg.block_size = 1 << 20;
	cfg.num_blocks = 2;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -ENOMEM);
	cfg.region = NULL;
	cfg.num_blocks = 64;
	assert_int_equal(shmpool_pool_create(sp, &cfg, &x), -ENOMEM);
	assert_null(x);
	assert_int_equal(shmpool_pool_open(sp, "rt4", &x), -ENOENT);

	shmpool_pool_close(a);
	shmpool_pool_close(b);
	shmpool_pool_close(c);
}

static void test_pool_destroy(void **state)
{
	struct shmpool_pool_config cfg = {
		.name = "fill", .block_size = 64 << 10, .num_blocks = 13, .region = "r2",
	};
	struct shmpool_pool_stat st;
	shmpool_pool_t *a = NULL, *b = NULL, *q;
	shmpool_t *c = testutil_connect(&h);
	void *blk = NULL;

	(void)state;
	/* r2 (1 MiB) has 896 KiB left beside "big": room for one such pool. */
	assert_int_equal(shmpool_pool_create(sp, &cfg, &a), 0);
	cfg.name = "fill2";
	assert_int_equal(shmpool_pool_create(sp, &cfg, &b), -ENOMEM);

	/* Busy while a block is held, by anyone. */
	assert_int_equal(shmpool_block_alloc(a, &blk, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_pool_destroy(sp, "fill"), -EBUSY);
	assert_int_equal(shmpool_pool_destroy(c, "fill"), -EBUSY);
	assert_int_equal(shmpool_block_free(a, blk), 0);
	expect_stat(a, 0, 1, 0);
	q = testutil_pool_open(c, "fill");
	assert_int_equal(shmpool_block_alloc(q, &blk, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_pool_destroy(sp, "fill"), -EBUSY);
	assert_int_equal(shmpool_block_free(q, blk), 0);
	expect_stat(q, 0, 1, 0);

	assert_int_equal(shmpool_pool_destroy(sp, "fill"), 0);
	assert_int_equal(shmpool_pool_destroy(sp, "fill"), -ENOENT);
	assert_int_equal(shmpool_pool_open(sp, "fill", &b), -ENOENT);
	assert_int_equal(shmpool_pool_stat(a, &st), -ENOENT);
	assert_int_equal(shmpool_pool_stat(q, &st), -ENOENT);
	assert_int_equal(shmpool_pool_destroy(sp, "nope"), -ENOENT);
	shmpool_pool_close(a);
	shmpool_pool_close(q);

	/* Its room is there again. */
	assert_int_equal(shmpool_pool_create(sp, &cfg, &b), 0);
	expect_stat(b, 0, 0, 0);
	shmpool_pool_close(b);

	/* A pool outlives the connection that made it, and a connection
	 * that goes gives its blocks back. */
	assert_int_equal(shmpool_pool_open(c, "fill2", &q), 0);
	assert_int_equal(shmpool_block_alloc(q, &blk, SHMPOOL_NO_WAIT), 0);
	shmpool_pool_close(q);
	shmpool_disconnect(c);
	q = testutil_pool_open(sp, "fill2");
	for (int i = 0; i < 2000 && stat_used(q) != 0; i++)
		usleep(5000);
	expect_stat(q, 0, 1, 0);
	shmpool_pool_close(q);
	assert_int_equal(shmpool_pool_destroy(sp, "fill2"), 0);
}

static void test_pool_stat_reset_max(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	shmpool_t *other = testutil_connect(&h);
	shmpool_pool_t *p2 = testutil_pool_open(other, "p");
	void *b[16];

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p, 5, b, SHMPOOL_NO_WAIT), 0);
	expect_stat(p, 5, 5, 0);
	assert_int_equal(shmpool_blocks_free(p, 3, b + 2), 0);
	expect_stat(p, 2, 5, 0);
	/* Another connection sees the same pool. */
	expect_stat(p2, 2, 5, 0);
	assert_int_equal(shmpool_pool_reset_max(p), 0);
	expect_stat(p, 2, 2, 0);
	assert_int_equal(shmpool_block_alloc(p2, &b[2], SHMPOOL_NO_WAIT), 0);
	expect_stat(p, 3, 3, 0);
	assert_int_equal(shmpool_block_free(p2, b[2]), 0);
	expect_stat(p2, 2, 3, 0);
	assert_int_equal(shmpool_pool_reset_max(p2), 0);
	expect_stat(p, 2, 2, 0);
	assert_int_equal(shmpool_blocks_free(p, 2, b), 0);
	expect_stat(p, 0, 2, 0);
	assert_int_equal(shmpool_pool_reset_max(p), 0);
	expect_stat(p, 0, 0, 0);

	shmpool_pool_close(p2);
	shmpool_disconnect(other);
	shmpool_pool_close(p);
}

struct waiter_arg {
	shmpool_pool_t *pool;
	int timeout;
	void *block;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter_arg *w = arg;

	w->rc = shmpool_block_alloc(w->pool, &w->block, w->timeout);
	return NULL;
}

/* num_waiters counts requests queued in the daemon, from any connection. */
static void test_pool_stat_waiters(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "big");
	shmpool_t *c1 = testutil_connect(&h), *c2 = testutil_connect(&h);
	struct waiter_arg w1 = { .pool = testutil_pool_open(c1, "big"),
				 .timeout = SHMPOOL_FOREVER };
	struct waiter_arg w2 = { .pool = testutil_pool_open(c2, "big"), .timeout = 60000 };
	pthread_t t1, t2;
	void *b[2];

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p, 2, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(pthread_create(&t1, NULL, waiter_main, &w1), 0);
	testutil_wait_waiters(p, 1);
	assert_int_equal(pthread_create(&t2, NULL, waiter_main, &w2), 0);
	testutil_wait_waiters(p, 2);
	expect_stat(p, 2, 2, 2);
	/* A request that must wait behind them does not jump the queue. */
	assert_int_equal(shmpool_block_free(p, b[1]), 0);
	assert_int_equal(pthread_join(t1, NULL), 0);
	assert_int_equal(w1.rc, 0);
	/* The block freed went to the first waiter. */
	assert_ptr_equal((char *)w1.block + mapping_delta(c1, w1.block, sp), b[1]);
	expect_stat(p, 2, 2, 1);
	assert_int_equal(shmpool_block_free(p, b[0]), 0);
	assert_int_equal(pthread_join(t2, NULL), 0);
	assert_int_equal(w2.rc, 0);
	expect_stat(p, 2, 2, 0);
	assert_int_equal(shmpool_block_free(w1.pool, w1.block), 0);
	expect_stat(w1.pool, 1, 2, 0);
	assert_int_equal(shmpool_block_free(w2.pool, w2.block), 0);
	expect_stat(w2.pool, 0, 2, 0);

	shmpool_pool_close(w1.pool);
	shmpool_pool_close(w2.pool);
	shmpool_disconnect(c1);
	shmpool_disconnect(c2);
	shmpool_pool_close(p);
}

static void expect_info(const struct shmpool_pool_info *in, const char *name, const char *region,
			size_t block_size, size_t blocks, size_t nfree, size_t min_free,
			uint32_t attr)
{
	assert_string_equal(in->name, name);
	assert_string_equal(in->region, region);
	assert_int_equal(in->block_size, block_size);
	assert_int_equal(in->num_blocks, blocks);
	assert_int_equal(in->num_free, nfree);
	assert_int_equal(in->min_free, min_free);
	assert_int_equal(in->attr, attr);
}

static void test_pool_info(void **state)
{
	struct shmpool_pool_config cfg = { .name = "rt", .block_size = 32, .num_blocks = 3,
					   .region = "r2" };
	struct shmpool_pool_info in[5];
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *rt = NULL;
	size_t cursor = 0;
	void *b[3];
	int n = 0, rc;

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p, 3, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(p, b[2]), 0);
	while ((rc = shmpool_pool_info_next(sp, &cursor, &in[n])) == 1) {
		assert_true(n < 4);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	expect_info(&in[0], "p", "r0", 4096, 16, 14, 13, 0);
	expect_info(&in[1], "small", "r1", 100, 8, 8, 8, 1);
	expect_info(&in[2], "big", "r2", 65536, 2, 2, 2, 2);
	/* The end stays the end. */
	assert_int_equal(shmpool_pool_info_next(sp, &cursor, &in[4]), 0);

	assert_int_equal(shmpool_pool_create(sp, &cfg, &rt), 0);
	cursor = 0;
	n = 0;
	while ((rc = shmpool_pool_info_next(sp, &cursor, &in[n])) == 1) {
		assert_true(n < 4);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 4);
	expect_info(&in[3], "rt", "r2", 32, 3, 3, 3, 2);
	shmpool_pool_close(rt);
	assert_int_equal(shmpool_pool_destroy(sp, "rt"), 0);
	cursor = 0;
	n = 0;
	while ((rc = shmpool_pool_info_next(sp, &cursor, &in[n])) == 1) {
		assert_true(n < 4);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_string_equal(in[2].name, "big");
	assert_int_equal(shmpool_blocks_free(p, 2, b), 0);
	shmpool_pool_close(p);
}

static void test_group_alloc(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *s = testutil_pool_open(sp, "small"), *bg;
	void *b[8], *x[2];
	size_t bs;

	(void)state;
	/* select = index: g is small, p, big. */
	bs = 123;
	assert_int_equal(shmpool_group_alloc(sp, "g", 0, 2, b, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 100);
	assert_ptr_equal(b[1], (char *)b[0] + 128);
	expect_stat(s, 2, 2, 0);
	assert_int_equal(shmpool_group_alloc(sp, "g", 1, 1, b + 2, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 4096);
	expect_stat(p, 1, 1, 0);
	/* A pool this connection has not opened yet. */
	assert_int_equal(shmpool_group_alloc(sp, "g", 2, 2, x, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 65536);
	memset(x[0], 1, 65536);
	memset(x[1], 2, 65536);
	assert_int_equal(shmpool_group_alloc(sp, "g", 2, 1, b + 3, &bs, SHMPOOL_NO_WAIT), -ENOMEM);
	expect_eagain(shmpool_group_alloc(sp, "g", 2, 1, b + 3, &bs, 100), 100);
	assert_int_equal(shmpool_group_alloc(sp, "g", 2, 3, b + 3, &bs, SHMPOOL_FOREVER), -ENOMEM);
	bg = testutil_pool_open(sp, "big");
	expect_stat(bg, 2, 2, 0);
	assert_int_equal(shmpool_group_free(sp, 2, x), 0);
	expect_stat(bg, 0, 2, 0);
	assert_int_equal(shmpool_group_alloc(sp, "g", 3, 1, b + 3, &bs, SHMPOOL_NO_WAIT), -EINVAL);
	assert_int_equal(shmpool_group_alloc(sp, "nope", 0, 1, b + 3, &bs, SHMPOOL_NO_WAIT), -ENOENT);
	bs = 77;
	assert_int_equal(shmpool_group_alloc(sp, "g", 0, 0, b + 3, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 0);
	assert_int_equal(shmpool_group_free(sp, 0, b), 0);
	/* Blocks of two pools in one free. */
	assert_int_equal(shmpool_group_free(sp, 3, b), 0);
	expect_stat(s, 0, 2, 0);
	expect_stat(p, 0, 1, 0);

	/* select = fit: the smallest block that is large enough... */
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 50, 1, b, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 100);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 100, 1, b + 1, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 100);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 101, 1, b + 2, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 4096);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 4097, 1, b + 3, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 65536);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 65537, 1, b + 4, &bs, SHMPOOL_NO_WAIT),
			 -EINVAL);
	assert_int_equal(shmpool_group_free(sp, 4, b), 0);
	/* ...with enough free blocks. */
	assert_int_equal(shmpool_blocks_alloc(s, 7, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 10, 2, x, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 4096);
	assert_int_equal(shmpool_group_free(sp, 2, x), 0);
	assert_int_equal(shmpool_group_alloc(sp, "gfit", 10, 1, x, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 100);
	assert_int_equal(shmpool_group_free(sp, 1, x), 0);
	assert_int_equal(shmpool_blocks_free(s, 7, b), 0);

	/* select = attr. */
	assert_int_equal(shmpool_group_alloc(sp, "gattr", 0, 1, b, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 4096);
	assert_int_equal(shmpool_group_alloc(sp, "gattr", 1, 1, b + 1, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 100);
	assert_int_equal(shmpool_group_alloc(sp, "gattr", 2, 1, b + 2, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, 65536);
	assert_int_equal(shmpool_group_alloc(sp, "gattr", 5, 1, b + 3, &bs, SHMPOOL_NO_WAIT),
			 -EINVAL);
	assert_int_equal(shmpool_group_free(sp, 3, b), 0);
	expect_stat(p, 0, 2, 0);
	expect_stat(s, 0, 8, 0);
	expect_stat(bg, 0, 2, 0);

	shmpool_pool_close(p);
	shmpool_pool_close(s);
	shmpool_pool_close(bg);
}

static void test_heap_alloc(void **state)
{
	void *a = NULL, *x = (void *)&x, *al = NULL, *nc = NULL, *o = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_CACHEABLE, 100, &a), 0);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % 16, 0);
	assert_int_equal(shmpool_usable_size(sp, a, &n), 0);
	assert_int_equal(n, 112);
	testutil_fill(a, 112, 3);

	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_CACHEABLE, 0, &x), -EINVAL);
	assert_int_equal(shmpool_aligned_alloc(sp, 0, 3, 64, &x), -EINVAL);
	assert_int_equal(shmpool_aligned_alloc(sp, 0, 48, 64, &x), -EINVAL);
	assert_int_equal(shmpool_alloc_ex(sp, NULL, 0, 24, 64, &x), -EINVAL);
	assert_int_equal(shmpool_alloc_ex(sp, NULL, 0, 16, 0, &x), -EINVAL);
	/* No region with the attribute in the default heap (dma is in "other"). */
	assert_int_equal(shmpool_alloc(sp, 5, 64, &x), -ENOENT);
	assert_int_equal(shmpool_alloc(sp, 2, 64, &x), -ENOENT);
	assert_int_equal(shmpool_alloc_ex(sp, "other", 0, 0, 64, &x), -ENOENT);
	assert_int_equal(shmpool_alloc_ex(sp, "nope", 0, 0, 64, &x), -ENOENT);
	/* No room. */
	assert_int_equal(shmpool_alloc(sp, 0, 8 << 20, &x), -ENOMEM);
	assert_int_equal(shmpool_alloc(sp, 1, 2 << 20, &x), -ENOMEM);
	assert_int_equal(shmpool_calloc(sp, 0, 1 << 16, 1 << 16, &x), -ENOMEM);
	assert_ptr_equal(x, (void *)&x);

	assert_int_equal(shmpool_aligned_alloc(sp, 0, 4096, 10, &al), 0);
	assert_int_equal((uintptr_t)al % 4096, 0);
	assert_int_equal(shmpool_usable_size(sp, al, &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_NON_CACHEABLE, 1000, &nc), 0);
	assert_int_equal(shmpool_usable_size(sp, nc, &n), 0);
	assert_int_equal(n, 1008);
	memset(nc, 0x11, 1000);
	assert_int_equal(shmpool_alloc_ex(sp, "other", 2, 256, 300, &o), 0);
	assert_int_equal((uintptr_t)o % 256, 0);
	assert_int_equal(shmpool_usable_size(sp, o, &n), 0);
	assert_int_equal(n, 304);
	memset(o, 0x22, 300);
	assert_int_equal(shmpool_alloc_ex(sp, "default", 0, 0, 64, &x), 0);
	assert_int_equal(shmpool_free(sp, x), 0);

	assert_true(testutil_check(a, 112, 3));
	assert_int_equal(shmpool_free(sp, a), 0);
	assert_int_equal(shmpool_free(sp, al), 0);
	assert_int_equal(shmpool_free(sp, nc), 0);
	assert_int_equal(shmpool_free(sp, o), 0);
}

static void test_heap_free_errors(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	void *a, *b, *c, *oa;
	ptrdiff_t d;
	size_t n;
	int local;

	(void)state;
	assert_int_equal(shmpool_alloc(sp, 0, 64, &a), 0);
	assert_int_equal(shmpool_alloc(sp, 0, 64, &b), 0);
	assert_int_equal(shmpool_alloc(sp, 0, 64, &c), 0);
	assert_int_equal(shmpool_free(sp, &local), -EINVAL);
	assert_int_equal(shmpool_free(sp, (char *)b + 16), -EINVAL);
	assert_int_equal(shmpool_free(sp, (char *)b + 1), -EINVAL);
	assert_int_equal(shmpool_usable_size(sp, &local, &n), -EINVAL);
	assert_int_equal(shmpool_usable_size(sp, (char *)b + 16, &n), -EINVAL);
	/* b sits between two live allocations, so its spot stays a free
	 * block of its own: a second free of it is a double free. */
	assert_int_equal(shmpool_free(sp, b), 0);
	assert_int_equal(shmpool_free(sp, b), -EFAULT);
	assert_int_equal(shmpool_usable_size(sp, b, &n), -EINVAL);

	/* Held by another connection. */
	assert_int_equal(shmpool_alloc(other, 0, 64, &oa), 0);
	d = mapping_delta(other, oa, sp);
	assert_int_equal(shmpool_free(sp, (char *)oa + d), -EPERM);
	assert_int_equal(shmpool_realloc(sp, &(void *){ (char *)oa + d }, 128), -EPERM);
	assert_int_equal(shmpool_free(other, oa), 0);

	/* Freeing a merges b's free range into a's: b no longer starts a
	 * range of the heap, so freeing it again is EINVAL, as the manual
	 * says, and a's second free is still EFAULT. */
	assert_int_equal(shmpool_free(sp, a), 0);
	assert_int_equal(shmpool_free(sp, b), -EINVAL);
	assert_int_equal(shmpool_free(sp, a), -EFAULT);
	assert_int_equal(shmpool_free(sp, c), 0);
	assert_int_equal(shmpool_free(sp, NULL), 0);
	shmpool_disconnect(other);
}

static void test_heap_calloc(void **state)
{
	unsigned char *p = NULL, *q = NULL;
	size_t n;

	(void)state;
	/* Dirty a spot, give it back, and have calloc hand it out again. */
	assert_int_equal(shmpool_alloc(sp, 0, 4096, (void **)&p), 0);
	memset(p, 0xab, 4096);
	assert_int_equal(shmpool_free(sp, p), 0);
	assert_int_equal(shmpool_calloc(sp, 0, 64, 64, (void **)&q), 0);
	assert_ptr_equal(q, p);
	assert_int_equal(shmpool_usable_size(sp, q, &n), 0);
	assert_int_equal(n, 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(shmpool_free(sp, q), 0);

	/* nmemb * size overflows. */
	q = (void *)&q;
	assert_int_equal(shmpool_calloc(sp, 0, SIZE_MAX / 2 + 1, 2, (void **)&q), -ENOMEM);
	assert_int_equal(shmpool_calloc(sp, 0, 2, SIZE_MAX, (void **)&q), -ENOMEM);
	assert_int_equal(shmpool_calloc(sp, 0, (size_t)1 << 33, (size_t)1 << 33, (void **)&q),
			 -ENOMEM);
	assert_ptr_equal(q, (void *)&q);
	assert_int_equal(shmpool_calloc(sp, 0, 0, 16, (void **)&q), -EINVAL);
}

static void test_heap_realloc(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	void *a = NULL, *b = NULL, *keep, *there = NULL;
	shmpool_ref_t ref;
	size_t n;

	(void)state;
	assert_int_equal(shmpool_alloc(sp, 0, 100, &a), 0);
	assert_int_equal(shmpool_alloc(sp, 0, 100, &b), 0);
	testutil_fill(a, 100, 5);

	/* Grows: b is in the way, so it moves, with its contents. */
	keep = a;
	assert_int_equal(shmpool_realloc(sp, &a, 5000), 0);
	assert_ptr_not_equal(a, keep);
	assert_true(testutil_check(a, 100, 5));
	assert_int_equal(shmpool_usable_size(sp, a, &n), 0);
	assert_int_equal(n, 5008);
	testutil_fill(a, 5000, 6);

	/* Shrinks in place. */
	keep = a;
	assert_int_equal(shmpool_realloc(sp, &a, 16), 0);
	assert_ptr_equal(a, keep);
	assert_int_equal(shmpool_usable_size(sp, a, &n), 0);
	assert_int_equal(n, 16);
	assert_true(testutil_check(a, 16, 6));

	/* Failure leaves the pointer and the memory as they were. */
	keep = a;
	assert_int_equal(shmpool_realloc(sp, &a, 64 << 20), -ENOMEM);
	assert_ptr_equal(a, keep);
	assert_true(testutil_check(a, 16, 6));
	assert_int_equal(shmpool_usable_size(sp, a, &n), 0);
	assert_int_equal(n, 16);

	/* Memory another process has attached does not move. */
	assert_int_equal(shmpool_ref(sp, a, &ref), 0);
	assert_int_equal(shmpool_attach(other, &ref, &there), 0);
	assert_int_equal(shmpool_realloc(sp, &a, 1 << 20), -EBUSY);
	assert_ptr_equal(a, keep);
	assert_int_equal(shmpool_free(other, there), 0);

	/* Size 0 frees and clears the pointer. */
	assert_int_equal(shmpool_realloc(sp, &a, 0), 0);
	assert_null(a);
	assert_int_equal(shmpool_usable_size(sp, keep, &n), -EINVAL);
	assert_int_equal(shmpool_free(sp, b), 0);
	shmpool_disconnect(other);
}

static void test_usable_size_blocks(void **state)
{
	shmpool_pool_t *s = testutil_pool_open(sp, "small");
	void *b = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(shmpool_block_alloc(s, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_usable_size(sp, b, &n), 0);
	assert_int_equal(n, 100);
	assert_int_equal(shmpool_usable_size(sp, (char *)b + 4, &n), -EINVAL);
	assert_int_equal(shmpool_block_free(s, b), 0);
	shmpool_pool_close(s);
}

/* Data written through one connection's mapping is seen through another's,
 * for blocks and heap allocations alike, and each holder must let go. */
static void test_ref_attach(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	shmpool_pool_t *p = testutil_pool_open(sp, "p"), *p2;
	shmpool_ref_t ref, ref2, bad;
	void *b = NULL, *there = NULL, *again = NULL, *hp = NULL, *hthere = NULL;
	size_t n;
	int local;

	(void)state;
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	testutil_fill(b, 4096, 11);
	assert_int_equal(shmpool_ref(sp, b, &ref), 0);
	assert_int_equal(shmpool_attach(other, &ref, &there), 0);
	assert_ptr_not_equal(there, b);
	assert_true(testutil_check(there, 4096, 11));
	testutil_fill(there, 4096, 12);
	assert_true(testutil_check(b, 4096, 12));
	assert_int_equal(shmpool_usable_size(other, there, &n), 0);
	assert_int_equal(n, 4096);
	/* A ref of the same memory taken by the second holder works too. */
	assert_int_equal(shmpool_ref(other, there, &ref2), 0);
	assert_int_equal(shmpool_attach(other, &ref2, &again), 0);
	assert_ptr_equal(again, there);

	p2 = testutil_pool_open(other, "p");
	expect_stat(p2, 1, 1, 0);
	assert_int_equal(shmpool_block_free(p, b), 0);
	expect_stat(p, 1, 1, 0);
	assert_int_equal(shmpool_block_free(p2, there), 0);
	expect_stat(p2, 1, 1, 0);
	assert_true(testutil_check(there, 4096, 12));
	assert_int_equal(shmpool_free(other, there), 0);
	expect_stat(p2, 0, 1, 0);
	assert_int_equal(shmpool_free(other, there), -EFAULT);
	assert_int_equal(shmpool_attach(other, &ref, &there), -ESTALE);

	/* Heap memory. */
	assert_int_equal(shmpool_alloc(sp, SHMPOOL_ATTR_NON_CACHEABLE, 1000, &hp), 0);
	testutil_fill(hp, 1000, 13);
	assert_int_equal(shmpool_ref(sp, hp, &ref), 0);
	assert_int_equal(shmpool_attach(other, &ref, &hthere), 0);
	assert_true(testutil_check(hthere, 1000, 13));
	assert_int_equal(shmpool_usable_size(other, hthere, &n), 0);
	assert_int_equal(n, 1008);
	testutil_fill(hthere, 1000, 14);
	assert_true(testutil_check(hp, 1000, 14));
	assert_int_equal(shmpool_free(sp, hp), 0);
	testutil_barrier(sp);
	/* Still alive: the other connection holds it. */
	assert_int_equal(shmpool_attach(other, &ref, &again), 0);
	assert_ptr_equal(again, hthere);
	assert_int_equal(shmpool_free(other, again), 0);
	assert_true(testutil_check(hthere, 1000, 14));
	assert_int_equal(shmpool_free(other, hthere), 0);
	assert_int_equal(shmpool_attach(other, &ref, &again), -ESTALE);

	/* Refs of what one does not hold, and refs that are not refs. */
	assert_int_equal(shmpool_ref(sp, &local, &ref), -EINVAL);
	assert_int_equal(shmpool_ref(sp, (char *)b + 8, &ref), -EINVAL);
	assert_int_equal(shmpool_ref(sp, b, &ref), -EFAULT);
	assert_int_equal(shmpool_block_alloc(p2, &there, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_ref(sp, (char *)there + mapping_delta(other, there, sp), &ref),
			 -EPERM);
	assert_int_equal(shmpool_block_free(p2, there), 0);
	memset(&bad, 0, sizeof(bad));
	assert_int_equal(shmpool_attach(other, &bad, &there), -EINVAL);
	memset(&bad, 0xff, sizeof(bad));
	assert_int_equal(shmpool_attach(other, &bad, &there), -EINVAL);

	shmpool_pool_close(p2);
	shmpool_pool_close(p);
	shmpool_disconnect(other);
}

/* A connection that attaches its own memory holds it twice. */
static void test_attach_own(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	shmpool_ref_t ref;
	void *b = NULL, *again = NULL;

	(void)state;
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_ref(sp, b, &ref), 0);
	assert_int_equal(shmpool_attach(sp, &ref, &again), 0);
	assert_ptr_equal(again, b);
	assert_int_equal(shmpool_block_free(p, b), 0);
	expect_stat(p, 1, 1, 0);
	assert_int_equal(shmpool_block_free(p, b), 0);
	expect_stat(p, 0, 1, 0);
	assert_int_equal(shmpool_block_free(p, b), -EFAULT);
	shmpool_pool_close(p);
}

/* As nobody: a priority below 0 is refused, others are taken; 0, or the
 * code of the first check that failed. */
static int nobody_priority(void)
{
	shmpool_t *c = NULL;
	int rc;

	if (shmpool_connect(h.socket, &c) != 0)
		return 91;
	rc = shmpool_set_priority(c, -1);
	if (rc != -EPERM) {
		fprintf(stderr, "set_priority(-1) as nobody: %d, want %d\n", rc, -EPERM);
		return 92;
	}
	if (shmpool_set_priority(c, -20) != -EPERM)
		return 93;
	if (shmpool_set_priority(c, 5) != 0 || shmpool_set_priority(c, 0) != 0 ||
	    shmpool_set_priority(c, 19) != 0)
		return 94;
	shmpool_disconnect(c);
	return 0;
}

static void test_set_priority(void **state)
{
	(void)state;
	assert_int_equal(shmpool_set_priority(sp, -21), -EINVAL);
	assert_int_equal(shmpool_set_priority(sp, 20), -EINVAL);
	assert_int_equal(shmpool_set_priority(sp, 1000), -EINVAL);
	assert_int_equal(shmpool_set_priority(sp, 19), 0);
	assert_int_equal(shmpool_set_priority(sp, 0), 0);
	if (geteuid() != 0) {
		print_message("not root: skipping negative priorities and the nobody case\n");
		return;
	}
	assert_int_equal(shmpool_set_priority(sp, -20), 0);
	assert_int_equal(shmpool_set_priority(sp, -1), 0);
	/* nobody connects from a child, before which the directory is opened. */
	assert_int_equal(chmod(h.dir, 0755), 0);
	assert_int_equal(harness_fork_as(&harness_nobody, nobody_priority), 0);
}

/* A connection inherited across fork is dead in the child and untouched in
 * the parent. */
static void test_fork_inherited(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	void *b = NULL, *x = NULL;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	testutil_fill(b, 4096, 21);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmpool_pool_stat st;
		shmpool_pool_t *q = NULL;
		shmpool_ref_t ref;
		shmpool_t *own = NULL;
		int bad = 0;

		bad |= shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT) != -ENOTCONN;
		bad |= (shmpool_block_alloc(p, &x, SHMPOOL_FOREVER) != -ENOTCONN) << 1;
		bad |= (shmpool_pool_stat(p, &st) != -ENOTCONN) << 2;
		bad |= (shmpool_block_free(p, b) != -ENOTCONN) << 3;
		bad |= (shmpool_free(sp, b) != -ENOTCONN) << 4;
		bad |= (shmpool_pool_open(sp, "p", &q) != -ENOTCONN) << 5;
		bad |= (shmpool_ref(sp, b, &ref) != -ENOTCONN) << 6;
		bad |= (shmpool_alloc(sp, 0, 64, &x) != -ENOTCONN) << 7;
		/* The mapping itself is inherited memory like any other. */
		bad |= !testutil_check(b, 4096, 21) << 8;
		shmpool_disconnect(sp);
		/* A connection of its own works. */
		if (shmpool_connect(h.socket, &own) == 0) {
			bad |= (shmpool_pool_open(own, "p", &q) != 0) << 9;
			if (!bad) {
				bad |= (shmpool_block_alloc(q, &x, SHMPOOL_NO_WAIT) != 0) << 10;
				bad |= (x == NULL) << 11;
				/* Freed and seen freed before the parent looks. */
				bad |= (shmpool_block_free(q, x) != 0) << 13;
				bad |= (shmpool_pool_stat(q, &st) != 0 || st.num_used != 1) << 14;
				shmpool_pool_close(q);
			}
			shmpool_disconnect(own);
		} else {
			bad |= 1 << 12;
		}
		if (bad)
			fprintf(stderr, "child: failures 0x%x\n", bad);
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The parent goes on as if nothing happened. */
	expect_stat(p, 1, 2, 0);
	assert_true(testutil_check(b, 4096, 21));
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(p, x), 0);
	assert_int_equal(shmpool_block_free(p, b), 0);
	expect_stat(p, 0, 2, 0);
	shmpool_pool_close(p);
}

/* Calls that check their arguments before anything else. */
static void test_bad_arguments(void **state)
{
	shmpool_pool_t *p = testutil_pool_open(sp, "p");
	struct shmpool_pool_stat st;
	struct shmpool_pool_info in;
	size_t cursor = 0, n;
	void *x;

	(void)state;
	assert_int_equal(shmpool_block_alloc(p, &x, -2), -EINVAL);
	assert_int_equal(shmpool_block_alloc(NULL, &x, 0), -EINVAL);
	assert_int_equal(shmpool_pool_stat(NULL, &st), -EINVAL);
	assert_int_equal(shmpool_pool_stat(p, NULL), -EINVAL);
	assert_int_equal(shmpool_pool_info_next(sp, NULL, &in), -EINVAL);
	assert_int_equal(shmpool_pool_info_next(sp, &cursor, NULL), -EINVAL);
	assert_int_equal(shmpool_usable_size(sp, NULL, &n), -EINVAL);
	assert_int_equal(shmpool_group_alloc(sp, "g", 0, 1, &x, &n, -5), -EINVAL);
	expect_stat(p, 0, 0, 0);
	shmpool_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strerror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_order_and_align, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_alloc_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_stat_reset_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_stat_waiters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_free_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_calloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_realloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usable_size_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_inherited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
