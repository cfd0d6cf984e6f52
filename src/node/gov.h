/*
 * Governance in the node (docs/governance.md): executing a member's signed
 * request (a proposal, a ballot, a withdrawal) inside one write transaction,
 * the actions an accepted proposal applies, and the documents /gov serves.
 * Pure functions over a KV transaction: no I/O, no clock (the caller passes
 * `now`), nothing kept between calls. The rpc runs them through
 * cs_node_write (POST) and cs_node_read (GET); unit tests run them over a
 * bare store.
 *
 * Proposal record (SVC_MAP_PROPOSALS, JSON, keys sorted):
 *   {"proposer_id": hex, "proposal": {...}, "state": "Open" | "Accepted" |
 *    "Rejected" | "Withdrawn" | "Failed" | "Dropped", "seqno": n,
 *    "ballots": [{"member_id": hex, "vote": bool}], "failure": text
 *    (Failed only)}
 */
#ifndef CS_NODE_GOV_H
#define CS_NODE_GOV_H

#include "gov/request.h"
#include "net/attested.h"
#include "node/gov_shares.h"
#include "node/service_maps.h"

/* Why a request was refused (nothing written); each has its HTTP status
 * and error code (docs/governance.md "The governance API"). */
typedef enum node_gov_refusal {
    NODE_GOV_OK = 0,
    NODE_GOV_MALFORMED,
    NODE_GOV_BAD_SIGNATURE,
    NODE_GOV_NOT_MEMBER,
    NODE_GOV_STALE,
    NODE_GOV_REPLAYED,
    NODE_GOV_INVALID,
    NODE_GOV_ID_MISMATCH,
    NODE_GOV_NOT_FOUND,
    NODE_GOV_NOT_OPEN,
    NODE_GOV_NOT_PROPOSER,
    NODE_GOV_TOO_LARGE,
} node_gov_refusal;

/* The HTTP status and error code of a refusal. */
int node_gov_refusal_status(node_gov_refusal r);
const char *node_gov_refusal_code(node_gov_refusal r);

#define NODE_GOV_STATE_MAX   16
#define NODE_GOV_MESSAGE_MAX 512

/* One request: what the endpoint expects, and what happened. */
typedef struct node_gov_call {
    /* in */
    cs_slice body;          /* the COSE_Sign1 bytes */
    cs_gov_msg_type expect; /* proposal, ballot or withdrawal */
    const char *path_id;    /* ballots, withdrawals: the id in the path */
    int64_t now;            /* seconds since the epoch */
    /* what recovery shares are issued from when an accepted proposal changes
     * the members with keys or the threshold (gov_shares.h); NULL: such a
     * proposal fails (STATE), since its shares could not be issued */
    const node_share_keys *shares;
    /* out (reset by every run) */
    node_gov_refusal refusal;
    char message[NODE_GOV_MESSAGE_MAX]; /* the refusal, or the failure of an apply */
    char proposal_id[CS_GOV_ID_HEX_LEN + 1];
    char state[NODE_GOV_STATE_MAX];
} node_gov_call;

/*
 * Executes `c` in `tx`, which commits (if the caller commits it) at
 * cs_kv_tx_store_seqno(tx) + 1. A refusal is CONSORT_OK with c->refusal set
 * and c->message saying why: the caller must then discard the writes. An
 * error return is a failure of the node (NOMEM, CORRUPT state, BUSY).
 */
CS_MUST_CHECK consort_err node_gov_execute(node_gov_call *c, cs_kv_tx *tx);

/* ---- documents (GET), over a read transaction ---- */
/* {"proposals": [{"proposal_id", "proposer_id", "state", "ballot_count"}]} */
CS_MUST_CHECK consort_err node_gov_proposals_json(cs_kv_tx *tx, cs_buf *out);
/* The record of `id` with "proposal_id" added; NOT_FOUND if none. */
CS_MUST_CHECK consort_err node_gov_proposal_json(cs_kv_tx *tx, const char *id, cs_buf *out);
/* The service's governance state (docs/governance.md). */
CS_MUST_CHECK consort_err node_gov_service_json(cs_kv_tx *tx, cs_buf *out);
/* The constitution's script. */
CS_MUST_CHECK consort_err node_gov_constitution(cs_kv_tx *tx, cs_buf *out);

/* Is the service open to users (SVC_STATUS_OPEN)? */
bool node_gov_service_open(cs_kv_tx *tx);

#endif
