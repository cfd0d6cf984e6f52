/*
 * For src/supply's metadata parsers only (intoto_meta.c, intoto_layout.c,
 * intoto_link.c): the strict JSON helpers and the Metablock envelope they share.
 */
#ifndef CS_SUPPLY_INTOTO_META_PRIV_H
#define CS_SUPPLY_INTOTO_META_PRIV_H

#include "supply/intoto_json.h"
#include "supply/intoto_meta.h"

/*
 * Parses the envelope {"signatures": [{"keyid", "sig"}], "signed": {...}}
 * whose signed "_type" is `want_type`, and computes the signable bytes.
 * A layout where a link is expected is CONSORT_E_UNSUPPORTED (sublayouts).
 * Call cs_intoto_metablock_cleanup after, whatever it returned.
 */
CS_MUST_CHECK consort_err cs_intoto_metablock_parse(cs_slice text, const char *want_type,
                                                    cs_intoto_metablock *mb);
void cs_intoto_metablock_cleanup(cs_intoto_metablock *mb);

/* A list of rules (expected_materials / expected_products); *out is cs_free()d by the caller. */
CS_MUST_CHECK consort_err cs_intoto_rules_parse(const json_t *list, const char *what,
                                                cs_intoto_rule **out, size_t *n_out);

#endif
