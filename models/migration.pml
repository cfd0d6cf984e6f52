/*
 * Fork-free migration of a sealed store (issue 14), as a Promela model for
 * spin. docs/migration-model.md explains it; docs/migration.md §4 and §5 are
 * the design it checks; scripts/check-models.sh runs it (ctest:
 * model/check_models).
 *
 * INSTANCES. 0 = the source S (LIVE at the start), 1 = the destination D and,
 * with NDEST=2, 2 = a second destination D2 that also offers (both may end up
 * holding a package). Each runs as one process; a separate process crashes
 * them (at most MAXCRASH crashes in the run) and may stop doing so.
 *
 * PERSISTENT vs VOLATILE. What survives a crash is the instance's anchor
 * (anchor[i], a monotonic counter: read and increment only) and the copies of
 * its store that the host keeps (cp[]: every store ever written and not yet
 * dead). A store copy holds a lifecycle state (NONE for a fresh destination,
 * LIVE, FROZEN, RETIRED(pe), PENDING(pe)), the named counter (ct) and the
 * anchor range [lo, hi] it is sealed to: it opens only if lo <= anchor <= hi.
 * Everything else is volatile and lost by a crash: the phase (ph), the state
 * loaded from the store (vst, vpe, vct), a write in flight and the
 * destination's transfer key (its epoch tk[i]: a package sealed to an older
 * transfer key cannot be opened after a restart).
 *
 * THE TWO-WRITE SCHEME. A persistent transition is two steps with a crash
 * possible between them: (1) write the new store sealed to [a+1, a+1] where a
 * is the anchor; (2) increment the anchor (the old copy is now dead, the new
 * one opens). Only after (2) does the instance act on the new state (send a
 * message, acknowledge a counter value).
 *
 * A crash between (1) and (2) leaves a copy sealed to a+1 that the host keeps:
 * it does not open now, but it would open as soon as the anchor reaches a+1
 * by ANOTHER transition. So a restarted instance must not take a+1 for a new
 * transition. THE RESTART RULE: after opening the copy valid at anchor a, the
 * instance (BW) writes its state again sealed to [a+1, a+2], (B1) increments,
 * (B2) increments, and only then runs (sends, acknowledges, transitions).
 * Any copy sealed to a+1 dies at (B2); while the anchor is a+1 both it and the
 * restart copy open, but neither has been acted on. With -DNAIVE_RESTART the
 * instance runs straight after opening (the naive scheme); spin refutes it
 * (the mutant "naive" in check-models.sh: two destinations both go LIVE).
 *
 * THE HOST AND THE NETWORK are the adversary. Every message sent is added to
 * the set of messages the host has seen (off, pk, cf, dn below) and stays
 * there: the host may deliver any of them at any time, any number of times,
 * in any order, or never (loss). The host also chooses which store copy to
 * present at a restart: any copy it keeps (a copy not valid at the current
 * anchor is refused: ROLLBACK, at most MAXRB times in the run) or an older,
 * dead one (refused the same way). Message contents are authentic (the
 * evidence, ECDH and signatures of §5 are abstracted to "the host cannot
 * forge"); nonces are not modelled, so stale offers are accepted, which only
 * adds behaviour.
 *
 * THE PROTOCOL (docs/migration.md §5), one atomic step per action:
 *   D, NONE:        send offer(D, tk)
 *   S, LIVE:        an offer was seen -> freeze (two-write)
 *   S, FROZEN:      offer(d, e) seen -> send package(d, e, ct)
 *   D, NONE:        package(D, tk, c) seen -> PENDING(S) with c (two-write),
 *                   then send confirm(D, c)
 *   S, FROZEN:      confirm(d, c) seen, c its own counter -> RETIRED(d)
 *                   (two-write), then send done(d)
 *   S, RETIRED(d):  confirm(d, _) seen -> send done(d) (again)
 *   D, PENDING(S):  send confirm(D, c) (again) if it has not been sent
 *   D, PENDING(S):  done(D) seen -> LIVE (two-write)
 *   any LIVE:       the application increments the named counter (two-write,
 *                   at most MAXAPP times in the run), then acknowledges the
 *                   new value (acked := it).
 * Sending right after the increment, in the same step, loses nothing: a crash
 * before the send is the host dropping the message.
 *
 * MUTANTS (check-models.sh requires spin to refute each):
 *   -DRETIRE_EARLY  S retires to d when it sends d the package (no confirm);
 *                   a RETIRED source answers only with done (as §5 says).
 *   -DLIVE_EARLY    D goes LIVE on the package, without waiting for done.
 *   -DNAIVE_RESTART no restart rule (see above).
 *
 * PROPERTIES (ltl; see the defines at the end):
 *   onelive  never two instances LIVE: running LIVE, or holding a store copy
 *            that is LIVE and opens now (a restart would run it);
 *   acked    a running LIVE instance's counter is >= acked, the highest value
 *            acknowledged to a client;
 *   retired  S holding a valid RETIRED(d) copy implies d holds a valid
 *            PENDING or LIVE copy with counter >= acked;
 *   kept     some instance holds a valid LIVE, FROZEN or PENDING copy with
 *            counter >= acked (no acknowledged state is ever lost);
 *   live     <> [] (S RETIRED(d) and d LIVE, durably), for some d: pan -a,
 *            no fairness needed (the state graph has no cycles, checked
 *            with -DNP, pan -l; see docs/migration-model.md);
 * and an assertion in every terminal state (nothing can move: crashes over,
 * every deliverable message delivered): exactly one instance is LIVE, it is
 * running, its counter >= acked, and it is a destination S retired to.
 */

