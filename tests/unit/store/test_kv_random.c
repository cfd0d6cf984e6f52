/*
 * Randomised test of the KV store against a simple reference model (fixed
 * seed, thousands of operations): transactions with reads, puts, removals and
 * iteration; interleaved pairs whose conflicts the model predicts exactly;
 * rollback to any earlier seqno (values, versions and removed keys must come
 * back exactly); compaction; a follower that applies every write set; and
 * snapshot/restore. The store's snapshot must equal the model's, byte for byte.
 *
 * The state digest is checked after every step against a from-scratch
 * recomputation from the model (kvt_element_add: docs/kv.md "State digest"),
 * with one map excluded from it as a node excludes its signatures map; and
 * cs_kv_snapshot_at of a random earlier seqno must equal the model's
 * snapshot of that seqno. Now and then the follower is rebuilt from such a
 * snapshot plus the write sets committed since, as a node catching up does.
 *
 * The committed seqno moves as a leader's would (cs_kv_set_committed, also
 * with stale and too-high values; compaction raises it; restore sets it),
 * rollback goes no lower (and fails with STATE below it), and after every
 * step each map's committed view must equal the model at the committed seqno
 * (iteration and gets, on the leader and the follower), including through
 * one long-lived view whose earlier values must stay intact.
 */
#include "kv_testutil.h"

#include "base/cbor.h"
#include "store/kv_priv.h"

#include <stdlib.h>

#define NMAPS 4
#define NKEYS 32
#define VMAX  12

#define ROUNDS 3000

static const char *const map_names[NMAPS] = {"public:a", "b", "public:consort.x", "B"};
/* left out of the state digest */
#define EXCLUDED 2

typedef struct model {
    bool present[NMAPS][NKEYS];
    uint8_t val[NMAPS][NKEYS][VMAX];
    size_t vlen[NMAPS][NKEYS];
    uint64_t version[NMAPS][NKEYS];
} model;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

/* Key i: the empty key for 0, else 1..5 copies of one letter (so some keys
 * are prefixes of others). */
static uint8_t key_bytes[NKEYS][8];
static size_t key_len[NKEYS];
static int key_order[NKEYS];
static int map_order[NMAPS];

static cs_slice key_of(int k)
{
    return CS_SLICE(key_bytes[k], key_len[k]);
}

static int cmp_keys(const void *a, const void *b)
{
    cs_slice x = key_of(*(const int *)a), y = key_of(*(const int *)b);
    size_t n = x.len < y.len ? x.len : y.len;
    int c = n ? memcmp(x.ptr, y.ptr, n) : 0;
    return c ? c : (x.len > y.len) - (x.len < y.len);
}

static int cmp_maps(const void *a, const void *b)
{
    return strcmp(map_names[*(const int *)a], map_names[*(const int *)b]);
}

static void setup_keys(void)
{
    for (int i = 0; i < NKEYS; i++) {
        key_len[i] = i == 0 ? 0 : (size_t)(1 + i % 5);
        memset(key_bytes[i], 'a' + i / 5, key_len[i]);
        key_order[i] = i;
    }
    qsort(key_order, NKEYS, sizeof key_order[0], cmp_keys);
    for (int m = 0; m < NMAPS; m++)
        map_order[m] = m;
    qsort(map_order, NMAPS, sizeof map_order[0], cmp_maps);
}

/* The snapshot the model says the store must produce. */
static void model_snapshot(const model *md, uint64_t seqno, cs_buf *out)
{
    cs_buf_init(out, 0);
    size_t nonempty = 0;
    for (int m = 0; m < NMAPS; m++) {
        for (int k = 0; k < NKEYS; k++) {
            if (md->present[m][k]) {
                nonempty++;
                break;
            }
        }
    }
    cst_ok(cs_cbor_write_map(out, 2));
    cst_ok(cs_cbor_write_cstr(out, "maps"));
    cst_ok(cs_cbor_write_map(out, nonempty));
    for (int i = 0; i < NMAPS; i++) {
        int m = map_order[i];
        size_t n = 0;
        for (int k = 0; k < NKEYS; k++)
            n += md->present[m][k];
        if (n == 0)
            continue;
        cst_ok(cs_cbor_write_cstr(out, map_names[m]));
        cst_ok(cs_cbor_write_array(out, n));
        for (int j = 0; j < NKEYS; j++) {
            int k = key_order[j];
            if (!md->present[m][k])
                continue;
            cst_ok(cs_cbor_write_array(out, 3));
            cst_ok(cs_cbor_write_bytes(out, key_of(k)));
            cst_ok(cs_cbor_write_bytes(out, CS_SLICE(md->val[m][k], md->vlen[m][k])));
            cst_ok(cs_cbor_write_uint(out, md->version[m][k]));
        }
    }
    cst_ok(cs_cbor_write_cstr(out, "seqno"));
    cst_ok(cs_cbor_write_uint(out, seqno));
}

