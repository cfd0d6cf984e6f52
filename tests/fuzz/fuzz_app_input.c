/*
 * Fuzzes what the application host (src/node/app*.c, rpc_route.c) does with
 * bytes it does not control. The first byte picks:
 *   0: an application module's ELF image (cs_app_check_image): never reads
 *      outside the image, accepts only images whose loadable segments fit;
 *   1: "method\0path\0query": routing and consort_request_query, whose
 *      results must be NUL-free strings that fit their buffers;
 *   2: "name\0value\0message": response headers (accepted ones carry no
 *      control bytes) and consort_response_error (always valid JSON with
 *      the code given).
 */
#include "node/app_host.h"
#include "node/rpc_route.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static consort_err noop(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)tx;
    (void)rs;
    (void)ctx;
    return CONSORT_OK;
}

/* Splits `text` (NUL-terminated copy of the input) into up to 3 NUL-separated parts. */
static void split3(char *text, size_t len, const char *parts[3])
{
    parts[0] = text;
    parts[1] = parts[2] = "";
    size_t k = 1;
    for (size_t i = 0; i < len && k < 3; i++) {
        if (text[i] == '\0')
            parts[k++] = text + i + 1;
    }
}

static void fuzz_route(const char *parts[3])
{
    static consort_app *app;
    if (app == NULL) {
        if (cs_app_new(&app) != CONSORT_OK ||
            consort_app_endpoint(app, "POST", "/app/log", noop, CONSORT_AUTH_USER,
                                 CONSORT_READ_WRITE, NULL) != CONSORT_OK ||
            consort_app_endpoint(app, "GET", "/app/log", noop, CONSORT_AUTH_USER, CONSORT_READ_ONLY,
                                 NULL) != CONSORT_OK)
            abort();
        cs_app_seal(app);
    }
    cs_rpc_route r;
    cs_rpc_route_find(app, parts[0], parts[1], &r);
    if (r.kind == CS_ROUTE_APP &&
        (strcmp(r.app->path, parts[1]) != 0 || strcmp(r.app->method, parts[0]) != 0))
        abort();
    if (strlen(r.allow) >= sizeof r.allow)
        abort();
    consort_request req;
    cs_app_request_init(&req, parts[0], parts[1], parts[2], NULL, 0, CS_SLICE_EMPTY, NULL);
    static const char *const names[] = {"id", "a", "", "transaction_id"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char out[16];
        memset(out, 'x', sizeof out);
        consort_err rc = consort_request_query(&req, names[i], out, sizeof out);
        if (memchr(out, '\0', sizeof out) == NULL)
            abort(); /* always terminated, even on failure */
        if (rc == CONSORT_OK && strlen(out) >= sizeof out)
            abort();
    }
}

static void fuzz_response(const char *parts[3])
{
    consort_response resp;
    cs_app_response_init(&resp);
    if (consort_response_set_header(&resp, parts[0], parts[1]) == CONSORT_OK) {
        for (const char *p = parts[1]; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                abort();
    }
    if (consort_response_error(&resp, 400, "Fuzz", "%s", parts[2]) != CONSORT_OK)
        abort();
    json_error_t err;
    json_t *doc = json_loadb((const char *)resp.body.ptr, resp.body.len, 0, &err);
    if (doc == NULL ||
        strcmp(json_string_value(json_object_get(json_object_get(doc, "error"), "code")), "Fuzz") !=
            0)
        abort();
    json_decref(doc);
    cs_app_response_cleanup(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > ((size_t)1 << 20))
        return 0;
    uint8_t mode = data[0] % 3;
    cs_slice rest = CS_SLICE(data + 1, size - 1);
    if (mode == 0) {
        /* an accepted image holds at least an ELF header (64 bytes) */
        if (cs_app_check_image(rest) == CONSORT_OK && rest.len < 64)
            abort();
        return 0;
    }
    char *text = malloc(rest.len + 1);
    if (text == NULL)
        return 0;
    if (rest.len > 0)
        memcpy(text, rest.ptr, rest.len);
    text[rest.len] = '\0';
    const char *parts[3];
    split3(text, rest.len, parts);
    if (mode == 1)
        fuzz_route(parts);
    else
        fuzz_response(parts);
    free(text);
    return 0;
}
