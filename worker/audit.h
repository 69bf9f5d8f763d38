/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/audit_chain.h"
#include "common/error.h"

/* The audit trail: one versioned JSON event per line, appended to a file and chained by SHA-256 so that
 * editing or dropping a line breaks the chain (`prev` is the previous line's `hash`). An event is on disk
 * (write(2) returned) before brig_audit_emit() returns; a failed write is an error the caller must turn
 * into a refusal (fail closed). Loop thread only: the write is one small append to the page cache. */

#define BRIG_AUDIT_VERSION 1

typedef struct brig_audit brig_audit;

/* Opens (creating, mode 0600) the log at path and continues the chain from its last line. A log that ends
 * before the seq its checkpoint (`<path>.checkpoint`) records, or whose last record is not the one the
 * checkpoint names, is refused (-EBADMSG): its end was cut off. */
int brig_audit_open(const char *path, brig_audit **ret, brig_error *err);
void brig_audit_free(brig_audit *a);

/* Adds version, seq, ts, prev and hash to event (an object whose "type" the caller set), appends it as one
 * line, and consumes event in every case. A NULL event, or one without its type (emptied after a failed
 * allocation, worker/audit_events.h), is -ENOMEM with err set. */
int brig_audit_emit(brig_audit *a, cJSON *event, brig_error *err);

/* Makes an event object with its "type" set; NULL on allocation failure. Only worker/audit_events.c's
 * constructors, which every site that records an event uses, and test_audit, which builds events of its own
 * to test brig_audit_emit(), call it: an event built here has no row in brig_audit_types to check it
 * against, so do not add callers. */
cJSON *brig_audit_event(const char *type);

/* A copy of a tool call's arguments for the log: strings longer than max_string are cut and marked, so
 * large inputs (file contents, stdin) never bloat the trail. New object or NULL. */
cJSON *brig_audit_elide(const cJSON *arguments, size_t max_string);

/* brig_audit_elide(), and each top-level string argument named in content (NULL-terminated, may be NULL)
 * replaced by "<elided, N bytes>" whatever its length. New object or NULL. */
cJSON *brig_audit_elide_content(const cJSON *arguments, size_t max_string, const char *const *content);

/* brig_audit_line_hash(), the checkpoint: common/audit_chain.h. */

/* Called with each record (one line, without its newline; borrowed for the call) once it is on disk; at most
 * one sink, NULL for none. The sink may emit records itself. */
typedef void (*brig_audit_sink_fn)(const char *line, size_t len, void *userdata);
void brig_audit_set_sink(brig_audit *a, brig_audit_sink_fn sink, void *userdata);

/* The seq the next record gets. */
uint64_t brig_audit_next_seq(const brig_audit *a);

/* The log's last record as a checkpoint records it, with the time now; false when the log is empty. */
bool brig_audit_mark_now(const brig_audit *a, brig_audit_mark *ret);
/* The checkpoint file of this log (borrowed). */
const char *brig_audit_checkpoint_file(const brig_audit *a);
/* fdatasync of the log, so a checkpoint written next never names records a crash could still lose. Any
 * thread (the fd lives as long as a); blocking. */
int brig_audit_sync(brig_audit *a, brig_error *err);
