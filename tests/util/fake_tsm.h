/*
 * An in-memory model of Linux's configfs-tsm report interface, behind the
 * cs_tsm_ops seam of src/attest/tsm.h. It follows
 * drivers/virt/coco/guest/report.c and fs/configfs/file.c as documented in
 * Documentation/ABI/testing/configfs-tsm-report:
 *
 *   - mkdir <root>/<name> creates an instance with generation 0; ENOENT when
 *     configfs-tsm is not "mounted", ENXIO when no provider is registered;
 *   - every write to inblob or privlevel increments the generation; inblob
 *     takes at most 64 bytes (EFBIG) and is committed at close, so its other
 *     errors are never reported to the writer;
 *   - privlevel is text ("%u\n"), accepted in privlevel_floor..3 (EINVAL);
 *     privlevel, privlevel_floor and auxblob exist only when `snp` is set
 *     (as for sev_guest; tdx_guest has neither);
 *   - reading outblob or auxblob generates the report once per generation
 *     (EINVAL without an inblob; with `snp` the inblob must be 64 bytes);
 *     the report is `report` with the inblob copied to `report_data_at`, so
 *     writing a sample's own report data reproduces the sample byte for byte;
 *   - read-only attributes refuse writes and write-only ones reads (EACCES).
 *
 * The "interleaved writer" is another process writing its own inblob into
 * our instance, either right after our inblob write or right after our
 * outblob read, `interleave_times` times in all.
 *
 * Blobs live on the libc heap, out of sight of the counting allocator.
 */
#ifndef CONSORT_FAKE_TSM_H
#define CONSORT_FAKE_TSM_H

#include "attest/tsm.h"

#define CST_FAKE_TSM_ROOT  "/sys/kernel/config/tsm/report"
#define CST_FAKE_TSM_SLOTS 4
/* report_data_at value: hand out `report` unchanged, whatever the inblob. */
#define CST_FAKE_TSM_NO_PATCH ((size_t)-1)

typedef enum cst_interleave {
    CST_INTERLEAVE_NONE,
    CST_INTERLEAVE_BEFORE_OUTBLOB, /* right after our inblob write */
    CST_INTERLEAVE_AFTER_OUTBLOB,  /* right after our outblob read */
} cst_interleave;

typedef struct cst_fake_tsm_entry {
    bool used;
    char name[128];
    uint8_t inblob[64];
    size_t inblob_len;
    unsigned privlevel;
    unsigned long write_gen, read_gen;
    bool generated;
    uint8_t *outblob, *auxblob;
    size_t outblob_len, auxblob_len;
} cst_fake_tsm_entry;

typedef struct cst_fake_tsm {
    /* configuration (cst_fake_tsm_init: mounted, nothing else) */
    bool mounted;
    const char *provider; /* "sev_guest", "tdx_guest", ...; NULL: none registered */
    bool snp;             /* privlevel, privlevel_floor and auxblob exist */
    unsigned privlevel_floor;
    cs_slice report;       /* borrowed: the sample report or quote */
    size_t report_data_at; /* where the inblob goes into it */
    cs_slice auxblob;      /* borrowed */
    cst_interleave interleave;
    unsigned interleave_times;
    /* state, and what a test can check */
    cst_fake_tsm_entry slots[CST_FAKE_TSM_SLOTS];
    unsigned mkdirs, rmdirs, generations, inblob_writes, privlevel_writes;
    uint8_t last_inblob[64];
    unsigned last_privlevel;
    cs_tsm_ops ops; /* the seam, pointing at this model */
} cst_fake_tsm;

void cst_fake_tsm_init(cst_fake_tsm *f);
/* Frees the blobs of instances still present. */
void cst_fake_tsm_cleanup(cst_fake_tsm *f);
/* Instances currently present (0 after a well-behaved attester). */
size_t cst_fake_tsm_live(const cst_fake_tsm *f);

#endif
