/*
 * Migration of a sealed store (sealing/migrate.h, docs/migration.md §5)
 * between two instances with their own directories and file anchors, with
 * a fake attestation (evidence = code id || SHA-256(key SPKI || nonce)):
 * the happy path; a crash injected before every durable step of both sides,
 * then the protocol run again from disk, ends with exactly one LIVE
 * instance holding the latest counters; a rolled-back source is refused;
 * an inadmissible destination does not freeze the source; a second
 * destination's confirm after retirement is refused; FROZEN refuses
 * application calls.
 */
#include "sealing_test.h"

#include "crypto/hash.h"
#include "crypto/rand.h"
#include "sealing/migrate.h"

/* ---- fake attestation ---- */

static consort_err fake_digest(const cs_key *key, cs_slice nonce, uint8_t out[32])
{
    cs_buf spki;
    cs_buf_init(&spki, 0);
    consort_err rc = cs_key_spki_der(key, &spki);
    const cs_slice parts[] = {cs_buf_slice(&spki), nonce};
    cs_sha256_parts(parts, 2, out);
    cs_buf_cleanup(&spki);
    return rc;
}

static consort_err fake_attest(void *ctx, const cs_key *key, cs_slice nonce, cs_buf *out)
{
    uint8_t d[32];
    CS_TRY(fake_digest(key, nonce, d));
    CS_TRY(cs_buf_append(out, ctx, 32));
    return cs_buf_append(out, d, 32);
}

static consort_err fake_verify(void *ctx, cs_slice ev, const cs_key *key, cs_slice nonce,
                               uint8_t code_out[32])
{
    (void)ctx;
    uint8_t d[32];
    CS_TRY(fake_digest(key, nonce, d));
    CS_ENSURE(ev.len == 64 && memcmp(ev.ptr + 32, d, 32) == 0, CONSORT_E_REPORT_DATA,
              "fake evidence does not bind the key and nonce");
    memcpy(code_out, ev.ptr, 32);
    return CONSORT_OK;
}

/* ---- one instance: a directory, an anchor, keys ---- */

typedef struct side {
    char dir[96];
    char anchor_path[96];
    cs_anchor *anchor;
    cs_sealstore_keys keys;
    cs_migrate_attestation att;
} side;

typedef struct fx {
    char root[64];
    side s, d;
} fx;

static void side_init(side *x, const char *root, const char *name, uint8_t code)
{
    snprintf(x->dir, sizeof x->dir, "%s/%s", root, name);
    snprintf(x->anchor_path, sizeof x->anchor_path, "%s/%s.anchor", root, name);
    cst_ok(cs_anchor_file_open(x->anchor_path, &x->anchor));
    memset(x->keys.code_id, code, 32);
    memset(x->keys.lineage_root, 0x40 + code, 32); /* another platform each */
    x->att = (cs_migrate_attestation){fake_attest, fake_verify, x->keys.code_id};
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    st_tmpdir(f->root);
    side_init(&f->s, f->root, "src", 0xaa);
    side_init(&f->d, f->root, "dst", 0xaa);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    cs_sealstore_test_crash_at(-1);
    cs_anchor_free(f->s.anchor);
    cs_anchor_free(f->d.anchor);
    st_rmdir(f->root);
    free(f);
    return 0;
}

static cs_sealstore *open_side(side *x)
{
    cs_sealstore *s;
    cst_ok(cs_sealstore_open(x->dir, &x->keys, x->anchor, &s));
    return s;
}

/* A LIVE source with counters a = 3, b = 1 and a payload. */
static void make_source(fx *f)
{
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->s.dir, &f->s.keys, f->s.anchor, &s));
    uint64_t v;
    for (int i = 0; i < 3; i++)
        cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    cst_ok(cs_sealstore_counter_increment(s, "b", &v));
    cst_ok(cs_sealstore_set_payload(s, CS_SLICE_LIT("vault")));
    if (memcmp(f->s.keys.code_id, f->d.keys.code_id, 32) != 0) {
        cs_code_id succ;
        memcpy(succ.b, f->d.keys.code_id, 32);
        cst_ok(cs_sealstore_set_successors(s, &succ, 1));
    }
    cs_sealstore_free(s);
}

