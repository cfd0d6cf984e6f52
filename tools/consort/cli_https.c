/* One HTTPS request on a private loop (cli_https.h). */
#include "cli_https.h"

#include "base/alloc.h"
#include "crypto/tls.h"
#include "net/http_client.h"
#include "net/tcp.h"
#include "net/timer.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CLOSE_SPINS   400 /* x 5 ms: how long the closes may take after the answer */
#define MAX_HEADERS   2   /* Content-Type and nothing else is ever added */
#define URL_FOR_ERROR 300

/*
 * The exchange: on the heap, because if the time runs out before the TCP
 * connect completes it is abandoned with the loop (cli_https.h).
 *
 * The TCP connect and the TLS handshake are two steps (not cs_tls_connect)
 * so that a failure knows whether the connection was ever established.
 */
typedef struct https_op {
    uv_loop_t loop;
    const cs_cli_https_request *req;
    cs_cli_https_response *resp;
    cs_tls_config *tls; /* borrowed: the caller holds it until the TCP callback ran */
    cs_timer *timer;
    uint64_t started_ms;       /* uv_now when the connect began */
    uint32_t connect_limit_ms; /* the timer's first setting: the time to connect */
    size_t max_body;
    bool pending; /* a connect callback (TCP, then TLS) is still to run */
    bool done;    /* the answer or the failure is in */
    consort_err rc;
    char why[CS_ERRMSG_MAX];
    cs_http_client *http;
} https_op;

/* Ends the exchange with `rc` and, on failure, its message. First call wins. */
static void finish(https_op *op, consort_err rc, const char *msg)
{
    if (op->done)
        return;
    op->done = true;
    op->rc = rc;
    if (rc != CONSORT_OK)
        snprintf(op->why, sizeof op->why, "%s", msg);
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    https_op *op = ctx;
    if (err != CONSORT_OK) {
        finish(op, err, msg);
        return;
    }
    cs_cli_https_response *resp = op->resp;
    resp->status = r->status;
    const char *ctype = cs_http_response_header(r, "content-type");
    snprintf(resp->content_type, sizeof resp->content_type, "%s", ctype != NULL ? ctype : "");
    err = cs_buf_append_slice(&resp->body, r->body);
    finish(op, err, err == CONSORT_OK ? "" : consort_errmsg()); /* synchronous */
}

/* The TLS handshake is over: send the request. */
static void on_handshake(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    https_op *op = ctx;
    op->pending = false;
    if (err != CONSORT_OK) {
        finish(op, err, msg);
        return;
    }
    if (op->done) { /* the time ran out during the handshake */
        cs_stream_close(s);
        return;
    }
    const cs_http_client_params params = {.limits = {.max_body_bytes = op->max_body}};
    err = cs_http_client_new(s, &params, &op->http);
    if (err != CONSORT_OK) {
        finish(op, err, consort_errmsg()); /* synchronous */
        return;
    }
    const cs_cli_https_request *req = op->req;
    cs_http_header headers[MAX_HEADERS];
    size_t count = 0;
    if (req->content_type != NULL)
        headers[count++] = (cs_http_header){"Content-Type", req->content_type};
    err = cs_http_client_request(op->http, req->method, req->path, headers, count, req->body,
                                 on_response, op);
    if (err != CONSORT_OK)
        finish(op, err, consort_errmsg()); /* synchronous */
}

/* The TCP connection is up (or not): from here on the request may reach the node. */
static void on_tcp_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    https_op *op = ctx;
    if (err != CONSORT_OK) {
        op->pending = false;
        finish(op, err, msg);
        return;
    }
    op->resp->connected = true;
    if (op->done) { /* the time ran out as it connected */
        op->pending = false;
        cs_stream_close(s);
        return;
    }
    /* the rest of the exchange's time; the connect limit no longer applies */
    uint64_t elapsed = uv_now(&op->loop) - op->started_ms;
    uint64_t left = elapsed < op->req->timeout_ms ? op->req->timeout_ms - elapsed : 1;
    cs_timer_start(op->timer, left);
    err = cs_tls_stream_start(&op->loop, s, op->tls, left, on_handshake, op);
    if (err != CONSORT_OK) { /* s is closed; no callback follows */
        op->pending = false;
        finish(op, err, consort_errmsg()); /* synchronous */
    }
}

static void on_timeout(void *ctx)
{
    https_op *op = ctx;
    char why[CS_ERRMSG_MAX];
    if (op->resp->connected)
        snprintf(why, sizeof why, "no complete answer in %u ms", op->req->timeout_ms);
    else
        snprintf(why, sizeof why, "no TCP connection in %u ms", op->connect_limit_ms);
    finish(op, CONSORT_E_TIMEOUT, why);
}

consort_err cs_cli_https_tls_config(cs_x509 *const *service_cert, const cs_x509 *client_cert,
                                    const cs_key *client_key, cs_tls_pinned *pin,
                                    cs_tls_config **out)
{
    *pin = (cs_tls_pinned){.roots = service_cert, .root_count = 1};
    static const char *const alpn[] = {"http/1.1", NULL};
    const cs_tls_params params = {
        .role = CS_TLS_CLIENT,
        .key = client_key,
        .cert = client_cert,
        .verify = cs_tls_verify_pinned,
        .verify_ctx = pin,
        .alpn = alpn,
    };
    return cs_tls_config_new(&params, out);
}

