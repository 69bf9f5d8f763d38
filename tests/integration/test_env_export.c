/* SPDX-License-Identifier: MIT */
/* brig/environment.export against a real brigd, through `brig env export` and through raw chunked reads:
 * the archive unpacks with tar alone into the metadata first, the workspace at the export's snapshot (byte
 * for byte, with modes and symlinks), a history git reads with main at that snapshot, the processes, and a
 * manifest whose sizes and SHA-256 match; every refusal is precise, and an archive goes with its connection.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/text.h"
#include "tests/integration/harness.h"
#include "worker/env_archive.h"

static brigd d;
static const char *skip_why;
static char tmp[64];

static int setup(void **state) {
        (void) state;
        snprintf(tmp, sizeof(tmp), "/tmp/brig-export-XXXXXX");
        assert_non_null(mkdtemp(tmp));
        if (brigd_start(&d, NULL, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        char cmd[128];
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static int attach(const char *env) {
        return client_attach(&d, env, skip_why);
}

static cJSON *tool(int fd, const char *name, const char *args) {
        return client_tool_sc(fd, name, args);
}

/* The snapshot ids of the history, newest first, one a line (caller frees). */
static char *history_ids(int fd) {
        cJSON *sc = tool(fd, "history", "{\"limit\":1000}"), *s;
        char *out = calloc(1, 64 * 1024);
        cJSON_ArrayForEach (s, cJSON_GetObjectItem(sc, "snapshots")) {
                strcat(out, cJSON_GetObjectItem(s, "id")->valuestring);
                strcat(out, "\n");
        }
        cJSON_Delete(sc);
        return out;
}

static void expect_error(cJSON *m, int code, const char *needle) {
        cJSON *e = cJSON_GetObjectItem(m, "error");
        if (!e) {
                char *t = cJSON_PrintUnformatted(m);
                fail_msg("expected an error containing \"%s\", got %s", needle, t);
        }
        const char *msg = cJSON_GetObjectItem(e, "message")->valuestring;
        if (cJSON_GetObjectItem(e, "code")->valueint != code || !strstr(msg, needle))
                fail_msg("error %d \"%s\" is not %d with \"%s\"", cJSON_GetObjectItem(e, "code")->valueint,
                         msg, code, needle);
        cJSON_Delete(m);
}

static cJSON *result_of(cJSON *m, const char *what) {
        cJSON *res = cJSON_DetachItemFromObject(m, "result");
        if (!res) {
                char *t = cJSON_PrintUnformatted(m);
                fail_msg("%s: %s", what, t);
        }
        cJSON_Delete(m);
        return res;
}

/* A shell command's stdout (caller frees); it must exit 0. */
static char *run(const char *fmt, ...) {
        char cmd[4096];
        size_t n = 0, cap = 1 << 20;
        char *out = malloc(cap);
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        (void) vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_non_null(out);
        assert_non_null(p = popen(cmd, "r"));
        for (size_t k; (k = fread(out + n, 1, cap - n - 1, p)) > 0;)
                n += k;
        out[n] = 0;
        if (pclose(p) != 0)
                fail_msg("`%s` failed: %s", cmd, out);
        return out;
}

static char *read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap + 1);

        if (!f)
                fail_msg("open %s: %s", path, strerror(errno));
        for (size_t k; (k = fread(buf + n, 1, cap - n, f)) > 0;) {
                n += k;
                if (n == cap)
                        buf = realloc(buf, (cap *= 2) + 1);
        }
        fclose(f);
        buf[n] = 0;
        if (ret_len)
                *ret_len = n;
        return buf;
}

static void sha_of_file(const char *path, char hex[BRIG_SHA256_HEX], size_t *ret_len) {
        size_t len;
        char *data = read_file(path, &len);
        assert_int_equal(brig_sha256_hex(data, len, hex), 0);
        free(data);
        if (ret_len)
                *ret_len = len;
}

