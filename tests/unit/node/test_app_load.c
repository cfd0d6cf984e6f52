/*
 * Loading application modules (node/app_host.h): the logging sample loads;
 * modules declaring another ABI version (1, the one before, with the
 * message that says to rebuild), or lacking a required symbol, are refused;
 * registration rules (consort_app_endpoint, reserved paths) are enforced.
 * A module is loaded from a
 * sealed memfd holding the only copy of its bytes ever read: rewriting the
 * file afterwards, or serving other bytes on a second read, changes nothing
 * loaded, and the code id (node/node_code.h) names the bytes loaded.
 */
#include "app_fixture.h"

#include "attest/code_id.h"
#include "base/alloc.h"
#include "crypto/hash.h"
#include "node/node_code.h"
#include "node/rpc_route.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static void logging_sample_loads(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    assert_int_equal(cs_app_endpoint_count(app), 6);
    assert_int_equal(cst_must_find(app, "GET", "/app/log/private/list")->mode, CONSORT_READ_ONLY);
    assert_int_equal(cst_must_find(app, "GET", "/app/log/public/list")->auth, CONSORT_AUTH_USER);
    const cs_app_endpoint *post = cst_must_find(app, "POST", "/app/log/private");
    assert_int_equal(post->mode, CONSORT_READ_WRITE);
    assert_int_equal(post->auth, CONSORT_AUTH_USER);
    const cs_app_endpoint *get = cst_must_find(app, "GET", "/app/log/public");
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

static void other_abi_version_is_refused(void **state)
{
    (void)state;
    assert_int_equal(CONSORT_APP_ABI_VERSION, 2);
    char path[128], want[512];
    /* a module built for ABI 1 (its exported consort_app_abi_version says 1) */
    snprintf(path, sizeof path, "%s/abi1.so", cst_tmpdir());
    cst_module_with_abi(path, 1);
    consort_app *app = NULL;
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    snprintf(want, sizeof want,
             "application module %s was built for consort application ABI 1; this consortd "
             "runs ABI 2: rebuild it against include/consort/app.h",
             path);
    assert_string_equal(consort_errmsg(), want);
    assert_null(app);
    /* and one built for a later ABI */
    snprintf(path, sizeof path, "%s/abi3.so", cst_tmpdir());
    cst_module_with_abi(path, 3);
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "built for consort application ABI 3"));
    assert_null(app);
    /* the same bytes with the right version load: the patch changed only that */
    snprintf(path, sizeof path, "%s/abi2.so", cst_tmpdir());
    cst_module_with_abi(path, CONSORT_APP_ABI_VERSION);
    cst_ok(cs_app_load(path, &app));
    cs_app_free(app);
}

static void missing_symbols_are_refused(void **state)
{
    (void)state;
    char path[128];
    consort_app *app = NULL;
    snprintf(path, sizeof path, "%s/noabi.so", cst_tmpdir());
    cst_module_without(path, "consort_app_abi_version");
    cst_fails(cs_app_load(path, &app), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "consort_app_abi_version"));
    snprintf(path, sizeof path, "%s/noinit.so", cst_tmpdir());
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
    snprintf(path, sizeof path, "%s/bare.so", cst_tmpdir());
    cst_module_with_abi(path, CONSORT_APP_ABI_VERSION);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(cst_tmpdir()), 0);
    consort_app *app = NULL;
    consort_err rc = cs_app_load("bare.so", &app);
    assert_int_equal(chdir(cwd), 0);
    cst_ok(rc);
    assert_int_equal(cs_app_endpoint_count(app), 6);
    cs_app_free(app);
}

static void unloadable_files_are_refused(void **state)
{
    (void)state;
    consort_app *app = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/missing.so", cst_tmpdir());
    cst_fails(cs_app_load(path, &app), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "missing.so"));
    snprintf(path, sizeof path, "%s/text.so", cst_tmpdir());
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
    snprintf(path, sizeof path, "%s/short.so", cst_tmpdir());
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

/* ---- loading from sealed bytes ---- */

/* The ABI version the loaded module at `loaded_name` declares, read from its
 * mapped image now (dlopen RTLD_NOLOAD: the object already loaded). */
static uint32_t loaded_abi_version(const char *loaded_name)
{
    void *dl = dlopen(loaded_name, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    const uint32_t *abi = dlsym(dl, "consort_app_abi_version");
    assert_non_null(abi);
    uint32_t v = *abi;
    dlclose(dl);
    return v;
}

static void file_digest(const char *path, uint8_t out[32])
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_file(path, &b);
    cs_sha256(cs_buf_slice(&b), out);
    cs_buf_cleanup(&b);
}

