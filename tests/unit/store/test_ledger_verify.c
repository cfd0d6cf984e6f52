/*
 * The offline verifier against a tampering host (DESIGN.md "What the host
 * may do"): flipped bytes at many positions of every chunk, truncated,
 * reordered, removed and renamed chunks, reordered entries, forged
 * signatures, a node of another service, the wrong pinned certificate, a
 * signed terms digest that is not the entries' terms. Each must fail with
 * the first bad entry named (file, offset, seqno). The unsigned tail after
 * the last signature entry is counted, not trusted.
 */
#include "testutil.h"
#include "store/ledger_writer.h"

#include "ledger_fixture.h"
#include "ledger_flip_oracle.h"

#include "base/file.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

typedef struct verify_fx {
    lfx_identity id;
    lfx_ledger l;
    char dir[64];
    int64_t now;
} verify_fx;

/* 46 transactions, a signature entry after every 6th, chunks of about 3 KB:
 * several committed chunks, and an .open chunk with a signature entry and
 * 4 unsigned transactions after it. */
static int setup(void **state)
{
    verify_fx *f = calloc(1, sizeof *f);
    lfx_identity_init(&f->id);
    lfx_tmpdir(f->dir);
    lfx_ledger_init(&f->l, &f->id, f->dir, 3000, NULL);
    lfx_generate(&f->l, 46, 6, 15);
    cst_ok(cs_ledger_writer_sync(f->l.w));
    f->now = (int64_t)time(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    verify_fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_identity_cleanup(&f->id);
    free(f);
    return 0;
}

static consort_err verify(verify_fx *f, cs_ledger_verify_report *rep)
{
    return cs_ledger_verify(f->dir, f->id.service_cert, f->now, rep);
}

/* Fails with `code`, naming `file` and `seqno` in the report and message. */
static void expect_bad(verify_fx *f, consort_err code, const char *file, uint64_t seqno)
{
    cs_ledger_verify_report rep;
    consort_err rc = verify(f, &rep);
    if (rc != code)
        fail_msg("verify gave %s, expected %s (%s)", consort_err_name(rc), consort_err_name(code),
                 consort_errmsg());
    assert_string_equal(rep.file, file);
    assert_int_equal(rep.seqno, seqno);
    char want[128];
    snprintf(want, sizeof want, "%s offset %" PRIu64 " seqno %" PRIu64, file, rep.offset, seqno);
    if (strstr(consort_errmsg(), want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), want);
}

static char *path_of(const verify_fx *f, const char *name, char out[256])
{
    snprintf(out, 256, "%s/%s", f->dir, name);
    return out;
}

static cs_ledger_chunk *chunks(const verify_fx *f, size_t *n)
{
    cs_ledger_chunk *c;
    cst_ok(cs_ledger_chunks_list(f->dir, &c, n));
    return c;
}

static void genuine_ledger_verifies(void **state)
{
    verify_fx *f = *state;
    cs_ledger_verify_report rep;
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.entries, 46 + 7);
    assert_int_equal(rep.signatures, 7);
    assert_int_equal(rep.last_seqno, 53);
    assert_int_equal(rep.last_signed_seqno, 49);
    assert_int_equal(rep.unsigned_entries, 4);
    assert_int_equal(rep.torn_bytes, 0);
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    assert_true(n >= 3);
    assert_int_equal(rep.chunks, n);
    assert_false(c[n - 1].committed);
    assert_true(c[n - 1].first < 49); /* the .open chunk holds a signature entry */
    cs_free(c);
    /* the wrong pinned certificate: the first signature entry fails */
    lfx_identity other;
    lfx_identity_init(&other);
    cst_fails(cs_ledger_verify(f->dir, other.service_cert, f->now, &rep),
              CONSORT_E_BAD_CERTIFICATE);
    assert_int_equal(rep.seqno, 7);
    lfx_identity_cleanup(&other);
}

/* The seqno of the first signature entry after `seqno` (0: none). */
static uint64_t next_sig(const verify_fx *f, uint64_t seqno)
{
    return lfx_sig_after(&f->l, seqno);
}

