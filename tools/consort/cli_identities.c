/* The succession records of a GET /node/network answer (cli_identities.h). */
#include "cli_identities.h"

#include "base/file.h"
#include "crypto/b64.h"
#include "store/succession.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define IDENTITIES_FILE_MAX ((size_t)16 << 20)

void cs_cli_identities_init(cs_cli_identities *ids)
{
    memset(ids, 0, sizeof *ids);
}

void cs_cli_identities_cleanup(cs_cli_identities *ids)
{
    for (size_t i = 0; i < ids->count; i++)
        cs_buf_cleanup(&ids->items[i]);
    free(ids->items);
    free(ids->records);
    memset(ids, 0, sizeof *ids);
}

static consort_err take_records(json_t *list, cs_cli_identities *out)
{
    size_t n = json_array_size(list);
    out->items = calloc(n + 1, sizeof *out->items);
    out->records = calloc(n + 1, sizeof *out->records);
    CS_ENSURE(out->items != NULL && out->records != NULL, CONSORT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *b64 = json_string_value(json_object_get(json_array_get(list, i), "record"));
        CS_ENSURE(b64 != NULL, CONSORT_E_MALFORMED, "previous_identities[%zu] has no \"record\"",
                  i);
        cs_buf_init(&out->items[i], CS_SUCCESSION_MAX);
        out->count++;
        CS_TRY_CTX(cs_b64_decode(cs_slice_str(b64), &out->items[i]),
                   "previous_identities[%zu].record", i);
        out->records[i] = cs_buf_slice(&out->items[i]);
    }
    return CONSORT_OK;
}

consort_err cs_cli_identities_read(const char *file, cs_cli_identities *out)
{
    cs_buf text;
    cs_buf_init(&text, IDENTITIES_FILE_MAX);
    json_t *doc = NULL;
    consort_err rc = cs_file_read(file, &text);
    if (rc == CONSORT_OK) {
        json_error_t jerr;
        doc = json_loadb((const char *)text.ptr, text.len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL)
            rc = cs_fail(CONSORT_E_MALFORMED, "not JSON: %s (line %d)", jerr.text, jerr.line);
    }
    json_t *list = json_object_get(doc, "previous_identities");
    if (rc == CONSORT_OK && !json_is_array(list))
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "no \"previous_identities\" array (save GET /node/network of the service)");
    if (rc == CONSORT_OK)
        rc = take_records(list, out);
    json_decref(doc);
    cs_buf_cleanup(&text);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "--identities %s", file);
}
