/*
 * Private to the listeners layered on TLS (tls_listen.c, attested_config.c):
 * the context a listener shares with the connections it is still setting up
 * (TLS handshake, then, for attested channels, the hello exchange).
 *
 * The listener and every connection in set-up hold a reference. Closing the
 * listener drops its reference and sets `closed`, so a connection whose
 * set-up finishes later is closed instead of being delivered to a user who
 * may already be gone. Embed the context first in the layer's own one.
 */
#ifndef CS_NET_TLS_LISTEN_PRIV_H
#define CS_NET_TLS_LISTEN_PRIV_H

#include "net/tls_stream.h"

typedef struct cs_tls_listen_ctx cs_tls_listen_ctx;

struct cs_tls_listen_ctx {
    /* set by the layer before cs_tls_listen_ctx_start */
    uv_loop_t *loop;
    cs_tls_config *tls;  /* a reference, released with the context */
    uint64_t timeout_ms; /* handshake (0: CS_TLS_HANDSHAKE_TIMEOUT_MS) */
    /* Each handshake's outcome (ctx: this context). A reference is held for
     * it, which the callee drops with cs_tls_listen_ctx_unref when the
     * connection's set-up has ended. */
    cs_connect_cb on_handshake;
    /* Frees the layer's context, at the last reference (after `tls`). */
    void (*destroy)(cs_tls_listen_ctx *l);
    /* state */
    bool closed; /* the listener has closed: deliver nothing more */
    int refs;
};

/*
 * Listens on `address` with `l` (the listener's reference): each accepted
 * TCP connection runs a TLS handshake whose outcome goes to l->on_handshake.
 * On failure `l` is released (l->destroy has run) and the error returned.
 */
CS_MUST_CHECK consort_err cs_tls_listen_ctx_start(cs_tls_listen_ctx *l, const char *address,
                                                  cs_listener **out);
void cs_tls_listen_ctx_unref(cs_tls_listen_ctx *l);

#endif
