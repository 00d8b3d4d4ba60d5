#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

int testutil_start(struct harness *h, const char *config_text, shmpool_t **sp)
{
	if (harness_start(h, config_text) < 0)
		return -1;
	*sp = NULL;
	return shmpool_connect(h->socket, sp) == 0 ? 0 : -1;
}

int testutil_finish(struct harness *h, shmpool_t **sp)
{
	shmpool_disconnect(*sp);
	*sp = NULL;
	/* A daemon that leaks or crashes under ASan exits non-zero. */
	return harness_finish(h);
}

shmpool_t *testutil_connect(const struct harness *h)
{
	shmpool_t *c = NULL;

	assert_int_equal(shmpool_connect(h->socket, &c), 0);
	assert_non_null(c);
	return c;
}

shmpool_pool_t *testutil_pool_open(shmpool_t *c, const char *name)
{
	shmpool_pool_t *pool = NULL;

	assert_int_equal(shmpool_pool_open(c, name, &pool), 0);
	assert_non_null(pool);
	return pool;
}

void testutil_barrier(shmpool_t *c)
{
	struct shmpool_pool_info in;
	size_t cursor = 0;

	assert_int_equal(shmpool_pool_info_next(c, &cursor, &in), 1);
}

void testutil_wait_waiters(shmpool_pool_t *pool, size_t n)
{
	struct shmpool_pool_stat st;

	for (int i = 0; i < 2000; i++) {
		assert_int_equal(shmpool_pool_stat(pool, &st), 0);
		if (st.num_waiters == n)
			return;
		usleep(5000);
	}
	fail_msg("pool never reached %zu waiters (has %zu)", n, st.num_waiters);
}

void testutil_expect_stat_at(shmpool_pool_t *pool, size_t used, size_t waiters, const char *file,
			     int line)
{
	struct shmpool_pool_stat st;

	_assert_int_equal(shmpool_pool_stat(pool, &st), 0, file, line);
	_assert_int_equal(st.num_used, used, file, line);
	_assert_int_equal(st.num_free, st.num_blocks - used, file, line);
	_assert_int_equal(st.num_waiters, waiters, file, line);
}

void testutil_fill(void *p, size_t n, unsigned int seed)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + seed);
}

size_t testutil_mismatches(const void *p, size_t n, unsigned int seed)
{
	const unsigned char *b = p;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += b[i] != (unsigned char)(i * 31 + seed);
	return bad;
}

int testutil_check(const void *p, size_t n, unsigned int seed)
{
	return testutil_mismatches(p, n, seed) == 0;
}
