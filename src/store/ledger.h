/*
 * The ledger: every committed transaction as one entry, in chunk files, with
 * a Merkle tree over the entries and signature entries that sign its root
 * (DESIGN.md "A write, end to end"; /work/notes/service.md "Ledger entry",
 * "Signature entry", "Ledger files"; the byte-level format is docs/ledger.md).
 *
 *   entries     cs_ledger_entry_encode / _decode / _decrypt   (ledger_entry.c)
 *   evidence    commit evidence, txids, leaf hashes           (ledger_leaf.c)
 *   signatures  cs_ledger_sig_build / _parse / _verify        (ledger_sig*.c)
 *   files       chunk names (ledger_chunk.c); writer: append, sync,
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

#include <stdint.h>
#include <sys/types.h>

/* ---- entries (service.md "Ledger entry", version 1, big-endian) ---- */

#define CS_LEDGER_MAGIC      "CSLE"
#define CS_LEDGER_VERSION    1
#define CS_LEDGER_SECRET_LEN 32
#define CS_LEDGER_DIGEST_LEN 32
/* Bytes before the public write set: magic .. public_len. */
#define CS_LEDGER_HEADER_LEN 92
/* Smallest entry: the header, an empty public write set and private_len. */
#define CS_LEDGER_ENTRY_MIN (CS_LEDGER_HEADER_LEN + 4)
/* service.md: "public/private each <= 16 MiB" (the private plaintext). */
#define CS_LEDGER_WS_MAX      ((size_t)16 << 20)
#define CS_LEDGER_PRIVATE_MAX (CS_LEDGER_WS_MAX + CS_AEAD_TAG_LEN)
#define CS_LEDGER_ENTRY_MAX   (CS_LEDGER_ENTRY_MIN + CS_LEDGER_WS_MAX + CS_LEDGER_PRIVATE_MAX)
/* The nonce is be32(term) || be64(seqno): terms must fit in 32 bits. */
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
 * Appends one entry to `out`: the private write set is sealed with
 * AES-256-GCM under `secret` (nonce be32(term) || be64(seqno), aad = every
 * byte before the private section), and commit_evidence_digest is
 * SHA-256 of the commit evidence derived from `secret`. On failure `out`
 * keeps its length. INVALID_ARGUMENT (kind, term, seqno), TOO_LARGE,
 * NOMEM, CRYPTO.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_encode(const cs_ledger_entry_params *p,
                                                 const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                                 cs_buf *out);

/* A decoded entry; every slice borrows from the decoded bytes. */
typedef struct cs_ledger_entry {
    cs_ledger_kind kind;
    uint64_t term;
    uint64_t seqno;
    const uint8_t *claims_digest;          /* 32 bytes inside `raw` */
    const uint8_t *commit_evidence_digest; /* 32 bytes inside `raw` */
    cs_slice public_ws;
    cs_slice private_section; /* ciphertext || tag; empty when private_len is 0 */
    cs_slice aad;             /* every byte before the private section */
    cs_slice raw;             /* the whole entry */
} cs_ledger_entry;

/*
 * Strictly decodes exactly `in`: magic, version 1 (else UNSUPPORTED), kind
 * 1..3, flags 0, term 1..2^32-1, seqno >= 1, each length within its cap
 * (else TOO_LARGE), private_len 0 or more than a tag, no trailing bytes.
 * Write-set contents are not looked at.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_decode(cs_slice in, cs_ledger_entry *out);

/*
 * Appends the private write set of `e` to `out` (the empty map 0xa0 for an
 * entry without a private section). CONSORT_E_BAD_TAG if any byte of the
 * entry before or in the private section was altered or `secret` is not the
 * one it was sealed with; nothing is appended then. `out` should be secret.
 */
