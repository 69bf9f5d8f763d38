/* SPDX-License-Identifier: MIT */
/* `brig memory list|show|export|import`: the operator's view of the institutional memory. It reads and
 * writes the stores in brigd's state directory itself (tools/memory_store.h), never through brigd: an
 * operator can inspect, back up and move memories while brigd is stopped, and the scopes are not any one
 * client's to ask for. Exports are environment-format archives (worker/env_archive.h), and imports pass
 * the environment importer's checks (worker/env_import_extract.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/paths.h"
#include "tools/memory_store.h"
#include "worker/env_archive.h"
#include "worker/env_archive_write.h"
#include "worker/env_import_extract.h"

#define IMPORT_PREFIX ".import-"

/* The kinds of scope, as directories of <state-dir>/memory (brig_memory_scope_dir()). */
static const char *const kinds[] = {"owner", "environment", "named"};

/* o's string member key, or dflt. */
static const char *jstr(const cJSON *o, const char *key, const char *dflt) {
        const cJSON *v = brig_json_member(o, key);
        return cJSON_IsString(v) ? v->valuestring : dflt;
}

static void memory_help(void) {
        printf("Usage: brig memory [--state-dir DIR] list\n"
               "       brig memory [--state-dir DIR] show SCOPE [PATH] [--history]\n"
               "       brig memory [--state-dir DIR] export SCOPE -o FILE\n"
               "       brig memory [--state-dir DIR] import SCOPE FILE [--replace]\n"
               "\n"
               "The institutional memory's scopes, read and written in brigd's state directory (DIR, by\n"
               "default brigd's own default) rather than through brigd: run it as root or as the state\n"
               "directory's owner. A SCOPE is owner/UID, environment/ID or named/NAME (the policy's\n"
               "memory.scope).\n"
               "\n"
               "`list` shows every scope with its files, their bytes and its last change. `show` lists a\n"
               "scope's files, or prints the file at PATH (\"notes/a.md\" or \"/memories/notes/a.md\"), or\n"
               "with --history the versions that changed it (or the scope) and who made them.\n"
               "`export` writes the scope into FILE (`-` for stdout): an archive of the environment\n"
               "archive's format (tar + zstd, a manifest of sizes and SHA-256; docs/archive.md) whose\n"
               "history.git/ is the scope's store, every version of it, and workspace/ its files now.\n"
               "FILE appears only once complete (written beside it as FILE.XXXXXX first).\n"
               "`import` makes SCOPE from such a file with the environment importer's checks, unpacked\n"
               "aside and renamed into place; it refuses a SCOPE that exists unless --replace, which\n"
               "swaps it in while holding the scope's writer lock and removes the old store.\n");
}

static int scope_path(const char *root, const char *scope, char **ret) {
        const char *slash = scope ? strchr(scope, '/') : NULL;
        bool kind_ok = false;

        for (size_t i = 0; slash && i < ELEMENTSOF(kinds); i++)
                kind_ok |= strlen(kinds[i]) == (size_t) (slash - scope) &&
                           strncmp(kinds[i], scope, strlen(kinds[i])) == 0;
        if (!kind_ok || !slash[1] || slash[1] == '.' || strchr(slash + 1, '/') || strlen(slash + 1) > 255) {
                fprintf(stderr, "brig memory: '%s': a scope is owner/UID, environment/ID or named/NAME\n",
                        scope ? scope : "");
                return -1;
        }
        if (asprintf(ret, "%s/%s", root, scope) < 0) {
                *ret = NULL;
                fprintf(stderr, "brig memory: out of memory\n");
                return -1;
        }
        return 0;
}

/* <state-dir>/memory, once the caller may use it: root or the state directory's owner. *ret_st is the
 * state directory's, whose owner an import hands the new store to. */
