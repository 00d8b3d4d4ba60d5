/*
 * config: the configuration file parser.
 *
 * inih splits "key = value" lines and strips comments; everything else is
 * done here, line by line, through the reader that feeds inih.  The reader
 * sees every line first, so it knows the line number of every key (inih's
 * handler is not told it), it recognises section headers itself (inih does
 * not report empty sections, and would silently merge a section that
 * appears twice in a row), and it handles continuation lines of list keys
 * itself, so an indented "key = value" line is never taken for the
 * continuation of the key above it as inih's multi-line mode would.
 * Because inih calls the reader for a line only after it has passed the
 * previous one to the handler, both see the lines strictly in order.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "blockpool.h"
#include "heap.h"

/* The longest file config_load reads. */
#define CONFIG_FILE_MAX ((size_t)16 << 20)

/* Longest socket path a sockaddr_un holds, NUL excluded. */
#define CONFIG_SOCKET_MAX 107

#define CONFIG_MAX_CLIENTS_MAX 1000000u

/* The largest user or group id; (uid_t)-1 means "none" to the kernel. */
#define CONFIG_ID_MAX 4294967294u

/* The largest block count a pool has, and so the largest block limit. */
#define CONFIG_BLOCKS_MAX ((uint64_t)UINT32_MAX - 1)

#define CONFIG_MAX_WAITS_MAX 65536u
/* Every fixed-size request (the largest, a pool create, is 168 bytes) must
 * fit under the limit. */
#define CONFIG_MIN_MESSAGE 256u

/* The largest buffer getpwnam_r and its kind get. */
#define CONFIG_NSS_BUF_MAX ((size_t)1 << 20)

/* Where print wraps the items of a list onto continuation lines. */
#define CONFIG_PRINT_WIDTH 72

enum section_type {
	SECTION_NONE = 0,
	SECTION_DAEMON,
	SECTION_LIMITS,
	SECTION_ATTRIBUTES,
	SECTION_REGION,
	SECTION_HEAP,
	SECTION_POOL,
	SECTION_GROUP,
};

struct parser;
struct section;

/* A key of a section: the handler stores the value or records an error. */
struct config_key {
	const char *name;
	int (*parse)(struct parser *p, struct section *s, const char *value);
	int list;                               /* takes continuation lines */
};

#define SECTION_KEYS_MAX 24

/* A section as read, with the line of every key given in it. */
struct section {
	enum section_type type;
	size_t index;                           /* into the config array of its type */
	int line;
	int key_line[SECTION_KEYS_MAX];         /* 0: the key was not given */
	char attr_name[CONFIG_NAME_MAX];        /* region, pool: attribute by name */
};

struct parser {
	struct config *cfg;
	const char *file;
	const char *text;
	size_t pos;
	size_t len;
	int lineno;
	struct section *sections;
	size_t nsections;
	const struct config_key *last_key;      /* the key a continuation line extends */
	int max_clients_line;                   /* in [daemon] or [limits]; 0: not given */
	char *err;
	size_t errlen;
	int failed;
	int oom;
};

struct section_kind {
	enum section_type type;
	const char *name;
	int named;
	const struct config_key *keys;
};

static const char *const backing_names[] = {
	[CONFIG_BACKING_MEMFD] = "memfd",
	[CONFIG_BACKING_SHM] = "shm",
	[CONFIG_BACKING_HUGETLB] = "hugetlb",
	[CONFIG_BACKING_FILE] = "file",
};

static const char *const hugepages_names[] = {
	[CONFIG_HUGEPAGES_PREFER] = "prefer",
	[CONFIG_HUGEPAGES_REQUIRE] = "require",
};

static const char *const select_names[] = {
	[CONFIG_SELECT_INDEX] = "index",
	[CONFIG_SELECT_FIT] = "fit",
	[CONFIG_SELECT_ATTR] = "attr",
};

