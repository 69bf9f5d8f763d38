/* SPDX-License-Identifier: MIT */
/* brig/environment.import against a real brigd, with archives made by git, Python's tarfile and zstd
 * (tests/integration/brig_archive.py, docs/archive.md): the workspace comes back byte for byte with its
 * modes, the history lists, diffs and restores, the processes are listed as lost, the files belong to the
 * new environment's uid; every malformed archive is refused naming its entry and leaves nothing; an id
 * that exists needs --as; a SIGKILL of brigd mid-import leaves nothing that the next brigd adopts. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/text.h"
#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;
static char tmp[64]; /* the test's files: src/ (the archive's tree), *.brig */
static char policy_dir[80];
static const char *extra_args[] = {"--policy-dir", policy_dir, NULL};
static char snap1[41], snap2[41]; /* the history's two commits, oldest first */

static void sh(const char *fmt, ...) {
        char cmd[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        if (system(cmd) != 0)
                fail_msg("failed: %s", cmd);
}

static void policy_file(const char *name, const char *json) {
        char path[160];
        snprintf(path, sizeof(path), "%s/%s.json", policy_dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(json, f);
        fclose(f);
        chmod(path, 0644);
}

static void read_line_of(const char *path, char *out, size_t size) {
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(out, (int) size, f));
        out[strcspn(out, "\n")] = 0;
        fclose(f);
}

/* The archive's tree: a workspace, a history of two commits made by git, a lost process. */
static void make_tree(void) {
        char path[128];
        sh("set -e; S=%s/src; mkdir -p $S/workspace/dir/sub $S/processes; cd $S/workspace; "
           "echo one > a.txt; head -c 300000 /dev/urandom > dir/sub/blob; printf '#!/bin/sh\\necho hi\\n' > "
           "dir/run.sh; chmod 755 dir/run.sh; ln -s a.txt link; ln -s ../a.txt dir/up; chmod 644 a.txt "
           "dir/sub/blob; chmod 755 dir dir/sub; "
           "git init -q --bare -b main $S/history.git; rm -rf $S/history.git/hooks; "
           "git clone -q $S/history.git %s/clone 2>/dev/null; cd %s/clone; echo old > a.txt; git add -A; "
           "git -c user.name=brig -c user.email=brig@localhost commit -qm first; git rev-parse HEAD > "
           "%s/s1; "
           "cp -a $S/workspace/. .; git add -A; "
           "git -c user.name=brig -c user.email=brig@localhost commit -qm second; git rev-parse HEAD > "
           "%s/s2; "
           "git push -q origin HEAD:main; git config --file $S/history.git/config core.hooksPath "
           "/tmp/evil-hooks; "
           "chmod -R u+w,go-w $S/history.git; "
           "find $S/history.git -type d -exec chmod 755 {} +; "
           "printf '{\"version\":1,\"process_id\":\"p1\",\"command\":\"sleep 100\",\"started\":1765000000,"
           "\"ended\":null,\"exit_code\":null,\"signal\":null,\"duration_ms\":null,\"output_bytes\":0}' > "
           "$S/processes/p1.json; chmod 644 $S/processes/p1.json",
           tmp, tmp, tmp, tmp, tmp);
        snprintf(path, sizeof(path), "%s/s1", tmp);
        read_line_of(path, snap1, sizeof(snap1));
        snprintf(path, sizeof(path), "%s/s2", tmp);
        read_line_of(path, snap2, sizeof(snap2));
        sh("printf '{\"format\":\"brig-environment\",\"version\":1,\"id\":\"imp\",\"owner\":4242,"
           "\"policy\":\"default\",\"policy_digest\":\"%064d\",\"created\":1765000000,\"last_used\":"
           "1765003600,"
           "\"exported_at\":1765003700,\"snapshot\":\"%s\",\"brig_version\":\"0.0.0\"}' > "
           "%s/src/brig-environment.json; chmod 644 %s/src/brig-environment.json",
           0, snap2, tmp, tmp);
}

/* tmp/NAME.brig from the tree, malformed as CASE says (NULL: a valid one). */
static void make_archive(const char *name, const char *bad) {
        sh("python3 %s/tests/integration/brig_archive.py %s/src %s/%s.brig %s %s", source_dir(), tmp, tmp,
           name, bad ? "--bad" : "", bad ? bad : "");
}

static int setup(void **state) {
        (void) state;
        snprintf(tmp, sizeof(tmp), "/tmp/brig-import-XXXXXX");
        assert_non_null(mkdtemp(tmp));
        chmod(tmp, 0755);
        snprintf(policy_dir, sizeof(policy_dir), "%s/policies", tmp);
        assert_int_equal(mkdir(policy_dir, 0755), 0);
        policy_file("small",
                    "{\"filesystem\":{\"workspace_quota\":{\"size\":\"1M\",\"enforce\":\"soft\"}}}");
        policy_file("hard", "{\"filesystem\":{\"workspace_quota\":{\"size\":\"1M\",\"enforce\":\"hard\"}}}");
        policy_file("tinyfiles", "{\"limits\":{\"file_size\":\"100K\"}}");
        make_tree();
        make_archive("good", NULL);
        if (brigd_start_args(&d, NULL, extra_args, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        sh("rm -rf %s", tmp);
        return 0;
}

static int attach(const char *env) {
        return client_attach(&d, env, skip_why);
}

static cJSON *tool(int fd, const char *name, const char *args) {
        return client_tool_sc(fd, name, args);
}

static bool listed(int fd, const char *id) {
        return client_env_listed(fd, id);
}

/* Entries of the state directory's environments/ whose names start with prefix. */
static int count_entries(const char *prefix) {
        char path[256];
        int n = 0;
        snprintf(path, sizeof(path), "%s/environments", d.state);
        DIR *dir = opendir(path);
        assert_non_null(dir);
        for (struct dirent *de; (de = readdir(dir));)
                n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        closedir(dir);
        return n;
}

/* `brig env import` with args; its stdout and stderr in out, its exit status returned. */
static int cli_import(const char *args, char *out, size_t size) {
        char cmd[1024], path[128];
        snprintf(path, sizeof(path), "%s/cli.out", tmp);
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s env import %s >%s 2>&1", build_dir(), d.socket, args,
                 path);
        int st = system(cmd);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t n = fread(out, 1, size - 1, f);
        out[n] = 0;
        fclose(f);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_env_import__cli_recreates_workspace_history_and_processes(void **state) {
        (void) state;
        char out[4096], args[256], expect[256];

        int fd = attach(NULL);
        snprintf(args, sizeof(args), "%s/good.brig", tmp);
        assert_int_equal(cli_import(args, out, sizeof(out)), 0);
        snprintf(expect, sizeof(expect), "imported imp as imp at %s\n", snap2);
        assert_non_null(strstr(out, expect));
        /* The archive ran under another policy than the default one here. */
        assert_non_null(strstr(out, "warning: imp now runs policy"));
        assert_true(listed(fd, "imp"));
        close(fd);

        int imp = attach("imp");
        /* Byte for byte, with modes and links, as the tree it was made from. */
        char *got = strdup(client_sh(
                imp, "cd /workspace && find . -mindepth 1 -printf '%p %y %m %l\\n' | LC_ALL=C sort && "
                     "find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum"));
        char cmd[512], path[128];
        snprintf(path, sizeof(path), "%s/want", tmp);
        snprintf(
                cmd, sizeof(cmd),
                "cd %s/src/workspace && (find . -mindepth 1 -printf '%%p %%y %%m %%l\\n' | LC_ALL=C sort && "
                "find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) > %s",
                tmp, path);
        assert_int_equal(system(cmd), 0);
        FILE *f = fopen(path, "r");
        char want[8192];
        size_t n = fread(want, 1, sizeof(want) - 1, f);
        want[n] = 0;
        fclose(f);
        assert_string_equal(got, want);
        free(got);

        /* The history lists both commits; diff and restore work on them. */
        cJSON *h = tool(imp, "history", "{\"limit\":100}");
        cJSON *snaps = cJSON_GetObjectItem(h, "snapshots");
        assert_int_equal(cJSON_GetArraySize(snaps), 2);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "id")->valuestring, snap2);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 1), "id")->valuestring, snap1);
        cJSON_Delete(h);
        snprintf(args, sizeof(args), "{\"from\":\"%s\",\"to\":\"%s\"}", snap1, snap2);
        cJSON *df = tool(imp, "diff", args);
        assert_non_null(strstr(cJSON_GetObjectItem(df, "diff")->valuestring, "+one"));
        cJSON_Delete(df);
        snprintf(args, sizeof(args), "{\"snapshot\":\"%s\"}", snap1);
        cJSON_Delete(tool(imp, "restore", args));
        assert_string_equal(client_sh(imp, "cat a.txt; ls dir 2>&1 | grep -c 'No such'"), "old\n1\n");

        /* The history's config is the importer's, not the archive's (which named a hooks path). */
        char config[512] = "";
        snprintf(path, sizeof(path), "%s/environments/imp/history.git/config", d.state);
        f = fopen(path, "r");
        assert_non_null(f);
        config[fread(config, 1, sizeof(config) - 1, f)] = 0;
        fclose(f);
        assert_non_null(strstr(config, "bare = true"));
        assert_null(strstr(config, "hooksPath"));

        /* The process it had is listed, ended with its worker. */
        cJSON *pl = tool(imp, "process_list", "{}");
        cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(pl, "processes"), 0);
        assert_non_null(p);
        assert_string_equal(cJSON_GetObjectItem(p, "process_id")->valuestring, "p1");
        assert_string_not_equal(cJSON_GetObjectItem(p, "state")->valuestring, "running");
        cJSON_Delete(pl);

        /* The caller owns it (as brigd sees the caller: an environment it attaches to is its), not the
         * archive's owner (4242); its files are its own uid's when brigd is root. */
        int mine = attach("mine");
        cJSON *m = client_rpc(imp, "brig/environment.info", "{\"id\":\"imp\"}");
        cJSON *mi = client_rpc(mine, "brig/environment.info", "{\"id\":\"mine\"}");
        cJSON *info = cJSON_GetObjectItem(m, "result");
        assert_int_equal(cJSON_GetObjectItem(info, "owner_uid")->valueint,
                         cJSON_GetObjectItem(cJSON_GetObjectItem(mi, "result"), "owner_uid")->valueint);
        assert_int_not_equal(cJSON_GetObjectItem(info, "owner_uid")->valueint, 4242);
        cJSON_Delete(mi);
        close(mine);
        const char *mode = getenv("BRIG_TEST_MODE");
        if (geteuid() == 0 && !(mode && *mode)) {
                int juid = cJSON_GetObjectItem(info, "jail_uid")->valueint;
                struct stat st;
                snprintf(path, sizeof(path), "%s/a.txt",
                         cJSON_GetObjectItem(info, "workspace")->valuestring);
                assert_int_equal(lstat(path, &st), 0);
                assert_int_equal((int) st.st_uid, juid);
                snprintf(path, sizeof(path), "%s/../history.git/HEAD",
                         cJSON_GetObjectItem(info, "workspace")->valuestring);
                assert_int_equal(lstat(path, &st), 0);
                assert_int_equal((int) st.st_uid, juid);
        }
        cJSON_Delete(m);
        close(imp);
        assert_int_equal(count_entries(".upload-"), 0);
        assert_int_equal(count_entries(".import-"), 0);
}

