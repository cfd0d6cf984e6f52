/*
 * The ledger: every committed transaction as one entry, in chunk files, with
 * a Merkle tree over the entries and signature entries that sign its root
 * (DESIGN.md "A write, end to end"; the byte-level format is docs/ledger.md:
 * §1 "Entries", §4 "Signature entries", §5 "Chunk files").
 *
 *   keys        cs_ledger_keys: entry keys, rekeying          (ledger_keys.c)
 *   entries     cs_ledger_entry_encode / _decode / _open      (ledger_entry.c)
 *   evidence    commit evidence, txids, leaf hashes           (ledger_leaf.c)
 *   signatures  cs_ledger_sig_build / _parse / _verify        (ledger_sig*.c),
 *               checkpoint record, terms digest               (ledger_checkpoint.c)
 *   files       chunk names (ledger_chunk.c); writer (store/ledger_writer.h): append, sync,
 *               chunk close (ledger_writer.c), recovery and truncation
 *               (ledger_writer_state.c); reader: every entry in order
 *               (ledger_reader.c, ledger_frames.c)
 *   verifier    cs_ledger_verify: the offline audit of a ledger directory
 *               (ledger_verify.c)
 *
 * The codecs and the verifier's checks are pure functions over buffers;
 * only the writer and reader touch files. Write sets are opaque byte strings
 * here (the KV store encodes them), except the public write set of a
 * signature entry, which this module encodes and decodes.
 *
 * Errors: decoders return protocol codes (MALFORMED, TRUNCATED,
 * TRAILING_DATA, TOO_LARGE, UNSUPPORTED) with the offending value; the
 * reader turns any of them into CONSORT_E_CORRUPT naming file, offset and
 * seqno. Crypto checks return BAD_TAG, BAD_SIGNATURE, BAD_CERTIFICATE,
 * EXPIRED or BAD_PROOF (a root that does not match).
 */
#ifndef CS_STORE_LEDGER_H
#define CS_STORE_LEDGER_H

#include "crypto/aead.h"
#include "crypto/cose.h"
#include "crypto/merkle.h"
#include "crypto/x509.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- entries (docs/ledger.md section 1, version 2, big-endian) ---- */

#define CS_LEDGER_MAGIC      "CSLE"
#define CS_LEDGER_VERSION    2
#define CS_LEDGER_SECRET_LEN 32
#define CS_LEDGER_DIGEST_LEN 32
/* The random key salt in every entry's header (docs/ledger.md 1.2). */
#define CS_LEDGER_SALT_LEN 16
/* Bytes before the public write set: magic .. public_len. */
#define CS_LEDGER_HEADER_LEN 108
/* Smallest entry: the header, an empty public write set, private_len and the tag. */
#define CS_LEDGER_ENTRY_MIN (CS_LEDGER_HEADER_LEN + 4 + CS_AEAD_TAG_LEN)
/* Each write set (public, and the private plaintext) is at most 16 MiB. */
#define CS_LEDGER_WS_MAX    ((size_t)16 << 20)
#define CS_LEDGER_ENTRY_MAX (CS_LEDGER_ENTRY_MIN + 2 * CS_LEDGER_WS_MAX)
/* Terms are at most 2^32 - 1 (a format limit kept from version 1). */
#define CS_LEDGER_TERM_MAX UINT32_MAX
/* "<term>.<seqno>" with a NUL: 10 + 1 + 20 + 1. */
#define CS_LEDGER_TXID_MAX 32
/* "ce:<txid>:<64 hex>" with a NUL. */
#define CS_LEDGER_CE_MAX (3 + CS_LEDGER_TXID_MAX + 64 + 1)

typedef enum cs_ledger_kind {
    CS_LEDGER_KIND_TX = 1,
    CS_LEDGER_KIND_SIGNATURE = 2,
    CS_LEDGER_KIND_INTERNAL = 3, /* governance, node membership, secrets */
} cs_ledger_kind;

const char *cs_ledger_kind_name(cs_ledger_kind kind);