static const char *chunk_of(verify_fx *f, uint64_t seqno, char out[CS_LEDGER_NAME_MAX])
{
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (c[i].first <= seqno && (!c[i].committed || seqno <= c[i].last))
            snprintf(out, CS_LEDGER_NAME_MAX, "%s", c[i].name);
    cs_free(c);
    return out;
}

/* Writes one byte in place (no fsync: the verifier reads the page cache). */
static void poke(const char *path, size_t pos, uint8_t v)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &v, 1, (off_t)pos), 1);
    close(fd);
}

/*
 * Flips one bit at every 5th position of every chunk; each flip must be
 * reported exactly as want_for_flip says: the entry (seqno, and the chunk
 * file that holds it), the error code, and the words naming the check.
 * Entries after the last signature entry are unsigned, so their bytes are
 * skipped.
 */
static void flipped_bytes_anywhere(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    size_t tried = 0, at_upto = 0, at_entry = 0;
    for (size_t i = 0; i < n; i++) {
        char path[256], want_file[CS_LEDGER_NAME_MAX];
        cs_buf bytes;
        cs_buf_init(&bytes, 0);
        cst_ok(cs_file_read(path_of(f, c[i].name, path), &bytes));
        /* frame starts, to find the entry of each position */
        uint64_t starts[64];
        size_t frames = 0;
        for (size_t off = 0; off < bytes.len; frames++) {
            starts[frames] = off;
            off += 4 + ((size_t)bytes.ptr[off] << 24 | (size_t)bytes.ptr[off + 1] << 16 |
                        (size_t)bytes.ptr[off + 2] << 8 | bytes.ptr[off + 3]);
        }
        size_t fr = 0;
        for (size_t pos = i % 5; pos < bytes.len; pos += 5) {
            while (fr + 1 < frames && starts[fr + 1] <= pos)
                fr++;
            uint64_t k = c[i].first + fr, upto = next_sig(f, k);
            if (upto == 0)
                continue; /* unsigned */
            uint8_t mask = (uint8_t)(1u << (pos % 8));
            bytes.ptr[pos] ^= mask;
            flip_want w = want_for_flip(&f->l, k, bytes.ptr + starts[fr], pos - starts[fr], upto);
            poke(path, pos, bytes.ptr[pos]);
            bytes.ptr[pos] ^= mask;
            cs_ledger_verify_report rep;
            consort_err rc = verify(f, &rep);
            if (!wanted_code(&w, rc) || rep.seqno != w.seqno ||
                strcmp(rep.file, chunk_of(f, w.seqno, want_file)) != 0 ||
                (w.why != NULL && strstr(consort_errmsg(), w.why) == NULL))
                fail_msg("flip at %s+%zu (entry %" PRIu64 " byte %zu): %s at %s seqno %" PRIu64
                         ", expected %s at seqno %" PRIu64 " (%s) saying \"%s\"",
                         c[i].name, pos, k, pos - starts[fr], consort_err_name(rc), rep.file,
                         rep.seqno, consort_err_name(w.codes[0]), w.seqno, consort_errmsg(),
                         w.why ? w.why : "");
            poke(path, pos, bytes.ptr[pos]);
            tried++;
            at_upto += w.seqno == upto && upto != k;
            at_entry += w.seqno == k;
        }
        cs_buf_cleanup(&bytes);
    }
    /* both kinds of catch were exercised, many times */
    assert_true(tried > 1000);
    assert_true(at_upto > 500 && at_entry > 500);
    cs_ledger_verify_report rep;
    cst_ok(verify(f, &rep));
    /* the last signature entry's own signed fields are checked too */
    char path[256];
    cs_buf bytes;
    cs_buf_init(&bytes, 0);
    cst_ok(cs_file_read(path_of(f, c[n - 1].name, path), &bytes));
    const cs_buf *last_sig = &f->l.entries[48];
    uint8_t *at = memmem(bytes.ptr, bytes.len, last_sig->ptr, last_sig->len);
    assert_non_null(at);
    uint8_t *root = memmem(at, last_sig->len, "\x64root\x58\x20", 7);
    assert_non_null(root);
    size_t pos = (size_t)(root + 7 - bytes.ptr);
    poke(path, pos, bytes.ptr[pos] ^ 0x80);
    expect_bad(f, CONSORT_E_BAD_PROOF, c[n - 1].name, 49);
    assert_non_null(strstr(consort_errmsg(), "signed root is not the root"));
    poke(path, pos, bytes.ptr[pos]);
    cs_buf_cleanup(&bytes);
    cs_free(c);
}

