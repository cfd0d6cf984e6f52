/*
 * seedgen_fuzz OUT: writes seed corpora made by the real code for the fuzz
 * targets whose inputs cannot be written by hand (built in the default
 * build; rerun it to refresh the seeds, then commit what changed):
 *
 *   OUT/corpus/sealed/        sealed-state plaintexts of real vaults (byte 0
 *                             = 0: the target seals them) and one whole
 *                             sealed file (byte 0 = 1), sealed with
 *                             FUZZ_SEAL_KEY: a new node, a service's first
 *                             node with genesis inputs, a recovering node, a
 *                             joiner that pinned its service, a trusted joiner
 *   OUT/corpus/join/          byte 0 = 0: join requests as a joiner sends
 *                             them (whole, and with a second frame after it);
 *                             byte 0 = 1: answers (a genuine welcome for the
 *                             joiner of join_fixture.h, a redirect, an error)
 *   OUT/join_fixture.h        that joiner's sealed plaintext (fuzz_join loads
 *                             it, so the genuine welcome is adopted)
 *   OUT/corpus/node_snapshot/ snapshots a running single-node service made
 *                             (node_replica_snapshot_make): the ledger secret,
 *                             the service certificate and the plaintext
 *                             (fuzz_node_snapshot seals it again);
 *                             records_format_2 is `records` as format 2
 */
#include "../../unit/node/node_fixture.h"
#include "../../unit/node/snap_format2.h"
#include "fuzz_fixed.h"

#include "crypto/aead.h"
#include "node/join_msg.h"
#include "node/node_priv.h"
#include "node/replica_priv.h"
#include "node/vault.h"
#include "../fuzz_vault.h"

static const char *out_root;

static void write_seed(const char *dir, const char *name, uint8_t mode, bool with_mode,
                       cs_slice body)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/corpus/%s", out_root, dir);
    cst_ok(cs_mkdir_p(path, 0755));
    snprintf(path, sizeof path, "%s/corpus/%s/%s", out_root, dir, name);
    cs_buf b;
    cs_buf_init(&b, 0);
    if (with_mode)
        cst_ok(cs_buf_append(&b, &mode, 1));
    cst_ok(cs_buf_append_slice(&b, body));
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0644));
    cs_buf_cleanup(&b);
}

static node_vault *vault_at(const char *root, const char *name)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    cst_ok(cs_mkdir_p(dir, 0700));
    node_vault *v;
    cst_ok(node_vault_new(dir, &v));
    cst_ok(node_vault_create_node(v));
    return v;
}

/* The vault's plaintext as a fuzz_sealed seed (mode 0). */
static void save_seed(node_vault *v, const char *root, const char *name, const char *seed)
{
    (void)root;
    (void)name;
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(node_vault_encode(v, &plain));
    write_seed("sealed", seed, 0, true, cs_buf_slice(&plain));
    cs_buf_cleanup(&plain);
}

static void write_pem(const cs_x509 *cert, const char *path)
{
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(cert, &pem));
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&pem), 0644));
    cs_buf_cleanup(&pem);
}

/* A join seed: [flags][piece size] (fuzz_join.c) then the frame(s). */
static void write_frame(const join_msg *m, const char *name, uint8_t flags, uint8_t piece,
                        bool twice)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_buf_append(&b, &piece, 1));
    cst_ok(join_msg_encode(m, &b));
    if (twice)
        cst_ok(join_msg_encode(m, &b));
    write_seed("join", name, flags, true, cs_buf_slice(&b));
    cs_buf_cleanup(&b);
}

static void c_array(FILE *f, const char *name, cs_slice b)
{
    fprintf(f, "static const unsigned char %s[] = {", name);
    for (size_t i = 0; i < b.len; i++)
        fprintf(f, "%s0x%02x,", i % 16 == 0 ? "\n    " : " ", b.ptr[i]);
    fprintf(f, "\n};\n");
}

/* The fixture header: the joiner's sealed plaintext and the platform
 * certificate its evidence chains to, as C arrays. */
static void write_fixture(cs_slice plain, cs_slice anchor)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/join_fixture.h", out_root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "/* Written by seedgen_fuzz (tests/fuzz/seedgen/seedgen.c): the sealed-state\n"
               " * plaintext of a joiner that pinned its service's certificate; the\n"
               " * welcome seeds of corpus/join are for this joiner, and its join\n"
               " * requests carry virtual evidence (FUZZ_CODE_ID) endorsed by the\n"
               " * platform certificate JOIN_ANCHOR_DER. */\n");
    c_array(f, "JOINER_SEALED_PLAIN", plain);
    c_array(f, "JOIN_ANCHOR_DER", anchor);
    fclose(f);
}

