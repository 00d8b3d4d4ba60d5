/*
 * proto: the wire protocol between shmpoold and its clients.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET, one message per datagram, so framing is
 * the kernel's.  Every message starts with struct proto_hdr; the payload is
 * one fixed-layout struct per type, with explicit widths and no implicit
 * padding.  Some replies and frees carry a trailing array of uint32_t block
 * indices whose length is given by a count field.  Region file descriptors
 * travel as SCM_RIGHTS ancillary data on the reply that first needs them
 * (libuv's uv_write2 cannot carry a memfd, so both ends use sendmsg/recvmsg).
 *
 * Every request carries an id chosen by the client; the reply echoes it so a
 * connection shared by many threads can match replies to callers.  Frees are
 * fire-and-forget unless PROTO_F_SYNC is set; an error the daemon finds in an
 * unacknowledged free comes back as an unsolicited PROTO_NOTIFY_ERROR (id 0).
 * PROTO_SYNC does nothing and is answered at once: replies to a connection
 * leave in the order of its requests, so the client library uses it to bring
 * a thread reading with recv() back before a reply with an fd comes.
 *
 * The free ring: the reply to HELLO may carry a small sealed memfd laid out
 * as struct proto_ring (PROTO_F_RING).  A client may append its no-reply
 * frees to it, as the very messages it would have sent, instead of sending
 * them; the daemon reads the ring before every message of that connection,
 * before anything that reports or needs what clients hold, and whenever an
 * allocation cannot be met.  While the daemon sets the ring's kick word for a
 * pool or the heap (someone waits, or memory ran short), a client sends its
 * frees of it, or a PROTO_KICK after one it just appended, so that no waiter
 * waits on a free parked in a ring.  The daemon copies every record out before it looks at
 * it and checks it as if it had come from the socket.
 *
 * Bump SHMPOOL_PROTO_VERSION whenever anything in this file changes.
 */
#ifndef SHMPOOL_PROTO_H
#define SHMPOOL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SHMPOOL_PROTO_VERSION 7

#define PROTO_NAME_MAX 64                       /* names, NUL included */
#define PROTO_REF_SIZE 16
#define PROTO_MAX_MESSAGE 65536                 /* largest datagram either side sends */
#define PROTO_MAX_INDICES 16000                 /* uint32 indices in one message */
#define PROTO_REPLY 0x8000u                     /* reply type = request type | PROTO_REPLY */

enum proto_type {
	PROTO_TYPE_FIRST = 1,
	PROTO_HELLO = PROTO_TYPE_FIRST,
	PROTO_POOL_OPEN,
	PROTO_POOL_CREATE,
	PROTO_POOL_DESTROY,
	PROTO_POOL_STAT,
	PROTO_POOL_RESET_MAX,
	PROTO_POOL_INFO,
	PROTO_BLOCK_ALLOC,
	PROTO_BLOCKS_GET,
	PROTO_BLOCK_FREE,
	PROTO_GROUP_ALLOC,
	PROTO_HEAP_ALLOC,
	PROTO_HEAP_FREE,
	PROTO_HEAP_REALLOC,
	PROTO_REF,
	PROTO_ATTACH,
	PROTO_SET_PRIORITY,
	/* Introspection and administration (shmpoolctl). */
	PROTO_STATUS,
	PROTO_REGION_INFO,
	PROTO_HEAP_INFO,
	PROTO_GROUP_INFO,
	PROTO_CLIENT_INFO,
	PROTO_STATS,
	PROTO_MAP,
	PROTO_RELOAD,
	PROTO_SYNC,                             /* no effect: replied at once, in order */
	PROTO_KICK,                             /* no reply: read my free ring now */
	PROTO_ALIVE,                            /* the reply carries the alive page */
	PROTO_DOORBELL,                         /* the reply carries the doorbell page */
	PROTO_CALL,                             /* no reply: serve my call slot now */
	PROTO_TYPE_LAST = PROTO_CALL,

	/* Daemon to client, unsolicited. */
	PROTO_NOTIFY_ERROR = 0x7f00,            /* an error found in a fire-and-forget free */
	PROTO_ERROR = 0x7f01,                   /* the request could not be decoded */
};

