/*
 * io_destroy off the loop (consensus/raft_aio.h): an interposed syscall()
 * and the thread that destroys the contexts it queues.
 */
#include "consensus/raft_aio.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define CS_RAFT_AIO_INTERPOSED 1
#else
#define CS_RAFT_AIO_INTERPOSED 0 /* io_destroy stays on the caller's thread */
#endif

#define QUEUE_MAX 64

typedef long (*syscall_fn)(long number, ...);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t drained = PTHREAD_COND_INITIALIZER;
static bool installed, started, busy;
static unsigned long queue[QUEUE_MAX];
static size_t head, count;
static cs_raft_aio_stats stats;

/* libc's syscall(), the next definition after ours (resolved on first
 * use; read by the entry below). */
void *cs_raft_aio_next;
void cs_raft_aio_resolve(void);
long cs_raft_aio_io_destroy(long number, unsigned long ctx);

void cs_raft_aio_resolve(void)
{
    if (__atomic_load_n(&cs_raft_aio_next, __ATOMIC_ACQUIRE) == NULL)
        __atomic_store_n(&cs_raft_aio_next, dlsym(RTLD_NEXT, "syscall"), __ATOMIC_RELEASE);
}

static syscall_fn next_syscall(void)
{
    cs_raft_aio_resolve();
    void *sym = __atomic_load_n(&cs_raft_aio_next, __ATOMIC_ACQUIRE);
    syscall_fn f;
    memcpy(&f, &sym, sizeof f); /* POSIX: a function's address as void * */
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
    if (!CS_RAFT_AIO_INTERPOSED || next_syscall() == NULL)
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

/* io_destroy(ctx), as the entry below hands it over: queued, or done here. */
long cs_raft_aio_io_destroy(long number, unsigned long ctx)
{
    if (defer(ctx))
        return 0;
    return next_syscall()(number, ctx);
}

#if CS_RAFT_AIO_INTERPOSED
/*
 * Ours, exported so that libraft's (and every other library's) calls bind
 * here. Written in assembly so that a call goes on to libc's syscall() with
 * its registers and stack untouched: a C variadic function cannot forward
 * "whatever arguments came" (reading six from a va_list reads past what a
 * caller of fewer passed: AddressSanitizer caught it). io_destroy (number in
 * %rdi, context in %rsi) goes to cs_raft_aio_io_destroy.
 */
#define CS_STR2(x) #x
#define CS_STR(x)  CS_STR2(x)
/* clang-format off */
__asm__(".text\n"
        ".globl syscall\n"
        ".type syscall, @function\n"
        "syscall:\n"
        "    cmpq $" CS_STR(SYS_io_destroy) ", %rdi\n"
        "    je 2f\n"
        "1:  movq cs_raft_aio_next(%rip), %rax\n"
        "    testq %rax, %rax\n"
        "    jz 3f\n"
        "    jmp *%rax\n"                /* libc's, as if called directly */
        "2:  jmp cs_raft_aio_io_destroy\n"
        "3:  pushq %rdi\n"               /* first call: resolve libc's, */
        "    pushq %rsi\n"               /* keeping the argument registers */
        "    pushq %rdx\n"
        "    pushq %rcx\n"
        "    pushq %r8\n"
        "    pushq %r9\n"
        "    subq $8, %rsp\n"            /* 16-byte alignment at the call */
        "    call cs_raft_aio_resolve\n"
        "    addq $8, %rsp\n"
        "    popq %r9\n"
        "    popq %r8\n"
        "    popq %rcx\n"
        "    popq %rdx\n"
        "    popq %rsi\n"
        "    popq %rdi\n"
        "    jmp 1b\n"
        ".size syscall, .-syscall\n");
/* clang-format on */
#endif
