/*
 * The node on the tpm platform, in process, each node on its own real swtpm
 * process (tests/util/swtpm.c): a single node starts a service, commits a
 * write whose receipt verifies, restarts from its TPM-sealed state, and
 * cannot unseal on another TPM; three nodes join over attested channels
 * whose evidence is TPM quotes under one AK CA, replicate, and a follower
 * restarts; a node whose AK certificate comes from another CA is refused;
 * configuration and enrolment mistakes fail at start with the reason.
 * Skipped only when swtpm is not installed.
 */
#include "node_fixture.h"

#include "attest/tpm.h"
#include "sealing/anchor.h"
#include "sealing/seal.h"
#include "crypto/b64.h"
#include "store/ledger.h"
#include "store/receipt.h"
#include "swtpm.h"

#include <jansson.h>

/* An AK CA: a P-256 key and a self-signed CA certificate, in files and in memory. */
typedef struct tt_ca {
    char cert_path[320];
    char key_path[320];
    cs_key *key;
    cs_x509 *cert;
} tt_ca;

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node[3];
    cst_swtpm tpm[3];
    tt_ca ca;
} fixture;

static void write_pem(const char *path, cs_buf *pem)
{
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(pem), 0600));
    cs_buf_cleanup(pem);
}

static void ca_make(const tn_env *e, const char *name, bool is_ca, tt_ca *ca)
{
    snprintf(ca->cert_path, sizeof ca->cert_path, "%s/%s_cert.pem", e->root, name);
    snprintf(ca->key_path, sizeof ca->key_path, "%s/%s_privk.pem", e->root, name);
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {
        .subject_cn = name, .not_before = now - 3600, .not_after = now + 86400, .is_ca = is_ca};
    cst_ok(cs_key_generate(CS_CURVE_P256, &ca->key));
    cst_ok(cs_x509_create(&p, ca->key, ca->key, NULL, &ca->cert));
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(ca->cert, &pem));
    write_pem(ca->cert_path, &pem);
    cs_buf_init(&pem, 0);
    cst_ok(cs_key_private_pem(ca->key, &pem));
    write_pem(ca->key_path, &pem);
}

static void ca_free(tt_ca *ca)
{
    cs_key_free(ca->key);
    cs_x509_free(ca->cert);
    ca->key = NULL;
    ca->cert = NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    ca_make(&f->env, "ak_ca", true, &f->ca);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++)
        tn_stop(&f->loop, &f->node[i]);
    for (int i = 0; i < 3; i++)
        cst_swtpm_stop(&f->tpm[i]);
    tn_close_loop(&f->loop);
    ca_free(&f->ca);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

/* The configuration text of node `idx` on `tcti`; `ak` holds the tpm_ak_* members. */
static void tt_json(const fixture *f, int idx, const char *tcti, const char *ak,
                    const char *join_target, char *json, size_t len)
{
    char mode[1024];
    if (join_target == NULL)
        snprintf(mode, sizeof mode, "\"start\": {\"service_cert_out\": \"%s\"}",
                 f->env.service_cert);
    else
        snprintf(mode, sizeof mode, "\"join\": {\"target\": \"%s\", \"service_cert\": \"%s\"}",
                 join_target, f->env.service_cert);
    snprintf(json, len,
             "{\"platform\": \"tpm\", \"tpm_tcti\": \"%s\", %s,"
             " \"rpc_address\": \"127.0.0.1:%u\", \"node_address\": \"127.0.0.1:%u\","
             " \"data_dir\": \"%s/node%d\", \"sig_interval_tx\": 5, \"sig_interval_ms\": 20, %s}",
             tcti, ak, tn_reserved_port(), tn_reserved_port(), f->env.root, idx, mode);
}

