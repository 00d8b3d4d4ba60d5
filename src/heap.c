/*
 * heap: a segregated-fit allocator over a range of offsets whose every
 * piece of bookkeeping lives in private memory.
 *
 * The range is tiled by blocks.  Each block has a private record holding its
 * offset, size, state, its neighbours in address order (so freeing coalesces
 * in O(1)) and, while free, its links in a size-class bin.  Bins are indexed
 * as in TLSF: a first level per power of two and HEAP_SL_COUNT linear
 * subdivisions below it, each level summarised by a bitmap, so the first
 * non-empty bin at or above a size is found with two bit scans.  Records are
 * found by offset through an open-addressing hash table, and they come from
 * chunks that are never given back while the heap lives, so an alloc/free
 * cycle in steady state calls malloc only when the heap grows past its
 * previous peak number of blocks.
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Second-level subdivisions per power of two.  Fine bins keep the blocks in
 * one bin within about 3% of each other in size. */
#define HEAP_SL_BITS 5
#define HEAP_SL_COUNT (1u << HEAP_SL_BITS)

/* Sizes are kept in units of HEAP_MIN_ALIGN, so a size below 2^64 is below
 * 2^60 units and its first level is at most 60 - HEAP_SL_BITS. */
#define HEAP_UNIT_SHIFT 4
#define HEAP_FL_COUNT (60 - HEAP_SL_BITS + 1)

/* How many blocks of the bin that holds the request size are looked at
 * before moving up to a bin whose every block fits. */
#define HEAP_BIN_SCAN 8

/* How many non-empty bins an aligned allocation tries before it goes to the
 * first bin in which every block is large enough whatever its offset. */
#define HEAP_ALIGN_BIN_SCAN 16

#define HEAP_CHUNK_MIN 256u
#define HEAP_CHUNK_MAX 65536u
#define HEAP_TABLE_MIN 64u

struct heap_block {
	uint64_t off;
	uint64_t size;
	struct heap_block *prev;  /* neighbour below in address order */
	struct heap_block *next;  /* neighbour above in address order */
	struct heap_block *fprev; /* bin list while free */
	struct heap_block *fnext; /* bin list while free, spare list while unused */
	int used;
};

struct heap_chunk {
	struct heap_chunk *next;
	struct heap_block recs[];
};

struct heap_slot {
	uint64_t off;
	struct heap_block *blk;   /* NULL: empty slot */
};

struct heap {
	uint64_t total;
	uint64_t free;
	uint64_t min_free;
	uint64_t num_allocs;
	uint64_t num_frees;
	uint64_t num_used;

	uint64_t fl_bitmap;
	uint64_t sl_bitmap[HEAP_FL_COUNT];
	struct heap_block *bins[HEAP_FL_COUNT][HEAP_SL_COUNT];

	struct heap_block *spare;
	size_t num_spare;
	struct heap_chunk *chunks;
	size_t next_chunk;

	struct heap_slot *table;
	uint64_t table_mask;
	unsigned table_shift;
	size_t table_count;
};

static inline uint64_t heap_round(uint64_t size)
{
	return (size + HEAP_MIN_ALIGN - 1) & ~(uint64_t)(HEAP_MIN_ALIGN - 1);
}

/* The bin whose size range holds size (a multiple of HEAP_MIN_ALIGN). */
static inline void heap_bin_index(uint64_t size, unsigned *fl, unsigned *sl)
{
	uint64_t units = size >> HEAP_UNIT_SHIFT;
	unsigned msb;

	if (units < HEAP_SL_COUNT) {
		*fl = 0;
		*sl = (unsigned)units;
		return;
	}
	msb = 63u - (unsigned)__builtin_clzll(units);
	*fl = msb - HEAP_SL_BITS + 1;
	*sl = (unsigned)(units >> (msb - HEAP_SL_BITS)) - HEAP_SL_COUNT;
}

/* The smallest size a block in bin (fl, sl) can have. */
static inline uint64_t heap_bin_floor(unsigned fl, unsigned sl)
{
	uint64_t units = fl == 0 ? sl : (uint64_t)(HEAP_SL_COUNT + sl) << (fl - 1);

	return units << HEAP_UNIT_SHIFT;
}

