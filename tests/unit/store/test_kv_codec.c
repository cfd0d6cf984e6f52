/* KV write sets and snapshots: exact bytes, determinism, replication by
 * apply, and the strict decoders against malformed input. */
#include "kv_testutil.h"

#include "base/cbor.h"

static void assert_hex(const cs_buf *b, const char *hex)
{
    cs_buf want;
    cs_buf_init(&want, 0);
    cst_hex(hex, &want);
    assert_int_equal(b->len, want.len);
    assert_memory_equal(b->ptr, want.ptr, want.len);
    cs_buf_cleanup(&want);
}

static void write_set_bytes_are_exact(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("b"), S("2")));
    cst_ok(cs_kv_put(tx, S("m"), S("a"), S("x")));
    cst_ok(cs_kv_remove(tx, S("m"), S("c")));
    cst_ok(cs_kv_put(tx, S("m"), S("a"), S("1")));
    cst_ok(cs_kv_put(tx, S("public:x"), S("k"), S("v")));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(kvt_commit_ws(tx, s, &pub, &priv));
    cs_kv_tx_free(tx);
    /* {"public:x": [[h'6b', h'76']]} */
    assert_hex(&pub, "a1687075626c69633a78818241"
                     "6b"
                     "4176");
    /* {"m": [[h'61', h'31'], [h'62', h'32'], [h'63', null]]} */
    assert_hex(&priv, "a1616d83824161413182416241328241"
                      "63"
                      "f6");

    /* and the snapshot: {"maps": {"m": [[a, 1, 1], [b, 2, 1]], "public:x": [[k, v, 1]]},
     * "seqno": 1} */
    cs_buf snap;
    kvt_snapshot(s, &snap);
    assert_hex(&snap, "a2646d617073a2616d828341614131018341624132"
                      "01687075626c69633a788183416b41760165736571"
                      "6e6f01");
    cs_buf_cleanup(&snap);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(s);
}

/* The same logical writes in two different orders give the same bytes. */
static void encoding_is_deterministic(void **state)
{
    (void)state;
    static const char *const names[] = {"zz", "aaa", "B", "public:z", "public:a", "ab", "a"};
    static const char *const keys[] = {"", "k", "kk", "\x01", "K", "k\x00", "zzzz"};
    cs_buf out[2][2];
    for (int order = 0; order < 2; order++) {
        cs_kv_store *s = kvt_store();
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        for (size_t n = 0; n < CS_ARRAY_LEN(names); n++) {
            for (size_t k = 0; k < CS_ARRAY_LEN(keys); k++) {
                size_t nn = order ? CS_ARRAY_LEN(names) - 1 - n : n;
                size_t kk = order ? (k * 3) % CS_ARRAY_LEN(keys) : k;
                cs_slice key = CS_SLICE(keys[kk], kk == 5 ? 2 : strlen(keys[kk]));
                /* an earlier, overwritten write in one order only */
                if (order == 1)
                    cst_ok(cs_kv_put(tx, S(names[nn]), key, S("stale")));
                if ((nn + kk) % 3 == 0)
                    cst_ok(cs_kv_remove(tx, S(names[nn]), key));
                else
                    cst_ok(cs_kv_put(tx, S(names[nn]), key, S(names[(nn + kk) % 7])));
            }
        }
        cs_buf_init(&out[order][0], 0);
        cs_buf_init(&out[order][1], 0);
        cst_ok(kvt_commit_ws(tx, s, &out[order][0], &out[order][1]));
        cs_kv_tx_free(tx);
        cs_kv_store_free(s);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[0][i].len, out[1][i].len);
        assert_memory_equal(out[0][i].ptr, out[1][i].ptr, out[0][i].len);
    }
    /* bytewise order of the names, not length-first: "B" < "a" < "aaa" < "ab" < "zz" */
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, cs_buf_slice(&out[0][1]));
    uint64_t n;
    cst_ok(cs_cbor_read_map(&r, &n));
    assert_int_equal(n, 5);
    const char *want[] = {"B", "a", "aaa", "ab", "zz"};
    for (size_t i = 0; i < n; i++) {
        cs_slice name;
        cst_ok(cs_cbor_read_text(&r, &name));
        assert_true(cs_slice_eq(name, S(want[i])));
        cst_ok(cs_cbor_skip(&r));
    }
    for (int i = 0; i < 4; i++)
        cs_buf_cleanup(&out[i / 2][i % 2]);
}

