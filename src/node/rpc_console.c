/*
 * GET /console...: the web console's files (console.h), served from the
 * table compiled into the binary (docs/operating.md "Web console").
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and
 * fetches from this origin only, no inline script or style, nothing else
 * loaded, no framing. The console reads the node's public JSON endpoints
 * and holds no secret: it is as public as they are. Files are revalidated on
 * every load (Cache-Control: no-cache with an ETag; a matching
 * If-None-Match is answered 304), so a node that was updated serves its new
 * console at once.
 */
#include "node/console.h"
#include "node/rpc_priv.h"

/* CSP Level 3: default-src 'none' denies what is not listed; no
 * 'unsafe-inline' anywhere. */
#define CONSOLE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

void cs_rpc_console_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req)
{
    const cs_console_asset *a = route->asset;
    const cs_http_header headers[] = {
        {"Content-Type", a->content_type},     {"Content-Security-Policy", CONSOLE_CSP},
        {"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-cache"},         {"ETag", a->etag},
    };
    /* RFC 9110 §13.1.2 / §15.4.5: 304 with the headers a 200 would carry;
     * the server sends the 200's Content-Length and no body */
    int status =
        cs_console_etag_matches(a, cs_http_request_header(req, "If-None-Match")) ? 304 : 200;
    cs_rpc_respond(rpc, req, status, headers, CS_ARRAY_LEN(headers), CS_SLICE(a->data, a->len));
}
