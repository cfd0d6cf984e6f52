/*
 * The KV store's state digest (kv.h "state digest", docs/kv.md "State
 * digest"): known answers computed independently; followers that apply the
 * leader's write sets agree with it; rollback and restore give back the exact
 * digest; any change to a value, key, version or map name changes it, and
 * nothing else does; the excluded map is left out; the maintained digest
 * always equals a from-scratch scan (kvt_digest_of_snapshot).
 */
#include "kv_testutil.h"

#include <stdlib.h>

#define SIGS "public:consort.signatures"

typedef uint8_t digest_t[CS_KV_STATE_DIGEST_LEN];

/*
 * Known answers, computed with python3 and the `cryptography` package (not
 * with this code) from docs/kv.md "State digest":
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
 *   def element(m, k, ver, v):
 *       be = lambda n: struct.pack(">Q", n)
 *       return b"kv1" + be(len(m)) + m + be(len(k)) + k + be(ver) + be(len(v)) + v
 *   def state(entries):
 *       lanes = [0] * 1024
 *       for e in entries:
 *           lanes = [(a + b) & 0xffff for a, b in zip(lanes, expand(element(*e)))]
 *       return digest(lanes)
 *   print(state([]))                                                 # KAT_EMPTY
 *   print(state([(b"m", b"k1", 1, b"v1"), (b"m", b"k2", 1, b"old"),
 *                (b"public:p", b"", 1, b"")]))                       # KAT_SEQNO1
 *   print(state([(b"m", b"k2", 2, b"value two"),
 *                (b"public:p", b"", 1, b"")]))                       # KAT_SEQNO2
 */
#define KAT_EMPTY  "31c3fe9de27d1ec8141a29a8227722b1882c7bcacc9f2800bf84c645d0ea1803"
#define KAT_SEQNO1 "a4dc1a00155e9f9b6ad6a3f00689c061f38c81f4f4b5c8de7095472c302fe963"
#define KAT_SEQNO2 "d27e8f4de6c6eada3a656e641888ea51549155eb929b9531947c4679cfea94fd"

static void assert_digest_hex(const cs_kv_store *s, const char *hex)
{
    digest_t want, got;
    cst_ok(cs_hex_decode(hex, want, sizeof want));
    cs_kv_state_digest(s, got);
    assert_memory_equal(got, want, sizeof want);
}

/* The KAT history: seqno 1 and 2, and (with `sigs`) a signature-map write
 * at seqno 3 and inside seqno 2. */
static void kat_history(cs_kv_store *s, bool sigs)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("k1"), S("v1")));
    cst_ok(cs_kv_put(tx, S("m"), S("k2"), S("old")));
    cst_ok(cs_kv_put(tx, S("public:p"), CS_SLICE_EMPTY, CS_SLICE_EMPTY));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    assert_digest_hex(s, KAT_SEQNO1);
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("k2"), S("value two")));
    cst_ok(cs_kv_remove(tx, S("m"), S("k1")));
    if (sigs)
        cst_ok(cs_kv_put(tx, S(SIGS), S("sig"), S("first")));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    assert_digest_hex(s, KAT_SEQNO2);
    if (sigs) {
        kvt_write(s, SIGS, "sig", "second");
        assert_digest_hex(s, KAT_SEQNO2);
    }
}

static void known_answers(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    assert_digest_hex(s, KAT_EMPTY);
    kat_history(s, false);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_store_free(s);

    cs_kv_store *x = kvt_store();
    cst_ok(cs_kv_store_exclude_from_digest(x, S(SIGS)));
    assert_digest_hex(x, KAT_EMPTY);
    kat_history(x, true);
    kvt_assert_digest_scan(x, SIGS);
    cs_kv_store_free(x);
}

/* ---- a pseudo-random workload ---- */

static uint64_t rng = 0x853c49e6748fea9bULL;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

static const char *const maps[] = {"a", "b", "public:c", "public:d", SIGS, "late"};

/* One transaction of 1..6 puts and removes over a few maps and keys. */
static void random_tx(cs_kv_store *s, cs_buf *pub, cs_buf *priv)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    char key[8], value[24];
    /* "late" only gets keys after seqno 40: a map created mid-history */
    size_t nmaps = cs_kv_last_seqno(s) > 40 ? 6 : 5;
    for (uint64_t n = 1 + rnd(6); n > 0; n--) {
        const char *map = maps[rnd(nmaps)];
        snprintf(key, sizeof key, "k%u", (unsigned)rnd(12));
        if (rnd(4) == 0) {
            cst_ok(cs_kv_remove(tx, S(map), S(key)));
        } else {
            snprintf(value, sizeof value, "v%llu", (unsigned long long)rnd(1000000));
            cst_ok(cs_kv_put(tx, S(map), S(key), CS_SLICE(value, rnd(strlen(value) + 1))));
        }
    }
    cst_ok(kvt_commit_ws(tx, s, pub, priv));
    cs_kv_tx_free(tx);
}

