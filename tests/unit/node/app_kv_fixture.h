/*
 * Helpers of the application KV tests (test_app_kv.c, test_app_scan.c): a
 * handler run as consortd runs it, committed writes, and byte checks made
 * in instrumented code.
 */
#ifndef CS_TEST_APP_KV_FIXTURE_H
#define CS_TEST_APP_KV_FIXTURE_H

#include "app_fixture.h"

#include "base/alloc.h"

#define MIB ((size_t)1 << 20)

/* True iff the `n` bytes at `p` are `want`'s, read here, in instrumented code:
 * cmocka's assert_memory_equal is not built with ASan, so a read of freed
 * bytes through it goes unseen. */
static inline bool bytes_are(const uint8_t *p, size_t n, const char *want)
{
    if (n != strlen(want))
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)want[i])
            return false;
    return true;
}

/* Runs `handler` once, as consortd would, on a new transaction of `store`;
 * commits when the outcome says so (c->seqno). */
static inline void run(cs_kv_store *store, consort_handler handler, void *ctx, bool writable,
                       cst_call *c)
{
    cs_app_endpoint ep = {.method = "POST", .path = "/app/t", .handler = handler, .ctx = ctx};
    cst_run(store, &ep, "q=1", "the body", NULL, writable, c);
}

static inline void put_committed(cs_kv_store *store, const char *map, const char *key,
                                 const char *value)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    cst_ok(cs_kv_put(tx, cs_slice_str(map), cs_slice_str(key), cs_slice_str(value)));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&priv, 0);
    cst_ok(cs_kv_tx_commit(tx, cs_kv_last_seqno(store) + 1, &pub, &priv));
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_tx_free(tx);
}

/* What a scan visited, up to MAX_SEEN entries. */
#define MAX_SEEN 64

typedef struct scan_log {
    size_t n;
    const uint8_t *key[MAX_SEEN], *value[MAX_SEEN];
    size_t key_len[MAX_SEEN], value_len[MAX_SEEN];
    size_t stop_after; /* 0: never stop */
    consort_tx *tx;    /* writes through it while visiting, if set */
} scan_log;

static inline bool log_visit(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                             size_t value_len)
{
    scan_log *l = ctx;
    assert_true(l->n < MAX_SEEN);
    assert_non_null(key);
    assert_non_null(value);
    l->key[l->n] = key;
    l->key_len[l->n] = key_len;
    l->value[l->n] = value;
    l->value_len[l->n] = value_len;
    l->n++;
    if (l->tx != NULL) {
        /* writes while visiting change nothing this scan visits */
        cst_ok(consort_kv_remove(l->tx, "s", "ba", 2));
        cst_ok(consort_kv_put(l->tx, "s", "bab", 3, "new", 3));
        cst_ok(consort_kv_put(l->tx, "s", key, key_len, "overwritten", 11));
    }
    return l->stop_after == 0 || l->n < l->stop_after;
}

/* The keys a scan visited, as "key=value,key=value" with 0x00 shown as '0'. */
static inline const char *seen(const scan_log *l)
{
    static char text[1024];
    size_t at = 0;
    text[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        for (size_t k = 0; k < l->key_len[i] && at < sizeof text - 2; k++)
            text[at++] = l->key[i][k] == 0 ? '0' : (char)l->key[i][k];
        text[at++] = '=';
        for (size_t k = 0; k < l->value_len[i] && at < sizeof text - 2; k++)
            text[at++] = (char)l->value[i][k];
        if (i + 1 < l->n)
            text[at++] = ',';
        text[at] = '\0';
    }
    return text;
}

static inline consort_err scan(consort_tx *tx, const void *start, size_t start_len, size_t limit,
                               scan_log *l)
{
    memset(l, 0, sizeof *l);
    return consort_kv_scan(tx, "s", start, start_len, limit, log_visit, l);
}

#endif
