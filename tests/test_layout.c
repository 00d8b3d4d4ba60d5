/*
 * test_layout: regions, pools, heap instances and groups built from a
 * configuration, and pools made and unmade at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "layout.h"
#include "log.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)

static char err[1024];

/* Load text as "test.conf" and build it; the test fails on any error. */
static struct layout *build(const char *text, struct config *cfg)
{
	struct layout *l = NULL;
	int rc;

	rc = config_load_string(text, "test.conf", cfg, err, sizeof(err));
	if (rc != 0)
		fail_msg("config: %s", err);
	rc = layout_build(cfg, &l, err, sizeof(err));
	if (rc != 0)
		fail_msg("layout: %d %s", rc, err);
	return l;
}

/* Load text, which must load, and check that building it fails with rc
 * and exactly msg. */
static void build_fails(const char *text, int rc, const char *msg)
{
	struct config cfg;
	struct layout *l = (struct layout *)&cfg;

	if (config_load_string(text, "test.conf", &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	assert_int_equal(layout_build(&cfg, &l, err, sizeof(err)), rc);
	assert_string_equal(err, msg);
	assert_ptr_equal(l, (struct layout *)&cfg);
	config_free(&cfg);
}

static uint64_t heap_free_bytes(struct heap *h)
{
	struct heap_stat st;

	heap_stat(h, &st);
	return st.free;
}

static void test_default(void **state)
{
	struct config cfg;
	struct layout *l = NULL;
	uint32_t rid, attr;
	struct heap *h;
	int fd;

	(void)state;
	assert_int_equal(config_default(&cfg), 0);
	assert_int_equal(layout_build(&cfg, &l, err, sizeof(err)), 0);
	assert_int_equal(l->nregions, 1);
	assert_string_equal(l->regions[0].name, "default");
	assert_int_equal(l->regions[0].id, 0);
	assert_int_equal(l->regions[0].size, 64 * MiB);
	assert_int_equal(l->regions[0].backing, CONFIG_BACKING_MEMFD);
	assert_int_equal(heap_free_bytes(l->heaps[0]), 64 * MiB);
	assert_int_equal(l->ninstances, 1);
	assert_string_equal(multiheap_name(l->instances[0]), "default");
	assert_int_equal(multiheap_count(l->instances[0]), 1);
	assert_int_equal(multiheap_get(l->instances[0], 0, &rid, &attr, &h), 0);
	assert_int_equal(rid, 0);
	assert_int_equal(attr, 0);
	assert_ptr_equal(h, l->heaps[0]);
	assert_ptr_equal(layout_heap_find(l, NULL), l->instances[0]);
	assert_ptr_equal(layout_heap_find(l, ""), l->instances[0]);
	assert_ptr_equal(layout_heap_find(l, "default"), l->instances[0]);
	assert_null(layout_heap_find(l, "other"));
	assert_ptr_equal(layout_region_instance(l, 0), l->instances[0]);
	assert_null(layout_region_instance(l, 1));
	assert_ptr_equal(layout_region_find(l, "default"), &l->regions[0]);
	assert_null(layout_region_find(l, "x"));
	assert_int_equal(l->npools, 0);
	assert_int_equal(l->ngroups, 0);
	fd = l->regions[0].fd;
	assert_true(fd >= 0);
	layout_destroy(l);
	/* Everything is unmapped and closed. */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	config_free(&cfg);
	layout_destroy(NULL);
}

static void test_pools_carved(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p;

	(void)state;
	l = build("[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 1M\nattr = dma\n"
		  "[pool p1]\nregion = a\nblock_size = 1000\nblocks = 1\n"
		  "[pool p2]\nregion = a\nblock_size = 4K\nblocks = 2\nalign = 4K\n"
		  "[pool p3]\nregion = a\nblock_size = 100\nblocks = 3\n"
		  "[pool p4]\nattr = dma\nblock_size = 64\nblocks = 10\nalign = 64\n", &cfg);
	assert_int_equal(l->npools, 4);

	/* p1 takes the start; p2 needs a 4 KiB boundary; p3 fills the gap
	 * p2's alignment left behind p1. */
	p = layout_pool_find(l, "p1");
	assert_non_null(p);
	assert_int_equal(p->id, 0);
	assert_int_equal(p->region_id, 0);
	assert_int_equal(p->attr, 0);
	assert_int_equal(p->base, 0);
	assert_int_equal(p->bp.block_size, 1000);
	assert_int_equal(p->bp.stride, 1008);
	assert_int_equal(p->bp.num_blocks, 1);
	assert_int_equal(p->configured, 1);
	assert_null(p->priv);

	p = layout_pool_find(l, "p2");
	assert_int_equal(p->id, 1);
	assert_int_equal(p->region_id, 0);
	assert_int_equal(p->base, 4096);
	assert_int_equal(p->bp.stride, 4096);
	assert_int_equal(p->bp.align, 4096);
	assert_int_equal(p->bp.num_blocks, 2);

	p = layout_pool_find(l, "p3");
	assert_int_equal(p->id, 2);
	assert_int_equal(p->base, 1008);
	assert_int_equal(p->bp.stride, 112);

	p = layout_pool_find(l, "p4");
	assert_int_equal(p->id, 3);
	assert_int_equal(p->region_id, 1);
	assert_int_equal(p->attr, 2);
	assert_int_equal(p->base, 0);
	assert_int_equal(p->bp.stride, 64);

	assert_int_equal(heap_free_bytes(l->heaps[0]), 1 * MiB - 1008 - 8192 - 336);
	assert_int_equal(heap_free_bytes(l->heaps[1]), 1 * MiB - 640);
	assert_ptr_equal(layout_pool_by_id(l, 2), layout_pool_find(l, "p3"));
	assert_null(layout_pool_by_id(l, 4));
	assert_null(layout_pool_find(l, "p5"));
	assert_int_equal(l->next_pool_id, 4);
	layout_destroy(l);
	config_free(&cfg);
}

/* The regions of an instance, as "id:attr id:attr". */
static void instance_regions(struct multiheap *mh, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < multiheap_count(mh); i++) {
		uint32_t rid, attr;
		struct heap *h;

		assert_int_equal(multiheap_get(mh, i, &rid, &attr, &h), 0);
		n += (size_t)snprintf(buf + n, len - n, "%s%u:%u", i ? " " : "", rid, attr);
	}
}

static void test_instances(void **state)
{
	struct config cfg;
	struct layout *l;
	char buf[128];

	(void)state;
	l = build("[region a]\nsize = 64K\n"
		  "[region b]\nsize = 64K\nattr = 4\n"
		  "[region c]\nsize = 64K\nattr = 4\n"
		  "[region d]\nsize = 64K\n"
		  "[heap fast]\nregions = c, a\n"
		  "[heap slow]\nregions = d\n", &cfg);
	assert_int_equal(l->ninstances, 3);
	assert_string_equal(multiheap_name(l->instances[0]), "default");
	assert_string_equal(multiheap_name(l->instances[1]), "fast");
	assert_string_equal(multiheap_name(l->instances[2]), "slow");
	/* Regions go in file order, whatever order [heap] lists them in. */
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "1:4");
	instance_regions(l->instances[1], buf, sizeof(buf));
	assert_string_equal(buf, "0:0 2:4");
	instance_regions(l->instances[2], buf, sizeof(buf));
	assert_string_equal(buf, "3:0");
	assert_ptr_equal(layout_heap_find(l, "fast"), l->instances[1]);
	assert_ptr_equal(layout_region_instance(l, 0), l->instances[1]);
	assert_ptr_equal(layout_region_instance(l, 1), l->instances[0]);
	assert_ptr_equal(layout_region_instance(l, 2), l->instances[1]);
	assert_ptr_equal(layout_region_instance(l, 3), l->instances[2]);
	layout_destroy(l);
	config_free(&cfg);

	/* Every region in a named heap: "default" is there, empty. */
	l = build("[region a]\nsize = 64K\n[heap only]\nregions = a\n", &cfg);
	assert_int_equal(l->ninstances, 2);
	assert_string_equal(multiheap_name(l->instances[0]), "default");
	assert_int_equal(multiheap_count(l->instances[0]), 0);
	instance_regions(l->instances[1], buf, sizeof(buf));
	assert_string_equal(buf, "0:0");
	layout_destroy(l);
	config_free(&cfg);

	/* An explicit [heap default] joins the unnamed regions. */
	l = build("[region a]\nsize = 64K\n[region b]\nsize = 64K\n[region c]\nsize = 64K\n"
		  "[heap default]\nregions = c\n[heap x]\nregions = b\n", &cfg);
	assert_int_equal(l->ninstances, 2);
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "0:0 2:0");
	instance_regions(l->instances[1], buf, sizeof(buf));
	assert_string_equal(buf, "1:0");
	layout_destroy(l);
	config_free(&cfg);
}

