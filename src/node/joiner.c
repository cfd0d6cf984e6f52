/*
 * The joiner (joiner.h). At most one attempt at a time: an attested
 * connection, one request, one answer, then the channel closes. A retry
 * timer (net/timer.h) spaces the attempts. The joiner frees itself once
 * closed and its attempt and timer are gone (like a libuv handle).
 */
#include "node/joiner.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <stdio.h>
#include <string.h>

#define JOIN_LOG          "node"
#define JOIN_RETRY_MS     1000
#define JOIN_MAX_REDIRECT 8

struct node_joiner {
    node_joiner_opts o;
    char target[CS_NODE_ADDR_MAX]; /* where the current attempt goes */
    char first[CS_NODE_ADDR_MAX];  /* the configured target */
    char node_address[CS_NODE_ADDR_MAX];
    char rpc_address[CS_NODE_ADDR_MAX];
    char node_id[CS_NODE_ID_LEN + 1];
    cs_buf evidence;
    cs_stream *s;    /* the open channel of the attempt */
    bool connecting; /* an attested connect is in flight */
    cs_buf in, body;
    unsigned redirects;
    cs_timer *retry;
    bool done, closed;
    bool closing_tick;     /* node_joiner_close waits for one loop tick */
    bool redirect_pending; /* the next attempt goes to `target` once closed */
    void (*close_cb)(void *ctx);
    void *close_ctx;
};

static void attempt(node_joiner *j);

static void maybe_gone(node_joiner *j)
{
    if (!j->closed || j->connecting || j->s != NULL || j->closing_tick)
        return;
    void (*cb)(void *) = j->close_cb;
    void *ctx = j->close_ctx;
    cs_timer_free(j->retry);
    cs_buf_cleanup(&j->in);
    cs_buf_cleanup(&j->body);
    cs_buf_cleanup(&j->evidence);
    cs_free(j);
    if (cb != NULL)
        cb(ctx);
}

static void retry_cb(void *ctx)
{
    node_joiner *j = ctx;
    if (j->closed) { /* the tick node_joiner_close asked for */
        j->closing_tick = false;
        maybe_gone(j);
        return;
    }
    attempt(j);
}

static void try_later(node_joiner *j, const char *why)
{
    if (j->done || j->closed)
        return;
    cs_log_warn(JOIN_LOG, "node %s: join via %s: %s; retrying in %d ms", j->node_id, j->target, why,
                JOIN_RETRY_MS);
    snprintf(j->target, sizeof j->target, "%s", j->first);
    j->redirects = 0;
    cs_timer_start(j->retry, JOIN_RETRY_MS);
}

static void channel_close(node_joiner *j)
{
    if (j->s != NULL)
        cs_stream_close(j->s); /* on_closed follows */
}

static void on_answer(node_joiner *j, const join_msg *m)
{
    char why[CS_ERRMSG_MAX];
    switch (m->type) {
    case JOIN_MSG_WELCOME:
        if (j->o.welcome(j->o.ctx, m) == CONSORT_OK) {
            j->done = true;
            return;
        }
        snprintf(why, sizeof why, "the welcome was not usable: %s", consort_errmsg());
        break;
    case JOIN_MSG_REDIRECT:
        if (j->redirects < JOIN_MAX_REDIRECT) {
            cs_log_info(JOIN_LOG, "node %s: join redirected to the leader at %s", j->node_id,
                        m->node_address);
            snprintf(j->target, sizeof j->target, "%s", m->node_address);
            j->redirects++;
            j->redirect_pending = true; /* once this channel is closed */
            return;
        }
        snprintf(why, sizeof why, "redirected %u times", j->redirects);
        break;
    case JOIN_MSG_ERROR:
        snprintf(why, sizeof why, "refused: %s", m->message);
        break;
    default:
        snprintf(why, sizeof why, "unexpected answer of type %d", (int)m->type);
        break;
    }
    try_later(j, why);
}

static void on_data(void *ctx, cs_stream *s, cs_slice data)
{
    node_joiner *j = ctx;
    (void)s;
    bool complete;
    consort_err rc = join_msg_take(&j->in, data, &j->body, &complete);
    if (rc == CONSORT_OK && !complete)
        return;       /* more to come */
    channel_close(j); /* one answer per channel */
    join_msg m;
    if (rc != CONSORT_OK || (rc = join_msg_decode(cs_buf_slice(&j->body), &m)) != CONSORT_OK) {
        try_later(j, consort_errmsg());
        return;
    }
    on_answer(j, &m);
}

