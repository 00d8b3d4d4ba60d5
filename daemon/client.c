/*
 * client: one connected peer.  Reads requests, validates them, dispatches
 * them to the pool and heap code, and sends replies.
 *
 * libuv's uv_write2 can pass only libuv stream handles, not a memfd, so the
 * connection is a raw SOCK_SEQPACKET fd watched with uv_poll_t.  Besides the
 * loop's epoll_wait, the path of a request is one recv and one send:
 *
 *  - Each readiness event reads one datagram with recv(): no control buffer,
 *    so a descriptor a client attaches is dropped by the kernel and never
 *    enters the daemon, and recv costs less than recvmsg.  The poll is
 *    level-triggered, so a connection with more queued comes back in the
 *    next loop iteration, after every other ready connection has had its
 *    turn: no connection can starve the others, and no recv is spent on
 *    finding the queue empty.  The one exception is a free that wants no
 *    reply: its sender did not wait, so its next request is usually right
 *    behind it, and is read at once (up to RX_FREE_RUN in a row).
 *  - Replies are staged, and leave once every ready connection of this loop
 *    iteration has been served (conn_flush_replies, from the server's
 *    prepare and check handles): the daemon does the work of all its ready
 *    clients before it wakes any of them, and each connection's replies go
 *    with one send(), or one sendmmsg for several (a grant split in frames,
 *    several of its threads' waits served by one free or one close).
 *    sendmsg is used only to attach a region fd, after what is staged for
 *    that connection.
 *  - A free that needs no reply usually comes through the connection's free
 *    ring (ring.c), read at the top of conn_handle: no message at all.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One receive buffer for the whole daemon: requests are handled to the end
 * before the next is read, so no per-request allocation is needed. */
static union {
	struct proto_hdr hdr;
	uint64_t align;
	unsigned char bytes[PROTO_MAX_MESSAGE];
} rxbuf;

#define RX_FREE_RUN 16                  /* reads in a row after no-reply frees */
#define RX_AHEAD_RUN 16                 /* requests read ahead in a row */
#define RX_AHEAD_BACKOFF_MAX 6          /* at most 64 requests between tries */
#define TX_BATCH 16                     /* replies in one sendmmsg */
#define TX_ENTRIES 1024                 /* replies staged in one loop iteration */
#define TX_BYTES (4u * PROTO_MAX_MESSAGE)
#define TX_NONE UINT32_MAX

/* Replies staged in this loop iteration; each connection's are chained in
 * order from c->tx_head through next. */
static struct {
	uint32_t n;
	size_t used;
	struct {
		struct conn *c;         /* NULL once sent */
		uint32_t next;
		uint32_t len;
		unsigned char *data;
	} e[TX_ENTRIES];
	struct mmsghdr msg[TX_BATCH];
	struct iovec iov[TX_BATCH];
	union {
		uint64_t align;
		unsigned char bytes[TX_BYTES];
	} buf;
} txq;

static void on_poll(uv_poll_t *h, int status, int events);
static void txq_send_conn(struct conn *c);
static int conn_send_socket(struct conn *c, const void *buf, size_t len, int fd);

static void read_comm(struct conn *c)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	snprintf(c->comm, sizeof(c->comm), "?");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, c->comm, sizeof(c->comm) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(c->comm, sizeof(c->comm), "?");
		return;
	}
	c->comm[n] = '\0';
	c->comm[strcspn(c->comm, "\n")] = '\0';
}

int conn_create(struct server *srv, int fd, struct conn **out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warning("SO_PEERCRED: %s", strerror(errno));
		return -errno;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->srv = srv;
	c->fd = fd;
	c->tx_head = c->tx_tail = TX_NONE;
	c->id = srv->next_conn_id++;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->connected_ms = uv_now(srv->loop);
	read_comm(c);
	if (access_conn_init(c) < 0) {
		free(c->groups);
		free(c);
		return -ENOMEM;
	}
	uv_poll_init(srv->loop, &c->poll, fd);
	c->poll.data = c;
	c->poll_events = UV_READABLE | UV_DISCONNECT;
	uv_poll_start(&c->poll, c->poll_events, on_poll);
	log_debug("client %llu connected: pid %d uid %u (%s)", (unsigned long long)c->id,
		  (int)c->pid, (unsigned)c->uid, c->comm);
	*out = c;
	return 0;
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(c->regions_sent);
	free(c->pools_sent);
	free(c->pool_blocks);
	free(c->groups);
	while (c->heap_use) {
		struct conn_heap_use *u = c->heap_use;

		c->heap_use = u->next;
		free(u);
	}
	free(c);
}

