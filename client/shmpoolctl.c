/*
 * shmpoolctl: the operator's command for shmpoold (see shmpoolctl(8)).
 *
 * It speaks the client protocol through the client library's own
 * connection code, like any other client.  The grammar is one table of
 * commands; each entry says how many arguments and which options the
 * command takes, whether it needs the daemon's admin rights and whether it
 * only reads (then it can print JSON and be watched).  Every handler
 * checks its arguments before it connects, so that a usage error is one
 * whatever the state of the daemon, and returns the exit status.
 */
#include "autoconf.h"
#include "admin.h"
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3,
};

#define CMD_READ 0x1u                   /* only reads: --json, watch */
#define CMD_ADMIN 0x2u                  /* needs the daemon's admin rights */
#define CMD_NEST 0x4u                   /* its arguments are another command */

#define CMD_MAX_ARGS 2
#define CMD_MAX_OPTS 6

#define MAP_WIDTH 64                    /* cells per row when not on a terminal */
#define MAP_ROWS 4
#define MAP_TTY_ROWS 8

struct cmd_opt {
	const char *name;
	int has_value;
};

struct cmd_args {
	const char *arg[CMD_MAX_ARGS];
	int nargs;
	const char *opt[CMD_MAX_OPTS];  /* by position in the command's options; NULL: absent */
	char **rest;                    /* CMD_NEST: the command to run */
	int nrest;
};

struct ctl;

struct ctl_cmd {
	const char *name;               /* one or two words */
	int min_args;
	int max_args;
	unsigned flags;                 /* CMD_* */
	const struct cmd_opt *opts;     /* NULL-terminated, or NULL */
	int (*run)(struct ctl *ctl, const struct cmd_args *a);
	const char *usage;
};

struct ctl {
	shmpool_t *sp;
	const char *socket;             /* -s, or NULL */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ctl_cmd *cmd;      /* the command running (watch: the watched one) */
	int json;
	int lost;                       /* the connection broke; watch reconnects */
};

/* A growable array of replies. */
struct vec {
	unsigned char *items;
	size_t n;
	size_t cap;
	size_t size;
};

#define VEC_INIT(type) { NULL, 0, 0, sizeof(type) }
#define VEC_AT(v, type, i) ((const type *)(const void *)((v)->items + (i) * (v)->size))

#define TABLE_MAX_COLS 12

/* Rows of text cells printed as aligned columns. */
struct table {
	int ncols;
	const char *const *head;        /* NULL: no header line */
	const char *align;              /* 'l' or 'r' per column */
	char **cells;
	size_t nrows;
	size_t cap;
	int failed;
};

#define JSON_DEPTH 8

/* A small JSON writer: it places the commas and escapes the strings. */
struct json {
	FILE *f;
	int depth;
	int count[JSON_DEPTH];
};

static volatile sig_atomic_t interrupted;

static const struct ctl_cmd *cmd_lookup(int argc, char **argv, int *used);
static int cmd_parse(struct ctl *ctl, const struct ctl_cmd *cmd, int argc, char **argv,
		     struct cmd_args *a);

/* Messages. */

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void msg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("shmpoolctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage_short(FILE *f);

/* A usage error of one command: the message and that command's usage. */
static int usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("shmpoolctl: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: shmpoolctl %s\n", cmd->usage);
	else
		usage_short(stderr);
	return EXIT_USAGE;
}

/* The library's text for an error, but for -EINVAL, whose text there is
 * about pointers that shmpoolctl never passes. */
static const char *ctl_strerror(int err)
{
	return err == -EINVAL ? strerror(EINVAL) : shmpool_strerror(err);
}

/* Report a failed request and give the exit status it calls for. */
static int ctl_fail(struct ctl *ctl, const char *what, int err)
{
	if (err == -ECONNRESET || err == -ENOTCONN || err == -EPIPE) {
		msg("lost the connection to %s: %s", ctl->path, shmpool_strerror(err));
		ctl->lost = 1;
		return EXIT_CONNECT;
	}
	if (err == -EACCES && ctl->cmd && (ctl->cmd->flags & CMD_ADMIN)) {
		msg("permission denied: %s needs root, the daemon's user or membership of "
		    "admin_group", ctl->cmd->name);
		return EXIT_FAIL;
	}
	msg("%s: %s", what, ctl_strerror(err));
	return EXIT_FAIL;
}

/* The connection. */

/* Connect on first use; returns an exit status, having said what failed. */
static int ctl_need(struct ctl *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (ctl->sp)
		return EXIT_OK;
	rc = proto_socket_path(ctl->socket, NULL, ctl->path, sizeof(ctl->path));
	if (rc == -ENOENT) {
		msg("cannot find the socket: use -s SOCKET or set SHMPOOL_SOCKET or XDG_RUNTIME_DIR");
		return EXIT_CONNECT;
	}
	if (rc < 0) {
		msg("socket path too long (at most %zu characters)", sizeof(ctl->path) - 1);
		return EXIT_CONNECT;
	}
	memcpy(sa.sun_path, ctl->path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		msg("cannot connect to %s: %s", ctl->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_CONNECT;
	}
	rc = client_open_fd(fd, &ctl->sp);
	if (rc < 0) {
		ctl->sp = NULL;
		msg("cannot talk to shmpoold on %s: %s", ctl->path, shmpool_strerror(rc));
		return EXIT_CONNECT;
	}
	return EXIT_OK;
}

static void ctl_disconnect(struct ctl *ctl)
{
	shmpool_disconnect(ctl->sp);
	ctl->sp = NULL;
	ctl->lost = 0;
}

/* Formatting. */

/* Bytes as "512 B" or "64.0 MiB". */
static const char *fmt_size(char buf[16], uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, 16, "%" PRIu64 " B", bytes);
		return buf;
	}
	v /= 1024;
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= 1023.95) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 16, "%.1f %s", v, units[u]);
	return buf;
}

static const char *fmt_u64(char buf[24], uint64_t v)
{
	snprintf(buf, 24, "%" PRIu64, v);
	return buf;
}

/* A duration as "45s", "3m 04s", "2h 03m 04s" or "5d 02h 03m". */
static const char *fmt_duration(char buf[32], uint64_t ms)
{
	uint64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;

	if (d > 0)
		snprintf(buf, 32, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m", d, h % 24, m % 60);
	else if (h > 0)
		snprintf(buf, 32, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m % 60, s % 60);
	else if (m > 0)
		snprintf(buf, 32, "%" PRIu64 "m %02" PRIu64 "s", m, s % 60);
	else
		snprintf(buf, 32, "%" PRIu64 "s", s);
	return buf;
}

/* An attribute by its name, or its number when it has none. */
static const char *fmt_attr(char buf[24], uint32_t attr, const char *name)
{
	if (name[0])
		return name;
	snprintf(buf, 24, "%" PRIu32, attr);
	return buf;
}

/* 1 - largest free / free: how badly the free memory is split up. */
static double fragmentation(uint64_t free_bytes, uint64_t largest)
{
	if (free_bytes == 0)
		return 0;
	return 1.0 - (double)largest / (double)free_bytes;
}

/* Columns on a terminal, counting a UTF-8 sequence as one. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Tables. */

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	uint32_t cp = s[0] & (0xff >> (n + 1));

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points beyond Unicode. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void table_init(struct table *t, int ncols, const char *const *head, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->head = head;
	t->align = align;
}

/* Add one row of ncols cells; control characters and bytes that are not
 * UTF-8 are shown as '?'. */
static void table_row(struct table *t, const char *const *cells)
{
	size_t base;

	if (t->failed)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*c));

		if (!c) {
			t->failed = 1;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	base = t->nrows * (size_t)t->ncols;
	for (int i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "");

		if (!s) {
			for (int j = 0; j < i; j++)
				free(t->cells[base + (size_t)j]);
			t->failed = 1;
			return;
		}
		for (unsigned char *p = (unsigned char *)s; *p;) {
			size_t n = utf8_len(p);

			if (n == 0 || *p < 0x20 || *p == 0x7f) {
				*p = '?';
				n = 1;
			}
			p += n;
		}
		t->cells[base + (size_t)i] = s;
	}
	t->nrows++;
}

