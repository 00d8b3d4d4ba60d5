/*
 * test_config: the configuration parser, its defaults, its errors and the
 * print/load round trip.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
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

#define MiB ((uint64_t)1 << 20)

static char err[1024];

/* Load text as "test.conf"; the test fails with the message on error. */
static void load_ok(const char *text, struct config *cfg)
{
	int rc = config_load_string(text, "test.conf", cfg, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error %d: %s", rc, err);
}

/* Load text that must fail with exactly msg. */
static void load_fails(const char *text, const char *msg)
{
	struct config cfg;
	int rc = config_load_string(text, "test.conf", &cfg, err, sizeof(err));

	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, msg);
}

static void test_default(void **state)
{
	struct config cfg;
	const struct config_region *r;

	(void)state;
	assert_int_equal(config_default(&cfg), 0);
	assert_string_equal(cfg.path, "<built-in>");
	assert_null(cfg.daemon.socket);
	assert_int_equal(cfg.daemon.socket_mode, 0660);
	assert_null(cfg.daemon.socket_group);
	assert_null(cfg.daemon.admin_group);
	assert_int_equal(cfg.daemon.max_clients, 1024);
	assert_int_equal(cfg.daemon.log_level, LOG_LEVEL_NOTICE);
	assert_int_equal(cfg.nattrs, 0);
	assert_int_equal(cfg.nregions, 1);
	assert_int_equal(cfg.nheaps, 0);
	assert_int_equal(cfg.npools, 0);
	assert_int_equal(cfg.ngroups, 0);
	r = &cfg.regions[0];
	assert_string_equal(r->name, "default");
	assert_int_equal(r->size, 64 * MiB);
	assert_int_equal(r->backing, CONFIG_BACKING_MEMFD);
	assert_null(r->path);
	assert_int_equal(r->attr, CONFIG_ATTR_CACHEABLE);
	assert_int_equal(r->lock, 0);
	assert_int_equal(r->prefault, 0);
	assert_int_equal(r->sync, 0);
	assert_int_equal(r->numa_node, CONFIG_NO_NUMA_NODE);
	assert_string_equal(r->heap, "default");
	assert_int_equal(r->scrub, CONFIG_SCRUB_CROSS_UID);
	assert_true(config_acl_empty(&r->acl));
	assert_null(r->acl.allow_users);
	assert_null(r->acl.read_only_groups);
	assert_int_equal(cfg.limits.max_clients_per_uid, 0);
	assert_int_equal(cfg.limits.max_bytes_per_client, 0);
	assert_int_equal(cfg.limits.max_blocks_per_client, 0);
	assert_int_equal(cfg.limits.max_waits_per_client, 64);
	assert_int_equal(cfg.limits.max_message_size, 65536);
	assert_null(config_heap_find(&cfg, "default"));
	config_free(&cfg);
}

static void test_daemon_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("[daemon]\n"
		"socket = /run/test/shmpool.sock\n"
		"socket_mode = 0600\n"
		"socket_group = shmusers\n"
		"admin_group = shmadmin\n"
		"max_clients = 17\n"
		"log_level = debug\n"
		"free_ring = no\n", &cfg);
	assert_string_equal(cfg.daemon.socket, "/run/test/shmpool.sock");
	assert_int_equal(cfg.daemon.socket_mode, 0600);
	assert_string_equal(cfg.daemon.socket_group, "shmusers");
	assert_string_equal(cfg.daemon.admin_group, "shmadmin");
	assert_int_equal(cfg.daemon.max_clients, 17);
	assert_int_equal(cfg.daemon.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.daemon.free_ring, 0);
	assert_int_equal(cfg.nregions, 0);
	config_free(&cfg);

	load_ok("[daemon]\nsocket_mode = 660\nlog_level = error\n", &cfg);
	assert_int_equal(cfg.daemon.socket_mode, 0660);
	assert_int_equal(cfg.daemon.log_level, LOG_LEVEL_ERROR);
	assert_int_equal(cfg.daemon.free_ring, 1);
	config_free(&cfg);
}

static void test_daemon_defaults(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("[daemon]\n", &cfg);
	assert_null(cfg.daemon.socket);
	assert_int_equal(cfg.daemon.socket_mode, 0660);
	assert_null(cfg.daemon.socket_group);
	assert_null(cfg.daemon.admin_group);
	assert_int_equal(cfg.daemon.max_clients, 1024);
	assert_int_equal(cfg.daemon.log_level, LOG_LEVEL_NOTICE);
	config_free(&cfg);

	load_ok("", &cfg);
	assert_int_equal(cfg.daemon.max_clients, 1024);
	assert_int_equal(cfg.nregions, 0);
	config_free(&cfg);
}

static void test_region_keys(void **state)
{
	struct config cfg;
	const struct config_region *r;

	(void)state;
	load_ok("[attributes]\n"
		"dma = 5\n"
		"[region a]\n"
		"size = 16M\n"
		"backing = file\n"
		"path = /dev/udmabuf0\n"
		"attr = dma\n"
		"sync = yes\n"
		"lock = true\n"
		"prefault = on\n"
		"numa_node = 1\n"
		"[region b]\n"
		"size = 4096\n"
		"backing = hugetlb\n"
		"attr = non-cacheable\n"
		"hugepages = require\n"
		"page_size = 1G\n"
		"lock = 0\n"
		"prefault = off\n"
		"[region c]\n"
		"size = 1G\n"
		"backing = shm\n"
		"path = /my-object\n"
		"attr = 7\n"
		"[region d]\n"
		"size = 3K\n"
		"backing = memfd\n"
		"attr = cacheable\n", &cfg);
	assert_int_equal(cfg.nregions, 4);

	r = &cfg.regions[0];
	assert_string_equal(r->name, "a");
	assert_int_equal(r->line, 3);
	assert_int_equal(r->size, 16 * MiB);
	assert_int_equal(r->backing, CONFIG_BACKING_FILE);
	assert_string_equal(r->path, "/dev/udmabuf0");
	assert_int_equal(r->attr, 5);
	assert_int_equal(r->sync, 1);
	assert_int_equal(r->lock, 1);
	assert_int_equal(r->prefault, 1);
	assert_int_equal(r->numa_node, 1);

	r = &cfg.regions[1];
	assert_string_equal(r->name, "b");
	assert_int_equal(r->line, 12);
	assert_int_equal(r->size, 4096);
	assert_int_equal(r->backing, CONFIG_BACKING_HUGETLB);
	assert_null(r->path);
	assert_int_equal(r->attr, CONFIG_ATTR_NON_CACHEABLE);
	assert_int_equal(r->hugepages, CONFIG_HUGEPAGES_REQUIRE);
	assert_int_equal(r->page_size, (uint64_t)1 << 30);
	assert_int_equal(r->lock, 0);
	assert_int_equal(r->prefault, 0);
	assert_int_equal(r->numa_node, CONFIG_NO_NUMA_NODE);

	r = &cfg.regions[2];
	assert_int_equal(r->size, (uint64_t)1 << 30);
	assert_int_equal(r->backing, CONFIG_BACKING_SHM);
	assert_string_equal(r->path, "/my-object");
	assert_int_equal(r->attr, 7);

	r = &cfg.regions[3];
	assert_int_equal(r->size, 3072);
	assert_int_equal(r->backing, CONFIG_BACKING_MEMFD);
	assert_int_equal(r->attr, CONFIG_ATTR_CACHEABLE);
	config_free(&cfg);
}

static void test_region_defaults(void **state)
{
	struct config cfg;
	const struct config_region *r;

	(void)state;
	load_ok("[region m]\nsize = 1M\n"
		"[region h]\nsize = 2M\nbacking = hugetlb\n"
		"[region s]\nsize = 1M\nbacking = shm\n"
		"[region f]\nsize = 1M\nbacking = file\npath = /tmp/x\n", &cfg);
	for (size_t i = 0; i < cfg.nregions; i++) {
		r = &cfg.regions[i];
		assert_int_equal(r->attr, CONFIG_ATTR_CACHEABLE);
		assert_int_equal(r->hugepages, CONFIG_HUGEPAGES_PREFER);
		assert_int_equal(r->page_size, 2 * MiB);
		assert_int_equal(r->sync, 0);
		assert_int_equal(r->lock, 0);
		assert_int_equal(r->prefault, 0);
		assert_int_equal(r->numa_node, CONFIG_NO_NUMA_NODE);
		assert_string_equal(r->heap, "default");
	}
	assert_int_equal(cfg.regions[0].backing, CONFIG_BACKING_MEMFD);
	assert_null(cfg.regions[0].path);
	assert_int_equal(cfg.regions[1].backing, CONFIG_BACKING_HUGETLB);
	assert_null(cfg.regions[1].path);
	/* A shm region without a path gets its object name from its name. */
	assert_string_equal(cfg.regions[2].path, "/shmpool.s");
	assert_string_equal(cfg.regions[3].path, "/tmp/x");
	config_free(&cfg);
}

