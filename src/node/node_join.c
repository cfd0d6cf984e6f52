/*
 * The join protocol (node.md "Join"), over attested control channels
 * (hello raft id 0, node_net.c). Messages: be32 length || CBOR map with
 * text keys, one request and one answer per channel:
 *
 *   joiner -> target  {"type": "join", "node_address": t, "rpc_address": t,
 *                      "evidence": bstr (envelope binding the joiner's key,
 *                      empty nonce; kept as its quote)}
 *   target -> joiner  {"type": "redirect", "node_address": t}   not the leader
 *                     {"type": "error", "message": t}           try again later
 *                     {"type": "welcome", "service_key": bstr (PEM),
 *                      "service_cert": bstr (DER), "node_cert": bstr (DER),
 *                      "ledger_secret": bstr 32}
 *
 * The channel already attested the joiner (evidence bound to its TLS key
 * and this connection, code id in public:consort.code_ids). A target that
 * is not the leader redirects the joiner to the leader's node_address
 * (node.md says "forwards"; a redirect keeps secrets off relays). The
 * leader commits the node's record (status Trusted, node certificate it
 * issues) in an internal transaction, adds the node to raft as a spare,
 * answers with the service identity and ledger secret, then promotes it to
 * voter once it caught up. One join at a time (others hear "busy").
 *
 * The joiner trusts the answer only from a peer whose certificate was
 * issued by the pinned service certificate (service_cert in its config),
 * and checks that the welcome's service certificate is that one and that
 * the node certificate is for its own key.
 */
#include "node/node_join_priv.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "base/log.h"

#include <string.h>

consort_err node_msg_frame_begin(cs_buf *b, size_t pairs, const char *type)
{
    uint8_t *len;
    CS_TRY(cs_buf_extend(b, 4, &len));
    CS_TRY(cs_cbor_write_map(b, pairs));
    CS_TRY(cs_cbor_write_cstr(b, "type"));
    return cs_cbor_write_cstr(b, type);
}

void node_msg_frame_end(cs_buf *b)
{
    size_t body = b->len - 4;
    b->ptr[0] = (uint8_t)(body >> 24);
    b->ptr[1] = (uint8_t)(body >> 16);
    b->ptr[2] = (uint8_t)(body >> 8);
    b->ptr[3] = (uint8_t)body;
}

consort_err node_msg_take(cs_buf *in, cs_slice data, cs_buf *msg, bool *complete)
{
    *complete = false;
    CS_TRY(cs_buf_append_slice(in, data));
    if (in->len < 4)
        return CONSORT_OK;
    size_t len =
        (size_t)in->ptr[0] << 24 | (size_t)in->ptr[1] << 16 | (size_t)in->ptr[2] << 8 | in->ptr[3];
    CS_ENSURE(len <= NODE_MSG_MAX, CONSORT_E_TOO_LARGE, "join message of %zu bytes", len);
    if (in->len < 4 + len)
        return CONSORT_OK;
    CS_ENSURE(in->len == 4 + len, CONSORT_E_TRAILING_DATA, "bytes after the join message");
    CS_TRY(cs_buf_set(msg, CS_SLICE(in->ptr + 4, len)));
    *complete = true;
    return CONSORT_OK;
}

consort_err node_msg_key(cs_cbor_reader *r, const char *want)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(r, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "join message: \"%.*s\" where \"%s\" was expected", (int)k.len, (const char *)k.ptr,
              want);
    return CONSORT_OK;
}

consort_err node_msg_text(cs_cbor_reader *r, const char *name, char *out, size_t n)
{
    cs_slice s;
    CS_TRY(node_msg_key(r, name));
    CS_TRY(cs_cbor_read_text(r, &s));
    CS_ENSURE(s.len < n && memchr(s.ptr, 0, s.len) == NULL, CONSORT_E_MALFORMED,
              "join message: %s of %zu bytes", name, s.len);
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return CONSORT_OK;
}

consort_err node_msg_open(cs_slice msg, cs_cbor_reader *r, uint64_t *pairs, char type[16])
{
    cs_cbor_reader_init(r, msg);
    CS_TRY(cs_cbor_read_map(r, pairs));
    CS_ENSURE(*pairs >= 1 && *pairs <= 8, CONSORT_E_MALFORMED, "join message of %llu members",
              (unsigned long long)*pairs);
    return node_msg_text(r, "type", type, 16);
}

/* ---- the joiner ---- */

#define JOIN_RETRY_MS     1000
#define JOIN_MAX_REDIRECT 8

struct node_join {
    cs_node *n;
    cs_stream *s;
    cs_buf in, msg;
    char target[CS_NODE_ADDR_MAX];
    unsigned redirects;
    uv_timer_t retry;
    bool timer_init, done, stopped;
};

static void join_connect(node_join *j);

static void retry_cb(uv_timer_t *t)
{
    join_connect(t->data);
}

static void join_retry(node_join *j, const char *why)
{
    if (j->done || j->stopped)
        return;
    cs_log_warn(NODE_LOG, "node %s: join via %s: %s; retrying in %d ms", j->n->node_id, j->target,
                why, JOIN_RETRY_MS);
    snprintf(j->target, sizeof j->target, "%s", j->n->cfg.join_target);
    j->redirects = 0;
    uv_timer_start(&j->retry, retry_cb, JOIN_RETRY_MS, 0);
}

static void joiner_close(node_join *j)
{
    if (j->s != NULL) {
        cs_stream *s = j->s;
        j->s = NULL;
        cs_stream_close(s);
    }
}

