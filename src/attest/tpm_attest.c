/*
 * Pure TPM 2.0 structures (tpm.h): TPMS_ATTEST quotes, TPMT_SIGNATURE,
 * TPMT_PUBLIC and PCR digests. Unmarshalling is done by tss2-mu (a
 * maintained implementation of the TPM 2.0 Part 2 wire format); this file
 * adds what the wire format alone does not say: the offset consumed must be
 * the whole input, the magic and type must be those of a quote, and only the
 * banks, schemes and sizes consort verifies are accepted.
 */
#include "attest/tpm.h"

#include "crypto/rand.h"

#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

static consort_err mu_fail(TSS2_RC rc, const char *what)
{
    consort_err code =
        rc == TSS2_MU_RC_INSUFFICIENT_BUFFER ? CONSORT_E_TRUNCATED : CONSORT_E_MALFORMED;
    return cs_fail(code, "%s: %s", what, Tss2_RC_Decode(rc));
}

static consort_err expect_consumed(size_t off, size_t len, const char *what)
{
    CS_ENSURE(off == len, CONSORT_E_TRAILING_DATA, "%s: %zu trailing bytes after %zu", what,
              len - off, off);
    return CONSORT_OK;
}

size_t cs_tpm_bank_digest_len(uint16_t hash_alg)
{
    switch (hash_alg) {
    case CS_TPM_ALG_SHA1:
        return 20;
    case CS_TPM_ALG_SHA256:
        return 32;
    case CS_TPM_ALG_SHA384:
        return 48;
    case CS_TPM_ALG_SHA512:
        return 64;
    }
    return 0;
}

const char *cs_tpm_alg_name(uint16_t alg)
{
    switch (alg) {
    case CS_TPM_ALG_SHA1:
        return "sha1";
    case CS_TPM_ALG_SHA256:
        return "sha256";
    case CS_TPM_ALG_SHA384:
        return "sha384";
    case CS_TPM_ALG_SHA512:
        return "sha512";
    case CS_TPM_ALG_RSASSA:
        return "rsassa";
    case CS_TPM_ALG_RSAPSS:
        return "rsapss";
    case CS_TPM_ALG_ECDSA:
        return "ecdsa";
    }
    return "unknown";
}

/* The hash of a signing scheme; SHA-1 is refused for signatures. */
static consort_err sig_hash(uint16_t tpm_alg, cs_hash_alg *out)
{
    switch (tpm_alg) {
    case CS_TPM_ALG_SHA256:
        *out = CS_HASH_SHA256;
        return CONSORT_OK;
    case CS_TPM_ALG_SHA384:
        *out = CS_HASH_SHA384;
        return CONSORT_OK;
    case CS_TPM_ALG_SHA512:
        *out = CS_HASH_SHA512;
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_UNSUPPORTED,
                   "TPM signature hash 0x%04x (%s) unsupported, expected SHA-256/384/512", tpm_alg,
                   cs_tpm_alg_name(tpm_alg));
}

/* TPML_PCR_SELECTION (Part 2, "TPML_PCR_SELECTION"): known banks, PCR 0..23, no bank twice. */
static consort_err parse_selection(const TPML_PCR_SELECTION *sel, cs_tpm_quote *out)
{
    CS_ENSURE(sel->count <= CS_TPM_MAX_BANKS, CONSORT_E_TOO_LARGE,
              "quote: %u PCR selections, at most %d accepted", sel->count, CS_TPM_MAX_BANKS);
    for (uint32_t i = 0; i < sel->count; i++) {
        const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
        CS_ENSURE(cs_tpm_bank_digest_len(s->hash) != 0, CONSORT_E_UNSUPPORTED,
                  "quote: PCR bank 0x%04x unsupported", s->hash);
        uint32_t bits = 0;
        for (unsigned b = 0; b < s->sizeofSelect; b++)
            bits |= (uint32_t)s->pcrSelect[b] << (8 * b);
        CS_ENSURE(bits >> CS_TPM_PCR_COUNT == 0, CONSORT_E_MALFORMED,
                  "quote: %s selection 0x%08x names PCRs above %d", cs_tpm_alg_name(s->hash), bits,
                  CS_TPM_PCR_COUNT - 1);
        for (uint32_t j = 0; j < i; j++)
            CS_ENSURE(out->banks[j].hash_alg != s->hash, CONSORT_E_MALFORMED,
                      "quote: PCR bank %s selected twice", cs_tpm_alg_name(s->hash));
        out->banks[i] = (cs_tpm_pcr_selection){.hash_alg = s->hash, .pcrs = bits};
    }
    out->bank_count = sel->count;
    return CONSORT_OK;
}

