/* SPDX-License-Identifier: MIT */
/* Integration tests on a state directory or audit log that is really full (a small tmpfs, root only): an
 * environment whose metadata cannot be written is not created, a directory without readable metadata is
 * quarantined (listed, never adopted whatever the policy), calls whose audit record cannot be written are
 * refused with the log still verifiable line by line, a running background process keeps all its output
 * (a new one is refused, saying why), snapshots fail saying why while earlier ones stay listed and
 * restorable, a memory write fails as a tool error while the memory keeps its previous version (read,
 * history and search unchanged), and everything works again once space returns. */
#include <dirent.h>
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
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/wsimage.h"
#include "tests/integration/harness.h"
#include "worker/audit.h"

static char mnt[] = "/tmp/brig-full-XXXXXX";
static char filler[128];
/* No spare: a spare's set-up (and the removal of one that fails on the full disk) would change the free
 * space under the test. The spare's own case is test_full_disk__spare_is_not_adopted_without_metadata. */
static const char *brigd_args[5];

/* A private mount namespace with a tmpfs of `size` for the state directory, owned by whoever brigd runs
 * as. */
static void mount_state_dir_of(const char *size) {
        char opts[64];
        const char *mode = getenv("BRIG_TEST_MODE");

        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "# SKIP: a small tmpfs as state directory needs root\n");
                skip();
        }
        strcpy(mnt, "/tmp/brig-full-XXXXXX");
        assert_non_null(mkdtemp(mnt));
        snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
        assert_int_equal(mount("brig-full", mnt, "tmpfs", 0, opts), 0);
        if (mode && (strcmp(mode, "setpriv") == 0 || strcmp(mode, "userns") == 0))
                assert_int_equal(chown(mnt, 65534, 65534), 0);
        snprintf(filler, sizeof(filler), "%s/filler", mnt);
        brigd_args[0] = "--state-dir";
        brigd_args[1] = mnt;
        brigd_args[2] = "--spare-environments";
        brigd_args[3] = "0";
        brigd_args[4] = NULL;
}

