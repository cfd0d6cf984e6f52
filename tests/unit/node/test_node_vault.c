/*
 * Sealing the vault (src/node/vault.h): what a save seals is what the vault
 * holds at that save, keys included (the private keys' PEM is kept between
 * saves, so a key replaced after a save must not be sealed as the old one),
 * and a high-water mark raised off the loop (node_vault_raise_hwm_later)
 * is in the sealed state once the loop has run the write.
 */
#include "seal_fixture.h"

#include "node/vault.h"

#include <uv.h>

typedef struct fixture {
    seal_fixture sf;
    node_seal *seal;
    node_vault *v;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || sf_init(&f->sf, "node-vault") != 0)
        return -1;
    bool created;
    f->seal = sf_open(&f->sf, &created);
    cst_ok(node_vault_new(f->sf.dir, &f->v));
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
    int rc = sf_cleanup(&f->sf);
    free(f);
    return rc;
}

/* The vault as sealed now (the store's committed payload), decoded into a
 * fresh vault. */
static node_vault *sealed(fixture *f)
{
    cs_buf p;
    cs_buf_init(&p, 0);
    cst_ok(node_seal_payload(f->seal, &p));
    node_vault *w;
    cst_ok(node_vault_new(f->sf.dir, &w));
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
