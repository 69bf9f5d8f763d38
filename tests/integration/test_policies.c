/* SPDX-License-Identifier: MIT */
/* Every shipped policy (the .json files of policies/ and policies/examples/) serves a real brigd, and does
 * what its description says: one probe per policy, through the real socket and jail. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

typedef struct probe {
        brigd d;
        int fd;
        int id;
} probe;

/* Starts brigd with the shipped policy rel (under the source tree's policies/) as its default. */
static void probe_start(probe *p, const char *rel) {
        char path[512];
        const char *why = NULL;

        snprintf(path, sizeof(path), "%s/policies/%s", source_dir(), rel);
        if (brigd_start(&p->d, path, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
        p->fd = client_connect(&p->d);
        assert_true(p->fd >= 0);
        cJSON *init = client_initialize(p->fd, "{\"brig/environment\":\"probe\"}");
        assert_non_null(init);
        cJSON_Delete(init);
        p->id = 1;
}

static void probe_stop(probe *p) {
        close(p->fd);
        assert_int_equal(brigd_stop(&p->d), 0);
}

/* Runs a shell command; returns the response (caller frees). */
static cJSON *run(probe *p, const char *command) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(p->fd, p->id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        return r;
}

/* Runs a command that must exit 0 and returns its stdout (static buffer). */
static const char *out(probe *p, const char *command) {
        static char buf[8192];
        cJSON *r = run(p, command);
        if (sc_int(r, "exit_code") != 0) {
                char *all = cJSON_PrintUnformatted(r);
                fprintf(stderr, "# %s: %s\n", command, all);
                free(all);
        }
        assert_int_equal(sc_int(r, "exit_code"), 0);
        snprintf(buf, sizeof(buf), "%s", sc_str(r, "stdout") ? sc_str(r, "stdout") : "");
        cJSON_Delete(r);
        return buf;
}

static void test_policies__default_runs_python_node_git(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "default.json");
        assert_string_equal(out(&p, "python3 -c 'print(6*7)'"), "42\n");
        if (access("/usr/bin/node", X_OK) == 0)
                assert_string_equal(out(&p, "node -e 'console.log(6*7)'"), "42\n");
        assert_non_null(strstr(out(&p, "git --version"), "git version"));
        assert_string_equal(out(&p, "pwd"), "/workspace\n");
        probe_stop(&p);
}

static void test_policies__strict_hides_package_managers_and_limits_memory(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "strict.json");
        assert_string_equal(out(&p, "python3 -c 'print(1)'"), "1\n");
        assert_string_equal(out(&p, "python3 -m pip --version 2>/dev/null || echo no-pip"), "no-pip\n");
        assert_string_equal(out(&p, "pip3 --version >/dev/null 2>&1 || echo refused"), "refused\n");
        assert_string_equal(out(&p, "npm --version >/dev/null 2>&1 || echo refused"), "refused\n");
        assert_string_equal(out(&p, "ls -A /usr/local | wc -l"), "0\n");
        /* Hidden directories and files are empty and read-only: every write and chmod is refused (all
         * share one empty source, so one that got through would show in the others). */
        assert_string_equal(out(&p, "stat -c %a /usr/local /usr/bin/pip3 /usr/lib/node_modules/npm; "
                                    "wc -c < /usr/bin/pip3"),
                            "555\n444\n555\n0\n");
        assert_string_equal(
                out(&p, "for c in 'mkdir /usr/local/d' 'touch /usr/local/f' 'echo x > /usr/bin/pip3' "
                        "'chmod 0777 /usr/local'; do sh -c \"$c\" 2>/dev/null && echo \"$c\"; done; "
                        "grep -c ' /usr/local .*ro,nosuid,nodev,noexec' /proc/self/mountinfo"),
                "1\n");
        /* 256M of memory (RLIMIT_DATA at least): a 512 MiB allocation fails. */
        assert_string_equal(out(&p, "python3 -c 'bytearray(512 << 20)' 2>/dev/null || echo refused"),
                            "refused\n");
        /* An extra denied syscall: personality(2) with a query argument still fails. */
        assert_string_equal(
                out(&p, "python3 -c 'import ctypes; print(ctypes.CDLL(None).personality(0xffffffff))'"),
                "-1\n");
        probe_stop(&p);
}

static void test_policies__permissive_dev_is_wide_but_keeps_host_secrets_out(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "permissive-dev.json");
        assert_string_equal(out(&p, "hostname"), "brig-dev\n");
        assert_string_equal(out(&p, "echo x > /var/tmp/f && cat /var/tmp/f"), "x\n");
        assert_string_equal(out(&p, "ulimit -n"), "8192\n");
        assert_string_equal(out(&p, "for d in /home /root /var/lib /etc/shadow /etc/ssh; do test -e $d && "
                                    "echo $d; done; true"),
                            "");
        probe_stop(&p);
}

