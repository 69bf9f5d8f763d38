/* SPDX-License-Identifier: MIT */
/* Runs brig's seccomp program for real: each test compiles a filter, forks, loads it in the child, probes
 * syscalls through raw syscall(2) and reports through the child's exit status; the parent asserts. Probe
 * arguments are chosen so that an unfiltered call would fail differently (or succeed harmlessly), so a
 * filter that lets a call through makes the test fail rather than change the machine. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "sandbox/seccomp.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* Exit code of a child whose filter did not load; probes return 1..CHILD_LOAD_FAILED-1 for the first
 * failed check. */
#define CHILD_LOAD_FAILED 200

/* An errno no floor syscall returns by itself, so a match proves the filter answered. */
#define DISTINCT_ERRNO ENOTRECOVERABLE

#define CHECK(cond)                                                                                         \
        do {                                                                                                \
                step++;                                                                                     \
                if (!(cond))                                                                                \
                        return step;                                                                        \
        } while (0)

typedef int (*probe_fn)(void);

/* Floor syscall numbers, resolved in the parent (see test_seccomp__denies_every_floor_syscall). */
static int floor_nrs[64];

static bool failed_with(long ret, int e) {
        return ret == -1 && errno == e;
}

static int fork_and_probe(const struct sock_fprog *prog, probe_fn probe) {
        int status = 0;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* No core files from the SIGSYS kills, whatever core_pattern says. */
                (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                if (prog && brig_seccomp_load(prog) < 0)
                        _exit(CHILD_LOAD_FAILED);
                _exit(probe());
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

/* Compiles and reads back a program, then runs probe in a child that has loaded it. Returns the wait
 * status. */
static int run_filtered(const char *const *extra, size_t n_extra, int errno_ret, probe_fn probe) {
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};
        int fd = -1, r, status;

        r = brig_seccomp_compile(extra, n_extra, errno_ret, &fd, &err);
        if (r < 0)
                fail_msg("compile: %s", err.msg);
        r = brig_seccomp_read(fd, &prog, &err);
        (void) close(fd);
        if (r < 0)
                fail_msg("read: %s", err.msg);

        status = fork_and_probe(&prog, probe);
        free(prog.filter);
        return status;
}

static void assert_child_passed(int status) {
        if (WIFSIGNALED(status))
                fail_msg("probe child killed by signal %d", WTERMSIG(status));
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == CHILD_LOAD_FAILED)
                fail_msg("loading the filter failed");
        if (WEXITSTATUS(status) != 0)
                fail_msg("probe check %d failed", WEXITSTATUS(status));
}

static void assert_child_killed_by_sigsys(int status) {
        if (WIFEXITED(status))
                fail_msg("probe child exited with %d instead of dying of SIGSYS", WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void check_floor(probe_fn probe) {
        assert_child_passed(run_filtered(NULL, 0, EPERM, probe));
}

/* Tries clone(2) like fork; a child that does get created exits with 42 at once and is reaped. Returns the
 * raw result (-1 with errno, or the child's pid) and the child's wait status in *ret_status. */
static long try_clone(unsigned long flags, int *ret_status) {
        long pid = syscall(SYS_clone, flags | SIGCHLD, 0L, 0L, 0L, 0L);

        if (pid == 0)
                _exit(42);
        if (pid > 0 && syscall(SYS_wait4, pid, ret_status, 0, NULL) != pid)
                return -2;
        return pid;
}

/* ---- the floor, with the default EPERM ---- */

static int probe_getpid(void) {
        int step = 0;

        CHECK(syscall(SYS_getpid) == getpid());
        CHECK(syscall(SYS_getppid) > 0);
        return 0;
}

static void test_seccomp__allows_getpid(void **state) {
        (void) state;
        check_floor(probe_getpid);
}

static int probe_mount(void) {
        int step = 0;

        /* Unfiltered, root gets ENOENT here. */
        CHECK(failed_with(syscall(SYS_mount, "none", "/nonexistent/brig-seccomp", "tmpfs", 0UL, NULL),
                          EPERM));
        CHECK(failed_with(syscall(SYS_umount2, "/nonexistent/brig-seccomp", 0), EPERM));
        return 0;
}

static void test_seccomp__denies_mount_with_eperm(void **state) {
        (void) state;
        check_floor(probe_mount);
}

static int probe_unshare(void) {
        int step = 0;

        CHECK(failed_with(syscall(SYS_unshare, CLONE_NEWUSER), EPERM));
        CHECK(failed_with(syscall(SYS_unshare, CLONE_NEWNS), EPERM));
        return 0;
}

static void test_seccomp__denies_unshare_with_eperm(void **state) {
        (void) state;
        check_floor(probe_unshare);
}

static int probe_keyctl(void) {
        int step = 0;

        CHECK(failed_with(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM));
        return 0;
}

static void test_seccomp__denies_keyctl_with_eperm(void **state) {
        (void) state;
        check_floor(probe_keyctl);
}

static int probe_bpf(void) {
        int step = 0;

        /* BPF_MAP_CREATE with an empty attr: EINVAL when unfiltered as root. */
        CHECK(failed_with(syscall(SYS_bpf, 0, NULL, 0), EPERM));
        return 0;
}

static void test_seccomp__denies_bpf_with_eperm(void **state) {
        (void) state;
        check_floor(probe_bpf);
}

static int probe_ptrace(void) {
        int step = 0;

        CHECK(failed_with(syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0), EPERM));
        CHECK(failed_with(syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0), EPERM));
        return 0;
}

