/*
 * systemd integration without systemd: the daemon's sd_notify messages are
 * read from a fake NOTIFY_SOCKET, and socket activation is done the way
 * systemd does it, a listening fd 3 with LISTEN_FDS and LISTEN_PID.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmpool.h"

static char dir[] = "/tmp/shmpool-systemd-XXXXXX";

static const char config[] =
	"[region r0]\n"
	"size = 1M\n"
	"[pool p]\n"
	"region = r0\n"
	"block_size = 4096\n"
	"blocks = 8\n";

static void path_in_dir(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static int unix_socket(int type, const char *path, struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	return fd;
}

/* Start shmpoold -f with extra environment; listen_fd >= 0 becomes fd 3 of
 * the daemon, announced through LISTEN_FDS/LISTEN_PID. */
static pid_t spawn(const char *conf, const char *sock, const char *notify, int listen_fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		const char *bin = harness_daemon_path();
		char pidbuf[32];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (notify)
			setenv("NOTIFY_SOCKET", notify, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		if (listen_fd >= 0) {
			if (listen_fd != 3 && dup2(listen_fd, 3) < 0)
				_exit(126);
			fcntl(3, F_SETFD, 0);
			snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", pidbuf, 1);
		}
		execl(bin, bin, "-f", "-c", conf, "-s", sock, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Read one notification datagram, waiting up to 10 s. */
static void notify_read(int fd, char *buf, size_t len)
{
	struct timeval tv = { .tv_sec = 10 };
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, len - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void write_config(char *conf, size_t len)
{
	FILE *f;

	path_in_dir(conf, len, "shmpool.conf");
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(config, f);
	fclose(f);
}

static void test_notify(void **state)
{
	char conf[512], sock[108], notify[108], msg[1024], want[512];
	struct sockaddr_un sa;
	int nfd;
	pid_t pid;

	(void)state;
	write_config(conf, sizeof(conf));
	path_in_dir(sock, sizeof(sock), "d.sock");
	path_in_dir(notify, sizeof(notify), "notify");
	nfd = unix_socket(SOCK_DGRAM, notify, &sa);
	assert_int_equal(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	pid = spawn(conf, sock, notify, -1);
	notify_read(nfd, msg, sizeof(msg));
	snprintf(want, sizeof(want), "READY=1\nSTATUS=serving on %s\nMAINPID=%d", sock, (int)pid);
	assert_string_equal(msg, want);

	/* A reload is announced as systemd expects for Type=notify. */
	kill(pid, SIGHUP);
	notify_read(nfd, msg, sizeof(msg));
	assert_string_equal(msg, "RELOADING=1");
	notify_read(nfd, msg, sizeof(msg));
	snprintf(want, sizeof(want), "READY=1\nSTATUS=serving on %s", sock);
	assert_string_equal(msg, want);

	kill(pid, SIGTERM);
	notify_read(nfd, msg, sizeof(msg));
	assert_string_equal(msg, "STOPPING=1");
	assert_int_equal(reap(pid), 0);
	assert_int_equal(access(sock, F_OK), -1);
	close(nfd);
	unlink(notify);
	unlink(conf);
}

static void test_socket_activation(void **state)
{
	char conf[512], sock[108], unused[108];
	struct sockaddr_un sa;
	shmpool_t *sp = NULL;
	shmpool_pool_t *pool;
	struct shmpool_pool_stat st;
	void *block;
	int lfd, rc;
	pid_t pid;

	(void)state;
	write_config(conf, sizeof(conf));
	path_in_dir(sock, sizeof(sock), "activated.sock");
	path_in_dir(unused, sizeof(unused), "not-bound.sock");
	lfd = unix_socket(SOCK_SEQPACKET, sock, &sa);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 16), 0);

	/* -s names another path: the passed socket must win, as under systemd. */
	pid = spawn(conf, unused, NULL, lfd);
	/* The listening socket exists before the daemon does, so a client may
	 * connect at once; its hello waits in the backlog. */
	rc = shmpool_connect(sock, &sp);
	assert_int_equal(rc, 0);
	assert_int_equal(shmpool_pool_open(sp, "p", &pool), 0);
	assert_int_equal(shmpool_block_alloc(pool, &block, SHMPOOL_NO_WAIT), 0);
	memset(block, 0x3c, 4096);
	assert_int_equal(shmpool_pool_stat(pool, &st), 0);
	assert_int_equal(st.num_used, 1);
	assert_int_equal(shmpool_block_free(pool, block), 0);
	shmpool_pool_close(pool);
	shmpool_disconnect(sp);
	assert_int_equal(access(unused, F_OK), -1);

	kill(pid, SIGTERM);
	assert_int_equal(reap(pid), 0);
	/* The socket belongs to systemd: the daemon leaves it in place. */
	assert_int_equal(access(sock, F_OK), 0);
	close(lfd);
	unlink(sock);
	unlink(conf);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_socket_activation),
	};

#ifndef HAVE_SYSTEMD
	printf("skipped: shmpoold was built without libsystemd\n");
	return 77;
#endif
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
