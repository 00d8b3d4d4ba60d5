/*
 * blockpool_sync: a thread-safe, blocking wrapper around struct blockpool
 * for threads of one process.
 *
 * One mutex guards the pool.  A request that cannot be met waits on a
 * condition variable of its own (on CLOCK_MONOTONIC) in a waitq ordered by
 * priority (WAITQ_PRIO_MIN, -20, most urgent, to WAITQ_PRIO_MAX, 19), then
 * arrival.  Service is strict: a request is met only when every waiter
 * ahead of it in that order has been, so a multi-block or contiguous
 * waiter is never overtaken by smaller requests behind it, and a new
 * request of the same or a less urgent priority than a queued waiter never
 * takes blocks ahead of it.  When blocks are freed, the freeing thread
 * allocates on behalf of the head waiters it can satisfy and wakes them
 * (handoff), so a freed block never goes back where a later request could
 * grab it first.  Waiter records live on the waiting thread's stack.
 *
 * timeout_ms: BLOCKPOOL_SYNC_NO_WAIT (0) does not wait, BLOCKPOOL_SYNC_FOREVER
 * (-1) waits without limit, a positive value waits that many milliseconds.
 *
 * Return values: 0 or a negative errno.
 *   count 0                                     0, nothing done
 *   more blocks than the pool has               -ENOMEM at once, whatever the timeout
 *   none to be had and NO_WAIT                  -ENOMEM
 *   timeout expired                             -EAGAIN, nothing held
 *   priority out of range, timeout below -1     -EINVAL
 *   frees                                       as the blockpool_free* functions
 */
#ifndef SHMPOOL_BLOCKPOOL_SYNC_H
#define SHMPOOL_BLOCKPOOL_SYNC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "blockpool.h"
#include "waitq.h"

#define BLOCKPOOL_SYNC_NO_WAIT 0
#define BLOCKPOOL_SYNC_FOREVER (-1)

struct blockpool_sync {
	pthread_mutex_t lock;
	pthread_condattr_t condattr;   /* CLOCK_MONOTONIC, for every waiter */
	struct blockpool pool;
	struct waitq waiters;
};

struct blockpool_sync_stat {
	struct blockpool_stat pool;
	size_t num_waiters;            /* threads queued right now */
};

/* Same arguments and errors as blockpool_init, plus the error of a failed
 * pthread initialisation. */
int blockpool_sync_init(struct blockpool_sync *s, uint64_t block_size, uint64_t num_blocks,
			uint64_t align);

/* No thread may be using or waiting on s any more. */
void blockpool_sync_fini(struct blockpool_sync *s);

int blockpool_sync_alloc(struct blockpool_sync *s, uint64_t *off, int prio, int timeout_ms);
int blockpool_sync_alloc_n(struct blockpool_sync *s, size_t n, uint64_t *offs, int prio,
			   int timeout_ms);
int blockpool_sync_alloc_contig(struct blockpool_sync *s, size_t n, uint64_t *first, int prio,
				int timeout_ms);

int blockpool_sync_free(struct blockpool_sync *s, uint64_t off);
int blockpool_sync_free_n(struct blockpool_sync *s, size_t n, const uint64_t *offs);
int blockpool_sync_free_contig(struct blockpool_sync *s, uint64_t first, size_t n);

void blockpool_sync_stat(struct blockpool_sync *s, struct blockpool_sync_stat *st);
void blockpool_sync_reset_max(struct blockpool_sync *s);

#endif
