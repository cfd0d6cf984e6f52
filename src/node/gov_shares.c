/*
 * Issuing recovery shares (gov_shares.h): what the current shares were
 * issued for is summed up in a digest; when the members with keys, their
 * keys, the threshold or the service differ from it, the ledger secret is
 * split again under a new epoch and every old share is replaced.
 */
#include "node/gov_priv.h"
#include "node/gov_shares.h"

#include "base/alloc.h"
#include "crypto/hash.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LABEL "consort.recovery.config.v1"

typedef struct holder {
    char id[CS_GOV_ID_HEX_LEN + 1];
    cs_buf pem;
} holder;

typedef struct holders {
    gov_stage *st;
    holder *items;
    size_t count, cap;
    consort_err rc;
} holders;

void node_share_service_id(cs_slice cert_der, uint8_t out[CS_GOV_SHARE_ID_LEN])
{
    cs_sha256(cert_der, out);
}

static void holders_cleanup(holders *h)
{
    for (size_t i = 0; i < h->count; i++)
        cs_buf_cleanup(&h->items[i].pem);
    cs_free(h->items);
}

/* A member's key, if the member exists (a key alone is ignored). */
static bool holder_cb(void *ctx, cs_slice key, cs_slice value)
{
    holders *h = ctx;
    cs_slice der;
    bool member = false;
    char id[CS_GOV_ID_HEX_LEN + 1];
    if (key.len != CS_GOV_ID_HEX_LEN)
        return true;
    memcpy(id, key.ptr, key.len);
    id[key.len] = '\0';
    h->rc = gov_stage_get(h->st, SVC_MAP_MEMBERS, id, &der, &member);
    if (h->rc != CONSORT_OK || !member)
        return h->rc == CONSORT_OK;
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        holder *grown = cs_realloc(h->items, cap * sizeof *grown);
        if (grown == NULL) {
            h->rc = cs_fail(CONSORT_E_NOMEM, "recovery shares");
            return false;
        }
        h->items = grown;
        h->cap = cap;
    }
    holder *m = &h->items[h->count];
    memcpy(m->id, id, sizeof id);
    cs_buf_init(&m->pem, 0);
    h->rc = cs_buf_set(&m->pem, value);
    if (h->rc != CONSORT_OK) {
        cs_buf_cleanup(&m->pem);
        return false;
    }
    h->count++;
    return true;
}

static int holder_cmp(const void *a, const void *b)
{
    return strcmp(((const holder *)a)->id, ((const holder *)b)->id);
}

static consort_err staged_threshold(gov_stage *st, uint64_t *out)
{
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_SETTINGS, SVC_SETTING_THRESHOLD, &v, &found));
    *out = 0;
    if (!found)
        return CONSORT_OK;
    char text[24];
    CS_ENSURE(v.len > 0 && v.len < sizeof text, CONSORT_E_CORRUPT, "recovery_threshold: %zu bytes",
              v.len);
    memcpy(text, v.ptr, v.len);
    text[v.len] = '\0';
    char *end;
    *out = strtoull(text, &end, 10);
    CS_ENSURE(*end == '\0' && text[0] >= '0' && text[0] <= '9', CONSORT_E_CORRUPT,
              "recovery_threshold \"%s\" is not a decimal number", text);
    return CONSORT_OK;
}

/* SHA-256(label || be64 threshold || each holder: id || be32 len || pem). */
static consort_err config_digest(uint64_t threshold, const holders *h, uint8_t out[32])
{
    cs_buf b;
    cs_buf_init(&b, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_buf_append(&b, CONFIG_LABEL, strlen(CONFIG_LABEL)), done);
    CS_TRY_GOTO(rc, cs_buf_append_be64(&b, threshold), done);
    for (size_t i = 0; i < h->count; i++) {
        CS_TRY_GOTO(rc, cs_buf_append(&b, h->items[i].id, CS_GOV_ID_HEX_LEN), done);
        CS_TRY_GOTO(rc, cs_buf_append_be32(&b, (uint32_t)h->items[i].pem.len), done);
        CS_TRY_GOTO(rc, cs_buf_append_slice(&b, cs_buf_slice(&h->items[i].pem)), done);
    }
    cs_sha256(cs_buf_slice(&b), out);
done:
    cs_buf_cleanup(&b);
    return rc;
}

