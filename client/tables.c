/*
 * tables: what a connection knows locally — the regions it has mapped, the
 * pools it has seen, and what it holds.  Every function here runs with the
 * connection's mutex held.
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HCHUNK_ENTRIES 64

struct client_hchunk {
	struct client_hchunk *next;
	struct client_hentry e[HCHUNK_ENTRIES];
};

/* Grow an array of elements of size elem so that index i is valid; new
 * elements are zeroed. */
static int array_reserve(void **array, uint32_t *n, uint32_t i, size_t elem)
{
	uint32_t want;
	void *v;

	if (i < *n)
		return 0;
	want = i + 16;
	v = realloc(*array, (size_t)want * elem);
	if (!v)
		return -ENOMEM;
	memset((char *)v + (size_t)*n * elem, 0, (size_t)(want - *n) * elem);
	*array = v;
	*n = want;
	return 0;
}

static int region_map(struct client_region *r)
{
	void *base = mmap(NULL, r->size, r->read_only ? PROT_READ : PROT_READ | PROT_WRITE,
			  MAP_SHARED, r->fd, 0);

	if (base == MAP_FAILED)
		return -errno;
	r->base = base;
	close(r->fd);
	r->fd = -1;
	return 0;
}

/*
 * The fd is closed as soon as the region is mapped: the mapping keeps the
 * memory alive, the daemon sends each region only once per connection, and a
 * process with many connections should not pin one descriptor per region.
 * Only when mmap fails is the fd kept, so that a later use can try again.
 */
int client_region_apply(shmpool_t *sp, const struct proto_region_desc *d, int fd)
{
	struct client_region *r;
	int rc;

	if (fd < 0)
		return -EBADMSG;
	if (d->id >= CLIENT_MAX_REGIONS || d->size == 0 || d->size > SIZE_MAX) {
		rc = -EBADMSG;
		goto fail_close;
	}
	rc = array_reserve((void **)&sp->regions, &sp->nregions, d->id, sizeof(*sp->regions));
	if (rc < 0)
		goto fail_close;
	r = &sp->regions[d->id];
	if (r->known && r->base) {
		struct client_mapping *m;

		if (r->size == d->size) {
			close(fd);
			return 0;
		}
		/* A different region under an old id: keep the old
		 * mapping until disconnect, pointers may still point in. */
		m = malloc(sizeof(*m));
		if (!m) {
			rc = -ENOMEM;
			goto fail_close;
		}
		m->base = r->base;
		m->size = r->size;
		m->next = sp->retired;
		sp->retired = m;
		r->base = NULL;
	}
	if (r->known && r->fd >= 0)
		close(r->fd);
	r->known = 1;
	r->size = d->size;
	r->read_only = !!(d->flags & PROTO_F_READ_ONLY);
	r->fd = fd;
	return region_map(r);

fail_close:
	close(fd);
	return rc;
}

void *client_region_base(shmpool_t *sp, uint32_t region_id)
{
	struct client_region *r;

	if (region_id >= sp->nregions)
		return NULL;
	r = &sp->regions[region_id];
	if (!r->known)
		return NULL;
	if (!r->base && r->fd >= 0)
		region_map(r);
	return r->base;
}

struct client_pool *client_pool_get(shmpool_t *sp, uint32_t id)
{
	return id < sp->npools ? sp->pools[id] : NULL;
}

/* Take up the cache lane a descriptor names.  The daemon never moves a
 * pool to another lane; a lane that goes (the pool was destroyed) leaves
 * nothing in it that the daemon has not taken back. */
static int pool_lane(shmpool_t *sp, struct client_pool *p, const struct proto_pool_desc *d)
{
	int usable = sp->ring && d->cache_lane < PROTO_STOCK_LANES && d->cache_slots > 0 &&
		     d->cache_slots <= PROTO_STOCK_SLOTS;

	if (!usable) {
		p->lane = PROTO_STOCK_NONE;
		p->nslots = p->ncached = 0;
		return 0;
	}
	if (!p->mine) {
		p->mine = calloc(((size_t)p->num_blocks + 63) / 64, sizeof(uint64_t));
		if (!p->mine)
			return -ENOMEM;
	}
	if (p->lane != d->cache_lane || p->nslots != d->cache_slots) {
		p->lane = d->cache_lane;
		p->nslots = d->cache_slots;
		p->ncached = 0;
	}
	return 0;
}