/* Flags. */
#define PROTO_F_CONTIG     0x1u   /* block alloc/free: one contiguous run */
#define PROTO_F_SYNC       0x2u   /* free: reply with the status */
#define PROTO_F_MORE       0x4u   /* reply: more index frames of this reply follow */
#define PROTO_F_POOL_DESC  0x8u   /* reply: pool descriptor is valid */
#define PROTO_F_REGION     0x10u  /* reply: region descriptor valid, its fd is attached */
#define PROTO_F_HAS_REGION 0x20u  /* pool create: place in the named region, not by attr */
#define PROTO_F_READ_ONLY  0x40u  /* region descriptor: the fd is read-only */
#define PROTO_F_RING       0x80u  /* hello reply: the free ring's memfd is attached */
#define PROTO_F_ALIVE      0x100u /* hello reply: ALIVE is answered; its reply: the fd */
#define PROTO_F_CALL       0x200u /* hello reply: DOORBELL is answered; its reply: the fd */
#define PROTO_F_SEQ        0x400u /* block alloc: a run may come as its first index; reply: it does */
#define PROTO_F_DESC       0x800u /* block reply with PROTO_F_SEQ: the run descends */

/*
 * The alive page: a sealed memfd of PROTO_ALIVE_SIZE bytes that clients can
 * only map read-only.  Its first uint32_t holds the id of a daemon thread
 * while the daemon lives; the kernel replaces it with FUTEX_OWNER_DIED
 * (0x40000000) when the daemon exits, however it exits (a robust futex, see
 * set_robust_list(2)).  A client that sees the id gone uses neither its
 * block caches nor its free ring, and learns from the socket that the
 * daemon is gone.
 */
#define PROTO_ALIVE_SIZE 4096u
#define PROTO_ALIVE_TID_MASK 0x3fffffffu
#define PROTO_ALIVE_CALL_IDLE 16u       /* uint32_t index: the call thread sleeps */

/*
 * The call slot: one request at a time of a connection travels through
 * shared memory instead of the socket.  It lives in the free ring's memfd
 * (struct proto_call).  The client writes the request, its length, then
 * seq + 1 (release), and after a full fence reads `on` and the alive page's
 * call-idle word: when `on` is 0 the daemon does not watch the slot, and
 * the client sends PROTO_CALL on the socket; when the call thread sleeps,
 * the client adds 1 to the doorbell word (a 4 KiB memfd every client maps,
 * PROTO_DOORBELL) and wakes it with FUTEX_WAKE.  The daemon copies the
 * request out, checks it as if the socket had brought it, and answers in
 * reply: its length, the count of messages it has sent on the socket so
 * far (sock_msgs), then reply_seq = seq (release), a full fence, and
 * FUTEX_WAKE on it if the client says it sleeps (it sets sleeping, fences
 * and reads reply_seq again before FUTEX_WAIT; before that it may yield the
 * CPU a few times, which costs less than sleeping when the daemon runs on
 * the same CPU; it sleeps at once when queued says its request waits).  A
 * reply that carries an fd or does not fit goes on the socket instead and
 * reply_len says PROTO_CALL_BY_SOCKET; PROTO_CALL_CLOSED says the daemon
 * hung up.  A request that waits is answered in the slot when it ends.
 * Only the types proto_call_allowed accepts may use the slot.  kick works
 * like PROTO_KICK: the client bumps it (and rings the doorbell) to have its
 * free ring read now.
 */
#define PROTO_CALL_MSG_MAX 4032u                /* request or reply bytes */
#define PROTO_CALL_BY_SOCKET 0xfffffffeu
#define PROTO_CALL_CLOSED 0xffffffffu
#define PROTO_DOORBELL_SIZE 4096u

struct proto_call {
	uint32_t seq;                           /* client: requests written */
	uint32_t len;                           /* client: bytes of req */
	uint32_t kick;                          /* client: read my free ring */
	uint32_t sleeping;                      /* client: it waits in FUTEX_WAIT */
	uint32_t pad0[12];
	unsigned char req[PROTO_CALL_MSG_MAX];
	uint32_t reply_seq;                     /* daemon: seq of the request answered */
	uint32_t reply_len;
	uint32_t sock_msgs;                     /* daemon: messages sent on the socket */
	uint32_t on;                            /* daemon: the call thread watches seq */
	uint32_t queued;                        /* daemon: seq of a request that waits */
	uint32_t pad1[11];
	unsigned char reply[PROTO_CALL_MSG_MAX];
};