/* What the pools leave of a region is what the multi-heap can hand out. */
static void test_pools_and_heap_share(void **state)
{
	struct config cfg;
	struct layout *l;
	uint32_t rid;
	uint64_t off;

	(void)state;
	l = build("[region a]\nsize = 64K\n[pool p]\nregion = a\nblock_size = 16K\nblocks = 3\n",
		  &cfg);
	assert_int_equal(multiheap_alloc(l->instances[0], 0, 0, 32 * KiB, &rid, &off), -ENOMEM);
	assert_int_equal(multiheap_alloc(l->instances[0], 0, 0, 16 * KiB, &rid, &off), 0);
	assert_int_equal(rid, 0);
	assert_int_equal(off, 48 * KiB);
	assert_int_equal(multiheap_alloc(l->instances[0], 0, 0, 16, &rid, &off), -ENOMEM);
	layout_destroy(l);
	config_free(&cfg);
}

static void test_build_errors(void **state)
{
	(void)state;
	/* Each pool fits its region alone, not both together. */
	build_fails("[region a]\nsize = 1M\n"
		    "[pool p1]\nregion = a\nblock_size = 512K\nblocks = 1\n"
		    "[pool p2]\nregion = a\nblock_size = 768K\nblocks = 1\n",
		    -ENOMEM, "test.conf:7: pool 'p2' (768 KiB) does not fit in region 'a'");
	build_fails("[attributes]\ndma = 2\n"
		    "[region a]\nsize = 1M\nattr = dma\n"
		    "[region b]\nsize = 1M\nattr = dma\n"
		    "[pool p1]\nattr = dma\nblock_size = 600K\nblocks = 1\n"
		    "[pool p2]\nattr = dma\nblock_size = 600K\nblocks = 1\n"
		    "[pool p3]\nattr = dma\nblock_size = 600K\nblocks = 1\n",
		    -ENOMEM, "test.conf:17: pool 'p3' (600 KiB) does not fit in any region with "
			     "attribute 'dma'");
	build_fails("[region a]\nsize = 1M\nattr = 9\n"
		    "[pool p1]\nattr = 9\nblock_size = 1M\nblocks = 1\n"
		    "[pool p2]\nattr = 9\nblock_size = 1K\nblocks = 1\n",
		    -ENOMEM, "test.conf:8: pool 'p2' (1 KiB) does not fit in any region with "
			     "attribute 9");
	/* A region that cannot be mapped is reported at its section. */
	build_fails("[region ok]\nsize = 64K\n"
		    "[region f]\nsize = 64K\nbacking = file\npath = /nonexistent-dir/x\n",
		    -ENOENT, "test.conf:3: region 'f': /nonexistent-dir/x: No such file or directory");
}

