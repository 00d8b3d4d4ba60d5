/*
 * multiheap: a set of heaps, each over one region and tagged with an
 * attribute, as in Zephyr's shared multi-heap.
 *
 * Attribute 0 is cacheable, 1 non-cacheable, 2..31 user-defined.
 * multiheap_alloc tries the heaps that carry exactly the requested
 * attribute, in the order they were added, and returns the first success.
 * Several independent instances may exist (as LwMEM's heap instances); the
 * daemon keeps them by name and one of them is called "default".
 *
 * The multiheap does not own the heaps added to it.
 */
#ifndef SHMPOOL_MULTIHEAP_H
#define SHMPOOL_MULTIHEAP_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#define MULTIHEAP_ATTR_CACHEABLE 0u
#define MULTIHEAP_ATTR_NON_CACHEABLE 1u
#define MULTIHEAP_ATTR_MAX 31u
#define MULTIHEAP_NAME_MAX 64

struct multiheap;

int multiheap_create(const char *name, struct multiheap **out);
void multiheap_destroy(struct multiheap *mh);
const char *multiheap_name(const struct multiheap *mh);

/* Add a heap over region region_id with attribute attr.
 * -EINVAL for attr > MULTIHEAP_ATTR_MAX, a NULL heap or a region already
 * added; -ENOMEM when private memory runs out. */
int multiheap_add(struct multiheap *mh, uint32_t region_id, uint32_t attr, struct heap *h);

/* Remove the region's heap from the set; -ENOENT if it is not there. */
int multiheap_remove(struct multiheap *mh, uint32_t region_id);

/* -ENOENT when no heap carries attr, -EINVAL for size 0 or a bad align
 * (align 0 means HEAP_MIN_ALIGN), -ENOMEM when none has room. */
int multiheap_alloc(struct multiheap *mh, uint32_t attr, uint64_t align, uint64_t size,
		    uint32_t *region_id, uint64_t *off);

/* Whether a region may serve an allocation (for access control): non-zero
 * to allow. */
typedef int (*multiheap_filter_fn)(void *ctx, uint32_t region_id);

/* multiheap_alloc over the heaps that allow() admits; -EACCES when heaps
 * carry attr but allow() refuses every one of them. */
int multiheap_alloc_filter(struct multiheap *mh, uint32_t attr, uint64_t align, uint64_t size,
			   multiheap_filter_fn allow, void *ctx, uint32_t *region_id,
			   uint64_t *off);

/* -ENOENT if the region is not in this multiheap, otherwise heap_free's codes. */
int multiheap_free(struct multiheap *mh, uint32_t region_id, uint64_t off);

/* The heap over region_id, or NULL. */
struct heap *multiheap_heap(const struct multiheap *mh, uint32_t region_id);

/* Number of heaps, and the i-th in the order they were added. */
size_t multiheap_count(const struct multiheap *mh);
int multiheap_get(const struct multiheap *mh, size_t i, uint32_t *region_id, uint32_t *attr,
		  struct heap **h);

#endif
