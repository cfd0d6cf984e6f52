/* Small helpers shared by the KV store tests (tests/unit/store/test_kv*.c). */
#ifndef CONSORT_KV_TESTUTIL_H
#define CONSORT_KV_TESTUTIL_H

#include "testutil.h"

#include "store/kv.h"

#include <stdio.h>
#include <string.h>

#define S(str) cs_slice_str(str)

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

#endif