static void vault_and_join_seeds(const char *root)
{
    /* a new node; the whole sealed file too */
    node_vault *fresh = vault_at(root, "fresh");
    save_seed(fresh, root, "fresh", "fresh_node");
    char path[600];
    snprintf(path, sizeof path, "%s/fresh", root);
    node_seal *fresh_seal = fuzz_seal_at(path); /* a new store: its anchor moves from 0 to 1 */
    node_vault_set_seal(fresh, fresh_seal);
    cst_ok(node_vault_save(fresh)); /* bound to 2: fuzz_sealed's fresh anchor is at 0 */
    snprintf(path, sizeof path, "%s/fresh/sealed/store.bin", root);
    cs_buf file;
    cs_buf_init(&file, 0);
    cst_ok(cs_file_read(path, &file));
    write_seed("sealed", "fresh_node_file", 1, true, cs_buf_slice(&file));
    cs_buf_cleanup(&file);

    /* a service's first node, genesis inputs not yet committed */
    node_vault *svc = vault_at(root, "service");
    cst_ok(node_vault_create_service(svc, "127.0.0.1:8000"));
    cst_ok(node_vault_set_genesis(svc, CS_SLICE_LIT("{\"members\": [], \"open\": true}")));
    save_seed(svc, root, "service", "service_genesis");
    char svc_pem[600];
    snprintf(svc_pem, sizeof svc_pem, "%s/service_cert.pem", root);
    write_pem(node_vault_service_cert(svc), svc_pem);

    /* a node recovering that service */
    node_vault *rec = vault_at(root, "recovering");
    cst_ok(node_vault_pin_previous(rec, svc_pem));
    cst_ok(node_vault_create_recovery(rec, "127.0.0.1:8002"));
    save_seed(rec, root, "recovering", "recovering");

    /* a joiner that pinned the service, then its welcome */
    node_vault *joiner = vault_at(root, "joiner");
    cst_ok(node_vault_pin_service(joiner, svc_pem));
    save_seed(joiner, root, "joiner", "joiner_pinned");
    cs_buf jplain;
    cs_buf_init(&jplain, 0);
    cst_ok(node_vault_encode(joiner, &jplain));
    cs_virtual_platform *plat;
    cst_ok(cs_virtual_platform_generate((int64_t)time(NULL) - 86400, &plat));
    write_fixture(cs_buf_slice(&jplain), cs_virtual_platform_cert_der(plat));
    uint8_t rd[64];
    cst_ok(cs_report_data_bind(node_vault_key(joiner), CS_SLICE_EMPTY, rd));
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_ok(cs_virtual_attest(plat, FUZZ_CODE_ID, 0, false, rd, &ev));
    cs_buf evidence;
    cs_buf_init(&evidence, 0);
    cst_ok(cs_evidence_encode(&ev, &evidence));
    cs_evidence_cleanup(&ev);
    cs_virtual_platform_free(plat);

    cs_x509 *node_cert;
    cst_ok(node_vault_issue(svc, node_vault_key(joiner), node_vault_node_id(joiner),
                            "127.0.0.1:8001", &node_cert));
    cs_buf key_pem, svc_der, node_der;
    cs_buf_init(&key_pem, 0);
    cs_buf_init(&svc_der, 0);
    cs_buf_init(&node_der, 0);
    cst_ok(cs_key_private_pem(node_vault_service_key(svc), &key_pem));
    cst_ok(cs_x509_to_der(node_vault_service_cert(svc), &svc_der));
    cst_ok(cs_x509_to_der(node_cert, &node_der));
    join_msg w = {.type = JOIN_MSG_WELCOME,
                  .service_key = cs_buf_slice(&key_pem),
                  .service_cert = cs_buf_slice(&svc_der),
                  .node_cert = cs_buf_slice(&node_der),
                  .ledger_secret = CS_SLICE(node_vault_secret(svc), CS_LEDGER_SECRET_LEN)};
    write_frame(&w, "welcome", 1, 7, false);
    write_frame(&w, "welcome_in_pieces", 1, 3, false);
    join_msg redirect = {.type = JOIN_MSG_REDIRECT};
    snprintf(redirect.node_address, sizeof redirect.node_address, "127.0.0.1:9001");
    write_frame(&redirect, "redirect", 1, 7, false);
    join_msg err = {.type = JOIN_MSG_ERROR};
    snprintf(err.message, sizeof err.message, "node 0123456789abcdef waits for the members");
    write_frame(&err, "error", 1, 7, false);

    /* the joiner adopts it: a trusted node's sealed state */
    const node_vault_welcome nw = {.service_key = w.service_key,
                                   .service_cert = w.service_cert,
                                   .node_cert = w.node_cert,
                                   .ledger_secret = w.ledger_secret};
    cst_ok(node_vault_adopt(joiner, &nw));
    save_seed(joiner, root, "joiner", "joiner_trusted");

    /* join requests: a virtual platform's evidence for the joiner's key */
    join_msg jr = {.type = JOIN_MSG_JOIN, .evidence = cs_buf_slice(&evidence)};
    snprintf(jr.node_address, sizeof jr.node_address, "127.0.0.1:9002");
    snprintf(jr.rpc_address, sizeof jr.rpc_address, "127.0.0.1:8002");
    /* flags: bit 1 leading, bits 2-3 decision (0 trust, 1 pending, 2 refuse),
     * bit 4 a record exists, bit 5 the commit fails, bit 6 raft add fails */
    write_frame(&jr, "join_trusted", 0x02, 7, false);
    write_frame(&jr, "join_trusted_in_pieces", 0x02, 4, false);
    write_frame(&jr, "join_pending", 0x06, 7, false);
    write_frame(&jr, "join_pending_again", 0x16, 7, false);
    write_frame(&jr, "join_refused", 0x0a, 7, false);
    write_frame(&jr, "join_commit_fails", 0x22, 7, false);
    write_frame(&jr, "join_raft_add_fails", 0x42, 7, false);
    write_frame(&jr, "join_redirected", 0x00, 0x0f, false);
    write_frame(&jr, "join_no_leader", 0x00, 7, false);
    write_frame(&jr, "join_request_twice", 0x02, 7, true);

    cs_x509_free(node_cert);
    cs_buf_cleanup(&evidence);
    cs_buf_cleanup(&key_pem);
    cs_buf_cleanup(&svc_der);
    cs_buf_cleanup(&node_der);
    cs_buf_cleanup(&jplain);
    node_vault_free(fresh);
    node_seal_free(fresh_seal);
    node_vault_free(svc);
    node_vault_free(rec);
    node_vault_free(joiner);
}