static void outq_clear(struct conn *c)
{
	while (c->outq) {
		struct outmsg *m = c->outq;

		c->outq = m->next;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	c->outq_tail = NULL;
	c->outq_bytes = 0;
}

/*
 * Release everything the peer held and dropped its waits, then close.  The
 * memory is back in its pools before this returns, so the next event the
 * loop handles already sees it.  The struct itself lives until libuv's close
 * callback, so callers further up the stack may still look at c->closing.
 */
void conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->closing)
		return;
	if (!server_in_loop(srv)) {
		/* The call thread cannot close handles: it hangs up, and the
		 * loop closes the connection when it sees the hang-up. */
		if (!c->hung_up) {
			c->hung_up = 1;
			call_hang_up(c);
			shutdown(c->fd, SHUT_RDWR);
		}
		return;
	}
	/* Frees it parked, and blocks it cached, are frees, not memory
	 * reclaimed from the dead.  From here on a client still there sends
	 * its frees (and learns the daemon is gone) rather than keep them. */
	ring_kick_close(c);
	ring_drain(c);
	if (c->closing)
		return;
	stock_steal(srv, c, STOCK_ALL);
	if (c->closing)
		return;
	/* Replies staged before the hang-up (a refused hello's) still go. */
	if (c->tx_head != TX_NONE) {
		txq_send_conn(c);
		if (c->closing)
			return;
	}
	c->closing = 1;
	dpool_release_conn(srv, c);
	heapalloc_release_conn(srv, c);
	ring_close(c);
	outq_clear(c);
	uv_poll_stop(&c->poll);
	close(c->fd);
	c->fd = -1;
	server_conn_closed(srv, c);
	uv_close((uv_handle_t *)&c->poll, on_conn_closed);
	log_debug("client %llu (pid %d) gone", (unsigned long long)c->id, (int)c->pid);
}

static void conn_update_poll(struct conn *c)
{
	int want = (c->reload_gen ? 0 : UV_READABLE) | UV_DISCONNECT |
		   (c->outq ? UV_WRITABLE : 0);

	if (!server_in_loop(c->srv)) {
		c->poll_dirty = 1;
		server_defer(c->srv);
		return;
	}
	c->poll_dirty = 0;
	if (want != c->poll_events) {
		c->poll_events = want;
		uv_poll_start(&c->poll, want, on_poll);
	}
}

void conn_repoll(struct conn *c)
{
	if (!c->closing && !c->hung_up)
		conn_update_poll(c);
}

/*
 * Queue a reply for a peer whose socket buffer is full, up to
 * OUTQ_MAX_BYTES; past that it is not reading and is dropped, so it cannot
 * make the daemon hold memory for it without bound.
 */
static int outq_push(struct conn *c, const void *buf, size_t len, int fd)
{
	struct outmsg *m;

	if (c->outq_bytes + len > OUTQ_MAX_BYTES) {
		log_warning("client %llu (pid %d, %s) does not read its replies; dropping it",
			    (unsigned long long)c->id, (int)c->pid, c->comm);
		conn_close(c);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		conn_close(c);
		return -ENOMEM;
	}
	m->next = NULL;
	m->len = len;
	m->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	memcpy(m->data, buf, len);
	if (c->outq_tail)
		c->outq_tail->next = m;
	else
		c->outq = m;
	c->outq_tail = m;
	c->outq_bytes += len;
	conn_update_poll(c);
	return 0;
}

/* Send now, or queue behind what is already waiting. */
static int conn_send_now(struct conn *c, const void *buf, size_t len, int fd)
{
	int rc;

	if (!c->outq) {
		rc = proto_send(c->fd, buf, len, fd, MSG_DONTWAIT);
		if (rc == 0)
			return 0;
		if (rc != -EAGAIN) {
			conn_close(c);
			return rc;
		}
	}
	return outq_push(c, buf, len, fd);
}

/* Send c's staged replies, in order: one send, or sendmmsg for several;
 * what the socket does not take is queued. */
