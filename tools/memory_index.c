/* SPDX-License-Identifier: MIT */
/* The memory's search index: SQLite FTS5 (Debian's libsqlite3, BM25 ranking) over the paragraphs of the
 * current version, the feedback counts, and each file's size (the usage cache). It is derived state in
 * index.sqlite beside the scope's repository: it records the version it reflects, is caught up from there
 * by diffing trees (and reading the feedback of the commits since), and rebuilt from the repository when
 * missing, damaged or not an ancestor. Callers hold the scope's lock, so one writer at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "tools/history_private.h"
#include "tools/memory_private.h"

#define SCHEMA_VERSION "1"
/* A passage's rowid: its file's id shifted left, plus its number within the file. */
#define PASSAGE_BITS 16
#define MAX_PASSAGES ((1 << PASSAGE_BITS) - 1)
#define PASSAGE_LINES 40 /* a paragraph longer than this is cut into passages of this many lines */
#define MAX_TEXT 1000    /* bytes of a passage a search returns */
#define HELPFUL_CAP 4    /* helpful reports beyond this do not raise a file further */

/* One table per concept: the version reflected, the files (their sizes), the passages, the feedback. */
static const char schema[] =
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
        " size INTEGER NOT NULL);"
        "CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(line UNINDEXED, body,"
        " tokenize='porter unicode61');"
        "CREATE TABLE IF NOT EXISTS feedback(path TEXT PRIMARY KEY, helpful INTEGER NOT NULL DEFAULT 0,"
        " wrong INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
        "PRAGMA user_version=1;";

/* The feedback outcomes: their column in the feedback table and flag name. */
static const char *const outcomes[] = {"helpful", "wrong", "stale"};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);

static int db_fail(brig_memory *m, int rc, brig_error *err, const char *what) {
        if (rc == SQLITE_NOMEM)
                return brig_error_oom(err);
        return brig_error_set(err, rc == SQLITE_FULL ? -ENOSPC : -EIO, BRIG_KIND_IO, "%s: %s", what,
                              m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc));
}

static int open_once(brig_memory *m, const char *path) {
        /* SQLite's unix VFS opens its files O_CLOEXEC; NOFOLLOW: the index is never reached through a link.
         */
        int rc = sqlite3_open_v2(path, &m->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                         SQLITE_OPEN_NOFOLLOW,
                                 NULL);

        /* The file may come from elsewhere (an imported scope): no schema-borne SQL runs, and SQL cannot
         * corrupt it on purpose. */
        if (rc == SQLITE_OK)
                rc = sqlite3_db_config(m->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_db_config(m->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        /* The schema (user_version 1) is made once, not parsed again by every call. */
        sqlite3_stmt *s = NULL;
        int version = 0;
        if (rc == SQLITE_OK &&
            (rc = sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &s, NULL)) == SQLITE_OK)
                version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        if (s)
                rc = sqlite3_finalize(s);
        if (rc == SQLITE_OK && version != 1)
                rc = sqlite3_exec(m->db, schema, NULL, NULL, NULL);
        /* Every call opens and closes the index: a rollback journal kept between writes (PERSIST) costs
         * a read nothing, where WAL would create and delete its files each time. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(m->db, "PRAGMA journal_mode=PERSIST; PRAGMA synchronous=NORMAL", NULL,
                                  NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(m->db, 10000);
        return rc;
}

static int open_db(brig_memory *m, brig_error *err) {
        _cleanup_free_ char *path = NULL;
        int rc;

        if (m->db)
                return 0;
        if (asprintf(&path, "%s/" BRIG_MEMORY_INDEX_FILE, m->dir) < 0) {
                path = NULL;
                return brig_error_oom(err);
        }
        rc = open_once(m, path);
        if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
                /* Derived state: a damaged index is thrown away and rebuilt from the repository. */
                brig__memory_index_close(m);
                (void) unlink(path);
                rc = open_once(m, path);
        }
        if (rc != SQLITE_OK) {
                int r = db_fail(m, rc, err, "memory: open the search index");
                brig__memory_index_close(m);
                return r;
        }
        return 0;
}

