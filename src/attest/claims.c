/*
 * Claims: what a verifier established about genuine evidence (evidence.h).
 * Fixed-size storage only, so claims can be copied and compared freely and a
 * verifier never allocates for them. Every string stored is printable ASCII
 * (values may come from evidence, and they end up on terminals and in JSON).
 */
#include "attest/evidence.h"

#include <string.h>

void cs_claims_init(cs_claims *c, cs_platform p)
{
    memset(c, 0, sizeof *c);
    c->platform = p;
}

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/*
 * The extra claim named `name` (`len` bytes, 1..31), or NULL. A verifier adds
 * up to CS_CLAIMS_MAX_EXTRA claims and each add looks for its name first, so
 * a verification makes about n^2/2 name comparisons: this one rejects a claim on
 * three bytes (the terminator at `len`, the first and the last byte) before
 * comparing the whole name. Names built from a common prefix ("pcr_sha256_7")
 * differ in their last byte, so the full comparison runs almost only for the
 * claim that matches.
 */
static const cs_claim *find_extra(const cs_claims *c, const char *name, size_t len)
{
    if (len == 0 || len >= sizeof c->extra[0].name)
        return NULL; /* no stored name has that length */
    for (size_t i = 0; i < c->extra_count; i++) {
        const char *have = c->extra[i].name;
        if (have[len] == '\0' && have[0] == name[0] && have[len - 1] == name[len - 1] &&
            memcmp(have, name, len) == 0)
            return &c->extra[i];
    }
    return NULL;
}

/* Reserves the next extra claim named `name` (unique, at most 31 bytes). */
static consort_err add_extra(cs_claims *c, const char *name, cs_claim_kind kind, cs_claim **out)
{
    size_t len = strlen(name);
    CS_ENSURE(len > 0 && len < sizeof c->extra[0].name && printable(name, len),
              CONSORT_E_INVALID_ARGUMENT, "claims: invalid claim name '%.40s'", name);
    CS_ENSURE(find_extra(c, name, len) == NULL, CONSORT_E_INVALID_ARGUMENT,
              "claims: claim '%s' given twice", name);
    CS_ENSURE(c->extra_count < CS_CLAIMS_MAX_EXTRA, CONSORT_E_TOO_LARGE,
              "claims: more than %d extra claims (adding '%s')", CS_CLAIMS_MAX_EXTRA, name);
    cs_claim *cl = &c->extra[c->extra_count];
    memset(cl, 0, sizeof *cl);
    memcpy(cl->name, name, len + 1);
    cl->kind = kind;
    c->extra_count++;
    *out = cl;
    return CONSORT_OK;
}

consort_err cs_claims_add_hex(cs_claims *c, const char *name, cs_slice bytes)
{
    CS_ENSURE(bytes.len <= CS_CLAIM_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "claims: claim '%s' of %zu bytes exceeds %d", name, bytes.len, CS_CLAIM_MAX_BYTES);
    cs_claim *cl;
    CS_TRY(add_extra(c, name, CS_CLAIM_HEX, &cl));
    if (bytes.len > 0)
        memcpy(cl->bytes, bytes.ptr, bytes.len);
    cl->len = bytes.len;
    return CONSORT_OK;
}

consort_err cs_claims_add_u64(cs_claims *c, const char *name, uint64_t v)
{
    cs_claim *cl;
    CS_TRY(add_extra(c, name, CS_CLAIM_U64, &cl));
    cl->u64 = v;
    return CONSORT_OK;
}

consort_err cs_claims_add_bool(cs_claims *c, const char *name, bool v)
{
    cs_claim *cl;
    CS_TRY(add_extra(c, name, CS_CLAIM_BOOL, &cl));
    cl->u64 = v ? 1 : 0;
    return CONSORT_OK;
}

consort_err cs_claims_add_string(cs_claims *c, const char *name, const char *v)
{
    size_t len = strlen(v);
    CS_ENSURE(len < sizeof c->extra[0].str, CONSORT_E_TOO_LARGE,
              "claims: claim '%s' text of %zu bytes exceeds %zu", name, len,
              sizeof c->extra[0].str - 1);
    CS_ENSURE(printable(v, len), CONSORT_E_MALFORMED,
              "claims: claim '%s' text is not printable ASCII", name);
    cs_claim *cl;
    CS_TRY(add_extra(c, name, CS_CLAIM_STRING, &cl));
    memcpy(cl->str, v, len + 1);
    return CONSORT_OK;
}

/* Adds an advisory id once (a repeated id is not an error and not stored twice). */
consort_err cs_claims_add_advisory(cs_claims *c, const char *id)
{
    size_t len = strlen(id);
    CS_ENSURE(len > 0 && len < sizeof c->advisories[0], CONSORT_E_TOO_LARGE,
              "claims: advisory id of %zu bytes, expected 1..%zu", len,
              sizeof c->advisories[0] - 1);
    CS_ENSURE(printable(id, len), CONSORT_E_MALFORMED,
              "claims: advisory id is not printable ASCII");
    for (size_t i = 0; i < c->advisory_count; i++)
        if (strcmp(c->advisories[i], id) == 0)
            return CONSORT_OK;
    CS_ENSURE(c->advisory_count < CS_CLAIMS_MAX_ADVISORIES, CONSORT_E_TOO_LARGE,
              "claims: more than %d advisories (adding %s)", CS_CLAIMS_MAX_ADVISORIES, id);
    memcpy(c->advisories[c->advisory_count], id, len + 1);
    c->advisory_count++;
    return CONSORT_OK;
}

const cs_claim *cs_claims_find(const cs_claims *c, const char *name)
{
    return find_extra(c, name, strlen(name));
}
