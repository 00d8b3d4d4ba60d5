/*
 * config: the daemon's configuration file, parsed with inih.
 *
 *   [daemon]       socket, socket_mode, socket_group, admin_group, max_clients,
 *                  log_level
 *   [limits]       max_clients (or in [daemon], not both), max_clients_per_uid,
 *                  max_bytes_per_client, max_blocks_per_client,
 *                  max_waits_per_client, max_message_size
 *   [attributes]   NAME = 2..31, one line per user-defined attribute
 *   [region NAME]  size, backing, path, attr, hugepages, page_size, sync,
 *                  lock, prefault, numa_node, scrub, ACL
 *   [heap NAME]    regions, max_bytes_per_client, ACL
 *   [pool NAME]    region | attr, block_size, blocks, align,
 *                  max_blocks_per_client, ACL
 *   [group NAME]   pools, select
 *
 * ACL stands for the keys allow_users, allow_groups, read_only_users and
 * read_only_groups: lists of user or group names or numeric ids.
 *
 * Every default is filled in at load time, so the structures below always
 * hold the effective configuration.  Cross-references (attribute names,
 * heap and group members, pool regions) are checked after the whole file
 * has been read, so sections may come in any order; the order of [region]
 * sections is the order in which a heap instance tries its regions.
 *
 * Errors are written to err as "FILE:LINE: message" and the functions
 * return -EINVAL; only the first error of a file is reported.  See
 * shmpool.conf(5).
 */
#ifndef SHMPOOL_CONFIG_H
#define SHMPOOL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"

#define CONFIG_NAME_MAX 64                      /* names, NUL included */
#define CONFIG_CACHE_MAX 64                     /* [pool] cache: PROTO_STOCK_SLOTS */
#define CONFIG_ATTR_MAX 31u
#define CONFIG_ATTR_CACHEABLE 0u
#define CONFIG_ATTR_NON_CACHEABLE 1u
#define CONFIG_ATTR_USER_MIN 2u

#define CONFIG_DEFAULT_SOCKET_MODE 0660u
#define CONFIG_DEFAULT_MAX_CLIENTS 1024u
#define CONFIG_DEFAULT_LOG_LEVEL LOG_LEVEL_NOTICE
#define CONFIG_DEFAULT_REGION_NAME "default"
#define CONFIG_DEFAULT_REGION_SIZE ((uint64_t)64 << 20)
#define CONFIG_DEFAULT_HEAP "default"
#define CONFIG_DEFAULT_PAGE_SIZE ((uint64_t)2 << 20)
#define CONFIG_DEFAULT_ALIGN 16u
#define CONFIG_NO_NUMA_NODE (-1)
#define CONFIG_NUMA_NODE_MAX 1023
#define CONFIG_DEFAULT_MAX_WAITS 64u
#define CONFIG_DEFAULT_MAX_MESSAGE 65536u

/* The longest line a configuration file may have. */
#define CONFIG_LINE_MAX 196

enum config_backing {
	CONFIG_BACKING_MEMFD = 0,
	CONFIG_BACKING_SHM,
	CONFIG_BACKING_HUGETLB,
	CONFIG_BACKING_FILE,
};

enum config_hugepages {
	CONFIG_HUGEPAGES_PREFER = 0,            /* fall back to THP, then normal pages */
	CONFIG_HUGEPAGES_REQUIRE,               /* fail without huge pages */
};

enum config_select {
	CONFIG_SELECT_INDEX = 0,                /* selector: index into the pool list */
	CONFIG_SELECT_FIT,                      /* selector: a byte size */
	CONFIG_SELECT_ATTR,                     /* selector: an attribute */
};

/* When freed memory is zeroed. */
enum config_scrub {
	CONFIG_SCRUB_CROSS_UID = 0,             /* before another uid gets it (default) */
	CONFIG_SCRUB_ALWAYS,                    /* on every free */
	CONFIG_SCRUB_NEVER,
};

/* What config_acl_check grants. */
enum config_access {
	CONFIG_ACCESS_NONE = 0,
	CONFIG_ACCESS_READ = 1,
	CONFIG_ACCESS_RW = 2,
};

/* Who may use a region, pool or heap instance.  With every list empty,
 * anyone who can connect may; otherwise a client must match allow_* (read
 * and write) or read_only_* (read only).  Names are resolved to ids when
 * the file is loaded. */
struct config_acl {
	uid_t *allow_users;
	size_t nallow_users;
	gid_t *allow_groups;
	size_t nallow_groups;
	uid_t *read_only_users;
	size_t nread_only_users;
	gid_t *read_only_groups;
	size_t nread_only_groups;
};

struct config_daemon {
	char *socket;                           /* NULL: the documented default rules */
	unsigned int socket_mode;
	char *socket_group;                     /* NULL: the daemon's group */
	char *admin_group;                      /* may create/destroy pools and reload */
	unsigned int max_clients;
	enum log_level log_level;
	int free_ring;                          /* offer clients a free ring (default yes) */
};

struct config_attr {
	char name[CONFIG_NAME_MAX];
	uint32_t value;                         /* CONFIG_ATTR_USER_MIN..CONFIG_ATTR_MAX */
	int line;
};

