/* SPDX-License-Identifier: MIT */
/* Workspace quotas through a real brigd: hard (the workspace on its own filesystem image) where brigd is
 * root, with ENOSPC inside the jail, kept across a restart and undone by destroy; refused when the policy
 * requires hard and brigd cannot (rootless modes); soft with its reason otherwise; quotas in the shipped
 * policies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/policy.h"
#include "sandbox/wsimage.h"
#include "tests/integration/harness.h"

typedef struct qt {
        brigd d;
        char tmp[64], policy[128];
        int fd, id;
} qt;

static const char *mode(void) {
        const char *m = getenv("BRIG_TEST_MODE");
        return m && m[0] ? m : NULL;
}

/* Starts brigd (with more options args, or NULL) with a policy whose quota is quota_json, and attaches
 * environment "q". */
static void qt_start_args(qt *t, const char *quota_json, const char *const *args) {
        const char *why = NULL;
        char text[1024];

        snprintf(t->tmp, sizeof(t->tmp), "/tmp/brig-quota-XXXXXX");
        assert_non_null(mkdtemp(t->tmp));
        assert_int_equal(chmod(t->tmp, 0755), 0);
        snprintf(t->policy, sizeof(t->policy), "%s/quota.json", t->tmp);
        snprintf(text, sizeof(text),
                 "{\"name\": \"quota\", \"filesystem\": {\"read_only\": [\"/usr\", \"/bin\", \"/lib\", "
                 "{\"source\": \"/lib64\", \"optional\": true}], \"tmpfs\": [{\"path\": \"/tmp\", \"size\": "
                 "\"64M\"}], \"workspace_quota\": %s}, \"env\": {\"PATH\": \"/usr/bin:/bin\"}}",
                 quota_json);
        FILE *f = fopen(t->policy, "w");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(t->policy, 0644), 0);
        assert_int_equal(brigd_start_args(&t->d, t->policy, args, &why), 0);
        t->fd = client_connect(&t->d);
        assert_true(t->fd >= 0);
        cJSON *init = client_initialize(t->fd, "{\"brig/environment\":\"q\"}");
        assert_non_null(init);
        cJSON_Delete(init);
        t->id = 1;
}

static void qt_start(qt *t, const char *quota_json) {
        qt_start_args(t, quota_json, NULL);
}

static void qt_stop(qt *t) {
        if (t->fd >= 0)
                close(t->fd);
        assert_int_equal(brigd_stop(&t->d), 0);
        (void) unlink(t->policy);
        (void) rmdir(t->tmp);
}

/* A request other than tools/call; returns its response (caller frees). */
static cJSON *request(qt *t, const char *method, const char *params) {
        char msg[512];
        int id = t->id++;

        snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
                 method, params);
        assert_int_equal(client_send(t->fd, msg), 0);
        for (;;) {
                cJSON *m = client_recv(t->fd, 60000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id)
                        return m;
                cJSON_Delete(m);
        }
}

/* brig/environment.info's "quota" member as text ("{...}" or "null"), in buf. */
static const char *quota_info(qt *t, char *buf, size_t size) {
        cJSON *r = request(t, "brig/environment.info", "{\"id\":\"q\"}");
        cJSON *q = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "quota");
        char *s = q ? cJSON_PrintUnformatted(q) : NULL;
        snprintf(buf, size, "%s", s ? s : "null");
        free(s);
        cJSON_Delete(r);
        return buf;
}

static cJSON *run(qt *t, const char *command) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(t->fd, t->id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        return r;
}

/* Skips the test unless brigd can make hard quotas here: as root, in the host's namespaces. */
static void skip_without_hard_quota(void) {
        char why[160];

        if (mode() || geteuid() != 0) {
                fprintf(stderr, "# SKIP: a hard quota needs brigd as root (mode %s)\n",
                        mode() ? mode() : "-");
                skip();
        }
        if (brig_wsimage_probe(why, sizeof(why)) < 0) {
                fprintf(stderr, "# SKIP: no hard quota on this host: %s\n", why);
                skip();
        }
}

