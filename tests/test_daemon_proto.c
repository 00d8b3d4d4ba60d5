/*
 * The daemon's wire protocol, spoken with raw bytes on a real socket:
 * the normal exchange, and malformed messages that the daemon must answer
 * with an error without falling over or disturbing anyone else.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"

static struct harness h;

static const char config[] =
	"[daemon]\n"
	"max_clients = 4096\n"
	"[region r0]\n"
	"size = 4M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 16\n"
	"[region r1]\n"
	"size = 4M\n"
	"[pool big]\n"
	"region = r1\n"
	"block_size = 64\n"
	"blocks = 40000\n";

/*
 * A well-behaved exchange: open the pool (its region fd arrives once), map
 * it, take a block, write through the mapping, free it.  Used after every
 * attack to prove the daemon still serves.
 */
static void normal_client(void)
{
	struct proto_name_req open = { 0 };
	struct proto_pool_reply pr;
	struct proto_block_alloc a = { .count = 1, .timeout_ms = 0 };
	union {
		struct proto_block_reply r;
		unsigned char b[sizeof(struct proto_block_reply) + 64];
	} br;
	struct {
		struct proto_block_free f;
		uint32_t idx[1];
	} fr;
	int fd = harness_hello(&h, NULL), rfd;
	unsigned char *map;

	harness_hdr_set(&open.hdr, PROTO_POOL_OPEN, 2);
	proto_set_name(open.name, "p");
	assert_int_equal(proto_send(fd, &open, sizeof(open), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &pr, sizeof(pr), &rfd), (long)sizeof(pr));
	assert_int_equal(pr.r.status, 0);
	assert_int_equal(pr.r.flags & (PROTO_F_POOL_DESC | PROTO_F_REGION),
			 PROTO_F_POOL_DESC | PROTO_F_REGION);
	assert_true(rfd >= 0);
	assert_int_equal(pr.pool.block_size, 4096);
	assert_int_equal(pr.pool.stride, 4096);
	assert_int_equal(pr.pool.num_blocks, 16);
	assert_string_equal(pr.pool.name, "p");
	assert_string_equal(pr.region.name, "r0");
	assert_int_equal(pr.region.size, 4 << 20);
	map = mmap(NULL, pr.region.size, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	assert_true(map != MAP_FAILED);
	close(rfd);

	harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 3);
	a.pool_id = pr.pool.id;
	assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &br, sizeof(br), &rfd), (long)(sizeof(br.r) + 4));
	assert_int_equal(rfd, -1);
	assert_int_equal(br.r.r.status, 0);
	assert_int_equal(br.r.count, 1);
	assert_int_equal(br.r.nindices, 1);
	assert_int_equal(br.r.index[0], 0);
	memset(map + pr.pool.base, 0x5a, 4096);

	memset(&fr, 0, sizeof(fr));
	harness_hdr_set(&fr.f.hdr, PROTO_BLOCK_FREE, 4);
	fr.f.pool_id = pr.pool.id;
	fr.f.count = 1;
	fr.f.nindices = 1;
	fr.f.flags = PROTO_F_SYNC;
	fr.idx[0] = 0;
	assert_int_equal(proto_send(fd, &fr, sizeof(fr), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 4, 0);
	/* The same free again is a double free. */
	fr.f.hdr.id = 5;
	assert_int_equal(proto_send(fd, &fr, sizeof(fr), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 5, -EFAULT);
	munmap(map, pr.region.size);
	close(fd);
}

static void test_normal(void **state)
{
	(void)state;
	normal_client();
}

/* Reply to a block alloc, at most 16 indices. */
union grant_msg {
	struct proto_block_reply r;
	unsigned char b[sizeof(struct proto_block_reply) + 16 * sizeof(uint32_t)];
};

static void send_alloc(int fd, uint32_t pool_id, uint32_t id, uint32_t count, uint32_t flags,
		       int timeout_ms)
{
	struct proto_block_alloc a;

	memset(&a, 0, sizeof(a));
	harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, id);
	a.pool_id = pool_id;
	a.count = count;
	a.flags = flags;
	a.timeout_ms = timeout_ms;
	assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
}