CS_MUST_CHECK consort_err cs_ledger_entry_decrypt(const cs_ledger_entry *e,
                                                  const uint8_t secret[CS_LEDGER_SECRET_LEN],
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
 * evidence <term>.<seqno>", 32 bytes), lower case (service.md).
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
 * Appends the signature entry (term, seqno) over `tree`, which must hold
 * exactly seqno - 1 leaves: root of the tree, COSE_Sign1 over it (payload
 * detached, protected {1: alg, 4: kid, 395: 1}, unprotected {}), the node
 * id and certificate. INVALID_ARGUMENT for a tree of another size, a
 * node_id or certificate that does not belong to the key; plus the errors
 * of cs_ledger_entry_encode and COSE signing.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_build(const cs_merkle_tree *tree,
                                              const cs_ledger_signer *signer, uint64_t term,
                                              uint64_t seqno,
                                              const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                              cs_buf *out);

/* A parsed signature entry; slices borrow from the entry's bytes. */
typedef struct cs_ledger_sig {
    uint64_t term;
    uint64_t seqno;
    uint64_t tree_size;
    cs_slice root;    /* 32 bytes */
    cs_slice node_id; /* CS_LEDGER_NODE_ID_LEN lower-case hex digits */
    cs_slice cose;    /* the COSE_Sign1 as stored */
    cs_slice cert;    /* node certificate DER */
    cs_cose_sign1 msg;
    cs_cose_alg alg;
    cs_slice kid; /* 32 bytes */
} cs_ledger_sig;

/*
 * Structural checks of a signature entry, no crypto: kind 2, zero claims
 * digest, no private section, the public write set exactly
 * {"public:consort.signatures": [[h'00', bstr .cbor {term, seqno, tree_size,
 * root, node_id, cose, cert}]]} in that key order, term/seqno equal to the
 * entry's, tree_size == seqno - 1, a 32-byte root, a detached COSE_Sign1
 * whose protected header is exactly {1: ES256|ES384, 4: bstr 32, 395: 1}
 * and whose unprotected header is empty. MALFORMED (and the CBOR/COSE
 * decode codes) naming the field.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_parse(const cs_ledger_entry *e, cs_ledger_sig *out);

/*
 * The checks shared with receipts (whose COSE_Sign1 is the signature entry's
 * with another unprotected header): the protected header is exactly
 * {1: ES256|ES384, 4: bstr 32, 395: 1} and the payload is detached.
 * `alg` and `kid` (borrowed) receive the values. MALFORMED, UNSUPPORTED.
 */
CS_MUST_CHECK consort_err cs_ledger_sig_check_protected(const cs_cose_sign1 *msg, cs_cose_alg *alg,
                                                        cs_slice *kid);

/* Caches the last node certificate found to chain to the service, so a
 * verifier of many signature entries checks each certificate once. A cache
 * is valid for one service certificate and one `now`: zero-initialise it,
 * use it for one verification run, then cs_ledger_cert_cache_cleanup(). */
typedef struct cs_ledger_cert_cache {
    uint8_t fingerprint[CS_SHA256_LEN]; /* SHA-256 of the DER */
    bool valid;
    cs_key *key; /* its public key (owned) */
} cs_ledger_cert_cache;

void cs_ledger_cert_cache_cleanup(cs_ledger_cert_cache *c);

/*
 * The cryptographic checks of a parsed signature entry: the certificate
 * parses, its key's id equals the COSE kid (SHA-256 of the SPKI DER) and its
 * first 8 bytes in hex equal node_id, the COSE signature verifies over the
 * root under that key with the alg of its curve, and the certificate chains
 * to `service_cert` at `now`. `cache` may be NULL. BAD_SIGNATURE,
 * BAD_CERTIFICATE, EXPIRED, MALFORMED (certificate, node_id, kid).
 */
CS_MUST_CHECK consort_err cs_ledger_sig_verify(const cs_ledger_sig *s, const cs_x509 *service_cert,
                                               int64_t now, cs_ledger_cert_cache *cache);

/* ---- chunk files (ledger_chunk.c) ---- */

/* service.md "Ledger files": the default chunk size. */
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

/* ---- the writer (ledger_writer.c, ledger_writer_state.c) ---- */

/* The file operations the writer uses: a seam so tests can inject failures
 * (pwrite semantics; -1 with errno on failure). NULL members use the OS. */
typedef struct cs_ledger_io {
    ssize_t (*pwrite_fn)(void *ctx, int fd, const void *buf, size_t n, off_t off);
    int (*fsync_fn)(void *ctx, int fd);
    void *ctx;
} cs_ledger_io;

typedef struct cs_ledger_writer_opts {
    size_t chunk_size;      /* 0: CS_LEDGER_CHUNK_SIZE_DEFAULT */
    uint64_t start_seqno;   /* seqno of the first entry of an empty ledger (0: 1) */
    const cs_ledger_io *io; /* NULL: the OS */
} cs_ledger_writer_opts;

typedef struct cs_ledger_writer cs_ledger_writer;

/*
 * Opens (creating it if needed) the ledger directory `dir` for appending.
 * Recovery: a torn final frame of the .open chunk (a crash mid-write) is
 * truncated away and logged; the last chunk is read to learn the last seqno
 * and term. CORRUPT (file, offset, seqno) for anything else malformed in
 * the last chunk or the names; IO, NOMEM.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_open(const char *dir, const cs_ledger_writer_opts *opts,
                                                cs_ledger_writer **out);
/* Flushes buffered frames (without fsync, errors logged) and frees; NULL is a no-op. */
void cs_ledger_writer_free(cs_ledger_writer *w);

/*
 * Appends one entry (decoded first: it must be a valid entry with seqno =
 * last + 1 and a term no smaller than the last, else INVALID_ARGUMENT).
 * Frames are buffered and written in batches; a signature entry makes the
 * files durable (service.md: fsynced at every signature entry): the
 * buffered frames are written and the .open chunk fsynced, or, if it now
 * holds chunk_size bytes or more, closed: fsynced, renamed to .committed
 * and the directory fsynced. Returns CONSORT_OK iff the entry was accepted.
 * CONSORT_E_NO_SPACE: the entry was not accepted and the files hold exactly
 * the frames written before (a partial frame is cut off); the writer stays
 * usable. Any other I/O error (fsync, rename) leaves the writer broken:
 * later calls fail with CONSORT_E_STATE until it is reopened.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_append(cs_ledger_writer *w, cs_slice entry);
/* Writes buffered frames and fsyncs the .open chunk (and the directory once
 * after creating it). NO_SPACE as for append (the frames stay buffered). */
CS_MUST_CHECK consort_err cs_ledger_writer_sync(cs_ledger_writer *w);
/*
 * Rollback: removes every entry with a seqno greater than `seqno` (buffered
 * or in files, across chunks: later chunk files are deleted from the last
 * one back, the chunk holding `seqno` is cut after it and, if it was
 * committed and no longer ends at its name's last seqno, becomes the .open
 * chunk again). `seqno` may be start - 1 (empty ledger). INVALID_ARGUMENT
 * if `seqno` is beyond the last entry; IO; CORRUPT.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_truncate(cs_ledger_writer *w, uint64_t seqno);
/* The last accepted entry (0 when empty) and its term. */
uint64_t cs_ledger_writer_last_seqno(const cs_ledger_writer *w);
uint64_t cs_ledger_writer_last_term(const cs_ledger_writer *w);

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
 * the root of the entries before it and cs_ledger_sig_verify holds. Returns
 * the first failure (its message names file, offset, seqno and the reason;
 * the report says where); the report's counters are filled either way.
 */
CS_MUST_CHECK consort_err cs_ledger_verify(const char *dir, const cs_x509 *service_cert,
                                           int64_t now, cs_ledger_verify_report *report);

#endif
