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

/* Reloads. */

/* Load text as "test.conf"; the test fails on an error. */
static void load(const char *text, struct config *cfg)
{
	if (config_load_string(text, "test.conf", cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
}

static char report[4096];

/* Reload l with text and return layout_reload's result; the configuration
 * is freed at once, so the layout must keep no pointer into it. */
static int reload(struct layout *l, const char *text, layout_in_use_fn in_use, void *ctx)
{
	struct config cfg;
	int rc;

	load(text, &cfg);
	memset(report, 'x', sizeof(report));
	rc = layout_reload(l, &cfg, in_use, ctx, report, sizeof(report));
	config_free(&cfg);
	return rc;
}

/* Reload, which must succeed with exactly the report expected. */
static void reload_ok(struct layout *l, const char *text, const char *expected)
{
	int rc = reload(l, text, NULL, NULL);

	if (rc != 0)
		fail_msg("reload: %d %s", rc, report);
	assert_string_equal(report, expected);
}

/* Regions a test may mark busy for the in_use callback, and the ids it was
 * asked about, as "0 2 ". */
struct busy {
	uint32_t mask;
	char asked[64];
};

static int busy_in_use(void *ctx, uint32_t region_id)
{
	struct busy *b = ctx;
	size_t n = strlen(b->asked);

	snprintf(b->asked + n, sizeof(b->asked) - n, "%u ", region_id);
	return region_id < 32 && (b->mask & (1u << region_id));
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

#define SNAP_MAX 16

/* What must not change when a reload is refused. */
struct snapshot {
	size_t nregions, nlive, npools, ninstances, ngroups;
	uint32_t next_pool_id;
	struct region *regions;
	int fd[SNAP_MAX];
	void *base[SNAP_MAX];
	struct heap *heap[SNAP_MAX];
	uint64_t heap_free[SNAP_MAX];
	uint32_t order[SNAP_MAX];
	struct layout_pool *pool[SNAP_MAX];
	int retired[SNAP_MAX];
	struct multiheap *instance[SNAP_MAX];
	struct layout_group *groups;
	int fds;
};

static void snapshot_take(const struct layout *l, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	assert_true(l->nregions <= SNAP_MAX && l->npools <= SNAP_MAX && l->ninstances <= SNAP_MAX);
	s->nregions = l->nregions;
	s->nlive = l->nlive;
	s->npools = l->npools;
	s->ninstances = l->ninstances;
	s->ngroups = l->ngroups;
	s->next_pool_id = l->next_pool_id;
	s->regions = l->regions;
	s->groups = l->groups;
	for (size_t i = 0; i < l->nregions; i++) {
		s->fd[i] = l->regions[i].fd;
		s->base[i] = l->regions[i].base;
		s->heap[i] = l->heaps[i];
		s->heap_free[i] = l->heaps[i] ? heap_free_bytes(l->heaps[i]) : 0;
	}
	for (size_t i = 0; i < l->nlive; i++)
		s->order[i] = l->order[i];
	for (size_t i = 0; i < l->npools; i++) {
		s->pool[i] = l->pools[i];
		s->retired[i] = l->pools[i]->retired;
	}
	for (size_t i = 0; i < l->ninstances; i++)
		s->instance[i] = l->instances[i];
	s->fds = count_fds();
}

static void snapshot_check(const struct layout *l, const struct snapshot *s)
{
	struct snapshot now;

	snapshot_take(l, &now);
	assert_int_equal(now.nregions, s->nregions);
	assert_int_equal(now.nlive, s->nlive);
	assert_int_equal(now.npools, s->npools);
	assert_int_equal(now.ninstances, s->ninstances);
	assert_int_equal(now.ngroups, s->ngroups);
	assert_int_equal(now.next_pool_id, s->next_pool_id);
	assert_ptr_equal(now.regions, s->regions);
	assert_ptr_equal(now.groups, s->groups);
	assert_memory_equal(now.fd, s->fd, sizeof(s->fd));
	assert_memory_equal(now.base, s->base, sizeof(s->base));
	assert_memory_equal(now.heap, s->heap, sizeof(s->heap));
	assert_memory_equal(now.heap_free, s->heap_free, sizeof(s->heap_free));
	assert_memory_equal(now.order, s->order, sizeof(s->order));
	assert_memory_equal(now.pool, s->pool, sizeof(s->pool));
	assert_memory_equal(now.retired, s->retired, sizeof(s->retired));
	assert_memory_equal(now.instance, s->instance, sizeof(s->instance));
	assert_int_equal(now.fds, s->fds);
}

static const char reload_conf[] =
	"[daemon]\nsocket = /tmp/shmpool-test.sock\nmax_clients = 8\n"
	"[attributes]\ndma = 2\n"
	"[region a]\nsize = 1M\n"
	"[region b]\nsize = 64K\nattr = dma\n"
	"[heap h]\nregions = b\n"
	"[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
	"[pool q]\nattr = dma\nblock_size = 1K\nblocks = 4\n"
	"[group g]\npools = p, q\nselect = fit\n";

static void test_reload_no_change(void **state)
{
	struct config cfg;
	struct layout *l;
	struct snapshot s;
	struct layout_pool *p, *q;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	p = layout_pool_find(l, "p");
	q = layout_pool_find(l, "q");
	snapshot_take(l, &s);
	reload_ok(l, reload_conf, "");
	/* Same ids, same mappings, same pool objects; only the tables that
	 * hold them were made anew. */
	assert_int_equal(l->nregions, 2);
	assert_int_equal(l->regions[0].fd, s.fd[0]);
	assert_ptr_equal(l->regions[0].base, s.base[0]);
	assert_ptr_equal(l->regions[1].base, s.base[1]);
	assert_ptr_equal(l->heaps[1], s.heap[1]);
	assert_ptr_equal(layout_pool_find(l, "p"), p);
	assert_ptr_equal(layout_pool_find(l, "q"), q);
	assert_int_equal(p->id, 0);
	assert_int_equal(q->id, 1);
	assert_int_equal(p->retired, 0);
	assert_int_equal(l->npools, 2);
	assert_int_equal(l->next_pool_id, 2);
	assert_int_equal(heap_free_bytes(l->heaps[0]), s.heap_free[0]);
	assert_int_equal(heap_free_bytes(l->heaps[1]), s.heap_free[1]);
	assert_int_equal(layout_group_find(l, "g")->npools, 2);
	assert_ptr_equal(layout_group_find(l, "g")->pools[1], q);
	assert_ptr_equal(layout_region_instance(l, 1), layout_heap_find(l, "h"));
	assert_int_equal(count_fds(), s.fds);
	/* Sections in another order and comments are no change either. */
	reload_ok(l, "# reordered\n"
		  "[group g]\nselect = fit\npools = p, q\n"
		  "[pool q]\nblocks = 4\nattr = dma\nblock_size = 1K\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
		  "[heap h]\nregions = b\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nattr = dma\nsize = 64K\n"
		  "[attributes]\ndma = 2\n"
		  "[daemon]\nmax_clients = 8\nsocket = /tmp/shmpool-test.sock\n", "");
	assert_ptr_equal(layout_pool_find(l, "q"), q);
	layout_destroy(l);
}

static void test_reload_add(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p, *r, *s, *t;
	struct layout_group *g;
	char buf[128];

	(void)state;
	l = build("[region a]\nsize = 1M\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n", &cfg);
	config_free(&cfg);
	p = layout_pool_find(l, "p");
	reload_ok(l, "[attributes]\nfast = 5\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = fast\n"
		  "[region c]\nsize = 8K\n"
		  "[heap hb]\nregions = b\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
		  "[pool r]\nregion = a\nblock_size = 4K\nblocks = 2\nalign = 4K\n"
		  "[pool s]\nregion = a\nblock_size = 100\nblocks = 2\n"
		  "[pool t]\nattr = fast\nblock_size = 64\nblocks = 5\nalign = 64\n"
		  "[group g]\npools = t, p, r\nselect = index\n",
		  "region 'b' added (id 1)\n"
		  "region 'c' added (id 2)\n"
		  "pool 'r' added (id 1)\n"
		  "pool 's' added (id 2)\n"
		  "pool 't' added (id 3)\n"
		  "heap 'default' updated\n"
		  "heap 'hb' added\n"
		  "group 'g' added\n");
	assert_int_equal(l->nregions, 3);
	assert_int_equal(l->nlive, 3);
	assert_string_equal(l->regions[1].name, "b");
	assert_int_equal(l->regions[1].id, 1);
	assert_int_equal(l->regions[1].attr, 5);
	assert_int_equal(l->regions[1].size, 64 * KiB);
	assert_true(l->regions[1].fd >= 0);
	assert_int_equal(l->regions[2].id, 2);
	assert_ptr_equal(layout_region_find(l, "c"), &l->regions[2]);

	/* p stays where it was; r goes to the next 4 KiB boundary and s into
	 * the gap r's alignment left behind p. */
	assert_ptr_equal(layout_pool_find(l, "p"), p);
	assert_int_equal(p->base, 0);
	r = layout_pool_find(l, "r");
	assert_int_equal(r->id, 1);
	assert_int_equal(r->region_id, 0);
	assert_int_equal(r->base, 4096);
	assert_int_equal(r->configured, 1);
	assert_int_equal(r->retired, 0);
	s = layout_pool_find(l, "s");
	assert_int_equal(s->id, 2);
	assert_int_equal(s->base, 3024);
	t = layout_pool_find(l, "t");
	assert_int_equal(t->id, 3);
	assert_int_equal(t->region_id, 1);
	assert_int_equal(t->attr, 5);
	assert_int_equal(t->base, 0);
	assert_int_equal(heap_free_bytes(l->heaps[0]), 1 * MiB - 3024 - 224 - 8192);
	assert_int_equal(heap_free_bytes(l->heaps[1]), 64 * KiB - 320);
	assert_int_equal(l->npools, 4);
	assert_int_equal(l->next_pool_id, 4);
	assert_ptr_equal(layout_pool_by_id(l, 3), t);

	assert_int_equal(l->ninstances, 2);
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "0:0 2:0");
	instance_regions(layout_heap_find(l, "hb"), buf, sizeof(buf));
	assert_string_equal(buf, "1:5");
	assert_ptr_equal(layout_region_instance(l, 1), layout_heap_find(l, "hb"));

	g = layout_group_find(l, "g");
	assert_non_null(g);
	assert_int_equal(g->select, CONFIG_SELECT_INDEX);
	assert_int_equal(g->npools, 3);
	assert_ptr_equal(g->pools[0], t);
	assert_ptr_equal(g->pools[1], p);
	assert_ptr_equal(g->pools[2], r);
	layout_destroy(l);
}

/* New regions get ids at the end, but heap instances and placement by
 * attribute follow the order of the new file. */
static void test_reload_file_order(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p;
	char buf[128];

	(void)state;
	l = build("[region a]\nsize = 64K\n[region b]\nsize = 64K\n"
		  "[pool x]\nattr = cacheable\nblock_size = 16K\nblocks = 1\n", &cfg);
	config_free(&cfg);
	assert_int_equal(layout_pool_find(l, "x")->region_id, 0);
	reload_ok(l, "[region z]\nsize = 64K\n[region a]\nsize = 64K\n[region b]\nsize = 64K\n"
		  "[pool x]\nattr = cacheable\nblock_size = 16K\nblocks = 1\n"
		  "[pool y]\nattr = cacheable\nblock_size = 16K\nblocks = 1\n",
		  "region 'z' added (id 2)\n"
		  "pool 'y' added (id 1)\n"
		  "heap 'default' updated\n");
	/* x still qualifies where it is; y goes to z, first in the file. */
	assert_int_equal(layout_pool_find(l, "x")->id, 0);
	assert_int_equal(layout_pool_find(l, "x")->region_id, 0);
	assert_int_equal(layout_pool_find(l, "y")->region_id, 2);
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "2:0 0:0 1:0");
	assert_int_equal(l->nlive, 3);
	assert_int_equal(l->order[0], 2);
	assert_int_equal(l->order[1], 0);
	assert_int_equal(l->order[2], 1);
	/* Run-time pools by attribute take the file's order too. */
	assert_int_equal(layout_pool_create(l, "rt", 16 * KiB, 3, 0, 0, NULL, &p), 0);
	assert_int_equal(p->region_id, 2);
	assert_int_equal(p->base, 16 * KiB);
	assert_int_equal(layout_pool_create(l, "rt2", 16 * KiB, 1, 0, 0, NULL, &p), 0);
	assert_int_equal(p->region_id, 0);
	/* Moving a region to another heap instance keeps its id. */
	reload_ok(l, "[region z]\nsize = 64K\n[region a]\nsize = 64K\n[region b]\nsize = 64K\n"
		  "[heap other]\nregions = b\n"
		  "[pool x]\nattr = cacheable\nblock_size = 16K\nblocks = 1\n"
		  "[pool y]\nattr = cacheable\nblock_size = 16K\nblocks = 1\n",
		  "heap 'default' updated\n"
		  "heap 'other' added\n");
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "2:0 0:0");
	instance_regions(layout_heap_find(l, "other"), buf, sizeof(buf));
	assert_string_equal(buf, "1:0");
	assert_int_equal(l->nregions, 3);
	/* Run-time pools the file does not name stay. */
	assert_non_null(layout_pool_find(l, "rt"));
	assert_int_equal(layout_pool_find(l, "rt")->retired, 0);
	layout_destroy(l);
}

