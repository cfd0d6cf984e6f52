/*
 * Code ids v2 for the virtual and tpm platforms (attest/code_id.h,
 * attest/code_id_maps.h): the formula against known answers computed
 * independently (Python's hashlib), the /proc/self/maps parser, the
 * measurement of this very process against an independent recomputation,
 * refusal of a mapping whose file is not the mapped one, the re-scan that
 * names a library loaded after the measurement, and the TCTI pin.
 */
#include "testutil.h"

#include "attest/code_id.h"
#include "attest/code_id_maps.h"
#include "attest/tpm_tcti.h"
#include "base/file.h"
#include "crypto/hash.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void write_tmp(char *path, cs_slice data)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cst_ok(cs_file_write_atomic(path, data, 0600));
}

static void hex32(const char *hex, uint8_t out[32])
{
    cs_buf b;
    cst_hex(hex, &b);
    assert_int_equal(b.len, 32);
    memcpy(out, b.ptr, 32);
    cs_buf_cleanup(&b);
}

/* ---- the formula ---- */

static void v2_formula_known_answers(void **state)
{
    (void)state;
    uint8_t e[32], m[32], a[32], b[32], got[32], want[32];
    /* python3: sha256(b"consort code id v2" + sha256(b"") + bytes(32) + sha256(b"")) */
    cs_sha256(CS_SLICE_EMPTY, e);
    cs_code_id_combine(e, NULL, NULL, 0, got);
    hex32("e986aeccceda3fe27c51d974343bf136d8299161189cc9481164d561501826f4", want);
    assert_memory_equal(got, want, 32);

    /* label || sha256(b"exe") || sha256(b"module") || sha256(sorted distinct {H(a), H(b)}) */
    cs_sha256(CS_SLICE_LIT("exe"), e);
    cs_sha256(CS_SLICE_LIT("module"), m);
    cs_sha256(CS_SLICE_LIT("a"), a);
    cs_sha256(CS_SLICE_LIT("b"), b);
    hex32("b8cbd526268705062a0b86bffee711b85b9850707a90b996ad50a2dd42e906e2", want);
    uint8_t libs[3][32];
    memcpy(libs[0], b, 32);
    memcpy(libs[1], a, 32);
    memcpy(libs[2], b, 32); /* the same library twice counts once */
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 3, got);
    assert_memory_equal(got, want, 32);
    /* the order of the libraries does not matter */
    memcpy(libs[0], a, 32);
    memcpy(libs[1], b, 32);
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 2, got);
    assert_memory_equal(got, want, 32);
    /* the input is not changed */
    assert_memory_equal(libs[0], a, 32);
}

static void v2_changes_with_every_part(void **state)
{
    (void)state;
    uint8_t e[32], m[32], libs[24][32], base[32], got[32];
    cs_sha256(CS_SLICE_LIT("consortd"), e);
    cs_sha256(CS_SLICE_LIT("logging.so"), m);
    for (uint8_t i = 0; i < 24; i++)
        cs_sha256(CS_SLICE(&i, 1), libs[i]);
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 24, base);
    /* any one bit of any one library's digest */
    for (size_t i = 0; i < 24; i++) {
        for (size_t bit = 0; bit < 256; bit += 37) {
            libs[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 24, got);
            assert_memory_not_equal(got, base, 32);
            libs[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 24, got);
    assert_memory_equal(got, base, 32);
    /* one library more, or one less */
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 23, got);
    assert_memory_not_equal(got, base, 32);
    /* the executable, the module, no module */
    e[0] ^= 1;
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 24, got);
    assert_memory_not_equal(got, base, 32);
    e[0] ^= 1;
    m[31] ^= 0x80;
    cs_code_id_combine(e, m, (const uint8_t(*)[32])libs, 24, got);
    assert_memory_not_equal(got, base, 32);
    m[31] ^= 0x80;
    cs_code_id_combine(e, NULL, (const uint8_t(*)[32])libs, 24, got);
    assert_memory_not_equal(got, base, 32);
    /* a digest moved from the libraries to the module slot is another code id */
    uint8_t moved[32];
    cs_code_id_combine(e, libs[23], (const uint8_t(*)[32])libs, 23, moved);
    cs_code_id_combine(e, NULL, (const uint8_t(*)[32])libs, 24, got);
    assert_memory_not_equal(got, moved, 32);
}

