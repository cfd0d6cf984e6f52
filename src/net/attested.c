/*
 * The attested channel (attested.h): the hello exchange over an
 * established TLS stream, the verification of the peer's hello, and the
 * stream handed to the user once the peer is attested.
 *
 * The channel is a cs_stream wrapping the TLS stream. Until the peer's
 * hello has verified, nothing reaches the user and nothing the user could
 * write exists. Bytes that follow the hello in the same read are kept and
 * delivered right after the ready callback returns.
 */
#include "net/attested_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/tls.h"
#include "net/timer.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct channel {
    cs_stream base;
    cs_stream *inner; /* the TLS stream */
    cs_attested_config *cfg;
    cs_timer *timer; /* the hello's deadline */
    cs_timer *later; /* delivers held bytes after a resume (made at the first need) */
    uv_loop_t *loop;
    cs_buf exporter; /* secret */
    cs_buf in;       /* hello bytes, then data that followed it */
    cs_attested_cb on_done;
    void *done_ctx;
    bool ready, closing;
    bool paused;   /* cs_stream_pause: `in` holds what arrives until resumed */
    bool accepted; /* a listener's: it logs the refusal, not the channel */
    cs_stream_cbs cbs;
    void *ctx;
    bool has_cbs;
    consort_err reason;
    char reason_msg[CS_ERRMSG_MAX];
    /* the peer, once verified */
    char node_id[CS_NODE_ID_LEN + 1];
    char raft_address[CS_RAFT_ADDRESS_MAX + 1];
    cs_claims claims;
    cs_attested_peer peer;
} channel;

static const cs_stream_vtbl channel_vtbl;

static channel *from_base(const cs_stream *s)
{
    return (channel *)(void *)((const char *)s - offsetof(channel, base));
}

/* Tells the connector (if still owed) that the channel failed with `rc`. */
static void report_failure(channel *ch, consort_err rc)
{
    if (ch->on_done == NULL)
        return;
    cs_attested_cb cb = ch->on_done;
    ch->on_done = NULL;
    cb(ch->done_ctx, NULL, NULL, rc, ch->reason_msg);
}

/* Records and logs why the channel failed (the first reason wins); `msg` is
 * the failure's message (consort_errmsg() right after a failing call). */
static void record(channel *ch, consort_err rc, const char *msg)
{
    if (ch->reason != CONSORT_OK)
        return;
    ch->reason = rc;
    snprintf(ch->reason_msg, sizeof ch->reason_msg, "attested channel with %s refused: %s",
             cs_stream_peer_address(ch->inner), msg);
    if (!ch->accepted)
        cs_log_warn("net", "%s", ch->reason_msg);
}

/* Refuses the peer: logs the precise reason, tells the connector, closes. */
static void refuse(channel *ch, consort_err rc)
{
    if (ch->closing)
        return;
    ch->closing = true;
    record(ch, rc, consort_errmsg());
    report_failure(ch, ch->reason);
    cs_stream_close(ch->inner);
}

/* The checks of attested.h step 3, in order. */
static consort_err verify_hello(channel *ch, cs_slice body)
{
    cs_attested_hello hello;
    CS_TRY(cs_attested_hello_decode(body, &hello));
    const cs_x509 *cert = cs_stream_peer_cert(ch->inner);
    CS_ENSURE(cert != NULL, CONSORT_E_BAD_CERTIFICATE, "the peer presented no certificate");
    cs_key *peer_key;
    CS_TRY(cs_x509_public_key(cert, &peer_key));
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_verify_opts opts = *ch->cfg->verify_opts;
    if (opts.now == 0)
        opts.now = (int64_t)time(NULL);
    char expected_id[CS_NODE_ID_LEN + 1];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_evidence_decode(hello.evidence, &ev), done);
    CS_TRY_GOTO(rc, cs_evidence_verify(&ev, &opts, &ch->claims), done);
    /* the evidence is for this key on this connection */
    CS_TRY_GOTO(rc, cs_claims_check_binding(&ch->claims, peer_key, cs_buf_slice(&ch->exporter)),
                done);
    CS_TRY_GOTO(rc, cs_attested_node_id(peer_key, expected_id), done);
    CS_ENSURE_GOTO(rc, cs_slice_eq(hello.node_id, cs_slice_str(expected_id)), done,
                   CONSORT_E_BAD_CERTIFICATE,
                   "node id %.*s does not belong to the TLS key (its node id is %s)",
                   (int)hello.node_id.len, (const char *)hello.node_id.ptr, expected_id);
    CS_TRY_GOTO(rc, cs_policy_check(ch->cfg->policy, &ch->claims), done);
done:
    cs_evidence_cleanup(&ev);
    cs_key_free(peer_key);
    CS_TRY(rc);
    memcpy(ch->node_id, expected_id, sizeof ch->node_id);
    memcpy(ch->raft_address, hello.raft_address.ptr, hello.raft_address.len);
    ch->raft_address[hello.raft_address.len] = '\0';
    ch->peer = (cs_attested_peer){.node_id = ch->node_id,
                                  .raft_id = hello.raft_id,
                                  .raft_address = ch->raft_address,
                                  .claims = &ch->claims,
                                  .cert = cert};
    return CONSORT_OK;
}

