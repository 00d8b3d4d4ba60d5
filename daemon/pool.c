/*
 * pool: the daemon-side state of a block pool — which connection holds
 * each block, the generation of each block for stale-ref detection, and the
 * queue of waiting requests.
 *
 * Service is strict: a request is met only when no waiter ahead of it (by
 * priority, then arrival) is still queued, and freed blocks go straight to
 * the head waiters, so no later request can overtake an earlier one.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"
#include "span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Reply frames are built here; one request is handled at a time. */
static union {
	struct proto_block_reply r;
	unsigned char bytes[sizeof(struct proto_block_reply) + PROTO_MAX_INDICES * sizeof(uint32_t)];
} txbuf;
static int txbuf_desc;  /* txbuf's descriptors hold a previous reply's */

int dpool_create(struct server *srv, struct layout_pool *lp, struct dpool **out)
{
	uint32_t n = lp->bp.num_blocks;
	struct dpool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->lp = lp;
	p->id = lp->id;
	p->owner = calloc(n, sizeof(*p->owner));
	p->gen = calloc(n, sizeof(*p->gen));
	p->holders = calloc(n, sizeof(*p->holders));
	p->last_uid = malloc(n * sizeof(*p->last_uid));
	if (!p->owner || !p->gen || !p->holders || !p->last_uid)
		goto fail;
	scrub_pool_init(srv, p);
	p->cfg = config_pool_find(&srv->cfg, lp->name);
	if (n > srv->scratch_cap) {
		uint32_t *x = realloc(srv->scratch_index, n * sizeof(*x));

		if (!x)
			goto fail;
		srv->scratch_index = x;
		srv->scratch_cap = n;
	}
	waitq_init(&p->waiters);
	*out = p;
	return 0;
fail:
	dpool_destroy(p);
	return -ENOMEM;
}

void dpool_destroy(struct dpool *p)
{
	free(p->owner);
	free(p->gen);
	free(p->holders);
	free(p->last_uid);
	free(p);
}

static int conn_count_blocks(struct conn *c, uint32_t pool_id, int32_t delta)
{
	if (pool_id >= c->npool_blocks) {
		uint32_t n = pool_id + 16;
		uint32_t *v = realloc(c->pool_blocks, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + c->npool_blocks, 0, (n - c->npool_blocks) * sizeof(*v));
		c->pool_blocks = v;
		c->npool_blocks = n;
	}
	c->pool_blocks[pool_id] += (uint32_t)delta;
	return 0;
}

/* Whether a request from a connection of priority prio would be ahead of
 * every queued waiter. */
static int dpool_at_head(const struct dpool *p, int prio)
{
	const struct waitq_entry *head = waitq_head(&p->waiters);

	return !head || head->prio > prio;
}

/* What dpool_take left in srv->scratch_index: a list of indices, a list
 * of exactly the blocks [*lo, *lo + count) in some order, the first two of
 * those in order up or down for a client that takes a run as its first
 * index (PROTO_F_SEQ), or a contiguous grant's first index. */
enum grant_shape { GRANT_LIST, GRANT_SPAN, GRANT_SEQ, GRANT_CONTIG };

/* Take count blocks for a request with these flags into srv->scratch_index:
 * their grant_shape, or -errno. */
static int dpool_take(struct server *srv, struct dpool *p, uint32_t count, uint32_t flags,
		      uint32_t *lo)
{
	struct blockpool *bp = &p->lp->bp;
	uint64_t first;
	int rc;

	if (!(flags & PROTO_F_CONTIG)) {
		rc = blockpool_take_n_index(bp, count, srv->scratch_index, lo);
		if (rc == 2 && (flags & PROTO_F_SEQ))
			return GRANT_SEQ;       /* the first two indices name it */
		if (rc == 2)
			blockpool_seq_fill(srv->scratch_index, count);
		return rc < 0 ? rc : rc ? GRANT_SPAN : GRANT_LIST;
	}
	rc = blockpool_alloc_contig(bp, count, &first);
	if (rc < 0)
		return rc;
	srv->scratch_index[0] = blockpool_index(bp, first);
	return GRANT_CONTIG;
}

/* Record blocks [lo, lo + n) as held by c alone, their records written
 * as spans.  Only a block last held by another uid needs the call. */
