/* The loop probe's watcher (loop_watch.h). */
#include "node/loop_watch.h"

#include "base/alloc.h"
#include "node/loop_probe.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define WATCH_KINDS 3

struct node_loop_watch {
    int tid;                  /* the loop's thread */
    _Atomic uint64_t beat_ns; /* when the loop last ran (node_loop_watch_beat) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    bool stop;
    uint64_t seen_beat; /* the interval (its beat) the samples belong to */
    struct {
        char what[200];
        unsigned count;
    } seen[WATCH_KINDS];
    size_t n_seen;
    unsigned seen_other; /* samples of further kinds */
};

/* The system calls a loop may block in, by number, and whether the first
 * argument is a descriptor (its file is named). */
static const struct {
    long nr;
    const char *name;
    bool fd; /* its first argument is a file descriptor */
} syscalls[] = {
    {SYS_read, "read", true},
    {SYS_write, "write", true},
    {SYS_pread64, "pread64", true},
    {SYS_pwrite64, "pwrite64", true},
    {SYS_readv, "readv", true},
    {SYS_writev, "writev", true},
    {SYS_fsync, "fsync", true},
    {SYS_fdatasync, "fdatasync", true},
    {SYS_sync_file_range, "sync_file_range", true},
    {SYS_ftruncate, "ftruncate", true},
    {SYS_fallocate, "fallocate", true},
    {SYS_close, "close", true},
    {SYS_sendmsg, "sendmsg", true},
    {SYS_recvmsg, "recvmsg", true},
    {SYS_sendto, "sendto", true},
    {SYS_recvfrom, "recvfrom", true},
    {SYS_epoll_pwait, "epoll_pwait", true},
    {SYS_io_submit, "io_submit", false},
    {SYS_io_setup, "io_setup", false},
    {SYS_io_destroy, "io_destroy", false},
    {SYS_io_cancel, "io_cancel", false},
    {SYS_getdents64, "getdents64", true},
    {SYS_fstat, "fstat", true},
    {SYS_newfstatat, "newfstatat", false},
    {SYS_lseek, "lseek", true},
    {SYS_accept4, "accept4", true},
    {SYS_connect, "connect", true},
    {SYS_shutdown, "shutdown", true},
    {SYS_io_getevents, "io_getevents", false},
    {SYS_openat, "openat", false},
    {SYS_renameat2, "renameat2", false},
    {SYS_unlinkat, "unlinkat", false},
    {SYS_mmap, "mmap", false},
    {SYS_munmap, "munmap", false},
    {SYS_madvise, "madvise", false},
    {SYS_mprotect, "mprotect", false},
    {SYS_brk, "brk", false},
    {SYS_futex, "futex", false},
    {SYS_clock_nanosleep, "clock_nanosleep", false},
    {SYS_nanosleep, "nanosleep", false},
#ifdef SYS_epoll_wait
    {SYS_epoll_wait, "epoll_wait", true},
#endif
#ifdef SYS_rename
    {SYS_rename, "rename", false},
#endif
#ifdef SYS_unlink
    {SYS_unlink, "unlink", false},
#endif
#ifdef SYS_open
    {SYS_open, "open", false},
#endif
};

/* The first line of /proc/self/task/<tid>/<name> into buf ("" if unreadable). */
static void task_file(int tid, const char *name, char *buf, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, name);
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* Where the word at `addr` lives, for a lock a thread waits on: the
 * object it belongs to and its address in that object, as `nm` lists it
 * ("consortd+0x1a2b40", "libc.so.6+0x1d2c80"; a shared object's or a
 * position-independent program's addresses start at its first mapping,
 * and an object's zeroed data is the anonymous mapping right after its
 * file's), or the mapping's name ("[heap]"). "" if no mapping holds it. */
void node_loop_watch_mapping(unsigned long long addr, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return;
    char line[512], object[256] = "";
    unsigned long long base = 0, object_end = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long start, end, off;
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &off, &path_at) < 3)
            continue;
        char *path = path_at > 0 ? line + path_at : line + strlen(line);
        path[strcspn(path, "\n")] = '\0';
        if (path[0] == '/') {
            const char *b = strrchr(path, '/') + 1;
            if (off == 0 || strcmp(b, object) != 0) {
                snprintf(object, sizeof object, "%s", b);
                base = start - off;
            }
            object_end = end;
        } else if (path[0] != '\0' || start != object_end) {
            object[0] = '\0'; /* not an object's zeroed data */
        } else {
            object_end = end;
        }
        if (addr < start || addr >= end)
            continue;
        if (object[0] != '\0')
            snprintf(out, n, "%s+0x%llx", object, addr - base);
        else
            snprintf(out, n, "%s", path[0] != '\0' ? path : "anonymous memory");
        break;
    }
    fclose(f);
}