/* The state digest of the model, computed from scratch. */
static void model_digest(const model *md, uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    cs_lthash h;
    cs_lthash_init(&h);
    for (int m = 0; m < NMAPS; m++) {
        for (int k = 0; k < NKEYS && m != EXCLUDED; k++) {
            if (md->present[m][k])
                kvt_element_add(&h, S(map_names[m]), key_of(k), md->version[m][k],
                                CS_SLICE(md->val[m][k], md->vlen[m][k]));
        }
    }
    cs_lthash_digest(&h, out);
}

static void assert_matches_model(const cs_kv_store *s, const model *md)
{
    cs_buf want;
    model_snapshot(md, cs_kv_last_seqno(s), &want);
    kvt_assert_snapshot(s, &want);
    cs_buf_cleanup(&want);
    uint8_t d[CS_KV_STATE_DIGEST_LEN], got[CS_KV_STATE_DIGEST_LEN];
    model_digest(md, d);
    cs_kv_state_digest(s, got);
    assert_memory_equal(got, d, sizeof d);
}

static cs_kv_store *excluding_store(void)
{
    cs_kv_store *s = kvt_store();
    cst_ok(cs_kv_store_exclude_from_digest(s, S(map_names[EXCLUDED])));
    return s;
}

/* A transaction under construction, mirrored in the model. */
typedef struct txm {
    cs_kv_tx *tx;
    bool wrote[NMAPS][NKEYS], removes[NMAPS][NKEYS];
    uint8_t val[NMAPS][NKEYS][VMAX];
    size_t vlen[NMAPS][NKEYS];
    bool read[NMAPS][NKEYS]; /* read from the store (not its own write) */
    uint64_t read_version[NMAPS][NKEYS];
    bool scanned[NMAPS];
} txm;

typedef struct foreach_check {
    const model *md;
    const txm *t;
    int m;
    int next; /* index into key_order */
} foreach_check;

static bool visible(const model *md, const txm *t, int m, int k, cs_slice *v)
{
    if (t->wrote[m][k]) {
        *v = CS_SLICE(t->val[m][k], t->vlen[m][k]);
        return !t->removes[m][k];
    }
    *v = CS_SLICE(md->val[m][k], md->vlen[m][k]);
    return md->present[m][k];
}

static bool foreach_cb(void *ctx, cs_slice key, cs_slice value)
{
    foreach_check *fc = ctx;
    cs_slice want;
    while (fc->next < NKEYS && !visible(fc->md, fc->t, fc->m, key_order[fc->next], &want))
        fc->next++;
    assert_true(fc->next < NKEYS);
    assert_true(cs_slice_eq(key, key_of(key_order[fc->next])));
    assert_true(cs_slice_eq(value, want));
    fc->next++;
    return true;
}

/* One random operation inside a transaction, checked against the model. */
static void random_op(const model *md, txm *t)
{
    int m = (int)rnd(NMAPS), k = (int)rnd(NKEYS);
    uint64_t what = rnd(100);
    if (what < 40) {
        cs_slice v, want;
        bool found;
        cst_ok(cs_kv_get(t->tx, S(map_names[m]), key_of(k), &v, &found));
        bool exists = visible(md, t, m, k, &want);
        assert_int_equal(found, exists);
        if (found)
            assert_true(cs_slice_eq(v, want));
        if (!t->wrote[m][k] && !t->read[m][k]) {
            t->read[m][k] = true;
            t->read_version[m][k] = md->version[m][k];
        }
    } else if (what < 75) {
        size_t len = (size_t)rnd(VMAX + 1);
        for (size_t i = 0; i < len; i++)
            t->val[m][k][i] = (uint8_t)rnd(256);
        t->vlen[m][k] = len;
        t->wrote[m][k] = true;
        t->removes[m][k] = false;
        cst_ok(cs_kv_put(t->tx, S(map_names[m]), key_of(k), CS_SLICE(t->val[m][k], len)));
    } else if (what < 95) {
        t->wrote[m][k] = true;
        t->removes[m][k] = true;
        t->vlen[m][k] = 0;
        cst_ok(cs_kv_remove(t->tx, S(map_names[m]), key_of(k)));
    } else {
        foreach_check fc = {md, t, m, 0};
        cst_ok(cs_kv_foreach(t->tx, S(map_names[m]), foreach_cb, &fc));
        cs_slice ignored;
        while (fc.next < NKEYS && !visible(md, t, m, key_order[fc.next], &ignored))
            fc.next++;
        assert_int_equal(fc.next, NKEYS);
        t->scanned[m] = true;
    }
}

