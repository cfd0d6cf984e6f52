/*
 * Admission (admit.h). Each control channel is one `join` object: it reads
 * one request, answers once and closes. While the leader admits a joiner
 * (record committed, raft add) the object also lives on after its channel
 * closed ("flow"); it is freed when both are over. The admission itself
 * frees itself once closed and no join object remains (like a libuv handle).
 */
#include "node/admit.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ADMIT_LOG "node"

typedef struct join join;

struct node_admit {
    uv_loop_t *loop;
    node_admit_ops ops;
    char node_id[CS_NODE_ID_LEN + 1];
    join *joins; /* every live join object */
    bool busy;   /* a join is being admitted */
    bool closed;
    cs_timer *tick; /* defers the close callback to the loop */
    void (*close_cb)(void *ctx);
    void *close_ctx;
    node_admit_stats stats;
};

struct join {
    node_admit *a;
    join *prev, *next;
    cs_stream *s; /* NULL once closed */
    cs_buf in, body;
    char node_id[CS_NODE_ID_LEN + 1];
    uint64_t raft_id;
    uint8_t code_id[32];
    cs_key *key; /* the joiner's (from its TLS certificate) */
    node_record rec;
    bool flow;    /* the leader is admitting it (transaction, raft add) */
    bool pending; /* its record is being committed Pending */
    char why[256];
};

static void maybe_gone(node_admit *a)
{
    if (!a->closed || a->joins != NULL || a->tick == NULL)
        return;
    cs_timer_start(a->tick, 0); /* tick_cb reports and frees, from the loop */
}

static void tick_cb(void *ctx)
{
    node_admit *a = ctx;
    if (!a->closed || a->joins != NULL)
        return;
    void (*cb)(void *) = a->close_cb;
    void *cb_ctx = a->close_ctx;
    cs_timer_free(a->tick);
    cs_free(a);
    if (cb != NULL)
        cb(cb_ctx);
}

static void join_free_if_done(join *j)
{
    if (j->s != NULL || j->flow)
        return;
    node_admit *a = j->a;
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        a->joins = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    cs_buf_cleanup(&j->in);
    cs_buf_cleanup(&j->body);
    cs_key_free(j->key);
    node_record_cleanup(&j->rec);
    cs_free(j);
    maybe_gone(a);
}

static void answer(join *j, const join_msg *m)
{
    cs_buf b;
    cs_buf_init_secret(&b, JOIN_MSG_MAX + 4);
    if (j->s != NULL && join_msg_encode(m, &b) == CONSORT_OK &&
        cs_stream_write(j->s, cs_buf_slice(&b)) != CONSORT_OK)
        cs_log_warn(ADMIT_LOG, "node %s: answer to joiner %s: %s", j->a->node_id, j->node_id,
                    consort_errmsg());
    cs_buf_cleanup(&b);
    if (j->s != NULL)
        cs_stream_close(j->s); /* on_closed follows */
}

static void refuse(join *j, const char *why)
{
    cs_log_warn(ADMIT_LOG, "node %s: join of %s refused: %s", j->a->node_id, j->node_id, why);
    j->a->stats.refused++;
    join_msg m = {.type = JOIN_MSG_ERROR};
    snprintf(m.message, sizeof m.message, "%s", why);
    answer(j, &m);
}

static void welcome(join *j)
{
    node_admit *a = j->a;
    cs_buf key, svc, secret;
    cs_buf_init_secret(&key, 16 << 10);
    cs_buf_init(&svc, 64 << 10);
    cs_buf_init_secret(&secret, 64);
    consort_err rc = a->ops.secrets(a->ops.ctx, &key, &svc, &secret);
    if (rc == CONSORT_OK) {
        join_msg m = {.type = JOIN_MSG_WELCOME,
                      .service_key = cs_buf_slice(&key),
                      .service_cert = cs_buf_slice(&svc),
                      .node_cert = cs_buf_slice(&j->rec.cert),
                      .ledger_secret = cs_buf_slice(&secret)};
        a->stats.accepted++;
        cs_log_info(ADMIT_LOG, "node %s: node %s joined (raft %llu at %s)", a->node_id, j->node_id,
                    (unsigned long long)j->raft_id, j->rec.node_address);
        answer(j, &m);
    } else {
        refuse(j, consort_errmsg());
    }
    cs_buf_cleanup(&key);
    cs_buf_cleanup(&svc);
    cs_buf_cleanup(&secret);
}

