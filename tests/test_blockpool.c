#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockpool.h"
#include "span.h"

#define SENTINEL UINT64_C(0xdeadbeefdeadbeef)

static void pool_init(struct blockpool *bp, uint64_t block_size, uint64_t num_blocks,
		      uint64_t align)
{
	assert_int_equal(blockpool_init(bp, block_size, num_blocks, align), 0);
}

static uint32_t used_of(const struct blockpool *bp)
{
	struct blockpool_stat st;

	blockpool_stat(bp, &st);
	assert_int_equal(st.num_used + st.num_free, st.num_blocks);
	return st.num_used;
}

/* Whether block i is allocated, through the public API only. */
static bool is_allocated(const struct blockpool *bp, uint32_t i)
{
	int rc = blockpool_check_allocated(bp, blockpool_offset(bp, i));

	assert_true(rc == 0 || rc == -EFAULT);
	return rc == 0;
}

static void test_init_errors(void **state)
{
	struct blockpool bp;

	(void)state;
	assert_int_equal(blockpool_init(NULL, 16, 4, 16), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 0, 4, 16), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, 0, 16), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, 4, 3), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, 4, 24), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, 4, UINT64_MAX), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, UINT32_MAX, 16), -EINVAL);
	assert_int_equal(blockpool_init(&bp, 16, (uint64_t)UINT32_MAX + 1, 16), -EINVAL);
	assert_int_equal(blockpool_init(&bp, UINT64_MAX, 1, 16), -EOVERFLOW);
	assert_int_equal(blockpool_init(&bp, (uint64_t)1 << 40, (uint64_t)1 << 30, 16), -EOVERFLOW);

	assert_int_equal(blockpool_span_for(0, 4, 16), 0);
	assert_int_equal(blockpool_span_for(16, 0, 16), 0);
	assert_int_equal(blockpool_span_for(16, 4, 3), 0);
	assert_int_equal(blockpool_span_for(UINT64_MAX, 1, 16), 0);
	assert_int_equal(blockpool_span_for((uint64_t)1 << 40, (uint64_t)1 << 30, 16), 0);
	assert_int_equal(blockpool_span_for(24, 10, 16), 320);
	assert_int_equal(blockpool_span_for(24, 10, 0), 320);
	assert_int_equal(blockpool_span_for(24, 10, 1), 240);
}

static void test_fresh_ascending(void **state)
{
	struct blockpool bp;
	uint64_t off;

	(void)state;
	pool_init(&bp, 64, 8, 0);
	assert_int_equal(bp.align, BLOCKPOOL_DEFAULT_ALIGN);
	assert_int_equal(blockpool_span(&bp), 512);
	for (uint64_t i = 0; i < 8; i++) {
		assert_int_equal(blockpool_alloc(&bp, &off), 0);
		assert_int_equal(off, i * 64);
	}
	off = SENTINEL;
	assert_int_equal(blockpool_alloc(&bp, &off), -ENOMEM);
	assert_int_equal(off, SENTINEL);
	assert_int_equal(used_of(&bp), 8);
	blockpool_fini(&bp);
}

static void test_alloc_n_ascending(void **state)
{
	struct blockpool bp;
	uint64_t offs[5];

	(void)state;
	pool_init(&bp, 10, 9, 0);
	assert_int_equal(blockpool_alloc_n(&bp, 5, offs), 0);
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(offs[i], i * 16);
	blockpool_fini(&bp);
}

