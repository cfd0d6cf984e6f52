/*
 * Intel SGX PCK certificate extension (asn1_sgx.h) on OpenSSL's generic
 * ASN.1 types: every SEQUENCE is read with d2i_ASN1_SEQUENCE_ANY, which
 * yields its elements as ASN1_TYPEs, and each element is checked for its
 * exact type and size.
 */
#include "crypto/asn1_sgx.h"

#include "crypto/rand.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

#define OID_TEXT_MAX 64

/* Bits of `seen` for the required entries .1 to .5. */
#define SEEN_PPID  (1u << 1)
#define SEEN_TCB   (1u << 2)
#define SEEN_PCEID (1u << 3)
#define SEEN_FMSPC (1u << 4)
#define SEEN_TYPE  (1u << 5)
#define SEEN_ALL   (SEEN_PPID | SEEN_TCB | SEEN_PCEID | SEEN_FMSPC | SEEN_TYPE)

static void items_free(STACK_OF(ASN1_TYPE) * sk)
{
    sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
}

/* The elements of the DER SEQUENCE in `der`, which must be exactly `len` bytes. */
static consort_err seq_items(const unsigned char *der, int len, const char *what,
                             STACK_OF(ASN1_TYPE) * *out)
{
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *sk = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    if (sk == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, what);
    if (p != der + len) {
        items_free(sk);
        return cs_fail(CONSORT_E_MALFORMED, "%s: %td trailing bytes after the SEQUENCE", what,
                       (der + len) - p);
    }
    *out = sk;
    return CONSORT_OK;
}

/*
 * Splits one entry, SEQUENCE { OBJECT IDENTIFIER, value }, into the dotted
 * OID and its value. `*pair` owns what `*value` points into.
 */
static consort_err entry_split(const ASN1_TYPE *entry, const char *what, char oid[OID_TEXT_MAX],
                               STACK_OF(ASN1_TYPE) * *pair, const ASN1_TYPE **value)
{
    CS_ENSURE(ASN1_TYPE_get(entry) == V_ASN1_SEQUENCE, CONSORT_E_MALFORMED,
              "%s: entry is ASN.1 type %d, expected SEQUENCE", what, ASN1_TYPE_get(entry));
    const ASN1_STRING *s = entry->value.sequence;
    CS_TRY(seq_items(ASN1_STRING_get0_data(s), ASN1_STRING_length(s), what, pair));
    if (sk_ASN1_TYPE_num(*pair) != 2) {
        int n = sk_ASN1_TYPE_num(*pair);
        items_free(*pair);
        return cs_fail(CONSORT_E_MALFORMED, "%s: entry has %d elements, expected 2", what, n);
    }
    const ASN1_TYPE *id = sk_ASN1_TYPE_value(*pair, 0);
    int n = -1;
    if (ASN1_TYPE_get(id) == V_ASN1_OBJECT)
        n = OBJ_obj2txt(oid, OID_TEXT_MAX, id->value.object, 1);
    if (n <= 0 || n >= OID_TEXT_MAX) {
        items_free(*pair);
        return cs_fail(CONSORT_E_MALFORMED, "%s: entry does not start with an OBJECT IDENTIFIER",
                       what);
    }
    *value = sk_ASN1_TYPE_value(*pair, 1);
    return CONSORT_OK;
}

/*
 * The number after `arc` + "." in `oid` (e.g. 17 for arc.17), or -1 if `oid`
 * is not directly below `arc`.
 */
static long sub_id(const char *oid, const char *arc)
{
    size_t n = strlen(arc);
    if (strncmp(oid, arc, n) != 0 || oid[n] != '.' || oid[n + 1] == '\0')
        return -1;
    char *end = NULL;
    long v = strtol(oid + n + 1, &end, 10);
    if (*end != '\0' || v < 0)
        return -1;
    return v;
}

static consort_err octets(const ASN1_TYPE *v, const char *name, uint8_t *out, size_t len)
{
    CS_ENSURE(ASN1_TYPE_get(v) == V_ASN1_OCTET_STRING, CONSORT_E_MALFORMED,
              "SGX extension: %s is ASN.1 type %d, expected OCTET STRING", name, ASN1_TYPE_get(v));
    const ASN1_OCTET_STRING *s = v->value.octet_string;
    CS_ENSURE((size_t)ASN1_STRING_length(s) == len, CONSORT_E_MALFORMED,
              "SGX extension: %s is %d bytes, expected %zu", name, ASN1_STRING_length(s), len);
    memcpy(out, ASN1_STRING_get0_data(s), len);
    return CONSORT_OK;
}

static consort_err integer(const ASN1_TYPE *v, const char *name, int64_t max, int64_t *out)
{
    int64_t x = -1;
    int ok = 0;
    if (ASN1_TYPE_get(v) == V_ASN1_INTEGER)
        ok = ASN1_INTEGER_get_int64(&x, v->value.integer);
    else if (ASN1_TYPE_get(v) == V_ASN1_ENUMERATED)
        ok = ASN1_ENUMERATED_get_int64(&x, v->value.enumerated);
    CS_ENSURE(ok == 1, CONSORT_E_MALFORMED,
              "SGX extension: %s is ASN.1 type %d, expected a small INTEGER", name,
              ASN1_TYPE_get(v));
    CS_ENSURE(x >= 0 && x <= max, CONSORT_E_MALFORMED, "SGX extension: %s = %lld, expected 0..%lld",
              name, (long long)x, (long long)max);
    *out = x;
    return CONSORT_OK;
}

