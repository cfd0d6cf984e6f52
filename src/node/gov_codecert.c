/* Code certificates in governance (gov_codecert.h). */
#include "node/gov_codecert.h"

#include "base/alloc.h"
#include "crypto/b64.h"
#include "node/service_maps.h"
#include "supply/codecert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISSUER_PEM_MAX ((size_t)64 << 10)

/* The policy as stored (*out NULL if none; json_decref it). */
static consort_err policy_load(cs_slice v, bool found, json_t **out)
{
    *out = NULL;
    if (!found)
        return CONSORT_OK;
    *out = json_loadb((const char *)v.ptr, v.len, 0, NULL);
    CS_ENSURE(*out != NULL && json_is_array(json_object_get(*out, "issuers")) &&
                  json_is_array(json_object_get(*out, "claims")),
              CONSORT_E_CORRUPT, "the code certificate policy does not parse");
    return CONSORT_OK;
}

static consort_err policy_staged(gov_stage *st, json_t **out)
{
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_CODE_CERT_POLICY, SVC_CODE_CERT_POLICY_KEY, &v, &found));
    return policy_load(v, found, out);
}

static consort_err policy_committed(cs_kv_tx *tx, json_t **out)
{
    cs_slice v;
    bool found = false;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CODE_CERT_POLICY),
                     CS_SLICE_LIT(SVC_CODE_CERT_POLICY_KEY), &v, &found));
    return policy_load(v, found, out);
}

/* What a certificate that meets `policy` says about code id `id` (64 hex). */
static consort_err check_against(const json_t *policy, cs_slice cert, const char *id,
                                 cs_codecert *out)
{
    const json_t *issuers = json_object_get(policy, "issuers");
    consort_err rc = CONSORT_E_POLICY;
    char why[CS_ERRMSG_MAX] = "no issuer";
    for (size_t i = 0; i < json_array_size(issuers) && rc != CONSORT_OK; i++) {
        cs_x509 *issuer = NULL;
        rc = cs_x509_from_pem(cs_slice_str(json_string_value(json_array_get(issuers, i))), &issuer);
        if (rc == CONSORT_OK)
            rc = cs_codecert_verify(cert, issuer, out);
        cs_x509_free(issuer);
        if (rc != CONSORT_OK)
            snprintf(why, sizeof why, "%s", consort_errmsg());
    }
    CS_ENSURE(rc == CONSORT_OK, CONSORT_E_POLICY,
              "the code certificate is not by an issuer the policy names (%s)", why);
    char hex[65];
    cs_hex_encode(CS_SLICE(out->code_id, 32), hex);
    CS_ENSURE(strcmp(hex, id) == 0, CONSORT_E_POLICY,
              "the code certificate is for code id %.16s..., not %.16s...", hex, id);
    const json_t *claims = json_object_get(policy, "claims");
    for (size_t i = 0; i < json_array_size(claims); i++)
        CS_TRY_CTX(cs_codecert_require(out, json_string_value(json_array_get(claims, i))),
                   "the code certificate for %.16s... does not meet the policy", id);
    return CONSORT_OK;
}

/* The certificate argument, decoded from base64. */
static consort_err cert_arg(json_t *args, cs_buf *der, bool *given)
{
    const char *b64;
    CS_TRY(gov_arg_str(args, "certificate", false, &b64));
    *given = b64 != NULL;
    if (b64 == NULL)
        return CONSORT_OK;
    CS_ENSURE(strlen(b64) <= cs_b64_encoded_len(CS_CODECERT_MAX), CONSORT_E_INVALID_ARGUMENT,
              "argument \"certificate\": over %zu bytes", CS_CODECERT_MAX);
    CS_TRY_CTX(cs_b64_decode(cs_slice_str(b64), der), "argument \"certificate\" (base64)");
    return CONSORT_OK;
}

