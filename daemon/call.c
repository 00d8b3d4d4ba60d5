/*
 * call: the connections' call slots and the thread that serves them (see
 * proto.h).
 *
 * Through the socket a request costs the client a send and a receive, and
 * the daemon an epoll_wait, a receive and a send, each with the kernel's
 * socket bookkeeping.  Through the call slot it costs a copy into shared
 * memory and two futex operations: the client rings the doorbell only if
 * this thread sleeps, and the reply wakes the client's futex.  The work is
 * the same: the request is copied out of the slot and served by the very
 * dispatcher the socket feeds (conn_serve_call), and its reply is caught on
 * its way to the socket (conn_send) and written to the slot instead.
 *
 * Locking.  Everything the daemon knows is guarded by srv->lock: the loop
 * holds it in every callback, this thread while it serves.  This thread
 * never calls libuv, which is not thread-safe: what would (arming the wait
 * timer, polling a socket for writing, closing a connection) is done by
 * the loop, asked with server_defer; a connection to close is shut down
 * here and closed by the loop when it sees the hang-up.
 *
 * The thread watches only the slots that were used in the last
 * CALL_IDLE_MS, so its scan costs nothing for idle clients.  It stops
 * watching a slot by clearing `on`, with a full fence, and then reads the
 * slot once more; the client writes its request, fences and reads `on`:
 * either this thread sees the request, or the client sees `on` clear and
 * sends PROTO_CALL on the socket, which makes the loop serve the slot and
 * watch it again.  The same pattern guards the thread's sleep, with the
 * alive page's call-idle word, which only the daemon can write.
 */
#include "autoconf.h"
#include "futex.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CALL_IDLE_MS 1000               /* a slot unused this long is not watched */
#define CALL_RELAX_SCAN_MS 100          /* how often that is checked */
#define CALL_YIELDS 4                   /* sched_yield before the thread sleeps */

/* One request, copied out of its slot. */
static union {
	struct proto_hdr hdr;
	uint64_t align;
	unsigned char bytes[PROTO_CALL_MSG_MAX];
} call_msg;

static uint32_t *call_idle_word(struct server *srv)
{
	return &srv->alive_page[PROTO_ALIVE_CALL_IDLE];
}

static void active_remove(struct server *srv, struct conn *c)
{
	uint32_t i = c->call_active - 1;
	struct conn *last = srv->call_active[--srv->ncall_active];

	srv->call_active[i] = last;
	last->call_active = i + 1;
	c->call_active = 0;
}

void call_activate(struct conn *c)
{
	struct server *srv = c->srv;

	if (!c->ring || c->closing || c->hung_up)
		return;
	if (!c->call_active) {
		if (srv->ncall_active == srv->call_active_cap) {
			uint32_t n = srv->call_active_cap ? srv->call_active_cap * 2 : 64;
			struct conn **v = realloc(srv->call_active, n * sizeof(*v));

			/* Not watched: the client keeps sending PROTO_CALL. */
			if (!v)
				goto serve;
			srv->call_active = v;
			srv->call_active_cap = n;
		}
		srv->call_active[srv->ncall_active++] = c;
		c->call_active = srv->ncall_active;
		__atomic_store_n(&c->ring->call.on, 1, __ATOMIC_RELEASE);
		/* The loop activates; a call thread asleep with nothing to
		 * watch sleeps without a timeout and would never let go of
		 * the slot: wake it so that it sleeps with one. */
		if (srv->ncall_active == 1 && srv->calls_running &&
		    __atomic_load_n(call_idle_word(srv), __ATOMIC_RELAXED)) {
			__atomic_fetch_add(srv->doorbell, 1, __ATOMIC_RELEASE);
			futex_wake_shared(srv->doorbell, 1);
		}
	}
serve:
	c->call_ms = server_now_ms();
	call_serve(c);
}

/* Write the end of a call: its reply's length (what reply holds already),
 * then its seq, and wake the client. */
static void call_finish(struct conn *c, uint32_t len)
{
	struct proto_call *k = &c->ring->call;

	c->call_open = 0;
	__atomic_store_n(&k->reply_len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&k->sock_msgs, c->sock_msgs, __ATOMIC_RELAXED);
	__atomic_store_n(&k->reply_seq, c->call_seen, __ATOMIC_RELEASE);
	/* The client sets sleeping, fences and reads reply_seq before it
	 * sleeps: either it sees the reply or this sees it asleep. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&k->sleeping, __ATOMIC_RELAXED))
		futex_wake_shared(&k->reply_seq, 1);
}

int call_answer(struct conn *c, const void *msg, size_t len)
{
	if (len > PROTO_CALL_MSG_MAX) {
		c->call_open = 0;
		return -EMSGSIZE;
	}
	memcpy(c->ring->call.reply, msg, len);
	call_finish(c, (uint32_t)len);
	return 0;
}

void call_by_socket(struct conn *c)
{
	call_finish(c, PROTO_CALL_BY_SOCKET);
}

void call_hang_up(struct conn *c)
{
	if (!c->ring)
		return;
	__atomic_store_n(&c->ring->call.on, 0, __ATOMIC_RELAXED);
	if (c->call_open)
		call_finish(c, PROTO_CALL_CLOSED);
}

void call_forget(struct conn *c)
{
	if (c->call_active)
		active_remove(c->srv, c);
	call_hang_up(c);
}

int call_serve(struct conn *c)
{
	struct proto_call *k;
	uint32_t seq, kick, len;
	int served = 0;

	if (!c->ring || c->closing || c->hung_up || c->ring_broken)
		return 0;
	k = &c->ring->call;
	kick = __atomic_load_n(&k->kick, __ATOMIC_ACQUIRE);
	if (kick != c->call_kick_seen) {
		c->call_kick_seen = kick;
		c->call_ms = server_now_ms();
		served = 1;
		if (ring_drain(c) < 0 || c->closing || c->hung_up)
			return 1;
	}
	seq = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
	if (seq == c->call_seen)
		return served;
	if (c->call_open) {
		/* The library waits for its reply before it writes again. */
		ring_hang_up(c, "a call written over one not answered");
		return 1;
	}
	c->call_seen = seq;
	c->call_ms = server_now_ms();
	len = __atomic_load_n(&k->len, __ATOMIC_RELAXED);
	if (len < sizeof(struct proto_hdr) || len > PROTO_CALL_MSG_MAX) {
		ring_hang_up(c, "a call of a bad length");
		return 1;
	}
	memcpy(call_msg.bytes, k->req, len);
	c->call_open = 1;
	c->call_id = call_msg.hdr.id;
	c->srv->stats.calls++;
	conn_serve_call(c, call_msg.bytes, len);
	/* Not answered: it waits; the client need not stay awake for it. */
	if (c->call_open && c->ring)
		__atomic_store_n(&k->queued, seq, __ATOMIC_RELEASE);
	return 1;
}

