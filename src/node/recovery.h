/*
 * Recovery: what a node recovering a lost service holds while it waits for
 * the members' shares (docs/recovery.md "Recovering a service"). It reads
 * a copy of the previous service's ledger without the ledger secret:
 *
 *   - the public state is restored from the entries' public write sets up
 *     to the last signature entry (the recovery point; entries after it
 *     are covered by no signature and are left out);
 *   - the identities the ledger is signed under are found: the pinned
 *     previous service certificate and, back from it, those its succession
 *     records name (store/succession.h), each record verified;
 *   - the applied entries are authenticated by the last signature entry
 *     (the root of the entries before it, signed by a node of the previous
 *     identity), and the whole ledger is audited as `consort ledger verify`
 *     does (every signature entry, terms, chunk structure);
 *   - the recovery shares and their wrapping are read from the public
 *     state.
 *
 * Then it takes the members' signed recovery_share requests, checks each
 * share (the right service, epoch and member, exactly the header of the
 * share issued to that member), keeps them in memory only (wiped when
 * freed; never written anywhere) and, once `threshold` of them are in,
 * rebuilds the ledger secret (gov/shares.h cs_gov_shares_combine, which
 * verifies it against the shares' check). The private state is restored
 * by the node (node_recover.c) with the normal ledger recovery
 * (replica.h), which authenticates every entry with that secret.
 *
 * It knows nothing of raft, the network or the rest of the node.
 * Threading: the loop thread.
 */
#ifndef CS_NODE_RECOVERY_H
#define CS_NODE_RECOVERY_H

#include "node/gov.h"
#include "node/replica.h"

typedef struct node_recovery node_recovery;

typedef struct node_recovery_opts {
    const char *ledger_dir;       /* the previous service's ledger (read only) */
    const cs_x509 *previous_cert; /* the pinned previous identity (borrowed, outlives) */
    const char *node_id;          /* for log lines */
    int64_t now;                  /* for certificate validity */
} node_recovery_opts;

/*
 * Reads and checks the previous ledger as above. Errors name what was
 * wrong: the ledger's own (CORRUPT, naming file, offset and seqno),
 * NOT_FOUND (no entries), POLICY (no signature entry; no recovery shares
 * were issued: no member had an encryption key), BAD_PROOF (the last
 * signature entry does not sign the entries before it), BAD_CERTIFICATE /
 * BAD_SIGNATURE (not signed under the previous identity or its chain).
 */
CS_MUST_CHECK consort_err node_recovery_open(const node_recovery_opts *o, node_recovery **out);
/* Wipes the submitted shares and frees everything; NULL is a no-op. */
void node_recovery_free(node_recovery *r);

/* The public state as of the recovery point (read it through committed views). */
cs_kv_store *node_recovery_kv(node_recovery *r);
/* The recovery point: the last signature entry of the previous ledger. */
cs_txid node_recovery_point(const node_recovery *r);
/* The highest term of any entry of the previous ledger, those after the
 * recovery point included: the recovered service's terms must be above
 * it, so that no transaction id it hands out names a lost entry. */
uint64_t node_recovery_max_term(const node_recovery *r);
/* The identities the previous ledger is signed under, oldest first, the
 * previous identity last with the recovery point's seqno, into
 * out[NODE_REPLICA_IDS_MAX] (borrowed, valid while `r` lives). */
size_t node_recovery_identities(const node_recovery *r, cs_ledger_identity *out);
/* The wrapping of the shares the members hold. */
const node_share_wrapping *node_recovery_wrapping(const node_recovery *r);

/* What became of a submitted share. */
typedef struct node_recovery_result {
    int status;       /* HTTP status: 200, or the refusal's */
    const char *code; /* the refusal's error code ("" when accepted) */
    char message[NODE_GOV_MESSAGE_MAX];
    char member_id[CS_GOV_ID_HEX_LEN + 1]; /* the submitter, once authenticated */
    unsigned submitted, threshold;         /* shares held, and needed */
    bool complete;                         /* the ledger secret was rebuilt */
} node_recovery_result;

/*
 * Takes one signed recovery_share request (gov/request.h; the payload is
 * the member's plain share, gov/shares.h cs_gov_share_encode) created at
 * most the recovered request window from `now`. A refusal (res->status
 * not 200) changes nothing, except when the threshold-th share does not
 * combine into a secret its check accepts: then every share is discarded
 * (400 RecoveryFailed: each member must submit again). When the threshold
 * is reached the rebuilt secret is copied to `secret` and res->complete
 * set. Errors (not refusals): NOMEM, CRYPTO.
 */
CS_MUST_CHECK consort_err node_recovery_submit(node_recovery *r, cs_slice body, int64_t now,
                                               node_recovery_result *res,
                                               uint8_t secret[CS_LEDGER_SECRET_LEN]);

/* {"recovery_point", "previous_service_certificate", "threshold",
 *  "epoch", "members_with_shares": [ids], "submitted": [ids]} */
CS_MUST_CHECK consort_err node_recovery_status_json(const node_recovery *r, cs_buf *out);

#endif
