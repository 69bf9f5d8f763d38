/* SPDX-License-Identifier: MIT */
/* Environment starts under faults on brigd's side of the jail protocol, made deterministic by a stand-in
 * helper (jail_fault.c) between brigd and the real brig-jail: the holder's pid after the init's "ready", a
 * "ready" that never comes, and the init's descriptors truncated on receipt (MSG_CTRUNC). Every start must
 * complete or fail, and every waiting call get an answer. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "tests/integration/harness.h"

static char links[64];

static int setup(void **state) {
        (void) state;
        (void) snprintf(links, sizeof(links), "/tmp/brig-jailfault-XXXXXX");
        if (!mkdtemp(links))
                return -1;
        /* brigd may run as another user: it must reach the stand-in. */
        (void) chmod(links, 0755);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        (void) brig_rm_rf(links);
        return 0;
}

/* Starts brigd with the stand-in helper in the given fault mode; skips where brigd cannot run here. */
static void start(brigd *d, const char *mode, const char *timeout_s, char *helper, size_t size) {
        char target[PATH_MAX];
        const char *why = NULL;

        (void) snprintf(target, sizeof(target), "%s/tests/integration/jail_fault", build_dir());
        static int n_started;
        /* One name per brigd: its holders are told apart from another test's. */
        (void) snprintf(helper, size, "%s/brig-jail-%s-%d", links, mode, ++n_started);
        (void) unlink(helper);
        assert_int_equal(symlink(target, helper), 0);
        static const char *args[8];
        int n = 0;
        args[n++] = "--jail-helper";
        args[n++] = helper;
        args[n++] = "--spare-environments";
        args[n++] = "0";
        if (timeout_s) {
                args[n++] = "--start-timeout";
                args[n++] = timeout_s;
        }
        args[n] = NULL;
        if (brigd_start_args(d, NULL, args, &why) < 0) {
                if (!why || strstr(why, "did not") || strstr(why, "failed"))
                        fail_msg("brigd did not start: %s", why ? why : "?");
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
}

static int connect_env(const brigd *d, const char *env) {
        char meta[128];
        (void) snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

static bool response_mentions(const cJSON *r, const char *needle) {
        char *text = cJSON_PrintUnformatted(r);
        bool found = text && strstr(text, needle);
        if (!found)
                fprintf(stderr, "# response without \"%s\": %s\n", needle, text ? text : "(null)");
        free(text);
        return found;
}

/* The holder's pid arrives after the init's "ready": the environment runs all the same. */
static void test_ready_before_holder_pid(void **state) {
        brigd d;
        char helper[128];
        (void) state;

        start(&d, "reorder", NULL, helper, sizeof(helper));
        int fd = connect_env(&d, "reordered");
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo started\"}", NULL, NULL);
        assert_non_null(r); /* before the fix: no answer, the environment stayed "starting" */
        assert_false(result_is_error(r));
        assert_string_equal(sc_str(r, "stdout"), "started\n");
        cJSON_Delete(r);
        /* And stays usable: the next call goes to the same init. */
        r = client_call(fd, 2, "{\"command\":\"echo again\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), "again\n");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

/* A start that never completes fails at the start timeout: every waiting call gets an error, and the
 * holder is killed. */
static void test_start_timeout(void **state) {
        brigd d;
        char helper[128];
        (void) state;

        start(&d, "noready", "1", helper, sizeof(helper));
        int fd1 = connect_env(&d, "stuck");
        int fd2 = connect_env(&d, "stuck");
        assert_int_equal(client_send(fd1,
                                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                                     "\"name\":\"exec\",\"arguments\":{\"command\":\"true\"}}}"),
                         0);
        cJSON *r2 = client_call(fd2, 2, "{\"command\":\"true\"}", NULL, NULL);
        assert_non_null(r2);
        assert_true(result_is_error(r2));
        assert_true(response_mentions(r2, "did not start within 1 s"));
        cJSON_Delete(r2);
        cJSON *r1 = client_recv(fd1, 60000);
        assert_non_null(r1);
        assert_true(result_is_error(r1));
        cJSON_Delete(r1);
        /* The holder is gone (killed, not left behind): wait for it, boundedly, without timing anything. */
        char holder[160];
        (void) snprintf(holder, sizeof(holder), "%s --plan-fd", helper); /* not brigd's own command line */
        int left = -1;
        for (int i = 0; i < 500 && (left = count_processes(holder)) > 0; i++)
                usleep(20000);
        assert_int_equal(left, 0);
        close(fd1);
        close(fd2);
        assert_int_equal(brigd_stop(&d), 0);
}

/* A client that leaves while its unnamed environment's start hangs leaves nothing behind: no holder, no
 * directory (before: both stayed for good). */
static void test_stuck_unnamed_environment_is_cleaned_up(void **state) {
        brigd d;
        char helper[128], holder[160], envs[256];
        (void) state;

        start(&d, "noready", "1", helper, sizeof(helper));
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, NULL);
        assert_non_null(init);
        cJSON_Delete(init);
        assert_int_equal(client_send(fd,
                                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                                     "\"name\":\"exec\",\"arguments\":{\"command\":\"true\"}}}"),
                         0);
        /* The holder exists (the start is under way) before the client leaves. */
        (void) snprintf(holder, sizeof(holder), "%s --plan-fd", helper);
        for (int i = 0; i < 500 && count_processes(holder) == 0; i++)
                usleep(20000);
        close(fd);
        (void) snprintf(envs, sizeof(envs), "%s/environments", d.state);
        int left = -1, dirs = -1;
        for (int i = 0; i < 1000; i++) {
                left = count_processes(holder);
                dirs = 0;
                DIR *dir = opendir(envs);
                for (struct dirent *de; dir && (de = readdir(dir));)
                        dirs += de->d_name[0] != '.';
                if (dir)
                        closedir(dir);
                if (left == 0 && dirs == 0)
                        break;
                usleep(20000);
        }
        assert_int_equal(left, 0);
        assert_int_equal(dirs, 0);
        assert_int_equal(brigd_stop(&d), 0);
}

/* The init's seccomp listener arrives truncated (MSG_CTRUNC): the start fails rather than running an
 * environment without its audited-denial listener. */
static void test_truncated_descriptors_fail_start(void **state) {
        brigd d;
        char helper[128];
        (void) state;

        start(&d, "ctrunc", NULL, helper, sizeof(helper));
        int fd = connect_env(&d, "truncated");
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo ran\"}", NULL, NULL);
        assert_non_null(r);
        /* before the fix: "Bad message, ignoring" in brigd's log, and the command ran */
        assert_true(result_is_error(r));
        assert_true(response_mentions(r, "descriptors from its init lost"));
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

/* brigd starts the helper (posix_spawn) with exactly its descriptors, its signals reset and in a session of
 * its own (the stand-in checks, and fails the start otherwise); the helper resets what posix_spawn ignores.
 */
static void test_helper_starts_with_only_its_descriptors(void **state) {
        brigd d;
        char helper[128];
        (void) state;

        start(&d, "inherit", NULL, helper, sizeof(helper));
        int fd = connect_env(&d, "inherited");
        /* And a command in the jail ignores no signal: not even glibc's own, which posix_spawn leaves
         * ignored in the helper. */
        cJSON *r = client_call(fd, 1, "{\"command\":\"grep SigIgn /proc/self/status\"}", NULL, NULL);
        assert_non_null(r);
        if (result_is_error(r))
                (void) response_mentions(r, "SigIgn"); /* prints the answer */
        assert_false(result_is_error(r));
        assert_string_equal(sc_str(r, "stdout"), "SigIgn:\t0000000000000000\n");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready_before_holder_pid),
                cmocka_unit_test(test_start_timeout),
                cmocka_unit_test(test_stuck_unnamed_environment_is_cleaned_up),
                cmocka_unit_test(test_truncated_descriptors_fail_start),
                cmocka_unit_test(test_helper_starts_with_only_its_descriptors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
