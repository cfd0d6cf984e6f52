/*
 * A ledger generator for the ledger and receipt tests (and
 * tests/util/gen_ledger.c): a service identity (self-signed CA, CN "consort
 * service"), a node key with its certificate issued by the service, a
 * ledger secret, and a ledger written with the real writer while the
 * fixture keeps every entry, the Merkle tree, the term runs and a stand-in
 * state digest in memory. Entries are sealed with the ledger's own
 * cs_ledger_keys (rekeyed when the ledger is created).
 *
 * Header-only (static inline) so each test executable stays one file. The
 * includer may define LFX_OK(expr) (default: cst_ok from testutil.h).
 */
#ifndef CONSORT_LEDGER_FIXTURE_H
#define CONSORT_LEDGER_FIXTURE_H

#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "store/ledger.h"
#include "store/ledger_writer.h"
#include "store/receipt.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LFX_OK
#define LFX_OK(expr) cst_ok(expr)
#endif

#define LFX_DAY  ((int64_t)86400)
#define LFX_YEAR (365 * LFX_DAY)

typedef struct lfx_identity {
    cs_key *service_key;
    cs_x509 *service_cert;
    cs_key *node_key;
    cs_x509 *node_cert;
    char node_id[CS_LEDGER_NODE_ID_LEN + 1];
    uint8_t secret[CS_LEDGER_SECRET_LEN];
} lfx_identity;

/* A node certificate for `node_key` issued by `issuer`. */
static inline cs_x509 *lfx_node_cert(const cs_key *node_key, const cs_key *issuer_key,
                                     const cs_x509 *issuer, char node_id[CS_LEDGER_NODE_ID_LEN + 1])
{
    uint8_t kid[CS_SHA256_LEN];
    LFX_OK(cs_key_id(node_key, kid));
    cs_hex_encode(CS_SLICE(kid, CS_LEDGER_NODE_ID_LEN / 2), node_id);
    char cn[64];
    snprintf(cn, sizeof cn, "consort node %s", node_id);
    int64_t now = (int64_t)time(NULL);
    cs_x509_params p = {
        .subject_cn = cn, .not_before = now - LFX_DAY, .not_after = now + 10 * LFX_YEAR};
    cs_x509 *cert = NULL;
    LFX_OK(cs_x509_create(&p, node_key, issuer_key, issuer, &cert));
    return cert;
}

/* A fresh service identity, node identity and ledger secret. */
static inline void lfx_identity_init(lfx_identity *id)
{
    memset(id, 0, sizeof *id);
    int64_t now = (int64_t)time(NULL);
    LFX_OK(cs_key_generate(CS_CURVE_P256, &id->service_key));
    cs_x509_params sp = {.subject_cn = "consort service",
                         .not_before = now - LFX_DAY,
                         .not_after = now + 20 * LFX_YEAR,
                         .is_ca = true};
    LFX_OK(cs_x509_create(&sp, id->service_key, id->service_key, NULL, &id->service_cert));
    LFX_OK(cs_key_generate(CS_CURVE_P256, &id->node_key));
    id->node_cert = lfx_node_cert(id->node_key, id->service_key, id->service_cert, id->node_id);
    LFX_OK(cs_random(id->secret, sizeof id->secret));
}

static inline void lfx_identity_cleanup(lfx_identity *id)
{
    cs_key_free(id->service_key);
    cs_x509_free(id->service_cert);
    cs_key_free(id->node_key);
    cs_x509_free(id->node_cert);
    cs_wipe(id, sizeof *id);
}

static inline cs_ledger_signer lfx_signer(const lfx_identity *id)
{
    return (cs_ledger_signer){
        .node_key = id->node_key, .node_cert = id->node_cert, .node_id = id->node_id};
}

/* ---- temporary directories ---- */

