/* SPDX-License-Identifier: MIT */
/* The memory store: one scope's memories as a bare git repository (libgit2), its writer lock, reads from
 * the current version, changes and restores as attributed commits within the policy's bounds, and the log.
 * What is stored where and why: tools/memory_store.h. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/history_private.h"
#include "tools/memory_private.h"
#include "tools/memory_store.h"

#define FILE_MODE GIT_FILEMODE_BLOB

/* One trailer per piece of provenance: git's own trailer syntax, so `git log` and
 * git_message_trailers() read them back. */
static const struct {
        const char *key;
        const char *field; /* in brig_memory_log() entries */
} trailers[] = {
        {"Brig-Environment", "environment"}, {"Brig-Call-Id", "call_id"}, {"Brig-Peer-Uid", "peer_uid"},
        {"Brig-Command", "command"},         {"Brig-Path", "path"},       {"Brig-Feedback", "feedback"},
        {"Brig-New-Path", "new_path"},
};

DEFINE_TRIVIAL_CLEANUP_FUNC(git_odb *, git_odb_free);

static size_t strv_length(char **v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static bool strv_contains(char **v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

int brig__memory_fail(brig_memory *m, int gr, brig_error *err, const char *what) {
        const git_error *e = git_error_last();
        int saved = errno;
        const char *msg = e && e->message ? e->message : saved ? strerror(saved) : "unknown error";
        char clean[256];
        size_t dl = m && m->dir ? strlen(m->dir) : 0;
        const char *at = dl ? strstr(msg, m->dir) : NULL;

        /* The host path of the store means nothing to the agent. */
        if (at)
                (void) snprintf(clean, sizeof(clean), "%.*s<memory>%s", (int) (at - msg), msg, at + dl);
        else
                (void) snprintf(clean, sizeof(clean), "%s", msg);
        if (gr == GIT_ENOTFOUND)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "%s: %s", what, clean);
        if (gr == GIT_EAMBIGUOUS || gr == GIT_EINVALIDSPEC)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s: %s", what, clean);
        if (e && e->klass == GIT_ERROR_NOMEMORY)
                return brig_error_oom(err);
        return brig_error_set(err, saved == ENOSPC || saved == EDQUOT ? -saved : -EIO, BRIG_KIND_IO,
                              "%s: %s", what, clean);
}

int brig_memory_path_parse(const char *path, const char *field, char buf[static BRIG_MEMORY_MAX_PATH + 1],
                           brig_error *err) {
        static const char root[] = "/memories";
        size_t len = path ? strlen(path) : 0;
        const char *rel;

        if (!path || strncmp(path, root, sizeof(root) - 1) != 0 ||
            (path[sizeof(root) - 1] && path[sizeof(root) - 1] != '/'))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: must be /memories or a path under it", field);
        if (len > BRIG_MEMORY_MAX_PATH)
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: longer than %u bytes", field, BRIG_MEMORY_MAX_PATH);
        rel = path + sizeof(root) - 1;
        if (*rel == '/')
                rel++;
        len = strlen(rel);
        memcpy(buf, rel, len + 1);
        if (len && buf[len - 1] == '/')
                buf[--len] = 0;
        for (const char *c = buf; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f || *c == '\\')
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: control characters and backslashes are not allowed",
                                              field);
        for (const char *c = buf; len && c;) {
                const char *slash = strchr(c, '/');
                size_t n = slash ? (size_t) (slash - c) : strlen(c);
                /* A name the view's filesystem cannot hold would stop every update of the view. */
                if (n > NAME_MAX)
                        return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: a path component is longer than %d bytes", field,
                                              NAME_MAX);
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
                    (n == 4 && strncasecmp(c, ".git", 4) == 0))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: \"%.*s\" is not allowed as a path component", field,
                                              (int) (n > 32 ? 32 : n), c);
                c = slash ? slash + 1 : NULL;
        }
        return 0;
}

int brig_memory_scope_dir(const char *root, brig_memory_scope_kind kind, const char *name, uid_t peer_uid,
                          const char *env_id, char **ret, brig_error *err) {
        int r;

        if (kind == BRIG_MEMORY_SCOPE_OWNER)
                r = asprintf(ret, "%s/owner/%u", root, (unsigned) peer_uid);
        else if (kind == BRIG_MEMORY_SCOPE_ENVIRONMENT) {
                if (!env_id || !*env_id || strchr(env_id, '/') || env_id[0] == '.')
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "memory: no environment id");
                r = asprintf(ret, "%s/environment/%s", root, env_id);
        } else {
                /* The name was checked by the policy parser: one lowercase word, no slash, no leading dot.
                 */
                if (!name || !*name || strchr(name, '/') || name[0] == '.')
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "memory: no scope name");
                r = asprintf(ret, "%s/named/%s", root, name);
        }
        if (r < 0) {
                *ret = NULL;
                return brig_error_oom(err);
        }
        return 0;
}