/* The archive in chunks of `chunk` bytes on fd, as raw requests; the last one's answer. */
static cJSON *rpc_import(int fd, const char *file, size_t chunk, const char *tail) {
        FILE *f = fopen(file, "rb");
        assert_non_null(f);
        unsigned char *buf = malloc(chunk);
        char token[64] = "";
        cJSON *m = NULL;
        for (;;) {
                size_t n = fread(buf, 1, chunk, f);
                bool end = n < chunk;
                char *b64 = brig_base64_encode(buf, n);
                size_t len = strlen(b64) + 256;
                char *params = malloc(len);
                snprintf(params, len, "{\"data\":\"%s\"%s%s%s%s%s}", b64, *token ? ",\"upload\":\"" : "",
                         token, *token ? "\"" : "", end ? ",\"end\":true" : "", end ? tail : "");
                m = client_rpc(fd, "brig/environment.import", params);
                free(b64);
                free(params);
                if (end || !cJSON_GetObjectItem(m, "result"))
                        break;
                snprintf(token, sizeof(token), "%s",
                         cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "upload")->valuestring);
                cJSON_Delete(m);
        }
        free(buf);
        fclose(f);
        return m;
}

static void expect_error(cJSON *m, const char *needle) {
        cJSON *e = cJSON_GetObjectItem(m, "error");
        if (!e) {
                char *t = cJSON_PrintUnformatted(m);
                fail_msg("expected an error containing \"%s\", got %.300s", needle, t);
        }
        const char *msg = cJSON_GetObjectItem(e, "message")->valuestring;
        if (!strstr(msg, needle))
                fail_msg("error \"%s\" does not say \"%s\"", msg, needle);
        cJSON_Delete(m);
}