static void test_attributes(void **state)
{
	struct config cfg;
	uint32_t attr = 99;

	(void)state;
	load_ok("[attributes]\ndma = 2\nfast = 31\nslow-mem = 9\n", &cfg);
	assert_int_equal(cfg.nattrs, 3);
	assert_string_equal(cfg.attrs[0].name, "dma");
	assert_int_equal(cfg.attrs[0].value, 2);
	assert_int_equal(cfg.attrs[0].line, 2);
	assert_string_equal(cfg.attrs[1].name, "fast");
	assert_int_equal(cfg.attrs[1].value, 31);
	assert_string_equal(cfg.attrs[2].name, "slow-mem");
	assert_int_equal(cfg.attrs[2].value, 9);

	assert_int_equal(config_attr_parse(&cfg, "fast", &attr), 0);
	assert_int_equal(attr, 31);
	assert_int_equal(config_attr_parse(&cfg, "cacheable", &attr), 0);
	assert_int_equal(attr, 0);
	assert_int_equal(config_attr_parse(&cfg, "non-cacheable", &attr), 0);
	assert_int_equal(attr, 1);
	assert_int_equal(config_attr_parse(&cfg, "17", &attr), 0);
	assert_int_equal(attr, 17);
	attr = 99;
	assert_int_equal(config_attr_parse(&cfg, "32", &attr), -EINVAL);
	assert_int_equal(config_attr_parse(&cfg, "nope", &attr), -EINVAL);
	assert_int_equal(config_attr_parse(&cfg, "", &attr), -EINVAL);
	assert_int_equal(attr, 99);

	assert_string_equal(config_attr_name(&cfg, 0), "cacheable");
	assert_string_equal(config_attr_name(&cfg, 1), "non-cacheable");
	assert_string_equal(config_attr_name(&cfg, 9), "slow-mem");
	assert_null(config_attr_name(&cfg, 3));
	config_free(&cfg);
}

static void test_heap_pool_group_keys(void **state)
{
	struct config cfg;
	const struct config_heap *h;
	const struct config_pool *p;
	const struct config_group *g;

	(void)state;
	load_ok("[attributes]\n"
		"dma = 2\n"
		"[region a]\nsize = 1M\n"
		"[region b]\nsize = 1M\nattr = dma\n"
		"[region c]\nsize = 1M\n"
		"[heap fast]\n"
		"regions = c, a\n"
		"[pool small]\n"
		"region = a\n"
		"block_size = 64\n"
		"blocks = 100\n"
		"align = 64\n"
		"[pool dmabuf]\n"
		"attr = dma\n"
		"block_size = 4K\n"
		"blocks = 3\n"
		"[group all]\n"
		"pools = small,dmabuf\n"
		"select = fit\n"
		"[group first]\n"
		"pools = dmabuf\n", &cfg);

	assert_int_equal(cfg.nheaps, 1);
	h = config_heap_find(&cfg, "fast");
	assert_non_null(h);
	assert_int_equal(h->nregions, 2);
	assert_string_equal(h->regions[0], "c");
	assert_string_equal(h->regions[1], "a");
	assert_string_equal(cfg.regions[0].heap, "fast");
	assert_string_equal(cfg.regions[1].heap, "default");
	assert_string_equal(cfg.regions[2].heap, "fast");

	assert_int_equal(cfg.npools, 2);
	p = config_pool_find(&cfg, "small");
	assert_non_null(p);
	assert_int_equal(p->by_attr, 0);
	assert_string_equal(p->region, "a");
	assert_int_equal(p->block_size, 64);
	assert_int_equal(p->blocks, 100);
	assert_int_equal(p->align, 64);
	p = config_pool_find(&cfg, "dmabuf");
	assert_non_null(p);
	assert_int_equal(p->by_attr, 1);
	assert_string_equal(p->region, "");
	assert_int_equal(p->attr, 2);
	assert_int_equal(p->block_size, 4096);
	assert_int_equal(p->blocks, 3);
	assert_int_equal(p->align, 16);

	assert_int_equal(cfg.ngroups, 2);
	g = config_group_find(&cfg, "all");
	assert_non_null(g);
	assert_int_equal(g->npools, 2);
	assert_string_equal(g->pools[0], "small");
	assert_string_equal(g->pools[1], "dmabuf");
	assert_int_equal(g->select, CONFIG_SELECT_FIT);
	g = config_group_find(&cfg, "first");
	assert_int_equal(g->select, CONFIG_SELECT_INDEX);
	assert_null(config_group_find(&cfg, "none"));
	assert_null(config_pool_find(&cfg, "none"));
	assert_null(config_region_find(&cfg, "none"));
	assert_non_null(config_region_find(&cfg, "b"));
	config_free(&cfg);

	load_ok("[region a]\nsize=1M\n[pool p]\nattr=cacheable\nblock_size=1\nblocks=1\n"
		"[group g]\npools=p\nselect=attr\n[group i]\npools=p\nselect=index\n", &cfg);
	assert_int_equal(cfg.groups[0].select, CONFIG_SELECT_ATTR);
	assert_int_equal(cfg.groups[1].select, CONFIG_SELECT_INDEX);
	assert_int_equal(cfg.pools[0].attr, 0);
	assert_int_equal(cfg.pools[0].by_attr, 1);
	config_free(&cfg);
}

/* ids[0..n) are exactly the n values that follow. */
static void assert_ids(const unsigned int *ids, size_t n, size_t want_n, ...)
{
	va_list ap;

	assert_int_equal(n, want_n);
	va_start(ap, want_n);
	for (size_t i = 0; i < want_n; i++)
		assert_int_equal(ids[i], va_arg(ap, unsigned int));
	va_end(ap);
}

static void test_acl_keys(void **state)
{
	struct config cfg;
	const struct config_region *r;
	const struct config_pool *p;
	const struct config_heap *h;

	(void)state;
	load_ok("[region r0]\n"
		"size = 1M\n"
		"allow_users = root, 1000\n"
		"allow_groups = nogroup\n"
		"read_only_users = nobody,\n"
		"    4000000000, 0000017 ; leading zeros are still decimal\n"
		"read_only_groups = 0, 65534, 7\n"
		"scrub = always\n"
		"[region r1]\n"
		"size = 1M\n"
		"scrub = never\n"
		"[region r2]\n"
		"size = 1M\n"
		"scrub = cross-uid\n"
		"allow_groups = root\n"
		"[pool p]\n"
		"region = r0\n"
		"block_size = 64\n"
		"blocks = 10\n"
		"allow_users = nobody\n"
		"read_only_groups = root\n"
		"max_blocks_per_client = 3\n"
		"cache = 64\n"
		"[heap h]\n"
		"regions = r1\n"
		"read_only_users = 0\n"
		"allow_users = 65534\n"
		"max_bytes_per_client = 4M\n", &cfg);

	r = config_region_find(&cfg, "r0");
	assert_non_null(r);
	assert_ids(r->acl.allow_users, r->acl.nallow_users, 2, 0u, 1000u);
	assert_ids(r->acl.allow_groups, r->acl.nallow_groups, 1, 65534u);
	assert_ids(r->acl.read_only_users, r->acl.nread_only_users, 3, 65534u, 4000000000u, 17u);
	assert_ids(r->acl.read_only_groups, r->acl.nread_only_groups, 3, 0u, 65534u, 7u);
	assert_int_equal(r->scrub, CONFIG_SCRUB_ALWAYS);
	assert_false(config_acl_empty(&r->acl));

	r = config_region_find(&cfg, "r1");
	assert_int_equal(r->scrub, CONFIG_SCRUB_NEVER);
	assert_true(config_acl_empty(&r->acl));
	assert_null(r->acl.allow_users);
	assert_null(r->acl.allow_groups);
	assert_null(r->acl.read_only_users);
	assert_null(r->acl.read_only_groups);

	r = config_region_find(&cfg, "r2");
	assert_int_equal(r->scrub, CONFIG_SCRUB_CROSS_UID);
	assert_ids(r->acl.allow_groups, r->acl.nallow_groups, 1, 0u);
	assert_int_equal(r->acl.nallow_users, 0);
	assert_false(config_acl_empty(&r->acl));

	p = config_pool_find(&cfg, "p");
	assert_non_null(p);
	assert_ids(p->acl.allow_users, p->acl.nallow_users, 1, 65534u);
	assert_ids(p->acl.read_only_groups, p->acl.nread_only_groups, 1, 0u);
	assert_int_equal(p->acl.nallow_groups, 0);
	assert_int_equal(p->acl.nread_only_users, 0);
	assert_int_equal(p->max_blocks_per_client, 3);
	assert_int_equal(p->cache, 64);

	h = config_heap_find(&cfg, "h");
	assert_non_null(h);
	assert_ids(h->acl.read_only_users, h->acl.nread_only_users, 1, 0u);
	assert_ids(h->acl.allow_users, h->acl.nallow_users, 1, 65534u);
	assert_int_equal(h->acl.nallow_groups, 0);
	assert_int_equal(h->acl.nread_only_groups, 0);
	assert_int_equal(h->max_bytes_per_client, 4 * MiB);
	/* The undeclared default instance has no access list and no limit. */
	assert_null(config_heap_find(&cfg, "default"));
	config_free(&cfg);

	/* The largest id, and a list that continues over several lines. */
	load_ok("[region r]\nsize = 1M\nallow_users = 4294967294,\n  root,\n\tnobody\n", &cfg);
	assert_ids(cfg.regions[0].acl.allow_users, cfg.regions[0].acl.nallow_users, 3,
		   4294967294u, 0u, 65534u);
	config_free(&cfg);
}

