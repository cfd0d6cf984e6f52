/*
 * Fuzz target: a whole ledger chunk file as the host hands it back
 * (src/store/ledger_reader.c, ledger_frames.c, ledger_chunk.c,
 * ledger_writer_state.c, ledger_verify.c): the bytes are written to a
 * chunk file of a scratch ledger directory and read by
 *   - the reader (every frame, entry, seqno, term and chunk-name check),
 *   - the offline verifier against the service certificate of the seeds
 *     (signature entries: Merkle roots, both signatures, terms digests),
 *   - the writer's recovery at open (a torn final frame is cut away).
 *
 * Input: byte 0 flags (bit 0: the file is ledger_<first>-<last>.committed,
 * else ledger_<first>.open; bit 1: open a writer on it afterwards);
 * byte 1: first seqno - 1; bytes 2-3: last - first (big-endian, committed
 * names only); then the file's bytes.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": the reader
 * returns entries with contiguous seqnos from the name's first, at offsets
 * inside the file; a verified ledger starts at 1 and the verifier's counts
 * agree with the reader's; where the reader read the whole chunk and the
 * writer opened it, both agree on the last seqno.
 *
 * Seeds (corpus/ledger_chunk): the chunk files of
 *   gen_ledger OUT --entries 10 --sig-every 3 --chunk-size 1500 \
 *     --secret 4242...42
 * (real entries by the real writer; the certificate below is that run's
 * service certificate), with an .open chunk holding the unsigned tail, a
 * torn copy of it and a committed chunk named with the wrong last seqno.
 */
#include "fuzz_scratch.h"

#include "crypto/x509.h"
#include "store/ledger.h"
#include "store/ledger_writer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The service certificate of the seed ledger, and an instant it is valid at. */
#define VERIFY_AT INT64_C(1796400000)
static const char SERVICE_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATOgAwIBAgIIajYJ1lJ6Q7cwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwP\n"
    "Y29uc29ydCBzZXJ2aWNlMB4XDTI2MTIwMzA5MDUxOFoXDTQ2MTEyOTA5MDUxOFow\n"
    "GjEYMBYGA1UEAwwPY29uc29ydCBzZXJ2aWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAEDE2JSoaxW7szbKOnXhYoFqQb58hjMBRo+/IJAW0ssUpwwbdjQqK1YW8R\n"
    "VXq4snJNsrLoc+Ctg0cQHMP946QR8qNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV\n"
    "HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFMf2TfyIt9sSxJOfUYjxciXqJmiIMB8GA1Ud\n"
    "IwQYMBaAFMf2TfyIt9sSxJOfUYjxciXqJmiIMAoGCCqGSM49BAMCA0gAMEUCIHug\n"
    "Xml7L1JVCeIaUZs1WiXPfUajFTVLQiavL6i5GLqOAiEA2UisadWnMa3Ci/Ef7cwT\n"
    "+3rOeIiLa2hMQGik3xCqtjo=\n"
    "-----END CERTIFICATE-----\n";

static const cs_x509 *service_cert(void)
{
    static cs_x509 *cert;
    if (cert == NULL && cs_x509_from_pem(CS_SLICE_LIT(SERVICE_CERT_PEM), &cert) != CONSORT_OK)
        abort();
    return cert;
}

/* Reads every entry; the number read and the last seqno. */
static consort_err read_all(const char *dir, uint64_t first, size_t file_len, uint64_t *count,
                            uint64_t *last)
{
    cs_ledger_reader *r;
    *count = 0;
    *last = 0;
    consort_err rc = cs_ledger_reader_open(dir, &r);
    if (rc != CONSORT_OK)
        return rc;
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        rc = cs_ledger_reader_next(r, &rec, &done);
        if (rc != CONSORT_OK || done)
            break;
        if (rec.entry.seqno != first + *count || rec.offset >= file_len)
            abort(); /* not contiguous from the chunk's first seqno, or outside the file */
        uint8_t leaf[CS_MERKLE_HASH_LEN];
        cs_ledger_leaf_hash(&rec.entry, leaf);
        *last = rec.entry.seqno;
        (*count)++;
    }
    uint64_t torn_at;
    if (cs_ledger_reader_torn_bytes(r, &torn_at) > file_len)
        abort();
    cs_ledger_reader_free(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const char *dir = fuzz_scratch_dir("fuzz_ledger_chunk");
    cs_ledger_chunk c = {.committed = (data[0] & 1) != 0, .first = (uint64_t)data[1] + 1};
    c.last = c.first + ((uint64_t)data[2] << 8 | data[3]);
    cs_ledger_chunk_format_name(&c);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, c.name);
    cs_slice file = CS_SLICE(data + 4, size - 4);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (file.len > 0 && write(fd, file.ptr, file.len) != (ssize_t)file.len))
        abort();
    close(fd);

    uint64_t count, last;
    consort_err read_rc = read_all(dir, c.first, file.len, &count, &last);

    cs_ledger_verify_report rep;
    consort_err rc = cs_ledger_verify(dir, service_cert(), VERIFY_AT, &rep);
    if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what the chunk did */
        fprintf(stderr, "read %llu entries: %s; verify: %s\n", (unsigned long long)count,
                read_rc == CONSORT_OK ? "ok" : "error", rc == CONSORT_OK ? "ok" : consort_errmsg());
    if (rc == CONSORT_OK &&
        (c.first != 1 || read_rc != CONSORT_OK || rep.entries != count || rep.last_seqno != last))
        abort(); /* verified, but not what the reader read */

    if (data[0] & 2) {
        cs_ledger_writer *w;
        const cs_ledger_writer_opts o = {.chunk_size = 4096};
        if (cs_ledger_writer_open(dir, &o, &w) == CONSORT_OK) {
            if (read_rc == CONSORT_OK && count > 0 && cs_ledger_writer_last_seqno(w) != last)
                abort(); /* the writer resumes elsewhere than the reader ends */
            cs_ledger_writer_free(w);
        }
    }
    fuzz_scratch_clear(1);
    return 0;
}
