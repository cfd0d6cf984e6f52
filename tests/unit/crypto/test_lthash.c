/*
 * LtHash16 (crypto/lthash.h): known answers computed independently, and the
 * algebra the KV store's state digest relies on: add/sub round trips, order
 * independence, multiset (not set) semantics, combine/uncombine, and that an
 * element given in parts is the element their concatenation makes.
 */
#include "testutil.h"

#include "crypto/lthash.h"

#include <pthread.h>
#include <string.h>

/*
 * Known answers, computed with python3 and the `cryptography` package (not
 * with this code), by this script:
 *
 *   import hashlib, struct
 *   from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
 *   def expand(e):
 *       k = hashlib.sha256(b"consort lthash v1" + e).digest()
 *       enc = Cipher(algorithms.AES(k), modes.CTR(bytes(16))).encryptor()
 *       return struct.unpack("<1024H", enc.update(bytes(2048)) + enc.finalize())
 *   def digest(lanes):
 *       return hashlib.sha256(b"consort lthash digest v1"
 *                             + struct.pack("<1024H", *lanes)).hexdigest()
 *   def add(l, e): return [(a + b) & 0xffff for a, b in zip(l, expand(e))]
 *   def sub(l, e): return [(a - b) & 0xffff for a, b in zip(l, expand(e))]
 *   empty = [0] * 1024
 *   print(digest(empty))                              # KAT_EMPTY
 *   x = expand(b"abc")
 *   print([hex(v) for v in x[:4]], hex(x[1023]))      # KAT_ABC_LANES
 *   print(digest(add(empty, b"abc")))                 # KAT_ABC
 *   big = bytes(i % 251 for i in range(1000))
 *   s = add(add(add(add(empty, b""), b"abc"), big), b"abc")
 *   s = sub(s, b"")
 *   print(digest(s), [hex(s[i]) for i in (0, 1, 1023)])  # KAT_MULTISET
 */
#define KAT_EMPTY    "31c3fe9de27d1ec8141a29a8227722b1882c7bcacc9f2800bf84c645d0ea1803"
#define KAT_ABC      "7bbe4e02c6f0950680853c6465935e7bbd76c99b447853314e22e57d23631269"
#define KAT_MULTISET "2d234f9c5f817b01f72098df8a292dd4eace40b4d2c1d81e8e2d2483edbd8c79"
static const uint16_t kat_abc_lanes[4] = {0xcc0f, 0xe94e, 0x064d, 0x433d};
static const uint16_t kat_abc_lane_1023 = 0xefc7;
static const uint16_t kat_multiset_lanes[3] = {0x8817, 0xa302, 0x9083}; /* lanes 0, 1, 1023 */

#define BIG_LEN 1000

static void big_element(uint8_t big[BIG_LEN])
{
    for (size_t i = 0; i < BIG_LEN; i++)
        big[i] = (uint8_t)(i % 251);
}

static void add1(cs_lthash *h, const char *s)
{
    cs_slice part = cs_slice_str(s);
    cst_ok(cs_lthash_add(h, &part, 1));
}

static void sub1(cs_lthash *h, const char *s)
{
    cs_slice part = cs_slice_str(s);
    cst_ok(cs_lthash_sub(h, &part, 1));
}

static void assert_digest_hex(const cs_lthash *h, const char *hex)
{
    uint8_t want[CS_LTHASH_DIGEST_LEN], got[CS_LTHASH_DIGEST_LEN];
    cst_ok(cs_hex_decode(hex, want, sizeof want));
    cs_lthash_digest(h, got);
    assert_memory_equal(got, want, sizeof want);
}

static void assert_same(const cs_lthash *a, const cs_lthash *b)
{
    assert_memory_equal(a->lanes, b->lanes, sizeof a->lanes);
    uint8_t da[CS_LTHASH_DIGEST_LEN], db[CS_LTHASH_DIGEST_LEN];
    cs_lthash_digest(a, da);
    cs_lthash_digest(b, db);
    assert_memory_equal(da, db, sizeof da);
}