/* m (kept) answers an import of good.brig as id: its result (borrowed from m), whose history tool (the
 * "small" policy has no shell) sees the archive's two snapshots. */
static cJSON *expect_imported(cJSON *m, const char *id) {
        cJSON *res = cJSON_GetObjectItem(m, "result");
        if (!res)
                fail_msg("import: %s", cJSON_PrintUnformatted(m));
        assert_string_equal(cJSON_GetObjectItem(res, "id")->valuestring, id);
        assert_string_equal(cJSON_GetObjectItem(res, "imported_from")->valuestring, "imp");
        assert_string_equal(cJSON_GetObjectItem(res, "snapshot")->valuestring, snap2);
        int imp = attach(id);
        cJSON *h = tool(imp, "history", "{\"limit\":100}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "snapshots")), 2);
        cJSON_Delete(h);
        close(imp);
        return res;
}

static void test_env_import__rpc_chunks_and_an_existing_id(void **state) {
        (void) state;
        char file[128];
        int fd = attach(NULL);
        snprintf(file, sizeof(file), "%s/good.brig", tmp);

        /* Small chunks, each acknowledged; the id exists unless "as" names another. */
        cJSON *m = rpc_import(fd, file, 1000, "");
        expect_error(m, "environment \"imp\" exists (pass --as)");
        m = rpc_import(fd, file, 1000, ",\"as\":\"imp2\",\"policy\":\"small\"");
        cJSON *res = expect_imported(m, "imp2");
        assert_string_equal(cJSON_GetObjectItem(res, "policy")->valuestring, "small");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(res, "policy_digest_matches")));
        cJSON_Delete(m);

        /* An unknown token, and a third upload at once on one connection. */
        expect_error(client_rpc(fd, "brig/environment.import", "{\"data\":\"\",\"upload\":\"nope\"}"),
                     "no such upload");
        cJSON_Delete(client_rpc(fd, "brig/environment.import", "{\"data\":\"AAAA\"}"));
        cJSON_Delete(client_rpc(fd, "brig/environment.import", "{\"data\":\"AAAA\"}"));
        assert_int_equal(count_entries(".upload-"), 2);
        expect_error(client_rpc(fd, "brig/environment.import", "{\"data\":\"AAAA\"}"),
                     "more than 2 imports");
        /* Closing the connection removes its uploads. */
        close(fd);
        for (int i = 0; i < 500 && count_entries(".upload-") > 0; i++)
                usleep(10000);
        assert_int_equal(count_entries(".upload-"), 0);
}