static void joiner_data(void *ctx, cs_stream *s, cs_slice data)
{
    node_join *j = ctx;
    (void)s;
    bool complete;
    consort_err rc = node_msg_take(&j->in, data, &j->msg, &complete);
    if (rc == CONSORT_OK && !complete)
        return;
    joiner_close(j);
    char type[16] = "", addr[CS_NODE_ADDR_MAX] = "", why[CS_ERRMSG_MAX] = "";
    cs_cbor_reader r;
    uint64_t pairs;
    if (rc == CONSORT_OK)
        rc = node_msg_open(cs_buf_slice(&j->msg), &r, &pairs, type);
    if (rc == CONSORT_OK && strcmp(type, "welcome") == 0) {
        rc = node_join_welcome(j->n, &r, pairs);
        if (rc == CONSORT_OK || j->n->node_cert != NULL) {
            j->done = true; /* admitted; a failure past this point is fatal */
            if (rc != CONSORT_OK)
                node_fail(j->n, rc, "starting after the join");
            return;
        }
    } else if (rc == CONSORT_OK && strcmp(type, "redirect") == 0 && pairs == 2 &&
               node_msg_text(&r, "node_address", addr, sizeof addr) == CONSORT_OK &&
               j->redirects < JOIN_MAX_REDIRECT) {
        cs_log_info(NODE_LOG, "node %s: join redirected to the leader at %s", j->n->node_id, addr);
        snprintf(j->target, sizeof j->target, "%s", addr);
        j->redirects++;
        join_connect(j);
        return;
    } else if (rc == CONSORT_OK && strcmp(type, "error") == 0 && pairs == 2 &&
               node_msg_text(&r, "message", why, sizeof why) == CONSORT_OK) {
        rc = cs_fail(CONSORT_E_STATE, "refused: %s", why);
    } else if (rc == CONSORT_OK) {
        rc = cs_fail(CONSORT_E_MALFORMED, "unexpected answer \"%s\"", type);
    }
    join_retry(j, consort_errmsg());
}

static void joiner_closed(void *ctx, cs_stream *s, consort_err reason)
{
    node_join *j = ctx;
    (void)reason;
    if (j->s == s) { /* not closed by us after the answer */
        j->s = NULL;
        join_retry(j, "channel closed before an answer");
    }
    node_net_done(j->n);
}

static consort_err send_request(node_join *j)
{
    cs_node *n = j->n;
    cs_buf b;
    cs_buf_init(&b, NODE_MSG_MAX);
    consort_err rc = node_msg_frame_begin(&b, 4, "join");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "node_address");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, n->cfg.node_address);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "rpc_address");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, n->cfg.rpc_address);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "evidence");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(&b, cs_buf_slice(&n->own_evidence));
    if (rc == CONSORT_OK) {
        node_msg_frame_end(&b);
        rc = cs_stream_write(j->s, cs_buf_slice(&b));
    }
    cs_buf_cleanup(&b);
    return rc;
}

static void joiner_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err)
{
    node_join *j = ctx;
    cs_node *n = j->n;
    if (err != CONSORT_OK) {
        join_retry(j, consort_errmsg());
        node_net_done(n);
        return;
    }
    /* the attempt's count now stands for the open stream (joiner_closed) */
    const cs_stream_cbs cbs = {.on_data = joiner_data, .on_close = joiner_closed};
    cs_stream_set_cbs(s, &cbs, j);
    if (j->stopped || j->done) {
        cs_stream_close(s);
        return;
    }
    /* only a node this (pinned) service admitted may answer */
    if (!node_net_is_service_issued(n, peer->cert)) {
        cs_stream_close(s);
        join_retry(j, "the target's certificate is not issued by the pinned service "
                      "certificate");
        return;
    }
    j->s = s;
    cs_buf_reset(&j->in);
    if (send_request(j) != CONSORT_OK) {
        joiner_close(j);
        join_retry(j, consort_errmsg());
    }
}

static void join_connect(node_join *j)
{
    cs_node *n = j->n;
    if (j->stopped || j->done)
        return;
    cs_log_info(NODE_LOG, "node %s: joining the service via %s", n->node_id, j->target);
    if (cs_attested_connect(n->loop, j->target, n->ctl_acfg, joiner_ready, j) != CONSORT_OK) {
        join_retry(j, consort_errmsg());
        return;
    }
    n->net_inflight++;
}

consort_err node_join_start(cs_node *n)
{
    node_join *j = cs_calloc(1, sizeof *j);
    CS_ENSURE(j != NULL, CONSORT_E_NOMEM, "join");
    j->n = n;
    cs_buf_init_secret(&j->in, NODE_MSG_MAX + 4);
    cs_buf_init_secret(&j->msg, NODE_MSG_MAX);
    snprintf(j->target, sizeof j->target, "%s", n->cfg.join_target);
    int rv = uv_timer_init(n->loop, &j->retry);
    if (rv != 0) {
        cs_buf_cleanup(&j->in);
        cs_buf_cleanup(&j->msg);
        cs_free(j);
        return cs_fail(CONSORT_E_IO, "join timer: %s", uv_strerror(rv));
    }
    j->retry.data = j;
    j->timer_init = true;
    n->join = j;
    join_connect(j);
    return CONSORT_OK;
}

static void join_timer_closed(uv_handle_t *h)
{
    node_join *j = h->data;
    node_closed_one(j->n);
}

void node_join_close(cs_node *n)
{
    node_join *j = n->join;
    if (j == NULL || j->stopped)
        return;
    j->stopped = true;
    joiner_close(j);
    n->closing++;
    uv_close((uv_handle_t *)&j->retry, join_timer_closed);
}

void node_join_free(cs_node *n)
{
    node_join *j = n->join;
    if (j == NULL)
        return;
    cs_buf_cleanup(&j->in);
    cs_buf_cleanup(&j->msg);
    cs_free(j);
    n->join = NULL;
}