/* The index API: same order, same errors, same state as the offset one. */
static void test_index_api(void **state)
{
	struct blockpool bp;
	uint32_t idx[6] = { 0 };
	uint64_t off;

	(void)state;
	pool_init(&bp, 10, 9, 0);
	assert_int_equal(blockpool_alloc_n_index(&bp, 0, NULL), 0);
	assert_int_equal(blockpool_alloc_n_index(&bp, 3, NULL), -EINVAL);
	assert_int_equal(blockpool_alloc_n_index(NULL, 3, idx), -EINVAL);
	assert_int_equal(blockpool_alloc_n_index(&bp, 10, idx), -ENOMEM);
	assert_int_equal(used_of(&bp), 0);
	assert_int_equal(blockpool_alloc_n_index(&bp, 5, idx), 0);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(idx[i], i);
		assert_true(is_allocated(&bp, i));
	}
	assert_false(is_allocated(&bp, 5));
	assert_int_equal(used_of(&bp), 5);
	assert_int_equal(blockpool_free_index(&bp, 9), -EINVAL);
	assert_int_equal(blockpool_free_index(&bp, UINT32_MAX), -EINVAL);
	assert_int_equal(blockpool_free_index(NULL, 0), -EINVAL);
	assert_int_equal(blockpool_free_index(&bp, 5), -EFAULT);
	assert_int_equal(blockpool_free_index(&bp, 3), 0);
	assert_int_equal(blockpool_free_index(&bp, 3), -EFAULT);
	assert_int_equal(blockpool_free_index(&bp, 1), 0);
	assert_int_equal(used_of(&bp), 3);
	/* LIFO across both APIs: the last freed comes back first. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 1 * 16);
	assert_int_equal(blockpool_alloc_n_index(&bp, 2, idx), 0);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 5);
	assert_int_equal(blockpool_free(&bp, 5 * 16), 0);
	assert_false(is_allocated(&bp, 5));
	assert_int_equal(used_of(&bp), 5);
	blockpool_fini(&bp);
}

/* blockpool_free_n_index is all or nothing, as blockpool_free_n. */
static void test_free_n_index(void **state)
{
	struct blockpool bp;
	uint32_t idx[4], bad[3];
	uint64_t off;

	(void)state;
	pool_init(&bp, 64, 8, 0);
	assert_int_equal(blockpool_alloc_n_index(&bp, 4, idx), 0);
	assert_int_equal(blockpool_free_n_index(&bp, 0, NULL), 0);
	assert_int_equal(blockpool_free_n_index(&bp, 2, NULL), -EINVAL);
	bad[0] = 0;
	bad[1] = 8;
	assert_int_equal(blockpool_free_n_index(&bp, 2, bad), -EINVAL);
	bad[1] = 6;
	assert_int_equal(blockpool_free_n_index(&bp, 2, bad), -EFAULT);
	/* Listed twice: each entry is allocated when checked, the second
	 * is caught while freeing, and the first is put back. */
	bad[0] = 1;
	bad[1] = 2;
	bad[2] = 1;
	assert_int_equal(blockpool_free_n_index(&bp, 3, bad), -EFAULT);
	assert_int_equal(used_of(&bp), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_true(is_allocated(&bp, i));
	assert_int_equal(blockpool_free_n_index(&bp, 3, idx + 1), 0);
	assert_int_equal(used_of(&bp), 1);
	assert_true(is_allocated(&bp, 0));
	/* LIFO: the last of the list comes back first. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 3 * 64);
	blockpool_fini(&bp);
}

/* blockpool_release_n_index puts back a validated list exactly as the
 * checked free does: bits cleared, LIFO order, and the blocks' slots in the
 * stack right for a later contiguous take. */
static void test_release_n_index(void **state)
{
	struct blockpool bp;
	uint32_t idx[70], back[3] = { 66, 2, 65 };
	uint64_t off;

	(void)state;
	pool_init(&bp, 32, 70, 0);
	blockpool_release_n_index(&bp, 0, NULL);
	assert_int_equal(used_of(&bp), 0);
	assert_int_equal(blockpool_alloc_n_index(&bp, 70, idx), 0);
	assert_int_equal(used_of(&bp), 70);
	blockpool_release_n_index(&bp, 3, back);
	assert_int_equal(used_of(&bp), 67);
	assert_false(is_allocated(&bp, 2));
	assert_false(is_allocated(&bp, 65));
	assert_false(is_allocated(&bp, 66));
	assert_true(is_allocated(&bp, 64));
	assert_true(is_allocated(&bp, 67));
	assert_int_equal(blockpool_check_allocated(&bp, 65 * 32), -EFAULT);
	/* Across the word boundary: 65 and 66 are the one free run of 2. */
	assert_int_equal(blockpool_alloc_contig(&bp, 2, &off), 0);
	assert_int_equal(off, 65 * 32);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 2 * 32);
	assert_int_equal(blockpool_alloc(&bp, &off), -ENOMEM);
	blockpool_fini(&bp);
}

/* span_is_run: ascending and descending runs of every length around the
 * eight-wide loop, the wrap at both ends, and one wrong entry anywhere. */
static void test_span_is_run(void **state)
{
	uint32_t idx[70], lo;

	(void)state;
	for (size_t n = 0; n <= 70; n++) {
		for (int asc = 0; asc <= 1; asc++) {
			span_fill_seq(idx, n, asc ? 1000 : 1000 + (uint32_t)n - 1, asc);
			lo = 7;
			assert_int_equal(span_is_run(idx, n, &lo), n >= SPAN_RUN_MIN);
			assert_int_equal(lo, n >= SPAN_RUN_MIN ? 1000 : 7);
			for (size_t k = 0; k < n && n >= SPAN_RUN_MIN; k++) {
				idx[k] += 2;
				assert_int_equal(span_is_run(idx, n, &lo), 0);
				idx[k] -= 2;
			}
		}
	}
	/* No wrap past UINT32_MAX or below 0. */
	span_fill_seq(idx, 8, UINT32_MAX - 6, 1);
	assert_int_equal(span_is_run(idx, 8, &lo), 0);
	span_fill_seq(idx, 8, UINT32_MAX - 7, 1);
	assert_int_equal(span_is_run(idx, 8, &lo), 1);
	assert_int_equal(lo, UINT32_MAX - 7);
	span_fill_seq(idx, 8, 6, 0);
	assert_int_equal(span_is_run(idx, 8, &lo), 0);
	span_fill_seq(idx, 8, 7, 0);
	assert_int_equal(span_is_run(idx, 8, &lo), 1);
	assert_int_equal(lo, 0);
	/* The same block twice is no run. */
	span_fill(idx, 9, 5);
	assert_int_equal(span_is_run(idx, 9, &lo), 0);
}

/* The other span loops, at lengths around the eight-wide loop. */
static void test_span_ops(void **state)
{
	uint32_t a[21], b[21];

	(void)state;
	for (size_t n = 0; n <= 19; n++) {
		span_fill(a, 21, 3);
		span_fill(a + 1, n, 9);
		assert_int_equal(a[0], 3);
		assert_int_equal(a[n + 1], 3);
		for (size_t k = 1; k <= n; k++)
			assert_int_equal(a[k], 9);
		span_increment(a + 1, n);
		assert_int_equal(a[0], 3);
		assert_int_equal(a[n + 1], 3);
		assert_int_equal(span_all_equal(a + 1, n, 10), 1);
		span_fill(b, 21, 4);
		assert_int_equal(span_both_equal(a + 1, 10, b, 4, n), 1);
		if (n) {
			b[n - 1] = 5;
			assert_int_equal(span_both_equal(a + 1, 10, b, 4, n), 0);
			a[n] = 11;
			assert_int_equal(span_all_equal(a + 1, n, 10), 0);
		}
		span_fill_seq(a, n, 100, 0);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(a[k], 100 - k);
	}
}

/*
 * The run paths change nothing but speed: a pool driven through
 * blockpool_take_n_index, blockpool_release_n_index, blockpool_release_run
 * and blockpool_free_contig ends every step in exactly the state (stack,
 * positions, bitmap) of a twin driven one block at a time, and hands out
 * the same blocks in the same order.  Lists are runs up and down, shuffled
 * runs and random picks, long enough to take the run paths.
 */
static void twin_compare(const struct blockpool *a, const struct blockpool *b, unsigned step)
{
	if (a->num_free != b->num_free ||
	    memcmp(a->stack, b->stack, a->num_free * sizeof(*a->stack)) ||
	    memcmp(a->bitmap, b->bitmap, (a->num_blocks + 63) / 64 * sizeof(*a->bitmap)) ||
	    a->max_used != b->max_used)
		fail_msg("run paths and single blocks differ after step %u", step);
	/* Every free block knows its place in the stack. */
	for (uint32_t k = 0; k < a->num_free; k++)
		if (a->pos[a->stack[k]] != k || b->pos[b->stack[k]] != k)
			fail_msg("position of block %u wrong after step %u", a->stack[k], step);
}

/* Whether idx[0..m) is exactly the blocks *lo .. *lo + m - 1, in any order. */
static bool span_of(const uint32_t *idx, uint32_t m, uint32_t *lo)
{
	bool seen[300] = { false };
	uint32_t mn = UINT32_MAX;

	for (uint32_t k = 0; k < m; k++)
		mn = idx[k] < mn ? idx[k] : mn;
	for (uint32_t k = 0; k < m; k++) {
		if (idx[k] - mn >= m || seen[idx[k] - mn])
			return false;
		seen[idx[k] - mn] = true;
	}
	*lo = mn;
	return m > 0;
}

static void test_run_paths_twin(void **state)
{
	enum { N = 300, STEPS = 40000 };
	struct blockpool a, b;
	uint32_t held[N], idx[N], nheld = 0;
	uint64_t rng = 0x5eed, off;
	unsigned runs = 0, spans = 0, lists = 0, back_runs = 0, back_spans = 0;

	(void)state;
	pool_init(&a, 16, N, 0);
	pool_init(&b, 16, N, 0);
	for (unsigned step = 0; step < STEPS; step++) {
		uint32_t n, pick;
		int rc;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		n = (uint32_t)(rng >> 40) % 70;
		pick = (uint32_t)(rng >> 20) % 20;
		/* Single blocks and contiguous takes, on both twins. */
		if (pick >= 16) {
			uint64_t oa, ob;
			int ra, rb;

			if (pick == 16) {
				ra = blockpool_alloc(&a, &oa);
				rb = blockpool_alloc(&b, &ob);
				n = 1;
			} else if (pick == 17 && nheld) {
				uint32_t j = (uint32_t)(rng >> 7) % nheld;

				assert_int_equal(blockpool_free_index(&a, held[j]), 0);
				assert_int_equal(blockpool_free_index(&b, held[j]), 0);
				memmove(held + j, held + j + 1, (--nheld - j) * sizeof(*held));
				twin_compare(&a, &b, step);
				continue;
			} else {
				n = 1 + n % 12;
				ra = blockpool_alloc_contig(&a, n, &oa);
				rb = blockpool_alloc_contig(&b, n, &ob);
			}
			assert_int_equal(ra, rb);
			if (ra == 0) {
				assert_int_equal(oa, ob);
				for (uint32_t k = 0; k < n; k++)
					held[nheld++] = (uint32_t)(oa / 16) + k;
			}
			twin_compare(&a, &b, step);
			continue;
		}
		/* Now and then every block is taken and the whole pool
		 * given back as one contiguous run, which makes the stack
		 * one run again; random picks break the runs up. */
		if (step % 50 == 49) {
			uint32_t lo;

			n = N - nheld;
			rc = blockpool_take_n_index(&a, n, idx, &lo);
			assert_true(rc >= 0 && rc <= 2);
			if (rc == 2)
				blockpool_seq_fill(idx, n);
			for (uint32_t k = 0; k < n; k++) {
				assert_int_equal(blockpool_alloc(&b, &off), 0);
				assert_int_equal(idx[k], off / 16);
			}
			assert_int_equal(blockpool_free_contig(&a, 0, N), 0);
			for (uint32_t k = N; k-- > 0;)
				assert_int_equal(blockpool_free_index(&b, k), 0);
			nheld = 0;
			twin_compare(&a, &b, step);
			continue;
		}
		if (pick == 2 && (rng >> 50) % 4)
			pick = 3;
		else if (pick > 5)
			pick = pick % 2 ? 0 : 3 + pick % 3;
		if (pick < 2) {
			/* Take n. */
			if (n > N - nheld)
				n = N - nheld;
			uint32_t lo = 0, lo2;

			rc = blockpool_take_n_index(&a, n, idx, &lo);
			assert_true(rc >= 0 && rc <= 2);
			if (n >= SPAN_RUN_MIN)
				*(rc == 0 ? &lists : rc == 2 ? &runs : &spans) += 1;
			/* 2: in order, up or down, from the run's end; 1: a
			 * span that is not one (the test below holds for both). */
			if (rc == 2) {
				blockpool_seq_fill(idx, n);
				assert_true(span_is_run(idx, n, &lo2));
				assert_int_equal(lo2, lo);
			}
			if (rc == 1)
				assert_false(n >= SPAN_RUN_MIN && span_is_run(idx, n, &lo2));
			for (uint32_t k = 0; k < n; k++) {
				assert_int_equal(blockpool_alloc(&b, &off), 0);
				assert_int_equal(idx[k], off / 16);
				held[nheld++] = idx[k];
			}
			/* 1 and 2: exactly the blocks lo .. lo + n - 1. */
			if (rc >= 1)
				for (uint32_t k = 0; k < n; k++)
					assert_true(idx[k] >= lo && idx[k] - lo < n);
		} else if (pick == 2 && nheld) {
			/* Give back n held blocks, a random pick in random order. */
			if (n > nheld)
				n = nheld;
			for (uint32_t k = 0; k < n; k++) {
				uint32_t j = (uint32_t)((rng >> 3) + k * 7919u) % nheld;

				idx[k] = held[j];
				memmove(held + j, held + j + 1, (--nheld - j) * sizeof(*held));
			}
			/* The checked free, or the daemon's put-back. */
			if ((rng >> 55) % 2)
				assert_int_equal(blockpool_free_n_index(&a, n, idx), 0);
			else
				blockpool_release_n_index(&a, n, idx);
			for (uint32_t k = 0; k < n; k++)
				assert_int_equal(blockpool_free_index(&b, idx[k]), 0);
		} else if (pick >= 3 && nheld) {
			/* Give back the most recent take's tail, as a run
			 * when it is one: forwards, backwards or contiguous. */
			uint32_t lo, m = n < nheld ? n : nheld;

			memcpy(idx, held + nheld - m, m * sizeof(*idx));
			if (pick == 4)
				for (uint32_t k = 0; k < m / 2; k++) {
					uint32_t t = idx[k];

					idx[k] = idx[m - 1 - k];
					idx[m - 1 - k] = t;
				}
			nheld -= m;
			if (pick == 5 && span_is_run(idx, m, &lo)) {
				assert_int_equal(blockpool_free_contig(&a, lo * 16, m), 0);
				for (uint32_t k = m; k-- > 0;)
					assert_int_equal(blockpool_free_index(&b, lo + k), 0);
			} else if (span_is_run(idx, m, &lo)) {
				back_runs++;
				blockpool_release_run(&a, idx[0], m, idx[0] == lo);
				for (uint32_t k = 0; k < m; k++)
					assert_int_equal(blockpool_free_index(&b, idx[k]), 0);
			} else if (span_of(idx, m, &lo)) {
				/* Adjacent in no run order: the daemon puts
				 * them back as a run, highest first. */
				back_spans++;
				blockpool_release_run(&a, lo + m - 1, m, 0);
				for (uint32_t k = m; k-- > 0;)
					assert_int_equal(blockpool_free_index(&b, lo + k), 0);
			} else {
				blockpool_release_n_index(&a, m, idx);
				for (uint32_t k = 0; k < m; k++)
					assert_int_equal(blockpool_free_index(&b, idx[k]), 0);
			}
		}
		twin_compare(&a, &b, step);
	}
	/* Every way was taken, many times (the seed is fixed). */
	assert_true(runs > 1000 && spans > 500 && lists > 1000 && back_runs > 1000 &&
		    back_spans > 1000);
	blockpool_fini(&a);
	blockpool_fini(&b);
}

static void test_lifo(void **state)
{
	struct blockpool bp;
	uint64_t off;

	(void)state;
	pool_init(&bp, 32, 8, 16);
	for (int i = 0; i < 4; i++)
		assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(blockpool_free(&bp, 32), 0);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 32);

	assert_int_equal(blockpool_free(&bp, 0), 0);
	assert_int_equal(blockpool_free(&bp, 64), 0);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 64);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 0);
	/* Then the fresh ones again, in ascending order. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 128);
	blockpool_fini(&bp);
}

static void test_alignment(void **state)
{
	static const struct {
		uint64_t block_size, align, stride;
	} cases[] = {
		{ 24, 16, 32 }, { 1, 0, 16 }, { 16, 16, 16 }, { 17, 8, 24 },
		{ 100, 64, 128 }, { 5, 1, 5 }, { 3, 2, 4 }, { 4096, 4096, 4096 },
		{ 1, 4096, 4096 }, { 4097, 4096, 8192 },
	};
	const uint32_t count = 37;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t align = cases[c].align ? cases[c].align : BLOCKPOOL_DEFAULT_ALIGN;
		uint64_t prev = 0, off, first;
		struct blockpool bp;

		pool_init(&bp, cases[c].block_size, count, cases[c].align);
		assert_int_equal(bp.stride, cases[c].stride);
		assert_int_equal(blockpool_span(&bp), cases[c].stride * count);
		assert_int_equal(blockpool_span_for(cases[c].block_size, count, cases[c].align),
				 cases[c].stride * count);
		for (uint32_t i = 0; i < count; i++) {
			assert_int_equal(blockpool_alloc(&bp, &off), 0);
			assert_int_equal(off % align, 0);
			assert_int_equal(off % bp.stride, 0);
			assert_true(off + cases[c].block_size <= blockpool_span(&bp));
			if (i)
				assert_true(off >= prev + cases[c].block_size);
			prev = off;
		}
		for (uint32_t i = 0; i < count; i++)
			assert_int_equal(blockpool_free(&bp, blockpool_offset(&bp, i)), 0);
		assert_int_equal(blockpool_alloc_contig(&bp, 5, &first), 0);
		assert_int_equal(first % align, 0);
		assert_int_equal(blockpool_reserve(&bp, 7 * bp.stride, 3), 0);
		blockpool_fini(&bp);
	}
}

static void test_count_zero(void **state)
{
	struct blockpool bp;
	uint64_t first = SENTINEL, off;

	(void)state;
	pool_init(&bp, 16, 8, 16);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(blockpool_alloc_n(&bp, 0, NULL), 0);
	assert_int_equal(blockpool_free_n(&bp, 0, NULL), 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 0, &first), 0);
	assert_int_equal(first, SENTINEL);
	assert_int_equal(blockpool_reserve(&bp, 0, 0), 0);
	assert_int_equal(blockpool_reserve(&bp, 5, 0), 0);
	assert_int_equal(blockpool_free_contig(&bp, 16, 0), 0);
	assert_int_equal(blockpool_free_contig(&bp, 5, 0), 0);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 0), 0);
	assert_int_equal(used_of(&bp), 1);
	assert_true(is_allocated(&bp, 0));
	blockpool_fini(&bp);
}

static void test_count_over_capacity(void **state)
{
	struct blockpool bp;
	uint64_t offs[9] = { 0 }, first = SENTINEL;

	(void)state;
	pool_init(&bp, 16, 8, 16);
	assert_int_equal(blockpool_alloc_n(&bp, 9, offs), -ENOMEM);
	assert_int_equal(blockpool_alloc_contig(&bp, 9, &first), -ENOMEM);
	assert_int_equal(blockpool_alloc_contig(&bp, SIZE_MAX, &first), -ENOMEM);
	assert_int_equal(first, SENTINEL);
	assert_int_equal(blockpool_reserve(&bp, 0, 9), -ENOMEM);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 9), -ENOMEM);
	assert_int_equal(used_of(&bp), 0);
	/* The whole pool is not too many. */
	assert_int_equal(blockpool_alloc_contig(&bp, 8, &first), 0);
	assert_int_equal(first, 0);
	blockpool_fini(&bp);
}

