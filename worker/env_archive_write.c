/* SPDX-License-Identifier: MIT */
/* Writing an archive in the environment archive's format (env_archive_write.h): entry by entry and a block
 * at a time, with the manifest built alongside and the whole file's size and SHA-256 counted as libarchive
 * hands out its output. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "tools/history.h"
#include "tools/memory_store.h"
#include "worker/env_archive.h"
#include "worker/env_archive_write.h"

#define BLOCK (64 * 1024)       /* file data goes into the archive this much at a time */
#define OUT_BLOCK (1024 * 1024) /* and the archive into its file */
#define ZSTD_THREADS "2"        /* libarchive's "zstd:threads" (zstd's workers) */
#define ZSTD_LEVEL "1"          /* libarchive's "zstd:compression-level" (its default: 3) */

/* The archive being written (work thread). */
typedef struct writer {
        struct archive *a;
        int fd;
        brig_sha256 *whole; /* of everything written to fd */
        uint64_t bytes;
        cJSON *entries; /* the manifest's, in archive order */
        int64_t mtime;
        unsigned char *buf; /* BLOCK bytes */
        brig_error *err;
} writer;

static la_ssize_t write_cb(struct archive *a, void *client, const void *buf, size_t len) {
        writer *w = client;

        for (size_t done = 0; done < len;) {
                ssize_t n = write(w->fd, (const char *) buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        archive_set_error(a, n < 0 ? errno : EIO, "write the archive: %s",
                                          strerror(n < 0 ? errno : EIO));
                        return -1;
                }
                done += (size_t) n;
        }
        brig_sha256_update(w->whole, buf, len);
        w->bytes += len;
        return (la_ssize_t) len;
}

static int archive_fail(writer *w, const char *path) {
        int e = archive_errno(w->a);
        return brig_error_set(w->err, e > 0 ? -e : -EIO, BRIG_KIND_IO, "export: %s: %s", path,
                              archive_error_string(w->a) ? archive_error_string(w->a) : "archive error");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);

/* Writes an entry's header and lists it in the manifest (but the manifest itself, written once w->entries
 * went into it); *ret_item is its manifest record (files get their sha256 once written) or NULL. */
static int put_header(writer *w, const char *path, mode_t type, mode_t perm, uint64_t size,
                      const char *target, cJSON **ret_item) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        cJSON *item = NULL;

        if (!e)
                return brig_error_oom(w->err);
        if (w->entries && (!(item = cJSON_CreateObject()) || !cJSON_AddStringToObject(item, "path", path) ||
                           !cJSON_AddStringToObject(item, "type",
                                                    type == AE_IFDIR   ? "dir"
                                                    : type == AE_IFLNK ? "symlink"
                                                                       : "file") ||
                           (type != AE_IFLNK && !cJSON_AddNumberToObject(item, "mode", perm)) ||
                           (type == AE_IFREG && !cJSON_AddNumberToObject(item, "size", (double) size)) ||
                           (target && !cJSON_AddStringToObject(item, "target", target)) ||
                           !cJSON_AddItemToArray(w->entries, item))) {
                cJSON_Delete(item);
                return brig_error_oom(w->err);
        }
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t) size : 0);
        archive_entry_set_mtime(e, w->mtime, 0);
        if (target)
                archive_entry_set_symlink(e, target);
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                return archive_fail(w, path);
        *ret_item = item;
        return 0;
}

static int put_data(writer *w, const char *path, const void *data, size_t len, brig_sha256 *d) {
        brig_sha256_update(d, data, len);
        if (archive_write_data(w->a, data, len) != (la_ssize_t) len)
                return archive_fail(w, path);
        return 0;
}

static int put_sha(writer *w, cJSON *item, brig_sha256 *d) {
        char hex[BRIG_SHA256_HEX];
        if (brig_sha256_finish(d, hex) < 0 || (item && !cJSON_AddStringToObject(item, "sha256", hex)))
                return brig_error_oom(w->err);
        return 0;
}

static int put_dir(writer *w, const char *path) {
        cJSON *item;
        return put_header(w, path, AE_IFDIR, 0755, 0, NULL, &item);
}

static int put_file_mem(writer *w, const char *path, mode_t perm, const void *data, size_t size) {
        brig_sha256 *d = brig_sha256_new();
        cJSON *item;
        int r;

        if ((r = put_header(w, path, AE_IFREG, perm, size, NULL, &item)) < 0) {
                (void) brig_sha256_finish(d, (char[BRIG_SHA256_HEX]){0});
                return r;
        }
        for (size_t done = 0, n; done < size; done += n) {
                n = size - done < BLOCK ? size - done : BLOCK;
                if ((r = put_data(w, path, (const char *) data + done, n, d)) < 0) {
                        (void) brig_sha256_finish(d, (char[BRIG_SHA256_HEX]){0});
                        return r;
                }
        }
        return put_sha(w, item, d);
}