/* Unpacks archive into dir (made) and checks it against the environment on fd: returns the metadata. */
static cJSON *check_archive(int fd, const char *archive, const char *dir, const char *env_id) {
        char path[512], hex[BRIG_SHA256_HEX];
        struct stat st;
        size_t len;

        assert_int_equal(mkdir(dir, 0700), 0);
        free(run("tar --zstd -xf '%s' -C '%s' 2>&1", archive, dir));
        char *list = run("tar --zstd -tf '%s'", archive);
        /* The metadata first, the manifest last. */
        assert_memory_equal(list, "brig-environment.json\n", strlen("brig-environment.json\n"));
        assert_string_equal(list + strlen(list) - strlen("MANIFEST.json\n"), "MANIFEST.json\n");

        snprintf(path, sizeof(path), "%s/brig-environment.json", dir);
        char *text = read_file(path, NULL);
        cJSON *meta = cJSON_Parse(text);
        free(text);
        assert_non_null(meta);
        assert_string_equal(cJSON_GetObjectItem(meta, "format")->valuestring, "brig-environment");
        assert_int_equal(cJSON_GetObjectItem(meta, "version")->valueint, 1);
        assert_string_equal(cJSON_GetObjectItem(meta, "id")->valuestring, env_id);
        assert_string_equal(cJSON_GetObjectItem(meta, "policy")->valuestring, "default");
        assert_int_equal(strlen(cJSON_GetObjectItem(meta, "policy_digest")->valuestring), 64);
        const char *snap = cJSON_GetObjectItem(meta, "snapshot")->valuestring;
        assert_int_equal(strlen(snap), 40);

        /* The workspace, byte for byte, with its modes and symlink. */
        snprintf(path, sizeof(path), "%s/workspace/a", dir);
        char *a = read_file(path, NULL);
        assert_string_equal(a, client_sh(fd, "cat a"));
        free(a);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        snprintf(path, sizeof(path), "%s/workspace/dir/run.sh", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        snprintf(path, sizeof(path), "%s/workspace/dir/sub/big", dir);
        sha_of_file(path, hex, &len);
        assert_int_equal(len, 300000);
        char want[128];
        snprintf(want, sizeof(want), "%s  dir/sub/big\n", hex);
        assert_string_equal(client_sh(fd, "sha256sum dir/sub/big"), want);
        snprintf(path, sizeof(path), "%s/workspace/link", dir);
        char target[64] = {0};
        assert_int_equal(readlink(path, target, sizeof(target) - 1), (ssize_t) strlen("dir/run.sh"));
        assert_string_equal(target, "dir/run.sh");
        snprintf(path, sizeof(path), "%s/workspace/dir/sub", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        /* The history: every snapshot, main at the exported one, which is the environment's head. */
        char *ids = history_ids(fd);
        assert_memory_equal(ids, snap, 40);
        char *log = run("git --git-dir '%s/history.git' log --format=%%H main", dir);
        assert_string_equal(log, ids);
        free(log);
        free(ids);
        log = run("git --git-dir '%s/history.git' log -1 --format=%%B main", dir);
        assert_non_null(strstr(log, "export"));
        free(log);

        /* The processes' descriptions and logs. */
        char *procs = run("ls '%s/processes'", dir);
        assert_non_null(strstr(procs, "p1.json"));
        assert_non_null(strstr(procs, "p1.log"));
        free(procs);

        /* The manifest: every other entry once, in archive order, sizes and digests true. */
        snprintf(path, sizeof(path), "%s/MANIFEST.json", dir);
        text = read_file(path, NULL);
        cJSON *man = cJSON_Parse(text), *e;
        free(text);
        assert_non_null(man);
        assert_int_equal(cJSON_GetObjectItem(man, "version")->valueint, 1);
        char *line = list;
        int n = 0;
        cJSON_ArrayForEach (e, cJSON_GetObjectItem(man, "entries")) {
                const char *p = cJSON_GetObjectItem(e, "path")->valuestring,
                           *type = cJSON_GetObjectItem(e, "type")->valuestring;
                char *nl = strchr(line, '\n');
                assert_non_null(nl);
                *nl = 0;
                /* tar lists directories with a trailing slash. */
                size_t ll = strlen(line);
                if (ll && line[ll - 1] == '/')
                        line[ll - 1] = 0;
                assert_string_equal(line, p);
                line = nl + 1;
                n++;
                snprintf(path, sizeof(path), "%s/%s", dir, p);
                assert_int_equal(lstat(path, &st), 0);
                if (strcmp(type, "file") == 0) {
                        assert_true(S_ISREG(st.st_mode));
                        sha_of_file(path, hex, &len);
                        assert_int_equal(len, cJSON_GetObjectItem(e, "size")->valuedouble);
                        assert_string_equal(hex, cJSON_GetObjectItem(e, "sha256")->valuestring);
                        assert_int_equal(st.st_mode & 07777, cJSON_GetObjectItem(e, "mode")->valueint);
                } else if (strcmp(type, "dir") == 0)
                        assert_true(S_ISDIR(st.st_mode));
                else {
                        assert_string_equal(type, "symlink");
                        assert_true(S_ISLNK(st.st_mode));
                }
        }
        assert_string_equal(line, "MANIFEST.json\n");
        assert_true(n > 10);
        cJSON_Delete(man);
        free(list);
        return meta;
}

static void make_env(int fd) {
        client_sh(fd,
                  "mkdir -p dir/sub && echo hello > a && printf '#!/bin/sh\\necho hi\\n' > dir/run.sh && "
                  "chmod 755 dir/run.sh && head -c 300000 /dev/urandom > dir/sub/big && ln -s dir/run.sh "
                  "link");
        cJSON_Delete(tool(fd, "snapshot", "{\"message\":\"first\"}"));
        cJSON_Delete(tool(fd, "exec", "{\"command\":\"echo bg-output; sleep 30\",\"background\":true}"));
        /* Not snapshotted yet: the export takes it. */
        client_sh(fd, "echo more >> a");
}

static int count_export_files(void) {
        char path[256];
        snprintf(path, sizeof(path), "%s/environments", d.state);
        DIR *dd = opendir(path);
        struct dirent *de;
        int n = 0;
        assert_non_null(dd);
        while ((de = readdir(dd)))
                n += strncmp(de->d_name, ".export-", 8) == 0;
        closedir(dd);
        return n;
}

/* The export files of the state directory reach n (they are removed on the thread pool after the
 * connection goes): fails if they do not within a minute. */
static void wait_export_files(int n) {
        for (int i = 0; i < 6000 && count_export_files() != n; i++)
                usleep(10000);
        assert_int_equal(count_export_files(), n);
}

static void test_env_export__cli_writes_an_archive_tar_and_git_read(void **state) {
        (void) state;
        int fd = attach("xsrc");
        char out[128], dir[128];

        make_env(fd);
        snprintf(out, sizeof(out), "%s/cli.brig", tmp);
        free(run("%s/brig --socket '%s' env export xsrc -o '%s' 2>&1", build_dir(), d.socket, out));
        /* Its temporary file beside out (out.XXXXXX) is gone: renamed into place. */
        struct stat st;
        char *left = run("ls -a '%s' | grep -c '^cli\\.brig\\.' || true", tmp);
        assert_string_equal(left, "0\n");
        free(left);
        snprintf(dir, sizeof(dir), "%s/cli", tmp);
        cJSON *meta = check_archive(fd, out, dir, "xsrc");
        cJSON_Delete(meta);
        /* The CLI closed its archive: nothing left in the state directory. */
        wait_export_files(0);

        /* To stdout, the same bytes but for the new snapshot (none: nothing changed). */
        char *a = run("%s/brig --socket '%s' env export xsrc -o - 2>/dev/null | tar --zstd -xOf - "
                      "workspace/a",
                      build_dir(), d.socket);
        assert_string_equal(a, "hello\nmore\n");
        free(a);
        /* Appended to a file (`>>`): the archive follows what the file held, and the CLI says so (its
         * check of the written size once counted from the wrong offset there). */
        a = run("cd '%s' && echo prior > app.brig && %s/brig --socket '%s' env export xsrc -o - >> app.brig "
                "2>/dev/null && head -c 6 app.brig && tail -c +7 app.brig | tar --zstd -xOf - workspace/a",
                tmp, build_dir(), d.socket);
        assert_string_equal(a, "prior\nhello\nmore\n");
        free(a);
        /* Usage errors and refusals exit non-zero, and leave no file. */
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "%s/brig --socket '%s' env export nope -o '%s/nope.brig' 2>/dev/null",
                 build_dir(), d.socket, tmp);
        assert_int_equal(WEXITSTATUS(system(cmd)), 1);
        snprintf(cmd, sizeof(cmd), "%s/nope.brig", tmp);
        assert_int_equal(stat(cmd, &st), -1);
        snprintf(cmd, sizeof(cmd), "%s/brig --socket '%s' env export xsrc 2>/dev/null", build_dir(),
                 d.socket);
        assert_int_equal(WEXITSTATUS(system(cmd)), 2);
        close(fd);
}

/* Reads the whole archive of token in chunks of `chunk` bytes into path; returns its size. */
static size_t pull(int fd, const char *token, size_t chunk, const char *path) {
        FILE *f = fopen(path, "wb");
        size_t off = 0;
        bool eof = false;
        char params[256];

        assert_non_null(f);
        while (!eof) {
                snprintf(params, sizeof(params), "{\"export\":\"%s\",\"offset\":%zu,\"length\":%zu}", token,
                         off, chunk);
                cJSON *res = result_of(client_rpc(fd, "brig/environment.export.read", params), "read");
                const char *data = cJSON_GetObjectItem(res, "data")->valuestring;
                unsigned char *buf;
                size_t len;
                assert_true(brig_base64_decode(data, strlen(data), &buf, &len) >= 0);
                assert_true(len <= chunk);
                assert_int_equal(fwrite(buf, 1, len, f), len);
                free(buf);
                off += len;
                eof = cJSON_IsTrue(cJSON_GetObjectItem(res, "eof"));
                assert_true(eof || len == chunk);
                cJSON_Delete(res);
        }
        fclose(f);
        return off;
}

/* An archive of several chunks, which the CLI reads with more than one read in flight: the bytes come in
 * order (its SHA-256 is checked against brigd's, or the CLI fails) and tar reads them. */
static void test_env_export__cli_pulls_an_archive_of_many_chunks(void **state) {
        (void) state;
        int fd = attach("msrc");
        char out[128], hex[BRIG_SHA256_HEX], want[128];
        struct stat st;

        client_sh(fd, "for i in 1 2 3 4 5; do head -c 900000 /dev/urandom > r$i; done");
        snprintf(out, sizeof(out), "%s/many.brig", tmp);
        free(run("%s/brig --socket '%s' env export msrc -o '%s' 2>&1", build_dir(), d.socket, out));
        assert_int_equal(stat(out, &st), 0);
        assert_true(st.st_size > 3 * BRIG_ARCHIVE_CHUNK_MAX);
        char *r4 = run("tar --zstd -xOf '%s' workspace/r4 | sha256sum", out);
        snprintf(want, sizeof(want), "%.64s", client_sh(fd, "sha256sum r4"));
        memcpy(hex, r4, 64);
        hex[64] = 0;
        assert_string_equal(hex, want);
        free(r4);
        wait_export_files(0);
        close(fd);
}

static void test_env_export__rpc_chunks_and_refusals(void **state) {
        (void) state;
        int fd = attach("ysrc");
        char path[256], dir[128], params[256], hex[BRIG_SHA256_HEX];
        struct stat st;
        size_t len;

        make_env(fd);
        expect_error(client_rpc(fd, "brig/environment.export", "{\"id\":\"nope\"}"), -32602,
                     "no environment \"nope\"");
        cJSON *res = result_of(client_rpc(fd, "brig/environment.export", "{\"id\":\"ysrc\"}"), "export");
        char *token = strdup(cJSON_GetObjectItem(res, "export")->valuestring);
        size_t bytes = (size_t) cJSON_GetObjectItem(res, "bytes")->valuedouble;
        char *sha = strdup(cJSON_GetObjectItem(res, "sha256")->valuestring);
        char *snap = strdup(cJSON_GetObjectItem(res, "snapshot")->valuestring);
        cJSON_Delete(res);
        /* The archive is a file of the state directory while open. */
        snprintf(path, sizeof(path), "%s/environments/.export-%s.brig", d.state, token);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((size_t) st.st_size, bytes);

        snprintf(path, sizeof(path), "%s/rpc.brig", tmp);
        assert_int_equal(pull(fd, token, 100000, path), bytes);
        sha_of_file(path, hex, &len);
        assert_int_equal(len, bytes);
        assert_string_equal(hex, sha);
        snprintf(dir, sizeof(dir), "%s/rpc", tmp);
        cJSON *meta = check_archive(fd, path, dir, "ysrc");
        assert_string_equal(cJSON_GetObjectItem(meta, "snapshot")->valuestring, snap);
        cJSON_Delete(meta);

        /* At the end: nothing more, eof. Past it, or a chunk over the bound: refused. */
        snprintf(params, sizeof(params), "{\"export\":\"%s\",\"offset\":%zu}", token, bytes);
        res = result_of(client_rpc(fd, "brig/environment.export.read", params), "read at end");
        assert_string_equal(cJSON_GetObjectItem(res, "data")->valuestring, "");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(res, "eof")));
        cJSON_Delete(res);
        snprintf(params, sizeof(params), "{\"export\":\"%s\",\"offset\":%zu}", token, bytes + 1);
        expect_error(client_rpc(fd, "brig/environment.export.read", params), -32602, "past the end");
        snprintf(params, sizeof(params), "{\"export\":\"%s\",\"offset\":0,\"length\":%d}", token,
                 BRIG_ARCHIVE_CHUNK_MAX + 1);
        expect_error(client_rpc(fd, "brig/environment.export.read", params), -32602, "params.length");
        expect_error(
                client_rpc(fd, "brig/environment.export.read", "{\"export\":\"deadbeef\",\"offset\":0}"),
                -32602, "no export \"deadbeef\"");

        /* Another connection cannot name it, neither to read nor to close. */
        int other = attach(NULL);
        snprintf(params, sizeof(params), "{\"export\":\"%s\",\"offset\":0}", token);
        expect_error(client_rpc(other, "brig/environment.export.read", params), -32602, "no export");
        snprintf(params, sizeof(params), "{\"export\":\"%s\"}", token);
        expect_error(client_rpc(other, "brig/environment.export.close", params), -32602, "no export");

        /* Close removes the file; the token is gone. */
        res = result_of(client_rpc(fd, "brig/environment.export.close", params), "close");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(res, "closed")));
        cJSON_Delete(res);
        snprintf(path, sizeof(path), "%s/environments/.export-%s.brig", d.state, token);
        assert_int_equal(stat(path, &st), -1);
        expect_error(client_rpc(fd, "brig/environment.export.close", params), -32602, "no export");

        /* A new environment, its workspace empty: an archive with its first snapshot. */
        int empty = attach("zempty");
        res = result_of(client_rpc(empty, "brig/environment.export", "{\"id\":\"zempty\"}"), "export empty");
        assert_int_equal(strlen(cJSON_GetObjectItem(res, "snapshot")->valuestring), 40);
        snprintf(params, sizeof(params), "%s/empty.brig", tmp);
        assert_int_equal(
                pull(empty, cJSON_GetObjectItem(res, "export")->valuestring, BRIG_ARCHIVE_CHUNK_MAX, params),
                (size_t) cJSON_GetObjectItem(res, "bytes")->valuedouble);
        cJSON_Delete(res);
        char *names = run("tar --zstd -tf '%s'", params);
        const char *head = "brig-environment.json\nworkspace/\nhistory.git/\n";
        assert_memory_equal(names, head, strlen(head));
        assert_non_null(strstr(names, "history.git/refs/heads/main\n"));
        free(names);
        close(empty);
        snprintf(params, sizeof(params), "{\"export\":\"%s\"}", token);

        /* At most 4 open per connection; the connection's going removes them all. */
        for (int i = 0; i < 4; i++)
                cJSON_Delete(result_of(client_rpc(other, "brig/environment.export", "{\"id\":\"ysrc\"}"),
                                       "export"));
        expect_error(client_rpc(other, "brig/environment.export", "{\"id\":\"ysrc\"}"), -32001, "at most 4");
        assert_int_equal(count_export_files(), 4);
        close(other);
        wait_export_files(0);
        free(token);
        free(sha);
        free(snap);
        close(fd);
}

