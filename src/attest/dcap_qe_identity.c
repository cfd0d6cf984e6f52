/*
 * QE identity documents (dcap.h): the inner "enclaveIdentity" object of a
 * PCS QE identity response, and the match of a QE report against it.
 *
 * [PCS] Enclave Identity V2: id ("QE", "QVE", "TD_QE"), version 2,
 * issueDate, nextUpdate, tcbEvaluationDataNumber, miscselect and
 * miscselectMask (4 bytes hex), attributes and attributesMask (16 bytes
 * hex), mrsigner (32 bytes hex), isvprodid, and tcbLevels, each
 *   {"tcb": {"isvsvn": n}, "tcbDate": ..., "tcbStatus": ..., "advisoryIDs": [...]}.
 */
#include "attest/dcap_json.h"

#include "base/alloc.h"

#include <string.h>

static consort_err levels_parse(const json_t *obj, cs_dcap_qe_identity *q)
{
    return cs_dcap_json_svn_levels(obj, UINT16_MAX, &q->levels, &q->level_count);
}

static consort_err parse_obj(const json_t *obj, cs_dcap_qe_identity *q)
{
    uint64_t v;
    char issue[24];
    CS_TRY(cs_dcap_json_string(obj, "id", q->id, sizeof q->id));
    CS_TRY(cs_dcap_json_uint(obj, "version", UINT32_MAX, &v));
    CS_ENSURE(v == 2, CONSORT_E_UNSUPPORTED, "version %llu unsupported, expected 2",
              (unsigned long long)v);
    q->version = 2;
    CS_TRY(cs_dcap_json_time(obj, "issueDate", &q->issue_date, issue));
    CS_TRY(cs_dcap_json_time(obj, "nextUpdate", &q->next_update, q->next_update_text));
    CS_TRY(cs_dcap_json_uint(obj, "tcbEvaluationDataNumber", UINT32_MAX, &v));
    q->eval_number = (uint32_t)v;
    CS_TRY(cs_dcap_json_hex(obj, "miscselect", q->miscselect, sizeof q->miscselect));
    CS_TRY(cs_dcap_json_hex(obj, "miscselectMask", q->miscselect_mask, sizeof q->miscselect_mask));
    CS_TRY(cs_dcap_json_hex(obj, "attributes", q->attributes, sizeof q->attributes));
    CS_TRY(cs_dcap_json_hex(obj, "attributesMask", q->attributes_mask, sizeof q->attributes_mask));
    CS_TRY(cs_dcap_json_hex(obj, "mrsigner", q->mrsigner, sizeof q->mrsigner));
    CS_TRY(cs_dcap_json_uint(obj, "isvprodid", UINT16_MAX, &v));
    q->isvprodid = (uint16_t)v;
    return levels_parse(obj, q);
}

consort_err cs_dcap_qe_identity_parse(cs_slice body, cs_dcap_qe_identity *q)
{
    memset(q, 0, sizeof *q);
    q->signed_body = body;
    json_t *obj = NULL;
    CS_TRY_CTX(cs_dcap_json_parse(body, &obj), "QE identity");
    consort_err rc = parse_obj(obj, q);
    json_decref(obj);
    if (rc != CONSORT_OK) {
        cs_dcap_qe_identity_cleanup(q);
        return cs_err_context(rc, "QE identity");
    }
    return CONSORT_OK;
}

void cs_dcap_qe_identity_cleanup(cs_dcap_qe_identity *q)
{
    cs_free(q->levels);
    q->levels = NULL;
    q->level_count = 0;
}

/* (value & mask) == expected, byte by byte in memory order. */
static bool masked_equal(const uint8_t *value, const uint8_t *mask, const uint8_t *expected,
                         size_t n)
{
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)((value[i] & mask[i]) ^ expected[i]);
    return diff == 0;
}

consort_err cs_dcap_qe_identity_match(const cs_dcap_qe_identity *id, const cs_sgx_report *qe,
                                      const cs_dcap_svn_level **level)
{
    char hex[65];
    /* [QVL 4.1.2.9.5] MISCSELECT under miscselectMask. The report holds the
     * u32 little-endian and the identity's hex is in the same byte order, so
     * the bytes are compared in memory order. */
    if (!masked_equal(qe->miscselect, id->miscselect_mask, id->miscselect, 4)) {
        cs_hex_encode(CS_SLICE(qe->miscselect, 4), hex);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "QE report MISCSELECT %s does not match QE identity \"%s\" under its mask",
                       hex, id->id);
    }
    /* [QVL 4.1.2.9.6] ATTRIBUTES under attributesMask. */
    if (!masked_equal(qe->attributes, id->attributes_mask, id->attributes, 16)) {
        cs_hex_encode(CS_SLICE(qe->attributes, 16), hex);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "QE report ATTRIBUTES %s do not match QE identity \"%s\" under its mask",
                       hex, id->id);
    }
    /* [QVL 4.1.2.9.7] MRSIGNER. */
    if (memcmp(qe->mrsigner, id->mrsigner, 32) != 0) {
        cs_hex_encode(CS_SLICE(qe->mrsigner, 32), hex);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "QE report MRSIGNER %s is not the one QE identity \"%s\" names", hex,
                       id->id);
    }
    /* [QVL 4.1.2.9.8] ISVPRODID. */
    CS_ENSURE(qe->isvprodid == id->isvprodid, CONSORT_E_ATTESTATION,
              "QE report ISVPRODID %u, QE identity \"%s\" expects %u", qe->isvprodid, id->id,
              id->isvprodid);
    /* [QVL 4.1.2.9.9] The level with the highest isvsvn <= ISVSVN (PCS lists
     * them highest first; the choice here does not depend on that order). */
    const cs_dcap_svn_level *best = NULL;
    for (size_t i = 0; i < id->level_count; i++) {
        const cs_dcap_svn_level *l = &id->levels[i];
        if (qe->isvsvn >= l->isvsvn && (best == NULL || l->isvsvn > best->isvsvn))
            best = l;
    }
    *level = best;
    if (best != NULL)
        return CONSORT_OK;
    return cs_fail(CONSORT_E_TCB, "QE ISVSVN %u is below every level of QE identity \"%s\"",
                   qe->isvsvn, id->id);
}
