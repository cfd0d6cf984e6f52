/*
 * `consort migrate`: moves a stopped node's sealed state to another
 * machine without a fork or a loss (docs/migration.md), by driving both
 * sides' consortd through the protocol (migrate_drive.h).
 */
#include "cli.h"
#include "cli_code_id.h"
#include "cli_opts.h"
#include "migrate_drive.h"

#include "base/file.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_migrate = {
    .name = "migrate",
    .summary = "move a stopped node's sealed state to another machine (fork-free)",
    .usage = "usage: consort migrate --from FILE --to FILE [--platform-dir DIR --data-dir DIR]\n"
             "           [--work DIR] [--node-binary PATH]\n"
             "       consort migrate --status FILE [--node-binary PATH]\n"
             "\n"
             "Moves the sealed state of the stopped node configured by --from (its\n"
             "sealed store: keys, ledger secret, named counters, the application's\n"
             "sealing key) to the node configured by --to, which runs on another\n"
             "platform (another machine, or another virtual platform directory) from an\n"
             "empty data directory, and copies the node's host storage (ledger, raft log,\n"
             "snapshots) across once the source is frozen. Each side's consortd does its\n"
             "own steps (`consortd --config FILE --migrate STEP`): the source freezes,\n"
             "checks the destination's evidence (the same code id or a successor the\n"
             "service's governance approved) and sends the state encrypted to it; the\n"
             "destination checks the source's evidence and seals the state pending; the\n"
             "source retires; the destination goes live. This command only relays the\n"
             "messages: it is trusted with nothing. If anything stops it (a crash of\n"
             "either side, of this command, of the machine), run it again with the same\n"
             "arguments: every step is idempotent, and it finishes what was started.\n"
             "Afterwards start the node with --to's configuration (`consortd --config\n"
             "FILE`); the source never runs again.\n"
             "With --platform-dir and --data-dir, and no file at --to yet, the\n"
             "destination's configuration is written there first: --from's, with those\n"
             "two members replaced (same addresses, application and settings).\n"
             "Prints {\"source\": {...}, \"destination\": {...}} (state, instance, peer,\n"
             "data_dir) as JSON. With --status, prints one side's state only.\n"
             "Exit status 0 when the destination is live, 1 on failure (which step, and\n"
             "why), 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --from FILE          the source node's configuration (its consortd stopped)\n"
             "  --to FILE            the destination's configuration (same node, another\n"
             "                       platform_dir and data_dir)\n"
             "  --platform-dir DIR   with --data-dir: write --to from --from, on this platform\n"
             "  --data-dir DIR       ... with this (new, empty) data directory\n"
             "  --work DIR           where the protocol's messages are kept (default:\n"
             "                       <the destination's data_dir>.migrate)\n"
             "  --status FILE        print the migration state of one node and exit\n"
             "  --node-binary PATH   the consortd (default: the one next to this consort)\n"
             "\n"
             "example:\n"
             "  consort migrate --from /srv/node1/node.json --to /srv/node1-new/node.json\n",
    .run = run,
};

enum {
    OPT_FROM = 1,
    OPT_TO,
    OPT_WORK,
    OPT_STATUS,
    OPT_NODE_BINARY,
    OPT_PLATFORM_DIR,
    OPT_DATA_DIR
};

static const struct option options[] = {
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"work", required_argument, NULL, OPT_WORK},
    {"status", required_argument, NULL, OPT_STATUS},
    {"node-binary", required_argument, NULL, OPT_NODE_BINARY},
    {"platform-dir", required_argument, NULL, OPT_PLATFORM_DIR},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {NULL, 0, NULL, 0},
};

static json_t *side_json(const cs_migrate_side *s)
{
    return json_pack("{s:s, s:s?, s:s?, s:s}", "state", s->state, "instance",
                     s->instance[0] != '\0' ? s->instance : NULL, "peer",
                     s->peer[0] != '\0' ? s->peer : NULL, "data_dir", s->data_dir);
}

