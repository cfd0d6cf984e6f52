/*
 * Snapshots through the whole node: a node joining a service whose raft log
 * was compacted catches up from a snapshot, serves what it restored,
 * restarts from the saved snapshot plus its ledger. (The replica's checks on
 * snapshot bytes are in test_replica_snapshot.c.)
 */
#include "base/alloc.h"
#include "consensus/raft_heap.h"
#include "node_fixture.h"

#include "node/node_priv.h"
#include "node/replica.h"
#include "store/receipt.h"

#include <unistd.h>

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node[2];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 2; i++)
        tn_stop(&f->loop, &f->node[i]);
    tn_close_loop(&f->loop);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

static uint64_t metric(cs_node *n, const char *name)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_metrics_text(n, &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s{", name);
    const char *p = strstr((const char *)out.ptr, pat);
    assert_non_null(p);
    p = strchr(p, '}');
    uint64_t v = strtoull(p + 2, NULL, 10);
    cs_buf_cleanup(&out);
    return v;
}

static void start_busy_service(fixture *f, cs_txid *first, cs_txid *last)
{
    tn_config(&f->env, &f->node[0], 0, NULL);
    f->node[0].cfg.snapshot_interval = 8;
    tn_start(&f->loop, &f->node[0]);
    for (int i = 0; i < 40; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        cs_txid t = tn_put(&f->loop, &f->node[0], k, v);
        if (i == 0)
            *first = t;
        *last = t;
    }
    tn_run_for(&f->loop, 200);
    assert_true(metric(f->node[0].n, "consort_snapshots_taken_total") >= 1);
}

/* node_snapshot_threshold (replica.h): a quarter of the snapshot's bytes of
 * log, at the average entry size, and never fewer than the interval. */
static void threshold_follows_snapshot_bytes(void **state)
{
    (void)state;
    assert_int_equal(node_snapshot_threshold(100, 0, 0, 0), 100);
    assert_int_equal(node_snapshot_threshold(100, 1 << 20, 0, 0), 100);   /* no entries yet */
    assert_int_equal(node_snapshot_threshold(100, 40000, 1000, 10), 100); /* 40000/4/100 = 100 */
    assert_int_equal(node_snapshot_threshold(100, 400000, 1000, 10), 1000);
    /* a store 10x larger: 10x more entries between snapshots, so the bytes a
     * snapshot encodes per entry stay the same */
    assert_int_equal(node_snapshot_threshold(100, 4000000, 1000, 10), 10000);
    assert_int_equal(node_snapshot_threshold(2, UINT64_MAX, 1, 1), UINT32_MAX);
}

/* Through the node: after a snapshot much larger than `interval` entries of
 * log, raft's threshold is raised to what node_snapshot_threshold says. */
static void node_raises_its_snapshot_threshold(void **state)
{
    fixture *f = *state;
    tn_config(&f->env, &f->node[0], 0, NULL);
    f->node[0].cfg.snapshot_interval = 4;
    tn_start(&f->loop, &f->node[0]);
    char value[60];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        (void)tn_put(&f->loop, &f->node[0], k, value);
    }
    tn_run_for(&f->loop, 200);
    cs_node *n = f->node[0].n;
    node_replica_stats st = node_replica_get_stats(n->replica);
    assert_true(st.snapshots_taken >= 1);
    uint64_t want =
        node_snapshot_threshold(4, st.last_snapshot_bytes, st.entry_bytes, st.entries_applied);
    assert_true(want > 4);
    /* the threshold set after the last snapshot (the averages move a little
     * with each entry applied since) */
    unsigned have = cs_consensus_snapshot_threshold(n->cons);
    assert_true(have > 4);
    assert_true(have >= want / 2 && have <= want * 2);
}

/* node_snapshot_log_cap (replica.h): snapshot_log_kib, or a quarter of the
 * last snapshot when that is more. */
