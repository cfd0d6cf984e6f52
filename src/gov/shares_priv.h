/* Internal to the recovery share files (shares.c, shares_wire.c). */
#ifndef CS_GOV_SHARES_PRIV_H
#define CS_GOV_SHARES_PRIV_H

#include "gov/shares.h"

/* Appends the CS_GOV_SHARE_HEADER_LEN-byte header; `out` as it was on failure. */
CS_MUST_CHECK consort_err cs_gov_share_meta_encode(const cs_gov_share_meta *m, cs_buf *out);
/* Reads and validates a header from the cursor. */
CS_MUST_CHECK consort_err cs_gov_share_meta_read(cs_cursor *c, cs_gov_share_meta *m);
/* POLICY unless the header's service and epoch are `expect`'s. */
CS_MUST_CHECK consort_err cs_gov_share_binding_check(const cs_gov_share_meta *m,
                                                     const cs_gov_share_binding *expect);

#endif