typedef struct snap_wait {
    node_replica *r;
    cs_buf *out;
} snap_wait;

static bool made(void *ctx)
{
    snap_wait *w = ctx;
    cs_buf_reset(w->out);
    return node_replica_snapshot_make(w->r, w->out) == CONSORT_OK;
}

/* [secret 32][be16 certificate length][certificate DER][snapshot plaintext]
 * (format 2 if `format_2`: fuzz_node_snapshot installs both formats) */
static void snapshot_seed(node_vault *v, node_replica *r, const cs_buf *snap, bool format_2,
                          const char *name)
{
    uint8_t key[32];
    cst_ok(cs_ledger_keys_derive(node_replica_keys(r), "consort snapshot v3", key));
    cs_buf plain, seed, der;
    cs_buf_init_secret(&plain, 0);
    cs_buf_init(&seed, 0);
    cs_buf_init(&der, 0);
    cst_ok(cs_aead_open(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP03"),
                        CS_SLICE(snap->ptr + 20, snap->len - 20), &plain));
    if (format_2) {
        cs_buf v2;
        cs_buf_init_secret(&v2, 0);
        (void)snap_plain_as_format_2(r, cs_buf_slice(&plain), 0, &v2);
        cs_buf_move(&plain, &v2);
    }
    cst_ok(cs_x509_to_der(node_vault_service_cert(v), &der));
    cst_ok(cs_buf_append(&seed, node_vault_secret(v), CS_LEDGER_SECRET_LEN));
    uint8_t len[2] = {(uint8_t)(der.len >> 8), (uint8_t)der.len};
    cst_ok(cs_buf_append(&seed, len, 2));
    cst_ok(cs_buf_append_slice(&seed, cs_buf_slice(&der)));
    cst_ok(cs_buf_append_slice(&seed, cs_buf_slice(&plain)));
    write_seed("node_snapshot", name, 0, false, cs_buf_slice(&seed));
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&seed);
    cs_buf_cleanup(&der);
}

static void snapshot_seeds(void)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tn_env env;
    tn_env_init(&env);
    tnode node;
    tn_config(&env, &node, 0, NULL);
    node.cfg.snapshot_interval = 8;
    tn_start(&loop, &node);
    node_replica *r = node.n->replica;
    cs_buf snap;
    cs_buf_init_secret(&snap, 0);
    snap_wait w = {.r = r, .out = &snap};
    /* a small one (a few entries after genesis), then one with 24 records */
    tn_run_until(&loop, 5000, made, &w, "a snapshot");
    snapshot_seed(node.n->vault, r, &snap, false, "small");
    for (int i = 0; i < 24; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        (void)tn_put(&loop, &node, k, v);
    }
    tn_run_until(&loop, 5000, made, &w, "a snapshot");
    snapshot_seed(node.n->vault, r, &snap, false, "records");
    snapshot_seed(node.n->vault, r, &snap, true, "records_format_2");
    cs_buf_cleanup(&snap);
    tn_stop(&loop, &node);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    tn_env_cleanup(&env);
}

static void generate(void **state)
{
    (void)state;
    char root[] = "/tmp/seedgen-XXXXXX";
    assert_non_null(mkdtemp(root));
    vault_and_join_seeds(root);
    snapshot_seeds();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen_fuzz OUT (e.g. tests/fuzz)\n");
        return 2;
    }
    out_root = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(generate)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
