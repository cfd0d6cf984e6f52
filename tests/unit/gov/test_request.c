/*
 * Signed governance requests (src/gov/request.h): genuine requests of every
 * type verify and name their member; non-members, a kid that is not the
 * signer, replays (also under a malleated ECDSA signature), stale and
 * future requests, missing or superfluous proposal ids, altered bytes and
 * malformed input are each refused with the right code and message; the
 * replay history prunes behind a floor that never falls; member and
 * proposal ids are the documented digests.
 */
#include "testutil.h"

#include "gov/request.h"

#include <openssl/bn.h>
#include <openssl/sha.h>
#include <string.h>

#define NOW    INT64_C(1700000000)
#define WINDOW 300
#define DAY    86400

typedef struct member {
    cs_key *key;
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
} member;

/* m[0], m[1] (P-256) and m[2] (P-384) are members; outsider is not. */
typedef struct fixture {
    member m[3];
    member outsider;
    cs_kv_store *store;
} fixture;

static void member_make(member *mb, cs_curve curve, const char *cn)
{
    cst_ok(cs_key_generate(curve, &mb->key));
    cs_x509_params p = {.subject_cn = cn, .not_before = NOW - DAY, .not_after = NOW + 365 * DAY};
    cst_ok(cs_x509_create(&p, mb->key, mb->key, NULL, &mb->cert));
    cst_ok(cs_gov_member_id(mb->cert, mb->id));
}

static void member_free(member *mb)
{
    cs_key_free(mb->key);
    cs_x509_free(mb->cert);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    member_make(&f->m[0], CS_CURVE_P256, "member0");
    member_make(&f->m[1], CS_CURVE_P256, "member1");
    member_make(&f->m[2], CS_CURVE_P384, "member2");
    member_make(&f->outsider, CS_CURVE_P256, "outsider");
    cst_ok(cs_kv_store_new(NULL, &f->store));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < 3; i++)
        member_free(&f->m[i]);
    member_free(&f->outsider);
    cs_kv_store_free(f->store);
    free(f);
    return 0;
}

static consort_err lookup(void *ctx, const char *member_id, cs_x509 **cert)
{
    fixture *f = ctx;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(f->m[i].id, member_id) == 0) {
            *cert = cs_x509_ref(f->m[i].cert);
            return CONSORT_OK;
        }
    return CONSORT_E_NOT_FOUND;
}

/* A broken store: answers every id with member 1's certificate. */
static consort_err lookup_wrong_cert(void *ctx, const char *member_id, cs_x509 **cert)
{
    (void)member_id;
    *cert = cs_x509_ref(((fixture *)ctx)->m[1].cert);
    return CONSORT_OK;
}

static void assert_err_contains(const char *needle)
{
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("error message \"%s\" lacks \"%s\"", consort_errmsg(), needle);
}

