/*
 * The files the sandbox writes for others to read (sandbox.h): each node's
 * configuration (struct cs_node_config in src/node/node.h; docs/operating.md)
 * and DIR/nodes.json for scripts and tests.
 */
#include "sandbox.h"

#include "base/file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Serialises `doc` (stolen) and writes it to `path` atomically. */
static consort_err write_json(json_t *doc, const char *path)
{
    CS_ENSURE(doc != NULL, CONSORT_E_NOMEM, "%s: building the JSON document failed", path);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "%s: serialising the JSON document failed", path);
    size_t len = strlen(text);
    consort_err rc = CONSORT_OK;
    char *nl = malloc(len + 2);
    if (nl == NULL) {
        rc = cs_fail(CONSORT_E_NOMEM, "%s: out of memory", path);
    } else {
        memcpy(nl, text, len);
        nl[len] = '\n';
        rc = cs_file_write_atomic(path, CS_SLICE(nl, len + 1), 0644);
        free(nl);
    }
    free(text);
    return rc;
}

/* Members every node shares: where it runs and what it runs. */
static json_t *common_members(const cs_sbx *sbx, const cs_sbx_node *n)
{
    json_t *cfg = json_object();
    if (cfg == NULL)
        return NULL;
    int bad = json_object_set_new(cfg, "platform", json_string(cs_platform_name(sbx->platform)));
    if (sbx->platform == CS_PLATFORM_TPM) {
        bad |= json_object_set_new(cfg, "tpm_tcti", json_string(n->tpm_tcti));
        bad |= json_object_set_new(cfg, "tpm_ak_ca_cert", json_string(sbx->tpm_ak_ca_cert));
        bad |= json_object_set_new(cfg, "tpm_ak_cert", json_string(n->tpm_ak_cert));
    } else {
        bad |= json_object_set_new(cfg, "platform_dir", json_string(n->platform_dir));
    }
    bad |= json_object_set_new(cfg, "rpc_address", json_string(n->rpc_address));
    bad |= json_object_set_new(cfg, "node_address", json_string(n->node_address));
    bad |= json_object_set_new(cfg, "data_dir", json_string(n->data_dir));
    bad |= json_object_set_new(cfg, "app", json_string(n->app));
    if (bad != 0) {
        json_decref(cfg);
        return NULL;
    }
    return cfg;
}

/* "start": a new service trusting this sandbox's code id, user0 and the
 * members (each with its encryption key); the members open it afterwards
 * (sandbox_gov.c). */
static json_t *start_members(const cs_sbx *sbx)
{
    char code_id[65];
    cs_hex_encode(CS_SLICE(sbx->code_id, sizeof sbx->code_id), code_id);
    json_t *members = json_array();
    for (int m = 0; m < CS_SBX_MEMBERS && members != NULL; m++) {
        if (json_array_append_new(members, json_pack("{s:s, s:s}", "cert", sbx->members[m][0],
                                                     "encryption_key", sbx->members[m][2])) != 0) {
            json_decref(members);
            members = NULL;
        }
    }
    if (members == NULL)
        return NULL;
    return json_pack("{s:[s], s:[s], s:o, s:s}", "trusted_code_ids", code_id, "users",
                     sbx->user_cert, "members", members, "service_cert_out", sbx->service_cert);
}

/* "join": attest to node 0 and expect the service certificate it wrote (pinned). */
/* "join": attest to the first earlier node still running (node 0 may have been
 * evicted by a rolling update); it redirects to the leader. */
static json_t *join_members(const cs_sbx *sbx, int i)
{
    int target = 0;
    for (int j = 0; j < i; j++) {
        if (sbx->nodes[j].proc.pid != 0) {
            target = j;
            break;
        }
    }
    return json_pack("{s:s, s:s}", "target", sbx->nodes[target].node_address, "service_cert",
                     sbx->service_cert);
}

/* --node-option NAME=VALUE: VALUE is JSON if it parses as JSON, else a string. */
static consort_err add_extra(json_t *cfg, const char *option)
{
    const char *eq = strchr(option, '=');
    CS_ENSURE(eq != NULL && eq != option, CONSORT_E_INVALID_ARGUMENT,
              "--node-option '%s': expected NAME=VALUE", option);
    char name[128];
    CS_ENSURE((size_t)(eq - option) < sizeof name, CONSORT_E_INVALID_ARGUMENT,
              "--node-option '%s': name too long", option);
    memcpy(name, option, (size_t)(eq - option));
    name[eq - option] = '\0';
    json_t *value = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (value == NULL)
        value = json_string(eq + 1);
    CS_ENSURE(value != NULL && json_object_set_new(cfg, name, value) == 0, CONSORT_E_NOMEM,
              "--node-option '%s': out of memory", option);
    return CONSORT_OK;
}

consort_err cs_sbx_write_config(const cs_sbx *sbx, int i)
{
    const cs_sbx_node *n = &sbx->nodes[i];
    json_t *cfg = common_members(sbx, n);
    for (size_t k = 0; cfg != NULL && k < sbx->extra_count; k++) {
        consort_err rc = add_extra(cfg, sbx->extra[k]);
        if (rc != CONSORT_OK) {
            json_decref(cfg);
            return rc;
        }
    }
    json_t *mode = i == 0 ? start_members(sbx) : join_members(sbx, i);
    if (cfg == NULL || mode == NULL ||
        json_object_set_new(cfg, i == 0 ? "start" : "join", mode) != 0) {
        json_decref(cfg);
        return cs_fail(CONSORT_E_NOMEM, "%s: building the configuration failed", n->config_path);
    }
    return write_json(cfg, n->config_path);
}

consort_err cs_sbx_write_nodes_json(const cs_sbx *sbx)
{
    json_t *list = json_array();
    int bad = list == NULL;
    for (int i = 0; i < sbx->count && !bad; i++) {
        const cs_sbx_node *n = &sbx->nodes[i];
        if (n->proc.pid == 0 && n->node_id[0] == '\0')
            continue; /* not started yet */
        /* pid: the last process started for it, also once it is gone ("running") */
        pid_t pid = n->last_pid != 0 ? n->last_pid : n->proc.pid;
        json_t *o = json_pack(
            "{s:s, s:s, s:I, s:b, s:o, s:s, s:s, s:s, s:s}", "node_id", n->node_id, "rpc_address",
            n->rpc_address, "pid", (json_int_t)pid, "running", n->proc.pid != 0, "role",
            n->role[0] != '\0' ? json_string(n->role) : json_null(), "data_dir", n->data_dir,
            "node_address", n->node_address, "config", n->config_path, "log", n->log_path);
        if (o != NULL && sbx->platform == CS_PLATFORM_TPM)
            bad |= json_object_set_new(o, "tpm_tcti", json_string(n->tpm_tcti)) |
                   json_object_set_new(o, "tpm_pid", json_integer((json_int_t)n->tpm.pid));
        bad |= json_array_append_new(list, o);
    }
    if (bad) {
        json_decref(list);
        return cs_fail(CONSORT_E_NOMEM, "%s: building the list failed", sbx->nodes_json);
    }
    return write_json(list, sbx->nodes_json);
}
