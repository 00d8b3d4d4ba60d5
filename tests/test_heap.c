#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heap.h"

struct walk_block {
	uint64_t off;
	uint64_t size;
	int used;
};

struct walk_log {
	size_t n;
	size_t cap;
	struct walk_block *b;
	size_t stop_at;     /* return stop_rc at this call, 0 never */
	int stop_rc;
};

static int walk_collect(void *ctx, uint64_t off, uint64_t size, int used)
{
	struct walk_log *w = ctx;

	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->b = realloc(w->b, w->cap * sizeof(*w->b));
		assert_non_null(w->b);
	}
	w->b[w->n].off = off;
	w->b[w->n].size = size;
	w->b[w->n].used = used;
	w->n++;
	if (w->stop_at && w->n == w->stop_at)
		return w->stop_rc;
	return 0;
}

/* Walk h and compare with the expected blocks. */
static void expect_blocks(struct heap *h, const struct walk_block *want, size_t n)
{
	struct walk_log w = { 0 };

	assert_int_equal(heap_walk(h, walk_collect, &w), 0);
	assert_int_equal(w.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(w.b[i].off, want[i].off);
		assert_int_equal(w.b[i].size, want[i].size);
		assert_int_equal(w.b[i].used, want[i].used);
	}
	free(w.b);
}

#define EXPECT_BLOCKS(h, ...) do { \
	const struct walk_block want_[] = { __VA_ARGS__ }; \
	expect_blocks((h), want_, sizeof(want_) / sizeof(want_[0])); \
} while (0)

struct copy_log {
	int calls;
	uint64_t dst;
	uint64_t src;
	uint64_t len;
	int rc;
};

static int copy_record(void *ctx, uint64_t dst, uint64_t src, uint64_t len)
{
	struct copy_log *c = ctx;

	c->calls++;
	c->dst = dst;
	c->src = src;
	c->len = len;
	return c->rc;
}

static struct heap *make_heap(uint64_t size)
{
	struct heap *h = NULL;

	assert_int_equal(heap_create(size, &h), 0);
	assert_non_null(h);
	return h;
}

static uint64_t must_alloc(struct heap *h, uint64_t size)
{
	uint64_t off = UINT64_MAX;

	assert_int_equal(heap_alloc(h, size, &off), 0);
	return off;
}