static int mkdir_parents(const char *dir, brig_error *err) {
        _cleanup_free_ char *copy = strdup(dir);

        if (!copy)
                return brig_error_oom(err);
        for (char *s = copy + 1;; s++) {
                bool end = *s == 0;
                if (*s != '/' && !end)
                        continue;
                *s = 0;
                /* Only brigd reads the store: nothing below the state directory is for other users. */
                if (mkdir(copy, 0700) < 0 && errno != EEXIST)
                        return brig_error_set_errno(err, -errno,
                                                    errno == EACCES ? BRIG_KIND_DENIED : BRIG_KIND_IO,
                                                    "memory: create the store");
                if (end)
                        break;
                *s = '/';
        }
        return 0;
}

int brig_memory_open(const char *dir, brig_memory **ret, brig_error *err) {
        _cleanup_(brig_memory_freep) brig_memory *m = calloc(1, sizeof(*m));
        int r;

        if (!m || !(m->dir = strdup(dir)))
                return brig_error_oom(err);
        m->lock_fd = -1;
        if ((r = brig__history_lib_acquire(err)) < 0)
                return r;
        m->lib_held = true;
        if ((r = mkdir_parents(dir, err)) < 0)
                return r;
        r = git_repository_open_ext(&m->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
                                    NULL);
        if (r == GIT_ENOTFOUND) {
                git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
                o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
                o.initial_head = "main";
                r = git_repository_init_ext(&m->repo, dir, &o);
                /* Another writer created it between our open and init. */
                if (r == GIT_EEXISTS)
                        r = git_repository_open_ext(&m->repo, dir,
                                                    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
                                                    NULL);
        }
        if (r < 0)
                return brig__memory_fail(m, r, err, "memory: open the store");
        *ret = TAKE_PTR(m);
        return 0;
}

void brig_memory_free(brig_memory *m) {
        if (!m)
                return;
        brig_memory_unlock(m);
        brig__memory_index_close(m);
        git_repository_free(m->repo);
        if (m->lib_held)
                brig__history_lib_release();
        free(m->dir);
        free(m);
}

