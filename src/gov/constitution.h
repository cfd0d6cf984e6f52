/*
 * The constitution engine: a governance script in Lua 5.4 that decides
 * whether a proposal is well formed (validate), whether the ballots cast so
 * far accept or reject it (resolve), and what an accepted proposal does
 * (apply). docs/governance.md, "The constitution", is the user's page.
 *
 * A proposal is JSON text, an object {"actions": [{"name": ..., "args":
 * {...}}, ...]}; the script receives it as Lua tables (JSON arrays carry a
 * protected metatable, so getmetatable(t) == "json_array"; JSON null is the
 * global `json_null`).
 *
 * Every call runs in a fresh, sandboxed Lua state: the script is loaded
 * again, runs its top level, and then the one function is called. Nothing a
 * script stores survives from one call to the next, so the outcome depends
 * only on the script and the call's arguments, the same on every node. Each
 * call (top level included) has its own memory cap and instruction budget;
 * a script that exceeds them fails that call, never the node.
 *
 * A cs_constitution is immutable once created: calls may run concurrently
 * from several threads and may be nested (a host action may call
 * validate, for example).
 */
#ifndef CS_GOV_CONSTITUTION_H
#define CS_GOV_CONSTITUTION_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults used when a limit is 0. */
#define CS_CONSTITUTION_DEFAULT_MEMORY       (8u * 1024u * 1024u)
#define CS_CONSTITUTION_DEFAULT_INSTRUCTIONS 10000000u
/* The largest script cs_constitution_new accepts. */
#define CS_CONSTITUTION_MAX_SCRIPT (1024u * 1024u)

typedef struct cs_constitution cs_constitution;

/* Per-call limits (each call starts from zero). */
typedef struct cs_constitution_limits {
    size_t memory_bytes;   /* the Lua heap of one call, libraries included; 0: default */
    uint64_t instructions; /* Lua VM instructions of one call; 0: default */
} cs_constitution_limits;

/* One member's ballot as resolve sees it: {member_id = ..., vote = bool}. */
typedef struct cs_constitution_vote {
    const char *member_id;
    bool approve;
} cs_constitution_vote;

/* The outcome of resolve: the strings "Open", "Accepted", "Rejected". */
typedef enum cs_constitution_outcome {
    CS_CONSTITUTION_OPEN = 0,
    CS_CONSTITUTION_ACCEPTED,
    CS_CONSTITUTION_REJECTED,
} cs_constitution_outcome;

/*
 * A host action for apply: the script calls actions[name](args); the
 * callback receives args converted to JSON text (NUL-terminated, valid only
 * during the call; keys sorted) and returns CONSORT_OK or an error with a
 * message set through cs_fail(). An error aborts apply: apply returns that
 * code, with the message prefixed by the action's name, even if the script
 * caught the error with pcall.
 */
typedef consort_err (*cs_constitution_action_cb)(void *ctx, const char *name,
                                                 const char *args_json);

typedef struct cs_constitution_action {
    const char *name;
    cs_constitution_action_cb cb;
    void *ctx;
} cs_constitution_action;

/* The built-in default constitution (src/gov/default_constitution.lua). */
const char *cs_constitution_default_script(size_t *len);

/*
 * Checks `script` (Lua source text, `len` bytes; binary chunks are refused)
 * and returns a constitution holding a copy of it. The script is run once
 * under `limits` (NULL: defaults) and must define the global functions
 * validate, resolve and apply.
 * Errors: INVALID_ARGUMENT (NULL, empty script), TOO_LARGE (script over
 * CS_CONSTITUTION_MAX_SCRIPT), MALFORMED (syntax error, with the line; a
 * function missing), POLICY (the top level raised an error), TIMEOUT
 * (instruction budget), NOMEM (memory cap or host allocation).
 */
CS_MUST_CHECK consort_err cs_constitution_new(const char *script, size_t len,
                                              const cs_constitution_limits *limits,
                                              cs_constitution **out);
/* cs_constitution_new with the default script. */
CS_MUST_CHECK consort_err cs_constitution_new_default(const cs_constitution_limits *limits,
                                                      cs_constitution **out);
/* NULL is a no-op. */
void cs_constitution_free(cs_constitution *c);

/* The script text (owned by c, NUL-terminated) and its length. */
const char *cs_constitution_script(const cs_constitution *c, size_t *len);

/*
 * Calls validate(proposal). The script accepts by returning true; it
 * refuses by returning false (or nil) and a message, or by raising an error.
 * Errors: MALFORMED (proposal is not a JSON object), POLICY (refused, with
 * the script's message; also a proposal nested deeper than 64 levels, which
 * the conversion to Lua refuses as a script error), TIMEOUT, NOMEM.
 */
CS_MUST_CHECK consort_err cs_constitution_validate(const cs_constitution *c,
                                                   const char *proposal_json);

/*
 * Calls resolve(proposal, proposer_id, votes, members), where votes is an
 * array of {member_id = string, vote = boolean} in the order given and
 * members the array of the ids of the members entitled to vote (the active
 * members; the script counts them with #members). Ballots are passed as
 * given: the script decides what a ballot from a non-member or a repeated
 * ballot means (the default constitution ignores both).
 * Errors: MALFORMED (bad proposal; resolve returned something other than
 * "Open", "Accepted" or "Rejected"), POLICY (the script raised an error),
 * TIMEOUT, NOMEM.
 */
CS_MUST_CHECK consort_err cs_constitution_resolve(const cs_constitution *c,
                                                  const char *proposal_json,
                                                  const char *proposer_id,
                                                  const cs_constitution_vote *votes, size_t n_votes,
                                                  const char *const *members, size_t n_members,
                                                  cs_constitution_outcome *out);

/*
 * Calls apply(proposal, proposal_id) with the global table `actions` holding
 * one function per entry of `actions` (only during apply; validate and
 * resolve see no `actions`). The caller applies the proposal's effects
 * atomically: on any error it discards what the actions did.
 * Errors: the code of a failing host action; MALFORMED (bad proposal; args
 * not convertible to JSON), POLICY (the script raised an error), TIMEOUT,
 * NOMEM.
 */
CS_MUST_CHECK consort_err cs_constitution_apply(const cs_constitution *c, const char *proposal_json,
                                                const char *proposal_id,
                                                const cs_constitution_action *actions,
                                                size_t n_actions);

/*
 * Calls admit_node(node), where node is the JSON object {"node_id": hex,
 * "code_id": hex} of a node that attested with trusted code and asks to
 * join: true lets it join as Trusted at once, false leaves it Pending until
 * a transition_node_to_trusted proposal passes. The function is optional:
 * a script without it admits nobody on its own (*admit false). Errors:
 * MALFORMED (bad node JSON; a result that is not a boolean), POLICY,
 * TIMEOUT, NOMEM.
 */
CS_MUST_CHECK consort_err cs_constitution_admit_node(const cs_constitution *c,
                                                     const char *node_json, bool *admit);
/* "Open", "Accepted", "Rejected" (or "?"). */
const char *cs_constitution_outcome_name(cs_constitution_outcome o);

#endif
