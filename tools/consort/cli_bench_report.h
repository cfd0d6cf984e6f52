/*
 * The report of `consort bench` (cmd_bench.c): the figures of a load
 * (cli_load.h) as text or one JSON object on stdout, and the verdict.
 * docs/operating.md "Measuring a deployment" describes both.
 */
#ifndef CS_CLI_BENCH_REPORT_H
#define CS_CLI_BENCH_REPORT_H

#include "cli.h"
#include "cli_https.h"
#include "cli_load.h"

/* What was asked for (borrowed). */
typedef struct cs_cli_bench_setup {
    const char *method, *path;
    const char (*nodes)[CS_CLI_HTTPS_ADDRESS_MAX];
    size_t node_count;
    unsigned connections;
    double rate, warmup; /* rate 0: closed loop */
    uint64_t first;      /* of {n} */
    bool json;
} cs_cli_bench_setup;

/*
 * Prints the report of `r` and returns the exit status: CS_EXIT_OK if the
 * load got answers and every one, warm-up included, was 2xx; else
 * CS_EXIT_REJECTED after the report, with the first error on stderr. A 404
 * before any 2xx (r->not_found) prints no report, only the hint to give
 * the application's endpoint.
 */
int cs_cli_bench_report(const cs_cli_verb *verb, const cs_cli_bench_setup *a,
                        const cs_cli_load_result *r);

#endif