/* The first region with the attribute that has room. */
static void test_pool_by_attr(void **state)
{
	struct config cfg;
	struct layout *l;

	(void)state;
	l = build("[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = dma\n"
		  "[region c]\nsize = 1M\nattr = dma\n"
		  "[pool x]\nattr = dma\nblock_size = 16K\nblocks = 3\n"
		  "[pool y]\nattr = dma\nblock_size = 16K\nblocks = 2\n"
		  "[pool z]\nattr = dma\nblock_size = 16K\nblocks = 1\n", &cfg);
	assert_int_equal(layout_pool_find(l, "x")->region_id, 1);
	assert_int_equal(layout_pool_find(l, "x")->base, 0);
	assert_int_equal(layout_pool_find(l, "y")->region_id, 2);
	assert_int_equal(layout_pool_find(l, "y")->base, 0);
	assert_int_equal(layout_pool_find(l, "z")->region_id, 1);
	assert_int_equal(layout_pool_find(l, "z")->base, 48 * KiB);
	assert_int_equal(layout_pool_find(l, "z")->attr, 2);
	layout_destroy(l);
	config_free(&cfg);
}

static const char group_conf[] =
	"[attributes]\ndma = 2\n"
	"[region a]\nsize = 1M\n"
	"[region b]\nsize = 1M\nattr = dma\n"
	"[pool small]\nregion = a\nblock_size = 64\nblocks = 4\n"
	"[pool mid]\nregion = b\nblock_size = 256\nblocks = 2\n"
	"[pool big]\nregion = a\nblock_size = 4K\nblocks = 1\n"
	"[pool small2]\nregion = b\nblock_size = 64\nblocks = 1\n"
	"[group gi]\npools = big, small, mid\nselect = index\n"
	"[group gf]\npools = big, mid, small\nselect = fit\n"
	"[group gt]\npools = small2, small\nselect = fit\n"
	"[group ga]\npools = small, mid, big\nselect = attr\n";

