/*
 * The leader's membership driver (docs/rolling-updates.md): every tick, on
 * the leader with writes open, it takes at most one step:
 *
 *   - a raft member whose record is Retired (removed by the members, or
 *     evicted) leaves the raft configuration (the leader hands leadership
 *     over first if it is the one);
 *   - a rolling update (SVC_MAP_UPDATE: successor N of O) advances by
 *     cs_gov_update_next (src/gov/update_rule.h, the rule spin checks):
 *     its progress is written to the update's record when it changes,
 *     deprecation and each eviction are ledger transactions, leadership
 *     moves to an N node before an O leader would be evicted, and when no
 *     voter runs O any more the update is done and O is retired.
 *
 * A voter is live if the leader heard from it within LIVE_WINDOW_MS
 * (libraft's contact flag, sampled every tick).
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "gov/update_rule.h"
#include "node/gov.h"
#include "node/update_step.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPDATE_TICK_MS 200
#define LIVE_WINDOW_MS 1500
#define MAX_VOTERS     64

typedef struct seen {
    uint64_t raft_id;
    uint64_t at_ms;
} seen;

struct node_updater {
    cs_node *n;
    cs_timer *tick;
    bool busy;    /* a transaction or a raft change is in flight */
    bool stopped; /* node_update_stop ran while busy: the callback frees */
    seen seen[MAX_VOTERS];
    uint64_t retiring, retire_at; /* a Retired voter; the commit index when first seen */
    unsigned retire_ticks, retire_held;
};

/* ---- what the store says ---- */

typedef struct voter_info {
    uint64_t raft_id;
    char node_id[CS_NODE_ID_LEN + 1];
    char status[32];
    char code_id[65];
    bool known; /* it has a record */
} voter_info;

typedef struct records_ctx {
    voter_info *v;
    size_t n;
} records_ctx;

static bool record_cb(void *ctx, const char *node_id, const node_record *r)
{
    records_ctx *rc = ctx;
    for (size_t i = 0; r != NULL && i < rc->n; i++) {
        if (rc->v[i].raft_id != r->raft_id)
            continue;
        rc->v[i].known = true;
        snprintf(rc->v[i].node_id, sizeof rc->v[i].node_id, "%s", node_id);
        snprintf(rc->v[i].status, sizeof rc->v[i].status, "%s", r->status);
        cs_hex_encode(CS_SLICE(r->code_id, 32), rc->v[i].code_id);
    }
    return true;
}

/* The raft configuration with each member's record. */
static consort_err load_members(cs_node *n, cs_raft_member *m, voter_info *v, size_t *count)
{
    CS_TRY(cs_consensus_members(n->cons, m, MAX_VOTERS, count));
    memset(v, 0, *count * sizeof *v);
    for (size_t i = 0; i < *count; i++)
        v[i].raft_id = m[i].id;
    records_ctx rc = {.v = v, .n = *count};
    return svc_records_each(node_replica_kv(n->replica), record_cb, &rc);
}

/* ---- liveness ---- */

static void sample_live(node_updater *u, const cs_raft_member *m, size_t count)
{
    uint64_t now = uv_now(u->n->loop);
    for (size_t i = 0; i < count; i++) {
        if (!cs_consensus_peer_recent(u->n->cons, m[i].id))
            continue;
        size_t slot = MAX_VOTERS, oldest = 0;
        for (size_t j = 0; j < MAX_VOTERS && slot == MAX_VOTERS; j++)
            if (u->seen[j].raft_id == m[i].id)
                slot = j;
        for (size_t j = 0; j < MAX_VOTERS && slot == MAX_VOTERS; j++)
            if (u->seen[j].at_ms < u->seen[oldest].at_ms)
                oldest = j;
        if (slot == MAX_VOTERS)
            slot = oldest;
        u->seen[slot] = (seen){.raft_id = m[i].id, .at_ms = now};
    }
}

static bool is_live(const node_updater *u, uint64_t raft_id)
{
    uint64_t now = uv_now(u->n->loop);
    for (size_t j = 0; j < MAX_VOTERS; j++)
        if (u->seen[j].raft_id == raft_id)
            return now - u->seen[j].at_ms <= LIVE_WINDOW_MS;
    return false;
}

/* ---- transactions ---- */

/* The in-flight step is over; false if the driver stopped meanwhile (freed). */
static bool step_over(node_updater *u)
{
    u->busy = false;
    if (!u->stopped)
        return true;
    cs_free(u);
    return false;
}

static void step_done(void *ctx, const cs_node_result *res)
{
    node_updater *u = ctx;
    if (!step_over(u))
        return;
    if (res->rc != CONSORT_OK)
        cs_log_warn(NODE_LOG, "rolling update: a step was not committed: %s", res->message);
}