static int print_json(json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* --to from --from with platform_dir and data_dir replaced (absolute). */
static consort_err write_destination(const char *from, const char *to, const char *platform_dir,
                                     const char *data_dir)
{
    char pabs[PATH_MAX], dabs[PATH_MAX];
    CS_ENSURE(realpath(platform_dir, pabs) != NULL, CONSORT_E_NOT_FOUND,
              "--platform-dir %s: not found", platform_dir);
    CS_ENSURE(cs_mkdir_p(data_dir, 0700) == CONSORT_OK && realpath(data_dir, dabs) != NULL,
              CONSORT_E_IO, "--data-dir %s: cannot be made", data_dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(from, 0, &jerr);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return cs_fail(CONSORT_E_MALFORMED, "%s: not a JSON object: %s", from, jerr.text);
    }
    consort_err rc = CONSORT_OK;
    if (json_object_set_new(cfg, "platform_dir", json_string(pabs)) != 0 ||
        json_object_set_new(cfg, "data_dir", json_string(dabs)) != 0)
        rc = cs_fail(CONSORT_E_NOMEM, "%s", to);
    else if (json_dump_file(cfg, to, JSON_INDENT(2)) != 0)
        rc = cs_fail(CONSORT_E_IO, "%s: cannot be written", to);
    json_decref(cfg);
    return rc;
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_migrate;
    const char *from = NULL, *to = NULL, *work = NULL, *status = NULL, *binary = NULL;
    const char *platform_dir = NULL, *data_dir = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_FROM:
            from = arg;
            break;
        case OPT_TO:
            to = arg;
            break;
        case OPT_WORK:
            work = arg;
            break;
        case OPT_STATUS:
            status = arg;
            break;
        case OPT_NODE_BINARY:
            binary = arg;
            break;
        case OPT_PLATFORM_DIR:
            platform_dir = arg;
            break;
        case OPT_DATA_DIR:
            data_dir = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (status != NULL && (from != NULL || to != NULL || work != NULL))
        return cs_cli_usage_error(verb, "--status goes alone (with --node-binary at most)");
    if (status == NULL && (from == NULL || to == NULL))
        return cs_cli_usage_error(verb, "--from FILE and --to FILE are required");
    if ((platform_dir == NULL) != (data_dir == NULL))
        return cs_cli_usage_error(verb, "--platform-dir and --data-dir go together");
    if (platform_dir != NULL) {
        if (access(to, F_OK) == 0)
            return cs_cli_usage_error(
                verb, "--to %s exists: --platform-dir and --data-dir write a new one", to);
        if (access(from, R_OK) != 0)
            return cs_cli_fail(verb, cs_fail(CONSORT_E_NOT_FOUND, "%s: cannot be read", from));
        consort_err rc = write_destination(from, to, platform_dir, data_dir);
        if (rc != CONSORT_OK)
            return cs_cli_fail(verb, rc);
        fprintf(stderr, "consort migrate: wrote %s (platform_dir %s, data_dir %s)\n", to,
                platform_dir, data_dir);
    }
    const char *const files[3] = {from, to, status};
    for (int i = 0; i < 3; i++)
        if (files[i] != NULL && access(files[i], R_OK) != 0)
            return cs_cli_fail(verb, cs_fail(CONSORT_E_NOT_FOUND, "%s: cannot be read", files[i]));
    char node_binary[PATH_MAX];
    consort_err brc = cs_cli_node_binary(binary, node_binary, sizeof node_binary);
    if (brc != CONSORT_OK)
        return cs_cli_fail(verb, brc);
    cs_migrate_drive d = {.consortd = node_binary, .from = from, .to = to, .progress = stderr};
    if (status != NULL) {
        cs_migrate_side s;
        consort_err rc = cs_migrate_status(&d, status, &s);
        return rc == CONSORT_OK ? print_json(side_json(&s)) : cs_cli_fail(verb, rc);
    }
    cs_migrate_side src, dst;
    char work_dir[CS_MIGRATE_PATH_MAX];
    consort_err rc = CONSORT_OK;
    if (work == NULL) {
        rc = cs_migrate_status(&d, to, &dst);
        if (rc == CONSORT_OK &&
            snprintf(work_dir, sizeof work_dir, "%s.migrate", dst.data_dir) >= (int)sizeof work_dir)
            rc = cs_fail(CONSORT_E_INVALID_ARGUMENT, "data_dir too long: %s", dst.data_dir);
        work = work_dir;
    }
    d.work_dir = work;
    if (rc == CONSORT_OK)
        rc = cs_migrate_run(&d, &src, &dst);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, rc);
    return print_json(
        json_pack("{s:o, s:o}", "source", side_json(&src), "destination", side_json(&dst)));
}