consort_err cs_tpm_quote_parse(cs_slice in, cs_tpm_quote *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(in.len <= CS_TPM_ATTEST_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "quote: TPMS_ATTEST of %zu bytes, at most %d accepted", in.len,
              CS_TPM_ATTEST_MAX_BYTES);
    /* Part 2, TPMS_ATTEST: magic (TPM_GENERATED) then type (TPMI_ST_ATTEST). Checked first
     * so that a non-quote gets a precise message. */
    cs_cursor c;
    cs_cursor_init(&c, in);
    uint32_t magic;
    uint16_t type;
    CS_TRY_CTX(cs_cursor_read_be32(&c, &magic), "quote: magic");
    CS_TRY_CTX(cs_cursor_read_be16(&c, &type), "quote: type");
    CS_ENSURE(magic == CS_TPM_GENERATED_VALUE, CONSORT_E_MALFORMED,
              "quote: magic 0x%08x, expected TPM_GENERATED_VALUE 0x%08x", magic,
              CS_TPM_GENERATED_VALUE);
    CS_ENSURE(type == CS_TPM_ST_ATTEST_QUOTE, CONSORT_E_MALFORMED,
              "quote: type 0x%04x, expected TPM_ST_ATTEST_QUOTE 0x%04x", type,
              CS_TPM_ST_ATTEST_QUOTE);

    TPMS_ATTEST a;
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(in.ptr, in.len, &off, &a);
    if (rc != TSS2_RC_SUCCESS)
        return mu_fail(rc, "quote: TPMS_ATTEST");
    CS_TRY(expect_consumed(off, in.len, "quote: TPMS_ATTEST"));

    CS_ENSURE(a.qualifiedSigner.size <= sizeof out->qualified_signer &&
                  a.extraData.size <= sizeof out->extra_data,
              CONSORT_E_MALFORMED, "quote: qualifiedSigner (%u) or extraData (%u) too long",
              a.qualifiedSigner.size, a.extraData.size);
    memcpy(out->qualified_signer, a.qualifiedSigner.name, a.qualifiedSigner.size);
    out->qualified_signer_len = a.qualifiedSigner.size;
    memcpy(out->extra_data, a.extraData.buffer, a.extraData.size);
    out->extra_data_len = a.extraData.size;

    /* Part 2, TPMS_CLOCK_INFO: safe is a TPMI_YES_NO (0 or 1). */
    CS_ENSURE(a.clockInfo.safe <= 1, CONSORT_E_MALFORMED, "quote: clockInfo.safe is %u",
              a.clockInfo.safe);
    out->clock = a.clockInfo.clock;
    out->reset_count = a.clockInfo.resetCount;
    out->restart_count = a.clockInfo.restartCount;
    out->safe = a.clockInfo.safe == 1;
    out->firmware_version = a.firmwareVersion;

    const TPMS_QUOTE_INFO *qi = &a.attested.quote;
    CS_TRY(parse_selection(&qi->pcrSelect, out));
    CS_ENSURE(qi->pcrDigest.size > 0 && qi->pcrDigest.size <= sizeof out->pcr_digest,
              CONSORT_E_MALFORMED, "quote: pcrDigest of %u bytes", qi->pcrDigest.size);
    memcpy(out->pcr_digest, qi->pcrDigest.buffer, qi->pcrDigest.size);
    out->pcr_digest_len = qi->pcrDigest.size;
    return CONSORT_OK;
}