static void txq_send_conn(struct conn *c)
{
	uint32_t i = c->tx_head;

	c->tx_head = c->tx_tail = TX_NONE;
	while (i != TX_NONE && !c->closing) {
		unsigned int n = 0, sent = 0;

		for (; i != TX_NONE && n < TX_BATCH; i = txq.e[i].next, n++) {
			txq.iov[n].iov_base = txq.e[i].data;
			txq.iov[n].iov_len = txq.e[i].len;
			txq.e[i].c = NULL;
		}
		if (n == 1) {
			conn_send_now(c, txq.iov[0].iov_base, txq.iov[0].iov_len, -1);
			continue;
		}
		if (!c->outq) {
			int k;

			for (unsigned int j = 0; j < n; j++) {
				memset(&txq.msg[j], 0, sizeof(txq.msg[j]));
				txq.msg[j].msg_hdr.msg_iov = &txq.iov[j];
				txq.msg[j].msg_hdr.msg_iovlen = 1;
			}
			do
				k = sendmmsg(c->fd, txq.msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			while (k < 0 && errno == EINTR);
			if (k < 0 && errno != EAGAIN) {
				conn_close(c);
				break;
			}
			sent = k < 0 ? 0 : (unsigned int)k;
		}
		for (unsigned int j = sent; j < n && !c->closing; j++)
			outq_push(c, txq.iov[j].iov_base, txq.iov[j].iov_len, -1);
	}
	/* Entries left by a close are dropped. */
	for (; i != TX_NONE; i = txq.e[i].next)
		txq.e[i].c = NULL;
}

/*
 * Send every staged reply.  Sending may close a connection, and the close
 * may stage replies to others (blocks it released go to their waiters):
 * those are sent by the same loop.  Called by the server before the loop
 * blocks and after each round of I/O callbacks.
 */
void conn_flush_replies(void)
{
	for (uint32_t i = 0; i < txq.n; i++)
		if (txq.e[i].c)
			txq_send_conn(txq.e[i].c);
	txq.n = 0;
	txq.used = 0;
}

/*
 * Send a reply: staged (see the top of this file) while there is room;
 * otherwise, and for a reply with an fd, at once, after what is staged for
 * its connection.
 */
int conn_send(struct conn *c, const void *buf, size_t len, int fd)
{
	const struct proto_reply_hdr *r = buf;
	int rc, by_socket = 0;

	if (c->closing || c->hung_up)
		return -ENOTCONN;
	if (c->call_open && len >= sizeof(r->hdr) && r->hdr.id == c->call_id) {
		/* The answer to the call in c's slot goes there, after what
		 * is staged for the socket (sock_msgs counts it). */
		if (fd < 0 && !(len >= sizeof(*r) && (r->flags & PROTO_F_MORE))) {
			if (c->tx_head != TX_NONE)
				txq_send_conn(c);
			if (c->closing || c->hung_up)
				return -ENOTCONN;
			if (call_answer(c, buf, len) == 0)
				return 0;
		}
		c->call_open = 0;
		by_socket = 1;
	}
	rc = conn_send_socket(c, buf, len, fd);
	if (by_socket && !c->closing && !c->hung_up)
		call_by_socket(c);
	return rc;
}

/* conn_send's way to the socket. */
static int conn_send_socket(struct conn *c, const void *buf, size_t len, int fd)
{
	c->sock_msgs++;
	if (fd < 0 && txq.n < TX_ENTRIES && txq.used + len <= TX_BYTES) {
		uint32_t i = txq.n++;

		txq.e[i].c = c;
		txq.e[i].next = TX_NONE;
		txq.e[i].len = (uint32_t)len;
		txq.e[i].data = txq.buf.bytes + txq.used;
		memcpy(txq.e[i].data, buf, len);
		txq.used += (len + 7) & ~(size_t)7;
		if (c->tx_head == TX_NONE)
			c->tx_head = i;
		else
			txq.e[c->tx_tail].next = i;
		c->tx_tail = i;
		return 0;
	}
	if (c->tx_head != TX_NONE) {
		txq_send_conn(c);
		if (c->closing)
			return -ENOTCONN;
	}
	return conn_send_now(c, buf, len, fd);
}

static void conn_flush(struct conn *c)
{
	while (c->outq) {
		struct outmsg *m = c->outq;
		int rc = proto_send(c->fd, m->data, m->len, m->fd, MSG_DONTWAIT);

		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			conn_close(c);
			return;
		}
		c->outq = m->next;
		if (!c->outq)
			c->outq_tail = NULL;
		c->outq_bytes -= m->len;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	conn_update_poll(c);
}

int conn_send_status(struct conn *c, uint16_t type, uint32_t id, int status)
{
	struct proto_reply_hdr r = {
		.hdr = { .version = SHMPOOL_PROTO_VERSION, .type = type, .id = id },
		.status = status,
	};

	return conn_send(c, &r, sizeof(r), -1);
}

void conn_reply_init(struct proto_reply_hdr *r, uint16_t req_type, uint32_t id, int status)
{
	r->hdr.version = SHMPOOL_PROTO_VERSION;
	r->hdr.type = req_type | PROTO_REPLY;
	r->hdr.id = id;
	r->status = status;
	r->flags = 0;
}

/* Grow a per-connection byte map so that index i is valid. */
static int bytemap_reserve(uint8_t **map, uint32_t *n, uint32_t i)
{
	uint8_t *v;
	uint32_t want;

	if (i < *n)
		return 0;
	want = i + 16;
	v = realloc(*map, want);
	if (!v)
		return -ENOMEM;
	memset(v + *n, 0, want - *n);
	*map = v;
	*n = want;
	return 0;
}

/*
 * Fill the region descriptor of a reply if this connection has not been sent
 * that region yet, and return the fd to attach (or -1).  Region fds go once
 * per connection, with the first reply that needs them.
 */
int conn_region_desc(struct conn *c, uint32_t region_id, struct proto_reply_hdr *r,
		     struct proto_region_desc *d)
{
	const struct region *reg = server_region(c->srv, region_id);
	int access = access_region(c->srv, c, region_id);
	int fd;

	if (!reg || access == CONFIG_ACCESS_NONE)
		return -1;
	if (bytemap_reserve(&c->regions_sent, &c->nregions_sent, region_id) < 0)
		return -1;
	if (c->regions_sent[region_id])
		return -1;
	/* A read-only client gets a read-only fd: its mapping cannot write,
	 * whatever it asks of mmap. */
	fd = access == CONFIG_ACCESS_RW ? reg->fd : access_ro_fd(c->srv, region_id);
	if (fd < 0)
		return -1;
	c->regions_sent[region_id] = 1;
	memset(d, 0, sizeof(*d));
	d->id = region_id;
	d->attr = reg->attr;
	d->size = reg->size;
	d->granularity = reg->granularity;
	d->flags = access == CONFIG_ACCESS_RW ? 0 : PROTO_F_READ_ONLY;
	proto_set_name(d->name, reg->name);
	r->flags |= PROTO_F_REGION;
	return fd;
}

/* Fill the pool descriptor of a reply if this connection has not seen the
 * pool yet (or always, when force is set); returns the fd to attach. */
int conn_pool_desc(struct conn *c, struct dpool *p, int force, struct proto_reply_hdr *r,
		   struct proto_pool_desc *d, struct proto_region_desc *rd)
{
	const struct layout_pool *lp = p->lp;

	if (bytemap_reserve(&c->pools_sent, &c->npools_sent, p->id) == 0) {
		if (c->pools_sent[p->id] && !force)
			return -1;
		c->pools_sent[p->id] = 1;
	}
	memset(d, 0, sizeof(*d));
	d->id = p->id;
	d->region_id = lp->region_id;
	d->base = lp->base;
	d->block_size = lp->bp.block_size;
	d->stride = lp->bp.stride;
	d->num_blocks = lp->bp.num_blocks;
	d->attr = server_region(c->srv, lp->region_id)->attr;
	d->cache_lane = stock_lane(c, p, &d->cache_slots);
	proto_set_name(d->name, lp->name);
	r->flags |= PROTO_F_POOL_DESC;
	return conn_region_desc(c, lp->region_id, r, rd);
}

/* The pool a request names; one that a reload retired only when asked
 * (its blocks may still be freed, and it goes with the last). */
static struct dpool *conn_pool_any(struct conn *c, uint32_t pool_id, int retired)
{
	struct server *srv = c->srv;

	if (pool_id >= srv->npools || !srv->pools[pool_id] ||
	    (srv->pools[pool_id]->retired && !retired))
		return NULL;
	return srv->pools[pool_id];
}

static struct dpool *conn_pool(struct conn *c, uint32_t pool_id)
{
	return conn_pool_any(c, pool_id, 0);
}

static void handle_hello(struct conn *c, const struct proto_hello *m)
{
	struct proto_hello_reply r;
	int fd = -1;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_HELLO, m->hdr.id, 0);
	r.proto_version = SHMPOOL_PROTO_VERSION;
	r.daemon_pid = (uint32_t)getpid();
	/* The client splits its frees to fit what this daemon reads. */
	r.max_message = c->srv->cfg.limits.max_message_size;
	r.max_indices = (r.max_message - sizeof(struct proto_block_free)) / sizeof(uint32_t);
	if (r.max_indices > PROTO_MAX_INDICES)
		r.max_indices = PROTO_MAX_INDICES;
	r.conn_id = c->id;
	if (m->proto_version != SHMPOOL_PROTO_VERSION) {
		r.r.status = -EPROTONOSUPPORT;
		conn_send(c, &r, sizeof(r), -1);
		conn_close(c);
		return;
	}
	r.r.status = access_admit(c->srv, c);
	if (r.r.status < 0) {
		conn_send(c, &r, sizeof(r), -1);
		conn_close(c);
		return;
	}
	c->hello_done = 1;
	if (!c->ring && c->srv->cfg.daemon.free_ring) {
		int rc = ring_open(c, &fd);

		/* Without one, frees all come by the socket. */
		if (rc < 0)
			log_warning("client %llu (pid %d): no free ring: %s",
				    (unsigned long long)c->id, (int)c->pid, strerror(-rc));
		else
			r.r.flags |= PROTO_F_RING;
	}
	if (c->srv->alive_fd >= 0)
		r.r.flags |= PROTO_F_ALIVE;
	if (c->ring && c->srv->calls_running)
		r.r.flags |= PROTO_F_CALL;
	conn_send(c, &r, sizeof(r), fd);
	if (fd >= 0)
		close(fd);
}

