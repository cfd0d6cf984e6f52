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

/* The binding of `name` in the state `tx` reads: NOT_FOUND if none. Free
 * with gov_egress_binding_cleanup (also after a failure). */
CS_MUST_CHECK consort_err gov_egress_get(cs_kv_tx *tx, const char *name, gov_egress_binding *out);
void gov_egress_binding_cleanup(gov_egress_binding *b);

#endif