/* Node idx on its own swtpm (started here), certifying its AK with the fixture's CA. */
static void tt_config(fixture *f, int idx, const char *join_target)
{
    if (f->tpm[idx].pid == 0)
        cst_swtpm_start(&f->tpm[idx]);
    char ak[1024], json[4096];
    snprintf(ak, sizeof ak, "\"tpm_ak_ca_cert\": \"%s\", \"tpm_ak_ca_key\": \"%s\"",
             f->ca.cert_path, f->ca.key_path);
    tt_json(f, idx, f->tpm[idx].tcti, ak, join_target, json, sizeof json);
    memset(&f->node[idx], 0, sizeof f->node[idx]);
    cst_ok(cs_node_config_parse(cs_slice_str(json), &f->node[idx].cfg));
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

static void check_receipt(fixture *f, tnode *t, cs_txid txid)
{
    receipt_wait r = {.n = t->n, .txid = txid};
    cs_buf_init(&r.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 5000, receipt_ready, &r, "receipt");
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    cs_x509 *svc;
    cst_ok(cs_x509_load_file(f->env.service_cert, &svc));
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.json), svc, &o));
    cs_x509_free(svc);
    cs_buf_cleanup(&r.json);
}

/* Every node's recorded evidence (GET /node/quotes) is a TPM quote that verifies
 * under the AK CA alone and binds that node's key (empty nonce). */
static void check_quotes(fixture *f, tnode *reader, tnode *const *nodes, size_t count)
{
    cs_buf out, raw, anchor;
    cs_buf_init(&out, 0);
    cs_buf_init(&raw, 0);
    cs_buf_init(&anchor, 0);
    cst_ok(cs_node_quotes_json(reader->n, &out));
    cst_ok(cs_x509_to_der(f->ca.cert, &anchor));
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    cst_ok(cs_blob_list_add(&anchors, cs_buf_slice(&anchor)));
    json_t *doc = json_loadb((const char *)out.ptr, out.len, 0, NULL);
    assert_non_null(doc);
    json_t *quotes = json_object_get(doc, "quotes");
    assert_int_equal(json_array_size(quotes), count);
    for (size_t i = 0; i < count; i++) {
        json_t *q = NULL;
        size_t k;
        json_t *item;
        json_array_foreach(quotes, k, item)
        {
            if (strcmp(json_string_value(json_object_get(item, "node_id")),
                       cs_node_id(nodes[i]->n)) == 0)
                q = item;
        }
        assert_non_null(q);
        assert_string_equal(json_string_value(json_object_get(q, "platform")), "tpm");
        cs_buf_reset(&raw);
        cst_ok(
            cs_b64_decode(cs_slice_str(json_string_value(json_object_get(q, "evidence"))), &raw));
        cs_evidence ev;
        cs_evidence_init(&ev);
        cs_claims claims;
        const cs_verify_opts o = {.now = (int64_t)time(NULL), .anchors = &anchors};
        cst_ok(cs_evidence_decode(cs_buf_slice(&raw), &ev));
        assert_int_equal(ev.platform, CS_PLATFORM_TPM);
        cst_ok(cs_evidence_verify(&ev, &o, &claims));
        cst_ok(cs_claims_check_binding(&claims, cs_node_key(nodes[i]->n), CS_SLICE_EMPTY));
        const cs_claim *pcr = cs_claims_find(&claims, "code_id_pcr");
        assert_non_null(pcr);
        cs_evidence_cleanup(&ev);
    }
    json_decref(doc);
    cs_blob_list_cleanup(&anchors);
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&raw);
    cs_buf_cleanup(&anchor);
}