static void test_hardening_defaults(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		"[heap h]\nregions = r\n", &cfg);
	assert_int_equal(cfg.regions[0].scrub, CONFIG_SCRUB_CROSS_UID);
	assert_true(config_acl_empty(&cfg.regions[0].acl));
	assert_true(config_acl_empty(&cfg.pools[0].acl));
	assert_int_equal(cfg.pools[0].max_blocks_per_client, 0);
	assert_int_equal(cfg.pools[0].cache, 0);
	assert_true(config_acl_empty(&cfg.heaps[0].acl));
	assert_int_equal(cfg.heaps[0].max_bytes_per_client, 0);
	assert_int_equal(cfg.limits.max_clients_per_uid, 0);
	assert_int_equal(cfg.limits.max_bytes_per_client, 0);
	assert_int_equal(cfg.limits.max_blocks_per_client, 0);
	assert_int_equal(cfg.limits.max_waits_per_client, CONFIG_DEFAULT_MAX_WAITS);
	assert_int_equal(cfg.limits.max_message_size, CONFIG_DEFAULT_MAX_MESSAGE);
	config_free(&cfg);

	/* An empty [limits] is the defaults too. */
	load_ok("[limits]\n", &cfg);
	assert_int_equal(cfg.daemon.max_clients, 1024);
	assert_int_equal(cfg.limits.max_waits_per_client, 64);
	assert_int_equal(cfg.limits.max_message_size, 65536);
	config_free(&cfg);
}

static void test_limits_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("[limits]\n"
		"max_clients = 99\n"
		"max_clients_per_uid = 5\n"
		"max_bytes_per_client = 256M\n"
		"max_blocks_per_client = 1000\n"
		"max_waits_per_client = 65536\n"
		"max_message_size = 4K\n", &cfg);
	assert_int_equal(cfg.daemon.max_clients, 99);
	assert_int_equal(cfg.limits.max_clients_per_uid, 5);
	assert_int_equal(cfg.limits.max_bytes_per_client, 256 * MiB);
	assert_int_equal(cfg.limits.max_blocks_per_client, 1000);
	assert_int_equal(cfg.limits.max_waits_per_client, 65536);
	assert_int_equal(cfg.limits.max_message_size, 4096);
	config_free(&cfg);

	load_ok("[daemon]\nlog_level = info\n[limits]\nmax_clients_per_uid = 1000000\n"
		"max_bytes_per_client = 12345\nmax_blocks_per_client = 4294967294\n"
		"max_waits_per_client = 1\nmax_message_size = 256\n", &cfg);
	assert_int_equal(cfg.daemon.max_clients, 1024);
	assert_int_equal(cfg.limits.max_clients_per_uid, 1000000);
	assert_int_equal(cfg.limits.max_bytes_per_client, 12345);
	assert_int_equal(cfg.limits.max_blocks_per_client, 4294967294u);
	assert_int_equal(cfg.limits.max_waits_per_client, 1);
	assert_int_equal(cfg.limits.max_message_size, 256);
	config_free(&cfg);

	load_ok("[limits]\nmax_message_size = 65536\nmax_bytes_per_client = 0\n"
		"[pool p]\nregion = r\nblock_size = 1\nblocks = 1\nmax_blocks_per_client = 4294967294\n"
		"[region r]\nsize = 1M\n[heap h]\nregions = r\nmax_bytes_per_client = 1T\n", &cfg);
	assert_int_equal(cfg.limits.max_message_size, 65536);
	assert_int_equal(cfg.pools[0].max_blocks_per_client, 4294967294u);
	assert_int_equal(cfg.heaps[0].max_bytes_per_client, (uint64_t)1 << 40);
	config_free(&cfg);
}

static void test_acl_check(void **state)
{
	static const uid_t users[] = { 1000, 1001 };
	static const gid_t groups[] = { 50 };
	static const uid_t ro_users[] = { 2000, 1001 };
	static const gid_t ro_groups[] = { 60, 61 };
	static const gid_t none_of_them[] = { 1, 2, 3 };
	static const gid_t supp_rw[] = { 7, 50 };
	static const gid_t supp_ro[] = { 61 };
	static const gid_t supp_both[] = { 60, 50 };
	struct config_acl empty = { 0 };
	struct config_acl acl = {
		.allow_users = (uid_t *)users, .nallow_users = 2,
		.allow_groups = (gid_t *)groups, .nallow_groups = 1,
		.read_only_users = (uid_t *)ro_users, .nread_only_users = 2,
		.read_only_groups = (gid_t *)ro_groups, .nread_only_groups = 2,
	};
	struct config_acl ro_only = {
		.read_only_users = (uid_t *)ro_users, .nread_only_users = 2,
	};
	static const struct {
		uid_t uid;
		gid_t gid;
		const gid_t *groups;
		size_t ngroups;
		int want;
	} cases[] = {
		{ 1000, 9, NULL, 0, CONFIG_ACCESS_RW },                 /* allow_users */
		{ 1001, 9, NULL, 0, CONFIG_ACCESS_RW },                 /* allow wins over read-only */
		{ 3000, 50, NULL, 0, CONFIG_ACCESS_RW },                /* primary group allowed */
		{ 3000, 9, supp_rw, 2, CONFIG_ACCESS_RW },              /* supplementary allowed */
		{ 3000, 60, supp_rw, 2, CONFIG_ACCESS_RW },             /* rw group beats ro group */
		{ 3000, 9, supp_both, 2, CONFIG_ACCESS_RW },
		{ 2000, 9, NULL, 0, CONFIG_ACCESS_READ },               /* read_only_users */
		{ 3000, 60, NULL, 0, CONFIG_ACCESS_READ },              /* primary group read-only */
		{ 3000, 9, supp_ro, 1, CONFIG_ACCESS_READ },            /* supplementary read-only */
		{ 3000, 9, none_of_them, 3, CONFIG_ACCESS_NONE },
		{ 0, 0, NULL, 0, CONFIG_ACCESS_NONE },                  /* root is not special */
		{ 3000, 9, NULL, 0, CONFIG_ACCESS_NONE },
		{ 3000, 9, NULL, 5, CONFIG_ACCESS_NONE },               /* no groups array */
		{ 50, 1000, NULL, 0, CONFIG_ACCESS_NONE },              /* uids and gids apart */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = config_acl_check(&acl, cases[i].uid, cases[i].gid, cases[i].groups,
					   cases[i].ngroups);

		if (got != cases[i].want)
			fail_msg("case %zu: uid %u gid %u: %d, expected %d", i, (unsigned)cases[i].uid,
				 (unsigned)cases[i].gid, got, cases[i].want);
		/* An empty list lets everyone in, read and write. */
		assert_int_equal(config_acl_check(&empty, cases[i].uid, cases[i].gid,
						  cases[i].groups, cases[i].ngroups),
				 CONFIG_ACCESS_RW);
	}
	/* Only read-only lists: nobody gets to write. */
	assert_int_equal(config_acl_check(&ro_only, 2000, 0, NULL, 0), CONFIG_ACCESS_READ);
	assert_int_equal(config_acl_check(&ro_only, 1000, 50, supp_rw, 2), CONFIG_ACCESS_NONE);
	assert_int_equal(config_acl_check(NULL, 0, 0, NULL, 0), CONFIG_ACCESS_NONE);
	assert_true(config_acl_empty(&empty));
	assert_true(config_acl_empty(NULL));
	assert_false(config_acl_empty(&acl));
	assert_false(config_acl_empty(&ro_only));
}

static void test_acl_copy(void **state)
{
	static const uid_t users[] = { 5, 6, 7 };
	static const gid_t groups[] = { 8 };
	struct config_acl src = {
		.allow_users = (uid_t *)users, .nallow_users = 3,
		.read_only_groups = (gid_t *)groups, .nread_only_groups = 1,
	};
	struct config_acl dst;

	(void)state;
	memset(&dst, 0xff, sizeof(dst));
	assert_int_equal(config_acl_copy(&dst, &src), 0);
	assert_ids(dst.allow_users, dst.nallow_users, 3, 5u, 6u, 7u);
	assert_ptr_not_equal(dst.allow_users, src.allow_users);
	assert_ids(dst.read_only_groups, dst.nread_only_groups, 1, 8u);
	assert_ptr_not_equal(dst.read_only_groups, src.read_only_groups);
	assert_null(dst.allow_groups);
	assert_int_equal(dst.nallow_groups, 0);
	assert_null(dst.read_only_users);
	assert_int_equal(dst.nread_only_users, 0);
	config_acl_free(&dst);
	assert_null(dst.allow_users);
	assert_int_equal(dst.nallow_users, 0);
	assert_true(config_acl_empty(&dst));
	config_acl_free(&dst);
	config_acl_free(NULL);
	assert_int_equal(config_acl_copy(NULL, &src), -EINVAL);
	assert_int_equal(config_acl_copy(&dst, NULL), -EINVAL);
}

