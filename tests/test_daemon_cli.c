/*
 * shmpoold's command line: -t checks a configuration like nginx -t,
 * --print-config prints the effective one, bad usage exits 2, and a second
 * daemon on a live socket refuses to start.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "harness.h"

static char dir[] = "/tmp/shmpool-cli-XXXXXX";

struct run {
	int status;
	char out[16384];
	char err[4096];
};

/* Read all of fd into buf. */
static void slurp(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
}

/* Run shmpoold with the given arguments (NULL-terminated). */
static void run(struct run *r, ...)
{
	const char *argv[16] = { harness_daemon_path() };
	int out[2], err[2], status;
	size_t argc = 1;
	va_list ap;
	pid_t pid;

	va_start(ap, r);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	slurp(out[0], r->out, sizeof(r->out));
	slurp(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void write_file(char *path, size_t len, const char *name, const char *text)
{
	FILE *f;

	assert_true((size_t)snprintf(path, len, "%s/%s", dir, name) < len);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_check_valid(void **state)
{
	static struct run r;
	char conf[512], want[1024];

	(void)state;
	write_file(conf, sizeof(conf), "good.conf",
		   "[region r0]\nsize = 1M\n[pool p]\nregion = r0\nblock_size = 4K\nblocks = 8\n");
	run(&r, "-t", "-c", conf, NULL);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "shmpoold: configuration %s is valid\n", conf);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	unlink(conf);
}

static void test_check_invalid(void **state)
{
	static struct run r;
	char conf[512], want[1024];

	(void)state;
	write_file(conf, sizeof(conf), "bad.conf", "[region r0]\nsize = 1M\nsise = 2M\n");
	run(&r, "-t", "-c", conf, NULL);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want), "shmpoold: %s:3: unknown key 'sise' in [region r0]\n", conf);
	assert_string_equal(r.err, want);
	unlink(conf);
	/* A pool that does not fit is found by mapping, as a start would. */
	write_file(conf, sizeof(conf), "big.conf",
		   "[region r0]\nsize = 64K\n[pool p]\nregion = r0\nblock_size = 4K\nblocks = 64\n");
	run(&r, "-t", "-c", conf, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, conf));
	unlink(conf);
	run(&r, "-t", "-c", "/nonexistent/shmpool.conf", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "/nonexistent/shmpool.conf"));
}

/* The printed configuration is complete and loads back to the same one. */
static void test_print_config(void **state)
{
	static struct run r;
	char conf[512], printed[512], err[256];
	struct config a, b;

	(void)state;
	write_file(conf, sizeof(conf), "p.conf",
		   "[attributes]\ndma = 2\n[region r0]\nsize = 1M\nattr = dma\n"
		   "[pool p]\nattr = dma\nblock_size = 100\nblocks = 8\n");
	run(&r, "--print-config", "-c", conf, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "[region r0]\n"));
	assert_non_null(strstr(r.out, "backing = memfd\n"));
	assert_non_null(strstr(r.out, "align = 16\n"));
	assert_non_null(strstr(r.out, "socket_mode = 0660\n"));
	write_file(printed, sizeof(printed), "printed.conf", r.out);
	assert_int_equal(config_load(conf, &a, err, sizeof(err)), 0);
	assert_int_equal(config_load(printed, &b, err, sizeof(err)), 0);
	assert_int_equal(b.nregions, 1);
	assert_int_equal(b.regions[0].size, a.regions[0].size);
	assert_int_equal(b.regions[0].attr, 2);
	assert_int_equal(b.npools, 1);
	assert_int_equal(b.pools[0].block_size, 100);
	assert_int_equal(b.pools[0].blocks, 8);
	config_free(&a);
	config_free(&b);
	unlink(conf);
	unlink(printed);

	/* Without -c and without a system file: the built-in default. */
	run(&r, "--print-config", "-c", "/dev/null", NULL);
	assert_int_equal(r.status, 0);
}

static void test_usage(void **state)
{
	static struct run r;

	(void)state;
	run(&r, "--no-such-option", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "usage: shmpoold"));
	run(&r, "stray", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "shmpoold: unexpected argument 'stray'\n"));
	run(&r, "-V", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(strncmp(r.out, "shmpoold ", 9), 0);
}

/* A second daemon on the socket of a live one refuses, naming the path;
 * after a crash the stale socket is taken over. */
static void test_already_running(void **state)
{
	static struct run r;
	struct harness h;
	char want[256];

	(void)state;
	assert_int_equal(harness_start(&h, "[region r0]\nsize = 1M\n"), 0);
	run(&r, "-f", "-c", h.config, "-s", h.socket, NULL);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want), "shmpoold: already running on %s\n", h.socket);
	assert_string_equal(r.err, want);
	harness_kill(&h);
	assert_int_equal(access(h.socket, F_OK), 0);
	assert_int_equal(harness_restart(&h), 0);
	assert_int_equal(harness_finish(&h), 0);
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
		cmocka_unit_test(test_check_valid),
		cmocka_unit_test(test_check_invalid),
		cmocka_unit_test(test_print_config),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_already_running),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
