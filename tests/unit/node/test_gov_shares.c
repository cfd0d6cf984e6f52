/*
 * Recovery shares in the store (src/node/gov_shares.h): issued once for a
 * threshold and the members with encryption keys, each decrypting with
 * its member's key and any `threshold` of them rebuilding the ledger
 * secret; issued again (a new epoch, old shares gone) when an accepted
 * proposal changes the members, their keys or the threshold, or when the
 * service id changes, and not when nothing changed; a proposal that would
 * leave fewer members with keys than the threshold, or that runs without a
 * ledger secret, fails and keeps nothing.
 */
#include "testutil.h"

#include "crypto/rand.h"
#include "gov/constitution.h"
#include "node/gov.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define NOW     INT64_C(1800000000)
#define DAY     86400
#define MEMBERS 4 /* 0..2 start as members; 3 joins later */

typedef struct member {
    cs_key *key;
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
    cs_buf enc_priv, enc_pub;
} member;

static member people[MEMBERS]; /* RSA keys are slow to make: once for the group */

typedef struct fixture {
    cs_kv_store *store;
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    node_share_keys keys;
    uint64_t created;
} fixture;

static int group_setup(void **state)
{
    (void)state;
    for (int i = 0; i < MEMBERS; i++) {
        member *m = &people[i];
        char cn[16];
        snprintf(cn, sizeof cn, "member%d", i);
        cst_ok(cs_key_generate(CS_CURVE_P256, &m->key));
        cs_x509_params p = {.subject_cn = cn, .not_before = NOW - DAY, .not_after = NOW + DAY};
        cst_ok(cs_x509_create(&p, m->key, m->key, NULL, &m->cert));
        cst_ok(cs_gov_member_id(m->cert, m->id));
        cs_buf_init_secret(&m->enc_priv, 0);
        cs_buf_init(&m->enc_pub, 0);
        cst_ok(cs_gov_enc_keygen(&m->enc_priv, &m->enc_pub));
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MEMBERS; i++) {
        cs_key_free(people[i].key);
        cs_x509_free(people[i].cert);
        cs_buf_cleanup(&people[i].enc_priv);
        cs_buf_cleanup(&people[i].enc_pub);
    }
    return 0;
}

static void commit(fixture *f, cs_kv_tx *tx)
{
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_kv_tx_commit(tx, cs_kv_last_seqno(f->store) + 1, &pub, &priv));
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
}

static void put(cs_kv_tx *tx, const char *map, const char *key, cs_slice v)
{
    cst_ok(cs_kv_put(tx, cs_slice_str(map), cs_slice_str(key), v));
}

/* Members 0..2 with keys, threshold 2, shares issued as genesis does. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cst_ok(cs_random(f->secret, sizeof f->secret));
    f->keys.ledger_secret = f->secret;
    memset(f->keys.service_id, 0x5e, sizeof f->keys.service_id);
    f->created = (uint64_t)NOW - 10;
    cst_ok(cs_kv_store_new(NULL, &f->store));
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    for (int i = 0; i < 3; i++) {
        cs_buf der;
        cs_buf_init(&der, 0);
        cst_ok(cs_x509_to_der(people[i].cert, &der));
        put(tx, SVC_MAP_MEMBERS, people[i].id, cs_buf_slice(&der));
        put(tx, SVC_MAP_MEMBER_KEYS, people[i].id, cs_buf_slice(&people[i].enc_pub));
        cs_buf_cleanup(&der);
    }
    put(tx, SVC_MAP_SETTINGS, SVC_SETTING_THRESHOLD, CS_SLICE_LIT("2"));
    size_t len;
    const char *script = cs_constitution_default_script(&len);
    put(tx, SVC_MAP_CONSTITUTION, SVC_CONSTITUTION_KEY, CS_SLICE(script, len));
    cst_ok(node_shares_issue(tx, &f->keys));
    commit(f, tx);
    cs_kv_tx_free(tx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_kv_store_free(f->store);
    free(f);
    return 0;
}

static node_share_wrapping wrapping(fixture *f)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    node_share_wrapping w;
    bool found;
    cst_ok(node_shares_wrapping(tx, &w, &found));
    assert_true(found);
    cs_kv_tx_free(tx);
    return w;
}

/* Member i's share, decrypted (false if it has none). */
static bool share_of(fixture *f, int i, cs_gov_share *out)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cs_slice enc;
    bool found;
    cst_ok(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY_SHARES), cs_slice_str(people[i].id), &enc,
                     &found));
    if (found)
        cst_ok(cs_gov_share_decrypt(cs_buf_slice(&people[i].enc_priv), enc, out));
    cs_kv_tx_free(tx);
    return found;
}

