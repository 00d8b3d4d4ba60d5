/*
 * ctl: the requests of shmpoolctl — status, the lists of regions, pools,
 * heaps, groups and clients, counters, occupancy maps, and reload.  Lists
 * are walked with a cursor, one entry per reply, so no reply grows with
 * the size of the daemon's state.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *attr_name(const struct server *srv, uint32_t attr)
{
	const char *name = config_attr_name(&srv->cfg, attr);

	return name ? name : "";
}

/* Bytes of a region's heap that pools took, and how many pools. */
static uint64_t region_pool_bytes(const struct server *srv, uint32_t region_id, uint64_t *used)
{
	uint64_t bytes = 0;

	for (uint32_t id = 0; id < srv->npools; id++) {
		const struct dpool *p = srv->pools[id];

		if (!p || p->lp->region_id != region_id)
			continue;
		bytes += blockpool_span(&p->lp->bp);
		if (used)
			*used += (uint64_t)(p->lp->bp.num_blocks - p->lp->bp.num_free) *
				 p->lp->bp.stride;
	}
	return bytes;
}

void ctl_status(struct conn *c, const struct proto_hdr *m)
{
	struct server *srv = c->srv;
	const struct layout *l = srv->layout;
	struct proto_status_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_STATUS, m->id, 0);
	r.daemon_pid = (uint32_t)getpid();
	r.clients = srv->nconns;
	r.uptime_ms = uv_now(srv->loop) - srv->started_ms;
	r.heaps = (uint32_t)l->ninstances;
	r.groups = (uint32_t)l->ngroups;
	for (uint32_t id = 0; id < l->nregions; id++) {
		struct heap_stat st;
		uint64_t carved;

		if (!server_region(srv, id))
			continue;
		r.regions++;
		r.region_bytes += l->regions[id].size;
		carved = region_pool_bytes(srv, id, &r.pool_used_bytes);
		r.pool_bytes += carved;
		heap_stat(l->heaps[id], &st);
		r.heap_bytes += st.total - carved;
		r.heap_used_bytes += st.total - st.free - carved;
	}
	for (uint32_t id = 0; id < srv->npools; id++) {
		if (srv->pools[id] && !srv->pools[id]->retired) {
			r.pools++;
			r.waiters += waitq_count(&srv->pools[id]->waiters);
		}
	}
	snprintf(r.version, sizeof(r.version), "%s", PACKAGE_VERSION);
	snprintf(r.socket, sizeof(r.socket), "%s", srv->socket_path);
	snprintf(r.config, sizeof(r.config), "%.*s", (int)sizeof(r.config) - 1, srv->config_path);
	conn_send(c, &r, sizeof(r), -1);
}

void ctl_pool_info(struct conn *c, const struct proto_cursor_req *m)
{
	struct server *srv = c->srv;
	struct proto_pool_info_reply r;
	uint64_t i;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_POOL_INFO, m->hdr.id, 0);
	r.next_cursor = srv->npools;
	for (i = m->cursor; i < srv->npools; i++) {
		const struct dpool *p = srv->pools[i];
		const struct blockpool *bp;

		if (!p || p->retired)
			continue;
		bp = &p->lp->bp;
		r.r.status = 1;
		r.next_cursor = i + 1;
		r.id = p->id;
		r.block_size = bp->block_size;
		r.stride = bp->stride;
		r.num_blocks = bp->num_blocks;
		r.num_free = bp->num_free;
		r.min_free = bp->num_blocks - bp->max_used;
		r.num_waiters = waitq_count(&p->waiters);
		r.base = p->lp->base;
		r.attr = p->lp->attr;
		r.cache = stock_pool_cache(srv, p);
		proto_set_name(r.name, p->lp->name);
		proto_set_name(r.region, server_region(srv, p->lp->region_id)->name);
		proto_set_name(r.attr_name, attr_name(srv, r.attr));
		break;
	}
	conn_send(c, &r, sizeof(r), -1);
}