static void followers_agree_with_the_leader(void **state)
{
    (void)state;
    cs_kv_store *leader = kvt_store(), *follower = kvt_store();
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    for (int i = 0; i < 200; i++) {
        random_tx(leader, &pub, &priv);
        uint64_t seqno = cs_kv_last_seqno(leader);
        cst_ok(cs_kv_apply(follower, seqno, cs_buf_slice(&pub), cs_buf_slice(&priv)));
        kvt_assert_same_digest(leader, follower);
        if (i % 10 == 0)
            kvt_assert_digest_scan(leader, NULL);
    }
    kvt_assert_digest_scan(follower, NULL);
    /* the digest really moved: it is not the empty one */
    digest_t empty, now;
    cs_kv_store *fresh = kvt_store();
    cs_kv_state_digest(fresh, empty);
    cs_kv_state_digest(leader, now);
    assert_memory_not_equal(empty, now, sizeof now);
    cs_kv_store_free(fresh);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(leader);
    cs_kv_store_free(follower);
}

#define HISTORY 120

static void rollback_gives_back_the_digest(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    static digest_t at[HISTORY + 1];
    cs_kv_state_digest(s, at[0]);
    for (int i = 1; i <= HISTORY; i++) {
        random_tx(s, NULL, NULL);
        cs_kv_state_digest(s, at[i]);
    }
    /* back in uneven steps, re-committing different transactions between */
    uint64_t to = HISTORY;
    while (to > 10) {
        to -= 1 + rnd(10); /* stays >= 1 */
        cst_ok(cs_kv_rollback(s, to));
        digest_t got;
        cs_kv_state_digest(s, got);
        assert_memory_equal(got, at[to], sizeof got);
        kvt_assert_digest_scan(s, NULL);
        uint64_t redo = 1 + rnd(5);
        for (uint64_t k = 1; k <= redo; k++) {
            random_tx(s, NULL, NULL);
            cs_kv_state_digest(s, at[to + k]);
        }
        cst_ok(cs_kv_rollback(s, to + 1));
        cs_kv_state_digest(s, got);
        assert_memory_equal(got, at[to + 1], sizeof got);
        cst_ok(cs_kv_rollback(s, to));
    }
    cst_ok(cs_kv_rollback(s, 0));
    assert_digest_hex(s, KAT_EMPTY);
    /* a rollback that fails changes nothing */
    random_tx(s, NULL, NULL);
    digest_t before, after;
    cs_kv_state_digest(s, before);
    cst_fails(cs_kv_rollback(s, 5), CONSORT_E_INVALID_ARGUMENT);
    cs_kv_compact(s, 1);
    cst_fails(cs_kv_rollback(s, 0), CONSORT_E_STATE);
    cs_kv_state_digest(s, after);
    assert_memory_equal(before, after, sizeof before);
    cs_kv_store_free(s);
}

static void restore_gives_the_digest_of_the_source(void **state)
{
    (void)state;
    cs_kv_store *src = kvt_store(), *dst = kvt_store();
    for (int i = 0; i < 60; i++)
        random_tx(src, NULL, NULL);
    kvt_write(dst, "other", "key", "value");
    cs_buf snap;
    kvt_snapshot(src, &snap);
    cst_ok(cs_kv_restore(dst, cs_buf_slice(&snap)));
    kvt_assert_same_digest(src, dst);
    kvt_assert_digest_scan(dst, NULL);
    /* and the restored store keeps it up to date like any other */
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    random_tx(src, &pub, &priv);
    cst_ok(cs_kv_apply(dst, cs_kv_last_seqno(src), cs_buf_slice(&pub), cs_buf_slice(&priv)));
    kvt_assert_same_digest(src, dst);
    /* a restore that fails changes nothing */
    digest_t before, after;
    cs_kv_state_digest(dst, before);
    cst_fails(cs_kv_restore(dst, CS_SLICE(snap.ptr, snap.len - 1)), CONSORT_E_CORRUPT);
    cs_kv_state_digest(dst, after);
    assert_memory_equal(before, after, sizeof before);
    /* a store that excludes a map computes the restored digest without it */
    cs_kv_store *x = kvt_store();
    cst_ok(cs_kv_store_exclude_from_digest(x, S(SIGS)));
    cst_ok(cs_kv_restore(x, cs_buf_slice(&snap)));
    kvt_assert_digest_scan(x, SIGS);
    digest_t with, without;
    cs_kv_state_digest(x, without);
    cs_kv_store *y = kvt_store();
    cst_ok(cs_kv_restore(y, cs_buf_slice(&snap)));
    cs_kv_state_digest(y, with);
    assert_memory_not_equal(with, without, sizeof with); /* SIGS holds keys */
    cs_kv_store_free(x);
    cs_kv_store_free(y);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(src);
    cs_kv_store_free(dst);
}

