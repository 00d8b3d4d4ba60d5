/*
 * Quotas and limits against a real shmpoold: [limits] max_blocks_per_client,
 * max_bytes_per_client, max_waits_per_client, max_clients,
 * max_clients_per_uid and max_message_size, [daemon] max_clients, [pool]
 * max_blocks_per_client and [heap] max_bytes_per_client.  Each limit is
 * reached, then gives its documented error, takes nothing, and lets go
 * again when memory is freed.  Every refusal is logged once per client.
 *
 * Each test starts its own daemon on the configuration given as its state.
 * No root is needed; the one check that needs another uid runs only as
 * root.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

static struct harness h;

/* Connections made by a test, disconnected by the teardown. */
#define CONNS_MAX 8
static shmpool_t *conns[CONNS_MAX];

static int setup(void **state)
{
	memset(conns, 0, sizeof(conns));
	if (harness_start(&h, *state) < 0)
		return -1;
	return chmod(h.dir, 0755) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < CONNS_MAX; i++) {
		shmpool_disconnect(conns[i]);
		conns[i] = NULL;
	}
	return harness_finish(&h);
}

/* Connection c, remembered for the teardown. */
static shmpool_t *remember(shmpool_t *c)
{
	for (int i = 0; i < CONNS_MAX; i++) {
		if (!conns[i]) {
			conns[i] = c;
			return c;
		}
	}
	shmpool_disconnect(c);
	fail_msg("too many connections in one test");
	return NULL;
}

/* A new connection, remembered for the teardown. */
static shmpool_t *connect_new(void)
{
	return remember(testutil_connect(&h));
}

static void disconnect(shmpool_t *c)
{
	for (int i = 0; i < CONNS_MAX; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	shmpool_disconnect(c);
}

/*
 * Connect, retrying while the daemon still counts a connection that was
 * just closed: it learns of a close only when it next reads that socket,
 * in no fixed order relative to a new connection.  A hang guard.
 */
static shmpool_t *connect_when_room(void)
{
	shmpool_t *c = NULL;
	int rc = 0;

	for (int i = 0; i < 400; i++) {
		rc = shmpool_connect(h.socket, &c);
		if (rc != -EUSERS)
			break;
		usleep(5000);
	}
	assert_int_equal(rc, 0);
	return remember(c);
}

/* ---- raw protocol ---- */

/* The daemon's count of refusals, through a connection of its own. */
static uint64_t refusals(void)
{
	struct proto_stats_reply r;
	int fd = harness_hello(&h, NULL);

	harness_stats(fd, 2, &r);
	close(fd);
	return r.refusals;
}

#define ONCE "(logged once per client)"

/* ------------------------------------------------------------------ */

static const char config_blocks[] =
	"[limits]\n"
	"max_blocks_per_client = 3\n"
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n"
	"[pool q]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 8\n"
	"[group g]\n"
	"pools = q\n";

/*
 * [limits] max_blocks_per_client = 3: the fourth block is -EDQUOT at once,
 * whatever the timeout and whichever the pool; a request of two with two
 * held is -EDQUOT and takes nothing.  The quota is the connection's.
 */
static void test_blocks_per_client(void **state)
{
	shmpool_t *c = connect_new(), *other;
	shmpool_pool_t *p = testutil_pool_open(c, "p"), *q = testutil_pool_open(c, "q"), *p2;
	void *b[4] = { NULL }, *x = (void *)&x, *xs[2] = { NULL, NULL };
	size_t bs = 77;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmpool_block_alloc(p, &b[i], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_FOREVER), -EDQUOT);
	assert_ptr_equal(x, (void *)&x);
	assert_int_equal(shmpool_block_alloc(q, &x, 1000), -EDQUOT);
	assert_int_equal(shmpool_group_alloc(c, "g", 0, 1, xs, &bs, SHMPOOL_FOREVER), -EDQUOT);
	assert_int_equal(bs, 77);
	/* The block after the three taken is free. */
	assert_int_equal(shmpool_blocks_get(p, (char *)b[2] + 4096, 1), -EDQUOT);
	testutil_expect_stat(p, 3, 0);
	testutil_expect_stat(q, 0, 0);

	/* Two held: a request for two is refused whole. */
	assert_int_equal(shmpool_block_free(p, b[2]), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 2, xs, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 2, &x, SHMPOOL_FOREVER), -EDQUOT);
	testutil_expect_stat(p, 2, 0);
	assert_int_equal(shmpool_blocks_alloc(q, 1, xs, SHMPOOL_NO_WAIT), 0);
	testutil_expect_stat(q, 1, 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -EDQUOT);

	/* Another connection has a quota of its own. */
	other = connect_new();
	p2 = testutil_pool_open(other, "p");
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmpool_block_alloc(p2, &b[3], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p2, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	testutil_expect_stat(p, 5, 0);
	shmpool_pool_close(p2);
	disconnect(other);

	/* Freed blocks count no more. */
	assert_int_equal(shmpool_blocks_free(q, 1, xs), 0);
	assert_int_equal(shmpool_block_free(p, b[1]), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(p, 2, &x, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free_contiguous(p, x, 2), 0);
	assert_int_equal(shmpool_block_free(p, b[0]), 0);
	shmpool_pool_close(p);
	shmpool_pool_close(q);
}

static const char config_bytes[] =
	"[limits]\n"
	"max_bytes_per_client = 16K\n"
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n";

/* [limits] max_bytes_per_client = 16K counts blocks (by stride) and heap
 * memory together: four 4K blocks fill it. */
static void test_bytes_per_client(void **state)
{
	shmpool_t *c = connect_new();
	shmpool_pool_t *p = testutil_pool_open(c, "p");
	void *b[4] = { NULL }, *x = NULL, *hp = NULL;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(shmpool_block_alloc(p, &b[i], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_FOREVER), -EDQUOT);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 16, &x), -EDQUOT);
	testutil_expect_stat(p, 4, 0);

	assert_int_equal(shmpool_block_free(p, b[2]), 0);
	assert_int_equal(shmpool_block_free(p, b[3]), 0);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 8192, &hp), 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 1, &x), -EDQUOT);
	testutil_expect_stat(p, 2, 0);
	assert_int_equal(shmpool_free(c, hp), 0);
	assert_int_equal(shmpool_blocks_alloc(p, 2, &b[2], SHMPOOL_NO_WAIT), 0);
	testutil_expect_stat(p, 4, 0);
	assert_int_equal(shmpool_blocks_free(p, 4, b), 0);
	shmpool_pool_close(p);
}

