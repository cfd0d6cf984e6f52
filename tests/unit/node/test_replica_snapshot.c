/*
 * The replica's checks on snapshot bytes (replica.h
 * node_replica_snapshot_install): a running single-node service makes a
 * genuine snapshot; a replica created on its own (no node, no raft, no
 * network: the part by itself) holding the service's secret must refuse one
 * altered in transit, one whose tree (its peaks) does not give the root
 * signed inside it, one whose store is not the state its signature entry
 * states, and an install that fails half-way must leave it exactly as it
 * was. Snapshots of format 2 (every leaf, as nodes before format 3 made
 * them) install.
 */
#include "node_fixture.h"
#include "snap_format2.h"
#include "store/ledger_writer.h"

#include "base/cbor.h"
#include "consensus/fsm.h"
#include "crypto/aead.h"
#include "node/node_priv.h"
#include "node/replica_priv.h"

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node;
    char fresh_dir[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    snprintf(f->fresh_dir, sizeof f->fresh_dir, "%s/fresh", f->env.root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tn_stop_and_close_loop(&f->loop, &f->node);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

/* A single node with signatures every few entries and 40 records. */
static node_replica *start_busy_service(fixture *f)
{
    tn_config(&f->env, &f->node, 0, NULL);
    f->node.cfg.snapshot_interval = 8;
    tn_start(&f->loop, &f->node);
    for (int i = 0; i < 40; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        (void)tn_put(&f->loop, &f->node, k, v);
    }
    return f->node.n->replica;
}

/* The key snapshots are sealed with (replica_snapshot.c). */
static void snap_key(node_replica *r, uint8_t key[32])
{
    cst_ok(cs_ledger_keys_derive(node_replica_keys(r), "consort snapshot v3", key));
}

typedef struct snap_wait {
    node_replica *r;
    cs_buf *out;
} snap_wait;

static bool made(void *ctx)
{
    snap_wait *w = ctx;
    cs_buf_reset(w->out);
    return node_replica_snapshot_make(w->r, w->out) == CONSORT_OK;
}

/* A replica of its own holding the service's secret and certificate (as a
 * node that joined would), its state and ledger empty. */
static node_replica *fresh_replica(fixture *f)
{
    const node_replica_opts o = {
        .data_dir = f->fresh_dir, .chunk_size = 1 << 20, .node_id = "fresh"};
    cst_ok(cs_mkdir_p(f->fresh_dir, 0700));
    node_replica *r;
    cst_ok(node_replica_new(&o, &r));
    node_vault *v = f->node.n->vault;
    node_replica_set_service(r, node_vault_secret(v), node_vault_service_cert(v));
    cst_ok(node_replica_recover(r, 0));
    return r;
}

/* Opens a snapshot, lets `edit` change its plaintext, and seals it again
 * with the service's key: what someone holding the ledger secret (but no
 * node key) could make. */
static void reseal(node_replica *r, const cs_buf *snap, void (*edit)(cs_buf *plain, void *ctx),
                   void *ctx, cs_buf *out)
{
    uint8_t key[32];
    snap_key(r, key);
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_aead_open(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP03"),
                        CS_SLICE(snap->ptr + 20, snap->len - 20), &plain));
    edit(&plain, ctx);
    cs_buf_reset(out);
    cst_ok(cs_buf_append(out, snap->ptr, 20));
    cst_ok(cs_aead_seal(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP03"), cs_buf_slice(&plain), out));
    cs_wipe(key, sizeof key);
    cs_buf_cleanup(&plain);
}

/* Flips a bit of the first occurrence of `needle` in the snapshot's store
 * section. (Searched in the whole plaintext, it was once found first in
 * the bytes of the signature entry the snapshot carries, whose AEAD then
 * failed instead: CI.) */
typedef struct flip {
    const void *needle;
    size_t len;
    size_t at;
} flip;

static void flip_bytes(cs_buf *plain, void *ctx)
{
    flip *fl = ctx;
    replica_snap s;
    cst_ok(replica_snap_decode(cs_buf_slice(plain), 3, &s));
    const uint8_t *found = memmem(s.kv.ptr, s.kv.len, fl->needle, fl->len);
    assert_non_null(found);
    plain->ptr[(size_t)(found - plain->ptr) + fl->at] ^= 0x01;
}

/* Flips a bit of the snapshot's first peak, after checking that the tree
 * travels as its peaks: one hash per set bit of checkpoint - 1, never a
 * leaf per entry. */
static void flip_peak(cs_buf *plain, void *ctx)
{
    replica_snap s;
    cst_ok(replica_snap_decode(cs_buf_slice(plain), 3, &s));
    *(uint64_t *)ctx = s.seqno;
    assert_int_equal(s.peaks.len, (size_t)__builtin_popcountll(s.seqno - 1) * CS_MERKLE_HASH_LEN);
    assert_true(s.peaks.len > 0);
    plain->ptr[s.peaks.ptr - plain->ptr] ^= 0x01;
}

static void assert_untouched(node_replica *r)
{
    assert_int_equal(node_replica_applied(r), 0);
    assert_int_equal(cs_merkle_size(node_replica_tree(r)), 0);
    assert_int_equal(cs_kv_last_seqno(node_replica_kv(r)), 0);
}

/* `r` installed the snapshot of `from` at `checkpoint`: applied up to it,
 * its tree holding the leaves from there on (the ones before as peaks),
 * with the root `from` had. */
static void assert_installed_at(node_replica *r, node_replica *from, uint64_t checkpoint)
{
    assert_int_equal(node_replica_applied(r), checkpoint);
    const cs_merkle_tree *t = node_replica_tree(r);
    assert_int_equal(cs_merkle_first_held(t), checkpoint - 1);
    uint8_t got[CS_MERKLE_HASH_LEN], want[CS_MERKLE_HASH_LEN];
    cs_merkle_root(t, got);
    cst_ok(cs_merkle_root_at(node_replica_tree(from), checkpoint, want));
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
}

/* The replica's next snapshot, into `out` (initialised here as a secret
 * buffer; the caller cleans it up). */
static void wait_snapshot(fixture *f, node_replica *r, cs_buf *out)
{
    cs_buf_init_secret(out, CS_FSM_SNAPSHOT_MAX);
    snap_wait w = {.r = r, .out = out};
    tn_run_until(&f->loop, 5000, made, &w, "a snapshot");
}

static void refuse_bad_snapshots(void **state)
{
    fixture *f = *state;
    node_replica *r0 = start_busy_service(f);
    cs_buf snap;
    wait_snapshot(f, r0, &snap);
    node_replica *fresh = fresh_replica(f);

    /* altered in transit: the AEAD tag fails */
    cs_buf bad;
    cs_buf_init_secret(&bad, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_buf_set(&bad, cs_buf_slice(&snap)));
    bad.ptr[bad.len / 2] ^= 0x01;
    cst_fails(node_replica_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_TAG);
    /* truncated */
    cst_fails(node_replica_snapshot_install(fresh, CS_SLICE(snap.ptr, 10), true),
              CONSORT_E_TRUNCATED);

    /* validly sealed, but one peak changed: its root is not the signed one */
    uint64_t checkpoint = 0;
    reseal(r0, &snap, flip_peak, &checkpoint, &bad);
    cst_fails(node_replica_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "root"));
    assert_untouched(fresh);

    /* the store altered under a genuine tree: one value changed ("v17" of
     * key k17, same length): the state digest is not the signed one */
    flip fl = {.needle = "v17", .len = 3, .at = 1};
    reseal(r0, &snap, flip_bytes, &fl, &bad);
    cst_fails(node_replica_snapshot_install(fresh, cs_buf_slice(&bad), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "not the state it signs"));
    assert_untouched(fresh);

    /* the genuine one installs: the checkpoint (from disk: the ledger holds
     * the tail) */
    cst_ok(node_replica_snapshot_install(fresh, cs_buf_slice(&snap), true));
    assert_int_equal(node_replica_applied(fresh), node_replica_applied_sig(r0));
    assert_int_equal(cs_kv_last_seqno(node_replica_kv(fresh)), node_replica_applied_sig(r0));
    assert_installed_at(fresh, r0, checkpoint);
    cs_buf_cleanup(&bad);
    cs_buf_cleanup(&snap);
    node_replica_free(fresh);
}

/* A snapshot install that fails half-way (here: its copy cannot be saved,
 * or the new ledger cannot be prepared) leaves the replica exactly as it
 * was; the same snapshot installs once the cause is gone. */
static void failed_install_changes_nothing(void **state)
{
    fixture *f = *state;
    node_replica *r0 = start_busy_service(f);
    cs_buf snap;
    wait_snapshot(f, r0, &snap);
    node_replica *fresh = fresh_replica(f);
    char snapshots[600], next[600];
    snprintf(snapshots, sizeof snapshots, "%s/snapshots", f->fresh_dir);
    snprintf(next, sizeof next, "%s/ledger.next", f->fresh_dir);

    /* snapshots/ is a file: the copy cannot be written */
    assert_int_equal(rmdir(snapshots), 0);
    FILE *fp = fopen(snapshots, "w");
    assert_non_null(fp);
    fclose(fp);
    consort_err rc = node_replica_snapshot_install(fresh, cs_buf_slice(&snap), false);
    assert_int_equal(rc, CONSORT_E_IO); /* snapshots/ is a file */
    assert_untouched(fresh);
    assert_non_null(fresh->ledger);
    assert_int_equal(unlink(snapshots), 0);
    cst_ok(cs_mkdir_p(snapshots, 0700));

    /* the new ledger's directory cannot be made */
    fp = fopen(next, "w");
    assert_non_null(fp);
    fclose(fp);
    rc = node_replica_snapshot_install(fresh, cs_buf_slice(&snap), false);
    assert_int_equal(rc, CONSORT_E_IO); /* ledger.next is a file */
    assert_untouched(fresh);
    assert_non_null(fresh->ledger);
    assert_int_equal(cs_ledger_writer_last_seqno(fresh->ledger), 0);
    assert_int_equal(unlink(next), 0);

    /* nothing in the way: installs, with the tail applied on top */
    cst_ok(node_replica_snapshot_install(fresh, cs_buf_slice(&snap), false));
    uint64_t applied = node_replica_applied(r0);
    assert_int_equal(node_replica_applied(fresh), applied);
    assert_int_equal(cs_ledger_writer_last_seqno(fresh->ledger), applied);
    uint8_t a[32], b[32];
    cs_kv_state_digest(node_replica_kv(fresh), a);
    cst_ok(cs_kv_snapshot_at(node_replica_kv(r0), applied, &snap)); /* reuse the buffer */
    cs_kv_store *copy;
    cst_ok(cs_kv_store_new(NULL, &copy));
    cst_ok(cs_kv_store_exclude_from_digest(copy, CS_SLICE_LIT(CS_LEDGER_SIG_MAP)));
    cst_ok(cs_kv_restore(copy, cs_buf_slice(&snap)));
    cs_kv_state_digest(copy, b);
    assert_memory_equal(a, b, 32);
    cs_kv_store_free(copy);
    cs_buf_cleanup(&snap);
    node_replica_free(fresh);
}

/* The same snapshot as format 2 (snap_format2.h), leaf `altered` (if not
 * 0) altered, sealed as format 2 was. Returns its checkpoint. */
static uint64_t as_format_2(node_replica *r, const cs_buf *snap, uint64_t altered, cs_buf *out)
{
    uint8_t key[32];
    snap_key(r, key);
    cs_buf plain, v2;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    cs_buf_init_secret(&v2, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_aead_open(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP03"),
                        CS_SLICE(snap->ptr + 20, snap->len - 20), &plain));
    uint64_t checkpoint = snap_plain_as_format_2(r, cs_buf_slice(&plain), altered, &v2);
    cst_ok(cs_ledger_keys_derive(node_replica_keys(r), "consort snapshot v2", key));
    cs_buf_reset(out);
    cst_ok(cs_buf_append(out, "CSSNAP02", 8));
    cst_ok(cs_buf_append(out, snap->ptr + 8, 12));
    cst_ok(cs_aead_seal(key, snap->ptr + 8, CS_SLICE_LIT("CSSNAP02"), cs_buf_slice(&v2), out));
    cs_wipe(key, sizeof key);
    cs_buf_cleanup(&v2);
    cs_buf_cleanup(&plain);
    return checkpoint;
}

/* A node of this version joins a service whose leader still makes format 2
 * snapshots (a rolling update from the version before): it installs them,
 * with the same checks (a leaf that does not give the signed root, or a
 * last leaf that is not the signature entry, is refused), into a tree that
 * holds the leaves from the checkpoint on. */
static void reads_format_2(void **state)
{
    fixture *f = *state;
    node_replica *r0 = start_busy_service(f);
    cs_buf snap, v2;
    cs_buf_init_secret(&v2, CS_FSM_SNAPSHOT_MAX);
    wait_snapshot(f, r0, &snap);
    node_replica *fresh = fresh_replica(f);
    const uint64_t checkpoint = as_format_2(r0, &snap, 1, &v2);
    cst_fails(node_replica_snapshot_install(fresh, cs_buf_slice(&v2), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "root"));
    assert_untouched(fresh);
    as_format_2(r0, &snap, checkpoint, &v2);
    cst_fails(node_replica_snapshot_install(fresh, cs_buf_slice(&v2), true), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "is not its signature entry"));
    assert_untouched(fresh);

    as_format_2(r0, &snap, 0, &v2);
    cst_ok(node_replica_snapshot_install(fresh, cs_buf_slice(&v2), true));
    assert_installed_at(fresh, r0, checkpoint);
    cs_buf_cleanup(&v2);
    cs_buf_cleanup(&snap);
    node_replica_free(fresh);
}

/* The decoder refuses a tree part of the wrong size: format 3 wants one
 * hash per set bit of seqno - 1, format 2 one leaf per entry. */
static void tree_part_of_the_wrong_size(void **state)
{
    (void)state;
    static const uint8_t hashes[3 * CS_MERKLE_HASH_LEN];
    struct {
        unsigned format;
        size_t len;
        consort_err want;
    } cases[] = {{3, 2 * CS_MERKLE_HASH_LEN, CONSORT_OK}, /* seqno 4: 3 = 0b11 */
                 {3, 1 * CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED},
                 {3, 3 * CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED},
                 {2, 3 * CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED},
                 {2, 0, CONSORT_E_MALFORMED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_buf p;
        cs_buf_init(&p, 0);
        cst_ok(cs_cbor_write_map(&p, 7));
        cst_ok(cs_cbor_write_cstr(&p, "seqno"));
        cst_ok(cs_cbor_write_uint(&p, 4));
        cst_ok(cs_cbor_write_cstr(&p, "term"));
        cst_ok(cs_cbor_write_uint(&p, 1));
        cst_ok(cs_cbor_write_cstr(&p, "terms"));
        cst_ok(cs_cbor_write_array(&p, 0));
        cst_ok(cs_cbor_write_cstr(&p, cases[i].format == 2 ? "leaves" : "peaks"));
        cst_ok(cs_cbor_write_bytes(&p, CS_SLICE(hashes, cases[i].len)));
        cst_ok(cs_cbor_write_cstr(&p, "sig"));
        cst_ok(cs_cbor_write_bytes(&p, CS_SLICE_EMPTY));
        cst_ok(cs_cbor_write_cstr(&p, "kv"));
        cst_ok(cs_cbor_write_bytes(&p, CS_SLICE_EMPTY));
        cst_ok(cs_cbor_write_cstr(&p, "tail"));
        cst_ok(cs_cbor_write_array(&p, 0));
        replica_snap d;
        consort_err rc = replica_snap_decode(cs_buf_slice(&p), cases[i].format, &d);
        assert_int_equal(rc, cases[i].want);
        if (rc != CONSORT_OK)
            assert_non_null(strstr(consort_errmsg(), "bytes of"));
        cs_buf_cleanup(&p);
    }
}

/* A node ahead of a snapshot's checkpoint (raft restoring, at start, the
 * snapshot a restart already began from, or one a leader sends late)
 * keeps its own store: it checks the snapshot's tree against its ledger
 * and walks its tail, and never rebuilds the snapshot's store (a million
 * keys took seconds, twice per restart). So a store altered under a
 * genuine tree does not matter to it (a node installing it in full
 * refuses it: refuse_bad_snapshots); a tree that is not its ledger's
 * still does. */
static void ahead_reads_only_the_tree_and_tail(void **state)
{
    fixture *f = *state;
    node_replica *r0 = start_busy_service(f);
    cs_buf snap, bad;
    cs_buf_init_secret(&bad, CS_FSM_SNAPSHOT_MAX);
    wait_snapshot(f, r0, &snap);
    const uint64_t applied = node_replica_applied(r0);
    uint8_t root[CS_MERKLE_HASH_LEN], now[CS_MERKLE_HASH_LEN];
    cs_merkle_root(node_replica_tree(r0), root);

    cst_ok(node_replica_snapshot_install(r0, cs_buf_slice(&snap), false));
    flip fl = {.needle = "v17", .len = 3, .at = 1};
    reseal(r0, &snap, flip_bytes, &fl, &bad);
    cst_ok(node_replica_snapshot_install(r0, cs_buf_slice(&bad), false));
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "k17", v), "v17"); /* its own */
    uint64_t checkpoint = 0;
    reseal(r0, &snap, flip_peak, &checkpoint, &bad);
    cst_fails(node_replica_snapshot_install(r0, cs_buf_slice(&bad), false), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "disagrees with the ledger"));
    assert_int_equal(node_replica_applied(r0), applied);
    cs_merkle_root(node_replica_tree(r0), now);
    assert_memory_equal(now, root, sizeof root);
    cs_buf_cleanup(&bad);
    cs_buf_cleanup(&snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refuse_bad_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_install_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_format_2, setup, teardown),
        cmocka_unit_test_setup_teardown(ahead_reads_only_the_tree_and_tail, setup, teardown),
        cmocka_unit_test(tree_part_of_the_wrong_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