static void truncated_committed_chunk(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char path[256];
    struct stat st;
    path_of(f, c[1].name, path);
    assert_int_equal(stat(path, &st), 0);
    /* a few bytes off: a torn frame, which only an .open chunk may have */
    assert_int_equal(truncate(path, st.st_size - 3), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[1].name, c[1].last);
    assert_non_null(strstr(consort_errmsg(), "truncated frame"));
    /* exactly the last frame (its signature entry) off */
    uint64_t sig_len = f->l.entries[c[1].last - 1].len;
    assert_int_equal(truncate(path, st.st_size - (off_t)(4 + sig_len)), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[1].name, c[1].last - 1);
    assert_non_null(strstr(consort_errmsg(), "its name says"));
    cs_free(c);
}

static void reordered_chunk_files(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char a[256], b[256], t[256];
    path_of(f, c[0].name, a);
    path_of(f, c[1].name, b);
    path_of(f, "swap", t);
    assert_int_equal(rename(a, t), 0);
    assert_int_equal(rename(b, a), 0);
    assert_int_equal(rename(t, b), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[0].name, 1);
    assert_non_null(strstr(consort_errmsg(), "entries missing, reordered"));
    cs_free(c);
}

static void reordered_entries(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char path[256];
    cs_buf bytes, out;
    cs_buf_init(&bytes, 0);
    cs_buf_init(&out, 0);
    cst_ok(cs_file_read(path_of(f, c[1].name, path), &bytes));
    /* swap the second and third frames */
    const cs_buf *e1 = &f->l.entries[c[1].first - 1];
    const cs_buf *e2 = &f->l.entries[c[1].first];
    const cs_buf *e3 = &f->l.entries[c[1].first + 1];
    size_t off2 = 4 + e1->len, off3 = off2 + 4 + e2->len, end = off3 + 4 + e3->len;
    cst_ok(cs_buf_append(&out, bytes.ptr, off2));
    cst_ok(cs_buf_append(&out, bytes.ptr + off3, end - off3));
    cst_ok(cs_buf_append(&out, bytes.ptr + off2, off3 - off2));
    cst_ok(cs_buf_append(&out, bytes.ptr + end, bytes.len - end));
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&out), 0600));
    expect_bad(f, CONSORT_E_CORRUPT, c[1].name, c[1].first + 1);
    cs_ledger_verify_report rep;
    cst_fails(verify(f, &rep), CONSORT_E_CORRUPT);
    assert_int_equal(rep.offset, off2);
    cs_buf_cleanup(&bytes);
    cs_buf_cleanup(&out);
    cs_free(c);
}

static void removed_middle_chunk(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char path[256];
    assert_int_equal(unlink(path_of(f, c[1].name, path)), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[2].name, c[1].first);
    assert_non_null(strstr(consort_errmsg(), "a chunk is missing"));
    cs_free(c);
}

static void removed_first_chunk(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char path[256];
    assert_int_equal(unlink(path_of(f, c[0].name, path)), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[1].name, c[1].first);
    assert_non_null(strstr(consort_errmsg(), "not 1"));
    cs_free(c);
}

