/*
 * The SEV-SNP certificate table: what the hypervisor returns next to an
 * extended attestation report, and what Linux's configfs-tsm exposes as
 * `auxblob` when the provider is "sev_guest" (kernel
 * Documentation/ABI/testing/configfs-tsm-report: the "cert_table" of GHCB
 * specification v2.03 §4.1.8.1 MSG_REPORT_REQ, AMD document 56421).
 *
 * Layout (all integers little-endian):
 *
 *   entry[0] .. entry[n-1], terminator, certificate data ...
 *   entry      = GUID (16 bytes) || offset (u32) || length (u32)    24 bytes
 *   terminator = 24 zero bytes
 *
 * `offset` counts from the first byte of the table; each entry names the
 * bytes [offset, offset + length) of the blob. GUIDs are stored in the byte
 * order they are written in (RFC 4122 string order), as AMD's sev-guest
 * tools, go-sev-guest and virtee/sev all read them.
 *
 * The parser borrows: every entry's data is a slice into the input blob,
 * valid as long as the blob is. Nothing is allocated.
 */
#ifndef CS_ATTEST_SNP_CERTTABLE_H
#define CS_ATTEST_SNP_CERTTABLE_H

#include "base/buf.h"

#define CS_SNP_GUID_LEN            16
#define CS_SNP_CERTTABLE_ENTRY_LEN 24
/* More entries than this is refused (real tables hold 3: VCEK/VLEK, ASK, ARK). */
#define CS_SNP_CERTTABLE_MAX_ENTRIES 32
/* A table larger than configfs-tsm can ever return (TSM_REPORT_OUTBLOB_MAX). */
#define CS_SNP_CERTTABLE_MAX_BYTES (32 * 1024)
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" plus NUL. */
#define CS_SNP_GUID_STR_LEN 37

typedef enum cs_snp_cert_kind {
    CS_SNP_CERT_UNKNOWN = 0, /* a GUID consort does not know: kept, labelled "unknown" */
    CS_SNP_CERT_VCEK,        /* 63da758d-e664-4564-adc5-f4b93be8accd */
    CS_SNP_CERT_VLEK,        /* a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
    CS_SNP_CERT_ASK,         /* 4ab7b379-bbac-4fe4-a02f-05aef327c782 (also carries the ASVK) */
    CS_SNP_CERT_ARK,         /* c0b406a4-a803-4952-9743-3fb6014cd0ae */
} cs_snp_cert_kind;

typedef struct cs_snp_cert_entry {
    uint8_t guid[CS_SNP_GUID_LEN];
    cs_snp_cert_kind kind;
    uint32_t offset;
    cs_slice data; /* borrowed from the parsed blob */
} cs_snp_cert_entry;

typedef struct cs_snp_certtable {
    cs_snp_cert_entry entries[CS_SNP_CERTTABLE_MAX_ENTRIES];
    size_t count; /* entries before the terminator, in table order */
} cs_snp_certtable;

/* "vcek", "vlek", "ask", "ark" or "unknown". */
const char *cs_snp_cert_kind_name(cs_snp_cert_kind kind);

/* The 16 GUID bytes of a known kind; NULL for CS_SNP_CERT_UNKNOWN. */
const uint8_t *cs_snp_cert_kind_guid(cs_snp_cert_kind kind);

/* Lower-case canonical text of a GUID. */
void cs_snp_guid_format(const uint8_t guid[CS_SNP_GUID_LEN], char out[CS_SNP_GUID_STR_LEN]);

/*
 * Parses a certificate table. An empty blob is an empty table (Linux returns
 * an empty auxblob when the host supplied no certificates).
 *
 * Rejected, with a message naming the entry and the values:
 *   CONSORT_E_TOO_LARGE   blob over CS_SNP_CERTTABLE_MAX_BYTES, or more than
 *                         CS_SNP_CERTTABLE_MAX_ENTRIES entries;
 *   CONSORT_E_TRUNCATED   no all-zero terminator inside the blob, or an entry
 *                         whose bytes run past the end of the blob;
 *   CONSORT_E_MALFORMED   a null GUID with a non-zero offset or length, an
 *                         empty entry, an entry whose bytes overlap the table
 *                         itself or another entry, or the same GUID twice.
 * Bytes that no entry names (padding between or after certificates) are
 * ignored: the GHCB data area is page-granular.
 * On failure `out` holds no entries.
 */
CS_MUST_CHECK consort_err cs_snp_certtable_parse(cs_slice blob, cs_snp_certtable *out);

/* The first entry of `kind`, or NULL. */
const cs_snp_cert_entry *cs_snp_certtable_find(const cs_snp_certtable *t, cs_snp_cert_kind kind);

/*
 * Builds a table from `count` entries (their `guid` and `data`; `kind` and
 * `offset` are ignored): the entries, the terminator, then each entry's
 * bytes back to back in order. Appends to `out`. Used by tests, the fuzz
 * corpus and anything that has to hand a table on.
 */
CS_MUST_CHECK consort_err cs_snp_certtable_build(const cs_snp_cert_entry *entries, size_t count,
                                                 cs_buf *out);

#endif