/* ---- one change, one different digest ---- */

typedef struct entry {
    const char *map, *key, *value;
    uint64_t version;
} entry;

/* The canonical snapshot of `n` entries, which must be sorted by (map, key). */
static void encode_snapshot(const entry *e, size_t n, uint64_t seqno, cs_buf *out)
{
    cs_buf_init(out, 0);
    size_t nmaps = 0;
    for (size_t i = 0; i < n; i++)
        nmaps += i == 0 || strcmp(e[i].map, e[i - 1].map) != 0;
    cst_ok(cs_cbor_write_map(out, 2));
    cst_ok(cs_cbor_write_cstr(out, "maps"));
    cst_ok(cs_cbor_write_map(out, nmaps));
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(e[j].map, e[i].map) == 0)
            j++;
        cst_ok(cs_cbor_write_cstr(out, e[i].map));
        cst_ok(cs_cbor_write_array(out, j - i));
        for (; i < j; i++) {
            cst_ok(cs_cbor_write_array(out, 3));
            cst_ok(cs_cbor_write_bytes(out, S(e[i].key)));
            cst_ok(cs_cbor_write_bytes(out, S(e[i].value)));
            cst_ok(cs_cbor_write_uint(out, e[i].version));
        }
    }
    cst_ok(cs_cbor_write_cstr(out, "seqno"));
    cst_ok(cs_cbor_write_uint(out, seqno));
}

/* Restores the entries into a fresh store and returns its digest, checking
 * the restore reproduces the bytes and agrees with a scan. */
static void digest_of(const entry *e, size_t n, uint64_t seqno, digest_t out)
{
    cs_buf snap;
    encode_snapshot(e, n, seqno, &snap);
    cs_kv_store *s = kvt_store();
    cst_ok(cs_kv_restore(s, cs_buf_slice(&snap)));
    kvt_assert_snapshot(s, &snap);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_state_digest(s, out);
    cs_kv_store_free(s);
    cs_buf_cleanup(&snap);
}

#define NVARIANTS 13

