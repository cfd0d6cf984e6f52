/*
 * The actions an accepted proposal applies (docs/governance.md "Actions").
 * Each parses its arguments strictly (unknown arguments are refused),
 * checks them against the state as the proposal's earlier actions left it,
 * and stages its writes (gov_priv.h). A refusal is POLICY or
 * INVALID_ARGUMENT with a message naming what was wrong.
 */
#include "node/gov_codecert.h"
#include "node/gov_egress.h"
#include "node/gov_priv.h"

#include "base/alloc.h"
#include "crypto/hash.h"
#include "gov/shares.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CERT_PEM_MAX ((size_t)64 << 10)
#define WINDOW_MIN_S 10
#define WINDOW_MAX_S 86400
#define GRACE_MAX_S  (30u * 86400u)
#define TOLERATE_MAX 16

/* ---- helpers over the staged state ---- */

static bool count_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    (void)value;
    (*(size_t *)ctx)++;
    return true;
}

static consort_err count_keys(gov_stage *st, const char *map, size_t *n)
{
    *n = 0;
    return gov_stage_each(st, map, count_cb, n);
}

static consort_err must_exist(gov_stage *st, const char *map, const char *key, const char *what)
{
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, map, key, &v, &found));
    CS_ENSURE(found, CONSORT_E_POLICY, "no %s %s", what, key);
    return CONSORT_OK;
}

static consort_err put_setting(gov_stage *st, const char *name, uint64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    return gov_stage_put(st, SVC_MAP_SETTINGS, name, cs_slice_str(text));
}

static consort_err read_setting(gov_stage *st, const char *name, uint64_t *out)
{
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_SETTINGS, name, &v, &found));
    char text[24] = "0";
    if (found && v.len < sizeof text) {
        memcpy(text, v.ptr, v.len);
        text[v.len] = '\0';
    }
    *out = strtoull(text, NULL, 10);
    return CONSORT_OK;
}

/* ---- members and users ---- */

static consort_err set_member(gov_stage *st, json_t *a)
{
    cs_buf der;
    cs_buf_init(&der, CERT_PEM_MAX);
    char id[65];
    const char *enc;
    consort_err rc;
    CS_TRY_GOTO(rc, gov_arg_cert(a, "cert", true, &der, id), out);
    CS_TRY_GOTO(rc, gov_arg_str(a, "encryption_key", false, &enc), out);
    if (enc != NULL) {
        CS_TRY_GOTO(rc, cs_gov_enc_key_check(cs_slice_str(enc)), out);
        CS_TRY_GOTO(rc, gov_stage_put(st, SVC_MAP_MEMBER_KEYS, id, cs_slice_str(enc)), out);
    } else {
        CS_TRY_GOTO(rc, gov_stage_remove(st, SVC_MAP_MEMBER_KEYS, id), out);
    }
    rc = gov_stage_put(st, SVC_MAP_MEMBERS, id, cs_buf_slice(&der));
out:
    cs_buf_cleanup(&der);
    return rc;
}

static consort_err remove_member(gov_stage *st, json_t *a)
{
    char id[65];
    CS_TRY(gov_arg_hex_id(a, "member_id", true, id));
    CS_TRY(must_exist(st, SVC_MAP_MEMBERS, id, "member"));
    size_t members, keys;
    uint64_t threshold;
    CS_TRY(count_keys(st, SVC_MAP_MEMBERS, &members));
    CS_ENSURE(members > 1, CONSORT_E_POLICY, "member %s is the last member", id);
    CS_TRY(gov_stage_remove(st, SVC_MAP_MEMBERS, id));
    CS_TRY(gov_stage_remove(st, SVC_MAP_MEMBER_KEYS, id));
    CS_TRY(count_keys(st, SVC_MAP_MEMBER_KEYS, &keys));
    CS_TRY(read_setting(st, SVC_SETTING_THRESHOLD, &threshold));
    CS_ENSURE(threshold <= keys, CONSORT_E_POLICY,
              "removing member %s leaves %zu members with an encryption key, below the recovery "
              "threshold %llu (lower it first with set_recovery_threshold)",
              id, keys, (unsigned long long)threshold);
    return CONSORT_OK;
}

static consort_err set_user(gov_stage *st, json_t *a)
{
    cs_buf der;
    cs_buf_init(&der, CERT_PEM_MAX);
    char id[65];
    consort_err rc;
    CS_TRY_GOTO(rc, gov_arg_cert(a, "cert", false, &der, id), out);
    rc = gov_stage_put(st, SVC_MAP_USERS, id, cs_buf_slice(&der));
out:
    cs_buf_cleanup(&der);
    return rc;
}