static void on_closed(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    node_joiner *j = ctx;
    (void)reason;
    (void)msg;
    bool unanswered = j->s == s && j->body.len == 0;
    j->s = NULL;
    if (unanswered)
        try_later(j, "the channel closed before an answer");
    if (j->redirect_pending) {
        j->redirect_pending = false;
        attempt(j);
    }
    maybe_gone(j);
}

static consort_err send_request(node_joiner *j)
{
    join_msg m = {.type = JOIN_MSG_JOIN, .evidence = cs_buf_slice(&j->evidence)};
    snprintf(m.node_address, sizeof m.node_address, "%s", j->node_address);
    snprintf(m.rpc_address, sizeof m.rpc_address, "%s", j->rpc_address);
    cs_buf b;
    cs_buf_init(&b, JOIN_MSG_MAX + 4);
    consort_err rc;
    CS_TRY_GOTO(rc, join_msg_encode(&m, &b), done);
    rc = cs_stream_write(j->s, cs_buf_slice(&b));
done:
    cs_buf_cleanup(&b);
    return rc;
}

static void on_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                     const char *msg)
{
    node_joiner *j = ctx;
    j->connecting = false;
    if (err != CONSORT_OK) {
        try_later(j, msg);
        maybe_gone(j);
        return;
    }
    const cs_stream_cbs cbs = {.on_data = on_data, .on_close = on_closed};
    cs_stream_set_cbs(s, &cbs, j);
    j->s = s;
    if (j->closed || j->done) {
        channel_close(j);
        return;
    }
    /* only a node the pinned service admitted may answer */
    if (!j->o.service_issued(j->o.ctx, peer->cert)) {
        channel_close(j);
        try_later(j, "the target's certificate is not issued by the pinned service certificate");
        return;
    }
    cs_buf_reset(&j->in);
    cs_buf_reset(&j->body);
    if (send_request(j) != CONSORT_OK) {
        try_later(j, consort_errmsg());
        channel_close(j);
    }
}

static void attempt(node_joiner *j)
{
    if (j->closed || j->done || j->connecting || j->s != NULL)
        return;
    cs_log_info(JOIN_LOG, "node %s: joining the service via %s", j->node_id, j->target);
    if (cs_attested_connect(j->o.loop, j->target, j->o.ctl, on_ready, j) != CONSORT_OK) {
        try_later(j, consort_errmsg());
        return;
    }
    j->connecting = true;
}

consort_err node_joiner_start(const node_joiner_opts *o, node_joiner **out)
{
    node_joiner *j = cs_calloc(1, sizeof *j);
    CS_ENSURE(j != NULL, CONSORT_E_NOMEM, "join: out of memory");
    j->o = *o;
    snprintf(j->first, sizeof j->first, "%s", o->target);
    snprintf(j->target, sizeof j->target, "%s", o->target);
    snprintf(j->node_address, sizeof j->node_address, "%s", o->node_address);
    snprintf(j->rpc_address, sizeof j->rpc_address, "%s", o->rpc_address);
    snprintf(j->node_id, sizeof j->node_id, "%s", o->node_id);
    cs_buf_init_secret(&j->in, JOIN_MSG_MAX + 4);
    cs_buf_init_secret(&j->body, JOIN_MSG_MAX);
    cs_buf_init(&j->evidence, CS_EVIDENCE_MAX_BYTES);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_buf_set(&j->evidence, o->evidence), fail);
    CS_TRY_GOTO(rc, cs_timer_new(o->loop, retry_cb, j, &j->retry), fail);
    cs_timer_start(j->retry, 0); /* the first attempt, from the loop */
    *out = j;
    return CONSORT_OK;
fail:
    cs_buf_cleanup(&j->in);
    cs_buf_cleanup(&j->body);
    cs_buf_cleanup(&j->evidence);
    cs_free(j);
    return cs_err_context(rc, "join");
}

void node_joiner_close(node_joiner *j, void (*cb)(void *ctx), void *ctx)
{
    j->closed = true;
    j->close_cb = cb;
    j->close_ctx = ctx;
    cs_timer_stop(j->retry);
    channel_close(j);
    /* from the loop, so that `cb` never runs inside this call */
    j->closing_tick = true;
    cs_timer_start(j->retry, 0);
}
