/*
 * The replica object and committed entries (replica.h): every entry that
 * did not come from this leader's own executor is authenticated with the
 * ledger secret (store/ledger.h cs_ledger_entry_open), every signature
 * entry is checked against the tree, the store and the terms the replica
 * rebuilt itself, and only then applied (docs/security.md).
 */
#include "node/replica_priv.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <uv.h>
#include <string.h>
#include <time.h>

consort_err node_replica_new(const node_replica_opts *o, node_replica **out)
{
    node_replica *r = cs_calloc(1, sizeof *r);
    CS_ENSURE(r != NULL, CONSORT_E_NOMEM, "replica: out of memory");
    r->opts = *o;
    cs_buf_init(&r->last_sig, CS_LEDGER_ENTRY_MAX);
    consort_err rc;
    CS_ENSURE_GOTO(rc, strlen(o->data_dir) < sizeof r->data_dir, fail, CONSORT_E_INVALID_ARGUMENT,
                   "data directory path too long");
    memcpy(r->data_dir, o->data_dir, strlen(o->data_dir) + 1);
    r->opts.data_dir = r->data_dir;
    CS_TRY_GOTO(rc, cs_path_join(r->ledger_dir, sizeof r->ledger_dir, o->data_dir, "ledger"), fail);
    CS_TRY_GOTO(rc, cs_path_join(r->snapshot_dir, sizeof r->snapshot_dir, o->data_dir, "snapshots"),
                fail);
    CS_TRY_GOTO(rc, cs_kv_store_new(NULL, &r->kv), fail);
    /* signature entries repeat what they sign: not state */
    CS_TRY_GOTO(rc, cs_kv_store_exclude_from_digest(r->kv, CS_SLICE_LIT(CS_LEDGER_SIG_MAP)), fail);
    CS_TRY_GOTO(rc, cs_merkle_new(&r->tree), fail);
    replica_index_reset(&r->idx, 1);
    CS_TRY_GOTO(rc, replica_sync_init(r), fail);
    *out = r;
    return CONSORT_OK;
fail:
    node_replica_free(r);
    return cs_err_context(rc, "replica");
}

void node_replica_free(node_replica *r)
{
    if (r == NULL)
        return;
    replica_sync_cleanup(r);
    replica_rebuild_detach(r);
    replica_copy_detach(r);
    cs_ledger_writer_free(r->ledger);
    cs_kv_store_free(r->kv);
    cs_merkle_free(r->tree);
    replica_index_cleanup(&r->idx);
    cs_ledger_cert_cache_cleanup(&r->sig_cache);
    cs_buf_cleanup(&r->last_sig);
    cs_ledger_keys_cleanup(&r->keys);
    cs_wipe(r->secret, sizeof r->secret);
    cs_free(r);
}

void node_replica_set_events(node_replica *r, const node_replica_events *ev)
{
    r->ev = *ev;
}

void node_replica_set_service(node_replica *r, const uint8_t secret[CS_LEDGER_SECRET_LEN],
                              const cs_x509 *service_cert)
{
    memcpy(r->secret, secret, CS_LEDGER_SECRET_LEN);
    cs_ledger_keys_cleanup(&r->keys);
    cs_ledger_keys_init(&r->keys, r->secret);
    r->service_cert = service_cert;
    r->has_service = true;
}

consort_err node_replica_set_identities(node_replica *r, const cs_ledger_identity *ids,
                                        size_t count)
{
    CS_ENSURE(count <= NODE_REPLICA_IDS_MAX, CONSORT_E_INVALID_ARGUMENT,
              "replica: %zu service identities, at most %d", count, NODE_REPLICA_IDS_MAX);
    memcpy(r->ids, ids, count * sizeof *ids);
    r->id_count = count;
    return CONSORT_OK;
}

/* ---- signature entries ---- */

consort_err replica_state_digest(const node_replica *r, const cs_kv_store *kv,
                                 uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    /* keyed, so that no one without the secret can test guesses of private
     * values against a signed state (docs/ledger.md 4) */
    static const char label[] = "consort state digest v2";
    uint8_t info[sizeof label - 1 + CS_KV_STATE_DIGEST_LEN];
    memcpy(info, label, sizeof label - 1);
    cs_kv_state_digest(kv, info + sizeof label - 1);
    return cs_hkdf_sha256(CS_SLICE(r->secret, CS_LEDGER_SECRET_LEN), CS_SLICE_EMPTY,
                          CS_SLICE(info, sizeof info), out, CS_KV_STATE_DIGEST_LEN);
}