#ifndef NDEST
#define NDEST 2 /* destinations that offer: 1 (D) or 2 (D and D2) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 2 /* crashes in the whole run, any instance, any step */
#endif
#ifndef MAXAPP
#define MAXAPP 1 /* counter increments by the application */
#endif
#ifndef MAXRB
#define MAXRB 1 /* store copies presented at a restart and refused */
#endif

#if MAXCRASH > 3 || MAXAPP > 2 || NDEST > 2
#error "the unrolled choices below cover MAXCRASH <= 3, MAXAPP <= 2, NDEST <= 2"
#endif

#define NI (NDEST + 1) /* instances */
#define NC 4           /* store copies the host keeps per instance (live ones) */
#define NE (MAXCRASH + 1) /* transfer key epochs per destination */
#define NCT (MAXAPP + 1)  /* counter values */

/* lifecycle states (docs/migration.md §4); NONE: a destination with no store */
#define NONE 0
#define LIVE 1
#define FROZEN 2
#define RETIRED 3
#define PENDING 4

/* volatile phase */
#define DOWN 0 /* crashed, not restarted */
#define RUN 1  /* running */
#define WR 2   /* a transition's store written, the anchor not yet incremented */
#define BW 3   /* restarted: restart copy not yet written */
#define B1 4   /* restart copy written, first increment pending */
#define B2 5   /* second increment pending */

/* what to do once the anchor is incremented (WR -> RUN) */
#define E_NONE 0
#define E_ACK 1     /* acknowledge the counter value */
#define E_CONFIRM 2 /* send confirm(i, ct) */
#define E_DONE 3    /* send done(pd) */
#define E_PKG 4     /* (RETIRE_EARLY) send package(pd, pe, ct) */

typedef Copy {
    byte lo; /* anchor range the copy is sealed to; hi == 0: empty slot */
    byte hi;
    byte st;
    byte pe; /* peer: RETIRED(pe) / PENDING(pe) */
    byte ct; /* the named counter */
}

Copy cp[3 * NC];
#define C(i, k) cp[(i) * NC + (k)]
byte anchor[3];

/* volatile */
byte ph[3];
byte vst[3];
byte vpe[3];
byte vct[3];
byte eff[3]; /* E_*: pending effect of the write in flight */
byte pd[3];  /* its peer */
byte pep[3]; /* its epoch (RETIRE_EARLY) */
byte wk[3];  /* the slot of the copy in flight */
byte tk[3];  /* transfer key epoch of a destination */

/* what the host has seen (and may deliver, replay, reorder or drop) */
bit off[3 * NE];       /* offer(d, e) */
bit pk[3 * NE * NCT];  /* package(d, e, c) */
bit cf[3 * NCT];       /* confirm(d, c) */
bit dn[3];             /* done(d) */
#define OFF(d, e) off[(d) * NE + (e)]
#define PK(d, e, c) pk[((d) * NE + (e)) * NCT + (c)]
#define CF(d, c) cf[(d) * NCT + (c)]

byte crashes = 0;
byte apps = 0;
byte rb = 0;
byte acked = 0; /* the highest counter value acknowledged to a client */

hidden byte h; /* scratch, only inside d_step */
hidden byte h2;
hidden byte h3;

#define VALID(i, k) (C(i, k).hi != 0 && C(i, k).lo <= anchor[i] && anchor[i] <= C(i, k).hi)

