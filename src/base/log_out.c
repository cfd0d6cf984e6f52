/*
 * stderr's log lines (log_out.h, log.h): one buffer under a lock. The
 * first line gathered wakes the writer thread, which waits CS_LOG_FLUSH_MS
 * for more and writes them all with one write(2); a line to write at once
 * first writes what is gathered, so lines stay in the order they were
 * logged. The writer starts with the first gathered line; exit() writes
 * the rest. The fork handlers below write what is gathered before a fork,
 * and a forked child writes every line at once (no writer: starting a
 * thread in the child of a threaded process is not safe before an exec),
 * as does a process whose writer could not be started.
 */
#include "base/log_out.h"

#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUT_CAP ((size_t)64 << 10)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gathered = PTHREAD_COND_INITIALIZER;
/* under mu */
static char buf[OUT_CAP];
static size_t len;
static bool writer;        /* this process's writer thread runs */
static bool writer_failed; /* could not be started: lines go at once */
static bool hooks;         /* atexit and fork handlers registered */

/* write(2) of all of it; a failure drops the rest (nowhere to say so). */
static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(STDERR_FILENO, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void flush_locked(void)
{
    write_all(buf, len);
    len = 0;
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (len == 0)
            pthread_cond_wait(&gathered, &mu);
        pthread_mutex_unlock(&mu);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = CS_LOG_FLUSH_MS * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        pthread_mutex_lock(&mu);
        flush_locked();
    }
    return NULL;
}

static void before_fork(void)
{
    pthread_mutex_lock(&mu);
    flush_locked();
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

static void after_fork_child(void)
{
    /* threads do not survive a fork, and starting one in the child of a
     * threaded process is not safe before an exec: the child writes each
     * line at once */
    writer = false;
    writer_failed = true;
    pthread_mutex_unlock(&mu);
}

static void at_exit(void)
{
    cs_log_flush();
}

/* Starts the writer (under mu); false if it cannot run. */
static bool start_writer(void)
{
    if (writer)
        return true;
    if (writer_failed)
        return false;
    if (!hooks) {
        hooks = true;
        if (atexit(at_exit) != 0 ||
            pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
            writer_failed = true; /* lines could be lost at exit: write each at once */
            return false;
        }
    }
    pthread_attr_t attr;
    pthread_t t;
    bool ok = false;
    if (pthread_attr_init(&attr) == 0) {
        ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
             pthread_create(&t, &attr, run, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    writer = ok;
    writer_failed = !ok;
    return ok;
}

void cs_log_out_line(const char *line, size_t n, bool at_once)
{
    pthread_mutex_lock(&mu);
    if (n + 1 > OUT_CAP - len)
        flush_locked();
    if (at_once || n + 1 > OUT_CAP || !start_writer()) {
        flush_locked();
        /* one write for the line and its newline: lines of processes that
         * share the file do not interleave */
        char small[8192 + 1];
        if (n + 1 <= sizeof small) {
            memcpy(small, line, n);
            small[n] = '\n';
            write_all(small, n + 1);
        } else {
            write_all(line, n);
            write_all("\n", 1);
        }
    } else {
        bool was_empty = len == 0;
        memcpy(buf + len, line, n);
        buf[len + n] = '\n';
        len += n + 1;
        if (was_empty)
            pthread_cond_signal(&gathered);
    }
    pthread_mutex_unlock(&mu);
}

void cs_log_flush(void)
{
    pthread_mutex_lock(&mu);
    flush_locked();
    pthread_mutex_unlock(&mu);
}
