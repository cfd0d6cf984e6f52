/*
 * Recovering a lost service in process (docs/recovery.md): a service of
 * three members with encryption keys (threshold 2) writes private and
 * public records and is lost; a recover-mode node on a copy of its ledger
 * restores the public state only and waits; every malformed, foreign,
 * stale, replayed or misattributed share is refused and recovers nothing;
 * one share short recovers nothing; a share that does not fit the others
 * discards them all; the second good share restores the private state,
 * the node takes over under a new identity endorsed by the old one, issues
 * new shares, and the service waits for its members to open it; an old
 * receipt verifies through the identity chain; the recovered node
 * restarts from its own sealed state and ledger.
 */
#include "node_fixture.h"

#include "crypto/b64.h"
#include "gov/request.h"
#include "gov/shares.h"
#include "node/gov_shares.h"
#include "node/succession.h"
#include "store/receipt.h"
#include "store/succession.h"

#include <jansson.h>

#define MEMBERS 3

typedef struct member {
    cs_key *key;
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
    cs_buf enc_priv;
} member;

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node;
    tnode joiner;
    member m[MEMBERS + 1]; /* the last one is no member */
    char prev_ledger[320], new_cert[320];
    /* the recovery runs on another host (platform2) than the lost service,
     * and a node joins from a third (platform3) that only the recovery host
     * trusts: each host's anchors hold the other's platform certificate */
    char platform2[320], platform3[320];
    bool slow_sigs; /* the lost service signs only at genesis and when a leader opens */
    int64_t created;
} fixture;

static void write_file(const char *path, cs_slice data)
{
    cst_ok(cs_file_write_atomic(path, data, 0600));
}

static void member_make(fixture *f, int i)
{
    member *m = &f->m[i];
    char cn[16], path[400];
    snprintf(cn, sizeof cn, "member%d", i);
    int64_t now = (int64_t)time(NULL);
    cst_ok(cs_key_generate(CS_CURVE_P256, &m->key));
    cs_x509_params p = {.subject_cn = cn, .not_before = now - 3600, .not_after = now + 86400};
    cst_ok(cs_x509_create(&p, m->key, m->key, NULL, &m->cert));
    cst_ok(cs_gov_member_id(m->cert, m->id));
    cs_buf pem, pub;
    cs_buf_init(&pem, 0);
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&m->enc_priv, 0);
    cst_ok(cs_x509_to_pem(m->cert, &pem));
    snprintf(path, sizeof path, "%s/member%d_cert.pem", f->env.root, i);
    write_file(path, cs_buf_slice(&pem));
    cst_ok(cs_gov_enc_keygen(&m->enc_priv, &pub));
    snprintf(path, sizeof path, "%s/member%d_enc_pubk.pem", f->env.root, i);
    write_file(path, cs_buf_slice(&pub));
    cs_buf_cleanup(&pem);
    cs_buf_cleanup(&pub);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    for (int i = 0; i <= MEMBERS; i++)
        member_make(f, i);
    snprintf(f->platform2, sizeof f->platform2, "%s/platform2", f->env.root);
    snprintf(f->platform3, sizeof f->platform3, "%s/platform3", f->env.root);
    cs_virtual_platform *vp;
    cst_ok(cs_virtual_platform_init(f->platform2, false, &vp));
    cs_virtual_platform_free(vp);
    cst_ok(cs_virtual_platform_init(f->platform3, false, &vp));
    cs_virtual_platform_free(vp);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/anchors' '%s/anchors' && cp '%s/" CS_VIRTUAL_CERT_FILE
             "' '%s/anchors/host3.pem' && cp '%s/" CS_VIRTUAL_CERT_FILE "' '%s/anchors/host2.pem'",
             f->platform2, f->platform3, f->platform3, f->platform2, f->platform2, f->platform3);
    assert_int_equal(system(cmd), 0);
    snprintf(f->prev_ledger, sizeof f->prev_ledger, "%s/previous_ledger", f->env.root);
    snprintf(f->new_cert, sizeof f->new_cert, "%s/new_service_cert.pem", f->env.root);
    f->created = (int64_t)time(NULL) - 60;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tn_stop(&f->loop, &f->joiner);
    tn_stop_and_close_loop(&f->loop, &f->node);
    for (int i = 0; i <= MEMBERS; i++) {
        cs_key_free(f->m[i].key);
        cs_x509_free(f->m[i].cert);
        cs_buf_cleanup(&f->m[i].enc_priv);
    }
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

