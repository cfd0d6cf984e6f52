/*
 * The fixture of test_replica_restart.c: a running single-node service
 * that makes snapshots and keeps copies of them, copies of its files for
 * replicas of their own to restart on, and the checks that compare such a
 * replica with one that replayed the whole ledger.
 */
#ifndef CST_RESTART_FIXTURE_H
#define CST_RESTART_FIXTURE_H

#include "node_fixture.h"

#include "node/node_priv.h"
#include "node/replica_priv.h"
#include "base/alloc.h"
#include "base/file.h"
#include "store/ledger.h"
#include "store/receipt.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define PUTS 48

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node;
    tnode joiner; /* start_joined: a second node, joined from a snapshot */
    cs_txid tx[PUTS];
    uint64_t copy; /* the node's snapshot copy */
    char src[512];
    bool fatal;
    char why[256];
} fixture;

static inline int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    snprintf(f->src, sizeof f->src, "%s/node0", f->env.root);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    tn_stop(&f->loop, &f->joiner);
    tn_stop_and_close_loop(&f->loop, &f->node);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

/* The snapshots/ directory of `dir`: the seqno of its latest copy, and how
 * many copies (.bin) and unfinished ones (.part) it holds. */
static inline uint64_t copies_in(const char *dir, int *bins, int *parts)
{
    char path[600];
    snprintf(path, sizeof path, "%s/snapshots", dir);
    DIR *d = opendir(path);
    *bins = *parts = 0;
    if (d == NULL)
        return 0;
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long v;
        char ext[8];
        if (sscanf(de->d_name, "snapshot_%llu.%7s", &v, ext) != 2)
            continue;
        if (strcmp(ext, "bin") == 0) {
            (*bins)++;
            if (v > best)
                best = v;
        } else if (strcmp(ext, "part") == 0) {
            (*parts)++;
        }
    }
    closedir(d);
    return best;
}

typedef struct copy_wait {
    fixture *f;
    uint64_t after;
} copy_wait;

static inline bool copy_after(void *ctx)
{
    copy_wait *w = ctx;
    int bins, parts;
    w->f->copy = copies_in(w->f->src, &bins, &parts);
    return w->f->copy > w->after;
}

/* The node whose files restarts copy: the joiner once started. */
static inline tnode *source(fixture *f)
{
    return f->joiner.n != NULL ? &f->joiner : &f->node;
}

static inline bool signed_all(void *ctx)
{
    fixture *f = ctx;
    node_replica *r = source(f)->n->replica;
    return node_replica_applied_sig(r) > f->tx[PUTS - 1].seqno;
}

/* No snapshot being made (its copy is not left unfinished) and no copy
 * it superseded still being removed. */
static inline bool no_part(void *ctx)
{
    fixture *f = ctx;
    int bins, parts;
    (void)copies_in(f->src, &bins, &parts);
    return parts == 0 && node_replica_copies_settled(source(f)->n->replica);
}

__attribute__((format(printf, 1, 2))) static inline void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static inline void put_range(fixture *f, int from, int to)
{
    for (int i = from; i < to; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        f->tx[i] = tn_put(&f->loop, &f->node, k, v);
    }
}

/* Writes (a node snapshots only when no write is pending) until the
 * node whose files restarts copy kept a copy after `after`, and saves its
 * copies aside in <root>/stash; f->copy is the latest. Returns how many
 * copies it keeps. */
static inline int stash_copy_after(fixture *f, uint64_t after)
{
    copy_wait w = {.f = f, .after = after};
    for (int i = 0; i < 200 && !copy_after(&w); i++) {
        char k[16];
        snprintf(k, sizeof k, "pad%d", i);
        (void)tn_put(&f->loop, &f->node, k, "x");
        tn_run_for(&f->loop, 10);
    }
    assert_true(copy_after(&w));
    /* 30 s: under ThreadSanitizer beside other tests a snapshot's making
     * took most of 10 (CI) */
    tn_run_until(&f->loop, 30000, no_part, f, "no snapshot being made");
    int bins, parts;
    f->copy = copies_in(f->src, &bins, &parts);
    assert_true(f->copy > after);
    run("rm -rf '%s/stash' && cp -a '%s/snapshots' '%s/stash'", f->env.root, f->src, f->env.root);
    return bins;
}

