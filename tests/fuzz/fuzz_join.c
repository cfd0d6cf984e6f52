/*
 * Fuzz target: the join protocol's contents on both sides of an attested
 * control channel (src/node/admit.c, join_msg.c, vault.c).
 *
 *   admit side (byte 0 bit 0 clear): what a joining node sends, delivered
 *     in pieces over an in-memory stream to node_admit (the leader's or a
 *     follower's side), with the node around it faked through
 *     node_admit_ops: frame reassembly, decoding, the joiner's quote
 *     (verified against the platform certificate of join_fixture.h, bound
 *     to the channel's key), the service's decision, the record's commit
 *     and the raft add (completed later, from the "loop", or failing), the
 *     redirect, refusal or welcome;
 *   joiner side (bit 0 set): what the node it joins answers, taken in
 *     pieces as node_joiner does (join_msg_take, join_msg_decode) and, for
 *     a welcome, adopted by the joiner's vault (node_vault_adopt: the
 *     pinned service certificate, its key, the node certificate issued for
 *     the joiner's key, the ledger secret), then sealed and read back.
 *
 * Input: byte 0 flags (admit side: bit 1 this node leads, bits 2-3 the
 * decision: 0/3 trust, 1 pending, 2 refuse, bit 4 the joiner has a record,
 * bit 5 the commit fails, bit 6 the raft add fails, bit 7 the admission
 * closes before the flow ends); byte 1: the stream delivers pieces of
 * 1 << (b & 7) bytes, bit 3: a leader is known (for redirects); the rest
 * is the bytes sent.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": the admit side
 * answers at most once per channel, with one frame that decodes (redirect,
 * error or welcome) and then closes; a welcome only when this node leads,
 * trusts the joiner, and the commit and raft add succeeded, carrying a node
 * certificate for the channel's key; everything is released once the
 * admission closes. A welcome the joiner adopts leaves its vault trusted
 * (node certificate, the welcome's ledger secret) and sealable.
 *
 * Seeds (corpus/join) and join_fixture.h are written by seedgen_fuzz.
 */
#include "fuzz_scratch.h"
#include "join_fixture.h"
#include "seedgen/fuzz_fixed.h"

#include "attest/evidence.h"
#include "base/file.h"
#include "crypto/aead.h"
#include "crypto/x509.h"
#include "node/admit.h"
#include "fuzz_vault.h"
#include "node/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t *loop(void)
{
    static uv_loop_t l;
    static bool ready;
    if (!ready && uv_loop_init(&l) != 0)
        abort();
    ready = true;
    return &l;
}

/* ---- the joiner of join_fixture.h: its vault, loaded from its sealed state ---- */

static const char *joiner_dir(void)
{
    return fuzz_scratch_dir("fuzz_join");
}

/* The joiner's vault as its sealed state holds it (no store to seal to). */
static node_vault *joiner_vault_decoded(void)
{
    node_vault *v;
    if (node_vault_new(joiner_dir(), &v) != CONSORT_OK ||
        node_vault_decode(v, CS_SLICE(JOINER_SEALED_PLAIN, sizeof JOINER_SEALED_PLAIN)) !=
            CONSORT_OK)
        abort();
    return v;
}

static node_seal *joiner_seal;

/* The same on a fresh sealed store (a previous input may have sealed a
 * trusted vault). */
static node_vault *joiner_vault(void)
{
    node_seal_free(joiner_seal);
    fuzz_scratch_clear(1);
    joiner_seal = fuzz_seal_at(joiner_dir());
    node_vault *v = joiner_vault_decoded();
    node_vault_set_seal(v, joiner_seal);
    return v;
}

/* ---- the in-memory stream ---- */

typedef struct mem_stream {
    cs_stream base;
    cs_stream_cbs cbs;
    void *ctx;
    bool close_requested, closed;
    size_t answers;
    join_msg answer; /* the last one (slices point into `wire`) */
    cs_buf wire;
} mem_stream;

static consort_err ms_write(cs_stream *s, cs_slice data)
{
    mem_stream *m = (mem_stream *)s;
    if (m->close_requested || m->closed || ++m->answers > 1)
        abort(); /* one answer per channel, and nothing after closing */
    cs_buf acc;
    cs_buf_init(&acc, JOIN_MSG_MAX + 4);
    bool complete = false;
    if (join_msg_take(&acc, data, &m->wire, &complete) != CONSORT_OK || !complete)
        abort(); /* the answer is exactly one frame */
    cs_buf_cleanup(&acc);
    if (join_msg_decode(cs_buf_slice(&m->wire), &m->answer) != CONSORT_OK ||
        m->answer.type == JOIN_MSG_JOIN)
        abort();
    return CONSORT_OK;
}

