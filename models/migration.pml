/*
 * Fork-free migration of a sealed store (issue 14), as a Promela model for
 * spin, following the implementation: src/sealing/store_file.c (commit,
 * open), store.c (cs_sealstore_open), migrate_src.c, migrate_dst.c,
 * migrate_accept.c. docs/migration-model.md explains it; scripts/
 * check-models.sh runs it (ctest: model/check_models).
 *
 * INSTANCES. 0 = the source S (LIVE at the start), 1 = the destination D and,
 * with NDEST=2, 2 = a second destination D2 (both may end up holding a
 * package). Each runs as one process; a separate process crashes them (at
 * most MAXCRASH crashes in the run) and may stop doing so.
 *
 * PERSISTENT vs VOLATILE. What survives a crash is the instance's anchor
 * (anchor[i]: read and increment only), the sealed store blobs the host
 * keeps (cp[]: every blob ever written that could still open), and a
 * destination's migrate.bin (its instance id and transfer key: gmax[i] is
 * the newest id generation; -DIDRESET=n lets the host delete it n times,
 * so that the destination takes a fresh id). A blob holds a lifecycle state
 * (LIVE, FROZEN, RETIRED(x), PENDING(g)), the named counter (ct) and the
 * one anchor value b it is bound to. Everything else is volatile.
 *
 * THE STORE (store_file.c). A commit on a handle bound to v: (1) write
 * store.next bound to v + 1; (2) increment the anchor (the commit point);
 * (3) rename over store.bin. Step 3 only tidies: the host chooses what it
 * shows as store.bin and store.next anyway, so the model keeps blobs, not
 * file names. A crash between (1) and (2) leaves a blob bound to v + 1.
 * A commit that fails marks the handle broken: every later commit and
 * every protocol action refuses until the store is reopened, which the
 * model treats as a crash (the process can do nothing else).
 * OPEN (store_file.c choose, store.c cs_sealstore_open), anchor at a:
 *   - a blob bound to a opens;
 *   - else, store.bin missing and store.next bound to a + 1: it opens and
 *     the anchor is rolled forward to a + 1 (one atomic step: a crash
 *     before the increment changes nothing). The host can always hide
 *     store.bin, so any blob bound to a + 1 can be opened this way;
 *   - anything else is refused (ROLLBACK / CORRUPT) and changes nothing,
 *     so it is not a step of the model;
 * then the handle COMMITS TWICE (two write+increment pairs, a crash
 * possible after each write and each increment) before anything is acted
 * on. -DOPEN_ONCE: one commit (the mutant; spin must refute it).
 * Every `consortd --migrate` step is its own process that opens the store:
 * an exit after a step and a reopen leaves the same state (the opened blob
 * is the only one bound to the anchor, none is bound to a + 1), so the
 * model lets a running instance go on, and a crash at any point covers the
 * reopens (docs/migration-model.md).
 * CREATE (migrate_accept.c create_pending): a destination that shows no
 * store reads the anchor a and commits its PENDING state ONCE (to a + 1).
 * The host may hide a destination's store at a restart (at most MAXHIDE
 * times): it then runs as a fresh destination until it exits.
 *
 * THE HOST AND THE NETWORK are the adversary. Every message sent stays in
 * the set the host has seen (off, pk, cf, dn); the host may deliver any of
 * them at any time, any number of times, in any order, or never. Message
 * contents are authentic (evidence, ECDH, AEAD, signatures abstracted).
 *
 * THE PROTOCOL (docs/migration.md §5 as coded), one atomic step per action;
 * x = (d, g) is destination d with id generation g:
 *   D, no store:    send offer(x)                      (cs_migrate_dest_begin)
 *   S, LIVE:        an admissible offer -> FROZEN (commit)   (answer_offer)
 *   S, FROZEN:      offer(x) seen -> package(x, ct), every time
 *   S, RETIRED(x):  offer(x) or confirm(x) seen -> done(x) (again)
 *   D, no store:    package(x, c) seen, x its id (migrate.bin may be rolled
 *                   back to any offer of that id) -> PENDING(g) with c
 *                   (create: ONE commit), then confirm(x)
 *   D, PENDING(g):  send confirm(x) again (accept_again)
 *   S, FROZEN:      confirm(x) seen -> RETIRED(x) (commit), then done(x);
 *                   the confirm's tag binds the ids and the transfer key,
 *                   not the counter, so any confirm of x will do
 *   D, PENDING(g):  done(x) seen -> LIVE (commit)      (cs_sealstore_finish)
 *   any LIVE:       the application increments the counter (commit, at most
 *                   MAXAPP times in the run), then acknowledges the value.
 *
 * MUTANTS (check-models.sh requires spin to refute each):
 *   -DRETIRE_EARLY  S retires to x when it sends x the package;
 *   -DLIVE_EARLY    D goes LIVE on the package, without waiting for done;
 *   -DOPEN_ONCE     opening commits once (a stale blob bound to a + 1 then
 *                   opens beside the reopened state: S acts on two RETIRED
 *                   stores, two destinations go LIVE).
 *
 * PROPERTIES (ltl; "opens" = bound to the anchor or to anchor + 1, i.e. a
 * restart could open it):
 *   onelive  never two instances LIVE: running LIVE, or holding a LIVE blob
 *            that opens;
 *   ackd     a running LIVE instance's counter is >= acked, the highest
 *            value acknowledged to a client;
 *   retired  S holding a RETIRED(x) blob that opens implies x holds a
 *            PENDING or LIVE blob of id x that opens, counter >= acked;
 *   kept     some instance holds a LIVE, FROZEN or PENDING blob that opens,
 *            counter >= acked;
 *   live     <> [] (S RETIRED(x) and x LIVE, durably), for some x;
 *   safety   the four safety claims above in one (one search instead of 4);
 * and an assertion in every terminal state: exactly one instance is LIVE,
 * it is running, its counter >= acked, and it is the x S retired to.
 */

