/*
 * Loading application modules (node/app_host.h): the logging sample loads
 * and its endpoints work over a real KV store; modules declaring another
 * ABI version, or lacking a required symbol, are refused; registration
 * rules (consort_app_endpoint) are enforced.
 */
#include "app_fixture.h"

#include <stddef.h>
#include <stdlib.h>

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cst_app_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const cs_app_endpoint *must_find(const consort_app *app, const char *method,
                                        const char *path)
{
    bool known;
    const cs_app_endpoint *ep = cs_app_find(app, method, path, &known, NULL, 0);
    if (ep == NULL)
        fail_msg("endpoint %s %s not registered", method, path);
    return ep;
}

static void logging_sample_loads(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    assert_int_equal(cs_app_endpoint_count(app), 4);
    const cs_app_endpoint *post = must_find(app, "POST", "/app/log/private");
    assert_int_equal(post->mode, CONSORT_READ_WRITE);
    assert_int_equal(post->auth, CONSORT_AUTH_USER);
    const cs_app_endpoint *get = must_find(app, "GET", "/app/log/public");
    assert_int_equal(get->mode, CONSORT_READ_ONLY);
    /* another method on a known path, and an unknown path */
    bool known;
    char allow[64];
    assert_null(cs_app_find(app, "PUT", "/app/log/private", &known, allow, sizeof allow));
    assert_true(known);
    assert_string_equal(allow, "POST, GET");
    assert_null(cs_app_find(app, "GET", "/app/log/other", &known, allow, sizeof allow));
    assert_false(known);
    assert_string_equal(allow, "");
    /* the path match is exact */
    assert_null(cs_app_find(app, "GET", "/app/log/private/", &known, NULL, 0));
    assert_false(known);
    /* registration is over once consort_app_init returned */
    cst_fails(consort_app_endpoint(app, "GET", "/app/late", post->handler, CONSORT_AUTH_NONE,
                                   CONSORT_READ_ONLY, NULL),
              CONSORT_E_STATE);
    cs_app_free(app);
}

static void logging_sample_runs_over_the_store(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    const uint8_t caller[32] = {1, 2, 3};
    cst_call c;

    /* a private record: committed, its write in the private write set */
    cst_run(store, must_find(app, "POST", "/app/log/private"), "",
            "{\"id\": 7, \"msg\": \"hello\"}", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    assert_true(c.out.commit);
    assert_int_equal(c.seqno, 1);
    assert_non_null(memmem(c.priv.ptr, c.priv.len, "records", 7));
    assert_non_null(memmem(c.priv.ptr, c.priv.len, "hello", 5));
    assert_int_equal(c.pub.len, 1); /* the empty write set, 0xa0 (docs/kv.md) */
    assert_int_equal(c.pub.ptr[0], 0xa0);
    cst_call_cleanup(&c);

    /* a public record lands in the public write set */
    cst_run(store, must_find(app, "POST", "/app/log/public"), "", "{\"id\": 7, \"msg\": \"open\"}",
            caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.seqno, 2);
    assert_non_null(memmem(c.pub.ptr, c.pub.len, "public:records", 14));
    assert_non_null(memmem(c.pub.ptr, c.pub.len, "open", 4));
    cst_call_cleanup(&c);

    /* read back, read-only */
    cst_run(store, must_find(app, "GET", "/app/log/private"), "id=7", NULL, caller, false, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    assert_string_equal(cst_body(&c), "{\"msg\":\"hello\"}");
    assert_string_equal(c.resp.content_type, "application/json");
    assert_false(c.out.commit);
    cst_call_cleanup(&c);
    cst_run(store, must_find(app, "GET", "/app/log/public"), "id=7", NULL, caller, false, &c);
    assert_string_equal(cst_body(&c), "{\"msg\":\"open\"}");
    cst_call_cleanup(&c);

    /* unknown id: 404; no id or a bad one: 400 */
    cst_run(store, must_find(app, "GET", "/app/log/private"), "id=8", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 404);
    assert_non_null(strstr(cst_error_message(&c, "ResourceNotFound"), "8"));
    cst_call_cleanup(&c);
    cst_run(store, must_find(app, "GET", "/app/log/private"), "", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 400);
    (void)cst_error_message(&c, "InvalidInput");
    cst_call_cleanup(&c);
    cst_run(store, must_find(app, "GET", "/app/log/private"), "id=-1", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 400);
    cst_call_cleanup(&c);

    /* bad bodies: 400 and nothing committed */
    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "{\"id\": 1}",
                                      "{\"id\": \"1\", \"msg\": \"x\"}",
                                      "{\"id\": 1, \"msg\": 2}",
                                      "{\"id\": 1, \"msg\": \"x\", \"z\": 0}"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_run(store, must_find(app, "POST", "/app/log/private"), "", bad[i], caller, true, &c);
        cst_ok(c.rc);
        assert_int_equal(c.resp.status, 400);
        assert_false(c.out.commit);
        assert_int_equal(c.seqno, 0);
        cst_call_cleanup(&c);
    }
    assert_int_equal(cs_kv_last_seqno(store), 2);

    /* a write endpoint run read-only (a misrouted request) cannot write */
    cst_run(store, must_find(app, "POST", "/app/log/private"), "", "{\"id\": 9, \"msg\": \"no\"}",
            caller, false, &c);
    cst_fails(c.rc, CONSORT_E_STATE);
    assert_int_equal(c.resp.status, 500);
    assert_non_null(strstr(cst_error_message(&c, "InternalError"), "read-only"));
    assert_false(c.out.commit);
    cst_call_cleanup(&c);

    cs_kv_store_free(store);
    cs_app_free(app);
}

static void other_abi_version_is_refused(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/abi2.so", tmpdir);
    cst_module_with_abi(path, 2);
    consort_app *app = NULL;
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "ABI version 2"));
    assert_null(app);
    /* the same bytes with the right version load: the patch changed only that */
    snprintf(path, sizeof path, "%s/abi1.so", tmpdir);
    cst_module_with_abi(path, CONSORT_APP_ABI_VERSION);
    cst_ok(cs_app_load(path, &app));
    cs_app_free(app);
}