/* Commits a few transactions on `a` and applies their write sets to `b`. */
static void replicate(cs_kv_store *a, cs_kv_store *b, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(a, &tx));
        char key[16], val[32];
        snprintf(key, sizeof key, "k%d", i % 7);
        snprintf(val, sizeof val, "value %d", i);
        cst_ok(cs_kv_put(tx, S(i % 2 ? "public:t" : "priv"), S(key), S(val)));
        if (i % 5 == 4)
            cst_ok(cs_kv_remove(tx, S("priv"), S("k1")));
        cs_buf pub, priv;
        cs_buf_init(&pub, 0);
        cs_buf_init(&priv, 0);
        cst_ok(kvt_commit_ws(tx, a, &pub, &priv));
        cs_kv_tx_free(tx);
        cst_ok(cs_kv_apply(b, cs_kv_last_seqno(b) + 1, cs_buf_slice(&pub), cs_buf_slice(&priv)));
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
    }
}

static void apply_and_restore_reproduce_the_store(void **state)
{
    (void)state;
    cs_kv_store *a = kvt_store(), *b = kvt_store(), *c = kvt_store();
    replicate(a, b, 40);
    assert_int_equal(cs_kv_last_seqno(b), 40);
    kvt_assert_same(a, b);
    cs_buf snap;
    kvt_snapshot(a, &snap);
    cst_ok(cs_kv_restore(c, cs_buf_slice(&snap)));
    assert_int_equal(cs_kv_last_seqno(c), 40);
    kvt_assert_same(a, c);
    /* all three carry on identically */
    replicate(a, b, 5);
    cs_kv_store *d = kvt_store();
    cst_ok(cs_kv_restore(d, cs_buf_slice(&snap)));
    replicate(c, d, 5);
    kvt_assert_same(a, b);
    kvt_assert_same(a, c);
    kvt_assert_same(a, d);
    /* restore drops undo data below the snapshot */
    cst_fails(cs_kv_rollback(c, 39), CONSORT_E_STATE);
    cst_ok(cs_kv_rollback(c, 40));
    cs_buf_cleanup(&snap);
    cs_kv_store_free(a);
    cs_kv_store_free(b);
    cs_kv_store_free(c);
    cs_kv_store_free(d);
}

static void apply_checks_seqno_and_kind(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_hex("a1687075626c69633a78818241"
            "6b"
            "4176",
            &pub);
    cst_hex("a1616d8182416141"
            "31",
            &priv);
    cs_buf snap;
    kvt_snapshot(s, &snap);
    cst_fails(cs_kv_apply(s, 2, cs_buf_slice(&pub), cs_buf_slice(&priv)), CONSORT_E_STATE);
    cst_fails(cs_kv_apply(s, 0, cs_buf_slice(&pub), cs_buf_slice(&priv)), CONSORT_E_STATE);
    cst_fails(cs_kv_apply(s, 1, cs_buf_slice(&priv), cs_buf_slice(&pub)), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "KV apply seqno 1: public write set: map \"m\""));
    cst_fails(cs_kv_apply(s, 1, cs_buf_slice(&pub), CS_SLICE_EMPTY), CONSORT_E_CORRUPT);
    kvt_assert_snapshot(s, &snap);
    cst_ok(cs_kv_apply(s, 1, cs_buf_slice(&pub), cs_buf_slice(&priv)));
    cst_ok(cs_kv_apply(s, 2, CS_SLICE_LIT("\xa0"), CS_SLICE_LIT("\xa0")));
    char buf[8];
    assert_string_equal(kvt_read(s, "public:x", "k", buf, sizeof buf), "v");
    assert_string_equal(kvt_read(s, "m", "a", buf, sizeof buf), "1");
    cs_buf_cleanup(&snap);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(s);
}

/* Replays a decoded write set through a transaction on a fresh store and
 * returns its re-encoding: a strict decoder accepts only what this gives back. */
typedef struct replay_ctx {
    cs_kv_tx *tx;
} replay_ctx;

static consort_err replay_cb(void *ctx, cs_slice map, cs_slice key, const cs_slice *value)
{
    replay_ctx *r = ctx;
    return value != NULL ? cs_kv_put(r->tx, map, key, *value) : cs_kv_remove(r->tx, map, key);
}

static void reencode(cs_slice ws, bool public_set, cs_buf *out)
{
    cs_kv_store *s = kvt_store();
    replay_ctx r;
    cst_ok(cs_kv_tx_begin(s, &r.tx));
    cst_ok(cs_kv_ws_visit(ws, public_set, NULL, replay_cb, &r));
    cs_buf other;
    cs_buf_init(&other, 0);
    cs_buf_init(out, 0);
    cst_ok(public_set ? kvt_commit_ws(r.tx, s, out, &other) : kvt_commit_ws(r.tx, s, &other, out));
    assert_int_equal(other.len, 1);
    cs_buf_cleanup(&other);
    cs_kv_tx_free(r.tx);
    cs_kv_store_free(s);
}