/* Runs the loop until the answer is in and no connect callback is pending, or the time is up. */
static void run_exchange(https_op *op)
{
    while (!(op->done && !op->pending)) {
        if (uv_run(&op->loop, UV_RUN_ONCE) == 0 && !(op->done && !op->pending)) {
            finish(op, CONSORT_E_STATE, "the event loop ran dry");
            break;
        }
        if (op->done && op->http != NULL) {
            cs_http_client_free(op->http); /* runs on_response at once if still pending */
            op->http = NULL;
        }
        if (op->done && op->pending && !op->resp->connected)
            break; /* timed out before the TCP connect: abandon (cli_https.h) */
        /* a pending handshake ends by itself: its limit is the time that was left */
    }
}

/* Operations given up with a handle still open (a TCP connect that never
 * answered, a peer that never finishes its close) stay until the process
 * exits (this is a one-shot command); they are kept here so that they stay
 * reachable, not lost. Past ABANDONED_MAX they are dropped for real, but a
 * command gives up long before that many nodes. */
#define ABANDONED_MAX 32
static https_op *abandoned[ABANDONED_MAX];
static size_t abandoned_count;

static void abandon(https_op *op)
{
    if (abandoned_count < ABANDONED_MAX)
        abandoned[abandoned_count++] = op;
}

/* Lets the closing handles go (bounded), then closes the loop and frees `op`. */
static void release(https_op *op)
{
    for (int i = 0; i < CLOSE_SPINS && uv_run(&op->loop, UV_RUN_NOWAIT) != 0; i++) {
        const struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (uv_loop_close(&op->loop) == 0)
        cs_free(op);
    else /* a handle lingers (a peer that never finishes its close): it holds
          * op's loop, so both stay until the process exits */
        abandon(op);
}

consort_err cs_cli_https_send(const cs_cli_https_request *req, cs_cli_https_response *resp)
{
    char url[URL_FOR_ERROR];
    snprintf(url, sizeof url, "%s https://%s%s", req->method, req->address, req->path);
    CS_ENSURE(req->service_cert != NULL, CONSORT_E_INVALID_ARGUMENT,
              "%s: no service certificate to pin", url);
    CS_ENSURE((req->client_cert == NULL) == (req->client_key == NULL), CONSORT_E_INVALID_ARGUMENT,
              "%s: a client certificate needs its key, and back", url);
    cs_tls_pinned pin;
    cs_tls_config *tls = NULL;
    CS_TRY_CTX(
        cs_cli_https_tls_config(&req->service_cert, req->client_cert, req->client_key, &pin, &tls),
        "%s", url);

    https_op *op = cs_calloc(1, sizeof *op);
    if (op == NULL) {
        cs_tls_config_free(tls);
        return cs_fail(CONSORT_E_NOMEM, "%s: out of memory", url);
    }
    int uv = uv_loop_init(&op->loop);
    if (uv != 0) {
        cs_free(op);
        cs_tls_config_free(tls);
        return cs_fail(CONSORT_E_IO, "%s: uv_loop_init: %s", url, uv_strerror(uv));
    }
    cs_cli_https_request copy = *req;
    if (copy.timeout_ms == 0)
        copy.timeout_ms = CS_CLI_HTTPS_TIMEOUT_MS;
    op->req = &copy;
    op->resp = resp;
    op->tls = tls;
    op->max_body = req->max_body != 0 ? req->max_body : CS_CLI_HTTPS_BODY_MAX;
    cs_buf_reset(&resp->body);
    resp->connected = false;
    resp->status = 0;
    resp->content_type[0] = '\0';

    consort_err rc = cs_timer_new(&op->loop, on_timeout, op, &op->timer);
    if (rc == CONSORT_OK) {
        op->connect_limit_ms =
            copy.connect_timeout_ms != 0 && copy.connect_timeout_ms < copy.timeout_ms
                ? copy.connect_timeout_ms
                : copy.timeout_ms;
        op->started_ms = uv_now(&op->loop);
        cs_timer_start(op->timer, op->connect_limit_ms);
        rc = cs_tcp_connect(&op->loop, req->address, on_tcp_connect, op);
    }
    if (rc == CONSORT_OK) {
        op->pending = true;
        run_exchange(op); /* the connect callback runs later, never inside cs_tcp_connect */
        rc = op->rc;
    } else {
        snprintf(op->why, sizeof op->why, "%s", consort_errmsg());
    }
    cs_timer_free(op->timer);
    op->timer = NULL;
    if (!op->pending)
        cs_tls_config_free(tls); /* a TLS stream keeps its own reference */
    /* else the abandoned TCP connect may still need it: it stays with op */
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", op->why);
    if (!op->pending)
        release(op);
    else
        abandon(op); /* the connect still runs on op's loop: op stays */
    if (rc != CONSORT_OK) {
        cs_buf_reset(&resp->body);
        return cs_fail(rc, "%s: %s", url, why);
    }
    return CONSORT_OK;
}

void cs_cli_https_response_init(cs_cli_https_response *resp)
{
    resp->status = 0;
    resp->content_type[0] = '\0';
    cs_buf_init(&resp->body, CS_BUF_DEFAULT_MAX);
}

void cs_cli_https_response_cleanup(cs_cli_https_response *resp)
{
    cs_buf_cleanup(&resp->body);
}
