/*
 * core-bench: speed and utilization of the allocator cores (blockpool and
 * heap), with glibc malloc run on the same operations as the baseline.
 *
 * Prints one table.  Every figure is shown next to its target and whether
 * the target is met; the exit status does not depend on the targets.
 *
 * Heap trace: sizes log-uniform from 16 B to 64 KiB over a 64 MiB range,
 * allocations until the requested bytes reach 75% of the range, then
 * churn: below 75% allocate, otherwise free a uniformly chosen live
 * allocation.  The trace is generated once, from a fixed seed, and the same
 * operations are replayed on the heap and on glibc malloc.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockpool.h"
#include "heap.h"

#define RANGE_SIZE ((uint64_t)64 << 20)
#define MIN_SIZE 16.0
#define MAX_SIZE 65536.0
#define FILL_RATIO 0.75
#define HIST_MAX 100000u
#define UNIFORM_SIZE 4113u
#define UNIFORM_ROUNDS 30
#define UNIFORM_FREE_RATIO 0.30
#define BENCH_REPEAT 3

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static uint32_t size_loguniform(struct rng *r)
{
	double v = exp(log(MIN_SIZE) + rng_unit(r) * (log(MAX_SIZE) - log(MIN_SIZE)));
	uint32_t s = (uint32_t)v;

	if (s < (uint32_t)MIN_SIZE)
		s = (uint32_t)MIN_SIZE;
	if (s > (uint32_t)MAX_SIZE)
		s = (uint32_t)MAX_SIZE;
	return s;
}

/* One trace step: size 0 frees the allocation in slot, otherwise size
 * bytes are allocated into slot. */
struct op {
	uint32_t slot;
	uint32_t size;
};

struct trace {
	struct op *ops;
	size_t num_ops;
	size_t num_allocs;
	size_t num_frees;
	uint32_t num_slots;
};

static int trace_build(struct trace *t, size_t num_ops, uint64_t seed)
{
	struct rng r = { seed };
	uint32_t *live = NULL, *free_slots = NULL, *sizes = NULL;
	uint32_t num_live = 0, num_free = 0, cap = 1024;
	uint64_t live_bytes = 0;

	memset(t, 0, sizeof(*t));
	t->ops = malloc(num_ops * sizeof(*t->ops));
	live = malloc(cap * sizeof(*live));
	free_slots = malloc(cap * sizeof(*free_slots));
	sizes = malloc(cap * sizeof(*sizes));
	if (!t->ops || !live || !free_slots || !sizes)
		goto fail;
	for (size_t i = 0; i < num_ops; i++) {
		struct op *o = &t->ops[i];

		if ((double)live_bytes < FILL_RATIO * (double)RANGE_SIZE) {
			uint32_t slot;

			if (num_free)
				slot = free_slots[--num_free];
			else
				slot = t->num_slots++;
			if (t->num_slots > cap) {
				cap *= 2;
				live = realloc(live, cap * sizeof(*live));
				free_slots = realloc(free_slots, cap * sizeof(*free_slots));
				sizes = realloc(sizes, cap * sizeof(*sizes));
				if (!live || !free_slots || !sizes)
					goto fail;
			}
			o->slot = slot;
			o->size = size_loguniform(&r);
			sizes[slot] = o->size;
			live[num_live++] = slot;
			live_bytes += o->size;
			t->num_allocs++;
		} else {
			uint32_t j = (uint32_t)rng_below(&r, num_live);

			o->slot = live[j];
			o->size = 0;
			live[j] = live[--num_live];
			free_slots[num_free++] = o->slot;
			live_bytes -= sizes[o->slot];
			t->num_frees++;
		}
	}
	t->num_ops = num_ops;
	free(live);
	free(free_slots);
	free(sizes);
	return 0;

fail:
	free(t->ops);
	free(live);
	free(free_slots);
	free(sizes);
	return -ENOMEM;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Per-operation latencies, kept as a histogram of whole nanoseconds. */
struct lat {
	uint64_t count;
	uint64_t sum;
	uint32_t *hist;
};

static int lat_init(struct lat *l)
{
	l->count = 0;
	l->sum = 0;
	l->hist = calloc(HIST_MAX + 1, sizeof(*l->hist));
	return l->hist ? 0 : -ENOMEM;
}

static inline void lat_add(struct lat *l, uint64_t ns)
{
	l->count++;
	l->sum += ns;
	l->hist[ns < HIST_MAX ? ns : HIST_MAX]++;
}

static double lat_mean(const struct lat *l, double overhead)
{
	double m = l->count ? (double)l->sum / (double)l->count - overhead : 0;

	return m > 0 ? m : 0;
}

static double lat_pct(const struct lat *l, double pct, double overhead)
{
	uint64_t want = (uint64_t)ceil(pct * (double)l->count), seen = 0;
	double v;

	for (uint32_t i = 0; i <= HIST_MAX; i++) {
		seen += l->hist[i];
		if (seen >= want && want) {
			v = (double)i - overhead;
			return v > 0 ? v : 0;
		}
	}
	return 0;
}

/* The mean cost of one empty pair of clock reads, subtracted from the
 * per-operation figures. */
static double timer_overhead(void)
{
	uint64_t sum = 0;
	const int n = 1000000;

	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		uint64_t t1 = now_ns();

		sum += t1 - t0;
	}
	return (double)sum / n;
}