/* The transparency log's entry for a certificate accepted in this proposal. */
static consort_err entry(const cs_codecert *c, cs_slice cert, const char *proposal_id,
                         uint64_t seqno, char **out)
{
    char issuer[65], artifact[65];
    cs_hex_encode(CS_SLICE(c->issuer_fingerprint, 32), issuer);
    cs_hex_encode(CS_SLICE(c->artifact_sha256, 32), artifact);
    cs_buf b64;
    cs_buf_init(&b64, cs_b64_encoded_len(CS_CODECERT_MAX) + 1);
    consort_err rc = cs_b64_encode(cert, &b64);
    json_t *claims = json_object();
    for (size_t i = 0; claims != NULL && i < c->n_claims; i++)
        if (json_object_set_new(claims, c->claims[i].name, json_string(c->claims[i].value)) != 0)
            rc = cs_fail(CONSORT_E_NOMEM, "code certificate entry");
    json_t *doc = NULL;
    if (rc == CONSORT_OK && claims != NULL)
        doc = json_pack("{s:s%, s:s, s:s, s:s, s:O, s:s, s:I}", "certificate", (char *)b64.ptr,
                        b64.len, "issuer_sha256", issuer, "artifact_path", c->artifact_path,
                        "artifact_sha256", artifact, "claims", claims, "proposal_id",
                        proposal_id != NULL ? proposal_id : "", "seqno", (json_int_t)seqno);
    *out = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (rc == CONSORT_OK && *out == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "code certificate entry");
    json_decref(doc);
    json_decref(claims);
    cs_buf_cleanup(&b64);
    return rc;
}

consort_err gov_codecert_add(gov_stage *st, json_t *args, const char *id, const char *proposal_id)
{
    cs_buf der;
    cs_buf_init(&der, CS_CODECERT_MAX);
    bool given = false;
    json_t *policy = NULL;
    cs_codecert *c = NULL;
    char *text = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, cert_arg(args, &der, &given), out);
    CS_TRY_GOTO(rc, policy_staged(st, &policy), out);
    if (!given) {
        CS_ENSURE_GOTO(rc, policy == NULL, out, CONSORT_E_POLICY,
                       "the service's code certificate policy requires a code certificate for "
                       "code id %.16s... (argument \"certificate\")",
                       id);
        goto out; /* no policy, no certificate: nothing to do */
    }
    c = cs_calloc(1, sizeof *c);
    CS_ENSURE_GOTO(rc, c != NULL, out, CONSORT_E_NOMEM, "code certificate");
    if (policy != NULL) {
        CS_TRY_GOTO(rc, check_against(policy, cs_buf_slice(&der), id, c), out);
    } else { /* logged all the same; its issuer is the members' to judge (and a policy's) */
        CS_TRY_GOTO(rc, cs_codecert_verify_self(cs_buf_slice(&der), c), out);
        char hex[65];
        cs_hex_encode(CS_SLICE(c->code_id, 32), hex);
        CS_ENSURE_GOTO(rc, strcmp(hex, id) == 0, out, CONSORT_E_POLICY,
                       "the code certificate is for code id %.16s..., not %.16s...", hex, id);
    }
    CS_TRY_GOTO(rc,
                entry(c, cs_buf_slice(&der), proposal_id, cs_kv_tx_store_seqno(st->tx) + 1, &text),
                out);
    rc = gov_stage_put(st, SVC_MAP_CODE_CERTS, id, cs_slice_str(text));
out:
    free(text);
    cs_free(c);
    json_decref(policy);
    cs_buf_cleanup(&der);
    return rc;
}

/* The PEM issuers argument, each parsed; the claims, each well formed. */
static consort_err policy_args(json_t *args, json_t **issuers, json_t **claims)
{
    *issuers = json_object_get(args, "issuers");
    *claims = json_object_get(args, "claims");
    CS_ENSURE(json_is_array(*issuers) && json_array_size(*issuers) <= GOV_CODECERT_MAX_ISSUERS,
              CONSORT_E_INVALID_ARGUMENT,
              "argument \"issuers\" must be an array of at most %d certificates (PEM)",
              GOV_CODECERT_MAX_ISSUERS);
    CS_ENSURE(*claims == NULL ||
                  (json_is_array(*claims) && json_array_size(*claims) <= GOV_CODECERT_MAX_CLAIMS),
              CONSORT_E_INVALID_ARGUMENT, "argument \"claims\" must be an array of at most %d",
              GOV_CODECERT_MAX_CLAIMS);
    for (size_t i = 0; i < json_array_size(*issuers); i++) {
        const char *pem = json_string_value(json_array_get(*issuers, i));
        CS_ENSURE(pem != NULL && strlen(pem) <= ISSUER_PEM_MAX, CONSORT_E_INVALID_ARGUMENT,
                  "argument \"issuers\"[%zu]: not a certificate (PEM)", i);
        cs_x509 *cert = NULL;
        CS_TRY_CTX(cs_x509_from_pem(cs_slice_str(pem), &cert), "argument \"issuers\"[%zu]", i);
        cs_x509_free(cert);
    }
    for (size_t i = 0; i < json_array_size(*claims); i++) {
        const char *claim = json_string_value(json_array_get(*claims, i));
        CS_ENSURE(claim != NULL && claim[0] != '\0' && claim[0] != '=' &&
                      strlen(claim) <= CS_CODECERT_MAX_CLAIM,
                  CONSORT_E_INVALID_ARGUMENT,
                  "argument \"claims\"[%zu]: expected NAME or NAME=VALUE", i);
    }
    return CONSORT_OK;
}