/* Rewrites `path` in place (same inode: truncate, then write), as a host could. */
static void rewrite_in_place(const char *path, cs_slice data)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data.ptr, data.len), (ssize_t)data.len);
    assert_int_equal(close(fd), 0);
}

static void the_loaded_module_is_the_hashed_bytes(void **state)
{
    (void)state;
    char path[128], abi2[128];
    snprintf(path, sizeof path, "%s/inplace.so", cst_tmpdir());
    snprintf(abi2, sizeof abi2, "%s/inplace-abi1.so", cst_tmpdir());
    cst_module_with_abi(path, CONSORT_APP_ABI_VERSION);
    cst_module_with_abi(abi2, 1); /* other bytes: those of a module for ABI 1 */
    uint8_t genuine[32], other[32];
    file_digest(path, genuine);
    file_digest(abi2, other);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);

    cs_node_config *cfg = cs_calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    cfg->platform = CS_PLATFORM_VIRTUAL;
    snprintf(cfg->app_path, sizeof cfg->app_path, "%s", path);
    cs_node_code *code = NULL;
    cst_ok(cs_node_code_measure(cfg, &code));
    consort_app *app = cs_node_code_app(code);
    uint8_t digest[32];
    uint64_t dev, ino;
    assert_true(cs_app_module_identity(app, digest, &dev, &ino));
    assert_memory_equal(digest, genuine, 32);
    /* the measurement names the module by the bytes loaded, not by its path */
    const cs_code_measure *m = cs_node_code_measurement(code);
    size_t modules = 0;
    for (size_t i = 0; i < m->count; i++) {
        if (m->objects[i].kind != CS_CODE_MODULE)
            continue;
        modules++;
        assert_memory_equal(m->objects[i].digest, genuine, 32);
        assert_non_null(strstr(m->objects[i].name, "memfd:consort-app"));
    }
    assert_int_equal(modules, 1);
    uint8_t code_id[32];
    memcpy(code_id, cs_node_code_id(code), 32);

    /* the host rewrites the file in place (same inode) with other bytes */
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(abi2, &image);
    rewrite_in_place(path, cs_buf_slice(&image));
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    file_digest(path, digest);
    assert_memory_equal(digest, other, 32);
    /* what is loaded still is the hashed module: the current ABI, and it serves */
    char name[64];
    cst_memfd_module_name(name);
    assert_int_equal(loaded_abi_version(name), CONSORT_APP_ABI_VERSION);
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    const uint8_t caller[32] = {7};
    cst_run(store, cst_must_find(app, "POST", "/app/log/private"), "",
            "{\"id\": 1, \"msg\": \"kept\"}", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    cst_call_cleanup(&c);
    cs_kv_store_free(store);
    /* nothing new is mapped: the code id still describes the process, unchanged */
    cst_ok(cs_node_code_check(code));
    assert_memory_equal(cs_node_code_id(code), code_id, 32);
    assert_true(cs_app_module_identity(app, digest, &dev, &ino));
    assert_memory_equal(digest, genuine, 32);
    /* and loading the file now loads what it now holds */
    consort_app *again = NULL;
    cst_fails(cs_app_load(path, &again), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "built for consort application ABI 1"));

    cs_buf_cleanup(&image);
    cs_node_code_free(code);
    cs_free(cfg);
}

typedef struct fifo_writer {
    const char *path;
    cs_buf images[2];  /* served to the first and the second reader */
    atomic_int served; /* readers served */
} fifo_writer;

/* True while some process has the FIFO open for reading (a writer can open it). */
static bool fifo_has_reader(const char *path)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false; /* ENXIO: no reader */
    close(fd);
    return true;
}

/* Serves images[i] to the i-th reader that opens the FIFO; gives up on a reader
 * that does not come within FIFO_WAIT_MS, so it never blocks forever. */
#define FIFO_WAIT_MS 1500
static void *serve_fifo(void *ctx)
{
    fifo_writer *w = ctx;
    for (size_t i = 0; i < 2; i++) {
        int fd = -1;
        for (int waited = 0; fd < 0 && waited < FIFO_WAIT_MS; waited++) {
            fd = open(w->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0)
                usleep(1000);
        }
        if (fd < 0)
            return NULL; /* nobody read it again */
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        size_t off = 0;
        while (off < w->images[i].len) {
            ssize_t n = write(fd, w->images[i].ptr + off, w->images[i].len - off);
            if (n <= 0)
                break; /* the reader went away (EPIPE) */
            off += (size_t)n;
        }
        close(fd);
        atomic_fetch_add(&w->served, 1);
        /* the next image is for the next open, not for this reader */
        for (int waited = 0; fifo_has_reader(w->path) && waited < 10 * FIFO_WAIT_MS; waited++)
            usleep(1000);
    }
    return NULL;
}

