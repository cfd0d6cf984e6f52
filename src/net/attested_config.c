/*
 * Attested channel configuration, listening and connecting (attested.h):
 * TCP, then TLS 1.3 with both certificates recorded (cs_tls_verify_any:
 * trust comes from the evidence), then the hello exchange (attested.c).
 */
#include "net/attested_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/tcp.h"
#include "net/tls_listen_priv.h"

#include <stdio.h>
#include <string.h>

static void config_destroy(cs_attested_config *cfg)
{
    cs_tls_config_free(cfg->server_tls);
    cs_tls_config_free(cfg->client_tls);
    cs_key_free(cfg->key);
    cs_x509_free(cfg->cert);
    cs_free(cfg);
}

static consort_err make_tls(cs_attested_config *cfg)
{
    cs_tls_params p = {.role = CS_TLS_SERVER,
                       .key = cfg->key,
                       .cert = cfg->cert,
                       .client_auth = CS_TLS_CLIENT_CERT_REQUIRE, /* mutual */
                       .verify = cs_tls_verify_any};
    CS_TRY(cs_tls_config_new(&p, &cfg->server_tls));
    p.role = CS_TLS_CLIENT;
    p.client_auth = CS_TLS_CLIENT_CERT_NONE;
    return cs_tls_config_new(&p, &cfg->client_tls);
}

consort_err cs_attested_config_new(const cs_attested_params *params, cs_attested_config **out)
{
    *out = NULL;
    const char *addr = params->raft_address != NULL ? params->raft_address : "";
    CS_ENSURE(params->key != NULL && params->cert != NULL && params->attest != NULL &&
                  params->verify_opts != NULL && params->policy != NULL,
              CONSORT_E_INVALID_ARGUMENT,
              "attested channel: key, certificate, attester, verify options and policy are "
              "required");
    size_t alen = strlen(addr);
    CS_ENSURE(alen >= 1 && alen <= CS_RAFT_ADDRESS_MAX, CONSORT_E_INVALID_ARGUMENT,
              "attested channel: raft address of %zu bytes, expected 1 to %d", alen,
              CS_RAFT_ADDRESS_MAX);
    cs_attested_config *cfg = cs_calloc(1, sizeof *cfg);
    CS_ENSURE(cfg != NULL, CONSORT_E_NOMEM, "attested channel: out of memory");
    cfg->key = cs_key_ref(params->key);
    cfg->cert = cs_x509_ref(params->cert);
    cfg->raft_id = params->raft_id;
    memcpy(cfg->raft_address, addr, alen + 1);
    cfg->attest = params->attest;
    cfg->attest_ctx = params->attest_ctx;
    cfg->verify_opts = params->verify_opts;
    cfg->policy = params->policy;
    cfg->timeout_ms = params->timeout_ms != 0 ? params->timeout_ms : CS_ATTESTED_TIMEOUT_MS;
    cfg->stats = params->stats;
    cfg->refs = 1;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_attested_node_id(cfg->key, cfg->node_id), fail);
    CS_TRY_GOTO(rc, make_tls(cfg), fail); /* also checks that key and certificate match */
    *out = cfg;
    return CONSORT_OK;

fail:
    config_destroy(cfg);
    return cs_err_context(rc, "attested channel");
}

cs_attested_config *cs_attested_config_ref(cs_attested_config *cfg)
{
    cfg->refs++;
    return cfg;
}

void cs_attested_config_free(cs_attested_config *cfg)
{
    if (cfg == NULL || --cfg->refs > 0)
        return;
    config_destroy(cfg);
}

const char *cs_attested_config_node_id(const cs_attested_config *cfg)
{
    return cfg->node_id;
}

/* ---- listening ---- */

/* A listener's context, shared with the channels it started (tls_listen_priv.h). */
typedef struct listen_ctx {
    cs_tls_listen_ctx base; /* first */
    cs_attested_config *cfg;
    cs_attested_cb on_ready;
    void *ctx;
    cs_log_budget log; /* refusals logged */
} listen_ctx;

/* A connection the listener refused: counted, and logged within budget
 * (anyone can connect: one line each would let them flood the log). */
static void refused(listen_ctx *l, bool tls, consort_err err, const char *line)
{
    if (l->base.closed) /* the owner (and its stats) may be gone */
        return;
    cs_attested_stats *st = l->cfg->stats;
    consort_err_category cat = consort_err_category_of(err);
    if (st != NULL && tls)
        st->refused_tls++;
    else if (st != NULL)
        st->refused_hello++;
    if (st != NULL && !tls && (size_t)cat < CS_ARRAY_LEN(st->refused_hello_by))
        st->refused_hello_by[cat]++;
    uint64_t held = 0;
    if (!cs_log_budget_take(&l->log, uv_now(l->base.loop), &held))
        return;
    if (held > 0)
        cs_log_warn("net", "%s (and %llu more refusals not logged)", line,
                    (unsigned long long)held);
    else
        cs_log_warn("net", "%s", line);
}

