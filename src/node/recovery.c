/*
 * The previous service's ledger, read without its secret (recovery.h): the
 * public state up to the last signature entry, the identity chain, the
 * authentication of what was applied, the audit, the shares' wrapping.
 */
#include "node/recovery_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "node/succession.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RECOVERY_LOG "recovery"

/* What the first pass found: the tree and the last signature entry. */
typedef struct public_pass {
    cs_merkle_tree *tree;
    cs_buf last_sig; /* the raw last signature entry */
    uint64_t last_sig_seqno, last_sig_term, entries;
} public_pass;

/* Applies every entry's public writes, builds the tree, keeps the last
 * signature entry; undo data is kept back to it (as the replica does). */
static consort_err apply_public(node_recovery *r, public_pass *p)
{
    cs_ledger_reader *rd;
    CS_TRY_CTX(cs_ledger_reader_open(r->ledger_dir, &rd), "previous ledger %s", r->ledger_dir);
    consort_err rc = CONSORT_OK;
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        CS_TRY_GOTO(rc, cs_ledger_reader_next(rd, &rec, &done), out);
        if (done)
            break;
        const cs_ledger_entry *e = &rec.entry;
        CS_ENSURE_GOTO(rc, e->seqno == p->entries + 1, out, CONSORT_E_CORRUPT,
                       "%s offset %" PRIu64 ": entry %" PRIu64 " where %" PRIu64
                       " was expected (the ledger must start at seqno 1)",
                       rec.file, rec.offset, e->seqno, p->entries + 1);
        CS_TRY_CTX_GOTO(rc, cs_kv_apply(r->kv, e->seqno, e->public_ws, CS_SLICE_LIT("\xa0")), out,
                        "%s offset %" PRIu64 ": entry %" PRIu64 ": public writes", rec.file,
                        rec.offset, e->seqno);
        uint8_t leaf[CS_MERKLE_HASH_LEN];
        cs_ledger_leaf_hash(e, leaf);
        CS_TRY_GOTO(rc, cs_merkle_append_hash(p->tree, leaf), out);
        p->entries++;
        if (e->term > r->max_term)
            r->max_term = e->term;
        if (e->kind == CS_LEDGER_KIND_SIGNATURE) {
            CS_TRY_GOTO(rc, cs_buf_set(&p->last_sig, e->raw), out);
            p->last_sig_seqno = e->seqno;
            p->last_sig_term = e->term;
            cs_kv_compact(r->kv, e->seqno);
        }
    }
out:
    cs_ledger_reader_free(rd);
    return rc;
}

/* The identities back from the pinned one, from the succession records
 * in the public state; the pinned one signed up to the recovery point. */
static bool record_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    cs_blob_list *l = ctx;
    return cs_blob_list_add(l, value) == CONSORT_OK;
}

static consort_err find_identities(node_recovery *r)
{
    cs_blob_list records;
    cs_blob_list_init(&records);
    cs_slice *slices = NULL;
    cs_kv_tx *tx = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_tx_begin(r->kv, &tx), out);
    CS_TRY_GOTO(rc, cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_PREVIOUS_IDS), record_cb, &records),
                out);
    slices = cs_calloc(records.count + 1, sizeof *slices);
    CS_ENSURE_GOTO(rc, slices != NULL, out, CONSORT_E_NOMEM, "identity chain");
    for (size_t i = 0; i < records.count; i++)
        slices[i] = cs_buf_slice(&records.items[i]);
    CS_TRY_GOTO(
        rc,
        cs_succession_chain(slices, records.count, r->o.previous_cert, r->links, &r->link_count),
        out);
    r->links[r->link_count - 1].last_seqno = r->point.seqno;
out:
    cs_kv_tx_free(tx);
    cs_free(slices);
    cs_blob_list_cleanup(&records);
    return rc;
}

/* The last signature entry signs the root of the entries applied before it. */
static consort_err authenticate(node_recovery *r, const public_pass *p)
{
    cs_ledger_entry e;
    cs_ledger_sig sig;
    CS_TRY(cs_ledger_entry_decode(cs_buf_slice(&p->last_sig), &e));
    CS_TRY(cs_ledger_sig_parse(&e, &sig));
    uint8_t root[CS_MERKLE_HASH_LEN];
    CS_TRY(cs_merkle_root_at(p->tree, sig.tree_size, root));
    CS_ENSURE(cs_ct_equal(CS_SLICE(root, sizeof root), sig.root), CONSORT_E_BAD_PROOF,
              "signature entry %" PRIu64 " does not sign the entries before it", e.seqno);
    CS_TRY_CTX(cs_ledger_sig_verify(&sig, r->o.previous_cert, r->o.now, NULL),
               "signature entry %" PRIu64 " (the recovery point) under the previous service "
               "certificate",
               e.seqno);
    cs_ledger_identity ids[NODE_REPLICA_IDS_MAX];
    size_t n = node_recovery_identities(r, ids);
    cs_ledger_verify_report rep;
    CS_TRY_CTX(cs_ledger_verify_ids(r->ledger_dir, ids, n, r->o.now, &rep), "previous ledger %s",
               r->ledger_dir);
    CS_ENSURE(rep.last_signed_seqno == r->point.seqno, CONSORT_E_CORRUPT,
              "previous ledger %s changed while it was read (last signature entry %" PRIu64
              ", then %" PRIu64 ")",
              r->ledger_dir, r->point.seqno, rep.last_signed_seqno);
    return CONSORT_OK;
}

