/*
 * The rolling update's eviction rule (issue 9, item 7), as a Promela model
 * for spin. docs/rolling-updates.md "The eviction rule and its model" explains
 * it; scripts/check-models.sh runs it (ctest: model/check_models).
 *
 * THE RULE (the same formula as cs_gov_eviction_allowed, used by
 * cs_gov_may_evict and cs_gov_update_next, in src/gov/update_rule.c):
 *
 *   evict O node x only if   liveN >= MAJ(ncfg - 1) + TOL
 *
 *   ncfg     the Raft voter configuration BEFORE the eviction: every trusted
 *            node, live or failed (a crashed voter is still a voter until it
 *            is removed); joining nodes are not voters yet;
 *   ncfg - 1 the voter configuration AFTER evicting x (x is a voter);
 *   MAJ(n)   = floor(n / 2) + 1, a Raft majority of n voters;
 *   liveN    trusted voters that run N and have not failed (x runs O, so the
 *            eviction does not change liveN);
 *   TOL      the update policy's tolerate_failures.
 *
 * i.e. after the eviction the live N voters ALONE are a majority of the new
 * configuration, and still are after TOL more of them fail. Remaining O voters
 * are not counted: they are deprecated and are themselves about to be evicted.
 *
 * WHAT IS MODELLED. NSLOTS node slots, each EMPTY, JOINING (N only), TRUSTED
 * (a voter, live), FAILED (a voter that crashed) or EVICTED (an O voter the
 * update removed; the slot may be reused by a new N node), each running O or
 * N (isN). Five processes interleave:
 *   joiner   an N node joins (JOINING) and is admitted (TRUSTED, a config
 *            change: needs a leader and a live majority);
 *   crasher  crashes a trusted node, at most MAXFAIL times in the whole run,
 *            and may stop at any time;
 *   repair   a failed node recovers (live again) or is replaced (removed from
 *            the configuration: a config change; the slot becomes EMPTY and
 *            the joiner may fill it with a new N node);
 *   raft     with no leader and a live majority, elects a live voter (O or N:
 *            Raft does not know code versions);
 *   gov      the update policy on the leader: deprecates O once CUTOVER voters
 *            run N (latched), then the grace period expires (a nondeterministic
 *            timeout), then, while O voters remain and the RULE holds:
 *            transfers leadership to a live N voter if the leader runs O,
 *            otherwise evicts one O voter (live or failed, any of them).
 *
 * Abstractions: time (the grace period is one nondeterministic event);
 * messages, logs and terms (a leader plus a live majority stands for "a config
 * change commits"; elections are atomic); O nodes joining before deprecation
 * (they are no different from the initial O voters, and after deprecation
 * admission refuses them, item 5); a joining node crashing (it simply never
 * becomes a voter). Slots of the same (code, state, leader?) are symmetric,
 * so each nondeterministic choice picks a CATEGORY (e.g. "a live O follower")
 * and the first slot in it: this loses no behaviour and keeps states small.
 *
 * PROPERTIES.
 *   assertions at each eviction: the rule holds in the new configuration
 *     (liveN >= MAJ(ncfg) + TOL with ncfg already decremented) and the evicted
 *     node is not the leader (leadership was transferred first).
 *   ltl safety: once anything was evicted, the live N voters plus the N
 *     voters that crashed since the last eviction (fsN) never fall below
 *     MAJ(ncfg) + TOL, a majority of the CURRENT voter configuration plus
 *     TOL. (Crashes lower liveN but raise fsN: what the rule promised at the
 *     eviction is kept by every later step, joins, removals, recoveries,
 *     elections and further evictions included.)
 *   ltl avail: the consequence that matters: as long as at most TOL voters
 *     crashed since the last eviction (fsAll), a live majority of the voter
 *     configuration exists. (Failures beyond TOL are the environment's
 *     doing, not governance's.)
 *   ltl live: every O voter is eventually gone (evicted, or removed after
 *     failing), under weak fairness (pan -f) and given enough slots:
 *     NSLOTS - NO_INIT N voters must be able to satisfy the rule for the first
 *     eviction, NSLOTS - NO_INIT >= MAJ(NSLOTS - 1) + TOL, and to reach the
 *     cutover (default: NSLOTS - NO_INIT >= MAJ(NSLOTS)). Fairness: every
 *     process continuously able to move eventually moves, so failed nodes are
 *     eventually recovered or replaced, free slots are eventually filled by N
 *     nodes ("enough N nodes join"), crashes stop (budget, or the crasher
 *     quits: "and stay up"), and governance eventually acts.
 *
 * rolling_update_mutant.pml is this model with the guard removed (-DMUTANT);
 * spin must find a counterexample to it. Bounds are macros; override them
 * with spin -DNAME=value (scripts/check-models.sh runs several).
 */