static void table_line(const struct table *t, const char *const *cells, const size_t *width)
{
	for (int i = 0; i < t->ncols; i++) {
		size_t pad = width[i] - text_width(cells[i]);
		int last = i == t->ncols - 1;

		if (t->align[i] == 'r')
			printf("%*s%s", (int)pad, "", cells[i]);
		else if (last)
			fputs(cells[i], stdout);
		else
			printf("%s%*s", cells[i], (int)pad, "");
		fputs(last ? "\n" : "  ", stdout);
	}
}

/* Print the table and free it; -ENOMEM if a row could not be stored. */
static int table_print(struct table *t)
{
	size_t width[TABLE_MAX_COLS] = { 0 };
	int rc = t->failed ? -ENOMEM : 0;

	for (int i = 0; i < t->ncols && t->head; i++)
		width[i] = text_width(t->head[i]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			size_t w = text_width(t->cells[r * (size_t)t->ncols + (size_t)i]);

			if (w > width[i])
				width[i] = w;
		}
	}
	if (rc == 0 && t->head)
		table_line(t, t->head, width);
	for (size_t r = 0; r < t->nrows; r++) {
		char *const *row = &t->cells[r * (size_t)t->ncols];

		if (rc == 0)
			table_line(t, (const char *const *)row, width);
		for (int i = 0; i < t->ncols; i++)
			free(row[i]);
	}
	free(t->cells);
	t->cells = NULL;
	return rc;
}

/* A two-column table of names and values, without a header. */
static void kv_row(struct table *t, const char *key, const char *value)
{
	const char *row[2] = { key, value };

	table_row(t, row);
}

/* JSON. */

/* Write s as a JSON string; a byte that is not valid UTF-8 becomes U+FFFD. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else if (n == 0) {
			fputs("\\ufffd", f);
			n = 1;
		} else {
			fwrite(p, 1, n, f);
		}
		p += n ? n : 1;
	}
	fputc('"', f);
}

/* Start a value: the comma before it, and its key inside an object. */
static void json_key(struct json *j, const char *key)
{
	if (j->count[j->depth]++ > 0)
		fputc(',', j->f);
	if (key) {
		json_string(j->f, key);
		fputc(':', j->f);
	}
}

static void json_open(struct json *j, const char *key, char c)
{
	json_key(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < JSON_DEPTH)
		j->count[++j->depth] = 0;
}

static void json_close(struct json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0 && c == '}')
		fputc('\n', j->f);
}

static void json_begin(struct json *j)
{
	memset(j, 0, sizeof(*j));
	j->f = stdout;
	fputc('{', j->f);
	j->depth = 1;
}

static void json_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j->f, s);
}

/* A string, or null when it is empty. */
static void json_str_or_null(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	if (*s)
		json_string(j->f, s);
	else
		fputs("null", j->f);
}

static void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

static void json_i64(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%" PRId64, v);
}

static void json_bool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

static void json_double(struct json *j, const char *key, double v)
{
	json_key(j, key);
	fprintf(j->f, "%.6g", v);
}

/* Lists. */

/* A free slot at the end of v. */
static int vec_slot(struct vec *v, void **slot)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		void *items = realloc(v->items, cap * v->size);

		if (!items)
			return -ENOMEM;
		v->items = items;
		v->cap = cap;
	}
	*slot = v->items + v->n * v->size;
	return 0;
}

static void vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

typedef int (*list_next_fn)(shmpool_t *sp, uint64_t *cursor, void *out);

static int next_region(shmpool_t *sp, uint64_t *cursor, void *out)
{
	return client_region_info(sp, cursor, out);
}

static int next_pool(shmpool_t *sp, uint64_t *cursor, void *out)
{
	return client_pool_info(sp, cursor, out);
}

static int next_heap(shmpool_t *sp, uint64_t *cursor, void *out)
{
	return client_heap_info(sp, cursor, out);
}

static int next_group(shmpool_t *sp, uint64_t *cursor, void *out)
{
	return client_group_info(sp, cursor, out);
}

static int next_client(shmpool_t *sp, uint64_t *cursor, void *out)
{
	return client_client_info(sp, cursor, out);
}

/* Fetch a whole list into v; returns an exit status, having said what
 * failed. */
static int ctl_fetch(struct ctl *ctl, const char *what, list_next_fn next, struct vec *v)
{
	uint64_t cursor = 0;
	void *slot;
	int rc = ctl_need(ctl);

	if (rc != EXIT_OK)
		return rc;
	while ((rc = vec_slot(v, &slot)) == 0 && (rc = next(ctl->sp, &cursor, slot)) == 1)
		v->n++;
	return rc < 0 ? ctl_fail(ctl, what, rc) : EXIT_OK;
}

/* Print a finished table, or say why it could not be. */
static int ctl_table(struct ctl *ctl, struct table *t)
{
	int rc = table_print(t);

	return rc < 0 ? ctl_fail(ctl, "output", rc) : EXIT_OK;
}

/* status */

static int status_print(struct ctl *ctl, const struct proto_status_reply *s)
{
	char up[32], sz[2][16], n[4][24], regions[64], pools[64], heaps[80];
	struct table t;

	snprintf(regions, sizeof(regions), "%" PRIu32 ", %s mapped", s->regions,
		 fmt_size(sz[0], s->region_bytes));
	snprintf(pools, sizeof(pools), "%" PRIu32 ", %s carved, %s used", s->pools,
		 fmt_size(sz[0], s->pool_bytes), fmt_size(sz[1], s->pool_used_bytes));
	snprintf(heaps, sizeof(heaps), "%" PRIu32 ", %s outside pools, %s used", s->heaps,
		 fmt_size(sz[0], s->heap_bytes), fmt_size(sz[1], s->heap_used_bytes));
	table_init(&t, 2, NULL, "ll");
	kv_row(&t, "version", s->version);
	kv_row(&t, "pid", fmt_u64(n[0], s->daemon_pid));
	kv_row(&t, "uptime", fmt_duration(up, s->uptime_ms));
	kv_row(&t, "socket", s->socket);
	kv_row(&t, "config", s->config[0] ? s->config : "(built-in default)");
	kv_row(&t, "clients", fmt_u64(n[1], s->clients));
	kv_row(&t, "regions", regions);
	kv_row(&t, "pools", pools);
	kv_row(&t, "heaps", heaps);
	kv_row(&t, "groups", fmt_u64(n[2], s->groups));
	kv_row(&t, "waiters", fmt_u64(n[3], s->waiters));
	return ctl_table(ctl, &t);
}

static void status_json(const struct proto_status_reply *s)
{
	struct json j;

	json_begin(&j);
	json_str(&j, "version", s->version);
	json_u64(&j, "pid", s->daemon_pid);
	json_u64(&j, "uptime_ms", s->uptime_ms);
	json_str(&j, "socket", s->socket);
	json_str_or_null(&j, "config", s->config);
	json_u64(&j, "clients", s->clients);
	json_u64(&j, "regions", s->regions);
	json_u64(&j, "pools", s->pools);
	json_u64(&j, "heaps", s->heaps);
	json_u64(&j, "groups", s->groups);
	json_u64(&j, "region_bytes", s->region_bytes);
	json_u64(&j, "pool_bytes", s->pool_bytes);
	json_u64(&j, "pool_used_bytes", s->pool_used_bytes);
	json_u64(&j, "heap_bytes", s->heap_bytes);
	json_u64(&j, "heap_used_bytes", s->heap_used_bytes);
	json_u64(&j, "waiters", s->waiters);
	json_close(&j, '}');
}

