/*
 * `consort ledger verify`: the offline audit of a ledger directory
 * (cs_ledger_verify; what it checks is docs/ledger.md "Verifying a ledger").
 */
#include "cli.h"
#include "cli_identities.h"
#include "cli_opts.h"

#include "store/ledger.h"
#include "store/succession.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_ledger_verify = {
    .name = "ledger verify",
    .summary = "verify a ledger directory offline against the service certificate",
    .usage = "usage: consort ledger verify DIR --service-cert PEM [--at RFC3339]\n"
             "           [--identities FILE]\n"
             "\n"
             "Reads every chunk file of the ledger directory DIR and checks, trusting\n"
             "nothing in it: every frame and entry parses (ledger format version 2);\n"
             "seqnos run from 1 without gaps and match the chunk file names; terms never\n"
             "decrease; every .committed chunk ends with a signature entry; the Merkle\n"
             "tree rebuilt from the entries has, at every signature entry, the root that\n"
             "entry signs; both signatures of every signature entry (over the root, and\n"
             "over the checkpoint of tree size, root, state and terms) verify under its\n"
             "node certificate, whose key is the signatures' kid; the node certificate\n"
             "is issued by the service certificate; and the signed terms digest is the\n"
             "one of the terms in the entries before it.\n"
             "\n"
             "Without the ledger secret it cannot check entry tags, commit evidence or\n"
             "the signed state digest (docs/ledger.md 6.1). Entries after the last\n"
             "signature entry are unsigned: no signature covers them, nothing offline\n"
             "vouches for them, and a restarting node does not trust them until the\n"
             "service re-confirms them. They are counted, not an error; so is a torn\n"
             "final frame of the .open chunk (a crash mid-write, which the node\n"
             "truncates when it starts).\n"
             "\n"
             "Exit status 0 if the ledger verifies; 1 with the FIRST bad entry (file,\n"
             "offset, seqno) and the reason; 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --service-cert PEM  the pinned service certificate (GET /node/network)\n"
             "  --at TIME           check certificate validity as of TIME (RFC 3339)\n"
             "                      instead of now\n"
             "  --identities FILE   a recovered service's ledger: the JSON of its GET\n"
             "                      /node/network, whose \"previous_identities\" say which\n"
             "                      identity signed up to which seqno (each record checked;\n"
             "                      docs/recovery.md \"The identity chain\")\n"
             "\n"
             "example:\n"
             "  consort ledger verify node0/ledger --service-cert service_cert.pem\n",
    .run = run,
};

enum { OPT_SERVICE_CERT = 1, OPT_AT, OPT_IDENTITIES };

static const struct option options[] = {
    {"service-cert", required_argument, NULL, OPT_SERVICE_CERT},
    {"at", required_argument, NULL, OPT_AT},
    {"identities", required_argument, NULL, OPT_IDENTITIES},
    {NULL, 0, NULL, 0},
};

typedef struct ledger_args {
    const char *dir;
    const char *service_cert;
    const char *identities;
    int64_t now;
} ledger_args;

static void print_report(const ledger_args *a, const cs_ledger_verify_report *rep)
{
    printf("ledger verified: %s\n", a->dir);
    printf("  entries:    1..%" PRIu64 " in %" PRIu64 " chunk file%s\n", rep->last_seqno,
           rep->chunks, rep->chunks == 1 ? "" : "s");
    if (rep->signatures > 0)
        printf("  signatures: %" PRIu64 " signature entr%s, the last at seqno %" PRIu64 "\n",
               rep->signatures, rep->signatures == 1 ? "y" : "ies", rep->last_signed_seqno);
    else
        printf("  signatures: none\n");
    const char *them = rep->unsigned_entries == 1 ? "it" : "them";
    printf("  unsigned:   %" PRIu64 " entr%s ", rep->unsigned_entries,
           rep->unsigned_entries == 1 ? "y" : "ies");
    if (rep->unsigned_entries == 0)
        printf("after the last signature entry: every entry is covered by a signature\n");
    else
        printf("%s (seqno %" PRIu64 "..%" PRIu64 "): not covered by any signature; a restarting "
               "node does not trust %s until the service re-confirms %s\n",
               rep->signatures > 0 ? "after the last signature entry" : "and no signature entry",
               rep->last_signed_seqno + 1, rep->last_seqno, them, them);
    if (rep->torn_bytes > 0)
        printf("  warning:    the .open chunk ends with a torn frame of %" PRIu64
               " bytes at offset %" PRIu64 " (a crash mid-write; the node truncates it)\n",
               rep->torn_bytes, rep->torn_offset);
    printf("  not checked offline: entry tags, commit evidence and signed state digests "
           "(they need the ledger secret)\n");
}

static int verify(const ledger_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_ledger_verify;
    cs_x509 *service = NULL;
    consort_err rc = cs_x509_load_file(a->service_cert, &service);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, cs_err_context(rc, "--service-cert %s", a->service_cert));
    cs_ledger_verify_report rep;
    memset(&rep, 0, sizeof rep);
    /* the identities the ledger is signed under, oldest first, the pinned one last */
    cs_cli_identities recs;
    cs_cli_identities_init(&recs);
    cs_succession_link links[CS_SUCCESSION_CHAIN_MAX + 1];
    size_t n = 0;
    if (a->identities != NULL)
        rc = cs_cli_identities_read(a->identities, &recs);
    if (rc == CONSORT_OK)
        rc = cs_succession_chain(recs.records, recs.count, service, links, &n);
    if (rc == CONSORT_OK) {
        cs_ledger_identity ids[CS_SUCCESSION_CHAIN_MAX + 1];
        for (size_t i = 0; i < n; i++)
            ids[i] = (cs_ledger_identity){.cert = links[i].cert, .last_seqno = links[i].last_seqno};
        rc = cs_ledger_verify_ids(a->dir, ids, n, a->now, &rep);
    }
    cs_succession_chain_free(links, n);
    cs_cli_identities_cleanup(&recs);
    cs_x509_free(service);
    if (rc == CONSORT_OK) {
        print_report(a, &rep);
        return CS_EXIT_OK;
    }
    int code = cs_cli_fail(verb, rc);
    if (rep.file[0] != '\0')
        fprintf(stderr,
                "first bad entry: file %s offset %" PRIu64 " seqno %" PRIu64 " (%" PRIu64
                " entries before it verified)\n",
                rep.file, rep.offset, rep.seqno, rep.entries);
    return code;
}

static int parse(int argc, char **argv, ledger_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_ledger_verify;
    const char *at = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_SERVICE_CERT:
            a->service_cert = arg;
            break;
        case OPT_AT:
            at = arg;
            break;
        case OPT_IDENTITIES:
            a->identities = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cs_cli_usage_error(verb, "the ledger directory DIR is missing");
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->dir = argv[optind];
    if (a->service_cert == NULL)
        return cs_cli_usage_error(verb, "--service-cert is required");
    a->now = (int64_t)time(NULL);
    if (at != NULL && cs_time_parse_rfc3339(at, &a->now) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--at: %s", consort_errmsg());
    return CS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    ledger_args a = {0};
    int code = parse(argc, argv, &a);
    return code == CS_EXIT_OK ? verify(&a) : code;
}
