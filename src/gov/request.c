/*
 * Signed governance requests: decode, verify, replay history, proposal ids,
 * signing (request.h; the format is docs/governance.md "Signed requests").
 */
#include "gov/request.h"

#include "base/cbor.h"
#include "crypto/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GR "governance request: "

static const char *const type_names[] = {NULL, "proposal", "ballot", "withdrawal",
                                         "recovery_share"};

const char *cs_gov_msg_type_name(cs_gov_msg_type type)
{
    if (type < CS_GOV_MSG_PROPOSAL || type > CS_GOV_MSG_RECOVERY_SHARE)
        return "unknown";
    return type_names[type];
}

static bool needs_proposal_id(cs_gov_msg_type type)
{
    return type == CS_GOV_MSG_BALLOT || type == CS_GOV_MSG_WITHDRAWAL;
}

static cs_cose_label text_label(const char *s)
{
    return (cs_cose_label){.is_text = true, .text = cs_slice_str(s)};
}

/* Exactly 64 lower-case hex digits (a member or proposal id). */
static bool is_hex_id(cs_slice s)
{
    if (s.len != CS_GOV_ID_HEX_LEN)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t ch = s.ptr[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    return true;
}

/* Untrusted text for a message: at most 32 printable characters. */
static void printable(cs_slice s, char out[40])
{
    size_t n = s.len < 32 ? s.len : 32;
    for (size_t i = 0; i < n; i++)
        out[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? (char)s.ptr[i] : '?';
    strcpy(out + n, s.len > 32 ? "..." : "");
}

static void put_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* ---- ids ---- */

consort_err cs_gov_member_id(const cs_x509 *cert, char out[CS_GOV_ID_HEX_LEN + 1])
{
    uint8_t fp[CS_SHA256_LEN];
    CS_TRY_CTX(cs_x509_fingerprint(cert, fp), "member id");
    cs_hex_encode(CS_SLICE(fp, sizeof fp), out);
    return CONSORT_OK;
}

void cs_gov_proposal_id(uint64_t seqno, cs_slice signature, char out[CS_GOV_ID_HEX_LEN + 1])
{
    uint8_t be[8], digest[CS_SHA256_LEN];
    put_be64(be, seqno);
    const cs_slice parts[2] = {CS_SLICE(be, sizeof be), signature};
    cs_sha256_parts(parts, 2, digest);
    cs_hex_encode(CS_SLICE(digest, sizeof digest), out);
}

/* ---- decode ---- */

/* Only alg, kid and the three consort parameters may be protected. */
static consort_err check_labels(const cs_cose_headers *h)
{
    static const char *const known[] = {CS_GOV_HDR_MSG_TYPE, CS_GOV_HDR_CREATED_AT,
                                        CS_GOV_HDR_PROPOSAL_ID};
    for (size_t i = 0; i < h->count; i++) {
        cs_cose_label l = h->items[i].label;
        bool ok = !l.is_text && (l.num == CS_COSE_HDR_ALG || l.num == CS_COSE_HDR_KID);
        for (size_t k = 0; l.is_text && !ok && k < CS_ARRAY_LEN(known); k++)
            ok = cs_slice_eq(l.text, cs_slice_str(known[k]));
        if (ok)
            continue;
        char name[40];
        if (l.is_text)
            printable(l.text, name);
        else
            snprintf(name, sizeof name, "%" PRId64, l.num);
        return cs_fail(CONSORT_E_MALFORMED, GR "unexpected protected header parameter %s%s%s",
                       l.is_text ? "\"" : "", name, l.is_text ? "\"" : "");
    }
    return CONSORT_OK;
}

/*
 * Reads the protected text label `name` (a uint if `out_uint`, else a tstr
 * into `out_text`). Absent: MALFORMED unless `found` is given (optional).
 * A header value is exactly one item (checked by the COSE parser).
 */
static consort_err read_param(const cs_cose_headers *h, const char *name, bool *found,
                              cs_slice *out_text, uint64_t *out_uint)
{
    cs_slice raw;
    bool present = cs_cose_headers_find(h, text_label(name), &raw) == CONSORT_OK;
    cs_err_clear(); /* NOT_FOUND's message; ours follows */
    if (found != NULL)
        *found = present;
    CS_ENSURE(present || found != NULL, CONSORT_E_MALFORMED,
              GR "%s missing from the protected header", name);
    if (!present)
        return CONSORT_OK;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    CS_TRY_CTX(out_uint != NULL ? cs_cbor_read_uint(&r, out_uint) : cs_cbor_read_text(&r, out_text),
               GR "%s", name);
    return CONSORT_OK;
}

static consort_err check_type_fields(const cs_gov_request *req)
{
    const char *name = cs_gov_msg_type_name(req->type);
    if (needs_proposal_id(req->type))
        CS_ENSURE(req->has_proposal_id, CONSORT_E_MALFORMED,
                  GR "a %s needs " CS_GOV_HDR_PROPOSAL_ID " in the protected header", name);
    else
        CS_ENSURE(!req->has_proposal_id, CONSORT_E_MALFORMED,
                  GR "a %s must not carry " CS_GOV_HDR_PROPOSAL_ID, name);
    return CONSORT_OK;
}

consort_err cs_gov_request_decode(cs_slice bytes, cs_gov_request *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(bytes.len <= CS_GOV_REQUEST_MAX, CONSORT_E_TOO_LARGE, GR "%zu bytes, limit %zu",
              bytes.len, (size_t)CS_GOV_REQUEST_MAX);
    cs_cose_sign1 *m = &out->cose;
    CS_TRY_CTX(cs_cose_sign1_decode(bytes, m), GR "COSE_Sign1");
    CS_ENSURE(m->tagged, CONSORT_E_MALFORMED,
              GR "COSE_Sign1 without tag 18; COSE_Sign1_Tagged is required");
    CS_ENSURE(!m->detached, CONSORT_E_MALFORMED,
              GR "payload is detached (nil); it must be attached");
    CS_ENSURE(m->unprotected_hdr.count == 0, CONSORT_E_MALFORMED,
              GR "unprotected header has %zu entries; it must be empty", m->unprotected_hdr.count);
    CS_TRY_CTX(cs_cose_sign1_alg(m, &out->alg), GR "alg");
    CS_ENSURE(out->alg == CS_COSE_ES256 || out->alg == CS_COSE_ES384, CONSORT_E_UNSUPPORTED,
              GR "alg %d (%s) unsupported, expected -7 (ES256) or -35 (ES384)", (int)out->alg,
              cs_cose_alg_name(out->alg));
    const cs_cose_headers *h = &m->protected_hdr;
    CS_TRY(check_labels(h));

    cs_slice kid;
    consort_err rc = cs_cose_headers_get_bytes(h, CS_COSE_HDR_KID, &kid);
    CS_ENSURE(rc != CONSORT_E_NOT_FOUND, CONSORT_E_MALFORMED,
              GR "kid (label 4) missing from the protected header");
    CS_TRY_CTX(rc, GR "kid");
    CS_ENSURE(is_hex_id(kid), CONSORT_E_MALFORMED,
              GR "kid is %zu bytes, expected a member id (64 lower-case hex characters)", kid.len);
    memcpy(out->member_id, kid.ptr, CS_GOV_ID_HEX_LEN);

    cs_slice type, pid;
    CS_TRY(read_param(h, CS_GOV_HDR_MSG_TYPE, NULL, &type, NULL));
    for (int t = CS_GOV_MSG_PROPOSAL; t <= CS_GOV_MSG_RECOVERY_SHARE; t++)
        if (cs_slice_eq(type, cs_slice_str(type_names[t])))
            out->type = (cs_gov_msg_type)t;
    if (out->type == 0) {
        char shown[40];
        printable(type, shown);
        return cs_fail(CONSORT_E_MALFORMED,
                       GR CS_GOV_HDR_MSG_TYPE " \"%s\" unknown, expected \"proposal\", "
                                              "\"ballot\", \"withdrawal\" or \"recovery_share\"",
                       shown);
    }

    CS_TRY(read_param(h, CS_GOV_HDR_CREATED_AT, NULL, NULL, &out->created_at));
    CS_TRY(read_param(h, CS_GOV_HDR_PROPOSAL_ID, &out->has_proposal_id, &pid, NULL));
    if (out->has_proposal_id) {
        CS_ENSURE(is_hex_id(pid), CONSORT_E_MALFORMED,
                  GR CS_GOV_HDR_PROPOSAL_ID " is %zu bytes, expected 64 lower-case hex characters",
                  pid.len);
        memcpy(out->proposal_id, pid.ptr, CS_GOV_ID_HEX_LEN);
    }
    CS_TRY(check_type_fields(out));
    out->bytes = bytes;
    out->payload = m->payload;
    return CONSORT_OK;
}

/* ---- verify ---- */

/* Seconds since the epoch and RFC 3339, e.g. "1700000000 (2023-11-14T22:13:20Z)". */
static void show_time(uint64_t t, char out[48])
{
    char iso[21];
    cs_time_format_rfc3339(t > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t, iso);
    snprintf(out, 48, "%" PRIu64 " (%s)", t, iso);
}

static consort_err check_window(uint64_t created_at, uint64_t now, uint64_t window_s)
{
    bool stale = created_at < now && now - created_at > window_s;
    bool future = created_at > now && created_at - now > window_s;
    if (!stale && !future)
        return CONSORT_OK;
    char c[48], n[48];
    show_time(created_at, c);
    show_time(now, n);
    return cs_fail(
        CONSORT_E_EXPIRED,
        GR "%s: created_at %s is %" PRIu64 " s %s now %s, outside the window of %" PRIu64 " s",
        stale ? "stale" : "from the future", c, stale ? now - created_at : created_at - now,
        stale ? "before" : "after", n, window_s);
}

consort_err cs_gov_request_verify(const cs_gov_request *req, cs_gov_member_lookup_cb lookup,
                                  void *lookup_ctx, int64_t now, uint64_t window_s,
                                  char member_id[CS_GOV_ID_HEX_LEN + 1])
{
    CS_ENSURE(now >= 0 && lookup != NULL, CONSORT_E_INVALID_ARGUMENT,
              GR "verify: now %" PRId64 " negative or no member lookup", now);
    CS_TRY(check_type_fields(req));
    cs_x509 *cert = NULL;
    cs_key *key = NULL;
    consort_err rc = lookup(lookup_ctx, req->member_id, &cert);
    if (rc == CONSORT_E_NOT_FOUND)
        return cs_fail(CONSORT_E_POLICY, GR "signer %s is not a member", req->member_id);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, GR "looking up member %s", req->member_id);

    char id[CS_GOV_ID_HEX_LEN + 1];
    CS_TRY_GOTO(rc, cs_gov_member_id(cert, id), done);
    CS_ENSURE_GOTO(rc, strcmp(id, req->member_id) == 0, done, CONSORT_E_BAD_CERTIFICATE,
                   GR "the certificate found for member %s has id %s", req->member_id, id);
    CS_TRY_GOTO(rc, cs_x509_public_key(cert, &key), done);
    /* one curve per alg: ES256 with P-256, ES384 with P-384 (RFC 9053 §2.1) */
    cs_curve want = req->alg == CS_COSE_ES256 ? CS_CURVE_P256 : CS_CURVE_P384;
    CS_ENSURE_GOTO(rc, cs_key_curve(key) == want, done, CONSORT_E_BAD_SIGNATURE,
                   GR "alg %s does not match the %s key of member %s", cs_cose_alg_name(req->alg),
                   cs_curve_name(cs_key_curve(key)), id);
    CS_TRY_CTX_GOTO(rc, cs_cose_sign1_verify(&req->cose, key, NULL), done,
                    GR "signature under the certificate of member %s", id);
    CS_TRY_GOTO(rc, check_window(req->created_at, (uint64_t)now, window_s), done);
    if (member_id != NULL)
        memcpy(member_id, id, sizeof id);
done:
    cs_key_free(key);
    cs_x509_free(cert);
    return rc;
}

consort_err cs_gov_request_digest(const cs_gov_request *req, uint8_t out[CS_SHA256_LEN])
{
    cs_buf tbs;
    cs_buf_init(&tbs, 0);
    consort_err rc =
        cs_cose_sig_structure(req->cose.protected_bstr, CS_SLICE_EMPTY, req->payload, &tbs);
    if (rc == CONSORT_OK)
        cs_sha256(cs_buf_slice(&tbs), out);
    cs_buf_cleanup(&tbs);
    return rc;
}

/* ---- replay history ---- */

#define history_map CS_SLICE_LIT(CS_GOV_HISTORY_MAP)

static consort_err read_time(cs_slice value, uint64_t *out)
{
    cs_cursor c;
    cs_cursor_init(&c, value);
    CS_ENSURE(value.len == 8, CONSORT_E_CORRUPT,
              CS_GOV_HISTORY_MAP ": stored value of %zu bytes, expected 8", value.len);
    return cs_cursor_read_be64(&c, out);
}

typedef struct prune_ctx {
    cs_kv_tx *tx;
    uint64_t floor;
    consort_err rc;
} prune_ctx;

static bool prune_cb(void *ctx, cs_slice key, cs_slice value)
{
    prune_ctx *p = ctx;
    uint64_t at;
    if (key.len != CS_SHA256_LEN) /* the floor */
        return true;
    p->rc = read_time(value, &at);
    if (p->rc == CONSORT_OK && at < p->floor)
        p->rc = cs_kv_remove(p->tx, history_map, key);
    return p->rc == CONSORT_OK;
}

consort_err cs_gov_replay_record(cs_kv_tx *tx, const uint8_t digest[CS_SHA256_LEN],
                                 uint64_t created_at, int64_t now, uint64_t window_s)
{
    CS_ENSURE(now >= 0, CONSORT_E_INVALID_ARGUMENT, GR "replay check: now %" PRId64 " negative",
              now);
    const cs_slice floor_key = CS_SLICE_LIT(CS_GOV_HISTORY_FLOOR_KEY);
    const cs_slice key = CS_SLICE(digest, CS_SHA256_LEN);
    uint64_t cutoff = (uint64_t)now > window_s ? (uint64_t)now - window_s : 0;
    uint64_t floor = 0, at = 0;
    cs_slice value;
    bool found;
    CS_TRY(cs_kv_get(tx, history_map, floor_key, &value, &found));
    if (found)
        CS_TRY(read_time(value, &floor));
    uint64_t oldest = floor > cutoff ? floor : cutoff;
    CS_ENSURE(created_at >= oldest, CONSORT_E_EXPIRED,
              GR "stale: created_at %" PRIu64 " is before %" PRIu64
                 ", the oldest time the replay history covers (now %" PRId64 ", window %" PRIu64
                 " s)",
              created_at, oldest, now, window_s);
    CS_TRY(cs_kv_get(tx, history_map, key, &value, &found));
    if (found) {
        char hex[2 * CS_SHA256_LEN + 1];
        cs_hex_encode(key, hex);
        CS_TRY(read_time(value, &at));
        return cs_fail(CONSORT_E_POLICY,
                       GR "replayed: request %s was already accepted (created_at %" PRIu64 ")", hex,
                       at);
    }
    uint8_t be[8];
    if (cutoff > floor) {
        prune_ctx p = {.tx = tx, .floor = cutoff, .rc = CONSORT_OK};
        CS_TRY(cs_kv_foreach(tx, history_map, prune_cb, &p));
        CS_TRY_CTX(p.rc, "pruning " CS_GOV_HISTORY_MAP);
        put_be64(be, cutoff);
        CS_TRY(cs_kv_put(tx, history_map, floor_key, CS_SLICE(be, sizeof be)));
    }
    put_be64(be, created_at);
    return cs_kv_put(tx, history_map, key, CS_SLICE(be, sizeof be));
}

/* ---- sign ---- */

consort_err cs_gov_request_sign(const cs_key *key, const cs_x509 *member_cert, cs_gov_msg_type type,
                                uint64_t created_at, const char *proposal_id, cs_slice payload,
                                cs_buf *out)
{
    CS_ENSURE(type >= CS_GOV_MSG_PROPOSAL && type <= CS_GOV_MSG_RECOVERY_SHARE,
              CONSORT_E_INVALID_ARGUMENT, GR "sign: message type %d unknown", (int)type);
    CS_ENSURE(needs_proposal_id(type) == (proposal_id != NULL), CONSORT_E_INVALID_ARGUMENT,
              GR "sign: a %s %s a proposal id", cs_gov_msg_type_name(type),
              proposal_id == NULL ? "needs" : "must not carry");
    CS_ENSURE(proposal_id == NULL || is_hex_id(cs_slice_str(proposal_id)),
              CONSORT_E_INVALID_ARGUMENT, GR "sign: proposal id is not 64 lower-case hex digits");
    CS_ENSURE(created_at <= (uint64_t)INT64_MAX, CONSORT_E_INVALID_ARGUMENT,
              GR "sign: created_at %" PRIu64 " out of range", created_at);
    cs_curve curve = cs_key_curve(key);
    CS_ENSURE(cs_key_has_private(key) && (curve == CS_CURVE_P256 || curve == CS_CURVE_P384),
              CONSORT_E_INVALID_ARGUMENT, GR "sign: need a P-256 or P-384 private key");

    char id[CS_GOV_ID_HEX_LEN + 1];
    uint8_t want[CS_SHA256_LEN], have[CS_SHA256_LEN];
    cs_key *cert_key = NULL;
    CS_TRY(cs_gov_member_id(member_cert, id));
    CS_TRY(cs_x509_public_key(member_cert, &cert_key));
    consort_err rc = cs_key_id(cert_key, want);
    cs_key_free(cert_key);
    CS_TRY(rc);
    CS_TRY(cs_key_id(key, have));
    CS_ENSURE(memcmp(want, have, sizeof want) == 0, CONSORT_E_INVALID_ARGUMENT,
              GR "sign: the key is not the key of member certificate %s", id);

    cs_cose_param params[4] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(id, CS_GOV_ID_HEX_LEN)),
        {.label = text_label(CS_GOV_HDR_MSG_TYPE),
         .type = CS_COSE_VALUE_TEXT,
         .s = cs_slice_str(cs_gov_msg_type_name(type))},
        {.label = text_label(CS_GOV_HDR_CREATED_AT),
         .type = CS_COSE_VALUE_INT,
         .i = (int64_t)created_at},
        {.label = text_label(CS_GOV_HDR_PROPOSAL_ID),
         .type = CS_COSE_VALUE_TEXT,
         .s = proposal_id == NULL ? CS_SLICE_EMPTY : cs_slice_str(proposal_id)},
    };
    cs_cose_sign1_params p = {
        .alg = curve == CS_CURVE_P256 ? CS_COSE_ES256 : CS_COSE_ES384,
        .protected_params = params,
        .protected_count = proposal_id == NULL ? 3 : 4,
        .payload = payload,
    };
    CS_TRY_CTX(cs_cose_sign1_sign(key, &p, out), GR "sign");
    return CONSORT_OK;
}
