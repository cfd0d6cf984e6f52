/*
 * For the application tests: where the logging sample module is, copies of
 * it with one thing changed in its ELF image (the ABI version it declares,
 * a symbol's name, a string), a directory for them, finding endpoints and
 * the loaded module, and running an endpoint over a bare KV store.
 * Header-only (static inline) because each test file is its own program.
 */
#ifndef CST_APP_FIXTURE_H
#define CST_APP_FIXTURE_H

#include "testutil.h"

#include "node/app_host.h"

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory for module copies (cst_tmpdir_make, as a group setup),
 * removed with everything in it by cst_tmpdir_remove. */
static inline char *cst_tmpdir(void)
{
    static char dir[64];
    return dir;
}

static inline int cst_tmpdir_make(void **state)
{
    (void)state;
    snprintf(cst_tmpdir(), 64, "/tmp/cst_app_XXXXXX");
    return mkdtemp(cst_tmpdir()) == NULL ? -1 : 0;
}

static inline int cst_tmpdir_remove(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cst_tmpdir());
    return system(cmd) == 0 ? 0 : -1;
}

/* The endpoint `method` `path` of `app`; fails the test if there is none. */
static inline const cs_app_endpoint *cst_must_find(const consort_app *app, const char *method,
                                                   const char *path)
{
    bool known;
    const cs_app_endpoint *ep = cs_app_find(app, method, path, &known, NULL, 0);
    if (ep == NULL)
        fail_msg("endpoint %s %s not registered", method, path);
    return ep;
}

static inline int cst_find_memfd_module(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    char *out = ctx;
    if (info->dlpi_name != NULL && strncmp(info->dlpi_name, "/proc/self/fd/", 14) == 0) {
        snprintf(out, 64, "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

/* The dynamic loader's name of the one module loaded from a memfd. */
static inline void cst_memfd_module_name(char out[64])
{
    out[0] = '\0';
    assert_int_equal(dl_iterate_phdr(cst_find_memfd_module, out), 1);
}

/* $CONSORT_BINARY_DIR/samples/logging.so (ctest sets the variable). */
static inline const char *cst_logging_module(void)
{
    static char path[1024];
    const char *dir = getenv("CONSORT_BINARY_DIR");
    if (dir == NULL)
        fail_msg("CONSORT_BINARY_DIR is not set (run the test through ctest)");
    snprintf(path, sizeof path, "%s/samples/logging.so", dir);
    if (access(path, R_OK) != 0)
        fail_msg("%s is missing: build the target consort_app_logging first", path);
    return path;
}

static inline void cst_write_file(const char *path, cs_slice data)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data.ptr, 1, data.len, f), data.len);
    assert_int_equal(fclose(f), 0);
}

/* The file offset of the dynamic symbol table entry (Elf64_Sym) named `name`. */
static inline size_t cst_elf_dynsym_entry(const cs_buf *image, const char *name)
{
    assert_true(image->len > sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    memcpy(&eh, image->ptr, sizeof eh);
    assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
    assert_true(eh.e_shoff + (size_t)eh.e_shnum * sizeof(Elf64_Shdr) <= image->len);
    const uint8_t *sh_base = image->ptr + eh.e_shoff;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sym;
        memcpy(&sym, sh_base + i * sizeof sym, sizeof sym);
        if (sym.sh_type != SHT_DYNSYM)
            continue;
        Elf64_Shdr str;
        memcpy(&str, sh_base + sym.sh_link * sizeof str, sizeof str);
        for (size_t k = 0; k < sym.sh_size / sizeof(Elf64_Sym); k++) {
            size_t at = sym.sh_offset + k * sizeof(Elf64_Sym);
            Elf64_Sym s;
            memcpy(&s, image->ptr + at, sizeof s);
            if (strcmp((const char *)image->ptr + str.sh_offset + s.st_name, name) == 0)
                return at;
        }
    }
    fail_msg("symbol %s not found", name);
    return 0;
}

/* The file offset of the first 4 bytes of the data the dynamic symbol `name` defines. */
static inline size_t cst_elf_symbol_offset(const cs_buf *image, const char *name)
{
    Elf64_Ehdr eh;
    memcpy(&eh, image->ptr, sizeof eh);
    Elf64_Sym s;
    memcpy(&s, image->ptr + cst_elf_dynsym_entry(image, name), sizeof s);
    assert_true(s.st_shndx != SHN_UNDEF && s.st_shndx < eh.e_shnum);
    Elf64_Shdr home;
    memcpy(&home, image->ptr + eh.e_shoff + s.st_shndx * sizeof home, sizeof home);
    size_t off = home.sh_offset + (s.st_value - home.sh_addr);
    assert_true(off + 4 <= image->len);
    return off;
}

/* Where the last loadable segment of an ELF64 image ends in the file. */
static inline size_t cst_elf_loaded_end(const cs_buf *image)
{
    Elf64_Ehdr eh;
    memcpy(&eh, image->ptr, sizeof eh);
    size_t end = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        assert_true(eh.e_phoff + (i + 1) * sizeof ph <= image->len);
        memcpy(&ph, image->ptr + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > end)
            end = ph.p_offset + ph.p_filesz;
    }
    assert_true(end > 0 && end <= image->len);
    return end;
}