static void test_policies__example_read_only_agent(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/read-only-agent.json");
        assert_string_equal(out(&p, "echo hi > note && cat note"), "hi\n");
        cJSON *r = client_tool_call(p.fd, 100, "read_file", "{\"path\":\"note\"}", NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        r = client_tool_call(p.fd, 101, "write_file", "{\"path\":\"x\",\"content\":\"y\"}", NULL, NULL);
        assert_non_null(cJSON_GetObjectItem(r, "error"));
        cJSON_Delete(r);
        probe_stop(&p);
}

static void test_policies__example_scratch_cache(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/scratch-cache.json");
        assert_string_equal(out(&p, "pwd"), "/home/agent/project\n");
        assert_string_equal(out(&p, "stat -c %a /cache"), "700\n");
        assert_string_equal(out(&p, "ls -A /usr/share/doc | wc -l"), "0\n");
        if (access("/usr/share/common-licenses", R_OK) == 0)
                assert_string_equal(out(&p, "test -d /opt/licenses && echo yes"), "yes\n");
        probe_stop(&p);
}

static void test_policies__example_short_lived(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/short-lived.json");
        /* Output beyond 64K is dropped and marked. */
        cJSON *r = run(&p, "head -c 100000 /dev/zero | tr '\\\\0' x");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "truncated")));
        cJSON_Delete(r);
        probe_stop(&p);
}

static void test_policies__example_cgroup_limits(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/cgroup-limits.json");
        cJSON *r = run(&p, "echo ran");
        if (result_is_error(r)) {
                /* Fail closed where brigd has no cgroups (rootless modes, or no delegation). */
                const cJSON *e = cJSON_GetObjectItem(result_sc(r), "error");
                assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "requires cgroup"));
                assert_true(geteuid() != 0 || getenv("BRIG_TEST_MODE"));
        } else
                assert_string_equal(sc_str(r, "stdout"), "ran\n");
        cJSON_Delete(r);
        probe_stop(&p);
}

static void test_policies__example_seccomp_extra_deny(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/seccomp-extra-deny.json");
        cJSON *r = run(&p, "touch f && chmod 600 f");
        assert_int_not_equal(sc_int(r, "exit_code"), 0);
        assert_non_null(strstr(sc_str(r, "stderr"), "Permission denied"));
        cJSON_Delete(r);
        probe_stop(&p);
}

static void test_policies__example_env_pass(void **state) {
        (void) state;
        probe p;
        /* brigd inherits this test's environment: only the listed names reach the jail. */
        setenv("BRIG_EXAMPLE_COLOR", "teal", 1);
        setenv("BRIG_SECRET_TOKEN", "hunter2", 1);
        setenv("TZ", "UTC", 1);
        probe_start(&p, "examples/env-pass.json");
        unsetenv("BRIG_EXAMPLE_COLOR");
        unsetenv("BRIG_SECRET_TOKEN");
        assert_string_equal(out(&p, "env | grep -E '^(BRIG_|TZ=)' | sort"),
                            "BRIG_EXAMPLE_COLOR=teal\nTZ=UTC\n");
        probe_stop(&p);
}

/* The audit log's lines with "tool":"<tool>" (static buffer, concatenated). */
static int audit_lines(const brigd *d, const char *type, const char *tool, char *ret, size_t size) {
        char line[65536], needle_t[64], needle_tool[64];
        int n = 0;
        FILE *f = fopen(d->audit, "r");

        assert_non_null(f);
        snprintf(needle_t, sizeof(needle_t), "\"type\":\"%s\"", type);
        snprintf(needle_tool, sizeof(needle_tool), "\"tool\":\"%s\"", tool);
        ret[0] = 0;
        while (fgets(line, sizeof(line), f))
                if (strstr(line, needle_t) && strstr(line, needle_tool)) {
                        n++;
                        strncat(ret, line, size - strlen(ret) - 1);
                }
        fclose(f);
        return n;
}

