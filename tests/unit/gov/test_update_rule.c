/*
 * The rolling update's decision rule (src/gov/update_rule.h), on the cases
 * models/rolling_update.pml explores: the configurations of
 * scripts/check-models.sh (c1, c2, `few`: blocked with need 1, `nocut`: the
 * default cutover not reached, the state the mutant's counterexample reaches),
 * every small configuration exhaustively, and a whole update driven to the
 * end with the model's assertion after each eviction.
 */
#include "testutil.h"

#include "gov/update_rule.h"

#include <string.h>

#define MAXV 16

/* O/N, live/failed shorthand for building voter lists */
#define OL                                                                                         \
    {                                                                                              \
        .runs_new = false, .live = true                                                            \
    }
#define OF                                                                                         \
    {                                                                                              \
        .runs_new = false, .live = false                                                           \
    }
#define NL                                                                                         \
    {                                                                                              \
        .runs_new = true, .live = true                                                             \
    }
#define NF                                                                                         \
    {                                                                                              \
        .runs_new = true, .live = false                                                            \
    }

typedef struct sim {
    cs_gov_update_node v[MAXV];
    cs_gov_update_view view;
} sim;

static void sim_init(sim *s, const cs_gov_update_node *voters, size_t n, size_t leader,
                     uint32_t tol)
{
    memset(s, 0, sizeof *s);
    assert_true(n <= MAXV);
    memcpy(s->v, voters, n * sizeof *voters);
    s->view.voters = s->v;
    s->view.n_voters = n;
    s->view.leader = leader;
    s->view.tolerate_failures = tol;
}

/* adds one live N voter (a join and its admission) */
static void sim_join(sim *s)
{
    assert_true(s->view.n_voters < MAXV);
    s->v[s->view.n_voters].runs_new = true;
    s->v[s->view.n_voters].live = true;
    s->view.n_voters++;
}

/* removes voters[i], keeping the leader's index right */
static void sim_remove(sim *s, size_t i)
{
    assert_true(i < s->view.n_voters);
    assert_int_not_equal(i, s->view.leader);
    memmove(&s->v[i], &s->v[i + 1], (s->view.n_voters - i - 1) * sizeof s->v[0]);
    s->view.n_voters--;
    if (s->view.leader != CS_GOV_NO_LEADER && s->view.leader > i)
        s->view.leader--;
}

static void majority_is_floor_half_plus_one(void **state)
{
    (void)state;
    const size_t want[] = {1, 1, 2, 2, 3, 3, 4, 4, 5};
    for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
        assert_int_equal(cs_gov_majority(n), want[n]);
}

