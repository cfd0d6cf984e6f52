/*
 * libFuzzer target for the constitution's proposal path (src/gov/
 * constitution.h): arbitrary bytes, as NUL-terminated text, are given to
 * cs_constitution_validate of the default constitution under small limits,
 * so the JSON parse, the JSON -> Lua conversion (nesting, big arrays and
 * objects, null, reals, deep recursion) and the memory cap and instruction
 * budget are all reached. The outcome is checked against the target's own
 * reading of the text with jansson and the rule of
 * src/gov/default_constitution.lua (a non-empty array "actions" of objects
 * with a known "name" and an object "args"): text that is not a JSON
 * object is MALFORMED, a proposal validate accepts obeys the rule, and one
 * that obeys it is accepted unless a limit or the nesting limit stops it.
 * An accepted proposal is then applied with a host action for every known
 * name; each must receive its action's args back unchanged (Lua -> JSON).
 * Nothing may crash, leak or read out of bounds.
 *
 * Seeds: tests/fuzz/corpus/gov_constitution: valid proposals (one action,
 * several, nested args with arrays, null, reals and unicode), proposals the
 * script refuses (no actions, empty actions, unknown name, args not an
 * object), text that is not a JSON object, and inputs that hit the nesting
 * limit, the memory cap and the instruction budget.
 * Dictionary: tests/fuzz/gov_constitution.dict (-dict=...).
 */
#include "gov/constitution.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so that the fuzzer reaches both with inputs of a few KB:
 * the default constitution loads and validates a one-action proposal in
 * 32 KiB and about 150 instructions, nine actions in under 500. */
#define MEMORY_BYTES ((size_t)256 << 10)
#define INSTRUCTIONS 4000u
/* Longer texts only hit the limits sooner. */
#define MAX_TEXT ((size_t)64 << 10)
/* push_json_at refuses values nested deeper than this (CS_LUA_JSON_MAX_DEPTH). */
#define MAX_DEPTH 64

/* KNOWN_ACTIONS of src/gov/default_constitution.lua. */
static const char *const known_actions[] = {
    "set_member",
    "remove_member",
    "set_user",
    "remove_user",
    "add_code_id",
    "retire_code_id",
    "set_update_policy",
    "transition_node_to_trusted",
    "remove_node",
    "set_recovery_threshold",
    "set_constitution",
    "transition_service_to_open",
    "set_gov_request_window",
};
#define N_KNOWN (sizeof known_actions / sizeof known_actions[0])

static const cs_constitution *constitution(void)
{
    static cs_constitution *c;
    const cs_constitution_limits limits = {.memory_bytes = MEMORY_BYTES,
                                           .instructions = INSTRUCTIONS};
    if (c == NULL && cs_constitution_new_default(&limits, &c) != CONSORT_OK)
        abort();
    return c;
}

static bool is_known(const char *name)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (strcmp(name, known_actions[i]) == 0)
            return true;
    return false;
}

/* The default constitution's validate rule, in C. */
static bool obeys_rule(const json_t *proposal)
{
    const json_t *list = json_object_get(proposal, "actions");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        const json_t *name = json_object_get(a, "name");
        if (!json_is_object(a) || !json_is_string(name) || !is_known(json_string_value(name)) ||
            !json_is_object(json_object_get(a, "args")))
            return false;
    }
    return true;
}

/* Nesting depth, the root at 0, as push_json_at counts it. */
static size_t depth_of(const json_t *j)
{
    size_t d = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v)
        {
            size_t c = 1 + depth_of(v);
            d = c > d ? c : d;
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            size_t c = 1 + depth_of(json_array_get(j, i));
            d = c > d ? c : d;
        }
    }
    return d;
}

typedef struct apply_ctx {
    const json_t *actions;
    size_t next;
} apply_ctx;

/* Each host call must be the next action, with its args unchanged. */
static consort_err action_cb(void *ctx, const char *name, const char *args_json)
{
    apply_ctx *a = ctx;
    const json_t *want = json_array_get(a->actions, a->next++);
    if (want == NULL || strcmp(name, json_string_value(json_object_get(want, "name"))) != 0)
        abort();
    json_t *got = json_loads(args_json, JSON_REJECT_DUPLICATES, NULL);
    if (got == NULL || !json_equal(got, json_object_get(want, "args")))
        abort();
    json_decref(got);
    return CONSORT_OK;
}

static void check_apply(const cs_constitution *c, const char *text, const json_t *proposal)
{
    apply_ctx ctx = {.actions = json_object_get(proposal, "actions")};
    cs_constitution_action actions[N_KNOWN];
    for (size_t i = 0; i < N_KNOWN; i++)
        actions[i] =
            (cs_constitution_action){.name = known_actions[i], .cb = action_cb, .ctx = &ctx};
    consort_err rc = cs_constitution_apply(c, text, "00", actions, N_KNOWN);
    if (rc == CONSORT_OK ? ctx.next != json_array_size(ctx.actions)
                         : rc != CONSORT_E_TIMEOUT && rc != CONSORT_E_NOMEM)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_TEXT)
        return 0;
    const cs_constitution *c = constitution();
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';

    consort_err rc = cs_constitution_validate(c, text);
    json_t *proposal = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(proposal)) {
        if (rc != CONSORT_E_MALFORMED)
            abort(); /* not a JSON object */
    } else if (rc == CONSORT_OK) {
        if (!obeys_rule(proposal))
            abort(); /* accepted what the constitution refuses */
        check_apply(c, text, proposal);
    } else if (rc == CONSORT_E_POLICY) {
        if (obeys_rule(proposal) && depth_of(proposal) <= MAX_DEPTH)
            abort(); /* refused what the constitution accepts */
    } else if (rc != CONSORT_E_TIMEOUT && rc != CONSORT_E_NOMEM) {
        abort();
    }
    json_decref(proposal);
    free(text);
    return 0;
}