static void single_node_seal_restart(void **state)
{
    fixture *f = *state;
    tnode *t = &f->node[0];
    tt_config(f, 0, NULL);
    tn_start(&f->loop, t);
    assert_true(cs_node_is_leader(t->n));
    char id[32];
    snprintf(id, sizeof id, "%s", cs_node_id(t->n));
    cs_txid t1 = tn_put(&f->loop, t, "k1", "v1");
    assert_int_equal(cs_node_tx_status(t->n, t1), CS_TX_COMMITTED);
    check_receipt(f, t, t1);
    tnode *one[] = {t};
    check_quotes(f, t, one, 1);

    /* restart: the TPM derives the same sealing key, the state unseals */
    tn_stop(&f->loop, t);
    tn_start(&f->loop, t);
    assert_string_equal(cs_node_id(t->n), id);
    char v[64];
    assert_string_equal(tn_get(t, "records", "k1", v), "v1");
    assert_int_equal(cs_node_tx_status(t->n, t1), CS_TX_COMMITTED);
    cs_txid t2 = tn_put(&f->loop, t, "k2", "v2");
    assert_true(t2.seqno > t1.seqno);
    check_receipt(f, t, t2);
    tn_stop(&f->loop, t);

    /* the same data directory on another TPM: its monotonic counter is not
     * the one the sealed store is bound to */
    cst_swtpm_start(&f->tpm[1]);
    snprintf(t->cfg.tpm_tcti, sizeof t->cfg.tpm_tcti, "%s", f->tpm[1].tcti);
    cst_ok(cs_node_new(&f->loop, &t->cfg, &t->n));
    t->stopped = false;
    cst_fails(cs_node_start(t->n), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "the anchor is behind the store"));
    assert_string_equal(cs_node_state_name(t->n), "Failed");
    tn_stop(&f->loop, t);

    /* and with that TPM's counter moved to the store's value, its sealing
     * root differs: the store does not open */
    char path[CS_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sealed/store.bin", t->cfg.data_dir);
    cs_buf store;
    cs_buf_init(&store, 0);
    cst_read_file(path, &store);
    cs_seal_header h;
    cst_ok(cs_seal_peek(cs_buf_slice(&store), &h));
    cs_buf_cleanup(&store);
    cs_anchor *a;
    uint64_t at;
    cst_ok(cs_anchor_tpm_open(f->tpm[1].tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, &a));
    cst_ok(cs_anchor_read(a, &at));
    assert_true(at <= h.counter_value);
    while (at < h.counter_value)
        cst_ok(cs_anchor_increment(a, &at));
    cs_anchor_free(a);
    cst_ok(cs_node_new(&f->loop, &t->cfg, &t->n));
    t->stopped = false;
    cst_fails(cs_node_start(t->n), CONSORT_E_BAD_TAG);
    assert_string_equal(cs_node_state_name(t->n), "Failed");
}

typedef struct value_wait {
    tnode *t;
    const char *key, *want;
} value_wait;

static bool has_value(void *ctx)
{
    value_wait *w = ctx;
    char v[64];
    return cs_node_is_open(w->t->n) && strcmp(tn_get(w->t, "records", w->key, v), w->want) == 0;
}

static void wait_value(fixture *f, tnode *t, const char *key, const char *want)
{
    value_wait w = {.t = t, .key = key, .want = want};
    tn_run_until(&f->loop, 20000, has_value, &w, "value replicated");
}

