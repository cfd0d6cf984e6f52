/*
 * SEV-SNP certificate table reader and writer (GHCB spec v2.03 §4.1.8.1,
 * AMD 56421). See snp_certtable.h for the layout and the contract.
 */
#include "attest/snp_certtable.h"

#include <stdio.h>
#include <string.h>

/*
 * The GUIDs AMD assigns to the certificates in the table (GHCB spec
 * §4.1.8.1), in string byte order. Cross-checked against AMD's sev-guest
 * tools (cert-table.c), go-sev-guest (abi.VcekGUID..ArkGUID) and virtee/sev
 * (CertType). go-sev-guest also files the ASVK under the ASK GUID.
 */
static const struct {
    cs_snp_cert_kind kind;
    const char *name;
    uint8_t guid[CS_SNP_GUID_LEN];
} known[] = {
    {CS_SNP_CERT_VCEK,
     "vcek",
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
      0xcd}},
    {CS_SNP_CERT_VLEK,
     "vlek",
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
      0xa1}},
    {CS_SNP_CERT_ASK,
     "ask",
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
      0x82}},
    {CS_SNP_CERT_ARK,
     "ark",
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
      0xae}},
};

static const uint8_t null_guid[CS_SNP_GUID_LEN];

const char *cs_snp_cert_kind_name(cs_snp_cert_kind kind)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(known); i++)
        if (known[i].kind == kind)
            return known[i].name;
    return "unknown";
}

const uint8_t *cs_snp_cert_kind_guid(cs_snp_cert_kind kind)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(known); i++)
        if (known[i].kind == kind)
            return known[i].guid;
    return NULL;
}

static cs_snp_cert_kind kind_of(const uint8_t guid[CS_SNP_GUID_LEN])
{
    for (size_t i = 0; i < CS_ARRAY_LEN(known); i++)
        if (memcmp(known[i].guid, guid, CS_SNP_GUID_LEN) == 0)
            return known[i].kind;
    return CS_SNP_CERT_UNKNOWN;
}

void cs_snp_guid_format(const uint8_t guid[CS_SNP_GUID_LEN], char out[CS_SNP_GUID_STR_LEN])
{
    /* 8-4-4-4-12 hex digits */
    static const size_t groups[] = {4, 2, 2, 2, 6};
    size_t in = 0;
    char *p = out;
    for (size_t g = 0; g < CS_ARRAY_LEN(groups); g++) {
        if (g > 0)
            *p++ = '-';
        cs_hex_encode(CS_SLICE(guid + in, groups[g]), p);
        p += 2 * groups[g];
        in += groups[g];
    }
    *p = '\0';
}

/* "entry 2 (ask)" or "entry 2 (unknown 01234567-...)" for messages. */
static const char *entry_label(size_t index, const cs_snp_cert_entry *e, char *buf, size_t n)
{
    if (e->kind != CS_SNP_CERT_UNKNOWN) {
        snprintf(buf, n, "entry %zu (%s)", index, cs_snp_cert_kind_name(e->kind));
    } else {
        char g[CS_SNP_GUID_STR_LEN];
        cs_snp_guid_format(e->guid, g);
        snprintf(buf, n, "entry %zu (unknown %s)", index, g);
    }
    return buf;
}

/* Reads the entries up to the terminator; fills guid, kind, offset and data.len. */
static consort_err read_entries(cs_slice blob, cs_snp_certtable *t)
{
    cs_cursor c;
    cs_cursor_init(&c, blob);
    for (;;) {
        uint8_t guid[CS_SNP_GUID_LEN];
        uint32_t offset;
        uint32_t length;
        size_t index = t->count;
        /* GHCB §4.1.8.1: the table "must be terminated by an entry containing all zeros". */
        CS_ENSURE(cs_cursor_remaining(&c) >= CS_SNP_CERTTABLE_ENTRY_LEN, CONSORT_E_TRUNCATED,
                  "no all-zero terminating entry in the %zu-byte table (%zu entries read)",
                  blob.len, index);
        CS_TRY(cs_cursor_read_into(&c, guid, sizeof guid));
        CS_TRY(cs_cursor_read_le32(&c, &offset));
        CS_TRY(cs_cursor_read_le32(&c, &length));
        if (memcmp(guid, null_guid, sizeof guid) == 0) {
            CS_ENSURE(offset == 0 && length == 0, CONSORT_E_MALFORMED,
                      "entry %zu has the null GUID but offset %u and length %u (a terminator "
                      "is all zeros)",
                      index, offset, length);
            return CONSORT_OK;
        }
        CS_ENSURE(index < CS_SNP_CERTTABLE_MAX_ENTRIES, CONSORT_E_TOO_LARGE, "more than %d entries",
                  CS_SNP_CERTTABLE_MAX_ENTRIES);
        cs_snp_cert_entry *e = &t->entries[index];
        memcpy(e->guid, guid, sizeof guid);
        e->kind = kind_of(guid);
        e->offset = offset;
        e->data = (cs_slice){NULL, length};
        t->count++;
    }
}