int client_pool_apply(shmpool_t *sp, const struct proto_pool_desc *d)
{
	struct client_region *reg;
	struct client_pool *p, *old;
	uint64_t room;
	int rc;

	if (d->id >= CLIENT_MAX_POOLS || d->region_id >= sp->nregions)
		return -EBADMSG;
	reg = &sp->regions[d->region_id];
	if (!reg->known || d->block_size == 0 || d->stride < d->block_size || d->num_blocks == 0 ||
	    d->base >= reg->size)
		return -EBADMSG;
	room = reg->size - d->base;
	if (d->stride > room / d->num_blocks)
		return -EBADMSG;
	rc = array_reserve((void **)&sp->pools, &sp->npools, d->id, sizeof(*sp->pools));
	if (rc < 0)
		return rc;
	old = sp->pools[d->id];
	if (old && old->region_id == d->region_id && old->base == d->base &&
	    old->stride == d->stride && old->block_size == d->block_size &&
	    old->num_blocks == d->num_blocks) {
		old->attr = d->attr;
		return pool_lane(sp, old, d);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->held = calloc(((size_t)d->num_blocks + 63) / 64, sizeof(uint64_t));
	p->lane = PROTO_STOCK_NONE;
	p->num_blocks = d->num_blocks;
	if (!p->held || pool_lane(sp, p, d) < 0) {
		free(p->held);
		free(p->mine);
		free(p);
		return -ENOMEM;
	}
	p->id = d->id;
	p->region_id = d->region_id;
	p->attr = d->attr;
	p->base = d->base;
	p->block_size = d->block_size;
	p->stride = d->stride;
	/* A pool id the daemon reused: nothing can be held in the old
	 * pool, which the daemon destroys only when no block is held. */
	if (old) {
		free(old->held);
		free(old->mine);
		free(old);
	}
	sp->pools[d->id] = p;
	return 0;
}

int client_pool_index(shmpool_t *sp, const struct client_pool *p, const void *ptr, uint32_t *index)
{
	const char *base = client_region_base(sp, p->region_id);
	uintptr_t a = (uintptr_t)ptr, start;
	uint64_t rel;

	if (!base)
		return -EINVAL;
	start = (uintptr_t)base + (uintptr_t)p->base;
	if (a < start)
		return -EINVAL;
	rel = a - start;
	if (rel / p->stride >= p->num_blocks || rel % p->stride != 0)
		return -EINVAL;
	*index = (uint32_t)(rel / p->stride);
	return 0;
}

void *client_block_ptr(shmpool_t *sp, const struct client_pool *p, uint32_t i)
{
	char *base = client_region_base(sp, p->region_id);

	return base ? base + p->base + (uint64_t)i * p->stride : NULL;
}

int client_locate(shmpool_t *sp, const void *ptr, struct client_loc *loc)
{
	uintptr_t a = (uintptr_t)ptr;
	uint32_t id;

	for (id = 0; id < sp->nregions; id++) {
		const struct client_region *r = &sp->regions[id];

		if (r->base && a >= (uintptr_t)r->base && a - (uintptr_t)r->base < r->size)
			break;
	}
	if (id == sp->nregions)
		return -EINVAL;
	loc->region_id = id;
	loc->offset = a - (uintptr_t)sp->regions[id].base;
	loc->pool = NULL;
	loc->index = 0;
	for (uint32_t k = 0; k < sp->npools; k++) {
		struct client_pool *p = sp->pools[k];
		uint64_t rel;

		if (!p || p->region_id != id || loc->offset < p->base)
			continue;
		rel = loc->offset - p->base;
		if (rel / p->stride >= p->num_blocks)
			continue;
		if (rel % p->stride != 0)
			return -EINVAL;
		loc->pool = p;
		loc->index = (uint32_t)(rel / p->stride);
		return 0;
	}
	return 0;
}

static uint64_t block_key(const struct client_pool *p, uint32_t i)
{
	return (uint64_t)p->id << 32 | i;
}

static int bit_test(const struct client_pool *p, uint32_t i)
{
	return !!(p->held[i / 64] & (1ull << (i % 64)));
}

/*
 * A connection may hold a block more than once (it attached a block it
 * already holds); the first hold is a bit, the others count in the hash
 * map, so the common case costs one bit per block.
 */
static void mine_set(struct client_pool *p, uint32_t i, int on)
{
	if (!p->mine)
		return;
	if (on)
		p->mine[i / 64] |= 1ull << (i % 64);
	else
		p->mine[i / 64] &= ~(1ull << (i % 64));
}

int client_hold_grant(shmpool_t *sp, struct client_pool *p, uint32_t i)
{
	int first = !bit_test(p, i);
	int rc = client_hold_add(sp, p, i);

	if (rc == 0 && first)
		mine_set(p, i, 1);
	return rc;
}

int client_hold_add(shmpool_t *sp, struct client_pool *p, uint32_t i)
{
	struct client_hentry *e;
	int rc;

	if (!bit_test(p, i)) {
		p->held[i / 64] |= 1ull << (i % 64);
		return 0;
	}
	/* Held twice: a free of it must reach the daemon. */
	mine_set(p, i, 0);
	e = client_hmap_find(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i));
	if (!e) {
		rc = client_hmap_insert(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i), &e);
		if (rc < 0)
			return rc;
	}
	e->holds++;
	return 0;
}

