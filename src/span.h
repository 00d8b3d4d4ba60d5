/*
 * span: operations on spans of 32-bit per-block records, and the test for
 * a list of block indices that is a run of adjacent blocks.
 *
 * A batch of blocks granted or freed together is usually a run: a fresh
 * pool hands blocks out in ascending order, and LIFO reuse gives a batch
 * back the blocks its last free returned.  On a run the per-block records
 * (the free stack's position index, owner, generation, holders) are spans,
 * and these loops work on a span eight records at a time.  The fixed inner
 * trip count is what lets the compiler use vector instructions at -O2; the
 * result is the same as the obvious loop's.
 */
#ifndef SHMPOOL_SPAN_H
#define SHMPOOL_SPAN_H

#include <stddef.h>
#include <stdint.h>

/* Below this many blocks a batch takes the per-block loops: a run costs a
 * test before it saves anything. */
#define SPAN_RUN_MIN 8

/* a[k] = v for k in [0, n). */
static inline void span_fill(uint32_t *a, size_t n, uint32_t v)
{
	size_t k = 0;

	for (; k + 8 <= n; k += 8)
		for (uint32_t j = 0; j < 8; j++)
			a[k + j] = v;
	for (; k < n; k++)
		a[k] = v;
}

/* a[k] = s + k (asc) or s - k for k in [0, n), modulo 2^32. */
static inline void span_fill_seq(uint32_t *a, size_t n, uint32_t s, int asc)
{
	size_t k = 0;

	if (asc) {
		for (; k + 8 <= n; k += 8) {
			const uint32_t e = s + (uint32_t)k;

			for (uint32_t j = 0; j < 8; j++)
				a[k + j] = e + j;
		}
		for (; k < n; k++)
			a[k] = s + (uint32_t)k;
	} else {
		for (; k + 8 <= n; k += 8) {
			const uint32_t e = s - (uint32_t)k;

			for (uint32_t j = 0; j < 8; j++)
				a[k + j] = e - j;
		}
		for (; k < n; k++)
			a[k] = s - (uint32_t)k;
	}
}

/* a[k]++ for k in [0, n). */
static inline void span_increment(uint32_t *a, size_t n)
{
	size_t k = 0;

	for (; k + 8 <= n; k += 8)
		for (uint32_t j = 0; j < 8; j++)
			a[k + j]++;
	for (; k < n; k++)
		a[k]++;
}

/* The bitwise or of acc[0..8): the reductions below keep eight lanes and
 * fold them once, at the end. */
static inline uint32_t span_fold(const uint32_t acc[8])
{
	uint32_t v = 0;

	for (uint32_t j = 0; j < 8; j++)
		v |= acc[j];
	return v;
}

/* Whether a[k] == v for every k in [0, n). */
static inline int span_all_equal(const uint32_t *a, size_t n, uint32_t v)
{
	uint32_t acc[8] = { 0 }, diff;
	size_t k = 0;

	for (; k + 8 <= n; k += 8)
		for (uint32_t j = 0; j < 8; j++)
			acc[j] |= a[k + j] ^ v;
	diff = span_fold(acc);
	for (; k < n; k++)
		diff |= a[k] ^ v;
	return diff == 0;
}

/* Whether a[k] == va and b[k] == vb for every k in [0, n). */
static inline int span_both_equal(const uint32_t *a, uint32_t va, const uint32_t *b, uint32_t vb,
				  size_t n)
{
	uint32_t acc[8] = { 0 }, diff;
	size_t k = 0;

	for (; k + 8 <= n; k += 8)
		for (uint32_t j = 0; j < 8; j++)
			acc[j] |= (a[k + j] ^ va) | (b[k + j] ^ vb);
	diff = span_fold(acc);
	for (; k < n; k++)
		diff |= (a[k] ^ va) | (b[k] ^ vb);
	return diff == 0;
}

/*
 * Whether index[0..n) names n adjacent blocks in order, ascending or
 * descending, with no wrap past 0 or UINT32_MAX: *lo receives the lowest.
 * A run is at least SPAN_RUN_MIN long.
 */
static inline int span_is_run(const uint32_t *index, size_t n, uint32_t *lo)
{
	uint32_t acc[8] = { 0 }, s, diff;
	size_t k = 0;

	if (n < SPAN_RUN_MIN || n > UINT32_MAX)
		return 0;
	s = index[0];
	/* index[k] - k is s all along an ascending run, index[k] + k all
	 * along a descending one. */
	if (index[1] == s + 1 && s <= UINT32_MAX - (uint32_t)(n - 1)) {
		for (; k + 8 <= n; k += 8) {
			const uint32_t e = s + (uint32_t)k;

			for (uint32_t j = 0; j < 8; j++)
				acc[j] |= (index[k + j] - j) ^ e;
		}
		diff = span_fold(acc);
		for (; k < n; k++)
			diff |= (index[k] - (uint32_t)k) ^ s;
		*lo = s;
	} else if (index[1] == s - 1 && s >= (uint32_t)(n - 1)) {
		for (; k + 8 <= n; k += 8) {
			const uint32_t e = s - (uint32_t)k;

			for (uint32_t j = 0; j < 8; j++)
				acc[j] |= (index[k + j] + j) ^ e;
		}
		diff = span_fold(acc);
		for (; k < n; k++)
			diff |= (index[k] + (uint32_t)k) ^ s;
		*lo = s - (uint32_t)(n - 1);
	} else {
		return 0;
	}
	return diff == 0;
}

#endif