/* Bounds and overlap checks; points each entry's data into the blob. */
static consort_err check_entries(cs_slice blob, cs_snp_certtable *t)
{
    /* The table itself: the entries and the terminator. */
    size_t table_end = (t->count + 1) * CS_SNP_CERTTABLE_ENTRY_LEN;
    char label[96];
    for (size_t i = 0; i < t->count; i++) {
        cs_snp_cert_entry *e = &t->entries[i];
        size_t off = e->offset;
        size_t len = e->data.len;
        entry_label(i, e, label, sizeof label);
        CS_ENSURE(len > 0, CONSORT_E_MALFORMED, "%s: length 0", label);
        CS_ENSURE(off >= table_end, CONSORT_E_MALFORMED,
                  "%s: offset %zu lies inside the table, which ends at %zu", label, off, table_end);
        /* GHCB §4.1.8.1: offset and length locate the certificate in the data area. */
        CS_ENSURE(off <= blob.len && len <= blob.len - off, CONSORT_E_TRUNCATED,
                  "%s: bytes [%zu, %zu) run past the end of the %zu-byte table", label, off,
                  off + len, blob.len);
        CS_TRY_CTX(cs_slice_sub(blob, off, len, &e->data), "%s", label);
        for (size_t j = 0; j < i; j++) {
            const cs_snp_cert_entry *p = &t->entries[j];
            size_t p_off = p->offset;
            size_t p_end = p_off + p->data.len;
            char other[96];
            CS_ENSURE(memcmp(p->guid, e->guid, CS_SNP_GUID_LEN) != 0, CONSORT_E_MALFORMED,
                      "%s repeats the GUID of entry %zu", label, j);
            CS_ENSURE(off + len <= p_off || p_end <= off, CONSORT_E_MALFORMED,
                      "%s: bytes [%zu, %zu) overlap %s at [%zu, %zu)", label, off, off + len,
                      entry_label(j, p, other, sizeof other), p_off, p_end);
        }
    }
    return CONSORT_OK;
}

consort_err cs_snp_certtable_parse(cs_slice blob, cs_snp_certtable *out)
{
    out->count = 0;
    if (blob.len == 0)
        return CONSORT_OK;
    CS_ENSURE(blob.len <= CS_SNP_CERTTABLE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "SNP certificate table: %zu bytes, at most %d accepted", blob.len,
              CS_SNP_CERTTABLE_MAX_BYTES);
    consort_err rc = read_entries(blob, out);
    if (rc == CONSORT_OK)
        rc = check_entries(blob, out);
    if (rc != CONSORT_OK) {
        out->count = 0;
        return cs_err_context(rc, "SNP certificate table");
    }
    return CONSORT_OK;
}

const cs_snp_cert_entry *cs_snp_certtable_find(const cs_snp_certtable *t, cs_snp_cert_kind kind)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->entries[i].kind == kind)
            return &t->entries[i];
    return NULL;
}

consort_err cs_snp_certtable_build(const cs_snp_cert_entry *entries, size_t count, cs_buf *out)
{
    CS_ENSURE(count <= CS_SNP_CERTTABLE_MAX_ENTRIES, CONSORT_E_INVALID_ARGUMENT,
              "SNP certificate table: %zu entries, at most %d", count,
              CS_SNP_CERTTABLE_MAX_ENTRIES);
    size_t offset = (count + 1) * CS_SNP_CERTTABLE_ENTRY_LEN;
    size_t total = offset;
    for (size_t i = 0; i < count; i++) {
        CS_ENSURE(entries[i].data.len > 0 &&
                      memcmp(entries[i].guid, null_guid, CS_SNP_GUID_LEN) != 0,
                  CONSORT_E_INVALID_ARGUMENT,
                  "SNP certificate table: entry %zu is empty or has the null GUID", i);
        total += entries[i].data.len;
    }
    CS_ENSURE(total <= CS_SNP_CERTTABLE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "SNP certificate table: %zu bytes, at most %d", total, CS_SNP_CERTTABLE_MAX_BYTES);
    CS_TRY(cs_buf_reserve(out, total));
    for (size_t i = 0; i < count; i++) {
        CS_TRY(cs_buf_append(out, entries[i].guid, CS_SNP_GUID_LEN));
        CS_TRY(cs_buf_append_le32(out, (uint32_t)offset));
        CS_TRY(cs_buf_append_le32(out, (uint32_t)entries[i].data.len));
        offset += entries[i].data.len;
    }
    uint8_t *terminator;
    CS_TRY(cs_buf_extend(out, CS_SNP_CERTTABLE_ENTRY_LEN, &terminator));
    for (size_t i = 0; i < count; i++)
        CS_TRY(cs_buf_append_slice(out, entries[i].data));
    return CONSORT_OK;
}