int brig_memory_lock(brig_memory *m, brig_error *err) {
        _cleanup_free_ char *path = NULL;

        if (m->lock_fd >= 0)
                return 0;
        if (asprintf(&path, "%s/brig.lock", m->dir) < 0) {
                path = NULL;
                return brig_error_oom(err);
        }
        m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (m->lock_fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "memory: open the lock");
        /* flock, not a process-wide mutex: it also serialises brig's CLI and a second brigd on one state
         * directory, and each open file description is its own lock, so two threads exclude each other. */
        while (flock(m->lock_fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        int e = -errno;
                        brig_memory_unlock(m);
                        return brig_error_set_errno(err, e, BRIG_KIND_IO, "memory: lock");
                }
        return 0;
}

void brig_memory_unlock(brig_memory *m) {
        if (m->lock_fd >= 0)
                (void) close(m->lock_fd); /* drops the flock */
        m->lock_fd = -1;
}

int brig__memory_head(brig_memory *m, git_commit **ret_commit, git_tree **ret_tree, brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        git_oid id;
        int r = git_reference_name_to_id(&id, m->repo, "HEAD");

        *ret_tree = NULL;
        if (ret_commit)
                *ret_commit = NULL;
        if (r == GIT_ENOTFOUND || r == GIT_EUNBORNBRANCH) {
                git_error_clear();
                return 0;
        }
        if (r < 0 || (r = git_commit_lookup(&c, m->repo, &id)) < 0 || (r = git_commit_tree(ret_tree, c)) < 0)
                return brig__memory_fail(m, r, err, "memory: current version");
        if (ret_commit)
                *ret_commit = TAKE_PTR(c);
        return 0;
}

/* The entry at path in tree (NULL tree or absent: *ret NULL, 0). */
static int entry_at(brig_memory *m, git_tree *tree, const char *path, git_tree_entry **ret,
                    brig_error *err) {
        int r;

        *ret = NULL;
        if (!tree || !*path)
                return 0;
        r = git_tree_entry_bypath(ret, tree, path);
        if (r == GIT_ENOTFOUND) {
                git_error_clear();
                return 0;
        }
        return r < 0 ? brig__memory_fail(m, r, err, "memory: look up") : 0;
}

static int tree_kind(brig_memory *m, git_tree *tree, const char *path, brig_error *err) {
        _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
        int r;

        if (!*path)
                return 2;
        if ((r = entry_at(m, tree, path, &e, err)) < 0)
                return r;
        return !e ? 0 : git_tree_entry_type(e) == GIT_OBJECT_TREE ? 2 : 1;
}

int brig_memory_kind(brig_memory *m, const char *path, brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        int r = brig__memory_head(m, NULL, &tree, err);

        return r < 0 ? r : tree_kind(m, tree, path, err);
}

int brig_memory_read(brig_memory *m, const char *path, char **ret, size_t *ret_len, brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
        _cleanup_(git_blob_freep) git_blob *b = NULL;
        int r;

        if ((r = brig__memory_head(m, NULL, &tree, err)) < 0 || (r = entry_at(m, tree, path, &e, err)) < 0)
                return r;
        if (!*path || (e && git_tree_entry_type(e) == GIT_OBJECT_TREE))
                return brig_error_set(err, -EISDIR, BRIG_KIND_INVALID_ARGUMENT, "is a directory");
        if (!e)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "no such memory");
        if ((r = git_blob_lookup(&b, m->repo, git_tree_entry_id(e))) < 0)
                return brig__memory_fail(m, r, err, "memory: read");
        size_t n = (size_t) git_blob_rawsize(b);
        char *d = malloc(n + 1);
        if (!d)
                return brig_error_oom(err);
        memcpy(d, git_blob_rawcontent(b), n);
        d[n] = 0;
        *ret = d;
        *ret_len = n;
        return 0;
}

static int blob_size(brig_memory *m, git_odb *odb, const git_oid *id, uint64_t *ret, brig_error *err) {
        git_object_t type;
        size_t len;
        int r = git_odb_read_header(&len, &type, odb, id);

        if (r < 0)
                return brig__memory_fail(m, r, err, "memory: object size");
        *ret = (uint64_t) len;
        return 0;
}

/* Appends the entries of tree (at scope path prefix) to list, depth first; adds their bytes to *total. */
static int list_tree(brig_memory *m, git_odb *odb, git_tree *tree, const char *prefix, unsigned depth,
                     unsigned max_depth, cJSON *list, uint64_t *total, brig_error *err) {
        for (size_t i = 0; i < git_tree_entrycount(tree); i++) {
                const git_tree_entry *e = git_tree_entry_byindex(tree, i);
                _cleanup_free_ char *path = NULL;
                bool dir = git_tree_entry_type(e) == GIT_OBJECT_TREE;
                uint64_t size = 0;
                cJSON *item = NULL;
                int r;

                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", git_tree_entry_name(e)) < 0) {
                        path = NULL;
                        return brig_error_oom(err);
                }
                if (list && depth < max_depth) {
                        if (!(item = cJSON_CreateObject()) || !cJSON_AddStringToObject(item, "path", path) ||
                            !cJSON_AddBoolToObject(item, "dir", dir)) {
                                cJSON_Delete(item);
                                return brig_error_oom(err);
                        }
                        cJSON_AddItemToArray(list, item);
                }
                if (dir) {
                        _cleanup_(git_tree_freep) git_tree *sub = NULL;
                        if ((r = git_tree_lookup(&sub, m->repo, git_tree_entry_id(e))) < 0)
                                return brig__memory_fail(m, r, err, "memory: list");
                        if ((r = list_tree(m, odb, sub, path, depth + 1, max_depth,
                                           depth + 1 < max_depth ? list : NULL, &size, err)) < 0)
                                return r;
                } else if ((r = blob_size(m, odb, git_tree_entry_id(e), &size, err)) < 0)
                        return r;
                if (item && !cJSON_AddNumberToObject(item, "size", (double) size))
                        return brig_error_oom(err);
                *total += size;
        }
        return 0;
}