static void test_not_enough_free(void **state)
{
	struct blockpool bp;
	uint64_t offs[3] = { SENTINEL, SENTINEL, SENTINEL }, first = SENTINEL, off;

	(void)state;
	pool_init(&bp, 16, 8, 16);
	for (int i = 0; i < 6; i++)
		assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(blockpool_alloc_n(&bp, 3, offs), -ENOMEM);
	for (int i = 0; i < 3; i++)
		assert_int_equal(offs[i], SENTINEL);
	assert_int_equal(blockpool_alloc_contig(&bp, 3, &first), -ENOMEM);
	assert_int_equal(first, SENTINEL);
	assert_int_equal(used_of(&bp), 6);
	assert_false(is_allocated(&bp, 6));
	assert_false(is_allocated(&bp, 7));
	assert_int_equal(blockpool_alloc_n(&bp, 2, offs), 0);
	assert_int_equal(offs[0], 96);
	assert_int_equal(offs[1], 112);
	assert_int_equal(blockpool_alloc(&bp, &off), -ENOMEM);
	assert_int_equal(blockpool_alloc_n(&bp, 1, offs), -ENOMEM);
	assert_int_equal(used_of(&bp), 8);
	blockpool_fini(&bp);
}

static void test_double_free(void **state)
{
	struct blockpool bp;
	uint64_t off, first;

	(void)state;
	pool_init(&bp, 16, 8, 16);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(blockpool_check_allocated(&bp, off), 0);
	assert_int_equal(blockpool_free(&bp, off), 0);
	assert_int_equal(blockpool_free(&bp, off), -EFAULT);
	assert_int_equal(blockpool_check_allocated(&bp, off), -EFAULT);
	assert_int_equal(blockpool_free(&bp, 7 * 16), -EFAULT);
	assert_int_equal(blockpool_free_n(&bp, 1, &off), -EFAULT);
	assert_int_equal(blockpool_free_contig(&bp, 0, 2), -EFAULT);

	assert_int_equal(blockpool_alloc_contig(&bp, 3, &first), 0);
	assert_int_equal(blockpool_free_contig(&bp, first, 3), 0);
	assert_int_equal(blockpool_free_contig(&bp, first, 3), -EFAULT);
	assert_int_equal(used_of(&bp), 0);
	blockpool_fini(&bp);
}