static void ms_close(cs_stream *s)
{
    ((mem_stream *)s)->close_requested = true;
}

static void ms_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    mem_stream *m = (mem_stream *)s;
    m->cbs = *cbs;
    m->ctx = ctx;
}

static void ms_set_paused(cs_stream *s, bool paused)
{
    (void)s;
    if (paused)
        abort(); /* admission reads one bounded frame: it never pauses */
}

static const struct cs_x509 *ms_peer_cert(const cs_stream *s)
{
    (void)s;
    return NULL;
}

static size_t ms_queue_len(const cs_stream *s)
{
    (void)s;
    return 0;
}

static const char *ms_peer_address(const cs_stream *s)
{
    (void)s;
    return "fuzz:2";
}

static const cs_stream_vtbl MS_VT = {.write = ms_write,
                                     .close = ms_close,
                                     .set_cbs = ms_set_cbs,
                                     .peer_cert = ms_peer_cert,
                                     .write_queue_len = ms_queue_len,
                                     .peer_address = ms_peer_address,
                                     .set_paused = ms_set_paused};

static void deliver_close(mem_stream *m, consort_err reason)
{
    if (m->closed)
        return;
    m->closed = true;
    m->cbs.on_close(m->ctx, &m->base, reason, reason == CONSORT_OK ? "" : "peer gone");
}

/* ---- the node around the admission ---- */

typedef struct fake_node {
    uint8_t flags;
    bool leader_known;
    cs_key *ca_key;
    cs_x509 *ca_cert;
    cs_verify_opts opts;
    cs_blob_list anchors;
    /* completions owed, delivered from the "loop" */
    node_exec_done_fn commit_done;
    void *commit_ctx;
    node_admit_done_fn add_done;
    void *add_ctx;
    bool admitted_allowed; /* leads, trusts, commit and add succeeded */
    bool closed;
} fake_node;

static node_admit_decision decide(void *ctx, const char *node_id, const uint8_t code_id[32],
                                  bool *has_record, char why[256])
{
    fake_node *f = ctx;
    if (strlen(node_id) != 16 || memcmp(code_id, FUZZ_CODE_ID, 32) != 0)
        abort(); /* the channel's, not the request's */
    *has_record = (f->flags & 0x10) != 0;
    switch ((f->flags >> 2) & 3) {
    case 1:
        snprintf(why, 256, "waits for the members");
        return NODE_ADMIT_PENDING;
    case 2:
        snprintf(why, 256, "code id retired");
        return NODE_ADMIT_REFUSE;
    default:
        return NODE_ADMIT_TRUST;
    }
}

static bool leading(void *ctx)
{
    return (((fake_node *)ctx)->flags & 2) != 0;
}

static void leader_address(void *ctx, char out[CS_NODE_ADDR_MAX])
{
    snprintf(out, CS_NODE_ADDR_MAX, "%s", ((fake_node *)ctx)->leader_known ? "127.0.0.1:9001" : "");
}

static consort_err commit_record(void *ctx, const char *node_id, const node_record *r,
                                 node_exec_done_fn done, void *done_ctx)
{
    fake_node *f = ctx;
    if (f->commit_done != NULL || r->raft_id == 0 || strlen(node_id) != 16)
        abort(); /* one join at a time */
    if (f->flags & 0x20)
        return cs_fail(CONSORT_E_NO_SPACE, "ledger full");
    f->commit_done = done;
    f->commit_ctx = done_ctx;
    return CONSORT_OK;
}

static consort_err raft_add(void *ctx, uint64_t raft_id, const char *address,
                            node_admit_done_fn done, void *done_ctx)
{
    fake_node *f = ctx;
    (void)raft_id;
    (void)address;
    if (f->add_done != NULL)
        abort();
    if (f->flags & 0x40)
        return cs_fail(CONSORT_E_STATE, "a configuration change is under way");
    f->add_done = done;
    f->add_ctx = done_ctx;
    return CONSORT_OK;
}

