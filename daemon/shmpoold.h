/*
 * shmpoold internals: the server, its connected peers, and the daemon-side
 * state of each pool (who holds which block, who waits).
 */
#ifndef SHMPOOL_SHMPOOLD_H
#define SHMPOOL_SHMPOOLD_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "deadline.h"
#include "layout.h"
#include "proto.h"
#include "waitq.h"

#define CONN_NONE 0u             /* owner slot meaning "nobody" */
#define CONN_MARK UINT32_MAX     /* transient owner mark while validating a free */
#define ADMIT_SLACK 64u          /* connections taken past max_clients, to be told -EUSERS */
#define OUTQ_MAX_BYTES (1u << 20) /* replies buffered for a peer that does not read */

struct server;
struct conn;

/* A block request that could not be met at once. */
struct waiter {
	struct waitq_entry qe;       /* on the pool's queue */
	struct deadline_entry dl;    /* on the server's deadline heap, unless FOREVER */
	struct conn *conn;
	struct dpool *pool;
	struct waiter *next_free;    /* server free list */
	struct waiter *conn_prev;    /* the connection's list of waits */
	struct waiter *conn_next;
	uint32_t req_id;
	uint32_t count;
	uint32_t flags;              /* PROTO_F_CONTIG */
	uint16_t reply_type;         /* BLOCK_ALLOC or GROUP_ALLOC reply */
};

/* A secondary hold, made by shmpool_attach, on a block or heap allocation. */
struct xhold {
	struct xhold *next;
	int mark;                    /* transient, while validating a free */
	uint32_t region_id;
	uint64_t offset;
};

/* Daemon-side state of one pool: ownership, generations and waiters. */
struct dpool {
	struct layout_pool *lp;
	const struct config_pool *cfg; /* NULL for pools made at run time */
	uint32_t *last_uid;          /* uid that last had each block, for scrubbing */
	uint32_t id;
	uint32_t *owner;             /* primary holder's conn slot, CONN_NONE if none */
	uint32_t *gen;               /* bumped on every allocation of the block */
	uint32_t *holders;           /* primary + secondary holds */
	struct waitq waiters;
	int retired;                 /* removed by reload or destroy; freed when unused */
	uint32_t nshared;            /* blocks with more than one holder */
	uint32_t nlanes;             /* stock lanes it was ever given */
};

/* A live heap allocation: hashed by (region, offset) and listed on its owner. */
struct halloc {
	struct halloc *hnext;        /* hash chain */
	struct halloc *cprev, *cnext; /* primary owner's list */
	uint32_t region_id;
	uint32_t owner;              /* conn slot, CONN_NONE if only attached */
	uint32_t gen;
	uint32_t holders;
	uint64_t offset;
	uint64_t size;               /* usable size */
	char heap[PROTO_NAME_MAX];
};

/* Heap bytes a connection holds in one heap instance (for its quota). */
struct conn_heap_use {
	struct conn_heap_use *next;
	uint64_t bytes;
	char name[PROTO_NAME_MAX];
};

/* Kinds of refusal, each logged once per client. */
#define REFUSE_ACCESS 0x1u
#define REFUSE_QUOTA_BLOCKS 0x2u
#define REFUSE_QUOTA_POOL 0x4u
#define REFUSE_QUOTA_BYTES 0x8u
#define REFUSE_QUOTA_HEAP 0x10u
#define REFUSE_WAITS 0x20u
#define REFUSE_CLIENTS 0x40u
#define REFUSE_MESSAGE 0x80u
#define REFUSE_ADMIN 0x100u

/* What the daemon keeps per region beyond the layout: scrub marks and
 * whether a SIGBUS broke it. */
struct region_state {
	int broken;
	uint32_t *marks;             /* heap chunks: last uid, or none/mixed */
	int dirty;                   /* used while not tracked: marks start mixed */
	uint64_t chunk;
	size_t nmarks;
	uint64_t scrubbed_bytes;
};

struct outmsg {
	struct outmsg *next;
	int fd;
	size_t len;
	unsigned char data[];
};