void brig__memory_index_close(brig_memory *m) {
        (void) sqlite3_close(m->db);
        m->db = NULL;
}

int brig_memory_index_remove(const char *dir, brig_error *err) {
        static const char *const names[] = {BRIG_MEMORY_INDEX_FILE, BRIG_MEMORY_INDEX_FILE "-journal",
                                            BRIG_MEMORY_INDEX_FILE "-wal", BRIG_MEMORY_INDEX_FILE "-shm"};
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "memory: open the store");
        for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
                if (unlinkat(fd, names[i], 0) < 0 && errno != ENOENT)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "memory: remove %s",
                                                    names[i]);
        return 0;
}

static int prepare(brig_memory *m, const char *sql, sqlite3_stmt **ret, brig_error *err) {
        int rc = sqlite3_prepare_v2(m->db, sql, -1, ret, NULL);

        return rc == SQLITE_OK ? 0 : db_fail(m, rc, err, "memory: search index");
}

static int exec(brig_memory *m, const char *sql, brig_error *err) {
        int rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : db_fail(m, rc, err, "memory: search index");
}

/* Runs a prepared statement to its end (a write): 0 or an error. */
static int step_done(brig_memory *m, sqlite3_stmt *s, brig_error *err) {
        int rc = sqlite3_step(s);

        (void) sqlite3_reset(s);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(m, rc, err, "memory: search index");
}

/* The version the index reflects, in buf ("" when none). */
static int recorded(brig_memory *m, char buf[static 41], brig_error *err) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int r, rc;

        buf[0] = 0;
        if ((r = prepare(m, "SELECT key, value FROM meta WHERE key IN ('commit', 'schema')", &s, err)) < 0)
                return r;
        bool schema_ok = false;
        char commit[41] = "";
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *k = (const char *) sqlite3_column_text(s, 0);
                const char *v = (const char *) sqlite3_column_text(s, 1);
                if (k && v && strcmp(k, "schema") == 0)
                        schema_ok = strcmp(v, SCHEMA_VERSION) == 0;
                else if (k && v)
                        (void) snprintf(commit, sizeof(commit), "%s", v);
        }
        if (rc != SQLITE_DONE)
                return db_fail(m, rc, err, "memory: search index");
        if (schema_ok)
                memcpy(buf, commit, sizeof(commit));
        return 0;
}

typedef struct writer {
        brig_memory *m;
        sqlite3_stmt *find, *drop_passages, *drop_file, *add_file, *add_passage, *add_feedback;
        sqlite3_stmt *drop_feedback, *move_feedback; /* a rename's */
} writer;

static void writer_done(writer *w) {
        sqlite3_stmt **all[] = {&w->find,        &w->drop_passages, &w->drop_file,     &w->add_file,
                                &w->add_passage, &w->add_feedback,  &w->drop_feedback, &w->move_feedback};
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                (void) sqlite3_finalize(*all[i]);
                *all[i] = NULL;
        }
}

static int writer_init(writer *w, brig_memory *m, brig_error *err) {
        int r;

        *w = (writer){.m = m};
        if ((r = prepare(m, "SELECT id FROM files WHERE path = ?1", &w->find, err)) < 0 ||
            (r = prepare(m, "DELETE FROM passages WHERE rowid >= ?1 AND rowid < ?2", &w->drop_passages,
                         err)) < 0 ||
            (r = prepare(m, "DELETE FROM files WHERE id = ?1", &w->drop_file, err)) < 0 ||
            (r = prepare(m, "INSERT INTO files(path, size) VALUES (?1, ?2) RETURNING id", &w->add_file,
                         err)) < 0 ||
            (r = prepare(m, "INSERT INTO passages(rowid, line, body) VALUES (?1, ?2, ?3)", &w->add_passage,
                         err)) < 0 ||
            (r = prepare(m,
                         "INSERT INTO feedback(path, helpful, wrong, stale) VALUES (?1, ?2 = 0, ?2 = 1, "
                         "?2 = 2) ON CONFLICT(path) DO UPDATE SET helpful = helpful + (?2 = 0), "
                         "wrong = wrong + (?2 = 1), stale = stale + (?2 = 2)",
                         &w->add_feedback, err)) < 0 ||
            /* A rename's destination did not exist: what feedback it has was about files deleted there
             * before, not about the ones arriving. */
            (r = prepare(
                     m,
                     "DELETE FROM feedback WHERE path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/'",
                     &w->drop_feedback, err)) < 0 ||
            (r = prepare(m,
                         "UPDATE feedback SET path = ?2 || substr(path, length(?1) + 1) "
                         "WHERE path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/'",
                         &w->move_feedback, err)) < 0)
                writer_done(w);
        return r;
}

