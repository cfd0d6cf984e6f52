/*
 * Executing a member's signed request (gov.h): decode, authenticate
 * (member, signature, time window), refuse replays, then record the
 * proposal, the ballot or the withdrawal; resolve the proposal with the
 * constitution and, once accepted, apply it (gov_actions.c) in the same
 * transaction.
 */
#include "node/gov_codecert.h"
#include "node/gov_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOV_LOG "gov"

/* A refusal: CONSORT_OK with the reason in the call. */
static CS_PRINTF(3, 4) consort_err
    refuse(node_gov_call *c, node_gov_refusal r, const char *fmt, ...)
{
    c->refusal = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    cs_err_clear();
    return CONSORT_OK;
}

/* ---- members ---- */

/* ---- resolve and apply ---- */

static consort_err load_constitution(cs_kv_tx *tx, cs_constitution **out)
{
    cs_slice script;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CONSTITUTION), CS_SLICE_LIT(SVC_CONSTITUTION_KEY),
                     &script, &found));
    if (!found)
        return cs_constitution_new_default(NULL, out);
    return cs_constitution_new((const char *)script.ptr, script.len, NULL, out);
}

/* Applies an accepted proposal: Accepted with its writes, or Failed with
 * the reason and nothing it did. An error is the node's own failure. */
static consort_err apply(const node_gov_call *c, cs_kv_tx *tx, const cs_constitution *con,
                         json_t *rec, const char *proposal_json, const char *id)
{
    gov_stage st;
    gov_stage_init(&st, tx);
    st.proposal_json = proposal_json;
    st.proposal_id = id;
    cs_constitution_action acts[GOV_ACTION_COUNT];
    gov_actions_bind(&st, acts);
    consort_err rc = cs_constitution_apply(con, proposal_json, id, acts, GOV_ACTION_COUNT);
    if (rc == CONSORT_OK) /* in the same transaction, or the proposal fails */
        rc = gov_shares_refresh(&st, c->shares);
    if (rc == CONSORT_E_CORRUPT || rc == CONSORT_E_BUSY) {
        gov_stage_cleanup(&st);
        return rc; /* not the proposal's fault (NOMEM is usually the script's memory cap) */
    }
    if (rc != CONSORT_OK) {
        char why[NODE_GOV_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", consort_errmsg());
        cs_err_clear();
        gov_stage_cleanup(&st);
        cs_log_info(GOV_LOG, "proposal %.16s failed: %s", id, why);
        return gov_record_set_state(rec, "Failed", why);
    }
    bool drop = st.drop_open;
    rc = gov_stage_flush(&st);
    gov_stage_cleanup(&st);
    CS_TRY(rc);
    if (drop)
        CS_TRY(gov_drop_open(tx, id));
    cs_log_info(GOV_LOG, "proposal %.16s accepted and applied", id);
    return gov_record_set_state(rec, "Accepted", NULL);
}

/* Resolves an Open proposal after a change (creation, ballot) and applies
 * it when accepted. */
static consort_err settle(const node_gov_call *c, cs_kv_tx *tx, json_t *rec, const char *id)
{
    json_t *proposal = json_object_get(rec, "proposal");
    const char *proposer = json_string_value(json_object_get(rec, "proposer_id"));
    json_t *ballots = json_object_get(rec, "ballots");
    CS_ENSURE(json_is_object(proposal) && proposer != NULL && json_is_array(ballots),
              CONSORT_E_CORRUPT, "proposal %s: malformed record", id);
    char *text = json_dumps(proposal, JSON_COMPACT | JSON_SORT_KEYS);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "proposal");
    gov_id_list members = {0};
    cs_constitution_vote *votes = NULL;
    const char **member_ids = NULL;
    cs_constitution *con = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, gov_list_ids(tx, SVC_MAP_MEMBERS, &members), out);
    size_t nvotes = json_array_size(ballots);
    votes = cs_calloc(nvotes + 1, sizeof *votes);
    member_ids = cs_calloc(members.count + 1, sizeof *member_ids);
    if (votes == NULL || member_ids == NULL) {
        rc = cs_fail(CONSORT_E_NOMEM, "ballots");
        goto out;
    }
    for (size_t i = 0; i < nvotes; i++) {
        json_t *b = json_array_get(ballots, i);
        votes[i].member_id = json_string_value(json_object_get(b, "member_id"));
        votes[i].approve = json_is_true(json_object_get(b, "vote"));
        if (votes[i].member_id == NULL) {
            rc = cs_fail(CONSORT_E_CORRUPT, "proposal %s: malformed ballot", id);
            goto out;
        }
    }
    for (size_t i = 0; i < members.count; i++)
        member_ids[i] = members.ids[i];
    rc = load_constitution(tx, &con);
    cs_constitution_outcome outcome = CS_CONSTITUTION_OPEN;
    if (rc == CONSORT_OK)
        rc = cs_constitution_resolve(con, text, proposer, votes, nvotes, member_ids, members.count,
                                     &outcome);
    if (rc != CONSORT_OK) { /* the script failed: the proposal cannot be decided */
        char why[NODE_GOV_MESSAGE_MAX];
        snprintf(why, sizeof why, "resolve: %s", consort_errmsg());
        cs_err_clear();
        rc = gov_record_set_state(rec, "Failed", why);
    } else if (outcome == CS_CONSTITUTION_ACCEPTED) {
        rc = apply(c, tx, con, rec, text, id);
    } else if (outcome == CS_CONSTITUTION_REJECTED) {
        rc = gov_record_set_state(rec, "Rejected", NULL);
    }