static void test_reload_remove_unused_pool(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *q, *q2, fake;
	uint64_t before;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	q = layout_pool_find(l, "q");
	before = heap_free_bytes(l->heaps[1]);
	reload_ok(l, "[daemon]\nsocket = /tmp/shmpool-test.sock\nmax_clients = 8\n"
		  "[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = dma\n"
		  "[heap h]\nregions = b\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
		  "[group g]\npools = p\nselect = fit\n",
		  "pool 'q' retired (id 1)\n"
		  "group 'g' updated\n");
	/* Retired: out of reach by name, still listed under its id, still
	 * carved. */
	assert_null(layout_pool_find(l, "q"));
	assert_ptr_equal(layout_pool_by_id(l, 1), q);
	assert_int_equal(q->retired, 1);
	assert_int_equal(l->npools, 2);
	assert_int_equal(heap_free_bytes(l->heaps[1]), before);
	assert_int_equal(layout_group_find(l, "g")->npools, 1);
	assert_int_equal(layout_pool_destroy(l, "q"), -ENOENT);
	/* Its name is free again. */
	assert_int_equal(layout_pool_create(l, "q", 64, 1, 0, 2, NULL, &q2), 0);
	assert_int_equal(q2->id, 2);
	assert_ptr_equal(layout_pool_find(l, "q"), q2);

	assert_int_equal(layout_pool_remove(l, q), 0);
	assert_int_equal(l->npools, 2);
	assert_null(layout_pool_by_id(l, 1));
	assert_ptr_equal(layout_pool_by_id(l, 2), q2);
	assert_int_equal(heap_free_bytes(l->heaps[1]), before + 4096 - 64);
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(layout_pool_remove(l, &fake), -ENOENT);
	assert_int_equal(layout_pool_remove(NULL, q2), -EINVAL);
	assert_int_equal(layout_pool_remove(l, NULL), -EINVAL);
	/* A retired pool left in the layout is freed with it. */
	reload_ok(l, "[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n[region b]\nsize = 64K\nattr = dma\n"
		  "[heap h]\nregions = b\n",
		  "[daemon] socket change needs a restart\n"
		  "[daemon] max_clients changed to 1024\n"
		  "pool 'p' retired (id 0)\n"
		  "group 'g' removed\n");
	assert_int_equal(layout_pool_by_id(l, 0)->retired, 1);
	assert_int_equal(l->ngroups, 0);
	layout_destroy(l);
}