/* properties */
#define PST(i, k, s) (VALID(i, k) && C(i, k).st == (s))
#define PLIVE(i) (PST(i, 0, LIVE) || PST(i, 1, LIVE) || PST(i, 2, LIVE) || PST(i, 3, LIVE))
#define RLIVE(i) ((ph[i] == RUN || ph[i] == WR) && vst[i] == LIVE)
#define B(x) ((x) -> 1 : 0)
#define OKCT(i) (!RLIVE(i) || vct[i] >= acked)
#define SRETK(k, d) (PST(0, k, RETIRED) && C(0, k).pe == (d))
#define SRET(d) (SRETK(0, d) || SRETK(1, d) || SRETK(2, d) || SRETK(3, d))
#define HOLDK(d, k) (VALID(d, k) && (C(d, k).st == PENDING || C(d, k).st == LIVE) && C(d, k).ct >= acked)
#define HOLDS(d) (HOLDK(d, 0) || HOLDK(d, 1) || HOLDK(d, 2) || HOLDK(d, 3))
#define KEPTK(i, k) (VALID(i, k) && (C(i, k).st == LIVE || C(i, k).st == FROZEN || C(i, k).st == PENDING) && C(i, k).ct >= acked)
#define KEPT(i) (KEPTK(i, 0) || KEPTK(i, 1) || KEPTK(i, 2) || KEPTK(i, 3))
#define DONE (SRET(1) && PLIVE(1) || SRET(2) && PLIVE(2))
#define ENDOK (p_nlive == 1 && DONE && (RLIVE(1) && vct[1] >= acked || RLIVE(2) && vct[2] >= acked))


/* the properties' atoms, kept in step with the state by upd() at the end of
 * every step (functions of the state: they add no states; spin's ltl syntax
 * has no conditional expressions, hence these) */
byte p_nlive = 1;  /* instances LIVE: running LIVE, or a LIVE copy opens now */
bit p_ackok = 1;   /* every running LIVE instance has ct >= acked */
bit p_retok = 1;   /* S RETIRED(d) implies d holds PENDING/LIVE with ct >= acked */
bit p_kept = 1;    /* some instance holds LIVE/FROZEN/PENDING with ct >= acked */
bit p_done = 0;    /* S RETIRED(d) and d LIVE, durably, for some d */

inline upd() {
    p_nlive = B(PLIVE(0) || RLIVE(0)) + B(PLIVE(1) || RLIVE(1)) + B(PLIVE(2) || RLIVE(2));
    p_ackok = (OKCT(0) && OKCT(1) && OKCT(2));
    p_retok = ((!SRET(1) || HOLDS(1)) && (!SRET(2) || HOLDS(2)));
    p_kept = (KEPT(0) || KEPT(1) || KEPT(2));
    p_done = DONE
}

/* write a copy of (s, p, c) sealed to [l, u] into a free slot of instance
 * i; a copy with the same bytes the host already keeps is the same copy */
inline write(i, s, p, c, l, u) {
    h = 0;
    h3 = 0;
    do
    :: h < NC && C(i, h).hi == u && C(i, h).lo == l && C(i, h).st == s &&
        C(i, h).pe == p && C(i, h).ct == c -> h3 = 1; break
    :: h < NC && !(C(i, h).hi == u && C(i, h).lo == l && C(i, h).st == s &&
        C(i, h).pe == p && C(i, h).ct == c) -> h++
    :: h == NC -> break
    od;
    if
    :: h3 == 0 ->
        h = 0;
        do
        :: h < NC && C(i, h).hi == 0 -> break
        :: h < NC && C(i, h).hi != 0 -> h++
        :: h == NC -> assert(false) /* NC too small */
        od;
        C(i, h).lo = l;
        C(i, h).hi = u;
        C(i, h).st = s;
        C(i, h).pe = p;
        C(i, h).ct = c
    :: else -> skip
    fi
}

/* anchor increment; copies sealed below the anchor are dead forever: drop them */
inline bump(i) {
    anchor[i]++;
    h = 0;
    do
    :: h < NC && C(i, h).hi != 0 && C(i, h).hi < anchor[i] ->
        C(i, h).lo = 0; C(i, h).hi = 0; C(i, h).st = 0; C(i, h).pe = 0; C(i, h).ct = 0;
        h++
    :: h < NC && !(C(i, h).hi != 0 && C(i, h).hi < anchor[i]) -> h++
    :: h == NC -> break
    od
}


/* a transition from RUN: write (s, p, c) sealed to anchor + 1, effect x */
#define TRANS(i, s, p, c, x)                                                   \
    write(i, s, p, c, anchor[i] + 1, anchor[i] + 1);                           \
    wk[i] = h;                                                                 \
    eff[i] = x;                                                                \
    ph[i] = WR