int brig_memory_list(brig_memory *m, const char *path, unsigned max_depth, cJSON **ret, uint64_t *ret_total,
                     brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *tree = NULL, *sub = NULL;
        _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
        _cleanup_(git_odb_freep) git_odb *odb = NULL;
        _cleanup_json_ cJSON *list = cJSON_CreateArray();
        uint64_t total = 0;
        int r;

        if (!list)
                return brig_error_oom(err);
        if ((r = brig__memory_head(m, NULL, &tree, err)) < 0 || (r = entry_at(m, tree, path, &e, err)) < 0)
                return r;
        if (*path && !e)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "no such memory");
        if (e && git_tree_entry_type(e) != GIT_OBJECT_TREE)
                return brig_error_set(err, -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT, "not a directory");
        if (e && (r = git_tree_lookup(&sub, m->repo, git_tree_entry_id(e))) < 0)
                return brig__memory_fail(m, r, err, "memory: list");
        if ((r = git_repository_odb(&odb, m->repo)) < 0)
                return brig__memory_fail(m, r, err, "memory: list");
        if ((e ? sub : tree) &&
            (r = list_tree(m, odb, e ? sub : tree, path, 0, max_depth, list, &total, err)) < 0)
                return r;
        *ret = TAKE_PTR(list);
        *ret_total = total;
        return 0;
}

static int stored_path_check(const char *rel, brig_error *err) {
        char full[BRIG_MEMORY_MAX_PATH + 1], buf[BRIG_MEMORY_MAX_PATH + 1];
        brig_error e2 = BRIG_ERROR_INIT;

        if ((size_t) snprintf(full, sizeof(full), "/memories/%s", rel) >= sizeof(full) ||
            brig_memory_path_parse(full, "path", buf, &e2) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_IO, "memory: the store holds an invalid path");
        return 0;
}

static int collect_files(brig_memory *m, git_tree *tree, const char *prefix, char ***strv, size_t *n,
                         brig_error *err) {
        for (size_t i = 0; i < git_tree_entrycount(tree); i++) {
                const git_tree_entry *e = git_tree_entry_byindex(tree, i);
                char *path;
                int r;

                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", git_tree_entry_name(e)) < 0)
                        return brig_error_oom(err);
                /* A store brought in by `brig memory import` was never written through the tool: its names
                 * pass the tool's path rules before anyone joins them to a directory (the mounted view), and
                 * the path length bounds the recursion. */
                if ((r = stored_path_check(path, err)) < 0) {
                        free(path);
                        return r;
                }
                if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
                        _cleanup_(git_tree_freep) git_tree *sub = NULL;
                        _cleanup_free_ char *p = path;
                        if ((r = git_tree_lookup(&sub, m->repo, git_tree_entry_id(e))) < 0)
                                return brig__memory_fail(m, r, err, "memory: list");
                        if ((r = collect_files(m, sub, p, strv, n, err)) < 0)
                                return r;
                        continue;
                }
                char **grown = reallocarray(*strv, *n + 2, sizeof(char *));
                if (!grown) {
                        free(path);
                        return brig_error_oom(err);
                }
                *strv = grown;
                (*strv)[(*n)++] = path;
                (*strv)[*n] = NULL;
        }
        return 0;
}

static int files_below(brig_memory *m, git_tree *tree, const char *path, char ***ret, brig_error *err) {
        _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
        _cleanup_(git_tree_freep) git_tree *sub = NULL;
        char **strv = calloc(2, sizeof(char *)); /* a file: itself and the terminator */
        size_t n = 0;
        int r;

        if (!strv)
                return brig_error_oom(err);
        if ((r = entry_at(m, tree, path, &e, err)) < 0)
                goto fail;
        if (e && git_tree_entry_type(e) != GIT_OBJECT_TREE) {
                if (!(strv[0] = strdup(path))) {
                        r = brig_error_oom(err);
                        goto fail;
                }
        } else if (e || (!*path && tree)) {
                if (e && (r = git_tree_lookup(&sub, m->repo, git_tree_entry_id(e))) < 0) {
                        r = brig__memory_fail(m, r, err, "memory: list");
                        goto fail;
                }
                if ((r = collect_files(m, e ? sub : tree, path, &strv, &n, err)) < 0)
                        goto fail;
        }
        *ret = strv;
        return 0;
fail:
        brig_strv_free(strv);
        return r;
}

int brig_memory_files_below(brig_memory *m, const char *path, char ***ret, brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        int r = brig__memory_head(m, NULL, &tree, err);

        return r < 0 ? r : files_below(m, tree, path, ret, err);
}

