/* Code ids for the virtual and tpm platforms (code_id.h, docs/attestation.md). */
#include "attest/code_id.h"

#include "base/file.h"
#include "crypto/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

consort_err cs_code_id_file_digest(const char *path, uint8_t out[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "code id: cannot open %s: %s", path, strerror(errno));
    cs_hash_ctx ctx;
    consort_err rc = cs_hash_init(&ctx, CS_HASH_SHA256);
    while (rc == CONSORT_OK) {
        uint8_t chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc =
                cs_fail(cs_errno_code(errno), "code id: cannot read %s: %s", path, strerror(errno));
        else if (n == 0)
            break;
        else
            cs_hash_update(&ctx, CS_SLICE(chunk, (size_t)n));
    }
    close(fd);
    uint8_t digest[32];
    if (rc == CONSORT_OK) {
        cs_hash_final(&ctx, digest);
        memcpy(out, digest, sizeof digest);
    }
    return rc;
}

void cs_code_id_combine(const uint8_t binary_digest[32], const uint8_t app_digest[32],
                        uint8_t out[CS_CODE_ID_LEN])
{
    /* DESIGN.md "Code id": SHA-256(SHA-256(binary) || SHA-256(app) or 32 zero bytes) */
    const cs_slice parts[2] = {CS_SLICE(binary_digest, 32), CS_SLICE(app_digest, 32)};
    cs_sha256_parts(parts, 2, out);
}

consort_err cs_code_id_compute(const char *binary_path, const char *app_path,
                               uint8_t out[CS_CODE_ID_LEN])
{
    uint8_t binary_digest[32];
    uint8_t app_digest[32] = {0}; /* no application module: 32 zero bytes */
    CS_TRY(cs_code_id_file_digest(binary_path, binary_digest));
    if (app_path != NULL)
        CS_TRY(cs_code_id_file_digest(app_path, app_digest));
    cs_code_id_combine(binary_digest, app_digest, out);
    return CONSORT_OK;
}
