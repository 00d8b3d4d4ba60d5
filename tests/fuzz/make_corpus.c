/*
 * make_corpus: write the seed corpus of fuzz_proto into a directory.
 *
 * Each seed is a short conversation in fuzz_proto's input format (see the
 * comment at the top of fuzz_proto.c): a setup byte, then records of an op
 * byte, a 16-bit little-endian length field (the length and a repeat count)
 * and one message.  The seeds name the
 * objects of fuzz_proto's configuration: pools p1, p2, p3 (ids 0, 1, 2),
 * regions r0, r1, r2 (ids 0, 1, 2), groups g and gi, heap instances
 * "default" and "fast".
 *
 *   cc -std=gnu11 -Isrc tests/fuzz/make_corpus.c src/proto.c -o make_corpus
 *   ./make_corpus tests/fuzz/corpus/proto
 */
#include "fuzz_input.h"
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OP_BACK(n) ((unsigned int)(n) << OP_HISTORY_SHIFT) /* fix up from the n-th latest grant */

#define ID_OWN 0u
#define ID_RO 1u                /* uid 65534: read-only on r2 */
#define ID_RW 2u                /* uid 65533: read-write on r2 */
#define ID_NONE 3u              /* uid 1000: no access to r2 */
#define SETUP(a, b) ((a) | (b) << 2)

static unsigned char seed[8192];
static size_t seed_len;
static uint32_t next_id;
static const char *outdir;
static int nseeds;

static void seed_begin(unsigned int setup)
{
	seed[0] = (unsigned char)setup;
	seed_len = 1;
	next_id = 1;
}

