/*
 * Where log.c's stderr lines go (log.h): gathered and written by a thread
 * within CS_LOG_FLUSH_MS, or at once. Internal to src/base.
 */
#ifndef CS_BASE_LOG_OUT_H
#define CS_BASE_LOG_OUT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes `line` (len bytes, no newline) and a newline to stderr: at once
 * (after what is gathered) if `at_once`, else gathered. Thread-safe. */
void cs_log_out_line(const char *line, size_t len, bool at_once);

#endif