static void file_digests(void **state)
{
    (void)state;
    /* larger than one read chunk, to exercise the streaming */
    cs_buf bin;
    cs_buf_init(&bin, 0);
    for (uint32_t i = 0; i < 50000; i++)
        cst_ok(cs_buf_append_le32(&bin, i * 2654435761u));
    char path[] = "/tmp/cst-codeid-bin-XXXXXX";
    write_tmp(path, cs_buf_slice(&bin));
    uint8_t got[32], want[32];
    cs_sha256(cs_buf_slice(&bin), want);
    cst_ok(cs_code_id_file_digest(path, got));
    assert_memory_equal(got, want, 32);
    cst_fails(cs_code_id_file_digest("/nonexistent/consortd", got), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "/nonexistent/consortd"));
    cst_fails(cs_code_id_file_digest("/tmp", got), CONSORT_E_IO);
    unlink(path);
    cs_buf_cleanup(&bin);
}

/* ---- /proc/self/maps lines ---- */

static void maps_lines(void **state)
{
    (void)state;
    cs_code_mapping mp;
    cst_ok(cs_code_maps_parse_line(
        cs_slice_str("7fd7683d3000-7fd7683f9000 r-xp 00001000 fe:00 332383                     "
                     "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        &mp));
    assert_int_equal(mp.start, 0x7fd7683d3000ull);
    assert_int_equal(mp.end, 0x7fd7683f9000ull);
    assert_string_equal(mp.perms, "r-xp");
    assert_int_equal(mp.offset, 0x1000);
    assert_int_equal(mp.dev_major, 0xfe);
    assert_int_equal(mp.dev_minor, 0);
    assert_int_equal(mp.ino, 332383);
    assert_true(cs_slice_eq(mp.range, cs_slice_str("7fd7683d3000-7fd7683f9000")));
    assert_true(
        cs_slice_eq(mp.path, cs_slice_str("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")));
    /* a memfd (spaces in the name), a deleted file, a wide minor number */
    cst_ok(cs_code_maps_parse_line(
        cs_slice_str("7f0000000000-7f0000002000 r-xp 00000000 00:01 2049 /memfd:consort app "
                     "(deleted)"),
        &mp));
    assert_true(cs_slice_eq(mp.path, cs_slice_str("/memfd:consort app (deleted)")));
    cst_ok(cs_code_maps_parse_line(cs_slice_str("1000-2000 r--s 0 103:1a2 18446744073709551615 /x"),
                                   &mp));
    assert_int_equal(mp.dev_major, 0x103);
    assert_int_equal(mp.dev_minor, 0x1a2);
    assert_int_equal(mp.ino, UINT64_MAX);
    /* anonymous and special mappings */
    cst_ok(cs_code_maps_parse_line(cs_slice_str("ffffffffff600000-ffffffffff601000 --xp 00000000 "
                                                "00:00 0                  [vsyscall]"),
                                   &mp));
    assert_int_equal(mp.ino, 0);
    assert_true(cs_slice_eq(mp.path, cs_slice_str("[vsyscall]")));
    cst_ok(cs_code_maps_parse_line(cs_slice_str("55d0a000-55d0b000 rw-p 00000000 00:00 0"), &mp));
    assert_int_equal(mp.path.len, 0);

    static const char *const bad[] = {
        "",
        "7fd7683d3000 r-xp 00001000 fe:00 332383 /x",         /* no range */
        "7fd7683d3000-7fd7683d3000 r-xp 00001000 fe:00 1 /x", /* empty range */
        "2000-1000 r-xp 00001000 fe:00 1 /x",                 /* backwards */
        "1000-2000 rxp 00001000 fe:00 1 /x",                  /* short perms */
        "1000-2000 r-xq 00001000 fe:00 1 /x",                 /* bad perms */
        "1000-2000 r-xp 0000100g fe:00 1 /x",                 /* bad offset */
        "1000-2000 r-xp 00001000 fe00 1 /x",                  /* bad device */
        "1000-2000 r-xp 00001000 FE:00 1 /x",                 /* upper-case hex */
        "1000-2000 r-xp 00001000 fe:00 /x",                   /* no inode */
        "1000-2000 r-xp 00001000 fe:00 1x /x",                /* bad inode */
        "1000-2000 r-xp 00001000 fe:00 18446744073709551616", /* inode overflows */
        "10000000000000000-2 r-xp 0 fe:00 1",                 /* 17 hex digits */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++)
        cst_fails(cs_code_maps_parse_line(cs_slice_str(bad[i]), &mp), CONSORT_E_MALFORMED);
}

/* ---- this process ---- */

typedef struct indep_obj {
    unsigned maj, min;
    unsigned long long ino;
    char path[1024];
} indep_obj;

/* The code id of this process recomputed without code_id_maps.c: sscanf over
 * /proc/self/maps, every file hashed by its path. */
static void independent_code_id(uint8_t out[32], size_t *objects)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    static indep_obj objs[512];
    size_t n = 0;
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        char perms[8], path[1024] = "";
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(line, "%*x-%*x %7s %*x %x:%x %llu %1023[^\n]", perms, &maj, &min, &ino, path) <
                4 ||
            perms[2] != 'x' || ino == 0)
            continue;
        bool seen = false;
        for (size_t i = 0; i < n; i++)
            seen |= objs[i].maj == maj && objs[i].min == min && objs[i].ino == ino;
        if (seen)
            continue;
        assert_true(n < CS_ARRAY_LEN(objs));
        objs[n] = (indep_obj){.maj = maj, .min = min, .ino = ino};
        snprintf(objs[n].path, sizeof objs[n].path, "%s", path);
        n++;
    }
    fclose(f);
    struct stat exe;
    assert_int_equal(stat("/proc/self/exe", &exe), 0);
    uint8_t exe_digest[32];
    static uint8_t libs[512][32];
    size_t nlibs = 0;
    bool exe_found = false;
    for (size_t i = 0; i < n; i++) {
        if (objs[i].ino == exe.st_ino && objs[i].maj == major(exe.st_dev) &&
            objs[i].min == minor(exe.st_dev)) {
            cst_ok(cs_code_id_file_digest("/proc/self/exe", exe_digest));
            exe_found = true;
        } else {
            cst_ok(cs_code_id_file_digest(objs[i].path, libs[nlibs++]));
        }
    }
    assert_true(exe_found);
    cs_code_id_combine(exe_digest, NULL, (const uint8_t(*)[32])libs, nlibs, out);
    *objects = n;
}

