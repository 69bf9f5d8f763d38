/* SPDX-License-Identifier: MIT */
/* Workspace history with libgit2: opening (and creating) the git directory kept outside the workspace,
 * snapshots, the log and restore. The diff lives in history_diff.c, the MCP tool layer in history_tool.c.
 *
 * Why a bare repository: git_repository_init_ext() with a separate workdir writes a ".git" gitlink file
 * into it; a bare repository whose workdir is set in memory (git_repository_set_workdir(..., 0)) writes
 * nothing there. core.worktree is still recorded in its config, so an operator can run
 * `git --git-dir=<git_dir> log` or `status`. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/json.h"
#include "sandbox/plan.h"
#include "tools/history_private.h"

#define TRAILER_CALL_ID "Brig-Call-Id"
#define TRAILER_TOOL "Brig-Tool"

/* libgit2's global state is reference counted by git_libgit2_init()/shutdown(); the settings below are
 * lost when the count drops to zero, so they are applied whenever it rises from zero, under a lock so no
 * other thread opens a repository before they are in place. */
const char *const brig__history_pack_config[2] = {"pack.bigFileThreshold", "pack.deltaCacheSize"};

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static bool lib_configured; /* under lib_lock */

static int lib_configure(void) {
        static const int levels[] = {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                                     GIT_CONFIG_LEVEL_PROGRAMDATA};
        int r;

        /* The workspace belongs to an environment's uid while brigd is root: libgit2's safe.directory
         * check (CVE-2022-24765) would refuse it. It protects a user from a repository planted by another
         * one; here brigd creates and owns every repository it opens, outside the agent's reach. */
        if ((r = git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0)) < 0)
                return r;
        /* Every object a snapshot's trees name was just written by it: checking that each exists while
         * building a tree is a wasted lookup per entry. */
        if ((r = git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0)) < 0)
                return r;
        /* Unbounded by default: every pack read keeps an fd in brigd, which counts this many in its fd
         * reserve; past it libgit2 closes the least recently used pack and reopens it when needed. */
        if ((r = git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, (size_t) BRIG_HISTORY_OPEN_PACKS)) < 0)
                return r;
        /* An empty search path finds no system/global/XDG config, ignore or attributes file. */
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if ((r = git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "")) < 0)
                        return r;
        return 0;
}

static int lib_acquire(brig_error *err) {
        int r;

        (void) pthread_mutex_lock(&lib_lock);
        r = git_libgit2_init();
        /* Not only when the count rises from zero: someone else may have initialised libgit2 first. */
        if (r >= 1 && !lib_configured && lib_configure() < 0) {
                const git_error *e = git_error_last();
                (void) brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "history: libgit2 settings: %s",
                                      e && e->message ? e->message : "unknown error");
                (void) git_libgit2_shutdown();
                r = -EIO;
        } else if (r < 0) {
                r = brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "history: libgit2 initialisation");
        } else
                lib_configured = true;
        (void) pthread_mutex_unlock(&lib_lock);
        return r < 0 ? r : 0;
}

int brig__history_lib_acquire(brig_error *err) {
        return lib_acquire(err);
}

static void lib_release(void) {
        (void) pthread_mutex_lock(&lib_lock);
        if (git_libgit2_shutdown() == 0)
                lib_configured = false; /* the settings went with the global state */
        (void) pthread_mutex_unlock(&lib_lock);
}

void brig__history_lib_release(void) {
        lib_release();
}

int brig_history_library_hold(brig_error *err) {
        return lib_acquire(err); /* never released */
}

int brig__history_enter(const brig_history *h, brig__history_ids *ids, brig_error *err) {
        *ids = (brig__history_ids){0};
        if (!h->as_owner)
                return 0;
        /* Per thread: glibc does not broadcast setfsuid/setfsgid to other threads (unlike setuid). Going
         * from fsuid 0 to another uid also drops the filesystem capabilities (CAP_DAC_OVERRIDE, ...) from
         * this thread's effective set until fsuid is 0 again: capabilities(7). */
        ids->old_gid = (gid_t) setfsgid(h->gid);
        ids->old_uid = (uid_t) setfsuid(h->uid);
        ids->active = true;
        if ((uid_t) setfsuid((uid_t) -1) != h->uid || (gid_t) setfsgid((gid_t) -1) != h->gid) {
                brig__history_leave(ids);
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED,
                                      "history: cannot act as the workspace owner (uid %u)",
                                      (unsigned) h->uid);
        }
        return 0;
}

