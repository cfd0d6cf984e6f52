/*
 * Anchors: the one monotonic counter of an instance (docs/migration.md §3).
 *
 * An anchor is an owned object with two operations, read and increment;
 * increment returns the new value and is durable before it returns. Three
 * backends are built here or plugged in:
 *
 *   cs_anchor_file_open   a file (development only: the host can replace
 *                         it, so it defends against nothing; is_secure is
 *                         false and the store logs it at every open)
 *   cs_anchor_tpm_open    a TPM 2.0 NV counter index (TPM_NT_COUNTER)
 *   cs_anchor_from_ops    any other backend (the node's replicated counter)
 *
 * A value is only ever compared for equality with the value a store was
 * bound to; no backend is assumed to start at 0 (a TPM NV counter defined
 * afresh starts at the highest value any deleted counter of that TPM held,
 * TPM 2.0 Part 1 "NV Counters").
 *
 * An anchor is used by one thread at a time.
 */
#ifndef CS_SEALING_ANCHOR_H
#define CS_SEALING_ANCHOR_H

#include "base/buf.h"

typedef struct cs_anchor cs_anchor;

/* A backend. Every function gets the `ctx` given to cs_anchor_from_ops. */
typedef struct cs_anchor_ops {
    CS_MUST_CHECK consort_err (*read)(void *ctx, uint64_t *value);
    /* Adds one and returns the new value, durable before it returns. */
    CS_MUST_CHECK consort_err (*increment)(void *ctx, uint64_t *value);
    /* A short description for messages ("file /x/anchor", "tpm nv 0x01500000"). */
    const char *(*name)(void *ctx);
    /* True if the host cannot set the value back (docs/migration.md §3 table). */
    bool (*secure)(void *ctx);
    /* Releases ctx (called once, by cs_anchor_free). May be NULL. */
    void (*free)(void *ctx);
} cs_anchor_ops;

/* Wraps a backend: `ops` is borrowed (it must outlive the anchor, e.g. a
 * static table), `ctx` is owned from now on (ops->free releases it, also
 * when this fails with NOMEM). */
CS_MUST_CHECK consort_err cs_anchor_from_ops(const cs_anchor_ops *ops, void *ctx, cs_anchor **out);
/* NULL is a no-op. */
void cs_anchor_free(cs_anchor *a);

CS_MUST_CHECK consort_err cs_anchor_read(cs_anchor *a, uint64_t *value);
/* Adds one; *value receives the new value. Durable before it returns. A
 * failure leaves it unknown whether the increment happened: read again. */
CS_MUST_CHECK consort_err cs_anchor_increment(cs_anchor *a, uint64_t *value);
const char *cs_anchor_name(cs_anchor *a);
bool cs_anchor_is_secure(cs_anchor *a);

/*
 * The file anchor: `path` holds "CSANCHR1" || value (8 bytes big-endian) ||
 * SHA-256 of those 16 bytes; it is created with value 0 if missing and
 * replaced atomically and durably (tmp, fsync, rename, fsync of the
 * directory) by every increment. CORRUPT for a file of another length,
 * magic or checksum; IO.
 */
CS_MUST_CHECK consort_err cs_anchor_file_open(const char *path, cs_anchor **out);

/* The default NV index of the TPM anchor: inside the range the TCG
 * "Registry of Reserved TPM 2.0 Handles and Localities" gives the TPM owner
 * (0x01000000-0x013FFFFF; the indices above it are reserved for platform
 * and component manufacturers, e.g. the EK certificates at 0x01C0000x).
 * 0x01300C57: "C5" for consort, far from 0x01000000 where tools default. */
#define CS_ANCHOR_TPM_DEFAULT_INDEX 0x01300C57u

/*
 * The TPM anchor: NV index `nv_index` (owner range) of the TPM at `tcti`
 * (Tss2_TctiLdr_Initialize syntax), a TPM_NT_COUNTER index with
 * AUTHREAD | AUTHWRITE | NO_DA and an empty auth value, defined under the
 * owner hierarchy (empty owner authorization) if missing and incremented once
 * so that it reads (Part 3 §31.14: a counter is not readable before its
 * first increment). An existing index with other attributes or size is
 * refused (POLICY): it is not a counter, or not ours. The connection stays
 * open until cs_anchor_free. IO (no TPM, a command failed, with the
 * response code decoded), INVALID_ARGUMENT for an index outside the owner
 * range.
 */
CS_MUST_CHECK consort_err cs_anchor_tpm_open(const char *tcti, uint32_t nv_index, cs_anchor **out);

#endif
