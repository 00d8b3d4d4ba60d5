/*
 * libshmpool: the client API of shmpoold (see libshmpool(3)).
 *
 * Each call checks its arguments, enters the connection, sends one request
 * and turns the reply into pointers.  Frees are checked against what the
 * connection holds: a free of memory it holds is sent without waiting for
 * a reply; anything else is asked of the daemon synchronously, so that the
 * caller gets the daemon's exact verdict and nothing is freed on an error.
 */
#include "client.h"
#include "span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FREE_STACK_ENTRIES 32        /* multi-block frees up to this size do not malloc */
#define FREE_STACK_INDICES 64

_Static_assert(sizeof(shmpool_ref_t) == PROTO_REF_SIZE, "a ref is the wire ref");
_Static_assert(SHMPOOL_NAME_MAX == PROTO_NAME_MAX, "names are wire names");

/* One entry of a multi-block free. */
struct free_entry {
	uint32_t pool_id;
	uint32_t index;
	uint8_t how;                 /* enum client_take, taken tentatively */
	uint8_t sent;
	uint8_t cached;              /* went into the pool's cache instead */
};

/* A block free message with room for the indices of one frame. */
struct free_buf {
	struct proto_block_free *f;
	size_t cap;
	union {
		struct proto_block_free f;
		unsigned char bytes[sizeof(struct proto_block_free) +
				    FREE_STACK_INDICES * sizeof(uint32_t)];
	} stack;
};

static int name_set(char dst[PROTO_NAME_MAX], const char *src, int nonempty)
{
	if (!src || (nonempty && !*src))
		return -EINVAL;
	return proto_set_name(dst, src) < 0 ? -EINVAL : 0;
}

/* Send a block free of nidx indices already in fb->f for one pool.  Held
 * blocks adjacent in order, up or down, go as a contiguous free of the
 * lowest: the daemon puts them back the same way (as a run, whatever the
 * order), and reads one index, not nidx.  A synchronous free keeps its
 * list, whose order decides which bad entry the daemon reports. */
static int free_message(shmpool_t *sp, struct proto_block_free *f, uint32_t pool_id,
			uint32_t nidx, int sync)
{
	struct client_pending p;
	uint32_t lo, nsent = nidx;
	size_t len;

	f->flags = sync ? PROTO_F_SYNC : 0;
	if (!sync && span_is_run(f->index, nidx, &lo)) {
		f->index[0] = lo;
		f->flags |= PROTO_F_CONTIG;
		nsent = 1;
	}
	len = sizeof(*f) + (size_t)nsent * sizeof(uint32_t);
	memset(&f->hdr, 0, sizeof(f->hdr));
	f->hdr.type = PROTO_BLOCK_FREE;
	f->pool_id = pool_id;
	f->count = nidx;
	f->nindices = nsent;
	if (!sync)
		return client_send_async(sp, f, len);
	client_pending_init(&p);
	return client_call(sp, &p, f, len);
}

/* Whether an entry goes in the synchronous pass (it is not known to be
 * held) or in the fire-and-forget pass. */
static int free_wanted(const struct free_entry *e, int sync)
{
	return !e->cached && (e->how == CLIENT_TAKE_NONE) == !!sync;
}

/* Put the blocks of committed frees that may be cached into their pools'
 * caches: those granted to this connection and now held no more. */
static void free_cache(shmpool_t *sp, struct free_entry *e, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct client_pool *cp;

		if (e[k].how != CLIENT_TAKE_MINE)
			continue;
		cp = client_pool_get(sp, e[k].pool_id);
		e[k].cached = cp && client_stock_put(sp, cp, e[k].index);
	}
}

/* Send the entries of one pass: one message per pool, split into frames of
 * at most max_indices.  The first error stops it. */
static int free_send(shmpool_t *sp, struct free_entry *e, size_t n, struct free_buf *fb, int sync)
{
	int rc = 0;

	for (size_t k = 0; k < n; k++)
		e[k].sent = 0;
	for (size_t k = 0; k < n && rc == 0; k++) {
		uint32_t pool_id = e[k].pool_id, nidx = 0;

		if (!free_wanted(&e[k], sync) || e[k].sent)
			continue;
		for (size_t j = k; j < n && rc == 0; j++) {
			if (!free_wanted(&e[j], sync) || e[j].sent || e[j].pool_id != pool_id)
				continue;
			e[j].sent = 1;
			fb->f->index[nidx++] = e[j].index;
			if (nidx == fb->cap) {
				rc = free_message(sp, fb->f, pool_id, nidx, sync);
				nidx = 0;
			}
		}
		if (rc == 0 && nidx > 0)
			rc = free_message(sp, fb->f, pool_id, nidx, sync);
	}
	return rc;
}