static void test_reload_remove_busy_pool(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *p, *q;
	uint64_t off;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	q = layout_pool_find(l, "q");
	assert_int_equal(blockpool_alloc(&q->bp, &off), 0);
	/* A busy pool does not stop a reload: it retires. */
	reload_ok(l, "[daemon]\nsocket = /tmp/shmpool-test.sock\nmax_clients = 8\n"
		  "[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = dma\n"
		  "[heap h]\nregions = b\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n",
		  "pool 'q' retired (id 1)\n"
		  "group 'g' removed\n");
	assert_int_equal(q->retired, 1);
	assert_null(layout_pool_find(l, "q"));
	assert_int_equal(layout_pool_remove(l, q), -EBUSY);
	assert_ptr_equal(layout_pool_by_id(l, 1), q);
	assert_int_equal(blockpool_free(&q->bp, off), 0);
	assert_int_equal(layout_pool_remove(l, q), 0);
	assert_null(layout_pool_by_id(l, 1));
	assert_int_equal(l->npools, 1);

	/* A live pool can be removed too, and leaves its groups. */
	reload_ok(l, reload_conf, "pool 'q' added (id 2)\ngroup 'g' added\n");
	p = layout_pool_find(l, "p");
	assert_int_equal(layout_pool_destroy(l, "p"), -EBUSY);
	assert_int_equal(layout_pool_remove(l, p), 0);
	assert_int_equal(layout_group_find(l, "g")->npools, 1);
	assert_string_equal(layout_group_find(l, "g")->pools[0]->name, "q");
	assert_null(layout_pool_find(l, "p"));
	layout_destroy(l);
}

