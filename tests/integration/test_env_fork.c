/* SPDX-License-Identifier: MIT */
/* brig/environment.fork against a real brigd: a fork at now and at an older snapshot has the source's
 * workspace and history up to that point and none of its processes, both then diverge independently, the
 * source is untouched, every refusal is precise, a fork cut short by a SIGKILL of brigd leaves nothing
 * that the next brigd adopts, and files changed after the fork point (or while it is taken) come into the
 * fork as the snapshot holds them. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;

/* Policies the forks may name (brigd --policy-dir): the default one's workspace quota, small, hard, roomy.
 */
static char policy_dir[64];
static const char *extra_args[] = {"--policy-dir", policy_dir, NULL};

static void policy_file(const char *name, const char *json) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s.json", policy_dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(json, f);
        fclose(f);
        chmod(path, 0644);
}

static int setup(void **state) {
        (void) state;
        snprintf(policy_dir, sizeof(policy_dir), "/tmp/brig-forkpol-XXXXXX");
        assert_non_null(mkdtemp(policy_dir));
        chmod(policy_dir, 0755);
        policy_file("small",
                    "{\"filesystem\":{\"workspace_quota\":{\"size\":\"1M\",\"enforce\":\"soft\"}}}");
        policy_file("hard", "{\"filesystem\":{\"workspace_quota\":{\"size\":\"1M\",\"enforce\":\"hard\"}}}");
        policy_file("roomy",
                    "{\"filesystem\":{\"workspace_quota\":{\"size\":\"64M\",\"enforce\":\"soft\"}}}");
        if (brigd_start_args(&d, NULL, extra_args, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        const char *names[] = {"small", "hard", "roomy"};
        char path[128];
        for (size_t i = 0; i < 3; i++) {
                snprintf(path, sizeof(path), "%s/%s.json", policy_dir, names[i]);
                unlink(path);
        }
        rmdir(policy_dir);
        return 0;
}

static int attach(const char *env) {
        return client_attach(&d, env, skip_why);
}

static cJSON *tool(int fd, const char *name, const char *args) {
        return client_tool_sc(fd, name, args);
}

static char *snapshot(int fd, const char *message) {
        char args[256];
        snprintf(args, sizeof(args), "{\"message\":\"%s\"}", message);
        cJSON *sc = tool(fd, "snapshot", args);
        char *id = strdup(cJSON_GetObjectItem(sc, "id")->valuestring);
        cJSON_Delete(sc);
        return id;
}

static char *history_ids(int fd) {
        return client_history_ids(fd);
}

static char *tree_hash(int fd) {
        return client_tree_hash(fd);
}

/* The error of a response: fails unless it is one with this code whose message contains needle. */
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

static cJSON *fork_env(int fd, const char *params) {
        cJSON *m = client_rpc(fd, "brig/environment.fork", params);
        if (!cJSON_GetObjectItem(m, "result")) {
                char *t = cJSON_PrintUnformatted(m);
                fail_msg("fork %s: %s", params, t);
        }
        return m;
}

static bool listed(int fd, const char *id) {
        return client_env_listed(fd, id);
}

/* "sleep N.PID": a command line no other run of this test on the host shares. */
static const char *sleeper(int n) {
        static char b[48];
        snprintf(b, sizeof(b), "sleep %d.%07d", n, (int) (getpid() % 10000000));
        return b;
}

static void test_env_fork__at_now_copies_workspace_and_history_not_processes(void **state) {
        (void) state;
        int src = attach("fsrc");
        char cmd[256];

        client_sh(src, "mkdir -p dir/sub && echo one > a && printf 'x%.0s' $(seq 1 3000) > dir/sub/b && "
                       "ln -s a link && echo ignored > ignored.pyc");
        free(snapshot(src, "first"));
        client_sh(src, "echo two >> a && echo new > dir/c && chmod 755 dir/c");
        free(snapshot(src, "second"));
        /* Unsnapshotted changes: a fork "now" snapshots them first. */
        client_sh(src, "echo three >> a && rm -r dir/sub");
        snprintf(cmd, sizeof(cmd), "(%s >/dev/null 2>&1 &); echo ok", sleeper(5151));
        assert_string_equal(client_sh(src, cmd), "ok\n");
        assert_int_equal(count_processes(sleeper(5151)), 1);

        cJSON *m = fork_env(src, "{\"from\":\"fsrc\",\"as\":\"fnow\"}");
        cJSON *res = cJSON_GetObjectItem(m, "result");
        assert_string_equal(cJSON_GetObjectItem(res, "id")->valuestring, "fnow");
        assert_string_equal(cJSON_GetObjectItem(res, "from")->valuestring, "fsrc");
        char *point = strdup(cJSON_GetObjectItem(res, "snapshot")->valuestring);
        assert_int_equal(strlen(point), 40);
        cJSON_Delete(m);

        /* The source's head is the fork point, its workspace as it was. */
        char *src_hist = history_ids(src);
        assert_memory_equal(src_hist, point, 40);
        char *src_hash = tree_hash(src);
        assert_true(listed(src, "fnow"));

        int fk = attach("fnow");
        char *fk_hist = history_ids(fk);
        assert_string_equal(fk_hist, src_hist);
        /* Everything a snapshot holds; the ignored file is not in history, so not in the fork. */
        assert_string_equal(client_sh(fk,
                                      "cat a; cat dir/c; readlink link; stat -c %a dir dir/c; ls -d dir/sub "
                                      "2>&1 | grep -c 'No such'; "
                                      "ls ignored.pyc 2>&1 | grep -c 'No such'"),
                            "one\ntwo\nthree\nnew\na\n755\n755\n1\n1\n");
        client_sh(src, "rm ignored.pyc");
        free(src_hash);
        src_hash = tree_hash(src);
        char *fk_hash = tree_hash(fk);
        assert_string_equal(fk_hash, src_hash);

        /* No process came along. */
        cJSON *pl = tool(fk, "process_list", "{}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(pl, "processes")), 0);
        cJSON_Delete(pl);
        assert_string_equal(client_sh(fk, "ps -e -o comm= | grep -c sleep || true"), "0\n");
        assert_int_equal(count_processes(sleeper(5151)), 1);

        /* Owned by the caller, with its own host uid when brigd is root. */
        m = client_rpc(fk, "brig/environment.info", "{\"id\":\"fnow\"}");
        cJSON *mi = client_rpc(src, "brig/environment.info", "{\"id\":\"fsrc\"}");
        cJSON *fi = cJSON_GetObjectItem(m, "result"), *si = cJSON_GetObjectItem(mi, "result");
        assert_int_equal(cJSON_GetObjectItem(fi, "owner_uid")->valueint,
                         cJSON_GetObjectItem(si, "owner_uid")->valueint);
        const char *mode = getenv("BRIG_TEST_MODE");
        if (geteuid() == 0 && !(mode && *mode)) {
                int juid = cJSON_GetObjectItem(fi, "jail_uid")->valueint;
                assert_int_not_equal(juid, cJSON_GetObjectItem(si, "jail_uid")->valueint);
                char path[512];
                struct stat st;
                snprintf(path, sizeof(path), "%s/dir/c", cJSON_GetObjectItem(fi, "workspace")->valuestring);
                assert_int_equal(lstat(path, &st), 0);
                assert_int_equal(st.st_uid, juid);
        }
        cJSON_Delete(m);
        cJSON_Delete(mi);

        /* They diverge: what each writes the other does not see; each history goes its own way. */
        client_sh(src, "echo from-src > only-src");
        client_sh(fk, "echo from-fork > only-fork && echo changed > a");
        char *s3 = snapshot(src, "src after fork");
        char *f3 = snapshot(fk, "fork after fork");
        assert_string_not_equal(s3, f3);
        assert_string_equal(client_sh(src, "cat a; ls only-fork 2>&1 | grep -c 'No such'"),
                            "one\ntwo\nthree\n1\n");
        assert_string_equal(client_sh(fk, "ls only-src 2>&1 | grep -c 'No such'"), "1\n");
        char *s_hist = history_ids(src), *f_hist = history_ids(fk);
        assert_memory_equal(s_hist, s3, 40);
        assert_memory_equal(f_hist, f3, 40);
        assert_string_equal(s_hist + 41, src_hist);
        assert_string_equal(f_hist + 41, src_hist);

        /* Diff and restore work on the shared snapshots in the fork. */
        char first[48];
        snprintf(first, sizeof(first), "%.40s", src_hist + strlen(src_hist) - 41);
        char args[256];
        snprintf(args, sizeof(args), "{\"from\":\"%s\",\"to\":\"%s\"}", first, point);
        cJSON *df = tool(fk, "diff", args);
        assert_non_null(strstr(cJSON_GetObjectItem(df, "diff")->valuestring, "+new"));
        cJSON_Delete(df);
        snprintf(args, sizeof(args), "{\"snapshot\":\"%s\"}", first);
        cJSON_Delete(tool(fk, "restore", args));
        assert_string_equal(client_sh(fk, "cat a; wc -c < dir/sub/b; ls dir/c 2>&1 | grep -c 'No such'"),
                            "one\n3000\n1\n");
        /* ... and the source did not move. */
        assert_string_equal(client_sh(src, "cat a; ls -d dir/sub 2>&1 | grep -c 'No such'"),
                            "one\ntwo\nthree\n1\n");

        /* The fork outlives its source: its history has objects of its own. */
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"fsrc\"}"));
        close(src);
        free(history_ids(fk));
        snprintf(args, sizeof(args), "{\"from\":\"%.12s\"}", point);
        df = tool(fk, "diff", args);
        cJSON_Delete(df);
        close(fk);
        for (int i = 0; i < 500 && count_processes(sleeper(5151)) > 0; i++)
                usleep(10000);
        free(point);
        free(src_hist);
        free(src_hash);
        free(fk_hist);
        free(fk_hash);
        free(s3);
        free(f3);
        free(s_hist);
        free(f_hist);
}

static void test_env_fork__at_an_older_snapshot(void **state) {
        (void) state;
        int src = attach("osrc");
        char params[256];

        client_sh(src, "echo v1 > f && mkdir d && echo keep > d/k");
        char *s1 = snapshot(src, "v1");
        client_sh(src, "echo v2 > f && rm -r d && echo later > g");
        char *s2 = snapshot(src, "v2");
        client_sh(src, "echo v3 > f");
        char *before = tree_hash(src);
        char *src_hist = history_ids(src);

        /* A unique prefix names it as well as the full id. */
        snprintf(params, sizeof(params), "{\"from\":\"osrc\",\"as\":\"old\",\"snapshot\":\"%.8s\"}", s1);
        cJSON *m = fork_env(src, params);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "snapshot")->valuestring,
                            s1);
        cJSON_Delete(m);
        /* At an older point, the source takes no snapshot and is untouched. */
        char *after = tree_hash(src), *src_hist2 = history_ids(src);
        assert_string_equal(after, before);
        assert_string_equal(src_hist2, src_hist);

        int fk = attach("old");
        assert_string_equal(client_sh(fk, "cat f d/k; ls g 2>&1 | grep -c 'No such'"), "v1\nkeep\n1\n");
        char *fk_hist = history_ids(fk);
        char expect[64];
        snprintf(expect, sizeof(expect), "%s ", s1);
        assert_string_equal(fk_hist, expect);
        /* Unchanged since the fork point: the first snapshot of the fork finds nothing new. */
        cJSON *sc = tool(fk, "snapshot", "{}");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sc, "created")));
        assert_string_equal(cJSON_GetObjectItem(sc, "id")->valuestring, s1);
        cJSON_Delete(sc);
        /* The later snapshot is not in its history. */
        char args[128];
        snprintf(args, sizeof(args), "{\"snapshot\":\"%s\"}", s2);
        cJSON *r = client_tool_call(fk, 99, "restore", args, NULL, NULL);
        assert_true(result_is_error(r));
        cJSON_Delete(r);

        /* HEAD~N names an older one too, and the CLI forks as well. */
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s env fork osrc --at HEAD~1 cli-fork >/dev/null",
                 build_dir(), d.socket);
        assert_int_equal(system(cmd), 0);
        int cf = attach("cli-fork");
        assert_string_equal(client_sh(cf, "cat f"), "v1\n");
        close(cf);
        close(fk);
        close(src);
        free(s1);
        free(s2);
        free(before);
        free(after);
        free(src_hist);
        free(src_hist2);
        free(fk_hist);
}

