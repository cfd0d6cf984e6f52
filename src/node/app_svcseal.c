/*
 * Sealing in the service's scope (app_svcseal.h).
 */
#include "node/app_svcseal.h"

#include "base/alloc.h"
#include "crypto/rand.h"
#include "node/svc_lineage.h"
#include "sealing/seal.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#define ROOT_KEY "root"

struct cs_app_svcseal {
    pthread_mutex_t mu; /* over kc and root */
    uint8_t code_id[32];
    uint8_t root[CS_SEAL_ROOT_LEN]; /* what kc derives from, if kc */
    cs_seal_keycache *kc;
};

consort_err cs_app_svcseal_new(const uint8_t code_id[32], cs_app_svcseal **out)
{
    cs_app_svcseal *s = cs_calloc(1, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "service sealing: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    memcpy(s->code_id, code_id, sizeof s->code_id);
    *out = s;
    return CONSORT_OK;
}

void cs_app_svcseal_free(cs_app_svcseal *s)
{
    if (s == NULL)
        return;
    cs_seal_keycache_free(s->kc);
    cs_wipe(s->root, sizeof s->root);
    pthread_mutex_destroy(&s->mu);
    cs_free(s);
}

/* ---- counters ---- */

consort_err cs_app_counter_get(consort_tx *tx, const char *name, uint64_t *value)
{
    cs_slice v = CS_SLICE_EMPTY;
    bool found;
    CS_TRY(cs_kv_get(tx->kv, CS_SLICE_LIT(APP_MAP_COUNTERS), cs_slice_str(name), &v, &found));
    *value = 0;
    if (!found)
        return CONSORT_OK;
    CS_ENSURE(v.len == 8, CONSORT_E_CORRUPT,
              "service counter \"%s\": a stored value of %zu bytes, expected 8", name, v.len);
    for (size_t i = 0; i < 8; i++)
        *value = *value << 8 | v.ptr[i];
    return CONSORT_OK;
}

static consort_err counter_put(consort_tx *tx, const char *name, uint64_t value)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--, value >>= 8)
        b[i] = (uint8_t)value;
    return cs_kv_put(tx->kv, CS_SLICE_LIT(APP_MAP_COUNTERS), cs_slice_str(name), CS_SLICE(b, 8));
}

consort_err cs_app_counter_bump(consort_tx *tx, const char *name, uint64_t *value)
{
    CS_ENSURE(tx->writable, CONSORT_E_STATE,
              "service counter \"%s\": an increment is a write of the transaction: only in a "
              "read-write endpoint",
              name);
    uint64_t v;
    CS_TRY(cs_app_counter_get(tx, name, &v));
    CS_ENSURE(v != UINT64_MAX, CONSORT_E_TOO_LARGE, "service counter \"%s\" is at its maximum",
              name);
    CS_TRY(counter_put(tx, name, v + 1));
    *value = v + 1;
    return CONSORT_OK;
}

/* ---- the root and its key schedule ---- */

/* Makes s->kc the schedule of the root `tx` reads; with `create` (a
 * read-write transaction), writes a fresh root if there is none. Called
 * with s->mu held. */
static consort_err use_root(cs_app_svcseal *s, consort_tx *tx, bool create)
{
    cs_slice v = CS_SLICE_EMPTY;
    bool found;
    CS_TRY(cs_kv_get(tx->kv, CS_SLICE_LIT(APP_MAP_SEALING), CS_SLICE_LIT(ROOT_KEY), &v, &found));
    uint8_t fresh[CS_SEAL_ROOT_LEN];
    if (!found) {
        CS_ENSURE(create, CONSORT_E_STATE,
                  "the service has no sealing root yet: the first consort_seal runs in a "
                  "read-write endpoint");
        CS_TRY(cs_random(fresh, sizeof fresh));
        consort_err rc = cs_kv_put(tx->kv, CS_SLICE_LIT(APP_MAP_SEALING), CS_SLICE_LIT(ROOT_KEY),
                                   CS_SLICE(fresh, sizeof fresh));
        if (rc != CONSORT_OK) {
            cs_wipe(fresh, sizeof fresh);
            return rc;
        }
        v = CS_SLICE(fresh, sizeof fresh);
    }
    CS_ENSURE(v.len == CS_SEAL_ROOT_LEN, CONSORT_E_CORRUPT,
              "the service's sealing root has %zu bytes, expected %d", v.len, CS_SEAL_ROOT_LEN);
    consort_err rc = CONSORT_OK;
    if (s->kc == NULL || memcmp(s->root, v.ptr, sizeof s->root) != 0) {
        cs_seal_keycache_free(s->kc);
        s->kc = NULL;
        memcpy(s->root, v.ptr, sizeof s->root);
        rc = cs_seal_keycache_new(s->root, &s->kc);
    }
    cs_wipe(fresh, sizeof fresh);
    return rc;
}

