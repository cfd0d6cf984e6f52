/*
 * `consort ledger show`: the auditor's reader. The public part of every entry
 * of a ledger directory, one transaction at a time, as text or JSON lines
 * (docs/ledger.md "7. Reading a ledger"). It trusts nothing in the directory
 * and needs no secret: the ledger reader's structural checks stop it at the
 * first malformed entry, public write sets are decoded strictly
 * (cs_kv_ws_visit), private write sets stay what they are in the ledger,
 * ciphertext, shown as their size and digest.
 */
#include "cli.h"
#include "cli_opts.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "crypto/b64.h"
#include "crypto/hash.h"
#include "store/kv.h"
#include "store/ledger.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Characters of a key or value the text form prints before it cuts. */
#define TEXT_SHOWN 160
/* Maps whose writes make a transaction a governance transaction. */
#define GOV_PREFIX "public:consort.gov."

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_ledger_show = {
    .name = "ledger show",
    .summary = "print the public entries of a ledger directory",
    .usage = "usage: consort ledger show DIR [--from TX] [--to TX] [--table NAME] [--json]\n"
             "\n"
             "Prints the entries of the ledger directory DIR in seqno order, one\n"
             "transaction at a time: its txid (term.seqno), its kind (transaction,\n"
             "signature, internal), and its public writes decoded: the table (a\n"
             "\"public:\" map), key and value, as text when they are printable UTF-8,\n"
             "else base64; a removal has no value. Private writes are encrypted in the\n"
             "ledger: they appear as the size and SHA-256 of their ciphertext only, never\n"
             "as plaintext. Signature entries are marked, with the node that signed and\n"
             "the tree they sign; a transaction that writes a governance map\n"
             "(public:consort.gov.*) is marked as governance.\n"
             "\n"
             "It reads the files with the structural checks of `consort ledger verify`\n"
             "(frames, entries, seqnos, terms, chunk names) and stops with exit status 1\n"
             "at the first malformed entry, naming file, offset and seqno; it does not\n"
             "check signatures (that is `consort ledger verify`).\n"
             "\n"
             "options:\n"
             "  --from TX      the first entry to print: a seqno (15) or a txid (2.15,\n"
             "                 whose seqno counts); default 1\n"
             "  --to TX        the last entry to print (inclusive); default the last\n"
             "  --table NAME   only entries that write the public map NAME (e.g.\n"
             "                 public:records, public:consort.gov.proposals), and of\n"
             "                 them only those writes\n"
             "  --json         one JSON object per line: {\"txid\", \"seqno\", \"term\",\n"
             "                 \"kind\", \"governance\", \"write_set_digest\", \"writes\":\n"
             "                 [{\"table\", \"key\" | \"key_base64\", \"value\" |\n"
             "                 \"value_base64\" (null: removed)}], \"private\": {\"bytes\",\n"
             "                 \"sha256\"} or null, \"claims_digest\" if not zero,\n"
             "                 \"signature\": {\"node_id\", \"tree_size\", \"root\"} for a\n"
             "                 signature entry}\n"
             "\n"
             "Exit status 0 when every entry in range was read; 1 for a malformed\n"
             "ledger; 2 for a usage error.\n"
             "\n"
             "example:\n"
             "  consort ledger show node0/data/ledger --table public:records --from 10\n",
    .run = run,
};

enum { OPT_FROM = 1, OPT_TO, OPT_TABLE, OPT_JSON };

static const struct option options[] = {
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"table", required_argument, NULL, OPT_TABLE},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

typedef struct show_args {
    const char *dir;
    uint64_t from, to; /* inclusive */
    const char *table; /* NULL: every table */
    bool json;
} show_args;

/* ---- text that can be printed as it is ---- */

/* Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without control characters other than line feed, carriage return and tab. */
static bool printable(cs_slice s)
{
    for (size_t i = 0; i < s.len;) {
        uint8_t c = s.ptr[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
        if (n == 0 || c > 0xf4 || s.len - i <= n)
            return false;
        uint32_t cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s.ptr[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s.ptr[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0x80 && cp < 0xa0))
            return false;
        i += n + 1;
    }
    return true;
}

/* Sets obj[name] to the text of `s`, or obj[name "_base64"] to its base64. */
static consort_err set_bytes(json_t *obj, const char *name, cs_slice s)
{
    json_t *v = NULL;
    char b64name[32];
    const char *key = name;
    if (printable(s)) {
        v = json_stringn((const char *)s.ptr, s.len);
    } else {
        cs_buf b;
        cs_buf_init(&b, CS_LEDGER_WS_MAX * 2);
        consort_err rc = cs_b64_encode(s, &b);
        if (rc != CONSORT_OK) {
            cs_buf_cleanup(&b);
            return rc;
        }
        v = json_stringn((const char *)b.ptr, b.len);
        cs_buf_cleanup(&b);
        snprintf(b64name, sizeof b64name, "%s_base64", name);
        key = b64name;
    }
    CS_ENSURE(v != NULL && json_object_set_new(obj, key, v) == 0, CONSORT_E_NOMEM, "out of memory");
    return CONSORT_OK;
}

static json_t *hex_string(const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    if (n > 64)
        n = 64;
    cs_hex_encode(CS_SLICE(p, n), hex);
    hex[2 * n] = '\0';
    return json_string(hex);
}

/* ---- one entry as a JSON object ---- */

typedef struct visit_ctx {
    const show_args *a;
    json_t *writes;
    bool governance;
} visit_ctx;

static consort_err on_write(void *ctx, cs_slice map, cs_slice key, const cs_slice *value)
{
    visit_ctx *v = ctx;
    if (map.len > strlen(GOV_PREFIX) && memcmp(map.ptr, GOV_PREFIX, strlen(GOV_PREFIX)) == 0)
        v->governance = true;
    if (v->a->table != NULL && !cs_slice_eq(map, cs_slice_str(v->a->table)))
        return CONSORT_OK;
    json_t *w = json_object();
    CS_ENSURE(w != NULL && json_array_append_new(v->writes, w) == 0, CONSORT_E_NOMEM,
              "out of memory");
    json_t *t = json_stringn((const char *)map.ptr, map.len);
    CS_ENSURE(t != NULL && json_object_set_new(w, "table", t) == 0, CONSORT_E_NOMEM,
              "out of memory");
    CS_TRY(set_bytes(w, "key", key));
    if (value == NULL)
        CS_ENSURE(json_object_set_new(w, "value", json_null()) == 0, CONSORT_E_NOMEM,
                  "out of memory");
    else
        CS_TRY(set_bytes(w, "value", *value));
    return CONSORT_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* The entry as JSON into *out; NULL (and OK) when --table leaves nothing of it. */
static consort_err describe(const show_args *a, const cs_ledger_entry *e, json_t **out)
{
    *out = NULL;
    char txid[CS_LEDGER_TXID_MAX];
    cs_ledger_txid_format(e->term, e->seqno, txid);
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(e->raw, digest);
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:s, s:b, s:o}", "txid", txid, "seqno", (json_int_t)e->seqno,
                  "term", (json_int_t)e->term, "kind", cs_ledger_kind_name(e->kind), "governance",
                  0, "write_set_digest", hex_string(digest, sizeof digest));
    CS_ENSURE(o != NULL, CONSORT_E_NOMEM, "out of memory");
    consort_err rc = CONSORT_OK;
    visit_ctx v = {.a = a, .writes = json_array()};
    if (v.writes == NULL || json_object_set_new(o, "writes", v.writes) != 0)
        rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
    bool keep = a->table == NULL;
    if (rc == CONSORT_OK && e->kind == CS_LEDGER_KIND_SIGNATURE) {
        cs_ledger_sig s;
        rc = cs_ledger_sig_parse(e, &s);
        if (rc == CONSORT_OK) {
            json_t *sig = json_pack("{s:s%, s:I, s:o}", "node_id", (const char *)s.node_id.ptr,
                                    s.node_id.len, "tree_size", (json_int_t)s.tree_size, "root",
                                    hex_string(s.root.ptr, s.root.len));
            if (sig == NULL || json_object_set_new(o, "signature", sig) != 0)
                rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
        }
        keep = keep || strcmp(a->table, CS_LEDGER_SIG_MAP) == 0;
    } else if (rc == CONSORT_OK) {
        rc = cs_kv_ws_visit(e->public_ws, true, NULL, on_write, &v);
        keep = keep || json_array_size(v.writes) > 0;
    }
    if (rc == CONSORT_OK && v.governance)
        (void)json_object_set_new(o, "governance", json_true());
    if (rc == CONSORT_OK) {
        uint8_t ct[CS_SHA256_LEN];
        cs_sha256(e->ciphertext, ct);
        json_t *priv = e->ciphertext.len == 0
                           ? json_null()
                           : json_pack("{s:I, s:o}", "bytes", (json_int_t)e->ciphertext.len,
                                       "sha256", hex_string(ct, sizeof ct));
        if (priv == NULL || json_object_set_new(o, "private", priv) != 0)
            rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
    }
    if (rc == CONSORT_OK && !all_zero(e->claims_digest, CS_LEDGER_DIGEST_LEN) &&
        json_object_set_new(o, "claims_digest",
                            hex_string(e->claims_digest, CS_LEDGER_DIGEST_LEN)) != 0)
        rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
    if (rc != CONSORT_OK || !keep) {
        json_decref(o);
        return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "the public write set");
    }
    *out = o;
    return CONSORT_OK;
}