#define TRY_RUN(expr)                                                                              \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc != CONSORT_OK)                                                                      \
            goto out;                                                                              \
    } while (0)

/* The driver: runs the protocol from whatever is on disk. */
static consort_err run_migration(fx *f)
{
    cs_sealstore *src = NULL, *dst = NULL;
    cs_buf nonce, offer, pkg, confirm, done;
    cs_buf_init(&nonce, 0);
    cs_buf_init(&offer, 0);
    cs_buf_init(&pkg, 0);
    cs_buf_init(&confirm, 0);
    cs_buf_init(&done, 0);
    consort_err rc;
    uint8_t *n;
    TRY_RUN(cs_sealstore_open(f->s.dir, &f->s.keys, f->s.anchor, &src));
    bool dst_exists = cs_sealstore_open(f->d.dir, &f->d.keys, f->d.anchor, &dst) == CONSORT_OK;
    if (dst_exists && cs_sealstore_state_of(dst) == CS_SEALSTORE_LIVE)
        goto out;
    if (dst_exists) {
        TRY_RUN(cs_sealstore_confirm(dst, &confirm));
    } else {
        TRY_RUN(cs_buf_extend(&nonce, 32, &n));
        TRY_RUN(cs_random(n, 32));
        TRY_RUN(cs_migrate_dest_begin(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att,
                                      cs_buf_slice(&nonce), &offer));
        cs_migrate_answer kind;
        TRY_RUN(cs_sealstore_answer_offer(src, cs_buf_slice(&offer), cs_buf_slice(&nonce),
                                          &f->s.att, &pkg, &kind));
        assert_int_equal(kind, CS_MIGRATE_PACKAGE);
        TRY_RUN(cs_migrate_dest_accept(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att,
                                       cs_buf_slice(&pkg), &dst, &confirm));
    }
    TRY_RUN(cs_sealstore_answer_confirm(src, cs_buf_slice(&confirm), &done));
    TRY_RUN(cs_sealstore_finish(dst, cs_buf_slice(&done)));
out:
    cs_sealstore_free(src);
    cs_sealstore_free(dst);
    cs_buf_cleanup(&nonce);
    cs_buf_cleanup(&offer);
    cs_buf_cleanup(&pkg);
    cs_buf_cleanup(&confirm);
    cs_buf_cleanup(&done);
    return rc;
}

/* After a complete migration: S RETIRED to D, D LIVE with S's state. */
static void check_moved(fx *f)
{
    cs_sealstore *s = open_side(&f->s), *d = open_side(&f->d);
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_RETIRED);
    assert_int_equal(cs_sealstore_state_of(d), CS_SEALSTORE_LIVE);
    assert_memory_equal(cs_sealstore_peer_id(s), cs_sealstore_instance_id(d), 16);
    uint64_t v;
    cst_ok(cs_sealstore_counter_read(d, "a", &v));
    assert_int_equal(v, 3);
    cst_ok(cs_sealstore_counter_read(d, "b", &v));
    assert_int_equal(v, 1);
    assert_true(cs_slice_eq(cs_sealstore_payload(d), CS_SLICE_LIT("vault")));
    cst_fails(cs_sealstore_counter_read(s, "a", &v), CONSORT_E_FROZEN);
    cs_sealstore_free(s);
    cs_sealstore_free(d);
}

static void test_happy_path(void **state)
{
    fx *f = *state;
    memset(f->d.keys.code_id, 0xbb, 32); /* an approved successor's code */
    make_source(f);
    /* a blob sealed at the source, lineage policy, bound to counter "db" */
    cs_sealstore *s = open_side(&f->s);
    cs_buf blob, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&out, 0);
    cst_ok(cs_sealstore_seal(s, CS_SEAL_POLICY_LINEAGE, "db", CS_SLICE_LIT("rows"), &blob));
    cs_sealstore_free(s);
    cst_ok(run_migration(f));
    /* repeated runs are idempotent */
    cst_ok(run_migration(f));
    check_moved(f);
    cs_sealstore *d = open_side(&f->d);
    const cs_code_id *anc;
    assert_int_equal(cs_sealstore_ancestors(d, &anc), 1);
    assert_memory_equal(anc[0].b, f->s.keys.code_id, 32);
    cst_ok(cs_sealstore_unseal(d, cs_buf_slice(&blob), NULL, &out));
    assert_true(cs_slice_eq(cs_buf_slice(&out), CS_SLICE_LIT("rows")));
    cs_sealstore_free(d);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&out);
}

