/*
 * Driving a migration (docs/migration.md §5, §7): `consort migrate` and
 * `consort sandbox migrate` relay the protocol's messages between the
 * source's and the destination's consortd (one process per step, each
 * idempotent) and copy the node's host storage. Run again after a crash of
 * either side or of the driver, it finishes what was started.
 */
#ifndef CS_CLI_MIGRATE_DRIVE_H
#define CS_CLI_MIGRATE_DRIVE_H

#include "base/err.h"

#include <stdio.h>

#define CS_MIGRATE_PATH_MAX 4096

typedef struct cs_migrate_drive {
    const char *consortd; /* the node binary (both sides run the same one here) */
    const char *from;     /* the source's configuration file */
    const char *to;       /* the destination's */
    const char *work_dir; /* where the messages are kept */
    FILE *progress;       /* a line per step (NULL: quiet) */
} cs_migrate_drive;

/* What `consortd --migrate status` says of one side. */
typedef struct cs_migrate_side {
    char state[16];    /* live, frozen, retired, pending, none */
    char instance[33]; /* hex, "" if none yet */
    char peer[33];     /* retired: to whom; pending: from whom; else "" */
    char data_dir[CS_MIGRATE_PATH_MAX];
} cs_migrate_side;

CS_MUST_CHECK consort_err cs_migrate_status(const cs_migrate_drive *d, const char *config,
                                            cs_migrate_side *out);
/* Runs the protocol to its end; *src and *dst receive the final states. */
CS_MUST_CHECK consort_err cs_migrate_run(const cs_migrate_drive *d, cs_migrate_side *src,
                                         cs_migrate_side *dst);

#endif