static void mount_small_state_dir(void) {
        mount_state_dir_of("2m");
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

/* Starts brigd on the state directory mounted before, or skips the test (unmounting it) saying why. */
static void start_or_skip(brigd *d, const char *policy, const char *const *args) {
        const char *why = NULL;

        if (brigd_start_args(d, policy, args, &why) < 0) {
                unmount_state_dir();
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
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
        start_or_skip(&d, NULL, brigd_args);
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
        start_or_skip(&d, NULL, brigd_args);
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
        start_or_skip(&d, NULL, args);
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
        start_or_skip(&d, NULL, args);
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

/* brigd on a state directory of `size`, where an environment under `policy` got its workspace image (the
 * template's first copy): skipped where brigd cannot make images. */
static void start_imaged(brigd *d, const char *size, const char *policy) {
        char why[160];

        if (getenv("BRIG_TEST_MODE") || brig_wsimage_probe(why, sizeof(why)) < 0) {
                fprintf(stderr, "# SKIP: workspace images need brigd as root in the host's namespaces\n");
                skip();
        }
        mount_state_dir_of(size);
        start_or_skip(d, NULL, brigd_args);
        int fd = connect_to(d, "imaged", policy, NULL);
        cJSON *r = client_call(fd, 1, "{\"command\":\"true\"}", NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        close(fd);
}

static int names_ending(const char *dir, const char *suffix) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        while (d && (de = readdir(d)))
                n += strlen(de->d_name) > strlen(suffix) &&
                     strcmp(de->d_name + strlen(de->d_name) - strlen(suffix), suffix) == 0;
        return n;
}

/* Copies of the workspace template made ahead never take the state directory's last tenth: on 7 MiB, the
 * template and a 4 GiB environment's image (about 2.1 MiB each) leave room for one more copy, which would
 * leave less than that. */
static void test_full_disk__copies_made_ahead_leave_room(void **state) {
        (void) state;
        char ready[256];
        struct statvfs vfs;
        brigd d;

        start_imaged(&d, "7m", "default");
        /* The fill runs after the environment is made: wait for it to settle (a copy under way is a .tmp).
         */
        snprintf(ready, sizeof(ready), "%s/environments/.templates/ready", mnt);
        for (int i = 0; i < 50 || (i < 500 && names_ending(ready, ".tmp") > 0); i++)
                usleep(10000);
        fprintf(stderr, "# copies made ahead on 7 MiB: %d\n", names_ending(ready, ".img"));
        assert_int_equal(statvfs(mnt, &vfs), 0);
        assert_true(vfs.f_bavail >= vfs.f_blocks / 10);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* With the state directory full, an environment is not created even when its workspace image needs no
 * space (a ready copy, renamed into place): the image, set up while the metadata failed, goes with the
 * directory, unmounted, its loop device detached; with space back the same name is created. */
static void test_full_disk__no_image_left_when_metadata_fails(void **state) {
        (void) state;
        char ready[256], dir[256], ws[300];
        ino_t copies[BRIG_WSIMAGE_READY_MAX];
        brigd d;

        start_imaged(&d, "64m", "strict");
        snprintf(ready, sizeof(ready), "%s/environments/.templates/ready", mnt);
        assert_int_equal(ready_copies(ready, copies, BRIG_WSIMAGE_READY_MAX), BRIG_WSIMAGE_READY_MAX);
        fill();

        int fd = connect_to(&d, "full4", "strict", NULL);
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo hi\"}", NULL, NULL);
        char *text = error_text(r);
        fprintf(stderr, "# full, image ready: %s\n", text);
        assert_non_null(strstr(text, "not created: cannot write its metadata: No space left on device"));
        free(text);
        cJSON_Delete(r);
        snprintf(dir, sizeof(dir), "%s/environments/full4", mnt);
        snprintf(ws, sizeof(ws), "%s/workspace", dir);
        assert_false(env_dir_exists("full4"));
        assert_false(file_contains("/proc/self/mountinfo", ws));
        /* The loop device detaches itself once the lazy unmount is through: wait for that, boundedly. */
        for (int i = 0; i < 1000 && loop_backed_below(dir); i++)
                usleep(10000);
        assert_false(loop_backed_below(dir));

        assert_int_equal(unlink(filler), 0);
        r = client_call(fd, 2, "{\"command\":\"echo hi\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "hi\n");
        cJSON_Delete(r);
        assert_true(file_contains("/proc/self/mountinfo", ws));
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* The shipped default policy with a soft workspace quota, so that the workspace lives in the state
 * directory like the history and the process logs rather than on a filesystem image of its own (root's hard
 * quota), and with automatic snapshots. Written once, to a file brigd reads. */
/* In a directory of its own: brigd loads every policy beside the one it is given, and /tmp holds whatever
 * others left there (a stray "default" would be taken for this one). */
static char soft_policy_dir[] = "/tmp/brig-full-policy-XXXXXX";
static char soft_policy_path[sizeof(soft_policy_dir) + 16];

static void soft_policy_remove(void) {
        (void) unlink(soft_policy_path);
        (void) rmdir(soft_policy_dir);
}

static const char *soft_policy(void) {
        char *path = soft_policy_path;
        static bool written;
        char src[512];

        if (written)
                return path;
        snprintf(src, sizeof(src), "%s/policies/default.json", source_dir());
        FILE *f = fopen(src, "re");
        assert_non_null(f);
        static char text[65536];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = 0;
        cJSON *p = cJSON_Parse(text);
        assert_non_null(p);
        cJSON *quota = cJSON_CreateObject();
        cJSON_AddStringToObject(quota, "size", "4G");
        cJSON_AddStringToObject(quota, "enforce", "soft");
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "filesystem"), "workspace_quota", quota);
        cJSON_AddTrueToObject(cJSON_GetObjectItem(p, "history"), "auto_snapshot");
        char *out = cJSON_Print(p);
        cJSON_Delete(p);
        assert_non_null(mkdtemp(soft_policy_dir));
        assert_int_equal(chmod(soft_policy_dir, 0755), 0); /* brigd may run as another user */
        snprintf(path, sizeof(soft_policy_path), "%s/default.json", soft_policy_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, out, strlen(out)), (ssize_t) strlen(out));
        assert_int_equal(fchmod(fd, 0644), 0);
        close(fd);
        free(out);
        written = true;
        (void) atexit(soft_policy_remove);
        return path;
}

static cJSON *tool(int fd, int id, const char *name, const char *args) {
        cJSON *r = client_tool_call(fd, id, name, args, NULL, NULL);
        assert_non_null(r);
        return r;
}

/* process_output of `pid` from `offset` once the process has produced `total` bytes (or a failure). */
static cJSON *output_when(int fd, int *id, const char *pid, uint64_t offset, int total) {
        char args[128];
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\",\"offset\":%llu,\"limit\":1048576}", pid,
                 (unsigned long long) offset);
        for (int i = 0; i < 1500; i++) {
                cJSON *r = tool(fd, (*id)++, "process_output", args);
                if (cJSON_GetObjectItem(r, "error") || result_is_error(r) ||
                    sc_int(r, "output_bytes") >= total)
                        return r;
                cJSON_Delete(r);
                usleep(20000);
        }
        fail_msg("process %s never produced %d bytes", pid, total);
        return NULL;
}

static void process_write(int fd, int *id, const char *pid, const char *data) {
        size_t len = strlen(data) + 64;
        char *args = malloc(len);
        assert_non_null(args);
        snprintf(args, len, "{\"process_id\":\"%s\",\"data\":\"%s\"}", pid, data);
        cJSON *r = tool(fd, (*id)++, "process_write", args);
        free(args);
        if (result_is_error(r) || cJSON_GetObjectItem(r, "error")) {
                char *text = cJSON_PrintUnformatted(r);
                fail_msg("process_write: %s", text);
        }
        cJSON_Delete(r);
}

/* A background process's output log on a full state directory: the output of a process already running
 * is all kept (its log took its space when the process started), a process that cannot get its log is
 * not started, saying why, the worker keeps serving, and with space back new processes start. */
static void test_full_disk__process_log_keeps_output(void **state) {
        (void) state;
        mount_state_dir_of("4m");
        brigd d;
        start_or_skip(&d, soft_policy(), brigd_args);
        int id = 1, fd = connect_to(&d, "plog", "default", NULL);
        cJSON *r = client_call(fd, id++, "{\"command\":\"cat\",\"background\":true}", NULL, NULL);
        char pid[32];
        assert_non_null(sc_str(r, "process_id"));
        snprintf(pid, sizeof(pid), "%s", sc_str(r, "process_id"));
        cJSON_Delete(r);
        process_write(fd, &id, pid, "before\\n");
        cJSON_Delete(output_when(fd, &id, pid, 0, 7));

        fill();
        /* 256 KiB more output on the full disk, in lines of 64 KiB. */
        static char line[65536 + 8];
        memset(line, 'x', 65535);
        strcpy(line + 65535, "\\n");
        for (int i = 0; i < 4; i++)
                process_write(fd, &id, pid, line);
        const int total = 7 + 4 * 65536;
        r = output_when(fd, &id, pid, 0, total);
        char *text = cJSON_PrintUnformatted(r);
        fprintf(stderr, "# output on a full disk: %.300s\n", text);
        free(text);
        assert_false(result_is_error(r));
        assert_int_equal(sc_int(r, "output_bytes"), total);
        assert_int_equal(sc_int(r, "next_offset"), total);
        assert_int_equal(sc_int(r, "dropped_bytes"), 0);
        assert_int_equal(sc_int(r, "lost_bytes"), 0);
        assert_int_equal(strncmp(sc_str(r, "data"), "before\nxxx", 10), 0);
        assert_int_equal(strlen(sc_str(r, "data")), total);
        cJSON_Delete(r);

        /* A new process cannot get its log: not started, and the error says why. */
        r = client_call(fd, id++, "{\"command\":\"echo new\",\"background\":true}", NULL, NULL);
        text = cJSON_PrintUnformatted(r);
        fprintf(stderr, "# new process on a full disk: %s\n", text);
        assert_true(cJSON_GetObjectItem(r, "error") || result_is_error(r));
        assert_non_null(strstr(text, "No space left on device"));
        free(text);
        cJSON_Delete(r);
        /* The worker keeps serving. */
        r = client_call(fd, id++, "{\"command\":\"echo served\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "served\n");
        cJSON_Delete(r);

        /* Space returns: the running process's output goes on, new processes start. */
        assert_int_equal(unlink(filler), 0);
        process_write(fd, &id, pid, "after\\n");
        r = output_when(fd, &id, pid, (uint64_t) total, total + 6);
        assert_string_equal(sc_str(r, "data"), "after\n");
        cJSON_Delete(r);
        r = client_call(fd, id++, "{\"command\":\"echo new\",\"background\":true}", NULL, NULL);
        assert_false(result_is_error(r));
        char pid2[32];
        snprintf(pid2, sizeof(pid2), "%s", sc_str(r, "process_id"));
        cJSON_Delete(r);
        r = output_when(fd, &id, pid2, 0, 4);
        assert_string_equal(sc_str(r, "data"), "new\n");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

static bool history_has(const cJSON *resp, const char *snap) {
        const cJSON *s;
        cJSON_ArrayForEach (s, cJSON_GetObjectItem(result_sc(resp), "snapshots"))
                if (strcmp(cJSON_GetObjectItem(s, "id")->valuestring, snap) == 0)
                        return true;
        return false;
}

/* The history repository on a full state directory: a snapshot that cannot be written fails saying why
 * (and so does a restore, which must record the current state first), the snapshots made before are still
 * listed and restorable, and with space back snapshots work again (nothing half-written, no lock left
 * behind). */
static void test_full_disk__history_fails_clearly_and_recovers(void **state) {
        (void) state;
        mount_state_dir_of("4m");
        brigd d;
        start_or_skip(&d, soft_policy(), brigd_args);
        int id = 1, other = connect_to(&d, "other", "default", NULL);
        cJSON *r = client_call(other, id++, "{\"command\":\"echo ok\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "ok\n");
        cJSON_Delete(r);
        int fd = connect_to(&d, "hist", "default", NULL);
        char s1[64], s2[64], args[256];
        r = tool(fd, id++, "write_file", "{\"path\":\"a.txt\",\"content\":\"one\\n\"}");
        assert_non_null(sc_str(r, "snapshot"));
        snprintf(s1, sizeof(s1), "%s", sc_str(r, "snapshot"));
        cJSON_Delete(r);
        r = client_call(fd, id++, "{\"command\":\"head -c 300000 /dev/urandom > data.bin\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        r = tool(fd, id++, "snapshot", "{\"message\":\"s2\"}");
        assert_false(result_is_error(r));
        snprintf(s2, sizeof(s2), "%s", sc_str(r, "id"));
        cJSON_Delete(r);

        fill();
        /* A rename needs no new file content, only a new tree: that write fails too, and so does writing
         * the index back (index.lock) once the workspace is as the last snapshot has it. */
        static const char *const renames[] = {"mv a.txt b.txt", "mv b.txt a.txt"};
        for (size_t i = 0; i < 2; i++) {
                snprintf(args, sizeof(args), "{\"command\":\"%s\"}", renames[i]);
                r = client_call(fd, id++, args, NULL, NULL);
                assert_int_equal(sc_int(r, "exit_code"), 0);
                cJSON_Delete(r);
                r = tool(fd, id++, "snapshot", "{\"message\":\"renamed\"}");
                char *text = cJSON_PrintUnformatted(r);
                fprintf(stderr, "# snapshot of a rename on a full disk: %.400s\n", text);
                /* The second finds the workspace as the last snapshot has it: nothing to write. */
                assert_true(i == 1 || strstr(text, "No space left on device"));
                free(text);
                cJSON_Delete(r);
        }
        /* New content in place (tmpfs pages already there): 300 kB that no snapshot holds yet. */
        r = client_call(fd, id++,
                        "{\"command\":\"head -c 300000 /dev/urandom | dd of=data.bin conv=notrunc "
                        "status=none\"}",
                        NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        for (int i = 0; i < 3; i++) {
                r = tool(fd, id++, "snapshot", "{\"message\":\"full\"}");
                char *text = cJSON_PrintUnformatted(r);
                fprintf(stderr, "# snapshot on a full disk: %.400s\n", text);
                assert_true(result_is_error(r) || cJSON_GetObjectItem(r, "error"));
                assert_non_null(strstr(text, "No space left on device"));
                free(text);
                cJSON_Delete(r);
        }
        r = tool(fd, id++, "history", "{}");
        assert_false(result_is_error(r));
        assert_true(history_has(r, s1) && history_has(r, s2));
        cJSON_Delete(r);
        snprintf(args, sizeof(args), "{\"snapshot\":\"%s\"}", s1);
        r = tool(fd, id++, "restore", args);
        char *text = cJSON_PrintUnformatted(r);
        fprintf(stderr, "# restore on a full disk: %.400s\n", text);
        assert_true(result_is_error(r) || cJSON_GetObjectItem(r, "error"));
        assert_non_null(strstr(text, "No space left on device"));
        free(text);
        cJSON_Delete(r);
        /* Nothing was restored over the unrecorded state. */
        r = client_call(fd, id++, "{\"command\":\"ls\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "a.txt\ndata.bin\n");
        cJSON_Delete(r);
        r = client_call(other, id++, "{\"command\":\"echo still\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "still\n");
        cJSON_Delete(r);

        /* Space returns: snapshots work again, after the ones made before. */
        assert_int_equal(unlink(filler), 0);
        r = tool(fd, id++, "snapshot", "{\"message\":\"after\"}");
        text = cJSON_PrintUnformatted(r);
        fprintf(stderr, "# snapshot after space returned: %.400s\n", text);
        free(text);
        assert_false(result_is_error(r));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "created")));
        cJSON_Delete(r);
        r = tool(fd, id++, "restore", args);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        r = client_call(fd, id++, "{\"command\":\"ls; cat a.txt\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "a.txt\none\n");
        cJSON_Delete(r);
        r = tool(fd, id++, "history", "{}");
        assert_true(history_has(r, s1) && history_has(r, s2));
        cJSON_Delete(r);
        char lock[256];
        snprintf(lock, sizeof(lock), "%s/environments/hist/history.git/index.lock", mnt);
        assert_int_not_equal(access(lock, F_OK), 0);
        close(fd);
        close(other);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

/* The text of a tool call's result (static buffer); *is_error says whether it failed (a JSON-RPC error is a
 * test failure: a full disk must give the model a tool error, not break the call). */
static const char *tool_text(int fd, int id, const char *name, const char *args, bool *is_error) {
        static char out[16384];
        cJSON *r = tool(fd, id, name, args);
        const cJSON *res = cJSON_GetObjectItem(r, "result");

        if (!res)
                fail_msg("%s %s: %s", name, args, cJSON_PrintUnformatted(r));
        *is_error = result_is_error(r);
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "content"), 0);
        snprintf(out, sizeof(out), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "text")));
        cJSON_Delete(r);
        return out;
}

static const char *tool_ok(int fd, int id, const char *name, const char *args) {
        bool is_error;
        const char *out = tool_text(fd, id, name, args, &is_error);

        if (is_error)
                fail_msg("%s %s failed: %s", name, args, out);
        return out;
}

/* memory_write audit records of environment `env`. */
static int memory_writes(const brigd *d, const char *env) {
        int n = 0;
        cJSON *events = audit_events_read(d, "memory_write", NULL);
        const cJSON *e;

        cJSON_ArrayForEach (e, events) {
                const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(e, "environment"));
                n += got && strcmp(got, env) == 0;
        }
        cJSON_Delete(events);
        return n;
}

/* The memory store on a full state directory: a write (new content, or a rename that needs only a new
 * tree) fails as a tool error saying why and is not audited as made; the memory still reads as before, its
 * history and search still answer, nothing is left locked, and with space back the same writes work. */
static void test_full_disk__memory_keeps_its_previous_version(void **state) {
        (void) state;
        mount_state_dir_of("4m");
        brigd d;
        start_or_skip(&d, NULL, brigd_args);
        int id = 1, fd = connect_to(&d, "memfull", "default", NULL);
        bool is_error;
        tool_ok(fd, id++, "memory",
                "{\"command\":\"create\",\"path\":\"/memories/build.md\",\"file_text\":\"use make\\n\"}");
        tool_ok(fd, id++, "memory",
                "{\"command\":\"str_replace\",\"path\":\"/memories/build.md\",\"old_str\":\"make\","
                "\"new_str\":\"ninja -C build\"}");
        assert_non_null(
                strstr(tool_ok(fd, id++, "memory_search", "{\"query\":\"ninja\"}"), "/memories/build.md"));
        assert_int_equal(memory_writes(&d, "memfull"), 2);

        fill();
        static const char *const writes[] = {
                "{\"command\":\"insert\",\"path\":\"/memories/"
                "build.md\",\"insert_line\":1,\"insert_text\":\"or bazel\"}",
                "{\"command\":\"str_replace\",\"path\":\"/memories/build.md\",\"old_str\":\"ninja\","
                "\"new_str\":\"samurai\"}",
                "{\"command\":\"create\",\"path\":\"/memories/new.md\",\"file_text\":\"fresh\\n\"}",
                "{\"command\":\"rename\",\"old_path\":\"/memories/build.md\",\"new_path\":\"/memories/"
                "b.md\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(writes); i++) {
                const char *out = tool_text(fd, id++, "memory", writes[i], &is_error);
                fprintf(stderr, "# memory write on a full disk: %.300s\n", out);
                assert_true(is_error);
                assert_non_null(strstr(out, "No space left on device"));
        }
        assert_int_equal(memory_writes(&d, "memfull"), 2);
        assert_string_equal(
                tool_ok(fd, id++, "memory", "{\"command\":\"view\",\"path\":\"/memories/build.md\"}"),
                "Here's the content of /memories/build.md with line numbers:\n     1\tuse ninja -C "
                "build\n");
        const char *h = tool_ok(fd, id++, "memory_history", "{\"path\":\"/memories/build.md\"}");
        assert_non_null(strstr(h, "str_replace /memories/build.md by environment memfull"));
        assert_non_null(strstr(h, "create /memories/build.md by environment memfull"));
        assert_null(strstr(h, "/memories/new.md"));
        assert_non_null(
                strstr(tool_ok(fd, id++, "memory_search", "{\"query\":\"ninja\"}"), "/memories/build.md"));
        assert_non_null(
                strstr(tool_ok(fd, id++, "memory_search", "{\"query\":\"bazel\"}"), "No memory matches."));
        char lock[256];
        snprintf(lock, sizeof(lock), "%s/memory/owner/%u/refs/heads/main.lock", mnt, (unsigned) geteuid());
        assert_int_not_equal(access(lock, F_OK), 0);

        /* Space returns: the same writes work, after the versions made before. */
        assert_int_equal(unlink(filler), 0);
        tool_ok(fd, id++, "memory", writes[1]);
        tool_ok(fd, id++, "memory", writes[3]);
        assert_string_equal(
                tool_ok(fd, id++, "memory", "{\"command\":\"view\",\"path\":\"/memories/b.md\"}"),
                "Here's the content of /memories/b.md with line numbers:\n     1\tuse samurai -C "
                "build\n");
        assert_non_null(
                strstr(tool_ok(fd, id++, "memory_search", "{\"query\":\"samurai\"}"), "/memories/b.md"));
        assert_int_equal(memory_writes(&d, "memfull"), 4);
        h = tool_ok(fd, id++, "memory_history", "{}");
        assert_non_null(strstr(h, "rename /memories/build.md"));
        assert_non_null(strstr(h, "create /memories/build.md by environment memfull"));
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unmount_state_dir();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_disk__environment_is_not_created_without_metadata),
                cmocka_unit_test(test_full_disk__spare_is_not_adopted_without_metadata),
                cmocka_unit_test(test_full_disk__no_image_left_when_metadata_fails),
                cmocka_unit_test(test_full_disk__copies_made_ahead_leave_room),
                cmocka_unit_test(test_full_disk__directory_without_metadata_is_quarantined),
                cmocka_unit_test(test_full_disk__full_audit_log_refuses_calls_and_stays_verifiable),
                cmocka_unit_test(test_full_disk__process_log_keeps_output),
                cmocka_unit_test(test_full_disk__history_fails_clearly_and_recovers),
                cmocka_unit_test(test_full_disk__memory_keeps_its_previous_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