/* The shares of members who[0..n) rebuild the secret. */
static void combine(fixture *f, const int *who, size_t n)
{
    cs_gov_share s[MEMBERS];
    for (size_t i = 0; i < n; i++)
        assert_true(share_of(f, who[i], &s[i]));
    node_share_wrapping w = wrapping(f);
    cs_gov_share_binding bind = {.epoch = w.epoch};
    memcpy(bind.service_id, f->keys.service_id, 32);
    cs_buf secret;
    cs_buf_init_secret(&secret, 0);
    cst_ok(cs_gov_shares_combine(s, n, &bind, &secret));
    assert_memory_equal(secret.ptr, f->secret, sizeof f->secret);
    cs_buf_cleanup(&secret);
    for (size_t i = 0; i < n; i++)
        cs_gov_share_wipe(&s[i]);
}

#define COMBINE(f, ...)                                                                            \
    do {                                                                                           \
        const int who_[] = {__VA_ARGS__};                                                          \
        combine(f, who_, sizeof who_ / sizeof who_[0]);                                            \
    } while (0)

static void issued_at_genesis(void **state)
{
    fixture *f = *state;
    node_share_wrapping w = wrapping(f);
    assert_int_equal(w.epoch, 1);
    assert_int_equal(w.threshold, 2);
    assert_int_equal(w.members, 3);
    assert_memory_equal(w.service_id, f->keys.service_id, 32);
    COMBINE(f, 0, 1);
    COMBINE(f, 2, 0);
    cs_gov_share s;
    assert_false(share_of(f, 3, &s));
    /* the secret is nowhere in the public state in clear */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_kv_snapshot(f->store, &pub));
    for (size_t i = 0; i + sizeof f->secret <= pub.len; i++)
        assert_memory_not_equal(pub.ptr + i, f->secret, sizeof f->secret);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    /* nothing changed: issuing again writes nothing */
    cst_ok(node_shares_issue(tx, &f->keys));
    assert_false(cs_kv_tx_has_writes(tx));
    /* another service id (a recovered service): a new epoch */
    node_share_keys other = f->keys;
    other.service_id[0] ^= 1;
    cst_ok(node_shares_issue(tx, &other));
    assert_true(cs_kv_tx_has_writes(tx));
    commit(f, tx);
    cs_kv_tx_free(tx);
    assert_int_equal(wrapping(f).epoch, 2);
    assert_memory_equal(wrapping(f).service_id, other.service_id, 32);
}

/* ---- through proposals ---- */

static node_gov_refusal exec(fixture *f, int who, cs_gov_msg_type type, const char *id,
                             const char *payload, const node_share_keys *keys, node_gov_call *c)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_gov_request_sign(people[who].key, people[who].cert, type, f->created++, id,
                               cs_slice_str(payload), &b));
    memset(c, 0, sizeof *c);
    c->body = cs_buf_slice(&b);
    c->expect = type;
    c->path_id = id;
    c->now = NOW;
    c->shares = keys;
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cst_ok(node_gov_execute(c, tx));
    if (c->refusal == NODE_GOV_OK)
        commit(f, tx);
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&b);
    return c->refusal;
}