static void deliver(channel *ch)
{
    if (ch->in.len == 0 || ch->closing || ch->paused || !ch->has_cbs || ch->cbs.on_data == NULL)
        return;
    cs_buf rest;
    cs_buf_init(&rest, 0);
    cs_buf_move(&rest, &ch->in);
    ch->cbs.on_data(ch->ctx, &ch->base, cs_buf_slice(&rest));
    cs_buf_cleanup(&rest);
}

/* Accumulates the peer's hello; verifies it once complete. */
static void hello_data(channel *ch, cs_slice data)
{
    if (cs_buf_append_slice(&ch->in, data) != CONSORT_OK) {
        refuse(ch, cs_err_context(CONSORT_E_TOO_LARGE, "hello"));
        return;
    }
    if (ch->in.len < 4)
        return;
    cs_cursor c;
    cs_cursor_init(&c, cs_buf_slice(&ch->in));
    uint32_t len = 0;
    if (cs_cursor_read_be32(&c, &len) != CONSORT_OK) /* cannot happen: 4 bytes are there */
        return;
    if (len > CS_ATTESTED_HELLO_MAX) {
        refuse(ch, cs_fail(CONSORT_E_TOO_LARGE, "hello: length %u, at most %d", len,
                           CS_ATTESTED_HELLO_MAX));
        return;
    }
    if (cs_cursor_remaining(&c) < len)
        return;
    consort_err rc = verify_hello(ch, CS_SLICE(ch->in.ptr + 4, len));
    if (rc != CONSORT_OK) {
        refuse(ch, rc);
        return;
    }
    /* keep what followed the hello */
    size_t used = 4 + (size_t)len;
    memmove(ch->in.ptr, ch->in.ptr + used, ch->in.len - used);
    ch->in.len -= used;
    ch->in.max = CS_BUF_DEFAULT_MAX;
    ch->ready = true;
    cs_timer_free(ch->timer);
    ch->timer = NULL;
    cs_log_debug("net", "attested channel with %s: node %s (raft %llu at %s) ready",
                 cs_stream_peer_address(ch->inner), ch->node_id,
                 (unsigned long long)ch->peer.raft_id, ch->raft_address);
    cs_attested_cb cb = ch->on_done;
    ch->on_done = NULL;
    cb(ch->done_ctx, &ch->base, &ch->peer, CONSORT_OK, "");
    deliver(ch);
}

static void inner_data_cb(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    channel *ch = ctx;
    if (ch->closing)
        return;
    if (!ch->ready) {
        hello_data(ch, data);
        return;
    }
    if (ch->in.len > 0 || ch->paused) { /* bytes are held: keep the order */
        if (cs_buf_append_slice(&ch->in, data) != CONSORT_OK)
            cs_stream_close(&ch->base);
        else
            deliver(ch);
        return;
    }
    if (ch->has_cbs && ch->cbs.on_data != NULL)
        ch->cbs.on_data(ch->ctx, &ch->base, data);
}

static void inner_close_cb(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    channel *ch = ctx;
    if (ch->on_done != NULL) { /* closed before the peer was attested */
        if (reason != CONSORT_OK)
            record(ch, reason, msg);
        else
            record(ch, CONSORT_E_TRUNCATED, "closed before the hello");
        report_failure(ch, ch->reason);
    } else if (ch->ready && ch->has_cbs && ch->cbs.on_close != NULL) {
        ch->cbs.on_close(ch->ctx, &ch->base, reason, msg);
    }
    cs_timer_free(ch->timer);
    cs_timer_free(ch->later);
    cs_attested_config_free(ch->cfg);
    cs_buf_cleanup(&ch->exporter);
    cs_buf_cleanup(&ch->in);
    cs_free(ch);
}

static void timeout_cb(void *ctx)
{
    channel *ch = ctx;
    refuse(ch, cs_fail(CONSORT_E_TIMEOUT, "no valid hello within %llu ms",
                       (unsigned long long)ch->cfg->timeout_ms));
}

/* ---- the stream handed to the user ---- */

static consort_err ch_write(cs_stream *base, cs_slice data)
{
    channel *ch = from_base(base);
    CS_ENSURE(!ch->closing, CONSORT_E_STATE, "attested channel with %s: write after close",
              cs_stream_peer_address(ch->inner));
    return cs_stream_write(ch->inner, data);
}

static void ch_close(cs_stream *base)
{
    channel *ch = from_base(base);
    if (ch->closing)
        return;
    ch->closing = true;
    cs_stream_close(ch->inner);
}

static void ch_set_cbs(cs_stream *base, const cs_stream_cbs *cbs, void *ctx)
{
    channel *ch = from_base(base);
    ch->cbs = *cbs;
    ch->ctx = ctx;
    ch->has_cbs = true;
}

static void later_cb(void *ctx)
{
    deliver(ctx);
}