static int drop(writer *w, const char *path, brig_error *err) {
        int rc, r;

        (void) sqlite3_bind_text(w->find, 1, path, -1, SQLITE_STATIC);
        rc = sqlite3_step(w->find);
        if (rc == SQLITE_ROW) {
                sqlite3_int64 id = sqlite3_column_int64(w->find, 0);
                (void) sqlite3_reset(w->find);
                (void) sqlite3_bind_int64(w->drop_passages, 1, id << PASSAGE_BITS);
                (void) sqlite3_bind_int64(w->drop_passages, 2, (id + 1) << PASSAGE_BITS);
                (void) sqlite3_bind_int64(w->drop_file, 1, id);
                if ((r = step_done(w->m, w->drop_passages, err)) < 0)
                        return r;
                return step_done(w->m, w->drop_file, err);
        }
        (void) sqlite3_reset(w->find);
        return rc == SQLITE_DONE ? 0 : db_fail(w->m, rc, err, "memory: search index");
}

/* Whether line (len bytes) has nothing but blanks: it separates paragraphs. */
static bool blank(const char *line, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
                        return false;
        return true;
}

static int add_passage(writer *w, sqlite3_int64 rowid, size_t line, const char *text, size_t len,
                       brig_error *err) {
        (void) sqlite3_bind_int64(w->add_passage, 1, rowid);
        (void) sqlite3_bind_int64(w->add_passage, 2, (sqlite3_int64) line);
        (void) sqlite3_bind_text(w->add_passage, 3, text, (int) len, SQLITE_STATIC);
        return step_done(w->m, w->add_passage, err);
}

/* Indexes text as the file path: its paragraphs (runs of lines between blank lines, at most PASSAGE_LINES
 * lines each) are the passages. A file with a NUL byte is not text: only its size is kept. */
