/*
 * The node's JSON configuration (node.h cs_node_config; docs/operating.md
 * documents every member). Strict: unknown members, wrong types, values
 * that do not fit and a missing or doubled mode are errors naming the
 * member, so a typo never silently changes what a node does.
 */
#include "node/node_priv.h"

#include "base/file.h"

#include <jansson.h>
#include <string.h>

#define CONFIG_MAX ((size_t)1 << 20)

static consort_err copy_str(json_t *v, const char *name, char *out, size_t n, bool nonempty)
{
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "config: \"%s\" must be a string", name);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    CS_ENSURE(len < n && strlen(s) == len, CONSORT_E_MALFORMED,
              "config: \"%s\" is %zu bytes (at most %zu, no NUL)", name, len, n - 1);
    CS_ENSURE(!nonempty || len > 0, CONSORT_E_MALFORMED, "config: \"%s\" must not be empty", name);
    memcpy(out, s, len + 1);
    return CONSORT_OK;
}

static consort_err get_u64(json_t *v, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
    CS_ENSURE(json_is_integer(v), CONSORT_E_MALFORMED, "config: \"%s\" must be an integer", name);
    json_int_t i = json_integer_value(v);
    CS_ENSURE(i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max, CONSORT_E_MALFORMED,
              "config: \"%s\" = %lld outside %llu..%llu", name, (long long)i,
              (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)i;
    return CONSORT_OK;
}

static consort_err path_list(json_t *v, const char *name, char (*out)[CS_NODE_PATH_MAX],
                             size_t *count)
{
    CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED, "config: \"%s\" must be an array", name);
    CS_ENSURE(json_array_size(v) <= CS_NODE_MAX_LIST, CONSORT_E_TOO_LARGE,
              "config: \"%s\" has %zu items, at most %d", name, json_array_size(v),
              CS_NODE_MAX_LIST);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        CS_TRY_CTX(copy_str(item, name, out[i], CS_NODE_PATH_MAX, true), "item %zu", i);
    }
    *count = json_array_size(v);
    return CONSORT_OK;
}

static consort_err code_id_list(json_t *v, cs_node_config *cfg)
{
    CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED,
              "config: \"trusted_code_ids\" must be an array");
    CS_ENSURE(json_array_size(v) < CS_NODE_MAX_LIST, CONSORT_E_TOO_LARGE,
              "config: \"trusted_code_ids\" has %zu items, at most %d", json_array_size(v),
              CS_NODE_MAX_LIST - 1); /* one slot stays for the node's own code id */
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        CS_ENSURE(json_is_string(item), CONSORT_E_MALFORMED,
                  "config: \"trusted_code_ids\" item %zu must be a string", i);
        CS_TRY_CTX(cs_hex_decode(json_string_value(item), cfg->trusted_code_ids[i], 32),
                   "config: \"trusted_code_ids\" item %zu (64 hex digits)", i);
    }
    cfg->trusted_code_id_count = json_array_size(v);
    return CONSORT_OK;
}

/* "members": each a certificate file, or {"cert": file, "encryption_key": file}. */
static consort_err member_list(json_t *v, cs_node_config *cfg)
{
    CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED, "config: \"members\" must be an array");
    CS_ENSURE(json_array_size(v) <= CS_NODE_MAX_LIST, CONSORT_E_TOO_LARGE,
              "config: \"members\" has %zu items, at most %d", json_array_size(v),
              CS_NODE_MAX_LIST);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        cfg->member_enc_keys[i][0] = '\0';
        if (json_is_string(item)) {
            CS_TRY_CTX(copy_str(item, "members", cfg->members[i], CS_NODE_PATH_MAX, true),
                       "item %zu", i);
            continue;
        }
        CS_ENSURE(json_is_object(item), CONSORT_E_MALFORMED,
                  "config: \"members\" item %zu must be a certificate file name or an object "
                  "{\"cert\": ..., \"encryption_key\": ...}",
                  i);
        const char *key;
        json_t *f;
        cfg->members[i][0] = '\0';
        json_object_foreach(item, key, f)
        {
            if (strcmp(key, "cert") == 0)
                CS_TRY_CTX(copy_str(f, key, cfg->members[i], CS_NODE_PATH_MAX, true),
                           "members item %zu", i);
            else if (strcmp(key, "encryption_key") == 0)
                CS_TRY_CTX(copy_str(f, key, cfg->member_enc_keys[i], CS_NODE_PATH_MAX, true),
                           "members item %zu", i);
            else
                return cs_fail(CONSORT_E_MALFORMED,
                               "config: unknown member \"start.members[%zu].%s\"", i, key);
        }
        CS_ENSURE(cfg->members[i][0] != '\0', CONSORT_E_MALFORMED,
                  "config: \"members\" item %zu has no \"cert\"", i);
    }
    cfg->member_count = json_array_size(v);
    return CONSORT_OK;
}

