#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SHMPOOL_RUNSTATEDIR
#define SHMPOOL_RUNSTATEDIR "/run"
#endif

struct proto_size {
	size_t min;
	size_t max;
};

#define FIXED(s) { sizeof(struct s), sizeof(struct s) }
#define INDEXED(s) { sizeof(struct s), sizeof(struct s) + PROTO_MAX_INDICES * sizeof(uint32_t) }

/* Sizes of every request a client may send, indexed by type. */
static const struct proto_size request_sizes[PROTO_TYPE_LAST + 1] = {
	[PROTO_HELLO] = FIXED(proto_hello),
	[PROTO_POOL_OPEN] = FIXED(proto_name_req),
	[PROTO_POOL_CREATE] = FIXED(proto_pool_create),
	[PROTO_POOL_DESTROY] = FIXED(proto_name_req),
	[PROTO_POOL_STAT] = FIXED(proto_pool_req),
	[PROTO_POOL_RESET_MAX] = FIXED(proto_pool_req),
	[PROTO_POOL_INFO] = FIXED(proto_cursor_req),
	[PROTO_BLOCK_ALLOC] = FIXED(proto_block_alloc),
	[PROTO_BLOCKS_GET] = FIXED(proto_blocks_get),
	[PROTO_BLOCK_FREE] = INDEXED(proto_block_free),
	[PROTO_GROUP_ALLOC] = FIXED(proto_group_alloc),
	[PROTO_HEAP_ALLOC] = FIXED(proto_heap_alloc),
	[PROTO_HEAP_FREE] = FIXED(proto_heap_free),
	[PROTO_HEAP_REALLOC] = FIXED(proto_heap_realloc),
	[PROTO_REF] = FIXED(proto_ref_req),
	[PROTO_ATTACH] = FIXED(proto_attach),
	[PROTO_SET_PRIORITY] = FIXED(proto_set_priority),
	[PROTO_STATUS] = FIXED(proto_hdr),
	[PROTO_REGION_INFO] = FIXED(proto_cursor_req),
	[PROTO_HEAP_INFO] = FIXED(proto_cursor_req),
	[PROTO_GROUP_INFO] = FIXED(proto_cursor_req),
	[PROTO_CLIENT_INFO] = FIXED(proto_cursor_req),
	[PROTO_STATS] = FIXED(proto_hdr),
	[PROTO_MAP] = FIXED(proto_map_req),
	[PROTO_RELOAD] = FIXED(proto_hdr),
	[PROTO_SYNC] = FIXED(proto_hdr),
	[PROTO_KICK] = FIXED(proto_hdr),
	[PROTO_ALIVE] = FIXED(proto_hdr),
	[PROTO_DOORBELL] = FIXED(proto_hdr),
	[PROTO_CALL] = FIXED(proto_hdr),
};

int proto_ring_append(struct proto_ring *r, uint32_t *tail, uint32_t head, const void *msg,
		      size_t len)
{
	struct proto_ring_rec rec = { .len = (uint32_t)len };
	uint32_t t = *tail, used = t - head, off = t % PROTO_RING_DATA;
	uint32_t room = PROTO_RING_DATA - off, size;

	if (len < sizeof(struct proto_hdr) || len > PROTO_RING_MSG_MAX)
		return -EMSGSIZE;
	size = (uint32_t)(sizeof(rec) + len + 7) & ~7u;
	if (used > PROTO_RING_DATA || size + (room < size ? room : 0) > PROTO_RING_DATA - used)
		return -ENOSPC;
	if (room < size) {
		struct proto_ring_rec wrap = { .len = PROTO_RING_WRAP };

		memcpy(r->data + off, &wrap, sizeof(wrap));
		t += room;
		off = 0;
	}
	memcpy(r->data + off, &rec, sizeof(rec));
	memcpy(r->data + off + sizeof(rec), msg, len);
	*tail = t + size;
	return 0;
}

int proto_request_size(uint16_t type, size_t *min, size_t *max)
{
	if (type < PROTO_TYPE_FIRST || type > PROTO_TYPE_LAST)
		return -EINVAL;
	*min = request_sizes[type].min;
	*max = request_sizes[type].max;
	return 0;
}