static void test_crash_everywhere(void **state)
{
    fx *f = *state;
    for (long step = 0;; step++) {
        st_rmdir(f->s.dir);
        st_rmdir(f->d.dir);
        make_source(f);
        cs_sealstore_test_crash_at(step);
        consort_err rc = run_migration(f);
        cs_sealstore_test_crash_at(-1);
        if (rc == CONSORT_OK) {
            check_moved(f);
            assert_true(step > 10); /* it did crash at every earlier step */
            break;
        }
        assert_int_equal(rc, CONSORT_E_IO);
        /* at most one LIVE instance while it is cut */
        cs_sealstore *s = NULL, *d = NULL;
        bool s_live = cs_sealstore_open(f->s.dir, &f->s.keys, f->s.anchor, &s) == CONSORT_OK &&
                      cs_sealstore_state_of(s) == CS_SEALSTORE_LIVE;
        bool d_live = cs_sealstore_open(f->d.dir, &f->d.keys, f->d.anchor, &d) == CONSORT_OK &&
                      cs_sealstore_state_of(d) == CS_SEALSTORE_LIVE;
        cs_sealstore_free(s);
        cs_sealstore_free(d);
        assert_false(s_live && d_live);
        /* run again from disk: it finishes */
        cst_ok(run_migration(f));
        check_moved(f);
    }
}

static void test_rolled_back_source(void **state)
{
    fx *f = *state;
    make_source(f);
    char bin[160], aside[160], anchor_aside[160];
    snprintf(bin, sizeof bin, "%s/store.bin", f->s.dir);
    snprintf(aside, sizeof aside, "%s/aside", f->root);
    snprintf(anchor_aside, sizeof anchor_aside, "%s/anchor-aside", f->root);
    st_copy_file(bin, aside);
    cst_ok(run_migration(f));
    /* the host puts the LIVE pre-freeze store back: a fork, refused */
    st_copy_file(aside, bin);
    cs_sealstore *s;
    cst_fails(cs_sealstore_open(f->s.dir, &f->s.keys, f->s.anchor, &s), CONSORT_E_ROLLBACK);
}

static void test_inadmissible_destination(void **state)
{
    fx *f = *state;
    memset(f->d.keys.code_id, 0xcc, 32); /* not an approved successor */
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->s.dir, &f->s.keys, f->s.anchor, &s));
    cs_sealstore_free(s);
    cst_fails(run_migration(f), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "approved successors"));
    s = open_side(&f->s);
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_LIVE);
    uint64_t v;
    cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    cs_sealstore_free(s);
}

