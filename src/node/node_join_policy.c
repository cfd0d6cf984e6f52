/*
 * What the service decides for a node that asks to join (admit.h
 * node_admit_decision), from the leader's state: its record (a Retired node
 * never comes back; a Pending one waits for the members; a Trusted one
 * joins), its code id (retired, or deprecated by a rolling update), and for
 * a new node the constitution's admit_node.
 */
#include "node/node_priv.h"

#include "gov/constitution.h"
#include "node/gov.h"
#include "node/gov_codecert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHY_MAX 256

/* The value of `key` in `map` as text (NUL-terminated, truncated), or false. */
static bool get_text(cs_kv_tx *tx, const char *map, const char *key, char *out, size_t n)
{
    cs_slice v;
    bool found = false;
    if (cs_kv_get(tx, cs_slice_str(map), cs_slice_str(key), &v, &found) != CONSORT_OK || !found) {
        cs_err_clear();
        return false;
    }
    size_t len = v.len < n - 1 ? v.len : n - 1;
    memcpy(out, v.ptr, len);
    out[len] = '\0';
    return true;
}

typedef struct deprecated_ctx {
    const char *code_id;
    char successor[65];
} deprecated_ctx;

/* An update whose predecessor is ctx->code_id and which deprecated it. */
static bool deprecated_cb(void *ctx, cs_slice key, cs_slice value)
{
    deprecated_ctx *d = ctx;
    json_t *u = json_loadb((const char *)value.ptr, value.len, 0, NULL);
    const char *pred = json_string_value(json_object_get(u, "successor_of"));
    bool hit = pred != NULL && strcmp(pred, d->code_id) == 0 &&
               json_is_true(json_object_get(u, "deprecated"));
    json_decref(u);
    if (hit && key.len < sizeof d->successor) {
        memcpy(d->successor, key.ptr, key.len);
        d->successor[key.len] = '\0';
    }
    return !hit;
}

static node_admit_decision decide(cs_kv_tx *tx, const char *node_id, const char *code_hex,
                                  bool *has_record, char *why)
{
    char status[32];
    node_record r;
    node_record_init(&r);
    cs_slice v;
    bool found = false;
    if (cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_NODES), cs_slice_str(node_id), &v, &found) ==
            CONSORT_OK &&
        found && node_record_decode(v, &r) == CONSORT_OK) {
        *has_record = true;
        snprintf(status, sizeof status, "%s", r.status);
    }
    node_record_cleanup(&r);
    cs_err_clear();
    if (*has_record && strcmp(status, "Retired") == 0) {
        snprintf(why, WHY_MAX, "node %s was removed from the service (status Retired)", node_id);
        return NODE_ADMIT_REFUSE;
    }
    char code_status[32] = "";
    get_text(tx, SVC_MAP_CODE_IDS, code_hex, code_status, sizeof code_status);
    if (strcmp(code_status, SVC_CODE_ID_OK) != 0) {
        snprintf(why, WHY_MAX, "code id %.16s... is %s", code_hex,
                 code_status[0] != '\0' ? "retired by the members" : "not trusted by the service");
        return NODE_ADMIT_REFUSE;
    }
    if (!gov_codecert_admits(tx, code_hex)) {
        snprintf(why, WHY_MAX,
                 "code id %.16s... has no code certificate in the service's transparency log, "
                 "and its code certificate policy requires one",
                 code_hex);
        return NODE_ADMIT_REFUSE;
    }
    deprecated_ctx d = {.code_id = code_hex};
    if (cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), deprecated_cb, &d) != CONSORT_OK)
        cs_err_clear();
    if (d.successor[0] != '\0' && !(*has_record && strcmp(status, "Trusted") == 0)) {
        snprintf(why, WHY_MAX,
                 "code id %.16s... is deprecated by the rolling update to %.16s...: no new node "
                 "may join with it",
                 code_hex, d.successor);
        return NODE_ADMIT_REFUSE;
    }
    if (*has_record) {
        if (strcmp(status, "Trusted") == 0)
            return NODE_ADMIT_TRUST;
        snprintf(why, WHY_MAX,
                 "node %s is Pending: the members must pass transition_node_to_trusted for it",
                 node_id);
        return NODE_ADMIT_PENDING;
    }
    /* a new node: the constitution's admit_node decides */
    cs_slice script;
    cs_constitution *con = NULL;
    consort_err rc = cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CONSTITUTION),
                               CS_SLICE_LIT(SVC_CONSTITUTION_KEY), &script, &found);
    if (rc == CONSORT_OK)
        rc = found ? cs_constitution_new((const char *)script.ptr, script.len, NULL, &con)
                   : cs_constitution_new_default(NULL, &con);
    char node_json[160];
    snprintf(node_json, sizeof node_json, "{\"node_id\": \"%s\", \"code_id\": \"%s\"}", node_id,
             code_hex);
    bool admit = false;
    if (rc == CONSORT_OK)
        rc = cs_constitution_admit_node(con, node_json, &admit);
    cs_constitution_free(con);
    if (rc != CONSORT_OK) {
        snprintf(why, WHY_MAX, "the constitution's admit_node failed: %s", consort_errmsg());
        cs_err_clear();
        return NODE_ADMIT_REFUSE;
    }
    if (admit)
        return NODE_ADMIT_TRUST;
    snprintf(why, WHY_MAX,
             "node %s is Pending: the members must pass transition_node_to_trusted for it",
             node_id);
    return NODE_ADMIT_PENDING;
}

node_admit_decision node_join_decide(cs_node *n, const char *node_id, const uint8_t code_id[32],
                                     bool *has_record, char why[WHY_MAX])
{
    *has_record = false;
    char code_hex[65];
    cs_hex_encode(CS_SLICE(code_id, 32), code_hex);
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(node_replica_kv(n->replica), &tx) != CONSORT_OK) {
        snprintf(why, WHY_MAX, "reading the service's state: %s", consort_errmsg());
        cs_err_clear();
        return NODE_ADMIT_REFUSE;
    }
    node_admit_decision d = decide(tx, node_id, code_hex, has_record, why);
    cs_kv_tx_free(tx);
    return d;
}
