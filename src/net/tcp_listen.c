/* TCP listeners and outbound connections (tcp.h). */
#include "net/tcp_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/reserve.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct cs_listener {
    uv_tcp_t tcp;
    cs_listen_gate *gate; /* counts and caps connections (listen_gate.h) */
    cs_accept_cb on_accept;
    void *ctx;
    void (*ctx_free)(void *ctx);
    bool closing;
    uint16_t port;
    char address[CS_NET_ADDRESS_MAX];
};

static void listener_closed_cb(uv_handle_t *h)
{
    cs_listener *l = h->data;
    if (l->gate != NULL) /* a listener that never listened */
        cs_listen_gate_close(l->gate);
    cs_free(l);
}

static void free_handle_cb(uv_handle_t *h)
{
    cs_free(h);
}

static void connection_cb(uv_stream_t *server, int status)
{
    cs_listener *l = server->data;
    if (l->closing)
        return;
    if (status < 0) { /* e.g. EMFILE: libuv has dropped the connection it could not take */
        cs_listen_gate_accept_failed(l->gate, status);
        return;
    }
    cs_tcp_stream *s;
    if (cs_tcp_stream_new(server->loop, &s) != CONSORT_OK) {
        cs_log_warn("net", "tcp %s: dropping a connection: %s", l->address, consort_errmsg());
        /* Take the connection off the backlog so it is not offered forever. */
        uv_tcp_t *tmp = cs_malloc(sizeof *tmp);
        if (tmp != NULL && uv_tcp_init(server->loop, tmp) == 0) {
            (void)uv_accept(server, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, free_handle_cb);
        } else {
            cs_free(tmp);
        }
        return;
    }
    int rc = uv_accept(server, (uv_stream_t *)cs_tcp_stream_handle(s));
    if (rc != 0) {
        (void)cs_net_uv_fail(rc, "tcp %s: accept", l->address);
        cs_log_warn("net", "%s", consort_errmsg());
        cs_tcp_stream_discard(s);
        return;
    }
    struct sockaddr_storage peer;
    cs_tcp_stream_connected(s, &peer);
    cs_conn_key key;
    if (!cs_listen_gate_admit(l->gate, (const struct sockaddr *)&peer,
                              cs_stream_peer_address(cs_tcp_stream_base(s)), &key)) {
        cs_tcp_stream_discard(s); /* closes the socket now: nothing was read or sent */
        return;
    }
    cs_tcp_stream_hold(s, l->gate, &key);
    l->on_accept(l->ctx, cs_tcp_stream_base(s));
}

static consort_err bind_and_listen(cs_listener *l, const char *address)
{
    struct sockaddr_storage ss;
    CS_TRY(cs_net_parse_address(address, &ss));
    /* an address bound at start (reserve.h) is taken over, never bound twice */
    int fd = cs_net_reserved_take((const struct sockaddr *)&ss);
    int rc =
        fd >= 0 ? uv_tcp_open(&l->tcp, fd) : uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (rc != 0 && fd >= 0)
        close(fd); /* not the handle's: uv_tcp_open failed */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, CS_TCP_BACKLOG, connection_cb);
    if (rc != 0)
        return cs_net_uv_fail(rc, "tcp: listen on %s", address);
    int len = sizeof ss;
    rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0)
        return cs_net_uv_fail(rc, "tcp: address of %s", address);
    cs_net_format_address((const struct sockaddr *)&ss, l->address);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return cs_listen_gate_new(l->tcp.loop, l->address, &l->gate);
}

