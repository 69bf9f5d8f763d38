/* SPDX-License-Identifier: MIT */
/* Policy inheritance: follows a policy's "extends" chain, reads each parent file and merges the JSON
 * documents into one before the parser in policy.c validates it. Owns parent lookup (sibling file, then the
 * installed policy directory), cycle and depth checks, the rewriting of a parent's relative paths, the one
 * merge rule (objects merge key by key, arrays and scalars are replaced, "+name" appends) and the
 * provenance of every leaf of the result. */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/json_locate.h"
#include "common/text.h"
#include "sandbox/policy_internal.h"
#include "sandbox/policy_merge.h"

#define MAX_FILE_BYTES (1024 * 1024) /* as POLICY_MAX_BYTES in policy.c */
#define MAX_PATH_BYTES 4095
#define TREE_PATHBUF 512

/* Which file a node of the merged document came from. Every node is recorded right after its file is
 * parsed, before merging frees anything, so a live node's address is never one of a freed node. */
typedef struct node_file {
        const cJSON *node;
        size_t file;
} node_file;

typedef struct merger {
        brig_policy_merge_problem_cb problem_cb; /* may be NULL */
        void *userdata;
        char *files[BRIG_POLICY_MAX_CHAIN + 1]; /* display names; files[0] is the document's origin */
        cJSON *docs[BRIG_POLICY_MAX_CHAIN];     /* docs[0] is borrowed from the caller */
        dev_t dev[BRIG_POLICY_MAX_CHAIN];
        ino_t ino[BRIG_POLICY_MAX_CHAIN];
        bool has_id[BRIG_POLICY_MAX_CHAIN];
        size_t n;
        node_file *map;
        size_t n_map, cap_map;
        size_t n_problems;
        bool oom;
} merger;

/* Reports a problem in file (NULL: the document being loaded) at JSON path. */
__attribute__((format(printf, 6, 7))) static void problem(merger *m, const char *file, const char *path,
                                                          unsigned line, unsigned column, const char *fmt,
                                                          ...) {
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        m->n_problems++;
        if (m->problem_cb)
                m->problem_cb(file, path, line, column, msg, m->userdata);
}

/* The file docs[i] came from, as problem() wants it. */
static const char *file_of(const merger *m, size_t i) {
        return i == 0 ? NULL : m->files[i];
}

/* "parent.key", or `parent["key"]`, exactly as policy.c names paths in its diagnostics. */
static const char *path_key(char buf[static TREE_PATHBUF], const char *parent, const char *key) {
        char q[QUOTEBUF];

        if (brig__policy_is_plain_key(key))
                (void) snprintf(buf, TREE_PATHBUF, "%s%s%s", parent, parent[0] ? "." : "", key);
        else
                (void) snprintf(buf, TREE_PATHBUF, "%s[%s]", parent, brig__policy_quote(q, key));
        return buf;
}

static void syntax_problem(merger *m, const char *file, const char *text, size_t off, const char *what) {
        unsigned line, column;

        brig_text_line_column(text, off, &line, &column);
        problem(m, file, "", line, column, "%s at %u:%u", what, line, column);
}

/* Parses a policy document with the same checks as brig_policy_parse(): UTF-8, one JSON value, no
 * "\u0000" escape (cJSON would cut the string there). Returns the document or NULL after a problem. */
static cJSON *parse_text(merger *m, const char *file, const char *text, size_t len) {
        const char *end = NULL;
        cJSON *root;
        size_t off;

        if (!brig_utf8_valid(text, len)) {
                problem(m, file, "", 0, 0, "not valid UTF-8 text (or contains a NUL byte)");
                return NULL;
        }
        bool oom;
        root = brig_json_parse_raw(text, len, &end, &oom);
        if (oom) {
                m->oom = true;
                return NULL;
        }
        if (!root) {
                off = end && end >= text && end <= text + len ? (size_t) (end - text) : 0;
                syntax_problem(m, file, text, off, len == 0 ? "empty file" : "invalid JSON");
                return NULL;
        }
        for (off = end ? (size_t) (end - text) : len; off < len; off++)
                if (!strchr(" \t\r\n", text[off])) {
                        syntax_problem(m, file, text, off, "unexpected data after the JSON value");
                        cJSON_Delete(root);
                        return NULL;
                }
        for (off = 0; off + 1 < len; off++)
                if (text[off] == '\\') {
                        if (text[off + 1] == 'u' && len - off >= 6 &&
                            memcmp(text + off + 2, "0000", 4) == 0) {
                                syntax_problem(m, file, text, off, "\"\\u0000\" is not allowed in strings");
                                cJSON_Delete(root);
                                return NULL;
                        }
                        off++;
                }
        return root;
}

