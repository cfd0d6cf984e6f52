/*
 * gen_ledger: a test helper that writes a real ledger with the real writer,
 * for tests/cli/test_cli_ledger.sh and the fuzz seed corpora.
 *
 *   gen_ledger OUT [--entries N] [--sig-every K] [--chunk-size BYTES]
 *                  [--corpus-entries DIR] [--corpus-receipts DIR] [--secret HEX]
 *                  [--wrong-terms]
 *
 * Writes into OUT (created):
 *   ledger/                   the ledger directory (N transactions, a
 *                             signature entry after every K-th, 2 more
 *                             transactions unsigned at the end)
 *   service_cert.pem          the service certificate to pin
 *   other_service_cert.pem    another service's certificate
 *   receipts/<seqno>.json     receipts for seqno 1, K (last before the first
 *                             signature), K + 1 (a signature entry) and the
 *                             last covered transaction
 *   claims/<seqno>.hex        the claims digest each of those carries
 *   other_receipt.json        a receipt issued by the other service
 *   node_id                   the signing node's id
 * With --corpus-entries, a few raw entries (entry_<seqno>.bin); with
 * --corpus-receipts, the receipts and a raw COSE receipt, for fuzz seeds;
 * --secret fixes the ledger secret (64 hex digits) instead of a random one.
 * With --wrong-terms, the second signature entry (seqno 2K + 2, after K
 * more transactions) is genuinely signed but states a terms digest that is
 * not the one of the entries before it (a term change at seqno 2 that the
 * entries do not have); its seqno is written to OUT/wrong_terms_seqno.
 * Entries are version 2 (docs/ledger.md), sealed with the secret.
 */
#include "base/err.h"
#include "store/ledger_writer.h"

#include <stdio.h>
#include <stdlib.h>

