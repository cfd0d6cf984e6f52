/*
 * Governance in the node (src/node/gov.h) over a bare store: a proposal is
 * recorded, resolved by the default constitution as ballots come in and
 * applied atomically; every refusal the API documents happens with its own
 * code (non-member, bad signature, stale, replayed, invalid, id mismatch,
 * not found, not open, not proposer) and writes nothing; a proposal whose
 * action fails is Failed with the reason and none of its writes; a
 * constitution that loops or allocates without bound fails the request
 * with a clear error and leaves the store usable; a new constitution drops
 * open proposals. Code certificates: add_code_id logs a certificate with the
 * code id; a certificate policy cannot be set while a trusted code id lacks
 * one that meets it; under a policy, add_code_id without a certificate, with
 * one by another issuer, for another code id or without a required claim is
 * refused when proposed; what was accepted is listed with its transaction.
 */
#include "testutil.h"

#include "../supply/supply_vectors.h"
#include "crypto/b64.h"
#include "gov/constitution.h"
#include "node/gov.h"
#include "node/gov_codecert.h"
#include "supply/codecert.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define NOW     INT64_C(1800000000)
#define DAY     86400
#define MEMBERS 3

typedef struct member {
    cs_key *key;
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
} member;

typedef struct fixture {
    member m[MEMBERS];
    member outsider;
    cs_kv_store *store;
    uint64_t created; /* created_at of the next request (each distinct) */
} fixture;

static void member_make(member *mb, const char *cn)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, &mb->key));
    cs_x509_params p = {.subject_cn = cn, .not_before = NOW - DAY, .not_after = NOW + 365 * DAY};
    cst_ok(cs_x509_create(&p, mb->key, mb->key, NULL, &mb->cert));
    cst_ok(cs_gov_member_id(mb->cert, mb->id));
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

static void put(cs_kv_tx *tx, const char *map, const char *key, cs_slice value)
{
    cst_ok(cs_kv_put(tx, cs_slice_str(map), cs_slice_str(key), value));
}

/* The maps genesis writes: members, one node, a code id, the constitution, status Opening. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    for (int i = 0; i < MEMBERS; i++) {
        char cn[16];
        snprintf(cn, sizeof cn, "member%d", i);
        member_make(&f->m[i], cn);
    }
    member_make(&f->outsider, "outsider");
    cst_ok(cs_kv_store_new(NULL, &f->store));
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    for (int i = 0; i < MEMBERS; i++) {
        cs_buf der;
        cs_buf_init(&der, 0);
        cst_ok(cs_x509_to_der(f->m[i].cert, &der));
        put(tx, SVC_MAP_MEMBERS, f->m[i].id, cs_buf_slice(&der));
        cs_buf_cleanup(&der);
    }
    size_t len;
    const char *script = cs_constitution_default_script(&len);
    put(tx, SVC_MAP_CONSTITUTION, SVC_CONSTITUTION_KEY, CS_SLICE(script, len));
    put(tx, SVC_MAP_SERVICE, SVC_STATUS_KEY, CS_SLICE_LIT(SVC_STATUS_OPENING));
    put(tx, SVC_MAP_CODE_IDS, "aa00000000000000000000000000000000000000000000000000000000000000",
        CS_SLICE_LIT(SVC_CODE_ID_OK));
    commit(f, tx);
    cs_kv_tx_free(tx);
    f->created = (uint64_t)NOW - 10;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < MEMBERS; i++) {
        cs_key_free(f->m[i].key);
        cs_x509_free(f->m[i].cert);
    }
    cs_key_free(f->outsider.key);
    cs_x509_free(f->outsider.cert);
    cs_kv_store_free(f->store);
    free(f);
    return 0;
}

/* A signed request by `mb`. */
static void sign(fixture *f, const member *mb, cs_gov_msg_type type, const char *id,
                 const char *payload, cs_buf *out)
{
    cs_buf_init(out, 0);
    cst_ok(cs_gov_request_sign(mb->key, mb->cert, type, f->created++, id,
                               cs_slice_str(payload != NULL ? payload : ""), out));
}

/* Executes `body` as a request of `type` (path id `path_id`), committing
 * unless it was refused; returns the refusal and fills `c`. */
