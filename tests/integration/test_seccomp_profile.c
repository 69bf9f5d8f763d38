/* SPDX-License-Identifier: MIT */
/* Docker's default seccomp profile (policies/seccomp/docker-default.json) under brig's floor, in a real
 * jail: the shipped policies/docker-seccomp.json is loaded and compiled the way brigd and `brig run` do,
 * and brig-jail builds the jail and runs a python3 probe that reports each syscall's errno.
 *
 * Processes: this test forks brig-jail (as itself, as uid 65534 through setpriv, or as "root" of an
 * `unshare -r` user namespace, per BRIG_TEST_MODE) with the plan on fd 3, the status pipe on fd 4 and the
 * seccomp program on fd 5, and reads the probe's stdout from a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "sandbox/plan.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "tests/integration/harness.h"

/* Each probe prints "name=OK" or "name=ERRNONAME". */
static const char probe[] =
        "import ctypes, errno, os, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def sc(name, *args):\n"
        "    r = libc.syscall(*args)\n"
        "    print(name + '=' + ('OK' if r >= 0 else errno.errorcode[ctypes.get_errno()]))\n"
        "def py(name, f):\n"
        "    try:\n"
        "        f(); print(name + '=OK')\n"
        "    except OSError as e:\n"
        "        print(name + '=' + errno.errorcode[e.errno])\n"
        "def fork():\n"
        "    pid = os.fork()\n"
        "    if pid == 0: os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "py('mkdir', lambda: os.mkdir('/tmp/d'))\n"
        "py('fork', fork)\n"
        "py('inet', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())\n"
        "py('unix', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())\n"
        "py('vsock', lambda: socket.socket(40, socket.SOCK_STREAM).close())\n"
        "sc('mount', 165, b'none', b'/tmp/d', b'tmpfs', 0, None)\n"
        "sc('unshare_user', 272, 0x10000000)\n"
        "sc('keyctl', 250, 0, -3, 0)\n"
        "sc('bpf', 321, 0, None, 0)\n"
        "sc('clone_newns', 56, 0x00020000 | 17, 0, 0, 0, 0)\n"
        "sc('clone_newnet', 56, 0x40000000 | 17, 0, 0, 0, 0)\n"
        "sc('io_uring_setup', 425, 1, None)\n";

static const char expected[] = "mkdir=OK\nfork=OK\ninet=OK\nunix=OK\nvsock=EPERM\nmount=EPERM\n"
                               "unshare_user=EPERM\nkeyctl=EPERM\nbpf=EPERM\nclone_newns=EPERM\n"
                               "clone_newnet=EPERM\nio_uring_setup=EPERM\n";

/* Identity as brig_identity_detect() would see it from inside each mode's helper. */
static int mode_identity(const char *mode, brig_identity *ret, uid_t *ret_owner) {
        brig_error err = BRIG_ERROR_INIT;

        if (!mode || !*mode) {
                *ret_owner = geteuid() == 0 ? BRIG_JAIL_HOST_ID_DEFAULT : geteuid();
                return brig_identity_detect(BRIG_JAIL_HOST_ID_DEFAULT, ret, &err);
        }
        *ret_owner = 65534;
        if (strcmp(mode, "setpriv") == 0)
                *ret = (brig_identity){.uid_outside = 65534, .gid_outside = 65534};
        else
                *ret = (brig_identity){.uid_outside = 0, .gid_outside = 0};
        return 0;
}

