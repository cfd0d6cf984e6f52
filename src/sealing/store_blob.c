/*
 * Application blobs of the sealed store (store.h cs_sealstore_seal /
 * cs_sealstore_unseal): sealed blobs (seal.h) under the SMK, whose key
 * cache is kept for the life of the handle, so the hot path runs no HKDF.
 */
#include "sealing/store_priv.h"

#include <inttypes.h>
#include <string.h>

consort_err cs_sealstore_seal(cs_sealstore *s, cs_seal_policy policy, const char *counter_name,
                              cs_slice plain, cs_buf *out)
{
    CS_TRY(store_need_live(s, "seal"));
    CS_ENSURE(policy == CS_SEAL_POLICY_CODE || policy == CS_SEAL_POLICY_LINEAGE,
              CONSORT_E_INVALID_ARGUMENT, "seal: policy %d, expected 1 (code) or 2 (lineage)",
              (int)policy);
    uint64_t value = 0;
    if (counter_name != NULL)
        CS_TRY_CTX(cs_sealstore_counter_increment(s, counter_name, &value), "seal");
    const bool lineage = policy == CS_SEAL_POLICY_LINEAGE;
    const cs_seal_params p = {
        .policy = policy,
        .code_id = s->keys.code_id,
        .successors = lineage ? s->successors : NULL,
        .successor_count = lineage ? s->successor_count : 0,
        .counter_name = counter_name,
        .counter_value = value,
    };
    return cs_seal_with(s->smk_kc, &p, plain, out);
}

consort_err cs_sealstore_unseal(cs_sealstore *s, cs_slice blob, cs_seal_header *hdr, cs_buf *out)
{
    CS_TRY(store_need_live(s, "unseal"));
    cs_seal_header local;
    cs_seal_header *h = hdr != NULL ? hdr : &local;
    const cs_seal_opener o = {
        .code_id = s->keys.code_id,
        .ancestors = s->c.ancestors,
        .ancestor_count = s->c.ancestor_count,
    };
    size_t old_len = out->len;
    CS_TRY(cs_unseal_with(s->smk_kc, &o, blob, h, out));
    if (!h->has_counter)
        return CONSORT_OK;
    const store_counter *k = store_counter_find(&s->c, h->counter_name, NULL);
    uint64_t now = k != NULL ? k->value : 0;
    if (now != h->counter_value) {
        cs_wipe(out->ptr + old_len, out->len - old_len);
        out->len = old_len;
        return cs_fail(CONSORT_E_ROLLBACK,
                       "sealed blob: sealed at counter \"%s\" = %" PRIu64 ", counter is %" PRIu64,
                       h->counter_name, h->counter_value, now);
    }
    return CONSORT_OK;
}