static void test_seccomp__denies_ptrace_with_eperm(void **state) {
        (void) state;
        check_floor(probe_ptrace);
}

static int probe_io_uring(void) {
        struct io_uring_params params = {0};
        int step = 0;

        CHECK(failed_with(syscall(SYS_io_uring_setup, 1, &params), EPERM));
        return 0;
}

static void test_seccomp__denies_io_uring_setup_with_eperm(void **state) {
        (void) state;
        check_floor(probe_io_uring);
}

/* Every floor name, with all arguments -1: invalid pointers, fds and flags, so an unfiltered call fails
 * harmlessly even as root; setsid() first so that vhangup() would have no terminal to hang up. */
static int probe_floor_table(void) {
        (void) setsid();
        for (size_t i = 0; brig_seccomp_floor[i]; i++) {
                if (floor_nrs[i] < 0)
                        continue;
                if (!failed_with(syscall(floor_nrs[i], -1L, -1L, -1L, -1L, -1L, -1L), DISTINCT_ERRNO))
                        return (int) i + 1;
        }
        return 0;
}

static void test_seccomp__denies_every_floor_syscall(void **state) {
        size_t n = 0;
        int status;

        (void) state;
        for (; brig_seccomp_floor[n]; n++) {
                assert_true(n < ELEMENTSOF(floor_nrs));
                floor_nrs[n] = seccomp_syscall_resolve_name(brig_seccomp_floor[n]);
        }
        status = run_filtered(NULL, 0, DISTINCT_ERRNO, probe_floor_table);
        if (WIFEXITED(status) && WEXITSTATUS(status) > 0 && (size_t) WEXITSTATUS(status) <= n)
                fail_msg("%s was not denied", brig_seccomp_floor[WEXITSTATUS(status) - 1]);
        assert_child_passed(status);
}

/* The floor is a security promise: a name dropped from the list must fail a test, and the table test above
 * iterates the list itself. */
static void test_seccomp__floor_lists_the_documented_names(void **state) {
        static const char *const want[] = {
                "mount",
                "umount2",
                "pivot_root",
                "chroot",
                "unshare",
                "setns",
                "keyctl",
                "add_key",
                "request_key",
                "bpf",
                "perf_event_open",
                "userfaultfd",
                "io_uring_setup",
                "io_uring_enter",
                "io_uring_register",
                "kexec_load",
                "kexec_file_load",
                "init_module",
                "finit_module",
                "delete_module",
                "reboot",
                "swapon",
                "swapoff",
                "acct",
                "ptrace",
                "process_vm_readv",
                "process_vm_writev",
                "open_by_handle_at",
                "name_to_handle_at",
                "fsopen",
                "fsconfig",
                "fsmount",
                "fspick",
                "move_mount",
                "open_tree",
                "mount_setattr",
                "quotactl",
                "lookup_dcookie",
                "vhangup",
                "syslog",
                "uselib",
                "nfsservctl",
        };
        size_t n = 0;

        (void) state;
        for (; brig_seccomp_floor[n]; n++)
                assert_true(n < ELEMENTSOF(want));
        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                bool found = false;
                for (size_t j = 0; j < n && !found; j++)
                        found = strcmp(want[i], brig_seccomp_floor[j]) == 0;
                if (!found)
                        fail_msg("%s is missing from the floor", want[i]);
        }
}