static void assert_differ(const cs_lthash *a, const cs_lthash *b)
{
    assert_memory_not_equal(a->lanes, b->lanes, sizeof a->lanes);
    uint8_t da[CS_LTHASH_DIGEST_LEN], db[CS_LTHASH_DIGEST_LEN];
    cs_lthash_digest(a, da);
    cs_lthash_digest(b, db);
    assert_memory_not_equal(da, db, sizeof da);
}

static void known_answers(void **state)
{
    (void)state;
    cs_lthash h;
    cs_lthash_init(&h);
    for (size_t i = 0; i < CS_LTHASH_LANES; i++)
        assert_int_equal(h.lanes[i], 0);
    assert_digest_hex(&h, KAT_EMPTY);

    add1(&h, "abc");
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(h.lanes[i], kat_abc_lanes[i]);
    assert_int_equal(h.lanes[1023], kat_abc_lane_1023);
    assert_digest_hex(&h, KAT_ABC);

    /* {abc, abc, big}, reached through the empty element added and removed;
     * big is given in three parts */
    uint8_t big[BIG_LEN];
    big_element(big);
    cs_lthash_init(&h);
    add1(&h, "");
    add1(&h, "abc");
    cs_slice parts[3] = {CS_SLICE(big, 1), CS_SLICE(big + 1, 600), CS_SLICE(big + 601, 399)};
    cst_ok(cs_lthash_add(&h, parts, 3));
    add1(&h, "abc");
    sub1(&h, "");
    assert_int_equal(h.lanes[0], kat_multiset_lanes[0]);
    assert_int_equal(h.lanes[1], kat_multiset_lanes[1]);
    assert_int_equal(h.lanes[1023], kat_multiset_lanes[2]);
    assert_digest_hex(&h, KAT_MULTISET);
}

/* A state with some arbitrary history. */
static void some_state(cs_lthash *h)
{
    cs_lthash_init(h);
    char e[16];
    for (int i = 0; i < 20; i++) {
        snprintf(e, sizeof e, "element %d", i);
        add1(h, e);
    }
    sub1(h, "not there"); /* removing what was never added is just arithmetic */
}

static void add_sub_round_trip(void **state)
{
    (void)state;
    cs_lthash h, before;
    some_state(&h);
    before = h;
    add1(&h, "x");
    assert_differ(&h, &before);
    sub1(&h, "x");
    assert_same(&h, &before);
    sub1(&h, "y");
    assert_differ(&h, &before);
    add1(&h, "y");
    assert_same(&h, &before);
    /* a different element does not cancel */
    add1(&h, "x");
    sub1(&h, "X");
    assert_differ(&h, &before);
}

static void order_does_not_matter(void **state)
{
    (void)state;
    cs_lthash a, b, c;
    cs_lthash_init(&a);
    cs_lthash_init(&b);
    cs_lthash_init(&c);
    add1(&a, "p");
    add1(&a, "q");
    add1(&a, "r");
    add1(&b, "r");
    add1(&b, "p");
    add1(&b, "q");
    /* interleaved with a removal of something added later */
    sub1(&c, "s");
    add1(&c, "q");
    add1(&c, "r");
    add1(&c, "s");
    add1(&c, "p");
    assert_same(&a, &b);
    assert_same(&a, &c);
}

static void multiset_not_set(void **state)
{
    (void)state;
    cs_lthash empty, once, twice;
    cs_lthash_init(&empty);
    cs_lthash_init(&once);
    add1(&once, "dup");
    twice = once;
    add1(&twice, "dup");
    assert_differ(&once, &twice);
    assert_differ(&once, &empty);
    assert_differ(&twice, &empty);
    sub1(&twice, "dup");
    assert_same(&once, &twice);
    /* distinct elements that differ in one bit give distinct states */
    cs_lthash x, y;
    cs_lthash_init(&x);
    cs_lthash_init(&y);
    add1(&x, "abc");
    add1(&y, "abb");
    assert_differ(&x, &y);
}

