/*
 * fuzz_proto: the daemon's protocol decoder and dispatcher under libFuzzer.
 *
 * One server lives for the whole run, set up from a small configuration
 * (three 1 MiB memfd regions, three pools, two groups, two heap instances,
 * access lists and quotas) and a libuv loop, without a listening socket.
 * Each input opens up to two connections over socketpairs, registered as
 * the daemon registers an accepted one, and feeds them messages through
 * conn_feed, the path every datagram takes after recv.  Replies are
 * read from the other ends and checked for a sane header.
 *
 * When the input is done every connection is closed, and the server must
 * be back where it started: every block free with no holder and no waiter,
 * every heap as free as after start-up, no heap allocation records, no
 * deadlines, no connection and no open descriptor more than before.  A
 * breach traps, so libFuzzer reports it with the input that caused it.
 *
 * Input format, so that a run can say hello and then make many requests:
 *
 *   byte 0         setup: bits 0-1 the identity of connection A, bits 2-3
 *                  that of connection B (0: the daemon's own uid, which
 *                  may administer; 1: uid 65534, read-only on region r2;
 *                  2: uid 65533, read-write on r2; 3: uid 1000, no access
 *                  to r2), bit 4: send a valid HELLO on every connection
 *                  as soon as it is opened
 *   then records   op (1 byte), length (2 bytes, little-endian), message
 *                  (truncated at the end of the input).  Op bit 0: to
 *                  connection B instead of A; bit 1: reconnect it first;
 *                  bit 2: fill in handles from an earlier reply (see
 *                  fixup()), bits 6-7 saying which; bit 3: leave the
 *                  replies unread; bit 4: send it through the socket,
 *                  a descriptor attached, for the daemon to read; bits 3
 *                  and 4 together: append it to the connection's free
 *                  ring as a record (one longer than a record may be:
 *                  its first 4 bytes become the ring's tail; one of 2
 *                  to 7 bytes: byte 0 picks a slot of stock lanes 0-3,
 *                  the rest is the value written into it, little-endian,
 *                  and the lane is marked in stock_mask)
 *                  and feed a PROTO_KICK, replies read; bit 5:
 *                  then wait for the earliest wait deadline if it
 *                  is at most 5 ms away (once per input); bits 3, 4
 *                  and 5 together: write it into the connection's call
 *                  slot and serve the slot as the call thread does (one
 *                  longer than the slot holds only sets its length),
 *                  replies read from the slot and the socket.  Length bits
 *                  0-12: the message's length; bits 13-15: n, to send the
 *                  message 2^n times
 *
 * tests/fuzz/make_corpus.c writes the seed corpus in this format.
 */
#include "autoconf.h"
#include "fuzz_input.h"
#include "log.h"
#include "proto.h"
#include "shmpoold.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Region r2 is readable by uid 65534 and writable by 65533 only; the pools
 * have a quota, a group selects by fit and one by index. */
static const char fuzz_conf[] =
	"[daemon]\n"
	"log_level = debug\n"
	"[limits]\n"
	"max_bytes_per_client = 768K\n"
	"max_waits_per_client = 4\n"
	"max_message_size = 4K\n"
	"[attributes]\n"
	"fast = 5\n"
	"[region r0]\n"
	"size = 1M\n"
	"[region r1]\n"
	"size = 1M\n"
	"attr = non-cacheable\n"
	"scrub = always\n"
	"[region r2]\n"
	"size = 1M\n"
	"attr = fast\n"
	"scrub = never\n"
	"read_only_users = 65534\n"
	"allow_users = 65533\n"
	"[heap fast]\n"
	"regions = r1, r2\n"
	"max_bytes_per_client = 256K\n"
	"[pool p1]\n"
	"region = r0\n"
	"block_size = 64\n"
	"blocks = 64\n"
	"cache = 8\n"
	"[pool p2]\n"
	"attr = non-cacheable\n"
	"block_size = 1K\n"
	"blocks = 32\n"
	"align = 256\n"
	"max_blocks_per_client = 16\n"
	"[pool p3]\n"
	"region = r2\n"
	"block_size = 4K\n"
	"blocks = 8\n"
	"[group g]\n"
	"pools = p1, p2\n"
	"select = fit\n"
	"[group gi]\n"
	"pools = p2, p3, p1\n"
	"select = index\n";