void brig__history_leave(brig__history_ids *ids) {
        if (!ids->active)
                return;
        (void) setfsuid(ids->old_uid);
        (void) setfsgid(ids->old_gid);
        ids->active = false;
}

/* Copies src into dst with every occurrence of `from` replaced by `to`. */
static void replace_all(char *dst, size_t size, const char *src, const char *from, const char *to) {
        size_t n = 0, from_len = from ? strlen(from) : 0, to_len = strlen(to);

        while (*src && n + 1 < size) {
                if (from_len && strncmp(src, from, from_len) == 0 && n + to_len < size) {
                        memcpy(dst + n, to, to_len);
                        n += to_len;
                        src += from_len;
                } else
                        dst[n++] = *src++;
        }
        dst[n] = 0;
}

int brig__history_git_error(const brig_history *h, int gr, brig_error *err, const char *what) {
        /* Some of libgit2's write paths (git_filebuf: loose objects, the index) fail on a short write
         * without setting an error of their own; errno still says why (No space left on device). */
        int saved = errno;
        const git_error *e = git_error_last();
        const char *msg = e && e->message ? e->message : saved ? strerror(saved) : "unknown error";
        char ws[PATH_MAX + 1], a[256], b[256];
        brig_kind kind = BRIG_KIND_IO;
        int code = saved == ENOSPC || saved == EDQUOT ? -saved : -EIO;

        switch (gr) {
        case GIT_ENOTFOUND:
                code = -ENOENT;
                kind = BRIG_KIND_NOT_FOUND;
                break;
        case GIT_EAMBIGUOUS:
        case GIT_EINVALIDSPEC:
                code = -EINVAL;
                kind = BRIG_KIND_INVALID_ARGUMENT;
                break;
        case GIT_ELOCKED:
                code = -EBUSY;
                break;
        default:
                break;
        }
        if (e && e->klass == GIT_ERROR_NOMEMORY) {
                code = -ENOMEM;
                kind = BRIG_KIND_INTERNAL;
        }
        /* Host paths mean nothing to the agent: show workspace paths relative, the git dir as <history>. */
        (void) snprintf(ws, sizeof(ws), "%s/", h && h->workspace ? h->workspace : "");
        replace_all(a, sizeof(a), msg, h && h->workspace ? ws : NULL, "");
        replace_all(b, sizeof(b), a, h ? h->git_dir : NULL, "<history>");
        return brig_error_set(err, code, kind, "%s: %s", what, b);
}

int brig__history_check_path(const char *path, const char *field, char *buf, size_t size, brig_error *err) {
        size_t len;
        int r;

        if ((r = brig_relpath_check(path, field, err)) < 0)
                return r;
        len = strlen(path);
        if (len == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s: must not be empty",
                                      field);
        if (len >= size)
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT, "%s: too long", field);
        memcpy(buf, path, len + 1);
        if (buf[len - 1] == '/')
                buf[len - 1] = 0;
        return 0;
}

