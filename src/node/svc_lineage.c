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

/* Every update record of `tx` into *l (l->v owned by the caller). */
static consort_err read_links(cs_kv_tx *tx, update_links *l)
{
    *l = (update_links){.rc = CONSORT_OK};
    CS_TRY(cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), update_cb, l));
    return l->rc;
}

/* Breadth first from `self` along the links, forwards (to successors,
 * trusted ones only) or backwards (to predecessors): out[0..n) is both the
 * result and the queue. */
static consort_err walk(cs_kv_tx *tx, const update_links *l, const uint8_t self[32], bool forwards,
                        uint8_t (*out)[32], size_t max, size_t *count)
{
    size_t n = 0;
    const uint8_t *from = self;
    for (size_t next = 0;; next++) {
        for (size_t i = 0; i < l->n; i++) {
            const update_link *k = &l->v[i];
            const uint8_t *src = forwards ? k->predecessor : k->successor;
            const uint8_t *dst = forwards ? k->successor : k->predecessor;
            if (memcmp(src, from, 32) != 0 || memcmp(dst, self, 32) == 0 || listed(out, n, dst) ||
                (forwards && !trusted(tx, dst)))
                continue;
            CS_ENSURE(n < max, CONSORT_E_TOO_LARGE, "more than %zu approved %s", max,
                      forwards ? "successors" : "predecessors");
            memcpy(out[n++], dst, 32);
        }
        if (next == n)
            break;
        from = out[next];
    }
    qsort(out, n, sizeof *out, cmp_id);
    *count = n;
    return CONSORT_OK;
}

consort_err svc_lineage_in(cs_kv_tx *tx, const uint8_t self[32], bool successors,
                           uint8_t (*out)[32], size_t max, size_t *count)
{
    *count = 0;
    update_links l;
    consort_err rc = read_links(tx, &l);
    if (rc == CONSORT_OK)
        rc = walk(tx, &l, self, successors, out, max, count);
    cs_free(l.v);
    return rc;
}

consort_err svc_lineage_successors(cs_kv_store *kv, const uint8_t self[32], uint8_t (*out)[32],
                                   size_t max, size_t *count)
{
    *count = 0;
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin_committed(kv, &tx));
    consort_err rc = svc_lineage_in(tx, self, true, out, max, count);
    cs_kv_tx_free(tx);
    return rc;
}
