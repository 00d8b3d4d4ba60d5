/*
 * admin: the introspection and administration requests of shmpoolctl.
 *
 * Each request is one call on the connection, like every other request of
 * the library.  The replies are checked before anyone reads them: a string
 * field that is not terminated, a count beyond its array or a list cursor
 * that does not move is -EBADMSG, so that a confused daemon cannot make
 * shmpoolctl read past a buffer or loop for ever.
 */
#include "admin.h"
#include "client.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* The list replies share their first two fields, which admin_list reads. */
struct admin_list_head {
	struct proto_reply_hdr r;
	uint64_t next_cursor;
};

#define LIST_HEAD_OK(type) \
	_Static_assert(offsetof(struct type, next_cursor) == \
		       offsetof(struct admin_list_head, next_cursor), #type " starts as a list reply")

LIST_HEAD_OK(proto_pool_info_reply);
LIST_HEAD_OK(proto_region_info_reply);
LIST_HEAD_OK(proto_heap_info_reply);
LIST_HEAD_OK(proto_group_info_reply);
LIST_HEAD_OK(proto_client_info_reply);

#define STR_OK(field) (memchr((field), '\0', sizeof(field)) != NULL)

/*
 * Send one request and copy its reply into out, zero-filled past what the
 * daemon sent, so that an older daemon's shorter reply reads as zeros.
 * Returns the reply's status or -errno.
 */
static int admin_call(shmpool_t *sp, void *msg, size_t len, void *out, size_t outlen)
{
	struct client_pending p;
	int rc;

	if (outlen > sizeof(p.reply))
		return -EINVAL;
	rc = client_conn_enter(sp);
	if (rc < 0)
		return rc;
	client_pending_init(&p);
	memset(&p.reply, 0, outlen);
	rc = client_call(sp, &p, msg, len);
	memcpy(out, &p.reply, outlen);
	client_conn_leave(sp);
	return rc;
}

/* A request that is nothing but its header. */
static int admin_simple(shmpool_t *sp, uint16_t type, void *out, size_t outlen)
{
	struct proto_hdr m;

	if (!sp || !out)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.type = type;
	return admin_call(sp, &m, sizeof(m), out, outlen);
}

/* One step of a cursor walk: 1 with an entry, 0 at the end, or -errno. */
static int admin_list(shmpool_t *sp, uint16_t type, uint64_t *cursor, void *out, size_t outlen)
{
	const struct admin_list_head *head = out;
	struct proto_cursor_req m;
	int rc;

	if (!sp || !cursor || !out)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.cursor = *cursor;
	rc = admin_call(sp, &m, sizeof(m), out, outlen);
	if (rc < 0)
		return rc;
	if (rc > 1 || (rc == 1 && head->next_cursor == *cursor))
		return -EBADMSG;
	*cursor = head->next_cursor;
	return rc;
}

int client_status(shmpool_t *sp, struct proto_status_reply *out)
{
	int rc = admin_simple(sp, PROTO_STATUS, out, sizeof(*out));

	if (rc > 0 || (rc == 0 && (!STR_OK(out->version) || !STR_OK(out->socket) ||
				   !STR_OK(out->config))))
		return -EBADMSG;
	return rc;
}

int client_stats(shmpool_t *sp, struct proto_stats_reply *out)
{
	int rc = admin_simple(sp, PROTO_STATS, out, sizeof(*out));

	return rc > 0 ? -EBADMSG : rc;
}

int client_region_info(shmpool_t *sp, uint64_t *cursor, struct proto_region_info_reply *out)
{
	int rc = admin_list(sp, PROTO_REGION_INFO, cursor, out, sizeof(*out));

	if (rc == 1 && (!STR_OK(out->name) || !STR_OK(out->backing) || !STR_OK(out->obtained) ||
			!STR_OK(out->attr_name) || !STR_OK(out->heap) || !STR_OK(out->path)))
		return -EBADMSG;
	return rc;
}

int client_pool_info(shmpool_t *sp, uint64_t *cursor, struct proto_pool_info_reply *out)
{
	int rc = admin_list(sp, PROTO_POOL_INFO, cursor, out, sizeof(*out));

	if (rc == 1 && (!STR_OK(out->name) || !STR_OK(out->region) || !STR_OK(out->attr_name) ||
			out->num_free > out->num_blocks || out->min_free > out->num_free))
		return -EBADMSG;
	return rc;
}

int client_heap_info(shmpool_t *sp, uint64_t *cursor, struct proto_heap_info_reply *out)
{
	int rc = admin_list(sp, PROTO_HEAP_INFO, cursor, out, sizeof(*out));

	if (rc == 1 && (!STR_OK(out->heap) || !STR_OK(out->region) || !STR_OK(out->attr_name) ||
			out->largest_free > out->free))
		return -EBADMSG;
	return rc;
}

int client_group_info(shmpool_t *sp, uint64_t *cursor, struct proto_group_info_reply *out)
{
	int rc = admin_list(sp, PROTO_GROUP_INFO, cursor, out, sizeof(*out));

	if (rc != 1)
		return rc;
	if (!STR_OK(out->name) || !STR_OK(out->select_name))
		return -EBADMSG;
	for (uint32_t i = 0; i < out->npools && i < PROTO_GROUP_POOLS_MAX; i++)
		if (!STR_OK(out->pools[i]))
			return -EBADMSG;
	return rc;
}

int client_client_info(shmpool_t *sp, uint64_t *cursor, struct proto_client_info_reply *out)
{
	int rc = admin_list(sp, PROTO_CLIENT_INFO, cursor, out, sizeof(*out));

	if (rc == 1 && !STR_OK(out->comm))
		return -EBADMSG;
	return rc;
}

int client_map(shmpool_t *sp, uint32_t kind, const char *name, uint32_t cells,
	       struct proto_map_reply *out)
{
	struct proto_map_req m;
	int rc;

	if (!sp || !name || !*name || !out || cells == 0 || cells > PROTO_MAP_CELLS_MAX ||
	    (kind != PROTO_MAP_POOL && kind != PROTO_MAP_REGION))
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	rc = proto_set_name(m.name, name);
	if (rc < 0)
		return rc;
	m.hdr.type = PROTO_MAP;
	m.kind = kind;
	m.cells = cells;
	rc = admin_call(sp, &m, sizeof(m), out, sizeof(*out));
	if (rc < 0)
		return rc;
	if (rc > 0 || out->kind != kind || out->ncells == 0 || out->ncells > cells ||
	    out->used_units > out->units)
		return -EBADMSG;
	return 0;
}

int client_reload(shmpool_t *sp, struct proto_reload_reply *out)
{
	int rc;

	if (!sp || !out)
		return -EINVAL;
	rc = admin_simple(sp, PROTO_RELOAD, out, sizeof(*out));
	/* A report that is not a string is dropped, whatever the status. */
	if (!STR_OK(out->report)) {
		out->report[0] = '\0';
		if (rc >= 0)
			rc = -EBADMSG;
	}
	return rc > 0 ? -EBADMSG : rc;
}