typedef struct usage {
        git_odb *odb;
        uint64_t bytes, files;
        int error;
} usage;

static int usage_cb(const char *root, const git_tree_entry *e, void *userdata) {
        usage *u = userdata;
        git_object_t type;
        size_t len;

        (void) root;
        if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
                return 0;
        if ((u->error = git_odb_read_header(&len, &type, u->odb, git_tree_entry_id(e))) < 0)
                return -1;
        u->bytes += len;
        u->files++;
        return 0;
}

static int tree_usage(brig_memory *m, git_tree *tree, usage *u, brig_error *err) {
        int r;

        u->bytes = u->files = 0;
        if (!tree)
                return 0;
        if ((r = git_tree_walk(tree, GIT_TREEWALK_PRE, usage_cb, u)) < 0)
                return brig__memory_fail(m, u->error ? u->error : r, err, "memory: measure");
        return 0;
}

static int check_limits(const usage *before, const usage *after, const brig_memory_limits *limits,
                        brig_error *err) {
        /* Only growth past a bound is refused: a scope over a lowered bound can still shrink. */
        if (after->bytes > limits->max_bytes && after->bytes > before->bytes)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "the memory would hold %llu bytes, over memory.max_bytes (%llu)",
                                      (unsigned long long) after->bytes,
                                      (unsigned long long) limits->max_bytes);
        if (after->files > limits->max_files && after->files > before->files)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "the memory would hold %llu files, over memory.max_files (%llu)",
                                      (unsigned long long) after->files,
                                      (unsigned long long) limits->max_files);
        return 0;
}

static char *compose_message(const brig_memory_author *who) {
        char uid[16];
        const char *values[ELEMENTSOF(trailers)];
        char *msg = NULL;
        size_t size = 0;
        FILE *f;

        (void) snprintf(uid, sizeof(uid), "%u", (unsigned) who->peer_uid);
        values[0] = who->environment;
        values[1] = who->call_id;
        values[2] = uid;
        values[3] = who->command;
        values[4] = who->path;
        values[5] = who->feedback;
        values[6] = who->new_path;
        if (!(f = open_memstream(&msg, &size)))
                return NULL;
        (void) fprintf(f, "%s %s\n\n", who->command ? who->command : "change", who->path ? who->path : "");
        /* A note is one paragraph of the body (the caller made it one line), never a trailer. */
        if (who->note && *who->note)
                (void) fprintf(f, "%s\n\n", who->note);
        for (size_t i = 0; i < ELEMENTSOF(trailers); i++)
                if (values[i] && *values[i])
                        (void) fprintf(f, "%s: %s\n", trailers[i].key, values[i]);
        if (fclose(f) != 0) {
                free(msg);
                return NULL;
        }
        return msg;
}

int brig__memory_commit_tree(brig_memory *m, git_commit *parent, const git_oid *tree_id,
                             const brig_memory_author *who, char ret_id[41], brig_error *err) {
        _cleanup_(git_signature_freep) git_signature *sig = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_free_ char *msg = compose_message(who);
        const git_commit *parents[1] = {parent};
        git_oid id;
        int r;

        if (!msg)
                return brig_error_oom(err);
        /* Moving HEAD's branch is the one step that makes the change visible: libgit2 writes the new ref to
         * a lock file and renames it over the old one, and refuses when the tip is no longer `parent`. */
        if ((r = git_tree_lookup(&tree, m->repo, tree_id)) < 0 ||
            (r = git_signature_now(&sig, "brig", "brig@localhost")) < 0 ||
            (r = git_commit_create(&id, m->repo, "HEAD", sig, sig, NULL, msg, tree, parent ? 1 : 0,
                                   parents)) < 0)
                return brig__memory_fail(m, r, err, "memory: commit");
        (void) git_oid_tostr(ret_id, 41, &id);
        /* The index is derived state: the version is made whatever becomes of it, and a search catches
         * up from the version the index records. */
        brig_error ignored = BRIG_ERROR_INIT;
        (void) brig__memory_index_sync(m, &ignored);
        return 0;
}

static int empty_tree(brig_memory *m, git_oid *ret, brig_error *err) {
        git_treebuilder *b = NULL;
        int r = git_treebuilder_new(&b, m->repo, NULL);

        if (r >= 0)
                r = git_treebuilder_write(ret, b);
        git_treebuilder_free(b);
        return r < 0 ? brig__memory_fail(m, r, err, "memory: empty tree") : 0;
}

