/* SPDX-License-Identifier: MIT */
/* What the file tools share: argument and path handling, UTF-8 cleaning for JSON, sorted directory reads,
 * the glob matcher, atomic replacement and mkdir -p beneath the workspace root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files_internal.h"
#include "tools/wspath.h"

uint64_t brig__files_max_read(const brig_files_ctx *ctx) {
        return ctx->max_read ? ctx->max_read : BRIG_FILES_DEFAULT_MAX_READ;
}

uint64_t brig__files_max_write(const brig_files_ctx *ctx) {
        return ctx->max_write ? ctx->max_write : BRIG_FILES_DEFAULT_MAX_WRITE;
}

uint64_t brig__files_max_results(const brig_files_ctx *ctx) {
        return ctx->max_results ? ctx->max_results : BRIG_FILES_DEFAULT_MAX_RESULTS;
}

int brig__files_get_path(const cJSON *args, const char *key, bool required, const char **ret,
                         brig_error *err) {
        const char *p = "";
        int r;

        if ((r = brig_json_get_string(args, "arguments", key, required, &p, err)) < 0)
                return r;
        if ((r = brig_ws_check_path(p, err)) < 0)
                return r;
        *ret = p;
        return 0;
}

char *brig__files_display_path(const char *path) {
        size_t len = strlen(path);

        while (len > 0 && path[len - 1] == '/')
                len--;
        if (len == 1 && path[0] == '.')
                len = 0;
        return strndup(path, len);
}

char *brig__files_join(const char *base, const char *name) {
        char *s;

        if (!base[0])
                return strdup(name);
        if (asprintf(&s, "%s/%s", base, name) < 0)
                return NULL;
        return s;
}

bool brig__files_path_is_dotted(const char *path) {
        size_t len = strlen(path);
        const char *last;

        while (len > 0 && path[len - 1] == '/')
                len--;
        if (len == 0)
                return true;
        last = memrchr(path, '/', len);
        last = last ? last + 1 : path;
        len -= (size_t) (last - path);
        return (len == 1 && last[0] == '.') || (len == 2 && last[0] == '.' && last[1] == '.');
}

const char *brig__files_type_name(mode_t mode) {
        if (S_ISREG(mode))
                return "file";
        if (S_ISDIR(mode))
                return "directory";
        if (S_ISLNK(mode))
                return "symlink";
        return "other";
}

char *brig__files_utf8_clean(const char *data, size_t len, size_t max, bool *ret_cut) {
        static const char replacement[] = "\xef\xbf\xbd";
        brig_buf b = {0};
        size_t i = 0, run = 0; /* data[run..i) is valid and not yet copied */
        bool cut = false;

        while (i < len) {
                /* A NUL is replaced too: JSON strings cannot carry it through cJSON. */
                size_t k = data[i] ? brig_utf8_seq_len((unsigned char) data[i]) : 0;
                bool ok = k && i + k <= len && (k == 1 || brig_utf8_valid(data + i, k));
                size_t add = ok ? k : sizeof(replacement) - 1;

                if (max && b.len + (i - run) + add > max) {
                        cut = true;
                        break;
                }
                if (ok) {
                        i += k;
                        continue;
                }
                if (brig_buf_append(&b, data + run, i - run) < 0 ||
                    brig_buf_append(&b, replacement, sizeof(replacement) - 1) < 0)
                        goto fail;
                run = ++i;
        }
        if (brig_buf_append(&b, data + run, i - run) < 0)
                goto fail;
        if (ret_cut)
                *ret_cut = cut;
        return b.data ? b.data : strdup("");
fail:
        brig_buf_done(&b);
        return NULL;
}

void brig__files_dirents_free(brig__files_dirent *d, size_t n) {
        for (size_t i = 0; d && i < n; i++)
                free(d[i].name);
        free(d);
}

static int dirent_cmp(const void *a, const void *b) {
        return strcmp(((const brig__files_dirent *) a)->name, ((const brig__files_dirent *) b)->name);
}

int brig__files_read_dir(int dfd, uint64_t *scan_budget, brig__files_dirent **ret, size_t *ret_n,
                         bool *ret_truncated) {
        brig__files_dirent *v = NULL;
        size_t n = 0, cap = 0;
        bool truncated = false;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        /* A fresh open file description: dfd's offset is never moved, and dfd may be O_PATH. */
        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno ? -errno : 0;
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (!brig_utf8_valid(de->d_name, strlen(de->d_name)))
                        continue;
                if (*scan_budget == 0) {
                        truncated = true;
                        break;
                }
                (*scan_budget)--;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        brig__files_dirent *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = ncap;
                }
                v[n].type = de->d_type;
                if (v[n].type == DT_UNKNOWN) {
                        struct stat st;
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue; /* gone meanwhile */
                        v[n].type = IFTODT(st.st_mode);
                }
                if (!(v[n].name = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                brig__files_dirents_free(v, n);
                return r;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), dirent_cmp);
        *ret = v;
        *ret_n = n;
        if (ret_truncated && truncated)
                *ret_truncated = true;
        return 0;
}