/* brig/descriptor.pass then import with fd: brigd copies the client's file and imports it as the chunks'
 * upload; a descriptor not open for reading, or data besides, is refused. The CLI sends what is no regular
 * file (a pipe) in chunks still. */
static void test_env_import__from_a_passed_descriptor(void **state) {
        (void) state;
        char file[128], out[4096];
        int fd = attach(NULL);
        snprintf(file, sizeof(file), "%s/good.brig", tmp);

        int in = open(file, O_RDONLY | O_CLOEXEC);
        assert_true(in >= 0);
        client_pass_fd(fd, in);
        /* The client's offset is its own: brigd reads from the start whatever it is. */
        assert_int_equal(lseek(in, 100, SEEK_SET), 100);
        cJSON *m = client_rpc(fd, "brig/environment.import", "{\"fd\":true,\"as\":\"impfd\"}");
        expect_imported(m, "impfd");
        cJSON_Delete(m);
        assert_int_equal(lseek(in, 0, SEEK_CUR), 100);

        expect_error(client_rpc(fd, "brig/environment.import", "{\"fd\":true,\"as\":\"impfd2\"}"),
                     "no descriptor passed");
        client_pass_fd(fd, in);
        expect_error(client_rpc(fd, "brig/environment.import", "{\"fd\":true,\"data\":\"AAAA\"}"),
                     "without data or upload");
        /* Still held (the request was refused before taking it): one at a time. */
        expect_error(client_rpc(fd, "brig/descriptor.pass", "{}"), "held already");
        close(in);
        int wr = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
        int other = attach(NULL);
        client_pass_fd(other, wr);
        close(wr);
        expect_error(client_rpc(other, "brig/environment.import", "{\"fd\":true,\"as\":\"impfd2\"}"),
                     "not open for reading");
        close(other);
        close(fd);

        char cmd[512];
        snprintf(cmd, sizeof(cmd), "cat %s | %s/brig --socket %s env import /dev/stdin --as impchunks 2>&1",
                 file, build_dir(), d.socket);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = 0;
        if (pclose(p) != 0)
                fail_msg("import from a pipe: %s", out);
        assert_non_null(strstr(out, "as impchunks"));
        for (int i = 0; i < 500 && count_entries(".upload-") > 0; i++)
                usleep(10000);
        assert_int_equal(count_entries(".upload-"), 0);
}