static enum client_take entry_take(shmpool_t *sp, const struct free_entry *e)
{
	struct client_pool *cp = client_pool_get(sp, e->pool_id);

	if (!cp || e->index >= cp->num_blocks)
		return CLIENT_TAKE_NONE;
	return client_hold_take(sp, cp, e->index);
}

/* Undo (commit 0) or make final (commit 1) the tentative takes. */
static void free_settle(shmpool_t *sp, struct free_entry *e, size_t n, int commit)
{
	for (size_t k = 0; k < n; k++) {
		struct client_pool *cp = client_pool_get(sp, e[k].pool_id);

		if (!cp || e[k].index >= cp->num_blocks)
			continue;
		if (commit)
			client_hold_commit(sp, cp, e[k].index, e[k].how);
		else
			client_hold_undo(sp, cp, e[k].index, e[k].how);
	}
}

/*
 * Free a list of blocks, all or nothing.  Each entry takes one of the
 * connection's holds on its block.  When every entry finds one, the list
 * goes out without waiting.  Otherwise an entry whose block this connection
 * held but an earlier entry already took is a duplicate: -EFAULT at once.
 * What is left is not held as far as this library knows; those entries
 * alone are sent synchronously, so the daemon, which frees nothing from a
 * message with a bad entry, gives the exact error.  Should it accept them
 * (another thread of this connection acquired the blocks in the meantime),
 * the held entries follow without waiting.  Called with the lock held.
 */
static int free_entries(shmpool_t *sp, struct free_entry *e, size_t n)
{
	struct free_buf fb;
	size_t bad = 0;
	int rc;

	fb.f = &fb.stack.f;
	fb.cap = n < sp->max_indices ? n : sp->max_indices;
	if (fb.cap > FREE_STACK_INDICES) {
		fb.f = malloc(sizeof(*fb.f) + fb.cap * sizeof(uint32_t));
		if (!fb.f)
			return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		e[k].cached = 0;
		e[k].how = entry_take(sp, &e[k]);
		if (e[k].how == CLIENT_TAKE_NONE)
			bad++;
	}
	if (bad == 0) {
		free_settle(sp, e, n, 1);
		free_cache(sp, e, n);
		rc = free_send(sp, e, n, &fb, 0);
		goto out;
	}
	free_settle(sp, e, n, 0);
	for (size_t k = 0; k < n; k++) {
		struct client_pool *cp = client_pool_get(sp, e[k].pool_id);

		if (e[k].how == CLIENT_TAKE_NONE && client_hold_count(sp, cp, e[k].index) > 0) {
			rc = -EFAULT;
			goto out;
		}
	}
	for (size_t k = 0; k < n; k++)
		e[k].how = entry_take(sp, &e[k]);
	rc = free_send(sp, e, n, &fb, 1);
	if (rc < 0) {
		free_settle(sp, e, n, 0);
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		if (e[k].how == CLIENT_TAKE_NONE) {
			struct client_pool *cp = client_pool_get(sp, e[k].pool_id);

			if (cp && e[k].index < cp->num_blocks)
				client_hold_commit(sp, cp, e[k].index,
						   client_hold_take(sp, cp, e[k].index));
		}
	}
	free_settle(sp, e, n, 1);
	free_cache(sp, e, n);
	rc = free_send(sp, e, n, &fb, 0);
out:
	if (fb.f != &fb.stack.f)
		free(fb.f);
	return rc;
}

/* Give back a block hold that cannot be recorded; the connection holds it,
 * so no reply is needed. */
static void block_give_back(shmpool_t *sp, uint32_t pool_id, uint32_t index)
{
	union {
		struct proto_block_free f;
		unsigned char bytes[sizeof(struct proto_block_free) + sizeof(uint32_t)];
	} m;

	m.f.index[0] = index;
	free_message(sp, &m.f, pool_id, 1, 0);
}

static void heap_give_back(shmpool_t *sp, uint32_t region_id, uint64_t offset)
{
	struct proto_heap_free m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_HEAP_FREE;
	m.region_id = region_id;
	m.offset = offset;
	client_send_async(sp, &m, sizeof(m));
}

/* Record a heap hold the daemon granted (alloc or attach) and return its
 * address; one that cannot be recorded is given back. */