static void test_env_fork__refusals_are_precise_and_leave_nothing(void **state) {
        (void) state;
        int fd = attach("esrc");
        client_sh(fd, "for i in $(seq 1 20); do head -c 100000 /dev/urandom > r$i; done");
        free(snapshot(fd, "big"));
        cJSON *m = fork_env(fd, "{\"from\":\"esrc\",\"as\":\"etaken\"}");
        cJSON_Delete(m);

        static const struct {
                const char *params;
                int code;
                const char *error;
        } refused[] = {
                {"{\"from\":\"no-such\",\"as\":\"x1\"}", -32602, "no environment \"no-such\""},
                {"{\"from\":\"esrc\",\"as\":\"etaken\"}", -32602, "environment \"etaken\" exists"},
                {"{\"from\":\"esrc\",\"as\":\"esrc\"}", -32602, "environment \"esrc\" exists"},
                {"{\"from\":\"esrc\",\"as\":\"../evil\"}", -32602, "expected 1-64 of"},
                {"{\"from\":\"esrc\",\"as\":\".hidden\"}", -32602, "expected 1-64 of"},
                {"{\"from\":\"esrc\"}", -32602, "params.as"},
                {"{\"from\":\"esrc\",\"as\":\"x2\",\"snapshot\":\"ffff\"}", -32602, "no snapshot \"ffff\""},
                {"{\"from\":\"esrc\",\"as\":\"x3\",\"snapshot\":\"HEAD~50\"}", -32602,
                 "goes back past the first snapshot"},
                {"{\"from\":\"esrc\",\"as\":\"x4\",\"snapshot\":\":/regex\"}", -32602,
                 "expected a snapshot id"},
                {"{\"from\":\"esrc\",\"as\":\"x5\",\"policy\":\"no-such\"}", -32602, "no-such"},
                /* The quota of the fork's policy counts what it starts with: 2 MB does not fit in 1 MB. */
                {"{\"from\":\"esrc\",\"as\":\"x6\",\"policy\":\"small\"}", -32001,
                 "over the policy's workspace quota"},
                {"{\"from\":\"esrc\",\"as\":\"x7\",\"policy\":\"hard\"}", -32602,
                 "requires a hard workspace quota"},
        };
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                expect_error(client_rpc(fd, "brig/environment.fork", refused[i].params), refused[i].code,
                             refused[i].error);
        /* A quota it fits in is fine, and the fork runs that policy. */
        m = fork_env(fd, "{\"from\":\"esrc\",\"as\":\"x8\",\"policy\":\"roomy\"}");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "policy")->valuestring,
                            "roomy");
        cJSON_Delete(m);

        /* None of the refused ones exists, on disk or in the list; their names are free. */
        for (int i = 1; i <= 7; i++) {
                char id[8], path[256];
                struct stat st;
                snprintf(id, sizeof(id), "x%d", i);
                assert_false(listed(fd, id));
                snprintf(path, sizeof(path), "%s/environments/x%d", d.state, i);
                assert_int_equal(stat(path, &st), -1);
                snprintf(path, sizeof(path), "%s/environments/.fork-x%d", d.state, i);
                assert_int_equal(stat(path, &st), -1);
        }
        m = fork_env(fd, "{\"from\":\"esrc\",\"as\":\"x6\"}");
        cJSON_Delete(m);
        /* Through the CLI: the message and a failing exit status. */
        char cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "%s/brig --socket %s env fork esrc x6 2>&1 | grep -q 'environment \"x6\" exists'",
                 build_dir(), d.socket);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s env fork esrc x9 >/dev/null 2>&1 --at ffff",
                 build_dir(), d.socket);
        assert_int_not_equal(system(cmd), 0);
        close(fd);
}

