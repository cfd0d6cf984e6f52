/*
 * The TCTI library of the tpm platform, loaded before the code id is
 * measured (code_id.h): tss2 loads it with dlopen() when it first connects
 * to the TPM and unloads it when it disconnects, so without this it would
 * appear after the measurement (and the node would refuse to attest,
 * code_id_maps.h) or come and go.
 */
#ifndef CS_ATTEST_TPM_TCTI_H
#define CS_ATTEST_TPM_TCTI_H

#include "base/buf.h"

/*
 * Loads, and keeps loaded for the life of the process, the library that
 * Tss2_TctiLdr_Initialize(tcti) loads, searched for as tpm2-tss does
 * (src/tss2-tcti/tctildr.c tctildr_conf_parse, tctildr-dl.c
 * handle_from_name): NAME is what precedes the first ':' of "NAME[:CONF]";
 * dlopen(NAME), else dlopen("libtss2-tcti-NAME.so.0"), else
 * dlopen("libtss2-tcti-NAME.so"), each RTLD_NOW (and RTLD_NODELETE here).
 * tss2's own dlopen() then finds the same object already loaded. `loaded`
 * (may be NULL, `loaded_len` bytes) receives the name that loaded.
 * Errors: INVALID_ARGUMENT for an empty NAME (tss2's default search depends
 * on which TPM answers, so no measurement could say in advance which
 * library it loads: name one, e.g. "device:/dev/tpmrm0"), NOT_FOUND when no
 * candidate loads (with the dynamic loader's reason).
 */
CS_MUST_CHECK consort_err cs_tpm_tcti_pin(const char *tcti, char *loaded, size_t loaded_len);

#endif