static void renamed_chunks(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char from[256], to[256], name[96];
    /* a name that claims one more entry */
    snprintf(name, sizeof name, "ledger_%" PRIu64 "-%" PRIu64 ".committed", c[1].first,
             c[1].last + 1);
    assert_int_equal(rename(path_of(f, c[1].name, from), path_of(f, name, to)), 0);
    expect_bad(f, CONSORT_E_CORRUPT, name, c[1].last);
    assert_non_null(strstr(consort_errmsg(), "its name says"));
    /* a name that is no chunk name at all */
    snprintf(from, sizeof from, "%s", to);
    snprintf(name, sizeof name, "%s.bak", c[1].name);
    assert_int_equal(rename(from, path_of(f, name, to)), 0);
    cs_ledger_verify_report rep;
    cst_fails(verify(f, &rep), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), name));
    /* out of the ledger's names: a gap */
    snprintf(from, sizeof from, "%s", to);
    assert_int_equal(rename(from, path_of(f, "moved-away", to)), 0);
    expect_bad(f, CONSORT_E_CORRUPT, c[2].name, c[1].first);
    /* an open chunk in the middle */
    snprintf(name, sizeof name, "ledger_%" PRIu64 ".open", c[1].first);
    assert_int_equal(rename(to, path_of(f, name, from)), 0);
    cst_fails(verify(f, &rep), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "only the last chunk may be open"));
    cs_free(c);
}

/* Rebuilds the fixture ledger with signature entry `bad` replaced. */
static void rebuild_with(verify_fx *f, void (*add_bad)(verify_fx *, lfx_identity *))
{
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_tmpdir(f->dir);
    lfx_identity other;
    lfx_identity_init(&other);
    lfx_ledger_init(&f->l, &f->id, f->dir, 3000, NULL);
    lfx_generate(&f->l, 12, 6, 0); /* signatures at 7 and 14 */
    lfx_generate(&f->l, 5, 0, 0);  /* 15 .. 19 */
    add_bad(f, &other);            /* 20 */
    lfx_generate(&f->l, 12, 6, 0); /* signatures at 27 and 34 */
    cst_ok(cs_ledger_writer_sync(f->l.w));
    lfx_identity_cleanup(&other);
}

static void sig_by_other_key(verify_fx *f, lfx_identity *other)
{
    lfx_add_forged_sig(&f->l, other->node_key, f->id.node_cert, f->id.node_id);
}

static void sig_by_other_service(verify_fx *f, lfx_identity *other)
{
    cs_ledger_signer s = lfx_signer(other);
    lfx_add_sig_by(&f->l, &s);
}

static void sig_with_other_cert(verify_fx *f, lfx_identity *other)
{
    /* the genuine key signs, but the entry names another node of the service */
    cs_key *k;
    char id[17];
    cst_ok(cs_key_generate(CS_CURVE_P256, &k));
    cs_x509 *cert = lfx_node_cert(k, f->id.service_key, f->id.service_cert, id);
    lfx_add_forged_sig(&f->l, f->id.node_key, cert, id);
    cs_x509_free(cert);
    cs_key_free(k);
    (void)other;
}

static void forged_signatures(void **state)
{
    verify_fx *f = *state;
    char name[CS_LEDGER_NAME_MAX];
    rebuild_with(f, sig_by_other_key);
    expect_bad(f, CONSORT_E_BAD_SIGNATURE, chunk_of(f, 20, name), 20);
    rebuild_with(f, sig_by_other_service);
    expect_bad(f, CONSORT_E_BAD_CERTIFICATE, chunk_of(f, 20, name), 20);
    assert_non_null(strstr(consort_errmsg(), "does not chain to the service certificate"));
    rebuild_with(f, sig_with_other_cert);
    expect_bad(f, CONSORT_E_BAD_SIGNATURE, chunk_of(f, 20, name), 20);
}

static uint8_t wrong_terms[CS_LEDGER_DIGEST_LEN];

static void sig_with_wrong_terms(verify_fx *f, lfx_identity *other)
{
    /* genuinely signed by the node, but claiming a term change at 10 that
     * the entries' headers do not have (all of 1 .. 19 are term 1) */
    const cs_ledger_term_run claimed[] = {{1, 1}, {10, 2}};
    cst_ok(cs_ledger_terms_digest(claimed, 2, 19, wrong_terms));
    lfx_add_forged_sig_terms(&f->l, f->id.node_key, f->id.node_cert, f->id.node_id, wrong_terms);
    (void)other;
}