static void test_seccomp__floor_resolves_on_x86_64(void **state) {
        (void) state;
#ifdef __x86_64__
        for (size_t i = 0; brig_seccomp_floor[i]; i++)
                if (seccomp_syscall_resolve_name(brig_seccomp_floor[i]) < 0)
                        fail_msg("floor name %s unknown on x86_64", brig_seccomp_floor[i]);
#else
        skip();
#endif
}

/* ---- argument filters ---- */

static int probe_clone_namespaces(void) {
        static const unsigned long flags[] = {
                CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
                CLONE_NEWIPC, CLONE_NEWUTS,  CLONE_NEWCGROUP, CLONE_NEWTIME,
        };
        int step = 0, status;

        CHECK(failed_with(try_clone(CLONE_NEWUSER, &status), EPERM));
        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                CHECK(failed_with(try_clone(flags[i], &status), EPERM));
        /* The kernel drops the upper 32 bits of clone's flags; they must not hide the namespace bit. */
        CHECK(failed_with(try_clone((1UL << 32) | CLONE_NEWUSER, &status), EPERM));
        return 0;
}

static void test_seccomp__denies_clone_with_namespace_flags(void **state) {
        (void) state;
        check_floor(probe_clone_namespaces);
}

static int probe_fork(void) {
        int step = 0, status = 0;

        CHECK(try_clone(0, &status) > 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
        return 0;
}

static void test_seccomp__allows_plain_fork(void **state) {
        (void) state;
        check_floor(probe_fork);
}

static int probe_clone3(void) {
        /* struct clone_args, first version: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
         * stack_size, tls. A valid request, so unfiltered it would create a child. */
        uint64_t args[8] = {0};
        int step = 0, status;
        long pid;

        args[4] = SIGCHLD;
        pid = syscall(SYS_clone3, args, sizeof(args));
        if (pid == 0)
                _exit(0);
        if (pid > 0)
                (void) syscall(SYS_wait4, pid, &status, 0, NULL);
        CHECK(pid == -1 && errno == ENOSYS);
        return 0;
}

static void test_seccomp__clone3_fails_with_enosys(void **state) {
        (void) state;
        check_floor(probe_clone3);
}

static int probe_ioctl(void) {
        struct winsize ws;
        int step = 0;

        /* fd -1: unfiltered, these fail with EBADF instead of touching a terminal. */
        CHECK(failed_with(syscall(SYS_ioctl, -1, TIOCSTI, "x"), EPERM));
        CHECK(failed_with(syscall(SYS_ioctl, -1, TIOCLINUX, "x"), EPERM));
        CHECK(failed_with(syscall(SYS_ioctl, -1, (1UL << 32) | TIOCSTI, "x"), EPERM));
        CHECK(failed_with(syscall(SYS_ioctl, -1, TIOCGWINSZ, &ws), EBADF));
        return 0;
}

static void test_seccomp__denies_tiocsti_and_tioclinux(void **state) {
        (void) state;
        check_floor(probe_ioctl);
}

static int probe_vsock(void) {
        int step = 0, sv[2];

        CHECK(failed_with(syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0), EPERM));
        CHECK(failed_with(syscall(SYS_socket, (1UL << 32) | AF_VSOCK, SOCK_STREAM, 0), EPERM));
        CHECK(failed_with(syscall(SYS_socketpair, AF_VSOCK, SOCK_STREAM, 0, sv), EPERM));
        /* Other families stay as they were. */
        long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
        CHECK(fd >= 0);
        (void) close((int) fd);
        return 0;
}

