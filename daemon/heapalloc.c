/*
 * heapalloc: multi-heap allocations as the daemon tracks them — who holds
 * each one, and its generation for stale-ref detection.  Records are hashed
 * by (region, offset) and recycled through a free list, so steady-state
 * alloc and free do no malloc.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_key(uint32_t region_id, uint64_t offset, size_t size)
{
	uint64_t k = (offset >> 4) ^ ((uint64_t)region_id << 48);

	k *= 0x9e3779b97f4a7c15ull;
	return (size_t)(k >> 32) & (size - 1);
}

static int htab_grow(struct server *srv)
{
	size_t n = srv->htab_size ? srv->htab_size * 2 : 1024;
	struct halloc **t = calloc(n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < srv->htab_size; i++) {
		struct halloc *h = srv->htab[i];

		while (h) {
			struct halloc *next = h->hnext;
			size_t b = hash_key(h->region_id, h->offset, n);

			h->hnext = t[b];
			t[b] = h;
			h = next;
		}
	}
	free(srv->htab);
	srv->htab = t;
	srv->htab_size = n;
	return 0;
}

static struct halloc *halloc_find(struct server *srv, uint32_t region_id, uint64_t offset)
{
	if (!srv->htab_size)
		return NULL;
	for (struct halloc *h = srv->htab[hash_key(region_id, offset, srv->htab_size)]; h;
	     h = h->hnext)
		if (h->region_id == region_id && h->offset == offset)
			return h;
	return NULL;
}

static void halloc_unhash(struct server *srv, struct halloc *h)
{
	struct halloc **pp = &srv->htab[hash_key(h->region_id, h->offset, srv->htab_size)];

	while (*pp != h)
		pp = &(*pp)->hnext;
	*pp = h->hnext;
	srv->halloc_count--;
}

static int halloc_insert(struct server *srv, struct halloc *h)
{
	size_t b;

	if (srv->halloc_count + 1 > srv->htab_size && htab_grow(srv) < 0)
		return -ENOMEM;
	b = hash_key(h->region_id, h->offset, srv->htab_size);
	h->hnext = srv->htab[b];
	srv->htab[b] = h;
	srv->halloc_count++;
	return 0;
}

static struct halloc *halloc_get(struct server *srv)
{
	struct halloc *h = srv->halloc_free;

	if (h) {
		srv->halloc_free = h->hnext;
		memset(h, 0, sizeof(*h));
		return h;
	}
	return calloc(1, sizeof(*h));
}

static void halloc_put(struct server *srv, struct halloc *h)
{
	h->hnext = srv->halloc_free;
	srv->halloc_free = h;
}

static void owner_link(struct conn *c, struct halloc *h)
{
	h->owner = c->slot;
	h->cprev = NULL;
	h->cnext = c->heap_allocs;
	if (c->heap_allocs)
		c->heap_allocs->cprev = h;
	c->heap_allocs = h;
}

static void owner_unlink(struct conn *c, struct halloc *h)
{
	if (h->cprev)
		h->cprev->cnext = h->cnext;
	else
		c->heap_allocs = h->cnext;
	if (h->cnext)
		h->cnext->cprev = h->cprev;
	h->owner = CONN_NONE;
}

/* The heap of a region: every region has one, whatever instance it is in. */
static struct heap *region_heap(struct server *srv, uint32_t region_id)
{
	return server_region_heap(srv, region_id);
}

static void send_heap_reply(struct conn *c, uint16_t type, uint32_t id, const struct halloc *h)
{
	struct proto_heap_reply r;
	int fd;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, type, id, 0);
	r.region_id = h->region_id;
	r.pool_id = UINT32_MAX;
	r.offset = h->offset;
	r.length = h->size;
	fd = conn_region_desc(c, h->region_id, &r.r, &r.region);
	conn_send(c, &r, sizeof(r), fd);
}

struct heap_filter {
	const struct conn *c;
	int broken;                  /* a region was passed over as broken */
};

/* Regions a client may take heap memory from: writable for it, not broken. */
static int heap_region_allowed(void *ctx, uint32_t region_id)
{
	struct heap_filter *f = ctx;

	if (access_region(f->c->srv, f->c, region_id) != CONFIG_ACCESS_RW)
		return 0;
	if (scrub_broken(f->c->srv, region_id)) {
		f->broken = 1;
		return 0;
	}
	return 1;
}