consort_err replica_check_signature(const node_replica *r, const cs_ledger_entry *e,
                                    const cs_merkle_tree *t,
                                    const uint8_t state[CS_KV_STATE_DIGEST_LEN],
                                    const replica_index *x, cs_ledger_cert_cache *cache)
{
    const unsigned long long seqno = (unsigned long long)e->seqno;
    cs_ledger_sig sig;
    CS_TRY_CTX(cs_ledger_sig_parse(e, &sig), "signature entry %llu", seqno);
    uint8_t root[CS_MERKLE_HASH_LEN], terms[CS_LEDGER_DIGEST_LEN];
    CS_TRY(cs_merkle_root_at(t, sig.tree_size, root));
    /* docs/ledger.md 4: the root of the tree of the tree_size leaves before it */
    CS_ENSURE(cs_ct_equal(CS_SLICE(root, sizeof root), sig.root), CONSORT_E_BAD_PROOF,
              "signature entry %llu: signed root does not match the ledger's first %llu entries",
              seqno, (unsigned long long)sig.tree_size);
    /* ... the store those entries leave (every node must agree, or one diverged) */
    CS_ENSURE(cs_ct_equal(CS_SLICE(state, CS_KV_STATE_DIGEST_LEN), sig.state), CONSORT_E_BAD_PROOF,
              "signature entry %llu: the store after entry %llu is not the state it signs", seqno,
              (unsigned long long)sig.tree_size);
    /* ... and their terms */
    CS_TRY(replica_index_terms_digest(x, sig.tree_size, sig.tree_size, 0, terms));
    CS_ENSURE(cs_ct_equal(CS_SLICE(terms, sizeof terms), sig.terms), CONSORT_E_BAD_PROOF,
              "signature entry %llu: the terms of entries 1..%llu are not the ones it signs", seqno,
              (unsigned long long)sig.tree_size);
    const cs_x509 *service =
        r->id_count > 0 ? cs_ledger_identity_for(r->ids, r->id_count, e->seqno) : r->service_cert;
    CS_ENSURE(service != NULL, CONSORT_E_BAD_CERTIFICATE,
              "signature entry %llu: no service identity signed at this seqno", seqno);
    /* not at the local clock, which the host sets (ledger.h CS_LEDGER_SIG_ANY_TIME) */
    CS_TRY_CTX(cs_ledger_sig_verify(&sig, service, CS_LEDGER_SIG_ANY_TIME, cache),
               "signature entry %llu", seqno);
    return CONSORT_OK;
}

/* ---- applying ---- */

consort_err replica_apply_state(node_replica *r, const cs_ledger_entry *e)
{
    CS_ENSURE(r->has_service, CONSORT_E_STATE, "replica: no ledger secret");
    CS_ENSURE(e->seqno == cs_kv_last_seqno(r->kv) + 1, CONSORT_E_STATE,
              "entry %llu does not follow the store's %llu", (unsigned long long)e->seqno,
              (unsigned long long)cs_kv_last_seqno(r->kv));
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    uint8_t state[CS_KV_STATE_DIGEST_LEN];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_ledger_entry_open(e, &r->keys, &priv), done);
    if (e->kind == CS_LEDGER_KIND_SIGNATURE) {
        CS_TRY_GOTO(rc, replica_state_digest(r, r->kv, state), done);
        CS_TRY_GOTO(rc, replica_check_signature(r, e, r->tree, state, &r->idx, &r->sig_cache),
                    done);
    }
    CS_TRY_GOTO(rc, cs_kv_apply(r->kv, e->seqno, e->public_ws, cs_buf_slice(&priv)), done);
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    rc = cs_merkle_append_hash(r->tree, leaf);
    if (rc != CONSORT_OK && cs_kv_rollback(r->kv, e->seqno - 1) != CONSORT_OK)
        rc = cs_fail(CONSORT_E_STATE, "entry %llu: store rollback after a failed leaf append",
                     (unsigned long long)e->seqno);
