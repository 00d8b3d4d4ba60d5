/*
 * heap: variable-size allocation over one range of offsets [0, size).
 *
 * A segregated fit in the spirit of TLSF: free blocks sit in size-class bins
 * found through two levels of bitmaps, so alloc and free are O(1) with no
 * list scan.  Unlike TLSF, no header or free-list link is stored in the
 * managed memory: every block record lives in private memory and is found
 * by offset through a private index.  The heap never reads or writes the
 * range it manages; realloc copies through a caller-supplied callback.
 *
 * Return values: 0 or a negative errno.
 *   size 0                         -EINVAL
 *   alignment not a power of two   -EINVAL
 *   no room                        -ENOMEM
 *   unknown offset                 -EINVAL
 *   double free                    -EFAULT
 */
#ifndef SHMPOOL_HEAP_H
#define SHMPOOL_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* Every allocation starts on at least this boundary and has a usable size
 * that is a multiple of it. */
#define HEAP_MIN_ALIGN 16u

/* The largest alignment heap_aligned_alloc accepts. */
#define HEAP_MAX_ALIGN ((uint64_t)1 << 30)

struct heap;

struct heap_stat {
	uint64_t total;        /* size of the range */
	uint64_t free;         /* bytes in free blocks */
	uint64_t largest_free; /* largest free block */
	uint64_t min_free;     /* lowest value free has ever had */
	uint64_t num_allocs;   /* successful allocations, realloc moves included */
	uint64_t num_frees;
	uint64_t num_used;     /* allocations currently live */
};

/* Create a heap managing [0, size); size is rounded down to HEAP_MIN_ALIGN.
 * -EINVAL if that leaves nothing, -ENOMEM if private memory runs out. */
int heap_create(uint64_t size, struct heap **out);
void heap_destroy(struct heap *h);

int heap_alloc(struct heap *h, uint64_t size, uint64_t *off);
int heap_aligned_alloc(struct heap *h, uint64_t align, uint64_t size, uint64_t *off);

/* Take exactly [off, off + size) if it lies wholly in free space: used to
 * carve fixed regions (pools) out of a heap.  -ENOMEM if any of it is taken,
 * -EINVAL if it is outside the range or not HEAP_MIN_ALIGN aligned. */
int heap_reserve(struct heap *h, uint64_t off, uint64_t size);

int heap_free(struct heap *h, uint64_t off);

/* Usable size of the allocation that starts at off. */
int heap_usable_size(const struct heap *h, uint64_t off, uint64_t *size);

/* Copy len bytes from src to dst inside the managed range; 0 or -errno. */
typedef int (*heap_copy_fn)(void *ctx, uint64_t dst, uint64_t src, uint64_t len);

/* Resize the allocation at off.  Shrinks in place; grows in place when the
 * following space is free; otherwise allocates, copies through copy and
 * frees the old block.  On failure the old allocation is untouched.
 * size 0 is -EINVAL (callers decide what realloc to 0 means). */
int heap_realloc(struct heap *h, uint64_t off, uint64_t size, heap_copy_fn copy, void *ctx,
		 uint64_t *new_off);

void heap_stat(const struct heap *h, struct heap_stat *st);

/* Call fn for every block in address order; a non-zero return stops the
 * walk and is returned. */
typedef int (*heap_walk_fn)(void *ctx, uint64_t off, uint64_t size, int used);
int heap_walk(const struct heap *h, heap_walk_fn fn, void *ctx);

#endif