static node_gov_refusal exec_bytes(fixture *f, cs_gov_msg_type type, const char *path_id,
                                   cs_slice body, node_gov_call *c)
{
    memset(c, 0, sizeof *c);
    c->body = body;
    c->expect = type;
    c->path_id = path_id;
    c->now = NOW;
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cst_ok(node_gov_execute(c, tx));
    if (c->refusal == NODE_GOV_OK)
        commit(f, tx);
    cs_kv_tx_free(tx);
    return c->refusal;
}

static node_gov_refusal exec(fixture *f, const member *mb, cs_gov_msg_type type, const char *id,
                             const char *payload, node_gov_call *c)
{
    cs_buf b;
    sign(f, mb, type, id, payload, &b);
    node_gov_refusal r = exec_bytes(f, type, id, cs_buf_slice(&b), c);
    cs_buf_cleanup(&b);
    return r;
}

static void propose(fixture *f, int who, const char *proposal, char id[65])
{
    node_gov_call c;
    assert_int_equal(exec(f, &f->m[who], CS_GOV_MSG_PROPOSAL, NULL, proposal, &c), NODE_GOV_OK);
    assert_string_equal(c.state, "Open");
    assert_int_equal(strlen(c.proposal_id), 64);
    memcpy(id, c.proposal_id, 65);
}

static const char *vote(fixture *f, int who, const char *id, bool approve, node_gov_call *c)
{
    assert_int_equal(exec(f, &f->m[who], CS_GOV_MSG_BALLOT, id,
                          approve ? "{\"vote\": true}" : "{\"vote\": false}", c),
                     NODE_GOV_OK);
    return c->state;
}

/* The value of `key` in `map` of the committed store (NULL if absent). */
static char *get(fixture *f, const char *map, const char *key)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(tx, cs_slice_str(map), cs_slice_str(key), &v, &found));
    char *out = found ? strndup((const char *)v.ptr, v.len) : NULL;
    cs_kv_tx_free(tx);
    return out;
}

static bool service_open(fixture *f)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    bool open = node_gov_service_open(tx);
    cs_kv_tx_free(tx);
    return open;
}

static const char OPEN_SERVICE[] =
    "{\"actions\": [{\"name\": \"transition_service_to_open\", \"args\": {}}]}";