static void test_second_destination_and_frozen(void **state)
{
    fx *f = *state;
    make_source(f);
    side d2;
    char root2[64];
    st_tmpdir(root2);
    side_init(&d2, root2, "dst2", 0xaa);
    cs_sealstore *s = open_side(&f->s), *d = NULL, *dd = NULL;
    cs_buf nonce, offer1, offer2, pkg1, pkg2, c1, c2, done, blob;
    cs_buf_init(&nonce, 0);
    cs_buf_init(&offer1, 0);
    cs_buf_init(&offer2, 0);
    cs_buf_init(&pkg1, 0);
    cs_buf_init(&pkg2, 0);
    cs_buf_init(&c1, 0);
    cs_buf_init(&c2, 0);
    cs_buf_init(&done, 0);
    cs_buf_init(&blob, 0);
    cst_ok(cs_buf_set(&nonce, CS_SLICE_LIT("nonce from S")));
    cst_ok(cs_migrate_dest_begin(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att, cs_buf_slice(&nonce),
                                 &offer1));
    cst_ok(
        cs_migrate_dest_begin(d2.dir, &d2.keys, d2.anchor, &d2.att, cs_buf_slice(&nonce), &offer2));
    /* an offer for another nonce is refused (stale evidence) */
    cs_migrate_answer kind;
    cst_fails(cs_sealstore_answer_offer(s, cs_buf_slice(&offer1), CS_SLICE_LIT("other"), &f->s.att,
                                        &pkg1, &kind),
              CONSORT_E_REPORT_DATA);
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_LIVE);
    cst_ok(cs_sealstore_answer_offer(s, cs_buf_slice(&offer1), cs_buf_slice(&nonce), &f->s.att,
                                     &pkg1, &kind));
    /* FROZEN: every application call is refused */
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_FROZEN);
    uint64_t v;
    cst_fails(cs_sealstore_counter_increment(s, "a", &v), CONSORT_E_FROZEN);
    cst_fails(cs_sealstore_counter_read(s, "a", &v), CONSORT_E_FROZEN);
    cst_fails(cs_sealstore_seal(s, CS_SEAL_POLICY_CODE, NULL, CS_SLICE_LIT("x"), &blob),
              CONSORT_E_FROZEN);
    cst_fails(cs_sealstore_unseal(s, cs_buf_slice(&pkg1), NULL, &blob), CONSORT_E_FROZEN);
    cst_fails(cs_sealstore_set_payload(s, CS_SLICE_LIT("x")), CONSORT_E_FROZEN);
    /* a FROZEN source answers another admissible offer too */
    cst_ok(cs_sealstore_answer_offer(s, cs_buf_slice(&offer2), cs_buf_slice(&nonce), &f->s.att,
                                     &pkg2, &kind));
    /* a package for D is refused by D2 */
    cst_fails(
        cs_migrate_dest_accept(d2.dir, &d2.keys, d2.anchor, &d2.att, cs_buf_slice(&pkg1), &dd, &c2),
        CONSORT_E_POLICY);
    cst_ok(cs_migrate_dest_accept(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att, cs_buf_slice(&pkg1),
                                  &d, &c1));
    cst_ok(cs_migrate_dest_accept(d2.dir, &d2.keys, d2.anchor, &d2.att, cs_buf_slice(&pkg2), &dd,
                                  &c2));
    cst_ok(cs_sealstore_answer_confirm(s, cs_buf_slice(&c1), &done));
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_RETIRED);
    /* D2's confirm after the source retired to D: refused */
    cs_buf_reset(&done);
    cst_fails(cs_sealstore_answer_confirm(s, cs_buf_slice(&c2), &done), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "already retired"));
    /* and D2's offer gets no done either */
    cst_fails(cs_sealstore_answer_offer(s, cs_buf_slice(&offer2), cs_buf_slice(&nonce), &f->s.att,
                                        &pkg2, &kind),
              CONSORT_E_POLICY);
    /* D's repeated confirm gets done again, and D's offer gets done */
    cst_ok(cs_sealstore_answer_confirm(s, cs_buf_slice(&c1), &done));
    cs_buf_reset(&pkg1);
    cst_ok(cs_sealstore_answer_offer(s, cs_buf_slice(&offer1), cs_buf_slice(&nonce), &f->s.att,
                                     &pkg1, &kind));
    assert_int_equal(kind, CS_MIGRATE_DONE);
    /* a done for D does not finish D2 */
    cst_fails(cs_sealstore_finish(dd, cs_buf_slice(&done)), CONSORT_E_POLICY);
    assert_int_equal(cs_sealstore_state_of(dd), CS_SEALSTORE_PENDING);
    cst_ok(cs_sealstore_finish(d, cs_buf_slice(&done)));
    cst_ok(cs_sealstore_finish(d, cs_buf_slice(&done))); /* repeated: ignored */
    assert_int_equal(cs_sealstore_state_of(d), CS_SEALSTORE_LIVE);
    cst_ok(cs_sealstore_counter_increment(d, "a", &v));
    assert_int_equal(v, 4);
    cs_sealstore_free(s);
    cs_sealstore_free(d);
    cs_sealstore_free(dd);
    cs_buf *bufs[] = {&nonce, &offer1, &offer2, &pkg1, &pkg2, &c1, &c2, &done, &blob};
    for (size_t i = 0; i < CS_ARRAY_LEN(bufs); i++)
        cs_buf_cleanup(bufs[i]);
    cs_anchor_free(d2.anchor);
    st_rmdir(root2);
}