/* Whether brigd closed the connection (end of stream), rather than only said nothing. */
static bool closed_by_brigd(int fd) {
        char c;
        return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* brig/descriptor.pass then export with fd: brigd writes the archive into the client's own file (no file of
 * its own, no chunks), the bytes its answer's size and SHA-256 say; what is no writable regular file, or a
 * client that does not wait for `ready`, is refused. */
static void test_env_export__into_a_passed_descriptor(void **state) {
        (void) state;
        int fd = attach("dsrc");
        char path[256], dir[128], hex[BRIG_SHA256_HEX];
        size_t len;

        make_env(fd);
        snprintf(path, sizeof(path), "%s/fd.brig", tmp);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(out >= 0);
        client_pass_fd(fd, out);
        cJSON *res = result_of(client_rpc(fd, "brig/environment.export", "{\"id\":\"dsrc\",\"fd\":true}"),
                               "export into fd");
        assert_null(cJSON_GetObjectItem(res, "export"));
        assert_int_equal(count_export_files(), 0);
        close(out);
        sha_of_file(path, hex, &len);
        assert_int_equal(len, (size_t) cJSON_GetObjectItem(res, "bytes")->valuedouble);
        assert_string_equal(hex, cJSON_GetObjectItem(res, "sha256")->valuestring);
        cJSON_Delete(res);
        snprintf(dir, sizeof(dir), "%s/fd", tmp);
        cJSON_Delete(check_archive(fd, path, dir, "dsrc"));

        /* Taken by the request: the next one has none. One opened read-only cannot be written. */
        expect_error(client_rpc(fd, "brig/environment.export", "{\"id\":\"dsrc\",\"fd\":true}"), -32602,
                     "no descriptor passed");
        int ro = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(ro >= 0);
        client_pass_fd(fd, ro);
        close(ro);
        expect_error(client_rpc(fd, "brig/environment.export", "{\"id\":\"dsrc\",\"fd\":true}"), -32602,
                     "not open for writing");
        /* One at a time. */
        int one = open(path, O_WRONLY | O_CLOEXEC);
        client_pass_fd(fd, one);
        expect_error(client_rpc(fd, "brig/descriptor.pass", "{}"), -32001, "held already");
        close(one);
        /* The chunked path is still there on the same connection. */
        res = result_of(client_rpc(fd, "brig/environment.export", "{\"id\":\"dsrc\"}"), "export");
        assert_non_null(cJSON_GetObjectItem(res, "export"));
        cJSON_Delete(res);

        /* A pipe (reads and writes that could hang a thread at the client's will): the connection goes. */
        int p[2], other = attach(NULL);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        client_pass_fd(other, p[1]);
        assert_null(client_recv(other, 30000));
        assert_true(closed_by_brigd(other));
        close(other);
        close(p[0]);
        close(p[1]);
        /* A file of the kernel's (what it says depends on who reads it): refused the same way. */
        int proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        other = attach(NULL);
        client_pass_fd(other, proc);
        close(proc);
        assert_null(client_recv(other, 30000));
        assert_true(closed_by_brigd(other));
        close(other);
        /* A client that sends its next line before `ready`: the byte may have gone with it, so it goes. */
        other = attach(NULL);
        assert_int_equal(client_send(other,
                                     "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"brig/descriptor.pass\"}\n"
                                     "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}"),
                         0);
        cJSON *m;
        while ((m = client_recv(other, 30000))) {
                assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "tools"));
                cJSON_Delete(m);
        }
        assert_true(closed_by_brigd(other));
        close(other);
        close(fd);
}

