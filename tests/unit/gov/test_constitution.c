/* The constitution engine (src/gov/constitution.h): the default
 * constitution's validate/resolve/apply, host actions, the JSON <-> Lua
 * conversion. The sandbox and its limits: test_constitution_sandbox.c. */
#include "constitution_fixture.h"

static cs_constitution_outcome resolve(const cs_constitution *c, const cs_constitution_vote *v,
                                       size_t n, const char *const *members, size_t n_members)
{
    cs_constitution_outcome o = (cs_constitution_outcome)-1;
    cst_ok(cs_constitution_resolve(c, proposal, M0, v, n, members, n_members, &o));
    return o;
}

/* Strict majority of 3 members; non-member and repeated ballots ignored. */
static void default_resolve_three_members(void **state)
{
    (void)state;
    cs_constitution *c = default_constitution();
    const cs_constitution_vote none[1] = {{M0, true}};
    assert_int_equal(resolve(c, none, 0, three, 3), CS_CONSTITUTION_OPEN);
    const cs_constitution_vote one_for[] = {{M0, true}};
    assert_int_equal(resolve(c, one_for, 1, three, 3), CS_CONSTITUTION_OPEN);
    const cs_constitution_vote two_for[] = {{M0, true}, {M2, true}};
    assert_int_equal(resolve(c, two_for, 2, three, 3), CS_CONSTITUTION_ACCEPTED);
    const cs_constitution_vote two_against[] = {{M1, false}, {M2, false}};
    assert_int_equal(resolve(c, two_against, 2, three, 3), CS_CONSTITUTION_REJECTED);
    const cs_constitution_vote split[] = {{M0, true}, {M1, false}};
    assert_int_equal(resolve(c, split, 2, three, 3), CS_CONSTITUTION_OPEN);
    const cs_constitution_vote split_last[] = {{M0, true}, {M1, false}, {M2, true}};
    assert_int_equal(resolve(c, split_last, 3, three, 3), CS_CONSTITUTION_ACCEPTED);
    /* ballots from non-members are ignored: two outsiders cannot carry it */
    const cs_constitution_vote outsiders[] = {{"x1", true}, {"x2", true}, {M0, true}};
    assert_int_equal(resolve(c, outsiders, 3, three, 3), CS_CONSTITUTION_OPEN);
    const cs_constitution_vote outsiders_no[] = {{"x1", false}, {"x2", false}};
    assert_int_equal(resolve(c, outsiders_no, 2, three, 3), CS_CONSTITUTION_OPEN);
    /* a member counts once (the first ballot) */
    const cs_constitution_vote repeated[] = {{M0, true}, {M0, true}, {M0, false}};
    assert_int_equal(resolve(c, repeated, 3, three, 3), CS_CONSTITUTION_OPEN);
    /* a member removed since voting no longer counts */
    assert_int_equal(resolve(c, two_for, 2, four, 2), CS_CONSTITUTION_OPEN);
    /* 4 members: 2 for is no majority; 2 against makes one impossible */
    assert_int_equal(resolve(c, two_for, 2, four, 4), CS_CONSTITUTION_OPEN);
    assert_int_equal(resolve(c, two_against, 2, four, 4), CS_CONSTITUTION_REJECTED);
    const cs_constitution_vote three_for[] = {{M0, true}, {M1, true}, {M3, true}};
    assert_int_equal(resolve(c, three_for, 3, four, 4), CS_CONSTITUTION_ACCEPTED);
    assert_string_equal(cs_constitution_outcome_name(CS_CONSTITUTION_REJECTED), "Rejected");
    cs_constitution_free(c);
}