static const char *const scrub_names[] = {
	[CONFIG_SCRUB_CROSS_UID] = "cross-uid",
	[CONFIG_SCRUB_ALWAYS] = "always",
	[CONFIG_SCRUB_NEVER] = "never",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

const char *config_backing_name(enum config_backing b)
{
	if ((unsigned)b >= ARRAY_LEN(backing_names))
		return "unknown";
	return backing_names[b];
}

const char *config_hugepages_name(enum config_hugepages h)
{
	if ((unsigned)h >= ARRAY_LEN(hugepages_names))
		return "unknown";
	return hugepages_names[h];
}

const char *config_select_name(enum config_select s)
{
	if ((unsigned)s >= ARRAY_LEN(select_names))
		return "unknown";
	return select_names[s];
}

const char *config_scrub_name(enum config_scrub s)
{
	if ((unsigned)s >= ARRAY_LEN(scrub_names))
		return "unknown";
	return scrub_names[s];
}

/* The index of name in a table of names, or -1. */
static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

int config_size_parse(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	uint64_t v = 0;
	const char *p = s;
	const char *u;
	unsigned shift;

	if (!s || !out || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		u = strchr(units, toupper((unsigned char)*p));
		if (!u || p[1])
			return -EINVAL;
		shift = 10u * (unsigned)(u - units + 1);
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*out = v;
	return 0;
}

void config_size_format(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned shift = 10u * (unsigned)(i + 1);

		if (v != 0 && (v & (((uint64_t)1 << shift) - 1)) == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v >> shift), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

void config_size_human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned shift = 10u * (unsigned)(i + 1);

		if (v != 0 && (v & (((uint64_t)1 << shift) - 1)) == 0) {
			snprintf(buf, len, "%llu %s", (unsigned long long)(v >> shift), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu bytes", (unsigned long long)v);
}

/* Whether s is a valid name: 1..63 letters, digits, '.', '_' or '-'. */
static int name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CONFIG_NAME_MAX)
		return 0;
	for (const char *c = s; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
			return 0;
	}
	return 1;
}

/* Copy a name that has been checked to fit. */
static void name_set(char dst[CONFIG_NAME_MAX], const char *src)
{
	size_t n = strnlen(src, CONFIG_NAME_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Record the first error, as "FILE:LINE: message". */
__attribute__((format(printf, 3, 4)))
static void parser_error(struct parser *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
}

static void parser_oom(struct parser *p)
{
	if (!p->failed && p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s: out of memory", p->file);
	p->failed = 1;
	p->oom = 1;
}

/* Append a zeroed element to *arr, which holds *n elements of size elem. */
static void *array_push(void *arr, size_t *n, size_t elem)
{
	void **a = arr;
	char *grown;

	grown = realloc(*a, (*n + 1) * elem);
	if (!grown)
		return NULL;
	memset(grown + *n * elem, 0, elem);
	*a = grown;
	return grown + (*n)++ * elem;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static struct config_region *sec_region(struct parser *p, struct section *s)
{
	return &p->cfg->regions[s->index];
}

static struct config_heap *sec_heap(struct parser *p, struct section *s)
{
	return &p->cfg->heaps[s->index];
}

static struct config_pool *sec_pool(struct parser *p, struct section *s)
{
	return &p->cfg->pools[s->index];
}

static struct config_group *sec_group(struct parser *p, struct section *s)
{
	return &p->cfg->groups[s->index];
}

/* The section's name as written in the file: "[region dma0]". */
static const char *sec_label(struct parser *p, struct section *s, char *buf, size_t len)
{
	switch (s->type) {
	case SECTION_DAEMON:
		snprintf(buf, len, "[daemon]");
		break;
	case SECTION_LIMITS:
		snprintf(buf, len, "[limits]");
		break;
	case SECTION_ATTRIBUTES:
		snprintf(buf, len, "[attributes]");
		break;
	case SECTION_REGION:
		snprintf(buf, len, "[region %s]", sec_region(p, s)->name);
		break;
	case SECTION_HEAP:
		snprintf(buf, len, "[heap %s]", sec_heap(p, s)->name);
		break;
	case SECTION_POOL:
		snprintf(buf, len, "[pool %s]", sec_pool(p, s)->name);
		break;
	case SECTION_GROUP:
		snprintf(buf, len, "[group %s]", sec_group(p, s)->name);
		break;
	default:
		snprintf(buf, len, "[]");
		break;
	}
	return buf;
}

#define LABEL(p, s) sec_label((p), (s), (char[CONFIG_NAME_MAX + 16]){ 0 }, CONFIG_NAME_MAX + 16)

/* Value parsers shared by the keys; each records its own error. */

static int value_size(struct parser *p, struct section *s, const char *key, const char *value,
		      int nonzero, uint64_t *out)
{
	int rc = config_size_parse(value, out);

	if (rc == -ERANGE) {
		parser_error(p, p->lineno, "size '%s' for '%s' in %s is too large", value, key,
			     LABEL(p, s));
		return -1;
	}
	if (rc < 0) {
		parser_error(p, p->lineno, "invalid size '%s' for '%s' in %s", value, key,
			     LABEL(p, s));
		return -1;
	}
	if (nonzero && *out == 0) {
		parser_error(p, p->lineno, "'%s' in %s must not be 0", key, LABEL(p, s));
		return -1;
	}
	return 0;
}

static int value_bool(struct parser *p, struct section *s, const char *key, const char *value,
		      int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (name_index(yes, ARRAY_LEN(yes), value) >= 0) {
		*out = 1;
		return 0;
	}
	if (name_index(no, ARRAY_LEN(no), value) >= 0) {
		*out = 0;
		return 0;
	}
	parser_error(p, p->lineno, "invalid boolean '%s' for '%s' in %s (use yes or no)", value,
		     key, LABEL(p, s));
	return -1;
}

/* A decimal number in [min, max]. */
static int value_uint(struct parser *p, struct section *s, const char *key, const char *value,
		      uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *c = value;

	if (!isdigit((unsigned char)*c))
		goto invalid;
	for (; isdigit((unsigned char)*c); c++) {
		unsigned d = (unsigned)(*c - '0');

		if (v > (UINT64_MAX - d) / 10) {
			v = UINT64_MAX;
			while (isdigit((unsigned char)c[1]))
				c++;
			continue;
		}
		v = v * 10 + d;
	}
	if (*c)
		goto invalid;
	if (v < min || v > max) {
		parser_error(p, p->lineno, "'%s' in %s must be between %llu and %llu", key,
			     LABEL(p, s), (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;

invalid:
	parser_error(p, p->lineno, "invalid number '%s' for '%s' in %s", value, key, LABEL(p, s));
	return -1;
}

/* One of a table of words. */
static int value_word(struct parser *p, struct section *s, const char *key, const char *value,
		      const char *const *names, size_t n, const char *hint, int *out)
{
	int i = name_index(names, n, value);

	if (i < 0) {
		parser_error(p, p->lineno, "invalid %s '%s' in %s (use %s)", key, value,
			     LABEL(p, s), hint);
		return -1;
	}
	*out = i;
	return 0;
}

/* An attribute: a number now, a name once [attributes] has been read. */
static int value_attr(struct parser *p, struct section *s, const char *value, uint32_t *out)
{
	size_t digits = strspn(value, "0123456789");

	if (digits > 0) {
		if (digits != strlen(value) || digits > 2 || strtoul(value, NULL, 10) > CONFIG_ATTR_MAX) {
			parser_error(p, p->lineno, "invalid attr '%s' in %s (use 0..31 or a name)",
				     value, LABEL(p, s));
			return -1;
		}
		*out = (uint32_t)strtoul(value, NULL, 10);
		s->attr_name[0] = '\0';
		return 0;
	}
	if (!name_valid(value)) {
		parser_error(p, p->lineno, "invalid attr '%s' in %s (use 0..31 or a name)", value,
			     LABEL(p, s));
		return -1;
	}
	name_set(s->attr_name, value);
	*out = 0;
	return 0;
}

/* One item of a list key; records its own error and returns -1 on one. */
typedef int (*list_item_fn)(struct parser *p, struct section *s, const char *key,
			    const char *item, void *ctx);

/* Hand each comma-separated item of value to fn.  A trailing comma is
 * fine: the list may go on on a continuation line. */
static int value_list(struct parser *p, struct section *s, const char *key, const char *value,
		      list_item_fn fn, void *ctx)
{
	const char *c = value;

	for (;;) {
		char item[CONFIG_LINE_MAX + 1];
		size_t len;

		while (isspace((unsigned char)*c))
			c++;
		len = strcspn(c, ",");
		while (len && isspace((unsigned char)c[len - 1]))
			len--;
		if (len == 0) {
			if (*c == '\0' && c != value)
				return 0;
			parser_error(p, p->lineno, "empty name in '%s' in %s", key, LABEL(p, s));
			return -1;
		}
		if (len > CONFIG_LINE_MAX)
			len = CONFIG_LINE_MAX;
		memcpy(item, c, len);
		item[len] = '\0';
		if (fn(p, s, key, item, ctx))
			return -1;
		c += strcspn(c, ",");
		if (*c == '\0')
			return 0;
		c++;
		if (*c == '\0')
			return 0;
	}
}

/* A list of names being filled. */
struct name_list {
	const char *kind;                       /* names the items in messages: "region" */
	char ***names;
	size_t *n;
};

static int name_list_add(struct parser *p, struct section *s, const char *key, const char *item,
			 void *ctx)
{
	struct name_list *l = ctx;
	char **slot;

	(void)key;
	if (!name_valid(item)) {
		parser_error(p, p->lineno, "invalid %s name '%.*s' in %s", l->kind, CONFIG_NAME_MAX,
			     item, LABEL(p, s));
		return -1;
	}
	for (size_t i = 0; i < *l->n; i++) {
		if (strcmp((*l->names)[i], item) == 0) {
			parser_error(p, p->lineno, "%s '%s' listed twice in %s", l->kind, item,
				     LABEL(p, s));
			return -1;
		}
	}
	slot = array_push(l->names, l->n, sizeof(**l->names));
	if (!slot || !(*slot = strdup(item))) {
		if (slot)
			(*l->n)--;
		parser_oom(p);
		return -1;
	}
	return 0;
}

/* Append the comma-separated names of value to a list.  kind names the
 * items in messages ("region", "pool"). */
static int value_names(struct parser *p, struct section *s, const char *key, const char *value,
		       const char *kind, char ***names, size_t *n)
{
	struct name_list l = { kind, names, n };

	return value_list(p, s, key, value, name_list_add, &l);
}

/*
 * Look a user (group 0) or a group (group 1) up by name, or by *id when
 * name is NULL.  Sets *id and, when namebuf is given, the name (cut to
 * fit).  0, -ENOENT when there is no such entry, -ENOMEM, or the errno of
 * the name service.
 */
static int nss_lookup(int group, const char *name, uint32_t *id, char *namebuf, size_t namelen)
{
	struct passwd pw, *pwres = NULL;
	struct group gr, *grres = NULL;
	size_t len = 4096;
	char *buf = NULL;
	int rc;

	for (;;) {
		char *grown = realloc(buf, len);

		if (!grown) {
			free(buf);
			return -ENOMEM;
		}
		buf = grown;
		if (group && name)
			rc = getgrnam_r(name, &gr, buf, len, &grres);
		else if (group)
			rc = getgrgid_r((gid_t)*id, &gr, buf, len, &grres);
		else if (name)
			rc = getpwnam_r(name, &pw, buf, len, &pwres);
		else
			rc = getpwuid_r((uid_t)*id, &pw, buf, len, &pwres);
		if (rc != ERANGE || len >= CONFIG_NSS_BUF_MAX)
			break;
		len *= 2;
	}
	/* Not found is 0 with no result, or one of these, depending on the
	 * name service module. */
	if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
		rc = (group ? grres == NULL : pwres == NULL) ? -ENOENT : 0;
	} else {
		rc = -rc;
	}
	if (rc == 0) {
		*id = group ? (uint32_t)grres->gr_gid : (uint32_t)pwres->pw_uid;
		if (namebuf && namelen)
			snprintf(namebuf, namelen, "%s", group ? grres->gr_name : pwres->pw_name);
	}
	free(buf);
	return rc;
}

/* A list of user or group ids being filled. */
struct id_list {
	int group;
	uid_t **uids;                           /* group 0 */
	gid_t **gids;                           /* group 1 */
	size_t *n;
};

/* A user or group, by name or numeric id, resolved and appended. */
static int id_list_add(struct parser *p, struct section *s, const char *key, const char *item,
		       void *ctx)
{
	struct id_list *l = ctx;
	const char *kind = l->group ? "group" : "user";
	size_t digits = strspn(item, "0123456789");
	uint32_t id = 0;
	void *slot;
	int rc;

	if (digits > 0 && item[digits] == '\0') {
		uint64_t v = 0;

		for (const char *c = item; *c && v <= CONFIG_ID_MAX; c++)
			v = v * 10 + (uint64_t)(*c - '0');
		if (v > CONFIG_ID_MAX) {
			parser_error(p, p->lineno, "invalid %s id '%s' in %s of %s (at most %u)", kind,
				     item, key, LABEL(p, s), CONFIG_ID_MAX);
			return -1;
		}
		id = (uint32_t)v;
	} else {
		for (const char *c = item; *c; c++) {
			if (isspace((unsigned char)*c)) {
				parser_error(p, p->lineno, "invalid %s '%s' in %s of %s", kind, item, key,
					     LABEL(p, s));
				return -1;
			}
		}
		rc = nss_lookup(l->group, item, &id, NULL, 0);
		if (rc == -ENOMEM) {
			parser_oom(p);
			return -1;
		}
		if (rc == -ENOENT) {
			parser_error(p, p->lineno, "unknown %s '%s' in %s of %s", kind, item, key,
				     LABEL(p, s));
			return -1;
		}
		if (rc < 0) {
			parser_error(p, p->lineno, "cannot look up %s '%s' in %s of %s: %s", kind, item,
				     key, LABEL(p, s), strerror(-rc));
			return -1;
		}
	}
	for (size_t i = 0; i < *l->n; i++) {
		uint32_t other = l->group ? (uint32_t)(*l->gids)[i] : (uint32_t)(*l->uids)[i];

		if (other == id) {
			parser_error(p, p->lineno, "%s '%s' (%cid %u) listed twice in %s of %s", kind,
				     item, l->group ? 'g' : 'u', id, key, LABEL(p, s));
			return -1;
		}
	}
	if (l->group)
		slot = array_push(l->gids, l->n, sizeof(**l->gids));
	else
		slot = array_push(l->uids, l->n, sizeof(**l->uids));
	if (!slot) {
		parser_oom(p);
		return -1;
	}
	if (l->group)
		*(gid_t *)slot = (gid_t)id;
	else
		*(uid_t *)slot = (uid_t)id;
	return 0;
}

static int set_string(struct parser *p, char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy) {
		parser_oom(p);
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* [daemon] */

static int key_daemon_socket(struct parser *p, struct section *s, const char *value)
{
	if (value[0] != '/') {
		parser_error(p, p->lineno, "socket path '%s' in %s must be absolute", value,
			     LABEL(p, s));
		return -1;
	}
	if (strlen(value) > CONFIG_SOCKET_MAX) {
		parser_error(p, p->lineno, "socket path in %s is too long (at most %d characters)",
			     LABEL(p, s), CONFIG_SOCKET_MAX);
		return -1;
	}
	return set_string(p, &p->cfg->daemon.socket, value);
}

static int key_daemon_socket_mode(struct parser *p, struct section *s, const char *value)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 8);
	if (!isdigit((unsigned char)value[0]) || *end || errno || v > 0777) {
		parser_error(p, p->lineno, "invalid mode '%s' for 'socket_mode' in %s "
			     "(use octal such as 0660)", value, LABEL(p, s));
		return -1;
	}
	p->cfg->daemon.socket_mode = (unsigned int)v;
	return 0;
}

/* A group name or number for a key of [daemon]. */
static int value_group(struct parser *p, struct section *s, const char *key, const char *value,
		       char **dst)
{
	if (value[0] == '\0' || strpbrk(value, " \t:,")) {
		parser_error(p, p->lineno, "invalid group '%s' for '%s' in %s", value, key,
			     LABEL(p, s));
		return -1;
	}
	return set_string(p, dst, value);
}

static int key_daemon_socket_group(struct parser *p, struct section *s, const char *value)
{
	return value_group(p, s, "socket_group", value, &p->cfg->daemon.socket_group);
}

static int key_daemon_admin_group(struct parser *p, struct section *s, const char *value)
{
	return value_group(p, s, "admin_group", value, &p->cfg->daemon.admin_group);
}

/* max_clients, which [daemon] and [limits] both take, but not both at once. */
static int value_max_clients(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (p->max_clients_line) {
		parser_error(p, p->lineno, "max_clients is set in both [daemon] and [limits]");
		return -1;
	}
	if (value_uint(p, s, "max_clients", value, 1, CONFIG_MAX_CLIENTS_MAX, &v))
		return -1;
	p->cfg->daemon.max_clients = (unsigned int)v;
	p->max_clients_line = p->lineno;
	return 0;
}

static int key_daemon_max_clients(struct parser *p, struct section *s, const char *value)
{
	return value_max_clients(p, s, value);
}

static int key_daemon_log_level(struct parser *p, struct section *s, const char *value)
{
	enum log_level level;

	if (log_level_parse(value, &level) < 0) {
		parser_error(p, p->lineno, "invalid log_level '%s' in %s "
			     "(use error, warning, notice, info or debug)", value, LABEL(p, s));
		return -1;
	}
	p->cfg->daemon.log_level = level;
	return 0;
}

static int key_daemon_free_ring(struct parser *p, struct section *s, const char *value)
{
	return value_bool(p, s, "free_ring", value, &p->cfg->daemon.free_ring);
}

static const struct config_key daemon_keys[] = {
	{ "socket", key_daemon_socket, 0 },
	{ "socket_mode", key_daemon_socket_mode, 0 },
	{ "socket_group", key_daemon_socket_group, 0 },
	{ "admin_group", key_daemon_admin_group, 0 },
	{ "max_clients", key_daemon_max_clients, 0 },
	{ "log_level", key_daemon_log_level, 0 },
	{ "free_ring", key_daemon_free_ring, 0 },
	{ NULL, NULL, 0 },
};

/* [limits] */

static int key_limits_max_clients(struct parser *p, struct section *s, const char *value)
{
	return value_max_clients(p, s, value);
}

static int key_limits_max_clients_per_uid(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_uint(p, s, "max_clients_per_uid", value, 0, CONFIG_MAX_CLIENTS_MAX, &v))
		return -1;
	p->cfg->limits.max_clients_per_uid = (unsigned int)v;
	return 0;
}

static int key_limits_max_bytes_per_client(struct parser *p, struct section *s, const char *value)
{
	return value_size(p, s, "max_bytes_per_client", value, 0,
			  &p->cfg->limits.max_bytes_per_client);
}

static int key_limits_max_blocks_per_client(struct parser *p, struct section *s, const char *value)
{
	return value_uint(p, s, "max_blocks_per_client", value, 0, CONFIG_BLOCKS_MAX,
			  &p->cfg->limits.max_blocks_per_client);
}

static int key_limits_max_waits_per_client(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_uint(p, s, "max_waits_per_client", value, 1, CONFIG_MAX_WAITS_MAX, &v))
		return -1;
	p->cfg->limits.max_waits_per_client = (unsigned int)v;
	return 0;
}

static int key_limits_max_message_size(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_size(p, s, "max_message_size", value, 0, &v))
		return -1;
	if (v < CONFIG_MIN_MESSAGE || v > CONFIG_DEFAULT_MAX_MESSAGE) {
		parser_error(p, p->lineno, "'max_message_size' in %s must be between %u and %u",
			     LABEL(p, s), CONFIG_MIN_MESSAGE, CONFIG_DEFAULT_MAX_MESSAGE);
		return -1;
	}
	p->cfg->limits.max_message_size = (unsigned int)v;
	return 0;
}

static const struct config_key limits_keys[] = {
	{ "max_clients", key_limits_max_clients, 0 },
	{ "max_clients_per_uid", key_limits_max_clients_per_uid, 0 },
	{ "max_bytes_per_client", key_limits_max_bytes_per_client, 0 },
	{ "max_blocks_per_client", key_limits_max_blocks_per_client, 0 },
	{ "max_waits_per_client", key_limits_max_waits_per_client, 0 },
	{ "max_message_size", key_limits_max_message_size, 0 },
	{ NULL, NULL, 0 },
};

/* Access lists: the same four keys in [region], [pool] and [heap]. */

static struct config_acl *sec_acl(struct parser *p, struct section *s)
{
	switch (s->type) {
	case SECTION_REGION:
		return &sec_region(p, s)->acl;
	case SECTION_POOL:
		return &sec_pool(p, s)->acl;
	default:
		return &sec_heap(p, s)->acl;
	}
}

static int key_allow_users(struct parser *p, struct section *s, const char *value)
{
	struct config_acl *acl = sec_acl(p, s);
	struct id_list l = { 0, &acl->allow_users, NULL, &acl->nallow_users };

	return value_list(p, s, "allow_users", value, id_list_add, &l);
}

static int key_allow_groups(struct parser *p, struct section *s, const char *value)
{
	struct config_acl *acl = sec_acl(p, s);
	struct id_list l = { 1, NULL, &acl->allow_groups, &acl->nallow_groups };

	return value_list(p, s, "allow_groups", value, id_list_add, &l);
}

static int key_read_only_users(struct parser *p, struct section *s, const char *value)
{
	struct config_acl *acl = sec_acl(p, s);
	struct id_list l = { 0, &acl->read_only_users, NULL, &acl->nread_only_users };

	return value_list(p, s, "read_only_users", value, id_list_add, &l);
}

static int key_read_only_groups(struct parser *p, struct section *s, const char *value)
{
	struct config_acl *acl = sec_acl(p, s);
	struct id_list l = { 1, NULL, &acl->read_only_groups, &acl->nread_only_groups };

	return value_list(p, s, "read_only_groups", value, id_list_add, &l);
}

#define ACL_KEYS \
	{ "allow_users", key_allow_users, 1 }, \
	{ "allow_groups", key_allow_groups, 1 }, \
	{ "read_only_users", key_read_only_users, 1 }, \
	{ "read_only_groups", key_read_only_groups, 1 }

/* [region NAME] */

static int key_region_size(struct parser *p, struct section *s, const char *value)
{
	return value_size(p, s, "size", value, 1, &sec_region(p, s)->size);
}

static int key_region_backing(struct parser *p, struct section *s, const char *value)
{
	int b;

	if (value_word(p, s, "backing", value, backing_names, ARRAY_LEN(backing_names),
		       "memfd, shm, hugetlb or file", &b))
		return -1;
	sec_region(p, s)->backing = (enum config_backing)b;
	return 0;
}

static int key_region_path(struct parser *p, struct section *s, const char *value)
{
	return set_string(p, &sec_region(p, s)->path, value);
}

static int key_region_attr(struct parser *p, struct section *s, const char *value)
{
	return value_attr(p, s, value, &sec_region(p, s)->attr);
}

static int key_region_hugepages(struct parser *p, struct section *s, const char *value)
{
	int h;

	if (value_word(p, s, "hugepages", value, hugepages_names, ARRAY_LEN(hugepages_names),
		       "prefer or require", &h))
		return -1;
	sec_region(p, s)->hugepages = (enum config_hugepages)h;
	return 0;
}

static int key_region_page_size(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (config_size_parse(value, &v) < 0 || (v != ((uint64_t)2 << 20) && v != ((uint64_t)1 << 30))) {
		parser_error(p, p->lineno, "invalid page_size '%s' in %s (use 2M or 1G)", value,
			     LABEL(p, s));
		return -1;
	}
	sec_region(p, s)->page_size = v;
	return 0;
}

static int key_region_sync(struct parser *p, struct section *s, const char *value)
{
	return value_bool(p, s, "sync", value, &sec_region(p, s)->sync);
}

static int key_region_lock(struct parser *p, struct section *s, const char *value)
{
	return value_bool(p, s, "lock", value, &sec_region(p, s)->lock);
}

static int key_region_prefault(struct parser *p, struct section *s, const char *value)
{
	return value_bool(p, s, "prefault", value, &sec_region(p, s)->prefault);
}

static int key_region_numa_node(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_uint(p, s, "numa_node", value, 0, CONFIG_NUMA_NODE_MAX, &v))
		return -1;
	sec_region(p, s)->numa_node = (int)v;
	return 0;
}

static int key_region_scrub(struct parser *p, struct section *s, const char *value)
{
	int sc;

	if (value_word(p, s, "scrub", value, scrub_names, ARRAY_LEN(scrub_names),
		       "cross-uid, always or never", &sc))
		return -1;
	sec_region(p, s)->scrub = (enum config_scrub)sc;
	return 0;
}

enum {
	REGION_KEY_SIZE,
	REGION_KEY_BACKING,
	REGION_KEY_PATH,
	REGION_KEY_ATTR,
	REGION_KEY_HUGEPAGES,
	REGION_KEY_PAGE_SIZE,
	REGION_KEY_SYNC,
	REGION_KEY_LOCK,
	REGION_KEY_PREFAULT,
	REGION_KEY_NUMA_NODE,
	REGION_KEY_SCRUB,
};

static const struct config_key region_keys[] = {
	[REGION_KEY_SIZE] = { "size", key_region_size, 0 },
	[REGION_KEY_BACKING] = { "backing", key_region_backing, 0 },
	[REGION_KEY_PATH] = { "path", key_region_path, 0 },
	[REGION_KEY_ATTR] = { "attr", key_region_attr, 0 },
	[REGION_KEY_HUGEPAGES] = { "hugepages", key_region_hugepages, 0 },
	[REGION_KEY_PAGE_SIZE] = { "page_size", key_region_page_size, 0 },
	[REGION_KEY_SYNC] = { "sync", key_region_sync, 0 },
	[REGION_KEY_LOCK] = { "lock", key_region_lock, 0 },
	[REGION_KEY_PREFAULT] = { "prefault", key_region_prefault, 0 },
	[REGION_KEY_NUMA_NODE] = { "numa_node", key_region_numa_node, 0 },
	[REGION_KEY_SCRUB] = { "scrub", key_region_scrub, 0 },
	ACL_KEYS,
	{ NULL, NULL, 0 },
};

/* [heap NAME] */

static int key_heap_regions(struct parser *p, struct section *s, const char *value)
{
	struct config_heap *h = sec_heap(p, s);

	return value_names(p, s, "regions", value, "region", &h->regions, &h->nregions);
}

static int key_heap_max_bytes_per_client(struct parser *p, struct section *s, const char *value)
{
	return value_size(p, s, "max_bytes_per_client", value, 0,
			  &sec_heap(p, s)->max_bytes_per_client);
}

enum {
	HEAP_KEY_REGIONS,
	HEAP_KEY_MAX_BYTES_PER_CLIENT,
};

static const struct config_key heap_keys[] = {
	[HEAP_KEY_REGIONS] = { "regions", key_heap_regions, 1 },
	[HEAP_KEY_MAX_BYTES_PER_CLIENT] = { "max_bytes_per_client", key_heap_max_bytes_per_client, 0 },
	ACL_KEYS,
	{ NULL, NULL, 0 },
};

/* [pool NAME] */

static int key_pool_region(struct parser *p, struct section *s, const char *value)
{
	struct config_pool *pool = sec_pool(p, s);

	if (!name_valid(value)) {
		parser_error(p, p->lineno, "invalid region name '%s' in %s", value, LABEL(p, s));
		return -1;
	}
	name_set(pool->region, value);
	return 0;
}

static int key_pool_attr(struct parser *p, struct section *s, const char *value)
{
	return value_attr(p, s, value, &sec_pool(p, s)->attr);
}

static int key_pool_block_size(struct parser *p, struct section *s, const char *value)
{
	return value_size(p, s, "block_size", value, 1, &sec_pool(p, s)->block_size);
}

static int key_pool_blocks(struct parser *p, struct section *s, const char *value)
{
	return value_uint(p, s, "blocks", value, 1, UINT32_MAX - 1, &sec_pool(p, s)->blocks);
}

static int key_pool_align(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_size(p, s, "align", value, 1, &v))
		return -1;
	if (v & (v - 1)) {
		parser_error(p, p->lineno, "'align' in %s must be a power of two", LABEL(p, s));
		return -1;
	}
	if (v > HEAP_MAX_ALIGN) {
		parser_error(p, p->lineno, "'align' in %s must be at most 1G", LABEL(p, s));
		return -1;
	}
	sec_pool(p, s)->align = v;
	return 0;
}

static int key_pool_max_blocks_per_client(struct parser *p, struct section *s, const char *value)
{
	return value_uint(p, s, "max_blocks_per_client", value, 0, CONFIG_BLOCKS_MAX,
			  &sec_pool(p, s)->max_blocks_per_client);
}

static int key_pool_cache(struct parser *p, struct section *s, const char *value)
{
	uint64_t v;

	if (value_uint(p, s, "cache", value, 0, CONFIG_CACHE_MAX, &v))
		return -1;
	sec_pool(p, s)->cache = (unsigned int)v;
	return 0;
}

enum {
	POOL_KEY_REGION,
	POOL_KEY_ATTR,
	POOL_KEY_BLOCK_SIZE,
	POOL_KEY_BLOCKS,
	POOL_KEY_ALIGN,
	POOL_KEY_MAX_BLOCKS_PER_CLIENT,
	POOL_KEY_CACHE,
};

static const struct config_key pool_keys[] = {
	[POOL_KEY_REGION] = { "region", key_pool_region, 0 },
	[POOL_KEY_ATTR] = { "attr", key_pool_attr, 0 },
	[POOL_KEY_BLOCK_SIZE] = { "block_size", key_pool_block_size, 0 },
	[POOL_KEY_BLOCKS] = { "blocks", key_pool_blocks, 0 },
	[POOL_KEY_ALIGN] = { "align", key_pool_align, 0 },
	[POOL_KEY_MAX_BLOCKS_PER_CLIENT] = { "max_blocks_per_client", key_pool_max_blocks_per_client,
					     0 },
	[POOL_KEY_CACHE] = { "cache", key_pool_cache, 0 },
	ACL_KEYS,
	{ NULL, NULL, 0 },
};

/* [group NAME] */

static int key_group_pools(struct parser *p, struct section *s, const char *value)
{
	struct config_group *g = sec_group(p, s);

	return value_names(p, s, "pools", value, "pool", &g->pools, &g->npools);
}

static int key_group_select(struct parser *p, struct section *s, const char *value)
{
	int sel;

	if (value_word(p, s, "select", value, select_names, ARRAY_LEN(select_names),
		       "index, fit or attr", &sel))
		return -1;
	sec_group(p, s)->select = (enum config_select)sel;
	return 0;
}

enum {
	GROUP_KEY_POOLS,
	GROUP_KEY_SELECT,
};

static const struct config_key group_keys[] = {
	[GROUP_KEY_POOLS] = { "pools", key_group_pools, 1 },
	[GROUP_KEY_SELECT] = { "select", key_group_select, 0 },
	{ NULL, NULL, 0 },
};

static const struct section_kind section_kinds[] = {
	{ SECTION_DAEMON, "daemon", 0, daemon_keys },
	{ SECTION_LIMITS, "limits", 0, limits_keys },
	{ SECTION_ATTRIBUTES, "attributes", 0, NULL },
	{ SECTION_REGION, "region", 1, region_keys },
	{ SECTION_HEAP, "heap", 1, heap_keys },
	{ SECTION_POOL, "pool", 1, pool_keys },
	{ SECTION_GROUP, "group", 1, group_keys },
};

static const struct section_kind *section_kind(enum section_type type)
{
	for (size_t i = 0; i < ARRAY_LEN(section_kinds); i++) {
		if (section_kinds[i].type == type)
			return &section_kinds[i];
	}
	return NULL;
}

static void region_defaults(struct config_region *r, const char *name, int line)
{
	memset(r, 0, sizeof(*r));
	name_set(r->name, name);
	r->line = line;
	r->backing = CONFIG_BACKING_MEMFD;
	r->attr = CONFIG_ATTR_CACHEABLE;
	r->hugepages = CONFIG_HUGEPAGES_PREFER;
	r->page_size = CONFIG_DEFAULT_PAGE_SIZE;
	r->numa_node = CONFIG_NO_NUMA_NODE;
	snprintf(r->heap, sizeof(r->heap), "%s", CONFIG_DEFAULT_HEAP);
	r->scrub = CONFIG_SCRUB_CROSS_UID;
}

static void daemon_defaults(struct config_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->socket_mode = CONFIG_DEFAULT_SOCKET_MODE;
	d->max_clients = CONFIG_DEFAULT_MAX_CLIENTS;
	d->log_level = CONFIG_DEFAULT_LOG_LEVEL;
	d->free_ring = 1;
}

static void limits_defaults(struct config_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_waits_per_client = CONFIG_DEFAULT_MAX_WAITS;
	lim->max_message_size = CONFIG_DEFAULT_MAX_MESSAGE;
}

/* The line of the first section of this type and name, or 0. */
static int section_seen(struct parser *p, enum section_type type, const char *name)
{
	for (size_t i = 0; i < p->nsections; i++) {
		struct section *s = &p->sections[i];
		const char *other = NULL;

		if (s->type != type)
			continue;
		switch (type) {
		case SECTION_REGION:
			other = sec_region(p, s)->name;
			break;
		case SECTION_HEAP:
			other = sec_heap(p, s)->name;
			break;
		case SECTION_POOL:
			other = sec_pool(p, s)->name;
			break;
		case SECTION_GROUP:
			other = sec_group(p, s)->name;
			break;
		default:
			return s->line;
		}
		if (strcmp(other, name) == 0)
			return s->line;
	}
	return 0;
}

/* Checks that need the whole section: required keys and keys that only go
 * with some backings. */
static void section_end(struct parser *p)
{
	struct section *s;
	struct config_region *r;
	struct config_pool *pool;

	if (p->failed || p->nsections == 0)
		return;
	s = &p->sections[p->nsections - 1];
	switch (s->type) {
	case SECTION_REGION:
		r = sec_region(p, s);
		if (!s->key_line[REGION_KEY_SIZE]) {
			parser_error(p, s->line, "%s needs 'size'", LABEL(p, s));
			return;
		}
		if (s->key_line[REGION_KEY_PATH] && r->backing != CONFIG_BACKING_SHM &&
		    r->backing != CONFIG_BACKING_FILE) {
			parser_error(p, s->key_line[REGION_KEY_PATH],
				     "'path' in %s needs backing shm or file", LABEL(p, s));
			return;
		}
		if (s->key_line[REGION_KEY_HUGEPAGES] && r->backing != CONFIG_BACKING_HUGETLB) {
			parser_error(p, s->key_line[REGION_KEY_HUGEPAGES],
				     "'hugepages' in %s needs backing hugetlb", LABEL(p, s));
			return;
		}
		if (s->key_line[REGION_KEY_PAGE_SIZE] && r->backing != CONFIG_BACKING_HUGETLB) {
			parser_error(p, s->key_line[REGION_KEY_PAGE_SIZE],
				     "'page_size' in %s needs backing hugetlb", LABEL(p, s));
			return;
		}
		if (s->key_line[REGION_KEY_SYNC] && r->backing != CONFIG_BACKING_FILE) {
			parser_error(p, s->key_line[REGION_KEY_SYNC],
				     "'sync' in %s needs backing file", LABEL(p, s));
			return;
		}
		if (r->backing == CONFIG_BACKING_FILE && !r->path) {
			parser_error(p, s->line, "%s with backing file needs 'path'", LABEL(p, s));
			return;
		}
		if (r->backing == CONFIG_BACKING_FILE && r->path[0] == '\0') {
			parser_error(p, s->key_line[REGION_KEY_PATH], "'path' in %s must not be empty",
				     LABEL(p, s));
			return;
		}
		if (r->backing == CONFIG_BACKING_SHM && r->path) {
			if (r->path[0] != '/' || strchr(r->path + 1, '/') || r->path[1] == '\0' ||
			    strlen(r->path) > 255) {
				parser_error(p, s->key_line[REGION_KEY_PATH],
					     "invalid shm name '%s' in %s (one '/' at the start and no other)",
					     r->path, LABEL(p, s));
				return;
			}
		}
		if (r->backing == CONFIG_BACKING_SHM && !r->path) {
			char name[CONFIG_NAME_MAX + 16];

			snprintf(name, sizeof(name), "/shmpool.%s", r->name);
			set_string(p, &r->path, name);
		}
		break;
	case SECTION_HEAP:
		if (!s->key_line[HEAP_KEY_REGIONS])
			parser_error(p, s->line, "%s needs 'regions'", LABEL(p, s));
		break;
	case SECTION_POOL:
		pool = sec_pool(p, s);
		if (s->key_line[POOL_KEY_REGION] && s->key_line[POOL_KEY_ATTR]) {
			int later = s->key_line[POOL_KEY_REGION] > s->key_line[POOL_KEY_ATTR] ?
				    s->key_line[POOL_KEY_REGION] : s->key_line[POOL_KEY_ATTR];

			parser_error(p, later, "%s has both 'region' and 'attr'", LABEL(p, s));
			return;
		}
		if (!s->key_line[POOL_KEY_REGION] && !s->key_line[POOL_KEY_ATTR]) {
			parser_error(p, s->line, "%s needs 'region' or 'attr'", LABEL(p, s));
			return;
		}
		if (!s->key_line[POOL_KEY_BLOCK_SIZE]) {
			parser_error(p, s->line, "%s needs 'block_size'", LABEL(p, s));
			return;
		}
		if (!s->key_line[POOL_KEY_BLOCKS]) {
			parser_error(p, s->line, "%s needs 'blocks'", LABEL(p, s));
			return;
		}
		pool->by_attr = s->key_line[POOL_KEY_ATTR] != 0;
		if (blockpool_span_for(pool->block_size, pool->blocks, pool->align) == 0)
			parser_error(p, s->line, "%s is too large", LABEL(p, s));
		break;
	case SECTION_GROUP:
		if (!s->key_line[GROUP_KEY_POOLS])
			parser_error(p, s->line, "%s needs 'pools'", LABEL(p, s));
		break;
	default:
		break;
	}
}

/* Start the section of a header line; text is what lies between the
 * brackets. */
static void section_begin(struct parser *p, const char *text)
{
	char type[32];
	char name[CONFIG_NAME_MAX + 1];
	const struct section_kind *kind = NULL;
	struct section *s;
	const char *c = text;
	size_t len;
	void *obj;
	int first;

	while (isspace((unsigned char)*c))
		c++;
	len = strcspn(c, " \t");
	if (len >= sizeof(type))
		len = sizeof(type) - 1;
	memcpy(type, c, len);
	type[len] = '\0';
	c += strcspn(c, " \t");
	while (isspace((unsigned char)*c))
		c++;
	len = strlen(c);
	while (len && isspace((unsigned char)c[len - 1]))
		len--;
	for (size_t i = 0; i < ARRAY_LEN(section_kinds); i++) {
		if (strcmp(section_kinds[i].name, type) == 0)
			kind = &section_kinds[i];
	}
	if (!kind) {
		parser_error(p, p->lineno, "unknown section [%s]", text);
		return;
	}
	if (kind->named && len == 0) {
		parser_error(p, p->lineno, "section [%s] needs a name", kind->name);
		return;
	}
	if (!kind->named && len != 0) {
		parser_error(p, p->lineno, "section [%s] takes no name", kind->name);
		return;
	}
	if (len > CONFIG_NAME_MAX)
		len = CONFIG_NAME_MAX;
	memcpy(name, c, len);
	name[len] = '\0';
	if (kind->named && !name_valid(name)) {
		parser_error(p, p->lineno, "invalid name '%s' in [%s] "
			     "(use at most 63 letters, digits, '.', '_' or '-')", name, text);
		return;
	}
	first = section_seen(p, kind->type, name);
	if (first) {
		if (kind->named)
			parser_error(p, p->lineno, "duplicate [%s %s] (first on line %d)", kind->name,
				     name, first);
		else
			parser_error(p, p->lineno, "duplicate [%s] (first on line %d)", kind->name,
				     first);
		return;
	}

	switch (kind->type) {
	case SECTION_REGION:
		obj = array_push(&p->cfg->regions, &p->cfg->nregions, sizeof(*p->cfg->regions));
		if (obj)
			region_defaults(obj, name, p->lineno);
		break;
	case SECTION_HEAP:
		obj = array_push(&p->cfg->heaps, &p->cfg->nheaps, sizeof(*p->cfg->heaps));
		if (obj) {
			struct config_heap *h = obj;

			name_set(h->name, name);
			h->line = p->lineno;
		}
		break;
	case SECTION_POOL:
		obj = array_push(&p->cfg->pools, &p->cfg->npools, sizeof(*p->cfg->pools));
		if (obj) {
			struct config_pool *pool = obj;

			name_set(pool->name, name);
			pool->line = p->lineno;
			pool->align = CONFIG_DEFAULT_ALIGN;
		}
		break;
	case SECTION_GROUP:
		obj = array_push(&p->cfg->groups, &p->cfg->ngroups, sizeof(*p->cfg->groups));
		if (obj) {
			struct config_group *g = obj;

			name_set(g->name, name);
			g->line = p->lineno;
			g->select = CONFIG_SELECT_INDEX;
		}
		break;
	default:
		obj = p;
		break;
	}
	if (!obj) {
		parser_oom(p);
		return;
	}
	s = array_push(&p->sections, &p->nsections, sizeof(*p->sections));
	if (!s) {
		parser_oom(p);
		return;
	}
	s->type = kind->type;
	s->line = p->lineno;
	switch (kind->type) {
	case SECTION_REGION:
		s->index = p->cfg->nregions - 1;
		break;
	case SECTION_HEAP:
		s->index = p->cfg->nheaps - 1;
		break;
	case SECTION_POOL:
		s->index = p->cfg->npools - 1;
		break;
	case SECTION_GROUP:
		s->index = p->cfg->ngroups - 1;
		break;
	default:
		break;
	}
}

/* A line of [attributes]: NAME = 2..31. */
static void attribute_add(struct parser *p, struct section *s, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	struct config_attr *a;
	uint64_t v;

	if (!name_valid(name) || !isalpha((unsigned char)name[0])) {
		parser_error(p, p->lineno, "invalid attribute name '%s' "
			     "(start with a letter; use letters, digits, '.', '_' or '-')", name);
		return;
	}
	if (strcmp(name, "cacheable") == 0 || strcmp(name, "non-cacheable") == 0) {
		parser_error(p, p->lineno, "attribute name '%s' is reserved", name);
		return;
	}
	for (size_t i = 0; i < cfg->nattrs; i++) {
		if (strcmp(cfg->attrs[i].name, name) == 0) {
			parser_error(p, p->lineno, "duplicate attribute '%s' (first on line %d)", name,
				     cfg->attrs[i].line);
			return;
		}
	}
	if (value_uint(p, s, name, value, CONFIG_ATTR_USER_MIN, CONFIG_ATTR_MAX, &v))
		return;
	for (size_t i = 0; i < cfg->nattrs; i++) {
		if (cfg->attrs[i].value == v) {
			parser_error(p, p->lineno, "attribute value %llu of '%s' is already used by '%s' "
				     "(line %d)", (unsigned long long)v, name, cfg->attrs[i].name,
				     cfg->attrs[i].line);
			return;
		}
	}
	a = array_push(&cfg->attrs, &cfg->nattrs, sizeof(*cfg->attrs));
	if (!a) {
		parser_oom(p);
		return;
	}
	name_set(a->name, name);
	a->value = (uint32_t)v;
	a->line = p->lineno;
}

/* inih's handler: one "key = value" of the current section.  Errors are
 * recorded in the parser; inih is always told the line was fine so that
 * its return value only reports its own failures. */
static int parser_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct section_kind *kind;
	struct section *s;
	int i;

	(void)section;
	p->last_key = NULL;
	if (p->failed)
		return 1;
	/* config_print writes "key = value": a line with no spaces around its
	 * '=' must still fit once written back. */
	if (strlen(name) + 3 + strlen(value) > CONFIG_LINE_MAX) {
		parser_error(p, p->lineno,
			     "line too long as '%s = ...' (at most %d characters, "
			     "with a space on each side of '=')", name, CONFIG_LINE_MAX);
		return 1;
	}
	if (p->nsections == 0) {
		parser_error(p, p->lineno, "key '%s' outside of any section", name);
		return 1;
	}
	s = &p->sections[p->nsections - 1];
	if (s->type == SECTION_ATTRIBUTES) {
		attribute_add(p, s, name, value);
		return 1;
	}
	kind = section_kind(s->type);
	for (i = 0; kind->keys[i].name; i++) {
		if (strcmp(kind->keys[i].name, name) == 0)
			break;
	}
	if (!kind->keys[i].name) {
		parser_error(p, p->lineno, "unknown key '%s' in %s", name, LABEL(p, s));
		return 1;
	}
	if (s->key_line[i]) {
		parser_error(p, p->lineno, "duplicate key '%s' in %s (first on line %d)", name,
			     LABEL(p, s), s->key_line[i]);
		return 1;
	}
	s->key_line[i] = p->lineno;
	if (kind->keys[i].parse(p, s, value) == 0 && kind->keys[i].list)
		p->last_key = &kind->keys[i];
	return 1;
}

/* Where a line's key ends: at '=' or ':', or NULL when an inline comment
 * (';' after whitespace) or the end of the line comes first, as inih sees
 * it. */
static const char *line_separator(const char *line)
{
	for (const char *c = line; *c; c++) {
		if (*c == '=' || *c == ':')
			return c;
		if (*c == ';' && c > line && isspace((unsigned char)c[-1]))
			return NULL;
	}
	return NULL;
}

/* The indented line after a list key: more items for that key. */
static void parser_continuation(struct parser *p, char *text)
{
	struct section *s = &p->sections[p->nsections - 1];
	char *c;
	size_t len;

	for (c = text; *c; c++) {
		if (*c == ';' && c > text && isspace((unsigned char)c[-1])) {
			*c = '\0';
			break;
		}
	}
	len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		text[--len] = '\0';
	if (p->last_key->parse(p, s, text))
		p->last_key = NULL;
}

/* Classify one line of the file and hand inih what it should parse.
 * Section headers, comments, continuation lines and bad lines reach inih
 * as empty lines. */
static void parser_line(struct parser *p, char *line, size_t len, char *out, int num)
{
	int indented;
	char *c = line;
	char *end;
	const char *sep;

	out[0] = '\0';
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
		c += 3;
	while (len > (size_t)(c - line) && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	indented = isspace((unsigned char)*c);
	while (isspace((unsigned char)*c))
		c++;
	if (p->failed)
		return;
	if (len > CONFIG_LINE_MAX || len + 1 >= (size_t)num) {
		parser_error(p, p->lineno, "line too long (at most %d characters)", CONFIG_LINE_MAX);
		return;
	}
	if (*c == '\0') {
		p->last_key = NULL;
		return;
	}
	if (*c == ';' || *c == '#')
		return;
	if (*c == '[') {
		p->last_key = NULL;
		end = strchr(c, ']');
		if (!end) {
			parser_error(p, p->lineno, "missing ']' in section header");
			return;
		}
		*end = '\0';
		for (char *t = end + 1; *t; t++) {
			if (*t == ';' || *t == '#')
				break;
			if (!isspace((unsigned char)*t)) {
				parser_error(p, p->lineno, "unexpected text after [%s]", c + 1);
				return;
			}
		}
		section_end(p);
		section_begin(p, c + 1);
		return;
	}
	sep = line_separator(c);
	if (sep) {
		/* inih keeps a ';' right after the separator in the value, but
		 * config_print writes "key = value", where that ';' would start
		 * a comment: such a value could not be written back. */
		if (sep[1] == ';') {
			parser_error(p, p->lineno,
				     "a value cannot start with ';' (a comment needs a space before it)");
			return;
		}
		snprintf(out, (size_t)num, "%s", c);
		return;
	}
	if (indented && p->last_key) {
		parser_continuation(p, c);
		return;
	}
	parser_error(p, p->lineno, "expected 'key = value'");
}

/* inih's reader: the next line of the text, classified by parser_line. */
static char *parser_reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *start, *nl;
	size_t len;
	char *line;

	if (p->pos >= p->len)
		return NULL;
	start = p->text + p->pos;
	nl = memchr(start, '\n', p->len - p->pos);
	len = nl ? (size_t)(nl - start) : p->len - p->pos;
	p->pos += len + (nl ? 1 : 0);
	p->lineno++;
	line = malloc(len + 1);
	if (!line) {
		parser_oom(p);
		str[0] = '\0';
		return str;
	}
	memcpy(line, start, len);
	line[len] = '\0';
	parser_line(p, line, len, str, num);
	free(line);
	return str;
}

/* The section record of a config object, for the lines of its keys. */
static struct section *section_of(struct parser *p, enum section_type type, size_t index)
{
	for (size_t i = 0; i < p->nsections; i++) {
		if (p->sections[i].type == type && p->sections[i].index == index)
			return &p->sections[i];
	}
	return NULL;
}

/* Turn an attribute name given in a section into its value. */
static int resolve_attr(struct parser *p, struct section *s, int line, uint32_t *attr)
{
	if (s->attr_name[0] == '\0')
		return 0;
	if (config_attr_parse(p->cfg, s->attr_name, attr) < 0) {
		parser_error(p, line, "unknown attribute '%s' in %s", s->attr_name, LABEL(p, s));
		return -1;
	}
	return 0;
}

/* An attribute as the section named it, for messages. */
static const char *attr_label(const struct config *cfg, struct section *s, uint32_t attr,
			      char *buf, size_t len)
{
	const char *name = config_attr_name(cfg, attr);

	if (s->attr_name[0])
		return s->attr_name;
	if (name)
		return name;
	snprintf(buf, len, "%u", attr);
	return buf;
}

/* Check the names that refer to other sections, in the order regions,
 * heaps, pools, groups. */
static void parser_resolve_refs(struct parser *p, size_t *owner)
{
	struct config *cfg = p->cfg;
	struct section *s;

	for (size_t i = 0; i < cfg->nregions; i++) {
		s = section_of(p, SECTION_REGION, i);
		if (resolve_attr(p, s, s->key_line[REGION_KEY_ATTR], &cfg->regions[i].attr))
			return;
	}
	for (size_t i = 0; i < cfg->nheaps; i++) {
		struct config_heap *h = &cfg->heaps[i];

		s = section_of(p, SECTION_HEAP, i);
		for (size_t j = 0; j < h->nregions; j++) {
			struct config_region *r = NULL;
			size_t k;

			for (k = 0; k < cfg->nregions; k++) {
				if (strcmp(cfg->regions[k].name, h->regions[j]) == 0) {
					r = &cfg->regions[k];
					break;
				}
			}
			if (!r) {
				parser_error(p, s->key_line[HEAP_KEY_REGIONS], "unknown region '%s' in %s",
					     h->regions[j], LABEL(p, s));
				return;
			}
			if (owner[k]) {
				parser_error(p, s->key_line[HEAP_KEY_REGIONS],
					     "region '%s' is in both [heap %s] and [heap %s]", r->name,
					     cfg->heaps[owner[k] - 1].name, h->name);
				return;
			}
			owner[k] = i + 1;
			name_set(r->heap, h->name);
		}
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		struct config_pool *pool = &cfg->pools[i];
		uint64_t span = blockpool_span_for(pool->block_size, pool->blocks, pool->align);
		char need[32], have[32];
		int found = 0, fits = 0;

		s = section_of(p, SECTION_POOL, i);
		if (!pool->by_attr) {
			const struct config_region *r = config_region_find(cfg, pool->region);

			if (!r) {
				parser_error(p, s->key_line[POOL_KEY_REGION], "unknown region '%s' in %s",
					     pool->region, LABEL(p, s));
				return;
			}
			if (span > r->size) {
				config_size_human(span, need, sizeof(need));
				config_size_human(r->size, have, sizeof(have));
				parser_error(p, s->line, "pool '%s' needs %s but region '%s' has only %s",
					     pool->name, need, r->name, have);
				return;
			}
			continue;
		}
		if (resolve_attr(p, s, s->key_line[POOL_KEY_ATTR], &pool->attr))
			return;
		for (size_t k = 0; k < cfg->nregions; k++) {
			if (cfg->regions[k].attr != pool->attr)
				continue;
			found = 1;
			if (span <= cfg->regions[k].size)
				fits = 1;
		}
		if (!found) {
			parser_error(p, s->key_line[POOL_KEY_ATTR], "no region has attribute '%s' for %s",
				     attr_label(cfg, s, pool->attr, have, sizeof(have)), LABEL(p, s));
			return;
		}
		if (!fits) {
			config_size_human(span, need, sizeof(need));
			parser_error(p, s->line, "pool '%s' needs %s but no region with its attribute "
				     "is that large", pool->name, need);
			return;
		}
	}
	for (size_t i = 0; i < cfg->ngroups; i++) {
		struct config_group *g = &cfg->groups[i];

		s = section_of(p, SECTION_GROUP, i);
		for (size_t j = 0; j < g->npools; j++) {
			if (!config_pool_find(cfg, g->pools[j])) {
				parser_error(p, s->key_line[GROUP_KEY_POOLS], "unknown pool '%s' in %s",
					     g->pools[j], LABEL(p, s));
				return;
			}
		}
	}
}

/* Checks that need the whole file: names that refer to other sections. */
static void parser_resolve(struct parser *p)
{
	struct config *cfg = p->cfg;
	size_t *owner;

	/* owner[k]: 1 + the index of the [heap] that names region k, or 0. */
	owner = calloc(cfg->nregions + 1, sizeof(*owner));
	if (!owner) {
		parser_oom(p);
		return;
	}
	parser_resolve_refs(p, owner);
	free(owner);
}

int config_load_string(const char *text, const char *name, struct config *cfg, char *err,
		       size_t errlen)
{
	struct parser p;
	int rc;

	if (!text || !cfg)
		return -EINVAL;
	if (err && errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	daemon_defaults(&cfg->daemon);
	limits_defaults(&cfg->limits);
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.file = name ? name : "<string>";
	p.text = text;
	p.len = strlen(text);
	p.err = err;
	p.errlen = errlen;
	cfg->path = strdup(p.file);
	if (!cfg->path) {
		parser_oom(&p);
		goto fail;
	}

	rc = ini_parse_stream(parser_reader, &p, parser_handler, &p);
	if (rc < 0)
		parser_oom(&p);
	else if (rc > 0)
		parser_error(&p, rc, "syntax error");
	section_end(&p);
	if (!p.failed)
		parser_resolve(&p);
	if (p.failed)
		goto fail;
	free(p.sections);
	return 0;

fail:
	free(p.sections);
	config_free(cfg);
	return p.oom ? -ENOMEM : -EINVAL;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!path || !cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		goto fail;
	}
	for (;;) {
		size_t got;

		if (len + 1 >= cap) {
			char *grown;

			cap = cap ? cap * 2 : 8192;
			grown = realloc(text, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto fail_close;
			}
			text = grown;
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
		if (len > CONFIG_FILE_MAX) {
			rc = -EFBIG;
			goto fail_close;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = errno ? -errno : -EIO;
		goto fail_close;
	}
	fclose(f);
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		if (err && errlen)
			snprintf(err, errlen, "%s: NUL byte in file", path);
		return -EINVAL;
	}
	rc = config_load_string(text, path, cfg, err, errlen);
	free(text);
	return rc;

fail_close:
	fclose(f);
fail:
	free(text);
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}

int config_default(struct config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	daemon_defaults(&cfg->daemon);
	limits_defaults(&cfg->limits);
	cfg->path = strdup("<built-in>");
	cfg->regions = calloc(1, sizeof(*cfg->regions));
	if (!cfg->path || !cfg->regions) {
		config_free(cfg);
		return -ENOMEM;
	}
	cfg->nregions = 1;
	region_defaults(&cfg->regions[0], CONFIG_DEFAULT_REGION_NAME, 0);
	cfg->regions[0].size = CONFIG_DEFAULT_REGION_SIZE;
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->daemon.socket);
	free(cfg->daemon.socket_group);
	free(cfg->daemon.admin_group);
	free(cfg->attrs);
	for (size_t i = 0; i < cfg->nregions; i++) {
		free(cfg->regions[i].path);
		config_acl_free(&cfg->regions[i].acl);
	}
	free(cfg->regions);
	for (size_t i = 0; i < cfg->nheaps; i++) {
		names_free(cfg->heaps[i].regions, cfg->heaps[i].nregions);
		config_acl_free(&cfg->heaps[i].acl);
	}
	free(cfg->heaps);
	for (size_t i = 0; i < cfg->npools; i++)
		config_acl_free(&cfg->pools[i].acl);
	free(cfg->pools);
	for (size_t i = 0; i < cfg->ngroups; i++)
		names_free(cfg->groups[i].pools, cfg->groups[i].npools);
	free(cfg->groups);
	memset(cfg, 0, sizeof(*cfg));
}

/* Print an attribute by name when it has one. */
static void print_attr(FILE *f, const struct config *cfg, uint32_t attr)
{
	const char *name = config_attr_name(cfg, attr);

	if (name)
		fprintf(f, "attr = %s\n", name);
	else
		fprintf(f, "attr = %u\n", attr);
}

/* Item i of a list printed as "key = a, b, c", wrapped onto indented
 * continuation lines; col is where the line has got to. */
static void print_item(FILE *f, size_t *col, size_t i, const char *item, int last)
{
	size_t w = strlen(item) + 2;

	if (i > 0 && *col + w > CONFIG_PRINT_WIDTH) {
		fprintf(f, "\n\t");
		*col = 8;
	} else {
		fputc(' ', f);
		(*col)++;
	}
	*col += (size_t)fprintf(f, "%s%s", item, last ? "" : ",");
}

static void print_list(FILE *f, const char *key, char *const *names, size_t n)
{
	size_t col = (size_t)fprintf(f, "%s =", key);

	for (size_t i = 0; i < n; i++)
		print_item(f, &col, i, names[i], i + 1 == n);
	fputc('\n', f);
}

/* Whether the name service name of an id may stand for it in the file:
 * the parser takes it as a name (not all digits, no spaces), nothing in it
 * reads as a comment or a separator, and it leads back to the same id. */
static int id_name_printable(int group, const char *name, uint32_t id)
{
	uint32_t back = 0;

	if (!name[0] || strspn(name, "0123456789") == strlen(name))
		return 0;
	for (const char *c = name; *c; c++) {
		if (!isalnum((unsigned char)*c) && !strchr("._-$@", *c))
			return 0;
	}
	return nss_lookup(group, name, &back, NULL, 0) == 0 && back == id;
}

/* A list of user ids (uids) or group ids (gids), by name where there is
 * one that reads back as the same id. */
static void print_ids(FILE *f, const char *key, const uid_t *uids, const gid_t *gids, size_t n)
{
	int group = gids != NULL;
	size_t col;

	if (n == 0)
		return;
	col = (size_t)fprintf(f, "%s =", key);
	for (size_t i = 0; i < n; i++) {
		uint32_t want = group ? (uint32_t)gids[i] : (uint32_t)uids[i];
		uint32_t id = want;
		char name[CONFIG_LINE_MAX];

		if (nss_lookup(group, NULL, &id, name, sizeof(name)) < 0 ||
		    !id_name_printable(group, name, want))
			snprintf(name, sizeof(name), "%u", want);
		print_item(f, &col, i, name, i + 1 == n);
	}
	fputc('\n', f);
}

static void print_acl(FILE *f, const struct config_acl *acl)
{
	if (config_acl_empty(acl)) {
		fprintf(f, "# allow_*, read_only_*: not set, anyone who can connect\n");
		return;
	}
	print_ids(f, "allow_users", acl->allow_users, NULL, acl->nallow_users);
	print_ids(f, "allow_groups", NULL, acl->allow_groups, acl->nallow_groups);
	print_ids(f, "read_only_users", acl->read_only_users, NULL, acl->nread_only_users);
	print_ids(f, "read_only_groups", NULL, acl->read_only_groups, acl->nread_only_groups);
}

int config_print(FILE *f, const struct config *cfg)
{
	const struct config_daemon *d;
	char buf[32];

	if (!f || !cfg)
		return -EINVAL;
	d = &cfg->daemon;
	fprintf(f, "# shmpool configuration from %s, every default filled in\n\n",
		cfg->path ? cfg->path : "<none>");
	fprintf(f, "[daemon]\n");
	if (d->socket)
		fprintf(f, "socket = %s\n", d->socket);
	else
		fprintf(f, "# socket: not set, the default path applies\n");
	fprintf(f, "socket_mode = %04o\n", d->socket_mode);
	if (d->socket_group)
		fprintf(f, "socket_group = %s\n", d->socket_group);
	else
		fprintf(f, "# socket_group: not set, the daemon's group\n");
	if (d->admin_group)
		fprintf(f, "admin_group = %s\n", d->admin_group);
	else
		fprintf(f, "# admin_group: not set, only root and the daemon's user administer\n");
	fprintf(f, "max_clients = %u\n", d->max_clients);
	fprintf(f, "log_level = %s\n", log_level_name(d->log_level));
	fprintf(f, "free_ring = %s\n", d->free_ring ? "yes" : "no");

	fprintf(f, "\n[limits]\n");
	fprintf(f, "# max_clients: in [daemon]\n");
	fprintf(f, "max_clients_per_uid = %u\n", cfg->limits.max_clients_per_uid);
	config_size_format(cfg->limits.max_bytes_per_client, buf, sizeof(buf));
	fprintf(f, "max_bytes_per_client = %s\n", buf);
	fprintf(f, "max_blocks_per_client = %llu\n",
		(unsigned long long)cfg->limits.max_blocks_per_client);
	fprintf(f, "max_waits_per_client = %u\n", cfg->limits.max_waits_per_client);
	config_size_format(cfg->limits.max_message_size, buf, sizeof(buf));
	fprintf(f, "max_message_size = %s\n", buf);

	if (cfg->nattrs) {
		fprintf(f, "\n[attributes]\n");
		for (size_t i = 0; i < cfg->nattrs; i++)
			fprintf(f, "%s = %u\n", cfg->attrs[i].name, cfg->attrs[i].value);
	}

	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct config_region *r = &cfg->regions[i];

		fprintf(f, "\n[region %s]\n", r->name);
		config_size_format(r->size, buf, sizeof(buf));
		fprintf(f, "size = %s\n", buf);
		fprintf(f, "backing = %s\n", config_backing_name(r->backing));
		if (r->path && (r->backing == CONFIG_BACKING_SHM || r->backing == CONFIG_BACKING_FILE))
			fprintf(f, "path = %s\n", r->path);
		print_attr(f, cfg, r->attr);
		if (r->backing == CONFIG_BACKING_HUGETLB) {
			fprintf(f, "hugepages = %s\n", config_hugepages_name(r->hugepages));
			config_size_format(r->page_size, buf, sizeof(buf));
			fprintf(f, "page_size = %s\n", buf);
		}
		if (r->backing == CONFIG_BACKING_FILE)
			fprintf(f, "sync = %s\n", r->sync ? "yes" : "no");
		fprintf(f, "lock = %s\n", r->lock ? "yes" : "no");
		fprintf(f, "prefault = %s\n", r->prefault ? "yes" : "no");
		if (r->numa_node != CONFIG_NO_NUMA_NODE)
			fprintf(f, "numa_node = %d\n", r->numa_node);
		else
			fprintf(f, "# numa_node: not set, the kernel's policy\n");
		fprintf(f, "scrub = %s\n", config_scrub_name(r->scrub));
		print_acl(f, &r->acl);
		fprintf(f, "# heap instance: %s\n", r->heap);
	}

	for (size_t i = 0; i < cfg->nheaps; i++) {
		const struct config_heap *h = &cfg->heaps[i];

		fprintf(f, "\n[heap %s]\n", h->name);
		print_list(f, "regions", h->regions, h->nregions);
		config_size_format(h->max_bytes_per_client, buf, sizeof(buf));
		fprintf(f, "max_bytes_per_client = %s\n", buf);
		print_acl(f, &h->acl);
	}

	for (size_t i = 0; i < cfg->npools; i++) {
		const struct config_pool *pool = &cfg->pools[i];

		fprintf(f, "\n[pool %s]\n", pool->name);
		if (pool->by_attr)
			print_attr(f, cfg, pool->attr);
		else
			fprintf(f, "region = %s\n", pool->region);
		config_size_format(pool->block_size, buf, sizeof(buf));
		fprintf(f, "block_size = %s\n", buf);
		fprintf(f, "blocks = %llu\n", (unsigned long long)pool->blocks);
		config_size_format(pool->align, buf, sizeof(buf));
		fprintf(f, "align = %s\n", buf);
		fprintf(f, "max_blocks_per_client = %llu\n",
			(unsigned long long)pool->max_blocks_per_client);
		fprintf(f, "cache = %u\n", pool->cache);
		print_acl(f, &pool->acl);
	}

	for (size_t i = 0; i < cfg->ngroups; i++) {
		fprintf(f, "\n[group %s]\n", cfg->groups[i].name);
		print_list(f, "pools", cfg->groups[i].pools, cfg->groups[i].npools);
		fprintf(f, "select = %s\n", config_select_name(cfg->groups[i].select));
	}
	return ferror(f) ? -EIO : 0;
}