#ifndef NDEST
#define NDEST 2 /* destinations: 1 (D) or 2 (D and D2) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 2 /* crashes in the whole run, any instance, any step */
#endif
#ifndef MAXAPP
#define MAXAPP 1 /* counter increments by the application */
#endif
#ifndef MAXHIDE
#define MAXHIDE 1 /* restarts of a destination with its store hidden */
#endif
#ifndef IDRESET
#define IDRESET 0 /* deletions of a destination's migrate.bin (fresh id) */
#endif

#if MAXAPP > 2 || NDEST > 2 || IDRESET > 1
#error "the unrolled choices below cover MAXAPP <= 2, NDEST <= 2, IDRESET <= 1"
#endif

#define NI (NDEST + 1)     /* instances */
#ifndef NC
#define NC 4 /* blobs the host keeps per instance (that can open); write asserts */
#endif
#if NC < 4 || NC > 6
#error "NC: 4 to 6"
#endif
#define NG (IDRESET + 1)   /* id generations per destination */
#define NCT (MAXAPP + 1)   /* counter values */
#define NX (3 * NG)        /* destination ids x = d + 3 g */

/* lifecycle states; NONE: running with no store (a fresh destination) */
#define NONE 0
#define LIVE 1
#define FROZEN 2
#define RETIRED 3
#define PENDING 4

/* volatile phase */
#define DOWN 0 /* crashed, not restarted */
#define RUN 1  /* running */
#define WR 2   /* a transition's blob written, the anchor not yet incremented */
#define OW1 3  /* opened: first commit, write pending */
#define OI1 4  /* first commit, increment pending */
#define OW2 5  /* second commit, write pending */
#define OI2 6  /* second commit, increment pending */

/* what to do once the anchor is incremented (WR -> RUN) */
#define E_NONE 0
#define E_ACK 1     /* acknowledge the counter value */
#define E_CONFIRM 2 /* send confirm(x) */
#define E_DONE 3    /* send done(x) */
#define E_PKG 4     /* (RETIRE_EARLY) send package(x, ct) */

typedef Blob {
    byte b;  /* the anchor value it is bound to; 0: empty slot */
    byte st;
    byte pe; /* S RETIRED(x): x; D PENDING/LIVE: its own id generation g */
    byte ct; /* the named counter */
}

Blob cp[3 * NC];
#define C(i, k) cp[(i) * NC + (k)]
byte anchor[3];
byte gmax[3]; /* a destination's newest id generation (migrate.bin) */

/* volatile */
byte ph[3];
byte vst[3];
byte vpe[3]; /* S: RETIRED(x) x; D: its id generation g (also when NONE) */
byte vct[3];
byte eff[3]; /* E_*: pending effect of the write in flight */
byte px[3];  /* its peer x */
byte nst[3]; /* the state in flight (WR) */
byte npe[3];
byte nct[3];
bit hid[3];  /* running with its store hidden */

