/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/audit.c: line format, the SHA-256 chain recomputed independently, resuming after a
 * restart, refusing a damaged log, tamper detection, argument elision and the log file's mode and flags;
 * and for worker/audit_events.c: its table of event types against docs/protocol.md, and every constructor
 * against the table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/text.h"
#include "sandbox/seccomp_notify.h"
#include "worker/audit.h"
#include "worker/audit_events.h"

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
#define MAX_LINES 64

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_audit *, brig_audit_free);

static char tmpdir[] = "/tmp/brig-test-audit.XXXXXX";

static int setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        DIR *d = opendir(tmpdir);
        struct dirent *de;
        char p[PATH_MAX];

        (void) state;
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        (void) snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
                        (void) unlink(p);
                }
        (void) closedir(d);
        return rmdir(tmpdir);
}

static char *path_of(const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        (void) unlink(p);
        return p;
}

typedef struct lines {
        char *v[MAX_LINES];
        size_t n;
} lines;

static void lines_done(lines *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        l->n = 0;
}

/* Reads the whole file; every line must end in '\n'. */
static void read_lines(const char *path, lines *l) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        assert_non_null(f);
        l->n = 0;
        while ((n = getline(&line, &cap, f)) > 0) {
                assert_true(l->n < MAX_LINES);
                assert_int_equal(line[n - 1], '\n');
                line[n - 1] = 0;
                l->v[l->n++] = strdup(line);
                assert_non_null(l->v[l->n - 1]);
        }
        free(line);
}

static void write_file(const char *path, const char *data) {
        size_t len = strlen(data);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

static void append_file(const char *path, const char *data) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, strlen(data)), (ssize_t) strlen(data));
        assert_int_equal(close(fd), 0);
}

/* The line as hashed: `,"hash":"<hex>"` removed, the closing brace kept. NULL when the line does not end
 * that way. */
static char *strip_hash(const char *line, char hash[65]) {
        static const char key[] = ",\"hash\":\"";
        const char *last = NULL;
        size_t len = strlen(line);
        char *out;

        for (const char *p = line; (p = strstr(p, key)); p++)
                last = p;
        if (!last || (size_t) (line + len - last) != strlen(key) + 64 + 2 ||
            strcmp(last + strlen(key) + 64, "\"}") != 0)
                return NULL;
        memcpy(hash, last + strlen(key), 64);
        hash[64] = 0;
        out = malloc(len);
        assert_non_null(out);
        memcpy(out, line, (size_t) (last - line));
        strcpy(out + (last - line), "}");
        return out;
}

/* An independent verifier: returns the index of the first line that breaks the chain, or -1. */
static ssize_t verify(const lines *l) {
        char prev[65] = GENESIS;

        for (size_t i = 0; i < l->n; i++) {
                _cleanup_json_ cJSON *o = cJSON_Parse(l->v[i]);
                char hash[65], want[65];
                _cleanup_free_ char *body = strip_hash(l->v[i], hash);
                const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
                const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prev");
                const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hash");
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");

                if (!o || !body || !cJSON_IsNumber(seq) || seq->valuedouble != (double) i ||
                    !cJSON_IsNumber(v) || v->valueint != 1 || !cJSON_IsString(p) ||
                    strcmp(p->valuestring, prev) != 0 || !cJSON_IsString(h) ||
                    strcmp(h->valuestring, hash) != 0)
                        return (ssize_t) i;
                assert_int_equal(brig_audit_line_hash(prev, body, want), 0);
                if (strcmp(want, hash) != 0)
                        return (ssize_t) i;
                memcpy(prev, hash, sizeof(prev));
        }
        return -1;
}

static brig_audit *open_ok(const char *path) {
        brig_error err = BRIG_ERROR_INIT;
        brig_audit *a = NULL;
        int r = brig_audit_open(path, &a, &err);

        if (r < 0)
                print_error("open: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(a);
        return a;
}

static void emit_ok(brig_audit *a, const char *type, const char *note) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *ev = brig_audit_event(type);

        assert_non_null(ev);
        if (note)
                assert_non_null(cJSON_AddStringToObject(ev, "note", note));
        assert_non_null(cJSON_AddNumberToObject(ev, "n", 7));
        assert_int_equal(brig_audit_emit(a, ev, &err), 0);
}

