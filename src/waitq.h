/*
 * waitq: an intrusive queue of waiters ordered by priority, then arrival.
 *
 * Priorities run from WAITQ_PRIO_MIN (-20, most urgent) to WAITQ_PRIO_MAX
 * (19), as nice(1) values do.  Each priority has its own FIFO list and a
 * 64-bit mask records which lists are non-empty, so push, remove and head
 * are all O(1).  The queue never allocates: callers embed a waitq_entry in
 * their own waiter record.  Used by the in-process blocking wrapper and by
 * the daemon's per-pool wait queues.
 */
#ifndef SHMPOOL_WAITQ_H
#define SHMPOOL_WAITQ_H

#include <stddef.h>
#include <stdint.h>

#define WAITQ_PRIO_MIN (-20)
#define WAITQ_PRIO_MAX 19
#define WAITQ_LEVELS (WAITQ_PRIO_MAX - WAITQ_PRIO_MIN + 1)

struct waitq_entry {
	struct waitq_entry *next;
	struct waitq_entry *prev;
	int prio;
	int queued;            /* 1 while on a queue */
};

struct waitq {
	struct waitq_entry *head[WAITQ_LEVELS];
	struct waitq_entry *tail[WAITQ_LEVELS];
	uint64_t nonempty;     /* bit (prio - WAITQ_PRIO_MIN) set: that list has entries */
	size_t count;
};

void waitq_init(struct waitq *q);

/* Append e behind every entry of the same or more urgent priority.
 * -EINVAL if prio is outside WAITQ_PRIO_MIN..WAITQ_PRIO_MAX or e is queued. */
int waitq_push(struct waitq *q, struct waitq_entry *e, int prio);

/* Remove e from wherever it is; a no-op if it is not queued. */
void waitq_remove(struct waitq *q, struct waitq_entry *e);

/* The most urgent, earliest entry, or NULL. */
struct waitq_entry *waitq_head(const struct waitq *q);

/* The entry served after e, or NULL. */
struct waitq_entry *waitq_next(const struct waitq *q, const struct waitq_entry *e);

static inline size_t waitq_count(const struct waitq *q)
{
	return q->count;
}

#define waitq_container(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
