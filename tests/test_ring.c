/*
 * The free ring against a real shmpoold: the memfd the hello reply hands
 * over, frees parked in it and read at the documented moments, the kick
 * bits, rings a client breaks, and the library's use of it (full ring,
 * wrap-around, a client that dies with frees parked).  Raw tests write the
 * ring exactly as libshmpool does, through the client's own mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

static struct harness h;

/* Pool ids follow the file: p = 0, big = 1. */
static const char config[] =
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[region r1]\n"
	"size = 1M\n"
	"[pool big]\n"
	"region = r1\n"
	"block_size = 64\n"
	"blocks = 2000\n"
	"[region r2]\n"
	"size = 1M\n";

#define POOL_P 0u
#define POOL_BIG 1u

/* A raw client: its socket, its mapping of the ring and where it writes. */
struct raw {
	int fd;
	struct proto_ring *ring;
	uint32_t tail;
};

static void raw_hello(struct raw *c)
{
	struct harness_ring hr;

	harness_ring_hello(&h, &hr);
	c->fd = hr.fd;
	c->ring = hr.ring;
	c->tail = 0;
}

static void raw_close(struct raw *c)
{
	harness_ring_close(&(struct harness_ring){ .fd = c->fd, .ring = c->ring });
}

/* Send a block alloc of count without waiting for the reply. */
static void raw_alloc_send(struct raw *c, uint32_t pool, uint32_t count, int timeout_ms, uint32_t id)
{
	struct proto_block_alloc m = { .pool_id = pool, .count = count, .timeout_ms = timeout_ms };

	harness_hdr_set(&m.hdr, PROTO_BLOCK_ALLOC, id);
	assert_int_equal(proto_send(c->fd, &m, sizeof(m), -1, 0), 0);
}

/* Receive the grant to id (one frame): its status, indices into idx. */
static int raw_grant(struct raw *c, uint32_t id, uint32_t *idx, uint32_t max)
{
	union {
		struct proto_block_reply r;
		unsigned char b[sizeof(struct proto_block_reply) + 64 * sizeof(uint32_t)];
	} in;
	long n = harness_recv(c->fd, &in, sizeof(in), NULL);

	assert_true(n >= (long)sizeof(struct proto_reply_hdr));
	assert_int_equal(in.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
	assert_int_equal(in.r.r.hdr.id, id);
	if (in.r.r.status < 0)
		return in.r.r.status;
	assert_true(in.r.nindices <= max);
	memcpy(idx, in.r.index, in.r.nindices * sizeof(uint32_t));
	return (int)in.r.nindices;
}

static void raw_alloc(struct raw *c, uint32_t pool, uint32_t count, uint32_t *idx)
{
	raw_alloc_send(c, pool, count, 0, 3);
	assert_int_equal(raw_grant(c, 3, idx, count), (int)count);
}

/* Append raw record bytes (header and message) at the tail, as given. */
static void ring_write(struct raw *c, const void *rec, uint32_t len, uint32_t advance)
{
	memcpy(c->ring->data + c->tail % PROTO_RING_DATA, rec, len);
	c->tail += advance;
	__atomic_store_n(&c->ring->tail, c->tail, __ATOMIC_RELEASE);
}

/* Append one message as a record, the way libshmpool does. */
static void ring_put(struct raw *c, const void *msg, uint32_t len)
{
	unsigned char rec[sizeof(struct proto_ring_rec) + PROTO_RING_MSG_MAX + 8] = { 0 };
	struct proto_ring_rec hdr = { .len = len };

	memcpy(rec, &hdr, sizeof(hdr));
	memcpy(rec + sizeof(hdr), msg, len);
	ring_write(c, rec, sizeof(hdr) + len, (uint32_t)(sizeof(hdr) + len + 7) & ~7u);
}

/* Park a no-reply free of one block. */
static void ring_free(struct raw *c, uint32_t pool, uint32_t index, uint32_t id, uint32_t flags)
{
	struct {
		struct proto_block_free f;
		uint32_t idx[1];
	} m = { .f = { .pool_id = pool, .count = 1, .flags = flags, .nindices = 1 }, .idx = { index } };

	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, id);
	ring_put(c, &m, sizeof(m));
}

