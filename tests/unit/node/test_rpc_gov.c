/*
 * Governance over HTTP on a two-node service that starts closed: users get
 * 503 ServiceNotOpen until the member opens the service with a proposal
 * and a ballot sent to the follower (forwarded to the leader, answered once
 * the follower applied it); then both nodes serve users. Refusals come
 * back with their status and code; the documents are served.
 */
#include "rpc_fixture.h"

#include "crypto/b64.h"
#include "e2e/statement.h"
#include "gov/request.h"

#include <time.h>

static cst_svc svc;

static int setup(void **state)
{
    (void)state;
    cst_svc_start_closed(&svc, 2, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cst_svc_stop(&svc);
    return 0;
}

static const cs_http_header COSE_CT[] = {{"Content-Type", "application/cose"}};
static const cs_http_header JSON_CT[] = {{"Content-Type", "application/json"}};

static uint64_t created;

/* Sends a request signed by `id` to node `node`. */
static void gov_post(size_t node, const cst_ident *id, cs_gov_msg_type type,
                     const char *proposal_id, const char *payload, cst_resp *r)
{
    if (created == 0)
        created = (uint64_t)time(NULL) - 5;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_gov_request_sign(id->key, id->cert, type, created++, proposal_id,
                               cs_slice_str(payload), &b));
    char target[160];
    if (type == CS_GOV_MSG_PROPOSAL)
        snprintf(target, sizeof target, "/gov/proposals");
    else
        snprintf(target, sizeof target, "/gov/proposals/%s/%s", proposal_id,
                 type == CS_GOV_MSG_BALLOT ? "ballots" : "withdraw");
    cst_client c;
    cst_client_open(&svc, node, NULL, &c);
    cst_send_bytes(&c, "POST", target, COSE_CT, 1, cs_buf_slice(&b), r);
    cst_client_close(&c);
    cs_buf_cleanup(&b);
}

static void get(size_t node, const cst_ident *id, const char *target, cst_resp *r)
{
    cst_client c;
    cst_client_open(&svc, node, id, &c);
    cst_send(&c, "GET", target, NULL, 0, NULL, r);
    cst_client_close(&c);
}

static json_t *body_json(const cst_resp *r)
{
    json_t *doc = json_loadb((const char *)r->body.ptr, r->body.len, 0, NULL);
    if (doc == NULL)
        fail_msg("not JSON: %s", (const char *)r->body.ptr);
    return doc;
}

static int app_write_status(size_t node)
{
    cst_client c;
    cst_client_open(&svc, node, &svc.user, &c);
    cst_resp r;
    cst_send(&c, "POST", "/app/log/public", JSON_CT, 1, "{\"id\": 1, \"msg\": \"hello\"}", &r);
    int status = r.status;
    if (status == 503)
        cst_resp_error(&r, "ServiceNotOpen");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
    return status;
}

static const char OPEN[] =
    "{\"actions\": [{\"name\": \"transition_service_to_open\", \"args\": {}}]}";

