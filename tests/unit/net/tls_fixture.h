/*
 * The certificates and TLS configurations the TLS stream tests share
 * (test_tls_stream.c, test_tls_gather.c): a service CA and another, a
 * server, a client and an expired certificate, pinned roots for each CA.
 */
#ifndef CST_TLS_FIXTURE_H
#define CST_TLS_FIXTURE_H

#include "xfer_fixture.h"

#include "net/tcp.h"
#include "net/tls_stream.h"

#include <stdio.h>

typedef struct pki {
    cst_pki ca, other;
    cs_key *server_key, *client_key, *old_key;
    cs_x509 *server_cert, *client_cert, *old_cert; /* old: expired an hour ago */
    cs_x509 *roots[1], *other_roots[1];
    cs_tls_pinned pin, other_pin;
} pki;

static inline int tls_setup(void **state)
{
    static pki p;
    memset(&p, 0, sizeof p);
    cst_pki_init(&p.ca, "service CA");
    cst_pki_init(&p.other, "another CA");
    cst_pki_issue(&p.ca, "server", -60, 3600, &p.server_key, &p.server_cert);
    cst_pki_issue(&p.ca, "client", -60, 3600, &p.client_key, &p.client_cert);
    cst_pki_issue(&p.ca, "expired", -7200, -3600, &p.old_key, &p.old_cert);
    p.roots[0] = p.ca.ca;
    p.other_roots[0] = p.other.ca;
    p.pin = (cs_tls_pinned){.roots = p.roots, .root_count = 1};
    p.other_pin = (cs_tls_pinned){.roots = p.other_roots, .root_count = 1};
    *state = &p;
    return 0;
}

static inline int tls_teardown(void **state)
{
    pki *p = *state;
    cs_key_free(p->server_key);
    cs_key_free(p->client_key);
    cs_key_free(p->old_key);
    cs_x509_free(p->server_cert);
    cs_x509_free(p->client_cert);
    cs_x509_free(p->old_cert);
    cst_pki_cleanup(&p->ca);
    cst_pki_cleanup(&p->other);
    return 0;
}

static inline cs_tls_config *make_server(pki *p, const cs_key *key, const cs_x509 *cert,
                                         cs_tls_client_auth auth)
{
    const cs_tls_params params = {.role = CS_TLS_SERVER,
                                  .key = key,
                                  .cert = cert,
                                  .client_auth = auth,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = &p->pin};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

static inline cs_tls_config *make_client(cs_tls_pinned *pin, const cs_key *key, const cs_x509 *cert)
{
    const cs_tls_params params = {.role = CS_TLS_CLIENT,
                                  .key = key,
                                  .cert = cert,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = pin};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

#endif
