/* in-toto layout parsing (intoto_meta.h). */
#include "supply/intoto_meta_priv.h"

#include "base/alloc.h"
#include "supply/cjson.h"

#include <string.h>

/* ---- layout ---------------------------------------------------------- */

static consort_err parse_step(const json_t *obj, cs_intoto_step *step)
{
    static const char *const members[] = {"_type",
                                          "name",
                                          "expected_materials",
                                          "expected_products",
                                          "pubkeys",
                                          "expected_command",
                                          "threshold"};
    CS_ENSURE(json_is_object(obj), CONSORT_E_MALFORMED, "not an object");
    CS_TRY(cs_intoto_json_members(obj, members, CS_ARRAY_LEN(members)));
    const char *type;
    CS_TRY(cs_intoto_json_string(json_object_get(obj, "_type"), "_type", 32, &type));
    CS_ENSURE(strcmp(type, "step") == 0, CONSORT_E_MALFORMED, "_type \"%.32s\", expected \"step\"",
              type);
    CS_TRY(cs_intoto_json_string(json_object_get(obj, "name"), "name", CS_INTOTO_MAX_NAME,
                                 &step->name));
    CS_ENSURE(step->name[0] != '\0', CONSORT_E_MALFORMED, "empty name");
    const json_t *threshold = json_object_get(obj, "threshold");
    CS_ENSURE(json_is_integer(threshold), CONSORT_E_MALFORMED,
              "step \"%s\": threshold is not an integer", step->name);
    step->threshold = json_integer_value(threshold);
    CS_ENSURE(step->threshold >= 1 && step->threshold <= CS_INTOTO_MAX_PUBKEYS, CONSORT_E_MALFORMED,
              "step \"%s\": threshold %" JSON_INTEGER_FORMAT ", expected 1 to %d", step->name,
              json_integer_value(threshold), CS_INTOTO_MAX_PUBKEYS);
    const json_t *pubkeys = json_object_get(obj, "pubkeys");
    CS_ENSURE(json_is_array(pubkeys), CONSORT_E_MALFORMED, "step \"%s\": pubkeys is not a list",
              step->name);
    step->n_pubkeys = json_array_size(pubkeys);
    CS_ENSURE(step->n_pubkeys <= CS_INTOTO_MAX_PUBKEYS, CONSORT_E_TOO_LARGE,
              "step \"%s\": %zu pubkeys, at most %d", step->name, step->n_pubkeys,
              CS_INTOTO_MAX_PUBKEYS);
    step->pubkeys = step->n_pubkeys ? cs_calloc(step->n_pubkeys, sizeof *step->pubkeys) : NULL;
    CS_ENSURE(step->n_pubkeys == 0 || step->pubkeys != NULL, CONSORT_E_NOMEM, "pubkeys");
    for (size_t i = 0; i < step->n_pubkeys; i++) {
        CS_TRY_CTX(
            cs_intoto_json_string(json_array_get(pubkeys, i), "key id", 128, &step->pubkeys[i]),
            "step \"%s\": pubkeys[%zu]", step->name, i);
        CS_ENSURE(cs_intoto_is_hex(step->pubkeys[i]), CONSORT_E_MALFORMED,
                  "step \"%s\": pubkeys[%zu] is not a hex key id", step->name, i);
    }
    const json_t *command = json_object_get(obj, "expected_command");
    CS_ENSURE(json_is_array(command), CONSORT_E_MALFORMED,
              "step \"%s\": expected_command is not a list", step->name);
    CS_TRY_CTX(cs_intoto_rules_parse(json_object_get(obj, "expected_materials"),
                                     "expected_materials", &step->materials, &step->n_materials),
               "step \"%s\"", step->name);
    CS_TRY_CTX(cs_intoto_rules_parse(json_object_get(obj, "expected_products"), "expected_products",
                                     &step->products, &step->n_products),
               "step \"%s\"", step->name);
    return CONSORT_OK;
}

