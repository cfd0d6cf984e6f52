/*
 * The node's operational gauges for /node/metrics (docs/observability.md),
 * beside the counters of node_docs.c: the raft state, how far the last
 * signature lags the commit, the ledger's size on disk, the age of the
 * last snapshot, and node channels refused by reason. Computed when
 * scraped; the ledger size reads its directory then (a few entries).
 */
#include "node/node_priv.h"

#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

/* Bytes of the regular files in `dir` (0 if it cannot be read). */
static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    uint64_t total = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static double seconds_since(uint64_t then_ns, uint64_t now_ns)
{
    return then_ns != 0 && now_ns > then_ns ? (double)(now_ns - then_ns) / 1e9 : 0;
}

/* On the leader: each follower's replication as raft's leader knows it
 * (consensus.h cs_consensus_progress); no series elsewhere. A family's
 * samples follow its HELP and TYPE together. */
static consort_err follower_gauges(cs_node *n, cs_buf *out)
{
    cs_raft_peer_status st[CS_NODE_MAX_LIST];
    size_t count = 0;
    if (n->cons == NULL ||
        cs_consensus_progress(n->cons, st, CS_NODE_MAX_LIST, &count) != CONSORT_OK) {
        cs_err_clear(); /* not the leader: no series */
        count = 0;
    }
    const char *id = cs_node_id(n);
    CS_TRY(cs_buf_printf(out, "# HELP consort_raft_follower_match_index The last raft index a "
                              "follower stored, as the leader knows it.\n"
                              "# TYPE consort_raft_follower_match_index gauge\n"));
    for (size_t i = 0; i < count; i++)
        CS_TRY(cs_buf_printf(out,
                             "consort_raft_follower_match_index{node=\"%s\",raft_id=\"%" PRIu64
                             "\"} %" PRIu64 "\n",
                             id, st[i].id, st[i].match_index));
    CS_TRY(cs_buf_printf(out, "# HELP consort_raft_follower_stalled_seconds How long a "
                              "follower's match index has not moved while the leader has newer "
                              "entries (0: not stalled).\n"
                              "# TYPE consort_raft_follower_stalled_seconds gauge\n"));
    for (size_t i = 0; i < count; i++)
        CS_TRY(cs_buf_printf(out,
                             "consort_raft_follower_stalled_seconds{node=\"%s\",raft_id=\"%" PRIu64
                             "\"} %.3f\n",
                             id, st[i].id, (double)st[i].stalled_ms / 1000.0));
    return CONSORT_OK;
}

consort_err node_metrics_gauges(cs_node *n, cs_buf *out)
{
    const char *id = cs_node_id(n);
    cs_raft_state state = n->cons != NULL ? cs_consensus_state(n->cons) : CS_RAFT_UNAVAILABLE;
    CS_TRY(cs_buf_printf(out, "# HELP consort_raft_state 1 for this node's raft state, 0 for "
                              "the others.\n# TYPE consort_raft_state gauge\n"));
    static const cs_raft_state states[] = {CS_RAFT_UNAVAILABLE, CS_RAFT_FOLLOWER, CS_RAFT_CANDIDATE,
                                           CS_RAFT_LEADER};
    for (size_t i = 0; i < CS_ARRAY_LEN(states); i++)
        CS_TRY(cs_buf_printf(out, "consort_raft_state{node=\"%s\",state=\"%s\"} %d\n", id,
                             cs_raft_state_name(states[i]), states[i] == state ? 1 : 0));
    node_replica_stats rs =
        n->replica != NULL ? node_replica_get_stats(n->replica) : (node_replica_stats){0};
    uint64_t commit = cs_node_commit_txid(n).seqno;
    uint64_t signed_seqno = n->replica != NULL ? node_replica_applied_sig(n->replica) : 0;
    uint64_t now = uv_hrtime();
    char ledger[sizeof n->cfg.data_dir + 16];
    uint64_t ledger_bytes =
        cs_path_join(ledger, sizeof ledger, n->cfg.data_dir, "ledger") == CONSORT_OK
            ? dir_bytes(ledger)
            : 0;
    CS_TRY(cs_buf_printf(
        out,
        "# HELP consort_commit_index Raft commit index: the last committed seqno.\n"
        "# TYPE consort_commit_index gauge\nconsort_commit_index{node=\"%s\"} %" PRIu64 "\n"
        "# HELP consort_signature_lag_transactions Committed transactions after the last "
        "signature entry this node applied.\n# TYPE consort_signature_lag_transactions gauge\n"
        "consort_signature_lag_transactions{node=\"%s\"} %" PRIu64 "\n"
        "# HELP consort_signature_age_seconds Time since this node applied a signature entry "
        "(0: none yet).\n# TYPE consort_signature_age_seconds gauge\n"
        "consort_signature_age_seconds{node=\"%s\"} %.3f\n"
        "# HELP consort_ledger_bytes Size of this node's ledger files.\n"
        "# TYPE consort_ledger_bytes gauge\nconsort_ledger_bytes{node=\"%s\"} %" PRIu64 "\n"
        "# HELP consort_snapshot_age_seconds Time since this node took or installed a snapshot "
        "(0: none since it started).\n# TYPE consort_snapshot_age_seconds gauge\n"
        "consort_snapshot_age_seconds{node=\"%s\"} %.3f\n",
        id, commit, id, commit > signed_seqno ? commit - signed_seqno : 0, id,
        seconds_since(rs.last_signature_ns, now), id, ledger_bytes, id,
        seconds_since(rs.last_snapshot_ns, now)));
    CS_TRY(follower_gauges(n, out));
    cs_attested_stats ps = n->peers != NULL ? node_peers_stats(n->peers) : (cs_attested_stats){0};
    CS_TRY(cs_buf_printf(out, "# HELP consort_attestation_failures_total Node channels refused "
                              "after TLS: the hello, its evidence or the policy did not check "
                              "out, by the error's category.\n"
                              "# TYPE consort_attestation_failures_total counter\n"));
    for (size_t c = CONSORT_CAT_USAGE; c < CS_ARRAY_LEN(ps.refused_hello_by); c++)
        CS_TRY(cs_buf_printf(out,
                             "consort_attestation_failures_total{node=\"%s\",reason=\"%s\"} "
                             "%" PRIu64 "\n",
                             id, consort_err_category_name((consort_err_category)c),
                             ps.refused_hello_by[c]));
    return CONSORT_OK;
}
