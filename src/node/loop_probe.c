/* The loop-lag probe (loop_probe.h). */
#include "node/loop_probe.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

const double node_loop_bucket_ms[NODE_LOOP_BUCKETS - 1] = {1, 5, 10, 25, 50, 100};

struct node_loop_probe {
    cs_timer *timer;
    uint64_t due_ns; /* uv_hrtime when the timer should fire */
    node_loop_stats st;
};

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
    if (lag_us > (uint64_t)NODE_LOOP_STALL_MS * 1000) {
        p->st.stalls++;
        cs_log_warn("node", "event loop stalled %.1f ms", (double)lag_us / 1000.0);
    }
    for (int i = 0; i < NODE_LOOP_BUCKETS; i++)
        if (i == NODE_LOOP_BUCKETS - 1 || (double)lag_us <= node_loop_bucket_ms[i] * 1000.0)
            p->st.buckets[i]++;
    p->due_ns = now + (uint64_t)NODE_LOOP_PROBE_MS * 1000000;
    cs_timer_start(p->timer, NODE_LOOP_PROBE_MS);
}

consort_err node_loop_probe_new(uv_loop_t *loop, node_loop_probe **out)
{
    node_loop_probe *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "loop probe: out of memory");
    consort_err rc = cs_timer_new(loop, fired, p, &p->timer);
    if (rc != CONSORT_OK) {
        cs_free(p);
        return rc;
    }
    p->due_ns = uv_hrtime() + (uint64_t)NODE_LOOP_PROBE_MS * 1000000;
    cs_timer_start(p->timer, NODE_LOOP_PROBE_MS);
    *out = p;
    return CONSORT_OK;
}

void node_loop_probe_free(node_loop_probe *p)
{
    if (p == NULL)
        return;
    cs_timer_free(p->timer);
    cs_free(p);
}

node_loop_stats node_loop_probe_stats(const node_loop_probe *p)
{
    return p != NULL ? p->st : (node_loop_stats){0};
}