static const cs_code_object *object_named(const cs_code_measure *m, const char *needle)
{
    for (size_t i = 0; i < m->count; i++)
        if (strstr(m->objects[i].name, needle) != NULL)
            return &m->objects[i];
    return NULL;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void measures_this_process(void **state)
{
    (void)state;
    cs_code_measure m;
    cs_code_measure_init(&m);
    const cs_code_measure_opts o = {0};
    double t0 = now_us();
    cst_ok(cs_code_measure_take(&m, &o));
    double t1 = now_us();
    uint8_t want[32];
    size_t objects;
    independent_code_id(want, &objects);
    assert_memory_equal(m.code_id, want, 32);
    assert_int_equal(m.count, objects);
    assert_int_equal(m.measured, objects);
    size_t exes = 0;
    for (size_t i = 0; i < m.count; i++)
        exes += m.objects[i].kind == CS_CODE_EXECUTABLE;
    assert_int_equal(exes, 1);
    /* the dynamic loader, libc and the libraries this test links are covered */
    assert_non_null(object_named(&m, "ld-linux"));
    assert_non_null(object_named(&m, "libc.so"));
    assert_non_null(object_named(&m, "libcrypto.so"));
    assert_int_equal(object_named(&m, "libcrypto.so")->kind, CS_CODE_LIBRARY);
    print_message("measured %zu objects in %.1f ms\n", m.count, (t1 - t0) / 1000);

    /* the same again, and by path and inode only (no /proc/self/map_files) */
    cs_code_measure again;
    cs_code_measure_init(&again);
    const cs_code_measure_opts by_path = {.map_files_dir = ""};
    cst_ok(cs_code_measure_take(&again, &by_path));
    assert_memory_equal(again.code_id, m.code_id, 32);
    cs_code_measure_cleanup(&again);

    /* nothing changed: every re-scan passes, reading /proc/self/maps only */
    enum { ROUNDS = 2000 };
    t0 = now_us();
    for (int i = 0; i < ROUNDS; i++)
        cst_ok(cs_code_measure_check(&m));
    t1 = now_us();
    assert_int_equal(m.scans, ROUNDS);
    assert_int_equal(m.unchanged, ROUNDS);
    double per = (t1 - t0) / ROUNDS;
    print_message("re-scan with nothing changed: %.1f us each (%zu objects)\n", per, m.count);
    assert_true(per < 5000); /* generous: a loaded 2-core machine, sanitizers */
    cs_code_measure_cleanup(&m);
    cst_fails(cs_code_measure_check(&m), CONSORT_E_STATE);
}

/* A library this process has not loaded: the first candidate that is not mapped. */
static const char *unloaded_library(void)
{
    static const char *const candidates[] = {"libz.so.1", "libtss2-tcti-mssim.so.0",
                                             "libtss2-tcti-cmd.so.0", "libm.so.6"};
    for (size_t i = 0; i < CS_ARRAY_LEN(candidates); i++) {
        void *dl = dlopen(candidates[i], RTLD_NOW | RTLD_NOLOAD);
        if (dl != NULL) {
            dlclose(dl);
            continue;
        }
        dl = dlopen(candidates[i], RTLD_NOW);
        if (dl != NULL) {
            dlclose(dl); /* it exists: unloaded again, so it is new to a measurement */
            return candidates[i];
        }
    }
    return NULL;
}

/* The path of the loaded object `dl` (dlinfo). */
static void loaded_path(void *dl, char *out, size_t n)
{
    struct link_map *lm = NULL;
    assert_int_equal(dlinfo(dl, RTLD_DI_LINKMAP, &lm), 0);
    snprintf(out, n, "%s", lm->l_name);
}

static void rescan_names_a_library_loaded_later(void **state)
{
    (void)state;
    const char *lib = unloaded_library();
    if (lib == NULL)
        cst_skip("no library left to load here");
    cs_code_measure m;
    cs_code_measure_init(&m);
    const cs_code_measure_opts o = {0};
    cst_ok(cs_code_measure_take(&m, &o));
    uint8_t measured[32];
    memcpy(measured, m.code_id, 32);
    cst_ok(cs_code_measure_check(&m));

    void *dl = dlopen(lib, RTLD_NOW);
    assert_non_null(dl);
    char path[1024];
    loaded_path(dl, path, sizeof path);
    cst_fails(cs_code_measure_check(&m), CONSORT_E_ATTESTATION);
    print_message("refused: %s\n", consort_errmsg());
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    assert_non_null(strstr(consort_errmsg(), base));
    assert_non_null(strstr(consort_errmsg(), "after the code id was measured"));
    /* it stays refused as long as it is mapped, and the code id is not changed */
    cst_fails(cs_code_measure_check(&m), CONSORT_E_ATTESTATION);
    assert_memory_equal(m.code_id, measured, 32);
    /* unloaded: what runs is what was measured again */
    assert_int_equal(dlclose(dl), 0);
    cst_ok(cs_code_measure_check(&m));
    cs_code_measure_cleanup(&m);
}

static void rescan_accepts_a_copy_of_a_measured_library(void **state)
{
    (void)state;
    const char *lib = unloaded_library();
    if (lib == NULL)
        cst_skip("no library left to load here");
    void *dl = dlopen(lib, RTLD_NOW);
    assert_non_null(dl);
    char path[1024];
    loaded_path(dl, path, sizeof path);
    cs_code_measure m;
    cs_code_measure_init(&m);
    const cs_code_measure_opts o = {0};
    cst_ok(cs_code_measure_take(&m, &o)); /* the library is part of the code id */
    size_t measured = m.count;

    /* the same bytes under another name and inode: no code the id does not name */
    char dir[] = "/tmp/cst-codeid-copy-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char copy[1100];
    snprintf(copy, sizeof copy, "%s/copy.so", dir);
    cs_buf bytes;
    cs_buf_init(&bytes, 0);
    cst_read_file(path, &bytes);
    cst_ok(cs_file_write_atomic(copy, cs_buf_slice(&bytes), 0755));
    void *dl2 = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl2);
    cst_ok(cs_code_measure_check(&m));
    assert_int_equal(m.count, measured + 1);
    assert_true(m.objects[measured].later);
    assert_int_equal(m.measured, measured);
    assert_int_equal(dlclose(dl2), 0);

    /* one byte appended: other contents, refused by name */
    cst_ok(cs_buf_append_u8(&bytes, 0));
    snprintf(copy, sizeof copy, "%s/changed.so", dir);
    cst_ok(cs_file_write_atomic(copy, cs_buf_slice(&bytes), 0755));
    dl2 = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl2);
    cst_fails(cs_code_measure_check(&m), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "changed.so"));
    assert_int_equal(dlclose(dl2), 0);
    cst_ok(cs_code_measure_check(&m));

    cs_buf_cleanup(&bytes);
    cs_code_measure_cleanup(&m);
    dlclose(dl);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- synthetic maps: files that are not the mapped ones ---- */

