/*
 * Access lists against a real shmpoold: [region], [pool] and [heap]
 * allow_users, allow_groups, read_only_users and read_only_groups, seen by
 * clients of other uids through the real socket and real mappings.
 *
 * The tests fork children that drop to other uids and gids (nobody and
 * nogroup, 65534, and the unnamed 65533), so they need root; without it
 * the binary skips.  Children connect on their own after fork, never touch
 * cmocka, and send their results back through a pipe for the parent to
 * check; they leave with _exit.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmpool.h"
#include "testutil.h"

#define NOBODY 65534
#define NOGROUP 65534
#define STRANGER 65533                          /* a uid and gid no list names */

#define ATTR_SECRET 2
#define ATTR_SHARED 3
#define ATTR_GRP 4
#define ATTR_NOBODY 5
#define ATTR_ROGRP 6

/*
 * Regions, each with an attribute of its own so that a heap allocation by
 * attribute names the region:
 *   open        no list
 *   rootonly    allow_users = root
 *   ro          root may write, nobody may read
 *   grp         members of nogroup only
 *   nobodyonly  nobody only (root is never denied)
 *   rogrp       root may write, members of nogroup may read
 *   hl          in heap "hlocked", whose own list allows root only
 */
static const char config[] =
	"[daemon]\n"
	"socket_mode = 0666\n"
	"[attributes]\n"
	"secret = 2\n"
	"shared = 3\n"
	"grp = 4\n"
	"nob = 5\n"
	"rogrp = 6\n"
	"[region open]\n"
	"size = 1M\n"
	"[region rootonly]\n"
	"size = 1M\n"
	"attr = secret\n"
	"allow_users = root\n"
	"[region ro]\n"
	"size = 1M\n"
	"attr = shared\n"
	"allow_users = root\n"
	"read_only_users = nobody\n"
	"[region grp]\n"
	"size = 1M\n"
	"attr = grp\n"
	"allow_groups = nogroup\n"
	"[region nobodyonly]\n"
	"size = 1M\n"
	"attr = nob\n"
	"allow_users = nobody\n"
	"[region rogrp]\n"
	"size = 1M\n"
	"attr = rogrp\n"
	"allow_users = root\n"
	"read_only_groups = nogroup\n"
	"[region hl]\n"
	"size = 1M\n"
	"[heap hlocked]\n"
	"regions = hl\n"
	"allow_users = root\n"
	"[pool popen]\n"
	"region = open\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool proot]\n"
	"region = open\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"allow_users = root\n"
	"[pool pregion]\n"
	"region = rootonly\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool pro]\n"
	"region = ro\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool pgrp]\n"
	"region = grp\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[pool pnobody]\n"
	"region = nobodyonly\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"allow_users = nobody\n"
	"[pool prog]\n"
	"region = rogrp\n"
	"block_size = 4096\n"
	"blocks = 4\n"
	"[group gregion]\n"
	"pools = pregion\n"
	"[group gopen]\n"
	"pools = popen\n";

static struct harness h;
static shmpool_t *sp;

static int setup(void **state)
{
	(void)state;
	if (testutil_start(&h, config, &sp) < 0)
		return -1;
	/* mkdtemp made the directory 0700: let the other uids reach the
	 * socket, which socket_mode opens to everyone. */
	return chmod(h.dir, 0755) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return testutil_finish(&h, &sp);
}

/* In a child: connect, recording the result; NULL when it failed. */
static shmpool_t *child_connect(struct child_results *res)
{
	shmpool_t *c = NULL;
	int rc = shmpool_connect(h.socket, &c);

	child_put(res, rc);
	return rc == 0 ? c : NULL;
}

/* In a child: open pool name and take one block; both results recorded,
 * the block freed again. */