/* The grant for request id: its count, flags (of PROTO_F_SEQ and
 * PROTO_F_DESC) and indices must be these. */
static void expect_grant(int fd, uint32_t id, uint32_t count, uint32_t flags, uint32_t nidx,
			 const uint32_t *idx)
{
	union grant_msg m;

	assert_int_equal(harness_recv(fd, &m, sizeof(m), NULL),
			 (long)(sizeof(m.r) + nidx * sizeof(uint32_t)));
	assert_int_equal(m.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
	assert_int_equal(m.r.r.hdr.id, id);
	assert_int_equal(m.r.r.status, 0);
	assert_int_equal(m.r.r.flags, flags);
	assert_int_equal(m.r.count, count);
	assert_int_equal(m.r.first, 0);
	assert_int_equal(m.r.nindices, nidx);
	for (uint32_t k = 0; k < nidx; k++)
		assert_int_equal(m.r.index[k], idx[k]);
}

static void send_free(int fd, uint32_t pool_id, uint32_t id, uint32_t first, uint32_t count,
		      uint32_t flags)
{
	struct {
		struct proto_block_free f;
		uint32_t idx[1];
	} m;

	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, id);
	m.f.pool_id = pool_id;
	m.f.count = count;
	m.f.nindices = 1;
	m.f.flags = PROTO_F_SYNC | flags;
	m.idx[0] = first;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, id, 0);
}

/*
 * PROTO_F_SEQ: a grant of adjacent blocks in order comes as its first
 * index, up or down, to a request (or a waiter) that asked for it; any
 * other grant, and any request that did not ask, gets the list.
 */