static int add(writer *w, const char *path, const char *text, size_t len, brig_error *err) {
        sqlite3_int64 id;
        int rc, r;

        (void) sqlite3_bind_text(w->add_file, 1, path, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int64(w->add_file, 2, (sqlite3_int64) len);
        rc = sqlite3_step(w->add_file);
        id = sqlite3_column_int64(w->add_file, 0);
        (void) sqlite3_reset(w->add_file);
        if (rc != SQLITE_ROW)
                return db_fail(w->m, rc, err, "memory: search index");
        if (memchr(text, 0, len))
                return 0;

        size_t start = 0, start_line = 1, line = 1, lines = 0, n = 0;
        for (size_t i = 0; i <= len;) {
                const char *nl = i < len ? memchr(text + i, '\n', len - i) : NULL;
                size_t end = nl ? (size_t) (nl - text) : len;
                bool last = end >= len;
                bool sep = blank(text + i, end - i);
                /* A passage ends at a blank line, at its length bound, or at the end of the file (the
                 * last possible passage takes the rest). */
                if (lines && (sep || lines == PASSAGE_LINES) && n < MAX_PASSAGES - 1) {
                        if ((r = add_passage(w, (id << PASSAGE_BITS) + (sqlite3_int64) n, start_line,
                                             text + start, i - start, err)) < 0)
                                return r;
                        n++;
                        lines = 0;
                }
                if (!sep && !lines) {
                        start = i;
                        start_line = line;
                }
                if (!sep)
                        lines++;
                if (last) {
                        if (lines && (r = add_passage(w, (id << PASSAGE_BITS) + (sqlite3_int64) n,
                                                      start_line, text + start, len - start, err)) < 0)
                                return r;
                        break;
                }
                i = end + 1;
                line++;
        }
        return 0;
}

/* Applies the diff of the trees from and to (from NULL: everything is new). */
static int apply_diff(writer *w, git_tree *from, git_tree *to, brig_error *err) {
        brig_memory *m = w->m;
        _cleanup_(git_diff_freep) git_diff *diff = NULL;
        int r;

        if ((r = git_diff_tree_to_tree(&diff, m->repo, from, to, NULL)) < 0)
                return brig__memory_fail(m, r, err, "memory: index");
        for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
                const git_diff_delta *d = git_diff_get_delta(diff, i);
                if (d->status != GIT_DELTA_ADDED && (r = drop(w, d->old_file.path, err)) < 0)
                        return r;
                if (d->status == GIT_DELTA_DELETED || d->new_file.mode != GIT_FILEMODE_BLOB)
                        continue;
                _cleanup_(git_blob_freep) git_blob *b = NULL;
                if ((r = git_blob_lookup(&b, m->repo, &d->new_file.id)) < 0)
                        return brig__memory_fail(m, r, err, "memory: index");
                if ((r = add(w, d->new_file.path, git_blob_rawcontent(b), (size_t) git_blob_rawsize(b),
                             err)) < 0)
                        return r;
        }
        return 0;
}

static int outcome_index(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(outcomes); i++)
                if (strcmp(name, outcomes[i]) == 0)
                        return (int) i;
        return -1;
}

/* Binds the scope path of a trailer's /memories path as parameter i of s. */
static int bind_path(sqlite3_stmt *s, int i, const char *shown) {
        char path[BRIG_MEMORY_MAX_PATH + 1];
        int r;

        if (!shown || (r = brig_memory_path_parse(shown, "path", path, NULL)) < 0)
                return -EINVAL;
        (void) sqlite3_bind_text(s, i, path, -1, SQLITE_TRANSIENT);
        return 0;
}

/* One commit's part in the feedback table: a feedback counts for its path, a rename takes the feedback
 * about the files it moves along (what its destination had goes: that was about deleted files). */
static int apply_commit(writer *w, git_commit *c, brig_error *err) {
        git_message_trailer_array t = {0};
        const char *outcome = NULL, *shown = NULL, *to = NULL;
        int k, r = 0;

        (void) git_message_trailers(&t, git_commit_message(c));
        for (size_t j = 0; j < t.count; j++)
                if (strcmp(t.trailers[j].key, "Brig-Feedback") == 0)
                        outcome = t.trailers[j].value;
                else if (strcmp(t.trailers[j].key, "Brig-Path") == 0)
                        shown = t.trailers[j].value;
                else if (strcmp(t.trailers[j].key, "Brig-New-Path") == 0)
                        to = t.trailers[j].value;
        /* A malformed trailer (a hand-made or imported commit) is no feedback. */
        if ((k = outcome_index(outcome)) >= 0 && bind_path(w->add_feedback, 1, shown) >= 0) {
                (void) sqlite3_bind_int(w->add_feedback, 2, k);
                r = step_done(w->m, w->add_feedback, err);
        } else if (!outcome && to && bind_path(w->drop_feedback, 1, to) >= 0 &&
                   bind_path(w->move_feedback, 1, shown) >= 0 && bind_path(w->move_feedback, 2, to) >= 0 &&
                   (r = step_done(w->m, w->drop_feedback, err)) >= 0)
                r = step_done(w->m, w->move_feedback, err);
        git_message_trailer_array_free(&t);
        return r;
}

/* Applies the feedback and rename commits reachable from to and not from from (NULL: all of them), oldest
 * first: feedback given before a rename moves with it. */