typedef struct trusted_ctx {
    gov_stage *st;
    const json_t *policy;
    consort_err rc;
} trusted_ctx;

/* Every trusted code id has a certificate that meets the new policy. */
static bool trusted_cb(void *ctx, cs_slice key, cs_slice value)
{
    trusted_ctx *t = ctx;
    if (!cs_slice_eq(value, CS_SLICE_LIT(SVC_CODE_ID_OK)) || key.len != 64)
        return true;
    char id[65];
    memcpy(id, key.ptr, 64);
    id[64] = '\0';
    cs_slice v;
    bool found = false;
    t->rc = gov_stage_get(t->st, SVC_MAP_CODE_CERTS, id, &v, &found);
    if (t->rc != CONSORT_OK)
        return false;
    json_t *e = found ? json_loadb((const char *)v.ptr, v.len, 0, NULL) : NULL;
    const char *b64 = json_string_value(json_object_get(e, "certificate"));
    cs_buf der;
    cs_buf_init(&der, CS_CODECERT_MAX);
    cs_codecert *c = cs_calloc(1, sizeof *c);
    if (b64 == NULL)
        t->rc = cs_fail(CONSORT_E_POLICY, "trusted code id %.16s... has no code certificate", id);
    else if (c == NULL)
        t->rc = cs_fail(CONSORT_E_NOMEM, "code certificate");
    else if ((t->rc = cs_b64_decode(cs_slice_str(b64), &der)) == CONSORT_OK)
        t->rc = check_against(t->policy, cs_buf_slice(&der), id, c);
    cs_free(c);
    cs_buf_cleanup(&der);
    json_decref(e);
    return t->rc == CONSORT_OK;
}

consort_err gov_codecert_set_policy(gov_stage *st, json_t *args)
{
    json_t *issuers, *claims;
    CS_TRY(policy_args(args, &issuers, &claims));
    if (json_array_size(issuers) == 0) {
        CS_ENSURE(json_array_size(claims) == 0, CONSORT_E_INVALID_ARGUMENT,
                  "claims without issuers: give \"issuers\", or neither to remove the policy");
        return gov_stage_remove(st, SVC_MAP_CODE_CERT_POLICY, SVC_CODE_CERT_POLICY_KEY);
    }
    json_t *policy = json_pack("{s:O, s:O}", "issuers", issuers, "claims",
                               claims != NULL ? claims : json_array());
    CS_ENSURE(policy != NULL, CONSORT_E_NOMEM, "code certificate policy");
    trusted_ctx t = {.st = st, .policy = policy, .rc = CONSORT_OK};
    consort_err rc = gov_stage_each(st, SVC_MAP_CODE_IDS, trusted_cb, &t);
    if (rc == CONSORT_OK && t.rc != CONSORT_OK)
        rc = cs_err_context(t.rc, "the policy cannot be set while a trusted code id does not "
                                  "meet it (add_code_id with a certificate first, or retire it)");
    char *text = rc == CONSORT_OK ? json_dumps(policy, JSON_COMPACT) : NULL;
    if (rc == CONSORT_OK)
        rc = text != NULL ? gov_stage_put(st, SVC_MAP_CODE_CERT_POLICY, SVC_CODE_CERT_POLICY_KEY,
                                          cs_slice_str(text))
                          : cs_fail(CONSORT_E_NOMEM, "code certificate policy");
    free(text);
    json_decref(policy);
    return rc;
}

