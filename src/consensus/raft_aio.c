/*
 * io_destroy off the loop (consensus/raft_aio.h): an interposed syscall()
 * and the thread that destroys the contexts it queues.
 */
#include "consensus/raft_aio.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define QUEUE_MAX 64

typedef long (*syscall_fn)(long number, ...);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t drained = PTHREAD_COND_INITIALIZER;
static bool installed, started, busy;
static unsigned long queue[QUEUE_MAX];
static size_t head, count;
static cs_raft_aio_stats stats;

/* libc's syscall(), the next definition after ours. */
static syscall_fn next_syscall(void)
{
    static _Atomic(syscall_fn) next;
    syscall_fn f = next;
    if (f == NULL) {
        void *sym = dlsym(RTLD_NEXT, "syscall");
        memcpy(&f, &sym, sizeof f); /* POSIX: a function's address as void * */
        next = f;
    }
    return f;
}

static void destroy_now(unsigned long ctx)
{
    (void)next_syscall()(SYS_io_destroy, ctx);
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    stats.worker_tid = (int)gettid();
    for (;;) {
        while (count == 0)
            pthread_cond_wait(&cv, &mu);
        unsigned long ctx = queue[head];
        head = (head + 1) % QUEUE_MAX;
        count--;
        busy = true;
        pthread_mutex_unlock(&mu);
        destroy_now(ctx);
        pthread_mutex_lock(&mu);
        busy = false;
        stats.destroyed++;
        if (count == 0)
            pthread_cond_broadcast(&drained);
    }
    return NULL;
}

bool cs_raft_aio_install(void)
{
    if (next_syscall() == NULL)
        return false;
    pthread_mutex_lock(&mu);
    if (!started) {
        pthread_t t;
        pthread_attr_t attr;
        started = pthread_attr_init(&attr) == 0 &&
                  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&t, &attr, worker, NULL) == 0;
        (void)pthread_attr_destroy(&attr);
        if (started)
            (void)pthread_setname_np(t, CS_RAFT_AIO_THREAD_NAME);
    }
    installed = started;
    pthread_mutex_unlock(&mu);
    return started;
}

void cs_raft_aio_uninstall(void)
{
    pthread_mutex_lock(&mu);
    installed = false;
    while (count > 0 || busy)
        pthread_cond_wait(&drained, &mu);
    pthread_mutex_unlock(&mu);
}

cs_raft_aio_stats cs_raft_aio_stats_get(void)
{
    pthread_mutex_lock(&mu);
    cs_raft_aio_stats s = stats;
    pthread_mutex_unlock(&mu);
    return s;
}

/* Queues ctx for the thread; false: the caller destroys it. */
static bool defer(unsigned long ctx)
{
    pthread_mutex_lock(&mu);
    bool queued = installed && count < QUEUE_MAX;
    if (queued) {
        queue[(head + count) % QUEUE_MAX] = ctx;
        count++;
        stats.deferred++;
        pthread_cond_signal(&cv);
    } else {
        stats.inline_++;
    }
    pthread_mutex_unlock(&mu);
    return queued;
}

/*
 * Ours, exported so that libraft's (and every other library's) calls bind
 * here. x86-64 and aarch64 pass a system call's six arguments in registers;
 * reading six is what libc's own syscall() does, whatever the caller
 * passed.
 */
__attribute__((visibility("default"))) long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_io_destroy && defer((unsigned long)a[0]))
        return 0;
    return next_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
