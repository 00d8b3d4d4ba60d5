/*
 * client: the internals of libshmpool, shared with its unit test.
 *
 * A connection keeps what it knows about the daemon's memory: the regions it
 * has mapped, the pools it has seen, and what it holds (one bit per block
 * of each pool, a hash map for heap allocations and for the rare second
 * hold on a block).  That record is exact as long as the daemon is: it lets
 * a free of memory the connection holds go without waiting for a reply.
 *
 * Locking: one mutex per connection guards every table, the list of pending
 * calls and the reader role.  It is never held across a blocking recvmsg or
 * sendmsg.  The table functions (client_region_* to client_hold_*) expect
 * it held, as does client_call, which releases it while it waits.
 */
#ifndef SHMPOOL_CLIENT_H
#define SHMPOOL_CLIENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "shmpool.h"

#define CLIENT_MAX_REGIONS 65536u    /* a ref carries a 16-bit region id */
#define CLIENT_MAX_POOLS 65536u

/* A region the daemon sent: its fd is mapped once, then closed. */
struct client_region {
	void *base;                  /* NULL while unmapped */
	uint64_t size;
	int fd;                      /* kept only while mmap keeps failing */
	int read_only;
	int known;
};

/* A mapping replaced by a new region with the same id; it stays mapped
 * until disconnect so that pointers into it do not fault. */
struct client_mapping {
	struct client_mapping *next;
	void *base;
	uint64_t size;
};

/* A pool as the daemon described it, and the blocks this connection holds. */
struct client_pool {
	uint32_t id;
	uint32_t region_id;
	uint32_t num_blocks;
	uint32_t attr;
	uint64_t base;               /* offset of block 0 in the region */
	uint64_t block_size;
	uint64_t stride;
	uint64_t *held;              /* one bit per block: held at least once */
	/* The block cache (a stock lane of the free ring, see proto.h). */
	uint32_t lane;               /* PROTO_STOCK_NONE: the pool has none */
	uint32_t nslots;
	uint32_t ncached;            /* slots [0, ncached) may hold blocks */
	uint64_t *mine;              /* with a lane: granted to us and held once */
};

enum client_hold_kind {
	CLIENT_HOLD_HEAP = 1,        /* key: the allocation's address */
	CLIENT_HOLD_BLOCK,           /* key: pool id << 32 | index; holds beyond the bit */
};

struct client_hentry {
	struct client_hentry *next;
	uint64_t key;
	uint64_t offset;
	uint64_t length;             /* usable size */
	uint32_t region_id;
	uint32_t holds;
	int kind;
};

struct client_hchunk;

/* Hash map of holds; entries come from chunks and are recycled, so steady
 * alloc/free traffic does not call malloc. */
struct client_hmap {
	struct client_hentry **bucket;
	size_t size;                 /* a power of two, or 0 */
	size_t count;
	struct client_hentry *free;
	struct client_hchunk *chunks;
};

/* Every reply a caller may need to read after it wakes up. */
union client_reply {
	struct proto_reply_hdr r;
	struct proto_hello_reply hello;
	struct proto_pool_reply pool;
	struct proto_pool_stat_reply stat;
	struct proto_pool_info_reply info;
	struct proto_heap_reply heap;
	struct proto_ref_reply ref;
	struct proto_status_reply status;
	struct proto_region_info_reply region_info;
	struct proto_heap_info_reply heap_info;
	struct proto_group_info_reply group_info;
	struct proto_client_info_reply client_info;
	struct proto_stats_reply stats;
	struct proto_map_reply map;
	struct proto_reload_reply reload;
};

/* A call waiting for its reply; it lives on the caller's stack. */
struct client_pending {
	struct client_pending *next, *prev;
	pthread_cond_t cond;         /* set up only if the call has to wait */
	int cond_live;
	uint32_t id;
	uint16_t type;
	int done;
	int status;
	int fd_reply;                /* the reply may bring a region fd */
	uint32_t *slot_wake;         /* the slot's futex word while its request is there */
	/* Block grants go straight into the caller's array. */
	void **blocks;
	uint32_t count;
	uint32_t got;
	uint32_t pool_id;
	int contig;
	/* A refill of the pool's cache: up to stock more blocks may come,
	 * which go to extra[] (PROTO_STOCK_SLOTS of room), not to the caller. */
	uint32_t stock;
	uint32_t nextra;
	uint32_t *extra;
	union client_reply reply;
};

struct shmpool {
	pthread_mutex_t lock;
	pthread_cond_t idle;         /* busy reached 0 while closing */
	int fd;
	int reading;                 /* a thread is reading the socket */
	int reading_plain;           /* with recv(), which drops any fd */
	unsigned fd_wanted;          /* calls in flight whose reply may bring an fd */
	int dead;                    /* the daemon went away */
	int closing;                 /* shmpool_disconnect has begun */
	int forked;                  /* this is a copy inherited across fork */
	unsigned busy;               /* threads inside a call */
	uint32_t next_id;
	uint32_t max_indices;
	uint32_t pid;
	struct client_pending *pending;
	void *rx;                    /* PROTO_MAX_MESSAGE bytes, used by the reader */
	struct client_region *regions;
	uint32_t nregions;
	struct client_mapping *retired;
	struct client_pool **pools;
	uint32_t npools;
	struct client_hmap hmap;
	unsigned long async_errors;  /* atomic: errors in fire-and-forget frees */
	struct proto_ring *ring;     /* the free ring, NULL if the daemon gave none */
	const uint32_t *alive;       /* the daemon's alive page, NULL if none */
	uint32_t ring_tail;          /* where the next record goes */
	/* The call slot (proto.h), in the free ring's memfd. */
	uint32_t *doorbell;          /* NULL: every call goes by the socket */
	int call_busy;               /* a thread's call is in the slot */
	uint32_t call_seq;           /* requests written to it */
	uint32_t sock_got;           /* messages received from the socket */
	/* A free sent on the socket is read by the loop, the slot by another
	 * thread: a call uses the slot only once a reply to a later socket
	 * request says the daemon has read it.  Counts of socket sends. */
	uint64_t sock_sent;
	uint64_t sock_async;         /* the last no-reply message is at most this */
	uint64_t sock_synced;        /* the daemon has read this far */
	void *call_rx;               /* PROTO_CALL_MSG_MAX bytes: the slot's reply */
	shmpool_t *prev, *next;      /* the list every connection is on, for fork */
};

