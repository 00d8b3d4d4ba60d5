#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heap.h"
#include "multiheap.h"

static struct heap *make_heap(uint64_t size)
{
	struct heap *h = NULL;

	assert_int_equal(heap_create(size, &h), 0);
	return h;
}

static struct multiheap *make_multiheap(const char *name)
{
	struct multiheap *mh = NULL;

	assert_int_equal(multiheap_create(name, &mh), 0);
	assert_non_null(mh);
	return mh;
}

static void test_create_name(void **state)
{
	char long_name[MULTIHEAP_NAME_MAX + 1];
	struct multiheap *mh = NULL;

	(void)state;
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[MULTIHEAP_NAME_MAX] = '\0';
	assert_int_equal(multiheap_create(NULL, &mh), -EINVAL);
	assert_int_equal(multiheap_create("", &mh), -EINVAL);
	assert_int_equal(multiheap_create(long_name, &mh), -EINVAL);
	assert_int_equal(multiheap_create("default", NULL), -EINVAL);
	assert_null(mh);
	long_name[MULTIHEAP_NAME_MAX - 1] = '\0';
	assert_int_equal(multiheap_create(long_name, &mh), 0);
	assert_string_equal(multiheap_name(mh), long_name);
	assert_int_equal(multiheap_count(mh), 0);
	multiheap_destroy(mh);
	mh = make_multiheap("default");
	assert_string_equal(multiheap_name(mh), "default");
	multiheap_destroy(mh);
	multiheap_destroy(NULL);
}

static void test_add_get_remove(void **state)
{
	struct multiheap *mh = make_multiheap("default");
	struct heap *a = make_heap(4096), *b = make_heap(4096), *c = make_heap(4096), *got;
	uint32_t region, attr;

	(void)state;
	assert_int_equal(multiheap_add(mh, 10, MULTIHEAP_ATTR_CACHEABLE, a), 0);
	assert_int_equal(multiheap_add(mh, 11, MULTIHEAP_ATTR_NON_CACHEABLE, b), 0);
	assert_int_equal(multiheap_add(mh, 12, MULTIHEAP_ATTR_MAX, c), 0);
	assert_int_equal(multiheap_add(mh, 13, MULTIHEAP_ATTR_MAX + 1, c), -EINVAL);
	assert_int_equal(multiheap_add(mh, 13, 0, NULL), -EINVAL);
	assert_int_equal(multiheap_add(mh, 11, 0, c), -EINVAL);
	assert_int_equal(multiheap_count(mh), 3);
	assert_int_equal(multiheap_get(mh, 0, &region, &attr, &got), 0);
	assert_int_equal(region, 10);
	assert_int_equal(attr, 0);
	assert_ptr_equal(got, a);
	assert_int_equal(multiheap_get(mh, 2, &region, &attr, &got), 0);
	assert_int_equal(region, 12);
	assert_int_equal(attr, MULTIHEAP_ATTR_MAX);
	assert_ptr_equal(got, c);
	assert_int_equal(multiheap_get(mh, 3, &region, &attr, &got), -EINVAL);
	assert_ptr_equal(multiheap_heap(mh, 11), b);
	assert_null(multiheap_heap(mh, 99));

	assert_int_equal(multiheap_remove(mh, 99), -ENOENT);
	assert_int_equal(multiheap_remove(mh, 10), 0);
	assert_int_equal(multiheap_remove(mh, 10), -ENOENT);
	assert_int_equal(multiheap_count(mh), 2);
	assert_int_equal(multiheap_get(mh, 0, &region, NULL, NULL), 0);
	assert_int_equal(region, 11);
	assert_int_equal(multiheap_get(mh, 1, &region, NULL, NULL), 0);
	assert_int_equal(region, 12);
	assert_null(multiheap_heap(mh, 10));
	/* A removed region may be added again; it goes to the end. */
	assert_int_equal(multiheap_add(mh, 10, 5, a), 0);
	assert_int_equal(multiheap_get(mh, 2, &region, &attr, &got), 0);
	assert_int_equal(region, 10);
	assert_int_equal(attr, 5);
	assert_ptr_equal(got, a);

	multiheap_destroy(mh);
	heap_destroy(a);
	heap_destroy(b);
	heap_destroy(c);
}

/* Heaps with the attribute are tried in the order they were added: when
 * the first is full the next allocation lands in the second. */
