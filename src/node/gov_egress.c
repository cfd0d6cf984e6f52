/*
 * Where the services an application calls live (docs/governance.md
 * set_egress_service; include/consort/app.h consort_call): the members bind
 * each egress name the code declares to an address and a service
 * certificate, in public:consort.egress (name -> {"address": "host:port",
 * "service_certificate": PEM}). A call goes only there, and only over TLS
 * whose server chains to that certificate: an operator cannot redirect a
 * call to a service the members did not choose.
 */
#include "node/gov_egress.h"

#include "base/alloc.h"
#include "net/net.h"
#include "node/gov_priv.h"
#include "node/service_maps.h"

#include <jansson.h>
#include <string.h>

static consort_err name_arg(json_t *args, const char **name)
{
    CS_TRY(gov_arg_str(args, "name", true, name));
    size_t n = strlen(*name);
    bool ok = n > 0 && n < GOV_EGRESS_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = (*name)[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    CS_ENSURE(ok, CONSORT_E_INVALID_ARGUMENT,
              "argument \"name\": 1 to %d of a-z, 0-9, '_' and '-' (as CONSORT_APP_EGRESS "
              "declares it)",
              GOV_EGRESS_NAME_MAX - 1);
    return CONSORT_OK;
}

consort_err gov_egress_set(gov_stage *st, json_t *args)
{
    const char *name, *address, *pem;
    CS_TRY(name_arg(args, &name));
    CS_TRY(gov_arg_str(args, "address", true, &address));
    struct sockaddr_storage sa;
    CS_TRY_CTX(cs_net_parse_address(address, &sa), "argument \"address\"");
    cs_buf der;
    cs_buf_init(&der, 0);
    char id[65];
    consort_err rc = gov_arg_cert(args, "service_certificate", false, &der, id);
    cs_buf_cleanup(&der);
    CS_TRY(rc);
    CS_TRY(gov_arg_str(args, "service_certificate", true, &pem));
    json_t *v = json_pack("{s:s, s:s}", "address", address, "service_certificate", pem);
    CS_ENSURE(v != NULL, CONSORT_E_NOMEM, "egress binding");
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "egress binding");
    rc = gov_stage_put(st, SVC_MAP_EGRESS, name, cs_slice_str(text));
    free(text);
    return rc;
}

consort_err gov_egress_remove(gov_stage *st, json_t *args)
{
    const char *name;
    CS_TRY(name_arg(args, &name));
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_EGRESS, name, &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "no egress service '%s' is bound", name);
    return gov_stage_remove(st, SVC_MAP_EGRESS, name);
}

consort_err gov_egress_get_raw(cs_kv_tx *tx, const char *name, cs_slice *value)
{
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_EGRESS), cs_slice_str(name), value, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND,
              "the members bound no address to the egress service '%s' (set_egress_service)", name);
    return CONSORT_OK;
}

consort_err gov_egress_parse(const char *name, cs_slice value, gov_egress_binding *out)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loadb((const char *)value.ptr, value.len, 0, &jerr);
    const char *address = json_string_value(json_object_get(o, "address"));
    const char *pem = json_string_value(json_object_get(o, "service_certificate"));
    consort_err rc = CONSORT_OK;
    if (address == NULL || pem == NULL || strlen(address) >= sizeof out->address)
        rc = cs_fail(CONSORT_E_CORRUPT, "egress binding '%s' is malformed", name);
    else
        snprintf(out->address, sizeof out->address, "%s", address);
    if (rc == CONSORT_OK)
        rc = cs_x509_from_pem(cs_slice_str(pem), &out->service_cert);
    json_decref(o);
    return rc;
}

void gov_egress_binding_cleanup(gov_egress_binding *b)
{
    cs_x509_free(b->service_cert);
    b->service_cert = NULL;
}