static inline void lfx_tmpdir(char out[64])
{
    snprintf(out, 64, "/tmp/consort-ledger-XXXXXX");
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static inline int lfx_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void lfx_rmtree(const char *dir)
{
    nftw(dir, lfx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- a ledger under construction ---- */

typedef struct lfx_ledger {
    const lfx_identity *id;
    cs_ledger_keys keys;
    cs_ledger_writer *w; /* NULL: in memory only */
    cs_merkle_tree *tree;
    cs_buf *entries; /* entries[seqno - 1] */
    size_t count;
    size_t cap;
    uint64_t term;
    cs_ledger_term_run *runs; /* the term runs of entries[] */
    size_t runs_len;
    /* a stand-in for the KV store's state digest (opaque to the ledger):
     * SHA-256 chained over the entries, state = f(entries 1 .. count) */
    uint8_t state[CS_LEDGER_DIGEST_LEN];
} lfx_ledger;

static inline void lfx_ledger_init(lfx_ledger *l, const lfx_identity *id, const char *dir,
                                   size_t chunk_size, const cs_ledger_io *io)
{
    memset(l, 0, sizeof *l);
    l->id = id;
    l->term = 1;
    cs_ledger_keys_init(&l->keys, id->secret);
    LFX_OK(cs_ledger_keys_rekey(&l->keys));
    LFX_OK(cs_merkle_new(&l->tree));
    if (dir != NULL) {
        cs_ledger_writer_opts o = {.chunk_size = chunk_size, .io = io};
        LFX_OK(cs_ledger_writer_open(dir, &o, &l->w));
    }
}

static inline void lfx_ledger_cleanup(lfx_ledger *l)
{
    cs_ledger_writer_free(l->w);
    cs_merkle_free(l->tree);
    for (size_t i = 0; i < l->count; i++)
        cs_buf_cleanup(&l->entries[i]);
    free(l->entries);
    free(l->runs);
    cs_ledger_keys_cleanup(&l->keys);
    memset(l, 0, sizeof *l);
}

/* Records an encoded entry: tree leaf, term run, state, copy, and (if
 * writing) the file. */
static inline void lfx_push(lfx_ledger *l, cs_buf *entry)
{
    cs_ledger_entry e;
    LFX_OK(cs_ledger_entry_decode(cs_buf_slice(entry), &e));
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(&e, leaf);
    LFX_OK(cs_merkle_append_hash(l->tree, leaf));
    if (l->runs_len == 0 || l->runs[l->runs_len - 1].term != e.term) {
        l->runs = realloc(l->runs, (l->runs_len + 1) * sizeof *l->runs);
        if (l->runs == NULL)
            abort();
        l->runs[l->runs_len++] = (cs_ledger_term_run){.first_seqno = e.seqno, .term = e.term};
    }
    const cs_slice chain[2] = {CS_SLICE(l->state, sizeof l->state), e.raw};
    cs_sha256_parts(chain, 2, l->state);
    if (l->w != NULL)
        LFX_OK(cs_ledger_writer_append(l->w, cs_buf_slice(entry)));
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->entries = realloc(l->entries, l->cap * sizeof *l->entries);
        if (l->entries == NULL)
            abort();
    }
    l->entries[l->count++] = *entry; /* takes ownership */
}

/* The in-memory ledger rolled back to its first `to` entries (the files
 * are the caller's business): entries, tree, term runs and state follow,
 * and the keys are rekeyed, as any sealer that goes back must. */
static inline void lfx_truncate(lfx_ledger *l, uint64_t to)
{
    for (size_t i = to; i < l->count; i++)
        cs_buf_cleanup(&l->entries[i]);
    l->count = to;
    LFX_OK(cs_merkle_truncate(l->tree, to));
    while (l->runs_len > 0 && l->runs[l->runs_len - 1].first_seqno > to)
        l->runs_len--;
    memset(l->state, 0, sizeof l->state);
    for (size_t i = 0; i < to; i++) {
        const cs_slice chain[2] = {CS_SLICE(l->state, sizeof l->state),
                                   cs_buf_slice(&l->entries[i])};
        cs_sha256_parts(chain, 2, l->state);
    }
    LFX_OK(cs_ledger_keys_rekey(&l->keys));
}

/* {"<map>": [[key, value]]} with random key and value bytes. */
static inline void lfx_write_set(cs_buf *ws, const char *map, size_t value_len)
{
    uint8_t key[8];
    uint8_t *value = malloc(value_len + 1);
    LFX_OK(cs_random(key, sizeof key));
    LFX_OK(cs_random(value, value_len + 1));
    LFX_OK(cs_cbor_write_map(ws, 1));
    LFX_OK(cs_cbor_write_cstr(ws, map));
    LFX_OK(cs_cbor_write_array(ws, 1));
    LFX_OK(cs_cbor_write_array(ws, 2));
    LFX_OK(cs_cbor_write_bytes(ws, CS_SLICE(key, sizeof key)));
    LFX_OK(cs_cbor_write_bytes(ws, CS_SLICE(value, value_len)));
    free(value);
}

/* Appends a transaction with write sets of about `pub` and `priv` bytes
 * (priv 0: no private writes); claims digest when `claims`. */
static inline void lfx_add_tx(lfx_ledger *l, size_t pub, size_t priv, bool claims)
{
    cs_buf pws, prws, entry;
    cs_buf_init(&pws, 0);
    cs_buf_init_secret(&prws, 0);
    cs_buf_init(&entry, 0);
    lfx_write_set(&pws, "public:records", pub);
    if (priv > 0)
        lfx_write_set(&prws, "records", priv);
    uint8_t digest[CS_LEDGER_DIGEST_LEN];
    LFX_OK(cs_random(digest, sizeof digest));
    cs_ledger_entry_params p = {
        .kind = CS_LEDGER_KIND_TX,
        .term = l->term,
        .seqno = l->count + 1,
        .claims_digest = claims ? digest : NULL,
        .public_ws = cs_buf_slice(&pws),
        .private_ws = cs_buf_slice(&prws),
    };
    LFX_OK(cs_ledger_entry_encode(&p, &l->keys, &entry));
    lfx_push(l, &entry);
    cs_buf_cleanup(&pws);
    cs_buf_cleanup(&prws);
}

/* The terms digest of the fixture's first `tree_size` entries. */
static inline void lfx_terms(const lfx_ledger *l, uint64_t tree_size,
                             uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    LFX_OK(cs_ledger_terms_digest(l->runs, l->runs_len, tree_size, out));
}

/* Appends a signature entry by `signer` (NULL: the fixture's node). */
static inline void lfx_add_sig_by(lfx_ledger *l, const cs_ledger_signer *signer)
{
    cs_ledger_signer own = lfx_signer(l->id);
    uint8_t terms[CS_LEDGER_DIGEST_LEN];
    lfx_terms(l, l->count, terms);
    cs_ledger_sig_params p = {
        .term = l->term, .seqno = l->count + 1, .state = l->state, .terms = terms};
    cs_buf entry;
    cs_buf_init(&entry, 0);
    LFX_OK(cs_ledger_sig_build(l->tree, signer ? signer : &own, &p, &l->keys, &entry));
    lfx_push(l, &entry);
}

static inline void lfx_add_sig(lfx_ledger *l)
{
    lfx_add_sig_by(l, NULL);
}

/* ---- hand-made signature entries (for forgeries and parser tests) ---- */

typedef struct lfx_sig_fields {
    uint64_t term, seqno, tree_size;
    cs_slice root, state, terms, node_id, cose, checkpoint, cert;
} lfx_sig_fields;

/* The public write set of a signature entry, as docs/ledger.md 4 gives it. */
static inline void lfx_sig_ws(const lfx_sig_fields *f, cs_buf *ws)
{
    cs_buf inner;
    cs_buf_init(&inner, 0);
    LFX_OK(cs_cbor_write_map(&inner, 10));
    LFX_OK(cs_cbor_write_cstr(&inner, "term"));
    LFX_OK(cs_cbor_write_uint(&inner, f->term));
    LFX_OK(cs_cbor_write_cstr(&inner, "seqno"));
    LFX_OK(cs_cbor_write_uint(&inner, f->seqno));
    LFX_OK(cs_cbor_write_cstr(&inner, "tree_size"));
    LFX_OK(cs_cbor_write_uint(&inner, f->tree_size));
    LFX_OK(cs_cbor_write_cstr(&inner, "root"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->root));
    LFX_OK(cs_cbor_write_cstr(&inner, "state"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->state));
    LFX_OK(cs_cbor_write_cstr(&inner, "terms"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->terms));
    LFX_OK(cs_cbor_write_cstr(&inner, "node_id"));
    LFX_OK(cs_cbor_write_text(&inner, f->node_id));
    LFX_OK(cs_cbor_write_cstr(&inner, "cose"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->cose));
    LFX_OK(cs_cbor_write_cstr(&inner, "checkpoint"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->checkpoint));
    LFX_OK(cs_cbor_write_cstr(&inner, "cert"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->cert));
    LFX_OK(cs_cbor_write_map(ws, 1));
    LFX_OK(cs_cbor_write_cstr(ws, CS_LEDGER_SIG_MAP));
    LFX_OK(cs_cbor_write_array(ws, 1));
    LFX_OK(cs_cbor_write_array(ws, 2));
    LFX_OK(cs_cbor_write_bytes(ws, CS_SLICE("\0", 1)));
    LFX_OK(cs_cbor_write_bytes(ws, cs_buf_slice(&inner)));
    cs_buf_cleanup(&inner);
}

static inline cs_cose_alg lfx_alg(const cs_key *key)
{
    return cs_key_curve(key) == CS_CURVE_P384 ? CS_COSE_ES384 : CS_COSE_ES256;
}

/* A COSE_Sign1 over `root` by `key` with protected {1, 4: kid, 395: 1}. */
static inline void lfx_sign_root(const cs_key *key, cs_slice kid, cs_slice root, cs_buf *out)
{
    const cs_cose_param params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, kid),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    cs_cose_sign1_params p = {.alg = lfx_alg(key),
                              .protected_params = params,
                              .protected_count = 2,
                              .payload = root,
                              .detached = true};
    LFX_OK(cs_cose_sign1_sign(key, &p, out));
}

/* The checkpoint COSE_Sign1 by `key` with protected {1: alg, 4: kid} over
 * the checkpoint record of `f` (its tree_size, root, state and terms). */
static inline void lfx_sign_checkpoint(const cs_key *key, cs_cose_alg alg, cs_slice kid,
                                       const lfx_sig_fields *f, cs_buf *out)
{
    cs_buf record;
    cs_buf_init(&record, 0);
    LFX_OK(cs_ledger_checkpoint_payload(f->tree_size, f->root, f->state, f->terms, &record));
    const cs_cose_param params[] = {CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, kid)};
    cs_cose_sign1_params p = {.alg = alg,
                              .protected_params = params,
                              .protected_count = 1,
                              .payload = cs_buf_slice(&record),
                              .detached = true};
    LFX_OK(cs_cose_sign1_sign(key, &p, out));
    cs_buf_cleanup(&record);
}

