/*
 * A real swtpm (TPM 2.0 emulator) process for tests.
 *
 *   cst_swtpm t;
 *   cst_swtpm_start(&t);       skips the test (cmocka skip()) ONLY if the swtpm
 *                              binary is missing; any other failure fails it
 *   ... opts.tcti = t.tcti ...
 *   cst_swtpm_stop(&t);        SIGTERM, wait, remove the state directory
 *
 * swtpm runs as
 *   swtpm socket --tpm2 --server type=tcp,port=P --ctrl type=tcp,port=P+1
 *         --tpmstate dir=<fresh temporary directory> --flags not-need-init,startup-clear
 * on loopback ports chosen at random (retried on a collision), with a fresh
 * TPM state each time. The child dies with the test process (PR_SET_PDEATHSIG).
 * The binary is $CONSORT_SWTPM if set, else "swtpm" on PATH.
 */
#ifndef CONSORT_TEST_SWTPM_H
#define CONSORT_TEST_SWTPM_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct cst_swtpm {
    pid_t pid;     /* 0 when not running */
    int port;      /* TPM command port; the control port is port + 1 */
    char dir[128]; /* TPM state directory */
    char tcti[96]; /* "swtpm:host=127.0.0.1,port=P" for Tss2_TctiLdr_Initialize */
} cst_swtpm;

/* The swtpm binary to run, or NULL if none is installed. */
const char *cst_swtpm_binary(void);
void cst_swtpm_start(cst_swtpm *t);
/* Idempotent; safe on a never-started (zeroed) struct. */
void cst_swtpm_stop(cst_swtpm *t);

#endif