static void test_quota__hard_enospc_survives_restart_and_goes_with_destroy(void **state) {
        (void) state;
        char buf[512], ws[256], env_dir[256], image[300];
        qt t = {.fd = -1};

        skip_without_hard_quota();
        qt_start(&t, "{\"size\": \"32M\", \"enforce\": \"hard\"}");
        snprintf(env_dir, sizeof(env_dir), "%s/environments/q", t.d.state);
        snprintf(ws, sizeof(ws), "%s/workspace", env_dir);
        snprintf(image, sizeof(image), "%s/" BRIG_WSIMAGE_NAME, env_dir);

        cJSON *r = run(&t, "echo kept > a; cat a; ls -a");
        if (result_is_error(r) || cJSON_GetObjectItem(r, "error")) {
                char *s = cJSON_PrintUnformatted(r);
                fail_msg("first call: %s", s);
        }
        /* The filesystem's own lost+found is not part of the workspace. */
        assert_string_equal(sc_str(r, "stdout"), "kept\n.\n..\na\n");
        cJSON_Delete(r);
        assert_non_null(strstr(quota_info(&t, buf, sizeof(buf)), "\"mode\":\"hard\""));
        assert_non_null(strstr(buf, "\"bytes\":33554432"));
        assert_true(file_contains("/proc/self/mountinfo", ws));

        /* Past the quota: ENOSPC inside the jail, and the call that tried to cross it did not complete. */
        r = run(&t,
                "head -c 40M /dev/zero > big; echo rc=$?; test $(stat -c %s big) -lt 33554432 && echo cut");
        assert_non_null(strstr(sc_str(r, "stderr"), "No space left on device"));
        assert_string_equal(sc_str(r, "stdout"), "rc=1\ncut\n");
        cJSON_Delete(r);
        r = client_tool_call(t.fd, t.id++, "write_file", "{\"path\":\"w\",\"content\":\"x\"}", NULL, NULL);
        cJSON_Delete(r);
        r = run(&t, "rm big");
        cJSON_Delete(r);

        /* A restart keeps the workspace; so does one after the mount went (a reboot): it is mounted again.
         */
        close(t.fd);
        t.fd = -1;
        /* Stopped, not through brigd_stop(), which removes the state directory. */
        int st = 0;
        assert_int_equal(kill(t.d.pid, SIGTERM), 0);
        assert_int_equal(waitpid(t.d.pid, &st, 0), t.d.pid);
        t.d.pid = 0;
        assert_int_equal(umount2(ws, MNT_DETACH), 0);
        assert_false(file_contains("/proc/self/mountinfo", ws));
        const char *skipwhy = NULL;
        assert_int_equal(brigd_restart(&t.d, &skipwhy), 0);
        t.fd = client_connect(&t.d);
        assert_true(t.fd >= 0);
        cJSON *init = client_initialize(t.fd, "{\"brig/environment\":\"q\"}");
        cJSON_Delete(init);
        r = run(&t, "cat a; head -c 40M /dev/zero > big 2>/dev/null || echo full");
        assert_string_equal(sc_str(r, "stdout"), "kept\nfull\n");
        cJSON_Delete(r);
        assert_true(file_contains("/proc/self/mountinfo", ws));

        /* Destroy: no mount, no loop device, no image left. The loop device detaches itself once the
         * jail's last reference is gone: wait for that, boundedly. */
        r = request(&t, "brig/environment.destroy", "{\"id\":\"q\"}");
        assert_non_null(cJSON_GetObjectItem(r, "result"));
        cJSON_Delete(r);
        bool gone = false;
        for (int i = 0; i < 1000 && !gone; i++) {
                gone = access(image, F_OK) < 0 && !file_contains("/proc/self/mountinfo", ws) &&
                       !loop_backed_below(env_dir);
                if (!gone)
                        usleep(10000);
        }
        assert_false(file_contains("/proc/self/mountinfo", ws));
        assert_int_equal(access(image, F_OK), -1);
        assert_false(loop_backed_below(env_dir));
        qt_stop(&t);
}

