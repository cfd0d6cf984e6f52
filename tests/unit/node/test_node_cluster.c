/*
 * Three nodes in one process on loopback (real attested channels, real
 * raft, real files, one virtual platform): joins, replication, writes
 * refused on followers, the leader stopped and a new one elected, the old
 * leader restarted and catching up, identical ledgers that verify; and a
 * joiner running other code (another code id) refused.
 */
#include "app_fixture.h"
#include "node_fixture.h"

#include "base/alloc.h"
#include "base/file.h"
#include "node/node_priv.h"
#include "store/ledger.h"

#include <inttypes.h>
#include <unistd.h>

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node[3];
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
    for (int i = 0; i < 3; i++)
        tn_stop(&f->loop, &f->node[i]);
    tn_close_loop(&f->loop);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

typedef struct value_wait {
    tnode *t;
    const char *key, *want;
} value_wait;

static bool has_value(void *ctx)
{
    value_wait *w = ctx;
    char v[64];
    return cs_node_is_open(w->t->n) && strcmp(tn_get(w->t, "records", w->key, v), w->want) == 0;
}

static void wait_value(fixture *f, tnode *t, const char *key, const char *want)
{
    value_wait w = {.t = t, .key = key, .want = want};
    tn_run_until(&f->loop, 15000, has_value, &w, "value replicated");
}

typedef struct lead_wait {
    fixture *f;
    int skip;
    int leader;
} lead_wait;

static bool has_leader(void *ctx)
{
    lead_wait *w = ctx;
    for (int i = 0; i < 3; i++)
        if (i != w->skip && w->f->node[i].n != NULL && cs_node_is_leader(w->f->node[i].n)) {
            w->leader = i;
            return true;
        }
    return false;
}

static void start_three(fixture *f)
{
    tn_config(&f->env, &f->node[0], 0, NULL);
    tn_start(&f->loop, &f->node[0]);
    /* node 2 asks node 1, a follower: it is redirected to the leader */
    for (int i = 1; i < 3; i++) {
        tn_config(&f->env, &f->node[i], i, f->node[i - 1].cfg.node_address);
        tn_start(&f->loop, &f->node[i]);
    }
}

/* What a node's watcher saw: the leader it knew at the last event. */
typedef struct leader_watch {
    cs_node *n;
    int calls;
    char leader[CS_NODE_ADDR_MAX];
    const char *want;
} leader_watch;

static void leader_watch_cb(void *ctx, const cs_node_event *ev)
{
    leader_watch *w = ctx;
    (void)ev;
    w->calls++;
    cs_node_leader_rpc_address(w->n, w->leader);
}

static bool watch_saw_leader(void *ctx)
{
    const leader_watch *w = ctx;
    return strcmp(w->leader, w->want) == 0;
}

/* ---- the ledgers of stopped nodes, compared byte for byte ---- */

typedef struct ledger_copy {
    char dir[CS_NODE_PATH_MAX + 16];
    cs_buf *raw; /* raw[s - 1]: entry s */
    size_t count;
    cs_ledger_chunk *chunks;
    size_t nchunks;
    uint64_t last_signed;
} ledger_copy;

static void ledger_read(const char *data_dir, const cs_x509 *svc, ledger_copy *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s/ledger", data_dir);
    cs_ledger_verify_report rep;
    cst_ok(cs_ledger_verify(c->dir, svc, (int64_t)time(NULL), &rep));
    assert_int_equal(rep.torn_bytes, 0);
    c->last_signed = rep.last_signed_seqno;
    c->raw = calloc(rep.last_seqno, sizeof *c->raw);
    assert_non_null(c->raw);
    cs_ledger_reader *r;
    cst_ok(cs_ledger_reader_open(c->dir, &r));
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(r, &rec, &done));
        if (done)
            break;
        assert_int_equal(rec.entry.seqno, c->count + 1);
        assert_true(c->count < rep.last_seqno);
        cs_buf_init(&c->raw[c->count], 0);
        cst_ok(cs_buf_append_slice(&c->raw[c->count], rec.entry.raw));
        c->count++;
    }
    cs_ledger_reader_free(r);
    assert_int_equal(c->count, rep.last_seqno);
    cst_ok(cs_ledger_chunks_list(c->dir, &c->chunks, &c->nchunks));
}

