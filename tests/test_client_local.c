/*
 * The client library on its own: its local tables (hash map, holds, pointer
 * lookup) and its connection logic, spoken to by a small scripted fake
 * daemon on a socketpair.  The fake models just enough of shmpoold — one
 * pool, a bump heap, exact hold counts — to check what the library sends,
 * what it decides locally, and how it behaves with threads, disconnect,
 * a lost daemon and fork.  Tests against the real daemon live elsewhere.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"
#include "shmpool.h"
#include "span.h"

#define R_ID 1u
#define R_SIZE (1u << 20)
#define P_ID 3u
#define P_BASE 4096u
#define P_BS 100u
#define P_STRIDE 128u
#define P_N 64u
#define HEAP_BASE 65536u
#define MAX_DEFER 8

struct fake_heap {
	uint64_t offset;
	uint64_t size;
	uint32_t mine;               /* the client's holds */
	uint32_t other;              /* someone else's */
	uint32_t gen;
};

struct fake_log {
	uint16_t type;
	uint32_t flags;
	uint32_t count;
	uint32_t nindices;
};

struct fake {
	int fd;                      /* the daemon's end */
	int cfd;                     /* the client's end, until client_open_fd takes it */
	pthread_t thread;
	int memfd;
	unsigned char *map;
	pthread_mutex_t lock;
	int region_sent;
	int pool_sent;
	uint32_t mine[P_N];
	uint32_t other[P_N];
	uint32_t gen[P_N];
	struct fake_heap heap[64];
	int nheap;
	uint64_t heap_next;
	uint32_t frame_max;          /* indices per grant frame */
	uint32_t seq_reply;          /* a run in order goes as PROTO_F_SEQ when asked */
	uint32_t high_first;         /* grants take the highest free blocks first */
	struct {                     /* when flags: the next block grant, as given */
		uint32_t flags, first, count, nindices;
	} forge;
	uint32_t max_indices;        /* announced in the hello reply */
	uint16_t defer_type;         /* requests of this type wait for fake_release */
	_Alignas(8) unsigned char deferred[MAX_DEFER][512];
	size_t deferred_len[MAX_DEFER];
	int ndeferred;
	int nmsgs;
	struct fake_log log[512];
	int eof;
};

static union {
	struct proto_block_reply r;
	unsigned char b[sizeof(struct proto_block_reply) + P_N * sizeof(uint32_t)];
} grant_buf;

static void reply_init(struct proto_reply_hdr *r, const struct proto_hdr *h, int status)
{
	memset(r, 0, sizeof(*r));
	r->hdr.version = SHMPOOL_PROTO_VERSION;
	r->hdr.type = h->type | PROTO_REPLY;
	r->hdr.id = h->id;
	r->status = status;
}

static void reply_status(struct fake *f, const struct proto_hdr *h, int status)
{
	struct proto_reply_hdr r;

	reply_init(&r, h, status);
	proto_send(f->fd, &r, sizeof(r), -1, 0);
}

static int fake_region(struct fake *f, struct proto_reply_hdr *r, struct proto_region_desc *d)
{
	if (f->region_sent)
		return -1;
	f->region_sent = 1;
	memset(d, 0, sizeof(*d));
	d->id = R_ID;
	d->size = R_SIZE;
	d->granularity = 4096;
	strcpy(d->name, "r");
	r->flags |= PROTO_F_REGION;
	return f->memfd;
}

static int fake_pool(struct fake *f, int force, struct proto_reply_hdr *r,
		     struct proto_pool_desc *d, struct proto_region_desc *rd)
{
	if (f->pool_sent && !force)
		return -1;
	f->pool_sent = 1;
	memset(d, 0, sizeof(*d));
	d->id = P_ID;
	d->region_id = R_ID;
	d->base = P_BASE;
	d->block_size = P_BS;
	d->stride = P_STRIDE;
	d->num_blocks = P_N;
	strcpy(d->name, "p");
	r->flags |= PROTO_F_POOL_DESC;
	return fake_region(f, r, rd);
}

static int block_taken(const struct fake *f, uint32_t i)
{
	return f->mine[i] > 0 || f->other[i] > 0;
}

static void fake_grant(struct fake *f, const struct proto_hdr *h, const uint32_t *idx,
		       uint32_t count, int contig, int seq)
{
	struct proto_block_reply *r = &grant_buf.r;
	uint32_t nidx = contig ? 1 : count;
	uint32_t lo;
	int fd = -1, run = seq && f->seq_reply && span_is_run(idx, count, &lo);

	memset(&grant_buf, 0, sizeof(grant_buf));
	reply_init(&r->r, h, 0);
	r->pool_id = P_ID;
	r->count = count;
	if (run) {
		nidx = 1;
		r->r.flags = PROTO_F_SEQ | (idx[1] < idx[0] ? PROTO_F_DESC : 0);
	}
	if (h->type == PROTO_GROUP_ALLOC)
		fd = fake_pool(f, 0, &r->r, &r->pool, &r->region);
	for (uint32_t sent = 0; sent < nidx;) {
		uint32_t n = nidx - sent < f->frame_max ? nidx - sent : f->frame_max;

		r->first = sent;
		r->nindices = n;
		memcpy(r->index, idx + sent, n * sizeof(uint32_t));
		if (sent + n < nidx)
			r->r.flags |= PROTO_F_MORE;
		else
			r->r.flags &= ~PROTO_F_MORE;
		proto_send(f->fd, r, sizeof(*r) + n * sizeof(uint32_t), fd, 0);
		fd = -1;
		r->r.flags &= ~(PROTO_F_POOL_DESC | PROTO_F_REGION);
		sent += n;
	}
}

/* A block grant exactly as f->forge gives it: indices first, first + 1, ... */
static void fake_forged(struct fake *f, const struct proto_hdr *h)
{
	struct proto_block_reply *r = &grant_buf.r;

	memset(&grant_buf, 0, sizeof(grant_buf));
	reply_init(&r->r, h, 0);
	r->r.flags = f->forge.flags;
	r->pool_id = P_ID;
	r->count = f->forge.count;
	r->nindices = f->forge.nindices;
	for (uint32_t k = 0; k < r->nindices; k++)
		r->index[k] = f->forge.first + k;
	proto_send(f->fd, r, sizeof(*r) + r->nindices * sizeof(uint32_t), -1, 0);
	f->forge.flags = 0;
}

static void fake_alloc(struct fake *f, const struct proto_hdr *h, uint32_t count, int timeout,
		       int contig, int seq)
{
	uint32_t idx[P_N], n = 0;

	if (f->forge.flags) {
		fake_forged(f, h);
		return;
	}
	if (count > P_N) {
		reply_status(f, h, -ENOMEM);
		return;
	}
	if (contig) {
		for (uint32_t s = 0; s + count <= P_N && n < count; s++) {
			for (n = 0; n < count && !block_taken(f, s + n); n++)
				idx[n] = s + n;
		}
	} else {
		for (uint32_t k = 0; k < P_N && n < count; k++) {
			uint32_t i = f->high_first ? P_N - 1 - k : k;

			if (!block_taken(f, i))
				idx[n++] = i;
		}
	}
	if (n < count) {
		reply_status(f, h, timeout == 0 ? -ENOMEM : -EAGAIN);
		return;
	}
	for (uint32_t k = 0; k < count; k++) {
		f->mine[idx[k]] = 1;
		f->gen[idx[k]]++;
	}
	fake_grant(f, h, idx, count, contig, seq);
}

/* All or nothing, like the daemon: -EINVAL, -EFAULT (free or listed once
 * too often), -EPERM (someone else's). */
static int fake_free_check(const struct fake *f, const struct proto_block_free *m)
{
	uint32_t seen[P_N] = { 0 };
	int contig = !!(m->flags & PROTO_F_CONTIG);

	for (uint32_t k = 0; k < m->count; k++) {
		uint32_t i = contig ? m->index[0] + k : m->index[k];

		if (i >= P_N)
			return -EINVAL;
		if (seen[i] >= f->mine[i]) {
			if (seen[i] > 0 || !block_taken(f, i))
				return -EFAULT;
			return -EPERM;
		}
		seen[i]++;
	}
	return 0;
}