enum client_take client_hold_take(shmpool_t *sp, struct client_pool *p, uint32_t i)
{
	struct client_hentry *e = client_hmap_find(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i));

	if (e && e->holds > 0) {
		e->holds--;
		return CLIENT_TAKE_EXTRA;
	}
	if (bit_test(p, i)) {
		p->held[i / 64] &= ~(1ull << (i % 64));
		if (p->mine && (p->mine[i / 64] >> (i % 64)) & 1) {
			mine_set(p, i, 0);
			return CLIENT_TAKE_MINE;
		}
		return CLIENT_TAKE_BIT;
	}
	return CLIENT_TAKE_NONE;
}

void client_hold_undo(shmpool_t *sp, struct client_pool *p, uint32_t i, enum client_take how)
{
	struct client_hentry *e;

	if (how == CLIENT_TAKE_BIT || how == CLIENT_TAKE_MINE) {
		p->held[i / 64] |= 1ull << (i % 64);
		mine_set(p, i, how == CLIENT_TAKE_MINE);
	} else if (how == CLIENT_TAKE_EXTRA) {
		/* The entry was kept at zero holds until commit. */
		e = client_hmap_find(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i));
		if (e)
			e->holds++;
	}
}

void client_hold_commit(shmpool_t *sp, struct client_pool *p, uint32_t i, enum client_take how)
{
	struct client_hentry *e;

	if (how != CLIENT_TAKE_EXTRA)
		return;
	e = client_hmap_find(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i));
	if (e && e->holds == 0)
		client_hmap_remove(&sp->hmap, e);
}

uint32_t client_hold_count(shmpool_t *sp, const struct client_pool *p, uint32_t i)
{
	struct client_hentry *e = client_hmap_find(&sp->hmap, CLIENT_HOLD_BLOCK, block_key(p, i));

	return (uint32_t)bit_test(p, i) + (e ? e->holds : 0);
}

static size_t hmap_slot(const struct client_hmap *m, int kind, uint64_t key)
{
	uint64_t k = (key ^ (uint64_t)kind << 62) * 0x9e3779b97f4a7c15ull;

	return (size_t)(k >> 32) & (m->size - 1);
}

struct client_hentry *client_hmap_find(struct client_hmap *m, int kind, uint64_t key)
{
	if (!m->size)
		return NULL;
	for (struct client_hentry *e = m->bucket[hmap_slot(m, kind, key)]; e; e = e->next)
		if (e->key == key && e->kind == kind)
			return e;
	return NULL;
}

static void hmap_link(struct client_hmap *m, struct client_hentry *e)
{
	size_t b = hmap_slot(m, e->kind, e->key);

	e->next = m->bucket[b];
	m->bucket[b] = e;
}

static int hmap_grow(struct client_hmap *m)
{
	size_t n = m->size ? m->size * 2 : 64;
	struct client_hentry **old = m->bucket;
	size_t old_size = m->size;

	m->bucket = calloc(n, sizeof(*m->bucket));
	if (!m->bucket) {
		m->bucket = old;
		return -ENOMEM;
	}
	m->size = n;
	for (size_t i = 0; i < old_size; i++) {
		while (old[i]) {
			struct client_hentry *e = old[i];

			old[i] = e->next;
			hmap_link(m, e);
		}
	}
	free(old);
	return 0;
}

static int hmap_refill(struct client_hmap *m)
{
	struct client_hchunk *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->next = m->chunks;
	m->chunks = c;
	for (size_t i = 0; i < HCHUNK_ENTRIES; i++) {
		c->e[i].next = m->free;
		m->free = &c->e[i];
	}
	return 0;
}

int client_hmap_insert(struct client_hmap *m, int kind, uint64_t key, struct client_hentry **out)
{
	struct client_hentry *e;
	int rc;

	if (m->count + 1 > m->size) {
		rc = hmap_grow(m);
		if (rc < 0)
			return rc;
	}
	if (!m->free) {
		rc = hmap_refill(m);
		if (rc < 0)
			return rc;
	}
	e = m->free;
	m->free = e->next;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->key = key;
	hmap_link(m, e);
	m->count++;
	*out = e;
	return 0;
}

static void hmap_unlink(struct client_hmap *m, struct client_hentry *e)
{
	struct client_hentry **pp = &m->bucket[hmap_slot(m, e->kind, e->key)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
}

void client_hmap_remove(struct client_hmap *m, struct client_hentry *e)
{
	hmap_unlink(m, e);
	m->count--;
	e->next = m->free;
	m->free = e;
}

void client_hmap_rekey(struct client_hmap *m, struct client_hentry *e, uint64_t key)
{
	hmap_unlink(m, e);
	e->key = key;
	hmap_link(m, e);
}

void client_hmap_fini(struct client_hmap *m)
{
	while (m->chunks) {
		struct client_hchunk *c = m->chunks;

		m->chunks = c->next;
		free(c);
	}
	free(m->bucket);
	memset(m, 0, sizeof(*m));
}