static const char PID[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void sign(const member *mb, cs_gov_msg_type type, int64_t created_at, const char *pid,
                 const char *payload, cs_buf *out)
{
    cs_buf_init(out, 0);
    cst_ok(cs_gov_request_sign(mb->key, mb->cert, type, (uint64_t)created_at, pid,
                               cs_slice_str(payload), out));
}

/* Decodes and verifies at NOW, returning the code. */
static consort_err check(fixture *f, cs_slice bytes, char id[CS_GOV_ID_HEX_LEN + 1])
{
    cs_gov_request req;
    consort_err rc = cs_gov_request_decode(bytes, &req);
    if (rc != CONSORT_OK)
        return rc;
    return cs_gov_request_verify(&req, lookup, f, NOW, WINDOW, id);
}

/* ---- hand-built requests, for what the signer refuses to make ---- */

typedef struct raw {
    const char *kid, *type, *pid; /* NULL: left out */
    bool no_created_at;
    int64_t created_at;
    const cs_cose_param *extra; /* one more protected parameter, or NULL */
    cs_slice unprotected;
    bool detached;
} raw;

#define TEXT_PARAM(name, v)                                                                        \
    ((cs_cose_param){.label = {.is_text = true, .text = CS_SLICE_LIT(name)},                       \
                     .type = CS_COSE_VALUE_TEXT,                                                   \
                     .s = cs_slice_str(v)})

static void raw_sign(const cs_key *key, const raw *r, cs_buf *out)
{
    cs_cose_param ps[5];
    size_t n = 0;
    if (r->kid != NULL)
        ps[n++] = CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, cs_slice_str(r->kid));
    if (r->type != NULL)
        ps[n++] = TEXT_PARAM(CS_GOV_HDR_MSG_TYPE, r->type);
    if (!r->no_created_at)
        ps[n++] =
            (cs_cose_param){.label = {.is_text = true, .text = CS_SLICE_LIT(CS_GOV_HDR_CREATED_AT)},
                            .type = CS_COSE_VALUE_INT,
                            .i = r->created_at};
    if (r->pid != NULL)
        ps[n++] = TEXT_PARAM(CS_GOV_HDR_PROPOSAL_ID, r->pid);
    if (r->extra != NULL)
        ps[n++] = *r->extra;
    cs_cose_sign1_params p = {.alg = cs_key_curve(key) == CS_CURVE_P384 ? CS_COSE_ES384
                                                                        : CS_COSE_ES256,
                              .protected_params = ps,
                              .protected_count = n,
                              .unprotected = r->unprotected,
                              .payload = CS_SLICE_LIT("{}"),
                              .detached = r->detached};
    cs_buf_init(out, 0);
    cst_ok(cs_cose_sign1_sign(key, &p, out));
}

/* ---- tests ---- */

static void genuine_requests_verify(void **state)
{
    fixture *f = *state;
    static const struct {
        size_t who;
        cs_gov_msg_type type;
        int64_t created_at;
        const char *pid;
    } cases[] = {
        {0, CS_GOV_MSG_PROPOSAL, NOW, NULL},
        {1, CS_GOV_MSG_BALLOT, NOW - WINDOW, PID}, /* both edges of the window */
        {0, CS_GOV_MSG_WITHDRAWAL, NOW + WINDOW, PID},
        {2, CS_GOV_MSG_RECOVERY_SHARE, NOW - 1, NULL}, /* P-384, ES384 */
        {2, CS_GOV_MSG_BALLOT, NOW, PID},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        const member *mb = &f->m[cases[i].who];
        cs_buf b;
        sign(mb, cases[i].type, cases[i].created_at, cases[i].pid, "{\"actions\": []}", &b);
        cs_gov_request req;
        cst_ok(cs_gov_request_decode(cs_buf_slice(&b), &req));
        assert_int_equal(req.type, cases[i].type);
        assert_int_equal(req.created_at, cases[i].created_at);
        assert_int_equal(req.alg, cases[i].who == 2 ? CS_COSE_ES384 : CS_COSE_ES256);
        assert_string_equal(req.member_id, mb->id);
        assert_int_equal(req.has_proposal_id, cases[i].pid != NULL);
        assert_string_equal(req.proposal_id, cases[i].pid != NULL ? cases[i].pid : "");
        assert_true(cs_slice_eq(req.payload, CS_SLICE_LIT("{\"actions\": []}")));
        char id[CS_GOV_ID_HEX_LEN + 1] = "";
        cst_ok(cs_gov_request_verify(&req, lookup, f, NOW, WINDOW, id));
        assert_string_equal(id, mb->id);
        cs_buf_cleanup(&b);
    }
}

static void member_id_is_sha256_of_der(void **state)
{
    fixture *f = *state;
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(f->m[0].cert, &der));
    uint8_t d[32];
    SHA256(der.ptr, der.len, d);
    char hex[65];
    cs_hex_encode(CS_SLICE(d, 32), hex);
    assert_string_equal(f->m[0].id, hex);
    assert_string_not_equal(f->m[0].id, f->m[1].id);
    cs_buf_cleanup(&der);
}

static void non_member_is_refused(void **state)
{
    fixture *f = *state;
    cs_buf b;
    sign(&f->outsider, CS_GOV_MSG_PROPOSAL, NOW, NULL, "{}", &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_POLICY);
    assert_err_contains("not a member");
    assert_err_contains(f->outsider.id);
    cs_buf_cleanup(&b);
}