struct config_region {
	char name[CONFIG_NAME_MAX];
	int line;                               /* of the section header */
	uint64_t size;                          /* as configured, before page rounding */
	enum config_backing backing;
	char *path;                             /* shm: object name, file: path, else NULL */
	uint32_t attr;
	enum config_hugepages hugepages;        /* hugetlb only */
	uint64_t page_size;                     /* hugetlb only: 2 MiB or 1 GiB */
	int sync;                               /* file only: open with O_SYNC */
	int lock;
	int prefault;
	int numa_node;                          /* CONFIG_NO_NUMA_NODE: none */
	char heap[CONFIG_NAME_MAX];             /* heap instance; "default" if named in none */
	struct config_acl acl;
	enum config_scrub scrub;
};

struct config_heap {
	char name[CONFIG_NAME_MAX];
	int line;
	int regions_line;
	char **regions;
	size_t nregions;
	struct config_acl acl;
	uint64_t max_bytes_per_client;          /* 0: no limit */
};

struct config_pool {
	char name[CONFIG_NAME_MAX];
	int line;
	int by_attr;                            /* placed by attribute, not in a named region */
	char region[CONFIG_NAME_MAX];           /* "" when by_attr */
	uint32_t attr;                          /* valid when by_attr */
	uint64_t block_size;
	uint64_t blocks;
	uint64_t align;
	struct config_acl acl;
	uint64_t max_blocks_per_client;         /* 0: no limit */
	unsigned int cache;                     /* blocks a client may keep at hand */
};

struct config_group {
	char name[CONFIG_NAME_MAX];
	int line;
	int pools_line;
	char **pools;
	size_t npools;
	enum config_select select;
};

/* [limits]; 0 means no limit unless said otherwise. */
struct config_limits {
	unsigned int max_clients_per_uid;
	uint64_t max_bytes_per_client;          /* blocks and heap allocations together */
	uint64_t max_blocks_per_client;
	unsigned int max_waits_per_client;      /* default 64, 1..65536 */
	unsigned int max_message_size;          /* bytes of one request: default 65536, 256..65536 */
};

struct config {
	char *path;                             /* the file name used in messages */
	struct config_daemon daemon;            /* max_clients also comes from [limits] */
	struct config_limits limits;
	struct config_attr *attrs;
	size_t nattrs;
	struct config_region *regions;
	size_t nregions;
	struct config_heap *heaps;
	size_t nheaps;
	struct config_pool *pools;
	size_t npools;
	struct config_group *groups;
	size_t ngroups;
};

/* Load path into cfg.  -EINVAL for an error in the file, the negative errno
 * when it cannot be read, -ENOMEM when memory runs out; err says which. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/* Load from text; name stands for the file name in messages. */
int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
		       size_t errlen);

/* The built-in configuration: one 64 MiB memfd region "default",
 * cacheable, in heap instance "default". */
int config_default(struct config *cfg);

void config_free(struct config *cfg);

/* Write the effective configuration in the file syntax; loading the output
 * gives the same configuration.  Returns 0 or -EIO. */
int config_print(FILE *f, const struct config *cfg);

/* Lookups by name; NULL when there is none. */
const struct config_region *config_region_find(const struct config *cfg, const char *name);
const struct config_pool *config_pool_find(const struct config *cfg, const char *name);
const struct config_group *config_group_find(const struct config *cfg, const char *name);
const struct config_heap *config_heap_find(const struct config *cfg, const char *name);

/* An attribute name ("cacheable", "non-cacheable", a name from
 * [attributes]) or a number 0..31 to its value; -EINVAL otherwise. */
int config_attr_parse(const struct config *cfg, const char *name, uint32_t *attr);

/* The name of attribute attr, or NULL when it has none. */
const char *config_attr_name(const struct config *cfg, uint32_t attr);

/* "1234", "4K", "64M", "1G", "2T" (powers of 1024) to bytes.  -EINVAL for
 * anything else (signs, spaces, fractions), -ERANGE when it overflows. */
int config_size_parse(const char *s, uint64_t *out);

/* Bytes in the shortest form config_size_parse reads back ("64M"). */
void config_size_format(uint64_t v, char *buf, size_t len);

/* Bytes for people: "64 MiB", "1 GiB", "4097 bytes". */
void config_size_human(uint64_t v, char *buf, size_t len);

const char *config_backing_name(enum config_backing b);
const char *config_hugepages_name(enum config_hugepages h);
const char *config_select_name(enum config_select s);
const char *config_scrub_name(enum config_scrub s);

/* Whether every list of acl is empty (NULL counts as empty). */
int config_acl_empty(const struct config_acl *acl);

/* What a client with uid, primary gid and supplementary groups may do:
 * CONFIG_ACCESS_RW when acl is empty, or uid is in allow_users, or gid or
 * one of groups is in allow_groups; else CONFIG_ACCESS_READ when they are
 * in read_only_users or read_only_groups; else CONFIG_ACCESS_NONE, which
 * is also the answer for a NULL acl.  uid 0 is not special here. */
int config_acl_check(const struct config_acl *acl, uid_t uid, gid_t gid, const gid_t *groups,
		     size_t ngroups);

/* Deep-copy src into dst; -ENOMEM leaves dst empty. */
int config_acl_copy(struct config_acl *dst, const struct config_acl *src);

/* Free the lists of acl and leave it empty. */
void config_acl_free(struct config_acl *acl);

#endif