consort_err cs_tcp_listen_owned(uv_loop_t *loop, const char *address, cs_accept_cb on_accept,
                                void *ctx, void (*ctx_free)(void *ctx), cs_listener **out)
{
    *out = NULL;
    CS_ENSURE(on_accept != NULL, CONSORT_E_INVALID_ARGUMENT, "tcp: listen without on_accept");
    cs_listener *l = cs_calloc(1, sizeof *l);
    CS_ENSURE(l != NULL, CONSORT_E_NOMEM, "tcp: out of memory");
    int rc = uv_tcp_init(loop, &l->tcp);
    if (rc != 0) {
        cs_free(l);
        return cs_net_uv_fail(rc, "tcp: listener handle");
    }
    l->tcp.data = l;
    l->on_accept = on_accept;
    l->ctx = ctx;
    consort_err err = bind_and_listen(l, address);
    if (err != CONSORT_OK) {
        l->closing = true; /* ctx stays the caller's: ctx_free is not set yet */
        uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
        return err;
    }
    l->ctx_free = ctx_free;
    *out = l;
    return CONSORT_OK;
}

consort_err cs_tcp_listen(uv_loop_t *loop, const char *address, cs_accept_cb on_accept, void *ctx,
                          cs_listener **out)
{
    return cs_tcp_listen_owned(loop, address, on_accept, ctx, NULL, out);
}

uint16_t cs_listener_port(const cs_listener *l)
{
    return l->port;
}

const char *cs_listener_address(const cs_listener *l)
{
    return l->address;
}

void cs_listener_set_limits(cs_listener *l, const cs_conn_limits *limits)
{
    cs_listen_gate_set_limits(l->gate, limits);
}

void cs_listener_stats_get(const cs_listener *l, cs_listener_stats *out)
{
    cs_listen_gate_stats(l->gate, out);
}

void cs_listener_close(cs_listener *l)
{
    if (l == NULL || l->closing)
        return;
    l->closing = true;
    /* The owner learns of the close now, not when libuv releases the handle
     * later: a layered transport (TLS) must stop delivering connections whose
     * handshakes finish in between, to a user who may already be gone. Once
     * closing, this listener never touches ctx again. */
    if (l->ctx_free != NULL)
        l->ctx_free(l->ctx);
    l->ctx_free = NULL;
    cs_listen_gate_close(l->gate); /* connections still open keep it until they close */
    l->gate = NULL;
    uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
}

/* ---- connect ---- */

typedef struct connect_ctx {
    cs_connect_cb cb;
    void *ctx;
    char address[CS_NET_ADDRESS_MAX];
} connect_ctx;

static void connect_cb(uv_connect_t *req, int status)
{
    cs_tcp_stream *s = cs_tcp_stream_from_connect_req(req);
    connect_ctx *c = req->data;
    connect_ctx copy = *c;
    cs_free(c);
    if (status < 0) {
        consort_err rc = cs_net_uv_fail(status, "tcp: connect to %s", copy.address);
        char msg[CS_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", consort_errmsg());
        cs_tcp_stream_discard(s);
        copy.cb(copy.ctx, NULL, rc, msg);
        return;
    }
    cs_tcp_stream_connected(s, NULL);
    copy.cb(copy.ctx, cs_tcp_stream_base(s), CONSORT_OK, "");
}

consort_err cs_tcp_connect(uv_loop_t *loop, const char *address, cs_connect_cb on_connect,
                           void *ctx)
{
    CS_ENSURE(on_connect != NULL, CONSORT_E_INVALID_ARGUMENT, "tcp: connect without a callback");
    struct sockaddr_storage ss;
    CS_TRY(cs_net_parse_address(address, &ss));
    connect_ctx *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "tcp: out of memory");
    c->cb = on_connect;
    c->ctx = ctx;
    cs_net_format_address((const struct sockaddr *)&ss, c->address);
    cs_tcp_stream *s;
    consort_err err = cs_tcp_stream_new(loop, &s);
    if (err != CONSORT_OK) {
        cs_free(c);
        return err;
    }
    uv_connect_t *req = cs_tcp_stream_connect_req(s);
    req->data = c;
    int rc = uv_tcp_connect(req, cs_tcp_stream_handle(s), (const struct sockaddr *)&ss, connect_cb);
    if (rc != 0) {
        cs_free(c);
        cs_tcp_stream_discard(s);
        return cs_net_uv_fail(rc, "tcp: connect to %s", address);
    }
    return CONSORT_OK;
}