/* Node configuration: "start" with the members and their keys, or "recover". */
static void config(fixture *f, int idx, bool recover)
{
    char mode[4096], json[8192];
    if (!recover)
        snprintf(mode, sizeof mode,
                 "\"start\": {\"service_cert_out\": \"%s\", \"open_at_genesis\": true, "
                 "\"members\": [{\"cert\": \"%s/member0_cert.pem\", \"encryption_key\": "
                 "\"%s/member0_enc_pubk.pem\"}, {\"cert\": \"%s/member1_cert.pem\", "
                 "\"encryption_key\": \"%s/member1_enc_pubk.pem\"}, {\"cert\": "
                 "\"%s/member2_cert.pem\", \"encryption_key\": \"%s/member2_enc_pubk.pem\"}]}",
                 f->env.service_cert, f->env.root, f->env.root, f->env.root, f->env.root,
                 f->env.root, f->env.root);
    else
        snprintf(mode, sizeof mode,
                 "\"recover\": {\"previous_ledger\": \"%s\", \"previous_service_cert\": \"%s\", "
                 "\"service_cert_out\": \"%s\"}",
                 f->prev_ledger, f->env.service_cert, f->new_cert);
    snprintf(json, sizeof json,
             "{\"platform\": \"virtual\", \"platform_dir\": \"%s\", \"rpc_address\": "
             "\"127.0.0.1:%u\", \"node_address\": \"127.0.0.1:%u\", \"data_dir\": \"%s/node%d\", "
             "\"sig_interval_tx\": %d, \"sig_interval_ms\": %d, %s}",
             recover ? f->platform2 : f->env.platform, tn_reserved_port(), tn_reserved_port(),
             f->env.root, idx, f->slow_sigs && !recover ? 1000 : 5,
             f->slow_sigs && !recover ? 3600000 : 20, mode);
    memset(&f->node, 0, sizeof f->node);
    cst_ok(cs_node_config_parse(cs_slice_str(json), &f->node.cfg));
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

/* The previous service: records 1..3 written and signed; stopped; every
 * node file deleted but a copy of the ledger. Returns record 1's receipt. */
static void lose_a_service(fixture *f, cs_buf *receipt)
{
    config(f, 0, false);
    tn_start(&f->loop, &f->node);
    cs_txid t1 = tn_put(&f->loop, &f->node, "k1", "v1");
    tn_put(&f->loop, &f->node, "k2", "v2");
    cs_txid t3 = tn_put(&f->loop, &f->node, "k3", "v3");
    receipt_wait w = {.n = f->node.n, .txid = t3};
    cs_buf_init(&w.json, 0);
    tn_run_until(&f->loop, 10000, receipt_ready, &w, "record 3 signed");
    w.txid = t1;
    assert_true(receipt_ready(&w));
    cs_buf_init(receipt, 0);
    cst_ok(cs_buf_set(receipt, cs_buf_slice(&w.json)));
    cs_buf_cleanup(&w.json);
    tn_stop(&f->loop, &f->node);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r '%s/node0/ledger' '%s' && rm -rf '%s/node0'", f->env.root,
             f->prev_ledger, f->env.root);
    assert_int_equal(system(cmd), 0);
}

/* How a share is altered before it is signed (not at all, its value, its threshold). */
enum { SHARE_AS_IS, SHARE_VALUE, SHARE_THRESHOLD };

