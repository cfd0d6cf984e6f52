/*
 * Egress bindings (gov_egress.c): the governance actions that bind an
 * egress service name to an address and a service certificate, and the
 * lookup outbound calls make (rpc_egress.c).
 */
#ifndef CS_NODE_GOV_EGRESS_H
#define CS_NODE_GOV_EGRESS_H

#include "crypto/x509.h"
#include "store/kv.h"

#include <jansson.h>

#define GOV_EGRESS_NAME_MAX 64

typedef struct gov_stage gov_stage;

/* set_egress_service {"name", "address": "host:port", "service_certificate": PEM} */
CS_MUST_CHECK consort_err gov_egress_set(gov_stage *st, json_t *args);
/* remove_egress_service {"name"}: NOT_FOUND if it is not bound. */
CS_MUST_CHECK consort_err gov_egress_remove(gov_stage *st, json_t *args);

typedef struct gov_egress_binding {
    char address[128];
    cs_x509 *service_cert;
} gov_egress_binding;

/* The binding of `name` in the state `tx` reads, as stored (JSON; valid
 * while `tx` is): NOT_FOUND if none. */
CS_MUST_CHECK consort_err gov_egress_get_raw(cs_kv_tx *tx, const char *name, cs_slice *value);
/* A stored binding parsed. Free with gov_egress_binding_cleanup (also after
 * a failure). CORRUPT if it is not one. */
CS_MUST_CHECK consort_err gov_egress_parse(const char *name, cs_slice value,
                                           gov_egress_binding *out);
void gov_egress_binding_cleanup(gov_egress_binding *b);

#endif
