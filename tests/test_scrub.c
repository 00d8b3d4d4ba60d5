/*
 * Scrubbing against a real shmpoold: memory one uid freed is zeroed before
 * another uid gets it ([region] scrub = cross-uid, the default), on every
 * free (always) or never, for pool blocks and heap memory alike; and a
 * region whose file was truncated under the daemon, which turns its
 * scrubbing into SIGBUS, is marked broken while the daemon goes on.
 *
 * The other uid is nobody, in forked children, so the tests need root;
 * without it the binary skips.  Children connect on their own after fork,
 * never touch cmocka, send their results back through a pipe and leave
 * with _exit.  The daemon's counters of scrubbed bytes are read with raw
 * PROTO_STATS and PROTO_REGION_INFO requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "shmpool.h"
#include "testutil.h"

/* Pool blocks of 1000 bytes at 64-byte alignment: a stride of 1024, so a
 * scrubbed block counts its padding too. */
#define BLOCK 1000
#define STRIDE 1024
#define HEAP_SIZE 4096

/*
 * One-block pools, so that a block freed is certainly the block given
 * next; heap instances with one region each.  The region of a file backing
 * lives in a directory of the test's own, made before the configuration
 * is written.
 */
static const char config_fmt[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[region rx]\n"
	"size = 1M\n"
	"[region ra]\n"
	"size = 1M\n"
	"scrub = always\n"
	"[region rn]\n"
	"size = 1M\n"
	"scrub = never\n"
	"[region hx]\n"
	"size = 1M\n"
	"scrub = cross-uid\n"
	"[region ha]\n"
	"size = 1M\n"
	"scrub = always\n"
	"[region hn]\n"
	"size = 1M\n"
	"scrub = never\n"
	"[region hp]\n"
	"size = 1M\n"
	"[region f]\n"
	"size = 64K\n"
	"backing = file\n"
	"path = %s\n"
	"scrub = always\n"
	"[heap heapx]\n"
	"regions = hx\n"
	"[heap heapa]\n"
	"regions = ha\n"
	"[heap heapn]\n"
	"regions = hn\n"
	"[heap heapp]\n"
	"regions = hp\n"
	"[heap heapf]\n"
	"regions = f\n"
	"[pool px]\n"
	"region = rx\n"
	"block_size = 1000\n"
	"align = 64\n"
	"blocks = 1\n"
	"[pool pa]\n"
	"region = ra\n"
	"block_size = 1000\n"
	"align = 64\n"
	"blocks = 1\n"
	"[pool pn]\n"
	"region = rn\n"
	"block_size = 1000\n"
	"align = 64\n"
	"blocks = 1\n"
	"[pool pb]\n"
	"region = rx\n"
	"block_size = 1000\n"
	"align = 64\n"
	"blocks = 16\n"
	"[pool fp]\n"
	"region = f\n"
	"block_size = 4096\n"
	"blocks = 4\n";

static struct harness h;
static shmpool_t *sp;
static char file_dir[PATH_MAX];
static char file_path[PATH_MAX + 16];

static const char *const region_names[] = { "rx", "ra", "rn", "hx", "ha", "hn", "hp", "f" };
#define NREGIONS (sizeof(region_names) / sizeof(region_names[0]))

static int setup(void **state)
{
	char *config;
	int rc;

	(void)state;
	snprintf(file_dir, sizeof(file_dir), "%s/shmpool-scrub-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(file_dir))
		return -1;
	if ((size_t)snprintf(file_path, sizeof(file_path), "%s/backing", file_dir) >=
	    sizeof(file_path))
		return -1;
	if (asprintf(&config, config_fmt, file_path) < 0)
		return -1;
	rc = testutil_start(&h, config, &sp);
	free(config);
	if (rc < 0)
		return -1;
	/* mkdtemp made the directory 0700: let nobody reach the socket,
	 * which socket_mode opens to everyone. */
	return chmod(h.dir, 0755) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	int rc;

	(void)state;
	rc = testutil_finish(&h, &sp);
	unlink(file_path);
	rmdir(file_dir);
	return rc;
}

/* Bytes of p[0..n) that are not byte. */
static size_t count_not(const void *p, size_t n, unsigned char byte)
{
	const unsigned char *b = p;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += b[i] != byte;
	return bad;
}

/* The offset of held memory p in its region, read from its ref (whose
 * layout is struct proto_ref); -1 on failure. */
static int64_t offset_of(shmpool_t *c, const void *p)
{
	shmpool_ref_t ref;
	struct proto_ref pr;

	if (shmpool_ref(c, p, &ref) < 0)
		return -1;
	memcpy(&pr, ref.bytes, sizeof(pr));
	return (int64_t)pr.offset;
}

/* Poll pool until no block is used: another process's disconnect is
 * served in no fixed order relative to our requests.  A hang guard. */
static void wait_unused(shmpool_pool_t *pool)
{
	struct shmpool_pool_stat st;

	for (int i = 0; i < 2000; i++) {
		assert_int_equal(shmpool_pool_stat(pool, &st), 0);
		if (st.num_used == 0)
			return;
		usleep(5000);
	}
	fail_msg("pool still has %zu blocks used", st.num_used);
}

/* ---- raw protocol, for the daemon's counters ---- */

/* The daemon's PROTO_STATS, through a connection of its own. */
static void raw_stats(struct proto_stats_reply *r)
{
	int fd = harness_hello(&h, NULL);

	harness_stats(fd, 2, r);
	close(fd);
}

/* The PROTO_REGION_INFO entry of region name. */
static void raw_region(const char *name, struct proto_region_info_reply *r)
{
	struct proto_cursor_req m;
	int fd = harness_hello(&h, NULL);

	memset(&m, 0, sizeof(m));
	for (uint32_t id = 3;; id++) {
		harness_hdr_set(&m.hdr, PROTO_REGION_INFO, id);
		assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
		assert_int_equal(harness_recv(fd, r, sizeof(*r), NULL), (long)sizeof(*r));
		if (r->r.status != 1)
			fail_msg("no region '%s'", name);
		if (strcmp(r->name, name) == 0)
			break;
		m.cursor = r->next_cursor;
	}
	close(fd);
}

/* The stride of pool name, from PROTO_POOL_INFO. */
static uint64_t raw_pool_stride(const char *name)
{
	struct proto_cursor_req m;
	struct proto_pool_info_reply r;
	int fd = harness_hello(&h, NULL);

	memset(&m, 0, sizeof(m));
	for (uint32_t id = 3;; id++) {
		harness_hdr_set(&m.hdr, PROTO_POOL_INFO, id);
		assert_int_equal(proto_send(fd, &m, sizeof(m), -1, 0), 0);
		assert_int_equal(harness_recv(fd, &r, sizeof(r), NULL), (long)sizeof(r));
		if (r.r.status != 1)
			fail_msg("no pool '%s'", name);
		if (strcmp(r.name, name) == 0)
			break;
		m.cursor = r.next_cursor;
	}
	close(fd);
	return r.stride;
}

/*
 * The daemon scrubbed exactly total bytes, all of them in region; every
 * other region has none.  Failures name the caller's line.
 */
#define expect_scrubbed(region, total) expect_scrubbed_at(region, total, __LINE__)

static void expect_scrubbed_at(const char *region, uint64_t total, int line)
{
	struct proto_stats_reply st;
	struct proto_region_info_reply ri;

	raw_stats(&st);
	if (st.scrubbed_bytes != total)
		fail_msg("line %d: the daemon scrubbed %" PRIu64 " bytes, want %" PRIu64, line,
			 st.scrubbed_bytes, total);
	for (size_t i = 0; i < NREGIONS; i++) {
		uint64_t want = region && strcmp(region, region_names[i]) == 0 ? total : 0;

		raw_region(region_names[i], &ri);
		if (ri.scrubbed_bytes != want)
			fail_msg("line %d: region %s scrubbed %" PRIu64 " bytes, want %" PRIu64,
				 line, region_names[i], ri.scrubbed_bytes, want);
	}
}

/* ------------------------------------------------------------------ */

/* What root tells a child: where its memory was, and what to look for. */
struct scrub_case {
	char name[16];                          /* pool or heap instance */
	int64_t offset;
	size_t len;                             /* bytes to examine */
	size_t size;                            /* heap: bytes to ask for */
	unsigned char expect;                   /* what the child must read */
	unsigned char leave;                    /* what it writes before freeing */
};

/* Connect and open pool name, reporting both: 0, or -1 if either failed. */
static int child_open(struct child_results *res, const char *name, shmpool_t **c,
		      shmpool_pool_t **pool)
{
	int rc = shmpool_connect(h.socket, c);

	child_put(res, rc);
	if (rc < 0)
		return -1;
	rc = shmpool_pool_open(*c, name, pool);
	child_put(res, rc);
	return rc < 0 ? -1 : 0;
}

/* Take the pool's block, report its offset and the bytes of it that are
 * not what was expected, fill it and free it. */
static void block_child(const void *in, struct child_results *res)
{
	const struct scrub_case *sc = in;
	shmpool_t *c = NULL;
	shmpool_pool_t *pool = NULL;
	void *b = NULL;
	int rc;

	if (child_open(res, sc->name, &c, &pool) < 0)
		return;
	rc = shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, offset_of(c, b));
	child_put(res, count_not(b, sc->len, sc->expect));
	memset(b, sc->leave, sc->len);
	child_put(res, shmpool_block_free(pool, b));
	shmpool_pool_close(pool);
	shmpool_disconnect(c);
}

/* A batch of BATCH blocks of pool pb: the offset of the first, the bytes
 * of all that are not what was expected; then fill them and free them. */
#define BATCH 16

static void batch_child(const void *in, struct child_results *res)
{
	const struct scrub_case *sc = in;
	shmpool_t *c = NULL;
	shmpool_pool_t *pool = NULL;
	void *b[BATCH];
	size_t bad = 0;
	int rc;

	if (child_open(res, "pb", &c, &pool) < 0)
		return;
	rc = shmpool_blocks_alloc(pool, BATCH, b, SHMPOOL_NO_WAIT);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, offset_of(c, b[0]));
	for (int i = 0; i < BATCH; i++)
		bad += count_not(b[i], STRIDE, sc->expect);
	child_put(res, bad);
	for (int i = 0; i < BATCH; i++)
		memset(b[i], sc->leave, STRIDE);
	child_put(res, shmpool_blocks_free(pool, BATCH, b));
	shmpool_pool_close(pool);
	shmpool_disconnect(c);
}

