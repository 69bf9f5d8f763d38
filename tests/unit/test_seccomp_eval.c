/* SPDX-License-Identifier: MIT */
/* Unit tests for sandbox/seccomp_eval.c: evaluates the program brig really compiles (floor, extra denials,
 * a profile) for single system calls, and hand-written programs for the interpreter's edge cases. Pure: the
 * filters are never loaded. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_eval.h"

static struct sock_fprog compile(const char *const *deny, size_t n_deny, int errno_ret) {
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};
        int fd = -1;

        if (brig_seccomp_compile(deny, n_deny, errno_ret, &fd, &err) < 0)
                fail_msg("compile: %s", err.msg);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        (void) close(fd);
        return prog;
}

static uint32_t eval(const struct sock_fprog *prog, const char *name, uint32_t arch, uint64_t arg) {
        struct seccomp_data d = {.arch = arch};
        uint32_t action = 0xdeadbeef;
        int nr = seccomp_syscall_resolve_name(name);

        assert_true(nr >= 0);
        d.nr = nr;
        for (size_t i = 0; i < 6; i++)
                d.args[i] = arg;
        assert_int_equal(brig_seccomp_eval(prog, &d, &action), 0);
        return action;
}

static void test_seccomp_eval__floor_program(void **state) {
        struct sock_fprog prog = compile(NULL, 0, EPERM);
        uint32_t native = seccomp_arch_native();

        (void) state;
        assert_int_equal(eval(&prog, "mount", native, 0), SECCOMP_RET_ERRNO | EPERM);
        assert_int_equal(eval(&prog, "read", native, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&prog, "getpid", native, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&prog, "clone3", native, 0), SECCOMP_RET_ERRNO | ENOSYS);
        /* Arguments: clone with a namespace flag, and a personality change. */
        assert_int_equal(eval(&prog, "clone", native, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&prog, "clone", native, CLONE_NEWUSER), SECCOMP_RET_ERRNO | EPERM);
        assert_int_equal(eval(&prog, "personality", native, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&prog, "personality", native, 1), SECCOMP_RET_ERRNO | EPERM);
        /* Any other architecture is killed, whatever the call. */
        assert_int_equal(eval(&prog, "read", native ^ 0x1000, 0), SECCOMP_RET_KILL_PROCESS);
        free(prog.filter);
}

static void test_seccomp_eval__kills_x32_on_x86_64(void **state) {
        struct sock_fprog prog;
        struct seccomp_data d = {.arch = seccomp_arch_native()};
        uint32_t action = 0;

        (void) state;
        if (seccomp_arch_native() != SCMP_ARCH_X86_64)
                skip();
        prog = compile(NULL, 0, EPERM);
        d.nr = 0x40000000 | (uint32_t) seccomp_syscall_resolve_name("read");
        assert_int_equal(brig_seccomp_eval(&prog, &d, &action), 0);
        assert_int_equal(action, SECCOMP_RET_KILL_PROCESS);
        free(prog.filter);
}

/* With audited denials, calls of other ABIs are notified like the floor's denials, not killed. */
static void test_seccomp_eval__audited_other_abis_notify(void **state) {
        brig_seccomp_spec spec = {.errno_ret = EPERM, .audit = true};
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};
        struct seccomp_data d = {.arch = seccomp_arch_native()};
        uint32_t action = 0;
        int fd = -1;

        (void) state;
        assert_int_equal(brig_seccomp_compile_spec(&spec, &fd, &err), 0);
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        (void) close(fd);
        assert_int_equal(eval(&prog, "mount", d.arch, 0), SECCOMP_RET_USER_NOTIF);
        assert_int_equal(eval(&prog, "read", d.arch, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&prog, "read", d.arch ^ 0x1000, 0), SECCOMP_RET_USER_NOTIF);
        if (d.arch == SCMP_ARCH_X86_64) {
                d.nr = 0x40000000 | (uint32_t) seccomp_syscall_resolve_name("read");
                assert_int_equal(brig_seccomp_eval(&prog, &d, &action), 0);
                assert_int_equal(action, SECCOMP_RET_USER_NOTIF);
        }
        free(prog.filter);
}

