/* Replication stalls a leader sees (stall.h). */
#include "consensus/stall.h"

#include <string.h>

const char *cs_raft_progress_mode_name(int mode)
{
    switch (mode) {
    case CS_RAFT_PROBE:
        return "probe";
    case CS_RAFT_PIPELINE:
        return "pipeline";
    case CS_RAFT_SNAPSHOT:
        return "snapshot";
    default:
        return "unknown";
    }
}

static size_t find(const cs_raft_stall *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->slot[i].id == id)
            return i;
    return s->n;
}

size_t cs_raft_stall_check(cs_raft_stall *s, uint64_t now_ms, uint64_t term, uint64_t last_index,
                           const cs_raft_peer_progress *peers, size_t n, uint64_t after_ms,
                           uint64_t every_ms, cs_raft_stalled *out, size_t max)
{
    cs_raft_stall next = {.term = term};
    size_t found = 0;
    for (size_t i = 0; i < n && next.n < CS_RAFT_STALL_PEERS; i++) {
        const cs_raft_peer_progress *p = &peers[i];
        size_t k = s->term == term ? find(s, p->id) : s->n;
        size_t j = next.n++;
        next.slot[j].id = p->id;
        next.slot[j].match = p->match_index;
        if (p->match_index >= last_index) { /* has everything: a stall starts once it lacks */
            next.slot[j].match = UINT64_MAX;
            continue;
        }
        if (k == s->n || s->slot[k].match != p->match_index) {
            next.slot[j].since_ms = now_ms; /* new, moved, or newly behind */
            continue;
        }
        next.slot[j].since_ms = s->slot[k].since_ms;
        next.slot[j].warned_ms = s->slot[k].warned_ms;
        next.slot[j].warned = s->slot[k].warned;
        uint64_t stalled = now_ms - next.slot[j].since_ms;
        if (stalled < after_ms)
            continue;
        if (next.slot[j].warned && now_ms - next.slot[j].warned_ms < every_ms)
            continue;
        next.slot[j].warned = true;
        next.slot[j].warned_ms = now_ms;
        if (found < max)
            out[found++] = (cs_raft_stalled){.index = i, .stalled_ms = stalled};
    }
    *s = next;
    return found;
}

uint64_t cs_raft_stall_ms(const cs_raft_stall *s, uint64_t id, uint64_t now_ms, uint64_t last_index)
{
    size_t k = find(s, id);
    if (k == s->n || s->slot[k].match >= last_index || now_ms < s->slot[k].since_ms)
        return 0;
    return now_ms - s->slot[k].since_ms;
}