/* The same for heap memory of instance name. */
static void heap_child(const void *in, struct child_results *res)
{
	const struct scrub_case *sc = in;
	shmpool_t *c = NULL;
	void *p = NULL;
	size_t usable = 0;
	int rc;

	rc = shmpool_connect(h.socket, &c);
	child_put(res, rc);
	if (rc < 0)
		return;
	rc = shmpool_alloc_ex(c, sc->name, SHMPOOL_ATTR_CACHEABLE, 0, sc->size, &p);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, offset_of(c, p));
	child_put(res, shmpool_usable_size(c, p, &usable));
	child_put(res, usable);
	child_put(res, count_not(p, sc->len, sc->expect));
	memset(p, sc->leave, sc->len);
	child_put(res, shmpool_free(c, p));
	shmpool_disconnect(c);
}

/* Root fills the one block of pool with byte and frees it; its offset. */
static int64_t root_leaves_block(shmpool_t *c, const char *pool_name, unsigned char byte)
{
	shmpool_pool_t *pool = testutil_pool_open(c, pool_name);
	void *b = NULL;
	int64_t off;

	assert_int_equal(shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT), 0);
	memset(b, byte, STRIDE);
	off = offset_of(c, b);
	assert_true(off >= 0);
	assert_int_equal(shmpool_block_free(pool, b), 0);
	testutil_barrier(c);
	shmpool_pool_close(pool);
	return off;
}