static void child_open_alloc(shmpool_t *c, const char *name, struct child_results *res)
{
	shmpool_pool_t *pool = NULL;
	void *b = NULL;
	int rc = shmpool_pool_open(c, name, &pool);

	child_put(res, rc);
	if (rc < 0)
		return;
	rc = shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT);
	child_put(res, rc);
	if (rc == 0)
		shmpool_block_free(pool, b);
	shmpool_pool_close(pool);
}

/* In a child: a heap allocation of size bytes, freed again; records the
 * result. */
static void child_heap(shmpool_t *c, const char *heap, uint32_t attr, struct child_results *res)
{
	void *p = NULL;
	int rc = shmpool_alloc_ex(c, heap, attr, 0, 64, &p);

	child_put(res, rc);
	if (rc == 0)
		shmpool_free(c, p);
}

/* ------------------------------------------------------------------ */

static void open_denied_child(const void *in, struct child_results *res)
{
	shmpool_t *c = child_connect(res);

	(void)in;
	if (!c)
		return;
	child_open_alloc(c, "proot", res);
	child_open_alloc(c, "pregion", res);
	child_open_alloc(c, "popen", res);
	shmpool_disconnect(c);
}

/* A pool whose own list, or whose region's list, names root only cannot
 * be opened by nobody; an open pool beside them can. */
static void test_open_denied(void **state)
{
	struct child_results res;
	shmpool_pool_t *p;
	void *b = NULL;

	(void)state;
	harness_run_as(&h, &harness_nobody, open_denied_child, NULL, 0, &res);
	assert_int_equal(res.n, 5);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, -EACCES);        /* [pool] allow_users = root */
	child_expect(&res, 2, -EACCES);        /* its [region] allows root only */
	child_expect(&res, 3, 0);
	child_expect(&res, 4, 0);

	/* Root, listed, is served. */
	p = testutil_pool_open(sp, "proot");
	assert_int_equal(shmpool_block_alloc(p, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(p, b), 0);
	shmpool_pool_close(p);
}

static void alloc_denied_child(const void *in, struct child_results *res)
{
	shmpool_t *c = child_connect(res);
	void *blocks[1] = { NULL }, *p = NULL;
	size_t bs = 99;

	(void)in;
	if (!c)
		return;
	/* The heap by attribute: the only region with it allows root only. */
	child_heap(c, NULL, ATTR_SECRET, res);
	child_put(res, shmpool_calloc(c, ATTR_SECRET, 4, 16, &p));
	child_put(res, p == NULL);
	/* The same heap, an open region. */
	child_heap(c, NULL, SHMPOOL_ATTR_CACHEABLE, res);
	/* A heap instance whose own list allows root only. */
	child_heap(c, "hlocked", SHMPOOL_ATTR_CACHEABLE, res);
	/* A group reaches the pool without opening it. */
	child_put(res, shmpool_group_alloc(c, "gregion", 0, 1, blocks, &bs, SHMPOOL_NO_WAIT));
	child_put(res, bs);
	child_put(res, shmpool_group_alloc(c, "gopen", 0, 1, blocks, &bs, SHMPOOL_NO_WAIT));
	child_put(res, bs);
	if (blocks[0])
		shmpool_group_free(c, 1, blocks);
	shmpool_disconnect(c);
}

/* Allocations nobody may not make: heap memory of a root-only region or
 * heap instance, and blocks of a root-only region reached through a
 * group. */
static void test_alloc_denied(void **state)
{
	struct child_results res;
	void *p = NULL;

	(void)state;
	harness_run_as(&h, &harness_nobody, alloc_denied_child, NULL, 0, &res);
	assert_int_equal(res.n, 10);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, -EACCES);
	child_expect(&res, 2, -EACCES);
	child_expect(&res, 3, 1);              /* *out untouched */
	child_expect(&res, 4, 0);
	child_expect(&res, 5, -EACCES);
	child_expect(&res, 6, -EACCES);
	child_expect(&res, 7, 99);             /* *block_size untouched */
	child_expect(&res, 8, 0);
	child_expect(&res, 9, 4096);

	/* Root is served from all of them. */
	assert_int_equal(shmpool_alloc(sp, ATTR_SECRET, 64, &p), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "hlocked", SHMPOOL_ATTR_CACHEABLE, 0, 64, &p), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
}

