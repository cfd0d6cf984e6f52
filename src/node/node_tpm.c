/*
 * The node on the "tpm" platform (node_tpm.h): sealing key derived in the
 * TPM, the TPM attester and the AK certificate peers verify.
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
#include "node/node_tpm.h"

#include "attest/tpm.h"
#include "attest/tpm_seal.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <time.h>

/* AK certificates issued at start are valid from an hour ago (clock skew
 * between hosts) until the CA certificate expires. */
#define AK_CERT_BACKDATE_S 3600

consort_err node_tpm_seal_key(cs_node *n, cs_slice label)
{
    size_t stale = 0;
    CS_TRY_CTX(cs_tpm_flush_transients(n->cfg.tpm_tcti, &stale), "sealing key");
    if (stale > 0) /* a process before us on this TPM did not stop cleanly */
        cs_log_warn(NODE_LOG, "TPM %s: flushed %zu transient object(s) left by an earlier run",
                    n->cfg.tpm_tcti, stale);
    /* tpm_seal.h: bound to this TPM's owner seed and to the code id. */
    CS_TRY_CTX(cs_tpm_derive_key(n->cfg.tpm_tcti, label, CS_SLICE(n->code_id, sizeof n->code_id),
                                 n->seal_key),
               "sealing key");
    return CONSORT_OK;
}

/* CONSORT_E_BAD_CERTIFICATE unless `cert` certifies `key` (same public key). */
static consort_err check_same_key(const cs_x509 *cert, const cs_key *key, const char *what)
{
    cs_key *pub;
    CS_TRY(cs_x509_public_key(cert, &pub));
    uint8_t a[32], b[32];
    consort_err rc = cs_key_id(pub, a);
    if (rc == CONSORT_OK)
        rc = cs_key_id(key, b);
    cs_key_free(pub);
    CS_TRY(rc);
    CS_ENSURE(cs_ct_equal(CS_SLICE(a, 32), CS_SLICE(b, 32)), CONSORT_E_BAD_CERTIFICATE, "%s", what);
    return CONSORT_OK;
}

/* tpm_ak_ca_key: certifies the AK now, until the CA certificate expires. */
static consort_err certify_ak(cs_node *n, const cs_x509 *ca_cert, cs_x509 **out)
{
    const char *path = n->cfg.tpm_ak_ca_key;
    cs_key *ca_key;
    CS_TRY_CTX(cs_key_load_pem_file(path, &ca_key), "tpm_ak_ca_key %s", path);
    int64_t ca_from, ca_until;
    int64_t now = (int64_t)time(NULL);
    consort_err rc = CONSORT_OK;
    if (!cs_key_has_private(ca_key))
        rc = cs_fail(CONSORT_E_MALFORMED, "tpm_ak_ca_key %s holds no private key", path);
    if (rc == CONSORT_OK)
        rc = check_same_key(ca_cert, ca_key, "tpm_ak_ca_key is not the key of tpm_ak_ca_cert");
    if (rc == CONSORT_OK)
        rc = cs_x509_validity(ca_cert, &ca_from, &ca_until);
    if (rc == CONSORT_OK && ca_until <= now)
        rc = cs_fail(CONSORT_E_EXPIRED, "tpm_ak_ca_cert expired (notAfter %lld)",
                     (long long)ca_until);
    if (rc == CONSORT_OK) {
        int64_t from = now - AK_CERT_BACKDATE_S;
        rc = cs_tpm_ak_certify(cs_tpm_attester_ak(n->tpm), ca_key, ca_cert,
                               from > ca_from ? from : ca_from, ca_until, out);
    }
    cs_key_free(ca_key);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "certifying the AK");
}

/* tpm_ak_cert: a certificate issued elsewhere; it must certify this TPM's AK. */
static consort_err load_ak_cert(cs_node *n, cs_x509 **out)
{
    const char *path = n->cfg.tpm_ak_cert;
    CS_TRY_CTX(cs_x509_load_file(path, out), "tpm_ak_cert %s", path);
    consort_err rc = check_same_key(*out, cs_tpm_attester_ak(n->tpm),
                                    "tpm_ak_cert certifies another key than this TPM's AK");
    if (rc != CONSORT_OK) {
        cs_x509_free(*out);
        *out = NULL;
        return cs_err_context(rc, "tpm_ak_cert %s", path);
    }
    return CONSORT_OK;
}

