/* Small helpers shared by the KV store tests (tests/unit/store/test_kv*.c). */
#ifndef CONSORT_KV_TESTUTIL_H
#define CONSORT_KV_TESTUTIL_H

#include "testutil.h"

#include "base/cbor.h"
#include "crypto/lthash.h"
#include "store/kv.h"

#include <stdio.h>
#include <string.h>

#define S(str) cs_slice_str(str)

/* xorshift64 (Marsaglia): reproducible pseudo-random test data from `*state`
 * (never 0). */
static inline uint64_t kvt_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static inline cs_kv_store *kvt_store(void)
{
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(NULL, &s));
    return s;
}

/* Commits at the next seqno; the write sets go to the optional buffers. */
static inline consort_err kvt_commit_ws(cs_kv_tx *tx, cs_kv_store *s, cs_buf *pub, cs_buf *priv)
{
    cs_buf p, q;
    cs_buf_init(&p, 0);
    cs_buf_init_secret(&q, 0);
    consort_err rc = cs_kv_tx_commit(tx, cs_kv_last_seqno(s) + 1, &p, &q);
    if (pub != NULL)
        cs_buf_move(pub, &p);
    if (priv != NULL)
        cs_buf_move(priv, &q);
    cs_buf_cleanup(&p);
    cs_buf_cleanup(&q);
    return rc;
}

static inline consort_err kvt_commit(cs_kv_tx *tx, cs_kv_store *s)
{
    return kvt_commit_ws(tx, s, NULL, NULL);
}

/* One transaction that puts `value` (NULL = removes) and commits. */
static inline void kvt_write(cs_kv_store *s, const char *map, const char *key, const char *value)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    if (value != NULL)
        cst_ok(cs_kv_put(tx, S(map), S(key), S(value)));
    else
        cst_ok(cs_kv_remove(tx, S(map), S(key)));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
}

/* The committed value of a key as a NUL-terminated copy in buf, or NULL. */
static inline const char *kvt_read(cs_kv_store *s, const char *map, const char *key, char *buf,
                                   size_t cap)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(tx, S(map), S(key), &v, &found));
    const char *out = NULL;
    if (found) {
        assert_true(v.len < cap);
        if (v.len > 0)
            memcpy(buf, v.ptr, v.len);
        buf[v.len] = '\0';
        out = buf;
    }
    cs_kv_tx_free(tx);
    return out;
}

/* Like kvt_read, through a read-only view of the committed state. */
static inline const char *kvt_read_committed(cs_kv_store *s, const char *map, const char *key,
                                             char *buf, size_t cap)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(tx, S(map), S(key), &v, &found));
    const char *out = NULL;
    if (found) {
        assert_true(v.len < cap);
        if (v.len > 0)
            memcpy(buf, v.ptr, v.len);
        buf[v.len] = '\0';
        out = buf;
    }
    cs_kv_tx_free(tx);
    return out;
}

static inline bool kvt_dump_cb(void *ctx, cs_slice key, cs_slice value)
{
    cs_buf *out = ctx;
    cst_ok(cs_buf_append_be64(out, key.len));
    cst_ok(cs_buf_append_slice(out, key));
    cst_ok(cs_buf_append_be64(out, value.len));
    cst_ok(cs_buf_append_slice(out, value));
    return true;
}

/* Every key and value of `map` as `tx` sees it, in iteration order
 * (length-prefixed, so two dumps are equal iff the contents are). */
static inline void kvt_dump(cs_kv_tx *tx, const char *map, cs_buf *out)
{
    cs_buf_init(out, 0);
    cst_ok(cs_kv_foreach(tx, S(map), kvt_dump_cb, out));
}

/* Like kvt_dump, through a new view of the committed state. */
static inline void kvt_dump_committed(cs_kv_store *s, const char *map, cs_buf *out)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    kvt_dump(tx, map, out);
    cs_kv_tx_free(tx);
}

/* Like kvt_dump, through a new ordinary transaction (the latest state). */
static inline void kvt_dump_latest(cs_kv_store *s, const char *map, cs_buf *out)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    kvt_dump(tx, map, out);
    cs_kv_tx_free(tx);
}

static inline void kvt_assert_buf_eq(const cs_buf *a, const cs_buf *b)
{
    assert_int_equal(a->len, b->len);
    if (a->len > 0)
        assert_memory_equal(a->ptr, b->ptr, a->len);
}

/* Asserts the committed view of `s` holds, in each of `maps`, what a store
 * restored from cs_kv_snapshot_at(committed seqno) holds: an oracle built
 * from the undo log, independent of the committed index. */
static inline void kvt_assert_view_is_snapshot_at(cs_kv_store *s, const char *const *maps,
                                                  size_t nmaps)
{
    cs_buf snap;
    cs_buf_init(&snap, 0);
    cst_ok(cs_kv_snapshot_at(s, cs_kv_committed_seqno(s), &snap));
    cs_kv_store *then;
    cst_ok(cs_kv_store_new(NULL, &then));
    cst_ok(cs_kv_restore(then, cs_buf_slice(&snap)));
    for (size_t i = 0; i < nmaps; i++) {
        cs_buf want, got;
        kvt_dump_latest(then, maps[i], &want);
        kvt_dump_committed(s, maps[i], &got);
        kvt_assert_buf_eq(&got, &want);
        cs_buf_cleanup(&want);
        cs_buf_cleanup(&got);
    }
    cs_kv_store_free(then);
    cs_buf_cleanup(&snap);
}