static void open_through_governance(void **state)
{
    (void)state;
    assert_int_equal(app_write_status(0), 503);
    assert_int_equal(app_write_status(1), 503);
    cst_resp r;
    get(1, NULL, "/gov/service", &r);
    assert_int_equal(r.status, 200);
    json_t *doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "service_status")), "Opening");
    json_decref(doc);
    cst_resp_cleanup(&r);

    /* a stranger's proposal, through the follower */
    gov_post(1, &svc.stranger, CS_GOV_MSG_PROPOSAL, NULL, OPEN, &r);
    assert_int_equal(r.status, 403);
    cst_resp_error(&r, "NotAMember");
    cst_resp_cleanup(&r);

    /* the member's proposal, through the follower */
    gov_post(1, &svc.member, CS_GOV_MSG_PROPOSAL, NULL, OPEN, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.txid[0] != '\0');
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "Open");
    char id[65];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "proposal_id")));
    assert_int_equal(strlen(id), 64);
    json_decref(doc);
    cst_resp_cleanup(&r);

    /* the follower answered after applying it: it shows the proposal */
    char target[160], member_id[65];
    cst_ok(cs_gov_member_id(svc.member.cert, member_id));
    snprintf(target, sizeof target, "/gov/proposals/%s", id);
    get(1, NULL, target, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "proposer_id")), member_id);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "Open");
    json_decref(doc);
    cst_resp_cleanup(&r);
    assert_int_equal(app_write_status(1), 503);

    /* the ballot (the only member: a majority), through the follower */
    cs_buf ballot;
    cs_buf_init(&ballot, 0);
    cst_ok(cs_gov_request_sign(svc.member.key, svc.member.cert, CS_GOV_MSG_BALLOT, created++, id,
                               CS_SLICE_LIT("{\"vote\": true}"), &ballot));
    snprintf(target, sizeof target, "/gov/proposals/%s/ballots", id);
    cst_client c;
    cst_client_open(&svc, 1, NULL, &c);
    cst_send_bytes(&c, "POST", target, COSE_CT, 1, cs_buf_slice(&ballot), &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "Accepted");
    json_decref(doc);
    cst_resp_cleanup(&r);
    /* the same signed ballot again */
    cst_send_bytes(&c, "POST", target, COSE_CT, 1, cs_buf_slice(&ballot), &r);
    assert_int_equal(r.status, 409);
    cst_resp_error(&r, "ReplayedRequest");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
    cs_buf_cleanup(&ballot);

    /* open: both nodes serve users now */
    assert_int_equal(app_write_status(1), 200);
    assert_int_equal(app_write_status(0), 200);
    get(0, NULL, "/gov/service", &r);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "service_status")), "Open");
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 2);
    json_decref(doc);
    cst_resp_cleanup(&r);
    get(0, NULL, "/gov/proposals", &r);
    doc = body_json(&r);
    json_t *list = json_object_get(doc, "proposals");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "Accepted");
    json_decref(doc);
    cst_resp_cleanup(&r);
    get(1, NULL, "/gov/constitution", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/x-lua"));
    assert_non_null(strstr((const char *)r.body.ptr, "function resolve"));
    cst_resp_cleanup(&r);

    /* refusals: unknown proposal, a malformed body, a path for no endpoint */
    const char *nobody = "00000000000000000000000000000000000000000000000000000000000000aa";
    gov_post(0, &svc.member, CS_GOV_MSG_WITHDRAWAL, nobody, "", &r);
    assert_int_equal(r.status, 404);
    cst_resp_error(&r, "ProposalNotFound");
    cst_resp_cleanup(&r);
    cst_client_open(&svc, 0, NULL, &c);
    cst_send(&c, "POST", "/gov/proposals", JSON_CT, 1, OPEN, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(cst_resp_error(&r, "MalformedRequest"), "not a governance request"));
    cst_resp_cleanup(&r);
    /* a body over the governance request cap (under the HTTP body cap): 413, naming it */
    uint8_t *big = calloc(1, CS_GOV_REQUEST_MAX + 1);
    assert_non_null(big);
    cst_send_bytes(&c, "POST", "/gov/proposals", COSE_CT, 1, CS_SLICE(big, CS_GOV_REQUEST_MAX + 1),
                   &r);
    free(big);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(cst_resp_error(&r, "RequestTooLarge"), "524289 bytes, limit 524288"));
    cst_resp_cleanup(&r);
    snprintf(target, sizeof target, "/gov/proposals/%s", nobody);
    cst_send(&c, "GET", target, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    cst_resp_error(&r, "ProposalNotFound");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

/* Proposes `actions` as the member through node 0 and accepts it with
 * the member's ballot through node 1 (answered once node 1 applied it). */
static void govern(const char *actions)
{
    cst_resp r;
    gov_post(0, &svc.member, CS_GOV_MSG_PROPOSAL, NULL, actions, &r);
    assert_int_equal(r.status, 200);
    json_t *doc = body_json(&r);
    char id[65];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "proposal_id")));
    json_decref(doc);
    cst_resp_cleanup(&r);
    gov_post(1, &svc.member, CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "Accepted");
    json_decref(doc);
    cst_resp_cleanup(&r);
}