static void test_syntax(void **state)
{
	struct config cfg;

	(void)state;
	/* A BOM, CRLF line ends, comments of both kinds, inline comments,
	 * indented keys, ':' as separator and spaces inside the header. */
	load_ok("\xef\xbb\xbf# comment\r\n"
		"; another\r\n"
		"[ region   a ]   ; trailing comment\r\n"
		"    size = 2M ; inline\r\n"
		"\tbacking: memfd\r\n"
		"\n"
		"[group g]\n"
		"pools = p1,\n"
		"        p2 ; the second\n"
		"# a comment inside the list\n"
		"        p3\n"
		"select = index\n"
		"[pool p1]\nregion = a\nblock_size = 1K\nblocks = 1\n"
		"[pool p2]\nregion = a\nblock_size = 1K\nblocks = 1\n"
		"[pool p3]\nregion = a\nblock_size = 1K\nblocks = 1\n", &cfg);
	assert_int_equal(cfg.nregions, 1);
	assert_string_equal(cfg.regions[0].name, "a");
	assert_int_equal(cfg.regions[0].line, 3);
	assert_int_equal(cfg.regions[0].size, 2 * MiB);
	assert_int_equal(cfg.groups[0].npools, 3);
	assert_string_equal(cfg.groups[0].pools[0], "p1");
	assert_string_equal(cfg.groups[0].pools[1], "p2");
	assert_string_equal(cfg.groups[0].pools[2], "p3");
	assert_int_equal(cfg.groups[0].select, CONFIG_SELECT_INDEX);
	config_free(&cfg);
}

static void test_size_parse(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t value;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "4096", 0, 4096 },
		{ "4K", 0, 4096 },
		{ "4k", 0, 4096 },
		{ "64M", 0, 64 * MiB },
		{ "64m", 0, 64 * MiB },
		{ "3G", 0, (uint64_t)3 << 30 },
		{ "2T", 0, (uint64_t)2 << 40 },
		{ "16777215T", 0, (uint64_t)16777215 << 40 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16777216T", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "1.5M", -EINVAL, 0 },
		{ "1 M", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "M", -EINVAL, 0 },
		{ "1KB", -EINVAL, 0 },
		{ "1X", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1P", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = config_size_parse(cases[i].text, &v);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].value)
			fail_msg("'%s': %llu", cases[i].text, (unsigned long long)v);
		if (rc != 0 && v != 12345)
			fail_msg("'%s': output changed on error", cases[i].text);
	}
}

static void test_size_format(void **state)
{
	char buf[32];

	(void)state;
	config_size_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	config_size_format(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	config_size_format(4096, buf, sizeof(buf));
	assert_string_equal(buf, "4K");
	config_size_format(64 * MiB, buf, sizeof(buf));
	assert_string_equal(buf, "64M");
	config_size_format(1536 * MiB, buf, sizeof(buf));
	assert_string_equal(buf, "1536M");
	config_size_format((uint64_t)1 << 40, buf, sizeof(buf));
	assert_string_equal(buf, "1T");
	config_size_format((uint64_t)1 << 50, buf, sizeof(buf));
	assert_string_equal(buf, "1024T");
	config_size_format(UINT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "18446744073709551615");

	config_size_human(0, buf, sizeof(buf));
	assert_string_equal(buf, "0 bytes");
	config_size_human(4097, buf, sizeof(buf));
	assert_string_equal(buf, "4097 bytes");
	config_size_human(8 * MiB, buf, sizeof(buf));
	assert_string_equal(buf, "8 MiB");
	config_size_human(65536, buf, sizeof(buf));
	assert_string_equal(buf, "64 KiB");
	config_size_human((uint64_t)1 << 30, buf, sizeof(buf));
	assert_string_equal(buf, "1 GiB");
	config_size_human((uint64_t)3 << 40, buf, sizeof(buf));
	assert_string_equal(buf, "3 TiB");
}

static void test_size_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("[region a]\nsize = 1T\n[pool p]\nregion = a\nblock_size = 2G\nblocks = 2\n"
		"align = 1G\n", &cfg);
	assert_int_equal(cfg.regions[0].size, (uint64_t)1 << 40);
	assert_int_equal(cfg.pools[0].block_size, (uint64_t)2 << 30);
	assert_int_equal(cfg.pools[0].align, (uint64_t)1 << 30);
	config_free(&cfg);

	load_fails("[region a]\nsize = 16777216T\n",
		   "test.conf:2: size '16777216T' for 'size' in [region a] is too large");
	load_fails("[region a]\nsize = -5M\n",
		   "test.conf:2: invalid size '-5M' for 'size' in [region a]");
	load_fails("[region a]\nsize = 5 M\n",
		   "test.conf:2: invalid size '5 M' for 'size' in [region a]");
	load_fails("[region a]\nsize = lots\n",
		   "test.conf:2: invalid size 'lots' for 'size' in [region a]");
	load_fails("[region a]\nsize = 0\n", "test.conf:2: 'size' in [region a] must not be 0");
	load_fails("[region a]\nsize =\n", "test.conf:2: invalid size '' for 'size' in [region a]");
	/* A pool whose span overflows 64 bits. */
	load_fails("[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 16777215T\n"
		   "blocks = 4000000\n",
		   "test.conf:3: [pool p] is too large");
}