static int memory_root(const char *state_dir, char **ret, struct stat *ret_st) {
        _cleanup_free_ char *def = NULL;
        brig_error err = BRIG_ERROR_INIT;

        if (!state_dir) {
                if (brig_default_state_dir(&def, &err) < 0) {
                        fprintf(stderr, "brig memory: %s\n", err.msg);
                        return -1;
                }
                state_dir = def;
        }
        if (stat(state_dir, ret_st) < 0) {
                fprintf(stderr, "brig memory: state directory %s: %s (name brigd's with --state-dir)\n",
                        state_dir, strerror(errno));
                return -1;
        }
        /* The stores are brigd's, 0700: anyone else would only get EACCES further down, less clearly. */
        if (geteuid() != 0 && geteuid() != ret_st->st_uid) {
                fprintf(stderr, "brig memory: state directory %s belongs to uid %u: run as root or as it\n",
                        state_dir, (unsigned) ret_st->st_uid);
                return -1;
        }
        if (asprintf(ret, "%s/memory", state_dir) < 0) {
                *ret = NULL;
                fprintf(stderr, "brig memory: out of memory\n");
                return -1;
        }
        return 0;
}

/* Opens an existing scope's store (brig_memory_open() would create a missing one). */
static int open_scope(const char *dir, const char *scope, brig_memory **ret) {
        brig_error err = BRIG_ERROR_INIT;
        struct stat st;

        if (stat(dir, &st) < 0) {
                fprintf(stderr, "brig memory: scope %s: %s\n", scope,
                        errno == ENOENT ? "no such scope" : strerror(errno));
                return -1;
        }
        if (brig_memory_open(dir, ret, &err) < 0) {
                fprintf(stderr, "brig memory: scope %s: %s\n", scope, err.msg);
                return -1;
        }
        return 0;
}

/* The scope's head version and its time from the log ("" while it has none). */
static int scope_head(brig_memory *m, const char *scope, char head[41], char when[64]) {
        _cleanup_json_ cJSON *log = NULL;
        brig_error err = BRIG_ERROR_INIT;
        const cJSON *first;

        if (brig_memory_log(m, "", &log, &err) < 0) {
                fprintf(stderr, "brig memory: scope %s: %s\n", scope, err.msg);
                return -1;
        }
        first = cJSON_GetArrayItem(brig_json_member(log, "versions"), 0);
        (void) snprintf(head, 41, "%s", jstr(first, "version", ""));
        (void) snprintf(when, 64, "%s", jstr(first, "time", ""));
        return 0;
}

static int list_one(const char *dir, const char *scope) {
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;
        _cleanup_json_ cJSON *files = NULL;
        brig_error err = BRIG_ERROR_INIT;
        uint64_t total = 0, n = 0;
        char head[41], when[64];
        const cJSON *f;

        if (open_scope(dir, scope, &m) < 0 || scope_head(m, scope, head, when) < 0)
                return -1;
        if (brig_memory_list(m, "", UINT32_MAX, &files, &total, &err) < 0) {
                fprintf(stderr, "brig memory: scope %s: %s\n", scope, err.msg);
                return -1;
        }
        cJSON_ArrayForEach (f, files)
                n += !cJSON_IsTrue(brig_json_member(f, "dir"));
        printf("%-40s %8llu %12llu  %s %.12s\n", scope, (unsigned long long) n, (unsigned long long) total,
               *when ? when : "-", head);
        return 0;
}

static int cmd_list(const char *root) {
        int rc = 0;

        printf("%-40s %8s %12s  %s\n", "SCOPE", "FILES", "BYTES", "LAST CHANGE, VERSION");
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                _cleanup_free_ char *kdir = NULL;
                struct dirent **names = NULL;
                int n;

                if (asprintf(&kdir, "%s/%s", root, kinds[k]) < 0)
                        return kdir = NULL, fprintf(stderr, "brig memory: out of memory\n"), 1;
                if ((n = scandir(kdir, &names, NULL, alphasort)) < 0) {
                        if (errno == ENOENT)
                                continue;
                        fprintf(stderr, "brig memory: %s: %s\n", kdir, strerror(errno));
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        _cleanup_free_ char *dir = NULL, *scope = NULL;
                        /* Dot names are imports in progress or left by one that failed. */
                        if (names[i]->d_name[0] != '.' &&
                            (asprintf(&dir, "%s/%s", kdir, names[i]->d_name) < 0 ||
                             asprintf(&scope, "%s/%s", kinds[k], names[i]->d_name) < 0 ||
                             list_one(dir, scope) < 0))
                                rc = 1;
                        free(names[i]);
                }
                free(names);
        }
        return rc;
}

