/* SPDX-License-Identifier: MIT */
/* Docker/OCI seccomp profiles: parsing (errors with JSON paths, warnings, includes/excludes, minKernel),
 * the shipped copy of Docker's default profile, the policy's seccomp.profile field, and, loaded for real in
 * a forked child, that brig's floor wins over any profile rule. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <seccomp.h>

#include "common/error.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_profile.h"

/* An errno neither the kernel nor the profiles below return for the probes: seeing it proves the floor
 * answered. */
#define FLOOR_ERRNO ENOTRECOVERABLE

/* Parses text as a profile on a machine running kernel; returns parse's result. */
static int parse(const char *text, const char *kernel, brig_seccomp_profile **ret,
                 brig_seccomp_profile_diags *d, brig_error *err) {
        cJSON *json = cJSON_Parse(text);
        int r;

        assert_non_null(json);
        r = brig_seccomp_profile_parse(json, "seccomp.profile", kernel ? kernel : "6.1.0", ret, d, err);
        cJSON_Delete(json);
        return r;
}

static void assert_parse_error(const char *text, const char *want) {
        brig_seccomp_profile_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;

        assert_int_equal(parse(text, NULL, &p, &d, &err), -EINVAL);
        assert_null(p);
        if (strcmp(err.msg, want) != 0)
                fail_msg("got error '%s', want '%s'", err.msg, want);
        brig_seccomp_profile_diags_done(&d);
}

static void test_seccomp_profile__errors_name_their_json_path(void **state) {
        (void) state;
        assert_parse_error(
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
                "\"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOPE\"}]}",
                "seccomp.profile.syscalls[1].action: unknown action \"SCMP_ACT_NOPE\"");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
                           "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": "
                           "\"SCMP_CMP_LIKE\"}]}]}",
                           "seccomp.profile.syscalls[0].args[0].op: unknown comparison \"SCMP_CMP_LIKE\"");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
                           "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": "
                           "\"SCMP_CMP_EQ\"}]}]}",
                           "seccomp.profile.syscalls[0].args[0].index: expected an integer from 0 to 5");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
                           "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{},{},{},{},{},{},{}]}]}",
                           "seccomp.profile.syscalls[0].args: more than 6 entries");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 0}",
                           "seccomp.profile.defaultErrnoRet: an errno of 0 would fake success");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscals\": []}",
                           "seccomp.profile: unknown field \"syscals\"");
        assert_parse_error("{\"syscalls\": []}", "seccomp.profile.defaultAction: missing");
        assert_parse_error(
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"Read!\"], "
                "\"action\": \"SCMP_ACT_ERRNO\"}]}",
                "seccomp.profile.syscalls[0].names[0]: expected a syscall name like \"read\", got "
                "\"Read!\"");
        assert_parse_error("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], "
                           "\"action\": \"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": \"new\"}}]}",
                           "seccomp.profile.syscalls[0].includes.minKernel: expected a kernel version like "
                           "\"4.8\", got \"new\"");
}

static void test_seccomp_profile__unknown_syscalls_are_warnings(void **state) {
        (void) state;
        brig_seccomp_profile_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;

        assert_int_equal(
                parse("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", "
                      "\"no_such_call\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                      NULL, &p, &d, &err),
                0);
        assert_non_null(p);
        assert_int_equal(p->n_rules, 1);
        assert_int_equal(p->rules[0].n_nrs, 2);
        assert_int_equal(d.n, 1);
        assert_true(d.items[0].warning);
        assert_string_equal(d.items[0].path, "seccomp.profile.syscalls[0].names[1]");
        assert_string_equal(d.items[0].msg,
                            "unknown syscall \"no_such_call\" on this architecture, ignoring");
        brig_seccomp_profile_free(p);
        brig_seccomp_profile_diags_done(&d);
}

/* Returns how many rules of the one-rule profile with the given filters apply under kernel. */
static size_t rules_kept(const char *filters, const char *kernel) {
        char text[512];
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        size_t n;

        (void) snprintf(text, sizeof(text),
                        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], "
                        "\"action\": \"SCMP_ACT_ALLOW\", %s}]}",
                        filters);
        if (parse(text, kernel, &p, NULL, &err) < 0)
                fail_msg("%s: %s", filters, err.msg);
        n = p->n_rules;
        brig_seccomp_profile_free(p);
        return n;
}