static void seed_write(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f) != 0) {
		fprintf(stderr, "make_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	nseeds++;
}

/* Append one record: op, length and repeat count, then the message as
 * given, to be sent 2^shift times. */
static void rec_repeat(unsigned int op, const void *m, size_t len, unsigned int shift)
{
	unsigned int field = (unsigned int)len | shift << LEN_REPEAT_SHIFT;

	if (seed_len + 3 + len > sizeof(seed) || len >> LEN_REPEAT_SHIFT || shift > 7) {
		fprintf(stderr, "make_corpus: record does not fit\n");
		exit(1);
	}
	seed[seed_len++] = (unsigned char)op;
	seed[seed_len++] = (unsigned char)(field & 0xff);
	seed[seed_len++] = (unsigned char)(field >> 8);
	memcpy(seed + seed_len, m, len);
	seed_len += len;
}

static void rec(unsigned int op, const void *m, size_t len)
{
	rec_repeat(op, m, len, 0);
}

static struct proto_hdr hdr(uint16_t type)
{
	struct proto_hdr h = { .version = SHMPOOL_PROTO_VERSION, .type = type, .id = next_id++ };

	return h;
}

static void hello(unsigned int op)
{
	struct proto_hello m = { .hdr = hdr(PROTO_HELLO), .proto_version = SHMPOOL_PROTO_VERSION,
				 .pid = 1 };

	rec(op, &m, sizeof(m));
}

static void bare(unsigned int op, uint16_t type)
{
	struct proto_hdr m = hdr(type);

	rec(op, &m, sizeof(m));
}

static void named(unsigned int op, uint16_t type, const char *name)
{
	struct proto_name_req m = { .hdr = hdr(type) };

	proto_set_name(m.name, name);
	rec(op, &m, sizeof(m));
}

static void cursor(unsigned int op, uint16_t type, uint64_t cur)
{
	struct proto_cursor_req m = { .hdr = hdr(type), .cursor = cur };

	rec(op, &m, sizeof(m));
}

static void pool_req(unsigned int op, uint16_t type, uint32_t pool_id)
{
	struct proto_pool_req m = { .hdr = hdr(type), .pool_id = pool_id };

	rec(op, &m, sizeof(m));
}

static void block_alloc(unsigned int op, uint32_t pool_id, uint32_t count, int32_t timeout_ms,
			uint32_t flags)
{
	struct proto_block_alloc m = { .hdr = hdr(PROTO_BLOCK_ALLOC), .pool_id = pool_id,
				       .count = count, .timeout_ms = timeout_ms, .flags = flags };

	rec(op, &m, sizeof(m));
}

/* A refill of a pool's cache: one block and up to stock more. */
static void block_alloc_stock(unsigned int op, uint32_t pool_id, uint32_t stock)
{
	struct proto_block_alloc m = { .hdr = hdr(PROTO_BLOCK_ALLOC), .pool_id = pool_id,
				       .count = 1, .stock = stock };

	rec(op, &m, sizeof(m));
}

/* Write value into a slot of stock lane 0 (a ring record of 5 bytes). */
static void stock_slot(unsigned int op, uint8_t slot, uint32_t value)
{
	unsigned char m[5] = { slot, (unsigned char)value, (unsigned char)(value >> 8),
			       (unsigned char)(value >> 16), (unsigned char)(value >> 24) };

	rec(op | OP_RING, m, sizeof(m));
}

/* A free of count blocks (nindices indices, all index0 + k). */
static void block_free(unsigned int op, uint32_t pool_id, uint32_t count, uint32_t flags,
		       uint32_t nindices, uint32_t index0)
{
	unsigned char buf[sizeof(struct proto_block_free) + 64 * sizeof(uint32_t)];
	struct proto_block_free *m = (void *)buf;

	memset(buf, 0, sizeof(buf));
	m->hdr = hdr(PROTO_BLOCK_FREE);
	m->pool_id = pool_id;
	m->count = count;
	m->flags = flags;
	m->nindices = nindices;
	for (uint32_t k = 0; k < nindices && k < 64; k++)
		m->index[k] = index0 + k;
	rec(op, buf, sizeof(*m) + nindices * sizeof(uint32_t));
}

static void blocks_get(unsigned int op, uint32_t pool_id, uint32_t first, uint32_t count)
{
	struct proto_blocks_get m = { .hdr = hdr(PROTO_BLOCKS_GET), .pool_id = pool_id,
				      .first_index = first, .count = count };

	rec(op, &m, sizeof(m));
}

static void group_alloc(unsigned int op, const char *group, uint32_t selector, uint32_t count,
			int32_t timeout_ms)
{
	struct proto_group_alloc m = { .hdr = hdr(PROTO_GROUP_ALLOC), .selector = selector,
				       .count = count, .timeout_ms = timeout_ms };

	proto_set_name(m.group, group);
	rec(op, &m, sizeof(m));
}

static void heap_alloc(unsigned int op, const char *heap, uint64_t size, uint64_t align,
		       uint32_t attr)
{
	struct proto_heap_alloc m = { .hdr = hdr(PROTO_HEAP_ALLOC), .attr = attr, .align = align,
				      .size = size };

	proto_set_name(m.heap, heap);
	rec(op, &m, sizeof(m));
}

static void heap_free(unsigned int op, uint32_t region_id, uint64_t offset, uint32_t flags)
{
	struct proto_heap_free m = { .hdr = hdr(PROTO_HEAP_FREE), .region_id = region_id,
				     .flags = flags, .offset = offset };

	rec(op, &m, sizeof(m));
}

static void heap_realloc(unsigned int op, uint32_t region_id, uint64_t offset, uint64_t size)
{
	struct proto_heap_realloc m = { .hdr = hdr(PROTO_HEAP_REALLOC), .region_id = region_id,
					.offset = offset, .size = size };

	rec(op, &m, sizeof(m));
}

/* pad bit 0 set: fuzz_proto's fixup takes the last heap allocation rather
 * than the last block. */
static void ref(unsigned int op, uint32_t region_id, uint64_t offset, uint32_t pad)
{
	struct proto_ref_req m = { .hdr = hdr(PROTO_REF), .region_id = region_id, .pad = pad,
				   .offset = offset };

	rec(op, &m, sizeof(m));
}

static void attach(unsigned int op)
{
	struct proto_attach m = { .hdr = hdr(PROTO_ATTACH) };

	rec(op, &m, sizeof(m));
}

static void set_priority(unsigned int op, int32_t prio)
{
	struct proto_set_priority m = { .hdr = hdr(PROTO_SET_PRIORITY), .priority = prio };

	rec(op, &m, sizeof(m));
}

static void pool_create(unsigned int op, const char *name, uint64_t block_size, uint64_t blocks,
			uint64_t align, uint32_t attr, const char *region)
{
	struct proto_pool_create m = { .hdr = hdr(PROTO_POOL_CREATE), .block_size = block_size,
				       .num_blocks = blocks, .align = align, .attr = attr };

	proto_set_name(m.name, name);
	if (region) {
		m.flags = PROTO_F_HAS_REGION;
		proto_set_name(m.region, region);
	}
	rec(op, &m, sizeof(m));
}

static void map_repeat(unsigned int op, uint32_t kind, uint32_t cells, const char *name,
		       unsigned int shift)
{
	struct proto_map_req m = { .hdr = hdr(PROTO_MAP), .kind = kind, .cells = cells };

	proto_set_name(m.name, name);
	rec_repeat(op, &m, sizeof(m), shift);
}

static void map(unsigned int op, uint32_t kind, uint32_t cells, const char *name)
{
	map_repeat(op, kind, cells, name, 0);
}

static void seeds_basic(void)
{
	seed_begin(SETUP(ID_OWN, ID_OWN));
	hello(0);
	bare(0, PROTO_ALIVE);
	seed_write("hello");

	seed_begin(SETUP(ID_OWN, ID_OWN) | SETUP_HELLO);
	named(0, PROTO_POOL_OPEN, "p1");
	named(0, PROTO_POOL_OPEN, "p3");
	named(0, PROTO_POOL_OPEN, "nosuch");
	seed_write("pool-open");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 0, 1, 0, 0);
	block_free(OP_FIXUP, 0, 1, PROTO_F_SYNC, 1, 0);
	seed_write("block-alloc-1-free");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 1, 3, 0, 0);
	block_free(OP_FIXUP, 1, 3, 0, 3, 0);
	seed_write("block-alloc-3-free");

	/* Frees parked in the free ring: good ones, a double free, a free
	 * that asks for a reply (the ring is broken), then a bad tail. */
	seed_begin(SETUP_HELLO);
	block_alloc(0, 0, 3, 0, 0);
	block_free(OP_RING | OP_FIXUP, 0, 1, 0, 1, 0);
	block_free(OP_RING | OP_FIXUP, 0, 1, 0, 1, 0);
	heap_alloc(0, "", 100, 0, 0);
	heap_free(OP_RING | OP_FIXUP, 0, 0, 0);
	block_alloc(OP_CONN_B, 0, 1, 0, 0);
	block_free(OP_CONN_B | OP_RING | OP_FIXUP, 0, 1, PROTO_F_SYNC, 1, 0);
	{
		unsigned char junk[PROTO_RING_MSG_MAX + 8];
		uint32_t tail = 0x7ffffff8u;

		memset(junk, 0, sizeof(junk));
		memcpy(junk, &tail, sizeof(tail));
		rec(OP_RING, junk, sizeof(junk));
	}
	seed_write("free-ring");

	/* The call slot: allocations, a sync free and a wait answered in
	 * it, one answered by the socket (the heap region's fd), a type it
	 * refuses, then a length past the slot, which hangs up. */
	seed_begin(SETUP_HELLO);
	block_alloc(OP_CALL, 0, 3, 0, 0);
	block_free(OP_CALL | OP_FIXUP, 0, 1, PROTO_F_SYNC, 1, 0);
	heap_alloc(OP_CALL, "", 100, 0, 0);
	heap_alloc(OP_CALL, "", 200, 0, 0);
	block_alloc(OP_CONN_B, 2, 8, 0, 0);
	block_alloc(OP_CALL, 2, 1, -1, 0);
	block_free(OP_CONN_B | OP_FIXUP, 2, 1, 0, 1, 0);
	bare(OP_CALL, PROTO_STATS);
	{
		unsigned char big[PROTO_CALL_MSG_MAX + 8];

		memset(big, 0, sizeof(big));
		rec(OP_CALL, big, sizeof(big));
	}
	seed_write("call-slot");

	/* The block cache: pool p1 (id 0) has one.  A refill, the extras put
	 * in the lane, a report that takes them back; then a lane naming a
	 * block twice, which breaks the ring. */
	seed_begin(SETUP_HELLO);
	named(0, PROTO_POOL_OPEN, "p1");
	block_alloc_stock(0, 0, 8);
	for (uint8_t s = 0; s < 8; s++)
		stock_slot(0, s, 7u - s);
	pool_req(0, PROTO_POOL_STAT, 0);
	block_alloc_stock(0, 0, 8);
	stock_slot(0, 0, 7);
	stock_slot(0, 1, 7);
	pool_req(OP_CONN_B, PROTO_POOL_STAT, 0);
	seed_write("stock");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 0, 3, -1, PROTO_F_CONTIG);
	block_free(OP_FIXUP, 0, 3, PROTO_F_CONTIG | PROTO_F_SYNC, 1, 0);
	block_free(OP_FIXUP, 0, 3, PROTO_F_CONTIG | PROTO_F_SYNC, 1, 0);
	seed_write("block-alloc-contig-free-twice");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 0, 9, 0, PROTO_F_SEQ);
	block_alloc(0, 0, 2, 0, PROTO_F_SEQ | PROTO_F_CONTIG);
	block_free(OP_FIXUP, 0, 9, PROTO_F_SYNC, 9, 0);
	block_alloc(0, 0, 9, 0, PROTO_F_SEQ);
	block_free(OP_FIXUP, 0, 9, PROTO_F_CONTIG | PROTO_F_SYNC, 1, 0);
	seed_write("block-alloc-seq");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 2, 8, 0, 0);
	block_alloc(0, 2, 1, 0, 0);
	block_alloc(0, 1, 17, 0, 0);
	block_alloc(0, 0, 65, 0, 0);
	seed_write("block-alloc-exhaust");

	seed_begin(SETUP_HELLO);
	blocks_get(0, 0, 5, 4);
	blocks_get(0, 0, 5, 1);
	block_free(0, 0, 4, PROTO_F_CONTIG | PROTO_F_SYNC, 1, 5);
	seed_write("blocks-get");

	seed_begin(SETUP_HELLO);
	group_alloc(0, "g", 100, 2, 0);
	block_free(OP_FIXUP, 1, 2, 0, 2, 0);
	group_alloc(0, "gi", 1, 1, 0);
	group_alloc(0, "gi", 7, 1, 0);
	seed_write("group-alloc");

	seed_begin(SETUP_HELLO);
	heap_alloc(0, "", 100, 0, 0);
	heap_free(OP_FIXUP, 0, 0, PROTO_F_SYNC);
	heap_alloc(0, "fast", 5000, 4096, 1);
	heap_realloc(OP_FIXUP, 0, 0, 20000);
	heap_realloc(OP_FIXUP, 0, 0, 16);
	heap_free(OP_FIXUP, 0, 0, 0);
	seed_write("heap-alloc-realloc-free");

	seed_begin(SETUP_HELLO);
	heap_alloc(0, "fast", 300000, 0, 1);
	heap_alloc(0, "default", 900000, 0, 0);
	heap_alloc(0, "nosuch", 16, 0, 0);
	seed_write("heap-quota");
}

