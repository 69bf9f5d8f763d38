/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* What brigd (worker/audit.c) and `brig audit` (cli/audit.c) share of the audit log's format: the hash
 * that chains its lines, and its checkpoint file. */

/* The first record's prev. */
#define BRIG_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* The longest record brigd extends a log after, and `brig audit` reads. */
#define BRIG_AUDIT_MAX_LINE_BYTES (64 * 1024 * 1024)

/* Hash of a line as chained: SHA-256 over prev_hex, "\n", and the line without its "hash" member; hex into
 * out (65 bytes). */
int brig_audit_line_hash(const char *prev_hex, const char *line_without_hash, char out[65]);
/* Whether s is a hash as the chain writes it: 64 lower-case hex digits. */
bool brig_audit_is_hash(const char *s);

/* The audit log's checkpoint: the seq and hash of its last record, kept in a file beside the log
 * (`<log>.checkpoint`, one JSON object: {"seq":N,"hash":"<hex>","ts":"RFC3339"}), so that a log whose end
 * was cut off no longer matches it (`brig audit verify`, and brigd refuses to extend such a log). brigd
 * writes it on each clean stop and, while the log grows, periodically (worker/worker.c). A file, not a
 * line of the log: whoever can cut the log's tail must also know to rewrite this file.
 * Blocking (fsync): call from a work thread, at start-up or at the stop; no logging. */

#define BRIG_AUDIT_CHECKPOINT_SUFFIX ".checkpoint"

typedef struct brig_audit_mark {
        uint64_t seq;  /* of the last record */
        char hash[65]; /* its hash */
        char ts[40];   /* when the mark was taken (RFC 3339, UTC) */
} brig_audit_mark;

/* "<log_path>.checkpoint"; caller frees. NULL on ENOMEM. */
char *brig_audit_checkpoint_path(const char *log_path);

/* Reads the checkpoint at path into *ret. -ENOENT (err set) when there is none; -EBADMSG when the file is
 * not a checkpoint. */
int brig_audit_checkpoint_read(const char *path, brig_audit_mark *ret, brig_error *err);

/* Replaces the checkpoint at path by m atomically: written to "<path>.tmp", fsynced, renamed over path, and
 * the directory fsynced, so a crash leaves the old checkpoint or the new one, never a torn file. */
int brig_audit_checkpoint_write(const char *path, const brig_audit_mark *m, brig_error *err);
