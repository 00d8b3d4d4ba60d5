/*
 * server: the listening socket, signals, the wait timer, and the tables of
 * connections and pools.
 */
#include "autoconf.h"
#include "log.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static void on_signal(uv_signal_t *h, int signum);
static int group_id(const char *group, gid_t *gid);
static void admin_group_resolve(struct server *srv);
static void reload_abandon(struct server *srv);
struct reload_job;
static int server_apply_config(struct server *srv, struct reload_job *job, char *report,
			       size_t len);
static void on_accept(uv_poll_t *h, int status, int events);
static void server_accept(struct server *srv);
static void on_timer(uv_timer_t *t);

int server_add_pool(struct server *srv, struct layout_pool *lp)
{
	struct dpool *p;
	uint32_t id = lp->id;
	int rc;

	if (id >= srv->npools) {
		uint32_t n = id + 16;
		struct dpool **v = realloc(srv->pools, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + srv->npools, 0, (n - srv->npools) * sizeof(*v));
		srv->pools = v;
		srv->npools = n;
	}
	rc = dpool_create(srv, lp, &p);
	if (rc < 0)
		return rc;
	srv->pools[id] = p;
	return 0;
}

/* Map the regions and set up pool state: everything that can fail because
 * of the configuration, done before the daemon forks so that errors reach
 * the terminal. */