int brig__history_head(brig_history *h, git_commit **ret, brig_error *err) {
        git_oid id;
        int r = git_reference_name_to_id(&id, h->repo, "HEAD");

        if (r == GIT_ENOTFOUND || r == GIT_EUNBORNBRANCH) {
                git_error_clear();
                *ret = NULL;
                return 0;
        }
        if (r < 0 || (r = git_commit_lookup(ret, h->repo, &id)) < 0)
                return brig__history_git_error(h, r, err, "history: HEAD");
        return 0;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1 when c is HEAD or one of its ancestors (every snapshot of a history is: it is one line, restores add
 * to it), 0 when not. */
static int reachable(brig_history *h, const git_commit *c, brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *head = NULL;
        int r;

        if ((r = brig__history_head(h, &head, err)) < 0)
                return r;
        if (!head)
                return 0;
        if (git_oid_equal(git_commit_id(head), git_commit_id(c)))
                return 1;
        r = git_graph_descendant_of(h->repo, git_commit_id(head), git_commit_id(c));
        if (r < 0)
                return brig__history_git_error(h, r, err, "history");
        return r;
}

int brig__history_resolve(brig_history *h, const char *spec, const char *field, git_commit **ret,
                          brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        size_t n = strspn(spec, "0123456789abcdefABCDEF");
        const char *p;
        int r;

        /* Only this small grammar: git's full revision syntax (":/regex", "@{...}", "<rev>:<path>") would
         * let a request search or name things that are not snapshots. */
        if (strncmp(spec, "HEAD", 4) == 0 && !is_hex(spec[4])) {
                if ((r = brig__history_head(h, &c, err)) < 0)
                        return r;
                if (!c)
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "%s: no snapshot yet",
                                              field);
                p = spec + 4;
        } else if (n >= 4 && n <= GIT_OID_HEXSZ && (spec[n] == 0 || spec[n] == '~' || spec[n] == '^')) {
                git_oid id;
                r = git_oid_fromstrn(&id, spec, n);
                if (r < 0 || (r = git_commit_lookup_prefix(&c, h->repo, &id, n)) < 0) {
                        git_error_clear();
                        if (r == GIT_EAMBIGUOUS)
                                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                                      "%s: \"%.*s\" is ambiguous, give more digits", field,
                                                      (int) n, spec);
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "%s: no snapshot \"%.*s\"",
                                              field, (int) n, spec);
                }
                /* Only a snapshot of this history: a fork shares the objects of its source's later
                 * snapshots too (tools/history_fork.c), which must not be named from it. */
                if ((r = reachable(h, c, err)) <= 0) {
                        if (r < 0)
                                return r;
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "%s: no snapshot \"%.*s\"",
                                              field, (int) n, spec);
                }
                p = spec + n;
        } else
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "%s: expected a snapshot id (at least 4 hex digits), HEAD or HEAD~N, got "
                        "\"%.64s\"",
                        field, spec);
        while (*p) {
                unsigned long gen = 1;
                if (*p == '~' && p[1] >= '0' && p[1] <= '9') {
                        char *end;
                        errno = 0;
                        gen = strtoul(p + 1, &end, 10);
                        if (errno || gen > 1000000 || end - p > 8)
                                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                                      "%s: \"%.64s\": generation out of range", field, spec);
                        p = end;
                } else if (*p == '~' || *p == '^')
                        p++;
                else
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: expected a snapshot id (at least 4 hex digits), HEAD or "
                                              "HEAD~N, got \"%.64s\"",
                                              field, spec);
                if (gen > 0) {
                        git_commit *anc = NULL;
                        if ((r = git_commit_nth_gen_ancestor(&anc, c, (unsigned) gen)) < 0) {
                                git_error_clear();
                                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                                      "%s: \"%.64s\" goes back past the first snapshot",
                                                      field, spec);
                        }
                        git_commit_free(c);
                        c = anc;
                }
        }
        *ret = TAKE_PTR(c);
        return 0;
}

void brig_history_free(brig_history *h) {
        if (!h)
                return;
        brig__history_dirs_free(h);
        git_index_free(h->index);
        git_repository_free(h->repo);
        if (h->lib_held)
                lib_release();
        free(h->workspace);
        free(h->git_dir);
        free(h->author);
        free(h);
}

