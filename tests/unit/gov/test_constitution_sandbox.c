/* The constitution engine's sandbox (src/gov/constitution_sandbox.c) under
 * attack: instruction budget, memory cap, closed libraries, bytecode,
 * scripts refused at load, determinism, allocation failures. */
#include "constitution_fixture.h"

#include "base/alloc.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char loop_validate[] = "function validate(p) while true do end end\n"
                                    "function resolve() return 'Accepted' end\n"
                                    "function apply() end\n";

static void budget_exhausted(void **state)
{
    (void)state;
    cs_constitution *c = script_constitution(loop_validate, 0, 200000);
    cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_TIMEOUT);
    assert_msg_has("constitution validate: instruction budget of 200000 exhausted");
    /* usable afterwards, and the budget is per call */
    cs_constitution_outcome o;
    for (int i = 0; i < 3; i++) {
        cst_ok(cs_constitution_resolve(c, proposal, M0, NULL, 0, three, 3, &o));
        assert_int_equal(o, CS_CONSTITUTION_ACCEPTED);
        cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_TIMEOUT);
    }
    cs_constitution_free(c);

    /* catching the budget error with pcall does not escape it */
    c = script_constitution("function validate(p)\n"
                            "  while true do pcall(function() while true do end end) end\n"
                            "end\n"
                            "function resolve() return 'Open' end\n"
                            "function apply() end\n",
                            0, 100000);
    cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_TIMEOUT);
    cs_constitution_free(c);

    /* a top level that never ends is refused at load */
    cs_constitution *never = NULL;
    cs_constitution_limits limits = {0, 50000};
    const char *spin = "while true do end";
    cst_fails(cs_constitution_new(spin, strlen(spin), &limits, &never), CONSORT_E_TIMEOUT);
    assert_msg_has("constitution load: instruction budget of 50000 exhausted");
    assert_null(never);
}

static void memory_capped(void **state)
{
    (void)state;
    const size_t cap = 2u * 1024u * 1024u;
    cs_constitution *c =
        script_constitution("function validate(p)\n"
                            "  local t, s = {}, 'x'\n"
                            "  while true do t[#t + 1] = s; s = s .. string.rep('y', 1000) end\n"
                            "end\n"
                            "function resolve(p) return string.rep('x', 1 << 30) end\n"
                            "function apply(p)\n"
                            "  local t = {}\n"
                            "  for i = 1, 1e9 do t[i] = {i} end\n"
                            "end\n",
                            cap, 0);
    cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_NOMEM);
    assert_msg_has("constitution validate: memory limit of 2097152 bytes exceeded");
    cs_constitution_outcome o;
    cst_fails(cs_constitution_resolve(c, proposal, M0, NULL, 0, three, 3, &o), CONSORT_E_NOMEM);
    assert_msg_has("constitution resolve: memory limit");
    cst_fails(cs_constitution_apply(c, proposal, "p", NULL, 0), CONSORT_E_NOMEM);
    assert_msg_has("constitution apply: memory limit");
    /* still usable */
    cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_NOMEM);
    cs_constitution_free(c);

    /* a cap too small for the libraries fails at load, cleanly */
    cs_constitution_limits tiny = {4096, 0};
    size_t len;
    const char *def = cs_constitution_default_script(&len);
    cs_constitution *none = NULL;
    cst_fails(cs_constitution_new(def, len, &tiny, &none), CONSORT_E_NOMEM);
    assert_msg_has("4096 bytes");
    assert_null(none);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    cs_buf *buf = ud;
    return cs_buf_append(buf, p, sz) == CONSORT_OK ? 0 : 1;
}

