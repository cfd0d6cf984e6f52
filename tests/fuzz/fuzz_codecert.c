/*
 * libFuzzer target for code certificates (src/supply/codecert.h), the bytes
 * a member's add_code_id proposal carries: decoded and verified against the
 * issuer certificate they carry (cs_codecert_verify_self, what governance
 * does without a policy), then checked for claims as a policy would. Nothing
 * may crash, leak or read out of bounds; a failure must carry a message.
 * Seeds: corpus/codecert, certificates `consort code certify` wrote for the
 * honest chain of tests/unit/supply/vectors.
 */
#include "supply/codecert.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_say_why(consort_err rc)
{
    if (rc != CONSORT_OK && consort_errmsg()[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_err_clear();
    cs_codecert *c = calloc(1, sizeof *c);
    if (c == NULL)
        return 0;
    consort_err rc = cs_codecert_verify_self(CS_SLICE(data, size), c);
    must_say_why(rc);
    if (rc == CONSORT_OK) {
        static const char *const reqs[] = {"tested", "compliance=HIPAA", "reviewed_by=ab", "=",
                                           "x="};
        for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
            cs_err_clear();
            must_say_why(cs_codecert_require(c, reqs[i]));
        }
    }
    free(c);
    return 0;
}