/* The alive page's fd, or -EOPNOTSUPP when this daemon has none. */
static void handle_alive(struct conn *c, uint32_t id)
{
	struct proto_reply_hdr r;

	if (c->srv->alive_fd < 0) {
		conn_send_status(c, PROTO_ALIVE | PROTO_REPLY, id, -EOPNOTSUPP);
		return;
	}
	memset(&r, 0, sizeof(r));
	conn_reply_init(&r, PROTO_ALIVE, id, 0);
	r.flags = PROTO_F_ALIVE;
	conn_send(c, &r, sizeof(r), c->srv->alive_fd);
}

/* The doorbell page's fd, or -EOPNOTSUPP when c has no call slot. */
static void handle_doorbell(struct conn *c, uint32_t id)
{
	struct proto_reply_hdr r;

	if (!c->ring || !c->srv->calls_running) {
		conn_send_status(c, PROTO_DOORBELL | PROTO_REPLY, id, -EOPNOTSUPP);
		return;
	}
	memset(&r, 0, sizeof(r));
	conn_reply_init(&r, PROTO_DOORBELL, id, 0);
	r.flags = PROTO_F_CALL;
	conn_send(c, &r, sizeof(r), c->srv->doorbell_fd);
}

static void send_pool_reply(struct conn *c, uint16_t type, uint32_t id, struct dpool *p)
{
	struct proto_pool_reply r;
	int fd;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, type, id, 0);
	fd = conn_pool_desc(c, p, 1, &r.r, &r.pool, &r.region);
	conn_send(c, &r, sizeof(r), fd);
}

static void handle_pool_open(struct conn *c, const struct proto_name_req *m)
{
	char name[PROTO_NAME_MAX];
	struct layout_pool *lp;

	if (proto_name(name, m->name, 1) < 0) {
		conn_send_status(c, PROTO_POOL_OPEN | PROTO_REPLY, m->hdr.id, -EINVAL);
		return;
	}
	lp = layout_pool_find(c->srv->layout, name);
	if (!lp || !conn_pool(c, lp->id)) {
		conn_send_status(c, PROTO_POOL_OPEN | PROTO_REPLY, m->hdr.id, -ENOENT);
		return;
	}
	if (access_pool(c->srv, c, c->srv->pools[lp->id]) == CONFIG_ACCESS_NONE) {
		access_refused(c, REFUSE_ACCESS, "may not open pool '%s'", name);
		conn_send_status(c, PROTO_POOL_OPEN | PROTO_REPLY, m->hdr.id, -EACCES);
		return;
	}
	send_pool_reply(c, PROTO_POOL_OPEN, m->hdr.id, c->srv->pools[lp->id]);
}