/* A majority (2 of 3) accepts and applies; the third ballot finds it closed. */
static void majority_accepts_and_applies(void **state)
{
    fixture *f = *state;
    char id[65];
    propose(f, 0, OPEN_SERVICE, id);
    assert_false(service_open(f));
    node_gov_call c;
    assert_string_equal(vote(f, 0, id, true, &c), "Open");
    assert_false(service_open(f));
    assert_string_equal(vote(f, 0, id, true, &c), "Open"); /* the same member again counts once */
    assert_string_equal(vote(f, 1, id, true, &c), "Accepted");
    assert_true(service_open(f));
    assert_int_equal(exec(f, &f->m[2], CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", &c),
                     NODE_GOV_NOT_OPEN);
    assert_non_null(strstr(c.message, "Accepted"));
    char *rec = get(f, SVC_MAP_PROPOSALS, id);
    assert_non_null(strstr(rec, "\"state\":\"Accepted\""));
    assert_non_null(strstr(rec, f->m[0].id));
    free(rec);
}

/* Two against out of three: Rejected, nothing applied. */
static void majority_rejects(void **state)
{
    fixture *f = *state;
    char id[65];
    propose(f, 0, OPEN_SERVICE, id);
    node_gov_call c;
    assert_string_equal(vote(f, 1, id, false, &c), "Open");
    assert_string_equal(vote(f, 2, id, false, &c), "Rejected");
    assert_false(service_open(f));
}

static void refusals_have_their_codes(void **state)
{
    fixture *f = *state;
    node_gov_call c;
    uint64_t seqno = cs_kv_last_seqno(f->store);
    /* a non-member */
    assert_int_equal(exec(f, &f->outsider, CS_GOV_MSG_PROPOSAL, NULL, OPEN_SERVICE, &c),
                     NODE_GOV_NOT_MEMBER);
    assert_int_equal(node_gov_refusal_status(c.refusal), 403);
    assert_string_equal(node_gov_refusal_code(c.refusal), "NotAMember");
    /* a stale request: signed long before the window */
    f->created = (uint64_t)NOW - 3600;
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL, OPEN_SERVICE, &c),
                     NODE_GOV_STALE);
    assert_string_equal(node_gov_refusal_code(c.refusal), "StaleRequest");
    f->created = (uint64_t)NOW - 10;
    /* malformed: not COSE; the wrong type for the endpoint; not a proposal object */
    assert_int_equal(exec_bytes(f, CS_GOV_MSG_PROPOSAL, NULL, CS_SLICE_LIT("{}"), &c),
                     NODE_GOV_MALFORMED);
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL, "[1]", &c), NODE_GOV_MALFORMED);
    /* the constitution refuses an unknown action */
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL,
                          "{\"actions\": [{\"name\": \"make_coffee\", \"args\": {}}]}", &c),
                     NODE_GOV_INVALID);
    assert_non_null(strstr(c.message, "unknown action \"make_coffee\""));
    /* an altered signature */
    cs_buf b;
    sign(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL, OPEN_SERVICE, &b);
    b.ptr[b.len - 5] ^= 1;
    assert_int_equal(exec_bytes(f, CS_GOV_MSG_PROPOSAL, NULL, cs_buf_slice(&b), &c),
                     NODE_GOV_BAD_SIGNATURE);
    assert_int_equal(node_gov_refusal_status(c.refusal), 401);
    cs_buf_cleanup(&b);
    /* nothing was written by any of them */
    assert_int_equal(cs_kv_last_seqno(f->store), seqno);
    /* a ballot: unknown proposal, a path id that is not the signed one */
    const char *nobody = "00000000000000000000000000000000000000000000000000000000000000ff";
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_BALLOT, nobody, "{\"vote\": true}", &c),
                     NODE_GOV_NOT_FOUND);
    char id[65];
    propose(f, 0, OPEN_SERVICE, id);
    sign(f, &f->m[1], CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", &b);
    assert_int_equal(exec_bytes(f, CS_GOV_MSG_BALLOT, nobody, cs_buf_slice(&b), &c),
                     NODE_GOV_ID_MISMATCH);
    /* the same ballot, executed once, then replayed */
    assert_int_equal(exec_bytes(f, CS_GOV_MSG_BALLOT, id, cs_buf_slice(&b), &c), NODE_GOV_OK);
    assert_int_equal(exec_bytes(f, CS_GOV_MSG_BALLOT, id, cs_buf_slice(&b), &c), NODE_GOV_REPLAYED);
    assert_int_equal(node_gov_refusal_status(c.refusal), 409);
    cs_buf_cleanup(&b);
    /* a ballot that is not {"vote": bool} */
    assert_int_equal(exec(f, &f->m[1], CS_GOV_MSG_BALLOT, id, "{\"vote\": \"yes\"}", &c),
                     NODE_GOV_MALFORMED);
}

static void withdrawal(void **state)
{
    fixture *f = *state;
    char id[65];
    propose(f, 0, OPEN_SERVICE, id);
    node_gov_call c;
    assert_int_equal(exec(f, &f->m[1], CS_GOV_MSG_WITHDRAWAL, id, NULL, &c), NODE_GOV_NOT_PROPOSER);
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_WITHDRAWAL, id, NULL, &c), NODE_GOV_OK);
    assert_string_equal(c.state, "Withdrawn");
    assert_int_equal(exec(f, &f->m[1], CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", &c),
                     NODE_GOV_NOT_OPEN);
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_WITHDRAWAL, id, NULL, &c), NODE_GOV_NOT_OPEN);
}

/* Builds {"actions": [a1, a2]} where each is {"name": n, "args": {k: v}}. */
static char *two_actions(const char *n1, const char *k1, const char *v1, const char *n2,
                         const char *k2, const char *v2)
{
    json_t *p = json_pack("{s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}]}", "actions", "name", n1, "args", k1,
                          v1, "name", n2, "args", k2, v2);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

static char *cert_pem(const member *mb)
{
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(mb->cert, &pem));
    char *s = strndup((const char *)pem.ptr, pem.len);
    cs_buf_cleanup(&pem);
    return s;
}