bool brig__files_glob_match(char *const *pat, size_t n_pat, const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_free_ char **comp = NULL;
        _cleanup_free_ bool *dp = NULL;
        size_t m = 0, cols;
        char *save = NULL;

        if (!copy)
                return false;
        comp = calloc(strlen(path) / 2 + 2, sizeof(char *));
        if (!comp)
                return false;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                comp[m++] = c;
        /* dp[i][j]: pattern components i.. match path components j.. */
        cols = m + 1;
        dp = calloc((n_pat + 1) * cols, sizeof(bool));
        if (!dp)
                return false;
        dp[n_pat * cols + m] = true;
        for (size_t i = n_pat; i-- > 0;)
                for (size_t j = m + 1; j-- > 0;) {
                        bool v;
                        if (strcmp(pat[i], "**") == 0)
                                v = dp[(i + 1) * cols + j] ||
                                    (j < m && comp[j][0] != '.' && dp[i * cols + j + 1]);
                        else
                                v = j < m && dp[(i + 1) * cols + j + 1] &&
                                    fnmatch(pat[i], comp[j], FNM_PERIOD) == 0;
                        dp[i * cols + j] = v;
                }
        return dp[0];
}

int brig__files_glob_split(const char *pattern, const char *key, char ***ret, size_t *ret_n,
                           brig_error *err) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;
        size_t n = 0;

        if (strlen(pattern) > BRIG_FILES_MAX_PATTERN)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "arguments.%s: longer than %d bytes",
                                      key, BRIG_FILES_MAX_PATTERN);
        if (pattern[0] == '/')
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.%s: must be relative to the workspace root", key);
        if (!(copy = strdup(pattern)) || !(v = calloc(257, sizeof(char *))))
                return brig_error_oom(err);
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.%s: must not contain '..'", key);
                if (strcmp(c, "**") == 0 && n > 0 && strcmp(v[n - 1], "**") == 0)
                        continue;
                if (n == 256)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                              "arguments.%s: more than 256 components", key);
                if (!(v[n++] = strdup(c)))
                        return brig_error_oom(err);
        }
        if (n == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.%s: must not be empty", key);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

const char *brig__files_format_time(const struct timespec *ts, char *buf, size_t size) {
        struct tm tm;
        size_t n;

        if (!gmtime_r(&ts->tv_sec, &tm) || (n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
                (void) snprintf(buf, size, "1970-01-01T00:00:00.000Z");
                return buf;
        }
        (void) snprintf(buf + n, size - n, ".%03ldZ", ts->tv_nsec / 1000000);
        return buf;
}

int brig__files_read_all(int fd, uint64_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0, cap;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        /* Room for the whole file as fstat sees it, bounded by max, plus a byte to notice growth. */
        cap = (size_t) ((uint64_t) st.st_size < max ? (uint64_t) st.st_size : max) + 1;
        if (!(data = malloc(cap + 1)))
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        if (len > max)
                                return -EFBIG;
                        size_t ncap = cap * 2 > max + 1 ? (size_t) max + 1 : cap * 2;
                        char *p = realloc(data, ncap + 1);
                        if (!p)
                                return -ENOMEM;
                        data = p;
                        cap = ncap;
                }
                n = read(fd, data + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max)
                return -EFBIG;
        data[len] = 0;
        *ret = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

/* brig__files_set_owner_mode() for a file whose fstat is st. */
static int set_owner_mode_st(int fd, const struct stat *st, uid_t uid, gid_t gid, mode_t mode,
                             bool best_effort) {
        if ((uid != (uid_t) -1 && uid != st->st_uid) || (gid != (gid_t) -1 && gid != st->st_gid))
                if (fchown(fd, uid, gid) < 0 && !(best_effort && errno == EPERM))
                        return -errno;
        /* Always after fchown, which may clear set-id bits. */
        if (fchmod(fd, mode) < 0)
                return -errno;
        return 0;
}

int brig__files_set_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode, bool best_effort) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        return set_owner_mode_st(fd, &st, uid, gid, mode, best_effort);
}

/* Moves the finished temporary file tmp over name. Over an existing file, the two are exchanged
 * (renameat2 RENAME_EXCHANGE) and the old one, now at tmp, unlinked: readers see the old file or the new
 * one at every instant, as with renameat, but ext4 does not flush the new file's data first, which it
 * does on a rename over a file (auto_da_alloc: 40-60% of a small write_file's time on a workspace image).
 * That flush is durability against a power loss, which only fsync promises (files.fsync). */
