/*
 * The node's code id (node_code.h): module, warm-up, measurement, and the
 * re-scan before evidence.
 */
#include "node/node_code.h"

#include "attest/tpm_tcti.h"
#include "base/alloc.h"
#include "base/log.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/tls.h"
#include "node/app_host.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CODE_LOG "code"
/* Round trips an in-memory TLS 1.3 handshake needs (2) with room to spare. */
#define WARM_TLS_ROUNDS 8

struct cs_node_code {
    consort_app *app; /* NULL: no module */
    cs_code_measure m;
    char refused[CS_ERRMSG_MAX]; /* the last reason logged for refusing to attest */
};

/* ---- warm-up ---- */

/* Moves what `from` has to send into `to`. */
static consort_err tls_pump(cs_tls *from, cs_tls *to, cs_buf *wire, cs_buf *plain)
{
    cs_buf_reset(wire);
    CS_TRY(cs_tls_take_output(from, wire));
    if (wire->len == 0)
        return CONSORT_OK;
    bool closed = false;
    return cs_tls_recv(to, cs_buf_slice(wire), plain, &closed);
}

/* A TLS 1.3 handshake between two in-memory ends with client certificates, a
 * record each way and an exporter: OpenSSL loads its configuration, and
 * whatever providers it names, on first use. */
static consort_err warm_tls(const cs_key *key, const cs_x509 *cert)
{
    static const char *const alpn[] = {"consort-warm-up", NULL};
    const cs_tls_params sp = {.role = CS_TLS_SERVER,
                              .key = key,
                              .cert = cert,
                              .client_auth = CS_TLS_CLIENT_CERT_REQUIRE,
                              .verify = cs_tls_verify_any,
                              .alpn = alpn};
    const cs_tls_params cp = {
        .role = CS_TLS_CLIENT, .key = key, .cert = cert, .verify = cs_tls_verify_any, .alpn = alpn};
    cs_tls_config *scfg = NULL, *ccfg = NULL;
    cs_tls *s = NULL, *c = NULL;
    cs_buf wire, plain;
    cs_buf_init(&wire, 0);
    cs_buf_init_secret(&plain, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_tls_config_new(&sp, &scfg), done);
    CS_TRY_GOTO(rc, cs_tls_config_new(&cp, &ccfg), done);
    CS_TRY_GOTO(rc, cs_tls_new(scfg, &s), done);
    CS_TRY_GOTO(rc, cs_tls_new(ccfg, &c), done);
    CS_TRY_GOTO(rc, cs_tls_start(c), done);
    for (int i = 0; i < WARM_TLS_ROUNDS && !(cs_tls_handshake_done(c) && cs_tls_handshake_done(s));
         i++) {
        CS_TRY_GOTO(rc, tls_pump(c, s, &wire, &plain), done);
        CS_TRY_GOTO(rc, tls_pump(s, c, &wire, &plain), done);
    }
    CS_ENSURE_GOTO(rc, cs_tls_handshake_done(c) && cs_tls_handshake_done(s), done, CONSORT_E_STATE,
                   "the TLS handshake did not finish");
    CS_TRY_GOTO(rc, cs_tls_send(c, CS_SLICE_LIT("warm-up")), done);
    CS_TRY_GOTO(rc, tls_pump(c, s, &wire, &plain), done);
    CS_TRY_GOTO(rc, cs_tls_export(c, "EXPORTER-consort-warm-up", 32, &plain), done);
done:
    cs_tls_free(c);
    cs_tls_free(s);
    cs_tls_config_free(ccfg);
    cs_tls_config_free(scfg);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&wire);
    return rc;
}

/* OpenSSL as the node uses it: keys, signatures, certificates, TLS, AEAD, HKDF. */
static consort_err warm_crypto(void)
{
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params params = {
        .subject_cn = "consort code id warm-up", .not_before = now - 60, .not_after = now + 3600};
    uint8_t secret[CS_AEAD_KEY_LEN] = {0}, nonce[CS_AEAD_NONCE_LEN] = {0}, digest[64];
    cs_buf sealed, sig;
    cs_buf_init(&sealed, 0);
    cs_buf_init(&sig, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_generate(CS_CURVE_P256, &key), done);
    CS_TRY_GOTO(rc, cs_x509_create(&params, key, key, NULL, &cert), done);
    CS_TRY_GOTO(rc, cs_ecdsa_sign(key, CS_HASH_SHA256, CS_SLICE_LIT("warm-up"), CS_SIG_DER, &sig),
                done);
    CS_TRY_GOTO(rc,
                cs_ecdsa_verify(key, CS_HASH_SHA256, CS_SLICE_LIT("warm-up"), CS_SIG_DER,
                                cs_buf_slice(&sig)),
                done);
    CS_TRY_GOTO(rc, cs_hash(CS_HASH_SHA384, CS_SLICE_LIT("warm-up"), digest), done);
    CS_TRY_GOTO(rc, cs_hash(CS_HASH_SHA512, CS_SLICE_LIT("warm-up"), digest), done);
    CS_TRY_GOTO(rc,
                cs_hkdf_sha256(CS_SLICE_LIT("warm-up"), CS_SLICE_EMPTY, CS_SLICE_LIT("warm-up"),
                               secret, sizeof secret),
                done);
    CS_TRY_GOTO(rc, cs_aead_seal(secret, nonce, CS_SLICE_EMPTY, CS_SLICE_LIT("warm-up"), &sealed),
                done);
    CS_TRY_GOTO(rc, warm_tls(key, cert), done);
done:
    cs_wipe(secret, sizeof secret);
    cs_buf_cleanup(&sig);
    cs_buf_cleanup(&sealed);
    cs_x509_free(cert);
    cs_key_free(key);
    return rc;
}