static void default_validate(void **state)
{
    (void)state;
    cs_constitution *c = default_constitution();
    cst_ok(cs_constitution_validate(c, proposal));
    cst_ok(cs_constitution_validate(
        c, "{\"actions\": [{\"name\": \"set_member\", \"args\": {}},"
           "{\"name\": \"transition_service_to_open\", \"args\": {\"a\": [1, null, 2.5]}}]}"));
    cst_fails(cs_constitution_validate(
                  c, "{\"actions\": [{\"name\": \"launch_missiles\", \"args\": {}}]}"),
              CONSORT_E_POLICY);
    assert_msg_has("constitution validate: action 1: unknown action \"launch_missiles\"");
    cst_fails(cs_constitution_validate(c, "{\"actions\": [{\"name\": \"set_user\", \"args\": {}},"
                                          "{\"name\": \"set_user\", \"args\": [1]}]}"),
              CONSORT_E_POLICY);
    assert_msg_has("action 2 (set_user): \"args\" must be an object");
    cst_fails(cs_constitution_validate(c, "{\"actions\": []}"), CONSORT_E_POLICY);
    assert_msg_has("non-empty array");
    cst_fails(cs_constitution_validate(c, "{\"actions\": {\"name\": \"set_user\"}}"),
              CONSORT_E_POLICY);
    cst_fails(cs_constitution_validate(c, "{\"actions\": [{\"name\": 7, \"args\": {}}]}"),
              CONSORT_E_POLICY);
    /* not a JSON object: refused before Lua sees it */
    cst_fails(cs_constitution_validate(c, "[1]"), CONSORT_E_MALFORMED);
    cst_fails(cs_constitution_validate(c, "{\"actions\": [}"), CONSORT_E_MALFORMED);
    assert_msg_has("line 1");
    cst_fails(cs_constitution_validate(c, "{\"a\": 1, \"a\": 2}"), CONSORT_E_MALFORMED);
    cs_constitution_free(c);
}

static const char three_actions[] =
    "{\"actions\": ["
    "{\"name\": \"set_member\", \"args\": {\"z\": 1, \"cert\": \"A\", \"list\": [1, \"two\", "
    "null, [], {}]}},"
    "{\"name\": \"set_user\", \"args\": {\"x\": {\"y\": true, \"f\": 0.5}}},"
    "{\"name\": \"set_member\", \"args\": {}}]}";

static void default_apply_in_order(void **state)
{
    (void)state;
    cs_constitution *c = default_constitution();
    host_log log = {0};
    const cs_constitution_action acts[] = {{"set_member", record_cb, &log},
                                           {"set_user", record_cb, &log}};
    cst_ok(cs_constitution_apply(c, three_actions, "p1", acts, 2));
    assert_string_equal(log.text,
                        "set_member {\"cert\":\"A\",\"list\":[1,\"two\",null,[],{}],\"z\":1}\n"
                        "set_user {\"x\":{\"f\":0.5,\"y\":true}}\n"
                        "set_member {}");
    /* an action the host does not implement */
    memset(&log, 0, sizeof log);
    cst_fails(cs_constitution_apply(c, three_actions, "p1", acts, 1), CONSORT_E_POLICY);
    assert_msg_has("constitution apply: action 2: the node does not implement \"set_user\"");
    assert_int_equal(log.calls, 1);
    cs_constitution_free(c);
}

static void apply_action_error_aborts(void **state)
{
    (void)state;
    cs_constitution *c = default_constitution();
    host_log log = {.fail_on = "set_user"};
    const cs_constitution_action acts[] = {{"set_member", record_cb, &log},
                                           {"set_user", record_cb, &log}};
    cst_fails(cs_constitution_apply(c, three_actions, "p1", acts, 2), CONSORT_E_STATE);
    assert_msg_has("constitution apply: action 'set_user': member m9 already exists");
    assert_int_equal(log.calls, 2); /* the third action never ran */

    /* a script that swallows the host's error still fails */
    cs_constitution *sneaky = script_constitution("function validate(p) return true end\n"
                                                  "function resolve() return 'Open' end\n"
                                                  "function apply(p, id)\n"
                                                  "  local ok = pcall(actions.set_user, {})\n"
                                                  "  assert(not ok)\n"
                                                  "  pcall(actions.set_member, {})\n"
                                                  "end\n",
                                                  0, 0);
    memset(&log, 0, sizeof log);
    log.fail_on = "set_user";
    cst_fails(cs_constitution_apply(sneaky, three_actions, "p1", acts, 2), CONSORT_E_STATE);
    assert_msg_has("member m9 already exists");
    assert_int_equal(log.calls, 1); /* no action after a failed one */
    cs_constitution_free(sneaky);
    cs_constitution_free(c);
}

