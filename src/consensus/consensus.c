/* Lifecycle of the consensus object (queries: consensus_query.c; requests: consensus_ops.c). */
#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "consensus/bridge.h"
#include "consensus/consensus_priv.h"
#include "consensus/raft_err.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_MOD "raft"

static void io_close(struct raft_io *io, raft_io_close_cb cb);

/* ---- raft stopping itself (consensus.h on_failed) ----
 *
 * libraft 0.15 drops the error it stops for (recvCb, tickCb call
 * convertToUnavailable with nothing else): the term and vote writes, the
 * usual cause, are wrapped to keep what raft_uv said. */

static void note_io_failure(cs_consensus *c, int rv, const char *what, uint64_t value)
{
    c->io_failed_rv = rv;
    snprintf(c->io_failed_msg, sizeof c->io_failed_msg, "%s %llu: %s", what,
             (unsigned long long)value, c->io.errmsg);
}

static int io_set_term(struct raft_io *io, raft_term term)
{
    cs_consensus *c = cs_consensus_of_io(io);
    int rv = c->io_set_term(io, term);
    if (rv != 0)
        note_io_failure(c, rv, "persisting term", term);
    return rv;
}

/* libraft 0.15 sends a follower's AppendEntries result to the leader it
 * knows, after a log write completes; a term or role change meanwhile has
 * cleared that leader's address (convert.c), and raft_uv's send takes the
 * strlen of NULL (uv_send.c uvClientInit): SIGSEGV (fixed upstream after
 * 0.15, canonical/raft 5263edc). Such a message is refused as undeliverable:
 * libraft's callers free the request, and the leader sends again. */
static int io_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                   raft_io_send_cb cb)
{
    cs_consensus *c = cs_consensus_of_io(io);
    if (message->server_address == NULL)
        return RAFT_NOCONNECTION;
    return c->io_send(io, req, message, cb);
}

static int io_set_vote(struct raft_io *io, raft_id id)
{
    cs_consensus *c = cs_consensus_of_io(io);
    int rv = c->io_set_vote(io, id);
    if (rv != 0)
        note_io_failure(c, rv, "persisting a vote for", id);
    return rv;
}

void cs_consensus_report_failure(cs_consensus *c, consort_err err, const char *msg)
{
    if (c->failed)
        return;
    c->failed = true;
    cs_log_error(LOG_MOD, "%s; only a restart brings this server back", msg);
    if (c->on_failed != NULL)
        c->on_failed(c->on_state_ctx, err, msg);
}

/* Raft went UNAVAILABLE while it ran (not a close): log it, tell the owner. */
static void report_stopped(cs_consensus *c)
{
    char msg[CS_ERRMSG_MAX];
    consort_err err;
    if (c->io_failed_rv != 0)
        err = cs_raft_format(msg, sizeof msg, c->io_failed_rv, c->io_failed_msg,
                             "raft %llu stopped itself (it drops every message from now on)",
                             (unsigned long long)c->raft.id);
    else {
        err = CONSORT_E_STATE;
        snprintf(msg, sizeof msg,
                 "raft %llu stopped itself (it drops every message from now on) after an error "
                 "handling a message or its timer (libraft gives no detail)",
                 (unsigned long long)c->raft.id);
    }
    cs_consensus_report_failure(c, err, msg);
}

static void watch_cb(uv_check_t *h)
{
    cs_consensus *c = h->data;
    cs_raft_state state = cs_consensus_state(c);
    uint64_t term = c->raft.current_term;
    uint64_t leader = cs_consensus_leader(c, NULL);
    if (state == c->seen_state && term == c->seen_term && leader == c->seen_leader)
        return;
    cs_log_debug(LOG_MOD, "raft %llu: %s -> %s, term %llu", (unsigned long long)c->raft.id,
                 cs_raft_state_name(c->seen_state), cs_raft_state_name(state),
                 (unsigned long long)term);
    c->seen_state = state;
    c->seen_term = term;
    c->seen_leader = leader;
    if (c->on_state != NULL)
        c->on_state(c->on_state_ctx, state, term);
    /* the watch runs from start to close only: unavailable in between is raft's own stop */
    if (state == CS_RAFT_UNAVAILABLE && c->started && !c->closing && !c->failed)
        report_stopped(c);
}

bool cs_consensus_has_state(const char *data_dir)
{
    /* libraft's uv backend keeps term and vote in metadata1 / metadata2 */
    static const char *const names[] = {"metadata1", "metadata2"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        int w = snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
        if (w > 0 && (size_t)w < sizeof path && access(path, F_OK) == 0)
            return true;
    }
    return false;
}

