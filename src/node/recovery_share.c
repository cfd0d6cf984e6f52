/*
 * The members' shares (recovery.h node_recovery_submit): each signed
 * request is authenticated against the recovered members, refused if
 * replayed or if its member already gave a share, its share checked
 * against the binding and the header of the share issued to that member,
 * and kept in memory; the threshold-th one rebuilds the ledger secret.
 */
#include "node/recovery_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/hash.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECOVERY_LOG "recovery"

static CS_PRINTF(4, 5) void refuse(node_recovery_result *res, int status, const char *code,
                                   const char *fmt, ...)
{
    res->status = status;
    res->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    cs_err_clear();
}

/* Authenticates the request (CONSORT_OK with res->status set if refused). */
static consort_err authenticate(node_recovery *r, const cs_gov_request *req, int64_t now,
                                cs_kv_tx *tx, node_recovery_result *res)
{
    uint64_t window;
    CS_TRY(svc_setting(tx, SVC_SETTING_WINDOW, SVC_DEFAULT_WINDOW_S, &window));
    consort_err rc = cs_gov_request_verify(req, svc_member_lookup, tx, now, window, res->member_id);
    switch (rc) {
    case CONSORT_OK:
        break;
    case CONSORT_E_NOT_FOUND:
    case CONSORT_E_POLICY:
        refuse(res, 403, "NotAMember", "%s", consort_errmsg());
        return CONSORT_OK;
    case CONSORT_E_BAD_SIGNATURE:
    case CONSORT_E_BAD_CERTIFICATE:
        refuse(res, 401, "InvalidSignature", "%s", consort_errmsg());
        return CONSORT_OK;
    case CONSORT_E_EXPIRED:
        refuse(res, 400, "StaleRequest", "%s", consort_errmsg());
        return CONSORT_OK;
    case CONSORT_E_MALFORMED:
        refuse(res, 400, "MalformedRequest", "%s", consort_errmsg());
        return CONSORT_OK;
    default:
        return rc;
    }
    for (size_t i = 0; i < r->submitted; i++)
        if (strcmp(r->submitters[i], res->member_id) == 0) {
            refuse(res, 409, "ShareAlreadySubmitted", "member %s submitted its share already",
                   res->member_id);
            return CONSORT_OK;
        }
    uint8_t digest[CS_SHA256_LEN];
    CS_TRY(cs_gov_request_digest(req, digest));
    for (size_t i = 0; i < r->digest_count; i++)
        if (memcmp(r->digests[i], digest, sizeof digest) == 0) {
            refuse(res, 409, "ReplayedRequest",
                   "this signed request was submitted before (after shares are discarded, "
                   "each member signs a new one)");
            return CONSORT_OK;
        }
    CS_ENSURE(r->digest_count < RECOVERY_DIGESTS_MAX, CONSORT_E_BUSY,
              "recovery: %d requests taken already", RECOVERY_DIGESTS_MAX);
    if (r->digests == NULL) {
        r->digests = cs_calloc(RECOVERY_DIGESTS_MAX, sizeof *r->digests);
        CS_ENSURE(r->digests != NULL, CONSORT_E_NOMEM, "recovery");
    }
    memcpy(r->digests[r->digest_count], digest, sizeof digest); /* counted once accepted */
    return CONSORT_OK;
}

/* The share itself: its binding, and exactly the header of the share
 * issued to this member (CONSORT_OK with res->status set if refused). */
