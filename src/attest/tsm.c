/*
 * The configfs-tsm attester: the report-instance protocol over cs_tsm_ops
 * (tsm.h). The envelope is built by tsm_evidence.c; the real file system
 * access is in tsm_sys.c.
 */
#include "attest/tsm.h"

#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TSM_PATH_MAX 512
/* Text attributes (generation, provider, privlevel_floor) are one short line. */
#define TSM_TEXT_MAX 64

/* One report instance: <root>/<name>. */
typedef struct tsm_instance {
    const cs_tsm_ops *ops;
    const char *root;
    char dir[TSM_PATH_MAX];
    bool created;
} tsm_instance;

/* What one successful attempt read. */
typedef struct tsm_result {
    char provider[TSM_TEXT_MAX];
    cs_buf outblob;
    cs_buf auxblob;
} tsm_result;

static const char *errno_name(int err)
{
    switch (err) {
    case ENOENT:
        return "ENOENT";
    case ENXIO:
        return "ENXIO";
    case EBUSY:
        return "EBUSY";
    case EFBIG:
        return "EFBIG";
    case EINVAL:
        return "EINVAL";
    case EACCES:
        return "EACCES";
    case EPERM:
        return "EPERM";
    case EEXIST:
        return "EEXIST";
    case EIO:
        return "EIO";
    case ENOMEM:
        return "ENOMEM";
    case ENOTDIR:
        return "ENOTDIR";
    case EROFS:
        return "EROFS";
    case EWOULDBLOCK:
        return "EWOULDBLOCK";
    default:
        return "errno";
    }
}

/* Turns an errno from the ops into a consort error that says what failed where. */
static consort_err errno_fail(int err, const char *action, const char *path)
{
    consort_err code;
    switch (err) {
    case ENOMEM:
        code = CONSORT_E_NOMEM;
        break;
    case ENOENT:
        code = CONSORT_E_NOT_FOUND;
        break;
    case EFBIG:
        code = CONSORT_E_TOO_LARGE;
        break;
    case EBUSY:
        code = CONSORT_E_BUSY;
        break;
    case ENXIO:
        code = CONSORT_E_UNSUPPORTED;
        break;
    default:
        code = CONSORT_E_IO;
        break;
    }
    if (err == EFBIG)
        return cs_fail(code, "configfs-tsm: %s %s: larger than %d bytes (EFBIG)", action, path,
                       CS_TSM_BLOB_MAX);
    if (err == ENXIO)
        return cs_fail(code, "configfs-tsm: %s %s: no TSM provider registered (ENXIO)", action,
                       path);
    return cs_fail(code, "configfs-tsm: %s %s: %s (%s %d)", action, path, strerror(err),
                   errno_name(err), err);
}

static consort_err attr_path(const tsm_instance *t, const char *attr, char out[TSM_PATH_MAX])
{
    return cs_path_join(out, TSM_PATH_MAX, t->dir, attr);
}

/* Reads a whole attribute into `out` (initialised here with cap `max`). */
static consort_err read_attr(const tsm_instance *t, const char *attr, size_t max, cs_buf *out)
{
    char path[TSM_PATH_MAX];
    CS_TRY(attr_path(t, attr, path));
    cs_buf_reset(out);
    out->max = max;
    int err = t->ops->read_fn(t->ops->ctx, path, out);
    if (err != 0) {
        cs_buf_reset(out);
        return errno_fail(err, "reading", path);
    }
    return CONSORT_OK;
}

static consort_err write_attr(const tsm_instance *t, const char *attr, cs_slice data)
{
    char path[TSM_PATH_MAX];
    CS_TRY(attr_path(t, attr, path));
    int err = t->ops->write_fn(t->ops->ctx, path, data);
    return err == 0 ? CONSORT_OK : errno_fail(err, "writing", path);
}

/* A text attribute: one line of printable ASCII; the kernel's "\n" is removed. */
static consort_err read_text(const tsm_instance *t, const char *attr, char out[TSM_TEXT_MAX])
{
    cs_buf b;
    cs_buf_init(&b, TSM_TEXT_MAX);
    consort_err rc = read_attr(t, attr, TSM_TEXT_MAX, &b);
    size_t n = b.len;
    if (rc == CONSORT_OK && n > 0 && b.ptr[n - 1] == '\n')
        n--;
    for (size_t i = 0; rc == CONSORT_OK && i < n; i++)
        if (b.ptr[i] < 0x21 || b.ptr[i] > 0x7e)
            rc = cs_fail(CONSORT_E_MALFORMED, "configfs-tsm: %s/%s: byte 0x%02x at %zu", t->dir,
                         attr, b.ptr[i], i);
    if (rc == CONSORT_OK && (n == 0 || n >= TSM_TEXT_MAX))
        rc = cs_fail(CONSORT_E_MALFORMED, "configfs-tsm: %s/%s: %zu characters", t->dir, attr, n);
    if (rc == CONSORT_OK) {
        memcpy(out, b.ptr, n);
        out[n] = '\0';
    }
    cs_buf_cleanup(&b);
    return rc;
}