/* As uid 65534 (a forked child): 10 when exporting env is refused with needle, 1 otherwise. */
static int export_as_nobody(const char *env, const char *needle) {
        pid_t pid = fork();
        if (pid == 0) {
                int code = 1;
                if (setgid(65534) == 0 && setuid(65534) == 0) {
                        int fd = client_connect(&d);
                        cJSON *init = client_initialize(fd, "{}");
                        char msg[512];
                        snprintf(msg, sizeof(msg),
                                 "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"brig/environment.export\","
                                 "\"params\":{\"id\":\"%s\"}}",
                                 env);
                        if (init && client_send(fd, msg) == 0) {
                                cJSON *m = client_recv(fd, 30000);
                                cJSON *e = cJSON_GetObjectItem(m, "error");
                                if (e && strstr(cJSON_GetObjectItem(e, "message")->valuestring, needle))
                                        code = 10;
                                cJSON_Delete(m);
                        }
                        cJSON_Delete(init);
                        close(fd);
                }
                _exit(code);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_env_export__only_the_owner_exports(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                /* Under setpriv or unshare, peer credentials are seen through brigd's user namespace. */
                fprintf(stderr, "# SKIP: needs brigd and the test as root, to act as another user\n");
                skip();
        }
        int fd = attach("root-env");
        client_sh(fd, "echo mine > f");
        assert_int_equal(chmod(d.socket, 0666), 0);
        assert_int_equal(export_as_nobody("root-env", "no environment \"root-env\""), 10);
        assert_int_equal(count_export_files(), 0);
        assert_int_equal(chmod(d.socket, 0600), 0);
        close(fd);
}

/* brigd killed with an archive open: the next brigd removes it at start-up. */
static void test_env_export__leftovers_go_at_start_up(void **state) {
        (void) state;
        const char *why = NULL;
        int fd = attach("kenv");

        client_sh(fd, "echo data > f");
        cJSON_Delete(result_of(client_rpc(fd, "brig/environment.export", "{\"id\":\"kenv\"}"), "export"));
        assert_int_equal(count_export_files(), 1);
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        close(fd);
        assert_int_equal(count_export_files(), 1);
        assert_int_equal(brigd_restart(&d, &why), 0);
        assert_int_equal(count_export_files(), 0);
        /* The environment itself is untouched. */
        fd = attach("kenv");
        assert_string_equal(client_sh(fd, "cat f"), "data\n");
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_export__cli_writes_an_archive_tar_and_git_read),
                cmocka_unit_test(test_env_export__cli_pulls_an_archive_of_many_chunks),
                cmocka_unit_test(test_env_export__rpc_chunks_and_refusals),
                cmocka_unit_test(test_env_export__into_a_passed_descriptor),
                cmocka_unit_test(test_env_export__only_the_owner_exports),
                cmocka_unit_test(test_env_export__leftovers_go_at_start_up),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