static consort_err check_share(node_recovery *r, cs_slice plain, cs_kv_tx *tx,
                               node_recovery_result *res, cs_gov_share *share)
{
    if (cs_gov_share_decode(plain, share) != CONSORT_OK) {
        refuse(res, 400, "InvalidShare", "the payload is not a plain recovery share: %s",
               consort_errmsg());
        return CONSORT_OK;
    }
    uint8_t member[CS_GOV_SHARE_ID_LEN];
    CS_TRY(cs_hex_decode(res->member_id, member, sizeof member));
    cs_gov_share_binding b = {.epoch = r->wrapping.epoch};
    memcpy(b.service_id, r->wrapping.service_id, sizeof b.service_id);
    if (cs_gov_share_check(&share->meta, &b, member) != CONSORT_OK) {
        refuse(res, 400, "InvalidShare", "%s", consort_errmsg());
        return CONSORT_OK;
    }
    cs_slice issued;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY_SHARES), cs_slice_str(res->member_id),
                     &issued, &found));
    if (!found) {
        refuse(res, 404, "NoShareIssued", "no recovery share was issued to member %s",
               res->member_id);
        return CONSORT_OK;
    }
    if (issued.len < CS_GOV_SHARE_HEADER_LEN ||
        memcmp(issued.ptr, plain.ptr, CS_GOV_SHARE_HEADER_LEN) != 0) {
        refuse(res, 400, "InvalidShare",
               "the share does not match the one issued to member %s (index %u of %u, "
               "threshold %u)",
               res->member_id, share->meta.index, share->meta.count, share->meta.threshold);
        return CONSORT_OK;
    }
    if (share->meta.secret_len != CS_LEDGER_SECRET_LEN)
        refuse(res, 400, "InvalidShare", "a share of a %u-byte secret, not the ledger secret's %d",
               share->meta.secret_len, CS_LEDGER_SECRET_LEN);
    return CONSORT_OK;
}

static void discard_all(node_recovery *r)
{
    for (size_t i = 0; i < r->submitted; i++)
        cs_gov_share_wipe(&r->shares[i]);
    memset(r->submitters, 0, sizeof r->submitters);
    r->submitted = 0;
}

/* The threshold is reached: the secret, or everything discarded. */
static consort_err combine(node_recovery *r, node_recovery_result *res,
                           uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    cs_gov_share_binding b = {.epoch = r->wrapping.epoch};
    memcpy(b.service_id, r->wrapping.service_id, sizeof b.service_id);
    cs_buf out;
    cs_buf_init_secret(&out, CS_GOV_SECRET_MAX);
    consort_err rc = cs_gov_shares_combine(r->shares, r->submitted, &b, &out);
    if (rc == CONSORT_E_NOMEM) {
        cs_buf_cleanup(&out);
        return rc;
    }
    if (rc != CONSORT_OK || out.len != CS_LEDGER_SECRET_LEN) {
        refuse(res, 400, "RecoveryFailed",
               "the %zu shares do not rebuild the ledger secret (%s): every share was "
               "discarded; each member must submit its share again",
               r->submitted, rc != CONSORT_OK ? consort_errmsg() : "wrong length");
        cs_log_error(RECOVERY_LOG, "node %s: %s", r->o.node_id, res->message);
        discard_all(r);
        res->submitted = 0;
        cs_buf_cleanup(&out);
        return CONSORT_OK;
    }
    memcpy(secret, out.ptr, CS_LEDGER_SECRET_LEN);
    cs_buf_cleanup(&out);
    res->complete = true;
    return CONSORT_OK;
}