static void test_seccomp_profile__docker_default_in_a_real_jail(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        char policy_path[512], helper[512], ws[] = "/tmp/brig-scmp-ws-XXXXXX", out[4096] = "", st[512] = "";
        const char *argv[] = {"python3", "-c", probe, NULL};
        brig_policy_diags diags = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *policy = NULL;
        brig_plan *plan = NULL;
        brig_identity id;
        uid_t owner;
        int seccomp_fd = -1, plan_fd, out_pipe[2], st_pipe[2], status = 0;
        size_t n_out = 0, n_st = 0;
        char *json;
        pid_t pid;

        if (mode && *mode && geteuid() != 0) {
                fprintf(stderr, "# SKIP: BRIG_TEST_MODE=%s needs root\n", mode);
                skip();
        }
        snprintf(policy_path, sizeof(policy_path), "%s/policies/docker-seccomp.json", source_dir());
        snprintf(helper, sizeof(helper), "%s/brig-jail", build_dir());
        if (brig_policy_load(policy_path, &policy, &diags, &err) < 0)
                fail_msg("%s", err.msg);
        brig_policy_diags_done(&diags);
        assert_non_null(policy->seccomp.profile);
        if (brig_seccomp_compile_profile(policy->seccomp.profile, (const char *const *) policy->seccomp.deny,
                                         policy->seccomp.n_deny, policy->seccomp.errno_ret, &seccomp_fd,
                                         &err) < 0)
                fail_msg("compile: %s", err.msg);

        assert_int_equal(mode_identity(mode, &id, &owner), 0);
        assert_non_null(mkdtemp(ws));
        assert_int_equal(chown(ws, owner, owner) == 0 || geteuid() != 0, 1);
        brig_plan_request req = {.mode = BRIG_PLAN_RUN, .argv = argv, .workspace = ws};
        if (brig_plan_build(policy, &req, &id, &plan, &err) < 0)
                fail_msg("plan: %s", err.msg);
        assert_non_null(json = brig_plan_to_json(plan));
        plan_fd = memfd_create("plan", MFD_CLOEXEC);
        assert_true(plan_fd >= 0);
        assert_int_equal(write(plan_fd, json, strlen(json)), (ssize_t) strlen(json));
        assert_int_equal(lseek(plan_fd, 0, SEEK_SET), 0);
        free(json);
        brig_plan_free(plan);
        brig_policy_free(policy);

        assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
        assert_int_equal(pipe2(st_pipe, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                const char *args[16];
                int n = 0;
                char *envp[] = {NULL};

                /* dup2 clears close-on-exec on the copies only. */
                int fds[3] = {fcntl(plan_fd, F_DUPFD_CLOEXEC, 10), fcntl(st_pipe[1], F_DUPFD_CLOEXEC, 10),
                              fcntl(seccomp_fd, F_DUPFD_CLOEXEC, 10)};
                if (dup2(out_pipe[1], 1) < 0 || dup2(fds[0], 3) < 0 || dup2(fds[1], 4) < 0 ||
                    dup2(fds[2], 5) < 0)
                        _exit(125);
                if (mode && *mode) {
                        args[n++] = "/usr/bin/setpriv";
                        args[n++] = "--reuid=65534";
                        args[n++] = "--regid=65534";
                        args[n++] = "--clear-groups";
                        args[n++] = "--";
                        if (strcmp(mode, "userns") == 0) {
                                args[n++] = "/usr/bin/unshare";
                                args[n++] = "-r";
                                args[n++] = "--";
                        }
                }
                args[n++] = helper;
                args[n++] = "--plan-fd";
                args[n++] = "3";
                args[n++] = "--status-fd";
                args[n++] = "4";
                args[n++] = "--seccomp-fd";
                args[n++] = "5";
                args[n] = NULL;
                execve(args[0], (char **) args, envp);
                _exit(127);
        }
        close(out_pipe[1]);
        close(st_pipe[1]);
        close(plan_fd);
        close(seccomp_fd);
        for (ssize_t r; (r = read(out_pipe[0], out + n_out, sizeof(out) - 1 - n_out)) > 0;)
                n_out += (size_t) r;
        for (ssize_t r; (r = read(st_pipe[0], st + n_st, sizeof(st) - 1 - n_st)) > 0;)
                n_st += (size_t) r;
        close(out_pipe[0]);
        close(st_pipe[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        char rm[128];
        snprintf(rm, sizeof(rm), "rm -rf '%s'", ws);
        (void) !system(rm);

        fprintf(stderr, "# status: %s# probe output:\n%s", st, out);
        assert_non_null(strstr(st, "exit 0"));
        assert_string_equal(out, expected);
}

/* get_mempolicy: outside Docker's allow-list (it needs CAP_SYS_NICE there), harmless to the kernel. */
static const char mempolicy_probe[] =
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.syscall(239, None, None, 0, None, 0)\n"
        "print('mempolicy=' + ('OK' if r >= 0 else errno.errorcode[ctypes.get_errno()]))\n";

/* Runs code in environment env of brigd b with policy (NULL: the default); returns its stdout. */
static char *probe_in(const brigd *b, const char *env, const char *policy, const char *code) {
        char meta[256];
        if (policy)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env,
                         policy);
        else
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(b);
        assert_true(fd >= 0);
        cJSON_Delete(client_initialize(fd, meta));
        cJSON *args = cJSON_CreateObject(), *argv = cJSON_AddArrayToObject(args, "argv");
        cJSON_AddItemToArray(argv, cJSON_CreateString("python3"));
        cJSON_AddItemToArray(argv, cJSON_CreateString("-c"));
        cJSON_AddItemToArray(argv, cJSON_CreateString(code));
        char *a = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, 1, a, NULL, NULL);
        free(a);
        cJSON_Delete(args);
        assert_non_null(r);
        char *out = strdup(sc_str(r, "stdout") ? sc_str(r, "stdout") : "");
        cJSON_Delete(r);
        close(fd);
        return out;
}

/* The same profile chosen by name through brigd: the environment's jail gets it. */
static void test_seccomp_profile__chosen_by_name_through_brigd(void **state) {
        (void) state;
        const char *why = NULL;
        brigd b;
        if (brigd_start(&b, NULL, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
        char *docker = probe_in(&b, "docker", "docker-seccomp", probe);
        char *docker_mp = probe_in(&b, "docker", "docker-seccomp", mempolicy_probe);
        char *plain_mp = probe_in(&b, "plain", NULL, mempolicy_probe);
        fprintf(stderr, "# docker-seccomp:\n%s%s# default:\n%s", docker, docker_mp, plain_mp);
        assert_string_equal(docker, expected);
        /* The profile, not brig's floor, refuses get_mempolicy. */
        assert_string_equal(docker_mp, "mempolicy=EPERM\n");
        assert_string_equal(plain_mp, "mempolicy=OK\n");
        free(docker);
        free(docker_mp);
        free(plain_mp);
        assert_int_equal(brigd_stop(&b), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_profile__docker_default_in_a_real_jail),
                cmocka_unit_test(test_seccomp_profile__chosen_by_name_through_brigd),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