void heapalloc_handle_alloc(struct conn *c, const struct proto_heap_alloc *m)
{
	struct server *srv = c->srv;
	char name[PROTO_NAME_MAX];
	const char *instance;
	struct multiheap *mh;
	struct halloc *h;
	struct heap_filter filter = { c, 0 };
	uint32_t region_id;
	uint64_t off, usable, *held;
	int rc;

	if (proto_name(name, m->heap, 0) < 0 || m->size == 0 ||
	    (m->align & (m->align - 1)) != 0 || m->attr > MULTIHEAP_ATTR_MAX) {
		rc = -EINVAL;
		goto fail;
	}
	mh = layout_heap_find(srv->layout, name[0] ? name : "default");
	if (!mh) {
		rc = -ENOENT;
		goto fail;
	}
	instance = multiheap_name(mh);
	if (access_heap(srv, c, instance) != CONFIG_ACCESS_RW) {
		access_refused(c, REFUSE_ACCESS, "may not allocate from heap '%s'", instance);
		rc = -EACCES;
		goto fail;
	}
	rc = access_quota_heap(c, instance, (m->size + HEAP_MIN_ALIGN - 1) & ~(uint64_t)(HEAP_MIN_ALIGN - 1));
	if (rc < 0)
		goto fail;
	held = access_heap_bytes(c, instance);
	h = halloc_get(srv);
	if (!h || !held) {
		if (h)
			halloc_put(srv, h);
		rc = -ENOMEM;
		goto fail;
	}
	rc = multiheap_alloc_filter(mh, m->attr, m->align, m->size, heap_region_allowed, &filter,
				    &region_id, &off);
	/* Frees parked in free rings first (see ring.c). */
	if (rc == -ENOMEM && ring_pull(srv, c, NULL) > 0)
		rc = multiheap_alloc_filter(mh, m->attr, m->align, m->size, heap_region_allowed,
					    &filter, &region_id, &off);
	/* Regions passed over only because they broke: an I/O error, not a
	 * refusal. */
	if (rc == -EACCES && filter.broken)
		rc = -EIO;
	if (rc == 0) {
		heap_usable_size(region_heap(srv, region_id), off, &usable);
		rc = scrub_heap_grant(srv, region_id, off, usable, c->uid);
		if (rc < 0)
			heap_free(region_heap(srv, region_id), off);
	}
	if (rc < 0) {
		if (rc == -EACCES)
			access_refused(c, REFUSE_ACCESS, "may not use the regions of heap '%s'",
				       instance);
		halloc_put(srv, h);
		goto fail;
	}
	h->region_id = region_id;
	h->offset = off;
	h->size = usable;
	h->gen = (uint32_t)++srv->heap_gen;
	h->holders = 1;
	/* Instance names are shorter than PROTO_NAME_MAX (the config checks
	 * it); a plain copy keeps snprintf off the allocation path. */
	memcpy(h->heap, instance, strlen(instance) + 1);
	if (halloc_insert(srv, h) < 0) {
		heap_free(region_heap(srv, region_id), off);
		halloc_put(srv, h);
		rc = -ENOMEM;
		goto fail;
	}
	owner_link(c, h);
	c->bytes_held += usable;
	*held += usable;
	srv->stats.allocs++;
	send_heap_reply(c, PROTO_HEAP_ALLOC, m->hdr.id, h);
	return;
fail:
	srv->stats.failures++;
	conn_send_status(c, PROTO_HEAP_ALLOC | PROTO_REPLY, m->hdr.id, rc);
}

/* Classify an offset that has no allocation record: the error a free of it
 * gets.  Only the heap core knows whether it is a freed block's start. */
static int heapalloc_unknown(struct server *srv, uint32_t region_id, uint64_t offset)
{
	struct heap *hp = region_heap(srv, region_id);
	uint64_t size;

	if (!hp)
		return -EINVAL;
	if (heap_usable_size(hp, offset, &size) == 0)
		return -EINVAL;  /* allocated, but a pool's memory, not a heap allocation */
	return heap_free(hp, offset) == -EFAULT ? -EFAULT : -EINVAL;
}

