/*
 * conn: one connection to shmpoold, shared by every thread of the process
 * that uses it.
 *
 * There is no background thread.  A caller registers a pending record on
 * its own stack and sends its request; if no thread is reading the socket it
 * becomes the reader, receives replies without the lock and hands each to
 * the record whose id it echoes.  When its own reply has come, it passes the
 * reader role to another waiting caller.  A caller that finds nobody reading
 * takes the role before it sends, so its send and its receive share one
 * release of the lock; only a caller that has to wait sets up its condition
 * variable.  A single-threaded caller thus pays one send and one receive per
 * call, one lock and one unlock, and nothing else.
 *
 * The receive is recv(), which costs less than recvmsg, unless a call in
 * flight may be answered with a region fd (fd_wanted): recv would let the
 * kernel drop it.  A call that may bring an fd while the reader is already in
 * recv first sends PROTO_SYNC; the daemon answers in order, so the reader is
 * back with the SYNC reply, and reads with recvmsg, before the fd comes.
 *
 * A free that needs no reply is appended to the connection's free ring (see
 * proto.h) when the daemon gave one and does not ask for frees at once: a
 * copy instead of a send, and the daemon reads it with the next message.
 */
#include "client.h"
#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Every connection of the process, so that a fork can mark them all. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static shmpool_t *conns;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * The fork handlers take every connection's mutex around fork, so the child
 * inherits them unlocked and consistent, and mark the child's copies: its
 * calls fail with -ENOTCONN and never touch the socket it shares with the
 * parent.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&conns_lock);
	for (shmpool_t *sp = conns; sp; sp = sp->next)
		pthread_mutex_lock(&sp->lock);
}

static void atfork_parent(void)
{
	for (shmpool_t *sp = conns; sp; sp = sp->next)
		pthread_mutex_unlock(&sp->lock);
	pthread_mutex_unlock(&conns_lock);
}

