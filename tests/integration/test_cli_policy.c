/* SPDX-License-Identifier: MIT */
/* The `brig policy` commands, run as a user would: `explain` on the shipped default policy and on a child
 * extending it (provenance lines, the seccomp verdicts of the compiled program), `check` on a broken parent,
 * and the help texts. Needs no daemon and no privileges. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/jail.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "tests/integration/harness.h"

static char tmpdir[] = "/tmp/brig-test-cli-policy.XXXXXX";

/* Runs cmd with sh; returns its exit status and its whole stdout in *ret_out (caller frees). */
static int run(const char *cmd, char **ret_out) {
        FILE *p = popen(cmd, "r");
        size_t n = 0, cap = 1 << 16;
        char *out = malloc(cap);
        int st;

        assert_non_null(p);
        assert_non_null(out);
        for (;;) {
                size_t k;
                if (cap - n < 4096) {
                        out = realloc(out, cap *= 2);
                        assert_non_null(out);
                }
                k = fread(out + n, 1, cap - n - 1, p);
                if (k == 0)
                        break;
                n += k;
        }
        out[n] = 0;
        st = pclose(p);
        *ret_out = out;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int brig(char **ret_out, const char *fmt, ...) {
        char args[2048], cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        (void) snprintf(cmd, sizeof(cmd), "%s/brig %s", build_dir(), args);
        return run(cmd, ret_out);
}

/* Asserts that out has a line starting with prefix and ending in "# " source. */
static void assert_line(const char *out, const char *prefix, const char *source) {
        for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                size_t len = strcspn(l, "\n"), n = strlen(source);
                if (strncmp(l, prefix, strlen(prefix)) == 0 && len > n + 2 &&
                    strncmp(l + len - n, source, n) == 0 && strncmp(l + len - n - 2, "# ", 2) == 0)
                        return;
        }
        fail_msg("no line \"%s ... # %s\" in:\n%s", prefix, source, out);
}

static bool in_array(const cJSON *arr, const char *name) {
        const cJSON *it;
        cJSON_ArrayForEach (it, arr)
                if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0)
                        return true;
        return false;
}

static void put(const char *name, const char *text) {
        char path[512];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void skip_in_other_modes(void) {
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && *mode) {
                fprintf(stderr, "# SKIP: brig policy runs no daemon; covered by the default mode\n");
                skip();
        }
}

static void test_cli_policy__explains_default(void **state) {
        char *out = NULL, def[1024];
        cJSON *j, *sc, *groups;

        (void) state;
        skip_in_other_modes();
        (void) snprintf(def, sizeof(def), "%s/policies/default.json", source_dir());
        assert_int_equal(brig(&out, "policy explain %s", def), 0);
        assert_line(out, "name = \"default\"", def);
        assert_line(out, "limits.memory = \"1G\"", def);
        assert_line(out, "filesystem.read_only[0] = \"/usr\"", def);
        assert_line(out, "limits.cpus = 1", "default");
        assert_line(out, "environment.idle_stop = \"1h\"", "default");
        /* Floor denials are audited by default: the worker hears of them and answers EPERM. */
        assert_non_null(strstr(out, "\nnotify+errno EPERM ("));
        assert_non_null(strstr(out, "\ndepends on arguments ("));
        assert_non_null(strstr(out, "\n  clone: allowed or notify+errno EPERM\n"));
        /* So are calls of other ABIs: denied with the policy's errno and reported, not killed unheard. */
        assert_non_null(strstr(out, "\nother architectures: notify+errno EPERM\n"));
#ifdef __x86_64__
        assert_non_null(strstr(out, "\nx32 system calls: notify+errno EPERM\n"));
#endif
        free(out);

        assert_int_equal(brig(&out, "policy explain --json %s", def), 0);
        j = cJSON_Parse(out);
        assert_non_null(j);
        sc = cJSON_GetObjectItem(j, "seccomp");
        groups = cJSON_GetObjectItem(sc, "syscalls");
        assert_true(in_array(cJSON_GetObjectItem(groups, "allowed"), "read"));
        assert_false(in_array(cJSON_GetObjectItem(groups, "allowed"), "mount"));
        assert_true(in_array(cJSON_GetObjectItem(groups, "notify+errno EPERM"), "mount"));
        assert_true(in_array(cJSON_GetObjectItem(groups, "errno ENOSYS"), "clone3"));
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(sc, "depends"), "clone"));
        assert_string_equal(cJSON_GetObjectItem(sc, "other_architectures")->valuestring,
                            "notify+errno EPERM");
        cJSON_Delete(j);
        free(out);
}

