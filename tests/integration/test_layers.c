/* SPDX-License-Identifier: MIT */
/* The policy's optional layers, observed from inside real jails run by a real brigd: Landlock on, off and
 * required (also on a "kernel" without it, made by a seccomp filter that answers ENOSYS). Each test starts
 * a brigd with a policy of its own. */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/landlock.h"
#include "tests/integration/harness.h"

#define BASE_FS                                                                                             \
        "\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/"                         \
        "lib64\",\"optional\":true}"                                                                        \
        "],\"tmpfs\":[{\"path\":\"/tmp\"}]}"

/* What a jailed python3 gets from each file system operation: "ok" or the errno's name. */
#define PROBE_SCRIPT                                                                                        \
        "python3 -c 'import os, errno\n"                                                                    \
        "def t(f):\n"                                                                                       \
        "    try:\n"                                                                                        \
        "        f(); return \"ok\"\n"                                                                      \
        "    except OSError as e: return errno.errorcode[e.errno]\n"                                        \
        "print(t(lambda: os.listdir(\"/\")), t(lambda: os.listdir(\"/etc\")),\n"                            \
        "      t(lambda: open(\"/x\", \"w\")), t(lambda: open(\"/usr/x\", \"w\")),\n"                       \
        "      t(lambda: open(\"/etc/passwd\").read()), t(lambda: os.listdir(\"/usr\")),\n"                 \
        "      t(lambda: open(\"/tmp/x\", \"w\")), t(lambda: (os.mkdir(\"/tmp/d\"), os.rename(\"/tmp/x\", " \
        "\"/tmp/d/x\"))),\n"                                                                                \
        "      t(lambda: open(\"/dev/shm/x\", \"w\")), t(lambda: open(\"/dev/null\", \"w\")),\n"            \
        "      t(lambda: open(\"/proc/self/oom_score_adj\", \"w\").write(\"500\")))'"

/* In a jail the mounts answer first (EROFS for creating in the read-only root or under a read-only bind),
 * and Landlock allows everything the mounts expose (listing the root too), so its rules show no difference
 * here; test_layers__landlock_rules_are_enforced_by_the_kernel shows them refusing. */
#define PROBE_OUT "ok ok EROFS EROFS ok ok ok ok ok ok ok\n"

typedef struct layer_test {
        brigd d;
        char dir[64];
        int fd;
} layer_test;

static bool mode_unavailable(const char *why) {
        return strstr(why, "needs root") || strstr(why, "not installed");
}

static void start(layer_test *t, const char *name, const char *json) {
        char path[256];
        const char *why = NULL;

        snprintf(t->dir, sizeof(t->dir), "/tmp/brig-pol-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        assert_int_equal(chmod(t->dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/%s.json", t->dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(json, f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, 0644), 0);
        if (brigd_start(&t->d, path, &why) < 0) {
                (void) brig_rm_rf(t->dir);
                /* Only a mode this machine cannot run is a skip; a brigd that fails is a failure. */
                if (why && mode_unavailable(why)) {
                        fprintf(stderr, "# SKIP: %s\n", why);
                        skip();
                }
                fail_msg("brigd did not start: %s", why ? why : "?");
        }
        t->fd = client_connect(&t->d);
        assert_true(t->fd >= 0);
        cJSON *init = client_initialize(t->fd, NULL);
        assert_non_null(init);
        cJSON_Delete(init);
}

static void stop(layer_test *t) {
        if (t->fd >= 0)
                close(t->fd);
        assert_int_equal(brigd_stop(&t->d), 0);
        (void) brig_rm_rf(t->dir);
}

/* Runs script in the jail; returns the response (caller frees). */
static cJSON *run(layer_test *t, const char *script) {
        static int id = 100;
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", script);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(t->fd, id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        return r;
}