static void dpool_grant_span(struct server *srv, struct conn *c, struct dpool *p, uint32_t lo,
			     uint32_t n, int cross_uid)
{
	const uint32_t uid = (uint32_t)c->uid;

	span_fill(p->owner + lo, n, c->slot);
	span_increment(p->gen + lo, n);
	span_fill(p->holders + lo, n, 1);
	if (cross_uid && !span_all_equal(p->last_uid + lo, n, uid))
		for (uint32_t i = lo; i < lo + n; i++)
			if (p->last_uid[i] != uid)
				scrub_block_grant(srv, p, i, c->uid);
}

/*
 * Record blocks just taken in srv->scratch_index, of the given shape, as
 * held by c and send the reply, split into frames of at most
 * PROTO_MAX_INDICES indices.  A contiguous grant, and a run in order to a
 * client that asked for it so, is sent as its first index and count.
 */
static void dpool_grant(struct server *srv, struct conn *c, struct dpool *p, uint32_t req_id,
			uint32_t count, enum grant_shape shape, uint32_t lo, uint16_t reply_type)
{
	struct blockpool *bp = &p->lp->bp;
	struct proto_block_reply *r = &txbuf.r;
	const uint32_t *index = srv->scratch_index;
	uint32_t nidx = shape == GRANT_CONTIG || shape == GRANT_SEQ ? 1 : count;
	const int cross_uid = scrub_cross_uid(srv, p);
	int fd = -1;

	if (count && shape == GRANT_CONTIG) {
		dpool_grant_span(srv, c, p, index[0], count, cross_uid);
	} else if (shape == GRANT_SPAN || shape == GRANT_SEQ) {
		dpool_grant_span(srv, c, p, lo, count, cross_uid);
	} else if (shape == GRANT_LIST) {
		const uint32_t slot = c->slot, uid = (uint32_t)c->uid;
		uint32_t *owner = p->owner, *gen = p->gen, *holders = p->holders;
		const uint32_t *last_uid = p->last_uid;

		for (uint32_t k = 0; k < count; k++) {
			const uint32_t i = index[k];

			owner[i] = slot;
			gen[i]++;
			holders[i] = 1;
			if (cross_uid && last_uid[i] != uid)
				scrub_block_grant(srv, p, i, c->uid);
		}
	}
	conn_count_blocks(c, p->id, (int32_t)count);
	c->blocks_held += count;
	c->bytes_held += (uint64_t)count * bp->stride;
	srv->stats.allocs += count;

	/* The descriptors are zeroed only when the last reply built here
	 * carried them: nothing of one pool's reply leaks into another's. */
	memset(r, 0, offsetof(struct proto_block_reply, pool));
	if (txbuf_desc) {
		memset(&r->pool, 0, sizeof(r->pool) + sizeof(r->region));
		txbuf_desc = 0;
	}
	conn_reply_init(&r->r, reply_type, req_id, 0);
	if (shape == GRANT_SEQ)
		r->r.flags = PROTO_F_SEQ | (index[1] < index[0] ? PROTO_F_DESC : 0);
	r->pool_id = p->id;
	r->count = count;
	if (reply_type == PROTO_GROUP_ALLOC) {
		fd = conn_pool_desc(c, p, 0, &r->r, &r->pool, &r->region);
		txbuf_desc = 1;
	}
	for (uint32_t sent = 0; sent < nidx || (nidx == 0 && sent == 0);) {
		uint32_t n = nidx - sent < PROTO_MAX_INDICES ? nidx - sent : PROTO_MAX_INDICES;

		r->first = sent;
		r->nindices = n;
		memcpy(r->index, index + sent, n * sizeof(uint32_t));
		if (sent + n < nidx)
			r->r.flags |= PROTO_F_MORE;
		else
			r->r.flags &= ~PROTO_F_MORE;
		if (conn_send(c, r, sizeof(*r) + n * sizeof(uint32_t), fd) < 0)
			return;
		fd = -1;
		r->r.flags &= ~(PROTO_F_POOL_DESC | PROTO_F_REGION);
		sent += n;
		if (n == 0)
			break;
	}
}

static struct waiter *waiter_get(struct server *srv)
{
	struct waiter *w = srv->waiter_free;

	if (w) {
		srv->waiter_free = w->next_free;
		return w;
	}
	return calloc(1, sizeof(*w));
}

static void waiter_put(struct server *srv, struct waiter *w)
{
	w->next_free = srv->waiter_free;
	srv->waiter_free = w;
}