out:
    cs_constitution_free(con);
    cs_free(votes);
    cs_free(member_ids);
    cs_free(members.ids);
    free(text);
    return rc;
}

/* ---- the three requests ---- */

static consort_err propose(node_gov_call *c, cs_kv_tx *tx, const cs_gov_request *req,
                           const char *member)
{
    json_error_t jerr;
    json_t *proposal =
        json_loadb((const char *)req->payload.ptr, req->payload.len, JSON_REJECT_DUPLICATES, &jerr);
    if (proposal == NULL)
        return refuse(c, NODE_GOV_MALFORMED, "the proposal is not JSON: %s (line %d)", jerr.text,
                      jerr.line);
    consort_err rc = CONSORT_OK;
    json_t *rec = NULL;
    char *text = NULL;
    cs_constitution *con = NULL;
    if (!json_is_object(proposal) || !json_is_array(json_object_get(proposal, "actions"))) {
        rc = refuse(c, NODE_GOV_MALFORMED,
                    "a proposal is a JSON object {\"actions\": [{\"name\": ..., \"args\": "
                    "{...}}, ...]}");
        goto out;
    }
    text = json_dumps(proposal, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = cs_fail(CONSORT_E_NOMEM, "proposal");
        goto out;
    }
    CS_TRY_GOTO(rc, load_constitution(tx, &con), out);
    rc = cs_constitution_validate(con, text);
    if (rc == CONSORT_OK) /* a code id the certificate policy would refuse: refused now */
        rc = gov_codecert_precheck(tx, proposal);
    if (rc != CONSORT_OK) { /* the script refused, or broke its limits */
        rc = refuse(c, NODE_GOV_INVALID, "%s", consort_errmsg());
        goto out;
    }
    uint64_t seqno = cs_kv_tx_store_seqno(tx) + 1;
    cs_gov_proposal_id(seqno, req->cose.signature, c->proposal_id);
    rec = json_pack("{s:s, s:O, s:s, s:I, s:[]}", "proposer_id", member, "proposal", proposal,
                    "state", "Open", "seqno", (json_int_t)seqno, "ballots");
    if (rec == NULL) {
        rc = cs_fail(CONSORT_E_NOMEM, "proposal record");
        goto out;
    }
    CS_TRY_GOTO(rc, settle(c, tx, rec, c->proposal_id), out);
    CS_TRY_GOTO(rc, gov_record_put(tx, c->proposal_id, rec), out);
    snprintf(c->state, sizeof c->state, "%s", gov_record_state(rec));
    const char *failure = json_string_value(json_object_get(rec, "failure"));
    if (failure != NULL)
        snprintf(c->message, sizeof c->message, "%s", failure);
out:
    cs_constitution_free(con);
    free(text);
    json_decref(rec);
    json_decref(proposal);
    return rc;
}