static void missing_symbols_are_refused(void **state)
{
    (void)state;
    char path[128];
    consort_app *app = NULL;
    snprintf(path, sizeof path, "%s/noabi.so", tmpdir);
    cst_module_without(path, "consort_app_abi_version");
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "consort_app_abi_version"));
    snprintf(path, sizeof path, "%s/noinit.so", tmpdir);
    cst_module_without(path, "consort_app_init");
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "consort_app_init"));
    assert_null(app);
}

static void a_bare_file_name_is_the_file_in_the_working_directory(void **state)
{
    (void)state;
    /* dlopen("x.so") would search the library path: the module named is loaded */
    char path[128], cwd[1024];
    snprintf(path, sizeof path, "%s/bare.so", tmpdir);
    cst_module_with_abi(path, CONSORT_APP_ABI_VERSION);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    consort_app *app = NULL;
    consort_err rc = cs_app_load("bare.so", &app);
    assert_int_equal(chdir(cwd), 0);
    cst_ok(rc);
    assert_int_equal(cs_app_endpoint_count(app), 4);
    cs_app_free(app);
}

static void unloadable_files_are_refused(void **state)
{
    (void)state;
    consort_app *app = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/missing.so", tmpdir);
    cst_fails(cs_app_load(path, &app), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "missing.so"));
    snprintf(path, sizeof path, "%s/text.so", tmpdir);
    cst_write_file(path, cs_slice_str("not a shared object, but long enough to hold an ELF "
                                      "header of sixty-four bytes\n"));
    cst_fails(cs_app_load(path, &app), CONSORT_E_MALFORMED);
    cst_write_file(path, cs_slice_str("\x7f"
                                      "ELF"));
    cst_fails(cs_app_load(path, &app), CONSORT_E_TRUNCATED);
    /* a truncated module: refused before the dynamic loader maps past the end (SIGBUS) */
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(cst_logging_module(), &image);
    snprintf(path, sizeof path, "%s/short.so", tmpdir);
    size_t end = cst_elf_loaded_end(&image);
    const size_t cuts[] = {end / 3, end / 2, end - 1};
    for (size_t i = 0; i < CS_ARRAY_LEN(cuts); i++) {
        cst_write_file(path, CS_SLICE(image.ptr, cuts[i]));
        cst_fails(cs_app_load(path, &app), CONSORT_E_TRUNCATED);
        assert_non_null(strstr(consort_errmsg(), "passes the end"));
    }
    /* a 32-bit or big-endian ELF, or an executable, is not a module for consortd */
    uint8_t *p = image.ptr;
    p[EI_CLASS] = ELFCLASS32;
    cst_write_file(path, cs_buf_slice(&image));
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    p[EI_CLASS] = ELFCLASS64;
    p[EI_DATA] = ELFDATA2MSB;
    cst_write_file(path, cs_buf_slice(&image));
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    p[EI_DATA] = ELFDATA2LSB;
    p[offsetof(Elf64_Ehdr, e_type)] = ET_EXEC;
    cst_write_file(path, cs_buf_slice(&image));
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    p[offsetof(Elf64_Ehdr, e_type)] = ET_DYN;
    cst_write_file(path, cs_buf_slice(&image));
    cst_ok(cs_app_load(path, &app)); /* restored: loads again */
    cs_app_free(app);
    app = NULL;
    cs_buf_cleanup(&image);
    assert_null(app);
}

