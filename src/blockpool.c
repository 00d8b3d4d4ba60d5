#include "blockpool.h"
#include "span.h"

#include <errno.h>
#include <stdlib.h>

/* Work out the stride and the span for these parameters, or return the
 * error blockpool_init would give for them. */
static int blockpool_geometry(uint64_t block_size, uint64_t num_blocks, uint64_t *align,
			      uint64_t *stride, uint64_t *span)
{
	uint64_t a = *align ? *align : BLOCKPOOL_DEFAULT_ALIGN;

	if (block_size == 0 || num_blocks == 0 || num_blocks > UINT32_MAX - 1)
		return -EINVAL;
	if (a & (a - 1))
		return -EINVAL;
	if (block_size > UINT64_MAX - (a - 1))
		return -EOVERFLOW;
	*stride = (block_size + a - 1) & ~(a - 1);
	if (*stride > UINT64_MAX / num_blocks)
		return -EOVERFLOW;
	*span = *stride * num_blocks;
	*align = a;
	return 0;
}

int blockpool_init(struct blockpool *bp, uint64_t block_size, uint64_t num_blocks, uint64_t align)
{
	uint64_t stride, span;
	size_t words;
	uint32_t i, n;
	int rc;

	if (!bp)
		return -EINVAL;
	rc = blockpool_geometry(block_size, num_blocks, &align, &stride, &span);
	if (rc < 0)
		return rc;
	n = (uint32_t)num_blocks;
	words = ((size_t)n + 63) / 64;

	bp->stack = calloc(n, sizeof(*bp->stack));
	if (!bp->stack)
		goto fail;
	bp->pos = calloc(n, sizeof(*bp->pos));
	if (!bp->pos)
		goto fail_stack;
	bp->bitmap = calloc(words, sizeof(*bp->bitmap));
	if (!bp->bitmap)
		goto fail_pos;

	/* Block 0 sits on top of the stack so that a fresh pool hands out
	 * blocks in ascending order. */
	for (i = 0; i < n; i++) {
		bp->stack[i] = n - 1 - i;
		bp->pos[n - 1 - i] = i;
	}
	bp->run_base = 0;
	bp->run_len = n;
	bp->run_first = n - 1;
	bp->run_asc = 0;
	bp->block_size = block_size;
	bp->stride = stride;
	bp->align = align;
	bp->num_blocks = n;
	bp->num_free = n;
	bp->max_used = 0;
	return 0;

fail_pos:
	free(bp->pos);
fail_stack:
	free(bp->stack);
fail:
	bp->stack = NULL;
	bp->pos = NULL;
	bp->bitmap = NULL;
	return -ENOMEM;
}

void blockpool_fini(struct blockpool *bp)
{
	if (!bp)
		return;
	free(bp->stack);
	free(bp->pos);
	free(bp->bitmap);
	bp->stack = NULL;
	bp->pos = NULL;
	bp->bitmap = NULL;
	bp->num_blocks = 0;
	bp->num_free = 0;
}

uint64_t blockpool_span(const struct blockpool *bp)
{
	return bp->stride * bp->num_blocks;
}

uint64_t blockpool_span_for(uint64_t block_size, uint64_t num_blocks, uint64_t align)
{
	uint64_t stride, span;

	if (blockpool_geometry(block_size, num_blocks, &align, &stride, &span) < 0)
		return 0;
	return span;
}

static inline int bit_test(const struct blockpool *bp, uint32_t i)
{
	return (bp->bitmap[i / 64] >> (i % 64)) & 1;
}