int server_prepare(struct server *srv)
{
	char err[1024];
	int rc;

	srv->listen_fd = -1;
	srv->alive_fd = -1;
	srv->doorbell_fd = -1;
	srv->timer_when = UINT64_MAX;
	pthread_mutex_init(&srv->lock, NULL);
	srv->euid = geteuid();
	admin_group_resolve(srv);
	srv->next_conn_id = 1;
	srv->started = time(NULL);
	deadline_init(&srv->deadlines);
	rc = layout_build(&srv->cfg, &srv->layout, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		return rc;
	}
	for (size_t i = 0; i < srv->layout->npools; i++) {
		rc = server_add_pool(srv, srv->layout->pools[i]);
		if (rc < 0) {
			log_error("cannot set up pool state: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Replies are staged during a loop iteration (see client.c) and sent here:
 * before the loop blocks, and after each round of I/O callbacks. */
static void on_flush_prepare(uv_prepare_t *h)
{
	struct server *srv = h->data;

	pthread_mutex_lock(&srv->lock);
	conn_flush_replies();
	ring_relax(srv);
	pthread_mutex_unlock(&srv->lock);
}

static void on_flush_check(uv_check_t *h)
{
	struct server *srv = h->data;

	pthread_mutex_lock(&srv->lock);
	conn_flush_replies();
	conn_read_ahead(srv);
	pthread_mutex_unlock(&srv->lock);
}

int server_in_loop(const struct server *srv)
{
	return !srv->calls_running || pthread_equal(pthread_self(), srv->loop_thread);
}

void server_defer(struct server *srv)
{
	uv_async_send(&srv->defer_async);
}

/* The libuv work the call thread left (see call.c). */
static void on_defer(uv_async_t *h)
{
	struct server *srv = h->data;

	pthread_mutex_lock(&srv->lock);
	if (srv->timer_dirty) {
		srv->timer_dirty = 0;
		server_arm_timer(srv);
	}
	for (uint32_t i = 0; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		if (c && c->poll_dirty)
			conn_repoll(c);
	}
	pthread_mutex_unlock(&srv->lock);
}

/* Start serving on loop: signals, the wait timer, the reply flush, and the
 * listening socket (bound by server_listen). */
void server_start(struct server *srv, uv_loop_t *loop)
{
	srv->loop = loop;
	srv->loop_thread = pthread_self();
	srv->started_ms = uv_now(loop);
	uv_async_init(loop, &srv->defer_async, on_defer);
	srv->defer_async.data = srv;
	scrub_init();
	uv_timer_init(loop, &srv->timer);
	uv_prepare_init(loop, &srv->flush_prepare);
	srv->flush_prepare.data = srv;
	uv_check_init(loop, &srv->flush_check);
	srv->flush_check.data = srv;
	uv_prepare_start(&srv->flush_prepare, on_flush_prepare);
	uv_check_start(&srv->flush_check, on_flush_check);
	uv_signal_init(loop, &srv->sigterm);
	uv_signal_init(loop, &srv->sigint);
	uv_signal_init(loop, &srv->sighup);
	srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv->timer.data = srv;
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sighup, on_signal, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	uv_poll_init(loop, &srv->listen_poll, srv->listen_fd);
	srv->listen_poll.data = srv;
	uv_poll_start(&srv->listen_poll, UV_READABLE, on_accept);
	srv->running = 1;
}

/* Make the directory that holds the socket, as the runtime directory rules
 * expect (/run/shmpool, $XDG_RUNTIME_DIR/shmpool). */
static int make_socket_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Apply [daemon] socket_mode and socket_group to the socket file. */
int server_socket_perms(struct server *srv)
{
	const char *group = srv->cfg.daemon.socket_group;

	if (group) {
		gid_t gid;

		if (group_id(group, &gid) < 0) {
			log_error("socket_group '%s': no such group", group);
			return -ENOENT;
		}
		if (chown(srv->socket_path, (uid_t)-1, gid) < 0) {
			log_error("cannot give %s to group '%s': %s", srv->socket_path, group,
				  strerror(errno));
			return -errno;
		}
	}
	if (chmod(srv->socket_path, srv->cfg.daemon.socket_mode) < 0) {
		log_error("cannot set mode %04o on %s: %s", srv->cfg.daemon.socket_mode,
			  srv->socket_path, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * Bind the socket, taking over a stale socket file left by a crashed daemon:
 * if nothing accepts on the path, it is unlinked; if something does, another
 * daemon is running there and we refuse to start.
 */
static int bind_socket(struct server *srv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", srv->socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = make_socket_dir(srv->socket_path);
	if (rc < 0) {
		log_error("cannot create the directory of %s: %s", srv->socket_path, strerror(-rc));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int probe;

		if (errno != EADDRINUSE) {
			rc = -errno;
			log_error("cannot bind %s: %s", srv->socket_path, strerror(errno));
			goto fail;
		}
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			log_error("already running on %s", srv->socket_path);
			rc = -EADDRINUSE;
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		log_notice("taking over stale socket %s", srv->socket_path);
		unlink(srv->socket_path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			rc = -errno;
			log_error("cannot bind %s: %s", srv->socket_path, strerror(errno));
			goto fail;
		}
	}
	rc = server_socket_perms(srv);
	if (rc < 0) {
		unlink(srv->socket_path);
		goto fail;
	}
	if (listen(fd, 128) < 0) {
		rc = -errno;
		log_error("cannot listen on %s: %s", srv->socket_path, strerror(errno));
		unlink(srv->socket_path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

int server_listen(struct server *srv)
{
	int fd = -1;

#ifdef HAVE_SYSTEMD
	if (sd_listen_fds(1) == 1 &&
	    sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0) > 0) {
		fd = SD_LISTEN_FDS_START;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);

		srv->listen_activated = 1;
		if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0])
			snprintf(srv->socket_path, sizeof(srv->socket_path), "%s", sa.sun_path);
		log_info("using the socket passed by systemd: %s", srv->socket_path);
	}
#endif
	if (fd < 0) {
		fd = bind_socket(srv);
		if (fd < 0)
			return fd;
	}
	srv->listen_fd = fd;
	return 0;
}

/* Give a new connection the lowest free slot of the table. */
int server_add_conn(struct server *srv, struct conn *c)
{
	uint32_t slot;

	if (srv->nconns + 1 >= srv->nconns_cap) {
		uint32_t n = srv->nconns_cap ? srv->nconns_cap * 2 : 64;
		struct conn **v = realloc(srv->conns, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + srv->nconns_cap, 0, (n - srv->nconns_cap) * sizeof(*v));
		srv->conns = v;
		srv->nconns_cap = n;
	}
	/* Slot 0 is CONN_NONE; reuse the lowest free slot so owner arrays
	 * stay compact. */
	for (slot = 1; srv->conns[slot]; slot++)
		;
	srv->conns[slot] = c;
	c->slot = slot;
	srv->nconns++;
	return 0;
}

void server_conn_closed(struct server *srv, struct conn *c)
{
	srv->conns[c->slot] = NULL;
	srv->nconns--;
	if (srv->accept_paused && srv->running) {
		srv->accept_paused = 0;
		uv_poll_start(&srv->listen_poll, UV_READABLE, on_accept);
		log_notice("a descriptor is free again; accepting connections");
	}
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct server *srv = h->data;

	(void)events;
	if (status < 0)
		return;
	pthread_mutex_lock(&srv->lock);
	server_accept(srv);
	pthread_mutex_unlock(&srv->lock);
}

static void server_accept(struct server *srv)
{
	for (int i = 0; i < 64; i++) {
		struct conn *c;
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: stop accepting until a
				 * connection closes, instead of spinning on a
				 * socket that stays readable. */
				log_warning("accept: %s; pausing until a client leaves",
					    strerror(errno));
				uv_poll_stop(&srv->listen_poll);
				srv->accept_paused = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				log_warning("accept: %s", strerror(errno));
			}
			return;
		}
		/* Past max_clients a client is told -EUSERS at its hello; far
		 * past it, connections are not even taken. */
		if (srv->nconns >= srv->cfg.daemon.max_clients + ADMIT_SLACK) {
			log_warning("refusing a connection: max_clients (%u) reached",
				    srv->cfg.daemon.max_clients);
			srv->stats.refused_connections++;
			close(fd);
			continue;
		}
		if (conn_create(srv, fd, &c) < 0) {
			close(fd);
			continue;
		}
		if (server_add_conn(srv, c) < 0) {
			conn_close(c);
			continue;
		}
		srv->stats.connections++;
	}
}

/*
 * Deadlines are in milliseconds of uv_hrtime(), not of the loop clock: the
 * loop clock is truncated and cached at the start of an iteration, so it can
 * lag behind, and a wait measured against it could end early.  The timer
 * only wakes the loop; on_timer decides with the real clock.
 */
uint64_t server_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

void server_arm_timer(struct server *srv)
{
	struct deadline_entry *e = deadline_first(&srv->deadlines);
	uint64_t now, want = e ? e->when : UINT64_MAX;

	if (want == srv->timer_when)
		return;
	if (!server_in_loop(srv)) {
		/* A timer armed for an earlier deadline, or one gone, only
		 * wakes the loop for nothing: the loop is asked (a wake-up)
		 * only when a deadline comes before it. */
		if (want < srv->timer_when) {
			srv->timer_dirty = 1;
			server_defer(srv);
		}
		return;
	}
	srv->timer_when = want;
	if (!e) {
		uv_timer_stop(&srv->timer);
		return;
	}
	now = server_now_ms();
	uv_update_time(srv->loop);
	uv_timer_start(&srv->timer, on_timer, e->when > now ? e->when - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct server *srv = t->data;
	struct deadline_entry *e;

	pthread_mutex_lock(&srv->lock);
	srv->timer_when = UINT64_MAX;      /* it fired: armed no more */
	while ((e = deadline_first(&srv->deadlines)) && e->when <= server_now_ms()) {
		struct waiter *w = (struct waiter *)((char *)e - offsetof(struct waiter, dl));

		dpool_waiter_expired(srv, w);
	}
	server_arm_timer(srv);
	pthread_mutex_unlock(&srv->lock);
}

static void on_close_noop(uv_handle_t *h)
{
	(void)h;
}

/* Stop serving: every client is disconnected (and its holdings released),
 * the socket unlinked and the handles closed; the loop then ends. */
void server_stop(struct server *srv)
{
	if (!srv->running)
		return;
	srv->running = 0;
	calls_stop(srv);
	reload_abandon(srv);
	for (uint32_t i = 0; i < srv->nconns_cap; i++)
		if (srv->conns[i])
			conn_close(srv->conns[i]);
	uv_poll_stop(&srv->listen_poll);
	uv_close((uv_handle_t *)&srv->listen_poll, on_close_noop);
	uv_close((uv_handle_t *)&srv->timer, on_close_noop);
	uv_close((uv_handle_t *)&srv->defer_async, on_close_noop);
	conn_flush_replies();
	uv_close((uv_handle_t *)&srv->flush_prepare, on_close_noop);
	uv_close((uv_handle_t *)&srv->flush_check, on_close_noop);
	uv_close((uv_handle_t *)&srv->sigterm, on_close_noop);
	uv_close((uv_handle_t *)&srv->sigint, on_close_noop);
	uv_close((uv_handle_t *)&srv->sighup, on_close_noop);
}

/* Free everything server_prepare and server_listen made. */
void server_free(struct server *srv)
{
	if (srv->alive_fd >= 0) {
		close(srv->alive_fd);
		srv->alive_fd = -1;
	}
	calls_fini(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		if (!srv->listen_activated)
			unlink(srv->socket_path);
		srv->listen_fd = -1;
	}
	for (uint32_t i = 0; i < srv->npools; i++)
		if (srv->pools[i])
			dpool_destroy(srv->pools[i]);
	free(srv->pools);
	srv->pools = NULL;
	srv->npools = 0;
	heapalloc_fini(srv);
	access_fini(srv);
	scrub_fini(srv);
	ring_fini(srv);
	while (srv->waiter_free) {
		struct waiter *w = srv->waiter_free;

		srv->waiter_free = w->next_free;
		free(w);
	}
	if (srv->layout)
		layout_destroy(srv->layout);
	srv->layout = NULL;
	free(srv->conns);
	srv->conns = NULL;
	free(srv->scratch_index);
	srv->scratch_index = NULL;
	deadline_fini(&srv->deadlines);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	pthread_mutex_lock(&srv->lock);
	if (signum == SIGHUP) {
		log_notice("SIGHUP: reloading");
		server_reload(srv, NULL, 0);
	} else {
		log_notice("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
		srv->exit_code = 0;
		server_stop(srv);
	}
	pthread_mutex_unlock(&srv->lock);
}

/* Resolve a group name or number; -ENOENT if there is no such group. */
static int group_id(const char *group, gid_t *gid)
{
	struct group *gr = getgrnam(group);
	char *end;
	unsigned long v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(group, &end, 10);
	if (end == group || *end || errno)
		return -ENOENT;
	*gid = (gid_t)v;
	return 0;
}

/* Whether the peer of c is in group gid, primary or supplementary, as the
 * kernel reports it (SO_PEERGROUPS), not as the peer claims. */
static int conn_in_group(const struct conn *c, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (c->gid == gid)
		return 1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return 0;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/*
 * Look [daemon] admin_group up when the file is read, as the access lists'
 * names are: an admin request must not wait on a name service.  A group
 * that is not known gives nobody rights until a reload finds it.
 */
static void admin_group_resolve(struct server *srv)
{
	const char *group = srv->cfg.daemon.admin_group;
	gid_t gid;

	srv->admin_gid_set = 0;
	if (!group)
		return;
	if (group_id(group, &gid) < 0) {
		log_warning("admin_group '%s': no such group; only root and the daemon's user "
			    "administer", group);
		return;
	}
	srv->admin_gid = gid;
	srv->admin_gid_set = 1;
}

/*
 * Whether a connection may change the daemon's set of pools or reload it:
 * root, the daemon's own uid, or a member of [daemon] admin_group.
 */
int server_may_admin(const struct server *srv, const struct conn *c)
{
	if (conn_privileged(c))
		return 0;
	if (srv->admin_gid_set && conn_in_group(c, srv->admin_gid))
		return 0;
	return -EACCES;
}

int server_destroy_pool(struct server *srv, const char *name)
{
	struct layout_pool *lp = layout_pool_find(srv->layout, name);
	struct dpool *p;
	uint32_t id, region_id;
	uint64_t base, span;
	int rc;

	if (!lp)
		return -ENOENT;
	id = lp->id;
	p = id < srv->npools ? srv->pools[id] : NULL;
	if (!p || p->retired)
		return -ENOENT;
	if (lp->bp.num_free != lp->bp.num_blocks || waitq_count(&p->waiters))
		return -EBUSY;
	region_id = lp->region_id;
	base = lp->base;
	span = blockpool_span(&lp->bp);
	rc = layout_pool_destroy(srv->layout, name);
	if (rc < 0)
		return rc;
	scrub_forget(srv, region_id, base, span);
	stock_forget(srv, p);
	srv->pools[id] = NULL;
	dpool_destroy(p);
	return 0;
}

/* Log a multi-line reload report, one log line per report line. */
static void log_report(const char *what, const char *path, const char *report)
{
	const char *line = report;

	if (!*report) {
		log_notice("%s %s: no changes", what, path);
		return;
	}
	while (*line) {
		size_t n = strcspn(line, "\n");

		log_notice("%s %s: %.*s", what, path, (int)n, line);
		line += n + (line[n] == '\n');
	}
}

/* Whether a region has live allocations: blocks in one of its pools, or
 * heap allocations beyond the pools carved out of it. */
static int server_region_in_use(void *ctx, uint32_t region_id)
{
	struct server *srv = ctx;
	struct heap_stat st;
	uint64_t carved = 0;

	for (uint32_t id = 0; id < srv->npools; id++) {
		const struct dpool *p = srv->pools[id];

		if (!p || p->lp->region_id != region_id)
			continue;
		if (p->lp->bp.num_free != p->lp->bp.num_blocks)
			return 1;
		carved++;
	}
	heap_stat(server_region_heap(srv, region_id), &st);
	return st.num_used > carved;
}

/* Destroy retired pools that nobody uses any more. */
void server_reap_pools(struct server *srv)
{
	for (uint32_t id = 0; id < srv->npools; id++) {
		struct dpool *p = srv->pools[id];

		if (!p || !p->retired || p->lp->bp.num_free != p->lp->bp.num_blocks ||
		    waitq_count(&p->waiters))
			continue;
		uint32_t region_id = p->lp->region_id;
		uint64_t base = p->lp->base, span = blockpool_span(&p->lp->bp);

		if (layout_pool_remove(srv->layout, p->lp) == 0) {
			scrub_forget(srv, region_id, base, span);
			log_notice("retired pool (id %u) is unused now and was removed", id);
			stock_forget(srv, p);
			srv->pools[id] = NULL;
			dpool_destroy(p);
		}
	}
}

/*
 * Reloading.  The file is read, and its user and group names looked up, on
 * libuv's thread pool: a name service that does not answer (a directory
 * server down) must not stop the daemon from serving.  What the file says
 * is then applied in the loop: new regions, pools and groups are added,
 * removed pools retire and go once unused, and a change to a region in use
 * is refused as a whole, with the reason logged.
 *
 * One reload runs at a time.  A request for one while another runs (a
 * SIGHUP, or shmpoolctl reload) is served by the next, which starts when
 * the running one ends, so that it reads the file as it is by then.  A
 * connection that asked stops being read until its reply is sent, so its
 * replies keep the order of its requests.
 */
struct reload_job {
	uv_work_t work;
	struct server *srv;          /* NULL once the server stopped */
	uint64_t gen;
	char path[sizeof(((struct server *)0)->config_path)];
	struct config cfg;
	char err[1024];
	int rc;
};

static void reload_work(uv_work_t *w)
{
	struct reload_job *job = w->data;

	job->rc = config_load(job->path, &job->cfg, job->err, sizeof(job->err));
}

static void reload_start(struct server *srv);
static void reload_finish(struct server *srv, struct reload_job *job, int status);

static void reload_answer(struct conn *c, uint32_t id, int rc, const char *report)
{
	struct proto_reload_reply r;

	memset(&r, 0, sizeof(r));
	conn_reply_init(&r.r, PROTO_RELOAD, id, rc);
	snprintf(r.report, sizeof(r.report), "%s", report);
	conn_send(c, &r, sizeof(r), -1);
}

/* Answer the connections whose reload (gen) is done, and read them again. */
static void reload_reply(struct server *srv, uint64_t gen, int rc, const char *report)
{
	for (uint32_t i = 0; i < srv->nconns_cap; i++) {
		struct conn *c = srv->conns[i];

		if (c && !c->closing && c->reload_gen == gen) {
			c->reload_gen = 0;
			reload_answer(c, c->reload_id, rc, report);
			conn_repoll(c);
		}
	}
}

static void reload_done(uv_work_t *w, int status)
{
	struct reload_job *job = w->data;
	struct server *srv = job->srv;

	if (srv)
		pthread_mutex_lock(&srv->lock);
	reload_finish(srv, job, status);
	if (srv)
		pthread_mutex_unlock(&srv->lock);
}

static void reload_finish(struct server *srv, struct reload_job *job, int status)
{
	char report[PROTO_REPORT_MAX];
	int rc;

	if (!srv) {
		/* The server stopped meanwhile (only then is a job cancelled). */
		if (status == 0 && job->rc == 0)
			config_free(&job->cfg);
		free(job);
		return;
	}
	srv->reload = NULL;
	/* What clients hold must be exact before regions and pools change. */
	ring_settle_all(srv, NULL);
	rc = server_apply_config(srv, job, report, sizeof(report));
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s", srv->socket_path);
#endif
	reload_reply(srv, job->gen, rc, report);
	free(job);
	if (srv->reload_again) {
		srv->reload_again = 0;
		reload_start(srv);
	}
}

static void reload_start(struct server *srv)
{
	struct reload_job *job = calloc(1, sizeof(*job));

	if (!job) {
		log_error("reload: out of memory");
		reload_reply(srv, srv->reload_gen + 1, -ENOMEM, "out of memory\n");
		return;
	}
#ifdef HAVE_SYSTEMD
	sd_notify(0, "RELOADING=1");
#endif
	job->srv = srv;
	job->gen = ++srv->reload_gen;
	job->work.data = job;
	snprintf(job->path, sizeof(job->path), "%s", srv->config_path);
	/* Fails only without a work callback. */
	(void)uv_queue_work(srv->loop, &job->work, reload_work, reload_done);
	srv->reload = job;
}

void server_reload(struct server *srv, struct conn *c, uint32_t id)
{
	if (!srv->config_path[0]) {
		log_notice("reload: no configuration file, nothing to do");
		if (c)
			reload_answer(c, id, 0,
				      "no configuration file: running on the built-in default\n");
		return;
	}
	if (c) {
		/* Served by the reload that starts next: this one's if none
		 * runs, else the one after it. */
		c->reload_gen = srv->reload_gen + 1;
		c->reload_id = id;
		conn_repoll(c);
	}
	if (srv->reload)
		srv->reload_again = 1;
	else
		reload_start(srv);
}

/* A reload still running when the server stops: its result is dropped, and
 * the loop does not wait for a file or a name service that may never
 * answer. */
static void reload_abandon(struct server *srv)
{
	struct reload_job *job = srv->reload;

	if (!job)
		return;
	srv->reload = NULL;
	srv->reload_again = 0;
	job->srv = NULL;
	if (uv_cancel((uv_req_t *)&job->work) < 0)
		uv_stop(srv->loop);
}

static int ids_same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static int acl_same(const struct config_acl *a, const struct config_acl *b)
{
	return ids_same(a->allow_users, a->nallow_users, b->allow_users, b->nallow_users) &&
	       ids_same(a->allow_groups, a->nallow_groups, b->allow_groups, b->nallow_groups) &&
	       ids_same(a->read_only_users, a->nread_only_users, b->read_only_users,
			b->nread_only_users) &&
	       ids_same(a->read_only_groups, a->nread_only_groups, b->read_only_groups,
			b->nread_only_groups);
}

/*
 * Report what a reload changes in who may use what and how much: [limits],
 * the access lists, quotas and scrub policies of the regions, pools and heap
 * instances that stay (layout_reload reports what comes and goes).
 */
static void report_access_changes(const struct config *o, const struct config *n, char *report,
				  size_t len)
{
	const struct config_limits *ol = &o->limits, *nl = &n->limits;

	if (ol->max_clients_per_uid != nl->max_clients_per_uid)
		layout_report_add(report, len, "[limits] max_clients_per_uid changed to %u",
			   nl->max_clients_per_uid);
	if (ol->max_bytes_per_client != nl->max_bytes_per_client)
		layout_report_add(report, len, "[limits] max_bytes_per_client changed to %llu",
			   (unsigned long long)nl->max_bytes_per_client);
	if (ol->max_blocks_per_client != nl->max_blocks_per_client)
		layout_report_add(report, len, "[limits] max_blocks_per_client changed to %llu",
			   (unsigned long long)nl->max_blocks_per_client);
	if (ol->max_waits_per_client != nl->max_waits_per_client)
		layout_report_add(report, len, "[limits] max_waits_per_client changed to %u",
			   nl->max_waits_per_client);
	if (ol->max_message_size != nl->max_message_size)
		layout_report_add(report, len, "[limits] max_message_size changed to %u",
			   nl->max_message_size);
	if (o->daemon.free_ring != n->daemon.free_ring)
		layout_report_add(report, len, "[daemon] free_ring changed to %s (for new connections)",
				  n->daemon.free_ring ? "yes" : "no");
	for (size_t i = 0; i < n->nregions; i++) {
		const struct config_region *nr = &n->regions[i];
		const struct config_region *or = config_region_find(o, nr->name);

		if (!or)
			continue;
		if (!acl_same(&or->acl, &nr->acl))
			layout_report_add(report, len, "region '%s': access lists changed", nr->name);
		if (or->scrub != nr->scrub)
			layout_report_add(report, len, "region '%s': scrub changed to %s", nr->name,
				   config_scrub_name(nr->scrub));
	}
	for (size_t i = 0; i < n->npools; i++) {
		const struct config_pool *np = &n->pools[i];
		const struct config_pool *op = config_pool_find(o, np->name);

		if (!op)
			continue;
		if (!acl_same(&op->acl, &np->acl))
			layout_report_add(report, len, "pool '%s': access lists changed", np->name);
		if (op->max_blocks_per_client != np->max_blocks_per_client)
			layout_report_add(report, len, "pool '%s': max_blocks_per_client changed to %llu",
				   np->name, (unsigned long long)np->max_blocks_per_client);
		if (op->cache != np->cache)
			layout_report_add(report, len,
					  "pool '%s': cache changed to %u",
					  np->name, np->cache);
	}
	for (size_t i = 0; i < n->nheaps; i++) {
		const struct config_heap *nh = &n->heaps[i];
		const struct config_heap *oh = config_heap_find(o, nh->name);

		if (!oh)
			continue;
		if (!acl_same(&oh->acl, &nh->acl))
			layout_report_add(report, len, "heap '%s': access lists changed", nh->name);
		if (oh->max_bytes_per_client != nh->max_bytes_per_client)
			layout_report_add(report, len, "heap '%s': max_bytes_per_client changed to %llu",
				   nh->name, (unsigned long long)nh->max_bytes_per_client);
	}
}

/* Regions that stay and become cross-uid lose their write history. */
static void scrub_reload(struct server *srv, const struct config *o)
{
	for (uint32_t id = 0; id < srv->layout->nregions; id++) {
		const struct config_region *nr = access_region_cfg(srv, id);
		const struct config_region *or;

		if (!server_region(srv, id) || !nr || nr->scrub != CONFIG_SCRUB_CROSS_UID)
			continue;
		or = config_region_find(o, nr->name);
		if (or && or->scrub != CONFIG_SCRUB_CROSS_UID)
			scrub_history_lost(srv, id);
	}
}

/* Apply a file the reload read (job), between the notifications to systemd;
 * report receives one line per change, or the refusal. */
static int server_apply_config(struct server *srv, struct reload_job *job, char *report,
			       size_t len)
{
	struct config cfg;
	int rc;

	report[0] = '\0';
	if (job->rc < 0) {
		snprintf(report, len, "%s\n", job->err);
		log_report("reload refused", job->path, report);
		return job->rc;
	}
	cfg = job->cfg;
	rc = layout_reload(srv->layout, &cfg, server_region_in_use, srv, report, len);
	if (rc < 0) {
		log_report("reload refused", srv->config_path, report);
		config_free(&cfg);
		return rc;
	}
	/* Pools of a retired region went with it (they were unused). */
	for (uint32_t id = 0; id < srv->npools; id++) {
		if (srv->pools[id] && !layout_pool_by_id(srv->layout, id)) {
			stock_forget(srv, srv->pools[id]);
			dpool_destroy(srv->pools[id]);
			srv->pools[id] = NULL;
		}
	}
	for (size_t i = 0; i < srv->layout->npools; i++) {
		struct layout_pool *lp = srv->layout->pools[i];

		if (lp->id < srv->npools && srv->pools[lp->id]) {
			srv->pools[lp->id]->retired = lp->retired;
			continue;
		}
		rc = server_add_pool(srv, lp);
		if (rc < 0)
			log_error("reload: cannot set up pool '%s': %s", lp->name, strerror(-rc));
	}
	server_reap_pools(srv);
	report_access_changes(&srv->cfg, &cfg, report, len);
	scrub_reload(srv, &srv->cfg);
	config_free(&srv->cfg);
	srv->cfg = cfg;
	/* Access lists and quotas come from the new file from now on. */
	for (uint32_t id = 0; id < srv->npools; id++)
		if (srv->pools[id])
			srv->pools[id]->cfg = srv->pools[id]->retired ? NULL :
					      config_pool_find(&srv->cfg, srv->pools[id]->lp->name);
	/* Frees of a retired pool's blocks come at once until it goes, and
	 * those of a pool now zeroed on every free always do. */
	for (uint32_t id = 0; id < srv->npools; id++) {
		struct dpool *p = srv->pools[id];

		if (p && ((p->retired && p->nlanes) ||
			  (p->cfg && p->cfg->cache && scrub_on_free(srv, p))))
			ring_pull(srv, NULL, p);
	}
	access_forget_retired(srv);
	admin_group_resolve(srv);
	if (!srv->verbose)
		log_set_level(srv->cfg.daemon.log_level);
	if (!srv->listen_activated)
		server_socket_perms(srv);
	log_report("reloaded", srv->config_path, report);
	return 0;
}