/* Root takes the one block of pool and counts the bytes that are not
 * byte; the block is freed again. */
static size_t root_takes_block(shmpool_t *c, const char *pool_name, int64_t offset,
			       unsigned char byte)
{
	shmpool_pool_t *pool = testutil_pool_open(c, pool_name);
	void *b = NULL;
	size_t bad;

	wait_unused(pool);
	assert_int_equal(shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(offset_of(c, b), offset);
	bad = count_not(b, STRIDE, byte);
	assert_int_equal(shmpool_block_free(pool, b), 0);
	testutil_barrier(c);
	shmpool_pool_close(pool);
	return bad;
}

/* nobody takes the one block of pool, len bytes long: at offset, reading
 * only expect, and leaves it filled with leave. */
static void nobody_takes_block(const char *pool_name, size_t len, int64_t offset,
			       unsigned char expect, unsigned char leave)
{
	struct scrub_case sc;
	struct child_results res;

	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "%s", pool_name);
	sc.len = len;
	sc.expect = expect;
	sc.leave = leave;
	harness_run_as(&h, &harness_nobody, block_child, &sc, sizeof(sc), &res);
	assert_int_equal(res.n, 6);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, 0);
	child_expect(&res, 3, offset);         /* the very block root had */
	child_expect(&res, 4, 0);              /* every byte as expected */
	child_expect(&res, 5, 0);
}