static void test_audit__lines_are_versioned_and_chained(void **state) {
        _cleanup_free_ char *path = path_of("chain.log");
        static const char *const types[] = {"connection_open", "call_start", "call_end"};
        lines l = {0};

        (void) state;
        brig_audit *a = open_ok(path);
        emit_ok(a, types[0], NULL);
        /* A value that looks like the hash member must not confuse the format. */
        emit_ok(a, types[1], ",\"hash\":\"" GENESIS "\"}");
        emit_ok(a, types[2], "caf\xc3\xa9");
        brig_audit_free(a);

        read_lines(path, &l);
        assert_int_equal(l.n, 3);
        char prev[65] = GENESIS;
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_json_ cJSON *o = cJSON_Parse(l.v[i]);
                char expect_prefix[64], hash[65], want[65];
                _cleanup_free_ char *body = strip_hash(l.v[i], hash);

                assert_non_null(o);
                assert_non_null(body);
                /* Fixed members first, in a fixed order. */
                (void) snprintf(expect_prefix, sizeof(expect_prefix), "{\"version\":1,\"seq\":%zu,\"ts\":\"",
                                i);
                assert_true(strncmp(l.v[i], expect_prefix, strlen(expect_prefix)) == 0);
                assert_int_equal(cJSON_GetObjectItem(o, "version")->valueint, BRIG_AUDIT_VERSION);
                assert_int_equal(cJSON_GetObjectItem(o, "seq")->valueint, i);
                const char *ts = cJSON_GetObjectItem(o, "ts")->valuestring;
                /* 2024-01-02T03:04:05.123456Z */
                assert_int_equal(strlen(ts), 27);
                assert_int_equal(ts[10], 'T');
                assert_int_equal(ts[19], '.');
                assert_int_equal(ts[26], 'Z');
                assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring, types[i]);
                assert_int_equal(cJSON_GetObjectItem(o, "n")->valueint, 7);
                const char *p = cJSON_GetObjectItem(o, "prev")->valuestring;
                const char *h = cJSON_GetObjectItem(o, "hash")->valuestring;
                assert_string_equal(p, prev);
                assert_true(brig_audit_is_hash(h));
                assert_string_equal(h, hash);
                /* hash = SHA-256(prev "\n" line-without-hash). */
                assert_int_equal(brig_audit_line_hash(prev, body, want), 0);
                assert_string_equal(want, h);
                memcpy(prev, h, sizeof(prev));
        }
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

static void test_audit__line_hash_is_sha256_of_prev_newline_line(void **state) {
        char out[65];

        (void) state;
        /* printf 'abc\n{}' | sha256sum */
        assert_int_equal(brig_audit_line_hash("abc", "{}", out), 0);
        assert_string_equal(out, "b4157e40dd21db67528800eb46fe6641eaa5e321734b6890e43e9ce6ed37d91b");
}

static void test_audit__reopen_continues_chain(void **state) {
        _cleanup_free_ char *path = path_of("resume.log");
        lines l = {0};

        (void) state;
        brig_audit *a = open_ok(path);
        emit_ok(a, "one", NULL);
        emit_ok(a, "two", NULL);
        brig_audit_free(a);
        a = open_ok(path);
        emit_ok(a, "three", NULL);
        brig_audit_free(a);
        a = open_ok(path);
        emit_ok(a, "four", NULL);
        emit_ok(a, "five", NULL);
        brig_audit_free(a);

        read_lines(path, &l);
        assert_int_equal(l.n, 5);
        assert_int_equal(verify(&l), -1);
        _cleanup_json_ cJSON *last = cJSON_Parse(l.v[4]);
        assert_int_equal(cJSON_GetObjectItem(last, "seq")->valueint, 4);
        assert_string_equal(cJSON_GetObjectItem(last, "type")->valuestring, "five");
        lines_done(&l);
}

