/*
 * layout: a configuration turned into live objects.
 *
 * layout_build maps every region (region id = its index in file order),
 * puts one heap over each, carves every configured pool out of its region's
 * heap, gathers the heaps into heap instances (multiheaps) and resolves the
 * groups.  What the pools leave of a region serves the multi-heap
 * allocations of its instance.  The daemon then keeps the layout for its
 * lifetime and creates and destroys pools at run time through it.
 *
 * Heap instances: "default" always exists, first, and holds every region
 * named in no [heap] section (plus those of an explicit [heap default]);
 * it may be empty.  The other instances follow in file order.  Inside an
 * instance the regions are tried in file order.
 *
 * Pool ids are handed out in creation order and never reused, so a client
 * holding the id of a destroyed pool cannot reach a newer one.
 *
 * layout_reload applies a new configuration to a live layout (SIGHUP).
 * Region ids are never reused either: a region that a reload changes or
 * removes is retired (unmapped, fd -1, base NULL, heaps[id] NULL) and keeps
 * its slot, and a changed region comes back under a new id, so an id a
 * client cached can never name a different segment.  A pool the reload
 * changes or removes is retired: it stays listed under its id until the
 * daemon removes it with layout_pool_remove once it is unused.
 */
#ifndef SHMPOOL_LAYOUT_H
#define SHMPOOL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "blockpool.h"
#include "config.h"
#include "heap.h"
#include "multiheap.h"
#include "region.h"

/* Region ids stay below this: a block reference (struct proto_ref)
 * carries its region id in 16 bits.  Reloads that would go beyond it are
 * refused; a restart numbers the regions from 0 again. */
#define LAYOUT_REGION_IDS 65536u

struct layout_pool {
	char name[CONFIG_NAME_MAX];
	uint32_t id;
	uint32_t region_id;
	uint32_t attr;                          /* its region's */
	uint64_t base;                          /* offset of block 0 in the region */
	struct blockpool bp;                    /* offsets relative to base */
	int configured;                         /* from the file, not made at run time */
	int retired;                            /* removed or changed by a reload */
	void *priv;                             /* the daemon's per-pool state */
};

struct layout_group {
	char name[CONFIG_NAME_MAX];
	enum config_select select;
	struct layout_pool **pools;             /* in the order listed */
	size_t npools;
};

struct layout {
	struct region *regions;                 /* regions[i].id == i; retired ones too */
	struct heap **heaps;                    /* heaps[i] manages regions[i]; NULL: retired */
	size_t *region_instance;                /* instances[region_instance[i]] holds region i */
	struct config_region *region_cfgs;      /* what regions[i] was mapped from */
	size_t nregions;
	uint32_t *order;                        /* ids of the live regions, in file order */
	size_t nlive;
	struct multiheap **instances;           /* instances[0] is "default" */
	size_t ninstances;
	struct layout_pool **pools;             /* by ascending id */
	size_t npools;
	uint32_t next_pool_id;
	struct layout_group *groups;
	size_t ngroups;
	struct config_daemon daemon;            /* [daemon] as last built or reloaded */
};

/* Build everything cfg describes.  On failure nothing stays mapped, err
 * holds "FILE:LINE: message" and the return value is the negative errno of
 * the step that failed (-ENOMEM when a pool does not fit). */
int layout_build(const struct config *cfg, struct layout **out, char *err, size_t errlen);

/* Unmap every region and free everything; pools' priv is the caller's. */
void layout_destroy(struct layout *l);

/* Lookups; NULL when there is none.  Lookups by name skip retired regions
 * and pools; layout_pool_by_id finds retired pools too. */
struct region *layout_region_find(const struct layout *l, const char *name);
struct layout_pool *layout_pool_find(const struct layout *l, const char *name);
struct layout_pool *layout_pool_by_id(const struct layout *l, uint32_t id);
struct layout_group *layout_group_find(const struct layout *l, const char *name);

/* A heap instance by name; NULL or "" is "default". */
struct multiheap *layout_heap_find(const struct layout *l, const char *name);

/* The heap instance holding region_id, or NULL (also for a retired region). */
struct multiheap *layout_region_instance(const struct layout *l, uint32_t region_id);