static void fake_free(struct fake *f, const struct proto_block_free *m)
{
	int contig = !!(m->flags & PROTO_F_CONTIG);
	int rc = m->pool_id == P_ID ? fake_free_check(f, m) : -ENOENT;

	if (rc == 0)
		for (uint32_t k = 0; k < m->count; k++)
			f->mine[contig ? m->index[0] + k : m->index[k]]--;
	if (m->flags & PROTO_F_SYNC) {
		reply_status(f, &m->hdr, rc);
	} else if (rc < 0) {
		struct proto_notify_error n;

		memset(&n, 0, sizeof(n));
		n.r.hdr.version = SHMPOOL_PROTO_VERSION;
		n.r.hdr.type = PROTO_NOTIFY_ERROR;
		n.r.hdr.id = m->hdr.id;
		n.r.status = rc;
		proto_send(f->fd, &n, sizeof(n), -1, 0);
	}
}

static struct fake_heap *fake_heap_find(struct fake *f, uint64_t offset)
{
	for (int k = 0; k < f->nheap; k++)
		if (f->heap[k].offset == offset && (f->heap[k].mine || f->heap[k].other))
			return &f->heap[k];
	return NULL;
}

static void fake_heap_reply(struct fake *f, const struct proto_hdr *h, const struct fake_heap *a)
{
	struct proto_heap_reply r;
	int fd;

	memset(&r, 0, sizeof(r));
	reply_init(&r.r, h, 0);
	r.region_id = R_ID;
	r.pool_id = UINT32_MAX;
	r.offset = a->offset;
	r.length = a->size;
	fd = fake_region(f, &r.r, &r.region);
	proto_send(f->fd, &r, sizeof(r), fd, 0);
}

static struct fake_heap *fake_heap_new(struct fake *f, uint64_t align, uint64_t size)
{
	struct fake_heap *a = &f->heap[f->nheap++];

	if (align < 16)
		align = 16;
	f->heap_next = (f->heap_next + align - 1) & ~(align - 1);
	a->offset = f->heap_next;
	a->size = (size + 15) & ~15ull;
	a->mine = 1;
	a->other = 0;
	a->gen++;
	f->heap_next += a->size;
	memset(f->map + a->offset, 0xaa, a->size);
	return a;
}

static void fake_ref(struct fake *f, const struct proto_ref_req *m)
{
	struct proto_ref_reply r;
	struct proto_ref ref = { .magic = PROTO_REF_MAGIC, .region_id = R_ID, .offset = m->offset };
	uint64_t rel = m->offset - P_BASE;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	if (m->offset >= P_BASE && rel < P_N * P_STRIDE) {
		if (rel % P_STRIDE || f->mine[rel / P_STRIDE] == 0)
			rc = -EPERM;
		ref.kind = PROTO_REF_BLOCK;
		ref.generation = rc ? 0 : f->gen[rel / P_STRIDE];
	} else {
		struct fake_heap *a = fake_heap_find(f, m->offset);

		if (!a || !a->mine)
			rc = -EPERM;
		ref.kind = PROTO_REF_HEAP;
		ref.generation = a ? a->gen : 0;
	}
	reply_init(&r.r, &m->hdr, rc);
	memcpy(r.ref, &ref, sizeof(ref));
	proto_send(f->fd, &r, sizeof(r), -1, 0);
}

static void fake_attach(struct fake *f, const struct proto_attach *m)
{
	struct proto_heap_reply r;
	struct proto_ref ref;
	int fd = -1;

	memcpy(&ref, m->ref, sizeof(ref));
	memset(&r, 0, sizeof(r));
	reply_init(&r.r, &m->hdr, 0);
	r.region_id = R_ID;
	r.offset = ref.offset;
	r.pool_id = UINT32_MAX;
	if (ref.kind == PROTO_REF_BLOCK) {
		uint32_t i = (uint32_t)((ref.offset - P_BASE) / P_STRIDE);

		if (!block_taken(f, i) || f->gen[i] != ref.generation) {
			r.r.status = -ESTALE;
		} else {
			f->mine[i]++;
			r.pool_id = P_ID;
			r.length = P_BS;
			fd = fake_pool(f, 0, &r.r, &r.pool, &r.region);
		}
	} else {
		struct fake_heap *a = fake_heap_find(f, ref.offset);

		if (!a || a->gen != ref.generation) {
			r.r.status = -ESTALE;
		} else {
			a->mine++;
			r.length = a->size;
			fd = fake_region(f, &r.r, &r.region);
		}
	}
	proto_send(f->fd, &r, sizeof(r), fd, 0);
}

static void fake_handle(struct fake *f, const void *buf, size_t len)
{
	const struct proto_hdr *h = buf;

	(void)len;
	switch (h->type) {
	case PROTO_HELLO: {
		struct proto_hello_reply r;

		memset(&r, 0, sizeof(r));
		reply_init(&r.r, h, 0);
		r.proto_version = SHMPOOL_PROTO_VERSION;
		r.max_message = PROTO_MAX_MESSAGE;
		r.max_indices = f->max_indices;
		proto_send(f->fd, &r, sizeof(r), -1, 0);
		break;
	}
	case PROTO_POOL_OPEN: {
		const struct proto_name_req *m = buf;
		struct proto_pool_reply r;
		int fd;

		if (strcmp(m->name, "p") != 0) {
			reply_status(f, h, -ENOENT);
			break;
		}
		memset(&r, 0, sizeof(r));
		reply_init(&r.r, h, 0);
		fd = fake_pool(f, 1, &r.r, &r.pool, &r.region);
		proto_send(f->fd, &r, sizeof(r), fd, 0);
		break;
	}
	case PROTO_POOL_STAT: {
		struct proto_pool_stat_reply r;

		memset(&r, 0, sizeof(r));
		reply_init(&r.r, h, 0);
		r.block_size = P_BS;
		r.num_blocks = P_N;
		for (uint32_t i = 0; i < P_N; i++)
			r.num_used += block_taken(f, i);
		r.num_free = P_N - r.num_used;
		r.max_used = 7;
		r.attr = 1;
		proto_send(f->fd, &r, sizeof(r), -1, 0);
		break;
	}
	case PROTO_POOL_INFO: {
		const struct proto_cursor_req *m = buf;
		struct proto_pool_info_reply r;

		memset(&r, 0, sizeof(r));
		reply_init(&r.r, h, m->cursor == 0 ? 1 : 0);
		r.next_cursor = 1;
		if (m->cursor == 0) {
			r.block_size = P_BS;
			r.num_blocks = P_N;
			r.num_free = 60;
			r.min_free = 50;
			strcpy(r.name, "p");
			strcpy(r.region, "r");
		}
		proto_send(f->fd, &r, sizeof(r), -1, 0);
		break;
	}
	case PROTO_BLOCK_ALLOC: {
		const struct proto_block_alloc *m = buf;

		fake_alloc(f, h, m->count, m->timeout_ms, !!(m->flags & PROTO_F_CONTIG),
			   !!(m->flags & PROTO_F_SEQ));
		break;
	}
	case PROTO_GROUP_ALLOC: {
		const struct proto_group_alloc *m = buf;

		if (strcmp(m->group, "g") != 0)
			reply_status(f, h, -ENOENT);
		else if (m->selector != 1)
			reply_status(f, h, -EINVAL);
		else
			fake_alloc(f, h, m->count, m->timeout_ms, 0, 0);
		break;
	}
	case PROTO_BLOCKS_GET: {
		const struct proto_blocks_get *m = buf;
		int rc = 0;

		if (m->first_index >= P_N || m->count > P_N - m->first_index)
			rc = -EINVAL;
		for (uint32_t k = 0; rc == 0 && k < m->count; k++)
			if (block_taken(f, m->first_index + k))
				rc = -ENOMEM;
		for (uint32_t k = 0; rc == 0 && k < m->count; k++)
			f->mine[m->first_index + k] = 1;
		reply_status(f, h, rc);
		break;
	}
	case PROTO_BLOCK_FREE:
		fake_free(f, buf);
		break;
	case PROTO_HEAP_ALLOC: {
		const struct proto_heap_alloc *m = buf;

		if (m->size == 0)
			reply_status(f, h, -EINVAL);
		else
			fake_heap_reply(f, h, fake_heap_new(f, m->align, m->size));
		break;
	}
	case PROTO_HEAP_FREE: {
		const struct proto_heap_free *m = buf;
		struct fake_heap *a = fake_heap_find(f, m->offset);
		int rc = 0;

		if (!a)
			rc = -EFAULT;
		else if (!a->mine)
			rc = -EPERM;
		else
			a->mine--;
		if (m->flags & PROTO_F_SYNC)
			reply_status(f, h, rc);
		break;
	}
	case PROTO_HEAP_REALLOC: {
		const struct proto_heap_realloc *m = buf;
		struct fake_heap *a = fake_heap_find(f, m->offset), *b;

		if (!a || !a->mine) {
			reply_status(f, h, a ? -EPERM : -EFAULT);
			break;
		}
		b = fake_heap_new(f, 16, m->size);
		memmove(f->map + b->offset, f->map + a->offset, a->size < b->size ? a->size : b->size);
		a->mine = 0;
		fake_heap_reply(f, h, b);
		break;
	}
	case PROTO_REF:
		fake_ref(f, buf);
		break;
	case PROTO_ATTACH:
		fake_attach(f, buf);
		break;
	case PROTO_SET_PRIORITY: {
		const struct proto_set_priority *m = buf;

		reply_status(f, h, m->priority < 0 ? -EPERM : 0);
		break;
	}
	default:
		reply_status(f, h, -EOPNOTSUPP);
		break;
	}
}