/* The configurations of scripts/check-models.sh, at their first eviction. */
static void rule_on_the_model_configurations(void **state)
{
    (void)state;
    sim s;
    /* c1 (2 O, TOL 1) with every slot filled: 2 O + 4 N: 4 >= MAJ(5) + 1 */
    const cs_gov_update_node c1[] = {OL, OL, NL, NL, NL, NL};
    sim_init(&s, c1, 6, 2, 1);
    assert_true(cs_gov_eviction_allowed(&s.view));
    assert_int_equal(cs_gov_evict_need(&s.view), 0);

    /* `few` (5 slots): 2 O + 3 N: 3 < MAJ(4) + 1 = 4: blocked, need 1 */
    const cs_gov_update_node few[] = {OL, OL, NL, NL, NL};
    sim_init(&s, few, 5, 2, 1);
    assert_false(cs_gov_eviction_allowed(&s.view));
    assert_int_equal(cs_gov_evict_need(&s.view), 1);
    s.view.deprecated = s.view.grace_expired = true;
    cs_gov_update_step st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_BLOCKED);
    assert_int_equal(st.need, 1);
    assert_string_equal(cs_gov_update_action_name(st.action), "blocked");
    sim_join(&s);
    assert_true(cs_gov_eviction_allowed(&s.view));

    /* c2 (3 O, TOL 1): 3 O + 4 N blocked (need 1), 3 O + 5 N allowed */
    const cs_gov_update_node c2[] = {OL, OL, OL, NL, NL, NL, NL};
    sim_init(&s, c2, 7, 0, 1);
    assert_int_equal(cs_gov_evict_need(&s.view), 1);
    sim_join(&s);
    assert_true(cs_gov_eviction_allowed(&s.view));

    /* where the mutant's counterexample evicts: 1 O + 2 N, TOL 1. The rule
     * refuses (2 < MAJ(2) + 1 = 3); one more N voter is enough. */
    const cs_gov_update_node mut[] = {NL, OL, NL};
    sim_init(&s, mut, 3, 2, 1);
    s.view.deprecated = s.view.grace_expired = true;
    assert_false(cs_gov_may_evict(&s.view, 1));
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_BLOCKED);
    assert_int_equal(st.need, 1);

    /* c3 (3 O, TOL 0): 3 O + 4 N: 4 >= MAJ(6) */
    const cs_gov_update_node c3[] = {OL, OL, OL, NL, NL, NL, NL};
    sim_init(&s, c3, 7, 0, 0);
    assert_true(cs_gov_eviction_allowed(&s.view));
    /* c4 (1 O, TOL 2): 1 O + 5 N: 5 >= MAJ(5) + 2; 1 O + 4 N is not */
    const cs_gov_update_node c4[] = {OL, NL, NL, NL, NL, NL};
    sim_init(&s, c4, 6, 0, 2);
    assert_true(cs_gov_eviction_allowed(&s.view));
    sim_init(&s, c4, 5, 0, 2);
    assert_int_equal(cs_gov_evict_need(&s.view), 1);
}

/* Failed N voters are still voters but do not count as live N. */
static void failed_voters_count_in_the_configuration_only(void **state)
{
    (void)state;
    sim s;
    const cs_gov_update_node v[] = {OL, OL, NL, NL, NF, NL};
    sim_init(&s, v, 6, 2, 1);
    assert_int_equal(cs_gov_live_new(&s.view), 3);
    assert_int_equal(cs_gov_new_voters(&s.view), 4);
    assert_false(cs_gov_eviction_allowed(&s.view));
    /* 6 + 2 - 6 = 2: one more N is not enough (4 < MAJ(6) + 1 = 5) */
    assert_int_equal(cs_gov_evict_need(&s.view), 2);
    /* recovering the failed one counts as one */
    s.v[4].live = true;
    assert_true(cs_gov_eviction_allowed(&s.view));
    /* a failed O voter changes nothing: it is in the configuration either way */
    s.v[0].live = false;
    assert_true(cs_gov_eviction_allowed(&s.view));
}

/* K is the smallest number of live N voters to add, against a search. */
static void need_is_the_smallest_k(void **state)
{
    (void)state;
    for (uint32_t tol = 0; tol <= 4; tol++) {
        for (size_t n = 1; n <= 12; n++) {
            for (size_t live_n = 0; live_n <= n; live_n++) {
                cs_gov_update_node v[MAXV + 16];
                for (size_t i = 0; i < n; i++)
                    v[i] = (cs_gov_update_node){.runs_new = i < live_n, .live = true};
                cs_gov_update_view view = {
                    .voters = v, .n_voters = n, .leader = 0, .tolerate_failures = tol};
                size_t k = 0;
                /* the model's RULE, literally, with k new live N voters */
                while (live_n + k < cs_gov_majority(n + k - 1) + tol)
                    k++;
                assert_int_equal(cs_gov_evict_need(&view), k);
                assert_int_equal(cs_gov_eviction_allowed(&view), k == 0);
                /* equivalent form: 2 live_N >= n + 2 tol */
                assert_int_equal(k == 0, 2 * live_n >= n + 2 * tol);
            }
        }
    }
}