typedef struct synth {
    char dir[64];
    char exe[128], lib[128], maps[128];
    struct stat exe_st, lib_st;
} synth;

static void synth_setup(synth *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/cst-codeid-maps-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->exe, sizeof s->exe, "%s/consortd", s->dir);
    snprintf(s->lib, sizeof s->lib, "%s/libx.so", s->dir);
    snprintf(s->maps, sizeof s->maps, "%s/maps", s->dir);
    cst_ok(cs_file_write_atomic(s->exe, CS_SLICE_LIT("the executable"), 0755));
    cst_ok(cs_file_write_atomic(s->lib, CS_SLICE_LIT("a library"), 0755));
    assert_int_equal(stat(s->exe, &s->exe_st), 0);
    assert_int_equal(stat(s->lib, &s->lib_st), 0);
}

/* Writes the synthetic maps: the executable, then `extra` lines. */
static void synth_maps(const synth *s, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "00400000-00401000 r--p 00000000 %x:%x %llu %s\n"
             "00401000-00402000 r-xp 00001000 %x:%x %llu %s\n"
             "%s",
             major(s->exe_st.st_dev), minor(s->exe_st.st_dev), (unsigned long long)s->exe_st.st_ino,
             s->exe, major(s->exe_st.st_dev), minor(s->exe_st.st_dev),
             (unsigned long long)s->exe_st.st_ino, s->exe, extra);
    cst_ok(cs_file_write_atomic(s->maps, cs_slice_str(text), 0600));
}

