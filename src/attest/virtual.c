/*
 * The `virtual` platform's attester (virtual.h): the platform directory and
 * signed reports. The verifier is in virtual_verify.c.
 */
#include "attest/virtual.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct cs_virtual_platform {
    cs_key *key;     /* P-256, with its private half */
    cs_x509 *cert;   /* self-signed, for `key` */
    cs_buf cert_der; /* DER of `cert`, the endorsement in every envelope */
    uint8_t key_id[32];
};

void cs_virtual_platform_free(cs_virtual_platform *p)
{
    if (p == NULL)
        return;
    cs_key_free(p->key);
    cs_x509_free(p->cert);
    cs_buf_cleanup(&p->cert_der);
    cs_free(p);
}

/*
 * Makes a platform from `key` and `cert`, taking ownership of both (they are
 * freed on failure too). The certificate must hold the key's public half.
 */
static consort_err wrap(cs_key *key, cs_x509 *cert, cs_virtual_platform **out)
{
    consort_err rc = CONSORT_OK;
    cs_key *cert_key = NULL;
    uint8_t cert_key_id[32];
    cs_virtual_platform *p = cs_calloc(1, sizeof *p);
    if (p == NULL) {
        cs_key_free(key);
        cs_x509_free(cert);
        return cs_fail(CONSORT_E_NOMEM, "virtual platform: out of memory");
    }
    p->key = key;
    p->cert = cert;
    cs_buf_init(&p->cert_der, 64 * 1024);
    CS_ENSURE_GOTO(rc, cs_key_has_private(key) && cs_key_curve(key) == CS_CURVE_P256, fail,
                   CONSORT_E_CORRUPT,
                   "virtual platform: key must be a P-256 private key, found %s %s",
                   cs_key_type_name(key), cs_curve_name(cs_key_curve(key)));
    CS_TRY_GOTO(rc, cs_key_id(key, p->key_id), fail);
    CS_TRY_GOTO(rc, cs_x509_public_key(cert, &cert_key), fail);
    CS_TRY_GOTO(rc, cs_key_id(cert_key, cert_key_id), fail);
    CS_ENSURE_GOTO(rc, memcmp(cert_key_id, p->key_id, 32) == 0, fail, CONSORT_E_CORRUPT,
                   "virtual platform: the certificate does not hold the platform key");
    CS_TRY_GOTO(rc, cs_x509_to_der(cert, &p->cert_der), fail);
    cs_key_free(cert_key);
    *out = p;
    return CONSORT_OK;
fail:
    cs_key_free(cert_key);
    cs_virtual_platform_free(p);
    return rc;
}

consort_err cs_virtual_platform_generate(int64_t now, cs_virtual_platform **out)
{
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    uint8_t key_id[32];
    CS_TRY(cs_key_generate(CS_CURVE_P256, &key));
    consort_err rc = cs_key_id(key, key_id);
    if (rc == CONSORT_OK) {
        char hex[17];
        char cn[64];
        cs_hex_encode(CS_SLICE(key_id, 8), hex);
        snprintf(cn, sizeof cn, "consort virtual platform %s", hex);
        const cs_x509_params params = {
            .subject_cn = cn,
            .subject_org = "consort",
            .not_before = now,
            .not_after = now + (int64_t)CS_VIRTUAL_CERT_DAYS * 86400,
        };
        rc = cs_x509_create(&params, key, key, NULL, &cert);
    }
    if (rc != CONSORT_OK) {
        cs_key_free(key);
        return cs_err_context(rc, "virtual platform");
    }
    return wrap(key, cert, out);
}