/* The stride the expected counts rest on. */
static void test_pool_stride(void **state)
{
	(void)state;
	assert_int_equal(raw_pool_stride("px"), STRIDE);
	assert_int_equal(raw_pool_stride("pa"), STRIDE);
	assert_int_equal(raw_pool_stride("pn"), STRIDE);
	expect_scrubbed(NULL, 0);
}

/*
 * cross-uid: the block root filled with 0xab reaches nobody as zeros,
 * padding included; what nobody leaves reaches root as zeros too.  One
 * stride is scrubbed per change of uid.
 */
static void test_block_cross_uid(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_block(sp, "px", 0xab);
	expect_scrubbed(NULL, 0);
	nobody_takes_block("px", STRIDE, off, 0x00, 0xcd);
	expect_scrubbed("rx", STRIDE);
	assert_int_equal(root_takes_block(sp, "px", off, 0x00), 0);
	expect_scrubbed("rx", 2 * STRIDE);
}

/* cross-uid: another connection of the same uid gets the block as the
 * first left it; nothing is scrubbed. */
static void test_block_same_uid(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	int64_t off;

	(void)state;
	off = root_leaves_block(sp, "px", 0xab);
	assert_int_equal(root_takes_block(other, "px", off, 0xab), 0);
	expect_scrubbed(NULL, 0);
	shmpool_disconnect(other);
}

/* Root takes all of pool pb in one batch (a run of adjacent blocks, which
 * the daemon records as one span), checks every byte of it against expect,
 * fills it with leave and frees it; the offset of its first block. */
static int64_t root_batch(unsigned char expect, unsigned char leave)
{
	shmpool_pool_t *pool = testutil_pool_open(sp, "pb");
	void *b[BATCH];
	int64_t off;

	wait_unused(pool);
	assert_int_equal(shmpool_blocks_alloc(pool, BATCH, b, SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < BATCH; i++) {
		assert_int_equal(count_not(b[i], STRIDE, expect), 0);
		memset(b[i], leave, STRIDE);
	}
	off = offset_of(sp, b[0]);
	assert_int_equal(shmpool_blocks_free(pool, BATCH, b), 0);
	testutil_barrier(sp);
	shmpool_pool_close(pool);
	return off;
}

/*
 * cross-uid on a batch: the run root leaves reaches nobody as zeros in
 * every block, and nobody's reaches root as zeros; root taking back its
 * own batch gets it as it left it, with nothing scrubbed.
 */
static void test_batch_cross_uid(void **state)
{
	struct scrub_case sc;
	struct child_results res;
	int64_t off;

	(void)state;
	/* A batch of adjacent blocks goes back as a run, lowest on top: each
	 * batch here is the same run, going up. */
	off = root_batch(0x00, 0xab);
	assert_int_equal(root_batch(0xab, 0x5a), off);
	expect_scrubbed(NULL, 0);
	memset(&sc, 0, sizeof(sc));
	sc.expect = 0x00;
	sc.leave = 0xcd;
	harness_run_as(&h, &harness_nobody, batch_child, &sc, sizeof(sc), &res);
	assert_int_equal(res.n, 6);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, 0);
	child_expect(&res, 3, off);
	child_expect(&res, 4, 0);              /* every byte zero */
	child_expect(&res, 5, 0);
	expect_scrubbed("rx", BATCH * STRIDE);
	assert_int_equal(root_batch(0x00, 0x11), off);
	expect_scrubbed("rx", 2 * BATCH * STRIDE);
}

