/*
 * The sandbox governs its service the way a consortium would
 * (docs/governance.md): member0 proposes (transition_service_to_open, or
 * the wiring of the composed sample), and members 0 and 1 (a majority of
 * three) vote for it.
 */
#include "sandbox.h"

#include "crypto/key.h"
#include "crypto/x509.h"
#include "gov/request.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GOV_TIMEOUT_MS 10000
#define BODY_MAX       ((size_t)1 << 20)

static const char OPEN_PROPOSAL[] =
    "{\"actions\": [{\"name\": \"transition_service_to_open\", \"args\": {}}]}";

/* Member m signs a request of `type` and the node at `address` answers
 * 200 with {"proposal_id", "state"}: copied into id (if not set) and state. */
static consort_err send_signed(const cs_sbx *sbx, cs_sbx_client *c, const char *address, int m,
                               cs_gov_msg_type type, char id[CS_GOV_ID_HEX_LEN + 1],
                               const char *payload, char *state, size_t state_len)
{
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    cs_buf req, body;
    cs_buf_init(&req, 0);
    cs_buf_init(&body, BODY_MAX);
    json_t *doc = NULL;
    char path[160];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_load_file(sbx->members[m][0], &cert), out);
    CS_TRY_GOTO(rc, cs_key_load_pem_file(sbx->members[m][1], &key), out);
    CS_TRY_GOTO(rc,
                cs_gov_request_sign(key, cert, type, (uint64_t)time(NULL),
                                    type == CS_GOV_MSG_PROPOSAL ? NULL : id, cs_slice_str(payload),
                                    &req),
                out);
    if (type == CS_GOV_MSG_PROPOSAL)
        snprintf(path, sizeof path, "/gov/proposals");
    else
        snprintf(path, sizeof path, "/gov/proposals/%s/ballots", id);
    int status = 0;
    CS_TRY_GOTO(rc,
                cs_sbx_request(c, address, "POST", path, "application/cose", cs_buf_slice(&req),
                               GOV_TIMEOUT_MS, &status, &body),
                out);
    doc = json_loadb((const char *)body.ptr, body.len, 0, NULL);
    const char *got_id = json_string_value(json_object_get(doc, "proposal_id"));
    const char *got_state = json_string_value(json_object_get(doc, "state"));
    if (status != 200 || got_id == NULL || got_state == NULL) {
        rc = cs_fail(CONSORT_E_STATE, "POST %s as member%d: HTTP %d: %.*s", path, m, status,
                     (int)(body.len > 300 ? 300 : body.len), (const char *)body.ptr);
        goto out;
    }
    if (type == CS_GOV_MSG_PROPOSAL)
        snprintf(id, CS_GOV_ID_HEX_LEN + 1, "%s", got_id);
    snprintf(state, state_len, "%s", got_state);
out:
    json_decref(doc);
    cs_buf_cleanup(&req);
    cs_buf_cleanup(&body);
    cs_key_free(key);
    cs_x509_free(cert);
    return rc;
}

consort_err cs_sbx_pass_proposal(const cs_sbx *sbx, cs_sbx_client *c, const char *proposal,
                                 const char *what)
{
    const char *address = sbx->nodes[0].rpc_address;
    char id[CS_GOV_ID_HEX_LEN + 1] = "";
    char state[32];
    CS_TRY_CTX(
        send_signed(sbx, c, address, 0, CS_GOV_MSG_PROPOSAL, id, proposal, state, sizeof state),
        "%s", what);
    fprintf(stderr, "consort sandbox: member0 proposed %s (proposal %.16s...)\n", what, id);
    for (int m = 0; m < 2; m++) {
        CS_TRY_CTX(send_signed(sbx, c, address, m, CS_GOV_MSG_BALLOT, id, "{\"vote\": true}", state,
                               sizeof state),
                   "%s", what);
        fprintf(stderr, "consort sandbox: member%d voted for it: %s\n", m, state);
    }
    CS_ENSURE(strcmp(state, "Accepted") == 0, CONSORT_E_STATE,
              "%s: the proposal is %s after two of three members voted for it", what, state);
    return CONSORT_OK;
}

consort_err cs_sbx_open_service(const cs_sbx *sbx, cs_sbx_client *c)
{
    return cs_sbx_pass_proposal(sbx, c, OPEN_PROPOSAL, "opening the service");
}