/* open copy k at a restart */
#ifdef NAIVE_RESTART
#define AFTER_OPEN RUN
#else
#define AFTER_OPEN BW
#endif
#define OPEN(k)                                                                \
    :: d_step { ph[i] == DOWN && VALID(i, k) ->                                \
        vst[i] = C(i, k).st; vpe[i] = C(i, k).pe; vct[i] = C(i, k).ct;         \
        tk[i] = tk[i] + (i > 0 -> 1 : 0); ph[i] = AFTER_OPEN;                  \
        printf("restart   %d at anchor %d: state %d ct %d\n", i, anchor[i], vst[i], vct[i]); upd() } \
    :: d_step { ph[i] == DOWN && C(i, k).hi != 0 && !VALID(i, k) && rb < MAXRB -> \
        rb++; printf("refused   %d: copy [%d,%d] at anchor %d\n", i, C(i, k).lo, C(i, k).hi, anchor[i]); upd() }

/* D receives package(i, tk, c): counter value c */
#ifdef LIVE_EARLY
#define ONPKG(c)                                                               \
    :: d_step { ph[i] == RUN && vst[i] == NONE && NCT > c && PK(i, tk[i], c) -> \
        TRANS(i, LIVE, 0, c, E_NONE); printf("live-early %d ct %d\n", i, c); upd() }
#else
#define ONPKG(c)                                                               \
    :: d_step { ph[i] == RUN && vst[i] == NONE && NCT > c && PK(i, tk[i], c) -> \
        TRANS(i, PENDING, 0, c, E_CONFIRM); printf("pending   %d ct %d\n", i, c); upd() }
#endif

/* offer(d, e) seen, for some epoch e; and not yet answered with ct c */
#define OFFE(d, e) (NE > (e) && OFF(d, e))
#define ANYOFF(d) (d < NI && (OFFE(d, 0) || OFFE(d, 1) || OFFE(d, 2) || OFFE(d, 3)))
#define UNANS(d, e, c) (OFFE(d, e) && !PK(d, e, c))
#define ANYUNANS(d, c) (UNANS(d, 0, c) || UNANS(d, 1, c) || UNANS(d, 2, c) || UNANS(d, 3, c))
#define ANYCF(d) (CF(d, 0) || NCT > 1 && CF(d, 1) || NCT > 2 && CF(d, 2))

/* S, FROZEN, answers every offer of destination d it has not answered */
#define ANSWER(d)                                                              \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == FROZEN && d < NI &&        \
        ANYUNANS(d, vct[i]) ->                                                 \
        h2 = 0;                                                                \
        do                                                                     \
        :: h2 < NE -> PK(d, h2, vct[i]) = PK(d, h2, vct[i]) | OFF(d, h2); h2++ \
        :: h2 == NE -> break                                                   \
        od;                                                                    \
        printf("package   to %d ct %d\n", d, vct[i]); upd() }

/* S, FROZEN, on confirm(d, c) with c its own counter: retire to d */
#define ONCONFIRM(d)                                                           \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == FROZEN && d < NI && CF(d, vct[i]) -> \
        pd[i] = d; TRANS(i, RETIRED, d, vct[i], E_DONE); printf("retire    to %d\n", d); upd() } \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == RETIRED && vpe[i] == d &&  \
        !dn[d] && ANYCF(d) -> dn[d] = 1; printf("done      to %d (again)\n", d); upd() }

/* RETIRE_EARLY: S, LIVE or FROZEN, on offer(d, e) retires to d and sends the package */
#define EARLY(d, e)                                                            \
    :: d_step { i == 0 && ph[i] == RUN && (vst[i] == LIVE || vst[i] == FROZEN) && \
        d < NI && OFFE(d, e) -> pd[i] = d; pep[i] = e;                          \
        TRANS(i, RETIRED, d, vct[i], E_PKG); printf("retire    early to %d\n", d); upd() }

