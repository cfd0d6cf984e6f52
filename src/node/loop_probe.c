/* The loop-lag probe (loop_probe.h). */
#include "node/loop_probe.h"
#include "node/loop_watch.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

const double node_loop_bucket_ms[NODE_LOOP_BUCKETS - 1] = {1, 5, 10, 25, 50, 100};

struct node_loop_probe {
    cs_timer *timer;
    uint64_t due_ns; /* uv_hrtime when the timer should fire */
    /* attribution: the loop thread's figures at the last firing */
    int sched_fd; /* /proc/thread-self/schedstat of the loop thread, or -1 */
    uint64_t at_ns, cpu_ns, wait_ns;
    node_loop_stats st;
    node_loop_watch *watch; /* NULL: stalls are not sampled */
};

/* The loop thread's time on a CPU and runnable but waiting for one, so far
 * (ns): from schedstat, or the thread's CPU clock (wait 0) without it. */
static void thread_times(node_loop_probe *p, uint64_t *cpu, uint64_t *wait)
{
    if (p->sched_fd >= 0) {
        char buf[128];
        ssize_t n = pread(p->sched_fd, buf, sizeof buf - 1, 0);
        unsigned long long c, w;
        if (n > 0) {
            buf[n] = '\0';
            if (sscanf(buf, "%llu %llu", &c, &w) == 2) {
                *cpu = c;
                *wait = w;
                return;
            }
        }
        close(p->sched_fd); /* unreadable now: the thread clock from here on */
        p->sched_fd = -1;
        p->st.wait_known = false;
    }
    struct timespec ts = {0};
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    *cpu = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    *wait = p->wait_ns; /* no measurement: nothing waited */
}

static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* Splits the interval since the last firing (loop_probe.h); logs a stall. */
static void attribute(node_loop_probe *p, uint64_t now, uint64_t lag_us, bool stalled)
{
    uint64_t cpu, wait;
    thread_times(p, &cpu, &wait);
    uint64_t span_us = since(now, p->at_ns) / 1000;
    uint64_t cpu_us = since(cpu, p->cpu_ns) / 1000, wait_us = since(wait, p->wait_ns) / 1000;
    uint64_t off_us = since(span_us, cpu_us + wait_us);
    uint64_t beat = p->at_ns;
    p->at_ns = now;
    p->cpu_ns = cpu;
    p->wait_ns = wait;
    if (cpu_us > p->st.busy_max_us)
        p->st.busy_max_us = cpu_us;
    if (!stalled)
        return;
    p->st.stall_cpu_us += cpu_us;
    p->st.stall_wait_us += wait_us;
    p->st.stall_off_us += off_us;
    /* what the watcher saw in this interval; an unsampled one keeps the last */
    const char *seen = "";
    if (node_loop_watch_take(p->watch, beat, p->st.stall_where, sizeof p->st.stall_where))
        seen = p->st.stall_where;
    if (p->st.wait_known)
        cs_log_warn("node",
                    "event loop stalled %.1f ms (of %.1f ms since the probe last ran: %.1f ms on a "
                    "CPU, %.1f ms waiting for a CPU, %.1f ms off CPU)%s%s",
                    (double)lag_us / 1000.0, (double)span_us / 1000.0, (double)cpu_us / 1000.0,
                    (double)wait_us / 1000.0, (double)off_us / 1000.0,
                    seen[0] ? "; the loop's thread was seen in: " : "", seen);
    else
        cs_log_warn("node",
                    "event loop stalled %.1f ms (of %.1f ms since the probe last ran: %.1f ms on a "
                    "CPU, %.1f ms not; waiting for a CPU is not measured here)%s%s",
                    (double)lag_us / 1000.0, (double)span_us / 1000.0, (double)cpu_us / 1000.0,
                    (double)off_us / 1000.0, seen[0] ? "; the loop's thread was seen in: " : "",
                    seen);
}

static void fired(void *ctx)
{
    node_loop_probe *p = ctx;
    uint64_t now = uv_hrtime();
    uint64_t lag_us = now > p->due_ns ? (now - p->due_ns) / 1000 : 0;
    /* libuv fires a timer in the iteration after it is due, at the loop's
     * cached time (ms): up to a millisecond of lag is the timer's own */
    p->st.samples++;
    p->st.sum_us += lag_us;
    if (lag_us > p->st.max_us)
        p->st.max_us = lag_us;
    bool stalled = lag_us > (uint64_t)NODE_LOOP_STALL_MS * 1000;
    if (stalled)
        p->st.stalls++;
    attribute(p, now, lag_us, stalled);
    for (int i = 0; i < NODE_LOOP_BUCKETS; i++)
        if (i == NODE_LOOP_BUCKETS - 1 || (double)lag_us <= node_loop_bucket_ms[i] * 1000.0)
            p->st.buckets[i]++;
    p->due_ns = now + (uint64_t)NODE_LOOP_PROBE_MS * 1000000;
    node_loop_watch_beat(p->watch, now);
    cs_timer_start(p->timer, NODE_LOOP_PROBE_MS);
}

