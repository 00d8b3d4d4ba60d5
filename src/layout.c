/*
 * layout: regions, heaps, pools, heap instances and groups built from a
 * configuration, the pools made and unmade at run time, and reloads.
 */
#include "layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 5, 6)))
static void layout_error(char *err, size_t errlen, const struct config *cfg, int line,
			 const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d: %s", cfg->path ? cfg->path : "<config>", line, msg);
}

static int str_same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Keep a copy of a region's settings: the layout outlives the
 * configuration it was built from, and a reload compares against it. */
static int region_cfg_copy(struct config_region *dst, const struct config_region *src)
{
	*dst = *src;
	dst->path = NULL;
	memset(&dst->acl, 0, sizeof(dst->acl));
	if (src->path) {
		dst->path = strdup(src->path);
		if (!dst->path)
			return -ENOMEM;
	}
	if (config_acl_copy(&dst->acl, &src->acl) < 0) {
		free(dst->path);
		dst->path = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void region_cfg_free(struct config_region *rc)
{
	free(rc->path);
	rc->path = NULL;
	config_acl_free(&rc->acl);
}

/* Whether two region settings give the same mapping; the heap instance
 * and the line do not count, and neither do the access list and scrub,
 * which a reload changes in place. */
static int region_cfg_same(const struct config_region *a, const struct config_region *b)
{
	return a->size == b->size && a->backing == b->backing && str_same(a->path, b->path) &&
	       a->attr == b->attr && a->hugepages == b->hugepages &&
	       a->page_size == b->page_size && a->sync == b->sync && a->lock == b->lock &&
	       a->prefault == b->prefault && a->numa_node == b->numa_node;
}

static void daemon_free(struct config_daemon *d)
{
	free(d->socket);
	free(d->socket_group);
	free(d->admin_group);
	d->socket = NULL;
	d->socket_group = NULL;
	d->admin_group = NULL;
}

static int daemon_copy(struct config_daemon *dst, const struct config_daemon *src)
{
	*dst = *src;
	dst->socket = src->socket ? strdup(src->socket) : NULL;
	dst->socket_group = src->socket_group ? strdup(src->socket_group) : NULL;
	dst->admin_group = src->admin_group ? strdup(src->admin_group) : NULL;
	if ((src->socket && !dst->socket) || (src->socket_group && !dst->socket_group) ||
	    (src->admin_group && !dst->admin_group)) {
		daemon_free(dst);
		return -ENOMEM;
	}
	return 0;
}

struct region *layout_region_find(const struct layout *l, const char *name)
{
	for (size_t i = 0; l && name && i < l->nregions; i++) {
		if (l->heaps[i] && strcmp(l->regions[i].name, name) == 0)
			return &l->regions[i];
	}
	return NULL;
}

struct layout_pool *layout_pool_find(const struct layout *l, const char *name)
{
	for (size_t i = 0; l && name && i < l->npools; i++) {
		if (!l->pools[i]->retired && strcmp(l->pools[i]->name, name) == 0)
			return l->pools[i];
	}
	return NULL;
}

struct layout_pool *layout_pool_by_id(const struct layout *l, uint32_t id)
{
	size_t lo = 0, hi;

	if (!l)
		return NULL;
	hi = l->npools;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->pools[mid]->id == id)
			return l->pools[mid];
		if (l->pools[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct layout_group *layout_group_find(const struct layout *l, const char *name)
{
	for (size_t i = 0; l && name && i < l->ngroups; i++) {
		if (strcmp(l->groups[i].name, name) == 0)
			return &l->groups[i];
	}
	return NULL;
}

struct multiheap *layout_heap_find(const struct layout *l, const char *name)
{
	if (!l || l->ninstances == 0)
		return NULL;
	if (!name || name[0] == '\0')
		return l->instances[0];
	for (size_t i = 0; i < l->ninstances; i++) {
		if (strcmp(multiheap_name(l->instances[i]), name) == 0)
			return l->instances[i];
	}
	return NULL;
}

struct multiheap *layout_region_instance(const struct layout *l, uint32_t region_id)
{
	if (!l || region_id >= l->nregions || !l->heaps[region_id])
		return NULL;
	return l->instances[l->region_instance[region_id]];
}

/* Take room for a new pool out of heap h, which manages region r, and set
 * up its block bookkeeping.  The pool is not yet listed in the layout. */
static int pool_carve(struct heap *h, const struct region *r, const char *name,
		      uint64_t block_size, uint64_t blocks, uint64_t align, struct layout_pool **out)
{
	struct layout_pool *pool;
	uint64_t span, off;
	int rc;

	span = blockpool_span_for(block_size, blocks, align);
	if (span == 0)
		return -ENOMEM;
	rc = heap_aligned_alloc(h, align < HEAP_MIN_ALIGN ? HEAP_MIN_ALIGN : align, span, &off);
	if (rc < 0)
		return rc;
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		rc = -ENOMEM;
		goto fail_free;
	}
	rc = blockpool_init(&pool->bp, block_size, blocks, align);
	if (rc < 0)
		goto fail_pool;
	snprintf(pool->name, sizeof(pool->name), "%s", name);
	pool->region_id = r->id;
	pool->attr = r->attr;
	pool->base = off;
	*out = pool;
	return 0;

fail_pool:
	free(pool);
fail_free:
	heap_free(h, off);
	return rc;
}

/* Carve a pool in the first region with attr that has room, trying the n
 * regions whose ids order lists: -ENOENT when none has attr, -ENOMEM when
 * none has room. */
static int pool_carve_by_attr(struct heap **heaps, const struct region *regions,
			      const uint32_t *order, size_t n, const char *name,
			      uint64_t block_size, uint64_t blocks, uint64_t align, uint32_t attr,
			      struct layout_pool **out)
{
	int rc = -ENOENT;

	for (size_t i = 0; i < n; i++) {
		uint32_t id = order[i];

		if (regions[id].attr != attr)
			continue;
		rc = pool_carve(heaps[id], &regions[id], name, block_size, blocks, align, out);
		if (rc != -ENOMEM)
			return rc;
	}
	return rc;
}

/* List a carved pool under the next id. */
static int pool_add(struct layout *l, struct layout_pool *pool)
{
	struct layout_pool **grown;

	grown = realloc(l->pools, (l->npools + 1) * sizeof(*l->pools));
	if (!grown)
		return -ENOMEM;
	l->pools = grown;
	pool->id = l->next_pool_id++;
	l->pools[l->npools++] = pool;
	return 0;
}

/* Free a pool, giving its carve-out back unless its region is gone. */
static void pool_release(struct layout *l, struct layout_pool *pool)
{
	if (l->heaps[pool->region_id])
		heap_free(l->heaps[pool->region_id], pool->base);
	blockpool_fini(&pool->bp);
	free(pool);
}

/* Take l->pools[i] out of the list and free it. */
static void pool_unlist(struct layout *l, size_t i)
{
	struct layout_pool *pool = l->pools[i];

	memmove(&l->pools[i], &l->pools[i + 1], (l->npools - i - 1) * sizeof(*l->pools));
	l->npools--;
	pool_release(l, pool);
}

int layout_pool_create(struct layout *l, const char *name, uint64_t block_size, uint64_t blocks,
		       uint64_t align, uint32_t attr, const char *region, struct layout_pool **out)
{
	struct layout_pool *pool;
	struct region *r;
	size_t len;
	int rc;

	if (!l || !name || !out)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len >= CONFIG_NAME_MAX)
		return -EINVAL;
	if (layout_pool_find(l, name))
		return -EEXIST;
	if (align == 0)
		align = CONFIG_DEFAULT_ALIGN;
	if (block_size == 0 || blocks == 0 || blocks > UINT32_MAX - 1 || (align & (align - 1)) ||
	    align > HEAP_MAX_ALIGN)
		return -EINVAL;
	if (region) {
		r = layout_region_find(l, region);
		if (!r)
			return -ENOENT;
		rc = pool_carve(l->heaps[r->id], r, name, block_size, blocks, align, &pool);
	} else {
		if (attr > CONFIG_ATTR_MAX)
			return -EINVAL;
		rc = pool_carve_by_attr(l->heaps, l->regions, l->order, l->nlive, name, block_size,
					blocks, align, attr, &pool);
	}
	if (rc < 0)
		return rc;
	rc = pool_add(l, pool);
	if (rc < 0) {
		pool_release(l, pool);
		return rc;
	}
	*out = pool;
	return 0;
}

int layout_pool_destroy(struct layout *l, const char *name)
{
	struct layout_pool *pool;
	size_t i;

	if (!l || !name)
		return -EINVAL;
	for (i = 0; i < l->npools; i++) {
		if (!l->pools[i]->retired && strcmp(l->pools[i]->name, name) == 0)
			break;
	}
	if (i == l->npools)
		return -ENOENT;
	pool = l->pools[i];
	if (pool->bp.num_free != pool->bp.num_blocks)
		return -EBUSY;
	for (size_t g = 0; g < l->ngroups; g++) {
		for (size_t k = 0; k < l->groups[g].npools; k++) {
			if (l->groups[g].pools[k] == pool)
				return -EBUSY;
		}
	}
	pool_unlist(l, i);
	return 0;
}

int layout_pool_remove(struct layout *l, struct layout_pool *lp)
{
	size_t i;

	if (!l || !lp)
		return -EINVAL;
	/* Find it by address before touching it: lp may be stale. */
	for (i = 0; i < l->npools && l->pools[i] != lp; i++)
		;
	if (i == l->npools)
		return -ENOENT;
	if (lp->bp.num_free != lp->bp.num_blocks)
		return -EBUSY;
	for (size_t g = 0; g < l->ngroups; g++) {
		struct layout_group *grp = &l->groups[g];
		size_t kept = 0;

		for (size_t k = 0; k < grp->npools; k++) {
			if (grp->pools[k] != lp)
				grp->pools[kept++] = grp->pools[k];
		}
		grp->npools = kept;
	}
	pool_unlist(l, i);
	return 0;
}

int layout_group_select(const struct layout *l, const struct layout_group *g, uint64_t selector,
			uint32_t count, struct layout_pool **out)
{
	struct layout_pool *best = NULL, *smallest = NULL;

	if (!l || !g || !out)
		return -EINVAL;
	if (count == 0)
		count = 1;
	switch (g->select) {
	case CONFIG_SELECT_INDEX:
		if (selector >= g->npools)
			return -EINVAL;
		*out = g->pools[selector];
		return 0;
	case CONFIG_SELECT_FIT:
		for (size_t i = 0; i < g->npools; i++) {
			struct layout_pool *p = g->pools[i];

			if (p->bp.block_size < selector)
				continue;
			if (!smallest || p->bp.block_size < smallest->bp.block_size)
				smallest = p;
			if (p->bp.num_free >= count &&
			    (!best || p->bp.block_size < best->bp.block_size))
				best = p;
		}
		if (best) {
			*out = best;
			return 0;
		}
		if (smallest) {
			*out = smallest;
			return -ENOMEM;
		}
		return -EINVAL;
	case CONFIG_SELECT_ATTR:
		for (size_t i = 0; i < g->npools; i++) {
			if (g->pools[i]->attr == selector) {
				*out = g->pools[i];
				return 0;
			}
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static void groups_free(struct layout_group *groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(groups[i].pools);
	free(groups);
}

static void instances_free(struct multiheap **instances, size_t n)
{
	for (size_t i = 0; i < n; i++)
		multiheap_destroy(instances[i]);
	free(instances);
}

void layout_destroy(struct layout *l)
{
	if (!l)
		return;
	groups_free(l->groups, l->ngroups);
	for (size_t i = 0; i < l->npools; i++) {
		blockpool_fini(&l->pools[i]->bp);
		free(l->pools[i]);
	}
	free(l->pools);
	instances_free(l->instances, l->ninstances);
	for (size_t i = 0; i < l->nregions; i++) {
		heap_destroy(l->heaps[i]);
		region_unmap(&l->regions[i]);
		region_cfg_free(&l->region_cfgs[i]);
	}
	free(l->heaps);
	free(l->region_instance);
	free(l->region_cfgs);
	free(l->regions);
	free(l->order);
	daemon_free(&l->daemon);
	free(l);
}

/* Map the regions and put a heap over each. */
static int build_regions(struct layout *l, const struct config *cfg, char *err, size_t errlen)
{
	char msg[512];
	int rc;

	l->regions = calloc(cfg->nregions + 1, sizeof(*l->regions));
	l->heaps = calloc(cfg->nregions + 1, sizeof(*l->heaps));
	l->region_instance = calloc(cfg->nregions + 1, sizeof(*l->region_instance));
	l->region_cfgs = calloc(cfg->nregions + 1, sizeof(*l->region_cfgs));
	l->order = calloc(cfg->nregions + 1, sizeof(*l->order));
	if (!l->regions || !l->heaps || !l->region_instance || !l->region_cfgs || !l->order) {
		layout_error(err, errlen, cfg, 0, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct config_region *cr = &cfg->regions[i];

		rc = region_map(cr, (uint32_t)i, &l->regions[i], msg, sizeof(msg));
		if (rc < 0) {
			layout_error(err, errlen, cfg, cr->line, "%s", msg);
			return rc;
		}
		rc = heap_create(l->regions[i].size, &l->heaps[i]);
		if (rc < 0) {
			region_unmap(&l->regions[i]);
			layout_error(err, errlen, cfg, cr->line, "region '%s': cannot create its heap: %s",
				     cr->name, strerror(-rc));
			return rc;
		}
		rc = region_cfg_copy(&l->region_cfgs[i], cr);
		if (rc < 0) {
			heap_destroy(l->heaps[i]);
			l->heaps[i] = NULL;
			region_unmap(&l->regions[i]);
			layout_error(err, errlen, cfg, cr->line, "out of memory");
			return rc;
		}
		l->order[i] = (uint32_t)i;
		l->nregions++;
		l->nlive++;
	}
	return 0;
}

/* Say why pool cp could not be carved (rc) in err. */
static void pool_error(char *err, size_t errlen, const struct config *cfg,
		       const struct config_pool *cp, int rc)
{
	char need[32], what[CONFIG_NAME_MAX + 32];

	config_size_human(blockpool_span_for(cp->block_size, cp->blocks, cp->align), need,
			  sizeof(need));
	if (!cp->by_attr)
		snprintf(what, sizeof(what), "region '%s'", cp->region);
	else if (config_attr_name(cfg, cp->attr))
		snprintf(what, sizeof(what), "attribute '%s'", config_attr_name(cfg, cp->attr));
	else
		snprintf(what, sizeof(what), "attribute %u", cp->attr);
	if (rc == -ENOMEM && !cp->by_attr)
		layout_error(err, errlen, cfg, cp->line, "pool '%s' (%s) does not fit in %s", cp->name,
			     need, what);
	else if (rc == -ENOMEM)
		layout_error(err, errlen, cfg, cp->line,
			     "pool '%s' (%s) does not fit in any region with %s", cp->name, need,
			     what);
	else if (rc == -ENOENT && !cp->by_attr)
		layout_error(err, errlen, cfg, cp->line, "pool '%s': unknown %s", cp->name, what);
	else if (rc == -ENOENT)
		layout_error(err, errlen, cfg, cp->line, "pool '%s': no region has %s", cp->name,
			     what);
	else
		layout_error(err, errlen, cfg, cp->line, "pool '%s': %s", cp->name, strerror(-rc));
}

/* Carve the configured pools in file order. */
static int build_pools(struct layout *l, const struct config *cfg, char *err, size_t errlen)
{
	int rc;

	for (size_t i = 0; i < cfg->npools; i++) {
		const struct config_pool *cp = &cfg->pools[i];
		struct layout_pool *pool;
		struct region *r = NULL;

		if (cp->by_attr) {
			rc = pool_carve_by_attr(l->heaps, l->regions, l->order, l->nlive, cp->name,
						cp->block_size, cp->blocks, cp->align, cp->attr, &pool);
		} else {
			r = layout_region_find(l, cp->region);
			rc = r ? pool_carve(l->heaps[r->id], r, cp->name, cp->block_size, cp->blocks,
					    cp->align, &pool) : -ENOENT;
		}
		if (rc == 0) {
			rc = pool_add(l, pool);
			if (rc < 0)
				pool_release(l, pool);
			else
				pool->configured = 1;
		}
		if (rc < 0) {
			pool_error(err, errlen, cfg, cp, rc);
			return rc;
		}
	}
	return 0;
}

/*
 * Make the heap instances of cfg, "default" first, then the [heap]
 * sections in file order.  Region j of cfg is region ids[j] of regions and
 * heaps; rinst[ids[j]] receives the index of the instance that holds it.
 * On failure nothing is left behind.
 */
static int instances_make(const struct config *cfg, const uint32_t *ids,
			  const struct region *regions, struct heap **heaps, size_t *rinst,
			  struct multiheap ***out, size_t *nout, char *err, size_t errlen)
{
	struct multiheap **v;
	size_t n = 0;
	int rc;

	v = calloc(cfg->nheaps + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto fail_oom;
	}
	rc = multiheap_create(CONFIG_DEFAULT_HEAP, &v[n]);
	if (rc < 0)
		goto fail_oom;
	n++;
	for (size_t i = 0; i < cfg->nheaps; i++) {
		if (strcmp(cfg->heaps[i].name, CONFIG_DEFAULT_HEAP) == 0)
			continue;
		rc = multiheap_create(cfg->heaps[i].name, &v[n]);
		if (rc < 0)
			goto fail_oom;
		n++;
	}
	for (size_t j = 0; j < cfg->nregions; j++) {
		const struct config_region *cr = &cfg->regions[j];
		uint32_t id = ids[j];
		size_t k;

		for (k = 0; k < n; k++) {
			if (strcmp(multiheap_name(v[k]), cr->heap) == 0)
				break;
		}
		if (k == n) {
			layout_error(err, errlen, cfg, cr->line, "region '%s': unknown heap '%s'",
				     cr->name, cr->heap);
			rc = -EINVAL;
			goto fail;
		}
		rc = multiheap_add(v[k], id, regions[id].attr, heaps[id]);
		if (rc < 0) {
			layout_error(err, errlen, cfg, cr->line, "region '%s': heap '%s': %s", cr->name,
				     cr->heap, strerror(-rc));
			goto fail;
		}
		rinst[id] = k;
	}
	*out = v;
	*nout = n;
	return 0;

fail_oom:
	layout_error(err, errlen, cfg, 0, "out of memory");
fail:
	if (v)
		instances_free(v, n);
	return rc;
}

/* How a group's pool names are turned into pools. */
typedef struct layout_pool *(*pool_lookup_fn)(void *ctx, const char *name);

/* Make the groups of cfg, their pools found through find.  On failure
 * nothing is left behind. */
static int groups_make(const struct config *cfg, pool_lookup_fn find, void *ctx,
		       struct layout_group **out, size_t *nout, char *err, size_t errlen)
{
	struct layout_group *groups;
	size_t n = 0;
	int rc;

	groups = calloc(cfg->ngroups + 1, sizeof(*groups));
	if (!groups)
		goto oom;
	for (size_t i = 0; i < cfg->ngroups; i++) {
		const struct config_group *cg = &cfg->groups[i];
		struct layout_group *g = &groups[i];

		snprintf(g->name, sizeof(g->name), "%s", cg->name);
		g->select = cg->select;
		g->pools = calloc(cg->npools + 1, sizeof(*g->pools));
		if (!g->pools)
			goto oom;
		n++;
		for (size_t k = 0; k < cg->npools; k++) {
			g->pools[k] = find(ctx, cg->pools[k]);
			if (!g->pools[k]) {
				layout_error(err, errlen, cfg, cg->line, "unknown pool '%s' in [group %s]",
					     cg->pools[k], cg->name);
				rc = -EINVAL;
				goto fail;
			}
			g->npools++;
		}
	}
	*out = groups;
	*nout = n;
	return 0;

oom:
	layout_error(err, errlen, cfg, 0, "out of memory");
	rc = -ENOMEM;
fail:
	if (groups)
		groups_free(groups, n);
	return rc;
}

static struct layout_pool *build_pool_lookup(void *ctx, const char *name)
{
	return layout_pool_find(ctx, name);
}

int layout_build(const struct config *cfg, struct layout **out, char *err, size_t errlen)
{
	struct layout *l;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !out)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		layout_error(err, errlen, cfg, 0, "out of memory");
		return -ENOMEM;
	}
	rc = daemon_copy(&l->daemon, &cfg->daemon);
	if (rc < 0) {
		layout_error(err, errlen, cfg, 0, "out of memory");
		goto fail;
	}
	rc = build_regions(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = build_pools(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = instances_make(cfg, l->order, l->regions, l->heaps, l->region_instance,
			    &l->instances, &l->ninstances, err, errlen);
	if (rc < 0)
		goto fail;
	rc = groups_make(cfg, build_pool_lookup, l, &l->groups, &l->ngroups, err, errlen);
	if (rc < 0)
		goto fail;
	*out = l;
	return 0;

fail:
	layout_destroy(l);
	return rc;
}

/*
 * Reload.
 *
 * Everything that can fail is prepared aside first: the new region tables
 * (copies of the old ones plus the newly mapped regions), the new pools
 * carved in their heaps, the new heap instances and groups.  Only then is
 * the layout changed, by steps that cannot fail.  Undoing a prepared
 * reload unmaps the new regions and gives the new pools' room back, which
 * leaves every heap with the free space it had.
 */

enum reload_fate {
	FATE_KEEP = 0,
	FATE_RETIRE,                            /* region: unmapped; pool: marked retired */
	FATE_REMOVE,                            /* pool: freed with its retired region */
};

struct reload {
	struct layout *l;
	const struct config *cfg;
	char *report;
	size_t len;
	int *rfate;                             /* by old region id */
	uint32_t *ids;                          /* by cfg region: its id; the new l->order */
	struct region *regions;                 /* the region tables after the reload */
	struct heap **heaps;
	struct config_region *rcfgs;
	size_t *rinst;
	size_t nregions;
	size_t nmapped;                         /* new regions mapped, from id l->nregions on */
	int *pfate;                             /* by index in l->pools */
	struct layout_pool **final;             /* by cfg pool: that pool after the reload */
	struct layout_pool **carved;            /* the new pools, by ascending id */
	size_t ncarved;
	struct layout_pool **pools;             /* l->pools after the reload */
	size_t npools;
	struct multiheap **instances;
	size_t ninstances;
	struct layout_group *groups;
	size_t ngroups;
	struct config_daemon daemon;
};

/* Put the reason for refusing the reload in the report, replacing
 * anything there. */
__attribute__((format(printf, 2, 3)))
static void reload_refuse(struct reload *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!r->report || !r->len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->report, r->len, "%s\n", msg);
}

static void report_vadd(char *report, size_t len, const char *fmt, va_list ap)
{
	size_t used;
	char msg[512];

	if (!report || len == 0)
		return;
	used = strlen(report);
	if (used + 1 >= len)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(report + used, len - used, "%s\n", msg);
}

void layout_report_add(char *report, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vadd(report, len, fmt, ap);
	va_end(ap);
}

/* Add a line to the report; what does not fit is cut off. */
__attribute__((format(printf, 2, 3)))
static void reload_say(struct reload *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vadd(r->report, r->len, fmt, ap);
	va_end(ap);
}

/*
 * Whether region id has live allocations: a block of one of its pools
 * (retired ones included), a heap block that is no pool's carve-out (a
 * multi-heap allocation), or whatever in_use knows of.
 */
static int region_busy(const struct layout *l, uint32_t id, layout_in_use_fn in_use, void *ctx)
{
	struct heap_stat st;
	uint64_t carved = 0;

	for (size_t i = 0; i < l->npools; i++) {
		const struct layout_pool *p = l->pools[i];

		if (p->region_id != id)
			continue;
		if (p->bp.num_free != p->bp.num_blocks)
			return 1;
		carved++;
	}
	heap_stat(l->heaps[id], &st);
	if (st.num_used > carved)
		return 1;
	return in_use && in_use(ctx, id);
}

/* Decide the fate of every region, refuse when one that is to go is busy,
 * and map the new ones into the new region tables. */
static int reload_regions(struct reload *r, layout_in_use_fn in_use, void *ctx)
{
	struct layout *l = r->l;
	const struct config *cfg = r->cfg;
	const char *file = cfg->path ? cfg->path : "<config>";
	size_t nmap = 0;
	char msg[512];
	int rc;

	r->rfate = calloc(l->nregions + 1, sizeof(*r->rfate));
	r->ids = calloc(cfg->nregions + 1, sizeof(*r->ids));
	if (!r->rfate || !r->ids)
		goto oom;
	for (size_t j = 0; j < cfg->nregions; j++)
		r->ids[j] = UINT32_MAX;
	for (size_t i = 0; i < l->nregions; i++) {
		const struct config_region *cr;

		if (!l->heaps[i])
			continue;
		cr = config_region_find(cfg, l->regions[i].name);
		if (cr && region_cfg_same(&l->region_cfgs[i], cr))
			r->ids[cr - cfg->regions] = (uint32_t)i;
		else
			r->rfate[i] = FATE_RETIRE;
	}
	for (size_t i = 0; i < l->nregions; i++) {
		if (r->rfate[i] == FATE_RETIRE && region_busy(l, (uint32_t)i, in_use, ctx)) {
			reload_refuse(r, "region '%s' is in use; refusing to change it",
				      l->regions[i].name);
			return -EBUSY;
		}
	}
	for (size_t j = 0; j < cfg->nregions; j++)
		nmap += r->ids[j] == UINT32_MAX;
	r->nregions = l->nregions + nmap;
	if (r->nregions > LAYOUT_REGION_IDS) {
		reload_refuse(r, "region ids are used up (%u); restart the daemon to apply this",
			      LAYOUT_REGION_IDS);
		return -ENOSPC;
	}
	r->regions = calloc(r->nregions + 1, sizeof(*r->regions));
	r->heaps = calloc(r->nregions + 1, sizeof(*r->heaps));
	r->rcfgs = calloc(r->nregions + 1, sizeof(*r->rcfgs));
	r->rinst = calloc(r->nregions + 1, sizeof(*r->rinst));
	if (!r->regions || !r->heaps || !r->rcfgs || !r->rinst)
		goto oom;
	/* Shallow copies: the old and new tables share fds, mappings and
	 * paths until the commit frees the old tables alone. */
	memcpy(r->regions, l->regions, l->nregions * sizeof(*r->regions));
	memcpy(r->heaps, l->heaps, l->nregions * sizeof(*r->heaps));
	memcpy(r->rcfgs, l->region_cfgs, l->nregions * sizeof(*r->rcfgs));
	for (size_t i = 0; i < r->nregions; i++)
		r->rinst[i] = SIZE_MAX;
	for (size_t j = 0; j < cfg->nregions; j++) {
		const struct config_region *cr = &cfg->regions[j];
		uint32_t id = (uint32_t)(l->nregions + r->nmapped);

		if (r->ids[j] != UINT32_MAX) {
			struct config_region *kept = &r->rcfgs[r->ids[j]];

			/* Kept: only the line, the instance, the access list and
			 * scrub may differ.  The new access list is a copy of its
			 * own, which the commit keeps and the undo frees. */
			kept->line = cr->line;
			memcpy(kept->heap, cr->heap, sizeof(cr->heap));
			kept->scrub = cr->scrub;
			if (config_acl_copy(&kept->acl, &cr->acl) < 0) {
				kept->acl = l->region_cfgs[r->ids[j]].acl;
				goto oom;
			}
			continue;
		}
		rc = region_map(cr, id, &r->regions[id], msg, sizeof(msg));
		if (rc < 0) {
			reload_refuse(r, "%s:%d: %s", file, cr->line, msg);
			return rc;
		}
		rc = heap_create(r->regions[id].size, &r->heaps[id]);
		if (rc < 0) {
			region_unmap(&r->regions[id]);
			reload_refuse(r, "%s:%d: region '%s': cannot create its heap: %s", file,
				      cr->line, cr->name, strerror(-rc));
			return rc;
		}
		if (region_cfg_copy(&r->rcfgs[id], cr) < 0) {
			heap_destroy(r->heaps[id]);
			r->heaps[id] = NULL;
			region_unmap(&r->regions[id]);
			goto oom;
		}
		r->ids[j] = id;
		r->nmapped++;
	}
	return 0;

oom:
	reload_refuse(r, "out of memory");
	return -ENOMEM;
}

/* Whether live pool lp already is what cp describes, in a region that
 * stays (the caller checks that). */
static int pool_same(const struct layout_pool *lp, const struct config_pool *cp,
		     const struct region *region)
{
	if (lp->bp.block_size != cp->block_size || lp->bp.num_blocks != cp->blocks ||
	    lp->bp.align != cp->align)
		return 0;
	if (cp->by_attr)
		return region->attr == cp->attr;
	return strcmp(region->name, cp->region) == 0;
}

/* Say in the report why the pool cp could not be carved (rc). */
static void reload_pool_refuse(struct reload *r, const struct config_pool *cp, int rc)
{
	const char *attr_name = config_attr_name(r->cfg, cp->attr);
	char what[CONFIG_NAME_MAX + 32];

	if (!cp->by_attr)
		snprintf(what, sizeof(what), "region '%s'", cp->region);
	else if (attr_name)
		snprintf(what, sizeof(what), "attribute '%s'", attr_name);
	else
		snprintf(what, sizeof(what), "attribute %u", cp->attr);
	if (rc == -ENOMEM && !cp->by_attr)
		reload_refuse(r, "pool '%s': not enough room in %s", cp->name, what);
	else if (rc == -ENOMEM)
		reload_refuse(r, "pool '%s': not enough room in any region with %s", cp->name,
			      what);
	else if (rc == -ENOENT && !cp->by_attr)
		reload_refuse(r, "pool '%s': unknown %s", cp->name, what);
	else if (rc == -ENOENT)
		reload_refuse(r, "pool '%s': no region has %s", cp->name, what);
	else
		reload_refuse(r, "pool '%s': %s", cp->name, strerror(-rc));
}

/* Decide the fate of every pool, carve the new and changed ones, and make
 * the new pool list. */
static int reload_pools(struct reload *r)
{
	struct layout *l = r->l;
	const struct config *cfg = r->cfg;
	size_t n = 0;
	int rc;

	r->pfate = calloc(l->npools + 1, sizeof(*r->pfate));
	r->final = calloc(cfg->npools + 1, sizeof(*r->final));
	r->carved = calloc(cfg->npools + 1, sizeof(*r->carved));
	if (!r->pfate || !r->final || !r->carved)
		goto oom;
	for (size_t i = 0; i < l->npools; i++) {
		struct layout_pool *lp = l->pools[i];
		const struct config_pool *cp;

		if (r->rfate[lp->region_id] == FATE_RETIRE) {
			r->pfate[i] = FATE_REMOVE;
			continue;
		}
		if (lp->retired)
			continue;
		cp = config_pool_find(cfg, lp->name);
		if (!cp) {
			/* Pools made at run time are not the file's to remove. */
			if (lp->configured)
				r->pfate[i] = FATE_RETIRE;
			continue;
		}
		if (pool_same(lp, cp, &l->regions[lp->region_id]))
			r->final[cp - cfg->pools] = lp;
		else
			r->pfate[i] = FATE_RETIRE;
	}
	for (size_t j = 0; j < cfg->npools; j++) {
		const struct config_pool *cp = &cfg->pools[j];
		const struct config_region *cr;
		struct layout_pool *pool;

		if (r->final[j])
			continue;
		if (cp->by_attr) {
			rc = pool_carve_by_attr(r->heaps, r->regions, r->ids, cfg->nregions, cp->name,
						cp->block_size, cp->blocks, cp->align, cp->attr, &pool);
		} else {
			cr = config_region_find(cfg, cp->region);
			rc = -ENOENT;
			if (cr) {
				uint32_t id = r->ids[cr - cfg->regions];

				rc = pool_carve(r->heaps[id], &r->regions[id], cp->name, cp->block_size,
						cp->blocks, cp->align, &pool);
			}
		}
		if (rc < 0) {
			reload_pool_refuse(r, cp, rc);
			return rc;
		}
		pool->id = l->next_pool_id + (uint32_t)r->ncarved;
		pool->configured = 1;
		r->carved[r->ncarved++] = pool;
		r->final[j] = pool;
	}
	r->pools = calloc(l->npools + r->ncarved + 1, sizeof(*r->pools));
	if (!r->pools)
		goto oom;
	for (size_t i = 0; i < l->npools; i++) {
		if (r->pfate[i] != FATE_REMOVE)
			r->pools[n++] = l->pools[i];
	}
	for (size_t k = 0; k < r->ncarved; k++)
		r->pools[n++] = r->carved[k];
	r->npools = n;
	return 0;

oom:
	reload_refuse(r, "out of memory");
	return -ENOMEM;
}

/* A group's pool after the reload: the file's pool of that name, or a pool
 * made at run time that stays. */
static struct layout_pool *reload_pool_lookup(void *ctx, const char *name)
{
	struct reload *r = ctx;
	const struct config_pool *cp = config_pool_find(r->cfg, name);

	if (cp)
		return r->final[cp - r->cfg->pools];
	for (size_t i = 0; i < r->l->npools; i++) {
		struct layout_pool *lp = r->l->pools[i];

		if (!lp->retired && r->pfate[i] == FATE_KEEP && strcmp(lp->name, name) == 0)
			return lp;
	}
	return NULL;
}

static size_t pool_index(const struct layout *l, const struct layout_pool *lp)
{
	size_t i;

	for (i = 0; i < l->npools && l->pools[i] != lp; i++)
		;
	return i;
}

static struct multiheap *instance_find(struct multiheap **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(multiheap_name(v[i]), name) == 0)
			return v[i];
	}
	return NULL;
}

/* Whether two heap instances hold the same regions in the same order. */
static int instance_same(const struct multiheap *a, const struct multiheap *b)
{
	size_t n = multiheap_count(a);

	if (n != multiheap_count(b))
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t ra, rb, aa, ab;
		struct heap *ha, *hb;

		multiheap_get(a, i, &ra, &aa, &ha);
		multiheap_get(b, i, &rb, &ab, &hb);
		if (ra != rb || ha != hb)
			return 0;
	}
	return 1;
}

static struct layout_group *group_find(struct layout_group *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	}
	return NULL;
}

static int group_same(const struct layout_group *a, const struct layout_group *b)
{
	if (a->select != b->select || a->npools != b->npools)
		return 0;
	for (size_t i = 0; i < a->npools; i++) {
		if (a->pools[i] != b->pools[i])
			return 0;
	}
	return 1;
}

static void reload_report_daemon(struct reload *r)
{
	const struct config_daemon *od = &r->l->daemon, *nd = &r->cfg->daemon;

	if (!str_same(od->socket, nd->socket))
		reload_say(r, "[daemon] socket change needs a restart");
	if (!str_same(od->socket_group, nd->socket_group))
		reload_say(r, "[daemon] socket_group change needs a restart");
	if (!str_same(od->admin_group, nd->admin_group))
		reload_say(r, "[daemon] admin_group changed to %s",
			   nd->admin_group ? nd->admin_group : "(none)");
	if (od->socket_mode != nd->socket_mode)
		reload_say(r, "[daemon] socket_mode changed to %04o", nd->socket_mode);
	if (od->max_clients != nd->max_clients)
		reload_say(r, "[daemon] max_clients changed to %u", nd->max_clients);
	if (od->log_level != nd->log_level)
		reload_say(r, "[daemon] log_level changed to %s", log_level_name(nd->log_level));
}

static void reload_report_regions(struct reload *r)
{
	struct layout *l = r->l;
	const struct config *cfg = r->cfg;

	for (size_t i = 0; i < l->nregions; i++) {
		const struct config_region *cr;

		if (r->rfate[i] != FATE_RETIRE)
			continue;
		cr = config_region_find(cfg, l->regions[i].name);
		if (cr)
			reload_say(r, "region '%s' changed: id %zu retired, new id %u",
				   l->regions[i].name, i, r->ids[cr - cfg->regions]);
		else
			reload_say(r, "region '%s' retired (id %zu)", l->regions[i].name, i);
	}
	for (size_t j = 0; j < cfg->nregions; j++) {
		if (r->ids[j] >= l->nregions && !layout_region_find(l, cfg->regions[j].name))
			reload_say(r, "region '%s' added (id %u)", cfg->regions[j].name, r->ids[j]);
	}
}

static void reload_report_pools(struct reload *r)
{
	struct layout *l = r->l;
	const struct config *cfg = r->cfg;

	for (size_t i = 0; i < l->npools; i++) {
		const struct layout_pool *lp = l->pools[i];
		const char *region = l->regions[lp->region_id].name;
		int in_file = config_pool_find(cfg, lp->name) != NULL;

		if (r->pfate[i] == FATE_REMOVE && lp->retired)
			reload_say(r, "retired pool '%s' (id %u) removed with region '%s'", lp->name,
				   lp->id, region);
		else if (r->pfate[i] == FATE_REMOVE && !in_file)
			reload_say(r, "pool '%s' (id %u) removed with region '%s'", lp->name, lp->id,
				   region);
		else if (r->pfate[i] == FATE_RETIRE && !in_file)
			reload_say(r, "pool '%s' retired (id %u)", lp->name, lp->id);
		else if (r->pfate[i] == FATE_KEEP && !lp->retired && !lp->configured && in_file)
			reload_say(r, "pool '%s' (id %u) is now in the configuration", lp->name,
				   lp->id);
	}
	for (size_t k = 0; k < r->ncarved; k++) {
		const struct layout_pool *np = r->carved[k];
		const struct layout_pool *old = layout_pool_find(l, np->name);

		if (!old)
			reload_say(r, "pool '%s' added (id %u)", np->name, np->id);
		else if (r->pfate[pool_index(l, old)] == FATE_RETIRE)
			reload_say(r, "pool '%s' changed: id %u retired, new id %u", np->name,
				   old->id, np->id);
		else
			reload_say(r, "pool '%s' re-created: id %u went with region '%s', new id %u",
				   np->name, old->id, l->regions[old->region_id].name, np->id);
	}
}

static void reload_report_heaps_groups(struct reload *r)
{
	struct layout *l = r->l;

	for (size_t k = 0; k < l->ninstances; k++) {
		const char *name = multiheap_name(l->instances[k]);
		struct multiheap *mh = instance_find(r->instances, r->ninstances, name);

		if (!mh)
			reload_say(r, "heap '%s' removed", name);
		else if (!instance_same(l->instances[k], mh))
			reload_say(r, "heap '%s' updated", name);
	}
	for (size_t k = 0; k < r->ninstances; k++) {
		const char *name = multiheap_name(r->instances[k]);

		if (!instance_find(l->instances, l->ninstances, name))
			reload_say(r, "heap '%s' added", name);
	}
	for (size_t g = 0; g < l->ngroups; g++) {
		struct layout_group *ng = group_find(r->groups, r->ngroups, l->groups[g].name);

		if (!ng)
			reload_say(r, "group '%s' removed", l->groups[g].name);
		else if (!group_same(&l->groups[g], ng))
			reload_say(r, "group '%s' updated", l->groups[g].name);
	}
	for (size_t g = 0; g < r->ngroups; g++) {
		if (!group_find(l->groups, l->ngroups, r->groups[g].name))
			reload_say(r, "group '%s' added", r->groups[g].name);
	}
}

/* Whether a kept region got a new access list: the new tables start as
 * shallow copies of the old ones, and a fresh copy never shares a list
 * with the old one (empty lists are NULL on both sides). */
static int acl_replaced(const struct config_acl *now, const struct config_acl *was)
{
	return now->allow_users != was->allow_users || now->allow_groups != was->allow_groups ||
	       now->read_only_users != was->read_only_users ||
	       now->read_only_groups != was->read_only_groups;
}

/* Give back everything a reload prepared; the layout is as it was. */
static void reload_undo(struct reload *r)
{
	struct layout *l = r->l;

	for (size_t k = 0; k < r->ncarved; k++) {
		struct layout_pool *pool = r->carved[k];

		heap_free(r->heaps[pool->region_id], pool->base);
		blockpool_fini(&pool->bp);
		free(pool);
	}
	instances_free(r->instances, r->ninstances);
	groups_free(r->groups, r->ngroups);
	for (size_t id = l->nregions; id < l->nregions + r->nmapped; id++) {
		heap_destroy(r->heaps[id]);
		region_unmap(&r->regions[id]);
		region_cfg_free(&r->rcfgs[id]);
	}
	for (size_t id = 0; r->rcfgs && id < l->nregions; id++) {
		if (acl_replaced(&r->rcfgs[id].acl, &l->region_cfgs[id].acl))
			config_acl_free(&r->rcfgs[id].acl);
	}
	free(r->regions);
	free(r->heaps);
	free(r->rcfgs);
	free(r->rinst);
	free(r->ids);
	free(r->rfate);
	free(r->pfate);
	free(r->final);
	free(r->carved);
	free(r->pools);
	daemon_free(&r->daemon);
}

/* Make the prepared reload the layout; nothing here can fail. */
static void reload_commit(struct reload *r)
{
	struct layout *l = r->l;

	for (size_t i = 0; i < l->npools; i++) {
		struct layout_pool *lp = l->pools[i];

		/* A removed pool's room goes with its region's heap below. */
		if (r->pfate[i] == FATE_REMOVE) {
			blockpool_fini(&lp->bp);
			free(lp);
		} else if (r->pfate[i] == FATE_RETIRE) {
			lp->retired = 1;
		}
	}
	for (size_t j = 0; j < r->cfg->npools; j++)
		r->final[j]->configured = 1;
	for (size_t i = 0; i < l->nregions; i++) {
		if (r->rfate[i] != FATE_RETIRE)
			continue;
		heap_destroy(r->heaps[i]);
		r->heaps[i] = NULL;
		region_unmap(&r->regions[i]);
		region_cfg_free(&r->rcfgs[i]);
	}
	for (size_t i = 0; i < l->nregions; i++) {
		if (r->rfate[i] != FATE_RETIRE &&
		    acl_replaced(&r->rcfgs[i].acl, &l->region_cfgs[i].acl))
			config_acl_free(&l->region_cfgs[i].acl);
	}
	instances_free(l->instances, l->ninstances);
	groups_free(l->groups, l->ngroups);
	free(l->regions);
	free(l->heaps);
	free(l->region_cfgs);
	free(l->region_instance);
	free(l->order);
	free(l->pools);
	daemon_free(&l->daemon);

	l->regions = r->regions;
	l->heaps = r->heaps;
	l->region_cfgs = r->rcfgs;
	l->region_instance = r->rinst;
	l->nregions = r->nregions;
	l->order = r->ids;
	l->nlive = r->cfg->nregions;
	l->instances = r->instances;
	l->ninstances = r->ninstances;
	l->pools = r->pools;
	l->npools = r->npools;
	l->next_pool_id += (uint32_t)r->ncarved;
	l->groups = r->groups;
	l->ngroups = r->ngroups;
	l->daemon = r->daemon;

	free(r->rfate);
	free(r->pfate);
	free(r->final);
	free(r->carved);
}

int layout_reload(struct layout *l, const struct config *cfg, layout_in_use_fn in_use, void *ctx,
		  char *report, size_t len)
{
	struct reload r = { .l = l, .cfg = cfg, .report = report, .len = len };
	char err[1024];
	int rc;

	if (!l || !cfg || (!report && len))
		return -EINVAL;
	if (len)
		report[0] = '\0';
	rc = reload_regions(&r, in_use, ctx);
	if (rc < 0)
		goto fail;
	rc = reload_pools(&r);
	if (rc < 0)
		goto fail;
	rc = instances_make(cfg, r.ids, r.regions, r.heaps, r.rinst, &r.instances, &r.ninstances,
			    err, sizeof(err));
	if (rc < 0) {
		reload_refuse(&r, "%s", err);
		goto fail;
	}
	rc = groups_make(cfg, reload_pool_lookup, &r, &r.groups, &r.ngroups, err, sizeof(err));
	if (rc < 0) {
		reload_refuse(&r, "%s", err);
		goto fail;
	}
	rc = daemon_copy(&r.daemon, &cfg->daemon);
	if (rc < 0) {
		reload_refuse(&r, "out of memory");
		goto fail;
	}
	reload_report_daemon(&r);
	reload_report_regions(&r);
	reload_report_pools(&r);
	reload_report_heaps_groups(&r);
	reload_commit(&r);
	return 0;

fail:
	reload_undo(&r);
	return rc;
}
