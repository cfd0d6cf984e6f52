/*
 * The plaintext of store.bin (store_priv.h store_content): a CBOR map with
 * text keys in this order
 *
 *   {"instance_id": bstr 16, "state": uint (store.h cs_sealstore_state),
 *    "peer": bstr 16 (zeros unless RETIRED or PENDING), "smk": bstr 32,
 *    "counters": [* [tstr name, uint value]] (sorted by name, at most 1024),
 *    "ancestors": [* bstr 32] (at most 64), "payload": bstr (at most 1 MiB),
 *    "migration": [eph_key, transfer_key, source_eph, package_digest,
 *                  confirm_tag] (bstr each, empty when unused)}
 *
 * The successors are not here: they are the blob's header (seal.h). The
 * decoder checks every length and the order of the counters.
 */
#include "sealing/store_priv.h"

#include "base/alloc.h"
#include "base/cbor.h"

#include <string.h>

#define MIG_FIELD_MAX ((size_t)8 << 10)

void store_content_init(store_content *c)
{
    memset(c, 0, sizeof *c);
    cs_buf_init(&c->payload, CS_SEALSTORE_MAX_PAYLOAD);
    cs_buf_init_secret(&c->mig.eph_key, MIG_FIELD_MAX);
    cs_buf_init_secret(&c->mig.transfer_key, MIG_FIELD_MAX);
    cs_buf_init(&c->mig.source_eph, MIG_FIELD_MAX);
    cs_buf_init(&c->mig.package_digest, 32);
    cs_buf_init(&c->mig.confirm_tag, 32);
}

void store_content_cleanup(store_content *c)
{
    cs_free(c->counters);
    cs_buf_cleanup(&c->payload);
    cs_buf_cleanup(&c->mig.eph_key);
    cs_buf_cleanup(&c->mig.transfer_key);
    cs_buf_cleanup(&c->mig.source_eph);
    cs_buf_cleanup(&c->mig.package_digest);
    cs_buf_cleanup(&c->mig.confirm_tag);
    cs_wipe(c, sizeof *c);
}

store_counter *store_counter_find(const store_content *c, const char *name, size_t *insert_at)
{
    size_t lo = 0, hi = c->counter_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->counters[mid].name, name);
        if (cmp == 0) {
            if (insert_at != NULL)
                *insert_at = mid;
            return &c->counters[mid];
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (insert_at != NULL)
        *insert_at = lo;
    return NULL;
}

consort_err store_counter_name_check(const char *name)
{
    size_t len = strlen(name);
    CS_ENSURE(len >= 1 && len <= CS_SEAL_MAX_COUNTER_NAME, CONSORT_E_INVALID_ARGUMENT,
              "counter name of %zu bytes, expected 1 to %d", len, CS_SEAL_MAX_COUNTER_NAME);
    for (size_t i = 0; i < len; i++)
        CS_ENSURE(name[i] >= 0x20 && name[i] <= 0x7e, CONSORT_E_INVALID_ARGUMENT,
                  "counter name is not printable ASCII");
    CS_ENSURE(strcmp(name, CS_SEALSTORE_ANCHOR_COUNTER) != 0, CONSORT_E_INVALID_ARGUMENT,
              "counter name \"%s\" is reserved", name);
    return CONSORT_OK;
}

consort_err store_counter_get(store_content *c, const char *name, store_counter **out)
{
    size_t at;
    store_counter *found = store_counter_find(c, name, &at);
    if (found != NULL) {
        *out = found;
        return CONSORT_OK;
    }
    CS_TRY(store_counter_name_check(name));
    size_t len = strlen(name);
    CS_ENSURE(c->counter_count < CS_SEALSTORE_MAX_COUNTERS, CONSORT_E_TOO_LARGE,
              "%d named counters already, at most %d", CS_SEALSTORE_MAX_COUNTERS,
              CS_SEALSTORE_MAX_COUNTERS);
    store_counter *grown = cs_realloc(c->counters, (c->counter_count + 1) * sizeof *grown);
    CS_ENSURE(grown != NULL, CONSORT_E_NOMEM, "counters: out of memory");
    c->counters = grown;
    memmove(&grown[at + 1], &grown[at], (c->counter_count - at) * sizeof *grown);
    memset(&grown[at], 0, sizeof *grown);
    memcpy(grown[at].name, name, len);
    c->counter_count++;
    *out = &grown[at];
    return CONSORT_OK;
}

consort_err store_content_encode(const store_content *c, cs_buf *out)
{
    CS_TRY(cs_cbor_write_map(out, 8));
    CS_TRY(cs_cbor_write_cstr(out, "instance_id"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(c->instance_id, CS_SEALSTORE_ID_LEN)));
    CS_TRY(cs_cbor_write_cstr(out, "state"));
    CS_TRY(cs_cbor_write_uint(out, (uint64_t)c->state));
    CS_TRY(cs_cbor_write_cstr(out, "peer"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(c->peer_id, CS_SEALSTORE_ID_LEN)));
    CS_TRY(cs_cbor_write_cstr(out, "smk"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(c->smk, sizeof c->smk)));
    CS_TRY(cs_cbor_write_cstr(out, "counters"));
    CS_TRY(cs_cbor_write_array(out, c->counter_count));
    for (size_t i = 0; i < c->counter_count; i++) {
        CS_TRY(cs_cbor_write_array(out, 2));
        CS_TRY(cs_cbor_write_cstr(out, c->counters[i].name));
        CS_TRY(cs_cbor_write_uint(out, c->counters[i].value));
    }
    CS_TRY(cs_cbor_write_cstr(out, "ancestors"));
    CS_TRY(cs_cbor_write_array(out, c->ancestor_count));
    for (size_t i = 0; i < c->ancestor_count; i++)
        CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(c->ancestors[i].b, CS_SEAL_CODE_ID_LEN)));
    CS_TRY(cs_cbor_write_cstr(out, "payload"));
    CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(&c->payload)));
    CS_TRY(cs_cbor_write_cstr(out, "migration"));
    CS_TRY(cs_cbor_write_array(out, 5));
    const cs_buf *mig[] = {&c->mig.eph_key, &c->mig.transfer_key, &c->mig.source_eph,
                           &c->mig.package_digest, &c->mig.confirm_tag};
    for (size_t i = 0; i < CS_ARRAY_LEN(mig); i++)
        CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(mig[i])));
    return CONSORT_OK;
}