static const char config_heap_bytes[] =
	"[limits]\n"
	"max_bytes_per_client = 16K\n"
	"[region r0]\n"
	"size = 1M\n";

/* [limits] max_bytes_per_client = 16K with heap memory alone: allocations
 * and growth past it are -EDQUOT and change nothing. */
static void test_heap_over_bytes(void **state)
{
	shmpool_t *c = connect_new(), *other = connect_new();
	void *a = NULL, *b = NULL, *x = (void *)&x, *keep;
	size_t n;

	(void)state;
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 16384 + 1, &x), -EDQUOT);
	assert_ptr_equal(x, (void *)&x);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 16384, &a), 0);
	assert_int_equal(shmpool_usable_size(c, a, &n), 0);
	assert_int_equal(n, 16384);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 1, &x), -EDQUOT);
	assert_int_equal(shmpool_calloc(c, SHMPOOL_ATTR_CACHEABLE, 1, 1, &x), -EDQUOT);
	/* Another connection is not charged for it. */
	assert_int_equal(shmpool_alloc(other, SHMPOOL_ATTR_CACHEABLE, 16384, &b), 0);
	assert_int_equal(shmpool_free(other, b), 0);

	/* Shrinking gives room back; growing past the quota is refused and
	 * leaves the allocation as it was. */
	assert_int_equal(shmpool_realloc(c, &a, 8192), 0);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 8192, &b), 0);
	keep = a;
	assert_int_equal(shmpool_realloc(c, &a, 8192 + 16), -EDQUOT);
	assert_ptr_equal(a, keep);
	assert_int_equal(shmpool_usable_size(c, a, &n), 0);
	assert_int_equal(n, 8192);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 16, &x), -EDQUOT);
	assert_int_equal(shmpool_free(c, b), 0);
	assert_int_equal(shmpool_realloc(c, &a, 16384), 0);
	assert_int_equal(shmpool_free(c, a), 0);
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 16384, &a), 0);
	assert_int_equal(shmpool_free(c, a), 0);
}

static const char config_pool_quota[] =
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n"
	"max_blocks_per_client = 2\n"
	"[pool q]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n";

/* [pool] max_blocks_per_client = 2: the third block of that pool is
 * -EDQUOT, while another pool serves the same connection freely. */