#ifndef NSLOTS
#define NSLOTS 6 /* node slots */
#endif
#ifndef NO_INIT
#define NO_INIT 2 /* initial voters, all running O */
#endif
#ifndef TOL
#define TOL 1 /* tolerate_failures */
#endif
#ifndef MAXFAIL
#define MAXFAIL 2 /* crashes in the whole run (more than TOL on purpose) */
#endif
#ifndef CUTOVER
#define CUTOVER 0 /* cutover_quorum; 0 = default: a majority of the voters */
#endif

#define NONE 255

mtype = { EMPTY, JOINING, TRUSTED, FAILED, EVICTED };

mtype st[NSLOTS];
bit isN[NSLOTS];
byte leader = NONE;
bool deprecated = false;
bool expired = false; /* the grace period has elapsed */

/* Counters kept in step with st[] / isN[] (functions of them: no extra states). */
byte ncfg = 0;  /* voters: TRUSTED or FAILED */
byte nO = 0;    /* voters running O */
byte liveN = 0; /* TRUSTED voters running N */
byte liveO = 0; /* TRUSTED voters running O */
byte nfree = NSLOTS; /* EMPTY or EVICTED slots */
byte njoin = 0;      /* JOINING slots */

byte failures = 0; /* crashes so far (<= MAXFAIL) */
byte nevict = 0;   /* evictions so far */
byte fsN = 0;      /* N voters crashed since the last eviction */
byte fsAll = 0;    /* voters crashed since the last eviction */

hidden byte h; /* scratch slot index, only inside d_step */

/* cs_gov_majority() in src/gov/update_rule.c */
#define MAJ(n) ((n) / 2 + 1)
#define LIVE   (liveN + liveO)
#define QUORUM (leader != NONE && LIVE >= MAJ(ncfg))
#define NVOTERS (ncfg - nO)
#define LEADER_O (leader != NONE && !isN[leader])
#define LEADER_N (leader != NONE && isN[leader])

/* THE RULE: cs_gov_may_evict() in src/gov/update_rule.c, same formula. */
#define RULE (liveN >= MAJ(ncfg - 1) + TOL)
#ifdef MUTANT
#define GUARD true /* the mutant: evict whenever the grace period is over */
#else
#define GUARD RULE
#endif

/* cs_gov_cutover_reached() in src/gov/update_rule.c */
#if CUTOVER == 0
#define CUT_REACHED (NVOTERS >= MAJ(ncfg))
#else
#define CUT_REACHED (NVOTERS >= CUTOVER)
#endif

/* done: O is deprecated and no voter runs O any more */
#define DONE (deprecated && nO == 0)

/* h := the first slot satisfying C (the caller knows one exists). */
#define PICK(C)                                                                \
    h = 0;                                                                     \
    do                                                                         \
    :: (C) -> break                                                            \
    :: else -> h++                                                             \
    od

inline crash() {
    assert(st[h] == TRUSTED);
    st[h] = FAILED;
    if
    :: isN[h] -> liveN--; fsN++
    :: else -> liveO--
    fi;
    fsAll++;
    failures++;
    printf("crash     slot %d (%c)\n", h, (isN[h] -> 'N' : 'O'));
    if
    :: leader == h -> leader = NONE
    :: else -> skip
    fi
}

inline evict() {
    assert(!isN[h] && (st[h] == TRUSTED || st[h] == FAILED));
    assert(h != leader); /* leadership was transferred away first */
    if
    :: st[h] == TRUSTED -> liveO--
    :: else -> skip
    fi;
    st[h] = EVICTED;
    ncfg--;
    nO--;
    nfree++;
    nevict++;
    fsN = 0;
    fsAll = 0;
    printf("evict     slot %d (O): voters now %d, live N %d, need %d\n", h, ncfg, liveN,
           MAJ(ncfg) + TOL);
    /* the rule, restated in the configuration after the eviction (off with
     * -DNO_EVICT_ASSERT, so that the ltl claim alone must refute the mutant) */
#ifndef NO_EVICT_ASSERT
    assert(liveN >= MAJ(ncfg) + TOL)
#else
    skip
#endif
}

init {
    d_step {
        h = 0;
        do
        :: h < NO_INIT -> st[h] = TRUSTED; h++
        :: h >= NO_INIT && h < NSLOTS -> st[h] = EMPTY; h++
        :: h == NSLOTS -> break
        od;
        ncfg = NO_INIT;
        nO = NO_INIT;
        liveO = NO_INIT;
        nfree = NSLOTS - NO_INIT;
        leader = 0
    }
    run joiner();
    run crasher();
    run repair();
    run raft();
    run gov()
}