static consort_err parse_layout_keys(const json_t *keys, cs_intoto_layout *layout)
{
    CS_ENSURE(json_is_object(keys), CONSORT_E_MALFORMED, "keys is not an object");
    size_t n = json_object_size(keys);
    CS_ENSURE(n <= CS_INTOTO_MAX_KEYS, CONSORT_E_TOO_LARGE, "%zu keys, at most %d", n,
              CS_INTOTO_MAX_KEYS);
    layout->keys = n ? cs_calloc(n, sizeof *layout->keys) : NULL;
    CS_ENSURE(n == 0 || layout->keys != NULL, CONSORT_E_NOMEM, "keys");
    const char *keyid;
    json_t *value;
    json_object_foreach((json_t *)keys, keyid, value)
    {
        CS_TRY_CTX(cs_intoto_key_parse(value, keyid, &layout->keys[layout->n_keys]),
                   "keys[\"%.64s\"]", keyid);
        layout->n_keys++;
    }
    return CONSORT_OK;
}

static consort_err layout_parse(cs_slice text, cs_intoto_layout *layout)
{
    CS_TRY(cs_intoto_metablock_parse(text, "layout", &layout->mb));
    const json_t *l = layout->mb.signed_obj;
    static const char *const members[] = {"_type", "expires", "keys", "readme", "steps", "inspect"};
    CS_TRY(cs_intoto_json_members(l, members, CS_ARRAY_LEN(members)));
    const char *readme, *expires;
    CS_TRY(
        cs_intoto_json_string(json_object_get(l, "readme"), "readme", CS_CJSON_MAX_DOC, &readme));
    CS_TRY(cs_intoto_json_string(json_object_get(l, "expires"), "expires", 64, &expires));
    CS_TRY(cs_intoto_parse_time(expires, &layout->expires));
    const json_t *inspect = json_object_get(l, "inspect");
    CS_ENSURE(json_is_array(inspect), CONSORT_E_MALFORMED, "inspect is not a list");
    layout->n_inspections = json_array_size(inspect);
    if (layout->n_inspections > 0) {
        const char *name = json_string_value(json_object_get(json_array_get(inspect, 0), "name"));
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "layout has %zu inspection(s) (first: \"%.64s\"); consort never runs "
                       "inspection commands, so it refuses layouts with inspections",
                       json_array_size(inspect), name ? name : "?");
    }
    CS_TRY(parse_layout_keys(json_object_get(l, "keys"), layout));
    const json_t *steps = json_object_get(l, "steps");
    CS_ENSURE(json_is_array(steps), CONSORT_E_MALFORMED, "steps is not a list");
    size_t n = json_array_size(steps);
    CS_ENSURE(n <= CS_INTOTO_MAX_STEPS, CONSORT_E_TOO_LARGE, "%zu steps, at most %d", n,
              CS_INTOTO_MAX_STEPS);
    layout->steps = n ? cs_calloc(n, sizeof *layout->steps) : NULL;
    CS_ENSURE(n == 0 || layout->steps != NULL, CONSORT_E_NOMEM, "steps");
    for (size_t i = 0; i < n; i++) {
        cs_intoto_step *step = &layout->steps[i];
        layout->n_steps++;
        CS_TRY_CTX(parse_step(json_array_get(steps, i), step), "steps[%zu]", i);
        /* Layout._validate_steps_and_inspections: names are unique. */
        for (size_t j = 0; j < i; j++)
            CS_ENSURE(strcmp(layout->steps[j].name, step->name) != 0, CONSORT_E_MALFORMED,
                      "steps[%zu]: a step named \"%s\" already exists", i, step->name);
    }
    return CONSORT_OK;
}

consort_err cs_intoto_layout_parse(cs_slice text, cs_intoto_layout *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(layout_parse(text, out), "in-toto layout");
    return CONSORT_OK;
}

void cs_intoto_layout_cleanup(cs_intoto_layout *layout)
{
    if (layout == NULL)
        return;
    for (size_t i = 0; i < layout->n_keys; i++)
        cs_intoto_key_cleanup(&layout->keys[i]);
    for (size_t i = 0; i < layout->n_steps; i++) {
        cs_free(layout->steps[i].pubkeys);
        cs_free(layout->steps[i].materials);
        cs_free(layout->steps[i].products);
    }
    cs_free(layout->keys);
    cs_free(layout->steps);
    cs_intoto_metablock_cleanup(&layout->mb);
    memset(layout, 0, sizeof *layout);
}
