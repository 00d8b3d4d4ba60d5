/*
 * futex: the two futex(2) operations the call slots use, on words shared
 * between processes (so not FUTEX_PRIVATE_FLAG).
 */
#ifndef SHMPOOL_FUTEX_H
#define SHMPOOL_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *word is val, for at most timeout_ms (< 0: no limit): 0 when
 * woken or the word changed, -ETIMEDOUT, -EINTR. */
static inline int futex_wait_shared(uint32_t *word, uint32_t val, int timeout_ms)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	if (syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0) == 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

static inline void futex_wake_shared(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

#endif
