#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "waitq.h"

struct item {
	int id;
	struct waitq_entry entry;
};

static int item_id(const struct waitq_entry *e)
{
	return e ? waitq_container(e, struct item, entry)->id : -1;
}

/* Pop the whole queue through head/remove and return the ids in order. */
static size_t drain(struct waitq *q, int *ids, size_t max)
{
	struct waitq_entry *e;
	size_t n = 0;

	while ((e = waitq_head(q)) != NULL && n < max) {
		ids[n++] = item_id(e);
		waitq_remove(q, e);
	}
	return n;
}

static void test_empty(void **state)
{
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_null(waitq_head(&q));
	assert_int_equal(waitq_count(&q), 0);
	assert_int_equal(q.nonempty, 0);
}

static void test_priority_then_arrival(void **state)
{
	struct item it[7] = {
		{ 0, { 0 } }, { 1, { 0 } }, { 2, { 0 } }, { 3, { 0 } },
		{ 4, { 0 } }, { 5, { 0 } }, { 6, { 0 } },
	};
	const int prio[7] = { 5, -3, 5, 0, -3, 19, -20 };
	const int want[7] = { 6, 1, 4, 3, 0, 2, 5 };
	int got[7];
	struct waitq q;

	(void)state;
	waitq_init(&q);
	for (int i = 0; i < 7; i++)
		assert_int_equal(waitq_push(&q, &it[i].entry, prio[i]), 0);
	assert_int_equal(waitq_count(&q), 7);
	assert_int_equal(item_id(waitq_head(&q)), 6);
	assert_int_equal(drain(&q, got, 7), 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(got[i], want[i]);
	assert_int_equal(waitq_count(&q), 0);
	assert_int_equal(q.nonempty, 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(it[i].entry.queued, 0);
}

static void test_every_level(void **state)
{
	struct item it[WAITQ_LEVELS];
	struct waitq_entry *e;
	struct waitq q;
	int n = 0;

	(void)state;
	waitq_init(&q);
	for (int i = WAITQ_LEVELS - 1; i >= 0; i--) {
		it[i] = (struct item){ .id = i };
		assert_int_equal(waitq_push(&q, &it[i].entry, WAITQ_PRIO_MIN + i), 0);
	}
	assert_int_equal(q.nonempty, ((uint64_t)1 << WAITQ_LEVELS) - 1);
	for (e = waitq_head(&q); e; e = waitq_next(&q, e))
		assert_int_equal(item_id(e), n++);
	assert_int_equal(n, WAITQ_LEVELS);
}

static void test_remove_middle_head_tail(void **state)
{
	struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 }, d = { .id = 4 };
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &a.entry, 0), 0);
	assert_int_equal(waitq_push(&q, &b.entry, 0), 0);
	assert_int_equal(waitq_push(&q, &c.entry, 0), 0);
	assert_int_equal(waitq_push(&q, &d.entry, 0), 0);

	waitq_remove(&q, &b.entry);
	assert_int_equal(waitq_count(&q), 3);
	assert_int_equal(b.entry.queued, 0);
	assert_int_equal(item_id(waitq_head(&q)), 1);
	assert_int_equal(item_id(waitq_next(&q, &a.entry)), 3);
	assert_int_equal(item_id(waitq_next(&q, &c.entry)), 4);

	waitq_remove(&q, &a.entry);
	assert_int_equal(item_id(waitq_head(&q)), 3);
	assert_int_equal(waitq_count(&q), 2);

	waitq_remove(&q, &d.entry);
	assert_int_equal(item_id(waitq_head(&q)), 3);
	assert_null(waitq_next(&q, &c.entry));
	assert_int_equal(waitq_count(&q), 1);

	/* A tail push after removing the tail must link behind the new tail. */
	assert_int_equal(waitq_push(&q, &d.entry, 0), 0);
	assert_int_equal(item_id(waitq_next(&q, &c.entry)), 4);

	waitq_remove(&q, &c.entry);
	waitq_remove(&q, &d.entry);
	assert_null(waitq_head(&q));
	assert_int_equal(waitq_count(&q), 0);
	assert_int_equal(q.nonempty, 0);
}

