/*
 * Identities (service.md "Identities"; node.md "Identities and sealed
 * state"): the node key created inside the node, its ids, the service
 * identity of a new service and the node certificates it issues.
 *
 *   node_id = hex of the first 8 bytes of SHA-256(node key SPKI DER)
 *   raft id = the same 8 bytes as a big-endian u64 (never 0)
 */
#include "node/node_priv.h"

#include "base/file.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

/* Certificates: valid from an hour ago (clock skew) for 10 years. */
#define CERT_BACKDATE 3600
#define CERT_LIFETIME ((int64_t)3652 * 86400)

consort_err node_raft_id_of(const char *node_id, uint64_t *out)
{
    uint8_t b[8];
    CS_ENSURE(strlen(node_id) == CS_NODE_ID_LEN, CONSORT_E_MALFORMED, "node id \"%s\"", node_id);
    CS_TRY_CTX(cs_hex_decode(node_id, b, sizeof b), "node id");
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof b; i++)
        v = v << 8 | b[i];
    *out = v;
    return CONSORT_OK;
}

static consort_err self_signed(cs_node *n)
{
    char cn[64];
    snprintf(cn, sizeof cn, "consort node %s", n->node_id);
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {
        .subject_cn = cn, .not_before = now - CERT_BACKDATE, .not_after = now + CERT_LIFETIME};
    cs_x509_free(n->self_cert);
    n->self_cert = NULL;
    return cs_x509_create(&p, n->node_key, n->node_key, NULL, &n->self_cert);
}

consort_err node_identity_derive(cs_node *n)
{
    CS_TRY(cs_attested_node_id(n->node_key, n->node_id));
    CS_TRY(node_raft_id_of(n->node_id, &n->raft_id));
    return self_signed(n);
}

consort_err node_identity_create(cs_node *n)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        cs_key_free(n->node_key);
        n->node_key = NULL;
        CS_TRY_CTX(cs_key_generate(CS_CURVE_P256, &n->node_key), "node key");
        CS_TRY(node_identity_derive(n));
        if (n->raft_id != 0) /* node.md: the raft id is never 0 */
            return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_CRYPTO, "node key: raft id 0 four times");
}

consort_err node_identity_create_service(cs_node *n)
{
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params p = {.subject_cn = "consort service",
                              .not_before = now - CERT_BACKDATE,
                              .not_after = now + CERT_LIFETIME,
                              .is_ca = true};
    CS_TRY_CTX(cs_key_generate(CS_CURVE_P256, &n->service_key), "service key");
    CS_TRY_CTX(cs_x509_create(&p, n->service_key, n->service_key, NULL, &n->service_cert),
               "service certificate");
    CS_TRY_CTX(cs_random(n->ledger_secret, sizeof n->ledger_secret), "ledger secret");
    node_keys_set(n, n->ledger_secret);
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

consort_err node_identity_issue(cs_node *n, const cs_key *subject, const char *node_id,
                                const char *rpc_address, cs_x509 **out)
{
    CS_ENSURE(n->service_key != NULL && n->service_cert != NULL, CONSORT_E_STATE,
              "node %s holds no service identity", n->node_id);
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
    CS_TRY_CTX(cs_x509_create(&p, subject, n->service_key, n->service_cert, out),
               "node certificate for %s", node_id);
    return CONSORT_OK;
}

static consort_err write_pem(const cs_node *n, const char *name, const cs_x509 *cert)
{
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY(cs_path_join(path, sizeof path, n->cfg.data_dir, name));
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    consort_err rc = cs_x509_to_pem(cert, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(path, cs_buf_slice(&pem), 0644);
    cs_buf_cleanup(&pem);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", path);
}

consort_err node_identity_write_public(cs_node *n)
{
    if (n->node_cert != NULL)
        CS_TRY(write_pem(n, "node_cert.pem", n->node_cert));
    if (n->service_cert != NULL)
        CS_TRY(write_pem(n, "service_cert.pem", n->service_cert));
    if (n->service_cert != NULL && n->cfg.mode == CS_NODE_START &&
        n->cfg.service_cert_out[0] != '\0') {
        cs_buf pem;
        cs_buf_init(&pem, 64 << 10);
        consort_err rc = cs_x509_to_pem(n->service_cert, &pem);
        if (rc == CONSORT_OK)
            rc = cs_file_write_atomic(n->cfg.service_cert_out, cs_buf_slice(&pem), 0644);
        cs_buf_cleanup(&pem);
        CS_TRY_CTX(rc, "service_cert_out %s", n->cfg.service_cert_out);
    }
    return CONSORT_OK;
}
