/*
 * The constitution engine's API (constitution.h): a checked copy of the
 * script and its limits; each call parses the proposal and runs one fresh
 * sandboxed Lua state (constitution_sandbox.c).
 */
#include "gov/constitution_priv.h"

#include "base/alloc.h"

#include <string.h>

struct cs_constitution {
    char *script; /* NUL-terminated copy */
    size_t len;
    size_t mem_cap;
    uint64_t budget;
};

/* Generated at build time from src/gov/default_constitution.lua
 * (src/gov/default_constitution.cmake). */
extern const unsigned char cs_default_constitution_lua[];
extern const size_t cs_default_constitution_lua_len;

/* Budgets beyond this are refused (the hook counts in uint64_t; a larger
 * budget would be no budget at all). */
#define MAX_INSTRUCTIONS (UINT64_C(1) << 48)

const char *cs_constitution_default_script(size_t *len)
{
    if (len != NULL)
        *len = cs_default_constitution_lua_len;
    return (const char *)cs_default_constitution_lua;
}

const char *cs_constitution_outcome_name(cs_constitution_outcome o)
{
    switch (o) {
    case CS_CONSTITUTION_OPEN:
        return "Open";
    case CS_CONSTITUTION_ACCEPTED:
        return "Accepted";
    case CS_CONSTITUTION_REJECTED:
        return "Rejected";
    }
    return "?";
}

static void call_init(cs_lua_call *call, const cs_constitution *c, cs_lua_call_kind kind)
{
    memset(call, 0, sizeof *call);
    call->kind = kind;
    call->script = c->script;
    call->script_len = c->len;
    call->mem_cap = c->mem_cap;
    call->budget = c->budget;
}

consort_err cs_constitution_new(const char *script, size_t len,
                                const cs_constitution_limits *limits, cs_constitution **out)
{
    CS_ENSURE(out != NULL && script != NULL, CONSORT_E_INVALID_ARGUMENT,
              "constitution: script and out are required");
    *out = NULL;
    CS_ENSURE(len > 0, CONSORT_E_INVALID_ARGUMENT, "constitution: empty script");
    CS_ENSURE(len <= CS_CONSTITUTION_MAX_SCRIPT, CONSORT_E_TOO_LARGE,
              "constitution: script of %zu bytes, at most %u allowed", len,
              CS_CONSTITUTION_MAX_SCRIPT);
    /* luaL_loadbufferx refuses binary chunks in mode "t" anyway; saying so
     * here gives a clearer message. */
    CS_ENSURE(script[0] != LUA_SIGNATURE[0], CONSORT_E_MALFORMED,
              "constitution: a precompiled (binary) chunk; only Lua source is accepted");
    uint64_t budget = limits != NULL ? limits->instructions : 0;
    size_t mem = limits != NULL ? limits->memory_bytes : 0;
    CS_ENSURE(budget <= MAX_INSTRUCTIONS, CONSORT_E_INVALID_ARGUMENT,
              "constitution: instruction budget %llu over the maximum %llu",
              (unsigned long long)budget, (unsigned long long)MAX_INSTRUCTIONS);
    cs_constitution *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "constitution: out of memory");
    c->script = cs_strndup(script, len);
    if (c->script == NULL) {
        cs_free(c);
        return cs_fail(CONSORT_E_NOMEM, "constitution: out of memory");
    }
    c->len = len;
    c->mem_cap = mem != 0 ? mem : CS_CONSTITUTION_DEFAULT_MEMORY;
    c->budget = budget != 0 ? budget : CS_CONSTITUTION_DEFAULT_INSTRUCTIONS;
    cs_lua_call call;
    call_init(&call, c, CS_LUA_CALL_CHECK);
    consort_err rc = cs_lua_call_run(&call);
    if (rc != CONSORT_OK) {
        cs_constitution_free(c);
        return rc;
    }
    *out = c;
    return CONSORT_OK;
}

consort_err cs_constitution_new_default(const cs_constitution_limits *limits, cs_constitution **out)
{
    size_t len;
    const char *script = cs_constitution_default_script(&len);
    return cs_constitution_new(script, len, limits, out);
}

void cs_constitution_free(cs_constitution *c)
{
    if (c == NULL)
        return;
    cs_free(c->script);
    cs_free(c);
}

