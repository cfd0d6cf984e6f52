/*
 * A ledger generator for the ledger and receipt tests (and
 * tests/util/gen_ledger.c): a service identity (self-signed CA, CN "consort
 * service"), a node key with its certificate issued by the service, a
 * ledger secret, and a ledger written with the real writer while the
 * fixture keeps every entry and the Merkle tree in memory.
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
    cs_ledger_writer *w; /* NULL: in memory only */
    cs_merkle_tree *tree;
    cs_buf *entries; /* entries[seqno - 1] */
    size_t count;
    size_t cap;
    uint64_t term;
} lfx_ledger;

static inline void lfx_ledger_init(lfx_ledger *l, const lfx_identity *id, const char *dir,
                                   size_t chunk_size, const cs_ledger_io *io)
{
    memset(l, 0, sizeof *l);
    l->id = id;
    l->term = 1;
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
    memset(l, 0, sizeof *l);
}

/* Records an encoded entry: tree leaf, copy, and (if writing) the file. */
static inline void lfx_push(lfx_ledger *l, cs_buf *entry)
{
    cs_ledger_entry e;
    LFX_OK(cs_ledger_entry_decode(cs_buf_slice(entry), &e));
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(&e, leaf);
    LFX_OK(cs_merkle_append_hash(l->tree, leaf));
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
    LFX_OK(cs_ledger_entry_encode(&p, l->id->secret, &entry));
    lfx_push(l, &entry);
    cs_buf_cleanup(&pws);
    cs_buf_cleanup(&prws);
}

/* Appends a signature entry by `signer` (NULL: the fixture's node). */
static inline void lfx_add_sig_by(lfx_ledger *l, const cs_ledger_signer *signer)
{
    cs_ledger_signer own = lfx_signer(l->id);
    cs_buf entry;
    cs_buf_init(&entry, 0);
    LFX_OK(cs_ledger_sig_build(l->tree, signer ? signer : &own, l->term, l->count + 1,
                               l->id->secret, &entry));
    lfx_push(l, &entry);
}

static inline void lfx_add_sig(lfx_ledger *l)
{
    lfx_add_sig_by(l, NULL);
}

/* ---- hand-made signature entries (for forgeries and parser tests) ---- */

typedef struct lfx_sig_fields {
    uint64_t term, seqno, tree_size;
    cs_slice root, node_id, cose, cert;
} lfx_sig_fields;

/* The public write set of a signature entry, as service.md gives it. */
static inline void lfx_sig_ws(const lfx_sig_fields *f, cs_buf *ws)
{
    cs_buf inner;
    cs_buf_init(&inner, 0);
    LFX_OK(cs_cbor_write_map(&inner, 7));
    LFX_OK(cs_cbor_write_cstr(&inner, "term"));
    LFX_OK(cs_cbor_write_uint(&inner, f->term));
    LFX_OK(cs_cbor_write_cstr(&inner, "seqno"));
    LFX_OK(cs_cbor_write_uint(&inner, f->seqno));
    LFX_OK(cs_cbor_write_cstr(&inner, "tree_size"));
    LFX_OK(cs_cbor_write_uint(&inner, f->tree_size));
    LFX_OK(cs_cbor_write_cstr(&inner, "root"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->root));
    LFX_OK(cs_cbor_write_cstr(&inner, "node_id"));
    LFX_OK(cs_cbor_write_text(&inner, f->node_id));
    LFX_OK(cs_cbor_write_cstr(&inner, "cose"));
    LFX_OK(cs_cbor_write_bytes(&inner, f->cose));
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

/* A COSE_Sign1 over `root` by `key` with protected {1, 4: kid, 395: 1}. */
static inline void lfx_sign_root(const cs_key *key, cs_slice kid, cs_slice root, cs_buf *out)
{
    const cs_cose_param params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, kid),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    cs_cose_sign1_params p = {.alg = cs_key_curve(key) == CS_CURVE_P384 ? CS_COSE_ES384
                                                                        : CS_COSE_ES256,
                              .protected_params = params,
                              .protected_count = 2,
                              .payload = root,
                              .detached = true};
    LFX_OK(cs_cose_sign1_sign(key, &p, out));
}

/* Appends a signature entry over the current tree whose COSE is made by
 * `sign_key` (kid of that key) but which carries certificate `cert` and
 * node id `node_id`: a forgery unless they all belong together. */
static inline void lfx_add_forged_sig(lfx_ledger *l, const cs_key *sign_key, const cs_x509 *cert,
                                      const char *node_id)
{
    uint8_t root[CS_MERKLE_HASH_LEN], kid[CS_SHA256_LEN];
    cs_merkle_root(l->tree, root);
    LFX_OK(cs_key_id(sign_key, kid));
    cs_buf cose, der, ws, entry;
    cs_buf_init(&cose, 0);
    cs_buf_init(&der, 0);
    cs_buf_init(&ws, 0);
    cs_buf_init(&entry, 0);
    lfx_sign_root(sign_key, CS_SLICE(kid, sizeof kid), CS_SLICE(root, sizeof root), &cose);
    LFX_OK(cs_x509_to_der(cert, &der));
    lfx_sig_fields f = {.term = l->term,
                        .seqno = l->count + 1,
                        .tree_size = l->count,
                        .root = CS_SLICE(root, sizeof root),
                        .node_id = cs_slice_str(node_id),
                        .cose = cs_buf_slice(&cose),
                        .cert = cs_buf_slice(&der)};
    lfx_sig_ws(&f, &ws);
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_SIGNATURE,
                                .term = l->term,
                                .seqno = l->count + 1,
                                .public_ws = cs_buf_slice(&ws)};
    LFX_OK(cs_ledger_entry_encode(&p, l->id->secret, &entry));
    lfx_push(l, &entry);
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&der);
    cs_buf_cleanup(&ws);
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