/* Unlink a waiter from its pool, its connection and the deadline heap. */
static void waiter_unlink(struct server *srv, struct waiter *w)
{
	struct conn *c = w->conn;

	waitq_remove(&w->pool->waiters, &w->qe);
	deadline_remove(&srv->deadlines, &w->dl);
	if (w->conn_prev)
		w->conn_prev->conn_next = w->conn_next;
	else
		c->waits = w->conn_next;
	if (w->conn_next)
		w->conn_next->conn_prev = w->conn_prev;
	c->nwaits--;
}

/* Checks every block request passes before it is served or queued: access,
 * a broken region, size and quota. */
static int dpool_admit(struct server *srv, struct conn *c, struct dpool *p, uint32_t count)
{
	if (access_pool(srv, c, p) != CONFIG_ACCESS_RW) {
		access_refused(c, REFUSE_ACCESS, "may not allocate from pool '%s'", p->lp->name);
		return -EACCES;
	}
	if (scrub_broken(srv, p->lp->region_id))
		return -EIO;
	if (count > p->lp->bp.num_blocks) {
		srv->stats.failures++;
		return -ENOMEM;
	}
	return access_quota_blocks(c, p, count);
}

int dpool_request(struct server *srv, struct conn *c, struct dpool *p, uint32_t req_id,
		  uint32_t count, uint32_t flags, int timeout_ms, uint16_t reply_type,
		  uint32_t stock)
{
	int contig = !!(flags & PROTO_F_CONTIG);
	struct waiter *w;
	int rc;

	if (count == 0) {
		srv->scratch_index[0] = 0;
		dpool_grant(srv, c, p, req_id, 0, contig ? GRANT_CONTIG : GRANT_LIST, 0, reply_type);
		return 0;
	}
	rc = dpool_admit(srv, c, p, count);
	if (rc < 0)
		return rc;
	do {
		if (dpool_at_head(p, c->priority)) {
			/* A client whose cache ran dry may get it refilled. */
			uint32_t extra = stock && !contig ? stock_extra(srv, c, p, count, stock) : 0;

			uint32_t lo = 0;

			rc = dpool_take(srv, p, count + extra, flags, &lo);
			if (rc >= 0) {
				dpool_grant(srv, c, p, req_id, count + extra, rc, lo, reply_type);
				return 0;
			}
		}
		/* Frees parked in free rings first; then, if it must
		 * wait, every free comes at once (see ring.c). */
	} while (ring_pull(srv, c, p) > 0);
	if (timeout_ms == 0) {
		srv->stats.failures++;
		return -ENOMEM;
	}
	if (c->nwaits >= srv->cfg.limits.max_waits_per_client) {
		access_refused(c, REFUSE_WAITS, "max_waits_per_client (%u) reached",
			       srv->cfg.limits.max_waits_per_client);
		return -EBUSY;
	}
	w = waiter_get(srv);
	if (!w)
		return -ENOMEM;
	w->conn = c;
	w->pool = p;
	w->req_id = req_id;
	w->count = count;
	w->flags = flags;
	w->reply_type = reply_type;
	w->dl.slot = DEADLINE_NONE;
	w->qe.queued = 0;
	waitq_push(&p->waiters, &w->qe, c->priority);
	if (timeout_ms > 0) {
		/* Rounded up, so a wait never ends before its full timeout. */
		uint64_t start_ms = (uv_hrtime() + 999999) / 1000000;

		if (deadline_push(&srv->deadlines, &w->dl, start_ms + (uint64_t)timeout_ms) < 0) {
			waitq_remove(&p->waiters, &w->qe);
			waiter_put(srv, w);
			return -ENOMEM;
		}
		server_arm_timer(srv);
	}
	w->conn_prev = NULL;
	w->conn_next = c->waits;
	if (c->waits)
		c->waits->conn_prev = w;
	c->waits = w;
	c->nwaits++;
	return 0;
}

/* Serve head waiters for as long as the head can be met. */
void dpool_kick(struct server *srv, struct dpool *p)
{
	struct waitq_entry *e;

	while ((e = waitq_head(&p->waiters))) {
		struct waiter *w = waitq_container(e, struct waiter, qe);
		uint32_t lo = 0;
		int shape = dpool_take(srv, p, w->count, w->flags, &lo);

		if (shape < 0)
			break;
		waiter_unlink(srv, w);
		dpool_grant(srv, w->conn, p, w->req_id, w->count, shape, lo, w->reply_type);
		waiter_put(srv, w);
	}
	server_arm_timer(srv);
}