consort_err gov_codecert_precheck(cs_kv_tx *tx, const json_t *proposal)
{
    const json_t *actions = json_object_get(proposal, "actions");
    for (size_t i = 0; i < json_array_size(actions); i++) {
        const json_t *a = json_array_get(actions, i);
        const char *name = json_string_value(json_object_get(a, "name"));
        json_t *args = json_object_get(a, "args");
        if (name == NULL || strcmp(name, "add_code_id") != 0 || !json_is_object(args))
            continue;
        char id[65];
        if (gov_arg_hex_id(args, "code_id", true, id) != CONSORT_OK) {
            cs_err_clear(); /* the action itself names a bad code id when applied */
            continue;
        }
        gov_stage st;
        gov_stage_init(&st, tx); /* read only: nothing is flushed */
        consort_err rc = gov_codecert_add(&st, args, id, NULL);
        gov_stage_cleanup(&st);
        CS_TRY_CTX(rc, "action %zu (add_code_id)", i + 1);
    }
    return CONSORT_OK;
}

bool gov_codecert_admits(cs_kv_tx *tx, const char *code_hex)
{
    json_t *policy = NULL;
    if (policy_committed(tx, &policy) != CONSORT_OK) {
        cs_err_clear();
        return false; /* fail closed */
    }
    if (policy == NULL)
        return true;
    json_decref(policy);
    cs_slice v;
    bool found = false;
    if (cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CODE_CERTS), cs_slice_str(code_hex), &v, &found) !=
        CONSORT_OK)
        cs_err_clear();
    return found;
}

typedef struct list_ctx {
    json_t *arr;
    consort_err rc;
    uint64_t (*term_of)(void *ctx, uint64_t seqno);
    void *ctx;
} list_ctx;

static bool list_cb(void *ctx, cs_slice key, cs_slice value)
{
    list_ctx *l = ctx;
    json_t *e = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    bool parsed = e != NULL;
    if (e == NULL ||
        json_object_set_new(e, "code_id", json_stringn((const char *)key.ptr, key.len)) != 0 ||
        json_array_append(l->arr, e) != 0) {
        json_decref(e);
        l->rc = !parsed ? cs_fail(CONSORT_E_CORRUPT, "a code certificate entry does not parse")
                        : cs_fail(CONSORT_E_NOMEM, "transparency list");
        return false;
    }
    json_int_t seqno = json_integer_value(json_object_get(e, "seqno"));
    uint64_t term = seqno > 0 ? l->term_of(l->ctx, (uint64_t)seqno) : 0;
    if (term > 0) {
        char txid[48];
        snprintf(txid, sizeof txid, "%llu.%llu", (unsigned long long)term,
                 (unsigned long long)seqno);
        if (json_object_set_new(e, "transaction_id", json_string(txid)) != 0)
            l->rc = cs_fail(CONSORT_E_NOMEM, "transparency list");
    }
    json_decref(e);
    return l->rc == CONSORT_OK;
}

consort_err gov_codecert_transparency_json(cs_kv_tx *tx,
                                           uint64_t (*term_of)(void *ctx, uint64_t seqno),
                                           void *ctx, cs_buf *out)
{
    json_t *policy = NULL;
    CS_TRY(policy_committed(tx, &policy));
    list_ctx l = {.arr = json_array(), .rc = CONSORT_OK, .term_of = term_of, .ctx = ctx};
    consort_err rc = l.arr != NULL
                         ? cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_CODE_CERTS), list_cb, &l)
                         : cs_fail(CONSORT_E_NOMEM, "transparency list");
    if (rc == CONSORT_OK)
        rc = l.rc;
    json_t *doc = rc == CONSORT_OK
                      ? json_pack("{s:o, s:o}", "policy", policy != NULL ? policy : json_null(),
                                  "certificates", l.arr)
                      : NULL;
    if (doc == NULL) {
        json_decref(policy);
        json_decref(l.arr);
        return rc != CONSORT_OK ? rc : cs_fail(CONSORT_E_NOMEM, "transparency list");
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "transparency list");
    rc = cs_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}
