/*
 * in-toto 1.x metadata: the Metablock envelope, layouts and links, parsed
 * strictly (in-toto 1.3.1 in_toto/models/{metadata,layout,link}.py).
 *
 * What is signed. The reference signs and verifies the canonical JSON of
 * its model object (attr.asdict), which has exactly the members listed
 * below, missing ones filled with defaults and unknown ones dropped. This
 * parser requires exactly those members, so the canonical JSON of the
 * "signed" object as received is the reference's signable bytes; a document
 * with a missing or unknown member is refused (the reference would
 * silently fill or drop it).
 *
 * Caps: CS_CJSON_MAX_DOC bytes per document, and the CS_INTOTO_MAX_* counts.
 * The parsed structs borrow their strings from the document they keep.
 */
#ifndef CS_SUPPLY_INTOTO_META_H
#define CS_SUPPLY_INTOTO_META_H

#include "supply/intoto_key.h"

#include <jansson.h>
#include <stdint.h>

#define CS_INTOTO_MAX_SIGNATURES 32
#define CS_INTOTO_MAX_KEYS       256
#define CS_INTOTO_MAX_STEPS      256
#define CS_INTOTO_MAX_PUBKEYS    256
#define CS_INTOTO_MAX_RULES      256
#define CS_INTOTO_MAX_ARTIFACTS  65536
#define CS_INTOTO_MAX_PATH       4096
#define CS_INTOTO_MAX_NAME       256

/* Artifact rules (in_toto/rulelib.py unpack_rule). */
typedef enum cs_intoto_rule_type {
    CS_INTOTO_RULE_MATCH = 1,
    CS_INTOTO_RULE_CREATE,
    CS_INTOTO_RULE_DELETE,
    CS_INTOTO_RULE_MODIFY,
    CS_INTOTO_RULE_ALLOW,
    CS_INTOTO_RULE_DISALLOW,
    CS_INTOTO_RULE_REQUIRE,
} cs_intoto_rule_type;

typedef struct cs_intoto_rule {
    cs_intoto_rule_type type;
    const char *pattern;
    /* MATCH only ("" when absent, as in rulelib) */
    const char *source_prefix;
    const char *dest_prefix;
    const char *dest_name;
    bool dest_products; /* WITH PRODUCTS (else MATERIALS) */
    const json_t *raw;  /* the rule as written, a list of strings */
} cs_intoto_rule;

typedef struct cs_intoto_step {
    const char *name;
    const char **pubkeys; /* key ids, as written */
    size_t n_pubkeys;
    int64_t threshold;
    cs_intoto_rule *materials; /* expected_materials */
    size_t n_materials;
    cs_intoto_rule *products; /* expected_products */
    size_t n_products;
} cs_intoto_step;

/* The Metablock envelope: {"signatures": [{"keyid", "sig"}], "signed": {...}}. */
typedef struct cs_intoto_metablock {
    json_t *doc;
    const json_t *signed_obj;
    const json_t *signatures;
    cs_buf signable; /* canonical JSON of "signed", UTF-8 */
} cs_intoto_metablock;

typedef struct cs_intoto_layout {
    cs_intoto_metablock mb;
    int64_t expires; /* seconds since the epoch, UTC */
    cs_intoto_key *keys;
    size_t n_keys;
    cs_intoto_step *steps;
    size_t n_steps;
    size_t n_inspections; /* set (nonzero) when the parse refused inspections */
} cs_intoto_layout;

typedef struct cs_intoto_link {
    cs_intoto_metablock mb;
    const char *name;
    const json_t *materials; /* path -> {algorithm: hex} */
    const json_t *products;
} cs_intoto_link;

/*
 * Parses a layout document. Layout members: _type ("layout"), expires
 * ("YYYY-MM-DDTHH:MM:SSZ", securesystemslib ISO8601_DATETIME_SCHEMA), keys
 * (key id -> key object, intoto_key.h), readme, steps, inspect. Step
 * members: _type ("step"), name, expected_materials, expected_products,
 * pubkeys, expected_command, threshold (an integer >= 1: the reference
 * crashes on 0). Step names are unique.
 * A layout with inspections is refused with CONSORT_E_UNSUPPORTED: an
 * inspection runs a command on the verifier, and consort runs none.
 * CONSORT_E_MALFORMED/TOO_LARGE/UNSUPPORTED with a message naming the member.
 * Call cs_intoto_layout_cleanup after, whatever it returned.
 */
CS_MUST_CHECK consort_err cs_intoto_layout_parse(cs_slice text, cs_intoto_layout *out);
void cs_intoto_layout_cleanup(cs_intoto_layout *layout);

/*
 * Parses a link document. Members: _type ("link"), name, materials and
 * products (path -> {hash algorithm: hex digest}, at least one digest each),
 * byproducts (an object; "return-value" an integer, "stdout"/"stderr"
 * strings when present), command (a list of strings), environment (an
 * object). A layout where a link is expected (a sublayout) is refused with
 * CONSORT_E_UNSUPPORTED. Call cs_intoto_link_cleanup after.
 */
CS_MUST_CHECK consort_err cs_intoto_link_parse(cs_slice text, cs_intoto_link *out);
void cs_intoto_link_cleanup(cs_intoto_link *link);

/*
 * Verifies the metablock's signature by `key` as in-toto's
 * Metablock.verify_signature does: the first signature whose keyid is the
 * key's id is checked, and only that one. CONSORT_E_NOT_FOUND "no signature
 * by key <id>" if there is none; CONSORT_E_BAD_SIGNATURE if it does not
 * verify.
 */
CS_MUST_CHECK consort_err cs_intoto_metablock_verify(const cs_intoto_metablock *mb,
                                                     const cs_intoto_key *key);

/* Parses a rule (a JSON list of strings) as rulelib.unpack_rule does. */
CS_MUST_CHECK consort_err cs_intoto_rule_parse(const json_t *raw, cs_intoto_rule *out);

/* Writes the rule as its words joined by spaces ("MATCH foo WITH ..."), truncated to `cap`. */
void cs_intoto_rule_text(const cs_intoto_rule *rule, char *out, size_t cap);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC) into seconds since the epoch. */
CS_MUST_CHECK consort_err cs_intoto_parse_time(const char *s, int64_t *out);

#endif