/* always: every free zeroes the block, so even the same uid reads zeros,
 * and a change of uid costs nothing more. */
static void test_block_always(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	int64_t off;

	(void)state;
	off = root_leaves_block(sp, "pa", 0xab);
	expect_scrubbed("ra", STRIDE);
	assert_int_equal(root_takes_block(other, "pa", off, 0x00), 0);
	expect_scrubbed("ra", 2 * STRIDE);
	nobody_takes_block("pa", STRIDE, off, 0x00, 0xcd);
	/* nobody's free, and nothing at its allocation. */
	expect_scrubbed("ra", 3 * STRIDE);
	shmpool_disconnect(other);
}

/* never: nobody reads what root left.  That is what never means. */
static void test_block_never(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_block(sp, "pn", 0xab);
	nobody_takes_block("pn", STRIDE, off, 0xab, 0xcd);
	assert_int_equal(root_takes_block(sp, "pn", off, 0xcd), 0);
	expect_scrubbed(NULL, 0);
}

/* Root allocates size bytes of heap instance name, fills len of them with
 * byte and frees them; the offset. */
static int64_t root_leaves_heap(shmpool_t *c, const char *heap, size_t size, unsigned char byte)
{
	void *p = NULL;
	size_t usable = 0;
	int64_t off;

	assert_int_equal(shmpool_alloc_ex(c, heap, SHMPOOL_ATTR_CACHEABLE, 0, size, &p), 0);
	assert_int_equal(shmpool_usable_size(c, p, &usable), 0);
	assert_int_equal(usable, size);
	memset(p, byte, size);
	off = offset_of(c, p);
	assert_true(off >= 0);
	assert_int_equal(shmpool_free(c, p), 0);
	testutil_barrier(c);
	return off;
}

/* Root allocates size bytes again: at offset, reading only byte. */
static void root_takes_heap(shmpool_t *c, const char *heap, size_t size, int64_t offset,
			    unsigned char byte)
{
	void *p = NULL;

	assert_int_equal(shmpool_alloc_ex(c, heap, SHMPOOL_ATTR_CACHEABLE, 0, size, &p), 0);
	assert_int_equal(offset_of(c, p), offset);
	assert_int_equal(count_not(p, size, byte), 0);
	assert_int_equal(shmpool_free(c, p), 0);
	testutil_barrier(c);
}

/* nobody allocates size bytes of heap: at offset, reading only expect,
 * and leaves them filled with leave. */
static void nobody_takes_heap(const char *heap, size_t size, int64_t offset, unsigned char expect,
			      unsigned char leave)
{
	struct scrub_case sc;
	struct child_results res;

	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "%s", heap);
	sc.size = size;
	sc.len = size;
	sc.expect = expect;
	sc.leave = leave;
	harness_run_as(&h, &harness_nobody, heap_child, &sc, sizeof(sc), &res);
	assert_int_equal(res.n, 7);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, offset);
	child_expect(&res, 3, 0);
	child_expect(&res, 4, size);
	child_expect(&res, 5, 0);
	child_expect(&res, 6, 0);
}