/* The second action fails: the first one's write is not kept. */
static void failed_apply_keeps_nothing(void **state)
{
    fixture *f = *state;
    char *pem = cert_pem(&f->outsider);
    char *proposal =
        two_actions("set_user", "cert", pem, "remove_user", "user_id",
                    "1111111111111111111111111111111111111111111111111111111111111111");
    char id[65];
    propose(f, 0, proposal, id);
    node_gov_call c;
    vote(f, 0, id, true, &c);
    assert_string_equal(vote(f, 1, id, true, &c), "Failed");
    assert_non_null(strstr(c.message, "remove_user"));
    assert_non_null(strstr(c.message, "no user 1111"));
    assert_null(get(f, SVC_MAP_USERS, f->outsider.id));
    char *rec = get(f, SVC_MAP_PROPOSALS, id);
    assert_non_null(strstr(rec, "\"failure\""));
    free(rec);
    /* the same set_user alone is applied */
    free(proposal);
    json_t *p =
        json_pack("{s:[{s:s, s:{s:s}}]}", "actions", "name", "set_user", "args", "cert", pem);
    proposal = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    propose(f, 2, proposal, id);
    vote(f, 0, id, true, &c);
    assert_string_equal(vote(f, 2, id, true, &c), "Accepted");
    char *der = get(f, SVC_MAP_USERS, f->outsider.id);
    assert_non_null(der);
    free(der);
    free(proposal);
    free(pem);
}

/* Arguments are checked strictly, each error naming the argument. */
static void bad_arguments_fail_the_proposal(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *proposal;
        const char *needle;
    } cases[] = {
        {"{\"actions\": [{\"name\": \"set_gov_request_window\", \"args\": {\"seconds\": 1}}]}",
         "\"seconds\" must be an integer in [10, 86400]"},
        {"{\"actions\": [{\"name\": \"set_gov_request_window\", \"args\": {\"secs\": 60}}]}",
         "unknown argument \"secs\""},
        {"{\"actions\": [{\"name\": \"set_recovery_threshold\", \"args\": {\"threshold\": 2}}]}",
         "exceeds the 0 members who have an encryption key"},
        {"{\"actions\": [{\"name\": \"retire_code_id\", \"args\": {\"code_id\": "
         "\"aa00000000000000000000000000000000000000000000000000000000000000\"}}]}",
         "last trusted code id"},
        {"{\"actions\": [{\"name\": \"add_code_id\", \"args\": {\"code_id\": \"zz\"}}]}",
         "\"code_id\" must be 64 hexadecimal digits"},
        {"{\"actions\": [{\"name\": \"set_user\", \"args\": {\"cert\": \"not a pem\"}}]}",
         "argument \"cert\""},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        char id[65];
        propose(f, 0, cases[i].proposal, id);
        node_gov_call c;
        vote(f, 0, id, true, &c);
        assert_string_equal(vote(f, 1, id, true, &c), "Failed");
        if (strstr(c.message, cases[i].needle) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, c.message, cases[i].needle);
    }
}

/* Accepts `proposal` with members 0 and 1. */
static void pass(fixture *f, const char *proposal)
{
    char id[65];
    propose(f, 0, proposal, id);
    node_gov_call c;
    vote(f, 0, id, true, &c);
    assert_string_equal(vote(f, 1, id, true, &c), "Accepted");
}

