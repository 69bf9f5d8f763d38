/* SPDX-License-Identifier: MIT */
/* Operator log lines on stderr: "ident level=... msg=..." with the message quoted. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static brig_log_level max_level = BRIG_LOG_INFO;
static const char *log_ident = "brig";

void brig_log_set_level(brig_log_level level) {
        max_level = level;
}

void brig_log_set_ident(const char *ident) {
        log_ident = ident;
}

int brig_log_errno(brig_log_level level, int r, const char *fmt, ...) {
        static const char *const names[] = {"error", "warning", "info", "debug"};
        char msg[1024];
        va_list ap;

        if (level > max_level)
                return r;
        if (r < 0)
                errno = -r;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* Quote so that a message never forges another key; control characters become '?'. */
        for (char *p = msg; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == '"')
                        *p = '?';
        (void) fprintf(stderr, "%s level=%s msg=\"%s\"\n", log_ident, names[level], msg);
        return r;
}