static void raft_promote(void *ctx, uint64_t raft_id)
{
    (void)ctx;
    (void)raft_id;
}

static consort_err issue(void *ctx, const cs_key *subject, const char *node_id,
                         const char *rpc_address, cs_x509 **out)
{
    fake_node *f = ctx;
    (void)rpc_address;
    cs_x509_params p = {.subject_cn = node_id, .not_before = 1700000000, .not_after = 2000000000};
    return cs_x509_create(&p, subject, f->ca_key, f->ca_cert, out);
}

static consort_err secrets(void *ctx, cs_buf *key_pem, cs_buf *cert_der, cs_buf *secret)
{
    fake_node *f = ctx;
    static const uint8_t s[32] = {7};
    CS_TRY(cs_key_private_pem(f->ca_key, key_pem));
    CS_TRY(cs_x509_to_der(f->ca_cert, cert_der));
    return cs_buf_append(secret, s, sizeof s);
}

static const cs_verify_opts *verify_opts(void *ctx)
{
    return &((fake_node *)ctx)->opts;
}

static void admission_closed(void *ctx)
{
    ((fake_node *)ctx)->closed = true;
}

/* Completions owed by the fake node, as the loop would deliver them. */
static void run_owed(fake_node *f, mem_stream *m)
{
    if (f->commit_done != NULL) {
        node_exec_done_fn done = f->commit_done;
        f->commit_done = NULL;
        const cs_node_result res = {.rc = CONSORT_OK, .message = ""};
        done(f->commit_ctx, &res);
    }
    if (f->add_done != NULL) {
        node_admit_done_fn done = f->add_done;
        f->add_done = NULL;
        done(f->add_ctx, CONSORT_OK, "");
    }
    if (m->close_requested)
        deliver_close(m, CONSORT_OK);
}

static void admit_side(uint8_t flags, size_t piece, bool leader_known, cs_slice in)
{
    static cs_key *ca_key;
    static cs_x509 *ca_cert;
    static node_vault *joiner;
    if (ca_key == NULL) {
        cs_x509_params p = {.subject_cn = "fuzz service",
                            .not_before = 1700000000,
                            .not_after = 2000000000,
                            .is_ca = true};
        if (cs_key_generate(CS_CURVE_P256, &ca_key) != CONSORT_OK ||
            cs_x509_create(&p, ca_key, ca_key, NULL, &ca_cert) != CONSORT_OK)
            abort();
        joiner = joiner_vault_decoded();
    }
    fake_node f = {
        .flags = flags, .leader_known = leader_known, .ca_key = ca_key, .ca_cert = ca_cert};
    cs_blob_list_init(&f.anchors);
    if (cs_blob_list_add(&f.anchors, CS_SLICE(JOIN_ANCHOR_DER, sizeof JOIN_ANCHOR_DER)) !=
        CONSORT_OK)
        abort();
    f.opts = (cs_verify_opts){.anchors = &f.anchors};
    const node_admit_ops ops = {.ctx = &f,
                                .decide = decide,
                                .leading = leading,
                                .leader_address = leader_address,
                                .commit_record = commit_record,
                                .raft_add = raft_add,
                                .raft_promote = raft_promote,
                                .issue = issue,
                                .secrets = secrets,
                                .verify_opts = verify_opts};
    node_admit *a;
    if (node_admit_new(loop(), &ops, "00000000000000aa", &a) != CONSORT_OK)
        abort();
    cs_claims claims = {0};
    memcpy(claims.code_id, FUZZ_CODE_ID, 32);
    const cs_attested_peer peer = {.node_id = node_vault_node_id(joiner),
                                   .raft_id = node_vault_raft_id(joiner),
                                   .raft_address = "127.0.0.1:9002",
                                   .claims = &claims,
                                   .cert = node_vault_self_cert(joiner)};
    mem_stream m = {.base = {.vt = &MS_VT}};
    cs_buf_init(&m.wire, JOIN_MSG_MAX);
    node_admit_accept(a, &m.base, &peer);
    bool pending_closes = (flags & 0x80) != 0;
    for (size_t at = 0; at < in.len && !m.closed;) {
        size_t n = in.len - at < piece ? in.len - at : piece;
        if (!m.close_requested)
            m.cbs.on_data(m.ctx, &m.base, CS_SLICE(in.ptr + at, n));
        at += n;
        if (!pending_closes)
            run_owed(&f, &m);
        else if (m.close_requested)
            deliver_close(&m, CONSORT_OK);
    }
    bool welcomed_ok = (flags & 2) && ((flags >> 2) & 3) != 1 && ((flags >> 2) & 3) != 2 &&
                       !(flags & 0x60) && !pending_closes;
    node_admit_close(a, admission_closed, &f);
    run_owed(&f, &m); /* a flow in flight completes without answering */
    deliver_close(&m, CONSORT_E_IO);
    for (int i = 0; i < 4 && !f.closed; i++)
        uv_run(loop(), UV_RUN_NOWAIT);
    if (!f.closed)
        abort(); /* the admission did not release itself */
    if (m.answers == 1 && m.answer.type == JOIN_MSG_WELCOME) {
        if (!welcomed_ok)
            abort(); /* welcomed when it must not */
        cs_x509 *cert;
        cs_key *key;
        uint8_t a_id[32], b_id[32];
        cs_key *mine;
        if (cs_x509_from_der(m.answer.node_cert, &cert) != CONSORT_OK ||
            cs_x509_public_key(cert, &key) != CONSORT_OK ||
            cs_x509_public_key(node_vault_self_cert(joiner), &mine) != CONSORT_OK ||
            cs_key_id(key, a_id) != CONSORT_OK || cs_key_id(mine, b_id) != CONSORT_OK ||
            memcmp(a_id, b_id, 32) != 0)
            abort(); /* the node certificate is not for the channel's key */
        cs_key_free(key);
        cs_key_free(mine);
        cs_x509_free(cert);
    }
    cs_buf_cleanup(&m.wire);
    cs_blob_list_cleanup(&f.anchors);
}

