/*
 * The state digest (docs/kv.md "State digest"): an LtHash (crypto/lthash.h)
 * of one element per present key of every map but the excluded one,
 *
 *     element = "kv1" || be64(len map) || map || be64(len key) || key
 *               || be64(version) || be64(len value) || value
 *
 * (lengths in bytes, every integer unsigned 64-bit big-endian), and the
 * digest is cs_lthash_digest of that state.
 *
 * The store keeps the LtHash up to date on every change in O(keys written):
 * commit and apply add the delta of a batch (kv_apply.c), rollback the
 * delta of the transactions it undoes (kv_undo.c); each delta is computed
 * before anything changes, so a failure leaves the store as it was. Restore
 * recomputes it from the decoded contents (kv_snapshot.c), the one scan.
 */
#include "store/kv_priv.h"

#include <string.h>

_Static_assert(CS_KV_STATE_DIGEST_LEN == CS_LTHASH_DIGEST_LEN, "state digest length");

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static consort_err element(cs_lthash *h, bool add, const kv_map *m, const kv_rec *r,
                           uint64_t version)
{
    if (!m->in_digest)
        return CONSORT_OK;
    uint8_t head[3 + 8], klen[8], tail[8 + 8];
    memcpy(head, "kv1", 3);
    put_be64(head + 3, m->name_len);
    put_be64(klen, r->klen);
    put_be64(tail, version);
    put_be64(tail + 8, r->vlen);
    const cs_slice parts[6] = {
        CS_SLICE(head, sizeof head), kv_map_name(m),  CS_SLICE(klen, sizeof klen), kv_rec_key(r),
        CS_SLICE(tail, sizeof tail), kv_rec_value(r),
    };
    consort_err rc = add ? cs_lthash_add(h, parts, 6) : cs_lthash_sub(h, parts, 6);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, "KV state digest");
    return CONSORT_OK;
}

consort_err cs_kv_digest_add(cs_lthash *h, const kv_map *m, const kv_rec *r, uint64_t version)
{
    return element(h, true, m, r, version);
}

consort_err cs_kv_digest_sub(cs_lthash *h, const kv_map *m, const kv_rec *r, uint64_t version)
{
    return element(h, false, m, r, version);
}

consort_err cs_kv_digest_maps(kv_map *const *maps, size_t n, cs_lthash *out)
{
    cs_lthash_init(out);
    for (size_t i = 0; i < n; i++) {
        const kv_table *t = &maps[i]->table;
        for (size_t j = 0; j < cs_kv_table_cap(t); j++) {
            const kv_rec *r = cs_kv_table_rec(t, j);
            if (r != NULL)
                CS_TRY(cs_kv_digest_add(out, maps[i], r, r->version));
        }
    }
    return CONSORT_OK;
}

consort_err cs_kv_store_exclude_from_digest(cs_kv_store *s, cs_slice name)
{
    CS_TRY(cs_kv_check_map_name(name));
    char nbuf[CS_KV_FMT_MAX];
    CS_ENSURE(s->excluded_len == 0, CONSORT_E_STATE,
              "KV: map %s is already excluded from the state digest",
              cs_kv_fmt(CS_SLICE(s->excluded, s->excluded_len), nbuf, sizeof nbuf));
    /* no map exists yet, so no element is in the digest or the undo log */
    CS_ENSURE(s->nmaps == 0 && s->last_seqno == 0, CONSORT_E_STATE,
              "KV: a map can only be excluded from the state digest before any write "
              "(the store is at seqno %llu with %zu maps)",
              (unsigned long long)s->last_seqno, s->nmaps);
    memcpy(s->excluded, name.ptr, name.len);
    s->excluded_len = name.len;
    return CONSORT_OK;
}

void cs_kv_state_digest(const cs_kv_store *s, uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    cs_lthash_digest(&s->digest, out);
}