proctype inst(byte i) {
end:
    do
    /* restart: the host presents one of its copies */
    OPEN(0)
    OPEN(1)
    OPEN(2)
    OPEN(3)
    :: d_step { ph[i] == DOWN && anchor[i] > 1 && rb < MAXRB -> /* an older, dead copy */
        rb++; printf("refused   %d: older copy\n", i); upd() }
    /* the restart rule: state re-sealed to [a+1, a+2], two increments */
    :: d_step { ph[i] == BW -> write(i, vst[i], vpe[i], vct[i], anchor[i] + 1, anchor[i] + 2); ph[i] = B1; upd() }
    :: d_step { ph[i] == B1 -> bump(i); ph[i] = B2; upd() }
    :: d_step { ph[i] == B2 -> bump(i); ph[i] = RUN; upd() }
    /* the second write of a transition, then its effect */
    :: d_step { ph[i] == WR ->
        bump(i); /* the copy written (slot wk) opens now; the instance knows it */
        vst[i] = C(i, wk[i]).st; vpe[i] = C(i, wk[i]).pe; vct[i] = C(i, wk[i]).ct; wk[i] = 0;
        if
        :: eff[i] == E_ACK -> acked = (vct[i] > acked -> vct[i] : acked);
            printf("ack       %d ct %d\n", i, vct[i])
        :: eff[i] == E_CONFIRM -> CF(i, vct[i]) = 1; printf("confirm   from %d ct %d\n", i, vct[i])
        :: eff[i] == E_DONE -> dn[pd[i]] = 1; printf("done      to %d\n", pd[i])
        :: eff[i] == E_PKG -> PK(pd[i], pep[i], vct[i]) = 1
        :: eff[i] == E_NONE -> skip
        fi;
        eff[i] = E_NONE; pd[i] = 0; pep[i] = 0;
        ph[i] = RUN; upd() }
    /* the application on a LIVE instance */
    :: d_step { ph[i] == RUN && vst[i] == LIVE && apps < MAXAPP ->
        apps++; TRANS(i, LIVE, 0, vct[i] + 1, E_ACK); upd() }
#ifndef RETIRE_EARLY
    /* S, LIVE: an offer freezes it */
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == LIVE &&
        (ANYOFF(1) || ANYOFF(2)) ->
        TRANS(i, FROZEN, 0, vct[i], E_NONE); printf("freeze    ct %d\n", vct[i]); upd() }
    ANSWER(1)
    ANSWER(2)
    ONCONFIRM(1)
    ONCONFIRM(2)
#else
    EARLY(1, 0)
    EARLY(1, 1)
    EARLY(1, 2)
    EARLY(1, 3)
    EARLY(2, 0)
    EARLY(2, 1)
    EARLY(2, 2)
    EARLY(2, 3)
    ONCONFIRM(1)
    ONCONFIRM(2)
#endif
    /* D: a fresh destination offers (again after every restart: new transfer key) */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == NONE && !OFF(i, tk[i]) ->
        OFF(i, tk[i]) = 1; printf("offer     from %d epoch %d\n", i, tk[i]); upd() }
    ONPKG(0)
    ONPKG(1)
    ONPKG(2)
    /* D, PENDING(S): confirm (again: its PENDING store may have become the
     * valid one through a restart, not through its own transition) */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == PENDING && !CF(i, vct[i]) ->
        CF(i, vct[i]) = 1; printf("confirm   from %d ct %d (again)\n", i, vct[i]); upd() }
    /* D, PENDING(S), on done */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == PENDING && dn[i] ->
        TRANS(i, LIVE, 0, vct[i], E_NONE); printf("live      %d ct %d\n", i, vct[i]); upd() }
    od
}

/* crashes: any running instance, at any step, at most MAXCRASH times */
inline crash(j) {
    ph[j] = DOWN; vst[j] = 0; vpe[j] = 0; vct[j] = 0; eff[j] = 0; pd[j] = 0; pep[j] = 0; wk[j] = 0;
    crashes++;
    printf("crash     %d at anchor %d\n", j, anchor[j])
}

proctype crasher() {
end:
    do
    :: d_step { crashes < MAXCRASH && ph[0] != DOWN -> crash(0); upd() }
    :: d_step { crashes < MAXCRASH && ph[1] != DOWN -> crash(1); upd() }
    :: d_step { crashes < MAXCRASH && NI > 2 && ph[2] != DOWN -> crash(2); upd() }
    :: break /* no more crashes */
    od
}

init {
    d_step {
        h = 0;
        do
        :: h < NI -> anchor[h] = 1; C(h, 0).lo = 1; C(h, 0).hi = 1;
            C(h, 0).st = (h == 0 -> LIVE : NONE); vst[h] = C(h, 0).st; ph[h] = RUN; h++
        :: h == NI -> break
        od;
        upd()
    }
    atomic {
        h = 0;
        do
        :: h < NI -> run inst(h); h++
        :: h == NI -> break
        od;
        run crasher()
    }
    /* a terminal state: nothing can move any more (off with -DNO_END_ASSERT,
     * so that each ltl claim must refute a mutant on its own) */
#ifndef NO_END_ASSERT
    timeout -> assert(ENDOK)
#else
    skip
#endif
}

ltl onelive { [] (p_nlive <= 1) }
ltl ackd { [] p_ackok }
ltl retired { [] p_retok }
ltl kept { [] p_kept }
ltl live { <> [] p_done }
