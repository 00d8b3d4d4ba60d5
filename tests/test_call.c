/*
 * The call slot against a real shmpoold: the doorbell page, requests
 * written into a connection's slot and answered there, the slot the call
 * thread stops watching and PROTO_CALL, replies that must go by the socket,
 * waits answered in the slot, slots a client breaks, and the library's use
 * of it (counted by the daemon's `calls` statistic), with the daemon killed,
 * stopped, or the connection closed under a call that waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

static struct harness h;

/* Pool ids follow the file: p = 0, one = 1. */
static const char config[] =
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 64\n"
	"[region r1]\n"
	"size = 1M\n"
	"[pool one]\n"
	"region = r1\n"
	"block_size = 4096\n"
	"blocks = 1\n"
	"[region r2]\n"
	"size = 4M\n"
	"[pool two]\n"
	"region = r2\n"
	"block_size = 4096\n"
	"blocks = 2\n";

#define POOL_P 0u
#define POOL_ONE 1u

/* A raw client with its ring (and so its slot) and the doorbell mapped. */
struct raw {
	struct harness_ring rc;
	uint32_t *doorbell;
	uint32_t seq;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t calls_served(void)
{
	struct proto_stats_reply st;
	int fd = harness_hello(&h, NULL);

	harness_stats(fd, 2, &st);
	close(fd);
	return st.calls;
}

static void raw_open(struct raw *c)
{
	struct proto_hdr m;
	struct proto_reply_hdr r;
	struct stat st;
	int dfd;

	memset(c, 0, sizeof(*c));
	harness_ring_hello(&h, &c->rc);
	harness_hdr_set(&m, PROTO_DOORBELL, 3);
	assert_int_equal(proto_send(c->rc.fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(c->rc.fd, &r, sizeof(r), &dfd), (long)sizeof(r));
	assert_int_equal(r.hdr.type, PROTO_DOORBELL | PROTO_REPLY);
	assert_int_equal(r.hdr.id, 3);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.flags, PROTO_F_CALL);
	assert_true(dfd >= 0);
	assert_int_equal(fstat(dfd, &st), 0);
	assert_int_equal(st.st_size, PROTO_DOORBELL_SIZE);
	c->doorbell = mmap(NULL, PROTO_DOORBELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
	assert_true(c->doorbell != MAP_FAILED);
	close(dfd);
}

static void raw_close(struct raw *c)
{
	munmap(c->doorbell, PROTO_DOORBELL_SIZE);
	harness_ring_close(&c->rc);
}

/* Write msg into the slot and tell the daemon as the library does; with
 * by_call, with PROTO_CALL on the socket whatever `on` says. */
static void raw_post(struct raw *c, const void *msg, size_t len, int by_call)
{
	struct proto_call *k = &c->rc.ring->call;

	memcpy(k->req, msg, len);
	__atomic_store_n(&k->len, (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(&k->seq, ++c->seq, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (by_call || !__atomic_load_n(&k->on, __ATOMIC_RELAXED)) {
		struct proto_hdr m;

		harness_hdr_set(&m, PROTO_CALL, 0x7000 + c->seq);
		assert_int_equal(proto_send(c->rc.fd, &m, sizeof(m), -1, 0), 0);
		return;
	}
	/* Ring whether or not the thread sleeps: a spurious ring is harmless. */
	__atomic_fetch_add(c->doorbell, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, c->doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Wait up to 10 s for the reply to the last request: its length. */
static uint32_t raw_reply(struct raw *c, void *buf, size_t size)
{
	struct proto_call *k = &c->rc.ring->call;
	uint64_t end = now_ms() + 10000;
	uint32_t len;

	while (__atomic_load_n(&k->reply_seq, __ATOMIC_ACQUIRE) != c->seq) {
		if (now_ms() > end)
			fail_msg("no reply in the slot to request %u", c->seq);
		usleep(1000);
	}
	len = __atomic_load_n(&k->reply_len, __ATOMIC_RELAXED);
	if (len <= PROTO_CALL_MSG_MAX)
		memcpy(buf, k->reply, len < size ? len : size);
	return len;
}

static void block_alloc_msg(struct proto_block_alloc *m, uint32_t id, uint32_t pool,
			    uint32_t count, int timeout_ms)
{
	memset(m, 0, sizeof(*m));
	harness_hdr_set(&m->hdr, PROTO_BLOCK_ALLOC, id);
	m->pool_id = pool;
	m->count = count;
	m->timeout_ms = timeout_ms;
}

/* Nothing to read on fd right now. */
static void expect_nothing(int fd)
{
	char b[64];

	assert_int_equal(recv(fd, b, sizeof(b), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* The daemon hung up on fd: the next read is the end of the stream. */
static void expect_hang_up(int fd)
{
	char b[PROTO_MAX_MESSAGE];
	long n;

	do
		n = harness_recv(fd, b, sizeof(b), NULL);
	while (n > 0);
	assert_int_equal(n, 0);
}

/* The hello reply offers the slot; the doorbell is a sealed 4 KiB memfd
 * the client may write; a new slot is empty and not watched. */
static void test_call_handed_over(void **state)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION, .pid = 1 };
	struct proto_hello_reply r;
	struct proto_hdr d;
	struct proto_reply_hdr dr;
	struct proto_ring *ring;
	int fd = harness_raw_connect(&h), rfd, dfd;

	(void)state;
	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), &rfd), (long)sizeof(r));
	assert_int_equal(r.r.flags, PROTO_F_RING | PROTO_F_ALIVE | PROTO_F_CALL);
	ring = mmap(NULL, PROTO_RING_SIZE, PROT_READ, MAP_SHARED, rfd, 0);
	assert_true(ring != MAP_FAILED);
	assert_int_equal(ring->call.seq, 0);
	assert_int_equal(ring->call.reply_seq, 0);
	assert_int_equal(ring->call.on, 0);
	assert_int_equal(ring->call.sock_msgs, 0);
	harness_hdr_set(&d, PROTO_DOORBELL, 2);
	assert_int_equal(proto_send(fd, &d, sizeof(d), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &dr, sizeof(dr), &dfd), (long)sizeof(dr));
	assert_int_equal(dr.status, 0);
	assert_int_equal(dr.flags, PROTO_F_CALL);
	assert_int_equal(fcntl(dfd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(ftruncate(dfd, 0), -1);
	assert_int_equal(errno, EPERM);
	{
		uint32_t *w = mmap(NULL, PROTO_DOORBELL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
				   dfd, 0);

		assert_true(w != MAP_FAILED);
		munmap(w, PROTO_DOORBELL_SIZE);
	}
	munmap(ring, PROTO_RING_SIZE);
	close(dfd);
	close(rfd);
	close(fd);
}

/* A request in the slot is answered there, with nothing on the socket: the
 * first after PROTO_CALL (the slot is not watched yet), the next after the
 * doorbell alone. */
static void test_call_raw_round_trip(void **state)
{
	union {
		struct proto_block_reply r;
		unsigned char b[PROTO_CALL_MSG_MAX];
	} rep;
	struct proto_block_alloc m;
	struct raw c;
	uint64_t before = calls_served();

	(void)state;
	raw_open(&c);
	harness_pool_open(c.rc.fd, "p", POOL_P);
	block_alloc_msg(&m, 10, POOL_P, 3, 0);
	raw_post(&c, &m, sizeof(m), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)),
			 sizeof(struct proto_block_reply) + 3 * sizeof(uint32_t));
	assert_int_equal(rep.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
	assert_int_equal(rep.r.r.hdr.id, 10);
	assert_int_equal(rep.r.r.status, 0);
	assert_int_equal(rep.r.count, 3);
	assert_int_equal(rep.r.nindices, 3);
	assert_int_equal(__atomic_load_n(&c.rc.ring->call.on, __ATOMIC_ACQUIRE), 1);
	/* hello, pool open and doorbell replies came by the socket. */
	assert_int_equal(c.rc.ring->call.sock_msgs, 3);
	expect_nothing(c.rc.fd);

	block_alloc_msg(&m, 11, POOL_P, 1, 0);
	raw_post(&c, &m, sizeof(m), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)),
			 sizeof(struct proto_block_reply) + sizeof(uint32_t));
	assert_int_equal(rep.r.r.hdr.id, 11);
	assert_int_equal(rep.r.r.status, 0);
	assert_int_equal(harness_pool_stat(c.rc.fd, POOL_P).num_used, 4);
	expect_nothing(c.rc.fd);
	assert_int_equal(calls_served(), before + 2);
	raw_close(&c);
}

/* What the slot does not take is answered in it with an error, as the
 * socket would answer a bad message, and the connection goes on. */
static void test_call_refused(void **state)
{
	struct proto_reply_hdr rep;
	struct proto_hdr m;
	struct proto_block_free f;
	struct proto_block_alloc a;
	struct raw c;

	(void)state;
	raw_open(&c);
	/* Not a type for the slot: administration. */
	harness_hdr_set(&m, PROTO_RELOAD, 20);
	raw_post(&c, &m, sizeof(m), 1);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.type, PROTO_ERROR);
	assert_int_equal(rep.hdr.id, 20);
	assert_int_equal(rep.status, -EPROTO);
	/* A free that wants no reply would leave the caller waiting. */
	memset(&f, 0, sizeof(f));
	harness_hdr_set(&f.hdr, PROTO_BLOCK_FREE, 21);
	f.count = 1;
	raw_post(&c, &f, sizeof(f), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.type, PROTO_ERROR);
	assert_int_equal(rep.hdr.id, 21);
	assert_int_equal(rep.status, -EPROTO);
	/* An unknown type, and another protocol version. */
	harness_hdr_set(&m, 0x6000, 22);
	raw_post(&c, &m, sizeof(m), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.id, 22);
	assert_int_equal(rep.status, -EOPNOTSUPP);
	block_alloc_msg(&a, 23, POOL_P, 1, 0);
	a.hdr.version = SHMPOOL_PROTO_VERSION + 1;
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.id, 23);
	assert_int_equal(rep.status, -EPROTO);
	/* A pool that does not exist. */
	block_alloc_msg(&a, 24, 77, 1, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
	assert_int_equal(rep.status, -ENOENT);
	/* Still served, by the socket too. */
	harness_pool_open(c.rc.fd, "p", POOL_P);
	block_alloc_msg(&a, 25, POOL_P, 1, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)),
			 sizeof(struct proto_block_reply) + sizeof(uint32_t));
	assert_int_equal(rep.status, 0);
	raw_close(&c);
}

/* A slot that makes no sense gets its connection hung up, whatever it held
 * goes back, and a call it left waiting is told. */
static void test_call_broken(void **state)
{
	union {
		struct proto_block_reply r;
		unsigned char b[PROTO_CALL_MSG_MAX];
	} rep;
	struct proto_block_alloc a;
	struct raw c, d;
	int lines = harness_log_lines(&h, "a call of a bad length", NULL);

	(void)state;
	raw_open(&c);
	harness_pool_open(c.rc.fd, "p", POOL_P);
	block_alloc_msg(&a, 30, POOL_P, 2, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)),
			 sizeof(struct proto_block_reply) + 2 * sizeof(uint32_t));
	/* A length past the slot. */
	__atomic_store_n(&c.rc.ring->call.len, PROTO_CALL_MSG_MAX + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c.rc.ring->call.seq, ++c.seq, __ATOMIC_RELEASE);
	__atomic_fetch_add(c.doorbell, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, c.doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
	expect_hang_up(c.rc.fd);
	assert_int_equal(harness_log_lines(&h, "a call of a bad length", NULL), lines + 1);
	raw_close(&c);

	/* A request written over one that waits. */
	raw_open(&d);
	harness_pool_open(d.rc.fd, "one", POOL_ONE);
	block_alloc_msg(&a, 31, POOL_ONE, 1, 0);
	raw_post(&d, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&d, &rep, sizeof(rep)),
			 sizeof(struct proto_block_reply) + sizeof(uint32_t));
	block_alloc_msg(&a, 32, POOL_ONE, 1, SHMPOOL_FOREVER);
	raw_post(&d, &a, sizeof(a), 0);
	usleep(20000);
	assert_int_equal(d.rc.ring->call.reply_seq, d.seq - 1);
	block_alloc_msg(&a, 33, POOL_ONE, 1, 0);
	raw_post(&d, &a, sizeof(a), 0);
	d.seq--;
	assert_int_equal(raw_reply(&d, &rep, sizeof(rep)), PROTO_CALL_CLOSED);
	expect_hang_up(d.rc.fd);
	raw_close(&d);
	{
		shmpool_t *sp;
		shmpool_pool_t *p, *one;
		struct shmpool_pool_stat st;

		assert_int_equal(shmpool_connect(h.socket, &sp), 0);
		assert_int_equal(shmpool_pool_open(sp, "p", &p), 0);
		assert_int_equal(shmpool_pool_open(sp, "one", &one), 0);
		/* Both closes are done once the loop has seen both hang-ups. */
		for (int i = 0; i < 1000; i++) {
			assert_int_equal(shmpool_pool_stat(one, &st), 0);
			if (st.num_used == 0)
				break;
			usleep(5000);
		}
		assert_int_equal(st.num_used, 0);
		for (int i = 0; i < 1000; i++) {
			assert_int_equal(shmpool_pool_stat(p, &st), 0);
			if (st.num_used == 0)
				break;
			usleep(5000);
		}
		assert_int_equal(st.num_used, 0);
		shmpool_pool_close(p);
		shmpool_pool_close(one);
		shmpool_disconnect(sp);
	}
}