/* A single node, small chunks and frequent snapshots, PUTS records. The
 * copy restarts start from is the one kept after the first half (saved
 * aside in <root>/stash): the node crashed a while after its last
 * snapshot, and its ledger goes on after it. */
static inline void start_service(fixture *f)
{
    tn_config(&f->env, &f->node, 0, NULL);
    f->node.cfg.snapshot_interval = 8;
    f->node.cfg.chunk_size = 1024; /* many chunks, and the copy's inside one */
    tn_start(&f->loop, &f->node);
    put_range(f, 0, PUTS / 2);
    /* after the first few records */
    assert_int_equal(stash_copy_after(f, f->tx[8].seqno), 1);
    put_range(f, PUTS / 2, PUTS);
    tn_run_until(&f->loop, 10000, signed_all, f, "every record signed");
    tn_run_for(&f->loop, 100); /* idle */
    assert_true(f->copy < f->tx[PUTS / 2].seqno);
}

static inline bool joiner_caught_up(void *ctx)
{
    fixture *f = ctx;
    return cs_node_commit_txid(f->joiner.n).seqno >= f->tx[PUTS / 2 - 1].seqno;
}

/* Two nodes, small chunks and frequent snapshots: the second joins after
 * the first half of the records, from a snapshot (its ledger starts after
 * it), and makes snapshots of its own. Restarts start from the copy it
 * kept after the third quarter (saved aside in <root>/stash): its files
 * are the ones restarts copy (f->src). */
static inline void start_joined(fixture *f)
{
    tn_config(&f->env, &f->node, 0, NULL);
    f->node.cfg.snapshot_interval = 8;
    f->node.cfg.chunk_size = 1024;
    tn_start(&f->loop, &f->node);
    put_range(f, 0, PUTS / 2);
    tn_run_for(&f->loop, 200); /* the leader's snapshot, its log compacted */
    tn_config(&f->env, &f->joiner, 1, f->node.cfg.node_address);
    f->joiner.cfg.snapshot_interval = 8;
    f->joiner.cfg.chunk_size = 1024;
    tn_start(&f->loop, &f->joiner);
    snprintf(f->src, sizeof f->src, "%s/node1", f->env.root);
    tn_run_until(&f->loop, 10000, joiner_caught_up, f, "the joiner caught up");
    const uint64_t first = f->joiner.n->replica->ledger_first;
    if (first <= f->tx[0].seqno)
        fail_msg("the joiner's ledger starts at %llu: it did not join from a snapshot",
                 (unsigned long long)first);
    put_range(f, PUTS / 2, 3 * PUTS / 4);
    /* the copy it joined from, and its latest */
    assert_int_equal(stash_copy_after(f, f->tx[3 * PUTS / 4 - 1].seqno), 2);
    put_range(f, 3 * PUTS / 4, PUTS);
    tn_run_until(&f->loop, 10000, signed_all, f, "every record signed on the joiner");
    tn_run_for(&f->loop, 100); /* idle */
    assert_true(f->copy < f->tx[3 * PUTS / 4].seqno);
}

/* The node's ledger and the copy kept aside, in <root>/<name>. */
static inline void clone_into(fixture *f, const char *name, char *dir, size_t len)
{
    snprintf(dir, len, "%s/%s", f->env.root, name);
    run("mkdir -p '%s' && cp -a '%s/ledger' '%s/'", dir, f->src, dir);
    run("cp -a '%s/stash' '%s/snapshots'", f->env.root, dir);
}

static inline void on_fatal(void *ctx, const char *why)
{
    fixture *f = ctx;
    f->fatal = true;
    snprintf(f->why, sizeof f->why, "%s", why);
}