/* Stop watching the slots nobody used for CALL_IDLE_MS (see the top). */
static void call_relax(struct server *srv, uint64_t now)
{
	if (now - srv->call_relax_ms < CALL_RELAX_SCAN_MS)
		return;
	srv->call_relax_ms = now;
	for (uint32_t i = 0; i < srv->ncall_active;) {
		struct conn *c = srv->call_active[i];
		struct proto_call *k = &c->ring->call;

		if (c->call_open || now - c->call_ms < CALL_IDLE_MS) {
			i++;
			continue;
		}
		__atomic_store_n(&k->on, 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (call_serve(c) && !c->hung_up && !c->ring_broken) {
			__atomic_store_n(&k->on, 1, __ATOMIC_RELAXED);
			i++;
			continue;
		}
		active_remove(srv, c);
	}
}

/* Serve every watched slot: how many had anything. */
static int call_serve_all(struct server *srv)
{
	int n = 0;

	/* call_serve never removes from the list: a connection it hangs up
	 * is closed by the loop. */
	for (uint32_t i = 0; i < srv->ncall_active; i++)
		n += call_serve(srv->call_active[i]);
	if (n > 0)
		conn_flush_replies();
	return n;
}

static void *call_main(void *arg)
{
	struct server *srv = arg;
	uint32_t *idle = call_idle_word(srv);
	int yields = 0;

	pthread_setname_np(pthread_self(), "shmpoold-call");
	pthread_mutex_lock(&srv->lock);
	while (!srv->calls_stop) {
		uint32_t ring = __atomic_load_n(srv->doorbell, __ATOMIC_ACQUIRE);

		call_relax(srv, server_now_ms());
		if (call_serve_all(srv) > 0) {
			yields = 0;
			continue;
		}
		/* What the relax served may have staged replies. */
		conn_flush_replies();
		/* Busy: let the clients just answered run and write their next
		 * requests before this sleeps (see the top). */
		if (yields < CALL_YIELDS && srv->ncall_active > 0) {
			yields++;
			pthread_mutex_unlock(&srv->lock);
			sched_yield();
			pthread_mutex_lock(&srv->lock);
			continue;
		}
		yields = 0;
		/* Sleep, unless a request came in after the scan (see the top). */
		__atomic_store_n(idle, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (call_serve_all(srv) == 0 && !srv->calls_stop) {
			/* With slots watched, wake to let go of idle ones;
			 * call_activate wakes a thread that has none. */
			int timeout = srv->ncall_active ? CALL_RELAX_SCAN_MS : -1;

			pthread_mutex_unlock(&srv->lock);
			futex_wait_shared(srv->doorbell, ring, timeout);
			pthread_mutex_lock(&srv->lock);
		}
		__atomic_store_n(idle, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* The doorbell: one word every client may write, in a memfd sealed so
 * that none can shrink it under the daemon.  A client that scribbles on it
 * only wakes this thread for nothing. */
static int doorbell_page(struct server *srv)
{
	void *p;
	int fd, rc;

	fd = memfd_create("shmpool:doorbell", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, PROTO_DOORBELL_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	p = mmap(NULL, PROTO_DOORBELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	srv->doorbell = p;
	srv->doorbell_fd = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int calls_start(struct server *srv)
{
	sigset_t all, old;
	int rc;

	if (!srv->alive_page)
		return -ENOSYS;
	rc = doorbell_page(srv);
	if (rc < 0)
		return rc;
	srv->calls_stop = 0;
	/* Signals are the loop's: the thread takes none but the faults its
	 * own accesses raise.  A SIGBUS blocked when it is raised kills the
	 * process: the scrub's guard (scrub.c) must catch it here too. */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&srv->call_thread, NULL, call_main, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		calls_fini(srv);
		return rc;
	}
	srv->calls_running = 1;
	return 0;
}

void calls_stop(struct server *srv)
{
	if (!srv->calls_running)
		return;
	srv->calls_stop = 1;
	__atomic_fetch_add(srv->doorbell, 1, __ATOMIC_RELEASE);
	futex_wake_shared(srv->doorbell, 1);
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->call_thread, NULL);
	pthread_mutex_lock(&srv->lock);
	srv->calls_running = 0;
}

void calls_fini(struct server *srv)
{
	if (srv->doorbell)
		munmap(srv->doorbell, PROTO_DOORBELL_SIZE);
	srv->doorbell = NULL;
	if (srv->doorbell_fd >= 0)
		close(srv->doorbell_fd);
	srv->doorbell_fd = -1;
	free(srv->call_active);
	srv->call_active = NULL;
	srv->ncall_active = srv->call_active_cap = 0;
}