consort_err cs_consensus_new(const cs_consensus_opts *o, cs_consensus **out)
{
    CS_ENSURE(o != NULL && out != NULL && o->loop != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consensus: options and loop are required");
    CS_ENSURE(o->id != 0, CONSORT_E_INVALID_ARGUMENT, "consensus: raft id must be > 0");
    CS_ENSURE(o->address != NULL && o->address[0] != '\0' && strlen(o->address) <= 255,
              CONSORT_E_INVALID_ARGUMENT, "consensus: raft address must be 1..255 bytes");
    CS_ENSURE(o->data_dir != NULL && o->data_dir[0] != '\0', CONSORT_E_INVALID_ARGUMENT,
              "consensus: data directory required");
    CS_TRY_CTX(cs_mkdir_p(o->data_dir, 0700), "consensus data directory");

    cs_consensus *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "consensus object");
    consort_err rc;
    int rv;
    c->loop = o->loop;
    c->on_state = o->on_state;
    c->on_state_ctx = o->on_state_ctx;
    c->on_failed = o->on_failed;
    c->stall_warn_ms = o->stall_warn_ms != 0 ? o->stall_warn_ms : CS_RAFT_STALL_WARN_MS;
    c->stall_fail_ms = o->stall_fail_ms != 0 ? o->stall_fail_ms : CS_RAFT_OWN_STALL_FAIL_MS;
    CS_TRY_GOTO(rc, cs_defer_new(o->loop, &c->later), err_free);
    CS_TRY_GOTO(rc, cs_fsm_adapter_init(&c->fsm, &o->fsm, &c->raft), err_free);
    cs_fsm_adapter_set_later(&c->fsm, c->later);
    cs_fsm_adapter_set_loop(&c->fsm, o->loop);
    cs_fsm_adapter_set_answer_first(&c->fsm, true);
    CS_TRY_GOTO(rc, cs_raft_transport_new(o->loop, &o->connector, o->limits, &c->transport),
                err_free);
    rv = raft_uv_init(&c->io, o->loop, o->data_dir, cs_raft_transport_raft(c->transport));
    if (rv != 0) {
        rc = cs_raft_fail(rv, c->io.errmsg, "raft I/O in %s", o->data_dir);
        goto err_transport;
    }
    /* raft.h: io version 2 adds async_work, which fsm version 3 (asynchronous
     * snapshots) needs and raft_init checks for. libraft 0.15's raft_uv_init
     * sets async_work but leaves version at 1. */
    if (c->io.version < 2 && c->io.async_work != NULL)
        c->io.version = 2;
    if (o->connect_retry_ms != 0)
        raft_uv_set_connect_retry_delay(&c->io, o->connect_retry_ms);
    if (o->segment_size != 0)
        raft_uv_set_segment_size(&c->io, o->segment_size);
    rv = raft_init(&c->raft, &c->io, &c->fsm.raft_fsm, o->id, o->address);
    if (rv != 0) {
        rc = cs_raft_fail(rv, c->raft.errmsg, "raft server %llu in %s", (unsigned long long)o->id,
                          o->data_dir);
        goto err_io;
    }
    c->raft.data = c;
    if (o->election_timeout_ms != 0)
        raft_set_election_timeout(&c->raft, o->election_timeout_ms);
    if (o->heartbeat_timeout_ms != 0)
        raft_set_heartbeat_timeout(&c->raft, o->heartbeat_timeout_ms);
    if (o->snapshot_threshold != 0)
        raft_set_snapshot_threshold(&c->raft, o->snapshot_threshold);
    if (o->snapshot_trailing != 0)
        raft_set_snapshot_trailing(&c->raft, o->snapshot_trailing);
    /* not libraft's 30 s: a follower whose InstallSnapshot libraft dropped
     * would stay behind that long (consensus.h) */
    raft_set_install_snapshot_timeout(&c->raft, CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS);
    raft_set_pre_vote(&c->raft, o->pre_vote);
    uv_check_init(o->loop, &c->watch);
    uv_unref((uv_handle_t *)&c->watch);
    c->watch.data = c;
    uv_idle_init(o->loop, &c->reap);
    c->reap.data = c;
    /* close: only raft_uv's first report reaches raft ("close" below) */
    c->io_close = c->io.close;
    c->io.close = io_close;
    c->io_send = c->io.send;
    c->io.send = io_send;
    c->io_set_term = c->io.set_term;
    c->io.set_term = io_set_term;
    c->io_set_vote = c->io.set_vote;
    c->io.set_vote = io_set_vote;
    cs_consensus_append_wrap(c);
    *out = c;
    return CONSORT_OK;

err_io:
    raft_uv_close(&c->io);
err_transport:
    cs_raft_transport_free(c->transport);
err_free:
    cs_defer_free(c->later);
    cs_free(c);
    return rc;
}