/* cross-uid heap memory: 4096 bytes root filled reach nobody as zeros,
 * and what nobody leaves reaches root as zeros. */
static void test_heap_cross_uid(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapx", HEAP_SIZE, 0xab);
	expect_scrubbed(NULL, 0);
	nobody_takes_heap("heapx", HEAP_SIZE, off, 0x00, 0xcd);
	expect_scrubbed("hx", HEAP_SIZE);
	root_takes_heap(sp, "heapx", HEAP_SIZE, off, 0x00);
	expect_scrubbed("hx", 2 * HEAP_SIZE);
}

/* cross-uid heap memory, same uid: the pattern stays. */
static void test_heap_same_uid(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapx", HEAP_SIZE, 0xab);
	root_takes_heap(other, "heapx", HEAP_SIZE, off, 0xab);
	expect_scrubbed(NULL, 0);
	shmpool_disconnect(other);
}

/*
 * cross-uid: a heap allocation that shares a page with memory root still
 * holds is zeroed alone; root's neighbour keeps its data.
 */
static void test_heap_neighbour(void **state)
{
	void *a = NULL, *b = NULL;
	int64_t off;

	(void)state;
	assert_int_equal(shmpool_alloc_ex(sp, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 112, &a), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 112, &b), 0);
	assert_int_equal(offset_of(sp, b), offset_of(sp, a) + 112);
	memset(a, 0xab, 112);
	memset(b, 0xcd, 112);
	off = offset_of(sp, a);
	assert_int_equal(shmpool_free(sp, a), 0);
	testutil_barrier(sp);
	nobody_takes_heap("heapx", 112, off, 0x00, 0xee);
	expect_scrubbed("hx", 112);
	assert_int_equal(count_not(b, 112, 0xcd), 0);
	assert_int_equal(shmpool_free(sp, b), 0);
}

/* always: heap memory is zeroed at every free, for the same uid too. */
static void test_heap_always(void **state)
{
	shmpool_t *other = testutil_connect(&h);
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapa", HEAP_SIZE, 0xab);
	expect_scrubbed("ha", HEAP_SIZE);
	root_takes_heap(other, "heapa", HEAP_SIZE, off, 0x00);
	expect_scrubbed("ha", 2 * HEAP_SIZE);
	shmpool_disconnect(other);
}

/* never: nobody reads root's heap memory. */
static void test_heap_never(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapn", HEAP_SIZE, 0xab);
	nobody_takes_heap("heapn", HEAP_SIZE, off, 0xab, 0xcd);
	expect_scrubbed(NULL, 0);
}

/*
 * A block used while its region was scrub = never goes to another uid
 * zeroed once a reload makes the region cross-uid: who wrote it meanwhile
 * was not tracked.
 */
static void test_reload_to_cross_uid_block(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_block(sp, "pn", 0xab);
	harness_reload_with(&h, "size = 1M\nscrub = never\n", "size = 1M\nscrub = cross-uid\n",
		    "region 'rn': scrub changed to cross-uid");
	nobody_takes_block("pn", STRIDE, off, 0x00, 0xcd);
	expect_scrubbed("rn", STRIDE);
}

/* The same for heap memory: the region's chunks start out mixed. */
static void test_reload_to_cross_uid_heap(void **state)
{
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapn", HEAP_SIZE, 0xab);
	harness_reload_with(&h, "[region hn]\nsize = 1M\nscrub = never\n",
		    "[region hn]\nsize = 1M\nscrub = cross-uid\n",
		    "region 'hn': scrub changed to cross-uid");
	nobody_takes_heap("heapn", HEAP_SIZE, off, 0x00, 0xcd);
	expect_scrubbed("hn", HEAP_SIZE);
}

/* nobody's realloc, after root filled and freed 8192 bytes of heapx at
 * offset 0: a 16-byte allocation marked 'x', grown to size, either in place
 * or (with a neighbour in the way) by a move. */
struct realloc_case {
	size_t size;
	int neighbour;
};

