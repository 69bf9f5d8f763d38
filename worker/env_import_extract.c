/* SPDX-License-Identifier: MIT */
/* Reading an environment archive into a directory (env_import_extract.h): libarchive reads tar + zstd,
 * every entry is checked against the layout, the limits and, at the end, the manifest. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "tools/history_pack_in.h"
#include "worker/env_archive.h"
#include "worker/env_import_extract.h"

#define BLOCK (128 * 1024)

typedef enum { T_FILE, T_DIR, T_SYMLINK } entry_type;
static const char *const type_names[] = {[T_FILE] = "file", [T_DIR] = "dir", [T_SYMLINK] = "symlink"};

/* What an entry was, for the manifest's check. */
typedef struct record {
        char *path;   /* normalized: no trailing '/' */
        char *target; /* symlinks */
        entry_type type;
        unsigned mode;
        uint64_t size;
        char sha256[BRIG_SHA256_HEX];
} record;

/* Bytes a manifest line takes beyond its path and target (type, mode, size, SHA-256 and JSON syntax). */
#define MANIFEST_LINE_MAX 256

typedef struct reader {
        struct archive *a;
        int dest;
        const brig_archive_limits *limits;
        uid_t uid;
        gid_t gid;
        brig_archive_info *info;
        record *recs;
        size_t n_recs, cap_recs;
        size_t rec_bytes; /* of the records' paths and targets */
        char *manifest;   /* MANIFEST.json's text, once read */
        size_t manifest_len;
        unsigned char *buf;
        uint64_t pack_expanded; /* what the packs read so far expand to (history_pack_in.h) */
        /* The directory the last entry went into, kept open: entries come a directory at a time (tar
         * order), so most find theirs here rather than by opening each component of their path again. A
         * directory, once made, stays what it is: nothing the archive holds can replace it (every name
         * is created once, "exists already" refuses the second). */
        char *parent;  /* its path below dest, or NULL */
        int parent_fd; /* -1 with parent NULL */
        brig_error *err;
} reader;

static void archive_freep(struct archive **a) {
        if (*a)
                (void) archive_read_free(*a);
}

static void reader_done(reader *rd) {
        for (size_t i = 0; i < rd->n_recs; i++) {
                free(rd->recs[i].path);
                free(rd->recs[i].target);
        }
        free(rd->recs);
        free(rd->parent);
        if (rd->parent_fd >= 0)
                (void) close(rd->parent_fd);
        free(rd->manifest);
        free(rd->buf);
}