static void test_bad_offsets(void **state)
{
	struct blockpool bp;
	uint64_t offs[4], bad[2];

	(void)state;
	pool_init(&bp, 24, 4, 16);
	assert_int_equal(blockpool_alloc_n(&bp, 4, offs), 0);
	assert_int_equal(blockpool_free(&bp, 16), -EINVAL);
	assert_int_equal(blockpool_free(&bp, 1), -EINVAL);
	assert_int_equal(blockpool_free(&bp, 128), -EINVAL);
	assert_int_equal(blockpool_free(&bp, 1 << 20), -EINVAL);
	assert_int_equal(blockpool_free(&bp, UINT64_MAX), -EINVAL);
	assert_int_equal(blockpool_check_allocated(&bp, 33), -EINVAL);
	assert_int_equal(blockpool_check_allocated(&bp, 128), -EINVAL);
	bad[0] = 0;
	bad[1] = 160;
	assert_int_equal(blockpool_free_n(&bp, 2, bad), -EINVAL);
	assert_int_equal(blockpool_free_contig(&bp, 16, 1), -EINVAL);
	assert_int_equal(blockpool_free_contig(&bp, 128, 1), -EINVAL);
	assert_int_equal(blockpool_free_contig(&bp, 96, 2), -EINVAL);
	assert_int_equal(blockpool_free_contig(&bp, 0, 5), -EINVAL);
	assert_int_equal(blockpool_free_contig(&bp, 0, SIZE_MAX), -EINVAL);
	assert_int_equal(used_of(&bp), 4);

	for (int i = 0; i < 4; i++)
		assert_int_equal(blockpool_free(&bp, offs[i]), 0);
	assert_int_equal(blockpool_reserve(&bp, 16, 1), -EINVAL);
	assert_int_equal(blockpool_reserve(&bp, 128, 1), -EINVAL);
	assert_int_equal(blockpool_reserve(&bp, UINT64_MAX, 1), -EINVAL);
	assert_int_equal(blockpool_reserve(&bp, 96, 2), -EINVAL);
	assert_int_equal(blockpool_reserve(&bp, 32, 4), -EINVAL);
	assert_int_equal(used_of(&bp), 0);
	blockpool_fini(&bp);
}