void ctl_region_info(struct conn *c, const struct proto_cursor_req *m)
{
	struct server *srv = c->srv;
	const struct layout *l = srv->layout;
	struct proto_region_info_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_REGION_INFO, m->hdr.id, 0);
	r.next_cursor = l->nregions;
	for (uint64_t i = m->cursor; i < l->nregions; i++) {
		const struct region *reg = server_region(srv, (uint32_t)i);
		const struct multiheap *mh;
		struct heap_stat st;

		if (!reg)
			continue;
		heap_stat(l->heaps[i], &st);
		r.r.status = 1;
		r.next_cursor = i + 1;
		r.id = reg->id;
		r.attr = reg->attr;
		r.size = reg->size;
		r.granularity = reg->granularity;
		r.used_bytes = st.total - st.free;
		r.free_bytes = st.free;
		r.flags = (reg->sealed ? PROTO_RI_SEALED : 0) | (reg->locked ? PROTO_RI_LOCKED : 0) |
			  (scrub_broken(srv, reg->id) ? PROTO_RI_BROKEN : 0);
		r.scrubbed_bytes = reg->id < srv->nregion_state ?
				   srv->region_state[reg->id].scrubbed_bytes : 0;
		snprintf(r.scrub, sizeof(r.scrub), "%s",
			 config_scrub_name(access_region_cfg(srv, reg->id)->scrub));
		r.numa_node = reg->numa_node;
		proto_set_name(r.name, reg->name);
		snprintf(r.backing, sizeof(r.backing), "%s", region_backing_name(reg->backing));
		region_describe(reg, r.obtained, sizeof(r.obtained));
		proto_set_name(r.attr_name, attr_name(srv, reg->attr));
		mh = layout_region_instance(l, reg->id);
		proto_set_name(r.heap, mh ? multiheap_name(mh) : "");
		snprintf(r.path, sizeof(r.path), "%s", reg->path ? reg->path : "");
		break;
	}
	conn_send(c, &r, sizeof(r), -1);
}

/*
 * Heap entries are (instance, region) pairs: cursor = instance << 32 |
 * position in the instance.  An empty instance yields one entry with no
 * region, so that every instance shows up.
 */
void ctl_heap_info(struct conn *c, const struct proto_cursor_req *m)
{
	struct server *srv = c->srv;
	const struct layout *l = srv->layout;
	struct proto_heap_info_reply r;
	uint64_t inst = m->cursor >> 32, pos = m->cursor & UINT32_MAX;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_HEAP_INFO, m->hdr.id, 0);
	for (; inst < l->ninstances; inst++, pos = 0) {
		const struct multiheap *mh = l->instances[inst];
		size_t n = multiheap_count(mh);
		uint32_t region_id, attr;
		struct heap *hp;
		struct heap_stat st;

		proto_set_name(r.heap, multiheap_name(mh));
		if (n == 0 && pos == 0) {
			r.r.status = 1;
			r.next_cursor = (inst + 1) << 32;
			break;
		}
		if (pos >= n)
			continue;
		multiheap_get(mh, pos, &region_id, &attr, &hp);
		heap_stat(hp, &st);
		r.r.status = 1;
		r.next_cursor = pos + 1 < n ? (inst << 32) | (pos + 1) : (inst + 1) << 32;
		r.region_id = region_id;
		r.attr = attr;
		r.total = st.total;
		r.free = st.free;
		r.largest_free = st.largest_free;
		r.min_free = st.min_free;
		r.num_allocs = st.num_allocs;
		r.num_frees = st.num_frees;
		r.num_used = st.num_used;
		for (uint32_t id = 0; id < srv->npools; id++)
			if (srv->pools[id] && srv->pools[id]->lp->region_id == region_id &&
			    r.num_used > 0)
				r.num_used--;
		proto_set_name(r.region, server_region(srv, region_id)->name);
		proto_set_name(r.attr_name, attr_name(srv, attr));
		break;
	}
	if (!r.r.status)
		r.next_cursor = (uint64_t)l->ninstances << 32;
	conn_send(c, &r, sizeof(r), -1);
}

void ctl_group_info(struct conn *c, const struct proto_cursor_req *m)
{
	struct server *srv = c->srv;
	const struct layout *l = srv->layout;
	struct proto_group_info_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_GROUP_INFO, m->hdr.id, 0);
	r.next_cursor = l->ngroups;
	if (m->cursor < l->ngroups) {
		const struct layout_group *g = &l->groups[m->cursor];

		r.r.status = 1;
		r.next_cursor = m->cursor + 1;
		r.npools = (uint32_t)g->npools;
		r.select = g->select;
		proto_set_name(r.name, g->name);
		snprintf(r.select_name, sizeof(r.select_name), "%s", config_select_name(g->select));
		for (size_t i = 0; i < g->npools && i < PROTO_GROUP_POOLS_MAX; i++)
			proto_set_name(r.pools[i], g->pools[i]->name);
	}
	conn_send(c, &r, sizeof(r), -1);
}