static void log_cap_follows_snapshot_bytes(void **state)
{
    (void)state;
    assert_int_equal(node_snapshot_log_cap(1000, 0), 1000);
    assert_int_equal(node_snapshot_log_cap(1000, 4000), 1000);
    assert_int_equal(node_snapshot_log_cap(1000, 40000), 10000);
}

typedef struct held_bound {
    cs_node *n;
    uint64_t since_snapshot; /* at most this many entry bytes since the last snapshot */
    uint64_t held;           /* and at most this many held in all */
} held_bound;

static bool log_held_within(void *ctx)
{
    const held_bound *b = ctx;
    size_t held = 0;
    uint64_t held_bytes = 0;
    cs_consensus_log_held(b->n->cons, &held, &held_bytes);
    return node_replica_get_stats(b->n->replica).entry_bytes_since_snapshot <= b->since_snapshot &&
           held > 0 && held_bytes <= b->held;
}

/* Large entries: far fewer than snapshot_interval of them, but more bytes
 * than snapshot_log_kib, and the node snapshots anyway (without the cap, raft
 * would hold 100,000 entries of any size in memory). */
static void large_entries_snapshot_by_bytes(void **state)
{
    fixture *f = *state;
    tn_config(&f->env, &f->node[0], 0, NULL);
    f->node[0].cfg.snapshot_interval = 100000;
    f->node[0].cfg.snapshot_log_kib = 64;
    uint64_t trims = cs_alloc_trims();
    tn_start(&f->loop, &f->node[0]);
    static char value[2001]; /* x2: each write puts it in two maps */
    memset(value, 'v', sizeof value - 1);
    for (int i = 0; i < 120; i++) { /* about 480 KB of log */
        char k[16];
        snprintf(k, sizeof k, "k%d", i % 8); /* the state stays small */
        (void)tn_put(&f->loop, &f->node[0], k, value);
    }
    tn_run_for(&f->loop, 200);
    cs_node *n = f->node[0].n;
    node_replica_stats st = node_replica_get_stats(n->replica);
    assert_true(st.entry_bytes > 3 * (64 << 10));
    assert_true(st.snapshots_taken >= 2);
    assert_true(cs_consensus_snapshot_trailing(n->cons) <= NODE_SNAPSHOT_TRAILING_MIN);
    /* what raft holds since the last snapshot: under the cap, plus an entry
     * or two applied while it was being made; and in all: that, plus the
     * entries it keeps before the last snapshot, by bytes (a quarter of the
     * cap: at least NODE_SNAPSHOT_TRAILING_MIN of these; 2,048 of them by
     * count held the whole 480 KB). Waited for, not sampled: while a
     * snapshot is being written raft still holds what it will truncate
     * (seen once in CI on a loaded machine) */
    held_bound hb = {n, (64 << 10) + 6 * sizeof value,
                     (64 << 10) + (NODE_SNAPSHOT_TRAILING_MIN + 6) * 2 * sizeof value +
                         (64 << 10) / 4};
    tn_run_until(&f->loop, 10000, log_held_within, &hb, "raft's log held within the bounds");
    /* and the heap gives back what the log held (cs_alloc_trim_soon: in
     * the allocator's worker) */
    for (int i = 0; i < 300 && cs_alloc_trims() == trims; i++)
        usleep(10000);
    assert_true(cs_alloc_trims() > trims);
}

/* With consortd's raft heap (consensus/raft_heap.h), entries of 16 KiB or
 * more are mappings of their own: the snapshots that truncate a log of
 * them give their memory back as they free it, and the node does not
 * trim the heap, whose lock its loop would wait for (node_snapshot_release
 * counts only what raft freed inside the heap). */
static int setup_raft_heap(void **state)
{
    cs_raft_heap_install(); /* before the node's raft allocates anything */
    return setup(state);
}

static int teardown_raft_heap(void **state)
{
    int rc = teardown(state); /* nothing of raft's is held after it */
    cs_raft_heap_uninstall();
    return rc;
}