/* what the host has seen (and may deliver, replay, reorder or drop) */
#ifndef OFFER_AT_ANCHOR
bit off[NX];       /* offer(x) */
bit pk[NX * NCT];  /* package(x, c) */
#define OFFERED(x) off[x]
#define NEWOFFER(i) (!off[XID(i)])
#define DOOFFER(i) off[XID(i)] = 1
#define PKOK(i, c) PK(XID(i), c)
#define UNANS(x, c) (off[x] && !PK(x, c))
#define DOANSWER(x, c) PK(x, c) = 1
#define DOPKG(x, c) PK(x, c) = 1
#else
/* the fix under test: an offer records the destination's anchor value a
 * (bit a of the mask), the package answering it carries it, and a package
 * creates a store only while the destination's anchor is still at a */
int off[NX];      /* offer(x, a): bit a */
int pk[NX * NCT]; /* package(x, c, a): bit a */
#define OFFERED(x) (off[x] != 0)
#define NEWOFFER(i) ((off[XID(i)] & (1 << anchor[i])) == 0)
#define DOOFFER(i) assert(anchor[i] < 24); off[XID(i)] = off[XID(i)] | (1 << anchor[i])
#define PKOK(i, c) ((PK(XID(i), c) & (1 << anchor[i])) != 0)
#define UNANS(x, c) ((off[x] & ~PK(x, c)) != 0)
#define DOANSWER(x, c) PK(x, c) = PK(x, c) | off[x]
#define DOPKG(x, c) PK(x, c) = PK(x, c) | off[x]
#endif
bit cf[NX];        /* confirm(x) */
bit dn[NX];        /* done(x) */
#define PK(x, c) pk[(x) * NCT + (c)]
#define XID(i) ((i) + 3 * vpe[i]) /* a destination's own x */

byte crashes = 0;
byte apps = 0;
byte hides = 0;
byte resets = 0;
byte acked = 0; /* the highest counter value acknowledged to a client */

hidden byte h; /* scratch, only inside d_step */
hidden byte h2;
hidden byte h3;

#define OPENS(i, k) (C(i, k).b != 0 && (C(i, k).b == anchor[i] || C(i, k).b == anchor[i] + 1))
#define ANYOPENS(i) (OPENS(i, 0) || OPENS(i, 1) || OPENS(i, 2) || OPENS(i, 3) || NC > 4 && OPENS(i, 4) || NC > 5 && OPENS(i, 5))

/* properties */
#define PST(i, k, s) (OPENS(i, k) && C(i, k).st == (s))
#define PLIVE(i) (PST(i, 0, LIVE) || PST(i, 1, LIVE) || PST(i, 2, LIVE) || PST(i, 3, LIVE) || \
    NC > 4 && PST(i, 4, LIVE) || NC > 5 && PST(i, 5, LIVE))
#define RLIVE(i) ((ph[i] == RUN || ph[i] == WR) && vst[i] == LIVE)
#define B(x) ((x) -> 1 : 0)
#define OKCT(i) (!RLIVE(i) || vct[i] >= acked)
#define SRETK(k, x) (PST(0, k, RETIRED) && C(0, k).pe == (x))
#define SRET(x) (SRETK(0, x) || SRETK(1, x) || SRETK(2, x) || SRETK(3, x) || \
    NC > 4 && SRETK(4, x) || NC > 5 && SRETK(5, x))
#define HOLDK(d, g, k) (OPENS(d, k) && (C(d, k).st == PENDING || C(d, k).st == LIVE) && \
    C(d, k).pe == (g) && C(d, k).ct >= acked)
#define HOLDS(d, g) (HOLDK(d, g, 0) || HOLDK(d, g, 1) || HOLDK(d, g, 2) || HOLDK(d, g, 3) || NC > 4 && HOLDK(d, g, 4) || NC > 5 && HOLDK(d, g, 5))
#define LIVEK(d, g, k) (PST(d, k, LIVE) && C(d, k).pe == (g))
#define LIVEG(d, g) (LIVEK(d, g, 0) || LIVEK(d, g, 1) || LIVEK(d, g, 2) || LIVEK(d, g, 3) || NC > 4 && LIVEK(d, g, 4) || NC > 5 && LIVEK(d, g, 5))
#define KEPTK(i, k) (OPENS(i, k) && (C(i, k).st == LIVE || C(i, k).st == FROZEN || \
    C(i, k).st == PENDING) && C(i, k).ct >= acked)