static int apply_feedback(writer *w, const git_oid *from, const git_oid *to, brig_error *err) {
        brig_memory *m = w->m;
        _cleanup_(git_revwalk_freep) git_revwalk *walk = NULL;
        git_oid id;
        int r;

        if ((r = git_revwalk_new(&walk, m->repo)) < 0 ||
            (r = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) < 0 ||
            (r = git_revwalk_push(walk, to)) < 0 || (from && (r = git_revwalk_hide(walk, from)) < 0))
                return brig__memory_fail(m, r, err, "memory: index");
        while ((r = git_revwalk_next(&id, walk)) == 0) {
                _cleanup_(git_commit_freep) git_commit *c = NULL;

                if ((r = git_commit_lookup(&c, m->repo, &id)) < 0)
                        return brig__memory_fail(m, r, err, "memory: index");
                /* Cheap test first: most commits are changes, not feedback or renames. */
                if (!strstr(git_commit_message(c), "\nBrig-Feedback: ") &&
                    !strstr(git_commit_message(c), "\nBrig-New-Path: "))
                        continue;
                if ((r = apply_commit(w, c, err)) < 0)
                        return r;
        }
        if (r != GIT_ITEROVER)
                return brig__memory_fail(m, r, err, "memory: index");
        git_error_clear();
        return 0;
}

/* Inside a transaction: from the version the index has (NULL: none, rebuild) to head. */
static int catch_up(brig_memory *m, git_commit *old, git_commit *head, git_tree *head_tree,
                    brig_error *err) {
        _cleanup_(git_tree_freep) git_tree *old_tree = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *mark = NULL;
        char id[41] = "";
        writer w;
        int r;

        if (!old && (r = exec(m, "DELETE FROM files; DELETE FROM passages; DELETE FROM feedback;", err)) < 0)
                return r;
        if (old && (r = git_commit_tree(&old_tree, old)) < 0)
                return brig__memory_fail(m, r, err, "memory: index");
        if ((r = writer_init(&w, m, err)) < 0)
                return r;
        if (head && (r = apply_diff(&w, old_tree, head_tree, err)) >= 0)
                r = apply_feedback(&w, old ? git_commit_id(old) : NULL, git_commit_id(head), err);
        writer_done(&w);
        if (r < 0)
                return r;
        if (head)
                (void) git_oid_tostr(id, sizeof(id), git_commit_id(head));
        if ((r = prepare(m,
                         "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', '" SCHEMA_VERSION
                         "'), ('commit', ?1)",
                         &mark, err)) < 0)
                return r;
        (void) sqlite3_bind_text(mark, 1, id, -1, SQLITE_STATIC);
        return step_done(m, mark, err);
}

/* The commit the index records, when it is still usable as a base: it exists and head descends from it. */
static int usable_base(brig_memory *m, const char *rec, git_commit *head, git_commit **ret) {
        git_oid id;

        *ret = NULL;
        if (!*rec || !head || git_oid_fromstr(&id, rec) < 0 || git_commit_lookup(ret, m->repo, &id) < 0 ||
            (!git_oid_equal(&id, git_commit_id(head)) &&
             git_graph_descendant_of(m->repo, git_commit_id(head), &id) != 1)) {
                git_commit_free(*ret);
                *ret = NULL;
                git_error_clear();
        }
        return 0;
}

int brig__memory_index_sync(brig_memory *m, brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *head = NULL, *old = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        char rec[41], now[41] = "";
        int r;

        if ((r = open_db(m, err)) < 0 || (r = brig__memory_head(m, &head, &tree, err)) < 0 ||
            (r = recorded(m, rec, err)) < 0)
                return r;
        if (head)
                (void) git_oid_tostr(now, sizeof(now), git_commit_id(head));
        if (*rec && strcmp(rec, now) == 0)
                return 0;
        (void) usable_base(m, rec, head, &old);
        if ((r = exec(m, "BEGIN IMMEDIATE", err)) < 0)
                return r;
        if ((r = catch_up(m, old, head, tree, err)) < 0) {
                (void) sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        return exec(m, "COMMIT", err);
}

bool brig__memory_index_usage(brig_memory *m, const git_oid *at, uint64_t *ret_bytes, uint64_t *ret_files) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        char rec[41], want[41];

        if (open_db(m, NULL) < 0 || recorded(m, rec, NULL) < 0)
                return false;
        (void) git_oid_tostr(want, sizeof(want), at);
        if (strcmp(rec, want) != 0 ||
            prepare(m, "SELECT count(*), coalesce(sum(size), 0) FROM files", &s, NULL) < 0 ||
            sqlite3_step(s) != SQLITE_ROW)
                return false;
        *ret_files = (uint64_t) sqlite3_column_int64(s, 0);
        *ret_bytes = (uint64_t) sqlite3_column_int64(s, 1);
        return true;
}