static void write_step(node_updater *u, const node_update_step *s)
{
    consort_err rc = node_exec_write(u->n->exec, CS_LEDGER_KIND_INTERNAL, node_update_step_tx,
                                     (void *)s, step_done, u);
    if (rc == CONSORT_OK)
        u->busy = true;
    else
        cs_log_warn(NODE_LOG, "rolling update to %.16s...: %s", s->successor, consort_errmsg());
}

/* ---- raft changes ---- */

static void raft_done(void *ctx, consort_err status, const char *msg)
{
    node_updater *u = ctx;
    if (!step_over(u))
        return;
    if (status != CONSORT_OK)
        cs_log_warn(NODE_LOG, "membership change failed: %s", msg);
}

/* Whether a Retired voter may leave raft now: once out of raft nothing tells
 * it that its record is Retired, and it would serve on, stale, instead of
 * exiting (seen in test_rolling_update). So it stays while it answers and
 * lacks what was committed when it was first seen Retired, plus 3 ticks of
 * heartbeats (which carry the commit index); 5 s at most. */
static bool retired_may_leave(node_updater *u, uint64_t id)
{
    cs_consensus *c = u->n->cons;
    if (u->retiring != id) {
        u->retiring = id;
        u->retire_at = cs_consensus_commit_index(c);
        u->retire_ticks = u->retire_held = 0;
    }
    if (cs_consensus_peer_match(c, id) >= u->retire_at)
        u->retire_held++;
    return !cs_consensus_peer_recent(c, id) || u->retire_held > 3 || ++u->retire_ticks > 25;
}

/* A member whose record is Retired leaves raft; true if a step was taken. */
static bool remove_retired(node_updater *u, const voter_info *v, size_t count)
{
    cs_node *n = u->n;
    for (size_t i = 0; i < count; i++) {
        if (!v[i].known || strcmp(v[i].status, "Retired") != 0)
            continue;
        consort_err rc;
        if (v[i].raft_id == node_vault_raft_id(n->vault)) {
            cs_log_info(NODE_LOG, "node %s: retired: handing leadership over", cs_node_id(n));
            rc = cs_consensus_transfer(n->cons, 0, raft_done, u);
        } else if (!retired_may_leave(u, v[i].raft_id)) {
            return true;
        } else {
            cs_log_info(NODE_LOG, "node %s: removing retired node %s from raft", cs_node_id(n),
                        v[i].node_id);
            rc = cs_consensus_remove(n->cons, v[i].raft_id, raft_done, u);
        }
        if (rc == CONSORT_OK)
            u->busy = true;
        else
            cs_log_warn(NODE_LOG, "node %s: removing node %s: %s", cs_node_id(n), v[i].node_id,
                        consort_errmsg());
        return true;
    }
    return false;
}

/* ---- the update ---- */

typedef struct update_policy {
    char successor[65];
    char predecessor[65];
    char state[16];
    size_t need;
    uint64_t cutover_quorum, grace_s, tolerate;
    bool deprecated;
    int64_t deprecated_at;
} update_policy;

typedef struct find_ctx {
    update_policy *p;
    bool found;
} find_ctx;

/* The first update that is not done. */
static bool find_cb(void *ctx, cs_slice key, cs_slice value)
{
    find_ctx *f = ctx;
    json_t *u = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    const char *state = json_string_value(json_object_get(u, "state"));
    const char *pred = json_string_value(json_object_get(u, "successor_of"));
    if (pred != NULL && key.len == 64 && (state == NULL || strcmp(state, "done") != 0)) {
        update_policy *p = f->p;
        memcpy(p->successor, key.ptr, 64);
        p->successor[64] = '\0';
        snprintf(p->predecessor, sizeof p->predecessor, "%s", pred);
        snprintf(p->state, sizeof p->state, "%s", state != NULL ? state : "");
        p->need = (size_t)json_integer_value(json_object_get(u, "need"));
        p->cutover_quorum = (uint64_t)json_integer_value(json_object_get(u, "cutover_quorum"));
        p->grace_s = (uint64_t)json_integer_value(json_object_get(u, "grace_period_s"));
        p->tolerate = (uint64_t)json_integer_value(json_object_get(u, "tolerate_failures"));
        p->deprecated = json_is_true(json_object_get(u, "deprecated"));
        p->deprecated_at = (int64_t)json_integer_value(json_object_get(u, "deprecated_at"));
        f->found = true;
    }
    json_decref(u);
    return !f->found;
}