/* ---- the joiner's side ---- */

static void joiner_side(size_t piece, cs_slice in)
{
    cs_buf acc, body;
    cs_buf_init(&acc, JOIN_MSG_MAX + 4);
    cs_buf_init(&body, JOIN_MSG_MAX);
    bool complete = false;
    consort_err rc = CONSORT_OK;
    for (size_t at = 0; at < in.len && rc == CONSORT_OK && !complete;) {
        size_t n = in.len - at < piece ? in.len - at : piece;
        rc = join_msg_take(&acc, CS_SLICE(in.ptr + at, n), &body, &complete);
        at += n;
    }
    join_msg m;
    if (rc == CONSORT_OK && complete && join_msg_decode(cs_buf_slice(&body), &m) == CONSORT_OK &&
        m.type == JOIN_MSG_WELCOME) {
        node_vault *v = joiner_vault();
        const node_vault_welcome w = {.service_key = m.service_key,
                                      .service_cert = m.service_cert,
                                      .node_cert = m.node_cert,
                                      .ledger_secret = m.ledger_secret};
        consort_err adopted = node_vault_adopt(v, &w);
        if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what the welcome did */
            fprintf(stderr, "welcome: %s\n", adopted == CONSORT_OK ? "adopted" : consort_errmsg());
        if (adopted == CONSORT_OK) {
            if (node_vault_node_cert(v) == NULL || node_vault_service_key(v) == NULL ||
                node_vault_secret(v) == NULL ||
                memcmp(node_vault_secret(v), m.ledger_secret.ptr, 32) != 0 ||
                !node_vault_is_service_issued(v, node_vault_node_cert(v)))
                abort(); /* adopted, but not trusted as the welcome says */
            if (node_vault_save(v) != CONSORT_OK)
                abort();
            node_vault *again;
            if (node_vault_new(joiner_dir(), &again) != CONSORT_OK)
                abort();
            node_vault_set_seal(again, joiner_seal);
            if (node_vault_load(again) != CONSORT_OK || node_vault_secret(again) == NULL ||
                memcmp(node_vault_secret(again), m.ledger_secret.ptr, 32) != 0)
                abort(); /* sealed, then not read back */
            node_vault_free(again);
        }
        node_vault_free(v);
    }
    cs_buf_cleanup(&acc);
    cs_buf_cleanup(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t piece = (size_t)1 << (data[1] & 7);
    cs_slice in = CS_SLICE(data + 2, size - 2);
    if (data[0] & 1)
        joiner_side(piece, in);
    else
        admit_side(data[0], piece, (data[1] & 8) != 0, in);
    return 0;
}