static void atfork_child(void)
{
	for (shmpool_t *sp = conns; sp; sp = sp->next) {
		sp->forked = 1;
		pthread_mutex_unlock(&sp->lock);
	}
	pthread_mutex_unlock(&conns_lock);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void conns_add(shmpool_t *sp)
{
	pthread_mutex_lock(&conns_lock);
	sp->prev = NULL;
	sp->next = conns;
	if (conns)
		conns->prev = sp;
	conns = sp;
	pthread_mutex_unlock(&conns_lock);
}

static void conns_remove(shmpool_t *sp)
{
	pthread_mutex_lock(&conns_lock);
	if (sp->prev)
		sp->prev->next = sp->next;
	else if (conns == sp)
		conns = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	sp->prev = sp->next = NULL;
	pthread_mutex_unlock(&conns_lock);
}

unsigned long client_async_errors(shmpool_t *sp)
{
	/* A statistic: relaxed ordering is enough, nothing depends on it. */
	return __atomic_load_n(&sp->async_errors, __ATOMIC_RELAXED);
}

static void async_error(shmpool_t *sp)
{
	__atomic_fetch_add(&sp->async_errors, 1, __ATOMIC_RELAXED);
}

int client_conn_enter(shmpool_t *sp)
{
	int rc = 0;

	pthread_mutex_lock(&sp->lock);
	if (sp->forked || (sp->dead && !sp->closing))
		rc = -ENOTCONN;
	else if (sp->closing)
		rc = -ECANCELED;
	if (rc < 0) {
		pthread_mutex_unlock(&sp->lock);
		return rc;
	}
	sp->busy++;
	return 0;
}

void client_conn_leave(shmpool_t *sp)
{
	if (--sp->busy == 0 && sp->closing)
		pthread_cond_broadcast(&sp->idle);
	pthread_mutex_unlock(&sp->lock);
}

void client_pending_init(struct client_pending *p)
{
	p->done = 0;
	p->status = 0;
	p->blocks = NULL;
	p->count = 0;
	p->got = 0;
	p->pool_id = UINT32_MAX;
	p->contig = 0;
	p->stock = 0;
	p->nextra = 0;
	p->extra = NULL;
	p->slot_wake = NULL;
}

static uint32_t conn_next_id(shmpool_t *sp)
{
	if (++sp->next_id == 0)
		sp->next_id = 1;
	return sp->next_id;
}

static void pending_complete(struct client_pending *p, int status)
{
	p->status = status;
	/* A caller waiting on the slot reads it without the lock. */
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	if (p->cond_live)
		pthread_cond_signal(&p->cond);
	if (p->slot_wake)
		futex_wake_shared(p->slot_wake, INT_MAX);
}

static struct client_pending *pending_find(shmpool_t *sp, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (struct client_pending *p = sp->pending; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* Requests whose reply may carry a region fd: the first reply naming a
 * region this connection has not been sent.  conn_apply_descs takes
 * descriptors from the replies of these and of no others. */
static int reply_may_carry_fd(uint16_t type)
{
	switch (type) {
	case PROTO_HELLO:
	case PROTO_POOL_OPEN:
	case PROTO_POOL_CREATE:
	case PROTO_GROUP_ALLOC:
	case PROTO_HEAP_ALLOC:
	case PROTO_HEAP_REALLOC:
	case PROTO_ATTACH:
	case PROTO_ALIVE:
	case PROTO_DOORBELL:
		return 1;
	default:
		return 0;
	}
}

static void pending_add(shmpool_t *sp, struct client_pending *p, uint16_t type)
{
	p->cond_live = 0;
	p->id = conn_next_id(sp);
	p->type = type;
	p->fd_reply = reply_may_carry_fd(type);
	sp->fd_wanted += (unsigned)p->fd_reply;
	p->prev = NULL;
	p->next = sp->pending;
	if (sp->pending)
		sp->pending->prev = p;
	sp->pending = p;
}

/* Nobody reads: wake a caller other than self still waiting so that it
 * takes the reader role.  One that never waited will see the role free
 * before it waits; one whose call is in the slot reads the socket only if
 * the slot sends it there, and then takes the role itself. */
static void reader_wanted(shmpool_t *sp, const struct client_pending *self)
{
	for (struct client_pending *q = sp->pending; q; q = q->next) {
		if (!q->done && q != self && !q->slot_wake) {
			if (q->cond_live)
				pthread_cond_signal(&q->cond);
			break;
		}
	}
}

/* Unlink a finished call, and pass the reader role on if it is free. */
static void pending_remove(shmpool_t *sp, struct client_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		sp->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	sp->fd_wanted -= (unsigned)p->fd_reply;
	if (p->cond_live)
		pthread_cond_destroy(&p->cond);
	if (!sp->reading)
		reader_wanted(sp, NULL);
}

/* The daemon is gone, or shmpool_disconnect shut the socket: every call in
 * flight ends. */
static void conn_lost(shmpool_t *sp)
{
	int status = sp->closing ? -ECANCELED : -ECONNRESET;

	sp->dead = 1;
	for (struct client_pending *p = sp->pending; p; p = p->next)
		if (!p->done)
			pending_complete(p, status);
}

/* What a send's result means for the call: a peer gone ends every call. */
static int conn_sent(shmpool_t *sp, int rc)
{
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
		conn_lost(sp);
		rc = sp->closing ? -ECANCELED : -ECONNRESET;
	}
	return rc;
}

/* Send one datagram with the lock released (sendmsg may block while the
 * daemon's queue is full).  Called and returns with the lock held. */
static int conn_send(shmpool_t *sp, const void *msg, size_t len)
{
	int rc;

	sp->sock_sent++;
	pthread_mutex_unlock(&sp->lock);
	rc = proto_send(sp->fd, msg, len, -1, 0);
	pthread_mutex_lock(&sp->lock);
	return conn_sent(sp, rc);
}

static size_t reply_size(uint16_t req)
{
	switch (req) {
	case PROTO_HELLO:
		return sizeof(struct proto_hello_reply);
	case PROTO_POOL_OPEN:
	case PROTO_POOL_CREATE:
		return sizeof(struct proto_pool_reply);
	case PROTO_POOL_STAT:
		return sizeof(struct proto_pool_stat_reply);
	case PROTO_POOL_INFO:
		return sizeof(struct proto_pool_info_reply);
	case PROTO_HEAP_ALLOC:
	case PROTO_HEAP_REALLOC:
	case PROTO_ATTACH:
		return sizeof(struct proto_heap_reply);
	case PROTO_REF:
		return sizeof(struct proto_ref_reply);
	case PROTO_STATUS:
		return sizeof(struct proto_status_reply);
	case PROTO_REGION_INFO:
		return sizeof(struct proto_region_info_reply);
	case PROTO_HEAP_INFO:
		return sizeof(struct proto_heap_info_reply);
	case PROTO_GROUP_INFO:
		return sizeof(struct proto_group_info_reply);
	case PROTO_CLIENT_INFO:
		return sizeof(struct proto_client_info_reply);
	case PROTO_STATS:
		return sizeof(struct proto_stats_reply);
	case PROTO_MAP:
		return sizeof(struct proto_map_reply);
	case PROTO_RELOAD:
		return sizeof(struct proto_reload_reply);
	default:
		return sizeof(struct proto_reply_hdr);
	}
}

/* Map the free ring the daemon sent with the hello reply; fd is consumed.
 * Without it frees are sent, so a failure costs speed, not service. */
static void ring_map(shmpool_t *sp, int fd)
{
	struct stat st;
	void *r = MAP_FAILED;

	if (!sp->ring && fstat(fd, &st) == 0 && st.st_size == PROTO_RING_SIZE)
		r = mmap(NULL, PROTO_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r != MAP_FAILED) {
		sp->ring = r;
		sp->ring_tail = __atomic_load_n(&sp->ring->tail, __ATOMIC_RELAXED);
	}
}

/* Map the alive page; fd is consumed.  Without it a daemon killed outright
 * is noticed on the next message, not at once. */
static void alive_map(shmpool_t *sp, int fd)
{
	struct stat st;
	void *a = MAP_FAILED;

	if (!sp->alive && fstat(fd, &st) == 0 && st.st_size == PROTO_ALIVE_SIZE)
		a = mmap(NULL, PROTO_ALIVE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (a != MAP_FAILED)
		sp->alive = a;
}

/* Map the doorbell page; fd is consumed.  Without it every call goes by
 * the socket. */
static void doorbell_map(shmpool_t *sp, int fd)
{
	struct stat st;
	void *d = MAP_FAILED;

	if (!sp->doorbell && fstat(fd, &st) == 0 && st.st_size == PROTO_DOORBELL_SIZE)
		d = mmap(NULL, PROTO_DOORBELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (d != MAP_FAILED)
		sp->doorbell = d;
}

/*
 * Whether the daemon has died: its alive page lost the thread id (see
 * proto.h).  The block caches and the free ring are then not used, so that
 * the call goes to the socket and fails there.
 */
static int daemon_gone(const shmpool_t *sp)
{
	return sp->alive &&
	       !(__atomic_load_n(sp->alive, __ATOMIC_ACQUIRE) & PROTO_ALIVE_TID_MASK);
}

/*
 * Apply the descriptors a reply carries, whoever it is for: the daemon sends
 * a region and its fd only once per connection, so they must be recorded
 * even if the call that asked has gone.  Consumes fd.
 */

static int conn_apply_descs(shmpool_t *sp, const void *msg, uint16_t req, size_t len, int fd)
{
	const union {
		struct proto_reply_hdr r;
		struct proto_pool_reply pool;
		struct proto_block_reply block;
		struct proto_heap_reply heap;
	} *m = msg;
	const struct proto_pool_desc *pd = NULL;
	const struct proto_region_desc *rd = NULL;
	int rc = 0;

	switch (req) {
	case PROTO_HELLO:
		if (fd >= 0 && (m->r.flags & PROTO_F_RING)) {
			ring_map(sp, fd);
			fd = -1;
		}
		break;
	case PROTO_ALIVE:
		if (fd >= 0 && (m->r.flags & PROTO_F_ALIVE)) {
			alive_map(sp, fd);
			fd = -1;
		}
		break;
	case PROTO_DOORBELL:
		if (fd >= 0 && (m->r.flags & PROTO_F_CALL)) {
			doorbell_map(sp, fd);
			fd = -1;
		}
		break;
	case PROTO_POOL_OPEN:
	case PROTO_POOL_CREATE:
		if (len >= sizeof(m->pool)) {
			pd = &m->pool.pool;
			rd = &m->pool.region;
		}
		break;
	case PROTO_GROUP_ALLOC:
		if (len >= sizeof(m->block)) {
			pd = &m->block.pool;
			rd = &m->block.region;
		}
		break;
	case PROTO_HEAP_ALLOC:
	case PROTO_HEAP_REALLOC:
	case PROTO_ATTACH:
		if (len >= sizeof(m->heap)) {
			pd = &m->heap.pool;
			rd = &m->heap.region;
		}
		break;
	}
	if (rd && (m->r.flags & PROTO_F_REGION)) {
		rc = client_region_apply(sp, rd, fd);
		fd = -1;
	} else if (m->r.flags & PROTO_F_REGION) {
		rc = -EBADMSG;
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0 && pd && (m->r.flags & PROTO_F_POOL_DESC))
		rc = client_pool_apply(sp, pd);
	return rc;
}

/* Block i of a grant, at position pos of it: the caller's, held and its
 * pointer written (NULL when the region is not mapped), or one for the
 * cache, which the connection holds through its lane. */
static inline void grant_block(shmpool_t *sp, struct client_pool *cp, struct client_pending *p,
			       char *base, uint32_t i, uint32_t pos)
{
	if (pos >= p->count) {
		p->extra[p->nextra++] = i;
		return;
	}
	if (!client_hold_grant_first(cp, i))
		client_hold_grant(sp, cp, i);
	p->blocks[pos] = base ? base + (uint64_t)i * cp->stride : NULL;
}

/*
 * One frame of a block grant: record the holds and write the pointers into
 * the caller's array.  Holds are recorded even when the grant turns out to
 * be unusable, because the daemon has granted the blocks all the same.
 */
static void conn_grant_frame(shmpool_t *sp, struct client_pending *p, const void *msg,
			     size_t len)
{
	const struct proto_block_reply *r = msg;
	struct client_pool *cp;
	char *base;
	int rc = -EBADMSG;

	if (len < sizeof(*r) || len != sizeof(*r) + (size_t)r->nindices * sizeof(uint32_t))
		goto fail;
	cp = client_pool_get(sp, r->pool_id);
	if (!cp || r->count < p->count || r->count - p->count > p->stock || r->first != p->got)
		goto fail;
	if ((p->type == PROTO_BLOCK_ALLOC || p->got > 0) && r->pool_id != p->pool_id)
		goto fail;
	p->pool_id = r->pool_id;
	if (p->contig) {
		uint32_t first = r->index[0];
		char *ptr;

		if (r->nindices != 1 || (r->r.flags & PROTO_F_MORE) || first >= cp->num_blocks ||
		    r->count > cp->num_blocks - first)
			goto fail;
		for (uint32_t k = 0; k < r->count; k++)
			client_hold_grant(sp, cp, first + k);
		ptr = client_block_ptr(sp, cp, first);
		if (!ptr) {
			rc = -ENOMEM;
			goto fail;
		}
		p->blocks[0] = ptr;
		p->got = r->count;
		pending_complete(p, 0);
		return;
	}
	base = client_region_base(sp, cp->region_id);
	if (base)
		base += cp->base;
	if (r->r.flags & PROTO_F_SEQ) {
		/* A run in order, named by its first block: the whole grant
		 * in one frame, every block of it in the pool. */
		uint32_t first, n = r->count;

		if (r->nindices != 1 || (r->r.flags & PROTO_F_MORE) || p->got != 0 || n == 0)
			goto fail;
		first = r->index[0];
		if (first >= cp->num_blocks ||
		    ((r->r.flags & PROTO_F_DESC) ? first < n - 1 : n - 1 > cp->num_blocks - 1 - first))
			goto fail;
		if (r->r.flags & PROTO_F_DESC)
			for (uint32_t k = 0; k < n; k++)
				grant_block(sp, cp, p, base, first - k, k);
		else
			for (uint32_t k = 0; k < n; k++)
				grant_block(sp, cp, p, base, first + k, k);
		p->got = n;
		pending_complete(p, base ? 0 : -ENOMEM);
		return;
	}
	if (r->nindices > r->count - p->got)
		goto fail;
	for (uint32_t k = 0; k < r->nindices; k++) {
		if (r->index[k] >= cp->num_blocks)
			goto fail;
		grant_block(sp, cp, p, base, r->index[k], p->got + k);
	}
	/* Some of the frame's blocks are the caller's, and cannot be reached. */
	if (!base && r->nindices > 0 && p->got < p->count)
		rc = -ENOMEM;
	p->got += r->nindices;
	if (rc == -ENOMEM)
		goto fail;
	if (!(r->r.flags & PROTO_F_MORE)) {
		if (p->got != r->count)
			goto fail;
		pending_complete(p, 0);
	}
	return;
fail:
	pending_complete(p, rc);
}

/* Hand one received message to whoever it is for. */
static void conn_dispatch(shmpool_t *sp, const void *msg, size_t len, int fd)
{
	const struct proto_reply_hdr *r = msg;
	struct client_pending *p;
	uint16_t req;
	int rc = 0;

	if (len < sizeof(*r) || r->hdr.version != SHMPOOL_PROTO_VERSION ||
	    r->hdr.type == PROTO_NOTIFY_ERROR) {
		if (fd >= 0)
			close(fd);
		async_error(sp);
		return;
	}
	p = pending_find(sp, r->hdr.id);
	if (p && p->done)
		p = NULL;
	if (r->hdr.type == PROTO_ERROR || !(r->hdr.type & PROTO_REPLY)) {
		if (fd >= 0)
			close(fd);
		if (p && r->hdr.type == PROTO_ERROR)
			pending_complete(p, r->status < 0 ? r->status : -EPROTO);
		else
			async_error(sp);
		return;
	}
	req = (uint16_t)(r->hdr.type & ~PROTO_REPLY);
	if (r->status >= 0)
		rc = conn_apply_descs(sp, msg, req, len, fd);
	else if (fd >= 0)
		close(fd);
	if (!p)
		return;
	if (p->type != req)
		rc = -EPROTO;
	else if (rc == 0 && r->status < 0)
		rc = r->status;
	if (rc < 0) {
		/* An error may come with a body, such as a refused reload's
		 * report. */
		if (rc == r->status && len > sizeof(*r) && len <= sizeof(p->reply))
			memcpy(&p->reply, msg, len);
		pending_complete(p, rc);
		return;
	}
	if (req == PROTO_BLOCK_ALLOC || req == PROTO_GROUP_ALLOC) {
		conn_grant_frame(sp, p, msg, len);
		return;
	}
	if (len < reply_size(req) || len > sizeof(p->reply)) {
		pending_complete(p, -EBADMSG);
		return;
	}
	memcpy(&p->reply, msg, len);
	pending_complete(p, r->status);
}

/* Take the reader role; the caller releases the lock next. */
static void reader_begin(shmpool_t *sp)
{
	sp->reading = 1;
	sp->reading_plain = sp->fd_wanted == 0;
}

/* Receive one message as the reader, with the lock released. */
static long reader_recv(shmpool_t *sp, int *fd, int flags)
{
	*fd = -1;
	if (sp->reading_plain)
		return proto_recv_plain(sp->fd, sp->rx, PROTO_MAX_MESSAGE, flags);
	return proto_recv(sp->fd, sp->rx, PROTO_MAX_MESSAGE, fd, flags);
}

/* Give the reader role back, with the lock held again. */
static void reader_release(shmpool_t *sp)
{
	sp->reading = 0;
	sp->reading_plain = 0;
}

/* Give the reader role back and hand over what was read (n bytes, or the
 * end of the connection). */
static void reader_end(shmpool_t *sp, long n, int fd)
{
	reader_release(sp);
	if (n > 0) {
		sp->sock_got++;
		conn_dispatch(sp, sp->rx, (size_t)n, fd);
	} else {
		conn_lost(sp);
	}
}

/* Wait for a call's reply, reading the socket when nobody else does.
 * Called and returns with the lock held. */
static int conn_wait(shmpool_t *sp, struct client_pending *p)
{
	while (!p->done) {
		long n;
		int fd;

		if (sp->reading) {
			if (!p->cond_live) {
				pthread_cond_init(&p->cond, NULL);
				p->cond_live = 1;
			}
			pthread_cond_wait(&p->cond, &sp->lock);
			continue;
		}
		reader_begin(sp);
		pthread_mutex_unlock(&sp->lock);
		n = reader_recv(sp, &fd, 0);
		pthread_mutex_lock(&sp->lock);
		reader_end(sp, n, fd);
	}
	return p->status;
}

/*
 * Nobody is reading: take the role, then send and receive with one release
 * of the lock.  The send does not block while the role is held (a thread
 * waiting on the role could be what drains the queue the send waits on);
 * if the socket is full, the role goes back and the send waits as usual.
 */
static int conn_send_read(shmpool_t *sp, struct client_pending *p, const void *msg, size_t len)
{
	long n = 0;
	int rc, fd = -1;

	reader_begin(sp);
	sp->sock_sent++;
	pthread_mutex_unlock(&sp->lock);
	rc = proto_send(sp->fd, msg, len, -1, MSG_DONTWAIT);
	if (rc == 0)
		n = reader_recv(sp, &fd, 0);
	pthread_mutex_lock(&sp->lock);
	if (rc == 0) {
		reader_end(sp, n, fd);
		return 0;
	}
	reader_release(sp);
	reader_wanted(sp, p);
	if (rc == -EAGAIN)
		return conn_send(sp, msg, len);
	return conn_sent(sp, rc);
}

#define SLOT_CHECK_MS 100      /* how often a call waiting in the slot checks the daemon */
#define SLOT_YIELDS 2          /* sched_yield before a call sleeps on its slot */

/* Whether the call thread should be told of the slot: it sleeps. */
static void doorbell_ring(shmpool_t *sp)
{
	if (__atomic_load_n(&sp->alive[PROTO_ALIVE_CALL_IDLE], __ATOMIC_RELAXED)) {
		__atomic_fetch_add(sp->doorbell, 1, __ATOMIC_RELEASE);
		futex_wake_shared(sp->doorbell, 1);
	}
}

/* Whether the daemon's call thread watches the slot (a hint: slot_kick
 * checks again after its fence). */
static int slot_watched(const shmpool_t *sp)
{
	return sp->doorbell && __atomic_load_n(&sp->ring->call.on, __ATOMIC_RELAXED);
}

/*
 * Have the daemon read the free ring now through the call slot (see
 * proto.h): 0, or -EAGAIN when its call thread does not watch the slot and
 * PROTO_KICK must go by the socket.
 */
static int slot_kick(shmpool_t *sp)
{
	struct proto_call *k;

	if (!sp->doorbell)
		return -EAGAIN;
	k = &sp->ring->call;
	__atomic_fetch_add(&k->kick, 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&k->on, __ATOMIC_RELAXED))
		return -EAGAIN;
	doorbell_ring(sp);
	return 0;
}

/* Whether a call may go through the slot: one at a time, of a kind the
 * daemon takes there, and not past a free still on its way by the socket. */
static int slot_usable(const shmpool_t *sp, const struct client_pending *p, const void *msg,
		       size_t len)
{
	return sp->doorbell && !sp->call_busy && len <= PROTO_CALL_MSG_MAX &&
	       sp->sock_synced >= sp->sock_async && proto_call_allowed(p->type, msg, len) &&
	       !daemon_gone(sp) &&
	       /* A reader using recv() would drop an fd the reply may bring
		* by the socket. */
	       !(p->fd_reply && sp->reading && sp->reading_plain);
}

/* Whether the daemon is gone although nothing said so: checked by a call
 * that waits in the slot, every SLOT_CHECK_MS. */
static int slot_daemon_lost(shmpool_t *sp)
{
	struct pollfd pfd = { .fd = sp->fd, .events = POLLRDHUP };

	if (daemon_gone(sp))
		return 1;
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* Read what the daemon sent on the socket while the calls used the slot
 * (errors in frees that did not wait), if nobody else reads. */
static void slot_drain_socket(shmpool_t *sp)
{
	const struct proto_call *k = &sp->ring->call;

	while (!sp->reading && !sp->dead &&
	       __atomic_load_n(&k->sock_msgs, __ATOMIC_RELAXED) != sp->sock_got) {
		long n;
		int fd;

		reader_begin(sp);
		pthread_mutex_unlock(&sp->lock);
		n = reader_recv(sp, &fd, MSG_DONTWAIT);
		pthread_mutex_lock(&sp->lock);
		if (n == -EAGAIN) {
			reader_release(sp);
			break;
		}
		reader_end(sp, n, fd);
	}
	if (!sp->reading)
		reader_wanted(sp, NULL);
}

/*
 * A call through the slot: write the request, tell the daemon if it must
 * be told, and sleep on the reply's futex word with the lock released.
 * The reply is dispatched like one from the socket; one that went by the
 * socket is waited for there.
 */
static int slot_call(shmpool_t *sp, struct client_pending *p, const void *msg, size_t len)
{
	struct proto_call *k = &sp->ring->call;
	uint32_t seq = sp->call_seq + 1, rlen;
	int rc = 0, got = 0;

	sp->call_busy = 1;
	memcpy(k->req, msg, len);
	__atomic_store_n(&k->len, (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(&k->seq, seq, __ATOMIC_RELEASE);
	sp->call_seq = seq;
	p->slot_wake = &k->reply_seq;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&k->on, __ATOMIC_RELAXED)) {
		struct proto_hdr m = {
			.version = SHMPOOL_PROTO_VERSION,
			.type = PROTO_CALL,
			.id = conn_next_id(sp),
		};

		rc = conn_send(sp, &m, sizeof(m));
	} else {
		doorbell_ring(sp);
	}
	pthread_mutex_unlock(&sp->lock);
	for (int yields = 0; rc == 0;) {
		uint32_t v = __atomic_load_n(&k->reply_seq, __ATOMIC_ACQUIRE);

		if (v == seq) {
			got = 1;
			break;
		}
		if (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE))
			break;
		/* On the daemon's CPU, giving it the CPU serves the call
		 * sooner than sleeping; then sleep (see proto.h). */
		if (yields < SLOT_YIELDS &&
		    __atomic_load_n(&k->queued, __ATOMIC_ACQUIRE) != seq) {
			yields++;
			sched_yield();
			continue;
		}
		__atomic_store_n(&k->sleeping, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&k->reply_seq, __ATOMIC_ACQUIRE) == v &&
		    futex_wait_shared(&k->reply_seq, v, SLOT_CHECK_MS) == -ETIMEDOUT &&
		    slot_daemon_lost(sp))
			rc = -ECONNRESET;
	}
	__atomic_store_n(&k->sleeping, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&sp->lock);
	p->slot_wake = NULL;
	sp->call_busy = 0;
	if (rc < 0) {
		if (rc == -ECONNRESET)
			conn_lost(sp);
		return p->done ? p->status : rc;
	}
	if (!got || p->done)
		return p->status;
	rlen = __atomic_load_n(&k->reply_len, __ATOMIC_RELAXED);
	if (rlen == PROTO_CALL_BY_SOCKET)
		return conn_wait(sp, p);
	if (rlen == PROTO_CALL_CLOSED) {
		conn_lost(sp);
		return p->status;
	}
	if (rlen > PROTO_CALL_MSG_MAX) {
		pending_complete(p, -EBADMSG);
		return p->status;
	}
	memcpy(sp->call_rx, k->reply, rlen);
	conn_dispatch(sp, sp->call_rx, rlen, -1);
	/* The slot's reply is this call's, whatever it says. */
	if (!p->done)
		pending_complete(p, -EPROTO);
	slot_drain_socket(sp);
	return p->status;
}

int client_call(shmpool_t *sp, struct client_pending *p, void *msg, size_t len)
{
	struct proto_hdr *hdr = msg;
	uint64_t sent = sp->sock_sent;
	int rc;

	pending_add(sp, p, hdr->type);
	hdr->version = SHMPOOL_PROTO_VERSION;
	hdr->id = p->id;
	rc = 0;
	if (slot_usable(sp, p, msg, len)) {
		rc = slot_call(sp, p, msg, len);
		pending_remove(sp, p);
		return rc;
	}
	if (!sp->reading) {
		rc = conn_send_read(sp, p, msg, len);
	} else {
		if (p->fd_reply && sp->reading_plain) {
			/* Bring the reader back before the fd comes (see the
			 * top of this file).  Nobody waits for this reply. */
			struct proto_hdr sync = { .type = PROTO_SYNC };

			rc = client_send_async(sp, &sync, sizeof(sync));
		}
		if (rc == 0)
			rc = conn_send(sp, msg, len);
	}
	if (rc == 0)
		rc = conn_wait(sp, p);
	/* Its reply came, so the daemon read everything sent before it. */
	if (p->done && !sp->dead && sent + 1 > sp->sock_synced)
		sp->sock_synced = sent + 1;
	pending_remove(sp, p);
	return rc;
}

/* Whether the daemon wants frees of a pool at once. */
static int ring_pool_kicked(const struct proto_ring *r, uint32_t pool)
{
	if (__atomic_load_n(&r->kick, __ATOMIC_RELAXED))
		return 1;
	/* A pool without a bit of its own is covered by kick alone. */
	if (pool >= PROTO_RING_KICK_POOLS)
		return 0;
	return (__atomic_load_n(&r->kick_pool[pool / 64], __ATOMIC_RELAXED) >> (pool % 64)) & 1;
}

/* Whether the daemon wants this free (a BLOCK_FREE or HEAP_FREE) at once. */
static int ring_kicked(const struct proto_ring *r, const void *msg)
{
	const struct proto_hdr *hdr = msg;

	if (hdr->type == PROTO_HEAP_FREE)
		return __atomic_load_n(&r->kick, __ATOMIC_RELAXED) ||
		       __atomic_load_n(&r->kick_heap, __ATOMIC_RELAXED);
	return ring_pool_kicked(r, ((const struct proto_block_free *)msg)->pool_id);
}

/*
 * The block cache.  Only this side writes blocks into a lane, always at
 * slot ncached, under the connection's lock; the daemon only ever empties
 * slots, from the lowest up.  Both take a block with an atomic exchange, so
 * it goes to exactly one of them; and when a take finds its slot emptied,
 * every slot below it was emptied before, so the lane starts over empty.
 */
uint32_t client_stock_take(shmpool_t *sp, struct client_pool *p)
{
	uint32_t *slot;

	if (!sp->ring || p->lane == PROTO_STOCK_NONE || daemon_gone(sp))
		return PROTO_STOCK_EMPTY;
	slot = sp->ring->stock[p->lane];
	while (p->ncached > 0) {
		uint32_t i = __atomic_exchange_n(&slot[--p->ncached], PROTO_STOCK_EMPTY,
						 __ATOMIC_ACQ_REL);

		if (i == PROTO_STOCK_EMPTY) {
			p->ncached = 0;
			break;
		}
		if (i < p->num_blocks)
			return i;
	}
	return PROTO_STOCK_EMPTY;
}

/*
 * Put a block in the cache unless the daemon wants the pool's frees now.
 * The fence between the store and reading the kick pairs with the daemon's
 * between setting the kick and emptying the lanes: either it takes the
 * block back, or this side sees the kick and takes it out again.
 */
int client_stock_put(shmpool_t *sp, struct client_pool *p, uint32_t i)
{
	struct proto_ring *r = sp->ring;
	uint32_t *slot, got;

	if (!r || p->lane == PROTO_STOCK_NONE || p->ncached >= p->nslots ||
	    ring_pool_kicked(r, p->id) || daemon_gone(sp))
		return 0;
	slot = r->stock[p->lane];
	__atomic_store_n(&slot[p->ncached++], i, __ATOMIC_RELEASE);
	/* The daemon looks only at lanes whose bit is set. */
	__atomic_fetch_or(&r->stock_mask, 1u << p->lane, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!ring_pool_kicked(r, p->id))
		return 1;
	got = __atomic_exchange_n(&slot[--p->ncached], PROTO_STOCK_EMPTY, __ATOMIC_ACQ_REL);
	if (got == PROTO_STOCK_EMPTY) {
		/* The daemon took it back: freed. */
		p->ncached = 0;
		return 1;
	}
	return 0;
}

/*
 * Append a no-reply free to the free ring: 0, or 1 when the daemon set its
 * kick meanwhile and must be told, or -EAGAIN when the free must be sent
 * instead (no ring, no room, too long, or the daemon wants it now).  The
 * fence between publishing the tail and reading the kick pairs with the
 * daemon's between setting it and reading the rings.
 */
static int ring_put(shmpool_t *sp, const void *msg, size_t len)
{
	struct proto_ring *r = sp->ring;

	/* A kicked free may still park when the call slot can kick. */
	if (!r || (ring_kicked(r, msg) && !slot_watched(sp)) || daemon_gone(sp) ||
	    proto_ring_append(r, &sp->ring_tail, __atomic_load_n(&r->head, __ATOMIC_ACQUIRE), msg,
			      len) < 0)
		return -EAGAIN;
	__atomic_store_n(&r->tail, sp->ring_tail, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ring_kicked(r, msg);
}

int client_send_async(shmpool_t *sp, void *msg, size_t len)
{
	struct proto_hdr *hdr = msg;
	int rc;

	hdr->version = SHMPOOL_PROTO_VERSION;
	hdr->id = conn_next_id(sp);
	if (hdr->type == PROTO_BLOCK_FREE || hdr->type == PROTO_HEAP_FREE) {
		rc = ring_put(sp, msg, len);

		if (rc == 0)
			return 0;
		if (rc == 1 && slot_kick(sp) == 0)
			return 0;
		if (rc == 1) {
			struct proto_hdr kick = {
				.version = SHMPOOL_PROTO_VERSION,
				.type = PROTO_KICK,
				.id = conn_next_id(sp),
			};

			return conn_send(sp, &kick, sizeof(kick));
		}
	}
	rc = conn_send(sp, msg, len);
	/* The next call must not overtake it through the slot. */
	if (rc == 0)
		sp->sock_async = sp->sock_sent;
	return rc;
}

static void conn_free(shmpool_t *sp)
{
	for (uint32_t i = 0; i < sp->nregions; i++) {
		struct client_region *r = &sp->regions[i];

		if (r->base)
			munmap(r->base, r->size);
		if (r->known && r->fd >= 0)
			close(r->fd);
	}
	while (sp->retired) {
		struct client_mapping *m = sp->retired;

		sp->retired = m->next;
		munmap(m->base, m->size);
		free(m);
	}
	for (uint32_t i = 0; i < sp->npools; i++) {
		if (sp->pools[i]) {
			free(sp->pools[i]->held);
			free(sp->pools[i]->mine);
			free(sp->pools[i]);
		}
	}
	client_hmap_fini(&sp->hmap);
	if (sp->ring)
		munmap(sp->ring, PROTO_RING_SIZE);
	if (sp->alive)
		munmap((void *)sp->alive, PROTO_ALIVE_SIZE);
	if (sp->doorbell)
		munmap(sp->doorbell, PROTO_DOORBELL_SIZE);
	free(sp->call_rx);
	free(sp->regions);
	free(sp->pools);
	free(sp->rx);
	if (sp->fd >= 0)
		close(sp->fd);
	pthread_cond_destroy(&sp->idle);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

static int conn_hello(shmpool_t *sp)
{
	struct proto_hello m;
	struct client_pending p;
	uint32_t flags;
	int rc;

	memset(&m, 0, sizeof(m));
	m.hdr.type = PROTO_HELLO;
	m.proto_version = SHMPOOL_PROTO_VERSION;
	m.pid = sp->pid;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	rc = client_call(sp, &p, &m, sizeof(m));
	if (rc == 0 && p.reply.hello.proto_version != SHMPOOL_PROTO_VERSION)
		rc = -EPROTONOSUPPORT;
	if (rc == 0 && p.reply.hello.max_indices > 0 &&
	    p.reply.hello.max_indices < sp->max_indices)
		sp->max_indices = p.reply.hello.max_indices;
	flags = p.reply.hello.r.flags;
	/* The page matters only to what the free ring holds. */
	if (rc == 0 && sp->ring && (flags & PROTO_F_ALIVE)) {
		struct proto_hdr a = { .type = PROTO_ALIVE };

		/* Its reply brings the page (conn_apply_descs); a daemon
		 * that cannot give it costs only the early notice. */
		client_pending_init(&p);
		rc = client_call(sp, &p, &a, sizeof(a));
		if (rc != -ECONNRESET && rc != -ECANCELED)
			rc = 0;
	}
	/* The slot needs the page: the daemon tells of its sleep there. */
	if (rc == 0 && sp->alive && (flags & PROTO_F_CALL)) {
		struct proto_hdr d = { .type = PROTO_DOORBELL };

		sp->call_rx = malloc(PROTO_CALL_MSG_MAX);
		client_pending_init(&p);
		if (sp->call_rx)
			rc = client_call(sp, &p, &d, sizeof(d));
		if (rc != -ECONNRESET && rc != -ECANCELED)
			rc = 0;
		sp->call_seq = __atomic_load_n(&sp->ring->call.seq, __ATOMIC_RELAXED);
	}
	client_conn_leave(sp);
	return rc;
}

int client_open_fd(int fd, shmpool_t **out)
{
	shmpool_t *sp;
	int rc;

	pthread_once(&atfork_once, atfork_register);
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		close(fd);
		return -ENOMEM;
	}
	sp->fd = fd;
	sp->max_indices = PROTO_MAX_INDICES;
	sp->pid = (uint32_t)getpid();
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->idle, NULL);
	sp->rx = malloc(PROTO_MAX_MESSAGE);
	if (!sp->rx) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = conn_hello(sp);
	if (rc < 0)
		goto fail;
	conns_add(sp);
	*out = sp;
	return 0;
fail:
	conn_free(sp);
	return rc;
}

SHMPOOL_API int shmpool_connect(const char *socket_path, shmpool_t **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (!out)
		return -EINVAL;
	rc = proto_socket_path(socket_path, NULL, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return client_open_fd(fd, out);
}

/*
 * Shutting the socket down wakes a reader blocked in recvmsg and tells the
 * daemon, which releases everything the connection held.  In a forked child
 * the socket is the parent's too, so the child only closes its descriptor
 * and frees its memory.
 */
SHMPOOL_API void shmpool_disconnect(shmpool_t *sp)
{
	if (!sp)
		return;
	conns_remove(sp);
	pthread_mutex_lock(&sp->lock);
	if (!sp->forked) {
		sp->closing = 1;
		for (struct client_pending *p = sp->pending; p; p = p->next)
			if (!p->done)
				pending_complete(p, -ECANCELED);
		pthread_mutex_unlock(&sp->lock);
		shutdown(sp->fd, SHUT_RDWR);
		pthread_mutex_lock(&sp->lock);
		while (sp->busy > 0)
			pthread_cond_wait(&sp->idle, &sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
	conn_free(sp);
}