void node_loop_watch_where(int tid, char *out, size_t n)
{
    char stat[512], sc[256], wchan[96];
    task_file(tid, "stat", stat, sizeof stat);
    const char *paren = strrchr(stat, ')');
    char state = paren != NULL && paren[1] == ' ' ? paren[2] : '?';
    if (state != 'R')
        task_file(tid, "syscall", sc, sizeof sc);
    /* the syscall file says "running" if the thread ran again meanwhile */
    if (state == 'R' || strncmp(sc, "running", 7) == 0) {
        snprintf(out, n, "running");
        return;
    }
    task_file(tid, "wchan", wchan, sizeof wchan);
    char call[240] = "";
    char *end;
    long nr = strtol(sc, &end, 10);
    if (end == sc) {
        snprintf(call, sizeof call, "state %c", state);
    } else if (nr < 0) {
        snprintf(call, sizeof call, "outside a system call (a page fault?)");
    } else {
        const char *name = NULL;
        bool fd_arg = false;
        for (size_t i = 0; i < sizeof syscalls / sizeof syscalls[0] && name == NULL; i++)
            if (syscalls[i].nr == nr) {
                name = syscalls[i].name;
                fd_arg = syscalls[i].fd;
            }
        unsigned long long a1 = strtoull(end, NULL, 16);
        char file[160] = "";
        if (fd_arg && a1 < 1u << 20) {
            char link[48];
            snprintf(link, sizeof link, "/proc/self/fd/%llu", a1);
            ssize_t len = readlink(link, file, sizeof file - 1);
            file[len > 0 ? len : 0] = '\0';
        }
        char where[128] = "";
        if (nr == SYS_futex) /* a lock: whose word it waits on */
            node_loop_watch_mapping(a1, where, sizeof where);
        if (name == NULL)
            snprintf(call, sizeof call, "system call %ld", nr);
        else if (where[0] != '\0')
            snprintf(call, sizeof call, "%s(at %s)", name, where);
        else if (fd_arg)
            snprintf(call, sizeof call, "%s(fd %llu%s%s)", name, a1, file[0] ? ": " : "", file);
        else
            snprintf(call, sizeof call, "%s()", name);
    }
    bool has_wchan = wchan[0] != '\0' && strcmp(wchan, "0") != 0;
    snprintf(out, n, "%s%s%s", call, has_wchan ? " in " : "", has_wchan ? wchan : "");
}

static void note(node_loop_watch *w, uint64_t beat, const char *what)
{
    if (w->seen_beat != beat) { /* another interval: its own samples */
        w->seen_beat = beat;
        w->n_seen = 0;
        w->seen_other = 0;
    }
    for (size_t i = 0; i < w->n_seen; i++)
        if (strcmp(w->seen[i].what, what) == 0) {
            w->seen[i].count++;
            return;
        }
    if (w->n_seen == WATCH_KINDS) {
        w->seen_other++;
        return;
    }
    snprintf(w->seen[w->n_seen].what, sizeof w->seen[w->n_seen].what, "%s", what);
    w->seen[w->n_seen++].count = 1;
}

static void *run(void *arg)
{
    node_loop_watch *w = arg;
    const uint64_t late_ns = (uint64_t)(NODE_LOOP_PROBE_MS + NODE_LOOP_STALL_MS) * 1000000;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += NODE_LOOP_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&w->cv, &w->mu, &until);
        uint64_t beat = atomic_load(&w->beat_ns);
        if (w->stop || uv_hrtime() < beat + late_ns)
            continue;
        char what[200];
        pthread_mutex_unlock(&w->mu); /* reading /proc holds nobody up */
        node_loop_watch_where(w->tid, what, sizeof what);
        pthread_mutex_lock(&w->mu);
        note(w, beat, what);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

node_loop_watch *node_loop_watch_start(uint64_t now_ns)
{
    node_loop_watch *w = cs_calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->tid = (int)gettid();
    atomic_store(&w->beat_ns, now_ns);
    pthread_condattr_t attr;
    bool cv = false, mu = false;
    if (pthread_condattr_init(&attr) == 0) {
        cv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&w->cv, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    mu = cv && pthread_mutex_init(&w->mu, NULL) == 0;
    if (mu && pthread_create(&w->thread, NULL, run, w) == 0)
        return w;
    if (mu)
        pthread_mutex_destroy(&w->mu);
    if (cv)
        pthread_cond_destroy(&w->cv);
    cs_free(w);
    return NULL;
}

void node_loop_watch_beat(node_loop_watch *w, uint64_t now_ns)
{
    if (w != NULL)
        atomic_store(&w->beat_ns, now_ns);
}

bool node_loop_watch_take(node_loop_watch *w, uint64_t beat_ns, char *out, size_t n)
{
    if (w == NULL || n == 0)
        return false;
    pthread_mutex_lock(&w->mu);
    bool any = w->seen_beat == beat_ns && w->n_seen > 0;
    if (any) {
        size_t at = 0;
        out[0] = '\0';
        for (size_t i = 0; i < w->n_seen && at < n; i++) {
            int k = snprintf(out + at, n - at, "%s%s x%u", i ? "; " : "", w->seen[i].what,
                             w->seen[i].count);
            at += k > 0 ? (size_t)k : 0;
        }
        if (w->seen_other > 0 && at < n)
            snprintf(out + at, n - at, "; other x%u", w->seen_other);
        w->n_seen = 0;
        w->seen_beat = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return any;
}

void node_loop_watch_stop(node_loop_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    cs_free(w);
}
