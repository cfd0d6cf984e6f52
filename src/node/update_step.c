/* The ledger transaction of one rolling-update step (update_step.h). */
#include "node/update_step.h"

#include "node/node_priv.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

consort_err node_update_step_tx(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    const node_update_step *s = ctx;
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), cs_slice_str(s->successor), &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "update to %s: no record", s->successor);
    json_t *u = json_loadb((const char *)v.ptr, v.len, 0, NULL);
    CS_ENSURE(json_is_object(u), CONSORT_E_CORRUPT, "update to %s: record does not parse",
              s->successor);
    json_object_set_new(u, "state", json_string(s->state));
    if (strcmp(s->state, "blocked") == 0)
        json_object_set_new(u, "reason", json_string("availability"));
    else
        json_object_del(u, "reason");
    if (s->need > 0)
        json_object_set_new(u, "need", json_integer((json_int_t)s->need));
    else
        json_object_del(u, "need");
    if (s->deprecate) {
        json_object_set_new(u, "deprecated", json_true());
        json_object_set_new(u, "deprecated_at", json_integer(s->now));
    }
    if (s->evict != NULL) {
        json_t *list = json_object_get(u, "evicted");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(u, "evicted", list);
        }
        json_array_append_new(list, json_string(s->evict));
        consort_err rc = svc_record_set_status(tx, s->evict, "Retired");
        if (rc != CONSORT_OK) {
            json_decref(u);
            return rc;
        }
    }
    char *text = json_dumps(u, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(u);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "update record");
    consort_err rc =
        cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_UPDATE), cs_slice_str(s->successor), cs_slice_str(text));
    free(text);
    CS_TRY(rc);
    if (s->retire_code != NULL)
        CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), cs_slice_str(s->retire_code),
                         CS_SLICE_LIT(SVC_CODE_ID_RETIRED)));
    out->commit = true;
    return CONSORT_OK;
}