/* ---- the wrapping record ---- */

static consort_err hex32(json_t *o, const char *name, uint8_t out[32])
{
    const char *s = json_string_value(json_object_get(o, name));
    CS_ENSURE(s != NULL && strlen(s) == 64 && cs_hex_decode(s, out, 32) == CONSORT_OK,
              CONSORT_E_CORRUPT, "recovery wrapping: \"%s\" is not 64 hex digits", name);
    return CONSORT_OK;
}

static consort_err wrapping_decode(cs_slice v, node_share_wrapping *w)
{
    json_t *o = json_loadb((const char *)v.ptr, v.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *epoch = json_object_get(o, "epoch"), *k = json_object_get(o, "threshold"),
           *n = json_object_get(o, "members");
    consort_err rc = CONSORT_OK;
    if (!json_is_object(o) || json_object_size(o) != 5 || !json_is_integer(epoch) ||
        !json_is_integer(k) || !json_is_integer(n) || json_integer_value(epoch) < 1 ||
        json_integer_value(k) < 0 || json_integer_value(k) > CS_GOV_SHARES_MAX ||
        json_integer_value(n) < 0 || json_integer_value(n) > CS_GOV_SHARES_MAX) {
        rc = cs_fail(CONSORT_E_CORRUPT, "recovery wrapping: not the record gov_shares.h has");
    } else {
        w->epoch = (uint64_t)json_integer_value(epoch);
        w->threshold = (unsigned)json_integer_value(k);
        w->members = (unsigned)json_integer_value(n);
        rc = hex32(o, "service_id", w->service_id);
        if (rc == CONSORT_OK)
            rc = hex32(o, "config", w->config);
    }
    json_decref(o);
    return rc;
}

static consort_err wrapping_put(gov_stage *st, const node_share_wrapping *w)
{
    char sid[65], cfg[65];
    cs_hex_encode(CS_SLICE(w->service_id, 32), sid);
    cs_hex_encode(CS_SLICE(w->config, 32), cfg);
    json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:I}", "config", cfg, "epoch", (json_int_t)w->epoch,
                          "members", (json_int_t)w->members, "service_id", sid, "threshold",
                          (json_int_t)w->threshold);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "recovery wrapping");
    consort_err rc = gov_stage_put(st, SVC_MAP_RECOVERY, SVC_RECOVERY_WRAPPING, cs_slice_str(text));
    free(text);
    return rc;
}

consort_err node_shares_wrapping(cs_kv_tx *tx, node_share_wrapping *out, bool *found)
{
    cs_slice v;
    memset(out, 0, sizeof *out);
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY), CS_SLICE_LIT(SVC_RECOVERY_WRAPPING), &v,
                     found));
    return *found ? wrapping_decode(v, out) : CONSORT_OK;
}

/* ---- issuing ---- */

typedef struct old_shares {
    char (*ids)[CS_GOV_ID_HEX_LEN + 1];
    size_t count, cap;
    consort_err rc;
} old_shares;

static bool old_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)value;
    old_shares *o = ctx;
    if (key.len != CS_GOV_ID_HEX_LEN)
        return true;
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        void *grown = cs_realloc(o->ids, cap * sizeof *o->ids);
        if (grown == NULL) {
            o->rc = cs_fail(CONSORT_E_NOMEM, "recovery shares");
            return false;
        }
        o->ids = grown;
        o->cap = cap;
    }
    memcpy(o->ids[o->count], key.ptr, key.len);
    o->ids[o->count++][key.len] = '\0';
    return true;
}

static consort_err remove_old(gov_stage *st)
{
    old_shares o = {0};
    consort_err rc = gov_stage_each(st, SVC_MAP_RECOVERY_SHARES, old_cb, &o);
    if (rc == CONSORT_OK)
        rc = o.rc;
    for (size_t i = 0; i < o.count && rc == CONSORT_OK; i++)
        rc = gov_stage_remove(st, SVC_MAP_RECOVERY_SHARES, o.ids[i]);
    cs_free(o.ids);
    return rc;
}

