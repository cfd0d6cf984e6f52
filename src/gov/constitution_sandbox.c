/*
 * One constitution call: a fresh Lua 5.4 state with a counting allocator
 * (the memory cap) and a count hook (the instruction budget), the sandboxed
 * libraries, the script's top level, then the one function.
 *
 * Every Lua API call that may raise runs inside the single lua_pcall of
 * call_main, so a Lua error (script error, out of memory, budget) unwinds
 * only Lua's own frames and the C functions Lua called, none of which hold
 * resources of their own at that point.
 *
 * The sandbox (docs/governance.md, "The constitution"):
 *   base    without dofile, loadfile, collectgarbage, print, warn; load is
 *           replaced by one that only accepts text (mode "t"), so bytecode,
 *           which the VM does not verify, can never be loaded;
 *   string  without string.dump;
 *   table;
 *   math    without math.random and math.randomseed (seeded per state:
 *           results would differ between nodes).
 * Not opened: io, os, debug, package (require), coroutine (not needed, and
 * a coroutine body would be one more place to account for), utf8.
 */
#include "gov/constitution_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The count hook's period: the budget is counted in steps of this many
 * instructions (the last step is shortened to end on the budget exactly). */
#define HOOK_STEP 1000

const char *cs_lua_call_name(cs_lua_call_kind kind)
{
    switch (kind) {
    case CS_LUA_CALL_CHECK:
        return "load";
    case CS_LUA_CALL_VALIDATE:
        return "validate";
    case CS_LUA_CALL_RESOLVE:
        return "resolve";
    case CS_LUA_CALL_APPLY:
        return "apply";
    case CS_LUA_CALL_ADMIT:
        return "admit_node";
    }
    return "?";
}

static cs_lua_call *call_of(lua_State *L)
{
    void *ud = NULL;
    (void)lua_getallocf(L, &ud);
    return ud;
}

/* lua_Alloc: the call's heap never exceeds mem_cap bytes. */
static void *call_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    cs_lua_call *call = ud;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        cs_free(ptr);
        call->mem_used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > call->mem_cap - call->mem_used) {
        call->mem_refused = true;
        return NULL;
    }
    void *p = cs_realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    call->mem_used = call->mem_used - old + nsize;
    return p;
}

static int next_step(const cs_lua_call *call)
{
    uint64_t left = call->budget - call->used;
    return left < HOOK_STEP ? (int)left : HOOK_STEP;
}

/* LUA_MASKCOUNT hook: counts instructions; once the budget is spent it
 * fires on every instruction and raises each time, so a script that catches
 * the error with pcall is stopped again at its very next instruction. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    cs_lua_call *call = call_of(L);
    if (!call->budget_out) {
        call->used += (uint64_t)call->step;
        if (call->used < call->budget) {
            call->step = next_step(call);
            lua_sethook(L, count_hook, LUA_MASKCOUNT, call->step);
            return;
        }
        call->budget_out = true;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    luaL_error(L, "instruction budget of %I exhausted", (lua_Integer)call->budget);
}

static int panic_cb(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    cs_log_error("gov", "constitution: unprotected Lua error: %s", msg);
    return 0; /* Lua aborts */
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t". */
static int sandbox_load(lua_State *L)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    if (n >= 2)
        lua_pushvalue(L, 2);
    else
        lua_pushnil(L);
    lua_pushliteral(L, "t");
    int nargs = 3;
    if (n >= 4) {
        lua_pushvalue(L, 4);
        nargs = 4;
    }
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L) - n;
}

static void clear_field(lua_State *L, int table, const char *name)
{
    lua_pushnil(L);
    lua_setfield(L, table, name);
}

/*
 * Determinism: every node must reach the same result from the same script
 * and arguments. Lua seeds its string hashes per state, so next()/pairs()
 * order over string keys differs between nodes; pairs is replaced by one
 * that visits keys in a fixed order (numbers ascending, then strings
 * byte-wise, then false, true; other key types are an error). __gc and
 * __mode would make results depend on when the collector runs: setmetatable
 * refuses them. (next itself remains; its order is unspecified.)
 */
