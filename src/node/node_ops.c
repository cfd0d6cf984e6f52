/*
 * What the node's parts may ask of raft and of each other (node_priv.h):
 * the executor's access (submitting entries, stepping down, going idle)
 * and admission's (leadership, committing a node's record, raft
 * membership changes, issuing certificates, the secrets a joiner gets).
 * node.c hands these tables to the parts; the parts never see cs_node.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

/* ---- the executor's access to raft ---- */

typedef struct submit_ctx {
    cs_node *n;
    uint64_t term;
} submit_ctx;

static void submitted(void *ctx, consort_err status, const char *msg, uint64_t index, void *result)
{
    submit_ctx *s = ctx;
    cs_node *n = s->n;
    uint64_t term = s->term;
    (void)index;
    (void)result;
    cs_free(s);
    if (status != CONSORT_OK)
        node_exec_submit_failed(n->exec, term, status, msg);
}

/* A request consensus refused at once, told from the loop (exec.h: never
 * inside the executor's call). One at a time: the first refusal closes
 * writes in its term, and the executor ignores failures of other terms. */
static void refused_later(void *ctx)
{
    cs_node *n = ctx;
    if (n->exec != NULL)
        node_exec_submit_failed(n->exec, n->refused_term, n->refused_rc, n->refused_why);
}

static void exec_submit(void *ctx, const cs_slice *entries, size_t count, uint64_t term)
{
    cs_node *n = ctx;
    submit_ctx *s = cs_calloc(1, sizeof *s);
    consort_err rc = CONSORT_OK;
    if (s == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "submit: out of memory");
    if (rc == CONSORT_OK) {
        *s = (submit_ctx){.n = n, .term = term};
        rc = cs_consensus_submit_batch(n->cons, entries, count, submitted, s);
    }
    if (rc == CONSORT_OK)
        return;
    cs_free(s);
    n->refused_term = term;
    n->refused_rc = rc;
    snprintf(n->refused_why, sizeof n->refused_why, "%s", consort_errmsg());
    cs_defer_call(n->defer, &n->refused_item, refused_later, n);
}

static void stepped_down(void *ctx, consort_err rc, const char *msg)
{
    cs_node *n = ctx;
    if (rc != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: handing leadership over: %s", cs_node_id(n), msg);
}

static void exec_step_down(void *ctx, uint64_t term, node_exec_stepdown how, consort_err rc,
                           const char *why)
{
    cs_node *n = ctx;
    if (how == NODE_EXEC_HAND_OVER) { /* short of disk: hand over, keep running */
        if (n->cons != NULL && cs_consensus_transfer(n->cons, 0, stepped_down, n) != CONSORT_OK)
            stepped_down(n, CONSORT_E_STATE, consort_errmsg());
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "leading term %llu", (unsigned long long)term);
    node_fail(n, rc, what, why);
    if (n->fatal != NULL) { /* libraft cannot go on after a failed log write */
        n->fatal(n->fatal_ctx, n->failure);
        return;
    }
    if (n->cons != NULL && cs_consensus_transfer(n->cons, 0, stepped_down, n) != CONSORT_OK)
        stepped_down(n, CONSORT_E_STATE, consort_errmsg());
}

static void exec_idle(void *ctx)
{
    cs_node *n = ctx;
    if (n->state == CS_NODE_STOPPING)
        node_closed_one(n); /* cs_node_stop counted the executor's completions */
}

node_exec_ops node_raft_exec_ops(cs_node *n)
{
    return (node_exec_ops){
        .ctx = n, .submit = exec_submit, .step_down = exec_step_down, .idle = exec_idle};
}

/* ---- admission's access to raft and the executor ---- */

static bool admit_leading(void *ctx)
{
    return cs_node_is_leader(ctx);
}

static void admit_leader_address(void *ctx, char out[CS_NODE_ADDR_MAX])
{
    cs_node *n = ctx;
    const char *addr = NULL;
    out[0] = '\0';
    if (n->cons != NULL && !n->leader && cs_consensus_leader(n->cons, &addr) != 0 && addr != NULL)
        snprintf(out, CS_NODE_ADDR_MAX, "%s", addr);
}

typedef struct record_tx {
    const char *node_id;
    const node_record *r;
} record_tx;

static consort_err record_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    const record_tx *rt = ctx;
    out->commit = true;
    return svc_record_put(tx, rt->node_id, rt->r);
}

static consort_err admit_commit_record(void *ctx, const char *node_id, const node_record *r,
                                       node_exec_done_fn done, void *done_ctx)
{
    cs_node *n = ctx;
    record_tx rt = {.node_id = node_id, .r = r};
    return node_exec_write(n->exec, CS_LEDGER_KIND_INTERNAL, record_fn, &rt, done, done_ctx);
}