static void test_audit__empty_file_starts_at_genesis(void **state) {
        _cleanup_free_ char *path = path_of("empty.log");
        lines l = {0};

        (void) state;
        write_file(path, "");
        brig_audit *a = open_ok(path);
        emit_ok(a, "x", NULL);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

static void open_fails(const char *path, int want) {
        brig_error err = BRIG_ERROR_INIT;
        brig_audit *a = NULL;

        assert_int_equal(brig_audit_open(path, &a, &err), want);
        assert_null(a);
        assert_int_equal(err.code, want);
        assert_int_not_equal(err.msg[0], 0);
}

static void test_audit__refuses_log_with_garbage_last_line(void **state) {
        _cleanup_free_ char *path = path_of("garbage.log");

        (void) state;
        brig_audit *a = open_ok(path);
        emit_ok(a, "x", NULL);
        brig_audit_free(a);

        append_file(path, "garbage\n");
        open_fails(path, -EBADMSG);

        /* A torn write: half a line without its newline. */
        write_file(path, "");
        a = open_ok(path);
        emit_ok(a, "x", NULL);
        brig_audit_free(a);
        append_file(path, "{\"version\":1,\"seq\":1,\"ts\":\"");
        open_fails(path, -EBADMSG);

        /* JSON, but not one of ours. */
        write_file(path, "{\"a\":1}\n");
        open_fails(path, -EBADMSG);
        write_file(path, "{\"seq\":1,\"hash\":\"short\"}\n");
        open_fails(path, -EBADMSG);
        /* Nothing but newlines. */
        write_file(path, "\n\n");
        open_fails(path, -EBADMSG);
}

/* The checkpoint round-trips, a file that is not one is refused, and brigd will not extend a log that ends
 * before the record its checkpoint names, nor one whose last record is another. */
static void test_audit__checkpoint_pins_the_end(void **state) {
        _cleanup_free_ char *path = path_of("ckpt.log"), *ckpt = brig_audit_checkpoint_path(path);
        brig_error err = BRIG_ERROR_INIT;
        brig_audit_mark m, back;

        (void) state;
        brig_audit *a = open_ok(path);
        assert_false(brig_audit_mark_now(a, &m));
        emit_ok(a, "one", NULL);
        emit_ok(a, "two", NULL);
        assert_true(brig_audit_mark_now(a, &m));
        assert_int_equal(m.seq, 1);
        assert_int_equal(brig_audit_sync(a, &err), 0);
        assert_string_equal(brig_audit_checkpoint_file(a), ckpt);
        assert_int_equal(brig_audit_checkpoint_write(ckpt, &m, &err), 0);
        brig_audit_free(a);
        assert_int_equal(brig_audit_checkpoint_read(ckpt, &back, &err), 0);
        assert_int_equal(back.seq, 1);
        assert_string_equal(back.hash, m.hash);
        assert_string_equal(back.ts, m.ts);
        brig_audit_free(open_ok(path));

        /* The last record cut off. */
        lines l = {0};
        read_lines(path, &l);
        assert_int_equal(l.n, 2);
        write_file(path, l.v[0]);
        append_file(path, "\n");
        open_fails(path, -EBADMSG);
        /* ... and replaced by another record of the same seq. */
        _cleanup_free_ char *other = path_of("other.log");
        a = open_ok(other);
        emit_ok(a, "uno", NULL);
        emit_ok(a, "dos", NULL);
        brig_audit_free(a);
        lines o = {0};
        read_lines(other, &o);
        write_file(path, o.v[0]);
        append_file(path, "\n");
        append_file(path, o.v[1]);
        append_file(path, "\n");
        open_fails(path, -EBADMSG);
        lines_done(&o);
        lines_done(&l);

        write_file(ckpt, "{\"seq\":1}");
        assert_int_equal(brig_audit_checkpoint_read(ckpt, &back, &err), -EBADMSG);
        assert_int_equal(unlink(ckpt), 0);
        assert_int_equal(brig_audit_checkpoint_read(ckpt, &back, &err), -ENOENT);
}

static void test_audit__refuses_symlink(void **state) {
        _cleanup_free_ char *path = path_of("link.log");
        _cleanup_free_ char *target = path_of("target.log");

        (void) state;
        write_file(target, "");
        assert_int_equal(symlink(target, path), 0);
        open_fails(path, -ELOOP);
}

static void test_audit__tampering_breaks_verification(void **state) {
        _cleanup_free_ char *path = path_of("tamper.log");
        lines l = {0};
        char *s;

        (void) state;
        brig_audit *a = open_ok(path);
        emit_ok(a, "aaaa", NULL);
        emit_ok(a, "bbbb", NULL);
        emit_ok(a, "cccc", NULL);
        emit_ok(a, "dddd", NULL);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 4);
        assert_int_equal(verify(&l), -1);

        /* Edit a value in line 1. */
        s = strstr(l.v[1], "bbbb");
        assert_non_null(s);
        s[0] = 'x';
        assert_int_equal(verify(&l), 1);
        s[0] = 'b';
        assert_int_equal(verify(&l), -1);

        /* Re-hash the edited line: the next line's prev no longer matches. */
        {
                char hash[65], fresh[65];
                s = strstr(l.v[1], "bbbb");
                s[0] = 'x';
                _cleanup_free_ char *body = strip_hash(l.v[1], hash);
                _cleanup_json_ cJSON *o0 = cJSON_Parse(l.v[0]);
                assert_int_equal(
                        brig_audit_line_hash(cJSON_GetObjectItem(o0, "hash")->valuestring, body, fresh), 0);
                memcpy(strstr(l.v[1], hash), fresh, 64);
                assert_int_equal(verify(&l), 2);
        }
        lines_done(&l);

        /* Drop a line. */
        read_lines(path, &l);
        free(l.v[2]);
        l.v[2] = l.v[3];
        l.n = 3;
        assert_int_equal(verify(&l), 2);
        lines_done(&l);

        /* Swap two lines. */
        read_lines(path, &l);
        s = l.v[1];
        l.v[1] = l.v[2];
        l.v[2] = s;
        assert_int_equal(verify(&l), 1);
        lines_done(&l);
}

