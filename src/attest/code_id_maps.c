/*
 * Measuring the process's executable mappings (code_id_maps.h): parsing
 * /proc/self/maps (proc(5) "/proc/pid/maps"), opening the mapped file of
 * each object, hashing it, and the re-scan.
 */
#include "attest/code_id_maps.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DEFAULT_MAPS      "/proc/self/maps"
#define DEFAULT_MAP_FILES "/proc/self/map_files"
#define DEFAULT_EXE       "/proc/self/exe"
#define MOUNTINFO         "/proc/self/mountinfo"
#define MOUNTINFO_MAX     ((size_t)4 << 20)
#define DELETED_SUFFIX    " (deleted)"
/* Shown in messages: the first bytes of a path from /proc/self/maps. */
#define SHOWN(s) (int)((s).len < 300 ? (s).len : 300), (const char *)(s).ptr

/* ---- parsing one line ---- */

/* Reads hex digits (1 to 16) followed by `stop`, and skips them and it. */
static bool take_hex(cs_slice *s, char stop, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    for (; i < s->len && i <= 16; i++) {
        char c = (char)s->ptr[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        v = v << 4 | (uint64_t)d;
    }
    if (i == 0 || i > 16 || i == s->len || s->ptr[i] != (uint8_t)stop)
        return false;
    *out = v;
    *s = CS_SLICE(s->ptr + i + 1, s->len - i - 1);
    return true;
}

static bool take_dec(cs_slice *s, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    for (; i < s->len && s->ptr[i] >= '0' && s->ptr[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s->ptr[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == 0 || (i < s->len && s->ptr[i] != ' '))
        return false;
    *out = v;
    *s = CS_SLICE(s->ptr + i, s->len - i);
    return true;
}

consort_err cs_code_maps_parse_line(cs_slice line, cs_code_mapping *out)
{
    memset(out, 0, sizeof *out);
    cs_slice s = line;
    const uint8_t *range_start = s.ptr;
    uint64_t major, minor;
    CS_ENSURE(take_hex(&s, '-', &out->start), CONSORT_E_MALFORMED, "maps line: bad start address");
    CS_ENSURE(take_hex(&s, ' ', &out->end), CONSORT_E_MALFORMED, "maps line: bad end address");
    out->range = CS_SLICE(range_start, (size_t)(s.ptr - range_start) - 1);
    CS_ENSURE(out->end > out->start, CONSORT_E_MALFORMED, "maps line: empty range");
    CS_ENSURE(s.len >= 5 && s.ptr[4] == ' ', CONSORT_E_MALFORMED, "maps line: bad permissions");
    for (size_t i = 0; i < 4; i++) {
        static const char allowed[4][3] = {"r-", "w-", "x-", "ps"};
        CS_ENSURE(memchr(allowed[i], s.ptr[i], 2) != NULL, CONSORT_E_MALFORMED,
                  "maps line: bad permissions");
        out->perms[i] = (char)s.ptr[i];
    }
    s = CS_SLICE(s.ptr + 5, s.len - 5);
    CS_ENSURE(take_hex(&s, ' ', &out->offset), CONSORT_E_MALFORMED, "maps line: bad offset");
    CS_ENSURE(take_hex(&s, ':', &major) && major <= UINT32_MAX, CONSORT_E_MALFORMED,
              "maps line: bad device");
    CS_ENSURE(take_hex(&s, ' ', &minor) && minor <= UINT32_MAX, CONSORT_E_MALFORMED,
              "maps line: bad device");
    out->dev_major = (uint32_t)major;
    out->dev_minor = (uint32_t)minor;
    CS_ENSURE(take_dec(&s, &out->ino), CONSORT_E_MALFORMED, "maps line: bad inode");
    while (s.len > 0 && s.ptr[0] == ' ')
        s = CS_SLICE(s.ptr + 1, s.len - 1);
    out->path = s;
    return CONSORT_OK;
}

/* ---- one scan: the distinct executable objects mapped now ---- */

typedef struct scan_obj {
    uint32_t maj, min;
    uint64_t ino;
    cs_hash_ctx ranges_ctx;
    uint8_t ranges[32];
    cs_slice range; /* its first executable range (a name under map_files) */
    cs_slice path;
} scan_obj;

typedef struct scan {
    scan_obj *objs;
    size_t count, cap;
    uint8_t set[32]; /* SHA-256 over every (device, inode, ranges), in address order */
} scan;

static void scan_cleanup(scan *sc)
{
    cs_free(sc->objs);
    memset(sc, 0, sizeof *sc);
}

static bool is_exec(const cs_code_mapping *mp)
{
    return mp->perms[2] == 'x';
}

static bool slice_is(cs_slice s, const char *str)
{
    return cs_slice_eq(s, cs_slice_str(str));
}

static consort_err add_mapping(scan *sc, const cs_code_mapping *mp)
{
    if (mp->ino == 0) {
        /* proc(5): the kernel's own pages; everything else anonymous is code no file names */
        CS_ENSURE(slice_is(mp->path, "[vdso]") || slice_is(mp->path, "[vsyscall]"),
                  CONSORT_E_ATTESTATION,
                  "code id: anonymous executable memory at %.*s (%.*s): code that no file "
                  "holds cannot be measured",
                  SHOWN(mp->range), SHOWN(mp->path));
        return CONSORT_OK;
    }
    scan_obj *o = NULL;
    for (size_t i = 0; i < sc->count && o == NULL; i++)
        if (sc->objs[i].ino == mp->ino && sc->objs[i].maj == mp->dev_major &&
            sc->objs[i].min == mp->dev_minor)
            o = &sc->objs[i];
    if (o == NULL) {
        CS_ENSURE(sc->count < CS_CODE_MAX_OBJECTS, CONSORT_E_TOO_LARGE,
                  "code id: more than %d executable objects mapped", CS_CODE_MAX_OBJECTS);
        if (sc->count == sc->cap) {
            size_t cap = sc->cap == 0 ? 64 : 2 * sc->cap;
            scan_obj *grown = cs_realloc(sc->objs, cap * sizeof *grown);
            CS_ENSURE(grown != NULL, CONSORT_E_NOMEM, "code id: out of memory");
            sc->objs = grown;
            sc->cap = cap;
        }
        o = &sc->objs[sc->count++];
        memset(o, 0, sizeof *o);
        o->maj = mp->dev_major;
        o->min = mp->dev_minor;
        o->ino = mp->ino;
        o->range = mp->range;
        o->path = mp->path;
        CS_TRY(cs_hash_init(&o->ranges_ctx, CS_HASH_SHA256));
    }
    uint8_t r[24];
    for (int i = 0; i < 8; i++) {
        r[i] = (uint8_t)(mp->start >> (56 - 8 * i));
        r[8 + i] = (uint8_t)(mp->end >> (56 - 8 * i));
        r[16 + i] = (uint8_t)(mp->offset >> (56 - 8 * i));
    }
    cs_hash_update(&o->ranges_ctx, CS_SLICE(r, sizeof r));
    return CONSORT_OK;
}

static consort_err scan_maps(cs_code_measure *m, scan *sc)
{
    memset(sc, 0, sizeof *sc);
    const char *path = m->opts.maps_path != NULL ? m->opts.maps_path : DEFAULT_MAPS;
    cs_buf_reset(&m->maps);
    CS_TRY_CTX(cs_file_read(path, &m->maps), "code id");
    consort_err rc = CONSORT_OK;
    cs_slice rest = cs_buf_slice(&m->maps);
    while (rc == CONSORT_OK && rest.len > 0) {
        const uint8_t *nl = memchr(rest.ptr, '\n', rest.len);
        size_t len = nl != NULL ? (size_t)(nl - rest.ptr) : rest.len;
        cs_slice line = CS_SLICE(rest.ptr, len);
        rest = CS_SLICE(rest.ptr + len + (nl != NULL), rest.len - len - (nl != NULL));
        cs_code_mapping mp;
        rc = cs_code_maps_parse_line(line, &mp);
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "code id: %s", path);
        else if (is_exec(&mp))
            rc = add_mapping(sc, &mp);
    }
    cs_hash_ctx set;
    if (rc == CONSORT_OK)
        rc = cs_hash_init(&set, CS_HASH_SHA256);
    if (rc != CONSORT_OK) {
        scan_cleanup(sc);
        return rc;
    }
    for (size_t i = 0; i < sc->count; i++) {
        scan_obj *o = &sc->objs[i];
        cs_hash_final(&o->ranges_ctx, o->ranges);
        uint8_t id[16];
        for (int k = 0; k < 4; k++) {
            id[k] = (uint8_t)(o->maj >> (24 - 8 * k));
            id[4 + k] = (uint8_t)(o->min >> (24 - 8 * k));
        }
        for (int k = 0; k < 8; k++)
            id[8 + k] = (uint8_t)(o->ino >> (56 - 8 * k));
        cs_hash_update(&set, CS_SLICE(id, sizeof id));
        cs_hash_update(&set, CS_SLICE(o->ranges, 32));
    }
    cs_hash_final(&set, sc->set);
    return CONSORT_OK;
}

/* ---- opening the mapped file ---- */

/* The device of the mount `fd` lives on, as /proc/self/mountinfo gives it:
 * the superblock's, which is what /proc/self/maps prints (btrfs, whose stat
 * device is per subvolume). False if it cannot be told. */
static bool mount_dev_is(int fd, uint32_t maj, uint32_t min)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) != 0 || !(sx.stx_mask & STATX_MNT_ID))
        return false;
    cs_buf info;
    cs_buf_init(&info, MOUNTINFO_MAX);
    bool match = false;
    if (cs_file_read(MOUNTINFO, &info) == CONSORT_OK && cs_buf_append_u8(&info, 0) == CONSORT_OK) {
        /* proc(5) "/proc/pid/mountinfo": "mount-id parent-id major:minor root ..." */
        for (const char *line = (const char *)info.ptr; line != NULL && *line != '\0';) {
            unsigned long long id;
            unsigned a, b;
            if (sscanf(line, "%llu %*u %u:%u", &id, &a, &b) == 3 && id == sx.stx_mnt_id) {
                match = a == maj && b == min;
                break;
            }
            line = strchr(line, '\n');
            line = line != NULL ? line + 1 : NULL;
        }
    }
    cs_buf_cleanup(&info);
    cs_err_clear();
    return match;
}