static inline void kvt_snapshot(const cs_kv_store *s, cs_buf *out)
{
    cs_buf_init(out, 0);
    cst_ok(cs_kv_snapshot(s, out));
}

/* Asserts two stores serialise to the same bytes. */
static inline void kvt_assert_same(const cs_kv_store *a, const cs_kv_store *b)
{
    cs_buf x, y;
    kvt_snapshot(a, &x);
    kvt_snapshot(b, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.ptr, y.ptr, x.len);
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
}

/* Asserts the store still serialises to `snap`. */
static inline void kvt_assert_snapshot(const cs_kv_store *s, const cs_buf *snap)
{
    cs_buf x;
    kvt_snapshot(s, &x);
    assert_int_equal(x.len, snap->len);
    assert_memory_equal(x.ptr, snap->ptr, x.len);
    cs_buf_cleanup(&x);
}

/* ---- the state digest, recomputed from scratch ----
 *
 * Written from docs/kv.md "State digest", not from src/store/kv_digest.c:
 *   element = "kv1" || be64(len map) || map || be64(len key) || key
 *             || be64(version) || be64(len value) || value
 * one per present key of every map but the excluded one, in an LtHash. */

static inline void kvt_element_add(cs_lthash *h, cs_slice map, cs_slice key, uint64_t version,
                                   cs_slice value)
{
    cs_buf e;
    cs_buf_init(&e, 0);
    cst_ok(cs_buf_append(&e, "kv1", 3));
    cst_ok(cs_buf_append_be64(&e, map.len));
    cst_ok(cs_buf_append_slice(&e, map));
    cst_ok(cs_buf_append_be64(&e, key.len));
    cst_ok(cs_buf_append_slice(&e, key));
    cst_ok(cs_buf_append_be64(&e, version));
    cst_ok(cs_buf_append_be64(&e, value.len));
    cst_ok(cs_buf_append_slice(&e, value));
    cs_slice whole = cs_buf_slice(&e);
    cst_ok(cs_lthash_add(h, &whole, 1));
    cs_buf_cleanup(&e);
}

/* The state digest of the store a snapshot encodes (`excluded` may be NULL):
 * a scan of every key in the snapshot. */
static inline void kvt_digest_of_snapshot(cs_slice snap, const char *excluded,
                                          uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    cs_lthash h;
    cs_lthash_init(&h);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, snap);
    uint64_t fields, nmaps, nkeys, three, version;
    cs_slice name, key, value;
    cst_ok(cs_cbor_read_map(&r, &fields));
    assert_int_equal(fields, 2);
    cst_ok(cs_cbor_read_text(&r, &name));
    assert_true(cs_slice_eq(name, S("maps")));
    cst_ok(cs_cbor_read_map(&r, &nmaps));
    for (uint64_t i = 0; i < nmaps; i++) {
        cs_slice map;
        cst_ok(cs_cbor_read_text(&r, &map));
        bool skip = excluded != NULL && cs_slice_eq(map, S(excluded));
        cst_ok(cs_cbor_read_array(&r, &nkeys));
        for (uint64_t k = 0; k < nkeys; k++) {
            cst_ok(cs_cbor_read_array(&r, &three));
            assert_int_equal(three, 3);
            cst_ok(cs_cbor_read_bytes(&r, &key));
            cst_ok(cs_cbor_read_bytes(&r, &value));
            cst_ok(cs_cbor_read_uint(&r, &version));
            if (!skip)
                kvt_element_add(&h, map, key, version, value);
        }
    }
    cs_lthash_digest(&h, out);
}

/* Asserts the store's maintained digest equals a scan of its snapshot. */
static inline void kvt_assert_digest_scan(const cs_kv_store *s, const char *excluded)
{
    cs_buf snap;
    kvt_snapshot(s, &snap);
    uint8_t want[CS_KV_STATE_DIGEST_LEN], got[CS_KV_STATE_DIGEST_LEN];
    kvt_digest_of_snapshot(cs_buf_slice(&snap), excluded, want);
    cs_kv_state_digest(s, got);
    assert_memory_equal(got, want, sizeof want);
    cs_buf_cleanup(&snap);
}

static inline void kvt_assert_same_digest(const cs_kv_store *a, const cs_kv_store *b)
{
    uint8_t x[CS_KV_STATE_DIGEST_LEN], y[CS_KV_STATE_DIGEST_LEN];
    cs_kv_state_digest(a, x);
    cs_kv_state_digest(b, y);
    assert_memory_equal(x, y, sizeof x);
}

/* A pinned view encoded on another thread (pthread_create(kvt_encode_main, j)). */
typedef struct kvt_pin_job {
    cs_kv_pinned *pin;
    cs_buf out;
    consort_err rc;
} kvt_pin_job;

static inline void *kvt_encode_main(void *arg)
{
    kvt_pin_job *j = arg;
    j->rc = cs_kv_pinned_encode(j->pin, &j->out);
    return NULL;
}

/* Asserts what a committed read and an ordinary (latest) read of a key give;
 * NULL = absent. */
static inline void kvt_assert_reads(cs_kv_store *s, const char *map, const char *key,
                                    const char *committed, const char *latest)
{
    char buf[64];
    const char *got = kvt_read_committed(s, map, key, buf, sizeof buf);
    if (committed == NULL)
        assert_null(got);
    else
        assert_string_equal(got, committed);
    got = kvt_read(s, map, key, buf, sizeof buf);
    if (latest == NULL)
        assert_null(got);
    else
        assert_string_equal(got, latest);
}

#endif