/* A write set is rejected by the decoder and by apply (store unchanged). */
static void assert_ws_rejected(cs_kv_store *s, const cs_buf *snap, cs_slice ws, consort_err code)
{
    if (code != CONSORT_OK)
        cst_fails(cs_kv_ws_visit(ws, false, NULL, NULL, NULL), code);
    else
        cst_fails_any(cs_kv_ws_visit(ws, false, NULL, NULL, NULL));
    cst_fails(cs_kv_apply(s, cs_kv_last_seqno(s) + 1, CS_SLICE_LIT("\xa0"), ws), CONSORT_E_CORRUPT);
    kvt_assert_snapshot(s, snap);
}

static void write_set_decoder_rejects_malformed_input(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "a", "0");
    cs_buf snap, good;
    kvt_snapshot(s, &snap);
    cs_buf_init(&good, 0);
    /* {"m": [[h'61', h'31'], [h'62', null]], "n": [[h'', h'']]} */
    cst_hex("a2616d82824161413182416"
            "2f6616e818240"
            "40",
            &good);
    cst_ok(cs_kv_ws_visit(cs_buf_slice(&good), false, NULL, NULL, NULL));

    for (size_t len = 0; len < good.len; len++)
        assert_ws_rejected(s, &snap, CS_SLICE(good.ptr, len), CONSORT_OK);
    cs_buf trailing;
    cs_buf_init(&trailing, 0);
    cst_ok(cs_buf_append_slice(&trailing, cs_buf_slice(&good)));
    cst_ok(cs_buf_append_u8(&trailing, 0xa0));
    assert_ws_rejected(s, &snap, cs_buf_slice(&trailing), CONSORT_E_TRAILING_DATA);

    static const struct {
        const char *hex;
        consort_err code;
        const char *msg;
    } cases[] = {
        {"80", CONSORT_E_MALFORMED, "expected map, found array"},
        {"a1416d818241614131", CONSORT_E_MALFORMED, "expected text string, found byte string"},
        {"a1616da0", CONSORT_E_MALFORMED, "expected array, found map"},
        {"a1616d80", CONSORT_E_MALFORMED, "empty write list"},
        {"a1616d81834161413141", CONSORT_E_MALFORMED, "array of 3 items"},
        {"a1616d818141"
         "61",
         CONSORT_E_MALFORMED, "array of 1 items"},
        {"a1616d8182616141"
         "31",
         CONSORT_E_MALFORMED, "expected byte string, found text"},
        {"a1616d818241"
         "6101",
         CONSORT_E_MALFORMED, "expected byte string, found unsigned"},
        {"a1616d818241"
         "61f5",
         CONSORT_E_MALFORMED, "found boolean"},
        {"a1616d818241"
         "61f7",
         CONSORT_E_MALFORMED, "found undefined"},
        {"a2616e8182414140616d818241414140", CONSORT_E_MALFORMED,
         "unsorted map name \"m\" at offset 8 after \"n\""},
        {"a2616d8182414140616d818241414140", CONSORT_E_MALFORMED, "duplicate map name \"m\""},
        {"a1616d8282416240824161"
         "40",
         CONSORT_E_MALFORMED, "unsorted key \"a\" at offset 9 after \"b\""},
        {"a1616d8282416140824161"
         "40",
         CONSORT_E_MALFORMED, "duplicate key \"a\""},
        {"a1616d82824161f68241614140", CONSORT_E_MALFORMED, "duplicate key"},
        {"a1600000", CONSORT_E_MALFORMED, "map name of 0 bytes"},
        {"a162c0808182414140", CONSORT_E_MALFORMED, "invalid UTF-8"},
        {"a168"
         "7075626c69633a78"
         "8182414140",
         CONSORT_E_MALFORMED, "is public but this is the private"},
        /* non-shortest heads: count, string length, array length (RFC 8949 §4.2.1) */
        {"b801616d818241614131", CONSORT_E_MALFORMED, "not in shortest form"},
        {"a17801"
         "6d818241614131",
         CONSORT_E_MALFORMED, "not in shortest form"},
        {"a1616d98018241614131", CONSORT_E_MALFORMED, "not in shortest form"},
        {"a1616d8182580161"
         "4131",
         CONSORT_E_MALFORMED, "not in shortest form"},
        {"a1616d81980241614131", CONSORT_E_MALFORMED, "not in shortest form"},
        /* indefinite lengths, and counts that cannot fit */
        {"bf616d818241614131ff", CONSORT_E_UNSUPPORTED, "indefinite"},
        {"a1616d9f8241614131ff", CONSORT_E_UNSUPPORTED, "indefinite"},
        {"bb0000000100000000616d", CONSORT_E_TRUNCATED, "items but"},
        {"a1616d9bffffffffffffffff", CONSORT_E_TRUNCATED, "items but"},
        {"a1616d81825bffffffffffffffff", CONSORT_E_TRUNCATED, ""},
        {"a1616d81824161f9", CONSORT_E_TRUNCATED, ""},
        {"", CONSORT_E_TRUNCATED, ""},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        cs_buf b;
        cs_buf_init(&b, 0);
        cst_hex(cases[i].hex, &b);
        assert_ws_rejected(s, &snap, cs_buf_slice(&b), cases[i].code);
        cst_fails(cs_kv_ws_visit(cs_buf_slice(&b), false, NULL, NULL, NULL), cases[i].code);
        if (strstr(consort_errmsg(), cases[i].msg) == NULL)
            fail_msg("case %zu (%s): message \"%s\" lacks \"%s\"", i, cases[i].hex,
                     consort_errmsg(), cases[i].msg);
        cs_buf_cleanup(&b);
    }

    /* every single-bit change is rejected or is itself canonical */
    size_t accepted = 0;
    for (size_t bit = 0; bit < good.len * 8; bit++) {
        good.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (cs_kv_ws_visit(cs_buf_slice(&good), false, NULL, NULL, NULL) == CONSORT_OK) {
            cs_buf again;
            reencode(cs_buf_slice(&good), false, &again);
            assert_int_equal(again.len, good.len);
            assert_memory_equal(again.ptr, good.ptr, good.len);
            cs_buf_cleanup(&again);
            accepted++;
        } else {
            assert_ws_rejected(s, &snap, cs_buf_slice(&good), CONSORT_OK);
        }
        good.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* flips inside key and value bytes keep the write set valid */
    assert_true(accepted > 0 && accepted < good.len * 8 / 2);
    cs_buf_cleanup(&trailing);
    cs_buf_cleanup(&good);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(s);
}