static consort_err open_by_path(const scan_obj *o, int *out)
{
    cs_slice p = o->path;
    cs_slice del = CS_SLICE_LIT(DELETED_SUFFIX);
    bool deleted = p.len >= del.len && memcmp(p.ptr + p.len - del.len, del.ptr, del.len) == 0;
    CS_ENSURE(p.len > 0 && p.ptr[0] == '/' && !deleted && p.len < 4096, CONSORT_E_ATTESTATION,
              "code id: %.*s (device %02x:%02x, inode %llu) cannot be opened by its path, and "
              "/proc/self/map_files could not be opened (it needs CAP_SYS_ADMIN or "
              "CAP_CHECKPOINT_RESTORE): what is mapped cannot be verified",
              SHOWN(p), o->maj, o->min, (unsigned long long)o->ino);
    char path[4096];
    memcpy(path, p.ptr, p.len);
    path[p.len] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CS_ENSURE(fd >= 0, cs_errno_code(errno),
              "code id: cannot open %s (mapped as device %02x:%02x, "
              "inode %llu): %s",
              path, o->maj, o->min, (unsigned long long)o->ino, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cs_fail(cs_errno_code(e), "code id: fstat %s: %s", path, strerror(e));
    }
    bool same_dev = (major(st.st_dev) == o->maj && minor(st.st_dev) == o->min) ||
                    mount_dev_is(fd, o->maj, o->min);
    if (st.st_ino != o->ino || !same_dev) {
        close(fd);
        return cs_fail(
            CONSORT_E_ATTESTATION,
            "code id: %s is mapped from device %02x:%02x inode %llu, but the file at that "
            "path is device %02x:%02x inode %llu: it is not the file that was loaded "
            "(replaced since?)",
            path, o->maj, o->min, (unsigned long long)o->ino, major(st.st_dev), minor(st.st_dev),
            (unsigned long long)st.st_ino);
    }
    *out = fd;
    return CONSORT_OK;
}