static void *fake_loop(void *arg)
{
	struct fake *f = arg;
	static _Alignas(8) unsigned char buf[PROTO_MAX_MESSAGE];

	for (;;) {
		int fd;
		long n = proto_recv(f->fd, buf, sizeof(buf), &fd, 0);
		const struct proto_hdr *h = (const void *)buf;

		pthread_mutex_lock(&f->lock);
		if (n <= 0) {
			f->eof = 1;
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		if (f->nmsgs < 512) {
			struct fake_log *l = &f->log[f->nmsgs];

			l->type = h->type;
			if (h->type == PROTO_BLOCK_FREE) {
				const struct proto_block_free *m = (const void *)buf;

				l->flags = m->flags;
				l->count = m->count;
				l->nindices = m->nindices;
			} else if (h->type == PROTO_BLOCK_ALLOC) {
				const struct proto_block_alloc *m = (const void *)buf;

				l->flags = m->flags;
				l->count = m->count;
			} else if (h->type == PROTO_HEAP_FREE) {
				l->flags = ((const struct proto_heap_free *)(const void *)buf)->flags;
			}
		}
		f->nmsgs++;
		if (h->type == f->defer_type && f->ndeferred < MAX_DEFER && (size_t)n <= 512) {
			memcpy(f->deferred[f->ndeferred], buf, (size_t)n);
			f->deferred_len[f->ndeferred++] = (size_t)n;
		} else {
			fake_handle(f, buf, (size_t)n);
		}
		pthread_mutex_unlock(&f->lock);
	}
}

static void fake_init(struct fake *f)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->frame_max = PROTO_MAX_INDICES;
	f->max_indices = PROTO_MAX_INDICES;
	f->heap_next = HEAP_BASE;
	f->memfd = memfd_create("fake-region", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, R_SIZE), 0);
	f->map = mmap(NULL, R_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->map != MAP_FAILED);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[0];
	f->cfd = sv[1];
}

static void fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, fake_loop, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->fd);
	munmap(f->map, R_SIZE);
	close(f->memfd);
	pthread_mutex_destroy(&f->lock);
}

static int fake_count(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->nmsgs;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Wait until the fake has received n messages (a blocked call's request). */
static void fake_wait_count(struct fake *f, int n)
{
	for (int k = 0; k < 5000 && fake_count(f) < n; k++)
		usleep(1000);
	assert_true(fake_count(f) >= n);
}

/* Answer the k-th deferred request now. */
static void fake_release(struct fake *f, int k)
{
	pthread_mutex_lock(&f->lock);
	assert_true(k < f->ndeferred);
	fake_handle(f, f->deferred[k], f->deferred_len[k]);
	pthread_mutex_unlock(&f->lock);
}

/* The fake's state is read and set under its lock: the socket orders the
 * messages, but not memory as the thread sanitizer sees it. */
static uint32_t fake_mine(struct fake *f, uint32_t i)
{
	uint32_t v;

	pthread_mutex_lock(&f->lock);
	v = f->mine[i];
	pthread_mutex_unlock(&f->lock);
	return v;
}

static void fake_set(struct fake *f, uint32_t *field, uint32_t value)
{
	pthread_mutex_lock(&f->lock);
	*field = value;
	pthread_mutex_unlock(&f->lock);
}

static void fake_defer(struct fake *f, uint16_t type)
{
	pthread_mutex_lock(&f->lock);
	f->defer_type = type;
	f->ndeferred = 0;
	pthread_mutex_unlock(&f->lock);
}

static int fake_eof(struct fake *f)
{
	int v;

	pthread_mutex_lock(&f->lock);
	v = f->eof;
	pthread_mutex_unlock(&f->lock);
	return v;
}

/* Wait until the fake has seen the end of the stream. */
static void fake_wait_eof(struct fake *f)
{
	for (int k = 0; k < 5000 && !fake_eof(f); k++)
		usleep(1000);
	assert_true(fake_eof(f));
}

static struct fake_log fake_last(struct fake *f, int back)
{
	struct fake_log l;

	pthread_mutex_lock(&f->lock);
	l = f->log[f->nmsgs - 1 - back];
	pthread_mutex_unlock(&f->lock);
	return l;
}

/* The per-test state: a fake daemon, a connection to it, and pool "p". */
struct fixture {
	struct fake f;
	shmpool_t *sp;
	shmpool_pool_t *pool;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	fake_init(&x->f);
	fake_start(&x->f);
	assert_int_equal(client_open_fd(x->f.cfd, &x->sp), 0);
	assert_int_equal(shmpool_pool_open(x->sp, "p", &x->pool), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	shmpool_pool_close(x->pool);
	if (x->sp)
		shmpool_disconnect(x->sp);
	fake_stop(&x->f);
	free(x);
	return 0;
}

/* A round trip: every message sent before it has been handled by the fake
 * once it returns. */
static int sync_count(struct fixture *x)
{
	struct shmpool_pool_stat st;

	assert_int_equal(shmpool_pool_stat(x->pool, &st), 0);
	return fake_count(&x->f) - 1;
}

static void *pool_block(struct fixture *x, uint32_t i)
{
	return (char *)client_region_base(x->sp, R_ID) + P_BASE + i * P_STRIDE;
}

/* --- local tables --- */

static void test_hmap_model(void **state)
{
	struct client_hmap m;
	enum { N = 500 };
	uint64_t keys[N];
	int present[N];
	unsigned seed = 12345;

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(present, 0, sizeof(present));
	for (int i = 0; i < N; i++)
		keys[i] = (uint64_t)i * 4096 + 0x7f0000000000ull;
	srand(seed);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N, kind = 1 + rand() % 2;
		struct client_hentry *e = client_hmap_find(&m, kind, keys[i]);

		if (!!e != (present[i] & kind ? 1 : 0))
			fail_msg("seed %u step %d: find of key %d kind %d disagrees with the model",
				 seed, step, i, kind);
		if (e) {
			client_hmap_remove(&m, e);
			present[i] &= ~kind;
		} else {
			assert_int_equal(client_hmap_insert(&m, kind, keys[i], &e), 0);
			e->holds = (uint32_t)i;
			present[i] |= kind;
		}
	}
	for (int i = 0; i < N; i++) {
		struct client_hentry *e = client_hmap_find(&m, CLIENT_HOLD_HEAP, keys[i]);

		if (present[i] & CLIENT_HOLD_HEAP) {
			assert_non_null(e);
			assert_int_equal(e->holds, i);
			client_hmap_rekey(&m, e, keys[i] + 1);
			assert_null(client_hmap_find(&m, CLIENT_HOLD_HEAP, keys[i]));
			assert_ptr_equal(client_hmap_find(&m, CLIENT_HOLD_HEAP, keys[i] + 1), e);
		} else {
			assert_null(e);
		}
	}
	client_hmap_fini(&m);
}

static void test_holds(void **state)
{
	struct fixture *x = *state;
	struct client_pool *p;

	pthread_mutex_lock(&x->sp->lock);
	p = client_pool_get(x->sp, P_ID);
	assert_non_null(p);
	assert_int_equal(client_hold_count(x->sp, p, 5), 0);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_NONE);
	assert_int_equal(client_hold_add(x->sp, p, 5), 0);
	assert_int_equal(client_hold_add(x->sp, p, 5), 0);
	assert_int_equal(client_hold_add(x->sp, p, 5), 0);
	assert_int_equal(client_hold_count(x->sp, p, 5), 3);
	assert_int_equal(client_hold_count(x->sp, p, 4), 0);
	assert_int_equal(client_hold_count(x->sp, p, 6), 0);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_EXTRA);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_EXTRA);
	assert_int_equal(client_hold_count(x->sp, p, 5), 1);
	client_hold_undo(x->sp, p, 5, CLIENT_TAKE_EXTRA);
	assert_int_equal(client_hold_count(x->sp, p, 5), 2);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_EXTRA);
	client_hold_commit(x->sp, p, 5, CLIENT_TAKE_EXTRA);
	assert_null(client_hmap_find(&x->sp->hmap, CLIENT_HOLD_BLOCK, (uint64_t)P_ID << 32 | 5));
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_BIT);
	assert_int_equal(client_hold_count(x->sp, p, 5), 0);
	client_hold_undo(x->sp, p, 5, CLIENT_TAKE_BIT);
	assert_int_equal(client_hold_count(x->sp, p, 5), 1);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_BIT);
	assert_int_equal(client_hold_take(x->sp, p, 5), CLIENT_TAKE_NONE);
	assert_int_equal(client_hold_add(x->sp, p, 63), 0);
	assert_int_equal(client_hold_count(x->sp, p, 63), 1);
	assert_int_equal(client_hold_take(x->sp, p, 63), CLIENT_TAKE_BIT);
	pthread_mutex_unlock(&x->sp->lock);
}