static void test_seq_grant(void **state)
{
	const uint32_t up[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	const uint32_t mixed[8] = { 6, 4, 2, 0, 8, 9, 10, 11 };
	const uint32_t seven[1] = { 7 };
	int fd = harness_hello(&h, NULL), fd2 = harness_hello(&h, NULL);
	struct proto_pool_desc pd = harness_pool_open(fd, "p", 0);
	union grant_msg all;

	(void)state;
	harness_pool_open(fd2, "p", 0);
	/* All 16 (waiting for any the tests before have not given back yet),
	 * back as a run: the next grants go up from block 0. */
	send_alloc(fd, pd.id, 3, 16, 0, -1);
	assert_int_equal(harness_recv(fd, &all, sizeof(all), NULL), (long)sizeof(all));
	assert_int_equal(all.r.r.status, 0);
	send_free(fd, pd.id, 4, 0, 16, PROTO_F_CONTIG);
	send_alloc(fd, pd.id, 5, 10, PROTO_F_SEQ, 0);
	expect_grant(fd, 5, 10, PROTO_F_SEQ, 1, up);
	send_alloc(fd, pd.id, 6, 6, 0, 0);
	expect_grant(fd, 6, 6, 0, 6, up + 10);
	/* A waiter that asked is handed the run the same way. */
	send_alloc(fd2, pd.id, 7, 8, PROTO_F_SEQ, -1);
	assert_int_equal(harness_pool_stat(fd2, pd.id).num_used, 16);
	send_free(fd, pd.id, 8, 0, 16, PROTO_F_CONTIG);
	expect_grant(fd2, 7, 8, PROTO_F_SEQ, 1, up);
	send_free(fd2, pd.id, 9, 0, 8, PROTO_F_CONTIG);
	/* Blocks 0 to 7 taken one by one and given back one by one, 7 last:
	 * the stack holds them up from 0, so a batch of 8 takes them 7
	 * down to 0. */
	for (uint32_t k = 0; k < 8; k++) {
		send_alloc(fd, pd.id, 10, 1, PROTO_F_SEQ, 0);
		expect_grant(fd, 10, 1, 0, 1, up + k);
	}
	for (uint32_t k = 0; k < 8; k++)
		send_free(fd, pd.id, 11, k, 1, 0);
	send_alloc(fd, pd.id, 12, 8, PROTO_F_SEQ, 0);
	expect_grant(fd, 12, 8, PROTO_F_SEQ | PROTO_F_DESC, 1, seven);
	/* Every other one back: the next 8 are no run, and come as a list. */
	for (uint32_t k = 0; k < 8; k += 2)
		send_free(fd, pd.id, 13, k, 1, 0);
	send_alloc(fd, pd.id, 14, 8, PROTO_F_SEQ, 0);
	expect_grant(fd, 14, 8, 0, 8, mixed);
	/* SEQ means nothing to a contiguous alloc; an unknown flag is
	 * refused as before. */
	send_alloc(fd, pd.id, 15, 2, PROTO_F_SEQ | PROTO_F_CONTIG, 0);
	harness_expect_status(fd, PROTO_BLOCK_ALLOC | PROTO_REPLY, 15, -EINVAL);
	send_alloc(fd, pd.id, 16, 2, 0x1000u, 0);
	harness_expect_status(fd, PROTO_BLOCK_ALLOC | PROTO_REPLY, 16, -EINVAL);
	/* Blocks 0 to 11 held; back as a run, the pool's stack is as it
	 * was at the start (block 0 on top) for the tests after this one. */
	assert_int_equal(harness_pool_stat(fd, pd.id).num_used, 12);
	send_free(fd, pd.id, 17, 0, 12, PROTO_F_CONTIG);
	assert_int_equal(harness_pool_stat(fd, pd.id).num_used, 0);
	close(fd2);
	close(fd);
	normal_client();
}

static void test_truncated(void **state)
{
	int fd = harness_hello(&h, NULL);
	unsigned char b[3] = { 1, 0, 2 };
	struct proto_block_alloc a;

	(void)state;
	assert_int_equal(proto_send(fd, b, sizeof(b), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 0, -EBADMSG);
	/* A known type one byte short of its struct. */
	memset(&a, 0, sizeof(a));
	harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 9);
	assert_int_equal(proto_send(fd, &a, sizeof(a) - 1, -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 9, -EBADMSG);
	close(fd);
	normal_client();
}

static void test_too_long(void **state)
{
	int fd = harness_hello(&h, NULL);
	struct {
		struct proto_block_alloc a;
		unsigned char extra[8];
	} m;
	static unsigned char huge[PROTO_MAX_MESSAGE + 4096];

	(void)state;
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.a.hdr, PROTO_BLOCK_ALLOC, 10);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 10, -EBADMSG);
	harness_hdr_set((struct proto_hdr *)huge, PROTO_POOL_OPEN, 11);
	assert_int_equal(proto_send(fd, huge, sizeof(huge), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 0, -EMSGSIZE);
	close(fd);
	normal_client();
}

static void test_unknown_and_version(void **state)
{
	int fd = harness_hello(&h, NULL);
	struct proto_pool_req m;

	(void)state;
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.hdr, 0x1234, 12);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 12, -EOPNOTSUPP);
	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 13);
	m.hdr.version = SHMPOOL_PROTO_VERSION + 1;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 13, -EPROTO);
	/* An unknown pool id is an ordinary error reply. */
	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 14);
	m.pool_id = 999;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_POOL_STAT | PROTO_REPLY, 14, -ENOENT);
	close(fd);
	normal_client();
}

static void test_before_hello(void **state)
{
	int fd = harness_raw_connect(&h);
	struct proto_pool_req m;

	(void)state;
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 15);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 15, -EPROTO);
	close(fd);
	normal_client();
}

static void test_wrong_hello_version(void **state)
{
	struct proto_hello m = { .proto_version = SHMPOOL_PROTO_VERSION + 7 };
	struct proto_hello_reply r;
	int fd = harness_raw_connect(&h), rfd;
	char b;

	(void)state;
	harness_hdr_set(&m.hdr, PROTO_HELLO, 16);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &r, sizeof(r), &rfd), (long)sizeof(r));
	assert_int_equal(r.r.status, -EPROTONOSUPPORT);
	/* Then the daemon hangs up. */
	assert_int_equal(harness_recv(fd, &b, 1, &rfd), 0);
	close(fd);
	normal_client();
}

