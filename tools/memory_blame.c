/* SPDX-License-Identifier: MIT */
/* Attribution of a memory file's lines: git blame (libgit2) of the current version on the bare
 * repository, each part named by the version that wrote it and that version's trailers. */
#include <errno.h>
#include <string.h>

#include <git2.h>

#include "common/json.h"
#include "tools/history_private.h"
#include "tools/memory_private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_blame *, git_blame_free);

int brig_memory_blame(brig_memory *m, const char *path, size_t from, size_t to, cJSON **ret,
                      brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *head = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_(git_blame_freep) git_blame *blame = NULL;
        _cleanup_json_ cJSON *list = cJSON_CreateArray();
        git_blame_options o = GIT_BLAME_OPTIONS_INIT;
        int r;

        if (!list)
                return brig_error_oom(err);
        if ((r = brig_memory_kind(m, path, err)) < 0)
                return r;
        if (r != 1)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "no such memory file");
        if ((r = brig__memory_head(m, &head, &tree, err)) < 0)
                return r;
        /* The current version, not a working tree: the repository is bare. */
        o.newest_commit = *git_commit_id(head);
        o.min_line = from;
        o.max_line = to;
        if ((r = git_blame_file(&blame, m->repo, path, &o)) < 0)
                return brig__memory_fail(m, r, err, "memory: attribution");
        for (uint32_t i = 0; i < git_blame_get_hunk_count(blame); i++) {
                const git_blame_hunk *h = git_blame_get_hunk_byindex(blame, i);
                cJSON *item = cJSON_CreateObject();
                if (!item || !cJSON_AddItemToArray(list, item) ||
                    !cJSON_AddNumberToObject(item, "start_line", (double) h->final_start_line_number) ||
                    !cJSON_AddNumberToObject(item, "lines", (double) h->lines_in_hunk))
                        return brig_error_oom(err);
                _cleanup_(git_commit_freep) git_commit *c = NULL;
                if ((r = git_commit_lookup(&c, m->repo, &h->final_commit_id)) < 0)
                        return brig__memory_fail(m, r, err, "memory: attribution");
                if ((r = brig__memory_describe(c, item, err)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(list);
        return 0;
}
