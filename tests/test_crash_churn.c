/*
 * Crash reclaim under churn: 200 children allocate at random (blocks,
 * multi-block, contiguous, heap, blocking waits) and are killed with
 * SIGKILL at a random moment.  Afterwards every pool and heap is fully free,
 * no wait is left, and the daemon holds no more descriptors than before.
 * Under ASan the daemon's exit status also proves it leaked nothing.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"

#define ROUNDS 200
#define SEED 20261123u

static struct harness h;

static const char config[] =
	"[region r0]\n"
	"size = 4M\n"
	"[region r1]\n"
	"size = 4M\n"
	"attr = non-cacheable\n"
	"[pool small]\n"
	"region = r0\n"
	"block_size = 256\n"
	"blocks = 64\n"
	"[pool big]\n"
	"region = r1\n"
	"block_size = 64K\n"
	"blocks = 8\n";

static int count_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A child's life: random allocations until it is killed. */
static void churn(unsigned int seed)
{
	shmpool_t *sp;
	shmpool_pool_t *pools[2];
	void *v[16];

	if (shmpool_connect(h.socket, &sp) < 0 || shmpool_pool_open(sp, "small", &pools[0]) < 0 ||
	    shmpool_pool_open(sp, "big", &pools[1]) < 0)
		_exit(1);
	for (;;) {
		shmpool_pool_t *pool = pools[rand_r(&seed) % 2];
		void *p;

		switch (rand_r(&seed) % 6) {
		case 0:
			shmpool_block_alloc(pool, &p, SHMPOOL_NO_WAIT);
			break;
		case 1:
			shmpool_blocks_alloc(pool, 1 + (size_t)rand_r(&seed) % 8, v, SHMPOOL_NO_WAIT);
			break;
		case 2:
			shmpool_blocks_alloc_contiguous(pool, 1 + (size_t)rand_r(&seed) % 4, &p,
							SHMPOOL_NO_WAIT);
			break;
		case 3:
			shmpool_alloc(sp, (uint32_t)rand_r(&seed) % 2,
				      64 + (size_t)rand_r(&seed) % 65536, &p);
			break;
		case 4:
			/* A wait that a later round's kill cuts short. */
			shmpool_block_alloc(pool, &p, SHMPOOL_FOREVER);
			break;
		default:
			if (shmpool_block_alloc(pool, &p, SHMPOOL_NO_WAIT) == 0)
				shmpool_block_free(pool, p);
			break;
		}
	}
}

/* Ask the daemon for one heap entry after *cursor; 0 at the end. */
static int heap_info(int fd, uint64_t *cursor, struct proto_heap_info_reply *r)
{
	struct proto_cursor_req m = { .hdr = { SHMPOOL_PROTO_VERSION, PROTO_HEAP_INFO, 7 } };
	int rfd;

	m.cursor = *cursor;
	assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
	assert_int_equal(proto_recv(fd, r, sizeof(*r), &rfd, 0), (long)sizeof(*r));
	*cursor = r->next_cursor;
	return r->r.status;
}

static void assert_all_free(void)
{
	static const char *const names[] = { "small", "big" };
	static const size_t blocks[] = { 64, 8 };
	struct proto_heap_info_reply r;
	uint64_t cursor = 0;
	shmpool_t *sp;
	int fd, entries = 0;

	assert_int_equal(shmpool_connect(h.socket, &sp), 0);
	for (int i = 0; i < 2; i++) {
		shmpool_pool_t *pool;
		struct shmpool_pool_stat st;

		assert_int_equal(shmpool_pool_open(sp, names[i], &pool), 0);
		assert_int_equal(shmpool_pool_stat(pool, &st), 0);
		assert_int_equal(st.num_used, 0);
		assert_int_equal(st.num_free, blocks[i]);
		assert_int_equal(st.num_waiters, 0);
		shmpool_pool_close(pool);
	}
	shmpool_disconnect(sp);

	/* Each region's heap: only the pool carved out of it is in use, and
	 * the rest is one free block again. */
	fd = harness_hello(&h, NULL);
	while (heap_info(fd, &cursor, &r) == 1) {
		if (!r.region[0])
			continue;
		entries++;
		assert_int_equal(r.num_used, 0);
		assert_int_equal(r.largest_free, r.free);
	}
	assert_int_equal(entries, 2);
	close(fd);
}

/*
 * The daemon's descriptors when no client but the asking one is connected,
 * that one not counted.  Waits (boundedly) for closes in flight: a kill's
 * hang-up is an event of its own for the daemon, ordered by nothing against
 * this connection's requests.
 */
static int quiet_fds(void)
{
	struct proto_hdr m = { SHMPOOL_PROTO_VERSION, PROTO_STATUS, 8 };
	struct proto_status_reply r;
	int fd = harness_hello(&h, NULL), rfd, n;

	for (int i = 0; i < 500; i++) {
		assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
		assert_int_equal(proto_recv(fd, &r, sizeof(r), &rfd, 0), (long)sizeof(r));
		if (r.clients == 1)
			break;
		usleep(10000);
	}
	assert_int_equal(r.clients, 1);
	n = count_fds(h.pid) - 1;
	close(fd);
	return n;
}

static void test_crash_churn(void **state)
{
	unsigned int seed = SEED;
	int fds_before;

	(void)state;
	assert_all_free();
	fds_before = quiet_fds();
	for (int round = 0; round < ROUNDS; round++) {
		unsigned int child_seed = (unsigned int)rand_r(&seed);
		struct timespec ts = { 0, (long)(rand_r(&seed) % 10000) * 1000L };
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0)
			churn(child_seed);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status)) {
			print_message("seed %u, round %d: the child exited on its own (%d)\n", SEED,
				      round, status);
			fail();
		}
	}
	assert_int_equal(quiet_fds(), fds_before);
	assert_all_free();
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
		cmocka_unit_test(test_crash_churn),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
