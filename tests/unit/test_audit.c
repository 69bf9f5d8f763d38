/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/audit.c: line format, the SHA-256 chain recomputed independently, resuming after a
 * restart, refusing a damaged log, tamper detection, argument elision and the log file's mode and flags. */
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
#include "worker/audit.h"

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

static bool is_hex64(const char *s) {
        if (strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
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
                assert_true(is_hex64(h));
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_audit__lines_are_versioned_and_chained),
                cmocka_unit_test(test_audit__line_hash_is_sha256_of_prev_newline_line),
                cmocka_unit_test(test_audit__reopen_continues_chain),
                cmocka_unit_test(test_audit__empty_file_starts_at_genesis),
                cmocka_unit_test(test_audit__refuses_log_with_garbage_last_line),
                cmocka_unit_test(test_audit__refuses_symlink),
                cmocka_unit_test(test_audit__tampering_breaks_verification),
                cmocka_unit_test(test_audit__reopens_after_a_long_last_line),
                cmocka_unit_test(test_audit__full_disk_appends_whole_records_or_none),
                cmocka_unit_test(test_audit__log_stays_valid_utf8),
                cmocka_unit_test(test_audit__emit_consumes_null_event),
                cmocka_unit_test(test_audit__log_is_0600_and_close_on_exec),
                cmocka_unit_test(test_audit__elide_cuts_long_strings_keeps_structure),
                cmocka_unit_test(test_audit__elide_cuts_on_utf8_boundary),
                cmocka_unit_test(test_audit__elide_limits_depth_and_accepts_null),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
