/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>

/* Stable error kinds: clients match on these names, so values may be added but never renamed. */
typedef enum brig_kind {
        BRIG_KIND_NONE,
        BRIG_KIND_INVALID_ARGUMENT, /* bad input from a client or a file */
        BRIG_KIND_POLICY,           /* policy file invalid, or forbids the request */
        BRIG_KIND_SANDBOX,          /* a jail layer could not be applied */
        BRIG_KIND_LIMIT,            /* a documented bound was exceeded */
        BRIG_KIND_IO,               /* file or socket I/O */
        BRIG_KIND_NOT_FOUND,
        BRIG_KIND_DENIED,
        BRIG_KIND_INTERNAL,
        _BRIG_KIND_MAX,
        _BRIG_KIND_INVALID = -EINVAL,
} brig_kind;

/* A stack-allocated error for the client: negative errno, kind, one-line message. */
typedef struct brig_error {
        int code;
        brig_kind kind;
        char msg[256];
} brig_error;

#define BRIG_ERROR_INIT                                                                                     \
        {                                                                                                   \
                0, BRIG_KIND_NONE, {                                                                        \
                        0                                                                                   \
                }                                                                                           \
        }

/* Records code/kind/message into err (which may be NULL) and returns code, so a failure is one line:
 * `return brig_error_set(err, -errno, BRIG_KIND_IO, "open '%s'", name);`. code must be negative. */
int brig_error_set(brig_error *err, int code, brig_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Like brig_error_set() but appends ": strerror(-code)" to the message. */
int brig_error_set_errno(brig_error *err, int code, brig_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* An allocation failed: sets err (which may be NULL) to -ENOMEM, BRIG_KIND_INTERNAL, "out of memory", and
 * returns -ENOMEM, so that every allocation check is one line: `return brig_error_oom(err);`. Needs no
 * memory itself. */
int brig_error_oom(brig_error *err);

/* Prepends "context: " to err's message, keeping code and kind; returns err->code. */
int brig_error_prefix(brig_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Stable lower-case name of a kind ("invalid_argument", ...); "unknown" for out-of-range values. */
const char *brig_kind_name(brig_kind kind);