/* query as an FTS5 expression any text makes valid: each word a quoted string ("" for a quote in it),
 * the words joined by OR. */
static int fts_query(const char *query, char **ret, size_t *ret_terms, brig_error *err) {
        _cleanup_free_ char *q = NULL;
        size_t size = 0, terms = 0;
        FILE *f = open_memstream(&q, &size);

        if (!f)
                return brig_error_oom(err);
        for (const char *c = query; *c;) {
                size_t n = strcspn(c, " \t\r\n\f\v");
                if (n) {
                        (void) fputs(terms ? " OR \"" : "\"", f);
                        for (size_t i = 0; i < n; i++)
                                (void) (c[i] == '"' ? fputs("\"\"", f) : fputc(c[i], f));
                        (void) fputc('"', f);
                        terms++;
                }
                c += n;
                c += strspn(c, " \t\r\n\f\v");
        }
        if (fclose(f) != 0)
                return brig_error_oom(err);
        if (!terms)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.query: give at least one word");
        if (terms > BRIG_MEMORY_MAX_TERMS)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.query: more than %u words", BRIG_MEMORY_MAX_TERMS);
        *ret = TAKE_PTR(q);
        *ret_terms = terms;
        return 0;
}

bool brig_memory_add_flags(cJSON *o, const brig_memory_feedback_counts *c) {
        cJSON *flags, *fb;

        if (!c->helpful && !c->wrong && !c->stale)
                return true;
        if (!(fb = cJSON_AddObjectToObject(o, "feedback")) ||
            !cJSON_AddNumberToObject(fb, "helpful", c->helpful) ||
            !cJSON_AddNumberToObject(fb, "wrong", c->wrong) ||
            !cJSON_AddNumberToObject(fb, "stale", c->stale))
                return false;
        if (!c->wrong && !c->stale)
                return true;
        if (!(flags = cJSON_AddArrayToObject(o, "flags")))
                return false;
        if (c->wrong && !cJSON_AddItemToArray(flags, cJSON_CreateString("wrong")))
                return false;
        return !c->stale || cJSON_AddItemToArray(flags, cJSON_CreateString("stale"));
}