static int open_archive(int fd, struct archive **ret, brig_error *err) {
        struct archive *a = archive_read_new();

        if (!a)
                return brig_error_oom(err);
        if (archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
            archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_open_fd(a, fd, BLOCK) != ARCHIVE_OK) {
                int r = brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "archive: not a tar + zstd stream, or a truncated or corrupt one: %.150s",
                        archive_error_string(a));
                (void) archive_read_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

/* The stream itself failed: a truncated or corrupt archive. */
static int stream_error(reader *rd, const char *where) {
        const char *why = archive_error_string(rd->a);
        return brig_error_set(rd->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                              "archive: truncated or corrupt at %.200s: %.150s", where,
                              why ? why : "read error");
}

static int refuse(reader *rd, const char *path, const char *why) {
        return brig_error_set(rd->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "archive entry \"%.120s\": %s",
                              path, why);
}

/* The top-level names of the layout. */
enum { TOP_META, TOP_WORKSPACE, TOP_HISTORY, TOP_PROCESSES, TOP_MANIFEST, TOP_NONE };
static const char *const top_names[] = {
        [TOP_META] = BRIG_ARCHIVE_META,         [TOP_WORKSPACE] = BRIG_ARCHIVE_WORKSPACE,
        [TOP_HISTORY] = BRIG_ARCHIVE_HISTORY,   [TOP_PROCESSES] = BRIG_ARCHIVE_PROCESSES,
        [TOP_MANIFEST] = BRIG_ARCHIVE_MANIFEST,
};

/* Normalizes raw into out (trailing slashes dropped) and returns its top-level name, or refuses it. */
static int check_path(reader *rd, const char *raw, char *out, int *ret_top) {
        size_t len;
        int top = TOP_NONE;

        if (!raw || !*raw)
                return refuse(rd, raw ? raw : "", "an empty or unreadable path");
        len = strlen(raw);
        if (len > BRIG_ARCHIVE_MAX_PATH)
                return refuse(rd, raw, "a path over 4095 bytes");
        if (raw[0] == '/')
                return refuse(rd, raw, "an absolute path");
        memcpy(out, raw, len + 1);
        while (len > 1 && out[len - 1] == '/')
                out[--len] = 0;
        unsigned depth = 0;
        for (const char *p = out; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return refuse(rd, raw, "a path with an empty, \".\" or \"..\" part");
                if (++depth > BRIG_ARCHIVE_MAX_DEPTH)
                        return refuse(rd, raw, "a path deeper than an archive's may be");
                if (p == out)
                        for (int i = 0; i < TOP_NONE; i++)
                                if (strlen(top_names[i]) == n && memcmp(top_names[i], p, n) == 0)
                                        top = i;
                p += n + (slash ? 1 : 0);
                if (slash && !*p)
                        break;
        }
        if (top == TOP_NONE || ((top == TOP_META || top == TOP_MANIFEST) && strchr(out, '/')) ||
            (top == TOP_PROCESSES && strchr(out, '/') && strchr(strchr(out, '/') + 1, '/')))
                return refuse(rd, raw, "outside the archive's layout (docs/archive.md)");
        *ret_top = top;
        return 0;
}

/* A symlink's target stays in the workspace: resolved as text from the link's directory it never climbs
 * above workspace/, and it climbs ("..") only at its start, through real directories (the link's own,
 * never a symlink: entries are created without following any). A ".." after a name could climb out of
 * what that name links to, so each link checked this way keeps every chain of links inside. */
static bool target_inside(const char *link, const char *target) {
        long depth = 0; /* directories between workspace/ and the link */
        bool named = false;

        if (!*target || target[0] == '/' || strlen(target) > BRIG_ARCHIVE_MAX_PATH)
                return false;
        for (const char *p = link + strlen(BRIG_ARCHIVE_WORKSPACE) + 1; *p; p++)
                if (*p == '/')
                        depth++;
        for (const char *p = target; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (named || --depth < 0)
                                return false;
                } else if (n > 0 && !(n == 1 && p[0] == '.'))
                        named = true;
                p += n + (slash ? 1 : 0);
        }
        return true;
}

/* Opens the directory that holds path's last component, beneath rd->dest, creating missing directories
 * (0755) on the way; never through a symlink. Sets *ret_name to the last component. */
static int walk_parent(reader *rd, char *path, const char **ret_name, bool chown_new) {
        _cleanup_close_ int fd = -1;
        int cur = rd->dest;
        char *p = path, *slash;

        while ((slash = strchr(p, '/'))) {
                *slash = 0;
                int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 && errno == ENOENT) {
                        if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
                                *slash = '/';
                                return -errno;
                        }
                        next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (next >= 0 &&
                            (fchmod(next, 0755) < 0 || (chown_new && fchown(next, rd->uid, rd->gid) < 0))) {
                                int e = -errno;
                                close(next);
                                *slash = '/';
                                return e;
                        }
                }
                *slash = '/';
                if (next < 0)
                        return errno == ELOOP || errno == ENOTDIR ? -ENOTDIR : -errno;
                if (fd >= 0)
                        close(fd);
                cur = fd = next;
                p = slash + 1;
        }
        *ret_name = p;
        if (fd < 0) {
                fd = fcntl(rd->dest, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
        }
        return TAKE_FD(fd);
}

/* The same, borrowed from the reader (valid until the next call): the last entry's directory again when it
 * is path's, else walked and kept. */
static int open_parent(reader *rd, char *path, const char **ret_name, bool chown_new) {
        const char *slash = strrchr(path, '/');
        size_t len = slash ? (size_t) (slash - path) : 0;
        int fd;

        if (slash && rd->parent && strlen(rd->parent) == len && memcmp(rd->parent, path, len) == 0) {
                *ret_name = slash + 1;
                return rd->parent_fd;
        }
        if ((fd = walk_parent(rd, path, ret_name, chown_new)) < 0)
                return fd;
        free(rd->parent);
        if (rd->parent_fd >= 0)
                (void) close(rd->parent_fd);
        rd->parent_fd = fd;
        if (!(rd->parent = slash ? strndup(path, len) : NULL) && slash) {
                (void) close(rd->parent_fd);
                rd->parent_fd = -1;
                return -ENOMEM;
        }
        return fd;
}