static void listen_ctx_destroy(cs_tls_listen_ctx *base)
{
    listen_ctx *l = (listen_ctx *)(void *)base;
    cs_attested_config_free(l->cfg);
    cs_free(l);
}

static void attested_cb(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                        const char *msg)
{
    listen_ctx *l = ctx;
    if (err != CONSORT_OK) /* msg: "attested channel with A refused: why" */
        refused(l, false, err, msg);
    else if (l->base.closed)
        cs_stream_close(s);
    else
        l->on_ready(l->ctx, s, peer, CONSORT_OK, "");
    cs_tls_listen_ctx_unref(&l->base);
}

static void tls_done_cb(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    listen_ctx *l = ctx;
    if (err != CONSORT_OK) {
        char line[CS_ERRMSG_MAX + 64];
        snprintf(line, sizeof line, "attested channel: TLS refused: %s", msg);
        refused(l, true, err, line);
        cs_tls_listen_ctx_unref(&l->base);
        return;
    }
    if (l->base.closed) {
        cs_stream_close(s);
        cs_tls_listen_ctx_unref(&l->base);
        return;
    }
    if (cs_attested_start_accepted(l->base.loop, s, l->cfg, attested_cb, l) != CONSORT_OK) {
        cs_log_warn("net", "%s", consort_errmsg());
        cs_tls_listen_ctx_unref(&l->base);
    }
}

consort_err cs_attested_listen(uv_loop_t *loop, const char *address, cs_attested_config *cfg,
                               cs_attested_cb on_ready, void *ctx, cs_listener **out)
{
    *out = NULL;
    CS_ENSURE(on_ready != NULL, CONSORT_E_INVALID_ARGUMENT,
              "attested channel: listen without on_ready");
    listen_ctx *l = cs_calloc(1, sizeof *l);
    CS_ENSURE(l != NULL, CONSORT_E_NOMEM, "attested channel: out of memory");
    l->base = (cs_tls_listen_ctx){.loop = loop,
                                  .tls = cs_tls_config_ref(cfg->server_tls),
                                  .timeout_ms = cfg->timeout_ms,
                                  .on_handshake = tls_done_cb,
                                  .destroy = listen_ctx_destroy};
    l->cfg = cs_attested_config_ref(cfg);
    cs_log_budget_init(&l->log, CS_ATTESTED_LOG_BURST, CS_ATTESTED_LOG_EVERY_MS);
    l->on_ready = on_ready;
    l->ctx = ctx;
    return cs_tls_listen_ctx_start(&l->base, address, out);
}

/* ---- connecting ---- */

typedef struct connect_ctx {
    uv_loop_t *loop;
    cs_attested_config *cfg;
    cs_attested_cb on_done;
    void *ctx;
} connect_ctx;

/* Ends a connect: starts the hello exchange over `s`, or reports `err`
 * with its message `msg`. */
static void connect_done(connect_ctx *c, cs_stream *s, consort_err err, const char *msg)
{
    connect_ctx copy = *c;
    cs_free(c);
    if (err == CONSORT_OK) {
        err = cs_attested_start(copy.loop, s, copy.cfg, copy.on_done, copy.ctx);
        msg = consort_errmsg(); /* synchronous: the failure just returned */
    }
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", err != CONSORT_OK ? msg : "");
    cs_attested_config_free(copy.cfg);
    if (err != CONSORT_OK)
        copy.on_done(copy.ctx, NULL, NULL, err, why);
}

static void connect_tls_cb(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    connect_done(ctx, s, err, msg);
}

static void connect_tcp_cb(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    connect_ctx *c = ctx;
    if (err == CONSORT_OK) {
        err = cs_tls_stream_start(c->loop, s, c->cfg->client_tls, c->cfg->timeout_ms,
                                  connect_tls_cb, c);
        msg = consort_errmsg(); /* synchronous: the failure just returned */
    }
    if (err != CONSORT_OK)
        connect_done(c, NULL, err, msg);
}

consort_err cs_attested_connect(uv_loop_t *loop, const char *address, cs_attested_config *cfg,
                                cs_attested_cb on_done, void *ctx)
{
    CS_ENSURE(on_done != NULL, CONSORT_E_INVALID_ARGUMENT,
              "attested channel: connect without a callback");
    connect_ctx *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "attested channel: out of memory");
    c->loop = loop;
    c->cfg = cs_attested_config_ref(cfg);
    c->on_done = on_done;
    c->ctx = ctx;
    consort_err rc = cs_tcp_connect(loop, address, connect_tcp_cb, c);
    if (rc != CONSORT_OK) {
        cs_attested_config_free(c->cfg);
        cs_free(c);
    }
    return rc;
}
