/* SPDX-License-Identifier: MIT */
/* Environments' cgroups against real brigds: removed on destroy even while the jail's last processes are
 * still leaving them, one set per daemon (two brigd on one host never share or remove each other's), and
 * `brig/environment.info` names the groups an environment really runs in, spare adoption included. Needs
 * a brigd with cgroups (root with a writable hierarchy); skips otherwise. */
#include <errno.h>
#include <fcntl.h>
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

#include "tests/integration/harness.h"

static const char *const cg_keys[] = {"cgroup_memory", "cgroup_pids", "cgroup_cpu"};

static void start(brigd *d, const char *spares) {
        static const char *args[2][3] = {{"--spare-environments", "0", NULL},
                                         {"--spare-environments", "1", NULL}};
        const char *why = NULL;

        if (brigd_start_args(d, NULL, args[strcmp(spares, "0") != 0], &why) < 0) {
                if (!why || strstr(why, "did not") || strstr(why, "failed"))
                        fail_msg("brigd did not start: %s", why ? why : "?");
                fprintf(stderr, "# SKIP: %s\n", why);
                skip();
        }
}

static cJSON *rpc(int fd, const char *method, const char *params) {
        static int id = 5000;
        char msg[512];
        snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
                 method, params);
        assert_int_equal(client_send(fd, msg), 0);
        for (;;) {
                cJSON *m = client_recv(fd, 20000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id) {
                        id++;
                        return m;
                }
                cJSON_Delete(m);
        }
}