/* A file on disk, as long as it was when opened (a log still being appended to stops there). */
static int put_file_fd(writer *w, const char *path, int fd) {
        brig_sha256 *d = NULL;
        struct stat st;
        cJSON *item;
        int r;

        if (fstat(fd, &st) < 0)
                return brig_error_set_errno(w->err, -errno, BRIG_KIND_IO, "export: %s", path);
        if ((r = put_header(w, path, AE_IFREG, 0644, (uint64_t) st.st_size, NULL, &item)) < 0)
                return r;
        d = brig_sha256_new();
        for (off_t done = 0; done < st.st_size;) {
                size_t want = st.st_size - done < BLOCK ? (size_t) (st.st_size - done) : BLOCK;
                ssize_t n = pread(fd, w->buf, want, done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        (void) brig_sha256_finish(d, (char[BRIG_SHA256_HEX]){0});
                        return brig_error_set_errno(w->err, n < 0 ? -errno : -EIO, BRIG_KIND_IO,
                                                    "export: read %s%s", path, n == 0 ? ": it shrank" : "");
                }
                if ((r = put_data(w, path, w->buf, (size_t) n, d)) < 0) {
                        (void) brig_sha256_finish(d, (char[BRIG_SHA256_HEX]){0});
                        return r;
                }
                done += n;
        }
        return put_sha(w, item, d);
}

static int workspace_entry(const brig_history_entry *e, void *userdata, brig_error *err) {
        writer *w = userdata;
        _cleanup_free_ char *path = NULL, *target = NULL;
        cJSON *item;

        (void) err; /* w->err is the same */
        if (asprintf(&path, BRIG_ARCHIVE_WORKSPACE "/%s", e->path) < 0)
                return brig_error_oom(w->err);
        /* What an import refuses is never written: the archive would be of no use. */
        if (strlen(path) > BRIG_ARCHIVE_MAX_PATH)
                return brig_error_set(w->err, -ENAMETOOLONG, BRIG_KIND_LIMIT,
                                      "export: \"%.120s\": a path over %d bytes, which no import takes",
                                      path, BRIG_ARCHIVE_MAX_PATH);
        switch (e->type) {
        case BRIG_HISTORY_ENTRY_DIR:
                return put_dir(w, path);
        case BRIG_HISTORY_ENTRY_SYMLINK:
                if (!(target = strndup(e->data, e->size)))
                        return brig_error_oom(w->err);
                return put_header(w, path, AE_IFLNK, 0777, 0, target, &item);
        default:
                return put_file_mem(w, path, e->executable ? 0755 : 0644, e->data, e->size);
        }
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The directory `dir` (open) into the archive as `prefix`: directories and regular files only; `keep`
 * decides on each file's name. */
static int put_tree(writer *w, int dir, const char *prefix, bool (*keep)(const char *archive_path)) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd, r;

        if ((fd = fcntl(dir, F_DUPFD_CLOEXEC, 3)) < 0 || !(d = fdopendir(fd))) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return brig_error_set_errno(w->err, r, BRIG_KIND_IO, "export: read %s", prefix);
        }
        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int sub = -1;
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (asprintf(&path, "%s/%s", prefix, de->d_name) < 0)
                        return brig_error_oom(w->err);
                if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT) /* went meanwhile (a lock file, a log rotated away) */
                                continue;
                        return brig_error_set_errno(w->err, -errno, BRIG_KIND_IO, "export: %s", path);
                }
                if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && keep(path)))
                        continue;
                sub = openat(dir, de->d_name,
                             O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
                if (sub < 0) {
                        if (errno == ENOENT)
                                continue;
                        return brig_error_set_errno(w->err, -errno, BRIG_KIND_IO, "export: open %s", path);
                }
                if (S_ISDIR(st.st_mode)) {
                        if ((r = put_dir(w, path)) < 0 || (r = put_tree(w, sub, path, keep)) < 0)
                                return r;
                } else if ((r = put_file_fd(w, path, sub)) < 0)
                        return r;
        }
        if (errno)
                return brig_error_set_errno(w->err, -errno, BRIG_KIND_IO, "export: read %s", prefix);
        return 0;
}

/* What libgit2 is writing right now (lock files, objects before their rename as tmp_*, packs as
 * pack_git2_*) is not part of the history yet; main is written apart, at the exported snapshot. A memory
 * store's search index is derived from the history and would not be trusted by an importer. */
static bool keep_history_file(const char *path) {
        const char *name = strrchr(path, '/') + 1;
        return !ends_with(name, ".lock") && strncmp(name, "tmp_", 4) != 0 && !strstr(name, "_git2_") &&
               strcmp(path, BRIG_ARCHIVE_HISTORY "/refs/heads/main") != 0 &&
               strncmp(path, BRIG_ARCHIVE_HISTORY "/" BRIG_MEMORY_INDEX_FILE,
                       strlen(BRIG_ARCHIVE_HISTORY "/" BRIG_MEMORY_INDEX_FILE)) != 0;
}