/*
 * The free ring, shared by one client and the daemon.  Positions are byte
 * counts that only grow (mod 2^32); a record starts at position % DATA, is
 * a struct proto_ring_rec and the message, padded to 8 bytes, and never
 * wraps: a record whose length is PROTO_RING_WRAP says "go on at the start".
 * The client writes records and then tail; the daemon moves head once it has
 * read them and keeps its own copy of both, so a client that scribbles on
 * the header only breaks its own ring, which the daemon then hangs up on.
 */
#define PROTO_RING_SIZE 36864u                  /* bytes of the memfd */
#define PROTO_RING_DATA 16384u                  /* record area, a power of two */
#define PROTO_RING_MSG_MAX 1024u                /* largest message a record holds */
#define PROTO_RING_WRAP 0xffffffffu
#define PROTO_RING_KICK_POOLS 31744u            /* pools with a kick bit of their own */
#define PROTO_STOCK_LANES 32u                   /* pools one connection can cache */
#define PROTO_STOCK_SLOTS 64u                   /* blocks one lane holds at most */
#define PROTO_STOCK_EMPTY 0xffffffffu           /* a slot with no block */
#define PROTO_STOCK_NONE 0xffffffffu            /* pool descriptor: no lane */

/*
 * The kick words say which frees must be sent (or followed by PROTO_KICK)
 * rather than parked: every free (kick), heap frees (kick_heap), frees of
 * pool p (bit p of kick_pool).  A pool whose id has no bit uses kick.
 *
 * The stock lanes are the block caches of pools with `cache = N`: a pool
 * descriptor names the lane (cache_lane) and how many of its slots the
 * client may use (cache_slots).  A slot holds a block index or
 * PROTO_STOCK_EMPTY.  The client stores a block in an empty slot and then
 * sets the lane's bit in stock_mask, and takes one with an atomic exchange;
 * the daemon clears bits and empties the slots of the lanes they name, also
 * with atomic exchanges, lowest slot first.  While a pool's kick is set the
 * client caches no free of it (it checks after a full fence, as for ring
 * records).
 */
struct proto_ring {
	uint32_t tail;                          /* client: end of the last record */
	uint32_t stock_mask;                    /* client: bit k, lane k may hold blocks */
	uint32_t pad0[14];
	uint32_t head;                          /* daemon: end of what it has read */
	uint32_t kick;
	uint32_t kick_heap;
	uint32_t pad1[13];
	uint64_t kick_pool[PROTO_RING_KICK_POOLS / 64];
	unsigned char data[PROTO_RING_DATA];
	uint32_t stock[PROTO_STOCK_LANES][PROTO_STOCK_SLOTS];
	struct proto_call call;                 /* see above */
};

struct proto_ring_rec {
	uint32_t len;                           /* message bytes, or PROTO_RING_WRAP */
	uint32_t pad;
};

_Static_assert(sizeof(struct proto_ring) == PROTO_RING_SIZE, "ring layout");
_Static_assert(offsetof(struct proto_ring, data) == 4096, "ring data on its own page");
_Static_assert(offsetof(struct proto_ring, stock) % 4096 == 0, "stock on its own pages");
_Static_assert(offsetof(struct proto_ring, call) % 4096 == 0, "call slot on its own pages");
_Static_assert(offsetof(struct proto_call, reply_seq) == 4096, "reply on its own page");

struct proto_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t id;
};

/* Header of every reply. */
struct proto_reply_hdr {
	struct proto_hdr hdr;
	int32_t status;                         /* 0, a count, or -errno */
	uint32_t flags;
};

struct proto_region_desc {
	uint32_t id;
	uint32_t attr;
	uint64_t size;
	uint64_t granularity;                   /* page size of the backing */
	uint32_t flags;                         /* PROTO_F_READ_ONLY */
	uint32_t pad;
	char name[PROTO_NAME_MAX];
};

