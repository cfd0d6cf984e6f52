/*
 * Snapshots (node_snapshot.c): a node joining a service whose raft log was
 * compacted catches up from a snapshot, serves what it restored, restarts
 * from the saved snapshot plus its ledger; snapshots altered in transit or
 * whose leaves do not give the root signed inside them are refused.
 */
#include "node_fixture.h"

#include "crypto/aead.h"
#include "node/node_priv.h"
#include "store/receipt.h"

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node[2];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 2; i++)
        tn_stop(&f->loop, &f->node[i]);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

static uint64_t metric(cs_node *n, const char *name)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_metrics_text(n, &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s{", name);
    const char *p = strstr((const char *)out.ptr, pat);
    assert_non_null(p);
    p = strchr(p, '}');
    uint64_t v = strtoull(p + 2, NULL, 10);
    cs_buf_cleanup(&out);
    return v;
}

static void start_busy_service(fixture *f, cs_txid *first, cs_txid *last)
{
    tn_config(&f->env, &f->node[0], 0, NULL);
    f->node[0].cfg.snapshot_interval = 8;
    tn_start(&f->loop, &f->node[0]);
    for (int i = 0; i < 40; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        cs_txid t = tn_put(&f->loop, &f->node[0], k, v);
        if (i == 0)
            *first = t;
        *last = t;
    }
    tn_run_for(&f->loop, 200);
    assert_true(metric(f->node[0].n, "consort_snapshots_taken_total") >= 1);
}

typedef struct receipt_wait {
    cs_node *n;
    cs_txid txid;
    cs_buf json;
} receipt_wait;

static bool receipt_ready(void *ctx)
{
    receipt_wait *r = ctx;
    cs_buf_reset(&r->json);
    return cs_node_receipt(r->n, r->txid, &r->json) == CONSORT_OK;
}

static void join_from_snapshot(void **state)
{
    fixture *f = *state;
    cs_txid first, last;
    start_busy_service(f, &first, &last);
    tn_config(&f->env, &f->node[1], 1, f->node[0].cfg.node_address);
    f->node[1].cfg.snapshot_interval = 8;
    tn_start(&f->loop, &f->node[1]);
    char v[64];
    tnode *j = &f->node[1];
    for (int i = 0; i < 200 && cs_node_commit_txid(j->n).seqno < last.seqno; i++)
        tn_run_for(&f->loop, 50);
    assert_true(metric(j->n, "consort_snapshots_restored_total") >= 1);
    assert_string_equal(tn_get(j, "records", "k0", v), "v0");
    assert_string_equal(tn_get(j, "records", "k39", v), "v39");
    assert_int_equal(cs_node_tx_status(j->n, first), CS_TX_COMMITTED);
    /* a transaction after the join: the new node serves its receipt */
    cs_txid t = tn_put(&f->loop, &f->node[0], "after", "x");
    receipt_wait r = {.n = j->n, .txid = t};
    cs_buf_init(&r.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 10000, receipt_ready, &r, "receipt on the joined node");
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.json), cs_node_service_cert(j->n), &o));
    /* one from before its ledger starts is not available there (not found) */
    cs_buf_reset(&r.json);
    cst_fails(cs_node_receipt(j->n, first, &r.json), CONSORT_E_NOT_FOUND);
    cs_buf_cleanup(&r.json);

    /* The follower's own snapshots are made off its loop, with apply
     * deferred meanwhile (consensus/fsm.h); writes go on throughout. */
    for (int i = 0; i < 24; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        last = tn_put(&f->loop, &f->node[0], k, "y");
    }
    for (int i = 0; i < 200 && (cs_node_commit_txid(j->n).seqno < last.seqno ||
                                metric(j->n, "consort_snapshots_taken_total") < 1);
         i++)
        tn_run_for(&f->loop, 50);
    assert_true(metric(j->n, "consort_snapshots_taken_total") >= 1);
    assert_string_equal(tn_get(j, "records", "f23", v), "y");

    /* restart: the saved snapshot, its own latest one (raft restores it: it
     * must agree with the ledger) plus the ledger after it */
    tn_stop(&f->loop, j);
    tn_start(&f->loop, j);
    assert_string_equal(tn_get(j, "records", "k5", v), "v5");
    assert_string_equal(tn_get(j, "records", "after", v), "x");
    for (int i = 0; i < 200 && cs_node_commit_txid(j->n).seqno < last.seqno; i++)
        tn_run_for(&f->loop, 50);
    assert_string_equal(tn_get(j, "records", "f23", v), "y");
    assert_int_equal(cs_node_tx_status(j->n, last), CS_TX_COMMITTED);
}