consort_err cs_consensus_bootstrap(cs_consensus *c, const cs_raft_member *members, size_t n)
{
    CS_ENSURE(!c->started && !c->closing, CONSORT_E_STATE,
              "consensus: bootstrap only before start");
    CS_ENSURE(members != NULL && n > 0 && n <= 1024, CONSORT_E_INVALID_ARGUMENT,
              "consensus: bootstrap needs 1..1024 members, got %zu", n);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    consort_err rc = CONSORT_OK;
    for (size_t i = 0; i < n; i++) {
        int role = cs_consensus_raft_role(members[i].role);
        int rv = members[i].address == NULL || role < 0
                     ? RAFT_INVALID
                     : raft_configuration_add(&conf, members[i].id, members[i].address, role);
        if (rv != 0) {
            rc = cs_raft_fail(rv, NULL, "bootstrap member %zu (id %llu)", i,
                              (unsigned long long)members[i].id);
            goto done;
        }
    }
    int rv = raft_bootstrap(&c->raft, &conf);
    if (rv == RAFT_CANTBOOTSTRAP)
        rc = cs_fail(CONSORT_E_STATE, "raft %llu: data directory already holds state",
                     (unsigned long long)c->raft.id);
    else if (rv != 0)
        rc = cs_raft_fail(rv, c->io.errmsg, "raft %llu: bootstrap", (unsigned long long)c->raft.id);
done:
    raft_configuration_close(&conf);
    return rc;
}

consort_err cs_consensus_bootstrap_term(cs_consensus *c, uint64_t term)
{
    CS_ENSURE(!c->started && !c->closing, CONSORT_E_STATE,
              "consensus: the term is set before start only");
    CS_ENSURE(term > 1, CONSORT_E_STATE, "consensus: term %llu is not above bootstrap's",
              (unsigned long long)term);
    int rv = c->io.set_term(&c->io, (raft_term)term);
    if (rv != 0)
        return cs_raft_fail(rv, c->io.errmsg, "raft %llu: setting term %llu",
                            (unsigned long long)c->raft.id, (unsigned long long)term);
    return CONSORT_OK;
}

void cs_consensus_compact_soon(cs_consensus *c)
{
    if (!c->compacting) {
        c->saved_threshold = c->raft.snapshot.threshold;
        c->saved_trailing = c->raft.snapshot.trailing;
        c->compacting = true;
    }
    raft_set_snapshot_threshold(&c->raft, 1);
    raft_set_snapshot_trailing(&c->raft, 0);
}

void cs_consensus_compact_done(cs_consensus *c)
{
    if (!c->compacting)
        return;
    raft_set_snapshot_threshold(&c->raft, c->saved_threshold);
    raft_set_snapshot_trailing(&c->raft, c->saved_trailing);
    c->compacting = false;
}

void cs_consensus_set_snapshot_threshold(cs_consensus *c, unsigned entries)
{
    if (entries == 0)
        entries = 1;
    if (c->compacting)
        c->saved_threshold = entries;
    else
        raft_set_snapshot_threshold(&c->raft, entries);
}

unsigned cs_consensus_snapshot_threshold(const cs_consensus *c)
{
    return c->compacting ? c->saved_threshold : c->raft.snapshot.threshold;
}

void cs_consensus_set_snapshot_trailing(cs_consensus *c, unsigned entries)
{
    if (c->compacting)
        c->saved_trailing = entries;
    else
        raft_set_snapshot_trailing(&c->raft, entries);
}

unsigned cs_consensus_snapshot_trailing(const cs_consensus *c)
{
    return c->compacting ? c->saved_trailing : c->raft.snapshot.trailing;
}

void cs_consensus_log_held(const cs_consensus *c, size_t *entries, uint64_t *bytes)
{
    const struct raft_log *l = &c->raft.log;
    size_t n = 0;
    uint64_t b = 0;
    for (size_t i = l->front; i != l->back; i = (i + 1) % l->size) {
        n++;
        b += l->entries[i].buf.len;
    }
    *entries = n;
    *bytes = b;
}

