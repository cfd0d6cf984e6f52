/*
 * The vault's side of a recovery (vault.h "recovery"; docs/recovery.md): the
 * identity a recovering node recovers, pinned at its first start, and what
 * the recovery leaves behind: the rebuilt ledger secret and the identities
 * the recovered service succeeded, sealed with the rest.
 */
#include "node/vault_priv.h"

#include <string.h>

consort_err node_vault_pin_previous(node_vault *v, const char *path)
{
    CS_ENSURE(!v->has_secret, CONSORT_E_STATE,
              "node %s holds a ledger secret: it is not recovering a service", v->node_id);
    cs_x509 *pinned;
    CS_TRY_CTX(cs_x509_load_file(path, &pinned), "previous service certificate");
    if (v->prev_count == 0) {
        v->prev_cert[0] = pinned;
        v->prev_last[0] = 0;
        v->prev_count = 1;
        return CONSORT_OK;
    }
    uint8_t a[32], b[32];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_fingerprint(pinned, a), done);
    CS_TRY_GOTO(rc, cs_x509_fingerprint(v->prev_cert[v->prev_count - 1], b), done);
    CS_ENSURE_GOTO(rc, memcmp(a, b, 32) == 0, done, CONSORT_E_BAD_CERTIFICATE,
                   "%s is not the certificate of the service this node started to recover", path);
done:
    cs_x509_free(pinned);
    return rc;
}

const cs_x509 *node_vault_recovering(const node_vault *v)
{
    if (v->has_secret || v->prev_count == 0 || v->prev_last[v->prev_count - 1] != 0)
        return NULL;
    return v->prev_cert[v->prev_count - 1];
}

consort_err node_vault_recovered(node_vault *v, const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                 const cs_ledger_identity *ids, size_t count)
{
    CS_ENSURE(node_vault_recovering(v) != NULL, CONSORT_E_STATE, "vault: not recovering");
    CS_ENSURE(count >= 1 && count <= NODE_VAULT_PREV_MAX && ids[count - 1].last_seqno > 0,
              CONSORT_E_INVALID_ARGUMENT, "vault: %zu previous identities", count);
    cs_x509 *copies[NODE_VAULT_PREV_MAX] = {0};
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    consort_err rc = CONSORT_OK;
    for (size_t i = 0; i < count && rc == CONSORT_OK; i++) {
        cs_buf_reset(&der);
        rc = cs_x509_to_der(ids[i].cert, &der);
        if (rc == CONSORT_OK)
            rc = cs_x509_from_der(cs_buf_slice(&der), &copies[i]);
    }
    cs_buf_cleanup(&der);
    if (rc != CONSORT_OK) {
        for (size_t i = 0; i < count; i++)
            cs_x509_free(copies[i]);
        return rc;
    }
    for (size_t i = 0; i < v->prev_count; i++)
        cs_x509_free(v->prev_cert[i]);
    for (size_t i = 0; i < count; i++) {
        v->prev_cert[i] = copies[i];
        v->prev_last[i] = ids[i].last_seqno;
    }
    v->prev_count = count;
    memcpy(v->secret, secret, CS_LEDGER_SECRET_LEN);
    v->has_secret = true;
    if (ids[count - 1].last_seqno > v->hwm)
        v->hwm = ids[count - 1].last_seqno;
    return CONSORT_OK;
}

size_t node_vault_identities(const node_vault *v, cs_ledger_identity *out)
{
    size_t n = 0;
    for (size_t i = 0; i < v->prev_count; i++)
        out[n++] = (cs_ledger_identity){.cert = v->prev_cert[i], .last_seqno = v->prev_last[i]};
    if (v->service_cert != NULL)
        out[n++] = (cs_ledger_identity){.cert = v->service_cert};
    return n;
}

consort_err node_vault_pin_service(node_vault *v, const char *path)
{
    cs_x509 *pinned;
    CS_TRY_CTX(cs_x509_load_file(path, &pinned), "pinned service certificate");
    if (v->service_cert == NULL) {
        v->service_cert = pinned;
        return CONSORT_OK;
    }
    uint8_t a[32], b[32];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_fingerprint(pinned, a), done);
    CS_TRY_GOTO(rc, cs_x509_fingerprint(v->service_cert, b), done);
    CS_ENSURE_GOTO(rc, memcmp(a, b, 32) == 0, done, CONSORT_E_BAD_CERTIFICATE,
                   "%s is not the certificate of the service this node belongs to", path);
done:
    cs_x509_free(pinned);
    return rc;
}
