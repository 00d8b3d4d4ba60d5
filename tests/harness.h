/*
 * harness: start a real shmpoold on a private socket in a temporary
 * directory for an integration test, and stop it at the end whatever
 * happened (atexit, and PR_SET_PDEATHSIG if the test dies outright).
 */
#ifndef SHMPOOL_TEST_HARNESS_H
#define SHMPOOL_TEST_HARNESS_H

#include <limits.h>
#include <sys/types.h>

struct harness {
	char dir[PATH_MAX];
	char socket[108];
	char config[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
};

/* Write config_text to a file (NULL: run on the built-in default), start
 * the daemon from $SHMPOOLD, and wait until it accepts connections.
 * Returns 0 or -errno; prints the daemon's log on failure. */
int harness_start(struct harness *h, const char *config_text);

/* SIGTERM the daemon and reap it; returns its exit status, or -1 if it
 * had to be killed. */
int harness_stop(struct harness *h);

/* Stop the daemon and remove its directory.  A daemon that crashed, leaked
 * under ASan or would not stop fails: its log is printed and -1 returned,
 * for a cmocka teardown to report. */
int harness_finish(struct harness *h);

/* SIGKILL the daemon (a crash) and reap it. */
void harness_kill(struct harness *h);

/* Start again on the same socket and config. */
int harness_restart(struct harness *h);

/* Remove the temporary directory. */
void harness_cleanup(struct harness *h);

/* Path of the shmpoold binary under test. */
const char *harness_daemon_path(void);

#endif
