/*
 * deadline: a binary min-heap of waiters ordered by deadline, so the daemon
 * needs one libuv timer for all waits instead of one per waiter.
 *
 * Entries are embedded in their owners and remember their heap slot, so
 * removing a waiter that was served before its deadline is O(log n).
 */
#ifndef SHMPOOL_DEADLINE_H
#define SHMPOOL_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#define DEADLINE_NONE SIZE_MAX

struct deadline_entry {
	uint64_t when;      /* ms on the loop clock */
	size_t slot;        /* index in the heap, DEADLINE_NONE when not queued */
};

struct deadline_heap {
	struct deadline_entry **v;
	size_t n;
	size_t cap;
};

void deadline_init(struct deadline_heap *h);
void deadline_fini(struct deadline_heap *h);

/* -ENOMEM when the heap cannot grow. */
int deadline_push(struct deadline_heap *h, struct deadline_entry *e, uint64_t when);
void deadline_remove(struct deadline_heap *h, struct deadline_entry *e);

/* The entry with the earliest deadline, or NULL. */
static inline struct deadline_entry *deadline_first(const struct deadline_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

#endif