static void test_create(void **state)
{
	struct heap *h = NULL;
	struct heap_stat st;

	(void)state;
	assert_int_equal(heap_create(0, &h), -EINVAL);
	assert_int_equal(heap_create(15, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(heap_create(4096, NULL), -EINVAL);
	assert_int_equal(heap_create(1000, &h), 0);
	heap_stat(h, &st);
	assert_int_equal(st.total, 992);
	assert_int_equal(st.free, 992);
	assert_int_equal(st.largest_free, 992);
	assert_int_equal(st.min_free, 992);
	assert_int_equal(st.num_allocs, 0);
	assert_int_equal(st.num_frees, 0);
	assert_int_equal(st.num_used, 0);
	EXPECT_BLOCKS(h, { 0, 992, 0 });
	heap_destroy(h);
	heap_destroy(NULL);
}

static void test_alloc_size_zero(void **state)
{
	struct heap *h = make_heap(4096);
	struct heap_stat st;
	uint64_t off = 77;

	(void)state;
	assert_int_equal(heap_alloc(h, 0, &off), -EINVAL);
	assert_int_equal(heap_aligned_alloc(h, 64, 0, &off), -EINVAL);
	assert_int_equal(heap_alloc(h, 16, NULL), -EINVAL);
	assert_int_equal(off, 77);
	heap_stat(h, &st);
	assert_int_equal(st.num_allocs, 0);
	assert_int_equal(st.free, 4096);
	heap_destroy(h);
}

static void test_alloc_rounds_up(void **state)
{
	struct heap *h = make_heap(4096);
	uint64_t size;

	(void)state;
	assert_int_equal(must_alloc(h, 1), 0);
	assert_int_equal(must_alloc(h, 17), 16);
	assert_int_equal(must_alloc(h, 100), 48);
	assert_int_equal(heap_usable_size(h, 0, &size), 0);
	assert_int_equal(size, 16);
	assert_int_equal(heap_usable_size(h, 16, &size), 0);
	assert_int_equal(size, 32);
	assert_int_equal(heap_usable_size(h, 48, &size), 0);
	assert_int_equal(size, 112);
	EXPECT_BLOCKS(h, { 0, 16, 1 }, { 16, 32, 1 }, { 48, 112, 1 }, { 160, 3936, 0 });
	heap_destroy(h);
}

static void test_aligned_bad_alignment(void **state)
{
	struct heap *h = make_heap(1 << 20);
	const uint64_t bad[] = { 0, 3, 24, 48, 96, 4095, HEAP_MAX_ALIGN * 2, UINT64_MAX,
				 (uint64_t)1 << 63 };
	uint64_t off;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(heap_aligned_alloc(h, bad[i], 64, &off), -EINVAL);
	for (uint64_t a = 1; a < HEAP_MIN_ALIGN; a <<= 1) {
		assert_int_equal(heap_aligned_alloc(h, a, 1, &off), 0);
		assert_int_equal(off % HEAP_MIN_ALIGN, 0);
	}
	heap_destroy(h);
}

/* Every power of two up to 1 MiB (well past the page size), several sizes
 * each, from a heap whose free space never starts on the boundary. */
static void test_aligned_every_power(void **state)
{
	const uint64_t total = (uint64_t)256 << 20;
	struct heap *h = make_heap(total);
	struct heap_stat st;
	uint64_t offs[512], usable;
	size_t n = 0;

	(void)state;
	for (uint64_t align = 1; align <= ((uint64_t)1 << 20); align <<= 1) {
		const uint64_t sizes[] = { 1, 16, 100, align, 3 * align + 5 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint64_t off;

			offs[n++] = must_alloc(h, 16);
			assert_int_equal(heap_aligned_alloc(h, align, sizes[i], &off), 0);
			assert_int_equal(off % align, 0);
			assert_int_equal(off % HEAP_MIN_ALIGN, 0);
			assert_true(off + sizes[i] <= total);
			assert_int_equal(heap_usable_size(h, off, &usable), 0);
			assert_true(usable >= sizes[i]);
			offs[n++] = off;
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(heap_free(h, offs[i]), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, total);
	assert_int_equal(st.largest_free, total);
	EXPECT_BLOCKS(h, { 0, total, 0 });
	heap_destroy(h);
}

/* The heap manages offsets only, so a 3 GiB range costs no memory. */
static void test_aligned_max(void **state)
{
	const uint64_t gib = (uint64_t)1 << 30;
	struct heap *h = make_heap(3 * gib);
	uint64_t off;

	(void)state;
	assert_int_equal(must_alloc(h, 16), 0);
	assert_int_equal(heap_aligned_alloc(h, HEAP_MAX_ALIGN, 4096, &off), 0);
	assert_int_equal(off, gib);
	assert_int_equal(heap_aligned_alloc(h, HEAP_MAX_ALIGN, 1, &off), 0);
	assert_int_equal(off, 2 * gib);
	assert_int_equal(heap_aligned_alloc(h, HEAP_MAX_ALIGN, 1, &off), -ENOMEM);
	EXPECT_BLOCKS(h, { 0, 16, 1 }, { 16, gib - 16, 0 }, { gib, 4096, 1 },
		      { gib + 4096, gib - 4096, 0 }, { 2 * gib, 16, 1 },
		      { 2 * gib + 16, gib - 16, 0 });
	heap_destroy(h);
}

/* The space skipped to reach an alignment stays free and usable. */
static void test_aligned_gap_reused(void **state)
{
	struct heap *h = make_heap(8192);
	uint64_t off, a, b;

	(void)state;
	assert_int_equal(must_alloc(h, 16), 0);
	assert_int_equal(heap_aligned_alloc(h, 4096, 16, &off), 0);
	assert_int_equal(off, 4096);
	EXPECT_BLOCKS(h, { 0, 16, 1 }, { 16, 4080, 0 }, { 4096, 16, 1 }, { 4112, 4080, 0 });
	a = must_alloc(h, 4080);
	b = must_alloc(h, 4080);
	assert_true((a == 16 && b == 4112) || (a == 4112 && b == 16));
	assert_int_equal(heap_alloc(h, 1, &off), -ENOMEM);
	heap_destroy(h);
}

static void test_no_room(void **state)
{
	struct heap *h = make_heap(1024);
	struct heap_stat st;
	uint64_t off = 5;

	(void)state;
	assert_int_equal(heap_alloc(h, 1025, &off), -ENOMEM);
	assert_int_equal(heap_alloc(h, UINT64_MAX, &off), -ENOMEM);
	assert_int_equal(heap_aligned_alloc(h, 64, UINT64_MAX - 8, &off), -ENOMEM);
	assert_int_equal(off, 5);
	assert_int_equal(must_alloc(h, 1024), 0);
	assert_int_equal(heap_alloc(h, 1, &off), -ENOMEM);
	assert_int_equal(heap_free(h, 0), 0);
	assert_int_equal(must_alloc(h, 16), 0);
	assert_int_equal(heap_aligned_alloc(h, 512, 16, &off), 0);
	assert_int_equal(off, 512);
	assert_int_equal(heap_aligned_alloc(h, 512, 16, &off), -ENOMEM);
	EXPECT_BLOCKS(h, { 0, 16, 1 }, { 16, 496, 0 }, { 512, 16, 1 }, { 528, 496, 0 });
	assert_int_equal(heap_alloc(h, 497, &off), -ENOMEM);
	assert_int_equal(heap_alloc(h, 496, &off), 0);
	assert_true(off == 16 || off == 528);
	assert_int_equal(heap_alloc(h, 496, &off), 0);
	assert_true(off == 16 || off == 528);
	assert_int_equal(heap_alloc(h, 1, &off), -ENOMEM);
	heap_stat(h, &st);
	assert_int_equal(st.free, 0);
	assert_int_equal(st.largest_free, 0);
	assert_int_equal(st.num_allocs, 5);
	assert_int_equal(st.num_frees, 1);
	heap_destroy(h);
}

static void test_free_errors(void **state)
{
	struct heap *h = make_heap(4096);
	struct heap_stat st;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(must_alloc(h, 64), 64);
	assert_int_equal(heap_free(NULL, 0), -EINVAL);
	assert_int_equal(heap_free(h, 4096), -EINVAL);
	assert_int_equal(heap_free(h, UINT64_MAX), -EINVAL);
	assert_int_equal(heap_free(h, 8), -EINVAL);
	assert_int_equal(heap_free(h, 65), -EINVAL);
	assert_int_equal(heap_free(h, 16), -EINVAL);
	assert_int_equal(heap_free(h, 256), -EINVAL);
	/* 128 starts the free remainder: never handed out, but a free block. */
	assert_int_equal(heap_free(h, 128), -EFAULT);
	heap_stat(h, &st);
	assert_int_equal(st.num_frees, 0);
	assert_int_equal(st.num_used, 2);
	assert_int_equal(st.free, 4096 - 128);
	heap_destroy(h);
}

static void test_double_free(void **state)
{
	struct heap *h = make_heap(4096);
	struct heap_stat st;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(must_alloc(h, 64), 64);
	assert_int_equal(must_alloc(h, 64), 128);
	assert_int_equal(heap_free(h, 64), 0);
	assert_int_equal(heap_free(h, 64), -EFAULT);
	assert_int_equal(heap_free(h, 0), 0);
	assert_int_equal(heap_free(h, 0), -EFAULT);
	/* 64 was merged into the free block at 0 and starts nothing now. */
	assert_int_equal(heap_free(h, 64), -EINVAL);
	heap_stat(h, &st);
	assert_int_equal(st.num_allocs, 3);
	assert_int_equal(st.num_frees, 2);
	assert_int_equal(st.num_used, 1);
	assert_int_equal(st.free, 4096 - 64);
	EXPECT_BLOCKS(h, { 0, 128, 0 }, { 128, 64, 1 }, { 192, 3904, 0 });
	heap_destroy(h);
}

static void test_usable_size(void **state)
{
	struct heap *h = make_heap(4096);
	uint64_t size = 9;

	(void)state;
	assert_int_equal(must_alloc(h, 1000), 0);
	assert_int_equal(heap_usable_size(h, 0, &size), 0);
	assert_int_equal(size, 1008);
	assert_int_equal(heap_usable_size(h, 0, NULL), -EINVAL);
	assert_int_equal(heap_usable_size(NULL, 0, &size), -EINVAL);
	size = 9;
	assert_int_equal(heap_usable_size(h, 16, &size), -EINVAL);
	assert_int_equal(heap_usable_size(h, 3, &size), -EINVAL);
	assert_int_equal(heap_usable_size(h, 4096, &size), -EINVAL);
	assert_int_equal(heap_usable_size(h, 1008, &size), -EFAULT);
	assert_int_equal(size, 9);
	assert_int_equal(heap_free(h, 0), 0);
	assert_int_equal(heap_usable_size(h, 0, &size), -EFAULT);
	heap_destroy(h);
}

/* A request that falls between two bin floors must be served from a block
 * of its own bin that is large enough, even behind one that is not. */
static void test_exact_bin_search(void **state)
{
	struct heap *h = make_heap(3 * 4128);
	struct heap_stat st;
	uint64_t off;

	(void)state;
	assert_int_equal(must_alloc(h, 4113), 0);
	assert_int_equal(must_alloc(h, 4113), 4128);
	assert_int_equal(must_alloc(h, 4113), 8256);
	assert_int_equal(heap_free(h, 4128), 0);
	assert_int_equal(heap_alloc(h, 4113, &off), 0);
	assert_int_equal(off, 4128);
	heap_destroy(h);

	h = make_heap(4208 + 16 + 4096 + 16);
	assert_int_equal(must_alloc(h, 4208), 0);
	assert_int_equal(must_alloc(h, 16), 4208);
	assert_int_equal(must_alloc(h, 4096), 4224);
	assert_int_equal(must_alloc(h, 16), 8320);
	assert_int_equal(heap_free(h, 0), 0);
	assert_int_equal(heap_free(h, 4224), 0);
	heap_stat(h, &st);
	assert_int_equal(st.largest_free, 4208);
	assert_int_equal(st.free, 4208 + 4096);
	assert_int_equal(heap_alloc(h, 4200, &off), 0);
	assert_int_equal(off, 0);
	heap_stat(h, &st);
	assert_int_equal(st.largest_free, 4096);
	assert_int_equal(heap_alloc(h, 4097, &off), -ENOMEM);
	heap_destroy(h);
}

static void test_realloc_shrink(void **state)
{
	struct heap *h = make_heap(4096);
	struct copy_log c = { 0 };
	struct heap_stat st;
	uint64_t off = 1, size;

	(void)state;
	assert_int_equal(must_alloc(h, 256), 0);
	assert_int_equal(must_alloc(h, 64), 256);
	assert_int_equal(heap_realloc(h, 0, 100, copy_record, &c, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(heap_usable_size(h, 0, &size), 0);
	assert_int_equal(size, 112);
	EXPECT_BLOCKS(h, { 0, 112, 1 }, { 112, 144, 0 }, { 256, 64, 1 }, { 320, 3776, 0 });
	/* The freed tail joins the free block after it. */
	assert_int_equal(heap_realloc(h, 256, 1, copy_record, &c, &off), 0);
	assert_int_equal(off, 256);
	EXPECT_BLOCKS(h, { 0, 112, 1 }, { 112, 144, 0 }, { 256, 16, 1 }, { 272, 3824, 0 });
	assert_int_equal(heap_realloc(h, 256, 16, copy_record, &c, &off), 0);
	assert_int_equal(off, 256);
	assert_int_equal(c.calls, 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, 4096 - 128);
	assert_int_equal(st.min_free, 4096 - 320);
	assert_int_equal(st.num_allocs, 2);
	assert_int_equal(st.num_frees, 0);
	assert_int_equal(st.num_used, 2);
	heap_destroy(h);
}

static void test_realloc_grow_in_place(void **state)
{
	struct heap *h = make_heap(4096);
	struct copy_log c = { 0 };
	struct heap_stat st;
	uint64_t off = 1;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(must_alloc(h, 64), 64);
	assert_int_equal(must_alloc(h, 64), 128);
	assert_int_equal(heap_free(h, 64), 0);
	/* Takes the whole free block after it. */
	assert_int_equal(heap_realloc(h, 0, 128, copy_record, &c, &off), 0);
	assert_int_equal(off, 0);
	EXPECT_BLOCKS(h, { 0, 128, 1 }, { 128, 64, 1 }, { 192, 3904, 0 });
	/* Takes part of it. */
	assert_int_equal(heap_realloc(h, 128, 1000, copy_record, &c, &off), 0);
	assert_int_equal(off, 128);
	EXPECT_BLOCKS(h, { 0, 128, 1 }, { 128, 1008, 1 }, { 1136, 2960, 0 });
	assert_int_equal(c.calls, 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, 2960);
	assert_int_equal(st.min_free, 2960);
	assert_int_equal(st.largest_free, 2960);
	assert_int_equal(st.num_allocs, 3);
	assert_int_equal(st.num_frees, 1);
	heap_destroy(h);
}

static void test_realloc_move(void **state)
{
	struct heap *h = make_heap(4096);
	struct copy_log c = { 0 };
	struct heap_stat st;
	uint64_t off = 1, size;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(must_alloc(h, 64), 64);
	assert_int_equal(heap_realloc(h, 0, 256, copy_record, &c, &off), 0);
	assert_int_equal(off, 128);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.dst, 128);
	assert_int_equal(c.src, 0);
	assert_int_equal(c.len, 64);
	assert_int_equal(heap_usable_size(h, 128, &size), 0);
	assert_int_equal(size, 256);
	assert_int_equal(heap_usable_size(h, 0, &size), -EFAULT);
	EXPECT_BLOCKS(h, { 0, 64, 0 }, { 64, 64, 1 }, { 128, 256, 1 }, { 384, 3712, 0 });
	heap_stat(h, &st);
	assert_int_equal(st.free, 4096 - 320);
	assert_int_equal(st.min_free, 4096 - 384);
	assert_int_equal(st.num_allocs, 3);
	assert_int_equal(st.num_frees, 1);
	assert_int_equal(st.num_used, 2);
	heap_destroy(h);
}

static void test_realloc_failure_intact(void **state)
{
	struct heap *h = make_heap(256);
	struct copy_log c = { 0 };
	struct heap_stat st;
	uint64_t off = 7, size;

	(void)state;
	assert_int_equal(must_alloc(h, 128), 0);
	assert_int_equal(must_alloc(h, 128), 128);
	assert_int_equal(heap_realloc(h, 0, 200, copy_record, &c, &off), -ENOMEM);
	assert_int_equal(heap_realloc(h, 0, UINT64_MAX, copy_record, &c, &off), -ENOMEM);
	assert_int_equal(off, 7);
	assert_int_equal(c.calls, 0);
	assert_int_equal(heap_usable_size(h, 0, &size), 0);
	assert_int_equal(size, 128);
	heap_stat(h, &st);
	assert_int_equal(st.free, 0);
	assert_int_equal(st.num_allocs, 2);
	assert_int_equal(st.num_frees, 0);
	EXPECT_BLOCKS(h, { 0, 128, 1 }, { 128, 128, 1 });
	heap_destroy(h);
}

static void test_realloc_copy_failure_intact(void **state)
{
	struct heap *h = make_heap(1024);
	struct copy_log c = { .rc = -EIO };
	struct heap_stat st;
	uint64_t off = 7, size;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(must_alloc(h, 64), 64);
	assert_int_equal(heap_realloc(h, 0, 256, copy_record, &c, &off), -EIO);
	assert_int_equal(off, 7);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.dst, 128);
	assert_int_equal(c.src, 0);
	assert_int_equal(c.len, 64);
	assert_int_equal(heap_usable_size(h, 0, &size), 0);
	assert_int_equal(size, 64);
	EXPECT_BLOCKS(h, { 0, 64, 1 }, { 64, 64, 1 }, { 128, 896, 0 });
	heap_stat(h, &st);
	assert_int_equal(st.free, 896);
	assert_int_equal(st.num_allocs, 2);
	assert_int_equal(st.num_frees, 0);
	assert_int_equal(st.num_used, 2);
	heap_destroy(h);
}

static void test_realloc_errors(void **state)
{
	struct heap *h = make_heap(4096);
	struct copy_log c = { 0 };
	uint64_t off = 3;

	(void)state;
	assert_int_equal(must_alloc(h, 64), 0);
	assert_int_equal(heap_realloc(h, 0, 0, copy_record, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 0, 128, NULL, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 0, 128, copy_record, &c, NULL), -EINVAL);
	assert_int_equal(heap_realloc(NULL, 0, 128, copy_record, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 16, 128, copy_record, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 4, 128, copy_record, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 4096, 128, copy_record, &c, &off), -EINVAL);
	assert_int_equal(heap_realloc(h, 64, 128, copy_record, &c, &off), -EFAULT);
	assert_int_equal(off, 3);
	assert_int_equal(c.calls, 0);
	heap_destroy(h);
}

static void test_reserve(void **state)
{
	struct heap *h = make_heap(65536);
	struct heap_stat st;
	uint64_t size;

	(void)state;
	assert_int_equal(heap_reserve(h, 4096, 4096), 0);
	EXPECT_BLOCKS(h, { 0, 4096, 0 }, { 4096, 4096, 1 }, { 8192, 57344, 0 });
	assert_int_equal(heap_reserve(h, 6000, 16), -ENOMEM);
	assert_int_equal(heap_reserve(h, 4096, 16), -ENOMEM);
	assert_int_equal(heap_reserve(h, 4080, 32), -ENOMEM);
	assert_int_equal(heap_reserve(h, 8176, 512), -ENOMEM);
	assert_int_equal(heap_reserve(h, 4104, 16), -EINVAL);
	assert_int_equal(heap_reserve(h, 65536, 16), -EINVAL);
	assert_int_equal(heap_reserve(h, 65520, 32), -EINVAL);
	assert_int_equal(heap_reserve(h, 16, UINT64_MAX), -EINVAL);
	assert_int_equal(heap_reserve(h, 0, 0), -EINVAL);
	assert_int_equal(heap_reserve(NULL, 0, 16), -EINVAL);
	/* A whole free block, and a size that is rounded up. */
	assert_int_equal(heap_reserve(h, 0, 4096), 0);
	assert_int_equal(heap_reserve(h, 65504, 20), 0);
	assert_int_equal(heap_usable_size(h, 65504, &size), 0);
	assert_int_equal(size, 32);
	EXPECT_BLOCKS(h, { 0, 4096, 1 }, { 4096, 4096, 1 }, { 8192, 57312, 0 },
		      { 65504, 32, 1 });
	assert_int_equal(must_alloc(h, 16), 8192);
	assert_int_equal(heap_free(h, 4096), 0);
	assert_int_equal(heap_free(h, 0), 0);
	EXPECT_BLOCKS(h, { 0, 8192, 0 }, { 8192, 16, 1 }, { 8208, 57296, 0 },
		      { 65504, 32, 1 });
	heap_stat(h, &st);
	assert_int_equal(st.num_allocs, 4);
	assert_int_equal(st.num_frees, 2);
	assert_int_equal(st.num_used, 2);
	assert_int_equal(st.free, 65536 - 48);
	assert_int_equal(st.min_free, 65536 - 8192 - 48);
	heap_destroy(h);
}

static void test_stat_exact(void **state)
{
	struct heap *h = make_heap(65536);
	struct heap_stat st;

	(void)state;
	assert_int_equal(must_alloc(h, 1000), 0);
	assert_int_equal(must_alloc(h, 20000), 1008);
	assert_int_equal(must_alloc(h, 3000), 21008);
	heap_stat(h, &st);
	assert_int_equal(st.total, 65536);
	assert_int_equal(st.free, 41520);
	assert_int_equal(st.largest_free, 41520);
	assert_int_equal(st.min_free, 41520);
	assert_int_equal(st.num_allocs, 3);
	assert_int_equal(st.num_frees, 0);
	assert_int_equal(st.num_used, 3);
	assert_int_equal(heap_free(h, 1008), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, 61520);
	assert_int_equal(st.largest_free, 41520);
	assert_int_equal(st.min_free, 41520);
	assert_int_equal(st.num_frees, 1);
	assert_int_equal(st.num_used, 2);
	assert_int_equal(heap_free(h, 21008), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, 64528);
	assert_int_equal(st.largest_free, 64528);
	assert_int_equal(heap_alloc(h, 50000, &(uint64_t){ 0 }), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, 14528);
	assert_int_equal(st.largest_free, 14528);
	assert_int_equal(st.min_free, 14528);
	assert_int_equal(st.num_allocs, 4);
	assert_int_equal(st.num_frees, 2);
	assert_int_equal(st.num_used, 2);
	assert_int_equal(must_alloc(h, 14528), 51008);
	heap_stat(h, &st);
	assert_int_equal(st.free, 0);
	assert_int_equal(st.largest_free, 0);
	assert_int_equal(st.min_free, 0);
	heap_destroy(h);
}

static void test_walk(void **state)
{
	struct heap *h = make_heap(1024);
	struct walk_log w = { .stop_at = 2, .stop_rc = 7 };

	(void)state;
	assert_int_equal(must_alloc(h, 32), 0);
	assert_int_equal(must_alloc(h, 64), 32);
	assert_int_equal(must_alloc(h, 16), 96);
	assert_int_equal(heap_free(h, 32), 0);
	EXPECT_BLOCKS(h, { 0, 32, 1 }, { 32, 64, 0 }, { 96, 16, 1 }, { 112, 912, 0 });
	assert_int_equal(heap_walk(h, walk_collect, &w), 7);
	assert_int_equal(w.n, 2);
	assert_int_equal(heap_walk(h, NULL, &w), -EINVAL);
	free(w.b);
	heap_destroy(h);
}

/* Many blocks, so that the private record chunks and the offset index grow
 * several times, then everything back. */
static void test_many_blocks(void **state)
{
	const size_t n = 100000;
	struct heap *h = make_heap(n * 16);
	struct heap_stat st;
	uint64_t off;

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(must_alloc(h, 16), i * 16);
	assert_int_equal(heap_alloc(h, 16, &off), -ENOMEM);
	for (size_t i = 0; i < n; i += 2)
		assert_int_equal(heap_free(h, i * 16), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, n * 8);
	assert_int_equal(st.largest_free, 16);
	for (size_t i = 1; i < n; i += 2)
		assert_int_equal(heap_free(h, i * 16), 0);
	heap_stat(h, &st);
	assert_int_equal(st.free, n * 16);
	assert_int_equal(st.largest_free, n * 16);
	assert_int_equal(st.num_used, 0);
	EXPECT_BLOCKS(h, { 0, n * 16, 0 });
	heap_destroy(h);
}

/* Randomized operations checked against a model that knows every live
 * allocation. */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

struct live {
	uint64_t off;
	uint64_t usable;
};

struct model {
	uint64_t seed;
	size_t op;
	uint64_t total;
	struct live *v;
	size_t n;
	size_t cap;
	uint64_t used;
	uint64_t min_free;
	uint64_t num_allocs;
	uint64_t num_frees;
};

#define check(m, cond) do { \
	if (!(cond)) \
		fail_msg("heap stress seed %#llx, op %zu: %s (line %d)", \
			 (unsigned long long)(m)->seed, (m)->op, #cond, __LINE__); \
} while (0)

static uint64_t round16(uint64_t size)
{
	return (size + 15) & ~(uint64_t)15;
}

static void model_add(struct model *m, uint64_t off, uint64_t usable)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		assert_non_null(m->v);
	}
	m->v[m->n].off = off;
	m->v[m->n].usable = usable;
	m->n++;
	m->used += usable;
	if (m->total - m->used < m->min_free)
		m->min_free = m->total - m->used;
}

static void model_del(struct model *m, size_t i)
{
	m->used -= m->v[i].usable;
	m->v[i] = m->v[--m->n];
}

static int model_overlaps(const struct model *m, uint64_t off, uint64_t size)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].off < off + size && off < m->v[i].off + m->v[i].usable)
			return 1;
	return 0;
}

