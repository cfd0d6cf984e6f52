/* Proposal records and their states (gov.h, gov_priv.h). */
#include "node/gov_priv.h"

#include "base/alloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int node_gov_refusal_status(node_gov_refusal r)
{
    switch (r) {
    case NODE_GOV_OK:
        return 200;
    case NODE_GOV_BAD_SIGNATURE:
        return 401;
    case NODE_GOV_NOT_MEMBER:
    case NODE_GOV_NOT_PROPOSER:
        return 403;
    case NODE_GOV_NOT_FOUND:
        return 404;
    case NODE_GOV_TOO_LARGE:
        return 413;
    case NODE_GOV_REPLAYED:
    case NODE_GOV_NOT_OPEN:
        return 409;
    case NODE_GOV_MALFORMED:
    case NODE_GOV_STALE:
    case NODE_GOV_INVALID:
    case NODE_GOV_ID_MISMATCH:
        return 400;
    }
    return 500;
}

const char *node_gov_refusal_code(node_gov_refusal r)
{
    static const char *const codes[] = {
        [NODE_GOV_OK] = "OK",
        [NODE_GOV_MALFORMED] = "MalformedRequest",
        [NODE_GOV_BAD_SIGNATURE] = "InvalidSignature",
        [NODE_GOV_NOT_MEMBER] = "NotAMember",
        [NODE_GOV_STALE] = "StaleRequest",
        [NODE_GOV_REPLAYED] = "ReplayedRequest",
        [NODE_GOV_INVALID] = "ProposalInvalid",
        [NODE_GOV_ID_MISMATCH] = "ProposalIdMismatch",
        [NODE_GOV_NOT_FOUND] = "ProposalNotFound",
        [NODE_GOV_NOT_OPEN] = "ProposalNotOpen",
        [NODE_GOV_NOT_PROPOSER] = "NotProposer",
        [NODE_GOV_TOO_LARGE] = "RequestTooLarge",
    };
    return (size_t)r < CS_ARRAY_LEN(codes) ? codes[r] : "InternalError";
}

static bool collect_id(void *ctx, cs_slice key, cs_slice value)
{
    (void)value;
    gov_id_list *l = ctx;
    if (key.len != CS_GOV_ID_HEX_LEN)
        return true;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        void *grown = cs_realloc(l->ids, cap * sizeof *l->ids);
        if (grown == NULL) {
            l->rc = cs_fail(CONSORT_E_NOMEM, "id list");
            return false;
        }
        l->ids = grown;
        l->cap = cap;
    }
    memcpy(l->ids[l->count], key.ptr, key.len);
    l->ids[l->count][key.len] = '\0';
    l->count++;
    return true;
}

consort_err gov_list_ids(cs_kv_tx *tx, const char *map, gov_id_list *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY(cs_kv_foreach(tx, cs_slice_str(map), collect_id, out));
    return out->rc;
}

/* ---- records ---- */

consort_err gov_record_get(cs_kv_tx *tx, const char *id, json_t **out)
{
    cs_slice v;
    bool found;
    *out = NULL;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_PROPOSALS), cs_slice_str(id), &v, &found));
    if (!found)
        return CONSORT_OK;
    *out = json_loadb((const char *)v.ptr, v.len, JSON_REJECT_DUPLICATES, NULL);
    CS_ENSURE(json_is_object(*out), CONSORT_E_CORRUPT, "proposal %s: the record does not parse",
              id);
    return CONSORT_OK;
}

consort_err gov_record_put(cs_kv_tx *tx, const char *id, json_t *rec)
{
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "proposal record");
    consort_err rc =
        cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_PROPOSALS), cs_slice_str(id), cs_slice_str(text));
    free(text);
    return rc;
}

const char *gov_record_state(json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "state"));
    return s != NULL ? s : "";
}

consort_err gov_record_set_state(json_t *rec, const char *state, const char *failure)
{
    CS_ENSURE(json_object_set_new(rec, "state", json_string(state)) == 0, CONSORT_E_NOMEM,
              "proposal record");
    if (failure != NULL)
        CS_ENSURE(json_object_set_new(rec, "failure", json_string(failure)) == 0, CONSORT_E_NOMEM,
                  "proposal record");
    return CONSORT_OK;
}

/* Marks every other Open proposal Dropped (the constitution or the trusted
 * code changed under it). */
consort_err gov_drop_open(cs_kv_tx *tx, const char *except)
{
    gov_id_list ids;
    CS_TRY(gov_list_ids(tx, SVC_MAP_PROPOSALS, &ids));
    consort_err rc = CONSORT_OK;
    for (size_t i = 0; i < ids.count && rc == CONSORT_OK; i++) {
        if (strcmp(ids.ids[i], except) == 0)
            continue;
        json_t *rec;
        rc = gov_record_get(tx, ids.ids[i], &rec);
        if (rc == CONSORT_OK && rec != NULL && strcmp(gov_record_state(rec), "Open") == 0) {
            rc = gov_record_set_state(rec, "Dropped", NULL);
            if (rc == CONSORT_OK)
                rc = gov_record_put(tx, ids.ids[i], rec);
        }
        json_decref(rec);
    }
    cs_free(ids.ids);
    return rc;
}