/* A raft membership change in flight for admission. */
typedef struct change {
    node_admit_done_fn done;
    void *done_ctx;
    cs_defer_item item;
} change;

static void change_done(void *ctx, consort_err rc, const char *msg)
{
    change *c = ctx;
    c->done(c->done_ctx, rc, rc == CONSORT_OK ? "" : msg);
    cs_free(c);
}

static void already_member(void *ctx)
{
    change_done(ctx, CONSORT_OK, "");
}

static bool in_config(cs_node *n, uint64_t id)
{
    cs_raft_member m[CS_NODE_MAX_LIST];
    size_t count = 0;
    if (cs_consensus_members(n->cons, m, CS_NODE_MAX_LIST, &count) != CONSORT_OK)
        return false;
    for (size_t i = 0; i < count; i++)
        if (m[i].id == id)
            return true;
    return false;
}

static consort_err admit_raft_add(void *ctx, uint64_t raft_id, const char *address,
                                  node_admit_done_fn done, void *done_ctx)
{
    cs_node *n = ctx;
    change *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "raft add: out of memory");
    *c = (change){.done = done, .done_ctx = done_ctx};
    if (in_config(n, raft_id)) { /* a node asking again: its first welcome was lost */
        cs_defer_call(n->defer, &c->item, already_member, c);
        return CONSORT_OK;
    }
    consort_err rc = cs_consensus_add(n->cons, raft_id, address, change_done, c);
    if (rc != CONSORT_OK)
        cs_free(c);
    return rc;
}

/* The joiner was added as a spare: the promoter makes it a voter, and
 * tries again if raft aborts (promote.h). */
static void admit_raft_promote(void *ctx, uint64_t raft_id)
{
    cs_node *n = ctx;
    (void)raft_id;
    node_promoter_kick(n->promoter);
}

static consort_err admit_issue(void *ctx, const cs_key *subject, const char *node_id,
                               const char *rpc_address, cs_x509 **out)
{
    cs_node *n = ctx;
    return node_vault_issue(n->vault, subject, node_id, rpc_address, out);
}

static consort_err admit_secrets(void *ctx, cs_buf *service_key_pem, cs_buf *service_cert_der,
                                 cs_buf *ledger_secret)
{
    cs_node *n = ctx;
    const uint8_t *secret = node_vault_secret(n->vault);
    CS_ENSURE(secret != NULL, CONSORT_E_STATE, "no ledger secret");
    CS_TRY(cs_key_private_pem(node_vault_service_key(n->vault), service_key_pem));
    CS_TRY(cs_x509_to_der(node_vault_service_cert(n->vault), service_cert_der));
    return cs_buf_append(ledger_secret, secret, CS_LEDGER_SECRET_LEN);
}

static const cs_verify_opts *admit_verify_opts(void *ctx)
{
    cs_node *n = ctx;
    return node_platform_verify_opts(n->platform);
}

static node_admit_decision admit_decide(void *ctx, const char *node_id, const uint8_t code_id[32],
                                        bool *has_record, char why[256])
{
    return node_join_decide(ctx, node_id, code_id, has_record, why);
}

/* ---- the promoter's access to raft (promote.h) ---- */

static uint64_t promote_next_nonvoter(void *ctx)
{
    cs_node *n = ctx;
    cs_raft_member m[CS_NODE_MAX_LIST];
    size_t count = 0;
    if (n->cons == NULL || cs_consensus_members(n->cons, m, CS_NODE_MAX_LIST, &count) != CONSORT_OK)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (m[i].role != CS_RAFT_VOTER)
            return m[i].id;
    return 0;
}

static consort_err promote_assign(void *ctx, uint64_t raft_id, cs_consensus_done_cb done,
                                  void *cb_ctx)
{
    cs_node *n = ctx;
    CS_ENSURE(n->cons != NULL, CONSORT_E_STATE, "no consensus");
    return cs_consensus_assign(n->cons, raft_id, CS_RAFT_VOTER, done, cb_ctx);
}

node_promoter_ops node_raft_promoter_ops(cs_node *n)
{
    return (node_promoter_ops){.ctx = n,
                               .leading = admit_leading,
                               .next_nonvoter = promote_next_nonvoter,
                               .promote = promote_assign};
}

node_admit_ops node_raft_admit_ops(cs_node *n)
{
    return (node_admit_ops){.ctx = n,
                            .decide = admit_decide,
                            .leading = admit_leading,
                            .leader_address = admit_leader_address,
                            .commit_record = admit_commit_record,
                            .raft_add = admit_raft_add,
                            .raft_promote = admit_raft_promote,
                            .issue = admit_issue,
                            .secrets = admit_secrets,
                            .verify_opts = admit_verify_opts};
}