static void test_audit__reopens_after_a_long_last_line(void **state) {
        _cleanup_free_ char *path = path_of("long.log");
        _cleanup_free_ char *big = malloc(1001);
        brig_error err = BRIG_ERROR_INIT;
        lines l = {0};

        (void) state;
        assert_non_null(big);
        memset(big, 'x', 1000);
        big[1000] = 0;
        brig_audit *a = open_ok(path);
        cJSON *ev = brig_audit_event("call_start");
        cJSON *args = cJSON_AddArrayToObject(ev, "argv");
        for (int i = 0; i < 100; i++)
                assert_true(cJSON_AddItemToArray(args, cJSON_CreateString(big)));
        assert_int_equal(brig_audit_emit(a, ev, &err), 0);
        brig_audit_free(a);

        a = open_ok(path);
        emit_ok(a, "after", NULL);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

/* A full filesystem (a real 8 KiB tmpfs, root only): appends fail whole, with the reason, the log stays
 * verifiable line by line across the failures, and appending works again once there is space. */
static void test_audit__full_disk_appends_whole_records_or_none(void **state) {
        _cleanup_free_ char *mnt = path_of("full"), *path = NULL, *filler = NULL;
        char note[300];
        brig_error err = BRIG_ERROR_INIT;
        lines l = {0};
        size_t ok = 0;
        int r = 0;

        (void) state;
        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "# SKIP: a small tmpfs needs root (and a mount namespace)\n");
                skip();
        }
        assert_int_equal(mkdir(mnt, 0700), 0);
        assert_int_equal(mount("brig-audit-full", mnt, "tmpfs", 0, "size=8k"), 0);
        assert_true(asprintf(&path, "%s/audit.log", mnt) > 0 && asprintf(&filler, "%s/filler", mnt) > 0);
        /* One page kept back, to give space back at the end. */
        write_file(filler, "x");
        memset(note, 'n', sizeof(note) - 1);
        note[sizeof(note) - 1] = 0;
        brig_audit *a = open_ok(path);
        while (ok < MAX_LINES - 2) {
                cJSON *ev = brig_audit_event("call_start");
                assert_non_null(ev);
                assert_non_null(cJSON_AddStringToObject(ev, "note", note));
                if ((r = brig_audit_emit(a, ev, &err)) < 0)
                        break;
                ok++;
        }
        assert_true(r < 0);
        /* A few more attempts, all refused, none leaving a fragment behind. */
        for (int i = 0; i < 3; i++) {
                cJSON *ev = brig_audit_event("call_start");
                assert_non_null(cJSON_AddStringToObject(ev, "note", note));
                assert_true(brig_audit_emit(a, ev, NULL) < 0);
        }
        read_lines(path, &l);
        assert_int_equal(l.n, ok);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
        /* The refusal says why. */
        assert_int_equal(r, -ENOSPC);
        assert_non_null(strstr(err.msg, "No space left on device"));

        assert_int_equal(unlink(filler), 0);
        emit_ok(a, "after", "space returned");
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, ok + 1);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
        assert_int_equal(umount2(mnt, MNT_DETACH), 0);
        assert_int_equal(rmdir(mnt), 0);
}

/* Whatever an event carries, the log stays valid UTF-8: bad bytes in strings and keys become U+FFFD. */
static void test_audit__log_stays_valid_utf8(void **state) {
        _cleanup_free_ char *path = path_of("utf8.log");
        brig_error err = BRIG_ERROR_INIT;
        lines l = {0};

        (void) state;
        brig_audit *a = open_ok(path);
        cJSON *ev = brig_audit_event("net_connect");
        assert_non_null(cJSON_AddStringToObject(ev, "host",
                                                "a\xff\xc0\xaf"
                                                "b.example"));
        cJSON *nested = cJSON_AddObjectToObject(ev, "args");
        assert_non_null(cJSON_AddStringToObject(nested, "k\xfe", "\xe2\x82\xac ok"));
        assert_int_equal(brig_audit_emit(a, ev, &err), 0);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 1);
        assert_true(brig_utf8_valid(l.v[0], strlen(l.v[0])));
        assert_non_null(strstr(l.v[0], "\"host\":\"a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                       "b.example\""));
        assert_non_null(strstr(l.v[0], "{\"k\xef\xbf\xbd\":\"\xe2\x82\xac ok\"}"));
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

/* Each record is exactly what cJSON prints for it (the log is printed without cJSON's printer, which is
 * slower): numbers of every kind, escapes, nesting. */
static void test_audit__records_print_as_cjson(void **state) {
        _cleanup_free_ char *path = path_of("print.log");
        brig_error err = BRIG_ERROR_INIT;
        lines l = {0};

        (void) state;
        brig_audit *a = open_ok(path);
        cJSON *ev = brig_audit_event("call_end");
        assert_non_null(ev);
        cJSON_AddNumberToObject(ev, "bytes", 1024);
        cJSON_AddNumberToObject(ev, "negative", -7);
        cJSON_AddNumberToObject(ev, "large", 12345678901234.0);
        cJSON_AddNumberToObject(ev, "huge", 1e20);
        cJSON_AddNumberToObject(ev, "duration_ms", 0.125);
        cJSON_AddNumberToObject(ev, "minus_zero", -0.0);
        cJSON_AddStringToObject(ev, "text", "tab\t quote\" back\\ nl\n ctl\x01 caf\xc3\xa9");
        cJSON_AddNullToObject(ev, "none");
        cJSON_AddTrueToObject(ev, "yes");
        cJSON *arr = cJSON_AddArrayToObject(ev, "argv");
        cJSON_AddItemToArray(arr, cJSON_CreateString("sh"));
        cJSON_AddItemToArray(arr, cJSON_CreateObject());
        assert_int_equal(brig_audit_emit(a, ev, &err), 0);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 1);
        _cleanup_json_ cJSON *o = cJSON_Parse(l.v[0]);
        _cleanup_free_ char *again = cJSON_PrintUnformatted(o);
        assert_non_null(again);
        assert_string_equal(l.v[0], again);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