struct proto_pool_desc {
	uint32_t id;
	uint32_t region_id;
	uint64_t base;                          /* offset of block 0 in the region */
	uint64_t block_size;
	uint64_t stride;
	uint32_t num_blocks;
	uint32_t attr;
	uint32_t cache_lane;                    /* stock lane of the free ring, or PROTO_STOCK_NONE */
	uint32_t cache_slots;                   /* slots of that lane the client may fill */
	char name[PROTO_NAME_MAX];
};

struct proto_hello {
	struct proto_hdr hdr;
	uint32_t proto_version;
	uint32_t pid;                           /* informative; the daemon trusts SO_PEERCRED */
};

struct proto_hello_reply {
	struct proto_reply_hdr r;
	uint32_t proto_version;
	uint32_t daemon_pid;
	uint32_t max_message;
	uint32_t max_indices;
	uint64_t conn_id;
};

struct proto_name_req {                         /* POOL_OPEN, POOL_DESTROY */
	struct proto_hdr hdr;
	char name[PROTO_NAME_MAX];
};

struct proto_pool_create {
	struct proto_hdr hdr;
	uint64_t block_size;
	uint64_t num_blocks;
	uint64_t align;
	uint32_t attr;
	uint32_t flags;                         /* PROTO_F_HAS_REGION */
	char name[PROTO_NAME_MAX];
	char region[PROTO_NAME_MAX];
};

/* Reply to POOL_OPEN and POOL_CREATE. */
struct proto_pool_reply {
	struct proto_reply_hdr r;               /* flags: POOL_DESC, maybe REGION */
	struct proto_pool_desc pool;
	struct proto_region_desc region;
};

struct proto_pool_req {                         /* POOL_STAT, POOL_RESET_MAX */
	struct proto_hdr hdr;
	uint32_t pool_id;
	uint32_t pad;
};

struct proto_pool_stat_reply {
	struct proto_reply_hdr r;
	uint64_t block_size;
	uint64_t num_blocks;
	uint64_t num_used;
	uint64_t num_free;
	uint64_t max_used;
	uint64_t num_waiters;
	uint32_t attr;
	uint32_t pad;
};

/* Request of POOL_INFO and the other *_INFO lists (see below). */
struct proto_cursor_req {                       /* *_INFO */
	struct proto_hdr hdr;
	uint64_t cursor;
};

struct proto_pool_info_reply {
	struct proto_reply_hdr r;               /* status 1: filled, 0: end */
	uint64_t next_cursor;
	uint64_t block_size;
	uint64_t num_blocks;
	uint64_t num_free;
	uint64_t min_free;
	uint32_t attr;
	uint32_t id;
	uint64_t stride;
	uint64_t num_waiters;
	uint64_t base;                          /* offset of block 0 in the region */
	char name[PROTO_NAME_MAX];
	char region[PROTO_NAME_MAX];
	char attr_name[PROTO_NAME_MAX];
	uint32_t cache;                         /* blocks a new connection may cache */
	uint32_t pad;
};

struct proto_block_alloc {
	struct proto_hdr hdr;
	uint32_t pool_id;
	uint32_t count;
	int32_t timeout_ms;
	uint32_t flags;                         /* PROTO_F_CONTIG or PROTO_F_SEQ */
	uint32_t stock;                         /* up to this many more, for the lane */
	uint32_t pad;
};

/*
 * Reply to BLOCK_ALLOC and GROUP_ALLOC.  A large grant is split into frames
 * of at most PROTO_MAX_INDICES indices; all but the last have PROTO_F_MORE.
 * For a contiguous grant, count is the run length and one index (the first)
 * follows.  A request with PROTO_F_SEQ may have a grant of adjacent blocks
 * in order sent the same way, as one frame with PROTO_F_SEQ: block k of the
 * grant (the caller's first, then the cache's) is index[0] + k, or
 * index[0] - k with PROTO_F_DESC.  The descriptors are valid when the flags
 * say so (group alloc from a pool this connection has not seen yet).
 */
struct proto_block_reply {
	struct proto_reply_hdr r;
	uint32_t pool_id;
	uint32_t count;                         /* blocks granted in all frames */
	uint32_t first;                         /* position of this frame's indices */
	uint32_t nindices;                      /* indices in this frame */
	struct proto_pool_desc pool;
	struct proto_region_desc region;
	uint32_t index[];
};

