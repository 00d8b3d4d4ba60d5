/*
 * alive: a page that tells clients, with no system call, that this daemon
 * has died, however it died.
 *
 * A thread that does nothing else stores its thread id in the first word of
 * a small memfd and registers that word with the kernel as the only entry of
 * its robust futex list (set_robust_list(2)).  When the thread exits, which
 * it does only when the whole daemon does, SIGKILL and crashes included, the
 * kernel clears the id and sets FUTEX_OWNER_DIED in the word.  Clients map
 * the memfd read-only (it is sealed against any new writable mapping) and
 * read the word before they use what they keep in shared memory for the
 * daemon, the block caches and the free ring, so that a daemon killed
 * outright is noticed at once rather than on the next message.
 *
 * The list lives in this file's private memory and only the word is shared:
 * a client can neither reach the list nor write the word.  The thread's own
 * list, registered by the C library when it started, is replaced; the
 * thread locks no robust mutex, so nothing else needed it.
 */
#include "shmpoold.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static struct robust_list_head alive_head;
static struct robust_list alive_entry;
static uint32_t *alive_word;

struct alive_start {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int rc;
};

static void *alive_main(void *arg)
{
	struct alive_start *st = arg;
	long rc;

	__atomic_store_n(alive_word, (uint32_t)syscall(SYS_gettid) & FUTEX_TID_MASK,
			 __ATOMIC_RELEASE);
	alive_entry.next = &alive_head.list;
	alive_head.list.next = &alive_entry;
	alive_head.futex_offset = (long)((char *)alive_word - (char *)&alive_entry);
	alive_head.list_op_pending = NULL;
	rc = syscall(SYS_set_robust_list, &alive_head, sizeof(alive_head));
	if (rc < 0) {
		rc = -errno;
		/* Nobody would clear it: a word that says dead is honest. */
		__atomic_store_n(alive_word, FUTEX_OWNER_DIED, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&st->lock);
	st->rc = (int)rc;
	st->done = 1;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		return NULL;
	pthread_setname_np(pthread_self(), "shmpoold-alive");
	for (;;)
		pause();
	return NULL;
}

/* Create the page, sealed so that only this mapping may write it. */
static int alive_page(int *out)
{
	void *p;
	int fd, rc;

	fd = memfd_create("shmpool:alive", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, PROTO_ALIVE_SIZE) < 0)
		goto fail;
	p = mmap(NULL, PROTO_ALIVE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		rc = -errno;
		munmap(p, PROTO_ALIVE_SIZE);
		close(fd);
		return rc;
	}
	alive_word = p;
	*out = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int alive_start(struct server *srv)
{
	struct alive_start st = { .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER };
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int fd = -1, rc;

	rc = alive_page(&fd);
	if (rc < 0)
		return rc;
	/* Signals are the loop's: the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&t, &attr, alive_main, &st);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		pthread_mutex_lock(&st.lock);
		while (!st.done)
			pthread_cond_wait(&st.cond, &st.lock);
		pthread_mutex_unlock(&st.lock);
		rc = st.rc;
	}
	if (rc < 0) {
		munmap(alive_word, PROTO_ALIVE_SIZE);
		alive_word = NULL;
		close(fd);
		return rc;
	}
	srv->alive_fd = fd;
	srv->alive_page = alive_word;
	return 0;
}
