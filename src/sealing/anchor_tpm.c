/*
 * The TPM anchor (anchor.h): a TPM 2.0 NV counter index through tss2 ESYS.
 *
 * TPM 2.0 Part 1 §37 (NV Memory) on counters: an index of type
 * TPM_NT_COUNTER holds 8 bytes that only TPM2_NV_Increment changes; it is
 * not readable until first incremented (TPMA_NV_WRITTEN), and when defined
 * its first increment sets it to the highest value any counter of this TPM
 * held when it was deleted (the reference code's maxCounter, checked on
 * swtpm by tests/unit/sealing/test_anchor.c), so the host undefining and
 * defining it again never returns it to an older value. Part 3 §31.13 TPM2_NV_Increment, §31.14
 * TPM2_NV_Read (the value is big-endian, Part 2 "TPM_NT_COUNTER").
 *
 * Authorization: the index's own (empty) auth value with a password
 * session (AUTHREAD | AUTHWRITE), NO_DA so that no authorization failure
 * can lock it out. Defining it needs the owner hierarchy's authorization,
 * empty as on the platform's other TPM uses (tpm_seal.h).
 */
#include "sealing/anchor.h"

#include "base/alloc.h"

#include <stdio.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define OWNER_FIRST 0x01000000u
#define OWNER_LAST  0x013FFFFFu
/* The attributes we define and insist on (WRITTEN and the other state bits
 * the TPM sets are masked off when comparing). */
#define COUNTER_ATTRS                                                                              \
    ((TPMA_NV)((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE | \
               TPMA_NV_NO_DA))
#define STATE_BITS ((TPMA_NV)(TPMA_NV_WRITTEN | TPMA_NV_READLOCKED | TPMA_NV_WRITELOCKED))

typedef struct tpm_anchor {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR nv;
    uint32_t index;
    char name[48];
} tpm_anchor;

static consort_err tpm_fail(TSS2_RC rc, const char *what)
{
    return cs_fail(CONSORT_E_IO, "TPM %s: %s (0x%08x)", what, Tss2_RC_Decode(rc), rc);
}

static void tpm_free(void *ctx)
{
    tpm_anchor *t = ctx;
    if (t == NULL)
        return;
    if (t->esys != NULL)
        Esys_Finalize(&t->esys);
    if (t->tcti != NULL)
        Tss2_TctiLdr_Finalize(&t->tcti);
    cs_free(t);
}

static consort_err tpm_read(void *ctx, uint64_t *value)
{
    tpm_anchor *t = ctx;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    TSS2_RC rc = Esys_NV_Read(t->esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                              8, 0, &data);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "NV_Read");
    consort_err err = CONSORT_OK;
    if (data->size != 8) {
        err = cs_fail(CONSORT_E_IO, "TPM NV_Read: %u bytes, expected 8", data->size);
    } else {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | data->buffer[i];
        *value = v;
    }
    Esys_Free(data);
    return err;
}

static consort_err tpm_increment(void *ctx, uint64_t *value)
{
    tpm_anchor *t = ctx;
    TSS2_RC rc =
        Esys_NV_Increment(t->esys, t->nv, t->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "NV_Increment");
    return tpm_read(ctx, value);
}

static const char *tpm_name(void *ctx)
{
    return ((tpm_anchor *)ctx)->name;
}

static bool tpm_secure(void *ctx)
{
    (void)ctx;
    return true;
}

static const cs_anchor_ops tpm_ops = {
    .read = tpm_read,
    .increment = tpm_increment,
    .name = tpm_name,
    .secure = tpm_secure,
    .free = tpm_free,
};

static consort_err connect(tpm_anchor *t, const char *tcti)
{
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return cs_fail(CONSORT_E_IO, "TPM: cannot open TCTI '%s': %s",
                       tcti != NULL ? tcti : "(default)", Tss2_RC_Decode(rc));
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "Esys_Initialize");
    /* Part 3 §9.3: TPM_RC_INITIALIZE if the TPM was already started */
    rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xffff) != TPM2_RC_INITIALIZE)
        return tpm_fail(rc, "Startup");
    return CONSORT_OK;
}

/* Defines the counter index; the caller increments it once. */
static consort_err define_counter(tpm_anchor *t)
{
    TPM2B_AUTH auth;
    memset(&auth, 0, sizeof auth);
    TPM2B_NV_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.nvPublic.nvIndex = t->index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = COUNTER_ATTRS;
    pub.nvPublic.dataSize = 8;
    TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, &auth, &pub, &t->nv);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "NV_DefineSpace (owner hierarchy; is an owner password set?)");
    return CONSORT_OK;
}

/* Looks the index up; *found false if it is not defined. Refuses an index
 * that is not our kind of counter. *written: it was incremented before. */
static consort_err find_counter(tpm_anchor *t, bool *found, bool *written)
{
    *found = false;
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(t->esys, t->index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->nv);
    /* an undefined index: TPM_RC_HANDLE (a format-one code, Part 2 §6.6.3)
     * for handle 1 of NV_ReadPublic, from the TPM's own layer */
    if ((rc & ~(TSS2_RC)0xfff) == 0 && (rc & TPM2_RC_FMT1) != 0 &&
        (rc & 0x3f) == (TPM2_RC_HANDLE & 0x3f))
        return CONSORT_OK;
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "NV_ReadPublic");
    *found = true;
    TPM2B_NV_PUBLIC *pub = NULL;
    rc = Esys_NV_ReadPublic(t->esys, t->nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "NV_ReadPublic");
    TPMA_NV attrs = pub->nvPublic.attributes;
    uint16_t size = pub->nvPublic.dataSize;
    Esys_Free(pub);
    *written = (attrs & TPMA_NV_WRITTEN) != 0;
    CS_ENSURE((attrs & ~STATE_BITS) == COUNTER_ATTRS && size == 8, CONSORT_E_POLICY,
              "TPM NV index 0x%08x exists with attributes 0x%08x and %u bytes, expected a "
              "counter with 0x%08x and 8 bytes (it is not a consort anchor: choose another "
              "index or undefine it)",
              t->index, (unsigned)(attrs & ~STATE_BITS), size, (unsigned)COUNTER_ATTRS);
    return CONSORT_OK;
}

static consort_err tpm_setup(tpm_anchor *t, const char *tcti)
{
    CS_TRY(connect(t, tcti));
    bool found = false, written = false;
    CS_TRY(find_counter(t, &found, &written));
    if (!found)
        CS_TRY(define_counter(t));
    if (!written) {
        uint64_t v;
        CS_TRY(tpm_increment(t, &v));
    }
    return CONSORT_OK;
}

consort_err cs_anchor_tpm_open(const char *tcti, uint32_t nv_index, cs_anchor **out)
{
    *out = NULL;
    CS_ENSURE(nv_index >= OWNER_FIRST && nv_index <= OWNER_LAST, CONSORT_E_INVALID_ARGUMENT,
              "TPM anchor: NV index 0x%08x outside the owner range 0x%08x-0x%08x", nv_index,
              OWNER_FIRST, OWNER_LAST);
    tpm_anchor *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "TPM anchor: out of memory");
    t->index = nv_index;
    t->nv = ESYS_TR_NONE;
    snprintf(t->name, sizeof t->name, "tpm nv 0x%08x", nv_index);
    consort_err rc = tpm_setup(t, tcti);
    if (rc != CONSORT_OK) {
        tpm_free(t);
        return cs_err_context(rc, "TPM anchor 0x%08x", nv_index);
    }
    return cs_anchor_from_ops(&tpm_ops, t, out);
}