/* Every directory above path must be one (or absent), and path itself must not be a directory. */
static int check_place(brig_memory *m, git_tree *tree, const char *path, brig_error *err) {
        char buf[BRIG_MEMORY_MAX_PATH + 1];
        int k;

        if ((k = tree_kind(m, tree, path, err)) < 0)
                return k;
        if (k == 2)
                return brig_error_set(err, -EISDIR, BRIG_KIND_INVALID_ARGUMENT, "%s is a directory", path);
        (void) snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = strrchr(buf, '/'); s; s = strrchr(buf, '/')) {
                *s = 0;
                if ((k = tree_kind(m, tree, buf, err)) < 0)
                        return k;
                if (k == 1)
                        return brig_error_set(err, -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s is a file, not a directory", buf);
        }
        return 0;
}

/* What a change writes passes the tool's path rules, however it was composed (a rename joins two paths). */
static int written_path_check(const char *rel, brig_error *err) {
        _cleanup_free_ char *full = NULL;
        char buf[BRIG_MEMORY_MAX_PATH + 1];

        if (asprintf(&full, "/memories/%s", rel) < 0)
                return brig_error_oom(err);
        return brig_memory_path_parse(full, "path", buf, err);
}

int brig_memory_commit(brig_memory *m, const brig_memory_change *changes, size_t n,
                       const brig_memory_limits *limits, const brig_memory_author *who, char ret_id[41],
                       brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *parent = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_(git_odb_freep) git_odb *odb = NULL;
        _cleanup_free_ git_tree_update *updates = calloc(n ? n : 1, sizeof(*updates));
        usage before = {0}, after;
        git_oid base, tree_id;
        int r;

        if (!updates)
                return brig_error_oom(err);
        if ((r = brig__memory_head(m, &parent, &tree, err)) < 0)
                return r;
        if ((r = git_repository_odb(&odb, m->repo)) < 0)
                return brig__memory_fail(m, r, err, "memory: commit");
        before.odb = odb;
        /* Measuring means reading every object's header: the index knows the sizes of its version. */
        if ((!parent || !brig__memory_index_usage(m, git_commit_id(parent), &before.bytes, &before.files)) &&
            (r = tree_usage(m, tree, &before, err)) < 0)
                return r;
        after = before;
        /* The bounds are checked from sizes alone, before any object is written. */
        for (size_t i = 0; i < n; i++) {
                _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
                if ((r = entry_at(m, tree, changes[i].path, &e, err)) < 0)
                        return r;
                if (e && git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
                        uint64_t old = 0;
                        if ((r = blob_size(m, odb, git_tree_entry_id(e), &old, err)) < 0)
                                return r;
                        after.bytes -= old;
                        after.files--;
                }
                if (changes[i].data) {
                        if ((r = written_path_check(changes[i].path, err)) < 0 ||
                            (r = check_place(m, tree, changes[i].path, err)) < 0)
                                return r;
                        after.bytes += changes[i].len;
                        after.files++;
                }
        }
        if ((r = check_limits(&before, &after, limits, err)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                updates[i].path = changes[i].path;
                if (!changes[i].data) {
                        updates[i].action = GIT_TREE_UPDATE_REMOVE;
                        continue;
                }
                updates[i].action = GIT_TREE_UPDATE_UPSERT;
                updates[i].filemode = FILE_MODE;
                if ((r = git_blob_create_from_buffer(&updates[i].id, m->repo, changes[i].data,
                                                     changes[i].len)) < 0)
                        return brig__memory_fail(m, r, err, "memory: write");
        }
        if (tree)
                base = *git_tree_id(tree);
        else if ((r = empty_tree(m, &base, err)) < 0)
                return r;
        _cleanup_(git_tree_freep) git_tree *base_tree = NULL;
        if ((r = git_tree_lookup(&base_tree, m->repo, &base)) < 0 ||
            (r = git_tree_create_updated(&tree_id, m->repo, base_tree, n, updates)) < 0)
                return brig__memory_fail(m, r, err, "memory: write");
        return brig__memory_commit_tree(m, parent, &tree_id, who, ret_id, err);
}

/* The commit a version names: a full id or a unique prefix of at least 4 hex digits. */
static int resolve(brig_memory *m, const char *version, git_commit **ret, brig_error *err) {
        size_t len = strlen(version);
        git_oid id;
        int r;

        if (len < 4 || len > GIT_OID_HEXSZ || strspn(version, "0123456789abcdefABCDEF") != len)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "version: expected a version id (at least 4 hex digits)");
        if ((r = git_oid_fromstrn(&id, version, len)) < 0 ||
            (r = git_commit_lookup_prefix(ret, m->repo, &id, len)) < 0) {
                if (r == GIT_ENOTFOUND) {
                        git_error_clear();
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "version: no version %s",
                                              version);
                }
                return brig__memory_fail(m, r, err, "version");
        }
        return 0;
}