/* JSON in and out: args the script builds, the proposal id, tables that
 * have no JSON form. */
static void json_conversion(void **state)
{
    (void)state;
    cs_constitution *c = script_constitution(
        "function validate(p) return true end\n"
        "function resolve() return 'Open' end\n"
        "function apply(p, id)\n"
        "  actions.echo(p)\n"
        "  actions.echo({id = id, seq = {3, 2, 1}, empty = {}, n = 2^53, s = 'a\\\"b', "
        "          null = json_null, f = 1.5})\n"
        "  actions.echo()\n"
        "  if p.bad == 1 then actions.echo({1, 2, nil, 4}) end\n"
        "  if p.bad == 2 then actions.echo({1, x = 2}) end\n"
        "  if p.bad == 3 then actions.echo({f = print or function() end}) end\n"
        "  if p.bad == 4 then local t = {} t.t = t actions.echo(t) end\n"
        "  if p.bad == 5 then actions.echo(0/0) end\n"
        "end\n",
        0, 0);
    host_log log = {0};
    const cs_constitution_action acts[] = {{"echo", record_cb, &log}};
    cst_ok(cs_constitution_apply(c, "{\"b\": [{}, []], \"a\": \"\\u00e9\"}", "p-7", acts, 1));
    assert_string_equal(log.text, "echo {\"a\":\"\xc3\xa9\",\"b\":[{},[]]}\n"
                                  "echo {\"empty\":{},\"f\":1.5,\"id\":\"p-7\",\"n\":"
                                  "9007199254740992.0,\"null\":null,\"s\":\"a\\\"b\","
                                  "\"seq\":[3,2,1]}\n"
                                  "echo null");
    static const char *const bad[] = {"{\"bad\": 1}", "{\"bad\": 2}", "{\"bad\": 3}",
                                      "{\"bad\": 4}", "{\"bad\": 5}"};
    static const char *const why[] = {"neither an array", "neither an array", "function value",
                                      "nested deeper", "no JSON form"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_fails(cs_constitution_apply(c, bad[i], "p", acts, 1), CONSORT_E_MALFORMED);
        assert_msg_has("action 'echo': args: ");
        assert_msg_has(why[i]);
    }
    cs_constitution_free(c);
}

/* What the functions return, and that nothing survives between calls. */
static void results_and_fresh_state(void **state)
{
    (void)state;
    cs_constitution *c =
        script_constitution("calls = 0\n"
                            "function validate(p)\n"
                            "  calls = calls + 1\n"
                            "  if calls ~= 1 then return false, 'state leaked' end\n"
                            "  if p.mode == 'nil' then return nil end\n"
                            "  if p.mode == 'table' then error({}) end\n"
                            "  if p.mode == 'yes' then return 'yes' end\n"
                            "  return true\n"
                            "end\n"
                            "function resolve(p, proposer, votes, members)\n"
                            "  if p.mode == 'args' then\n"
                            "    assert(proposer == 'm0' and #votes == 2 and #members == 3)\n"
                            "    assert(votes[2].member_id == 'm1' and votes[2].vote == false)\n"
                            "    assert(getmetatable(members) == 'json_array')\n"
                            "    return 'Rejected'\n"
                            "  end\n"
                            "  return p.mode\n"
                            "end\n"
                            "function apply() end\n",
                            0, 0);
    cst_ok(cs_constitution_validate(c, "{}"));
    cst_ok(cs_constitution_validate(c, "{}"));
    cst_fails(cs_constitution_validate(c, "{\"mode\": \"nil\"}"), CONSORT_E_POLICY);
    assert_msg_has("validate returned nil without a message");
    cst_fails(cs_constitution_validate(c, "{\"mode\": \"yes\"}"), CONSORT_E_POLICY);
    cst_fails(cs_constitution_validate(c, "{\"mode\": \"table\"}"), CONSORT_E_POLICY);
    assert_msg_has("(error object is a table value)");
    const cs_constitution_vote v[] = {{M2, true}, {M1, false}};
    cs_constitution_outcome o;
    cst_ok(cs_constitution_resolve(c, "{\"mode\": \"args\"}", M0, v, 2, three, 3, &o));
    assert_int_equal(o, CS_CONSTITUTION_REJECTED);
    cst_ok(cs_constitution_resolve(c, "{\"mode\": \"Open\"}", M0, v, 2, three, 3, &o));
    assert_int_equal(o, CS_CONSTITUTION_OPEN);
    cst_fails(cs_constitution_resolve(c, "{\"mode\": \"Maybe\"}", M0, v, 2, three, 3, &o),
              CONSORT_E_MALFORMED);
    assert_msg_has("constitution resolve: returned \"Maybe\", expected");
    cst_fails(cs_constitution_resolve(c, "{}", M0, v, 2, three, 3, &o), CONSORT_E_MALFORMED);
    assert_msg_has("returned a nil value");
    cs_constitution_free(c);
}