/* Runs script, asserts it exited 0 and that its stdout is want. */
static void run_expect(layer_test *t, const char *script, const char *want) {
        cJSON *r = run(t, script);
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), want) != 0)
                fprintf(stderr, "# script: %s\n# stdout: %s\n# stderr: %s\n", script, sc_str(r, "stdout"),
                        sc_str(r, "stderr"));
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), want);
        cJSON_Delete(r);
}

static void skip_without_landlock(void) {
        if (brig_landlock_abi() < BRIG_LANDLOCK_ABI_MIN) {
                fprintf(stderr, "# SKIP: this kernel has no Landlock ABI >= %d\n", BRIG_LANDLOCK_ABI_MIN);
                skip();
        }
}

/* "ok" or the name of the errno an operation failed with, appended to out. */
static void probe(char *out, size_t size, const char *what, int r) {
        size_t n = strlen(out);
        (void) snprintf(out + n, size - n, "%s%s=%s", n ? " " : "", what,
                        r >= 0            ? "ok"
                        : errno == EACCES ? "EACCES"
                        : errno == EXDEV  ? "EXDEV"
                                          : strerror(errno));
}

static int opendir_probe(const char *path) {
        DIR *d = opendir(path);
        if (!d)
                return -1;
        closedir(d);
        return 0;
}

static int create_probe(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
                close(fd);
        return fd;
}

static int open_probe(const char *path, int flags) {
        int fd = open(path, flags | O_CLOEXEC);
        if (fd >= 0)
                close(fd);
        return fd;
}

/* The module on its own, outside any jail and mount namespace (Landlock needs no privilege): a child
 * restricts itself with a plan for a temporary tree and probes it. Every refusal here is Landlock's, by
 * errno: EACCES where a plain process would succeed. */
static void test_layers__landlock_rules_are_enforced_by_the_kernel(void **state) {
        char root[] = "/tmp/brig-ll-XXXXXX", path[256], out[1024] = "";
        int p[2];

        (void) state;
        skip_without_landlock();
        assert_non_null(mkdtemp(root));
        static const char *const dirs[] = {"ro", "rw", "rw/sub", "other"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                assert_int_equal(mkdir(path, 0755), 0);
        }
        static const char *const files[] = {"ro/file", "rw/file", "other/secret", "readable"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, files[i]);
                assert_true(create_probe(path) >= 0);
        }
        char ro[128], rw[128], readable[128], missing[128];
        snprintf(ro, sizeof(ro), "%s/ro", root);
        snprintf(rw, sizeof(rw), "%s/rw", root);
        snprintf(readable, sizeof(readable), "%s/readable", root);
        snprintf(missing, sizeof(missing), "%s/missing", root);
        brig_landlock_rule rules[] = {
                {.path = ro, .access = BRIG_LANDLOCK_FS_READ_EXEC},
                {.path = rw, .access = BRIG_LANDLOCK_FS_ALL},
                /* A file: the plan's directory rights are dropped for it, not refused by the kernel. */
                {.path = readable, .access = BRIG_LANDLOCK_FS_READ_EXEC},
                /* A skipped optional bind: no rule, no error. */
                {.path = missing, .access = BRIG_LANDLOCK_FS_ALL},
        };
        brig_plan plan = {.landlock = BRIG_LANDLOCK_REQUIRED,
                          .landlock_rules = rules,
                          .n_landlock_rules = ELEMENTSOF(rules)};

        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char detail[300] = "", o[1024] = "";
                close(p[0]);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(10);
                int r = brig_landlock_apply(&plan, detail, sizeof(detail));
                if (r < BRIG_LANDLOCK_ABI_MIN) {
                        dprintf(p[1], "apply %d %s", r, detail);
                        _exit(11);
                }
