/*
 * libFuzzer target: the attested-channel hello, the first bytes a peer
 * sends after the TLS handshake and before it is trusted at all
 * (src/net/attested.h). If the hello decodes, its evidence envelope is
 * decoded too, as the receiver does next. Seeds: genuine hellos.
 */
#include "attest/evidence.h"
#include "net/attested.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_attested_hello h;
    if (cs_attested_hello_decode(CS_SLICE(data, size), &h) != CONSORT_OK)
        return 0;
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc = cs_evidence_decode(h.evidence, &ev);
    (void)rc; /* any outcome is fine: only crashes count */
    cs_evidence_cleanup(&ev);
    return 0;
}