const char *cs_constitution_script(const cs_constitution *c, size_t *len)
{
    if (len != NULL)
        *len = c->len;
    return c->script;
}

/* Parses a proposal: a JSON object, no duplicate keys, no NUL in strings. */
static consort_err parse_proposal(const char *fn, const char *text, json_t **out)
{
    *out = NULL;
    CS_ENSURE(text != NULL, CONSORT_E_INVALID_ARGUMENT, "constitution %s: no proposal", fn);
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    CS_ENSURE(j != NULL, CONSORT_E_MALFORMED,
              "constitution %s: proposal is not JSON: %s (line %d, column %d)", fn, jerr.text,
              jerr.line, jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return cs_fail(CONSORT_E_MALFORMED, "constitution %s: proposal is not a JSON object", fn);
    }
    *out = j;
    return CONSORT_OK;
}

static consort_err run_with_proposal(cs_lua_call *call, const char *proposal_json)
{
    json_t *proposal;
    CS_TRY(parse_proposal(cs_lua_call_name(call->kind), proposal_json, &proposal));
    call->proposal = proposal;
    consort_err rc = cs_lua_call_run(call);
    json_decref(proposal);
    return rc;
}

consort_err cs_constitution_validate(const cs_constitution *c, const char *proposal_json)
{
    CS_ENSURE(c != NULL, CONSORT_E_INVALID_ARGUMENT, "constitution validate: no constitution");
    cs_lua_call call;
    call_init(&call, c, CS_LUA_CALL_VALIDATE);
    return run_with_proposal(&call, proposal_json);
}

consort_err cs_constitution_resolve(const cs_constitution *c, const char *proposal_json,
                                    const char *proposer_id, const cs_constitution_vote *votes,
                                    size_t n_votes, const char *const *members, size_t n_members,
                                    cs_constitution_outcome *out)
{
    CS_ENSURE(c != NULL && out != NULL && proposer_id != NULL, CONSORT_E_INVALID_ARGUMENT,
              "constitution resolve: constitution, proposer and out are required");
    CS_ENSURE((votes != NULL || n_votes == 0) && (members != NULL || n_members == 0),
              CONSORT_E_INVALID_ARGUMENT, "constitution resolve: votes or members missing");
    for (size_t i = 0; i < n_votes; i++)
        CS_ENSURE(votes[i].member_id != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "constitution resolve: vote %zu has no member id", i);
    for (size_t i = 0; i < n_members; i++)
        CS_ENSURE(members[i] != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "constitution resolve: member %zu has no id", i);
    cs_lua_call call;
    call_init(&call, c, CS_LUA_CALL_RESOLVE);
    call.proposer_id = proposer_id;
    call.votes = votes;
    call.n_votes = n_votes;
    call.members = members;
    call.n_members = n_members;
    CS_TRY(run_with_proposal(&call, proposal_json));
    *out = call.outcome;
    return CONSORT_OK;
}

consort_err cs_constitution_admit_node(const cs_constitution *c, const char *node_json, bool *admit)
{
    CS_ENSURE(c != NULL && admit != NULL, CONSORT_E_INVALID_ARGUMENT,
              "constitution admit_node: constitution and out are required");
    cs_lua_call call;
    call_init(&call, c, CS_LUA_CALL_ADMIT);
    CS_TRY(run_with_proposal(&call, node_json));
    *admit = call.admit;
    return CONSORT_OK;
}

consort_err cs_constitution_apply(const cs_constitution *c, const char *proposal_json,
                                  const char *proposal_id, const cs_constitution_action *actions,
                                  size_t n_actions)
{
    CS_ENSURE(c != NULL && proposal_id != NULL, CONSORT_E_INVALID_ARGUMENT,
              "constitution apply: constitution and proposal id are required");
    CS_ENSURE(actions != NULL || n_actions == 0, CONSORT_E_INVALID_ARGUMENT,
              "constitution apply: actions missing");
    for (size_t i = 0; i < n_actions; i++)
        CS_ENSURE(actions[i].name != NULL && actions[i].cb != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "constitution apply: host action %zu has no name or callback", i);
    cs_lua_call call;
    call_init(&call, c, CS_LUA_CALL_APPLY);
    call.proposal_id = proposal_id;
    call.actions = actions;
    call.n_actions = n_actions;
    return run_with_proposal(&call, proposal_json);
}
