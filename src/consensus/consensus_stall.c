/*
 * The leader's stall watch (consensus.h CS_RAFT_STALL_WARN_MS, stall.h):
 * once a second, what raft's leader state says of each follower goes
 * through cs_raft_stall_check, and each stall it returns is logged with
 * the transport's connections to that follower. libraft retries a silent
 * follower quietly forever; this is where such a follower shows. A
 * follower or leader watches its own log writes the same way.
 */
#include "base/log.h"
#include "consensus/consensus_priv.h"

#include <inttypes.h>

#define LOG_MOD       "raft"
#define STALL_TICK_MS 1000u /* at most: a tenth of a shorter threshold (tests) */

/* The progress of the members that replicate, but this server; how many. */
static size_t gather(const struct raft *r, cs_raft_peer_progress *out,
                     const struct raft_server **srv, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < r->configuration.n && n < max; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        if (s->id == r->id || s->role == RAFT_SPARE)
            continue;
        const struct raft_progress *p = &r->leader_state.progress[i];
        out[n] = (cs_raft_peer_progress){.id = s->id,
                                         .match_index = p->match_index,
                                         .next_index = p->next_index,
                                         .mode = p->state,
                                         .recent_recv = p->recent_recv};
        srv[n++] = s;
    }
    return n;
}

static void report(cs_consensus *c, const cs_raft_peer_progress *p, uint64_t stalled_ms,
                   uint64_t last_index)
{
    cs_raft_transport_peer tp;
    cs_raft_transport_peer_get(c->transport, p->id, &tp);
    cs_log_warn(LOG_MOD,
                "raft %llu (leader in term %llu): follower %llu has stored nothing new for "
                "%.1f s: match index %" PRIu64 ", our last index %" PRIu64 ", next index %" PRIu64
                ", progress %s, heard from it recently: %s; connections to it: %u outbound, %u "
                "inbound, %u connect(s) pending",
                (unsigned long long)c->raft.id, (unsigned long long)c->raft.current_term,
                (unsigned long long)p->id, (double)stalled_ms / 1000.0, p->match_index, last_index,
                p->next_index, cs_raft_progress_mode_name(p->mode), p->recent_recv ? "yes" : "no",
                tp.outbound, tp.inbound, tp.connecting);
}

static uint64_t tick_ms(const cs_consensus *c)
{
    unsigned ms = c->stall_warn_ms / 10;
    return ms > 0 && ms < STALL_TICK_MS ? ms : STALL_TICK_MS;
}

/* A server whose own log writes do not complete: raft took entries up to
 * its last index into memory, but stores nothing past last_stored. A
 * follower then acknowledges and applies nothing new (the leader sees it
 * answer at a match index that does not move); a leader commits only on
 * its followers' word and, once its followers hold every entry, may never
 * store an entry of its own term. Watched like a peer by the same core. */
static void check_own_log(cs_consensus *c)
{
    const struct raft *r = &c->raft;
    cs_raft_peer_progress self = {.id = r->id, .match_index = r->last_stored};
    uint64_t last = raft_last_index(&c->raft);
    cs_raft_stalled st;
    const uint64_t now = uv_now(c->loop);
    if (cs_raft_stall_check(&c->own_stall, now, r->current_term, last, &self, 1, c->stall_warn_ms,
                            CS_RAFT_STALL_REPEAT_MS, &st, 1) > 0)
        cs_log_warn(LOG_MOD,
                    "raft %llu (%s in term %llu): holds entries up to index %" PRIu64
                    " but has stored nothing past %" PRIu64 " for %.1f s: its log writes do not "
                    "complete, so it %s",
                    (unsigned long long)r->id, r->state == RAFT_LEADER ? "leader" : "follower",
                    (unsigned long long)r->current_term, last, (uint64_t)r->last_stored,
                    (double)st.stalled_ms / 1000.0,
                    r->state == RAFT_LEADER ? "commits only on its followers' word"
                                            : "acknowledges and applies nothing new");
    uint64_t stalled = cs_raft_stall_ms(&c->own_stall, r->id, now, last);
    if (stalled < c->stall_fail_ms)
        return;
    char msg[CS_ERRMSG_MAX];
    snprintf(msg, sizeof msg,
             "raft %llu: its log writes have not completed for %.1f s (entries up to index %" PRIu64
             " held, stored up to %" PRIu64 "): stopping, so that a restart reloads the log",
             (unsigned long long)r->id, (double)stalled / 1000.0, last, (uint64_t)r->last_stored);
    cs_consensus_report_failure(c, CONSORT_E_IO, msg);
}

static void tick_cb(void *ctx)
{
    cs_consensus *c = ctx;
    cs_timer_start(c->stall_timer, tick_ms(c));
    const struct raft *r = &c->raft;
    if (c->closing || (r->state != RAFT_FOLLOWER && r->state != RAFT_LEADER))
        c->own_stall = (cs_raft_stall){0};
    else
        check_own_log(c);
    if (c->closing || r->state != RAFT_LEADER) {
        c->stall = (cs_raft_stall){0};
        return;
    }
    cs_raft_peer_progress p[CS_RAFT_STALL_PEERS];
    const struct raft_server *srv[CS_RAFT_STALL_PEERS];
    size_t n = gather(r, p, srv, CS_RAFT_STALL_PEERS);
    uint64_t last = raft_last_index(&c->raft);
    cs_raft_stalled st[CS_RAFT_STALL_PEERS];
    size_t k =
        cs_raft_stall_check(&c->stall, uv_now(c->loop), r->current_term, last, p, n,
                            c->stall_warn_ms, CS_RAFT_STALL_REPEAT_MS, st, CS_RAFT_STALL_PEERS);
    for (size_t i = 0; i < k; i++)
        report(c, &p[st[i].index], st[i].stalled_ms, last);
}

consort_err cs_consensus_stall_start(cs_consensus *c)
{
    CS_TRY(cs_timer_new(c->loop, tick_cb, c, &c->stall_timer));
    cs_timer_start(c->stall_timer, tick_ms(c));
    return CONSORT_OK;
}

void cs_consensus_stall_stop(cs_consensus *c)
{
    cs_timer_free(c->stall_timer);
    c->stall_timer = NULL;
}

consort_err cs_consensus_progress(cs_consensus *c, cs_raft_peer_status *out, size_t max, size_t *n)
{
    *n = 0;
    struct raft *r = &c->raft;
    CS_ENSURE(c->started && !c->closing && r->state == RAFT_LEADER, CONSORT_E_STATE,
              "consensus: progress is known to the leader only");
    cs_raft_peer_progress p[CS_RAFT_STALL_PEERS];
    const struct raft_server *srv[CS_RAFT_STALL_PEERS];
    size_t count = gather(r, p, srv, CS_RAFT_STALL_PEERS);
    uint64_t last = raft_last_index(r);
    uint64_t now = uv_now(c->loop);
    *n = count;
    for (size_t i = 0; i < count && i < max; i++)
        out[i] = (cs_raft_peer_status){
            .id = p[i].id,
            .role = srv[i]->role == RAFT_VOTER ? CS_RAFT_VOTER : CS_RAFT_STANDBY,
            .match_index = p[i].match_index,
            .next_index = p[i].next_index,
            .mode = cs_raft_progress_mode_name(p[i].mode),
            .recent = p[i].recent_recv,
            .stalled_ms = c->stall.term == r->current_term
                              ? cs_raft_stall_ms(&c->stall, p[i].id, now, last)
                              : 0};
    CS_ENSURE(count <= max, CONSORT_E_TOO_LARGE, "consensus: %zu peers, room for %zu", count, max);
    return CONSORT_OK;
}