static void expect_select(struct layout *l, const char *group, uint64_t selector, uint32_t count,
			  int rc, const char *pool)
{
	struct layout_group *g = layout_group_find(l, group);
	struct layout_pool *p = NULL;

	assert_non_null(g);
	if (layout_group_select(l, g, selector, count, &p) != rc)
		fail_msg("group %s selector %llu count %u: expected %d", group,
			 (unsigned long long)selector, count, rc);
	if (pool) {
		assert_non_null(p);
		assert_string_equal(p->name, pool);
	} else {
		assert_null(p);
	}
}

static void test_group_select(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *small, *mid, *big;
	uint64_t offs[4];

	(void)state;
	l = build(group_conf, &cfg);
	assert_int_equal(l->ngroups, 4);
	assert_null(layout_group_find(l, "nope"));
	assert_int_equal(layout_group_find(l, "gi")->npools, 3);
	assert_int_equal(layout_group_find(l, "gf")->select, CONFIG_SELECT_FIT);

	expect_select(l, "gi", 0, 1, 0, "big");
	expect_select(l, "gi", 1, 1, 0, "small");
	expect_select(l, "gi", 2, 1, 0, "mid");
	expect_select(l, "gi", 3, 1, -EINVAL, NULL);
	expect_select(l, "gi", UINT64_MAX, 1, -EINVAL, NULL);

	expect_select(l, "gf", 0, 1, 0, "small");
	expect_select(l, "gf", 1, 1, 0, "small");
	expect_select(l, "gf", 64, 0, 0, "small");
	expect_select(l, "gf", 65, 1, 0, "mid");
	expect_select(l, "gf", 256, 1, 0, "mid");
	expect_select(l, "gf", 257, 1, 0, "big");
	expect_select(l, "gf", 4096, 1, 0, "big");
	expect_select(l, "gf", 4097, 1, -EINVAL, NULL);
	/* Enough free blocks for the count. */
	expect_select(l, "gf", 1, 4, 0, "small");
	expect_select(l, "gf", 1, 2, 0, "small");
	expect_select(l, "gf", 100, 2, 0, "mid");
	expect_select(l, "gf", 100, 3, -ENOMEM, "mid");
	expect_select(l, "gf", 1, 5, -ENOMEM, "small");

	/* Exhausted pools are passed over for the next larger one. */
	small = layout_pool_find(l, "small");
	mid = layout_pool_find(l, "mid");
	big = layout_pool_find(l, "big");
	assert_int_equal(blockpool_alloc_n(&small->bp, 4, offs), 0);
	expect_select(l, "gf", 1, 1, 0, "mid");
	assert_int_equal(blockpool_alloc_n(&mid->bp, 2, offs), 0);
	expect_select(l, "gf", 1, 1, 0, "big");
	assert_int_equal(blockpool_alloc(&big->bp, &offs[0]), 0);
	expect_select(l, "gf", 1, 1, -ENOMEM, "small");
	expect_select(l, "gf", 300, 1, -ENOMEM, "big");

	/* Equal block sizes: the listed order decides. */
	expect_select(l, "gt", 64, 1, 0, "small2");

	expect_select(l, "ga", 0, 1, 0, "small");
	expect_select(l, "ga", 2, 1, 0, "mid");
	expect_select(l, "ga", 1, 1, -EINVAL, NULL);
	expect_select(l, "ga", 5, 1, -EINVAL, NULL);
	expect_select(l, "ga", 1ull << 32, 1, -EINVAL, NULL);

	assert_int_equal(layout_group_select(NULL, layout_group_find(l, "gi"), 0, 1, &small),
			 -EINVAL);
	assert_int_equal(layout_group_select(l, NULL, 0, 1, &small), -EINVAL);
	layout_destroy(l);
	config_free(&cfg);
}

