/*
 * The web console's file table (node/console.h): every embedded file is
 * found by its exact path and nothing else is, /console names the entry
 * page, each file has its Content-Type and an entity tag derived from its
 * bytes, and If-None-Match is compared as RFC 9110 §13.1.2 says.
 */
#include "testutil.h"

#include "crypto/hash.h"
#include "node/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cs_console_asset *must_find(const char *path)
{
    const cs_console_asset *a = cs_console_find(path);
    if (a == NULL)
        fail_msg("%s: not found", path);
    return a;
}

static void the_table(void **state)
{
    (void)state;
    static const struct {
        const char *path, *type, *starts;
    } want[] = {
        {"/console/index.html", "text/html; charset=utf-8", "<!DOCTYPE html>"},
        {"/console/console.css", "text/css; charset=utf-8", NULL},
        {"/console/console.js", "text/javascript; charset=utf-8", "// consort web console"},
        {"/console/favicon.svg", "image/svg+xml", "<svg"},
    };
    assert_int_equal(cs_console_asset_count, CS_ARRAY_LEN(want));
    for (size_t i = 0; i < CS_ARRAY_LEN(want); i++) {
        const cs_console_asset *a = must_find(want[i].path);
        assert_string_equal(a->path, want[i].path);
        assert_string_equal(a->content_type, want[i].type);
        assert_true(a->len > 0);
        if (want[i].starts != NULL)
            assert_memory_equal(a->data, want[i].starts, strlen(want[i].starts));
        /* the generator NUL-terminates every file after its counted length */
        assert_int_equal(a->data[a->len], 0);
        assert_int_equal(memchr(a->data, 0, a->len), NULL);
        /* the tag is "<first 32 hex digits of SHA-256(bytes)>" */
        uint8_t digest[32];
        char hex[65], tag[80];
        cs_sha256(CS_SLICE(a->data, a->len), digest);
        cs_hex_encode(CS_SLICE(digest, 16), hex);
        snprintf(tag, sizeof tag, "\"%s\"", hex);
        assert_string_equal(a->etag, tag);
    }
    /* the entry page, without and with the slash */
    assert_ptr_equal(cs_console_find("/console"), must_find("/console/index.html"));
    assert_ptr_equal(cs_console_find("/console/"), must_find("/console/index.html"));
}

/* The table holds console/'s files exactly ($CONSORT_SOURCE_DIR, set by ctest). */
static void same_bytes_as_the_sources(void **state)
{
    (void)state;
    const char *src = getenv("CONSORT_SOURCE_DIR");
    if (src == NULL)
        fail_msg("CONSORT_SOURCE_DIR is not set (run the test through ctest)");
    for (size_t i = 0; i < cs_console_asset_count; i++) {
        const cs_console_asset *a = &cs_console_assets[i];
        char path[1024];
        snprintf(path, sizeof path, "%s/console/%s", src, a->path + strlen("/console/"));
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            fail_msg("%s: cannot open", path);
        cs_buf want;
        cs_buf_init(&want, 0);
        uint8_t chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            cst_ok(cs_buf_append(&want, chunk, n));
        fclose(f);
        assert_int_equal(a->len, want.len);
        assert_memory_equal(a->data, want.ptr, want.len);
        cs_buf_cleanup(&want);
    }
}

static void only_the_table(void **state)
{
    (void)state;
    static const char *const missing[] = {
        "/console/nope.js",
        "/console/index.htm",
        "/console/INDEX.HTML",
        "/console/../node/state",
        "/console/%2e%2e/index.html",
        "/console//index.html",
        "/console/./index.html",
        "/console/index.html/",
        "/console/index.html?x",
        "/console/index.html%00",
        "/console/console.js.map",
        "/consolex",
        "/console.js",
        "/Console",
        "",
        "/",
        "/console/console",
        "index.html",
        "console/index.html",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(missing); i++)
        if (cs_console_find(missing[i]) != NULL)
            fail_msg("%s was found", missing[i]);
    /* what the console owns (404 there, never the application's) */
    assert_true(cs_console_owns("/console"));
    assert_true(cs_console_owns("/console/"));
    assert_true(cs_console_owns("/console/../x"));
    assert_false(cs_console_owns("/consolex"));
    assert_false(cs_console_owns("/console.js"));
    assert_false(cs_console_owns("/app/console"));
    assert_false(cs_console_owns(""));
}

static void if_none_match(void **state)
{
    (void)state;
    const cs_console_asset *a = must_find("/console/console.js");
    const cs_console_asset *other = must_find("/console/index.html");
    char v[160];
    assert_true(cs_console_etag_matches(a, a->etag));
    assert_true(cs_console_etag_matches(a, "*"));
    snprintf(v, sizeof v, "W/%s", a->etag); /* weak comparison */
    assert_true(cs_console_etag_matches(a, v));
    snprintf(v, sizeof v, "\"x\", %s", a->etag);
    assert_true(cs_console_etag_matches(a, v));
    snprintf(v, sizeof v, "%s,%s", other->etag, a->etag);
    assert_true(cs_console_etag_matches(a, v));
    assert_false(cs_console_etag_matches(a, NULL));
    assert_false(cs_console_etag_matches(a, ""));
    assert_false(cs_console_etag_matches(a, other->etag));
    assert_false(cs_console_etag_matches(a, "\"\""));
    /* a tag's prefix, or the tag unquoted or unterminated: no match */
    snprintf(v, sizeof v, "%.*s\"", (int)strlen(a->etag) - 2, a->etag);
    assert_false(cs_console_etag_matches(a, v));
    snprintf(v, sizeof v, "%.*s", (int)strlen(a->etag) - 2, a->etag + 1);
    assert_false(cs_console_etag_matches(a, v));
    snprintf(v, sizeof v, "%.*s", (int)strlen(a->etag) - 1, a->etag);
    assert_false(cs_console_etag_matches(a, v));
    assert_false(cs_console_etag_matches(a, "garbage"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table),
        cmocka_unit_test(same_bytes_as_the_sources),
        cmocka_unit_test(only_the_table),
        cmocka_unit_test(if_none_match),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