static void test_remove_keeps_other_levels(void **state)
{
	struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &a.entry, -10), 0);
	assert_int_equal(waitq_push(&q, &b.entry, 0), 0);
	assert_int_equal(waitq_push(&q, &c.entry, 10), 0);
	waitq_remove(&q, &a.entry);
	assert_int_equal(item_id(waitq_head(&q)), 2);
	assert_int_equal(q.nonempty, ((uint64_t)1 << 20) | ((uint64_t)1 << 30));
	waitq_remove(&q, &b.entry);
	assert_int_equal(item_id(waitq_head(&q)), 3);
	assert_int_equal(q.nonempty, (uint64_t)1 << 30);
}

static void test_remove_unqueued(void **state)
{
	struct item a = { .id = 1 }, b = { .id = 2 };
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &a.entry, 3), 0);
	waitq_remove(&q, &b.entry);
	assert_int_equal(waitq_count(&q), 1);
	assert_int_equal(item_id(waitq_head(&q)), 1);
	waitq_remove(&q, &a.entry);
	waitq_remove(&q, &a.entry);
	assert_int_equal(waitq_count(&q), 0);
	assert_null(waitq_head(&q));
}

static void test_bad_priority(void **state)
{
	struct item a = { .id = 1 };
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &a.entry, WAITQ_PRIO_MIN - 1), -EINVAL);
	assert_int_equal(waitq_push(&q, &a.entry, WAITQ_PRIO_MAX + 1), -EINVAL);
	assert_int_equal(waitq_push(&q, &a.entry, 1000), -EINVAL);
	assert_int_equal(waitq_count(&q), 0);
	assert_int_equal(a.entry.queued, 0);
	assert_int_equal(waitq_push(&q, &a.entry, WAITQ_PRIO_MIN), 0);
	assert_int_equal(waitq_push(&q, &a.entry, WAITQ_PRIO_MAX), -EINVAL);
	assert_int_equal(waitq_count(&q), 1);
	assert_int_equal(a.entry.prio, WAITQ_PRIO_MIN);
}

static void test_next(void **state)
{
	struct item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 }, d = { .id = 4 };
	struct item lone = { .id = 5 };
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &c.entry, 3), 0);
	assert_int_equal(waitq_push(&q, &d.entry, WAITQ_PRIO_MAX), 0);
	assert_int_equal(waitq_push(&q, &a.entry, -5), 0);
	assert_int_equal(waitq_push(&q, &b.entry, -5), 0);
	assert_int_equal(item_id(waitq_head(&q)), 1);
	assert_int_equal(item_id(waitq_next(&q, &a.entry)), 2);
	assert_int_equal(item_id(waitq_next(&q, &b.entry)), 3);
	assert_int_equal(item_id(waitq_next(&q, &c.entry)), 4);
	assert_null(waitq_next(&q, &d.entry));
	assert_null(waitq_next(&q, &lone.entry));

	waitq_remove(&q, &c.entry);
	assert_int_equal(item_id(waitq_next(&q, &b.entry)), 4);
}

static void test_repush_other_priority(void **state)
{
	struct item a = { .id = 1 }, b = { .id = 2 };
	int got[2];
	struct waitq q;

	(void)state;
	waitq_init(&q);
	assert_int_equal(waitq_push(&q, &a.entry, 0), 0);
	assert_int_equal(waitq_push(&q, &b.entry, 1), 0);
	waitq_remove(&q, &a.entry);
	assert_int_equal(waitq_push(&q, &a.entry, 2), 0);
	assert_int_equal(drain(&q, got, 2), 2);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_priority_then_arrival),
		cmocka_unit_test(test_every_level),
		cmocka_unit_test(test_remove_middle_head_tail),
		cmocka_unit_test(test_remove_keeps_other_levels),
		cmocka_unit_test(test_remove_unqueued),
		cmocka_unit_test(test_bad_priority),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_repush_other_priority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