static consort_err write_files(const cs_virtual_platform *p, const char *key_path,
                               const char *cert_path)
{
    cs_buf pem;
    cs_buf_init_secret(&pem, 64 * 1024);
    consort_err rc = cs_key_private_pem(p->key, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(key_path, cs_buf_slice(&pem), 0600);
    cs_buf_cleanup(&pem);
    if (rc != CONSORT_OK)
        return rc;
    cs_buf_init(&pem, 64 * 1024);
    rc = cs_x509_to_pem(p->cert, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(cert_path, cs_buf_slice(&pem), 0644);
    cs_buf_cleanup(&pem);
    return rc;
}

consort_err cs_virtual_platform_init(const char *dir, bool force, cs_virtual_platform **out)
{
    char key_path[4096];
    char cert_path[4096];
    CS_TRY(cs_path_join(key_path, sizeof key_path, dir, CS_VIRTUAL_KEY_FILE));
    CS_TRY(cs_path_join(cert_path, sizeof cert_path, dir, CS_VIRTUAL_CERT_FILE));
    CS_ENSURE(force || (!cs_file_exists(key_path) && !cs_file_exists(cert_path)), CONSORT_E_STATE,
              "virtual platform: %s already holds a platform; not replacing it unless forced", dir);
    CS_TRY_CTX(cs_mkdir_p(dir, 0700), "virtual platform");
    cs_virtual_platform *p = NULL;
    CS_TRY(cs_virtual_platform_generate((int64_t)time(NULL), &p));
    consort_err rc = write_files(p, key_path, cert_path);
    if (rc != CONSORT_OK) {
        cs_virtual_platform_free(p);
        return cs_err_context(rc, "virtual platform");
    }
    cs_log_debug("attest", "created virtual platform in %s: INSECURE, for development only", dir);
    *out = p;
    return CONSORT_OK;
}

consort_err cs_virtual_platform_open(const char *dir, cs_virtual_platform **out)
{
    char key_path[4096];
    char cert_path[4096];
    CS_TRY(cs_path_join(key_path, sizeof key_path, dir, CS_VIRTUAL_KEY_FILE));
    CS_TRY(cs_path_join(cert_path, sizeof cert_path, dir, CS_VIRTUAL_CERT_FILE));
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    CS_TRY_CTX(cs_key_load_pem_file(key_path, &key), "virtual platform");
    consort_err rc = cs_x509_load_file(cert_path, &cert);
    if (rc != CONSORT_OK) {
        cs_key_free(key);
        return cs_err_context(rc, "virtual platform: %s", cert_path);
    }
    CS_TRY_CTX(wrap(key, cert, out), "%s", dir);
    return CONSORT_OK;
}

const uint8_t *cs_virtual_platform_key_id(const cs_virtual_platform *p)
{
    return p->key_id;
}

const cs_x509 *cs_virtual_platform_cert(const cs_virtual_platform *p)
{
    return p->cert;
}

cs_slice cs_virtual_platform_cert_der(const cs_virtual_platform *p)
{
    return cs_buf_slice(&p->cert_der);
}

/* Appends the signed report (virtual.h layout) to `out`. */
static consort_err build_report(const cs_virtual_platform *p, const uint8_t code_id[32],
                                uint32_t svn, bool debug, const uint8_t report_data[64],
                                cs_buf *out)
{
    CS_TRY(cs_buf_append(out, CS_VIRTUAL_MAGIC, 8));
    CS_TRY(cs_buf_append_le32(out, CS_VIRTUAL_VERSION));
    CS_TRY(cs_buf_append_le32(out, debug ? CS_VIRTUAL_FLAG_DEBUG : 0));
    CS_TRY(cs_buf_append_le32(out, svn));
    CS_TRY(cs_buf_append_le32(out, 0)); /* reserved */
    CS_TRY(cs_buf_append(out, code_id, 32));
    CS_TRY(cs_buf_append(out, report_data, 64));
    CS_TRY(cs_buf_append(out, p->key_id, 32));
    CS_ENSURE(out->len == CS_VIRTUAL_SIGNED_LEN, CONSORT_E_STATE,
              "virtual report: signed part is %zu bytes, expected %d", out->len,
              CS_VIRTUAL_SIGNED_LEN);
    /* the signature covers bytes 0..151: everything before it */
    CS_TRY(cs_ecdsa_sign(p->key, CS_HASH_SHA256, CS_SLICE(out->ptr, CS_VIRTUAL_SIGNED_LEN),
                         CS_SIG_RAW, out));
    CS_ENSURE(out->len == CS_VIRTUAL_REPORT_LEN, CONSORT_E_STATE,
              "virtual report: %zu bytes, expected %d", out->len, CS_VIRTUAL_REPORT_LEN);
    return CONSORT_OK;
}

consort_err cs_virtual_attest(const cs_virtual_platform *platform, const uint8_t code_id[32],
                              uint32_t security_version, bool debug, const uint8_t report_data[64],
                              cs_evidence *out)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_VIRTUAL;
    consort_err rc =
        build_report(platform, code_id, security_version, debug, report_data, &ev.evidence);
    if (rc == CONSORT_OK)
        rc = cs_blob_list_add(&ev.endorsements, cs_buf_slice(&platform->cert_der));
    if (rc != CONSORT_OK) {
        cs_evidence_cleanup(&ev);
        return cs_err_context(rc, "virtual attest");
    }
    cs_evidence_cleanup(out);
    *out = ev;
    return CONSORT_OK;
}
