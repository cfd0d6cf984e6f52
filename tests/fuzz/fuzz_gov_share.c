/*
 * libFuzzer target for recovery shares (src/gov/shares.h): arbitrary bytes
 * are read with cs_gov_share_peek (the public header of an encrypted or a
 * plain share) and strictly decoded with cs_gov_share_decode (a plain share,
 * as a member submits it). A share that decodes must peek to the same
 * header, encode back to exactly its input and be checked against a fixed
 * binding and member; a share that does not decode must leave *out wiped.
 * The input is also cut into consecutive plain shares of the size the first
 * header announces (at most CS_GOV_SHARES_MAX); when they all decode they
 * are combined under the first share's binding, so duplicate indexes or
 * members, mixed wrappings, too few shares and wrong values reach
 * cs_gov_shares_combine, and a secret rebuilt must have the length the
 * shares announce. Nothing may crash, leak or read out of bounds.
 *
 * Seeds: tests/fuzz/corpus/gov_share, written once with
 * cs_gov_shares_split (a 2-of-3 split of a 32-byte secret, service id 5e..5e,
 * epoch 7), cs_gov_share_decrypt and cs_gov_share_encode: the three plain
 * shares, one encrypted share, shares 1+3 and 1+3+2 back to back (they
 * combine), share 2 twice, and broken copies of share 1 (truncated header
 * and value, bad magic, version, threshold and secret length, a trailing
 * byte).
 */
#include "gov/shares.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* Field by field: the structs have padding. */
static bool meta_eq(const cs_gov_share_meta *a, const cs_gov_share_meta *b)
{
    return memcmp(a->binding.service_id, b->binding.service_id, CS_GOV_SHARE_ID_LEN) == 0 &&
           a->binding.epoch == b->binding.epoch &&
           memcmp(a->member_id, b->member_id, CS_GOV_SHARE_ID_LEN) == 0 &&
           a->threshold == b->threshold && a->count == b->count && a->index == b->index &&
           a->secret_len == b->secret_len;
}

/* A decoded share says what its bytes say. */
static void check_decoded(const cs_gov_share *s, const uint8_t *data, size_t size)
{
    const cs_gov_share_meta *m = &s->meta;
    if (size != (size_t)CS_GOV_SHARE_HEADER_LEN + CS_GOV_SHARE_CHECK_LEN + m->secret_len ||
        m->secret_len < CS_GOV_SECRET_MIN || m->secret_len > CS_GOV_SECRET_MAX || m->count < 1 ||
        m->threshold < 1 || m->threshold > m->count || m->index < 1 || m->index > m->count)
        abort();
    cs_gov_share_meta peeked;
    if (cs_gov_share_peek(CS_SLICE(data, size), &peeked) != CONSORT_OK || !meta_eq(&peeked, m))
        abort(); /* peek reads the same header */
    cs_buf wire;
    cs_buf_init_secret(&wire, 0);
    if (cs_gov_share_encode(s, &wire) != CONSORT_OK || wire.len != size ||
        memcmp(wire.ptr, data, size) != 0)
        abort(); /* the format has one encoding per share */
    cs_buf_cleanup(&wire);

    static const cs_gov_share_binding fixed = {.epoch = 7};
    static const uint8_t member[CS_GOV_SHARE_ID_LEN] = {0};
    consort_err rc = cs_gov_share_check(m, &fixed, member);
    if (rc != CONSORT_OK && rc != CONSORT_E_POLICY)
        abort();
}

/* Consecutive plain shares of the first one's size, combined. */
static void combine(const uint8_t *data, size_t size, const cs_gov_share_meta *first)
{
    static cs_gov_share shares[CS_GOV_SHARES_MAX];
    size_t one = (size_t)CS_GOV_SHARE_HEADER_LEN + CS_GOV_SHARE_CHECK_LEN + first->secret_len;
    size_t n = size / one;
    if (size % one != 0 || n < 1 || n > CS_GOV_SHARES_MAX)
        return;
    for (size_t i = 0; i < n; i++)
        if (cs_gov_share_decode(CS_SLICE(data + i * one, one), &shares[i]) != CONSORT_OK)
            return;
    cs_buf secret;
    cs_buf_init_secret(&secret, 0);
    consort_err rc = cs_gov_shares_combine(shares, n, &shares[0].meta.binding, &secret);
    if (rc == CONSORT_OK ? secret.len != first->secret_len || n < first->threshold
                         : secret.len != 0)
        abort();
    cs_buf_cleanup(&secret);
    for (size_t i = 0; i < n; i++)
        cs_gov_share_wipe(&shares[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_gov_share_meta meta;
    consort_err peek_rc = cs_gov_share_peek(CS_SLICE(data, size), &meta);
    if (peek_rc == CONSORT_OK && size < CS_GOV_SHARE_HEADER_LEN)
        abort();

    cs_gov_share share;
    memset(&share, 0xa5, sizeof share);
    if (cs_gov_share_decode(CS_SLICE(data, size), &share) == CONSORT_OK) {
        if (peek_rc != CONSORT_OK)
            abort(); /* a share with a valid header has a valid header */
        check_decoded(&share, data, size);
    } else if (!all_zero(&share, sizeof share)) {
        abort(); /* on failure *out is wiped */
    }
    cs_gov_share_wipe(&share);

    if (peek_rc == CONSORT_OK)
        combine(data, size, &meta);
    return 0;
}