static int push_record(reader *rd, const char *path, entry_type type, unsigned mode, uint64_t size,
                       const char *sha, const char *target) {
        record *r;

        if (rd->n_recs == rd->cap_recs) {
                size_t cap = rd->cap_recs ? rd->cap_recs * 2 : 256;
                record *n = realloc(rd->recs, cap * sizeof(*n));
                if (!n)
                        return brig_error_oom(rd->err);
                rd->recs = n;
                rd->cap_recs = cap;
        }
        /* What the records hold is what a manifest must list: no valid archive holds more. */
        rd->rec_bytes += strlen(path) + (target ? strlen(target) : 0);
        if (rd->rec_bytes > BRIG_ARCHIVE_MAX_MANIFEST_BYTES)
                return refuse(rd, path, "more names than the manifest of an archive may list");
        r = &rd->recs[rd->n_recs];
        *r = (record){.type = type, .mode = mode, .size = size};
        if (!(r->path = strdup(path)) || (target && !(r->target = strdup(target)))) {
                free(r->path);
                return brig_error_oom(rd->err);
        }
        if (sha)
                memcpy(r->sha256, sha, BRIG_SHA256_HEX);
        rd->n_recs++;
        return 0;
}

/* Where an entry's data goes: a file (fd >= 0), memory (*mem), the pack indexer, or, all unset, nowhere
 * (only hashed, for the manifest). */
typedef struct sink {
        int fd;
        char **mem;
        brig_pack_in *pack;
} sink;

/* Reads the entry's data into out, hashing it; exactly size bytes. */
static int read_data(reader *rd, const char *path, const sink *out, uint64_t size,
                     char sha[BRIG_SHA256_HEX]) {
        brig_sha256 *d = brig_sha256_new();
        uint64_t got = 0;
        int r;

        if (out->mem && !(*out->mem = malloc(size + 1))) {
                (void) brig_sha256_finish(d, sha);
                return brig_error_oom(rd->err);
        }
        for (;;) {
                la_ssize_t n = archive_read_data(rd->a, rd->buf, BLOCK);
                if (n < 0) {
                        (void) brig_sha256_finish(d, sha);
                        return stream_error(rd, path);
                }
                if (n == 0)
                        break;
                if ((uint64_t) n > size - got) {
                        (void) brig_sha256_finish(d, sha);
                        return refuse(rd, path, "more data than its header says");
                }
                brig_sha256_update(d, rd->buf, (size_t) n);
                if (out->mem)
                        memcpy(*out->mem + got, rd->buf, (size_t) n);
                else if (out->pack && brig_pack_in_append(out->pack, rd->buf, (size_t) n, rd->err) < 0) {
                        (void) brig_sha256_finish(d, sha);
                        return brig_error_prefix(rd->err, "archive entry \"%.200s\"", path);
                } else if (out->fd >= 0 && (r = brig_write_all(out->fd, rd->buf, (size_t) n)) < 0) {
                        (void) brig_sha256_finish(d, sha);
                        return brig_error_set_errno(rd->err, r, BRIG_KIND_IO,
                                                    "archive entry \"%.200s\": write", path);
                }
                got += (uint64_t) n;
        }
        if ((r = brig_sha256_finish(d, sha)) < 0)
                return brig_error_set_errno(rd->err, r, BRIG_KIND_INTERNAL, "sha256");
        if (got != size)
                return stream_error(rd, path);
        if (out->mem)
                (*out->mem)[size] = 0;
        return 0;
}