static void test_pool_create(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p = NULL, *q;
	char longname[CONFIG_NAME_MAX + 1];
	uint64_t before;

	(void)state;
	l = build("[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = dma\n"
		  "[region c]\nsize = 1M\nattr = dma\n"
		  "[pool cfgpool]\nregion = a\nblock_size = 1K\nblocks = 4\n", &cfg);
	before = heap_free_bytes(l->heaps[1]);

	assert_int_equal(layout_pool_create(l, "new", 128, 10, 0, 2, NULL, &p), 0);
	assert_non_null(p);
	assert_string_equal(p->name, "new");
	assert_int_equal(p->id, 1);
	assert_int_equal(p->region_id, 1);
	assert_int_equal(p->attr, 2);
	assert_int_equal(p->base, 0);
	assert_int_equal(p->bp.block_size, 128);
	assert_int_equal(p->bp.align, 16);
	assert_int_equal(p->bp.num_blocks, 10);
	assert_int_equal(p->configured, 0);
	assert_ptr_equal(layout_pool_find(l, "new"), p);
	assert_ptr_equal(layout_pool_by_id(l, 1), p);
	assert_int_equal(heap_free_bytes(l->heaps[1]), before - 1280);

	/* A named region wins over the attribute. */
	assert_int_equal(layout_pool_create(l, "named", 4096, 2, 4096, 2, "a", &q), 0);
	assert_int_equal(q->region_id, 0);
	assert_int_equal(q->attr, 0);
	assert_int_equal(q->base, 4096);
	assert_int_equal(q->id, 2);

	/* The first region with room: b is too small, c takes it. */
	assert_int_equal(layout_pool_create(l, "wide", 32 * KiB, 2, 0, 2, NULL, &q), 0);
	assert_int_equal(q->region_id, 2);

	p = NULL;
	assert_int_equal(layout_pool_create(l, "new", 128, 1, 0, 0, NULL, &p), -EEXIST);
	assert_int_equal(layout_pool_create(l, "cfgpool", 128, 1, 0, 0, NULL, &p), -EEXIST);
	assert_int_equal(layout_pool_create(l, "x", 0, 1, 0, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 0, 0, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, 24, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, (uint64_t)2 << 30, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, UINT32_MAX, 0, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, 0, 32, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "", 128, 1, 0, 0, NULL, &p), -EINVAL);
	memset(longname, 'n', CONFIG_NAME_MAX);
	longname[CONFIG_NAME_MAX] = '\0';
	assert_int_equal(layout_pool_create(l, longname, 128, 1, 0, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, NULL, 128, 1, 0, 0, NULL, &p), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, 0, 0, NULL, NULL), -EINVAL);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, 0, 7, NULL, &p), -ENOENT);
	assert_int_equal(layout_pool_create(l, "x", 128, 1, 0, 0, "nope", &p), -ENOENT);
	assert_int_equal(layout_pool_create(l, "x", 2 * MiB, 1, 0, 0, NULL, &p), -ENOMEM);
	assert_int_equal(layout_pool_create(l, "x", 2 * MiB, 1, 0, 0, "c", &p), -ENOMEM);
	assert_int_equal(layout_pool_create(l, "x", UINT64_MAX / 2, 4, 0, 0, NULL, &p), -ENOMEM);
	assert_null(p);
	assert_null(layout_pool_find(l, "x"));
	assert_int_equal(l->npools, 4);
	assert_int_equal(l->next_pool_id, 4);
	layout_destroy(l);
	config_free(&cfg);
}