static void advance(node_updater *u, const cs_raft_member *m, const voter_info *v, size_t count,
                    const update_policy *p)
{
    cs_node *n = u->n;
    cs_gov_update_node nodes[MAX_VOTERS];
    size_t map[MAX_VOTERS]; /* view index -> member index */
    size_t k = 0, leader = CS_GOV_NO_LEADER;
    bool foreign = false; /* a voter runs neither O nor N */
    for (size_t i = 0; i < count; i++) {
        if (m[i].role != CS_RAFT_VOTER)
            continue;
        bool is_new = v[i].known && strcmp(v[i].code_id, p->successor) == 0;
        foreign |= !is_new && !(v[i].known && strcmp(v[i].code_id, p->predecessor) == 0);
        nodes[k] = (cs_gov_update_node){.runs_new = is_new, .live = is_live(u, m[i].id)};
        if (m[i].id == node_vault_raft_id(n->vault))
            leader = k;
        map[k++] = i;
    }
    int64_t now = (int64_t)time(NULL);
    cs_gov_update_view view = {
        .voters = nodes,
        .n_voters = k,
        .leader = leader,
        .tolerate_failures = (uint32_t)p->tolerate,
        .cutover_quorum = (uint32_t)p->cutover_quorum,
        .deprecated = p->deprecated,
        .grace_expired = p->deprecated && now - p->deprecated_at >= (int64_t)p->grace_s,
    };
    cs_gov_update_step step = cs_gov_update_next(&view);
    node_update_step s = {.successor = p->successor, .now = now};
    switch (step.action) {
    case CS_GOV_UPDATE_DEPRECATE:
        s.state = "grace";
        s.deprecate = true;
        cs_log_info(NODE_LOG, "rolling update: code id %.16s... deprecated (cutover reached)",
                    p->predecessor);
        write_step(u, &s);
        return;
    case CS_GOV_UPDATE_TRANSFER:
        cs_log_info(NODE_LOG, "rolling update: the leader runs the old code: transferring to %llx",
                    (unsigned long long)m[map[step.node]].id);
        if (cs_consensus_transfer(n->cons, m[map[step.node]].id, raft_done, u) == CONSORT_OK)
            u->busy = true;
        return;
    case CS_GOV_UPDATE_EVICT:
        if (foreign) { /* only O voters may be evicted: never guess */
            s.state = "blocked";
            break;
        }
        s.state = "evicting";
        s.evict = v[map[step.node]].node_id;
        cs_log_info(NODE_LOG, "rolling update: evicting node %s (still on code id %.16s...)",
                    s.evict, p->predecessor);
        write_step(u, &s);
        return;
    case CS_GOV_UPDATE_DONE:
        s.state = "done";
        s.retire_code = p->predecessor;
        cs_log_info(NODE_LOG, "rolling update to %.16s... done; %.16s... retired", p->successor,
                    p->predecessor);
        write_step(u, &s);
        return;
    default:
        s.state = cs_gov_update_action_name(step.action);
        s.need = step.need;
        break;
    }
    if (strcmp(s.state, p->state) != 0 || s.need != p->need) /* progress changed: record it */
        write_step(u, &s);
}

static void tick_cb(void *ctx)
{
    node_updater *u = ctx;
    cs_node *n = u->n;
    cs_timer_start(u->tick, UPDATE_TICK_MS);
    if (u->busy || !n->leader || n->cons == NULL || !node_exec_is_open(n->exec))
        return;
    cs_raft_member m[MAX_VOTERS];
    voter_info v[MAX_VOTERS];
    size_t count = 0;
    if (load_members(n, m, v, &count) != CONSORT_OK) {
        cs_err_clear();
        return;
    }
    sample_live(u, m, count);
    if (remove_retired(u, v, count))
        return;
    update_policy p;
    memset(&p, 0, sizeof p);
    find_ctx f = {.p = &p};
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(node_replica_kv(n->replica), &tx) != CONSORT_OK) {
        cs_err_clear();
        return;
    }
    consort_err rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), find_cb, &f);
    cs_kv_tx_free(tx);
    if (rc == CONSORT_OK && f.found)
        advance(u, m, v, count, &p);
    cs_err_clear();
}

consort_err node_update_start(cs_node *n)
{
    node_updater *u = cs_calloc(1, sizeof *u);
    CS_ENSURE(u != NULL, CONSORT_E_NOMEM, "update driver");
    u->n = n;
    consort_err rc = cs_timer_new(n->loop, tick_cb, u, &u->tick);
    if (rc != CONSORT_OK) {
        cs_free(u);
        return rc;
    }
    cs_timer_start(u->tick, UPDATE_TICK_MS);
    n->updater = u;
    return CONSORT_OK;
}

void node_update_stop(cs_node *n)
{
    node_updater *u = n->updater;
    if (u == NULL)
        return;
    n->updater = NULL;
    cs_timer_free(u->tick);
    if (u->busy)
        u->stopped = true; /* its callback frees it */
    else
        cs_free(u);
}