void dpool_waiter_expired(struct server *srv, struct waiter *w)
{
	struct dpool *p = w->pool;
	struct conn *c = w->conn;
	uint32_t id = w->req_id;
	uint16_t type = w->reply_type;

	waiter_unlink(srv, w);
	waiter_put(srv, w);
	srv->stats.timeouts++;
	conn_send_status(c, type | PROTO_REPLY, id, -EAGAIN);
	/* The expired waiter may have been the head that blocked others. */
	dpool_kick(srv, p);
}

/* c's attach hold on (region, off), skipping marked ones when asked; prev
 * receives the list predecessor. */
static struct xhold *xhold_find(const struct conn *c, uint32_t region_id, uint64_t off,
				int unmarked, struct xhold **prev)
{
	struct xhold *p = NULL;

	for (struct xhold *x = c->xholds; x; p = x, x = x->next) {
		if (x->region_id == region_id && x->offset == off && !(unmarked && x->mark)) {
			if (prev)
				*prev = p;
			return x;
		}
	}
	return NULL;
}

static uint64_t dpool_block_offset(const struct dpool *p, uint32_t i)
{
	return p->lp->base + blockpool_offset(&p->lp->bp, i);
}

/* Classify block i for a free or ref by c: 0 held, or the error to return. */
static int dpool_check_free(const struct dpool *p, const struct conn *c, uint32_t i)
{
	const struct blockpool *bp = &p->lp->bp;
	int rc;

	if (p->owner[i] == c->slot ||
	    xhold_find(c, p->lp->region_id, dpool_block_offset(p, i), 0, NULL))
		return 0;
	rc = blockpool_check_allocated(bp, blockpool_offset(bp, i));
	return rc < 0 ? rc : -EPERM;
}

/* One holder of block i lets go: 1 when it was the last, and the block is
 * to go back to the pool (zeroed first when scrub says so). */
static uint32_t dpool_unhold(struct server *srv, struct dpool *p, uint32_t i, int scrub)
{
	if (--p->holders[i] != 0) {
		if (p->holders[i] == 1)
			p->nshared--;
		return 0;
	}
	if (scrub)
		scrub_block_free(srv, p, i);
	return 1;
}

/* Account for count of c's holds in p gone, freed of them back in the pool:
 * once per request, not per block. */
static void dpool_unhold_count(struct server *srv, struct conn *c, struct dpool *p,
			       uint32_t count, uint32_t freed)
{
	c->pool_blocks[p->id] -= count;
	c->blocks_held -= count;
	c->bytes_held -= (uint64_t)count * p->lp->bp.stride;
	srv->stats.frees += freed;
}

/* Drop c's attach hold on block i. */
static void dpool_drop_xhold(struct conn *c, struct dpool *p, uint32_t i)
{
	struct xhold *prev = NULL;
	struct xhold *x = xhold_find(c, p->lp->region_id, dpool_block_offset(p, i), 0, &prev);

	if (prev)
		prev->next = x->next;
	else
		c->xholds = x->next;
	free(x);
}

/* Drop c's hold on block i, the primary one first. */
static void dpool_drop(struct server *srv, struct conn *c, struct dpool *p, uint32_t i)
{
	uint32_t freed;

	if (p->owner[i] == c->slot)
		p->owner[i] = CONN_NONE;
	else
		dpool_drop_xhold(c, p, i);
	freed = dpool_unhold(srv, p, i, scrub_on_free(srv, p));
	if (freed)
		blockpool_free_index(&p->lp->bp, i);
	dpool_unhold_count(srv, c, p, 1, freed);
}

/*
 * Take one of c's holds on block i for a free being validated, marking it
 * so that a block listed more often than c holds it is caught as a double
 * free.  The primary hold is marked by flipping the owner to CONN_MARK,
 * attach holds by their mark flag.
 */
static int dpool_mark(const struct dpool *p, struct conn *c, uint32_t i)
{
	struct xhold *x;

	if (p->owner[i] == c->slot) {
		p->owner[i] = CONN_MARK;
		return 0;
	}
	x = xhold_find(c, p->lp->region_id, dpool_block_offset(p, i), 1, NULL);
	if (x) {
		x->mark = 1;
		return 0;
	}
	if (p->owner[i] == CONN_MARK)
		return -EFAULT;
	return dpool_check_free(p, c, i);
}