/* 1 if c holds h as primary, 2 through an attach (prev set), 0 not at all. */
static int held_by(const struct conn *c, const struct halloc *h, struct xhold **prev)
{
	struct xhold *p = NULL;

	if (h->owner == c->slot)
		return 1;
	for (struct xhold *x = c->xholds; x; p = x, x = x->next) {
		if (x->region_id == h->region_id && x->offset == h->offset) {
			*prev = p;
			return 2;
		}
	}
	return 0;
}

static void heapalloc_drop(struct server *srv, struct conn *c, struct halloc *h,
			   struct xhold *xprev, int how)
{
	if (how == 1) {
		uint64_t *held = access_heap_bytes(c, h->heap);

		owner_unlink(c, h);
		if (held)
			*held -= h->size;
	} else {
		struct xhold *x = xprev ? xprev->next : c->xholds;

		if (xprev)
			xprev->next = x->next;
		else
			c->xholds = x->next;
		free(x);
	}
	c->bytes_held -= h->size;
	if (--h->holders == 0) {
		halloc_unhash(srv, h);
		scrub_heap_free(srv, h->region_id, h->offset, h->size);
		heap_free(region_heap(srv, h->region_id), h->offset);
		srv->stats.frees++;
		halloc_put(srv, h);
	}
}

static int heapalloc_free(struct server *srv, struct conn *c, uint32_t region_id, uint64_t offset)
{
	struct halloc *h = halloc_find(srv, region_id, offset);
	struct xhold *xprev = NULL;
	int how;

	if (!h)
		return heapalloc_unknown(srv, region_id, offset);
	how = held_by(c, h, &xprev);
	if (!how)
		return -EPERM;
	heapalloc_drop(srv, c, h, xprev, how);
	return 0;
}

void heapalloc_handle_free(struct conn *c, const struct proto_heap_free *m)
{
	int rc = -EINVAL;

	if (!(m->flags & ~PROTO_F_SYNC))
		rc = heapalloc_free(c->srv, c, m->region_id, m->offset);
	if (m->flags & PROTO_F_SYNC)
		conn_send_status(c, PROTO_HEAP_FREE | PROTO_REPLY, m->hdr.id, rc);
	else if (rc < 0)
		conn_notify_error(c, m->hdr.id, rc, m->region_id, m->offset);
}

struct realloc_ctx {
	struct server *srv;
	uint32_t region_id;
	uid_t uid;
};

/*
 * heap_realloc's copy: the new block is scrubbed for its new owner first
 * (all of it, usable tail included), then the contents move, under the
 * SIGBUS guard since this is the daemon writing into shared memory.
 */
static int realloc_copy(void *ctx, uint64_t dst, uint64_t src, uint64_t len)
{
	struct realloc_ctx *r = ctx;
	const struct region *reg = server_region(r->srv, r->region_id);
	uint64_t usable = len;
	int rc;

	heap_usable_size(region_heap(r->srv, r->region_id), dst, &usable);
	rc = scrub_heap_grant(r->srv, r->region_id, dst, usable, r->uid);
	if (rc < 0)
		return rc;
	return scrub_guarded(r->srv, r->region_id, dst, (const char *)reg->base + src, len);
}

