/*
 * Getting writes into the store: commit of the leader's own transactions and
 * cs_kv_apply of write sets (followers and replay), sharing one batch path.
 *
 * Commit (docs/kv.md "Transactions", "Conflicts"): validates that every key read still
 * has the version it had when read (else CONSORT_E_BUSY "conflict on map M
 * key K"; the caller retries the handler from scratch; never merged), applies
 * the writes with version = seqno, records undo information and returns the
 * two serialised write sets (public, private).
 *
 * Applying a batch takes three phases: prepare makes every allocation the
 * change needs (new map objects, room in the map array, the tables and the
 * undo log); the state digest's delta is computed next (the elements of the
 * keys it replaces or removes out, those it writes in: docs/kv.md "State
 * digest"); mutate then cannot fail. So a failed commit or apply leaves the
 * store exactly as it was. Prepare also reserves an entry per written key in
 * its map's committed index, which mutate fills in (a new seqno is above the
 * committed seqno, so every change it makes is pending).
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdio.h>
#include <string.h>

void cs_kv_batch_init(kv_batch *b)
{
    *b = (kv_batch){0};
}

void cs_kv_batch_cleanup(kv_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        cs_kv_rec_unref(b->w[i].rec);
    for (size_t i = 0; i < b->n_new; i++)
        cs_kv_map_free(b->new_maps[i]);
    cs_free(b->w);
    cs_free(b->new_maps);
    cs_kv_batch_init(b);
}

consort_err cs_kv_batch_push(kv_batch *b, cs_slice name, kv_rec *rec)
{
    if (b->n == b->cap) {
        size_t cap = b->cap > 0 ? b->cap * 2 : 8;
        kv_write *w = cap <= SIZE_MAX / sizeof *w ? cs_realloc(b->w, cap * sizeof *w) : NULL;
        if (w == NULL) {
            cs_kv_rec_unref(rec);
            return cs_fail(CONSORT_E_NOMEM, "KV batch of %zu writes", cap);
        }
        b->w = w;
        b->cap = cap;
    }
    b->w[b->n++] = (kv_write){.name = name, .rec = rec};
    return CONSORT_OK;
}

/* End of the run of writes to the same map that starts at i. */
static size_t group_end(const kv_batch *b, size_t i)
{
    size_t j = i + 1;
    while (j < b->n && cs_slice_eq(b->w[j].name, b->w[i].name))
        j++;
    return j;
}

static consort_err prepare(cs_kv_store *s, kv_batch *b)
{
    size_t groups = 0;
    for (size_t i = 0; i < b->n; i = group_end(b, i))
        groups++;
    if (groups > 0) {
        b->new_maps = cs_calloc(groups, sizeof *b->new_maps);
        CS_ENSURE(b->new_maps != NULL, CONSORT_E_NOMEM, "KV: %zu maps", groups);
    }
    for (size_t i = 0, j; i < b->n; i = j) {
        j = group_end(b, i);
        size_t puts = 0;
        for (size_t k = i; k < j; k++)
            puts += b->w[k].rec->present ? 1 : 0;
        kv_map *m = cs_kv_map_find(s, b->w[i].name, NULL);
        if (m == NULL && puts > 0) {
            /* only a put creates a map; removals from a missing map do nothing */
            CS_TRY(cs_kv_map_new(s, b->w[i].name, &m));
            b->new_maps[b->n_new++] = m;
        }
        if (m != NULL) {
            CS_TRY(cs_kv_table_reserve(&m->table, puts));
            /* every key changed gets an entry in the committed index */
            CS_TRY(cs_kv_shadow_reserve(&m->shadow, j - i));
        }
        for (size_t k = i; k < j; k++)
            b->w[k].map = m;
    }
    CS_TRY(cs_kv_store_reserve_maps(s, b->n_new));
    return cs_kv_undo_reserve(&s->undo, b->n + b->n_new);
}

/* The change the batch makes to the state digest, with the store (and the
 * maps prepare made) still as they were. */
static consort_err digest_delta(const kv_batch *b, uint64_t seqno, cs_lthash *delta)
{
    cs_lthash_init(delta);
    for (size_t i = 0; i < b->n; i++) {
        const kv_map *m = b->w[i].map;
        const kv_rec *rec = b->w[i].rec;
        if (m == NULL || !m->in_digest)
            continue; /* a removal from a missing map, or the excluded map */
        const kv_rec *old = cs_kv_table_find(&m->table, rec->hash, kv_rec_key(rec));
        if (old != NULL)
            CS_TRY(cs_kv_digest_sub(delta, m, old, old->version));
        if (rec->present)
            CS_TRY(cs_kv_digest_add(delta, m, rec, seqno));
    }
    return CONSORT_OK;
}

