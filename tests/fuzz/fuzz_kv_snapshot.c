/*
 * Fuzz target for the KV snapshot decoder (cs_kv_restore,
 * src/store/kv_snapshot.c).
 *
 * Input: candidate snapshot bytes. Checks, beyond "no crash":
 *   - a rejected snapshot is CORRUPT and leaves the store as it was;
 *   - an accepted snapshot is canonical: cs_kv_snapshot reproduces exactly
 *     the input bytes;
 *   - the restored store works: a transaction that rewrites and removes the
 *     first key of every map commits at the next seqno, and rolling it back
 *     gives the input bytes again.
 */
#include "store/kv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct first_key {
    uint8_t key[64];
    size_t len;
    bool seen;
    bool fits;
} first_key;

static bool first_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)value;
    first_key *f = ctx;
    f->seen = true;
    f->fits = key.len <= sizeof f->key;
    if (f->fits) {
        if (key.len > 0)
            memcpy(f->key, key.ptr, key.len);
        f->len = key.len;
    }
    return false;
}

static bool equals(const cs_buf *b, cs_slice s)
{
    return b->len == s.len && (s.len == 0 || memcmp(b->ptr, s.ptr, s.len) == 0);
}

/* Touches the first key of a few maps, commits, rolls back. */
static void exercise(cs_kv_store *s, cs_slice input)
{
    static const char *const maps[] = {"m", "accounts", "public:log", "zzz"};
    uint64_t base = cs_kv_last_seqno(s);
    if (base == UINT64_MAX)
        return;
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(s, &tx) != CONSORT_OK)
        abort();
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        first_key f = {0};
        if (cs_kv_foreach(tx, cs_slice_str(maps[i]), first_cb, &f) != CONSORT_OK)
            abort();
        if (f.seen && f.fits) {
            cs_slice key = CS_SLICE(f.key, f.len);
            if ((i % 2 ? cs_kv_remove(tx, cs_slice_str(maps[i]), key)
                       : cs_kv_put(tx, cs_slice_str(maps[i]), key, CS_SLICE_LIT("new"))) !=
                CONSORT_OK)
                abort();
        }
    }
    cs_buf pub, priv, snap;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cs_buf_init(&snap, 0);
    if (cs_kv_tx_commit(tx, base + 1, &pub, &priv) != CONSORT_OK)
        abort();
    if (cs_kv_rollback(s, base) != CONSORT_OK || cs_kv_snapshot(s, &snap) != CONSORT_OK)
        abort();
    if (!equals(&snap, input))
        abort();
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&snap);
    cs_kv_tx_free(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_slice input = CS_SLICE(data, size);
    cs_kv_store *s;
    if (cs_kv_store_new(NULL, &s) != CONSORT_OK)
        abort();
    cs_buf before, after;
    cs_buf_init(&before, 0);
    cs_buf_init(&after, 0);
    if (cs_kv_snapshot(s, &before) != CONSORT_OK)
        abort();
    consort_err rc = cs_kv_restore(s, input);
    if (cs_kv_snapshot(s, &after) != CONSORT_OK)
        abort();
    if (rc == CONSORT_OK) {
        if (!equals(&after, input))
            abort();
        exercise(s, input);
    } else if (rc != CONSORT_E_CORRUPT || !equals(&after, cs_buf_slice(&before))) {
        abort();
    }
    cs_buf_cleanup(&before);
    cs_buf_cleanup(&after);
    cs_kv_store_free(s);
    return 0;
}
