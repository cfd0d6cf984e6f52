/*
 * Sealing the vault (src/node/vault.h): what a save seals is what the vault
 * holds at that save, keys included (the private keys' PEM is kept between
 * saves, so a key replaced after a save must not be sealed as the old one),
 * and a high-water mark raised off the loop (node_vault_raise_hwm_later)
 * is in the sealed state once the loop has run the write.
 */
#include "testutil.h"

#include "node/node_seal.h"
#include "node/vault.h"
#include "sealing/anchor.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct fixture {
    char dir[64];
    char store[96];
    char anchor[96];
    cs_sealstore_keys keys;
    node_seal *seal;
    node_vault *v;
} fixture;

static node_seal *open_seal(fixture *f)
{
    cs_anchor *a;
    cst_ok(cs_anchor_file_open(f->anchor, &a));
    node_seal *ns;
    bool created;
    cst_ok(node_seal_open_dir(f->store, &f->keys, a, &ns, &created));
    return ns;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/consort-node-vault-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof f->store, "%s/sealed", f->dir);
    snprintf(f->anchor, sizeof f->anchor, "%s/anchor", f->dir);
    memset(f->keys.code_id, 0x5a, 32);
    memset(f->keys.lineage_root, 0x17, 32);
    f->seal = open_seal(f);
    cst_ok(node_vault_new(f->dir, &f->v));
    node_vault_set_seal(f->v, f->seal);
    cst_ok(node_vault_create_node(f->v));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    node_vault_free(f->v);
    node_seal_free(f->seal);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* The vault as sealed now (the store's committed payload), decoded into a
 * fresh vault. */
static node_vault *sealed(fixture *f)
{
    cs_buf p;
    cs_buf_init(&p, 0);
    cst_ok(node_seal_payload(f->seal, &p));
    node_vault *w;
    cst_ok(node_vault_new(f->dir, &w));
    cst_ok(node_vault_decode(w, cs_buf_slice(&p)));
    cs_buf_cleanup(&p);
    return w;
}

static void same_key(const cs_key *a, const cs_key *b)
{
    assert_non_null(a);
    assert_non_null(b);
    uint8_t ia[32], ib[32];
    cst_ok(cs_key_id(a, ia));
    cst_ok(cs_key_id(b, ib));
    assert_memory_equal(ia, ib, 32);
}

static void keys_replaced_after_a_save_are_sealed(void **state)
{
    fixture *f = *state;
    cst_ok(node_vault_save(f->v));
    node_vault *w = sealed(f);
    same_key(node_vault_key(w), node_vault_key(f->v));
    assert_null(node_vault_service_key(w));
    node_vault_free(w);

    /* a service key where there was none, and a new node key */
    cst_ok(node_vault_create_node(f->v));
    cst_ok(node_vault_create_service(f->v, "127.0.0.1:8000"));
    cst_ok(node_vault_save(f->v));
    w = sealed(f);
    same_key(node_vault_key(w), node_vault_key(f->v));
    same_key(node_vault_service_key(w), node_vault_service_key(f->v));
    node_vault_free(w);

    /* and again: a key kept from the previous save is not sealed for a new one */
    cst_ok(node_vault_create_node(f->v));
    cst_ok(node_vault_save(f->v));
    w = sealed(f);
    same_key(node_vault_key(w), node_vault_key(f->v));
    same_key(node_vault_service_key(w), node_vault_service_key(f->v));
    node_vault_free(w);
}

static void count_end(void *ctx, consort_err rc)
{
    cst_ok(rc);
    (*(int *)ctx)++;
}

static void a_mark_raised_later_is_sealed(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cst_ok(node_vault_save(f->v));
    int ended = 0;
    bool queued = false;
    cst_ok(node_vault_raise_hwm_later(f->v, &loop, 42, count_end, &ended, &queued));
    assert_true(queued);
    assert_int_equal(node_vault_hwm(f->v), 42); /* raised at once in memory */
    cst_ok(node_vault_raise_hwm_later(f->v, &loop, 41, count_end, &ended, &queued));
    assert_false(queued);       /* lower: nothing */
    assert_int_equal(ended, 0); /* never from inside the call */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ended, 1);
    node_vault *w = sealed(f);
    assert_int_equal(node_vault_hwm(w), 42);
    node_vault_free(w);
    /* a save after it keeps the mark */
    cst_ok(node_vault_create_service(f->v, "127.0.0.1:8000"));
    cst_ok(node_vault_save(f->v));
    w = sealed(f);
    assert_int_equal(node_vault_hwm(w), 42);
    same_key(node_vault_service_key(w), node_vault_service_key(f->v));
    node_vault_free(w);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_replaced_after_a_save_are_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_mark_raised_later_is_sealed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