static void test_alloc_routing_order(void **state)
{
	struct multiheap *mh = make_multiheap("default");
	struct heap *nc = make_heap(4096), *a = make_heap(1024), *b = make_heap(1024);
	struct heap_stat st;
	uint32_t region = 0;
	uint64_t off = 1;

	(void)state;
	assert_int_equal(multiheap_add(mh, 1, MULTIHEAP_ATTR_NON_CACHEABLE, nc), 0);
	assert_int_equal(multiheap_add(mh, 2, MULTIHEAP_ATTR_CACHEABLE, a), 0);
	assert_int_equal(multiheap_add(mh, 3, MULTIHEAP_ATTR_CACHEABLE, b), 0);

	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 1000, &region, &off), 0);
	assert_int_equal(region, 2);
	assert_int_equal(off, 0);
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 16, &region, &off), 0);
	assert_int_equal(region, 2);
	assert_int_equal(off, 1008);
	/* a is full now. */
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 16, &region, &off), 0);
	assert_int_equal(region, 3);
	assert_int_equal(off, 0);
	/* Too big for a's free space but a has some: b again. */
	assert_int_equal(heap_free(a, 1008), 0);
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 32, &region, &off), 0);
	assert_int_equal(region, 3);
	assert_int_equal(off, 16);
	/* Small enough for a: a comes first. */
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 16, 16, &region, &off), 0);
	assert_int_equal(region, 2);
	assert_int_equal(off, 1008);
	/* Alignment is passed down. */
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_CACHEABLE, 512, 16, &region, &off), 0);
	assert_int_equal(region, 3);
	assert_int_equal(off, 512);
	/* The non-cacheable heap never served a cacheable request. */
	heap_stat(nc, &st);
	assert_int_equal(st.num_allocs, 0);
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_NON_CACHEABLE, 0, 100, &region, &off), 0);
	assert_int_equal(region, 1);
	assert_int_equal(off, 0);

	multiheap_destroy(mh);
	heap_destroy(nc);
	heap_destroy(a);
	heap_destroy(b);
}

static void test_alloc_errors(void **state)
{
	struct multiheap *mh = make_multiheap("default");
	struct heap *a = make_heap(1024);
	uint32_t region = 77;
	uint64_t off = 77;

	(void)state;
	assert_int_equal(multiheap_alloc(mh, 0, 0, 16, &region, &off), -ENOENT);
	assert_int_equal(multiheap_add(mh, 4, 7, a), 0);
	assert_int_equal(multiheap_alloc(mh, 0, 0, 16, &region, &off), -ENOENT);
	assert_int_equal(multiheap_alloc(mh, 8, 0, 16, &region, &off), -ENOENT);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 0, &region, &off), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, 24, 16, &region, &off), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, 3, 16, &region, &off), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, HEAP_MAX_ALIGN * 2, 16, &region, &off), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, MULTIHEAP_ATTR_MAX + 1, 0, 16, &region, &off),
			 -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 16, NULL, &off), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 16, &region, NULL), -EINVAL);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 2048, &region, &off), -ENOMEM);
	assert_int_equal(region, 77);
	assert_int_equal(off, 77);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 1024, &region, &off), 0);
	assert_int_equal(region, 4);
	assert_int_equal(multiheap_alloc(mh, 7, 0, 16, &region, &off), -ENOMEM);
	multiheap_destroy(mh);
	heap_destroy(a);
}

static void test_free_routing(void **state)
{
	struct multiheap *mh = make_multiheap("default");
	struct heap *a = make_heap(1024), *b = make_heap(1024);
	struct heap_stat sa, sb;
	uint32_t ra, rb;
	uint64_t oa, ob;

	(void)state;
	assert_int_equal(multiheap_add(mh, 20, 2, a), 0);
	assert_int_equal(multiheap_add(mh, 21, 3, b), 0);
	assert_int_equal(multiheap_alloc(mh, 2, 0, 64, &ra, &oa), 0);
	assert_int_equal(multiheap_alloc(mh, 3, 0, 64, &rb, &ob), 0);
	assert_int_equal(ra, 20);
	assert_int_equal(rb, 21);
	assert_int_equal(oa, 0);
	assert_int_equal(ob, 0);
	assert_int_equal(multiheap_free(mh, 22, ob), -ENOENT);
	assert_int_equal(multiheap_free(mh, rb, ob), 0);
	heap_stat(a, &sa);
	heap_stat(b, &sb);
	assert_int_equal(sa.num_used, 1);
	assert_int_equal(sb.num_used, 0);
	assert_int_equal(sb.num_frees, 1);
	/* heap_free's codes come through. */
	assert_int_equal(multiheap_free(mh, rb, ob), -EFAULT);
	assert_int_equal(multiheap_free(mh, ra, 16), -EINVAL);
	assert_int_equal(multiheap_free(mh, ra, 4096), -EINVAL);
	assert_int_equal(multiheap_free(mh, ra, oa), 0);
	heap_stat(a, &sa);
	assert_int_equal(sa.num_used, 0);
	assert_int_equal(sa.free, 1024);
	/* A removed region is unknown. */
	assert_int_equal(multiheap_remove(mh, 21), 0);
	assert_int_equal(multiheap_free(mh, 21, 0), -ENOENT);
	multiheap_destroy(mh);
	heap_destroy(a);
	heap_destroy(b);
}