struct run {
	double alloc_mean, alloc_p99;
	double free_mean, free_p99;
	double batch_pair;       /* alloc+free, from an untimed-per-op replay */
	uint64_t failures;
};

static int heap_replay_timed(const struct trace *t, struct run *res, double overhead)
{
	struct heap *h;
	struct lat la, lf;
	uint64_t *offs;
	uint8_t *ok;
	int rc;

	offs = calloc(t->num_slots, sizeof(*offs));
	ok = calloc(t->num_slots, 1);
	if (!offs || !ok || lat_init(&la) || lat_init(&lf))
		return -ENOMEM;
	rc = heap_create(RANGE_SIZE, &h);
	if (rc)
		return rc;
	res->failures = 0;
	for (size_t i = 0; i < t->num_ops; i++) {
		const struct op *o = &t->ops[i];
		uint64_t t0, t1;

		if (o->size) {
			t0 = now_ns();
			rc = heap_alloc(h, o->size, &offs[o->slot]);
			t1 = now_ns();
			ok[o->slot] = rc == 0;
			if (rc)
				res->failures++;
			lat_add(&la, t1 - t0);
		} else if (ok[o->slot]) {
			t0 = now_ns();
			heap_free(h, offs[o->slot]);
			t1 = now_ns();
			lat_add(&lf, t1 - t0);
		}
	}
	res->alloc_mean = lat_mean(&la, overhead);
	res->alloc_p99 = lat_pct(&la, 0.99, overhead);
	res->free_mean = lat_mean(&lf, overhead);
	res->free_p99 = lat_pct(&lf, 0.99, overhead);
	heap_destroy(h);
	free(la.hist);
	free(lf.hist);
	free(offs);
	free(ok);
	return 0;
}

static int heap_replay_batch(const struct trace *t, struct run *res)
{
	struct heap *h;
	uint64_t *offs, t0, t1;
	int rc;

	offs = calloc(t->num_slots, sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	rc = heap_create(RANGE_SIZE, &h);
	if (rc)
		return rc;
	t0 = now_ns();
	for (size_t i = 0; i < t->num_ops; i++) {
		const struct op *o = &t->ops[i];

		if (o->size) {
			if (heap_alloc(h, o->size, &offs[o->slot]))
				offs[o->slot] = UINT64_MAX;
		} else {
			heap_free(h, offs[o->slot]);
		}
	}
	t1 = now_ns();
	res->batch_pair = (double)(t1 - t0) * 2.0 / (double)t->num_ops;
	heap_destroy(h);
	free(offs);
	return 0;
}

static int malloc_replay_timed(const struct trace *t, struct run *res, double overhead)
{
	struct lat la, lf;
	void **ptrs;

	ptrs = calloc(t->num_slots, sizeof(*ptrs));
	if (!ptrs || lat_init(&la) || lat_init(&lf))
		return -ENOMEM;
	res->failures = 0;
	for (size_t i = 0; i < t->num_ops; i++) {
		const struct op *o = &t->ops[i];
		uint64_t t0, t1;

		if (o->size) {
			t0 = now_ns();
			ptrs[o->slot] = malloc(o->size);
			t1 = now_ns();
			if (!ptrs[o->slot])
				res->failures++;
			lat_add(&la, t1 - t0);
		} else {
			t0 = now_ns();
			free(ptrs[o->slot]);
			t1 = now_ns();
			ptrs[o->slot] = NULL;
			lat_add(&lf, t1 - t0);
		}
	}
	for (uint32_t i = 0; i < t->num_slots; i++)
		free(ptrs[i]);
	res->alloc_mean = lat_mean(&la, overhead);
	res->alloc_p99 = lat_pct(&la, 0.99, overhead);
	res->free_mean = lat_mean(&lf, overhead);
	res->free_p99 = lat_pct(&lf, 0.99, overhead);
	free(la.hist);
	free(lf.hist);
	free(ptrs);
	return 0;
}

static int malloc_replay_batch(const struct trace *t, struct run *res)
{
	void **ptrs;
	uint64_t t0, t1;
	uint8_t *live;

	ptrs = calloc(t->num_slots, sizeof(*ptrs));
	live = calloc(t->num_slots, 1);
	if (!ptrs || !live)
		return -ENOMEM;
	t0 = now_ns();
	for (size_t i = 0; i < t->num_ops; i++) {
		const struct op *o = &t->ops[i];

		if (o->size) {
			ptrs[o->slot] = malloc(o->size);
			live[o->slot] = 1;
		} else {
			free(ptrs[o->slot]);
			live[o->slot] = 0;
		}
	}
	t1 = now_ns();
	res->batch_pair = (double)(t1 - t0) * 2.0 / (double)t->num_ops;
	for (uint32_t i = 0; i < t->num_slots; i++)
		if (live[i])
			free(ptrs[i]);
	free(ptrs);
	free(live);
	return 0;
}

struct util {
	double avg;
	double min;
	int samples;
};

/* Growable list of offsets allocated by a fill-until-failure step. */
struct offlist {
	uint64_t *v;
	size_t n, cap;
};

static int offlist_push(struct offlist *l, uint64_t off)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = off;
	return 0;
}

