/*
 * stock: the block caches clients keep in their free rings (see proto.h).
 *
 * A pool with `cache = N` gives each connection that opens it a lane of N
 * slots in the connection's free ring.  When the lane is empty, libshmpool
 * asks for a block with PROTO_BLOCK_ALLOC's stock field set, and the daemon
 * grants up to that many more, which the library keeps in the lane; frees of
 * blocks it allocated go back into the lane while there is room.  A block in
 * a lane is held by its connection as far as the daemon is concerned, so a
 * cache hit and a cached free cost no message at all.
 *
 * Cached blocks must never keep memory from anyone, so the daemon takes
 * them back (steals) whenever that could matter:
 *
 *  - when an allocation of the pool cannot be met, together with the free
 *    rings (ring_pull), which also sets the pool's kick: while it is set,
 *    clients neither cache frees of it nor get extra blocks, so waiters are
 *    served by priority from frees that come at once;
 *  - while a block of the pool is held twice (a ref attached), the kick
 *    stays set: a free of a shared block must reach the daemon;
 *  - before anything that reports or depends on what clients hold, when a
 *    pool retires, and when a connection closes (its cached blocks count as
 *    frees, not as memory reclaimed from the dead).
 *
 * The daemon only ever writes PROTO_STOCK_EMPTY into a slot, with an atomic
 * exchange, from the lowest slot up; the client takes a block with an
 * exchange too, so each cached block goes to exactly one side.  It looks
 * only at the lanes the client marked in stock_mask, so that taking caches
 * back costs a load per connection while they are empty.  What the
 * daemon reads is checked: a slot naming a block the connection does not
 * hold as its primary owner gets the connection hung up.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <string.h>

_Static_assert(CONFIG_CACHE_MAX <= PROTO_STOCK_SLOTS, "a lane holds any cache");
_Static_assert(PROTO_STOCK_LANES <= 32, "a lane has a bit of stock_mask");

/* The lane c has for p, or PROTO_STOCK_NONE. */
static uint32_t lane_of(const struct conn *c, const struct dpool *p)
{
	for (uint32_t k = 0; k < c->nlanes; k++)
		if (c->lane_pool[k] == p)
			return k;
	return PROTO_STOCK_NONE;
}

uint32_t stock_pool_cache(const struct server *srv, const struct dpool *p)
{
	/* A pool zeroed on every free (scrub = always) has no cache: a
	 * cached free is no free to the daemon.  Caches live in free rings. */
	if (!p->cfg || !p->cfg->cache || p->retired || p->id >= PROTO_RING_KICK_POOLS ||
	    !srv->cfg.daemon.free_ring || scrub_on_free(srv, p))
		return 0;
	return p->cfg->cache;
}

uint32_t stock_lane(struct conn *c, struct dpool *p, uint32_t *slots)
{
	uint32_t k;

	*slots = 0;
	if (!c->ring || c->ring_broken || !stock_pool_cache(c->srv, p))
		return PROTO_STOCK_NONE;
	k = lane_of(c, p);
	if (k == PROTO_STOCK_NONE) {
		/* Lanes are never reused on a connection: the client may
		 * still point at one whose pool is gone. */
		if (c->nlanes == PROTO_STOCK_LANES)
			return PROTO_STOCK_NONE;
		k = c->nlanes++;
		c->lane_pool[k] = p;
		/* The first lane of a pool that has a shared block: its frees
		 * must keep coming (the lane is empty, nothing to read). */
		if (p->nlanes++ == 0 && p->nshared)
			ring_tighten(c->srv, p);
		c->lane_slots[k] = p->cfg->cache;
	}
	*slots = c->lane_slots[k];
	return k;
}

uint32_t stock_extra(struct server *srv, struct conn *c, struct dpool *p, uint32_t count,
		     uint32_t want)
{
	uint32_t k = lane_of(c, p), num_free = p->lp->bp.num_free;
	uint64_t room;

	if (k == PROTO_STOCK_NONE || !p->cfg || ring_pool_tight(srv, p) || scrub_on_free(srv, p) ||
	    waitq_head(&p->waiters) || num_free <= count)
		return 0;
	if (want > c->lane_slots[k])
		want = c->lane_slots[k];
	if (want > p->cfg->cache)
		want = p->cfg->cache;
	if (want > num_free - count)
		want = num_free - count;
	room = access_quota_room(c, p);
	if (room <= count)
		return 0;
	return room - count < want ? (uint32_t)(room - count) : want;
}

/* Take back what lane k of c holds; the blocks go back to the pool as if c
 * had freed them.  Returns the number freed, or -EBADMSG when the lane
 * named a block c does not hold (c is then hung up). */
static int steal_lane(struct server *srv, struct conn *c, uint32_t k)
{
	struct dpool *p = c->lane_pool[k];
	uint32_t *slot = c->ring->stock[k];
	uint32_t idx[PROTO_STOCK_SLOTS], n = 0;
	int bad = 0, rc;

	for (uint32_t s = 0; s < c->lane_slots[k]; s++) {
		uint32_t i = __atomic_exchange_n(&slot[s], PROTO_STOCK_EMPTY, __ATOMIC_ACQ_REL);

		if (i == PROTO_STOCK_EMPTY)
			continue;
		/* Marked while collected, so a block named twice is caught. */
		if (i >= p->lp->bp.num_blocks || p->owner[i] != c->slot) {
			bad = 1;
			continue;
		}
		p->owner[i] = CONN_MARK;
		idx[n++] = i;
	}
	for (uint32_t j = 0; j < n; j++)
		p->owner[idx[j]] = c->slot;
	/* May serve waiters, and free p if it retired. */
	rc = n ? dpool_free(srv, c, p, n, 0, n, idx) : 0;
	if (bad)
		return ring_hang_up(c, "a cached block it does not hold");
	return rc < 0 ? rc : (int)n;
}

int stock_steal(struct server *srv, struct conn *c, uint32_t pool_id)
{
	uint32_t mask = 0;
	int n = 0;

	if (!c->ring || c->ring_broken || !c->nlanes)
		return 0;
	/* Only lanes whose bit the client set can hold blocks; a bit is
	 * cleared before its lane is emptied, so a block the client caches
	 * meanwhile sets it again.  A client that leaves a bit clear only
	 * keeps blocks it holds anyway. */
	if (pool_id == STOCK_ALL) {
		mask = __atomic_exchange_n(&c->ring->stock_mask, 0, __ATOMIC_ACQ_REL);
	} else {
		for (uint32_t k = 0; k < c->nlanes; k++)
			if (c->lane_pool[k] && c->lane_pool[k]->id == pool_id)
				mask |= __atomic_fetch_and(&c->ring->stock_mask, ~(1u << k),
							   __ATOMIC_ACQ_REL) & 1u << k;
	}
	/* A steal may free a retired pool: its lanes are then NULL. */
	for (uint32_t k = 0; mask && k < c->nlanes && !c->ring_broken; k++) {
		int got;

		if (!(mask & 1u << k) || !c->lane_pool[k])
			continue;
		got = steal_lane(srv, c, k);
		if (got > 0)
			n += got;
	}
	return n;
}

int stock_steal_all(struct server *srv, uint32_t pool_id)
{
	int n = 0;

	for (uint32_t i = 1; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		if (c && !c->closing && c->nlanes)
			n += stock_steal(srv, c, pool_id);
	}
	return n;
}

void stock_forget(struct server *srv, const struct dpool *p)
{
	for (uint32_t i = 1; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		for (uint32_t k = 0; c && k < c->nlanes; k++)
			if (c->lane_pool[k] == p)
				c->lane_pool[k] = NULL;
	}
}