static void write_set_caps(void **state)
{
    (void)state;
    cs_kv_limits small = {.max_key = 2, .max_value = 3, .max_write_set = 19};
    /* {"m": [[h'616161', h'31']]}: a 3-byte key */
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_hex("a1616d8182436161614131", &b);
    cst_ok(cs_kv_ws_visit(cs_buf_slice(&b), false, NULL, NULL, NULL));
    cst_fails(cs_kv_ws_visit(cs_buf_slice(&b), false, &small, NULL, NULL), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "write key at offset 5: 3 bytes, the cap is 2"));
    cs_buf_cleanup(&b);
    cst_hex("a1616d818241614431313131", &b);
    cst_fails(cs_kv_ws_visit(cs_buf_slice(&b), false, &small, NULL, NULL), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "write value at offset 7: 4 bytes, the cap is 3"));
    cs_buf_cleanup(&b);
    cst_hex("a1616d83824161413182416241328241634133", &b);
    cst_ok(cs_kv_ws_visit(cs_buf_slice(&b), false, &small, NULL, NULL));
    cst_ok(cs_buf_append_u8(&b, 0));
    cst_fails(cs_kv_ws_visit(cs_buf_slice(&b), false, &small, NULL, NULL), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "write set of 20 bytes, the cap is 19"));
    /* apply uses the store's caps */
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(&small, &s));
    b.len--;
    cst_ok(cs_kv_apply(s, 1, CS_SLICE_LIT("\xa0"), cs_buf_slice(&b)));
    cs_buf_cleanup(&b);
    cst_hex("a1616d8182436161614131", &b);
    cst_fails(cs_kv_apply(s, 2, CS_SLICE_LIT("\xa0"), cs_buf_slice(&b)), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "the cap is 2"));
    cs_kv_store_free(s);
    cs_buf_cleanup(&b);
}

/* A snapshot is rejected by restore (store unchanged). */
static void assert_snapshot_rejected(cs_kv_store *s, const cs_buf *snap, cs_slice bytes,
                                     const char *msg)
{
    cst_fails(cs_kv_restore(s, bytes), CONSORT_E_CORRUPT);
    if (msg != NULL && strstr(consort_errmsg(), msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), msg);
    kvt_assert_snapshot(s, snap);
}