static void test_seccomp_profile__includes_and_excludes_follow_this_machine(void **state) {
        (void) state;
        /* brig grants no capabilities. */
        assert_int_equal(rules_kept("\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", NULL), 0);
        assert_int_equal(rules_kept("\"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", NULL), 1);
        assert_int_equal(rules_kept("\"includes\": {}, \"excludes\": {}", NULL), 1);
#if defined(__x86_64__)
        assert_int_equal(rules_kept("\"includes\": {\"arches\": [\"amd64\", \"x32\"]}", NULL), 1);
        assert_int_equal(rules_kept("\"includes\": {\"arches\": [\"s390\", \"s390x\"]}", NULL), 0);
        assert_int_equal(rules_kept("\"excludes\": {\"arches\": [\"amd64\"]}", NULL), 0);
        assert_int_equal(rules_kept("\"excludes\": {\"arches\": [\"arm64\"]}", NULL), 1);
#endif
        assert_int_equal(rules_kept("\"includes\": {\"minKernel\": \"4.8\"}", "4.4.0-210-generic"), 0);
        assert_int_equal(rules_kept("\"includes\": {\"minKernel\": \"4.8\"}", "4.8.0"), 1);
        assert_int_equal(rules_kept("\"includes\": {\"minKernel\": \"4.8\"}", "5.1.0"), 1);
        assert_int_equal(rules_kept("\"includes\": {\"minKernel\": \"5.10\"}", "5.9.0"), 0);
        assert_int_equal(rules_kept("\"excludes\": {\"minKernel\": \"5.10\"}", "6.1.0"), 0);
        assert_int_equal(rules_kept("\"excludes\": {\"minKernel\": \"5.10\"}", "5.4.0"), 1);
        /* Includes need every condition, excludes any. */
        assert_int_equal(
                rules_kept("\"includes\": {\"minKernel\": \"4.8\", \"caps\": [\"CAP_BPF\"]}", "6.1.0"), 0);
        assert_int_equal(
                rules_kept("\"excludes\": {\"minKernel\": \"4.8\", \"caps\": [\"CAP_BPF\"]}", "6.1.0"), 0);
}

static void test_seccomp_profile__parses_actions_args_and_legacy_name(void **state) {
        (void) state;
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        brig_seccomp_profile_diags d = {0};

        assert_int_equal(
                parse("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38, \"archMap\": "
                      "[{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": "
                      "[\"SCMP_ARCH_X86\"]}], \"syscalls\": [{\"name\": \"socket\", \"action\": "
                      "\"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 40, \"op\": "
                      "\"SCMP_CMP_NE\"}], \"comment\": \"legacy\"}, {\"names\": [\"mkdir\"], \"action\": "
                      "\"SCMP_ACT_ERRNO\", \"errnoRet\": 13}, {\"names\": [\"rmdir\"], \"action\": "
                      "\"SCMP_ACT_KILL_PROCESS\"}, {\"names\": [\"chdir\"], \"action\": "
                      "\"SCMP_ACT_NOTIFY\"}, {\"names\": [\"fchdir\"], \"action\": \"SCMP_ACT_LOG\"}]}",
                      NULL, &p, &d, &err),
                0);
        assert_int_equal(p->default_action, SCMP_ACT_ERRNO(38));
        assert_int_equal(p->n_rules, 5);
        assert_int_equal(p->rules[0].nrs[0], SCMP_SYS(socket));
        assert_int_equal(p->rules[0].n_args, 1);
        assert_int_equal(p->rules[0].args[0].op, SCMP_CMP_NE);
        assert_int_equal(p->rules[0].args[0].value, 40);
        assert_int_equal(p->rules[1].action, SCMP_ACT_ERRNO(13));
        assert_int_equal(p->rules[2].action, SCMP_ACT_KILL_PROCESS);
        /* NOTIFY has no supervisor: a refusal with EPERM, and a warning. */
        assert_int_equal(p->rules[3].action, SCMP_ACT_ERRNO(EPERM));
        assert_int_equal(d.n, 1);
        assert_true(d.items[0].warning);
        assert_string_equal(d.items[0].path, "seccomp.profile.syscalls[3].action");
        assert_int_equal(p->rules[4].action, SCMP_ACT_LOG);
        brig_seccomp_profile_free(p);
        brig_seccomp_profile_diags_done(&d);
}

static char *docker_profile_path(void) {
        const char *src = getenv("BRIG_SOURCE_DIR");
        char *path = NULL;

        assert_true(asprintf(&path, "%s/policies/seccomp/docker-default.json", src ? src : ".") > 0);
        return path;
}

static void test_seccomp_profile__docker_default_loads_without_errors(void **state) {
        (void) state;
        brig_seccomp_profile_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        char *path = docker_profile_path();
        int fd = -1;

        if (brig_seccomp_profile_load(path, "seccomp.profile", NULL, &p, &d, &err) < 0)
                fail_msg("%s", err.msg);
        for (size_t i = 0; i < d.n; i++)
                assert_true(d.items[i].warning);
        assert_int_equal(p->default_action, SCMP_ACT_ERRNO(EPERM));
        assert_true(p->n_rules > 10);
        /* And it compiles, under the floor, within the kernel's program size. */
        if (brig_seccomp_compile_profile(p, NULL, 0, EPERM, &fd, &err) < 0)
                fail_msg("compile: %s", err.msg);
        (void) close(fd);
        brig_seccomp_profile_free(p);
        brig_seccomp_profile_diags_done(&d);
        free(path);
}