/* The key snapshots are sealed with (node_snapshot.c). */
static void snap_key(const cs_node *n, uint8_t key[32])
{
    cst_ok(cs_ledger_keys_derive(&n->keys, "consort snapshot v2", key));
}

typedef struct snap_wait {
    cs_node *n;
    cs_buf *out;
} snap_wait;

static bool made(void *ctx)
{
    snap_wait *w = ctx;
    cs_buf_reset(w->out);
    return node_snapshot_make(w->n, w->out) == CONSORT_OK;
}

/* A fresh node object holding the service's secrets (as a joined node
 * would), its state empty. */
static cs_node *fresh_node(fixture *f)
{
    cs_node *fresh;
    tn_config(&f->env, &f->node[1], 1, NULL);
    cst_ok(cs_node_new(&f->loop, &f->node[1].cfg, &fresh));
    char data_dir[CS_NODE_PATH_MAX];
    snprintf(data_dir, sizeof data_dir, "%s", fresh->cfg.data_dir);
    fresh->cfg = f->node[0].cfg;
    snprintf(fresh->cfg.data_dir, sizeof fresh->cfg.data_dir, "%s", data_dir);
    memcpy(fresh->code_id, f->node[0].n->code_id, 32);
    /* the sealed state of node 0 (same platform and code id) */
    cs_node *src;
    cst_ok(cs_node_new(&f->loop, &f->node[0].cfg, &src));
    memcpy(src->code_id, f->node[0].n->code_id, 32);
    cst_ok(node_seal_derive_key(src));
    cst_ok(node_seal_load(src));
    memcpy(fresh->seal_key, src->seal_key, 32);
    node_keys_set(fresh, src->ledger_secret);
    fresh->service_cert = src->service_cert;
    src->service_cert = NULL;
    fresh->node_key = src->node_key; /* it seals its high-water mark */
    src->node_key = NULL;
    cs_node_free(src);
    snprintf(fresh->node_id, sizeof fresh->node_id, "%s", "fresh");
    return fresh;
}

/* Opens a snapshot, lets `edit` change its plaintext, and seals it again
 * with the service's key: what someone holding the ledger secret (but no
 * node key) could make. */
static void reseal(const cs_node *n, const cs_buf *snap, void (*edit)(cs_buf *plain, void *ctx),
                   void *ctx, cs_buf *out)
{
    uint8_t key[32];
    snap_key(n, key);
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_aead_open(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP02"),
                        CS_SLICE(snap->ptr + 20, snap->len - 20), &plain));
    edit(&plain, ctx);
    cs_buf_reset(out);
    cst_ok(cs_buf_append(out, snap->ptr, 20));
    cst_ok(cs_aead_seal(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP02"), cs_buf_slice(&plain), out));
    cs_wipe(key, sizeof key);
    cs_buf_cleanup(&plain);
}

/* Flips a bit of the first occurrence of `needle` in the plaintext. */
typedef struct flip {
    const void *needle;
    size_t len;
    size_t at;
} flip;

static void flip_bytes(cs_buf *plain, void *ctx)
{
    flip *fl = ctx;
    uint8_t *at = memmem(plain->ptr, plain->len, fl->needle, fl->len);
    assert_non_null(at);
    at[fl->at] ^= 0x01;
}

static void assert_untouched(const cs_node *n)
{
    assert_int_equal(n->applied, 0);
    assert_int_equal(cs_merkle_size(n->tree), 0);
    assert_int_equal(cs_kv_last_seqno(n->kv), 0);
}

static void refuse_bad_snapshots(void **state)
{
    fixture *f = *state;
    cs_txid first, last;
    start_busy_service(f, &first, &last);
    cs_node *n0 = f->node[0].n;
    cs_buf snap;
    cs_buf_init_secret(&snap, CS_FSM_SNAPSHOT_MAX);
    snap_wait w = {.n = n0, .out = &snap};
    tn_run_until(&f->loop, 5000, made, &w, "a snapshot");
    cs_node *fresh = fresh_node(f);

    /* altered in transit: the AEAD tag fails */
    cs_buf bad;
    cs_buf_init_secret(&bad, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_buf_set(&bad, cs_buf_slice(&snap)));
    bad.ptr[bad.len / 2] ^= 0x01;
    cst_fails(node_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_TAG);
    /* truncated */
    cst_fails(node_snapshot_install(fresh, CS_SLICE(snap.ptr, 10), true), CONSORT_E_TRUNCATED);

    /* validly sealed, but one leaf changed: its root is not the signed one */
    uint8_t leaf0[32];
    cst_ok(cs_merkle_leaf(n0->tree, 0, leaf0));
    flip fl = {.needle = leaf0, .len = 32, .at = 0};
    reseal(n0, &snap, flip_bytes, &fl, &bad);
    cst_fails(node_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "root"));
    assert_untouched(fresh);

    /* the store altered under a genuine tree: one value changed ("v1" of
     * key k1, same length): the state digest is not the signed one */
    fl = (flip){.needle = "v17", .len = 3, .at = 1};
    reseal(n0, &snap, flip_bytes, &fl, &bad);
    cst_fails(node_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "not the state it signs"));
    assert_untouched(fresh);

    /* the genuine one installs: the checkpoint (from disk: the ledger holds
     * the tail) */
    cst_ok(node_snapshot_install(fresh, cs_buf_slice(&snap), true));
    assert_int_equal(fresh->applied, n0->applied_sig);
    assert_int_equal(cs_kv_last_seqno(fresh->kv), n0->applied_sig);
    cs_buf_cleanup(&bad);
    cs_buf_cleanup(&snap);
    cs_node_free(fresh);
}

