/* SPDX-License-Identifier: MIT */
/* Audited denials for real: a forked child loads a filter compiled with audit on, hands its listener to
 * the parent over a socketpair (SCM_RIGHTS, as brig-jail does), and probes; the parent receives each
 * notification with sandbox/seccomp_notify.c and answers it. Skips when the kernel lacks user
 * notification. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "sandbox/jailctl.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_notify.h"
#include "sandbox/seccomp_profile.h"

#define EXIT_NO_LISTENER 77

/* What a child does once its filter is in force. */
typedef int (*probe_fn)(void);

/* Compiles spec, forks a child that loads it and sends its listener (if any) on a socket; returns the
 * child's pid and the parent's end of the socket. */
static pid_t start_child(const brig_seccomp_spec *spec, bool send_listener, probe_fn probe, int *ret_sock) {
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};
        int fd = -1, pair[2];
        pid_t pid;

        if (brig_seccomp_compile_spec(spec, &fd, &err) < 0)
                fail_msg("compile: %s", err.msg);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        (void) close(fd);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int listener = -1;
                (void) close(pair[0]);
                (void) prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0);
                if (brig_seccomp_load_listener(&prog, &listener) < 0)
                        _exit(EXIT_NO_LISTENER);
                if (listener >= 0 && send_listener) {
                        if (brig_jailctl_send_listener(pair[1], listener) < 0)
                                _exit(201);
                }
                if (listener >= 0)
                        (void) close(listener);
                (void) close(pair[1]);
                _exit(probe());
        }
        free(prog.filter);
        (void) close(pair[1]);
        *ret_sock = pair[0];
        return pid;
}

/* Receives the child's listener, or -1 when the child sent none (it exited first). */
static int take_listener(int sock) {
        brig_jailctl_msg m;
        int fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0;

        int r = brig_jailctl_recv(sock, &m, fds, &n);
        (void) close(sock);
        if (r <= 0 || n != 1)
                return -1;
        return fds[0];
}

static int wait_child(pid_t pid) {
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("child killed by signal %d", WTERMSIG(status));
        if (WEXITSTATUS(status) == EXIT_NO_LISTENER)
                skip();
        return WEXITSTATUS(status);
}

/* Waits up to 10 s for one notification on listener and receives it. */
static void recv_one(int listener, brig_seccomp_denial *d) {
        struct pollfd p = {.fd = listener, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        assert_int_equal(brig_seccomp_notify_pending(listener), 1);
        assert_int_equal(brig_seccomp_notify_recv(listener, d), 0);
}

static int probe_mount(void) {
        long r = syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0x1234UL, NULL);
        if (r != -1)
                return 10;
        if (errno != EPERM)
                return 11;
        return 0;
}

static void test_seccomp_notify__mount_reaches_listener_and_gets_errno(void **state) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        brig_seccomp_denial d;
        int sock, listener;
        (void) state;

        pid_t pid = start_child(&spec, true, probe_mount, &sock);
        listener = take_listener(sock);
        if (listener < 0) {
                (void) wait_child(pid);
                fail_msg("no listener received");
        }
        recv_one(listener, &d);
        assert_string_equal(d.syscall, "mount");
        assert_int_equal(d.nr, SYS_mount);
        assert_int_equal(d.pid, pid);
        assert_int_equal(d.args[3], 0x1234);
        /* Still waiting for us: the pid is the caller's. */
        assert_int_equal(brig_seccomp_notify_id_valid(listener, d.id), 0);

        cJSON *ev = cJSON_CreateObject();
        assert_int_equal(brig_seccomp_denial_to_json(&d, ev), 0);
        assert_string_equal(cJSON_GetObjectItem(ev, "syscall")->valuestring, "mount");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "args")), 6);
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "args"), 3)->valuestring, "0x1234");
        assert_int_equal((pid_t) cJSON_GetObjectItem(ev, "pid")->valuedouble, pid);
        cJSON_Delete(ev);

        assert_int_equal(brig_seccomp_notify_deny(listener, d.id, EPERM), 0);
        /* Answered: the cookie is spent. */
        assert_int_equal(brig_seccomp_notify_id_valid(listener, d.id), -ENOENT);
        assert_int_equal(wait_child(pid), 0);
        /* The child has exited: nothing uses the filter any more. */
        assert_int_equal(brig_seccomp_notify_pending(listener), -EPIPE);
        (void) close(listener);
}

