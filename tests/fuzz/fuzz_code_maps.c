/*
 * Fuzzes the /proc/<pid>/maps line parser of the code id measurement
 * (src/attest/code_id_maps.h). File names in the path column are chosen by
 * whoever names files on the host. Each input line must either parse, with
 * its slices inside the line, start < end, known permission letters and the
 * range being the line's first field, or fail with MALFORMED; never read
 * outside the line.
 */
#include "attest/code_id_maps.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(cs_slice s, const uint8_t *p, size_t n)
{
    return s.len == 0 || (s.ptr >= p && s.ptr + s.len <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t at = 0;
    while (at <= size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
        /* a copy of exactly the line: reading past it would be caught by ASan */
        uint8_t *line = malloc(len + 1);
        if (line == NULL)
            abort();
        memcpy(line, data + at, len);
        cs_code_mapping m;
        consort_err rc = cs_code_maps_parse_line(CS_SLICE(line, len), &m);
        if (rc == CONSORT_OK) {
            if (!inside(m.range, line, len) || !inside(m.path, line, len) || m.start >= m.end ||
                m.range.ptr != line || strchr("r-", m.perms[0]) == NULL ||
                strchr("w-", m.perms[1]) == NULL || strchr("x-", m.perms[2]) == NULL ||
                strchr("ps", m.perms[3]) == NULL || m.perms[4] != '\0')
                abort();
        } else if (rc != CONSORT_E_MALFORMED) {
            abort();
        }
        free(line);
        if (nl == NULL)
            break;
        at += len + 1;
    }
    return 0;
}