static char *set_constitution(const char *script)
{
    json_t *p = json_pack("{s:[{s:s, s:{s:s}}]}", "actions", "name", "set_constitution", "args",
                          "script", script);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

/* Accepts `proposal` with members 0 and 1 and returns the final state (and
 * the failure in *why). */
static const char *decide(fixture *f, const char *proposal, node_gov_call *c)
{
    char id[65];
    propose(f, 0, proposal, id);
    vote(f, 0, id, true, c);
    return vote(f, 1, id, true, c);
}

/* A constitution whose validate loops or allocates without bound is refused
 * when proposed (it could never decide anything again: governance would be
 * locked): the proposal Fails saying why and the old constitution stays. One
 * that runs away only on some proposals is installed; those proposals are
 * refused with a clear error, the store stays usable, and governance can
 * still replace it. */
static void runaway_constitutions_fail_cleanly(void **state)
{
    fixture *f = *state;
    static const char tail[] =
        "function resolve(p, a, v, m)\n"
        "  local n = 0 for _, b in ipairs(v) do if b.vote then n = n + 1 end end\n"
        "  if 2 * n > #m then return 'Accepted' end return 'Open' end\n"
        "function apply(p, id) for _, a in ipairs(p.actions) do "
        "actions[a.name](a.args) end end\n";
    static const struct {
        const char *validate;
        const char *needle;
    } cases[] = {
        {"function validate(p) while true do end end\n", "instruction budget"},
        {"function validate(p) local t = {} local i = 0 while true do i = i + 1 t[i] = "
         "string.rep('x', 4096) .. i end end\n",
         "memory"},
    };
    char script[2048];
    node_gov_call c;
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        snprintf(script, sizeof script, "%s%s", cases[i].validate, tail);
        char *p = set_constitution(script);
        assert_string_equal(decide(f, p, &c), "Failed");
        free(p);
        if (strstr(c.message, cases[i].needle) == NULL ||
            strstr(c.message, "cannot decide the proposal that installs it") == NULL)
            fail_msg("case %zu: \"%s\"", i, c.message);
        char *now = get(f, SVC_MAP_CONSTITUTION, SVC_CONSTITUTION_KEY);
        assert_null(strstr(now, "while true"));
        free(now);
    }
    /* runs away on set_user proposals only */
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        snprintf(script, sizeof script,
                 "function validate(p)\n if p.actions[1].name == 'set_user' then\n"
                 "  local t = {} local i = 0 while true do i = i + 1 %s end end\n"
                 " return true end\n%s",
                 i == 0 ? "" : "t[i] = string.rep('x', 4096) .. i", tail);
        char *p = set_constitution(script);
        assert_string_equal(decide(f, p, &c), "Accepted");
        free(p);
        assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL,
                              "{\"actions\": [{\"name\": \"set_user\", \"args\": {}}]}", &c),
                         NODE_GOV_INVALID);
        if (strstr(c.message, cases[i].needle) == NULL)
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, c.message, cases[i].needle);
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(f->store, &tx));
        put(tx, "public:after", "k", CS_SLICE_LIT("v"));
        commit(f, tx);
        cs_kv_tx_free(tx);
    }
    /* and governance still works: the default comes back */
    size_t len;
    const char *def = cs_constitution_default_script(&len);
    char *copy = strndup(def, len);
    char *p = set_constitution(copy);
    assert_string_equal(decide(f, p, &c), "Accepted");
    free(p);
    free(copy);
}

/* A new constitution drops the proposals still open. */
static void new_constitution_drops_open_proposals(void **state)
{
    fixture *f = *state;
    char open_id[65];
    propose(f, 2, OPEN_SERVICE, open_id);
    size_t len;
    const char *script = cs_constitution_default_script(&len);
    char *copy = strndup(script, len);
    char *p = set_constitution(copy);
    pass(f, p);
    free(p);
    free(copy);
    char *rec = get(f, SVC_MAP_PROPOSALS, open_id);
    assert_non_null(strstr(rec, "\"state\":\"Dropped\""));
    free(rec);
    node_gov_call c;
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_BALLOT, open_id, "{\"vote\": true}", &c),
                     NODE_GOV_NOT_OPEN);
}

/* Members added by proposal can vote; a removed one is a non-member. */
static void membership_changes(void **state)
{
    fixture *f = *state;
    char *pem = cert_pem(&f->outsider);
    json_t *j =
        json_pack("{s:[{s:s, s:{s:s}}]}", "actions", "name", "set_member", "args", "cert", pem);
    char *p = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    pass(f, p);
    free(p);
    free(pem);
    char id[65];
    node_gov_call c;
    assert_int_equal(exec(f, &f->outsider, CS_GOV_MSG_PROPOSAL, NULL, OPEN_SERVICE, &c),
                     NODE_GOV_OK);
    memcpy(id, c.proposal_id, 65);
    /* four members now: two ballots are not a strict majority */
    vote(f, 0, id, true, &c);
    assert_string_equal(vote(f, 1, id, true, &c), "Open");
    j = json_pack("{s:[{s:s, s:{s:s}}]}", "actions", "name", "remove_member", "args", "member_id",
                  f->outsider.id);
    p = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    propose(f, 0, p, id);
    vote(f, 0, id, true, &c);
    vote(f, 1, id, true, &c);
    assert_string_equal(vote(f, 2, id, true, &c), "Accepted");
    free(p);
    assert_int_equal(exec(f, &f->outsider, CS_GOV_MSG_PROPOSAL, NULL, OPEN_SERVICE, &c),
                     NODE_GOV_NOT_MEMBER);
}

