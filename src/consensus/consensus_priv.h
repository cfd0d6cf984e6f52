/* The consensus object's insides, shared by consensus.c and consensus_ops.c. */
#ifndef CS_CONSENSUS_CONSENSUS_PRIV_H
#define CS_CONSENSUS_CONSENSUS_PRIV_H

#include "consensus/consensus.h"
#include "consensus/stall.h"
#include "net/timer.h"
#include "net/defer.h"

#include <raft.h>
#include <raft/uv.h>

typedef struct append_wrap append_wrap;

struct cs_consensus {
    uv_loop_t *loop;
    struct raft raft; /* raft.data == this */
    struct raft_io io;
    cs_raft_transport *transport;
    cs_fsm_adapter fsm;
    /* Watches state, term and the known leader after every loop iteration
     * (libraft 0.15 has no state-change callback). */
    uv_check_t watch;
    cs_raft_state seen_state;
    uint64_t seen_term;
    uint64_t seen_leader;
    void (*on_state)(void *ctx, cs_raft_state state, uint64_t term);
    void *on_state_ctx;
    /* raft stopping itself (consensus.h on_failed): raft_uv's set_term and
     * set_vote are wrapped to keep what the last failure said, since
     * libraft drops the error it stops for */
    void (*on_failed)(void *ctx, consort_err err, const char *msg); /* ctx: on_state_ctx */
    bool failed;                                                    /* told once */
    /* raft_uv's send, wrapped to refuse a message to no address (libraft
     * 0.15 sends a follower's AppendEntries result to a leader it has
     * forgotten: consensus.c io_send) */
    int (*io_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                   raft_io_send_cb cb);
    int (*io_set_term)(struct raft_io *io, raft_term term);
    int (*io_set_vote)(struct raft_io *io, raft_id id);
    int io_failed_rv; /* the last failed set_term / set_vote (0: none) */
    char io_failed_msg[RAFT_ERRMSG_BUF_SIZE + 64];
    /* a failed log write (consensus.c): raft_uv's append is wrapped; the
     * first failure is kept and told from the loop, and every append from
     * then on is held until raft closes */
    append_wrap *held_head, *held_tail;
    int (*io_append)(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
    consort_err append_failed_err; /* CONSORT_OK: none */
    char append_failed_msg[CS_ERRMSG_MAX];
    cs_defer_item append_failed_item;
    /* the leader's stall watch (consensus_stall.c) */
    cs_timer *stall_timer;
    cs_raft_stall stall;
    cs_raft_stall own_stall; /* a follower's own log writes */
    unsigned stall_warn_ms;
    unsigned stall_fail_ms;
    bool started;
    bool closing;
    /* cs_consensus_compact_soon: the snapshot policy to go back to */
    bool compacting;
    unsigned saved_threshold, saved_trailing;
    void (*close_cb)(void *ctx);
    void *close_ctx;
    /* Closing (consensus.c "close"): libraft 0.15's uv I/O may call its close
     * callback again after the first call, once per segment writer that
     * finishes closing later. raft_uv's close and raft's callback are
     * wrapped so that only the first call reaches raft; `reap` then waits
     * until no handle of the loop is still closing before it frees raft_uv's
     * state, the transport and this object. */
    void (*io_close)(struct raft_io *io, raft_io_close_cb cb);
    raft_io_close_cb raft_io_closed;
    unsigned io_closed_calls; /* how often raft_uv reported itself closed */
    uv_idle_t reap;
    /* Completions waiting for the loop: libraft fails a leader's requests
     * from inside its step-down (and close), where a request made by the
     * callback would crash it (consensus_ops.c "later"). */
    cs_defer *later;
};

/* Calls of raft_uv's close callback after its first, in this process (the
 * libraft 0.15 double close, consensus.c "close"); for tests. */
unsigned long cs_consensus_late_io_closes(void);

/* The consensus object of raft's io (raft's data is the cs_consensus). */
static inline cs_consensus *cs_consensus_of_io(struct raft_io *io)
{
    return ((struct raft *)io->data)->data;
}

/* A failed log write (consensus_append.c): wraps raft_uv's append, once,
 * at creation; hands the held requests back to raft as it closes
 * (raft_close has made raft UNAVAILABLE by then). */
void cs_consensus_append_wrap(cs_consensus *c);
void cs_consensus_append_release(cs_consensus *c);

/* The stall watch (consensus_stall.c): started with raft, freed on close. */
CS_MUST_CHECK consort_err cs_consensus_stall_start(cs_consensus *c);
void cs_consensus_stall_stop(cs_consensus *c);

/* libraft's role code for ours. */
int cs_consensus_raft_role(cs_raft_role role);

/* Logs `msg` as this server's failure and tells on_failed, once (later
 * calls do nothing). */
void cs_consensus_report_failure(cs_consensus *c, consort_err err, const char *msg);

#endif