static void handle_pool_create(struct conn *c, const struct proto_pool_create *m)
{
	struct server *srv = c->srv;
	char name[PROTO_NAME_MAX], region[PROTO_NAME_MAX];
	struct layout_pool *lp;
	int rc;

	if (proto_name(name, m->name, 1) < 0 || proto_name(region, m->region, 0) < 0 ||
	    ((m->flags & PROTO_F_HAS_REGION) && !region[0]) || (m->flags & ~PROTO_F_HAS_REGION)) {
		conn_send_status(c, PROTO_POOL_CREATE | PROTO_REPLY, m->hdr.id, -EINVAL);
		return;
	}
	rc = server_may_admin(srv, c);
	if (rc < 0)
		access_refused(c, REFUSE_ADMIN, "may not create pools");
	if (rc == 0)
		rc = layout_pool_create(srv->layout, name, m->block_size, m->num_blocks, m->align,
					m->attr, (m->flags & PROTO_F_HAS_REGION) ? region : NULL,
					&lp);
	if (rc == 0) {
		rc = server_add_pool(srv, lp);
		if (rc < 0)
			layout_pool_destroy(srv->layout, name);
	}
	if (rc < 0) {
		conn_send_status(c, PROTO_POOL_CREATE | PROTO_REPLY, m->hdr.id, rc);
		return;
	}
	log_notice("pool '%s' created by pid %d (uid %u): %llu blocks of %llu bytes", name,
		   (int)c->pid, (unsigned)c->uid, (unsigned long long)m->num_blocks,
		   (unsigned long long)m->block_size);
	send_pool_reply(c, PROTO_POOL_CREATE, m->hdr.id, srv->pools[lp->id]);
}

static void handle_pool_destroy(struct conn *c, const struct proto_name_req *m)
{
	struct server *srv = c->srv;
	char name[PROTO_NAME_MAX];
	int rc;

	if (proto_name(name, m->name, 1) < 0) {
		conn_send_status(c, PROTO_POOL_DESTROY | PROTO_REPLY, m->hdr.id, -EINVAL);
		return;
	}
	rc = server_may_admin(srv, c);
	if (rc < 0)
		access_refused(c, REFUSE_ADMIN, "may not destroy pools");
	if (rc == 0)
		rc = server_destroy_pool(srv, name);
	if (rc == 0)
		log_notice("pool '%s' destroyed by pid %d (uid %u)", name, (int)c->pid,
			   (unsigned)c->uid);
	conn_send_status(c, PROTO_POOL_DESTROY | PROTO_REPLY, m->hdr.id, rc);
}

static void handle_pool_stat(struct conn *c, const struct proto_pool_req *m)
{
	struct proto_pool_stat_reply r;
	struct dpool *p = conn_pool(c, m->pool_id);
	struct blockpool_stat st;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, m->hdr.type, m->hdr.id, 0);
	if (!p) {
		r.r.status = -ENOENT;
		conn_send(c, &r, sizeof(r), -1);
		return;
	}
	if (m->hdr.type == PROTO_POOL_RESET_MAX) {
		blockpool_reset_max(&p->lp->bp);
		conn_send(c, &r.r, sizeof(r.r), -1);
		return;
	}
	blockpool_stat(&p->lp->bp, &st);
	r.block_size = st.block_size;
	r.num_blocks = st.num_blocks;
	r.num_used = st.num_used;
	r.num_free = st.num_free;
	r.max_used = st.max_used;
	r.num_waiters = waitq_count(&p->waiters);
	r.attr = server_region(c->srv, p->lp->region_id)->attr;
	conn_send(c, &r, sizeof(r), -1);
}

static void handle_block_alloc(struct conn *c, const struct proto_block_alloc *m)
{
	struct dpool *p = conn_pool(c, m->pool_id);
	int rc;

	if (!p)
		rc = -ENOENT;
	else if (m->flags & ~(PROTO_F_CONTIG | PROTO_F_SEQ) || m->timeout_ms < -1 ||
		 m->stock > PROTO_STOCK_SLOTS ||
		 ((m->flags & PROTO_F_CONTIG) && (m->stock || (m->flags & PROTO_F_SEQ))))
		rc = -EINVAL;
	else
		rc = dpool_request(c->srv, c, p, m->hdr.id, m->count, m->flags, m->timeout_ms,
				   PROTO_BLOCK_ALLOC, m->stock);
	if (rc < 0)
		conn_send_status(c, PROTO_BLOCK_ALLOC | PROTO_REPLY, m->hdr.id, rc);
}

static void handle_blocks_get(struct conn *c, const struct proto_blocks_get *m)
{
	struct dpool *p = conn_pool(c, m->pool_id);
	int rc = p ? dpool_get(c->srv, c, p, m->first_index, m->count) : -ENOENT;

	conn_send_status(c, PROTO_BLOCKS_GET | PROTO_REPLY, m->hdr.id, rc);
}