/* The first non-empty bin at or above (fl, sl), or 0 if there is none. */
static inline int heap_bin_find(const struct heap *h, unsigned *fl, unsigned *sl)
{
	uint64_t bits;

	if (*sl >= HEAP_SL_COUNT) {
		*fl += 1;
		*sl = 0;
	}
	if (*fl >= HEAP_FL_COUNT)
		return 0;
	bits = h->sl_bitmap[*fl] & (~(uint64_t)0 << *sl);
	if (!bits) {
		if (*fl + 1 >= HEAP_FL_COUNT)
			return 0;
		bits = h->fl_bitmap & (~(uint64_t)0 << (*fl + 1));
		if (!bits)
			return 0;
		*fl = (unsigned)__builtin_ctzll(bits);
		bits = h->sl_bitmap[*fl];
	}
	*sl = (unsigned)__builtin_ctzll(bits);
	return 1;
}

static void heap_bin_insert(struct heap *h, struct heap_block *b)
{
	unsigned fl, sl;
	struct heap_block **head;

	heap_bin_index(b->size, &fl, &sl);
	head = &h->bins[fl][sl];
	b->fprev = NULL;
	b->fnext = *head;
	if (*head)
		(*head)->fprev = b;
	*head = b;
	h->sl_bitmap[fl] |= (uint64_t)1 << sl;
	h->fl_bitmap |= (uint64_t)1 << fl;
}

/* Take b out of the bin it was filed in when its size was size. */
static void heap_bin_remove(struct heap *h, struct heap_block *b, uint64_t size)
{
	unsigned fl, sl;

	if (b->fnext)
		b->fnext->fprev = b->fprev;
	if (b->fprev) {
		b->fprev->fnext = b->fnext;
		return;
	}
	heap_bin_index(size, &fl, &sl);
	h->bins[fl][sl] = b->fnext;
	if (b->fnext)
		return;
	h->sl_bitmap[fl] &= ~((uint64_t)1 << sl);
	if (!h->sl_bitmap[fl])
		h->fl_bitmap &= ~((uint64_t)1 << fl);
}

/* Refile the free block b, filed when its size was old, after its size
 * changed; most changes leave it in the same bin and cost nothing. */
static inline void heap_bin_update(struct heap *h, struct heap_block *b, uint64_t old)
{
	unsigned ofl, osl, fl, sl;

	heap_bin_index(old, &ofl, &osl);
	heap_bin_index(b->size, &fl, &sl);
	if (ofl == fl && osl == sl)
		return;
	heap_bin_remove(h, b, old);
	heap_bin_insert(h, b);
}

/* Fibonacci hashing of the offset in units: consecutive blocks spread
 * over the whole table. */
static inline uint64_t heap_hash(uint64_t off, unsigned shift)
{
	return ((off >> HEAP_UNIT_SHIFT) * UINT64_C(0x9E3779B97F4A7C15)) >> shift;
}

static inline uint64_t heap_table_home(const struct heap *h, uint64_t off)
{
	return heap_hash(off, h->table_shift);
}

static struct heap_block *heap_table_find(const struct heap *h, uint64_t off)
{
	uint64_t i = heap_table_home(h, off);

	for (;;) {
		const struct heap_slot *s = &h->table[i];

		if (!s->blk)
			return NULL;
		if (s->off == off)
			return s->blk;
		i = (i + 1) & h->table_mask;
	}
}

/* Insert without checking capacity: callers reserve room first. */
static void heap_table_put(struct heap_slot *table, uint64_t mask, unsigned shift, uint64_t off,
			   struct heap_block *b)
{
	uint64_t i = heap_hash(off, shift);

	while (table[i].blk)
		i = (i + 1) & mask;
	table[i].off = off;
	table[i].blk = b;
}

static void heap_table_insert(struct heap *h, struct heap_block *b)
{
	heap_table_put(h->table, h->table_mask, h->table_shift, b->off, b);
	h->table_count++;
}