struct conn {
	struct server *srv;
	uv_poll_t poll;
	int fd;
	int closing;
	int hello_done;
	uint32_t slot;
	uint64_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char comm[32];
	gid_t *groups;               /* supplementary groups (SO_PEERGROUPS) */
	size_t ngroups;
	unsigned int refusals_logged; /* REFUSE_* kinds already logged */
	struct conn_heap_use *heap_use;
	int priority;
	uint8_t *regions_sent;       /* one byte per region id */
	uint32_t nregions_sent;
	uint8_t *pools_sent;
	uint32_t npools_sent;
	uint32_t *pool_blocks;       /* blocks held, by pool id */
	uint32_t npool_blocks;
	struct halloc *heap_allocs;  /* primary heap holds */
	struct xhold *xholds;
	struct waiter *waits;        /* pending waits */
	uint32_t nwaits;
	uint64_t bytes_held;
	uint64_t blocks_held;
	struct outmsg *outq, *outq_tail;
	size_t outq_bytes;
	uint32_t tx_head, tx_tail;   /* replies staged this loop iteration */
	int poll_events;
	struct proto_ring *ring;     /* its free ring, NULL if it has none */
	uint32_t ring_head;          /* how far the daemon has read it */
	int ring_broken;             /* hung up on for a bad record */
	/* Stock lanes of its ring, by lane (stock.c); NULL once the pool is
	 * gone, and never reused. */
	struct dpool *lane_pool[PROTO_STOCK_LANES];
	uint32_t lane_slots[PROTO_STOCK_LANES];
	uint32_t nlanes;
	uint64_t connected_ms;       /* loop clock at accept */
	uint32_t ahead_skip;         /* requests to serve before reading ahead again */
	uint32_t ahead_misses;       /* read-aheads in a row that found nothing */
	uint64_t reload_gen;         /* the reload it waits for, not read meanwhile; 0 none */
	uint32_t reload_id;          /* the id of its RELOAD request */
	int hung_up;                 /* shut down off the loop; the loop closes it */
	int poll_dirty;              /* its poll must be updated by the loop */
	/* The call slot (call.c). */
	uint32_t call_seen;          /* seq of the last request read from it */
	uint32_t call_kick_seen;
	uint32_t call_id;            /* id of the request read and not answered */
	int call_open;               /* that request is not answered yet */
	uint32_t call_active;        /* index in srv->call_active + 1; 0: not there */
	uint64_t call_ms;            /* clock of its last request or kick */
	uint32_t sock_msgs;          /* messages given to its socket */
};

/* A pool, or the heap, whose frees the rings' kick words ask for at once. */
struct ring_tight {
	uint64_t ms;                 /* loop clock of its last wait or shortage */
	int on;
};

struct stats {
	uint64_t allocs;
	uint64_t frees;
	uint64_t failures;
	uint64_t timeouts;
	uint64_t reclaimed_bytes;
	uint64_t connections;
	uint64_t refused_connections;
	uint64_t bad_messages;
	uint64_t refusals;
	uint64_t scrubbed_bytes;
	uint64_t calls;              /* requests served through call slots */
};

struct server {
	/* Guards everything here and every connection: held by the loop in
	 * each callback and by the call thread while it serves (call.c). */
	pthread_mutex_t lock;
	pthread_t loop_thread;
	uv_async_t defer_async;      /* the call thread asks the loop for libuv work */
	int timer_dirty;             /* the wait timer must be armed again */
	uint64_t timer_when;         /* the deadline it is armed for; UINT64_MAX: none */
	uv_loop_t *loop;
	uv_poll_t listen_poll;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t timer;
	uv_prepare_t flush_prepare;  /* send staged replies before the loop blocks */
	uv_check_t flush_check;      /* and after each round of I/O callbacks */
	/* Connections that read a request and got its reply in this loop
	 * iteration: how many, and the last (conn_read_ahead). */
	uint32_t nanswered;
	struct conn *answered;
	int listen_fd;
	int listen_activated;        /* fd came from systemd; do not unlink */
	int alive_fd;                /* the alive page (alive.c), or -1 */
	struct reload_job *reload;   /* the reload running, or NULL (server.c) */
	uint64_t reload_gen;         /* reloads started */
	int reload_again;            /* another is wanted once it ends */
	gid_t admin_gid;             /* [daemon] admin_group, looked up at load */
	int admin_gid_set;
	char socket_path[108];
	char config_path[4096];
	struct config cfg;
	struct layout *layout;
	struct dpool **pools;        /* by pool id; NULL for ids not in use */
	uint32_t npools;
	struct conn **conns;         /* by slot; slot 0 unused */
	uint32_t nconns_cap;
	uint32_t nconns;
	uint64_t next_conn_id;
	struct halloc **htab;
	size_t htab_size;
	size_t halloc_count;
	struct halloc *halloc_free;
	struct waiter *waiter_free;
	struct deadline_heap deadlines;
	int *ro_fds;                 /* read-only reopenings of region fds, by id */
	uint32_t nro_fds;
	struct region_state *region_state;
	uint32_t nregion_state;
	uint32_t *scratch_index;     /* block indices of the request being served */
	uint32_t scratch_cap;
	uint64_t heap_gen;
	struct stats stats;
	time_t started;
	uint64_t started_ms;         /* loop clock at start */
	int exit_code;
	int running;
	int accept_paused;           /* out of fds: not accepting until a close */
	int verbose;                 /* -v given: [daemon] log_level does not apply */
	uid_t euid;                  /* the daemon's own uid */
	struct ring_tight *ring_tight; /* by ring key (ring.c) */
	uint32_t ring_tight_cap;
	uint32_t ring_ntight;        /* keys whose kick is set */
	uint64_t ring_relax_ms;      /* loop clock of the last relax scan */
	uint32_t *alive_page;        /* the daemon's mapping of the alive page */
	/* The call thread (call.c). */
	int calls_running;
	int calls_stop;
	pthread_t call_thread;
	int doorbell_fd;
	uint32_t *doorbell;
	struct conn **call_active;   /* connections whose slot it watches */
	uint32_t ncall_active;
	uint32_t call_active_cap;
	uint64_t call_relax_ms;
};

