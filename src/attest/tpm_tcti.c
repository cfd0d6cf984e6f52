/* Keeping the TCTI library loaded (tpm_tcti.h). */
#include "attest/tpm_tcti.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

consort_err cs_tpm_tcti_pin(const char *tcti, char *loaded, size_t loaded_len)
{
    CS_ENSURE(tcti != NULL, CONSORT_E_INVALID_ARGUMENT, "TCTI: none configured");
    size_t name_len = strcspn(tcti, ":");
    CS_ENSURE(name_len > 0, CONSORT_E_INVALID_ARGUMENT,
              "TCTI '%s' names no TCTI library: tss2 would search its defaults, which depend on "
              "the TPM that answers, so the code id cannot cover the library in advance (name "
              "one, e.g. \"device:/dev/tpmrm0\" or \"swtpm:host=...,port=...\")",
              tcti);
    CS_ENSURE(name_len < PATH_MAX - 32, CONSORT_E_INVALID_ARGUMENT, "TCTI name too long");
    char name[PATH_MAX - 32];
    memcpy(name, tcti, name_len);
    name[name_len] = '\0';
    /* tctildr-dl.c handle_from_name: the name itself, then the two templates */
    char candidates[3][PATH_MAX];
    snprintf(candidates[0], sizeof candidates[0], "%s", name);
    snprintf(candidates[1], sizeof candidates[1], "libtss2-tcti-%s.so.0", name);
    snprintf(candidates[2], sizeof candidates[2], "libtss2-tcti-%s.so", name);
    char why[512] = "";
    for (size_t i = 0; i < CS_ARRAY_LEN(candidates); i++) {
        void *dl = dlopen(candidates[i], RTLD_NOW | RTLD_NODELETE);
        if (dl != NULL) {
            /* RTLD_NODELETE keeps it mapped; the handle itself is not needed */
            dlclose(dl);
            if (loaded != NULL && loaded_len > 0)
                snprintf(loaded, loaded_len, "%s", candidates[i]);
            return CONSORT_OK;
        }
        const char *e = dlerror();
        snprintf(why, sizeof why, "%s", e != NULL ? e : "unknown reason");
    }
    return cs_fail(CONSORT_E_NOT_FOUND,
                   "TCTI '%s': no library %s, libtss2-tcti-%s.so.0 or "
                   "libtss2-tcti-%s.so can be loaded (%s)",
                   name, name, name, name, why);
}
