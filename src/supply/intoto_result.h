/*
 * What an in-toto verification concluded, for a caller to act on and a
 * person to read: which check failed (in the order in-toto 1.3.1's
 * in_toto_verify runs them), and the step, rule, artifact and key id it
 * failed on. The error code and consort_errmsg() carry the same finding as
 * a sentence.
 */
#ifndef CS_SUPPLY_INTOTO_RESULT_H
#define CS_SUPPLY_INTOTO_RESULT_H

#include <stddef.h>

typedef enum cs_intoto_check {
    CS_INTOTO_PASSED = 0,
    CS_INTOTO_CHECK_FORMAT,              /* a document or key does not parse (FormatError) */
    CS_INTOTO_CHECK_INSPECTION,          /* the layout has inspections: refused */
    CS_INTOTO_CHECK_LAYOUT_SIGNATURE,    /* verify_layout_signatures (SignatureVerificationError) */
    CS_INTOTO_CHECK_LAYOUT_EXPIRED,      /* verify_layout_expiration (LayoutExpiredError) */
    CS_INTOTO_CHECK_LINK_MISSING,        /* load_links_for_layout (LinkNotFoundError) */
    CS_INTOTO_CHECK_LINK_SIGNATURES,     /* verify_link_signature_thresholds
                                            (ThresholdVerificationError) */
    CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS, /* verify_threshold_constraints
                                            (ThresholdVerificationError) */
    CS_INTOTO_CHECK_RULE,                /* verify_all_item_rules (RuleVerificationError) */
} cs_intoto_check;

typedef struct cs_intoto_result {
    cs_intoto_check check;
    char step[257];     /* the step (or "" for layout-wide checks) */
    char rule[512];     /* the artifact rule, words joined by spaces */
    char artifact[512]; /* the first offending artifact path (sorted order) */
    char keyid[129];    /* the key whose signature was missing, bad or unauthorised */
    char detail[256];   /* why that key's link was not counted, and the like */
    size_t count;       /* links found / artifacts matched, as the check reports */
    size_t needed;      /* the threshold, for link checks */
} cs_intoto_result;

const char *cs_intoto_check_name(cs_intoto_check check);

#endif
