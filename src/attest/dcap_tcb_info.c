/*
 * TCB info documents (dcap.h): the inner "tcbInfo" object of a PCS TCB info
 * response, read from the signed bytes.
 *
 * [PCS] TCB Info V3 (SGX and TDX): id, version 3, issueDate, nextUpdate,
 * fmspc, pceId, tcbType 0, tcbEvaluationDataNumber, TDX only tdxModule and
 * tdxModuleIdentities, and tcbLevels, each
 *   {"tcb": {"sgxtcbcomponents": [16 x {"svn": n, ...}], "pcesvn": n,
 *            TDX: "tdxtcbcomponents": [16 x {"svn": n, ...}]},
 *    "tcbDate": ..., "tcbStatus": ..., "advisoryIDs": [...]}.
 * TCB Info V2 (SGX only, PCS API v3) has no id and spells the components
 * "sgxtcbcomp01svn" .. "sgxtcbcomp16svn"; it is accepted too.
 */
#include "attest/dcap_json.h"

#include "base/alloc.h"

#include <stdio.h>
#include <string.h>

/* "sgxtcbcomponents" / "tdxtcbcomponents": exactly 16 objects with an "svn". */
static consort_err components(const json_t *tcb, const char *key, uint8_t out[16])
{
    const json_t *arr = NULL;
    CS_TRY(cs_dcap_json_array(tcb, key, 16, &arr));
    CS_ENSURE(json_array_size(arr) == 16, CONSORT_E_MALFORMED, "\"%s\": %zu entries, expected 16",
              key, json_array_size(arr));
    for (size_t i = 0; i < 16; i++) {
        const json_t *comp = json_array_get(arr, i);
        uint64_t svn;
        CS_ENSURE(json_is_object(comp), CONSORT_E_MALFORMED, "\"%s\"[%zu]: not an object", key, i);
        CS_TRY_CTX(cs_dcap_json_uint(comp, "svn", UINT8_MAX, &svn), "\"%s\"[%zu]", key, i);
        out[i] = (uint8_t)svn;
    }
    return CONSORT_OK;
}

static consort_err level_parse(const json_t *level, const cs_dcap_tcb_info *t,
                               cs_dcap_tcb_level *out)
{
    CS_ENSURE(json_is_object(level), CONSORT_E_MALFORMED, "not an object");
    const json_t *tcb = json_object_get(level, "tcb");
    CS_ENSURE(json_is_object(tcb), CONSORT_E_MALFORMED, "\"tcb\": missing or not an object");
    uint64_t v;
    if (t->version >= 3) {
        CS_TRY(components(tcb, "sgxtcbcomponents", out->sgx_comp));
        if (t->tdx)
            CS_TRY(components(tcb, "tdxtcbcomponents", out->tdx_comp));
    } else {
        for (int i = 0; i < 16; i++) {
            char key[24];
            snprintf(key, sizeof key, "sgxtcbcomp%02dsvn", i + 1);
            CS_TRY(cs_dcap_json_uint(tcb, key, UINT8_MAX, &v));
            out->sgx_comp[i] = (uint8_t)v;
        }
    }
    CS_TRY(cs_dcap_json_uint(tcb, "pcesvn", UINT16_MAX, &v));
    out->pcesvn = (uint16_t)v;
    return cs_dcap_json_level_common(level, &out->status, out->tcb_date, &out->adv);
}

static consort_err module_parse(const json_t *m, bool with_id, cs_dcap_tdx_module *out)
{
    CS_ENSURE(json_is_object(m), CONSORT_E_MALFORMED, "not an object");
    if (with_id)
        CS_TRY(cs_dcap_json_string(m, "id", out->id, sizeof out->id));
    CS_TRY(cs_dcap_json_hex(m, "mrsigner", out->mrsigner, sizeof out->mrsigner));
    CS_TRY(cs_dcap_json_hex(m, "attributes", out->attributes, sizeof out->attributes));
    CS_TRY(
        cs_dcap_json_hex(m, "attributesMask", out->attributes_mask, sizeof out->attributes_mask));
    if (!with_id)
        return CONSORT_OK;
    /* a TDX module's SVN is one byte of TEE_TCB_SVN */
    return cs_dcap_json_svn_levels(m, UINT8_MAX, &out->levels, &out->level_count);
}