/* The approved lineage of this node's code in `tx`: successors or
 * predecessors, into ids[CS_SEAL_MAX_SUCCESSORS]. */
static consort_err lineage(const cs_app_svcseal *s, consort_tx *tx, bool successors,
                           cs_code_id *ids, size_t *count)
{
    uint8_t raw[CS_SEAL_MAX_SUCCESSORS][32];
    CS_TRY(svc_lineage_in(tx->kv, s->code_id, successors, raw, CS_SEAL_MAX_SUCCESSORS, count));
    for (size_t i = 0; i < *count; i++)
        memcpy(ids[i].b, raw[i], 32);
    return CONSORT_OK;
}

/* ---- seal and unseal ---- */

consort_err cs_app_svcseal_seal(cs_app_svcseal *s, consort_tx *tx, consort_seal_policy policy,
                                const char *counter, cs_slice plain, cs_buf *out)
{
    uint64_t value = 0;
    if (counter != NULL)
        CS_TRY_CTX(cs_app_counter_bump(tx, counter, &value), "consort_seal");
    cs_code_id successors[CS_SEAL_MAX_SUCCESSORS];
    size_t n = 0;
    if (policy == CONSORT_SEAL_LINEAGE)
        CS_TRY_CTX(lineage(s, tx, true, successors, &n), "consort_seal");
    const cs_seal_params p = {
        .policy = (cs_seal_policy)policy,
        .code_id = s->code_id,
        .successors = n > 0 ? successors : NULL,
        .successor_count = n,
        .counter_name = counter,
        .counter_value = value,
    };
    pthread_mutex_lock(&s->mu);
    consort_err rc = use_root(s, tx, tx->writable);
    if (rc == CONSORT_OK)
        rc = cs_seal_with(s->kc, &p, plain, out);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

consort_err cs_app_svcseal_unseal(cs_app_svcseal *s, consort_tx *tx, cs_slice blob, cs_buf *out)
{
    cs_code_id ancestors[CS_SEAL_MAX_SUCCESSORS];
    size_t n;
    CS_TRY_CTX(lineage(s, tx, false, ancestors, &n), "consort_unseal");
    const cs_seal_opener o = {
        .code_id = s->code_id,
        .ancestors = n > 0 ? ancestors : NULL,
        .ancestor_count = n,
    };
    cs_seal_header hdr;
    size_t old_len = out->len;
    pthread_mutex_lock(&s->mu);
    consort_err rc = use_root(s, tx, false);
    if (rc == CONSORT_E_STATE)
        rc = cs_fail(CONSORT_E_BAD_TAG, "sealed blob: this service has sealed nothing (no "
                                        "sealing root): the blob is not this service's");
    else if (rc == CONSORT_OK)
        rc = cs_unseal_with(s->kc, &o, blob, &hdr, out);
    pthread_mutex_unlock(&s->mu);
    if (rc != CONSORT_OK || !hdr.has_counter)
        return rc;
    uint64_t now = 0;
    if (!tx->writable)
        rc = cs_fail(CONSORT_E_STATE,
                     "consort_unseal: the blob is bound to service counter \"%s\": the check "
                     "must commit, so it runs only in a read-write endpoint",
                     hdr.counter_name);
    else if ((rc = cs_app_counter_get(tx, hdr.counter_name, &now)) == CONSORT_OK &&
             now != hdr.counter_value)
        rc = cs_fail(CONSORT_E_ROLLBACK,
                     "sealed blob: sealed at service counter \"%s\" = %" PRIu64
                     ", the counter is %" PRIu64,
                     hdr.counter_name, hdr.counter_value, now);
    /* the transaction writes what it checked: it commits (on a majority,
     * as leader) before the answer leaves, or the answer is an error */
    if (rc == CONSORT_OK)
        rc = counter_put(tx, hdr.counter_name, now);
    if (rc != CONSORT_OK) {
        cs_wipe(out->ptr + old_len, out->len - old_len);
        out->len = old_len;
    }
    return rc;
}