#define KEPT(i) (KEPTK(i, 0) || KEPTK(i, 1) || KEPTK(i, 2) || KEPTK(i, 3) || NC > 4 && KEPTK(i, 4) || NC > 5 && KEPTK(i, 5))
#define RETOK(d, g) (!SRET((d) + 3 * (g)) || HOLDS(d, g))
#define DONEX(d, g) (SRET((d) + 3 * (g)) && LIVEG(d, g))
#define RUNX(d, g) (RLIVE(d) && vpe[d] == (g) && vct[d] >= acked)
#define ENDX(d, g) (DONEX(d, g) && RUNX(d, g))
#define ENDOK (p_nlive == 1 && (ENDX(1, 0) || ENDX(2, 0) || NG > 1 && (ENDX(1, 1) || ENDX(2, 1))))

/* the properties' atoms, kept in step with the state by upd() at the end of
 * every step (functions of the state: they add no states) */
byte p_nlive = 1;  /* instances LIVE: running LIVE, or a LIVE blob opens */
bit p_ackok = 1;   /* every running LIVE instance has ct >= acked */
bit p_retok = 1;   /* S RETIRED(x) implies x holds PENDING/LIVE, ct >= acked */
bit p_kept = 1;    /* some instance holds LIVE/FROZEN/PENDING, ct >= acked */
bit p_done = 0;    /* S RETIRED(x) and x LIVE, durably, for some x */

inline upd() {
    p_nlive = B(PLIVE(0) || RLIVE(0)) + B(PLIVE(1) || RLIVE(1)) + B(PLIVE(2) || RLIVE(2));
    p_ackok = (OKCT(0) && OKCT(1) && OKCT(2));
    p_retok = (RETOK(1, 0) && RETOK(2, 0) && (NG == 1 || RETOK(1, 1) && RETOK(2, 1)));
    p_kept = (KEPT(0) || KEPT(1) || KEPT(2));
    p_done = (DONEX(1, 0) || DONEX(2, 0) || NG > 1 && (DONEX(1, 1) || DONEX(2, 1)))
}

/* write a blob (s, p, c) bound to anchor + 1 for instance i; the same
 * contents bound to the same value is the same blob to the protocol */
inline write(i, s, p, c) {
    h = 0;
    h3 = 0;
    do
    :: h < NC && C(i, h).b == anchor[i] + 1 && C(i, h).st == s &&
        C(i, h).pe == p && C(i, h).ct == c -> h3 = 1; break
    :: h < NC && !(C(i, h).b == anchor[i] + 1 && C(i, h).st == s &&
        C(i, h).pe == p && C(i, h).ct == c) -> h++
    :: h == NC -> break
    od;
    if
    :: h3 == 0 ->
        h = 0;
        do
        :: h < NC && C(i, h).b == 0 -> break
        :: h < NC && C(i, h).b != 0 -> h++
        :: h == NC -> assert(false) /* NC too small */
        od;
        C(i, h).b = anchor[i] + 1;
        C(i, h).st = s;
        C(i, h).pe = p;
        C(i, h).ct = c
    :: else -> skip
    fi
}

/* anchor increment; blobs bound below the anchor never open again (the
 * host may still show them: ROLLBACK, no step): drop them */
inline bump(i) {
    anchor[i]++;
    h = 0;
    do
    :: h < NC && C(i, h).b != 0 && C(i, h).b < anchor[i] ->
        C(i, h).b = 0; C(i, h).st = 0; C(i, h).pe = 0; C(i, h).ct = 0;
        h++
    :: h < NC && !(C(i, h).b != 0 && C(i, h).b < anchor[i]) -> h++
    :: h == NC -> break
    od
}

/* a transition from RUN: commit (s, p, c), effect e to peer x */
#define TRANS(i, s, p, c, e, x)                                                \
    write(i, s, p, c);                                                         \
    nst[i] = s; npe[i] = p; nct[i] = c;                                        \
    eff[i] = e;                                                                \
    px[i] = x;                                                                 \
    ph[i] = WR

/* open blob k at a restart: bound to the anchor, or to anchor + 1 (rolled
 * forward: the anchor is incremented) */