/* A replica on `dir` holding the service's secret, not recovered yet. */
static inline node_replica *replica_on(fixture *f, const char *dir)
{
    const node_replica_opts o = {
        .data_dir = dir, .chunk_size = 1024, .node_id = "restarted", .loop = &f->loop};
    node_replica *r;
    cst_ok(node_replica_new(&o, &r));
    node_vault *v = f->node.n->vault;
    node_replica_set_service(r, node_vault_secret(v), node_vault_service_cert(v));
    const node_replica_events ev = {.ctx = f, .fatal = on_fatal};
    node_replica_set_events(r, &ev);
    return r;
}

/* ... recovered, as a node restarting does, on the fixture's loop. */
static inline node_replica *restart_on(fixture *f, const char *dir)
{
    node_replica *r = replica_on(f, dir);
    cst_ok(node_replica_recover(r, 0));
    return r;
}

static inline bool read_back(void *ctx)
{
    return ((node_replica *)ctx)->rebuild == NULL;
}

/* A restart on `dir` that opens (the restart itself reads nothing the
 * read-back reads), then is stopped by its read-back, the receipt of `t`
 * (before the copy) still busy: it never serves one it could not prove. */
static inline void stopped_by_the_read_back(fixture *f, const char *dir, cs_txid t)
{
    node_replica *r = restart_on(f, dir);
    assert_int_equal(r->rebuilding_upto, f->copy);
    tn_run_until(&f->loop, 10000, read_back, r, "the ledger read back");
    assert_true(f->fatal);
    assert_non_null(strstr(f->why, "does not check"));
    cs_buf got;
    cs_buf_init(&got, CS_RECEIPT_JSON_MAX);
    cst_fails(node_replica_receipt(r, t, &got), CONSORT_E_BUSY);
    cs_buf_cleanup(&got);
    node_replica_free(r);
}

static inline void assert_same_index(const replica_index *a, const replica_index *b)
{
    assert_int_equal(a->base, b->base);
    assert_int_equal(a->offset_count, b->offset_count);
    assert_memory_equal(a->offsets, b->offsets, a->offset_count * sizeof *a->offsets);
    assert_int_equal(a->chunk_count, b->chunk_count);
    assert_memory_equal(a->chunk_first, b->chunk_first, a->chunk_count * sizeof *a->chunk_first);
    assert_int_equal(a->chunk_bytes, b->chunk_bytes);
    assert_int_equal(a->chunk_closing, b->chunk_closing);
    assert_int_equal(a->sig_count, b->sig_count);
    assert_memory_equal(a->sigs, b->sigs, a->sig_count * sizeof *a->sigs);
    assert_int_equal(a->term_count, b->term_count);
    assert_memory_equal(a->terms, b->terms, a->term_count * sizeof *a->terms);
}

static inline void assert_same_tree(node_replica *a, node_replica *b)
{
    uint8_t ra[CS_MERKLE_HASH_LEN], rb[CS_MERKLE_HASH_LEN];
    cs_merkle_root(a->tree, ra);
    cs_merkle_root(b->tree, rb);
    assert_memory_equal(ra, rb, sizeof ra);
    assert_int_equal(node_replica_applied(a), node_replica_applied(b));
}

static inline void receipt_of(node_replica *r, cs_txid t, cs_buf *out)
{
    cs_buf_reset(out);
    cst_ok(node_replica_receipt(r, t, out));
}

/* The receipts of records from..PUTS (every `step`th, those signed) are
 * byte for byte the same on `a` and `b`, and verify. */
static inline void assert_same_receipts(fixture *f, node_replica *a, node_replica *b, int from,
                                        int step)
{
    cs_buf got, want;
    cs_buf_init(&got, CS_RECEIPT_JSON_MAX);
    cs_buf_init(&want, CS_RECEIPT_JSON_MAX);
    const cs_receipt_verify_opts vo = {.now = (int64_t)time(NULL)};
    for (int i = from; i < PUTS && f->tx[i].seqno < node_replica_applied_sig(b); i += step) {
        receipt_of(a, f->tx[i], &got);
        receipt_of(b, f->tx[i], &want);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.ptr, want.ptr, want.len);
        cst_ok(cs_receipt_verify_json(cs_buf_slice(&got), node_vault_service_cert(f->node.n->vault),
                                      &vo));
    }
    cs_buf_cleanup(&got);
    cs_buf_cleanup(&want);
}

#endif
