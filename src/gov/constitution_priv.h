/*
 * The constitution engine's inside: one call = one fresh sandboxed Lua
 * state (constitution_sandbox.c) and the JSON <-> Lua conversion
 * (constitution_json.c). Private to src/gov/constitution*.c.
 */
#ifndef CS_GOV_CONSTITUTION_PRIV_H
#define CS_GOV_CONSTITUTION_PRIV_H

#include "gov/constitution.h"

#include <jansson.h>
#include <lua.h>

/* Nesting limit of the JSON <-> Lua conversion, both ways. */
#define CS_LUA_JSON_MAX_DEPTH 64

/* Flags of every JSON text the engine writes: compact, keys sorted. */
#define CS_LUA_JSON_DUMP (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

typedef enum cs_lua_call_kind {
    CS_LUA_CALL_CHECK, /* cs_constitution_new: run the top level, check the functions */
    CS_LUA_CALL_VALIDATE,
    CS_LUA_CALL_RESOLVE,
    CS_LUA_CALL_APPLY,
    CS_LUA_CALL_ADMIT, /* admit_node(node): optional */
} cs_lua_call_kind;

/* One call: its inputs, its accounting and its result. Lives on the caller's
 * stack; the Lua allocator's user data, so the hook and the host actions
 * find it with lua_getallocf(). */
typedef struct cs_lua_call {
    cs_lua_call_kind kind;
    const char *script;
    size_t script_len;
    size_t mem_cap;
    uint64_t budget;
    /* arguments (those of `kind`) */
    const json_t *proposal;
    const char *proposer_id;
    const cs_constitution_vote *votes;
    size_t n_votes;
    const char *const *members;
    size_t n_members;
    const char *proposal_id;
    const cs_constitution_action *actions;
    size_t n_actions;
    /* accounting */
    size_t mem_used;
    bool mem_refused; /* the cap refused an allocation */
    uint64_t used;    /* instructions counted so far */
    int step;         /* the count hook's current period */
    bool budget_out;
    /* how it failed, when it did */
    bool syntax_error;
    bool malformed; /* the script's shape or result is wrong: MALFORMED */
    consort_err host_rc;
    char host_msg[CS_ERRMSG_MAX];
    /* result */
    cs_constitution_outcome outcome;
    bool admit; /* admit_node's answer */
} cs_lua_call;

/* Runs `call` in a fresh sandboxed state and turns any failure into a
 * consort_err whose message names the function and the cause. */
CS_MUST_CHECK consort_err cs_lua_call_run(cs_lua_call *call);

/* The function a call kind runs ("validate", ...; "load" for the check). */
const char *cs_lua_call_name(cs_lua_call_kind kind);

/* Creates the array metatable in the registry (during the sandbox setup). */
void cs_lua_json_init(lua_State *L);

/* Pushes `j` as Lua values (objects and arrays as tables, arrays marked,
 * null as json_null). Raises a Lua error when nested too deeply; only call
 * in protected mode. */
void cs_lua_push_json(lua_State *L, const json_t *j);

/* Pushes an array of strings, marked as a JSON array. Protected mode only. */
void cs_lua_push_strings(lua_State *L, const char *const *s, size_t n);

/* Pushes votes as an array of {member_id = ..., vote = bool}. */
void cs_lua_push_votes(lua_State *L, const cs_constitution_vote *v, size_t n);

/*
 * Converts the value at `idx` to JSON (nil and json_null: null; a table
 * marked as an array, or with keys exactly 1..n, n > 0: an array; any other
 * table with string keys only, the empty table included: an object). Never
 * raises a Lua error: returns NULL with a reason in err.
 */
json_t *cs_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
