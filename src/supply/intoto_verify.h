/*
 * in-toto 1.x supply-chain verification without I/O, in the order of the
 * reference implementation (in-toto 1.3.1 verifylib.in_toto_verify):
 *
 *  0. parse the layout (intoto_meta.h; a layout with inspections is
 *     refused: consort never runs commands);
 *  1. verify_layout_signatures: at least one layout key; for each, the
 *     layout's first signature by that key id must verify;
 *  2. verify_layout_expiration: expired iff expires < now;
 *  3. (parameter substitution: not supported, never applied);
 *  4. load_links_for_layout: for each step, for each authorised key id,
 *     the file "<step>.<first 8 characters of the key id>.link" if present;
 *     fewer files than the threshold fails (LinkNotFoundError);
 *  5. verify_link_signature_thresholds: a link counts if its key id is in
 *     the layout's keys and its signature by that key verifies; otherwise
 *     it is skipped; fewer than threshold counted links fails;
 *  6. (sublayouts: a layout in a link's place is refused; command
 *     alignment only warns in the reference and is not checked here);
 *  7. verify_threshold_constraints: for threshold > 1, every counted link
 *     has the same materials and products as the first;
 *  8. reduce_chain_links: the first counted link stands for its step;
 *  9. verify_all_item_rules: per step in layout order, material rules then
 *     product rules (intoto_rules.h).
 *
 * Beyond the reference, fail-closed: a link must also name its step
 * ("name" equal to the step's name; the reference goes by file name only).
 */
#ifndef CS_SUPPLY_INTOTO_VERIFY_H
#define CS_SUPPLY_INTOTO_VERIFY_H

#include "supply/intoto_meta.h"
#include "supply/intoto_result.h"

#include "base/buf.h"

#include <stdint.h>

/* A link file as in-toto-run names and writes it: "<step>.<keyid:8>.link". */
typedef struct cs_intoto_file {
    const char *name;
    cs_slice data;
} cs_intoto_file;

/*
 * Verifies `layout` (a layout Metablock, JSON) with the layout keys
 * `layout_keys` (key objects, JSON, intoto_key.h) against the link files
 * `links`, at time `now` (seconds since the epoch). Nothing is kept.
 *
 * CONSORT_OK with res->check == CS_INTOTO_PASSED if the supply chain
 * verifies. Otherwise the failed check is in `res`, and the code says its
 * kind: CONSORT_E_MALFORMED/TOO_LARGE/UNSUPPORTED (a document or key does
 * not parse, or uses what consort refuses), CONSORT_E_BAD_SIGNATURE or
 * CONSORT_E_NOT_FOUND (a layout signature), CONSORT_E_EXPIRED,
 * CONSORT_E_POLICY (links missing, not enough valid links, links that
 * disagree, an artifact rule), CONSORT_E_INVALID_ARGUMENT (no layout key).
 */
CS_MUST_CHECK consort_err cs_intoto_verify(cs_slice layout, const cs_slice *layout_keys,
                                           size_t n_layout_keys, const cs_intoto_file *links,
                                           size_t n_links, int64_t now, cs_intoto_result *res);

/* What a passed verification relied on, per layout step (in layout order). */
typedef struct cs_intoto_step_summary {
    char name[CS_INTOTO_MAX_NAME + 1];
    /* The key ids of the step's counted links (at least its threshold), in pubkeys order. */
    char (*keyids)[CS_INTOTO_KEYID_HEX + 1];
    size_t n_keyids;
    /* Every counted link recorded byproducts "return-value" 0. Otherwise
     * `return_value` is the first other value (has_return_value false: a
     * counted link recorded none). */
    bool returned_zero;
    bool has_return_value;
    int64_t return_value;
    /* The products of the link standing for the step (a reference: decref'd by cleanup). */
    json_t *products;
} cs_intoto_step_summary;

/* A counted link file and the SHA-256 of its bytes. */
typedef struct cs_intoto_link_digest {
    char file[CS_INTOTO_MAX_NAME + 32];
    uint8_t sha256[32];
} cs_intoto_link_digest;

typedef struct cs_intoto_chain {
    uint8_t layout_sha256[32]; /* of the layout document's bytes */
    cs_intoto_step_summary *steps;
    size_t n_steps;
    cs_intoto_link_digest *links; /* every counted link, step by step */
    size_t n_links;
} cs_intoto_chain;

/*
 * cs_intoto_verify, and on CONSORT_OK (the chain passed) what it relied on
 * in *chain (zeroed otherwise). Call cs_intoto_chain_cleanup after, whatever
 * it returned.
 */
CS_MUST_CHECK consort_err cs_intoto_verify_chain(cs_slice layout, const cs_slice *layout_keys,
                                                 size_t n_layout_keys, const cs_intoto_file *links,
                                                 size_t n_links, int64_t now, cs_intoto_result *res,
                                                 cs_intoto_chain *chain);
void cs_intoto_chain_cleanup(cs_intoto_chain *chain);

#endif