/* As uid 65534 (a forked child): the result of brig/environment.fork params, as an exit status: 0 for a
 * success whose owner is 65534, 10 + n for an error whose message contains needle, 1 otherwise. */
static int fork_as_nobody(const char *params, const char *needle) {
        pid_t pid = fork();
        if (pid == 0) {
                int code = 1;
                if (setgid(65534) == 0 && setuid(65534) == 0) {
                        int fd = client_connect(&d);
                        cJSON *init = client_initialize(fd, "{\"brig/environment\":\"nobody-src\"}");
                        char msg[512];
                        snprintf(msg, sizeof(msg),
                                 "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"brig/"
                                 "environment.fork\",\"params\":%s}",
                                 params);
                        if (init && client_send(fd, msg) == 0) {
                                cJSON *m = client_recv(fd, 30000);
                                cJSON *res = cJSON_GetObjectItem(m, "result"),
                                      *e = cJSON_GetObjectItem(m, "error");
                                if (res && !needle &&
                                    cJSON_GetObjectItem(res, "owner_uid")->valueint == 65534)
                                        code = 0;
                                else if (e && needle &&
                                         strstr(cJSON_GetObjectItem(e, "message")->valuestring, needle))
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

static void test_env_fork__only_the_owner_forks_and_the_fork_is_the_callers(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                /* Under setpriv or unshare, peer credentials are seen through brigd's user namespace. */
                fprintf(stderr, "# SKIP: needs brigd and the test as root, to act as another user\n");
                skip();
        }
        int fd = attach("root-src");
        client_sh(fd, "echo mine > f");
        assert_int_equal(chmod(d.socket, 0666), 0);
        /* Someone else's environment looks like none. */
        assert_int_equal(
                fork_as_nobody("{\"from\":\"root-src\",\"as\":\"stolen\"}", "no environment \"root-src\""),
                10);
        assert_false(listed(fd, "stolen"));
        /* Their own: the fork is theirs. */
        assert_int_equal(fork_as_nobody("{\"from\":\"nobody-src\",\"as\":\"nobody-fork\"}", NULL), 0);
        /* Root may fork anyone's; the fork is root's, with its own host uid. */
        cJSON *m = fork_env(fd, "{\"from\":\"nobody-src\",\"as\":\"root-fork\"}");
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "owner_uid")->valueint, 0);
        cJSON_Delete(m);
        assert_int_equal(chmod(d.socket, 0600), 0);
        close(fd);
}

/* brigd restarted with the fork's test hook: a fork complete but for its rename creates pause and waits
 * while it exists. */
static void restart_with_pause(const char *pause) {
        brigd_restart_with(&d, "BRIG_TEST_FORK_PAUSE", pause);
}

/* brigd restarted with a fork's test hook set to <state>/name, written into pause; the test is skipped
 * where brigd does not run. */
static void restart_paused_at(const char *hook, const char *name, char *pause, size_t size) {
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        snprintf(pause, size, "%s/%s", d.state, name);
        brigd_restart_with(&d, hook, pause);
}

static void wait_for(const char *path) {
        struct stat st;
        for (int i = 0; i < 3000 && stat(path, &st) < 0; i++)
                usleep(10000);
        assert_int_equal(stat(path, &st), 0);
}

static int count_fork_dirs(void) {
        char path[256];
        int n = 0;
        snprintf(path, sizeof(path), "%s/environments", d.state);
        DIR *dir = opendir(path);
        assert_non_null(dir);
        for (struct dirent *de; (de = readdir(dir));)
                n += strncmp(de->d_name, ".fork-", 6) == 0;
        closedir(dir);
        return n;
}

static void test_env_fork__source_destroyed_or_sigkill_mid_fork_leaves_nothing(void **state) {
        (void) state;
        char pause[192], path[256];
        struct stat st;

        restart_paused_at("BRIG_TEST_FORK_PAUSE", "fork-pause", pause, sizeof(pause));
        int fd = attach("ksrc");
        client_sh(fd, "echo data > f");

        /* The source goes while the fork is being built: the fork is refused and leaves nothing. */
        int id = client_rpc_send(fd, "brig/environment.fork", "{\"from\":\"ksrc\",\"as\":\"orphan\"}");
        wait_for(pause);
        int admin = attach(NULL);
        cJSON_Delete(client_rpc(admin, "brig/environment.destroy", "{\"id\":\"ksrc\"}"));
        assert_false(listed(admin, "orphan"));
        unlink(pause);
        expect_error(client_rpc_wait(fd, id), -32602, "environment \"ksrc\" was destroyed during the fork");
        assert_false(listed(admin, "orphan"));
        snprintf(path, sizeof(path), "%s/environments/orphan", d.state);
        for (int i = 0; i < 500 && stat(path, &st) == 0; i++)
                usleep(10000);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(count_fork_dirs(), 0);
        close(admin);
        close(fd);

        /* SIGKILL with the fork complete but for its rename. */
        fd = attach("ksrc2");
        client_sh(fd, "echo data > f");
        id = client_rpc_send(fd, "brig/environment.fork", "{\"from\":\"ksrc2\",\"as\":\"killed\"}");
        wait_for(pause);
        /* Meanwhile the id is taken, yet nobody sees it. */
        int other = client_connect(&d);
        assert_int_equal(
                client_send(other, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                                   "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                                   "\"name\":\"x\",\"version\":\"1\"},\"_meta\":{\"brig/environment\":"
                                   "\"killed\"}}}"),
                0);
        expect_error(client_recv(other, 10000), -32001, "environment \"killed\" is being created by a fork");
        close(other);
        assert_int_equal(count_fork_dirs(), 1);
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        close(fd);
        unlink(pause);
        restart_with_pause(NULL);

        /* Nothing of it was adopted, and its leftovers are gone. */
        assert_int_equal(count_fork_dirs(), 0);
        snprintf(path, sizeof(path), "%s/environments/killed", d.state);
        assert_int_equal(stat(path, &st), -1);
        fd = attach("ksrc2");
        assert_false(listed(fd, "killed"));
        /* The name is free: the same fork now succeeds. */
        cJSON_Delete(fork_env(fd, "{\"from\":\"ksrc2\",\"as\":\"killed\"}"));
        int fk = attach("killed");
        assert_string_equal(client_sh(fk, "cat f"), "data\n");
        close(fk);
        close(fd);
}

/* The host path of an environment's workspace. */
static void workspace_of(int fd, const char *env, char *buf, size_t size) {
        char params[128];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", env);
        cJSON *m = client_rpc(fd, "brig/environment.info", params);
        snprintf(buf, size, "%s",
                 cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "workspace")->valuestring);
        cJSON_Delete(m);
}

