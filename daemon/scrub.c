/*
 * scrub: zeroing memory between owners, and surviving SIGBUS while the
 * daemon touches a region.
 *
 * [region] scrub = cross-uid (the default) zeroes memory freed by one uid
 * before another uid gets it; always zeroes on every free; never does not.
 * Pool blocks remember the uid that last had them.  Heap memory is tracked
 * in chunks: a chunk remembers the one uid whose allocations it has held,
 * or that several have (MIXED), and an allocation is zeroed wherever it
 * falls in chunks that another uid may have written.
 *
 * The daemon's own writes to a region (scrubbing, realloc's copy) are the
 * only time it touches shared memory.  A file backing truncated behind its
 * back turns those writes into SIGBUS; they run under a guard that jumps
 * out, marks the region broken and refuses new allocations from it.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MARK_NONE UINT32_MAX
#define MARK_MIXED (UINT32_MAX - 1)

static sigjmp_buf *guard_env;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (guard_env)
		siglongjmp(*guard_env, 1);
	/* Not ours: die as the signal intends. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void scrub_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int scrub_broken(const struct server *srv, uint32_t region_id)
{
	return region_id < srv->nregion_state && srv->region_state[region_id].broken;
}

static struct region_state *state_of(struct server *srv, uint32_t region_id)
{
	if (region_id >= srv->nregion_state) {
		uint32_t n = region_id + 16;
		struct region_state *v = realloc(srv->region_state, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + srv->nregion_state, 0, (n - srv->nregion_state) * sizeof(*v));
		srv->region_state = v;
		srv->nregion_state = n;
	}
	return &srv->region_state[region_id];
}

/*
 * Run a write into a region's mapping under the SIGBUS guard: memmove when
 * src is given, else memset to zero.  -EIO (and the region marked broken)
 * when the backing is gone.
 */
int scrub_guarded(struct server *srv, uint32_t region_id, uint64_t dst, const void *src,
		  uint64_t len)
{
	/* volatile: read again after a siglongjmp back into this frame. */
	struct region *volatile reg = server_region(srv, region_id);
	struct region_state *volatile st = state_of(srv, region_id);
	sigjmp_buf env;

	if (!reg || !st)
		return -EINVAL;
	if (st->broken)
		return -EIO;
	if (sigsetjmp(env, 1)) {
		guard_env = NULL;
		st->broken = 1;
		log_error("region '%s': SIGBUS while writing %llu bytes at offset %llu (backing "
			  "truncated?); it is broken and serves no new allocations",
			  reg->name, (unsigned long long)len, (unsigned long long)dst);
		return -EIO;
	}
	guard_env = &env;
	if (src)
		memmove((char *)reg->base + dst, src, len);
	else
		memset((char *)reg->base + dst, 0, len);
	guard_env = NULL;
	return 0;
}

static int scrub_zero(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len)
{
	int rc = scrub_guarded(srv, region_id, off, NULL, len);

	if (rc == 0) {
		srv->stats.scrubbed_bytes += len;
		srv->region_state[region_id].scrubbed_bytes += len;
	}
	return rc;
}

static enum config_scrub policy(const struct server *srv, uint32_t region_id)
{
	const struct config_region *rc = access_region_cfg(srv, region_id);

	return rc ? rc->scrub : CONFIG_SCRUB_CROSS_UID;
}

/* Whether grants from pool p go through scrub_block_grant; looked up once
 * per request, not per block. */
int scrub_cross_uid(const struct server *srv, const struct dpool *p)
{
	return policy(srv, p->lp->region_id) == CONFIG_SCRUB_CROSS_UID;
}

/* A block of a cross-uid pool goes to uid: zero it if another uid had it
 * last. */
int scrub_block_grant(struct server *srv, struct dpool *p, uint32_t i, uid_t uid)
{
	uint32_t last = p->last_uid[i];
	int rc = 0;

	p->last_uid[i] = (uint32_t)uid;
	if (last == MARK_NONE || last == (uint32_t)uid)
		return 0;
	rc = scrub_zero(srv, p->lp->region_id, p->lp->base + blockpool_offset(&p->lp->bp, i),
			p->lp->bp.stride);
	return rc;
}

/* Whether a block of pool p is zeroed when its last holder lets go (scrub =
 * always); looked up once per request, not per block. */
int scrub_on_free(const struct server *srv, const struct dpool *p)
{
	return policy(srv, p->lp->region_id) == CONFIG_SCRUB_ALWAYS;
}

/* Zero block i of pool p, whose last holder let go, when scrub_on_free. */
void scrub_block_free(struct server *srv, struct dpool *p, uint32_t i)
{
	scrub_zero(srv, p->lp->region_id, p->lp->base + blockpool_offset(&p->lp->bp, i),
		   p->lp->bp.stride);
}

