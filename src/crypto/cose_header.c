/*
 * COSE header maps (RFC 9052 §3): parsing with the per-map and per-message
 * rules, and lookups. Everything borrows from the parsed bytes; nothing
 * allocates.
 */
#include "crypto/cose_priv.h"

#include <inttypes.h>
#include <stdio.h>

void cs_cose_label_str(cs_cose_label label, char *out, size_t n)
{
    if (n == 0)
        return;
    if (!label.is_text) {
        snprintf(out, n, "%" PRId64, label.num);
        return;
    }
    /* at most 32 characters of the text, so a hostile label cannot flood a log */
    char text[33];
    size_t len = label.text.len < 32 ? label.text.len : 32;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = label.text.ptr[i];
        text[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    text[len] = '\0';
    snprintf(out, n, "\"%s\"%s", text, label.text.len > 32 ? "..." : "");
}

static bool label_eq(cs_cose_label a, cs_cose_label b)
{
    if (a.is_text != b.is_text)
        return false;
    return a.is_text ? cs_slice_eq(a.text, b.text) : a.num == b.num;
}

/* RFC 9052 §1.5: label = int / tstr. One decode per label (hot path). */
static consort_err read_label(cs_cbor_reader *r, cs_cose_label *out)
{
    size_t at = r->pos;
    cs_cbor_item it;
    CS_TRY(cs_cbor_next(r, &it));
    switch (it.type) {
    case CS_CBOR_TEXT:
        *out = (cs_cose_label){.is_text = true, .text = it.str};
        return CONSORT_OK;
    case CS_CBOR_UINT:
    case CS_CBOR_NEGINT:
        CS_ENSURE(it.u <= (uint64_t)INT64_MAX, CONSORT_E_MALFORMED,
                  "label at offset %zu out of range", at);
        *out = CS_COSE_LABEL(it.type == CS_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u);
        return CONSORT_OK;
    default:
        return cs_fail(CONSORT_E_MALFORMED,
                       "label at offset %zu is a %s, expected int or tstr (RFC 9052 §1.5)", at,
                       cs_cbor_type_name(it.type));
    }
}

/* crit = [+ label] (RFC 9052 §3.1): non-empty, every element a label. */
static consort_err check_crit_shape(cs_slice value)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, value);
    uint64_t n;
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n >= 1, CONSORT_E_MALFORMED,
              "crit is an empty array; it MUST have at least one value (RFC 9052 §3.1)");
    CS_ENSURE(n <= CS_COSE_MAX_HEADERS, CONSORT_E_TOO_LARGE,
              "crit lists %" PRIu64 " labels, limit %d", n, CS_COSE_MAX_HEADERS);
    for (uint64_t i = 0; i < n; i++) {
        cs_cose_label l;
        CS_TRY(read_label(&r, &l));
    }
    return cs_cbor_expect_end(&r);
}

/* Value types of the common header parameters (RFC 9052 §3.1 Table 3). */
static consort_err check_value_type(cs_cose_label label, cs_slice value)
{
    if (label.is_text || label.num < CS_COSE_HDR_ALG || label.num > CS_COSE_HDR_PARTIAL_IV)
        return CONSORT_OK;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, value);
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(&r, &it));
    bool ok;
    const char *want;
    switch (label.num) {
    case CS_COSE_HDR_ALG:
        ok = it.type == CS_CBOR_UINT || it.type == CS_CBOR_NEGINT || it.type == CS_CBOR_TEXT;
        want = "int or tstr";
        break;
    case CS_COSE_HDR_CRIT:
        CS_TRY_CTX(check_crit_shape(value), "crit (label 2)");
        return CONSORT_OK;
    case CS_COSE_HDR_CTY:
        ok = it.type == CS_CBOR_UINT || it.type == CS_CBOR_TEXT;
        want = "uint or tstr";
        break;
    default: /* kid, IV, Partial IV */
        ok = it.type == CS_CBOR_BYTES;
        want = "bstr";
        break;
    }
    CS_ENSURE(ok, CONSORT_E_MALFORMED,
              "label %" PRId64 " has a %s value, expected %s (RFC 9052 §3.1 Table 3)", label.num,
              cs_cbor_type_name(it.type), want);
    return CONSORT_OK;
}