/* A copy of the logging module at `dst` declaring ABI version `version`. */
static inline void cst_module_with_abi(const char *dst, uint32_t version)
{
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(cst_logging_module(), &image);
    size_t off = cst_elf_symbol_offset(&image, "consort_app_abi_version");
    uint32_t was;
    memcpy(&was, image.ptr + off, 4);
    assert_int_equal(was, CONSORT_APP_ABI_VERSION);
    memcpy(image.ptr + off, &version, 4);
    cst_write_file(dst, cs_buf_slice(&image));
    cs_buf_cleanup(&image);
}

/* A copy of the logging module at `dst` that does not export `name`: its
 * dynamic symbol is made local, which the dynamic loader's lookups skip. */
static inline void cst_module_without(const char *dst, const char *name)
{
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(cst_logging_module(), &image);
    size_t at = cst_elf_dynsym_entry(&image, name);
    Elf64_Sym s;
    memcpy(&s, image.ptr + at, sizeof s);
    assert_int_equal(ELF64_ST_BIND(s.st_info), STB_GLOBAL);
    s.st_info = ELF64_ST_INFO(STB_LOCAL, ELF64_ST_TYPE(s.st_info));
    memcpy(image.ptr + at, &s, sizeof s);
    cst_write_file(dst, cs_buf_slice(&image));
    cs_buf_cleanup(&image);
}

/* A copy of the logging module at `dst` with the bytes of string `from`
 * (its only occurrence, NUL included) replaced by `to`, padded with NULs to
 * the same length. */
static inline void cst_module_with_string(const char *dst, const char *from, const char *to)
{
    cs_buf image;
    cs_buf_init(&image, 0);
    cst_read_file(cst_logging_module(), &image);
    size_t n = strlen(from) + 1;
    assert_true(strlen(to) < n);
    uint8_t *at = memmem(image.ptr, image.len, from, n);
    assert_non_null(at);
    assert_null(memmem(at + 1, image.len - (size_t)(at + 1 - image.ptr), from, n));
    memset(at, 0, n);
    memcpy(at, to, strlen(to));
    cst_write_file(dst, cs_buf_slice(&image));
    cs_buf_cleanup(&image);
}

/* ---- running endpoints over a bare store ---- */

typedef struct cst_call {
    consort_response resp;
    cs_tx_outcome out;
    consort_err rc;
    cs_buf pub, priv; /* the committed write sets */
    uint64_t seqno;   /* committed as, 0 if not */
} cst_call;

/*
 * Runs `ep` on a request (method from the endpoint, `query`, `body`,
 * optional caller) in a new transaction on `store`; commits it when the
 * outcome says so. Free with cst_call_cleanup.
 */
static inline void cst_run(cs_kv_store *store, const cs_app_endpoint *ep, const char *query,
                           const char *body, const uint8_t *caller, bool writable, cst_call *c)
{
    memset(c, 0, sizeof *c);
    cs_app_response_init(&c->resp);
    cs_buf_init(&c->pub, 0);
    cs_buf_init_secret(&c->priv, 0);
    static const cs_http_header headers[] = {{"Content-Type", "application/json"},
                                             {"X-Test", "yes"}};
    consort_request req;
    cs_app_request_init(&req, ep->method, ep->path, query, headers, 2,
                        body != NULL ? cs_slice_str(body) : CS_SLICE_EMPTY, caller);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    c->rc = cs_app_invoke(ep, &req, tx, writable, &c->resp, &c->out);
    if (c->out.commit && cs_kv_tx_has_writes(tx)) {
        c->seqno = cs_kv_last_seqno(store) + 1;
        cst_ok(cs_kv_tx_commit(tx, c->seqno, &c->pub, &c->priv));
    }
    cs_kv_tx_free(tx);
}

static inline void cst_call_cleanup(cst_call *c)
{
    cs_app_response_cleanup(&c->resp);
    cs_buf_cleanup(&c->pub);
    cs_buf_cleanup(&c->priv);
}

/* The body as a NUL-terminated string (static storage). */
static inline const char *cst_body(const cst_call *c)
{
    static char text[4096];
    assert_true(c->resp.body.len < sizeof text);
    if (c->resp.body.len > 0)
        memcpy(text, c->resp.body.ptr, c->resp.body.len);
    text[c->resp.body.len] = '\0';
    return text;
}

/* Asserts the body is {"error": {"code": code, ...}} and returns the message. */
static inline const char *cst_error_message(const cst_call *c, const char *code)
{
    static char message[2048];
    json_error_t err;
    json_t *doc = json_loadb((const char *)c->resp.body.ptr, c->resp.body.len, 0, &err);
    if (doc == NULL)
        fail_msg("error body is not JSON: %s (%s)", err.text, cst_body(c));
    json_t *e = json_object_get(doc, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(doc), 1);
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    snprintf(message, sizeof message, "%s", m);
    json_decref(doc);
    return message;
}

#endif