/* Messages that do not parse are refused before any state changes. */
static void test_malformed_messages(void **state)
{
    fx *f = *state;
    make_source(f);
    cs_sealstore *s = open_side(&f->s);
    cs_buf out;
    cs_buf_init(&out, 0);
    cs_migrate_answer kind;
    const cs_slice junk[] = {CS_SLICE_EMPTY, CS_SLICE_LIT("\x84"), CS_SLICE_LIT("\x01"),
                             CS_SLICE_LIT("\x84\x65"
                                          "CSMO1\x40\x40\x40")};
    for (size_t i = 0; i < CS_ARRAY_LEN(junk); i++) {
        cst_fails_any(
            cs_sealstore_answer_offer(s, junk[i], CS_SLICE_LIT("n"), &f->s.att, &out, &kind));
        cst_fails_any(cs_sealstore_answer_confirm(s, junk[i], &out));
    }
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_LIVE);
    cs_sealstore_free(s);
    cs_buf_cleanup(&out);
}

/*
 * docs/migration-model.md, the loss spin found: D went LIVE and acknowledged
 * a counter value; the host hides D's store and replays the old package
 * (and then the old done). The package answers an offer made before D's
 * anchor moved, so it must not create a store: the acknowledged state would
 * be replaced by the package's older one.
 */
static void test_old_package_over_hidden_store(void **state)
{
    fx *f = *state;
    make_source(f);
    cs_sealstore *src = open_side(&f->s), *dst = NULL;
    cs_buf nonce, offer, pkg, confirm, done;
    cs_buf_init(&nonce, 0);
    cs_buf_init(&offer, 0);
    cs_buf_init(&pkg, 0);
    cs_buf_init(&confirm, 0);
    cs_buf_init(&done, 0);
    uint8_t *n;
    cst_ok(cs_buf_extend(&nonce, 32, &n));
    cst_ok(cs_random(n, 32));
    cst_ok(cs_migrate_dest_begin(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att, cs_buf_slice(&nonce),
                                 &offer));
    cs_migrate_answer kind;
    cst_ok(cs_sealstore_answer_offer(src, cs_buf_slice(&offer), cs_buf_slice(&nonce), &f->s.att,
                                     &pkg, &kind));
    cst_ok(cs_migrate_dest_accept(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att, cs_buf_slice(&pkg),
                                  &dst, &confirm));
    cst_ok(cs_sealstore_answer_confirm(src, cs_buf_slice(&confirm), &done));
    cst_ok(cs_sealstore_finish(dst, cs_buf_slice(&done)));
    uint64_t v;
    cst_ok(cs_sealstore_counter_increment(dst, "a", &v)); /* acknowledged: 4 */
    assert_int_equal(v, 4);
    cs_sealstore_free(dst);
    dst = NULL;
    /* the host hides D's store */
    char bin[160], next[160];
    snprintf(bin, sizeof bin, "%s/store.bin", f->d.dir);
    snprintf(next, sizeof next, "%s/store.next", f->d.dir);
    char hidden[200];
    snprintf(hidden, sizeof hidden, "%s.hidden", bin);
    assert_int_equal(rename(bin, hidden), 0);
    unlink(next);
    cs_buf_reset(&confirm);
    cst_fails(cs_migrate_dest_accept(f->d.dir, &f->d.keys, f->d.anchor, &f->d.att,
                                     cs_buf_slice(&pkg), &dst, &confirm),
              CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "offer again"));
    assert_null(dst);
    /* put back, the acknowledged value is still there */
    assert_int_equal(rename(hidden, bin), 0);
    dst = open_side(&f->d);
    cst_ok(cs_sealstore_counter_read(dst, "a", &v));
    assert_int_equal(v, 4);
    cs_sealstore_free(dst);
    cs_sealstore_free(src);
    cs_buf_cleanup(&nonce);
    cs_buf_cleanup(&offer);
    cs_buf_cleanup(&pkg);
    cs_buf_cleanup(&confirm);
    cs_buf_cleanup(&done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_package_over_hidden_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inadmissible_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_destination_and_frozen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_messages, setup, teardown),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