static void a_module_is_read_exactly_once(void **state)
{
    (void)state;
    /* A FIFO serves the genuine module to the first reader and another one (ABI 1)
     * to a second: a loader that read the file twice (check and hash, then
     * dlopen) would load bytes other than those it checked and hashed. */
    signal(SIGPIPE, SIG_IGN);
    char path[128], abi2[128];
    snprintf(path, sizeof path, "%s/module.fifo", cst_tmpdir());
    snprintf(abi2, sizeof abi2, "%s/fifo-abi1.so", cst_tmpdir());
    cst_module_with_abi(abi2, 1);
    assert_int_equal(mkfifo(path, 0600), 0);
    fifo_writer w = {.path = path};
    atomic_init(&w.served, 0);
    cs_buf_init(&w.images[0], 0);
    cs_buf_init(&w.images[1], 0);
    cst_read_file(cst_logging_module(), &w.images[0]);
    cst_read_file(abi2, &w.images[1]);
    uint8_t genuine[32];
    cs_sha256(cs_buf_slice(&w.images[0]), genuine);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve_fifo, &w), 0);
    consort_app *app = NULL;
    consort_err rc = cs_app_load(path, &app);
    assert_int_equal(pthread_join(t, NULL), 0);
    cst_ok(rc);
    assert_int_equal(atomic_load(&w.served), 1); /* the path was opened once */
    assert_int_equal(cs_app_endpoint_count(app), 6);
    uint8_t digest[32];
    uint64_t dev, ino;
    assert_true(cs_app_module_identity(app, digest, &dev, &ino));
    assert_memory_equal(digest, genuine, 32);
    char name[64];
    cst_memfd_module_name(name);
    assert_int_equal(loaded_abi_version(name), CONSORT_APP_ABI_VERSION);
    cs_app_free(app);
    cs_buf_cleanup(&w.images[0]);
    cs_buf_cleanup(&w.images[1]);
}

static void an_oversized_module_is_refused(void **state)
{
    (void)state;
    /* a file that never ends (a host-controlled stream): refused at the cap */
    consort_app *app = NULL;
    cst_fails(cs_app_load("/dev/zero", &app), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "/dev/zero"));
    assert_non_null(strstr(consort_errmsg(), "256 MiB"));
    assert_null(app);
}