static void ledger_copy_free(ledger_copy *c)
{
    for (size_t i = 0; i < c->count; i++)
        cs_buf_cleanup(&c->raw[i]);
    free(c->raw);
    cs_free(c->chunks);
}

/* Ledger b holds exactly a's entries, byte for byte, in the same chunk files
 * with the same bytes. */
static void ledgers_identical(const ledger_copy *a, const ledger_copy *b)
{
    if (a->count != b->count)
        fail_msg("%s holds %zu entries, %s %zu", a->dir, a->count, b->dir, b->count);
    for (size_t i = 0; i < a->count; i++)
        if (!cs_slice_eq(cs_buf_slice(&a->raw[i]), cs_buf_slice(&b->raw[i])))
            fail_msg("seqno %zu differs between %s and %s", i + 1, a->dir, b->dir);
    if (a->nchunks != b->nchunks)
        fail_msg("%s has %zu chunk files, %s %zu", a->dir, a->nchunks, b->dir, b->nchunks);
    for (size_t i = 0; i < a->nchunks; i++) {
        if (strcmp(a->chunks[i].name, b->chunks[i].name) != 0)
            fail_msg("chunk %zu: %s in %s, %s in %s", i, a->chunks[i].name, a->dir,
                     b->chunks[i].name, b->dir);
        char pa[CS_NODE_PATH_MAX + 16 + CS_LEDGER_NAME_MAX + 2], pb[sizeof pa];
        snprintf(pa, sizeof pa, "%s/%s", a->dir, a->chunks[i].name);
        snprintf(pb, sizeof pb, "%s/%s", b->dir, b->chunks[i].name);
        cs_buf fa, fb;
        cs_buf_init(&fa, 0);
        cs_buf_init(&fb, 0);
        cst_ok(cs_file_read(pa, &fa));
        cst_ok(cs_file_read(pb, &fb));
        if (!cs_slice_eq(cs_buf_slice(&fa), cs_buf_slice(&fb)))
            fail_msg("%s differs from %s (%zu and %zu bytes)", pa, pb, fa.len, fb.len);
        cs_buf_cleanup(&fa);
        cs_buf_cleanup(&fb);
    }
}

typedef struct commit_wait {
    fixture *f;
    uint64_t above;
} commit_wait;

/* Every node has committed the same entry, past `above`: the signature
 * entry that covers the last write is committed everywhere. */
static bool same_commit(void *ctx)
{
    commit_wait *w = ctx;
    cs_txid c0 = cs_node_commit_txid(w->f->node[0].n);
    for (int i = 1; i < 3; i++) {
        cs_txid c = cs_node_commit_txid(w->f->node[i].n);
        if (c.seqno != c0.seqno || c.term != c0.term)
            return false;
    }
    return c0.seqno > w->above;
}

/* Waits until all three nodes committed the same entry after `seqno`,
 * stops them, and checks that their ledgers verify and are identical: the
 * same entries byte for byte, in the same files with the same bytes, with
 * a signature entry after `seqno`. */
static void stop_and_compare_ledgers(fixture *f, uint64_t seqno)
{
    commit_wait cw = {.f = f, .above = seqno};
    tn_run_until(&f->loop, 15000, same_commit, &cw, "the same commit on every node");
    cs_x509 *svc;
    cst_ok(cs_x509_load_file(f->env.service_cert, &svc));
    ledger_copy l[3];
    for (int i = 0; i < 3; i++)
        tn_stop(&f->loop, &f->node[i]);
    for (int i = 0; i < 3; i++) {
        ledger_read(f->node[i].cfg.data_dir, svc, &l[i]);
        if (l[i].last_signed <= seqno)
            fail_msg("%s: last signature entry %" PRIu64 ", not after seqno %" PRIu64, l[i].dir,
                     l[i].last_signed, seqno);
    }
    cs_x509_free(svc);
    ledgers_identical(&l[0], &l[1]);
    ledgers_identical(&l[0], &l[2]);
    for (int i = 0; i < 3; i++)
        ledger_copy_free(&l[i]);
}