/*
 * The keys of one ledger secret (docs/ledger.md 1.2). Every entry is sealed
 * with AES-256-GCM under HKDF-SHA256(ikm = ledger secret, salt = the entry's
 * key salt, info = "consort ledger entry v2"), nonce 0x00000000 ||
 * be64(seqno). A sealer picks a fresh random key salt with
 * cs_ledger_keys_rekey() and then refuses to seal a seqno that is not
 * greater than every seqno it sealed under that salt, so no (key, nonce)
 * pair is ever used twice, whatever consensus does: a leader that goes back
 * to an earlier seqno must rekey first. The raw secret is only ever HKDF
 * input, never a key. Opening caches the key of the last salt seen.
 *
 * Embed it; cs_ledger_keys_cleanup() wipes it. Not thread-safe.
 */
typedef struct cs_ledger_keys {
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    bool sealing; /* rekeyed at least once */
    uint8_t seal_salt[CS_LEDGER_SALT_LEN];
    uint8_t seal_key[CS_AEAD_KEY_LEN];
    uint64_t sealed_upto; /* highest seqno sealed under seal_salt (0: none) */
    bool open_cached;
    uint8_t open_salt[CS_LEDGER_SALT_LEN];
    uint8_t open_key[CS_AEAD_KEY_LEN];
} cs_ledger_keys;

/* Copies the secret; the keys can open entries, and seal after a rekey. */
void cs_ledger_keys_init(cs_ledger_keys *k, const uint8_t secret[CS_LEDGER_SECRET_LEN]);
/* A fresh random key salt for sealing (CRYPTO if the RNG fails; the old
 * salt is then no longer usable either). */
CS_MUST_CHECK consort_err cs_ledger_keys_rekey(cs_ledger_keys *k);
/* Wipes everything; the keys must be initialised again before use. */
void cs_ledger_keys_cleanup(cs_ledger_keys *k);
/* Derives a 32-byte key for another purpose from the secret under `info`
 * (HKDF-SHA256, empty salt); `info` must not be a label of docs/ledger.md. */
CS_MUST_CHECK consort_err cs_ledger_keys_derive(const cs_ledger_keys *k, const char *info,
                                                uint8_t out[32]);

/* What to encode. Slices are borrowed for the call. */
typedef struct cs_ledger_entry_params {
    cs_ledger_kind kind;
    uint64_t term;                /* 1 .. CS_LEDGER_TERM_MAX */
    uint64_t seqno;               /* >= 1 */
    const uint8_t *claims_digest; /* 32 bytes, or NULL for none (32 zero bytes) */
    cs_slice public_ws;           /* CBOR write set, <= CS_LEDGER_WS_MAX */
    /* CBOR write set, <= CS_LEDGER_WS_MAX; empty, or the empty map 0xa0,
     * means "no private writes" (private_len 0) */
    cs_slice private_ws;
} cs_ledger_entry_params;

/*
 * Appends one entry to `out`, sealed under `k`'s current key salt: the
 * private write set encrypted and the whole entry authenticated (the tag is
 * there even without private writes), commit_evidence_digest = SHA-256 of
 * the commit evidence derived from the secret. STATE if `k` was never
 * rekeyed or p->seqno is not above every seqno sealed under its salt (rekey
 * first); INVALID_ARGUMENT (kind, term, seqno), TOO_LARGE, NOMEM, CRYPTO.
 * On failure `out` keeps its length and `k` is unchanged.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_encode(const cs_ledger_entry_params *p, cs_ledger_keys *k,
                                                 cs_buf *out);

/* A decoded entry; every slice borrows from the decoded bytes. */
typedef struct cs_ledger_entry {
    cs_ledger_kind kind;
    uint64_t term;
    uint64_t seqno;
    const uint8_t *key_salt;               /* CS_LEDGER_SALT_LEN bytes inside `raw` */
    const uint8_t *claims_digest;          /* 32 bytes inside `raw` */
    const uint8_t *commit_evidence_digest; /* 32 bytes inside `raw` */
    cs_slice public_ws;
    cs_slice ciphertext; /* the private write set, encrypted; empty when private_len is 0 */
    cs_slice tag;        /* CS_AEAD_TAG_LEN bytes, always present */
    cs_slice aad;        /* every byte before the ciphertext */
    cs_slice raw;        /* the whole entry */
} cs_ledger_entry;