/* A decimal attribute ("%lu\n" / "%u\n" in the kernel). */
static consort_err read_u64(const tsm_instance *t, const char *attr, uint64_t *out)
{
    char text[TSM_TEXT_MAX];
    CS_TRY(read_text(t, attr, text));
    uint64_t v = 0;
    for (const char *p = text; *p != '\0'; p++) {
        CS_ENSURE(*p >= '0' && *p <= '9' && v <= (UINT64_MAX - 9) / 10, CONSORT_E_MALFORMED,
                  "configfs-tsm: %s/%s: '%s' is not a decimal number", t->dir, attr, text);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return CONSORT_OK;
}

/* mkdir <root>/consort-<pid>-<random>: a report instance nobody else knows the name of. */
static consort_err instance_create(tsm_instance *t)
{
    uint8_t rnd[8];
    char hex[2 * sizeof rnd + 1];
    char name[64];
    CS_TRY(cs_random(rnd, sizeof rnd));
    cs_hex_encode(CS_SLICE(rnd, sizeof rnd), hex);
    snprintf(name, sizeof name, "consort-%ld-%s", (long)getpid(), hex);
    CS_TRY(cs_path_join(t->dir, sizeof t->dir, t->root, name));
    int err = t->ops->mkdir_fn(t->ops->ctx, t->dir);
    if (err == ENOENT || err == ENOTDIR)
        return cs_fail(CONSORT_E_NOT_FOUND,
                       "configfs-tsm not available at %s: is this a confidential VM with "
                       "configfs mounted?",
                       t->root);
    if (err == ENXIO)
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "configfs-tsm at %s has no attestation provider registered (ENXIO): is "
                       "the sev-guest or tdx-guest driver loaded?",
                       t->root);
    if (err != 0)
        return errno_fail(err, "creating report instance", t->dir);
    t->created = true;
    return CONSORT_OK;
}

/* rmdir, whatever happened before. A failure is logged: it cannot undo the attempt. */
static void instance_remove(tsm_instance *t)
{
    if (!t->created)
        return;
    int err = t->ops->rmdir_fn(t->ops->ctx, t->dir);
    if (err != 0)
        cs_log_warn("tsm", "could not remove report instance %s: %s (%s)", t->dir, strerror(err),
                    errno_name(err));
    t->created = false;
}

/* Writes privlevel after checking it against the provider's privlevel_floor. */
static consort_err write_privlevel(const tsm_instance *t, const char *provider, unsigned level)
{
    uint64_t floor;
    consort_err rc = read_u64(t, "privlevel_floor", &floor);
    if (rc == CONSORT_E_NOT_FOUND)
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "privlevel %u requested, but provider %s has no privlevel attribute", level,
                       provider);
    CS_TRY(rc);
    /* configfs-tsm-report ABI, @privlevel: "The minimum acceptable value is conveyed via
     * @privlevel_floor". */
    CS_ENSURE(level >= floor, CONSORT_E_INVALID_ARGUMENT,
              "privlevel %u is below provider %s's privlevel_floor %llu", level, provider,
              (unsigned long long)floor);
    char text[16];
    char path[TSM_PATH_MAX];
    int n = snprintf(text, sizeof text, "%u\n", level);
    CS_TRY(attr_path(t, "privlevel", path));
    int err = t->ops->write_fn(t->ops->ctx, path, CS_SLICE(text, (size_t)n));
    /* The kernel answers EINVAL when floor > level or level > TSM_REPORT_PRIVLEVEL_MAX. */
    if (err == EINVAL)
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "provider %s refused privlevel %u (EINVAL)",
                       provider, level);
    return err == 0 ? CONSORT_OK : errno_fail(err, "writing", path);
}