int dpool_free(struct server *srv, struct conn *c, struct dpool *p, uint32_t count,
	       uint32_t flags, uint32_t nindices, const uint32_t *index)
{
	const uint32_t n = p->lp->bp.num_blocks;
	int contig = !!(flags & PROTO_F_CONTIG);
	uint32_t k, lo = 0, hi, freed = 0;
	int rc = 0, scrub;

	if (count == 0)
		return 0;
	if (contig ? nindices != 1 : nindices != count)
		return -EINVAL;
	if (contig && (index[0] >= n || count > n - index[0]))
		return -EINVAL;
	/* The common case: blocks c alone holds, most often a run of them
	 * (a contiguous free always is), let go of as spans.  A list that is
	 * no run takes one pass that lets go of its blocks (a duplicate then
	 * finds itself let go).  Anything else (a bad entry, a duplicate, an
	 * attach hold, a shared block) undoes it and takes the general way,
	 * which finds the exact error.
	 *
	 * Blocks that go back all adjacent go back as a run, highest first,
	 * whatever the list's order: the next batch takes them as a run in
	 * ascending order (one span for the client to coalesce, and the
	 * span paths here), and single allocations take them lowest first.
	 * Any other list goes back in its order, last in, first out. */
	if (contig)
		lo = index[0];
	if (contig || span_is_run(index, count, &lo)) {
		/* A block c holds as primary has one holder at least; with
		 * no shared block in p, exactly one. */
		if (lo < n && count <= n - lo &&
		    (p->nshared ? span_both_equal(p->owner + lo, c->slot, p->holders + lo, 1, count)
				: span_all_equal(p->owner + lo, count, c->slot))) {
			span_fill(p->owner + lo, count, CONN_NONE);
			span_fill(p->holders + lo, count, 0);
			if (scrub_on_free(srv, p))
				for (k = lo; k < lo + count; k++)
					scrub_block_free(srv, p, k);
			blockpool_release_run(&p->lp->bp, lo + (count - 1), count, 0);
			freed = count;
			goto counted;
		}
	} else {
		const uint32_t slot = c->slot;
		uint32_t *owner = p->owner, *holders = p->holders;

		lo = UINT32_MAX;
		hi = 0;
		for (k = 0; k < count; k++) {
			uint32_t i = index[k];

			if (i >= n || owner[i] != slot || holders[i] != 1)
				break;
			owner[i] = CONN_NONE;
			holders[i] = 0;
			lo = i < lo ? i : lo;
			hi = i > hi ? i : hi;
		}
		if (k == count) {
			if (scrub_on_free(srv, p))
				for (k = 0; k < count; k++)
					scrub_block_free(srv, p, index[k]);
			/* The pass let go of each block once, so count of
			 * them from lo to hi are all of those: a run. */
			if (hi - lo == count - 1)
				blockpool_release_run(&p->lp->bp, hi, count, 0);
			else
				blockpool_release_n_index(&p->lp->bp, count, index);
			freed = count;
			goto counted;
		}
		while (k-- > 0) {
			owner[index[k]] = slot;
			holders[index[k]] = 1;
		}
	}
	/* Validate everything before freeing anything; the marks are undone
	 * on every path. */
	for (k = 0; k < count && rc == 0; k++) {
		uint32_t i = contig ? index[0] + k : index[k];

		rc = i < n ? dpool_mark(p, c, i) : -EINVAL;
	}
	for (struct xhold *x = c->xholds; x; x = x->next)
		x->mark = 0;
	if (rc < 0) {
		for (uint32_t j = 0; j < k; j++) {
			uint32_t i = contig ? index[0] + j : index[j];

			if (i < n && p->owner[i] == CONN_MARK)
				p->owner[i] = c->slot;
		}
		return rc;
	}
	/* A block marked is c's primary hold; one listed again after that
	 * (or unmarked) is an attach hold, as dpool_mark found.  Blocks whose
	 * last holder this was go back to the pool in one call. */
	scrub = scrub_on_free(srv, p);
	lo = UINT32_MAX;
	hi = 0;
	for (k = 0; k < count; k++) {
		uint32_t i = contig ? index[0] + k : index[k];

		if (p->owner[i] == CONN_MARK)
			p->owner[i] = CONN_NONE;
		else
			dpool_drop_xhold(c, p, i);
		if (dpool_unhold(srv, p, i, scrub)) {
			srv->scratch_index[freed++] = i;
			lo = i < lo ? i : lo;
			hi = i > hi ? i : hi;
		}
	}
	if (freed && hi - lo == freed - 1)
		blockpool_release_run(&p->lp->bp, hi, freed, 0);
	else
		blockpool_release_n_index(&p->lp->bp, freed, srv->scratch_index);
counted:
	dpool_unhold_count(srv, c, p, count, freed);
	dpool_kick(srv, p);
	if (p->retired)
		server_reap_pools(srv);  /* may free p */
	return 0;
}

