/*
 * The code lineage governance approved (docs/migration.md §2): the code ids
 * a node's sealed store admits as successors of the code it runs.
 *
 * N succeeds O when the service trusts N (public:consort.code_ids[N] =
 * AllowedToJoin) and governance recorded the update "N successor_of O"
 * (public:consort.gov.update[N], add_code_id with successor_of). The
 * successors of C are the code ids reachable from C through such links:
 * a node that still runs C when N2 (successor of N1, successor of C) is
 * approved may restart as N2 directly.
 */
#ifndef CS_NODE_SVC_LINEAGE_H
#define CS_NODE_SVC_LINEAGE_H

#include "store/kv.h"

/* The most successors a store lists (src/sealing: CS_SEAL_SUCCESSORS_MAX). */
#define SVC_LINEAGE_MAX 64

/* The successors of `self` in the committed state of `kv`, into out[max]
 * (sorted, without `self`); *count receives how many. TOO_LARGE if there
 * are more than `max`; CORRUPT if an update record does not parse. */
CS_MUST_CHECK consort_err svc_lineage_successors(cs_kv_store *kv, const uint8_t self[32],
                                                 uint8_t (*out)[32], size_t max, size_t *count);

/* The same within `tx` (successors true), or the other way (false): the
 * code ids `self` succeeds, trusted or not any more (their state is what
 * `self` inherits). */
CS_MUST_CHECK consort_err svc_lineage_in(cs_kv_tx *tx, const uint8_t self[32], bool successors,
                                         uint8_t (*out)[32], size_t max, size_t *count);

#endif