static int put_in_place(int pfd, const char *tmp, const char *name) {
        if (renameat2(pfd, tmp, pfd, name, RENAME_EXCHANGE) == 0) {
                if (unlinkat(pfd, tmp, 0) == 0)
                        return 0;
                int r = -errno;
                /* name had become a directory meanwhile: put it back, as renameat would have refused. */
                if (r == -EISDIR && renameat2(pfd, tmp, pfd, name, RENAME_EXCHANGE) < 0)
                        return -errno;
                return r;
        }
        /* ENOENT: a new file; EINVAL: a filesystem without RENAME_EXCHANGE. */
        if (errno != ENOENT && errno != EINVAL)
                return -errno;
        return renameat(pfd, tmp, pfd, name) < 0 ? -errno : 0;
}

int brig__files_replace(int pfd, const char *name, const char *path, const void *data, size_t len,
                        const brig__files_attrs *attrs, bool do_fsync, uint64_t *ret_allocated,
                        brig_error *err) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        char tmp[40];
        int r;

        for (int i = 0; i < 16 && fd < 0; i++) {
                unsigned long long rnd;
                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
                        rnd = (unsigned long long) getpid() * 1000003u + (unsigned long long) i * 7919u +
                              (unsigned long long) time(NULL);
                (void) snprintf(tmp, sizeof(tmp), ".brig-%016llx.tmp", rnd);
                fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        return brig_ws_error(-errno, path, err);
        }
        if (fd < 0)
                return brig_error_set(err, -EEXIST, BRIG_KIND_IO, "no free temporary name beside '%s'",
                                      name);

        r = brig_write_all(fd, data, len);
        /* Once written, st_blocks is what the new file takes on disk (delayed allocation counts). */
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r >= 0)
                r = set_owner_mode_st(fd, &st, attrs->uid, attrs->gid, attrs->mode,
                                      attrs->owner_best_effort);
        if (r >= 0 && do_fsync && fsync(fd) < 0)
                r = -errno;
        if (r >= 0)
                r = put_in_place(pfd, tmp, name);
        if (r < 0) {
                (void) unlinkat(pfd, tmp, 0);
                return brig_ws_error(r, path, err);
        }
        if (do_fsync) {
                /* The rename is durable once the directory is: pfd is O_PATH, so open it for fsync. */
                _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0 || fsync(dfd) < 0)
                        return brig_ws_error(-errno, path, err);
        }
        *ret_allocated = (uint64_t) st.st_blocks * 512;
        return 0;
}

void brig__files_report_usage(brig_files_report *report, uint64_t allocated, const struct stat *old) {
        uint64_t freed = old && old->st_nlink == 1 ? (uint64_t) old->st_blocks * 512 : 0;

        report->usage_delta = (int64_t) allocated - (int64_t) freed;
        report->usage_known = true;
}

int brig__files_mkdir_p(const brig_files_ctx *ctx, const char *path, bool *ret_created, brig_error *err) {
        _cleanup_free_ char *p = brig__files_display_path(path);
        bool created = false;
        size_t len;

        if (!p)
                return brig_error_oom(err);
        len = strlen(p);
        for (size_t i = 1; i <= len; i++) {
                _cleanup_free_ char *name = NULL;
                _cleanup_close_ int pfd = -1, dfd = -1;
                char save;
                int fd;

                if ((i < len && p[i] != '/') || p[i - 1] == '/')
                        continue;
                save = p[i];
                p[i] = 0;
                created = false;
                fd = brig_ws_open(ctx->root_fd, p, O_PATH | O_DIRECTORY, 0, NULL);
                if (fd >= 0) {
                        close(fd);
                        p[i] = save;
                        continue;
                }
                if (fd != -ENOENT)
                        return brig_ws_error(fd, p, err);
                pfd = brig_ws_open_parent(ctx->root_fd, p, &name, err);
                if (pfd < 0)
                        return pfd;
                if (mkdirat(pfd, name, 0755) < 0) {
                        if (errno != EEXIST)
                                return brig_ws_error(-errno, p, err);
                        /* Raced with another creator: fine if it is a directory. */
                        fd = brig_ws_open(ctx->root_fd, p, O_PATH | O_DIRECTORY, 0, err);
                        if (fd < 0)
                                return fd;
                        close(fd);
                } else {
                        int r;
                        dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (dfd < 0)
                                return brig_ws_error(-errno, p, err);
                        if ((r = brig__files_set_owner_mode(dfd, ctx->uid, ctx->gid, 0755, false)) < 0)
                                return brig_ws_error(r, p, err);
                        created = true;
                }
                p[i] = save;
        }
        if (ret_created)
                *ret_created = created;
        return 0;
}