static void signed_terms_must_be_the_entries_terms(void **state)
{
    verify_fx *f = *state;
    char name[CS_LEDGER_NAME_MAX];
    rebuild_with(f, sig_with_wrong_terms);
    expect_bad(f, CONSORT_E_BAD_PROOF, chunk_of(f, 20, name), 20);
    assert_non_null(strstr(consort_errmsg(), "signed terms digest"));
    /* the entry itself is sound: it opens, parses and its signatures verify */
    cs_ledger_entry e;
    cs_ledger_sig s;
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[19]), &e));
    cst_ok(cs_ledger_entry_open(&e, &f->l.keys, &plain));
    cst_ok(cs_ledger_sig_parse(&e, &s));
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL));
    assert_memory_equal(s.terms.ptr, wrong_terms, 32);
    cs_buf_cleanup(&plain);
}

/* Term changes anywhere, including at a signature entry (whose own run
 * starts after the tree it signs) and right after one. */
static void term_runs_at_signature_entries(void **state)
{
    verify_fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_tmpdir(f->dir);
    lfx_ledger_init(&f->l, &f->id, f->dir, 3000, NULL);
    lfx_generate(&f->l, 5, 0, 0);
    f->l.term = 3;
    lfx_add_sig(&f->l); /* 6: the first entry of term 3 */
    f->l.term = 4;
    lfx_add_tx(&f->l, 10, 10, false); /* 7 */
    lfx_add_sig(&f->l);               /* 8 */
    f->l.term = 9;
    lfx_generate(&f->l, 3, 3, 0); /* 9 .. 11, signature 12 */
    cst_ok(cs_ledger_writer_sync(f->l.w));
    cs_ledger_verify_report rep;
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.signatures, 3);
    assert_int_equal(rep.unsigned_entries, 0);
}

/* Entries after the last signature entry are counted as unsigned: all of
 * them when there is no signature entry at all. */
static void unsigned_tail_is_counted(void **state)
{
    verify_fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_tmpdir(f->dir);
    lfx_ledger_init(&f->l, &f->id, f->dir, 1 << 20, NULL); /* one .open chunk */
    lfx_generate(&f->l, 9, 0, 0);
    cst_ok(cs_ledger_writer_sync(f->l.w));
    cs_ledger_verify_report rep;
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.entries, 9);
    assert_int_equal(rep.signatures, 0);
    assert_int_equal(rep.last_signed_seqno, 0);
    assert_int_equal(rep.unsigned_entries, 9);
    /* a signature, then 3 more */
    lfx_add_sig(&f->l);
    lfx_generate(&f->l, 3, 0, 0);
    cst_ok(cs_ledger_writer_sync(f->l.w));
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.last_signed_seqno, 10);
    assert_int_equal(rep.unsigned_entries, 3);
    /* an unsigned entry can be replaced by anything that decodes: the
     * offline check cannot tell (docs/ledger.md 6.1), only the count says
     * it is not covered */
    char path[256];
    cs_buf bytes;
    cs_buf_init(&bytes, 0);
    cst_ok(cs_file_read(path_of(f, "ledger_1.open", path), &bytes));
    bytes.ptr[bytes.len - 1] ^= 0x01; /* the tag of entry 13 */
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&bytes), 0600));
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.unsigned_entries, 3);
    cs_buf_cleanup(&bytes);
}