static void handle_block_free(struct conn *c, const struct proto_block_free *m)
{
	struct dpool *p = conn_pool_any(c, m->pool_id, 1);
	int rc;

	if (!p)
		rc = -ENOENT;
	else if (m->flags & ~(PROTO_F_CONTIG | PROTO_F_SYNC))
		rc = -EINVAL;
	else
		rc = dpool_free(c->srv, c, p, m->count, m->flags, m->nindices, m->index);
	if (m->flags & PROTO_F_SYNC)
		conn_send_status(c, PROTO_BLOCK_FREE | PROTO_REPLY, m->hdr.id, rc);
	else if (rc < 0)
		conn_notify_error(c, m->hdr.id, rc, p ? p->lp->region_id : UINT32_MAX,
				  m->nindices ? m->index[0] : 0);
}

static void handle_group_alloc(struct conn *c, const struct proto_group_alloc *m)
{
	struct server *srv = c->srv;
	char group[PROTO_NAME_MAX];
	struct layout_group *g = NULL;
	struct layout_pool *lp = NULL;
	struct dpool *p;
	int rc;

	if (proto_name(group, m->group, 1) < 0 || m->timeout_ms < -1)
		rc = -EINVAL;
	else if (!(g = layout_group_find(srv->layout, group)))
		rc = -ENOENT;
	else
		rc = layout_group_select(srv->layout, g, m->selector, m->count, &lp);
	/* Frees parked in free rings may make a pool fit. */
	if (rc == -ENOMEM && !lp && ring_settle_all(srv, c) > 0)
		rc = layout_group_select(srv->layout, g, m->selector, m->count, &lp);
	/* "fit" with every fitting pool short of blocks still names the pool
	 * to wait on. */
	if (rc == 0 || (rc == -ENOMEM && lp)) {
		p = conn_pool(c, lp->id);
		rc = p ? dpool_request(srv, c, p, m->hdr.id, m->count, 0, m->timeout_ms,
				       PROTO_GROUP_ALLOC, 0) : -EINVAL;
	}
	if (rc < 0)
		conn_send_status(c, PROTO_GROUP_ALLOC | PROTO_REPLY, m->hdr.id, rc);
}

static void handle_ref(struct conn *c, const struct proto_ref_req *m)
{
	struct server *srv = c->srv;
	struct proto_ref_reply r;
	struct proto_ref ref = {
		.magic = PROTO_REF_MAGIC,
		.region_id = (uint16_t)m->region_id,
		.offset = m->offset,
	};
	struct dpool *p;
	uint32_t i;
	int exact, rc;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_REF, m->hdr.id, 0);
	if (m->region_id > UINT16_MAX || !server_region(srv, m->region_id)) {
		rc = -EINVAL;
	} else if ((p = dpool_find(srv, m->region_id, m->offset, &i, &exact))) {
		rc = exact ? dpool_ref(c, p, i, &ref) : -EINVAL;
	} else {
		rc = heapalloc_ref(srv, c, m->region_id, m->offset, &ref);
	}
	r.r.status = rc;
	if (rc == 0)
		memcpy(r.ref, &ref, sizeof(ref));
	conn_send(c, &r, sizeof(r), -1);
}

static void handle_attach(struct conn *c, const struct proto_attach *m)
{
	struct server *srv = c->srv;
	struct proto_heap_reply r;
	struct proto_ref ref;
	struct dpool *p = NULL;
	struct halloc *h;
	uint32_t i = 0;
	int exact = 0, rc, fd = -1;

	memcpy(&ref, m->ref, sizeof(ref));
	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_ATTACH, m->hdr.id, 0);
	r.pool_id = UINT32_MAX;
	if (ref.magic != PROTO_REF_MAGIC ||
	    (ref.kind != PROTO_REF_BLOCK && ref.kind != PROTO_REF_HEAP) ||
	    !server_region(srv, ref.region_id)) {
		rc = -EINVAL;
	} else if (access_region(srv, c, ref.region_id) == CONFIG_ACCESS_NONE) {
		access_refused(c, REFUSE_ACCESS, "may not attach memory of region '%s'",
			       server_region(srv, ref.region_id)->name);
		rc = -EACCES;
	} else if (ref.kind == PROTO_REF_BLOCK) {
		p = dpool_find(srv, ref.region_id, ref.offset, &i, &exact);
		if (!p || !exact || p->retired || p->holders[i] == 0 || p->gen[i] != ref.generation)
			rc = -ESTALE;
		else if (access_pool(srv, c, p) == CONFIG_ACCESS_NONE)
			rc = -EACCES;
		else
			rc = dpool_attach(srv, c, p, i);
		if (rc == 0) {
			r.pool_id = p->id;
			r.length = p->lp->bp.block_size;
			fd = conn_pool_desc(c, p, 0, &r.r, &r.pool, &r.region);
		}
	} else {
		rc = heapalloc_attach(srv, c, &ref, &h);
		if (rc == 0) {
			r.length = h->size;
			fd = conn_region_desc(c, h->region_id, &r.r, &r.region);
		}
	}
	r.r.status = rc;
	r.region_id = ref.region_id;
	r.offset = ref.offset;
	conn_send(c, &r, sizeof(r), fd);
}

static void handle_set_priority(struct conn *c, const struct proto_set_priority *m)
{
	int rc = 0;

	if (m->priority < WAITQ_PRIO_MIN || m->priority > WAITQ_PRIO_MAX)
		rc = -EINVAL;
	else if (m->priority < 0 && c->uid != 0)
		rc = -EPERM;
	else
		c->priority = m->priority;
	conn_send_status(c, PROTO_SET_PRIORITY | PROTO_REPLY, m->hdr.id, rc);
}

