/*
 * The vault's identities (vault.h): the node key and its ids, the service
 * identity of a new service, node certificates it issues, the welcome a
 * joiner adopts, public copies of the certificates.
 */
#include "node/vault_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/rand.h"
#include "net/attested.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Certificates: valid from an hour ago (clock skew) for 10 years. */
#define CERT_BACKDATE 3600
#define CERT_LIFETIME ((int64_t)3652 * 86400)

consort_err node_vault_new(const char *data_dir, node_vault **out)
{
    CS_ENSURE(strlen(data_dir) < CS_NODE_PATH_MAX, CONSORT_E_INVALID_ARGUMENT,
              "data directory path too long");
    node_vault *v = cs_calloc(1, sizeof *v);
    CS_ENSURE(v != NULL, CONSORT_E_NOMEM, "vault: out of memory");
    memcpy(v->data_dir, data_dir, strlen(data_dir) + 1);
    snprintf(v->node_id, sizeof v->node_id, "(new)");
    cs_buf_init(&v->genesis, (size_t)4 << 20);
    *out = v;
    return CONSORT_OK;
}

/* v->pems (vault_seal.c), wiped. */
static void pems_free(node_vault *v)
{
    for (size_t i = 0; v->pems != NULL && i < 2; i++) {
        cs_key_free(v->pems[i].key);
        cs_buf_cleanup(&v->pems[i].pem);
    }
    cs_free(v->pems);
    v->pems = NULL;
}

void node_vault_free(node_vault *v)
{
    if (v == NULL)
        return;
    cs_key_free(v->node_key);
    cs_key_free(v->service_key);
    cs_x509_free(v->self_cert);
    cs_x509_free(v->node_cert);
    cs_x509_free(v->service_cert);
    for (size_t i = 0; i < v->prev_count; i++)
        cs_x509_free(v->prev_cert[i]);
    cs_buf_cleanup(&v->genesis);
    cs_wipe(v->secret, sizeof v->secret);
    pems_free(v);
    cs_free(v);
}

void node_vault_set_seal(node_vault *v, node_seal *seal)
{
    v->seal = seal;
}

consort_err node_raft_id_of(const char *node_id, uint64_t *out)
{
    uint8_t b[8];
    CS_ENSURE(strlen(node_id) == NODE_VAULT_ID_LEN, CONSORT_E_MALFORMED, "node id \"%s\"", node_id);
    CS_TRY_CTX(cs_hex_decode(node_id, b, sizeof b), "node id");
    uint64_t id = 0;
    for (size_t i = 0; i < sizeof b; i++)
        id = id << 8 | b[i];
    *out = id;
    return CONSORT_OK;
}

consort_err vault_derive_ids(node_vault *v)
{
    CS_TRY(cs_attested_node_id(v->node_key, v->node_id));
    CS_TRY(node_raft_id_of(v->node_id, &v->raft_id));
    char cn[64];
    snprintf(cn, sizeof cn, "consort node %s", v->node_id);
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {
        .subject_cn = cn, .not_before = now - CERT_BACKDATE, .not_after = now + CERT_LIFETIME};
    cs_x509_free(v->self_cert);
    v->self_cert = NULL;
    return cs_x509_create(&p, v->node_key, v->node_key, NULL, &v->self_cert);
}

consort_err node_vault_create_node(node_vault *v)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        cs_key_free(v->node_key);
        v->node_key = NULL;
        CS_TRY_CTX(cs_key_generate(CS_CURVE_P256, &v->node_key), "node key");
        CS_TRY(vault_derive_ids(v));
        if (v->raft_id != 0) /* raft ids are never 0 */
            return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_CRYPTO, "node key: raft id 0 four times");
}