/* Default cutover: a majority of the voters run N; `nocut` of the script. */
static void cutover_and_its_need(void **state)
{
    (void)state;
    sim s;
    const cs_gov_update_node nocut[] = {OL, OL, OL, NL, NL, NL};
    sim_init(&s, nocut, 6, 0, 0);
    assert_false(cs_gov_cutover_reached(&s.view));
    cs_gov_update_step st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_MIXED);
    assert_int_equal(st.need, 1); /* 3 O + 3 N: a fourth N deprecates O */
    /* although the rule itself would already allow an eviction */
    assert_true(cs_gov_eviction_allowed(&s.view));
    /* c5: cutover_quorum 3 */
    s.view.cutover_quorum = 3;
    assert_true(cs_gov_cutover_reached(&s.view));
    assert_int_equal(cs_gov_update_next(&s.view).action, CS_GOV_UPDATE_DEPRECATE);
    /* failed N voters count for the cutover (they are voters running N) */
    s.view.cutover_quorum = 0;
    s.v[3].live = false;
    sim_join(&s);
    assert_int_equal(cs_gov_update_next(&s.view).action, CS_GOV_UPDATE_DEPRECATE);

    /* cs_gov_cutover_need against a search */
    for (uint32_t q = 0; q <= 6; q++) {
        for (size_t n = 0; n <= 10; n++) {
            for (size_t nn = 0; nn <= n; nn++) {
                cs_gov_update_node v[MAXV];
                for (size_t i = 0; i < n; i++)
                    v[i] = (cs_gov_update_node){.runs_new = i < nn, .live = (i % 3) != 1};
                cs_gov_update_view view = {
                    .voters = v, .n_voters = n, .leader = 0, .cutover_quorum = q};
                size_t k = 0;
                while (q == 0 ? nn + k < cs_gov_majority(n + k) : nn + k < q)
                    k++;
                assert_int_equal(cs_gov_cutover_need(&view), k);
                assert_int_equal(cs_gov_cutover_reached(&view), k == 0);
            }
        }
    }
}

static void steps_in_order(void **state)
{
    (void)state;
    sim s;
    /* 2 O (one failed) + 6 N (one failed), the O voter 0 leads, TOL 1:
     * live N 5 >= MAJ(7) + 1, and after one eviction 5 >= MAJ(6) + 1 */
    const cs_gov_update_node v[] = {OL, OF, NF, NL, NL, NL, NL, NL};
    sim_init(&s, v, 8, 0, 1);
    cs_gov_update_step st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_DEPRECATE);
    s.view.deprecated = true;
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_GRACE);
    s.view.grace_expired = true;

    s.view.leader = CS_GOV_NO_LEADER;
    assert_int_equal(cs_gov_update_next(&s.view).action, CS_GOV_UPDATE_NO_LEADER);
    s.view.leader = 0;

    /* the O leader hands over to the first LIVE N voter (3, not 2) */
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_TRANSFER);
    assert_int_equal(st.node, 3);
    assert_false(cs_gov_may_evict(&s.view, 0)); /* not while it leads */
    s.view.leader = st.node;

    /* a failed O voter goes first */
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_EVICT);
    assert_int_equal(st.node, 1);
    assert_true(cs_gov_may_evict(&s.view, 1));
    sim_remove(&s, 1);
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_EVICT);
    assert_int_equal(st.node, 0);
    sim_remove(&s, 0);
    st = cs_gov_update_next(&s.view);
    assert_int_equal(st.action, CS_GOV_UPDATE_DONE);
    assert_string_equal(cs_gov_update_action_name(st.action), "done");
}