static void test_audit__emit_consumes_null_event(void **state) {
        _cleanup_free_ char *path = path_of("null.log");
        brig_error err = BRIG_ERROR_INIT;
        lines l = {0};

        (void) state;
        brig_audit *a = open_ok(path);
        assert_int_equal(brig_audit_emit(a, NULL, &err), -ENOMEM);
        /* A failed emit does not advance the chain. */
        emit_ok(a, "x", NULL);
        brig_audit_free(a);
        read_lines(path, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(verify(&l), -1);
        lines_done(&l);
}

static void test_audit__log_is_0600_and_close_on_exec(void **state) {
        _cleanup_free_ char *path = path_of("mode.log");
        char lnk[PATH_MAX], fdpath[64], target[PATH_MAX];
        struct stat st;
        int found = -1;
        mode_t old = umask(0); /* the mode must come from the code, not from the umask */

        (void) state;
        _cleanup_(brig_audit_freep) brig_audit *a = open_ok(path);
        (void) umask(old);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* Find the log's descriptor through /proc and read its open flags. */
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        if (!d)
                skip();
        assert_non_null(realpath(path, target));
        while ((de = readdir(d))) {
                (void) snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%s", de->d_name);
                ssize_t n = readlink(fdpath, lnk, sizeof(lnk) - 1);
                if (n <= 0)
                        continue;
                lnk[n] = 0;
                if (strcmp(lnk, target) == 0)
                        assert_int_equal(brig_parse_int(de->d_name, &found), 0);
        }
        (void) closedir(d);
        assert_true(found >= 0);

        (void) snprintf(fdpath, sizeof(fdpath), "/proc/self/fdinfo/%d", found);
        _cleanup_fclose_ FILE *f = fopen(fdpath, "re");
        char line[256];
        unsigned long flags = 0;
        bool have = false;
        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "flags: %lo", &flags) == 1)
                        have = true;
        assert_true(have);
        assert_true(flags & O_CLOEXEC);
        assert_true(flags & O_APPEND);

        /* Freeing closes it. */
        brig_audit_free(TAKE_PTR(a));
        (void) snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", found);
        ssize_t n = readlink(fdpath, lnk, sizeof(lnk) - 1);
        if (n > 0) {
                lnk[n] = 0;
                assert_string_not_equal(lnk, target);
        }
}

static char *print(const cJSON *o) {
        char *s = cJSON_PrintUnformatted(o);
        assert_non_null(s);
        return s;
}

static void test_audit__elide_cuts_long_strings_keeps_structure(void **state) {
        _cleanup_free_ char *src = NULL, *got = NULL;
        _cleanup_json_ cJSON *in = NULL, *out = NULL;

        (void) state;
        src = strdup(
                "{\"command\":\"abcdefghij\",\"short\":\"abcd\",\"n\":12345678901,\"t\":true,\"z\":null,"
                "\"argv\":[\"0123456789\",\"ok\",{\"deep\":[\"xxxxxxxxxx\"]}],\"e\":{},\"a\":[]}");
        assert_non_null(src);
        in = cJSON_Parse(src);
        assert_non_null(in);
        out = brig_audit_elide(in, 4);
        assert_non_null(out);
        got = print(out);
        assert_string_equal(
                got, "{\"command\":\"abcd...<elided, 10 bytes>\",\"short\":\"abcd\",\"n\":12345678901,"
                     "\"t\":true,\"z\":null,\"argv\":[\"0123...<elided, 10 bytes>\",\"ok\","
                     "{\"deep\":[\"xxxx...<elided, 10 bytes>\"]}],\"e\":{},\"a\":[]}");
        /* The input is left alone. */
        free(got);
        got = print(in);
        assert_string_equal(got, src);
}

static void test_audit__elide_cuts_on_utf8_boundary(void **state) {
        /* 1 + 2 + 3 + 4 byte characters, twice. */
        static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                                "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
        const size_t len = strlen(s);

        (void) state;
        for (size_t max = 0; max <= len; max++) {
                _cleanup_json_ cJSON *in = cJSON_CreateString(s);
                _cleanup_json_ cJSON *out = brig_audit_elide(in, max);
                char marker[64];

                assert_non_null(out);
                assert_true(cJSON_IsString(out));
                const char *v = out->valuestring;
                if (max == len) {
                        assert_string_equal(v, s);
                        continue;
                }
                (void) snprintf(marker, sizeof(marker), "...<elided, %zu bytes>", len);
                size_t vlen = strlen(v), mlen = strlen(marker);
                assert_true(vlen >= mlen);
                assert_string_equal(v + vlen - mlen, marker);
                size_t kept = vlen - mlen;
                assert_true(kept <= max);
                /* As much as fits on a character boundary, and a prefix of the original. */
                assert_true(max - kept <= 3);
                assert_memory_equal(v, s, kept);
                assert_true(brig_utf8_valid(v, vlen));
                assert_int_equal(brig_utf8_incomplete_tail(v, kept), 0);
        }
}