static void test_seccomp__denies_vsock_sockets(void **state) {
        (void) state;
        check_floor(probe_vsock);
}

static bool persona_allowed(uint64_t v) {
        uint32_t low = (uint32_t) v; /* the kernel takes an unsigned int */

        return low == 0 || low == 0x8 || low == 0x20000 || low == 0x20008 || low == 0xffffffff;
}

static bool persona_probe(uint64_t v) {
        long r = syscall(SYS_personality, v);

        if (persona_allowed(v))
                return r != -1;
        return failed_with(r, EPERM);
}

static int report_persona(uint64_t v) {
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "personality(%#llx) misfiltered\n", (unsigned long long) v);

        (void) !write(STDERR_FILENO, msg, (size_t) n);
        return 1;
}

/* Values next to every allowed one, single bits, all-but-one bits and pseudo-random values. Dropping any one
 * of the masked rules in seccomp.c leaves a single bit or an all-but-one value through. */
static int probe_personality(void) {
        static const uint64_t allowed[] = {0, 0x8, 0x20000, 0x20008, 0xffffffff};
        static const uint64_t extra[] = {
                6 /* PER_BSD */,
                0x40000 /* ADDR_NO_RANDOMIZE */,
                0x400000 /* READ_IMPLIES_EXEC */,
                0x100000000,
                0xffffffff00000008,
                0xffffffffffffffff,
                0x100000006,
                0xfffffffe,
                0x7fffffff,
                0x80000000,
                0x80000008,
                0x0040008,
        };
        uint32_t x = 0x2545f491;

        for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
                if (!persona_probe(allowed[i]))
                        return report_persona(allowed[i]);
                for (unsigned b = 0; b < 32; b++)
                        if (!persona_probe(allowed[i] ^ (UINT64_C(1) << b)))
                                return report_persona(allowed[i] ^ (UINT64_C(1) << b));
        }
        for (unsigned b = 0; b < 32; b++) {
                if (!persona_probe(UINT64_C(1) << b))
                        return report_persona(UINT64_C(1) << b);
                if (!persona_probe(0xffffffff & ~(UINT64_C(1) << b)))
                        return report_persona(0xffffffff & ~(UINT64_C(1) << b));
        }
        for (size_t i = 0; i < ELEMENTSOF(extra); i++)
                if (!persona_probe(extra[i]))
                        return report_persona(extra[i]);
        /* Uniform, sparse (AND of three) and dense (OR of three) pseudo-random values. */
        for (int i = 0; i < 3 * 2048; i++) {
                uint32_t v[3];

                for (int j = 0; j < 3; j++) {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        v[j] = x;
                }
                v[0] = i % 3 == 0 ? v[0] : i % 3 == 1 ? v[0] & v[1] & v[2] : v[0] | v[1] | v[2];
                if (!persona_probe(v[0]))
                        return report_persona(v[0]);
        }
        return 0;
}

static void test_seccomp__filters_personality_values(void **state) {
        (void) state;
        check_floor(probe_personality);
}

/* ---- other ABIs ---- */

static int probe_x32_getpid(void) {
        (void) syscall(__X32_SYSCALL_BIT | SYS_getpid);
        return 0;
}

static void test_seccomp__kills_x32_syscalls(void **state) {
        (void) state;
#ifdef __x86_64__
        assert_child_killed_by_sigsys(run_filtered(NULL, 0, EPERM, probe_x32_getpid));
#else
        skip();
#endif
}

#ifdef __x86_64__
static int probe_int80_getpid(void) {
        long ret = 20; /* getpid in the i386 table */

        __asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "cc", "r8", "r9", "r10", "r11");
        return ret > 0 ? 0 : 1;
}
#endif

static void test_seccomp__kills_i386_syscalls(void **state) {
        (void) state;
#ifdef __x86_64__
        int status = fork_and_probe(NULL, probe_int80_getpid);

        /* Without IA32 emulation (ia32_emulation=0, or no CONFIG_IA32_EMULATION) int 0x80 faults before
         * seccomp sees it: nothing to test. */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                skip();
        assert_child_killed_by_sigsys(run_filtered(NULL, 0, EPERM, probe_int80_getpid));
#else
        skip();
#endif
}

