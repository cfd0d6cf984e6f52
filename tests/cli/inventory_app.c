/*
 * A second application module for tests/cli/test_cli_help.sh: endpoints that
 * are not the logging sample's, so the sandbox banner can be checked to name
 * the application it actually runs. Each handler answers {} and touches no
 * map.
 */
#include <consort/app.h>

CONSORT_APP_DECLARE();

static consort_err answer(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)req;
    (void)tx;
    (void)ctx;
    return consort_response_set_body(resp, "{}", 2, NULL);
}

consort_err consort_app_init(consort_app *app)
{
    static const struct {
        const char *method, *path;
        consort_auth auth;
        consort_mode mode;
    } endpoints[] = {
        {"PUT", "/app/inventory/item", CONSORT_AUTH_MEMBER, CONSORT_READ_WRITE},
        {"GET", "/app/inventory/item", CONSORT_AUTH_NONE, CONSORT_READ_ONLY},
        {"DELETE", "/app/inventory/item", CONSORT_AUTH_USER, CONSORT_READ_WRITE},
    };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        consort_err rc = consort_app_endpoint(app, endpoints[i].method, endpoints[i].path, answer,
                                              endpoints[i].auth, endpoints[i].mode, NULL);
        if (rc != CONSORT_OK)
            return rc;
    }
    return CONSORT_OK;
}