/* ---- code certificates (gov_codecert.h) ---- */

static uint64_t term_one(void *ctx, uint64_t seqno)
{
    (void)ctx;
    (void)seqno;
    return 1;
}

#define CODE_AA "aa00000000000000000000000000000000000000000000000000000000000000"
#define CODE_BB "bb00000000000000000000000000000000000000000000000000000000000000"
#define CODE_CC "cc00000000000000000000000000000000000000000000000000000000000000"

/* A code certificate for `code` (hex) by `issuer` over the honest recorded chain, base64. */
static char *codecert_b64(const member *issuer, const char *code, bool tested, const char *claim)
{
    chain c;
    chain_load(&c, "honest");
    cs_slice key = cs_buf_slice(&c.owner);
    const char *asserted[1] = {claim};
    cs_codecert_request r = {
        .layout = cs_buf_slice(&c.layout),
        .layout_keys = &key,
        .n_layout_keys = 1,
        .links = c.files,
        .n_links = c.n_given,
        .now = NOW,
        .artifact_path = "foo.py",
        .artifact = CS_SLICE_LIT("print(\"hello\")\n"),
        .tested_step = tested ? "package" : NULL,
        .asserted = asserted,
        .n_asserted = claim != NULL ? 1 : 0,
    };
    cst_ok(cs_hex_decode(code, r.code_id, 32));
    cs_intoto_result res;
    cs_buf cert, b64;
    cs_buf_init(&cert, 0);
    cs_buf_init(&b64, 0);
    cst_ok(cs_codecert_issue(&r, issuer->key, issuer->cert, &res, &cert));
    cst_ok(cs_b64_encode(cs_buf_slice(&cert), &b64));
    char *out = strndup((const char *)b64.ptr, b64.len);
    cs_buf_cleanup(&cert);
    cs_buf_cleanup(&b64);
    chain_cleanup(&c);
    return out;
}

static char *add_code_proposal(const char *code, const char *cert_b64)
{
    char *p = malloc(8192);
    assert_non_null(p);
    if (cert_b64 == NULL)
        snprintf(p, 8192,
                 "{\"actions\": [{\"name\": \"add_code_id\", \"args\": {\"code_id\": \"%s\"}}]}",
                 code);
    else
        snprintf(p, 8192,
                 "{\"actions\": [{\"name\": \"add_code_id\", \"args\": {\"code_id\": \"%s\", "
                 "\"certificate\": \"%s\"}}]}",
                 code, cert_b64);
    return p;
}

/* The proposal is refused when submitted, saying `needle`. */
static void refused_at_submission(fixture *f, const char *proposal, const char *needle)
{
    node_gov_call c;
    assert_int_equal(exec(f, &f->m[0], CS_GOV_MSG_PROPOSAL, NULL, proposal, &c), NODE_GOV_INVALID);
    if (strstr(c.message, needle) == NULL)
        fail_msg("refused saying \"%s\", not \"%s\"", c.message, needle);
}