done:
    cs_buf_cleanup(&priv);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "entry %llu", (unsigned long long)e->seqno);
}

consort_err replica_note_applied(node_replica *r, const cs_ledger_entry *e)
{
    bool sig = e->kind == CS_LEDGER_KIND_SIGNATURE;
    CS_TRY(replica_index_add(&r->idx, e->seqno, e->term, sig, e->raw.len, r->opts.chunk_size));
    if (sig) {
        CS_TRY(cs_buf_set(&r->last_sig, e->raw));
        r->applied_sig = e->seqno;
        r->stats.signatures++;
        r->stats.last_signature_ns = uv_hrtime();
        /* undo data is kept back to the last signature entry: snapshots
         * encode the store as of that point (replica_snapmake.c) */
        cs_kv_compact(r->kv, e->seqno);
    }
    /* reads (cs_node_read) see the store as of here: on a leader the
     * entries after it are still pending and must stay invisible */
    cs_kv_set_committed(r->kv, e->seqno);
    r->applied = e->seqno;
    r->applied_term = e->term;
    r->stats.entries_applied++;
    r->stats.entry_bytes += e->raw.len;
    r->stats.entry_bytes_since_snapshot += e->raw.len;
    r->stats.entries_since_snapshot++;
    if (r->ev.applied != NULL)
        r->ev.applied(r->ev.ctx, e);
    return CONSORT_OK;
}

static consort_err append_ledger(node_replica *r, const cs_ledger_entry *e)
{
    consort_err rc = cs_ledger_writer_append(r->ledger, e->raw);
    if (rc == CONSORT_OK)
        replica_sync_owed(r);
    if (rc == CONSORT_E_NO_SPACE)
        cs_log_error(REPLICA_LOG,
                     "node %s: ledger: NO SPACE LEFT writing committed entry %llu; the "
                     "node stops applying until space is freed and it restarts (the "
                     "entry is safe in the raft log)",
                     r->opts.node_id, (unsigned long long)e->seqno);
    return rc;
}

consort_err node_replica_apply(node_replica *r, const cs_ledger_entry *e)
{
    CS_ENSURE(e->seqno == r->applied + 1, CONSORT_E_CORRUPT,
              "entry %llu does not follow the last applied entry %llu",
              (unsigned long long)e->seqno, (unsigned long long)r->applied);
    CS_TRY(replica_apply_state(r, e));
    consort_err rc = append_ledger(r, e);
    if (rc == CONSORT_OK)
        return replica_note_applied(r, e);
    /* the store and tree hold it, the ledger does not: take it back */
    if (node_replica_rollback(r, e->seqno - 1) != CONSORT_OK)
        return cs_fail(CONSORT_E_STATE, "entry %llu: rollback after a failed ledger append",
                       (unsigned long long)e->seqno);
    return rc;
}

consort_err node_replica_commit_own(node_replica *r, const cs_ledger_entry *e)
{
    CS_ENSURE(e->seqno == r->applied + 1 && cs_kv_last_seqno(r->kv) >= e->seqno, CONSORT_E_STATE,
              "own entry %llu: applied %llu, store at %llu", (unsigned long long)e->seqno,
              (unsigned long long)r->applied, (unsigned long long)cs_kv_last_seqno(r->kv));
    CS_TRY(append_ledger(r, e));
    return replica_note_applied(r, e);
}

