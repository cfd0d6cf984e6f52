/*
 * The executor's test fixture (test_exec.c, test_exec_sign.c): an executor
 * on a replica of the test's own and a fake consensus that records what it
 * is handed; no raft, no network. A single node is started only to lend
 * its service secret, key and certificate.
 */
#ifndef CS_TEST_EXEC_FIXTURE_H
#define CS_TEST_EXEC_FIXTURE_H

#include "node_fixture.h"

#include "node/exec.h"
#include "node/node_priv.h"

#define MAP "public:records"

typedef struct fake_raft {
    cs_buf entries[16];
    size_t count;
    consort_err submit_rc;
    int batches; /* submit calls */
    int refused; /* ... refused (submit_rc) */
    int step_downs;
    node_exec_stepdown how;
    consort_err step_rc;
    uint64_t step_term;
} fake_raft;

/* A refusal is only counted: the node tells the executor later
 * (node_exec_submit_failed), which the tests do themselves. */
static inline void fake_submit(void *ctx, const cs_slice *entries, size_t n, uint64_t term)
{
    fake_raft *fr = ctx;
    (void)term;
    fr->batches++;
    if (fr->submit_rc != CONSORT_OK) {
        fr->refused++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(fr->count < CS_ARRAY_LEN(fr->entries));
        cs_buf_init(&fr->entries[fr->count], CS_LEDGER_ENTRY_MAX);
        cst_ok(cs_buf_set(&fr->entries[fr->count], entries[i]));
        fr->count++;
    }
}

static inline void fake_step_down(void *ctx, uint64_t term, node_exec_stepdown how, consort_err rc,
                                  const char *why)
{
    fake_raft *fr = ctx;
    assert_non_null(why);
    assert_true(why[0] != '\0');
    fr->step_downs++;
    fr->how = how;
    fr->step_rc = rc;
    fr->step_term = term;
}

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node;
    char dir[512];
    node_replica *r;
    node_exec *ex;
    fake_raft raft;
} fixture;

/* An executor on the test's replica and fake raft, open in term 2. */
static inline void exec_start_signing(fixture *f, uint64_t min_free_mib, uint64_t sig_interval_ms)
{
    const node_exec_opts eo = {
        .loop = &f->loop,
        .replica = f->r,
        .ops = {.ctx = &f->raft, .submit = fake_submit, .step_down = fake_step_down},
        .data_dir = f->dir,
        .min_free_mib = min_free_mib,
        .sig_interval_tx = 1000,
        .sig_interval_ms = sig_interval_ms,
        .node_id = "exec"};
    cst_ok(node_exec_new(&eo, &f->ex));
    node_vault *v = f->node.n->vault;
    const node_exec_signer signer = {.key = node_vault_key(v),
                                     .cert = node_vault_node_cert(v),
                                     .node_id = node_vault_node_id(v)};
    node_exec_set_signer(f->ex, &signer);
    cst_ok(node_exec_open(f->ex, 2));
}

static inline void exec_start(fixture *f, uint64_t min_free_mib)
{
    exec_start_signing(f, min_free_mib, 3600 * 1000);
}

static inline int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    tn_config(&f->env, &f->node, 0, NULL);
    tn_start(&f->loop, &f->node);

    snprintf(f->dir, sizeof f->dir, "%s/exec", f->env.root);
    cst_ok(cs_mkdir_p(f->dir, 0700));
    const node_replica_opts ro = {.data_dir = f->dir, .chunk_size = 1 << 20, .node_id = "exec"};
    cst_ok(node_replica_new(&ro, &f->r));
    node_vault *v = f->node.n->vault;
    node_replica_set_service(f->r, node_vault_secret(v), node_vault_service_cert(v));
    cst_ok(node_replica_recover(f->r, 0));

    exec_start(f, 0);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    node_exec_free(f->ex);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    node_replica_free(f->r);
    for (size_t i = 0; i < f->raft.count; i++)
        cs_buf_cleanup(&f->raft.entries[i]);
    tn_stop_and_close_loop(&f->loop, &f->node);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

typedef struct put_req {
    const char *key, *value;
    bool commit;
} put_req;

static inline consort_err put_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    const put_req *p = ctx;
    out->commit = p->commit;
    return cs_kv_put(tx, CS_SLICE_LIT(MAP), cs_slice_str(p->key), cs_slice_str(p->value));
}

typedef struct done_rec {
    int calls;
    consort_err rc;
    cs_txid txid;
    char message[256];
} done_rec;

static inline void done_cb(void *ctx, const cs_node_result *res)
{
    done_rec *d = ctx;
    d->calls++;
    d->rc = res->rc;
    d->txid = res->txid;
    assert_non_null(res->message);
    snprintf(d->message, sizeof d->message, "%s", res->message);
}

static inline void run_loop(fixture *f)
{
    for (int i = 0; i < 5; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Consensus commits the i-th submitted entry. */
static inline bool commit_submitted(fixture *f, size_t i)
{
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->raft.entries[i]), &e));
    bool own = false;
    cst_ok(node_exec_committed(f->ex, &e, &own));
    return own;
}

#endif