static consort_err noop(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)tx;
    (void)ctx;
    consort_response_set_status(rs, 204);
    return CONSORT_OK;
}

static void registration_rules(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_new(&app));
    cst_ok(consort_app_endpoint(app, "GET", "/app/a", noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                NULL));
    cst_ok(consort_app_endpoint(app, "POST", "/app/a", noop, CONSORT_AUTH_MEMBER,
                                CONSORT_READ_WRITE, NULL));
    cst_ok(consort_app_endpoint(app, "DELETE", "/app/a/b-c_d.e~f:g@h", noop, CONSORT_AUTH_USER,
                                CONSORT_READ_WRITE, NULL));
    /* twice */
    cst_fails(consort_app_endpoint(app, "GET", "/app/a", noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                   NULL),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "twice"));
    /* bad methods and paths */
    static const char *const methods[] = {"", "get", "G T", "GET\r\n", "VERYLONGMETHODNAME"};
    for (size_t i = 0; i < CS_ARRAY_LEN(methods); i++)
        cst_fails(consort_app_endpoint(app, methods[i], "/app/x", noop, CONSORT_AUTH_NONE,
                                       CONSORT_READ_ONLY, NULL),
                  CONSORT_E_INVALID_ARGUMENT);
    static const char *const paths[] = {"",         "/app/",    "/app",      "/node/state",
                                        "/gov/x",   "app/x",    "/app/x?y",  "/app/a b",
                                        "/app/%41", "/app/x#y", "/app/\x80", "/app/receipt"};
    for (size_t i = 0; i < CS_ARRAY_LEN(paths); i++)
        cst_fails(consort_app_endpoint(app, "GET", paths[i], noop, CONSORT_AUTH_NONE,
                                       CONSORT_READ_ONLY, NULL),
                  CONSORT_E_INVALID_ARGUMENT);
    char longpath[CS_APP_PATH_MAX + 8];
    memset(longpath, 'a', sizeof longpath - 1);
    memcpy(longpath, "/app/", 5);
    longpath[sizeof longpath - 1] = '\0';
    cst_fails(consort_app_endpoint(app, "GET", longpath, noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                   NULL),
              CONSORT_E_INVALID_ARGUMENT);
    /* bad auth, mode, handler */
    cst_fails(
        consort_app_endpoint(app, "GET", "/app/y", noop, (consort_auth)7, CONSORT_READ_ONLY, NULL),
        CONSORT_E_INVALID_ARGUMENT);
    cst_fails(
        consort_app_endpoint(app, "GET", "/app/y", noop, CONSORT_AUTH_NONE, (consort_mode)2, NULL),
        CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_app_endpoint(app, "GET", "/app/y", NULL, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                   NULL),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_app_endpoint_count(app), 3);
    /* the cap */
    char p[32];
    size_t n = cs_app_endpoint_count(app);
    for (; n < CS_APP_MAX_ENDPOINTS; n++) {
        snprintf(p, sizeof p, "/app/n%zu", n);
        cst_ok(
            consort_app_endpoint(app, "GET", p, noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY, NULL));
    }
    cst_fails(consort_app_endpoint(app, "GET", "/app/one-too-many", noop, CONSORT_AUTH_NONE,
                                   CONSORT_READ_ONLY, NULL),
              CONSORT_E_TOO_LARGE);
    cs_app_seal(app);
    cst_fails(consort_app_endpoint(app, "PUT", "/app/a", noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                   NULL),
              CONSORT_E_STATE);
    cs_app_free(app);
    cs_app_free(NULL);
}

static void registration_survives_allocation_failures(void **state)
{
    (void)state;
    cst_alloc_install();
    long live = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 64; n++) {
        consort_app *app = NULL;
        cst_alloc_fail_after(n);
        consort_err rc = cs_app_new(&app);
        if (rc == CONSORT_OK)
            rc = consort_app_endpoint(app, "GET", "/app/a", noop, CONSORT_AUTH_NONE,
                                      CONSORT_READ_ONLY, NULL);
        if (rc == CONSORT_OK)
            rc = consort_app_endpoint(app, "POST", "/app/a", noop, CONSORT_AUTH_NONE,
                                      CONSORT_READ_WRITE, NULL);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
        } else {
            cst_ok(rc);
            assert_int_equal(cs_app_endpoint_count(app), 2);
        }
        cs_app_free(app);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_int_equal(failures, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logging_sample_loads),
        cmocka_unit_test(logging_sample_runs_over_the_store),
        cmocka_unit_test(other_abi_version_is_refused),
        cmocka_unit_test(missing_symbols_are_refused),
        cmocka_unit_test(a_bare_file_name_is_the_file_in_the_working_directory),
        cmocka_unit_test(unloadable_files_are_refused),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(registration_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
