/*
 * Fuzz target for the KV write-set decoder (src/store/kv_wscodec.c) and
 * cs_kv_apply.
 *
 * Input: candidate write-set bytes, tried as a public and as a private write
 * set. Checks, beyond "no crash":
 *   - the decoder (cs_kv_ws_visit) and cs_kv_apply agree on acceptance, and a
 *     rejected write set leaves the store empty at seqno 0;
 *   - an accepted write set is canonical: replaying its writes through a
 *     transaction and committing re-encodes exactly the input bytes, and the
 *     two stores (applied, committed) have identical snapshots;
 *   - rolling the applied store back to 0 empties it again.
 */
#include "store/kv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t empty_ws[] = {0xa0};

static consort_err replay_cb(void *ctx, cs_slice map, cs_slice key, const cs_slice *value)
{
    cs_kv_tx *tx = ctx;
    return value != NULL ? cs_kv_put(tx, map, key, *value) : cs_kv_remove(tx, map, key);
}

static void snapshot_or_die(const cs_kv_store *s, cs_buf *out)
{
    cs_buf_init(out, 0);
    if (cs_kv_snapshot(s, out) != CONSORT_OK)
        abort();
}

static bool same(const cs_buf *a, const cs_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* Re-encodes the accepted write set through a transaction on a new store. */
static void check_canonical(cs_slice ws, bool public_set, const cs_kv_store *applied)
{
    cs_kv_store *t;
    cs_kv_tx *tx;
    if (cs_kv_store_new(NULL, &t) != CONSORT_OK || cs_kv_tx_begin(t, &tx) != CONSORT_OK)
        abort();
    if (cs_kv_ws_visit(ws, public_set, NULL, replay_cb, tx) != CONSORT_OK)
        abort();
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    if (cs_kv_tx_commit(tx, 1, &pub, &priv) != CONSORT_OK)
        abort();
    const cs_buf *mine = public_set ? &pub : &priv;
    const cs_buf *other = public_set ? &priv : &pub;
    if (mine->len != ws.len || memcmp(mine->ptr, ws.ptr, ws.len) != 0)
        abort();
    if (other->len != 1 || other->ptr[0] != 0xa0)
        abort();
    cs_buf x, y;
    snapshot_or_die(applied, &x);
    snapshot_or_die(t, &y);
    if (!same(&x, &y))
        abort();
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_tx_free(tx);
    cs_kv_store_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_slice ws = CS_SLICE(data, size);
    cs_slice none = CS_SLICE(empty_ws, sizeof empty_ws);
    for (int kind = 0; kind < 2; kind++) {
        bool public_set = kind == 1;
        consort_err decoded = cs_kv_ws_visit(ws, public_set, NULL, NULL, NULL);
        cs_kv_store *s;
        if (cs_kv_store_new(NULL, &s) != CONSORT_OK)
            abort();
        cs_buf empty;
        snapshot_or_die(s, &empty);
        consort_err applied = cs_kv_apply(s, 1, public_set ? ws : none, public_set ? none : ws);
        if ((decoded == CONSORT_OK) != (applied == CONSORT_OK))
            abort();
        if (applied != CONSORT_OK && applied != CONSORT_E_CORRUPT)
            abort();
        if (applied == CONSORT_OK) {
            if (cs_kv_last_seqno(s) != 1)
                abort();
            check_canonical(ws, public_set, s);
            if (cs_kv_rollback(s, 0) != CONSORT_OK)
                abort();
        }
        cs_buf now;
        snapshot_or_die(s, &now);
        if (!same(&now, &empty))
            abort();
        cs_buf_cleanup(&now);
        cs_buf_cleanup(&empty);
        cs_kv_store_free(s);
    }
    return 0;
}