static void test_audit__elide_content_keeps_only_sizes(void **state) {
        static const char *const content[] = {"file_text", "new_str", NULL};
        (void) state;
        cJSON *args = cJSON_Parse("{\"command\":\"create\",\"path\":\"/memories/a\",\"file_text\":\"secret "
                                  "text\",\"new_str\":\"\",\"insert_line\":3}");
        cJSON *out = brig_audit_elide_content(args, 1024, content);
        _cleanup_free_ char *text = print(out);
        assert_string_equal(text,
                            "{\"command\":\"create\",\"path\":\"/memories/a\",\"file_text\":\"<elided, 11 "
                            "bytes>\",\"new_str\":\"<elided, 0 bytes>\",\"insert_line\":3}");
        cJSON_Delete(out);
        out = brig_audit_elide_content(args, 1024, NULL);
        free(text);
        text = print(out);
        assert_non_null(strstr(text, "secret text"));
        cJSON_Delete(out);
        cJSON_Delete(args);
}

static void test_audit__elide_limits_depth_and_accepts_null(void **state) {
        _cleanup_json_ cJSON *null_out = brig_audit_elide(NULL, 10);
        _cleanup_json_ cJSON *root = cJSON_CreateArray(), *out = NULL;
        _cleanup_free_ char *text = NULL;
        cJSON *cur = root;

        (void) state;
        assert_true(cJSON_IsNull(null_out));
        for (int i = 0; i < 100; i++) {
                cJSON *next = cJSON_CreateArray();
                assert_true(cJSON_AddItemToArray(cur, next));
                cur = next;
        }
        out = brig_audit_elide(root, 10);
        assert_non_null(out);
        text = print(out);
        assert_non_null(strstr(text, "<elided: nested too deep>"));
        assert_true(strlen(text) < 200);
}

static const brig_audit_type_info *type_named(const char *name, size_t len) {
        for (size_t t = 0; t < _BRIG_AUDIT_TYPE_MAX; t++)
                if (strlen(brig_audit_types[t].name) == len &&
                    strncmp(brig_audit_types[t].name, name, len) == 0)
                        return &brig_audit_types[t];
        return NULL;
}

static bool has_field(const brig_audit_type_info *t, const char *name, size_t len) {
        for (const char *const *f = t->fields; *f; f++)
                if (strlen(*f) == len && strncmp(*f, name, len) == 0)
                        return true;
        return false;
}

/* docs/protocol.md lists the event types in one sentence, from "Event types so far:" to "The list of
 * types": `name` at the top level is a type, `member` in parentheses one of its members (a group such as
 * "these four with ..." names the members of the last type, which shares its row's members). Each documented
 * type and member must be in the table, and each type of the table documented. */
static void test_audit__event_types_match_protocol_doc(void **state) {
        const char *src = getenv("BRIG_SOURCE_DIR");
        _cleanup_free_ char *path = NULL, *doc = NULL;
        bool documented[_BRIG_AUDIT_TYPE_MAX] = {false};
        const brig_audit_type_info *last = NULL;
        int depth = 0;
        FILE *f;
        size_t n = 0;
        (void) state;

        assert_non_null(src);
        assert_true(asprintf(&path, "%s/docs/protocol.md", src) > 0);
        assert_non_null(f = fopen(path, "re"));
        assert_non_null(doc = calloc(1, 1 << 20));
        n = fread(doc, 1, (1 << 20) - 1, f);
        fclose(f);
        assert_true(n > 0);

        const char *p = strstr(doc, "Event types so far:"), *end = p ? strstr(p, "The list") : NULL;
        assert_non_null(p);
        assert_non_null(end);
        for (; p < end; p++) {
                if (*p == '(')
                        depth++;
                else if (*p == ')')
                        depth--;
                else if (*p == '`') {
                        const char *q = strchr(p + 1, '`');
                        assert_non_null(q);
                        size_t len = (size_t) (q - p - 1);
                        if (depth == 0) {
                                last = type_named(p + 1, len);
                                if (!last)
                                        fail_msg("documented event type %.*s is not in brig_audit_types",
                                                 (int) len, p + 1);
                                documented[last - brig_audit_types] = true;
                        } else if (!last || !has_field(last, p + 1, len))
                                fail_msg(
                                        "documented member %.*s of %s is not in its row of brig_audit_types",
                                        (int) len, p + 1, last ? last->name : "?");
                        p = q;
                }
        }
        for (size_t t = 0; t < _BRIG_AUDIT_TYPE_MAX; t++)
                if (!documented[t])
                        fail_msg("event type %s is not documented in docs/protocol.md",
                                 brig_audit_types[t].name);
}

