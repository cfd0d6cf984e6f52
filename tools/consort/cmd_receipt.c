/*
 * `consort receipt verify`: checks a receipt offline against the pinned
 * service certificate (cs_receipt_verify; docs/receipts.md).
 */
#include "cli.h"
#include "cli_identities.h"
#include "cli_opts.h"

#include "base/file.h"
#include "store/receipt.h"
#include "store/succession.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_receipt_verify = {
    .name = "receipt verify",
    .summary = "verify a transaction receipt offline against the service certificate",
    .usage = "usage: consort receipt verify RECEIPT --service-cert PEM [--claims-digest HEX]\n"
             "           [--txid TERM.SEQNO] [--at RFC3339] [--identities FILE]\n"
             "\n"
             "Verifies RECEIPT, the JSON of GET /app/receipt (\"-\" reads standard input):\n"
             "the leaf recomputed from its leaf components, the Merkle inclusion proof up\n"
             "to a root, the COSE signature over that root by the node key named by its\n"
             "kid, and the node certificate issued by the service certificate; the commit\n"
             "evidence must name the receipt's transaction.\n"
             "Exit status 0 if it verifies, 1 with the reason if not, 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --service-cert PEM    the pinned service certificate (GET /node/network)\n"
             "  --claims-digest HEX   the receipt must carry this claims digest (32 bytes)\n"
             "  --txid TERM.SEQNO     the receipt must be for this transaction\n"
             "  --at TIME             check certificate validity as of TIME (RFC 3339)\n"
             "                        instead of now\n"
             "  --identities FILE     a recovered service: the JSON of its GET /node/network\n"
             "                        (or GET /gov/recovery), whose \"previous_identities\"\n"
             "                        records lead from --service-cert back to the identity\n"
             "                        that signed an older receipt; each record on the way\n"
             "                        must be signed by both identities, and the receipt's\n"
             "                        transaction must precede that identity's hand-over\n"
             "                        (docs/recovery.md \"The identity chain\")\n"
             "\n"
             "example:\n"
             "  consort receipt verify receipt.json --service-cert service_cert.pem\n"
             "  consort receipt verify old_receipt.json --service-cert new_service_cert.pem \\\n"
             "      --identities network.json\n",
    .run = run,
};

enum { OPT_SERVICE_CERT = 1, OPT_CLAIMS_DIGEST, OPT_TXID, OPT_AT, OPT_IDENTITIES };

static const struct option options[] = {
    {"service-cert", required_argument, NULL, OPT_SERVICE_CERT},
    {"claims-digest", required_argument, NULL, OPT_CLAIMS_DIGEST},
    {"txid", required_argument, NULL, OPT_TXID},
    {"at", required_argument, NULL, OPT_AT},
    {"identities", required_argument, NULL, OPT_IDENTITIES},
    {NULL, 0, NULL, 0},
};

typedef struct receipt_args {
    const char *file;
    const char *service_cert;
    const char *txid;
    const char *identities;
    bool has_claims;
    uint8_t claims[CS_LEDGER_DIGEST_LEN];
    int64_t now;
} receipt_args;

/* The receipt text from a file or, for "-", standard input. */
static consort_err read_receipt(const char *file, cs_buf *out)
{
    if (strcmp(file, "-") != 0)
        return cs_file_read(file, out);
    for (;;) {
        uint8_t chunk[4096];
        size_t n = fread(chunk, 1, sizeof chunk, stdin);
        CS_TRY(cs_buf_append(out, chunk, n));
        if (n < sizeof chunk)
            break;
    }
    CS_ENSURE(!ferror(stdin), CONSORT_E_IO, "reading the receipt from standard input failed");
    return CONSORT_OK;
}

static void print_ok(const cs_receipt *r)
{
    cs_cose_sign1 msg;
    cs_cose_alg alg;
    cs_slice kid;
    cs_receipt_proof proof;
    char claims[2 * CS_LEDGER_DIGEST_LEN + 1], node[CS_LEDGER_NODE_ID_LEN + 1] = "";
    cs_hex_encode(CS_SLICE(r->claims_digest, sizeof r->claims_digest), claims);
    printf("receipt verified: transaction %s is in the service's ledger\n", r->txid);
    if (cs_receipt_cose_decode(cs_buf_slice(&r->cose), &msg, &alg, &kid, &proof) == CONSORT_OK) {
        cs_hex_encode(CS_SLICE(kid.ptr, CS_LEDGER_NODE_ID_LEN / 2), node);
        printf("  leaf %" PRIu64 " of a tree of %" PRIu64 " leaves, root signed (%s) by node %s\n",
               proof.leaf_index, proof.tree_size, cs_cose_alg_name(alg), node);
    }
    printf("  claims digest: %s\n", claims);
}

static consort_err verify(const receipt_args *a)
{
    cs_buf text;
    cs_buf_init(&text, CS_RECEIPT_JSON_MAX);
    cs_receipt r;
    cs_receipt_init(&r);
    cs_x509 *service = NULL;
    cs_receipt_verify_opts opts = {.claims_digest = a->has_claims ? a->claims : NULL,
                                   .now = a->now};
    cs_cli_identities ids;
    cs_cli_identities_init(&ids);
    size_t hops = 0;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_load_file(a->service_cert, &service), done);
    if (a->identities != NULL)
        CS_TRY_GOTO(rc, cs_cli_identities_read(a->identities, &ids), done);
    CS_TRY_GOTO(rc, read_receipt(a->file, &text), done);
    CS_TRY_GOTO(rc, cs_receipt_parse(cs_buf_slice(&text), &r), done);
    CS_ENSURE_GOTO(rc, a->txid == NULL || strcmp(a->txid, r.txid) == 0, done, CONSORT_E_POLICY,
                   "receipt is for transaction %s, not %s", r.txid, a->txid);
    CS_TRY_GOTO(rc, cs_receipt_verify_chain(&r, service, ids.records, ids.count, &opts, &hops),
                done);
    print_ok(&r);
    if (hops > 0)
        printf("  signed by a previous identity of the service, %zu hand-over%s before "
               "--service-cert (--identities)\n",
               hops, hops == 1 ? "" : "s");
done:
    cs_cli_identities_cleanup(&ids);
    cs_x509_free(service);
    cs_receipt_cleanup(&r);
    cs_buf_cleanup(&text);
    return rc;
}

static int parse(int argc, char **argv, receipt_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_receipt_verify;
    const char *at = NULL, *claims = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_SERVICE_CERT:
            a->service_cert = arg;
            break;
        case OPT_CLAIMS_DIGEST:
            claims = arg;
            break;
        case OPT_TXID:
            a->txid = arg;
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
        return cs_cli_usage_error(verb, "the RECEIPT file is missing");
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->file = argv[optind];
    if (a->service_cert == NULL)
        return cs_cli_usage_error(verb, "--service-cert is required");
    if (claims != NULL && cs_hex_decode(claims, a->claims, sizeof a->claims) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--claims-digest: %s", consort_errmsg());
    a->has_claims = claims != NULL;
    uint64_t term, seqno;
    if (a->txid != NULL && cs_ledger_txid_parse(cs_slice_str(a->txid), &term, &seqno) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--txid: %s", consort_errmsg());
    a->now = (int64_t)time(NULL);
    if (at != NULL && cs_time_parse_rfc3339(at, &a->now) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--at: %s", consort_errmsg());
    return CS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    receipt_args a = {0};
    int code = parse(argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    consort_err rc = verify(&a);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(&cs_cmd_receipt_verify, rc);
}