consort_err replica_leaf_matches(const node_replica *r, const cs_ledger_entry *e, bool *same)
{
    uint8_t leaf[CS_MERKLE_HASH_LEN], held[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    CS_TRY(cs_merkle_leaf(r->tree, e->seqno - 1, held));
    *same = cs_ct_equal(CS_SLICE(leaf, 32), CS_SLICE(held, 32));
    return CONSORT_OK;
}

consort_err node_replica_check_held(node_replica *r, const cs_ledger_entry *e)
{
    bool same;
    CS_TRY(replica_leaf_matches(r, e, &same));
    CS_ENSURE(same, CONSORT_E_CORRUPT, "entry %llu replayed by raft differs from the ledger's",
              (unsigned long long)e->seqno);
    return CONSORT_OK;
}

consort_err node_replica_rollback(node_replica *r, uint64_t seqno)
{
    CS_ENSURE(seqno >= r->applied, CONSORT_E_STATE, "rollback to %llu below the applied entry %llu",
              (unsigned long long)seqno, (unsigned long long)r->applied);
    CS_TRY_CTX(cs_kv_rollback(r->kv, seqno), "store rollback to %llu", (unsigned long long)seqno);
    CS_TRY_CTX(cs_merkle_truncate(r->tree, seqno), "Merkle tree rollback to %llu",
               (unsigned long long)seqno);
    return CONSORT_OK;
}

void replica_fatal(node_replica *r, const char *why)
{
    cs_log_error(REPLICA_LOG, "node %s: %s: %s", r->opts.node_id, why, consort_errmsg());
    if (r->ev.fatal != NULL)
        r->ev.fatal(r->ev.ctx, why);
}

consort_err replica_open_ledger(node_replica *r, uint64_t start)
{
    replica_sync_detach(r);
    cs_ledger_writer_free(r->ledger);
    r->ledger = NULL;
    const cs_ledger_writer_opts o = {.chunk_size = (size_t)r->opts.chunk_size,
                                     .start_seqno = start,
                                     .defer_sync = replica_sync_deferred(r)};
    CS_TRY_CTX(cs_ledger_writer_open(r->ledger_dir, &o, &r->ledger), "ledger %s", r->ledger_dir);
    return CONSORT_OK;
}

/* ---- accessors ---- */

cs_kv_store *node_replica_kv(node_replica *r)
{
    return r->kv;
}

cs_merkle_tree *node_replica_tree(node_replica *r)
{
    return r->tree;
}

cs_ledger_keys *node_replica_keys(node_replica *r)
{
    return &r->keys;
}

uint64_t node_replica_applied(const node_replica *r)
{
    return r->applied;
}

uint64_t node_replica_applied_term(const node_replica *r)
{
    return r->applied_term;
}

uint64_t node_replica_applied_sig(const node_replica *r)
{
    return r->applied_sig;
}

uint64_t node_replica_term_of(const node_replica *r, uint64_t seqno)
{
    return replica_index_term(&r->idx, seqno);
}

consort_err node_replica_state_digest(const node_replica *r, uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    return replica_state_digest(r, r->kv, out);
}

consort_err node_replica_terms_digest(const node_replica *r, uint64_t tree_size,
                                      uint64_t pending_term, uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    return replica_index_terms_digest(&r->idx, tree_size, r->applied, pending_term, out);
}

node_replica_stats node_replica_get_stats(const node_replica *r)
{
    return r->stats;
}

uint64_t node_snapshot_log_cap(uint64_t min_bytes, uint64_t snapshot_bytes)
{
    uint64_t share = snapshot_bytes / NODE_SNAPSHOT_LOG_SHARE;
    return share > min_bytes ? share : min_bytes;
}

unsigned node_snapshot_trailing(uint64_t budget, uint64_t entry_bytes, uint64_t entries)
{
    if (entries == 0 || entry_bytes == 0)
        return NODE_SNAPSHOT_TRAILING_MAX;
    uint64_t avg = entry_bytes / entries;
    uint64_t n = budget / (avg > 0 ? avg : 1);
    if (n < NODE_SNAPSHOT_TRAILING_MIN)
        return NODE_SNAPSHOT_TRAILING_MIN;
    return n > NODE_SNAPSHOT_TRAILING_MAX ? NODE_SNAPSHOT_TRAILING_MAX : (unsigned)n;
}

uint64_t node_snapshot_threshold(uint64_t interval, uint64_t snapshot_bytes, uint64_t entry_bytes,
                                 uint64_t entries)
{
    uint64_t want = interval;
    if (entries > 0 && entry_bytes > 0) {
        uint64_t avg = entry_bytes / entries;
        if (avg == 0)
            avg = 1;
        uint64_t by_bytes = snapshot_bytes / NODE_SNAPSHOT_LOG_SHARE / avg;
        if (by_bytes > want)
            want = by_bytes;
    }
    return want > UINT32_MAX ? UINT32_MAX : want;
}