/* Seals a signature entry with the public write set of `f` at the next
 * seqno (f->seqno may lie: the entry's own seqno is l->count + 1). */
static inline void lfx_push_sig_fields(lfx_ledger *l, const lfx_sig_fields *f)
{
    cs_buf ws, entry;
    cs_buf_init(&ws, 0);
    cs_buf_init(&entry, 0);
    lfx_sig_ws(f, &ws);
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_SIGNATURE,
                                .term = l->term,
                                .seqno = l->count + 1,
                                .public_ws = cs_buf_slice(&ws)};
    LFX_OK(cs_ledger_entry_encode(&p, &l->keys, &entry));
    lfx_push(l, &entry);
    cs_buf_cleanup(&ws);
}

/* Appends a signature entry over the current tree whose COSE_Sign1s are
 * made by `sign_key` (kid of that key) but which carries certificate
 * `cert` and node id `node_id`: a forgery unless they all belong together.
 * `terms` NULL: the genuine terms digest. */
static inline void lfx_add_forged_sig_terms(lfx_ledger *l, const cs_key *sign_key,
                                            const cs_x509 *cert, const char *node_id,
                                            const uint8_t *terms)
{
    uint8_t root[CS_MERKLE_HASH_LEN], kid[CS_SHA256_LEN], own_terms[CS_LEDGER_DIGEST_LEN];
    cs_merkle_root(l->tree, root);
    LFX_OK(cs_key_id(sign_key, kid));
    lfx_terms(l, l->count, own_terms);
    cs_buf cose, checkpoint, der;
    cs_buf_init(&cose, 0);
    cs_buf_init(&checkpoint, 0);
    cs_buf_init(&der, 0);
    lfx_sign_root(sign_key, CS_SLICE(kid, sizeof kid), CS_SLICE(root, sizeof root), &cose);
    LFX_OK(cs_x509_to_der(cert, &der));
    lfx_sig_fields f = {.term = l->term,
                        .seqno = l->count + 1,
                        .tree_size = l->count,
                        .root = CS_SLICE(root, sizeof root),
                        .state = CS_SLICE(l->state, sizeof l->state),
                        .terms = CS_SLICE(terms ? terms : own_terms, CS_LEDGER_DIGEST_LEN),
                        .node_id = cs_slice_str(node_id),
                        .cose = cs_buf_slice(&cose),
                        .cert = cs_buf_slice(&der)};
    lfx_sign_checkpoint(sign_key, lfx_alg(sign_key), CS_SLICE(kid, sizeof kid), &f, &checkpoint);
    f.checkpoint = cs_buf_slice(&checkpoint);
    lfx_push_sig_fields(l, &f);
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&checkpoint);
    cs_buf_cleanup(&der);
}