/* Proposes `proposal` and votes for it (members 0, 1, 2) until decided; the state. */
static const char *decide(fixture *f, const char *proposal, const node_share_keys *keys,
                          node_gov_call *c)
{
    assert_int_equal(exec(f, 0, CS_GOV_MSG_PROPOSAL, NULL, proposal, keys, c), NODE_GOV_OK);
    char id[65];
    memcpy(id, c->proposal_id, sizeof id);
    for (int who = 0; who < 3 && strcmp(c->state, "Open") == 0; who++)
        assert_int_equal(exec(f, who, CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", keys, c),
                         NODE_GOV_OK);
    return c->state;
}

static char *set_member(int i, bool with_key)
{
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(people[i].cert, &pem));
    cst_ok(cs_buf_append_u8(&pem, 0));
    json_t *args = json_pack("{s:s}", "cert", (const char *)pem.ptr);
    if (with_key) {
        cst_ok(cs_buf_append_u8(&people[i].enc_pub, 0));
        json_object_set_new(args, "encryption_key",
                            json_string((const char *)people[i].enc_pub.ptr));
        people[i].enc_pub.len--;
    }
    json_t *p = json_pack("{s:[{s:s, s:o}]}", "actions", "name", "set_member", "args", args);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    cs_buf_cleanup(&pem);
    return text;
}

static void proposals_issue_again(void **state)
{
    fixture *f = *state;
    node_gov_call c;
    /* a proposal that touches no member, key or threshold: same epoch */
    assert_string_equal(decide(f,
                               "{\"actions\": [{\"name\": \"set_gov_request_window\", "
                               "\"args\": {\"seconds\": 600}}]}",
                               &f->keys, &c),
                        "Accepted");
    assert_int_equal(wrapping(f).epoch, 1);
    /* a fourth member with a key: epoch 2, four shares */
    char *p = set_member(3, true);
    assert_string_equal(decide(f, p, &f->keys, &c), "Accepted");
    free(p);
    assert_int_equal(wrapping(f).epoch, 2);
    assert_int_equal(wrapping(f).members, 4);
    COMBINE(f, 3, 1);
    /* the threshold raised: epoch 3 */
    assert_string_equal(decide(f,
                               "{\"actions\": [{\"name\": \"set_recovery_threshold\", "
                               "\"args\": {\"threshold\": 3}}]}",
                               &f->keys, &c),
                        "Accepted");
    assert_int_equal(wrapping(f).epoch, 3);
    assert_int_equal(wrapping(f).threshold, 3);
    /* member 3 removed: its share goes */
    json_t *j = json_pack("{s:[{s:s, s:{s:s}}]}", "actions", "name", "remove_member", "args",
                          "member_id", people[3].id);
    char *rm = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_string_equal(decide(f, rm, &f->keys, &c), "Accepted");
    free(rm);
    assert_int_equal(wrapping(f).epoch, 4);
    assert_int_equal(wrapping(f).members, 3);
    cs_gov_share s;
    assert_false(share_of(f, 3, &s));
}

/* set_member without a key takes member 2's key away: 2 keys left for a
 * threshold of 3 would make recovery impossible, so the proposal fails and
 * keeps nothing; without a ledger secret a change fails too. */
static void refusals_keep_nothing(void **state)
{
    fixture *f = *state;
    node_gov_call c;
    assert_string_equal(decide(f,
                               "{\"actions\": [{\"name\": \"set_recovery_threshold\", "
                               "\"args\": {\"threshold\": 3}}]}",
                               &f->keys, &c),
                        "Accepted");
    char *p = set_member(2, false);
    assert_string_equal(decide(f, p, &f->keys, &c), "Failed");
    assert_non_null(strstr(c.message, "recovery threshold 3"));
    COMBINE(f, 2, 0, 1); /* member 2's share and key are still there */
    assert_int_equal(wrapping(f).epoch, 2);
    free(p);
    p = set_member(3, true);
    assert_string_equal(decide(f, p, NULL, &c), "Failed");
    assert_non_null(strstr(c.message, "no ledger secret"));
    assert_int_equal(wrapping(f).epoch, 2);
    cs_gov_share s;
    assert_false(share_of(f, 3, &s));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(issued_at_genesis, setup, teardown),
        cmocka_unit_test_setup_teardown(proposals_issue_again, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_keep_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