void ctl_client_info(struct conn *c, const struct proto_cursor_req *m)
{
	struct server *srv = c->srv;
	struct proto_client_info_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_CLIENT_INFO, m->hdr.id, 0);
	r.next_cursor = srv->nconns_cap;
	for (uint64_t slot = m->cursor; slot < srv->nconns_cap; slot++) {
		const struct conn *o = srv->conns[slot];

		if (!o)
			continue;
		r.r.status = 1;
		r.next_cursor = slot + 1;
		r.conn_id = o->id;
		r.pid = (uint32_t)o->pid;
		r.uid = o->uid;
		r.gid = o->gid;
		r.priority = o->priority;
		r.bytes_held = o->bytes_held;
		r.blocks_held = o->blocks_held;
		r.waits = o->nwaits;
		r.flags = o == c ? PROTO_CI_SELF : 0;
		r.connected_ms = uv_now(srv->loop) - o->connected_ms;
		snprintf(r.comm, sizeof(r.comm), "%s", o->comm);
		break;
	}
	conn_send(c, &r, sizeof(r), -1);
}

void ctl_stats(struct conn *c, const struct proto_hdr *m)
{
	struct server *srv = c->srv;
	struct proto_stats_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_STATS, m->id, 0);
	r.allocs = srv->stats.allocs;
	r.frees = srv->stats.frees;
	r.failures = srv->stats.failures;
	r.timeouts = srv->stats.timeouts;
	r.reclaimed_bytes = srv->stats.reclaimed_bytes;
	r.connections = srv->stats.connections;
	r.refused_connections = srv->stats.refused_connections;
	r.bad_messages = srv->stats.bad_messages;
	r.uptime_ms = uv_now(srv->loop) - srv->started_ms;
	r.refusals = srv->stats.refusals;
	r.scrubbed_bytes = srv->stats.scrubbed_bytes;
	r.calls = srv->stats.calls;
	conn_send(c, &r, sizeof(r), -1);
}

struct map_fill {
	struct proto_map_reply *r;
	uint64_t used[PROTO_MAP_CELLS_MAX];
	uint64_t pool[PROTO_MAP_CELLS_MAX];
	uint64_t per_cell;
	/* For walks over a pool inside a region map. */
	uint64_t base;
	uint64_t stride;
};

/* Add (sign 1) or take away (sign -1) the units [start, end) to the cells
 * of acc that they cover. */
static void map_add(struct map_fill *f, uint64_t *acc, uint64_t start, uint64_t end, int sign)
{
	while (start < end) {
		uint64_t cell = start / f->per_cell;
		uint64_t cell_end = (cell + 1) * f->per_cell;
		uint64_t n = (end < cell_end ? end : cell_end) - start;

		if (cell >= f->r->ncells)
			break;
		acc[cell] += sign > 0 ? n : -n;
		start += n;
	}
}

static int map_pool_run(void *ctx, uint32_t first, uint32_t count)
{
	struct map_fill *f = ctx;

	map_add(f, f->used, first, (uint64_t)first + count, 1);
	return 0;
}

/* A run of used blocks of a pool, in a region map: used, no longer idle
 * pool memory. */
static int map_region_pool_run(void *ctx, uint32_t first, uint32_t count)
{
	struct map_fill *f = ctx;
	uint64_t start = f->base + first * f->stride, end = start + count * f->stride;

	map_add(f, f->used, start, end, 1);
	map_add(f, f->pool, start, end, -1);
	return 0;
}

struct map_region_ctx {
	struct map_fill *f;
	struct server *srv;
	uint32_t region_id;
};

static int map_region_block(void *ctx, uint64_t off, uint64_t size, int used)
{
	struct map_region_ctx *m = ctx;
	uint32_t i;
	int exact;

	if (!used)
		return 0;
	/* A heap block that starts a pool is that pool's carve-out. */
	if (dpool_find(m->srv, m->region_id, off, &i, &exact) && exact && i == 0)
		map_add(m->f, m->f->pool, off, off + size, 1);
	else
		map_add(m->f, m->f->used, off, off + size, 1);
	return 0;
}