static void test_cli_policy__explains_a_child_of_default(void **state) {
        char *out = NULL, def[1024], child[600], json[2048];
        cJSON *j, *groups;

        (void) state;
        skip_in_other_modes();
        (void) snprintf(def, sizeof(def), "%s/policies/default.json", source_dir());
        if (def[0] != '/') {
                char cwd[512];
                assert_non_null(getcwd(cwd, sizeof(cwd)));
                (void) snprintf(def, sizeof(def), "%s/%s/policies/default.json", cwd, source_dir());
        }
        (void) snprintf(json, sizeof(json),
                        "{\"extends\": \"%s\", \"limits\": {\"memory\": \"2G\"},\n"
                        " \"seccomp\": {\"+deny\": [\"chmod\", {\"name\": \"fchmod\", \"audit\": false}]},\n"
                        " \"filesystem\": {\"+read_write\": [\"/srv\"]}}\n",
                        def);
        put("child.json", json);
        (void) snprintf(child, sizeof(child), "%s/child.json", tmpdir);
        assert_int_equal(brig(&out, "policy explain %s", child), 0);
        assert_line(out, "name = \"child\"", "default");
        assert_line(out, "limits.memory = \"2G\"", child);
        assert_line(out, "limits.processes = 256", def);
        assert_line(out, "seccomp.deny[0] = \"chmod\"", child);
        assert_line(out, "filesystem.read_write[0] = \"/srv\"", child);
        assert_line(out, "filesystem.tmpfs[0].path = \"/tmp\"", def);
        free(out);

        assert_int_equal(brig(&out, "policy explain --json %s", child), 0);
        j = cJSON_Parse(out);
        assert_non_null(j);
        groups = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "seccomp"), "syscalls");
        assert_true(in_array(cJSON_GetObjectItem(groups, "notify+errno EPERM"), "mount"));
        assert_true(in_array(cJSON_GetObjectItem(groups, "notify+errno EPERM"), "chmod"));
        assert_false(in_array(cJSON_GetObjectItem(groups, "allowed"), "mount"));
        assert_false(in_array(cJSON_GetObjectItem(groups, "allowed"), "chmod"));
        /* A deny entry with "audit": false fails without telling the worker. */
        assert_true(in_array(cJSON_GetObjectItem(groups, "errno EPERM"), "fchmod"));
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "chain")), 2);
        cJSON_Delete(j);
        free(out);

        assert_int_equal(brig(&out, "policy check %s", child), 0);
        assert_non_null(strstr(out, ": OK"));
        free(out);

        /* Without an audit nobody would hear of a call of another ABI: it kills the process. */
        (void) snprintf(json, sizeof(json), "{\"extends\": \"%s\", \"seccomp\": {\"audit\": false}}\n", def);
        put("quiet.json", json);
        assert_int_equal(brig(&out, "policy explain --json %s/quiet.json", tmpdir), 0);
        j = cJSON_Parse(out);
        assert_non_null(j);
        const cJSON *sc = cJSON_GetObjectItem(j, "seccomp");
        assert_string_equal(cJSON_GetObjectItem(sc, "other_architectures")->valuestring, "kill process");
#ifdef __x86_64__
        assert_string_equal(cJSON_GetObjectItem(sc, "x32")->valuestring, "kill process");
#endif
        cJSON_Delete(j);
        free(out);
}

static void test_cli_policy__check_names_a_broken_parent(void **state) {
        char *out = NULL, want[1024];

        (void) state;
        skip_in_other_modes();
        put("parent.json", "{\n  \"limits\": {\"memory\": \"1G\",}\n}\n");
        put("kid.json", "{\"extends\": \"parent\"}\n");
        assert_int_equal(brig(&out, "policy check %s/kid.json", tmpdir), 1);
        (void) snprintf(want, sizeof(want), "%s/parent.json:2:30: invalid JSON at 2:30\n", tmpdir);
        assert_string_equal(out, want);
        free(out);
        assert_int_equal(brig(&out, "policy explain %s/kid.json 2>&1", tmpdir), 1);
        assert_string_equal(out, want);
        free(out);
}

/* network.secrets: checked and explained without reading a value (the variable named here is set to a value
 * that must not appear), and a bad template refused with its path. */
