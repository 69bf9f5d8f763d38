/* SPDX-License-Identifier: MIT */
/* brig_error: the one error value passed up from every layer to the client. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const kind_names[_BRIG_KIND_MAX] = {
        [BRIG_KIND_NONE] = "none",           [BRIG_KIND_INVALID_ARGUMENT] = "invalid_argument",
        [BRIG_KIND_POLICY] = "policy",       [BRIG_KIND_SANDBOX] = "sandbox",
        [BRIG_KIND_LIMIT] = "limit",         [BRIG_KIND_IO] = "io",
        [BRIG_KIND_NOT_FOUND] = "not_found", [BRIG_KIND_DENIED] = "denied",
        [BRIG_KIND_INTERNAL] = "internal",
};

const char *brig_kind_name(brig_kind kind) {
        if (kind < 0 || kind >= _BRIG_KIND_MAX)
                return "unknown";
        return kind_names[kind];
}

static int error_vset(brig_error *err, int code, brig_kind kind, const char *fmt, va_list ap) {
        if (!err)
                return code;
        err->code = code;
        err->kind = kind;
        (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        return code;
}

int brig_error_set(brig_error *err, int code, brig_kind kind, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_vset(err, code, kind, fmt, ap);
        va_end(ap);
        return code;
}

int brig_error_set_errno(brig_error *err, int code, brig_kind kind, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_vset(err, code, kind, fmt, ap);
        va_end(ap);
        if (err) {
                size_t n = strlen(err->msg);
                (void) snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
                                strerror(code < 0 ? -code : code));
        }
        return code;
}

int brig_error_oom(brig_error *err) {
        return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
}

int brig_error_prefix(brig_error *err, const char *fmt, ...) {
        char prefix[128], old[sizeof(err->msg)];
        va_list ap;

        if (!err)
                return 0;
        va_start(ap, fmt);
        (void) vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        (void) snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
        return err->code;
}