static inline void bit_set(struct blockpool *bp, uint32_t i)
{
	bp->bitmap[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void bit_clear(struct blockpool *bp, uint32_t i)
{
	bp->bitmap[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* The first index at or after i whose bit equals want, or num_blocks;
 * whole words are skipped 64 bits at a time. */
static uint32_t bitmap_find(const struct blockpool *bp, uint32_t i, int want)
{
	size_t w, words = ((size_t)bp->num_blocks + 63) / 64;
	uint64_t word;

	if (i >= bp->num_blocks)
		return bp->num_blocks;
	w = i / 64;
	word = want ? bp->bitmap[w] : ~bp->bitmap[w];
	word &= ~(uint64_t)0 << (i % 64);
	for (;;) {
		if (word) {
			uint64_t idx = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(word);

			return idx < bp->num_blocks ? (uint32_t)idx : bp->num_blocks;
		}
		if (++w >= words)
			return bp->num_blocks;
		word = want ? bp->bitmap[w] : ~bp->bitmap[w];
	}
}

/* Lowest index of a run of n free blocks, or num_blocks if there is none. */
static uint32_t bitmap_find_run(const struct blockpool *bp, size_t n)
{
	uint32_t start, end = 0;

	for (;;) {
		start = bitmap_find(bp, end, 0);
		if (start >= bp->num_blocks || bp->num_blocks - start < n)
			return bp->num_blocks;
		end = bitmap_find(bp, start, 1);
		if (end - start >= n)
			return start;
	}
}

static void note_used(struct blockpool *bp)
{
	uint32_t used = bp->num_blocks - bp->num_free;

	if (used > bp->max_used)
		bp->max_used = used;
}

/* The stack is about to be written at position p: the known run ends
 * there at the latest. */
static inline void run_cut(struct blockpool *bp, uint32_t p)
{
	if (p < bp->run_base + bp->run_len)
		bp->run_len = p > bp->run_base ? p - bp->run_base : 0;
}

/* The block at position q of the known run. */
static inline uint32_t run_at(const struct blockpool *bp, uint32_t q)
{
	return bp->run_asc ? bp->run_first + (q - bp->run_base) : bp->run_first - (q - bp->run_base);
}

/* Pop the top of the free stack and mark it allocated. */
static uint32_t stack_pop(struct blockpool *bp)
{
	uint32_t i = bp->stack[--bp->num_free];

	bit_set(bp, i);
	return i;
}

/* Take block i out of the middle of the free stack: the top entry moves
 * into its slot, so this is O(1) whatever the depth. */
static void stack_take(struct blockpool *bp, uint32_t i)
{
	uint32_t p = bp->pos[i];
	uint32_t top = bp->stack[--bp->num_free];

	run_cut(bp, p);
	bp->stack[p] = top;
	bp->pos[top] = p;
	bit_set(bp, i);
}

static void stack_push(struct blockpool *bp, uint32_t i)
{
	run_cut(bp, bp->num_free);
	bp->pos[i] = bp->num_free;
	bp->stack[bp->num_free++] = i;
	bit_clear(bp, i);
}

/* Set (set) or clear the bits of blocks [lo, lo + n), n > 0, a word at a
 * time. */
static void bitmap_span(struct blockpool *bp, uint32_t lo, size_t n, int set)
{
	uint64_t end = (uint64_t)lo + n - 1;
	size_t w = lo / 64, last = (size_t)(end / 64);
	uint64_t mask = ~(uint64_t)0 << (lo % 64);

	for (; w <= last; w++, mask = ~(uint64_t)0) {
		if (w == last)
			mask &= ~(uint64_t)0 >> (63 - end % 64);
		if (set)
			bp->bitmap[w] |= mask;
		else
			bp->bitmap[w] &= ~mask;
	}
}

/*
 * Push the free blocks first, first + 1, ... (asc) or first, first - 1, ...,
 * n > 0 of them: what n stack_push calls would do, with the stack, the
 * position index and the bitmap written as spans.
 */
static void stack_push_run(struct blockpool *bp, uint32_t first, size_t n, int asc)
{
	uint32_t top = bp->num_free, lo = asc ? first : first - (uint32_t)(n - 1);

	span_fill_seq(bp->stack + top, n, first, asc);
	if (asc)
		span_fill_seq(bp->pos + lo, n, top, 1);
	else
		span_fill_seq(bp->pos + lo, n, top + (uint32_t)(n - 1), 0);
	bitmap_span(bp, lo, n, 0);
	bp->num_free = top + (uint32_t)n;
	bp->run_base = top;
	bp->run_len = (uint32_t)n;
	bp->run_first = first;
	bp->run_asc = asc;
}

/* Turn an offset into a block index: -EINVAL if it is outside the pool or
 * not on a block boundary. */
static int offset_index(const struct blockpool *bp, uint64_t off, uint32_t *index)
{
	if (off % bp->stride || off / bp->stride >= bp->num_blocks)
		return -EINVAL;
	*index = (uint32_t)(off / bp->stride);
	return 0;
}

int blockpool_alloc(struct blockpool *bp, uint64_t *off)
{
	if (!bp || !off)
		return -EINVAL;
	if (bp->num_free == 0)
		return -ENOMEM;
	*off = blockpool_offset(bp, stack_pop(bp));
	note_used(bp);
	return 0;
}

int blockpool_check_allocated(const struct blockpool *bp, uint64_t off)
{
	uint32_t i;
	int rc;

	if (!bp)
		return -EINVAL;
	rc = offset_index(bp, off, &i);
	if (rc < 0)
		return rc;
	return bit_test(bp, i) ? 0 : -EFAULT;
}

int blockpool_free_index(struct blockpool *bp, uint32_t i)
{
	if (!bp || i >= bp->num_blocks)
		return -EINVAL;
	if (!bit_test(bp, i))
		return -EFAULT;
	stack_push(bp, i);
	return 0;
}

int blockpool_free(struct blockpool *bp, uint64_t off)
{
	uint32_t i;
	int rc;

	if (!bp)
		return -EINVAL;
	rc = offset_index(bp, off, &i);
	return rc < 0 ? rc : blockpool_free_index(bp, i);
}

/* Check an n-block request: 1 to go ahead, 0 for n == 0, or -errno. */
static int alloc_n_check(const struct blockpool *bp, size_t n, const void *out)
{
	if (!bp || (n && !out))
		return -EINVAL;
	if (n == 0)
		return 0;
	return n > bp->num_free ? -ENOMEM : 1;
}

int blockpool_take_n_index(struct blockpool *bp, size_t n, uint32_t *index, uint32_t *span_lo)
{
	int rc = alloc_n_check(bp, n, index);
	uint32_t *stack;
	uint64_t *bitmap;
	uint32_t top, lo, hi;

	if (rc <= 0)
		return rc;
	/* The top of the stack lies in the known run (as a fresh pool's
	 * does, and a batch's own free leaves it), or is found to be one
	 * (pushed a block at a time), which it then is: popped in the order
	 * stack_pop would, the records written as spans. */
	top = bp->num_free;
	if (n >= SPAN_RUN_MIN && !(top - n >= bp->run_base && top <= bp->run_base + bp->run_len) &&
	    span_is_run(bp->stack + top - n, n, &lo)) {
		bp->run_base = top - (uint32_t)n;
		bp->run_len = (uint32_t)n;
		bp->run_first = bp->stack[top - n];
		bp->run_asc = bp->run_first == lo;
	}
	if (n >= SPAN_RUN_MIN && top - n >= bp->run_base && top <= bp->run_base + bp->run_len) {
		uint32_t first = run_at(bp, top - 1);

		lo = bp->run_asc ? first - (uint32_t)(n - 1) : first;
		index[0] = first;
		index[1] = bp->run_asc ? first - 1 : first + 1;
		bitmap_span(bp, lo, n, 1);
		bp->num_free = top - (uint32_t)n;
		note_used(bp);
		*span_lo = lo;
		return 2;
	}
	/* stack_pop's work with the pool's pointers and the top in locals:
	 * index may alias them as far as the compiler knows, and would
	 * otherwise have them reloaded for every block.  Blocks on the stack
	 * are distinct, so n of them from lo to lo + n - 1 are all of those:
	 * their bits are set as a span. */
	stack = bp->stack;
	bitmap = bp->bitmap;
	if (n < SPAN_RUN_MIN) {
		for (size_t k = 0; k < n; k++) {
			uint32_t i = stack[--top];

			bitmap[i / 64] |= (uint64_t)1 << (i % 64);
			index[k] = i;
		}
		bp->num_free = top;
		note_used(bp);
		return 0;
	}
	lo = UINT32_MAX;
	hi = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = stack[--top];

		lo = i < lo ? i : lo;
		hi = i > hi ? i : hi;
		index[k] = i;
	}
	bp->num_free = top;
	note_used(bp);
	if (hi - lo == n - 1) {
		bitmap_span(bp, lo, n, 1);
		*span_lo = lo;
		return 1;
	}
	for (size_t k = 0; k < n; k++)
		bitmap[index[k] / 64] |= (uint64_t)1 << (index[k] % 64);
	return 0;
}

void blockpool_seq_fill(uint32_t *index, size_t n)
{
	span_fill_seq(index, n, index[0], index[1] > index[0]);
}

int blockpool_alloc_n_index(struct blockpool *bp, size_t n, uint32_t *index)
{
	uint32_t lo;
	int rc = blockpool_take_n_index(bp, n, index, &lo);

	if (rc == 2)
		blockpool_seq_fill(index, n);
	return rc < 0 ? rc : 0;
}

int blockpool_alloc_n(struct blockpool *bp, size_t n, uint64_t *offs)
{
	int rc = alloc_n_check(bp, n, offs);

	if (rc <= 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		offs[k] = blockpool_offset(bp, stack_pop(bp));
	note_used(bp);
	return 0;
}

/* Entry k of a free list as an index: -EINVAL if it is no block of the
 * pool, -EFAULT if that block is not allocated. */
static int list_entry(const struct blockpool *bp, const uint32_t *index, const uint64_t *offs,
		      size_t k, uint32_t *i)
{
	int rc = index ? (index[k] < bp->num_blocks ? 0 : -EINVAL) : offset_index(bp, offs[k], i);

	if (rc < 0)
		return rc;
	if (index)
		*i = index[k];
	return bit_test(bp, *i) ? 0 : -EFAULT;
}

/*
 * Free a list of blocks, by index or (index NULL) by offset, all or
 * nothing, in one pass: each entry is checked as it is pushed, which also
 * catches a block listed twice (its bit is already clear).  On the first bad
 * entry, popping what was pushed restores the stack exactly, and the error
 * is the first one the list has against the pool as it was (-EFAULT for a
 * duplicate in an otherwise good list).
 */
static int free_list(struct blockpool *bp, size_t n, const uint32_t *index, const uint64_t *offs)
{
	size_t k;
	int rc;

	if (index) {
		/* Checked inline, the bitmap word read once per block, the
		 * pool's pointers and the stack's top in locals. */
		const uint32_t nb = bp->num_blocks;
		uint32_t *stack = bp->stack, *pos = bp->pos;
		uint64_t *bitmap = bp->bitmap;
		uint32_t top = bp->num_free;

		run_cut(bp, top);
		for (k = 0; k < n; k++) {
			uint32_t i = index[k];
			uint64_t *w, bit;

			if (i >= nb)
				break;
			w = &bitmap[i / 64];
			bit = (uint64_t)1 << (i % 64);
			if (!(*w & bit))
				break;
			*w &= ~bit;
			pos[i] = top;
			stack[top++] = i;
		}
		bp->num_free = top;
	} else {
		for (k = 0; k < n; k++) {
			uint32_t i = 0;

			if (list_entry(bp, NULL, offs, k, &i) < 0)
				break;
			stack_push(bp, i);
		}
	}
	if (k == n)
		return 0;
	while (k-- > 0)
		stack_pop(bp);
	for (k = 0; k < n; k++) {
		uint32_t i = 0;

		rc = list_entry(bp, index, offs, k, &i);
		if (rc < 0)
			return rc;
	}
	return -EFAULT;
}

int blockpool_free_n(struct blockpool *bp, size_t n, const uint64_t *offs)
{
	if (!bp || (n && !offs))
		return -EINVAL;
	return free_list(bp, n, NULL, offs);
}

int blockpool_free_n_index(struct blockpool *bp, size_t n, const uint32_t *index)
{
	if (!bp || (n && !index))
		return -EINVAL;
	return free_list(bp, n, index, NULL);
}

void blockpool_release_n_index(struct blockpool *bp, size_t n, const uint32_t *index)
{
	uint32_t *stack = bp->stack, *pos = bp->pos;
	uint64_t *bitmap = bp->bitmap;
	uint32_t top = bp->num_free, lo;

	if (span_is_run(index, n, &lo)) {
		stack_push_run(bp, index[0], n, index[0] == lo);
		return;
	}
	run_cut(bp, top);
	for (size_t k = 0; k < n; k++) {
		uint32_t i = index[k];

		bitmap[i / 64] &= ~((uint64_t)1 << (i % 64));
		pos[i] = top;
		stack[top++] = i;
	}
	bp->num_free = top;
}

void blockpool_release_run(struct blockpool *bp, uint32_t first, size_t n, int asc)
{
	if (n)
		stack_push_run(bp, first, n, asc);
}

int blockpool_can_alloc_contig(const struct blockpool *bp, size_t n)
{
	if (!bp)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > bp->num_free)
		return -ENOMEM;
	return bitmap_find_run(bp, n) < bp->num_blocks ? 0 : -ENOMEM;
}

int blockpool_alloc_contig(struct blockpool *bp, size_t n, uint64_t *first)
{
	uint32_t start, i;

	if (!bp || (n && !first))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > bp->num_free)
		return -ENOMEM;
	start = bitmap_find_run(bp, n);
	if (start >= bp->num_blocks)
		return -ENOMEM;
	for (i = start; i < start + n; i++)
		stack_take(bp, i);
	note_used(bp);
	*first = blockpool_offset(bp, start);
	return 0;
}

/* Turn a run into its first index: -EINVAL if first is not a block of the
 * pool or the run goes past the end. */
static int run_index(const struct blockpool *bp, uint64_t first, size_t n, uint32_t *start)
{
	int rc = offset_index(bp, first, start);

	if (rc < 0)
		return rc;
	if (n > (size_t)(bp->num_blocks - *start))
		return -EINVAL;
	return 0;
}

int blockpool_reserve(struct blockpool *bp, uint64_t first, size_t n)
{
	uint32_t start, i;
	int rc;

	if (!bp)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > bp->num_blocks)
		return -ENOMEM;
	rc = run_index(bp, first, n, &start);
	if (rc < 0)
		return rc;
	if (bitmap_find(bp, start, 1) < start + n)
		return -ENOMEM;
	for (i = start; i < start + n; i++)
		stack_take(bp, i);
	note_used(bp);
	return 0;
}

int blockpool_free_contig(struct blockpool *bp, uint64_t first, size_t n)
{
	uint32_t start;
	int rc;

	if (!bp)
		return -EINVAL;
	if (n == 0)
		return 0;
	rc = run_index(bp, first, n, &start);
	if (rc < 0)
		return rc;
	if (bitmap_find(bp, start, 0) < start + n)
		return -EFAULT;
	/* Pushed highest first, so that single allocations take the run back
	 * in ascending order. */
	stack_push_run(bp, start + (uint32_t)(n - 1), n, 0);
	return 0;
}

void blockpool_stat(const struct blockpool *bp, struct blockpool_stat *st)
{
	st->block_size = bp->block_size;
	st->stride = bp->stride;
	st->num_blocks = bp->num_blocks;
	st->num_used = bp->num_blocks - bp->num_free;
	st->num_free = bp->num_free;
	st->max_used = bp->max_used;
}

void blockpool_reset_max(struct blockpool *bp)
{
	bp->max_used = bp->num_blocks - bp->num_free;
}

int blockpool_walk(const struct blockpool *bp, blockpool_walk_fn fn, void *ctx)
{
	uint32_t start, end = 0;
	int rc;

	if (!bp || !fn)
		return -EINVAL;
	for (;;) {
		start = bitmap_find(bp, end, 1);
		if (start >= bp->num_blocks)
			return 0;
		end = bitmap_find(bp, start, 0);
		rc = fn(ctx, start, end - start);
		if (rc)
			return rc;
	}
}