static void test_locate(void **state)
{
	struct fixture *x = *state;
	struct client_loc loc;
	char *base;
	uint32_t index;
	int outside;

	pthread_mutex_lock(&x->sp->lock);
	base = client_region_base(x->sp, R_ID);
	assert_non_null(base);
	assert_int_equal(client_locate(x->sp, &outside, &loc), -EINVAL);
	assert_int_equal(client_locate(x->sp, base + R_SIZE, &loc), -EINVAL);
	assert_int_equal(client_locate(x->sp, base, &loc), 0);
	assert_null(loc.pool);
	assert_int_equal(loc.region_id, R_ID);
	assert_int_equal(loc.offset, 0);
	assert_int_equal(client_locate(x->sp, base + P_BASE + 7 * P_STRIDE, &loc), 0);
	assert_non_null(loc.pool);
	assert_int_equal(loc.pool->id, P_ID);
	assert_int_equal(loc.index, 7);
	assert_int_equal(client_locate(x->sp, base + P_BASE + 7 * P_STRIDE + 1, &loc), -EINVAL);
	assert_int_equal(client_locate(x->sp, base + P_BASE + 7 * P_STRIDE + P_BS, &loc), -EINVAL);
	assert_int_equal(client_locate(x->sp, base + P_BASE + P_N * P_STRIDE, &loc), 0);
	assert_null(loc.pool);
	assert_int_equal(client_locate(x->sp, base + R_SIZE - 1, &loc), 0);
	assert_int_equal(loc.offset, R_SIZE - 1);
	assert_int_equal(client_pool_index(x->sp, loc.pool ? loc.pool : client_pool_get(x->sp, P_ID),
					   base + P_BASE + (P_N - 1) * P_STRIDE, &index), 0);
	assert_int_equal(index, P_N - 1);
	assert_int_equal(client_pool_index(x->sp, client_pool_get(x->sp, P_ID),
					   base + P_BASE - P_STRIDE, &index), -EINVAL);
	assert_ptr_equal(client_block_ptr(x->sp, client_pool_get(x->sp, P_ID), 3),
			 base + P_BASE + 3 * P_STRIDE);
	pthread_mutex_unlock(&x->sp->lock);
}

static void test_bad_descriptors(void **state)
{
	struct fixture *x = *state;
	struct proto_pool_desc d = {
		.id = 9, .region_id = R_ID, .base = 0, .block_size = 64, .stride = 64,
		.num_blocks = R_SIZE / 64,
	};

	pthread_mutex_lock(&x->sp->lock);
	assert_int_equal(client_pool_apply(x->sp, &d), 0);
	d.num_blocks++;
	assert_int_equal(client_pool_apply(x->sp, &d), -EBADMSG);
	d.num_blocks = 1;
	d.stride = 32;
	assert_int_equal(client_pool_apply(x->sp, &d), -EBADMSG);
	d.stride = 64;
	d.region_id = 7;
	assert_int_equal(client_pool_apply(x->sp, &d), -EBADMSG);
	d.region_id = R_ID;
	d.block_size = 0;
	assert_int_equal(client_pool_apply(x->sp, &d), -EBADMSG);
	pthread_mutex_unlock(&x->sp->lock);
}

/* --- blocks --- */

static void test_alloc_multiframe(void **state)
{
	struct fixture *x = *state;
	void *b[10];

	fake_set(&x->f, &x->f.frame_max, 3);
	assert_int_equal(shmpool_blocks_alloc(x->pool, 10, b, SHMPOOL_NO_WAIT), 0);
	for (uint32_t i = 0; i < 10; i++)
		assert_ptr_equal(b[i], pool_block(x, i));
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), i), 1);
	assert_int_equal(shmpool_blocks_free(x->pool, 10, b), 0);
	sync_count(x);
	/* Blocks 0 to 9 in order: one index, as a contiguous free. */
	assert_int_equal(fake_last(&x->f, 1).type, PROTO_BLOCK_FREE);
	assert_int_equal(fake_last(&x->f, 1).flags, PROTO_F_CONTIG);
	assert_int_equal(fake_last(&x->f, 1).count, 10);
	assert_int_equal(fake_last(&x->f, 1).nindices, 1);
}

static void test_free_fire_and_forget(void **state)
{
	struct fixture *x = *state;
	void *b;
	int n;

	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(b, pool_block(x, 0));
	assert_int_equal(shmpool_block_free(x->pool, b), 0);
	n = sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).type, PROTO_BLOCK_FREE);
	assert_int_equal(fake_last(&x->f, 1).flags, 0);
	/* A second free is not held locally: the daemon is asked. */
	assert_int_equal(shmpool_block_free(x->pool, b), -EFAULT);
	assert_int_equal(fake_count(&x->f), n + 2);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SYNC);
	assert_int_equal(shmpool_async_errors(x->sp), 0);
}

static void test_free_other_connection(void **state)
{
	struct fixture *x = *state;

	fake_set(&x->f, &x->f.other[5], 1);
	assert_int_equal(shmpool_block_free(x->pool, pool_block(x, 5)), -EPERM);
	assert_int_equal(shmpool_free(x->sp, pool_block(x, 5)), -EPERM);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SYNC);
}

static void test_free_invalid_local(void **state)
{
	struct fixture *x = *state;
	int outside, n = fake_count(&x->f);
	void *b;

	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_free(x->pool, &outside), -EINVAL);
	assert_int_equal(shmpool_block_free(x->pool, (char *)b + 1), -EINVAL);
	assert_int_equal(shmpool_free(x->sp, &outside), -EINVAL);
	assert_int_equal(shmpool_free(x->sp, (char *)b + 8), -EINVAL);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, (char *)b + 8, 1), -EINVAL);
	assert_int_equal(shmpool_group_free(x->sp, 1, (void *[]){ &outside }), -EINVAL);
	assert_int_equal(shmpool_free(x->sp, NULL), 0);
	assert_int_equal(fake_count(&x->f), n + 1);
	assert_int_equal(shmpool_free(x->sp, b), 0);
}

static void test_blocks_free_duplicate(void **state)
{
	struct fixture *x = *state;
	void *b[2], *dup[3];
	int n;

	assert_int_equal(shmpool_blocks_alloc(x->pool, 2, b, SHMPOOL_NO_WAIT), 0);
	n = fake_count(&x->f);
	dup[0] = b[0];
	dup[1] = b[1];
	dup[2] = b[0];
	assert_int_equal(shmpool_blocks_free(x->pool, 3, dup), -EFAULT);
	assert_int_equal(fake_count(&x->f), n);
	assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), 0), 1);
	assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), 1), 1);
	assert_int_equal(shmpool_blocks_free(x->pool, 2, b), 0);
	sync_count(x);
	assert_int_equal(fake_mine(&x->f, 0) + fake_mine(&x->f, 1), 0);
}