/* A new environment's image is one of the copies made ahead, renamed into place: its own filesystem,
 * empty, nothing of another environment's in it; and the copies are made again for the next one. */
static void test_quota__new_image_is_a_ready_copy_of_its_own(void **state) {
        (void) state;
        char ready[256], image[300];
        ino_t before[BRIG_WSIMAGE_READY_MAX], after[BRIG_WSIMAGE_READY_MAX];
        struct stat st;
        qt t = {.fd = -1};

        skip_without_hard_quota();
        /* No spare environments: they would take the copies too. */
        static const char *const args[] = {"--spare-environments", "0", NULL};
        qt_start_args(&t, "{\"size\": \"32M\", \"enforce\": \"hard\"}", args);
        cJSON *r = run(&t, "echo mine > a; ls -a");
        assert_string_equal(sc_str(r, "stdout"), ".\n..\na\n");
        cJSON_Delete(r);
        snprintf(ready, sizeof(ready), "%s/environments/.templates/ready", t.d.state);
        assert_int_equal(ready_copies(ready, before, BRIG_WSIMAGE_READY_MAX), BRIG_WSIMAGE_READY_MAX);

        int fd = client_connect(&t.d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, "{\"brig/environment\":\"other\"}");
        cJSON_Delete(init);
        r = client_call(fd, 1, "{\"command\":\"ls -a; echo theirs > b\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), ".\n..\n");
        cJSON_Delete(r);
        close(fd);
        snprintf(image, sizeof(image), "%s/environments/other/" BRIG_WSIMAGE_NAME, t.d.state);
        assert_int_equal(stat(image, &st), 0);
        bool taken = false;
        for (int i = 0; i < BRIG_WSIMAGE_READY_MAX; i++)
                taken |= before[i] == st.st_ino;
        assert_true(taken);
        /* Made again, and never the one taken. */
        assert_int_equal(ready_copies(ready, after, BRIG_WSIMAGE_READY_MAX), BRIG_WSIMAGE_READY_MAX);
        for (int i = 0; i < BRIG_WSIMAGE_READY_MAX; i++)
                assert_true(after[i] != st.st_ino);
        r = run(&t, "ls -a");
        assert_string_equal(sc_str(r, "stdout"), ".\n..\na\n");
        cJSON_Delete(r);
        qt_stop(&t);
}

static void test_quota__hard_required_fails_closed_without_root(void **state) {
        (void) state;
        char buf[512];
        qt t = {.fd = -1};

        if (!mode()) {
                fprintf(stderr, "# SKIP: runs in the rootless modes (setpriv, userns)\n");
                skip();
        }
        qt_start(&t, "{\"size\": \"32M\", \"enforce\": \"hard\"}");
        assert_non_null(strstr(quota_info(&t, buf, sizeof(buf)), "\"mode\":\"unavailable\""));
        cJSON *r = run(&t, "echo should not run");
        char *all = cJSON_PrintUnformatted(r);
        assert_non_null(strstr(all, "requires a hard workspace quota"));
        assert_null(strstr(all, "should not run\\n"));
        free(all);
        cJSON_Delete(r);
        r = client_tool_call(t.fd, t.id++, "write_file", "{\"path\":\"w\",\"content\":\"x\"}", NULL, NULL);
        all = cJSON_PrintUnformatted(r);
        assert_non_null(strstr(all, "requires a hard workspace quota"));
        free(all);
        cJSON_Delete(r);
        qt_stop(&t);
}

static void test_quota__auto_falls_back_to_soft_with_reason(void **state) {
        (void) state;
        char buf[512];
        qt t = {.fd = -1};

        if (!mode()) {
                fprintf(stderr, "# SKIP: runs in the rootless modes (setpriv, userns)\n");
                skip();
        }
        qt_start(&t, "\"32M\"");
        cJSON *r = run(&t, "echo ok");
        assert_string_equal(sc_str(r, "stdout"), "ok\n");
        cJSON_Delete(r);
        quota_info(&t, buf, sizeof(buf));
        assert_non_null(strstr(buf, "\"mode\":\"soft\""));
        assert_non_null(strstr(buf, "\"reason\":\"brigd is not root in the host's user namespace\""));
        qt_stop(&t);
}

/* write_file of size bytes ('x' each) to path; returns the response (caller frees). */
static cJSON *write_bytes(qt *t, const char *path, size_t size) {
        char *content = malloc(size + 1), *args = NULL;
        cJSON *r;

        assert_non_null(content);
        memset(content, 'x', size);
        content[size] = 0;
        assert_true(asprintf(&args, "{\"path\":\"%s\",\"content\":\"%s\"}", path, content) > 0);
        r = client_tool_call(t->fd, t->id++, "write_file", args, NULL, NULL);
        assert_non_null(r);
        free(args);
        free(content);
        return r;
}

/* A soft quota counts what write_file adds and what a replaced file gave back (accounted from the file
 * tool's own figures between walks of the workspace, or walked: either way the same answers). */
static void test_quota__soft_counts_write_file_growth_and_shrinking(void **state) {
        (void) state;
        qt t = {.fd = -1};
        static const struct {
                const char *path;
                size_t size;
                bool refused;
        } steps[] = {
                {"w1", 3 << 20, false}, {"w2", 3 << 20, false}, /* 6 MiB */
                {"w1", 1, false},                               /* 3 MiB and a block */
                {"w3", 3 << 20, false},                         /* 6 MiB: under the quota */
                {"w4", 3 << 20, false},                         /* 9 MiB: crosses it, and completes */
                {"w5", 1, true},                                /* over: refused */
        };

        qt_start(&t, "{\"size\": \"8M\", \"enforce\": \"soft\"}");
        /* An exec first: the workspace is walked after it. */
        cJSON *r = run(&t, "true");
        cJSON_Delete(r);
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                r = write_bytes(&t, steps[i].path, steps[i].size);
                if (steps[i].refused) {
                        cJSON *e = cJSON_GetObjectItem(r, "error");
                        assert_non_null(e);
                        assert_non_null(
                                strstr(cJSON_GetObjectItem(e, "message")->valuestring, "over the quota"));
                } else if (result_is_error(r) || cJSON_GetObjectItem(r, "error"))
                        fail_msg("step %zu (%s): %s", i, steps[i].path, cJSON_PrintUnformatted(r));
                cJSON_Delete(r);
        }
        qt_stop(&t);
}

