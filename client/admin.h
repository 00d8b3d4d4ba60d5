/*
 * admin: the introspection and administration requests of shmpoolctl.
 *
 * Internal to the client convenience library, like client.h: these
 * functions send one request on a connection made by client_open_fd or
 * shmpool_connect and hand back the daemon's reply as it came, after
 * checking that its strings are terminated and its counts in range.
 *
 * The list functions walk a cursor: start with *cursor = 0; each call
 * returns 1 with one entry in *out and *cursor moved on, or 0 at the end.
 * Every function returns that, 0, or a negative errno.
 */
#ifndef SHMPOOL_ADMIN_H
#define SHMPOOL_ADMIN_H

#include <stdint.h>

#include "proto.h"
#include "shmpool.h"

int client_status(shmpool_t *sp, struct proto_status_reply *out);
int client_stats(shmpool_t *sp, struct proto_stats_reply *out);

int client_region_info(shmpool_t *sp, uint64_t *cursor, struct proto_region_info_reply *out);
int client_pool_info(shmpool_t *sp, uint64_t *cursor, struct proto_pool_info_reply *out);
int client_heap_info(shmpool_t *sp, uint64_t *cursor, struct proto_heap_info_reply *out);
int client_group_info(shmpool_t *sp, uint64_t *cursor, struct proto_group_info_reply *out);
int client_client_info(shmpool_t *sp, uint64_t *cursor, struct proto_client_info_reply *out);

/* Occupancy map of a pool (PROTO_MAP_POOL) or a region (PROTO_MAP_REGION)
 * in at most cells cells (1..PROTO_MAP_CELLS_MAX). */
int client_map(shmpool_t *sp, uint32_t kind, const char *name, uint32_t cells,
	       struct proto_map_reply *out);

/*
 * Ask the daemon to reload its configuration.  The report, one line per
 * change or the reason for a refusal, is in out->report whatever the
 * result, "" when the daemon sent none.
 */
int client_reload(shmpool_t *sp, struct proto_reload_reply *out);

#endif