static void every_change_changes_the_digest(void **state)
{
    (void)state;
    /* each variant differs from the base in one respect; all are canonical */
    static const entry variants[NVARIANTS][3] = {
        /* 0: the base */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 1: one value byte */
        {{"m", "a", "xz", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 2: a value one byte longer */
        {{"m", "a", "xy\x01", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 3: one key byte */
        {{"m", "A", "xy", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 4: a key one byte longer */
        {{"m", "a\x01", "xy", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 5: a version */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 3}, {"n", "c", "w", 3}},
        /* 6: a map name */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"o", "c", "w", 3}},
        /* 7: a key moved to another map */
        {{"m", "a", "xy", 1}, {"n", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 8: the key/value boundary moved ("a","xy" -> "ax","y") */
        {{"m", "ax", "y", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
        /* 9: the map/key boundary moved ("n","c" -> "nc","") */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"nc", "", "w", 3}},
        /* 10: key and value swapped */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"n", "w", "c", 3}},
        /* 11: a private map made public by name */
        {{"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"public:n", "c", "w", 3}},
        /* 12: the value/version boundary: an empty value */
        {{"m", "a", "", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}},
    };
    static digest_t d[NVARIANTS + 2];
    for (size_t i = 0; i < NVARIANTS; i++)
        digest_of(variants[i], 3, 5, d[i]);
    /* a key removed */
    digest_of(variants[0], 2, 5, d[NVARIANTS]);
    /* an extra key */
    static const entry extra[4] = {
        {"m", "a", "xy", 1}, {"m", "b", "v", 2}, {"n", "c", "w", 3}, {"n", "d", "", 4}};
    digest_of(extra, 4, 5, d[NVARIANTS + 1]);
    for (size_t i = 0; i < NVARIANTS + 2; i++) {
        for (size_t j = i + 1; j < NVARIANTS + 2; j++) {
            if (memcmp(d[i], d[j], sizeof d[i]) == 0)
                fail_msg("variants %zu and %zu have the same state digest", i, j);
        }
    }
    /* the same state at another seqno has the same digest: the seqno is not
     * part of it (a signature entry states the seqno it covers) */
    digest_t later;
    digest_of(variants[0], 3, 9, later);
    assert_memory_equal(later, d[0], sizeof later);
}

/* ---- the excluded map ---- */

static void the_excluded_map_is_left_out(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cst_fails(cs_kv_store_exclude_from_digest(s, CS_SLICE_EMPTY), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_kv_store_exclude_from_digest(s, CS_SLICE("\xff", 1)), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_kv_store_exclude_from_digest(s, S(SIGS)));
    cst_fails(cs_kv_store_exclude_from_digest(s, S("other")), CONSORT_E_STATE);
    cst_fails(cs_kv_store_exclude_from_digest(s, S(SIGS)), CONSORT_E_STATE);

    kvt_write(s, "m", "k", "v");
    digest_t base, now;
    cs_kv_state_digest(s, base);
    /* writes, overwrites and removals in the excluded map change nothing */
    kvt_write(s, SIGS, "sig", "one");
    cs_kv_state_digest(s, now);
    assert_memory_equal(now, base, sizeof now);
    kvt_write(s, SIGS, "sig", "two");
    kvt_write(s, SIGS, "other", "three");
    kvt_write(s, SIGS, "sig", NULL);
    cs_kv_state_digest(s, now);
    assert_memory_equal(now, base, sizeof now);
    kvt_assert_digest_scan(s, SIGS);
    /* a transaction writing both counts only the other map */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S(SIGS), S("sig"), S("four")));
    cst_ok(cs_kv_put(tx, S("m"), S("k2"), S("v2")));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    kvt_assert_digest_scan(s, SIGS);
    /* the same as a store without the excluded map's writes: the same keys
     * at the same versions (seqnos 2..5 here remove an absent key) */
    cs_kv_store *plain = kvt_store();
    kvt_write(plain, "m", "k", "v");
    for (int i = 0; i < 4; i++)
        kvt_write(plain, "m", "absent", NULL);
    kvt_write(plain, "m", "k2", "v2");
    assert_int_equal(cs_kv_last_seqno(plain), cs_kv_last_seqno(s));
    kvt_assert_same_digest(s, plain);
    cs_kv_store_free(plain);
    /* rollback across excluded writes */
    cst_ok(cs_kv_rollback(s, 1));
    cs_kv_state_digest(s, now);
    assert_memory_equal(now, base, sizeof now);
    /* exclusion is STATE once the store has been written */
    cs_kv_store *w = kvt_store();
    kvt_write(w, "m", "k", "v");
    cst_fails(cs_kv_store_exclude_from_digest(w, S(SIGS)), CONSORT_E_STATE);
    /* ... even when the write went only to the map to exclude */
    cs_kv_store *v = kvt_store();
    kvt_write(v, SIGS, "sig", "x");
    cst_fails(cs_kv_store_exclude_from_digest(v, S(SIGS)), CONSORT_E_STATE);
    cs_kv_store_free(v);
    cs_kv_store_free(w);
    cs_kv_store_free(s);
}

/* Empty maps are not in snapshots, so not in the digest either: a map whose
 * keys were all removed is the same state as no map. */
static void an_emptied_map_is_no_map(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v");
    kvt_write(s, "m", "k", NULL);
    assert_digest_hex(s, KAT_EMPTY);
    cs_buf snap;
    kvt_snapshot(s, &snap);
    cs_kv_store *r = kvt_store();
    cst_ok(cs_kv_restore(r, cs_buf_slice(&snap)));
    assert_digest_hex(r, KAT_EMPTY);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(r);
    cs_kv_store_free(s);
}

/* A commit that fails changes neither the store nor its digest. */
static void failed_commit_and_apply_leave_the_digest(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v");
    cs_kv_tx *stale;
    cst_ok(cs_kv_tx_begin(s, &stale));
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(stale, S("m"), S("k"), &v, &found));
    cst_ok(cs_kv_put(stale, S("m"), S("k2"), S("x")));
    kvt_write(s, "m", "k", "w");
    digest_t before, after;
    cs_kv_state_digest(s, before);
    cst_fails(kvt_commit(stale, s), CONSORT_E_BUSY);
    cs_kv_state_digest(s, after);
    assert_memory_equal(before, after, sizeof before);
    cs_kv_tx_free(stale);
    cst_fails(cs_kv_apply(s, cs_kv_last_seqno(s) + 1, S("\xa1\x61m\x80"), S("\xa0")),
              CONSORT_E_CORRUPT);
    cs_kv_state_digest(s, after);
    assert_memory_equal(before, after, sizeof before);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(followers_agree_with_the_leader),
        cmocka_unit_test(rollback_gives_back_the_digest),
        cmocka_unit_test(restore_gives_the_digest_of_the_source),
        cmocka_unit_test(every_change_changes_the_digest),
        cmocka_unit_test(the_excluded_map_is_left_out),
        cmocka_unit_test(an_emptied_map_is_no_map),
        cmocka_unit_test(failed_commit_and_apply_leave_the_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