static void test_pool_destroy(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p;
	uint64_t before, off;
	uint32_t id;

	(void)state;
	l = build("[region a]\nsize = 1M\n"
		  "[pool grouped]\nregion = a\nblock_size = 1K\nblocks = 4\n"
		  "[pool loose]\nregion = a\nblock_size = 1K\nblocks = 4\n"
		  "[group g]\npools = grouped\n", &cfg);
	before = heap_free_bytes(l->heaps[0]);
	assert_int_equal(layout_pool_create(l, "rt", 512, 8, 0, 0, NULL, &p), 0);
	id = p->id;
	assert_int_equal(id, 2);
	assert_int_equal(heap_free_bytes(l->heaps[0]), before - 4096);

	assert_int_equal(layout_pool_destroy(l, "nope"), -ENOENT);
	assert_int_equal(blockpool_alloc(&p->bp, &off), 0);
	assert_int_equal(layout_pool_destroy(l, "rt"), -EBUSY);
	assert_int_equal(blockpool_free(&p->bp, off), 0);
	assert_int_equal(layout_pool_destroy(l, "rt"), 0);
	assert_int_equal(heap_free_bytes(l->heaps[0]), before);
	assert_null(layout_pool_find(l, "rt"));
	assert_null(layout_pool_by_id(l, id));
	assert_int_equal(layout_pool_destroy(l, "rt"), -ENOENT);

	/* A group still lists it. */
	assert_int_equal(layout_pool_destroy(l, "grouped"), -EBUSY);
	/* A configured pool no group uses can go. */
	assert_int_equal(layout_pool_destroy(l, "loose"), 0);
	assert_int_equal(heap_free_bytes(l->heaps[0]), before + 4096);

	/* Ids are not reused; lookups by id still work across the gaps. */
	assert_int_equal(layout_pool_create(l, "rt", 512, 8, 0, 0, NULL, &p), 0);
	assert_int_equal(p->id, 3);
	assert_ptr_equal(layout_pool_by_id(l, 0), layout_pool_find(l, "grouped"));
	assert_ptr_equal(layout_pool_by_id(l, 3), p);
	assert_null(layout_pool_by_id(l, 1));
	assert_null(layout_pool_by_id(l, 2));
	assert_int_equal(layout_pool_destroy(NULL, "rt"), -EINVAL);
	assert_int_equal(layout_pool_destroy(l, NULL), -EINVAL);
	layout_destroy(l);
	config_free(&cfg);
}

static void test_bad_args(void **state)
{
	struct config cfg;
	struct layout *l;

	(void)state;
	assert_int_equal(config_default(&cfg), 0);
	assert_int_equal(layout_build(NULL, &l, err, sizeof(err)), -EINVAL);
	assert_int_equal(layout_build(&cfg, NULL, err, sizeof(err)), -EINVAL);
	config_free(&cfg);
	assert_null(layout_pool_find(NULL, "x"));
	assert_null(layout_pool_by_id(NULL, 0));
	assert_null(layout_group_find(NULL, "x"));
	assert_null(layout_region_find(NULL, "x"));
	assert_null(layout_heap_find(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_pools_carved),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_pools_and_heap_share),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_pool_by_attr),
		cmocka_unit_test(test_group_select),
		cmocka_unit_test(test_pool_create),
		cmocka_unit_test(test_pool_destroy),
		cmocka_unit_test(test_bad_args),
	};

	log_set_level(LOG_LEVEL_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
