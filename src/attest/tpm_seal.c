/*
 * Keys derived inside a TPM (tpm_seal.h), through tss2 ESYS over a TCTI.
 *
 * Flow of cs_tpm_derive_key: Tss2_TctiLdr_Initialize -> Esys_Initialize ->
 * Startup (tolerated if the TPM already ran it) -> CreatePrimary of the HMAC
 * key in the owner hierarchy -> HMAC -> FlushContext -> disconnect. Each call
 * is self-contained: nothing stays loaded in the TPM and no handle outlives it.
 *
 * ESYS allocates outputs with the C library; the HMAC output is wiped before
 * Esys_Free, and so is every local copy of the derived key on failure.
 */
#include "attest/tpm_seal.h"

#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

/* Part of the template: another value gives another key from the same seed
 * (the TPM derives a primary object's secret from the seed and its template). */
#define DERIVE_UNIQUE "consort tpm key derivation v1"
/* Part 2, TPM_HT_TRANSIENT (0x80) in the handle's top byte. tss2's
 * TPM2_TRANSIENT_FIRST shifts a signed int into the sign bit (UBSan). */
#define TRANSIENT_FIRST 0x80000000u

typedef struct tpm_conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
} tpm_conn;

static consort_err tpm_fail(TSS2_RC rc, const char *what)
{
    return cs_fail(CONSORT_E_IO, "TPM %s: %s (0x%08x)", what, Tss2_RC_Decode(rc), rc);
}

static void conn_close(tpm_conn *c)
{
    if (c->esys != NULL)
        Esys_Finalize(&c->esys);
    if (c->tcti != NULL)
        Tss2_TctiLdr_Finalize(&c->tcti);
}

static consort_err conn_open(const char *tcti, tpm_conn *c)
{
    memset(c, 0, sizeof *c);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &c->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return cs_fail(CONSORT_E_IO, "TPM: cannot open TCTI '%s': %s",
                       tcti != NULL ? tcti : "(default)", Tss2_RC_Decode(rc));
    rc = Esys_Initialize(&c->esys, c->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        conn_close(c);
        return cs_fail(CONSORT_E_IO, "TPM: Esys_Initialize: %s", Tss2_RC_Decode(rc));
    }
    /* Part 3, TPM2_Startup: TPM_RC_INITIALIZE if the TPM was already started. */
    rc = Esys_Startup(c->esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xffff) != TPM2_RC_INITIALIZE) {
        consort_err err = tpm_fail(rc, "Startup");
        conn_close(c);
        return err;
    }
    return CONSORT_OK;
}

/* An unrestricted HMAC-SHA256 signing key: TPM2_HMAC requires a KEYEDHASH
 * object with the sign attribute that is not restricted (Part 3 §15.5,
 * TPM_RC_ATTRIBUTES / TPM_RC_TYPE otherwise). fixedTPM: never duplicated. */
static void hmac_template(TPM2B_PUBLIC *pub)
{
    memset(pub, 0, sizeof *pub);
    TPMT_PUBLIC *p = &pub->publicArea;
    p->type = TPM2_ALG_KEYEDHASH;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                          TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH;
    p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
    p->parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA256;
    p->unique.keyedHash.size = (UINT16)(sizeof DERIVE_UNIQUE - 1);
    memcpy(p->unique.keyedHash.buffer, DERIVE_UNIQUE, sizeof DERIVE_UNIQUE - 1);
}

static consort_err create_hmac_key(tpm_conn *c, ESYS_TR *key)
{
    TPM2B_SENSITIVE_CREATE sensitive;
    TPM2B_PUBLIC in_public;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    memset(&sensitive, 0, sizeof sensitive);
    memset(&outside, 0, sizeof outside);
    memset(&creation_pcr, 0, sizeof creation_pcr);
    hmac_template(&in_public);
    TPM2B_PUBLIC *out_public = NULL;
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    TSS2_RC rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &sensitive, &in_public, &outside, &creation_pcr,
                                    key, &out_public, &creation_data, &creation_hash, &ticket);
    Esys_Free(out_public);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "CreatePrimary (HMAC key in the owner hierarchy; is an owner "
                            "password set?)");
    return CONSORT_OK;
}