static int cmd_status(struct ctl *ctl, const struct cmd_args *a)
{
	struct proto_status_reply s;
	int rc = ctl_need(ctl);

	(void)a;
	if (rc != EXIT_OK)
		return rc;
	rc = client_status(ctl->sp, &s);
	if (rc < 0)
		return ctl_fail(ctl, "status", rc);
	if (ctl->json) {
		status_json(&s);
		return EXIT_OK;
	}
	return status_print(ctl, &s);
}

/* regions */

static const char *region_flags(char buf[32], uint32_t flags)
{
	snprintf(buf, 32, "%s%s%s", flags & PROTO_RI_SEALED ? ",sealed" : "",
		 flags & PROTO_RI_LOCKED ? ",locked" : "", flags & PROTO_RI_BROKEN ? ",broken" : "");
	return buf[0] ? buf + 1 : "-";
}

static int regions_print(struct ctl *ctl, const struct vec *v)
{
	static const char *const head[] = { "NAME", "ID", "BACKING", "SIZE", "ATTR", "HEAP",
					    "USED", "FREE", "FLAGS" };
	struct table t;

	table_init(&t, 9, head, "lrllllrrl");
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_region_info_reply *r = VEC_AT(v, struct proto_region_info_reply, i);
		char id[24], size[16], attr[24], used[16], free_b[16], flags[32];
		const char *row[] = { r->name, fmt_u64(id, r->id),
				      r->obtained[0] ? r->obtained : r->backing,
				      fmt_size(size, r->size), fmt_attr(attr, r->attr, r->attr_name),
				      r->heap[0] ? r->heap : "-", fmt_size(used, r->used_bytes),
				      fmt_size(free_b, r->free_bytes), region_flags(flags, r->flags) };

		table_row(&t, row);
	}
	return ctl_table(ctl, &t);
}