static int heap_record(shmpool_t *sp, const struct proto_heap_reply *r, void **out)
{
	char *base = client_region_base(sp, r->region_id);
	struct client_hentry *e;
	uint64_t size;
	uintptr_t key;
	int rc;

	if (!base) {
		rc = -ENOMEM;
		goto give_back;
	}
	size = sp->regions[r->region_id].size;
	if (r->offset >= size || r->length > size - r->offset) {
		rc = -EBADMSG;
		goto give_back;
	}
	key = (uintptr_t)(base + r->offset);
	e = client_hmap_find(&sp->hmap, CLIENT_HOLD_HEAP, key);
	if (!e) {
		rc = client_hmap_insert(&sp->hmap, CLIENT_HOLD_HEAP, key, &e);
		if (rc < 0)
			goto give_back;
		e->region_id = r->region_id;
		e->offset = r->offset;
	}
	e->length = r->length;
	e->holds++;
	*out = (void *)key;
	return 0;
give_back:
	heap_give_back(sp, r->region_id, r->offset);
	return rc;
}

/* Record a block hold granted by an attach and return its address. */
static int block_record(shmpool_t *sp, const struct proto_heap_reply *r, void **out)
{
	struct client_pool *cp = client_pool_get(sp, r->pool_id);
	uint64_t rel;
	uint32_t i;
	void *ptr;
	int rc;

	if (!cp || cp->region_id != r->region_id || r->offset < cp->base)
		return -EBADMSG;
	rel = r->offset - cp->base;
	if (rel % cp->stride != 0 || rel / cp->stride >= cp->num_blocks)
		return -EBADMSG;
	i = (uint32_t)(rel / cp->stride);
	ptr = client_block_ptr(sp, cp, i);
	rc = ptr ? client_hold_add(sp, cp, i) : -ENOMEM;
	if (rc < 0) {
		block_give_back(sp, cp->id, i);
		return rc;
	}
	*out = ptr;
	return 0;
}

/* Free a heap allocation (ptr is not a known pool's block).  Called with
 * the lock held. */
static int heap_free(shmpool_t *sp, void *ptr, const struct client_loc *loc)
{
	struct client_hentry *e = client_hmap_find(&sp->hmap, CLIENT_HOLD_HEAP, (uintptr_t)ptr);
	struct proto_heap_free m;
	struct client_pending p;
	int rc;

	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_HEAP_FREE;
	if (e && e->holds > 0) {
		m.region_id = e->region_id;
		m.offset = e->offset;
		if (--e->holds == 0)
			client_hmap_remove(&sp->hmap, e);
		return client_send_async(sp, &m, sizeof(m));
	}
	m.region_id = loc->region_id;
	m.offset = loc->offset;
	m.flags = PROTO_F_SYNC;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0) {
		/* Accepted after all: a hold recorded meanwhile by another thread. */
		e = client_hmap_find(&sp->hmap, CLIENT_HOLD_HEAP, (uintptr_t)ptr);
		if (e && e->holds > 0 && --e->holds == 0)
			client_hmap_remove(&sp->hmap, e);
	}
	return rc;
}