/* A signed recovery_share request by `by` carrying `of`'s share (altered if asked). */
static void share_request(fixture *f, int by, int of, int alter, cs_buf *out)
{
    cs_buf doc;
    cs_buf_init(&doc, 0);
    cst_ok(cs_node_recovery_share_json(f->node.n, f->m[of].id, &doc));
    json_t *j = json_loadb((const char *)doc.ptr, doc.len, 0, NULL);
    assert_non_null(j);
    cs_buf enc, plain;
    cs_buf_init(&enc, 0);
    cs_buf_init_secret(&plain, 0);
    cst_ok(cs_b64_decode(cs_slice_str(json_string_value(json_object_get(j, "encrypted_share"))),
                         &enc));
    cs_gov_share s;
    cst_ok(cs_gov_share_decrypt(cs_buf_slice(&f->m[of].enc_priv), cs_buf_slice(&enc), &s));
    if (alter == SHARE_VALUE)
        s.y[0] ^= 1;
    if (alter == SHARE_THRESHOLD) /* claims one share is enough */
        s.meta.threshold = 1;
    cst_ok(cs_gov_share_encode(&s, &plain));
    cs_buf_init(out, 0);
    cst_ok(cs_gov_request_sign(f->m[by].key, f->m[by].cert, CS_GOV_MSG_RECOVERY_SHARE,
                               (uint64_t)f->created++, NULL, cs_buf_slice(&plain), out));
    cs_gov_share_wipe(&s);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&enc);
    cs_buf_cleanup(&doc);
    json_decref(j);
}

static cs_node_share_result submit(fixture *f, cs_slice body, int status, const char *code)
{
    cs_node_share_result r;
    cst_ok(cs_node_recovery_submit(f->node.n, body, (int64_t)time(NULL), &r));
    if (r.status != status || strcmp(r.code, code) != 0)
        fail_msg("submission: %d %s (%s), expected %d %s", r.status, r.code, r.message, status,
                 code);
    return r;
}

static cs_node_share_result submit_share(fixture *f, int by, int of, int alter, int status,
                                         const char *code)
{
    cs_buf b;
    share_request(f, by, of, alter, &b);
    cs_node_share_result r = submit(f, cs_buf_slice(&b), status, code);
    cs_buf_cleanup(&b);
    return r;
}

static void refusals(fixture *f)
{
    submit(f, CS_SLICE_LIT("not cose"), 400, "MalformedRequest");
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_gov_request_sign(f->m[0].key, f->m[0].cert, CS_GOV_MSG_PROPOSAL,
                               (uint64_t)f->created++, NULL, CS_SLICE_LIT("{}"), &b));
    submit(f, cs_buf_slice(&b), 400, "MalformedRequest");
    cs_buf_reset(&b);
    cst_ok(cs_gov_request_sign(f->m[MEMBERS].key, f->m[MEMBERS].cert, CS_GOV_MSG_RECOVERY_SHARE,
                               (uint64_t)f->created++, NULL, CS_SLICE_LIT("x"), &b));
    submit(f, cs_buf_slice(&b), 403, "NotAMember");
    cs_buf_reset(&b);
    cst_ok(cs_gov_request_sign(f->m[0].key, f->m[0].cert, CS_GOV_MSG_RECOVERY_SHARE,
                               (uint64_t)time(NULL) - 100000, NULL, CS_SLICE_LIT("x"), &b));
    submit(f, cs_buf_slice(&b), 400, "StaleRequest");
    cs_buf_cleanup(&b);
    cs_node_share_result r =
        submit_share(f, 0, 1, SHARE_AS_IS, 400, "InvalidShare"); /* not its own */
    assert_non_null(strstr(r.message, "member"));
    assert_int_equal(r.submitted, 0);
    /* its own share, but claiming another threshold: not the share it was issued */
    r = submit_share(f, 0, 0, SHARE_THRESHOLD, 400, "InvalidShare");
    assert_non_null(strstr(r.message, "does not match the one issued"));
    assert_int_equal(r.submitted, 0);
}

