/*
 * Artifact rules of one step, as in-toto 1.3.1 verifylib.verify_item_rules
 * processes them.
 *
 * The queue starts as every path of the step's materials (or products).
 * Rules run in order; each takes the paths it "consumes" out of the queue:
 *   MATCH p [IN s] WITH (MATERIALS|PRODUCTS) [IN d] FROM step
 *            queued paths under s/ matching p whose digests equal the
 *            destination step's artifact at d/<rest>; nothing if that step
 *            has no link
 *   CREATE p  queued paths matching p that are products but not materials
 *   DELETE p  queued paths matching p that are materials but not products
 *   MODIFY p  queued paths matching p in both, with different digests
 *   ALLOW p   queued paths matching p
 *   DISALLOW p  fails if any queued path matches p (consumes nothing)
 *   REQUIRE f   fails unless the path f itself is queued (no pattern)
 * Patterns are fnmatch.h's. Digests are compared as whole maps
 * ({algorithm: hex}), as Python compares the dicts.
 */
#ifndef CS_SUPPLY_INTOTO_RULES_H
#define CS_SUPPLY_INTOTO_RULES_H

#include "supply/intoto_meta.h"
#include "supply/intoto_result.h"

/* A step's name and the one link that stands for it (after reduction). */
typedef struct cs_intoto_named_link {
    const char *name;
    const cs_intoto_link *link;
} cs_intoto_named_link;

/*
 * Runs `rules` over the materials (products false) or products of the link
 * named `item` in `links`. CONSORT_E_POLICY, with `res` filled in
 * (CS_INTOTO_CHECK_RULE, step, rule, first artifact in sorted order, number
 * of artifacts), if a DISALLOW or REQUIRE rule fails; CONSORT_E_MALFORMED for
 * a pattern Python could not use.
 */
CS_MUST_CHECK consort_err cs_intoto_verify_item_rules(const char *item, bool products,
                                                      const cs_intoto_rule *rules, size_t n_rules,
                                                      const cs_intoto_named_link *links,
                                                      size_t n_links, cs_intoto_result *res);

#endif
