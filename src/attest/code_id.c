/* Code ids for the virtual and tpm platforms, v2 (code_id.h, docs/attestation.md). */
#include "attest/code_id.h"

#include "base/file.h"
#include "crypto/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

consort_err cs_code_id_fd_digest(int fd, const char *what, uint8_t out[32])
{
    cs_hash_ctx ctx;
    CS_TRY(cs_hash_init(&ctx, CS_HASH_SHA256));
    off_t off = 0;
    for (;;) {
        uint8_t chunk[65536];
        ssize_t n = pread(fd, chunk, sizeof chunk, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            uint8_t discard[32];
            cs_hash_final(&ctx, discard);
            return cs_fail(cs_errno_code(errno), "code id: cannot read %s: %s", what,
                           strerror(errno));
        }
        if (n == 0)
            break;
        cs_hash_update(&ctx, CS_SLICE(chunk, (size_t)n));
        off += n;
    }
    cs_hash_final(&ctx, out);
    return CONSORT_OK;
}

consort_err cs_code_id_file_digest(const char *path, uint8_t out[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "code id: cannot open %s: %s", path, strerror(errno));
    consort_err rc = cs_code_id_fd_digest(fd, path, out);
    close(fd);
    return rc;
}

/* The smallest of `libs` that is greater than `after` (NULL: no bound), or NULL. */
static const uint8_t *next_digest(const uint8_t (*libs)[32], size_t n, const uint8_t *after)
{
    const uint8_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (after != NULL && memcmp(libs[i], after, 32) <= 0)
            continue;
        if (best == NULL || memcmp(libs[i], best, 32) < 0)
            best = libs[i];
    }
    return best;
}

void cs_code_id_combine(const uint8_t exe_digest[32], const uint8_t *module_digest,
                        const uint8_t (*libs)[32], size_t lib_count, uint8_t out[CS_CODE_ID_LEN])
{
    /* code_id.h: SHA-256(D_1 || ... || D_n), D_i distinct and ascending. Selection
     * in place of a sort: no allocation, and n is small (code_id_maps.h caps it). */
    uint8_t libs_digest[32];
    cs_hash_ctx ctx;
    if (cs_hash_init(&ctx, CS_HASH_SHA256) != CONSORT_OK) { /* never: SHA-256 is always known */
        memset(out, 0, CS_CODE_ID_LEN);
        return;
    }
    for (const uint8_t *d = next_digest(libs, lib_count, NULL); d != NULL;
         d = next_digest(libs, lib_count, d))
        cs_hash_update(&ctx, CS_SLICE(d, 32));
    cs_hash_final(&ctx, libs_digest);

    static const uint8_t no_module[32] = {0};
    const cs_slice parts[4] = {
        CS_SLICE_LIT(CS_CODE_ID_V2_LABEL),
        CS_SLICE(exe_digest, 32),
        CS_SLICE(module_digest != NULL ? module_digest : no_module, 32),
        CS_SLICE(libs_digest, 32),
    };
    cs_sha256_parts(parts, CS_ARRAY_LEN(parts), out);
}