/* reload_conf with region a at 2 MiB instead of 1 MiB. */
static const char reload_conf_a2[] =
	"[daemon]\nsocket = /tmp/shmpool-test.sock\nmax_clients = 8\n"
	"[attributes]\ndma = 2\n"
	"[region a]\nsize = 2M\n"
	"[region b]\nsize = 64K\nattr = dma\n"
	"[heap h]\nregions = b\n"
	"[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
	"[pool q]\nattr = dma\nblock_size = 1K\nblocks = 4\n"
	"[group g]\npools = p, q\nselect = fit\n";

static void test_reload_region_in_use(void **state)
{
	struct busy b = { .mask = 1u << 0 };
	struct config cfg;
	struct layout *l;
	struct snapshot s;
	uint32_t rid;
	uint64_t off;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	snapshot_take(l, &s);
	assert_int_equal(reload(l, reload_conf_a2, busy_in_use, &b), -EBUSY);
	assert_string_equal(report, "region 'a' is in use; refusing to change it\n");
	assert_string_equal(b.asked, "0 ");
	snapshot_check(l, &s);
	assert_int_equal(l->regions[0].size, 1 * MiB);
	assert_ptr_equal(layout_region_find(l, "a"), &l->regions[0]);

	/* Removing it is refused the same way; the unused b is not asked
	 * about, since it stays. */
	b.asked[0] = '\0';
	assert_int_equal(reload(l, "[attributes]\ndma = 2\n[region b]\nsize = 64K\nattr = dma\n",
				busy_in_use, &b), -EBUSY);
	assert_string_equal(report, "region 'a' is in use; refusing to change it\n");
	assert_string_equal(b.asked, "0 ");
	snapshot_check(l, &s);

	/* Without the callback, a block of one of its pools makes it busy... */
	assert_int_equal(blockpool_alloc(&layout_pool_find(l, "p")->bp, &off), 0);
	assert_int_equal(reload(l, reload_conf_a2, NULL, NULL), -EBUSY);
	assert_string_equal(report, "region 'a' is in use; refusing to change it\n");
	assert_int_equal(blockpool_free(&layout_pool_find(l, "p")->bp, off), 0);
	snapshot_check(l, &s);

	/* ...and so does a multi-heap allocation in it. */
	assert_int_equal(multiheap_alloc(l->instances[0], 0, 0, 100, &rid, &off), 0);
	assert_int_equal(rid, 0);
	snapshot_take(l, &s);
	assert_int_equal(reload(l, reload_conf_a2, NULL, NULL), -EBUSY);
	assert_string_equal(report, "region 'a' is in use; refusing to change it\n");
	snapshot_check(l, &s);
	assert_int_equal(multiheap_free(l->instances[0], rid, off), 0);
	layout_destroy(l);
}

