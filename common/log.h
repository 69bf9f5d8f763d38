/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Operator log: one key=value line per event on stderr. Only worker/ and the programs' main() log above
 * debug; lower layers return errors instead. Audit events are a separate channel (worker/audit.h). */

typedef enum brig_log_level {
        BRIG_LOG_ERROR,
        BRIG_LOG_WARNING,
        BRIG_LOG_INFO,
        BRIG_LOG_DEBUG,
        _BRIG_LOG_LEVEL_MAX,
        _BRIG_LOG_LEVEL_INVALID = -22,
} brig_log_level;

void brig_log_set_level(brig_log_level level);
void brig_log_set_ident(const char *ident);

/* Logs at level; "%m" expands to strerror(-r) when r < 0. Returns r so callers can `return log_...(r, ...)`.
 * Thread-safe (one fprintf per line). */
int brig_log_errno(brig_log_level level, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One log line into out (NUL-terminated, cut to size): "ident level=L msg=\"...\"\n", the message with `"`,
 * `\` and control characters escaped, after "<N>" (its syslog priority) when journal. Returns the length the
 * whole line needs, as snprintf does. */
size_t brig_log_format(char *out, size_t size, const char *ident, brig_log_level level, const char *msg,
                       bool journal);

#define log_error_errno(r, ...) brig_log_errno(BRIG_LOG_ERROR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) brig_log_errno(BRIG_LOG_WARNING, (r), __VA_ARGS__)
#define log_error(...) ((void) brig_log_errno(BRIG_LOG_ERROR, 0, __VA_ARGS__))
#define log_warning(...) ((void) brig_log_errno(BRIG_LOG_WARNING, 0, __VA_ARGS__))
#define log_info(...) ((void) brig_log_errno(BRIG_LOG_INFO, 0, __VA_ARGS__))
#define log_debug(...) ((void) brig_log_errno(BRIG_LOG_DEBUG, 0, __VA_ARGS__))
