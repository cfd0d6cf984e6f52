/*
 * The node's state, identities, and what it tells others (node.h "State and events";
 * STYLE.md rule 10): state changes and failures become events delivered
 * to watchers from a deferred call, never inside the call that caused
 * them; waiters for an applied seqno (and linearizable reads, node_raft.c)
 * fire the same way, with their own outcome.
 */
#include "node/node_priv.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {"Starting",
                                          "Joining",
                                          "PartOfNetwork",
                                          "Stopping",
                                          "Failed",
                                          "Retired",
                                          "WaitingForRecoveryShares",
                                          "Recovering"};

const char *cs_node_state_name(const cs_node *n)
{
    return state_names[n->state];
}

cs_node_state cs_node_get_state(const cs_node *n)
{
    return n->state;
}

const char *cs_node_failure(const cs_node *n)
{
    return n->state == CS_NODE_FAILED ? n->failure : "";
}

bool cs_node_is_open(const cs_node *n)
{
    return n->state == CS_NODE_OPEN;
}

bool cs_node_is_leader(const cs_node *n)
{
    return n->exec != NULL && node_exec_is_open(n->exec);
}

/* ---- identities ---- */

const char *cs_node_id(const cs_node *n)
{
    return n->vault != NULL ? node_vault_node_id(n->vault) : "(new)";
}

const cs_key *cs_node_key(const cs_node *n)
{
    return n->vault != NULL ? node_vault_key(n->vault) : NULL;
}

const cs_x509 *cs_node_cert(const cs_node *n)
{
    return n->vault != NULL ? node_vault_node_cert(n->vault) : NULL;
}

const cs_x509 *cs_node_service_cert(const cs_node *n)
{
    return n->vault != NULL ? node_vault_service_cert(n->vault) : NULL;
}

consort_app *cs_node_app(cs_node *n)
{
    return n->code != NULL ? cs_node_code_app(n->code) : NULL;
}

/* ---- watchers ---- */

/* The raft id of the leader this node knows (0: none). */
static uint64_t known_leader(const cs_node *n)
{
    return n->cons != NULL ? cs_consensus_leader(n->cons, NULL) : 0;
}

static cs_node_event current_event(const cs_node *n)
{
    return (cs_node_event){.state = n->state,
                           .leader = cs_node_is_leader(n),
                           .has_cert = n->vault != NULL && node_vault_node_cert(n->vault) != NULL,
                           .reason = cs_node_failure(n)};
}

static bool still_watching(const cs_node *n, const node_watcher *w)
{
    for (size_t i = 0; i < CS_NODE_MAX_WATCHERS; i++)
        if (n->watchers[i].fn == w->fn && n->watchers[i].ctx == w->ctx)
            return true;
    return false;
}

static void event_cb(void *ctx)
{
    cs_node *n = ctx;
    cs_node_event ev = current_event(n);
    n->last_event = ev;
    n->last_leader = known_leader(n);
    /* a copy: a watcher may watch or unwatch (itself or another) while
     * being told; one removed meanwhile is not told (its owner may have
     * freed it), one added meanwhile waits for the next event */
    node_watcher w[CS_NODE_MAX_WATCHERS];
    memcpy(w, n->watchers, sizeof w);
    for (size_t i = 0; i < CS_NODE_MAX_WATCHERS; i++)
        if (w[i].fn != NULL && still_watching(n, &w[i]))
            w[i].fn(w[i].ctx, &ev);
}

void node_changed(cs_node *n)
{
    cs_node_event ev = current_event(n);
    if (memcmp(&ev, &n->last_event, sizeof ev) == 0 && known_leader(n) == n->last_leader &&
        !n->event_item.queued)
        return;
    cs_defer_call(n->defer, &n->event_item, event_cb, n);
}

consort_err cs_node_watch(cs_node *n, cs_node_watch_fn fn, void *ctx)
{
    CS_ENSURE(fn != NULL, CONSORT_E_INVALID_ARGUMENT, "watch: a function is required");
    for (size_t i = 0; i < CS_NODE_MAX_WATCHERS; i++)
        if (n->watchers[i].fn == NULL) {
            n->watchers[i] = (node_watcher){.fn = fn, .ctx = ctx};
            return CONSORT_OK;
        }
    return cs_fail(CONSORT_E_BUSY, "watch: %d watchers already", CS_NODE_MAX_WATCHERS);
}

void cs_node_unwatch(cs_node *n, cs_node_watch_fn fn, void *ctx)
{
    for (size_t i = 0; i < CS_NODE_MAX_WATCHERS; i++)
        if (n->watchers[i].fn == fn && n->watchers[i].ctx == ctx)
            n->watchers[i] = (node_watcher){0};
}

void cs_node_set_fatal(cs_node *n, cs_node_fatal_fn fn, void *ctx)
{
    n->fatal = fn;
    n->fatal_ctx = ctx;
}

void node_set_state(cs_node *n, cs_node_state s)
{
    if (n->state == s)
        return;
    cs_log_info(NODE_LOG, "node %s: %s -> %s", cs_node_id(n), state_names[n->state],
                state_names[s]);
    n->state = s;
    node_changed(n);
}

void node_fail(cs_node *n, consort_err rc, const char *what, const char *why)
{
    if (n->state == CS_NODE_FAILED)
        return;
    snprintf(n->failure, sizeof n->failure, "%s: %s (%s)", what, why, consort_err_name(rc));
    cs_log_error(NODE_LOG, "node %s FAILED: %s", cs_node_id(n), n->failure);
    if (n->exec != NULL)
        node_exec_close(n->exec, CONSORT_E_STATE, "the node failed");
    node_waiters_fail_all(n, CONSORT_E_STATE, "the node failed");
    if (n->state != CS_NODE_STOPPING) {
        n->state = CS_NODE_FAILED;
        node_changed(n);
    }
}