static void kid_must_be_the_signer(void **state)
{
    fixture *f = *state;
    cs_buf b;
    /* member 1 signs a ballot claiming to be member 0 */
    raw r = {.kid = f->m[0].id, .type = "ballot", .created_at = NOW, .pid = PID};
    raw_sign(f->m[1].key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_BAD_SIGNATURE);
    assert_err_contains(f->m[0].id);
    cs_buf_cleanup(&b);
    /* the outsider claims member 0's id */
    raw_sign(f->outsider.key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_BAD_SIGNATURE);
    cs_buf_cleanup(&b);
    /* ES256 under member 2's id, whose key is P-384 */
    r.kid = f->m[2].id;
    raw_sign(f->m[0].key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_BAD_SIGNATURE);
    assert_err_contains("does not match the P-384 key");
    cs_buf_cleanup(&b);
    /* a store that hands back another member's certificate */
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW, NULL, "{}", &b);
    cs_gov_request req;
    cst_ok(cs_gov_request_decode(cs_buf_slice(&b), &req));
    cst_fails(cs_gov_request_verify(&req, lookup_wrong_cert, f, NOW, WINDOW, NULL),
              CONSORT_E_BAD_CERTIFICATE);
    cs_buf_cleanup(&b);
    /* and the signer refuses a key that is not the certificate's */
    cs_buf_init(&b, 0);
    cst_fails(cs_gov_request_sign(f->m[1].key, f->m[0].cert, CS_GOV_MSG_PROPOSAL, NOW, NULL,
                                  CS_SLICE_LIT("{}"), &b),
              CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&b);
}

/* Runs the leader's sequence in one transaction: decode, verify, replay. */
static consort_err execute(fixture *f, cs_slice bytes, int64_t now)
{
    cs_gov_request req;
    uint8_t digest[CS_SHA256_LEN];
    cs_kv_tx *tx;
    CS_TRY(cs_gov_request_decode(bytes, &req));
    CS_TRY(cs_gov_request_verify(&req, lookup, f, now, WINDOW, NULL));
    CS_TRY(cs_gov_request_digest(&req, digest));
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    consort_err rc = cs_gov_replay_record(tx, digest, req.created_at, now, WINDOW);
    if (rc == CONSORT_OK) {
        cs_buf pub, priv;
        cs_buf_init(&pub, 0);
        cs_buf_init_secret(&priv, 0);
        cst_ok(cs_kv_tx_commit(tx, cs_kv_last_seqno(f->store) + 1, &pub, &priv));
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
    } else {
        assert_false(cs_kv_tx_has_writes(tx)); /* a refusal writes nothing */
    }
    cs_kv_tx_free(tx);
    return rc;
}

