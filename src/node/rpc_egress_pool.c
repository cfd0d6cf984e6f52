/*
 * Idle connections for outbound calls (rpc_priv.h rpc_egress_pool): a call
 * to a service takes an open one to the same address, verified against the
 * same service certificate, rather than making a TLS handshake; after a
 * good answer rpc_egress.c puts it back.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "crypto/hash.h"
#include "node/gov_egress.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

/* Idle connections kept, over every service: as many as calls a node has
 * out at once under load, so that each call in a steady stream finds one
 * (with 32, a front-end with 64 calls out made a TLS handshake for about
 * every other call, and its CPU per write tripled). Each holds a
 * descriptor and its TLS buffers while idle, at most POOL_IDLE_NS. */
#define POOL_MAX 256
/* How long a connection may stay idle before it is no longer used: well
 * under the server's idle timeout (CS_HTTP_DEFAULT_IDLE_TIMEOUT_MS, 60 s),
 * so that a call does not go out on a connection the server is closing
 * (a call is never sent twice: app.h, at most once per request). */
#define POOL_IDLE_NS ((uint64_t)20 * 1000 * 1000 * 1000)

typedef struct idle_conn {
    cs_http_client *client;
    char address[128];
    uint8_t cert_fp[32]; /* the service certificate it was verified against */
    uint64_t since;      /* uv_hrtime() when it went idle */
} idle_conn;

/* Bindings parsed once (a certificate costs more to parse than a call to
 * make): by name and the SHA-256 of the stored JSON, so a new binding is
 * parsed anew. */
#define BINDINGS_MAX 16
typedef struct parsed_binding {
    char name[GOV_EGRESS_NAME_MAX];
    uint8_t digest[32];
    gov_egress_binding b;
} parsed_binding;

struct rpc_egress_pool {
    idle_conn idle[POOL_MAX];
    size_t count;
    parsed_binding bindings[BINDINGS_MAX];
    size_t n_bindings, next_evict;
};

consort_err cs_rpc_egress_pool_new(rpc_egress_pool **out)
{
    *out = cs_calloc(1, sizeof **out);
    CS_ENSURE(*out != NULL, CONSORT_E_NOMEM, "egress pool");
    return CONSORT_OK;
}

void cs_rpc_egress_pool_free(rpc_egress_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->count; i++)
        cs_http_client_free(p->idle[i].client);
    for (size_t i = 0; i < p->n_bindings; i++)
        gov_egress_binding_cleanup(&p->bindings[i].b);
    cs_free(p);
}

cs_http_client *cs_rpc_egress_pool_take(rpc_egress_pool *p, const char *address,
                                        const uint8_t fp[32])
{
    const uint64_t now = uv_hrtime();
    /* the most recently used first: with one service, the first one matches */
    for (size_t i = p != NULL ? p->count : 0; i-- > 0;) {
        idle_conn *c = &p->idle[i];
        bool open = cs_http_client_is_open(c->client) && now - c->since < POOL_IDLE_NS;
        bool match = open && strcmp(c->address, address) == 0 && memcmp(c->cert_fp, fp, 32) == 0;
        if (!open || match) {
            cs_http_client *client = c->client;
            p->idle[i] = p->idle[--p->count];
            if (match)
                return client;
            cs_http_client_free(client);
        }
    }
    return NULL;
}

void cs_rpc_egress_pool_put(rpc_egress_pool *p, cs_http_client *client, const char *address,
                            const uint8_t fp[32])
{
    if (p == NULL || p->count == POOL_MAX || !cs_http_client_is_open(client) ||
        cs_http_client_pending(client) > 0) {
        cs_http_client_free(client);
        return;
    }
    idle_conn *c = &p->idle[p->count++];
    c->client = client;
    snprintf(c->address, sizeof c->address, "%s", address);
    memcpy(c->cert_fp, fp, 32);
    c->since = uv_hrtime();
}

consort_err cs_rpc_egress_binding(rpc_egress_pool *p, const char *name, cs_slice value,
                                  char address[128], cs_x509 **cert)
{
    uint8_t d[32];
    cs_sha256(value, d);
    for (size_t i = 0; p != NULL && i < p->n_bindings; i++) {
        parsed_binding *e = &p->bindings[i];
        if (strcmp(e->name, name) == 0 && memcmp(e->digest, d, 32) == 0) {
            snprintf(address, 128, "%s", e->b.address);
            *cert = cs_x509_ref(e->b.service_cert);
            return CONSORT_OK;
        }
    }
    gov_egress_binding b;
    consort_err rc = gov_egress_parse(name, value, &b);
    if (rc != CONSORT_OK) {
        gov_egress_binding_cleanup(&b);
        return rc;
    }
    snprintf(address, 128, "%s", b.address);
    *cert = cs_x509_ref(b.service_cert);
    if (p == NULL) { /* the rpc is stopping: nothing kept */
        gov_egress_binding_cleanup(&b);
        return CONSORT_OK;
    }
    parsed_binding *e;
    if (p->n_bindings < BINDINGS_MAX) {
        e = &p->bindings[p->n_bindings++];
    } else { /* the oldest goes */
        e = &p->bindings[p->next_evict++ % BINDINGS_MAX];
        gov_egress_binding_cleanup(&e->b);
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    memcpy(e->digest, d, 32);
    e->b = b;
    return CONSORT_OK;
}
