/*
 * One node starting a new service, in process: genesis, writes through
 * cs_node_write, commit, tx status, receipts that verify offline, the
 * /node/ documents, restart from the ledger and sealed state, and what a
 * node refuses (writes in a read, a tampered sealed state). Its ledger's
 * syncs and chunk closes: test_node_ledger_sync.c.
 */
#include "single_fixture.h"

#include "base/alloc.h"
#include "crypto/x509.h"
#include "node/node_priv.h"
#include "node/replica_priv.h"
#include "store/ledger.h"
#include "store/receipt.h"

static void write_commit_receipt(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    cs_node *n = f->node.n;
    assert_true(cs_node_is_leader(n));
    assert_string_equal(cs_node_state_name(n), "PartOfNetwork");
    assert_int_equal(strlen(cs_node_id(n)), 16);
    assert_non_null(cs_node_cert(n));
    assert_non_null(cs_node_service_cert(n));
    char leader[CS_NODE_ADDR_MAX];
    cs_node_leader_rpc_address(n, leader);
    assert_string_equal(leader, f->node.cfg.rpc_address);

    cs_txid t = tn_put(&f->loop, &f->node, "k1", "v1");
    assert_true(t.term >= 1);
    assert_true(t.seqno >= 3); /* after the genesis transaction and its signature */
    assert_int_equal(cs_node_tx_status(n, t), CS_TX_COMMITTED);
    assert_string_equal(cs_tx_status_name(CS_TX_COMMITTED), "Committed");
    cs_txid other_term = {.term = t.term + 1, .seqno = t.seqno};
    assert_int_equal(cs_node_tx_status(n, other_term), CS_TX_INVALID);
    cs_txid future = {.term = t.term, .seqno = t.seqno + 1000};
    assert_int_equal(cs_node_tx_status(n, future), CS_TX_UNKNOWN);
    assert_int_equal(cs_node_tx_status(n, (cs_txid){0, 0}), CS_TX_UNKNOWN);
    cs_txid c = cs_node_commit_txid(n);
    assert_true(c.seqno >= t.seqno);

    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "k1", v), "v1");
    assert_string_equal(tn_get(&f->node, "public:records", "k1", v), "v1");

    /* a receipt once a signature covers it, verifying offline against the service cert */
    receipt_wait r = {.n = n, .txid = t};
    cs_buf_init(&r.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 5000, receipt_ready, &r, "receipt");
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.json), cs_node_service_cert(n), &o));
    /* any change breaks it: flip one digit of the write-set digest */
    char *p = strstr((char *)r.json.ptr, "\"write_set_digest\"");
    assert_non_null(p);
    p = strchr(p + 19, '"') + 1;
    *p = *p == '0' ? '1' : '0';
    cst_fails_any(cs_receipt_verify_json(cs_buf_slice(&r.json), cs_node_service_cert(n), &o));
    /* an invalid transaction never has a receipt (NOT_FOUND: 404); an
     * unknown one may still commit (BUSY: 202, ask again) */
    cs_buf_reset(&r.json);
    cst_fails(cs_node_receipt(n, other_term, &r.json), CONSORT_E_NOT_FOUND);
    cst_fails(cs_node_receipt(n, future, &r.json), CONSORT_E_BUSY);
    cs_buf_cleanup(&r.json);

    cs_txid parsed;
    cst_ok(cs_txid_parse("3.17", &parsed));
    assert_int_equal(parsed.term, 3);
    assert_int_equal(parsed.seqno, 17);
    cst_fails_any(cs_txid_parse("0.1", &parsed));
    cst_fails_any(cs_txid_parse("1.", &parsed));
    cst_fails_any(cs_txid_parse("x", &parsed));
}

/* A receipt reads its entries from the chunk files the node's index names
 * (committed ones, and the open one) without listing the ledger's
 * directory, which would cost a readdir of every chunk per read (hundreds
 * in a long ledger; a snapshot's tail reads one entry after another): a
 * stray file there that a listing refuses does not stop it. */