/* Every error message, exactly, with its line. */
static void test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		/* Sections. */
		{ "[daemon]\n[regoin a]\n", "test.conf:2: unknown section [regoin a]" },
		{ "[region]\n", "test.conf:1: section [region] needs a name" },
		{ "[daemon x]\n", "test.conf:1: section [daemon] takes no name" },
		{ "[attributes foo]\n", "test.conf:1: section [attributes] takes no name" },
		{ "[region a b]\n",
		  "test.conf:1: invalid name 'a b' in [region a b] "
		  "(use at most 63 letters, digits, '.', '_' or '-')" },
		{ "[pool a/b]\n",
		  "test.conf:1: invalid name 'a/b' in [pool a/b] "
		  "(use at most 63 letters, digits, '.', '_' or '-')" },
		{ "[region a\nsize = 1M\n", "test.conf:1: missing ']' in section header" },
		{ "[region a] x\n", "test.conf:1: unexpected text after [region a]" },
		{ "[region a]\nsize = 1M\n\n[region a]\nsize = 2M\n",
		  "test.conf:4: duplicate [region a] (first on line 1)" },
		{ "[region a]\nsize = 1M\n[region a]\nsize = 1M\n",
		  "test.conf:3: duplicate [region a] (first on line 1)" },
		{ "[daemon]\n[daemon]\n", "test.conf:2: duplicate [daemon] (first on line 1)" },
		{ "[attributes]\n[attributes]\n",
		  "test.conf:2: duplicate [attributes] (first on line 1)" },
		{ "[region a]\nsize=1M\n[pool p]\nregion=a\nblock_size=1\nblocks=1\n"
		  "[pool p]\nregion=a\nblock_size=1\nblocks=1\n",
		  "test.conf:7: duplicate [pool p] (first on line 3)" },
		{ "[region a]\nsize=1M\n[pool p]\nregion=a\nblock_size=1\nblocks=1\n"
		  "[group g]\npools=p\n[group g]\npools=p\n",
		  "test.conf:9: duplicate [group g] (first on line 7)" },
		{ "[region a]\nsize=1M\n[heap h]\nregions=a\n[heap h]\nregions=a\n",
		  "test.conf:5: duplicate [heap h] (first on line 3)" },

		/* Lines. */
		{ "size = 1M\n", "test.conf:1: key 'size' outside of any section" },
		{ "[region a]\nsize 1M\n", "test.conf:2: expected 'key = value'" },
		{ "[region a]\n   1M\n", "test.conf:2: expected 'key = value'" },
		{ "[region a]\nsize = 1M ; x = y\n", NULL },
		{ "[region a]\nsize ; = 1M\n", "test.conf:2: expected 'key = value'" },

		/* Keys. */
		{ "[region dma0]\nsise = 1M\n", "test.conf:2: unknown key 'sise' in [region dma0]" },
		{ "[daemon]\nsocket_path = /x\n", "test.conf:2: unknown key 'socket_path' in [daemon]" },
		{ "[region a]\nsize = 1M\nblocks = 1\n", "test.conf:3: unknown key 'blocks' in [region a]" },
		{ "[heap h]\nregion = a\n", "test.conf:2: unknown key 'region' in [heap h]" },
		{ "[pool p]\nsize = 1\n", "test.conf:2: unknown key 'size' in [pool p]" },
		{ "[group g]\npool = p\n", "test.conf:2: unknown key 'pool' in [group g]" },
		{ "[region a]\nsize = 1M\n# c\nsize = 2M\n",
		  "test.conf:4: duplicate key 'size' in [region a] (first on line 2)" },
		{ "[daemon]\nlog_level = info\nlog_level = info\n",
		  "test.conf:3: duplicate key 'log_level' in [daemon] (first on line 2)" },

		/* [daemon] values. */
		{ "[daemon]\nsocket = run/x.sock\n",
		  "test.conf:2: socket path 'run/x.sock' in [daemon] must be absolute" },
		{ "[daemon]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		  "test.conf:2: socket path in [daemon] is too long (at most 107 characters)" },
		{ "[daemon]\nsocket_mode = 0999\n",
		  "test.conf:2: invalid mode '0999' for 'socket_mode' in [daemon] "
		  "(use octal such as 0660)" },
		{ "[daemon]\nsocket_mode = 01777\n",
		  "test.conf:2: invalid mode '01777' for 'socket_mode' in [daemon] "
		  "(use octal such as 0660)" },
		{ "[daemon]\nsocket_mode = rw\n",
		  "test.conf:2: invalid mode 'rw' for 'socket_mode' in [daemon] "
		  "(use octal such as 0660)" },
		{ "[daemon]\nsocket_group = a b\n",
		  "test.conf:2: invalid group 'a b' for 'socket_group' in [daemon]" },
		{ "[daemon]\nadmin_group = x,y\n",
		  "test.conf:2: invalid group 'x,y' for 'admin_group' in [daemon]" },
		/* Found by fuzzing: inih keeps a ';' right after '=' in the value,
		 * which config_print could not write back. */
		{ "[daemon]\nadmin_group =;x\n",
		  "test.conf:2: a value cannot start with ';' (a comment needs a space before it)" },
		{ "[daemon]\nmax_clients = 0\n",
		  "test.conf:2: 'max_clients' in [daemon] must be between 1 and 1000000" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 64\nblocks = 2\ncache = 65\n",
		  "test.conf:7: 'cache' in [pool p] must be between 0 and 64" },
		{ "[daemon]\nmax_clients = 99999999999999999999999\n",
		  "test.conf:2: 'max_clients' in [daemon] must be between 1 and 1000000" },
		{ "[daemon]\nmax_clients = -1\n",
		  "test.conf:2: invalid number '-1' for 'max_clients' in [daemon]" },
		{ "[daemon]\nmax_clients = 10x\n",
		  "test.conf:2: invalid number '10x' for 'max_clients' in [daemon]" },
		{ "[daemon]\nfree_ring = maybe\n",
		  "test.conf:2: invalid boolean 'maybe' for 'free_ring' in [daemon] (use yes or no)" },
		{ "[daemon]\nlog_level = loud\n",
		  "test.conf:2: invalid log_level 'loud' in [daemon] "
		  "(use error, warning, notice, info or debug)" },

		/* [attributes]. */
		{ "[attributes]\ndma = 1\n",
		  "test.conf:2: 'dma' in [attributes] must be between 2 and 31" },
		{ "[attributes]\ndma = 32\n",
		  "test.conf:2: 'dma' in [attributes] must be between 2 and 31" },
		{ "[attributes]\ndma = two\n",
		  "test.conf:2: invalid number 'two' for 'dma' in [attributes]" },
		{ "[attributes]\ncacheable = 2\n", "test.conf:2: attribute name 'cacheable' is reserved" },
		{ "[attributes]\nnon-cacheable = 2\n",
		  "test.conf:2: attribute name 'non-cacheable' is reserved" },
		{ "[attributes]\n3d = 2\n",
		  "test.conf:2: invalid attribute name '3d' "
		  "(start with a letter; use letters, digits, '.', '_' or '-')" },
		{ "[attributes]\ndma = 2\n\ndma = 3\n",
		  "test.conf:4: duplicate attribute 'dma' (first on line 2)" },
		{ "[attributes]\ndma = 2\nfast = 2\n",
		  "test.conf:3: attribute value 2 of 'fast' is already used by 'dma' (line 2)" },

		/* [region] values. */
		{ "[region a]\nsize = 1M\nbacking = tmpfs\n",
		  "test.conf:3: invalid backing 'tmpfs' in [region a] (use memfd, shm, hugetlb or file)" },
		{ "[region a]\nsize = 1M\nlock = maybe\n",
		  "test.conf:3: invalid boolean 'maybe' for 'lock' in [region a] (use yes or no)" },
		{ "[region a]\nsize = 1M\nprefault = 2\n",
		  "test.conf:3: invalid boolean '2' for 'prefault' in [region a] (use yes or no)" },
		{ "[region a]\nsize = 1M\nbacking = file\npath = /x\nsync = Yes\n",
		  "test.conf:5: invalid boolean 'Yes' for 'sync' in [region a] (use yes or no)" },
		{ "[region a]\nsize = 1M\nbacking = hugetlb\nhugepages = always\n",
		  "test.conf:4: invalid hugepages 'always' in [region a] (use prefer or require)" },
		{ "[region a]\nsize = 1M\nbacking = hugetlb\npage_size = 4M\n",
		  "test.conf:4: invalid page_size '4M' in [region a] (use 2M or 1G)" },
		{ "[region a]\nsize = 1M\nnuma_node = -1\n",
		  "test.conf:3: invalid number '-1' for 'numa_node' in [region a]" },
		{ "[region a]\nsize = 1M\nnuma_node = 1024\n",
		  "test.conf:3: 'numa_node' in [region a] must be between 0 and 1023" },
		{ "[region a]\nsize = 1M\nattr = 32\n",
		  "test.conf:3: invalid attr '32' in [region a] (use 0..31 or a name)" },
		{ "[region a]\nsize = 1M\nattr = 1x\n",
		  "test.conf:3: invalid attr '1x' in [region a] (use 0..31 or a name)" },
		{ "[region a]\nsize = 1M\nattr = a b\n",
		  "test.conf:3: invalid attr 'a b' in [region a] (use 0..31 or a name)" },
		{ "[region a]\nsize = 1M\n\nattr = dmx\n[attributes]\ndma = 2\n",
		  "test.conf:4: unknown attribute 'dmx' in [region a]" },
		{ "[region a]\nbacking = memfd\n", "test.conf:1: [region a] needs 'size'" },
		{ "[region a]\n", "test.conf:1: [region a] needs 'size'" },
		{ "[region a]\nsize = 1M\nbacking = file\n",
		  "test.conf:1: [region a] with backing file needs 'path'" },
		{ "[region a]\nsize = 1M\npath = /x\n",
		  "test.conf:3: 'path' in [region a] needs backing shm or file" },
		{ "[region a]\nsize = 1M\nbacking = hugetlb\npath = /x\n",
		  "test.conf:4: 'path' in [region a] needs backing shm or file" },
		{ "[region a]\nsize = 1M\nhugepages = require\n",
		  "test.conf:3: 'hugepages' in [region a] needs backing hugetlb" },
		{ "[region a]\nsize = 1M\nbacking = shm\npage_size = 2M\n",
		  "test.conf:4: 'page_size' in [region a] needs backing hugetlb" },
		{ "[region a]\nsize = 1M\nsync = yes\n",
		  "test.conf:3: 'sync' in [region a] needs backing file" },
		{ "[region a]\nsize = 1M\nbacking = shm\npath = shmpool\n",
		  "test.conf:4: invalid shm name 'shmpool' in [region a] "
		  "(one '/' at the start and no other)" },
		{ "[region a]\nsize = 1M\nbacking = shm\npath = /a/b\n",
		  "test.conf:4: invalid shm name '/a/b' in [region a] "
		  "(one '/' at the start and no other)" },
		{ "[region a]\nsize = 1M\nbacking = shm\npath = /\n",
		  "test.conf:4: invalid shm name '/' in [region a] (one '/' at the start and no other)" },
		{ "[region a]\nsize = 1M\nbacking = file\npath =\n",
		  "test.conf:4: 'path' in [region a] must not be empty" },

		/* [heap]. */
		{ "[heap h]\n", "test.conf:1: [heap h] needs 'regions'" },
		{ "[heap h]\nregions = x\n", "test.conf:2: unknown region 'x' in [heap h]" },
		{ "[region a]\nsize = 1M\n[heap h]\nregions = a, a\n",
		  "test.conf:4: region 'a' listed twice in [heap h]" },
		{ "[region a]\nsize = 1M\n[heap h]\nregions = a,,b\n",
		  "test.conf:4: empty name in 'regions' in [heap h]" },
		{ "[region a]\nsize = 1M\n[heap h]\nregions =\n",
		  "test.conf:4: empty name in 'regions' in [heap h]" },
		{ "[region a]\nsize = 1M\n[heap h]\nregions = a b\n",
		  "test.conf:4: invalid region name 'a b' in [heap h]" },
		{ "[region a]\nsize = 1M\n[heap h1]\nregions = a\n[heap h2]\nregions = a\n",
		  "test.conf:6: region 'a' is in both [heap h1] and [heap h2]" },
		{ "[region a]\nsize = 1M\n[heap default]\nregions = a\n[heap h2]\nregions = a\n",
		  "test.conf:6: region 'a' is in both [heap default] and [heap h2]" },

		/* [pool]. */
		{ "[region a]\nsize = 1M\n[pool p]\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:3: [pool p] needs 'region' or 'attr'" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nattr = 0\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:5: [pool p] has both 'region' and 'attr'" },
		{ "[region a]\nsize = 1M\n[pool p]\nattr = 0\nregion = a\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:5: [pool p] has both 'region' and 'attr'" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblocks = 1\n",
		  "test.conf:3: [pool p] needs 'block_size'" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1\n",
		  "test.conf:3: [pool p] needs 'blocks'" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = b\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:4: unknown region 'b' in [pool p]" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 1025\n",
		  "test.conf:3: pool 'p' needs 1025 KiB but region 'a' has only 1 MiB" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1000\nblocks = 1000\n"
		  "align = 4K\n",
		  "test.conf:3: pool 'p' needs 4000 KiB but region 'a' has only 1 MiB" },
		{ "[attributes]\ndma = 2\n[region a]\nsize = 1M\n[pool p]\nattr = dma\n"
		  "block_size = 1K\nblocks = 1\n",
		  "test.conf:6: no region has attribute 'dma' for [pool p]" },
		{ "[region a]\nsize = 1M\n[pool p]\nattr = 9\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:4: no region has attribute '9' for [pool p]" },
		{ "[region a]\nsize = 1M\nattr = non-cacheable\n[region b]\nsize = 2M\n"
		  "attr = non-cacheable\n[pool p]\nattr = non-cacheable\nblock_size = 1M\n"
		  "blocks = 3\n",
		  "test.conf:7: pool 'p' needs 3 MiB but no region with its attribute is that large" },
		{ "[region a]\nsize = 1M\n[pool p]\nattr = fast\nblock_size = 1K\nblocks = 1\n",
		  "test.conf:4: unknown attribute 'fast' in [pool p]" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 0\n",
		  "test.conf:6: 'blocks' in [pool p] must be between 1 and 4294967294" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 4294967295\n",
		  "test.conf:6: 'blocks' in [pool p] must be between 1 and 4294967294" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 0\nblocks = 1\n",
		  "test.conf:5: 'block_size' in [pool p] must not be 0" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 1\n"
		  "align = 24\n",
		  "test.conf:7: 'align' in [pool p] must be a power of two" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 1\n"
		  "align = 0\n",
		  "test.conf:7: 'align' in [pool p] must not be 0" },
		{ "[region a]\nsize = 1M\n[pool p]\nregion = a\nblock_size = 1K\nblocks = 1\n"
		  "align = 2G\n",
		  "test.conf:7: 'align' in [pool p] must be at most 1G" },
		{ "[pool p]\nregion = a b\n", "test.conf:2: invalid region name 'a b' in [pool p]" },

		/* [group]. */
		{ "[group g]\nselect = fit\n", "test.conf:1: [group g] needs 'pools'" },
		{ "[group g]\npools = x\n", "test.conf:2: unknown pool 'x' in [group g]" },
		{ "[group g]\npools = x, x\n", "test.conf:2: pool 'x' listed twice in [group g]" },
		{ "[group g]\npools = x\nselect = best\n",
		  "test.conf:3: invalid select 'best' in [group g] (use index, fit or attr)" },
		{ "[group g]\npools = x,\n  y = z\n", "test.conf:3: unknown key 'y' in [group g]" },
		{ "[group g]\nselect = fit\n  x\n", "test.conf:3: expected 'key = value'" },

		/* Access lists. */
		{ "[region r0]\nsize = 1M\nallow_users = root, nosuchuser-shmpool\n",
		  "test.conf:3: unknown user 'nosuchuser-shmpool' in allow_users of [region r0]" },
		{ "[region r0]\nsize = 1M\nread_only_users = nobody\nread_only_groups = nosuchgroup-x\n",
		  "test.conf:4: unknown group 'nosuchgroup-x' in read_only_groups of [region r0]" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		  "allow_groups = nogroup, nosuchgroup-x\n",
		  "test.conf:7: unknown group 'nosuchgroup-x' in allow_groups of [pool p]" },
		{ "[heap h]\nregions = r\nread_only_users = nosuchuser-shmpool\n",
		  "test.conf:3: unknown user 'nosuchuser-shmpool' in read_only_users of [heap h]" },
		/* Names are looked up as users or as groups, not both. */
		{ "[region r0]\nsize = 1M\nallow_users = nogroup\n",
		  "test.conf:3: unknown user 'nogroup' in allow_users of [region r0]" },
		/* On a continuation line, the error is at that line. */
		{ "[region r0]\nsize = 1M\nallow_groups = root,\n  nogroup,\n  nosuchgroup-x\n",
		  "test.conf:5: unknown group 'nosuchgroup-x' in allow_groups of [region r0]" },
		{ "[region r0]\nsize = 1M\nallow_users = 4294967295\n",
		  "test.conf:3: invalid user id '4294967295' in allow_users of [region r0] "
		  "(at most 4294967294)" },
		{ "[region r0]\nsize = 1M\nread_only_groups = 99999999999999999999999\n",
		  "test.conf:3: invalid group id '99999999999999999999999' in read_only_groups of "
		  "[region r0] (at most 4294967294)" },
		{ "[region r0]\nsize = 1M\nallow_groups = root nogroup\n",
		  "test.conf:3: invalid group 'root nogroup' in allow_groups of [region r0]" },
		{ "[region r0]\nsize = 1M\nallow_users = root, 0\n",
		  "test.conf:3: user '0' (uid 0) listed twice in allow_users of [region r0]" },
		{ "[region r0]\nsize = 1M\nread_only_groups = 7,\n  nogroup, 7\n",
		  "test.conf:4: group '7' (gid 7) listed twice in read_only_groups of [region r0]" },
		{ "[region r0]\nsize = 1M\nallow_users = 65534, nobody\n",
		  "test.conf:3: user 'nobody' (uid 65534) listed twice in allow_users of [region r0]" },
		{ "[region r0]\nsize = 1M\nallow_users =\n",
		  "test.conf:3: empty name in 'allow_users' in [region r0]" },
		{ "[region r0]\nsize = 1M\nread_only_users = root,,nobody\n",
		  "test.conf:3: empty name in 'read_only_users' in [region r0]" },
		{ "[region r0]\nsize = 1M\nallow_users = root\nallow_users = nobody\n",
		  "test.conf:4: duplicate key 'allow_users' in [region r0] (first on line 3)" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		  "read_only_groups = 0\n\nread_only_groups = 1\n",
		  "test.conf:9: duplicate key 'read_only_groups' in [pool p] (first on line 7)" },
		{ "[heap h]\nregions = r\nallow_groups = 0\nallow_groups = 0\n",
		  "test.conf:4: duplicate key 'allow_groups' in [heap h] (first on line 3)" },
		{ "[daemon]\nallow_users = root\n", "test.conf:2: unknown key 'allow_users' in [daemon]" },
		{ "[group g]\nallow_groups = root\n",
		  "test.conf:2: unknown key 'allow_groups' in [group g]" },
		{ "[limits]\nread_only_users = root\n",
		  "test.conf:2: unknown key 'read_only_users' in [limits]" },

		/* scrub and the per-pool and per-heap limits. */
		{ "[region r0]\nsize = 1M\nscrub = sometimes\n",
		  "test.conf:3: invalid scrub 'sometimes' in [region r0] (use cross-uid, always or never)" },
		{ "[region r0]\nsize = 1M\nscrub = never\nscrub = never\n",
		  "test.conf:4: duplicate key 'scrub' in [region r0] (first on line 3)" },
		{ "[pool p]\nscrub = always\n", "test.conf:2: unknown key 'scrub' in [pool p]" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		  "max_blocks_per_client = -1\n",
		  "test.conf:7: invalid number '-1' for 'max_blocks_per_client' in [pool p]" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		  "max_blocks_per_client = 4294967295\n",
		  "test.conf:7: 'max_blocks_per_client' in [pool p] must be between 0 and 4294967294" },
		{ "[region r]\nsize = 1M\n[pool p]\nregion = r\nblock_size = 1\nblocks = 1\n"
		  "max_blocks_per_client = 1K\n",
		  "test.conf:7: invalid number '1K' for 'max_blocks_per_client' in [pool p]" },
		{ "[pool p]\nmax_bytes_per_client = 1\n",
		  "test.conf:2: unknown key 'max_bytes_per_client' in [pool p]" },
		{ "[heap h]\nregions = r\nmax_bytes_per_client = 1X\n",
		  "test.conf:3: invalid size '1X' for 'max_bytes_per_client' in [heap h]" },
		{ "[heap h]\nregions = r\nmax_bytes_per_client = 16777216T\n",
		  "test.conf:3: size '16777216T' for 'max_bytes_per_client' in [heap h] is too large" },
		{ "[heap h]\nmax_blocks_per_client = 1\n",
		  "test.conf:2: unknown key 'max_blocks_per_client' in [heap h]" },

		/* [limits]. */
		{ "[limits x]\n", "test.conf:1: section [limits] takes no name" },
		{ "[limits]\n[region r]\nsize = 1M\n[limits]\n",
		  "test.conf:4: duplicate [limits] (first on line 1)" },
		{ "[limits]\nmax_client = 1\n", "test.conf:2: unknown key 'max_client' in [limits]" },
		{ "[limits]\nmax_clients = 0\n",
		  "test.conf:2: 'max_clients' in [limits] must be between 1 and 1000000" },
		{ "[limits]\nmax_clients = 5\nmax_clients = 5\n",
		  "test.conf:3: duplicate key 'max_clients' in [limits] (first on line 2)" },
		{ "[daemon]\nmax_clients = 5\n[limits]\nmax_clients = 6\n",
		  "test.conf:4: max_clients is set in both [daemon] and [limits]" },
		{ "[limits]\nmax_clients = 6\n\n[daemon]\nlog_level = info\nmax_clients = 5\n",
		  "test.conf:6: max_clients is set in both [daemon] and [limits]" },
		{ "[limits]\nmax_clients_per_uid = 1000001\n",
		  "test.conf:2: 'max_clients_per_uid' in [limits] must be between 0 and 1000000" },
		{ "[limits]\nmax_clients_per_uid = few\n",
		  "test.conf:2: invalid number 'few' for 'max_clients_per_uid' in [limits]" },
		{ "[limits]\nmax_bytes_per_client = lots\n",
		  "test.conf:2: invalid size 'lots' for 'max_bytes_per_client' in [limits]" },
		{ "[limits]\nmax_blocks_per_client = 4294967295\n",
		  "test.conf:2: 'max_blocks_per_client' in [limits] must be between 0 and 4294967294" },
		{ "[limits]\nmax_waits_per_client = 0\n",
		  "test.conf:2: 'max_waits_per_client' in [limits] must be between 1 and 65536" },
		{ "[limits]\nmax_waits_per_client = 65537\n",
		  "test.conf:2: 'max_waits_per_client' in [limits] must be between 1 and 65536" },
		{ "[limits]\nmax_message_size = 255\n",
		  "test.conf:2: 'max_message_size' in [limits] must be between 256 and 65536" },
		{ "[limits]\nmax_message_size = 65537\n",
		  "test.conf:2: 'max_message_size' in [limits] must be between 256 and 65536" },
		{ "[limits]\nmax_message_size = 1M\n",
		  "test.conf:2: 'max_message_size' in [limits] must be between 256 and 65536" },
		{ "[limits]\nmax_message_size = 0\n",
		  "test.conf:2: 'max_message_size' in [limits] must be between 256 and 65536" },
		{ "[limits]\nmax_message_size = 64 K\n",
		  "test.conf:2: invalid size '64 K' for 'max_message_size' in [limits]" },
		{ "[limits]\nmax_message_size = 16777216T\n",
		  "test.conf:2: size '16777216T' for 'max_message_size' in [limits] is too large" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		int rc = config_load_string(cases[i].text, "test.conf", &cfg, err, sizeof(err));

		if (!cases[i].msg) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error: %s", i, err);
			config_free(&cfg);
			continue;
		}
		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d, expected -EINVAL", i, cases[i].msg, rc);
		if (strcmp(err, cases[i].msg) != 0)
			fail_msg("case %zu:\n  got      %s\n  expected %s", i, err, cases[i].msg);
	}
}