static void synth_lib_line(const synth *s, char *out, size_t n, const char *range,
                           unsigned long long ino, const char *suffix)
{
    snprintf(out, n, "%s r-xp 00000000 %x:%x %llu %s%s\n", range, major(s->lib_st.st_dev),
             minor(s->lib_st.st_dev), ino, s->lib, suffix);
}

static void a_file_that_is_not_the_mapped_one_is_refused(void **state)
{
    (void)state;
    synth s;
    synth_setup(&s);
    const cs_code_measure_opts o = {.maps_path = s.maps, .exe_path = s.exe, .map_files_dir = ""};
    cs_code_measure m;
    cs_code_measure_init(&m);
    char line[512];

    /* the right inode: measured, and the code id is the formula's */
    synth_lib_line(&s, line, sizeof line, "7f0000001000-7f0000002000",
                   (unsigned long long)s.lib_st.st_ino, "");
    synth_maps(&s, line);
    cst_ok(cs_code_measure_take(&m, &o));
    uint8_t e[32], l[1][32], want[32];
    cs_sha256(CS_SLICE_LIT("the executable"), e);
    cs_sha256(CS_SLICE_LIT("a library"), l[0]);
    cs_code_id_combine(e, NULL, (const uint8_t(*)[32])l, 1, want);
    assert_memory_equal(m.code_id, want, 32);
    assert_int_equal(m.count, 2);

    /* the path now holds another file (another inode): the measurement is refused */
    synth_lib_line(&s, line, sizeof line, "7f0000001000-7f0000002000",
                   (unsigned long long)s.lib_st.st_ino + 1000, "");
    synth_maps(&s, line);
    cs_code_measure other;
    cs_code_measure_init(&other);
    cst_fails(cs_code_measure_take(&other, &o), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), s.lib));
    assert_non_null(strstr(consort_errmsg(), "not the file that was loaded"));
    assert_int_equal(other.measured, 0);

    /* and so is a re-scan in which a measured object was mapped again (new range)
     * while its path names another inode */
    char two[1024];
    synth_lib_line(&s, two, sizeof two, "7f0000001000-7f0000002000",
                   (unsigned long long)s.lib_st.st_ino, "");
    synth_maps(&s, two);
    cst_ok(cs_code_measure_check(&m));
    assert_int_equal(m.unchanged, 1);
    size_t used = strlen(two);
    synth_lib_line(&s, two + used, sizeof two - used, "7f0000005000-7f0000006000",
                   (unsigned long long)s.lib_st.st_ino, "");
    synth_maps(&s, two);
    cst_ok(cs_code_measure_check(&m)); /* same file, same bytes: a second range is fine */
    /* the replaced library stays open, as a mapped file would: its inode
     * number cannot be reused by a file created below (the measurement
     * would then take the synthetic line for that file) */
    int held = open(s.lib, O_RDONLY | O_CLOEXEC);
    assert_true(held >= 0);
    assert_int_equal(rename(s.exe, s.lib), 0); /* the path now names other bytes, other inode */
    synth_lib_line(&s, two + used, sizeof two - used, "7f0000009000-7f000000a000",
                   (unsigned long long)s.lib_st.st_ino, "");
    synth_maps(&s, two);
    cst_fails(cs_code_measure_check(&m), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), s.lib));

    /* a deleted file cannot be verified by path */
    cst_ok(cs_file_write_atomic(s.exe, CS_SLICE_LIT("the executable"), 0755));
    assert_int_equal(stat(s.exe, &s.exe_st), 0);
    synth_lib_line(&s, line, sizeof line, "7f0000001000-7f0000002000",
                   (unsigned long long)s.lib_st.st_ino, " (deleted)");
    synth_maps(&s, line);
    cst_fails(cs_code_measure_take(&other, &o), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "(deleted)"));

    /* anonymous executable memory cannot be measured; [vdso] and [vsyscall] are the kernel's */
    synth_maps(&s, "7f0000003000-7f0000004000 r-xp 00000000 00:00 0 [vdso]\n"
                   "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n");
    cst_ok(cs_code_measure_take(&other, &o));
    synth_maps(&s, "7f0000003000-7f0000004000 rwxp 00000000 00:00 0\n");
    cst_fails(cs_code_measure_take(&other, &o), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "anonymous executable memory"));

    /* the executable must be among the mappings; a malformed line is an error */
    cst_ok(cs_file_write_atomic(s.maps,
                                CS_SLICE_LIT("7f0000003000-7f0000004000 r-xp 0 0:0 0 "
                                             "[vdso]\n"),
                                0600));
    cst_fails(cs_code_measure_take(&other, &o), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "main executable"));
    cst_ok(cs_file_write_atomic(s.maps, CS_SLICE_LIT("garbage\n"), 0600));
    cst_fails(cs_code_measure_take(&other, &o), CONSORT_E_MALFORMED);

    cs_code_measure_cleanup(&other);
    cs_code_measure_cleanup(&m);
    close(held);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s.dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the TCTI the tpm platform loads ---- */