/*
 * Strictly decodes exactly `in` (no keys needed, nothing authenticated):
 * magic, version 2 (UNSUPPORTED otherwise, naming the version), kind 1..3,
 * flags 0, term 1..2^32-1, seqno >= 1, each length within its cap (else
 * TOO_LARGE), the tag present, no trailing bytes.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_decode(cs_slice in, cs_ledger_entry *out);

/*
 * Authenticates a decoded entry with the service's keys and appends its
 * private write set to `out` (the empty map 0xa0 when it has none):
 * BAD_TAG if any byte of the entry was altered, added or stripped, or it was
 * sealed under another secret; BAD_PROOF if its commit_evidence_digest is
 * not the one derived for its (term, seqno). Nothing is appended on error.
 * `out` should be a secret buffer.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_open(const cs_ledger_entry *e, cs_ledger_keys *k,
                                               cs_buf *out);

/* ---- transaction ids, commit evidence, leaves (ledger_leaf.c) ---- */

/* "<term>.<seqno>" into `out`. */
void cs_ledger_txid_format(uint64_t term, uint64_t seqno, char out[CS_LEDGER_TXID_MAX]);
/* Parses exactly "<term>.<seqno>": decimal, no sign or leading zeros, both
 * >= 1, term <= CS_LEDGER_TERM_MAX. MALFORMED otherwise. */
CS_MUST_CHECK consort_err cs_ledger_txid_parse(cs_slice s, uint64_t *term, uint64_t *seqno);

/*
 * The commit evidence of (term, seqno): "ce:<term>.<seqno>:<64 hex>", the
 * hex being HKDF-SHA256(ikm = secret, salt = "", info = "consort commit
 * evidence <term>.<seqno>", 32 bytes), lower case (docs/ledger.md §2).
 */
CS_MUST_CHECK consort_err cs_ledger_commit_evidence(const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                                    uint64_t term, uint64_t seqno,
                                                    char out[CS_LEDGER_CE_MAX]);
/* SHA-256 of the commit evidence string (its bytes, no NUL). */
void cs_ledger_commit_evidence_digest(cs_slice ce, uint8_t out[CS_LEDGER_DIGEST_LEN]);

/*
 * The Merkle leaf hash (DESIGN.md "Receipts"): SHA-256(0x00 || leaf entry),
 * leaf entry = write_set_digest || commit_evidence_digest || claims_digest.
 */
void cs_ledger_leaf_from_components(const uint8_t write_set_digest[CS_LEDGER_DIGEST_LEN],
                                    const uint8_t ce_digest[CS_LEDGER_DIGEST_LEN],
                                    const uint8_t claims_digest[CS_LEDGER_DIGEST_LEN],
                                    uint8_t out[CS_MERKLE_HASH_LEN]);
/* The leaf of a decoded entry: write_set_digest = SHA-256(e->raw). */
void cs_ledger_leaf_hash(const cs_ledger_entry *e, uint8_t out[CS_MERKLE_HASH_LEN]);

/* ---- signature entries (ledger_sig.c, ledger_sig_verify.c) ---- */

/* The public map a signature entry writes, and its one key h'00'. */
#define CS_LEDGER_SIG_MAP "public:consort.signatures"
/* node_id: hex of the first 8 bytes of SHA-256(node key SPKI DER). */
#define CS_LEDGER_NODE_ID_LEN 16
/* Largest node certificate accepted in a signature entry. */
#define CS_LEDGER_CERT_MAX 8192

typedef struct cs_ledger_signer {
    const cs_key *node_key;   /* private; P-256 (ES256) or P-384 (ES384) */
    const cs_x509 *node_cert; /* its certificate, issued by the service identity */
    const char *node_id;      /* must equal the id derived from node_key */
} cs_ledger_signer;

/*
 * What a signature entry at `seqno` states besides the root (docs/ledger.md
 * section 4): the store's state digest after entries 1 .. seqno - 1 (the KV
 * store's, docs/kv.md; 32 bytes) and the terms digest of those entries
 * (cs_ledger_terms_digest).
 */
typedef struct cs_ledger_sig_params {
    uint64_t term;
    uint64_t seqno;
    const uint8_t *state; /* 32 bytes */
    const uint8_t *terms; /* 32 bytes */
} cs_ledger_sig_params;