static void test_reload_region_change(void **state)
{
	struct busy b = { .mask = 1u << 1 };
	struct config cfg;
	struct layout *l;
	struct layout_pool *p, *q;
	int old_fd;
	char buf[128];

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	q = layout_pool_find(l, "q");
	old_fd = l->regions[0].fd;
	/* b is busy but stays, so it does not matter. */
	assert_int_equal(reload(l, reload_conf_a2, busy_in_use, &b), 0);
	assert_string_equal(report, "region 'a' changed: id 0 retired, new id 2\n"
				    "pool 'p' re-created: id 0 went with region 'a', new id 2\n"
				    "heap 'default' updated\n"
				    "group 'g' updated\n");
	assert_string_equal(b.asked, "0 ");
	/* The old slot stays, unmapped. */
	assert_int_equal(l->nregions, 3);
	assert_int_equal(l->regions[0].fd, -1);
	assert_null(l->regions[0].base);
	assert_null(l->heaps[0]);
	assert_int_equal(fcntl(old_fd, F_GETFD), -1);
	assert_null(layout_region_instance(l, 0));
	/* The new one. */
	assert_ptr_equal(layout_region_find(l, "a"), &l->regions[2]);
	assert_int_equal(l->regions[2].id, 2);
	assert_int_equal(l->regions[2].size, 2 * MiB);
	assert_true(l->regions[2].fd >= 0);
	assert_non_null(l->regions[2].base);
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "2:0");
	/* Its pool went with it and came back under a new id. */
	assert_null(layout_pool_by_id(l, 0));
	p = layout_pool_find(l, "p");
	assert_int_equal(p->id, 2);
	assert_int_equal(p->region_id, 2);
	assert_int_equal(p->base, 0);
	assert_int_equal(heap_free_bytes(l->heaps[2]), 2 * MiB - 3024);
	assert_ptr_equal(layout_pool_find(l, "q"), q);
	assert_int_equal(l->npools, 2);
	assert_ptr_equal(layout_group_find(l, "g")->pools[0], p);
	assert_int_equal(layout_pool_create(l, "x", 64, 1, 0, 0, NULL, &p), 0);
	assert_int_equal(p->region_id, 2);

	/* Remove b, then bring it back: ids are never reused. */
	b.mask = 0;
	reload_ok(l, "[region a]\nsize = 2M\n",
		  "[daemon] socket change needs a restart\n"
		  "[daemon] max_clients changed to 1024\n"
		  "region 'b' retired (id 1)\n"
		  "pool 'q' (id 1) removed with region 'b'\n"
		  "pool 'p' retired (id 2)\n"
		  "heap 'h' removed\n"
		  "group 'g' removed\n");
	assert_null(layout_region_find(l, "b"));
	assert_int_equal(l->regions[1].fd, -1);
	assert_int_equal(l->nlive, 1);
	assert_null(layout_pool_by_id(l, 1));
	assert_int_equal(layout_pool_create(l, "y", 64, 1, 0, 2, NULL, &p), -ENOENT);
	reload_ok(l, "[attributes]\ndma = 2\n[region a]\nsize = 2M\n"
		  "[region b]\nsize = 64K\nattr = dma\n",
		  "region 'b' added (id 3)\n"
		  "heap 'default' updated\n");
	assert_ptr_equal(layout_region_find(l, "b"), &l->regions[3]);
	assert_int_equal(l->nregions, 4);
	instance_regions(l->instances[0], buf, sizeof(buf));
	assert_string_equal(buf, "2:0 3:2");
	layout_destroy(l);
}

