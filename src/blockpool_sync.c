#include "blockpool_sync.h"

#include <errno.h>
#include <string.h>
#include <time.h>

enum sync_kind {
	SYNC_ANY,      /* n blocks, not necessarily adjacent */
	SYNC_CONTIG,   /* n adjacent blocks */
};

/* A queued request; it lives on the stack of the thread that waits. */
struct sync_waiter {
	struct waitq_entry entry;
	pthread_cond_t cond;
	enum sync_kind kind;
	size_t n;
	uint64_t *out;
	int granted;   /* set under the lock once the blocks are in *out */
};

int blockpool_sync_init(struct blockpool_sync *s, uint64_t block_size, uint64_t num_blocks,
			uint64_t align)
{
	int rc;

	if (!s)
		return -EINVAL;
	rc = pthread_mutex_init(&s->lock, NULL);
	if (rc)
		return -rc;
	rc = pthread_condattr_init(&s->condattr);
	if (rc) {
		rc = -rc;
		goto fail_mutex;
	}
	rc = pthread_condattr_setclock(&s->condattr, CLOCK_MONOTONIC);
	if (rc) {
		rc = -rc;
		goto fail_condattr;
	}
	rc = blockpool_init(&s->pool, block_size, num_blocks, align);
	if (rc < 0)
		goto fail_condattr;
	waitq_init(&s->waiters);
	return 0;

fail_condattr:
	pthread_condattr_destroy(&s->condattr);
fail_mutex:
	pthread_mutex_destroy(&s->lock);
	return rc;
}

void blockpool_sync_fini(struct blockpool_sync *s)
{
	if (!s)
		return;
	blockpool_fini(&s->pool);
	pthread_condattr_destroy(&s->condattr);
	pthread_mutex_destroy(&s->lock);
}

static int sync_try(struct blockpool_sync *s, enum sync_kind kind, size_t n, uint64_t *out)
{
	if (kind == SYNC_CONTIG)
		return blockpool_alloc_contig(&s->pool, n, out);
	return blockpool_alloc_n(&s->pool, n, out);
}

/*
 * Hand blocks to the waiters at the head of the queue for as long as the
 * head can be met.  Called with the lock held after anything that may let
 * the head through: a free, or the head leaving.  Stopping at the first
 * head that cannot be met keeps the order strict.  Afterwards the queue is
 * empty or its head cannot be met, which is what lets a new request skip
 * the queue when nothing is waiting ahead of it.
 */
static void sync_serve(struct blockpool_sync *s)
{
	struct waitq_entry *e;
	struct sync_waiter *w;

	while ((e = waitq_head(&s->waiters)) != NULL) {
		w = waitq_container(e, struct sync_waiter, entry);
		if (sync_try(s, w->kind, w->n, w->out) < 0)
			return;
		waitq_remove(&s->waiters, e);
		w->granted = 1;
		pthread_cond_signal(&w->cond);
	}
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Whether the waiter got its blocks is decided only under the lock, by the
 * granted flag: a waiter whose timeout expires while a freeing thread hands
 * it blocks finds granted set once it holds the lock again and keeps them,
 * and a waiter that leaves the queue can no longer be handed anything.
 * Either way no block is lost.
 */
static int sync_request(struct blockpool_sync *s, enum sync_kind kind, size_t n, uint64_t *out,
			int prio, int timeout_ms)
{
	struct sync_waiter w;
	struct waitq_entry *head;
	struct timespec deadline;
	int rc, was_head;

	if (!s || (n && !out))
		return -EINVAL;
	if (prio < WAITQ_PRIO_MIN || prio > WAITQ_PRIO_MAX || timeout_ms < BLOCKPOOL_SYNC_FOREVER)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);

	pthread_mutex_lock(&s->lock);
	if (n > s->pool.num_blocks) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	head = waitq_head(&s->waiters);
	if (!head || prio < head->prio) {
		rc = sync_try(s, kind, n, out);
		if (rc != -ENOMEM)
			goto out_unlock;
	}
	if (timeout_ms == BLOCKPOOL_SYNC_NO_WAIT) {
		rc = -ENOMEM;
		goto out_unlock;
	}

	memset(&w, 0, sizeof(w));
	rc = pthread_cond_init(&w.cond, &s->condattr);
	if (rc) {
		rc = -rc;
		goto out_unlock;
	}
	w.kind = kind;
	w.n = n;
	w.out = out;
	waitq_push(&s->waiters, &w.entry, prio);

	while (!w.granted) {
		if (timeout_ms < 0)
			pthread_cond_wait(&w.cond, &s->lock);
		else if (pthread_cond_timedwait(&w.cond, &s->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (w.granted) {
		rc = 0;
	} else {
		was_head = waitq_head(&s->waiters) == &w.entry;
		waitq_remove(&s->waiters, &w.entry);
		if (was_head)
			sync_serve(s);
		rc = -EAGAIN;
	}
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&w.cond);
	return rc;

out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int blockpool_sync_alloc(struct blockpool_sync *s, uint64_t *off, int prio, int timeout_ms)
{
	if (!off)
		return -EINVAL;
	return sync_request(s, SYNC_ANY, 1, off, prio, timeout_ms);
}

int blockpool_sync_alloc_n(struct blockpool_sync *s, size_t n, uint64_t *offs, int prio,
			   int timeout_ms)
{
	return sync_request(s, SYNC_ANY, n, offs, prio, timeout_ms);
}

int blockpool_sync_alloc_contig(struct blockpool_sync *s, size_t n, uint64_t *first, int prio,
				int timeout_ms)
{
	return sync_request(s, SYNC_CONTIG, n, first, prio, timeout_ms);
}

int blockpool_sync_free(struct blockpool_sync *s, uint64_t off)
{
	int rc;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = blockpool_free(&s->pool, off);
	if (rc == 0)
		sync_serve(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int blockpool_sync_free_n(struct blockpool_sync *s, size_t n, const uint64_t *offs)
{
	int rc;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = blockpool_free_n(&s->pool, n, offs);
	if (rc == 0 && n)
		sync_serve(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int blockpool_sync_free_contig(struct blockpool_sync *s, uint64_t first, size_t n)
{
	int rc;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = blockpool_free_contig(&s->pool, first, n);
	if (rc == 0 && n)
		sync_serve(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void blockpool_sync_stat(struct blockpool_sync *s, struct blockpool_sync_stat *st)
{
	pthread_mutex_lock(&s->lock);
	blockpool_stat(&s->pool, &st->pool);
	st->num_waiters = waitq_count(&s->waiters);
	pthread_mutex_unlock(&s->lock);
}

void blockpool_sync_reset_max(struct blockpool_sync *s)
{
	pthread_mutex_lock(&s->lock);
	blockpool_reset_max(&s->pool);
	pthread_mutex_unlock(&s->lock);
}