struct proto_blocks_get {
	struct proto_hdr hdr;
	uint32_t pool_id;
	uint32_t first_index;
	uint32_t count;
	uint32_t pad;
};

/* BLOCK_FREE: count indices follow, or one index with PROTO_F_CONTIG. */
struct proto_block_free {
	struct proto_hdr hdr;
	uint32_t pool_id;
	uint32_t count;
	uint32_t flags;                         /* PROTO_F_CONTIG, PROTO_F_SYNC */
	uint32_t nindices;
	uint32_t index[];
};

struct proto_group_alloc {
	struct proto_hdr hdr;
	uint32_t selector;
	uint32_t count;
	int32_t timeout_ms;
	uint32_t pad;
	char group[PROTO_NAME_MAX];
};

struct proto_heap_alloc {
	struct proto_hdr hdr;
	uint32_t attr;
	uint32_t pad;
	uint64_t align;                         /* 0: the heap's minimum */
	uint64_t size;
	char heap[PROTO_NAME_MAX];              /* "": the default instance */
};

/* Reply to HEAP_ALLOC, HEAP_REALLOC and ATTACH. */
struct proto_heap_reply {
	struct proto_reply_hdr r;
	uint32_t region_id;
	uint32_t pool_id;                       /* ATTACH of a block: its pool; else UINT32_MAX */
	uint64_t offset;
	uint64_t length;                        /* usable size, or the block size */
	struct proto_pool_desc pool;
	struct proto_region_desc region;
};

struct proto_heap_free {
	struct proto_hdr hdr;
	uint32_t region_id;
	uint32_t flags;                         /* PROTO_F_SYNC */
	uint64_t offset;
};

struct proto_heap_realloc {
	struct proto_hdr hdr;
	uint32_t region_id;
	uint32_t pad;
	uint64_t offset;
	uint64_t size;
};

struct proto_ref_req {
	struct proto_hdr hdr;
	uint32_t region_id;
	uint32_t pad;
	uint64_t offset;
};

struct proto_ref_reply {
	struct proto_reply_hdr r;
	uint8_t ref[PROTO_REF_SIZE];
};

struct proto_attach {
	struct proto_hdr hdr;
	uint8_t ref[PROTO_REF_SIZE];
};

struct proto_set_priority {
	struct proto_hdr hdr;
	int32_t priority;
	uint32_t pad;
};

/*
 * Introspection.  Lists are walked with a cursor: a request carries the
 * cursor (0 to start), a reply with status 1 carries one entry and the
 * cursor of the next, status 0 means the end.  Every read is open to any
 * connected client; PROTO_RELOAD, like pool create and destroy, needs uid 0,
 * the daemon's uid or membership of [daemon] admin_group (-EACCES).
 */
struct proto_status_reply {                     /* PROTO_STATUS; request: proto_hdr */
	struct proto_reply_hdr r;
	uint32_t daemon_pid;
	uint32_t clients;
	uint64_t uptime_ms;
	uint32_t regions;
	uint32_t pools;
	uint32_t heaps;                         /* heap instances */
	uint32_t groups;
	uint64_t region_bytes;                  /* mapped, all regions */
	uint64_t pool_bytes;                    /* carved out for pools */
	uint64_t pool_used_bytes;
	uint64_t heap_bytes;                    /* what the pools leave */
	uint64_t heap_used_bytes;
	uint64_t waiters;
	char version[32];
	char socket[108];
	char config[256];                       /* "" for the built-in default */
};

struct proto_region_info_reply {
	struct proto_reply_hdr r;
	uint64_t next_cursor;
	uint32_t id;
	uint32_t attr;
	uint64_t size;
	uint64_t granularity;
	uint64_t used_bytes;                    /* pools' carve-outs and heap allocations */
	uint64_t free_bytes;
	uint32_t flags;                         /* PROTO_RI_* */
	int32_t numa_node;                      /* -1: none */
	char name[PROTO_NAME_MAX];
	char backing[16];                       /* as configured: memfd, shm, hugetlb, file */
	char obtained[32];                      /* e.g. "hugetlb→thp"; same as backing if nothing differs */
	char attr_name[PROTO_NAME_MAX];
	char heap[PROTO_NAME_MAX];              /* heap instance */
	char path[256];                         /* shm name or file path, "" otherwise */
	uint64_t scrubbed_bytes;                /* zeroed between owners since start */
	char scrub[16];                         /* cross-uid, always, never */
};

