/* SPDX-License-Identifier: MIT */
#pragma once

/* What tools/files*.c share: the per-tool entry points called by brig_files_call() and their helpers.
 * Not for other modules. Same rules as files.h: pure functions of their arguments, any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/files.h"

/* One tool: args is a JSON object; *ret gets the structuredContent object. */
typedef int (*brig__files_tool_fn)(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                                   brig_files_report *report, brig_error *err);

int brig__files_read_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                          brig_files_report *report, brig_error *err);
int brig__files_write_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                           brig_files_report *report, brig_error *err);
int brig__files_edit_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                          brig_files_report *report, brig_error *err);
int brig__files_list_directory(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                               brig_files_report *report, brig_error *err);
int brig__files_glob(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err);
int brig__files_grep(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err);
int brig__files_stat(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err);
int brig__files_move(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err);
int brig__files_remove(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                       brig_error *err);
int brig__files_make_directory(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                               brig_files_report *report, brig_error *err);

/* ctx bounds with the defaults for 0. */
uint64_t brig__files_max_read(const brig_files_ctx *ctx);
uint64_t brig__files_max_write(const brig_files_ctx *ctx);
uint64_t brig__files_max_results(const brig_files_ctx *ctx);

/* "arguments.<key>" string member that passes brig_ws_check_path(); absent and optional gives "". */
int brig__files_get_path(const cJSON *args, const char *key, bool required, const char **ret,
                         brig_error *err);

/* The path with trailing slashes dropped and "" for the root ("." too), as results print it. New
 * string. */
char *brig__files_display_path(const char *path);
/* base + "/" + name, or name alone when base is "". New string. */
char *brig__files_join(const char *base, const char *name);
/* True when path names a directory by its last component ("", ".", "..", "x/.", "x/.."): such paths have
 * no parent + name to act on. */
bool brig__files_path_is_dotted(const char *path);

/* "file", "directory", "symlink" or "other". */
const char *brig__files_type_name(mode_t mode);

/* A copy of data[0..len) as valid UTF-8 for JSON: invalid bytes and NULs become U+FFFD; cut at a
 * character boundary once max bytes are reached (max 0: no cut), setting *ret_cut. New string. */
char *brig__files_utf8_clean(const char *data, size_t len, size_t max, bool *ret_cut);

/* One directory entry of brig__files_read_dir(). */
typedef struct brig__files_dirent {
        char *name;
        unsigned char type; /* d_type: DT_DIR, DT_REG, DT_LNK, ... (never DT_UNKNOWN) */
} brig__files_dirent;

/* Reads the names in the directory dfd (not consumed) sorted by strcmp, without "." and "..", skipping
 * names that are not valid UTF-8. Each entry costs one unit of *scan_budget; when it runs out the list
 * is cut and *ret_truncated set. Caller frees with brig__files_dirents_free. */
int brig__files_read_dir(int dfd, uint64_t *scan_budget, brig__files_dirent **ret, size_t *ret_n,
                         bool *ret_truncated);
void brig__files_dirents_free(brig__files_dirent *d, size_t n);

/* fnmatch(3) of pattern components against path components, "**" standing for zero or more components
 * (not starting with "."). */
bool brig__files_glob_match(char *const *pat, size_t n_pat, const char *path);
/* Splits a glob pattern into components, dropping empty and "." ones and merging runs of "**".
 * -EINVAL for absolute patterns, ".." or more than 256 components (err names key). */
int brig__files_glob_split(const char *pattern, const char *key, char ***ret, size_t *ret_n,
                           brig_error *err);

/* Mode and owner of a file written by brig__files_replace(). */
typedef struct brig__files_attrs {
        mode_t mode;
        uid_t uid; /* (uid_t) -1: leave as is */
        gid_t gid;
        bool owner_best_effort; /* keeping an existing file's owner: EPERM from fchown is not an error */
} brig__files_attrs;

/* Writes data to name in the directory pfd atomically: a temp file beside it (O_EXCL, 0600), fchown and
 * fchmod per attrs, fsync if asked, moved over name (renameat, or an exchange and the old file's unlink),
 * fsync of the directory. The temp file never survives a failure. path is for messages. *ret_allocated is
 * the new file's allocated bytes (st_blocks * 512, as the workspace's usage counts them). */
int brig__files_replace(int pfd, const char *name, const char *path, const void *data, size_t len,
                        const brig__files_attrs *attrs, bool do_fsync, uint64_t *ret_allocated,
                        brig_error *err);

/* The soft quota's account of one file replaced by brig__files_replace: its allocated bytes now, less what
 * the file it replaced took (nothing when that one had other links, which keep its blocks). */
void brig__files_report_usage(brig_files_report *report, uint64_t allocated, const struct stat *old);

/* mkdir -p beneath the root: every missing directory of path is created 0755 and owned by ctx's uid/gid,
 * each step resolved beneath. *ret_created tells whether the last one was made here. */
int brig__files_mkdir_p(const brig_files_ctx *ctx, const char *path, bool *ret_created, brig_error *err);

/* Makes fd owned by uid/gid (when set and different; EPERM ignored if best_effort) and gives it mode. */
int brig__files_set_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode, bool best_effort);

/* Reads all of fd (a regular file) up to max bytes; -EFBIG when there is more. */
int brig__files_read_all(int fd, uint64_t max, char **ret, size_t *ret_len);

/* RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
const char *brig__files_format_time(const struct timespec *ts, char *buf, size_t size);
