/* TLS listeners and outbound TLS connections (tls_stream.h) over TCP. */
#include "net/tls_stream.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/tcp.h"

/*
 * Shared by a listener and the handshakes it started: each holds a
 * reference, so a handshake that finishes after the listener closed finds
 * `closed` set and drops its connection instead of delivering it.
 */
typedef struct listen_ctx {
    uv_loop_t *loop;
    cs_tls_config *cfg;
    cs_accept_cb on_accept;
    void *ctx;
    bool closed;
    int refs;
} listen_ctx;

static void listen_ctx_unref(listen_ctx *l)
{
    if (--l->refs > 0)
        return;
    cs_tls_config_free(l->cfg);
    cs_free(l);
}

static void listener_released(void *ctx)
{
    listen_ctx *l = ctx;
    l->closed = true;
    listen_ctx_unref(l);
}

static void handshake_cb(void *ctx, cs_stream *s, consort_err err)
{
    listen_ctx *l = ctx;
    if (err != CONSORT_OK)
        cs_log_debug("net", "TLS: refused a connection: %s", consort_errmsg());
    else if (l->closed)
        cs_stream_close(s);
    else
        l->on_accept(l->ctx, s);
    listen_ctx_unref(l);
}

static void tcp_accept_cb(void *ctx, cs_stream *s)
{
    listen_ctx *l = ctx;
    l->refs++;
    if (cs_tls_stream_start(l->loop, s, l->cfg, 0, handshake_cb, l) != CONSORT_OK) {
        cs_log_warn("net", "TLS: cannot start a handshake with %s: %s", cs_stream_peer_address(s),
                    consort_errmsg());
        listen_ctx_unref(l);
    }
}

consort_err cs_tls_listen(uv_loop_t *loop, const char *address, cs_tls_config *cfg,
                          cs_accept_cb on_accept, void *ctx, cs_listener **out)
{
    *out = NULL;
    CS_ENSURE(cs_tls_config_role(cfg) == CS_TLS_SERVER, CONSORT_E_INVALID_ARGUMENT,
              "TLS: listening needs a server configuration");
    CS_ENSURE(on_accept != NULL, CONSORT_E_INVALID_ARGUMENT, "TLS: listen without on_accept");
    listen_ctx *l = cs_calloc(1, sizeof *l);
    CS_ENSURE(l != NULL, CONSORT_E_NOMEM, "TLS: out of memory");
    l->loop = loop;
    l->cfg = cs_tls_config_ref(cfg);
    l->on_accept = on_accept;
    l->ctx = ctx;
    l->refs = 1;
    consort_err rc = cs_tcp_listen_owned(loop, address, tcp_accept_cb, l, listener_released, out);
    if (rc != CONSORT_OK)
        listen_ctx_unref(l);
    return rc;
}

/* ---- connect ---- */

typedef struct connect_ctx {
    uv_loop_t *loop;
    cs_tls_config *cfg;
    cs_connect_cb on_connect;
    void *ctx;
} connect_ctx;

static void tcp_connected_cb(void *ctx, cs_stream *s, consort_err err)
{
    connect_ctx c = *(connect_ctx *)ctx;
    cs_free(ctx);
    if (err == CONSORT_OK)
        err = cs_tls_stream_start(c.loop, s, c.cfg, 0, c.on_connect, c.ctx);
    cs_tls_config_free(c.cfg);
    if (err != CONSORT_OK)
        c.on_connect(c.ctx, NULL, err);
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
