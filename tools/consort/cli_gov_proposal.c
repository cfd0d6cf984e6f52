/*
 * The proposal a member signs (cli_gov.h): a JSON file as it is, or one
 * written on the command line with --action NAME --arg KEY=VALUE ...
 */
#include "cli_gov.h"

#include "base/file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* How large a KEY=@FILE value may be (a constitution fits). */
#define ARG_FILE_MAX ((size_t)256 << 10)
#define ARG_KEY_MAX  128

int cs_cli_gov_action_opt(const cs_cli_verb *verb, cs_cli_gov_actions *a, int c, const char *arg)
{
    if (c != CS_CLI_GOV_OPT_ACTION && c != CS_CLI_GOV_OPT_ARG)
        return 0;
    bool action = c == CS_CLI_GOV_OPT_ACTION;
    if (!action && (a->count == 0)) {
        cs_cli_usage_error(verb, "--arg %s: an --arg belongs to the --action before it", arg);
        return -1;
    }
    const char *eq = strchr(arg, '=');
    if (!action && (eq == NULL || eq == arg || (size_t)(eq - arg) >= ARG_KEY_MAX)) {
        cs_cli_usage_error(verb, "--arg '%s': expected KEY=VALUE", arg);
        return -1;
    }
    if (a->count == CS_CLI_GOV_ACTION_WORDS_MAX) {
        cs_cli_usage_error(verb, "more than %d --action and --arg options",
                           CS_CLI_GOV_ACTION_WORDS_MAX);
        return -1;
    }
    a->value[a->count] = arg;
    a->is_action[a->count] = action;
    a->count++;
    return 1;
}

consort_err cs_cli_read_input(const char *path, cs_buf *out)
{
    if (strcmp(path, "-") != 0)
        return cs_file_read(path, out);
    for (;;) {
        uint8_t chunk[4096];
        size_t n = fread(chunk, 1, sizeof chunk, stdin);
        CS_TRY_CTX(cs_buf_append(out, chunk, n), "standard input");
        if (n < sizeof chunk)
            break;
    }
    CS_ENSURE(!ferror(stdin), CONSORT_E_IO, "reading standard input failed");
    return CONSORT_OK;
}

consort_err cs_cli_gov_check_proposal(cs_slice json)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)json.ptr, json.len, 0, &jerr);
    CS_ENSURE(doc != NULL, CONSORT_E_MALFORMED, "the proposal is not JSON: %s (line %d)", jerr.text,
              jerr.line);
    bool object = json_is_object(doc);
    bool actions = json_is_array(json_object_get(doc, "actions"));
    json_decref(doc);
    CS_ENSURE(object, CONSORT_E_MALFORMED,
              "the proposal is not a JSON object ({\"actions\": [...]})");
    CS_ENSURE(actions, CONSORT_E_MALFORMED,
              "the proposal has no \"actions\" array ({\"actions\": [{\"name\": ..., "
              "\"args\": {...}}]})");
    return CONSORT_OK;
}

/* The value of KEY=VALUE: the text of FILE for "@FILE", else JSON if it parses, else a string. */
static consort_err arg_value(const char *text, json_t **out)
{
    if (text[0] == '@') {
        cs_buf content;
        cs_buf_init(&content, ARG_FILE_MAX);
        consort_err rc = cs_file_read(text + 1, &content);
        if (rc == CONSORT_OK) {
            *out = json_stringn((const char *)content.ptr, content.len);
            if (*out == NULL)
                rc = cs_fail(CONSORT_E_MALFORMED, "%s is not UTF-8 text", text + 1);
        }
        cs_buf_cleanup(&content);
        return rc;
    }
    *out = json_loads(text, JSON_DECODE_ANY, NULL);
    if (*out == NULL)
        *out = json_string(text);
    CS_ENSURE(*out != NULL, CONSORT_E_MALFORMED, "'%s' is not UTF-8 text", text);
    return CONSORT_OK;
}

/* Adds --arg KEY=VALUE to the args object of the current action. */
static consort_err add_arg(json_t *args, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[ARG_KEY_MAX];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    json_t *value = NULL;
    CS_TRY_CTX(arg_value(eq + 1, &value), "--arg %s", key);
    CS_ENSURE(json_object_set_new(args, key, value) == 0, CONSORT_E_NOMEM,
              "--arg %s: out of memory", key);
    return CONSORT_OK;
}

/* {"actions": [...]} from the options, serialised compactly into `out`. */
static consort_err build(const cs_cli_gov_actions *a, cs_buf *out)
{
    json_t *actions = json_array();
    json_t *doc = json_pack("{s:o}", "actions", actions);
    json_t *args = NULL;
    consort_err rc = doc != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == CONSORT_OK && i < a->count; i++) {
        if (!a->is_action[i]) {
            rc = add_arg(args, a->value[i]);
            continue;
        }
        args = json_object();
        json_t *action = json_pack("{s:s, s:o}", "name", a->value[i], "args", args);
        if (action == NULL || json_array_append_new(actions, action) != 0)
            rc = cs_fail(CONSORT_E_MALFORMED, "--action '%s': not a UTF-8 name", a->value[i]);
    }
    char *text = NULL;
    if (rc == CONSORT_OK) {
        text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        rc = text != NULL ? cs_buf_append(out, text, strlen(text))
                          : cs_fail(CONSORT_E_NOMEM, "serialising the proposal failed");
    }
    free(text);
    json_decref(doc);
    return rc;
}

consort_err cs_cli_gov_proposal(const char *file, const cs_cli_gov_actions *a, cs_buf *out)
{
    size_t start = out->len;
    if (file != NULL)
        CS_TRY_CTX(cs_cli_read_input(file, out), "the proposal");
    else
        CS_TRY(build(a, out));
    CS_ENSURE(out->len - start <= CS_GOV_REQUEST_MAX, CONSORT_E_TOO_LARGE,
              "the proposal is %zu bytes, more than a request may carry (%zu)", out->len - start,
              CS_GOV_REQUEST_MAX);
    cs_slice json = CS_SLICE(out->ptr + start, out->len - start);
    return cs_cli_gov_check_proposal(json);
}