static void torn_tail_is_reported_not_fatal(void **state)
{
    verify_fx *f = *state;
    size_t n;
    cs_ledger_chunk *c = chunks(f, &n);
    char path[256];
    int fd = open(path_of(f, c[n - 1].name, path), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t frame[4 + 50];
    const cs_buf *e = &f->l.entries[0];
    frame[0] = (uint8_t)(e->len >> 24);
    frame[1] = (uint8_t)(e->len >> 16);
    frame[2] = (uint8_t)(e->len >> 8);
    frame[3] = (uint8_t)e->len;
    memcpy(frame + 4, e->ptr, 50);
    assert_int_equal(write(fd, frame, sizeof frame), (ssize_t)sizeof frame);
    close(fd);
    cs_ledger_verify_report rep;
    cst_ok(verify(f, &rep));
    assert_int_equal(rep.torn_bytes, sizeof frame);
    assert_int_equal(rep.unsigned_entries, 4);
    cs_free(c);
}

static void empty_or_missing_directory(void **state)
{
    verify_fx *f = *state;
    cs_ledger_verify_report rep;
    char empty[64];
    lfx_tmpdir(empty);
    cst_fails(cs_ledger_verify(empty, f->id.service_cert, f->now, &rep), CONSORT_E_NOT_FOUND);
    lfx_rmtree(empty);
    cst_fails(cs_ledger_verify("/nonexistent/ledger", f->id.service_cert, f->now, &rep),
              CONSORT_E_NOT_FOUND);
}

/* A recovered service's ledger: signatures up to 14 by service a's node, then
 * by service b's (docs/recovery.md). It verifies through both identities,
 * with each only for its own range, and not against either alone. */
static void identities_of_a_recovered_ledger(void **state)
{
    verify_fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_tmpdir(f->dir);
    lfx_identity b;
    lfx_identity_init(&b);
    lfx_ledger_init(&f->l, &f->id, f->dir, 3000, NULL);
    lfx_generate(&f->l, 12, 6, 0); /* signatures at 7 and 14, by a */
    f->l.term = 5;
    cs_ledger_signer sb = lfx_signer(&b);
    for (int i = 0; i < 3; i++)
        lfx_add_tx(&f->l, 40, 0, false);
    lfx_add_sig_by(&f->l, &sb); /* 18, by b */
    cst_ok(cs_ledger_writer_sync(f->l.w));
    cs_ledger_verify_report rep;
    const cs_ledger_identity ids[2] = {{f->id.service_cert, 14}, {b.service_cert, 0}};
    cst_ok(cs_ledger_verify_ids(f->dir, ids, 2, f->now, &rep));
    assert_int_equal(rep.last_signed_seqno, 18);
    assert_int_equal(rep.signatures, 3);
    assert_ptr_equal(cs_ledger_identity_for(ids, 2, 14), f->id.service_cert);
    assert_ptr_equal(cs_ledger_identity_for(ids, 2, 15), b.service_cert);
    /* a's range ending one signature too early: 14 must chain to b, and does not */
    const cs_ledger_identity early[2] = {{f->id.service_cert, 13}, {b.service_cert, 0}};
    cst_fails(cs_ledger_verify_ids(f->dir, early, 2, f->now, &rep), CONSORT_E_BAD_CERTIFICATE);
    assert_int_equal(rep.seqno, 14);
    /* a's range too long: 18 must chain to a */
    const cs_ledger_identity late[2] = {{f->id.service_cert, 18}, {b.service_cert, 0}};
    cst_fails(cs_ledger_verify_ids(f->dir, late, 2, f->now, &rep), CONSORT_E_BAD_CERTIFICATE);
    assert_int_equal(rep.seqno, 18);
    /* no identity left for a seqno */
    cst_fails(cs_ledger_verify_ids(f->dir, ids, 1, f->now, &rep), CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "no service identity"));
    cst_fails(cs_ledger_verify(f->dir, b.service_cert, f->now, &rep), CONSORT_E_BAD_CERTIFICATE);
    assert_int_equal(rep.seqno, 7);
    lfx_identity_cleanup(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(genuine_ledger_verifies),
        T(flipped_bytes_anywhere),
        T(truncated_committed_chunk),
        T(reordered_chunk_files),
        T(reordered_entries),
        T(removed_middle_chunk),
        T(removed_first_chunk),
        T(renamed_chunks),
        T(forged_signatures),
        T(signed_terms_must_be_the_entries_terms),
        T(term_runs_at_signature_entries),
        T(unsigned_tail_is_counted),
        T(torn_tail_is_reported_not_fatal),
        T(empty_or_missing_directory),
        T(identities_of_a_recovered_ledger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