static bool private_readable(fixture *f)
{
    char v[64];
    return strcmp(tn_get(&f->node, "records", "k1", v), "v1") == 0;
}

static void check_taken_over(fixture *f, const cs_buf *old_receipt)
{
    cs_node *n = f->node.n;
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "k2", v), "v2");
    assert_string_equal(tn_get(&f->node, "public:records", "k3", v), "v3");
    assert_false(cs_node_service_open(n)); /* the members open it again */
    /* the new identity, endorsed by the old one, in the store */
    cs_x509 *old = NULL;
    cst_ok(cs_x509_load_file(f->env.service_cert, &old));
    uint8_t a[32], b[32];
    cst_ok(cs_x509_fingerprint(old, a));
    cst_ok(cs_x509_fingerprint(cs_node_service_cert(n), b));
    assert_memory_not_equal(a, b, 32);
    cs_buf net;
    cs_buf_init(&net, 0);
    cst_ok(cs_node_network_json(n, &net));
    json_t *doc = json_loadb((const char *)net.ptr, net.len, 0, NULL);
    json_t *prev = json_object_get(doc, "previous_identities");
    assert_int_equal(json_array_size(prev), 1);
    cs_buf record;
    cs_buf_init(&record, 0);
    cst_ok(cs_b64_decode(
        cs_slice_str(json_string_value(json_object_get(json_array_get(prev, 0), "record"))),
        &record));
    cs_succession s;
    cst_ok(cs_succession_decode(cs_buf_slice(&record), &s));
    cst_ok(cs_succession_verify(&s));
    /* the old receipt, through the chain from the new certificate */
    cs_receipt r;
    cs_receipt_init(&r);
    cst_ok(cs_receipt_parse(cs_buf_slice(old_receipt), &r));
    const cs_slice recs[1] = {cs_buf_slice(&record)};
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    size_t hops = 0;
    cst_ok(cs_receipt_verify_chain(&r, cs_node_service_cert(n), recs, 1, &o, &hops));
    assert_int_equal(hops, 1);
    assert_int_equal(cs_receipt_verify_chain(&r, cs_node_service_cert(n), NULL, 0, &o, NULL),
                     CONSORT_E_BAD_CERTIFICATE);
    /* the recovered node serves that receipt too */
    receipt_wait w = {.n = n, .txid = {.term = r.term, .seqno = r.seqno}};
    cs_buf_init(&w.json, 0);
    assert_true(receipt_ready(&w));
    cs_buf_cleanup(&w.json);
    cs_receipt_cleanup(&r);
    cs_buf_cleanup(&record);
    json_decref(doc);
    cs_buf_cleanup(&net);
    cs_x509_free(old);
    /* new shares, for the new identity, in a new epoch */
    cs_buf rec;
    cs_buf_init(&rec, 0);
    cst_ok(cs_node_recovery_json(n, &rec));
    assert_non_null(strstr((const char *)rec.ptr, "\"epoch\":2"));
    cs_buf_cleanup(&rec);
    /* and the node can no longer take shares */
    cs_node_share_result nr;
    cst_ok(cs_node_recovery_submit(n, CS_SLICE_LIT("x"), (int64_t)time(NULL), &nr));
    assert_int_equal(nr.status, 409);
    assert_string_equal(nr.code, "NotRecovering");
}

/* A new node joins the recovered service (pinning its new certificate) from
 * a host only the recovery host trusts (the succession added that host's
 * anchors), and catches up: the recovered node hands it a snapshot, since
 * its raft log holds none of the recovered entries. */