static void test_seccomp_eval__extra_denials_and_errno(void **state) {
        static const char *const deny[] = {"chmod", NULL};
        struct sock_fprog prog = compile(deny, 1, EACCES);
        uint32_t native = seccomp_arch_native();

        (void) state;
        assert_int_equal(eval(&prog, "chmod", native, 0), SECCOMP_RET_ERRNO | EACCES);
        assert_int_equal(eval(&prog, "mount", native, 0), SECCOMP_RET_ERRNO | EACCES);
        assert_int_equal(eval(&prog, "chown", native, 0), SECCOMP_RET_ALLOW);
        free(prog.filter);
}

static void test_seccomp_eval__interpreter_edge_cases(void **state) {
        struct seccomp_data d = {.nr = 7, .arch = 1, .args = {0x100000002ULL}};
        struct sock_filter off_end[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
        struct sock_filter unknown[] = {BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
        struct sock_filter bad_load[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
                                         BPF_STMT(BPF_RET | BPF_K, 0)};
        struct sock_filter far_jump[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 5, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
        struct sock_filter div0[] = {BPF_STMT(BPF_LDX | BPF_IMM, 0), BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
                                     BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        /* A = nr * 2 + low word of args[0]; kept in M[3]; returns ERRNO(A) when A == 16. */
        struct sock_filter calc[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2),
                BPF_STMT(BPF_MISC | BPF_TAX, 0),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
                BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
                BPF_STMT(BPF_ST, 3),
                BPF_STMT(BPF_LDX | BPF_MEM, 3),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 16, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
                BPF_STMT(BPF_MISC | BPF_TXA, 0),
                BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
                BPF_STMT(BPF_RET | BPF_A, 0),
        };
#define PROG(f) (&(struct sock_fprog){.len = sizeof(f) / sizeof((f)[0]), .filter = (f)})
        uint32_t action = 42;

        (void) state;
        assert_int_equal(brig_seccomp_eval(PROG(off_end), &d, &action), -EINVAL);
        assert_int_equal(brig_seccomp_eval(PROG(unknown), &d, &action), -EINVAL);
        assert_int_equal(brig_seccomp_eval(PROG(bad_load), &d, &action), -EINVAL);
        assert_int_equal(brig_seccomp_eval(PROG(far_jump), &d, &action), -EINVAL);
        assert_int_equal(action, 42);
        assert_int_equal(brig_seccomp_eval(PROG(div0), &d, &action), 0);
        assert_int_equal(action, SECCOMP_RET_KILL_THREAD);
        assert_int_equal(brig_seccomp_eval(PROG(calc), &d, &action), 0);
        assert_int_equal(action, SECCOMP_RET_ERRNO | 16);
        d.nr = 8;
        assert_int_equal(brig_seccomp_eval(PROG(calc), &d, &action), 0);
        assert_int_equal(action, SECCOMP_RET_KILL_PROCESS);
#undef PROG
}

static void test_seccomp_eval__describes_actions(void **state) {
        char b[64];

        (void) state;
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_ALLOW, 0, b, sizeof(b)), "allowed");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_ERRNO | EPERM, 0, b, sizeof(b)),
                            "errno EPERM");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_ERRNO | 4000, 0, b, sizeof(b)),
                            "errno 4000");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_KILL_PROCESS, 0, b, sizeof(b)),
                            "kill process");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_KILL_THREAD, 0, b, sizeof(b)),
                            "kill thread");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_TRAP, 0, b, sizeof(b)), "trap");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_LOG, 0, b, sizeof(b)), "log");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_TRACE | 5, 0, b, sizeof(b)), "trace 5");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_USER_NOTIF, EPERM, b, sizeof(b)),
                            "notify+errno EPERM");
        assert_string_equal(brig_seccomp_action_str(SECCOMP_RET_USER_NOTIF, 0, b, sizeof(b)), "notify");
        assert_string_equal(brig_seccomp_action_str(0x12340000, 0, b, sizeof(b)),
                            "kill process (unknown action 0x12340000)");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp_eval__floor_program),
                cmocka_unit_test(test_seccomp_eval__kills_x32_on_x86_64),
                cmocka_unit_test(test_seccomp_eval__audited_other_abis_notify),
                cmocka_unit_test(test_seccomp_eval__extra_denials_and_errno),
                cmocka_unit_test(test_seccomp_eval__interpreter_edge_cases),
                cmocka_unit_test(test_seccomp_eval__describes_actions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