static void sandbox_closed(void **state)
{
    (void)state;
    /* real bytecode, made by a normal Lua state */
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    assert_int_equal(luaL_loadstring(L, "return 42"), LUA_OK);
    cs_buf bc;
    cs_buf_init(&bc, 0);
    assert_int_equal(lua_dump(L, dump_writer, &bc, 0), 0);
    lua_close(L);
    char lit[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < bc.len && used + 5 < sizeof lit; i++)
        used += (size_t)snprintf(lit + used, sizeof lit - used, "\\%u", bc.ptr[i]);
    assert_true(bc.len > 4 && bc.ptr[0] == 0x1b);
    cs_buf_cleanup(&bc);

    char script[8192];
    snprintf(script, sizeof script,
             "local BC = \"%s\"\n"
             "local function gone(name, v) if v ~= nil then error(name .. ' is reachable', 0) end "
             "end\n"
             "function validate(p)\n"
             "  gone('io', io) gone('os', os) gone('debug', debug) gone('package', package)\n"
             "  gone('require', require) gone('dofile', dofile) gone('loadfile', loadfile)\n"
             "  gone('coroutine', coroutine) gone('collectgarbage', collectgarbage)\n"
             "  gone('print', print) gone('string.dump', string.dump)\n"
             "  gone(\"s:dump\", ('').dump) gone('math.random', math.random)\n"
             "  assert(load('return 1 + 1')() == 2, 'text chunks load')\n"
             "  assert(select('#', load('return 1', 'x', 't', {})) == 1)\n"
             "  assert(load(BC, 'bc', 'b') == nil)\n"
             "  assert(load(BC, 'bc', 'bt') == nil)\n"
             "  local f, err = load(BC)\n"
             "  if f == nil then return false, err end\n"
             "  return true\n"
             "end\n"
             "function resolve() return 'Open' end\n"
             "function apply() end\n",
             lit);
    cs_constitution *c = script_constitution(script, 0, 0);
    cst_fails(cs_constitution_validate(c, proposal), CONSORT_E_POLICY);
    assert_msg_has("attempt to load a binary chunk");
    cs_constitution_free(c);

    /* the script itself must be text */
    char bin[] = "\x1bLua\x54";
    cs_constitution *b = NULL;
    cst_fails(cs_constitution_new(bin, sizeof bin - 1, NULL, &b), CONSORT_E_MALFORMED);
    assert_msg_has("binary");
}

/* The script itself: exactly CS_CONSTITUTION_MAX_SCRIPT bytes load (a
 * working constitution padded with a comment), one byte more is refused
 * with the cap named. */
static void script_size_capped(void **state)
{
    (void)state;
    size_t cap = CS_CONSTITUTION_MAX_SCRIPT;
    char *text = malloc(cap + 2);
    assert_non_null(text);
    size_t head = strlen(loop_validate);
    memcpy(text, loop_validate, head);
    memcpy(text + head, "--", 2);
    memset(text + head + 2, 'x', cap + 1 - head - 2);
    text[cap + 1] = '\0';
    cs_constitution *c = NULL;
    cst_ok(cs_constitution_new(text, cap, NULL, &c));
    assert_non_null(c);
    cs_constitution_free(c);
    c = NULL;
    cst_fails(cs_constitution_new(text, cap + 1, NULL, &c), CONSORT_E_TOO_LARGE);
    assert_msg_has("constitution: script of 1048577 bytes, at most 1048576 allowed");
    assert_null(c);
    free(text);
}

static void script_refused_at_new(void **state)
{
    (void)state;
    cs_constitution *c = NULL;
    const char *syntax = "function validate(p)\n"
                         "  return true\n"
                         "end\n"
                         "function resolve(p) return = 'Open' end\n"
                         "function apply() end\n";
    cst_fails(cs_constitution_new(syntax, strlen(syntax), NULL, &c), CONSORT_E_MALFORMED);
    assert_msg_has("constitution: syntax error: constitution:4:");
    assert_null(c);

    const char *no_resolve = "function validate(p) return true end\n"
                             "function apply() end\n";
    cst_fails(cs_constitution_new(no_resolve, strlen(no_resolve), NULL, &c), CONSORT_E_MALFORMED);
    assert_msg_has("does not define the function resolve (found a nil value)");

    const char *not_fn = "function validate(p) return true end\n"
                         "resolve = 'Accepted'\n"
                         "function apply() end\n";
    cst_fails(cs_constitution_new(not_fn, strlen(not_fn), NULL, &c), CONSORT_E_MALFORMED);
    assert_msg_has("resolve (found a string value)");

    const char *raises = "error('no constitution today', 0)";
    cst_fails(cs_constitution_new(raises, strlen(raises), NULL, &c), CONSORT_E_POLICY);
    assert_msg_has("constitution load: no constitution today");

    cst_fails(cs_constitution_new("", 0, NULL, &c), CONSORT_E_INVALID_ARGUMENT);
    cs_constitution_limits huge = {0, UINT64_MAX};
    cst_fails(cs_constitution_new(no_resolve, strlen(no_resolve), &huge, &c),
              CONSORT_E_INVALID_ARGUMENT);
    assert_null(c);
}