static void receipts_read_chunks_by_name(void **state)
{
    fixture *f = *state;
    f->node.cfg.chunk_size = 1024;  /* a chunk every few entries, */
    f->node.cfg.ledger_sync_ms = 2; /* closed by the syncs (on the threadpool) */
    tn_start(&f->loop, &f->node);
    cs_node *n = f->node.n;
    const cs_txid first = tn_put(&f->loop, &f->node, "k0", "v0");
    cs_txid last = first;
    for (int i = 1; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        last = tn_put(&f->loop, &f->node, k, "a value of some length, for full chunks");
        tn_run_for(&f->loop, 3);
    }
    receipt_wait r = {.n = n, .txid = last};
    cs_buf_init(&r.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 5000, receipt_ready, &r, "receipt of the last write");

    char dir[sizeof f->node.cfg.data_dir + 16], stray[sizeof dir + 16];
    snprintf(dir, sizeof dir, "%s/ledger", f->node.cfg.data_dir);
    cs_ledger_chunk *chunks;
    size_t count;
    cst_ok(cs_ledger_chunks_list(dir, &chunks, &count));
    assert_true(count >= 4); /* several committed chunks and the open one */
    cs_free(chunks);
    snprintf(stray, sizeof stray, "%s/ledger_stray", dir);
    FILE *fp = fopen(stray, "w");
    assert_non_null(fp);
    fclose(fp);
    cst_fails(cs_ledger_chunks_list(dir, &chunks, &count), CONSORT_E_CORRUPT);

    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    const cs_txid both[2] = {first, last};
    for (int i = 0; i < 2; i++) {
        cs_buf_reset(&r.json);
        cst_ok(cs_node_receipt(n, both[i], &r.json));
        cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.json), cs_node_service_cert(n), &o));
    }
    assert_int_equal(unlink(stray), 0);
    cs_buf_cleanup(&r.json);
}

static consort_err failing_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    (void)ctx;
    (void)out;
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT("records"), CS_SLICE_LIT("x"), CS_SLICE_LIT("y")));
    return cs_fail(CONSORT_E_INVALID_ARGUMENT, "handler refused");
}

static void write_outcomes(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    cs_node *n = f->node.n;
    cs_txid before = cs_node_commit_txid(n);
    /* asks not to commit: done with a zero txid, nothing written; later,
     * never inside the call (STYLE.md rule 10) */
    tn_write w = {.no_commit = true};
    snprintf(w.key, sizeof w.key, "nc");
    snprintf(w.value, sizeof w.value, "v");
    cst_ok(cs_node_write(n, tn_write_fn, &w, tn_write_done, &w));
    assert_false(w.done);
    tn_run_until(&f->loop, 1000, tn_write_is_done, &w, "the no-commit write to complete");
    assert_int_equal(w.rc, CONSORT_OK);
    assert_int_equal(w.txid.seqno, 0);
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "nc", v), "");
    /* the function's error is returned; done never fires */
    tn_write w2 = {0};
    cst_fails(cs_node_write(n, failing_fn, &w2, tn_write_done, &w2), CONSORT_E_INVALID_ARGUMENT);
    tn_run_for(&f->loop, 50);
    assert_false(w2.done);
    assert_string_equal(tn_get(&f->node, "records", "x", v), "");
    /* a read that writes is refused */
    tn_write w3 = {0};
    snprintf(w3.key, sizeof w3.key, "r");
    cst_fails(cs_node_read(n, tn_write_fn, &w3), CONSORT_E_STATE);
    assert_string_equal(tn_get(&f->node, "records", "r", v), "");
    assert_int_equal(cs_node_commit_txid(n).seqno >= before.seqno, 1);
}

static bool contains(cs_buf *b, const char *s)
{
    cst_ok(cs_buf_append_u8(b, 0));
    b->len--;
    return strstr((const char *)b->ptr, s) != NULL;
}