/* A live region by id; NULL for an unknown id or a region retired by a
 * reload. */
static inline struct region *server_region(const struct server *srv, uint32_t id)
{
	if (id >= srv->layout->nregions || srv->layout->regions[id].fd < 0)
		return NULL;
	return &srv->layout->regions[id];
}

static inline struct heap *server_region_heap(const struct server *srv, uint32_t id)
{
	return id < srv->layout->nregions ? srv->layout->heaps[id] : NULL;
}

/* server.c */
int server_prepare(struct server *srv);
int server_listen(struct server *srv);
void server_start(struct server *srv, uv_loop_t *loop);
void server_stop(struct server *srv);
void server_free(struct server *srv);
/* Reload the configuration file (see server.c); c, if not NULL, asked with
 * request id and gets the reply when the reload is done. */
void server_reload(struct server *srv, struct conn *c, uint32_t id);
void server_reap_pools(struct server *srv);
int server_socket_perms(struct server *srv);
int server_add_conn(struct server *srv, struct conn *c);
void server_conn_closed(struct server *srv, struct conn *c);
void server_arm_timer(struct server *srv);
/* Milliseconds of uv_hrtime(): the clock of deadlines and of the rings'
 * and slots' quiet spells; any thread may read it. */
uint64_t server_now_ms(void);
/* Whether the caller is the loop's thread: only it may call libuv. */
int server_in_loop(const struct server *srv);
/* From the call thread: have the loop do the libuv work it left. */
void server_defer(struct server *srv);
int server_add_pool(struct server *srv, struct layout_pool *lp);
int server_destroy_pool(struct server *srv, const char *name);
int server_may_admin(const struct server *srv, const struct conn *c);

/* client.c: a connected peer */
int conn_create(struct server *srv, int fd, struct conn **out);
void conn_close(struct conn *c);
void conn_feed(struct conn *c, const void *buf, size_t len);
void conn_flush_replies(void);
/* Read c's requests again, or no longer, after c->reload_gen changed. */
void conn_repoll(struct conn *c);
int conn_read(struct conn *c);
void conn_read_ahead(struct server *srv);
/* Serve one message read from c's free ring: -EBADMSG unless it is a free
 * that wants no reply. */
int conn_ring_message(struct conn *c, const void *msg, size_t len);
int conn_send(struct conn *c, const void *buf, size_t len, int fd);
int conn_send_status(struct conn *c, uint16_t type, uint32_t id, int status);
/* Serve a request read from c's call slot (call.c) as one from the socket;
 * its reply goes back to the slot. */
void conn_serve_call(struct conn *c, const void *msg, size_t len);
void conn_reply_init(struct proto_reply_hdr *r, uint16_t req_type, uint32_t id, int status);
void conn_notify_error(struct conn *c, uint32_t id, int status, uint32_t region_id,
		       uint64_t offset);
int conn_region_desc(struct conn *c, uint32_t region_id, struct proto_reply_hdr *r,
		     struct proto_region_desc *d);
int conn_pool_desc(struct conn *c, struct dpool *p, int force, struct proto_reply_hdr *r,
		   struct proto_pool_desc *d, struct proto_region_desc *rd);