static void test_policies__example_audit_quiet(void **state) {
        (void) state;
        char lines[8192];
        probe p;
        probe_start(&p, "examples/audit-quiet.json");
        cJSON *r = client_tool_call(
                p.fd, 100, "write_file",
                "{\"path\":\"notes.txt\",\"content\":\"0123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789\"}",
                NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        r = client_tool_call(p.fd, 101, "read_file", "{\"path\":\"notes.txt\"}", NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        assert_string_equal(out(&p, "cat notes.txt | wc -c"), "80\n");
        /* The write and the command are recorded, the write's content cut at 64 bytes; the read is not. */
        assert_int_equal(audit_lines(&p.d, "call_start", "write_file", lines, sizeof(lines)), 1);
        assert_non_null(strstr(lines, "...<elided, 80 bytes>"));
        assert_int_equal(audit_lines(&p.d, "call_end", "write_file", lines, sizeof(lines)), 1);
        assert_int_equal(audit_lines(&p.d, "call_start", "exec", lines, sizeof(lines)), 1);
        assert_int_equal(audit_lines(&p.d, "call_start", "read_file", lines, sizeof(lines)), 0);
        assert_int_equal(audit_lines(&p.d, "call_end", "read_file", lines, sizeof(lines)), 0);
        probe_stop(&p);
}

static void test_policies__example_ci_tests_extends_default(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/ci-tests.json");
        /* Inherited: the toolchain binds and HOME; added: the /cache tmpfs and two variables. */
        assert_string_equal(out(&p, "python3 -c 'print(6*7)'"), "42\n");
        assert_string_equal(out(&p, "echo $HOME $CI $XDG_CACHE_HOME"), "/workspace true /cache\n");
        assert_string_equal(out(&p, "echo x > /cache/f && echo x > /tmp/f && cat /cache/f /tmp/f"),
                            "x\nx\n");
        probe_stop(&p);
}

static void test_policies__example_port_80_server(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/port-80-server.json");
        cJSON *r = run(
                &p,
                "id -u; id -g; python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 80)); "
                "print(\"bound\")'");
        if (result_is_error(r) || cJSON_GetObjectItem(r, "error")) {
                /* landlock "required" on a kernel without it: refused, naming the layer. */
                char *all = cJSON_PrintUnformatted(r);
                assert_non_null(strstr(all, "landlock"));
                free(all);
                cJSON_Delete(r);
                probe_stop(&p);
                fprintf(stderr, "# SKIP: no Landlock here\n");
                skip();
        }
        assert_string_equal(sc_str(r, "stdout"), "4242\n4242\nbound\n");
        cJSON_Delete(r);
        probe_stop(&p);
}

/* brig/environment.info's workspace_bytes for the probe's environment, -1 when not measured. */
static double workspace_bytes(probe *p) {
        char msg[256];
        int id = p->id++;
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"brig/environment.info\",\"params\":{\"id\":"
                 "\"probe\"}}",
                 id);
        assert_int_equal(client_send(p->fd, msg), 0);
        for (;;) {
                cJSON *m = client_recv(p->fd, 20000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id) {
                        cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "workspace_bytes");
                        double v = cJSON_IsNumber(b) ? b->valuedouble : -1;
                        cJSON_Delete(m);
                        return v;
                }
                cJSON_Delete(m);
        }
}

/* Waits until the measured usage is above (or at most) limit. */
static void wait_usage(probe *p, double limit, bool above) {
        for (int i = 0; i < 500; i++) {
                double b = workspace_bytes(p);
                if (b >= 0 && (above ? b > limit : b <= limit))
                        return;
                usleep(10000);
        }
        fail_msg("workspace usage never went %s %.0f", above ? "above" : "down to", limit);
}

static void test_policies__example_workspace_quota(void **state) {
        (void) state;
        probe p;
        probe_start(&p, "examples/workspace-quota.json");
        /* Three files of 3 MiB: the call that crosses 8 MiB completes (the limit is soft)... */
        assert_string_equal(out(&p, "for i in 1 2 3; do head -c 3M /dev/urandom > f$i; done; echo done"),
                            "done\n");
        wait_usage(&p, 8 << 20, true);
        /* ...and the next writing call is refused, reads and removal still work. */
        cJSON *r = run(&p, "echo more > g");
        cJSON *e = cJSON_GetObjectItem(r, "error");
        assert_non_null(e);
        assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "over the quota"));
        cJSON_Delete(r);
        r = client_tool_call(p.fd, 200, "write_file", "{\"path\":\"x\",\"content\":\"y\"}", NULL, NULL);
        assert_non_null(cJSON_GetObjectItem(r, "error"));
        cJSON_Delete(r);
        r = client_tool_call(p.fd, 201, "stat", "{\"path\":\"f1\"}", NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        r = client_tool_call(p.fd, 202, "remove", "{\"path\":\"f1\"}", NULL, NULL);
        assert_false(result_is_error(r));
        cJSON_Delete(r);
        wait_usage(&p, 8 << 20, false);
        assert_string_equal(out(&p, "ls"), "f2\nf3\n");
        /* One file past limits.file_size is cut by RLIMIT_FSIZE. */
        r = run(&p, "head -c 5M /dev/zero > big");
        assert_int_not_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        probe_stop(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policies__default_runs_python_node_git),
                cmocka_unit_test(test_policies__strict_hides_package_managers_and_limits_memory),
                cmocka_unit_test(test_policies__permissive_dev_is_wide_but_keeps_host_secrets_out),
                cmocka_unit_test(test_policies__example_read_only_agent),
                cmocka_unit_test(test_policies__example_scratch_cache),
                cmocka_unit_test(test_policies__example_short_lived),
                cmocka_unit_test(test_policies__example_cgroup_limits),
                cmocka_unit_test(test_policies__example_seccomp_extra_deny),
                cmocka_unit_test(test_policies__example_env_pass),
                cmocka_unit_test(test_policies__example_audit_quiet),
                cmocka_unit_test(test_policies__example_workspace_quota),
                cmocka_unit_test(test_policies__example_ci_tests_extends_default),
                cmocka_unit_test(test_policies__example_port_80_server),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
