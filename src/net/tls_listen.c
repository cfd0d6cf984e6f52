/* TLS listeners and outbound TLS connections (tls_stream.h) over TCP. */
#include "net/tls_listen_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/tcp.h"

#include <stdio.h>

/* ---- the context shared by a listener and its handshakes ---- */

void cs_tls_listen_ctx_unref(cs_tls_listen_ctx *l)
{
    if (--l->refs > 0)
        return;
    cs_tls_config_free(l->tls);
    l->destroy(l);
}

static void listener_released(void *ctx)
{
    cs_tls_listen_ctx *l = ctx;
    l->closed = true;
    cs_tls_listen_ctx_unref(l);
}

static void tcp_accept_cb(void *ctx, cs_stream *s)
{
    cs_tls_listen_ctx *l = ctx;
    char peer[CS_NET_ADDRESS_MAX];
    snprintf(peer, sizeof peer, "%s", cs_stream_peer_address(s));
    l->refs++;
    if (cs_tls_stream_start(l->loop, s, l->tls, l->timeout_ms, l->on_handshake, l) != CONSORT_OK) {
        cs_log_warn("net", "TLS: cannot start a handshake with %s: %s", peer, consort_errmsg());
        cs_tls_listen_ctx_unref(l);
    }
}

consort_err cs_tls_listen_ctx_start(cs_tls_listen_ctx *l, const char *address, cs_listener **out)
{
    l->closed = false;
    l->refs = 1;
    consort_err rc =
        cs_tcp_listen_owned(l->loop, address, tcp_accept_cb, l, listener_released, out);
    if (rc != CONSORT_OK)
        cs_tls_listen_ctx_unref(l);
    return rc;
}

/* ---- TLS listeners ---- */

typedef struct tls_listener {
    cs_tls_listen_ctx base; /* first */
    cs_accept_cb on_accept;
    void *ctx;
} tls_listener;

static void tls_listener_destroy(cs_tls_listen_ctx *l)
{
    cs_free(l);
}

static void handshake_cb(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    tls_listener *l = ctx;
    if (err != CONSORT_OK)
        cs_log_debug("net", "TLS: refused a connection: %s", msg);
    else if (l->base.closed)
        cs_stream_close(s);
    else
        l->on_accept(l->ctx, s);
    cs_tls_listen_ctx_unref(&l->base);
}

consort_err cs_tls_listen(uv_loop_t *loop, const char *address, cs_tls_config *cfg,
                          cs_accept_cb on_accept, void *ctx, cs_listener **out)
{
    *out = NULL;
    CS_ENSURE(cs_tls_config_role(cfg) == CS_TLS_SERVER, CONSORT_E_INVALID_ARGUMENT,
              "TLS: listening needs a server configuration");
    CS_ENSURE(on_accept != NULL, CONSORT_E_INVALID_ARGUMENT, "TLS: listen without on_accept");
    tls_listener *l = cs_calloc(1, sizeof *l);
    CS_ENSURE(l != NULL, CONSORT_E_NOMEM, "TLS: out of memory");
    l->base = (cs_tls_listen_ctx){.loop = loop,
                                  .tls = cs_tls_config_ref(cfg),
                                  .on_handshake = handshake_cb,
                                  .destroy = tls_listener_destroy};
    l->on_accept = on_accept;
    l->ctx = ctx;
    return cs_tls_listen_ctx_start(&l->base, address, out);
}

/* ---- connect ---- */

typedef struct connect_ctx {
    uv_loop_t *loop;
    cs_tls_config *cfg;
    cs_connect_cb on_connect;
    void *ctx;
} connect_ctx;

static void tcp_connected_cb(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    connect_ctx c = *(connect_ctx *)ctx;
    cs_free(ctx);
    char why[CS_ERRMSG_MAX];
    if (err == CONSORT_OK) {
        err = cs_tls_stream_start(c.loop, s, c.cfg, 0, c.on_connect, c.ctx);
        msg = consort_errmsg(); /* synchronous: the failure just returned */
    }
    snprintf(why, sizeof why, "%s", err != CONSORT_OK ? msg : "");
    cs_tls_config_free(c.cfg);
    if (err != CONSORT_OK)
        c.on_connect(c.ctx, NULL, err, why);
}

consort_err cs_tls_connect(uv_loop_t *loop, const char *address, cs_tls_config *cfg,
                           cs_connect_cb on_connect, void *ctx)
{
    CS_ENSURE(cs_tls_config_role(cfg) == CS_TLS_CLIENT, CONSORT_E_INVALID_ARGUMENT,
              "TLS: connecting needs a client configuration");
    CS_ENSURE(on_connect != NULL, CONSORT_E_INVALID_ARGUMENT, "TLS: connect without a callback");
    connect_ctx *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "TLS: out of memory");
    c->loop = loop;
    c->cfg = cs_tls_config_ref(cfg);
    c->on_connect = on_connect;
    c->ctx = ctx;
    consort_err rc = cs_tcp_connect(loop, address, tcp_connected_cb, c);
    if (rc != CONSORT_OK) {
        cs_tls_config_free(c->cfg);
        cs_free(c);
    }
    return rc;
}
