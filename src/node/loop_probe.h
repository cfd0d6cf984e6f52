/*
 * How late the node's loop runs (issue "Performance": no stall of a node's
 * loop over 50 ms at any store size). A timer due every
 * NODE_LOOP_PROBE_MS measures, each time it fires, how much later than due
 * it ran: anything that holds the loop (a long callback, a large snapshot
 * encoded on the loop, a synchronous fsync) shows as lag. Exported in
 * /node/metrics: the largest lag seen, the number of stalls over
 * NODE_LOOP_STALL_MS, and a histogram. A stall is attributed: the loop
 * thread's time on a CPU, waiting for one, and off CPU, and what a watcher
 * thread (loop_watch.h) saw it doing while it was late.
 *
 * Loop thread only (created there too: it reads that thread's figures).
 * Like a cs_timer, the probe frees itself on the loop
 * after node_loop_probe_free.
 */
#ifndef CS_NODE_LOOP_PROBE_H
#define CS_NODE_LOOP_PROBE_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define NODE_LOOP_PROBE_MS  10
#define NODE_LOOP_STALL_MS  50
#define NODE_LOOP_WATCH_MS  20
#define NODE_LOOP_WHERE_MAX 320
/* Histogram bounds (ms): lag <= bound; the last bucket is +Inf. */
#define NODE_LOOP_BUCKETS 7
extern const double node_loop_bucket_ms[NODE_LOOP_BUCKETS - 1];

typedef struct node_loop_probe node_loop_probe;

typedef struct node_loop_stats {
    uint64_t samples;
    uint64_t sum_us;
    uint64_t max_us;
    uint64_t stalls;                     /* lags over NODE_LOOP_STALL_MS */
    uint64_t buckets[NODE_LOOP_BUCKETS]; /* cumulative counts, Prometheus style */
    /* attribution: every interval since the probe was made */
    bool wait_known;        /* schedstat read: stall_wait_us is measured */
    uint64_t busy_max_us;   /* most on-CPU time of the loop thread in one interval */
    uint64_t stall_cpu_us;  /* summed over the stalled intervals: on a CPU */
    uint64_t stall_wait_us; /* runnable, waiting for a CPU */
    uint64_t stall_off_us;  /* neither: blocked (fsync, I/O) or idle */
    /* What the watcher thread saw the loop's thread doing during the last
     * stall (sampled every NODE_LOOP_WATCH_MS while the loop is over
     * NODE_LOOP_STALL_MS late), e.g. "fsync(fd 12: /data/ledger/x.open)
     * in jbd2_log_wait_commit x9; running x2"; "" if none was sampled. */
    char stall_where[NODE_LOOP_WHERE_MAX];
} node_loop_stats;

CS_MUST_CHECK consort_err node_loop_probe_new(uv_loop_t *loop, node_loop_probe **out);
/* Stops it; NULL is a no-op. */
void node_loop_probe_free(node_loop_probe *p);
node_loop_stats node_loop_probe_stats(const node_loop_probe *p);
/* Appends the probe's figures for /node/metrics (Prometheus text; NULL:
 * all zero), every series labelled node="id". */
CS_MUST_CHECK consort_err node_loop_probe_metrics(const node_loop_probe *p, const char *id,
                                                  cs_buf *out);

#endif