void conn_notify_error(struct conn *c, uint32_t id, int status, uint32_t region_id,
		       uint64_t offset)
{
	struct proto_notify_error n;

	memset(&n, 0, sizeof(n));
	n.r.hdr.version = SHMPOOL_PROTO_VERSION;
	n.r.hdr.type = PROTO_NOTIFY_ERROR;
	n.r.hdr.id = id;
	n.r.status = status;
	n.region_id = region_id;
	n.offset = offset;
	conn_send(c, &n, sizeof(n), -1);
}

/* A free whose sender asked for no reply, and so did not wait for one; msg
 * is aligned for any message. */
/* A message nobody waits for a reply to: its sender's next one is likely
 * right behind it. */
static int wants_no_reply(const void *msg, size_t len)
{
	const struct proto_hdr *hdr = msg;

	return proto_free_async(msg, len) ||
	       (len == sizeof(*hdr) && (hdr->type == PROTO_KICK || hdr->type == PROTO_CALL));
}

/* Whether a request reports or depends on what clients hold, so that frees
 * parked in any free ring must be in first.  Allocations read the rings only
 * when they cannot be met (ring_pull), and a free only when the client could
 * not judge it (its error code tells freed memory from someone else's). */
static int reads_rings(int type, const void *msg, size_t len)
{
	if (type == PROTO_BLOCK_FREE || type == PROTO_HEAP_FREE)
		return !proto_free_async(msg, len);
	switch (type) {
	case PROTO_HELLO:
	case PROTO_POOL_OPEN:
	case PROTO_POOL_CREATE:
	case PROTO_BLOCK_ALLOC:
	case PROTO_GROUP_ALLOC:
	case PROTO_HEAP_ALLOC:
	case PROTO_HEAP_REALLOC:
	case PROTO_REF:
	case PROTO_SET_PRIORITY:
	case PROTO_SYNC:
	case PROTO_KICK:
	case PROTO_ALIVE:
	case PROTO_DOORBELL:
	case PROTO_CALL:
		return 0;
	default:
		return 1;
	}
}

/* Validate one request and hand it to its handler.  Every case checks what
 * proto_check_request cannot: the fields' meaning. */