static void test_cli_policy__secrets_checked_and_explained_without_values(void **state) {
        static const char policy[] =
                "{\"network\": {\"mode\": \"proxy\", \"allow\": [\"api.test\"], \"secrets\": [{\"name\": "
                "\"TOKEN\", \"hosts\": [\"api.test\"], \"source\": {\"env\": \"BRIG_TEST_CLI_SECRET\"}, "
                "\"inject\": \"placeholder\"}]}}\n";
        char *out = NULL;

        (void) state;
        skip_in_other_modes();
        assert_int_equal(setenv("BRIG_TEST_CLI_SECRET", "cli-secret-value-42", 1), 0);
        put("secrets.json", policy);
        assert_int_equal(brig(&out, "policy check %s/secrets.json", tmpdir), 0);
        free(out);
        assert_int_equal(brig(&out, "policy explain %s/secrets.json", tmpdir), 0);
        assert_non_null(strstr(out, "network.secrets[0].name = \"TOKEN\""));
        assert_non_null(strstr(out, "network.secrets[0].hosts[0] = \"api.test\""));
        assert_non_null(strstr(out, "network.secrets[0].source.env = \"BRIG_TEST_CLI_SECRET\""));
        assert_non_null(strstr(out, "network.secrets[0].inject = \"placeholder\""));
        assert_null(strstr(out, "cli-secret-value-42"));
        free(out);
        put("bad-secret.json", "{\"network\": {\"mode\": \"proxy\", \"allow\": [\"api.test\"], \"secrets\": "
                               "[{\"name\": \"T\", \"hosts\": [\"api.test\"], \"source\": {\"env\": \"X\"}, "
                               "\"inject\": \"Bearer {secret}\"}]}}\n");
        assert_int_equal(brig(&out, "policy check %s/bad-secret.json 2>&1", tmpdir), 1);
        assert_non_null(strstr(out, "network.secrets[0].inject: expected \"Header-Name: ...{secret}...\""));
        free(out);
        (void) unsetenv("BRIG_TEST_CLI_SECRET");
}

static void test_cli_policy__help(void **state) {
        char *out = NULL;

        (void) state;
        skip_in_other_modes();
        assert_int_equal(brig(&out, "policy --help"), 0);
        assert_non_null(strstr(out, "explain [--json] FILE"));
        assert_non_null(strstr(out, "check FILE..."));
        free(out);
        assert_int_equal(brig(&out, "policy explain --help"), 0);
        assert_non_null(strstr(out, "Usage: brig policy explain [--json] FILE"));
        free(out);
        assert_int_equal(brig(&out, "policy check --help"), 0);
        assert_non_null(strstr(out, "Usage: brig policy check FILE..."));
        free(out);
        assert_int_equal(brig(&out, "policy 2>/dev/null"), 2);
        free(out);
        assert_int_equal(brig(&out, "policy frobnicate 2>&1"), 2);
        assert_string_equal(out, "brig: unknown policy command 'frobnicate'\nTry 'brig policy --help'.\n");
        free(out);
        assert_int_equal(brig(&out, "--help"), 0);
        assert_non_null(strstr(out, "policy explain FILE"));
        free(out);
}

/* limits.cgroups "required" fails closed in `brig run` as under brigd: without a usable cgroup hierarchy
 * (here: as an unprivileged user) the command never runs (before: it ran with rlimits only, exit 0). */
static void test_cli_policy__run_requires_cgroups(void **state) {
        char *out = NULL, cmd[2048];
        (void) state;

        skip_in_other_modes();
        if (geteuid() == 0)
                (void) snprintf(cmd, sizeof(cmd),
                                "setpriv --reuid=65534 --regid=65534 --clear-groups %s/brig run --policy "
                                "%s/policies/examples/cgroup-limits.json -- echo ran 2>&1",
                                build_dir(), source_dir());
        else
                (void) snprintf(
                        cmd, sizeof(cmd),
                        "%s/brig run --policy %s/policies/examples/cgroup-limits.json -- echo ran 2>&1",
                        build_dir(), source_dir());
        int code = run(cmd, &out);
        if (code == 0 && geteuid() != 0) {
                /* An unprivileged user with a delegated cgroup v2 subtree: the limits apply. */
                assert_non_null(strstr(out, "ran"));
                free(out);
                return;
        }
        assert_int_equal(code, 125);
        assert_null(strstr(out, "ran\n"));
        assert_non_null(strstr(out, "requires cgroup limits"));
        free(out);
}

/* As root with cgroups, `brig run` puts the command in a memory-limited group: tmpfs pages count there
 * (not in RLIMIT_DATA), so writing past the limit gets the writer killed. */
