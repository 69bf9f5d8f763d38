/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A failing allocator for tests: the test binary is linked with -Wl,--wrap= for malloc, calloc, realloc,
 * reallocarray, strdup, strndup and asprintf (with its vasprintf and _FORTIFY_SOURCE forms;
 * tests/meson.build), so every allocation our static libraries make goes through failalloc.c, and cJSON's
 * through the hooks common/json.c installs (they call malloc). Once armed, the n-th allocation from then on
 * fails (returns NULL, or -1 for asprintf) and every later one succeeds, as in libgit2's failalloc. Single
 * thread only. */

/* Fails the n-th allocation from now (n >= 1); 0 disarms (failalloc_fired() still tells about the last run).
 */
void failalloc_arm(size_t n);

/* Whether the armed failure happened since failalloc_arm(). */
bool failalloc_fired(void);

/* Prints where the last failed allocation was made, as backtrace_symbols_fd(3) does, on stderr. */
void failalloc_print_trace(void);
