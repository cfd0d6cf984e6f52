/* The documents GET /gov serves (gov.h), over a read transaction. */
#include "node/gov_priv.h"

#include "crypto/hash.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Dumps `doc` (taking it; NULL means out of memory) into `out`. */
static consort_err dump(json_t *doc, cs_buf *out)
{
    CS_ENSURE(doc != NULL, CONSORT_E_NOMEM, "governance document");
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "governance document");
    consort_err rc = cs_buf_append_slice(out, cs_slice_str(text));
    free(text);
    return rc;
}

typedef struct list_ctx {
    json_t *arr;
    consort_err rc;
} list_ctx;

static bool proposal_cb(void *ctx, cs_slice key, cs_slice value)
{
    list_ctx *l = ctx;
    json_t *rec = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    json_t *item = json_pack("{s:s%, s:O?, s:O?, s:I}", "proposal_id", (const char *)key.ptr,
                             key.len, "proposer_id", json_object_get(rec, "proposer_id"), "state",
                             json_object_get(rec, "state"), "ballot_count",
                             (json_int_t)json_array_size(json_object_get(rec, "ballots")));
    json_decref(rec);
    if (item == NULL || json_array_append_new(l->arr, item) != 0) {
        l->rc = cs_fail(CONSORT_E_NOMEM, "proposal list");
        return false;
    }
    return true;
}

consort_err node_gov_proposals_json(cs_kv_tx *tx, cs_buf *out)
{
    list_ctx l = {.arr = json_array(), .rc = CONSORT_OK};
    CS_ENSURE(l.arr != NULL, CONSORT_E_NOMEM, "proposal list");
    consort_err rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_PROPOSALS), proposal_cb, &l);
    if (rc == CONSORT_OK)
        rc = l.rc;
    if (rc != CONSORT_OK) {
        json_decref(l.arr);
        return rc;
    }
    return dump(json_pack("{s:o}", "proposals", l.arr), out);
}

consort_err node_gov_proposal_json(cs_kv_tx *tx, const char *id, cs_buf *out)
{
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_PROPOSALS), cs_slice_str(id), &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "no proposal %s", id);
    json_t *rec = json_loadb((const char *)v.ptr, v.len, 0, NULL);
    CS_ENSURE(json_is_object(rec), CONSORT_E_CORRUPT, "proposal %s: the record does not parse", id);
    if (json_object_set_new(rec, "proposal_id", json_string(id)) != 0) {
        json_decref(rec);
        return cs_fail(CONSORT_E_NOMEM, "proposal");
    }
    return dump(rec, out);
}

consort_err node_gov_constitution(cs_kv_tx *tx, cs_buf *out)
{
    cs_slice script;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CONSTITUTION), CS_SLICE_LIT(SVC_CONSTITUTION_KEY),
                     &script, &found));
    if (!found) {
        size_t len;
        const char *def = cs_constitution_default_script(&len);
        script = CS_SLICE(def, len);
    }
    return cs_buf_append_slice(out, script);
}

bool node_gov_service_open(cs_kv_tx *tx)
{
    cs_slice v;
    bool found = false;
    bool ok = cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_STATUS_KEY), &v,
                        &found) == CONSORT_OK;
    cs_err_clear();
    return ok && found && cs_slice_eq(v, CS_SLICE_LIT(SVC_STATUS_OPEN));
}

/* ---- GET /gov/service ---- */

static bool code_cb(void *ctx, cs_slice key, cs_slice value)
{
    list_ctx *l = ctx;
    json_t *item = json_pack("{s:s%, s:s%}", "code_id", (const char *)key.ptr, key.len, "status",
                             (const char *)value.ptr, value.len);
    if (item == NULL || json_array_append_new(l->arr, item) != 0) {
        l->rc = cs_fail(CONSORT_E_NOMEM, "code ids");
        return false;
    }
    return true;
}

static bool update_cb(void *ctx, cs_slice key, cs_slice value)
{
    list_ctx *l = ctx;
    json_t *policy = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    if (!json_is_object(policy) ||
        json_object_set_new(policy, "code_id", json_stringn((const char *)key.ptr, key.len)) != 0 ||
        json_array_append_new(l->arr, policy) != 0) {
        l->rc = cs_fail(CONSORT_E_NOMEM, "updates");
        return false;
    }
    return true;
}

static bool node_cb(void *ctx, cs_slice key, cs_slice value)
{
    list_ctx *l = ctx;
    node_record r;
    node_record_init(&r);
    char code[65] = "";
    const char *status = "?";
    if (node_record_decode(value, &r) == CONSORT_OK) {
        cs_hex_encode(CS_SLICE(r.code_id, 32), code);
        status = r.status;
    }
    cs_err_clear();
    json_t *item = json_pack("{s:s%, s:s, s:s}", "node_id", (const char *)key.ptr, key.len,
                             "status", status, "code_id", code);
    node_record_cleanup(&r);
    if (item == NULL || json_array_append_new(l->arr, item) != 0) {
        l->rc = cs_fail(CONSORT_E_NOMEM, "nodes");
        return false;
    }
    return true;
}

static bool count_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    (void)value;
    (*(size_t *)ctx)++;
    return true;
}

/* An array of what `cb` makes of each entry of `map`. */
static consort_err map_array(cs_kv_tx *tx, const char *map, cs_kv_visit_cb cb, json_t **out)
{
    list_ctx l = {.arr = json_array(), .rc = CONSORT_OK};
    CS_ENSURE(l.arr != NULL, CONSORT_E_NOMEM, "governance document");
    consort_err rc = cs_kv_foreach(tx, cs_slice_str(map), cb, &l);
    if (rc == CONSORT_OK)
        rc = l.rc;
    if (rc != CONSORT_OK) {
        json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return CONSORT_OK;
}

consort_err node_gov_service_json(cs_kv_tx *tx, cs_buf *out)
{
    uint64_t window, threshold;
    CS_TRY(svc_setting(tx, SVC_SETTING_WINDOW, SVC_DEFAULT_WINDOW_S, &window));
    CS_TRY(svc_setting(tx, SVC_SETTING_THRESHOLD, 0, &threshold));
    size_t members = 0;
    CS_TRY(cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_MEMBERS), count_cb, &members));
    cs_buf script;
    cs_buf_init(&script, 0);
    json_t *codes = NULL, *nodes = NULL, *updates = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, node_gov_constitution(tx, &script), fail);
    uint8_t digest[32];
    char digest_hex[65];
    cs_sha256(cs_buf_slice(&script), digest);
    cs_hex_encode(CS_SLICE(digest, 32), digest_hex);
    CS_TRY_GOTO(rc, map_array(tx, SVC_MAP_CODE_IDS, code_cb, &codes), fail);
    CS_TRY_GOTO(rc, map_array(tx, SVC_MAP_NODES, node_cb, &nodes), fail);
    CS_TRY_GOTO(rc, map_array(tx, SVC_MAP_UPDATE, update_cb, &updates), fail);
    cs_buf_cleanup(&script);
    return dump(json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "service_status",
                          node_gov_service_open(tx) ? SVC_STATUS_OPEN : SVC_STATUS_OPENING,
                          "constitution_digest", digest_hex, "gov_request_window_s",
                          (json_int_t)window, "recovery_threshold", (json_int_t)threshold,
                          "member_count", (json_int_t)members, "code_ids", codes, "nodes", nodes,
                          "updates", updates),
                out);
fail:
    cs_buf_cleanup(&script);
    json_decref(codes);
    json_decref(nodes);
    json_decref(updates);
    return rc;
}