/* Rewrites the file in place with text of the same size and puts its mtime back: only its ctime tells. */
static void rewrite_in_place(const char *path, const char *text) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t) strlen(text));
        close(fd);
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, (off_t) strlen(text));
}

/* The content of a file, at most size - 1 bytes. */
static const char *read_text(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        ssize_t n = read(fd, buf, size - 1);
        assert_true(n >= 0);
        buf[n] = 0;
        close(fd);
        return buf;
}

/* The blob of `file` in snapshot `commit` of the history beside `workspace`, read with git. */
static const char *snapshot_text(const char *workspace, const char *commit, const char *file, char *buf,
                                 size_t size) {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "git -c safe.directory='*' --git-dir='%s/../history.git' cat-file blob %s:%s", workspace,
                 commit, file);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(buf, 1, size - 1, p);
        buf[n] = 0;
        assert_int_equal(pclose(p), 0);
        return buf;
}

static void test_env_fork__files_changed_after_the_fork_point_come_from_the_snapshot(void **state) {
        (void) state;
        char pause[192], ws[512], fws[512], path[640], text[64];

        /* The hook pauses a fork between its fork point and its files. */
        restart_paused_at("BRIG_TEST_FORK_COPY_PAUSE", "fork-copy-pause", pause, sizeof(pause));
        int src = attach("csrc");
        client_sh(src, "printf AAAAAAAA > f && printf keep > k && mkdir d && printf BBBB > d/g");
        char *s1 = snapshot(src, "s1");
        workspace_of(src, "csrc", ws, sizeof(ws));
        snprintf(path, sizeof(path), "%s/f", ws);

        /* At an explicit snapshot, changed since. */
        rewrite_in_place(path, "XXXXXXXX");
        char params[256];
        snprintf(params, sizeof(params), "{\"from\":\"csrc\",\"as\":\"cexp\",\"snapshot\":\"%s\"}", s1);
        int id = client_rpc_send(src, "brig/environment.fork", params);
        wait_for(pause);
        unlink(pause);
        cJSON *m = client_rpc_wait(src, id);
        assert_non_null(cJSON_GetObjectItem(m, "result"));
        cJSON_Delete(m);
        workspace_of(src, "cexp", fws, sizeof(fws));
        snprintf(path, sizeof(path), "%s/f", fws);
        assert_string_equal(read_text(path, text, sizeof(text)), "AAAAAAAA");

        /* At now, changed after the fork point's snapshot, before its files are written. The change must
         * be older than the snapshot for the fork to consider copying the file at all. */
        snprintf(path, sizeof(path), "%s/f", ws);
        rewrite_in_place(path, "CCCCCCCC");
        usleep(100 * 1000);
        id = client_rpc_send(src, "brig/environment.fork", "{\"from\":\"csrc\",\"as\":\"cnow\"}");
        wait_for(pause);
        rewrite_in_place(path, "YYYYYYYY");
        unlink(pause);
        m = client_rpc_wait(src, id);
        assert_non_null(cJSON_GetObjectItem(m, "result"));
        char *point = strdup(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "snapshot")->valuestring);
        cJSON_Delete(m);
        workspace_of(src, "cnow", fws, sizeof(fws));
        assert_string_equal(snapshot_text(fws, point, "f", text, sizeof(text)), "CCCCCCCC");
        snprintf(path, sizeof(path), "%s/f", fws);
        assert_string_equal(read_text(path, text, sizeof(text)), "CCCCCCCC");
        snprintf(path, sizeof(path), "%s/k", fws);
        assert_string_equal(read_text(path, text, sizeof(text)), "keep");
        snprintf(path, sizeof(path), "%s/d/g", fws);
        assert_string_equal(read_text(path, text, sizeof(text)), "BBBB");
        /* The source keeps its change; the fork's first snapshot finds nothing to record. */
        snprintf(path, sizeof(path), "%s/f", ws);
        assert_string_equal(read_text(path, text, sizeof(text)), "YYYYYYYY");
        int fk = attach("cnow");
        cJSON *sc = tool(fk, "snapshot", "{}");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sc, "created")));
        assert_string_equal(cJSON_GetObjectItem(sc, "id")->valuestring, point);
        cJSON_Delete(sc);
        close(fk);
        close(src);
        brigd_restart_with(&d, "BRIG_TEST_FORK_COPY_PAUSE", NULL);
        free(point);
        free(s1);
}