#define PROTO_RI_SEALED 0x1u
#define PROTO_RI_LOCKED 0x2u
#define PROTO_RI_BROKEN 0x4u

/* One entry per (heap instance, region) pair; an empty instance gives one
 * entry with an empty region name. */
struct proto_heap_info_reply {
	struct proto_reply_hdr r;
	uint64_t next_cursor;
	uint64_t total;                         /* the region's heap, pools included */
	uint64_t free;
	uint64_t largest_free;
	uint64_t min_free;
	uint64_t num_allocs;
	uint64_t num_frees;
	uint64_t num_used;                      /* live heap allocations (pools excluded) */
	uint32_t region_id;
	uint32_t attr;
	char heap[PROTO_NAME_MAX];
	char region[PROTO_NAME_MAX];
	char attr_name[PROTO_NAME_MAX];
};

#define PROTO_GROUP_POOLS_MAX 32

struct proto_group_info_reply {
	struct proto_reply_hdr r;
	uint64_t next_cursor;
	uint32_t npools;                        /* in the group; names beyond the array are left out */
	uint32_t select;                        /* 0 index, 1 fit, 2 attr */
	char name[PROTO_NAME_MAX];
	char select_name[16];
	char pools[PROTO_GROUP_POOLS_MAX][PROTO_NAME_MAX];
};

struct proto_client_info_reply {
	struct proto_reply_hdr r;
	uint64_t next_cursor;
	uint64_t conn_id;
	uint32_t pid;
	uint32_t uid;
	uint32_t gid;
	int32_t priority;
	uint64_t bytes_held;
	uint64_t blocks_held;
	uint32_t waits;
	uint32_t flags;                         /* PROTO_CI_SELF: the asking connection */
	uint64_t connected_ms;                  /* how long ago it connected */
	char comm[32];
};

#define PROTO_CI_SELF 0x1u

struct proto_stats_reply {                      /* PROTO_STATS; request: proto_hdr */
	struct proto_reply_hdr r;
	uint64_t allocs;
	uint64_t frees;
	uint64_t failures;
	uint64_t timeouts;
	uint64_t reclaimed_bytes;
	uint64_t connections;
	uint64_t refused_connections;
	uint64_t bad_messages;
	uint64_t uptime_ms;
	uint64_t refusals;                      /* access, quota and limit refusals */
	uint64_t scrubbed_bytes;
	uint64_t calls;                         /* requests served through call slots */
};

#define PROTO_MAP_POOL 1u
#define PROTO_MAP_REGION 2u
#define PROTO_MAP_CELLS_MAX 4096

/* Cell kinds in a map reply. */
#define PROTO_CELL_FREE 0u
#define PROTO_CELL_USED 1u                      /* blocks or heap allocations */
#define PROTO_CELL_POOL 2u                      /* region map: carved for a pool */

struct proto_map_req {
	struct proto_hdr hdr;
	uint32_t kind;                          /* PROTO_MAP_POOL or PROTO_MAP_REGION */
	uint32_t cells;                         /* wanted, 1..PROTO_MAP_CELLS_MAX */
	char name[PROTO_NAME_MAX];
};

/*
 * A pool map has one cell per block when the pool has at most the cells
 * asked for, otherwise each cell covers units_per_cell blocks.  A region map
 * divides the region into cells of equal bytes.  fill[i] is the used share
 * of cell i (0..255) and kind[i] what mostly occupies it.
 */
struct proto_map_reply {
	struct proto_reply_hdr r;
	uint32_t ncells;
	uint32_t kind;
	uint64_t units;                         /* blocks or bytes in all */
	uint64_t units_per_cell;
	uint64_t used_units;
	uint8_t fill[PROTO_MAP_CELLS_MAX];
	uint8_t cell_kind[PROTO_MAP_CELLS_MAX];
};

#define PROTO_REPORT_MAX 4000

struct proto_reload_reply {                     /* PROTO_RELOAD; request: proto_hdr */
	struct proto_reply_hdr r;
	char report[PROTO_REPORT_MAX];          /* one line per change, or the refusal */
};