consort_err cs_consensus_start(cs_consensus *c)
{
    CS_ENSURE(!c->started && !c->closing, CONSORT_E_STATE, "consensus: already started");
    int rv = raft_start(&c->raft);
    if (rv != 0)
        return cs_raft_fail(rv, raft_errmsg(&c->raft), "raft %llu: start",
                            (unsigned long long)c->raft.id);
    c->started = true;
    uv_check_start(&c->watch, watch_cb);
    if (cs_consensus_stall_start(c) != CONSORT_OK) /* diagnostics only: raft runs on */
        cs_log_warn(LOG_MOD, "raft %llu: no stall watch: %s", (unsigned long long)c->raft.id,
                    consort_errmsg());
    return CONSORT_OK;
}

consort_err cs_consensus_accept(cs_consensus *c, cs_stream *stream, uint64_t peer_id,
                                const char *peer_address)
{
    if (c->closing) {
        cs_raft_stream_discard(stream);
        return cs_fail(CONSORT_E_STATE, "consensus: closing");
    }
    return cs_raft_transport_accept(c->transport, stream, peer_id, peer_address);
}

/* ---- close ----
 *
 * libraft 0.15's uv I/O reports itself closed (uvMaybeFireCloseCb) when its
 * tracked work is done, but an open segment's writer is taken off those
 * queues before its own handles have closed, and its close callback calls
 * uvMaybeFireCloseCb again: raft's close callback then runs a second time
 * (freeing raft's address and log again) and raft_uv's state must still be
 * there for it. So raft_uv's close is wrapped (io_close): only the first
 * report reaches raft; later ones are counted and dropped. raft_uv's state,
 * the transport and this object stay until `reap`, an idle handle, sees no
 * handle of the loop still closing: a writer closes its handles without
 * waiting (0.15 finalizes a segment only once no write is in flight), so by
 * then every late report has run. Then the user's callback runs, once, from
 * reap's close callback. */

/* process-wide: loops of other threads may close their servers too */
static atomic_ulong late_io_closes;

unsigned long cs_consensus_late_io_closes(void)
{
    return atomic_load_explicit(&late_io_closes, memory_order_relaxed);
}

static void reap_closed_cb(uv_handle_t *h)
{
    cs_consensus *c = h->data;
    void (*cb)(void *) = c->close_cb;
    void *ctx = c->close_ctx;
    cs_free(c);
    if (cb != NULL)
        cb(ctx);
}

static void any_closing_cb(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        *(bool *)arg = true;
}

static void reap_cb(uv_idle_t *h)
{
    cs_consensus *c = h->data;
    bool closing = false;
    uv_walk(c->loop, any_closing_cb, &closing);
    if (closing)
        return; /* a segment writer of libraft may still report itself */
    uv_idle_stop(h);
    cs_defer_flush(c->later); /* requests failed by raft_close, not yet told */
    cs_defer_free(c->later);
    c->later = NULL;
    raft_uv_close(&c->io);
    cs_raft_transport_free(c->transport);
    c->transport = NULL;
    uv_close((uv_handle_t *)h, reap_closed_cb);
}

static void raft_closed_cb(struct raft *r)
{
    cs_consensus *c = r->data;
    uv_close((uv_handle_t *)&c->watch, NULL);
    uv_idle_start(&c->reap, reap_cb);
}

static void io_closed_cb(struct raft_io *io)
{
    cs_consensus *c = cs_consensus_of_io(io);
    if (c->io_closed_calls++ > 0) {
        atomic_fetch_add_explicit(&late_io_closes, 1, memory_order_relaxed);
        cs_log_debug(LOG_MOD, "raft %llu: raft_uv reported closed again (%u)",
                     (unsigned long long)c->raft.id, c->io_closed_calls);
        return;
    }
    c->raft_io_closed(io); /* raft's ioCloseCb: raft_closed_cb */
}

static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
    cs_consensus *c = cs_consensus_of_io(io);
    cs_consensus_append_release(c);
    c->raft_io_closed = cb;
    c->io_close(io, io_closed_cb);
}

void cs_consensus_close(cs_consensus *c, void (*cb)(void *ctx), void *ctx)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_ctx = ctx;
    uv_check_stop(&c->watch);
    cs_consensus_stall_stop(c);
    cs_fsm_adapter_stop(&c->fsm);
    raft_close(&c->raft, raft_closed_cb);
}