static bool keep_process_file(const char *path) {
        return ends_with(path, ".json") || ends_with(path, ".log");
}

static int put_history(writer *w, const brig_archive_source *src) {
        _cleanup_close_ int dir = open(src->git_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char main_ref[42];
        int r;

        if (dir < 0)
                return brig_error_set_errno(w->err, -errno, BRIG_KIND_IO, "export: open the history");
        if ((r = put_dir(w, BRIG_ARCHIVE_HISTORY)) < 0 ||
            (r = put_tree(w, dir, BRIG_ARCHIVE_HISTORY, keep_history_file)) < 0)
                return r;
        (void) snprintf(main_ref, sizeof(main_ref), "%s\n", src->snapshot);
        return put_file_mem(w, BRIG_ARCHIVE_HISTORY "/refs/heads/main", 0644, main_ref, strlen(main_ref));
}

static int put_processes(writer *w, const brig_archive_source *src) {
        _cleanup_close_ int dir = open(src->processes_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r;

        if (dir < 0)
                return errno == ENOENT ? 0
                                       : brig_error_set_errno(w->err, -errno, BRIG_KIND_IO,
                                                              "export: open the processes' directory");
        if ((r = put_dir(w, BRIG_ARCHIVE_PROCESSES)) < 0)
                return r;
        return put_tree(w, dir, BRIG_ARCHIVE_PROCESSES, keep_process_file);
}

static int put_manifest(writer *w) {
        _cleanup_json_ cJSON *m = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;

        if (!m || !cJSON_AddNumberToObject(m, "version", BRIG_ARCHIVE_VERSION))
                return brig_error_oom(w->err);
        cJSON_AddItemToObject(m, "entries", w->entries);
        w->entries = NULL;
        if (!(text = cJSON_PrintUnformatted(m)))
                return brig_error_oom(w->err);
        return put_file_mem(w, BRIG_ARCHIVE_MANIFEST, 0644, text, strlen(text));
}

int brig_archive_write(int fd, const brig_archive_source *src, uint64_t *ret_bytes,
                       char ret_sha256[static BRIG_SHA256_HEX], brig_error *err) {
        writer w = {.fd = fd, .mtime = src->mtime, .err = err};
        int r;

        if (!(w.a = archive_write_new()) || !(w.whole = brig_sha256_new()) ||
            !(w.entries = cJSON_CreateArray()) || !(w.buf = malloc(BLOCK))) {
                r = brig_error_oom(err);
                goto out;
        }
        /* zstd in the library, never an external program: the threaded daemon does not fork. */
        if (archive_write_add_filter_zstd(w.a) != ARCHIVE_OK ||
            /* Compressed on zstd's own threads while this one reads the history and hashes: a fifth
             * of the work off the writer's path, the same bytes out but for the frame's layout. */
            archive_write_set_filter_option(w.a, "zstd", "threads", ZSTD_THREADS) != ARCHIVE_OK ||
            /* Level 1: half of level 3's CPU time for an archive 0.2 % larger (a workspace of text and a
             * history of zlib-compressed objects, which no level compresses further). */
            archive_write_set_filter_option(w.a, "zstd", "compression-level", ZSTD_LEVEL) != ARCHIVE_OK ||
            archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
            /* The compressed stream goes to write_cb (a write and a hash update) in blocks of this
             * size rather than tar's 10240 bytes: ~100 calls for a 100 MB archive, not ~10,000. */
            archive_write_set_bytes_per_block(w.a, OUT_BLOCK) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
            archive_write_open2(w.a, &w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
                r = archive_fail(&w, "open");
                goto out;
        }
        if ((r = put_file_mem(&w, BRIG_ARCHIVE_META, 0644, src->meta, strlen(src->meta))) < 0 ||
            (r = put_dir(&w, BRIG_ARCHIVE_WORKSPACE)) < 0 ||
            (r = brig_history_tree_walk(src->git_dir, src->snapshot, workspace_entry, &w, err)) < 0 ||
            (r = put_history(&w, src)) < 0 || (src->processes_dir && (r = put_processes(&w, src)) < 0) ||
            (r = put_manifest(&w)) < 0)
                goto out;
        if (archive_write_close(w.a) != ARCHIVE_OK) {
                r = archive_fail(&w, "close");
                goto out;
        }
        *ret_bytes = w.bytes;
        r = brig_sha256_finish(w.whole, ret_sha256);
        w.whole = NULL;
        if (r < 0)
                r = brig_error_oom(err);
out:
        if (w.a)
                archive_write_free(w.a);
        if (w.whole)
                (void) brig_sha256_finish(w.whole, (char[BRIG_SHA256_HEX]){0});
        cJSON_Delete(w.entries);
        free(w.buf);
        return r;
}