/* The model after committing t as seqno; returns whether any map changed. */
static void model_apply(model *md, const txm *t, uint64_t seqno, bool changed[NMAPS])
{
    for (int m = 0; m < NMAPS; m++) {
        changed[m] = false;
        for (int k = 0; k < NKEYS; k++) {
            if (!t->wrote[m][k])
                continue;
            if (t->removes[m][k]) {
                changed[m] |= md->present[m][k];
                md->present[m][k] = false;
                md->version[m][k] = 0;
                md->vlen[m][k] = 0;
                memset(md->val[m][k], 0, VMAX);
            } else {
                changed[m] = true;
                md->present[m][k] = true;
                md->version[m][k] = seqno;
                md->vlen[m][k] = t->vlen[m][k];
                memset(md->val[m][k], 0, VMAX);
                memcpy(md->val[m][k], t->val[m][k], t->vlen[m][k]);
            }
        }
    }
}

/* A value a long-lived committed view returned, with the bytes it had. */
typedef struct borrowed {
    cs_slice v;
    uint8_t bytes[VMAX];
} borrowed;

#define NBORROWED 16

typedef struct world {
    cs_kv_store *leader, *follower;
    model *history;     /* history[s] = the model at seqno s */
    cs_buf *pub, *priv; /* the write sets of seqno s */
    uint64_t floor;
    uint64_t committed; /* floor <= committed <= last seqno */
    cs_kv_tx *view;     /* a committed view kept open across rounds */
    borrowed kept[NBORROWED];
    size_t nkept;
    size_t pending_reads; /* committed reads made while writes were pending */
} world;

static void commit_and_replicate(world *w, txm *t)
{
    uint64_t seqno = cs_kv_last_seqno(w->leader) + 1;
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_kv_tx_commit(t->tx, seqno, &pub, &priv));
    cst_ok(cs_kv_apply(w->follower, seqno, cs_buf_slice(&pub), cs_buf_slice(&priv)));
    cs_buf_move(&w->pub[seqno], &pub);
    cs_buf_move(&w->priv[seqno], &priv);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    w->history[seqno] = w->history[seqno - 1];
    bool changed[NMAPS];
    model_apply(&w->history[seqno], t, seqno, changed);
}

static void one_transaction(world *w)
{
    const model *md = &w->history[cs_kv_last_seqno(w->leader)];
    txm *t = calloc(1, sizeof *t);
    assert_non_null(t);
    cst_ok(cs_kv_tx_begin(w->leader, &t->tx));
    for (uint64_t n = 1 + rnd(6); n > 0; n--)
        random_op(md, t);
    commit_and_replicate(w, t);
    cs_kv_tx_free(t->tx);
    free(t);
}

/* Two interleaved transactions: the second commits first; the model predicts
 * whether the first must fail with BUSY. */
