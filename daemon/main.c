/*
 * shmpoold: serve shared-memory pools and heaps to client processes.
 */
#include "autoconf.h"
#include "log.h"
#include "proto.h"
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#ifndef SHMPOOL_SYSCONFDIR
#define SHMPOOL_SYSCONFDIR "/etc"
#endif

#define DEFAULT_CONFIG SHMPOOL_SYSCONFDIR "/shmpool.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shmpoold [-f|--foreground] [-c FILE] [-s SOCKET] [-t] [--print-config] [-v] [-V]\n"
		"  -f, --foreground    stay in the foreground and log to stderr\n"
		"  -c, --config FILE   configuration file (default %s; built-in default if absent)\n"
		"  -s, --socket PATH   listen on PATH\n"
		"  -t, --test          check the configuration and exit 0 or 1\n"
		"      --print-config  print the effective configuration and exit\n"
		"  -v, --verbose       log more (repeat for debug)\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		DEFAULT_CONFIG);
}

/*
 * Fork into the background.  The parent waits on a pipe until the child
 * reports that it is listening (or why it failed), so the exit status of
 * `shmpoold` tells whether the daemon is really up.
 */
static int daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char status = 1;

		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	*notify_fd = p[1];
	return 0;
}

static void report_ready(int notify_fd, char status)
{
	if (notify_fd >= 0) {
		if (write(notify_fd, &status, 1) != 1)
			log_warning("cannot report start-up status to the parent: %s", strerror(errno));
		close(notify_fd);
	}
}

/* Every client costs a descriptor: use all the kernel allows us rather than
 * the historical soft limit of 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warning("cannot raise the open-file limit: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "test", no_argument, NULL, 't' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *socket_arg = NULL;
	int foreground = 0, test = 0, print = 0, verbose = 0, busy, opt, rc;
	int notify_fd = -1;
	char err[1024];
	struct server srv;
	/* Static: a reload abandoned at stop keeps it busy (see server.c), and
	 * what it holds then stays reachable until exit. */
	static uv_loop_t loop;
	sigset_t sigs;

	while ((opt = getopt_long(argc, argv, "fc:s:tvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			foreground = 1;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 's':
			socket_arg = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'P':
			print = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("shmpoold %s (protocol %d)\n", PACKAGE_VERSION, SHMPOOL_PROTO_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shmpoold: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	log_open("shmpoold", 0);
	memset(&srv, 0, sizeof(srv));
	if (!config_path && access(DEFAULT_CONFIG, F_OK) == 0)
		config_path = DEFAULT_CONFIG;
	if (config_path) {
		rc = config_load(config_path, &srv.cfg, err, sizeof(err));
		if (rc == 0)
			snprintf(srv.config_path, sizeof(srv.config_path), "%s", config_path);
	} else {
		rc = config_default(&srv.cfg);
		if (rc < 0)
			snprintf(err, sizeof(err), "cannot set up the default configuration: %s",
				 strerror(-rc));
	}
	if (rc < 0) {
		fprintf(stderr, "shmpoold: %s\n", err);
		return 1;
	}
	if (print) {
		config_print(stdout, &srv.cfg);
		config_free(&srv.cfg);
		return 0;
	}
	if (test) {
		struct layout *l;

		/* Mapping the regions is part of the check: a hugetlb region
		 * that cannot get its pages is a configuration error. */
		rc = layout_build(&srv.cfg, &l, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "shmpoold: %s\n", err);
			config_free(&srv.cfg);
			return 1;
		}
		layout_destroy(l);
		fprintf(stderr, "shmpoold: configuration %s is valid\n",
			config_path ? config_path : "(built-in default)");
		config_free(&srv.cfg);
		return 0;
	}

	srv.verbose = verbose;
	if (verbose)
		log_set_level(verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	else
		log_set_level(srv.cfg.daemon.log_level);
	rc = proto_socket_path(socket_arg, srv.cfg.daemon.socket, srv.socket_path,
			       sizeof(srv.socket_path));
	if (rc < 0) {
		fprintf(stderr, "shmpoold: cannot choose a socket path: %s (use -s, [daemon] socket, "
			"$SHMPOOL_SOCKET or $XDG_RUNTIME_DIR)\n",
			rc == -ENAMETOOLONG ? "path too long" : "no rule applies");
		config_free(&srv.cfg);
		return 1;
	}

	raise_fd_limit();
	/* Signals wait until their handlers exist: a SIGTERM that arrives once
	 * the socket accepts must still stop the daemon cleanly. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	rc = server_prepare(&srv);
	if (rc == 0)
		rc = server_listen(&srv);
	if (rc < 0) {
		server_free(&srv);
		config_free(&srv.cfg);
		return 1;
	}
	if (!foreground) {
		rc = daemonize(&notify_fd);
		if (rc < 0) {
			fprintf(stderr, "shmpoold: cannot daemonize: %s\n", strerror(-rc));
			server_free(&srv);
			config_free(&srv.cfg);
			return 1;
		}
		log_open("shmpoold", 1);
	}
	/* Without the page clients learn of a crash from the socket, later. */
	rc = alive_start(&srv);
	if (rc < 0)
		log_warning("no alive page for clients: %s", strerror(-rc));
	uv_loop_init(&loop);
	server_start(&srv, &loop);
	/* Without it every request comes by the socket. */
	rc = calls_start(&srv);
	if (rc < 0)
		log_warning("no call slots for clients: %s", strerror(-rc));
	sigprocmask(SIG_UNBLOCK, &sigs, NULL);
	report_ready(notify_fd, 0);
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s\nMAINPID=%lu", srv.socket_path,
		   (unsigned long)getpid());
#endif
	log_notice("listening on %s", srv.socket_path);
	uv_run(&loop, UV_RUN_DEFAULT);
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	busy = uv_loop_close(&loop) == UV_EBUSY;
	if (busy)
		log_notice("a reload was still reading its file at stop: abandoned");
	server_free(&srv);
	config_free(&srv.cfg);
	log_notice("stopped");
	log_close();
	/* libuv's exit handler would wait for the thread stuck in the reload. */
	if (busy)
		_exit(srv.exit_code);
	return srv.exit_code;
}