/* Reads and parses an open policy file; problems name file. Returns the document or NULL. */
static cJSON *read_doc(merger *m, int fd, const char *file, struct stat *ret_st) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fstat(fd, ret_st) < 0) {
                problem(m, file, "", 0, 0, "cannot stat: %s", strerror(errno));
                return NULL;
        }
        /* A FIFO or a device could block or never end. */
        if (!S_ISREG(ret_st->st_mode)) {
                problem(m, file, "", 0, 0, "not a regular file");
                return NULL;
        }
        /* One byte more than the limit, to notice a file that grew since fstat(). */
        if (ret_st->st_size > MAX_FILE_BYTES || !(buf = malloc(MAX_FILE_BYTES + 1))) {
                if (buf || ret_st->st_size > MAX_FILE_BYTES)
                        problem(m, file, "", 0, 0, "larger than the %d byte (1 MiB) limit", MAX_FILE_BYTES);
                else
                        m->oom = true;
                return NULL;
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, MAX_FILE_BYTES + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        problem(m, file, "", 0, 0, "cannot read: %s", strerror(errno));
                        return NULL;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > MAX_FILE_BYTES) {
                        problem(m, file, "", 0, 0, "larger than the %d byte (1 MiB) limit", MAX_FILE_BYTES);
                        return NULL;
                }
        }
        return parse_text(m, file, buf, len);
}