static void test_null_args(void **state)
{
	struct blockpool bp;
	uint64_t off;

	(void)state;
	pool_init(&bp, 16, 4, 16);
	assert_int_equal(blockpool_alloc(&bp, NULL), -EINVAL);
	assert_int_equal(blockpool_alloc(NULL, &off), -EINVAL);
	assert_int_equal(blockpool_alloc_n(&bp, 2, NULL), -EINVAL);
	assert_int_equal(blockpool_alloc_contig(&bp, 2, NULL), -EINVAL);
	assert_int_equal(blockpool_free_n(&bp, 2, NULL), -EINVAL);
	assert_int_equal(blockpool_walk(&bp, NULL, NULL), -EINVAL);
	assert_int_equal(used_of(&bp), 0);
	blockpool_fini(&bp);
}

static void test_free_n_all_or_nothing(void **state)
{
	struct blockpool bp;
	struct blockpool_stat before, after;
	uint64_t offs[4], list[3], off;

	(void)state;
	pool_init(&bp, 64, 8, 16);
	assert_int_equal(blockpool_alloc_n(&bp, 4, offs), 0);
	blockpool_stat(&bp, &before);

	list[0] = offs[0];
	list[1] = offs[1];
	list[2] = 999;
	assert_int_equal(blockpool_free_n(&bp, 3, list), -EINVAL);
	list[2] = 5 * 64;
	assert_int_equal(blockpool_free_n(&bp, 3, list), -EFAULT);
	list[2] = 8 * 64;
	assert_int_equal(blockpool_free_n(&bp, 3, list), -EINVAL);

	blockpool_stat(&bp, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	for (uint32_t i = 0; i < 4; i++)
		assert_true(is_allocated(&bp, i));
	/* The free stack is untouched too: the next block is still block 4. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 4 * 64);

	list[2] = offs[3];
	assert_int_equal(blockpool_free_n(&bp, 3, list), 0);
	assert_int_equal(used_of(&bp), 2);
	assert_false(is_allocated(&bp, 0));
	assert_false(is_allocated(&bp, 1));
	assert_true(is_allocated(&bp, 2));
	assert_false(is_allocated(&bp, 3));
	blockpool_fini(&bp);
}

static void test_free_n_duplicate(void **state)
{
	struct blockpool bp;
	struct blockpool_stat before, after;
	uint64_t offs[4], list[4], off;

	(void)state;
	pool_init(&bp, 64, 8, 16);
	assert_int_equal(blockpool_alloc_n(&bp, 4, offs), 0);
	blockpool_stat(&bp, &before);

	list[0] = offs[0];
	list[1] = offs[1];
	list[2] = offs[0];
	assert_int_equal(blockpool_free_n(&bp, 3, list), -EFAULT);
	list[0] = offs[2];
	list[1] = offs[2];
	assert_int_equal(blockpool_free_n(&bp, 2, list), -EFAULT);
	list[0] = offs[1];
	list[1] = offs[2];
	list[2] = offs[3];
	list[3] = offs[3];
	assert_int_equal(blockpool_free_n(&bp, 4, list), -EFAULT);
	/* An invalid entry is reported before a duplicate. */
	list[0] = offs[0];
	list[1] = offs[0];
	list[2] = 7;
	assert_int_equal(blockpool_free_n(&bp, 3, list), -EINVAL);

	blockpool_stat(&bp, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	for (uint32_t i = 0; i < 4; i++)
		assert_true(is_allocated(&bp, i));
	/* The rollback restored the free stack exactly. */
	for (uint64_t i = 4; i < 8; i++) {
		assert_int_equal(blockpool_alloc(&bp, &off), 0);
		assert_int_equal(off, i * 64);
	}

	assert_int_equal(blockpool_free_n(&bp, 4, offs), 0);
	assert_int_equal(used_of(&bp), 4);
	/* LIFO over free_n: the last one listed is handed out first. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, offs[3]);
	blockpool_fini(&bp);
}

static void test_contig(void **state)
{
	struct blockpool bp;
	uint64_t first = SENTINEL, offs[4];

	(void)state;
	pool_init(&bp, 32, 8, 16);
	assert_int_equal(blockpool_alloc_contig(&bp, 3, &first), 0);
	assert_int_equal(first, 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 3, &first), 0);
	assert_int_equal(first, 96);
	assert_int_equal(blockpool_alloc_contig(&bp, 2, &first), 0);
	assert_int_equal(first, 192);
	assert_int_equal(used_of(&bp), 8);

	/* Free every other block: four free, no two adjacent. */
	for (uint64_t i = 0; i < 8; i += 2)
		assert_int_equal(blockpool_free(&bp, i * 32), 0);
	first = SENTINEL;
	assert_int_equal(blockpool_alloc_contig(&bp, 2, &first), -ENOMEM);
	assert_int_equal(first, SENTINEL);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 2), -ENOMEM);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 1), 0);
	assert_int_equal(used_of(&bp), 4);

	/* Freeing block 5 makes 4..6 free; the lowest fitting run starts at 4. */
	assert_int_equal(blockpool_free(&bp, 5 * 32), 0);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 3), 0);
	assert_int_equal(blockpool_can_alloc_contig(&bp, 4), -ENOMEM);
	assert_int_equal(blockpool_alloc_contig(&bp, 2, &first), 0);
	assert_int_equal(first, 4 * 32);
	assert_true(is_allocated(&bp, 4));
	assert_true(is_allocated(&bp, 5));
	assert_false(is_allocated(&bp, 6));
	assert_int_equal(used_of(&bp), 5);

	/* The remaining free blocks 0, 2, 6 still satisfy a scattered request. */
	assert_int_equal(blockpool_alloc_n(&bp, 3, offs), 0);
	assert_int_equal(used_of(&bp), 8);
	blockpool_fini(&bp);
}

static void test_contig_lowest_across_words(void **state)
{
	struct blockpool bp;
	uint64_t first;

	(void)state;
	pool_init(&bp, 8, 200, 8);
	assert_int_equal(blockpool_reserve(&bp, 0, 60), 0);
	assert_int_equal(blockpool_reserve(&bp, 70 * 8, 130), 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 11, &first), -ENOMEM);
	assert_int_equal(blockpool_alloc_contig(&bp, 10, &first), 0);
	assert_int_equal(first, 60 * 8);
	assert_int_equal(used_of(&bp), 200);

	/* Two runs fit; the lower one is chosen even though it is shorter. */
	assert_int_equal(blockpool_free_contig(&bp, 130 * 8, 64), 0);
	assert_int_equal(blockpool_free_contig(&bp, 3 * 8, 5), 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 5, &first), 0);
	assert_int_equal(first, 3 * 8);
	assert_int_equal(blockpool_alloc_contig(&bp, 6, &first), 0);
	assert_int_equal(first, 130 * 8);
	assert_int_equal(blockpool_alloc_contig(&bp, 58, &first), 0);
	assert_int_equal(first, 136 * 8);
	assert_int_equal(used_of(&bp), 200);
	/* A run at the very end of the pool. */
	assert_int_equal(blockpool_free_contig(&bp, 190 * 8, 10), 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 10, &first), 0);
	assert_int_equal(first, 190 * 8);
	blockpool_fini(&bp);
}

