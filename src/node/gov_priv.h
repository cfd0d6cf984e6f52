/*
 * Private to src/node/gov*.c: the staged writes of a proposal's actions.
 *
 * An accepted proposal's actions are applied atomically: each action checks
 * its arguments against the state (as earlier actions of the same proposal
 * left it) and stages its writes; only when apply as a whole succeeded are
 * the staged writes put into the transaction. A failing action therefore
 * leaves nothing behind but the proposal's record, state Failed.
 *
 *   gov_stage.c    the staged writes and reads through them
 *   gov_actions.c  the actions
 *   gov_exec.c     requests: decode, authenticate, record, resolve, apply
 *   gov_docs.c     the documents GET /gov serves
 */
#ifndef CS_NODE_GOV_PRIV_H
#define CS_NODE_GOV_PRIV_H

#include "gov/constitution.h"
#include "node/gov.h"

typedef struct gov_write {
    const char *map; /* one of the SVC_MAP_ names (static) */
    cs_buf key;
    cs_buf value;
    bool removed;
} gov_write;

typedef struct gov_stage {
    cs_kv_tx *tx;
    gov_write *writes;
    size_t count, cap;
    bool drop_open;            /* the constitution or the trusted code changed */
    const char *proposal_json; /* the proposal being applied (set_constitution's probe) */
    const char *proposal_id;   /* its id (NULL at submission: gov_codecert_precheck) */
} gov_stage;

void gov_stage_init(gov_stage *st, cs_kv_tx *tx);
void gov_stage_cleanup(gov_stage *st);
/* Reads `key` of `map` as the staged writes left it (*v valid until the
 * next staged write). */
CS_MUST_CHECK consort_err gov_stage_get(gov_stage *st, const char *map, const char *key,
                                        cs_slice *v, bool *found);
CS_MUST_CHECK consort_err gov_stage_put(gov_stage *st, const char *map, const char *key,
                                        cs_slice value);
CS_MUST_CHECK consort_err gov_stage_remove(gov_stage *st, const char *map, const char *key);
/* Calls `fn` for every key of `map` as the staged writes left it (staged
 * keys after the stored ones; order is not sorted). */
typedef bool (*gov_stage_fn)(void *ctx, cs_slice key, cs_slice value);
CS_MUST_CHECK consort_err gov_stage_each(gov_stage *st, const char *map, gov_stage_fn fn,
                                         void *ctx);
/* Puts the staged writes into the transaction. */
CS_MUST_CHECK consort_err gov_stage_flush(gov_stage *st);

/* ---- action arguments (gov_args.c): each error names the argument ---- */
#include <jansson.h>
/* Parses `json` (an object) and refuses keys outside `allowed` (NULL-ended). */
CS_MUST_CHECK consort_err gov_args_parse(const char *json, const char *const *allowed,
                                         json_t **out);
CS_MUST_CHECK consort_err gov_arg_str(json_t *o, const char *name, bool required, const char **out);
CS_MUST_CHECK consort_err gov_arg_uint(json_t *o, const char *name, bool required, uint64_t min,
                                       uint64_t max, uint64_t def, uint64_t *out);
/* A 64-hex id, lower-cased into `out` ("" if absent and optional). */
CS_MUST_CHECK consort_err gov_arg_hex_id(json_t *o, const char *name, bool required, char out[65]);
/* A certificate (PEM) as DER with its id; a member's must hold a P-256 or P-384 key. */
CS_MUST_CHECK consort_err gov_arg_cert(json_t *o, const char *name, bool member, cs_buf *der,
                                       char id[65]);

/* ---- proposal records (gov_record.c) ---- */
typedef struct gov_id_list {
    char (*ids)[CS_GOV_ID_HEX_LEN + 1];
    size_t count, cap;
    consort_err rc;
} gov_id_list;
/* The 64-hex keys of `map` (free out->ids with cs_free). */
CS_MUST_CHECK consort_err gov_list_ids(cs_kv_tx *tx, const char *map, gov_id_list *out);
/* The record of proposal `id` (*out NULL if none; json_decref it). */
CS_MUST_CHECK consort_err gov_record_get(cs_kv_tx *tx, const char *id, json_t **out);
CS_MUST_CHECK consort_err gov_record_put(cs_kv_tx *tx, const char *id, json_t *rec);
const char *gov_record_state(json_t *rec);
/* Sets the state (and the failure, if not NULL). */
CS_MUST_CHECK consort_err gov_record_set_state(json_t *rec, const char *state, const char *failure);
/* Marks every Open proposal but `except` Dropped. */
CS_MUST_CHECK consort_err gov_drop_open(cs_kv_tx *tx, const char *except);

/* The actions table for cs_constitution_apply, each bound to `st`. */
#define GOV_ACTION_COUNT 16
void gov_actions_bind(gov_stage *st, cs_constitution_action out[GOV_ACTION_COUNT]);

/* Issues the recovery shares again if an accepted proposal's staged writes
 * change what they are issued for (gov_shares.h node_shares_issue). */
CS_MUST_CHECK consort_err gov_shares_refresh(gov_stage *st, const node_share_keys *k);

#endif