static consort_err warm_up(const cs_node_config *cfg)
{
    CS_TRY_CTX(warm_crypto(), "code id warm-up (OpenSSL)");
    if (cfg->platform == CS_PLATFORM_TPM) {
        char loaded[256];
        CS_TRY_CTX(cs_tpm_tcti_pin(cfg->tpm_tcti, loaded, sizeof loaded),
                   "code id warm-up (tpm_tcti)");
        cs_log_debug(CODE_LOG, "code id warm-up: TCTI library %s loaded", loaded);
    }
    return CONSORT_OK;
}

/* ---- measurement ---- */

static const char *kind_name(cs_code_kind k)
{
    return k == CS_CODE_EXECUTABLE ? "executable" : k == CS_CODE_MODULE ? "module" : "library";
}

static void log_measurement(const cs_code_measure *m)
{
    char hex[65];
    size_t libs = 0;
    for (size_t i = 0; i < m->count; i++) {
        const cs_code_object *ob = &m->objects[i];
        libs += ob->kind == CS_CODE_LIBRARY;
        if (CS_LOG_ENABLED(CS_LOG_DEBUG)) {
            cs_hex_encode(CS_SLICE(ob->digest, 32), hex);
            cs_log_debug(CODE_LOG, "code id covers %s %s (SHA-256 %s)", kind_name(ob->kind),
                         ob->name, hex);
        }
    }
    cs_hex_encode(CS_SLICE(m->code_id, 32), hex);
    cs_log_info(CODE_LOG, "code id %s (v2): the executable, %s, %zu libraries", hex,
                m->opts.has_module ? "the module" : "no module", libs);
}

consort_err cs_node_code_measure(const cs_node_config *cfg, cs_node_code **out)
{
    cs_node_code *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "code id: out of memory");
    cs_code_measure_init(&c->m);
    cs_code_measure_opts o = {.sealed_digest = cs_app_image_digest};
    consort_err rc;
    if (cfg->app_path[0] != '\0')
        CS_TRY_GOTO(rc, cs_app_load(cfg->app_path, &c->app), fail);
    CS_TRY_GOTO(rc, warm_up(cfg), fail);
    if (c->app != NULL)
        o.has_module =
            cs_app_module_identity(c->app, o.module_digest, &o.module_dev, &o.module_ino);
    CS_TRY_GOTO(rc, cs_code_measure_take(&c->m, &o), fail);
    log_measurement(&c->m);
    *out = c;
    return CONSORT_OK;
fail:
    cs_node_code_free(c);
    return rc;
}

const uint8_t *cs_node_code_id(const cs_node_code *c)
{
    return c->m.code_id;
}

consort_app *cs_node_code_app(const cs_node_code *c)
{
    return c->app;
}

const cs_code_measure *cs_node_code_measurement(const cs_node_code *c)
{
    return &c->m;
}

consort_err cs_node_code_check(cs_node_code *c)
{
    consort_err rc = cs_code_measure_check(&c->m);
    if (rc == CONSORT_OK) {
        c->refused[0] = '\0';
        return CONSORT_OK;
    }
    /* said once per reason: the attester runs on every handshake */
    if (strcmp(c->refused, consort_errmsg()) != 0) {
        snprintf(c->refused, sizeof c->refused, "%s", consort_errmsg());
        cs_log_error(CODE_LOG, "refusing to attest: %s", consort_errmsg());
    }
    return cs_err_context(rc, "refusing to attest");
}

void cs_node_code_free(cs_node_code *c)
{
    if (c == NULL)
        return;
    cs_code_measure_cleanup(&c->m);
    cs_app_free(c->app);
    cs_free(c);
}