#define AT(rel) (snprintf(path, sizeof(path), "%s/%s", root, rel), path)
                probe(o, sizeof(o), "read-ro", open_probe(AT("ro/file"), O_RDONLY));
                probe(o, sizeof(o), "write-ro", open_probe(AT("ro/file"), O_WRONLY));
                probe(o, sizeof(o), "create-ro", create_probe(AT("ro/new")));
                probe(o, sizeof(o), "list-ro", opendir_probe(AT("ro")));
                probe(o, sizeof(o), "create-rw", create_probe(AT("rw/new")));
                char from[256];
                snprintf(from, sizeof(from), "%s/rw/new", root);
                probe(o, sizeof(o), "rename-rw", rename(from, AT("rw/sub/new")));
                probe(o, sizeof(o), "truncate-rw", truncate(AT("rw/file"), 0));
                probe(o, sizeof(o), "read-other", open_probe(AT("other/secret"), O_RDONLY));
                probe(o, sizeof(o), "list-other", opendir_probe(AT("other")));
                probe(o, sizeof(o), "list-root", opendir_probe(root));
                probe(o, sizeof(o), "read-file-rule", open_probe(AT("readable"), O_RDONLY));
                probe(o, sizeof(o), "write-file-rule", open_probe(AT("readable"), O_WRONLY));
#undef AT
                dprintf(p[1], "%s", o);
                _exit(0);
        }
        close(p[1]);
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
                len += (size_t) n;
        out[len] = 0;
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        (void) brig_rm_rf(root);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "# child: %s\n", out);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_string_equal(
                out, "read-ro=ok write-ro=EACCES create-ro=EACCES list-ro=ok create-rw=ok rename-rw=ok "
                     "truncate-rw=ok read-other=EACCES list-other=EACCES list-root=EACCES "
                     "read-file-rule=ok write-file-rule=EACCES");
}

/* Waits (at most 5 s) for brigd's log to report the environment's layer, e.g. "layer landlock applied". */
static void assert_layer_logged(layer_test *t, const char *needle) {
        static char log[65536];
        size_t len = 0;

        for (int i = 0; i < 500; i++) {
                ssize_t n = read(t->d.stderr_fd, log + len, sizeof(log) - 1 - len);
                if (n > 0) {
                        len += (size_t) n;
                        log[len] = 0;
                }
                if (len && strstr(log, needle))
                        return;
                usleep(10000);
        }
        log[len] = 0;
        fprintf(stderr, "# brigd log lacks '%s':\n%s\n", needle, log);
        fail();
}

static void test_layers__landlock_confines_a_jail(void **state) {
        layer_test t;

        (void) state;
        skip_without_landlock();
        start(&t, "ll-auto", "{" BASE_FS "}");
        run_expect(&t, PROBE_SCRIPT, PROBE_OUT);
        assert_layer_logged(&t, "layer landlock applied");
        stop(&t);
}

static void test_layers__landlock_required_applies_it(void **state) {
        layer_test t;

        (void) state;
        skip_without_landlock();
        start(&t, "ll-required", "{" BASE_FS ",\"landlock\":\"required\"}");
        run_expect(&t, PROBE_SCRIPT, PROBE_OUT);
        assert_layer_logged(&t, "layer landlock applied");
        stop(&t);
}

static void test_layers__landlock_off_leaves_the_mounts_alone(void **state) {
        layer_test t;

        (void) state;
        start(&t, "ll-off", "{" BASE_FS ",\"landlock\":\"off\"}");
        run_expect(&t, PROBE_SCRIPT, PROBE_OUT);
        assert_layer_logged(&t, "layer landlock off by policy (0)");
        stop(&t);
}

/* In a child under a filter that makes landlock_create_ruleset fail with ENOSYS, as on a kernel without
 * Landlock (brigd, brig-jail and the jail inherit it): starts brigd with the policy, runs script, and
 * writes "EXIT_CODE\nSTDOUT" or "error MESSAGE" to out. Returns the child's exit status. */