void heapalloc_handle_realloc(struct conn *c, const struct proto_heap_realloc *m)
{
	struct server *srv = c->srv;
	struct halloc *h = halloc_find(srv, m->region_id, m->offset);
	struct xhold *xprev = NULL;
	struct realloc_ctx ctx = { srv, m->region_id, c->uid };
	uint64_t new_off, usable, *held;
	int rc;

	if (!h) {
		rc = heapalloc_unknown(srv, m->region_id, m->offset);
		goto fail;
	}
	if (held_by(c, h, &xprev) != 1) {
		rc = -EPERM;
		goto fail;
	}
	if (m->size == 0) {
		rc = -EINVAL;
		goto fail;
	}
	/* Moving memory that another process has attached would pull it out
	 * from under that process; one that has freed it may have parked the
	 * free (c's own hold keeps h alive meanwhile). */
	if (h->holders > 1)
		ring_drain_all(srv, c);
	if (h->holders > 1) {
		rc = -EBUSY;
		goto fail;
	}
	if (m->size > h->size) {
		rc = access_quota_heap(c, h->heap, m->size - h->size);
		if (rc < 0)
			goto fail;
	}
	held = access_heap_bytes(c, h->heap);
	if (!held) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = heap_realloc(region_heap(srv, h->region_id), h->offset, m->size, realloc_copy, &ctx,
			  &new_off);
	if (rc == -ENOMEM && ring_pull(srv, c, NULL) > 0)
		rc = heap_realloc(region_heap(srv, h->region_id), h->offset, m->size, realloc_copy,
				  &ctx, &new_off);
	if (rc < 0)
		goto fail;
	heap_usable_size(region_heap(srv, h->region_id), new_off, &usable);
	if (new_off != h->offset) {
		halloc_unhash(srv, h);
		h->offset = new_off;
		h->gen = (uint32_t)++srv->heap_gen;
		halloc_insert(srv, h);  /* cannot fail: a slot was just freed */
	} else if (usable > h->size) {
		/* Grown in place over memory someone else may have had. */
		scrub_heap_grant(srv, h->region_id, h->offset + h->size, usable - h->size, c->uid);
	}
	c->bytes_held += usable - h->size;
	*held += usable - h->size;
	h->size = usable;
	send_heap_reply(c, PROTO_HEAP_REALLOC, m->hdr.id, h);
	return;
fail:
	conn_send_status(c, PROTO_HEAP_REALLOC | PROTO_REPLY, m->hdr.id, rc);
}

int heapalloc_ref(struct server *srv, struct conn *c, uint32_t region_id, uint64_t offset,
		  struct proto_ref *ref)
{
	struct halloc *h = halloc_find(srv, region_id, offset);
	struct xhold *xprev = NULL;

	if (!h)
		return heapalloc_unknown(srv, region_id, offset);
	if (!held_by(c, h, &xprev))
		return -EPERM;
	ref->kind = PROTO_REF_HEAP;
	ref->generation = h->gen;
	return 0;
}

int heapalloc_attach(struct server *srv, struct conn *c, const struct proto_ref *ref,
		     struct halloc **out)
{
	struct halloc *h = halloc_find(srv, ref->region_id, ref->offset);
	struct xhold *x;
	int rc;

	if (!h || h->gen != ref->generation)
		return -ESTALE;
	if (access_heap(srv, c, h->heap) == CONFIG_ACCESS_NONE)
		return -EACCES;
	rc = access_quota_heap(c, h->heap, h->size);
	if (rc < 0)
		return rc;
	if (h->holders == UINT32_MAX)
		return -EMLINK;
	x = malloc(sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->region_id = h->region_id;
	x->offset = h->offset;
	x->mark = 0;
	x->next = c->xholds;
	c->xholds = x;
	h->holders++;
	c->bytes_held += h->size;
	*out = h;
	return 0;
}

void heapalloc_drop_xhold(struct server *srv, struct conn *c, struct xhold *x)
{
	struct halloc *h = halloc_find(srv, x->region_id, x->offset);
	struct xhold *prev = NULL;

	for (struct xhold *y = c->xholds; y != x; y = y->next)
		prev = y;
	if (h) {
		heapalloc_drop(srv, c, h, prev, 2);
		return;
	}
	if (prev)
		prev->next = x->next;
	else
		c->xholds = x->next;
	free(x);
}

void heapalloc_release_conn(struct server *srv, struct conn *c)
{
	while (c->heap_allocs) {
		uint64_t size = c->heap_allocs->size;

		heapalloc_drop(srv, c, c->heap_allocs, NULL, 1);
		srv->stats.reclaimed_bytes += size;
	}
}

void heapalloc_fini(struct server *srv)
{
	for (size_t i = 0; i < srv->htab_size; i++) {
		while (srv->htab[i]) {
			struct halloc *h = srv->htab[i];

			srv->htab[i] = h->hnext;
			free(h);
		}
	}
	free(srv->htab);
	srv->htab = NULL;
	srv->htab_size = 0;
	while (srv->halloc_free) {
		struct halloc *h = srv->halloc_free;

		srv->halloc_free = h->hnext;
		free(h);
	}
}
