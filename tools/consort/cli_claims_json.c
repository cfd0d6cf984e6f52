#include "cli_claims_json.h"

#include <stdio.h>

/* Hex string of `s` as a JSON string, or NULL. */
static json_t *hex_value(cs_slice s)
{
    char hex[2 * CS_CLAIM_MAX_BYTES + 1];
    if (s.len > CS_CLAIM_MAX_BYTES)
        return NULL;
    cs_hex_encode(s, hex);
    return json_string(hex);
}

static const char *kind_name(cs_claim_kind k)
{
    switch (k) {
    case CS_CLAIM_HEX:
        return "hex";
    case CS_CLAIM_U64:
        return "u64";
    case CS_CLAIM_BOOL:
        return "bool";
    default:
        return "string";
    }
}

/* JSON numbers above 2^53 lose precision in most readers: those are given as text. */
static json_t *u64_value(uint64_t v)
{
    if (v > (1ull << 53))
        return json_sprintf("%llu", (unsigned long long)v);
    return json_integer((json_int_t)v);
}

static json_t *claim_value(const cs_claim *cl)
{
    switch (cl->kind) {
    case CS_CLAIM_HEX:
        return hex_value(CS_SLICE(cl->bytes, cl->len));
    case CS_CLAIM_U64:
        return u64_value(cl->u64);
    case CS_CLAIM_BOOL:
        return json_boolean(cl->u64 != 0);
    default:
        return json_string(cl->str);
    }
}

/* json_object_set_new, reporting failure (a NULL value included). */
static bool set(json_t *obj, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(obj, key, value) == 0;
}

static bool fill(json_t *root, const cs_claims *c)
{
    bool ok = set(root, "platform", json_string(cs_platform_name(c->platform))) &&
              set(root, "code_id", hex_value(CS_SLICE(c->code_id, sizeof c->code_id))) &&
              set(root, "signer", hex_value(CS_SLICE(c->signer, c->signer_len))) &&
              set(root, "security_version", u64_value(c->security_version)) &&
              set(root, "debug", json_boolean(c->debug)) &&
              set(root, "report_data", hex_value(CS_SLICE(c->report_data, 64))) &&
              set(root, "tcb_status", json_string(c->tcb_status));
    json_t *advisories = json_array();
    if (!ok || !set(root, "advisories", advisories))
        return false;
    for (size_t i = 0; i < c->advisory_count; i++)
        if (json_array_append_new(advisories, json_string(c->advisories[i])) != 0)
            return false;
    json_t *extra = json_object();
    if (!set(root, "extra", extra))
        return false;
    for (size_t i = 0; i < c->extra_count; i++) {
        const cs_claim *cl = &c->extra[i];
        json_t *item = json_object();
        if (!set(extra, cl->name, item) || !set(item, "kind", json_string(kind_name(cl->kind))) ||
            !set(item, "value", claim_value(cl)))
            return false;
    }
    return true;
}

consort_err cs_cli_claims_to_json(const cs_claims *claims, json_t **out)
{
    json_t *root = json_object();
    if (root == NULL || !fill(root, claims)) {
        json_decref(root);
        return cs_fail(CONSORT_E_NOMEM, "claims: cannot build JSON");
    }
    *out = root;
    return CONSORT_OK;
}

consort_err cs_cli_claims_print(const cs_claims *claims, FILE *out)
{
    json_t *j;
    CS_TRY(cs_cli_claims_to_json(claims, &j));
    int rc = json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    CS_ENSURE(rc == 0 && fputc('\n', out) != EOF, CONSORT_E_IO, "claims: cannot write JSON");
    return CONSORT_OK;
}
