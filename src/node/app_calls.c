/*
 * Outbound calls, the handler's side (include/consort/app.h consort_call):
 * the record of the calls one client request made, kept across the runs of
 * its handler. A call seen for the first time is recorded and the run ends
 * with CONSORT_E_PENDING (cs_app_invoke discards it); rpc_egress.c makes
 * the recorded calls and the rpc layer runs the handler again once every
 * one is answered, when the same call returns the recorded answer. Nothing
 * here touches the network.
 */
#include "node/app_host.h"

#include "base/alloc.h"

#include <string.h>

static const uint8_t empty_body[1];

void cs_app_calls_init(cs_app_calls *c, const consort_app *app)
{
    memset(c, 0, sizeof *c);
    c->app = app;
}

void cs_app_calls_cleanup(cs_app_calls *c)
{
    for (size_t i = 0; i < c->count; i++) {
        cs_app_call *call = c->items[i];
        cs_buf_cleanup(&call->body);
        cs_buf_cleanup(&call->response);
        cs_buf_cleanup(&call->statement);
        cs_buf_cleanup(&call->service_cert);
        cs_free(call);
    }
    c->count = 0;
}

size_t cs_app_calls_pending(const cs_app_calls *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->count; i++)
        n += !c->items[i]->answered;
    return n;
}

void cs_app_call_answer(cs_app_call *call, int status, cs_slice body, cs_slice statement)
{
    call->answered = true;
    call->status = status;
    consort_err rc = cs_buf_set(&call->response, body);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(&call->statement, statement);
    if (rc != CONSORT_OK) {
        cs_app_call_fail(call, rc, "the answer does not fit");
        return;
    }
    call->rc = CONSORT_OK;
    call->message[0] = '\0';
}

void cs_app_call_fail(cs_app_call *call, consort_err rc, const char *message)
{
    call->answered = true;
    call->rc = rc != CONSORT_OK ? rc : CONSORT_E_IO;
    call->status = 0;
    cs_buf_reset(&call->response);
    cs_buf_reset(&call->statement);
    snprintf(call->message, sizeof call->message, "%s", message);
}

static bool same_call(const cs_app_call *call, const char *service, const char *method,
                      const char *path, cs_slice body)
{
    return strcmp(call->service, service) == 0 && strcmp(call->method, method) == 0 &&
           strcmp(call->path, path) == 0 && cs_slice_eq(cs_buf_slice(&call->body), body);
}

static consort_err record(cs_app_calls *c, const char *service, const char *method,
                          const char *path, cs_slice body)
{
    CS_ENSURE(c->count < CONSORT_CALL_MAX, CONSORT_E_TOO_LARGE,
              "consort_call: a request makes at most %d calls", CONSORT_CALL_MAX);
    cs_app_call *call = cs_calloc(1, sizeof *call);
    CS_ENSURE(call != NULL, CONSORT_E_NOMEM, "consort_call");
    snprintf(call->service, sizeof call->service, "%s", service);
    snprintf(call->method, sizeof call->method, "%s", method);
    snprintf(call->path, sizeof call->path, "%s", path);
    cs_buf_init(&call->body, CONSORT_CALL_BODY_MAX);
    cs_buf_init(&call->response, CONSORT_CALL_BODY_MAX);
    cs_buf_init(&call->statement, 0);
    cs_buf_init(&call->service_cert, 0);
    consort_err rc = cs_buf_set(&call->body, body);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&call->body);
        cs_free(call);
        return rc;
    }
    c->items[c->count++] = call;
    return CONSORT_OK;
}

consort_err consort_call(consort_request *req, const char *service, const char *method,
                         const char *path, const void *body, size_t body_len,
                         const consort_call_response **response)
{
    if (response != NULL)
        *response = NULL;
    if (req == NULL || req->calls == NULL)
        return consort_fail(CONSORT_E_STATE,
                            "consort_call: outbound calls are made from a handler only");
    if (service == NULL || method == NULL || path == NULL || response == NULL ||
        (body == NULL && body_len > 0))
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "consort_call: NULL argument");
    if (!cs_app_method_valid(method))
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "consort_call: bad method '%.16s'", method);
    if (path[0] != '/' || strlen(path) >= CS_APP_PATH_MAX || strpbrk(path, " \r\n") != NULL)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT,
                            "consort_call: the path must start with '/', hold no space or line "
                            "break, and be shorter than %d bytes",
                            CS_APP_PATH_MAX);
    if (body_len > CONSORT_CALL_BODY_MAX)
        return consort_fail(CONSORT_E_TOO_LARGE, "consort_call: a body of %zu bytes (at most %zu)",
                            body_len, CONSORT_CALL_BODY_MAX);
    cs_app_calls *c = req->calls;
    if (c->app == NULL || cs_app_egress_find(c->app, service) == NULL)
        return consort_fail(CONSORT_E_POLICY,
                            "consort_call: '%.63s' is not a service this application declares "
                            "(CONSORT_APP_EGRESS): undeclared egress is refused",
                            service);
    cs_slice b = CS_SLICE(body_len > 0 ? body : empty_body, body_len);
    for (size_t i = 0; i < c->count; i++) {
        cs_app_call *call = c->items[i];
        if (!same_call(call, service, method, path, b))
            continue;
        if (!call->answered)
            return CONSORT_E_PENDING;
        if (call->rc != CONSORT_OK)
            return consort_fail(call->rc, "call to %s %s %s: %s", service, method, path,
                                call->message);
        call->view = (consort_call_response){
            .status = call->status,
            .body = call->response.len > 0 ? call->response.ptr : empty_body,
            .body_len = call->response.len,
        };
        *response = &call->view;
        return CONSORT_OK;
    }
    consort_err rc = record(c, service, method, path, b);
    if (rc != CONSORT_OK)
        return consort_fail(rc, "%s", consort_errmsg());
    return CONSORT_E_PENDING;
}
