/*
 * Attested channels between nodes (DESIGN.md "Raft over attested
 * channels"; docs/net.md "The attested channel").
 *
 * 1. Mutually authenticated TLS 1.3 with each node's identity certificate.
 *    TLS only records the peer's certificate: before a node is trusted its
 *    certificate is self-signed, so trust comes from step 2, not from X.509.
 * 2. Each side sends one hello, the first bytes after the handshake:
 *        be32 length || CBOR {1: evidence envelope (bstr, evidence.h encoding),
 *                             2: node id (tstr), 3: raft id (uint),
 *                             4: raft address (tstr)}
 *    whose evidence binds the sender's TLS key to this connection:
 *        report_data = SHA-256(SPKI DER of the certificate key || exporter)
 *    with exporter = TLS exporter (RFC 8446 §7.5), label
 *    "EXPORTER-consort-attestation", empty context, 32 bytes.
 * 3. The receiver checks, in order: the hello's encoding; the evidence
 *    (cs_evidence_verify with the configured options); its binding to the
 *    PEER's certificate key and THIS connection's exporter (so evidence
 *    cannot be replayed on another connection or presented for another
 *    key); that the node id is the one the key implies (docs/ledger.md
 *    §4.1: hex of the first 8 bytes of SHA-256(SPKI DER)); the policy
 *    (cs_policy_check).
 * Only then is the stream handed over, with the peer's node id, raft id,
 * raft address and claims. Any failure closes the connection and logs the
 * precise reason (warn); nothing was delivered. A listener logs the
 * connections it refuses within a budget (a burst of CS_ATTESTED_LOG_BURST
 * lines, then one every CS_ATTESTED_LOG_EVERY_MS: a flood of unauthenticated
 * connections cannot flood the log) and counts every one (cs_attested_stats).
 *
 * The attester and the verification configuration are injected, so the
 * channel does not depend on a platform.
 */
#ifndef CS_NET_ATTESTED_H
#define CS_NET_ATTESTED_H

#include "attest/policy.h"
#include "crypto/x509.h"
#include "net/net.h"

#define CS_ATTESTED_EXPORTER_LABEL "EXPORTER-consort-attestation"
#define CS_ATTESTED_EXPORTER_LEN   32
#define CS_ATTESTED_TIMEOUT_MS     10000
/* A hello holds one evidence envelope and a few short strings. */
#define CS_ATTESTED_HELLO_MAX    (CS_EVIDENCE_MAX_BYTES + 1024)
#define CS_NODE_ID_LEN           16 /* hex characters */
#define CS_RAFT_ADDRESS_MAX      255
#define CS_ATTESTED_LOG_BURST    10
#define CS_ATTESTED_LOG_EVERY_MS 1000

/* Connections a listener refused (for the owner's metrics). */
typedef struct cs_attested_stats {
    uint64_t refused_tls;   /* the TLS handshake failed: no certificate, not TLS, closed, ... */
    uint64_t refused_hello; /* the hello, its evidence or the policy did not check out */
    /* ... of which by the error's category (consort_err_category_of: protocol,
     * crypto, attestation, policy, ...) */
    uint64_t refused_hello_by[CONSORT_CAT_STATE + 1];
} cs_attested_stats;

/*
 * Produces evidence binding `key` (our TLS key) and `nonce` (this
 * connection's exporter): its report data must be
 * cs_report_data_bind(key, nonce). `out` is initialised.
 */
typedef consort_err (*cs_attester_fn)(void *ctx, const cs_key *key, cs_slice nonce,
                                      cs_evidence *out);

typedef struct cs_attested_params {
    /* who we are */
    cs_key *key;   /* our node key (private) */
    cs_x509 *cert; /* our certificate for it: self-signed, or issued by the service */
    uint64_t raft_id;
    const char *raft_address; /* where peers reach our Raft endpoint */
    cs_attester_fn attest;
    void *attest_ctx;
    /* what we accept: both borrowed, read at every check (so they may be
     * updated in place, e.g. when governance trusts a new code id) */
    const cs_verify_opts *verify_opts; /* now == 0: the current time */
    const cs_policy *policy;
    uint64_t timeout_ms; /* TLS handshake, then hello exchange (0: CS_ATTESTED_TIMEOUT_MS) */
    /* optional: where a listener on this configuration counts what it refuses
     * (borrowed; written only while the listener is open, so it may go with
     * the listener's owner) */
    cs_attested_stats *stats;
} cs_attested_params;