static void may_evict_only_o_followers(void **state)
{
    (void)state;
    sim s;
    const cs_gov_update_node v[] = {OL, OL, NL, NL, NL, NL};
    sim_init(&s, v, 6, 2, 1);
    assert_true(cs_gov_may_evict(&s.view, 0));
    assert_true(cs_gov_may_evict(&s.view, 1));
    assert_false(cs_gov_may_evict(&s.view, 3)); /* runs N */
    assert_false(cs_gov_may_evict(&s.view, 6)); /* not a voter */
    s.view.leader = 1;
    assert_false(cs_gov_may_evict(&s.view, 1)); /* leads */
    s.v[5].live = false;
    assert_false(cs_gov_may_evict(&s.view, 0)); /* the rule */
    cs_gov_update_view empty = {.voters = NULL, .n_voters = 0, .leader = CS_GOV_NO_LEADER};
    assert_false(cs_gov_eviction_allowed(&empty));
    assert_false(cs_gov_may_evict(&empty, 0));
}

/*
 * Every configuration of up to 6 voters (O/N x live/failed each), every
 * leader, TOL 0..2: what cs_gov_update_next decides satisfies what spin
 * checks of the model's gov process.
 */
static void exhaustive_small_configurations(void **state)
{
    (void)state;
    unsigned evictions = 0, blocked = 0, transfers = 0;
    for (size_t n = 1; n <= 6; n++) {
        for (unsigned code = 0; code < (1u << (2 * n)); code++) {
            cs_gov_update_node v[MAXV];
            for (size_t i = 0; i < n; i++)
                v[i] = (cs_gov_update_node){.runs_new = (code >> (2 * i)) & 1,
                                            .live = (code >> (2 * i + 1)) & 1};
            for (size_t leader = 0; leader <= n; leader++) {
                if (leader < n && !v[leader].live)
                    continue; /* a leader is live */
                for (uint32_t tol = 0; tol <= 2; tol++) {
                    cs_gov_update_view view = {.voters = v,
                                               .n_voters = n,
                                               .leader = leader < n ? leader : CS_GOV_NO_LEADER,
                                               .tolerate_failures = tol,
                                               .deprecated = true,
                                               .grace_expired = true};
                    size_t live_n = cs_gov_live_new(&view);
                    size_t n_o = n - cs_gov_new_voters(&view);
                    cs_gov_update_step st = cs_gov_update_next(&view);
                    switch (st.action) {
                    case CS_GOV_UPDATE_EVICT:
                        evictions++;
                        assert_true(st.node < n);
                        assert_false(v[st.node].runs_new);
                        assert_int_not_equal(st.node, view.leader);
                        assert_true(v[view.leader].runs_new);
                        assert_true(cs_gov_may_evict(&view, st.node));
                        /* the model's assertion after the eviction */
                        assert_true(live_n >= cs_gov_majority(n - 1) + tol);
                        /* failed O voters go first */
                        if (v[st.node].live)
                            for (size_t i = 0; i < n; i++)
                                assert_false(!v[i].runs_new && !v[i].live);
                        break;
                    case CS_GOV_UPDATE_TRANSFER:
                        transfers++;
                        assert_true(st.node < n);
                        assert_true(v[st.node].runs_new && v[st.node].live);
                        assert_false(v[view.leader].runs_new);
                        assert_true(cs_gov_eviction_allowed(&view));
                        break;
                    case CS_GOV_UPDATE_BLOCKED:
                        blocked++;
                        assert_true(n_o > 0);
                        assert_false(cs_gov_eviction_allowed(&view));
                        assert_true(st.need >= 1);
                        assert_int_equal(st.need, n + 2 * tol - 2 * live_n);
                        break;
                    case CS_GOV_UPDATE_NO_LEADER:
                        assert_int_equal(view.leader, CS_GOV_NO_LEADER);
                        assert_true(n_o > 0 && cs_gov_eviction_allowed(&view));
                        break;
                    case CS_GOV_UPDATE_DONE:
                        assert_int_equal(n_o, 0);
                        break;
                    default:
                        fail_msg("unexpected action %s", cs_gov_update_action_name(st.action));
                    }
                }
            }
        }
    }
    assert_true(evictions > 0 && blocked > 0 && transfers > 0);
}

