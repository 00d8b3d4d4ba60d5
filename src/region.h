/*
 * region: one shared memory segment, mapped from its configuration.
 *
 * Backings:
 *   memfd    memfd_create, sealed against shrinking and growing so that a
 *            client holding the fd cannot resize it under every other mapper
 *   shm      a named POSIX shm object; it outlives the daemon and cannot
 *            be sealed
 *   hugetlb  a memfd of huge pages; "prefer" falls back to transparent huge
 *            pages, then to normal pages, "require" fails without them
 *   file     a regular file (grown, never shrunk) or a device used as it is
 *
 * A mapped region keeps what a client needs to map it too: the fd, the
 * size (rounded up to the backing's page size) and that page size as the
 * offset granularity.  The daemon's own mapping is shared and writable.
 *
 * Errors are written to err as "region 'NAME': message" and returned as a
 * negative errno.
 */
#ifndef SHMPOOL_REGION_H
#define SHMPOOL_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The kind of pages a region actually got. */
enum region_pages {
	REGION_PAGES_NORMAL = 0,
	REGION_PAGES_THP,                       /* transparent huge pages asked for */
	REGION_PAGES_HUGETLB,
};

struct region {
	char name[CONFIG_NAME_MAX];
	uint32_t id;
	uint32_t attr;
	enum config_backing backing;
	enum region_pages pages;
	int fd;                                 /* -1 when not mapped */
	void *base;                             /* the daemon's mapping */
	uint64_t size;                          /* mapped bytes, a multiple of granularity */
	uint64_t granularity;                   /* page size of the backing */
	int sealed;                             /* F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL */
	int locked;                             /* mlock'ed */
	int numa_node;                          /* CONFIG_NO_NUMA_NODE: none */
	char *path;                             /* shm name or file path, else NULL */
};

/* Create or open the backing of cfg, size it and map it.  r is filled in
 * only on success.  -ENOMEM for missing huge pages or a locked-memory limit,
 * -EINVAL for an impossible request, otherwise the errno of the failing
 * call. */
int region_map(const struct config_region *cfg, uint32_t id, struct region *r, char *err,
	       size_t errlen);

/* Unmap and close; a shm object or a file stays where it is. */
void region_unmap(struct region *r);

/* "memfd", "shm", "hugetlb", "file". */
const char *region_backing_name(enum config_backing b);

/* "normal", "thp", "hugetlb". */
const char *region_pages_name(enum region_pages p);

/* The backing and, when it differs, what was obtained: "memfd",
 * "hugetlb", "hugetlb→thp", "hugetlb→normal". */
void region_describe(const struct region *r, char *buf, size_t len);

#endif