static void realloc_child(const void *in, struct child_results *res)
{
	const struct realloc_case *rc_in = in;
	shmpool_t *c = NULL;
	void *a = NULL, *b = NULL;
	int rc;

	rc = shmpool_connect(h.socket, &c);
	child_put(res, rc);
	if (rc < 0)
		return;
	rc = shmpool_alloc_ex(c, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 16, &a);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, offset_of(c, a));
	memset(a, 'x', 16);
	if (rc_in->neighbour) {
		rc = shmpool_alloc_ex(c, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 16, &b);
		child_put(res, rc);
		if (rc < 0)
			return;
		child_put(res, offset_of(c, b));
	}
	rc = shmpool_realloc(c, &a, rc_in->size);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, offset_of(c, a));
	child_put(res, count_not(a, 16, 'x'));
	child_put(res, count_not((char *)a + 16, rc_in->size - 16, 0));
	shmpool_disconnect(c);
}

/*
 * cross-uid: nobody grows a small allocation in place over the 8 KiB root
 * left: the growth is zeroed (16 bytes at the allocation, 8176 at the
 * realloc), and nobody's own 16 bytes are kept.
 */
static void test_heap_realloc_in_place(void **state)
{
	const struct realloc_case rc_in = { 8192, 0 };
	struct child_results res;
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapx", 8192, 0xab);
	assert_int_equal(off, 0);
	harness_run_as(&h, &harness_nobody, realloc_child, &rc_in, sizeof(rc_in), &res);
	assert_int_equal(res.n, 7);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, 0);
	child_expect(&res, 3, 0);
	child_expect(&res, 4, 0);              /* in place */
	child_expect(&res, 5, 0);
	child_expect(&res, 6, 0);
	expect_scrubbed("hx", 8192);
}

/*
 * cross-uid: the same growth with a neighbour in the way moves the
 * allocation to offset 32, still inside what root left: the daemon zeroes
 * the new place (4096 bytes) before it copies nobody's 16 bytes there.
 */
static void test_heap_realloc_move(void **state)
{
	const struct realloc_case rc_in = { 4096, 1 };
	struct child_results res;
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapx", 8192, 0xab);
	assert_int_equal(off, 0);
	harness_run_as(&h, &harness_nobody, realloc_child, &rc_in, sizeof(rc_in), &res);
	assert_int_equal(res.n, 9);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, 0);
	child_expect(&res, 3, 0);
	child_expect(&res, 4, 16);             /* the neighbour */
	child_expect(&res, 5, 0);
	child_expect(&res, 6, 32);             /* moved, within root's 8 KiB */
	child_expect(&res, 7, 0);
	child_expect(&res, 8, 0);
	expect_scrubbed("hx", 16 + 16 + 4096);
}

/*
 * cross-uid: heap memory root filled and freed, which a pool created at
 * run time then covers, reaches nobody's block as zeros.
 */
static void test_heap_then_pool(void **state)
{
	const struct shmpool_pool_config pc = {
		.name = "late", .block_size = HEAP_SIZE, .num_blocks = 1, .region = "hp",
	};
	shmpool_pool_t *pool = NULL;
	int64_t off;

	(void)state;
	off = root_leaves_heap(sp, "heapp", HEAP_SIZE, 0xab);
	assert_int_equal(shmpool_pool_create(sp, &pc, &pool), 0);
	nobody_takes_block("late", HEAP_SIZE, off, 0x00, 0xcd);
	expect_scrubbed("hp", HEAP_SIZE);
	shmpool_pool_close(pool);
}

/* ---- SIGBUS ---- */

/* Region name is backed by backing and has PROTO_RI_BROKEN as in flags. */
static void expect_region(const char *name, const char *backing, uint32_t flags)
{
	struct proto_region_info_reply ri;

	raw_region(name, &ri);
	assert_string_equal(ri.backing, backing);
	assert_int_equal(ri.flags & PROTO_RI_BROKEN, flags);
}

/*
 * A file region whose file is truncated under the daemon: freeing a block
 * there makes the daemon zero it (scrub = always) and take SIGBUS.  It
 * survives, marks the region broken (PROTO_RI_BROKEN), refuses the pool's
 * new allocations with -EIO, and serves the other regions as before.
 */