/* Opens the file mapped as `o`: through map_files if it can, else by path with
 * the inode check (code_id_maps.h). */
static consort_err open_mapped(const cs_code_measure *m, const scan_obj *o, int *out)
{
    const char *dir = m->opts.map_files_dir != NULL ? m->opts.map_files_dir : DEFAULT_MAP_FILES;
    if (dir[0] != '\0') {
        char link[4200];
        int n = snprintf(link, sizeof link, "%s/%.*s", dir, (int)o->range.len,
                         (const char *)o->range.ptr);
        int fd = n > 0 && (size_t)n < sizeof link ? open(link, O_RDONLY | O_CLOEXEC) : -1;
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == o->ino) {
            /* the kernel named the mapped file itself (its stat device may be a
             * btrfs subvolume's, not the superblock's that maps prints) */
            *out = fd;
            return CONSORT_OK;
        }
        if (fd >= 0)
            close(fd);
    }
    return open_by_path(o, out);
}

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* SHA-256 of the file mapped as `o`; the file must not change while it is read.
 * A sealed memfd whose digest the caller knows is not opened (code_id_maps.h). */
static consort_err hash_mapped(const cs_code_measure *m, const scan_obj *o, uint8_t digest[32])
{
    if (m->opts.sealed_digest != NULL &&
        m->opts.sealed_digest((uint64_t)makedev(o->maj, o->min), o->ino, digest))
        return CONSORT_OK;
    int fd = -1;
    CS_TRY(open_mapped(m, o, &fd));
    char name[CS_CODE_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)o->path.len, (const char *)o->path.ptr);
    struct stat before, after;
    consort_err rc = CONSORT_OK;
    if (fstat(fd, &before) != 0)
        rc = cs_fail(cs_errno_code(errno), "code id: fstat %s: %s", name, strerror(errno));
    if (rc == CONSORT_OK)
        rc = cs_code_id_fd_digest(fd, name, digest);
    if (rc == CONSORT_OK && fstat(fd, &after) != 0)
        rc = cs_fail(cs_errno_code(errno), "code id: fstat %s: %s", name, strerror(errno));
    if (rc == CONSORT_OK && !same_version(&before, &after))
        rc = cs_fail(CONSORT_E_ATTESTATION, "code id: %s changed while it was measured", name);
    close(fd);
    return rc;
}