static inline void lfx_add_forged_sig(lfx_ledger *l, const cs_key *sign_key, const cs_x509 *cert,
                                      const char *node_id)
{
    lfx_add_forged_sig_terms(l, sign_key, cert, node_id, NULL);
}

/* Recomputes the ciphertext and tag of an edited entry for `plain`, as a
 * sealer holding `secret` would (docs/ledger.md 1.2, written out here
 * rather than through cs_ledger_keys): key = HKDF-SHA256(secret, key_salt,
 * "consort ledger entry v2"), nonce 0^32 || be64(seqno), aad [0, 112 + P). */
static inline void lfx_reseal(const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *entry,
                              cs_slice plain)
{
    const uint8_t *b = entry->ptr;
    size_t plen = (size_t)b[104] << 24 | (size_t)b[105] << 16 | (size_t)b[106] << 8 | b[107];
    size_t aad_len = 112 + plen;
    uint8_t key[32], nonce[12] = {0};
    LFX_OK(cs_hkdf_sha256(CS_SLICE(secret, CS_LEDGER_SECRET_LEN), CS_SLICE(b + 24, 16),
                          CS_SLICE_LIT("consort ledger entry v2"), key, sizeof key));
    memcpy(nonce + 4, b + 16, 8);
    entry->len = aad_len - 4;
    LFX_OK(cs_buf_append_be32(entry, (uint32_t)plain.len));
    LFX_OK(cs_buf_reserve(entry, plain.len + CS_AEAD_TAG_LEN));
    LFX_OK(cs_aead_seal(key, nonce, CS_SLICE(entry->ptr, aad_len), plain, entry));
    cs_wipe(key, sizeof key);
}