static void join_the_recovered(fixture *f)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"platform\": \"virtual\", \"platform_dir\": \"%s\", \"rpc_address\": "
             "\"127.0.0.1:%u\", \"node_address\": \"127.0.0.1:%u\", \"data_dir\": \"%s/node9\", "
             "\"sig_interval_tx\": 5, \"sig_interval_ms\": 20, \"join\": {\"target\": \"%s\", "
             "\"service_cert\": \"%s\"}}",
             f->platform3, tn_reserved_port(), tn_reserved_port(), f->env.root,
             f->node.cfg.node_address, f->new_cert);
    memset(&f->joiner, 0, sizeof f->joiner);
    cst_ok(cs_node_config_parse(cs_slice_str(json), &f->joiner.cfg));
    tn_start(&f->loop, &f->joiner);
    char v[64];
    tn_put(&f->loop, &f->node, "k5", "seen by the joiner");
    tn_read r = {.map = "records", .key = "k5"};
    for (int i = 0; i < 200 && !r.found; i++) {
        tn_run_for(&f->loop, 50);
        cst_ok(cs_node_read(f->joiner.n, tn_read_fn, &r));
    }
    assert_true(r.found);
    assert_string_equal(tn_get(&f->joiner, "records", "k1", v), "v1");
    tn_stop(&f->loop, &f->joiner);
}

static void recover_a_lost_service(void **state)
{
    fixture *f = *state;
    cs_buf receipt;
    lose_a_service(f, &receipt);

    config(f, 1, true);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_ok(cs_node_start(f->node.n));
    assert_string_equal(cs_node_state_name(f->node.n), "WaitingForRecoveryShares");
    char v[64];
    assert_string_equal(tn_get(&f->node, "public:records", "k1", v), "v1"); /* public state */
    assert_false(private_readable(f));
    refusals(f);

    /* one share, then one that does not fit: nothing recovered, all discarded */
    cs_buf first;
    share_request(f, 0, 0, SHARE_AS_IS, &first);
    cs_node_share_result r = submit(f, cs_buf_slice(&first), 200, "");
    assert_int_equal(r.submitted, 1);
    assert_int_equal(r.threshold, 2);
    assert_false(r.recovered);
    assert_non_null(strstr(r.message, "1 more needed"));
    submit(f, cs_buf_slice(&first), 409, "ShareAlreadySubmitted");
    r = submit_share(f, 1, 1, SHARE_VALUE, 400, "RecoveryFailed");
    assert_int_equal(r.submitted, 0);
    assert_string_equal(cs_node_state_name(f->node.n), "WaitingForRecoveryShares");
    /* a discarded request cannot be played again: the member signs a new one */
    submit(f, cs_buf_slice(&first), 409, "ReplayedRequest");
    cs_buf_cleanup(&first);
    /* again, one share short */
    r = submit_share(f, 2, 2, SHARE_AS_IS, 200, "");
    assert_int_equal(r.submitted, 1);
    submit_share(f, 2, 2, SHARE_AS_IS, 409, "ShareAlreadySubmitted");
    assert_false(private_readable(f));
    assert_string_equal(cs_node_state_name(f->node.n), "WaitingForRecoveryShares");

    r = submit_share(f, 0, 0, SHARE_AS_IS, 200, "");
    assert_true(r.recovered);
    assert_int_equal(r.submitted, 2);
    tn_run_until(&f->loop, 20000, tn_is_open, &f->node, "the recovered node open");
    check_taken_over(f, &receipt);
    cs_txid t4 = tn_put(&f->loop, &f->node, "k4", "after the recovery");
    assert_true(t4.term > 1);
    join_the_recovered(f);

    /* a restart: from its own sealed state and ledger */
    tn_stop(&f->loop, &f->node);
    tn_start(&f->loop, &f->node);
    assert_true(private_readable(f));
    assert_string_equal(tn_get(&f->node, "records", "k4", v), "after the recovery");
    cs_buf_cleanup(&receipt);
}

/* A recover-mode start that must fail with `code`, its message naming `needle`. */
static void start_fails(fixture *f, int idx, consort_err code, const char *needle)
{
    config(f, idx, true);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    consort_err rc = cs_node_start(f->node.n);
    if (rc != code || strstr(consort_errmsg(), needle) == NULL)
        fail_msg("recover start: %s (%s), expected %s naming \"%s\"", consort_err_name(rc),
                 consort_errmsg(), consort_err_name(code), needle);
    assert_string_equal(cs_node_state_name(f->node.n), "Failed");
    tn_stop(&f->loop, &f->node);
}