/* ---- the measurement and the re-scan ---- */

void cs_code_measure_init(cs_code_measure *m)
{
    memset(m, 0, sizeof *m);
    cs_buf_init(&m->maps, CS_CODE_MAPS_MAX);
}

void cs_code_measure_cleanup(cs_code_measure *m)
{
    cs_free(m->objects);
    cs_buf_cleanup(&m->maps);
    memset(m, 0, sizeof *m);
}

static bool is_dev(uint64_t dev, uint64_t ino, const scan_obj *o)
{
    return ino == o->ino && major(dev) == o->maj && minor(dev) == o->min;
}

static void fill_object(cs_code_object *dst, cs_code_kind kind, const scan_obj *o,
                        const uint8_t digest[32])
{
    memset(dst, 0, sizeof *dst);
    dst->kind = kind;
    dst->dev_major = o->maj;
    dst->dev_minor = o->min;
    dst->ino = o->ino;
    memcpy(dst->ranges, o->ranges, 32);
    memcpy(dst->digest, digest, 32);
    snprintf(dst->name, sizeof dst->name, "%.*s", (int)o->path.len, (const char *)o->path.ptr);
}

static consort_err measure_objects(cs_code_measure *m, const scan *sc, const struct stat *exe)
{
    const cs_code_measure_opts *o = &m->opts;
    m->objects = cs_calloc(sc->count + 1, sizeof *m->objects);
    CS_ENSURE(m->objects != NULL, CONSORT_E_NOMEM, "code id: out of memory");
    bool exe_seen = false, module_seen = false;
    for (size_t i = 0; i < sc->count; i++) {
        const scan_obj *so = &sc->objs[i];
        uint8_t digest[32];
        cs_code_kind kind = CS_CODE_LIBRARY;
        if (o->has_module && is_dev(o->module_dev, o->module_ino, so)) {
            kind = CS_CODE_MODULE; /* hashed by the loader: the sealed bytes it loaded */
            memcpy(digest, o->module_digest, 32);
            module_seen = true;
        } else {
            if (is_dev(exe->st_dev, exe->st_ino, so)) {
                kind = CS_CODE_EXECUTABLE;
                exe_seen = true;
            }
            CS_TRY(hash_mapped(m, so, digest));
        }
        fill_object(&m->objects[m->count++], kind, so, digest);
    }
    CS_ENSURE(
        exe_seen, CONSORT_E_ATTESTATION,
        "code id: the main executable (device %02x:%02x, inode %llu) is not mapped executable",
        major(exe->st_dev), minor(exe->st_dev), (unsigned long long)exe->st_ino);
    CS_ENSURE(module_seen || !o->has_module, CONSORT_E_ATTESTATION,
              "code id: the application module (device %02x:%02x, inode %llu) is not mapped "
              "executable",
              major(o->module_dev), minor(o->module_dev), (unsigned long long)o->module_ino);
    return CONSORT_OK;
}

static consort_err combine(cs_code_measure *m)
{
    const uint8_t *exe = NULL, *module = NULL;
    uint8_t(*libs)[32] = cs_calloc(m->count + 1, 32);
    CS_ENSURE(libs != NULL, CONSORT_E_NOMEM, "code id: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++) {
        const cs_code_object *ob = &m->objects[i];
        if (ob->kind == CS_CODE_EXECUTABLE)
            exe = ob->digest;
        else if (ob->kind == CS_CODE_MODULE)
            module = ob->digest;
        else
            memcpy(libs[n++], ob->digest, 32);
    }
    cs_code_id_combine(exe, module, (const uint8_t(*)[32])libs, n, m->code_id);
    cs_free(libs);
    return CONSORT_OK;
}