consort_err node_loop_probe_new(uv_loop_t *loop, node_loop_probe **out)
{
    node_loop_probe *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "loop probe: out of memory");
    p->sched_fd = -1;
    consort_err rc = cs_timer_new(loop, fired, p, &p->timer);
    if (rc != CONSORT_OK) {
        cs_free(p);
        return rc;
    }
    /* on the loop's thread (loop_probe.h): /proc/thread-self names it */
    p->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    p->st.wait_known = p->sched_fd >= 0;
    thread_times(p, &p->cpu_ns, &p->wait_ns);
    p->at_ns = uv_hrtime();
    p->due_ns = p->at_ns + (uint64_t)NODE_LOOP_PROBE_MS * 1000000;
    p->watch = node_loop_watch_start(p->at_ns);
    if (p->watch == NULL)
        cs_log_info("node", "loop probe: no watcher thread: stalls are not sampled");
    cs_timer_start(p->timer, NODE_LOOP_PROBE_MS);
    *out = p;
    return CONSORT_OK;
}

void node_loop_probe_free(node_loop_probe *p)
{
    if (p == NULL)
        return;
    cs_timer_free(p->timer);
    node_loop_watch_stop(p->watch);
    if (p->sched_fd >= 0)
        close(p->sched_fd);
    cs_free(p);
}

node_loop_stats node_loop_probe_stats(const node_loop_probe *p)
{
    return p != NULL ? p->st : (node_loop_stats){0};
}

consort_err node_loop_probe_metrics(const node_loop_probe *p, const char *id, cs_buf *out)
{
    node_loop_stats st = node_loop_probe_stats(p);
    CS_TRY(cs_buf_printf(out,
                         "# HELP consort_loop_lag_max_seconds Largest lag of the event loop seen\n"
                         "# TYPE consort_loop_lag_max_seconds gauge\n"
                         "consort_loop_lag_max_seconds{node=\"%s\"} %.6f\n"
                         "# HELP consort_loop_stalls_total Loop lags over %d ms\n"
                         "# TYPE consort_loop_stalls_total counter\n"
                         "consort_loop_stalls_total{node=\"%s\"} %llu\n"
                         "# HELP consort_loop_lag_seconds Lag of a timer due every %d ms\n"
                         "# TYPE consort_loop_lag_seconds histogram\n",
                         id, (double)st.max_us / 1e6, NODE_LOOP_STALL_MS, id,
                         (unsigned long long)st.stalls, NODE_LOOP_PROBE_MS));
    for (int i = 0; i < NODE_LOOP_BUCKETS - 1; i++)
        CS_TRY(cs_buf_printf(out, "consort_loop_lag_seconds_bucket{node=\"%s\",le=\"%g\"} %llu\n",
                             id, node_loop_bucket_ms[i] / 1000.0,
                             (unsigned long long)st.buckets[i]));
    CS_TRY(cs_buf_printf(out,
                         "consort_loop_lag_seconds_bucket{node=\"%s\",le=\"+Inf\"} %llu\n"
                         "consort_loop_lag_seconds_sum{node=\"%s\"} %.6f\n"
                         "consort_loop_lag_seconds_count{node=\"%s\"} %llu\n",
                         id, (unsigned long long)st.buckets[NODE_LOOP_BUCKETS - 1], id,
                         (double)st.sum_us / 1e6, id, (unsigned long long)st.samples));
    /* the stalls attributed (loop_probe.h): the loop's own work, waiting for
     * a CPU (only where measured), off CPU */
    CS_TRY(cs_buf_printf(out,
                         "# HELP consort_loop_busy_max_seconds Most time the event loop's thread "
                         "spent on a CPU between two runs of the probe\n"
                         "# TYPE consort_loop_busy_max_seconds gauge\n"
                         "consort_loop_busy_max_seconds{node=\"%s\"} %.6f\n"
                         "# HELP consort_loop_stall_seconds_total Time of the stalled intervals by "
                         "where the loop's thread was: on a CPU, waiting for one, off CPU\n"
                         "# TYPE consort_loop_stall_seconds_total counter\n"
                         "consort_loop_stall_seconds_total{node=\"%s\",part=\"on_cpu\"} %.6f\n"
                         "consort_loop_stall_seconds_total{node=\"%s\",part=\"off_cpu\"} %.6f\n",
                         id, (double)st.busy_max_us / 1e6, id, (double)st.stall_cpu_us / 1e6, id,
                         (double)st.stall_off_us / 1e6));
    if (!st.wait_known)
        return CONSORT_OK;
    return cs_buf_printf(out,
                         "consort_loop_stall_seconds_total{node=\"%s\",part=\"waiting_for_cpu\"} "
                         "%.6f\n",
                         id, (double)st.stall_wait_us / 1e6);
}