/* The chunk marks of a region, made on first use. */
static uint32_t *marks_of(struct server *srv, uint32_t region_id, uint64_t *chunk)
{
	const struct region *reg = server_region(srv, region_id);
	struct region_state *st = state_of(srv, region_id);

	if (!reg || !st)
		return NULL;
	if (!st->marks) {
		uint64_t c = reg->granularity;
		size_t n;

		/* At most a million chunks: 4 MiB of marks for any region. */
		while (reg->size / c > (1u << 20))
			c *= 2;
		n = (size_t)((reg->size + c - 1) / c);
		st->marks = malloc(n * sizeof(*st->marks));
		if (!st->marks)
			return NULL;
		/* memfd and hugetlb memory starts out zero; a shm object or a
		 * file may hold anything an earlier run left in it, and any
		 * region what was written while uids were not tracked. */
		for (size_t k = 0; k < n; k++)
			st->marks[k] = st->dirty || reg->backing == CONFIG_BACKING_SHM ||
				       reg->backing == CONFIG_BACKING_FILE ? MARK_MIXED : MARK_NONE;
		st->chunk = c;
		st->nmarks = n;
	}
	*chunk = st->chunk;
	return st->marks;
}

/*
 * Heap memory [off, off + len) goes to uid.  Under cross-uid, every part of
 * it lying in a chunk that another uid (or several) may have written is
 * zeroed first.  A chunk that now holds memory of two uids becomes MIXED
 * for good: what the first one left in the rest of it is not known.
 */
int scrub_heap_grant(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len,
		     uid_t uid)
{
	uint64_t chunk, end = off + len;
	uint32_t *marks;

	if (policy(srv, region_id) != CONFIG_SCRUB_CROSS_UID || len == 0)
		return 0;
	marks = marks_of(srv, region_id, &chunk);
	if (!marks)
		return -ENOMEM;
	for (uint64_t k = off / chunk; k * chunk < end; k++) {
		uint64_t s = k * chunk > off ? k * chunk : off;
		uint64_t e = (k + 1) * chunk < end ? (k + 1) * chunk : end;
		int rc;

		if (marks[k] == MARK_NONE) {
			marks[k] = (uint32_t)uid;
			continue;
		}
		if (marks[k] == (uint32_t)uid)
			continue;
		rc = scrub_zero(srv, region_id, s, e - s);
		if (rc < 0)
			return rc;
		marks[k] = MARK_MIXED;
	}
	return 0;
}

/* Heap memory was freed by its last holder. */
void scrub_heap_free(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len)
{
	if (policy(srv, region_id) == CONFIG_SCRUB_ALWAYS)
		scrub_zero(srv, region_id, off, len);
}

/* Memory that leaves a pool for the heap: whoever used its blocks is not
 * tracked by chunk, so it counts as written by several uids. */
void scrub_forget(struct server *srv, uint32_t region_id, uint64_t off, uint64_t len)
{
	uint64_t chunk;
	uint32_t *marks;

	if (policy(srv, region_id) != CONFIG_SCRUB_CROSS_UID || len == 0)
		return;
	marks = marks_of(srv, region_id, &chunk);
	if (!marks)
		return;
	for (uint64_t k = off / chunk; k * chunk < off + len; k++)
		marks[k] = MARK_MIXED;
}

/*
 * A new pool's blocks start with the history of the memory under them: the
 * uid of the heap chunks they cover when that is one uid, MIXED when it is
 * several (or a persistent backing's unknown past), none for fresh memory.
 */
void scrub_pool_init(struct server *srv, struct dpool *p)
{
	const struct blockpool *bp = &p->lp->bp;
	uint64_t chunk = 0;
	uint32_t *marks = NULL;

	if (policy(srv, p->lp->region_id) == CONFIG_SCRUB_CROSS_UID)
		marks = marks_of(srv, p->lp->region_id, &chunk);
	for (uint32_t i = 0; i < bp->num_blocks; i++) {
		uint64_t off = p->lp->base + blockpool_offset(bp, i);
		uint32_t m = MARK_NONE;

		for (uint64_t k = marks ? off / chunk : 0; marks && k * chunk < off + bp->stride; k++) {
			if (marks[k] == MARK_NONE || marks[k] == m)
				continue;
			m = m == MARK_NONE ? marks[k] : MARK_MIXED;
		}
		p->last_uid[i] = m;
	}
}

/*
 * A reload made a region cross-uid that was not: who wrote its memory
 * meanwhile was not tracked, so every heap chunk and every pool block in it
 * counts as written by several uids, and is zeroed before its next grant.
 */
void scrub_history_lost(struct server *srv, uint32_t region_id)
{
	struct region_state *st = state_of(srv, region_id);

	if (st) {
		st->dirty = 1;
		for (size_t k = 0; k < st->nmarks; k++)
			st->marks[k] = MARK_MIXED;
	}
	for (uint32_t id = 0; id < srv->npools; id++) {
		struct dpool *p = srv->pools[id];

		if (!p || p->lp->region_id != region_id)
			continue;
		for (uint32_t i = 0; i < p->lp->bp.num_blocks; i++)
			p->last_uid[i] = MARK_MIXED;
	}
}

void scrub_fini(struct server *srv)
{
	for (uint32_t id = 0; id < srv->nregion_state; id++)
		free(srv->region_state[id].marks);
	free(srv->region_state);
	srv->region_state = NULL;
	srv->nregion_state = 0;
}