static void snapshot_decoder_rejects_malformed_input(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "x", "k", "v");
    cs_buf snap, good;
    kvt_snapshot(s, &snap);
    cs_buf_init(&good, 0);
    /* {"maps": {"m": [[a, 1, 1], [b, 2, 3]], "public:x": [[k, v, 2]]}, "seqno": 3} */
    cst_hex("a2646d617073a2616d82834161413101834162413203"
            "687075626c69633a788183416b41760265736571"
            "6e6f03",
            &good);
    cs_kv_store *t = kvt_store();
    cst_ok(cs_kv_restore(t, cs_buf_slice(&good)));
    kvt_assert_snapshot(t, &good);
    cs_kv_store_free(t);

    for (size_t len = 0; len < good.len; len++)
        assert_snapshot_rejected(s, &snap, CS_SLICE(good.ptr, len), NULL);
    cst_ok(cs_buf_append_u8(&good, 0x00));
    assert_snapshot_rejected(s, &snap, cs_buf_slice(&good), "trailing");
    good.len--;

    static const struct {
        const char *hex;
        const char *msg;
    } cases[] = {
        {"a2657365716e6f00646d617073a0", "expected \"maps\""},
        {"a1646d617073a0", "1 fields"},
        {"a3646d617073a0657365716e6f00617800", "3 fields"},
        {"a2646d617073a0657365716e6f20", "expected unsigned integer, found negative"},
        {"a2646d617073a0657365716e6f1800", "not in shortest form"},
        {"a2646d617073a1616d80657365716e6f00", "empty key list"},
        {"a2646d617073a1616d8183416141310065736571"
         "6e6f01",
         "version at offset 15 is 0"},
        {"a2646d617073a1616d8183416141310565736571"
         "6e6f04",
         "seqno 4 at offset 22 is below a key version 5"},
        {"a2646d617073a1616d81824161413165736571"
         "6e6f01",
         "2 items, expected [key, value, version]"},
        {"a2646d617073a1616d818341614131f665736571"
         "6e6f01",
         "expected unsigned integer, found null"},
        {"a2646d617073a1616d818361614131"
         "01657365716e6f01",
         "expected byte string, found text"},
        {"a2646d617073a1616d82834162413101834161413101657365716e6f01", "duplicate or out of order"},
        {"a2646d617073a1616d82834161413101834161413101657365716e6f01", "key \"a\" at offset"},
        {"a2646d617073a2616e818341614131"
         "01616d81834161413101657365716e6f01",
         "map name \"m\""},
        {"a2646d617073a1616d81834161f601657365716e6f01",
         "value at offset 13: expected byte string, found null"},
        {"a2646d617073a1600000657365716e6f01", "map name of 0 bytes"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        cs_buf b;
        cs_buf_init(&b, 0);
        cst_hex(cases[i].hex, &b);
        assert_snapshot_rejected(s, &snap, cs_buf_slice(&b), cases[i].msg);
        cs_buf_cleanup(&b);
    }

    /* oversized keys and values against the store's caps */
    cs_kv_limits small = {.max_key = 1, .max_value = 1};
    cs_kv_store *tiny;
    cst_ok(cs_kv_store_new(&small, &tiny));
    cs_buf tiny_snap;
    kvt_snapshot(tiny, &tiny_snap);
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_hex("a2646d617073a1616d81834261614131"
            "01657365716e6f01",
            &b);
    assert_snapshot_rejected(tiny, &tiny_snap, cs_buf_slice(&b), "2 bytes, the cap is 1");
    cs_buf_cleanup(&b);
    cst_hex("a2646d617073a1616d81834161423131"
            "01657365716e6f01",
            &b);
    assert_snapshot_rejected(tiny, &tiny_snap, cs_buf_slice(&b), "2 bytes, the cap is 1");
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&tiny_snap);
    cs_kv_store_free(tiny);

    /* every single-bit change is rejected or round-trips exactly */
    for (size_t bit = 0; bit < good.len * 8; bit++) {
        good.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cs_kv_store *u = kvt_store();
        if (cs_kv_restore(u, cs_buf_slice(&good)) == CONSORT_OK)
            kvt_assert_snapshot(u, &good);
        else
            kvt_assert_snapshot(
                u, &(cs_buf){.ptr = (uint8_t *)"\xa2\x64maps\xa0\x65seqno\x00", .len = 14});
        cs_kv_store_free(u);
        good.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cs_buf_cleanup(&good);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_set_bytes_are_exact),
        cmocka_unit_test(encoding_is_deterministic),
        cmocka_unit_test(apply_and_restore_reproduce_the_store),
        cmocka_unit_test(apply_checks_seqno_and_kind),
        cmocka_unit_test(write_set_decoder_rejects_malformed_input),
        cmocka_unit_test(write_set_caps),
        cmocka_unit_test(snapshot_decoder_rejects_malformed_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