/* The embedded default is byte for byte src/gov/default_constitution.lua. */
/* admit_node: the default admits; a script without it admits nobody; a
 * non-boolean answer or a runaway loop is an error. */
static void admit_node(void **state)
{
    (void)state;
    static const char node[] = "{\"node_id\": \"00112233aabbccdd\", \"code_id\": \"ab\"}";
    bool admit = false;
    cs_constitution *c = default_constitution();
    cst_ok(cs_constitution_admit_node(c, node, &admit));
    assert_true(admit);
    cs_constitution_free(c);
    static const char base[] = "function validate(p) return true end\n"
                               "function resolve(p, a, v, m) return 'Open' end\n"
                               "function apply(p, id) end\n";
    c = script_constitution(base, 0, 0);
    admit = true;
    cst_ok(cs_constitution_admit_node(c, node, &admit));
    assert_false(admit);
    cs_constitution_free(c);
    char script[512];
    snprintf(script, sizeof script, "%sfunction admit_node(n) return n.code_id == 'ab' end\n",
             base);
    c = script_constitution(script, 0, 0);
    cst_ok(cs_constitution_admit_node(c, node, &admit));
    assert_true(admit);
    cst_ok(cs_constitution_admit_node(c, "{\"code_id\": \"cd\"}", &admit));
    assert_false(admit);
    cs_constitution_free(c);
    snprintf(script, sizeof script, "%sfunction admit_node(n) return 1 end\n", base);
    c = script_constitution(script, 0, 0);
    cst_fails(cs_constitution_admit_node(c, node, &admit), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "admit_node"));
    cs_constitution_free(c);
    snprintf(script, sizeof script, "%sfunction admit_node(n) while true do end end\n", base);
    c = script_constitution(script, 0, 100000);
    cst_fails(cs_constitution_admit_node(c, node, &admit), CONSORT_E_TIMEOUT);
    cs_constitution_free(c);
}

static void default_is_the_source_file(void **state)
{
    (void)state;
    const char *src = getenv("CONSORT_SOURCE_DIR");
    if (src == NULL)
        cst_skip("CONSORT_SOURCE_DIR is not set (ctest sets it)");
    char path[4096];
    snprintf(path, sizeof path, "%s/src/gov/default_constitution.lua", src);
    cs_buf file;
    cst_read_file(path, &file);
    size_t len;
    const char *text = cs_constitution_default_script(&len);
    assert_int_equal(len, file.len);
    assert_memory_equal(text, file.ptr, len);
    assert_int_equal(text[len], '\0');
    cs_buf_cleanup(&file);
    cs_constitution *c = default_constitution();
    size_t clen;
    assert_string_equal(cs_constitution_script(c, &clen), text);
    assert_int_equal(clen, len);
    cs_constitution_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_resolve_three_members),
        cmocka_unit_test(default_validate),
        cmocka_unit_test(admit_node),
        cmocka_unit_test(default_apply_in_order),
        cmocka_unit_test(apply_action_error_aborts),
        cmocka_unit_test(json_conversion),
        cmocka_unit_test(results_and_fresh_state),
        cmocka_unit_test(default_is_the_source_file),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
