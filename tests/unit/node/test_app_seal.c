/*
 * Sealing and counters, the handler's side (app.h consort_seal,
 * consort_unseal, consort_counter_read/increment; src/node/app_call.c):
 * every argument app.h documents is checked before the node's sealed store
 * is asked (INVALID_ARGUMENT, TOO_LARGE), a request without a sealed store
 * is refused (STATE), what the store answers reaches the handler through
 * the request's arena, and the store's refusals are passed on with their
 * codes. The store itself is tests/unit/sealing; handlers on a running node
 * are tests/integration/test_migration.py.
 */
#include "testutil.h"

#include "node/app_host.h"

#include <string.h>

/* A sealed store stand-in: records what it was asked, answers as told. */
typedef struct fake_store {
    int calls;
    consort_seal_policy policy;
    char counter[80];
    consort_err answer;
    uint64_t value;
} fake_store;

static consort_err fake_seal(void *ctx, consort_seal_policy policy, const char *counter,
                             cs_slice plain, cs_buf *out)
{
    fake_store *f = ctx;
    f->calls++;
    f->policy = policy;
    snprintf(f->counter, sizeof f->counter, "%s", counter != NULL ? counter : "(none)");
    if (f->answer != CONSORT_OK)
        return cs_fail(f->answer, "the store says no");
    CS_TRY(cs_buf_append(out, "SEALED:", 7));
    return cs_buf_append(out, plain.ptr, plain.len);
}

static consort_err fake_unseal(void *ctx, cs_slice blob, cs_buf *out)
{
    fake_store *f = ctx;
    f->calls++;
    if (f->answer != CONSORT_OK)
        return cs_fail(f->answer, "sealed at counter 4, counter is 7");
    CS_ENSURE(blob.len >= 7, CONSORT_E_MALFORMED, "short");
    return cs_buf_append(out, blob.ptr + 7, blob.len - 7);
}

static consort_err fake_read(void *ctx, const char *name, uint64_t *value)
{
    fake_store *f = ctx;
    f->calls++;
    snprintf(f->counter, sizeof f->counter, "%s", name);
    *value = f->value;
    return f->answer == CONSORT_OK ? CONSORT_OK : cs_fail(f->answer, "frozen");
}

static consort_err fake_increment(void *ctx, const char *name, uint64_t *value)
{
    fake_store *f = ctx;
    CS_TRY(fake_read(ctx, name, value));
    *value = ++f->value;
    return CONSORT_OK;
}