/*
 * A grant larger than one message comes in frames, in order, all but the
 * last flagged PROTO_F_MORE: the first time with the region fd on the first
 * frame, then (the fd already sent) all three staged and sent together.
 */
static void test_grant_in_frames(void **state)
{
	enum { N = 40000 };
	static union {
		struct proto_block_reply r;
		unsigned char b[PROTO_MAX_MESSAGE];
	} in;
	static struct {
		struct proto_block_free f;
		uint32_t idx[PROTO_MAX_INDICES];
	} fr;
	static uint32_t all[N];
	static unsigned char seen[N];
	const uint32_t nframe[3] = { PROTO_MAX_INDICES, PROTO_MAX_INDICES,
				     N - 2 * PROTO_MAX_INDICES };
	struct proto_name_req open = { 0 };
	struct proto_pool_stat_reply st;
	struct proto_pool_req sr = { .pool_id = 0 };
	int fd = harness_hello(&h, NULL), rfd;
	uint32_t pool_id;

	(void)state;
	harness_hdr_set(&open.hdr, PROTO_POOL_OPEN, 40);
	proto_set_name(open.name, "big");
	assert_int_equal(proto_send(fd, &open, sizeof(open), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &in, sizeof(in), &rfd), (long)sizeof(struct proto_pool_reply));
	assert_int_equal(in.r.r.status, 0);
	pool_id = ((struct proto_pool_reply *)(void *)&in)->pool.id;
	/* The pool reply brought r1's fd already; a second connection
	 * gets it on the first frame instead. */
	assert_true(rfd >= 0);
	close(rfd);
	for (int round = 0; round < 3; round++) {
		struct proto_block_alloc a = { .pool_id = pool_id, .count = N, .timeout_ms = 0 };
		uint32_t got = 0;

		harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 41 + round);
		assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
		memset(seen, 0, sizeof(seen));
		for (int k = 0; k < 3; k++) {
			long n = harness_recv(fd, &in, sizeof(in), &rfd);

			assert_int_equal(rfd, -1);
			assert_int_equal(n, (long)(sizeof(in.r) + nframe[k] * sizeof(uint32_t)));
			assert_int_equal(in.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
			assert_int_equal(in.r.r.hdr.id, 41 + round);
			assert_int_equal(in.r.r.status, 0);
			assert_int_equal(in.r.count, N);
			assert_int_equal(in.r.first, got);
			assert_int_equal(in.r.nindices, nframe[k]);
			assert_int_equal(!!(in.r.r.flags & PROTO_F_MORE), k < 2);
			for (uint32_t i = 0; i < in.r.nindices; i++) {
				assert_true(in.r.index[i] < N);
				assert_int_equal(seen[in.r.index[i]], 0);
				seen[in.r.index[i]] = 1;
				all[got + i] = in.r.index[i];
			}
			got += in.r.nindices;
		}
		assert_int_equal(got, N);
		for (uint32_t off = 0; off < N; off += PROTO_MAX_INDICES) {
			uint32_t n = N - off < PROTO_MAX_INDICES ? N - off : PROTO_MAX_INDICES;

			memset(&fr.f, 0, sizeof(fr.f));
			harness_hdr_set(&fr.f.hdr, PROTO_BLOCK_FREE, 50);
			fr.f.pool_id = pool_id;
			fr.f.count = n;
			fr.f.nindices = n;
			fr.f.flags = PROTO_F_SYNC;
			memcpy(fr.idx, all + off, n * sizeof(uint32_t));
			assert_int_equal(proto_send(fd, &fr, sizeof(fr.f) + n * sizeof(uint32_t), -1, 0),
					 0);
			harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 50, 0);
		}
	}
	harness_hdr_set(&sr.hdr, PROTO_POOL_STAT, 51);
	sr.pool_id = pool_id;
	assert_int_equal(proto_send(fd, &sr, sizeof(sr), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &st, sizeof(st), &rfd), (long)sizeof(st));
	assert_int_equal(st.r.status, 0);
	assert_int_equal(st.num_free, N);
	assert_int_equal(st.num_used, 0);
	close(fd);
	normal_client();
}