/* ---- printing ---- */

/* One key or value of the text form, cut at TEXT_SHOWN characters. */
static void print_bytes(const json_t *w, const char *name)
{
    char b64name[32];
    snprintf(b64name, sizeof b64name, "%s_base64", name);
    const json_t *t = json_object_get(w, name);
    const json_t *b = json_object_get(w, b64name);
    const char *s = json_string_value(t != NULL ? t : b);
    if (s == NULL) {
        printf("(removed)");
        return;
    }
    size_t len = json_string_length(t != NULL ? t : b);
    printf("%s%s\"", name, b != NULL ? " (base64) " : " ");
    for (size_t i = 0; i < len && i < TEXT_SHOWN; i++) /* one line per write */
        if (s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
            printf("\\%c", s[i] == '\n' ? 'n' : s[i] == '\t' ? 't' : 'r');
        else
            putchar(s[i]);
    printf("\"%s", len > TEXT_SHOWN ? "..." : "");
    if (len > TEXT_SHOWN)
        printf(" (%zu characters)", len);
}

static void print_text(const json_t *o)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const json_t *sig = json_object_get(o, "signature");
    printf("%-10s %s%s\n", json_string_value(json_object_get(o, "txid")),
           sig != NULL ? "SIGNATURE" : kind,
           json_is_true(json_object_get(o, "governance")) ? " [governance]" : "");
    if (sig != NULL)
        printf("    signed by node %s: the Merkle root %.16s... of entries 1..%" JSON_INTEGER_FORMAT
               "\n",
               json_string_value(json_object_get(sig, "node_id")),
               json_string_value(json_object_get(sig, "root")),
               json_integer_value(json_object_get(sig, "tree_size")));
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(o, "writes"), i, w)
    {
        printf("    %s  ", json_string_value(json_object_get(w, "table")));
        print_bytes(w, "key");
        printf("  ");
        if (json_is_null(json_object_get(w, "value")))
            printf("(removed)");
        else
            print_bytes(w, "value");
        printf("\n");
    }
    const json_t *priv = json_object_get(o, "private");
    if (json_is_object(priv))
        printf("    private writes: %" JSON_INTEGER_FORMAT
               " bytes, encrypted (ciphertext sha256 %.16s...)\n",
               json_integer_value(json_object_get(priv, "bytes")),
               json_string_value(json_object_get(priv, "sha256")));
}