static const char prelude[] =
    "local type, rawget, next, error, sort, setmt = type, rawget, next, error, table.sort, "
    "setmetatable\n"
    "local RANK = {number = 1, string = 2, boolean = 3}\n"
    "local function before(a, b)\n"
    "  local ra, rb = RANK[type(a)], RANK[type(b)]\n"
    "  if ra ~= rb then return ra < rb end\n"
    "  if ra == 3 then return b and not a end\n"
    "  return a < b\n"
    "end\n"
    "function pairs(t)\n"
    "  if type(t) ~= 'table' then\n"
    "    error(\"bad argument #1 to 'pairs' (table expected, got \" .. type(t) .. ')', 2)\n"
    "  end\n"
    "  local keys, n = {}, 0\n"
    "  for k in next, t do\n"
    "    if RANK[type(k)] == nil then\n"
    "      error('pairs: a key of type ' .. type(k) .. ' has no fixed order', 2)\n"
    "    end\n"
    "    n = n + 1; keys[n] = k\n"
    "  end\n"
    "  sort(keys, before)\n"
    "  local i = 0\n"
    "  return function()\n"
    "    i = i + 1\n"
    "    local k = keys[i]\n"
    "    if k ~= nil then return k, rawget(t, k) end\n"
    "  end, t, nil\n"
    "end\n"
    "function setmetatable(t, mt)\n"
    "  if type(mt) == 'table' and (rawget(mt, '__gc') ~= nil or rawget(mt, '__mode') ~= nil) then\n"
    "    error('setmetatable: __gc and __mode are not allowed in a constitution', 2)\n"
    "  end\n"
    "  return setmt(t, mt)\n"
    "end\n";

static void open_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(libs); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    static const char *const unsafe[] = {"dofile", "loadfile", "collectgarbage",
                                         "print",  "warn",     "require"};
    for (size_t i = 0; i < CS_ARRAY_LEN(unsafe); i++)
        clear_field(L, g, unsafe[i]);
    lua_getfield(L, g, "load");
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setfield(L, g, "load");
    lua_getfield(L, g, LUA_STRLIBNAME);
    clear_field(L, lua_gettop(L), "dump");
    lua_pop(L, 1);
    lua_getfield(L, g, LUA_MATHLIBNAME);
    clear_field(L, lua_gettop(L), "random");
    clear_field(L, lua_gettop(L), "randomseed");
    lua_pop(L, 2);
    cs_lua_json_init(L);
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=sandbox", "t") != LUA_OK)
        lua_error(L);
    lua_call(L, 0, 0);
}

/* actions[name](args): converts args to JSON and calls the host. */
static int host_action(lua_State *L)
{
    cs_lua_call *call = call_of(L);
    const cs_constitution_action *a = lua_touserdata(L, lua_upvalueindex(1));
    if (call->host_rc != CONSORT_OK)
        return luaL_error(L, "action '%s': an earlier host action failed", a->name);
    char err[160];
    json_t *args = cs_lua_to_json(L, 1, err, sizeof err);
    char *text = args != NULL ? json_dumps(args, CS_LUA_JSON_DUMP) : NULL;
    json_decref(args);
    consort_err rc;
    if (args == NULL)
        rc = cs_fail(CONSORT_E_MALFORMED, "args: %s", err);
    else if (text == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "args: out of memory");
    else
        rc = a->cb(a->ctx, a->name, text);
    free(text);
    if (rc == CONSORT_OK)
        return 0;
    call->host_rc = rc;
    snprintf(call->host_msg, sizeof call->host_msg, "action '%s': %s", a->name, consort_errmsg());
    return luaL_error(L, "%s", call->host_msg);
}

static void push_actions(lua_State *L, const cs_lua_call *call)
{
    lua_createtable(L, 0, call->n_actions > INT32_MAX ? 0 : (int)call->n_actions);
    for (size_t i = 0; i < call->n_actions; i++) {
        lua_pushlightuserdata(L, (void *)&call->actions[i]);
        lua_pushcclosure(L, host_action, 1);
        lua_setfield(L, -2, call->actions[i].name);
    }
    lua_setglobal(L, "actions");
}

static void check_function(lua_State *L, cs_lua_call *call, const char *name)
{
    if (lua_getglobal(L, name) != LUA_TFUNCTION) {
        call->malformed = true;
        luaL_error(L, "the script does not define the function %s (found a %s value)", name,
                   luaL_typename(L, -1));
    }
}

static void take_results(lua_State *L, cs_lua_call *call, int base)
{
    int nres = lua_gettop(L) - base;
    if (call->kind == CS_LUA_CALL_VALIDATE) {
        if (nres >= 1 && lua_toboolean(L, base + 1) && lua_type(L, base + 1) == LUA_TBOOLEAN)
            return;
        if (nres >= 2 && lua_type(L, base + 2) == LUA_TSTRING) {
            lua_pushvalue(L, base + 2); /* refused, with the script's message */
            lua_error(L);
        }
        luaL_error(L, "refused (validate returned %s without a message)",
                   nres >= 1 ? luaL_typename(L, base + 1) : "nothing");
    }
    if (call->kind == CS_LUA_CALL_ADMIT) {
        if (nres >= 1 && lua_type(L, base + 1) == LUA_TBOOLEAN) {
            call->admit = lua_toboolean(L, base + 1);
            return;
        }
        call->malformed = true;
        luaL_error(L, "returned %s, expected true or false",
                   nres >= 1 ? luaL_typename(L, base + 1) : "nothing");
    }
    if (call->kind == CS_LUA_CALL_RESOLVE) {
        static const char *const names[] = {"Open", "Accepted", "Rejected"};
        const char *s =
            nres >= 1 && lua_type(L, base + 1) == LUA_TSTRING ? lua_tostring(L, base + 1) : NULL;
        for (size_t i = 0; s != NULL && i < CS_ARRAY_LEN(names); i++) {
            if (strcmp(s, names[i]) == 0) {
                call->outcome = (cs_constitution_outcome)i;
                return;
            }
        }
        call->malformed = true;
        luaL_error(L, "returned %s%s%s, expected \"Open\", \"Accepted\" or \"Rejected\"",
                   s != NULL ? "\"" : "a ",
                   s != NULL ? s : (nres >= 1 ? luaL_typename(L, base + 1) : "nothing"),
                   s != NULL ? "\"" : " value");
    }
}