static void mutate(cs_kv_store *s, kv_batch *b, uint64_t seqno, const cs_lthash *delta)
{
    kv_undo *u = &s->undo;
    cs_kv_undo_begin_seg(u, seqno);
    for (size_t i = 0; i < b->n_new; i++) {
        size_t pos;
        kv_map *m = b->new_maps[i];
        /* prepare created only missing maps, one per name: this finds none */
        (void)cs_kv_map_find(s, kv_map_name(m), &pos);
        cs_kv_store_insert_map(s, m, pos);
        cs_kv_undo_push(u, m, NULL, NULL);
    }
    b->n_new = 0;
    for (size_t i = 0; i < b->n; i++) {
        kv_map *m = b->w[i].map;
        kv_rec *rec = b->w[i].rec;
        b->w[i].rec = NULL;
        if (rec->present) {
            rec->version = seqno;
            kv_rec *old = cs_kv_table_set(&m->table, rec);
            cs_kv_undo_push(u, m, old, rec);
            cs_kv_shadow_written(&m->shadow, old, rec);
            m->mod_count++;
        } else {
            kv_rec *old =
                m != NULL ? cs_kv_table_take(&m->table, rec->hash, kv_rec_key(rec)) : NULL;
            if (old != NULL) {
                cs_kv_undo_push(u, m, old, NULL);
                cs_kv_shadow_written(&m->shadow, old, NULL);
                m->mod_count++;
            }
            cs_kv_rec_unref(rec);
        }
    }
    cs_lthash_combine(&s->digest, delta);
    s->last_seqno = seqno;
}

consort_err cs_kv_batch_apply(cs_kv_store *s, kv_batch *b, uint64_t seqno)
{
    CS_ENSURE(s->last_seqno < UINT64_MAX && seqno == s->last_seqno + 1, CONSORT_E_STATE,
              "KV: seqno %llu does not follow the last seqno %llu", (unsigned long long)seqno,
              (unsigned long long)s->last_seqno);
    cs_lthash delta;
    consort_err rc = prepare(s, b);
    if (rc == CONSORT_OK)
        rc = digest_delta(b, seqno, &delta);
    if (rc != CONSORT_OK) {
        /* maps made by prepare are not in the store yet: just free them
         * (the room reserved in tables and the undo log changes nothing) */
        for (size_t i = 0; i < b->n_new; i++)
            cs_kv_map_free(b->new_maps[i]);
        b->n_new = 0;
        return rc;
    }
    mutate(s, b, seqno, &delta);
    return CONSORT_OK;
}

typedef struct apply_ctx {
    cs_kv_store *s;
    kv_batch *b;
} apply_ctx;

static consort_err collect_cb(void *ctx, cs_slice map, cs_slice key, const cs_slice *value)
{
    apply_ctx *a = ctx;
    kv_rec *rec;
    CS_TRY(cs_kv_rec_new(cs_kv_hash(a->s, key), key, value, &rec));
    return cs_kv_batch_push(a->b, map, rec);
}

/* Decodes one write set into the batch; anything but NOMEM becomes CORRUPT. */
static consort_err collect(cs_kv_store *s, kv_batch *b, uint64_t seqno, cs_slice ws,
                           bool public_set)
{
    apply_ctx a = {s, b};
    consort_err rc = cs_kv_ws_visit(ws, public_set, &s->limits, collect_cb, &a);
    if (rc == CONSORT_OK || rc == CONSORT_E_NOMEM)
        return rc;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", consort_errmsg());
    return cs_fail(CONSORT_E_CORRUPT, "KV apply seqno %llu: %s write set: %s",
                   (unsigned long long)seqno, public_set ? "public" : "private", why);
}

consort_err cs_kv_apply(cs_kv_store *s, uint64_t seqno, cs_slice public_ws, cs_slice private_ws)
{
    CS_ENSURE(s->last_seqno < UINT64_MAX && seqno == s->last_seqno + 1, CONSORT_E_STATE,
              "KV apply: seqno %llu does not follow the last seqno %llu", (unsigned long long)seqno,
              (unsigned long long)s->last_seqno);
    kv_batch b;
    cs_kv_batch_init(&b);
    consort_err rc;
    CS_TRY_GOTO(rc, collect(s, &b, seqno, public_ws, true), out);
    CS_TRY_GOTO(rc, collect(s, &b, seqno, private_ws, false), out);
    CS_TRY_GOTO(rc, cs_kv_batch_apply(s, &b, seqno), out);
out:
    cs_kv_batch_cleanup(&b);
    return rc;
}