int brig_memory_restore(brig_memory *m, const char *version, const char *path,
                        const brig_memory_limits *limits, const brig_memory_author *who, char ret_from[41],
                        char ret_id[41], brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *parent = NULL, *from = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL, *old = NULL;
        _cleanup_(git_odb_freep) git_odb *odb = NULL;
        usage before = {0}, after = {0};
        int r;

        if ((r = brig__memory_head(m, &parent, &tree, err)) < 0 || (r = resolve(m, version, &from, err)) < 0)
                return r;
        if ((r = git_commit_tree(&old, from)) < 0 || (r = git_repository_odb(&odb, m->repo)) < 0)
                return brig__memory_fail(m, r, err, "memory: restore");
        (void) git_oid_tostr(ret_from, 41, git_commit_id(from));
        before.odb = after.odb = odb;
        if ((r = tree_usage(m, tree, &before, err)) < 0)
                return r;
        if (!*path) {
                if ((r = tree_usage(m, old, &after, err)) < 0 ||
                    (r = check_limits(&before, &after, limits, err)) < 0)
                        return r;
                return brig__memory_commit_tree(m, parent, git_tree_id(old), who, ret_id, err);
        }

        /* One file or directory: its files at `version` come back, files added below it since go. */
        _cleanup_(brig_strv_freep) char **then = NULL, **now = NULL;
        if ((r = tree_kind(m, old, path, err)) < 0)
                return r;
        if (r == 0)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "path: not in version %.12s",
                                      ret_from);
        if ((r = files_below(m, old, path, &then, err)) < 0 ||
            (r = files_below(m, tree, path, &now, err)) < 0)
                return r;
        size_t n_then = strv_length(then), n_now = strv_length(now), n = 0;
        _cleanup_free_ brig_memory_change *changes = calloc(n_then + n_now + 1, sizeof(*changes));
        _cleanup_free_ git_blob **blobs = calloc(n_then + 1, sizeof(*blobs));
        if (!changes || !blobs)
                return brig_error_oom(err);
        for (size_t i = 0; i < n_now; i++)
                if (!strv_contains(then, now[i]))
                        changes[n++] = (brig_memory_change){.path = now[i]};
        for (size_t i = 0; i < n_then && r >= 0; i++) {
                _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
                if ((r = entry_at(m, old, then[i], &e, err)) < 0)
                        break;
                if ((r = git_blob_lookup(&blobs[i], m->repo, git_tree_entry_id(e))) < 0) {
                        r = brig__memory_fail(m, r, err, "memory: restore");
                        break;
                }
                changes[n++] = (brig_memory_change){.path = then[i],
                                                    .data = git_blob_rawcontent(blobs[i]),
                                                    .len = (size_t) git_blob_rawsize(blobs[i])};
        }
        if (r >= 0)
                r = brig_memory_commit(m, changes, n, limits, who, ret_id, err);
        for (size_t i = 0; i < n_then; i++)
                git_blob_free(blobs[i]);
        return r;
}

int brig__memory_describe(git_commit *c, cJSON *o, brig_error *err) {
        git_message_trailer_array t = {0};
        char id[41], when[32];
        time_t secs = (time_t) git_commit_time(c);
        struct tm tm;

        (void) git_oid_tostr(id, sizeof(id), git_commit_id(c));
        (void) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&secs, &tm));
        if (!cJSON_AddStringToObject(o, "version", id) || !cJSON_AddStringToObject(o, "time", when))
                return brig_error_oom(err);
        (void) git_message_trailers(&t, git_commit_message(c));
        for (size_t i = 0; i < ELEMENTSOF(trailers); i++) {
                const char *v = NULL;
                for (size_t j = 0; j < t.count; j++)
                        if (strcmp(t.trailers[j].key, trailers[i].key) == 0)
                                v = t.trailers[j].value;
                if (!(v ? cJSON_AddStringToObject(o, trailers[i].field, v)
                        : cJSON_AddNullToObject(o, trailers[i].field))) {
                        git_message_trailer_array_free(&t);
                        return brig_error_oom(err);
                }
        }
        git_message_trailer_array_free(&t);
        return 0;
}

