/*
 * The rolling update's decision rule (issue 9, items 6 and 7;
 * docs/rolling-updates.md "The eviction rule and its model"): pure functions
 * over a snapshot of the Raft voter configuration, no I/O, no clock, no
 * allocation. The node's update driver (on the leader) builds a
 * cs_gov_update_view, asks cs_gov_update_next what to do, does it as one
 * ledger transaction, and asks again.
 *
 * THE RULE, the same formula as RULE in models/rolling_update.pml (which spin
 * checks, scripts/check-models.sh):
 *
 *     evict O voter x only if   live_N >= majority(n - 1) + tolerate_failures
 *
 *   n               the Raft voter configuration before the eviction: every
 *                   trusted node, live or failed (a crashed voter still
 *                   counts until it is removed); pending/joining nodes are not
 *                   voters; n - 1 is the configuration after evicting x;
 *   majority(m)     floor(m / 2) + 1;
 *   live_N          voters running N (the successor code id) that have not
 *                   failed; x runs O, so evicting it does not change live_N.
 *
 * That is: after the eviction, the live N voters alone are a majority of the
 * new configuration and stay one after tolerate_failures more of them fail.
 * Equivalently (n odd or even): 2 * live_N >= n + 2 * tolerate_failures. O
 * voters are not counted: they run deprecated code and are about to go too.
 * Each joining N voter raises live_N by one and n by one, so when the rule
 * fails exactly K = n + 2 * tolerate_failures - 2 * live_N more N nodes must
 * join and stay up (recovering a failed N voter also counts as one).
 */
#ifndef CS_GOV_UPDATE_RULE_H
#define CS_GOV_UPDATE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cs_gov_update_view.leader when no leader is known. */
#define CS_GOV_NO_LEADER ((size_t)-1)

/* One voter as the update driver sees it. */
typedef struct cs_gov_update_node {
    bool runs_new; /* its code id is N, the update's successor; false: O */
    bool live;     /* not failed (the leader hears from it) */
} cs_gov_update_node;

typedef struct cs_gov_update_view {
    const cs_gov_update_node *voters; /* the Raft voter configuration */
    size_t n_voters;
    size_t leader;              /* index into voters, or CS_GOV_NO_LEADER */
    uint32_t tolerate_failures; /* the update policy's tolerate_failures */
    uint32_t cutover_quorum;    /* N voters that deprecate O; 0: a majority */
    bool deprecated;            /* O is deprecated (latched: never undone) */
    bool grace_expired;         /* grace_period_s elapsed since deprecation */
} cs_gov_update_view;

typedef enum cs_gov_update_action {
    CS_GOV_UPDATE_MIXED = 1, /* O and N coexist: `need` more N voters deprecate O */
    CS_GOV_UPDATE_DEPRECATE, /* the cutover is reached: deprecate O now */
    CS_GOV_UPDATE_GRACE,     /* deprecated; waiting for the grace period */
    CS_GOV_UPDATE_BLOCKED,   /* the rule forbids evicting: `need` more N nodes */
    CS_GOV_UPDATE_NO_LEADER, /* no leader known: nothing may change now */
    CS_GOV_UPDATE_TRANSFER,  /* transfer leadership to voters[node] (runs N) */
    CS_GOV_UPDATE_EVICT,     /* evict voters[node] (runs O, not the leader) */
    CS_GOV_UPDATE_DONE,      /* deprecated and no voter runs O */
} cs_gov_update_action;

typedef struct cs_gov_update_step {
    cs_gov_update_action action;
    size_t node; /* TRANSFER, EVICT: an index into voters */
    size_t need; /* MIXED, BLOCKED: N nodes that must still join (>= 1) */
} cs_gov_update_step;

/* floor(n / 2) + 1: MAJ(n) in models/rolling_update.pml. */
size_t cs_gov_majority(size_t n);

/* Voters running N that have not failed (liveN in the model). */
size_t cs_gov_live_new(const cs_gov_update_view *v);

/* Voters running N, live or failed (NVOTERS in the model). */
size_t cs_gov_new_voters(const cs_gov_update_view *v);

/* O is to be deprecated: cutover_quorum N voters (or, with 0, a majority of
 * the voters run N). CUT_REACHED in the model. */
bool cs_gov_cutover_reached(const cs_gov_update_view *v);

/* THE RULE (RULE in the model): evicting one O voter keeps
 * live_N >= majority(n - 1) + tolerate_failures. False with no voters. */
bool cs_gov_eviction_allowed(const cs_gov_update_view *v);

/* The rule, for voters[idx]: true only if it is a voter running O, is not
 * the leader (transfer leadership first) and cs_gov_eviction_allowed. */
bool cs_gov_may_evict(const cs_gov_update_view *v, size_t idx);

/* K: N nodes that must join (and stay up) before an eviction is allowed;
 * 0 if it is allowed now. max(0, n + 2 * tolerate_failures - 2 * live_N). */
size_t cs_gov_evict_need(const cs_gov_update_view *v);

/* N nodes that must join before the cutover is reached; 0 if it is. */
size_t cs_gov_cutover_need(const cs_gov_update_view *v);

/* The next step of the update (the gov process of the model, refined: where
 * the model evicts any O voter, this picks a failed one first, then the live
 * follower with the lowest index):
 *   not deprecated:              DEPRECATE if the cutover is reached, else
 *                                MIXED with need = cs_gov_cutover_need;
 *   no O voter left:             DONE;
 *   grace period not over:       GRACE;
 *   the rule fails:              BLOCKED with need = cs_gov_evict_need (K);
 *   no leader known:             NO_LEADER;
 *   the leader runs O:           TRANSFER to the first live N voter;
 *   otherwise:                   EVICT a failed O voter, else a live one. */
cs_gov_update_step cs_gov_update_next(const cs_gov_update_view *v);

/* "mixed", "deprecate", "grace", "blocked", "no_leader", "transfer", "evict",
 * "done" (the update state of GET /gov/service), or "unknown". */
const char *cs_gov_update_action_name(cs_gov_update_action action);

#endif