static void seeds_sharing(void)
{
	/* A block shared by reference: B attaches, A frees, B frees. */
	seed_begin(SETUP(ID_OWN, ID_RW) | SETUP_HELLO);
	block_alloc(0, 2, 1, 0, 0);
	ref(OP_FIXUP, 0, 0, 0);
	attach(OP_CONN_B | OP_FIXUP);
	block_free(OP_FIXUP, 2, 1, PROTO_F_SYNC, 1, 0);
	ref(OP_CONN_B | OP_FIXUP, 0, 0, 0);
	block_free(OP_CONN_B | OP_FIXUP, 2, 1, PROTO_F_SYNC, 1, 0);
	attach(OP_CONN_B | OP_FIXUP);
	seed_write("block-ref-attach");

	/* A heap allocation shared the same way; A leaves while B holds it. */
	seed_begin(SETUP(ID_OWN, ID_RO) | SETUP_HELLO);
	heap_alloc(0, "fast", 4096, 0, 5);
	ref(OP_FIXUP, 0, 0, 1);
	attach(OP_CONN_B | OP_FIXUP);
	bare(OP_RECONNECT, PROTO_STATUS);
	heap_free(OP_CONN_B | OP_FIXUP, 0, 0, PROTO_F_SYNC);
	seed_write("heap-ref-attach");

	/* Two heap allocations side by side: growing the first moves it. */
	seed_begin(SETUP_HELLO);
	heap_alloc(0, "", 4096, 0, 0);
	heap_alloc(0, "", 4096, 0, 0);
	heap_realloc(OP_FIXUP | OP_BACK(1), 0, 0, 65536);
	heap_free(OP_FIXUP, 0, 0, PROTO_F_SYNC);
	heap_free(OP_FIXUP | OP_BACK(1), 0, 0, PROTO_F_SYNC);
	seed_write("heap-realloc-move");

	/* Several attach holds on one connection, dropped out of order. */
	seed_begin(SETUP(ID_OWN, ID_RW) | SETUP_HELLO);
	heap_alloc(0, "fast", 100, 0, 1);
	ref(OP_FIXUP, 0, 0, 1);
	block_alloc(0, 0, 1, 0, 0);
	ref(OP_FIXUP, 0, 0, 0);
	heap_alloc(0, "", 200, 0, 0);
	ref(OP_FIXUP, 0, 0, 1);
	attach(OP_CONN_B | OP_FIXUP | OP_BACK(2));
	attach(OP_CONN_B | OP_FIXUP | OP_BACK(1));
	attach(OP_CONN_B | OP_FIXUP);
	attach(OP_CONN_B | OP_FIXUP);
	heap_free(OP_FIXUP | OP_BACK(2), 0, 0, PROTO_F_SYNC);
	heap_free(OP_CONN_B | OP_FIXUP | OP_BACK(1), 0, 0, PROTO_F_SYNC);
	seed_write("attach-many");

	/* A stale ref after the block went back. */
	seed_begin(SETUP_HELLO);
	block_alloc(0, 0, 1, 0, 0);
	ref(OP_FIXUP, 0, 0, 0);
	block_free(OP_FIXUP, 0, 1, 0, 1, 0);
	attach(OP_FIXUP);
	seed_write("stale-ref");

	/* B waits for p3, forever and with a timeout; A's free serves it. */
	seed_begin(SETUP(ID_OWN, ID_OWN) | SETUP_HELLO);
	block_alloc(0, 2, 8, 0, 0);
	block_alloc(OP_CONN_B, 2, 1, -1, 0);
	block_alloc(OP_CONN_B, 2, 2, 1, 0);
	set_priority(OP_CONN_B, -5);
	group_alloc(OP_CONN_B, "gi", 1, 1, 50);
	block_free(OP_FIXUP, 2, 8, 0, 8, 0);
	seed_write("wait-and-serve");

	/* Waits that time out, and the expiry of the head letting the next
	 * waiter through. */
	seed_begin(SETUP_HELLO);
	block_alloc(0, 2, 7, 0, 0);
	block_alloc(OP_CONN_B, 2, 2, 1, 0);
	block_alloc(OP_CONN_B, 2, 1, 1000, 0);
	bare(OP_WAIT_TIMER, PROTO_STATS);
	seed_write("wait-timeout");

	/* A waiter whose connection goes away. */
	seed_begin(SETUP_HELLO);
	block_alloc(0, 2, 8, 0, 0);
	block_alloc(OP_CONN_B, 2, 4, -1, PROTO_F_CONTIG);
	block_alloc(OP_CONN_B | OP_RECONNECT, 2, 1, 0, 0);
	seed_write("waiter-disconnects");

	/* Identities without access to r2: read-only and none. */
	seed_begin(SETUP(ID_RO, ID_NONE) | SETUP_HELLO);
	named(0, PROTO_POOL_OPEN, "p3");
	block_alloc(0, 2, 1, 0, 0);
	named(OP_CONN_B, PROTO_POOL_OPEN, "p3");
	heap_alloc(OP_CONN_B, "fast", 64, 0, 5);
	heap_alloc(0, "fast", 64, 0, 5);
	heap_alloc(0, "fast", 64, 0, 1);
	set_priority(0, -1);
	seed_write("access-lists");
}