int dpool_get(struct server *srv, struct conn *c, struct dpool *p, uint32_t first, uint32_t count)
{
	struct blockpool *bp = &p->lp->bp;
	int rc;

	if (count == 0)
		return 0;
	if (first >= bp->num_blocks || count > bp->num_blocks - first)
		return -EINVAL;
	rc = dpool_admit(srv, c, p, count);
	if (rc < 0)
		return rc;
	if (!dpool_at_head(p, c->priority))
		return -ENOMEM;
	rc = blockpool_reserve(bp, blockpool_offset(bp, first), count);
	if (rc < 0)
		return rc;
	for (uint32_t k = 0; k < count; k++) {
		p->owner[first + k] = c->slot;
		p->gen[first + k]++;
		p->holders[first + k] = 1;
		if (scrub_cross_uid(srv, p))
			scrub_block_grant(srv, p, first + k, c->uid);
	}
	conn_count_blocks(c, p->id, (int32_t)count);
	c->blocks_held += count;
	c->bytes_held += (uint64_t)count * bp->stride;
	srv->stats.allocs += count;
	return 0;
}

/* The pool that has block memory at (region_id, offset), and the block. */
struct dpool *dpool_find(struct server *srv, uint32_t region_id, uint64_t offset, uint32_t *index,
			 int *exact)
{
	for (uint32_t id = 0; id < srv->npools; id++) {
		struct dpool *p = srv->pools[id];
		uint64_t rel;

		if (!p || p->lp->region_id != region_id || offset < p->lp->base)
			continue;
		rel = offset - p->lp->base;
		if (rel >= blockpool_span(&p->lp->bp))
			continue;
		*index = (uint32_t)(rel / p->lp->bp.stride);
		*exact = rel % p->lp->bp.stride == 0;
		return p;
	}
	return NULL;
}

int dpool_ref(struct conn *c, const struct dpool *p, uint32_t i, struct proto_ref *ref)
{
	int rc = dpool_check_free(p, c, i);

	if (rc < 0)
		return rc;
	ref->kind = PROTO_REF_BLOCK;
	ref->generation = p->gen[i];
	return 0;
}

int dpool_attach(struct server *srv, struct conn *c, struct dpool *p, uint32_t i)
{
	struct xhold *x;
	int rc;

	if (p->holders[i] == UINT32_MAX)
		return -EMLINK;
	rc = access_quota_blocks(c, p, 1);
	if (rc < 0)
		return rc;
	x = malloc(sizeof(*x));
	if (!x)
		return -ENOMEM;
	if (conn_count_blocks(c, p->id, 1) < 0) {
		free(x);
		return -ENOMEM;
	}
	x->region_id = p->lp->region_id;
	x->offset = dpool_block_offset(p, i);
	x->mark = 0;
	x->next = c->xholds;
	c->xholds = x;
	c->blocks_held++;
	c->bytes_held += p->lp->bp.stride;
	/* A shared block's frees must reach the daemon: no client caches
	 * frees of p while it has one (parked frees do no harm). */
	if (++p->holders[i] == 2) {
		p->nshared++;
		if (p->nlanes)
			ring_pull(srv, NULL, p);
	}
	return 0;
}

/*
 * Release every block and wait of a closing connection.  Only pools in which
 * it holds something are scanned.
 */
void dpool_release_conn(struct server *srv, struct conn *c)
{
	uint64_t bytes = c->bytes_held;

	while (c->waits) {
		struct waiter *w = c->waits;
		struct dpool *p = w->pool;

		waiter_unlink(srv, w);
		waiter_put(srv, w);
		dpool_kick(srv, p);
	}
	while (c->xholds) {
		struct xhold *x = c->xholds;
		uint32_t i;
		int exact;
		struct dpool *p = dpool_find(srv, x->region_id, x->offset, &i, &exact);

		if (p)
			dpool_drop(srv, c, p, i);
		else
			heapalloc_drop_xhold(srv, c, x);
	}
	for (uint32_t id = 0; id < c->npool_blocks && id < srv->npools; id++) {
		struct dpool *p = srv->pools[id];

		if (!p || c->pool_blocks[id] == 0)
			continue;
		for (uint32_t i = 0; i < p->lp->bp.num_blocks && c->pool_blocks[id]; i++)
			if (p->owner[i] == c->slot)
				dpool_drop(srv, c, p, i);
		dpool_kick(srv, p);
	}
	srv->stats.reclaimed_bytes += bytes - c->bytes_held;
	server_reap_pools(srv);
}