static consort_err parse_start(json_t *o, cs_node_config *cfg)
{
    CS_ENSURE(json_is_object(o), CONSORT_E_MALFORMED, "config: \"start\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "trusted_code_ids") == 0)
            CS_TRY(code_id_list(v, cfg));
        else if (strcmp(key, "users") == 0)
            CS_TRY(path_list(v, "users", cfg->users, &cfg->user_count));
        else if (strcmp(key, "members") == 0)
            CS_TRY(member_list(v, cfg));
        else if (strcmp(key, "constitution") == 0)
            CS_TRY(copy_str(v, key, cfg->constitution_path, sizeof cfg->constitution_path, true));
        else if (strcmp(key, "open_at_genesis") == 0) {
            CS_ENSURE(json_is_boolean(v), CONSORT_E_MALFORMED,
                      "config: \"start.open_at_genesis\" must be true or false");
            cfg->open_at_genesis = json_is_true(v);
        } else if (strcmp(key, "service_cert_out") == 0)
            CS_TRY(copy_str(v, key, cfg->service_cert_out, sizeof cfg->service_cert_out, true));
        else
            return cs_fail(CONSORT_E_MALFORMED, "config: unknown member \"start.%s\"", key);
    }
    return CONSORT_OK;
}

static consort_err parse_join(json_t *o, cs_node_config *cfg)
{
    CS_ENSURE(json_is_object(o), CONSORT_E_MALFORMED, "config: \"join\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "target") == 0)
            CS_TRY(copy_str(v, "join.target", cfg->join_target, sizeof cfg->join_target, true));
        else if (strcmp(key, "service_cert") == 0)
            CS_TRY(copy_str(v, "join.service_cert", cfg->service_cert_path,
                            sizeof cfg->service_cert_path, true));
        else
            return cs_fail(CONSORT_E_MALFORMED, "config: unknown member \"join.%s\"", key);
    }
    CS_ENSURE(cfg->join_target[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"join.target\" is required");
    CS_ENSURE(cfg->service_cert_path[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"join.service_cert\" is required (the pinned service certificate)");
    return CONSORT_OK;
}

static consort_err parse_recover(json_t *o, cs_node_config *cfg)
{
    CS_ENSURE(json_is_object(o), CONSORT_E_MALFORMED, "config: \"recover\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "previous_ledger") == 0)
            CS_TRY(copy_str(v, "recover.previous_ledger", cfg->previous_ledger,
                            sizeof cfg->previous_ledger, true));
        else if (strcmp(key, "previous_service_cert") == 0)
            CS_TRY(copy_str(v, "recover.previous_service_cert", cfg->previous_service_cert,
                            sizeof cfg->previous_service_cert, true));
        else if (strcmp(key, "service_cert_out") == 0)
            CS_TRY(copy_str(v, "recover.service_cert_out", cfg->service_cert_out,
                            sizeof cfg->service_cert_out, true));
        else
            return cs_fail(CONSORT_E_MALFORMED, "config: unknown member \"recover.%s\"", key);
    }
    CS_ENSURE(cfg->previous_ledger[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"recover.previous_ledger\" is required (a copy of the lost service's "
              "ledger directory)");
    CS_ENSURE(cfg->previous_service_cert[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"recover.previous_service_cert\" is required (the lost service's "
              "certificate)");
    return CONSORT_OK;
}

static consort_err parse_member(const char *key, json_t *v, cs_node_config *cfg)
{
    if (strcmp(key, "platform") == 0) {
        CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "config: \"platform\" must be a string");
        CS_TRY_CTX(cs_platform_parse(json_string_value(v), &cfg->platform), "config: platform");
        CS_ENSURE(cfg->platform == CS_PLATFORM_VIRTUAL || cfg->platform == CS_PLATFORM_TPM,
                  CONSORT_E_UNSUPPORTED,
                  "config: platform \"%s\": a node runs on \"virtual\" "
                  "or \"tpm\"",
                  json_string_value(v));
        return CONSORT_OK;
    }
    if (strcmp(key, "platform_dir") == 0)
        return copy_str(v, key, cfg->platform_dir, sizeof cfg->platform_dir, true);
    if (strcmp(key, "tpm_tcti") == 0)
        return copy_str(v, key, cfg->tpm_tcti, sizeof cfg->tpm_tcti, true);
    if (strcmp(key, "tpm_ak_ca_cert") == 0)
        return copy_str(v, key, cfg->tpm_ak_ca_cert, sizeof cfg->tpm_ak_ca_cert, true);
    if (strcmp(key, "tpm_ak_ca_key") == 0)
        return copy_str(v, key, cfg->tpm_ak_ca_key, sizeof cfg->tpm_ak_ca_key, true);
    if (strcmp(key, "tpm_ak_cert") == 0)
        return copy_str(v, key, cfg->tpm_ak_cert, sizeof cfg->tpm_ak_cert, true);
    if (strcmp(key, "rpc_address") == 0)
        return copy_str(v, key, cfg->rpc_address, sizeof cfg->rpc_address, true);
    if (strcmp(key, "node_address") == 0)
        return copy_str(v, key, cfg->node_address, sizeof cfg->node_address, true);
    if (strcmp(key, "data_dir") == 0)
        return copy_str(v, key, cfg->data_dir, sizeof cfg->data_dir, true);
    if (strcmp(key, "app") == 0)
        return copy_str(v, key, cfg->app_path, sizeof cfg->app_path, false);
    if (strcmp(key, "sig_interval_tx") == 0)
        return get_u64(v, key, 1, 1000000, &cfg->sig_interval_tx);
    if (strcmp(key, "sig_interval_ms") == 0)
        return get_u64(v, key, 1, 3600000, &cfg->sig_interval_ms);
    if (strcmp(key, "ledger_sync_ms") == 0)
        return get_u64(v, key, 0, 60000, &cfg->ledger_sync_ms);
    if (strcmp(key, "heartbeat_ms") == 0) /* well under the 1000 ms election timeout */
        return get_u64(v, key, 5, 250, &cfg->heartbeat_ms);
    if (strcmp(key, "snapshot_interval") == 0)
        return get_u64(v, key, 2, UINT32_MAX, &cfg->snapshot_interval);
    if (strcmp(key, "snapshot_log_kib") == 0)
        return get_u64(v, key, 64, (uint64_t)1 << 30, &cfg->snapshot_log_kib);
    if (strcmp(key, "min_free_mib") == 0)
        return get_u64(v, key, 1, (uint64_t)1 << 20, &cfg->min_free_mib);
    if (strcmp(key, "raft_segment_kib") == 0) {
        CS_TRY(get_u64(v, key, 256, 8192, &cfg->raft_segment_kib));
        CS_ENSURE(cfg->raft_segment_kib % 64 == 0, CONSORT_E_MALFORMED,
                  "config: \"raft_segment_kib\" = %llu is not a multiple of 64",
                  (unsigned long long)cfg->raft_segment_kib);
        return CONSORT_OK;
    }
    if (strcmp(key, "ledger_chunk_bytes") == 0)
        return get_u64(v, key, 1024, (uint64_t)1 << 34, &cfg->chunk_size);
    if (strcmp(key, "max_client_connections") == 0)
        return get_u64(v, key, 1, CS_NODE_MAX_CONNECTIONS, &cfg->max_client_connections);
    if (strcmp(key, "max_client_connections_per_address") == 0)
        return get_u64(v, key, 1, CS_NODE_MAX_CONNECTIONS, &cfg->max_client_connections_addr);
    if (strcmp(key, "http_header_timeout_ms") == 0)
        return get_u64(v, key, 100, 600000, &cfg->http_header_timeout_ms);
    if (strcmp(key, "http_request_timeout_ms") == 0)
        return get_u64(v, key, 100, 3600000, &cfg->http_request_timeout_ms);
    if (strcmp(key, "http_idle_timeout_ms") == 0)
        return get_u64(v, key, 100, 3600000, &cfg->http_idle_timeout_ms);
    if (strcmp(key, "allow_debug_evidence") == 0) {
        CS_ENSURE(json_is_boolean(v), CONSORT_E_MALFORMED,
                  "config: \"allow_debug_evidence\" must be true or false");
        cfg->allow_debug = json_is_true(v);
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_MALFORMED, "config: unknown member \"%s\"", key);
}

/* The AK certificate members (docs/operating.md "TPM platform"): the tpm platform
 * needs the AK CA certificate and either the CA key (the node certifies its own
 * AK at start) or a ready AK certificate, not both; other platforms none. */
static consort_err check_tpm_members(const cs_node_config *cfg)
{
    bool ca_cert = cfg->tpm_ak_ca_cert[0] != '\0';
    bool ca_key = cfg->tpm_ak_ca_key[0] != '\0';
    bool ak_cert = cfg->tpm_ak_cert[0] != '\0';
    if (cfg->platform != CS_PLATFORM_TPM) {
        CS_ENSURE(!ca_cert && !ca_key && !ak_cert, CONSORT_E_MALFORMED,
                  "config: \"tpm_ak_*\" members are for the tpm platform only (platform is "
                  "\"%s\")",
                  cs_platform_name(cfg->platform));
        return CONSORT_OK;
    }
    CS_ENSURE(ca_cert, CONSORT_E_MALFORMED,
              "config: \"tpm_ak_ca_cert\" is required for the tpm platform (the CA that "
              "certifies every node's attestation key)");
    CS_ENSURE(ca_key != ak_cert, CONSORT_E_MALFORMED,
              "config: the tpm platform needs exactly one of \"tpm_ak_ca_key\" (certify this "
              "node's AK at start) and \"tpm_ak_cert\" (its AK certificate), %s given",
              ca_key ? "both" : "neither");
    return CONSORT_OK;
}

void cs_node_config_defaults(cs_node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->platform = CS_PLATFORM_VIRTUAL;
    cfg->sig_interval_tx = 100;
    cfg->sig_interval_ms = 10;
    cfg->ledger_sync_ms = 100;
    cfg->snapshot_interval = 100000; /* etcd's default --snapshot-count */
    cfg->snapshot_log_kib = 65536;   /* 64 MiB of raft log in memory, at most */
    cfg->heartbeat_ms = 25;
    cfg->chunk_size = CS_LEDGER_CHUNK_SIZE_DEFAULT;
    cfg->min_free_mib = 16;
    cfg->max_client_connections = 4096;
    cfg->max_client_connections_addr = 1024;
    cfg->http_header_timeout_ms = 10000;
    cfg->http_request_timeout_ms = 30000;
    cfg->http_idle_timeout_ms = 60000;
}

static consort_err parse_root(json_t *root, cs_node_config *cfg)
{
    CS_ENSURE(json_is_object(root), CONSORT_E_MALFORMED, "config: the document must be an object");
    json_t *start = NULL, *join = NULL, *recover = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "start") == 0)
            start = v;
        else if (strcmp(key, "join") == 0)
            join = v;
        else if (strcmp(key, "recover") == 0)
            recover = v;
        else
            CS_TRY(parse_member(key, v, cfg));
    }
    CS_ENSURE((start != NULL) + (join != NULL) + (recover != NULL) == 1, CONSORT_E_MALFORMED,
              "config: exactly one of \"start\", \"join\" and \"recover\" is required");
    if (start != NULL) {
        cfg->mode = CS_NODE_START;
        CS_TRY(parse_start(start, cfg));
    } else if (join != NULL) {
        cfg->mode = CS_NODE_JOIN;
        CS_TRY(parse_join(join, cfg));
    } else {
        cfg->mode = CS_NODE_RECOVER;
        CS_TRY(parse_recover(recover, cfg));
    }
    CS_ENSURE(cfg->rpc_address[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"rpc_address\" is required");
    CS_ENSURE(cfg->node_address[0] != '\0', CONSORT_E_MALFORMED,
              "config: \"node_address\" is required");
    CS_ENSURE(cfg->data_dir[0] != '\0', CONSORT_E_MALFORMED, "config: \"data_dir\" is required");
    if (cfg->platform == CS_PLATFORM_VIRTUAL)
        CS_ENSURE(cfg->platform_dir[0] != '\0', CONSORT_E_MALFORMED,
                  "config: \"platform_dir\" is required for the virtual platform");
    if (cfg->platform == CS_PLATFORM_TPM)
        CS_ENSURE(cfg->tpm_tcti[0] != '\0', CONSORT_E_MALFORMED,
                  "config: \"tpm_tcti\" is required for the tpm platform");
    CS_ENSURE(cfg->http_request_timeout_ms >= cfg->http_header_timeout_ms, CONSORT_E_MALFORMED,
              "config: \"http_request_timeout_ms\" (%llu) is shorter than "
              "\"http_header_timeout_ms\" (%llu): a whole request includes its headers",
              (unsigned long long)cfg->http_request_timeout_ms,
              (unsigned long long)cfg->http_header_timeout_ms);
    return check_tpm_members(cfg);
}

consort_err cs_node_config_parse(cs_slice text, cs_node_config *cfg)
{
    CS_ENSURE(text.len <= CONFIG_MAX, CONSORT_E_TOO_LARGE, "config: %zu bytes, at most %zu",
              text.len, CONFIG_MAX);
    cs_node_config_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)text.ptr, text.len, JSON_REJECT_DUPLICATES, &jerr);
    CS_ENSURE(root != NULL, CONSORT_E_MALFORMED, "config: line %d column %d: %s", jerr.line,
              jerr.column, jerr.text);
    consort_err rc = parse_root(root, cfg);
    json_decref(root);
    return rc;
}

consort_err cs_node_config_load(const char *path, cs_node_config *cfg)
{
    cs_buf text;
    cs_buf_init(&text, CONFIG_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_file_read(path, &text), out);
    CS_TRY_GOTO(rc, cs_node_config_parse(cs_buf_slice(&text), cfg), out);
out:
    cs_buf_cleanup(&text);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", path);
}
