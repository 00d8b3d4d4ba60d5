/*
 * multiheap: heaps tagged with attributes, tried in the order they were
 * added.  A set holds a handful of regions, so lookups by region are a
 * plain search of a small array kept in insertion order.
 */
#include "multiheap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct multiheap_entry {
	uint32_t region_id;
	uint32_t attr;
	struct heap *heap;
};

struct multiheap {
	char name[MULTIHEAP_NAME_MAX];
	struct multiheap_entry *entries;
	size_t count;
	size_t cap;
};

int multiheap_create(const char *name, struct multiheap **out)
{
	struct multiheap *mh;
	size_t len;

	if (!name || !out)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len >= MULTIHEAP_NAME_MAX)
		return -EINVAL;
	mh = calloc(1, sizeof(*mh));
	if (!mh)
		return -ENOMEM;
	memcpy(mh->name, name, len + 1);
	*out = mh;
	return 0;
}

void multiheap_destroy(struct multiheap *mh)
{
	if (!mh)
		return;
	free(mh->entries);
	free(mh);
}

const char *multiheap_name(const struct multiheap *mh)
{
	return mh->name;
}

/* The index of region_id's entry, or -ENOENT. */
static ssize_t multiheap_find(const struct multiheap *mh, uint32_t region_id)
{
	for (size_t i = 0; i < mh->count; i++)
		if (mh->entries[i].region_id == region_id)
			return (ssize_t)i;
	return -ENOENT;
}

int multiheap_add(struct multiheap *mh, uint32_t region_id, uint32_t attr, struct heap *h)
{
	struct multiheap_entry *e;

	if (!mh || !h || attr > MULTIHEAP_ATTR_MAX)
		return -EINVAL;
	if (multiheap_find(mh, region_id) >= 0)
		return -EINVAL;
	if (mh->count == mh->cap) {
		size_t cap = mh->cap ? mh->cap * 2 : 4;

		e = realloc(mh->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		mh->entries = e;
		mh->cap = cap;
	}
	e = &mh->entries[mh->count++];
	e->region_id = region_id;
	e->attr = attr;
	e->heap = h;
	return 0;
}

int multiheap_remove(struct multiheap *mh, uint32_t region_id)
{
	ssize_t i;

	if (!mh)
		return -EINVAL;
	i = multiheap_find(mh, region_id);
	if (i < 0)
		return (int)i;
	memmove(&mh->entries[i], &mh->entries[i + 1],
		(mh->count - (size_t)i - 1) * sizeof(mh->entries[0]));
	mh->count--;
	return 0;
}

int multiheap_alloc(struct multiheap *mh, uint32_t attr, uint64_t align, uint64_t size,
		    uint32_t *region_id, uint64_t *off)
{
	return multiheap_alloc_filter(mh, attr, align, size, NULL, NULL, region_id, off);
}

int multiheap_alloc_filter(struct multiheap *mh, uint32_t attr, uint64_t align, uint64_t size,
			   multiheap_filter_fn allow, void *ctx, uint32_t *region_id,
			   uint64_t *off)
{
	int found = 0, denied = 0, rc;

	if (!mh || !region_id || !off || size == 0 || attr > MULTIHEAP_ATTR_MAX)
		return -EINVAL;
	if (align == 0)
		align = HEAP_MIN_ALIGN;
	if (align & (align - 1) || align > HEAP_MAX_ALIGN)
		return -EINVAL;
	for (size_t i = 0; i < mh->count; i++) {
		const struct multiheap_entry *e = &mh->entries[i];

		if (e->attr != attr)
			continue;
		if (allow && !allow(ctx, e->region_id)) {
			denied = 1;
			continue;
		}
		found = 1;
		rc = heap_aligned_alloc(e->heap, align, size, off);
		if (rc == 0) {
			*region_id = e->region_id;
			return 0;
		}
	}
	if (found)
		return -ENOMEM;
	return denied ? -EACCES : -ENOENT;
}

int multiheap_free(struct multiheap *mh, uint32_t region_id, uint64_t off)
{
	ssize_t i;

	if (!mh)
		return -EINVAL;
	i = multiheap_find(mh, region_id);
	if (i < 0)
		return (int)i;
	return heap_free(mh->entries[i].heap, off);
}

struct heap *multiheap_heap(const struct multiheap *mh, uint32_t region_id)
{
	ssize_t i;

	if (!mh)
		return NULL;
	i = multiheap_find(mh, region_id);
	return i < 0 ? NULL : mh->entries[i].heap;
}

size_t multiheap_count(const struct multiheap *mh)
{
	return mh ? mh->count : 0;
}

int multiheap_get(const struct multiheap *mh, size_t i, uint32_t *region_id, uint32_t *attr,
		  struct heap **h)
{
	if (!mh || i >= mh->count)
		return -EINVAL;
	if (region_id)
		*region_id = mh->entries[i].region_id;
	if (attr)
		*attr = mh->entries[i].attr;
	if (h)
		*h = mh->entries[i].heap;
	return 0;
}