static void test_env_fork__during_a_rewrite_the_fork_holds_its_snapshot(void **state) {
        (void) state;
        char ws[512], got[64], want[64], path[640];

        if (getenv("BRIG_TEST_FORK_COPY_PAUSE")) /* the test before failed half-way */
                brigd_restart_with(&d, "BRIG_TEST_FORK_COPY_PAUSE", NULL);
        int src = attach("rsrc");

        /* f rewritten in place (same size), g truncated and rewritten, as fast as the shell goes. */
        assert_string_equal(
                client_sh(src, "printf aaaaaaaaaaaaaaaa > f; printf aaaa > g; "
                               "(while :; do printf bbbbbbbbbbbbbbbb 1<> f; printf cccc > g; "
                               "printf aaaaaaaaaaaaaaaa 1<> f; printf aaaa > g; done) >/dev/null 2>&1 & "
                               "echo ok"),
                "ok\n");
        for (int i = 0; i < 4; i++) {
                char params[128], as[16];
                snprintf(as, sizeof(as), "rw%d", i);
                snprintf(params, sizeof(params), "{\"from\":\"rsrc\",\"as\":\"%s\"}", as);
                cJSON *m = fork_env(src, params);
                const char *point =
                        cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "snapshot")->valuestring;
                workspace_of(src, as, ws, sizeof(ws));
                const char *files[] = {"f", "g"};
                for (size_t k = 0; k < 2; k++) {
                        snprintf(path, sizeof(path), "%s/%s", ws, files[k]);
                        assert_string_equal(read_text(path, got, sizeof(got)),
                                            snapshot_text(ws, point, files[k], want, sizeof(want)));
                }
                cJSON_Delete(m);
        }
        /* Its processes go with it. */
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"rsrc\"}"));
        close(src);
}