/* ---- policy input ---- */

static int probe_custom_errno(void) {
        int status, step = 0;

        CHECK(failed_with(syscall(SYS_mount, "none", "/nonexistent/brig-seccomp", "tmpfs", 0UL, NULL),
                          EACCES));
        CHECK(failed_with(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EACCES));
        CHECK(failed_with(syscall(SYS_bpf, 0, NULL, 0), EACCES));
        CHECK(failed_with(syscall(SYS_unshare, CLONE_NEWUSER), EACCES));
        CHECK(failed_with(try_clone(CLONE_NEWUSER, &status), EACCES));
        CHECK(failed_with(syscall(SYS_ioctl, -1, TIOCSTI, "x"), EACCES));
        CHECK(failed_with(syscall(SYS_personality, 6), EACCES));
        CHECK(failed_with(syscall(SYS_uname, NULL), EACCES));
        return 0;
}

static void test_seccomp__honours_custom_errno(void **state) {
        static const char *const extra[] = {"uname"};

        (void) state;
        assert_child_passed(run_filtered(extra, ELEMENTSOF(extra), EACCES, probe_custom_errno));
}

static int probe_extra(void) {
        struct utsname uts;
        char cwd[256];
        int step = 0;

        CHECK(failed_with(syscall(SYS_uname, &uts), EPERM));
        CHECK(failed_with(syscall(SYS_getcwd, cwd, sizeof(cwd)), EPERM));
        CHECK(syscall(SYS_getppid) > 0);
        CHECK(failed_with(syscall(SYS_mount, "none", "/nonexistent/brig-seccomp", "tmpfs", 0UL, NULL),
                          EPERM));
        return 0;
}

static void test_seccomp__denies_extra_names(void **state) {
        static const char *const extra[] = {"uname", "getcwd"};

        (void) state;
        assert_child_passed(run_filtered(extra, ELEMENTSOF(extra), EPERM, probe_extra));
}

static int probe_extra_overrides(void) {
        struct winsize ws;
        uint64_t args[8] = {0};
        int step = 0;

        CHECK(failed_with(syscall(SYS_ioctl, -1, TIOCGWINSZ, &ws), EPERM));
        CHECK(failed_with(syscall(SYS_personality, 0xffffffff), EPERM));
        CHECK(failed_with(syscall(SYS_clone3, args, sizeof(args)), ENOSYS));
        CHECK(failed_with(syscall(SYS_mount, "none", "/nonexistent/brig-seccomp", "tmpfs", 0UL, NULL),
                          EPERM));
        return 0;
}

/* Extras naming a floor syscall, an argument-filtered one or clone3 merge instead of failing. */
static void test_seccomp__extra_names_override_argument_filters(void **state) {
        static const char *const extra[] = {"mount", "ioctl", "personality", "clone3"};

        (void) state;
        assert_child_passed(run_filtered(extra, ELEMENTSOF(extra), EPERM, probe_extra_overrides));
}