/*
 * Appends the signature entry p->seqno over `tree`, which must hold exactly
 * seqno - 1 leaves: the root, the COSE_Sign1 over it (payload detached,
 * protected {1: alg, 4: kid, 395: 1}, unprotected {}), the state and terms
 * digests, the checkpoint COSE_Sign1 (payload detached: the checkpoint
 * record of docs/ledger.md 4.2, protected {1: alg, 4: kid}), the node id and
 * certificate; sealed with `keys` like any entry. INVALID_ARGUMENT for a
 * tree of another size, missing digests, a node_id or certificate that does
 * not belong to the key; plus the errors of cs_ledger_entry_encode and COSE
 * signing.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_build(const cs_merkle_tree *tree,
                                              const cs_ledger_signer *signer,
                                              const cs_ledger_sig_params *p, cs_ledger_keys *keys,
                                              cs_buf *out);

/* A parsed signature entry; slices borrow from the entry's bytes. */
typedef struct cs_ledger_sig {
    uint64_t term;
    uint64_t seqno;
    uint64_t tree_size;
    cs_slice root;       /* 32 bytes */
    cs_slice state;      /* 32 bytes */
    cs_slice terms;      /* 32 bytes */
    cs_slice node_id;    /* CS_LEDGER_NODE_ID_LEN lower-case hex digits */
    cs_slice cose;       /* the COSE_Sign1 over the root as stored */
    cs_slice checkpoint; /* the checkpoint COSE_Sign1 as stored */
    cs_slice cert;       /* node certificate DER */
    cs_cose_sign1 msg;
    cs_cose_sign1 checkpoint_msg;
    cs_cose_alg alg;
    cs_slice kid; /* 32 bytes */
} cs_ledger_sig;

/*
 * Structural checks of a signature entry, no crypto: kind 2, zero claims
 * digest, no private writes, the public write set exactly
 * {"public:consort.signatures": [[h'00', bstr .cbor {term, seqno, tree_size,
 * root, state, terms, node_id, cose, checkpoint, cert}]]} in that key order,
 * term/seqno equal to the entry's, tree_size == seqno - 1, 32-byte root,
 * state and terms, a detached COSE_Sign1 over the root whose protected
 * header is exactly {1: ES256|ES384, 4: bstr 32, 395: 1}, a detached
 * checkpoint COSE_Sign1 whose protected header is exactly {1: the same alg,
 * 4: the same kid}, both with empty unprotected headers. MALFORMED (and the
 * CBOR/COSE decode codes) naming the field.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_parse(const cs_ledger_entry *e, cs_ledger_sig *out);

/* The checkpoint record a signature's checkpoint COSE_Sign1 signs (the
 * detached payload, docs/ledger.md 4.2), appended to `out`. */
CS_MUST_CHECK consort_err cs_ledger_checkpoint_payload(uint64_t tree_size, cs_slice root,
                                                       cs_slice state, cs_slice terms, cs_buf *out);

/* One run of entries of equal term: entries first_seqno .. (the next run's
 * first_seqno - 1) have `term`. */
typedef struct cs_ledger_term_run {
    uint64_t first_seqno;
    uint64_t term;
} cs_ledger_term_run;

/*
 * The terms digest of entries 1 .. tree_size (docs/ledger.md 4.2):
 * SHA-256 of the CBOR array of [first_seqno, term] pairs of the runs that
 * start at or before tree_size, in order. `runs` must start at seqno 1 (or
 * be empty when tree_size is 0) with strictly increasing seqnos and terms;
 * INVALID_ARGUMENT otherwise.
 */
CS_MUST_CHECK consort_err cs_ledger_terms_digest(const cs_ledger_term_run *runs, size_t count,
                                                 uint64_t tree_size,
                                                 uint8_t out[CS_LEDGER_DIGEST_LEN]);

/*
 * The checks shared with receipts (whose COSE_Sign1 is the signature entry's
 * with another unprotected header): the protected header is exactly
 * {1: ES256|ES384, 4: bstr 32, 395: 1} and the payload is detached.
 * `alg` and `kid` (borrowed) receive the values. MALFORMED, UNSUPPORTED.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_check_protected(const cs_cose_sign1 *msg, cs_cose_alg *alg,
                                                        cs_slice *kid);

/* Caches the last node certificate found to chain to a service
 * certificate at a time, so a verifier of many signature entries checks
 * each certificate once: it is used again only for the same node
 * certificate, service certificate and `now`. Zero-initialise it, pass it
 * to every verification, then cs_ledger_cert_cache_cleanup(). One thread
 * at a time. */
