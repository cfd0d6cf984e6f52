/*
 * Fuzz target: governance request bodies through the node's real path
 * (src/node/gov_exec.c, gov_actions.c, gov_args.c, gov_stage.c,
 * gov_record.c, gov_docs.c, with the default constitution): a session of
 * proposals, ballots and withdrawals whose JSON payloads come from the
 * input, each signed by the harness for one of three members (or an
 * outsider) so that it passes the COSE layer (fuzz_gov_request covers the
 * envelope) and reaches the JSON: proposal parsing, validation by the
 * constitution, the proposal record, resolution by ballots, and every
 * action's arguments applied to the service maps.
 *
 * The store starts as genesis leaves it (three members, the default
 * constitution, one code id, status Opening). Input: a sequence of
 * requests, each
 *   byte 0   bits 0-1 the signer (member 0-2, 3 the outsider),
 *            bits 2-3 the type (0, 3: proposal, 1: ballot, 2: withdrawal),
 *            bit 4    the path names another proposal than the body,
 *            bits 5-7 which earlier proposal of the session a ballot or
 *                     withdrawal names
 *   byte 1-2 payload length (big-endian), then the payload.
 * Each request runs in its own transaction, committed unless refused.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": a request is
 * either refused (with a message) or recorded: a recorded proposal has an
 * id and a known state, and GET /gov/proposals/<id> finds it; the
 * documents GET /gov serves can be built after every request.
 */
#include "gov/constitution.h"
#include "node/gov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW         INT64_C(1800000000)
#define SIGNERS     4 /* three members and an outsider */
#define MAX_PROPS   8
#define MAX_REQS    16
#define CODE_ID_HEX "aa00000000000000000000000000000000000000000000000000000000000000"

typedef struct signer {
    cs_key *key;
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
} signer;

static const signer *signers(void)
{
    static signer s[SIGNERS];
    static bool ready;
    if (ready)
        return s;
    for (int i = 0; i < SIGNERS; i++) {
        char cn[16];
        snprintf(cn, sizeof cn, "member%d", i);
        cs_x509_params p = {.subject_cn = cn, .not_before = NOW - 86400, .not_after = NOW + 86400};
        if (cs_key_generate(CS_CURVE_P256, &s[i].key) != CONSORT_OK ||
            cs_x509_create(&p, s[i].key, s[i].key, NULL, &s[i].cert) != CONSORT_OK ||
            cs_gov_member_id(s[i].cert, s[i].id) != CONSORT_OK)
            abort();
    }
    ready = true;
    return s;
}

static void put(cs_kv_tx *tx, const char *map, const char *key, cs_slice value)
{
    if (cs_kv_put(tx, cs_slice_str(map), cs_slice_str(key), value) != CONSORT_OK)
        abort();
}

static void commit(cs_kv_store *store, cs_kv_tx *tx)
{
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    if (cs_kv_tx_commit(tx, cs_kv_last_seqno(store) + 1, &pub, &priv) != CONSORT_OK)
        abort();
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
}

/* The maps genesis writes. */
static cs_kv_store *genesis(void)
{
    const signer *s = signers();
    cs_kv_store *store;
    cs_kv_tx *tx;
    if (cs_kv_store_new(NULL, &store) != CONSORT_OK || cs_kv_tx_begin(store, &tx) != CONSORT_OK)
        abort();
    for (int i = 0; i < SIGNERS - 1; i++) {
        cs_buf der;
        cs_buf_init(&der, 0);
        if (cs_x509_to_der(s[i].cert, &der) != CONSORT_OK)
            abort();
        put(tx, SVC_MAP_MEMBERS, s[i].id, cs_buf_slice(&der));
        cs_buf_cleanup(&der);
    }
    size_t len;
    const char *script = cs_constitution_default_script(&len);
    put(tx, SVC_MAP_CONSTITUTION, SVC_CONSTITUTION_KEY, CS_SLICE(script, len));
    put(tx, SVC_MAP_SERVICE, SVC_STATUS_KEY, CS_SLICE_LIT(SVC_STATUS_OPENING));
    put(tx, SVC_MAP_CODE_IDS, CODE_ID_HEX, CS_SLICE_LIT(SVC_CODE_ID_OK));
    commit(store, tx);
    cs_kv_tx_free(tx);
    return store;
}