static void interleaved_pair(world *w)
{
    uint64_t before = cs_kv_last_seqno(w->leader);
    model md = w->history[before];
    txm *t1 = calloc(1, sizeof *t1), *t2 = calloc(1, sizeof *t2);
    assert_non_null(t1);
    assert_non_null(t2);
    cst_ok(cs_kv_tx_begin(w->leader, &t1->tx));
    cst_ok(cs_kv_tx_begin(w->leader, &t2->tx));
    for (uint64_t n = 1 + rnd(4); n > 0; n--)
        random_op(&md, t1);
    for (uint64_t n = 1 + rnd(3); n > 0; n--)
        random_op(&md, t2);
    commit_and_replicate(w, t2);
    const model *after = &w->history[before + 1];
    bool changed[NMAPS];
    model scratch = md;
    model_apply(&scratch, t2, before + 1, changed);
    bool conflict = false;
    for (int m = 0; m < NMAPS; m++) {
        conflict |= t1->scanned[m] && changed[m];
        for (int k = 0; k < NKEYS; k++)
            conflict |= t1->read[m][k] && t1->read_version[m][k] != after->version[m][k];
    }
    if (conflict) {
        cs_buf pub, priv;
        cs_buf_init(&pub, 0);
        cs_buf_init(&priv, 0);
        cst_fails(cs_kv_tx_commit(t1->tx, before + 2, &pub, &priv), CONSORT_E_BUSY);
        assert_non_null(strstr(consort_errmsg(), "conflict on map"));
        assert_int_equal(cs_kv_last_seqno(w->leader), before + 1);
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
    } else {
        commit_and_replicate(w, t1);
    }
    cs_kv_tx_free(t1->tx);
    cs_kv_tx_free(t2->tx);
    free(t1);
    free(t2);
}

/* cs_kv_snapshot_at of a random seqno in reach equals the model's snapshot
 * of that seqno; returns the seqno, the bytes in `out`. */
static uint64_t check_snapshot_at(const world *w, cs_buf *out)
{
    uint64_t last = cs_kv_last_seqno(w->leader);
    uint64_t at = w->floor + rnd(last - w->floor + 1);
    cs_buf want;
    model_snapshot(&w->history[at], at, &want);
    cs_buf_init(out, 0);
    cst_ok(cs_kv_snapshot_at(w->leader, at, out));
    assert_int_equal(out->len, want.len);
    assert_memory_equal(out->ptr, want.ptr, want.len);
    cs_buf_cleanup(&want);
    if (at > 0)
        assert_int_equal(cs_kv_snapshot_at(w->leader, at - 1, &want),
                         at - 1 >= w->floor ? CONSORT_OK : CONSORT_E_STATE);
    cs_buf_cleanup(&want);
    return at;
}

/* Iterates every map of `s` through a new committed view against the model. */
static void check_committed_foreach(cs_kv_store *s, const model *md)
{
    static const txm no_writes; /* the model's view: nothing of its own */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    for (int m = 0; m < NMAPS; m++) {
        foreach_check fc = {md, &no_writes, m, 0};
        cst_ok(cs_kv_foreach(tx, S(map_names[m]), foreach_cb, &fc));
        cs_slice ignored;
        while (fc.next < NKEYS && !visible(md, &no_writes, m, key_order[fc.next], &ignored))
            fc.next++;
        assert_int_equal(fc.next, NKEYS);
    }
    cs_kv_tx_free(tx);
}

static int map_index(const kv_map *m)
{
    for (int i = 0; i < NMAPS; i++) {
        if (cs_slice_eq(kv_map_name(m), S(map_names[i])))
            return i;
    }
    fail_msg("unknown map in the store");
    return -1;
}

static int key_index(cs_slice key)
{
    for (int k = 0; k < NKEYS; k++) {
        if (cs_slice_eq(key, key_of(k)))
            return k;
    }
    fail_msg("unknown key in the store");
    return -1;
}

/* White box (kv_priv.h "the committed index"): each map's index is exactly
 * what the undo items after the committed seqno imply, one entry per key
 * they change, counting its changes and holding the key's record at the
 * committed seqno (`md`). An entry too many would read correctly but never
 * go away. */
static void check_index(const cs_kv_store *s, const model *md)
{
    size_t want[NMAPS][NKEYS] = {{0}};
    const kv_undo *u = &s->undo;
    for (size_t i = cs_kv_undo_first_after(u, s->committed_seqno); i < u->nitems; i++) {
        const kv_undo_item *it = &u->items[i];
        if (it->old == NULL && it->new_rec == NULL)
            continue; /* a map created */
        const kv_rec *r = it->old != NULL ? it->old : it->new_rec;
        want[map_index(it->map)][key_index(kv_rec_key(r))]++;
    }
    for (size_t i = 0; i < s->nmaps; i++) {
        const kv_map *m = s->maps[i];
        int mi = map_index(m);
        size_t entries = 0;
        for (int k = 0; k < NKEYS; k++) {
            const kv_shadow *sh =
                cs_kv_shadow_find(&m->shadow, cs_kv_hash(s, key_of(k)), key_of(k));
            if (want[mi][k] == 0) {
                assert_null(sh);
                continue;
            }
            assert_non_null(sh);
            entries++;
            assert_int_equal(sh->pending, want[mi][k]);
            assert_int_equal(sh->present, md->present[mi][k]);
            assert_true(cs_slice_eq(kv_rec_key(sh->rec), key_of(k)));
            if (sh->present) {
                assert_true(
                    cs_slice_eq(kv_rec_value(sh->rec), CS_SLICE(md->val[mi][k], md->vlen[mi][k])));
                assert_int_equal(sh->rec->version, md->version[mi][k]);
            }
        }
        assert_int_equal(m->shadow.count, entries);
    }
}