/* A file that cannot be used returns its own code, and err holds the same code with a message at prefix. */
static void test_seccomp_profile__load_errors_agree_with_err(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-profile-XXXXXX", path[128];
        static const char junk[] = "{\"defaultAction\": \"SCMP_ACT_ALLOW\"} x";
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/missing.json", dir);
        assert_int_equal(brig_seccomp_profile_load(path, "seccomp.profile", NULL, &p, NULL, &err), -ENOENT);
        assert_int_equal(err.code, -ENOENT);
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        assert_non_null(strstr(err.msg, "seccomp.profile: cannot open"));

        err = (brig_error) BRIG_ERROR_INIT;
        assert_int_equal(brig_seccomp_profile_load(dir, "seccomp.profile", NULL, &p, NULL, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_non_null(strstr(err.msg, "is not a regular file"));

        (void) snprintf(path, sizeof(path), "%s/big.json", dir);
        assert_non_null(f = fopen(path, "we"));
        assert_int_equal(ftruncate(fileno(f), BRIG_SECCOMP_PROFILE_MAX_BYTES + 1), 0);
        assert_int_equal(fclose(f), 0);
        err = (brig_error) BRIG_ERROR_INIT;
        assert_int_equal(brig_seccomp_profile_load(path, "seccomp.profile", NULL, &p, NULL, &err), -EFBIG);
        assert_int_equal(err.code, -EFBIG);
        assert_int_equal(err.kind, BRIG_KIND_LIMIT);
        assert_int_equal(unlink(path), 0);

        (void) snprintf(path, sizeof(path), "%s/junk.json", dir);
        assert_non_null(f = fopen(path, "we"));
        assert_true(fputs(junk, f) >= 0);
        assert_int_equal(fclose(f), 0);
        err = (brig_error) BRIG_ERROR_INIT;
        assert_int_equal(brig_seccomp_profile_load(path, "seccomp.profile", NULL, &p, NULL, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_non_null(strstr(err.msg, "invalid JSON at line 1"));
        assert_null(p);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* ---- the floor wins, loaded for real ---- */

#define CHECK(cond)                                                                                         \
        do {                                                                                                \
                step++;                                                                                     \
                if (!(cond))                                                                                \
                        return step;                                                                        \
        } while (0)

static bool failed_with(long ret, int e) {
        return ret == -1 && errno == e;
}

static int probe_floor_wins(void) {
        int step = 0;
        struct io_uring_params params = {0};

        /* Allowed by the profile, untouched by the floor. */
        CHECK(syscall(SYS_getpid) == getpid());
        /* Refused by the profile with its errno. */
        CHECK(failed_with(syscall(SYS_getppid), EXDEV));
        /* Allowed by the profile, denied by the floor with the policy's errno. */
        CHECK(failed_with(syscall(SYS_mount, "none", "/nonexistent/brig-seccomp", "tmpfs", 0UL, NULL),
                          FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL), FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_io_uring_setup, 1, &params), FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_unshare, CLONE_NEWUSER), FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_init_module, NULL, 0UL, ""), FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_open_by_handle_at, -1, NULL, 0), FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_clone, (unsigned long) (CLONE_NEWUSER | SIGCHLD), 0L, 0L, 0L, 0L),
                          FLOOR_ERRNO));
        CHECK(failed_with(syscall(SYS_clone3, NULL, 0UL), ENOSYS));
        /* The policy's extra deny list applies on top too. */
        CHECK(failed_with(syscall(SYS_uname, NULL), FLOOR_ERRNO));
        return 0;
}

static void test_seccomp_profile__floor_wins_over_profile_allow(void **state) {
        (void) state;
        const char *extra[] = {"uname"};
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        struct sock_fprog prog = {0};
        int fd = -1, status = 0;
        pid_t pid;

        /* The default action is LOG (allow, and log), so that the ALLOW rules are real rules rather than
         * the default, while whatever else the child needs (the sanitizers' runtime) still runs. */
        assert_int_equal(
                parse("{\"defaultAction\": \"SCMP_ACT_LOG\", \"syscalls\": [{\"names\": [\"mount\", "
                      "\"kexec_load\", \"io_uring_setup\", \"unshare\", \"init_module\", "
                      "\"open_by_handle_at\", \"clone\", \"clone3\", \"uname\", \"getpid\"], "
                      "\"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"getppid\"], \"action\": "
                      "\"SCMP_ACT_ERRNO\", \"errnoRet\": 18}]}",
                      NULL, &p, NULL, &err),
                0);
        if (brig_seccomp_compile_profile(p, extra, 1, FLOOR_ERRNO, &fd, &err) < 0)
                fail_msg("compile: %s", err.msg);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        (void) close(fd);
        brig_seccomp_profile_free(p);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                if (brig_seccomp_load(&prog) < 0)
                        _exit(200);
                _exit(probe_floor_wins());
        }
        free(prog.filter);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("probe child killed by signal %d", WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
                fail_msg("probe check %d failed", WEXITSTATUS(status));
}

