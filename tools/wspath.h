/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Workspace path resolution, the security core of the file tools. A client path is always resolved beneath
 * the workspace directory fd, never by joining strings: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS),
 * or on kernels without openat2 a component-by-component walk with the same rules. "..", absolute paths,
 * symlinks leading outside, procfs magic links and directory/symlink swaps during the call are refused.
 *
 * All functions are thread-safe, never log, and make blocking syscalls: call them from a work thread.
 * Errors are negative errnos with err set to a one-line client message naming the (quoted) path:
 *   -EXDEV        DENIED            the path escapes the workspace ("..", absolute symlink, link outside)
 *   -ELOOP        DENIED            too many symlinks, a magic link, or a final symlink where none is
 * allowed -ENOENT       NOT_FOUND         a component does not exist -ENOTDIR      INVALID_ARGUMENT  a
 * component is not a directory -EINVAL, -ENAMETOOLONG  INVALID_ARGUMENT  malformed path (absolute, too long)
 *   other         IO (strerror appended), -ENOMEM without a message */

#define BRIG_WS_MAX_LINKS 40

/* Syntactic check of a client path: relative ("" and "." name the root), shorter than PATH_MAX, no
 * component longer than NAME_MAX. ".." components pass here: resolution refuses those that climb out. */
int brig_ws_check_path(const char *path, brig_error *err);

/* Opens path beneath root_fd (any directory fd, O_PATH is fine) with open(2) flags and mode (used with
 * O_CREAT only); O_CLOEXEC is always added. Symlinks are followed while they stay inside the workspace,
 * the last one included unless flags has O_NOFOLLOW. Returns the new fd (caller closes). */
int brig_ws_open(int root_fd, const char *path, int flags, mode_t mode, brig_error *err);

/* Opens the parent directory of path beneath root_fd (O_PATH|O_DIRECTORY) and returns it, with the last
 * component in *ret_name (caller frees), for *at() calls that must never follow that component: create,
 * rename, unlink, mkdir, lstat. Trailing slashes are ignored. The root itself (""), and paths ending in
 * "." or "..", have no last component: -EINVAL. */
int brig_ws_open_parent(int root_fd, const char *path, char **ret_name, brig_error *err);

/* Sets err from a negative errno that a syscall on path returned, with the messages listed above; returns r.
 * For the file tools' own *at() calls on resolved paths. */
int brig_ws_error(int r, const char *path, brig_error *err);

/* Copies s into buf (size >= 8) for a message between single quotes: quotes, backslashes and control
 * characters escaped, invalid UTF-8 bytes as \xNN, cut at a character boundary with "..." when it does
 * not fit. Returns buf. */
const char *brig_ws_quote(const char *s, char *buf, size_t size);

/* Buffer size that keeps ~100 characters of a quoted path. */
#define BRIG_WS_QUOTE_SIZE 128

/* FOR TESTS ONLY: makes brig_ws_open() use the fallback walk even where openat2 exists, so the unit tests
 * run every escape against both implementations. Process-wide; never call it from the daemon. */
void brig_ws_force_fallback(bool on);