consort_err cs_tpm_signature_parse(cs_slice in, cs_tpm_signature *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(in.len <= CS_TPM_SIGNATURE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "TPMT_SIGNATURE of %zu bytes, at most %d accepted", in.len,
              CS_TPM_SIGNATURE_MAX_BYTES);
    CS_ENSURE(in.len > 0, CONSORT_E_TRUNCATED, "TPMT_SIGNATURE is empty");
    TPMT_SIGNATURE s;
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(in.ptr, in.len, &off, &s);
    if (rc != TSS2_RC_SUCCESS)
        return mu_fail(rc, "TPMT_SIGNATURE");
    CS_TRY(expect_consumed(off, in.len, "TPMT_SIGNATURE"));

    out->sig_alg = s.sigAlg;
    cs_hash_alg h;
    switch (s.sigAlg) {
    case CS_TPM_ALG_RSASSA:
    case CS_TPM_ALG_RSAPSS: {
        const TPMS_SIGNATURE_RSA *r =
            s.sigAlg == CS_TPM_ALG_RSASSA ? &s.signature.rsassa : &s.signature.rsapss;
        return cs_tpm_signature_from_rsa(s.sigAlg, r->hash, CS_SLICE(r->sig.buffer, r->sig.size),
                                         out);
    }
    case CS_TPM_ALG_ECDSA: {
        const TPMS_SIGNATURE_ECC *e = &s.signature.ecdsa;
        CS_TRY(sig_hash(e->hash, &h));
        CS_ENSURE(e->signatureR.size <= sizeof out->ecdsa_r &&
                      e->signatureS.size <= sizeof out->ecdsa_s,
                  CONSORT_E_MALFORMED, "TPMT_SIGNATURE: ECDSA r (%u) or s (%u) too long",
                  e->signatureR.size, e->signatureS.size);
        out->hash_alg = e->hash;
        memcpy(out->ecdsa_r, e->signatureR.buffer, e->signatureR.size);
        out->ecdsa_r_len = e->signatureR.size;
        memcpy(out->ecdsa_s, e->signatureS.buffer, e->signatureS.size);
        out->ecdsa_s_len = e->signatureS.size;
        return CONSORT_OK;
    }
    }
    return cs_fail(CONSORT_E_UNSUPPORTED,
                   "TPMT_SIGNATURE: scheme 0x%04x unsupported, expected RSASSA, RSAPSS or ECDSA",
                   s.sigAlg);
}

consort_err cs_tpm_signature_from_rsa(uint16_t sig_alg, uint16_t hash_alg, cs_slice rsa_sig,
                                      cs_tpm_signature *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(sig_alg == CS_TPM_ALG_RSASSA || sig_alg == CS_TPM_ALG_RSAPSS, CONSORT_E_UNSUPPORTED,
              "TPM RSA signature: scheme 0x%04x unsupported", sig_alg);
    cs_hash_alg h;
    CS_TRY(sig_hash(hash_alg, &h));
    CS_ENSURE(rsa_sig.len > 0 && rsa_sig.len <= sizeof out->rsa, CONSORT_E_MALFORMED,
              "TPM RSA signature of %zu bytes", rsa_sig.len);
    out->sig_alg = sig_alg;
    out->hash_alg = hash_alg;
    memcpy(out->rsa, rsa_sig.ptr, rsa_sig.len);
    out->rsa_len = rsa_sig.len;
    return CONSORT_OK;
}

consort_err cs_tpm_signature_marshal(const cs_tpm_signature *sig, cs_buf *out)
{
    TPMT_SIGNATURE s;
    memset(&s, 0, sizeof s);
    s.sigAlg = sig->sig_alg;
    if (sig->sig_alg == CS_TPM_ALG_ECDSA) {
        CS_ENSURE(sig->ecdsa_r_len <= sizeof s.signature.ecdsa.signatureR.buffer &&
                      sig->ecdsa_s_len <= sizeof s.signature.ecdsa.signatureS.buffer,
                  CONSORT_E_INVALID_ARGUMENT, "TPMT_SIGNATURE: ECDSA r or s too long");
        s.signature.ecdsa.hash = sig->hash_alg;
        s.signature.ecdsa.signatureR.size = (UINT16)sig->ecdsa_r_len;
        memcpy(s.signature.ecdsa.signatureR.buffer, sig->ecdsa_r, sig->ecdsa_r_len);
        s.signature.ecdsa.signatureS.size = (UINT16)sig->ecdsa_s_len;
        memcpy(s.signature.ecdsa.signatureS.buffer, sig->ecdsa_s, sig->ecdsa_s_len);
    } else {
        TPMS_SIGNATURE_RSA *r =
            sig->sig_alg == CS_TPM_ALG_RSASSA ? &s.signature.rsassa : &s.signature.rsapss;
        CS_ENSURE(sig->rsa_len <= sizeof r->sig.buffer, CONSORT_E_INVALID_ARGUMENT,
                  "TPMT_SIGNATURE: RSA signature too long");
        r->hash = sig->hash_alg;
        r->sig.size = (UINT16)sig->rsa_len;
        memcpy(r->sig.buffer, sig->rsa, sig->rsa_len);
    }
    uint8_t tmp[CS_TPM_SIGNATURE_MAX_BYTES];
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&s, tmp, sizeof tmp, &off);
    CS_ENSURE(rc == TSS2_RC_SUCCESS, CONSORT_E_INVALID_ARGUMENT, "TPMT_SIGNATURE: %s",
              Tss2_RC_Decode(rc));
    return cs_buf_append(out, tmp, off);
}

