/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The output log of a background process: a file holding a ring of the last `size` bytes it produced,
 * behind a header that says which byte offsets (counted from the process's start) the ring holds, so a
 * restarted worker still serves them. Layout, integers little-endian:
 *
 *   0  "brigplg1"   magic and format version
 *   8  size         ring capacity in bytes
 *   16 start        first offset the ring holds
 *   24 end          bytes produced so far (the offset after the last one held)
 *   32 ring         offset o lives at 32 + o % size
 *
 * The file takes all its blocks when it is created (posix_fallocate): a full disk refuses a new log
 * (-ENOSPC) rather than cut an existing one short, since appending then only overwrites blocks the file
 * has. (A copy-on-write filesystem, btrfs or ZFS, can still refuse an overwrite: append then fails and the
 * window stays as it was.)
 *
 * Appending never lets the header claim bytes that are not (yet) on disk: when new data overwrites the
 * oldest, start moves past them before the data is written, and end moves only after it is, so a worker
 * killed between two writes leaves a consistent, at most shorter, window.
 *
 * Pure file code: blocking pread/pwrite, no logging, any thread (one thread per log at a time). Errors
 * are negative errnos with a message in err; damaged files are -EBADMSG. */

#define BRIG_PROCESS_LOG_MAGIC "brigplg1"
#define BRIG_PROCESS_LOG_HEADER_BYTES 32
#define BRIG_PROCESS_LOG_MAX_SIZE (UINT64_C(1) << 30)

typedef struct brig_process_log {
        int fd; /* -1 when closed */
        uint64_t size;
        uint64_t start, end; /* the ring holds offsets [start, end) */
} brig_process_log;

#define BRIG_PROCESS_LOG_INIT                                                                               \
        { .fd = -1 }

/* Creates (or truncates) the log at path, relative to dir_fd (AT_FDCWD allowed), with a ring of size
 * bytes (1 .. BRIG_PROCESS_LOG_MAX_SIZE) allocated on disk, open for appending. Mode 0600, O_NOFOLLOW.
 * *ret is written only on success (on failure no file is left); close it with brig_process_log_close(). */
int brig_process_log_create(int dir_fd, const char *path, uint64_t size, brig_process_log *ret,
                            brig_error *err);

/* Opens an existing log read-only and checks its header: -EBADMSG names what is wrong with it (not a
 * process log, short or inconsistent header). -ENOENT when there is none. */
int brig_process_log_open(int dir_fd, const char *path, brig_process_log *ret, brig_error *err);

/* Appends len bytes (any length: of a chunk larger than the ring only its tail is kept, but end counts
 * it all). The log must come from brig_process_log_create(). On failure the header on disk still
 * describes a consistent window and log matches it. */
int brig_process_log_append(brig_process_log *log, const void *data, size_t len, brig_error *err);

/* Reads at most max bytes from offset on into buf, clamping offset to [start, end]: *ret_from is where
 * the bytes read begin, *ret_n how many. A ring shorter on disk than its header claims is -EBADMSG. */
int brig_process_log_read(const brig_process_log *log, uint64_t offset, void *buf, size_t max,
                          uint64_t *ret_from, size_t *ret_n, brig_error *err);

/* Gives back the blocks the ring never used (when it never wrapped), for a log that takes no more
 * appends: a process that ended keeps only what it wrote. */
int brig_process_log_trim(brig_process_log *log, brig_error *err);

/* Closes the file (the window stays readable in log); accepts a closed log. */
void brig_process_log_close(brig_process_log *log);