static void three_nodes_on_three_tpms(void **state)
{
    fixture *f = *state;
    tt_config(f, 0, NULL);
    tn_start(&f->loop, &f->node[0]);
    /* node 2 asks node 1, a follower: redirected to the leader */
    for (int i = 1; i < 3; i++) {
        tt_config(f, i, f->node[i - 1].cfg.node_address);
        tn_start(&f->loop, &f->node[i]);
    }
    cs_txid t1 = tn_put(&f->loop, &f->node[0], "k1", "v1");
    for (int i = 1; i < 3; i++) {
        wait_value(f, &f->node[i], "k1", "v1");
        assert_int_equal(cs_node_tx_status(f->node[i].n, t1), CS_TX_COMMITTED);
    }
    tnode *all[] = {&f->node[0], &f->node[1], &f->node[2]};
    check_quotes(f, &f->node[2], all, 3);
    check_receipt(f, &f->node[1], t1);

    /* a follower restarts from its TPM-sealed state and re-attests to its peers */
    tn_stop(&f->loop, &f->node[2]);
    cs_txid t2 = tn_put(&f->loop, &f->node[0], "k2", "v2");
    tn_start(&f->loop, &f->node[2]);
    wait_value(f, &f->node[2], "k2", "v2");
    assert_int_equal(cs_node_tx_status(f->node[2].n, t2), CS_TX_COMMITTED);

    tn_run_for(&f->loop, 300); /* a signature entry after t2 */
    cs_x509 *svc;
    cst_ok(cs_x509_load_file(f->env.service_cert, &svc));
    for (int i = 0; i < 3; i++) {
        char dir[CS_NODE_PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/ledger", f->node[i].cfg.data_dir);
        tn_stop(&f->loop, &f->node[i]);
        cs_ledger_verify_report rep;
        cst_ok(cs_ledger_verify(dir, svc, (int64_t)time(NULL), &rep));
        assert_true(rep.last_seqno >= t2.seqno);
    }
    cs_x509_free(svc);
}

/* node 1's AK certificate comes from another CA (it trusts the right one): the
 * service refuses its evidence, so it never joins. */
static void ak_from_other_ca_refused(void **state)
{
    fixture *f = *state;
    tt_config(f, 0, NULL);
    tn_start(&f->loop, &f->node[0]);

    cst_swtpm_start(&f->tpm[1]);
    tt_ca other;
    ca_make(&f->env, "other_ca", true, &other);
    const cs_tpm_attester_opts o = {.tcti = f->tpm[1].tcti};
    cs_tpm_attester *att;
    cst_ok(cs_tpm_attester_new(&o, &att));
    int64_t now = (int64_t)time(NULL);
    cs_x509 *ak_cert;
    cst_ok(cs_tpm_ak_certify(cs_tpm_attester_ak(att), other.key, other.cert, now - 60, now + 3600,
                             &ak_cert));
    cs_tpm_attester_free(att);
    char ak_path[320];
    snprintf(ak_path, sizeof ak_path, "%s/node1_ak_cert.pem", f->env.root);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(ak_cert, &pem));
    write_pem(ak_path, &pem);
    cs_x509_free(ak_cert);
    ca_free(&other);

    char ak[1024], json[4096];
    snprintf(ak, sizeof ak, "\"tpm_ak_ca_cert\": \"%s\", \"tpm_ak_cert\": \"%s\"", f->ca.cert_path,
             ak_path);
    tt_json(f, 1, f->tpm[1].tcti, ak, f->node[0].cfg.node_address, json, sizeof json);
    tnode *t = &f->node[1];
    cst_ok(cs_node_config_parse(cs_slice_str(json), &t->cfg));
    cst_log_capture_start();
    cst_ok(cs_node_new(&f->loop, &t->cfg, &t->n));
    cst_ok(cs_node_start(t->n)); /* it starts (warning that peers will refuse it) ... */
    tn_run_for(&f->loop, 2500);
    const char *log = cst_log_captured();
    bool warned = strstr(log, "peers will refuse it") != NULL;
    /* the service's reason, on its side of the attested channel */
    const char *refusal = strstr(log, "attested channel with");
    const char *eol = refusal != NULL ? strchr(refusal, '\n') : NULL;
    const char *why = refusal != NULL ? strstr(refusal, "refused: tpm evidence: tpm platform: "
                                                        "AK certificate")
                                      : NULL;
    bool refused = why != NULL && (eol == NULL || why < eol);
    cst_log_capture_stop();
    assert_true(warned);
    assert_true(refused);
    /* ... and stays outside */
    assert_string_equal(cs_node_state_name(t->n), "Joining");
    assert_null(cs_node_cert(t->n));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_network_json(f->node[0].n, &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    assert_null(strstr((const char *)out.ptr, cs_node_id(t->n)));
    cs_buf_cleanup(&out);
}

/* Configuration and enrolment mistakes: refused when parsed or at start. */
static void config_and_enrolment_errors(void **state)
{
    fixture *f = *state;
    cst_swtpm_start(&f->tpm[0]);
    const char *tcti = f->tpm[0].tcti;
    char ak[1024], json[4096];
    cs_node_config cfg;
    const char *bad_members[] = {
        "\"tpm_ak_ca_key\": \"/k.pem\"",  /* no CA cert */
        "\"tpm_ak_ca_cert\": \"/c.pem\"", /* neither */
        ("\"tpm_ak_ca_cert\": \"/c.pem\", \"tpm_ak_ca_key\": \"/k.pem\", "
         "\"tpm_ak_cert\": \"/a.pem\""),                           /* both */
        "\"tpm_ak_ca_cert\": \"\", \"tpm_ak_ca_key\": \"/k.pem\"", /* empty */
        "\"tpm_ak_ca_cert\": 7, \"tpm_ak_ca_key\": \"/k.pem\"",    /* not a string */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad_members); i++) {
        tt_json(f, 0, tcti, bad_members[i], NULL, json, sizeof json);
        cst_fails(cs_node_config_parse(cs_slice_str(json), &cfg), CONSORT_E_MALFORMED);
    }
    /* tpm_ak_* on the virtual platform */
    snprintf(json, sizeof json,
             "{\"platform\": \"virtual\", \"platform_dir\": \"%s\", \"tpm_ak_ca_cert\": \"%s\","
             " \"rpc_address\": \"127.0.0.1:1\", \"node_address\": \"127.0.0.1:2\","
             " \"data_dir\": \"/tmp/x\", \"start\": {}}",
             f->env.platform, f->ca.cert_path);
    cst_fails(cs_node_config_parse(cs_slice_str(json), &cfg), CONSORT_E_MALFORMED);

    /* at start: a CA key that is not the CA certificate's, a CA certificate that is
     * not a CA, an AK certificate for another key, a missing file */
    tt_ca other, leaf;
    ca_make(&f->env, "other_ca", true, &other);
    ca_make(&f->env, "not_a_ca", false, &leaf);
    struct {
        const char *cert, *key, *ak_cert;
        consort_err want;
    } cases[] = {
        {f->ca.cert_path, other.key_path, NULL, CONSORT_E_BAD_CERTIFICATE},
        {leaf.cert_path, leaf.key_path, NULL, CONSORT_E_BAD_CERTIFICATE},
        {f->ca.cert_path, NULL, other.cert_path, CONSORT_E_BAD_CERTIFICATE},
        {f->ca.cert_path, "/nonexistent/ca.pem", NULL, CONSORT_E_NOT_FOUND},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        if (cases[i].key != NULL)
            snprintf(ak, sizeof ak, "\"tpm_ak_ca_cert\": \"%s\", \"tpm_ak_ca_key\": \"%s\"",
                     cases[i].cert, cases[i].key);
        else
            snprintf(ak, sizeof ak, "\"tpm_ak_ca_cert\": \"%s\", \"tpm_ak_cert\": \"%s\"",
                     cases[i].cert, cases[i].ak_cert);
        tt_json(f, (int)i, tcti, ak, NULL, json, sizeof json);
        tnode *t = &f->node[0];
        memset(t, 0, sizeof *t);
        cst_ok(cs_node_config_parse(cs_slice_str(json), &t->cfg));
        cst_ok(cs_node_new(&f->loop, &t->cfg, &t->n));
        consort_err rc = cs_node_start(t->n);
        if (rc != cases[i].want)
            fail_msg("case %zu: %s (%s), expected %s", i, consort_err_name(rc), consort_errmsg(),
                     consort_err_name(cases[i].want));
        assert_string_equal(cs_node_state_name(t->n), "Failed");
        tn_stop(&f->loop, t);
    }
    ca_free(&other);
    ca_free(&leaf);

    /* no TPM at the TCTI: IO */
    tt_json(f, 9, "swtpm:host=127.0.0.1,port=1",
            "\"tpm_ak_ca_cert\": \"/c\", \"tpm_ak_cert\": \"/a\"", NULL, json, sizeof json);
    tnode *t = &f->node[0];
    memset(t, 0, sizeof *t);
    cst_ok(cs_node_config_parse(cs_slice_str(json), &t->cfg));
    cst_ok(cs_node_new(&f->loop, &t->cfg, &t->n));
    cst_fails(cs_node_start(t->n), CONSORT_E_IO);
    tn_stop(&f->loop, t);
}

int main(void)
{
    setenv("TSS2_LOG", "all+none", 0);
    (void)tn_config; /* node_fixture.h's virtual-platform nodes are not used here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(single_node_seal_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(three_nodes_on_three_tpms, setup, teardown),
        cmocka_unit_test_setup_teardown(ak_from_other_ca_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(config_and_enrolment_errors, setup, teardown),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