static int probe_kill(void) {
        (void) syscall(SYS_getppid);
        return 0;
}

static void test_seccomp_profile__profile_actions_apply(void **state) {
        (void) state;
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        struct sock_fprog prog = {0};
        int fd = -1, status = 0;
        pid_t pid;

        assert_int_equal(parse("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                               "[\"getppid\"], \"action\": \"SCMP_ACT_KILL_PROCESS\"}]}",
                               NULL, &p, NULL, &err),
                         0);
        assert_int_equal(brig_seccomp_compile_profile(p, NULL, 0, EPERM, &fd, &err), 0);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        (void) close(fd);
        brig_seccomp_profile_free(p);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                if (brig_seccomp_load(&prog) < 0)
                        _exit(200);
                _exit(probe_kill());
        }
        free(prog.filter);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* ---- the policy field ---- */

static void test_seccomp_profile__policy_resolves_relative_paths_and_keeps_warnings(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-profile-XXXXXX", path[128], prof[128];
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        (void) snprintf(prof, sizeof(prof), "%s/p.json", dir);
        assert_non_null(f = fopen(prof, "we"));
        fputs("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"no_such_call\"], "
              "\"action\": "
              "\"SCMP_ACT_ERRNO\"}]}\n",
              f);
        assert_int_equal(fclose(f), 0);
        (void) snprintf(path, sizeof(path), "%s/pol.json", dir);
        assert_non_null(f = fopen(path, "we"));
        fputs("{\"seccomp\": {\"profile\": \"p.json\"}}\n", f);
        assert_int_equal(fclose(f), 0);

        if (brig_policy_load(path, &p, &d, &err) < 0)
                fail_msg("%s", err.msg);
        assert_non_null(p->seccomp.profile);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.items[0].severity, BRIG_POLICY_WARNING);
        assert_string_equal(d.items[0].path, "seccomp.profile.syscalls[0].names[0]");
        brig_policy_free(p);
        brig_policy_diags_done(&d);

        /* A missing file is an error at the field. */
        assert_int_equal(unlink(prof), 0);
        assert_int_equal(brig_policy_load(path, &p, &d, &err), -EINVAL);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.items[0].severity, BRIG_POLICY_ERROR);
        assert_string_equal(d.items[0].path, "seccomp.profile");
        assert_non_null(strstr(d.items[0].msg, "No such file or directory"));
        brig_policy_diags_done(&d);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);

        /* Inline policies have no directory to resolve against; inline profiles work. */
        const char *rel = "{\"seccomp\": {\"profile\": \"p.json\"}}";
        assert_int_equal(brig_policy_parse(rel, strlen(rel), "<inline>", &p, NULL, &err), -EINVAL);
        assert_string_equal(err.msg,
                            "seccomp.profile: relative path \"p.json\" needs a policy file to resolve "
                            "against");
        const char *in = "{\"seccomp\": {\"profile\": {\"defaultAction\": \"SCMP_ACT_KILL_SECRETLY\"}}}";
        assert_int_equal(brig_policy_parse(in, strlen(in), "<inline>", &p, NULL, &err), -EINVAL);
        assert_string_equal(err.msg,
                            "seccomp.profile.defaultAction: unknown action \"SCMP_ACT_KILL_SECRETLY\"");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_profile__errors_name_their_json_path),
                cmocka_unit_test(test_seccomp_profile__unknown_syscalls_are_warnings),
                cmocka_unit_test(test_seccomp_profile__includes_and_excludes_follow_this_machine),
                cmocka_unit_test(test_seccomp_profile__parses_actions_args_and_legacy_name),
                cmocka_unit_test(test_seccomp_profile__docker_default_loads_without_errors),
                cmocka_unit_test(test_seccomp_profile__load_errors_agree_with_err),
                cmocka_unit_test(test_seccomp_profile__floor_wins_over_profile_allow),
                cmocka_unit_test(test_seccomp_profile__profile_actions_apply),
                cmocka_unit_test(test_seccomp_profile__policy_resolves_relative_paths_and_keeps_warnings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
