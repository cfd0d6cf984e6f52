/*
 * The platform "tpm" (platform.h): the sealing key derived in the TPM, the
 * TPM attester and the AK certificate peers verify (docs/operating.md "TPM
 * platform", docs/platforms/tpm.md "In the node").
 *
 * SIMPLIFIED ENROLMENT (said plainly in docs/operating.md): each service
 * has one "AK CA". A real deployment has a provisioning CA certify an AK
 * only after TPM2_MakeCredential / TPM2_ActivateCredential proved that the
 * AK lives in the same TPM as a manufacturer-certified EK. Here the node is
 * given the CA key (tpm_ak_ca_key) and certifies its own AK at start, or is
 * given a certificate someone issued for its AK (tpm_ak_cert); nothing
 * proves the AK is a TPM key beyond the operator's word.
 *
 * Every function runs on the node's loop thread; TPM commands block it for
 * the few milliseconds a quote takes.
 */
#include "node/platform_priv.h"

#include "attest/tpm.h"
#include "attest/tpm_seal.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <time.h>

/* AK certificates issued at start are valid from an hour ago (clock skew
 * between hosts) until the CA certificate expires. */
#define AK_CERT_BACKDATE_S 3600

static consort_err derive_lineage_root(node_platform *p)
{
    size_t stale = 0;
    CS_TRY_CTX(cs_tpm_flush_transients(p->cfg->tpm_tcti, &stale), "sealing key");
    if (stale > 0) /* a process before us on this TPM did not stop cleanly */
        cs_log_warn(PLATFORM_LOG, "TPM %s: flushed %zu transient object(s) left by an earlier run",
                    p->cfg->tpm_tcti, stale);
    /* tpm_seal.h: bound to this TPM's owner seed; docs/migration.md §2: the
     * lineage root mixes no code id. */
    CS_TRY_CTX(cs_tpm_derive_key(p->cfg->tpm_tcti, CS_SLICE_LIT(PLATFORM_LINEAGE_INFO),
                                 CS_SLICE_LIT(""), p->lineage_root),
               "lineage sealing root");
    return CONSORT_OK;
}

/* CONSORT_E_BAD_CERTIFICATE unless `cert` certifies `key` (same public key). */
static consort_err check_same_key(const cs_x509 *cert, const cs_key *key, const char *what)
{
    cs_key *pub;
    CS_TRY(cs_x509_public_key(cert, &pub));
    uint8_t a[32], b[32];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_id(pub, a), done);
    CS_TRY_GOTO(rc, cs_key_id(key, b), done);
    CS_ENSURE_GOTO(rc, cs_ct_equal(CS_SLICE(a, 32), CS_SLICE(b, 32)), done,
                   CONSORT_E_BAD_CERTIFICATE, "%s", what);
done:
    cs_key_free(pub);
    return rc;
}

/* tpm_ak_ca_key: certifies the AK now, until the CA certificate expires. */
static consort_err certify_ak(node_platform *p, const cs_x509 *ca_cert, cs_x509 **out)
{
    const char *path = p->cfg->tpm_ak_ca_key;
    cs_key *ca_key;
    CS_TRY_CTX(cs_key_load_pem_file(path, &ca_key), "tpm_ak_ca_key %s", path);
    int64_t ca_from, ca_until;
    int64_t now = (int64_t)time(NULL);
    consort_err rc;
    CS_ENSURE_GOTO(rc, cs_key_has_private(ca_key), done, CONSORT_E_MALFORMED,
                   "tpm_ak_ca_key %s holds no private key", path);
    CS_TRY_GOTO(rc,
                check_same_key(ca_cert, ca_key, "tpm_ak_ca_key is not the key of tpm_ak_ca_cert"),
                done);
    CS_TRY_GOTO(rc, cs_x509_validity(ca_cert, &ca_from, &ca_until), done);
    CS_ENSURE_GOTO(rc, ca_until > now, done, CONSORT_E_EXPIRED,
                   "tpm_ak_ca_cert expired (notAfter %lld)", (long long)ca_until);
    int64_t from = now - AK_CERT_BACKDATE_S;
    rc = cs_tpm_ak_certify(cs_tpm_attester_ak(p->tpm), ca_key, ca_cert,
                           from > ca_from ? from : ca_from, ca_until, out);
done:
    cs_key_free(ca_key);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "certifying the AK");
}