static consort_err remove_user(gov_stage *st, json_t *a)
{
    char id[65];
    CS_TRY(gov_arg_hex_id(a, "user_id", true, id));
    CS_TRY(must_exist(st, SVC_MAP_USERS, id, "user"));
    return gov_stage_remove(st, SVC_MAP_USERS, id);
}

/* ---- code ---- */

static consort_err code_status(gov_stage *st, const char *id, cs_slice *status, bool *found)
{
    return gov_stage_get(st, SVC_MAP_CODE_IDS, id, status, found);
}

/* The update policy arguments of add_code_id and set_update_policy. */
static consort_err put_update_policy(gov_stage *st, json_t *a, const char *successor,
                                     const char *predecessor)
{
    uint64_t quorum, grace, tolerate;
    CS_TRY(gov_arg_uint(a, "cutover_quorum", false, 0, CS_NODE_MAX_LIST * 4, 0, &quorum));
    CS_TRY(gov_arg_uint(a, "grace_period_s", false, 0, GRACE_MAX_S, 0, &grace));
    CS_TRY(gov_arg_uint(a, "tolerate_failures", false, 0, TOLERATE_MAX, 0, &tolerate));
    json_t *p = json_pack("{s:s, s:I, s:I, s:I}", "successor_of", predecessor, "cutover_quorum",
                          (json_int_t)quorum, "grace_period_s", (json_int_t)grace,
                          "tolerate_failures", (json_int_t)tolerate);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "update policy");
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "update policy");
    consort_err rc = gov_stage_put(st, SVC_MAP_UPDATE, successor, cs_slice_str(text));
    free(text);
    return rc;
}

static consort_err add_code_id(gov_stage *st, json_t *a)
{
    char id[65], pred[65];
    CS_TRY(gov_arg_hex_id(a, "code_id", true, id));
    CS_TRY(gov_arg_hex_id(a, "successor_of", false, pred));
    cs_slice status;
    bool found;
    CS_TRY(code_status(st, id, &status, &found));
    CS_ENSURE(!found || !cs_slice_eq(status, CS_SLICE_LIT(SVC_CODE_ID_RETIRED)), CONSORT_E_POLICY,
              "code id %s was retired; a retired code id is never trusted again", id);
    if (pred[0] != '\0') {
        CS_ENSURE(strcmp(pred, id) != 0, CONSORT_E_INVALID_ARGUMENT,
                  "a code id cannot succeed itself");
        CS_TRY(code_status(st, pred, &status, &found));
        CS_ENSURE(found && cs_slice_eq(status, CS_SLICE_LIT(SVC_CODE_ID_OK)), CONSORT_E_POLICY,
                  "successor_of: %s is not a trusted code id", pred);
        CS_TRY(put_update_policy(st, a, id, pred));
    } else {
        CS_ENSURE(json_object_get(a, "cutover_quorum") == NULL &&
                      json_object_get(a, "grace_period_s") == NULL &&
                      json_object_get(a, "tolerate_failures") == NULL,
                  CONSORT_E_INVALID_ARGUMENT, "an update policy needs \"successor_of\"");
    }
    CS_TRY(gov_codecert_add(st, a, id, st->proposal_id)); /* gov_codecert.h */
    st->drop_open = true;
    return gov_stage_put(st, SVC_MAP_CODE_IDS, id, CS_SLICE_LIT(SVC_CODE_ID_OK));
}

static bool count_allowed_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    if (cs_slice_eq(value, CS_SLICE_LIT(SVC_CODE_ID_OK)))
        (*(size_t *)ctx)++;
    return true;
}

static consort_err retire_code_id(gov_stage *st, json_t *a)
{
    char id[65];
    CS_TRY(gov_arg_hex_id(a, "code_id", true, id));
    cs_slice status;
    bool found;
    CS_TRY(code_status(st, id, &status, &found));
    CS_ENSURE(found && cs_slice_eq(status, CS_SLICE_LIT(SVC_CODE_ID_OK)), CONSORT_E_POLICY,
              "code id %s is not a trusted code id", id);
    size_t allowed = 0;
    CS_TRY(gov_stage_each(st, SVC_MAP_CODE_IDS, count_allowed_cb, &allowed));
    CS_ENSURE(allowed > 1, CONSORT_E_POLICY, "code id %s is the last trusted code id", id);
    st->drop_open = true;
    CS_TRY(gov_stage_remove(st, SVC_MAP_UPDATE, id));
    return gov_stage_put(st, SVC_MAP_CODE_IDS, id, CS_SLICE_LIT(SVC_CODE_ID_RETIRED));
}