static void test_reserve(void **state)
{
	struct blockpool bp;
	uint64_t off, offs[4];
	bool seen[8] = { false };

	(void)state;
	pool_init(&bp, 32, 8, 16);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(blockpool_reserve(&bp, 0, 2), -ENOMEM);
	assert_false(is_allocated(&bp, 1));
	assert_int_equal(used_of(&bp), 1);

	assert_int_equal(blockpool_reserve(&bp, 2 * 32, 3), 0);
	assert_int_equal(used_of(&bp), 4);
	for (uint32_t i = 2; i < 5; i++)
		assert_true(is_allocated(&bp, i));
	assert_int_equal(blockpool_reserve(&bp, 4 * 32, 2), -ENOMEM);
	assert_false(is_allocated(&bp, 5));
	assert_int_equal(blockpool_reserve(&bp, 7 * 32, 1), 0);
	assert_int_equal(blockpool_reserve(&bp, 6 * 32, 3), -EINVAL);
	assert_int_equal(used_of(&bp), 5);

	/* What is left on the free stack is exactly the blocks not taken. */
	assert_int_equal(blockpool_alloc_n(&bp, 3, offs), 0);
	for (int i = 0; i < 3; i++) {
		uint32_t idx = blockpool_index(&bp, offs[i]);

		assert_true(idx == 1 || idx == 5 || idx == 6);
		assert_false(seen[idx]);
		seen[idx] = true;
	}
	assert_int_equal(blockpool_alloc(&bp, &off), -ENOMEM);
	assert_int_equal(blockpool_reserve(&bp, 5 * 32, 1), -ENOMEM);
	blockpool_fini(&bp);
}

static void test_free_contig(void **state)
{
	struct blockpool bp;
	uint64_t first, off;

	(void)state;
	pool_init(&bp, 32, 8, 16);
	assert_int_equal(blockpool_alloc_contig(&bp, 4, &first), 0);
	assert_int_equal(first, 0);
	assert_int_equal(blockpool_free_contig(&bp, 32, 2), 0);
	assert_int_equal(used_of(&bp), 2);
	assert_true(is_allocated(&bp, 0));
	assert_false(is_allocated(&bp, 1));
	assert_false(is_allocated(&bp, 2));
	assert_true(is_allocated(&bp, 3));

	/* Block 1 is free, so the run 0..1 is refused as a whole. */
	assert_int_equal(blockpool_free_contig(&bp, 0, 2), -EFAULT);
	assert_true(is_allocated(&bp, 0));
	assert_int_equal(used_of(&bp), 2);

	/* The lowest block of a freed run comes back first. */
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 32);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	assert_int_equal(off, 64);

	assert_int_equal(blockpool_free_contig(&bp, 0, 4), 0);
	assert_int_equal(used_of(&bp), 0);
	assert_int_equal(blockpool_alloc_contig(&bp, 8, &first), 0);
	assert_int_equal(first, 0);
	blockpool_fini(&bp);
}

static void test_stats(void **state)
{
	struct blockpool bp;
	struct blockpool_stat st;
	uint64_t offs[6], off, first;

	(void)state;
	pool_init(&bp, 24, 10, 16);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.block_size, 24);
	assert_int_equal(st.stride, 32);
	assert_int_equal(st.num_blocks, 10);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, 10);
	assert_int_equal(st.max_used, 0);

	assert_int_equal(blockpool_alloc_n(&bp, 6, offs), 0);
	assert_int_equal(blockpool_free_n(&bp, 4, offs), 0);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.num_used, 2);
	assert_int_equal(st.num_free, 8);
	assert_int_equal(st.max_used, 6);

	blockpool_reset_max(&bp);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.max_used, 2);
	assert_int_equal(blockpool_alloc(&bp, &off), 0);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.max_used, 3);
	assert_int_equal(blockpool_alloc_contig(&bp, 2, &first), 0);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.max_used, 5);
	assert_int_equal(blockpool_free_contig(&bp, first, 2), 0);
	assert_int_equal(blockpool_reserve(&bp, 9 * 32, 1), 0);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.num_used, 4);
	assert_int_equal(st.max_used, 5);
	/* Failures do not move the high-water mark. */
	assert_int_equal(blockpool_alloc_n(&bp, 7, offs), -ENOMEM);
	blockpool_stat(&bp, &st);
	assert_int_equal(st.max_used, 5);
	blockpool_fini(&bp);
}

struct runs {
	uint32_t first[16];
	uint32_t count[16];
	int n;
	int stop_at;
};

static int runs_collect(void *ctx, uint32_t first, uint32_t count)
{
	struct runs *r = ctx;

	if (r->n >= 16)
		return -E2BIG;
	r->first[r->n] = first;
	r->count[r->n] = count;
	r->n++;
	return r->n == r->stop_at ? 7 : 0;
}

static void test_walk(void **state)
{
	static const uint32_t want_first[] = { 0, 5, 63, 128, 199 };
	static const uint32_t want_count[] = { 3, 1, 2, 64, 1 };
	struct runs r = { .n = 0 };
	struct blockpool bp;

	(void)state;
	pool_init(&bp, 16, 200, 16);
	assert_int_equal(blockpool_walk(&bp, runs_collect, &r), 0);
	assert_int_equal(r.n, 0);

	for (int i = 0; i < 5; i++)
		assert_int_equal(blockpool_reserve(&bp, want_first[i] * 16, want_count[i]), 0);
	assert_int_equal(blockpool_walk(&bp, runs_collect, &r), 0);
	assert_int_equal(r.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r.first[i], want_first[i]);
		assert_int_equal(r.count[i], want_count[i]);
	}

	r = (struct runs){ .stop_at = 2 };
	assert_int_equal(blockpool_walk(&bp, runs_collect, &r), 7);
	assert_int_equal(r.n, 2);

	/* Adjacent runs taken separately come out as one maximal run. */
	assert_int_equal(blockpool_reserve(&bp, 3 * 16, 2), 0);
	r = (struct runs){ .n = 0 };
	assert_int_equal(blockpool_walk(&bp, runs_collect, &r), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.first[0], 0);
	assert_int_equal(r.count[0], 6);
	blockpool_fini(&bp);

	pool_init(&bp, 16, 200, 16);
	assert_int_equal(blockpool_reserve(&bp, 0, 200), 0);
	r = (struct runs){ .n = 0 };
	assert_int_equal(blockpool_walk(&bp, runs_collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.first[0], 0);
	assert_int_equal(r.count[0], 200);
	blockpool_fini(&bp);
}

/*
 * The randomized test: every operation is checked against a plain bool
 * array, including the exact error and, for contiguous allocations, the
 * exact (lowest) run chosen.
 */

#define STRESS_SEED UINT64_C(0x5eed0fb10c4b0001)

enum stress_op {
	OP_ALLOC, OP_ALLOC_N, OP_ALLOC_CONTIG, OP_RESERVE,
	OP_FREE, OP_FREE_N, OP_FREE_CONTIG, OP_RESET_MAX, OP_COUNT,
};

struct stress {
	uint64_t seed;
	uint64_t rng;
	unsigned long op;
	struct blockpool bp;
	uint32_t n;
	bool *used;
	uint64_t *offs;        /* room for any length stress_len returns */
	uint32_t target;       /* fill level the operations lean towards */
	uint32_t num_used;
	uint32_t max_used;
	unsigned long ok[OP_COUNT];
	unsigned long failed[OP_COUNT];
};

