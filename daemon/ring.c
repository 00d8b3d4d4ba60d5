/*
 * ring: the daemon's end of each connection's free ring (see proto.h).
 *
 * A no-reply free costs its sender a send() and the daemon a wake-up and a
 * recv(), although nobody waits for it.  Appended to the ring it costs a
 * copy, and the daemon reads it with the sender's next message.  A parked
 * free must never keep memory from anyone, so the daemon reads every ring
 * whenever that could matter:
 *
 *  - before it handles any message of the connection (its order is kept);
 *  - before a request that reports or depends on what clients hold
 *    (introspection, pool destroy, attach, reload), and when a connection
 *    closes;
 *  - when an allocation cannot be met (ring_pull).  That also sets the
 *    pool's (or the heap's) kick in every ring, and while it is set clients
 *    send their frees of it, or a PROTO_KICK after one they appended: with
 *    that memory short or someone waiting on it, its frees must reach the
 *    daemon at once.  Frees of other pools still park.  The kick is set
 *    before the rings are read, and a client reads it after it publishes a
 *    record (both with a full fence between), so either the daemon sees the
 *    record or the client sees the kick.  It is cleared once nobody has
 *    waited on it or been refused for RING_RELAX_MS.
 *
 * The ring is a sealed memfd: the client cannot shrink it under the
 * daemon's mapping.  Records are copied out before they are looked at, and
 * a ring whose header or records make no sense gets its connection hung up.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_RELAX_MS 1000             /* quiet time before frees park again */
#define RING_RELAX_SCAN_MS 100         /* how often that is checked */

/* One record's message, copied out of the shared page. */
static union {
	struct proto_hdr hdr;
	uint64_t align;
	unsigned char bytes[PROTO_RING_MSG_MAX];
} ring_msg;