static int open_policy(const char *path) {
        /* O_NONBLOCK: opening a FIFO must not wait for a writer; read_doc() refuses it. */
        return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* The directory part of file with its slash ("dir/"), or "" for a bare file name or text without a file;
 * parents are then looked up relative to the working directory. */
static int dir_prefix(const char *file, char **ret) {
        const char *slash = file && file[0] != '<' ? strrchr(file, '/') : NULL;

        *ret = slash ? strndup(file, (size_t) (slash - file) + 1) : strdup("");
        return *ret ? 0 : -ENOMEM;
}

/* Opens the parent that docs[i]'s "extends" value names: a path (it contains "/" or ends in ".json"),
 * relative to docs[i]'s directory, or a policy name looked up as DIR/NAME.json, then in the installed
 * policy directory. Returns an fd and the parent's display name, or -1 after a problem. */
static int open_parent(merger *m, size_t i, const char *value, char **ret_file) {
        _cleanup_free_ char *dir = NULL, *first = NULL, *second = NULL;
        size_t n = strlen(value);
        char q[QUOTEBUF], q2[QUOTEBUF];
        int fd;

        if (dir_prefix(m->files[i], &dir) < 0) {
                m->oom = true;
                return -1;
        }
        if (strchr(value, '/') || (n >= 5 && strcmp(value + n - 5, ".json") == 0)) {
                if (asprintf(&first, "%s%s", value[0] == '/' ? "" : dir, value) < 0) {
                        m->oom = true;
                        return -1;
                }
                fd = open_policy(first);
                if (fd < 0)
                        problem(m, file_of(m, i), "extends", 0, 0, "cannot open %s: %s",
                                brig__policy_quote(q, first), strerror(errno));
                else
                        *ret_file = TAKE_PTR(first);
                return fd;
        }
        if (asprintf(&first, "%s%s.json", dir, value) < 0 ||
            asprintf(&second, "%s/%s.json", BRIG_POLICYDIR, value) < 0) {
                m->oom = true;
                return -1;
        }
        fd = open_policy(first);
        if (fd >= 0) {
                *ret_file = TAKE_PTR(first);
                return fd;
        }
        if (errno == ENOENT)
                fd = open_policy(second);
        if (fd >= 0) {
                *ret_file = TAKE_PTR(second);
                return fd;
        }
        if (errno != ENOENT)
                problem(m, file_of(m, i), "extends", 0, 0, "cannot open %s: %s",
                        brig__policy_quote(q, first), strerror(errno));
        else
                problem(m, file_of(m, i), "extends", 0, 0, "no policy %s: neither %s nor %s exists",
                        brig__policy_quote(q, value), brig__policy_quote(q2, first), second);
        return -1;
}

/* "a.json -> b.json -> a.json": the chain so far, then next. */
static void cycle_problem(merger *m, size_t i, const char *next) {
        char chain[256] = "";
        size_t len = 0;

        for (size_t j = 0; j <= m->n && len < sizeof(chain); j++)
                len += (size_t) snprintf(chain + len, sizeof(chain) - len, "%s%s", j ? " -> " : "",
                                         j < m->n ? m->files[j] : next);
        problem(m, file_of(m, i), "extends", 0, 0, "cycle: %s", chain);
}

/* A parent's relative seccomp.profile names a file next to the parent, wherever the child is: make it
 * absolute before it is merged into a document from another directory. */
static void rewrite_profile(merger *m, size_t i) {
        cJSON *sc = cJSON_GetObjectItemCaseSensitive(m->docs[i], "seccomp");
        cJSON *pr = cJSON_IsObject(sc) ? cJSON_GetObjectItemCaseSensitive(sc, "profile") : NULL;
        _cleanup_free_ char *dir = NULL, *abs = NULL;
        char real[PATH_MAX];

        if (!cJSON_IsString(pr) || !pr->valuestring[0] || pr->valuestring[0] == '/')
                return;
        if (dir_prefix(m->files[i], &dir) < 0) {
                m->oom = true;
                return;
        }
        if (!realpath(dir[0] ? dir : ".", real)) {
                problem(m, m->files[i], "seccomp.profile", 0, 0, "cannot resolve the directory of %s: %s",
                        m->files[i], strerror(errno));
                return;
        }
        if (asprintf(&abs, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", pr->valuestring) < 0 ||
            !cJSON_SetValuestring(pr, abs))
                m->oom = true;
}

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static int key_cmp(const void *a, const void *b) {
        return strcmp((*(const cJSON *const *) a)->string, (*(const cJSON *const *) b)->string);
}

/* Reports every key given twice in an object taking part in the merge (only the first copy would be
 * merged, so the parser would never see the second). Arrays are not merged: the parser checks the objects
 * in them. Sorting keeps this O(n log n) for large objects. */
static void check_dups(merger *m, const cJSON *obj, const char *path, size_t i) {
        _cleanup_free_ const cJSON **v = NULL;
        size_t n = 0, k = 0;
        const cJSON *it;
        char p[TREE_PATHBUF];

        if (!cJSON_IsObject(obj))
                return;
        cJSON_ArrayForEach (it, obj)
                n++;
        if (n >= 2 && !(v = calloc(n, sizeof(*v)))) {
                m->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, obj)
                if (k < n && v)
                        v[k++] = it;
        if (k)
                qsort(v, k, sizeof(*v), key_cmp);
        for (size_t j = 1; j < k; j++)
                if (strcmp(v[j]->string, v[j - 1]->string) == 0)
                        problem(m, file_of(m, i), path_key(p, path, v[j]->string), 0, 0, "duplicate field");
        /* "name" and "+name" side by side: which would win depends on their order. */
        for (size_t j = 0; j < k; j++) {
                const char *key = v[j]->string;
                cJSON probe = {.string = (char *) key + 1};
                const cJSON *pp = &probe;
                char q[QUOTEBUF], q2[QUOTEBUF];

                if (key[0] == '+' && bsearch(&pp, v, k, sizeof(*v), key_cmp))
                        problem(m, file_of(m, i), path_key(p, path, key), 0, 0, "%s and %s are both set",
                                brig__policy_quote(q, key + 1), brig__policy_quote(q2, key));
        }
        cJSON_ArrayForEach (it, obj)
                check_dups(m, it, path_key(p, path, it->string), i);
}

/* Follows the "extends" chain from docs[0], filling docs[1..] and files[1..]. Each parent loses its "name"
 * (a policy's name is its own) and every document its "extends". */
static void load_chain(merger *m) {
        for (size_t i = 0;; i++) {
                /* Before "extends" is taken out, so that a second one is reported too. */
                check_dups(m, m->docs[i], "", i);
                _cleanup_json_ cJSON *ext = cJSON_DetachItemViaPointer(
                        m->docs[i], cJSON_GetObjectItemCaseSensitive(m->docs[i], "extends"));
                _cleanup_close_ int fd = -1;
                _cleanup_free_ char *file = NULL;
                struct stat st;
                cJSON *doc;
                const char *v;

                if (!ext)
                        return;
                v = cJSON_IsString(ext) ? ext->valuestring : NULL;
                if (!v) {
                        problem(m, file_of(m, i), "extends", 0, 0,
                                "expected a policy name or a path, got %s", brig_json_type_name(ext));
                        return;
                }
                if (!v[0] || strlen(v) > MAX_PATH_BYTES || has_control(v)) {
                        problem(m, file_of(m, i), "extends", 0, 0,
                                "expected a policy name or a path of 1 to %d bytes without control "
                                "characters",
                                MAX_PATH_BYTES);
                        return;
                }
                if (m->n == BRIG_POLICY_MAX_CHAIN) {
                        problem(m, file_of(m, i), "extends", 0, 0, "more than %d policy files in the chain",
                                BRIG_POLICY_MAX_CHAIN);
                        return;
                }
                fd = open_parent(m, i, v, &file);
                if (fd < 0)
                        return;
                if (fstat(fd, &st) == 0)
                        for (size_t j = 0; j < m->n; j++)
                                if (m->has_id[j] && m->dev[j] == st.st_dev && m->ino[j] == st.st_ino) {
                                        cycle_problem(m, i, file);
                                        return;
                                }
                doc = read_doc(m, fd, file, &st);
                if (!doc)
                        return;
                m->docs[m->n] = doc;
                m->files[m->n] = TAKE_PTR(file);
                m->dev[m->n] = st.st_dev;
                m->ino[m->n] = st.st_ino;
                m->has_id[m->n] = true;
                m->n++;
                if (!cJSON_IsObject(doc)) {
                        problem(m, m->files[m->n - 1], "", 0, 0, "expected an object, got %s",
                                brig_json_type_name(doc));
                        return;
                }
                cJSON_DeleteItemFromObjectCaseSensitive(doc, "name");
                rewrite_profile(m, m->n - 1);
        }
}

/* "+name" where nothing is inherited (in the first file of the chain, or in an object that replaces or
 * adds a value rather than merging into one). */
static void check_no_plus(merger *m, const cJSON *obj, const char *path, size_t i) {
        const cJSON *it;
        char p[TREE_PATHBUF];

        cJSON_ArrayForEach (it, obj) {
                if (it->string[0] == '+')
                        problem(m, file_of(m, i), path_key(p, path, it->string), 0, 0,
                                "nothing inherited to append to");
                if (cJSON_IsObject(it))
                        check_no_plus(m, it, path_key(p, path, it->string), i);
        }
}

/* Merges child (an object of docs[i]) into acc (the merged object of its ancestors): see docs/policy.md. */
static void merge_obj(merger *m, cJSON *acc, cJSON *child, const char *path, size_t i) {
        char p[TREE_PATHBUF], q[QUOTEBUF];
        cJSON *it = child->child;

        while (it) {
                cJSON *next = it->next, *pa;
                const char *key = it->string;

                path_key(p, path, key);
                if (key[0] == '+') {
                        pa = cJSON_GetObjectItemCaseSensitive(acc, key + 1);
                        if (!cJSON_IsArray(it))
                                problem(m, file_of(m, i), p, 0, 0,
                                        "\"+\" appends to an inherited array: expected an array, got %s",
                                        brig_json_type_name(it));
                        else if (!pa)
                                problem(m, file_of(m, i), p, 0, 0, "nothing inherited to append to");
                        else if (!cJSON_IsArray(pa))
                                problem(m, file_of(m, i), p, 0, 0, "the inherited %s is %s %s, not an array",
                                        brig__policy_quote(q, key + 1), cJSON_IsObject(pa) ? "an" : "a",
                                        brig_json_type_name(pa));
                        else
                                while (it->child)
                                        cJSON_AddItemToArray(pa, cJSON_DetachItemViaPointer(it, it->child));
                } else if ((pa = cJSON_GetObjectItemCaseSensitive(acc, key)) && cJSON_IsObject(pa) &&
                           cJSON_IsObject(it))
                        merge_obj(m, pa, it, p, i);
                else {
                        if (cJSON_IsObject(it))
                                check_no_plus(m, it, p, i);
                        (void) cJSON_DetachItemViaPointer(child, it);
                        if (pa)
                                (void) cJSON_ReplaceItemViaPointer(acc, pa, it);
                        else if (!cJSON_AddItemToObject(acc, key, it)) {
                                cJSON_Delete(it);
                                m->oom = true;
                        }
                }
                it = next;
        }
}

static void map_add(merger *m, const cJSON *node, size_t file) {
        const cJSON *it;

        if (m->n_map == m->cap_map) {
                size_t cap = m->cap_map ? m->cap_map * 2 : 256;
                node_file *v = reallocarray(m->map, cap, sizeof(*v));
                if (!v) {
                        m->oom = true;
                        return;
                }
                m->map = v;
                m->cap_map = cap;
        }
        m->map[m->n_map++] = (node_file){.node = node, .file = file};
        cJSON_ArrayForEach (it, node)
                map_add(m, it, file);
}

static int map_cmp(const void *a, const void *b) {
        const cJSON *x = ((const node_file *) a)->node, *y = ((const node_file *) b)->node;
        return (x > y) - (x < y);
}

static const char *map_file(const merger *m, const cJSON *node) {
        node_file key = {.node = node};
        const node_file *f = bsearch(&key, m->map, m->n_map, sizeof(key), map_cmp);

        return m->files[f ? f->file : 0];
}

static void add_leaves(merger *m, brig_policy_tree *t, const cJSON *node, char *path) {
        size_t len = strlen(path), k = 0;
        const cJSON *it;
        brig_policy_leaf *v;

        if ((cJSON_IsObject(node) || cJSON_IsArray(node)) && node->child) {
                cJSON_ArrayForEach (it, node) {
                        char p[TREE_PATHBUF];
                        if (cJSON_IsObject(node))
                                path_key(p, path, it->string);
                        else
                                (void) snprintf(p, sizeof(p), "%s[%zu]", path, k++);
                        add_leaves(m, t, it, p);
                }
                return;
        }
        v = reallocarray(t->leaves, t->n_leaves + 1, sizeof(*v));
        if (!v || !(path = strndup(path, len))) {
                if (v)
                        t->leaves = v;
                m->oom = true;
                return;
        }
        t->leaves = v;
        v[t->n_leaves++] = (brig_policy_leaf){.path = path, .file = map_file(m, node), .value = node};
}

static void merger_done(merger *m) {
        for (size_t i = 1; i < m->n; i++)
                cJSON_Delete(m->docs[i]);
        for (size_t i = 0; i < m->n; i++)
                free(m->files[i]);
        free(m->map);
}

int brig_policy_merge(cJSON **root, const char *origin, brig_policy_tree *ret_tree,
                      brig_policy_merge_problem_cb problem_cb, void *userdata) {
        merger m = {.problem_cb = problem_cb, .userdata = userdata};
        brig_policy_tree t = {0};
        struct stat st;
        cJSON *acc;
        int r = 0;

        assert(root && *root);
        if (!ret_tree && !(cJSON_IsObject(*root) && cJSON_GetObjectItemCaseSensitive(*root, "extends")))
                return 0;
        m.docs[0] = *root;
        m.files[0] = strdup(origin ? origin : "<inline>");
        if (!m.files[0])
                return -ENOMEM;
        m.n = 1;
        if (origin && origin[0] != '<' && stat(origin, &st) == 0) {
                m.dev[0] = st.st_dev;
                m.ino[0] = st.st_ino;
                m.has_id[0] = true;
        }
        if (cJSON_IsObject(*root))
                load_chain(&m);
        else
                check_dups(&m, *root, "", 0);
        for (size_t i = 0; i < m.n; i++)
                map_add(&m, m.docs[i], i);
        acc = m.docs[m.n - 1];
        if (m.n > 1 && !m.n_problems && !m.oom) {
                check_no_plus(&m, acc, "", m.n - 1);
                for (size_t i = m.n - 1; i-- > 0;)
                        merge_obj(&m, acc, m.docs[i], "", i);
        }
        if (m.oom)
                r = -ENOMEM;
        else if (m.n_problems)
                r = -EINVAL;
        if (r < 0) {
                merger_done(&m);
                return r;
        }
        /* The merged document is the first file's; the caller's document gave its members to it. */
        if (m.n > 1) {
                cJSON_Delete(*root);
                *root = acc;
                m.docs[m.n - 1] = NULL;
        }
        if (!ret_tree) {
                merger_done(&m);
                return 0;
        }
        qsort(m.map, m.n_map, sizeof(*m.map), map_cmp);
        t.files = calloc(m.n + 1, sizeof(char *));
        if (t.files) {
                char path[TREE_PATHBUF] = "";
                add_leaves(&m, &t, *root, path);
                t.root = TAKE_PTR(*root);
                t.n_files = m.n;
                for (size_t i = 0; i < m.n; i++)
                        t.files[i] = TAKE_PTR(m.files[i]);
        }
        merger_done(&m);
        if (!t.files || m.oom) {
                brig_policy_tree_done(&t);
                return -ENOMEM;
        }
        *ret_tree = t;
        return 0;
}

static void load_problem_cb(const char *file, const char *path, unsigned line, unsigned column,
                            const char *msg, void *userdata) {
        merger *m = userdata;
        problem(m, file, path, line, column, "%s", msg);
}

int brig_policy_tree_load(const char *path, brig_policy_tree *ret_tree,
                          brig_policy_merge_problem_cb problem_cb, void *userdata) {
        merger m = {.problem_cb = problem_cb, .userdata = userdata};
        _cleanup_close_ int fd = -1;
        _cleanup_json_ cJSON *root = NULL;
        struct stat st;
        int r;

        assert(path && ret_tree);
        fd = open_policy(path);
        if (fd < 0) {
                problem(&m, NULL, "", 0, 0, "cannot open: %s", strerror(errno));
                return -EINVAL;
        }
        root = read_doc(&m, fd, NULL, &st);
        if (m.oom)
                return -ENOMEM;
        if (!root)
                return -EINVAL;
        /* Problems in the file itself keep file NULL; those of its parents are passed on as they are. */
        r = brig_policy_merge(&root, path, ret_tree, load_problem_cb, &m);
        if (r == -ENOMEM)
                return r;
        return m.n_problems ? -EINVAL : r;
}

/* Whether leaf lies at or below path. */
static bool below(const char *leaf, const char *path) {
        size_t n = strlen(path);
        return n == 0 || (strncmp(leaf, path, n) == 0 && (leaf[n] == 0 || leaf[n] == '.' || leaf[n] == '['));
}

const char *brig_policy_tree_file_at(const brig_policy_tree *t, const char *path) {
        char p[TREE_PATHBUF];

        if (!t || !t->leaves)
                return NULL;
        (void) snprintf(p, sizeof(p), "%s", path);
        for (;;) {
                const char *found = NULL;
                bool mixed = false;
                char *cut;

                for (size_t i = 0; i < t->n_leaves; i++)
                        if (below(t->leaves[i].path, p)) {
                                mixed = mixed || (found && found != t->leaves[i].file);
                                found = t->leaves[i].file;
                        }
                if (found)
                        return mixed ? NULL : found;
                if (!p[0])
                        return NULL;
                /* The parent path: cut the last ".key" or "[...]". */
                cut = strrchr(p, p[strlen(p) - 1] == ']' ? '[' : '.');
                if (!cut)
                        cut = p;
                *cut = 0;
        }
}

void brig_policy_tree_done(brig_policy_tree *t) {
        if (!t)
                return;
        cJSON_Delete(t->root);
        brig_strv_free(t->files);
        for (size_t i = 0; t->leaves && i < t->n_leaves; i++)
                free(t->leaves[i].path);
        free(t->leaves);
        *t = (brig_policy_tree){0};
}