typedef struct fixture {
    fake_store store;
    cs_app_sealer sealer;
    cs_app_arena arena;
    consort_request req;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->sealer = (cs_app_sealer){.ctx = &f->store,
                                .seal = fake_seal,
                                .unseal = fake_unseal,
                                .counter_read = fake_read,
                                .counter_increment = fake_increment};
    cs_app_arena_init(&f->arena, CONSORT_APP_READ_MAX);
    cs_app_request_init(&f->req, "POST", "/app/x", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    f->req.sealer = &f->sealer;
    f->req.arena = &f->arena;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_app_arena_cleanup(&f->arena);
    free(f);
    return 0;
}

static void seal_and_unseal(void **state)
{
    fixture *f = *state;
    const uint8_t *blob, *plain;
    size_t blob_len, plain_len;
    cst_ok(consort_seal(&f->req, CONSORT_SEAL_LINEAGE, "notes", "hello", 5, &blob, &blob_len));
    assert_int_equal(f->store.policy, CONSORT_SEAL_LINEAGE);
    assert_string_equal(f->store.counter, "notes");
    assert_int_equal(blob_len, 12);
    assert_memory_equal(blob, "SEALED:hello", 12);
    cst_ok(consort_unseal(&f->req, blob, blob_len, &plain, &plain_len));
    assert_int_equal(plain_len, 5);
    assert_memory_equal(plain, "hello", 5);
    /* both copies stay valid until the handler returns (the arena) */
    assert_memory_equal(blob, "SEALED:hello", 12);
    cst_ok(consort_seal(&f->req, CONSORT_SEAL_CODE, NULL, NULL, 0, &blob, &blob_len));
    assert_int_equal(f->store.policy, CONSORT_SEAL_CODE);
    assert_string_equal(f->store.counter, "(none)");
    assert_int_equal(blob_len, 7);
    assert_int_equal(f->store.calls, 3);
}

static void arguments_checked_first(void **state)
{
    fixture *f = *state;
    const uint8_t *out;
    size_t len;
    uint64_t v;
    cst_fails(consort_seal(NULL, CONSORT_SEAL_CODE, NULL, "x", 1, &out, &len),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_seal(&f->req, CONSORT_SEAL_CODE, NULL, "x", 1, NULL, &len),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_seal(&f->req, CONSORT_SEAL_CODE, NULL, NULL, 1, &out, &len),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_seal(&f->req, (consort_seal_policy)3, NULL, "x", 1, &out, &len),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "unknown policy 3"));
    char long_name[CONSORT_COUNTER_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *bad_names[] = {"", "two words", "tab\there", long_name};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        cst_fails(consort_seal(&f->req, CONSORT_SEAL_CODE, bad_names[i], "x", 1, &out, &len),
                  CONSORT_E_INVALID_ARGUMENT);
        cst_fails(consort_counter_increment(&f->req, bad_names[i], &v), CONSORT_E_INVALID_ARGUMENT);
        cst_fails(consort_counter_read(&f->req, bad_names[i], &v), CONSORT_E_INVALID_ARGUMENT);
    }
    long_name[CONSORT_COUNTER_NAME_MAX] = '\0'; /* 64 characters: the longest name */
    cst_ok(consort_counter_increment(&f->req, long_name, &v));
    static uint8_t big[CONSORT_SEAL_MAX + 4097]; /* no blob consort_seal makes is this long */
    cst_fails(consort_seal(&f->req, CONSORT_SEAL_CODE, NULL, big, CONSORT_SEAL_MAX + 1, &out, &len),
              CONSORT_E_TOO_LARGE);
    cst_fails(consort_unseal(&f->req, big, sizeof big, &out, &len), CONSORT_E_TOO_LARGE);
    cst_fails(consort_unseal(&f->req, "x", 1, &out, NULL), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_counter_read(&f->req, "ok", NULL), CONSORT_E_INVALID_ARGUMENT);
    /* none of these reached the store but the valid increment */
    assert_int_equal(f->store.calls, 1);
}

static void no_store_is_state(void **state)
{
    fixture *f = *state;
    f->req.sealer = NULL;
    const uint8_t *out;
    size_t len;
    uint64_t v;
    cst_fails(consort_seal(&f->req, CONSORT_SEAL_CODE, NULL, "x", 1, &out, &len), CONSORT_E_STATE);
    cst_fails(consort_unseal(&f->req, "x", 1, &out, &len), CONSORT_E_STATE);
    cst_fails(consort_counter_read(&f->req, "c", &v), CONSORT_E_STATE);
    cst_fails(consort_counter_increment(&f->req, "c", &v), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "no sealed store"));
}

static void store_refusals_passed_on(void **state)
{
    fixture *f = *state;
    const uint8_t *out;
    size_t len;
    uint64_t v;
    f->store.answer = CONSORT_E_ROLLBACK;
    cst_fails(consort_unseal(&f->req, "SEALED:x", 8, &out, &len), CONSORT_E_ROLLBACK);
    assert_non_null(strstr(consort_errmsg(), "counter is 7"));
    f->store.answer = CONSORT_E_FROZEN;
    cst_fails(consort_seal(&f->req, CONSORT_SEAL_LINEAGE, "c", "x", 1, &out, &len),
              CONSORT_E_FROZEN);
    cst_fails(consort_counter_increment(&f->req, "c", &v), CONSORT_E_FROZEN);
    f->store.answer = CONSORT_OK;
    f->store.value = 41;
    cst_ok(consort_counter_increment(&f->req, "c", &v));
    assert_int_equal(v, 42);
    cst_ok(consort_counter_read(&f->req, "c", &v));
    assert_int_equal(v, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seal_and_unseal, setup, teardown),
        cmocka_unit_test_setup_teardown(arguments_checked_first, setup, teardown),
        cmocka_unit_test_setup_teardown(no_store_is_state, setup, teardown),
        cmocka_unit_test_setup_teardown(store_refusals_passed_on, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