static void test_blocks_free_bad_entry_frees_nothing(void **state)
{
	struct fixture *x = *state;
	void *b[3];

	assert_int_equal(shmpool_blocks_alloc(x->pool, 2, b, SHMPOOL_NO_WAIT), 0);
	fake_set(&x->f, &x->f.other[9], 1);
	b[2] = pool_block(x, 9);
	assert_int_equal(shmpool_blocks_free(x->pool, 3, b), -EPERM);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SYNC);
	assert_int_equal(fake_last(&x->f, 0).nindices, 1);
	sync_count(x);
	assert_int_equal(fake_mine(&x->f, 0), 1);
	assert_int_equal(fake_mine(&x->f, 1), 1);
	assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), 0), 1);
	b[2] = pool_block(x, 20);
	assert_int_equal(shmpool_blocks_free(x->pool, 3, b), -EFAULT);
	assert_int_equal(shmpool_blocks_free(x->pool, 2, b), 0);
	sync_count(x);
	assert_int_equal(fake_mine(&x->f, 0) + fake_mine(&x->f, 1), 0);
}

static void test_blocks_free_split(void **state)
{
	struct fixture *x = *state;
	void *b[P_N];
	int n;

	x->sp->max_indices = 10;
	fake_set(&x->f, &x->f.frame_max, 7);
	assert_int_equal(shmpool_blocks_alloc(x->pool, P_N, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_block_alloc(x->pool, &b[0], SHMPOOL_NO_WAIT), -ENOMEM);
	n = fake_count(&x->f);
	assert_int_equal(shmpool_blocks_free(x->pool, P_N, b), 0);
	assert_int_equal(sync_count(x), n + 7);
	/* Frames of 10 adjacent blocks go as contiguous frees; the last
	 * has 4, too few to be taken for a run. */
	for (int k = 1; k <= 7; k++) {
		assert_int_equal(fake_last(&x->f, k).type, PROTO_BLOCK_FREE);
		assert_int_equal(fake_last(&x->f, k).flags, k == 1 ? 0 : PROTO_F_CONTIG);
		assert_int_equal(fake_last(&x->f, k).count, k == 1 ? 4 : 10);
		assert_int_equal(fake_last(&x->f, k).nindices, k == 1 ? 4 : 1);
	}
	for (uint32_t i = 0; i < P_N; i++)
		assert_int_equal(fake_mine(&x->f, i), 0);
}

/* A block alloc asks for runs as their first index; a grant sent so gives
 * the same pointers and holds as the list, up or down. */
static void test_seq_grant(void **state)
{
	struct fixture *x = *state;
	struct client_pool *cp = client_pool_get(x->sp, P_ID);
	void *b[12];

	assert_int_equal(shmpool_blocks_alloc(x->pool, 10, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(fake_last(&x->f, 0).type, PROTO_BLOCK_ALLOC);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SEQ);
	assert_int_equal(fake_last(&x->f, 0).count, 10);
	assert_int_equal(shmpool_blocks_free(x->pool, 10, b), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(x->pool, 3, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_CONTIG);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, b[0], 3), 0);

	fake_set(&x->f, &x->f.seq_reply, 1);
	assert_int_equal(shmpool_blocks_alloc(x->pool, 12, b, SHMPOOL_NO_WAIT), 0);
	for (uint32_t k = 0; k < 12; k++) {
		assert_ptr_equal(b[k], pool_block(x, k));
		assert_int_equal(client_hold_count(x->sp, cp, k), 1);
	}
	assert_int_equal(client_hold_count(x->sp, cp, 12), 0);
	fake_set(&x->f, &x->f.high_first, 1);
	assert_int_equal(shmpool_blocks_alloc(x->pool, 9, b, SHMPOOL_NO_WAIT), 0);
	for (uint32_t k = 0; k < 9; k++) {
		assert_ptr_equal(b[k], pool_block(x, P_N - 1 - k));
		assert_int_equal(client_hold_count(x->sp, cp, P_N - 1 - k), 1);
	}
	assert_int_equal(client_hold_count(x->sp, cp, P_N - 10), 0);
	/* Both came back as runs, so both go back as contiguous frees. */
	assert_int_equal(shmpool_blocks_free(x->pool, 9, b), 0);
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).type, PROTO_BLOCK_FREE);
	assert_int_equal(fake_last(&x->f, 1).flags, PROTO_F_CONTIG);
	assert_int_equal(fake_last(&x->f, 1).nindices, 1);
	for (uint32_t k = 0; k < 12; k++)
		b[k] = pool_block(x, k);
	assert_int_equal(shmpool_blocks_free(x->pool, 12, b), 0);
	sync_count(x);
	for (uint32_t i = 0; i < P_N; i++)
		assert_int_equal(fake_mine(&x->f, i), 0);
	assert_int_equal(shmpool_async_errors(x->sp), 0);
}

/* A run grant is checked whole before any of it is taken: one index, one
 * frame, every block inside the pool. */
static void test_seq_grant_bad(void **state)
{
	struct fixture *x = *state;
	struct client_pool *cp = client_pool_get(x->sp, P_ID);
	static const struct {
		uint32_t flags, first, count, nindices;
		int rc;
	} cases[] = {
		{ PROTO_F_SEQ, 0, 4, 2, -EBADMSG },             /* two indices */
		{ PROTO_F_SEQ, 0, 4, 0, -EBADMSG },             /* none */
		{ PROTO_F_SEQ | PROTO_F_MORE, 0, 4, 1, -EBADMSG },
		{ PROTO_F_SEQ, P_N, 4, 1, -EBADMSG },           /* first outside */
		{ PROTO_F_SEQ, P_N - 3, 4, 1, -EBADMSG },       /* runs past the end */
		{ PROTO_F_SEQ | PROTO_F_DESC, 2, 4, 1, -EBADMSG }, /* runs below 0 */
		{ PROTO_F_SEQ, 0, 3, 1, -EBADMSG },             /* fewer than asked */
		{ PROTO_F_SEQ, P_N - 4, 4, 1, 0 },              /* up to the last block */
		{ PROTO_F_SEQ | PROTO_F_DESC, 3, 4, 1, 0 },     /* down to block 0 */
	};
	void *b[4];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		pthread_mutex_lock(&x->f.lock);
		x->f.forge.flags = cases[c].flags;
		x->f.forge.first = cases[c].first;
		x->f.forge.count = cases[c].count;
		x->f.forge.nindices = cases[c].nindices;
		pthread_mutex_unlock(&x->f.lock);
		assert_int_equal(shmpool_blocks_alloc(x->pool, 4, b, SHMPOOL_NO_WAIT), cases[c].rc);
	}
	/* Only the two good grants were taken. */
	for (uint32_t i = 0; i < P_N; i++)
		assert_int_equal(client_hold_count(x->sp, cp, i), i < 4 || i >= P_N - 4);
	for (uint32_t k = 0; k < 4; k++)
		assert_ptr_equal(b[k], pool_block(x, 3 - k));
}

/* The last message before a round trip was a block free of count blocks
 * with these flags and nindices indices. */
static void expect_free(struct fixture *x, uint32_t flags, uint32_t count, uint32_t nindices)
{
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).type, PROTO_BLOCK_FREE);
	assert_int_equal(fake_last(&x->f, 1).flags, flags);
	assert_int_equal(fake_last(&x->f, 1).count, count);
	assert_int_equal(fake_last(&x->f, 1).nindices, nindices);
}

/* Frees of blocks adjacent in order go as one index, up or down; anything
 * else, and runs too short to count, go as lists. */