static void test_pool_quota(void **state)
{
	shmpool_t *c = connect_new(), *other = connect_new();
	shmpool_pool_t *p = testutil_pool_open(c, "p"), *q = testutil_pool_open(c, "q");
	shmpool_pool_t *p2 = testutil_pool_open(other, "p");
	void *b[2] = { NULL }, *qb[5] = { NULL }, *x = NULL, *xs[3];

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p2, 3, xs, SHMPOOL_NO_WAIT), -EDQUOT);
	testutil_expect_stat(p, 0, 0);
	assert_int_equal(shmpool_block_alloc(p, &b[0], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p, &b[1], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(shmpool_block_alloc(p, &x, SHMPOOL_FOREVER), -EDQUOT);
	assert_int_equal(shmpool_blocks_alloc(q, 5, qb, SHMPOOL_NO_WAIT), 0);
	testutil_expect_stat(p, 2, 0);
	testutil_expect_stat(q, 5, 0);
	assert_int_equal(shmpool_blocks_alloc(p2, 2, xs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(p2, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	testutil_expect_stat(p, 4, 0);

	assert_int_equal(shmpool_block_free(p, b[1]), 0);
	assert_int_equal(shmpool_block_alloc(p, &b[1], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(p, 2, b), 0);
	assert_int_equal(shmpool_blocks_free(q, 5, qb), 0);
	assert_int_equal(shmpool_blocks_free(p2, 2, xs), 0);
	shmpool_pool_close(p);
	shmpool_pool_close(q);
	shmpool_pool_close(p2);
}

static const char config_heap_quota[] =
	"[region r0]\n"
	"size = 1M\n"
	"[region r1]\n"
	"size = 1M\n"
	"[heap h8]\n"
	"regions = r1\n"
	"max_bytes_per_client = 8K\n";

/* [heap] max_bytes_per_client = 8K: past it the instance refuses with
 * -EDQUOT, another instance serves, and a free makes room again. */
static void test_heap_quota(void **state)
{
	shmpool_t *c = connect_new(), *other = connect_new();
	void *a = NULL, *b = NULL, *d = NULL, *x = (void *)&x;

	(void)state;
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 8192 + 1, &x),
			 -EDQUOT);
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 4096, &a), 0);
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 4096, &b), 0);
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 1, &x), -EDQUOT);
	assert_ptr_equal(x, (void *)&x);
	assert_int_equal(shmpool_realloc(c, &a, 4096 + 16), -EDQUOT);
	/* The default instance is not limited. */
	assert_int_equal(shmpool_alloc(c, SHMPOOL_ATTR_CACHEABLE, 65536, &d), 0);
	/* Nor is another connection charged. */
	assert_int_equal(shmpool_alloc_ex(other, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 8192, &x), 0);
	assert_int_equal(shmpool_free(other, x), 0);

	assert_int_equal(shmpool_free(c, b), 0);
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 4096, &b), 0);
	assert_int_equal(shmpool_free(c, b), 0);
	assert_int_equal(shmpool_realloc(c, &a, 8192), 0);
	assert_int_equal(shmpool_alloc_ex(c, "h8", SHMPOOL_ATTR_CACHEABLE, 0, 16, &x), -EDQUOT);
	assert_int_equal(shmpool_free(c, a), 0);
	assert_int_equal(shmpool_free(c, d), 0);
}

static const char config_waits[] =
	"[limits]\n"
	"max_waits_per_client = 1\n"
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 1\n"
	"[pool q]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 1\n";

struct waiter_arg {
	shmpool_pool_t *pool;
	void *block;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter_arg *w = arg;

	w->rc = shmpool_block_alloc(w->pool, &w->block, SHMPOOL_FOREVER);
	return NULL;
}

/*
 * [limits] max_waits_per_client = 1: with one call of a connection
 * waiting, a second call that would wait, on any pool, is -EBUSY; one that
 * would not wait is not refused, and other connections wait as usual.
 */
