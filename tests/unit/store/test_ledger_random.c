/*
 * Property test over random ledgers (up to a few thousand entries, random
 * signature intervals, terms and chunk sizes): the writer's files read back
 * exactly, the verifier accepts them with the right counts, receipts for
 * random entries verify, a random flipped byte in the signed part is named
 * exactly as ledger_flip_oracle.h says (entry, error, words), and a random rollback
 * leaves a ledger that still verifies. The seed is printed; set
 * CONSORT_TEST_SEED to replay one.
 */
#include "testutil.h"
#include "store/ledger_writer.h"

#include "ledger_fixture.h"
#include "ledger_flip_oracle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_between(uint64_t lo, uint64_t hi)
{
    return lo + rnd() % (hi - lo + 1);
}

/* The chunk holding `seqno`, and the offset of its frame. */
static void locate(const char *dir, uint64_t seqno, char name[CS_LEDGER_NAME_MAX], uint64_t *off)
{
    cs_ledger_reader *r;
    cst_ok(cs_ledger_reader_open(dir, &r));
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(r, &rec, &done));
        assert_false(done);
        if (rec.entry.seqno == seqno) {
            snprintf(name, CS_LEDGER_NAME_MAX, "%s", rec.file);
            *off = rec.offset;
            break;
        }
    }
    cs_ledger_reader_free(r);
}

static void flip(const char *dir, const char *name, uint64_t pos, uint8_t mask)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)pos), 1);
    b ^= mask;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)pos), 1);
    close(fd);
}

static void one_round(const lfx_identity *id, int64_t now, size_t round)
{
    size_t n = round == 0 ? 1 : round == 1 ? 3000 : (size_t)rnd_between(1, 2500);
    size_t k = (size_t)rnd_between(1, n < 120 ? n : 120);
    size_t term_every = (size_t)rnd_between(0, 400);
    size_t chunk = (size_t)rnd_between(4096, 256 * 1024);
    char dir[64];
    lfx_tmpdir(dir);
    lfx_ledger l;
    lfx_ledger_init(&l, id, dir, chunk, NULL);
    lfx_generate(&l, n, k, term_every);
    cst_ok(cs_ledger_writer_sync(l.w));

    uint64_t sigs = n / k, last_signed = sigs * (k + 1);
    cs_ledger_verify_report rep;
    consort_err rc = cs_ledger_verify(dir, id->service_cert, now, &rep);
    if (rc != CONSORT_OK)
        fail_msg("round %zu (n %zu, k %zu, chunk %zu): %s", round, n, k, chunk, consort_errmsg());
    assert_int_equal(rep.entries, n + sigs);
    assert_int_equal(rep.signatures, sigs);
    assert_int_equal(rep.last_signed_seqno, last_signed);
    assert_int_equal(rep.unsigned_entries, n + sigs - last_signed);

    /* receipts for random covered entries */
    for (int i = 0; i < 8 && last_signed > 1; i++) {
        uint64_t s = rnd_between(1, last_signed - 1);
        cs_buf json;
        lfx_receipt(&l, s, &json);
        cs_receipt_verify_opts o = {.now = now};
        cst_ok(cs_receipt_verify_json(cs_buf_slice(&json), id->service_cert, &o));
        cs_buf_cleanup(&json);
    }

    /* a flipped byte in a signed entry is caught by the covering signature */
    for (int i = 0; i < 3 && last_signed > 1; i++) {
        uint64_t s = rnd_between(1, last_signed - 1), off;
        uint64_t upto = lfx_sig_after(&l, s);
        char name[CS_LEDGER_NAME_MAX];
        locate(dir, s, name, &off);
        uint64_t pos = off + rnd_between(0, 4 + l.entries[s - 1].len - 1);
        uint8_t mask = (uint8_t)(1u << rnd_between(0, 7));
        /* the frame as the flip leaves it, for the oracle */
        cs_buf frame;
        cs_buf_init(&frame, 0);
        cst_ok(cs_buf_append_be32(&frame, (uint32_t)l.entries[s - 1].len));
        cst_ok(cs_buf_append_slice(&frame, cs_buf_slice(&l.entries[s - 1])));
        frame.ptr[pos - off] ^= mask;
        flip_want w = want_for_flip(&l, s, frame.ptr, (size_t)(pos - off), upto);
        cs_buf_cleanup(&frame);
        char want_file[CS_LEDGER_NAME_MAX];
        uint64_t want_off;
        locate(dir, w.seqno, want_file, &want_off);
        flip(dir, name, pos, mask);
        rc = cs_ledger_verify(dir, id->service_cert, now, &rep);
        if (!wanted_code(&w, rc) || rep.seqno != w.seqno || strcmp(rep.file, want_file) != 0 ||
            (w.why != NULL && strstr(consort_errmsg(), w.why) == NULL))
            fail_msg(
                "round %zu: flip in entry %" PRIu64 " at %s+%" PRIu64 ": %s at %s seqno %" PRIu64
                " (%s), expected %s at %s seqno %" PRIu64 " saying \"%s\"",
                round, s, name, pos, consort_err_name(rc), rep.file, rep.seqno, consort_errmsg(),
                consort_err_name(w.codes[0]), want_file, w.seqno, w.why ? w.why : "");
        flip(dir, name, pos, mask);
    }

    /* rollback to a random seqno: still a valid ledger */
    uint64_t to = rnd_between(1, l.count);
    cst_ok(cs_ledger_writer_truncate(l.w, to));
    cst_ok(cs_ledger_writer_sync(l.w));
    rc = cs_ledger_verify(dir, id->service_cert, now, &rep);
    if (rc != CONSORT_OK)
        fail_msg("round %zu: after truncation to %" PRIu64 ": %s", round, to, consort_errmsg());
    assert_int_equal(rep.last_seqno, to);
    assert_true(rep.last_signed_seqno <= to);

    lfx_ledger_cleanup(&l);
    lfx_rmtree(dir);
}

static void random_ledgers(void **state)
{
    (void)state;
    const char *seed = getenv("CONSORT_TEST_SEED");
    rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL);
    print_message("seed %" PRIu64 " (CONSORT_TEST_SEED replays it)\n", rng_state);
    lfx_identity id;
    lfx_identity_init(&id);
    int64_t now = (int64_t)time(NULL);
    for (size_t round = 0; round < 8; round++)
        one_round(&id, now, round);
    lfx_identity_cleanup(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_ledgers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