int proto_check_request(const void *buf, size_t len)
{
	struct proto_hdr hdr;
	size_t min, max;

	if (len < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.version != SHMPOOL_PROTO_VERSION)
		return -EPROTO;
	if (proto_request_size(hdr.type, &min, &max) < 0)
		return -EOPNOTSUPP;
	if (len < min || len > max)
		return -EBADMSG;
	if (hdr.type == PROTO_BLOCK_FREE) {
		const struct proto_block_free *f = buf;

		if (len != sizeof(*f) + (size_t)f->nindices * sizeof(uint32_t))
			return -EBADMSG;
	}
	return hdr.type;
}

int proto_free_async(const void *buf, size_t len)
{
	struct proto_hdr hdr;

	if (len < sizeof(hdr))
		return 0;
	memcpy(&hdr, buf, sizeof(hdr));
	if (len >= sizeof(struct proto_block_free) && hdr.type == PROTO_BLOCK_FREE)
		return !(((const struct proto_block_free *)buf)->flags & PROTO_F_SYNC);
	if (len >= sizeof(struct proto_heap_free) && hdr.type == PROTO_HEAP_FREE)
		return !(((const struct proto_heap_free *)buf)->flags & PROTO_F_SYNC);
	return 0;
}

int proto_call_allowed(int type, const void *buf, size_t len)
{
	switch (type) {
	case PROTO_BLOCK_ALLOC:
	case PROTO_GROUP_ALLOC:
	case PROTO_HEAP_ALLOC:
	case PROTO_HEAP_REALLOC:
	case PROTO_REF:
	case PROTO_SET_PRIORITY:
	case PROTO_POOL_STAT:
		return 1;
	case PROTO_BLOCK_FREE:
	case PROTO_HEAP_FREE:
		/* Checked by proto_check_request: long enough for its flags. */
		return !proto_free_async(buf, len);
	default:
		return 0;
	}
}

int proto_name(char *dst, const char name[PROTO_NAME_MAX], int nonempty)
{
	const char *end = memchr(name, '\0', PROTO_NAME_MAX);

	if (!end || (nonempty && end == name))
		return -EINVAL;
	memcpy(dst, name, (size_t)(end - name) + 1);
	return 0;
}

int proto_set_name(char name[PROTO_NAME_MAX], const char *src)
{
	size_t n = strlen(src);

	if (n >= PROTO_NAME_MAX)
		return -ENAMETOOLONG;
	memset(name, 0, PROTO_NAME_MAX);
	memcpy(name, src, n);
	return 0;
}

static int path_set(char *out, size_t outlen, const char *a, const char *b)
{
	int n = snprintf(out, outlen, "%s%s", a, b);

	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int proto_socket_path(const char *explicit_path, const char *config_path, char *out, size_t outlen)
{
	const char *env;

	if (explicit_path && *explicit_path)
		return path_set(out, outlen, explicit_path, "");
	if (config_path && *config_path)
		return path_set(out, outlen, config_path, "");
	env = getenv("SHMPOOL_SOCKET");
	if (env && *env)
		return path_set(out, outlen, env, "");
	if (geteuid() == 0)
		return path_set(out, outlen, SHMPOOL_RUNSTATEDIR, "/shmpool/shmpoold.sock");
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		return path_set(out, outlen, env, "/shmpool/shmpoold.sock");
	return -ENOENT;
}

int proto_send(int sock, const void *buf, size_t len, int fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd < 0) {
		/* send() costs less than sendmsg() for the same datagram. */
		do
			n = send(sock, buf, len, flags | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
	} else {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
		do
			n = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* Close every fd in a control message except the first, which is returned. */
static int take_fds(struct msghdr *msg)
{
	int first = -1;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (first < 0)
				first = fd;
			else
				close(fd);
		}
	}
	return first;
}

long proto_recv(int sock, void *buf, size_t len, int *fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*fd = take_fds(&msg);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EMSGSIZE;
	}
	return (long)n;
}

long proto_recv_plain(int sock, void *buf, size_t len, int flags)
{
	ssize_t n;

	do
		n = recv(sock, buf, len, flags | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n > len ? -EMSGSIZE : (long)n;
}
