/* SPDX-License-Identifier: MIT */
/* Integration tests on a state directory or audit log that is really full (a small tmpfs, root only): an
 * environment whose metadata cannot be written is not created, a directory without readable metadata is
 * quarantined (listed, never adopted whatever the policy), calls whose audit record cannot be written are
 * refused with the log still verifiable line by line, and everything works again once space returns. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "tests/integration/harness.h"
#include "worker/audit.h"

static char mnt[] = "/tmp/brig-full-XXXXXX";
static char filler[128];
/* No spare: a spare's set-up (and the removal of one that fails on the full disk) would change the free
 * space under the test. The spare's own case is test_full_disk__spare_is_not_adopted_without_metadata. */
static const char *brigd_args[5];

/* A private mount namespace with a 2 MiB tmpfs for the state directory, owned by whoever brigd runs as. */
static void mount_small_state_dir(void) {
        const char *mode = getenv("BRIG_TEST_MODE");

        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "# SKIP: a small tmpfs as state directory needs root\n");
                skip();
        }
        strcpy(mnt, "/tmp/brig-full-XXXXXX");
        assert_non_null(mkdtemp(mnt));
        assert_int_equal(mount("brig-full", mnt, "tmpfs", 0, "size=2m,mode=0755"), 0);
        if (mode && (strcmp(mode, "setpriv") == 0 || strcmp(mode, "userns") == 0))
                assert_int_equal(chown(mnt, 65534, 65534), 0);
        snprintf(filler, sizeof(filler), "%s/filler", mnt);
        brigd_args[0] = "--state-dir";
        brigd_args[1] = mnt;
        brigd_args[2] = "--spare-environments";
        brigd_args[3] = "0";
        brigd_args[4] = NULL;
}

/* Fills the filesystem to the last byte. */
static void fill(void) {
        static char block[4096];
        int fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        while (write(fd, block, sizeof(block)) > 0)
                ;
        while (write(fd, block, 1) > 0)
                ;
        assert_int_equal(errno, ENOSPC);
        close(fd);
}

static void unmount_state_dir(void) {
        (void) umount2(mnt, MNT_DETACH);
        (void) rmdir(mnt);
}

static int connect_to(const brigd *d, const char *env, const char *policy, cJSON **ret_init) {
        char meta[256];
        snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env, policy);
        int fd = client_connect(d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        if (ret_init)
                *ret_init = init;
        else
                cJSON_Delete(init);
        return fd;
}

/* The error text of a tools/call response, whichever form it took (JSON-RPC error or tool error). */
static char *error_text(const cJSON *resp) {
        return cJSON_PrintUnformatted(resp);
}

static bool env_dir_exists(const char *id) {
        char path[256];
        struct stat st;
        snprintf(path, sizeof(path), "%s/environments/%s", mnt, id);
        return stat(path, &st) == 0;
}

/* With the state directory full, a named environment is not created: the creating call fails, saying why,
 * nothing is left on disk, and with space back the same connection creates it with durable metadata. */
static void test_full_disk__environment_is_not_created_without_metadata(void **state) {
        (void) state;
        mount_small_state_dir();
        brigd d;
        const char *why = NULL;
        if (brigd_start_args(&d, NULL, brigd_args, &why) < 0) {
                unmount_state_dir();
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
        fill();
        int fd = connect_to(&d, "full1", "strict", NULL);
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo hi\"}", NULL, NULL);
        assert_non_null(r);
        char *text = error_text(r);
        fprintf(stderr, "# full: %s\n", text);
        assert_true(cJSON_GetObjectItem(r, "error") || result_is_error(r));
        assert_non_null(strstr(text, "not created: cannot write its metadata: No space left on device"));
        free(text);
        cJSON_Delete(r);
        assert_false(env_dir_exists("full1"));

        /* Space returns: the next call creates it, metadata first. */
        assert_int_equal(unlink(filler), 0);
        r = client_call(fd, 2, "{\"command\":\"echo hi > kept.txt; cat kept.txt\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), "hi\n");
        cJSON_Delete(r);
        char meta[256];
        snprintf(meta, sizeof(meta), "%s/environments/full1/meta.json", mnt);
        assert_int_equal(access(meta, R_OK), 0);
        close(fd);

        /* After a restart it is the same environment, under its own policy only. */
        kill(d.pid, SIGTERM);
        assert_int_equal(waitpid(d.pid, NULL, 0), d.pid);
        assert_int_equal(brigd_restart(&d, &why), 0);
        cJSON *init = NULL;
        fd = connect_to(&d, "full1", "default", &init);
        assert_null(init);
        close(fd);
        fd = connect_to(&d, "full1", "strict", NULL);
        r = client_call(fd, 3, "{\"command\":\"cat kept.txt\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "hi\n");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* As brigd's operator: root, or under `unshare -r` the user brigd runs as (root inside its namespace; the
 * test's own root is nobody there). Lists the environments, expects two quarantined, removes `id`. Returns
 * 0, or which step failed. */
static int operator_lists_and_removes(const brigd *d, const char *id) {
        const char *mode = getenv("BRIG_TEST_MODE");
        bool as_brigd_user = mode && strcmp(mode, "userns") == 0;
        int st;
        pid_t pid = as_brigd_user ? fork() : 0;

        if (pid < 0)
                return -1;
        if (pid > 0) {
                assert_int_equal(waitpid(pid, &st, 0), pid);
                return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
        }
        if (as_brigd_user && setresuid(65534, 65534, 65534) < 0)
                _exit(10);
        int fd = client_connect(d), quarantined = 0, r = 0;
        char msg[200];
        cJSON *init = client_initialize(fd, NULL);
        if (!init)
                r = 11;
        cJSON_Delete(init);
        if (!r && client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"brig/environment.list\"}") < 0)
                r = 12;
        cJSON *resp = r ? NULL : client_recv(fd, 30000);
        const cJSON *e;
        cJSON_ArrayForEach (e, cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "result"), "environments")) {
                const cJSON *state = cJSON_GetObjectItem(e, "state");
                quarantined += cJSON_IsString(state) && strcmp(state->valuestring, "quarantined") == 0;
        }
        cJSON_Delete(resp);
        if (!r && quarantined != 2)
                r = 13;
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"brig/"
                 "environment.destroy\",\"params\":{\"id\":\"%s\"}}",
                 id);
        if (!r && client_send(fd, msg) < 0)
                r = 14;
        resp = r ? NULL : client_recv(fd, 30000);
        if (!r && !cJSON_GetObjectItem(resp, "result"))
                r = 15;
        cJSON_Delete(resp);
        close(fd);
        if (!as_brigd_user)
                return r;
        _exit(r);
}