#define NCONNS 2
#define MAX_LAST_INDICES 16
#define HISTORY 4

#define WAIT_TIMER_MAX_MS 5

/* One end of a fuzzed connection: the daemon's struct conn and the
 * client's end of the socketpair. */
struct peer {
	struct conn *c;
	int fd;
	uint32_t ring_tail;         /* where the next record goes */
};

/* Blocks one reply granted. */
struct grant_blocks {
	uint32_t pool_id;
	uint32_t indices[MAX_LAST_INDICES];
	uint32_t nindices;
};

/* A heap allocation or attach one reply granted. */
struct grant_heap {
	uint32_t region_id;
	uint64_t offset;
};

/* What the last HISTORY replies of each kind handed out, newest first,
 * for fixup(). */
struct history {
	struct grant_blocks blocks[HISTORY];
	size_t nblocks;
	struct grant_heap heaps[HISTORY];
	size_t nheaps;
	uint8_t refs[HISTORY][PROTO_REF_SIZE];
	size_t nrefs;
};

/* What the server looks like between inputs. */
struct baseline {
	uint32_t nconns;
	uint32_t next_pool_id;
	size_t npools;
	size_t nregions;
	struct heap_stat *heaps;
	int fds;
};

static struct server srv;
static uv_loop_t loop;
static int alive_fd = -1;    /* the alive page, made once (its thread lives on) */
static int trace;                       /* FUZZ_PROTO_TRACE set: print every reply */
static int conf_fd = -1;
static struct baseline base;
static struct peer peers[NCONNS];
static struct history hist;
static union {
	struct proto_hdr hdr;
	uint64_t align;
	unsigned char bytes[PROTO_MAX_MESSAGE];
} msg;
static union {
	struct proto_reply_hdr r;
	uint64_t align;
	unsigned char bytes[PROTO_MAX_MESSAGE + 1];
} reply;

static void log_discard(void *ctx, enum log_level level, const char *text)
{
	(void)ctx;
	(void)level;
	(void)text;
}

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_proto: invariant broken: %s\n", what);
	__builtin_trap();
}

/*
 * The number of open descriptors other than pipes; with show set, print
 * them.  The server never makes pipes, while the sanitizers' symbolizer
 * does, at any time, so pipes are left out of the count.
 */
static int count_fds(int show)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		fail("cannot list /proc/self/fd");
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t len;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		if (strncmp(target, "pipe:", 5) == 0)
			continue;
		n++;
		if (show)
			fprintf(stderr, "fuzz_proto: fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
	return n;
}

/* Descriptors the server may open once and keep: the read-only
 * reopenings of regions. */
static int cached_fds(void)
{
	int n = 0;

	for (uint32_t i = 0; i < srv.nro_fds; i++)
		n += srv.ro_fds[i] >= 0;
	return n;
}

static void baseline_record(void)
{
	struct layout *l = srv.layout;

	base.nconns = srv.nconns;
	base.next_pool_id = l->next_pool_id;
	base.npools = l->npools;
	base.nregions = l->nregions;
	free(base.heaps);
	base.heaps = calloc(l->nregions, sizeof(*base.heaps));
	if (!base.heaps)
		fail("out of memory");
	for (size_t i = 0; i < l->nregions; i++)
		heap_stat(l->heaps[i], &base.heaps[i]);
	base.fds = count_fds(0) - cached_fds();
}

/*
 * Prepare the server as main() does, and start it as server_start does,
 * without the listening socket and the signal handlers: libFuzzer keeps
 * SIGINT and SIGTERM for itself.
 */