static void documents(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    cs_node *n = f->node.n;
    (void)tn_put(&f->loop, &f->node, "k", "v");
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_state_json(n, &out));
    assert_true(contains(&out, "\"state\":\"PartOfNetwork\""));
    assert_true(contains(&out, cs_node_id(n)));
    cs_buf_reset(&out);
    cst_ok(cs_node_network_json(n, &out));
    assert_true(contains(&out, "BEGIN CERTIFICATE"));
    assert_true(contains(&out, cs_node_id(n)));
    assert_true(contains(&out, "\"status\":\"Trusted\""));
    cs_buf_reset(&out);
    cst_ok(cs_node_quotes_json(n, &out));
    assert_true(contains(&out, "\"platform\":\"virtual\""));
    cs_buf_reset(&out);
    cst_ok(cs_node_metrics_text(n, &out));
    assert_true(contains(&out, "# TYPE consort_commit_seqno gauge"));
    assert_true(contains(&out, "consort_writes_committed_total"));
    /* the loop-lag probe (node/loop_probe.h) */
    assert_true(contains(&out, "# TYPE consort_loop_lag_seconds histogram"));
    assert_true(contains(&out, "consort_loop_lag_seconds_bucket{node=\""));
    assert_true(contains(&out, "le=\"+Inf\"}"));
    assert_true(contains(&out, "consort_loop_stalls_total{node=\""));
    assert_true(contains(&out, "consort_loop_busy_max_seconds{node=\""));
    assert_true(contains(&out, ",part=\"on_cpu\"}"));
    assert_true(contains(&out, ",part=\"off_cpu\"}"));
    cs_buf_cleanup(&out);

    /* The node certificate names the rpc host (127.0.0.1) as an iPAddress
     * subjectAltName (RFC 5280 §4.2.1.6: [7] OCTET STRING of 4 bytes), so a
     * client that checks host names (curl --cacert service_cert.pem) accepts
     * it. Regression: node certificates once had no subjectAltName. */
    cs_slice san;
    cst_ok(cs_x509_extension(cs_node_cert(n), "2.5.29.17", &san));
    static const uint8_t loopback_ip[] = {0x87, 0x04, 127, 0, 0, 1};
    assert_non_null(memmem(san.ptr, san.len, loopback_ip, sizeof loopback_ip));

    /* the node's own certificate is a service node certificate; others are not */
    assert_true(cs_node_is_service_node_cert(n, cs_node_cert(n)));
    assert_false(cs_node_is_service_node_cert(n, cs_node_service_cert(n)));
    cs_key *k;
    cs_x509 *self;
    cst_ok(cs_key_generate(CS_CURVE_P256, &k));
    const cs_x509_params p = {.subject_cn = "intruder",
                              .not_before = (int64_t)time(NULL) - 60,
                              .not_after = (int64_t)time(NULL) + 3600};
    cst_ok(cs_x509_create(&p, k, k, NULL, &self));
    assert_false(cs_node_is_service_node_cert(n, self));
    uint8_t fp[32];
    cst_ok(cs_x509_fingerprint(self, fp));
    assert_false(cs_node_is_user(n, fp));
    assert_false(cs_node_is_member(n, fp));
    cs_x509_free(self);
    cs_key_free(k);
}

static void restart_from_ledger(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    char id[17];
    snprintf(id, sizeof id, "%s", cs_node_id(f->node.n));
    cs_txid t1 = tn_put(&f->loop, &f->node, "a", "1");
    cs_txid t2 = tn_put(&f->loop, &f->node, "b", "2");
    assert_true(t2.seqno > t1.seqno);
    tn_stop(&f->loop, &f->node);

    tn_start(&f->loop, &f->node); /* same configuration: unseal, replay the ledger */
    assert_string_equal(cs_node_id(f->node.n), id);
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "a", v), "1");
    assert_string_equal(tn_get(&f->node, "public:records", "b", v), "2");
    assert_int_equal(cs_node_tx_status(f->node.n, t1), CS_TX_COMMITTED);
    assert_int_equal(cs_node_tx_status(f->node.n, t2), CS_TX_COMMITTED);
    cs_txid t3 = tn_put(&f->loop, &f->node, "c", "3");
    assert_true(t3.seqno > t2.seqno);
    /* a lone voter leads after a restart without an election, so the node
     * moves to a new term itself: no transaction id of the previous process
     * (stored or not) can name a new entry (consensus/term.c) */
    assert_true(t3.term > t2.term);
    tn_stop(&f->loop, &f->node);

    /* the ledger the node wrote verifies offline against the service certificate */
    cs_x509 *svc;
    cst_ok(cs_x509_load_file(f->env.service_cert, &svc));
    char dir[CS_NODE_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/ledger", f->node.cfg.data_dir);
    cs_ledger_verify_report rep;
    cst_ok(cs_ledger_verify(dir, svc, (int64_t)time(NULL), &rep));
    assert_true(rep.last_seqno >= t3.seqno);
    assert_true(rep.signatures >= 2);
    cs_x509_free(svc);
}