static int parse_info(reader *rd, const char *text, size_t len) {
        _cleanup_json_ cJSON *o = NULL;
        brig_error e = BRIG_ERROR_INIT;
        const char *format = NULL, *id = NULL, *policy = NULL, *digest = NULL, *snap = NULL;
        uint64_t version = 0;
        brig_archive_info *info = rd->info;

        if (brig_json_parse(text, len, &o, &e) < 0 ||
            brig_json_get_string(o, "", "format", true, &format, &e) < 0 ||
            brig_json_get_u64(o, "", "version", UINT32_MAX, &version, &e) < 0 ||
            brig_json_get_string(o, "", "id", true, &id, &e) < 0 ||
            brig_json_get_string(o, "", "policy", false, &policy, &e) < 0 ||
            brig_json_get_string(o, "", "policy_digest", false, &digest, &e) < 0 ||
            brig_json_get_string(o, "", "snapshot", true, &snap, &e) < 0 ||
            brig_json_get_u64(o, "", "owner", UINT32_MAX, &info->owner, &e) < 0 ||
            brig_json_get_u64(o, "", "created", UINT64_C(1) << 52, &info->created, &e) < 0 ||
            brig_json_get_u64(o, "", "last_used", UINT64_C(1) << 52, &info->last_used, &e) < 0)
                return brig_error_set(rd->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "archive entry \"" BRIG_ARCHIVE_META "\": %s", e.msg);
        if ((strcmp(format, BRIG_ARCHIVE_FORMAT) != 0 && strcmp(format, BRIG_MEMORY_ARCHIVE_FORMAT) != 0) ||
            version != BRIG_ARCHIVE_VERSION)
                return refuse(rd, BRIG_ARCHIVE_META,
                              "not a brig-environment or brig-memory archive of version 1");
        if (strlen(id) >= sizeof(info->id) || (policy && strlen(policy) >= sizeof(info->policy)) ||
            (digest && strlen(digest) >= sizeof(info->policy_digest)) || strlen(snap) != 40 ||
            strspn(snap, "0123456789abcdef") != 40)
                return refuse(rd, BRIG_ARCHIVE_META, "a malformed id, policy, policy_digest or snapshot");
        strcpy(info->format, format);
        strcpy(info->id, id);
        strcpy(info->policy, policy ? policy : "");
        strcpy(info->policy_digest, digest ? digest : "");
        strcpy(info->snapshot, snap);
        return 0;
}

/* What a file of history.git/ is to the importer. */
typedef enum { HIST_FILE, HIST_PACK, HIST_IDX } hist_kind;

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_pack_in *, brig_pack_in_free);

#define OBJECTS BRIG_ARCHIVE_HISTORY "/objects/"

/* A pack's name, objects/pack/pack-<40 hex>.<ext>. */
static bool pack_name(const char *path, const char *ext) {
        const char *name = path + strlen(OBJECTS "pack/");

        return strncmp(name, "pack-", 5) == 0 && strspn(name + 5, "0123456789abcdef") == 40 &&
               name[45] == '.' && strcmp(name + 46, ext) == 0;
}

/* The history's objects/pack and objects/info hold only what libgit2 trusts without checking: an index
 * says where each object is (a crafted one can make a read loop forever, history_pack_in.h), a
 * multi-pack-index, commit-graph, .rev or .bitmap the same of several packs or commits, a .keep or
 * info/packs nothing the history needs. So a pack is taken only through the indexer, which writes its own
 * index; the archive's .idx is read (for the manifest) and dropped; anything else there is refused. */
static int classify_history(reader *rd, const char *path, entry_type type, hist_kind *ret) {
        bool in_pack = strncmp(path, OBJECTS "pack/", strlen(OBJECTS "pack/")) == 0,
             in_info = strncmp(path, OBJECTS "info/", strlen(OBJECTS "info/")) == 0;

        *ret = HIST_FILE;
        if (!in_pack && !in_info)
                return 0;
        if (type == T_FILE && in_pack && pack_name(path, "pack"))
                *ret = HIST_PACK;
        else if (type == T_FILE && in_pack && pack_name(path, "idx"))
                *ret = HIST_IDX;
        else
                return refuse(rd, path,
                              "in objects/pack or objects/info but not a pack-<id>.pack or .idx (a "
                              "multi-pack-index, commit-graph, .rev, .bitmap, .keep or info file is "
                              "never taken from an archive)");
        return 0;
}

/* A pack goes through the indexer (its own .pack and .idx, beside the archive's name); an .idx is only
 * hashed. */
static int read_pack(reader *rd, const char *path, int dir, hist_kind kind, uint64_t size,
                     char sha[BRIG_SHA256_HEX]) {
        _cleanup_(brig_pack_in_freep) brig_pack_in *pack = NULL;
        int r;

        if (kind == HIST_IDX)
                return read_data(rd, path, &(sink){.fd = -1}, size, sha);
        /* No bound on the files (0), none on the packs. */
        uint64_t bound = rd->limits->total ? rd->limits->total : UINT64_MAX,
                 all = bound > UINT64_MAX / BRIG_ARCHIVE_PACK_EXPANSION
                               ? UINT64_MAX
                               : bound * BRIG_ARCHIVE_PACK_EXPANSION;
        if ((r = brig_pack_in_new(dir, rd->uid, rd->gid, size, bound, all - rd->pack_expanded, &pack,
                                  rd->err)) < 0 ||
            (r = read_data(rd, path, &(sink){.fd = -1, .pack = pack}, size, sha)) < 0)
                return r;
        if ((r = brig_pack_in_commit(pack, rd->err)) < 0)
                return brig_error_prefix(rd->err, "archive entry \"%.200s\"", path);
        rd->pack_expanded += brig_pack_in_expanded(pack);
        return 0;
}