static void test_cli_policy__run_applies_cgroup_limits(void **state) {
        char *out = NULL, policy[512];
        (void) state;

        skip_in_other_modes();
        if (geteuid() != 0) {
                fprintf(stderr, "# SKIP: cgroups for brig run need root here\n");
                skip();
        }
        put("cg-small.json",
            "{\"name\":\"cg-small\",\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":"
            "\"/lib64\",\"optional\":true}],\"tmpfs\":[{\"path\":\"/tmp\",\"size\":\"256M\"}]},"
            "\"env\":{\"PATH\":\"/usr/bin:/"
            "bin\"},\"limits\":{\"memory\":\"32M\",\"cgroups\":\"required\"}}");
        (void) snprintf(policy, sizeof(policy), "%s/cg-small.json", tmpdir);
        int code = brig(&out,
                        "run --policy %s -- sh -c 'dd if=/dev/zero of=/tmp/f bs=1M count=96 "
                        "2>/dev/null && echo wrote' 2>&1",
                        policy);
        if (code == 125 && strstr(out, "requires cgroup limits")) {
                fprintf(stderr, "# SKIP: no cgroups here: %s\n", out);
                free(out);
                skip();
        }
        assert_null(strstr(out, "wrote"));
        assert_int_not_equal(code, 0);
        free(out);
}

/* How the jail's init gets its seccomp filter: with the helper's arguments, or later on control (SECCOMP,
 * sandbox/jailctl.h) as brig run sends it, or never as brig run hangs up when it has none. CGROUPS_NEVER:
 * given, but the init is told to wait for its v1 cgroups on control (CGROUPS), and brig hangs up instead. */
typedef enum filter_way { FILTER_GIVEN, FILTER_SENT, FILTER_NEVER, CGROUPS_NEVER } filter_way;

/* brig run sets the cgroups' limits while the helper starts (sandbox/jailctl.h, "limits"): the command
 * must not start before they are set, nor at all when the limits pipe closes without its byte; nor before
 * its seccomp filter is there. Runs the helper's body, brig_jail_run(), with default.json's plan: gate
 * (1) released, then (2) closed unwritten; the filter as filter says. Returns whether the command ran
 * (under a seccomp filter), and the last status line in status_out. */
