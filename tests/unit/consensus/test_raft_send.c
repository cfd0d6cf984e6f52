/*
 * libraft 0.15 sends a follower's AppendEntries result to the leader it
 * knows (replication.c sendAppendEntriesResult), and clears that leader's
 * address when its term or role changes (convert.c): a log write that
 * completes after such a change sends to a NULL address, and raft_uv's
 * send takes its strlen (uv_send.c uvClientInit). The chaos run of seed
 * 1333946640 met it: a follower restarted under a connection flood died of
 * SIGSEGV in libraft, strlen(NULL) <- uvClientInit. libraft fixed it after
 * 0.15 (canonical/raft 5263edc, "Drop append entries result if a state
 * transition occurred"); Debian 12 ships 0.15.0.
 *
 * raft_io's send is wrapped (consensus.c): a message to no address is
 * refused with RAFT_NOCONNECTION, which libraft's callers take as a failed
 * send (they free the request; the leader sends its entries again).
 */
#include "raft_cluster.h"

#include "consensus/consensus_priv.h"

static unsigned sent;

static void send_cb(struct raft_io_send *req, int status)
{
    (void)req;
    (void)status;
    sent++;
}

static void send_to_no_address_is_refused(void **state)
{
    (void)state;
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, 1);
    cl_start_all(cl);
    assert_true(cl_wait_leader(cl, 8000, 0) >= 0);
    cs_consensus *c = cl->nodes[0].c;
    static struct raft_io_send req;
    const struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT,
                                   .server_id = 2,
                                   .server_address = NULL,
                                   .append_entries_result = {.term = 1}};
    sent = 0;
    assert_int_equal(c->io.send(&c->io, &req, &m, send_cb), RAFT_NOCONNECTION);
    cl_run_for(cl, 100);
    assert_int_equal(sent, 0); /* refused: no callback, the caller frees */
    /* and the server goes on */
    assert_int_equal(cs_consensus_state(c), CS_RAFT_LEADER);
    cl_cleanup(cl);
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(send_to_no_address_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
