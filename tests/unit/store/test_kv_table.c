/* The KV store's building blocks: SipHash-2-4 against the paper's vectors,
 * and the open-addressing table under heavy insert/remove churn. */
#include "kv_testutil.h"

#include "base/alloc.h"
#include "store/kv_priv.h"

#include <stdlib.h>

/* SipHash-2-4 with key 00 01 .. 0f over the messages 00 01 .. (len-1): the
 * reference vectors published with the SipHash paper (vectors.h). */
static void siphash_vectors(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        uint64_t want;
    } v[] = {
        {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},  {7, 0xab0200f58b01d137ULL},
        {8, 0x93f5f5799a932462ULL},  {15, 0xa129ca6149be45e5ULL}, {16, 0x3f2acc7f57c29bdbULL},
        {63, 0x958a324ceb064572ULL},
    };
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (size_t i = 0; i < CS_ARRAY_LEN(v); i++)
        assert_int_equal(cs_siphash24(key, CS_SLICE(msg, v[i].len)), v[i].want);
    /* the key matters */
    key[0] ^= 1;
    assert_int_not_equal(cs_siphash24(key, CS_SLICE(msg, 15)), 0xa129ca6149be45e5ULL);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    return kvt_xorshift(&rng);
}

#define UNIVERSE 3000

/* Random churn against a presence bitmap, with deliberately bad hashes (few
 * distinct values) so that long probe runs and backward shifts happen. */
static void table_churn(void **state)
{
    (void)state;
    for (int quality = 0; quality < 2; quality++) {
        kv_table t;
        cs_kv_table_init(&t);
        bool present[UNIVERSE] = {0};
        size_t count = 0;
        for (int step = 0; step < 60000; step++) {
            uint32_t i = (uint32_t)(next_rand() % UNIVERSE);
            char key[16];
            int n = snprintf(key, sizeof key, "key-%u", i);
            cs_slice k = CS_SLICE(key, (size_t)n);
            uint64_t h = quality == 0 ? i % 64 : i * 0x9e3779b97f4a7c15ULL;
            if (next_rand() % 3 != 0) {
                cst_ok(cs_kv_table_reserve(&t, 1));
                kv_rec *r;
                cs_slice v = CS_SLICE(&i, sizeof i);
                cst_ok(cs_kv_rec_new(h, k, &v, &r));
                kv_rec *old = cs_kv_table_set(&t, r);
                assert_true((old != NULL) == present[i]);
                cs_kv_rec_unref(old);
                count += !present[i];
                present[i] = true;
            } else {
                kv_rec *r = cs_kv_table_take(&t, h, k);
                assert_true((r != NULL) == present[i]);
                if (r != NULL) {
                    assert_true(cs_slice_eq(kv_rec_key(r), k));
                    cs_kv_rec_unref(r);
                    count--;
                }
                present[i] = false;
            }
            assert_int_equal(t.count, count);
            if (step % 5000 == 0) {
                for (uint32_t j = 0; j < UNIVERSE; j++) {
                    char kj[16];
                    int m = snprintf(kj, sizeof kj, "key-%u", j);
                    uint64_t hj = quality == 0 ? j % 64 : j * 0x9e3779b97f4a7c15ULL;
                    kv_rec *f = cs_kv_table_find(&t, hj, CS_SLICE(kj, (size_t)m));
                    assert_true((f != NULL) == present[j]);
                    if (f != NULL)
                        assert_memory_equal(kv_rec_value(f).ptr, &j, sizeof j);
                }
            }
        }
        /* sorted view: every present key once, in bytewise order */
        kv_rec **recs;
        size_t n;
        cst_ok(cs_kv_table_sorted(&t, &recs, &n));
        assert_int_equal(n, count);
        for (size_t j = 1; j < n; j++)
            assert_true(cs_kv_bytes_cmp(kv_rec_key(recs[j - 1]), kv_rec_key(recs[j])) < 0);
        cs_free(recs);
        cs_kv_table_cleanup(&t);
    }
}

static void byte_order_and_formatting(void **state)
{
    (void)state;
    assert_true(cs_kv_bytes_cmp(S(""), S("a")) < 0);
    assert_true(cs_kv_bytes_cmp(S("a"), S("ab")) < 0);
    assert_true(cs_kv_bytes_cmp(S("ab"), S("b")) < 0);
    assert_true(cs_kv_bytes_cmp(S("B"), S("a")) < 0);
    assert_true(cs_kv_bytes_cmp(CS_SLICE("\x80", 1), S("\x7f")) > 0);
    assert_int_equal(cs_kv_bytes_cmp(S("same"), S("same")), 0);
    char buf[CS_KV_FMT_MAX];
    assert_string_equal(cs_kv_fmt(S("plain key"), buf, sizeof buf), "\"plain key\"");
    assert_string_equal(cs_kv_fmt(CS_SLICE("a\0\"\\\xff", 5), buf, sizeof buf),
                        "\"a\\x00\\x22\\x5c\\xff\"");
    char big[300];
    memset(big, 'x', sizeof big);
    const char *f = cs_kv_fmt(CS_SLICE(big, sizeof big), buf, sizeof buf);
    assert_true(strlen(f) < sizeof buf);
    assert_non_null(strstr(f, "\"..."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(siphash_vectors),
        cmocka_unit_test(table_churn),
        cmocka_unit_test(byte_order_and_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