static int show(const show_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_ledger_show;
    cs_ledger_chunk *chunks = NULL;
    size_t nchunks = 0;
    consort_err rc = cs_ledger_chunks_list(a->dir, &chunks, &nchunks);
    cs_free(chunks);
    if (rc == CONSORT_OK && nchunks == 0)
        rc = cs_fail(CONSORT_E_NOT_FOUND, "%s: no ledger chunk files (ledger_*) in it", a->dir);
    cs_ledger_reader *r = NULL;
    if (rc == CONSORT_OK)
        rc = cs_ledger_reader_open(a->dir, &r);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, cs_err_context(rc, "ledger directory %s", a->dir));
    uint64_t read = 0, shown = 0, last = 0;
    bool whole = true; /* read to the end of the ledger */
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        rc = cs_ledger_reader_next(r, &rec, &done);
        if (rc != CONSORT_OK || done)
            break;
        read++;
        last = rec.entry.seqno;
        if (rec.entry.seqno < a->from)
            continue;
        if (rec.entry.seqno > a->to) {
            whole = false;
            break;
        }
        json_t *o = NULL;
        rc = describe(a, &rec.entry, &o);
        if (rc != CONSORT_OK) {
            rc = cs_err_context(rc, "%s offset %" PRIu64 " seqno %" PRIu64, rec.file, rec.offset,
                                rec.entry.seqno);
            break;
        }
        if (o == NULL)
            continue;
        shown++;
        if (a->json) {
            char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line == NULL) {
                json_decref(o);
                rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
                break;
            }
            printf("%s\n", line);
            free(line);
        } else {
            print_text(o);
        }
        json_decref(o);
    }
    uint64_t torn_offset = 0, torn = cs_ledger_reader_torn_bytes(r, &torn_offset);
    cs_ledger_reader_free(r);
    if (rc != CONSORT_OK) {
        fflush(stdout);
        return cs_cli_fail(verb, rc);
    }
    if (a->from > last && read > 0)
        fprintf(stderr,
                "consort ledger show: the ledger ends at seqno %" PRIu64 ", before --from\n", last);
    if (!a->json) {
        printf("(%" PRIu64 " entr%s shown", shown, shown == 1 ? "y" : "ies");
        if (whole)
            printf("; the ledger ends at seqno %" PRIu64, last);
        printf("%s)\n",
               a->table != NULL ? "; of each, only its writes to the table asked for" : "");
        if (torn > 0)
            printf("(the .open chunk ends with a torn frame of %" PRIu64 " bytes at offset %" PRIu64
                   ": a crash mid-write, not shown)\n",
                   torn, torn_offset);
    }
    return CS_EXIT_OK;
}

/* A seqno, or a txid whose seqno counts. */
static bool parse_position(const char *opt, const char *s, uint64_t *out)
{
    uint64_t term = 0;
    if (strchr(s, '.') != NULL)
        return cs_ledger_txid_parse(cs_slice_str(s), &term, out) == CONSORT_OK;
    char *end = NULL;
    if (s[0] < '1' || s[0] > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    (void)opt;
    if (*end != '\0' || v == 0 || v == ULLONG_MAX)
        return false;
    *out = (uint64_t)v;
    return true;
}

static int parse(int argc, char **argv, show_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_ledger_show;
    a->from = 1;
    a->to = UINT64_MAX;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_FROM || c == OPT_TO) {
            const char *name = c == OPT_FROM ? "--from" : "--to";
            if (!parse_position(name, arg, c == OPT_FROM ? &a->from : &a->to))
                return cs_cli_usage_error(verb, "%s '%s': expected a seqno (15) or a txid (2.15)",
                                          name, arg);
        } else if (c == OPT_TABLE) {
            if (strncmp(arg, "public:", 7) != 0 || arg[7] == '\0')
                return cs_cli_usage_error(
                    verb,
                    "--table '%s': only public maps (public:NAME) are in clear in the "
                    "ledger; private ones are encrypted and their names are not visible",
                    arg);
            a->table = arg;
        } else if (c == OPT_JSON) {
            a->json = true;
        } else {
            return CS_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cs_cli_usage_error(verb, "the ledger directory DIR is missing");
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->dir = argv[optind];
    if (a->from > a->to)
        return cs_cli_usage_error(
            verb, "--from (seqno %" PRIu64 ") is after --to (seqno %" PRIu64 ")", a->from, a->to);
    return CS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    show_args a = {0};
    int code = parse(argc, argv, &a);
    return code == CS_EXIT_OK ? show(&a) : code;
}