static void assert_rejected(const char *const *extra, size_t n_extra, const char *want_msg) {
        brig_error err = BRIG_ERROR_INIT;
        int fd = -2;

        assert_int_equal(brig_seccomp_compile(extra, n_extra, EPERM, &fd, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_int_equal(err.kind, BRIG_KIND_POLICY);
        assert_string_equal(err.msg, want_msg);
        assert_int_equal(fd, -2);
}

static void test_seccomp__rejects_unknown_extra_name(void **state) {
        static const char *const extra[] = {"getpid", "no_such_syscall"};

        (void) state;
        assert_rejected(extra, ELEMENTSOF(extra), "seccomp.deny: unknown syscall \"no_such_syscall\"");
}

static void test_seccomp__rejects_extra_name_of_other_arch(void **state) {
        /* libseccomp knows socketcall, but only as a pseudo-syscall on x86_64. */
        static const char *const extra[] = {"socketcall"};

        (void) state;
#ifdef __x86_64__
        assert_rejected(extra, ELEMENTSOF(extra), "seccomp.deny: unknown syscall \"socketcall\"");
#else
        (void) extra;
        skip();
#endif
}

static void test_seccomp__escapes_unknown_extra_name(void **state) {
        static const char *const quoted[] = {"a\"b\\c\n\xff"};
        char long_name[400];
        const char *longv[] = {long_name};
        brig_error err = BRIG_ERROR_INIT;
        int fd = -2;
        size_t len;

        (void) state;
        assert_rejected(quoted, 1, "seccomp.deny: unknown syscall \"a\\\"b\\\\c\\x0a\\xff\"");

        /* A long name is cut, not the message's closing quote. */
        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_int_equal(brig_seccomp_compile(longv, 1, EPERM, &fd, &err), -EINVAL);
        len = strlen(err.msg);
        assert_true(len < 128);
        assert_memory_equal(err.msg, "seccomp.deny: unknown syscall \"xxxxxxxxxxxxxxxx", 47);
        assert_string_equal(err.msg + len - 6, "xx...\"");
}

static void test_seccomp__rejects_errno_out_of_range(void **state) {
        static const int bad[] = {0, -1, 4095, INT32_MAX};
        brig_error err = BRIG_ERROR_INIT;
        int fd = -2;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(brig_seccomp_compile(NULL, 0, bad[i], &fd, &err), -EINVAL);
                assert_int_equal(err.kind, BRIG_KIND_POLICY);
                assert_non_null(strstr(err.msg, "seccomp.errno"));
                assert_int_equal(fd, -2);
        }
        assert_int_equal(brig_seccomp_compile(NULL, 0, 4094, &fd, &err), 0);
        assert_true(fd >= 0);
        assert_int_equal(close(fd), 0);
}

/* ---- the memfd and reading it back ---- */

static int compile_floor(void) {
        brig_error err = BRIG_ERROR_INIT;
        int fd = -1;

        if (brig_seccomp_compile(NULL, 0, EPERM, &fd, &err) < 0)
                fail_msg("compile: %s", err.msg);
        return fd;
}

static void test_seccomp__memfd_is_sealed_and_cloexec(void **state) {
        _cleanup_close_ int fd = compile_floor();
        char path[64], target[128];
        ssize_t n;

        (void) state;
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        assert_int_equal(write(fd, "x", 1), -1);
        assert_int_equal(errno, EPERM);
        assert_int_equal(pwrite(fd, "x", 1, 0), -1);
        assert_int_equal(errno, EPERM);
        assert_int_equal(ftruncate(fd, 0), -1);
        assert_int_equal(errno, EPERM);
        assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
        assert_int_equal(errno, EPERM);

        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_memory_equal(target, "/memfd:brig-seccomp", strlen("/memfd:brig-seccomp"));
}

static void test_seccomp__read_round_trips(void **state) {
        _cleanup_close_ int fd = compile_floor();
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog a = {0}, b = {0};
        struct stat st;

        (void) state;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(brig_seccomp_read(fd, &a, &err), 0);
        assert_int_equal(brig_seccomp_read(fd, &b, &err), 0);
        assert_int_equal((size_t) a.len * sizeof(struct sock_filter), st.st_size);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.filter, b.filter, a.len * sizeof(struct sock_filter));

        /* The program starts by checking the architecture. */
        assert_int_equal(a.filter[0].code, BPF_LD | BPF_W | BPF_ABS);
        assert_int_equal(a.filter[0].k, offsetof(struct seccomp_data, arch));
#ifdef __x86_64__
        assert_int_equal(a.filter[1].k, AUDIT_ARCH_X86_64);
#endif
        free(a.filter);
        free(b.filter);
}