/* The open proposal a ballot or withdrawal names (NULL after a refusal). */
static consort_err open_record(node_gov_call *c, cs_kv_tx *tx, const cs_gov_request *req,
                               json_t **out)
{
    *out = NULL;
    snprintf(c->proposal_id, sizeof c->proposal_id, "%s", req->proposal_id);
    json_t *rec;
    CS_TRY(gov_record_get(tx, req->proposal_id, &rec));
    if (rec == NULL)
        return refuse(c, NODE_GOV_NOT_FOUND, "no proposal %s", req->proposal_id);
    if (strcmp(gov_record_state(rec), "Open") != 0) {
        consort_err rc = refuse(c, NODE_GOV_NOT_OPEN, "proposal %s is %s, not Open",
                                req->proposal_id, gov_record_state(rec));
        json_decref(rec);
        return rc;
    }
    *out = rec;
    return CONSORT_OK;
}

static consort_err ballot(node_gov_call *c, cs_kv_tx *tx, const cs_gov_request *req,
                          const char *member)
{
    json_t *b =
        json_loadb((const char *)req->payload.ptr, req->payload.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *vote = json_object_get(b, "vote");
    if (!json_is_object(b) || json_object_size(b) != 1 || !json_is_boolean(vote)) {
        json_decref(b);
        return refuse(c, NODE_GOV_MALFORMED, "a ballot is {\"vote\": true} or {\"vote\": false}");
    }
    bool approve = json_is_true(vote);
    json_decref(b);
    json_t *rec;
    CS_TRY(open_record(c, tx, req, &rec));
    if (rec == NULL)
        return CONSORT_OK;
    consort_err rc = CONSORT_OK;
    json_t *ballots = json_object_get(rec, "ballots");
    bool replaced = false;
    for (size_t i = 0; i < json_array_size(ballots) && !replaced; i++) {
        json_t *old = json_array_get(ballots, i);
        const char *who = json_string_value(json_object_get(old, "member_id"));
        if (who != NULL && strcmp(who, member) == 0) {
            replaced = json_object_set_new(old, "vote", json_boolean(approve)) == 0;
            if (!replaced)
                rc = cs_fail(CONSORT_E_NOMEM, "ballot");
        }
    }
    if (rc == CONSORT_OK && !replaced &&
        json_array_append_new(ballots,
                              json_pack("{s:s, s:b}", "member_id", member, "vote", approve)) != 0)
        rc = cs_fail(CONSORT_E_NOMEM, "ballot");
    if (rc == CONSORT_OK)
        rc = settle(c, tx, rec, c->proposal_id);
    if (rc == CONSORT_OK)
        rc = gov_record_put(tx, c->proposal_id, rec);
    if (rc == CONSORT_OK) {
        snprintf(c->state, sizeof c->state, "%s", gov_record_state(rec));
        const char *failure = json_string_value(json_object_get(rec, "failure"));
        if (failure != NULL)
            snprintf(c->message, sizeof c->message, "%s", failure);
    }
    json_decref(rec);
    return rc;
}

static consort_err withdraw(node_gov_call *c, cs_kv_tx *tx, const cs_gov_request *req,
                            const char *member)
{
    if (req->payload.len != 0)
        return refuse(c, NODE_GOV_MALFORMED, "a withdrawal has an empty payload");
    json_t *rec;
    CS_TRY(open_record(c, tx, req, &rec));
    if (rec == NULL)
        return CONSORT_OK;
    consort_err rc;
    const char *proposer = json_string_value(json_object_get(rec, "proposer_id"));
    if (proposer == NULL || strcmp(proposer, member) != 0) {
        rc = refuse(c, NODE_GOV_NOT_PROPOSER, "only the proposer (%.16s...) may withdraw %s",
                    proposer != NULL ? proposer : "?", c->proposal_id);
    } else {
        rc = gov_record_set_state(rec, "Withdrawn", NULL);
        if (rc == CONSORT_OK)
            rc = gov_record_put(tx, c->proposal_id, rec);
        snprintf(c->state, sizeof c->state, "Withdrawn");
    }
    json_decref(rec);
    return rc;
}

/* ---- a request ---- */

/* Authenticates the request; CONSORT_OK with c->refusal set if refused. */
static consort_err authenticate(node_gov_call *c, cs_kv_tx *tx, const cs_gov_request *req,
                                char member[CS_GOV_ID_HEX_LEN + 1])
{
    uint64_t window;
    CS_TRY(svc_setting(tx, SVC_SETTING_WINDOW, SVC_DEFAULT_WINDOW_S, &window));
    consort_err rc = cs_gov_request_verify(req, svc_member_lookup, tx, c->now, window, member);
    switch (rc) {
    case CONSORT_OK:
        break;
    case CONSORT_E_NOT_FOUND:
    case CONSORT_E_POLICY:
        return refuse(c, NODE_GOV_NOT_MEMBER, "%s", consort_errmsg());
    case CONSORT_E_BAD_SIGNATURE:
    case CONSORT_E_BAD_CERTIFICATE:
        return refuse(c, NODE_GOV_BAD_SIGNATURE, "%s", consort_errmsg());
    case CONSORT_E_EXPIRED:
        return refuse(c, NODE_GOV_STALE, "%s", consort_errmsg());
    case CONSORT_E_MALFORMED:
        return refuse(c, NODE_GOV_MALFORMED, "%s", consort_errmsg());
    default:
        return rc;
    }
    uint8_t digest[CS_SHA256_LEN];
    CS_TRY(cs_gov_request_digest(req, digest));
    rc = cs_gov_replay_record(tx, digest, req->created_at, c->now, window);
    if (rc == CONSORT_E_POLICY)
        return refuse(c, NODE_GOV_REPLAYED, "%s", consort_errmsg());
    if (rc == CONSORT_E_EXPIRED)
        return refuse(c, NODE_GOV_STALE, "%s", consort_errmsg());
    return rc;
}

consort_err node_gov_execute(node_gov_call *c, cs_kv_tx *tx)
{
    c->refusal = NODE_GOV_OK;
    c->message[0] = c->proposal_id[0] = c->state[0] = '\0';
    cs_gov_request req;
    consort_err rc = cs_gov_request_decode(c->body, &req);
    if (rc != CONSORT_OK)
        return refuse(c, rc == CONSORT_E_TOO_LARGE ? NODE_GOV_TOO_LARGE : NODE_GOV_MALFORMED,
                      "not a governance request: %s", consort_errmsg());
    if (req.type != c->expect)
        return refuse(c, NODE_GOV_MALFORMED, "this endpoint takes a signed %s, not a %s",
                      cs_gov_msg_type_name(c->expect), cs_gov_msg_type_name(req.type));
    if (c->path_id != NULL && strcmp(req.proposal_id, c->path_id) != 0)
        return refuse(c, NODE_GOV_ID_MISMATCH,
                      "the request was signed for proposal %s, not %s (the path)", req.proposal_id,
                      c->path_id);
    char member[CS_GOV_ID_HEX_LEN + 1];
    CS_TRY(authenticate(c, tx, &req, member));
    if (c->refusal != NODE_GOV_OK)
        return CONSORT_OK;
    switch (req.type) {
    case CS_GOV_MSG_PROPOSAL:
        return propose(c, tx, &req, member);
    case CS_GOV_MSG_BALLOT:
        return ballot(c, tx, &req, member);
    case CS_GOV_MSG_WITHDRAWAL:
        return withdraw(c, tx, &req, member);
    case CS_GOV_MSG_RECOVERY_SHARE:
        break;
    }
    return refuse(c, NODE_GOV_MALFORMED, "%s requests are not taken here",
                  cs_gov_msg_type_name(req.type));
}