/* What a recovering node refuses before any share: a ledger that is not the
 * previous service's, altered, empty, or that holds no shares. */
static void refused_at_start(void **state)
{
    fixture *f = *state;
    cs_buf receipt;
    lose_a_service(f, &receipt);
    cs_buf_cleanup(&receipt);
    char cmd[2048], saved[400];
    snprintf(saved, sizeof saved, "%s/saved_ledger", f->env.root);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", f->prev_ledger, saved);
    assert_int_equal(system(cmd), 0);
    /* another service's certificate: the ledger is not signed under it */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.real' && cp '%s/member0_cert.pem' '%s'",
             f->env.service_cert, f->env.service_cert, f->env.root, f->env.service_cert);
    assert_int_equal(system(cmd), 0);
    start_fails(f, 2, CONSORT_E_BAD_CERTIFICATE, "under the previous service certificate");
    snprintf(cmd, sizeof cmd, "mv '%s.real' '%s'", f->env.service_cert, f->env.service_cert);
    assert_int_equal(system(cmd), 0);
    /* one byte of a signed entry's public write set changed */
    cs_ledger_chunk *chunks;
    size_t count;
    cst_ok(cs_ledger_chunks_list(f->prev_ledger, &chunks, &count));
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->prev_ledger, chunks[0].name);
    free(chunks);
    cs_buf file;
    cs_buf_init(&file, 0);
    cst_ok(cs_file_read(path, &file));
    /* entry 3 writes public:records k1 = "v1": its last public byte, '1' -> '0',
     * still a valid write set, but no longer what the signature entries sign */
    size_t off = 0;
    for (int seqno = 1; seqno < 3; seqno++)
        off += 4 + ((size_t)file.ptr[off] << 24 | (size_t)file.ptr[off + 1] << 16 |
                    (size_t)file.ptr[off + 2] << 8 | file.ptr[off + 3]);
    const uint8_t *e = file.ptr + off + 4;
    size_t plen = (size_t)e[104] << 24 | (size_t)e[105] << 16 | (size_t)e[106] << 8 | e[107];
    assert_int_equal(e[CS_LEDGER_HEADER_LEN + plen - 1], '1');
    file.ptr[off + 4 + CS_LEDGER_HEADER_LEN + plen - 1] = '0';
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&file), 0600));
    cs_buf_cleanup(&file);
    start_fails(f, 3, CONSORT_E_BAD_PROOF, "does not sign the entries before it");
    /* an empty directory */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", f->prev_ledger, f->prev_ledger);
    assert_int_equal(system(cmd), 0);
    start_fails(f, 4, CONSORT_E_NOT_FOUND, "empty");
    /* the genuine copy again: it starts (and waits) */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", f->prev_ledger, saved,
             f->prev_ledger);
    assert_int_equal(system(cmd), 0);
    config(f, 5, true);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_ok(cs_node_start(f->node.n));
    assert_string_equal(cs_node_state_name(f->node.n), "WaitingForRecoveryShares");
    /* restarted while waiting: the same new identity, still waiting */
    cs_buf before;
    cs_buf_init(&before, 0);
    cst_ok(cs_file_read(f->new_cert, &before));
    tn_stop(&f->loop, &f->node);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_ok(cs_node_start(f->node.n));
    assert_string_equal(cs_node_state_name(f->node.n), "WaitingForRecoveryShares");
    cs_buf after;
    cs_buf_init(&after, 0);
    cst_ok(cs_file_read(f->new_cert, &after));
    assert_true(cs_slice_eq(cs_buf_slice(&before), cs_buf_slice(&after)));
    cs_buf_cleanup(&before);
    cs_buf_cleanup(&after);
}

