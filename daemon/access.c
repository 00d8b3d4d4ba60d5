/*
 * access: who may use what, and how much.  Access lists of regions, pools
 * and heap instances ([region] / [pool] / [heap] allow_* and read_only_*),
 * the quotas of [limits] and of pools and heaps, and the rule that every
 * refusal is logged once per client rather than once per request.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Record the peer's supplementary groups, as the kernel reports them. */
int access_conn_init(struct conn *c)
{
	socklen_t len = 64 * sizeof(gid_t);

	for (;;) {
		gid_t *g = realloc(c->groups, len ? len : sizeof(gid_t));

		if (!g)
			return -ENOMEM;
		c->groups = g;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0) {
			c->ngroups = len / sizeof(gid_t);
			return 0;
		}
		if (errno != ERANGE) {
			/* Older kernels: only the primary group counts. */
			c->ngroups = 0;
			return 0;
		}
	}
}

/* Root and the daemon's own uid pass every access list (they can reach the
 * segments anyway) and may administer.  The uid is cached: this is on the
 * path of every request. */
int conn_privileged(const struct conn *c)
{
	return c->uid == 0 || c->uid == c->srv->euid;
}

static int acl_access(const struct conn *c, const struct config_acl *acl)
{
	if (!acl || conn_privileged(c))
		return CONFIG_ACCESS_RW;
	return config_acl_check(acl, c->uid, c->gid, c->groups, c->ngroups);
}

const struct config_region *access_region_cfg(const struct server *srv, uint32_t region_id)
{
	if (region_id >= srv->layout->nregions)
		return NULL;
	return &srv->layout->region_cfgs[region_id];
}

int access_region(const struct server *srv, const struct conn *c, uint32_t region_id)
{
	const struct config_region *rc = access_region_cfg(srv, region_id);

	if (!server_region(srv, region_id) || !rc)
		return CONFIG_ACCESS_NONE;
	return acl_access(c, &rc->acl);
}

/* A pool is reached through its region's fd: access to it needs both. */
int access_pool(const struct server *srv, const struct conn *c, const struct dpool *p)
{
	int r = access_region(srv, c, p->lp->region_id);
	int q = acl_access(c, p->cfg ? &p->cfg->acl : NULL);

	return r < q ? r : q;
}

int access_heap(const struct server *srv, const struct conn *c, const char *instance)
{
	const struct config_heap *h = config_heap_find(&srv->cfg, instance);

	return acl_access(c, h ? &h->acl : NULL);
}

/* The read-only fd of a region, opened once: a PROT_WRITE shared mapping of
 * it fails, so a read-only client cannot write whatever it tries. */
int access_ro_fd(struct server *srv, uint32_t region_id)
{
	const struct region *reg = server_region(srv, region_id);
	char path[64];

	if (!reg)
		return -1;
	if (region_id >= srv->nro_fds) {
		uint32_t n = region_id + 16;
		int *v = realloc(srv->ro_fds, n * sizeof(*v));

		if (!v)
			return -1;
		for (uint32_t i = srv->nro_fds; i < n; i++)
			v[i] = -1;
		srv->ro_fds = v;
		srv->nro_fds = n;
	}
	if (srv->ro_fds[region_id] < 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", reg->fd);
		srv->ro_fds[region_id] = open(path, O_RDONLY | O_CLOEXEC);
		if (srv->ro_fds[region_id] < 0)
			log_error("region '%s': cannot reopen read-only: %s", reg->name,
				  strerror(errno));
	}
	return srv->ro_fds[region_id];
}

/* Close the read-only fds of regions that a reload retired. */
void access_forget_retired(struct server *srv)
{
	for (uint32_t id = 0; id < srv->nro_fds; id++) {
		if (srv->ro_fds[id] >= 0 && !server_region(srv, id)) {
			close(srv->ro_fds[id]);
			srv->ro_fds[id] = -1;
		}
	}
}

void access_fini(struct server *srv)
{
	for (uint32_t id = 0; id < srv->nro_fds; id++)
		if (srv->ro_fds[id] >= 0)
			close(srv->ro_fds[id]);
	free(srv->ro_fds);
	srv->ro_fds = NULL;
	srv->nro_fds = 0;
}

/*
 * Log a refusal of kind (a REFUSE_* bit) the first time this client earns
 * it; later refusals of the same kind only count.  A misbehaving client
 * cannot flood the log.
 */
void access_refused(struct conn *c, unsigned int kind, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	c->srv->stats.refusals++;
	if (c->refusals_logged & kind)
		return;
	c->refusals_logged |= kind;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_notice("client %llu (pid %d, uid %u, %s): %s (logged once per client)",
		   (unsigned long long)c->id, (int)c->pid, (unsigned)c->uid, c->comm, msg);
}

/* Whether c may take count more blocks of stride bytes from pool p.  The
 * blocks c caches are its own to give back before it is refused. */