static consort_err submit(node_recovery *r, cs_slice body, int64_t now, cs_kv_tx *tx,
                          node_recovery_result *res, uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    cs_gov_request req;
    consort_err rc = cs_gov_request_decode(body, &req);
    if (rc != CONSORT_OK) {
        bool big = rc == CONSORT_E_TOO_LARGE;
        refuse(res, big ? 413 : 400, big ? "RequestTooLarge" : "MalformedRequest",
               "not a governance request: %s", consort_errmsg());
        return CONSORT_OK;
    }
    if (req.type != CS_GOV_MSG_RECOVERY_SHARE) {
        refuse(res, 400, "MalformedRequest",
               "this endpoint takes a signed recovery_share, not a %s",
               cs_gov_msg_type_name(req.type));
        return CONSORT_OK;
    }
    CS_TRY(authenticate(r, &req, now, tx, res));
    if (res->status != 200)
        return CONSORT_OK;
    cs_gov_share *share = &r->shares[r->submitted];
    CS_TRY(check_share(r, req.payload, tx, res, share));
    if (res->status != 200) {
        cs_gov_share_wipe(share);
        return CONSORT_OK;
    }
    memcpy(r->submitters[r->submitted], res->member_id, sizeof r->submitters[0]);
    r->submitted++;
    r->digest_count++;
    res->submitted = (unsigned)r->submitted;
    cs_log_info(RECOVERY_LOG, "node %s: recovery share of member %.16s... accepted: %zu of %u",
                r->o.node_id, res->member_id, r->submitted, r->wrapping.threshold);
    if (r->submitted < r->wrapping.threshold) {
        snprintf(res->message, sizeof res->message,
                 "share accepted: %zu of %u (%zu more needed); nothing is recovered yet",
                 r->submitted, r->wrapping.threshold, r->wrapping.threshold - r->submitted);
        return CONSORT_OK;
    }
    CS_TRY(combine(r, res, secret));
    if (res->complete)
        snprintf(res->message, sizeof res->message,
                 "share accepted: %zu of %u: the ledger secret is rebuilt", r->submitted,
                 r->wrapping.threshold);
    return CONSORT_OK;
}

consort_err node_recovery_submit(node_recovery *r, cs_slice body, int64_t now,
                                 node_recovery_result *res, uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    memset(res, 0, sizeof *res);
    res->status = 200;
    res->code = "";
    res->threshold = r->wrapping.threshold;
    res->submitted = (unsigned)r->submitted;
    CS_ENSURE(r->submitted < CS_GOV_SHARES_MAX, CONSORT_E_STATE, "recovery: every share is in");
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin_committed(r->kv, &tx));
    consort_err rc = submit(r, body, now, tx, res, secret);
    cs_kv_tx_free(tx);
    return rc;
}

/* ---- status ---- */

static bool share_holder_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)value;
    return json_array_append_new(ctx, json_stringn((const char *)key.ptr, key.len)) == 0;
}

consort_err node_recovery_status_json(const node_recovery *r, cs_buf *out)
{
    json_t *holders = json_array(), *submitted = json_array();
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    cs_kv_tx *tx = NULL;
    consort_err rc = holders != NULL && submitted != NULL
                         ? CONSORT_OK
                         : cs_fail(CONSORT_E_NOMEM, "recovery status");
    for (size_t i = 0; rc == CONSORT_OK && i < r->submitted; i++)
        if (json_array_append_new(submitted, json_string(r->submitters[i])) != 0)
            rc = cs_fail(CONSORT_E_NOMEM, "recovery status");
    if (rc == CONSORT_OK)
        rc = cs_kv_tx_begin_committed(r->kv, &tx);
    if (rc == CONSORT_OK)
        rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY_SHARES), share_holder_cb, holders);
    if (rc == CONSORT_OK)
        rc = cs_x509_to_pem(r->o.previous_cert, &pem);
    if (rc == CONSORT_OK)
        rc = cs_buf_append_u8(&pem, 0);
    char point[CS_LEDGER_TXID_MAX];
    cs_ledger_txid_format(r->point.term, r->point.seqno, point);
    json_t *doc =
        rc == CONSORT_OK
            ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:O}", "state", "WaitingForRecoveryShares",
                        "recovery_point", point, "previous_service_certificate",
                        (const char *)pem.ptr, "threshold", (json_int_t)r->wrapping.threshold,
                        "epoch", (json_int_t)r->wrapping.epoch, "members_with_shares", holders,
                        "submitted", submitted)
            : NULL;
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (rc == CONSORT_OK)
        rc = text != NULL ? cs_buf_append(out, text, strlen(text))
                          : cs_fail(CONSORT_E_NOMEM, "recovery status");
    free(text);
    json_decref(doc);
    json_decref(holders);
    json_decref(submitted);
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&pem);
    return rc;
}