/* A service whose members have no encryption key issued no shares: no recovery. */
static void no_shares_no_recovery(void **state)
{
    fixture *f = *state;
    tn_config(&f->env, &f->node, 0, NULL); /* no members */
    tn_start(&f->loop, &f->node);
    receipt_wait w = {.n = f->node.n, .txid = tn_put(&f->loop, &f->node, "k1", "v1")};
    cs_buf_init(&w.json, 0);
    /* the write signed (it was a 200 ms wait): the ledger copy is a signed one */
    tn_run_until(&f->loop, 10000, receipt_ready, &w, "record 1 signed");
    cs_buf_cleanup(&w.json);
    tn_stop(&f->loop, &f->node);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r '%s/node0/ledger' '%s'", f->env.root, f->prev_ledger);
    assert_int_equal(system(cmd), 0);
    start_fails(f, 1, CONSORT_E_POLICY, "issued no recovery shares");
}

/* The lost service's last entries are unsigned and of a later term than its
 * last signature entry: they are left out, and the recovered service's
 * terms are above theirs, so none of its transaction ids names a lost
 * entry (a client told "pending" for one hears "Invalid", never
 * "Committed" for another transaction). */
static void new_terms_above_the_lost_tail(void **state)
{
    fixture *f = *state;
    f->slow_sigs = true;
    config(f, 0, false);
    tn_start(&f->loop, &f->node); /* term 1: genesis and its signature */
    tn_stop(&f->loop, &f->node);
    tn_start(&f->loop, &f->node); /* term 2 (a lone voter): nothing to sign */
    cs_txid lost = tn_put(&f->loop, &f->node, "k1", "never signed");
    assert_int_equal(lost.term, 2);
    tn_stop(&f->loop, &f->node);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r '%s/node0/ledger' '%s' && rm -rf '%s/node0'", f->env.root,
             f->prev_ledger, f->env.root);
    assert_int_equal(system(cmd), 0);
    config(f, 1, true);
    cst_ok(cs_node_new(&f->loop, &f->node.cfg, &f->node.n));
    cst_ok(cs_node_start(f->node.n));
    submit_share(f, 0, 0, SHARE_AS_IS, 200, "");
    assert_true(submit_share(f, 1, 1, SHARE_AS_IS, 200, "").recovered);
    tn_run_until(&f->loop, 20000, tn_is_open, &f->node, "the recovered node open");
    cs_txid t = tn_put(&f->loop, &f->node, "k2", "after the recovery");
    if (t.term <= lost.term)
        fail_msg("the recovered service writes %llu.%llu, in a term not above the lost %llu.%llu",
                 (unsigned long long)t.term, (unsigned long long)t.seqno,
                 (unsigned long long)lost.term, (unsigned long long)lost.seqno);
    assert_int_equal(cs_node_tx_status(f->node.n, lost), CS_TX_INVALID);
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "k1", v), "");
}

/* Wall-clock milliseconds (CLOCK_MONOTONIC). */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The fixture's waits count from when they are called, not from when the
 * loop last ran: work done between loop runs (key generation in setup, 24 s
 * on a loaded machine) made tn_start's 20 s wait for "node open" expire at
 * once (this file's intermittent failure, with two copies in parallel).
 */
static void fixture_waits_count_from_now(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tn_run_for(&loop, 1); /* the loop's clock is read here... */
    uint64_t t0 = wall_ms();
    struct timespec busy = {0, 300 * 1000 * 1000}; /* ...then work without the loop */
    nanosleep(&busy, NULL);
    uint64_t t1 = wall_ms();
    tn_run_for(&loop, 200);
    uint64_t t2 = wall_ms();
    assert_true(t1 - t0 >= 300);
    if (t2 - t1 < 195)
        fail_msg("tn_run_for(200) returned after %llu ms", (unsigned long long)(t2 - t1));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_waits_count_from_now),
        cmocka_unit_test_setup_teardown(recover_a_lost_service, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(no_shares_no_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(new_terms_above_the_lost_tail, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