static void tcti_pin(void **state)
{
    (void)state;
    char loaded[256];
    cst_fails(cs_tpm_tcti_pin("", loaded, sizeof loaded), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tpm_tcti_pin(":/dev/tpmrm0", loaded, sizeof loaded), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tpm_tcti_pin("no-such-tcti:x", loaded, sizeof loaded), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "libtss2-tcti-no-such-tcti.so.0"));
    void *dl = dlopen("libtss2-tcti-device.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (dl != NULL)
        dlclose(dl);
    dl = dlopen("libtss2-tcti-device.so.0", RTLD_NOW);
    if (dl == NULL)
        cst_skip("tss2's device TCTI is not installed (libtss2-dev)");
    dlclose(dl);
    cst_ok(cs_tpm_tcti_pin("device:/dev/tpmrm0", loaded, sizeof loaded));
    assert_string_equal(loaded, "libtss2-tcti-device.so.0");
    /* it stays loaded after every handle is closed (as tss2 closes its own) */
    dl = dlopen("libtss2-tcti-device.so.0", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    dlclose(dl);
    dl = dlopen("libtss2-tcti-device.so.0", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    dlclose(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v2_formula_known_answers),
        cmocka_unit_test(v2_changes_with_every_part),
        cmocka_unit_test(file_digests),
        cmocka_unit_test(maps_lines),
        cmocka_unit_test(measures_this_process),
        cmocka_unit_test(rescan_names_a_library_loaded_later),
        cmocka_unit_test(rescan_accepts_a_copy_of_a_measured_library),
        cmocka_unit_test(a_file_that_is_not_the_mapped_one_is_refused),
        cmocka_unit_test(tcti_pin),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