const struct config_region *config_region_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nregions; i++) {
		if (strcmp(cfg->regions[i].name, name) == 0)
			return &cfg->regions[i];
	}
	return NULL;
}

const struct config_pool *config_pool_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->npools; i++) {
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	}
	return NULL;
}

const struct config_group *config_group_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->ngroups; i++) {
		if (strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	}
	return NULL;
}

const struct config_heap *config_heap_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nheaps; i++) {
		if (strcmp(cfg->heaps[i].name, name) == 0)
			return &cfg->heaps[i];
	}
	return NULL;
}

int config_attr_parse(const struct config *cfg, const char *name, uint32_t *attr)
{
	size_t n;

	if (!name || !attr)
		return -EINVAL;
	if (strcmp(name, "cacheable") == 0) {
		*attr = CONFIG_ATTR_CACHEABLE;
		return 0;
	}
	if (strcmp(name, "non-cacheable") == 0) {
		*attr = CONFIG_ATTR_NON_CACHEABLE;
		return 0;
	}
	n = strspn(name, "0123456789");
	if (n > 0 && n == strlen(name)) {
		if (n > 2 || strtoul(name, NULL, 10) > CONFIG_ATTR_MAX)
			return -EINVAL;
		*attr = (uint32_t)strtoul(name, NULL, 10);
		return 0;
	}
	for (size_t i = 0; cfg && i < cfg->nattrs; i++) {
		if (strcmp(cfg->attrs[i].name, name) == 0) {
			*attr = cfg->attrs[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

const char *config_attr_name(const struct config *cfg, uint32_t attr)
{
	if (attr == CONFIG_ATTR_CACHEABLE)
		return "cacheable";
	if (attr == CONFIG_ATTR_NON_CACHEABLE)
		return "non-cacheable";
	for (size_t i = 0; cfg && i < cfg->nattrs; i++) {
		if (cfg->attrs[i].value == attr)
			return cfg->attrs[i].name;
	}
	return NULL;
}

int config_acl_empty(const struct config_acl *acl)
{
	return !acl || (acl->nallow_users == 0 && acl->nallow_groups == 0 &&
			acl->nread_only_users == 0 && acl->nread_only_groups == 0);
}

static int uid_listed(const uid_t *list, size_t n, uid_t uid)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == uid)
			return 1;
	}
	return 0;
}

/* Whether gid or one of groups is in list. */
static int gid_listed(const gid_t *list, size_t n, gid_t gid, const gid_t *groups, size_t ngroups)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == gid)
			return 1;
		for (size_t k = 0; groups && k < ngroups; k++) {
			if (list[i] == groups[k])
				return 1;
		}
	}
	return 0;
}