static bool jail_behind_gate(bool release, filter_way filter, char *status_out, size_t size) {
        brig_policy *policy = NULL;
        brig_plan *plan = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_identity id;
        struct sock_fprog prog = {0};
        brig_policy_diags diags = {0};
        char path[512], ws[] = "/tmp/brig-test-gate-XXXXXX", ran[64];
        bool did_run;
        int seccomp_fd = -1, status[2], gate[2], notify[2], st;

        (void) snprintf(path, sizeof(path), "%s/policies/default.json", source_dir());
        assert_non_null(mkdtemp(ws));
        (void) snprintf(ran, sizeof(ran), "%s/ran", ws);
        assert_int_equal(brig_policy_load(path, &policy, &diags, &err), 0);
        brig_policy_diags_done(&diags);
        assert_int_equal(brig_identity_detect(BRIG_JAIL_HOST_ID_DEFAULT, &id, &err), 0);
        /* As brig run makes its workspace: the jail's user owns it. */
        if (id.root)
                assert_int_equal(chown(ws, id.uid_outside, id.gid_outside), 0);
        assert_int_equal(brig_policy_compile_seccomp(policy, &seccomp_fd, &err), 0);
        assert_int_equal(brig_seccomp_read(seccomp_fd, &prog, &err), 0);
        const char *argv[] = {"/bin/sh", "-c",
                              "grep -q '^Seccomp:.2' /proc/self/status && echo > /workspace/ran", NULL};
        brig_plan_request req = {.argv = argv, .workspace = ws};
        assert_int_equal(brig_plan_build(policy, &req, &id, &plan, &err), 0);
        assert_int_equal(pipe2(status, O_CLOEXEC), 0);
        assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
        /* Where the command sends its seccomp listener (audited denials); nobody answers here. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) close(status[0]);
                (void) close(gate[1]);
                _exit(brig_jail_run(plan, filter == FILTER_GIVEN || filter == CGROUPS_NEVER ? &prog : NULL,
                                    status[1], notify[1], NULL, 0, false, filter == CGROUPS_NEVER, gate[0]));
        }
        (void) close(status[1]);
        (void) close(gate[0]);
        (void) close(notify[1]);
        if (release)
                assert_int_equal(write(gate[1], "l", 1), 1);
        (void) close(gate[1]);
        if (filter == FILTER_SENT)
                assert_int_equal(brig_jailctl_send_seccomp(notify[0], seccomp_fd), 0);
        else if (filter == FILTER_NEVER || filter == CGROUPS_NEVER)
                assert_int_equal(shutdown(notify[0], SHUT_RDWR), 0);
        char buf[4096];
        size_t n = 0;
        ssize_t k;
        while (n < sizeof(buf) - 1 && (k = read(status[0], buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        (void) close(status[0]);
        (void) close(notify[0]);
        (void) close(seccomp_fd);
        free(prog.filter);
        brig_plan_free(plan);
        brig_policy_free(policy);
        char *last = n > 1 ? memrchr(buf, '\n', n - 1) : NULL;
        (void) snprintf(status_out, size, "%s", last ? last + 1 : buf);
        did_run = access(ran, F_OK) == 0;
        assert_int_equal(brig_rm_rf(ws), 0);
        return did_run;
}

static void test_cli_policy__run_command_waits_for_the_limits(void **state) {
        char line[4096];
        (void) state;

        skip_in_other_modes();
        assert_true(jail_behind_gate(true, FILTER_GIVEN, line, sizeof(line)));
        assert_non_null(strstr(line, "exit 0"));
        assert_false(jail_behind_gate(false, FILTER_GIVEN, line, sizeof(line)));
        assert_non_null(strstr(line, "cgroup"));
}

/* brig run compiles the filter while the jail is built and sends it to the init: the command runs under
 * it, and never without it. */
static void test_cli_policy__run_command_waits_for_its_filter(void **state) {
        char line[4096];
        (void) state;

        skip_in_other_modes();
        assert_true(jail_behind_gate(true, FILTER_SENT, line, sizeof(line)));
        assert_non_null(strstr(line, "exit 0"));
        assert_false(jail_behind_gate(true, FILTER_NEVER, line, sizeof(line)));
        assert_non_null(strstr(line, "error seccomp"));
}

/* On cgroup v1, brig run makes the run's groups while the jail is built and sends them to the init, which
 * joins them before it forks anything (sandbox/jailctl.h, CGROUPS): the command never runs without them.
 * (That it runs in them is test_cli_policy__run_applies_cgroup_limits.) */
static void test_cli_policy__run_command_waits_for_its_cgroups(void **state) {
        char line[4096];
        (void) state;

        skip_in_other_modes();
        assert_false(jail_behind_gate(true, CGROUPS_NEVER, line, sizeof(line)));
        assert_non_null(strstr(line, "error cgroup"));
}

/* `brig run` builds the jail in a forked child of its own (sandbox/jail_start.c), not in an executed
 * brig-jail: the jail's init, a clone of brig, must still not show brig's environment, nor be readable at
 * all by the command (same uid as the init when rootless: run here as nobody), and the command still runs
 * under the policy's seccomp filter and no_new_privs. */
static void test_cli_policy__run_init_shows_nothing_of_brig(void **state) {
        char *out = NULL, cmd[2048];
        (void) state;

        skip_in_other_modes();
        (void) snprintf(cmd, sizeof(cmd),
                        "BRIG_TEST_MARKER=marker-5f3a %s %s/brig run --policy %s/policies/default.json -- "
                        "/bin/sh -c 'tr \"\\\\0\" \"\\\\n\" </proc/1/environ; echo \"environ $?\"; "
                        "tr \"\\\\0\" \" \" </proc/1/cmdline; echo; "
                        "grep -E \"^(Seccomp|NoNewPrivs):\" /proc/self/status' 2>&1",
                        geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "",
                        build_dir(), source_dir());
        int code = run(cmd, &out);
        if (code == 125 && strstr(out, "namespace")) {
                fprintf(stderr, "# SKIP: no user namespaces for an unprivileged user here: %s\n", out);
                free(out);
                skip();
        }
        assert_int_equal(code, 0);
        assert_null(strstr(out, "marker-5f3a"));
        assert_null(strstr(out, "policies/default.json")); /* brig's command line */
        assert_non_null(strstr(out, "Permission denied"));
        assert_null(strstr(out, "environ 0"));
        assert_non_null(strstr(out, "NoNewPrivs:\t1"));
        assert_non_null(strstr(out, "Seccomp:\t2"));
        free(out);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        return brig_rm_rf(tmpdir) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cli_policy__explains_default),
                cmocka_unit_test(test_cli_policy__explains_a_child_of_default),
                cmocka_unit_test(test_cli_policy__check_names_a_broken_parent),
                cmocka_unit_test(test_cli_policy__secrets_checked_and_explained_without_values),
                cmocka_unit_test(test_cli_policy__help),
                cmocka_unit_test(test_cli_policy__run_requires_cgroups),
                cmocka_unit_test(test_cli_policy__run_applies_cgroup_limits),
                cmocka_unit_test(test_cli_policy__run_command_waits_for_the_limits),
                cmocka_unit_test(test_cli_policy__run_init_shows_nothing_of_brig),
                cmocka_unit_test(test_cli_policy__run_command_waits_for_its_filter),
                cmocka_unit_test(test_cli_policy__run_command_waits_for_its_cgroups),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
