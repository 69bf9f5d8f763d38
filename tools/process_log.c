/* SPDX-License-Identifier: MIT */
/* The on-disk ring of a background process's output: header encoding, crash-consistent appends and
 * wrapped reads. See process_log.h for the layout. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "tools/process_log.h"

static void put_u64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char) (v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static int pwrite_all(int fd, const void *data, size_t len, off_t at) {
        ssize_t n = pwrite(fd, data, len, at);
        if (n < 0)
                return -errno;
        /* Regular files write short only when the disk fills up, mid-way through a chunk. */
        return (size_t) n == len ? 0 : -ENOSPC;
}

/* start and end together in one write of 16 bytes inside the first page, so a SIGKILL of the worker
 * leaves either the old pair or the new one. */
static int write_window(brig_process_log *log, uint64_t start, uint64_t end, brig_error *err) {
        unsigned char b[16];
        int r;

        put_u64(b, start);
        put_u64(b + 8, end);
        if ((r = pwrite_all(log->fd, b, sizeof(b), 16)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "write log header");
        log->start = start;
        log->end = end;
        return 0;
}

int brig_process_log_create(int dir_fd, const char *path, uint64_t size, brig_process_log *ret,
                            brig_error *err) {
        _cleanup_close_ int fd = -1;
        unsigned char h[BRIG_PROCESS_LOG_HEADER_BYTES] = {0};
        int r;

        if (size == 0 || size > BRIG_PROCESS_LOG_MAX_SIZE)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                      "log '%s': ring size %llu out of range", path,
                                      (unsigned long long) size);
        fd = openat(dir_fd, path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create log '%s'", path);
        memcpy(h, BRIG_PROCESS_LOG_MAGIC, 8);
        put_u64(h + 8, size);
        /* The whole ring's blocks now, so that appending overwrites blocks the file already has and a full
         * disk refuses the process a log at its start rather than lose its output later. */
        r = -posix_fallocate(fd, 0, (off_t) (BRIG_PROCESS_LOG_HEADER_BYTES + size));
        if (r < 0) {
                (void) unlinkat(dir_fd, path, 0);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "reserve %llu bytes for log '%s'",
                                            (unsigned long long) (BRIG_PROCESS_LOG_HEADER_BYTES + size),
                                            path);
        }
        if ((r = pwrite_all(fd, h, sizeof(h), 0)) < 0) {
                (void) unlinkat(dir_fd, path, 0);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "write log '%s'", path);
        }
        *ret = (brig_process_log){.fd = TAKE_FD(fd), .size = size};
        return 0;
}

int brig_process_log_open(int dir_fd, const char *path, brig_process_log *ret, brig_error *err) {
        _cleanup_close_ int fd = -1;
        unsigned char h[BRIG_PROCESS_LOG_HEADER_BYTES];
        ssize_t n;

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open log '%s'", path);
        n = pread(fd, h, sizeof(h), 0);
        if (n < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read log '%s'", path);
        if ((size_t) n < sizeof(h))
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                      "log '%s': short header (%zd of %d bytes)", path, n,
                                      BRIG_PROCESS_LOG_HEADER_BYTES);
        if (memcmp(h, BRIG_PROCESS_LOG_MAGIC, 8) != 0)
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO, "log '%s': not a brig process log", path);
        uint64_t size = get_u64(h + 8), start = get_u64(h + 16), end = get_u64(h + 24);
        if (size == 0 || size > BRIG_PROCESS_LOG_MAX_SIZE || start > end || end - start > size)
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                      "log '%s': inconsistent header (size %llu, window %llu..%llu)", path,
                                      (unsigned long long) size, (unsigned long long) start,
                                      (unsigned long long) end);
        *ret = (brig_process_log){.fd = TAKE_FD(fd), .size = size, .start = start, .end = end};
        return 0;
}

/* Writes data for offsets [at, at + len) into the ring, len <= size: two pieces when it wraps. */
static int write_ring(brig_process_log *log, uint64_t at, const char *data, size_t len) {
        while (len > 0) {
                uint64_t pos = at % log->size;
                size_t n = log->size - pos < len ? (size_t) (log->size - pos) : len;
                int r = pwrite_all(log->fd, data, n, (off_t) (BRIG_PROCESS_LOG_HEADER_BYTES + pos));
                if (r < 0)
                        return r;
                at += n;
                data += n;
                len -= n;
        }
        return 0;
}

int brig_process_log_append(brig_process_log *log, const void *data, size_t len, brig_error *err) {
        uint64_t end = log->end + len;
        /* Only the tail of a chunk larger than the ring can be kept. */
        size_t keep = len > log->size ? (size_t) log->size : len;
        uint64_t start = end - log->start > log->size ? end - log->size : log->start;
        int r;

        if (len == 0)
                return 0;
        /* The bytes we are about to overwrite leave the window first (all of it for an oversized chunk). */
        if (start > log->start &&
            (r = write_window(log, start < log->end ? start : log->end, log->end, err)) < 0)
                return r;
        if ((r = write_ring(log, end - keep, (const char *) data + (len - keep), keep)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "write log");
        return write_window(log, start, end, err);
}

int brig_process_log_read(const brig_process_log *log, uint64_t offset, void *buf, size_t max,
                          uint64_t *ret_from, size_t *ret_n, brig_error *err) {
        uint64_t from = offset < log->start ? log->start : offset > log->end ? log->end : offset;
        size_t want = log->end - from < max ? (size_t) (log->end - from) : max;
        char *out = buf;

        for (size_t done = 0; done < want;) {
                uint64_t pos = (from + done) % log->size;
                size_t n = log->size - pos < want - done ? (size_t) (log->size - pos) : want - done;
                ssize_t got = pread(log->fd, out + done, n, (off_t) (BRIG_PROCESS_LOG_HEADER_BYTES + pos));
                if (got < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read log");
                if ((size_t) got < n)
                        return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                              "log truncated: offset %llu is not on disk",
                                              (unsigned long long) (from + done + (size_t) got));
                done += n;
        }
        *ret_from = from;
        *ret_n = want;
        return 0;
}

int brig_process_log_trim(brig_process_log *log, brig_error *err) {
        /* Until the ring wraps, offset o sits at HEADER + o: the bytes past end were never written. */
        if (log->end >= log->size)
                return 0;
        if (ftruncate(log->fd, (off_t) (BRIG_PROCESS_LOG_HEADER_BYTES + log->end)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "trim log");
        return 0;
}

void brig_process_log_close(brig_process_log *log) {
        brig_closep(&log->fd);
}