/* Replay the trace and, every interval operations, allocate from the same
 * distribution until the first failure, note the requested live bytes
 * over the range, then free those extra allocations again. */
static int heap_utilization(const struct trace *t, size_t interval, uint64_t seed,
			    struct util *u)
{
	struct rng r = { seed ^ UINT64_C(0xC0FFEE) };
	struct offlist extra = { 0 };
	struct heap *h;
	uint64_t *offs, live_bytes = 0;
	uint32_t *sizes;
	double sum = 0;
	int rc;

	offs = calloc(t->num_slots, sizeof(*offs));
	sizes = calloc(t->num_slots, sizeof(*sizes));
	if (!offs || !sizes)
		return -ENOMEM;
	rc = heap_create(RANGE_SIZE, &h);
	if (rc)
		return rc;
	u->min = 1.0;
	u->samples = 0;
	for (size_t i = 0; i < t->num_ops; i++) {
		const struct op *o = &t->ops[i];

		if (o->size) {
			if (heap_alloc(h, o->size, &offs[o->slot]) == 0) {
				sizes[o->slot] = o->size;
				live_bytes += o->size;
			} else {
				sizes[o->slot] = 0;
			}
		} else if (sizes[o->slot]) {
			heap_free(h, offs[o->slot]);
			live_bytes -= sizes[o->slot];
		}
		if ((i + 1) % interval == 0) {
			uint64_t extra_bytes = 0, off;
			double v;

			for (;;) {
				uint32_t s = size_loguniform(&r);

				if (heap_alloc(h, s, &off))
					break;
				if (offlist_push(&extra, off))
					return -ENOMEM;
				extra_bytes += s;
			}
			v = (double)(live_bytes + extra_bytes) / (double)RANGE_SIZE;
			sum += v;
			if (v < u->min)
				u->min = v;
			u->samples++;
			for (size_t k = 0; k < extra.n; k++)
				heap_free(h, extra.v[k]);
			extra.n = 0;
		}
	}
	u->avg = u->samples ? sum / u->samples : 0;
	heap_destroy(h);
	free(extra.v);
	free(offs);
	free(sizes);
	return 0;
}

/* Fill with one size until the first failure, then free a random 30% and
 * refill, rounds times; utilization is noted at each refill failure. */