static int cmd_show(const char *dir, const char *scope, const char *path, bool history) {
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;
        _cleanup_json_ cJSON *out = NULL;
        _cleanup_free_ char *full = NULL, *data = NULL;
        char rel[BRIG_MEMORY_MAX_PATH + 1] = "";
        brig_error err = BRIG_ERROR_INIT;
        uint64_t total = 0;
        size_t len = 0;
        const cJSON *it;

        if (path &&
            asprintf(&full, "%s%s", strncmp(path, "/memories", 9) == 0 ? "" : "/memories/", path) < 0)
                return fprintf(stderr, "brig memory: out of memory\n"), 1;
        if ((full && brig_memory_path_parse(full, "PATH", rel, &err) < 0)) {
                fprintf(stderr, "brig memory: %s\n", err.msg);
                return 2;
        }
        if (open_scope(dir, scope, &m) < 0)
                return 1;
        if (history) {
                if (brig_memory_log(m, rel, &out, &err) < 0)
                        goto fail;
                cJSON_ArrayForEach (it, brig_json_member(out, "versions")) {
                        printf("%.12s %s %-8s /memories/%s", jstr(it, "version", ""), jstr(it, "time", ""),
                               jstr(it, "command", "-"), jstr(it, "path", ""));
                        printf(" environment=%s call=%s uid=%s\n", jstr(it, "environment", "-"),
                               jstr(it, "call_id", "-"), jstr(it, "peer_uid", "-"));
                }
                return 0;
        }
        int kind = brig_memory_kind(m, rel, &err);
        if (kind == 0)
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND, "no file or directory %s", full);
        if (kind == 1) {
                if (brig_memory_read(m, rel, &data, &len, &err) < 0)
                        goto fail;
                return brig_write_all(STDOUT_FILENO, data, len) < 0 ? 1 : 0;
        }
        if (err.code || brig_memory_list(m, rel, UINT32_MAX, &out, &total, &err) < 0)
                goto fail;
        cJSON_ArrayForEach (it, out)
                if (!cJSON_IsTrue(brig_json_member(it, "dir")))
                        printf("%12.0f  /memories/%s\n", cJSON_GetNumberValue(brig_json_member(it, "size")),
                               jstr(it, "path", ""));
        return 0;
fail:
        fprintf(stderr, "brig memory: %s: %s\n", scope, err.msg);
        return 1;
}

static char *meta_text(const char *scope, const char *head, int64_t now) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        unsigned long uid = 0;

        (void) sscanf(scope, "owner/%lu", &uid);
        if (!o || !cJSON_AddStringToObject(o, "format", BRIG_MEMORY_ARCHIVE_FORMAT) ||
            !cJSON_AddNumberToObject(o, "version", BRIG_ARCHIVE_VERSION) ||
            !cJSON_AddStringToObject(o, "id", scope) || !cJSON_AddNumberToObject(o, "owner", (double) uid) ||
            !cJSON_AddNumberToObject(o, "exported_at", (double) now) ||
            !cJSON_AddStringToObject(o, "snapshot", head) ||
            !cJSON_AddStringToObject(o, "brig_version", BRIG_VERSION))
                return NULL;
        return cJSON_Print(o);
}