static int live_cmp(const void *a, const void *b)
{
	const struct live *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Compare the whole heap with the model: the blocks tile the range, no two
 * free blocks touch, the used blocks are exactly the live allocations and
 * every statistic matches. */
static void model_verify(struct model *m, struct heap *h, struct rng *r)
{
	struct walk_log w = { 0 };
	struct heap_stat st;
	uint64_t pos = 0, free_sum = 0, largest = 0;
	size_t k = 0;

	check(m, heap_walk(h, walk_collect, &w) == 0);
	qsort(m->v, m->n, sizeof(*m->v), live_cmp);
	for (size_t i = 0; i < w.n; i++) {
		check(m, w.b[i].off == pos);
		check(m, w.b[i].size > 0 && w.b[i].size % HEAP_MIN_ALIGN == 0);
		pos += w.b[i].size;
		if (w.b[i].used) {
			check(m, k < m->n);
			check(m, m->v[k].off == w.b[i].off);
			check(m, m->v[k].usable == w.b[i].size);
			k++;
		} else {
			check(m, i == 0 || w.b[i - 1].used);
			free_sum += w.b[i].size;
			if (w.b[i].size > largest)
				largest = w.b[i].size;
		}
	}
	check(m, pos == m->total);
	check(m, k == m->n);
	heap_stat(h, &st);
	check(m, st.total == m->total);
	check(m, st.free == free_sum);
	check(m, st.free == m->total - m->used);
	check(m, st.largest_free == largest);
	check(m, st.min_free == m->min_free);
	check(m, st.num_used == m->n);
	check(m, st.num_allocs == m->num_allocs);
	check(m, st.num_frees == m->num_frees);

	/* Offsets that start no live allocation: a free block start is a
	 * double free, anything else is unknown. */
	for (int t = 0; t < 8; t++) {
		size_t i = (size_t)rng_below(r, w.n);
		uint64_t off = w.b[i].off + 16 * rng_below(r, 2);
		int want;

		if ((off == w.b[i].off && w.b[i].used) || off >= w.b[i].off + w.b[i].size)
			continue;
		want = off == w.b[i].off ? -EFAULT : -EINVAL;
		check(m, heap_free(h, off) == want);
		check(m, heap_usable_size(h, off, &(uint64_t){ 0 }) == want);
	}
	free(w.b);
}

static uint64_t stress_size(struct rng *r, uint64_t max_log2)
{
	uint64_t bits = rng_below(r, max_log2 + 1);

	return 1 + rng_below(r, (uint64_t)1 << bits);
}

static void stress_run(uint64_t seed, uint64_t total, uint64_t max_log2, size_t num_ops)
{
	struct model m = { .seed = seed, .total = total, .min_free = total };
	struct rng r = { seed };
	struct heap *h = make_heap(total);
	struct copy_log c;
	struct heap_stat st;
	uint64_t off, size, usable;
	int rc;

	for (m.op = 0; m.op < num_ops; m.op++) {
		unsigned kind = (unsigned)rng_below(&r, 100);

		if (kind < 45 || m.n == 0) {
			uint64_t align = HEAP_MIN_ALIGN;

			size = stress_size(&r, max_log2);
			if (rng_below(&r, 5) == 0)
				align = (uint64_t)1 << rng_below(&r, 14);
			heap_stat(h, &st);
			rc = heap_aligned_alloc(h, align, size, &off);
			check(&m, rc == 0 || rc == -ENOMEM);
			if (st.largest_free >= 2 * (round16(size) + align))
				check(&m, rc == 0);
			if (rc)
				continue;
			check(&m, off % align == 0 && off % HEAP_MIN_ALIGN == 0);
			check(&m, off + size <= total);
			check(&m, heap_usable_size(h, off, &usable) == 0);
			check(&m, usable == round16(size));
			check(&m, !model_overlaps(&m, off, usable));
			model_add(&m, off, usable);
			m.num_allocs++;
		} else if (kind < 85) {
			size_t i = (size_t)rng_below(&r, m.n);

			check(&m, heap_free(h, m.v[i].off) == 0);
			model_del(&m, i);
			m.num_frees++;
		} else if (kind < 95) {
			size_t i = (size_t)rng_below(&r, m.n);
			struct live old = m.v[i];
			uint64_t dip = 0;
			int moved = 0;

			memset(&c, 0, sizeof(c));
			if (rng_below(&r, 10) == 0)
				c.rc = -EIO;
			size = stress_size(&r, max_log2);
			off = UINT64_MAX;
			rc = heap_realloc(h, old.off, size, copy_record, &c, &off);
			if (rc == -ENOMEM || rc == -EIO) {
				check(&m, off == UINT64_MAX);
				check(&m, c.calls == (rc == -EIO));
				check(&m, heap_usable_size(h, old.off, &usable) == 0);
				check(&m, usable == old.usable);
				if (rc == -EIO && m.total - m.used - round16(size) < m.min_free)
					m.min_free = m.total - m.used - round16(size);
				continue;
			}
			check(&m, rc == 0);
			check(&m, heap_usable_size(h, off, &usable) == 0);
			check(&m, usable == round16(size));
			if (off == old.off) {
				check(&m, c.calls == 0);
			} else {
				check(&m, c.calls == 1 && c.rc == 0);
				check(&m, c.dst == off && c.src == old.off && c.len == old.usable);
				check(&m, round16(size) > old.usable);
				dip = m.total - m.used - usable;
				moved = 1;
				m.num_allocs++;
				m.num_frees++;
			}
			model_del(&m, i);
			check(&m, !model_overlaps(&m, off, usable));
			if (moved && dip < m.min_free)
				m.min_free = dip;
			model_add(&m, off, usable);
		} else if (kind < 98) {
			size_t i = (size_t)rng_below(&r, m.n);

			check(&m, heap_usable_size(h, m.v[i].off, &usable) == 0);
			check(&m, usable == m.v[i].usable);
			if (usable > 16)
				check(&m, heap_free(h, m.v[i].off + 16) == -EINVAL);
			check(&m, heap_free(h, total + 16 * rng_below(&r, 4)) == -EINVAL);
			check(&m, heap_free(h, m.v[i].off + 1 + rng_below(&r, 15)) == -EINVAL);
		} else {
			off = 16 * rng_below(&r, total / 16);
			size = 1 + rng_below(&r, 4096);
			rc = heap_reserve(h, off, size);
			if (off + round16(size) > total) {
				check(&m, rc == -EINVAL);
			} else if (model_overlaps(&m, off, round16(size))) {
				check(&m, rc == -ENOMEM);
			} else {
				check(&m, rc == 0);
				model_add(&m, off, round16(size));
				m.num_allocs++;
			}
		}
		if (m.op % 500 == 0)
			model_verify(&m, h, &r);
	}
	model_verify(&m, h, &r);
	while (m.n) {
		check(&m, heap_free(h, m.v[m.n - 1].off) == 0);
		model_del(&m, m.n - 1);
		m.num_frees++;
	}
	model_verify(&m, h, &r);
	heap_stat(h, &st);
	check(&m, st.free == total && st.largest_free == total && st.num_used == 0);
	check(&m, heap_alloc(h, total, &off) == 0 && off == 0);
	check(&m, heap_alloc(h, 1, &off) == -ENOMEM);
	heap_destroy(h);
	free(m.v);
}

static void test_stress_mixed(void **state)
{
	(void)state;
	stress_run(UINT64_C(0x5eed0001), (uint64_t)1 << 20, 14, 150000);
}

/* Small sizes in a small range: many neighbours, much coalescing. */
static void test_stress_small(void **state)
{
	(void)state;
	stress_run(UINT64_C(0x5eed0002), (uint64_t)64 << 10, 9, 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_alloc_size_zero),
		cmocka_unit_test(test_alloc_rounds_up),
		cmocka_unit_test(test_aligned_bad_alignment),
		cmocka_unit_test(test_aligned_every_power),
		cmocka_unit_test(test_aligned_max),
		cmocka_unit_test(test_aligned_gap_reused),
		cmocka_unit_test(test_no_room),
		cmocka_unit_test(test_free_errors),
		cmocka_unit_test(test_double_free),
		cmocka_unit_test(test_usable_size),
		cmocka_unit_test(test_exact_bin_search),
		cmocka_unit_test(test_realloc_shrink),
		cmocka_unit_test(test_realloc_grow_in_place),
		cmocka_unit_test(test_realloc_move),
		cmocka_unit_test(test_realloc_failure_intact),
		cmocka_unit_test(test_realloc_copy_failure_intact),
		cmocka_unit_test(test_realloc_errors),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_stat_exact),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_many_blocks),
		cmocka_unit_test(test_stress_mixed),
		cmocka_unit_test(test_stress_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