/*
 * A whole update of a 3-node O service, driven by cs_gov_update_next the
 * way the node will: MIXED/BLOCKED add `need` N nodes, every other step is
 * done; an N voter crashes half-way. After each eviction the model's
 * assertion holds. Returns the number of N nodes added and the peak size.
 */
static void roll(uint32_t tol, size_t *added, size_t *peak)
{
    sim s;
    const cs_gov_update_node o3[] = {OL, OL, OL};
    sim_init(&s, o3, 3, 0, tol);
    *added = 0;
    *peak = 3;
    bool crashed = false;
    for (int steps = 0; steps < 100; steps++) {
        cs_gov_update_step st = cs_gov_update_next(&s.view);
        switch (st.action) {
        case CS_GOV_UPDATE_MIXED:
        case CS_GOV_UPDATE_BLOCKED:
            assert_true(st.need >= 1);
            for (size_t k = 0; k < st.need; k++)
                sim_join(&s);
            *added += st.need;
            break;
        case CS_GOV_UPDATE_DEPRECATE:
            s.view.deprecated = true;
            break;
        case CS_GOV_UPDATE_GRACE:
            s.view.grace_expired = true;
            break;
        case CS_GOV_UPDATE_TRANSFER:
            s.view.leader = st.node;
            break;
        case CS_GOV_UPDATE_EVICT:
            sim_remove(&s, st.node);
            assert_true(cs_gov_live_new(&s.view) >=
                        cs_gov_majority(s.view.n_voters) + s.view.tolerate_failures);
            if (!crashed) { /* an N follower crashes after the first eviction */
                crashed = true;
                for (size_t i = 0; i < s.view.n_voters; i++)
                    if (s.v[i].runs_new && i != s.view.leader) {
                        s.v[i].live = false;
                        break;
                    }
            }
            break;
        case CS_GOV_UPDATE_DONE:
            return;
        default:
            fail_msg("unexpected action %s", cs_gov_update_action_name(st.action));
        }
        if (s.view.n_voters > *peak)
            *peak = s.view.n_voters;
    }
    fail_msg("the update did not finish");
}

static void rolling_update_of_three_o_nodes(void **state)
{
    (void)state;
    size_t added, peak;
    /* TOL 0: 4 N deprecate O (default cutover), then 3 evictions; the crash
     * of an N voter after the first leaves 3 live N of 6 voters: still
     * enough (2 * 3 >= 6 + 0) */
    roll(0, &added, &peak);
    assert_int_equal(added, 4);
    assert_int_equal(peak, 7);
    /* TOL 1: 4 N to deprecate, blocked with need 1 (c2: 3 O + 5 N), and
     * after the crash blocked again */
    roll(1, &added, &peak);
    assert_int_equal(added, 6);
    assert_int_equal(peak, 8);
}

static void action_names(void **state)
{
    (void)state;
    const char *want[] = {"mixed",     "deprecate", "grace", "blocked",
                          "no_leader", "transfer",  "evict", "done"};
    for (int a = CS_GOV_UPDATE_MIXED; a <= CS_GOV_UPDATE_DONE; a++)
        assert_string_equal(cs_gov_update_action_name((cs_gov_update_action)a),
                            want[a - CS_GOV_UPDATE_MIXED]);
    assert_string_equal(cs_gov_update_action_name((cs_gov_update_action)0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(majority_is_floor_half_plus_one),
        cmocka_unit_test(rule_on_the_model_configurations),
        cmocka_unit_test(failed_voters_count_in_the_configuration_only),
        cmocka_unit_test(need_is_the_smallest_k),
        cmocka_unit_test(cutover_and_its_need),
        cmocka_unit_test(steps_in_order),
        cmocka_unit_test(may_evict_only_o_followers),
        cmocka_unit_test(exhaustive_small_configurations),
        cmocka_unit_test(rolling_update_of_three_o_nodes),
        cmocka_unit_test(action_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