static consort_err decode_counters(cs_cbor_reader *r, store_content *c)
{
    uint64_t n;
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_SEALSTORE_MAX_COUNTERS, CONSORT_E_MALFORMED, "%llu counters, at most %d",
              (unsigned long long)n, CS_SEALSTORE_MAX_COUNTERS);
    if (n > 0) {
        c->counters = cs_calloc((size_t)n, sizeof *c->counters);
        CS_ENSURE(c->counters != NULL, CONSORT_E_NOMEM, "counters: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t two;
        CS_TRY(cs_cbor_read_array(r, &two));
        CS_ENSURE(two == 2, CONSORT_E_MALFORMED, "counter %zu: %llu items, expected 2", i,
                  (unsigned long long)two);
        store_counter *k = &c->counters[i];
        CS_TRY(cs_cbor_read_cstr(r, k->name, sizeof k->name, "counter name"));
        CS_ENSURE(k->name[0] != '\0' && (i == 0 || strcmp(c->counters[i - 1].name, k->name) < 0),
                  CONSORT_E_MALFORMED, "counter %zu: empty or out of order", i);
        CS_TRY(cs_cbor_read_uint(r, &k->value));
        c->counter_count = i + 1;
    }
    return CONSORT_OK;
}

static consort_err decode_bytes_into(cs_cbor_reader *r, cs_buf *b, const char *what)
{
    cs_slice s;
    CS_TRY(cs_cbor_read_bytes(r, &s));
    CS_ENSURE(s.len <= b->max, CONSORT_E_MALFORMED, "%s: %zu bytes, at most %zu", what, s.len,
              b->max);
    return cs_buf_set(b, s);
}

static consort_err decode_fields(cs_cbor_reader *r, store_content *c)
{
    uint64_t n, state;
    CS_TRY(cs_cbor_read_map(r, &n));
    CS_ENSURE(n == 8, CONSORT_E_MALFORMED, "map of %llu members, expected 8",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_key(r, "instance_id"));
    CS_TRY(cs_cbor_read_bytes_exact(r, c->instance_id, CS_SEALSTORE_ID_LEN, "instance_id"));
    CS_TRY(cs_cbor_read_key(r, "state"));
    CS_TRY(cs_cbor_read_uint(r, &state));
    CS_ENSURE(state >= CS_SEALSTORE_LIVE && state <= CS_SEALSTORE_PENDING, CONSORT_E_MALFORMED,
              "state %llu", (unsigned long long)state);
    c->state = (cs_sealstore_state)state;
    CS_TRY(cs_cbor_read_key(r, "peer"));
    CS_TRY(cs_cbor_read_bytes_exact(r, c->peer_id, CS_SEALSTORE_ID_LEN, "peer"));
    CS_TRY(cs_cbor_read_key(r, "smk"));
    CS_TRY(cs_cbor_read_bytes_exact(r, c->smk, sizeof c->smk, "smk"));
    CS_TRY(cs_cbor_read_key(r, "counters"));
    CS_TRY(decode_counters(r, c));
    CS_TRY(cs_cbor_read_key(r, "ancestors"));
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_SEALSTORE_MAX_ANCESTORS, CONSORT_E_MALFORMED, "%llu ancestors, at most %d",
              (unsigned long long)n, CS_SEALSTORE_MAX_ANCESTORS);
    for (size_t i = 0; i < n; i++)
        CS_TRY(cs_cbor_read_bytes_exact(r, c->ancestors[i].b, CS_SEAL_CODE_ID_LEN, "ancestor"));
    c->ancestor_count = (size_t)n;
    CS_TRY(cs_cbor_read_key(r, "payload"));
    CS_TRY(decode_bytes_into(r, &c->payload, "payload"));
    CS_TRY(cs_cbor_read_key(r, "migration"));
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n == 5, CONSORT_E_MALFORMED, "migration: %llu items, expected 5",
              (unsigned long long)n);
    cs_buf *mig[] = {&c->mig.eph_key, &c->mig.transfer_key, &c->mig.source_eph,
                     &c->mig.package_digest, &c->mig.confirm_tag};
    for (size_t i = 0; i < CS_ARRAY_LEN(mig); i++)
        CS_TRY(decode_bytes_into(r, mig[i], "migration"));
    return cs_cbor_expect_end(r);
}

consort_err store_content_decode(cs_slice in, store_content *c)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    CS_TRY_CTX(decode_fields(&r, c), "store contents");
    return CONSORT_OK;
}