#define OPEN(k)                                                                \
    :: d_step { ph[i] == DOWN && OPENS(i, k) ->                                \
        vst[i] = C(i, k).st; vpe[i] = C(i, k).pe; vct[i] = C(i, k).ct;         \
        if                                                                     \
        :: C(i, k).b == anchor[i] + 1 -> bump(i);                              \
            printf("open      %d rolled forward to %d: state %d pe %d ct %d\n", i, anchor[i], vst[i], vpe[i], vct[i]) \
        :: else -> printf("open      %d at %d: state %d pe %d ct %d\n", i, anchor[i], vst[i], vpe[i], vct[i]) \
        fi;                                                                    \
        ph[i] = OW1; upd() }

/* D, no store, receives package(x, c), x its own id */
#ifdef LIVE_EARLY
#define ONPKG(c)                                                               \
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == NONE && NCT > c && PKOK(i, c) -> \
        TRANS(i, LIVE, vpe[i], c, E_NONE, 0); printf("live-early %d ct %d\n", i, c); upd() }
#else
#define ONPKG(c)                                                               \
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == NONE && NCT > c && PKOK(i, c) -> \
        TRANS(i, PENDING, vpe[i], c, E_CONFIRM, XID(i)); printf("pending   %d id %d ct %d\n", i, vpe[i], c); upd() }
#endif

/* S, FROZEN, answers the offers of x it has not answered */
#define ANSWER(x)                                                              \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == FROZEN && (x) < NX &&      \
        UNANS(x, vct[i]) ->                                                    \
        DOANSWER(x, vct[i]); printf("package   to %d ct %d\n", x, vct[i]); upd() }

/* S, FROZEN, on confirm(x): retire to x; RETIRED(x) answers again with done */
#define ONCONFIRM(x)                                                           \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == FROZEN && (x) < NX && cf[x] -> \
        TRANS(i, RETIRED, x, vct[i], E_DONE, x); printf("retire    to %d\n", x); upd() } \
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == RETIRED && vpe[i] == (x) && (x) < NX && \
        !dn[x] && (cf[x] || OFFERED(x)) -> dn[x] = 1; printf("done      to %d (again)\n", x); upd() }

/* RETIRE_EARLY: S, LIVE or FROZEN, on offer(x) retires to x and sends the package */
#define EARLY(x)                                                               \
    :: d_step { i == 0 && ph[i] == RUN && (vst[i] == LIVE || vst[i] == FROZEN) && \
        (x) < NX && OFFERED(x) ->                                              \
        TRANS(i, RETIRED, x, vct[i], E_PKG, x); printf("retire    early to %d\n", x); upd() }