/* Every allocation failure in new and in a call is NOMEM (or absorbed by
 * Lua's emergency collection) and leaks nothing. */
static void allocation_failures(void **state)
{
    (void)state;
    cst_alloc_install();
    long base = cst_alloc_live();
    for (long n = 0;; n++) {
        cst_alloc_fail_after(n);
        cs_constitution *c = NULL;
        consort_err rc = cs_constitution_new_default(NULL, &c);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (rc == CONSORT_OK) {
            host_log log = {0};
            const cs_constitution_action acts[] = {{"set_user", record_cb, &log}};
            cst_alloc_fail_after(n);
            rc = cs_constitution_apply(c, proposal, "p", acts, 1);
            failed |= cst_alloc_failed();
            cst_alloc_fail_after(-1);
            if (rc != CONSORT_OK && rc != CONSORT_E_NOMEM)
                fail_msg("allocation %ld: %s (%s)", n, consort_err_name(rc), consort_errmsg());
            cs_constitution_free(c);
        } else if (rc != CONSORT_E_NOMEM) {
            fail_msg("allocation %ld: %s (%s)", n, consort_err_name(rc), consort_errmsg());
        }
        assert_int_equal(cst_alloc_live(), base);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
}

/* Same script, same arguments, same result on every node: pairs has a fixed
 * order, and garbage-collector hooks are refused. */
static void deterministic(void **state)
{
    (void)state;
    cs_constitution *c = script_constitution(
        "function validate(p)\n"
        "  local t = {zeta = 1, alpha = 2, [3] = 'c', [1] = 'a', mid = 3, [true] = 0, "
        "[false] = 0, [2.5] = 'x'}\n"
        "  local seen = {}\n"
        "  for k in pairs(t) do seen[#seen + 1] = tostring(k) end\n"
        "  local got = table.concat(seen, ',')\n"
        "  if got ~= '1,2.5,3,alpha,mid,zeta,false,true' then return false, got end\n"
        "  if p.gc then setmetatable({}, {__gc = function() end}) end\n"
        "  if p.weak then setmetatable({}, {__mode = 'k'}) end\n"
        "  if p.key then for _ in pairs({[{}] = 1}) do end end\n"
        "  return true\n"
        "end\n"
        "function resolve() return 'Open' end\n"
        "function apply() end\n",
        0, 0);
    for (int i = 0; i < 20; i++) /* fresh states, fresh hash seeds */
        cst_ok(cs_constitution_validate(c, "{}"));
    cst_fails(cs_constitution_validate(c, "{\"gc\": true}"), CONSORT_E_POLICY);
    assert_msg_has("__gc and __mode are not allowed");
    cst_fails(cs_constitution_validate(c, "{\"weak\": true}"), CONSORT_E_POLICY);
    cst_fails(cs_constitution_validate(c, "{\"key\": true}"), CONSORT_E_POLICY);
    assert_msg_has("a key of type table has no fixed order");
    cs_constitution_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budget_exhausted),    cmocka_unit_test(memory_capped),
        cmocka_unit_test(sandbox_closed),      cmocka_unit_test(script_refused_at_new),
        cmocka_unit_test(script_size_capped),  cmocka_unit_test(deterministic),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