typedef struct attested {
    bool done;
    int status;
    cs_buf statement;
} attested;

static void attested_cb(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    attested *a = ctx;
    cst_cb_ok(err, msg);
    a->done = true;
    a->status = r->status;
    const char *b64 = cs_http_response_header(r, CS_E2E_HEADER);
    assert_non_null(b64);
    cst_ok(cs_b64_decode(cs_slice_str(b64), &a->statement));
}

static bool attested_done(void *ctx)
{
    return ((attested *)ctx)->done;
}

/* The code ids that node `node`'s handling statement for a write names. */
static size_t statement_codes(size_t node, uint8_t ids[CS_E2E_MAX_CODE_IDS][32])
{
    cst_client c;
    cst_client_open(&svc, node, &svc.user, &c);
    attested a = {0};
    cs_buf_init(&a.statement, CS_E2E_MAX);
    const cs_http_header h[2] = {{CS_E2E_ATTEST_HEADER, "00112233445566778899aabbccddeeff"},
                                 JSON_CT[0]};
    cst_ok(cs_http_client_request(c.http, "POST", "/app/log/public", h, 2,
                                  CS_SLICE_LIT("{\"id\": 2, \"msg\": \"attested\"}"), attested_cb,
                                  &a));
    cst_run_until(&svc.loop, 30000, attested_done, &a, "the attested write");
    assert_int_equal(a.status, 200);
    cs_e2e_statement *s = calloc(1, sizeof *s);
    assert_non_null(s);
    cst_ok(cs_e2e_verify(cs_buf_slice(&a.statement), svc.service_cert, s));
    for (size_t i = 0; i < s->n_codes; i++)
        memcpy(ids[i], s->codes[i].code_id, 32);
    size_t n = s->n_codes;
    free(s);
    cs_buf_cleanup(&a.statement);
    cst_client_close(&c);
    return n;
}

static bool has_code(uint8_t ids[][32], size_t n, const uint8_t want[32])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(ids[i], want, 32) == 0)
            return true;
    return false;
}

/* A handling statement names the code ids the service trusts when it
 * answers: one that governance adds appears in the next statement of
 * every node, and one it retires is gone, although each node keeps what
 * it read for its statements between governance transactions. */
static void statements_follow_the_trusted_code_ids(void **state)
{
    (void)state;
    govern(OPEN);
    assert_int_equal(app_write_status(0), 200);
    uint8_t ids[CS_E2E_MAX_CODE_IDS][32];
    const uint8_t added[32] = {0xc0, 0xde, 0x01};
    char hex[65], actions[256];
    cs_hex_encode(CS_SLICE(added, 32), hex);
    for (size_t node = 0; node < 2; node++) { /* read (and kept) before the change */
        size_t n = statement_codes(node, ids);
        assert_int_equal(n, 1);
        assert_false(has_code(ids, n, added));
    }
    snprintf(actions, sizeof actions,
             "{\"actions\": [{\"name\": \"add_code_id\", \"args\": {\"code_id\": \"%s\"}}]}", hex);
    govern(actions);
    for (size_t node = 2; node-- > 0;) { /* the follower first: it answered the ballot */
        size_t n = statement_codes(node, ids);
        assert_int_equal(n, 2);
        assert_true(has_code(ids, n, added));
    }
    snprintf(actions, sizeof actions,
             "{\"actions\": [{\"name\": \"retire_code_id\", \"args\": {\"code_id\": \"%s\"}}]}",
             hex);
    govern(actions);
    for (size_t node = 2; node-- > 0;) {
        size_t n = statement_codes(node, ids);
        assert_int_equal(n, 1);
        assert_false(has_code(ids, n, added));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_through_governance, setup, teardown),
        cmocka_unit_test_setup_teardown(statements_follow_the_trusted_code_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