static void regions_json(const struct vec *v)
{
	struct json j;

	json_begin(&j);
	json_open(&j, "regions", '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_region_info_reply *r = VEC_AT(v, struct proto_region_info_reply, i);

		json_open(&j, NULL, '{');
		json_str(&j, "name", r->name);
		json_u64(&j, "id", r->id);
		json_str(&j, "backing", r->backing);
		json_str(&j, "obtained", r->obtained[0] ? r->obtained : r->backing);
		json_str_or_null(&j, "path", r->path);
		json_u64(&j, "size", r->size);
		json_u64(&j, "granularity", r->granularity);
		json_u64(&j, "attr", r->attr);
		json_str_or_null(&j, "attr_name", r->attr_name);
		json_str_or_null(&j, "heap", r->heap);
		json_u64(&j, "used_bytes", r->used_bytes);
		json_u64(&j, "free_bytes", r->free_bytes);
		json_bool(&j, "sealed", r->flags & PROTO_RI_SEALED);
		json_bool(&j, "locked", r->flags & PROTO_RI_LOCKED);
		json_bool(&j, "broken", r->flags & PROTO_RI_BROKEN);
		json_str(&j, "scrub", r->scrub);
		json_u64(&j, "scrubbed_bytes", r->scrubbed_bytes);
		json_key(&j, "numa_node");
		if (r->numa_node >= 0)
			fprintf(j.f, "%" PRId32, r->numa_node);
		else
			fputs("null", j.f);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_regions(struct ctl *ctl, const struct cmd_args *a)
{
	struct vec v = VEC_INIT(struct proto_region_info_reply);
	int rc = ctl_fetch(ctl, "regions", next_region, &v);

	(void)a;
	if (rc == EXIT_OK && ctl->json)
		regions_json(&v);
	else if (rc == EXIT_OK)
		rc = regions_print(ctl, &v);
	vec_free(&v);
	return rc;
}

/* pools */

static int pools_print(struct ctl *ctl, const struct vec *v)
{
	static const char *const head[] = { "NAME", "REGION", "BLOCK", "BLOCKS", "USED", "FREE",
					    "PEAK", "WAITERS", "CACHE" };
	struct table t;

	table_init(&t, 9, head, "llrrrrrrr");
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_pool_info_reply *p = VEC_AT(v, struct proto_pool_info_reply, i);
		char bs[16], n[6][24];
		const char *row[] = { p->name, p->region, fmt_size(bs, p->block_size),
				      fmt_u64(n[0], p->num_blocks),
				      fmt_u64(n[1], p->num_blocks - p->num_free),
				      fmt_u64(n[2], p->num_free),
				      fmt_u64(n[3], p->num_blocks - p->min_free),
				      fmt_u64(n[4], p->num_waiters),
				      fmt_u64(n[5], p->cache) };

		table_row(&t, row);
	}
	return ctl_table(ctl, &t);
}

static void pools_json(const struct vec *v)
{
	struct json j;

	json_begin(&j);
	json_open(&j, "pools", '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_pool_info_reply *p = VEC_AT(v, struct proto_pool_info_reply, i);

		json_open(&j, NULL, '{');
		json_str(&j, "name", p->name);
		json_u64(&j, "id", p->id);
		json_str(&j, "region", p->region);
		json_u64(&j, "attr", p->attr);
		json_str_or_null(&j, "attr_name", p->attr_name);
		json_u64(&j, "block_size", p->block_size);
		json_u64(&j, "stride", p->stride);
		json_u64(&j, "base", p->base);
		json_u64(&j, "blocks", p->num_blocks);
		json_u64(&j, "used", p->num_blocks - p->num_free);
		json_u64(&j, "free", p->num_free);
		json_u64(&j, "max_used", p->num_blocks - p->min_free);
		json_u64(&j, "waiters", p->num_waiters);
		json_u64(&j, "cache", p->cache);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_pools(struct ctl *ctl, const struct cmd_args *a)
{
	struct vec v = VEC_INIT(struct proto_pool_info_reply);
	int rc = ctl_fetch(ctl, "pools", next_pool, &v);

	(void)a;
	if (rc == EXIT_OK && ctl->json)
		pools_json(&v);
	else if (rc == EXIT_OK)
		rc = pools_print(ctl, &v);
	vec_free(&v);
	return rc;
}

/* heaps */

static int heaps_print(struct ctl *ctl, const struct vec *v)
{
	static const char *const head[] = { "HEAP", "REGION", "ATTR", "SIZE", "FREE", "LARGEST",
					    "FRAG", "ALLOCS" };
	struct table t;

	table_init(&t, 8, head, "lllrrrrr");
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_heap_info_reply *h = VEC_AT(v, struct proto_heap_info_reply, i);
		char attr[24], size[16], free_b[16], largest[16], frag[16], n[24];
		const char *row[8] = { h->heap, "-", "-", "-", "-", "-", "-", "-" };

		if (h->region[0]) {
			snprintf(frag, sizeof(frag), "%.1f%%",
				 100 * fragmentation(h->free, h->largest_free));
			row[1] = h->region;
			row[2] = fmt_attr(attr, h->attr, h->attr_name);
			row[3] = fmt_size(size, h->total);
			row[4] = fmt_size(free_b, h->free);
			row[5] = fmt_size(largest, h->largest_free);
			row[6] = frag;
			row[7] = fmt_u64(n, h->num_used);
		}
		table_row(&t, row);
	}
	return ctl_table(ctl, &t);
}

static void heaps_json(const struct vec *v)
{
	struct json j;

	json_begin(&j);
	json_open(&j, "heaps", '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_heap_info_reply *h = VEC_AT(v, struct proto_heap_info_reply, i);

		json_open(&j, NULL, '{');
		json_str(&j, "heap", h->heap);
		json_str_or_null(&j, "region", h->region);
		if (h->region[0]) {
			json_u64(&j, "region_id", h->region_id);
			json_u64(&j, "attr", h->attr);
			json_str_or_null(&j, "attr_name", h->attr_name);
		}
		json_u64(&j, "total", h->total);
		json_u64(&j, "free", h->free);
		json_u64(&j, "largest_free", h->largest_free);
		json_u64(&j, "min_free", h->min_free);
		json_double(&j, "fragmentation", fragmentation(h->free, h->largest_free));
		json_u64(&j, "allocs", h->num_used);
		json_u64(&j, "allocs_total", h->num_allocs);
		json_u64(&j, "frees_total", h->num_frees);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_heaps(struct ctl *ctl, const struct cmd_args *a)
{
	struct vec v = VEC_INIT(struct proto_heap_info_reply);
	int rc = ctl_fetch(ctl, "heaps", next_heap, &v);

	(void)a;
	if (rc == EXIT_OK && ctl->json)
		heaps_json(&v);
	else if (rc == EXIT_OK)
		rc = heaps_print(ctl, &v);
	vec_free(&v);
	return rc;
}

/* groups */

static uint32_t group_listed(const struct proto_group_info_reply *g)
{
	return g->npools < PROTO_GROUP_POOLS_MAX ? g->npools : PROTO_GROUP_POOLS_MAX;
}

/* The pools of a group as "a, b, c", with "+N more" for those the reply
 * could not carry. */
static int group_pools_text(const struct proto_group_info_reply *g, char **out)
{
	size_t len;
	char *s;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return -ENOMEM;
	for (uint32_t i = 0; i < group_listed(g); i++)
		fprintf(f, "%s%s", i ? ", " : "", g->pools[i]);
	if (g->npools > PROTO_GROUP_POOLS_MAX)
		fprintf(f, ", +%" PRIu32 " more", g->npools - PROTO_GROUP_POOLS_MAX);
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static int groups_print(struct ctl *ctl, const struct vec *v)
{
	static const char *const head[] = { "NAME", "SELECT", "POOLS" };
	struct table t;

	table_init(&t, 3, head, "lll");
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_group_info_reply *g = VEC_AT(v, struct proto_group_info_reply, i);
		char *pools;
		const char *row[3];

		if (group_pools_text(g, &pools) < 0) {
			t.failed = 1;
			break;
		}
		row[0] = g->name;
		row[1] = g->select_name;
		row[2] = pools;
		table_row(&t, row);
		free(pools);
	}
	return ctl_table(ctl, &t);
}

static void groups_json(const struct vec *v)
{
	struct json j;

	json_begin(&j);
	json_open(&j, "groups", '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_group_info_reply *g = VEC_AT(v, struct proto_group_info_reply, i);

		json_open(&j, NULL, '{');
		json_str(&j, "name", g->name);
		json_str(&j, "select", g->select_name);
		json_u64(&j, "npools", g->npools);
		json_open(&j, "pools", '[');
		for (uint32_t k = 0; k < group_listed(g); k++)
			json_str(&j, NULL, g->pools[k]);
		json_close(&j, ']');
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_groups(struct ctl *ctl, const struct cmd_args *a)
{
	struct vec v = VEC_INIT(struct proto_group_info_reply);
	int rc = ctl_fetch(ctl, "groups", next_group, &v);

	(void)a;
	if (rc == EXIT_OK && ctl->json)
		groups_json(&v);
	else if (rc == EXIT_OK)
		rc = groups_print(ctl, &v);
	vec_free(&v);
	return rc;
}

/* clients */

static int clients_print(struct ctl *ctl, const struct vec *v)
{
	static const char *const head[] = { "PID", "UID", "COMM", "HELD", "BLOCKS", "WAITS" };
	struct table t;

	table_init(&t, 6, head, "rrlrrr");
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_client_info_reply *c = VEC_AT(v, struct proto_client_info_reply, i);
		char n[4][24], held[16];
		const char *row[] = { fmt_u64(n[0], c->pid), fmt_u64(n[1], c->uid), c->comm,
				      fmt_size(held, c->bytes_held), fmt_u64(n[2], c->blocks_held),
				      fmt_u64(n[3], c->waits) };

		table_row(&t, row);
	}
	return ctl_table(ctl, &t);
}

static void clients_json(const struct vec *v)
{
	struct json j;

	json_begin(&j);
	json_open(&j, "clients", '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct proto_client_info_reply *c = VEC_AT(v, struct proto_client_info_reply, i);

		json_open(&j, NULL, '{');
		json_u64(&j, "pid", c->pid);
		json_u64(&j, "uid", c->uid);
		json_u64(&j, "gid", c->gid);
		json_str(&j, "comm", c->comm);
		json_u64(&j, "conn_id", c->conn_id);
		json_i64(&j, "priority", c->priority);
		json_u64(&j, "bytes_held", c->bytes_held);
		json_u64(&j, "blocks_held", c->blocks_held);
		json_u64(&j, "waits", c->waits);
		json_u64(&j, "connected_ms", c->connected_ms);
		json_bool(&j, "self", c->flags & PROTO_CI_SELF);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_clients(struct ctl *ctl, const struct cmd_args *a)
{
	struct vec v = VEC_INIT(struct proto_client_info_reply);
	int rc = ctl_fetch(ctl, "clients", next_client, &v);

	(void)a;
	if (rc == EXIT_OK && ctl->json)
		clients_json(&v);
	else if (rc == EXIT_OK)
		rc = clients_print(ctl, &v);
	vec_free(&v);
	return rc;
}

/* stats */

static int stats_print(struct ctl *ctl, const struct proto_stats_reply *s)
{
	char b[32], n[9][24], reclaimed[16], scrubbed[16];
	struct table t;

	table_init(&t, 2, NULL, "ll");
	kv_row(&t, "uptime", fmt_duration(b, s->uptime_ms));
	kv_row(&t, "allocs", fmt_u64(n[0], s->allocs));
	kv_row(&t, "frees", fmt_u64(n[1], s->frees));
	kv_row(&t, "failures", fmt_u64(n[2], s->failures));
	kv_row(&t, "timeouts", fmt_u64(n[3], s->timeouts));
	kv_row(&t, "reclaimed", fmt_size(reclaimed, s->reclaimed_bytes));
	kv_row(&t, "connections", fmt_u64(n[4], s->connections));
	kv_row(&t, "refused connections", fmt_u64(n[5], s->refused_connections));
	kv_row(&t, "bad messages", fmt_u64(n[6], s->bad_messages));
	kv_row(&t, "refusals", fmt_u64(n[7], s->refusals));
	kv_row(&t, "scrubbed", fmt_size(scrubbed, s->scrubbed_bytes));
	kv_row(&t, "slot calls", fmt_u64(n[8], s->calls));
	return ctl_table(ctl, &t);
}

static void stats_json(const struct proto_stats_reply *s)
{
	struct json j;

	json_begin(&j);
	json_u64(&j, "uptime_ms", s->uptime_ms);
	json_u64(&j, "allocs", s->allocs);
	json_u64(&j, "frees", s->frees);
	json_u64(&j, "failures", s->failures);
	json_u64(&j, "timeouts", s->timeouts);
	json_u64(&j, "reclaimed_bytes", s->reclaimed_bytes);
	json_u64(&j, "connections", s->connections);
	json_u64(&j, "refused_connections", s->refused_connections);
	json_u64(&j, "bad_messages", s->bad_messages);
	json_u64(&j, "refusals", s->refusals);
	json_u64(&j, "scrubbed_bytes", s->scrubbed_bytes);
	json_u64(&j, "calls", s->calls);
	json_close(&j, '}');
}

/* Everything the Prometheus exposition shows. */
struct prom {
	struct proto_stats_reply stats;
	struct proto_status_reply status;
	struct vec regions;
	struct vec pools;
	struct vec heaps;
};

static void prom_family(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants. */
static void prom_label(const char *key, const char *value, int first)
{
	printf("%s%s=\"", first ? "{" : ",", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else
			putchar(*p);
	}
	putchar('"');
}

static void prom_counters(const struct prom *pr)
{
	static const struct {
		const char *name;
		const char *help;
		size_t off;
	} counters[] = {
		{ "shmpool_allocs_total", "Allocations granted (blocks and heap).",
		  offsetof(struct proto_stats_reply, allocs) },
		{ "shmpool_frees_total", "Frees done.", offsetof(struct proto_stats_reply, frees) },
		{ "shmpool_alloc_failures_total", "Allocations refused.",
		  offsetof(struct proto_stats_reply, failures) },
		{ "shmpool_alloc_timeouts_total", "Allocations that timed out waiting.",
		  offsetof(struct proto_stats_reply, timeouts) },
		{ "shmpool_reclaimed_bytes_total", "Bytes reclaimed from clients that went away.",
		  offsetof(struct proto_stats_reply, reclaimed_bytes) },
		{ "shmpool_connections_total", "Connections accepted.",
		  offsetof(struct proto_stats_reply, connections) },
		{ "shmpool_refused_connections_total", "Connections refused.",
		  offsetof(struct proto_stats_reply, refused_connections) },
		{ "shmpool_bad_messages_total", "Malformed messages received.",
		  offsetof(struct proto_stats_reply, bad_messages) },
		{ "shmpool_refusals_total", "Requests refused by access lists, quotas or limits.",
		  offsetof(struct proto_stats_reply, refusals) },
		{ "shmpool_scrubbed_bytes_total", "Bytes zeroed between owners.",
		  offsetof(struct proto_stats_reply, scrubbed_bytes) },
		{ "shmpool_calls_total", "Requests served through call slots.",
		  offsetof(struct proto_stats_reply, calls) },
	};
	const unsigned char *base = (const unsigned char *)&pr->stats;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		uint64_t v;

		memcpy(&v, base + counters[i].off, sizeof(v));
		prom_family(counters[i].name, "counter", counters[i].help);
		printf("%s %" PRIu64 "\n", counters[i].name, v);
	}
	prom_family("shmpool_uptime_seconds", "gauge", "Seconds since the daemon started.");
	printf("shmpool_uptime_seconds %.3f\n", (double)pr->stats.uptime_ms / 1000);
	prom_family("shmpool_clients", "gauge", "Connected clients.");
	printf("shmpool_clients %" PRIu32 "\n", pr->status.clients);
}

enum { RM_SIZE, RM_USED, RM_FREE, RM_COUNT };

static void prom_regions(const struct prom *pr)
{
	static const char *const names[RM_COUNT][2] = {
		{ "shmpool_region_size_bytes", "Size of the region." },
		{ "shmpool_region_used_bytes", "Bytes of the region carved for pools or allocated." },
		{ "shmpool_region_free_bytes", "Bytes of the region free." },
	};

	for (int m = 0; m < RM_COUNT; m++) {
		prom_family(names[m][0], "gauge", names[m][1]);
		for (size_t i = 0; i < pr->regions.n; i++) {
			const struct proto_region_info_reply *r =
				VEC_AT(&pr->regions, struct proto_region_info_reply, i);
			uint64_t v = m == RM_SIZE ? r->size : m == RM_USED ? r->used_bytes : r->free_bytes;

			fputs(names[m][0], stdout);
			prom_label("region", r->name, 1);
			printf("} %" PRIu64 "\n", v);
		}
	}
}

enum { PM_BLOCK_SIZE, PM_BLOCKS, PM_USED, PM_MAX_USED, PM_WAITERS, PM_COUNT };

static void pool_values(const struct proto_pool_info_reply *p, uint64_t v[PM_COUNT])
{
	v[PM_BLOCK_SIZE] = p->block_size;
	v[PM_BLOCKS] = p->num_blocks;
	v[PM_USED] = p->num_blocks - p->num_free;
	v[PM_MAX_USED] = p->num_blocks - p->min_free;
	v[PM_WAITERS] = p->num_waiters;
}

static void prom_pools(const struct prom *pr)
{
	static const char *const names[PM_COUNT][2] = {
		{ "shmpool_pool_block_size_bytes", "Block size of the pool." },
		{ "shmpool_pool_blocks", "Blocks in the pool." },
		{ "shmpool_pool_blocks_used", "Blocks of the pool in use." },
		{ "shmpool_pool_blocks_max_used", "Most blocks of the pool in use at once." },
		{ "shmpool_pool_waiters", "Allocations waiting for blocks of the pool." },
	};

	for (int m = 0; m < PM_COUNT; m++) {
		prom_family(names[m][0], "gauge", names[m][1]);
		for (size_t i = 0; i < pr->pools.n; i++) {
			uint64_t v[PM_COUNT];

			pool_values(VEC_AT(&pr->pools, struct proto_pool_info_reply, i), v);
			fputs(names[m][0], stdout);
			prom_label("pool", VEC_AT(&pr->pools, struct proto_pool_info_reply, i)->name, 1);
			printf("} %" PRIu64 "\n", v[m]);
		}
	}
}

enum { HM_FREE, HM_LARGEST, HM_FRAG, HM_COUNT };

static void prom_heaps(const struct prom *pr)
{
	static const char *const names[HM_COUNT][2] = {
		{ "shmpool_heap_free_bytes", "Free bytes of a heap instance in a region." },
		{ "shmpool_heap_largest_free_bytes", "Largest free block of the heap in a region." },
		{ "shmpool_heap_fragmentation_ratio", "1 - largest free block / free bytes." },
	};

	for (int m = 0; m < HM_COUNT; m++) {
		prom_family(names[m][0], "gauge", names[m][1]);
		for (size_t i = 0; i < pr->heaps.n; i++) {
			const struct proto_heap_info_reply *h =
				VEC_AT(&pr->heaps, struct proto_heap_info_reply, i);

			if (!h->region[0])
				continue;
			fputs(names[m][0], stdout);
			prom_label("heap", h->heap, 1);
			prom_label("region", h->region, 0);
			if (m == HM_FRAG)
				printf("} %.6g\n", fragmentation(h->free, h->largest_free));
			else
				printf("} %" PRIu64 "\n", m == HM_FREE ? h->free : h->largest_free);
		}
	}
}

static int stats_prometheus(struct ctl *ctl)
{
	struct prom pr = {
		.regions = VEC_INIT(struct proto_region_info_reply),
		.pools = VEC_INIT(struct proto_pool_info_reply),
		.heaps = VEC_INIT(struct proto_heap_info_reply),
	};
	int rc = ctl_need(ctl);

	if (rc == EXIT_OK && (rc = client_stats(ctl->sp, &pr.stats)) < 0)
		rc = ctl_fail(ctl, "stats", rc);
	if (rc == EXIT_OK && (rc = client_status(ctl->sp, &pr.status)) < 0)
		rc = ctl_fail(ctl, "status", rc);
	if (rc == EXIT_OK)
		rc = ctl_fetch(ctl, "regions", next_region, &pr.regions);
	if (rc == EXIT_OK)
		rc = ctl_fetch(ctl, "pools", next_pool, &pr.pools);
	if (rc == EXIT_OK)
		rc = ctl_fetch(ctl, "heaps", next_heap, &pr.heaps);
	if (rc == EXIT_OK) {
		prom_counters(&pr);
		prom_regions(&pr);
		prom_pools(&pr);
		prom_heaps(&pr);
	}
	vec_free(&pr.regions);
	vec_free(&pr.pools);
	vec_free(&pr.heaps);
	return rc;
}

enum { OPT_PROMETHEUS };

static const struct cmd_opt stats_opts[] = {
	[OPT_PROMETHEUS] = { "--prometheus", 0 },
	{ NULL, 0 },
};

static int cmd_stats(struct ctl *ctl, const struct cmd_args *a)
{
	struct proto_stats_reply s;
	int rc;

	if (a->opt[OPT_PROMETHEUS] && ctl->json)
		return usage_error(ctl->cmd, "--prometheus and --json exclude each other");
	if (a->opt[OPT_PROMETHEUS])
		return stats_prometheus(ctl);
	rc = ctl_need(ctl);
	if (rc != EXIT_OK)
		return rc;
	rc = client_stats(ctl->sp, &s);
	if (rc < 0)
		return ctl_fail(ctl, "stats", rc);
	if (ctl->json) {
		stats_json(&s);
		return EXIT_OK;
	}
	return stats_print(ctl, &s);
}

/* map */

/* How a map looks on this output: cells per row and in all. */
static void map_geometry(int tty, uint32_t *width, uint32_t *cells)
{
	struct winsize ws;

	*width = MAP_WIDTH;
	*cells = MAP_WIDTH * MAP_ROWS;
	if (!tty)
		return;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		*width = ws.ws_col;
	*cells = *width * MAP_TTY_ROWS;
	if (*cells > PROTO_MAP_CELLS_MAX)
		*cells = PROTO_MAP_CELLS_MAX;
}

/* The character of a cell: '.' free, '#' full, '1'..'9' tenths used, 'P'
 * carved for a pool; and its colour. */
static char map_char(uint8_t kind, uint8_t fill, const char **color)
{
	int tenths;

	if (kind == PROTO_CELL_POOL) {
		*color = "\033[34m";
		return 'P';
	}
	if (fill == 0) {
		*color = "\033[32m";
		return '.';
	}
	if (fill == 255) {
		*color = "\033[31m";
		return '#';
	}
	tenths = (fill * 10 + 127) / 255;
	*color = "\033[33m";
	return (char)('0' + (tenths < 1 ? 1 : tenths > 9 ? 9 : tenths));
}

static void map_print(const struct proto_map_reply *m, const char *name, uint32_t width, int color)
{
	const char *prev = NULL;
	char b[3][16];

	if (m->kind == PROTO_MAP_POOL)
		printf("pool '%s': %" PRIu64 " blocks, %" PRIu64 " used, %" PRIu64 " block%s per cell\n",
		       name, m->units, m->used_units, m->units_per_cell,
		       m->units_per_cell == 1 ? "" : "s");
	else
		printf("region '%s': %s, %s used, %s per cell\n", name, fmt_size(b[0], m->units),
		       fmt_size(b[1], m->used_units), fmt_size(b[2], m->units_per_cell));
	for (uint32_t i = 0; i < m->ncells; i++) {
		const char *c;
		char ch = map_char(m->cell_kind[i], m->fill[i], &c);

		if (color && (i % width == 0 || c != prev))
			fputs(c, stdout);
		prev = c;
		putchar(ch);
		if (i % width == width - 1 || i == m->ncells - 1)
			fputs(color ? "\033[0m\n" : "\n", stdout);
	}
	printf("legend: . free  # used  1-9 tenths used%s\n",
	       m->kind == PROTO_MAP_REGION ? "  P carved for a pool" : "");
}

static void map_json(const struct proto_map_reply *m, const char *name)
{
	static const char *const kinds[] = { "free", "used", "pool" };
	struct json j;

	json_begin(&j);
	json_str(&j, "type", m->kind == PROTO_MAP_POOL ? "pool" : "region");
	json_str(&j, "name", name);
	json_str(&j, "unit", m->kind == PROTO_MAP_POOL ? "block" : "byte");
	json_u64(&j, "units", m->units);
	json_u64(&j, "units_per_cell", m->units_per_cell);
	json_u64(&j, "used_units", m->used_units);
	json_u64(&j, "cells", m->ncells);
	json_open(&j, "fill", '[');
	for (uint32_t i = 0; i < m->ncells; i++)
		json_u64(&j, NULL, m->fill[i]);
	json_close(&j, ']');
	json_open(&j, "kind", '[');
	for (uint32_t i = 0; i < m->ncells; i++)
		json_str(&j, NULL, m->cell_kind[i] < 3 ? kinds[m->cell_kind[i]] : "unknown");
	json_close(&j, ']');
	json_close(&j, '}');
}

static int cmd_map(struct ctl *ctl, const struct cmd_args *a)
{
	const char *name = a->arg[0], *nc = getenv("NO_COLOR");
	int tty = isatty(STDOUT_FILENO);
	struct proto_map_reply *m;
	uint32_t width, cells;
	int rc;

	if (strlen(name) >= PROTO_NAME_MAX)
		return usage_error(ctl->cmd, "name too long (at most %d characters)",
				   PROTO_NAME_MAX - 1);
	rc = ctl_need(ctl);
	if (rc != EXIT_OK)
		return rc;
	m = malloc(sizeof(*m));
	if (!m)
		return ctl_fail(ctl, "map", -ENOMEM);
	map_geometry(tty && !ctl->json, &width, &cells);
	rc = client_map(ctl->sp, PROTO_MAP_POOL, name, cells, m);
	if (rc == -ENOENT)
		rc = client_map(ctl->sp, PROTO_MAP_REGION, name, cells, m);
	if (rc == -ENOENT) {
		msg("map: no pool or region named '%s'", name);
		rc = EXIT_FAIL;
	} else if (rc < 0) {
		rc = ctl_fail(ctl, "map", rc);
	} else if (ctl->json) {
		map_json(m, name);
	} else {
		map_print(m, name, width, tty && !(nc && *nc));
	}
	free(m);
	return rc;
}

/* pool create, pool destroy */

/* A number with an optional K, M, G or T (powers of 1024); -EINVAL unless
 * the whole string is one, -ERANGE when it does not fit. */
static int parse_size(const char *s, int suffixes, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && suffixes) {
		const char *units = "KMGT", *u = strchr(units, *p & ~0x20);

		if (!u || !*u)
			return -EINVAL;
		mul = (uint64_t)1 << (10 * (u - units + 1));
		p++;
	}
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

/* An attribute: a number 0..31, cacheable, non-cacheable, or (*name set)
 * a name only the daemon's regions can resolve. */
static int parse_attr(const char *s, uint32_t *attr, int *by_name)
{
	uint64_t v;

	*by_name = 0;
	if (strcmp(s, "cacheable") == 0)
		*attr = SHMPOOL_ATTR_CACHEABLE;
	else if (strcmp(s, "non-cacheable") == 0)
		*attr = SHMPOOL_ATTR_NON_CACHEABLE;
	else if (parse_size(s, 0, &v) == 0)
		*attr = (uint32_t)(v <= 31 ? v : UINT32_MAX);
	else
		*by_name = 1;
	return !*by_name && *attr > 31 ? -ERANGE : 0;
}

/* Resolve an attribute name through the regions that carry it. */
static int attr_lookup(struct ctl *ctl, const char *name, uint32_t *attr)
{
	struct vec v = VEC_INIT(struct proto_region_info_reply);
	int rc = ctl_fetch(ctl, "regions", next_region, &v);

	for (size_t i = 0; rc == EXIT_OK && i < v.n; i++) {
		const struct proto_region_info_reply *r = VEC_AT(&v, struct proto_region_info_reply, i);

		if (strcmp(r->attr_name, name) == 0) {
			*attr = r->attr;
			vec_free(&v);
			return EXIT_OK;
		}
	}
	if (rc == EXIT_OK) {
		msg("pool create: unknown attribute '%s': no region has it", name);
		rc = EXIT_FAIL;
	}
	vec_free(&v);
	return rc;
}

enum { OPT_BLOCK_SIZE, OPT_BLOCKS, OPT_ALIGN, OPT_ATTR, OPT_REGION };

static const struct cmd_opt create_opts[] = {
	[OPT_BLOCK_SIZE] = { "--block-size", 1 },
	[OPT_BLOCKS] = { "--blocks", 1 },
	[OPT_ALIGN] = { "--align", 1 },
	[OPT_ATTR] = { "--attr", 1 },
	[OPT_REGION] = { "--region", 1 },
	{ NULL, 0 },
};

/* Check the arguments of pool create into cfg; an exit status. */
static int create_args(const struct ctl_cmd *cmd, const struct cmd_args *a,
		       struct shmpool_pool_config *cfg, int *attr_by_name)
{
	uint64_t bs, n, align = 0;

	*attr_by_name = 0;
	if (!a->opt[OPT_BLOCK_SIZE] || !a->opt[OPT_BLOCKS])
		return usage_error(cmd, "--block-size and --blocks are required");
	if (parse_size(a->opt[OPT_BLOCK_SIZE], 1, &bs) < 0 || bs == 0 || bs > SIZE_MAX)
		return usage_error(cmd, "bad block size '%s'", a->opt[OPT_BLOCK_SIZE]);
	if (parse_size(a->opt[OPT_BLOCKS], 0, &n) < 0 || n == 0 || n >= UINT32_MAX)
		return usage_error(cmd, "bad number of blocks '%s'", a->opt[OPT_BLOCKS]);
	if (a->opt[OPT_ALIGN] && (parse_size(a->opt[OPT_ALIGN], 1, &align) < 0 ||
				  align > SIZE_MAX || (align & (align - 1)) != 0))
		return usage_error(cmd, "bad alignment '%s': a power of two", a->opt[OPT_ALIGN]);
	if (a->opt[OPT_ATTR] && a->opt[OPT_REGION])
		return usage_error(cmd, "--attr and --region exclude each other");
	if (a->opt[OPT_ATTR] && parse_attr(a->opt[OPT_ATTR], &cfg->attr, attr_by_name) < 0)
		return usage_error(cmd, "bad attribute '%s': 0 to 31 or a name", a->opt[OPT_ATTR]);
	if (strlen(a->arg[0]) >= PROTO_NAME_MAX ||
	    (a->opt[OPT_REGION] && strlen(a->opt[OPT_REGION]) >= PROTO_NAME_MAX))
		return usage_error(cmd, "name too long (at most %d characters)", PROTO_NAME_MAX - 1);
	cfg->name = a->arg[0];
	cfg->block_size = (size_t)bs;
	cfg->num_blocks = (size_t)n;
	cfg->align = (size_t)align;
	cfg->region = a->opt[OPT_REGION];
	return EXIT_OK;
}

static int cmd_pool_create(struct ctl *ctl, const struct cmd_args *a)
{
	struct shmpool_pool_config cfg = { .attr = SHMPOOL_ATTR_CACHEABLE };
	shmpool_pool_t *pool;
	int by_name, rc = create_args(ctl->cmd, a, &cfg, &by_name);

	if (rc == EXIT_OK)
		rc = ctl_need(ctl);
	if (rc == EXIT_OK && by_name)
		rc = attr_lookup(ctl, a->opt[OPT_ATTR], &cfg.attr);
	if (rc != EXIT_OK)
		return rc;
	rc = shmpool_pool_create(ctl->sp, &cfg, &pool);
	if (rc < 0) {
		char what[PROTO_NAME_MAX + 16];

		snprintf(what, sizeof(what), "pool create '%s'", cfg.name);
		return ctl_fail(ctl, what, rc);
	}
	shmpool_pool_close(pool);
	printf("pool '%s' created\n", cfg.name);
	return EXIT_OK;
}

static int cmd_pool_destroy(struct ctl *ctl, const struct cmd_args *a)
{
	char what[PROTO_NAME_MAX + 16];
	int rc;

	if (strlen(a->arg[0]) >= PROTO_NAME_MAX)
		return usage_error(ctl->cmd, "name too long (at most %d characters)",
				   PROTO_NAME_MAX - 1);
	rc = ctl_need(ctl);
	if (rc != EXIT_OK)
		return rc;
	rc = shmpool_pool_destroy(ctl->sp, a->arg[0]);
	if (rc < 0) {
		snprintf(what, sizeof(what), "pool destroy '%s'", a->arg[0]);
		return ctl_fail(ctl, what, rc);
	}
	printf("pool '%s' destroyed\n", a->arg[0]);
	return EXIT_OK;
}

/* reload */

static int cmd_reload(struct ctl *ctl, const struct cmd_args *a)
{
	struct proto_reload_reply *r;
	int rc = ctl_need(ctl);

	(void)a;
	if (rc != EXIT_OK)
		return rc;
	r = malloc(sizeof(*r));
	if (!r)
		return ctl_fail(ctl, "reload", -ENOMEM);
	rc = client_reload(ctl->sp, r);
	if (rc == 0 && !r->report[0]) {
		puts("nothing changed");
	} else if (rc == 0) {
		fputs(r->report, stdout);
		if (r->report[strlen(r->report) - 1] != '\n')
			putchar('\n');
	} else if (rc == -EACCES || !r->report[0]) {
		rc = ctl_fail(ctl, "reload", rc);
	} else {
		size_t len = strlen(r->report);

		/* One line goes on the message's line; more go below it. */
		if (r->report[len - 1] == '\n')
			r->report[len - 1] = '\0';
		msg("reload refused:%s%s", strchr(r->report, '\n') ? "\n" : " ", r->report);
		rc = EXIT_FAIL;
	}
	free(r);
	return rc;
}

/* watch */

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Sleep for seconds unless interrupted first. */
static void watch_sleep(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One screen of a watch: a header on a terminal, then the command; its
 * exit status. */
static int watch_once(struct ctl *ctl, const struct ctl_cmd *cmd, const struct cmd_args *a,
		       double interval, int tty)
{
	int rc;

	if (tty && !ctl->json) {
		time_t now = time(NULL);
		char when[32];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		printf("\033[H\033[2JEvery %gs: shmpoolctl %s    %s\n\n", interval, cmd->name, when);
	}
	if (ctl->lost)
		ctl_disconnect(ctl);
	rc = cmd->run(ctl, a);
	fflush(stdout);
	return rc;
}

enum { OPT_INTERVAL, OPT_INTERVAL_LONG };

static const struct cmd_opt watch_opts[] = {
	[OPT_INTERVAL] = { "-n", 1 },
	[OPT_INTERVAL_LONG] = { "--interval", 1 },
	{ NULL, 0 },
};

static int cmd_watch(struct ctl *ctl, const struct cmd_args *a)
{
	static char *const dflt[] = { "status", NULL };
	const char *iv = a->opt[OPT_INTERVAL] ? a->opt[OPT_INTERVAL] : a->opt[OPT_INTERVAL_LONG];
	char *const *argv = a->nrest ? a->rest : dflt;
	const struct ctl_cmd *watch = ctl->cmd, *cmd;
	struct sigaction sa;
	struct cmd_args inner;
	double interval = 1;
	int used, rc;
	char *end;

	if (iv) {
		interval = strtod(iv, &end);
		if (end == iv || *end || !(interval >= 0.1 && interval <= 86400))
			return usage_error(watch, "bad interval '%s': 0.1 to 86400 seconds", iv);
	}
	cmd = cmd_lookup(a->nrest ? a->nrest : 1, (char **)argv, &used);
	if (!cmd)
		return usage_error(watch, "unknown command '%s'", argv[0]);
	if (!(cmd->flags & CMD_READ))
		return usage_error(watch, "only read commands can be watched, not %s", cmd->name);
	ctl->cmd = cmd;
	rc = cmd_parse(ctl, cmd, (a->nrest ? a->nrest : 1) - used, (char **)argv + used, &inner);
	if (rc != EXIT_OK)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	/* Failures of the daemon are shown and retried; bad usage ends it. */
	while (!interrupted) {
		if (watch_once(ctl, cmd, &inner, interval, isatty(STDOUT_FILENO)) == EXIT_USAGE)
			return EXIT_USAGE;
		watch_sleep(interval);
	}
	return EXIT_OK;
}

/* The table of commands. */

static const struct ctl_cmd commands[] = {
	{ "status", 0, 0, CMD_READ, NULL, cmd_status, "status" },
	{ "regions", 0, 0, CMD_READ, NULL, cmd_regions, "regions" },
	{ "pools", 0, 0, CMD_READ, NULL, cmd_pools, "pools" },
	{ "heaps", 0, 0, CMD_READ, NULL, cmd_heaps, "heaps" },
	{ "groups", 0, 0, CMD_READ, NULL, cmd_groups, "groups" },
	{ "clients", 0, 0, CMD_READ, NULL, cmd_clients, "clients" },
	{ "stats", 0, 0, CMD_READ, stats_opts, cmd_stats, "stats [--prometheus]" },
	{ "map", 1, 1, CMD_READ, NULL, cmd_map, "map POOL|REGION" },
	{ "pool create", 1, 1, CMD_ADMIN, create_opts, cmd_pool_create,
	  "pool create NAME --block-size SIZE --blocks N [--align SIZE] "
	  "[--attr ATTR | --region REGION]" },
	{ "pool destroy", 1, 1, CMD_ADMIN, NULL, cmd_pool_destroy, "pool destroy NAME" },
	{ "reload", 0, 0, CMD_ADMIN, NULL, cmd_reload, "reload" },
	{ "watch", 0, 0, CMD_NEST, watch_opts, cmd_watch, "watch [-n SECONDS] [COMMAND [ARGS]]" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage_short(FILE *f)
{
	fputs("usage: shmpoolctl [-s SOCKET] [--json] COMMAND [ARGS]\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
}

/* Whether the words at argv spell name ("pool create" is two words); sets
 * *used to how many. */
static int cmd_matches(const char *name, int argc, char **argv, int *used)
{
	const char *sp = strchr(name, ' ');
	size_t len = sp ? (size_t)(sp - name) : strlen(name);

	if (argc < 1 || strlen(argv[0]) != len || strncmp(argv[0], name, len) != 0)
		return 0;
	if (!sp) {
		*used = 1;
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], sp + 1) != 0)
		return 0;
	*used = 2;
	return 1;
}

static const struct ctl_cmd *cmd_lookup(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (cmd_matches(commands[i].name, argc, argv, used))
			return &commands[i];
	return NULL;
}

/* The index of the option s in opts, with its value; -1 if none. */
static int opt_find(const struct cmd_opt *opts, const char *s, const char **value)
{
	for (int k = 0; opts && opts[k].name; k++) {
		size_t len = strlen(opts[k].name);

		if (strcmp(s, opts[k].name) == 0) {
			*value = NULL;
			return k;
		}
		if (opts[k].has_value && strncmp(s, opts[k].name, len) == 0 && s[len] == '=') {
			*value = s + len + 1;
			return k;
		}
	}
	return -1;
}

/* Sort the words after a command into arguments and options, and check
 * their number; an exit status, with the usage on error. */
static int cmd_parse(struct ctl *ctl, const struct ctl_cmd *cmd, int argc, char **argv,
		     struct cmd_args *a)
{
	int only_args = 0;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *value;
		int k;

		if (!only_args && strcmp(s, "--") == 0) {
			only_args = 1;
			continue;
		}
		if (!only_args && s[0] == '-' && s[1]) {
			if (strcmp(s, "--json") == 0) {
				ctl->json = 1;
				continue;
			}
			k = opt_find(cmd->opts, s, &value);
			if (k < 0)
				return usage_error(cmd, "unknown option '%s'", s);
			if (a->opt[k])
				return usage_error(cmd, "%s given twice", cmd->opts[k].name);
			if (cmd->opts[k].has_value && !value && i + 1 >= argc)
				return usage_error(cmd, "%s needs a value", cmd->opts[k].name);
			if (cmd->opts[k].has_value && !value)
				value = argv[++i];
			a->opt[k] = cmd->opts[k].has_value ? value : s;
			continue;
		}
		if (cmd->flags & CMD_NEST) {
			a->rest = argv + i;
			a->nrest = argc - i;
			break;
		}
		if (a->nargs >= cmd->max_args)
			return usage_error(cmd, "too many arguments");
		a->arg[a->nargs++] = s;
	}
	if (a->nargs < cmd->min_args)
		return usage_error(cmd, "missing argument");
	if (ctl->json && !(cmd->flags & (CMD_READ | CMD_NEST)))
		return usage_error(cmd, "--json works with the read commands only");
	return EXIT_OK;
}

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The options before the command; an exit status, or -1 to go on. */
static int parse_global(struct ctl *ctl, int argc, char **argv)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			ctl->socket = optarg;
			break;
		case 'j':
			ctl->json = 1;
			break;
		case 'h':
			usage_short(stdout);
			return EXIT_OK;
		case 'V':
			printf("shmpoolctl %s (protocol %d)\n", PACKAGE_VERSION, SHMPOOL_PROTO_VERSION);
			return EXIT_OK;
		default:
			usage_short(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error(NULL, "no command given");
	return -1;
}

/* A command that is not in the table: say which word is wrong. */
static int cmd_unknown(int argc, char **argv)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *name = commands[i].name, *sp = strchr(name, ' ');
		size_t len = sp ? (size_t)(sp - name) : 0;

		if (!sp || strlen(argv[0]) != len || strncmp(argv[0], name, len) != 0)
			continue;
		if (argc > 1)
			return usage_error(NULL, "%s: unknown subcommand '%s'", argv[0], argv[1]);
		return usage_error(NULL, "%s: missing subcommand", argv[0]);
	}
	return usage_error(NULL, "unknown command '%s'", argv[0]);
}

int main(int argc, char **argv)
{
	struct ctl ctl = { 0 };
	const struct ctl_cmd *cmd;
	struct cmd_args a;
	int used, rc;

	rc = parse_global(&ctl, argc, argv);
	if (rc >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	cmd = cmd_lookup(argc, argv, &used);
	if (!cmd)
		return cmd_unknown(argc, argv);
	ctl.cmd = cmd;
	rc = cmd_parse(&ctl, cmd, argc - used, argv + used, &a);
	if (rc == EXIT_OK)
		rc = cmd->run(&ctl, &a);
	if (ctl.sp)
		ctl_disconnect(&ctl);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg("cannot write the output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return rc;
}
