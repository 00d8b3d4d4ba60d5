/*
 * layout: regions, heaps, pools, heap instances and groups built from a
 * configuration, and the pools made and unmade at run time.
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

struct region *layout_region_find(const struct layout *l, const char *name)
{
	for (size_t i = 0; l && name && i < l->nregions; i++) {
		if (strcmp(l->regions[i].name, name) == 0)
			return &l->regions[i];
	}
	return NULL;
}

struct layout_pool *layout_pool_find(const struct layout *l, const char *name)
{
	for (size_t i = 0; l && name && i < l->npools; i++) {
		if (strcmp(l->pools[i]->name, name) == 0)
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
	if (!l || region_id >= l->nregions)
		return NULL;
	return l->instances[l->region_instance[region_id]];
}

/* Take span bytes for a new pool out of region ri's heap and set up its
 * block bookkeeping.  The pool is not yet listed in the layout. */
static int pool_carve(struct layout *l, size_t ri, const char *name, uint64_t block_size,
		      uint64_t blocks, uint64_t align, struct layout_pool **out)
{
	struct layout_pool *pool;
	uint64_t span, off;
	int rc;

	span = blockpool_span_for(block_size, blocks, align);
	if (span == 0)
		return -ENOMEM;
	rc = heap_aligned_alloc(l->heaps[ri], align < HEAP_MIN_ALIGN ? HEAP_MIN_ALIGN : align, span,
				&off);
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
	pool->region_id = (uint32_t)ri;
	pool->attr = l->regions[ri].attr;
	pool->base = off;
	*out = pool;
	return 0;

fail_pool:
	free(pool);
fail_free:
	heap_free(l->heaps[ri], off);
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

static void pool_release(struct layout *l, struct layout_pool *pool)
{
	heap_free(l->heaps[pool->region_id], pool->base);
	blockpool_fini(&pool->bp);
	free(pool);
}

/* Carve a pool in the first region with attr that has room: -ENOENT when
 * no region has attr, -ENOMEM when none has room. */
static int pool_carve_by_attr(struct layout *l, const char *name, uint64_t block_size,
			      uint64_t blocks, uint64_t align, uint32_t attr,
			      struct layout_pool **out)
{
	int rc = -ENOENT;

	for (size_t i = 0; i < l->nregions; i++) {
		if (l->regions[i].attr != attr)
			continue;
		rc = pool_carve(l, i, name, block_size, blocks, align, out);
		if (rc != -ENOMEM)
			return rc;
	}
	return rc;
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
		rc = pool_carve(l, r->id, name, block_size, blocks, align, &pool);
	} else {
		if (attr > CONFIG_ATTR_MAX)
			return -EINVAL;
		rc = pool_carve_by_attr(l, name, block_size, blocks, align, attr, &pool);
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
		if (strcmp(l->pools[i]->name, name) == 0)
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
	memmove(&l->pools[i], &l->pools[i + 1], (l->npools - i - 1) * sizeof(*l->pools));
	l->npools--;
	pool_release(l, pool);
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

void layout_destroy(struct layout *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ngroups; i++)
		free(l->groups[i].pools);
	free(l->groups);
	for (size_t i = 0; i < l->npools; i++) {
		blockpool_fini(&l->pools[i]->bp);
		free(l->pools[i]);
	}
	free(l->pools);
	for (size_t i = 0; i < l->ninstances; i++)
		multiheap_destroy(l->instances[i]);
	free(l->instances);
	for (size_t i = 0; i < l->nregions; i++) {
		heap_destroy(l->heaps[i]);
		region_unmap(&l->regions[i]);
	}
	free(l->heaps);
	free(l->region_instance);
	free(l->regions);
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
	if (!l->regions || !l->heaps || !l->region_instance) {
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
		l->nregions++;
	}
	return 0;
}

/* Carve the configured pools in file order. */
static int build_pools(struct layout *l, const struct config *cfg, char *err, size_t errlen)
{
	char need[32], what[CONFIG_NAME_MAX + 32];
	int rc;

	for (size_t i = 0; i < cfg->npools; i++) {
		const struct config_pool *cp = &cfg->pools[i];
		struct layout_pool *pool;
		struct region *r = NULL;

		if (cp->by_attr) {
			rc = pool_carve_by_attr(l, cp->name, cp->block_size, cp->blocks, cp->align,
						cp->attr, &pool);
		} else {
			r = layout_region_find(l, cp->region);
			rc = r ? pool_carve(l, r->id, cp->name, cp->block_size, cp->blocks, cp->align,
					    &pool) : -ENOENT;
		}
		if (rc == 0) {
			rc = pool_add(l, pool);
			if (rc < 0)
				pool_release(l, pool);
			else
				pool->configured = 1;
		}
		if (rc == 0)
			continue;
		config_size_human(blockpool_span_for(cp->block_size, cp->blocks, cp->align), need,
				  sizeof(need));
		if (!cp->by_attr)
			snprintf(what, sizeof(what), "region '%s'", cp->region);
		else if (config_attr_name(cfg, cp->attr))
			snprintf(what, sizeof(what), "attribute '%s'", config_attr_name(cfg, cp->attr));
		else
			snprintf(what, sizeof(what), "attribute %u", cp->attr);
		if (rc == -ENOMEM && !cp->by_attr)
			layout_error(err, errlen, cfg, cp->line, "pool '%s' (%s) does not fit in %s",
				     cp->name, need, what);
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
			layout_error(err, errlen, cfg, cp->line, "pool '%s': %s", cp->name,
				     strerror(-rc));
		return rc;
	}
	return 0;
}

/* The heap instances: "default" first, then the [heap] sections. */
static int build_instances(struct layout *l, const struct config *cfg, char *err, size_t errlen)
{
	int rc;

	l->instances = calloc(cfg->nheaps + 1, sizeof(*l->instances));
	if (!l->instances)
		goto oom;
	rc = multiheap_create(CONFIG_DEFAULT_HEAP, &l->instances[0]);
	if (rc < 0)
		goto oom;
	l->ninstances = 1;
	for (size_t i = 0; i < cfg->nheaps; i++) {
		if (strcmp(cfg->heaps[i].name, CONFIG_DEFAULT_HEAP) == 0)
			continue;
		rc = multiheap_create(cfg->heaps[i].name, &l->instances[l->ninstances]);
		if (rc < 0)
			goto oom;
		l->ninstances++;
	}
	for (size_t i = 0; i < l->nregions; i++) {
		const struct config_region *cr = &cfg->regions[i];
		size_t k;

		for (k = 0; k < l->ninstances; k++) {
			if (strcmp(multiheap_name(l->instances[k]), cr->heap) == 0)
				break;
		}
		if (k == l->ninstances) {
			layout_error(err, errlen, cfg, cr->line, "region '%s': unknown heap '%s'",
				     cr->name, cr->heap);
			return -EINVAL;
		}
		rc = multiheap_add(l->instances[k], (uint32_t)i, l->regions[i].attr, l->heaps[i]);
		if (rc < 0) {
			layout_error(err, errlen, cfg, cr->line, "region '%s': heap '%s': %s", cr->name,
				     cr->heap, strerror(-rc));
			return rc;
		}
		l->region_instance[i] = k;
	}
	return 0;

oom:
	layout_error(err, errlen, cfg, 0, "out of memory");
	return -ENOMEM;
}

static int build_groups(struct layout *l, const struct config *cfg, char *err, size_t errlen)
{
	l->groups = calloc(cfg->ngroups + 1, sizeof(*l->groups));
	if (!l->groups)
		goto oom;
	for (size_t i = 0; i < cfg->ngroups; i++) {
		const struct config_group *cg = &cfg->groups[i];
		struct layout_group *g = &l->groups[i];

		snprintf(g->name, sizeof(g->name), "%s", cg->name);
		g->select = cg->select;
		g->pools = calloc(cg->npools + 1, sizeof(*g->pools));
		if (!g->pools)
			goto oom;
		l->ngroups++;
		for (size_t k = 0; k < cg->npools; k++) {
			g->pools[k] = layout_pool_find(l, cg->pools[k]);
			if (!g->pools[k]) {
				layout_error(err, errlen, cfg, cg->line, "unknown pool '%s' in [group %s]",
					     cg->pools[k], cg->name);
				return -EINVAL;
			}
			g->npools++;
		}
	}
	return 0;

oom:
	layout_error(err, errlen, cfg, 0, "out of memory");
	return -ENOMEM;
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
	rc = build_regions(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = build_pools(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = build_instances(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	rc = build_groups(l, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	*out = l;
	return 0;

fail:
	layout_destroy(l);
	return rc;
}
