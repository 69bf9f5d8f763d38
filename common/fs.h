/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Filesystem helpers for the worker's own directories (never for agent-controlled workspace paths, which go
 * through openat2 RESOLVE_BENEATH in tools/). Blocking: call from a work thread or at start-up. */

/* Removes path and everything below it without following symlinks; directories the jail made unwritable
 * are made writable first. Returns 0 (also when path does not exist) or -errno. */
/* brig_rm_rf() descends at most this many directories: what is deeper cannot be removed by it, so nothing
 * brigd creates from untrusted input may be deeper (worker/env_archive.h). */
#define BRIG_RM_RF_MAX_DEPTH 256
int brig_rm_rf(const char *path);
/* Writes all of data to fd, retrying short writes and EINTR. 0 or -errno (-EIO if the fd takes nothing). */
int brig_write_all(int fd, const void *data, size_t len);
/* Copies what `in` holds from offset 0 (its own file offset untouched) to its end, or max + 1 bytes,
 * whichever comes first, into out at out's offset: in the kernel where it can (copy_file_range), else by
 * pread and write. The bytes copied (max + 1: in holds more than max) or -errno. */
int64_t brig_copy_fd(int in, int out, uint64_t max);

/* mkdir -p with mode for the last component; existing directories are fine. */
int brig_mkdir_p(const char *path, mode_t mode);

/* Fails with -EACCES and names the first ancestor of path (itself included) that uid cannot search (no
 * "x" for others and not owned by uid), so a jail running as uid can reach a bind source below it. */
int brig_path_searchable_by(const char *path, uid_t uid, char *ret_blocker, size_t size);

/* rel (a name, or a path such as "../libexec/brig-jail") from the directory of this process's executable,
 * when access(mode) allows it there; NULL otherwise. A build tree keeps brig, brigd and brig-jail side by
 * side, and an install under any prefix or DESTDIR keeps them where meson put them relative to each other.
 * Caller frees. */
char *brig_exe_relative_path(const char *rel, int mode);