#define stress_fail(st, ...)                                                          \
	do {                                                                          \
		print_error("blockpool stress: seed %" PRIu64 " (set BLOCKPOOL_SEED to " \
			    "repeat), op %lu: ", (st)->seed, (st)->op);               \
		print_error(__VA_ARGS__);                                             \
		print_error("\n");                                                    \
		fail();                                                               \
	} while (0)

#define stress_expect(st, got, want)                                                   \
	do {                                                                           \
		long long got_ = (long long)(got), want_ = (long long)(want);         \
		if (got_ != want_)                                                     \
			stress_fail(st, "%s is %lld, expected %lld (line %d)", #got, got_, \
				    want_, __LINE__);                                  \
	} while (0)

static uint64_t stress_rand(struct stress *st)
{
	/* xorshift64*, good enough and identical everywhere. */
	st->rng ^= st->rng >> 12;
	st->rng ^= st->rng << 25;
	st->rng ^= st->rng >> 27;
	return st->rng * UINT64_C(2685821657736338717);
}

static uint32_t stress_below(struct stress *st, uint32_t bound)
{
	return (uint32_t)(stress_rand(st) % bound);
}

/* An offset that is usually a block of the pool and sometimes not. */
static uint64_t stress_offset(struct stress *st, uint32_t index)
{
	switch (stress_below(st, 20)) {
	case 0:
		return blockpool_offset(&st->bp, index) + 1 + stress_below(st, (uint32_t)st->bp.stride - 1);
	case 1:
		return blockpool_span(&st->bp) + st->bp.stride * stress_below(st, 3);
	default:
		return blockpool_offset(&st->bp, index);
	}
}

/* What the pool must answer for this offset, judged by the model. */
static int model_check(const struct stress *st, uint64_t off)
{
	if (off % st->bp.stride || off / st->bp.stride >= st->n)
		return -EINVAL;
	return st->used[off / st->bp.stride] ? 0 : -EFAULT;
}

static uint32_t model_random_used(struct stress *st)
{
	uint32_t i = stress_below(st, st->n);

	for (uint32_t k = 0; k < st->n; k++, i = (i + 1) % st->n) {
		if (st->used[i])
			return i;
	}
	return stress_below(st, st->n);
}

static void model_take(struct stress *st, uint64_t off)
{
	uint32_t i;

	if (off % st->bp.stride || off / st->bp.stride >= st->n)
		stress_fail(st, "offset %" PRIu64 " handed out is not a block", off);
	i = (uint32_t)(off / st->bp.stride);
	if (st->used[i])
		stress_fail(st, "block %u handed out twice", i);
	st->used[i] = true;
	st->num_used++;
	if (st->num_used > st->max_used)
		st->max_used = st->num_used;
}

static void model_release(struct stress *st, uint32_t i)
{
	st->used[i] = false;
	st->num_used--;
}

static uint32_t model_lowest_run(const struct stress *st, size_t len)
{
	size_t run = 0;

	for (uint32_t i = 0; i < st->n; i++) {
		run = st->used[i] ? 0 : run + 1;
		if (run == len)
			return i + 1 - (uint32_t)len;
	}
	return st->n;
}

static size_t stress_len(struct stress *st)
{
	/* Mostly small, now and then more than the pool has. */
	if (stress_below(st, 50) == 0)
		return st->n + 1 + stress_below(st, 3);
	return stress_below(st, 9);
}

static void stress_alloc(struct stress *st, enum stress_op op)
{
	size_t len = op == OP_ALLOC ? 1 : stress_len(st);
	uint64_t *offs = st->offs;
	uint32_t run = 0;
	int rc, want;

	if (op == OP_ALLOC) {
		rc = blockpool_alloc(&st->bp, &offs[0]);
		want = st->num_used < st->n ? 0 : -ENOMEM;
	} else if (op == OP_ALLOC_N) {
		rc = blockpool_alloc_n(&st->bp, len, offs);
		want = len <= st->n - st->num_used ? 0 : -ENOMEM;
	} else {
		if (len)
			run = model_lowest_run(st, len);
		rc = blockpool_alloc_contig(&st->bp, len, &offs[0]);
		want = len == 0 || run < st->n ? 0 : -ENOMEM;
		if (rc == 0 && len) {
			stress_expect(st, offs[0], blockpool_offset(&st->bp, run));
			for (size_t k = 1; k < len; k++)
				offs[k] = offs[0] + k * st->bp.stride;
		}
	}
	stress_expect(st, rc, want);
	if (rc == 0) {
		for (size_t k = 0; k < len; k++)
			model_take(st, offs[k]);
		st->ok[op]++;
	} else {
		st->failed[op]++;
	}
}

static void stress_reserve(struct stress *st)
{
	size_t len = stress_len(st);
	uint32_t start = stress_below(st, st->n);
	uint64_t first = stress_offset(st, start);
	int rc, want = 0;

	rc = blockpool_reserve(&st->bp, first, len);
	if (len == 0)
		want = 0;
	else if (len > st->n)
		want = -ENOMEM;
	else if (first % st->bp.stride || first / st->bp.stride >= st->n ||
		 len > st->n - first / st->bp.stride)
		want = -EINVAL;
	else
		for (size_t k = 0; k < len; k++)
			if (st->used[start + k])
				want = -ENOMEM;
	stress_expect(st, rc, want);
	if (rc == 0) {
		for (size_t k = 0; k < len; k++)
			model_take(st, first + k * st->bp.stride);
		st->ok[OP_RESERVE]++;
	} else {
		st->failed[OP_RESERVE]++;
	}
}

static void stress_free(struct stress *st)
{
	uint64_t off = stress_offset(st, stress_below(st, 4) ? model_random_used(st)
							      : stress_below(st, st->n));
	int want = model_check(st, off);

	stress_expect(st, blockpool_check_allocated(&st->bp, off), want);
	stress_expect(st, blockpool_free(&st->bp, off), want);
	if (want == 0) {
		model_release(st, (uint32_t)(off / st->bp.stride));
		st->ok[OP_FREE]++;
	} else {
		st->failed[OP_FREE]++;
	}
}

static void stress_free_n(struct stress *st)
{
	uint64_t offs[8];
	size_t len = stress_below(st, 9);
	int rc, want = 0;

	for (size_t k = 0; k < len; k++) {
		uint32_t pick = stress_below(st, 10);

		if (pick == 0 && k > 0)
			offs[k] = offs[stress_below(st, (uint32_t)k)];
		else if (pick == 1)
			offs[k] = stress_offset(st, stress_below(st, st->n));
		else
			offs[k] = stress_offset(st, model_random_used(st));
	}
	for (size_t k = 0; k < len && want == 0; k++)
		want = model_check(st, offs[k]);
	for (size_t k = 0; k < len && want == 0; k++)
		for (size_t j = 0; j < k; j++)
			if (offs[j] == offs[k])
				want = -EFAULT;
	rc = blockpool_free_n(&st->bp, len, offs);
	stress_expect(st, rc, want);
	if (rc == 0) {
		for (size_t k = 0; k < len; k++)
			model_release(st, (uint32_t)(offs[k] / st->bp.stride));
		st->ok[OP_FREE_N]++;
	} else {
		st->failed[OP_FREE_N]++;
	}
}