static int probe_mount_enosys(void) {
        long r = syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0UL, NULL);
        return r == -1 && errno == ENOSYS ? 0 : 12;
}

static void test_seccomp_notify__without_listener_fails_closed_with_enosys(void **state) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        int sock;
        (void) state;

        /* The child closes its listener unsent: the worker is "gone". */
        pid_t pid = start_child(&spec, false, probe_mount_enosys, &sock);
        (void) close(sock);
        assert_int_equal(wait_child(pid), 0);
}

static int probe_kcmp_quiet_then_mount(void) {
        /* kcmp is denied without audit: it fails at once, with no one answering. */
        long r = syscall(SYS_kcmp, 0L, 0L, 0L, 0L, 0L);
        if (r != -1 || errno != EPERM)
                return 13;
        return probe_mount();
}

static void test_seccomp_notify__per_entry_audit_off_is_plain_errno(void **state) {
        const char *deny[] = {"kcmp"};
        const bool audit[] = {false};
        brig_seccomp_spec spec = {
                .deny = deny, .n_deny = 1, .deny_audit = audit, .errno_ret = EPERM, .audit = true};
        brig_seccomp_denial d;
        int sock, listener;
        (void) state;

        pid_t pid = start_child(&spec, true, probe_kcmp_quiet_then_mount, &sock);
        listener = take_listener(sock);
        assert_true(listener >= 0);
        recv_one(listener, &d);
        /* The first notification is mount's: kcmp never reached us. */
        assert_string_equal(d.syscall, "mount");
        assert_int_equal(brig_seccomp_notify_deny(listener, d.id, EPERM), 0);
        assert_int_equal(wait_child(pid), 0);
        (void) close(listener);
}

static void test_seccomp_notify__audit_off_compiles_no_notify(void **state) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = false};
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};
        int fd = -1, sock;
        (void) state;

        assert_int_equal(brig_seccomp_compile_spec(&spec, &fd, &err), 0);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        assert_false(brig_seccomp_has_notify(&prog));
        free(prog.filter);
        (void) close(fd);
        spec.audit = true;
        assert_int_equal(brig_seccomp_compile_spec(&spec, &fd, &err), 0);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        assert_true(brig_seccomp_has_notify(&prog));
        /* Such a program needs somewhere to put its listener. */
        assert_int_equal(brig_seccomp_load(&prog), -EINVAL);
        free(prog.filter);
        (void) close(fd);

        /* And without audit the child gets EPERM with no listener at all. */
        spec.audit = false;
        pid_t pid = start_child(&spec, true, probe_mount, &sock);
        assert_int_equal(take_listener(sock), -1);
        assert_int_equal(wait_child(pid), 0);
}

static void test_seccomp_notify__docker_profile_keeps_mount_audited(void **state) {
        char path[4096];
        const char *src = getenv("BRIG_SOURCE_DIR");
        brig_seccomp_profile *p = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_denial d;
        int sock, listener;
        (void) state;

        (void) snprintf(path, sizeof(path), "%s/policies/seccomp/docker-default.json", src ? src : ".");
        if (brig_seccomp_profile_load(path, "seccomp.profile", "6.1.0", &p, NULL, &err) < 0)
                fail_msg("load %s: %s", path, err.msg);
        brig_seccomp_spec spec = {.profile = p, .errno_ret = EPERM, .audit = true};
        pid_t pid = start_child(&spec, true, probe_mount, &sock);
        brig_seccomp_profile_free(p);
        listener = take_listener(sock);
        if (listener < 0) {
                (void) wait_child(pid);
                fail_msg("no listener received");
        }
        /* The profile denies mount with its own ERRNO, but the floor comes first in the program: the
         * floor's USER_NOTIF is what the kernel sees. */
        recv_one(listener, &d);
        assert_string_equal(d.syscall, "mount");
        assert_int_equal(brig_seccomp_notify_deny(listener, d.id, EPERM), 0);
        assert_int_equal(wait_child(pid), 0);
        (void) close(listener);
}

/* ---- calls of other ABIs ---- */

#ifdef __x86_64__
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

static int probe_x32_getpid(void) {
        long r = syscall(__X32_SYSCALL_BIT | SYS_getpid);
        return r == -1 && errno == EPERM ? 0 : 14;
}

static int probe_x32_getpid_enosys(void) {
        long r = syscall(__X32_SYSCALL_BIT | SYS_getpid);
        return r == -1 && errno == ENOSYS ? 0 : 15;
}

