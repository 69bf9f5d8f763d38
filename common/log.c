/* SPDX-License-Identifier: MIT */
/* Operator log lines on stderr: "ident level=... msg=..." with the message quoted, and a syslog priority
 * prefix ("<3>") when stderr is the journal, which then files each line at its level. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static brig_log_level max_level = BRIG_LOG_INFO;
static const char *log_ident = "brig";

void brig_log_set_level(brig_log_level level) {
        max_level = level;
}

void brig_log_set_ident(const char *ident) {
        log_ident = ident;
}

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected; stderr is the journal only if
 * it is still that stream (a redirect in between leaves the variable behind). */
static bool stderr_is_journal(void) {
        const char *v = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        int end = 0;

        if (!v || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 || v[end] || fstat(2, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

size_t brig_log_format(char *out, size_t size, const char *ident, brig_log_level level, const char *msg,
                       bool journal) {
        /* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
        static const char *const names[] = {"error", "warning", "info", "debug"};
        static const char priorities[] = {'3', '4', '6', '7'};
        size_t n = 0;

#define PUT(c)                                                                                              \
        do {                                                                                                \
                if (n + 1 < size)                                                                           \
                        out[n] = (c);                                                                       \
                n++;                                                                                        \
        } while (0)
        if (size == 0)
                return 0;
        if ((unsigned) level >= _BRIG_LOG_LEVEL_MAX)
                level = BRIG_LOG_ERROR;
        if (journal) {
                PUT('<');
                PUT(priorities[level]);
                PUT('>');
        }
        int w = snprintf(out + (n < size ? n : size - 1), n < size ? size - n : 1, "%s level=%s msg=\"",
                         ident, names[level]);
        n += w > 0 ? (size_t) w : 0;
        /* Escaped so that a message never forges another key or line, and reads back as written. */
        for (const unsigned char *p = (const unsigned char *) msg; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        PUT('\\');
                        PUT((char) *p);
                } else if (*p == '\n') {
                        PUT('\\');
                        PUT('n');
                } else if (*p == '\t') {
                        PUT('\\');
                        PUT('t');
                } else if (*p < 0x20 || *p == 0x7f) {
                        static const char hex[] = "0123456789abcdef";
                        PUT('\\');
                        PUT('x');
                        PUT(hex[*p >> 4]);
                        PUT(hex[*p & 15]);
                } else
                        PUT((char) *p);
        }
        PUT('"');
        PUT('\n');
#undef PUT
        out[n < size ? n : size - 1] = 0;
        return n;
}

int brig_log_errno(brig_log_level level, int r, const char *fmt, ...) {
        static int journal = -1; /* racing first calls compute the same answer */
        char msg[1024], line[4200];
        va_list ap;

        if (level > max_level)
                return r;
        if (r < 0)
                errno = -r;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (journal < 0)
                journal = stderr_is_journal();
        (void) brig_log_format(line, sizeof(line), log_ident, level, msg, journal);
        (void) fputs(line, stderr);
        return r;
}