static void test_instances_independent(void **state)
{
	struct multiheap *x = make_multiheap("default"), *y = make_multiheap("video");
	struct heap *a = make_heap(1024), *b = make_heap(2048);
	uint32_t region;
	uint64_t off;

	(void)state;
	assert_int_equal(multiheap_add(x, 1, 0, a), 0);
	/* The same region id in another instance is a different entry. */
	assert_int_equal(multiheap_add(y, 1, 0, b), 0);
	assert_int_equal(multiheap_add(y, 2, 1, a), 0);
	assert_int_equal(multiheap_count(x), 1);
	assert_int_equal(multiheap_count(y), 2);
	assert_ptr_equal(multiheap_heap(x, 1), a);
	assert_ptr_equal(multiheap_heap(y, 1), b);
	assert_int_equal(multiheap_alloc(x, 1, 0, 16, &region, &off), -ENOENT);
	assert_int_equal(multiheap_alloc(y, 0, 0, 2048, &region, &off), 0);
	assert_int_equal(region, 1);
	assert_int_equal(multiheap_alloc(x, 0, 0, 1024, &region, &off), 0);
	assert_int_equal(region, 1);
	assert_int_equal(multiheap_remove(x, 1), 0);
	assert_int_equal(multiheap_count(x), 0);
	assert_ptr_equal(multiheap_heap(y, 1), b);
	assert_int_equal(multiheap_free(x, 1, 0), -ENOENT);
	assert_int_equal(multiheap_free(y, 1, 0), 0);
	assert_string_equal(multiheap_name(x), "default");
	assert_string_equal(multiheap_name(y), "video");
	multiheap_destroy(x);
	multiheap_destroy(y);
	heap_destroy(a);
	heap_destroy(b);
}

/* More heaps than the initial capacity of the set. */
static void test_many_heaps(void **state)
{
	struct multiheap *mh = make_multiheap("many");
	struct heap *h[40];
	uint32_t region;
	uint64_t off;

	(void)state;
	for (uint32_t i = 0; i < 40; i++) {
		h[i] = make_heap(256);
		assert_int_equal(multiheap_add(mh, 100 + i, i % 2, h[i]), 0);
	}
	assert_int_equal(multiheap_count(mh), 40);
	/* Each cacheable heap takes one 256-byte block, in order. */
	for (uint32_t i = 0; i < 40; i += 2) {
		assert_int_equal(multiheap_alloc(mh, 0, 0, 256, &region, &off), 0);
		assert_int_equal(region, 100 + i);
		assert_int_equal(off, 0);
	}
	assert_int_equal(multiheap_alloc(mh, 0, 0, 16, &region, &off), -ENOMEM);
	assert_int_equal(multiheap_free(mh, 120, 0), 0);
	assert_int_equal(multiheap_alloc(mh, 0, 0, 16, &region, &off), 0);
	assert_int_equal(region, 120);
	multiheap_destroy(mh);
	for (int i = 0; i < 40; i++)
		heap_destroy(h[i]);
}

static int deny_region(void *ctx, uint32_t region_id)
{
	return region_id != *(const uint32_t *)ctx;
}

/* A filter skips the regions it refuses, and refusing all is -EACCES. */
static void test_alloc_filter(void **state)
{
	struct multiheap *mh = make_multiheap("default");
	struct heap *a = make_heap(1024), *b = make_heap(1024);
	uint32_t region = 0, denied = 2;
	uint64_t off = 1;

	(void)state;
	assert_int_equal(multiheap_add(mh, 2, MULTIHEAP_ATTR_CACHEABLE, a), 0);
	assert_int_equal(multiheap_add(mh, 3, MULTIHEAP_ATTR_CACHEABLE, b), 0);
	assert_int_equal(multiheap_alloc_filter(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 64, deny_region,
						&denied, &region, &off), 0);
	assert_int_equal(region, 3);
	assert_int_equal(off, 0);
	/* No heap carries attribute 1: -ENOENT, whatever the filter. */
	assert_int_equal(multiheap_alloc_filter(mh, MULTIHEAP_ATTR_NON_CACHEABLE, 0, 64, deny_region,
						&denied, &region, &off), -ENOENT);
	assert_int_equal(multiheap_remove(mh, 3), 0);
	assert_int_equal(multiheap_alloc_filter(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 64, deny_region,
						&denied, &region, &off), -EACCES);
	/* No filter: region 2 serves. */
	assert_int_equal(multiheap_alloc_filter(mh, MULTIHEAP_ATTR_CACHEABLE, 0, 64, NULL, NULL,
						&region, &off), 0);
	assert_int_equal(region, 2);
	multiheap_destroy(mh);
	heap_destroy(a);
	heap_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_name),
		cmocka_unit_test(test_add_get_remove),
		cmocka_unit_test(test_alloc_routing_order),
		cmocka_unit_test(test_alloc_errors),
		cmocka_unit_test(test_free_routing),
		cmocka_unit_test(test_instances_independent),
		cmocka_unit_test(test_many_heaps),
		cmocka_unit_test(test_alloc_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