int brig_memory_search(brig_memory *m, const char *query, unsigned limit, cJSON **ret, brig_error *err) {
        /* BM25 is negative, better matches more so: helpful feedback multiplies it, wrong and stale divide
         * it, and a wrong report weighs twice a stale one. */
        static const char sql[] =
                "SELECT f.path, p.line, p.body, bm25(passages) * (1.0 + 0.5 * min(coalesce(b.helpful, 0), "
                "?3)) / (1.0 + 2.0 * coalesce(b.wrong, 0) + coalesce(b.stale, 0)) AS score, "
                "coalesce(b.helpful, 0), coalesce(b.wrong, 0), coalesce(b.stale, 0) "
                "FROM passages AS p CROSS JOIN files AS f ON f.id = (p.rowid >> ?4) "
                "LEFT JOIN feedback AS b ON b.path = f.path "
                "WHERE passages MATCH ?1 ORDER BY score LIMIT ?2";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_json_ cJSON *list = cJSON_CreateArray();
        _cleanup_free_ char *q = NULL;
        size_t terms;
        int r, rc;

        if (!list)
                return brig_error_oom(err);
        if (strlen(query) > BRIG_MEMORY_MAX_QUERY)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.query: longer than %u bytes", BRIG_MEMORY_MAX_QUERY);
        if (limit < 1 || limit > BRIG_MEMORY_MAX_RESULTS)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.limit: expected 1 to %u", BRIG_MEMORY_MAX_RESULTS);
        if ((r = fts_query(query, &q, &terms, err)) < 0 || (r = brig__memory_index_sync(m, err)) < 0 ||
            (r = prepare(m, sql, &s, err)) < 0)
                return r;
        (void) sqlite3_bind_text(s, 1, q, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int(s, 2, (int) limit);
        (void) sqlite3_bind_int(s, 3, HELPFUL_CAP);
        (void) sqlite3_bind_int(s, 4, PASSAGE_BITS);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *text = (const char *) sqlite3_column_text(s, 2);
                size_t tl = text ? strlen(text) : 0;
                brig_memory_feedback_counts c = {(unsigned) sqlite3_column_int(s, 4),
                                                 (unsigned) sqlite3_column_int(s, 5),
                                                 (unsigned) sqlite3_column_int(s, 6)};
                char cut[MAX_TEXT + 1];
                cJSON *o = cJSON_CreateObject();

                /* Cut at a UTF-8 character boundary. */
                if (tl > MAX_TEXT) {
                        tl = MAX_TEXT;
                        while (tl && ((unsigned char) text[tl] & 0xc0) == 0x80)
                                tl--;
                }
                (void) snprintf(cut, sizeof(cut), "%.*s", (int) tl, text ? text : "");
                if (!o || !cJSON_AddItemToArray(list, o) ||
                    !cJSON_AddStringToObject(o, "path", (const char *) sqlite3_column_text(s, 0)) ||
                    !cJSON_AddNumberToObject(o, "line", sqlite3_column_int(s, 1)) ||
                    !cJSON_AddStringToObject(o, "text", cut) ||
                    !cJSON_AddNumberToObject(o, "score", -sqlite3_column_double(s, 3)) ||
                    !brig_memory_add_flags(o, &c))
                        return brig_error_oom(err);
        }
        if (rc != SQLITE_DONE)
                return db_fail(m, rc, err, "memory: search");
        *ret = TAKE_PTR(list);
        return 0;
}

int brig_memory_feedback_of(brig_memory *m, const char *path, brig_memory_feedback_counts *ret,
                            brig_error *err) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int r, rc;

        *ret = (brig_memory_feedback_counts){0};
        if ((r = brig__memory_index_sync(m, err)) < 0 ||
            (r = prepare(m, "SELECT helpful, wrong, stale FROM feedback WHERE path = ?1", &s, err)) < 0)
                return r;
        (void) sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(s)) == SQLITE_ROW)
                *ret = (brig_memory_feedback_counts){(unsigned) sqlite3_column_int(s, 0),
                                                     (unsigned) sqlite3_column_int(s, 1),
                                                     (unsigned) sqlite3_column_int(s, 2)};
        else if (rc != SQLITE_DONE)
                return db_fail(m, rc, err, "memory: feedback");
        return 0;
}

int brig_memory_feedback(brig_memory *m, const char *path, const brig_memory_author *who, char ret_id[41],
                         brig_error *err) {
        _cleanup_(git_commit_freep) git_commit *parent = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        int r;

        if (outcome_index(who->feedback) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.outcome: expected helpful, wrong or stale");
        if ((r = brig_memory_kind(m, path, err)) < 0)
                return r;
        if (r != 1)
                return brig_error_set(err, r ? -EISDIR : -ENOENT,
                                      r ? BRIG_KIND_INVALID_ARGUMENT : BRIG_KIND_NOT_FOUND,
                                      r ? "feedback is about a file, not a directory" : "no such memory");
        if ((r = brig__memory_head(m, &parent, &tree, err)) < 0)
                return r;
        /* The same tree: a version that changes no file and carries the feedback in its trailers. */
        return brig__memory_commit_tree(m, parent, git_tree_id(tree), who, ret_id, err);
}