static consort_err add_anchor(cs_node *n, const cs_x509 *ca_cert)
{
    cs_buf der;
    cs_buf_init(&der, CS_ENDORSEMENT_MAX_BYTES);
    consort_err rc = cs_x509_to_der(ca_cert, &der);
    if (rc == CONSORT_OK)
        rc = cs_blob_list_add(&n->anchors, cs_buf_slice(&der));
    cs_buf_cleanup(&der);
    return rc;
}

/* Peers verify our evidence against the same CA: a mismatch (an AK certificate
 * from another CA) makes every peer refuse us, so say so at start. */
static void self_check(cs_node *n)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_claims claims;
    const cs_verify_opts o = {.now = (int64_t)time(NULL), .anchors = &n->anchors};
    consort_err rc = node_tpm_attest(n, n->node_key, CS_SLICE_EMPTY, &ev);
    if (rc == CONSORT_OK)
        rc = cs_evidence_verify(&ev, &o, &claims);
    if (rc != CONSORT_OK)
        cs_log_warn(NODE_LOG,
                    "node %s: its own TPM evidence does not verify against tpm_ak_ca_cert, "
                    "so peers will refuse it: %s",
                    n->node_id, consort_errmsg());
    cs_evidence_cleanup(&ev);
    cs_err_clear();
}

consort_err node_tpm_open(cs_node *n)
{
    CS_ENSURE(n->tpm == NULL, CONSORT_E_STATE, "TPM platform already open");
    const char *ca_path = n->cfg.tpm_ak_ca_cert;
    cs_x509 *ca_cert = NULL;
    cs_x509 *ak_cert = NULL;
    const cs_tpm_attester_opts opts = {.tcti = n->cfg.tpm_tcti,
                                       .ak_type = CS_TPM_AK_ECDSA_P256,
                                       .code_id_pcr = CS_TPM_CODE_ID_PCR};
    consort_err rc = cs_x509_load_file(ca_path, &ca_cert);
    if (rc != CONSORT_OK)
        rc = cs_err_context(rc, "tpm_ak_ca_cert %s", ca_path);
    if (rc == CONSORT_OK && !cs_x509_is_ca(ca_cert))
        rc = cs_fail(CONSORT_E_BAD_CERTIFICATE, "tpm_ak_ca_cert %s is not a CA certificate",
                     ca_path);
    if (rc == CONSORT_OK)
        rc = cs_tpm_attester_new(&opts, &n->tpm);
    if (rc == CONSORT_OK)
        rc = cs_tpm_attester_measure(n->tpm, n->code_id);
    if (rc == CONSORT_OK)
        rc = n->cfg.tpm_ak_ca_key[0] != '\0' ? certify_ak(n, ca_cert, &ak_cert)
                                             : load_ak_cert(n, &ak_cert);
    if (rc == CONSORT_OK)
        rc = cs_tpm_attester_set_certs(n->tpm, ak_cert, NULL, 0);
    if (rc == CONSORT_OK)
        rc = add_anchor(n, ca_cert);
    cs_x509_free(ak_cert);
    cs_x509_free(ca_cert);
    if (rc != CONSORT_OK) {
        node_tpm_close(n);
        return cs_err_context(rc, "tpm platform %s", n->cfg.tpm_tcti);
    }
    cs_log_info(NODE_LOG, "node %s: TPM %s, code id in PCR %d, AK certificate %s, AK CA %s",
                n->node_id, n->cfg.tpm_tcti, CS_TPM_CODE_ID_PCR,
                n->cfg.tpm_ak_ca_key[0] != '\0' ? "issued at start" : n->cfg.tpm_ak_cert, ca_path);
    self_check(n);
    return CONSORT_OK;
}

void node_tpm_close(cs_node *n)
{
    cs_tpm_attester_free(n->tpm);
    n->tpm = NULL;
}

consort_err node_tpm_attest(cs_node *n, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    CS_ENSURE(n->tpm != NULL, CONSORT_E_STATE, "TPM platform not open");
    return cs_tpm_attest_key(n->tpm, key, nonce, out);
}