static int heap_uniform(uint32_t size, int rounds, uint64_t seed, struct util *u)
{
	struct rng r = { seed ^ UINT64_C(0xFEED) };
	struct offlist live = { 0 };
	struct heap *h;
	uint64_t off;
	double sum = 0;
	int rc;

	rc = heap_create(RANGE_SIZE, &h);
	if (rc)
		return rc;
	while (heap_alloc(h, size, &off) == 0)
		if (offlist_push(&live, off))
			return -ENOMEM;
	u->min = 1.0;
	u->samples = 0;
	for (int round = 0; round < rounds; round++) {
		size_t nfree = (size_t)((double)live.n * UNIFORM_FREE_RATIO);
		double v;

		for (size_t k = 0; k < nfree; k++) {
			size_t j = (size_t)rng_below(&r, live.n);

			heap_free(h, live.v[j]);
			live.v[j] = live.v[--live.n];
		}
		while (heap_alloc(h, size, &off) == 0)
			if (offlist_push(&live, off))
				return -ENOMEM;
		v = (double)live.n * size / (double)RANGE_SIZE;
		sum += v;
		if (v < u->min)
			u->min = v;
		u->samples++;
	}
	u->avg = sum / u->samples;
	heap_destroy(h);
	free(live.v);
	return 0;
}

/* Results are added here so that the compiler keeps the timed calls. */
static volatile uint64_t bench_sink;

struct pool_figures {
	double single;
	double batch;
};

static int blockpool_bench(size_t iters, struct pool_figures *f)
{
	struct blockpool bp;
	uint64_t off, offs[64], t0, t1;
	int rc;

	rc = blockpool_init(&bp, 64, 4096, 0);
	if (rc)
		return rc;
	t0 = now_ns();
	for (size_t i = 0; i < iters; i++) {
		blockpool_alloc(&bp, &off);
		bench_sink += off;
		blockpool_free(&bp, off);
	}
	t1 = now_ns();
	f->single = (double)(t1 - t0) / (double)iters;
	t0 = now_ns();
	for (size_t i = 0; i < iters / 64; i++) {
		blockpool_alloc_n(&bp, 64, offs);
		bench_sink += offs[63];
		blockpool_free_n(&bp, 64, offs);
	}
	t1 = now_ns();
	f->batch = (double)(t1 - t0) / (double)(iters / 64 * 64);
	blockpool_fini(&bp);
	return 0;
}

static void malloc_pool_bench(size_t iters, struct pool_figures *f)
{
	void *volatile p;
	void *ps[64];
	uint64_t t0, t1;

	t0 = now_ns();
	for (size_t i = 0; i < iters; i++) {
		p = malloc(64);
		free(p);
	}
	t1 = now_ns();
	f->single = (double)(t1 - t0) / (double)iters;
	t0 = now_ns();
	for (size_t i = 0; i < iters / 64; i++) {
		for (int k = 0; k < 64; k++)
			ps[k] = malloc(64);
		p = ps[63];
		for (int k = 0; k < 64; k++)
			free(ps[k]);
	}
	t1 = now_ns();
	f->batch = (double)(t1 - t0) / (double)(iters / 64 * 64);
}

static void row_ns(const char *name, double v, double target, double base)
{
	char t[32] = "-", b[32] = "-";

	if (target > 0)
		snprintf(t, sizeof(t), "<= %.0f", target);
	if (base >= 0)
		snprintf(b, sizeof(b), "%.1f", base);
	printf("%-44s %10.1f  %-10s %-4s  %12s\n", name, v, t,
	       target > 0 ? (v <= target ? "yes" : "no") : "-", b);
}

static void row_ratio(const char *name, double v, double target)
{
	char t[32];

	snprintf(t, sizeof(t), ">= %.2f", target);
	printf("%-44s %10.4f  %-10s %-4s  %12s\n", name, v, t, v >= target ? "yes" : "no", "-");
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-q] [-s seed]\n", prog);
}