/* The trim count once no trim asked for before (by the tests before this
 * one) is still to run. */
static uint64_t trims_settled(void)
{
    uint64_t t;
    do {
        t = cs_alloc_trims();
        usleep(200000);
    } while (cs_alloc_trims() != t);
    return t;
}

static void mapped_entries_need_no_trim(void **state)
{
    fixture *f = *state;
    tn_config(&f->env, &f->node[0], 0, NULL);
    f->node[0].cfg.snapshot_interval = 100000;
    f->node[0].cfg.snapshot_log_kib = 256; /* a log of more than half a snapshot between two */
    tn_start(&f->loop, &f->node[0]);
    cs_raft_heap_stats before = cs_raft_heap_stats_get();
    uint64_t trims = trims_settled();
    static char value[20001];
    uint32_t x = 12345; /* letters at random: an entry that does not compress */
    for (size_t b = 0; b + 1 < sizeof value; b++) {
        x = x * 1103515245u + 12345u;
        value[b] = (char)('a' + (x >> 16) % 26);
    }
    for (int i = 0; i < 96; i++) { /* about 2 MB of log */
        value[i % 20000] = (char)('A' + i % 26);
        (void)tn_put(&f->loop, &f->node[0], "k", value); /* a state smaller than the log */
    }
    tn_run_for(&f->loop, 300);
    node_replica_stats st = node_replica_get_stats(f->node[0].n->replica);
    assert_true(st.snapshots_taken >= 2);
    cs_raft_heap_stats after = cs_raft_heap_stats_get();
    assert_true(after.mapped_blocks - before.mapped_blocks >= 96);
    /* what raft still holds: the log since the last snapshot and what it
     * keeps before it, well under the 2 MB written: the rest went back
     * to the system as the snapshots truncated the log */
    assert_true(after.mapped_bytes - before.mapped_bytes < 96 * sizeof value / 2);
    /* with libraft's heap the same log would be trimmed for (the log
     * between two snapshots holds more than half a snapshot's bytes) */
    assert_true(node_snapshot_trim_worth(st.last_snapshot_log_bytes, st.last_snapshot_bytes));
    usleep(100000); /* a trim asked for would have run by now */
    assert_int_equal(cs_alloc_trims(), trims);
}

/* node_snapshot_trim_worth (node_priv.h): the heap is trimmed after a
 * snapshot when the log it truncated held at least half the state's bytes
 * (1M keys of 64 B: a 79 MB snapshot after 64 MiB of log), not when the
 * walk would cost more than it returns (10M keys: 758 MB after 190 MB). */
static void trim_follows_the_log_share(void **state)
{
    (void)state;
    assert_true(node_snapshot_trim_worth(64 << 20, 79410716));
    assert_false(node_snapshot_trim_worth(190 << 20, 758072742));
    assert_true(node_snapshot_trim_worth(1000, 2000));
    assert_false(node_snapshot_trim_worth(999, 2000));
}

/* node_snapshot_trailing (replica.h): the entries kept before a snapshot,
 * by bytes, between NODE_SNAPSHOT_TRAILING_MIN and _MAX. */
static void trailing_follows_entry_bytes(void **state)
{
    (void)state;
    const uint64_t budget = 16 << 20;
    assert_int_equal(node_snapshot_trailing(budget, 0, 0), NODE_SNAPSHOT_TRAILING_MAX);
    assert_int_equal(node_snapshot_trailing(budget, 100 * 1000, 1000), NODE_SNAPSHOT_TRAILING_MAX);
    /* a 1M-key fill's entries of 256 keys (~21 KB): 798 of them, 16 MiB */
    assert_int_equal(node_snapshot_trailing(budget, 21000 * 100, 100), budget / 21000);
    assert_int_equal(node_snapshot_trailing(budget, (uint64_t)10 << 30, 10),
                     NODE_SNAPSHOT_TRAILING_MIN);
    assert_int_equal(node_snapshot_trailing(budget, 7, 100), NODE_SNAPSHOT_TRAILING_MAX);
}