static int memfd_of_size(off_t size) {
        int fd = memfd_create("brig-test", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        return fd;
}

static void assert_read_fails(off_t size, int code, brig_kind kind) {
        _cleanup_close_ int fd = memfd_of_size(size);
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {.len = 7, .filter = NULL};

        assert_int_equal(brig_seccomp_read(fd, &prog, &err), code);
        assert_int_equal(err.code, code);
        assert_int_equal(err.kind, kind);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(prog.len, 7);
        assert_null(prog.filter);
}

static void test_seccomp__read_rejects_wrong_size(void **state) {
        (void) state;
        assert_read_fails(0, -EINVAL, BRIG_KIND_SANDBOX);
        assert_read_fails(12, -EINVAL, BRIG_KIND_SANDBOX);
        assert_read_fails(sizeof(struct sock_filter) - 1, -EINVAL, BRIG_KIND_SANDBOX);
        assert_read_fails((BPF_MAXINSNS + 1) * sizeof(struct sock_filter), -E2BIG, BRIG_KIND_LIMIT);
}

static void test_seccomp__read_accepts_maximum_size(void **state) {
        _cleanup_close_ int fd = memfd_of_size(BPF_MAXINSNS * sizeof(struct sock_filter));
        brig_error err = BRIG_ERROR_INIT;
        struct sock_fprog prog = {0};

        (void) state;
        assert_int_equal(brig_seccomp_read(fd, &prog, &err), 0);
        assert_int_equal(prog.len, BPF_MAXINSNS);
        free(prog.filter);
}

static int probe_load_invalid(void) {
        struct sock_filter bad[] = {{0xffff, 0, 0, 0}};
        struct sock_fprog prog = {.len = 1, .filter = bad};
        int step = 0;

        CHECK(brig_seccomp_load(NULL) == -EINVAL);
        CHECK(brig_seccomp_load(&prog) == -EINVAL);
        return 0;
}

static void test_seccomp__load_rejects_invalid_program(void **state) {
        (void) state;
        assert_child_passed(fork_and_probe(NULL, probe_load_invalid));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seccomp__allows_getpid),
                cmocka_unit_test(test_seccomp__denies_mount_with_eperm),
                cmocka_unit_test(test_seccomp__denies_unshare_with_eperm),
                cmocka_unit_test(test_seccomp__denies_keyctl_with_eperm),
                cmocka_unit_test(test_seccomp__denies_bpf_with_eperm),
                cmocka_unit_test(test_seccomp__denies_ptrace_with_eperm),
                cmocka_unit_test(test_seccomp__denies_io_uring_setup_with_eperm),
                cmocka_unit_test(test_seccomp__denies_every_floor_syscall),
                cmocka_unit_test(test_seccomp__floor_lists_the_documented_names),
                cmocka_unit_test(test_seccomp__floor_resolves_on_x86_64),
                cmocka_unit_test(test_seccomp__denies_clone_with_namespace_flags),
                cmocka_unit_test(test_seccomp__allows_plain_fork),
                cmocka_unit_test(test_seccomp__clone3_fails_with_enosys),
                cmocka_unit_test(test_seccomp__denies_tiocsti_and_tioclinux),
                cmocka_unit_test(test_seccomp__denies_vsock_sockets),
                cmocka_unit_test(test_seccomp__filters_personality_values),
                cmocka_unit_test(test_seccomp__kills_x32_syscalls),
                cmocka_unit_test(test_seccomp__kills_i386_syscalls),
                cmocka_unit_test(test_seccomp__honours_custom_errno),
                cmocka_unit_test(test_seccomp__denies_extra_names),
                cmocka_unit_test(test_seccomp__extra_names_override_argument_filters),
                cmocka_unit_test(test_seccomp__rejects_unknown_extra_name),
                cmocka_unit_test(test_seccomp__rejects_extra_name_of_other_arch),
                cmocka_unit_test(test_seccomp__escapes_unknown_extra_name),
                cmocka_unit_test(test_seccomp__rejects_errno_out_of_range),
                cmocka_unit_test(test_seccomp__memfd_is_sealed_and_cloexec),
                cmocka_unit_test(test_seccomp__read_round_trips),
                cmocka_unit_test(test_seccomp__read_rejects_wrong_size),
                cmocka_unit_test(test_seccomp__read_accepts_maximum_size),
                cmocka_unit_test(test_seccomp__load_rejects_invalid_program),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
