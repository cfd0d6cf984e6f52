/*
 * `consort sandbox --platform tpm` (sandbox.h): one swtpm process per node,
 * and the enrolment of each node's attestation key (AK).
 *
 * The sandbox plays the operator who enrols machines: it holds the AK CA
 * (DIR/tpm_ak_ca_{cert,privk}.pem, created once), asks each node's TPM for
 * its AK (the endorsement-hierarchy primary key of attest/tpm.h: the same
 * template gives the same key on the same TPM, so the certificate stays
 * valid across node restarts) and certifies it into node<i>/tpm_ak_cert.pem.
 * Nodes get the CA certificate and their AK certificate, never the CA key.
 * SIMPLIFIED ENROLMENT (attest/tpm.h cs_tpm_ak_certify): no EK credential
 * activation proves that the AK lives in a genuine TPM; swtpm has none anyway.
 */
#include "sandbox.h"

#include "attest/tpm.h"
#include "base/file.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SWTPM_TIMEOUT_MS 5000
#define AK_CA_DAYS       3652

static consort_err write_pem(const char *path, const cs_x509 *cert, const cs_key *key)
{
    cs_buf pem;
    cs_buf_init_secret(&pem, 64 * 1024);
    consort_err rc = cert != NULL ? cs_x509_to_pem(cert, &pem) : cs_key_private_pem(key, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(path, cs_buf_slice(&pem), cert != NULL ? 0644 : 0600);
    cs_buf_cleanup(&pem);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "%s", path);
}

consort_err cs_sbx_tpm_prepare(cs_sbx *sbx)
{
    int len1 = snprintf(sbx->tpm_ak_ca_cert, sizeof sbx->tpm_ak_ca_cert,
                        "%s/tpm_ak_ca_cert.pem", sbx->workspace);
    int len2 = snprintf(sbx->tpm_ak_ca_key, sizeof sbx->tpm_ak_ca_key, "%s/tpm_ak_ca_privk.pem",
                        sbx->workspace);
    CS_ENSURE(len1 > 0 && len2 > 0 && (size_t)len1 < sizeof sbx->tpm_ak_ca_cert &&
                  (size_t)len2 < sizeof sbx->tpm_ak_ca_key,
              CONSORT_E_INVALID_ARGUMENT, "workspace path too long");
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params params = {
        .subject_cn = "consort sandbox TPM AK CA",
        .not_before = now - 3600,
        .not_after = now + (int64_t)AK_CA_DAYS * 86400,
        .is_ca = true,
    };
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    consort_err rc = cs_key_generate(CS_CURVE_P256, &key);
    if (rc == CONSORT_OK)
        rc = cs_x509_create(&params, key, key, NULL, &cert);
    if (rc == CONSORT_OK)
        rc = write_pem(sbx->tpm_ak_ca_key, NULL, key);
    if (rc == CONSORT_OK)
        rc = write_pem(sbx->tpm_ak_ca_cert, cert, NULL);
    cs_x509_free(cert);
    cs_key_free(key);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "TPM AK CA");
}

/* Certifies the AK of node n's TPM with the sandbox's AK CA. */
static consort_err enrol_ak(const cs_sbx *sbx, cs_sbx_node *n)
{
    int len = snprintf(n->tpm_ak_cert, sizeof n->tpm_ak_cert, "%s/tpm_ak_cert.pem", n->dir);
    CS_ENSURE(len > 0 && (size_t)len < sizeof n->tpm_ak_cert, CONSORT_E_INVALID_ARGUMENT,
              "%s: path too long", n->name);
    cs_key *ca_key = NULL;
    cs_x509 *ca_cert = NULL;
    cs_x509 *ak_cert = NULL;
    cs_tpm_attester *att = NULL;
    int64_t not_before = 0, not_after = 0;
    const cs_tpm_attester_opts opts = {.tcti = n->tpm_tcti};
    consort_err rc = cs_key_load_pem_file(sbx->tpm_ak_ca_key, &ca_key);
    if (rc == CONSORT_OK)
        rc = cs_x509_load_file(sbx->tpm_ak_ca_cert, &ca_cert);
    if (rc == CONSORT_OK)
        rc = cs_x509_validity(ca_cert, &not_before, &not_after);
    if (rc == CONSORT_OK)
        rc = cs_tpm_attester_new(&opts, &att); /* creates (or recreates) the AK */
    if (rc == CONSORT_OK)
        rc = cs_tpm_ak_certify(cs_tpm_attester_ak(att), ca_key, ca_cert, not_before, not_after,
                               &ak_cert);
    if (rc == CONSORT_OK)
        rc = write_pem(n->tpm_ak_cert, ak_cert, NULL);
    cs_tpm_attester_free(att); /* flushes the AK: the node loads it again */
    cs_x509_free(ak_cert);
    cs_x509_free(ca_cert);
    cs_key_free(ca_key);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "%s: enrolling its TPM AK", n->name);
}

consort_err cs_sbx_tpm_start(cs_sbx *sbx, cs_sbx_node *n)
{
    char server[64], ctrl[64], state[CS_SBX_PATH_MAX + 8], log[CS_SBX_PATH_MAX + 16];
    snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", n->tpm_port);
    snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", n->tpm_port + 1);
    snprintf(state, sizeof state, "dir=%s", n->tpm_dir);
    snprintf(log, sizeof log, "%s/swtpm.log", n->dir);
    char *const argv[] = {sbx->swtpm,          (char *)"socket", (char *)"--tpm2",
                          (char *)"--server", server,           (char *)"--ctrl",
                          ctrl,               (char *)"--tpmstate", state,
                          (char *)"--flags",  (char *)"not-need-init,startup-clear", NULL};
    cs_sbx_release_ports(n->tpm_port_fds);
    CS_TRY(cs_sbx_spawn(&n->tpm, argv, log));
    for (uint32_t waited = 0;; waited += 50) {
        if (!cs_sbx_alive(&n->tpm))
            return cs_sbx_died(&n->tpm, log);
        if (cs_sbx_port_accepts(n->tpm_port) && cs_sbx_port_accepts(n->tpm_port + 1))
            break;
        CS_ENSURE(waited < SWTPM_TIMEOUT_MS, CONSORT_E_TIMEOUT,
                  "%s: not listening on 127.0.0.1:%d after %u ms", n->tpm_name, n->tpm_port,
                  SWTPM_TIMEOUT_MS);
        CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "stopped");
        cs_sbx_sleep_ms(50);
    }
    return enrol_ak(sbx, n);
}