static consort_err split_and_put(gov_stage *st, const node_share_keys *k, unsigned threshold,
                                 const holders *h, const cs_gov_share_binding *b)
{
    cs_gov_share_recipient *to = cs_calloc(h->count, sizeof *to);
    cs_buf *out = cs_calloc(h->count, sizeof *out);
    consort_err rc = CONSORT_OK;
    if (to == NULL || out == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "recovery shares");
    for (size_t i = 0; i < h->count && rc == CONSORT_OK; i++) {
        cs_buf_init(&out[i], CS_GOV_SHARE_ENC_MAX);
        rc = cs_hex_decode(h->items[i].id, to[i].member_id, CS_GOV_SHARE_ID_LEN);
        to[i].enc_pub_pem = cs_buf_slice(&h->items[i].pem);
    }
    if (rc == CONSORT_OK)
        rc = cs_gov_shares_split(CS_SLICE(k->ledger_secret, CS_LEDGER_SECRET_LEN), threshold, b, to,
                                 h->count, out);
    for (size_t i = 0; i < h->count && rc == CONSORT_OK; i++)
        rc = gov_stage_put(st, SVC_MAP_RECOVERY_SHARES, h->items[i].id, cs_buf_slice(&out[i]));
    for (size_t i = 0; out != NULL && i < h->count; i++)
        cs_buf_cleanup(&out[i]);
    cs_free(out);
    cs_free(to);
    return rc;
}

static consort_err refresh(gov_stage *st, const node_share_keys *k, holders *h)
{
    uint64_t threshold;
    CS_TRY(staged_threshold(st, &threshold));
    CS_TRY(gov_stage_each(st, SVC_MAP_MEMBER_KEYS, holder_cb, h));
    CS_TRY(h->rc);
    if (h->count > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(h->items, h->count, sizeof *h->items, holder_cmp);
    node_share_wrapping w = {0}, old = {0};
    CS_TRY(config_digest(threshold, h, w.config));
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_RECOVERY, SVC_RECOVERY_WRAPPING, &v, &found));
    if (found)
        CS_TRY(wrapping_decode(v, &old));
    if (!found && threshold == 0)
        return CONSORT_OK; /* never issued, nothing to issue */
    if (found && memcmp(old.config, w.config, 32) == 0 &&
        (k == NULL || memcmp(old.service_id, k->service_id, 32) == 0))
        return CONSORT_OK; /* issued for exactly this */
    CS_ENSURE(k != NULL && k->ledger_secret != NULL, CONSORT_E_STATE,
              "recovery shares must be issued again, and this node was given no ledger secret");
    CS_ENSURE(threshold <= h->count && h->count <= CS_GOV_SHARES_MAX, CONSORT_E_POLICY,
              "the recovery threshold %llu needs at least as many members with an encryption key "
              "(there are %zu; at most %d)",
              (unsigned long long)threshold, h->count, CS_GOV_SHARES_MAX);
    w.epoch = old.epoch + 1;
    w.threshold = (unsigned)threshold;
    w.members = threshold > 0 ? (unsigned)h->count : 0;
    memcpy(w.service_id, k->service_id, 32);
    CS_TRY(remove_old(st));
    if (threshold > 0) {
        cs_gov_share_binding b = {.epoch = w.epoch};
        memcpy(b.service_id, k->service_id, 32);
        CS_TRY_CTX(split_and_put(st, k, w.threshold, h, &b), "recovery shares");
    }
    return wrapping_put(st, &w);
}

consort_err gov_shares_refresh(gov_stage *st, const node_share_keys *k)
{
    holders h = {.st = st};
    consort_err rc = refresh(st, k, &h);
    holders_cleanup(&h);
    return rc;
}

consort_err node_shares_issue(cs_kv_tx *tx, const node_share_keys *k)
{
    gov_stage st;
    gov_stage_init(&st, tx);
    consort_err rc = gov_shares_refresh(&st, k);
    if (rc == CONSORT_OK)
        rc = gov_stage_flush(&st);
    gov_stage_cleanup(&st);
    return rc;
}
