/* Reading the frames of one chunk file (ledger_frames.h). */
#include "store/ledger_frames.h"

#include "base/file.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

consort_err cs_ledger_frames_open(cs_ledger_frames *fr, const char *dir, const char *name)
{
    memset(fr, 0, sizeof *fr);
    cs_buf_init(&fr->entry, CS_LEDGER_ENTRY_MAX);
    CS_TRY(cs_path_join(fr->path, sizeof fr->path, dir, name));
    fr->f = fopen(fr->path, "rb");
    if (fr->f == NULL)
        return cs_fail(cs_errno_code(errno), "cannot open %s: %s", fr->path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fr->f), &st) != 0) {
        consort_err rc = cs_fail(CONSORT_E_IO, "cannot stat %s: %s", fr->path, strerror(errno));
        cs_ledger_frames_close(fr);
        return rc;
    }
    fr->size = (uint64_t)st.st_size;
    return CONSORT_OK;
}

void cs_ledger_frames_close(cs_ledger_frames *fr)
{
    if (fr->f != NULL)
        fclose(fr->f);
    fr->f = NULL;
    cs_buf_cleanup(&fr->entry);
}

static consort_err read_exact(cs_ledger_frames *fr, void *dst, size_t n)
{
    if (n == 0)
        return CONSORT_OK;
    if (fread(dst, 1, n, fr->f) != n)
        return cs_fail(CONSORT_E_IO, "%s: read of %zu bytes at offset %" PRIu64 " failed%s",
                       fr->path, n, fr->offset, ferror(fr->f) ? "" : " (file shrank)");
    return CONSORT_OK;
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * A frame of length `len` of which only `avail` entry bytes exist
 * (docs/ledger.md 5.2). A crash mid-append leaves a prefix of one genuine
 * frame, so whatever of the entry is there must agree with `len`: it starts
 * with the magic and version 2, and once public_len P (offset 104) is
 * visible, P <= 16 MiB and 128 + P <= len; once private_len C (offset
 * 108 + P) is visible, C <= 16 MiB and 128 + P + C == len. This keeps an
 * altered length field from passing a whole valid entry (and every frame
 * after it) off as a torn tail.
 */
static bool torn_prefix_fits(const uint8_t *p, uint64_t avail, uint32_t len)
{
    if (avail >= 4 && memcmp(p, CS_LEDGER_MAGIC, 4) != 0)
        return false;
    if (avail >= 5 && p[4] != CS_LEDGER_VERSION)
        return false;
    if (avail < CS_LEDGER_HEADER_LEN)
        return true;
    uint64_t public_len = be32_at(p + CS_LEDGER_HEADER_LEN - 4);
    /* where private_len ends: 112 + P */
    uint64_t after = CS_LEDGER_HEADER_LEN + public_len + 4;
    if (public_len > CS_LEDGER_WS_MAX || after + CS_AEAD_TAG_LEN > len)
        return false;
    if (avail < after)
        return true;
    uint64_t private_len = be32_at(p + after - 4);
    return private_len <= CS_LEDGER_WS_MAX && after + private_len + CS_AEAD_TAG_LEN == len;
}

static consort_err check_torn(cs_ledger_frames *fr, uint32_t len, uint64_t avail)
{
    cs_buf_reset(&fr->entry);
    uint8_t *p;
    CS_TRY(cs_buf_extend(&fr->entry, (size_t)avail, &p));
    CS_TRY(read_exact(fr, p, (size_t)avail));
    CS_ENSURE(torn_prefix_fits(p, avail, len), CONSORT_E_CORRUPT,
              "offset %" PRIu64 ": frame of length %u runs past the end of the file, but the "
              "entry in it does not fit that length (not a torn write)",
              fr->frame_offset, len);
    return CONSORT_OK;
}

consort_err cs_ledger_frames_next(cs_ledger_frames *fr, cs_slice *entry,
                                  cs_ledger_frame_status *status)
{
    fr->frame_offset = fr->offset;
    uint64_t left = fr->size - fr->offset;
    if (left == 0) {
        *status = CS_LEDGER_FRAME_END;
        return CONSORT_OK;
    }
    if (left < CS_LEDGER_FRAME_HEADER) {
        *status = CS_LEDGER_FRAME_TORN;
        return CONSORT_OK;
    }
    uint8_t hdr[CS_LEDGER_FRAME_HEADER];
    CS_TRY(read_exact(fr, hdr, sizeof hdr));
    uint32_t len = be32_at(hdr);
    CS_ENSURE(len >= CS_LEDGER_ENTRY_MIN && len <= CS_LEDGER_ENTRY_MAX, CONSORT_E_CORRUPT,
              "offset %" PRIu64 ": frame length %u outside %d..%zu", fr->frame_offset, len,
              CS_LEDGER_ENTRY_MIN, CS_LEDGER_ENTRY_MAX);
    if (left - CS_LEDGER_FRAME_HEADER < len) {
        CS_TRY(check_torn(fr, len, left - CS_LEDGER_FRAME_HEADER));
        *status = CS_LEDGER_FRAME_TORN;
        return CONSORT_OK;
    }
    cs_buf_reset(&fr->entry);
    uint8_t *dst;
    CS_TRY(cs_buf_extend(&fr->entry, len, &dst));
    fr->offset += CS_LEDGER_FRAME_HEADER;
    CS_TRY(read_exact(fr, dst, len));
    fr->offset += len;
    *entry = cs_buf_slice(&fr->entry);
    *status = CS_LEDGER_FRAME_OK;
    return CONSORT_OK;
}