consort_err cs_tpm_signature_verify(const cs_tpm_signature *sig, const cs_key *ak, cs_slice attest)
{
    cs_hash_alg h;
    CS_TRY(sig_hash(sig->hash_alg, &h));
    switch (sig->sig_alg) {
    case CS_TPM_ALG_RSASSA:
        return cs_sig_verify(ak, CS_SIG_RSA_PKCS1, h, attest, CS_SLICE(sig->rsa, sig->rsa_len));
    case CS_TPM_ALG_RSAPSS:
        return cs_sig_verify(ak, CS_SIG_RSA_PSS, h, attest, CS_SLICE(sig->rsa, sig->rsa_len));
    case CS_TPM_ALG_ECDSA:
        break;
    default:
        return cs_fail(CONSORT_E_UNSUPPORTED, "TPM signature scheme 0x%04x unsupported",
                       sig->sig_alg);
    }
    /* Part 2, TPMS_SIGNATURE_ECC: r and s are TPM2B_ECC_PARAMETERs; as raw r || s each
     * is left-padded to the curve's field size. */
    size_t field = cs_curve_field_len(cs_key_curve(ak));
    CS_ENSURE(field != 0, CONSORT_E_INVALID_ARGUMENT, "ECDSA quote signature but AK is %s",
              cs_key_type_name(ak));
    CS_ENSURE(sig->ecdsa_r_len <= field && sig->ecdsa_s_len <= field, CONSORT_E_BAD_SIGNATURE,
              "ECDSA quote signature: r (%zu) or s (%zu) longer than the %s field",
              sig->ecdsa_r_len, sig->ecdsa_s_len, cs_curve_name(cs_key_curve(ak)));
    uint8_t raw[2 * 66] = {0};
    memcpy(raw + field - sig->ecdsa_r_len, sig->ecdsa_r, sig->ecdsa_r_len);
    memcpy(raw + 2 * field - sig->ecdsa_s_len, sig->ecdsa_s, sig->ecdsa_s_len);
    return cs_sig_verify(ak, CS_SIG_ECDSA, h, attest, CS_SLICE(raw, 2 * field));
}

size_t cs_tpm_quote_pcr_count(const cs_tpm_quote *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->bank_count; i++)
        n += (size_t)__builtin_popcount(q->banks[i].pcrs);
    return n;
}

consort_err cs_tpm_quote_pcr_position(const cs_tpm_quote *q, uint16_t hash_alg, unsigned pcr,
                                      size_t *pos)
{
    size_t n = 0;
    for (size_t i = 0; i < q->bank_count; i++) {
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT; p++) {
            if (((q->banks[i].pcrs >> p) & 1) == 0)
                continue;
            if (q->banks[i].hash_alg == hash_alg && p == pcr) {
                *pos = n;
                return CONSORT_OK;
            }
            n++;
        }
    }
    return cs_fail(CONSORT_E_NOT_FOUND, "quote does not cover PCR %s:%u", cs_tpm_alg_name(hash_alg),
                   pcr);
}

