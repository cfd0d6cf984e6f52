/*
 * Governance over HTTP on a two-node service that starts closed: users get
 * 503 ServiceNotOpen until the member opens the service with a proposal
 * and a ballot sent to the follower (forwarded to the leader, answered once
 * the follower applied it); then both nodes serve users. Refusals come
 * back with their status and code; the documents are served.
 */
#include "rpc_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_through_governance, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