static int call_main(lua_State *L)
{
    cs_lua_call *call = lua_touserdata(L, 1);
    lua_settop(L, 0);
    open_sandbox(L);
    int st = luaL_loadbufferx(L, call->script, call->script_len, "=constitution", "t");
    if (st != LUA_OK) {
        call->syntax_error = st == LUA_ERRSYNTAX;
        return lua_error(L);
    }
    lua_call(L, 0, 0);
    if (call->kind == CS_LUA_CALL_CHECK) {
        check_function(L, call, "validate");
        check_function(L, call, "resolve");
        check_function(L, call, "apply");
        return 0;
    }
    if (call->kind == CS_LUA_CALL_APPLY)
        push_actions(L, call);
    if (call->kind == CS_LUA_CALL_ADMIT) { /* optional: without it, nodes wait for the members */
        bool defined = lua_getglobal(L, "admit_node") == LUA_TFUNCTION;
        lua_pop(L, 1);
        if (!defined) {
            call->admit = false;
            return 0;
        }
    }
    int base = lua_gettop(L);
    check_function(L, call, cs_lua_call_name(call->kind));
    cs_lua_push_json(L, call->proposal);
    int nargs = 2;
    if (call->kind == CS_LUA_CALL_RESOLVE) {
        lua_pushstring(L, call->proposer_id != NULL ? call->proposer_id : "");
        cs_lua_push_votes(L, call->votes, call->n_votes);
        cs_lua_push_strings(L, call->members, call->n_members);
        nargs = 4;
    } else if (call->kind == CS_LUA_CALL_APPLY) {
        lua_pushstring(L, call->proposal_id != NULL ? call->proposal_id : "");
    } else {
        nargs = 1;
    }
    lua_call(L, nargs, LUA_MULTRET);
    take_results(L, call, base);
    return 0;
}

/* Turns a failed lua_pcall (status, error object on top) into our error. */
static consort_err call_error(lua_State *L, const cs_lua_call *call, int status)
{
    const char *fn = cs_lua_call_name(call->kind);
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    char other[64];
    if (msg == NULL) {
        snprintf(other, sizeof other, "(error object is a %s value)", luaL_typename(L, -1));
        msg = other;
    }
    if (call->budget_out)
        return cs_fail(CONSORT_E_TIMEOUT, "constitution %s: instruction budget of %llu exhausted",
                       fn, (unsigned long long)call->budget);
    if (call->mem_refused)
        return cs_fail(CONSORT_E_NOMEM, "constitution %s: memory limit of %zu bytes exceeded", fn,
                       call->mem_cap);
    if (status == LUA_ERRMEM)
        return cs_fail(CONSORT_E_NOMEM, "constitution %s: out of memory", fn);
    if (call->syntax_error)
        return cs_fail(CONSORT_E_MALFORMED, "constitution: syntax error: %s", msg);
    if (call->malformed)
        return cs_fail(CONSORT_E_MALFORMED, "constitution %s: %s", fn, msg);
    return cs_fail(CONSORT_E_POLICY, "constitution %s: %s", fn, msg);
}

consort_err cs_lua_call_run(cs_lua_call *call)
{
    const char *fn = cs_lua_call_name(call->kind);
    call->mem_used = 0;
    call->used = 0;
    call->step = next_step(call);
    lua_State *L = lua_newstate(call_alloc, call);
    if (L == NULL)
        return cs_fail(CONSORT_E_NOMEM,
                       "constitution %s: cannot create a Lua state within %zu bytes", fn,
                       call->mem_cap);
    lua_atpanic(L, panic_cb);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, call->step);
    lua_pushcfunction(L, call_main);
    lua_pushlightuserdata(L, call);
    int status = lua_pcall(L, 1, 0, 0);
    consort_err rc = CONSORT_OK;
    if (call->host_rc != CONSORT_OK)
        rc = cs_fail(call->host_rc, "constitution %s: %s", fn, call->host_msg);
    else if (status != LUA_OK)
        rc = call_error(L, call, status);
    /* Finalizers (__gc) run in lua_close: give them no budget at all. */
    call->budget_out = true;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    lua_close(L);
    return rc;
}