static void test_env_import__malformed_archives_are_refused_naming_the_entry(void **state) {
        (void) state;
        static const struct {
                const char *bad, *policy, *error;
        } cases[] = {
                {"dotdot", NULL, "\"workspace/../evil\": a path with an empty, \".\" or \"..\" part"},
                {"absolute", NULL, "\"/tmp/brig-evil\": an absolute path"},
                {"layout", NULL, "\"etc/passwd\": outside the archive's layout"},
                {"symlink-out", NULL, "\"workspace/out\": a symlink whose target is absolute, leaves"},
                {"symlink-abs", NULL, "\"workspace/abs\": a symlink whose target is absolute, leaves"},
                {"symlink-chain", NULL,
                 "\"workspace/dir/chain\": a symlink whose target is absolute, leaves"},
                {"alternates", NULL,
                 "\"history.git/objects/info/alternates\": a git file that makes the history"},
                {"symlink-history", NULL, "\"history.git/link\": a symlink outside workspace/"},
                {"hardlink", NULL, "\"workspace/hard\": a hard link"},
                {"device", NULL, "\"workspace/dev\": a device node"},
                {"fifo", NULL, "\"workspace/fifo\": a FIFO"},
                {"setuid", NULL, "\"workspace/suid\": a setuid, setgid or sticky bit"},
                {"mode", NULL, "\"workspace/wide\": a file mode other than 0644 or 0755"},
                {"deep", NULL, "a path deeper than an archive's may be"},
                {"processes-dir", NULL, "\"processes/sub/p1.json\": outside the archive's layout"},
                /* A pack is taken only through libgit2's indexer: a delta that is its own base (as the
                 * archive's .idx claims), or a truncated pack, never reaches the history. */
                {"pack-self-delta", NULL,
                 "\"history.git/objects/pack/pack-1111111111111111111111111111111111111111.pack\": not a "
                 "valid pack"},
                {"pack-truncated", NULL,
                 "\"history.git/objects/pack/pack-1111111111111111111111111111111111111111.pack\": not a "
                 "valid pack"},
                {"pack-bomb", "small",
                 "\"history.git/objects/pack/pack-1111111111111111111111111111111111111111.pack\": pack: an "
                 "object of 67108864 bytes, over"},
                /* libgit2 would size its tables by the header's count of objects. */
                {"pack-count", NULL, "not a valid pack: more objects than its size can hold"},
                {"multi-pack-index", NULL,
                 "\"history.git/objects/pack/multi-pack-index\": in objects/pack or objects/info but not"},
                {"commit-graph", NULL,
                 "\"history.git/objects/info/commit-graph\": in objects/pack or objects/info but not"},
                {"sha", NULL, "MANIFEST.json\": \"workspace/a.txt\": a SHA-256 other than the archive's"},
                {"size", NULL, "MANIFEST.json\": \"workspace/a.txt\": a size other than the archive's"},
                {"unlisted", NULL, "in the archive but not listed"},
                {"missing", NULL, "\"workspace/ghost\": listed but not in the archive"},
                {"no-manifest", NULL, "\"MANIFEST.json\": missing"},
                {"after-manifest", NULL, "\"workspace/late\": after MANIFEST.json"},
                {"truncated", NULL, "truncated or corrupt"},
                {"corrupt", NULL, "archive"},
                {"memory", NULL, "a brig-memory archive, not an environment's"},
                {"bomb", "small", "\"workspace/zeros\": the archive expands to more than 1048576 bytes"},
                {NULL, "tinyfiles", "\"workspace/dir/sub/blob\": 300000 bytes, over the policy's file size"},
                {NULL, "hard", "requires a hard workspace quota"},
        };
        char out[4096], args[256];
        int fd = attach(NULL);
        /* Every case runs, and the failures are reported together: one broken check names itself. */
        char failures[8192] = "";
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                const char *name = cases[i].bad ? cases[i].bad : "good";
                char id[16], path[256], line[1024];
                struct stat st;
                if (cases[i].bad)
                        make_archive(name, cases[i].bad);
                snprintf(id, sizeof(id), "bad%zu", i);
                snprintf(args, sizeof(args), "%s/%s.brig --as %s%s%s", tmp, name, id,
                         cases[i].policy ? " --policy " : "", cases[i].policy ? cases[i].policy : "");
                int st_code = cli_import(args, out, sizeof(out));
                snprintf(path, sizeof(path), "%s/environments/%s", d.state, id);
                if (st_code == 0 || !strstr(out, cases[i].error) || listed(fd, id) || stat(path, &st) == 0) {
                        snprintf(line, sizeof(line), "\n%s%s: exit %d, \"%.300s\" (expected \"%s\")", name,
                                 cases[i].policy ? " (policy)" : "", st_code, out, cases[i].error);
                        strncat(failures, line, sizeof(failures) - strlen(failures) - 1);
                }
        }
        if (*failures)
                fail_msg("not refused as expected:%s", failures);
        for (int i = 0; i < 500 && count_entries(".upload-") > 0; i++)
                usleep(10000);
        assert_int_equal(count_entries(".upload-"), 0);
        assert_int_equal(count_entries(".import-"), 0);
        /* Nothing escaped either. */
        struct stat st;
        assert_int_equal(stat("/tmp/brig-evil", &st), -1);
        close(fd);
}

