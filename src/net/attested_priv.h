/* Private to src/net/attested*.c: the configuration shared by channels. */
#ifndef CS_NET_ATTESTED_PRIV_H
#define CS_NET_ATTESTED_PRIV_H

#include "crypto/tls.h"
#include "net/attested.h"

struct cs_attested_config {
    cs_key *key;
    cs_x509 *cert;
    cs_tls_config *server_tls; /* requires a client certificate, records it */
    cs_tls_config *client_tls;
    char node_id[CS_NODE_ID_LEN + 1];
    uint64_t raft_id;
    char raft_address[CS_RAFT_ADDRESS_MAX + 1];
    cs_attester_fn attest;
    void *attest_ctx;
    const cs_verify_opts *verify_opts;
    const cs_policy *policy;
    uint64_t timeout_ms;
    cs_attested_stats *stats; /* optional, borrowed */
    int refs;                 /* the owner and every channel in progress (loop thread only) */
};

cs_attested_config *cs_attested_config_ref(cs_attested_config *cfg);
/* cs_attested_start for a channel a listener accepted: its refusal is not
 * logged by the channel (the listener logs it, within its budget). */
CS_MUST_CHECK consort_err cs_attested_start_accepted(uv_loop_t *loop, cs_stream *tls,
                                                     cs_attested_config *cfg,
                                                     cs_attested_cb on_done, void *ctx);

#endif
