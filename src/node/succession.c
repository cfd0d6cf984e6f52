/* The service key in the private state, and the succession transaction (succession.h). */
#include "node/succession.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <string.h>

consort_err node_service_key_put(cs_kv_tx *tx, const cs_key *key)
{
    cs_buf pem;
    cs_buf_init_secret(&pem, 16 << 10);
    consort_err rc = cs_key_private_pem(key, &pem);
    if (rc == CONSORT_OK)
        rc = cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE_PRIVATE),
                       CS_SLICE_LIT(SVC_SERVICE_PRIVATE_KEY), cs_buf_slice(&pem));
    cs_buf_cleanup(&pem);
    return rc;
}

consort_err node_service_key_get(cs_kv_tx *tx, cs_key **out)
{
    *out = NULL;
    cs_slice pem;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_SERVICE_PRIVATE),
                     CS_SLICE_LIT(SVC_SERVICE_PRIVATE_KEY), &pem, &found));
    if (!found)
        return CONSORT_OK;
    CS_TRY_CTX(cs_key_from_pem(pem, out), "the service key in %s", SVC_MAP_SERVICE_PRIVATE);
    return CONSORT_OK;
}

consort_err node_succession_done(cs_kv_tx *tx, const cs_x509 *cert, bool *done)
{
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    cs_slice v;
    bool found = false;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(cert, &der), out);
    CS_TRY_GOTO(
        rc, cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_SERVICE_KEY), &v, &found),
        out);
    *done = found && cs_slice_eq(v, cs_buf_slice(&der));
out:
    cs_buf_cleanup(&der);
    return rc;
}

/* ---- the transaction ---- */

typedef struct retire_ctx {
    cs_kv_tx *tx;
    const char *keep;
    consort_err rc;
} retire_ctx;

static bool retire_cb(void *ctx, cs_slice key, cs_slice value)
{
    retire_ctx *c = ctx;
    node_record r;
    node_record_init(&r);
    cs_buf enc;
    cs_buf_init(&enc, 1 << 20);
    if (cs_slice_eq(key, cs_slice_str(c->keep)) || node_record_decode(value, &r) != CONSORT_OK ||
        strcmp(r.status, "Retired") == 0) {
        cs_err_clear(); /* ours, an unreadable record (left as it is), or retired already */
    } else {
        snprintf(r.status, sizeof r.status, "Retired");
        c->rc = node_record_encode(&r, &enc);
        if (c->rc == CONSORT_OK)
            c->rc = cs_kv_put(c->tx, CS_SLICE_LIT(SVC_MAP_NODES), key, cs_buf_slice(&enc));
    }
    cs_buf_cleanup(&enc);
    node_record_cleanup(&r);
    return c->rc == CONSORT_OK;
}

/* Every node of the previous service is gone: retired; this one is trusted. */
static consort_err nodes(const node_succession *s, cs_kv_tx *tx)
{
    retire_ctx c = {.tx = tx, .keep = s->node_id, .rc = CONSORT_OK};
    CS_TRY(cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_NODES), retire_cb, &c));
    CS_TRY(c.rc);
    return svc_record_put(tx, s->node_id, s->record);
}

static consort_err code_id(const node_succession *s, cs_kv_tx *tx)
{
    char hex[65];
    cs_hex_encode(CS_SLICE(s->record->code_id, 32), hex);
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), cs_slice_str(hex), &v, &found));
    CS_ENSURE(!found || !cs_slice_eq(v, CS_SLICE_LIT(SVC_CODE_ID_RETIRED)), CONSORT_E_POLICY,
              "this node's code id %s was retired by governance: a recovery node must run code "
              "the service has not retired",
              hex);
    return found ? CONSORT_OK : svc_put_code_id(tx, s->record->code_id);
}

static consort_err endorse(const node_succession *s, cs_kv_tx *tx, const cs_key *previous_key)
{
    cs_buf rec, der;
    cs_buf_init(&rec, CS_SUCCESSION_MAX);
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    const cs_succession_params p = {.previous_cert = s->previous_cert,
                                    .previous_key = previous_key,
                                    .next_cert = s->next_cert,
                                    .next_key = s->next_key,
                                    .last_term = s->last_term,
                                    .last_seqno = s->last_seqno};
    uint8_t digest[32];
    char hex[65];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_succession_sign(&p, &rec), out);
    CS_TRY_GOTO(rc, cs_x509_to_der(s->previous_cert, &der), out);
    cs_sha256(cs_buf_slice(&der), digest);
    cs_hex_encode(CS_SLICE(digest, 32), hex);
    CS_TRY_GOTO(
        rc,
        cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_PREVIOUS_IDS), cs_slice_str(hex), cs_buf_slice(&rec)),
        out);
    cs_buf_reset(&der);
    CS_TRY_GOTO(rc, cs_x509_to_der(s->next_cert, &der), out);
    rc = cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_SERVICE_KEY),
                   cs_buf_slice(&der));
out:
    cs_buf_cleanup(&rec);
    cs_buf_cleanup(&der);
    return rc;
}

consort_err node_succession_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    const node_succession *s = ctx;
    memset(out, 0, sizeof *out);
    cs_key *previous_key = NULL;
    CS_TRY(node_service_key_get(tx, &previous_key));
    CS_ENSURE(previous_key != NULL, CONSORT_E_STATE,
              "the recovered state holds no service key (%s): the previous identity cannot "
              "endorse the new one",
              SVC_MAP_SERVICE_PRIVATE);
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, endorse(s, tx, previous_key), done, "succession record");
    CS_TRY_GOTO(rc, node_service_key_put(tx, s->next_key), done);
    CS_TRY_GOTO(rc,
                cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_STATUS_KEY),
                          CS_SLICE_LIT(SVC_STATUS_OPENING)),
                done);
    CS_TRY_GOTO(rc, nodes(s, tx), done);
    CS_TRY_GOTO(rc, code_id(s, tx), done);
    for (size_t i = 0; s->anchors != NULL && i < s->anchors->count; i++)
        CS_TRY_GOTO(rc, svc_put_by_digest(tx, SVC_MAP_ANCHORS, cs_buf_slice(&s->anchors->items[i])),
                    done);
    CS_TRY_GOTO(rc, node_shares_issue(tx, &s->shares), done);
    out->commit = true;
done:
    cs_key_free(previous_key);
    return rc;
}