static void combine_uncombine(void **state)
{
    (void)state;
    cs_lthash ab, c, abc, sum;
    cs_lthash_init(&ab);
    add1(&ab, "a");
    add1(&ab, "b");
    cs_lthash_init(&c);
    add1(&c, "c");
    cs_lthash_init(&abc);
    add1(&abc, "c");
    add1(&abc, "a");
    add1(&abc, "b");
    sum = ab;
    cs_lthash_combine(&sum, &c);
    assert_same(&sum, &abc);
    cs_lthash_uncombine(&sum, &c);
    assert_same(&sum, &ab);
    /* combining with the empty state changes nothing */
    cs_lthash empty;
    cs_lthash_init(&empty);
    cs_lthash_combine(&sum, &empty);
    assert_same(&sum, &ab);
    /* a delta that removes: {a, b} - {b} + {c} = {a, c} */
    cs_lthash delta, ac;
    cs_lthash_init(&delta);
    sub1(&delta, "b");
    add1(&delta, "c");
    cs_lthash_combine(&sum, &delta);
    cs_lthash_init(&ac);
    add1(&ac, "a");
    add1(&ac, "c");
    assert_same(&sum, &ac);
}

static void parts_are_concatenated(void **state)
{
    (void)state;
    cs_lthash whole, split, split2, none, empty_el;
    cs_lthash_init(&whole);
    add1(&whole, "hello world");
    cs_lthash_init(&split);
    cs_slice p2[2] = {CS_SLICE_LIT("hello "), CS_SLICE_LIT("world")};
    cst_ok(cs_lthash_add(&split, p2, 2));
    assert_same(&whole, &split);
    cs_lthash_init(&split2);
    cs_slice p4[4] = {CS_SLICE_LIT("h"), CS_SLICE_EMPTY, CS_SLICE_LIT("ello wor"),
                      CS_SLICE_LIT("ld")};
    cst_ok(cs_lthash_add(&split2, p4, 4));
    assert_same(&whole, &split2);
    cst_ok(cs_lthash_sub(&split2, p2, 2));
    cs_lthash zero;
    cs_lthash_init(&zero);
    assert_same(&split2, &zero);
    /* no parts is the empty element */
    cs_lthash_init(&none);
    cst_ok(cs_lthash_add(&none, NULL, 0));
    cs_lthash_init(&empty_el);
    add1(&empty_el, "");
    assert_same(&none, &empty_el);
    assert_differ(&none, &zero);
}

/* Each thread keeps its own cipher context: expansions made on other threads
 * (at the same time) agree with this thread's, and the contexts are freed
 * when the threads end (ASan's leak check). */
typedef struct thread_job {
    cs_lthash h;
    consort_err rc;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    cs_lthash_init(&job->h);
    char e[16];
    job->rc = CONSORT_OK;
    for (int i = 0; i < 200 && job->rc == CONSORT_OK; i++) {
        snprintf(e, sizeof e, "t%d", i);
        cs_slice part = cs_slice_str(e);
        job->rc = cs_lthash_add(&job->h, &part, 1);
    }
    return NULL;
}

static void threads_agree(void **state)
{
    (void)state;
    thread_job jobs[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &jobs[i]), 0);
    thread_job mine;
    thread_main(&mine);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        cst_ok(jobs[i].rc);
        assert_same(&jobs[i].h, &mine.h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),         cmocka_unit_test(add_sub_round_trip),
        cmocka_unit_test(order_does_not_matter), cmocka_unit_test(multiset_not_set),
        cmocka_unit_test(combine_uncombine),     cmocka_unit_test(parts_are_concatenated),
        cmocka_unit_test(threads_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