/* The refs root hands a child, and the pattern seed of each. */
struct refs {
	shmpool_ref_t ref[5];
};

static void attach_denied_child(const void *in, struct child_results *res)
{
	const struct refs *refs = in;
	shmpool_t *c = child_connect(res);

	if (!c)
		return;
	for (int i = 0; i < 5; i++) {
		void *p = NULL;
		int rc = shmpool_attach(c, &refs->ref[i], &p);

		child_put(res, rc);
		if (rc == 0) {
			child_put(res, testutil_mismatches(p, 4096, 40 + (unsigned)i));
			shmpool_free(c, p);
		}
	}
	shmpool_disconnect(c);
}

/*
 * Memory that root holds, named by refs passed through a pipe: nobody may
 * not attach a block of a root-only pool or region, nor heap memory of a
 * root-only region or heap instance.  A block of an open pool it may, and
 * reads what root wrote.
 */
static void test_attach_denied(void **state)
{
	shmpool_pool_t *proot = testutil_pool_open(sp, "proot");
	shmpool_pool_t *pregion = testutil_pool_open(sp, "pregion");
	shmpool_pool_t *popen = testutil_pool_open(sp, "popen");
	void *mem[5] = { NULL };
	struct refs refs;
	struct child_results res;

	(void)state;
	assert_int_equal(shmpool_block_alloc(proot, &mem[0], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(pregion, &mem[1], SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_alloc(sp, ATTR_SECRET, 4096, &mem[2]), 0);
	assert_int_equal(shmpool_alloc_ex(sp, "hlocked", SHMPOOL_ATTR_CACHEABLE, 0, 4096, &mem[3]),
			 0);
	assert_int_equal(shmpool_block_alloc(popen, &mem[4], SHMPOOL_NO_WAIT), 0);
	for (int i = 0; i < 5; i++) {
		testutil_fill(mem[i], 4096, 40 + (unsigned)i);
		assert_int_equal(shmpool_ref(sp, mem[i], &refs.ref[i]), 0);
	}
	harness_run_as(&h, &harness_nobody, attach_denied_child, &refs, sizeof(refs), &res);
	assert_int_equal(res.n, 7);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, -EACCES);        /* block, [pool] allow_users = root */
	child_expect(&res, 2, -EACCES);        /* block, [region] allow_users = root */
	child_expect(&res, 3, -EACCES);        /* heap, [region] allow_users = root */
	child_expect(&res, 4, -EACCES);        /* heap, [heap] allow_users = root */
	child_expect(&res, 5, 0);              /* block of an open pool */
	child_expect(&res, 6, 0);

	assert_int_equal(shmpool_block_free(proot, mem[0]), 0);
	assert_int_equal(shmpool_block_free(pregion, mem[1]), 0);
	assert_int_equal(shmpool_free(sp, mem[2]), 0);
	assert_int_equal(shmpool_free(sp, mem[3]), 0);
	assert_int_equal(shmpool_block_free(popen, mem[4]), 0);
	shmpool_pool_close(proot);
	shmpool_pool_close(pregion);
	shmpool_pool_close(popen);
}

#define PERMS(a, b, c, d) (((int64_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* The permissions of the mapping holding p in /proc/self/maps, as PERMS;
 * -1 when no mapping holds it. */
static int64_t maps_perms(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int64_t perms = -1;

	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char pr[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) != 3)
			continue;
		if ((uintptr_t)p >= lo && (uintptr_t)p < hi) {
			perms = PERMS(pr[0], pr[1], pr[2], pr[3]);
			break;
		}
	}
	fclose(f);
	return perms;
}

/* In a grandchild, write to p: the signal that kills it, or 0 if the
 * write went through. */
