/*
 * libuv's thread pool in the background (base/thread.h): the pool runs a
 * node's snapshot encoding, sealing, file writes and fsyncs; its loop runs
 * everything clients wait for.
 */
#ifndef CS_NET_BACKGROUND_H
#define CS_NET_BACKGROUND_H

#include "base/err.h"

/* Starts libuv's thread pool (process-wide, once) from a thread put in the
 * background, so that every pool thread inherits CS_BACKGROUND_NICE; the
 * calling thread keeps its priority. Call it before anything in the
 * process queues work on the pool (uv_queue_work, uv_fs_* with a callback,
 * libraft's disk I/O): afterwards the pool already exists with the
 * priority of whichever thread started it, and this fails with
 * CONSORT_E_STATE if that is below the background's. */
consort_err cs_uv_pool_background(void);

#endif