static void test_max_waits(void **state)
{
	shmpool_t *holder = connect_new(), *c = connect_new(), *other = connect_new();
	shmpool_pool_t *hp = testutil_pool_open(holder, "p"), *hq = testutil_pool_open(holder, "q");
	shmpool_pool_t *p = testutil_pool_open(c, "p"), *q = testutil_pool_open(c, "q");
	shmpool_pool_t *op = testutil_pool_open(other, "p");
	struct waiter_arg w = { .pool = p, .rc = 1 };
	void *pb = NULL, *qb = NULL, *x = NULL;
	pthread_t t;

	(void)state;
	assert_int_equal(shmpool_block_alloc(hp, &pb, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(hq, &qb, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	testutil_wait_waiters(p, 1);

	assert_int_equal(shmpool_block_alloc(p, &x, 1000), -EBUSY);
	assert_int_equal(shmpool_block_alloc(q, &x, SHMPOOL_FOREVER), -EBUSY);
	assert_int_equal(shmpool_block_alloc(q, &x, SHMPOOL_NO_WAIT), -ENOMEM);
	testutil_expect_stat(p, 1, 1);
	testutil_expect_stat(q, 1, 0);
	assert_int_equal(shmpool_block_alloc(op, &x, 20), -EAGAIN);

	assert_int_equal(shmpool_block_free(hp, pb), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	/* Its wait is over: the connection may wait again. */
	assert_int_equal(shmpool_block_alloc(q, &x, 20), -EAGAIN);
	assert_int_equal(shmpool_block_free(p, w.block), 0);
	assert_int_equal(shmpool_block_free(hq, qb), 0);
	shmpool_pool_close(hp);
	shmpool_pool_close(hq);
	shmpool_pool_close(p);
	shmpool_pool_close(q);
	shmpool_pool_close(op);
}

static const char config_per_uid[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[limits]\n"
	"max_clients_per_uid = 2\n";

/* In a child that became nobody: the result of a connect, as the exit
 * status (0, or 100 + the errno). */
static int nobody_connect(void)
{
	shmpool_t *c = NULL;
	int rc = shmpool_connect(h.socket, &c);

	return rc == 0 ? 0 : 100 - rc;
}

/*
 * [limits] max_clients_per_uid = 2: a third connection of the uid is told
 * -EUSERS at its hello and closed; when one goes, there is room again.  As
 * root, another uid still connects.
 */
static void test_max_clients_per_uid(void **state)
{
	shmpool_t *a = connect_new(), *x = (shmpool_t *)&x;
	int status, fd;
	char byte;

	(void)state;
	connect_new();
	assert_int_equal(shmpool_connect(h.socket, &x), -EUSERS);
	assert_ptr_equal(x, (shmpool_t *)&x);
	fd = harness_hello(&h, &status);
	assert_int_equal(status, -EUSERS);
	assert_int_equal(recv(fd, &byte, 1, 0), 0);
	close(fd);
	/* Two clients refused, each logged once. */
	assert_int_equal(harness_log_lines(&h, ONCE, "max_clients_per_uid (2) reached"), 2);
	if (geteuid() == 0)
		assert_int_equal(harness_fork_as(&harness_nobody, nobody_connect), 0);
	else
		print_message("not root: the connection of another uid is not tried\n");
	disconnect(a);
	connect_when_room();
	assert_int_equal(shmpool_connect(h.socket, &x), -EUSERS);
}

static const char config_max_clients[] =
	"[limits]\n"
	"max_clients = 2\n";

static const char config_daemon_max_clients[] =
	"[daemon]\n"
	"max_clients = 2\n";

/* max_clients = 2, in [limits] or in [daemon]: a third connection is
 * -EUSERS, and when one goes there is room again. */
static void max_clients_case(void)
{
	shmpool_t *a = connect_new(), *x = (shmpool_t *)&x;
	int status, fd;

	connect_new();
	assert_int_equal(shmpool_connect(h.socket, &x), -EUSERS);
	assert_ptr_equal(x, (shmpool_t *)&x);
	fd = harness_hello(&h, &status);
	assert_int_equal(status, -EUSERS);
	close(fd);
	assert_int_equal(harness_log_lines(&h, ONCE, "max_clients (2) reached"), 2);
	disconnect(a);
	connect_when_room();
	assert_int_equal(shmpool_connect(h.socket, &x), -EUSERS);
}

static void test_max_clients_limits(void **state)
{
	(void)state;
	max_clients_case();
}

static void test_max_clients_daemon(void **state)
{
	(void)state;
	max_clients_case();
}

static const char config_message[] =
	"[limits]\n"
	"max_message_size = 256\n"
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 160\n";

/* A BLOCK_FREE of n indices of unheld blocks, asking for a reply. */
static void send_free(int fd, uint32_t id, uint32_t n)
{
	struct {
		struct proto_block_free f;
		uint32_t idx[64];
	} m;

	assert_true(n <= 64);
	memset(&m, 0, sizeof(m));
	harness_hdr_set(&m.f.hdr, PROTO_BLOCK_FREE, id);
	m.f.pool_id = 0;
	m.f.count = n;
	m.f.nindices = n;
	m.f.flags = PROTO_F_SYNC;
	assert_int_equal(proto_send(fd, &m, sizeof(m.f) + n * sizeof(uint32_t), -1, 0), 0);
}

/*
 * [limits] max_message_size = 256: a request of 280 bytes (a BLOCK_FREE of
 * 64 indices), or of 260, gets a PROTO_ERROR with -EMSGSIZE and its id;
 * one of exactly 256 bytes is served; the connection goes on.
 */
static void test_max_message_size(void **state)
{
	struct proto_stats_reply st;
	int status, fd = harness_hello(&h, &status);

	(void)state;
	assert_int_equal(status, 0);
	send_free(fd, 7, 64);
	harness_expect_status(fd, PROTO_ERROR, 7, -EMSGSIZE);
	send_free(fd, 8, 59);
	harness_expect_status(fd, PROTO_ERROR, 8, -EMSGSIZE);
	/* 24 + 58 * 4 = 256 bytes: read, and judged (block 0 is not held). */
	send_free(fd, 9, 58);
	harness_expect_status(fd, PROTO_BLOCK_FREE | PROTO_REPLY, 9, -EFAULT);
	harness_stats(fd, 10, &st);
	assert_int_equal(st.refusals, 2);
	close(fd);
}

/*
 * [limits] max_message_size = 256 and the library: a free of 150 blocks
 * (more than the 58 indices a message may carry) must still free them all,
 * however the library splits it; the pool is whole afterwards.
 */
static void test_max_message_size_library(void **state)
{
	shmpool_t *c = connect_new();
	shmpool_pool_t *p = testutil_pool_open(c, "p");
	void *b[150];

	(void)state;
	assert_int_equal(shmpool_blocks_alloc(p, 150, b, SHMPOOL_NO_WAIT), 0);
	testutil_expect_stat(p, 150, 0);
	assert_int_equal(shmpool_blocks_free(p, 150, b), 0);
	testutil_barrier(c);
	testutil_expect_stat(p, 0, 0);
	shmpool_pool_close(p);
}

static const char config_logged[] =
	"[limits]\n"
	"max_blocks_per_client = 1\n"
	"max_bytes_per_client = 64K\n"
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n";

/*
 * A client that hits the same quota ten times is logged once, and counted
 * ten times; another client, or another kind of refusal, is logged once
 * more.
 */
static void test_refusal_logged_once(void **state)
{
	shmpool_t *a = connect_new(), *b = connect_new();
	shmpool_pool_t *pa = testutil_pool_open(a, "p"), *pb = testutil_pool_open(b, "p");
	void *ba = NULL, *bb = NULL, *x = NULL;
	const char *blocks = "max_blocks_per_client (1) reached";

	(void)state;
	assert_int_equal(harness_log_lines(&h, ONCE, NULL), 0);
	assert_int_equal(shmpool_block_alloc(pa, &ba, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmpool_block_alloc(pa, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(harness_log_lines(&h, ONCE, blocks), 1);
	assert_int_equal(harness_log_lines(&h, ONCE, NULL), 1);
	assert_int_equal(refusals(), 10);

	assert_int_equal(shmpool_block_alloc(pb, &bb, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmpool_block_alloc(pb, &x, SHMPOOL_NO_WAIT), -EDQUOT);
	assert_int_equal(harness_log_lines(&h, ONCE, blocks), 2);
	assert_int_equal(refusals(), 20);

	for (int i = 0; i < 10; i++)
		assert_int_equal(shmpool_alloc(a, SHMPOOL_ATTR_CACHEABLE, 65536, &x), -EDQUOT);
	assert_int_equal(harness_log_lines(&h, ONCE, "max_bytes_per_client (65536) reached"), 1);
	assert_int_equal(harness_log_lines(&h, ONCE, NULL), 3);
	assert_int_equal(refusals(), 30);

	assert_int_equal(shmpool_block_free(pa, ba), 0);
	assert_int_equal(shmpool_block_free(pb, bb), 0);
	shmpool_pool_close(pa);
	shmpool_pool_close(pb);
}

#define TEST(fn, config) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(config))

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_blocks_per_client, config_blocks),
		TEST(test_bytes_per_client, config_bytes),
		TEST(test_heap_over_bytes, config_heap_bytes),
		TEST(test_pool_quota, config_pool_quota),
		TEST(test_heap_quota, config_heap_quota),
		TEST(test_max_waits, config_waits),
		TEST(test_max_clients_per_uid, config_per_uid),
		TEST(test_max_clients_limits, config_max_clients),
		TEST(test_max_clients_daemon, config_daemon_max_clients),
		TEST(test_max_message_size, config_message),
		TEST(test_max_message_size_library, config_message),
		TEST(test_refusal_logged_once, config_logged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
