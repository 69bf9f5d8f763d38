/* SPDX-License-Identifier: MIT */
/* The history's diff: snapshot against snapshot or against the working tree, as a bounded unified diff
 * that is always valid UTF-8, plus the list of changed files. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "tools/history_private.h"

#define STOP_PRINTING 1 /* a print callback's "enough": git_diff_print() hands it back */

static const char *status_name(git_delta_t s) {
        switch (s) {
        case GIT_DELTA_ADDED:
        case GIT_DELTA_UNTRACKED:
        case GIT_DELTA_COPIED:
                return "added";
        case GIT_DELTA_DELETED:
                return "deleted";
        case GIT_DELTA_TYPECHANGE:
                return "typechange";
        case GIT_DELTA_RENAMED:
                return "renamed";
        default:
                return "modified";
        }
}

typedef struct print_state {
        brig_buf text;
        int error; /* -ENOMEM from the buffer */
} print_state;

static void print_state_done(print_state *ps) {
        brig_buf_done(&ps->text);
}

static int print_line_cb(const git_diff_delta *delta, const git_diff_hunk *hunk, const git_diff_line *line,
                         void *userdata) {
        print_state *ps = userdata;
        char origin = line->origin;
        int r = 0;

        (void) delta;
        (void) hunk;
        if (origin == GIT_DIFF_LINE_CONTEXT || origin == GIT_DIFF_LINE_ADDITION ||
            origin == GIT_DIFF_LINE_DELETION)
                r = brig_buf_append(&ps->text, &origin, 1);
        if (r >= 0)
                r = brig_buf_append(&ps->text, line->content, line->content_len);
        if (r < 0) {
                ps->error = r;
                return STOP_PRINTING;
        }
        return ps->text.truncated ? STOP_PRINTING : 0;
}

/* Length of the UTF-8 sequence a lead byte starts, 0 if it cannot start one. */
static size_t lead_len(unsigned char c) {
        return c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
}

/* A copy of s[0..len) with each byte that is not part of a well-formed sequence (and each NUL, which
 * cannot travel in a JSON string) replaced by U+FFFD. */
static char *utf8_repair(const char *s, size_t len) {
        char *out = malloc(len * 3 + 1);
        size_t o = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len;) {
                size_t n = lead_len((unsigned char) s[i]);
                if (n && i + n <= len && brig_utf8_valid(s + i, n)) {
                        memcpy(out + o, s + i, n);
                        o += n;
                        i += n;
                } else {
                        memcpy(out + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                }
        }
        out[o] = 0;
        return out;
}

static int files_list(const git_diff *d, cJSON *files, bool *truncated) {
        size_t n = git_diff_num_deltas(d);

        for (size_t i = 0; i < n; i++) {
                const git_diff_delta *delta = git_diff_get_delta(d, i);
                const char *path =
                        delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path;
                cJSON *f;

                if (i >= BRIG_HISTORY_MAX_FILES) {
                        *truncated = true;
                        break;
                }
                if (!(f = cJSON_CreateObject()))
                        return -ENOMEM;
                if (!cJSON_AddItemToArray(files, f)) {
                        cJSON_Delete(f);
                        return -ENOMEM;
                }
                if (!cJSON_AddStringToObject(f, "path", path) ||
                    !cJSON_AddStringToObject(f, "status", status_name(delta->status)))
                        return -ENOMEM;
        }
        return 0;
}

int brig_history_diff(brig_history *h, const char *from, const char *to, const char *path,
                      cJSON **ret_result, brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_commit_freep) git_commit *from_c = NULL, *to_c = NULL;
        _cleanup_(git_tree_freep) git_tree *from_t = NULL, *to_t = NULL;
        _cleanup_(git_diff_freep) git_diff *d = NULL;
        _cleanup_json_ cJSON *o = NULL;
        _cleanup_free_ char *repaired = NULL;
        git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
        _cleanup_(print_state_done) print_state ps = {.text = {.max = BRIG_HISTORY_MAX_DIFF}};
        char rel[PATH_MAX], *paths[1] = {rel};
        bool truncated = false;
        cJSON *files;
        int r;

        assert(h && ret_result);
        if (path && (r = brig__history_check_path(path, "arguments.path", rel, sizeof(rel), err)) < 0)
                return r;
        if ((r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        if (from)
                r = brig__history_resolve(h, from, "arguments.from", &from_c, err);
        else
                r = brig__history_head(h, &from_c, err);
        if (r < 0 || (to && (r = brig__history_resolve(h, to, "arguments.to", &to_c, err)) < 0))
                return r;
        if ((from_c && (r = git_commit_tree(&from_t, from_c)) < 0) ||
            (to_c && (r = git_commit_tree(&to_t, to_c)) < 0))
                return brig__history_git_error(h, r, err, "diff");

        if (h->max_file_size)
                opts.max_size = (git_off_t) (h->max_file_size > INT64_MAX ? INT64_MAX : h->max_file_size);
        if (path) {
                opts.pathspec.strings = paths;
                opts.pathspec.count = 1;
                opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
        }
        if (to_c)
                r = git_diff_tree_to_tree(&d, h->repo, from_t, to_t, &opts);
        else {
                /* The working tree as the next snapshot would record it: stage it into the index (in memory;
                 * the blobs of changed files land in the object store, as with `git add`), then compare. */
                bool changed;
                git_oid tree_id;
                if ((r = brig__history_stage(h, &changed, err)) < 0)
                        return r;
                h->index_unsaved = h->index_unsaved || changed; /* the next snapshot writes it */
                /* As a tree (unchanged directories come from the index's tree cache) so the comparison skips
                 * every subtree whose id did not change. */
                if ((r = git_index_write_tree(&tree_id, h->index)) >= 0 &&
                    (r = git_tree_lookup(&to_t, h->repo, &tree_id)) >= 0)
                        r = git_diff_tree_to_tree(&d, h->repo, from_t, to_t, &opts);
        }
        if (r < 0)
                return brig__history_git_error(h, r, err, "diff");

        if (!(o = cJSON_CreateObject()) || !(files = cJSON_AddArrayToObject(o, "files")))
                return brig_error_oom(err);
        if (files_list(d, files, &truncated) < 0) /* -ENOMEM only */
                return brig_error_oom(err);
        r = git_diff_print(d, GIT_DIFF_FORMAT_PATCH, print_line_cb, &ps);
        if (ps.error < 0) /* a capped buffer's append: -ENOMEM only */
                return brig_error_oom(err);
        if (r < 0)
                return brig__history_git_error(h, r, err, "diff");
        git_error_clear();
        truncated = truncated || ps.text.truncated;
        if (ps.text.len > 0 && !brig_utf8_valid(ps.text.data, ps.text.len) &&
            !(repaired = utf8_repair(ps.text.data, ps.text.len)))
                return brig_error_oom(err);
        if (!cJSON_AddStringToObject(o, "diff",
                                     repaired       ? repaired
                                     : ps.text.data ? ps.text.data
                                                    : "") ||
            !cJSON_AddBoolToObject(o, "truncated", truncated))
                return brig_error_oom(err);
        *ret_result = TAKE_PTR(o);
        return 0;
}