/* A directory without readable metadata (what a full disk left behind before) is quarantined: listed for
 * root, refused to every attach whatever the policy, and usable again only after root removes it. */
static void test_full_disk__directory_without_metadata_is_quarantined(void **state) {
        (void) state;
        mount_small_state_dir();
        char dir[256], secret[300], bad[256];
        const char *mode = getenv("BRIG_TEST_MODE");
        bool nobody = mode && (strcmp(mode, "setpriv") == 0 || strcmp(mode, "userns") == 0);

        snprintf(dir, sizeof(dir), "%s/environments/left/workspace", mnt);
        assert_int_equal(brig_mkdir_p(dir, 0755), 0);
        snprintf(secret, sizeof(secret), "%s/secret.txt", dir);
        FILE *f = fopen(secret, "w");
        assert_non_null(f);
        fputs("the old owner's data\n", f);
        fclose(f);
        /* One without meta.json, one with a truncated one. */
        snprintf(bad, sizeof(bad), "%s/environments/cut/workspace", mnt);
        assert_int_equal(brig_mkdir_p(bad, 0755), 0);
        snprintf(bad, sizeof(bad), "%s/environments/cut/meta.json", mnt);
        f = fopen(bad, "w");
        assert_non_null(f);
        fputs("{\"version\":1,\"id\":\"cut\",\"own", f);
        fclose(f);
        if (nobody) {
                char cmd[400];
                snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 %s", mnt);
                assert_int_equal(system(cmd), 0);
        }
        brigd d;
        const char *why = NULL;
        if (brigd_start_args(&d, NULL, brigd_args, &why) < 0) {
                unmount_state_dir();
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
        static const char *const tries[][2] = {{"left", "default"}, {"left", "strict"}, {"cut", "default"}};
        for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
                cJSON *init = NULL;
                int fd = connect_to(&d, tries[i][0], tries[i][1], &init);
                assert_null(init);
                close(fd);
        }
        /* The refusal says what to do. */
        int fd = client_connect(&d);
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"},"
                 "\"_meta\":{\"brig/environment\":\"left\"}}}");
        assert_int_equal(client_send(fd, msg), 0);
        cJSON *resp = client_recv(fd, 30000);
        assert_non_null(resp);
        char *text = cJSON_PrintUnformatted(resp);
        fprintf(stderr, "# refused: %s\n", text);
        assert_non_null(strstr(text, "is quarantined"));
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "error"), "code")->valueint, -32001);
        free(text);
        cJSON_Delete(resp);
        close(fd);

        /* Listed for the operator, who removes it: the name is free again, for a new empty workspace. */
        assert_int_equal(operator_lists_and_removes(&d, "left"), 0);
        for (int i = 0; i < 500 && env_dir_exists("left"); i++)
                usleep(10000);
        assert_false(env_dir_exists("left"));
        fd = connect_to(&d, "left", "default", NULL);
        cJSON *r = client_call(fd, 7, "{\"command\":\"ls\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* Checks the audit log line by line: each line whole, parsed, numbered in order and chained to the one
 * before. Returns the number of lines. */
static int verify_audit_log(const char *path) {
        char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int lines = 0;

        assert_non_null(f);
        while ((n = getline(&line, &cap, f)) > 0) {
                assert_int_equal(line[n - 1], '\n');
                cJSON *o = cJSON_Parse(line);
                assert_non_null(o);
                assert_int_equal(cJSON_GetObjectItem(o, "seq")->valueint, lines);
                assert_string_equal(cJSON_GetObjectItem(o, "prev")->valuestring, prev);
                char hash[65], computed[65];
                snprintf(hash, sizeof(hash), "%s", cJSON_GetObjectItem(o, "hash")->valuestring);
                cJSON_Delete(o);
                char *cut = strstr(line, ",\"hash\":\"");
                assert_non_null(cut);
                strcpy(cut, "}");
                assert_int_equal(brig_audit_line_hash(prev, line, computed), 0);
                assert_string_equal(computed, hash);
                memcpy(prev, hash, sizeof(prev));
                lines++;
        }
        free(line);
        fclose(f);
        return lines;
}

/* The audit log's filesystem is full: calls are refused (-32001) rather than run or answered unrecorded,
 * the log stays verifiable line by line, and calls work again once space returns. */
static void test_full_disk__full_audit_log_refuses_calls_and_stays_verifiable(void **state) {
        (void) state;
        char audit[160];
        const char *args[3] = {"--audit", audit, NULL};
        mount_small_state_dir();
        snprintf(audit, sizeof(audit), "%s/audit.jsonl", mnt);
        brigd d;
        const char *why = NULL;
        if (brigd_start_args(&d, NULL, args, &why) < 0) {
                unmount_state_dir();
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
        int fd = connect_to(&d, "audited", "default", NULL);
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo one\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "one\n");
        cJSON_Delete(r);
        fill();
        /* The log's last page may still take a record or two: call until one is refused. */
        int refused = 0;
        for (int id = 2; id < 40 && !refused; id++) {
                r = client_call(fd, id, "{\"command\":\"echo two\"}", NULL, NULL);
                assert_non_null(r);
                const cJSON *e = cJSON_GetObjectItem(r, "error");
                if (e) {
                        assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, -32001);
                        assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring,
                                               "audit log unavailable"));
                        refused = id;
                }
                cJSON_Delete(r);
        }
        assert_true(refused > 0);
        int before = verify_audit_log(audit);

        assert_int_equal(unlink(filler), 0);
        r = client_call(fd, 100, "{\"command\":\"echo three\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "three\n");
        cJSON_Delete(r);
        close(fd);
        assert_true(verify_audit_log(audit) >= before + 2);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* The same with a spare environment ready for the new one to adopt: its metadata cannot be written either,
 * so the call fails the same way, the environment's directory does not exist, and the next call after space
 * returns creates it. */
static void test_full_disk__spare_is_not_adopted_without_metadata(void **state) {
        (void) state;
        const char *args[5] = {"--state-dir", NULL, "--spare-environments", "1", NULL};
        mount_small_state_dir();
        args[1] = mnt;
        brigd d;
        const char *why = NULL;
        if (brigd_start_args(&d, NULL, args, &why) < 0) {
                unmount_state_dir();
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
        /* Let the spare finish building, so that the environment below adopts it: brigd says so. */
        char log[8192];
        size_t len = 0;
        for (int i = 0; i < 1500 && !memmem(log, len, "running (init pid", 17); i++) {
                ssize_t n = read(d.stderr_fd, log + len, sizeof(log) - 1 - len);
                if (n > 0)
                        len += (size_t) n;
                else
                        usleep(20000);
                if (len == sizeof(log) - 1)
                        len = 0;
        }
        assert_non_null(memmem(log, len, "running (init pid", 17));
        fill();
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, "{\"brig/environment\":\"full3\"}");
        assert_non_null(init);
        cJSON_Delete(init);
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo hi\"}", NULL, NULL);
        assert_non_null(r);
        char *text = error_text(r);
        fprintf(stderr, "# full, spare: %s\n", text);
        assert_non_null(strstr(text, "not created: cannot write its metadata: No space left on device"));
        free(text);
        cJSON_Delete(r);
        assert_false(env_dir_exists("full3"));

        assert_int_equal(unlink(filler), 0);
        /* The spare's jail may still be going away: the next call waits for that, then starts it anew. */
        r = client_call(fd, 2, "{\"command\":\"echo hi\"}", NULL, NULL);
        assert_non_null(r);
        char *after = cJSON_PrintUnformatted(r);
        fprintf(stderr, "# after space returned: %s\n", after);
        free(after);
        assert_string_equal(sc_str(r, "stdout"), "hi\n");
        cJSON_Delete(r);
        char meta[256];
        snprintf(meta, sizeof(meta), "%s/environments/full3/meta.json", mnt);
        assert_int_equal(access(meta, R_OK), 0);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_disk__environment_is_not_created_without_metadata),
                cmocka_unit_test(test_full_disk__spare_is_not_adopted_without_metadata),
                cmocka_unit_test(test_full_disk__directory_without_metadata_is_quarantined),
                cmocka_unit_test(test_full_disk__full_audit_log_refuses_calls_and_stays_verifiable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