struct shmpool_pool {
	shmpool_t *sp;
	uint32_t id;
};

/* What a pointer is, as far as the connection's mappings tell. */
struct client_loc {
	uint32_t region_id;
	uint64_t offset;
	struct client_pool *pool;    /* NULL: not a block of a known pool */
	uint32_t index;
};

/* How client_hold_take satisfied a free. */
enum client_take {
	CLIENT_TAKE_NONE = 0,        /* not held */
	CLIENT_TAKE_BIT,
	CLIENT_TAKE_EXTRA,
	CLIENT_TAKE_MINE,            /* the bit, of a block granted to us: it may be cached */
};

/* Wrap a connected socket: say hello, and take ownership of fd in every
 * case.  shmpool_connect is socket + connect + this. */
int client_open_fd(int fd, shmpool_t **out);

/* Lock the connection and count the caller in: -ENOTCONN (daemon gone, or a
 * forked copy), -ECANCELED (disconnecting).  client_conn_leave undoes it. */
int client_conn_enter(shmpool_t *sp);
void client_conn_leave(shmpool_t *sp);

void client_pending_init(struct client_pending *p);

/* Send a request and wait for its reply (or its last frame); fills in the
 * header's version and id.  Returns the reply's status or -errno. */
int client_call(shmpool_t *sp, struct client_pending *p, void *msg, size_t len);

/* Send a request that gets no reply (a free without PROTO_F_SYNC). */
int client_send_async(shmpool_t *sp, void *msg, size_t len);

/* Record (and map) a region descriptor; fd is consumed. */
int client_region_apply(shmpool_t *sp, const struct proto_region_desc *d, int fd);

/* Base address of a known region, mapping it again if an earlier mmap
 * failed; NULL if it cannot be mapped. */
void *client_region_base(shmpool_t *sp, uint32_t region_id);

/* Record a pool descriptor; its region must be known. */
int client_pool_apply(shmpool_t *sp, const struct proto_pool_desc *d);

struct client_pool *client_pool_get(shmpool_t *sp, uint32_t id);

/* Find what ptr is: -EINVAL outside every mapped region, or inside a known
 * pool's blocks but not at the start of one. */
int client_locate(shmpool_t *sp, const void *ptr, struct client_loc *loc);

/* Index of ptr in pool: -EINVAL unless ptr is the start of one of its blocks. */
int client_pool_index(shmpool_t *sp, const struct client_pool *p, const void *ptr, uint32_t *index);

/* Address of block i of a pool; NULL if its region is not mapped. */
void *client_block_ptr(shmpool_t *sp, const struct client_pool *p, uint32_t i);

/* Block holds: add one (client_hold_grant for a block the daemon granted
 * this connection), take one back for a free (and undo or commit that), and
 * count them. */
int client_hold_add(shmpool_t *sp, struct client_pool *p, uint32_t i);
int client_hold_grant(shmpool_t *sp, struct client_pool *p, uint32_t i);

/* client_hold_grant's common case, a block not held yet, inline for grants
 * of many blocks: 1 if recorded, 0 if it is held already and needs
 * client_hold_grant. */
static inline int client_hold_grant_first(struct client_pool *p, uint32_t i)
{
	uint64_t bit = 1ull << (i % 64);

	if (p->held[i / 64] & bit)
		return 0;
	p->held[i / 64] |= bit;
	if (p->mine)
		p->mine[i / 64] |= bit;
	return 1;
}
enum client_take client_hold_take(shmpool_t *sp, struct client_pool *p, uint32_t i);
void client_hold_undo(shmpool_t *sp, struct client_pool *p, uint32_t i, enum client_take how);
void client_hold_commit(shmpool_t *sp, struct client_pool *p, uint32_t i, enum client_take how);
uint32_t client_hold_count(shmpool_t *sp, const struct client_pool *p, uint32_t i);

struct client_hentry *client_hmap_find(struct client_hmap *m, int kind, uint64_t key);
int client_hmap_insert(struct client_hmap *m, int kind, uint64_t key, struct client_hentry **out);
void client_hmap_remove(struct client_hmap *m, struct client_hentry *e);
void client_hmap_rekey(struct client_hmap *m, struct client_hentry *e, uint64_t key);
void client_hmap_fini(struct client_hmap *m);

/* Errors the daemon reported for frees sent without waiting. */
unsigned long client_async_errors(shmpool_t *sp);

/* The block cache of a pool with a lane (the lock held): take a cached
 * block (PROTO_STOCK_EMPTY if there is none), or put one whose last hold a
 * free just took: 1 when it is cached (or the daemon has already taken it
 * back), 0 when it must be freed the usual way. */
uint32_t client_stock_take(shmpool_t *sp, struct client_pool *p);
int client_stock_put(shmpool_t *sp, struct client_pool *p, uint32_t i);

#endif