/* A reply with a region fd, or too big for the slot, comes by the socket,
 * and the slot says so. */
static void test_call_reply_by_socket(void **state)
{
	struct proto_heap_alloc m;
	struct proto_heap_reply hr;
	struct proto_block_alloc a;
	struct raw c;
	int rfd;
	union {
		struct proto_block_reply r;
		unsigned char b[PROTO_MAX_MESSAGE];
	} *big = malloc(sizeof(*big));

	(void)state;
	assert_non_null(big);
	raw_open(&c);
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.hdr, PROTO_HEAP_ALLOC, 40);
	m.size = 4096;
	raw_post(&c, &m, sizeof(m), 0);
	assert_int_equal(raw_reply(&c, big, sizeof(*big)), PROTO_CALL_BY_SOCKET);
	assert_int_equal(harness_recv(c.rc.fd, &hr, sizeof(hr), &rfd), (long)sizeof(hr));
	assert_int_equal(hr.r.hdr.id, 40);
	assert_int_equal(hr.r.status, 0);
	assert_true(hr.r.flags & PROTO_F_REGION);
	assert_true(rfd >= 0);
	close(rfd);
	/* The next one from the same region brings no fd: in the slot. */
	harness_hdr_set(&m.hdr, PROTO_HEAP_ALLOC, 41);
	raw_post(&c, &m, sizeof(m), 0);
	assert_int_equal(raw_reply(&c, big, sizeof(*big)), sizeof(hr));
	assert_int_equal(big->r.r.hdr.id, 41);
	assert_int_equal(big->r.r.status, 0);

	/* 64 blocks fit the slot; the indices of 1100 do not. */
	harness_pool_open(c.rc.fd, "p", POOL_P);
	block_alloc_msg(&a, 42, POOL_P, 64, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, big, sizeof(*big)),
			 sizeof(struct proto_block_reply) + 64 * sizeof(uint32_t));
	free(big);
	raw_close(&c);
}

