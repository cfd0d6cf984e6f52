/*
 * Measuring this process's code for code id v2 (code_id.h): every
 * executable mapping that /proc/self/maps lists (proc(5)), each distinct
 * file hashed once, and a re-scan that fails closed when the process maps
 * code the measurement does not describe.
 *
 * Which file is hashed: the one the kernel mapped. Each object is opened
 * through /proc/self/map_files/<start>-<end>, which names the mapped inode
 * even if its path was replaced or deleted (opening it needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE); otherwise by the path /proc/self/maps prints,
 * and then the opened file's inode and device must be the mapping's (the
 * device as stat(2) or as the mount's superblock reports it, for
 * filesystems such as btrfs whose stat device is per subvolume). Anything
 * else (a replaced or deleted file, an overlay path whose inode is not the
 * mapped one) is a hard error naming the file. A file whose size, mtime or
 * ctime changes while it is hashed is an error too.
 *
 * Anonymous executable memory cannot be named by a digest: any executable
 * mapping without a file other than [vdso] and [vsyscall] makes the
 * measurement (and every re-scan) fail.
 *
 * The application module is not hashed here: the loader (node/app_host.h)
 * hashed the sealed memfd it loaded; the caller passes that digest and the
 * memfd's device and inode, by which its mapping is recognised.
 *
 * Not covered, by construction: what a root host does to the running
 * process (ptrace, /proc/<pid>/mem, writing a mapped file in place). See
 * docs/attestation.md "What a code id covers, per platform".
 */
#ifndef CS_ATTEST_CODE_ID_MAPS_H
#define CS_ATTEST_CODE_ID_MAPS_H

#include "attest/code_id.h"

/* Bytes of /proc/self/maps read at most (tens of KiB for a node). */
#define CS_CODE_MAPS_MAX ((size_t)8 << 20)
/* Distinct executable objects at most. */
#define CS_CODE_MAX_OBJECTS 1024
/* A path as kept for messages (longer ones are truncated there). */
#define CS_CODE_NAME_MAX 256

/* One line of /proc/<pid>/maps. Slices borrow from the line. */
typedef struct cs_code_mapping {
    uint64_t start, end;
    char perms[5]; /* "r-xp" */
    uint64_t offset;
    uint32_t dev_major, dev_minor;
    uint64_t ino;   /* 0: anonymous */
    cs_slice range; /* "start-end" as printed: the name under /proc/self/map_files */
    cs_slice path;  /* the rest of the line, leading blanks skipped: "", "[vdso]",
                       "/usr/lib/x.so", "/x.so (deleted)", "/memfd:name (deleted)" */
} cs_code_mapping;

/*
 * Parses one line (without its newline): "start-end perms offset
 * major:minor inode [path]", numbers in hex except the decimal inode.
 * MALFORMED naming the field for anything else.
 */
CS_MUST_CHECK consort_err cs_code_maps_parse_line(cs_slice line, cs_code_mapping *out);

typedef enum cs_code_kind {
    CS_CODE_EXECUTABLE = 1, /* the main executable (/proc/self/exe) */
    CS_CODE_MODULE = 2,     /* the application module's sealed memfd */
    CS_CODE_LIBRARY = 3,    /* everything else: ld.so, shared libraries, TCTIs */
} cs_code_kind;

/* One distinct executable object of the process. */
typedef struct cs_code_object {
    cs_code_kind kind;
    uint32_t dev_major, dev_minor;
    uint64_t ino;
    uint8_t ranges[32]; /* SHA-256 over its executable ranges (start, end, offset) */
    uint8_t digest[32]; /* SHA-256 of the whole file (the module: of the bytes loaded) */
    bool later;         /* mapped after the measurement, with a digest it already had */
    char name[CS_CODE_NAME_MAX];
} cs_code_object;

typedef struct cs_code_measure_opts {
    const char *maps_path;     /* NULL: "/proc/self/maps" (tests give a file) */
    const char *map_files_dir; /* NULL: "/proc/self/map_files"; "": paths and inodes only */
    const char *exe_path;      /* NULL: "/proc/self/exe": names the main executable */
    bool has_module;
    uint64_t module_dev; /* st_dev and st_ino of the module's memfd */
    uint64_t module_ino;
    uint8_t module_digest[32];
    /* Optional: true (with its digest) if (dev, ino) is a sealed memfd this
     * process loaded code from, whose bytes were hashed when sealed (another
     * node's module in a test process); such an object is not opened. */
    bool (*sealed_digest)(uint64_t dev, uint64_t ino, uint8_t digest[32]);
} cs_code_measure_opts;

/* A measurement and the state its re-scans keep. Embed it; not thread-safe. */
typedef struct cs_code_measure {
    cs_code_measure_opts opts; /* copied; its strings are borrowed */
    cs_code_object *objects;   /* the measured ones first, then `later` ones */
    size_t count;
    size_t measured; /* objects in the code id */
    uint8_t code_id[CS_CODE_ID_LEN];
    uint8_t seen[32]; /* digest of the (device, inode, ranges) set at the last good scan */
    cs_buf maps;      /* the last /proc/self/maps read (reused) */
    uint64_t scans;   /* re-scans done, and how many found the set unchanged */
    uint64_t unchanged;
} cs_code_measure;

void cs_code_measure_init(cs_code_measure *m);
void cs_code_measure_cleanup(cs_code_measure *m);

/*
 * Measures the process now: m->code_id and m->objects. Call it once, after
 * the module is loaded and everything the process would load lazily was
 * loaded (node/node_code.h). Errors: ATTESTATION naming the object (a file
 * not the mapped one, anonymous executable memory, a file changing while
 * hashed, the executable or the module not mapped), IO / NOT_FOUND reading
 * a file, TOO_LARGE (more than CS_CODE_MAX_OBJECTS objects or
 * CS_CODE_MAPS_MAX bytes of maps), MALFORMED maps, NOMEM. On failure `m`
 * holds no measurement.
 */
CS_MUST_CHECK consort_err cs_code_measure_take(cs_code_measure *m, const cs_code_measure_opts *o);

/*
 * Re-scans the executable mappings: CONSORT_OK iff every executable object
 * mapped now was measured, or is a file whose digest was (a library unloaded
 * and loaded again, a copy). Only objects whose (device, inode, ranges) is
 * new or changed are opened and hashed; when nothing changed it reads
 * /proc/self/maps and nothing else. Errors: ATTESTATION naming the new or
 * changed object ("... mapped after the code id was measured ..."), and
 * those of cs_code_measure_take. STATE without a measurement.
 */
CS_MUST_CHECK consort_err cs_code_measure_check(cs_code_measure *m);

#endif