/* getpid through int 0x80 (20 in the i386 table); 0 when it failed with EPERM, 1 when it ran. */
static int probe_int80_getpid(void) {
        long ret = 20;

        __asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "cc", "r8", "r9", "r10", "r11");
        return ret == -EPERM ? 0 : ret > 0 ? 1 : 16;
}
#endif

/* Receives one notification from the child probe and checks it names abi, nr and getpid; answers EPERM. */
static void expect_foreign_getpid(probe_fn probe, const char *abi, int nr) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        brig_seccomp_denial d;
        char text[256];
        int sock, listener;

        pid_t pid = start_child(&spec, true, probe, &sock);
        listener = take_listener(sock);
        if (listener < 0) {
                (void) wait_child(pid);
                fail_msg("no listener received");
        }
        recv_one(listener, &d);
        assert_string_equal(d.syscall, "getpid");
        assert_string_equal(d.abi, abi);
        assert_true(d.foreign);
        assert_int_equal(d.nr, nr);
        assert_int_equal(d.pid, pid);
        cJSON *ev = cJSON_CreateObject();
        assert_int_equal(brig_seccomp_denial_to_json(&d, ev), 0);
        assert_string_equal(cJSON_GetObjectItem(ev, "arch")->valuestring, abi);
        assert_true(cJSON_GetObjectItem(ev, "nr")->valuedouble == nr);
        cJSON_Delete(ev);
        (void) snprintf(text, sizeof(text), ") from the %s ABI", abi);
        assert_non_null(strstr(brig_seccomp_denial_format(&d, text + 100, 150), text));
        /* The answer is an errno: the call never runs, and the process lives on to report it. */
        assert_int_equal(brig_seccomp_notify_deny(listener, d.id, EPERM), 0);
        assert_int_equal(wait_child(pid), 0);
        (void) close(listener);
}

static void test_seccomp_notify__x32_call_is_audited_not_run(void **state) {
        (void) state;
#ifdef __x86_64__
        expect_foreign_getpid(probe_x32_getpid, "x32", __X32_SYSCALL_BIT | SYS_getpid);
#else
        skip();
#endif
}

static void test_seccomp_notify__i386_call_is_audited_not_run(void **state) {
        (void) state;
#ifdef __x86_64__
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(probe_int80_getpid());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        /* Without IA32 emulation int 0x80 faults before seccomp sees it: nothing to test. */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
                skip();
        expect_foreign_getpid(probe_int80_getpid, "i386", 20);
#else
        skip();
#endif
}

static void test_seccomp_notify__x32_call_without_listener_fails_closed(void **state) {
        (void) state;
#ifdef __x86_64__
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        int sock;

        /* No one to answer: ENOSYS, neither run nor continued. */
        pid_t pid = start_child(&spec, false, probe_x32_getpid_enosys, &sock);
        (void) close(sock);
        assert_int_equal(wait_child(pid), 0);
#else
        skip();
#endif
}

static void test_seccomp_notify__native_denial_names_its_abi(void **state) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        brig_seccomp_denial d;
        int sock, listener;
        char text[256];
        (void) state;

        /* A native call names its ABI too, and its text has no ABI suffix. */
        pid_t pid = start_child(&spec, true, probe_mount, &sock);
        listener = take_listener(sock);
        assert_true(listener >= 0);
        recv_one(listener, &d);
        assert_false(d.foreign);
#ifdef __x86_64__
        assert_string_equal(d.abi, "x86_64");
#endif
        assert_null(strstr(brig_seccomp_denial_format(&d, text, sizeof(text)), "ABI"));
        assert_int_equal(brig_seccomp_notify_deny(listener, d.id, EPERM), 0);
        assert_int_equal(wait_child(pid), 0);
        (void) close(listener);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_notify__mount_reaches_listener_and_gets_errno),
                cmocka_unit_test(test_seccomp_notify__without_listener_fails_closed_with_enosys),
                cmocka_unit_test(test_seccomp_notify__per_entry_audit_off_is_plain_errno),
                cmocka_unit_test(test_seccomp_notify__audit_off_compiles_no_notify),
                cmocka_unit_test(test_seccomp_notify__docker_profile_keeps_mount_audited),
                cmocka_unit_test(test_seccomp_notify__x32_call_is_audited_not_run),
                cmocka_unit_test(test_seccomp_notify__i386_call_is_audited_not_run),
                cmocka_unit_test(test_seccomp_notify__x32_call_without_listener_fails_closed),
                cmocka_unit_test(test_seccomp_notify__native_denial_names_its_abi),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