consort_err cs_tpm_quote_check_pcrs(const cs_tpm_quote *q, uint16_t sig_hash_alg,
                                    const cs_slice *values, size_t count)
{
    cs_hash_alg h;
    CS_TRY(sig_hash(sig_hash_alg, &h));
    size_t want = cs_tpm_quote_pcr_count(q);
    CS_ENSURE(count == want, CONSORT_E_MALFORMED,
              "quote: %zu PCR values given for a selection of %zu PCRs", count, want);
    cs_hash_ctx ctx;
    CS_TRY(cs_hash_init(&ctx, h));
    /* Part 3 §18.4 TPM2_Quote: pcrDigest is the digest, with the signing scheme's hash,
     * of the selected PCRs: each selection in list order, PCR indices ascending. */
    size_t n = 0;
    for (size_t i = 0; i < q->bank_count; i++) {
        size_t dlen = cs_tpm_bank_digest_len(q->banks[i].hash_alg);
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT; p++) {
            if (((q->banks[i].pcrs >> p) & 1) == 0)
                continue;
            CS_ENSURE(values[n].len == dlen, CONSORT_E_MALFORMED,
                      "quote: PCR %s:%u value of %zu bytes, expected %zu",
                      cs_tpm_alg_name(q->banks[i].hash_alg), p, values[n].len, dlen);
            cs_hash_update(&ctx, values[n]);
            n++;
        }
    }
    uint8_t digest[CS_HASH_MAX_LEN];
    cs_hash_final(&ctx, digest);
    CS_ENSURE(
        cs_ct_equal(CS_SLICE(digest, cs_hash_len(h)), CS_SLICE(q->pcr_digest, q->pcr_digest_len)),
        CONSORT_E_ATTESTATION, "quote: pcrDigest does not match the %zu PCR values given", count);
    return CONSORT_OK;
}

/* Copies a big-endian coordinate into `out` (field bytes), left-padding with zeros. */
static consort_err ecc_coord(const TPM2B_ECC_PARAMETER *p, size_t field, uint8_t *out)
{
    CS_ENSURE(p->size <= field, CONSORT_E_MALFORMED, "TPMT_PUBLIC: ECC coordinate of %u bytes",
              p->size);
    memset(out, 0, field);
    memcpy(out + field - p->size, p->buffer, p->size);
    return CONSORT_OK;
}

consort_err cs_tpm_public_to_key(cs_slice in, cs_key **out)
{
    CS_ENSURE(in.len > 0 && in.len <= CS_TPM_PUBLIC_MAX_BYTES, CONSORT_E_MALFORMED,
              "TPMT_PUBLIC of %zu bytes", in.len);
    TPMT_PUBLIC pub;
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(in.ptr, in.len, &off, &pub);
    if (rc != TSS2_RC_SUCCESS)
        return mu_fail(rc, "TPMT_PUBLIC");
    CS_TRY(expect_consumed(off, in.len, "TPMT_PUBLIC"));
    if (pub.type == TPM2_ALG_RSA) {
        /* Part 2, TPMS_RSA_PARMS: exponent 0 means the default 2^16 + 1. */
        uint32_t e = pub.parameters.rsaDetail.exponent ? pub.parameters.rsaDetail.exponent : 65537u;
        uint8_t ebytes[4] = {(uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e};
        return cs_key_from_rsa(CS_SLICE(pub.unique.rsa.buffer, pub.unique.rsa.size),
                               CS_SLICE(ebytes, 4), out);
    }
    if (pub.type == TPM2_ALG_ECC) {
        cs_curve curve = pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P256   ? CS_CURVE_P256
                         : pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? CS_CURVE_P384
                                                                                  : CS_CURVE_NONE;
        CS_ENSURE(curve != CS_CURVE_NONE, CONSORT_E_UNSUPPORTED,
                  "TPMT_PUBLIC: ECC curve 0x%04x unsupported, expected NIST P-256 or P-384",
                  pub.parameters.eccDetail.curveID);
        size_t field = cs_curve_field_len(curve);
        uint8_t x[48], y[48];
        CS_TRY(ecc_coord(&pub.unique.ecc.x, field, x));
        CS_TRY(ecc_coord(&pub.unique.ecc.y, field, y));
        return cs_key_from_ec_coords(curve, CS_SLICE(x, field), CS_SLICE(y, field), CS_SLICE_EMPTY,
                                     out);
    }
    return cs_fail(CONSORT_E_UNSUPPORTED, "TPMT_PUBLIC: key type 0x%04x unsupported", pub.type);
}

void cs_tpm_code_id_pcr_value(const uint8_t code_id[32], uint8_t out[32])
{
    static const uint8_t zeros[32];
    const cs_slice parts[2] = {CS_SLICE(zeros, 32), CS_SLICE(code_id, 32)};
    cs_sha256_parts(parts, 2, out);
}
