/* Queries of the consensus object: its state, term, leader, peers and
 * members, read from raft (lifecycle: consensus.c; requests: consensus_ops.c). */
#include "consensus/consensus_priv.h"

const char *cs_raft_state_name(cs_raft_state s)
{
    switch (s) {
    case CS_RAFT_FOLLOWER:
        return "follower";
    case CS_RAFT_CANDIDATE:
        return "candidate";
    case CS_RAFT_LEADER:
        return "leader";
    default:
        return "unavailable";
    }
}

int cs_consensus_raft_role(cs_raft_role role)
{
    switch (role) {
    case CS_RAFT_VOTER:
        return RAFT_VOTER;
    case CS_RAFT_STANDBY:
        return RAFT_STANDBY;
    case CS_RAFT_SPARE:
        return RAFT_SPARE;
    }
    return -1;
}

static cs_raft_role role_of_raft(int role)
{
    return role == RAFT_VOTER     ? CS_RAFT_VOTER
           : role == RAFT_STANDBY ? CS_RAFT_STANDBY
                                  : CS_RAFT_SPARE;
}

/* ---- queries ---- */

cs_raft_state cs_consensus_state(const cs_consensus *c)
{
    switch (c->raft.state) {
    case RAFT_FOLLOWER:
        return CS_RAFT_FOLLOWER;
    case RAFT_CANDIDATE:
        return CS_RAFT_CANDIDATE;
    case RAFT_LEADER:
        return CS_RAFT_LEADER;
    default:
        return CS_RAFT_UNAVAILABLE;
    }
}

uint64_t cs_consensus_id(const cs_consensus *c)
{
    return c->raft.id;
}

uint64_t cs_consensus_term(const cs_consensus *c)
{
    return c->raft.current_term;
}

uint64_t cs_consensus_leader(cs_consensus *c, const char **address)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (c->started && !c->closing)
        raft_leader(&c->raft, &id, &addr);
    if (address != NULL)
        *address = addr;
    return id;
}

bool cs_consensus_peer_recent(const cs_consensus *c, uint64_t id)
{
    const struct raft *r = &c->raft;
    if (!c->started || c->closing || r->state != RAFT_LEADER)
        return false;
    if (id == r->id)
        return true;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == id)
            return r->leader_state.progress[i].recent_recv;
    }
    return false;
}

uint64_t cs_consensus_peer_match(const cs_consensus *c, uint64_t id)
{
    const struct raft *r = &c->raft;
    if (!c->started || c->closing || r->state != RAFT_LEADER)
        return 0;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == id)
            return r->leader_state.progress[i].match_index;
    }
    return 0;
}

uint64_t cs_consensus_commit_index(const cs_consensus *c)
{
    return c->raft.commit_index;
}

uint64_t cs_consensus_last_applied(const cs_consensus *c)
{
    return c->raft.last_applied;
}

uint64_t cs_consensus_last_index(cs_consensus *c)
{
    return raft_last_index(&c->raft);
}

uint64_t cs_consensus_fsm_applied(const cs_consensus *c)
{
    return c->fsm.applied;
}

uint64_t cs_consensus_fsm_restored(const cs_consensus *c)
{
    return c->fsm.restored;
}

uint64_t cs_consensus_fsm_deferred(const cs_consensus *c)
{
    return c->fsm.deferred;
}

consort_err cs_consensus_fsm_error(const cs_consensus *c)
{
    return c->fsm.failed;
}

consort_err cs_consensus_members(const cs_consensus *c, cs_raft_member *out, size_t max, size_t *n)
{
    const struct raft_configuration *conf = &c->raft.configuration;
    *n = conf->n;
    for (size_t i = 0; i < conf->n && i < max; i++)
        out[i] = (cs_raft_member){.id = conf->servers[i].id,
                                  .address = conf->servers[i].address,
                                  .role = role_of_raft(conf->servers[i].role)};
    CS_ENSURE(conf->n <= max, CONSORT_E_TOO_LARGE, "configuration has %u members, room for %zu",
              conf->n, max);
    return CONSORT_OK;
}

cs_raft_transport *cs_consensus_transport(cs_consensus *c)
{
    return c->transport;
}