static consort_err set_update_policy(gov_stage *st, json_t *a)
{
    char id[65];
    CS_TRY(gov_arg_hex_id(a, "code_id", true, id));
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_UPDATE, id, &v, &found));
    CS_ENSURE(found, CONSORT_E_POLICY,
              "code id %s has no update under way (add_code_id with successor_of starts one)", id);
    json_t *old = json_loadb((const char *)v.ptr, v.len, 0, NULL);
    json_t *pred = old != NULL ? json_object_get(old, "successor_of") : NULL;
    consort_err rc;
    if (!json_is_string(pred))
        rc = cs_fail(CONSORT_E_CORRUPT, "the update policy of %s does not parse", id);
    else
        rc = put_update_policy(st, a, id, json_string_value(pred));
    json_decref(old);
    return rc;
}

/* ---- nodes ---- */

static consort_err node_status(gov_stage *st, const char *node_id, const char *from, const char *to)
{
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_NODES, node_id, &v, &found));
    CS_ENSURE(found, CONSORT_E_POLICY, "no node %s", node_id);
    node_record r;
    node_record_init(&r);
    cs_buf enc;
    cs_buf_init(&enc, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, node_record_decode(v, &r), out);
    if (from != NULL && strcmp(r.status, from) != 0) {
        rc = cs_fail(CONSORT_E_POLICY, "node %s is %s, not %s", node_id, r.status, from);
        goto out;
    }
    if (strcmp(r.status, to) == 0) {
        rc = cs_fail(CONSORT_E_POLICY, "node %s is %s already", node_id, to);
        goto out;
    }
    snprintf(r.status, sizeof r.status, "%s", to);
    CS_TRY_GOTO(rc, node_record_encode(&r, &enc), out);
    rc = gov_stage_put(st, SVC_MAP_NODES, node_id, cs_buf_slice(&enc));
out:
    cs_buf_cleanup(&enc);
    node_record_cleanup(&r);
    return rc;
}

static consort_err node_id_arg(json_t *a, char out[CS_NODE_ID_LEN + 1])
{
    const char *s;
    CS_TRY(gov_arg_str(a, "node_id", true, &s));
    CS_ENSURE(strlen(s) == CS_NODE_ID_LEN, CONSORT_E_INVALID_ARGUMENT,
              "argument \"node_id\" must be %d hexadecimal digits", CS_NODE_ID_LEN);
    memcpy(out, s, CS_NODE_ID_LEN + 1);
    return CONSORT_OK;
}

static consort_err transition_node_to_trusted(gov_stage *st, json_t *a)
{
    char id[CS_NODE_ID_LEN + 1];
    CS_TRY(node_id_arg(a, id));
    return node_status(st, id, "Pending", "Trusted");
}

typedef struct trusted_count {
    gov_stage *st;
    size_t trusted;
} trusted_count;

static bool trusted_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    trusted_count *t = ctx;
    node_record r;
    node_record_init(&r);
    if (node_record_decode(value, &r) == CONSORT_OK && strcmp(r.status, "Trusted") == 0)
        t->trusted++;
    node_record_cleanup(&r);
    cs_err_clear();
    return true;
}

static consort_err remove_node(gov_stage *st, json_t *a)
{
    char id[CS_NODE_ID_LEN + 1];
    CS_TRY(node_id_arg(a, id));
    CS_TRY(node_status(st, id, NULL, "Retired"));
    trusted_count t = {.st = st};
    CS_TRY(gov_stage_each(st, SVC_MAP_NODES, trusted_cb, &t));
    CS_ENSURE(t.trusted > 0, CONSORT_E_POLICY, "node %s is the last trusted node", id);
    return CONSORT_OK;
}

/* ---- the service and governance ---- */

static consort_err set_recovery_threshold(gov_stage *st, json_t *a)
{
    uint64_t t;
    size_t keys;
    CS_TRY(gov_arg_uint(a, "threshold", true, 1, 255, 0, &t));
    CS_TRY(count_keys(st, SVC_MAP_MEMBER_KEYS, &keys));
    CS_ENSURE(t <= keys, CONSORT_E_POLICY,
              "threshold %llu exceeds the %zu members who have an encryption key",
              (unsigned long long)t, keys);
    return put_setting(st, SVC_SETTING_THRESHOLD, t);
}