/* Count the descriptors the daemon has open. */
static int daemon_fd_count(void)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)h.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A descriptor a client attaches never enters the daemon: the kernel drops
 * it, and the request is served as if it had come alone. */
static void test_unexpected_fd(void **state)
{
	int fd = harness_hello(&h, NULL);
	struct proto_pool_req m;
	int pipefd[2], before;
	char byte;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 17);
	m.pool_id = 999;
	/* One round trip first: the daemon closes its copy of the free ring's
	 * memfd just after the hello reply has gone. */
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_POOL_STAT | PROTO_REPLY, 17, -ENOENT);
	before = daemon_fd_count();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(proto_send(fd, &m, sizeof(m), pipefd[0], 0), 0);
		harness_expect_status(fd, PROTO_POOL_STAT | PROTO_REPLY, 17, -ENOENT);
	}
	assert_int_equal(daemon_fd_count(), before);
	/* The daemon holds no copy of the read end: with ours closed, the
	 * write end sees no reader. */
	close(pipefd[0]);
	signal(SIGPIPE, SIG_IGN);
	byte = 0;
	assert_int_equal(write(pipefd[1], &byte, 1), -1);
	assert_int_equal(errno, EPIPE);
	close(pipefd[1]);
	close(fd);
	normal_client();
}

static void test_bad_free_fields(void **state)
{
	int fd = harness_hello(&h, NULL);
	struct {
		struct proto_block_free f;
		uint32_t idx[2];
	} m;

	(void)state;
	memset(&m, 0, sizeof(m));
	/* nindices disagrees with the length of the message. */
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 18);
	m.f.count = 2;
	m.f.nindices = 5;
	m.f.flags = PROTO_F_SYNC;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_ERROR, 18, -EBADMSG);
	/* An index past the pool; entries are judged in list order. */
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 19);
	m.f.nindices = 2;
	m.idx[0] = 1000000;
	m.idx[1] = 0;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 19, -EINVAL);
	/* A fire-and-forget free of a block nobody holds comes back as a
	 * notification carrying the free's id. */
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 20);
	m.f.flags = 0;
	m.f.count = 1;
	m.f.nindices = 1;
	m.idx[0] = 0;
	assert_int_equal(proto_send(fd, &m, sizeof(m) - sizeof(uint32_t), -1, 0), 0);
	harness_expect_status(fd, PROTO_NOTIFY_ERROR, 20, -EFAULT);
	close(fd);
	normal_client();
}

/* A list that names a held block twice frees nothing and says -EFAULT; an
 * entry past the pool after a duplicate is still -EINVAL (entries are
 * judged in list order, the first bad one decides). */
static void test_free_list_duplicate(void **state)
{
	int fd = harness_hello(&h, NULL);
	struct proto_pool_desc pd = harness_pool_open(fd, "p", 0);
	struct proto_block_alloc a;
	union {
		struct proto_block_reply r;
		unsigned char b[sizeof(struct proto_block_reply) + 3 * sizeof(uint32_t)];
	} br;
	struct {
		struct proto_block_free f;
		uint32_t idx[4];
	} m;
	uint32_t x, y, z;

	(void)state;
	memset(&a, 0, sizeof(a));
	harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 3);
	a.pool_id = pd.id;
	a.count = 3;
	assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &br, sizeof(br), NULL),
			 (long)(sizeof(br.r) + 3 * sizeof(uint32_t)));
	assert_int_equal(br.r.r.status, 0);
	x = br.r.index[0];
	y = br.r.index[1];
	z = br.r.index[2];
	memset(&m, 0, sizeof(m));
	m.f.pool_id = pd.id;
	m.f.flags = PROTO_F_SYNC;
	m.f.count = m.f.nindices = 3;
	m.idx[0] = x;
	m.idx[1] = y;
	m.idx[2] = x;
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 4);
	assert_int_equal(proto_send(fd, &m, sizeof(m) - sizeof(uint32_t), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 4, -EFAULT);
	assert_int_equal(harness_pool_stat(fd, pd.id).num_used, 3);
	m.f.count = m.f.nindices = 4;
	m.idx[3] = 1000000;
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 5);
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 5, -EFAULT);
	assert_int_equal(harness_pool_stat(fd, pd.id).num_used, 3);
	/* Listed in reverse; adjacent, they go back as a run, lowest on
	 * top, so the next grant starts from the same block again. */
	m.f.count = m.f.nindices = 3;
	m.idx[0] = z;
	m.idx[1] = y;
	m.idx[2] = x;
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, 6);
	assert_int_equal(proto_send(fd, &m, sizeof(m) - sizeof(uint32_t), -1, 0), 0);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 6, 0);
	assert_int_equal(harness_pool_stat(fd, pd.id).num_used, 0);
	close(fd);
}

