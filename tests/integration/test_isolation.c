/* SPDX-License-Identifier: MIT */
/* What a jailed command can and cannot do, observed from inside a real jail run by a real brigd: no
 * capabilities, no_new_privs, seccomp, its own pid namespace, no host secrets or files, a read-only system,
 * loopback-only networking, a clean environment and no inherited descriptors. */
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

static brigd d;
static const char *skip_why;
static int fd = -1;

static int setup(void **state) {
        (void) state;
        if (brigd_start(&d, NULL, &skip_why) < 0) {
                if (!skip_why)
                        skip_why = "brigd failed to start";
                return 0;
        }
        fd = client_connect(&d);
        cJSON *init = client_initialize(fd, NULL);
        if (!init)
                skip_why = "initialize failed";
        cJSON_Delete(init);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (fd >= 0)
                close(fd);
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        return 0;
}

/* Runs a shell command in the jail and returns its stdout (static buffer), asserting it exited 0. */
static const char *jail(const char *script) {
        static int id = 100;
        static char out[65536];
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", script);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        if (sc_int(r, "exit_code") != 0)
                fprintf(stderr, "# script failed: %s\n# stderr: %s\n", script, sc_str(r, "stderr"));
        assert_int_equal(sc_int(r, "exit_code"), 0);
        snprintf(out, sizeof(out), "%s", sc_str(r, "stdout"));
        cJSON_Delete(r);
        return out;
}

static void test_isolation__no_capabilities_and_no_new_privs(void **state) {
        (void) state;
        const char *s = jail(
                "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status");
        assert_non_null(strstr(s, "CapInh:\t0000000000000000"));
        assert_non_null(strstr(s, "CapPrm:\t0000000000000000"));
        assert_non_null(strstr(s, "CapEff:\t0000000000000000"));
        assert_non_null(strstr(s, "CapBnd:\t0000000000000000"));
        assert_non_null(strstr(s, "CapAmb:\t0000000000000000"));
        assert_non_null(strstr(s, "NoNewPrivs:\t1"));
        assert_non_null(strstr(s, "Seccomp:\t2"));
}

static void test_isolation__own_pid_namespace(void **state) {
        (void) state;
        /* The environment's init (brig-jail) is pid 1; the host's processes are invisible. */
        const char *s = jail("tr '\\0' ' ' < /proc/1/cmdline | cut -d' ' -f1 | xargs basename; "
                             "ls /proc | grep -c '^[0-9]'");
        char init[64] = "";
        int visible = 0;
        assert_int_equal(sscanf(s, "%63s %d", init, &visible), 2);
        assert_string_equal(init, "brig-jail");
        assert_true(visible <= 6);
}

/* The jail's cgroup namespace is rooted at its own cgroup, in every hierarchy: it sees no host cgroup path.
 * brig-jail moves the init into the environment's cgroups after cloning it, and the init must take its
 * cgroup namespace only after that move (sandbox/jail.c); taken before, the environment's path below the
 * worker's shows here. */
static void test_isolation__own_cgroup_namespace(void **state) {
        (void) state;
        const char *s = jail("cat /proc/self/cgroup");
        assert_true(*s);
        for (const char *line = s; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                if (len < 2 || line[len - 2] != ':' || line[len - 1] != '/')
                        fprintf(stderr, "# cgroup line: %.*s\n", (int) len, line);
                assert_true(len >= 2 && line[len - 2] == ':' && line[len - 1] == '/');
                line += len + (end ? 1 : 0);
        }
}

static void test_isolation__runs_as_unprivileged_jail_user(void **state) {
        (void) state;
        assert_string_equal(jail("id -u; id -g; hostname"), "1000\n1000\nbrig\n");
}

static void test_isolation__host_secrets_are_unreachable(void **state) {
        (void) state;
        const char *s = jail(
                "cat /etc/shadow 2>/dev/null && echo shadow-read; ls /root 2>/dev/null && echo root-listed;"
                " ls /home 2>/dev/null && echo home-listed; echo done");
        assert_string_equal(s, "done\n");
}

static void test_isolation__system_is_read_only(void **state) {
        (void) state;
        const char *s = jail("touch /usr/x 2>/dev/null && echo usr; touch /x 2>/dev/null && echo root;"
                             " touch /etc/x 2>/dev/null && echo etc; touch /workspace/ok && touch /tmp/ok "
                             "&& echo writable");
        assert_string_equal(s, "writable\n");
}