/* The committed views of leader and follower hold the model at the committed
 * seqno; the long-lived view reads it too, and what it returned before is
 * intact (under ASan, also not freed). */
static void check_committed(world *w)
{
    assert_int_equal(cs_kv_committed_seqno(w->leader), w->committed);
    assert_int_equal(cs_kv_committed_seqno(w->follower), w->committed);
    const model *md = &w->history[w->committed];
    check_committed_foreach(w->leader, md);
    check_committed_foreach(w->follower, md);
    check_index(w->leader, md);
    check_index(w->follower, md);
    if (w->view == NULL || rnd(50) == 0) {
        cs_kv_tx_free(w->view);
        cst_ok(cs_kv_tx_begin_committed(w->leader, &w->view));
        w->nkept = 0;
    }
    for (int n = 0; n < 4; n++) {
        int m = (int)rnd(NMAPS), k = (int)rnd(NKEYS);
        cs_slice v;
        bool found;
        cst_ok(cs_kv_get(w->view, S(map_names[m]), key_of(k), &v, &found));
        assert_int_equal(found, md->present[m][k]);
        if (found) {
            assert_true(cs_slice_eq(v, CS_SLICE(md->val[m][k], md->vlen[m][k])));
            borrowed *b = &w->kept[w->nkept < NBORROWED ? w->nkept++ : rnd(NBORROWED)];
            b->v = v;
            memcpy(b->bytes, v.ptr, v.len);
        }
        w->pending_reads += cs_kv_last_seqno(w->leader) > w->committed;
    }
    for (size_t i = 0; i < w->nkept; i++)
        assert_true(cs_slice_eq(w->kept[i].v, CS_SLICE(w->kept[i].bytes, w->kept[i].v.len)));
}

/* Moves the committed seqno as a leader does (forward, within the store), or
 * now and then with a stale or too-high value that must be ignored or
 * clamped. */
static void advance_committed(world *w)
{
    uint64_t last = cs_kv_last_seqno(w->leader);
    uint64_t c = rnd(4) == 0 ? rnd(last + 3) : w->committed + rnd(last - w->committed + 1);
    cs_kv_set_committed(w->leader, c);
    cs_kv_set_committed(w->follower, c);
    if (c > last)
        c = last;
    if (c > w->committed)
        w->committed = c;
}

/* A new follower from the leader's snapshot at an earlier seqno and the write
 * sets committed since; neither can roll back below that seqno any more. */
static void rebuild_follower(world *w)
{
    cs_buf snap;
    uint64_t at = check_snapshot_at(w, &snap);
    cs_kv_store_free(w->follower);
    w->follower = excluding_store();
    cst_ok(cs_kv_restore(w->follower, cs_buf_slice(&snap)));
    assert_matches_model(w->follower, &w->history[at]);
    assert_int_equal(cs_kv_committed_seqno(w->follower), at);
    check_committed_foreach(w->follower, &w->history[at]);
    for (uint64_t s = at + 1; s <= cs_kv_last_seqno(w->leader); s++)
        cst_ok(cs_kv_apply(w->follower, s, cs_buf_slice(&w->pub[s]), cs_buf_slice(&w->priv[s])));
    cs_kv_compact(w->leader, at);
    w->floor = at;
    /* compaction commits; the follower learns the leader's commit point */
    if (at > w->committed)
        w->committed = at;
    cs_kv_set_committed(w->follower, w->committed);
    cs_buf_cleanup(&snap);
}