static void code_certificates(void **state)
{
    fixture *f = *state;
    member ci, other;
    member_make(&ci, "ci");
    member_make(&other, "ci");
    char pem[8192];
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_x509_to_pem(ci.cert, &b));
    json_t *esc = json_stringn((const char *)b.ptr, b.len);
    char *pem_json = json_dumps(esc, JSON_ENCODE_ANY);
    snprintf(pem, sizeof pem,
             "{\"actions\": [{\"name\": \"set_code_certificate_policy\", \"args\": {\"issuers\": "
             "[%s], \"claims\": [\"tested\", \"compliance=HIPAA\"]}}]}",
             pem_json);
    free(pem_json);
    json_decref(esc);
    cs_buf_cleanup(&b);

    /* a policy while the trusted code id aa has no certificate: the proposal fails */
    char id[65];
    node_gov_call c;
    propose(f, 0, pem, id);
    vote(f, 0, id, true, &c);
    assert_string_equal(vote(f, 1, id, true, &c), "Failed");
    assert_non_null(strstr(c.message, "has no code certificate"));
    assert_null(get(f, SVC_MAP_CODE_CERT_POLICY, SVC_CODE_CERT_POLICY_KEY));

    /* aa's certificate, logged without a policy (its own issuer checked), then the policy */
    char *aa = codecert_b64(&ci, CODE_AA, true, "compliance=HIPAA");
    char *p = add_code_proposal(CODE_AA, aa);
    pass(f, p);
    free(p);
    char *entry = get(f, SVC_MAP_CODE_CERTS, CODE_AA);
    assert_non_null(entry);
    assert_non_null(strstr(entry, "\"compliance\":\"HIPAA\""));
    free(entry);
    pass(f, pem);
    char *policy = get(f, SVC_MAP_CODE_CERT_POLICY, SVC_CODE_CERT_POLICY_KEY);
    assert_non_null(policy);
    assert_non_null(strstr(policy, "compliance=HIPAA"));
    free(policy);

    /* under the policy: refused when proposed, each for its own reason */
    p = add_code_proposal(CODE_BB, NULL);
    refused_at_submission(f, p, "requires a code certificate");
    free(p);
    char *untested = codecert_b64(&ci, CODE_BB, false, "compliance=HIPAA");
    p = add_code_proposal(CODE_BB, untested);
    refused_at_submission(f, p, "no claim \"tested\"");
    free(p);
    char *ferpa = codecert_b64(&ci, CODE_BB, true, "compliance=FERPA");
    p = add_code_proposal(CODE_BB, ferpa);
    refused_at_submission(f, p, "is \"FERPA\", not \"HIPAA\"");
    free(p);
    char *foreign = codecert_b64(&other, CODE_BB, true, "compliance=HIPAA");
    p = add_code_proposal(CODE_BB, foreign);
    refused_at_submission(f, p, "not by an issuer the policy names");
    free(p);
    p = add_code_proposal(CODE_BB, aa); /* aa's certificate for bb */
    refused_at_submission(f, p, "is for code id aa00");
    free(p);
    /* the right one */
    char *bb = codecert_b64(&ci, CODE_BB, true, "compliance=HIPAA");
    p = add_code_proposal(CODE_BB, bb);
    pass(f, p);
    free(p);
    char *status = get(f, SVC_MAP_CODE_IDS, CODE_BB);
    assert_string_equal(status, SVC_CODE_ID_OK);
    free(status);

    /* who may join; what the transparency list says */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(f->store, &tx));
    assert_true(gov_codecert_admits(tx, CODE_BB));
    assert_false(gov_codecert_admits(tx, CODE_CC));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(gov_codecert_transparency_json(tx, term_one, NULL, &out));
    cs_kv_tx_free(tx);
    json_t *doc = json_loadb((const char *)out.ptr, out.len, 0, NULL);
    assert_non_null(doc);
    json_t *certs = json_object_get(doc, "certificates");
    assert_int_equal(json_array_size(certs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(certs, i);
        const char *code = json_string_value(json_object_get(e, "code_id"));
        const char *txid = json_string_value(json_object_get(e, "transaction_id"));
        assert_non_null(txid);
        assert_int_equal(strncmp(txid, "1.", 2), 0);
        assert_string_equal(json_string_value(json_object_get(e, "certificate")),
                            strcmp(code, CODE_AA) == 0 ? aa : bb);
    }
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "policy"), "claims")), 2);
    json_decref(doc);
    cs_buf_cleanup(&out);
    free(aa);
    free(bb);
    free(untested);
    free(ferpa);
    free(foreign);
    cs_key_free(ci.key);
    cs_x509_free(ci.cert);
    cs_key_free(other.key);
    cs_x509_free(other.cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(majority_accepts_and_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(majority_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_have_their_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(withdrawal, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_apply_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_fail_the_proposal, setup, teardown),
        cmocka_unit_test_setup_teardown(runaway_constitutions_fail_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(new_constitution_drops_open_proposals, setup, teardown),
        cmocka_unit_test_setup_teardown(membership_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(code_certificates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