/* Linear probing deletes by shifting later members of the cluster back, so
 * no tombstones accumulate and lookups stay short. */
static void heap_table_remove(struct heap *h, uint64_t off)
{
	uint64_t i = heap_table_home(h, off);
	uint64_t j;

	while (h->table[i].off != off || !h->table[i].blk)
		i = (i + 1) & h->table_mask;
	j = i;
	for (;;) {
		uint64_t k;

		j = (j + 1) & h->table_mask;
		if (!h->table[j].blk)
			break;
		k = heap_table_home(h, h->table[j].off);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->table[i] = h->table[j];
		i = j;
	}
	h->table[i].blk = NULL;
	h->table_count--;
}

static int heap_table_grow(struct heap *h, uint64_t cap)
{
	struct heap_slot *table;
	unsigned shift = 64u - (unsigned)__builtin_ctzll(cap);

	table = calloc(cap, sizeof(*table));
	if (!table)
		return -ENOMEM;
	for (uint64_t i = 0; i <= h->table_mask; i++)
		if (h->table[i].blk)
			heap_table_put(table, cap - 1, shift, h->table[i].off, h->table[i].blk);
	free(h->table);
	h->table = table;
	h->table_mask = cap - 1;
	h->table_shift = shift;
	return 0;
}

static int heap_records_grow(struct heap *h)
{
	struct heap_chunk *c;
	size_t n = h->next_chunk;

	c = malloc(sizeof(*c) + n * sizeof(c->recs[0]));
	if (!c)
		return -ENOMEM;
	c->next = h->chunks;
	h->chunks = c;
	for (size_t i = 0; i < n; i++) {
		c->recs[i].fnext = h->spare;
		h->spare = &c->recs[i];
	}
	h->num_spare += n;
	if (h->next_chunk < HEAP_CHUNK_MAX)
		h->next_chunk *= 2;
	return 0;
}

/* Make sure n more blocks can be created without failing, so that an
 * operation never has to unwind half-way through. */
static inline int heap_prepare(struct heap *h, size_t n)
{
	int rc;

	if (h->num_spare < n) {
		rc = heap_records_grow(h);
		if (rc)
			return rc;
	}
	if ((h->table_count + n) * 2 > h->table_mask + 1)
		return heap_table_grow(h, (h->table_mask + 1) * 2);
	return 0;
}

static inline struct heap_block *heap_record_get(struct heap *h)
{
	struct heap_block *b = h->spare;

	h->spare = b->fnext;
	h->num_spare--;
	return b;
}

static inline void heap_record_put(struct heap *h, struct heap_block *b)
{
	b->fnext = h->spare;
	h->spare = b;
	h->num_spare++;
}

/* Create a block at off of the given size right after b in address order. */
static struct heap_block *heap_block_split(struct heap *h, struct heap_block *b, uint64_t off,
					   uint64_t size, int used)
{
	struct heap_block *n = heap_record_get(h);

	n->off = off;
	n->size = size;
	n->used = used;
	n->prev = b;
	n->next = b->next;
	if (b->next)
		b->next->prev = n;
	b->next = n;
	heap_table_insert(h, n);
	return n;
}

/* Drop b, which lies right after its free neighbour below, into that
 * neighbour. */
static void heap_block_absorb(struct heap *h, struct heap_block *b)
{
	struct heap_block *p = b->prev;

	p->size += b->size;
	p->next = b->next;
	if (b->next)
		b->next->prev = p;
	heap_table_remove(h, b->off);
	heap_record_put(h, b);
}

/* Mark [start, start + size) of the free block b used, leaving what is
 * left on either side free.  Needs two spare records. */
