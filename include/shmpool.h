/*
 * shmpool.h: the client API of shmpoold, the shared memory pool daemon.
 *
 * A process connects to the daemon, then takes fixed-size blocks from named
 * pools and variable-size allocations from the multi-heap.  The memory is
 * shared: it lives in regions the daemon maps into every client that uses
 * them, and a shmpool_ref_t lets another process attach the same memory.
 *
 * Every int function returns 0 (or a documented count) or a negative errno.
 * A connection, and every pool handle on it, may be used from any number of
 * threads at once.  Timeouts are in milliseconds: SHMPOOL_NO_WAIT,
 * SHMPOOL_FOREVER or a positive count.  See libshmpool(3).
 */
#ifndef SHMPOOL_H
#define SHMPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define SHMPOOL_API __attribute__((visibility("default")))
#else
#define SHMPOOL_API
#endif

#define SHMPOOL_NO_WAIT 0
#define SHMPOOL_FOREVER (-1)

#define SHMPOOL_ATTR_CACHEABLE 0u
#define SHMPOOL_ATTR_NON_CACHEABLE 1u

#define SHMPOOL_NAME_MAX 64                     /* names, NUL included */

typedef struct shmpool shmpool_t;
typedef struct shmpool_pool shmpool_pool_t;

/* Connections. */
SHMPOOL_API int shmpool_connect(const char *socket_path, shmpool_t **out);
SHMPOOL_API void shmpool_disconnect(shmpool_t *sp);
SHMPOOL_API int shmpool_set_priority(shmpool_t *sp, int priority);
/* Errors the daemon found in frees this connection did not wait for. */
SHMPOOL_API unsigned long shmpool_async_errors(shmpool_t *sp);
SHMPOOL_API const char *shmpool_strerror(int err);

/* Pools. */
struct shmpool_pool_config {
	const char *name;
	size_t block_size;
	size_t num_blocks;
	size_t align;                           /* 0: the default */
	uint32_t attr;                          /* SHMPOOL_ATTR_* or a configured attribute */
	const char *region;                     /* NULL: any region with attr */
};

SHMPOOL_API int shmpool_pool_create(shmpool_t *sp, const struct shmpool_pool_config *cfg,
				    shmpool_pool_t **out);
SHMPOOL_API int shmpool_pool_open(shmpool_t *sp, const char *name, shmpool_pool_t **out);
SHMPOOL_API void shmpool_pool_close(shmpool_pool_t *pool);
SHMPOOL_API int shmpool_pool_destroy(shmpool_t *sp, const char *name);

/* Blocks. */
SHMPOOL_API int shmpool_block_alloc(shmpool_pool_t *pool, void **block, int timeout_ms);
SHMPOOL_API int shmpool_block_free(shmpool_pool_t *pool, void *block);
SHMPOOL_API int shmpool_blocks_alloc(shmpool_pool_t *pool, size_t count, void **blocks,
				     int timeout_ms);
SHMPOOL_API int shmpool_blocks_alloc_contiguous(shmpool_pool_t *pool, size_t count, void **first,
						int timeout_ms);
SHMPOOL_API int shmpool_blocks_get(shmpool_pool_t *pool, void *first, size_t count);
SHMPOOL_API int shmpool_blocks_free(shmpool_pool_t *pool, size_t count, void *const *blocks);
SHMPOOL_API int shmpool_blocks_free_contiguous(shmpool_pool_t *pool, void *first, size_t count);

struct shmpool_pool_stat {
	size_t block_size;
	size_t num_blocks;
	size_t num_used;
	size_t num_free;
	size_t max_used;
	size_t num_waiters;
	uint32_t attr;
};

SHMPOOL_API int shmpool_pool_stat(shmpool_pool_t *pool, struct shmpool_pool_stat *st);
SHMPOOL_API int shmpool_pool_reset_max(shmpool_pool_t *pool);

struct shmpool_pool_info {
	char name[SHMPOOL_NAME_MAX];
	char region[SHMPOOL_NAME_MAX];
	size_t block_size;
	size_t num_blocks;
	size_t num_free;
	size_t min_free;
	uint32_t attr;
};

/* Start with *cursor = 0; returns 1 when info was filled, 0 at the end. */
SHMPOOL_API int shmpool_pool_info_next(shmpool_t *sp, size_t *cursor,
				       struct shmpool_pool_info *info);

/* Pool groups. */
SHMPOOL_API int shmpool_group_alloc(shmpool_t *sp, const char *group, uint32_t selector,
				    size_t count, void **blocks, size_t *block_size, int timeout_ms);
SHMPOOL_API int shmpool_group_free(shmpool_t *sp, size_t count, void *const *blocks);

/* The multi-heap. */
SHMPOOL_API int shmpool_alloc(shmpool_t *sp, uint32_t attr, size_t size, void **out);
SHMPOOL_API int shmpool_aligned_alloc(shmpool_t *sp, uint32_t attr, size_t align, size_t size,
				      void **out);
SHMPOOL_API int shmpool_calloc(shmpool_t *sp, uint32_t attr, size_t nmemb, size_t size,
			       void **out);
SHMPOOL_API int shmpool_alloc_ex(shmpool_t *sp, const char *heap, uint32_t attr, size_t align,
				 size_t size, void **out);
SHMPOOL_API int shmpool_realloc(shmpool_t *sp, void **ptr, size_t size);
SHMPOOL_API int shmpool_free(shmpool_t *sp, void *ptr);
SHMPOOL_API int shmpool_usable_size(shmpool_t *sp, const void *ptr, size_t *size);

/* Sharing memory with another process. */
typedef struct shmpool_ref {
	unsigned char bytes[16];
} shmpool_ref_t;

SHMPOOL_API int shmpool_ref(shmpool_t *sp, const void *ptr, shmpool_ref_t *ref);
SHMPOOL_API int shmpool_attach(shmpool_t *sp, const shmpool_ref_t *ref, void **ptr);

#ifdef __cplusplus
}
#endif

#endif