static char *tree_hash(int fd) {
        return client_tree_hash(fd);
}

static char *history_ids(int fd) {
        return client_history_ids(fd);
}

/* Exports env with the CLI into tmp/ENV.brig, then imports that as `as` (its output into out); the source's
 * tree hash and history, read in between, into *ret_hash and *ret_hist (caller frees). */
static void export_then_import(int src, const char *env, const char *as, char *out, size_t size,
                               char **ret_hash, char **ret_hist) {
        char args[256];

        snprintf(args, sizeof(args), "%s/brig --socket %s env export %s -o %s/%s.brig >/dev/null 2>&1",
                 build_dir(), d.socket, env, tmp, env);
        assert_int_equal(system(args), 0);
        *ret_hash = tree_hash(src);
        *ret_hist = history_ids(src);
        snprintf(args, sizeof(args), "%s/%s.brig --as %s", tmp, env, as);
        if (cli_import(args, out, size) != 0)
                fail_msg("import of an export: %s", out);
}

/* The import attached as dst has the source's tree and history (src_hash and src_hist, borrowed). */
static void expect_copy_of(int dst, const char *src_hash, const char *src_hist) {
        char *dst_hash = tree_hash(dst), *dst_hist = history_ids(dst);
        assert_string_equal(dst_hash, src_hash);
        assert_string_equal(dst_hist, src_hist);
        free(dst_hash);
        free(dst_hist);
}

static void test_env_import__what_export_writes_comes_back(void **state) {
        (void) state;
        char out[4096];
        int src = attach("rt");

        /* big makes an archive of several chunks, which both CLIs send two at a time. */
        client_sh(src, "mkdir -p d/e && echo one > a && head -c 2500000 /dev/urandom > d/e/big && "
                       "printf '#!/bin/sh\\necho hi\\n' > d/run && chmod 755 d/run && ln -s ../a d/link");
        cJSON_Delete(tool(src, "snapshot", "{\"message\":\"first\"}"));
        /* No empty directory: a snapshot has none (docs/archive.md). */
        client_sh(src, "echo two >> a && rm -r d/e && echo new > d/new");
        cJSON_Delete(tool(src, "exec", "{\"command\":\"echo started\",\"background\":true}"));
        char *src_hash, *src_hist;
        export_then_import(src, "rt", "rt2", out, sizeof(out), &src_hash, &src_hist);
        /* Same policy, same digest: no warning. */
        assert_null(strstr(out, "warning"));
        int dst = attach("rt2");
        expect_copy_of(dst, src_hash, src_hist);
        assert_string_equal(client_sh(dst, "./d/run; readlink d/link"), "hi\n../a\n");
        /* Its history works: restore the first snapshot. */
        char first[96];
        snprintf(first, sizeof(first), "{\"snapshot\":\"%.40s\"}", src_hist + strlen(src_hist) - 41);
        cJSON_Delete(tool(dst, "restore", first));
        assert_string_equal(client_sh(dst, "cat a; wc -c < d/e/big"), "one\n2500000\n");
        /* The process came as a record, not running. */
        cJSON *pl = tool(dst, "process_list", "{}");
        cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(pl, "processes"), 0);
        assert_non_null(p);
        assert_string_not_equal(cJSON_GetObjectItem(p, "state")->valuestring, "running");
        cJSON_Delete(pl);
        close(dst);
        close(src);
        free(src_hash);
        free(src_hist);
}