static struct heap_block *heap_block_take(struct heap *h, struct heap_block *b, uint64_t start,
					  uint64_t size)
{
	uint64_t end = b->off + b->size, old = b->size;
	struct heap_block *u;

	if (start == b->off) {
		heap_bin_remove(h, b, old);
		u = b;
		u->used = 1;
		u->size = size;
	} else {
		b->size = start - b->off;
		heap_bin_update(h, b, old);
		u = heap_block_split(h, b, start, size, 1);
	}
	if (start + size < end)
		heap_bin_insert(h, heap_block_split(h, u, start + size, end - start - size, 0));
	h->free -= size;
	if (h->free < h->min_free)
		h->min_free = h->free;
	return u;
}

/* A free block of at least size bytes, or NULL. */
static struct heap_block *heap_block_find(struct heap *h, uint64_t size)
{
	unsigned fl, sl;

	heap_bin_index(size, &fl, &sl);
	if (heap_bin_floor(fl, sl) != size) {
		struct heap_block *b = h->bins[fl][sl];

		/* Requests that fall between bin floors would otherwise skip
		 * every block of their own bin, which is what keeps a pure
		 * segregated fit near 70% utilization under uniform churn. */
		for (int i = 0; b && i < HEAP_BIN_SCAN; i++, b = b->fnext)
			if (b->size >= size)
				return b;
		sl++;
	}
	if (!heap_bin_find(h, &fl, &sl))
		return NULL;
	return h->bins[fl][sl];
}

static inline uint64_t heap_align_up(uint64_t off, uint64_t align)
{
	return (off + align - 1) & ~(align - 1);
}

static inline int heap_block_fits(const struct heap_block *b, uint64_t align, uint64_t size)
{
	uint64_t start = heap_align_up(b->off, align);

	return start - b->off <= b->size && b->size - (start - b->off) >= size;
}

/* A free block that holds size bytes at an align boundary, or NULL. */
static struct heap_block *heap_block_find_aligned(struct heap *h, uint64_t align, uint64_t size)
{
	uint64_t sure = size + align - HEAP_MIN_ALIGN;
	unsigned fl, sl, sfl, ssl;

	if (sure < size)
		return NULL;
	heap_bin_index(sure, &sfl, &ssl);
	if (heap_bin_floor(sfl, ssl) != sure)
		ssl++;
	heap_bin_index(size, &fl, &sl);
	for (int n = 0; n < HEAP_ALIGN_BIN_SCAN && heap_bin_find(h, &fl, &sl); n++, sl++) {
		struct heap_block *b = h->bins[fl][sl];

		if (fl > sfl || (fl == sfl && sl >= ssl))
			return b;
		for (int i = 0; b && i < HEAP_BIN_SCAN; i++, b = b->fnext)
			if (heap_block_fits(b, align, size))
				return b;
	}
	if (!heap_bin_find(h, &sfl, &ssl))
		return NULL;
	return h->bins[sfl][ssl];
}

/* Allocate without touching the counters; align is a power of two of at
 * least HEAP_MIN_ALIGN and size a non-zero multiple of HEAP_MIN_ALIGN. */
static int heap_block_alloc(struct heap *h, uint64_t align, uint64_t size,
			    struct heap_block **out)
{
	struct heap_block *b;
	int rc;

	if (size > h->free)
		return -ENOMEM;
	rc = heap_prepare(h, 2);
	if (rc)
		return rc;
	if (align <= HEAP_MIN_ALIGN)
		b = heap_block_find(h, size);
	else
		b = heap_block_find_aligned(h, align, size);
	if (!b)
		return -ENOMEM;
	*out = heap_block_take(h, b, heap_align_up(b->off, align), size);
	return 0;
}

/* Return the used block b to free space, merging it with free neighbours.
 * A neighbour below that absorbs it usually stays in its bin. */
static void heap_block_release(struct heap *h, struct heap_block *b)
{
	struct heap_block *p = b->prev, *n = b->next;

	h->free += b->size;
	b->used = 0;
	if (n && !n->used) {
		heap_bin_remove(h, n, n->size);
		heap_block_absorb(h, n);
	}
	if (p && !p->used) {
		uint64_t old = p->size;

		heap_block_absorb(h, b);
		heap_bin_update(h, p, old);
	} else {
		heap_bin_insert(h, b);
	}
}

/* The live allocation at off: -EINVAL if off starts no block, -EFAULT if
 * it starts a free one. */