/* Checks an event from a constructor: its type is the row's, and every member is one of the row's fields,
 * in the row's order; marks the fields seen. */
static void check_event(cJSON *ev, brig_audit_type type, bool seen[static 32]) {
        const brig_audit_type_info *t = &brig_audit_types[type];
        const cJSON *m;
        size_t prev = 0;
        bool first = true;

        assert_non_null(ev);
        assert_string_equal(brig_json_member(ev, "type")->valuestring, t->name);
        cJSON_ArrayForEach (m, ev) {
                size_t i = 0;
                if (strcmp(m->string, "type") == 0)
                        continue;
                while (t->fields[i] && strcmp(t->fields[i], m->string) != 0)
                        i++;
                if (!t->fields[i])
                        fail_msg("%s has member %s, not in its row of brig_audit_types", t->name, m->string);
                if (!first && i <= prev)
                        fail_msg("%s: member %s out of the row's order", t->name, m->string);
                assert_true(i < 32);
                seen[i] = true;
                prev = i;
                first = false;
        }
        cJSON_Delete(ev);
}

/* Every constructor, with every optional member present, yields exactly the fields of its row between
 * them: a member added to a constructor and not to the table (or the other way round) fails here. */
static void test_audit__constructors_match_event_table(void **state) {
        static bool seen[_BRIG_AUDIT_TYPE_MAX][32];
        const struct ucred peer = {.pid = 1, .uid = 2, .gid = 3};
        const brig_audit_call call = {.connection = 1, .call_id = 2, .environment = "env-1", .tool = "exec"};
        const brig_exec_result res = {.exited = true,
                                      .exit_code = 1,
                                      .signal = 9,
                                      .duration_ms = 5,
                                      .error = {.code = -EIO, .msg = "broken"}};
        const brig_seccomp_denial den = {.pid = 7, .nr = 103, .abi = "x86_64", .syscall = "syslog"};
        cJSON *ev, *a, *b, *c;
        (void) state;

        check_event(brig_audit_worker_start(1, "1.0", "default", 2, "/run/brig.sock", 1000),
                    BRIG_AUDIT_WORKER_START, seen[BRIG_AUDIT_WORKER_START]);
        check_event(brig_audit_worker_stop(1), BRIG_AUDIT_WORKER_STOP, seen[BRIG_AUDIT_WORKER_STOP]);
        check_event(brig_audit_connection_open(1, &peer), BRIG_AUDIT_CONNECTION_OPEN,
                    seen[BRIG_AUDIT_CONNECTION_OPEN]);
        check_event(brig_audit_connection_close(1, "eof", "env-1"), BRIG_AUDIT_CONNECTION_CLOSE,
                    seen[BRIG_AUDIT_CONNECTION_CLOSE]);
        check_event(brig_audit_initialize(1, "env-1", "default", "2025-06-18"), BRIG_AUDIT_INITIALIZE,
                    seen[BRIG_AUDIT_INITIALIZE]);
        check_event(brig_audit_refused(1, "initialize", "no"), BRIG_AUDIT_REFUSED, seen[BRIG_AUDIT_REFUSED]);
        check_event(brig_audit_call_start(&call, cJSON_CreateObject(), &peer), BRIG_AUDIT_CALL_START,
                    seen[BRIG_AUDIT_CALL_START]);
        ev = brig_audit_call_end(&call, true, false, "/workspace/a", 3);
        brig_audit_call_end_exec(ev, &res, true);
        check_event(ev, BRIG_AUDIT_CALL_END, seen[BRIG_AUDIT_CALL_END]);
        ev = brig_audit_call_end(&call, false, false, NULL, 0);
        brig_audit_call_end_process(ev, "p-1");
        check_event(ev, BRIG_AUDIT_CALL_END, seen[BRIG_AUDIT_CALL_END]);
        ev = brig_audit_call_end(&call, false, false, NULL, 0);
        brig_audit_call_end_snapshot(ev, "abc");
        brig_audit_set_error(ev, "late");
        check_event(ev, BRIG_AUDIT_CALL_END, seen[BRIG_AUDIT_CALL_END]);
        for (brig_audit_type t = BRIG_AUDIT_ENVIRONMENT_START; t <= BRIG_AUDIT_ENVIRONMENT_EXPIRED; t++) {
                ev = brig_audit_environment(t, "env-1", "default", 1000, 42);
                brig_audit_set_error(ev, "failed");
                check_event(ev, t, seen[t]);
        }
        check_event(brig_audit_environment_destroy(1, "env-1", 0), BRIG_AUDIT_ENVIRONMENT_DESTROY,
                    seen[BRIG_AUDIT_ENVIRONMENT_DESTROY]);
        check_event(brig_audit_environment_fork(1, "env-2", "env-1", "HEAD~1", "default", 0),
                    BRIG_AUDIT_ENVIRONMENT_FORK, seen[BRIG_AUDIT_ENVIRONMENT_FORK]);
        check_event(brig_audit_environment_export(1, "env-1", 0), BRIG_AUDIT_ENVIRONMENT_EXPORT,
                    seen[BRIG_AUDIT_ENVIRONMENT_EXPORT]);
        check_event(brig_audit_environment_import(1, "env-3", "default", 4096, 0),
                    BRIG_AUDIT_ENVIRONMENT_IMPORT, seen[BRIG_AUDIT_ENVIRONMENT_IMPORT]);
        ev = brig_audit_policy_reload();
        brig_audit_policy_reload_lists(ev, &a, &b, &c);
        brig_audit_policy_reload_result(ev, true, NULL, "default");
        check_event(ev, BRIG_AUDIT_POLICY_RELOAD, seen[BRIG_AUDIT_POLICY_RELOAD]);
        ev = brig_audit_policy_reload();
        brig_audit_policy_reload_result(ev, false, "broken", NULL);
        check_event(ev, BRIG_AUDIT_POLICY_RELOAD, seen[BRIG_AUDIT_POLICY_RELOAD]);
        check_event(brig_audit_syscall_denied(&den, "env-1", 2, "p-1"), BRIG_AUDIT_SYSCALL_DENIED,
                    seen[BRIG_AUDIT_SYSCALL_DENIED]);
        check_event(brig_audit_syscall_denied_suppressed("env-1", 3), BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED,
                    seen[BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED]);
        check_event(brig_audit_net_connect(&(brig_audit_net){.host = "example.com",
                                                             .port = 443,
                                                             .address = "192.0.2.1",
                                                             .tunnel = true,
                                                             .reason = "allowed by example.com",
                                                             .error = "reset",
                                                             .environment = "env-1",
                                                             .call_id = 2,
                                                             .process_id = "p-1"}),
                    BRIG_AUDIT_NET_CONNECT, seen[BRIG_AUDIT_NET_CONNECT]);
        check_event(brig_audit_snapshot("env-1", "2", "write_file", "abc", "failed"), BRIG_AUDIT_SNAPSHOT,
                    seen[BRIG_AUDIT_SNAPSHOT]);
        check_event(brig_audit_process_exit("env-1", "p-1", &res, 10), BRIG_AUDIT_PROCESS_EXIT,
                    seen[BRIG_AUDIT_PROCESS_EXIT]);
        check_event(brig_audit_memory_write("env-1", 2, 1000, "create", "/memories/a.md", 5, "2cf2", "abcd"),
                    BRIG_AUDIT_MEMORY_WRITE, seen[BRIG_AUDIT_MEMORY_WRITE]);
        check_event(brig_audit_secret(BRIG_AUDIT_SECRET_USED, "TOKEN", "api.test", 2, "env-1"),
                    BRIG_AUDIT_SECRET_USED, seen[BRIG_AUDIT_SECRET_USED]);
        check_event(
                brig_audit_secret(BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED, "TOKEN", "other.test", 2, "env-1"),
                BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED, seen[BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED]);

        for (size_t t = 0; t < _BRIG_AUDIT_TYPE_MAX; t++)
                for (size_t i = 0; brig_audit_types[t].fields[i]; i++)
                        if (!seen[t][i])
                                fail_msg("no constructor of %s makes its member %s",
                                         brig_audit_types[t].name, brig_audit_types[t].fields[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_audit__lines_are_versioned_and_chained),
                cmocka_unit_test(test_audit__line_hash_is_sha256_of_prev_newline_line),
                cmocka_unit_test(test_audit__reopen_continues_chain),
                cmocka_unit_test(test_audit__empty_file_starts_at_genesis),
                cmocka_unit_test(test_audit__refuses_log_with_garbage_last_line),
                cmocka_unit_test(test_audit__refuses_symlink),
                cmocka_unit_test(test_audit__checkpoint_pins_the_end),
                cmocka_unit_test(test_audit__tampering_breaks_verification),
                cmocka_unit_test(test_audit__reopens_after_a_long_last_line),
                cmocka_unit_test(test_audit__full_disk_appends_whole_records_or_none),
                cmocka_unit_test(test_audit__log_stays_valid_utf8),
                cmocka_unit_test(test_audit__records_print_as_cjson),
                cmocka_unit_test(test_audit__emit_consumes_null_event),
                cmocka_unit_test(test_audit__log_is_0600_and_close_on_exec),
                cmocka_unit_test(test_audit__elide_cuts_long_strings_keeps_structure),
                cmocka_unit_test(test_audit__elide_cuts_on_utf8_boundary),
                cmocka_unit_test(test_audit__elide_limits_depth_and_accepts_null),
                cmocka_unit_test(test_audit__elide_content_keeps_only_sizes),
                cmocka_unit_test(test_audit__event_types_match_protocol_doc),
                cmocka_unit_test(test_audit__constructors_match_event_table),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
