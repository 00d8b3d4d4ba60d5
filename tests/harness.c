#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct harness *live[8];

static void harness_atexit(void)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		struct harness *h = live[i];

		if (h) {
			harness_stop(h);  /* untracks h */
			harness_cleanup(h);
		}
	}
}

static void track(struct harness *h, int on)
{
	static int registered;

	if (!registered) {
		atexit(harness_atexit);
		registered = 1;
	}
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (on && !live[i]) {
			live[i] = h;
			return;
		}
		if (!on && live[i] == h) {
			live[i] = NULL;
			return;
		}
	}
}

const char *harness_daemon_path(void)
{
	const char *p = getenv("SHMPOOLD");

	return p && *p ? p : "../daemon/shmpoold";
}

static void dump_log(const struct harness *h)
{
	char buf[4096];
	int fd = open(h->log, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	fprintf(stderr, "--- shmpoold log (%s) ---\n", h->log);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	close(fd);
}

static int can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int spawn(struct harness *h)
{
	const char *bin = harness_daemon_path();
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (h->config[0])
			execl(bin, bin, "-f", "-v", "-c", h->config, "-s", h->socket, (char *)NULL);
		else
			execl(bin, bin, "-f", "-v", "-s", h->socket, (char *)NULL);
		_exit(127);
	}
	h->pid = pid;
	for (int i = 0; i < 1000; i++) {
		int status;

		if (can_connect(h->socket)) {
			track(h, 1);
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			h->pid = 0;
			dump_log(h);
			return -ECHILD;
		}
		usleep(10000);
	}
	dump_log(h);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	h->pid = 0;
	return -ETIMEDOUT;
}

static int path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int harness_start(struct harness *h, const char *config_text)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/shmpool-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(h->dir))
		return -errno;
	if (path_join(h->socket, sizeof(h->socket), h->dir, "s.sock") < 0 ||
	    path_join(h->log, sizeof(h->log), h->dir, "shmpoold.log") < 0)
		return -ENAMETOOLONG;
	if (config_text) {
		FILE *f;

		if (path_join(h->config, sizeof(h->config), h->dir, "shmpool.conf") < 0)
			return -ENAMETOOLONG;
		f = fopen(h->config, "w");
		if (!f)
			return -errno;
		fputs(config_text, f);
		fclose(f);
	}
	return spawn(h);
}

int harness_restart(struct harness *h)
{
	return spawn(h);
}

int harness_stop(struct harness *h)
{
	int status = 0;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			track(h, 0);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	harness_kill(h);
	return -1;
}

int harness_finish(struct harness *h)
{
	int rc = harness_stop(h);

	if (rc != 0) {
		fprintf(stderr, "shmpoold exited with status %d\n", rc);
		dump_log(h);
	}
	harness_cleanup(h);
	return rc == 0 ? 0 : -1;
}

void harness_kill(struct harness *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = 0;
	track(h, 0);
}

void harness_cleanup(struct harness *h)
{
	if (!h->dir[0])
		return;
	if (h->config[0])
		unlink(h->config);
	unlink(h->log);
	unlink(h->socket);
	rmdir(h->dir);
	h->dir[0] = '\0';
}
