/*
 * One HTTPS request from the command line to a node: TLS 1.3 with the pinned
 * service certificate as the only trust anchor (docs/http-api.md "Clients"),
 * an optional client certificate, one request on a fresh connection, run on
 * a private libuv loop until the answer is in or the time is up. Bounded in
 * time (the whole exchange) and in the size of the answer's body.
 *
 * Synchronous: cs_cli_https_send returns when the exchange is over, with the
 * failure's message in consort_errmsg() ("POST https://127.0.0.1:8000/gov/
 * proposals: connection refused ..."). An answer with any HTTP status is a
 * success of the transport: the caller judges the status.
 *
 * A failure says whether the TCP connection was ever established
 * (cs_cli_https_response.connected). Until it is, nothing was sent and the
 * request may go to another node; once it is, the node may have received
 * and executed the request, and a caller must not send it elsewhere.
 */
#ifndef CS_CLI_HTTPS_H
#define CS_CLI_HTTPS_H

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/tls.h"
#include "crypto/x509.h"

#include <stdbool.h>
#include <stdint.h>

/* Defaults for the limits of a request (cs_cli_https_request). */
#define CS_CLI_HTTPS_TIMEOUT_MS  30000
#define CS_CLI_HTTPS_BODY_MAX    ((size_t)8 << 20)
#define CS_CLI_HTTPS_CTYPE_MAX   128
#define CS_CLI_HTTPS_ADDRESS_MAX 64

typedef struct cs_cli_https_request {
    /* "HOST:PORT", HOST a numeric IPv4 address, "[IPv6]" or "localhost"
     * (net/net.h cs_net_parse_address: no name resolution) */
    const char *address;
    const char *method;       /* "GET", "POST" */
    const char *path;         /* the request target, e.g. "/gov/proposals" */
    const char *content_type; /* of `body`; NULL: no Content-Type header */
    cs_slice body;            /* copied; empty for none */
    cs_x509 *service_cert;    /* the only trust anchor (borrowed, required) */
    /* the TLS client certificate and its key (borrowed; both or neither) */
    const cs_x509 *client_cert;
    const cs_key *client_key;
    uint32_t timeout_ms; /* the whole exchange, connect included; 0: the default */
    /* the TCP connect alone (within timeout_ms); 0: no limit of its own */
    uint32_t connect_timeout_ms;
    size_t max_body; /* of the answer; 0: the default */
} cs_cli_https_request;

typedef struct cs_cli_https_response {
    /* the TCP connection was established (set on failure too): from then on
     * the node may have received the request */
    bool connected;
    int status;
    char content_type[CS_CLI_HTTPS_CTYPE_MAX]; /* "" if none (truncated if longer) */
    cs_buf body;
} cs_cli_https_response;

/* An empty response (call before cs_cli_https_send). */
void cs_cli_https_response_init(cs_cli_https_response *resp);
/* Frees the body. */
void cs_cli_https_response_cleanup(cs_cli_https_response *resp);

/*
 * Sends `req` and fills `resp` with the answer (any HTTP status). Errors,
 * the message naming the method and URL: INVALID_ARGUMENT (a bad address,
 * method, target or a key without its certificate), IO (connection refused
 * or reset), BAD_CERTIFICATE (the node's certificate is not issued by the
 * service certificate), TIMEOUT (no complete answer in time), TOO_LARGE
 * (a body above the limit), NOMEM. On error `resp` holds nothing useful
 * but `connected`: false if the failure came before the TCP connection
 * (refused, unreachable, or no connection within connect_timeout_ms, "no
 * TCP connection in N ms"), so that the request was certainly not sent.
 *
 * When the time is up before the TCP connection was even established, the
 * private loop and its handles are abandoned (released at exit): libuv
 * cannot cancel a pending connect, and the command is about to end.
 */
CS_MUST_CHECK consort_err cs_cli_https_send(const cs_cli_https_request *req,
                                            cs_cli_https_response *resp);

/*
 * The TLS client configuration cs_cli_https_send uses (and `consort bench`):
 * TLS 1.3, ALPN http/1.1, *service_cert the only trust anchor (the node's
 * certificate must be issued by it), client_cert/client_key presented if
 * not NULL. `pin` (filled here), *service_cert and the client certificate
 * and key must outlive the configuration (cs_tls_config_free).
 */
CS_MUST_CHECK consort_err cs_cli_https_tls_config(cs_x509 *const *service_cert,
                                                  const cs_x509 *client_cert,
                                                  const cs_key *client_key, cs_tls_pinned *pin,
                                                  cs_tls_config **out);

#endif