#define LFX_OK(expr)                                                                               \
    do {                                                                                           \
        consort_err lfx_rc_ = (expr);                                                              \
        if (lfx_rc_ != CONSORT_OK) {                                                               \
            fprintf(stderr, "gen_ledger: %s: %s\n", #expr, consort_errmsg());                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#include "ledger_fixture.h"

#include "base/file.h"

#include <getopt.h>
#include <sys/stat.h>

typedef struct gen_args {
    const char *out;
    size_t entries;
    size_t sig_every;
    size_t chunk_size;
    const char *corpus_entries;
    const char *corpus_receipts;
    const char *secret_hex;
    bool wrong_terms;
} gen_args;

static void write_file(const char *dir, const char *name, cs_slice data)
{
    char path[4096];
    LFX_OK(cs_path_join(path, sizeof path, dir, name));
    LFX_OK(cs_file_write_atomic(path, data, 0644));
}

static void write_pem(const char *dir, const char *name, const cs_x509 *cert)
{
    cs_buf pem;
    cs_buf_init(&pem, 0);
    LFX_OK(cs_x509_to_pem(cert, &pem));
    write_file(dir, name, cs_buf_slice(&pem));
    cs_buf_cleanup(&pem);
}

static void subdir(const char *out, const char *name, char path[4096])
{
    LFX_OK(cs_path_join(path, 4096, out, name));
    LFX_OK(cs_mkdir_p(path, 0755));
}

/* receipts/<seqno>.json and claims/<seqno>.hex (and the corpus copy). */
static void write_receipt(const gen_args *a, const lfx_ledger *l, uint64_t seqno)
{
    char rdir[4096], cdir[4096], name[64];
    subdir(a->out, "receipts", rdir);
    subdir(a->out, "claims", cdir);
    cs_buf json;
    lfx_receipt(l, seqno, &json);
    snprintf(name, sizeof name, "%llu.json", (unsigned long long)seqno);
    write_file(rdir, name, cs_buf_slice(&json));
    if (a->corpus_receipts != NULL)
        write_file(a->corpus_receipts, name, cs_buf_slice(&json));
    cs_ledger_entry e;
    LFX_OK(cs_ledger_entry_decode(cs_buf_slice(&l->entries[seqno - 1]), &e));
    char hex[2 * CS_LEDGER_DIGEST_LEN + 2];
    cs_hex_encode(CS_SLICE(e.claims_digest, CS_LEDGER_DIGEST_LEN), hex);
    snprintf(name, sizeof name, "%llu.hex", (unsigned long long)seqno);
    write_file(cdir, name, CS_SLICE(hex, 2 * CS_LEDGER_DIGEST_LEN));
    cs_buf_cleanup(&json);
}

/* A raw COSE receipt (for the fuzzer's COSE path). */
static void write_raw_cose(const gen_args *a, const lfx_ledger *l, uint64_t seqno)
{
    cs_buf json;
    lfx_receipt(l, seqno, &json);
    cs_receipt r;
    cs_receipt_init(&r);
    LFX_OK(cs_receipt_parse(cs_buf_slice(&json), &r));
    write_file(a->corpus_receipts, "cose_receipt.cbor", cs_buf_slice(&r.cose));
    cs_receipt_cleanup(&r);
    cs_buf_cleanup(&json);
}

static void write_corpus_entries(const gen_args *a, const lfx_ledger *l)
{
    /* seqno 1 (claims, private), 3 (no private), K + 1 (signature) */
    uint64_t pick[] = {1, 2, 3, a->sig_every + 1};
    for (size_t i = 0; i < CS_ARRAY_LEN(pick); i++) {
        if (pick[i] > l->count)
            continue;
        char name[64];
        snprintf(name, sizeof name, "entry_%llu.bin", (unsigned long long)pick[i]);
        write_file(a->corpus_entries, name, cs_buf_slice(&l->entries[pick[i] - 1]));
    }
}

/* K transactions and a signature entry, K more and a signature entry whose
 * terms digest claims a term change at seqno 2, then the rest. */
static void generate_wrong_terms(const gen_args *a, lfx_ledger *l)
{
    size_t k = a->sig_every;
    lfx_generate(l, k, k, 0);
    lfx_generate(l, k, 0, 0);
    const cs_ledger_term_run claimed[] = {{1, 1}, {2, 2}};
    uint8_t wrong[CS_LEDGER_DIGEST_LEN];
    LFX_OK(cs_ledger_terms_digest(claimed, 2, l->count, wrong));
    lfx_add_forged_sig_terms(l, l->id->node_key, l->id->node_cert, l->id->node_id, wrong);
    char seqno[32];
    snprintf(seqno, sizeof seqno, "%zu\n", l->count);
    write_file(a->out, "wrong_terms_seqno", cs_slice_str(seqno));
    if (a->entries > 2 * k)
        lfx_generate(l, a->entries - 2 * k, k, 0);
}

static void generate(const gen_args *a)
{
    char ledger_dir[4096];
    LFX_OK(cs_mkdir_p(a->out, 0755));
    LFX_OK(cs_path_join(ledger_dir, sizeof ledger_dir, a->out, "ledger"));
    lfx_identity id, other;
    lfx_identity_init(&id);
    lfx_identity_init(&other);
    if (a->secret_hex != NULL)
        LFX_OK(cs_hex_decode(a->secret_hex, id.secret, sizeof id.secret));
    write_pem(a->out, "service_cert.pem", id.service_cert);
    write_pem(a->out, "other_service_cert.pem", other.service_cert);
    write_file(a->out, "node_id", cs_slice_str(id.node_id));

    lfx_ledger l;
    lfx_ledger_init(&l, &id, ledger_dir, a->chunk_size, NULL);
    if (a->wrong_terms)
        generate_wrong_terms(a, &l);
    else
        lfx_generate(&l, a->entries, a->sig_every, 0);
    lfx_generate(&l, 2, 0, 0);
    LFX_OK(cs_ledger_writer_sync(l.w));
    uint64_t last_sig = 0;
    for (uint64_t s = 1; s <= l.count; s++)
        if (l.entries[s - 1].ptr[5] == CS_LEDGER_KIND_SIGNATURE)
            last_sig = s;
    if (last_sig > 1) {
        write_receipt(a, &l, 1);
        write_receipt(a, &l, a->sig_every);
        if (a->sig_every + 1 < last_sig)
            write_receipt(a, &l, a->sig_every + 1);
        write_receipt(a, &l, last_sig - 1);
    }
    if (a->corpus_entries != NULL)
        write_corpus_entries(a, &l);
    if (a->corpus_receipts != NULL && last_sig > 1)
        write_raw_cose(a, &l, 1);

    lfx_ledger o;
    lfx_ledger_init(&o, &other, NULL, 0, NULL);
    lfx_generate(&o, 3, 3, 0);
    cs_buf json;
    lfx_receipt(&o, 2, &json);
    write_file(a->out, "other_receipt.json", cs_buf_slice(&json));
    cs_buf_cleanup(&json);

    lfx_ledger_cleanup(&o);
    lfx_ledger_cleanup(&l);
    lfx_identity_cleanup(&other);
    lfx_identity_cleanup(&id);
}

static size_t number(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v == 0) {
        fprintf(stderr, "gen_ledger: bad number %s\n", s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    gen_args a = {.entries = 40, .sig_every = 5, .chunk_size = 4096};
    static const struct option opts[] = {
        {"entries", required_argument, NULL, 'n'},
        {"sig-every", required_argument, NULL, 'k'},
        {"chunk-size", required_argument, NULL, 'c'},
        {"corpus-entries", required_argument, NULL, 'e'},
        {"corpus-receipts", required_argument, NULL, 'r'},
        {"secret", required_argument, NULL, 's'},
        {"wrong-terms", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'n':
            a.entries = number(optarg);
            break;
        case 'k':
            a.sig_every = number(optarg);
            break;
        case 'c':
            a.chunk_size = number(optarg);
            break;
        case 'e':
            a.corpus_entries = optarg;
            break;
        case 'r':
            a.corpus_receipts = optarg;
            break;
        case 's':
            a.secret_hex = optarg;
            break;
        case 'w':
            a.wrong_terms = true;
            break;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: gen_ledger OUT [--entries N] [--sig-every K] [--chunk-size B] "
                        "[--corpus-entries DIR] [--corpus-receipts DIR] [--secret HEX] "
                        "[--wrong-terms]\n");
        return 2;
    }
    a.out = argv[optind];
    generate(&a);
    return 0;
}