/* pool.c: daemon-side pool state */
int dpool_create(struct server *srv, struct layout_pool *lp, struct dpool **out);
void dpool_destroy(struct dpool *p);
int dpool_request(struct server *srv, struct conn *c, struct dpool *p, uint32_t req_id,
		  uint32_t count, uint32_t flags, int timeout_ms, uint16_t reply_type,
		  uint32_t stock);
int dpool_free(struct server *srv, struct conn *c, struct dpool *p, uint32_t count,
	       uint32_t flags, uint32_t nindices, const uint32_t *index);
int dpool_get(struct server *srv, struct conn *c, struct dpool *p, uint32_t first,
	      uint32_t count);
void dpool_kick(struct server *srv, struct dpool *p);
void dpool_waiter_expired(struct server *srv, struct waiter *w);
void dpool_release_conn(struct server *srv, struct conn *c);
struct dpool *dpool_find(struct server *srv, uint32_t region_id, uint64_t offset,
			 uint32_t *index, int *exact);
int dpool_ref(struct conn *c, const struct dpool *p, uint32_t i, struct proto_ref *ref);
int dpool_attach(struct server *srv, struct conn *c, struct dpool *p, uint32_t i);

/* ctl.c: introspection and administration for shmpoolctl */
void ctl_status(struct conn *c, const struct proto_hdr *m);
void ctl_pool_info(struct conn *c, const struct proto_cursor_req *m);
void ctl_region_info(struct conn *c, const struct proto_cursor_req *m);
void ctl_heap_info(struct conn *c, const struct proto_cursor_req *m);
void ctl_group_info(struct conn *c, const struct proto_cursor_req *m);
void ctl_client_info(struct conn *c, const struct proto_cursor_req *m);
void ctl_stats(struct conn *c, const struct proto_hdr *m);
void ctl_map(struct conn *c, const struct proto_map_req *m);
void ctl_reload(struct conn *c, const struct proto_hdr *m);