static bool known_state(const char *s)
{
    static const char *const states[] = {"Open",      "Accepted", "Rejected",
                                         "Withdrawn", "Failed",   "Dropped"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (strcmp(s, states[i]) == 0)
            return true;
    return false;
}

/* The documents GET /gov serves. */
static void documents(cs_kv_store *store, const char *id)
{
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(store, &tx) != CONSORT_OK)
        abort();
    cs_buf out;
    cs_buf_init(&out, 0);
    if (node_gov_proposals_json(tx, &out) != CONSORT_OK)
        abort();
    cs_buf_reset(&out);
    if (node_gov_service_json(tx, &out) != CONSORT_OK)
        abort();
    cs_buf_reset(&out);
    if (id != NULL && node_gov_proposal_json(tx, id, &out) != CONSORT_OK)
        abort(); /* a recorded proposal is found */
    (void)node_gov_service_open(tx);
    cs_buf_cleanup(&out);
    cs_kv_tx_free(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const signer *s = signers();
    cs_kv_store *store = genesis();
    char props[MAX_PROPS][CS_GOV_ID_HEX_LEN + 1];
    size_t nprops = 0;
    uint64_t created = (uint64_t)NOW - 100;
    size_t at = 0;
    for (int n = 0; n < MAX_REQS && size - at >= 3; n++) {
        uint8_t ctl = data[at];
        size_t len = (size_t)data[at + 1] << 8 | data[at + 2];
        at += 3;
        if (len > size - at)
            len = size - at;
        cs_slice payload = CS_SLICE(data + at, len);
        at += len;

        const signer *by = &s[ctl & 3];
        static const cs_gov_msg_type types[] = {CS_GOV_MSG_PROPOSAL, CS_GOV_MSG_BALLOT,
                                                CS_GOV_MSG_WITHDRAWAL, CS_GOV_MSG_PROPOSAL};
        cs_gov_msg_type type = types[(ctl >> 2) & 3];
        const char *named = NULL;
        if (type != CS_GOV_MSG_PROPOSAL)
            named = nprops > 0 ? props[(ctl >> 5) % nprops] : CODE_ID_HEX;
        const char *path = named;
        if (named != NULL && (ctl & 0x10))
            path = nprops > 1 ? props[((ctl >> 5) + 1) % nprops] : CODE_ID_HEX;

        cs_buf body;
        cs_buf_init(&body, 0);
        if (cs_gov_request_sign(by->key, by->cert, type, created++, named, payload, &body) !=
            CONSORT_OK) {
            cs_buf_cleanup(&body); /* too large, say */
            continue;
        }
        node_gov_call c = {.body = cs_buf_slice(&body),
                           .expect = type,
                           .path_id = path,
                           .now = NOW,
                           .shares = NULL};
        cs_kv_tx *tx;
        if (cs_kv_tx_begin(store, &tx) != CONSORT_OK)
            abort();
        consort_err rc = node_gov_execute(&c, tx);
        bool recorded = rc == CONSORT_OK && c.refusal == NODE_GOV_OK;
        if (rc == CONSORT_OK && c.refusal != NODE_GOV_OK && c.message[0] == '\0')
            abort();                        /* a refusal says why */
        if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what each request did */
            fprintf(stderr, "request %d: type %d refusal %d state %s message %s\n", n, (int)type,
                    (int)c.refusal, c.state, c.message);
        if (recorded)
            commit(store, tx);
        cs_kv_tx_free(tx);
        cs_buf_cleanup(&body);
        if (recorded && type == CS_GOV_MSG_PROPOSAL) {
            if (strlen(c.proposal_id) != CS_GOV_ID_HEX_LEN || !known_state(c.state))
                abort();
            if (nprops < MAX_PROPS)
                memcpy(props[nprops++], c.proposal_id, sizeof props[0]);
        }
        documents(store, recorded && type == CS_GOV_MSG_PROPOSAL ? c.proposal_id : NULL);
    }
    cs_kv_store_free(store);
    return 0;
}
