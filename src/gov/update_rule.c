/*
 * The rolling update's decision rule: see update_rule.h. Every formula here
 * has its twin in models/rolling_update.pml (named in the comments); change
 * both together and rerun scripts/check-models.sh.
 */
#include "gov/update_rule.h"

/* MAJ(n) */
size_t cs_gov_majority(size_t n)
{
    return n / 2 + 1;
}

/* liveN */
size_t cs_gov_live_new(const cs_gov_update_view *v)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n_voters; i++)
        if (v->voters[i].runs_new && v->voters[i].live)
            k++;
    return k;
}

/* NVOTERS = ncfg - nO */
size_t cs_gov_new_voters(const cs_gov_update_view *v)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n_voters; i++)
        if (v->voters[i].runs_new)
            k++;
    return k;
}

/* CUT_REACHED */
bool cs_gov_cutover_reached(const cs_gov_update_view *v)
{
    size_t nn = cs_gov_new_voters(v);
    if (v->cutover_quorum == 0)
        return nn >= cs_gov_majority(v->n_voters);
    return nn >= v->cutover_quorum;
}

/* RULE: liveN >= MAJ(ncfg - 1) + TOL */
bool cs_gov_eviction_allowed(const cs_gov_update_view *v)
{
    if (v->n_voters == 0)
        return false;
    return cs_gov_live_new(v) >= cs_gov_majority(v->n_voters - 1) + v->tolerate_failures;
}

bool cs_gov_may_evict(const cs_gov_update_view *v, size_t idx)
{
    if (idx >= v->n_voters || v->voters[idx].runs_new || idx == v->leader)
        return false;
    return cs_gov_eviction_allowed(v);
}

/*
 * The smallest K >= 0 with live_N + K >= MAJ(n - 1 + K) + f (K new N voters,
 * live). With m = n - 1: K - floor((m + K) / 2) = ceil((K - m) / 2), so the
 * condition is ceil((K - m) / 2) >= 1 + f - live_N, i.e.
 * K >= m + 2 * (1 + f - live_N) - 1 = n + 2f - 2 live_N.
 * (tests/unit/gov/test_update_rule.c checks this against the search.)
 */
size_t cs_gov_evict_need(const cs_gov_update_view *v)
{
    size_t have = 2 * cs_gov_live_new(v);
    size_t want = v->n_voters + 2 * (size_t)v->tolerate_failures;
    return want > have ? want - have : 0;
}

/*
 * The smallest K with NVOTERS + K >= MAJ(n + K) (default), or
 * NVOTERS + K >= cutover_quorum: by the same step, K >= n + 1 - 2 NVOTERS.
 */
size_t cs_gov_cutover_need(const cs_gov_update_view *v)
{
    size_t nn = cs_gov_new_voters(v);
    if (v->cutover_quorum != 0)
        return v->cutover_quorum > nn ? v->cutover_quorum - nn : 0;
    return v->n_voters + 1 > 2 * nn ? v->n_voters + 1 - 2 * nn : 0;
}

static size_t first_voter(const cs_gov_update_view *v, bool runs_new, bool live)
{
    for (size_t i = 0; i < v->n_voters; i++)
        if (v->voters[i].runs_new == runs_new && v->voters[i].live == live && i != v->leader)
            return i;
    return CS_GOV_NO_LEADER;
}

/* the gov process of the model, deterministically */
cs_gov_update_step cs_gov_update_next(const cs_gov_update_view *v)
{
    cs_gov_update_step s = {.action = CS_GOV_UPDATE_DONE, .node = 0, .need = 0};
    if (!v->deprecated) {
        if (cs_gov_cutover_reached(v)) {
            s.action = CS_GOV_UPDATE_DEPRECATE;
        } else {
            s.action = CS_GOV_UPDATE_MIXED;
            s.need = cs_gov_cutover_need(v);
        }
        return s;
    }
    if (cs_gov_new_voters(v) == v->n_voters)
        return s; /* DONE: nO == 0 */
    if (!v->grace_expired) {
        s.action = CS_GOV_UPDATE_GRACE;
        return s;
    }
    if (!cs_gov_eviction_allowed(v)) { /* GUARD */
        s.action = CS_GOV_UPDATE_BLOCKED;
        s.need = cs_gov_evict_need(v);
        return s;
    }
    if (v->leader >= v->n_voters) {
        s.action = CS_GOV_UPDATE_NO_LEADER;
        return s;
    }
    if (!v->voters[v->leader].runs_new) {
        /* the rule holds, so live_N >= 1 + f >= 1: a live N voter exists */
        s.action = CS_GOV_UPDATE_TRANSFER;
        s.node = first_voter(v, true, true);
        return s;
    }
    s.action = CS_GOV_UPDATE_EVICT;
    s.node = first_voter(v, false, false); /* a failed O voter first */
    if (s.node == CS_GOV_NO_LEADER)
        s.node = first_voter(v, false, true); /* the leader runs N: not it */
    return s;
}

const char *cs_gov_update_action_name(cs_gov_update_action action)
{
    switch (action) {
    case CS_GOV_UPDATE_MIXED:
        return "mixed";
    case CS_GOV_UPDATE_DEPRECATE:
        return "deprecate";
    case CS_GOV_UPDATE_GRACE:
        return "grace";
    case CS_GOV_UPDATE_BLOCKED:
        return "blocked";
    case CS_GOV_UPDATE_NO_LEADER:
        return "no_leader";
    case CS_GOV_UPDATE_TRANSFER:
        return "transfer";
    case CS_GOV_UPDATE_EVICT:
        return "evict";
    case CS_GOV_UPDATE_DONE:
        return "done";
    }
    return "unknown";
}
