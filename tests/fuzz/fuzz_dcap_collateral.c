/*
 * libFuzzer target: Intel collateral as an untrusted host supplies it
 * (PCS-style signed JSON documents, CRLs, certificate chains). The first
 * byte picks the parser, the rest is its input:
 *   0: the signed-JSON split of a TCB info response, then the TCB info parser
 *   1: the same for a QE identity response
 *   2: sorting one blob by content (cs_dcap_collateral_load)
 * Seeds: the real TDX and SGX collateral of ../shared/testdata, prefixed.
 */
#include "attest/dcap.h"
#include "attest/dcap_collateral.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cs_slice in = CS_SLICE(data + 1, size - 1);
    cs_slice body;
    uint8_t sig[64];
    switch (data[0] % 3) {
    case 0: {
        cs_dcap_tcb_info t;
        if (cs_dcap_signed_json_split(in, "tcbInfo", &body, sig) == CONSORT_OK &&
            cs_dcap_tcb_info_parse(body, &t) == CONSORT_OK)
            cs_dcap_tcb_info_cleanup(&t);
        break;
    }
    case 1: {
        cs_dcap_qe_identity q;
        if (cs_dcap_signed_json_split(in, "enclaveIdentity", &body, sig) == CONSORT_OK &&
            cs_dcap_qe_identity_parse(body, &q) == CONSORT_OK)
            cs_dcap_qe_identity_cleanup(&q);
        break;
    }
    default: {
        static cs_dcap_collateral c; /* large: keep it off the stack */
        cs_blob_list blobs;
        cs_blob_list_init(&blobs);
        if (cs_blob_list_add(&blobs, in) == CONSORT_OK) {
            cs_dcap_collateral_init(&c);
            consort_err rc = cs_dcap_collateral_load(&c, &blobs);
            (void)rc; /* any outcome is fine: only crashes count */
            cs_dcap_collateral_cleanup(&c);
        }
        cs_blob_list_cleanup(&blobs);
        break;
    }
    }
    return 0;
}