static void test_random_bytes(void **state)
{
	unsigned int seed = 12345;
	unsigned char b[512];

	(void)state;
	for (int round = 0; round < 200; round++) {
		int fd = round % 2 ? harness_hello(&h, NULL) : harness_raw_connect(&h);
		size_t len = 1 + (size_t)rand_r(&seed) % sizeof(b);

		for (size_t i = 0; i < len; i++)
			b[i] = (unsigned char)rand_r(&seed);
		if (proto_send(fd, b, len, -1, 0) != 0) {
			print_message("seed 12345, round %d: send failed\n", round);
			fail();
		}
		close(fd);
	}
	normal_client();
}

/* Every block of pool "p" is free again: what attackers took went back. */
/* Pool p's stat, read by a new connection. */
static struct proto_pool_stat_reply pool_p_stat(void)
{
	struct proto_name_req open = { 0 };
	struct proto_pool_reply pr;
	struct proto_pool_stat_reply sr;
	int fd = harness_hello(&h, NULL), rfd;

	harness_hdr_set(&open.hdr, PROTO_POOL_OPEN, 30);
	proto_set_name(open.name, "p");
	assert_int_equal(proto_send(fd, &open, sizeof(open), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &pr, sizeof(pr), &rfd), (long)sizeof(pr));
	if (rfd >= 0)
		close(rfd);
	sr = harness_pool_stat(fd, pr.pool.id);
	close(fd);
	return sr;
}

static void assert_pool_free(void)
{
	struct proto_pool_stat_reply sr = pool_p_stat();

	assert_int_equal(sr.r.status, 0);
	assert_int_equal(sr.num_used, 0);
	assert_int_equal(sr.num_free, 16);
	assert_int_equal(sr.num_waiters, 0);
}

/* Frees of random offsets, blocks and heap alike: every one is refused with
 * the error its offset deserves, and nothing of anyone else's goes. */
static void test_random_frees(void **state)
{
	unsigned int seed = 777;
	int fd = harness_hello(&h, NULL);
	struct {
		struct proto_block_free f;
		uint32_t idx[4];
	} bf;
	struct proto_heap_free hf;

	(void)state;
	for (uint32_t round = 0; round < 500; round++) {
		uint32_t n = 1 + (uint32_t)rand_r(&seed) % 4;
		union {
			struct proto_reply_hdr r;
			unsigned char b[256];
		} in;
		int rfd;

		memset(&bf, 0, sizeof(bf));
		harness_hdr_set(&bf.f.hdr, PROTO_BLOCK_FREE, 100 + round);
		bf.f.pool_id = (uint32_t)rand_r(&seed) % 3;
		bf.f.count = n;
		bf.f.nindices = n;
		bf.f.flags = PROTO_F_SYNC;
		for (uint32_t k = 0; k < n; k++)
			bf.idx[k] = (uint32_t)rand_r(&seed) % 40;
		assert_int_equal(proto_send(fd, &bf, sizeof(bf.f) + n * sizeof(uint32_t), -1, 0), 0);
		assert_true(harness_recv(fd, &in, sizeof(in), &rfd) >= (long)sizeof(in.r));
		if (in.r.status != -EINVAL && in.r.status != -EFAULT && in.r.status != -ENOENT) {
			print_message("seed 777, round %u: block free status %d\n", round,
				      in.r.status);
			fail();
		}

		memset(&hf, 0, sizeof(hf));
		harness_hdr_set(&hf.hdr, PROTO_HEAP_FREE, 1000 + round);
		hf.region_id = (uint32_t)rand_r(&seed) % 2;
		hf.offset = ((uint64_t)rand_r(&seed) << 4) % (8u << 20);
		hf.flags = PROTO_F_SYNC;
		assert_int_equal(proto_send(fd, &hf, sizeof(hf), -1, 0), 0);
		assert_true(harness_recv(fd, &in, sizeof(in), &rfd) >= (long)sizeof(in.r));
		if (in.r.status != -EINVAL && in.r.status != -EFAULT) {
			print_message("seed 777, round %u: heap free of %llu: status %d\n", round,
				      (unsigned long long)hf.offset, in.r.status);
			fail();
		}
	}
	close(fd);
	normal_client();
	assert_pool_free();
}