/* A history packed at rest travels as its pack and index: the import has them, reads every snapshot from
 * them, and holds the same files. */
static void test_env_import__a_packed_history_comes_back(void **state) {
        (void) state;
        char out[4096], name[128], dir[PATH_MAX], path[PATH_MAX + 256];
        int src = attach("pk");
        struct stat st;

        client_sh(src, "mkdir d && for i in $(seq 1 1100); do echo $i > d/f$i; done");
        cJSON_Delete(tool(src, "snapshot", "{\"message\":\"many\"}"));
        client_wait_packed(src, "pk", name, sizeof(name));
        char *src_hash, *src_hist;
        export_then_import(src, "pk", "pk2", out, sizeof(out), &src_hash, &src_hist);
        int dst = attach("pk2");
        expect_copy_of(dst, src_hash, src_hist);
        client_pack_dir(dst, "pk2", dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(stat(path, &st), 0);
        /* A snapshot of the import finds every file already recorded. */
        cJSON *sc = tool(dst, "snapshot", "{}");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sc, "created")));
        cJSON_Delete(sc);
        snprintf(path, sizeof(path), "%s/pk.brig", tmp);
        (void) unlink(path);
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"pk2\"}"));
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"pk\"}"));
        close(dst);
        close(src);
        free(src_hash);
        free(src_hist);
}

static void restart_with_pause(const char *pause) {
        brigd_restart_with(&d, "BRIG_TEST_IMPORT_PAUSE", pause);
}

static void test_env_import__sigkill_mid_import_leaves_nothing(void **state) {
        (void) state;
        char pause[192], path[256], out[4096], args[256];
        struct stat st;

        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        snprintf(pause, sizeof(pause), "%s/import-pause", d.state);
        restart_with_pause(pause);
        pid_t pid = fork();
        if (pid == 0) {
                snprintf(args, sizeof(args), "%s/good.brig --as killed", tmp);
                _exit(cli_import(args, out, sizeof(out)));
        }
        for (int i = 0; i < 3000 && stat(pause, &st) < 0; i++)
                usleep(10000);
        assert_int_equal(stat(pause, &st), 0);
        assert_int_equal(count_entries(".import-killed"), 1);
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        int status;
        waitpid(pid, &status, 0);
        assert_int_not_equal(status, 0);
        unlink(pause);
        restart_with_pause(NULL);

        assert_int_equal(count_entries(".import-"), 0);
        assert_int_equal(count_entries(".upload-"), 0);
        snprintf(path, sizeof(path), "%s/environments/killed", d.state);
        assert_int_equal(stat(path, &st), -1);
        int fd = attach(NULL);
        assert_false(listed(fd, "killed"));
        /* The name is free: the same import now succeeds. */
        snprintf(args, sizeof(args), "%s/good.brig --as killed", tmp);
        assert_int_equal(cli_import(args, out, sizeof(out)), 0);
        assert_true(listed(fd, "killed"));
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_import__cli_recreates_workspace_history_and_processes),
                cmocka_unit_test(test_env_import__rpc_chunks_and_an_existing_id),
                cmocka_unit_test(test_env_import__from_a_passed_descriptor),
                cmocka_unit_test(test_env_import__malformed_archives_are_refused_naming_the_entry),
                cmocka_unit_test(test_env_import__what_export_writes_comes_back),
                cmocka_unit_test(test_env_import__a_packed_history_comes_back),
                cmocka_unit_test(test_env_import__sigkill_mid_import_leaves_nothing),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