consort_err cs_code_measure_take(cs_code_measure *m, const cs_code_measure_opts *o)
{
    cs_code_measure_cleanup(m);
    cs_code_measure_init(m);
    m->opts = *o;
    const char *exe_path = o->exe_path != NULL ? o->exe_path : DEFAULT_EXE;
    struct stat exe;
    CS_ENSURE(stat(exe_path, &exe) == 0, cs_errno_code(errno), "code id: stat %s: %s", exe_path,
              strerror(errno));
    scan sc;
    CS_TRY(scan_maps(m, &sc));
    consort_err rc = measure_objects(m, &sc, &exe);
    if (rc == CONSORT_OK)
        rc = combine(m);
    if (rc == CONSORT_OK) {
        m->measured = m->count;
        memcpy(m->seen, sc.set, 32);
    }
    scan_cleanup(&sc);
    if (rc != CONSORT_OK) {
        cs_code_measure_cleanup(m);
        cs_code_measure_init(m);
        m->opts = *o;
    }
    return rc;
}

static cs_code_object *find_object(cs_code_measure *m, const scan_obj *so)
{
    for (size_t i = 0; i < m->count; i++) {
        cs_code_object *ob = &m->objects[i];
        if (ob->ino == so->ino && ob->dev_major == so->maj && ob->dev_minor == so->min)
            return ob;
    }
    return NULL;
}

static bool digest_measured(const cs_code_measure *m, const uint8_t digest[32])
{
    for (size_t i = 0; i < m->measured; i++)
        if (memcmp(m->objects[i].digest, digest, 32) == 0)
            return true;
    return false;
}

/* One object whose (device, inode, ranges) the last good scan did not see. */
static consort_err check_object(cs_code_measure *m, const scan_obj *so)
{
    cs_code_object *ob = find_object(m, so);
    if (ob != NULL && memcmp(ob->ranges, so->ranges, 32) == 0)
        return CONSORT_OK;
    if (ob != NULL && ob->kind == CS_CODE_MODULE) {
        memcpy(ob->ranges, so->ranges, 32); /* a sealed memfd: its bytes cannot change */
        return CONSORT_OK;
    }
    uint8_t digest[32];
    CS_TRY(hash_mapped(m, so, digest));
    if (ob != NULL) {
        CS_ENSURE(memcmp(ob->digest, digest, 32) == 0, CONSORT_E_ATTESTATION,
                  "code id: %.*s (device %02x:%02x, inode %llu) was mapped again with other "
                  "contents than were measured",
                  SHOWN(so->path), so->maj, so->min, (unsigned long long)so->ino);
        memcpy(ob->ranges, so->ranges, 32);
        return CONSORT_OK;
    }
    CS_ENSURE(
        digest_measured(m, digest), CONSORT_E_ATTESTATION,
        "code id: %.*s (device %02x:%02x, inode %llu) was mapped executable after the code id "
        "was measured, and the code id does not cover it",
        SHOWN(so->path), so->maj, so->min, (unsigned long long)so->ino);
    CS_ENSURE(m->count < CS_CODE_MAX_OBJECTS, CONSORT_E_TOO_LARGE,
              "code id: more than %d executable objects mapped", CS_CODE_MAX_OBJECTS);
    cs_code_object *grown = cs_realloc(m->objects, (m->count + 1) * sizeof *grown);
    CS_ENSURE(grown != NULL, CONSORT_E_NOMEM, "code id: out of memory");
    m->objects = grown;
    fill_object(&m->objects[m->count], CS_CODE_LIBRARY, so, digest);
    m->objects[m->count++].later = true;
    return CONSORT_OK;
}

consort_err cs_code_measure_check(cs_code_measure *m)
{
    CS_ENSURE(m->measured > 0, CONSORT_E_STATE, "code id: nothing was measured");
    scan sc;
    CS_TRY(scan_maps(m, &sc));
    m->scans++;
    consort_err rc = CONSORT_OK;
    if (memcmp(sc.set, m->seen, 32) == 0) {
        m->unchanged++;
    } else {
        for (size_t i = 0; i < sc.count && rc == CONSORT_OK; i++)
            rc = check_object(m, &sc.objs[i]);
        if (rc == CONSORT_OK)
            memcpy(m->seen, sc.set, 32);
    }
    scan_cleanup(&sc);
    return rc;
}