/* 2,000 connections opened and left idle do not stop anyone else. */
static void test_idle_connections(void **state)
{
	enum { IDLE = 2000 };
	static int fds[IDLE];
	struct rlimit rl;

	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < IDLE + 64) {
		print_message("skipped: the open-file limit (%llu) is below %d\n",
			      (unsigned long long)rl.rlim_max, IDLE + 64);
		skip();
	}
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int i = 0; i < IDLE; i++)
		fds[i] = i % 2 ? harness_hello(&h, NULL) : harness_raw_connect(&h);
	normal_client();
	for (int i = 0; i < IDLE; i++)
		close(fds[i]);
	normal_client();
	assert_pool_free();
}

/*
 * A client that sends requests and never reads its replies: the daemon
 * buffers a bounded amount for it, then drops it.  Its socket then reaches
 * end of stream once the replies already sent are read.
 */
static void test_never_reads(void **state)
{
	int fd = harness_hello(&h, NULL), rfd;
	struct proto_pool_req m;
	union {
		struct proto_reply_hdr r;
		unsigned char b[PROTO_MAX_MESSAGE];
	} in;
	long n;
	int sent = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.hdr, PROTO_POOL_STAT, 40);
	m.pool_id = 999;
	for (int i = 0; i < 200000; i++) {
		int rc = proto_send(fd, &m, sizeof(m), -1, MSG_DONTWAIT);

		if (rc == -EAGAIN) {
			usleep(1000);
			continue;
		}
		if (rc < 0)
			break;
		sent++;
	}
	assert_true(sent > 1000);
	normal_client();
	/* Drain: the daemon closed the connection, so this ends, with a reset
	 * when requests it never read were still queued. */
	do
		n = harness_recv(fd, &in, sizeof(in), &rfd);
	while (n > 0);
	if (n != 0 && n != -ECONNRESET)
		fail_msg("the connection of a client that never reads ended with %ld", n);
	close(fd);
	normal_client();
	assert_pool_free();
}

/*
 * Requests queued back to back on one connection (which the daemon reads
 * ahead of its poll) are all answered, in order, without keeping another
 * connection waiting; a connection that queues allocations and hangs up
 * without reading a reply gets every block taken back.
 */