consort_err cs_cose_headers_read(cs_cbor_reader *r, cs_cose_headers *out)
{
    size_t start = r->pos;
    out->count = 0;
    out->raw = CS_SLICE_EMPTY;
    uint64_t n;
    CS_TRY(cs_cbor_read_map(r, &n));
    CS_ENSURE(n <= CS_COSE_MAX_HEADERS, CONSORT_E_TOO_LARGE, "map of %" PRIu64 " entries, limit %d",
              n, CS_COSE_MAX_HEADERS);
    for (uint64_t i = 0; i < n; i++) {
        cs_cose_header *h = &out->items[out->count];
        CS_TRY(read_label(r, &h->label));
        for (size_t j = 0; j < out->count; j++) {
            if (label_eq(out->items[j].label, h->label)) {
                char l[48];
                cs_cose_label_str(h->label, l, sizeof l);
                /* RFC 9052 §3: "if a label appears multiple times, the
                 * message MUST be rejected as malformed" */
                return cs_fail(CONSORT_E_MALFORMED, "duplicate label %s (RFC 9052 §3)", l);
            }
        }
        CS_TRY(cs_cbor_read_raw(r, &h->value));
        CS_TRY(check_value_type(h->label, h->value));
        out->count++;
    }
    out->raw = (cs_slice){r->in.ptr + start, r->pos - start};
    return CONSORT_OK;
}

consort_err cs_cose_headers_parse(cs_slice map, cs_cose_headers *out)
{
    out->count = 0;
    out->raw = CS_SLICE_EMPTY;
    /* RFC 9052 §3: "Recipients MUST accept both a zero-length byte string
     * and a zero-length map encoded in a byte string." */
    if (map.len == 0)
        return CONSORT_OK;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, map);
    CS_TRY(cs_cose_headers_read(&r, out));
    return cs_cbor_expect_end(&r);
}

const cs_cose_header *cs_cose_headers_lookup(const cs_cose_headers *h, cs_cose_label label)
{
    for (size_t i = 0; i < h->count; i++)
        if (label_eq(h->items[i].label, label))
            return &h->items[i];
    return NULL;
}

consort_err cs_cose_headers_find(const cs_cose_headers *h, cs_cose_label label, cs_slice *raw)
{
    const cs_cose_header *e = cs_cose_headers_lookup(h, label);
    if (e == NULL) {
        char l[48];
        cs_cose_label_str(label, l, sizeof l);
        return cs_fail(CONSORT_E_NOT_FOUND, "COSE header: no label %s", l);
    }
    *raw = e->value;
    return CONSORT_OK;
}

bool cs_cose_headers_has(const cs_cose_headers *h, int64_t label)
{
    return cs_cose_headers_lookup(h, CS_COSE_LABEL(label)) != NULL;
}

consort_err cs_cose_headers_get(const cs_cose_headers *h, int64_t label, cs_slice *raw)
{
    return cs_cose_headers_find(h, CS_COSE_LABEL(label), raw);
}

/* A reader over the value of integer `label` (exactly one CBOR item). */
static consort_err get_item(const cs_cose_headers *h, int64_t label, cs_cbor_reader *r)
{
    cs_slice raw;
    CS_TRY(cs_cose_headers_get(h, label, &raw));
    cs_cbor_reader_init(r, raw);
    return CONSORT_OK;
}

consort_err cs_cose_headers_get_int(const cs_cose_headers *h, int64_t label, int64_t *out)
{
    cs_cbor_reader r;
    CS_TRY(get_item(h, label, &r));
    CS_TRY_CTX(cs_cbor_read_int(&r, out), "COSE header label %" PRId64, label);
    return CONSORT_OK;
}