/* Connects to env, runs command there, and returns the connection. */
static int run_in(const brigd *d, const char *env, const char *command) {
        char meta[128], args[256];
        snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        snprintf(args, sizeof(args), "{\"command\":\"%s\"}", command);
        int fd = client_connect(d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        cJSON *r = client_call(fd, 1, args, NULL, NULL);
        assert_non_null(r);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        return fd;
}

/* The environment's cgroup paths (three) and init pid; false (and a SKIP note) without cgroups. */
static bool cgroup_paths(int fd, const char *env, char paths[3][600], int *ret_init) {
        char params[128];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", env);
        cJSON *m = rpc(fd, "brig/environment.info", params);
        cJSON *info = cJSON_GetObjectItem(m, "result");
        assert_non_null(info);
        const cJSON *why = cJSON_GetObjectItem(info, "cgroups_unavailable");
        if (why) {
                /* Only acceptable where brigd could not have cgroups: not as real root. */
                const char *mode = getenv("BRIG_TEST_MODE");
                assert_true(geteuid() != 0 || (mode && *mode));
                fprintf(stderr, "# SKIP: no cgroups for brigd here: %s\n", why->valuestring);
                cJSON_Delete(m);
                return false;
        }
        for (int i = 0; i < 3; i++)
                snprintf(paths[i], 600, "%s", cJSON_GetObjectItem(info, cg_keys[i])->valuestring);
        if (ret_init)
                *ret_init = cJSON_GetObjectItem(info, "init_pid")->valueint;
        cJSON_Delete(m);
        return true;
}

/* Waits (boundedly, for a condition, not a duration) until path is gone; true when it is. */
static bool gone_eventually(const char *path) {
        for (int i = 0; i < 1500; i++) {
                if (access(path, F_OK) < 0 && errno == ENOENT)
                        return true;
                usleep(20000);
        }
        return false;
}

static bool has_pid(const char *cgroup, int pid) {
        char path[700], line[32];
        snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
        FILE *f = fopen(path, "re");
        bool found = false;
        while (f && !found && fgets(line, sizeof(line), f))
                found = atoi(line) == pid;
        if (f)
                fclose(f);
        return found;
}

/* Destroying environments whose processes are still busy leaves no cgroup behind (before: rmdir once,
 * EBUSY while the jail's last processes left, and the group stayed for good, 12 of 20). */
static void test_destroy_removes_every_cgroup(void **state) {
        enum { N = 8 };
        char paths[N][3][600];
        brigd d;
        (void) state;

        start(&d, "0");
        int admin = -1;
        for (int i = 0; i < N; i++) {
                char env[32];
                snprintf(env, sizeof(env), "cg-gone-%d", i);
                int fd = run_in(&d, env, "sleep 4446 & sleep 4446 & sleep 4446 & echo up");
                if (!cgroup_paths(fd, env, paths[i], NULL)) {
                        close(fd);
                        assert_int_equal(brigd_stop(&d), 0);
                        skip();
                }
                close(fd);
        }
        admin = client_connect(&d);
        cJSON_Delete(client_initialize(admin, NULL));
        for (int i = 0; i < N; i++) {
                char params[64];
                snprintf(params, sizeof(params), "{\"id\":\"cg-gone-%d\"}", i);
                cJSON_Delete(rpc(admin, "brig/environment.destroy", params));
        }
        for (int i = 0; i < N; i++)
                for (int k = 0; k < 3; k++)
                        if (!gone_eventually(paths[i][k]))
                                fail_msg("cgroup '%s' left behind", paths[i][k]);
        close(admin);
        assert_int_equal(brigd_stop(&d), 0);
        /* The worker's own brig/<instance> parents go with it (they piled up, one per state directory). */
        for (int k = 0; k < 3; k++) {
                char *slash = strrchr(paths[0][k], '/');
                assert_non_null(slash);
                *slash = 0;
                if (access(paths[0][k], F_OK) == 0)
                        fail_msg("the worker's cgroup parent '%s' left behind", paths[0][k]);
        }
}

/* Two brigd (two state directories) with a same-named environment each: separate groups, and a SIGKILL
 * and restart of one leaves the other's groups and processes alone. */
static void test_two_daemons_keep_their_own_cgroups(void **state) {
        char pa[3][600], pb[3][600];
        brigd a, b;
        int init_b;
        (void) state;

        start(&a, "0");
        start(&b, "0");
        int fa = run_in(&a, "same-name", "sleep 4447 & echo up");
        int fb = run_in(&b, "same-name", "sleep 4447 & echo up");
        if (!cgroup_paths(fa, "same-name", pa, NULL) || !cgroup_paths(fb, "same-name", pb, &init_b)) {
                close(fa);
                close(fb);
                assert_int_equal(brigd_stop(&a), 0);
                assert_int_equal(brigd_stop(&b), 0);
                skip();
        }
        for (int k = 0; k < 3; k++)
                if (strcmp(pa[k], pb[k]) == 0)
                        fail_msg("both daemons' environments use cgroup '%s'", pa[k]);
        close(fa);
        /* A dies without cleaning up; its restart removes its own leftovers only. */
        kill(a.pid, SIGKILL);
        while (waitpid(a.pid, NULL, 0) < 0 && errno == EINTR)
                ;
        const char *why = NULL;
        assert_int_equal(brigd_restart(&a, &why), 0);
        int fa2 = run_in(&a, "same-name", "echo again");
        close(fa2);
        for (int k = 0; k < 3; k++) {
                assert_int_equal(access(pb[k], F_OK), 0);
                assert_true(has_pid(pb[k], init_b));
        }
        cJSON *r = client_call(fb, 2, "{\"command\":\"echo still\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), "still\n");
        cJSON_Delete(r);
        close(fb);
        assert_int_equal(brigd_stop(&a), 0);
        assert_int_equal(brigd_stop(&b), 0);
}

/* An environment adopted from a spare: info names the groups its init really is in. */
static void test_info_names_the_real_cgroup(void **state) {
        char p[3][600];
        brigd d;
        int init;
        (void) state;

        start(&d, "1");
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
        int fd = run_in(&d, "adopter", "echo up");
        if (!cgroup_paths(fd, "adopter", p, &init)) {
                close(fd);
                assert_int_equal(brigd_stop(&d), 0);
                skip();
        }
        for (int k = 0; k < 3; k++)
                if (!has_pid(p[k], init))
                        fail_msg("init %d is not in '%s'", init, p[k]);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_destroy_removes_every_cgroup),
                cmocka_unit_test(test_two_daemons_keep_their_own_cgroups),
                cmocka_unit_test(test_info_names_the_real_cgroup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