static void test_isolation__network_is_loopback_only(void **state) {
        (void) state;
        /* No packet leaves: the namespace has no route and no interface besides lo. */
        const char *s = jail("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; wc -l < /proc/net/route;"
                             " python3 -c 'import socket\n"
                             "s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(1)\n"
                             "c=socket.create_connection(s.getsockname()); print(\"loopback-ok\")\n"
                             "try:\n"
                             "  socket.create_connection((\"192.0.2.1\",80),timeout=2); print(\"routed\")\n"
                             "except OSError as e: print(\"unreachable\")'");
        assert_string_equal(s, "lo\n1\nloopback-ok\nunreachable\n");
}

static void test_isolation__environment_is_the_policy_s_only(void **state) {
        (void) state;
        const char *s = jail("env | sort");
        assert_null(strstr(s, "BRIG_TEST_WORKER_SECRET"));
        assert_null(strstr(s, "hunter2"));
        assert_non_null(strstr(s, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
        assert_non_null(strstr(s, "HOME=/workspace\n"));
}

static void test_isolation__only_stdio_descriptors_are_open(void **state) {
        (void) state;
        const char *s =
                jail("python3 -c 'import os; print(sorted(int(x) for x in os.listdir(\"/proc/self/fd\")))'");
        /* listdir itself holds one descriptor (3) while it reads the directory. */
        assert_string_equal(s, "[0, 1, 2, 3]\n");
}

static void test_isolation__dangerous_syscalls_are_denied(void **state) {
        (void) state;
        const char *s = jail("python3 -c 'import ctypes, os\n"
                             "libc = ctypes.CDLL(None, use_errno=True)\n"
                             "def t(name, *a):\n"
                             "    r = getattr(libc, name)(*a); print(name, r, ctypes.get_errno())\n"
                             "t(\"unshare\", 0x10000000)\n"
                             "t(\"mount\", b\"none\", b\"/tmp\", b\"tmpfs\", 0, None)\n"
                             "t(\"ptrace\", 16, 1, 0, 0)\n"
                             "t(\"syscall\", 321, 0, 0, 0)\n"
                             "t(\"syscall\", 425, 1, 0)'");
        /* unshare(CLONE_NEWUSER), mount, ptrace(ATTACH), bpf (321) and io_uring_setup (425): EPERM (1). */
        assert_string_equal(s, "unshare -1 1\nmount -1 1\nptrace -1 1\nsyscall -1 1\nsyscall -1 1\n");
}

static void test_isolation__rlimits_apply(void **state) {
        (void) state;
        const char *s = jail("python3 -c 'import resource as r\n"
                             "for n in (\"CORE\", \"NOFILE\", \"NPROC\", \"FSIZE\"): "
                             "print(r.getrlimit(getattr(r, \"RLIMIT_\" + n)))'");
        assert_string_equal(s, "(0, 0)\n(1024, 1024)\n(256, 256)\n(1073741824, 1073741824)\n");
}

static void test_isolation__no_controlling_terminal(void **state) {
        (void) state;
        /* setsid(): the command's session is its own (its reaper's, whose process group it is in), not the
         * environment's, and has no terminal to push input into. */
        const char *s = jail("python3 -c 'import os; print(os.getsid(0) == os.getpgid(0) != 1)'; "
                             "(exec 3</dev/tty) 2>/dev/null && echo has-tty || echo no-tty");
        assert_string_equal(s, "True\nno-tty\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_isolation__no_capabilities_and_no_new_privs),
                cmocka_unit_test(test_isolation__own_pid_namespace),
                cmocka_unit_test(test_isolation__own_cgroup_namespace),
                cmocka_unit_test(test_isolation__runs_as_unprivileged_jail_user),
                cmocka_unit_test(test_isolation__host_secrets_are_unreachable),
                cmocka_unit_test(test_isolation__system_is_read_only),
                cmocka_unit_test(test_isolation__network_is_loopback_only),
                cmocka_unit_test(test_isolation__environment_is_the_policy_s_only),
                cmocka_unit_test(test_isolation__only_stdio_descriptors_are_open),
                cmocka_unit_test(test_isolation__dangerous_syscalls_are_denied),
                cmocka_unit_test(test_isolation__rlimits_apply),
                cmocka_unit_test(test_isolation__no_controlling_terminal),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