SHMPOOL_API int shmpool_set_priority(shmpool_t *sp, int priority)
{
	struct proto_set_priority m;
	struct client_pending p;
	int rc;

	if (!sp || priority < -20 || priority > 19)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_SET_PRIORITY;
	m.priority = priority;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API unsigned long shmpool_async_errors(shmpool_t *sp)
{
	return sp ? client_async_errors(sp) : 0;
}

/* Make a handle for the pool a POOL_OPEN or POOL_CREATE reply describes. */
static int pool_handle(shmpool_t *sp, const struct proto_pool_reply *r, shmpool_pool_t **out)
{
	shmpool_pool_t *pool;

	if (!(r->r.flags & PROTO_F_POOL_DESC) || !client_pool_get(sp, r->pool.id))
		return -EBADMSG;
	pool = malloc(sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->sp = sp;
	pool->id = r->pool.id;
	*out = pool;
	return 0;
}

SHMPOOL_API int shmpool_pool_create(shmpool_t *sp, const struct shmpool_pool_config *cfg,
				    shmpool_pool_t **out)
{
	struct proto_pool_create m;
	struct client_pending p;
	int rc;

	if (!sp || !cfg || !out || cfg->block_size == 0 || cfg->num_blocks == 0 ||
	    (cfg->align & (cfg->align - 1)) != 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	if (name_set(m.name, cfg->name, 1) < 0 ||
	    (cfg->region && name_set(m.region, cfg->region, 1) < 0))
		return -EINVAL;
	m.hdr.type = PROTO_POOL_CREATE;
	m.block_size = cfg->block_size;
	m.num_blocks = cfg->num_blocks;
	m.align = cfg->align;
	m.attr = cfg->attr;
	m.flags = cfg->region ? PROTO_F_HAS_REGION : 0;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0)
		rc = pool_handle(sp, &p.reply.pool, out);
	client_conn_leave(sp);
	return rc;
}

/* A request that names a pool: POOL_OPEN, which makes a handle, or
 * POOL_DESTROY. */
static int pool_name_call(shmpool_t *sp, uint16_t type, const char *name, shmpool_pool_t **out)
{
	struct proto_name_req m;
	struct client_pending p;
	int rc;

	memset(&m, 0, sizeof(m));
	if (name_set(m.name, name, 1) < 0)
		return -EINVAL;
	m.hdr.type = type;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0 && out)
		rc = pool_handle(sp, &p.reply.pool, out);
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_pool_open(shmpool_t *sp, const char *name, shmpool_pool_t **out)
{
	if (!sp || !out)
		return -EINVAL;
	return pool_name_call(sp, PROTO_POOL_OPEN, name, out);
}

SHMPOOL_API void shmpool_pool_close(shmpool_pool_t *pool)
{
	free(pool);
}

SHMPOOL_API int shmpool_pool_destroy(shmpool_t *sp, const char *name)
{
	if (!sp)
		return -EINVAL;
	return pool_name_call(sp, PROTO_POOL_DESTROY, name, NULL);
}

/* Put blocks taken from the pool's cache back, or give them back to the
 * daemon when the cache will not have them. */
static void stock_return(shmpool_t *sp, struct client_pool *cp, const uint32_t *idx, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (!client_stock_put(sp, cp, idx[k]))
			block_give_back(sp, cp->id, idx[k]);
}

/* count blocks from the pool's cache, all or none: 0, or -EAGAIN when it
 * has fewer (the daemon may have just taken them back). */
static int stock_alloc(shmpool_t *sp, struct client_pool *cp, size_t count, void **out)
{
	uint32_t idx[PROTO_STOCK_SLOTS];
	size_t n = 0;

	if (count > cp->ncached)
		return -EAGAIN;
	while (n < count) {
		uint32_t i = client_stock_take(sp, cp);

		if (i == PROTO_STOCK_EMPTY)
			break;
		idx[n] = i;
		out[n++] = client_block_ptr(sp, cp, i);
		if (!out[n - 1])
			break;
	}
	if (n < count || !out[n - 1]) {
		stock_return(sp, cp, idx, n);
		return -EAGAIN;
	}
	/* Nothing here holds a cached block, so its hold is a bit to set:
	 * it cannot fail. */
	for (n = 0; n < count; n++)
		client_hold_grant(sp, cp, idx[n]);
	return 0;
}

/* The blocks a cache refill brought beyond the caller's go into the cache,
 * or back to the daemon when it is full or wants them. */
static void stock_fill(shmpool_t *sp, uint32_t pool_id, const uint32_t *extra, uint32_t n)
{
	struct client_pool *cp = client_pool_get(sp, pool_id);

	for (uint32_t k = 0; k < n; k++)
		if (!cp || !client_stock_put(sp, cp, extra[k]))
			block_give_back(sp, pool_id, extra[k]);
}

/* Block allocation of count blocks, or of one run of count when contig.
 * Blocks that need not be adjacent come from the pool's cache when it has
 * enough; a request made because it has not asks for enough to fill it
 * again. */
static int blocks_request(shmpool_pool_t *pool, size_t count, void **out, int timeout_ms,
			  int contig)
{
	uint32_t extra[PROTO_STOCK_SLOTS];
	struct proto_block_alloc m;
	struct client_pending p;
	struct client_pool *cp;
	shmpool_t *sp;
	int rc;

	if (!pool || !out || timeout_ms < SHMPOOL_FOREVER)
		return -EINVAL;
	if (count == 0)
		return 0;
	sp = pool->sp;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	cp = client_pool_get(sp, pool->id);
	if (!cp) {
		rc = -ENOENT;
		goto out;
	}
	if (count > cp->num_blocks) {
		rc = -ENOMEM;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_BLOCK_ALLOC;
	m.pool_id = pool->id;
	m.count = (uint32_t)count;
	m.timeout_ms = timeout_ms;
	m.flags = contig ? PROTO_F_CONTIG : PROTO_F_SEQ;
	client_pending_init(&p);
	if (!contig && cp->lane != PROTO_STOCK_NONE) {
		rc = stock_alloc(sp, cp, count, out);
		if (rc == 0)
			goto out;
		m.stock = cp->nslots;
		p.stock = cp->nslots;
		p.extra = extra;
	}
	p.blocks = out;
	p.count = (uint32_t)count;
	p.contig = contig;
	p.pool_id = pool->id;
	rc = client_call(sp, &p, &m, sizeof(m));
	stock_fill(sp, pool->id, extra, p.nextra);
out:
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_block_alloc(shmpool_pool_t *pool, void **block, int timeout_ms)
{
	return blocks_request(pool, 1, block, timeout_ms, 0);
}

SHMPOOL_API int shmpool_blocks_alloc(shmpool_pool_t *pool, size_t count, void **blocks,
				     int timeout_ms)
{
	return blocks_request(pool, count, blocks, timeout_ms, 0);
}

SHMPOOL_API int shmpool_blocks_alloc_contiguous(shmpool_pool_t *pool, size_t count, void **first,
						int timeout_ms)
{
	return blocks_request(pool, count, first, timeout_ms, 1);
}

/*
 * Enter the connection of pool for an operation on the run of count blocks
 * that starts at first, and check the run: -EINVAL unless first is a block
 * of the pool and the run stays inside it.  On success the caller is inside
 * the connection and leaves it with client_conn_leave.
 */
static int run_begin(shmpool_pool_t *pool, const void *first, size_t count,
		     struct client_pool **cp, uint32_t *index)
{
	shmpool_t *sp = pool->sp;
	int rc = client_conn_enter(sp);

	if (rc < 0)
		return rc;
	*cp = client_pool_get(sp, pool->id);
	rc = *cp ? client_pool_index(sp, *cp, first, index) : -ENOENT;
	if (rc == 0 && count > (*cp)->num_blocks - *index)
		rc = -EINVAL;
	if (rc < 0)
		client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_blocks_get(shmpool_pool_t *pool, void *first, size_t count)
{
	struct proto_blocks_get m;
	struct client_pending p;
	struct client_pool *cp;
	shmpool_t *sp;
	uint32_t index;
	int rc;

	if (!pool)
		return -EINVAL;
	if (count == 0)
		return 0;
	sp = pool->sp;
	rc = run_begin(pool, first, count, &cp, &index);
	if (rc < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_BLOCKS_GET;
	m.pool_id = pool->id;
	m.first_index = index;
	m.count = (uint32_t)count;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	cp = client_pool_get(sp, pool->id);
	for (size_t k = 0; rc == 0 && cp && k < count && index + k < cp->num_blocks; k++)
		client_hold_add(sp, cp, index + (uint32_t)k);
	client_conn_leave(sp);
	return rc;
}

/*
 * Free count blocks given by pointer: blocks of pool when pool is set,
 * otherwise of whatever pools they belong to (group frees).  Every pointer
 * is resolved before anything is freed, so a bad one frees nothing.
 */
static int free_pointers(shmpool_t *sp, shmpool_pool_t *pool, size_t count, void *const *blocks)
{
	struct free_entry stack[FREE_STACK_ENTRIES], *e = stack;
	struct client_pool *cp = NULL;
	struct client_loc loc;
	int rc;

	if (count == 0)
		return 0;
	if (!blocks)
		return -EINVAL;
	if (count > FREE_STACK_ENTRIES) {
		e = malloc(count * sizeof(*e));
		if (!e)
			return -ENOMEM;
	}
	rc = client_conn_enter(sp);
	if (rc < 0)
		goto out;
	if (pool && !(cp = client_pool_get(sp, pool->id)))
		rc = -ENOENT;
	for (size_t k = 0; rc == 0 && k < count; k++) {
		if (pool) {
			e[k].pool_id = pool->id;
			rc = client_pool_index(sp, cp, blocks[k], &e[k].index);
			continue;
		}
		rc = client_locate(sp, blocks[k], &loc);
		if (rc == 0 && !loc.pool)
			rc = -EINVAL;
		if (rc == 0) {
			e[k].pool_id = loc.pool->id;
			e[k].index = loc.index;
		}
	}
	if (rc == 0)
		rc = free_entries(sp, e, count);
	client_conn_leave(sp);
out:
	if (e != stack)
		free(e);
	return rc;
}

SHMPOOL_API int shmpool_blocks_free(shmpool_pool_t *pool, size_t count, void *const *blocks)
{
	if (!pool)
		return -EINVAL;
	return free_pointers(pool->sp, pool, count, blocks);
}

SHMPOOL_API int shmpool_block_free(shmpool_pool_t *pool, void *block)
{
	return shmpool_blocks_free(pool, 1, &block);
}

/*
 * A contiguous run cannot list a block twice, so it is checked without
 * taking holds: held throughout, it is freed without waiting; otherwise the
 * whole run is sent synchronously and the daemon decides.
 */
SHMPOOL_API int shmpool_blocks_free_contiguous(shmpool_pool_t *pool, void *first, size_t count)
{
	union {
		struct proto_block_free f;
		unsigned char bytes[sizeof(struct proto_block_free) + sizeof(uint32_t)];
	} m;
	struct client_pending p;
	struct client_pool *cp;
	shmpool_t *sp;
	uint32_t index;
	int held = 1, rc;

	if (!pool)
		return -EINVAL;
	if (count == 0)
		return 0;
	sp = pool->sp;
	rc = run_begin(pool, first, count, &cp, &index);
	if (rc < 0)
		return rc;
	for (uint32_t k = 0; k < count && held; k++)
		held = client_hold_count(sp, cp, index + k) > 0;
	memset(&m, 0, sizeof(m));
	m.f.hdr.type = PROTO_BLOCK_FREE;
	m.f.pool_id = pool->id;
	m.f.count = (uint32_t)count;
	m.f.flags = PROTO_F_CONTIG;
	m.f.nindices = 1;
	m.f.index[0] = index;
	if (held) {
		for (uint32_t k = 0; k < count; k++)
			client_hold_commit(sp, cp, index + k, client_hold_take(sp, cp, index + k));
		rc = client_send_async(sp, &m, sizeof(m));
		goto out;
	}
	m.f.flags |= PROTO_F_SYNC;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	cp = client_pool_get(sp, pool->id);
	for (uint32_t k = 0; rc == 0 && cp && k < count && index + k < cp->num_blocks; k++)
		client_hold_commit(sp, cp, index + k, client_hold_take(sp, cp, index + k));
out:
	client_conn_leave(sp);
	return rc;
}

/* A request that names only the pool (POOL_STAT, POOL_RESET_MAX); the reply
 * is left in p. */
static int pool_req_call(shmpool_pool_t *pool, uint16_t type, struct client_pending *p)
{
	struct proto_pool_req m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.pool_id = pool->id;
	rc = client_conn_enter(pool->sp);
	if (rc < 0)
		return rc;
	client_pending_init(p);
	rc = client_call(pool->sp, p, &m, sizeof(m));
	client_conn_leave(pool->sp);
	return rc;
}

SHMPOOL_API int shmpool_pool_stat(shmpool_pool_t *pool, struct shmpool_pool_stat *st)
{
	struct client_pending p;
	int rc;

	if (!pool || !st)
		return -EINVAL;
	rc = pool_req_call(pool, PROTO_POOL_STAT, &p);
	if (rc == 0) {
		st->block_size = p.reply.stat.block_size;
		st->num_blocks = p.reply.stat.num_blocks;
		st->num_used = p.reply.stat.num_used;
		st->num_free = p.reply.stat.num_free;
		st->max_used = p.reply.stat.max_used;
		st->num_waiters = p.reply.stat.num_waiters;
		st->attr = p.reply.stat.attr;
	}
	return rc;
}

SHMPOOL_API int shmpool_pool_reset_max(shmpool_pool_t *pool)
{
	struct client_pending p;

	if (!pool)
		return -EINVAL;
	return pool_req_call(pool, PROTO_POOL_RESET_MAX, &p);
}

SHMPOOL_API int shmpool_pool_info_next(shmpool_t *sp, size_t *cursor,
				       struct shmpool_pool_info *info)
{
	struct proto_cursor_req m;
	struct client_pending p;
	const struct proto_pool_info_reply *r = &p.reply.info;
	int rc;

	if (!sp || !cursor || !info)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_POOL_INFO;
	m.cursor = *cursor;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 1 && (proto_name(info->name, r->name, 1) < 0 ||
			proto_name(info->region, r->region, 0) < 0))
		rc = -EBADMSG;
	if (rc == 1) {
		info->block_size = r->block_size;
		info->num_blocks = r->num_blocks;
		info->num_free = r->num_free;
		info->min_free = r->min_free;
		info->attr = r->attr;
	}
	if (rc == 0 || rc == 1)
		*cursor = r->next_cursor;
	else if (rc > 1)
		rc = -EBADMSG;
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_group_alloc(shmpool_t *sp, const char *group, uint32_t selector,
				    size_t count, void **blocks, size_t *block_size, int timeout_ms)
{
	struct proto_group_alloc m;
	struct client_pending p;
	int rc;

	if (!sp || !block_size || timeout_ms < SHMPOOL_FOREVER)
		return -EINVAL;
	if (count == 0) {
		*block_size = 0;
		return 0;
	}
	if (!blocks)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	if (name_set(m.group, group, 1) < 0)
		return -EINVAL;
	if (count > UINT32_MAX)
		return -ENOMEM;
	m.hdr.type = PROTO_GROUP_ALLOC;
	m.selector = selector;
	m.count = (uint32_t)count;
	m.timeout_ms = timeout_ms;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	p.blocks = blocks;
	p.count = (uint32_t)count;
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0) {
		const struct client_pool *cp = client_pool_get(sp, p.pool_id);

		if (cp)
			*block_size = cp->block_size;
		else
			rc = -EBADMSG;
	}
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_group_free(shmpool_t *sp, size_t count, void *const *blocks)
{
	if (!sp)
		return -EINVAL;
	return free_pointers(sp, NULL, count, blocks);
}

/* Heap allocation; with zero set, the memory is cleared (outside the lock,
 * it may be large). */
static int heap_alloc(shmpool_t *sp, const char *heap, uint32_t attr, size_t align, size_t size,
		      void **out, int zero)
{
	struct proto_heap_alloc m;
	struct client_pending p;
	void *ptr = NULL;
	int rc;

	if (!sp || !out || size == 0 || (align & (align - 1)) != 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	if (heap && name_set(m.heap, heap, 0) < 0)
		return -EINVAL;
	m.hdr.type = PROTO_HEAP_ALLOC;
	m.attr = attr;
	m.align = align;
	m.size = size;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0)
		rc = heap_record(sp, &p.reply.heap, &ptr);
	if (rc == 0 && zero && sp->regions[p.reply.heap.region_id].read_only) {
		struct client_loc loc = { .region_id = p.reply.heap.region_id,
					  .offset = p.reply.heap.offset };

		heap_free(sp, ptr, &loc);
		rc = -EACCES;
	}
	client_conn_leave(sp);
	if (rc < 0)
		return rc;
	if (zero)
		memset(ptr, 0, size);
	*out = ptr;
	return 0;
}

SHMPOOL_API int shmpool_alloc_ex(shmpool_t *sp, const char *heap, uint32_t attr, size_t align,
				 size_t size, void **out)
{
	return heap_alloc(sp, heap, attr, align, size, out, 0);
}

SHMPOOL_API int shmpool_alloc(shmpool_t *sp, uint32_t attr, size_t size, void **out)
{
	return heap_alloc(sp, NULL, attr, 0, size, out, 0);
}

SHMPOOL_API int shmpool_aligned_alloc(shmpool_t *sp, uint32_t attr, size_t align, size_t size,
				      void **out)
{
	if (align == 0)
		return -EINVAL;
	return heap_alloc(sp, NULL, attr, align, size, out, 0);
}

SHMPOOL_API int shmpool_calloc(shmpool_t *sp, uint32_t attr, size_t nmemb, size_t size,
			       void **out)
{
	if (!sp || !out)
		return -EINVAL;
	if (size != 0 && nmemb > SIZE_MAX / size)
		return -ENOMEM;
	return heap_alloc(sp, NULL, attr, 0, nmemb * size, out, 1);
}

SHMPOOL_API int shmpool_realloc(shmpool_t *sp, void **ptr, size_t size)
{
	struct proto_heap_realloc m;
	struct client_pending p;
	const struct proto_heap_reply *r = &p.reply.heap;
	struct client_hentry *e;
	struct client_loc loc;
	char *base;
	void *moved;
	int rc;

	if (!sp || !ptr)
		return -EINVAL;
	if (size == 0) {
		rc = shmpool_free(sp, *ptr);
		if (rc == 0)
			*ptr = NULL;
		return rc;
	}
	if (!*ptr)
		return shmpool_alloc(sp, SHMPOOL_ATTR_CACHEABLE, size, ptr);
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	rc = client_locate(sp, *ptr, &loc);
	if (rc == 0 && loc.pool)
		rc = -EINVAL;
	if (rc < 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_HEAP_REALLOC;
	m.region_id = loc.region_id;
	m.offset = loc.offset;
	m.size = size;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc < 0)
		goto out;
	/* The daemon has moved or resized it already; from here on the
	 * old pointer is gone whatever happens to the record. */
	base = client_region_base(sp, r->region_id);
	if (!base || r->offset >= sp->regions[r->region_id].size) {
		rc = -EBADMSG;
		goto out;
	}
	moved = base + r->offset;
	e = client_hmap_find(&sp->hmap, CLIENT_HOLD_HEAP, (uintptr_t)*ptr);
	if (!e && client_hmap_insert(&sp->hmap, CLIENT_HOLD_HEAP, (uintptr_t)moved, &e) == 0)
		e->holds = 1;
	else if (e && moved != *ptr)
		client_hmap_rekey(&sp->hmap, e, (uintptr_t)moved);
	if (e) {
		e->region_id = r->region_id;
		e->offset = r->offset;
		e->length = r->length;
	}
	*ptr = moved;
out:
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_free(shmpool_t *sp, void *ptr)
{
	struct client_loc loc;
	struct free_entry e;
	int rc;

	if (!ptr)
		return 0;
	if (!sp)
		return -EINVAL;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	rc = client_locate(sp, ptr, &loc);
	if (rc == 0 && loc.pool) {
		e.pool_id = loc.pool->id;
		e.index = loc.index;
		rc = free_entries(sp, &e, 1);
	} else if (rc == 0) {
		rc = heap_free(sp, ptr, &loc);
	}
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_usable_size(shmpool_t *sp, const void *ptr, size_t *size)
{
	struct client_hentry *e;
	struct client_loc loc;
	int rc;

	if (!sp || !ptr || !size)
		return -EINVAL;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	e = client_hmap_find(&sp->hmap, CLIENT_HOLD_HEAP, (uintptr_t)ptr);
	if (e) {
		*size = e->length;
	} else {
		rc = client_locate(sp, ptr, &loc);
		if (rc == 0 && loc.pool && client_hold_count(sp, loc.pool, loc.index) > 0)
			*size = loc.pool->block_size;
		else
			rc = -EINVAL;
	}
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_ref(shmpool_t *sp, const void *ptr, shmpool_ref_t *ref)
{
	struct proto_ref_req m;
	struct client_pending p;
	struct client_loc loc;
	int rc;

	if (!sp || !ptr || !ref)
		return -EINVAL;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	rc = client_locate(sp, ptr, &loc);
	if (rc < 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_REF;
	m.region_id = loc.region_id;
	m.offset = loc.offset;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0)
		memcpy(ref->bytes, p.reply.ref.ref, sizeof(ref->bytes));
out:
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API int shmpool_attach(shmpool_t *sp, const shmpool_ref_t *ref, void **ptr)
{
	struct proto_attach m;
	struct client_pending p;
	int rc;

	if (!sp || !ref || !ptr)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_ATTACH;
	memcpy(m.ref, ref->bytes, sizeof(m.ref));
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0 && p.reply.heap.pool_id != UINT32_MAX)
		rc = block_record(sp, &p.reply.heap, ptr);
	else if (rc == 0)
		rc = heap_record(sp, &p.reply.heap, ptr);
	client_conn_leave(sp);
	return rc;
}

SHMPOOL_API const char *shmpool_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case ENOMEM:
		return "Out of memory: no free block, or no room in the heap or region";
	case EAGAIN:
		return "Timed out waiting for blocks";
	case EINVAL:
		return "Invalid argument, or a pointer that is not the start of a block or allocation";
	case EFAULT:
		return "Memory not allocated (double free)";
	case EPERM:
		return "Operation not permitted: memory held by another connection, or privilege required";
	case EEXIST:
		return "A pool with that name already exists";
	case ENOENT:
		return "No such pool, group, heap, region or daemon socket";
	case EBUSY:
		return "Busy: blocks still held, memory attached elsewhere, or too many waits";
	case ECONNRESET:
		return "The connection to shmpoold was lost";
	case ENOTCONN:
		return "Not connected: shmpoold went away, or the connection was inherited across fork";
	case ECANCELED:
		return "Canceled by shmpool_disconnect";
	case ECONNREFUSED:
		return "Connection refused: shmpoold is not listening on the socket";
	case ESTALE:
		return "Stale reference: the memory has been freed";
	case EPROTONOSUPPORT:
		return "shmpoold speaks another protocol version";
	case EPROTO:
		return "Protocol error";
	case EBADMSG:
		return "Malformed message";
	case ENAMETOOLONG:
		return "Socket path too long";
	case EMLINK:
		return "Too many holders of that memory";
	case EACCES:
		return "Permission denied";
	case EOPNOTSUPP:
		return "Operation not supported";
	case EMSGSIZE:
		return "Message too long";
	case ENOBUFS:
		return "No buffer space available";
	}
#if defined(_GNU_SOURCE) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	{
		const char *s = strerrordesc_np(err);

		if (s)
			return s;
	}
#endif
	return "Unknown error";
}