/* access.c: access lists, quotas, refusal logging */
int access_conn_init(struct conn *c);
int conn_privileged(const struct conn *c);
const struct config_region *access_region_cfg(const struct server *srv, uint32_t region_id);
int access_region(const struct server *srv, const struct conn *c, uint32_t region_id);
int access_pool(const struct server *srv, const struct conn *c, const struct dpool *p);
int access_heap(const struct server *srv, const struct conn *c, const char *instance);
int access_ro_fd(struct server *srv, uint32_t region_id);
void access_forget_retired(struct server *srv);
void access_fini(struct server *srv);
void access_refused(struct conn *c, unsigned int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int access_quota_blocks(struct conn *c, const struct dpool *p, uint32_t count);
/* How many more blocks of p c's quotas allow (UINT64_MAX: no limit). */
uint64_t access_quota_room(const struct conn *c, const struct dpool *p);
int access_quota_heap(struct conn *c, const char *instance, uint64_t size);
uint64_t *access_heap_bytes(struct conn *c, const char *instance);
int access_admit(struct server *srv, struct conn *c);

/* scrub.c: zeroing between owners, SIGBUS guard */
void scrub_init(void);
int scrub_broken(const struct server *srv, uint32_t region_id);
int scrub_guarded(struct server *srv, uint32_t region_id, uint64_t dst, const void *src,
		  uint64_t len);
int scrub_cross_uid(const struct server *srv, const struct dpool *p);
int scrub_block_grant(struct server *srv, struct dpool *p, uint32_t i, uid_t uid);
int scrub_on_free(const struct server *srv, const struct dpool *p);
void scrub_block_free(struct server *srv, struct dpool *p, uint32_t i);
int scrub_heap_grant(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len,
		     uid_t uid);
void scrub_heap_free(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len);
void scrub_forget(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len);
void scrub_pool_init(struct server *srv, struct dpool *p);
void scrub_history_lost(struct server *srv, uint32_t region_id);
void scrub_fini(struct server *srv);

/* heapalloc.c: multi-heap allocations and their holders */
void heapalloc_handle_alloc(struct conn *c, const struct proto_heap_alloc *m);
void heapalloc_handle_free(struct conn *c, const struct proto_heap_free *m);
void heapalloc_handle_realloc(struct conn *c, const struct proto_heap_realloc *m);
int heapalloc_ref(struct server *srv, struct conn *c, uint32_t region_id, uint64_t offset,
		  struct proto_ref *ref);
int heapalloc_attach(struct server *srv, struct conn *c, const struct proto_ref *ref,
		     struct halloc **out);
void heapalloc_drop_xhold(struct server *srv, struct conn *c, struct xhold *x);
void heapalloc_release_conn(struct server *srv, struct conn *c);
void heapalloc_fini(struct server *srv);

/* ring.c: the connections' free rings (see proto.h) */
/* Create c's ring and map it; *fd_out is the memfd to hand over (the caller
 * closes it). */
int ring_open(struct conn *c, int *fd_out);
/* Set the kick for every free of c's ring: c is closing. */
void ring_kick_close(struct conn *c);
void ring_close(struct conn *c);
/* Serve the records appended to c's ring since the last read: how many, or
 * -EBADMSG when the ring is broken and the connection is being hung up. */
int ring_drain(struct conn *c);
/* Read every connection's ring but except's: the records served. */
int ring_drain_all(struct server *srv, struct conn *except);
/* The same, and take back every block every connection caches: what
 * clients hold is then exact.  Returns the records and blocks served. */
int ring_settle_all(struct server *srv, struct conn *except);
/* An allocation from p (NULL: the heap) cannot be met: have clients send
 * their frees of it from now on, read every ring but except's and take back
 * the blocks of p every client cached.  Returns the records and blocks
 * served. */
int ring_pull(struct server *srv, struct conn *except, const struct dpool *p);
/* Set p's kick in every ring, as ring_pull does, without reading them. */
void ring_tighten(struct server *srv, const struct dpool *p);
/* Whether clients are asked to send their frees of p at once. */
int ring_pool_tight(const struct server *srv, const struct dpool *p);
/* Log why c's ring is broken, count a bad message and hang up: -EBADMSG. */
int ring_hang_up(struct conn *c, const char *why);
/* Give a new ring the kick words every ring has. */
void ring_kick_init(struct conn *c);
/* Once a loop iteration: let clients park frees again after a quiet spell. */
void ring_relax(struct server *srv);
void ring_fini(struct server *srv);

/* call.c: the call slots and the thread that serves them (see proto.h) */
/* Start the call thread: needs the alive page.  -errno if it cannot. */
int calls_start(struct server *srv);
/* Stop it; called from the loop with srv->lock held. */
void calls_stop(struct server *srv);
void calls_fini(struct server *srv);
/* Serve what c's slot holds (a request, a kick): 1 if there was any. */
int call_serve(struct conn *c);
/* Watch c's slot from now on, and serve what it holds (PROTO_CALL). */
void call_activate(struct conn *c);
/* Answer c's open call in its slot with msg: 0, or -EMSGSIZE if it does not
 * fit (the caller sends it on the socket and then calls call_by_socket). */
int call_answer(struct conn *c, const void *msg, size_t len);
void call_by_socket(struct conn *c);
/* c is being hung up: tell an open call, and the client to use the
 * socket (the slot stays listed until the loop closes c). */
void call_hang_up(struct conn *c);
/* c is going away: stop watching its slot and tell an open call. */
void call_forget(struct conn *c);

/* alive.c: start the thread of the alive page and set srv->alive_fd; call
 * after any fork.  -errno if the kernel lacks what it needs. */
int alive_start(struct server *srv);

/* stock.c: the block caches in the rings' stock lanes (see proto.h) */
/* The cache a connection that opens p now gets: 0 when the pool has none
 * (not set, scrub = always, free_ring = no, a pool made at run time). */
uint32_t stock_pool_cache(const struct server *srv, const struct dpool *p);
/* The lane of c's ring for p, made on first use, and its slots; or
 * PROTO_STOCK_NONE (no cache for p, or no lane left). */
uint32_t stock_lane(struct conn *c, struct dpool *p, uint32_t *slots);
/* How many blocks beyond count a request of c for p may add to c's cache,
 * when it asks for up to want more. */
uint32_t stock_extra(struct server *srv, struct conn *c, struct dpool *p, uint32_t count,
		     uint32_t want);
/* Take back the cached blocks of c (of pool pool_id only, unless it is
 * STOCK_ALL): the number freed. */
#define STOCK_ALL UINT32_MAX
int stock_steal(struct server *srv, struct conn *c, uint32_t pool_id);
/* The same for every connection. */
int stock_steal_all(struct server *srv, uint32_t pool_id);
/* Pool p is going away: no lane serves it any more. */
void stock_forget(struct server *srv, const struct dpool *p);

#endif