/* tpm_ak_cert: a certificate issued elsewhere; it must certify this TPM's AK. */
static consort_err load_ak_cert(node_platform *p, cs_x509 **out)
{
    const char *path = p->cfg->tpm_ak_cert;
    CS_TRY_CTX(cs_x509_load_file(path, out), "tpm_ak_cert %s", path);
    consort_err rc = check_same_key(*out, cs_tpm_attester_ak(p->tpm),
                                    "tpm_ak_cert certifies another key than this TPM's AK");
    if (rc != CONSORT_OK) {
        cs_x509_free(*out);
        *out = NULL;
        return cs_err_context(rc, "tpm_ak_cert %s", path);
    }
    return CONSORT_OK;
}

static consort_err add_anchor(node_platform *p, const cs_x509 *ca_cert)
{
    cs_buf der;
    cs_buf_init(&der, CS_ENDORSEMENT_MAX_BYTES);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(ca_cert, &der), done);
    rc = cs_blob_list_add(&p->file_anchors, cs_buf_slice(&der));
done:
    cs_buf_cleanup(&der);
    return rc;
}

consort_err platform_tpm_open(node_platform *p)
{
    CS_ENSURE(p->tpm == NULL, CONSORT_E_STATE, "TPM platform already open");
    const char *ca_path = p->cfg->tpm_ak_ca_cert;
    cs_x509 *ca_cert = NULL;
    cs_x509 *ak_cert = NULL;
    const cs_tpm_attester_opts opts = {.tcti = p->cfg->tpm_tcti,
                                       .ak_type = CS_TPM_AK_ECDSA_P256,
                                       .code_id_pcr = CS_TPM_CODE_ID_PCR};
    consort_err rc;
    CS_TRY_GOTO(rc, derive_lineage_root(p), fail);
    CS_TRY_GOTO(rc, cs_x509_load_file(ca_path, &ca_cert), fail);
    CS_ENSURE_GOTO(rc, cs_x509_is_ca(ca_cert), fail, CONSORT_E_BAD_CERTIFICATE,
                   "tpm_ak_ca_cert %s is not a CA certificate", ca_path);
    CS_TRY_GOTO(rc, cs_tpm_attester_new(&opts, &p->tpm), fail);
    CS_TRY_GOTO(rc, cs_tpm_attester_measure(p->tpm, cs_node_code_id(p->code)), fail);
    CS_TRY_GOTO(rc,
                p->cfg->tpm_ak_ca_key[0] != '\0' ? certify_ak(p, ca_cert, &ak_cert)
                                                 : load_ak_cert(p, &ak_cert),
                fail);
    CS_TRY_GOTO(rc, cs_tpm_attester_set_certs(p->tpm, ak_cert, NULL, 0), fail);
    CS_TRY_GOTO(rc, add_anchor(p, ca_cert), fail);
    cs_x509_free(ak_cert);
    cs_x509_free(ca_cert);
    cs_log_info(PLATFORM_LOG, "node %s: TPM %s, code id in PCR %d, AK certificate %s, AK CA %s",
                p->node_id, p->cfg->tpm_tcti, CS_TPM_CODE_ID_PCR,
                p->cfg->tpm_ak_ca_key[0] != '\0' ? "issued at start" : p->cfg->tpm_ak_cert,
                ca_path);
    return CONSORT_OK;
fail:
    cs_x509_free(ak_cert);
    cs_x509_free(ca_cert);
    platform_tpm_close(p);
    return cs_err_context(rc, "tpm platform %s (tpm_ak_ca_cert %s)", p->cfg->tpm_tcti, ca_path);
}

void platform_tpm_close(node_platform *p)
{
    cs_tpm_attester_free(p->tpm);
    p->tpm = NULL;
}

consort_err platform_tpm_attest(node_platform *p, const cs_key *key, cs_slice nonce,
                                cs_evidence *out)
{
    CS_ENSURE(p->tpm != NULL, CONSORT_E_STATE, "TPM platform not open");
    return cs_tpm_attest_key(p->tpm, key, nonce, out);
}