static void map_finish(struct map_fill *f)
{
	struct proto_map_reply *r = f->r;

	for (uint32_t i = 0; i < r->ncells; i++) {
		uint64_t cell_units = f->per_cell;
		uint64_t u = f->used[i], p = f->pool[i];

		if ((uint64_t)(i + 1) * f->per_cell > r->units)
			cell_units = r->units - (uint64_t)i * f->per_cell;
		r->used_units += u;
		r->fill[i] = (uint8_t)((u + p) * 255 / (cell_units ? cell_units : 1));
		if (u + p == 0)
			r->cell_kind[i] = PROTO_CELL_FREE;
		else
			r->cell_kind[i] = u >= p ? PROTO_CELL_USED : PROTO_CELL_POOL;
	}
}

static void map_cells(struct map_fill *f, uint64_t units, uint32_t cells)
{
	f->r->units = units;
	f->per_cell = (units + cells - 1) / cells;
	if (f->per_cell == 0)
		f->per_cell = 1;
	f->r->ncells = (uint32_t)((units + f->per_cell - 1) / f->per_cell);
}

static int map_pool(struct server *srv, struct map_fill *f, const char *name, uint32_t cells)
{
	const struct layout_pool *lp = layout_pool_find(srv->layout, name);

	if (!lp)
		return -ENOENT;
	map_cells(f, lp->bp.num_blocks, cells);
	return blockpool_walk(&lp->bp, map_pool_run, f);
}

static int map_region(struct server *srv, struct map_fill *f, const char *name, uint32_t cells)
{
	const struct region *reg = layout_region_find(srv->layout, name);
	struct map_region_ctx ctx = { f, srv, 0 };

	if (!reg)
		return -ENOENT;
	ctx.region_id = reg->id;
	map_cells(f, reg->size, cells);
	heap_walk(srv->layout->heaps[reg->id], map_region_block, &ctx);
	for (uint32_t id = 0; id < srv->npools; id++) {
		const struct dpool *p = srv->pools[id];

		if (!p || p->lp->region_id != reg->id)
			continue;
		f->base = p->lp->base;
		f->stride = p->lp->bp.stride;
		blockpool_walk(&p->lp->bp, map_region_pool_run, f);
	}
	return 0;
}

/* One reply buffer and accumulator: a map is large and requests are served
 * one at a time. */
static struct proto_map_reply map_reply;
static struct map_fill map_acc;

void ctl_map(struct conn *c, const struct proto_map_req *m)
{
	struct proto_map_reply *r = &map_reply;
	struct map_fill *f = &map_acc;
	char name[PROTO_NAME_MAX];
	int rc;

	memset(r, 0, sizeof(*r));
	memset(f, 0, sizeof(*f));
	f->r = r;
	conn_reply_init(&r->r, PROTO_MAP, m->hdr.id, 0);
	if (proto_name(name, m->name, 1) < 0 || m->cells == 0 || m->cells > PROTO_MAP_CELLS_MAX)
		rc = -EINVAL;
	else if (m->kind == PROTO_MAP_POOL)
		rc = map_pool(c->srv, f, name, m->cells);
	else if (m->kind == PROTO_MAP_REGION)
		rc = map_region(c->srv, f, name, m->cells);
	else
		rc = -EINVAL;
	if (rc == 0) {
		r->kind = m->kind;
		r->units_per_cell = f->per_cell;
		map_finish(f);
	}
	r->r.status = rc;
	conn_send(c, r, rc == 0 ? sizeof(*r) : sizeof(r->r), -1);
}

void ctl_reload(struct conn *c, const struct proto_hdr *m)
{
	struct proto_reload_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_RELOAD, m->id, 0);
	rc = server_may_admin(c->srv, c);
	if (rc < 0)
		access_refused(c, REFUSE_ADMIN, "may not reload the configuration");
	if (rc == 0) {
		log_notice("reload requested by pid %d (uid %u)", (int)c->pid, (unsigned)c->uid);
		/* Answered when the reload is done. */
		server_reload(c->srv, c, m->id);
		return;
	}
	r.r.status = rc;
	conn_send(c, &r, sizeof(r), -1);
}