proctype inst(byte i) {
end:
    do
    /* restart: the host presents one of its blobs */
    OPEN(0)
    OPEN(1)
    OPEN(2)
    OPEN(3)
#if NC > 4
    OPEN(4)
#endif
#if NC > 5
    OPEN(5)
#endif
    /* a destination shows no store: a fresh one (the first time), or the host
     * hides its store (at most MAXHIDE times) */
    :: d_step { i > 0 && ph[i] == DOWN && (!ANYOPENS(i) || hides < MAXHIDE) ->
        if
        :: ANYOPENS(i) -> hides++; hid[i] = 1; printf("hidden    %d at %d\n", i, anchor[i])
        :: else -> skip
        fi;
        vst[i] = NONE; vpe[i] = gmax[i]; ph[i] = RUN; upd() }
    /* the host deletes migrate.bin: the next offer is from a fresh id */
    :: d_step { i > 0 && ph[i] == DOWN && resets < IDRESET && gmax[i] + 1 < NG ->
        resets++; gmax[i]++; printf("id reset  %d: generation %d\n", i, gmax[i]); upd() }
    /* the two commits of cs_sealstore_open */
    :: d_step { ph[i] == OW1 -> write(i, vst[i], vpe[i], vct[i]); ph[i] = OI1; upd() }
#ifdef OPEN_ONCE
    :: d_step { ph[i] == OI1 -> bump(i); ph[i] = RUN; upd() }
#else
    :: d_step { ph[i] == OI1 -> bump(i); ph[i] = OW2; upd() }
    :: d_step { ph[i] == OW2 -> write(i, vst[i], vpe[i], vct[i]); ph[i] = OI2; upd() }
    :: d_step { ph[i] == OI2 -> bump(i); ph[i] = RUN; upd() }
#endif
    /* the increment of a transition's commit (the commit point), then its
     * effect: only now does the instance act on the new state */
    :: d_step { ph[i] == WR ->
        bump(i);
        vst[i] = nst[i]; vpe[i] = npe[i]; vct[i] = nct[i];
        if
        :: eff[i] == E_ACK -> acked = (vct[i] > acked -> vct[i] : acked);
            printf("ack       %d ct %d\n", i, vct[i])
        :: eff[i] == E_CONFIRM -> cf[px[i]] = 1; printf("confirm   from %d\n", px[i])
        :: eff[i] == E_DONE -> dn[px[i]] = 1; printf("done      to %d\n", px[i])
        :: eff[i] == E_PKG -> DOPKG(px[i], vct[i])
        :: eff[i] == E_NONE -> skip
        fi;
        eff[i] = E_NONE; px[i] = 0; nst[i] = 0; npe[i] = 0; nct[i] = 0;
        ph[i] = RUN; upd() }
    /* the application on a LIVE instance */
    :: d_step { ph[i] == RUN && vst[i] == LIVE && apps < MAXAPP ->
        apps++; TRANS(i, LIVE, vpe[i], vct[i] + 1, E_ACK, 0); upd() }
#ifndef RETIRE_EARLY
    /* S, LIVE: an offer freezes it */
    :: d_step { i == 0 && ph[i] == RUN && vst[i] == LIVE &&
        (OFFERED(1) || OFFERED(2) || NG > 1 && (OFFERED(4) || OFFERED(5))) ->
        TRANS(i, FROZEN, 0, vct[i], E_NONE, 0); printf("freeze    ct %d\n", vct[i]); upd() }
    ANSWER(1)
    ANSWER(2)
    ANSWER(4)
    ANSWER(5)
#else
    EARLY(1)
    EARLY(2)
    EARLY(4)
    EARLY(5)
#endif
    ONCONFIRM(1)
    ONCONFIRM(2)
    ONCONFIRM(4)
    ONCONFIRM(5)
    /* D, no store: offer (again after every restart) */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == NONE && NEWOFFER(i) ->
        DOOFFER(i); printf("offer     from %d id %d\n", i, vpe[i]); upd() }
    ONPKG(0)
    ONPKG(1)
    ONPKG(2)
    /* D, PENDING(g): confirm again (its PENDING blob may have become the
     * state through an open, not through its own transition) */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == PENDING && !cf[XID(i)] ->
        cf[XID(i)] = 1; printf("confirm   from %d id %d (again)\n", i, vpe[i]); upd() }
    /* D, PENDING(g), on done(x) */
    :: d_step { i > 0 && ph[i] == RUN && vst[i] == PENDING && dn[XID(i)] ->
        TRANS(i, LIVE, vpe[i], vct[i], E_NONE, 0); printf("live      %d id %d ct %d\n", i, vpe[i], vct[i]); upd() }
    /* a destination that ran with its store hidden exits (each --migrate
     * step is a process of its own); the next start may show the store */
    :: d_step { i > 0 && hid[i] && ph[i] == RUN ->
        hid[i] = 0; ph[i] = DOWN; vst[i] = 0; vpe[i] = 0; vct[i] = 0;
        printf("exit      %d\n", i); upd() }
    od
}

/* crashes: any running instance, at any step, at most MAXCRASH times */
inline crash(j) {
    ph[j] = DOWN; vst[j] = 0; vpe[j] = 0; vct[j] = 0; eff[j] = 0; px[j] = 0;
    nst[j] = 0; npe[j] = 0; nct[j] = 0; hid[j] = 0;
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
        /* S: LIVE, bound to 1; destinations: no store yet, running fresh */
        h = 0;
        do
        :: h < NI -> anchor[h] = 1; ph[h] = RUN; vst[h] = NONE; h++
        :: h == NI -> break
        od;
        C(0, 0).b = 1; C(0, 0).st = LIVE; vst[0] = LIVE;
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

ltl safety { [] (p_nlive <= 1 && p_ackok && p_retok && p_kept) }
ltl onelive { [] (p_nlive <= 1) }
ltl ackd { [] p_ackok }
ltl retired { [] p_retok }
ltl kept { [] p_kept }
ltl live { <> [] p_done }