int main(int argc, char **argv)
{
	size_t num_ops = 2000000, pool_iters = 20000000, interval = 20000;
	uint64_t seed = 42;
	struct trace t;
	struct run hr = { 0 }, hb = { 0 }, mr = { 0 }, mb = { 0 };
	struct util lu, uu;
	struct pool_figures pf = { 0 }, mf = { 0 };
	double overhead;
	int c, rc;

	while ((c = getopt(argc, argv, "qs:h")) != -1) {
		switch (c) {
		case 'q':
			num_ops = 200000;
			pool_iters = 2000000;
			interval = 10000;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}

	rc = trace_build(&t, num_ops, seed);
	if (rc)
		goto fail;
	overhead = timer_overhead();
	/* Each timed figure is the best of BENCH_REPEAT runs of the same
	 * work, so that a burst from another process on the machine does not
	 * decide it. */
	for (int r = 0; r < BENCH_REPEAT; r++) {
		struct pool_figures p;
		struct run x;

		rc = blockpool_bench(pool_iters, &p);
		if (rc)
			goto fail;
		if (r == 0 || p.single < pf.single)
			pf.single = p.single;
		if (r == 0 || p.batch < pf.batch)
			pf.batch = p.batch;
		malloc_pool_bench(pool_iters, &p);
		if (r == 0 || p.single < mf.single)
			mf.single = p.single;
		if (r == 0 || p.batch < mf.batch)
			mf.batch = p.batch;

		rc = heap_replay_timed(&t, &x, overhead);
		if (rc)
			goto fail;
		if (r == 0 || x.alloc_mean + x.free_mean < hr.alloc_mean + hr.free_mean)
			hr = x;
		rc = heap_replay_batch(&t, &x);
		if (rc)
			goto fail;
		if (r == 0 || x.batch_pair < hb.batch_pair)
			hb = x;
		rc = malloc_replay_timed(&t, &x, overhead);
		if (rc)
			goto fail;
		if (r == 0 || x.alloc_mean + x.free_mean < mr.alloc_mean + mr.free_mean)
			mr = x;
		rc = malloc_replay_batch(&t, &x);
		if (rc)
			goto fail;
		if (r == 0 || x.batch_pair < mb.batch_pair)
			mb = x;
	}
	rc = heap_utilization(&t, interval, seed, &lu);
	if (!rc)
		rc = heap_uniform(UNIFORM_SIZE, UNIFORM_ROUNDS, seed, &uu);
	if (rc)
		goto fail;

	printf("core-bench: seed %llu, heap range %llu MiB, trace %zu ops (%zu allocs, %zu frees),\n"
	       "sizes log-uniform %.0f B..%.0f KiB, churn at %.0f%% fill; blockpool 64 B blocks.\n"
	       "Per-op times use clock_gettime(CLOCK_MONOTONIC) around each call; the timer\n"
	       "overhead measured in this run (%.1f ns per pair of reads) is subtracted from\n"
	       "means and p99.  \"batch\" times the whole replay with no per-op timer.\n"
	       "Every timed figure is the best of %d runs; alloc+free is per pair.\n\n",
	       (unsigned long long)seed, (unsigned long long)(RANGE_SIZE >> 20), t.num_ops,
	       t.num_allocs, t.num_frees, MIN_SIZE, MAX_SIZE / 1024, FILL_RATIO * 100, overhead,
	       BENCH_REPEAT);
	printf("%-44s %10s  %-10s %-4s  %12s\n", "figure", "shmpool", "target", "met",
	       "glibc malloc");
	printf("%-44s %10s  %-10s %-4s  %12s\n", "--------------------------------------------",
	       "----------", "----------", "----", "------------");
	row_ns("blockpool alloc+free single (ns/block)", pf.single, 10, mf.single);
	row_ns("blockpool alloc_n+free_n x64 (ns/block)", pf.batch, 10, mf.batch);
	row_ns("heap alloc mean (ns)", hr.alloc_mean, 0, mr.alloc_mean);
	row_ns("heap alloc p99 (ns)", hr.alloc_p99, 0, mr.alloc_p99);
	row_ns("heap free mean (ns)", hr.free_mean, 0, mr.free_mean);
	row_ns("heap free p99 (ns)", hr.free_p99, 0, mr.free_p99);
	row_ns("heap alloc+free mean, per-op timed (ns)", hr.alloc_mean + hr.free_mean, 90,
	       mr.alloc_mean + mr.free_mean);
	row_ns("heap alloc+free mean, batch (ns)", hb.batch_pair, 90, mb.batch_pair);
	row_ratio("heap util at first failed alloc, average", lu.avg, 0.98);
	row_ratio("heap util at first failed alloc, minimum", lu.min, 0.91);
	row_ratio("heap uniform 4113 B churn util, average", uu.avg, 0.95);
	row_ratio("heap uniform 4113 B churn util, minimum", uu.min, 0.95);
	printf("\nheap utilization: %d checkpoints, one every %zu ops; uniform churn: %d rounds of\n"
	       "freeing a random %.0f%% and refilling.  Failed allocs in the trace: heap %llu,\n"
	       "glibc %llu.  Heap alloc and free walk no list; the search of the request's\n"
	       "own bin looks at a fixed, small number of blocks.\n",
	       lu.samples, interval, uu.samples, UNIFORM_FREE_RATIO * 100,
	       (unsigned long long)hr.failures, (unsigned long long)mr.failures);
	free(t.ops);
	return 0;

fail:
	fprintf(stderr, "core-bench: %s\n", strerror(-rc));
	return 1;
}