/* Paused with the TLS stream under it; bytes held (those that followed the
 * hello) are delivered after a resume from a 0 ms timer, never inside it. */
static void ch_set_paused(cs_stream *base, bool paused)
{
    channel *ch = from_base(base);
    if (ch->paused == paused || ch->closing)
        return;
    ch->paused = paused;
    if (paused) {
        cs_stream_pause(ch->inner);
        return;
    }
    cs_stream_resume(ch->inner);
    if (ch->in.len == 0)
        return;
    if (ch->later == NULL && cs_timer_new(ch->loop, later_cb, ch, &ch->later) != CONSORT_OK) {
        record(ch, CONSORT_E_NOMEM, consort_errmsg());
        ch_close(base); /* on_close reports it */
        return;
    }
    cs_timer_start(ch->later, 0);
}

static const struct cs_x509 *ch_peer_cert(const cs_stream *base)
{
    return cs_stream_peer_cert(from_base(base)->inner);
}

static size_t ch_write_queue_len(const cs_stream *base)
{
    return cs_stream_write_queue_len(from_base(base)->inner);
}

static const char *ch_peer_address(const cs_stream *base)
{
    return cs_stream_peer_address(from_base(base)->inner);
}

static const cs_stream_vtbl channel_vtbl = {
    .write = ch_write,
    .close = ch_close,
    .set_cbs = ch_set_cbs,
    .peer_cert = ch_peer_cert,
    .write_queue_len = ch_write_queue_len,
    .peer_address = ch_peer_address,
    .set_paused = ch_set_paused,
};

const cs_attested_peer *cs_attested_stream_peer(const cs_stream *s)
{
    return s != NULL && s->vt == &channel_vtbl ? &from_base(s)->peer : NULL;
}

/* Our hello: evidence for our key and this connection's exporter. */
static consort_err send_hello(channel *ch)
{
    const cs_tls *tls = cs_tls_stream_engine(ch->inner);
    CS_ENSURE(tls != NULL, CONSORT_E_INVALID_ARGUMENT, "attested channel: not a TLS stream");
    CS_TRY(cs_tls_export(tls, CS_ATTESTED_EXPORTER_LABEL, CS_ATTESTED_EXPORTER_LEN, &ch->exporter));
    const cs_attested_config *cfg = ch->cfg;
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_buf hello;
    cs_buf_init(&hello, 0);
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, cfg->attest(cfg->attest_ctx, cfg->key, cs_buf_slice(&ch->exporter), &ev),
                    done, "attester");
    CS_TRY_GOTO(
        rc, cs_attested_hello_encode(&ev, cfg->node_id, cfg->raft_id, cfg->raft_address, &hello),
        done);
    CS_TRY_GOTO(rc, cs_stream_write(ch->inner, cs_buf_slice(&hello)), done);
done:
    cs_buf_cleanup(&hello);
    cs_evidence_cleanup(&ev);
    return rc;
}

static consort_err start(uv_loop_t *loop, cs_stream *tls, cs_attested_config *cfg,
                         cs_attested_cb on_done, void *ctx, bool accepted)
{
    consort_err rc;
    channel *ch = cs_calloc(1, sizeof *ch);
    CS_ENSURE_GOTO(rc, ch != NULL, fail_close, CONSORT_E_NOMEM, "out of memory");
    ch->accepted = accepted;
    ch->base.vt = &channel_vtbl;
    ch->inner = tls;
    ch->loop = loop;
    ch->cfg = cs_attested_config_ref(cfg);
    ch->on_done = on_done;
    ch->done_ctx = ctx;
    cs_buf_init_secret(&ch->exporter, CS_ATTESTED_EXPORTER_LEN);
    cs_buf_init_secret(&ch->in, CS_ATTESTED_HELLO_MAX + 4);
    CS_TRY_GOTO(rc, cs_timer_new(loop, timeout_cb, ch, &ch->timer), fail_free);
    cs_timer_start(ch->timer, cfg->timeout_ms);
    const cs_stream_cbs cbs = {.on_data = inner_data_cb, .on_close = inner_close_cb};
    cs_stream_set_cbs(tls, &cbs, ch);
    rc = send_hello(ch);
    if (rc != CONSORT_OK) { /* reported through on_done when the stream has closed */
        record(ch, rc, consort_errmsg());
        ch->closing = true;
        cs_stream_close(tls);
    }
    return CONSORT_OK;

fail_free:
    cs_attested_config_free(ch->cfg);
    cs_free(ch);
fail_close:
    cs_stream_close(tls);
    return cs_err_context(rc, "attested channel");
}

consort_err cs_attested_start(uv_loop_t *loop, cs_stream *tls, cs_attested_config *cfg,
                              cs_attested_cb on_done, void *ctx)
{
    return start(loop, tls, cfg, on_done, ctx, false);
}

consort_err cs_attested_start_accepted(uv_loop_t *loop, cs_stream *tls, cs_attested_config *cfg,
                                       cs_attested_cb on_done, void *ctx)
{
    return start(loop, tls, cfg, on_done, ctx, true);
}