static consort_err hmac_with(tpm_conn *c, ESYS_TR key, const TPM2B_MAX_BUFFER *in,
                             uint8_t out[CS_TPM_DERIVED_KEY_LEN])
{
    TPM2B_DIGEST *mac = NULL;
    /* TPM_ALG_NULL: the hash of the key's own scheme (SHA-256). */
    TSS2_RC rc = Esys_HMAC(c->esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, in,
                           TPM2_ALG_NULL, &mac);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "HMAC");
    consort_err err = CONSORT_OK;
    if (mac->size != CS_TPM_DERIVED_KEY_LEN)
        err = cs_fail(CONSORT_E_IO, "TPM HMAC: %u bytes, expected %d (SHA-256)", mac->size,
                      CS_TPM_DERIVED_KEY_LEN);
    else
        memcpy(out, mac->buffer, CS_TPM_DERIVED_KEY_LEN);
    cs_wipe(mac, sizeof *mac);
    Esys_Free(mac);
    return err;
}

consort_err cs_tpm_derive_key(const char *tcti, cs_slice label, cs_slice context,
                              uint8_t out[CS_TPM_DERIVED_KEY_LEN])
{
    cs_wipe(out, CS_TPM_DERIVED_KEY_LEN); /* zeros unless it succeeds */
    CS_ENSURE(label.len <= CS_TPM_DERIVE_INPUT_MAX &&
                  context.len <= CS_TPM_DERIVE_INPUT_MAX - label.len,
              CONSORT_E_INVALID_ARGUMENT,
              "TPM key derivation: %zu + %zu input bytes, at most %d (TPM2B_MAX_BUFFER)", label.len,
              context.len, CS_TPM_DERIVE_INPUT_MAX);
    TPM2B_MAX_BUFFER in;
    memset(&in, 0, sizeof in);
    if (label.len > 0)
        memcpy(in.buffer, label.ptr, label.len);
    if (context.len > 0)
        memcpy(in.buffer + label.len, context.ptr, context.len);
    in.size = (UINT16)(label.len + context.len);

    tpm_conn c;
    CS_TRY_CTX(conn_open(tcti, &c), "TPM key derivation");
    ESYS_TR key = ESYS_TR_NONE;
    consort_err err = create_hmac_key(&c, &key);
    if (err == CONSORT_OK)
        err = hmac_with(&c, key, &in, out);
    if (key != ESYS_TR_NONE) {
        TSS2_RC rc = Esys_FlushContext(c.esys, key);
        if (err == CONSORT_OK && rc != TSS2_RC_SUCCESS)
            err = tpm_fail(rc, "FlushContext of the HMAC key");
    }
    conn_close(&c);
    if (err != CONSORT_OK) {
        cs_wipe(out, CS_TPM_DERIVED_KEY_LEN);
        return cs_err_context(err, "TPM key derivation");
    }
    return CONSORT_OK;
}

/* Flushes the transient objects listed from `first` on; *more says whether the
 * TPM had more handles than fit one answer. */
static consort_err flush_batch(tpm_conn *c, size_t *flushed, bool *more)
{
    TPMI_YES_NO more_data = TPM2_NO;
    TPMS_CAPABILITY_DATA *data = NULL;
    TSS2_RC rc =
        Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           TRANSIENT_FIRST, TPM2_MAX_CAP_HANDLES, &more_data, &data);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "GetCapability (transient handles)");
    consort_err err = CONSORT_OK;
    const TPML_HANDLE *handles = &data->data.handles;
    for (UINT32 i = 0; i < handles->count && err == CONSORT_OK; i++) {
        ESYS_TR tr = ESYS_TR_NONE;
        rc = Esys_TR_FromTPMPublic(c->esys, handles->handle[i], ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &tr);
        if (rc == TSS2_RC_SUCCESS)
            rc = Esys_FlushContext(c->esys, tr);
        if (rc != TSS2_RC_SUCCESS)
            err = tpm_fail(rc, "FlushContext of a stale transient object");
        else
            (*flushed)++;
    }
    /* Flushing moved nothing we have not seen: ask again only if the answer was cut. */
    *more = err == CONSORT_OK && more_data == TPM2_YES && handles->count > 0;
    Esys_Free(data);
    return err;
}

consort_err cs_tpm_flush_transients(const char *tcti, size_t *flushed)
{
    size_t count = 0;
    tpm_conn c;
    CS_TRY_CTX(conn_open(tcti, &c), "TPM flush");
    consort_err err = CONSORT_OK;
    bool more = true;
    /* TPM2_MAX_CAP_HANDLES per answer; a TPM holds a handful of transient objects. */
    for (int round = 0; round < 8 && more && err == CONSORT_OK; round++)
        err = flush_batch(&c, &count, &more);
    conn_close(&c);
    if (flushed != NULL)
        *flushed = count;
    return err == CONSORT_OK ? CONSORT_OK : cs_err_context(err, "TPM flush");
}
