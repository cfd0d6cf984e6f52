/*
 * The configfs-tsm model behind cs_tsm_ops (see fake_tsm.h for what it
 * follows). Each function returns 0 or the errno the kernel would.
 */
#include "fake_tsm.h"

#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cst_fake_tsm_entry *fake_find(cst_fake_tsm *f, const char *name, size_t n)
{
    for (int i = 0; i < CST_FAKE_TSM_SLOTS; i++)
        if (f->slots[i].used && strlen(f->slots[i].name) == n &&
            memcmp(f->slots[i].name, name, n) == 0)
            return &f->slots[i];
    return NULL;
}

/* Splits CST_FAKE_TSM_ROOT/<name>[/<attr>]; returns the entry (or NULL) and the attribute. */
static int fake_resolve(cst_fake_tsm *f, const char *path, cst_fake_tsm_entry **e,
                        const char **attr)
{
    size_t rl = strlen(CST_FAKE_TSM_ROOT);
    if (!f->mounted || strncmp(path, CST_FAKE_TSM_ROOT "/", rl + 1) != 0)
        return ENOENT;
    const char *name = path + rl + 1;
    const char *slash = strchr(name, '/');
    *attr = slash != NULL ? slash + 1 : NULL;
    *e = fake_find(f, name, slash != NULL ? (size_t)(slash - name) : strlen(name));
    return 0;
}

static void fake_release(cst_fake_tsm_entry *e)
{
    free(e->outblob);
    free(e->auxblob);
    memset(e, 0, sizeof *e);
}

void cst_fake_tsm_cleanup(cst_fake_tsm *f)
{
    for (int i = 0; i < CST_FAKE_TSM_SLOTS; i++)
        if (f->slots[i].used)
            fake_release(&f->slots[i]);
}

size_t cst_fake_tsm_live(const cst_fake_tsm *f)
{
    size_t n = 0;
    for (int i = 0; i < CST_FAKE_TSM_SLOTS; i++)
        n += f->slots[i].used;
    return n;
}

/* Another process writes its own inblob into our instance. */
static void fake_other_writer(cst_fake_tsm *f, cst_fake_tsm_entry *e, cst_interleave at)
{
    if (f->interleave != at || f->interleave_times == 0)
        return;
    f->interleave_times--;
    memset(e->inblob, 0xee, sizeof e->inblob);
    e->inblob_len = 64;
    e->write_gen++;
}

static int fake_mkdir(void *ctx, const char *path)
{
    cst_fake_tsm *f = ctx;
    cst_fake_tsm_entry *e;
    const char *attr;
    int err = fake_resolve(f, path, &e, &attr);
    if (err != 0 || attr != NULL)
        return err != 0 ? err : ENOENT;
    if (f->provider == NULL)
        return ENXIO; /* tsm_report_make_item without provider.ops */
    if (e != NULL)
        return EEXIST;
    for (int i = 0; i < CST_FAKE_TSM_SLOTS; i++) {
        if (!f->slots[i].used) {
            f->slots[i].used = true;
            snprintf(f->slots[i].name, sizeof f->slots[i].name, "%s",
                     path + strlen(CST_FAKE_TSM_ROOT) + 1);
            f->mkdirs++;
            return 0;
        }
    }
    return ENOMEM;
}

static int fake_rmdir(void *ctx, const char *path)
{
    cst_fake_tsm *f = ctx;
    cst_fake_tsm_entry *e;
    const char *attr;
    int err = fake_resolve(f, path, &e, &attr);
    if (err != 0 || e == NULL || attr != NULL)
        return err != 0 ? err : ENOENT;
    fake_release(e);
    f->rmdirs++;
    return 0;
}