/* (r, s) -> (r, n - s): another valid ECDSA signature over the same bytes. */
static void malleate_p256(cs_buf *msg)
{
    uint8_t *s = msg->ptr + msg->len - 32;
    BIGNUM *n = NULL, *bs = BN_bin2bn(s, 32, NULL);
    assert_true(BN_hex2bn(&n, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"));
    assert_true(BN_sub(bs, n, bs));
    assert_int_equal(BN_bn2binpad(bs, s, 32), 32);
    BN_free(n);
    BN_free(bs);
}

static void replay_is_refused(void **state)
{
    fixture *f = *state;
    cs_buf b, again, twin;
    sign(&f->m[1], CS_GOV_MSG_BALLOT, NOW, PID, "vote yes", &b);
    cst_ok(execute(f, cs_buf_slice(&b), NOW));
    cst_fails(execute(f, cs_buf_slice(&b), NOW), CONSORT_E_POLICY);
    assert_err_contains("replayed");
    /* the same request under a malleated signature: still valid, still a replay */
    cs_buf_init(&twin, 0);
    cst_ok(cs_buf_set(&twin, cs_buf_slice(&b)));
    malleate_p256(&twin);
    assert_false(cs_slice_eq(cs_buf_slice(&twin), cs_buf_slice(&b)));
    cst_ok(check(f, cs_buf_slice(&twin), NULL));
    cst_fails(execute(f, cs_buf_slice(&twin), NOW + 1), CONSORT_E_POLICY);
    /* re-signed (a fresh ECDSA nonce), same content: a replay too */
    sign(&f->m[1], CS_GOV_MSG_BALLOT, NOW, PID, "vote yes", &again);
    cst_fails(execute(f, cs_buf_slice(&again), NOW), CONSORT_E_POLICY);
    cs_buf_cleanup(&again);
    /* a new request by the same member is fine */
    sign(&f->m[1], CS_GOV_MSG_BALLOT, NOW + 1, PID, "vote yes", &again);
    cst_ok(execute(f, cs_buf_slice(&again), NOW + 1));
    cs_buf_cleanup(&again);
    cs_buf_cleanup(&twin);
    cs_buf_cleanup(&b);
}

static void replay_history_prunes_behind_a_floor(void **state)
{
    fixture *f = *state;
    cs_buf old, late;
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW, NULL, "{\"n\": 1}", &old);
    cst_ok(execute(f, cs_buf_slice(&old), NOW));
    /* much later, another request prunes the first */
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW + 2 * WINDOW, NULL, "{\"n\": 2}", &late);
    cst_ok(execute(f, cs_buf_slice(&late), NOW + 2 * WINDOW));
    cs_gov_request req;
    uint8_t digest[CS_SHA256_LEN];
    cst_ok(cs_gov_request_decode(cs_buf_slice(&old), &req));
    cst_ok(cs_gov_request_digest(&req, digest));
    cs_kv_tx *tx;
    cs_slice v;
    bool found;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cst_ok(cs_kv_get(tx, CS_SLICE_LIT(CS_GOV_HISTORY_MAP), CS_SLICE(digest, 32), &v, &found));
    assert_false(found);
    cst_ok(cs_kv_get(tx, CS_SLICE_LIT(CS_GOV_HISTORY_MAP), CS_SLICE_LIT(CS_GOV_HISTORY_FLOOR_KEY),
                     &v, &found));
    assert_true(found);
    assert_int_equal(v.len, 8);
    /* a leader whose clock is behind still refuses the pruned request */
    cst_fails(cs_gov_replay_record(tx, digest, NOW, NOW, WINDOW), CONSORT_E_EXPIRED);
    assert_err_contains("oldest time the replay history covers");
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&old);
    cs_buf_cleanup(&late);
}

static void stale_and_future_requests_are_refused(void **state)
{
    fixture *f = *state;
    cs_buf b;
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW - WINDOW - 1, NULL, "{}", &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_EXPIRED);
    assert_err_contains("stale");
    assert_err_contains("1699999699 (2023-11-14T22:08:19Z)");
    assert_err_contains("1700000000 (2023-11-14T22:13:20Z)");
    cs_buf_cleanup(&b);
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW + WINDOW + 1, NULL, "{}", &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_EXPIRED);
    assert_err_contains("from the future");
    assert_err_contains("1700000301");
    assert_err_contains("1700000000");
    cs_buf_cleanup(&b);
}

static void proposal_id_rules(void **state)
{
    fixture *f = *state;
    cs_buf b;
    raw r = {.kid = f->m[1].id, .type = "ballot", .created_at = NOW};
    raw_sign(f->m[1].key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_MALFORMED);
    assert_err_contains("a ballot needs " CS_GOV_HDR_PROPOSAL_ID);
    cs_buf_cleanup(&b);
    r.type = "withdrawal";
    raw_sign(f->m[1].key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_MALFORMED);
    cs_buf_cleanup(&b);
    r = (raw){.kid = f->m[0].id, .type = "proposal", .created_at = NOW, .pid = PID};
    raw_sign(f->m[0].key, &r, &b);
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_MALFORMED);
    assert_err_contains("a proposal must not carry");
    cs_buf_cleanup(&b);
    /* verify checks it too, whatever the caller did to the struct */
    sign(&f->m[1], CS_GOV_MSG_BALLOT, NOW, PID, "yes", &b);
    cs_gov_request req;
    cst_ok(cs_gov_request_decode(cs_buf_slice(&b), &req));
    req.has_proposal_id = false;
    cst_fails(cs_gov_request_verify(&req, lookup, f, NOW, WINDOW, NULL), CONSORT_E_MALFORMED);
    cs_buf_cleanup(&b);
    /* the signer refuses both mistakes */
    cs_buf_init(&b, 0);
    cst_fails(cs_gov_request_sign(f->m[1].key, f->m[1].cert, CS_GOV_MSG_BALLOT, NOW, NULL,
                                  CS_SLICE_LIT("y"), &b),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_gov_request_sign(f->m[1].key, f->m[1].cert, CS_GOV_MSG_PROPOSAL, NOW, PID,
                                  CS_SLICE_LIT("y"), &b),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);
    cs_buf_cleanup(&b);
}

