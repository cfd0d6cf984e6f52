/*
 * The code lineage governance approved (svc_lineage.h).
 */
#include "node/svc_lineage.h"

#include "base/alloc.h"
#include "crypto/hash.h"
#include "node/service_maps.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The most update records a walk reads. */
#define LINK_MAX 1024

typedef struct update_link {
    uint8_t successor[32];
    uint8_t predecessor[32];
} update_link;

typedef struct update_links {
    update_link *v;
    size_t n, cap;
    consort_err rc;
} update_links;

static bool hex_id(cs_slice s, uint8_t out[32])
{
    char hex[65];
    if (s.len != 64)
        return false;
    memcpy(hex, s.ptr, 64);
    hex[64] = '\0';
    bool ok = cs_hex_decode(hex, out, 32) == CONSORT_OK;
    cs_err_clear();
    return ok;
}

static bool update_cb(void *ctx, cs_slice key, cs_slice value)
{
    update_links *l = ctx;
    update_link k;
    json_t *u = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    const json_t *pred = u != NULL ? json_object_get(u, "successor_of") : NULL;
    const char *p = json_is_string(pred) ? json_string_value(pred) : NULL;
    bool ok = p != NULL && hex_id(key, k.successor) && hex_id(cs_slice_str(p), k.predecessor);
    json_decref(u);
    if (!ok) {
        l->rc = cs_fail(CONSORT_E_CORRUPT, "the update record of %.*s does not parse",
                        (int)(key.len > 64 ? 64 : key.len), (const char *)key.ptr);
        return false;
    }
    if (l->n == l->cap) {
        if (l->cap == LINK_MAX) {
            l->rc = cs_fail(CONSORT_E_TOO_LARGE, "more than %d update records", LINK_MAX);
            return false;
        }
        size_t cap = l->cap ? l->cap * 2 : 8;
        update_link *v = cs_realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->rc = cs_fail(CONSORT_E_NOMEM, "update records");
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = k;
    return true;
}

static bool trusted(cs_kv_tx *tx, const uint8_t id[32])
{
    char hex[65];
    cs_hex_encode(CS_SLICE(id, 32), hex);
    cs_slice v;
    bool found = false;
    bool ok =
        cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), cs_slice_str(hex), &v, &found) == CONSORT_OK;
    cs_err_clear();
    return ok && found && cs_slice_eq(v, CS_SLICE_LIT(SVC_CODE_ID_OK));
}

static bool listed(uint8_t (*ids)[32], size_t n, const uint8_t id[32])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(ids[i], id, 32) == 0)
            return true;
    return false;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

consort_err svc_lineage_successors(cs_kv_store *kv, const uint8_t self[32], uint8_t (*out)[32],
                                   size_t max, size_t *count)
{
    *count = 0;
    update_links l = {.rc = CONSORT_OK};
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin_committed(kv, &tx));
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), update_cb, &l), done);
    CS_TRY_GOTO(rc, l.rc, done);
    /* Breadth first from self: out[0..n) is both the result and the queue. */
    size_t n = 0;
    const uint8_t *from = self;
    for (size_t next = 0;; next++) {
        for (size_t i = 0; i < l.n; i++) {
            const update_link *k = &l.v[i];
            if (memcmp(k->predecessor, from, 32) != 0 || memcmp(k->successor, self, 32) == 0 ||
                listed(out, n, k->successor) || !trusted(tx, k->successor))
                continue;
            CS_ENSURE_GOTO(rc, n < max, done, CONSORT_E_TOO_LARGE,
                           "more than %zu approved successors", max);
            memcpy(out[n++], k->successor, 32);
        }
        if (next == n)
            break;
        from = out[next];
    }
    qsort(out, n, sizeof *out, cmp_id);
    *count = n;
done:
    cs_free(l.v);
    cs_kv_tx_free(tx);
    return rc;
}
