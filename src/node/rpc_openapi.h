/*
 * OpenAPI 3.1 documents of the node's HTTP API, generated from the routes
 * as registered (rpc_route.h) and the application's endpoints
 * (app_host.h), so that they cannot drift from what the node serves:
 * GET /node/api documents the node's routes outside /app/ (/node/...,
 * /gov/...), GET /app/api the /app/ ones (the application's and the
 * node's own under /app/).
 * docs/http-api.md "API documents" describes what each operation states.
 */
#ifndef CS_NODE_RPC_OPENAPI_H
#define CS_NODE_RPC_OPENAPI_H

#include "base/buf.h"
#include "node/app_host.h"

typedef enum cs_rpc_api_doc {
    CS_RPC_API_NODE = 0, /* the built-in routes outside /app/ */
    CS_RPC_API_APP,      /* /app/...: `app` (may be NULL) and the built-in /app/ routes */
} cs_rpc_api_doc;

/* Appends the JSON document `which` to `out`; `version` names the API's
 * version (consortd's). NOMEM. */
CS_MUST_CHECK consort_err cs_rpc_openapi(const consort_app *app, cs_rpc_api_doc which,
                                         const char *version, cs_buf *out);

#endif
