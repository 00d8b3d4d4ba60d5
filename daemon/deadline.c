#include "deadline.h"

#include <errno.h>
#include <stdlib.h>

void deadline_init(struct deadline_heap *h)
{
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
}

void deadline_fini(struct deadline_heap *h)
{
	free(h->v);
	deadline_init(h);
}

static void place(struct deadline_heap *h, size_t i, struct deadline_entry *e)
{
	h->v[i] = e;
	e->slot = i;
}

static void sift_up(struct deadline_heap *h, size_t i)
{
	struct deadline_entry *e = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->when <= e->when)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, e);
}

static void sift_down(struct deadline_heap *h, size_t i)
{
	struct deadline_entry *e = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->when < h->v[c]->when)
			c++;
		if (e->when <= h->v[c]->when)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, e);
}

int deadline_push(struct deadline_heap *h, struct deadline_entry *e, uint64_t when)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct deadline_entry **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	e->when = when;
	h->v[h->n] = e;
	e->slot = h->n++;
	sift_up(h, e->slot);
	return 0;
}

void deadline_remove(struct deadline_heap *h, struct deadline_entry *e)
{
	size_t i = e->slot;
	struct deadline_entry *last;

	if (i == DEADLINE_NONE)
		return;
	e->slot = DEADLINE_NONE;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	place(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
		sift_up(h, i);
	else
		sift_down(h, i);
}