typedef struct cs_attested_config cs_attested_config;

/* Holds references to key and certificate; our node id is derived from the key. */
CS_MUST_CHECK consort_err cs_attested_config_new(const cs_attested_params *params,
                                                 cs_attested_config **out);
void cs_attested_config_free(cs_attested_config *cfg);
/* Our node id (borrowed). */
const char *cs_attested_config_node_id(const cs_attested_config *cfg);

/* What the peer proved (all borrowed from the stream, valid while it is open). */
typedef struct cs_attested_peer {
    const char *node_id;
    uint64_t raft_id;
    const char *raft_address;
    const cs_claims *claims;
    const cs_x509 *cert;
} cs_attested_peer;

/*
 * The channel is ready (err == CONSORT_OK, msg "": `s` and `peer` set; the
 * callee owns `s`) or failed (s == NULL, peer == NULL; `msg` says why: never
 * NULL, valid during the call only). Listeners only report ready channels.
 */
typedef void (*cs_attested_cb)(void *ctx, cs_stream *s, const cs_attested_peer *peer,
                               consort_err err, const char *msg);

/* on_ready runs from the loop with each attested channel; after
 * cs_listener_close it never runs again (channels still being set up are
 * closed when they finish). */
CS_MUST_CHECK consort_err cs_attested_listen(uv_loop_t *loop, const char *address,
                                             cs_attested_config *cfg, cs_attested_cb on_ready,
                                             void *ctx, cs_listener **out);
/* on_done runs later (never inside this call) with the channel or the failure. */
CS_MUST_CHECK consort_err cs_attested_connect(uv_loop_t *loop, const char *address,
                                              cs_attested_config *cfg, cs_attested_cb on_done,
                                              void *ctx);
/*
 * Runs the hello exchange over `tls`, a TLS stream whose handshake is done
 * (its ownership passes here, closed on failure). For custom transports.
 */
CS_MUST_CHECK consort_err cs_attested_start(uv_loop_t *loop, cs_stream *tls,
                                            cs_attested_config *cfg, cs_attested_cb on_done,
                                            void *ctx);

/* The peer of an attested stream, or NULL if `s` is not one. */
const cs_attested_peer *cs_attested_stream_peer(const cs_stream *s);

/* The node id for `key`: hex of the first 8 bytes of SHA-256(SPKI DER). */
CS_MUST_CHECK consort_err cs_attested_node_id(const cs_key *key, char out[CS_NODE_ID_LEN + 1]);

/* ---- the hello (attested_hello.c) ---- */

typedef struct cs_attested_hello {
    cs_slice evidence; /* an evidence envelope, not yet decoded */
    cs_slice node_id;
    uint64_t raft_id;
    cs_slice raft_address;
} cs_attested_hello;

/* Appends the framed hello (be32 length || CBOR map) to `out`. */
CS_MUST_CHECK consort_err cs_attested_hello_encode(const cs_evidence *ev, const char *node_id,
                                                   uint64_t raft_id, const char *raft_address,
                                                   cs_buf *out);
/*
 * Decodes the CBOR map of a hello (without the length prefix); the
 * result borrows from `in`. Strict: exactly keys 1..4 in order with the
 * right types, node id of CS_NODE_ID_LEN lower-case hex digits, raft
 * address of 1..CS_RAFT_ADDRESS_MAX printable bytes, evidence of at most
 * CS_EVIDENCE_MAX_BYTES, no trailing bytes.
 */
CS_MUST_CHECK consort_err cs_attested_hello_decode(cs_slice in, cs_attested_hello *out);

#endif