static int log_entry(git_commit *c, cJSON *list, brig_error *err) {
        cJSON *o = cJSON_CreateObject();

        if (!o)
                return brig_error_oom(err);
        cJSON_AddItemToArray(list, o);
        return brig__memory_describe(c, o, err);
}

/* Whether c changed path (compared with its first parent). */
static int changed(brig_memory *m, git_commit *c, const char *path, bool *ret, brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *t = NULL, *pt = NULL;
        _cleanup_(git_commit_freep) git_commit *p = NULL;
        _cleanup_(git_tree_entry_freep) git_tree_entry *a = NULL, *b = NULL;
        int r;

        if ((r = git_commit_tree(&t, c)) < 0 ||
            (git_commit_parentcount(c) &&
             ((r = git_commit_parent(&p, c, 0)) < 0 || (r = git_commit_tree(&pt, p)) < 0)))
                return brig__memory_fail(m, r, err, "memory: history");
        if ((r = entry_at(m, t, path, &a, err)) < 0 || (r = entry_at(m, pt, path, &b, err)) < 0)
                return r;
        *ret = !a != !b || (a && !git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)));
        return 0;
}

/* Whether c is feedback about a file at or below path: it changes no file, but belongs to that file's
 * history. */
static bool feedback_about(git_commit *c, const char *path) {
        git_message_trailer_array t = {0};
        char about[BRIG_MEMORY_MAX_PATH + 1];
        const char *shown = NULL;
        bool feedback = false;
        size_t n = strlen(path);

        /* Cheap test first: most commits are changes, not feedback. */
        if (!strstr(git_commit_message(c), "\nBrig-Feedback: "))
                return false;
        (void) git_message_trailers(&t, git_commit_message(c));
        for (size_t j = 0; j < t.count; j++)
                if (strcmp(t.trailers[j].key, "Brig-Feedback") == 0)
                        feedback = true;
                else if (strcmp(t.trailers[j].key, "Brig-Path") == 0)
                        shown = t.trailers[j].value;
        feedback = feedback && shown && brig_memory_path_parse(shown, "path", about, NULL) >= 0 &&
                   strncmp(about, path, n) == 0 && (about[n] == 0 || about[n] == '/');
        git_message_trailer_array_free(&t);
        return feedback;
}

int brig_memory_log(brig_memory *m, const char *path, cJSON **ret, brig_error *err) {
        _cleanup_json_ cJSON *res = cJSON_CreateObject();
        cJSON *list = res ? cJSON_AddArrayToObject(res, "versions") : NULL;
        _cleanup_(git_revwalk_freep) git_revwalk *walk = NULL;
        bool truncated = false;
        unsigned scanned = 0;
        git_oid id;
        int r;

        if (!list)
                return brig_error_oom(err);
        if ((r = git_revwalk_new(&walk, m->repo)) < 0)
                return brig__memory_fail(m, r, err, "memory: history");
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        if ((r = brig__memory_head(m, NULL, &tree, err)) < 0)
                return r;
        /* No version yet: an empty log. */
        if (!tree)
                r = GIT_ITEROVER;
        else if ((r = git_revwalk_push_head(walk)) < 0)
                return brig__memory_fail(m, r, err, "memory: history");
        while (r != GIT_ITEROVER && (r = git_revwalk_next(&id, walk)) == 0) {
                _cleanup_(git_commit_freep) git_commit *c = NULL;
                bool hit = true;
                if (cJSON_GetArraySize(list) >= (int) BRIG_MEMORY_MAX_LOG ||
                    (*path && scanned >= BRIG_MEMORY_MAX_SCAN)) {
                        truncated = true;
                        break;
                }
                scanned++;
                if ((r = git_commit_lookup(&c, m->repo, &id)) < 0)
                        return brig__memory_fail(m, r, err, "memory: history");
                if (*path && (r = changed(m, c, path, &hit, err)) < 0)
                        return r;
                hit = hit || (*path && feedback_about(c, path));
                if (hit && (r = log_entry(c, list, err)) < 0)
                        return r;
        }
        if (r < 0 && r != GIT_ITEROVER)
                return brig__memory_fail(m, r, err, "memory: history");
        git_error_clear();
        if (!cJSON_AddBoolToObject(res, "truncated", truncated))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}