int config_acl_check(const struct config_acl *acl, uid_t uid, gid_t gid, const gid_t *groups,
		     size_t ngroups)
{
	if (!acl)
		return CONFIG_ACCESS_NONE;
	if (config_acl_empty(acl) || uid_listed(acl->allow_users, acl->nallow_users, uid) ||
	    gid_listed(acl->allow_groups, acl->nallow_groups, gid, groups, ngroups))
		return CONFIG_ACCESS_RW;
	if (uid_listed(acl->read_only_users, acl->nread_only_users, uid) ||
	    gid_listed(acl->read_only_groups, acl->nread_only_groups, gid, groups, ngroups))
		return CONFIG_ACCESS_READ;
	return CONFIG_ACCESS_NONE;
}

/* A copy of n ids of size elem; NULL for none, and on -ENOMEM. */
static int ids_dup(void *dst, const void *src, size_t n, size_t elem)
{
	void **d = dst;

	*d = NULL;
	if (n == 0)
		return 0;
	*d = malloc(n * elem);
	if (!*d)
		return -ENOMEM;
	memcpy(*d, src, n * elem);
	return 0;
}

int config_acl_copy(struct config_acl *dst, const struct config_acl *src)
{
	if (!dst || !src)
		return -EINVAL;
	memset(dst, 0, sizeof(*dst));
	if (ids_dup(&dst->allow_users, src->allow_users, src->nallow_users, sizeof(uid_t)) < 0 ||
	    ids_dup(&dst->allow_groups, src->allow_groups, src->nallow_groups, sizeof(gid_t)) < 0 ||
	    ids_dup(&dst->read_only_users, src->read_only_users, src->nread_only_users,
		    sizeof(uid_t)) < 0 ||
	    ids_dup(&dst->read_only_groups, src->read_only_groups, src->nread_only_groups,
		    sizeof(gid_t)) < 0)
		goto fail;
	dst->nallow_users = src->nallow_users;
	dst->nallow_groups = src->nallow_groups;
	dst->nread_only_users = src->nread_only_users;
	dst->nread_only_groups = src->nread_only_groups;
	return 0;

fail:
	config_acl_free(dst);
	return -ENOMEM;
}

void config_acl_free(struct config_acl *acl)
{
	if (!acl)
		return;
	free(acl->allow_users);
	free(acl->allow_groups);
	free(acl->read_only_users);
	free(acl->read_only_groups);
	memset(acl, 0, sizeof(*acl));
}