/* Fails with CONSORT_E_BUSY unless the generation is `want` (another writer interleaved). */
static consort_err check_generation(const tsm_instance *t, uint64_t want, const char *when)
{
    uint64_t now;
    CS_TRY(read_u64(t, "generation", &now));
    /* configfs-tsm-report ABI, @generation: "Userspace can detect conflicts by checking
     * generation before writing to any attribute and making sure the number of writes
     * matches expectations after reading @outblob". */
    CS_ENSURE(now == want, CONSORT_E_BUSY,
              "configfs-tsm: generation of %s is %llu %s, expected %llu: another writer "
              "interleaved",
              t->dir, (unsigned long long)now, when, (unsigned long long)want);
    return CONSORT_OK;
}

/* One pass of the protocol in tsm.h, in the already created instance `t`. */
static consort_err attempt_once(const tsm_instance *t, const uint8_t report_data[64],
                                const cs_tsm_opts *opts, tsm_result *res)
{
    cs_platform platform = CS_PLATFORM_NONE;
    uint64_t before;
    uint64_t writes = 0;
    CS_TRY(read_text(t, "provider", res->provider));
    CS_TRY(cs_tsm_provider_platform(res->provider, &platform));
    CS_TRY(read_u64(t, "generation", &before));
    if (opts->set_privlevel) {
        CS_TRY(write_privlevel(t, res->provider, opts->privlevel));
        writes++;
    }
    CS_TRY(write_attr(t, "inblob", CS_SLICE(report_data, CS_TSM_INBLOB_LEN)));
    writes++;
    CS_TRY(read_attr(t, "outblob", CS_TSM_BLOB_MAX, &res->outblob));
    CS_TRY(check_generation(t, before + writes, "after reading outblob"));
    if (platform == CS_PLATFORM_SNP) {
        /* auxblob comes from the same report generation; prove nothing changed since. */
        CS_TRY(read_attr(t, "auxblob", CS_TSM_BLOB_MAX, &res->auxblob));
        CS_TRY(check_generation(t, before + writes, "after reading auxblob"));
    }
    cs_log_debug("tsm",
                 "%s: provider %s, generation %llu -> %llu, outblob %zu bytes, auxblob "
                 "%zu bytes",
                 t->dir, res->provider, (unsigned long long)before,
                 (unsigned long long)(before + writes), res->outblob.len, res->auxblob.len);
    return CONSORT_OK;
}

consort_err cs_tsm_attest(const char *tsm_root, const uint8_t report_data[64],
                          const cs_tsm_opts *opts, cs_evidence *out)
{
    static const cs_tsm_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    cs_evidence_cleanup(out);
    cs_evidence_init(out);
    CS_ENSURE(!opts->set_privlevel || opts->privlevel <= CS_TSM_PRIVLEVEL_MAX,
              CONSORT_E_INVALID_ARGUMENT, "privlevel %u out of range 0..%u (TSM_PRIVLEVEL_MAX)",
              opts->privlevel, CS_TSM_PRIVLEVEL_MAX);
    CS_ENSURE(opts->attempts <= CS_TSM_MAX_ATTEMPTS, CONSORT_E_INVALID_ARGUMENT,
              "%u attempts requested, at most %u", opts->attempts, CS_TSM_MAX_ATTEMPTS);
    unsigned attempts = opts->attempts == 0 ? CS_TSM_DEFAULT_ATTEMPTS : opts->attempts;

    tsm_result res;
    cs_buf_init(&res.outblob, CS_TSM_BLOB_MAX);
    cs_buf_init(&res.auxblob, CS_TSM_BLOB_MAX);
    consort_err rc = CONSORT_OK;
    for (unsigned attempt = 1; attempt <= attempts; attempt++) {
        tsm_instance t = {opts->ops != NULL ? opts->ops : cs_tsm_ops_syscalls(), tsm_root, "",
                          false};
        cs_buf_reset(&res.outblob);
        cs_buf_reset(&res.auxblob);
        rc = instance_create(&t);
        if (rc == CONSORT_OK)
            rc = attempt_once(&t, report_data, opts, &res);
        instance_remove(&t);
        /* Only a conflict is worth another try, in a fresh instance. */
        if (rc != CONSORT_E_BUSY)
            break;
        if (attempt < attempts)
            cs_log_warn("tsm", "attempt %u of %u failed: %s; retrying in a new report instance",
                        attempt, attempts, consort_errmsg());
        else
            rc = cs_err_context(rc, "configfs-tsm: gave up after %u attempts", attempts);
    }
    if (rc == CONSORT_OK)
        rc = cs_tsm_evidence_build(res.provider, cs_buf_slice(&res.outblob),
                                   cs_buf_slice(&res.auxblob), report_data, out);
    cs_buf_cleanup(&res.outblob);
    cs_buf_cleanup(&res.auxblob);
    return rc;
}
