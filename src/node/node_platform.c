/*
 * The node's attestation platform: its attester (evidence binding a key and
 * a nonce, DESIGN.md "Platforms"), the options used to verify peers, and
 * the policy peers must satisfy.
 *
 * Once the service exists, every security decision about peers comes from
 * its replicated store, never from a host file (docs/security.md): trusted
 * code ids (public:consort.code_ids), trust anchors
 * (public:consort.trust_anchors) and whether debug evidence passes
 * (public:consort.policy). The files below are read at every start, but
 * they only decide (1) what a new service starts with (node_genesis.c
 * seals them at its first start) and (2) which service a joining node is
 * willing to join, until its store holds the service's policy.
 *
 * Virtual platform anchors in files: the node's own platform certificate
 * plus every certificate file in <platform_dir>/anchors/ (docs/operating.md).
 * TPM platform (node_tpm.c): a TPM quote; the anchor is the AK CA
 * certificate (tpm_ak_ca_cert).
 */
#include "node/node_priv.h"
#include "node/node_tpm.h"

#include "base/file.h"
#include "base/log.h"

#include <string.h>

static consort_err open_virtual(cs_node *n)
{
    CS_TRY_CTX(cs_virtual_platform_open(n->cfg.platform_dir, &n->vplat), "virtual platform %s",
               n->cfg.platform_dir);
    cs_log_warn(NODE_LOG, "virtual platform %s: INSECURE, for development only",
                n->cfg.platform_dir);
    CS_TRY(cs_blob_list_add(&n->anchors, cs_virtual_platform_cert_der(n->vplat)));
    char dir[CS_NODE_PATH_MAX + 16];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.platform_dir, "anchors"));
    if (cs_file_exists(dir))
        CS_TRY_CTX(cs_blob_list_add_dir(&n->anchors, dir), "platform anchors %s", dir);
    return CONSORT_OK;
}

consort_err node_platform_open(cs_node *n)
{
    CS_ENSURE(n->cfg.platform == CS_PLATFORM_VIRTUAL || n->cfg.platform == CS_PLATFORM_TPM,
              CONSORT_E_UNSUPPORTED, "platform %s: the node runs on \"virtual\" or \"tpm\"",
              cs_platform_name(n->cfg.platform));
    if (n->cfg.platform == CS_PLATFORM_TPM)
        CS_TRY(node_tpm_open(n)); /* anchors: the AK CA certificate */
    else
        CS_TRY(open_virtual(n));
    n->verify_opts = (cs_verify_opts){.now = 0, .anchors = &n->anchors, .cache = NULL};

    cs_policy_init(&n->join_policy);
    for (size_t i = 0; i < CS_PLATFORM_COUNT; i++)
        n->join_policy.platforms[i] = (cs_platform)i == n->cfg.platform;
    n->join_policy.allow_debug = n->cfg.allow_debug;
    n->policy = n->join_policy;
    node_platform_refresh_policy(n);

    cs_buf_reset(&n->own_evidence);
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc = node_platform_attest(n, n->node_key, CS_SLICE_EMPTY, &ev);
    if (rc == CONSORT_OK)
        rc = cs_evidence_encode(&ev, &n->own_evidence);
    cs_evidence_cleanup(&ev);
    return rc;
}

void node_platform_close(cs_node *n)
{
    cs_virtual_platform_free(n->vplat);
    n->vplat = NULL;
    node_tpm_close(n);
    cs_blob_list_cleanup(&n->anchors);
    cs_blob_list_init(&n->anchors);
}

consort_err node_platform_attest(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    cs_node *n = ctx;
    CS_TRY(node_code_check(n)); /* no evidence for code the code id does not cover */
    if (n->cfg.platform == CS_PLATFORM_TPM)
        return node_tpm_attest(n, key, nonce, out);
    uint8_t rd[64];
    CS_TRY(cs_report_data_bind(key, nonce, rd));
    return cs_virtual_attest(n->vplat, n->code_id, 0, false, rd, out);
}

typedef struct policy_ctx {
    cs_policy *p;
    cs_blob_list *anchors;
    consort_err rc;
} policy_ctx;

static bool add_code_id(void *ctx, cs_slice key, cs_slice value)
{
    policy_ctx *pc = ctx;
    uint8_t id[32];
    char hex[65];
    if (key.len != 64 || !cs_slice_eq(value, CS_SLICE_LIT("AllowedToJoin")))
        return true;
    memcpy(hex, key.ptr, 64);
    hex[64] = '\0';
    if (cs_hex_decode(hex, id, sizeof id) == CONSORT_OK)
        pc->rc = cs_policy_add_code_id(pc->p, id);
    return pc->rc == CONSORT_OK;
}

static bool add_anchor(void *ctx, cs_slice key, cs_slice value)
{
    policy_ctx *pc = ctx;
    (void)key;
    pc->rc = cs_blob_list_add(pc->anchors, value);
    return pc->rc == CONSORT_OK;
}

/* The store's policy, read in one transaction. */
static consort_err read_policy(cs_node *n, cs_policy *p, cs_blob_list *anchors, bool *debug_set)
{
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(n->kv, &tx));
    policy_ctx pc = {.p = p, .anchors = anchors, .rc = CONSORT_OK};
    consort_err rc = cs_kv_foreach(tx, CS_SLICE_LIT(NODE_MAP_CODE_IDS), add_code_id, &pc);
    if (rc == CONSORT_OK)
        rc = pc.rc;
    if (rc == CONSORT_OK)
        rc = cs_kv_foreach(tx, CS_SLICE_LIT(NODE_MAP_ANCHORS), add_anchor, &pc);
    if (rc == CONSORT_OK)
        rc = pc.rc;
    cs_slice v;
    bool found = false;
    if (rc == CONSORT_OK)
        rc = cs_kv_get(tx, CS_SLICE_LIT(NODE_MAP_POLICY), CS_SLICE_LIT("allow_debug_evidence"), &v,
                       &found);
    *debug_set = found;
    if (rc == CONSORT_OK && found)
        p->allow_debug = cs_slice_eq(v, CS_SLICE_LIT("true"));
    cs_kv_tx_free(tx);
    return rc;
}

void node_platform_refresh_policy(cs_node *n)
{
    if (n->kv == NULL)
        return;
    cs_policy p = n->join_policy;
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    bool debug_set = false;
    consort_err rc = read_policy(n, &p, &anchors, &debug_set);
    if (rc == CONSORT_OK && p.code_id_count == 0 && n->genesis.len > 0)
        rc = cs_policy_add_code_id(&p, n->code_id); /* before genesis: ourselves only */
    if (rc != CONSORT_OK) {
        cs_log_error(NODE_LOG, "node %s: the service's policy was not updated: %s", n->node_id,
                     consort_errmsg());
        cs_blob_list_cleanup(&anchors);
        return;
    }
    /* With no list yet (a joiner before it caught up) the join policy and
     * the file anchors apply; raft peers must then still present a
     * service-issued certificate (node_net.c). */
    if (anchors.count > 0) {
        cs_blob_list_cleanup(&n->anchors);
        n->anchors = anchors;
    } else {
        cs_blob_list_cleanup(&anchors);
    }
    if (!debug_set)
        p.allow_debug = n->join_policy.allow_debug;
    n->policy = p;
}