static void seeds_admin(void)
{
	seed_begin(SETUP_HELLO);
	bare(0, PROTO_STATUS);
	bare(0, PROTO_STATS);
	cursor(0, PROTO_POOL_INFO, 0);
	cursor(0, PROTO_POOL_INFO, 2);
	cursor(0, PROTO_REGION_INFO, 0);
	cursor(0, PROTO_HEAP_INFO, 1);
	cursor(0, PROTO_GROUP_INFO, 0);
	cursor(0, PROTO_CLIENT_INFO, 0);
	seed_write("introspection");

	seed_begin(SETUP_HELLO);
	block_alloc(0, 1, 5, 0, 0);
	heap_alloc(0, "", 10000, 0, 0);
	map(0, PROTO_MAP_POOL, 16, "p2");
	map(0, PROTO_MAP_REGION, 64, "r0");
	map(0, PROTO_MAP_REGION, 4096, "r1");
	map(0, PROTO_MAP_POOL, 0, "p9");
	seed_write("map");

	seed_begin(SETUP_HELLO);
	pool_req(0, PROTO_POOL_STAT, 1);
	pool_req(0, PROTO_POOL_RESET_MAX, 1);
	pool_req(0, PROTO_POOL_STAT, 77);
	set_priority(0, 3);
	set_priority(0, 1000);
	seed_write("pool-stat-priority");

	seed_begin(SETUP_HELLO);
	pool_create(0, "new", 128, 16, 64, 0, NULL);
	pool_create(0, "new2", 512, 4, 0, 0, "r1");
	block_alloc(0, 3, 2, 0, 0);
	named(0, PROTO_POOL_DESTROY, "new");
	named(0, PROTO_POOL_DESTROY, "new2");
	named(0, PROTO_POOL_DESTROY, "p1");
	seed_write("pool-create-destroy");

	seed_begin(SETUP(ID_NONE, ID_OWN) | SETUP_HELLO);
	pool_create(0, "x", 64, 1, 0, 0, NULL);
	bare(0, PROTO_RELOAD);
	block_alloc(OP_CONN_B, 0, 2, 0, 0);
	bare(OP_CONN_B, PROTO_RELOAD);
	seed_write("reload");

	seed_begin(SETUP(ID_OWN, ID_NONE) | SETUP_HELLO);
	block_alloc(0, 0, 1, 0, 0);
	bare(0, PROTO_SYNC);
	bare(OP_NO_READ, PROTO_SYNC);
	bare(OP_PASS_FD, PROTO_SYNC);
	seed_write("sync");
}