static void server_setup(void)
{
	char err[1024];
	char path[64];

	memset(&srv, 0, sizeof(srv));
	if (config_load_string(fuzz_conf, "fuzz_proto.conf", &srv.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_proto: %s\n", err);
		abort();
	}
	/* PROTO_RELOAD reads the same text again from the file it names. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", conf_fd);
	snprintf(srv.config_path, sizeof(srv.config_path), "%s", path);
	/* There is no socket file whose mode a reload could set. */
	srv.listen_activated = 1;
	/* Log at debug level into a sink that drops it, so that every log
	 * call formats its arguments, and let no reload change that. */
	srv.verbose = 1;
	if (server_prepare(&srv) < 0) {
		fprintf(stderr, "fuzz_proto: server_prepare failed\n");
		abort();
	}
	srv.alive_fd = alive_fd;
	srv.loop = &loop;
	srv.started_ms = uv_now(&loop);
	scrub_init();
	uv_timer_init(&loop, &srv.timer);
	srv.timer.data = &srv;
	srv.running = 1;
	baseline_record();
}

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

static void server_teardown(void)
{
	uv_close((uv_handle_t *)&srv.timer, on_timer_closed);
	uv_run(&loop, UV_RUN_NOWAIT);
	srv.alive_fd = -1;           /* kept for the next server */
	server_free(&srv);
	config_free(&srv.cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_PROTO_TRACE") != NULL;
	log_set_sink(log_discard, NULL);
	log_set_level(LOG_LEVEL_DEBUG);
	conf_fd = memfd_create("fuzz_proto.conf", MFD_CLOEXEC);
	if (conf_fd < 0 || write(conf_fd, fuzz_conf, sizeof(fuzz_conf) - 1) !=
			   (ssize_t)(sizeof(fuzz_conf) - 1)) {
		perror("fuzz_proto: configuration memfd");
		abort();
	}
	if (uv_loop_init(&loop) < 0)
		abort();
	{
		struct server s = { .alive_fd = -1 };

		if (alive_start(&s) < 0)
			abort();
		alive_fd = s.alive_fd;
	}
	server_setup();
	return 0;
}

/* Make room for a new entry at the front of a history array of elements
 * of size bytes, n of them in use. */
static void history_push(void *array, size_t size, size_t *n)
{
	memmove((char *)array + size, array, (HISTORY - 1) * size);
	if (*n < HISTORY)
		(*n)++;
}

/* Remember what a successful reply handed out. */
static void note_reply(size_t len)
{
	const struct proto_reply_hdr *r = &reply.r;
	uint16_t type = r->hdr.type & (uint16_t)~PROTO_REPLY;

	if (!(r->hdr.type & PROTO_REPLY) || r->status < 0)
		return;
	if ((type == PROTO_BLOCK_ALLOC || type == PROTO_GROUP_ALLOC) &&
	    len >= sizeof(struct proto_block_reply)) {
		const struct proto_block_reply *b = (const void *)reply.bytes;
		uint32_t n = b->nindices;

		if (b->count == 0 || n == 0 || len != sizeof(*b) + (size_t)n * sizeof(uint32_t))
			return;
		/* A run sent as its first index stands for all of it. */
		if (r->flags & PROTO_F_SEQ)
			n = b->count;
		if (n > MAX_LAST_INDICES)
			n = MAX_LAST_INDICES;
		history_push(hist.blocks, sizeof(hist.blocks[0]), &hist.nblocks);
		hist.blocks[0].pool_id = b->pool_id;
		if (r->flags & PROTO_F_SEQ)
			for (uint32_t k = 0; k < n; k++)
				hist.blocks[0].indices[k] = r->flags & PROTO_F_DESC ? b->index[0] - k
										     : b->index[0] + k;
		else
			memcpy(hist.blocks[0].indices, b->index, n * sizeof(uint32_t));
		hist.blocks[0].nindices = n;
	} else if ((type == PROTO_HEAP_ALLOC || type == PROTO_HEAP_REALLOC ||
		    type == PROTO_ATTACH) && len == sizeof(struct proto_heap_reply)) {
		const struct proto_heap_reply *h = (const void *)reply.bytes;

		history_push(hist.heaps, sizeof(hist.heaps[0]), &hist.nheaps);
		hist.heaps[0].region_id = h->region_id;
		hist.heaps[0].offset = h->offset;
	} else if (type == PROTO_REF && len == sizeof(struct proto_ref_reply)) {
		const struct proto_ref_reply *ref = (const void *)reply.bytes;

		history_push(hist.refs, sizeof(hist.refs[0]), &hist.nrefs);
		memcpy(hist.refs[0], ref->ref, PROTO_REF_SIZE);
	}
}

/* Read every pending reply of p, closing the descriptors they carry.  A
 * reply must fit PROTO_MAX_MESSAGE and have a reply header. */
static void peer_drain(struct peer *p)
{
	for (;;) {
		int fd;
		long n = proto_recv(p->fd, reply.bytes, sizeof(reply.bytes), &fd, MSG_DONTWAIT);

		if (n == -EAGAIN || n == 0)
			return;
		if (n < 0)
			fail("recvmsg on the client end failed");
		if (fd >= 0)
			close(fd);
		if ((size_t)n > PROTO_MAX_MESSAGE)
			fail("reply larger than PROTO_MAX_MESSAGE");
		if ((size_t)n < sizeof(struct proto_reply_hdr))
			fail("reply shorter than a reply header");
		if (reply.r.hdr.version != SHMPOOL_PROTO_VERSION)
			fail("reply with a wrong version");
		if (!(reply.r.hdr.type & PROTO_REPLY) && reply.r.hdr.type != PROTO_ERROR &&
		    reply.r.hdr.type != PROTO_NOTIFY_ERROR)
			fail("reply of a type a client cannot expect");
		if (trace)
			fprintf(stderr, "conn %c: reply type %#x id %u status %d, %ld bytes%s\n",
				p == &peers[0] ? 'A' : 'B', reply.r.hdr.type, reply.r.hdr.id,
				reply.r.status, n, fd >= 0 ? ", with an fd" : "");
		note_reply((size_t)n);
	}
}

static void drain_all(void)
{
	for (int k = 0; k < NCONNS; k++)
		if (peers[k].fd >= 0)
			peer_drain(&peers[k]);
}

/* The daemon closed p's connection: its struct goes at the next loop
 * iteration, and the client sees the end of the stream. */
static void peer_lost(struct peer *p)
{
	p->c = NULL;
	peer_drain(p);
	close(p->fd);
	p->fd = -1;
}

/*
 * Feed one message to p's connection as if recv had just read it; or, with
 * pass_fd, send it through the real socket with a descriptor attached and
 * let the daemon read it (the kernel drops the descriptor unseen).
 */
static void peer_feed(struct peer *p, const void *buf, size_t len, int pass_fd, int read_replies)
{
	if (pass_fd && len > 0) {
		int fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);

		if (fd < 0)
			fail("cannot duplicate a descriptor to pass");
		if (proto_send(p->fd, buf, len, fd, MSG_DONTWAIT) != 0)
			fail("cannot send a message with a descriptor");
		close(fd);
		conn_read(p->c);
		conn_flush_replies();
	} else {
		conn_feed(p->c, buf, len);
	}
	if (p->c->closing)
		peer_lost(p);
	else if (read_replies)
		peer_drain(p);
}

/*
 * Append a message to p's free ring as libshmpool would, through the
 * daemon's own mapping of it (the same pages as the client's), then feed a
 * PROTO_KICK, which makes the daemon read the ring.  A message too long for
 * a record sets the tail to its first 4 bytes instead: a client that
 * scribbles on the header.  One shorter than a message header writes a
 * stock slot instead, which the daemon reads when it next takes cached
 * blocks back.
 */
static void peer_ring(struct peer *p, const void *buf, size_t len)
{
	struct proto_hdr kick = { .version = SHMPOOL_PROTO_VERSION, .type = PROTO_KICK, .id = 9 };
	struct proto_ring *r = p->c->ring;

	if (!r)
		return;
	if (len >= 2 && len < sizeof(struct proto_hdr)) {
		const unsigned char *b = buf;
		uint32_t v = 0;

		for (size_t k = len - 1; k >= 1; k--)
			v = v << 8 | b[k];
		r->stock[b[0] / PROTO_STOCK_SLOTS][b[0] % PROTO_STOCK_SLOTS] = v;
		r->stock_mask |= 1u << (b[0] / PROTO_STOCK_SLOTS);
	} else if (len > PROTO_RING_MSG_MAX) {
		memcpy(&p->ring_tail, buf, 4);
	} else {
		proto_ring_append(r, &p->ring_tail, r->head, buf, len);
	}
	r->tail = p->ring_tail;
	if (trace)
		fprintf(stderr, "conn %c: ring tail %u after %zu bytes\n",
			p == &peers[0] ? 'A' : 'B', p->ring_tail, len);
	peer_feed(p, &kick, sizeof(kick), 0, 1);
}

/*
 * Write a message into p's call slot as libshmpool would, through the
 * daemon's own mapping, and serve the slot as the call thread does.  One
 * longer than the slot sets only the length: a client that lies.  A reply
 * in the slot must be a reply with a sane header.
 */
static void peer_call(struct peer *p, const void *buf, size_t len)
{
	struct proto_call *k;
	uint32_t rlen;

	if (!p->c || !p->c->ring)
		return;
	k = &p->c->ring->call;
	if (len <= PROTO_CALL_MSG_MAX)
		memcpy(k->req, buf, len);
	k->len = (uint32_t)len;
	k->seq++;
	call_serve(p->c);
	conn_flush_replies();
	/* Closed, as the loop closes a client that does not read: its slot
	 * is unmapped with its ring. */
	if (p->c->closing) {
		peer_lost(p);
		return;
	}
	if (k->reply_seq == k->seq) {
		rlen = k->reply_len;
		if (trace)
			fprintf(stderr, "conn %c: slot reply of %#x bytes\n",
				p == &peers[0] ? 'A' : 'B', rlen);
		if (rlen <= PROTO_CALL_MSG_MAX) {
			const struct proto_hdr *h = (const void *)k->reply;

			if (rlen < sizeof(struct proto_reply_hdr) ||
			    h->version != SHMPOOL_PROTO_VERSION ||
			    !((h->type & PROTO_REPLY) || h->type == PROTO_ERROR))
				fail("a reply in the call slot with a bad header");
		} else if (rlen != PROTO_CALL_BY_SOCKET && rlen != PROTO_CALL_CLOSED) {
			fail("a call slot reply of a length the protocol does not have");
		}
	}
	if (p->c->closing)
		peer_lost(p);
	else
		peer_drain(p);
}

/* A connection whose free ring broke, found through either peer, was hung
 * up on: the loop would close it at its next iteration, so close it now,
 * before uv_run frees it under the peer's pointer. */
static void reap_broken(void)
{
	for (int k = 0; k < NCONNS; k++) {
		struct peer *p = &peers[k];

		if (p->c && p->c->ring_broken) {
			conn_close(p->c);
			peer_lost(p);
		}
	}
}

static void peer_hello(struct peer *p)
{
	struct proto_hello h = {
		.hdr = { .version = SHMPOOL_PROTO_VERSION, .type = PROTO_HELLO, .id = 1 },
		.proto_version = SHMPOOL_PROTO_VERSION,
		.pid = (uint32_t)getpid(),
	};

	peer_feed(p, &h, sizeof(h), 0, 1);
}

/* Open a connection as the daemon accepts one: conn_create, then a slot
 * in the server's table.  The identity stands for SO_PEERCRED's. */
static void peer_open(struct peer *p, unsigned int identity, int hello)
{
	static const uid_t uids[] = { 0, 65534, 65533, 1000 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		fail("socketpair");
	if (conn_create(&srv, sv[0], &p->c) < 0) {
		close(sv[0]);
		close(sv[1]);
		p->c = NULL;
		p->fd = -1;
		return;
	}
	p->fd = sv[1];
	p->ring_tail = 0;
	if (server_add_conn(&srv, p->c) < 0) {
		conn_close(p->c);
		peer_lost(p);
		return;
	}
	srv.stats.connections++;
	if (identity) {
		p->c->uid = uids[identity & 3];
		p->c->gid = (gid_t)uids[identity & 3];
	}
	if (hello)
		peer_hello(p);
}

static void peer_close(struct peer *p)
{
	if (!p->c) {
		if (p->fd >= 0)
			peer_lost(p);
		return;
	}
	conn_close(p->c);
	peer_lost(p);
}

/*
 * Fill the handles of a request in from what earlier replies handed out,
 * so that the fuzzer reaches frees, refs and attaches of real allocations
 * without having to guess indices, offsets or generations.  back picks the
 * grant: 0 the latest of its kind, 1 the one before, and so on.  Only the
 * handles are replaced; every other field stays as fuzzed.
 */
static void fixup(size_t len, size_t back)
{
	const struct grant_blocks *b = hist.nblocks ? &hist.blocks[back % hist.nblocks] : NULL;
	const struct grant_heap *h = hist.nheaps ? &hist.heaps[back % hist.nheaps] : NULL;

	if (len < sizeof(struct proto_hdr))
		return;
	switch (msg.hdr.type) {
	case PROTO_BLOCK_FREE: {
		struct proto_block_free *f = (void *)msg.bytes;
		size_t room;

		if (!b || len < sizeof(*f))
			return;
		f->pool_id = b->pool_id;
		room = (len - sizeof(*f)) / sizeof(uint32_t);
		for (size_t k = 0; k < room && k < b->nindices; k++)
			f->index[k] = b->indices[k];
		break;
	}
	case PROTO_BLOCKS_GET: {
		struct proto_blocks_get *g = (void *)msg.bytes;

		if (b && len >= sizeof(*g)) {
			g->pool_id = b->pool_id;
			g->first_index = b->indices[0];
		}
		break;
	}
	case PROTO_HEAP_FREE: {
		struct proto_heap_free *f = (void *)msg.bytes;

		if (h && len >= sizeof(*f)) {
			f->region_id = h->region_id;
			f->offset = h->offset;
		}
		break;
	}
	case PROTO_HEAP_REALLOC: {
		struct proto_heap_realloc *r = (void *)msg.bytes;

		if (h && len >= sizeof(*r)) {
			r->region_id = h->region_id;
			r->offset = h->offset;
		}
		break;
	}
	case PROTO_REF: {
		struct proto_ref_req *r = (void *)msg.bytes;
		struct layout_pool *lp;

		if (len < sizeof(*r))
			return;
		/* pad bit 0 asks for a heap allocation rather than a block.
		 * The block's address is the pool's business; ask the layout
		 * rather than keep the descriptors of every reply. */
		if (b && !(r->pad & 1) && (lp = layout_pool_by_id(srv.layout, b->pool_id)) &&
		    b->indices[0] < lp->bp.num_blocks) {
			r->region_id = lp->region_id;
			r->offset = lp->base + blockpool_offset(&lp->bp, b->indices[0]);
		} else if (h) {
			r->region_id = h->region_id;
			r->offset = h->offset;
		}
		break;
	}
	case PROTO_ATTACH: {
		struct proto_attach *a = (void *)msg.bytes;

		if (hist.nrefs && len >= sizeof(*a))
			memcpy(a->ref, hist.refs[back % hist.nrefs], sizeof(a->ref));
		break;
	}
	default:
		break;
	}
}

/* Block in the loop until the earliest wait deadline has passed and the
 * timer has expired it, if that is soon; returns whether it waited. */
static int wait_deadline(void)
{
	const struct deadline_entry *e = deadline_first(&srv.deadlines);
	uint64_t now = uv_hrtime() / 1000000;

	if (!e || e->when > now + WAIT_TIMER_MAX_MS)
		return 0;
	if (!uv_is_active((uv_handle_t *)&srv.timer))
		fail("a wait has a deadline but the timer is not armed");
	while (deadline_first(&srv.deadlines) == e)
		uv_run(&loop, UV_RUN_ONCE);
	return 1;
}

/* Pools made, destroyed or retired by an administrator, or regions
 * changed by a reload: start the next input from a fresh server, so that
 * every input meets the same one. */
static int server_changed(void)
{
	const struct layout *l = srv.layout;

	if (l->next_pool_id != base.next_pool_id || l->npools != base.npools ||
	    l->nregions != base.nregions)
		return 1;
	for (size_t i = 0; i < l->npools; i++)
		if (l->pools[i]->retired)
			return 1;
	return 0;
}

/* Whether the input left the pools, heaps and tables as it found them.
 * The heaps are compared only when the set of pools is the one of
 * start-up: a pool made or destroyed moves the heap's free bytes. */
static void check_invariants(int pools_changed)
{
	struct layout *l = srv.layout;

	if (srv.nconns != base.nconns)
		fail("a connection is still registered");
	for (uint32_t slot = 0; slot < srv.nconns_cap; slot++)
		if (srv.conns[slot])
			fail("a connection slot is still taken");
	for (uint32_t id = 0; id < srv.npools; id++) {
		const struct dpool *p = srv.pools[id];

		if (!p)
			continue;
		if (p->lp->bp.num_free != p->lp->bp.num_blocks)
			fail("a pool has blocks allocated after every client left");
		if (waitq_count(&p->waiters))
			fail("a pool has waiters after every client left");
		for (uint32_t i = 0; i < p->lp->bp.num_blocks; i++)
			if (p->owner[i] != CONN_NONE || p->holders[i] != 0)
				fail("a block has a holder after every client left");
	}
	if (srv.halloc_count)
		fail("heap allocation records outlive their clients");
	if (deadline_first(&srv.deadlines))
		fail("a deadline outlives its waiter");
	if (!pools_changed) {
		for (size_t i = 0; i < l->nregions; i++) {
			struct heap_stat st;

			if (!l->heaps[i])
				continue;
			heap_stat(l->heaps[i], &st);
			if (st.free != base.heaps[i].free || st.num_used != base.heaps[i].num_used ||
			    st.largest_free != base.heaps[i].largest_free)
				fail("a heap is not as free as after start-up");
		}
	}
	if (count_fds(0) - cached_fds() != base.fds) {
		fprintf(stderr, "fuzz_proto: %d descriptors open, %d cached, %d after start-up\n",
			count_fds(1), cached_fds(), base.fds);
		fail("a descriptor leaked");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int setup;
	size_t pos = 1;
	int changed, waited = 0;

	if (size < 1)
		return 0;
	setup = data[0];
	memset(&hist, 0, sizeof(hist));
	for (int k = 0; k < NCONNS; k++) {
		peers[k].c = NULL;
		peers[k].fd = -1;
	}

	while (pos + 3 <= size) {
		unsigned int op = data[pos];
		unsigned int field = (unsigned int)data[pos + 1] | (unsigned int)data[pos + 2] << 8;
		size_t len = field & LEN_MASK;
		unsigned int repeat = 1u << (field >> LEN_REPEAT_SHIFT);
		struct peer *p = &peers[op & OP_CONN_B];
		unsigned int identity = (setup >> (2 * (op & OP_CONN_B))) & 3;

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		if (op & OP_RECONNECT)
			peer_close(p);
		for (unsigned int r = 0; r < repeat; r++) {
			if (!p->c) {
				if (p->fd >= 0)
					peer_lost(p);
				peer_open(p, identity, setup & SETUP_HELLO);
				if (!p->c)
					break;
			}
			memcpy(msg.bytes, data + pos, len);
			if (op & OP_FIXUP)
				fixup(len, op >> OP_HISTORY_SHIFT);
			if ((op & OP_CALL) == OP_CALL)
				peer_call(p, msg.bytes, len);
			else if ((op & OP_RING) == OP_RING)
				peer_ring(p, msg.bytes, len);
			else
				peer_feed(p, msg.bytes, len, op & OP_PASS_FD, !(op & OP_NO_READ));
			reap_broken();
			/* A reload reads its file on the thread pool: wait for
			 * it, so that every input sees it done. */
			while (srv.reload)
				uv_run(&loop, UV_RUN_ONCE);
			/* Let timers, queued replies and close callbacks run. */
			uv_run(&loop, UV_RUN_NOWAIT);
			if ((op & OP_CALL) != OP_CALL && (op & OP_WAIT_TIMER) && !waited)
				waited = wait_deadline();
			if (!(op & OP_NO_READ) || (op & OP_RING) == OP_RING)
				drain_all();
		}
		pos += len;
	}

	for (int k = 0; k < NCONNS; k++)
		peer_close(&peers[k]);
	uv_run(&loop, UV_RUN_NOWAIT);
	changed = server_changed();
	check_invariants(changed);
	if (changed) {
		server_teardown();
		server_setup();
	}
	return 0;
}
