/* Helpers for the supply tests: paths and files under tests/unit/supply/vectors. */
#ifndef CONSORT_TEST_SUPPLY_VECTORS_H
#define CONSORT_TEST_SUPPLY_VECTORS_H

#include "testutil.h"

#include "supply/intoto_verify.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "$CONSORT_SOURCE_DIR/tests/unit/supply/vectors/<rel>" (static storage). */
static inline const char *sv_path(const char *rel)
{
    static char path[4096];
    const char *src = getenv("CONSORT_SOURCE_DIR");
    if (src == NULL)
        fail_msg("CONSORT_SOURCE_DIR is not set (run the test through ctest)");
    snprintf(path, sizeof path, "%s/tests/unit/supply/vectors/%s", src, rel);
    return path;
}

static inline void sv_read(const char *rel, cs_buf *out)
{
    cst_read_file(sv_path(rel), out);
}

static inline json_t *sv_json(const char *rel)
{
    json_error_t err;
    json_t *v = json_load_file(sv_path(rel), 0, &err);
    if (v == NULL)
        fail_msg("%s: %s", rel, err.text);
    return v;
}

#define MAX_CHAIN_FILES 16

/* A variant's layout, link files and the owner's key, read from disk. */
typedef struct chain {
    cs_buf layout;
    cs_buf owner;
    cs_buf data[MAX_CHAIN_FILES];
    char names[MAX_CHAIN_FILES][256];
    cs_intoto_file files[MAX_CHAIN_FILES];
    size_t n;       /* files read */
    size_t n_given; /* files given to the verifier (the first n_given) */
} chain;

static inline void chain_load(chain *c, const char *variant)
{
    memset(c, 0, sizeof *c);
    char rel[600];
    snprintf(rel, sizeof rel, "chain/%s/root.layout", variant);
    sv_read(rel, &c->layout);
    sv_read("keys/owner.json", &c->owner);
    snprintf(rel, sizeof rel, "chain/%s", variant);
    DIR *d = opendir(sv_path(rel));
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".link") != 0)
            continue;
        assert_true(c->n < MAX_CHAIN_FILES);
        snprintf(c->names[c->n], sizeof c->names[c->n], "%s", e->d_name);
        snprintf(rel, sizeof rel, "chain/%s/%s", variant, e->d_name);
        sv_read(rel, &c->data[c->n]);
        c->files[c->n] = (cs_intoto_file){c->names[c->n], cs_buf_slice(&c->data[c->n])};
        c->n++;
    }
    closedir(d);
    c->n_given = c->n;
}

static inline void chain_cleanup(chain *c)
{
    cs_buf_cleanup(&c->layout);
    cs_buf_cleanup(&c->owner);
    for (size_t i = 0; i < c->n; i++)
        cs_buf_cleanup(&c->data[i]);
}

#endif