/* ---- the leader's flow: transaction, raft add, welcome, promotion ---- */

static void flow_end(join *j)
{
    j->flow = false;
    j->a->busy = false;
    join_free_if_done(j);
}

static void added(void *ctx, consort_err rc, const char *why)
{
    join *j = ctx;
    node_admit *a = j->a;
    if (rc != CONSORT_OK) {
        refuse(j, why);
    } else if (!a->closed) {
        welcome(j);
        a->ops.raft_promote(a->ops.ctx, j->raft_id);
    }
    flow_end(j);
}

static void committed(void *ctx, const cs_node_result *res)
{
    join *j = ctx;
    node_admit *a = j->a;
    if (res->rc != CONSORT_OK || a->closed || j->pending) {
        refuse(j, res->rc != CONSORT_OK ? res->message
                  : a->closed           ? "the node is stopping"
                                        : j->why);
        flow_end(j);
        return;
    }
    if (a->ops.raft_add(a->ops.ctx, j->raft_id, j->rec.node_address, added, j) != CONSORT_OK) {
        refuse(j, consort_errmsg());
        flow_end(j);
    }
}

/* The joiner's evidence (its quote) must bind its key and carry its code id. */
static consort_err check_evidence(join *j)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_claims claims;
    cs_verify_opts o = *j->a->ops.verify_opts(j->a->ops.ctx);
    o.now = (int64_t)time(NULL);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_evidence_decode(cs_buf_slice(&j->rec.evidence), &ev), done);
    CS_TRY_GOTO(rc, cs_evidence_verify(&ev, &o, &claims), done);
    CS_TRY_GOTO(rc, cs_claims_check_binding(&claims, j->key, CS_SLICE_EMPTY), done);
    CS_ENSURE_GOTO(rc, memcmp(claims.code_id, j->code_id, 32) == 0, done, CONSORT_E_POLICY,
                   "its quote names another code id than its channel");
done:
    cs_evidence_cleanup(&ev);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "joiner's quote");
}

static void redirect_or_refuse(join *j)
{
    node_admit *a = j->a;
    join_msg m = {.type = JOIN_MSG_REDIRECT};
    a->ops.leader_address(a->ops.ctx, m.node_address);
    if (m.node_address[0] != '\0')
        answer(j, &m);
    else
        refuse(j, "no leader accepting writes yet");
}

/* Checks the request and starts the flow; answers (or refuses) otherwise. */
static consort_err admit_request(join *j, const join_msg *m)
{
    node_admit *a = j->a;
    CS_ENSURE(m->type == JOIN_MSG_JOIN, CONSORT_E_MALFORMED, "expected a join request");
    memcpy(j->rec.node_address, m->node_address, sizeof j->rec.node_address);
    memcpy(j->rec.rpc_address, m->rpc_address, sizeof j->rec.rpc_address);
    CS_TRY(cs_buf_set(&j->rec.evidence, m->evidence));
    if (!a->ops.leading(a->ops.ctx)) {
        redirect_or_refuse(j);
        return CONSORT_OK;
    }
    CS_ENSURE(!a->busy, CONSORT_E_BUSY, "busy admitting another node");
    CS_TRY(check_evidence(j));
    bool has_record = false;
    node_admit_decision d = a->ops.decide(a->ops.ctx, j->node_id, j->code_id, &has_record, j->why);
    CS_ENSURE(d != NODE_ADMIT_REFUSE, CONSORT_E_POLICY, "%s", j->why);
    if (d == NODE_ADMIT_PENDING && has_record) {
        refuse(j, j->why); /* still waiting for the members */
        return CONSORT_OK;
    }
    j->pending = d == NODE_ADMIT_PENDING;
    cs_x509 *cert = NULL;
    CS_TRY(a->ops.issue(a->ops.ctx, j->key, j->node_id, j->rec.rpc_address, &cert));
    consort_err rc = cs_x509_to_der(cert, &j->rec.cert);
    cs_x509_free(cert);
    CS_TRY(rc);
    j->rec.raft_id = j->raft_id;
    memcpy(j->rec.code_id, j->code_id, 32);
    snprintf(j->rec.status, sizeof j->rec.status, "%s", j->pending ? "Pending" : "Trusted");
    CS_TRY(a->ops.commit_record(a->ops.ctx, j->node_id, &j->rec, committed, j));
    a->busy = true;
    j->flow = true;
    return CONSORT_OK;
}