typedef struct receipt_wait {
    cs_node *n;
    cs_txid txid;
    cs_buf json;
} receipt_wait;

static bool receipt_ready(void *ctx)
{
    receipt_wait *r = ctx;
    cs_buf_reset(&r->json);
    return cs_node_receipt(r->n, r->txid, &r->json) == CONSORT_OK;
}

static void join_from_snapshot(void **state)
{
    fixture *f = *state;
    cs_txid first, last;
    start_busy_service(f, &first, &last);
    tn_config(&f->env, &f->node[1], 1, f->node[0].cfg.node_address);
    f->node[1].cfg.snapshot_interval = 8;
    tn_start(&f->loop, &f->node[1]);
    char v[64];
    tnode *j = &f->node[1];
    for (int i = 0; i < 200 && cs_node_commit_txid(j->n).seqno < last.seqno; i++)
        tn_run_for(&f->loop, 50);
    assert_true(metric(j->n, "consort_snapshots_restored_total") >= 1);
    assert_string_equal(tn_get(j, "records", "k0", v), "v0");
    assert_string_equal(tn_get(j, "records", "k39", v), "v39");
    assert_int_equal(cs_node_tx_status(j->n, first), CS_TX_COMMITTED);
    /* a transaction after the join: the new node serves its receipt */
    cs_txid t = tn_put(&f->loop, &f->node[0], "after", "x");
    receipt_wait r = {.n = j->n, .txid = t};
    cs_buf_init(&r.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 10000, receipt_ready, &r, "receipt on the joined node");
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.json), cs_node_service_cert(j->n), &o));
    /* one from before its ledger starts is not available there: it exists
     * (another node has it), so STATE, never "not found" */
    cs_buf_reset(&r.json);
    cst_fails(cs_node_receipt(j->n, first, &r.json), CONSORT_E_STATE);
    cs_buf_cleanup(&r.json);

    /* The follower's own snapshots are made off its loop, with apply
     * deferred meanwhile (consensus/fsm.h); writes go on throughout. */
    for (int i = 0; i < 24; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        last = tn_put(&f->loop, &f->node[0], k, "y");
    }
    for (int i = 0; i < 200 && (cs_node_commit_txid(j->n).seqno < last.seqno ||
                                metric(j->n, "consort_snapshots_taken_total") < 1);
         i++)
        tn_run_for(&f->loop, 50);
    assert_true(metric(j->n, "consort_snapshots_taken_total") >= 1);
    assert_string_equal(tn_get(j, "records", "f23", v), "y");

    /* restart: the saved snapshot, its own latest one (raft restores it: it
     * must agree with the ledger) plus the ledger after it */
    tn_stop(&f->loop, j);
    tn_start(&f->loop, j);
    assert_string_equal(tn_get(j, "records", "k5", v), "v5");
    assert_string_equal(tn_get(j, "records", "after", v), "x");
    for (int i = 0; i < 200 && cs_node_commit_txid(j->n).seqno < last.seqno; i++)
        tn_run_for(&f->loop, 50);
    assert_string_equal(tn_get(j, "records", "f23", v), "y");
    assert_int_equal(cs_node_tx_status(j->n, last), CS_TX_COMMITTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(join_from_snapshot, setup, teardown),
        cmocka_unit_test(threshold_follows_snapshot_bytes),
        cmocka_unit_test(log_cap_follows_snapshot_bytes),
        cmocka_unit_test(trailing_follows_entry_bytes),
        cmocka_unit_test(trim_follows_the_log_share),
        cmocka_unit_test_setup_teardown(large_entries_snapshot_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(mapped_entries_need_no_trim, setup_raft_heap,
                                        teardown_raft_heap),
        cmocka_unit_test_setup_teardown(node_raises_its_snapshot_threshold, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