static int run_without_landlock(const char *json, const char *script, char *out, size_t size) {
        int p[2];

        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                layer_test t = {.fd = -1};
                char path[256];
                const char *why = NULL;
                FILE *res = fdopen(p[1], "w");
                scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

                close(p[0]);
                if (!res || !ctx ||
                    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(landlock_create_ruleset), 0) <
                            0 ||
                    seccomp_load(ctx) < 0)
                        _exit(10);
                seccomp_release(ctx);
                snprintf(t.dir, sizeof(t.dir), "/tmp/brig-pol-XXXXXX");
                if (!mkdtemp(t.dir) || chmod(t.dir, 0755) < 0)
                        _exit(11);
                snprintf(path, sizeof(path), "%s/nolandlock.json", t.dir);
                FILE *f = fopen(path, "w");
                if (!f || fputs(json, f) < 0 || fclose(f) != 0 || chmod(path, 0644) < 0)
                        _exit(12);
                if (brigd_start(&t.d, path, &why) < 0)
                        _exit(why && mode_unavailable(why) ? 13 : 16);
                t.fd = client_connect(&t.d);
                cJSON_Delete(client_initialize(t.fd, NULL));
                cJSON *args = cJSON_CreateObject();
                cJSON_AddStringToObject(args, "command", script);
                char *a = cJSON_PrintUnformatted(args);
                cJSON *r = client_call(t.fd, 1, a, NULL, NULL);
                if (!r)
                        _exit(14);
                if (result_is_error(r) && sc_int(r, "exit_code") == -1000) {
                        const cJSON *e = cJSON_GetObjectItem(result_sc(r), "error");
                        const cJSON *m = cJSON_GetObjectItem(e, "message");
                        fprintf(res, "error %s", cJSON_IsString(m) ? m->valuestring : "?");
                } else
                        fprintf(res, "%d\n%s", sc_int(r, "exit_code"), sc_str(r, "stdout"));
                fclose(res);
                close(t.fd);
                int st = brigd_stop(&t.d);
                (void) brig_rm_rf(t.dir);
                _exit(st == 0 ? 0 : 15);
        }
        close(p[1]);
        size_t len = 0;
        ssize_t n;
        while (len < size - 1 && (n = read(p[0], out + len, size - 1 - len)) > 0)
                len += (size_t) n;
        out[len] = 0;
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_layers__landlock_auto_is_skipped_without_kernel_support(void **state) {
        char out[4096];

        (void) state;
        int st = run_without_landlock("{" BASE_FS "}", PROBE_SCRIPT, out, sizeof(out));
        if (st == 13) {
                fprintf(stderr, "# SKIP: brigd cannot start in this mode\n");
                skip();
        }
        if (st != 0)
                fprintf(stderr, "# child status %d, output: %s\n", st, out);
        assert_int_equal(st, 0);
        assert_string_equal(out, "0\n" PROBE_OUT);
}

static void test_layers__landlock_required_fails_closed_without_kernel_support(void **state) {
        char out[4096];

        (void) state;
        int st = run_without_landlock("{" BASE_FS ",\"landlock\":\"required\"}", "echo ran", out,
                                      sizeof(out));
        if (st == 13) {
                fprintf(stderr, "# SKIP: brigd cannot start in this mode\n");
                skip();
        }
        if (st != 0)
                fprintf(stderr, "# child status %d, output: %s\n", st, out);
        assert_int_equal(st, 0);
        /* Refused, naming the layer; the command never ran. */
        if (!strstr(out, "landlock") || !strstr(out, "not supported by this kernel"))
                fprintf(stderr, "# output: %s\n", out);
        assert_non_null(strstr(out, "error "));
        assert_non_null(strstr(out, "landlock"));
        assert_non_null(strstr(out, "not supported by this kernel"));
        assert_null(strstr(out, "ran"));
}

