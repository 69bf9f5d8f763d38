/* SPDX-License-Identifier: MIT */
/* The failing allocator of failalloc.h: --wrap'ed allocation functions that count and fail one call. */
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/failalloc.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **ret, const char *fmt, va_list ap);
int __real___vasprintf_chk(char **ret, int flag, const char *fmt, va_list ap);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **ret, const char *fmt, va_list ap);
int __wrap_asprintf(char **ret, const char *fmt, ...);
int __wrap___vasprintf_chk(char **ret, int flag, const char *fmt, va_list ap);
int __wrap___asprintf_chk(char **ret, int flag, const char *fmt, ...);

static size_t countdown; /* 0: disarmed */
static bool fired;
static void *trace[32]; /* where the failed allocation was made */
static int trace_len;

void failalloc_arm(size_t n) {
        countdown = n;
        if (n > 0)
                fired = false;
        /* cJSON allocates through common/json.c's hooks, which call malloc: the wrapped one, here. */
}

bool failalloc_fired(void) {
        return fired;
}

void failalloc_print_trace(void) {
        fprintf(stderr, "# the failed allocation (addr2line -e BINARY +OFFSET):\n");
        backtrace_symbols_fd(trace, trace_len, 2);
}

static bool fail_now(void) {
        if (countdown == 0)
                return false;
        if (--countdown > 0)
                return false;
        fired = true;
        trace_len = backtrace(trace, 32);
        return true;
}

void *__wrap_malloc(size_t size) {
        return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
        return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
        return fail_now() ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size) {
        return fail_now() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s) {
        return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
        return fail_now() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **ret, const char *fmt, va_list ap) {
        return fail_now() ? -1 : __real_vasprintf(ret, fmt, ap);
}

int __wrap_asprintf(char **ret, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = __wrap_vasprintf(ret, fmt, ap);
        va_end(ap);
        return r;
}

/* _FORTIFY_SOURCE (the gcc build) turns asprintf() into these. */
int __wrap___vasprintf_chk(char **ret, int flag, const char *fmt, va_list ap) {
        return fail_now() ? -1 : __real___vasprintf_chk(ret, flag, fmt, ap);
}

int __wrap___asprintf_chk(char **ret, int flag, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = __wrap___vasprintf_chk(ret, flag, fmt, ap);
        va_end(ap);
        return r;
}
