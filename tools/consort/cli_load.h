/*
 * The load `consort bench` puts on a running service: N TLS connections
 * (the project's TLS client and HTTP/1.1 client, keep-alive) on one libuv
 * loop, spread round-robin over the addresses given, sending one request
 * template in which every "{n}" (in the target and the body) is replaced by
 * a counter that is unique within the run (first_n, first_n + 1, ...).
 *
 *   closed loop (rate 0)  one request in flight per connection: each
 *                         answer sends the next one on its connection
 *   open loop (rate R)    R requests per second in all, on a 1 ms tick,
 *                         each to the connection with the fewest in
 *                         flight (pipelined, at most CS_CLI_LOAD_PIPELINE
 *                         each); a request's latency counts from the time
 *                         it was due, so a backlog shows in the latency
 *                         (no coordinated omission)
 *
 * Phases: every connection is set up (TLS handshake done) before any
 * request; then warmup_ms of load that is not measured; then measure_ms of
 * measured load; then the requests still in flight are awaited (at most
 * drain_ms). A request belongs to the phase it was sent (or due) in and is
 * counted when it completes, so every measured request ends in exactly one
 * count: an answer (by status class) or a transport error.
 *
 * Synchronous: cs_cli_load_run returns when the load is over, on a private
 * loop; the callbacks are its own.
 */
#ifndef CS_CLI_LOAD_H
#define CS_CLI_LOAD_H

#include "base/hist.h"
#include "crypto/tls.h"

#include <stdbool.h>
#include <stdint.h>

#define CS_CLI_LOAD_PIPELINE   32   /* open loop: requests in flight per connection */
#define CS_CLI_LOAD_TARGET_MAX 2048 /* bytes of a target with {n} replaced */
#define CS_CLI_LOAD_BODY_MAX   (1u << 20)
#define CS_CLI_LOAD_ERROR_MAX  300

typedef struct cs_cli_load_params {
    const char *const *addresses; /* "HOST:PORT", at least one */
    size_t address_count;
    cs_tls_config *tls; /* a client configuration (borrowed) */
    unsigned connections;
    uint32_t warmup_ms;
    uint32_t measure_ms; /* >= 1 */
    double rate;         /* requests per second in all; 0: closed loop */
    const char *method;
    const char *target;       /* "/app/log/private"; may hold {n} */
    const char *body;         /* may hold {n}; NULL or "": no body */
    const char *content_type; /* of the body */
    uint64_t first_n;
    uint32_t connect_ms; /* every connection up within this */
    uint32_t drain_ms;   /* the wait for answers after the measured window */
} cs_cli_load_params;

typedef struct cs_cli_load_counts {
    uint64_t sent;
    uint64_t answered;
    uint64_t status[6]; /* answers by class: [1] 1xx .. [5] 5xx, [0] other */
    uint64_t transport; /* sent, and ended without an answer */
} cs_cli_load_counts;

typedef struct cs_cli_load_result {
    cs_cli_load_counts measured;
    cs_cli_load_counts warmup;
    uint64_t unsent;     /* open loop: due in the window, but every connection was full or gone */
    cs_hist latency;     /* of the measured answers (any status), microseconds */
    double seconds;      /* from the window's start to its end or the last measured answer */
    uint64_t next_n;     /* {n} took first_n .. next_n - 1 */
    bool not_found;      /* stopped at once: a 404 came before any 2xx */
    unsigned conns_lost; /* connections that ended during the load */
    /* the first answer that was not 2xx or the first transport error, with
     * where it came from; "" if none */
    char first_error[CS_CLI_LOAD_ERROR_MAX];
} cs_cli_load_result;

/*
 * Runs the load of `p` and fills `out` (zeroed first). Returns an error only
 * when the load could not run: INVALID_ARGUMENT (no address or connection,
 * a template too long once expanded), IO/BAD_CERTIFICATE/TIMEOUT (a
 * connection could not be set up within connect_ms: the message names the
 * address), NOMEM. Failed requests of a load that ran are counted in `out`,
 * never turned into an error.
 *
 * If the load fails while connections are still being set up, those get 2 s
 * more to end (a refused connection ends at once); one still pending then
 * is abandoned with the loop (released at exit), as cli_https.h does: libuv
 * cannot cancel a connect, and the command is about to end.
 */
CS_MUST_CHECK consort_err cs_cli_load_run(const cs_cli_load_params *p, cs_cli_load_result *out);

#endif