/* PROTO_NOTIFY_ERROR: an error in a free that asked for no reply. */
struct proto_notify_error {
	struct proto_reply_hdr r;               /* status: the error; hdr.id: the free's id */
	uint32_t region_id;
	uint32_t pad;
	uint64_t offset;
};

/*
 * The contents of a shmpool_ref_t.  Opaque to applications; the daemon
 * checks every field on attach and the generation makes a ref to memory
 * that has since been freed fail with -ESTALE.
 */
struct proto_ref {
	uint8_t magic;                          /* PROTO_REF_MAGIC */
	uint8_t kind;                           /* PROTO_REF_BLOCK or PROTO_REF_HEAP */
	uint16_t region_id;
	uint32_t generation;
	uint64_t offset;                        /* in the region */
};

#define PROTO_REF_MAGIC 0xa5
#define PROTO_REF_BLOCK 1
#define PROTO_REF_HEAP 2

_Static_assert(sizeof(struct proto_ref) == PROTO_REF_SIZE, "ref is 16 bytes");

/* The smallest and largest valid size of a message of this type sent by a
 * client, or -EINVAL for a type a client may not send. */
int proto_request_size(uint16_t type, size_t *min, size_t *max);

/*
 * Check a received client message: length, version, type and the size the
 * type requires, trailing indices included.  Returns the type, or -EPROTO
 * (bad version), -EBADMSG (bad length for the type) or -EOPNOTSUPP
 * (unknown type).
 */
int proto_check_request(const void *buf, size_t len);

/* Whether a message is a block or heap free that wants no reply (no
 * PROTO_F_SYNC). */
int proto_free_async(const void *buf, size_t len);

/* Whether a request of type type (checked by proto_check_request) may use
 * the call slot: one that is answered with one reply and changes nothing
 * but allocations.  Frees that want no reply, introspection and
 * administration go on the socket. */
int proto_call_allowed(int type, const void *buf, size_t len);

/* Copy a name field into a C string: -EINVAL unless NUL-terminated, and,
 * when nonempty is set, non-empty. */
int proto_name(char *dst, const char name[PROTO_NAME_MAX], int nonempty);

/* Copy a C string into a name field: -ENAMETOOLONG if it does not fit. */
int proto_set_name(char name[PROTO_NAME_MAX], const char *src);

/*
 * Resolve the socket path by the documented rules: explicit, then the
 * config's, then $SHMPOOL_SOCKET, then ${runstatedir}/shmpool/shmpoold.sock
 * for root, else $XDG_RUNTIME_DIR/shmpool/shmpoold.sock.  -ENOENT when none
 * applies, -ENAMETOOLONG when the result does not fit a sockaddr_un.
 */
int proto_socket_path(const char *explicit_path, const char *config_path, char *out, size_t outlen);

/* Send one message with up to one fd attached (fd < 0: none).  Returns 0
 * or -errno; flags are sendmsg flags (MSG_DONTWAIT, MSG_NOSIGNAL added). */
int proto_send(int sock, const void *buf, size_t len, int fd, int flags);

/* Receive one message and at most one fd (*fd = -1 when none; extra fds
 * are closed).  Returns the length, 0 at end of stream, or -errno; a
 * truncated datagram is -EMSGSIZE. */
long proto_recv(int sock, void *buf, size_t len, int *fd, int flags);

/* Write msg as a record of a free ring at position *tail, the reader being
 * at head, a wrap record first if it would run past the end, and advance
 * *tail; the caller publishes it.  -ENOSPC (nothing written) when it does
 * not fit or head and *tail make no sense, -EMSGSIZE when len is not
 * between a header and PROTO_RING_MSG_MAX. */
int proto_ring_append(struct proto_ring *r, uint32_t *tail, uint32_t head, const void *msg,
		      size_t len);

/* Receive one message with recv(), which costs less than recvmsg(): any
 * descriptors attached are dropped by the kernel unseen.  Returns the length,
 * 0 at end of stream, or -errno; a datagram longer than len is consumed and
 * is -EMSGSIZE. */
long proto_recv_plain(int sock, void *buf, size_t len, int flags);

#endif