static consort_err modules_parse(const json_t *obj, cs_dcap_tcb_info *t)
{
    const json_t *module = json_object_get(obj, "tdxModule");
    CS_ENSURE(module != NULL, CONSORT_E_MALFORMED, "\"tdxModule\": missing in a TDX TCB info");
    CS_TRY_CTX(module_parse(module, false, &t->module), "\"tdxModule\"");
    if (json_object_get(obj, "tdxModuleIdentities") == NULL)
        return CONSORT_OK;
    const json_t *ids = NULL;
    CS_TRY(cs_dcap_json_array(obj, "tdxModuleIdentities", CS_DCAP_MAX_MODULE_IDS, &ids));
    t->module_ids = cs_calloc(json_array_size(ids), sizeof *t->module_ids);
    CS_ENSURE(t->module_ids != NULL, CONSORT_E_NOMEM, "TDX module identities: out of memory");
    t->module_id_count = json_array_size(ids);
    for (size_t i = 0; i < t->module_id_count; i++)
        CS_TRY_CTX(module_parse(json_array_get(ids, i), true, &t->module_ids[i]),
                   "\"tdxModuleIdentities\"[%zu]", i);
    return CONSORT_OK;
}

static consort_err header_parse(const json_t *obj, cs_dcap_tcb_info *t)
{
    uint64_t v;
    char id[8] = "SGX";
    CS_TRY(cs_dcap_json_uint(obj, "version", 3, &v));
    CS_ENSURE(v == 2 || v == 3, CONSORT_E_UNSUPPORTED, "version %llu, expected 2 or 3",
              (unsigned long long)v);
    t->version = (int)v;
    if (t->version >= 3)
        CS_TRY(cs_dcap_json_string(obj, "id", id, sizeof id));
    CS_ENSURE(strcmp(id, "SGX") == 0 || strcmp(id, "TDX") == 0, CONSORT_E_UNSUPPORTED,
              "id \"%s\", expected \"SGX\" or \"TDX\"", id);
    t->tdx = strcmp(id, "TDX") == 0;
    char issue[24];
    CS_TRY(cs_dcap_json_time(obj, "issueDate", &t->issue_date, issue));
    CS_TRY(cs_dcap_json_time(obj, "nextUpdate", &t->next_update, t->next_update_text));
    CS_TRY(cs_dcap_json_hex(obj, "fmspc", t->fmspc, sizeof t->fmspc));
    CS_TRY(cs_dcap_json_hex(obj, "pceId", t->pceid, sizeof t->pceid));
    /* tcbType 0: the TCB components are compared one by one (the only type defined). */
    CS_TRY(cs_dcap_json_uint(obj, "tcbType", UINT32_MAX, &v));
    CS_ENSURE(v == 0, CONSORT_E_UNSUPPORTED, "tcbType %llu unsupported, expected 0",
              (unsigned long long)v);
    CS_TRY(cs_dcap_json_uint(obj, "tcbEvaluationDataNumber", UINT32_MAX, &v));
    t->eval_number = (uint32_t)v;
    return CONSORT_OK;
}

static consort_err parse_obj(const json_t *obj, cs_dcap_tcb_info *t)
{
    CS_TRY(header_parse(obj, t));
    if (t->tdx)
        CS_TRY(modules_parse(obj, t));
    const json_t *levels = NULL;
    CS_TRY(cs_dcap_json_array(obj, "tcbLevels", CS_DCAP_MAX_TCB_LEVELS, &levels));
    t->levels = cs_calloc(json_array_size(levels), sizeof *t->levels);
    CS_ENSURE(t->levels != NULL, CONSORT_E_NOMEM, "TCB levels: out of memory");
    t->level_count = json_array_size(levels);
    for (size_t i = 0; i < t->level_count; i++)
        CS_TRY_CTX(level_parse(json_array_get(levels, i), t, &t->levels[i]), "\"tcbLevels\"[%zu]",
                   i);
    return CONSORT_OK;
}

consort_err cs_dcap_tcb_info_parse(cs_slice body, cs_dcap_tcb_info *t)
{
    memset(t, 0, sizeof *t);
    t->signed_body = body;
    json_t *obj = NULL;
    CS_TRY_CTX(cs_dcap_json_parse(body, &obj), "TCB info");
    consort_err rc = parse_obj(obj, t);
    json_decref(obj);
    if (rc != CONSORT_OK) {
        cs_dcap_tcb_info_cleanup(t);
        return cs_err_context(rc, "TCB info");
    }
    return CONSORT_OK;
}

static void module_cleanup(cs_dcap_tdx_module *m)
{
    cs_free(m->levels);
    m->levels = NULL;
    m->level_count = 0;
}

void cs_dcap_tcb_info_cleanup(cs_dcap_tcb_info *t)
{
    module_cleanup(&t->module);
    for (size_t i = 0; i < t->module_id_count; i++)
        module_cleanup(&t->module_ids[i]);
    cs_free(t->module_ids);
    cs_free(t->levels);
    t->module_ids = NULL;
    t->module_id_count = 0;
    t->levels = NULL;
    t->level_count = 0;
}