/* A grant too big for the slot: a pool of 2000 small blocks. */
static void test_call_big_grant_by_socket(void **state)
{
	shmpool_t *sp;
	shmpool_pool_t *pool;
	struct shmpool_pool_config cfg = { .name = "many", .block_size = 64, .num_blocks = 2000 };
	void **b = calloc(1100, sizeof(*b));
	uint64_t before;

	(void)state;
	assert_non_null(b);
	assert_int_equal(shmpool_connect(h.socket, &sp), 0);
	assert_int_equal(shmpool_pool_create(sp, &cfg, &pool), 0);
	before = calls_served();
	assert_int_equal(shmpool_blocks_alloc(pool, 1100, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 1100; i++)
		memset(b[i], i & 0xff, 64);
	for (int i = 0; i < 1100; i++)
		assert_int_equal(((unsigned char *)b[i])[63], i & 0xff);
	/* Served through the slot, answered by the socket. */
	assert_int_equal(calls_served(), before + 1);
	assert_int_equal(shmpool_blocks_free(pool, 1100, b), 0);
	assert_int_equal(shmpool_pool_destroy(sp, "many"), 0);
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
	free(b);
}

/* The thread stops watching a slot after a quiet second, also one the loop
 * began to watch while the thread slept; a request then comes with
 * PROTO_CALL, and is served; the slot is watched again. */
static void test_call_idle_slot(void **state)
{
	struct proto_block_reply rep;
	struct proto_block_alloc a;
	struct raw c;
	uint64_t end;

	(void)state;
	/* Every earlier slot let go of: the thread sleeps with nothing to
	 * watch, and this connection's first call makes the loop watch it. */
	usleep(1300000);
	raw_open(&c);
	harness_pool_open(c.rc.fd, "p", POOL_P);
	block_alloc_msg(&a, 50, POOL_P, 0, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(c.rc.ring->call.on, 1);
	end = now_ms() + 10000;
	while (__atomic_load_n(&c.rc.ring->call.on, __ATOMIC_ACQUIRE) && now_ms() < end)
		usleep(20000);
	assert_int_equal(c.rc.ring->call.on, 0);
	block_alloc_msg(&a, 51, POOL_P, 1, 0);
	raw_post(&c, &a, sizeof(a), 0);
	assert_int_equal(raw_reply(&c, &rep, sizeof(rep)), sizeof(rep) + sizeof(uint32_t));
	assert_int_equal(rep.r.hdr.id, 51);
	assert_int_equal(rep.r.status, 0);
	assert_int_equal(c.rc.ring->call.on, 1);
	raw_close(&c);
}

/* The library's calls go through the slot: the daemon counts every one,
 * the blocks are real memory of the segment another connection maps. */
static void test_call_library(void **state)
{
	shmpool_t *a, *b;
	shmpool_pool_t *pa, *pb;
	struct shmpool_pool_stat st;
	void *blk[8], *x, *mem;
	shmpool_ref_t ref;
	uint64_t before;

	(void)state;
	assert_int_equal(shmpool_connect(h.socket, &a), 0);
	assert_int_equal(shmpool_connect(h.socket, &b), 0);
	assert_int_equal(shmpool_pool_open(a, "p", &pa), 0);
	assert_int_equal(shmpool_pool_open(b, "p", &pb), 0);
	before = calls_served();
	for (int i = 0; i < 100; i++) {
		assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
		assert_int_equal(shmpool_block_free(pa, x), 0);
	}
	assert_int_equal(shmpool_blocks_alloc(pa, 8, blk, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_pool_stat(pa, &st), 0);
	assert_int_equal(st.num_used, 8);
	memset(blk[3], 0x5a, 4096);
	assert_int_equal(shmpool_ref(a, blk[3], &ref), 0);
	assert_int_equal(shmpool_attach(b, &ref, &x), 0);
	assert_int_equal(((unsigned char *)x)[4095], 0x5a);
	assert_int_equal(shmpool_block_free(pb, x), 0);
	assert_int_equal(shmpool_blocks_free(pa, 8, blk), 0);
	assert_int_equal(shmpool_alloc(a, SHMPOOL_ATTR_CACHEABLE, 1000, &mem), 0);
	assert_int_equal(shmpool_realloc(a, &mem, 3000), 0);
	assert_int_equal(shmpool_free(a, mem), 0);
	assert_int_equal(shmpool_set_priority(a, 3), 0);
	/* 100 allocs, the batch, a stat, a ref, an alloc and a realloc, the
	 * priority: attach goes by the socket. */
	assert_int_equal(calls_served(), before + 106);
	shmpool_pool_close(pa);
	shmpool_pool_close(pb);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
}

struct waiter {
	shmpool_pool_t *pool;
	int timeout_ms;
	void *block;
	int rc;
	uint64_t ms;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint64_t t0 = now_ms();

	w->rc = shmpool_block_alloc(w->pool, &w->block, w->timeout_ms);
	w->ms = now_ms() - t0;
	return NULL;
}

/* Two connections with pool 'one' open: a holds its only block, x, so
 * that b's allocations wait. */
struct duo {
	shmpool_t *a, *b;
	shmpool_pool_t *pa, *pb;
	void *x;
};

/* Connect b first when b_first (it then takes the lower slot if no other
 * connection is waiting to be closed). */
static void duo_open(struct duo *d, int b_first)
{
	if (b_first)
		assert_int_equal(shmpool_connect(h.socket, &d->b), 0);
	assert_int_equal(shmpool_connect(h.socket, &d->a), 0);
	if (!b_first)
		assert_int_equal(shmpool_connect(h.socket, &d->b), 0);
	assert_int_equal(shmpool_pool_open(d->a, "one", &d->pa), 0);
	assert_int_equal(shmpool_pool_open(d->b, "one", &d->pb), 0);
	assert_int_equal(shmpool_block_alloc(d->pa, &d->x, SHMPOOL_NO_WAIT), 0);
}

static void duo_close(struct duo *d)
{
	shmpool_pool_close(d->pa);
	shmpool_pool_close(d->pb);
	shmpool_disconnect(d->a);
	if (d->b)
		shmpool_disconnect(d->b);
}

/* A call that waits is answered in the slot when a block comes, or when
 * its time is up, never before. */
static void test_call_wait(void **state)
{
	struct duo d;
	struct waiter w;
	pthread_t t;

	(void)state;
	duo_open(&d, 0);
	w = (struct waiter){ .pool = d.pb, .timeout_ms = 150 };
	waiter_main(&w);
	assert_int_equal(w.rc, -EAGAIN);
	assert_true(w.ms >= 150);

	w = (struct waiter){ .pool = d.pb, .timeout_ms = SHMPOOL_FOREVER };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	testutil_wait_waiters(d.pa, 1);
	memset(d.x, 0x77, 4096);
	assert_int_equal(shmpool_block_free(d.pa, d.x), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_ptr_not_equal(w.block, NULL);
	/* The very block, with what the other connection wrote. */
	assert_int_equal(((unsigned char *)w.block)[100], 0x77);
	assert_int_equal(shmpool_block_free(d.pb, w.block), 0);
	duo_close(&d);
}

struct twice {
	shmpool_pool_t *pool;
	void *first, *second;
	int rc1, rc2;
};

/* Take a block, then wait for another while holding it. */
static void *twice_main(void *arg)
{
	struct twice *t = arg;

	t->rc1 = shmpool_block_alloc(t->pool, &t->first, SHMPOOL_FOREVER);
	t->rc2 = shmpool_block_alloc(t->pool, &t->second, SHMPOOL_FOREVER);
	return NULL;
}

/*
 * Threads of one connection: one waits in the slot, two on the socket (one
 * reading it, one waiting for the reader role).  When the reader's call
 * ends the role goes to the other socket call, not to the call in the
 * slot, which does not read the socket: else that call's reply would sit
 * unread until the slot's call ended.
 */
static void test_call_reader_role(void **state)
{
	shmpool_t *holder, *sp;
	shmpool_pool_t *hy, *hx, *y, *x;
	struct twice a;
	struct waiter t2, t3;
	pthread_t ta, tt2, tt3;
	void *yb, *xb[2];

	(void)state;
	harness_watchdog(60, "test_call: a socket call lost the reader role to the slot\n");
	assert_int_equal(shmpool_connect(h.socket, &holder), 0);
	assert_int_equal(shmpool_pool_open(holder, "one", &hy), 0);
	assert_int_equal(shmpool_pool_open(holder, "two", &hx), 0);
	assert_int_equal(shmpool_block_alloc(hy, &yb, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_alloc(hx, 2, xb, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_connect(h.socket, &sp), 0);
	assert_int_equal(shmpool_pool_open(sp, "one", &y), 0);
	assert_int_equal(shmpool_pool_open(sp, "two", &x), 0);

	a = (struct twice){ .pool = y, .rc1 = 1, .rc2 = 1 };
	assert_int_equal(pthread_create(&ta, NULL, twice_main, &a), 0);
	testutil_wait_waiters(hy, 1);
	t2 = (struct waiter){ .pool = x, .timeout_ms = SHMPOOL_FOREVER };
	assert_int_equal(pthread_create(&tt2, NULL, waiter_main, &t2), 0);
	testutil_wait_waiters(hx, 1);
	t3 = (struct waiter){ .pool = x, .timeout_ms = SHMPOOL_FOREVER };
	assert_int_equal(pthread_create(&tt3, NULL, waiter_main, &t3), 0);
	testutil_wait_waiters(hx, 2);
	/* a's first call ends; its second goes into the slot, behind t3. */
	assert_int_equal(shmpool_block_free(hy, yb), 0);
	testutil_wait_waiters(hy, 1);
	assert_int_equal(a.rc1, 0);
	assert_int_equal(shmpool_block_free(hx, xb[0]), 0);
	assert_int_equal(pthread_join(tt2, NULL), 0);
	assert_int_equal(t2.rc, 0);
	assert_int_equal(shmpool_block_free(hx, xb[1]), 0);
	assert_int_equal(pthread_join(tt3, NULL), 0);
	assert_int_equal(t3.rc, 0);
	assert_int_equal(a.rc2, 1);
	assert_int_equal(shmpool_block_free(x, t2.block), 0);
	assert_int_equal(shmpool_block_free(x, t3.block), 0);
	shmpool_disconnect(sp);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(a.rc2, -ECANCELED);
	harness_watchdog(0, NULL);
	shmpool_pool_close(y);
	shmpool_pool_close(x);
	shmpool_pool_close(hy);
	shmpool_pool_close(hx);
	shmpool_disconnect(holder);
}

/* A free of the only block followed at once by an alloc that does not
 * wait: the free, parked or sent, is read first, every time. */
static void test_call_free_then_alloc(void **state)
{
	shmpool_t *a;
	shmpool_pool_t *pa;
	void *x;

	(void)state;
	assert_int_equal(shmpool_connect(h.socket, &a), 0);
	assert_int_equal(shmpool_pool_open(a, "one", &pa), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
		assert_int_equal(shmpool_block_free(pa, x), 0);
	}
	shmpool_pool_close(pa);
	shmpool_disconnect(a);
}

struct cancel_arg {
	shmpool_t *sp;
};

static void *disconnect_main(void *arg)
{
	struct cancel_arg *c = arg;

	usleep(100000);
	shmpool_disconnect(c->sp);
	return NULL;
}

/* shmpool_disconnect from another thread ends a call waiting in the slot. */
static void test_call_disconnect_while_waiting(void **state)
{
	struct duo d;
	struct cancel_arg ca;
	pthread_t t;
	void *y;

	(void)state;
	duo_open(&d, 0);
	ca.sp = d.b;
	assert_int_equal(pthread_create(&t, NULL, disconnect_main, &ca), 0);
	assert_int_equal(shmpool_block_alloc(d.pb, &y, SHMPOOL_FOREVER), -ECANCELED);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* b is gone: its pool handle is only memory now. */
	d.b = NULL;
	assert_int_equal(shmpool_block_free(d.pa, d.x), 0);
	duo_close(&d);
}

/* Wait until the daemon has closed every connection but the one asking,
 * and return it: while it stays open, new ones take slots in the order they
 * come. */
static int wait_alone(void)
{
	struct proto_status_reply r;
	struct proto_hdr m;
	int fd = harness_hello(&h, NULL);

	for (int i = 0; i < 1000; i++) {
		harness_hdr_set(&m, PROTO_STATUS, 2);
		assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
		assert_int_equal(harness_recv(fd, &r, sizeof(r), NULL), (long)sizeof(r));
		if (r.clients == 1)
			break;
		usleep(5000);
	}
	assert_int_equal(r.clients, 1);
	return fd;
}

/* A call waiting in the slot learns that the daemon was killed or stopped:
 * -ECONNRESET (the alive page, or the hang-up). */
static void wait_through(int kill_it)
{
	struct duo d;
	struct waiter w;
	pthread_t t;
	int alone;

	/* The waiter takes the lower slot: a stop closes connections in
	 * slot order, so the block a holds never reaches it. */
	alone = wait_alone();
	duo_open(&d, 1);
	close(alone);
	w = (struct waiter){ .pool = d.pb, .timeout_ms = SHMPOOL_FOREVER };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	testutil_wait_waiters(d.pa, 1);
	if (kill_it)
		harness_kill(&h);
	else
		assert_int_equal(harness_stop(&h), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, -ECONNRESET);
	duo_close(&d);
	assert_int_equal(harness_restart(&h), 0);
}

static void test_call_daemon_killed(void **state)
{
	(void)state;
	harness_watchdog(60, "test_call: a call in the slot outlived its daemon\n");
	wait_through(1);
	harness_watchdog(0, NULL);
}

static void test_call_daemon_stopped(void **state)
{
	(void)state;
	harness_watchdog(60, "test_call: a call in the slot outlived its daemon\n");
	wait_through(0);
	harness_watchdog(0, NULL);
}

/* A client that rings the doorbell without pause, and one that scribbles
 * on it, only cost the call thread wake-ups: others are served right. */
static void test_call_doorbell_abuse(void **state)
{
	struct raw c;
	shmpool_t *a;
	shmpool_pool_t *pa;
	pid_t pid;
	int status;
	void *x;

	(void)state;
	raw_open(&c);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t end = now_ms() + 500;

		while (now_ms() < end) {
			__atomic_store_n(c.doorbell, (uint32_t)random(), __ATOMIC_RELAXED);
			syscall(SYS_futex, c.doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
		}
		_exit(0);
	}
	assert_int_equal(shmpool_connect(h.socket, &a), 0);
	assert_int_equal(shmpool_pool_open(a, "one", &pa), 0);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), 0);
		((volatile char *)x)[0] = (char)i;
		assert_int_equal(shmpool_block_free(pa, x), 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	shmpool_pool_close(pa);
	shmpool_disconnect(a);
	raw_close(&c);
}

static int setup(void **state)
{
	(void)state;
	return harness_start(&h, config) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return harness_finish(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_handed_over),
		cmocka_unit_test(test_call_raw_round_trip),
		cmocka_unit_test(test_call_refused),
		cmocka_unit_test(test_call_broken),
		cmocka_unit_test(test_call_reply_by_socket),
		cmocka_unit_test(test_call_big_grant_by_socket),
		cmocka_unit_test(test_call_idle_slot),
		cmocka_unit_test(test_call_library),
		cmocka_unit_test(test_call_wait),
		cmocka_unit_test(test_call_free_then_alloc),
		cmocka_unit_test(test_call_reader_role),
		cmocka_unit_test(test_call_disconnect_while_waiting),
		cmocka_unit_test(test_call_daemon_killed),
		cmocka_unit_test(test_call_daemon_stopped),
		cmocka_unit_test(test_call_doorbell_abuse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
