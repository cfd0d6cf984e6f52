/*
 * The service's own maps in its replicated store (docs/security.md "Policy
 * lives in the store"): what they hold and how to read them. Pure functions
 * over a cs_kv_store or a transaction; nothing else in the node parses them.
 *
 *   public:consort.nodes          node id (16 hex) -> node record (below)
 *   public:consort.code_ids       code id (64 hex) -> "AllowedToJoin" |
 *                                 "Retired"
 *   public:consort.trust_anchors  hex SHA-256 of the DER -> DER: platform
 *                                 certificates / TPM AK CAs peers' evidence
 *                                 must chain to
 *   public:consort.policy         "allow_debug_evidence" -> "true" | "false"
 *   public:consort.users          hex SHA-256 of the certificate -> DER
 *   public:consort.members        hex SHA-256 of the certificate -> DER
 *   public:consort.service        "cert" -> the service certificate DER,
 *                                 "status" -> "Opening" | "Open"
 *   public:consort.gov.*, public:consort.members.encryption_keys: the
 *                                 governance maps (gov.h)
 *
 * Node record: CBOR map, text keys in this order:
 *   {"raft_id": uint, "node_address": tstr, "rpc_address": tstr,
 *    "cert": bstr (node certificate DER), "code_id": bstr 32,
 *    "status": tstr ("Trusted"), "evidence": bstr (evidence envelope
 *    binding the node key, empty nonce)}
 * Decoding is strict: records are read back from the store, whose contents
 * a faulty leader could have written.
 */
#ifndef CS_NODE_SERVICE_MAPS_H
#define CS_NODE_SERVICE_MAPS_H

#include "attest/evidence.h"
#include "node/node.h"
#include "store/ledger.h"

#define SVC_MAP_NODES       "public:consort.nodes"
#define SVC_MAP_CODE_IDS    "public:consort.code_ids"
#define SVC_MAP_ANCHORS     "public:consort.trust_anchors"
#define SVC_MAP_POLICY      "public:consort.policy"
#define SVC_MAP_USERS       "public:consort.users"
#define SVC_MAP_MEMBERS     "public:consort.members"
#define SVC_MAP_SERVICE     "public:consort.service"
#define SVC_SERVICE_KEY     "cert"
#define SVC_STATUS_KEY      "status" /* "Opening" | "Open" (service map) */
#define SVC_STATUS_OPENING  "Opening"
#define SVC_STATUS_OPEN     "Open"
#define SVC_CODE_ID_RETIRED "Retired"
/* Governance (docs/governance.md, docs/formats.md "Governance maps"). */
#define SVC_MAP_MEMBER_KEYS   "public:consort.members.encryption_keys" /* member id -> PEM */
#define SVC_MAP_CONSTITUTION  "public:consort.gov.constitution"        /* "script" -> Lua */
#define SVC_CONSTITUTION_KEY  "script"
#define SVC_MAP_SETTINGS      "public:consort.gov.settings" /* name -> decimal text */
#define SVC_SETTING_WINDOW    "request_window_s"
#define SVC_SETTING_THRESHOLD "recovery_threshold"
#define SVC_MAP_PROPOSALS     "public:consort.gov.proposals" /* proposal id -> JSON record */
#define SVC_MAP_UPDATE        "public:consort.gov.update"    /* successor code id -> JSON policy */
#define SVC_DEFAULT_WINDOW_S  300
/* Code certificates (docs/code-certificates.md "Governance"): the policy add_code_id
 * must meet, and every certificate governance accepted (the transparency log). */
#define SVC_MAP_CODE_CERT_POLICY "public:consort.gov.code_certificate_policy" /* "policy" */
#define SVC_CODE_CERT_POLICY_KEY "policy"
#define SVC_MAP_CODE_CERTS       "public:consort.code_certificates" /* code id -> JSON */
/* Outbound calls (gov_egress.c): egress service name -> {"address", "service_certificate"}. */
#define SVC_MAP_EGRESS "public:consort.egress"
#define SVC_CODE_ID_OK           "AllowedToJoin"
#define SVC_DEBUG_KEY            "allow_debug_evidence"

typedef struct node_record {
    uint64_t raft_id;
    char node_address[CS_NODE_ADDR_MAX];
    char rpc_address[CS_NODE_ADDR_MAX];
    char status[32];
    cs_buf cert; /* DER */
    uint8_t code_id[32];
    cs_buf evidence; /* envelope */
} node_record;

void node_record_init(node_record *r);
void node_record_cleanup(node_record *r);
CS_MUST_CHECK consort_err node_record_encode(const node_record *r, cs_buf *out);
CS_MUST_CHECK consort_err node_record_decode(cs_slice in, node_record *r);

/* The record of `node_id` in `kv`'s current state; NOT_FOUND if absent. */
CS_MUST_CHECK consort_err svc_record_get(cs_kv_store *kv, const char *node_id, node_record *r);
/* Writes `r` as the record of `node_id`. */
CS_MUST_CHECK consort_err svc_record_put(cs_kv_tx *tx, const char *node_id, const node_record *r);
/* Sets the status of node `node_id`'s record in `tx` (NOT_FOUND if none). */
CS_MUST_CHECK consort_err svc_record_set_status(cs_kv_tx *tx, const char *node_id,
                                                const char *status);
/* Calls `fn` for every node record in id order (stop by returning false).
 * Records that do not decode are passed as NULL. */
typedef bool (*svc_record_fn)(void *ctx, const char *node_id, const node_record *r);
CS_MUST_CHECK consort_err svc_records_each(cs_kv_store *kv, svc_record_fn fn, void *ctx);
/* How many node records `kv` holds. */
CS_MUST_CHECK consort_err svc_records_count(cs_kv_store *kv, size_t *count);

/* The policy maps of `kv` (node.h docs): code ids, anchors, the debug switch. */
typedef struct svc_policy {
    uint8_t (*code_ids)[32]; /* owned */
    size_t code_id_count;
    cs_blob_list anchors;
    bool has_allow_debug;
    bool allow_debug;
} svc_policy;
void svc_policy_init(svc_policy *p);
void svc_policy_cleanup(svc_policy *p);
CS_MUST_CHECK consort_err svc_policy_read(cs_kv_store *kv, svc_policy *out);

/* Is the certificate with this SHA-256 (DER) fingerprint in `map` (users or
 * members) of the committed state? */
bool svc_cert_registered(cs_kv_store *kv, const char *map, const uint8_t fp[32]);

/* Is the service open to users in `kv`'s current state? */
bool svc_service_open(cs_kv_store *kv);

/* A decimal setting of SVC_MAP_SETTINGS in `tx`, `def` if absent; CORRUPT
 * if it is not a decimal number. */
CS_MUST_CHECK consort_err svc_setting(cs_kv_tx *tx, const char *name, uint64_t def, uint64_t *out);
/* A member's certificate by member id, from the cs_kv_tx `ctx`
 * (gov/request.h cs_gov_member_lookup_cb): NOT_FOUND for no member. */
CS_MUST_CHECK consort_err svc_member_lookup(void *ctx, const char *member_id, cs_x509 **cert);

/* Writes `value` under the hex SHA-256 of itself in `map`. */
CS_MUST_CHECK consort_err svc_put_by_digest(cs_kv_tx *tx, const char *map, cs_slice value);
/* Writes a trusted code id. */
CS_MUST_CHECK consort_err svc_put_code_id(cs_kv_tx *tx, const uint8_t code_id[32]);

#endif