static void test_sigbus(void **state)
{
	shmpool_pool_t *fp = testutil_pool_open(sp, "fp"), *px;
	struct proto_stats_reply st;
	struct shmpool_pool_stat ps;
	void *b = NULL, *p = NULL;

	(void)state;
	assert_int_equal(shmpool_block_alloc(fp, &b, SHMPOOL_NO_WAIT), 0);
	memset(b, 0xab, 4096);
	expect_region("f", "file", 0);
	/* From here on nothing in this process touches the file's mapping. */
	assert_int_equal(truncate(file_path, 0), 0);
	assert_int_equal(shmpool_block_free(fp, b), 0);
	testutil_barrier(sp);

	expect_region("f", "file", PROTO_RI_BROKEN);
	expect_region("rx", "memfd", 0);
	assert_int_equal(shmpool_block_alloc(fp, &b, SHMPOOL_NO_WAIT), -EIO);
	assert_int_equal(shmpool_block_alloc(fp, &b, 100), -EIO);
	assert_int_equal(shmpool_blocks_alloc(fp, 2, (void *[2]){ NULL, NULL }, SHMPOOL_NO_WAIT),
			 -EIO);
	/* The block went back all the same: the pool is whole, only broken. */
	assert_int_equal(shmpool_pool_stat(fp, &ps), 0);
	assert_int_equal(ps.num_used, 0);
	/* Nothing was scrubbed: the zeroing never completed. */
	raw_stats(&st);
	assert_int_equal(st.scrubbed_bytes, 0);

	/* The daemon goes on: another region's pool and heap serve. */
	px = testutil_pool_open(sp, "px");
	assert_int_equal(shmpool_block_alloc(px, &b, SHMPOOL_NO_WAIT), 0);
	memset(b, 1, BLOCK);
	assert_int_equal(shmpool_block_free(px, b), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 64, &p), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
	testutil_barrier(sp);
	assert_int_equal(kill(h.pid, 0), 0);

	/* The log says why, once. */
	assert_int_equal(harness_log_lines(&h, "region 'f': SIGBUS", NULL), 1);

	shmpool_pool_close(px);
	shmpool_pool_close(fp);
}

/*
 * The same through heap memory: a free of heap memory in the truncated
 * file breaks the region, and new allocations from it, heap or pool, are
 * -EIO like the pool's.  Here the free is read by the daemon's call thread
 * (a pool stat through the call slot), which then takes the SIGBUS.
 */
static void test_sigbus_heap(void **state)
{
	shmpool_pool_t *fp = testutil_pool_open(sp, "fp");
	void *p = NULL, *x = (void *)&x;

	(void)state;
	assert_int_equal(shmpool_alloc_ex(sp, "heapf", SHMPOOL_ATTR_CACHEABLE, 0, 4096, &p), 0);
	memset(p, 0xab, 4096);
	assert_int_equal(truncate(file_path, 0), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
	{
		struct shmpool_pool_stat ps;

		assert_int_equal(shmpool_pool_stat(fp, &ps), 0);
	}
	expect_region("f", "file", PROTO_RI_BROKEN);
	assert_int_equal(shmpool_alloc_ex(sp, "heapf", SHMPOOL_ATTR_CACHEABLE, 0, 64, &x), -EIO);
	assert_ptr_equal(x, (void *)&x);
	assert_int_equal(shmpool_block_alloc(fp, &x, SHMPOOL_NO_WAIT), -EIO);
	assert_int_equal(shmpool_alloc_ex(sp, "heapx", SHMPOOL_ATTR_CACHEABLE, 0, 64, &p), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
	shmpool_pool_close(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_stride, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_cross_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_same_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_cross_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_always, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_cross_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_same_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_neighbour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_always, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_to_cross_uid_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_to_cross_uid_heap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_realloc_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_realloc_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_then_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigbus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigbus_heap, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("test_scrub: skipped: switching to another uid needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