static void seeds_malformed(void)
{
	struct proto_hello h = { .hdr = hdr(PROTO_HELLO), .proto_version = 99 };
	struct proto_hdr wrong = { .version = 7, .type = PROTO_STATUS, .id = 3 };
	struct proto_hdr unknown = { .version = SHMPOOL_PROTO_VERSION, .type = 0x4242, .id = 4 };
	static unsigned char big[5000];

	seed_begin(0);
	bare(0, PROTO_STATUS);
	rec(0, &h, sizeof(h));
	seed_write("no-hello-bad-version");

	seed_begin(SETUP_HELLO);
	rec(0, "\x01\x00", 2);
	rec(0, &wrong, sizeof(wrong));
	rec(0, &unknown, sizeof(unknown));
	rec(0, &h, sizeof(h) - 1);
	rec(OP_PASS_FD, &unknown, sizeof(unknown));
	seed_write("malformed-headers");

	seed_begin(SETUP_HELLO);
	block_free(0, 0, 3, 0, 2, 0);
	block_free(0, 0, 1, 0, 1, 64);
	block_free(0, 0, 2, PROTO_F_CONTIG, 1, 63);
	block_free(0, 0, 1, 0x80, 1, 0);
	heap_free(0, 0, 12345, 0);
	heap_free(0, 9, 0, PROTO_F_SYNC);
	heap_realloc(0, 1, 0, 1);
	ref(0, 70000, 0, 0);
	seed_write("malformed-handles");

	seed_begin(SETUP_HELLO);
	memset(big, 0, sizeof(big));
	memcpy(big, &unknown, sizeof(unknown));
	rec(0, big, sizeof(big));
	seed_write("oversized");

	/* A client that never reads its replies, until the daemon drops it. */
	seed_begin(SETUP_HELLO);
	map_repeat(OP_NO_READ, PROTO_MAP_REGION, 4096, "r0", 7);
	map_repeat(OP_NO_READ, PROTO_MAP_POOL, 4096, "p1", 7);
	bare(0, PROTO_STATUS);
	seed_write("never-reads");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	seeds_basic();
	seeds_sharing();
	seeds_admin();
	seeds_malformed();
	printf("make_corpus: %d seeds written to %s\n", nseeds, outdir);
	return 0;
}