static void test_reload_map_fails(void **state)
{
	struct config cfg, hcfg;
	struct region probe;
	struct layout *l;
	struct snapshot s;
	char msg[512], expect[600];
	int rc;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	snapshot_take(l, &s);
	/* a would change and be mapped anew first; f then fails, and a
	 * stays as it was. */
	assert_int_equal(reload(l, "[region a]\nsize = 2M\n"
				"[region f]\nsize = 64K\nbacking = file\npath = /nonexistent-dir/x\n"
				"[pool n]\nregion = a\nblock_size = 64\nblocks = 1\n",
				NULL, NULL), -ENOENT);
	assert_string_equal(report,
			    "test.conf:3: region 'f': /nonexistent-dir/x: No such file or directory\n");
	snapshot_check(l, &s);
	assert_int_equal(l->regions[0].size, 1 * MiB);
	assert_null(layout_pool_find(l, "n"));
	assert_int_equal(layout_pool_find(l, "p")->retired, 0);
	assert_int_equal(fcntl(s.fd[0], F_GETFD), FD_CLOEXEC);

	/* A device that is not there. */
	assert_int_equal(reload(l, "[region a]\nsize = 1M\n"
				"[region d]\nsize = 64K\nbacking = file\n"
				"path = /dev/shmpool-test-missing\n", NULL, NULL), -ENOENT);
	assert_string_equal(report, "test.conf:3: region 'd': /dev/shmpool-test-missing: "
				    "No such file or directory\n");
	snapshot_check(l, &s);

	/* Huge pages that are required but not there, when that is so here. */
	load("[region big]\nsize = 2M\nbacking = hugetlb\nhugepages = require\n", &hcfg);
	rc = region_map(&hcfg.regions[0], 0, &probe, msg, sizeof(msg));
	config_free(&hcfg);
	if (rc == 0) {
		region_unmap(&probe);
		print_message("huge pages are available here; not testing their absence\n");
	} else {
		snprintf(expect, sizeof(expect), "test.conf:3: %s\n", msg);
		assert_int_equal(reload(l, "[region a]\nsize = 1M\n"
					"[region big]\nsize = 2M\nbacking = hugetlb\nhugepages = require\n",
					NULL, NULL), rc);
		assert_string_equal(report, expect);
		snapshot_check(l, &s);
	}
	layout_destroy(l);
}