static void stress_free_contig(struct stress *st)
{
	uint32_t start = stress_below(st, 3) ? model_random_used(st) : stress_below(st, st->n);
	uint64_t first = stress_offset(st, start);
	size_t len = 0;
	int rc, want = 0;

	/* Usually the whole allocated run from start, sometimes a guess. */
	if (stress_below(st, 4)) {
		while (start + len < st->n && st->used[start + len] && len < 12)
			len++;
		if (len && stress_below(st, 2))
			len = 1 + stress_below(st, (uint32_t)len);
	} else {
		len = stress_len(st);
	}
	rc = blockpool_free_contig(&st->bp, first, len);
	if (len == 0)
		want = 0;
	else if (first % st->bp.stride || first / st->bp.stride >= st->n ||
		 len > st->n - first / st->bp.stride)
		want = -EINVAL;
	else
		for (size_t k = 0; k < len; k++)
			if (!st->used[start + k])
				want = -EFAULT;
	stress_expect(st, rc, want);
	if (rc == 0) {
		for (size_t k = 0; k < len; k++)
			model_release(st, start + (uint32_t)k);
		st->ok[OP_FREE_CONTIG]++;
	} else {
		st->failed[OP_FREE_CONTIG]++;
	}
}

struct walk_check {
	struct stress *st;
	uint32_t next;
};

static int stress_walk_fn(void *ctx, uint32_t first, uint32_t count)
{
	struct walk_check *wc = ctx;
	struct stress *st = wc->st;

	if (count == 0 || first < wc->next || count > st->n - first)
		stress_fail(st, "walk gave run %u+%u after %u", first, count, wc->next);
	for (uint32_t i = wc->next; i < first; i++)
		if (st->used[i])
			stress_fail(st, "walk skipped allocated block %u", i);
	for (uint32_t i = first; i < first + count; i++)
		if (!st->used[i])
			stress_fail(st, "walk reported free block %u", i);
	if (first + count < st->n && st->used[first + count])
		stress_fail(st, "walk run %u+%u is not maximal", first, count);
	wc->next = first + count;
	return 0;
}

static void stress_compare(struct stress *st, bool full)
{
	struct blockpool_stat bs;

	blockpool_stat(&st->bp, &bs);
	stress_expect(st, bs.num_used, st->num_used);
	stress_expect(st, bs.num_used + bs.num_free, st->n);
	stress_expect(st, bs.max_used, st->max_used);
	if (!full)
		return;
	for (uint32_t i = 0; i < st->n; i++)
		stress_expect(st, blockpool_check_allocated(&st->bp, blockpool_offset(&st->bp, i)),
			      st->used[i] ? 0 : -EFAULT);

	struct walk_check wc = { .st = st, .next = 0 };

	stress_expect(st, blockpool_walk(&st->bp, stress_walk_fn, &wc), 0);
	for (uint32_t i = wc.next; i < st->n; i++)
		if (st->used[i])
			stress_fail(st, "walk missed allocated block %u", i);
}

static void stress_run(uint64_t block_size, uint32_t n, uint64_t align, unsigned long ops)
{
	const char *env = getenv("BLOCKPOOL_SEED");
	struct stress *st = calloc(1, sizeof(*st));
	uint64_t first;

	assert_non_null(st);
	st->seed = env ? strtoull(env, NULL, 0) : STRESS_SEED;
	st->rng = st->seed ? st->seed : 1;
	st->n = n;
	st->used = calloc(n, sizeof(*st->used));
	assert_non_null(st->used);
	st->offs = calloc(n + 8, sizeof(*st->offs));
	assert_non_null(st->offs);
	pool_init(&st->bp, block_size, n, align);
	/* stress_offset needs room for a misaligned offset inside a block. */
	assert_true(st->bp.stride > 1);

	for (st->op = 0; st->op < ops; st->op++) {
		enum stress_op op;
		bool want_free;

		/* Lean towards a fill level that changes now and then, empty and
		 * full included, so that every path is taken. */
		if (st->op % 1000 == 0) {
			switch (stress_below(st, 4)) {
			case 0:
				st->target = 0;
				break;
			case 1:
				st->target = n;
				break;
			default:
				st->target = stress_below(st, n + 1);
				break;
			}
		}
		if (st->num_used > st->target)
			want_free = stress_below(st, 5) != 0;
		else if (st->num_used < st->target)
			want_free = stress_below(st, 5) == 0;
		else
			want_free = stress_below(st, 2) == 0;

		if (stress_below(st, 500) == 0)
			op = OP_RESET_MAX;
		else if (want_free)
			op = (enum stress_op)(OP_FREE + stress_below(st, 3));
		else
			op = (enum stress_op)(OP_ALLOC + stress_below(st, 4));

		switch (op) {
		case OP_ALLOC:
		case OP_ALLOC_N:
		case OP_ALLOC_CONTIG:
			stress_alloc(st, op);
			break;
		case OP_RESERVE:
			stress_reserve(st);
			break;
		case OP_FREE:
			stress_free(st);
			break;
		case OP_FREE_N:
			stress_free_n(st);
			break;
		case OP_FREE_CONTIG:
			stress_free_contig(st);
			break;
		default:
			blockpool_reset_max(&st->bp);
			st->max_used = st->num_used;
			st->ok[OP_RESET_MAX]++;
			break;
		}
		stress_compare(st, st->op % 64 == 0);
	}
	stress_compare(st, true);

	/* Every operation took both its success and its failure path. */
	for (int op = OP_ALLOC; op < OP_RESET_MAX; op++) {
		if (!st->ok[op] || !st->failed[op])
			stress_fail(st, "op kind %d: %lu ok, %lu failed", op, st->ok[op],
				    st->failed[op]);
	}

	for (uint32_t i = 0; i < n; i++) {
		if (st->used[i]) {
			stress_expect(st, blockpool_free(&st->bp, blockpool_offset(&st->bp, i)), 0);
			model_release(st, i);
		}
	}
	stress_compare(st, true);
	stress_expect(st, st->bp.num_free, n);
	stress_expect(st, blockpool_alloc_contig(&st->bp, n, &first), 0);
	stress_expect(st, first, 0);
	stress_expect(st, st->bp.num_free, 0);

	blockpool_fini(&st->bp);
	free(st->used);
	free(st->offs);
	free(st);
}

static void test_stress(void **state)
{
	(void)state;
	stress_run(24, 197, 16, 100000);
}

static void test_stress_one_word(void **state)
{
	(void)state;
	stress_run(8, 64, 8, 30000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_fresh_ascending),
		cmocka_unit_test(test_alloc_n_ascending),
		cmocka_unit_test(test_index_api),
		cmocka_unit_test(test_free_n_index),
		cmocka_unit_test(test_release_n_index),
		cmocka_unit_test(test_span_is_run),
		cmocka_unit_test(test_span_ops),
		cmocka_unit_test(test_run_paths_twin),
		cmocka_unit_test(test_lifo),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_count_zero),
		cmocka_unit_test(test_count_over_capacity),
		cmocka_unit_test(test_not_enough_free),
		cmocka_unit_test(test_double_free),
		cmocka_unit_test(test_bad_offsets),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_free_n_all_or_nothing),
		cmocka_unit_test(test_free_n_duplicate),
		cmocka_unit_test(test_contig),
		cmocka_unit_test(test_contig_lowest_across_words),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_free_contig),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_stress_one_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
