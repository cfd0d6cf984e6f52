/*
 * What phase.c (connections, timers, the phase's states) and traffic.c
 * (requests, responses, counting) share. One svc_phase lives for one call
 * of svc_phase_run, on its own libuv loop.
 */
#ifndef BENCH_SERVICE_PHASE_PRIV_H
#define BENCH_SERVICE_PHASE_PRIV_H

#include "svcbench.h"

#include "net/http_client.h"

#include <uv.h>

typedef enum svc_state {
    SVC_ST_CONNECTING,
    SVC_ST_WARMUP,
    SVC_ST_MEASURE,
    SVC_ST_DRAIN,
    SVC_ST_DONE
} svc_state;

typedef struct svc_slot {
    struct svc_conn *conn;
    uint64_t start_ns;
    struct svc_slot *next_free;
} svc_slot;

typedef struct svc_conn {
    struct svc_phase *ph;
    cs_http_client *http;
    const char *address;
    unsigned inflight;
    bool dead;
    svc_slot *free_slots;
} svc_conn;

typedef struct svc_phase {
    uv_loop_t loop;
    uv_timer_t timer;
    svc_target *t;
    svc_workload w;
    const svc_params *p;
    svc_result *out;
    svc_conn *conns;
    svc_slot *slots;
    unsigned connected, alive;
    uint64_t inflight;
    svc_state st;
    uint64_t t0_ns;
    svc_cpu cpu0;
    uint64_t fill_next, fill_done;
    uint64_t rng;
    svc_request req;
    consort_err rc; /* why the phase could not run */
    char why[CS_ERRMSG_MAX];
} svc_phase;

/* Ends the phase: frees every client (their pending callbacks run now and
 * are ignored) and closes the timer; uv_run returns once streams are closed. */
void svc_phase_finish(svc_phase *ph);
/* Records why the phase could not run (the first reason wins) and ends it. */
void svc_phase_fail(svc_phase *ph, consort_err rc, const char *what);
/* Keeps the first failure's description in the result. */
void svc_phase_note_error(svc_phase *ph, const char *fmt, ...) CS_PRINTF(2, 3);
/* Sends requests on `c` until `depth` are in flight or the phase says stop. */
void svc_traffic_fill(svc_phase *ph, svc_conn *c);

#endif
