/* in-toto link parsing (intoto_meta.h). */
#include "supply/intoto_meta_priv.h"

#include "base/alloc.h"
#include "supply/cjson.h"

#include <string.h>

/* ---- link ------------------------------------------------------------ */

/* path -> {algorithm: hex digest} (securesystemslib HASHDICT_SCHEMA per artifact). */
static consort_err parse_artifacts(const json_t *map, const char *what)
{
    CS_ENSURE(json_is_object(map), CONSORT_E_MALFORMED, "%s is not an object", what);
    size_t n = json_object_size(map);
    CS_ENSURE(n <= CS_INTOTO_MAX_ARTIFACTS, CONSORT_E_TOO_LARGE, "%s: %zu artifacts, at most %d",
              what, n, CS_INTOTO_MAX_ARTIFACTS);
    const char *path;
    size_t path_len;
    json_t *hashes;
    json_object_keylen_foreach((json_t *)map, path, path_len, hashes)
    {
        CS_ENSURE(path_len <= CS_INTOTO_MAX_PATH && strlen(path) == path_len, CONSORT_E_MALFORMED,
                  "%s: a path of %zu bytes or with a NUL character", what, path_len);
        CS_ENSURE(json_is_object(hashes) && json_object_size(hashes) >= 1 &&
                      json_object_size(hashes) <= 8,
                  CONSORT_E_MALFORMED, "%s[\"%.64s\"]: not an object of 1 to 8 digests", what,
                  path);
        const char *alg;
        json_t *digest;
        json_object_foreach(hashes, alg, digest)
        {
            const char *hex;
            CS_TRY_CTX(cs_intoto_json_string(digest, alg, 256, &hex), "%s[\"%.64s\"]", what, path);
            CS_ENSURE(cs_intoto_is_hex(hex), CONSORT_E_MALFORMED,
                      "%s[\"%.64s\"][\"%.32s\"] is not hex", what, path, alg);
        }
    }
    return CONSORT_OK;
}

static consort_err link_parse(cs_slice text, cs_intoto_link *link)
{
    CS_TRY(cs_intoto_metablock_parse(text, "link", &link->mb));
    const json_t *l = link->mb.signed_obj;
    static const char *const members[] = {"_type",      "name",    "materials",  "products",
                                          "byproducts", "command", "environment"};
    CS_TRY(cs_intoto_json_members(l, members, CS_ARRAY_LEN(members)));
    CS_TRY(
        cs_intoto_json_string(json_object_get(l, "name"), "name", CS_INTOTO_MAX_NAME, &link->name));
    link->materials = json_object_get(l, "materials");
    link->products = json_object_get(l, "products");
    CS_TRY(parse_artifacts(link->materials, "materials"));
    CS_TRY(parse_artifacts(link->products, "products"));
    const json_t *by = json_object_get(l, "byproducts");
    CS_ENSURE(json_is_object(by), CONSORT_E_MALFORMED, "byproducts is not an object");
    const json_t *rv = json_object_get(by, "return-value");
    CS_ENSURE(rv == NULL || json_is_integer(rv), CONSORT_E_MALFORMED,
              "byproducts: return-value is not an integer");
    static const char *const streams[] = {"stdout", "stderr"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *s = json_object_get(by, streams[i]);
        CS_ENSURE(s == NULL || json_is_string(s), CONSORT_E_MALFORMED,
                  "byproducts: %s is not a string", streams[i]);
    }
    const json_t *command = json_object_get(l, "command");
    CS_ENSURE(json_is_array(command), CONSORT_E_MALFORMED, "command is not a list");
    for (size_t i = 0; i < json_array_size(command); i++)
        CS_ENSURE(json_is_string(json_array_get(command, i)), CONSORT_E_MALFORMED,
                  "command[%zu] is not a string", i);
    CS_ENSURE(json_is_object(json_object_get(l, "environment")), CONSORT_E_MALFORMED,
              "environment is not an object");
    return CONSORT_OK;
}

consort_err cs_intoto_link_parse(cs_slice text, cs_intoto_link *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(link_parse(text, out), "in-toto link");
    return CONSORT_OK;
}

void cs_intoto_link_cleanup(cs_intoto_link *link)
{
    if (link == NULL)
        return;
    cs_intoto_metablock_cleanup(&link->mb);
    memset(link, 0, sizeof *link);
}