/* The shipped policies bound the workspace (parsed as brigd parses them). */
static void test_quota__shipped_policies_have_quotas(void **state) {
        (void) state;
        static const struct {
                const char *name;
                uint64_t bytes;
        } want[] = {{"default", 4ULL << 30}, {"strict", 1ULL << 30}, {"permissive-dev", 16ULL << 30}};
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                char path[512];
                brig_policy *p = NULL;
                brig_error err = BRIG_ERROR_INIT;
                snprintf(path, sizeof(path), "%s/policies/%s.json", source_dir(), want[i].name);
                assert_int_equal(brig_policy_load(path, &p, NULL, &err), 0);
                assert_int_equal(p->filesystem.quota, want[i].bytes);
                assert_int_equal(p->filesystem.quota_enforce, BRIG_QUOTA_AUTO);
                brig_policy_free(p);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_quota__hard_enospc_survives_restart_and_goes_with_destroy),
                cmocka_unit_test(test_quota__new_image_is_a_ready_copy_of_its_own),
                cmocka_unit_test(test_quota__hard_required_fails_closed_without_root),
                cmocka_unit_test(test_quota__auto_falls_back_to_soft_with_reason),
                cmocka_unit_test(test_quota__soft_counts_write_file_growth_and_shrinking),
                cmocka_unit_test(test_quota__shipped_policies_have_quotas),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