static int cmd_export(const char *dir, const char *scope, const char *file) {
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;
        _cleanup_free_ char *meta = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        brig_error err = BRIG_ERROR_INIT;
        char head[41], when[64], sha[BRIG_SHA256_HEX];
        uint64_t bytes = 0;
        bool to_stdout = strcmp(file, "-") == 0;
        int64_t now = (int64_t) time(NULL);

        if (open_scope(dir, scope, &m) < 0 || scope_head(m, scope, head, when) < 0)
                return 1;
        if (!*head) {
                fprintf(stderr, "brig memory: scope %s has no memories yet: nothing to export\n", scope);
                return 1;
        }
        if (!(meta = meta_text(scope, head, now)) || (!to_stdout && asprintf(&tmp, "%s.XXXXXX", file) < 0))
                return fprintf(stderr, "brig memory: out of memory\n"), 1;
        if ((fd = to_stdout ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3) : mkostemp(tmp, O_CLOEXEC)) < 0) {
                fprintf(stderr, "brig memory: %s: %s\n", to_stdout ? "stdout" : tmp, strerror(errno));
                return 1;
        }
        const brig_archive_source src = {.meta = meta, .git_dir = dir, .snapshot = head, .mtime = now};
        if (brig_archive_write(fd, &src, &bytes, sha, &err) < 0 ||
            (!to_stdout && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, file) < 0))) {
                fprintf(stderr, "brig memory: export %s: %s\n", scope, err.code ? err.msg : strerror(errno));
                if (!to_stdout)
                        (void) unlink(tmp);
                return 1;
        }
        fprintf(stderr, "brig memory: exported %s at %.12s: %llu bytes, SHA-256 %s\n", scope, head,
                (unsigned long long) bytes, sha);
        return 0;
}