static int create_entry(reader *rd, char *path, int top, entry_type type, unsigned mode, uint64_t size,
                        const char *target) {
        _cleanup_close_ int fd = -1;
        int dir; /* borrowed from rd */
        /* The history belongs to the workspace's owner too (tools/history.h). */
        bool ws = top == TOP_WORKSPACE || top == TOP_HISTORY;
        const char *name = NULL;
        char sha[BRIG_SHA256_HEX] = "";
        hist_kind kind = HIST_FILE;
        int r;

        if (top == TOP_HISTORY && (r = classify_history(rd, path, type, &kind)) < 0)
                return r;
        if (!strchr(path, '/')) {
                /* workspace/, history.git/, processes/ themselves: made by the importer, not the archive */
                if (type != T_DIR)
                        return refuse(rd, path, "must be a directory");
                return push_record(rd, path, type, mode, 0, NULL, NULL);
        }
        if ((dir = open_parent(rd, path, &name, ws && rd->uid != (uid_t) -1)) < 0)
                return r = dir, dir = -1,
                       r == -ENOTDIR ? refuse(rd, path, "a path through a symlink or a file")
                                     : brig_error_set_errno(rd->err, r, BRIG_KIND_IO,
                                                            "archive entry \"%.200s\"", path);
        switch (type) {
        case T_DIR:
                if (mkdirat(dir, name, 0700) < 0) {
                        struct stat st;
                        if (errno != EEXIST || fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISDIR(st.st_mode))
                                return refuse(rd, path, "exists already (listed twice?)");
                }
                /* Through an fd, never the name again: it may have become a symlink meanwhile. */
                if ((fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
                    fchmod(fd, mode) < 0 ||
                    (ws && rd->uid != (uid_t) -1 && fchown(fd, rd->uid, rd->gid) < 0))
                        return brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                                    "archive entry \"%.200s\"", path);
                break;
        case T_SYMLINK:
                if (symlinkat(target, dir, name) < 0)
                        return errno == EEXIST ? refuse(rd, path, "exists already (listed twice?)")
                                               : brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                                                      "archive entry \"%.200s\"", path);
                if (ws && rd->uid != (uid_t) -1 &&
                    fchownat(dir, name, rd->uid, rd->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                                    "archive entry \"%.200s\"", path);
                break;
        case T_FILE:
                if (kind == HIST_PACK || kind == HIST_IDX) {
                        if ((r = read_pack(rd, path, dir, kind, size, sha)) < 0)
                                return r;
                        break;
                }
                fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return errno == EEXIST ? refuse(rd, path, "exists already (listed twice?)")
                                               : brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                                                      "archive entry \"%.200s\"", path);
                if ((r = read_data(rd, path, &(sink){.fd = fd}, size, sha)) < 0)
                        return r;
                if (fchmod(fd, mode) < 0 ||
                    (ws && rd->uid != (uid_t) -1 && fchown(fd, rd->uid, rd->gid) < 0))
                        return brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                                    "archive entry \"%.200s\"", path);
                break;
        }
        return push_record(rd, path, type, mode, size, type == T_FILE ? sha : NULL, target);
}

static int check_mode(reader *rd, const char *path, int top, entry_type type, unsigned mode) {
        if (mode & 07000)
                return refuse(rd, path, "a setuid, setgid or sticky bit");
        if (type == T_DIR && mode != 0755)
                return refuse(rd, path, "a directory mode other than 0755");
        if (type == T_FILE && mode != 0644 && !(mode == 0755 && top != TOP_META && top != TOP_MANIFEST) &&
            !(mode == 0444 && top == TOP_HISTORY))
                return refuse(rd, path, "a file mode other than 0644 or 0755");
        return 0;
}

/* Files by which a git directory takes objects or settings from elsewhere: another environment's history,
 * a host file. (The archive's config is never used either: brig_archive_extract() writes its own.) */
static const char *const git_outside[] = {
        BRIG_ARCHIVE_HISTORY "/objects/info/alternates",
        BRIG_ARCHIVE_HISTORY "/objects/info/http-alternates",
        BRIG_ARCHIVE_HISTORY "/commondir",
        BRIG_ARCHIVE_HISTORY "/gitdir",
};