consort_err node_vault_create_recovery(node_vault *v, const char *rpc_address)
{
    CS_ENSURE(v->node_key != NULL && v->service_key == NULL, CONSORT_E_STATE,
              "vault: a service identity needs a new node");
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {.subject_cn = "consort service",
                              .not_before = now - CERT_BACKDATE,
                              .not_after = now + CERT_LIFETIME,
                              .is_ca = true};
    CS_TRY_CTX(cs_key_generate(CS_CURVE_P256, &v->service_key), "service key");
    CS_TRY_CTX(cs_x509_create(&p, v->service_key, v->service_key, NULL, &v->service_cert),
               "service certificate");
    return node_vault_issue(v, v->node_key, v->node_id, rpc_address, &v->node_cert);
}

consort_err node_vault_create_service(node_vault *v, const char *rpc_address)
{
    CS_TRY(node_vault_create_recovery(v, rpc_address));
    CS_TRY_CTX(cs_random(v->secret, sizeof v->secret), "ledger secret");
    v->has_secret = true;
    return CONSORT_OK;
}

/*
 * The host part of "host:port" / "[v6]:port" for the certificate's
 * subjectAltName, so that clients that check host names (curl, browsers)
 * accept the node when they pin the service certificate.
 */
static void rpc_host(const char *rpc_address, char *host, size_t n)
{
    host[0] = '\0';
    const char *colon = rpc_address ? strrchr(rpc_address, ':') : NULL;
    if (colon == NULL)
        return;
    const char *start = rpc_address;
    size_t len = (size_t)(colon - rpc_address);
    if (len >= 2 && start[0] == '[' && start[len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len == 0 || len >= n)
        return;
    memcpy(host, start, len);
    host[len] = '\0';
}

consort_err node_vault_issue(const node_vault *v, const cs_key *subject, const char *node_id,
                             const char *rpc_address, cs_x509 **out)
{
    CS_ENSURE(v->service_key != NULL && v->service_cert != NULL, CONSORT_E_STATE,
              "node %s holds no service identity", v->node_id);
    char cn[64];
    snprintf(cn, sizeof cn, "consort node %s", node_id);
    char host[CS_NODE_ADDR_MAX];
    rpc_host(rpc_address, host, sizeof host);
    unsigned char probe[sizeof(struct in6_addr)];
    bool is_ip = inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1;
    const char *ips[2] = {is_ip ? host : NULL, NULL};
    const char *dns[3] = {"localhost", NULL, NULL};
    if (!is_ip && host[0] != '\0' && strcmp(host, "localhost") != 0)
        dns[1] = host;
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {.subject_cn = cn,
                              .not_before = now - CERT_BACKDATE,
                              .not_after = now + CERT_LIFETIME,
                              .dns = dns,
                              .ips = is_ip ? ips : NULL};
    CS_TRY_CTX(cs_x509_create(&p, subject, v->service_key, v->service_cert, out),
               "node certificate for %s", node_id);
    return CONSORT_OK;
}

bool node_vault_is_service_issued(const node_vault *v, const cs_x509 *cert)
{
    if (v->service_cert == NULL || cert == NULL)
        return false;
    cs_key *svc;
    if (cs_x509_public_key(v->service_cert, &svc) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    bool ok = cs_x509_verify_signature(cert, svc) == CONSORT_OK;
    cs_key_free(svc);
    cs_err_clear();
    return ok;
}

/* ---- the welcome ---- */

static consort_err same_key(const cs_key *a, const cs_key *b, const char *what)
{
    uint8_t ia[32], ib[32];
    CS_TRY(cs_key_id(a, ia));
    CS_TRY(cs_key_id(b, ib));
    CS_ENSURE(memcmp(ia, ib, 32) == 0, CONSORT_E_BAD_CERTIFICATE, "welcome: %s", what);
    return CONSORT_OK;
}

consort_err node_vault_adopt(node_vault *v, const node_vault_welcome *w)
{
    CS_ENSURE(v->service_cert != NULL && v->node_key != NULL, CONSORT_E_STATE,
              "welcome: no pinned service certificate");
    CS_ENSURE(w->ledger_secret.len == CS_LEDGER_SECRET_LEN, CONSORT_E_MALFORMED,
              "welcome: ledger secret of %zu bytes", w->ledger_secret.len);
    cs_buf pinned;
    cs_buf_init(&pinned, 64 << 10);
    cs_key *svc_key = NULL, *cert_key = NULL, *svc_pub = NULL;
    cs_x509 *cert = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(v->service_cert, &pinned), fail);
    CS_ENSURE_GOTO(rc, cs_slice_eq(cs_buf_slice(&pinned), w->service_cert), fail,
                   CONSORT_E_BAD_CERTIFICATE,
                   "welcome: the service certificate is not the pinned one");
    CS_TRY_GOTO(rc, cs_key_from_pem(w->service_key, &svc_key), fail);
    CS_TRY_GOTO(rc, cs_x509_public_key(v->service_cert, &svc_pub), fail);
    CS_TRY_GOTO(rc, same_key(svc_key, svc_pub, "the service key does not match its certificate"),
                fail);
    CS_TRY_GOTO(rc, cs_x509_from_der(w->node_cert, &cert), fail);
    CS_TRY_GOTO(rc, cs_x509_verify_signature(cert, svc_pub), fail);
    CS_TRY_GOTO(rc, cs_x509_public_key(cert, &cert_key), fail);
    CS_TRY_GOTO(rc, same_key(cert_key, v->node_key, "the node certificate is for another key"),
                fail);
    cs_key_free(v->service_key);
    v->service_key = svc_key;
    cs_x509_free(v->node_cert);
    v->node_cert = cert;
    memcpy(v->secret, w->ledger_secret.ptr, CS_LEDGER_SECRET_LEN);
    v->has_secret = true;
    svc_key = NULL;
    cert = NULL;
    rc = CONSORT_OK;
fail:
    cs_buf_cleanup(&pinned);
    cs_key_free(svc_key);
    cs_key_free(cert_key);
    cs_key_free(svc_pub);
    cs_x509_free(cert);
    return rc;
}

/* ---- public copies ---- */

static consort_err write_pem(const char *path, const cs_x509 *cert)
{
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_pem(cert, &pem), out);
    CS_TRY_GOTO(rc, cs_file_write_atomic(path, cs_buf_slice(&pem), 0644), out);
out:
    cs_buf_cleanup(&pem);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", path);
}