consort_err cs_cose_headers_get_bytes(const cs_cose_headers *h, int64_t label, cs_slice *out)
{
    cs_cbor_reader r;
    CS_TRY(get_item(h, label, &r));
    CS_TRY_CTX(cs_cbor_read_bytes(&r, out), "COSE header label %" PRId64, label);
    return CONSORT_OK;
}

consort_err cs_cose_headers_get_text(const cs_cose_headers *h, int64_t label, cs_slice *out)
{
    cs_cbor_reader r;
    CS_TRY(get_item(h, label, &r));
    CS_TRY_CTX(cs_cbor_read_text(&r, out), "COSE header label %" PRId64, label);
    return CONSORT_OK;
}

bool cs_cose_crit_lists(const cs_cose_headers *prot, int64_t label)
{
    const cs_cose_header *crit = cs_cose_headers_lookup(prot, CS_COSE_LABEL(CS_COSE_HDR_CRIT));
    if (crit == NULL)
        return false;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, crit->value);
    uint64_t n;
    if (cs_cbor_read_array(&r, &n) != CONSORT_OK)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        cs_cose_label l;
        if (read_label(&r, &l) != CONSORT_OK)
            return false;
        if (!l.is_text && l.num == label)
            return true;
    }
    return false;
}

/* Every label crit lists must be in the protected map (RFC 9052 §3.1). */
static consort_err check_crit_present(const cs_cose_headers *prot, cs_slice crit)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, crit);
    uint64_t n;
    CS_TRY(cs_cbor_read_array(&r, &n));
    for (uint64_t i = 0; i < n; i++) {
        cs_cose_label l;
        CS_TRY(read_label(&r, &l));
        if (cs_cose_headers_lookup(prot, l) == NULL) {
            char s[48];
            cs_cose_label_str(l, s, sizeof s);
            /* RFC 9052 §3.1: "If the 'crit' value list includes a label for
             * which the header parameter is not in the protected-header-
             * parameters bucket, this is a fatal error" */
            return cs_fail(CONSORT_E_MALFORMED,
                           "crit lists label %s, which is not in the protected header "
                           "(RFC 9052 §3.1)",
                           s);
        }
    }
    return CONSORT_OK;
}

consort_err cs_cose_headers_check_pair(const cs_cose_headers *prot, const cs_cose_headers *unprot)
{
    for (size_t i = 0; i < unprot->count; i++) {
        if (cs_cose_headers_lookup(prot, unprot->items[i].label) != NULL) {
            char l[48];
            cs_cose_label_str(unprot->items[i].label, l, sizeof l);
            /* RFC 9052 §3: "Applications SHOULD verify that the same label
             * does not occur in both the protected and unprotected header
             * parameters." consort rejects it, so no attribute is ambiguous. */
            return cs_fail(CONSORT_E_MALFORMED,
                           "label %s is in both the protected and the unprotected header "
                           "(RFC 9052 §3)",
                           l);
        }
    }
    /* RFC 9052 §3.1: "the 'crit' header parameter MUST be placed in the
     * protected-header-parameters bucket" */
    CS_ENSURE(!cs_cose_headers_has(unprot, CS_COSE_HDR_CRIT), CONSORT_E_MALFORMED,
              "crit is in the unprotected header; it must be protected (RFC 9052 §3.1)");
    const cs_cose_header *crit = cs_cose_headers_lookup(prot, CS_COSE_LABEL(CS_COSE_HDR_CRIT));
    if (crit != NULL)
        CS_TRY(check_crit_present(prot, crit->value));
    /* RFC 9052 §3.1: IV and Partial IV "MUST NOT both be present in the same
     * security layer" */
    bool iv =
        cs_cose_headers_has(prot, CS_COSE_HDR_IV) || cs_cose_headers_has(unprot, CS_COSE_HDR_IV);
    bool piv = cs_cose_headers_has(prot, CS_COSE_HDR_PARTIAL_IV) ||
               cs_cose_headers_has(unprot, CS_COSE_HDR_PARTIAL_IV);
    CS_ENSURE(!(iv && piv), CONSORT_E_MALFORMED,
              "both IV and Partial IV are present (RFC 9052 §3.1)");
    return CONSORT_OK;
}