static void the_same_bytes_are_loaded_once(void **state)
{
    (void)state;
    char copy[128];
    snprintf(copy, sizeof copy, "%s/same.so", cst_tmpdir());
    cst_module_with_abi(copy, CONSORT_APP_ABI_VERSION); /* the same bytes, another file */
    consort_app *a = NULL, *b = NULL;
    cst_ok(cs_app_load(cst_logging_module(), &a));
    cst_ok(cs_app_load(copy, &b));
    uint8_t da[32], db[32];
    uint64_t deva, inoa, devb, inob;
    assert_true(cs_app_module_identity(a, da, &deva, &inoa));
    assert_true(cs_app_module_identity(b, db, &devb, &inob));
    assert_memory_equal(da, db, 32);
    assert_true(deva == devb && inoa == inob); /* one sealed image, one loaded object */
    cs_app_free(a);
    /* the other application still runs the module */
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    const uint8_t caller[32] = {9};
    cst_run(store, cst_must_find(b, "POST", "/app/log/public"), "",
            "{\"id\": 2, \"msg\": \"still\"}", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    cst_call_cleanup(&c);
    cs_kv_store_free(store);
    cs_app_free(b);
    /* an application without a module has no module identity */
    consort_app *bare = NULL;
    cst_ok(cs_app_new(&bare));
    assert_false(cs_app_module_identity(bare, da, &deva, &inoa));
    cs_app_free(bare);
}

static void the_code_id_names_the_module_and_refuses_later_code(void **state)
{
    (void)state;
    cs_node_config *cfg = cs_calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    cfg->platform = CS_PLATFORM_VIRTUAL;
    cs_node_code *none = NULL, *with = NULL, *changed = NULL;
    cst_ok(cs_node_code_measure(cfg, &none));
    uint8_t id_none[32];
    memcpy(id_none, cs_node_code_id(none), 32);
    cs_node_code_free(none);

    snprintf(cfg->app_path, sizeof cfg->app_path, "%s", cst_logging_module());
    cst_ok(cs_node_code_measure(cfg, &with));
    assert_memory_not_equal(cs_node_code_id(with), id_none, 32);
    /* the same measurement again (the same module shared) gives the same code id */
    cs_node_code *twin = NULL;
    cst_ok(cs_node_code_measure(cfg, &twin));
    assert_memory_equal(cs_node_code_id(twin), cs_node_code_id(with), 32);
    cs_node_code_free(twin);
    cst_ok(cs_node_code_check(with));
    /* the re-scan before each piece of evidence, with nothing changed: its cost */
    enum { ROUNDS = 2000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < ROUNDS; i++)
        cst_ok(cs_node_code_check(with));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / ROUNDS;
    print_message("re-scan with nothing changed: %.1f us (%zu objects)\n", us,
                  cs_node_code_measurement(with)->count);

    /* one byte appended to the module: another module, another code id ... */
    char path[128];
    snprintf(path, sizeof path, "%s/plus-one.so", cst_tmpdir());
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(cst_logging_module(), &image);
    cst_ok(cs_buf_append_u8(&image, 0));
    cst_write_file(path, cs_buf_slice(&image));
    cs_buf_cleanup(&image);
    snprintf(cfg->app_path, sizeof cfg->app_path, "%s", path);
    cst_ok(cs_node_code_measure(cfg, &changed));
    assert_memory_not_equal(cs_node_code_id(changed), cs_node_code_id(with), 32);
    /* ... and, loaded after the first measurement, code that measurement does not
     * cover: the first refuses, naming the memfd it came from */
    cst_fails(cs_node_code_check(with), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "memfd:consort-app"));
    assert_non_null(strstr(consort_errmsg(), "after the code id was measured"));
    cs_node_code_free(changed);
    cst_ok(cs_node_code_check(with)); /* unloaded again */
    cs_node_code_free(with);

    /* a module that is not one fails the measurement */
    snprintf(cfg->app_path, sizeof cfg->app_path, "%s/nothing-here.so", cst_tmpdir());
    cst_fails(cs_node_code_measure(cfg, &changed), CONSORT_E_NOT_FOUND);
    cfg->platform = CS_PLATFORM_TPM;
    cfg->app_path[0] = '\0';
    snprintf(cfg->tpm_tcti, sizeof cfg->tpm_tcti, ":nothing");
    cst_fails(cs_node_code_measure(cfg, &changed), CONSORT_E_INVALID_ARGUMENT);
    cs_free(cfg);
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
    /* app.h's reserved paths, with any method, and only those */
    assert_true(cs_app_path_reserved("/app/receipt"));
    assert_true(cs_app_path_reserved(CS_APP_API_PATH));
    cst_fails(consort_app_endpoint(app, "GET", CS_APP_API_PATH, noop, CONSORT_AUTH_NONE,
                                   CONSORT_READ_ONLY, NULL),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "/app/api: the path is reserved"));
    static const char *const any[] = {"GET", "POST", "PUT", "DELETE"};
    for (size_t i = 0; i < CS_ARRAY_LEN(any); i++) {
        cst_fails(consort_app_endpoint(app, any[i], CS_APP_RECEIPT_PATH, noop, CONSORT_AUTH_USER,
                                       CONSORT_READ_ONLY, NULL),
                  CONSORT_E_INVALID_ARGUMENT);
        assert_non_null(strstr(consort_errmsg(), "/app/receipt: the path is reserved"));
    }
    assert_false(cs_app_path_reserved("/app/receipts"));
    assert_false(cs_app_path_reserved("/app/tx"));
    cst_ok(consort_app_endpoint(app, "GET", "/app/receipt/mine", noop, CONSORT_AUTH_NONE,
                                CONSORT_READ_ONLY, NULL));
    cst_ok(consort_app_endpoint(app, "GET", "/app/tx", noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                NULL));
    /* what consortd routes: the reserved path is its own, the others the application's */
    cs_rpc_route r;
    cs_rpc_route_find(app, "GET", CS_APP_RECEIPT_PATH, &r);
    assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
    cs_rpc_route_find(app, "GET", "/app/tx", &r);
    assert_int_equal(r.kind, CS_ROUTE_APP);
    cs_rpc_route_find(app, "GET", "/app/receipt/mine", &r);
    assert_int_equal(r.kind, CS_ROUTE_APP);
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
    assert_int_equal(cs_app_endpoint_count(app), 5);
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
        cmocka_unit_test(other_abi_version_is_refused),
        cmocka_unit_test(missing_symbols_are_refused),
        cmocka_unit_test(a_bare_file_name_is_the_file_in_the_working_directory),
        cmocka_unit_test(unloadable_files_are_refused),
        cmocka_unit_test(the_loaded_module_is_the_hashed_bytes),
        cmocka_unit_test(a_module_is_read_exactly_once),
        cmocka_unit_test(an_oversized_module_is_refused),
        cmocka_unit_test(the_same_bytes_are_loaded_once),
        cmocka_unit_test(the_code_id_names_the_module_and_refuses_later_code),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(registration_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, cst_tmpdir_make, cst_tmpdir_remove);
}