static void raw_simple(struct raw *c, uint16_t type, uint32_t id)
{
	struct proto_hdr m;

	harness_hdr_set(&m, type, id);
	assert_int_equal(proto_send(c->fd, &m, sizeof(m), -1, 0), 0);
}

/* A SYNC round trip on c: the daemon has read c's ring when it returns. */
static void raw_sync(struct raw *c, uint32_t id)
{
	raw_simple(c, PROTO_SYNC, id);
	harness_expect_status(c->fd, PROTO_SYNC | PROTO_REPLY, id, 0);
}

/* Nothing to read on fd right now. */
static void expect_nothing(int fd)
{
	char b[64];

	assert_int_equal(recv(fd, b, sizeof(b), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The ring is a sealed 36 KiB memfd, empty, with no kick set. */
static void test_ring_handed_over(void **state)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION, .pid = 1 };
	struct proto_hello_reply r;
	int fd = harness_raw_connect(&h), rfd;

	(void)state;
	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), &rfd), (long)sizeof(r));
	assert_int_equal(r.r.flags, PROTO_F_RING | PROTO_F_ALIVE | PROTO_F_CALL);
	assert_int_equal(fcntl(rfd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(ftruncate(rfd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(rfd, 2 * PROTO_RING_SIZE), -1);
	assert_int_equal(errno, EPERM);
	{
		struct proto_ring *ring = mmap(NULL, PROTO_RING_SIZE, PROT_READ, MAP_SHARED, rfd, 0);

		assert_true(ring != MAP_FAILED);
		assert_int_equal(ring->tail, 0);
		assert_int_equal(ring->head, 0);
		assert_int_equal(ring->kick, 0);
		assert_int_equal(ring->kick_heap, 0);
		for (size_t i = 0; i < PROTO_RING_KICK_POOLS / 64; i++)
			assert_int_equal(ring->kick_pool[i], 0);
		munmap(ring, PROTO_RING_SIZE);
	}
	close(rfd);
	close(fd);
}

/* A parked free is read before the connection's next message, whatever it
 * is, and before another connection's introspection. */
static void test_parked_free_read(void **state)
{
	struct raw a, b;
	struct proto_pool_stat_reply st;
	uint32_t idx[2];

	(void)state;
	raw_hello(&a);
	raw_hello(&b);
	harness_pool_open(a.fd, "p", POOL_P);
	raw_alloc(&a, POOL_P, 2, idx);
	ring_free(&a, POOL_P, idx[0], 10, 0);
	assert_int_equal(a.ring->head, 0);
	/* Another connection's stat reads every ring first. */
	st = harness_pool_stat(b.fd, POOL_P);
	assert_int_equal(st.num_used, 1);
	assert_int_equal(st.num_free, 3);
	assert_int_equal(a.ring->head, a.tail);
	/* The owner's next message, one that reads no other ring. */
	ring_free(&a, POOL_P, idx[1], 11, 0);
	raw_sync(&a, 12);
	assert_int_equal(a.ring->head, a.tail);
	st = harness_pool_stat(b.fd, POOL_P);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.max_used, 2);
	raw_close(&a);
	raw_close(&b);
}

/* An allocation that cannot be met reads the rings before it fails, and
 * from then on the pool's frees are wanted at once (its kick bit), until a
 * quiet second has passed. */
static void test_shortage_reads_rings(void **state)
{
	struct raw a, b;
	uint32_t idx[4], got[1];
	uint64_t t0;

	(void)state;
	raw_hello(&a);
	raw_hello(&b);
	harness_pool_open(a.fd, "p", POOL_P);
	harness_pool_open(b.fd, "p", POOL_P);
	raw_alloc(&a, POOL_P, 4, idx);
	ring_free(&a, POOL_P, idx[2], 20, 0);
	assert_int_equal(harness_kick_bit(a.ring, POOL_P), 0);
	raw_alloc_send(&b, POOL_P, 1, 0, 21);
	assert_int_equal(raw_grant(&b, 21, got, 1), 1);
	assert_int_equal(got[0], idx[2]);
	assert_int_equal(harness_kick_bit(a.ring, POOL_P), 1);
	assert_int_equal(harness_kick_bit(b.ring, POOL_P), 1);
	assert_int_equal(harness_kick_bit(a.ring, POOL_BIG), 0);
	assert_int_equal(a.ring->kick, 0);
	/* Empty now: a second refusal keeps the bit. */
	raw_alloc_send(&b, POOL_P, 1, 0, 22);
	assert_int_equal(raw_grant(&b, 22, got, 1), -ENOMEM);
	t0 = now_ms();
	/* A connection that says hello meanwhile gets the bit too. */
	{
		struct raw c;

		raw_hello(&c);
		assert_int_equal(harness_kick_bit(c.ring, POOL_P), 1);
		raw_close(&c);
	}
	for (int i = 0; i < 500 && harness_kick_bit(a.ring, POOL_P); i++) {
		usleep(20000);
		raw_sync(&b, 23);       /* the daemon checks once a loop iteration */
	}
	assert_int_equal(harness_kick_bit(a.ring, POOL_P), 0);
	assert_int_equal(harness_kick_bit(b.ring, POOL_P), 0);
	/* No earlier than a second after the refusal, give or take the
	 * loop clock's coarse ticks. */
	assert_true(now_ms() - t0 >= 950);
	raw_close(&a);
	raw_close(&b);
}

/* A waiter sets the kick bit; a free parked after it (a client that read
 * the bit too late) is read when its PROTO_KICK comes, not before. */
static void test_kick_serves_waiter(void **state)
{
	struct raw a, b, c;
	uint32_t idx[4], got[1];

	(void)state;
	raw_hello(&a);
	raw_hello(&b);
	raw_hello(&c);
	harness_pool_open(a.fd, "p", POOL_P);
	harness_pool_open(b.fd, "p", POOL_P);
	raw_alloc(&a, POOL_P, 4, idx);
	raw_alloc_send(&b, POOL_P, 1, -1, 30);
	for (int i = 0; i < 1000 && !harness_kick_bit(a.ring, POOL_P); i++)
		usleep(10000);
	assert_int_equal(harness_kick_bit(a.ring, POOL_P), 1);
	ring_free(&a, POOL_P, idx[1], 31, 0);
	/* Nothing reads a's ring: another client's round trip serves nobody. */
	raw_sync(&c, 32);
	expect_nothing(b.fd);
	assert_int_equal(a.ring->head, 0);
	raw_simple(&a, PROTO_KICK, 33);
	assert_int_equal(raw_grant(&b, 30, got, 1), 1);
	assert_int_equal(got[0], idx[1]);
	/* PROTO_KICK has no reply. */
	raw_sync(&a, 34);
	raw_close(&a);
	raw_close(&b);
	raw_close(&c);
}

/* A parked free the daemon refuses is reported like any no-reply free:
 * PROTO_NOTIFY_ERROR with the free's id, and the connection stays. */
static void test_bad_parked_free(void **state)
{
	struct raw a;
	union {
		struct proto_notify_error n;
		unsigned char b[256];
	} in;
	uint32_t idx[1];

	(void)state;
	raw_hello(&a);
	harness_pool_open(a.fd, "p", POOL_P);
	raw_alloc(&a, POOL_P, 1, idx);
	ring_free(&a, POOL_P, idx[0] ^ 1, 40, 0);      /* a free block */
	ring_free(&a, 77, 0, 41, 0);                   /* no such pool */
	raw_simple(&a, PROTO_SYNC, 42);
	assert_int_equal(harness_recv(a.fd, &in, sizeof(in), NULL), (long)sizeof(in.n));
	assert_int_equal(in.n.r.hdr.type, PROTO_NOTIFY_ERROR);
	assert_int_equal(in.n.r.hdr.id, 40);
	assert_int_equal(in.n.r.status, -EFAULT);
	assert_int_equal(harness_recv(a.fd, &in, sizeof(in), NULL), (long)sizeof(in.n));
	assert_int_equal(in.n.r.hdr.type, PROTO_NOTIFY_ERROR);
	assert_int_equal(in.n.r.hdr.id, 41);
	assert_int_equal(in.n.r.status, -ENOENT);
	harness_expect_status(a.fd, PROTO_SYNC | PROTO_REPLY, 42, 0);
	ring_free(&a, POOL_P, idx[0], 43, 0);
	raw_sync(&a, 44);
	assert_int_equal(harness_pool_stat(a.fd, POOL_P).num_used, 0);
	raw_close(&a);
}

enum breakage {
	BREAK_TAIL_FAR,
	BREAK_TAIL_ODD,
	BREAK_LEN_SHORT,
	BREAK_LEN_LONG,
	BREAK_PAST_TAIL,
	BREAK_NOT_FREE,
	BREAK_SYNC_FREE,
	BREAK_WRAP_PAST_TAIL,
	BREAK_COUNT,
};

static const char *const break_why[BREAK_COUNT] = {
	"tail out of range",
	"tail out of range",
	"record length out of range",
	"record length out of range",
	"record past the end",
	"a record that is not a no-reply free",
	"a record that is not a no-reply free",
	"wrap past the tail",
};

static int header_broken(int how)
{
	return how == BREAK_TAIL_FAR || how == BREAK_TAIL_ODD;
}

static void ring_break(struct raw *c, enum breakage how, uint32_t block)
{
	struct proto_ring_rec rec = { 0 };
	struct proto_block_alloc alloc = { .pool_id = POOL_P, .count = 1 };

	switch (how) {
	case BREAK_TAIL_FAR:
		__atomic_store_n(&c->ring->tail, PROTO_RING_DATA + 8, __ATOMIC_RELEASE);
		break;
	case BREAK_TAIL_ODD:
		__atomic_store_n(&c->ring->tail, 12, __ATOMIC_RELEASE);
		break;
	case BREAK_LEN_SHORT:
		rec.len = 3;
		ring_write(c, &rec, sizeof(rec), 16);
		break;
	case BREAK_LEN_LONG:
		rec.len = PROTO_RING_MSG_MAX + 1;
		ring_write(c, &rec, sizeof(rec), 16);
		break;
	case BREAK_PAST_TAIL:
		rec.len = 100;
		ring_write(c, &rec, sizeof(rec), 16);
		break;
	case BREAK_NOT_FREE:
		harness_hdr_set(&alloc.hdr, PROTO_BLOCK_ALLOC, 50);
		ring_put(c, &alloc, sizeof(alloc));
		break;
	case BREAK_SYNC_FREE:
		ring_free(c, POOL_P, block, 51, PROTO_F_SYNC);
		break;
	case BREAK_WRAP_PAST_TAIL:
		rec.len = PROTO_RING_WRAP;
		ring_write(c, &rec, sizeof(rec), 8);
		break;
	case BREAK_COUNT:
		break;
	}
}

/* A ring that makes no sense: the daemon logs why, counts a bad message,
 * hangs up, and what the client held is back; everyone else is served.
 * Half the cases are found by the owner's next message, half by another
 * connection's request that reads every ring. */
static void test_broken_rings(void **state)
{
	struct raw b;
	struct proto_stats_reply s0, s1;

	(void)state;
	raw_hello(&b);
	harness_stats(b.fd, 60, &s0);
	for (int how = 0; how < BREAK_COUNT; how++) {
		struct raw a;
		uint32_t idx[2];
		char buf[64];
		long n;

		raw_hello(&a);
		harness_pool_open(a.fd, "p", POOL_P);
		raw_alloc(&a, POOL_P, 2, idx);
		ring_free(&a, POOL_P, idx[0], 61, 0);   /* a good record first */
		ring_break(&a, (enum breakage)how, idx[1]);
		if (how % 2)
			raw_simple(&a, PROTO_SYNC, 62);
		else
			assert_int_equal(harness_pool_stat(b.fd, POOL_P).num_used, header_broken(how) ? 2 : 1);
		n = harness_recv(a.fd, buf, sizeof(buf), NULL);
		if (n != 0 && n != -ECONNRESET)
			fail_msg("case %d: the connection got %ld, not a hang-up", how, n);
		/* The hang-up is served in a loop iteration of its own. */
		for (int i = 0; i < 1000 && harness_pool_stat(b.fd, POOL_P).num_used != 0; i++)
			usleep(10000);
		assert_int_equal(harness_pool_stat(b.fd, POOL_P).num_used, 0);
		assert_int_equal(harness_log_lines(&h, "free ring broken", break_why[how]),
				 1 + (how == BREAK_TAIL_ODD) + (how == BREAK_LEN_LONG) +
				 (how == BREAK_SYNC_FREE));
		raw_close(&a);
	}
	/* A broken header spoils the good record before it; a broken record
	 * does not.  frees counts the blocks reclaimed too. */
	harness_stats(b.fd, 63, &s1);
	assert_int_equal(s1.bad_messages - s0.bad_messages, BREAK_COUNT);
	assert_int_equal(s1.frees - s0.frees, 2 * BREAK_COUNT);
	assert_int_equal(s1.reclaimed_bytes - s0.reclaimed_bytes, (BREAK_COUNT - 2) * 4096 + 2 * 8192);
	raw_close(&b);
}

/* The library: frees with no call in between fill the ring, the rest are
 * sent; records of many sizes wrap around it many times; every block comes
 * back and every free counts once. */
static void test_library_fill_and_wrap(void **state)
{
	shmpool_t *c = testutil_connect(&h), *mon = testutil_connect(&h);
	shmpool_pool_t *big = testutil_pool_open(c, "big"), *mbig = testutil_pool_open(mon, "big");
	struct proto_stats_reply s0, s1;
	struct shmpool_pool_stat st;
	static void *blk[1500];
	uint64_t frees = 0, allocs = 0;
	struct raw r;

	(void)state;
	raw_hello(&r);
	harness_stats(r.fd, 70, &s0);
	assert_int_equal(shmpool_blocks_alloc(big, 1500, blk, SHMPOOL_NO_WAIT), 0);
	allocs += 1500;
	for (int i = 0; i < 1500; i++)
		assert_int_equal(shmpool_block_free(big, blk[i]), 0);
	frees += 1500;
	/* The frees past a full ring went by c's socket. */
	testutil_barrier(c);
	assert_int_equal(shmpool_pool_stat(mbig, &st), 0);
	assert_int_equal(st.num_used, 0);
	srand(7);
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + (size_t)(rand() % 120);

		assert_int_equal(shmpool_blocks_alloc(big, n, blk, SHMPOOL_NO_WAIT), 0);
		allocs += n;
		if (round % 3 == 0) {
			for (size_t i = 0; i < n; i++)
				assert_int_equal(shmpool_block_free(big, blk[i]), 0);
		} else {
			assert_int_equal(shmpool_blocks_free(big, n, blk), 0);
		}
		frees += n;
	}
	testutil_barrier(c);
	assert_int_equal(shmpool_pool_stat(mbig, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.num_free, 2000);
	harness_stats(r.fd, 71, &s1);
	assert_int_equal(s1.allocs - s0.allocs, allocs);
	assert_int_equal(s1.frees - s0.frees, frees);
	assert_int_equal(s1.bad_messages, s0.bad_messages);
	raw_close(&r);
	shmpool_pool_close(big);
	shmpool_pool_close(mbig);
	shmpool_disconnect(c);
	shmpool_disconnect(mon);
}

/* Heap frees park too; a heap allocation that does not fit reads the rings
 * first. */
static void test_library_heap(void **state)
{
	shmpool_t *a = testutil_connect(&h), *b = testutil_connect(&h);
	void *x = NULL, *y = NULL;

	(void)state;
	/* r2 is the default heap's only region: 1 MiB. */
	assert_int_equal(shmpool_alloc(a, 0, 700 << 10, &x), 0);
	assert_int_equal(shmpool_free(a, x), 0);
	assert_int_equal(shmpool_alloc(b, 0, 700 << 10, &y), 0);
	assert_ptr_not_equal(y, NULL);
	assert_int_equal(shmpool_free(b, y), 0);
	/* Both frees were good: a usable size query of x finds nothing. */
	assert_int_equal(shmpool_alloc(a, 0, 1000 << 10, &x), 0);
	assert_int_equal(shmpool_free(a, x), 0);
	shmpool_disconnect(a);
	shmpool_disconnect(b);
}

/* A client that dies with frees parked: they count as frees, not as memory
 * reclaimed from the dead. */
static void test_dead_client_parked_frees(void **state)
{
	shmpool_t *mon = testutil_connect(&h);
	shmpool_pool_t *mp = testutil_pool_open(mon, "p");
	struct proto_stats_reply s0, s1;
	struct raw r;
	pid_t pid;
	int status;

	(void)state;
	raw_hello(&r);
	harness_stats(r.fd, 80, &s0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmpool_t *c = NULL;
		shmpool_pool_t *p = NULL;
		void *blk[4];

		if (shmpool_connect(h.socket, &c) < 0 || shmpool_pool_open(c, "p", &p) < 0 ||
		    shmpool_blocks_alloc(p, 4, blk, SHMPOOL_NO_WAIT) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (shmpool_block_free(p, blk[i]) < 0)
				_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	testutil_expect_stat(mp, 0, 0);
	harness_stats(r.fd, 81, &s1);
	raw_close(&r);
	assert_int_equal(s1.allocs - s0.allocs, 4);
	/* frees counts the reclaimed block too; only it was reclaimed. */
	assert_int_equal(s1.frees - s0.frees, 4);
	assert_int_equal(s1.reclaimed_bytes - s0.reclaimed_bytes, 4096);
	shmpool_pool_close(mp);
	shmpool_disconnect(mon);
}

/* free_ring = no: no ring, frees go by the socket, all the same. */
static void test_ring_off(void **state)
{
	struct harness h2;
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION, .pid = 1 };
	struct proto_hello_reply r;
	shmpool_t *c;
	shmpool_pool_t *p;
	struct shmpool_pool_stat st;
	void *blk[4];
	int fd, rfd;

	(void)state;
	assert_int_equal(harness_start(&h2, "[daemon]\nfree_ring = no\n[region r0]\nsize = 1M\n"
				       "[pool p]\nregion = r0\nblock_size = 4096\nblocks = 4\n"), 0);
	fd = harness_raw_connect(&h2);
	harness_hdr_set(&m.hdr, PROTO_HELLO, 1);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), &rfd), (long)sizeof(r));
	assert_int_equal(r.r.status, 0);
	/* No ring; the alive page is offered all the same. */
	assert_int_equal(r.r.flags, PROTO_F_ALIVE);
	assert_int_equal(rfd, -1);
	close(fd);
	assert_int_equal(shmpool_connect(h2.socket, &c), 0);
	assert_int_equal(shmpool_pool_open(c, "p", &p), 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(shmpool_blocks_alloc(p, 4, blk, SHMPOOL_NO_WAIT), 0);
		for (int i = 0; i < 4; i++)
			assert_int_equal(shmpool_block_free(p, blk[i]), 0);
	}
	assert_int_equal(shmpool_pool_stat(p, &st), 0);
	assert_int_equal(st.num_used, 0);
	assert_int_equal(st.max_used, 4);
	shmpool_pool_close(p);
	shmpool_disconnect(c);
	assert_int_equal(harness_finish(&h2), 0);
}

static int setup(void **state)
{
	(void)state;
	return harness_start(&h, config) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return harness_finish(&h) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ring_handed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_free_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shortage_reads_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_serves_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_parked_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_fill_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_heap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_client_parked_frees, setup, teardown),
		cmocka_unit_test(test_ring_off),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
