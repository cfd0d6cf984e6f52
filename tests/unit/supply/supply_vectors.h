/* Helpers for the supply tests: paths and files under tests/unit/supply/vectors. */
#ifndef CONSORT_TEST_SUPPLY_VECTORS_H
#define CONSORT_TEST_SUPPLY_VECTORS_H

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

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

#endif
