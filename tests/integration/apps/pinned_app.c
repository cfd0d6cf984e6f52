/*
 * For tests/integration/test_e2e_composed.py: an application that declares
 * the egress service "storage" pinned to a service certificate that no
 * service has (SHA-256 all zero). Whatever the members bind to the name,
 * a call must be refused before anything is sent (app.h CONSORT_APP_EGRESS).
 *
 *   GET /app/pinned  ->  storage's answer to GET /app/fetch?id=7 (never: 403)
 */
#include <consort/app.h>

CONSORT_APP_DECLARE();
CONSORT_APP_EGRESS({"storage", "0000000000000000000000000000000000000000000000000000000000000000"});

static consort_err pinned(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)tx;
    (void)ctx;
    const consort_call_response *r;
    consort_err rc = consort_call(rq, "storage", "GET", "/app/fetch?id=7", NULL, 0, &r);
    if (rc != CONSORT_OK)
        return rc;
    consort_response_set_status(rs, r->status);
    return consort_response_set_body(rs, r->body, r->body_len, NULL);
}

CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app)
{
    return consort_app_endpoint(app, "GET", "/app/pinned", pinned, CONSORT_AUTH_USER,
                                CONSORT_READ_ONLY, NULL);
}
