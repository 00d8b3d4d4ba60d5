/*
 * log: the one logging facility of every shmpool program.
 *
 * Messages go to stderr (the default, and in the foreground) or to syslog.
 * Library code logs through this too; a level filters what is printed.
 */
#ifndef SHMPOOL_LOG_H
#define SHMPOOL_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* ident is the program name; use_syslog 0 logs to stderr. */
void log_open(const char *ident, int use_syslog);
void log_close(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "error", "warning", "notice", "info", "debug" to a level; -EINVAL otherwise. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* Send stderr output to a caller's function instead (tests capture it);
 * NULL restores stderr. */
typedef void (*log_sink_fn)(void *ctx, enum log_level level, const char *msg);
void log_set_sink(log_sink_fn fn, void *ctx);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