int access_quota_blocks(struct conn *c, const struct dpool *p, uint32_t count)
{
	const struct config_limits *lim = &c->srv->cfg.limits;
	uint64_t held, bytes = (uint64_t)count * p->lp->bp.stride;

	if (c->nlanes && access_quota_room(c, p) < count)
		stock_steal(c->srv, c, STOCK_ALL);
	held = p->id < c->npool_blocks ? c->pool_blocks[p->id] : 0;

	if (lim->max_blocks_per_client && c->blocks_held + count > lim->max_blocks_per_client) {
		access_refused(c, REFUSE_QUOTA_BLOCKS, "max_blocks_per_client (%llu) reached",
			       (unsigned long long)lim->max_blocks_per_client);
		return -EDQUOT;
	}
	if (p->cfg && p->cfg->max_blocks_per_client &&
	    held + count > p->cfg->max_blocks_per_client) {
		access_refused(c, REFUSE_QUOTA_POOL, "max_blocks_per_client of pool '%s' (%llu) reached",
			       p->lp->name, (unsigned long long)p->cfg->max_blocks_per_client);
		return -EDQUOT;
	}
	if (lim->max_bytes_per_client && c->bytes_held + bytes > lim->max_bytes_per_client) {
		access_refused(c, REFUSE_QUOTA_BYTES, "max_bytes_per_client (%llu) reached",
			       (unsigned long long)lim->max_bytes_per_client);
		return -EDQUOT;
	}
	return 0;
}

uint64_t access_quota_room(const struct conn *c, const struct dpool *p)
{
	const struct config_limits *lim = &c->srv->cfg.limits;
	uint64_t held = p->id < c->npool_blocks ? c->pool_blocks[p->id] : 0;
	uint64_t room = UINT64_MAX;

	if (lim->max_blocks_per_client)
		room = lim->max_blocks_per_client > c->blocks_held ?
			       lim->max_blocks_per_client - c->blocks_held : 0;
	if (p->cfg && p->cfg->max_blocks_per_client) {
		uint64_t r = p->cfg->max_blocks_per_client > held ?
				     p->cfg->max_blocks_per_client - held : 0;

		room = r < room ? r : room;
	}
	if (lim->max_bytes_per_client) {
		uint64_t b = lim->max_bytes_per_client > c->bytes_held ?
				     (lim->max_bytes_per_client - c->bytes_held) / p->lp->bp.stride : 0;

		room = b < room ? b : room;
	}
	return room;
}

/* Heap bytes c holds in one instance: a short list, one entry per
 * instance the client has used. */
uint64_t *access_heap_bytes(struct conn *c, const char *instance)
{
	struct conn_heap_use *u;

	for (u = c->heap_use; u; u = u->next)
		if (strcmp(u->name, instance) == 0)
			return &u->bytes;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", instance);
	u->next = c->heap_use;
	c->heap_use = u;
	return &u->bytes;
}

/* Whether c may take size more bytes from heap instance `instance`. */
int access_quota_heap(struct conn *c, const char *instance, uint64_t size)
{
	const struct config_limits *lim = &c->srv->cfg.limits;
	const struct config_heap *h = config_heap_find(&c->srv->cfg, instance);
	uint64_t *used;

	if (c->nlanes && lim->max_bytes_per_client &&
	    c->bytes_held + size > lim->max_bytes_per_client)
		stock_steal(c->srv, c, STOCK_ALL);
	if (lim->max_bytes_per_client && c->bytes_held + size > lim->max_bytes_per_client) {
		access_refused(c, REFUSE_QUOTA_BYTES, "max_bytes_per_client (%llu) reached",
			       (unsigned long long)lim->max_bytes_per_client);
		return -EDQUOT;
	}
	if (h && h->max_bytes_per_client) {
		used = access_heap_bytes(c, instance);
		if (!used)
			return -ENOMEM;
		if (*used + size > h->max_bytes_per_client) {
			access_refused(c, REFUSE_QUOTA_HEAP,
				       "max_bytes_per_client of heap '%s' (%llu) reached", instance,
				       (unsigned long long)h->max_bytes_per_client);
			return -EDQUOT;
		}
	}
	return 0;
}

/* Whether one more client of uid may connect: -EUSERS past max_clients or
 * max_clients_per_uid. */
int access_admit(struct server *srv, struct conn *c)
{
	const struct config_limits *lim = &srv->cfg.limits;
	unsigned int same_uid = 0;

	if (srv->nconns > srv->cfg.daemon.max_clients) {
		access_refused(c, REFUSE_CLIENTS, "max_clients (%u) reached",
			       srv->cfg.daemon.max_clients);
		return -EUSERS;
	}
	if (!lim->max_clients_per_uid)
		return 0;
	for (uint32_t slot = 0; slot < srv->nconns_cap; slot++) {
		const struct conn *o = srv->conns[slot];

		if (o && o->uid == c->uid && o->hello_done)
			same_uid++;
	}
	if (same_uid >= lim->max_clients_per_uid) {
		access_refused(c, REFUSE_CLIENTS, "max_clients_per_uid (%u) reached",
			       lim->max_clients_per_uid);
		return -EUSERS;
	}
	return 0;
}
