/*
 * bench_raft: commits per second of 3 Raft voters on loopback, each voter on
 * its own thread and libuv loop, one client on the leader keeping a fixed
 * number of entries in flight. Two transports, measured in the same run:
 *   bare     libraft's own TCP transport (raft_uv_tcp_init): the ceiling;
 *   consort  src/consensus (cs_consensus, stream transport with its
 *            socketpair bridges) over plain TCP streams (src/net/tcp.h).
 * Both use libraft's uv I/O with fsync'd logs in a temporary directory and
 * libraft's default timeouts and snapshot settings.
 */
#ifndef BENCH_RAFT_H
#define BENCH_RAFT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_NODES 3

typedef struct bench_shared {
    size_t entry_len;
    unsigned in_flight;
    char root[256]; /* data directories live below */
    char address[BENCH_NODES][32];
    _Atomic uint64_t commits;  /* entries committed and applied on the leader */
    _Atomic uint64_t failures; /* submissions that failed (leadership changes) */
    _Atomic int stop;
    _Atomic int errors; /* set when a node could not start */
} bench_shared;

typedef struct bench_node {
    unsigned idx;
    uint64_t id; /* idx + 1 */
    bench_shared *sh;
    pthread_t thread;
    char dir[320];
} bench_node;

/* Thread bodies: run one voter until sh->stop, then close it cleanly. */
void *bench_bare_node(void *arg);
void *bench_consort_node(void *arg);

/* Fills the 128-byte (entry_len) payload of entry number `seq`. */
void bench_fill_entry(uint8_t *p, size_t len, uint64_t seq);
void bench_fail(bench_shared *sh, const char *what, const char *detail);

#endif