static int fake_write(void *ctx, const char *path, cs_slice data)
{
    cst_fake_tsm *f = ctx;
    cst_fake_tsm_entry *e;
    const char *attr;
    int err = fake_resolve(f, path, &e, &attr);
    if (err != 0 || e == NULL || attr == NULL)
        return err != 0 ? err : ENOENT;
    if (strcmp(attr, "inblob") == 0) {
        if (data.len > 64)
            return EFBIG; /* configfs_bin_write_iter beyond cb_max_size */
        /* committed at close; tsm_report_inblob_write's result is ignored */
        e->write_gen++;
        memcpy(e->inblob, data.ptr, data.len);
        e->inblob_len = data.len;
        memcpy(f->last_inblob, data.ptr, data.len);
        f->inblob_writes++;
        fake_other_writer(f, e, CST_INTERLEAVE_BEFORE_OUTBLOB);
        return 0;
    }
    if (strcmp(attr, "privlevel") == 0 && f->snp) {
        char text[32];
        if (data.len == 0 || data.len >= sizeof text)
            return EINVAL;
        memcpy(text, data.ptr, data.len);
        text[data.len] = '\0';
        char *end;
        unsigned long v = strtoul(text, &end, 0); /* kstrtouint(buf, 0, ...) */
        if (end == text || (*end != '\0' && strcmp(end, "\n") != 0))
            return EINVAL;
        if (f->privlevel_floor > v || v > 3)
            return EINVAL;
        e->write_gen++;
        e->privlevel = (unsigned)v;
        f->last_privlevel = (unsigned)v;
        f->privlevel_writes++;
        return 0;
    }
    /* read-only attributes cannot be opened for writing (__configfs_open_file) */
    if (strcmp(attr, "outblob") == 0 || strcmp(attr, "generation") == 0 ||
        strcmp(attr, "provider") == 0 ||
        (f->snp && (strcmp(attr, "auxblob") == 0 || strcmp(attr, "privlevel_floor") == 0)))
        return EACCES;
    return ENOENT;
}

static uint8_t *fake_dup(cs_slice s)
{
    uint8_t *p = malloc(s.len + 1);
    assert_non_null(p);
    if (s.len > 0)
        memcpy(p, s.ptr, s.len);
    return p;
}

/* tsm_report_read: regenerate when the generation moved, like ops->report_new. */
static int fake_generate(cst_fake_tsm *f, cst_fake_tsm_entry *e)
{
    if (e->inblob_len == 0)
        return EINVAL;
    if (e->generated && e->read_gen == e->write_gen)
        return 0;
    if (f->snp && e->inblob_len != 64)
        return EINVAL; /* sev_report_new: SNP_REPORT_USER_DATA_SIZE */
    free(e->outblob);
    free(e->auxblob);
    e->outblob = fake_dup(f->report);
    e->outblob_len = f->report.len;
    if (f->report_data_at != CST_FAKE_TSM_NO_PATCH && f->report_data_at + 64 <= f->report.len)
        memcpy(e->outblob + f->report_data_at, e->inblob, 64);
    e->auxblob = fake_dup(f->auxblob);
    e->auxblob_len = f->auxblob.len;
    e->read_gen = e->write_gen;
    e->generated = true;
    f->generations++;
    return 0;
}

static int fake_emit(cs_buf *out, const void *p, size_t n)
{
    consort_err rc = cs_buf_append(out, p, n);
    return rc == CONSORT_OK ? 0 : rc == CONSORT_E_TOO_LARGE ? EFBIG : ENOMEM;
}

static int fake_read(void *ctx, const char *path, cs_buf *out)
{
    cst_fake_tsm *f = ctx;
    cst_fake_tsm_entry *e;
    const char *attr;
    char text[64];
    int err = fake_resolve(f, path, &e, &attr);
    if (err != 0 || e == NULL || attr == NULL)
        return err != 0 ? err : ENOENT;
    if (strcmp(attr, "generation") == 0) {
        snprintf(text, sizeof text, "%lu\n", e->write_gen);
        return fake_emit(out, text, strlen(text));
    }
    if (strcmp(attr, "provider") == 0) {
        snprintf(text, sizeof text, "%s\n", f->provider);
        return fake_emit(out, text, strlen(text));
    }
    if (strcmp(attr, "privlevel_floor") == 0 && f->snp) {
        snprintf(text, sizeof text, "%u\n", f->privlevel_floor);
        return fake_emit(out, text, strlen(text));
    }
    bool is_out = strcmp(attr, "outblob") == 0;
    if (is_out || (strcmp(attr, "auxblob") == 0 && f->snp)) {
        err = fake_generate(f, e);
        if (err != 0)
            return err;
        err = is_out ? fake_emit(out, e->outblob, e->outblob_len)
                     : fake_emit(out, e->auxblob, e->auxblob_len);
        if (err == 0 && is_out)
            fake_other_writer(f, e, CST_INTERLEAVE_AFTER_OUTBLOB);
        return err;
    }
    if (strcmp(attr, "inblob") == 0 || (strcmp(attr, "privlevel") == 0 && f->snp))
        return EACCES;
    return ENOENT;
}

void cst_fake_tsm_init(cst_fake_tsm *f)
{
    memset(f, 0, sizeof *f);
    f->mounted = true;
    f->report_data_at = CST_FAKE_TSM_NO_PATCH;
    f->ops = (cs_tsm_ops){fake_mkdir, fake_rmdir, fake_read, fake_write, f};
}