/* `brig run`, the one-shot jail without brigd, under the same ENOSYS filter: refused, naming the layer. */
static void test_layers__brig_run_reports_required_landlock_missing(void **state) {
        const char *mode = getenv("BRIG_TEST_MODE");
        char policy[128], ws[] = "/tmp/brig-ws-XXXXXX", brig[512], out[4096];
        int p[2];

        (void) state;
        if (mode && *mode) {
                fprintf(stderr, "# SKIP: brig run is covered by the default mode\n");
                skip();
        }
        assert_non_null(mkdtemp(ws));
        snprintf(policy, sizeof(policy), "%s/policy.json", ws);
        FILE *f = fopen(policy, "w");
        assert_non_null(f);
        fputs("{" BASE_FS ",\"landlock\":\"required\"}", f);
        assert_int_equal(fclose(f), 0);
        snprintf(brig, sizeof(brig), "%s/brig", build_dir());
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
                if (!ctx ||
                    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(landlock_create_ruleset), 0) <
                            0 ||
                    seccomp_load(ctx) < 0)
                        _exit(100);
                dup2(p[1], 1);
                dup2(p[1], 2);
                execl(brig, brig, "run", "--policy", policy, "--workspace", ws, "--", "echo", "ran",
                      (char *) NULL);
                _exit(101);
        }
        close(p[1]);
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
                len += (size_t) n;
        out[len] = 0;
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        (void) brig_rm_rf(ws);
        if (!strstr(out, "sandbox layer landlock 'not supported by this kernel"))
                fprintf(stderr, "# brig run said: %s\n", out);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 125);
        assert_non_null(strstr(out,
                               "brig: sandbox layer landlock 'not supported by this kernel, and the policy "
                               "requires it (landlock: \"required\")'"));
        assert_null(strstr(out, "ran"));
}

#define BIND_80                                                                                             \
        "python3 -c 'import socket\n"                                                                       \
        "s = socket.socket()\n"                                                                             \
        "try:\n"                                                                                            \
        "    s.bind((\"127.0.0.1\", 80)); print(\"bound\")\n"                                               \
        "except OSError as e: print(e.errno)'; grep -E '^Cap(Eff|Amb|Bnd)' /proc/self/status | tr "         \
        "'\\t\\n' '  '"

static void test_layers__capabilities_keep_only_the_policy_s(void **state) {
        layer_test t;

        (void) state;
        start(&t, "caps", "{" BASE_FS ",\"capabilities\":[\"CAP_NET_BIND_SERVICE\"]}");
        /* Kept in every set, ambient included, so the non-root command has it after execve. */
        run_expect(&t, BIND_80,
                   "bound\nCapEff: 0000000000000400 CapBnd: 0000000000000400 CapAmb: 0000000000000400 ");
        stop(&t);

        start(&t, "nocaps", "{" BASE_FS "}");
        run_expect(&t, BIND_80,
                   "13\nCapEff: 0000000000000000 CapBnd: 0000000000000000 CapAmb: 0000000000000000 ");
        stop(&t);
}

static void test_layers__identity_sets_the_command_s_ids(void **state) {
        layer_test t;

        (void) state;
        start(&t, "ident", "{" BASE_FS ",\"identity\":{\"uid\":4242,\"gid\":4343}}");
        /* The workspace (owned by the one mapped host id) stays the command's to write. */
        run_expect(&t, "id -u; id -g; id -un; touch /workspace/f && stat -c '%u %g' /workspace/f",
                   "4242\n4343\nagent\n4242 4343\n");
        stop(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layers__landlock_rules_are_enforced_by_the_kernel),
                cmocka_unit_test(test_layers__landlock_confines_a_jail),
                cmocka_unit_test(test_layers__landlock_required_applies_it),
                cmocka_unit_test(test_layers__landlock_off_leaves_the_mounts_alone),
                cmocka_unit_test(test_layers__landlock_auto_is_skipped_without_kernel_support),
                cmocka_unit_test(test_layers__landlock_required_fails_closed_without_kernel_support),
                cmocka_unit_test(test_layers__brig_run_reports_required_landlock_missing),
                cmocka_unit_test(test_layers__capabilities_keep_only_the_policy_s),
                cmocka_unit_test(test_layers__identity_sets_the_command_s_ids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