/* One entry of the TCB SEQUENCE (.2.1 .. .2.18); `seen` tracks which were read. */
static consort_err tcb_entry(const ASN1_TYPE *entry, uint32_t *seen, cs_sgx_pck_ext *out)
{
    char oid[OID_TEXT_MAX];
    STACK_OF(ASN1_TYPE) *pair = NULL;
    const ASN1_TYPE *v = NULL;
    CS_TRY(entry_split(entry, "SGX extension TCB", oid, &pair, &v));
    long id = sub_id(oid, CS_SGX_EXT_OID ".2");
    consort_err rc = CONSORT_OK;
    int64_t x = 0;
    if (id < 1 || id > 18) {
        rc = cs_fail(CONSORT_E_MALFORMED, "SGX extension TCB: unexpected entry %s", oid);
    } else if (*seen & (1u << id)) {
        rc = cs_fail(CONSORT_E_MALFORMED, "SGX extension TCB: entry %s repeated", oid);
    } else if (id <= 16) {
        rc = integer(v, "TCB component SVN", UINT8_MAX, &x);
        out->tcb_comp[id - 1] = (uint8_t)x;
    } else if (id == 17) {
        rc = integer(v, "PCESVN", UINT16_MAX, &x);
        out->pcesvn = (uint16_t)x;
    } else {
        rc = octets(v, "CPUSVN", out->cpusvn, sizeof out->cpusvn);
    }
    if (id >= 1 && id <= 18)
        *seen |= 1u << id;
    items_free(pair);
    return rc;
}

static consort_err tcb_parse(const ASN1_TYPE *v, cs_sgx_pck_ext *out)
{
    CS_ENSURE(ASN1_TYPE_get(v) == V_ASN1_SEQUENCE, CONSORT_E_MALFORMED,
              "SGX extension: TCB is ASN.1 type %d, expected SEQUENCE", ASN1_TYPE_get(v));
    STACK_OF(ASN1_TYPE) *items = NULL;
    CS_TRY(seq_items(ASN1_STRING_get0_data(v->value.sequence),
                     ASN1_STRING_length(v->value.sequence), "SGX extension TCB", &items));
    uint32_t seen = 0;
    consort_err rc = CONSORT_OK;
    for (int i = 0; i < sk_ASN1_TYPE_num(items) && rc == CONSORT_OK; i++)
        rc = tcb_entry(sk_ASN1_TYPE_value(items, i), &seen, out);
    items_free(items);
    CS_TRY(rc);
    /* All 16 component SVNs, the PCESVN and the CPUSVN (bits 1..18). */
    CS_ENSURE(seen == 0x7fffeu, CONSORT_E_MALFORMED,
              "SGX extension TCB: entries missing (have mask 0x%05x, need 0x7fffe)", seen);
    return CONSORT_OK;
}

static consort_err top_entry(const ASN1_TYPE *entry, uint32_t *seen, cs_sgx_pck_ext *out)
{
    char oid[OID_TEXT_MAX];
    STACK_OF(ASN1_TYPE) *pair = NULL;
    const ASN1_TYPE *v = NULL;
    CS_TRY(entry_split(entry, "SGX extension", oid, &pair, &v));
    long id = sub_id(oid, CS_SGX_EXT_OID);
    consort_err rc = CONSORT_OK;
    int64_t x = 0;
    if (id < 0) {
        rc =
            cs_fail(CONSORT_E_MALFORMED, "SGX extension: entry %s outside %s", oid, CS_SGX_EXT_OID);
    } else if (id <= 5 && (*seen & (1u << id))) {
        rc = cs_fail(CONSORT_E_MALFORMED, "SGX extension: entry %s repeated", oid);
    } else if (id == 1) {
        rc = octets(v, "PPID", out->ppid, sizeof out->ppid);
    } else if (id == 2) {
        rc = tcb_parse(v, out);
    } else if (id == 3) {
        rc = octets(v, "PCE-ID", out->pceid, sizeof out->pceid);
    } else if (id == 4) {
        rc = octets(v, "FMSPC", out->fmspc, sizeof out->fmspc);
    } else if (id == 5) {
        rc = integer(v, "SGX Type", 2, &x);
        out->sgx_type = (int)x;
    }
    /* .6 PlatformInstanceID, .7 Configuration and later entries are skipped. */
    if (id >= 1 && id <= 5)
        *seen |= 1u << id;
    items_free(pair);
    return rc;
}

consort_err cs_asn1_sgx_parse(cs_slice der, cs_sgx_pck_ext *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(der.len > 0 && der.len <= 4096, CONSORT_E_MALFORMED,
              "SGX extension: %zu bytes, expected 1..4096", der.len);
    STACK_OF(ASN1_TYPE) *items = NULL;
    CS_TRY(seq_items(der.ptr, (int)der.len, "SGX extension", &items));
    uint32_t seen = 0;
    consort_err rc = CONSORT_OK;
    for (int i = 0; i < sk_ASN1_TYPE_num(items) && rc == CONSORT_OK; i++)
        rc = top_entry(sk_ASN1_TYPE_value(items, i), &seen, out);
    items_free(items);
    CS_TRY(rc);
    CS_ENSURE((seen & SEEN_ALL) == SEEN_ALL, CONSORT_E_MALFORMED,
              "SGX extension: required entries missing (PPID, TCB, PCE-ID, FMSPC, SGX Type; "
              "have mask 0x%02x)",
              seen);
    return CONSORT_OK;
}