/* Replaces path's content with data unless it is already exactly that (temp file + rename). */
static int write_if_changed(const char *path, const char *data) {
        size_t len = strlen(data);
        char tmp[PATH_MAX];
        int r;

        {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd >= 0) {
                        _cleanup_free_ char *old = malloc(len + 1);
                        ssize_t n;
                        if (!old)
                                return -ENOMEM;
                        n = read(fd, old, len + 1);
                        if (n == (ssize_t) len && memcmp(old, data, len) == 0)
                                return 0;
                }
        }
        if (snprintf(tmp, sizeof(tmp), "%s.brig-tmp", path) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len) {
                r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* <git_dir>/info/exclude holds the policy's patterns (gitignore syntax); <git_dir>/info/attributes, which
 * takes precedence over every .gitattributes in the workspace, turns off content conversion. */
static int write_info(brig_history *h, char **exclude, brig_error *err) {
        static const char attributes[] = "# written by brig: snapshots store file content byte for byte\n"
                                         "* -text -crlf -ident -filter !eol -working-tree-encoding\n";
        _cleanup_free_ char *text = strdup("# written by brig from the policy's exclude list\n");
        char path[PATH_MAX];
        size_t i = 0;
        int r;

        if (!text)
                return brig_error_oom(err);
        for (char **p = exclude; p && *p; p++, i++) {
                char *next;
                if (!**p || strpbrk(*p, "\n\r"))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                              "history: exclude[%zu]: empty or contains a line break", i);
                if (asprintf(&next, "%s%s\n", text, *p) < 0)
                        return brig_error_oom(err);
                free(text);
                text = next;
        }
        (void) snprintf(path, sizeof(path), "%s/info", h->git_dir);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "history: create <history>/info");
        (void) snprintf(path, sizeof(path), "%s/info/exclude", h->git_dir);
        if ((r = write_if_changed(path, text)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "history: write <history>/info/exclude");
        (void) snprintf(path, sizeof(path), "%s/info/attributes", h->git_dir);
        if ((r = write_if_changed(path, attributes)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO,
                                            "history: write <history>/info/attributes");
        return 0;
}

static int init_repository(brig_history *h, brig_error *err) {
        git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
        _cleanup_(git_config_freep) git_config *cfg = NULL;
        int r;

        io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        io.initial_head = "main";
        io.description = "brig workspace history";
        if ((r = git_repository_init_ext(&h->repo, h->git_dir, &io)) < 0)
                return brig__history_git_error(h, r, err, "history: create repository");
        /* Set once; all of it lives in <git_dir>/config, none in the workspace. */
        if ((r = git_repository_config(&cfg, h->repo)) < 0 ||
            (r = git_config_set_bool(cfg, "core.bare", 0)) < 0 ||
            (r = git_config_set_string(cfg, "core.worktree", h->workspace)) < 0 ||
            (r = git_config_set_bool(cfg, "core.autocrlf", 0)) < 0 ||
            (r = git_config_set_bool(cfg, "core.filemode", 1)) < 0 ||
            (r = git_config_set_bool(cfg, "core.symlinks", 1)) < 0 ||
            (r = git_config_set_bool(cfg, "core.ignorecase", 0)) < 0 ||
            (r = git_config_set_bool(cfg, "core.logallrefupdates", 0)) < 0 ||
            (r = git_config_set_int32(cfg, "gc.auto", 0)) < 0)
                return brig__history_git_error(h, r, err, "history: configure repository");
        for (size_t i = 0; i < ELEMENTSOF(brig__history_pack_config); i++)
                if ((r = git_config_set_int64(cfg, brig__history_pack_config[i], 1)) < 0)
                        return brig__history_git_error(h, r, err, "history: configure repository");
        return 0;
}

static bool path_is_within(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/' || (n == 1 && dir[0] == '/'));
}

int brig_history_open(const char *git_dir, const char *workspace, const brig_history_options *opts,
                      brig_history **ret, brig_error *err) {
        _cleanup_(brig_history_freep) brig_history *h = NULL;
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        const char *wd;
        struct stat st;
        int r;

        assert(git_dir && workspace && ret);
        if (git_dir[0] != '/' || workspace[0] != '/')
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "history: the git directory and workspace must be absolute paths");
        h = calloc(1, sizeof(*h));
        if (!h)
                return brig_error_oom(err);
        h->max_file_size = opts ? opts->max_file_size : 0;
        h->settle_ns = 1000000000;
        h->author = strdup(opts && opts->author && opts->author[0] ? opts->author : "brig");
        if (!h->author)
                return brig_error_oom(err);
        if ((r = lib_acquire(err)) < 0)
                return r;
        h->lib_held = true;

        h->workspace = realpath(workspace, NULL);
        if (!h->workspace)
                return brig_error_set_errno(err, -errno,
                                            errno == ENOENT ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO,
                                            "history: workspace");
        if (stat(h->workspace, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "history: workspace");
        if (!S_ISDIR(st.st_mode))
                return brig_error_set(err, -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT,
                                      "history: the workspace is not a directory");
        if (geteuid() == 0 && st.st_uid != 0) {
                h->as_owner = true;
                h->uid = st.st_uid;
                h->gid = st.st_gid;
        }

        /* The git directory itself is made here (by us), then handed to the workspace's owner. */
        if ((r = brig_mkdir_p(git_dir, 0700)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "history: create the git directory");
        h->git_dir = realpath(git_dir, NULL);
        if (!h->git_dir)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "history: git directory");
        if (path_is_within(h->git_dir, h->workspace) || path_is_within(h->workspace, h->git_dir))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "history: the git directory must be outside the workspace");
        if (h->as_owner) {
                char blocker[PATH_MAX];
                if (stat(h->git_dir, &st) < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "history: git directory");
                if (st.st_uid == geteuid() && st.st_uid != h->uid && chown(h->git_dir, h->uid, h->gid) < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO,
                                                    "history: hand the git directory to uid %u",
                                                    (unsigned) h->uid);
                if ((r = brig_path_searchable_by(h->git_dir, h->uid, blocker, sizeof(blocker))) < 0)
                        return brig_error_set(
                                err, r, BRIG_KIND_DENIED,
                                "history: '%s' is not searchable by the workspace owner (uid %u)", blocker,
                                (unsigned) h->uid);
        }

        if ((r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        r = git_repository_open_ext(&h->repo, h->git_dir,
                                    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_NO_DOTGIT, NULL);
        if (r == GIT_ENOTFOUND) {
                git_error_clear();
                if ((r = init_repository(h, err)) < 0)
                        return r;
        } else if (r < 0)
                return brig__history_git_error(h, r, err, "history: open repository");
        if ((r = write_info(h, opts ? opts->exclude : NULL, err)) < 0)
                return r;
        /* In memory only (update_gitlink = 0): nothing is written into the workspace. Skipped when
         * core.worktree already names it: libgit2 1.5 leaks its path buffer when the workdir is unchanged.
         */
        wd = git_repository_workdir(h->repo);
        r = 0;
        if (!wd || strncmp(wd, h->workspace, strlen(h->workspace)) != 0 ||
            strcmp(wd + strlen(h->workspace), "/") != 0)
                r = git_repository_set_workdir(h->repo, h->workspace, 0);
        if (r < 0 || (r = git_repository_index(&h->index, h->repo)) < 0)
                return brig__history_git_error(h, r, err, "history: open repository");
        *ret = TAKE_PTR(h);
        return 0;
}

/* The number of files that differ between two trees (either may be NULL: the empty tree). Subtrees with
 * the same id are skipped without being read, so this costs little when few files changed. */
static int count_changes(brig_history *h, git_tree *old, git_tree *new, unsigned *ret, brig_error *err) {
        _cleanup_(git_diff_freep) git_diff *d = NULL;
        int r = git_diff_tree_to_tree(&d, h->repo, old, new, NULL);

        if (r < 0)
                return brig__history_git_error(h, r, err, "history: compare snapshots");
        *ret = (unsigned) git_diff_num_deltas(d);
        return 0;
}

/* A copy of s with control characters replaced, at most max bytes: trailer values are one line. */
static char *one_line(const char *s, size_t max) {
        size_t n = strnlen(s, max);
        char *d = strndup(s, n);

        if (d)
                for (char *c = d; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                *c = ' ';
        return d;
}

/* "<message>\n\n[Brig-Call-Id: <call_id>\n]Brig-Tool: <tool>\n". The trailer paragraph is always there and
 * always last, so text in the message that looks like a trailer is never read back as one. */
static char *compose_message(const char *message, const char *call_id, const char *tool) {
        _cleanup_free_ char *cid = call_id ? one_line(call_id, 256) : NULL;
        _cleanup_free_ char *t = one_line(tool && tool[0] ? tool : "snapshot", 64);
        size_t len;
        char *m;

        if ((call_id && !cid) || !t)
                return NULL;
        len = message ? strlen(message) : 0;
        while (len > 0 && strchr("\n\r\t ", message[len - 1]))
                len--;
        if (len == 0) {
                message = t;
                len = strlen(t);
        }
        if (asprintf(&m, "%.*s\n\n%s%s%s" TRAILER_TOOL ": %s\n", (int) len, message,
                     cid ? TRAILER_CALL_ID ": " : "", cid ? cid : "", cid ? "\n" : "", t) < 0)
                return NULL;
        return m;
}

typedef struct snap_result {
        git_oid id;
        bool created;
        unsigned files_changed;
} snap_result;

static int snapshot_now(brig_history *h, const char *message, const char *call_id, const char *tool,
                        snap_result *ret, brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *parent = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL, *parent_tree = NULL;
        _cleanup_(git_signature_freep) git_signature *sig = NULL;
        _cleanup_free_ char *msg = NULL;
        bool changed = false;
        git_oid tree_id;
        int r;

        if ((r = brig__history_stage(h, &changed, err)) < 0 || (r = brig__history_head(h, &parent, err)) < 0)
                return r;
        /* Trees of unchanged directories come from the index's tree cache; writing the index after the tree
         * keeps that cache on disk for the next process. Both write through git_filebuf, which can fail
         * on a full disk without an error of its own: clear what an earlier call left. */
        git_error_clear();
        errno = 0;
        if ((r = git_index_write_tree(&tree_id, h->index)) < 0 ||
            ((changed || h->index_unsaved) && (r = git_index_write(h->index)) < 0))
                return brig__history_git_error(h, r, err, "snapshot: write the tree");
        h->index_unsaved = false;
        if (parent && git_oid_equal(git_commit_tree_id(parent), &tree_id)) {
                *ret = (snap_result){.id = *git_commit_id(parent)};
                return 0;
        }
        if (!(msg = compose_message(message, call_id, tool)))
                return brig_error_oom(err);
        git_error_clear();
        errno = 0;
        if ((r = git_tree_lookup(&tree, h->repo, &tree_id)) < 0 ||
            (parent && (r = git_commit_tree(&parent_tree, parent)) < 0) ||
            (r = git_signature_now(&sig, h->author, "brig@localhost")) < 0 ||
            (r = git_commit_create(&ret->id, h->repo, "HEAD", sig, sig, NULL, msg, tree, parent ? 1 : 0,
                                   (const git_commit **) &parent)) < 0)
                return brig__history_git_error(h, r, err, "snapshot: commit");
        ret->created = true;
        return count_changes(h, parent_tree, tree, &ret->files_changed, err);
}

static char *oid_str(const git_oid *id, char buf[GIT_OID_HEXSZ + 1]) {
        return git_oid_tostr(buf, GIT_OID_HEXSZ + 1, id);
}

int brig_history_snapshot(brig_history *h, const char *message, const char *call_id, const char *tool,
                          cJSON **ret_result, brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_json_ cJSON *o = NULL;
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        char hex[GIT_OID_HEXSZ + 1];
        snap_result s;
        int r;

        assert(h && ret_result);
        if (message && strlen(message) > BRIG_HISTORY_MAX_MESSAGE)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "snapshot: message longer than %u bytes",
                                      BRIG_HISTORY_MAX_MESSAGE);
        if ((r = brig__history_enter(h, &ids, err)) < 0 ||
            (r = snapshot_now(h, message, call_id, tool, &s, err)) < 0)
                return r;
        if ((r = git_commit_lookup(&c, h->repo, &s.id)) < 0)
                return brig__history_git_error(h, r, err, "snapshot");
        if (!(o = cJSON_CreateObject()) || !cJSON_AddStringToObject(o, "id", oid_str(&s.id, hex)) ||
            !cJSON_AddStringToObject(o, "message", git_commit_summary(c) ? git_commit_summary(c) : "") ||
            !cJSON_AddNumberToObject(o, "files_changed", s.files_changed) ||
            !cJSON_AddBoolToObject(o, "created", s.created))
                return brig_error_oom(err);
        *ret_result = TAKE_PTR(o);
        return 0;
}

/* The commit message without our trailer paragraph, and the trailers' values. */
static int parse_message(const char *raw, char **ret_message, char **ret_call_id, char **ret_tool) {
        git_message_trailer_array tr = {0};
        _cleanup_free_ char *m = NULL, *cid = NULL, *tool = NULL;
        const char *cut = NULL;
        size_t len = strlen(raw);

        while (len > 0 && raw[len - 1] == '\n')
                len--;
        if (git_message_trailers(&tr, raw) == 0) {
                for (size_t i = 0; i < tr.count; i++) {
                        char **dst = strcmp(tr.trailers[i].key, TRAILER_CALL_ID) == 0 ? &cid
                                     : strcmp(tr.trailers[i].key, TRAILER_TOOL) == 0  ? &tool
                                                                                      : NULL;
                        if (dst && !*dst && !(*dst = strdup(tr.trailers[i].value))) {
                                git_message_trailer_array_free(&tr);
                                return -ENOMEM;
                        }
                }
                git_message_trailer_array_free(&tr);
        } else
                git_error_clear();
        if (cid || tool)
                for (const char *p = raw; (p = strstr(p, "\n\n")) && p < raw + len; p++)
                        cut = p;
        if (cut && strncmp(cut + 2, "Brig-", 5) == 0)
                len = (size_t) (cut - raw);
        if (!(m = strndup(raw, len)))
                return -ENOMEM;
        *ret_message = TAKE_PTR(m);
        *ret_call_id = TAKE_PTR(cid);
        *ret_tool = TAKE_PTR(tool);
        return 0;
}

static cJSON *string_or_null(const char *s) {
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static int log_entry(brig_history *h, git_commit *c, git_tree *tree, git_tree *parent_tree, cJSON *list,
                     brig_error *err) {
        _cleanup_free_ char *message = NULL, *call_id = NULL, *tool = NULL;
        char hex[GIT_OID_HEXSZ + 1], when[32];
        time_t t = (time_t) git_commit_time(c);
        unsigned files = 0;
        struct tm tm;
        cJSON *o;
        int r;

        if ((r = count_changes(h, parent_tree, tree, &files, err)) < 0)
                return r;
        if (parse_message(git_commit_message(c), &message, &call_id, &tool) < 0) /* -ENOMEM only */
                return brig_error_oom(err);
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(when, sizeof(when), "1970-01-01T00:00:00Z");
        if (!(o = cJSON_CreateObject()))
                return brig_error_oom(err);
        if (!cJSON_AddItemToArray(list, o)) {
                cJSON_Delete(o);
                return brig_error_oom(err);
        }
        if (!cJSON_AddStringToObject(o, "id", oid_str(git_commit_id(c), hex)) ||
            !cJSON_AddStringToObject(o, "message", message) || !cJSON_AddStringToObject(o, "time", when) ||
            !brig_json_add(o, "call_id", string_or_null(call_id)) ||
            !brig_json_add(o, "tool", string_or_null(tool)) ||
            !cJSON_AddNumberToObject(o, "files_changed", files))
                return brig_error_oom(err);
        return 0;
}

/* Whether `path` (file or directory) differs between two trees (NULL: empty). */
static int touches(git_tree *tree, git_tree *parent_tree, const char *path, bool *ret) {
        _cleanup_(git_tree_entry_freep) git_tree_entry *a = NULL, *b = NULL;
        int ra = tree ? git_tree_entry_bypath(&a, tree, path) : GIT_ENOTFOUND;
        int rb = parent_tree ? git_tree_entry_bypath(&b, parent_tree, path) : GIT_ENOTFOUND;

        if ((ra < 0 && ra != GIT_ENOTFOUND) || (rb < 0 && rb != GIT_ENOTFOUND))
                return ra < 0 && ra != GIT_ENOTFOUND ? ra : rb;
        git_error_clear();
        *ret = !a != !b || (a && (!git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) ||
                                  git_tree_entry_filemode(a) != git_tree_entry_filemode(b)));
        return 0;
}

int brig_history_log(brig_history *h, unsigned limit, const char *path, cJSON **ret_result,
                     brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_revwalk_freep) git_revwalk *walk = NULL;
        _cleanup_(git_commit_freep) git_commit *head = NULL;
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        char rel[PATH_MAX];
        unsigned n = 0, scanned = 0;
        bool more = false;
        cJSON *list;
        git_oid id;
        int r;

        assert(h && ret_result);
        if (!o || !(list = cJSON_AddArrayToObject(o, "snapshots")))
                return brig_error_oom(err);
        if (limit == 0)
                limit = BRIG_HISTORY_DEFAULT_LIMIT;
        if (limit > BRIG_HISTORY_MAX_LIMIT)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "history: limit above %u",
                                      BRIG_HISTORY_MAX_LIMIT);
        if (path && (r = brig__history_check_path(path, "arguments.path", rel, sizeof(rel), err)) < 0)
                return r;
        if ((r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        if ((r = brig__history_head(h, &head, err)) < 0)
                return r;
        if (!head) {
                if (!cJSON_AddBoolToObject(o, "truncated", false))
                        return brig_error_oom(err);
                *ret_result = TAKE_PTR(o);
                return 0;
        }
        if ((r = git_revwalk_new(&walk, h->repo)) < 0 ||
            (r = git_revwalk_push(walk, git_commit_id(head))) < 0)
                return brig__history_git_error(h, r, err, "history");
        while (n < limit && (r = git_revwalk_next(&id, walk)) == 0) {
                _cleanup_(git_commit_freep) git_commit *c = NULL, *parent = NULL;
                _cleanup_(git_tree_freep) git_tree *tree = NULL, *parent_tree = NULL;
                bool hit = true;

                if (++scanned > BRIG_HISTORY_MAX_SCAN) {
                        more = true; /* a path filter looked this far back; the rest is not searched */
                        break;
                }

                if ((r = git_commit_lookup(&c, h->repo, &id)) < 0 || (r = git_commit_tree(&tree, c)) < 0 ||
                    (git_commit_parentcount(c) > 0 && ((r = git_commit_parent(&parent, c, 0)) < 0 ||
                                                       (r = git_commit_tree(&parent_tree, parent)) < 0)) ||
                    (path && (r = touches(tree, parent_tree, rel, &hit)) < 0))
                        return brig__history_git_error(h, r, err, "history");
                if (!hit)
                        continue;
                if ((r = log_entry(h, c, tree, parent_tree, list, err)) < 0)
                        return r;
                n++;
        }
        if (r < 0 && r != GIT_ITEROVER)
                return brig__history_git_error(h, r, err, "history");
        git_error_clear();
        if (!cJSON_AddBoolToObject(o, "truncated", more))
                return brig_error_oom(err);
        *ret_result = TAKE_PTR(o);
        return 0;
}

int brig_history_restore(brig_history *h, const char *snapshot, const char *path, const char *call_id,
                         cJSON **ret_result, brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_commit_freep) git_commit *target = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_json_ cJSON *o = NULL;
        git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
        char rel[PATH_MAX], hex[GIT_OID_HEXSZ + 1], id_hex[GIT_OID_HEXSZ + 1], prev_hex[GIT_OID_HEXSZ + 1];
        char msg[PATH_MAX + 64];
        char *paths[1] = {rel};
        snap_result before, after;
        int r;

        assert(h && snapshot && ret_result);
        if (path && (r = brig__history_check_path(path, "arguments.path", rel, sizeof(rel), err)) < 0)
                return r;
        if ((r = brig__history_enter(h, &ids, err)) < 0 ||
            (r = brig__history_resolve(h, snapshot, "arguments.snapshot", &target, err)) < 0)
                return r;
        if ((r = git_commit_tree(&tree, target)) < 0)
                return brig__history_git_error(h, r, err, "restore");
        oid_str(git_commit_id(target), hex);
        if (path) {
                _cleanup_(git_tree_entry_freep) git_tree_entry *e = NULL;
                if (git_tree_entry_bypath(&e, tree, rel) < 0) {
                        git_error_clear();
                        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                              "arguments.path: \"%.200s\" is not in snapshot %.12s", rel,
                                              hex);
                }
        }

        /* Nothing is lost: whatever the workspace holds now becomes a snapshot first. It also makes every
         * file the restore may delete a tracked one, so the checkout below (which never removes untracked
         * files) deletes exactly the snapshotted files the target lacks, and leaves excluded, ignored and
         * oversized files alone. */
        (void) snprintf(msg, sizeof(msg), "before restore %.12s", hex);
        if ((r = snapshot_now(h, msg, call_id, "restore", &before, err)) < 0)
                return brig_error_prefix(err, "restore");

        co.checkout_strategy = GIT_CHECKOUT_FORCE;
        if (path) {
                co.paths.strings = paths;
                co.paths.count = 1;
                co.checkout_strategy |= GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
        }
        brig__history_dirs_free(
                h); /* the checkout rewrites files and index entries behind the scanner's back */
        if ((r = git_checkout_tree(h->repo, (const git_object *) target, &co)) < 0)
                return brig__history_git_error(h, r, err, "restore: checkout");

        if (path)
                (void) snprintf(msg, sizeof(msg), "restore %.12s %s", hex, rel);
        else
                (void) snprintf(msg, sizeof(msg), "restore %.12s", hex);
        if ((r = snapshot_now(h, msg, call_id, "restore", &after, err)) < 0)
                return brig_error_prefix(err, "restore");

        if (!(o = cJSON_CreateObject()) || !cJSON_AddStringToObject(o, "id", oid_str(&after.id, id_hex)) ||
            !cJSON_AddBoolToObject(o, "created", after.created) ||
            !cJSON_AddStringToObject(o, "restored_from", hex) ||
            !cJSON_AddStringToObject(o, "previous", oid_str(&before.id, prev_hex)) ||
            !brig_json_add(o, "path", string_or_null(path ? rel : NULL)) ||
            !cJSON_AddNumberToObject(o, "files_changed", after.files_changed))
                return brig_error_oom(err);
        *ret_result = TAKE_PTR(o);
        return 0;
}