static void altered_bytes_do_not_verify(void **state)
{
    fixture *f = *state;
    cs_buf b;
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW, NULL, "{\"actions\": []}", &b);
    cs_gov_request req;
    cst_ok(cs_gov_request_decode(cs_buf_slice(&b), &req));
    size_t at = (size_t)(req.payload.ptr - b.ptr);
    b.ptr[at + 3] ^= 0x01;
    cst_fails(check(f, cs_buf_slice(&b), NULL), CONSORT_E_BAD_SIGNATURE);
    b.ptr[at + 3] ^= 0x01;
    cst_ok(check(f, cs_buf_slice(&b), NULL));
    /* every single-bit flip anywhere is refused, never crashes */
    for (size_t i = 0; i < b.len * 8; i++) {
        b.ptr[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (check(f, cs_buf_slice(&b), NULL) == CONSORT_OK)
            fail_msg("bit %zu flipped and the request still verifies", i);
        b.ptr[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    cs_buf_cleanup(&b);
}

static void malformed_input_is_refused(void **state)
{
    fixture *f = *state;
    cs_buf b;
    sign(&f->m[0], CS_GOV_MSG_PROPOSAL, NOW, NULL, "{}", &b);
    cs_gov_request req;
    /* untagged: the same message without its 0xd2 */
    assert_int_equal(b.ptr[0], 0xd2);
    cst_fails(cs_gov_request_decode(CS_SLICE(b.ptr + 1, b.len - 1), &req), CONSORT_E_MALFORMED);
    assert_err_contains("tag 18");
    for (size_t len = 0; len < b.len; len++)
        if (cs_gov_request_decode(CS_SLICE(b.ptr, len), &req) == CONSORT_OK)
            fail_msg("truncation to %zu bytes decodes", len);
    cs_buf_cleanup(&b);
    /* garbage */
    static const char *const junk[] = {"",     "00", "ff",           "d2",
                                       "d284", "a0", "d28440a0f640", "d2 84 43a10126 a0 426869 40"};
    for (size_t i = 0; i < CS_ARRAY_LEN(junk); i++) {
        cs_buf j;
        char hex[64];
        size_t n = 0;
        for (const char *p = junk[i]; *p != '\0'; p++)
            if (*p != ' ')
                hex[n++] = *p;
        hex[n] = '\0';
        cs_buf_init(&j, 0);
        if (n > 0)
            cst_hex(hex, &j);
        consort_err rc = cs_gov_request_decode(cs_buf_slice(&j), &req);
        if (consort_err_category_of(rc) != CONSORT_CAT_PROTOCOL)
            fail_msg("junk %zu: %s", i, consort_err_name(rc));
        cs_buf_cleanup(&j);
    }
    /* oversized, before any parsing */
    uint8_t *big = calloc(1, CS_GOV_REQUEST_MAX + 1);
    assert_non_null(big);
    cst_fails(cs_gov_request_decode(CS_SLICE(big, CS_GOV_REQUEST_MAX + 1), &req),
              CONSORT_E_TOO_LARGE);
    free(big);
}

static void header_rules(void **state)
{
    fixture *f = *state;
    const char *id = f->m[0].id;
    char upper[65];
    for (size_t i = 0; i < 65; i++)
        upper[i] = id[i] >= 'a' && id[i] <= 'f' ? (char)(id[i] - 32) : id[i];
    cs_cose_param cty = CS_COSE_PARAM_INT(CS_COSE_HDR_CTY, 50);
    cs_cose_param own = TEXT_PARAM("consort.gov.msg.extra", "x");
    static const uint8_t unprot[] = {0xa1, 0x04, 0x41, 0x00}; /* {4: h'00'} */
    const struct {
        raw r;
        const char *why;
    } cases[] = {
        {{.type = "proposal", .created_at = NOW}, "kid (label 4) missing"},
        {{.kid = "abc", .type = "proposal", .created_at = NOW}, "kid is 3 bytes"},
        {{.kid = upper, .type = "proposal", .created_at = NOW}, "kid is 64 bytes"},
        {{.kid = id, .created_at = NOW}, CS_GOV_HDR_MSG_TYPE " missing"},
        {{.kid = id, .type = "vote", .created_at = NOW}, "\"vote\" unknown"},
        {{.kid = id, .type = "proposal", .no_created_at = true}, CS_GOV_HDR_CREATED_AT " missing"},
        {{.kid = id, .type = "proposal", .created_at = -5}, CS_GOV_HDR_CREATED_AT},
        {{.kid = id, .type = "ballot", .created_at = NOW, .pid = "12"}, "is 2 bytes"},
        {{.kid = id, .type = "proposal", .created_at = NOW, .extra = &cty}, "parameter 3"},
        {{.kid = id, .type = "proposal", .created_at = NOW, .extra = &own},
         "parameter \"consort.gov.msg.extra\""},
        {{.kid = id, .type = "proposal", .created_at = NOW, .detached = true}, "detached"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        cs_buf b;
        raw_sign(f->m[0].key, &cases[i].r, &b);
        cs_gov_request req;
        cst_fails(cs_gov_request_decode(cs_buf_slice(&b), &req), CONSORT_E_MALFORMED);
        assert_err_contains(cases[i].why);
        cs_buf_cleanup(&b);
    }
    /* an unprotected kid would escape the signature */
    cs_buf b;
    raw r = {.type = "proposal", .created_at = NOW, .unprotected = CS_SLICE(unprot, 4)};
    raw_sign(f->m[0].key, &r, &b);
    cs_gov_request req;
    cst_fails(cs_gov_request_decode(cs_buf_slice(&b), &req), CONSORT_E_MALFORMED);
    assert_err_contains("unprotected header has 1 entries");
    cs_buf_cleanup(&b);
}

static void proposal_ids_are_bound_to_seqno_and_signature(void **state)
{
    (void)state;
    uint8_t sig_a[64], sig_b[64];
    memset(sig_a, 0xaa, sizeof sig_a);
    memset(sig_b, 0xaa, sizeof sig_b);
    sig_b[63] = 0xab;
    char a5[65], a6[65], b5[65], again[65];
    cs_gov_proposal_id(5, CS_SLICE(sig_a, 64), a5);
    cs_gov_proposal_id(6, CS_SLICE(sig_a, 64), a6);
    cs_gov_proposal_id(5, CS_SLICE(sig_b, 64), b5);
    cs_gov_proposal_id(5, CS_SLICE(sig_a, 64), again);
    assert_string_not_equal(a5, a6);
    assert_string_not_equal(a5, b5);
    assert_string_equal(a5, again);
    /* known answer: SHA-256(00 00 00 00 00 00 00 05 || signature) */
    uint8_t in[72] = {0, 0, 0, 0, 0, 0, 0, 5}, d[32];
    memcpy(in + 8, sig_a, 64);
    SHA256(in, sizeof in, d);
    char hex[65];
    cs_hex_encode(CS_SLICE(d, 32), hex);
    assert_string_equal(a5, hex);
    assert_int_equal(strlen(a5), CS_GOV_ID_HEX_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(genuine_requests_verify),
        cmocka_unit_test(member_id_is_sha256_of_der),
        cmocka_unit_test(non_member_is_refused),
        cmocka_unit_test(kid_must_be_the_signer),
        cmocka_unit_test(replay_is_refused),
        cmocka_unit_test(replay_history_prunes_behind_a_floor),
        cmocka_unit_test(stale_and_future_requests_are_refused),
        cmocka_unit_test(proposal_id_rules),
        cmocka_unit_test(altered_bytes_do_not_verify),
        cmocka_unit_test(malformed_input_is_refused),
        cmocka_unit_test(header_rules),
        cmocka_unit_test(proposal_ids_are_bound_to_seqno_and_signature),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