static consort_err read_wrapping(node_recovery *r)
{
    cs_kv_tx *tx;
    bool found;
    CS_TRY(cs_kv_tx_begin(r->kv, &tx));
    consort_err rc = node_shares_wrapping(tx, &r->wrapping, &found);
    cs_kv_tx_free(tx);
    CS_TRY(rc);
    CS_ENSURE(found && r->wrapping.threshold > 0, CONSORT_E_POLICY,
              "the previous service issued no recovery shares (no member had an encryption key, "
              "or the recovery threshold was 0): it cannot be recovered");
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    uint8_t id[CS_GOV_SHARE_ID_LEN];
    rc = cs_x509_to_der(r->o.previous_cert, &der);
    if (rc == CONSORT_OK)
        node_share_service_id(cs_buf_slice(&der), id);
    cs_buf_cleanup(&der);
    CS_TRY(rc);
    CS_ENSURE(memcmp(id, r->wrapping.service_id, sizeof id) == 0, CONSORT_E_POLICY,
              "the recovery shares were issued for another service identity than the previous "
              "service certificate");
    return CONSORT_OK;
}

static consort_err open_all(node_recovery *r)
{
    public_pass p = {0};
    cs_buf_init(&p.last_sig, CS_LEDGER_ENTRY_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_merkle_new(&p.tree), out);
    CS_TRY_GOTO(rc, apply_public(r, &p), out);
    CS_ENSURE_GOTO(rc, p.entries > 0, out, CONSORT_E_NOT_FOUND, "previous ledger %s is empty",
                   r->ledger_dir);
    CS_ENSURE_GOTO(rc, p.last_sig_seqno > 0, out, CONSORT_E_POLICY,
                   "previous ledger %s holds no signature entry: nothing in it is signed",
                   r->ledger_dir);
    r->point = (cs_txid){.term = p.last_sig_term, .seqno = p.last_sig_seqno};
    CS_TRY_CTX_GOTO(rc, cs_kv_rollback(r->kv, p.last_sig_seqno), out,
                    "leaving out the entries after the last signature entry");
    cs_kv_set_committed(r->kv, p.last_sig_seqno);
    CS_TRY_GOTO(rc, find_identities(r), out);
    CS_TRY_GOTO(rc, authenticate(r, &p), out);
    CS_TRY_GOTO(rc, read_wrapping(r), out);
    cs_log_info(RECOVERY_LOG,
                "node %s: previous ledger verified: %" PRIu64 " entries, recovery point %" PRIu64
                ".%" PRIu64 " (%" PRIu64 " unsigned entries after it left out), %zu service "
                "identit%s; waiting for %u of %u recovery shares (epoch %" PRIu64 ")",
                r->o.node_id, p.entries, r->point.term, r->point.seqno,
                p.entries - p.last_sig_seqno, r->link_count, r->link_count == 1 ? "y" : "ies",
                r->wrapping.threshold, r->wrapping.members, r->wrapping.epoch);
out:
    cs_merkle_free(p.tree);
    cs_buf_cleanup(&p.last_sig);
    return rc;
}

consort_err node_recovery_open(const node_recovery_opts *o, node_recovery **out)
{
    CS_ENSURE(strlen(o->ledger_dir) < CS_NODE_PATH_MAX, CONSORT_E_INVALID_ARGUMENT,
              "previous ledger path too long");
    node_recovery *r = cs_calloc(1, sizeof *r);
    CS_ENSURE(r != NULL, CONSORT_E_NOMEM, "recovery");
    r->o = *o;
    memcpy(r->ledger_dir, o->ledger_dir, strlen(o->ledger_dir) + 1);
    r->o.ledger_dir = r->ledger_dir;
    consort_err rc = cs_kv_store_new(NULL, &r->kv);
    if (rc == CONSORT_OK)
        rc = open_all(r);
    if (rc != CONSORT_OK) {
        node_recovery_free(r);
        return cs_err_context(rc, "recovery");
    }
    *out = r;
    return CONSORT_OK;
}

void node_recovery_free(node_recovery *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->submitted; i++)
        cs_gov_share_wipe(&r->shares[i]);
    cs_succession_chain_free(r->links, r->link_count);
    cs_kv_store_free(r->kv);
    cs_free(r->digests);
    cs_wipe(r, sizeof *r);
    cs_free(r);
}

cs_kv_store *node_recovery_kv(node_recovery *r)
{
    return r->kv;
}

cs_txid node_recovery_point(const node_recovery *r)
{
    return r->point;
}

uint64_t node_recovery_max_term(const node_recovery *r)
{
    return r->max_term;
}

size_t node_recovery_identities(const node_recovery *r, cs_ledger_identity *out)
{
    for (size_t i = 0; i < r->link_count; i++)
        out[i] =
            (cs_ledger_identity){.cert = r->links[i].cert, .last_seqno = r->links[i].last_seqno};
    return r->link_count;
}

const node_share_wrapping *node_recovery_wrapping(const node_recovery *r)
{
    return &r->wrapping;
}