static void test_first_error_wins(void **state)
{
	(void)state;
	load_fails("[region a]\nsize = x\nlock = maybe\n[bogus]\n",
		   "test.conf:2: invalid size 'x' for 'size' in [region a]");
	/* A line error comes before a cross-reference error found later. */
	load_fails("[heap h]\nregions = nope\n[region a]\nsize = 1M\nlock = maybe\n",
		   "test.conf:5: invalid boolean 'maybe' for 'lock' in [region a] (use yes or no)");
}

static void test_line_too_long(void **state)
{
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), "[region a]\nsize = 1M\n# %0*d\n", CONFIG_LINE_MAX - 1, 0);
	load_fails(text, "test.conf:3: line too long (at most 196 characters)");
	snprintf(text, sizeof(text), "[region a]\nsize = 1M\n# %0*d\n", CONFIG_LINE_MAX - 2, 0);
	{
		struct config cfg;

		load_ok(text, &cfg);
		config_free(&cfg);
	}
	/* Found by fuzzing: a line that fits only without spaces around '='
	 * could not be written back by config_print. */
	snprintf(text, sizeof(text), "[daemon]\nsocket_group=%0*d\n", CONFIG_LINE_MAX - 13, 0);
	load_fails(text, "test.conf:2: line too long as 'socket_group = ...' (at most 196 "
			 "characters, with a space on each side of '=')");
	snprintf(text, sizeof(text), "[daemon]\nsocket_group=g%0*d\n", CONFIG_LINE_MAX - 16, 0);
	{
		struct config cfg;

		load_ok(text, &cfg);
		assert_int_equal(strlen(cfg.daemon.socket_group), CONFIG_LINE_MAX - 15);
		config_free(&cfg);
	}
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char path[64], missing[64];
	struct config cfg;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/shmpool.conf", dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[region r]\nsize = 8M\nbacking = shm\n\n[pool p]\nregion = r\nblock_size = 1M\n"
	      "blocks = 9\n", f);
	fclose(f);

	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	{
		char expect[128];

		snprintf(expect, sizeof(expect), "%s:5: pool 'p' needs 9 MiB but region 'r' has only "
			 "8 MiB", path);
		assert_string_equal(err, expect);
	}

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[region r]\nsize = 8M\nbacking = shm\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.regions[0].path, "/shmpool.r");
	config_free(&cfg);

	assert_int_equal(config_load(missing, &cfg, err, sizeof(err)), -ENOENT);
	{
		char expect[128];

		snprintf(expect, sizeof(expect), "%s: No such file or directory", missing);
		assert_string_equal(err, expect);
	}
	assert_int_equal(config_load(dir, &cfg, err, sizeof(err)), -EISDIR);

	unlink(path);
	rmdir(dir);
}