static void replicate_failover_catch_up(void **state)
{
    fixture *f = *state;
    start_three(f);
    assert_true(cs_node_is_leader(f->node[0].n));
    cs_txid t1 = tn_put(&f->loop, &f->node[0], "k1", "v1");
    for (int i = 1; i < 3; i++) {
        wait_value(f, &f->node[i], "k1", "v1");
        assert_int_equal(cs_node_tx_status(f->node[i].n, t1), CS_TX_COMMITTED);
        /* followers refuse writes (the HTTP layer forwards them) */
        tn_write w = {0};
        cst_fails(cs_node_write(f->node[i].n, tn_write_fn, &w, tn_write_done, &w), CONSORT_E_STATE);
        assert_false(w.done);
        char leader[CS_NODE_ADDR_MAX];
        cs_node_leader_rpc_address(f->node[i].n, leader);
        assert_string_equal(leader, f->node[0].cfg.rpc_address);
    }
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_network_json(f->node[2].n, &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    for (int i = 0; i < 3; i++)
        assert_non_null(strstr((const char *)out.ptr, cs_node_id(f->node[i].n)));
    cs_buf_cleanup(&out);

    /* the leader goes away: another is elected in a later term and takes writes */
    leader_watch watch[3] = {{.n = f->node[1].n}, {.n = f->node[2].n}};
    for (int i = 0; i < 2; i++)
        cst_ok(cs_node_watch(watch[i].n, leader_watch_cb, &watch[i]));
    tn_stop(&f->loop, &f->node[0]);
    lead_wait lw = {.f = f, .skip = 0};
    tn_run_until(&f->loop, 20000, has_leader, &lw, "a new leader");
    /* the node that stays a follower is told (node.h cs_node_watch): its
     * state and leadership did not change, the leader it knows did */
    leader_watch *fw = &watch[lw.leader == 1 ? 1 : 0];
    fw->want = f->node[lw.leader].cfg.rpc_address;
    tn_run_until(&f->loop, 5000, watch_saw_leader, fw, "the follower's watcher told of the leader");
    for (int i = 0; i < 2; i++)
        cs_node_unwatch(watch[i].n, leader_watch_cb, &watch[i]);
    cs_txid t2 = tn_put(&f->loop, &f->node[lw.leader], "k2", "v2");
    assert_true(t2.term > t1.term);
    assert_true(t2.seqno > t1.seqno);
    wait_value(f, &f->node[3 - lw.leader], "k2", "v2");

    /* the old leader restarts from its data directory and catches up */
    tn_start(&f->loop, &f->node[0]);
    wait_value(f, &f->node[0], "k2", "v2");
    assert_int_equal(cs_node_tx_status(f->node[0].n, t2), CS_TX_COMMITTED);
    assert_false(cs_node_is_leader(f->node[0].n));
    cs_txid t3 = tn_put(&f->loop, &f->node[lw.leader], "k3", "v3");
    for (int i = 0; i < 3; i++)
        wait_value(f, &f->node[i], "k3", "v3");

    /* every ledger verifies, and they are identical */
    stop_and_compare_ledgers(f, t3.seqno);
}

/* Every node is a voter in the configuration node `ctx` knows. */
static bool three_voters(void *ctx)
{
    cs_consensus *c = ((tnode *)ctx)->n->cons;
    cs_raft_member m[8];
    size_t count = 0, voters = 0;
    if (c == NULL || cs_consensus_members(c, m, 8, &count) != CONSORT_OK)
        return false;
    for (size_t i = 0; i < count; i++)
        voters += m[i].role == CS_RAFT_VOTER;
    return voters == 3;
}

static bool has_failed(void *ctx)
{
    return cs_node_get_state(((tnode *)ctx)->n) == CS_NODE_FAILED;
}

/* A follower whose raft cannot persist the next term (its disk full when the
 * next leader's term reaches it) fails, saying why, instead of living on as
 * a node that raft left (consensus.h on_failed): libraft 0.15 stops such a
 * server for good, silently (the chaos run of seed 1451262221). raft_uv
 * reads its metadata files at start only: links to /dev/full make the next
 * write of the term fail with ENOSPC. */
static void follower_whose_raft_stops_fails(void **state)
{
    fixture *f = *state;
    start_three(f);
    assert_true(cs_node_is_leader(f->node[0].n));
    tn_run_until(&f->loop, 20000, three_voters, &f->node[2], "node 2 a voter");
    tnode *t = &f->node[2];
    static const char *const names[] = {"metadata1", "metadata2"};
    for (size_t k = 0; k < 2; k++) {
        char path[CS_NODE_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/raft/%s", t->cfg.data_dir, names[k]);
        (void)unlink(path);
        assert_int_equal(symlink("/dev/full", path), 0);
    }
    tn_stop(&f->loop, &f->node[0]); /* the next election's term reaches node 2 */
    tn_run_until(&f->loop, 20000, has_failed, t, "node 2 failed");
    const char *why = cs_node_failure(t->n);
    assert_non_null(strstr(why, "persisting term"));
    assert_non_null(strstr(why, "no space left on device"));
}

/* A leader left without a quorum steps down: its uncommitted write fails
 * (outcome unknown) and its store is rolled back; once the others return,
 * the write is either committed everywhere or invalid everywhere. */
static void minority_leader_rolls_back(void **state)
{
    fixture *f = *state;
    start_three(f);
    tnode *l = &f->node[0];
    (void)tn_put(&f->loop, l, "base", "1");
    for (int i = 1; i < 3; i++)
        wait_value(f, &f->node[i], "base", "1");
    tn_stop(&f->loop, &f->node[1]);
    tn_stop(&f->loop, &f->node[2]);
    tn_write w = {0};
    snprintf(w.key, sizeof w.key, "lost");
    snprintf(w.value, sizeof w.value, "maybe");
    cst_ok(cs_node_write(l->n, tn_write_fn, &w, tn_write_done, &w));
    char v[64];
    /* reads see committed state only, on the leader too: never this write
     * before a majority holds it (docs/consistency.md) */
    assert_string_equal(tn_get(l, "records", "lost", v), "");
    tn_run_until(&f->loop, 15000, tn_write_is_done, &w, "the write to fail");
    assert_int_equal(w.rc, CONSORT_E_STATE);
    assert_true(w.txid.seqno > 0);
    assert_false(cs_node_is_leader(l->n));
    assert_string_equal(tn_get(l, "records", "lost", v), ""); /* rolled back */
    assert_string_equal(tn_get(l, "records", "base", v), "1");

    tn_start(&f->loop, &f->node[1]);
    tn_start(&f->loop, &f->node[2]);
    lead_wait lw = {.f = f, .skip = -1};
    tn_run_until(&f->loop, 20000, has_leader, &lw, "a leader again");
    cs_txid next = tn_put(&f->loop, &f->node[lw.leader], "next", "2");
    for (int i = 0; i < 3; i++)
        wait_value(f, &f->node[i], "next", "2");
    cs_tx_status st = cs_node_tx_status(f->node[0].n, w.txid);
    assert_true(st == CS_TX_COMMITTED || st == CS_TX_INVALID);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cs_node_tx_status(f->node[i].n, w.txid), st);
        assert_string_equal(tn_get(&f->node[i], "records", "lost", v),
                            st == CS_TX_COMMITTED ? "maybe" : "");
    }
    /* the rolled-back branch left nothing behind in any ledger */
    stop_and_compare_ledgers(f, next.seqno);
}

static void other_code_refused(void **state)
{
    fixture *f = *state;
    tn_config(&f->env, &f->node[0], 0, NULL);
    snprintf(f->node[0].cfg.app_path, sizeof f->node[0].cfg.app_path, "%s", cst_logging_module());
    tn_start(&f->loop, &f->node[0]);
    /* a joiner without the application module the service runs: its code id differs */
    tn_config(&f->env, &f->node[1], 1, f->node[0].cfg.node_address);
    cst_ok(cs_node_new(&f->loop, &f->node[1].cfg, &f->node[1].n));
    cst_ok(cs_node_start(f->node[1].n));
    tn_run_for(&f->loop, 2500);
    assert_string_equal(cs_node_state_name(f->node[1].n), "Joining");
    assert_null(cs_node_cert(f->node[1].n));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_node_network_json(f->node[0].n, &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    assert_null(strstr((const char *)out.ptr, cs_node_id(f->node[1].n)));
    cs_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(replicate_failover_catch_up, setup, teardown),
        cmocka_unit_test_setup_teardown(minority_leader_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(other_code_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(follower_whose_raft_stops_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