/* n transactions with a signature entry after every k-th (k 0: none),
 * a new term every `term_every` entries (0: never). */
static inline void lfx_generate(lfx_ledger *l, size_t n, size_t k, size_t term_every)
{
    for (size_t i = 1; i <= n; i++) {
        lfx_add_tx(l, 8 + i % 50, i % 3 == 0 ? 0 : 16 + i % 40, i % 4 == 1);
        if (k > 0 && i % k == 0)
            lfx_add_sig(l);
        if (term_every > 0 && i % term_every == 0)
            l->term++;
    }
}

/* The first signature entry after `seqno` (0 if none). */
static inline uint64_t lfx_sig_after(const lfx_ledger *l, uint64_t seqno)
{
    for (size_t i = seqno; i < l->count; i++)
        if (l->entries[i].ptr[5] == CS_LEDGER_KIND_SIGNATURE)
            return i + 1;
    return 0;
}

/* The receipt JSON for `seqno` (NUL-terminated in `json`). */
static inline void lfx_receipt(const lfx_ledger *l, uint64_t seqno, cs_buf *json)
{
    uint64_t s = lfx_sig_after(l, seqno);
    if (s == 0)
        abort();
    cs_buf_init(json, 0);
    LFX_OK(cs_receipt_build(l->tree, cs_buf_slice(&l->entries[seqno - 1]),
                            cs_buf_slice(&l->entries[s - 1]), l->id->secret, json));
    LFX_OK(cs_buf_append_u8(json, 0));
    json->len--;
}

#endif