static void test_reload_no_room(void **state)
{
	struct config cfg;
	struct layout *l;
	struct snapshot s;
	struct layout_pool *p, *p2;

	(void)state;
	l = build("[region a]\nsize = 64K\n"
		  "[pool p]\nregion = a\nblock_size = 16K\nblocks = 3\n", &cfg);
	config_free(&cfg);
	p = layout_pool_find(l, "p");
	snapshot_take(l, &s);
	/* The old p keeps its 48 KiB until it is removed, so the new one has
	 * only 16 KiB.  c is mapped and q carved before p fails. */
	assert_int_equal(reload(l, "[region a]\nsize = 64K\n[region c]\nsize = 64K\n"
				"[pool q]\nregion = c\nblock_size = 1K\nblocks = 1\n"
				"[pool q2]\nregion = a\nblock_size = 1K\nblocks = 1\n"
				"[pool p]\nregion = a\nblock_size = 16K\nblocks = 2\n"
				"[group g]\npools = q, p\n", NULL, NULL), -ENOMEM);
	assert_string_equal(report, "pool 'p': not enough room in region 'a'\n");
	snapshot_check(l, &s);
	assert_int_equal(p->retired, 0);
	assert_null(layout_pool_find(l, "q"));
	assert_null(layout_region_find(l, "c"));
	assert_int_equal(heap_free_bytes(l->heaps[0]), 16 * KiB);

	/* By attribute. */
	assert_int_equal(reload(l, "[region a]\nsize = 64K\n"
				"[pool p]\nregion = a\nblock_size = 16K\nblocks = 3\n"
				"[pool z]\nattr = 0\nblock_size = 32K\nblocks = 1\n", NULL, NULL),
			 -ENOMEM);
	assert_string_equal(report,
			    "pool 'z': not enough room in any region with attribute 'cacheable'\n");
	snapshot_check(l, &s);

	/* With the room there, the change goes through, and the old p waits
	 * for its removal. */
	reload_ok(l, "[region a]\nsize = 64K\n"
		  "[pool p]\nregion = a\nblock_size = 8K\nblocks = 2\n",
		  "pool 'p' changed: id 0 retired, new id 1\n");
	p2 = layout_pool_find(l, "p");
	assert_int_equal(p2->id, 1);
	assert_int_equal(p2->base, 48 * KiB);
	assert_int_equal(p->retired, 1);
	assert_ptr_equal(layout_pool_by_id(l, 0), p);
	assert_int_equal(layout_pool_remove(l, p), 0);
	assert_int_equal(heap_free_bytes(l->heaps[0]), 48 * KiB);
	layout_destroy(l);
}