/* Two watchers; the first, when told, removes the second (whose owner
 * then frees it, as the rpc's forwarder does when consortd stops the rpc
 * on a Failed event). The second is not told about that event any more. */
typedef struct watcher {
    cs_node *n;
    int calls;
    bool gone;
    struct watcher *other; /* the one this one removes */
} watcher;

static void watcher_cb(void *ctx, const cs_node_event *ev)
{
    watcher *w = ctx;
    (void)ev;
    if (w->gone)
        fail_msg("a watcher was told after it was removed");
    w->calls++;
    if (w->other != NULL && !w->other->gone) {
        cs_node_unwatch(w->n, watcher_cb, w->other);
        w->other->gone = true;
    }
}

static void removed_watcher_is_not_told(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    watcher b = {.n = f->node.n};
    watcher a = {.n = f->node.n, .other = &b};
    cst_ok(cs_node_watch(f->node.n, watcher_cb, &a));
    cst_ok(cs_node_watch(f->node.n, watcher_cb, &b));
    tn_stop(&f->loop, &f->node); /* PartOfNetwork -> Stopping: an event */
    assert_true(a.calls >= 1);
    assert_true(b.gone);
    assert_int_equal(b.calls, 0);
}

static void tampered_sealed_state(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    tn_stop(&f->loop, &f->node);
    char path[CS_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sealed/store.bin", f->node.cfg.data_dir);
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_file(path, &b);
    b.ptr[b.len - 5] ^= 1;
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0600));
    cs_buf_cleanup(&b);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_fails(cs_node_start(f->node.n), CONSORT_E_BAD_TAG);
    assert_string_equal(cs_node_state_name(f->node.n), "Failed");
    assert_false(cs_node_is_open(f->node.n));
}

/* docs/migration.md §3: the host hands back an older copy of the sealed
 * store (from before a restart, which moved the platform's counter on):
 * the node refuses it instead of running from stale secrets; the current
 * one still opens. */
static void rolled_back_sealed_state(void **state)
{
    fixture *f = *state;
    tn_start(&f->loop, &f->node);
    char id[32];
    snprintf(id, sizeof id, "%s", cs_node_id(f->node.n));
    tn_stop(&f->loop, &f->node);
    char path[CS_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sealed/store.bin", f->node.cfg.data_dir);
    cs_buf old, now;
    cs_buf_init(&old, 0);
    cs_buf_init(&now, 0);
    cst_read_file(path, &old);
    tn_start(&f->loop, &f->node); /* every start commits the store once */
    tn_stop(&f->loop, &f->node);
    cst_read_file(path, &now);
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&old), 0600));
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_fails(cs_node_start(f->node.n), CONSORT_E_ROLLBACK);
    assert_non_null(strstr(consort_errmsg(), "anchor"));
    assert_string_equal(cs_node_state_name(f->node.n), "Failed");
    tn_stop(&f->loop, &f->node);
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&now), 0600));
    tn_start(&f->loop, &f->node); /* open again, the same node */
    assert_string_equal(cs_node_id(f->node.n), id);
    cs_buf_cleanup(&old);
    cs_buf_cleanup(&now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_commit_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(receipts_read_chunks_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(write_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(documents, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_from_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(rolled_back_sealed_state, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_sealed_state, setup, teardown),
        cmocka_unit_test_setup_teardown(removed_watcher_is_not_told, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