/*
 * Create a pool at run time, in the named region, or, when region is NULL,
 * in the first region in file order that has attribute attr and room (attr
 * is ignored when a region is named).  align 0 means 16.
 *   name empty or too long, zero size or count, count above
 *   UINT32_MAX - 1, align not a power of two or above 1 GiB,
 *   attr above 31                                   -EINVAL
 *   a pool of that name exists                      -EEXIST
 *   no such region, no region with that attribute   -ENOENT
 *   no room                                         -ENOMEM
 */
int layout_pool_create(struct layout *l, const char *name, uint64_t block_size, uint64_t blocks,
		       uint64_t align, uint32_t attr, const char *region, struct layout_pool **out);

/* Destroy a pool and give its memory back to its region's heap.
 * -ENOENT for an unknown (or retired) pool, -EBUSY while any block is
 * allocated or a group lists it. */
int layout_pool_destroy(struct layout *l, const char *name);

/* Remove a pool object for good and give its carve-out back to its
 * region's heap.  -EBUSY while any block is allocated.  Works for retired
 * pools (which layout_pool_find no longer finds by name) and live ones;
 * removes it from l->pools and from any group.  -ENOENT when lp is not a
 * pool of l. */
int layout_pool_remove(struct layout *l, struct layout_pool *lp);

/* Non-zero when the region has live allocations. */
typedef int (*layout_in_use_fn)(void *ctx, uint32_t region_id);

/*
 * Apply cfg to a live layout, all or nothing.
 *
 * Regions are matched by name.  One with the same mapping settings keeps
 * its id; one changed or removed is retired, and a changed one is mapped
 * again under a new id; new regions get new ids.  A region that is to
 * change or go while it has live allocations (a block of one of its pools,
 * a multi-heap allocation, or whatever in_use reports; in_use may be NULL)
 * refuses the whole reload with -EBUSY.  The pools of a retired region are
 * removed with it (they were unused).
 *
 * Pools are matched by name among the pools that are not retired.  One with
 * the same parameters whose region stays (or, placed by attribute, whose
 * region still has the attribute) is kept; one removed from the file or
 * changed is retired, and a changed one is carved again under a new id, in
 * room of its own.  Pools made at run time that the file does not name are
 * left alone.  Heap instances and groups are rebuilt from cfg.
 *
 * On success returns 0 and writes one line per change to report, each
 * ending in a newline ("region 'r2' added (id 3)", "pool 'p' retired (id 1)",
 * "[daemon] socket change needs a restart", ...), or nothing when nothing
 * changed.  On refusal returns a negative errno, changes nothing, and
 * report holds the reason as one line:
 *   a region to change or remove is in use            -EBUSY
 *   a pool does not fit                               -ENOMEM
 *   no region has a pool's attribute                  -ENOENT
 *   a region cannot be mapped                         region_map's errno
 *   region ids would go beyond LAYOUT_REGION_IDS      -ENOSPC
 *   l or cfg NULL, or report NULL with len > 0        -EINVAL, report untouched
 * cfg is only read; the layout keeps no pointer into it.
 */
int layout_reload(struct layout *l, const struct config *cfg, layout_in_use_fn in_use, void *ctx,
		  char *report, size_t len);

/* Add a line to a reload report of len bytes (NUL-terminated); what does
 * not fit is cut off.  For what the caller of layout_reload adds to it. */
__attribute__((format(printf, 3, 4)))
void layout_report_add(char *report, size_t len, const char *fmt, ...);

/*
 * Pick the pool of group g for selector and a request of count blocks
 * (0 counts as 1):
 *   index  selector is an index into the group's pools
 *   fit    selector is a byte size: the pool with the smallest block size
 *          >= selector that has count free blocks (ties: listed order)
 *   attr   selector is an attribute: the first listed pool whose region
 *          has it
 * -EINVAL when the selector maps to no pool.  fit returns -ENOMEM when
 * pools are large enough but none has count free blocks, and still sets
 * *out to the smallest of them, the one to wait on.
 */
int layout_group_select(const struct layout *l, const struct layout_group *g, uint64_t selector,
			uint32_t count, struct layout_pool **out);

#endif