void node_raft_failed(void *ctx, consort_err err, const char *msg)
{
    node_fail(ctx, err, "consensus", msg);
}

/* ---- waiters ---- */

static const char *rc_message(consort_err rc)
{
    switch (rc) {
    case CONSORT_OK:
        return "";
    case CONSORT_E_TIMEOUT:
        return "the node did not get there in time";
    default:
        return "the node cannot serve this now (not the leader, stopping or failed)";
    }
}

static void waiter_cb(void *ctx)
{
    cs_node_waiter *w = ctx;
    w->firing = false;
    const cs_node_result res = {.rc = w->rc, .message = rc_message(w->rc)};
    w->fn(w->ctx, &res);
}

static void unlink_waiter(cs_node_waiter *w)
{
    if (w->list == NULL)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        *w->list = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->list = NULL;
}

void node_waiter_add(cs_node_waiter **list, cs_node_waiter *w)
{
    w->prev = NULL;
    w->next = *list;
    if (*list != NULL)
        (*list)->prev = w;
    *list = w;
    w->list = list;
}

void node_waiter_fire(cs_node *n, cs_node_waiter *w, consort_err rc)
{
    unlink_waiter(w);
    w->rc = rc;
    w->firing = true;
    cs_defer_call(n->defer, &w->defer, waiter_cb, w);
}

void node_waiters_applied(cs_node *n, uint64_t applied)
{
    cs_node_waiter *w = n->waiters;
    while (w != NULL) {
        cs_node_waiter *next = w->next;
        if (w->seqno <= applied)
            node_waiter_fire(n, w, CONSORT_OK);
        w = next;
    }
    node_waiters_rearm(n);
}

static void fail_list(cs_node *n, cs_node_waiter **list, consort_err rc)
{
    while (*list != NULL)
        node_waiter_fire(n, *list, rc);
}

void node_waiters_fail_all(cs_node *n, consort_err rc, const char *why)
{
    (void)why;
    fail_list(n, &n->waiters, rc);
    fail_list(n, &n->lin_next, rc);
    fail_list(n, &n->lin_current, rc);
    node_waiters_rearm(n);
}

static uint64_t earliest(const cs_node_waiter *w, uint64_t best)
{
    for (; w != NULL; w = w->next)
        if (w->deadline < best)
            best = w->deadline;
    return best;
}

void node_waiters_rearm(cs_node *n)
{
    if (n->wait_timer == NULL)
        return;
    uint64_t when = earliest(n->waiters, UINT64_MAX);
    when = earliest(n->lin_next, earliest(n->lin_current, when));
    if (when == UINT64_MAX) {
        cs_timer_stop(n->wait_timer);
        return;
    }
    uint64_t now = uv_now(n->loop);
    cs_timer_start(n->wait_timer, when > now ? when - now : 0);
}

static void expire(cs_node *n, cs_node_waiter **list, uint64_t now)
{
    cs_node_waiter *w = *list;
    while (w != NULL) {
        cs_node_waiter *next = w->next;
        if (w->deadline <= now)
            node_waiter_fire(n, w, CONSORT_E_TIMEOUT);
        w = next;
    }
}

static void wait_timer_cb(void *ctx)
{
    cs_node *n = ctx;
    uint64_t now = uv_now(n->loop);
    expire(n, &n->waiters, now);
    expire(n, &n->lin_next, now);
    expire(n, &n->lin_current, now);
    node_waiters_rearm(n);
}

void cs_node_wait_cancel(cs_node *n, cs_node_waiter *w)
{
    unlink_waiter(w);
    if (w->firing) {
        cs_defer_cancel(n->defer, &w->defer);
        w->firing = false;
    }
}

/* ---- stopping ---- */

void node_closing_add(cs_node *n)
{
    n->closing++;
}

static void stopped_cb(void *ctx)
{
    cs_node *n = ctx;
    void (*cb)(void *) = n->stop_cb;
    n->stop_cb = NULL;
    if (cb != NULL)
        cb(n->stop_ctx);
}

void node_closed_one(cs_node *n)
{
    if (--n->closing > 0 || n->state != CS_NODE_STOPPING)
        return;
    cs_defer_call(n->defer, &n->stop_item, stopped_cb, n);
}

consort_err node_events_init(cs_node *n)
{
    CS_TRY(cs_defer_new(n->loop, &n->defer));
    return cs_timer_new(n->loop, wait_timer_cb, n, &n->wait_timer);
}

void node_events_cleanup(cs_node *n)
{
    cs_timer_free(n->wait_timer);
    n->wait_timer = NULL;
    cs_defer_free(n->defer);
    n->defer = NULL;
}

consort_err node_own_record(cs_node *n, node_record *r)
{
    r->raft_id = node_vault_raft_id(n->vault);
    snprintf(r->node_address, sizeof r->node_address, "%s", n->cfg.node_address);
    snprintf(r->rpc_address, sizeof r->rpc_address, "%s", n->cfg.rpc_address);
    snprintf(r->status, sizeof r->status, "Trusted");
    memcpy(r->code_id, cs_node_code_id(n->code), 32);
    CS_TRY(cs_x509_to_der(node_vault_node_cert(n->vault), &r->cert));
    return cs_buf_set(&r->evidence, cs_buf_slice(&n->own_evidence));
}