static int64_t write_signal(void *p)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		*(volatile unsigned char *)p = 0x55;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Which list grants read-only access in read_only_child: "pro" by
 * read_only_users, "prog" by read_only_groups. */
struct ro_case {
	shmpool_ref_t ref;
	uint32_t attr;
	char pool[16];
};

static void read_only_child(const void *in, struct child_results *res)
{
	const struct ro_case *rc_in = in;
	shmpool_t *c = child_connect(res);
	shmpool_pool_t *pool = NULL;
	void *b = NULL, *p = NULL;
	long pagesize = sysconf(_SC_PAGESIZE);
	int rc;

	if (!c)
		return;
	rc = shmpool_pool_open(c, rc_in->pool, &pool);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT));
	child_put(res, shmpool_alloc(c, rc_in->attr, 64, &p));
	rc = shmpool_attach(c, &rc_in->ref, &p);
	child_put(res, rc);
	if (rc < 0)
		return;
	child_put(res, testutil_mismatches(p, 4096, 77));
	child_put(res, maps_perms(p));
	rc = mprotect((void *)((uintptr_t)p & ~(uintptr_t)(pagesize - 1)), (size_t)pagesize,
		      PROT_READ | PROT_WRITE);
	child_put(res, rc < 0 ? -errno : 0);
	child_put(res, write_signal(p));
	child_put(res, testutil_mismatches(p, 4096, 77));
	child_put(res, shmpool_free(c, p));
	shmpool_pool_close(pool);
	shmpool_disconnect(c);
}

static void read_only_case(const char *pool_name, uint32_t attr, const struct harness_who *w)
{
	shmpool_pool_t *pool = testutil_pool_open(sp, pool_name);
	struct shmpool_pool_stat st;
	struct ro_case in;
	struct child_results res;
	void *b = NULL;

	memset(&in, 0, sizeof(in));
	snprintf(in.pool, sizeof(in.pool), "%s", pool_name);
	in.attr = attr;
	assert_int_equal(shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT), 0);
	testutil_fill(b, 4096, 77);
	assert_int_equal(shmpool_ref(sp, b, &in.ref), 0);
	harness_run_as(&h, w, read_only_child, &in, sizeof(in), &res);
	assert_int_equal(res.n, 11);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);              /* pool_open */
	child_expect(&res, 2, -EACCES);        /* block alloc */
	child_expect(&res, 3, -EACCES);        /* heap alloc */
	child_expect(&res, 4, 0);              /* attach */
	child_expect(&res, 5, 0);              /* reads root's data */
	child_expect(&res, 6, PERMS('r', '-', '-', 's'));
	child_expect(&res, 7, -EACCES);        /* the fd itself is read-only */
	child_expect(&res, 8, SIGSEGV);
	child_expect(&res, 9, 0);
	child_expect(&res, 10, 0);             /* its hold let go */
	/* The child's holds are gone; root's block is intact and still held. */
	assert_int_equal(testutil_mismatches(b, 4096, 77), 0);
	assert_int_equal(shmpool_pool_stat(pool, &st), 0);
	assert_int_equal(st.num_used, 1);
	assert_int_equal(shmpool_block_free(pool, b), 0);
	shmpool_pool_close(pool);
}

/*
 * read_only_users = nobody: nobody opens the pool and attaches root's
 * block, reading root's data, but may not allocate; the region reaches it
 * as a read-only fd, mapped r--s, which mprotect cannot make writable and
 * a write to which faults.
 */
static void test_read_only_users(void **state)
{
	(void)state;
	read_only_case("pro", ATTR_SHARED, &harness_nobody);
}

/* read_only_groups = nogroup, matched by the primary group of a uid that
 * no list names. */
static void test_read_only_groups(void **state)
{
	const struct harness_who member = { STRANGER, NOGROUP, 0, { 0 } };

	(void)state;
	read_only_case("prog", ATTR_ROGRP, &member);
}