static void random_against_model(void **state)
{
    (void)state;
    setup_keys();
    world w = {.leader = excluding_store(), .follower = excluding_store()};
    w.history = calloc(2 * ROUNDS + 2, sizeof *w.history);
    w.pub = calloc(2 * ROUNDS + 2, sizeof *w.pub);
    w.priv = calloc(2 * ROUNDS + 2, sizeof *w.priv);
    assert_non_null(w.history);
    assert_non_null(w.pub);
    assert_non_null(w.priv);
    size_t rollbacks = 0, conflicts_checked = 0, rebuilds = 0, refused = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t last = cs_kv_last_seqno(w.leader);
        uint64_t r = rnd(100);
        if (r < 55) {
            one_transaction(&w);
        } else if (r < 70) {
            interleaved_pair(&w);
            conflicts_checked++;
        } else if (r < 83) {
            if (w.committed > 0 && rnd(5) == 0) {
                /* committed transactions never roll back */
                cst_fails(cs_kv_rollback(w.leader, rnd(w.committed)), CONSORT_E_STATE);
                refused++;
            } else {
                uint64_t to = w.committed + rnd(last - w.committed + 1);
                cst_ok(cs_kv_rollback(w.leader, to));
                cst_ok(cs_kv_rollback(w.follower, to));
                rollbacks += to < last;
            }
        } else if (r < 88) {
            uint64_t c = w.floor + rnd(last - w.floor + 1);
            cs_kv_compact(w.leader, c);
            cs_kv_compact(w.follower, c);
            w.floor = c;
            if (c > w.committed)
                w.committed = c;
            if (c > 0) {
                cst_fails(cs_kv_rollback(w.leader, c - 1), CONSORT_E_STATE);
            }
        } else if (r < 93) {
            advance_committed(&w);
        } else if (r < 97) {
            cs_buf snap;
            kvt_snapshot(w.leader, &snap);
            cs_kv_store *copy = excluding_store();
            cst_ok(cs_kv_restore(copy, cs_buf_slice(&snap)));
            kvt_assert_same(w.leader, copy);
            kvt_assert_same_digest(w.leader, copy);
            assert_int_equal(cs_kv_committed_seqno(copy), last);
            check_committed_foreach(copy, &w.history[last]);
            cs_kv_store_free(copy);
            cs_buf_cleanup(&snap);
        } else {
            rebuild_follower(&w);
            rebuilds++;
        }
        check_committed(&w);
        assert_matches_model(w.leader, &w.history[cs_kv_last_seqno(w.leader)]);
        kvt_assert_same(w.leader, w.follower);
        kvt_assert_same_digest(w.leader, w.follower);
        cs_buf at_snap;
        check_snapshot_at(&w, &at_snap);
        cs_buf_cleanup(&at_snap);
    }
    print_message("seqno %llu, committed %llu, floor %llu: %zu rollbacks, %zu refused, %zu "
                  "conflict checks, %zu rebuilds, %zu committed reads with writes pending\n",
                  (unsigned long long)cs_kv_last_seqno(w.leader), (unsigned long long)w.committed,
                  (unsigned long long)w.floor, rollbacks, refused, conflicts_checked, rebuilds,
                  w.pending_reads);
    /* the mix really exercised what it claims to */
    assert_true(cs_kv_last_seqno(w.leader) > 50);
    assert_true(rollbacks > 100);
    assert_true(conflicts_checked > 100);
    assert_true(rebuilds > 20);
    assert_true(refused > 20);
    assert_true(w.pending_reads > 1000);
    /* and everything still rolls back to the committed seqno exactly (and
     * not below it, where compaction may not have reached) */
    if (w.committed > 0)
        cst_fails(cs_kv_rollback(w.leader, w.committed - 1), CONSORT_E_STATE);
    cst_ok(cs_kv_rollback(w.leader, w.committed));
    assert_matches_model(w.leader, &w.history[w.committed]);
    cst_ok(cs_kv_rollback(w.follower, w.committed));
    check_committed(&w);
    cs_kv_tx_free(w.view);
    cs_kv_store_free(w.leader);
    cs_kv_store_free(w.follower);
    for (size_t i = 0; i < 2 * ROUNDS + 2; i++) {
        cs_buf_cleanup(&w.pub[i]);
        cs_buf_cleanup(&w.priv[i]);
    }
    free(w.pub);
    free(w.priv);
    free(w.history);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
