#include "waitq.h"

#include <errno.h>
#include <string.h>

static inline unsigned int waitq_level(int prio)
{
	return (unsigned int)(prio - WAITQ_PRIO_MIN);
}

void waitq_init(struct waitq *q)
{
	memset(q, 0, sizeof(*q));
}

int waitq_push(struct waitq *q, struct waitq_entry *e, int prio)
{
	unsigned int level;

	if (!q || !e || prio < WAITQ_PRIO_MIN || prio > WAITQ_PRIO_MAX || e->queued)
		return -EINVAL;
	level = waitq_level(prio);
	e->prio = prio;
	e->next = NULL;
	e->prev = q->tail[level];
	if (q->tail[level])
		q->tail[level]->next = e;
	else
		q->head[level] = e;
	q->tail[level] = e;
	q->nonempty |= (uint64_t)1 << level;
	q->count++;
	e->queued = 1;
	return 0;
}

void waitq_remove(struct waitq *q, struct waitq_entry *e)
{
	unsigned int level;

	if (!e->queued)
		return;
	level = waitq_level(e->prio);
	if (e->prev)
		e->prev->next = e->next;
	else
		q->head[level] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		q->tail[level] = e->prev;
	if (!q->head[level])
		q->nonempty &= ~((uint64_t)1 << level);
	e->next = NULL;
	e->prev = NULL;
	e->queued = 0;
	q->count--;
}

struct waitq_entry *waitq_head(const struct waitq *q)
{
	if (!q->nonempty)
		return NULL;
	return q->head[__builtin_ctzll(q->nonempty)];
}

struct waitq_entry *waitq_next(const struct waitq *q, const struct waitq_entry *e)
{
	uint64_t later;

	if (!e->queued)
		return NULL;
	if (e->next)
		return e->next;
	/* The levels are at most 40, so the shift never reaches 64. */
	later = q->nonempty & (~(uint64_t)0 << (waitq_level(e->prio) + 1));
	if (!later)
		return NULL;
	return q->head[__builtin_ctzll(later)];
}