static void test_pipelined(void **state)
{
	enum { ALLOCS = 20, STATS = 40 };
	struct proto_name_req open = { 0 };
	struct proto_pool_reply pr;
	struct proto_block_alloc a = { .count = 1, .timeout_ms = 0 };
	struct proto_pool_req st = { 0 };
	union {
		struct proto_block_reply r;
		struct proto_pool_stat_reply s;
		unsigned char b[PROTO_MAX_MESSAGE];
	} in;
	int fd = harness_hello(&h, NULL), other = harness_hello(&h, NULL), rfd;
	unsigned seen = 0;

	(void)state;
	harness_hdr_set(&open.hdr, PROTO_POOL_OPEN, 2);
	proto_set_name(open.name, "p");
	assert_int_equal(proto_send(fd, &open, sizeof(open), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &pr, sizeof(pr), &rfd), (long)sizeof(pr));
	assert_int_equal(pr.r.status, 0);
	if (rfd >= 0)
		close(rfd);
	a.pool_id = pr.pool.id;
	st.pool_id = pr.pool.id;
	for (uint32_t i = 0; i < ALLOCS + STATS; i++) {
		if (i < ALLOCS) {
			harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 100 + i);
			assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
		} else {
			harness_hdr_set(&st.hdr, PROTO_POOL_STAT, 100 + i);
			assert_int_equal(proto_send(fd, &st, sizeof(st), -1, 0), 0);
		}
	}
	/* The other connection is answered while those replies wait unread. */
	harness_hdr_set(&st.hdr, PROTO_POOL_STAT, 7);
	assert_int_equal(proto_send(other, &st, sizeof(st), -1, 0), 0);
	assert_int_equal(harness_recv(other, &in, sizeof(in), &rfd), (long)sizeof(in.s));
	assert_int_equal(in.s.r.hdr.id, 7);
	assert_int_equal(in.s.r.status, 0);
	assert_int_equal(in.s.num_blocks, 16);
	for (uint32_t i = 0; i < ALLOCS + STATS; i++) {
		long n = harness_recv(fd, &in, sizeof(in), &rfd);

		assert_int_equal(rfd, -1);
		assert_int_equal(in.r.r.hdr.id, 100 + i);
		if (i < 16) {
			assert_int_equal(n, (long)(sizeof(in.r) + 4));
			assert_int_equal(in.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
			assert_int_equal(in.r.r.status, 0);
			assert_int_equal(in.r.count, 1);
			assert_true(in.r.index[0] < 16);
			assert_int_equal(seen & (1u << in.r.index[0]), 0);
			seen |= 1u << in.r.index[0];
		} else if (i < ALLOCS) {
			assert_int_equal(in.r.r.hdr.type, PROTO_BLOCK_ALLOC | PROTO_REPLY);
			assert_int_equal(in.r.r.status, -ENOMEM);
		} else {
			assert_int_equal(n, (long)sizeof(in.s));
			assert_int_equal(in.s.r.hdr.type, PROTO_POOL_STAT | PROTO_REPLY);
			assert_int_equal(in.s.r.status, 0);
			assert_int_equal(in.s.num_used, 16);
			assert_int_equal(in.s.num_free, 0);
		}
	}
	assert_int_equal(seen, 0xffff);
	close(other);
	close(fd);

	/* Allocations queued, then a hang-up with every reply unread. */
	fd = harness_hello(&h, NULL);
	assert_int_equal(proto_send(fd, &open, sizeof(open), -1, 0), 0);
	assert_int_equal(harness_recv(fd, &pr, sizeof(pr), &rfd), (long)sizeof(pr));
	if (rfd >= 0)
		close(rfd);
	for (uint32_t i = 0; i < 16; i++) {
		harness_hdr_set(&a.hdr, PROTO_BLOCK_ALLOC, 200 + i);
		assert_int_equal(proto_send(fd, &a, sizeof(a), -1, 0), 0);
	}
	close(fd);
	/* The daemon serves the queue, then the hang-up, in its own time. */
	for (int tries = 0; pool_p_stat().num_used != 0; tries++) {
		assert_true(tries < 500);
		usleep(10000);
	}
	assert_pool_free();
}

static int setup(void **state)
{
	(void)state;
	return harness_start(&h, config) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	int rc;

	(void)state;
	rc = harness_stop(&h);
	harness_cleanup(&h);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_unknown_and_version),
		cmocka_unit_test(test_before_hello),
		cmocka_unit_test(test_wrong_hello_version),
		cmocka_unit_test(test_unexpected_fd),
		cmocka_unit_test(test_bad_free_fields),
		cmocka_unit_test(test_free_list_duplicate),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_random_frees),
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_never_reads),
		cmocka_unit_test(test_grant_in_frames),
		cmocka_unit_test(test_seq_grant),
		cmocka_unit_test(test_pipelined),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