/* Print cfg into a malloc'ed string. */
static char *print_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(config_print(f, cfg), 0);
	fclose(f);
	return buf;
}

static void assert_same_ids(const unsigned int *a, size_t na, const unsigned int *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_int_equal(a[i], b[i]);
}

static void assert_same_acl(const struct config_acl *a, const struct config_acl *b)
{
	assert_same_ids(a->allow_users, a->nallow_users, b->allow_users, b->nallow_users);
	assert_same_ids(a->allow_groups, a->nallow_groups, b->allow_groups, b->nallow_groups);
	assert_same_ids(a->read_only_users, a->nread_only_users, b->read_only_users,
			b->nread_only_users);
	assert_same_ids(a->read_only_groups, a->nread_only_groups, b->read_only_groups,
			b->nread_only_groups);
}

static void assert_same_config(const struct config *a, const struct config *b)
{
	assert_string_equal(a->daemon.socket ? a->daemon.socket : "-",
			    b->daemon.socket ? b->daemon.socket : "-");
	assert_string_equal(a->daemon.socket_group ? a->daemon.socket_group : "-",
			    b->daemon.socket_group ? b->daemon.socket_group : "-");
	assert_int_equal(a->daemon.socket_mode, b->daemon.socket_mode);
	assert_int_equal(a->daemon.max_clients, b->daemon.max_clients);
	assert_int_equal(a->daemon.log_level, b->daemon.log_level);
	assert_int_equal(a->limits.max_clients_per_uid, b->limits.max_clients_per_uid);
	assert_int_equal(a->limits.max_bytes_per_client, b->limits.max_bytes_per_client);
	assert_int_equal(a->limits.max_blocks_per_client, b->limits.max_blocks_per_client);
	assert_int_equal(a->limits.max_waits_per_client, b->limits.max_waits_per_client);
	assert_int_equal(a->limits.max_message_size, b->limits.max_message_size);
	assert_int_equal(a->nattrs, b->nattrs);
	for (size_t i = 0; i < a->nattrs; i++) {
		assert_string_equal(a->attrs[i].name, b->attrs[i].name);
		assert_int_equal(a->attrs[i].value, b->attrs[i].value);
	}
	assert_int_equal(a->nregions, b->nregions);
	for (size_t i = 0; i < a->nregions; i++) {
		const struct config_region *x = &a->regions[i], *y = &b->regions[i];

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->size, y->size);
		assert_int_equal(x->backing, y->backing);
		assert_string_equal(x->path ? x->path : "-", y->path ? y->path : "-");
		assert_int_equal(x->attr, y->attr);
		assert_int_equal(x->hugepages, y->hugepages);
		assert_int_equal(x->page_size, y->page_size);
		assert_int_equal(x->sync, y->sync);
		assert_int_equal(x->lock, y->lock);
		assert_int_equal(x->prefault, y->prefault);
		assert_int_equal(x->numa_node, y->numa_node);
		assert_string_equal(x->heap, y->heap);
		assert_int_equal(x->scrub, y->scrub);
		assert_same_acl(&x->acl, &y->acl);
	}
	assert_int_equal(a->nheaps, b->nheaps);
	for (size_t i = 0; i < a->nheaps; i++) {
		assert_string_equal(a->heaps[i].name, b->heaps[i].name);
		assert_int_equal(a->heaps[i].nregions, b->heaps[i].nregions);
		for (size_t k = 0; k < a->heaps[i].nregions; k++)
			assert_string_equal(a->heaps[i].regions[k], b->heaps[i].regions[k]);
		assert_int_equal(a->heaps[i].max_bytes_per_client, b->heaps[i].max_bytes_per_client);
		assert_same_acl(&a->heaps[i].acl, &b->heaps[i].acl);
	}
	assert_int_equal(a->npools, b->npools);
	for (size_t i = 0; i < a->npools; i++) {
		const struct config_pool *x = &a->pools[i], *y = &b->pools[i];

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->by_attr, y->by_attr);
		assert_string_equal(x->region, y->region);
		assert_int_equal(x->attr, y->attr);
		assert_int_equal(x->block_size, y->block_size);
		assert_int_equal(x->blocks, y->blocks);
		assert_int_equal(x->align, y->align);
		assert_int_equal(x->max_blocks_per_client, y->max_blocks_per_client);
		assert_same_acl(&x->acl, &y->acl);
	}
	assert_int_equal(a->ngroups, b->ngroups);
	for (size_t i = 0; i < a->ngroups; i++) {
		assert_string_equal(a->groups[i].name, b->groups[i].name);
		assert_int_equal(a->groups[i].select, b->groups[i].select);
		assert_int_equal(a->groups[i].npools, b->groups[i].npools);
		for (size_t k = 0; k < a->groups[i].npools; k++)
			assert_string_equal(a->groups[i].pools[k], b->groups[i].pools[k]);
	}
}