int ring_open(struct conn *c, int *fd_out)
{
	struct proto_ring *r;
	int fd, rc;

	fd = memfd_create("shmpool-free-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, PROTO_RING_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail;
	}
	r = mmap(NULL, PROTO_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	c->ring = r;
	/* Every stock slot starts empty (PROTO_STOCK_EMPTY is all ones). */
	memset(r->stock, 0xff, sizeof(r->stock));
	ring_kick_init(c);
	c->ring_head = 0;
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

void ring_kick_close(struct conn *c)
{
	if (c->ring) {
		__atomic_store_n(&c->ring->kick, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
}

void ring_close(struct conn *c)
{
	call_forget(c);
	/* A client that frees after the hang-up then sends, and learns. */
	ring_kick_close(c);
	if (c->ring)
		munmap(c->ring, PROTO_RING_SIZE);
	c->ring = NULL;
}

/* Give up on a ring the client broke and hang up: the loop then closes the
 * connection the usual way, which releases what it holds. */
int ring_hang_up(struct conn *c, const char *why)
{
	log_notice("client %llu (pid %d, %s): free ring broken (%s); hanging up",
		   (unsigned long long)c->id, (int)c->pid, c->comm, why);
	c->srv->stats.bad_messages++;
	c->ring_broken = 1;
	call_hang_up(c);
	shutdown(c->fd, SHUT_RDWR);
	return -EBADMSG;
}

int ring_drain(struct conn *c)
{
	struct proto_ring *r = c->ring;
	uint32_t head = c->ring_head, tail;
	int n = 0;

	if (!r || c->ring_broken || c->closing)
		return 0;
	/* The client's part of the header is read once; its records are
	 * checked against that copy, never against the page again. */
	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (tail == head)
		return 0;
	if (tail - head > PROTO_RING_DATA || (tail - head) % 8 != 0)
		return ring_hang_up(c, "tail out of range");
	while (head != tail) {
		uint32_t off = head % PROTO_RING_DATA;
		uint32_t room = PROTO_RING_DATA - off, left = tail - head, len, size;

		len = __atomic_load_n((const uint32_t *)(const void *)(r->data + off), __ATOMIC_RELAXED);
		if (len == PROTO_RING_WRAP) {
			if (room > left)
				return ring_hang_up(c, "wrap past the tail");
			head += room;
			continue;
		}
		if (len < sizeof(struct proto_hdr) || len > PROTO_RING_MSG_MAX)
			return ring_hang_up(c, "record length out of range");
		size = (uint32_t)(sizeof(struct proto_ring_rec) + len + 7) & ~7u;
		if (size > room || size > left)
			return ring_hang_up(c, "record past the end");
		memcpy(ring_msg.bytes, r->data + off + sizeof(struct proto_ring_rec), len);
		head += size;
		c->ring_head = head;
		if (conn_ring_message(c, ring_msg.bytes, len) < 0)
			return ring_hang_up(c, "a record that is not a no-reply free");
		n++;
		/* A notified error can close the connection (a full queue). */
		if (c->closing)
			return n;
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return n;
}

int ring_drain_all(struct server *srv, struct conn *except)
{
	int n = 0;

	for (uint32_t i = 1; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		if (c && c != except && c->ring) {
			int k = ring_drain(c);

			if (k > 0)
				n += k;
		}
	}
	return n;
}

int ring_settle_all(struct server *srv, struct conn *except)
{
	return ring_drain_all(srv, except) + stock_steal_all(srv, STOCK_ALL);
}

/*
 * Ring keys: what a kick word covers.  Pools whose id has no bit of its own
 * share the word for every free.
 */
#define KEY_ALL 0u
#define KEY_HEAP 1u
#define KEY_POOL0 2u

static uint32_t ring_key(const struct dpool *p)
{
	if (!p)
		return KEY_HEAP;
	return p->id < PROTO_RING_KICK_POOLS ? KEY_POOL0 + p->id : KEY_ALL;
}

/* Set or clear key's kick in one ring. */
static void ring_kick(struct proto_ring *r, uint32_t key, int on)
{
	if (key == KEY_ALL) {
		__atomic_store_n(&r->kick, (uint32_t)on, __ATOMIC_RELAXED);
	} else if (key == KEY_HEAP) {
		__atomic_store_n(&r->kick_heap, (uint32_t)on, __ATOMIC_RELAXED);
	} else {
		uint32_t id = key - KEY_POOL0;
		uint64_t bit = UINT64_C(1) << (id % 64);

		if (on)
			__atomic_fetch_or(&r->kick_pool[id / 64], bit, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(&r->kick_pool[id / 64], ~bit, __ATOMIC_RELAXED);
	}
}

static void ring_kick_all(struct server *srv, uint32_t key, int on)
{
	for (uint32_t i = 1; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		if (c && c->ring)
			ring_kick(c->ring, key, on);
	}
}

void ring_kick_init(struct conn *c)
{
	const struct server *srv = c->srv;

	for (uint32_t k = 0; k < srv->ring_tight_cap; k++)
		if (srv->ring_tight[k].on)
			ring_kick(c->ring, k, 1);
}

/* Set the kick of p (NULL: the heap) in every ring and note the time: 1 if
 * it was not set, 0 if it was, -ENOMEM if it cannot be recorded. */
static int ring_tighten_key(struct server *srv, const struct dpool *p)
{
	uint32_t key = ring_key(p);
	struct ring_tight *t;

	if (key >= srv->ring_tight_cap) {
		uint32_t n = key + 64;
		struct ring_tight *v = realloc(srv->ring_tight, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + srv->ring_tight_cap, 0, (n - srv->ring_tight_cap) * sizeof(*v));
		srv->ring_tight = v;
		srv->ring_tight_cap = n;
	}
	t = &srv->ring_tight[key];
	t->ms = server_now_ms();
	if (t->on)
		return 0;
	t->on = 1;
	srv->ring_ntight++;
	ring_kick_all(srv, key, 1);
	return 1;
}

void ring_tighten(struct server *srv, const struct dpool *p)
{
	ring_tighten_key(srv, p);
}

int ring_pull(struct server *srv, struct conn *except, const struct dpool *p)
{
	int got, rc = ring_tighten_key(srv, p);

	/* While the kick is set, every free of it parked since is followed
	 * by a message that brings it in.  Without a record the key cannot
	 * be relaxed later: the rings are read, and frees keep coming as they
	 * are. */
	if (rc == 0)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	got = ring_drain_all(srv, except);
	return p ? got + stock_steal_all(srv, p->id) : got;
}

int ring_pool_tight(const struct server *srv, const struct dpool *p)
{
	uint32_t key = ring_key(p);

	return (key < srv->ring_tight_cap && srv->ring_tight[key].on) ||
	       (KEY_ALL < srv->ring_tight_cap && srv->ring_tight[KEY_ALL].on);
}

/* Whether pool id still needs its frees at once: someone waits on it; it
 * has caches and a block of it is shared (a cached free would keep it from
 * the other holder's next allocation) or it retired; or it has a cache but
 * is zeroed on every free (a reload made it so). */
static int pool_waited(const struct server *srv, uint32_t id)
{
	const struct dpool *p = id < srv->npools ? srv->pools[id] : NULL;

	return p && (waitq_head(&p->waiters) || (p->nlanes && (p->nshared || p->retired)) ||
		     (p->cfg && p->cfg->cache && scrub_on_free(srv, p)));
}

/* Whether a request waits on what key covers (the heap has no waits). */
static int ring_key_waited(const struct server *srv, uint32_t key)
{
	if (key == KEY_HEAP)
		return 0;
	if (key != KEY_ALL)
		return pool_waited(srv, key - KEY_POOL0);
	for (uint32_t id = PROTO_RING_KICK_POOLS; id < srv->npools; id++)
		if (pool_waited(srv, id))
			return 1;
	return 0;
}

void ring_relax(struct server *srv)
{
	uint64_t now;

	if (srv->ring_ntight == 0)
		return;
	now = server_now_ms();
	if (now - srv->ring_relax_ms < RING_RELAX_SCAN_MS)
		return;
	srv->ring_relax_ms = now;
	for (uint32_t k = 0; k < srv->ring_tight_cap; k++) {
		struct ring_tight *t = &srv->ring_tight[k];

		if (!t->on || now - t->ms < RING_RELAX_MS || ring_key_waited(srv, k))
			continue;
		t->on = 0;
		srv->ring_ntight--;
		ring_kick_all(srv, k, 0);
	}
}

void ring_fini(struct server *srv)
{
	free(srv->ring_tight);
	srv->ring_tight = NULL;
	srv->ring_tight_cap = 0;
	srv->ring_ntight = 0;
}