static void on_data(void *ctx, cs_stream *s, cs_slice data)
{
    join *j = ctx;
    (void)s;
    if (j->flow || j->body.len > 0)
        return; /* one request per channel */
    bool complete;
    join_msg m;
    consort_err rc;
    CS_TRY_GOTO(rc, join_msg_take(&j->in, data, &j->body, &complete), refused);
    if (!complete)
        return;
    CS_TRY_GOTO(rc, join_msg_decode(cs_buf_slice(&j->body), &m), refused);
    CS_TRY_GOTO(rc, admit_request(j, &m), refused);
    return;
refused:
    refuse(j, consort_errmsg());
}

static void on_closed(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    join *j = ctx;
    (void)s;
    (void)reason;
    (void)msg;
    j->s = NULL;
    join_free_if_done(j);
}

void node_admit_accept(node_admit *a, cs_stream *s, const cs_attested_peer *peer)
{
    join *j = a->closed ? NULL : cs_calloc(1, sizeof *j);
    if (j == NULL) {
        cs_stream_close(s);
        return;
    }
    j->a = a;
    j->s = s;
    j->next = a->joins;
    if (a->joins != NULL)
        a->joins->prev = j;
    a->joins = j;
    cs_buf_init(&j->in, JOIN_MSG_MAX + 4);
    cs_buf_init(&j->body, JOIN_MSG_MAX);
    node_record_init(&j->rec);
    snprintf(j->node_id, sizeof j->node_id, "%s", peer->node_id);
    memcpy(j->code_id, peer->claims->code_id, 32);
    const cs_stream_cbs cbs = {.on_data = on_data, .on_close = on_closed};
    cs_stream_set_cbs(s, &cbs, j);
    if (node_raft_id_of(j->node_id, &j->raft_id) != CONSORT_OK ||
        cs_x509_public_key(peer->cert, &j->key) != CONSORT_OK)
        refuse(j, consort_errmsg());
}

consort_err node_admit_new(uv_loop_t *loop, const node_admit_ops *ops, const char *node_id,
                           node_admit **out)
{
    node_admit *a = cs_calloc(1, sizeof *a);
    CS_ENSURE(a != NULL, CONSORT_E_NOMEM, "admission: out of memory");
    a->loop = loop;
    a->ops = *ops;
    snprintf(a->node_id, sizeof a->node_id, "%s", node_id);
    consort_err rc = cs_timer_new(loop, tick_cb, a, &a->tick);
    if (rc != CONSORT_OK) {
        cs_free(a);
        return rc;
    }
    *out = a;
    return CONSORT_OK;
}

void node_admit_close(node_admit *a, void (*cb)(void *ctx), void *ctx)
{
    a->closed = true;
    a->close_cb = cb;
    a->close_ctx = ctx;
    for (join *j = a->joins; j != NULL; j = j->next)
        if (j->s != NULL)
            cs_stream_close(j->s);
    maybe_gone(a);
}

node_admit_stats node_admit_get_stats(const node_admit *a)
{
    return a->stats;
}