static void test_free_runs(void **state)
{
	struct fixture *x = *state;
	void *b[20], *l[12];

	assert_int_equal(shmpool_blocks_alloc(x->pool, 20, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(x->pool, 8, b), 0);
	expect_free(x, PROTO_F_CONTIG, 8, 1);
	for (int k = 0; k < 8; k++)
		l[k] = b[19 - k];
	assert_int_equal(shmpool_blocks_free(x->pool, 8, l), 0);
	expect_free(x, PROTO_F_CONTIG, 8, 1);
	for (uint32_t i = 0; i < 20; i++)
		assert_int_equal(fake_mine(&x->f, i), i >= 8 && i < 12);
	/* 8 9 11 10: adjacent, not in order. */
	l[0] = b[8];
	l[1] = b[9];
	l[2] = b[11];
	l[3] = b[10];
	assert_int_equal(shmpool_blocks_alloc(x->pool, 8, b, SHMPOOL_NO_WAIT), 0);
	for (int k = 0; k < 8; k++)
		l[4 + k] = b[k];
	assert_int_equal(shmpool_blocks_free(x->pool, 12, l), 0);
	expect_free(x, 0, 12, 12);
	assert_int_equal(shmpool_blocks_alloc(x->pool, 7, b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_free(x->pool, 7, b), 0);
	expect_free(x, 0, 7, 7);
	for (uint32_t i = 0; i < P_N; i++)
		assert_int_equal(fake_mine(&x->f, i), 0);
	assert_int_equal(shmpool_async_errors(x->sp), 0);
	/* Blocks not held go in a synchronous free, as the list: its order
	 * decides which bad entry is reported. */
	for (uint32_t k = 0; k < 8; k++)
		b[k] = pool_block(x, k);
	assert_int_equal(shmpool_blocks_free(x->pool, 8, b), -EFAULT);
	assert_int_equal(fake_last(&x->f, 0).type, PROTO_BLOCK_FREE);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SYNC);
	assert_int_equal(fake_last(&x->f, 0).nindices, 8);
}

static void test_count_limits(void **state)
{
	struct fixture *x = *state;
	size_t bs = 99;
	void *b[1];
	int n = fake_count(&x->f);

	assert_int_equal(shmpool_blocks_alloc(x->pool, 0, b, SHMPOOL_FOREVER), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(x->pool, 0, b, SHMPOOL_FOREVER), 0);
	assert_int_equal(shmpool_blocks_free(x->pool, 0, b), 0);
	assert_int_equal(shmpool_blocks_get(x->pool, b, 0), 0);
	assert_int_equal(shmpool_group_alloc(x->sp, "g", 1, 0, b, &bs, SHMPOOL_FOREVER), 0);
	assert_int_equal(bs, 0);
	assert_int_equal(shmpool_blocks_alloc(x->pool, P_N + 1, b, SHMPOOL_FOREVER), -ENOMEM);
	assert_int_equal(shmpool_blocks_alloc_contiguous(x->pool, P_N + 1, b, 10), -ENOMEM);
	assert_int_equal(shmpool_blocks_alloc(x->pool, 1, b, -2), -EINVAL);
	assert_int_equal(fake_count(&x->f), n);
}

static void test_contiguous(void **state)
{
	struct fixture *x = *state;
	void *one, *first;

	assert_int_equal(shmpool_block_alloc(x->pool, &one, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_blocks_alloc_contiguous(x->pool, 5, &first, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(first, pool_block(x, 1));
	for (uint32_t i = 1; i <= 5; i++)
		assert_int_equal(fake_mine(&x->f, i), 1);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, first, 5), 0);
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).flags, PROTO_F_CONTIG);
	assert_int_equal(fake_last(&x->f, 1).count, 5);
	for (uint32_t i = 1; i <= 5; i++)
		assert_int_equal(fake_mine(&x->f, i), 0);
	/* Not held throughout: synchronous, and the daemon's verdict. */
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, one, 2), -EFAULT);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_CONTIG | PROTO_F_SYNC);
	assert_int_equal(fake_mine(&x->f, 0), 1);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, one, P_N + 1), -EINVAL);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, pool_block(x, 1), P_N), -EINVAL);
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, one, 1), 0);
}

static void test_blocks_get(void **state)
{
	struct fixture *x = *state;
	void *b;

	assert_int_equal(shmpool_blocks_get(x->pool, pool_block(x, 10), 3), 0);
	for (uint32_t i = 10; i < 13; i++)
		assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), i), 1);
	assert_int_equal(shmpool_blocks_get(x->pool, pool_block(x, 12), 2), -ENOMEM);
	assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), 13), 0);
	assert_int_equal(shmpool_blocks_get(x->pool, pool_block(x, 60), 5), -EINVAL);
	assert_int_equal(shmpool_blocks_get(x->pool, (char *)pool_block(x, 20) + 4, 1), -EINVAL);
	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	assert_ptr_equal(b, pool_block(x, 0));
	assert_int_equal(shmpool_blocks_free_contiguous(x->pool, pool_block(x, 10), 3), 0);
	assert_int_equal(shmpool_free(x->sp, b), 0);
}

static void test_group(void **state)
{
	struct fixture *x = *state;
	void *b[4];
	size_t bs = 0;

	assert_int_equal(shmpool_group_alloc(x->sp, "g", 1, 4, b, &bs, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(bs, P_BS);
	for (uint32_t i = 0; i < 4; i++)
		assert_ptr_equal(b[i], pool_block(x, i));
	assert_int_equal(shmpool_group_alloc(x->sp, "nope", 1, 4, b, &bs, 0), -ENOENT);
	assert_int_equal(shmpool_group_alloc(x->sp, "g", 2, 4, b, &bs, 0), -EINVAL);
	assert_int_equal(shmpool_group_free(x->sp, 4, b), 0);
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).nindices, 4);
	assert_int_equal(fake_last(&x->f, 1).flags, 0);
	assert_int_equal(shmpool_group_free(x->sp, 1, b), -EFAULT);
}

static void test_attach_twice(void **state)
{
	struct fixture *x = *state;
	shmpool_ref_t ref;
	void *b, *a1, *a2;
	size_t us;
	int outside;

	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	assert_int_equal(shmpool_ref(x->sp, b, &ref), 0);
	assert_int_equal(shmpool_ref(x->sp, &outside, &ref), -EINVAL);
	assert_int_equal(shmpool_attach(x->sp, &ref, &a1), 0);
	assert_int_equal(shmpool_attach(x->sp, &ref, &a2), 0);
	assert_ptr_equal(a1, b);
	assert_ptr_equal(a2, b);
	assert_int_equal(client_hold_count(x->sp, client_pool_get(x->sp, P_ID), 0), 3);
	assert_int_equal(shmpool_usable_size(x->sp, b, &us), 0);
	assert_int_equal(us, P_BS);
	/* Three holds: a list naming the block three times is valid, four
	 * times is a double free and frees nothing. */
	assert_int_equal(shmpool_blocks_free(x->pool, 4, (void *[]){ b, b, b, b }), -EFAULT);
	assert_int_equal(fake_mine(&x->f, 0), 3);
	assert_int_equal(shmpool_blocks_free(x->pool, 3, (void *[]){ b, b, b }), 0);
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).flags, 0);
	assert_int_equal(fake_mine(&x->f, 0), 0);
	assert_int_equal(shmpool_usable_size(x->sp, b, &us), -EINVAL);
	assert_int_equal(shmpool_attach(x->sp, &ref, &a1), -ESTALE);
}

static void test_async_error_counted(void **state)
{
	struct fixture *x = *state;
	void *b;

	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	/* The daemon disagrees (it dropped the hold behind our back). */
	fake_set(&x->f, &x->f.mine[0], 0);
	assert_int_equal(shmpool_block_free(x->pool, b), 0);
	sync_count(x);
	assert_int_equal(shmpool_async_errors(x->sp), 1);
}

/* --- heap --- */