static consort_err set_constitution(gov_stage *st, json_t *a)
{
    const char *script;
    CS_TRY(gov_arg_str(a, "script", true, &script));
    cs_constitution *c;
    CS_TRY_CTX(cs_constitution_new(script, strlen(script), NULL, &c), "the new constitution");
    /* a constitution that cannot even decide the proposal installing it (it
     * loops, allocates without bound, or fails) would lock governance for
     * good: refuse it now, while the old one still decides */
    cs_constitution_outcome outcome;
    consort_err rc = cs_constitution_validate(c, st->proposal_json);
    if (rc == CONSORT_OK)
        rc = cs_constitution_resolve(c, st->proposal_json, "", NULL, 0, NULL, 0, &outcome);
    cs_constitution_free(c);
    CS_TRY_CTX(rc, "the new constitution cannot decide the proposal that installs it");
    st->drop_open = true;
    return gov_stage_put(st, SVC_MAP_CONSTITUTION, SVC_CONSTITUTION_KEY, cs_slice_str(script));
}

static consort_err transition_service_to_open(gov_stage *st, json_t *a)
{
    (void)a;
    cs_slice v;
    bool found;
    CS_TRY(gov_stage_get(st, SVC_MAP_SERVICE, SVC_STATUS_KEY, &v, &found));
    CS_ENSURE(!found || !cs_slice_eq(v, CS_SLICE_LIT(SVC_STATUS_OPEN)), CONSORT_E_POLICY,
              "the service is open already");
    return gov_stage_put(st, SVC_MAP_SERVICE, SVC_STATUS_KEY, CS_SLICE_LIT(SVC_STATUS_OPEN));
}

static consort_err set_gov_request_window(gov_stage *st, json_t *a)
{
    uint64_t s;
    CS_TRY(gov_arg_uint(a, "seconds", true, WINDOW_MIN_S, WINDOW_MAX_S, 0, &s));
    return put_setting(st, SVC_SETTING_WINDOW, s);
}

/* ---- the table ---- */

typedef consort_err (*action_fn)(gov_stage *st, json_t *args);

static const struct {
    const char *name;
    action_fn fn;
    const char *args[7]; /* NULL-ended */
} actions[GOV_ACTION_COUNT] = {
    {"set_member", set_member, {"cert", "encryption_key"}},
    {"remove_member", remove_member, {"member_id"}},
    {"set_user", set_user, {"cert"}},
    {"remove_user", remove_user, {"user_id"}},
    {"add_code_id",
     add_code_id,
     {"code_id", "successor_of", "cutover_quorum", "grace_period_s", "tolerate_failures",
      "certificate"}},
    {"set_code_certificate_policy", gov_codecert_set_policy, {"issuers", "claims"}},
    {"retire_code_id", retire_code_id, {"code_id"}},
    {"set_update_policy",
     set_update_policy,
     {"code_id", "cutover_quorum", "grace_period_s", "tolerate_failures"}},
    {"transition_node_to_trusted", transition_node_to_trusted, {"node_id"}},
    {"remove_node", remove_node, {"node_id"}},
    {"set_recovery_threshold", set_recovery_threshold, {"threshold"}},
    {"set_constitution", set_constitution, {"script"}},
    {"transition_service_to_open", transition_service_to_open, {NULL}},
    {"set_gov_request_window", set_gov_request_window, {"seconds"}},
    {"set_egress_service", gov_egress_set, {"name", "address", "service_certificate"}},
    {"remove_egress_service", gov_egress_remove, {"name"}},
};

static consort_err run_action(void *ctx, const char *name, const char *args_json)
{
    gov_stage *st = ctx;
    for (size_t i = 0; i < GOV_ACTION_COUNT; i++) {
        if (strcmp(actions[i].name, name) != 0)
            continue;
        json_t *a;
        CS_TRY(gov_args_parse(args_json, actions[i].args, &a));
        consort_err rc = actions[i].fn(st, a);
        json_decref(a);
        return rc;
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT, "unknown action");
}

void gov_actions_bind(gov_stage *st, cs_constitution_action out[GOV_ACTION_COUNT])
{
    for (size_t i = 0; i < GOV_ACTION_COUNT; i++)
        out[i] = (cs_constitution_action){.name = actions[i].name, .cb = run_action, .ctx = st};
}
