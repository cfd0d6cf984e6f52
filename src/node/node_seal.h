/*
 * The node's sealed store (docs/migration.md): src/sealing's store in
 * data_dir/sealed/, anchored to the platform's monotonic counter, holding
 * the vault (vault.h: the node's keys and the service's secrets, as the
 * store's payload), the applications' sealing key and named counters, and
 * the lineage record that lets an approved successor of this code open it.
 *
 *   anchor   virtual  a file in the platform directory (the "machine"),
 *                     platform_dir/counters/<SHA-256 of the data_dir path,
 *                     16 hex>: copying or restoring the data directory does
 *                     not roll it back; INSECURE like the platform itself
 *            tpm      the TPM's NV counter (src/sealing/anchor.h; one node
 *                     per TPM)
 *   keys     the code id and the platform's lineage root (platform.h)
 *
 * A store that is not LIVE does not run: FROZEN or PENDING (a migration
 * under way: `consort migrate` finishes it), RETIRED (its state moved to
 * another instance: this data directory never runs again).
 *
 * Every function may be called from any thread (one mutex).
 */
#ifndef CS_NODE_SEAL_H
#define CS_NODE_SEAL_H

#include "node/app_host.h"
#include "node/platform.h"
#include "sealing/store.h"

#include <uv.h>

typedef struct node_seal node_seal;

/* The store's directory and the platform's anchor for `cfg`'s node, and
 * the keys of the code it runs. The caller frees the anchor. */
CS_MUST_CHECK consort_err node_seal_anchor_open(const cs_node_config *cfg, cs_anchor **out);
void node_seal_keys(const node_platform *p, const uint8_t code_id[32], cs_sealstore_keys *out);
CS_MUST_CHECK consort_err node_seal_dir(const cs_node_config *cfg, char *out, size_t n);

/*
 * Opens the node's store, or creates it (a data directory without one):
 * *created says which. Refuses a store that is not LIVE (STATE, saying what
 * to do) and every error of cs_sealstore_open (POLICY: another code that
 * governance did not approve as a successor; ROLLBACK; BAD_TAG: another
 * platform). Logs a warning for an insecure anchor.
 */
CS_MUST_CHECK consort_err node_seal_open(const cs_node_config *cfg, const node_platform *p,
                                         const uint8_t code_id[32], node_seal **out, bool *created);
/* The same for the store in `dir` with these keys and `anchor` (taken
 * over, even on failure): what node_seal_open does once it derived them;
 * for tests and fuzz targets, which have no platform. */
CS_MUST_CHECK consort_err node_seal_open_dir(const char *dir, const cs_sealstore_keys *keys,
                                             cs_anchor *anchor, node_seal **out, bool *created);
void node_seal_free(node_seal *ns);

/* The vault's bytes: copied into `out` (NOT_FOUND if none yet), replaced. */
CS_MUST_CHECK consort_err node_seal_payload(node_seal *ns, cs_buf *out);
CS_MUST_CHECK consort_err node_seal_set_payload(node_seal *ns, cs_slice payload);
/*
 * Replaces the vault's bytes from a worker of `loop`'s thread pool, so the
 * calling loop does not wait for the store's write, fsyncs and anchor
 * increment (a high-water mark raised after every snapshot waited for the
 * disk that was writing the snapshot: bench/RESULTS.md). `payload` is copied
 * (and wiped once written). Payloads land in the order they were given,
 * with node_seal_set_payload's among them: one given before another that is
 * already written is dropped, never written over it. A write that fails is
 * logged (warning) from the loop; the store is then reopened as after any
 * failed change, and the next payload tries again. The store stays open
 * until the write ends, even if node_seal_free comes first; `loop` must run
 * until then. On CONSORT_OK `done` (may be NULL) is called once, from the
 * loop, when the write ended (rc: its outcome; OK also when a newer payload
 * made it moot); on an error (NOMEM, or the thread pool's) nothing is
 * written and `done` is not called.
 */
typedef void (*node_seal_done_fn)(void *ctx, consort_err rc);
CS_MUST_CHECK consort_err node_seal_set_payload_later(node_seal *ns, uv_loop_t *loop,
                                                      cs_slice payload, node_seal_done_fn done,
                                                      void *ctx);

/* Lists `ids` as the approved successors (one commit, only if they
 * changed; sorted input). */
CS_MUST_CHECK consort_err node_seal_set_successors(node_seal *ns, const uint8_t (*ids)[32],
                                                   size_t n);

/* The same from the committed state of `kv` (svc_lineage.h): the
 * successors of `code_id` governance approved. */
CS_MUST_CHECK consort_err node_seal_refresh(node_seal *ns, cs_kv_store *kv,
                                            const uint8_t code_id[32]);

/* The sealer the application ABI calls (app_host.h), valid until free. */
const cs_app_sealer *node_seal_app_sealer(node_seal *ns);

/* The store's instance id, as hex (33 bytes). */
void node_seal_instance_hex(node_seal *ns, char out[33]);

#endif