static int heap_lookup(const struct heap *h, uint64_t off, struct heap_block **out)
{
	struct heap_block *b;

	if (off >= h->total || off % HEAP_MIN_ALIGN)
		return -EINVAL;
	b = heap_table_find(h, off);
	if (!b)
		return -EINVAL;
	if (!b->used)
		return -EFAULT;
	*out = b;
	return 0;
}

int heap_create(uint64_t size, struct heap **out)
{
	struct heap *h;
	struct heap_block *b;
	int rc;

	if (!out)
		return -EINVAL;
	size &= ~(uint64_t)(HEAP_MIN_ALIGN - 1);
	if (size == 0)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->total = size;
	h->free = size;
	h->min_free = size;
	h->next_chunk = HEAP_CHUNK_MIN;
	h->table = calloc(HEAP_TABLE_MIN, sizeof(*h->table));
	if (!h->table) {
		rc = -ENOMEM;
		goto fail_free;
	}
	h->table_mask = HEAP_TABLE_MIN - 1;
	h->table_shift = 64u - (unsigned)__builtin_ctzll(HEAP_TABLE_MIN);
	rc = heap_records_grow(h);
	if (rc)
		goto fail_free;
	b = heap_record_get(h);
	memset(b, 0, sizeof(*b));
	b->size = size;
	heap_table_insert(h, b);
	heap_bin_insert(h, b);
	*out = h;
	return 0;

fail_free:
	heap_destroy(h);
	return rc;
}