static void conn_dispatch(struct conn *c, size_t len)
{
	int type = proto_check_request(rxbuf.bytes, len);
	uint32_t id = len >= sizeof(struct proto_hdr) ? rxbuf.hdr.id : 0;

	if (type < 0) {
		c->srv->stats.bad_messages++;
		log_info("client %llu (pid %d): bad message of %zu bytes: %s",
			 (unsigned long long)c->id, (int)c->pid, len, strerror(-type));
		conn_send_status(c, PROTO_ERROR, id, type);
		return;
	}
	if (!c->hello_done && type != PROTO_HELLO) {
		conn_send_status(c, PROTO_ERROR, id, -EPROTO);
		return;
	}
	if (reads_rings(type, rxbuf.bytes, len))
		ring_settle_all(c->srv, c);
	switch (type) {
	case PROTO_HELLO:
		handle_hello(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_POOL_OPEN:
		handle_pool_open(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_POOL_CREATE:
		handle_pool_create(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_POOL_DESTROY:
		handle_pool_destroy(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_POOL_STAT:
	case PROTO_POOL_RESET_MAX:
		handle_pool_stat(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_POOL_INFO:
		ctl_pool_info(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_BLOCK_ALLOC:
		handle_block_alloc(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_BLOCKS_GET:
		handle_blocks_get(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_BLOCK_FREE:
		handle_block_free(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_GROUP_ALLOC:
		handle_group_alloc(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_HEAP_ALLOC:
		heapalloc_handle_alloc(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_HEAP_FREE:
		heapalloc_handle_free(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_HEAP_REALLOC:
		heapalloc_handle_realloc(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_REF:
		handle_ref(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_ATTACH:
		handle_attach(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_SET_PRIORITY:
		handle_set_priority(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_STATUS:
		ctl_status(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_REGION_INFO:
		ctl_region_info(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_HEAP_INFO:
		ctl_heap_info(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_GROUP_INFO:
		ctl_group_info(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_CLIENT_INFO:
		ctl_client_info(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_STATS:
		ctl_stats(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_MAP:
		ctl_map(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_RELOAD:
		ctl_reload(c, (const void *)rxbuf.bytes);
		break;
	case PROTO_SYNC:
		conn_send_status(c, PROTO_SYNC | PROTO_REPLY, id, 0);
		break;
	case PROTO_KICK:
		/* Its work, reading the sender's ring, is done on every read. */
		break;
	case PROTO_ALIVE:
		handle_alive(c, id);
		break;
	case PROTO_DOORBELL:
		handle_doorbell(c, id);
		break;
	case PROTO_CALL:
		/* The client waits on its slot, which the call thread had
		 * stopped watching. */
		call_activate(c);
		break;
	}
}

/* Check the size of one received message and dispatch it. */
static void conn_handle(struct conn *c, const void *buf, size_t len)
{
	uint32_t id = 0;

	/* Frees the client parked before it sent this come first. */
	if (c->ring && (ring_drain(c) < 0 || c->closing))
		return;
	if (len > sizeof(rxbuf.bytes)) {
		conn_send_status(c, PROTO_ERROR, 0, -EMSGSIZE);
		return;
	}
	if (buf != rxbuf.bytes)
		memcpy(rxbuf.bytes, buf, len);
	if (len >= sizeof(struct proto_hdr))
		id = rxbuf.hdr.id;
	if (len > c->srv->cfg.limits.max_message_size) {
		access_refused(c, REFUSE_MESSAGE, "message of %zu bytes is over max_message_size",
			       len);
		conn_send_status(c, PROTO_ERROR, id, -EMSGSIZE);
		return;
	}
	conn_dispatch(c, len);
}

/*
 * Serve one message of len bytes as if recv had just read it, and send its
 * replies: the fuzzing harness's way in.
 */
void conn_feed(struct conn *c, const void *buf, size_t len)
{
	conn_handle(c, buf, len);
	conn_flush_replies();
}

void conn_serve_call(struct conn *c, const void *msg, size_t len)
{
	int type = proto_check_request(msg, len);

	if (type >= 0 && !proto_call_allowed(type, msg, len)) {
		conn_send_status(c, PROTO_ERROR, c->call_id, -EPROTO);
		return;
	}
	conn_handle(c, msg, len);
}

int conn_ring_message(struct conn *c, const void *msg, size_t len)
{
	int type = proto_check_request(msg, len);

	if (type < 0 || !proto_free_async(msg, len) || len > c->srv->cfg.limits.max_message_size)
		return -EBADMSG;
	if (type == PROTO_BLOCK_FREE)
		handle_block_free(c, msg);
	else
		heapalloc_handle_free(c, msg);
	return 0;
}

/* Read and serve one request (more after a no-reply free, see the top of
 * this file); its replies are staged for conn_flush_replies.  0 if nothing
 * was there to read, else 1. */
int conn_read(struct conn *c)
{
	struct server *srv = c->srv;

	for (int run = 0; run < RX_FREE_RUN && !c->closing && !c->reload_gen; run++) {
		long n = proto_recv_plain(c->fd, rxbuf.bytes, sizeof(rxbuf.bytes), MSG_DONTWAIT);
		int no_reply;

		if (n == -EAGAIN)
			return run > 0;
		if (n == -EMSGSIZE) {
			log_info("client %llu (pid %d): oversized message",
				 (unsigned long long)c->id, (int)c->pid);
			srv->stats.bad_messages++;
			conn_send_status(c, PROTO_ERROR, 0, -EMSGSIZE);
			return 1;
		}
		if (n <= 0) {
			conn_close(c);
			return 1;
		}
		no_reply = wants_no_reply(rxbuf.bytes, (size_t)n);
		conn_handle(c, rxbuf.bytes, (size_t)n);
		if (!no_reply) {
			/* Only a reply wakes the client to send more: a request
			 * that became a wait does not count. */
			if (c->tx_head != TX_NONE && srv->answered != c) {
				srv->answered = c;
				srv->nanswered++;
			}
			if (c->ahead_skip > 0)
				c->ahead_skip--;
			return 1;
		}
		/* A free that served waiters ends the run: their replies leave
		 * now, not after a read that most likely finds nothing (the
		 * sender of a contended free rarely has its next request
		 * queued behind it); the poll brings back anything queued. */
		if (txq.n > 0) {
			conn_flush_replies();
			return 1;
		}
	}
	return 1;
}

/*
 * Read ahead, from the loop's check handle once the iteration's replies
 * are out.  On one CPU a client woken by its reply often runs at once,
 * sends its next request and blocks before the daemon has the CPU back;
 * reading that request straight away spares the loop's epoll_wait and its
 * bookkeeping, which are most of what the daemon adds to a round trip.
 * Only when the iteration answered a single connection (several ready
 * connections are served and answered together, as above), for at most
 * RX_AHEAD_RUN requests in a row, and only while it pays: a read that
 * finds nothing stops it for the connection's next 2, 4, ... up to 64
 * requests, as many more as reads in a row have missed, so a client on
 * another CPU, whose next request cannot be there yet, costs one read in 64
 * requests.  Another connection's request waits for at most RX_AHEAD_RUN
 * of this one's before the loop polls again and serves it.
 */
void conn_read_ahead(struct server *srv)
{
	struct conn *c = srv->answered;
	uint32_t n = srv->nanswered;

	for (int run = 0; run < RX_AHEAD_RUN; run++) {
		srv->answered = NULL;
		srv->nanswered = 0;
		if (n != 1 || c->closing || c->ahead_skip > 0 || c->outq || c->reload_gen)
			break;
		if (!conn_read(c)) {
			if (c->ahead_misses < RX_AHEAD_BACKOFF_MAX)
				c->ahead_misses++;
			c->ahead_skip = 1u << c->ahead_misses;
			break;
		}
		c->ahead_misses = 0;
		conn_flush_replies();
		c = srv->answered;
		n = srv->nanswered;
	}
	srv->answered = NULL;
	srv->nanswered = 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;
	struct server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	if (c->closing)
		goto out;
	/* Hung up by the call thread, which could not close it. */
	if (status < 0 || c->hung_up) {
		conn_close(c);
		goto out;
	}
	if (events & UV_WRITABLE)
		conn_flush(c);
	if (!c->closing && (events & UV_READABLE))
		conn_read(c);
	if (!c->closing && (events & UV_DISCONNECT) && !(events & UV_READABLE))
		conn_close(c);
out:
	pthread_mutex_unlock(&srv->lock);
}