/* A history with 1,000 or more loose objects is packed once the environment rests (nothing is asked of it
 * here: the test only watches the directory, for at most a minute), its snapshots are read from the pack,
 * and a fork hard-links the pack instead of copying objects. */
static void test_env_fork__a_rested_history_is_packed_and_the_fork_links_it(void **state) {
        (void) state;
        int src = attach("psrc");
        char name[128], dir[PATH_MAX], path[PATH_MAX + 256];
        struct stat st;

        client_sh(src, "mkdir d && for i in $(seq 1 1100); do echo $i > d/f$i; done");
        free(snapshot(src, "many"));
        char *ids = history_ids(src), *tree = tree_hash(src);
        client_wait_packed(src, "psrc", name, sizeof(name));
        char *again = history_ids(src);
        assert_string_equal(again, ids);
        free(again);

        cJSON_Delete(fork_env(src, "{\"from\":\"psrc\",\"as\":\"pfork\"}"));
        int f = attach("pfork");
        char *ftree = tree_hash(f);
        assert_string_equal(ftree, tree);
        free(ftree);
        client_pack_dir(src, "pfork", dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_nlink >= 2);
        free(ids);
        free(tree);
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"pfork\"}"));
        cJSON_Delete(client_rpc(src, "brig/environment.destroy", "{\"id\":\"psrc\"}"));
        close(f);
        close(src);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_fork__at_now_copies_workspace_and_history_not_processes),
                cmocka_unit_test(test_env_fork__at_an_older_snapshot),
                cmocka_unit_test(test_env_fork__refusals_are_precise_and_leave_nothing),
                cmocka_unit_test(test_env_fork__only_the_owner_forks_and_the_fork_is_the_callers),
                cmocka_unit_test(test_env_fork__source_destroyed_or_sigkill_mid_fork_leaves_nothing),
                cmocka_unit_test(test_env_fork__files_changed_after_the_fork_point_come_from_the_snapshot),
                cmocka_unit_test(test_env_fork__during_a_rewrite_the_fork_holds_its_snapshot),
                cmocka_unit_test(test_env_fork__a_rested_history_is_packed_and_the_fork_links_it),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