static void group_child(const void *in, struct child_results *res)
{
	shmpool_t *c = child_connect(res);

	(void)in;
	if (!c)
		return;
	child_open_alloc(c, "pgrp", res);
	child_heap(c, NULL, ATTR_GRP, res);
	child_open_alloc(c, "prog", res);
	shmpool_disconnect(c);
}

/*
 * allow_groups = nogroup admits a client whose primary group, or one of
 * whose supplementary groups, is nogroup, whatever its uid; not one
 * outside it.  read_only_groups = nogroup gives the members a read-only
 * open of "prog" and the others nothing.
 */
static void test_allow_groups(void **state)
{
	const struct harness_who primary = { NOBODY, NOGROUP, 0, { 0 } };
	const struct harness_who supplementary = { STRANGER, STRANGER, 1, { NOGROUP } };
	const struct harness_who outsider = { NOBODY, STRANGER, 0, { 0 } };
	const struct harness_who outsider2 = { STRANGER, STRANGER, 1, { 1000 } };
	const struct harness_who *members[] = { &primary, &supplementary };
	const struct harness_who *outsiders[] = { &outsider, &outsider2 };
	struct child_results res;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		harness_run_as(&h, members[i], group_child, NULL, 0, &res);
		assert_int_equal(res.n, 6);
		child_expect(&res, 0, 0);
		child_expect(&res, 1, 0);
		child_expect(&res, 2, 0);
		child_expect(&res, 3, 0);
		child_expect(&res, 4, 0);          /* prog: read-only open */
		child_expect(&res, 5, -EACCES);    /* and no allocation */
	}
	for (size_t i = 0; i < 2; i++) {
		harness_run_as(&h, outsiders[i], group_child, NULL, 0, &res);
		assert_int_equal(res.n, 4);
		child_expect(&res, 0, 0);
		child_expect(&res, 1, -EACCES);
		child_expect(&res, 2, -EACCES);
		child_expect(&res, 3, -EACCES);
	}
}

static void nobody_only_child(const void *in, struct child_results *res)
{
	shmpool_t *c = child_connect(res);

	(void)in;
	if (!c)
		return;
	child_open_alloc(c, "pnobody", res);
	child_heap(c, NULL, ATTR_NOBODY, res);
	shmpool_disconnect(c);
}

/*
 * uid 0 is never denied: root opens, allocates from and writes to a pool
 * and a region whose lists name nobody alone, while the lists do keep out
 * a uid they do not name.  (The daemon's own uid passes the lists as well;
 * here it is root too.)
 */
static void test_root_never_denied(void **state)
{
	const struct harness_who stranger = { STRANGER, STRANGER, 0, { 0 } };
	shmpool_pool_t *pool = testutil_pool_open(sp, "pnobody");
	struct child_results res;
	void *b = NULL, *p = NULL;

	(void)state;
	assert_int_equal(shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT), 0);
	testutil_fill(b, 4096, 5);
	assert_int_equal(testutil_mismatches(b, 4096, 5), 0);
	assert_int_equal(shmpool_alloc(sp, ATTR_NOBODY, 4096, &p), 0);
	testutil_fill(p, 4096, 6);
	assert_int_equal(testutil_mismatches(p, 4096, 6), 0);
	assert_int_equal(shmpool_block_free(pool, b), 0);
	assert_int_equal(shmpool_free(sp, p), 0);
	shmpool_pool_close(pool);
	testutil_barrier(sp);

	harness_run_as(&h, &harness_nobody, nobody_only_child, NULL, 0, &res);
	assert_int_equal(res.n, 4);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, 0);
	child_expect(&res, 2, 0);
	child_expect(&res, 3, 0);

	harness_run_as(&h, &stranger, nobody_only_child, NULL, 0, &res);
	assert_int_equal(res.n, 3);
	child_expect(&res, 0, 0);
	child_expect(&res, 1, -EACCES);
	child_expect(&res, 2, -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_never_denied, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("test_acl: skipped: switching to other uids needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
