/*
 * `consort sandbox --sample composed` (docs/e2e.md "The composed sample"):
 * the wiring between its two services, done the way their consortia would
 * through governance: the storage service's members register the records
 * service's identity as a user, and the records service's members bind its
 * egress name "storage" to the storage service.
 */
#include "sandbox.h"

#include "base/file.h"

#include <jansson.h>
#include <stdlib.h>

/* member0 proposes {"actions": [{"name": action, "args": args}]}, 0 and 1 vote. */
static consort_err pass(const cs_sbx *sbx, const char *action, json_t *args, const char *what)
{
    json_t *doc = json_pack("{s:[{s:s, s:o}]}", "actions", "name", action, "args", args);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "%s", what);
    cs_sbx_client *c = NULL;
    consort_err rc = cs_sbx_client_new(sbx->service_cert, sbx->user_cert, sbx->user_key, &c);
    if (rc == CONSORT_OK)
        rc = cs_sbx_pass_proposal(sbx, c, text, what);
    cs_sbx_client_free(c);
    free(text);
    return rc;
}

static consort_err read_pem(const char *path, cs_buf *out)
{
    CS_TRY(cs_file_read(path, out));
    return cs_buf_append_u8(out, 0);
}

consort_err cs_sbx_composed_wire(const cs_sbx *back, const cs_sbx *front)
{
    cs_buf back_cert, front_cert;
    cs_buf_init(&back_cert, 64 << 10);
    cs_buf_init(&front_cert, 64 << 10);
    consort_err rc;
    CS_TRY_GOTO(rc, read_pem(back->service_cert, &back_cert), out);
    CS_TRY_GOTO(rc, read_pem(front->service_cert, &front_cert), out);
    CS_TRY_GOTO(rc,
                pass(back, "set_user", json_pack("{s:s}", "cert", (const char *)front_cert.ptr),
                     "registering the records service as a user of storage"),
                out);
    CS_TRY_GOTO(
        rc,
        pass(front, "set_egress_service",
             json_pack("{s:s, s:s, s:s}", "name", "storage", "address", back->nodes[0].rpc_address,
                       "service_certificate", (const char *)back_cert.ptr),
             "binding the egress service storage"),
        out);
out:
    cs_buf_cleanup(&back_cert);
    cs_buf_cleanup(&front_cert);
    return rc;
}