/* The history's config, whatever the archive's said: a bare repository, nothing included, no filters,
 * no hooks path, no worktree settings. */
static int write_git_config(reader *rd) {
        static const char text[] =
                "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n";
        _cleanup_close_ int dir =
                openat(rd->dest, BRIG_ARCHIVE_HISTORY, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fd = -1;

        if (dir < 0 || (unlinkat(dir, "config", 0) < 0 && errno != ENOENT) ||
            (fd = openat(dir, "config", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0 ||
            brig_write_all(fd, text, sizeof(text) - 1) < 0 ||
            (rd->uid != (uid_t) -1 && fchown(fd, rd->uid, rd->gid) < 0))
                return brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO,
                                            "import: write history.git/config");
        return 0;
}

/* One entry, header read. */
static int entry(reader *rd, struct archive_entry *e, bool *ret_manifest) {
        _cleanup_free_ char *path = malloc(BRIG_ARCHIVE_MAX_PATH + 2);
        const char *raw = archive_entry_pathname(e), *target = NULL;
        mode_t ft = archive_entry_filetype(e);
        unsigned mode = archive_entry_mode(e) & 07777;
        uint64_t size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
                                ? (uint64_t) archive_entry_size(e)
                                : 0;
        entry_type type;
        int top = TOP_NONE, r;

        if (!path)
                return brig_error_oom(rd->err);
        if ((r = check_path(rd, raw, path, &top)) < 0)
                return r;
        if (archive_entry_hardlink(e))
                return refuse(rd, raw, "a hard link");
        switch (ft) {
        case AE_IFREG:
                type = T_FILE;
                break;
        case AE_IFDIR:
                type = T_DIR;
                break;
        case AE_IFLNK:
                type = T_SYMLINK;
                break;
        case AE_IFCHR:
        case AE_IFBLK:
                return refuse(rd, raw, "a device node");
        case AE_IFIFO:
                return refuse(rd, raw, "a FIFO");
        case AE_IFSOCK:
                return refuse(rd, raw, "a socket");
        default:
                return refuse(rd, raw, "an entry of unknown type");
        }
        if (rd->n_recs == 0 && top != TOP_META)
                return refuse(rd, raw, "the first entry must be " BRIG_ARCHIVE_META);
        if (rd->n_recs > 0 && top == TOP_META)
                return refuse(rd, raw, "not the first entry");
        if (rd->n_recs >= BRIG_ARCHIVE_MAX_ENTRIES)
                return refuse(rd, raw, "more entries than an archive may have (1000000)");
        if (archive_entry_sparse_count(e) > 0)
                return refuse(rd, raw, "a sparse file");
        if (type == T_SYMLINK) {
                target = archive_entry_symlink(e);
                if (top != TOP_WORKSPACE || !strchr(path, '/'))
                        return refuse(rd, raw, "a symlink outside workspace/");
                if (!target || !target_inside(path, target))
                        return refuse(
                                rd, raw,
                                "a symlink whose target is absolute, leaves the workspace or has \"..\" "
                                "after a name");
        } else if ((r = check_mode(rd, raw, top, type, mode)) < 0)
                return r;
        if (type != T_FILE && size)
                return refuse(rd, raw, "a directory or symlink with data");
        for (size_t i = 0; i < sizeof(git_outside) / sizeof(*git_outside); i++)
                if (strcmp(path, git_outside[i]) == 0)
                        return refuse(rd, raw, "a git file that makes the history read outside itself");
        if ((top == TOP_META || top == TOP_MANIFEST) && type != T_FILE)
                return refuse(rd, raw, "must be a regular file");
        if (type == T_FILE) {
                if (top == TOP_META && size > BRIG_ARCHIVE_MAX_META_BYTES)
                        return brig_error_set(rd->err, -EFBIG, BRIG_KIND_LIMIT,
                                              "archive entry \"%.200s\": over %d bytes", raw,
                                              BRIG_ARCHIVE_MAX_META_BYTES);
                /* It comes last: what it may take is known by then (the entries' names and a line of
                 * at most MANIFEST_LINE_MAX bytes more each), so a manifest of junk cannot make the JSON
                 * parser allocate gigabytes. */
                if (top == TOP_MANIFEST &&
                    (size > BRIG_ARCHIVE_MAX_MANIFEST_BYTES ||
                     size > 4096 + 2 * rd->rec_bytes + rd->n_recs * MANIFEST_LINE_MAX))
                        return brig_error_set(rd->err, -EFBIG, BRIG_KIND_LIMIT,
                                              "archive entry \"%.200s\": larger than a manifest of its "
                                              "entries could be",
                                              raw);
                if (top == TOP_WORKSPACE && rd->limits->file_size && size > rd->limits->file_size)
                        return brig_error_set(
                                rd->err, -EFBIG, BRIG_KIND_LIMIT,
                                "archive entry \"%.200s\": %llu bytes, over the policy's file size "
                                "limit of %llu",
                                raw, (unsigned long long) size, (unsigned long long) rd->limits->file_size);
                if (rd->limits->total && size > rd->limits->total - rd->info->bytes)
                        return brig_error_set(
                                rd->err, -EFBIG, BRIG_KIND_LIMIT,
                                "archive entry \"%.200s\": the archive expands to more than %llu "
                                "bytes (the workspace quota, or the free space)",
                                raw, (unsigned long long) rd->limits->total);
                rd->info->bytes += size;
        }
        rd->info->entries++;
        if (top == TOP_META || top == TOP_MANIFEST) {
                _cleanup_free_ char *text = NULL;
                char sha[BRIG_SHA256_HEX];
                if ((r = read_data(rd, raw, &(sink){.fd = -1, .mem = &text}, size, sha)) < 0)
                        return r;
                if (top == TOP_MANIFEST) {
                        rd->manifest = TAKE_PTR(text);
                        rd->manifest_len = size;
                        *ret_manifest = true;
                        return 0;
                }
                if ((r = parse_info(rd, text, size)) < 0)
                        return r;
                return push_record(rd, path, T_FILE, mode, size, sha, NULL);
        }
        return create_entry(rd, path, top, type, mode, size, target);
}

static int manifest_error(reader *rd, const char *path, const char *why) {
        return brig_error_set(rd->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                              "archive entry \"" BRIG_ARCHIVE_MANIFEST "\": \"%.200s\": %s", path, why);
}

/* MANIFEST.json lists every entry read, in order, as read. */
static int check_manifest(reader *rd) {
        _cleanup_json_ cJSON *o = NULL;
        brig_error e = BRIG_ERROR_INIT;
        const cJSON *entries, *m;
        uint64_t version = 0;
        size_t i = 0;

        if (brig_json_parse(rd->manifest, rd->manifest_len, &o, &e) < 0 ||
            brig_json_get_u64(o, "", "version", UINT32_MAX, &version, &e) < 0)
                return brig_error_set(rd->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "archive entry \"" BRIG_ARCHIVE_MANIFEST "\": %s", e.msg);
        entries = brig_json_member(o, "entries");
        if (version != BRIG_ARCHIVE_VERSION || !cJSON_IsArray(entries))
                return refuse(rd, BRIG_ARCHIVE_MANIFEST, "not a version 1 manifest with \"entries\"");
        cJSON_ArrayForEach (m, entries) {
                const cJSON *path = brig_json_member(m, "path"), *type = brig_json_member(m, "type"),
                            *mode = brig_json_member(m, "mode"), *size = brig_json_member(m, "size"),
                            *sha = brig_json_member(m, "sha256"), *target = brig_json_member(m, "target");
                if (!cJSON_IsString(path) || !cJSON_IsString(type))
                        return refuse(rd, BRIG_ARCHIVE_MANIFEST, "an entry without a path or type");
                if (i >= rd->n_recs)
                        return manifest_error(rd, path->valuestring, "listed but not in the archive");
                const record *r = &rd->recs[i++];
                if (strcmp(path->valuestring, r->path) != 0)
                        return manifest_error(rd, r->path, "in the archive but not listed in its place");
                if (strcmp(type->valuestring, type_names[r->type]) != 0)
                        return manifest_error(rd, r->path, "a type other than the archive's");
                if (r->type != T_SYMLINK && (!cJSON_IsNumber(mode) || mode->valuedouble != (double) r->mode))
                        return manifest_error(rd, r->path, "a mode other than the archive's");
                if (r->type == T_FILE && (!cJSON_IsNumber(size) || size->valuedouble != (double) r->size))
                        return manifest_error(rd, r->path, "a size other than the archive's");
                if (r->type == T_FILE && (!cJSON_IsString(sha) || strcmp(sha->valuestring, r->sha256) != 0))
                        return manifest_error(rd, r->path, "a SHA-256 other than the archive's");
                if (r->type == T_SYMLINK &&
                    (!cJSON_IsString(target) || strcmp(target->valuestring, r->target) != 0))
                        return manifest_error(rd, r->path, "a symlink target other than the archive's");
        }
        if (i < rd->n_recs)
                return manifest_error(rd, rd->recs[i].path, "in the archive but not listed");
        return 0;
}

static int make_top(reader *rd) {
        static const char *const dirs[] = {BRIG_ARCHIVE_WORKSPACE, BRIG_ARCHIVE_HISTORY,
                                           BRIG_ARCHIVE_PROCESSES};

        for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
                if (mkdirat(rd->dest, dirs[i], i == 0 ? 0700 : 0755) < 0 ||
                    (i < 2 && rd->uid != (uid_t) -1 &&
                     fchownat(rd->dest, dirs[i], rd->uid, rd->gid, AT_SYMLINK_NOFOLLOW) < 0))
                        return brig_error_set_errno(rd->err, -errno, BRIG_KIND_IO, "import: create %s/",
                                                    dirs[i]);
        return 0;
}

int brig_archive_extract(int archive_fd, int dest_dirfd, const brig_archive_limits *limits, uid_t uid,
                         gid_t gid, brig_archive_info *info, brig_error *err) {
        _cleanup_(archive_freep) struct archive *a = NULL;
        reader rd = {.dest = dest_dirfd,
                     .limits = limits,
                     .uid = uid,
                     .gid = gid,
                     .info = info,
                     .parent_fd = -1,
                     .err = err};
        struct archive_entry *e;
        bool manifest = false;
        int r;

        *info = (brig_archive_info){0};
        if ((r = open_archive(archive_fd, &a, err)) < 0)
                return r;
        rd.a = a;
        if (!(rd.buf = malloc(BLOCK)))
                return brig_error_oom(err);
        if ((r = make_top(&rd)) < 0)
                goto out;
        while (!manifest) {
                int s = archive_read_next_header(a, &e);
                if (s == ARCHIVE_EOF) {
                        r = rd.n_recs ? refuse(&rd, BRIG_ARCHIVE_MANIFEST, "missing (a truncated archive?)")
                                      : refuse(&rd, BRIG_ARCHIVE_META, "missing: an empty archive");
                        goto out;
                }
                if (s < ARCHIVE_WARN) {
                        r = stream_error(&rd, rd.n_recs ? rd.recs[rd.n_recs - 1].path : "its start");
                        goto out;
                }
                if ((r = entry(&rd, e, &manifest)) < 0)
                        goto out;
        }
        int s = archive_read_next_header(a, &e);
        if (s == ARCHIVE_OK || s == ARCHIVE_WARN) {
                r = refuse(&rd, archive_entry_pathname(e) ? archive_entry_pathname(e) : "?",
                           "after " BRIG_ARCHIVE_MANIFEST ", which must be last");
                goto out;
        }
        if (s != ARCHIVE_EOF) {
                r = stream_error(&rd, BRIG_ARCHIVE_MANIFEST);
                goto out;
        }
        if ((r = check_manifest(&rd)) < 0)
                goto out;
        r = write_git_config(&rd);
out:
        reader_done(&rd);
        return r;
}

int brig_archive_read_info(int archive_fd, brig_archive_info *info, brig_error *err) {
        _cleanup_(archive_freep) struct archive *a = NULL;
        brig_archive_limits none = {0};
        reader rd = {.dest = -1, .limits = &none, .info = info, .parent_fd = -1, .err = err};
        struct archive_entry *e;
        bool manifest = false;
        int r, s;

        *info = (brig_archive_info){0};
        if ((r = open_archive(archive_fd, &a, err)) < 0)
                return r;
        rd.a = a;
        if (!(rd.buf = malloc(BLOCK)))
                return brig_error_oom(err);
        s = archive_read_next_header(a, &e);
        if (s == ARCHIVE_EOF)
                r = refuse(&rd, BRIG_ARCHIVE_META, "missing: an empty archive");
        else if (s < ARCHIVE_WARN)
                r = stream_error(&rd, "its start");
        else {
                const char *raw = archive_entry_pathname(e);
                if (!raw || strcmp(raw, BRIG_ARCHIVE_META) != 0)
                        r = refuse(&rd, raw ? raw : "", "the first entry must be " BRIG_ARCHIVE_META);
                else
                        r = entry(&rd, e, &manifest);
        }
        reader_done(&rd);
        return r;
}