static void test_heap(void **state)
{
	struct fixture *x = *state;
	void *p, *q, *c;
	size_t us;
	int n;

	assert_int_equal(shmpool_alloc(x->sp, SHMPOOL_ATTR_CACHEABLE, 0, &p), -EINVAL);
	assert_int_equal(shmpool_aligned_alloc(x->sp, 0, 3, 16, &p), -EINVAL);
	assert_int_equal(shmpool_aligned_alloc(x->sp, 0, 0, 16, &p), -EINVAL);
	assert_int_equal(shmpool_alloc_ex(x->sp, "0123456789012345678901234567890123456789"
					  "012345678901234567890123", 0, 0, 16, &p), -EINVAL);
	assert_int_equal(shmpool_calloc(x->sp, 0, SIZE_MAX / 2, 3, &p), -ENOMEM);
	assert_int_equal(shmpool_alloc(x->sp, SHMPOOL_ATTR_CACHEABLE, 100, &p), 0);
	assert_ptr_equal(p, (char *)client_region_base(x->sp, R_ID) + HEAP_BASE);
	assert_int_equal(shmpool_usable_size(x->sp, p, &us), 0);
	assert_int_equal(us, 112);
	assert_int_equal(shmpool_usable_size(x->sp, (char *)p + 16, &us), -EINVAL);
	memcpy(p, "hello", 6);
	q = p;
	assert_int_equal(shmpool_realloc(x->sp, &q, 1000), 0);
	assert_ptr_not_equal(q, p);
	assert_string_equal(q, "hello");
	assert_int_equal(shmpool_usable_size(x->sp, q, &us), 0);
	assert_int_equal(us, 1008);
	assert_int_equal(shmpool_usable_size(x->sp, p, &us), -EINVAL);
	assert_int_equal(shmpool_calloc(x->sp, 0, 10, 10, &c), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(((unsigned char *)c)[i], 0);
	assert_int_equal(((unsigned char *)c)[100], 0xaa);
	n = fake_count(&x->f);
	assert_int_equal(shmpool_free(x->sp, c), 0);
	assert_int_equal(sync_count(x), n + 1);
	assert_int_equal(fake_last(&x->f, 1).type, PROTO_HEAP_FREE);
	assert_int_equal(fake_last(&x->f, 1).flags, 0);
	assert_int_equal(shmpool_free(x->sp, c), -EFAULT);
	assert_int_equal(fake_last(&x->f, 0).flags, PROTO_F_SYNC);
	assert_int_equal(shmpool_realloc(x->sp, &c, 10), -EFAULT);
	assert_int_equal(shmpool_realloc(x->sp, &q, 0), 0);
	assert_null(q);
	assert_int_equal(shmpool_realloc(x->sp, &q, 0), 0);
	assert_int_equal(shmpool_realloc(x->sp, &q, 32), 0);
	assert_non_null(q);
	assert_int_equal(shmpool_realloc(x->sp, (void **)&(void *){ pool_block(x, 0) }, 32), -EINVAL);
	assert_int_equal(shmpool_free(x->sp, q), 0);
}

static void test_heap_attach(void **state)
{
	struct fixture *x = *state;
	shmpool_ref_t ref;
	void *p, *a;

	assert_int_equal(shmpool_alloc(x->sp, 0, 64, &p), 0);
	assert_int_equal(shmpool_ref(x->sp, p, &ref), 0);
	assert_int_equal(shmpool_attach(x->sp, &ref, &a), 0);
	assert_ptr_equal(a, p);
	assert_int_equal(shmpool_free(x->sp, p), 0);
	assert_int_equal(shmpool_free(x->sp, a), 0);
	sync_count(x);
	assert_int_equal(fake_last(&x->f, 1).flags, 0);
	assert_int_equal(fake_last(&x->f, 2).flags, 0);
	assert_int_equal(shmpool_free(x->sp, a), -EFAULT);
}

/* --- the rest of the API --- */

static void test_misc(void **state)
{
	struct fixture *x = *state;
	struct shmpool_pool_config cfg = { .name = "q", .block_size = 64, .num_blocks = 4 };
	struct shmpool_pool_stat st;
	struct shmpool_pool_info info;
	shmpool_pool_t *pool = NULL;
	size_t cursor = 0;
	int n = fake_count(&x->f);

	assert_int_equal(shmpool_set_priority(x->sp, 20), -EINVAL);
	assert_int_equal(shmpool_set_priority(x->sp, -21), -EINVAL);
	cfg.name = NULL;
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	cfg.name = "";
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	cfg.name = "0123456789012345678901234567890123456789012345678901234567890123";
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	cfg.name = "q";
	cfg.align = 3;
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	cfg.align = 0;
	cfg.block_size = 0;
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	cfg.block_size = 64;
	cfg.num_blocks = 0;
	assert_int_equal(shmpool_pool_create(x->sp, &cfg, &pool), -EINVAL);
	assert_int_equal(shmpool_pool_open(x->sp, NULL, &pool), -EINVAL);
	assert_int_equal(fake_count(&x->f), n);

	assert_int_equal(shmpool_set_priority(x->sp, -1), -EPERM);
	assert_int_equal(shmpool_set_priority(x->sp, 5), 0);
	assert_int_equal(shmpool_pool_open(x->sp, "nope", &pool), -ENOENT);
	assert_null(pool);
	assert_int_equal(shmpool_pool_stat(x->pool, &st), 0);
	assert_int_equal(st.block_size, P_BS);
	assert_int_equal(st.num_blocks, P_N);
	assert_int_equal(st.num_free, P_N);
	assert_int_equal(st.max_used, 7);
	assert_int_equal(st.attr, 1);
	assert_int_equal(shmpool_pool_info_next(x->sp, &cursor, &info), 1);
	assert_string_equal(info.name, "p");
	assert_string_equal(info.region, "r");
	assert_int_equal(info.min_free, 50);
	assert_int_equal(cursor, 1);
	assert_int_equal(shmpool_pool_info_next(x->sp, &cursor, &info), 0);
	assert_int_equal(shmpool_pool_reset_max(x->pool), -EOPNOTSUPP);
}

static void test_strerror(void **state)
{
	static const int errs[] = {
		ENOMEM, EAGAIN, EINVAL, EFAULT, EPERM, EEXIST, ENOENT, EBUSY, ECONNRESET,
		ENOTCONN, ECANCELED, ECONNREFUSED, ESTALE, EPROTONOSUPPORT, EPROTO, EBADMSG,
		ENAMETOOLONG, EMLINK, EACCES,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = shmpool_strerror(-errs[i]);

		assert_non_null(s);
		assert_string_not_equal(s, "Unknown error");
		assert_ptr_equal(shmpool_strerror(errs[i]), s);
	}
	assert_string_equal(shmpool_strerror(-EFAULT), "Memory not allocated (double free)");
	assert_string_equal(shmpool_strerror(0), "Success");
	assert_non_null(shmpool_strerror(-100000));
}

/* --- threads, disconnect, a lost daemon, fork --- */

struct call {
	struct fixture *x;
	void *block;
	int rc;
	int stat;
};

static void *call_alloc(void *arg)
{
	struct call *c = arg;

	c->rc = shmpool_block_alloc(c->x->pool, &c->block, SHMPOOL_FOREVER);
	return NULL;
}

static void *call_stat(void *arg)
{
	struct call *c = arg;
	struct shmpool_pool_stat st;

	c->rc = shmpool_pool_stat(c->x->pool, &st);
	return NULL;
}

static void join_within(pthread_t t, int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	if (pthread_timedjoin_np(t, NULL, &ts) != 0)
		fail_msg("a thread did not finish within %d s", seconds);
}

static void test_other_calls_go_on(void **state)
{
	struct fixture *x = *state;
	struct call a = { .x = x, .rc = 1 };
	struct shmpool_pool_stat st;
	pthread_t t;
	int n = fake_count(&x->f);

	fake_defer(&x->f, PROTO_BLOCK_ALLOC);
	assert_int_equal(pthread_create(&t, NULL, call_alloc, &a), 0);
	fake_wait_count(&x->f, n + 1);
	for (int k = 0; k < 20; k++)
		assert_int_equal(shmpool_pool_stat(x->pool, &st), 0);
	assert_int_equal(a.rc, 1);
	fake_release(&x->f, 0);
	join_within(t, 5);
	assert_int_equal(a.rc, 0);
	assert_ptr_equal(a.block, pool_block(x, 0));
}

/* Two blocked callers; their replies come in the order given: whichever
 * reads first must hand the reader role on. */
static void handoff(struct fixture *x, int first)
{
	struct call a = { .x = x, .rc = 1 }, b = { .x = x, .rc = 1 };
	pthread_t ta, tb;
	int n = sync_count(x) + 1;

	/* A's request is the first the fake sees after the round trip. */
	fake_defer(&x->f, PROTO_BLOCK_ALLOC);
	assert_int_equal(pthread_create(&ta, NULL, call_alloc, &a), 0);
	fake_wait_count(&x->f, n + 1);
	assert_int_equal(pthread_create(&tb, NULL, call_alloc, &b), 0);
	fake_wait_count(&x->f, n + 2);
	usleep(20000);
	fake_release(&x->f, first);
	join_within(first == 0 ? ta : tb, 5);
	fake_release(&x->f, 1 - first);
	join_within(first == 0 ? tb : ta, 5);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_ptr_not_equal(a.block, b.block);
	assert_int_equal(shmpool_block_free(x->pool, a.block), 0);
	assert_int_equal(shmpool_block_free(x->pool, b.block), 0);
}

static void test_reader_handoff(void **state)
{
	handoff(*state, 0);
	handoff(*state, 1);
}

static void test_many_threads(void **state)
{
	struct fixture *x = *state;
	struct call c[8];
	pthread_t t[8];

	for (int round = 0; round < 20; round++) {
		for (int k = 0; k < 8; k++) {
			c[k] = (struct call){ .x = x, .rc = 1 };
			assert_int_equal(pthread_create(&t[k], NULL, k % 2 ? call_stat : call_alloc,
							&c[k]), 0);
		}
		for (int k = 0; k < 8; k++)
			join_within(t[k], 5);
		for (int k = 0; k < 8; k++) {
			assert_int_equal(c[k].rc, 0);
			if (k % 2 == 0)
				assert_int_equal(shmpool_block_free(x->pool, c[k].block), 0);
		}
	}
	sync_count(x);
	for (uint32_t i = 0; i < P_N; i++)
		assert_int_equal(fake_mine(&x->f, i), 0);
}

/*
 * A caller that finds nobody reading takes the reader role and sends
 * without blocking; on a full socket it must give the role back and wait in
 * an ordinary send, and its call still completes once the daemon reads.
 */
static void test_send_full_socket(void **state)
{
	struct fixture *x = *state;
	struct call a = { .x = x, .rc = 1 };
	struct proto_hdr sync = { .version = SHMPOOL_PROTO_VERSION, .type = PROTO_SYNC };
	int base = sync_count(x) + 1, nsync = 0, rc_blocked;
	pthread_t t;

	/* Holding the fake's lock stops it after at most one more read. */
	pthread_mutex_lock(&x->f.lock);
	while (nsync < 100000 && send(x->sp->fd, &sync, sizeof(sync), MSG_DONTWAIT) ==
					 (ssize_t)sizeof(sync))
		nsync++;
	assert_int_equal(errno, EAGAIN);
	assert_true(nsync > 0);
	assert_int_equal(pthread_create(&t, NULL, call_stat, &a), 0);
	usleep(50000);
	rc_blocked = __atomic_load_n(&a.rc, __ATOMIC_ACQUIRE);
	/* Let the fake go before any check can end the test. */
	pthread_mutex_unlock(&x->f.lock);
	/* Still in its send: a full socket is not an error. */
	assert_int_equal(rc_blocked, 1);
	join_within(t, 5);
	assert_int_equal(a.rc, 0);
	assert_int_equal(fake_count(&x->f), base + nsync + 1);
	assert_int_equal(fake_last(&x->f, 0).type, PROTO_POOL_STAT);
	/* The SYNC replies matched no call and were dropped quietly. */
	assert_int_equal(shmpool_async_errors(x->sp), 0);
	assert_int_equal(sync_count(x), base + nsync + 1);
}

static void test_disconnect_cancels(void **state)
{
	struct fixture *x = *state;
	struct call a = { .x = x, .rc = 1 }, b = { .x = x, .rc = 1 };
	pthread_t ta, tb;
	int n = fake_count(&x->f);

	fake_defer(&x->f, PROTO_BLOCK_ALLOC);
	assert_int_equal(pthread_create(&ta, NULL, call_alloc, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, call_alloc, &b), 0);
	fake_wait_count(&x->f, n + 2);
	shmpool_disconnect(x->sp);
	x->sp = NULL;
	join_within(ta, 5);
	join_within(tb, 5);
	assert_int_equal(a.rc, -ECANCELED);
	assert_int_equal(b.rc, -ECANCELED);
	fake_wait_eof(&x->f);
}

static void test_daemon_gone(void **state)
{
	struct fixture *x = *state;
	struct call a = { .x = x, .rc = 1 };
	struct shmpool_pool_stat st;
	pthread_t t;
	void *b;
	int n = fake_count(&x->f);

	fake_defer(&x->f, PROTO_BLOCK_ALLOC);
	assert_int_equal(pthread_create(&t, NULL, call_alloc, &a), 0);
	fake_wait_count(&x->f, n + 1);
	shutdown(x->f.fd, SHUT_RDWR);
	join_within(t, 5);
	assert_int_equal(a.rc, -ECONNRESET);
	assert_int_equal(shmpool_pool_stat(x->pool, &st), -ENOTCONN);
	assert_int_equal(shmpool_block_alloc(x->pool, &b, 0), -ENOTCONN);
	assert_int_equal(shmpool_free(x->sp, pool_block(x, 0)), -ENOTCONN);
}

static void test_daemon_gone_on_send(void **state)
{
	struct fixture *x = *state;
	struct shmpool_pool_stat st;

	shutdown(x->f.fd, SHUT_RDWR);
	fake_wait_eof(&x->f);
	assert_int_equal(shmpool_pool_stat(x->pool, &st), -ECONNRESET);
	assert_int_equal(shmpool_pool_stat(x->pool, &st), -ENOTCONN);
}

static void test_fork(void **state)
{
	struct fixture *x = *state;
	struct shmpool_pool_stat st;
	void *b;
	pid_t pid;
	int status, n;

	assert_int_equal(shmpool_block_alloc(x->pool, &b, SHMPOOL_NO_WAIT), 0);
	n = sync_count(x) + 1;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;
		void *c;

		bad |= shmpool_block_alloc(x->pool, &c, SHMPOOL_NO_WAIT) != -ENOTCONN;
		bad |= shmpool_block_free(x->pool, b) != -ENOTCONN;
		bad |= shmpool_free(x->sp, b) != -ENOTCONN;
		bad |= shmpool_pool_stat(x->pool, &st) != -ENOTCONN;
		bad |= shmpool_set_priority(x->sp, 1) != -ENOTCONN;
		/* The inherited mapping stays usable. */
		*(volatile char *)b = 1;
		shmpool_pool_close(x->pool);
		shmpool_disconnect(x->sp);
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(fake_count(&x->f), n);
	assert_int_equal(shmpool_pool_stat(x->pool, &st), 0);
	assert_int_equal(fake_count(&x->f), n + 1);
	assert_int_equal(shmpool_block_free(x->pool, b), 0);
}

/* --- connecting --- */

static void test_connect_errors(void **state)
{
	char dir[] = "/tmp/shmpool-client-test-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	shmpool_t *sp = NULL;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	assert_int_equal(shmpool_connect(sa.sun_path, &sp), -ENOENT);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(shmpool_connect(sa.sun_path, &sp), -ECONNREFUSED);
	setenv("SHMPOOL_SOCKET", sa.sun_path, 1);
	assert_int_equal(shmpool_connect(NULL, &sp), -ECONNREFUSED);
	unsetenv("SHMPOOL_SOCKET");
	assert_null(sp);
	assert_int_equal(shmpool_connect(NULL, NULL), -EINVAL);
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
}

static void *accept_one(void *arg)
{
	struct fake *f = arg;
	int lfd = f->fd;

	f->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	if (f->fd < 0)
		return NULL;
	return fake_loop(f);
}

static void test_connect_env(void **state)
{
	char dir[] = "/tmp/shmpool-client-test-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f;
	shmpool_t *sp = NULL;
	shmpool_pool_t *pool;
	void *b;

	(void)state;
	fake_init(&f);
	close(f.fd);
	close(f.cfd);
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	f.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.fd, 1), 0);
	assert_int_equal(pthread_create(&f.thread, NULL, accept_one, &f), 0);
	setenv("SHMPOOL_SOCKET", sa.sun_path, 1);
	assert_int_equal(shmpool_connect(NULL, &sp), 0);
	unsetenv("SHMPOOL_SOCKET");
	assert_int_equal(shmpool_pool_open(sp, "p", &pool), 0);
	assert_int_equal(shmpool_block_alloc(pool, &b, SHMPOOL_NO_WAIT), 0);
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
	pthread_join(f.thread, NULL);
	assert_true(f.eof);
	close(f.fd);
	munmap(f.map, R_SIZE);
	close(f.memfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmap_model),
		cmocka_unit_test_setup_teardown(test_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_multiframe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_fire_and_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_other_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_invalid_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_free_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_free_bad_entry_frees_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blocks_free_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_grant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_grant_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_error_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heap_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc, setup, teardown),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test_setup_teardown(test_other_calls_go_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_handoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_full_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_gone_on_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_connect_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