typedef struct cs_ledger_cert_cache {
    uint8_t fingerprint[CS_SHA256_LEN];         /* SHA-256 of the node certificate's DER */
    uint8_t service_fingerprint[CS_SHA256_LEN]; /* ... of the service certificate it chains to */
    int64_t now;                                /* the time it was checked at */
    bool valid;
    cs_key *key; /* its public key (owned) */
} cs_ledger_cert_cache;

void cs_ledger_cert_cache_cleanup(cs_ledger_cert_cache *c);

/*
 * The cryptographic checks of a parsed signature entry: the certificate
 * parses, its key's id equals the COSE kid (SHA-256 of the SPKI DER) and its
 * first 8 bytes in hex equal node_id, the COSE signature verifies over the
 * root and the checkpoint COSE signature over the checkpoint record
 * (cs_ledger_checkpoint_payload) under that key with the alg of its curve,
 * and the certificate chains to `service_cert` at `now`. `cache` may be
 * NULL. (The terms and state digests are checked by whoever knows the
 * entries or the store: cs_ledger_verify checks terms.) BAD_SIGNATURE,
 * BAD_CERTIFICATE, EXPIRED, MALFORMED (certificate, node_id, kid).
 *
 * `now` = CS_LEDGER_SIG_ANY_TIME checks the chain (signatures, CA
 * constraints) at a time when both the node certificate and the service
 * certificate were valid, never at the local clock: for a replica
 * applying committed entries, which consensus already accepted and the
 * ledger secret authenticates, and whose wall clock the host sets (a clock
 * set back must not stop a node on the entries of a certificate issued
 * "later"). Auditors pass a time.
 */
#define CS_LEDGER_SIG_ANY_TIME INT64_MIN
CS_MUST_CHECK consort_err cs_ledger_sig_verify(const cs_ledger_sig *s, const cs_x509 *service_cert,
                                               int64_t now, cs_ledger_cert_cache *cache);

/* ---- chunk files (ledger_chunk.c) ---- */

/* docs/ledger.md §5.1 and §7 "Limits": the default chunk size. */
#define CS_LEDGER_CHUNK_SIZE_DEFAULT ((size_t)4 << 20)
/* A chunk file name: "ledger_<first>-<last>.committed" or "ledger_<first>.open". */
#define CS_LEDGER_NAME_MAX 64

typedef struct cs_ledger_chunk {
    uint64_t first;
    uint64_t last; /* committed only */
    bool committed;
    char name[CS_LEDGER_NAME_MAX];
} cs_ledger_chunk;

/*
 * Parses a file name. CONSORT_E_NOT_FOUND (no message) for names that do not
 * start with "ledger_" (not ledger files: ignored); MALFORMED for a
 * "ledger_" name that is not exactly one of the two forms (decimal without
 * leading zeros, first >= 1, last >= first).
 */
CS_MUST_CHECK consort_err cs_ledger_chunk_parse_name(const char *name, cs_ledger_chunk *out);
void cs_ledger_chunk_format_name(cs_ledger_chunk *c);

/*
 * The chunks of `dir` sorted by first seqno (caller cs_free()s *out).
 * CORRUPT for a malformed "ledger_" name, two chunks with the same first
 * seqno, more than one .open chunk or an .open chunk that is not the last;
 * NOT_FOUND/IO if the directory cannot be read.
 */
CS_MUST_CHECK consort_err cs_ledger_chunks_list(const char *dir, cs_ledger_chunk **out,
                                                size_t *count);

/* ---- the reader (ledger_reader.c) ---- */

typedef struct cs_ledger_reader cs_ledger_reader;

/* One entry as read: valid until the next call on the reader. */
typedef struct cs_ledger_record {
    cs_ledger_entry entry; /* decoded, borrowing the reader's buffer */
    const char *file;      /* chunk file name (valid while the reader lives) */
    uint64_t offset;       /* of the frame in that file */
} cs_ledger_record;