/* Print, load the printout, print again: same configuration, same text. */
static void round_trip(const struct config *cfg)
{
	struct config again;
	char *first, *second;

	first = print_string(cfg);
	if (config_load_string(first, "printed", &again, err, sizeof(err)) != 0)
		fail_msg("printed configuration does not load: %s\n%s", err, first);
	assert_same_config(cfg, &again);
	second = print_string(&again);
	assert_string_equal(strchr(first, '\n'), strchr(second, '\n'));
	config_free(&again);
	free(first);
	free(second);
}

static void test_round_trip(void **state)
{
	struct config cfg;
	char text[8192];
	size_t n = 0;

	(void)state;
	assert_int_equal(config_default(&cfg), 0);
	round_trip(&cfg);
	config_free(&cfg);

	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "[daemon]\nsocket = /tmp/s.sock\nsocket_mode = 0604\nsocket_group = wheel\n"
			      "log_level = info\nfree_ring = no\n"
			      "[limits]\nmax_clients = 3\nmax_clients_per_uid = 2\n"
			      "max_bytes_per_client = 1536M\nmax_blocks_per_client = 77\n"
			      "max_waits_per_client = 9\nmax_message_size = 1000\n"
			      "[attributes]\ndma = 2\nfast = 30\n"
			      "[region r0]\nsize = 12345\nbacking = file\npath = /tmp/some file\n"
			      "sync = yes\nattr = dma\nlock = yes\nprefault = yes\nnuma_node = 3\n"
			      "scrub = always\nallow_users = root, 4000000000, nobody\n"
			      "read_only_groups = 0, nogroup\n"
			      "[region r1]\nsize = 3G\nbacking = hugetlb\nhugepages = require\n"
			      "page_size = 1G\nattr = 17\nscrub = never\nallow_groups = 4000000001\n"
			      "[region r2]\nsize = 64M\nbacking = shm\nattr = non-cacheable\n"
			      "read_only_users = 65534\n"
			      "[region r3]\nsize = 1M\nattr = fast\n"
			      "[heap h]\nregions = r2, r0\nmax_bytes_per_client = 4097\n"
			      "allow_groups = root\nread_only_users = 123\n"
			      "[heap default]\nregions = r3\n"
			      "[pool byattr]\nattr = dma\nblock_size = 100\nblocks = 7\nalign = 128\n"
			      "max_blocks_per_client = 5\nallow_users = 0\nallow_groups = 0\n"
			      "read_only_users = 1, 2, 3\nread_only_groups = 65534\n"
			      "[pool num]\nattr = 17\nblock_size = 1M\nblocks = 1\n");
	/* Enough pools with long names that the group's list wraps. */
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[pool a-rather-long-pool-name-number-%02d]\nregion = r3\n"
				      "block_size = 64\nblocks = 10\n", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "[group big]\nselect = attr\npools = ");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sa-rather-long-pool-name-number-%02d",
				      i ? ",\n  " : "", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\n[group small]\npools = num, byattr\n");
	assert_true(n < sizeof(text));
	load_ok(text, &cfg);
	assert_int_equal(cfg.groups[0].npools, 12);
	assert_int_equal(cfg.daemon.max_clients, 3);
	assert_int_equal(cfg.regions[0].scrub, CONFIG_SCRUB_ALWAYS);
	assert_int_equal(cfg.regions[0].acl.nallow_users, 3);
	assert_int_equal(cfg.pools[0].acl.nread_only_users, 3);
	round_trip(&cfg);
	config_free(&cfg);

	/* Access lists long enough to wrap onto continuation lines. */
	n = (size_t)snprintf(text, sizeof(text), "[region r]\nsize = 1M\nallow_users = ");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%u", i ? (i % 8 ? ", " : ",\n  ") : "",
				      3000000000u + (unsigned)i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\n");
	assert_true(n < sizeof(text));
	load_ok(text, &cfg);
	assert_int_equal(cfg.regions[0].acl.nallow_users, 40);
	assert_int_equal(cfg.regions[0].acl.allow_users[39], 3000000039u);
	round_trip(&cfg);
	config_free(&cfg);
}

static void test_print_text(void **state)
{
	struct config cfg;
	char *text;

	(void)state;
	assert_int_equal(config_default(&cfg), 0);
	text = print_string(&cfg);
	assert_string_equal(text,
			    "# shmpool configuration from <built-in>, every default filled in\n"
			    "\n"
			    "[daemon]\n"
			    "# socket: not set, the default path applies\n"
			    "socket_mode = 0660\n"
			    "# socket_group: not set, the daemon's group\n"
			    "# admin_group: not set, only root and the daemon's user administer\n"
			    "max_clients = 1024\n"
			    "log_level = notice\n"
			    "free_ring = yes\n"
			    "\n"
			    "[limits]\n"
			    "# max_clients: in [daemon]\n"
			    "max_clients_per_uid = 0\n"
			    "max_bytes_per_client = 0\n"
			    "max_blocks_per_client = 0\n"
			    "max_waits_per_client = 64\n"
			    "max_message_size = 64K\n"
			    "\n"
			    "[region default]\n"
			    "size = 64M\n"
			    "backing = memfd\n"
			    "attr = cacheable\n"
			    "lock = no\n"
			    "prefault = no\n"
			    "# numa_node: not set, the kernel's policy\n"
			    "scrub = cross-uid\n"
			    "# allow_*, read_only_*: not set, anyone who can connect\n"
			    "# heap instance: default\n");
	free(text);
	config_free(&cfg);
}

/* The printed access lists: names where the system has them, numbers
 * where it has none. */
static void test_acl_print(void **state)
{
	struct config cfg;
	char *text;

	(void)state;
	if (getpwuid(4000000000u) || getgrgid(4000000000u)) {
		print_message("skipped: uid or gid 4000000000 has a name here\n");
		skip();
	}
	load_ok("[region r]\nsize = 1M\nallow_users = 0, 65534, 4000000000\n"
		"read_only_groups = nogroup, root, 4000000000\n"
		"[pool p]\nregion = r\nblock_size = 1\nblocks = 1\nallow_groups = 0\n"
		"max_blocks_per_client = 9\n"
		"[heap h]\nregions = r\nread_only_users = nobody\nmax_bytes_per_client = 3K\n", &cfg);
	text = print_string(&cfg);
	assert_non_null(strstr(text, "# numa_node: not set, the kernel's policy\n"
			       "scrub = cross-uid\n"
			       "allow_users = root, nobody, 4000000000\n"
			       "read_only_groups = nogroup, root, 4000000000\n"
			       "# heap instance: h\n"));
	assert_non_null(strstr(text, "\n[heap h]\nregions = r\nmax_bytes_per_client = 3K\n"
			       "read_only_users = nobody\n\n"));
	assert_non_null(strstr(text, "align = 16\nmax_blocks_per_client = 9\ncache = 0\n"
			       "allow_groups = root\n"));
	free(text);
	config_free(&cfg);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(config_backing_name(CONFIG_BACKING_MEMFD), "memfd");
	assert_string_equal(config_backing_name(CONFIG_BACKING_SHM), "shm");
	assert_string_equal(config_backing_name(CONFIG_BACKING_HUGETLB), "hugetlb");
	assert_string_equal(config_backing_name(CONFIG_BACKING_FILE), "file");
	assert_string_equal(config_hugepages_name(CONFIG_HUGEPAGES_PREFER), "prefer");
	assert_string_equal(config_hugepages_name(CONFIG_HUGEPAGES_REQUIRE), "require");
	assert_string_equal(config_select_name(CONFIG_SELECT_INDEX), "index");
	assert_string_equal(config_select_name(CONFIG_SELECT_FIT), "fit");
	assert_string_equal(config_select_name(CONFIG_SELECT_ATTR), "attr");
	assert_string_equal(config_scrub_name(CONFIG_SCRUB_CROSS_UID), "cross-uid");
	assert_string_equal(config_scrub_name(CONFIG_SCRUB_ALWAYS), "always");
	assert_string_equal(config_scrub_name(CONFIG_SCRUB_NEVER), "never");
	assert_string_equal(config_scrub_name((enum config_scrub)3), "unknown");
}

static void test_bad_args(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(config_load_string(NULL, "x", &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_load_string("", "x", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_load(NULL, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_default(NULL), -EINVAL);
	assert_int_equal(config_print(stdout, NULL), -EINVAL);
	config_free(NULL);
	/* No error buffer at all is fine. */
	assert_int_equal(config_load_string("[x]\n", "x", &cfg, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_daemon_keys),
		cmocka_unit_test(test_daemon_defaults),
		cmocka_unit_test(test_region_keys),
		cmocka_unit_test(test_region_defaults),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_heap_pool_group_keys),
		cmocka_unit_test(test_acl_keys),
		cmocka_unit_test(test_hardening_defaults),
		cmocka_unit_test(test_limits_keys),
		cmocka_unit_test(test_acl_check),
		cmocka_unit_test(test_acl_copy),
		cmocka_unit_test(test_acl_print),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_size_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_print_text),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