/* Unpacks the archive into a new directory beside the scope's; the store is its history.git. */
static int unpack(const char *file, const char *parent, const struct stat *state, char **ret_tmp) {
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC), dest = -1;
        brig_archive_info info;
        brig_error err = BRIG_ERROR_INIT;
        brig_archive_limits limits = {0};
        struct statvfs sv;
        bool root = geteuid() == 0;

        if (fd < 0) {
                fprintf(stderr, "brig memory: %s: %s\n", file, strerror(errno));
                return -1;
        }
        if (brig_mkdir_p(parent, 0700) < 0 || asprintf(ret_tmp, "%s/" IMPORT_PREFIX "XXXXXX", parent) < 0 ||
            !mkdtemp(*ret_tmp) ||
            (dest = open(*ret_tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            fstatvfs(dest, &sv) < 0) {
                fprintf(stderr, "brig memory: %s: %s\n", parent, strerror(errno));
                return -1;
        }
        /* A bomb stops at the free space, as an environment import does. */
        limits.total = (uint64_t) sv.f_bavail * sv.f_frsize;
        /* Made by root for brigd: the store goes to the state directory's owner, as brigd's own do. */
        if (brig_archive_extract(fd, dest, &limits, root ? state->st_uid : (uid_t) -1,
                                 root ? state->st_gid : (gid_t) -1, &info, &err) < 0) {
                fprintf(stderr, "brig memory: import %s: %s\n", file, err.msg);
                return -1;
        }
        if (strcmp(info.format, BRIG_MEMORY_ARCHIVE_FORMAT) != 0) {
                fprintf(stderr, "brig memory: import %s: a %s archive, not a memory's\n", file, info.format);
                return -1;
        }
        return 0;
}

/* The unpacked store opens and its head is the archive's (the manifest vouched for the bytes, not that
 * they make a repository). */
static int check_store(const char *store, const char *file) {
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;
        _cleanup_strv_free_ char **files = NULL;
        brig_error err = BRIG_ERROR_INIT;
        char head[41], when[64];

        if (open_scope(store, file, &m) < 0 || scope_head(m, file, head, when) < 0)
                return -1;
        /* Every name by the tool's path rules, which also bound the depth, before the store is put in
         * place: brigd walks its trees recursively later. */
        if (!*head || brig_memory_files_below(m, "", &files, &err) < 0) {
                fprintf(stderr, "brig memory: import %s: %s\n", file, *head ? err.msg : "no version in it");
                return -1;
        }
        return 0;
}

static int cmd_import(const char *dir, const char *scope, const char *file, const struct stat *state,
                      bool replace) {
        _cleanup_free_ char *parent = strdup(dir), *tmp = NULL, *store = NULL;
        _cleanup_(brig_memory_freep) brig_memory *old = NULL;
        brig_error err = BRIG_ERROR_INIT;
        struct stat st;
        int rc = 1;

        if (!parent)
                return fprintf(stderr, "brig memory: out of memory\n"), 1;
        *strrchr(parent, '/') = 0;
        if (!replace && lstat(dir, &st) == 0) {
                fprintf(stderr, "brig memory: scope %s exists: pass --replace to replace it\n", scope);
                return 1;
        }
        if (unpack(file, parent, state, &tmp) < 0 || asprintf(&store, "%s/" BRIG_ARCHIVE_HISTORY, tmp) < 0)
                goto out;
        /* An index in the archive could understate the scope's usage: the store's own is rebuilt. */
        if (brig_memory_index_remove(store, &err) < 0 || check_store(store, file) < 0)
                goto out;
        if (!replace) {
                /* Whoever made the scope meanwhile (brigd, on a first memory call) keeps it. */
                if (renameat2(AT_FDCWD, store, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
                        fprintf(stderr, "brig memory: scope %s: %s\n", scope,
                                errno == EEXIST ? "exists now: pass --replace to replace it"
                                                : strerror(errno));
                        goto out;
                }
        } else {
                /* Swapped while holding the old store's writer lock, so that no write is half in either. */
                if (lstat(dir, &st) == 0 &&
                    (open_scope(dir, scope, &old) < 0 || brig_memory_lock(old, &err) < 0))
                        goto out;
                if (renameat2(AT_FDCWD, store, AT_FDCWD, dir, old ? RENAME_EXCHANGE : RENAME_NOREPLACE) <
                    0) {
                        fprintf(stderr, "brig memory: scope %s: %s\n", scope, strerror(errno));
                        goto out;
                }
        }
        printf("imported %s into scope %s\n", file, scope);
        rc = 0;
out:
        if (err.code)
                fprintf(stderr, "brig memory: scope %s: %s\n", scope, err.msg);
        if (tmp && brig_rm_rf(tmp) < 0)
                fprintf(stderr, "brig memory: could not remove %s\n", tmp);
        return rc;
}

int brig_cli_memory(int argc, char **argv) {
        _cleanup_free_ char *root = NULL, *dir = NULL;
        const char *state_dir = NULL, *out = NULL, *pos[3] = {NULL};
        bool history = false, replace = false;
        size_t n = 0;
        struct stat st;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        return memory_help(), 0;
                if ((strcmp(argv[i], "--state-dir") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc) {
                        *(argv[i][1] == 'o' ? &out : &state_dir) = argv[i + 1];
                        i++;
                } else if (strcmp(argv[i], "--history") == 0)
                        history = true;
                else if (strcmp(argv[i], "--replace") == 0)
                        replace = true;
                else if ((argv[i][0] == '-' && argv[i][1]) || n >= ELEMENTSOF(pos)) {
                        fprintf(stderr, "brig memory: unexpected '%s'\nTry 'brig memory --help'.\n",
                                argv[i]);
                        return 2;
                } else
                        pos[n++] = argv[i];
        }
        const char *cmd = pos[0] ? pos[0] : "";
        bool ok = (strcmp(cmd, "list") == 0 && n == 1) || (strcmp(cmd, "show") == 0 && n >= 2) ||
                  (strcmp(cmd, "export") == 0 && n == 2 && out) || (strcmp(cmd, "import") == 0 && n == 3);
        if (!ok || (history && strcmp(cmd, "show") != 0) || (replace && strcmp(cmd, "import") != 0) ||
            (out && strcmp(cmd, "export") != 0)) {
                memory_help();
                return 2;
        }
        if (memory_root(state_dir, &root, &st) < 0)
                return 1;
        if (strcmp(cmd, "list") == 0)
                return cmd_list(root);
        if (scope_path(root, pos[1], &dir) < 0)
                return 2;
        if (strcmp(cmd, "show") == 0)
                return cmd_show(dir, pos[1], pos[2], history);
        if (strcmp(cmd, "export") == 0)
                return cmd_export(dir, pos[1], out);
        return cmd_import(dir, pos[1], pos[2], &st, replace);
}
