/*
 * blockpool: a pool of fixed-size blocks over a range of offsets.
 *
 * The pool never touches the memory it manages: it only hands out offsets
 * inside [0, blockpool_span()).  Every piece of bookkeeping (the stack of
 * free block indices and the bitmap of allocated blocks) lives in private
 * memory, so a client that scribbles over the shared range cannot disturb it.
 *
 * A fresh pool hands out blocks in ascending order; a freed block is the
 * next one handed out (LIFO), as Zephyr's memory slabs and Mynewt's mempools
 * do.  Multi-block operations are all-or-nothing.
 *
 * Return values: 0 (or a count where documented) or a negative errno.
 *   count 0                                   0, nothing done
 *   more blocks than the pool has             -ENOMEM
 *   not enough free blocks                    -ENOMEM
 *   offset outside the pool / off a boundary  -EINVAL
 *   block not allocated (double free)         -EFAULT
 */
#ifndef SHMPOOL_BLOCKPOOL_H
#define SHMPOOL_BLOCKPOOL_H

#include <stddef.h>
#include <stdint.h>

#define BLOCKPOOL_DEFAULT_ALIGN 16u

struct blockpool {
	uint64_t block_size;   /* as requested */
	uint64_t stride;       /* block_size rounded up to align */
	uint64_t align;        /* power of two */
	uint32_t num_blocks;
	uint32_t num_free;     /* also the depth of the free stack */
	uint32_t max_used;     /* high-water mark of used blocks */
	uint32_t *stack;       /* free block indices; top is stack[num_free - 1] */
	uint32_t *pos;         /* pos[i]: index of free block i in stack (stale once taken) */
	uint64_t *bitmap;      /* bit i set: block i is allocated */
	/* A stretch of the stack known to hold a run, so that taking from
	 * it needs no look at the stack: stack[run_base + j] is
	 * run_first + j (run_asc) or run_first - j for j < run_len.  A
	 * write into the stack below its end cuts it there. */
	uint32_t run_base, run_len, run_first;
	int run_asc;
};

struct blockpool_stat {
	uint64_t block_size;
	uint64_t stride;
	uint32_t num_blocks;
	uint32_t num_used;
	uint32_t num_free;
	uint32_t max_used;
};

/* Set up a pool of num_blocks blocks; align 0 means BLOCKPOOL_DEFAULT_ALIGN.
 * -EINVAL for a zero size or count, an alignment that is not a power of two,
 * or a count above UINT32_MAX - 1; -ENOMEM when private memory runs out;
 * -EOVERFLOW when stride * num_blocks does not fit in 64 bits. */
int blockpool_init(struct blockpool *bp, uint64_t block_size, uint64_t num_blocks, uint64_t align);
void blockpool_fini(struct blockpool *bp);

/* Bytes of range the pool covers: stride * num_blocks. */
uint64_t blockpool_span(const struct blockpool *bp);

/* Bytes a pool with these parameters needs, or 0 if they are invalid. */
uint64_t blockpool_span_for(uint64_t block_size, uint64_t num_blocks, uint64_t align);

int blockpool_alloc(struct blockpool *bp, uint64_t *off);
int blockpool_free(struct blockpool *bp, uint64_t off);

/* n blocks, not necessarily adjacent, written to offs[0..n-1]. */
int blockpool_alloc_n(struct blockpool *bp, size_t n, uint64_t *offs);
int blockpool_free_n(struct blockpool *bp, size_t n, const uint64_t *offs);

/* n adjacent blocks; *first is the offset of the lowest one. */
int blockpool_alloc_contig(struct blockpool *bp, size_t n, uint64_t *first);
/* Take the given run of n blocks starting at first: -ENOMEM if any is taken. */
int blockpool_reserve(struct blockpool *bp, uint64_t first, size_t n);
int blockpool_free_contig(struct blockpool *bp, uint64_t first, size_t n);

/* Validate without changing anything; same codes as the matching free. */
int blockpool_check_allocated(const struct blockpool *bp, uint64_t off);

/*
 * The same by block index, for callers that keep indices (the daemon): no
 * offset arithmetic.  blockpool_alloc_n_index writes n indices to index[];
 * blockpool_free_index frees block i: -EINVAL if i is not a block of the
 * pool, -EFAULT if it is not allocated.
 */
int blockpool_alloc_n_index(struct blockpool *bp, size_t n, uint32_t *index);
int blockpool_free_index(struct blockpool *bp, uint32_t i);
/* All or nothing, as blockpool_free_n. */
int blockpool_free_n_index(struct blockpool *bp, size_t n, const uint32_t *index);
/*
 * blockpool_alloc_n_index, telling the caller whether the n blocks it took
 * are exactly lo, lo + 1, ..., lo + n - 1: 2 if they are, in order, 1 if
 * they are in some other order, 0 if not, or -errno; *lo is set for 1 and
 * 2.  Their owner can then keep its records of them as spans (see span.h),
 * as the pool does.  Taken from the stretch of the stack the pool knows to
 * hold a run (a fresh pool's, or what a run's release pushed), they are in
 * the run's order: 2, and only index[0] and index[1] are written, block k
 * being index[0] + k, or index[0] - k when index[1] is below index[0]
 * (blockpool_seq_fill writes the rest), so that a caller that names a run
 * by its first block does not pay for the list.
 */
int blockpool_take_n_index(struct blockpool *bp, size_t n, uint32_t *index, uint32_t *lo);

/* Write index[2..n) of a run whose first two blockpool_take_n_index gave. */
void blockpool_seq_fill(uint32_t *index, size_t n);

/*
 * Put back n blocks the caller has already validated: each index a block of
 * the pool, allocated, and listed once.  Nothing is checked; the daemon,
 * whose per-block ownership records prove all three, uses it so that a
 * batch pays for one validation, not two.  blockpool_release_run does the
 * same for the run first, first + 1, ... (asc) or first, first - 1, ...,
 * pushed in that order.
 */
void blockpool_release_n_index(struct blockpool *bp, size_t n, const uint32_t *index);
void blockpool_release_run(struct blockpool *bp, uint32_t first, size_t n, int asc);

/* Whether n adjacent free blocks exist, without taking them. */
int blockpool_can_alloc_contig(const struct blockpool *bp, size_t n);

void blockpool_stat(const struct blockpool *bp, struct blockpool_stat *st);
void blockpool_reset_max(struct blockpool *bp);

/* Call fn once per maximal run of allocated blocks, in ascending order.
 * A non-zero return from fn stops the walk and is returned. */
typedef int (*blockpool_walk_fn)(void *ctx, uint32_t first_index, uint32_t count);
int blockpool_walk(const struct blockpool *bp, blockpool_walk_fn fn, void *ctx);

static inline uint32_t blockpool_index(const struct blockpool *bp, uint64_t off)
{
	return (uint32_t)(off / bp->stride);
}

static inline uint64_t blockpool_offset(const struct blockpool *bp, uint32_t index)
{
	return (uint64_t)index * bp->stride;
}

#endif
