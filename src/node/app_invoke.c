/*
 * Running one handler (node/app_host.h cs_app_invoke): a fresh response and
 * read arena per invocation, the handler's own failures (consort_fail) told
 * apart from consortd's, the HTTP status each failure answers with
 * (include/consort/app.h "Errors"), and whether the transaction may commit.
 */
#include "node/app_host.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* What a 503 tells the client (as the rpc layer's own 503s do). */
#define RETRY_AFTER_SECONDS "1"

int cs_app_error_status(consort_err code)
{
    switch (code) {
    case CONSORT_E_NOT_FOUND:
        return 404; /* RFC 9110 §15.5.5 */
    case CONSORT_E_BUSY:
    case CONSORT_E_TIMEOUT:
        return 503; /* §15.6.4: temporary, retry */
    case CONSORT_E_CRYPTO:
        return 500; /* our cryptographic library failed, not the caller's input */
    case CONSORT_E_PENDING:
        return 500; /* returned with no call pending: the handler's bug */
    default:
        break;
    }
    switch (consort_err_category_of(code)) {
    case CONSORT_CAT_USAGE:
    case CONSORT_CAT_PROTOCOL:
    case CONSORT_CAT_CRYPTO:
    case CONSORT_CAT_ATTESTATION:
        return 400; /* §15.5.1: what the caller sent is wrong or does not verify */
    case CONSORT_CAT_POLICY:
        return 403; /* §15.5.4 */
    case CONSORT_CAT_STATE:
        return 409; /* §15.5.10: conflicts with the current state */
    default:
        return 500;
    }
}

/* Turns `resp` into a 500 naming `why` (never fails: an empty 500 is the floor). */
static void internal_error(consort_response *resp, const char *why)
{
    cs_app_response_reset(resp);
    if (consort_response_error(resp, 500, "InternalError", "%s", why) != CONSORT_OK) {
        cs_app_response_reset(resp);
        resp->status = 500;
    }
}

/* consortd's failure (not the handler's consort_fail): 500 naming it. */
static void host_error(const cs_app_endpoint *ep, consort_err rc, consort_response *resp)
{
    char why[CS_ERRMSG_MAX + 64];
    const char *msg = consort_errmsg();
    snprintf(why, sizeof why, "%s %s: %s%s%s", ep->method, ep->path, consort_err_name(rc),
             msg[0] != '\0' ? ": " : "", msg);
    cs_log_warn("app", "handler failed: %s", why);
    internal_error(resp, why);
}

/* The handler's own failure: the status its code maps to, with its message. */
static void handler_error(const cs_app_endpoint *ep, const consort_tx *tx, consort_response *resp)
{
    int status = cs_app_error_status(tx->fail_code);
    const char *name = consort_err_name(tx->fail_code);
    cs_log(status >= 500 ? CS_LOG_WARN : CS_LOG_DEBUG, "app", "%s %s: %d %s: %s", ep->method,
           ep->path, status, name, tx->fail_message);
    cs_app_response_reset(resp);
    consort_err rc;
    CS_TRY_GOTO(rc, consort_response_error(resp, status, name, "%s", tx->fail_message), failed);
    if (status == 503)
        CS_TRY_GOTO(rc, consort_response_set_header(resp, "Retry-After", RETRY_AFTER_SECONDS),
                    failed);
    return;
failed:;
    char why[CS_APP_PATH_MAX + 64];
    snprintf(why, sizeof why, "%s %s: %s, and its error response failed", ep->method, ep->path,
             name);
    internal_error(resp, why);
}

consort_err cs_app_invoke(const cs_app_endpoint *ep, consort_request *req, cs_kv_tx *kv,
                          bool writable, consort_response *resp, cs_tx_outcome *out)
{
    memset(out, 0, sizeof *out);
    /* app.h: every run, a re-run after a conflict included, starts from a fresh
     * response and an empty arena */
    cs_app_response_reset(resp);
    consort_tx tx;
    cs_app_tx_init(&tx, kv, writable, out);
    consort_tx *outer = cs_app_enter(&tx);
    cs_err_clear();
    consort_err rc = ep->handler(req, &tx, resp, ep->ctx);
    (void)cs_app_enter(outer);
    if (req->calls != NULL && cs_app_calls_pending(req->calls) > 0) {
        /* app.h consort_call: a run that made a new call is discarded; the
         * handler runs again once the calls are answered */
        cs_app_response_reset(resp);
        memset(out, 0, sizeof *out);
        rc = CONSORT_E_PENDING;
    } else if (rc != CONSORT_OK) {
        if (tx.fail_code == rc)
            handler_error(ep, &tx, resp);
        else
            host_error(ep, rc, resp);
        memset(out, 0, sizeof *out);
    } else if (resp->status < 100 || resp->status > 599) {
        char why[CS_APP_PATH_MAX + 64];
        snprintf(why, sizeof why, "%s %s: the handler set HTTP status %d", ep->method, ep->path,
                 resp->status);
        internal_error(resp, why);
        memset(out, 0, sizeof *out);
        rc = cs_fail(CONSORT_E_INVALID_ARGUMENT, "%s", why);
    } else {
        /* app.h: only CONSORT_OK with a 2xx status commits; anything else discards the writes */
        out->commit = writable && resp->status >= 200 && resp->status <= 299;
        if (!out->commit)
            out->has_claims = false;
    }
    /* the handler returned: what it read dies now (the response holds copies) */
    cs_app_tx_cleanup(&tx);
    return rc;
}
