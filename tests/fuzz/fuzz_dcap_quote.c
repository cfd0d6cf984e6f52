/*
 * libFuzzer target: the DCAP quote parser (SGX v3, TDX v4/v5), and for
 * inputs that parse, the verification pipeline as far as it goes without
 * collateral (signatures, QE report, the embedded PCK chain and its SGX
 * extension). Seeds: the five real quotes of ../shared/testdata, cut to the
 * length their own fields give (corpus/dcap_quote/).
 */
#include "attest/dcap.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_slice in = CS_SLICE(data, size);
    cs_dcap_quote q;
    if (cs_dcap_quote_parse(in, &q) != CONSORT_OK)
        return 0;
    /* what the parser promises */
    if (q.len > size || q.signed_data.ptr != data || q.signed_data.len >= q.len ||
        q.qe_report.len != CS_DCAP_SGX_BODY_LEN || q.signature.len != CS_DCAP_ECDSA_SIG_LEN ||
        q.att_key.len != CS_DCAP_ATT_KEY_LEN || q.pck_chain.len == 0 ||
        q.pck_chain.ptr + q.pck_chain.len > data + q.len)
        abort();
    if ((q.body_type == CS_DCAP_BODY_SGX) != (q.tee_type == CS_DCAP_TEE_SGX))
        abort();
    cs_blob_list none;
    cs_blob_list_init(&none);
    cs_dcap_result r;
    /* 2025-06-20T00:00:00Z: inside the validity of the sample chains */
    consort_err rc = cs_dcap_verify(in, &none, q.tee_type, 1750377600, &r);
    if (rc == CONSORT_OK)
        abort(); /* without collateral a quote can never pass */
    return 0;
}