/* ---- commit ---- */

static consort_err validate_map(const cs_kv_tx *tx, kv_txmap *tm)
{
    char nbuf[CS_KV_FMT_MAX], kbuf[CS_KV_FMT_MAX];
    kv_map *m = cs_kv_tx_store_map(tx, tm);
    if (tm->scanned) {
        uint64_t now = m != NULL ? m->mod_count : 0;
        CS_ENSURE(now == tm->scan_mod, CONSORT_E_BUSY,
                  "conflict on map %s: it changed since the transaction iterated it",
                  cs_kv_fmt(kv_txmap_name(tm), nbuf, sizeof nbuf));
    }
    const kv_table *reads = &tm->reads;
    for (size_t i = 0; i < cs_kv_table_cap(reads); i++) {
        const kv_rec *r = cs_kv_table_rec(reads, i);
        if (r == NULL)
            continue;
        const kv_rec *cur = m != NULL ? cs_kv_table_find(&m->table, r->hash, kv_rec_key(r)) : NULL;
        uint64_t now = cur != NULL ? cur->version : 0;
        CS_ENSURE(now == r->version, CONSORT_E_BUSY,
                  "conflict on map %s key %s: read at version %llu, now at version %llu",
                  cs_kv_fmt(kv_txmap_name(tm), nbuf, sizeof nbuf),
                  cs_kv_fmt(kv_rec_key(r), kbuf, sizeof kbuf), (unsigned long long)r->version,
                  (unsigned long long)now);
    }
    return CONSORT_OK;
}

/* The transaction's writes as a batch sorted by (map name, key); the batch
 * takes its own references, the transaction keeps its records. */
static consort_err build_batch(const cs_kv_tx *tx, kv_batch *b)
{
    for (size_t i = 0; i < tx->nmaps; i++) {
        const kv_txmap *tm = tx->maps[i];
        kv_rec **recs;
        size_t n;
        CS_TRY(cs_kv_table_sorted(&tm->writes, &recs, &n));
        consort_err rc = CONSORT_OK;
        for (size_t k = 0; k < n && rc == CONSORT_OK; k++)
            rc = cs_kv_batch_push(b, kv_txmap_name(tm), cs_kv_rec_ref(recs[k]));
        cs_free(recs);
        CS_TRY(rc);
    }
    return CONSORT_OK;
}

static consort_err encode(const cs_kv_store *s, const kv_batch *b, bool public_set, cs_buf *out)
{
    CS_TRY_CTX(cs_kv_ws_encode(b, public_set, out), "KV commit: %s write set",
               public_set ? "public" : "private");
    CS_ENSURE(out->len <= s->limits.max_write_set, CONSORT_E_TOO_LARGE,
              "KV commit: %s write set of %zu bytes, the cap is %zu",
              public_set ? "public" : "private", out->len, s->limits.max_write_set);
    return CONSORT_OK;
}

consort_err cs_kv_tx_commit(cs_kv_tx *tx, uint64_t seqno, cs_buf *public_ws, cs_buf *private_ws)
{
    cs_buf_reset(public_ws);
    cs_buf_reset(private_ws);
    CS_TRY(cs_kv_tx_check_open(tx, "commit"));
    CS_TRY(cs_kv_tx_check_writable(tx, "commit"));
    cs_kv_store *s = tx->store;
    CS_ENSURE(s->last_seqno < UINT64_MAX && seqno == s->last_seqno + 1, CONSORT_E_STATE,
              "KV commit: seqno %llu does not follow the last seqno %llu",
              (unsigned long long)seqno, (unsigned long long)s->last_seqno);
    CS_ENSURE(tx->generation == s->generation, CONSORT_E_BUSY,
              "conflict: the store was rolled back or restored since the transaction began");
    for (size_t i = 0; i < tx->nmaps; i++)
        CS_TRY(validate_map(tx, tx->maps[i]));

    kv_batch b;
    cs_kv_batch_init(&b);
    consort_err rc;
    CS_TRY_GOTO(rc, build_batch(tx, &b), fail);
    CS_TRY_GOTO(rc, encode(s, &b, true, public_ws), fail);
    CS_TRY_GOTO(rc, encode(s, &b, false, private_ws), fail);
    CS_TRY_GOTO(rc, cs_kv_batch_apply(s, &b, seqno), fail);
    cs_kv_batch_cleanup(&b);
    tx->committed = true;
    return CONSORT_OK;
fail:
    cs_kv_batch_cleanup(&b);
    cs_buf_reset(public_ws);
    cs_buf_reset(private_ws);
    return rc;
}