proctype joiner() {
end:
    do
    :: d_step { /* an N node starts and joins */
        nfree > 0 ->
        PICK(st[h] == EMPTY || st[h] == EVICTED);
        st[h] = JOINING; isN[h] = 1; nfree--; njoin++;
        printf("join      slot %d (N)\n", h)
    }
    :: d_step { /* admitted: becomes a voter (a config change) */
        njoin > 0 && QUORUM ->
        PICK(st[h] == JOINING);
        st[h] = TRUSTED; ncfg++; liveN++; njoin--;
        printf("admit     slot %d: voters %d, live N %d\n", h, ncfg, liveN)
    }
    od
}

proctype crasher() {
end:
    do
    :: d_step { failures < MAXFAIL && liveO > (LEADER_O -> 1 : 0) ->
        PICK(st[h] == TRUSTED && !isN[h] && h != leader); crash() }
    :: d_step { failures < MAXFAIL && LEADER_O -> h = leader; crash() }
    :: d_step { failures < MAXFAIL && liveN > (LEADER_N -> 1 : 0) ->
        PICK(st[h] == TRUSTED && isN[h] && h != leader); crash() }
    :: d_step { failures < MAXFAIL && LEADER_N -> h = leader; crash() }
    :: break /* no more crashes */
    od
}

proctype repair() {
end:
    do
    :: d_step { nO > liveO -> /* a failed O node recovers */
        PICK(st[h] == FAILED && !isN[h]); st[h] = TRUSTED; liveO++;
        printf("recover   slot %d (O)\n", h) }
    :: d_step { NVOTERS > liveN -> /* a failed N node recovers */
        PICK(st[h] == FAILED && isN[h]); st[h] = TRUSTED; liveN++;
        printf("recover   slot %d (N)\n", h) }
    :: d_step { nO > liveO && QUORUM -> /* a failed O node is removed */
        PICK(st[h] == FAILED && !isN[h]);
        st[h] = EMPTY; isN[h] = 0; ncfg--; nO--; nfree++;
        printf("remove    slot %d (failed O)\n", h) }
    :: d_step { NVOTERS > liveN && QUORUM -> /* a failed N node is removed */
        PICK(st[h] == FAILED && isN[h]);
        st[h] = EMPTY; isN[h] = 0; ncfg--; nfree++;
        printf("remove    slot %d (failed N)\n", h) }
    od
}

proctype raft() {
end:
    do
    :: d_step { leader == NONE && LIVE >= MAJ(ncfg) && liveO > 0 ->
        PICK(st[h] == TRUSTED && !isN[h]); leader = h;
        printf("elect     slot %d (O)\n", h) }
    :: d_step { leader == NONE && LIVE >= MAJ(ncfg) && liveN > 0 ->
        PICK(st[h] == TRUSTED && isN[h]); leader = h;
        printf("elect     slot %d (N)\n", h) }
    od
}

proctype gov() {
end:
    do
    :: d_step { !deprecated && QUORUM && CUT_REACHED -> deprecated = true;
        printf("deprecate O: %d of %d voters run N\n", NVOTERS, ncfg) }
    :: d_step { deprecated && !expired -> expired = true; /* grace period over */
        printf("grace period over\n") }
    :: d_step { /* leadership transfer away from an O leader before evicting */
        expired && QUORUM && nO > 0 && GUARD && LEADER_O && liveN > 0 ->
        PICK(st[h] == TRUSTED && isN[h]); leader = h;
        printf("transfer  leadership to slot %d (N)\n", h) }
    :: d_step { /* evict a live O voter */
        expired && QUORUM && LEADER_N && liveO > 0 && GUARD ->
        PICK(st[h] == TRUSTED && !isN[h]); evict() }
    :: d_step { /* evict a failed O voter */
        expired && QUORUM && LEADER_N && nO > liveO && GUARD ->
        PICK(st[h] == FAILED && !isN[h]); evict() }
    od
}

/* safety: see the header. nevict == 0: nothing was evicted yet, the service is
 * whatever the operators started; the obligation begins with the first
 * eviction. The floor is over the CURRENT voter configuration (ncfg), which
 * after an eviction is the configuration without the evicted node. */
ltl safety { [] (nevict == 0 || liveN + fsN >= MAJ(ncfg) + TOL) }

/* the consequence: at most TOL crashes since the last eviction never cost the
 * service its live majority (failures beyond TOL are the environment's, and
 * would break any rule) */
ltl avail { [] ((nevict > 0 && fsAll <= TOL) -> LIVE >= MAJ(ncfg)) }

/* liveness: run with pan -a -f (weak fairness); see the header */
ltl live { <> DONE }