consort_err node_vault_write_public(const node_vault *v, const char *service_cert_out)
{
    char path[CS_NODE_PATH_MAX + 32];
    if (v->node_cert != NULL) {
        CS_TRY(cs_path_join(path, sizeof path, v->data_dir, "node_cert.pem"));
        CS_TRY(write_pem(path, v->node_cert));
    }
    if (v->service_cert != NULL) {
        CS_TRY(cs_path_join(path, sizeof path, v->data_dir, "service_cert.pem"));
        CS_TRY(write_pem(path, v->service_cert));
    }
    if (v->service_cert != NULL && service_cert_out != NULL && service_cert_out[0] != '\0')
        CS_TRY_CTX(write_pem(service_cert_out, v->service_cert), "service_cert_out");
    return CONSORT_OK;
}

/* ---- accessors ---- */

const char *node_vault_node_id(const node_vault *v)
{
    return v->node_id;
}

uint64_t node_vault_raft_id(const node_vault *v)
{
    return v->raft_id;
}

const cs_key *node_vault_key(const node_vault *v)
{
    return v->node_key;
}

const cs_x509 *node_vault_self_cert(const node_vault *v)
{
    return v->self_cert;
}

const cs_x509 *node_vault_node_cert(const node_vault *v)
{
    return v->node_cert;
}

const cs_x509 *node_vault_service_cert(const node_vault *v)
{
    return v->service_cert;
}

const cs_key *node_vault_service_key(const node_vault *v)
{
    return v->service_key;
}

const uint8_t *node_vault_secret(const node_vault *v)
{
    return v->has_secret ? v->secret : NULL;
}

uint64_t node_vault_hwm(const node_vault *v)
{
    return v->hwm;
}