void heap_destroy(struct heap *h)
{
	struct heap_chunk *c, *next;

	if (!h)
		return;
	for (c = h->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(h->table);
	free(h);
}

int heap_aligned_alloc(struct heap *h, uint64_t align, uint64_t size, uint64_t *off)
{
	struct heap_block *b;
	int rc;

	if (!h || !off || size == 0)
		return -EINVAL;
	if (align == 0 || align & (align - 1) || align > HEAP_MAX_ALIGN)
		return -EINVAL;
	if (size > h->total)
		return -ENOMEM;
	if (align < HEAP_MIN_ALIGN)
		align = HEAP_MIN_ALIGN;
	rc = heap_block_alloc(h, align, heap_round(size), &b);
	if (rc)
		return rc;
	h->num_allocs++;
	h->num_used++;
	*off = b->off;
	return 0;
}

int heap_alloc(struct heap *h, uint64_t size, uint64_t *off)
{
	return heap_aligned_alloc(h, HEAP_MIN_ALIGN, size, off);
}

/* Finding the block that holds an arbitrary offset walks the blocks in
 * address order; reserving is meant for carving pools at start-up, not for
 * the allocation path. */
int heap_reserve(struct heap *h, uint64_t off, uint64_t size)
{
	struct heap_block *b;
	int rc;

	if (!h || size == 0 || off % HEAP_MIN_ALIGN || off >= h->total)
		return -EINVAL;
	if (size > h->total - off)
		return -EINVAL;
	size = heap_round(size);
	if (size > h->total - off)
		return -EINVAL;
	for (b = heap_table_find(h, 0); b->off + b->size <= off; b = b->next)
		;
	if (b->used || b->off + b->size < off + size)
		return -ENOMEM;
	rc = heap_prepare(h, 2);
	if (rc)
		return rc;
	heap_block_take(h, b, off, size);
	h->num_allocs++;
	h->num_used++;
	return 0;
}

int heap_free(struct heap *h, uint64_t off)
{
	struct heap_block *b;
	int rc;

	if (!h)
		return -EINVAL;
	rc = heap_lookup(h, off, &b);
	if (rc)
		return rc;
	heap_block_release(h, b);
	h->num_frees++;
	h->num_used--;
	return 0;
}

int heap_usable_size(const struct heap *h, uint64_t off, uint64_t *size)
{
	struct heap_block *b;
	int rc;

	if (!h || !size)
		return -EINVAL;
	rc = heap_lookup(h, off, &b);
	if (rc)
		return rc;
	*size = b->size;
	return 0;
}

/* Give the tail of the used block b beyond size back to free space. */
static int heap_block_shrink(struct heap *h, struct heap_block *b, uint64_t size)
{
	struct heap_block *n = b->next;
	uint64_t diff = b->size - size;
	int rc;

	if (n && !n->used) {
		uint64_t old = n->size;

		heap_table_remove(h, n->off);
		n->off -= diff;
		n->size += diff;
		heap_table_insert(h, n);
		heap_bin_update(h, n, old);
	} else {
		rc = heap_prepare(h, 1);
		if (rc)
			return rc;
		heap_bin_insert(h, heap_block_split(h, b, b->off + size, diff, 0));
	}
	b->size = size;
	h->free += diff;
	return 0;
}

/* Extend the used block b to size from the free block after it; -ENOMEM
 * if that block is missing, used or too small. */
static int heap_block_grow(struct heap *h, struct heap_block *b, uint64_t size)
{
	struct heap_block *n = b->next;
	uint64_t diff = size - b->size;

	if (!n || n->used || n->size < diff)
		return -ENOMEM;
	if (n->size == diff) {
		heap_bin_remove(h, n, n->size);
		b->next = n->next;
		if (n->next)
			n->next->prev = b;
		heap_table_remove(h, n->off);
		heap_record_put(h, n);
	} else {
		uint64_t old = n->size;

		heap_table_remove(h, n->off);
		n->off += diff;
		n->size -= diff;
		heap_table_insert(h, n);
		heap_bin_update(h, n, old);
	}
	b->size = size;
	h->free -= diff;
	if (h->free < h->min_free)
		h->min_free = h->free;
	return 0;
}

int heap_realloc(struct heap *h, uint64_t off, uint64_t size, heap_copy_fn copy, void *ctx,
		 uint64_t *new_off)
{
	struct heap_block *b, *n;
	int rc;

	if (!h || !new_off || !copy || size == 0)
		return -EINVAL;
	rc = heap_lookup(h, off, &b);
	if (rc)
		return rc;
	if (size > h->total)
		return -ENOMEM;
	size = heap_round(size);
	if (size <= b->size) {
		if (size < b->size) {
			rc = heap_block_shrink(h, b, size);
			if (rc)
				return rc;
		}
		*new_off = off;
		return 0;
	}
	if (heap_block_grow(h, b, size) == 0) {
		*new_off = off;
		return 0;
	}
	rc = heap_block_alloc(h, HEAP_MIN_ALIGN, size, &n);
	if (rc)
		return rc;
	rc = copy(ctx, n->off, b->off, b->size);
	if (rc) {
		heap_block_release(h, n);
		return rc < 0 ? rc : -EIO;
	}
	heap_block_release(h, b);
	h->num_allocs++;
	h->num_frees++;
	*new_off = n->off;
	return 0;
}

/* The largest free block is in the highest non-empty bin, found from the
 * bitmaps; only that one bin's blocks are compared. */
void heap_stat(const struct heap *h, struct heap_stat *st)
{
	uint64_t largest = 0;

	memset(st, 0, sizeof(*st));
	if (!h)
		return;
	if (h->fl_bitmap) {
		unsigned fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
		unsigned sl = 63u - (unsigned)__builtin_clzll(h->sl_bitmap[fl]);

		for (const struct heap_block *b = h->bins[fl][sl]; b; b = b->fnext)
			if (b->size > largest)
				largest = b->size;
	}
	st->total = h->total;
	st->free = h->free;
	st->largest_free = largest;
	st->min_free = h->min_free;
	st->num_allocs = h->num_allocs;
	st->num_frees = h->num_frees;
	st->num_used = h->num_used;
}

int heap_walk(const struct heap *h, heap_walk_fn fn, void *ctx)
{
	int rc;

	if (!h || !fn)
		return -EINVAL;
	for (const struct heap_block *b = heap_table_find(h, 0); b; b = b->next) {
		rc = fn(ctx, b->off, b->size, b->used);
		if (rc)
			return rc;
	}
	return 0;
}