static void test_reload_daemon_keys(void **state)
{
	struct config cfg;
	struct layout *l;

	(void)state;
	l = build(reload_conf, &cfg);
	config_free(&cfg);
	reload_ok(l, "[daemon]\nsocket = /tmp/other.sock\nsocket_mode = 0600\nsocket_group = root\n"
		  "max_clients = 9\nlog_level = debug\n"
		  "[attributes]\ndma = 2\n"
		  "[region a]\nsize = 1M\n"
		  "[region b]\nsize = 64K\nattr = dma\n"
		  "[heap h]\nregions = b\n"
		  "[pool p]\nregion = a\nblock_size = 1000\nblocks = 3\n"
		  "[pool q]\nattr = dma\nblock_size = 1K\nblocks = 4\n"
		  "[group g]\npools = p, q\nselect = fit\n",
		  "[daemon] socket change needs a restart\n"
		  "[daemon] socket_group change needs a restart\n"
		  "[daemon] socket_mode changed to 0600\n"
		  "[daemon] max_clients changed to 9\n"
		  "[daemon] log_level changed to debug\n");
	assert_string_equal(l->daemon.socket, "/tmp/other.sock");
	assert_int_equal(l->daemon.max_clients, 9);
	layout_destroy(l);
}

/* A pool made at run time that the file then names. */
static void test_reload_adopts_runtime_pool(void **state)
{
	struct config cfg;
	struct layout *l;
	struct layout_pool *rt, *rt2;

	(void)state;
	l = build("[region a]\nsize = 1M\n", &cfg);
	config_free(&cfg);
	assert_int_equal(layout_pool_create(l, "rt", 128, 4, 0, 0, "a", &rt), 0);
	assert_int_equal(layout_pool_create(l, "rt2", 128, 4, 0, 0, "a", &rt2), 0);
	reload_ok(l, "[region a]\nsize = 1M\n"
		  "[pool rt]\nregion = a\nblock_size = 128\nblocks = 4\n"
		  "[pool rt2]\nregion = a\nblock_size = 128\nblocks = 5\n",
		  "pool 'rt' (id 0) is now in the configuration\n"
		  "pool 'rt2' changed: id 1 retired, new id 2\n");
	assert_ptr_equal(layout_pool_find(l, "rt"), rt);
	assert_int_equal(rt->configured, 1);
	assert_int_equal(rt2->retired, 1);
	/* Now the file's, it goes when the file drops it. */
	reload_ok(l, "[region a]\nsize = 1M\n",
		  "pool 'rt' retired (id 0)\npool 'rt2' retired (id 2)\n");
	layout_destroy(l);
}

static void test_reload_bad_args(void **state)
{
	struct config cfg;
	struct layout *l;

	(void)state;
	l = build("[region a]\nsize = 64K\n", &cfg);
	assert_int_equal(layout_reload(NULL, &cfg, NULL, NULL, report, sizeof(report)), -EINVAL);
	assert_int_equal(layout_reload(l, NULL, NULL, NULL, report, sizeof(report)), -EINVAL);
	assert_int_equal(layout_reload(l, &cfg, NULL, NULL, NULL, 10), -EINVAL);
	/* No report wanted. */
	assert_int_equal(layout_reload(l, &cfg, NULL, NULL, NULL, 0), 0);
	/* A short report is cut, and still a string. */
	config_free(&cfg);
	load("[region a]\nsize = 64K\n[region bb]\nsize = 64K\n", &cfg);
	assert_int_equal(layout_reload(l, &cfg, NULL, NULL, report, 10), 0);
	assert_string_equal(report, "region 'b");
	config_free(&cfg);
	layout_destroy(l);
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
		cmocka_unit_test(test_reload_no_change),
		cmocka_unit_test(test_reload_add),
		cmocka_unit_test(test_reload_file_order),
		cmocka_unit_test(test_reload_remove_unused_pool),
		cmocka_unit_test(test_reload_remove_busy_pool),
		cmocka_unit_test(test_reload_region_in_use),
		cmocka_unit_test(test_reload_region_change),
		cmocka_unit_test(test_reload_map_fails),
		cmocka_unit_test(test_reload_no_room),
		cmocka_unit_test(test_reload_daemon_keys),
		cmocka_unit_test(test_reload_adopts_runtime_pool),
		cmocka_unit_test(test_reload_bad_args),
	};

	log_set_level(LOG_LEVEL_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
