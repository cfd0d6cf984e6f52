/*
 * Promotion of joined nodes, retried (promote.h). One attempt at a time:
 * `inflight` while raft works on an assignment; `timer` arms the next look
 * (0 ms for a kick, the backoff after a failure).
 */
#include "node/promote.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <stdio.h>

#define PROMOTE_LOG "node"

struct node_promoter {
    node_promoter_ops ops;
    cs_timer *timer;
    char node_id[32];
    bool inflight; /* raft has an assignment of ours */
    bool freed;    /* the owner let go: free when the attempt is answered */
    uint64_t target;
    unsigned failures; /* in a row, for the backoff */
    node_promoter_stats stats;
};

static void look(void *ctx);

static void retry_later(node_promoter *p, const char *why)
{
    unsigned delay = NODE_PROMOTE_RETRY_MS;
    for (unsigned i = 1; i < p->failures && delay < NODE_PROMOTE_RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > NODE_PROMOTE_RETRY_MAX_MS)
        delay = NODE_PROMOTE_RETRY_MAX_MS;
    cs_log_warn(PROMOTE_LOG, "node %s: promoting raft %llu to voter: %s; retrying in %u ms",
                p->node_id, (unsigned long long)p->target, why, delay);
    cs_timer_start(p->timer, delay);
}

static void done(void *ctx, consort_err rc, const char *msg)
{
    node_promoter *p = ctx;
    p->inflight = false;
    if (p->freed) {
        cs_timer_free(p->timer);
        cs_free(p);
        return;
    }
    if (rc == CONSORT_OK) {
        p->stats.promoted++;
        p->failures = 0;
        cs_log_info(PROMOTE_LOG, "node %s: raft %llu promoted to voter", p->node_id,
                    (unsigned long long)p->target);
        cs_timer_start(p->timer, 0); /* another non-voter? */
        return;
    }
    p->stats.failed++;
    p->failures++;
    retry_later(p, msg);
}

static void look(void *ctx)
{
    node_promoter *p = ctx;
    if (p->inflight || !p->ops.leading(p->ops.ctx))
        return; /* a new leader kicks again */
    uint64_t id = p->ops.next_nonvoter(p->ops.ctx);
    if (id == 0) {
        p->failures = 0;
        return;
    }
    if (id != p->target)
        p->failures = 0;
    p->target = id;
    consort_err rc = p->ops.promote(p->ops.ctx, id, done, p);
    if (rc == CONSORT_OK) {
        p->inflight = true;
        return;
    }
    p->stats.failed++;
    p->failures++;
    retry_later(p, consort_errmsg()); /* e.g. another membership change is running */
}

consort_err node_promoter_new(uv_loop_t *loop, const node_promoter_ops *ops, const char *node_id,
                              node_promoter **out)
{
    node_promoter *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "promoter: out of memory");
    p->ops = *ops;
    snprintf(p->node_id, sizeof p->node_id, "%s", node_id);
    consort_err rc = cs_timer_new(loop, look, p, &p->timer);
    if (rc != CONSORT_OK) {
        cs_free(p);
        return rc;
    }
    *out = p;
    return CONSORT_OK;
}

void node_promoter_kick(node_promoter *p)
{
    if (p != NULL && !p->freed)
        cs_timer_start(p->timer, 0);
}

node_promoter_stats node_promoter_get_stats(const node_promoter *p)
{
    return p != NULL ? p->stats : (node_promoter_stats){0};
}

void node_promoter_free(node_promoter *p)
{
    if (p == NULL)
        return;
    cs_timer_stop(p->timer);
    p->freed = true;
    if (p->inflight)
        return; /* done() frees it */
    cs_timer_free(p->timer);
    cs_free(p);
}
