/*
 * testutil: the client library calls that the integration tests make over
 * and over, each failing the running cmocka test on any error, and the
 * data pattern they write into shared memory and check again.
 */
#ifndef SHMPOOL_TEST_TESTUTIL_H
#define SHMPOOL_TEST_TESTUTIL_H

#include <stddef.h>

#include "harness.h"
#include "shmpool.h"

/* Start the daemon on config_text and connect *sp to it: a cmocka setup's
 * work, 0 or -1. */
int testutil_start(struct harness *h, const char *config_text, shmpool_t **sp);

/* Disconnect *sp and finish the daemon: a cmocka teardown's work, 0 or -1
 * as harness_finish. */
int testutil_finish(struct harness *h, shmpool_t **sp);

/* A new connection to the daemon. */
shmpool_t *testutil_connect(const struct harness *h);

/* Pool name, opened on c. */
shmpool_pool_t *testutil_pool_open(shmpool_t *c, const char *name);

/* A round trip on c: frees go without a reply, so after this the daemon
 * has done those c sent before, ahead of anything another connection
 * asks next. */
void testutil_barrier(shmpool_t *c);

/* Poll until the pool has n waiters; a hang guard, not a timing check. */
void testutil_wait_waiters(shmpool_pool_t *pool, size_t n);

/* The pool has exactly used blocks in use, the rest free, and waiters
 * waiting; failures name the caller's line. */
#define testutil_expect_stat(pool, used, waiters) \
	testutil_expect_stat_at(pool, used, waiters, __FILE__, __LINE__)
void testutil_expect_stat_at(shmpool_pool_t *pool, size_t used, size_t waiters, const char *file,
			     int line);

/* Write the pattern of seed into p[0..n). */
void testutil_fill(void *p, size_t n, unsigned int seed);

/* Bytes of p[0..n) that differ from the pattern of seed. */
size_t testutil_mismatches(const void *p, size_t n, unsigned int seed);

/* 1 if p[0..n) holds the pattern of seed, else 0. */
int testutil_check(const void *p, size_t n, unsigned int seed);

#endif