/* A snapshot install that fails half-way (here: its copy cannot be saved,
 * or the new ledger cannot be prepared) leaves the node exactly as it was;
 * the same snapshot installs once the cause is gone. */
static void failed_install_changes_nothing(void **state)
{
    fixture *f = *state;
    cs_txid first, last;
    start_busy_service(f, &first, &last);
    cs_node *n0 = f->node[0].n;
    cs_buf snap;
    cs_buf_init_secret(&snap, CS_FSM_SNAPSHOT_MAX);
    snap_wait w = {.n = n0, .out = &snap};
    tn_run_until(&f->loop, 5000, made, &w, "a snapshot");
    cs_node *fresh = fresh_node(f);
    cst_ok(cs_mkdir_p(fresh->ledger_dir, 0700));
    cst_ok(node_open_ledger(fresh, 1));

    /* snapshots/ is a file: the copy cannot be written */
    FILE *fp = fopen(fresh->snapshot_dir, "w");
    assert_non_null(fp);
    fclose(fp);
    consort_err rc = node_snapshot_install(fresh, cs_buf_slice(&snap), false);
    assert_int_not_equal(rc, CONSORT_OK);
    assert_untouched(fresh);
    assert_non_null(fresh->ledger);
    assert_int_equal(unlink(fresh->snapshot_dir), 0);
    cst_ok(cs_mkdir_p(fresh->snapshot_dir, 0700));

    /* the new ledger's directory cannot be made */
    char next[CS_NODE_PATH_MAX + 16];
    snprintf(next, sizeof next, "%s.next", fresh->ledger_dir);
    fp = fopen(next, "w");
    assert_non_null(fp);
    fclose(fp);
    rc = node_snapshot_install(fresh, cs_buf_slice(&snap), false);
    assert_int_not_equal(rc, CONSORT_OK);
    assert_untouched(fresh);
    assert_non_null(fresh->ledger);
    assert_int_equal(cs_ledger_writer_last_seqno(fresh->ledger), 0);
    assert_int_equal(unlink(next), 0);

    /* nothing in the way: installs, with the tail applied on top */
    cst_ok(node_snapshot_install(fresh, cs_buf_slice(&snap), false));
    assert_int_equal(fresh->applied, n0->applied);
    assert_int_equal(cs_ledger_writer_last_seqno(fresh->ledger), n0->applied);
    uint8_t a[32], b[32];
    cs_kv_state_digest(fresh->kv, a);
    cst_ok(cs_kv_snapshot_at(n0->kv, n0->applied, &snap)); /* reuse the buffer */
    cs_kv_store *copy;
    cst_ok(cs_kv_store_new(NULL, &copy));
    cst_ok(cs_kv_store_exclude_from_digest(copy, CS_SLICE_LIT(CS_LEDGER_SIG_MAP)));
    cst_ok(cs_kv_restore(copy, cs_buf_slice(&snap)));
    cs_kv_state_digest(copy, b);
    assert_memory_equal(a, b, 32);
    cs_kv_store_free(copy);
    cs_buf_cleanup(&snap);
    cs_node_free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(join_from_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(refuse_bad_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_install_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