/*
 * Reads every entry of `dir` in seqno order and checks the structure: every
 * frame (be32 length || entry) and entry decodes, seqnos are contiguous
 * across chunks and match the chunk names, terms never decrease, every
 * .committed chunk is non-empty and ends with a signature entry. A torn
 * final frame of the .open chunk ends the reading (see _torn_bytes).
 * Errors are CONSORT_E_CORRUPT with "<file> offset <o> seqno <s>: <reason>".
 */
CS_MUST_CHECK consort_err cs_ledger_reader_open(const char *dir, cs_ledger_reader **out);
void cs_ledger_reader_free(cs_ledger_reader *r);
/* The next record; *done is set (and rec untouched) after the last one. */
CS_MUST_CHECK consort_err cs_ledger_reader_next(cs_ledger_reader *r, cs_ledger_record *rec,
                                                bool *done);
/* Where the reader is (after an error: the first bad entry; seqno is the
 * expected one if the entry did not decode). */
void cs_ledger_reader_where(const cs_ledger_reader *r, const char **file, uint64_t *offset,
                            uint64_t *seqno);
/* Bytes of a torn final frame in the .open chunk (0 if none), and its offset. */
uint64_t cs_ledger_reader_torn_bytes(const cs_ledger_reader *r, uint64_t *offset);
/* How many chunk files were opened so far. */
size_t cs_ledger_reader_chunks(const cs_ledger_reader *r);

/* ---- the offline verifier (ledger_verify.c) ---- */

typedef struct cs_ledger_verify_report {
    uint64_t entries;
    uint64_t signatures;
    uint64_t chunks;
    uint64_t last_seqno;
    uint64_t last_signed_seqno; /* seqno of the last signature entry (0: none) */
    uint64_t unsigned_entries;  /* after the last signature entry: not an error */
    uint64_t torn_bytes;        /* torn final frame of the .open chunk: not an error */
    uint64_t torn_offset;
    /* On failure: the first bad entry. */
    char file[CS_LEDGER_NAME_MAX];
    uint64_t offset;
    uint64_t seqno;
} cs_ledger_verify_report;

/*
 * Verifies the ledger in `dir` against the pinned service certificate as of
 * `now`: everything cs_ledger_reader checks, that it starts at seqno 1, and
 * for every signature entry (in the rebuilt Merkle tree) that its root is
 * the root of the entries before it, cs_ledger_sig_verify holds (both
 * signatures), and its terms digest is the one of the entries before it
 * (cs_ledger_terms_digest of their headers' terms; BAD_PROOF otherwise).
 * It has no ledger secret, so entry tags, commit evidence and the state
 * digest are not checked (docs/ledger.md 6.1). Returns the first failure
 * (its message names file, offset, seqno and the reason; the report says
 * where); the report's counters are filled either way. Entries after the
 * last signature entry (report->unsigned_entries) are covered by no
 * signature: that is not an error, but nothing vouches for them.
 */
CS_MUST_CHECK consort_err cs_ledger_verify(const char *dir, const cs_x509 *service_cert,
                                           int64_t now, cs_ledger_verify_report *report);

/*
 * A service identity and the last seqno its nodes signed: a recovered
 * service's ledger holds the entries of the identities it succeeded
 * (docs/recovery.md "The identity chain"), each signed under its own.
 */
typedef struct cs_ledger_identity {
    const cs_x509 *cert; /* the service certificate (borrowed) */
    uint64_t last_seqno; /* its last signature entry; 0: still current */
} cs_ledger_identity;

/* The certificate signature entry `seqno` chains to: that of the first of
 * `ids` (ordered oldest first, last_seqno increasing, the current one last
 * with last_seqno 0) whose last_seqno is 0 or >= seqno; NULL if none. */
const cs_x509 *cs_ledger_identity_for(const cs_ledger_identity *ids, size_t count, uint64_t seqno);

/* cs_ledger_verify with each signature entry checked against the identity
 * cs_ledger_identity_for names for its seqno (BAD_CERTIFICATE when none). */
CS_MUST_CHECK consort_err cs_ledger_verify_ids(const char *dir, const cs_ledger_identity *ids,
                                               size_t count, int64_t now,
                                               cs_ledger_verify_report *report);

#endif
