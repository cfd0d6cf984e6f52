/*
 * The platform (platform.h): the virtual platform, the sealing key, the
 * attester and the policy peers are checked against. platform_tpm.c has
 * the tpm platform.
 */
#include "node/platform_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/aead.h"

#include <stdio.h>
#include <string.h>

static consort_err open_virtual(node_platform *p)
{
    const char *dir = p->cfg->platform_dir;
    CS_TRY_CTX(cs_virtual_platform_open(dir, &p->vplat), "virtual platform %s", dir);
    cs_log_warn(PLATFORM_LOG, "virtual platform %s: INSECURE, for development only", dir);
    CS_TRY(cs_blob_list_add(&p->file_anchors, cs_virtual_platform_cert_der(p->vplat)));
    char anchors[CS_NODE_PATH_MAX + 16];
    CS_TRY(cs_path_join(anchors, sizeof anchors, dir, "anchors"));
    if (cs_file_exists(anchors))
        CS_TRY_CTX(cs_blob_list_add_dir(&p->file_anchors, anchors), "platform anchors %s", anchors);
    return CONSORT_OK;
}

static consort_err copy_anchors(cs_blob_list *dst, const cs_blob_list *src)
{
    cs_blob_list fresh;
    cs_blob_list_init(&fresh);
    for (size_t i = 0; i < src->count; i++) {
        consort_err rc = cs_blob_list_add(&fresh, cs_buf_slice(&src->items[i]));
        if (rc != CONSORT_OK) {
            cs_blob_list_cleanup(&fresh);
            return rc;
        }
    }
    cs_blob_list_cleanup(dst);
    *dst = fresh;
    return CONSORT_OK;
}

static consort_err virtual_lineage_root(node_platform *p);

consort_err node_platform_open(const cs_node_config *cfg, cs_node_code *code, const char *node_id,
                               node_platform **out)
{
    CS_ENSURE(cfg->platform == CS_PLATFORM_VIRTUAL || cfg->platform == CS_PLATFORM_TPM,
              CONSORT_E_UNSUPPORTED, "platform %s: the node runs on \"virtual\" or \"tpm\"",
              cs_platform_name(cfg->platform));
    node_platform *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "platform: out of memory");
    p->cfg = cfg;
    p->code = code;
    snprintf(p->node_id, sizeof p->node_id, "%s", node_id);
    cs_blob_list_init(&p->file_anchors);
    cs_blob_list_init(&p->anchors);
    consort_err rc;
    if (cfg->platform == CS_PLATFORM_TPM) {
        CS_TRY_GOTO(rc, platform_tpm_open(p), fail); /* anchor: the AK CA certificate */
    } else {
        CS_TRY_GOTO(rc, open_virtual(p), fail);
        CS_TRY_GOTO(rc, virtual_lineage_root(p), fail);
    }
    CS_TRY_GOTO(rc, copy_anchors(&p->anchors, &p->file_anchors), fail);
    p->verify_opts = (cs_verify_opts){.now = 0, .anchors = &p->anchors, .cache = NULL};
    cs_policy_init(&p->join_policy);
    for (size_t i = 0; i < CS_PLATFORM_COUNT; i++)
        p->join_policy.platforms[i] = (cs_platform)i == cfg->platform;
    p->join_policy.allow_debug = cfg->allow_debug;
    p->policy = p->join_policy;
    *out = p;
    return CONSORT_OK;
fail:
    node_platform_free(p);
    return rc;
}

void node_platform_free(node_platform *p)
{
    if (p == NULL)
        return;
    cs_virtual_platform_free(p->vplat);
    platform_tpm_close(p);
    cs_blob_list_cleanup(&p->file_anchors);
    cs_blob_list_cleanup(&p->anchors);
    cs_wipe(p->lineage_root, sizeof p->lineage_root);
    cs_free(p);
}

/* Virtual: the lineage root, HKDF-SHA256(ikm = the platform key's PKCS#8
 * DER, salt = "lineage", info = "consort sealing lineage v1") (RFC 5869):
 * another platform derives another root (docs/migration.md §2). */
static consort_err virtual_lineage_root(node_platform *p)
{
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY(cs_path_join(path, sizeof path, p->cfg->platform_dir, CS_VIRTUAL_KEY_FILE));
    cs_key *pk;
    CS_TRY_CTX(cs_key_load_pem_file(path, &pk), "sealing key");
    cs_buf der;
    cs_buf_init_secret(&der, 16 << 10);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_private_der(pk, &der), done);
    rc = cs_hkdf_sha256(cs_buf_slice(&der), CS_SLICE_LIT("lineage"),
                        CS_SLICE_LIT(PLATFORM_LINEAGE_INFO), p->lineage_root, 32);
done:
    cs_buf_cleanup(&der);
    cs_key_free(pk);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "sealing key");
}

void node_platform_lineage_root(const node_platform *p, uint8_t out[32])
{
    memcpy(out, p->lineage_root, 32);
}

consort_err node_platform_attest(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    node_platform *p = ctx;
    CS_TRY(cs_node_code_check(p->code)); /* no evidence for code the code id does not cover */
    if (p->cfg->platform == CS_PLATFORM_TPM)
        return platform_tpm_attest(p, key, nonce, out);
    uint8_t rd[64];
    CS_TRY(cs_report_data_bind(key, nonce, rd));
    return cs_virtual_attest(p->vplat, cs_node_code_id(p->code), 0, false, rd, out);
}

consort_err node_platform_own_evidence(node_platform *p, const cs_key *key, cs_buf *out)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc;
    CS_TRY_GOTO(rc, node_platform_attest(p, key, CS_SLICE_EMPTY, &ev), done);
    CS_TRY_GOTO(rc, cs_evidence_encode(&ev, out), done);
    /* peers verify it against the same anchors: a mismatch (a TPM AK
     * certificate from another CA) makes every peer refuse us, so say so */
    cs_claims claims;
    const cs_verify_opts o = {.now = (int64_t)time(NULL), .anchors = &p->file_anchors};
    if (cs_evidence_verify(&ev, &o, &claims) != CONSORT_OK)
        cs_log_warn(PLATFORM_LOG,
                    "node %s: its own evidence does not verify against its platform's trust "
                    "anchors, so peers will refuse it: %s",
                    p->node_id, consort_errmsg());
    cs_err_clear();
done:
    cs_evidence_cleanup(&ev);
    return rc;
}

const cs_blob_list *node_platform_file_anchors(const node_platform *p)
{
    return &p->file_anchors;
}

consort_err node_platform_set_service_policy(node_platform *p, const node_service_policy *sp)
{
    cs_policy pol = p->join_policy;
    for (size_t i = 0; i < sp->code_id_count; i++)
        CS_TRY(cs_policy_add_code_id(&pol, sp->code_ids[i]));
    if (sp->code_id_count == 0 && sp->only_self)
        CS_TRY(cs_policy_add_code_id(&pol, cs_node_code_id(p->code)));
    if (sp->has_allow_debug)
        pol.allow_debug = sp->allow_debug;
    if (sp->anchors != NULL && sp->anchors->count > 0)
        CS_TRY(copy_anchors(&p->anchors, sp->anchors));
    p->policy = pol;
    return CONSORT_OK;
}

const cs_verify_opts *node_platform_verify_opts(const node_platform *p)
{
    return &p->verify_opts;
}

const cs_policy *node_platform_policy(const node_platform *p)
{
    return &p->policy;
}

const cs_policy *node_platform_join_policy(const node_platform *p)
{
    return &p->join_policy;
}
