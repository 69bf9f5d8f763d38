/* SPDX-License-Identifier: MIT */
/* The seccomp layer: compiles brig's fixed floor plus a policy's extra denials into classic BPF with
 * libseccomp, ships it in a sealed memfd, and reads and loads it in the jail helper without libseccomp. A
 * deny list over SCMP_ACT_ALLOW: namespaces, mounts and capabilities confine the tool; seccomp removes the
 * kernel surface they cannot (mount API, new namespaces, keyrings, bpf, io_uring, modules, other ABIs). */
#include <assert.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/seccomp.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_profile.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Linux personality values (include/uapi/linux/personality.h) that stay allowed, as in Docker's default
 * profile: PER_LINUX, PER_LINUX32, UNAME26 and PER_LINUX32|UNAME26, plus 0xffffffff, which only queries. */
#define PERSONA_PER_LINUX32 0x0008u
#define PERSONA_UNAME26 0x20000u

/* s390 swaps clone's first two arguments (see Docker's default profile). */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

const char *const brig_seccomp_floor[] = {
        /* Mounts and the root: the jail's view of the file system must stay the one it was given. */
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
        /* New namespaces let the tool remap its own mounts and ids, and reach kernel code exposed only
           inside them. */
        "unshare",
        "setns",
        /* Large, often-exploited kernel interfaces a build or test tool does not need. */
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        /* Reading or writing other processes' memory. */
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        /* File handles bypass path-based confinement (the "shocker" container escape). */
        "open_by_handle_at",
        "name_to_handle_at",
        /* Whole-machine administration. */
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "quotactl",
        "lookup_dcookie",
        "vhangup",
        "syslog",
        "uselib",
        "nfsservctl",
        NULL,
};

/* Namespace flags clone(2) must not carry. CLONE_NEWTIME shares its bit with CSIGNAL, so clone() cannot
 * request it anyway (the kernel reads it as exit signal 128+, which is EINVAL); denying the bit costs
 * nothing and keeps the list identical to the unshare(2) set. */
static const uint64_t clone_ns_flags[] = {
        CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
        CLONE_NEWIPC, CLONE_NEWUTS,  CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* Writes name into buf ready to quote: backslash, double quote and bytes outside printable ASCII escaped,
 * long names cut with "...". The name comes from a policy file, so it may hold anything. */
static const char *escape_name(char *buf, size_t size, const char *name) {
        /* Room for the longest escape ("\xff"), then "..." and the NUL. */
        const size_t reserve = 4 + 3 + 1;
        size_t n = 0;

        assert(size > reserve);
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                if (n + reserve > size) {
                        memcpy(buf + n, "...", 4);
                        return buf;
                }
                if (*p == '"' || *p == '\\')
                        n += (size_t) snprintf(buf + n, size - n, "\\%c", *p);
                else if (*p < 0x20 || *p >= 0x7f)
                        n += (size_t) snprintf(buf + n, size - n, "\\x%02x", *p);
                else
                        buf[n++] = (char) *p;
        }
        buf[n] = '\0';
        return buf;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n_cmp,
                    const struct scmp_arg_cmp *cmp, brig_error *err) {
        int nr = seccomp_syscall_resolve_name(name);
        int r;

        /* __NR_SCMP_ERROR (-1) means unknown; other negative numbers are libseccomp's pseudo-syscalls, i.e.
         * names that exist only on other architectures. Either way there is nothing to filter here. */
        if (nr < 0)
                return 0;
        r = seccomp_rule_add_array(ctx, action, nr, n_cmp, cmp);
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "seccomp: add rule for %s", name);
        return 0;
}

/* clone(2) with any namespace flag. Rules for one syscall are OR'ed, so one masked test per flag denies
 * "flags & NS_MASK != 0"; the 64-bit masks have an empty upper half, so garbage in the upper 32 bits (which
 * the kernel drops) cannot dodge them. */
static int add_clone_rules(scmp_filter_ctx ctx, uint32_t deny, brig_error *err) {
        for (size_t i = 0; i < ELEMENTSOF(clone_ns_flags); i++) {
                struct scmp_arg_cmp cmp =
                        SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
                int r = add_rule(ctx, deny, "clone", 1, &cmp, err);
                if (r < 0)
                        return r;
        }

        /* clone3(2) passes its flags in a struct that seccomp cannot read. ENOSYS (never the policy's errno)
         * makes glibc >= 2.34 fall back to clone(), which the rules above do see. */
        return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

/* TIOCSTI pushes bytes into a terminal's input queue and TIOCLINUX can paste the console selection: both let
 * a sandboxed tool type commands into the user's shell when it inherits a tty (CVE-2017-5226). The kernel
 * takes cmd as an unsigned int, so compare only the low 32 bits: a full 64-bit compare is dodged by setting
 * upper bits (CVE-2019-10063). */
static int add_ioctl_rules(scmp_filter_ctx ctx, uint32_t deny, brig_error *err) {
        static const uint64_t cmds[] = {TIOCSTI, TIOCLINUX};

        for (size_t i = 0; i < ELEMENTSOF(cmds); i++) {
                struct scmp_arg_cmp cmp = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, cmds[i]);
                int r = add_rule(ctx, deny, "ioctl", 1, &cmp, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* AF_VSOCK talks to the hypervisor and the host's vsock services, and vsock is not network-namespaced: a
 * jail with only loopback could still reach them. Same low-32-bit compare as for ioctl cmds. */
static int add_socket_rules(scmp_filter_ctx ctx, uint32_t deny, brig_error *err) {
        static const char *const calls[] = {"socket", "socketpair"};

        for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
                struct scmp_arg_cmp cmp = SCMP_A0_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_VSOCK);
                int r = add_rule(ctx, deny, calls[i], 1, &cmp, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* personality(2): allow only 0, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26 and the query 0xffffffff; other
 * values turn on READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO and friends.
 *
 * libseccomp takes at most one comparison per argument in a rule (2.5.4 returns -EINVAL otherwise) and ORs
 * the rules of a syscall, so "not in this set" must be a union of single masked tests, each fixing one bit
 * to 1 and another to 0 (which keeps out both 0 and 0xffffffff). With F the 30 bits other than 3 and 17,
 * walk F as a cycle f0 -> f1 -> ... -> f0 and deny (f_k set, f_(k+1) clear) for every k, plus (f0 set, bit 3
 * clear) and (f0 set, bit 17 clear):
 *   - a denied value has some bit of F set (else it is 0, 8, 0x20000 or 0x20008); if some bit of F is also
 *     clear, the cycle has a set bit followed by a clear one; if all of F is set, bit 3 or 17 is clear;
 *   - no allowed value matches: every rule needs a bit of F set (so not 0, 8, 0x20000, 0x20008) and some
 *     bit clear (so not 0xffffffff).
 * The kernel takes the value as unsigned int; the masks ignore the upper half just as it does. */
static int add_personality_rules(scmp_filter_ctx ctx, uint32_t deny, brig_error *err) {
        const uint32_t allowed_bits = PERSONA_PER_LINUX32 | PERSONA_UNAME26;
        unsigned free_bits[32], n_free = 0;

        for (unsigned b = 0; b < 32; b++)
                if (!(allowed_bits & (UINT32_C(1) << b)))
                        free_bits[n_free++] = b;

        for (unsigned k = 0; k < n_free + 2; k++) {
                uint64_t set, clear;
                int r;

                if (k < n_free) {
                        set = UINT64_C(1) << free_bits[k];
                        clear = UINT64_C(1) << free_bits[(k + 1) % n_free];
                } else {
                        set = UINT64_C(1) << free_bits[0];
                        clear = k == n_free ? PERSONA_PER_LINUX32 : PERSONA_UNAME26;
                }
                struct scmp_arg_cmp cmp = SCMP_A0_64(SCMP_CMP_MASKED_EQ, set | clear, set);
                r = add_rule(ctx, deny, "personality", 1, &cmp, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A filter for the native architecture: calls of other ABIs take badarch_action, and errors come back raw.
 */
static int new_filter(uint32_t default_action, uint32_t badarch_action, scmp_filter_ctx *ret_ctx,
                      brig_error *err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(default_action);
        int r;

        if (!ctx)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_SANDBOX, "seccomp: create filter");
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch_action);
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "seccomp: set bad-arch action");
        /* Without this, libseccomp 2.5 reports every system error (such as a failed write while exporting)
         * as -ECANCELED. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "seccomp: set raw error codes");
        *ret_ctx = TAKE_PTR(ctx);
        return 0;
}

/* Exports the program into a memfd and seals it, so that every reader of the fd (the jail helper, maybe
 * many times) sees exactly the bytes checked here. */
static int export_sealed(scmp_filter_ctx ctx, int *ret_fd, brig_error *err) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = memfd_create("brig-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: memfd_create");

        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "seccomp: export program");

        if (fstat(fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: stat program");
        if (st.st_size <= 0 || (size_t) st.st_size % sizeof(struct sock_filter) != 0)
                return brig_error_set(err, -EIO, BRIG_KIND_SANDBOX,
                                      "seccomp: exported program has %jd bytes", (intmax_t) st.st_size);
        if ((size_t) st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "seccomp: program has %zu instructions, the kernel takes at most %d",
                                      (size_t) st.st_size / sizeof(struct sock_filter), BPF_MAXINSNS);

        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: seal program");

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Builds brig's floor plus the policy's extra denials over SCMP_ACT_ALLOW. Audited denials return
 * SECCOMP_RET_USER_NOTIF: the listener (brigd or brig) answers them with -errno_ret. */
static int build_floor(const brig_seccomp_spec *spec, scmp_filter_ctx *ret_ctx, brig_error *err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        const char *const *extra_deny = spec->deny;
        size_t n_extra = spec->n_deny;
        int errno_ret = spec->errno_ret;
        uint32_t deny, quiet;
        int r;

        assert(extra_deny || n_extra == 0);

        /* 0 would make denied calls "succeed" without doing anything. */
        if (errno_ret < 1 || errno_ret > BRIG_SECCOMP_ERRNO_MAX)
                return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                      "seccomp.errno: %d is out of range 1..%d", errno_ret,
                                      BRIG_SECCOMP_ERRNO_MAX);
        quiet = SCMP_ACT_ERRNO((uint32_t) errno_ret);
        deny = spec->audit ? SCMP_ACT_NOTIFY : quiet;

        /* Unlike the floor, which lists names for every architecture, a policy naming a syscall this
         * machine lacks is probably a typo: refuse it rather than silently filter nothing. */
        for (size_t i = 0; i < n_extra; i++) {
                assert(extra_deny[i]);
                if (seccomp_syscall_resolve_name(extra_deny[i]) < 0) {
                        char name[80];
                        return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                              "seccomp.deny: unknown syscall \"%s\"",
                                              escape_name(name, sizeof(name), extra_deny[i]));
                }
        }

        /* seccomp_init() adds the native architecture only. Every other audit arch (i386 via int 0x80,
         * 32-bit compat on arm64) then takes the bad-arch action. x32 shares AUDIT_ARCH_X86_64, but
         * libseccomp's x86_64 prologue also sends numbers >= __X32_SYSCALL_BIT (other than -1) to the
         * bad-arch action, so x32 calls take it too (checked against the exported BPF of 2.5.4 and by
         * tests/unit/test_seccomp.c). When denials are audited, that action is a notification like any
         * other audited denial: the listener answers every notification with an errno, never
         * SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the call still never runs, and without a listener the
         * kernel fails it with ENOSYS; the event then names the ABI, which a kill would leave unrecorded.
         * Without an audit there is no one to tell, and the kill stays: a whole foreign ABI is an attack
         * surface (its own syscall table, compat code) rather than a program's honest mistake. */
        r = new_filter(SCMP_ACT_ALLOW, spec->audit ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS, &ctx, err);
        if (r < 0)
                return r;

        for (const char *const *name = brig_seccomp_floor; *name; name++) {
                r = add_rule(ctx, deny, *name, 0, NULL, err);
                if (r < 0)
                        return r;
        }
        r = add_clone_rules(ctx, deny, err);
        if (r < 0)
                return r;
        r = add_ioctl_rules(ctx, deny, err);
        if (r < 0)
                return r;
        r = add_socket_rules(ctx, deny, err);
        if (r < 0)
                return r;
        r = add_personality_rules(ctx, deny, err);
        if (r < 0)
                return r;

        /* Extras come last: an unconditional rule then replaces the argument filters above (a policy may
         * deny ioctl or personality outright), and a duplicate of an unconditional floor rule is merged.
         * clone3 keeps ENOSYS: libseccomp keeps the first action given to an unconditional rule. */
        for (size_t i = 0; i < n_extra; i++) {
                bool audit = spec->deny_audit ? spec->deny_audit[i] : spec->audit;
                r = add_rule(ctx, audit ? SCMP_ACT_NOTIFY : quiet, extra_deny[i], 0, NULL, err);
                if (r < 0)
                        return r;
        }

        *ret_ctx = TAKE_PTR(ctx);
        return 0;
}

/* Builds the profile's own filter: its default action and its rules, nothing of brig's. */
static int build_profile(const brig_seccomp_profile *profile, scmp_filter_ctx *ret_ctx, brig_error *err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        /* The floor runs first and already decided every call of another ABI: this never applies. */
        r = new_filter(profile->default_action, SCMP_ACT_KILL_PROCESS, &ctx, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < profile->n_rules; i++) {
                const brig_seccomp_profile_rule *rule = &profile->rules[i];
                struct scmp_arg_cmp cmp[BRIG_SECCOMP_PROFILE_MAX_ARGS];

                /* libseccomp refuses (-EACCES) a rule whose action is the default one; it changes
                 * nothing anyway. */
                if (rule->action == profile->default_action)
                        continue;
                for (size_t k = 0; k < rule->n_args; k++)
                        cmp[k] = (struct scmp_arg_cmp){.arg = rule->args[k].index,
                                                       .op = (enum scmp_compare) rule->args[k].op,
                                                       .datum_a = rule->args[k].value,
                                                       .datum_b = rule->args[k].value_two};
                for (size_t j = 0; j < rule->n_nrs; j++) {
                        r = seccomp_rule_add_array(ctx, rule->action, rule->nrs[j], (unsigned) rule->n_args,
                                                   cmp);
                        if (r < 0) {
                                char *name =
                                        seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, rule->nrs[j]);
                                (void) brig_error_set_errno(err, r, BRIG_KIND_POLICY,
                                                            "seccomp.profile.syscalls[%zu]: rule for %s",
                                                            rule->json_index, name ? name : "?");
                                free(name);
                                return r;
                        }
                }
        }
        *ret_ctx = TAKE_PTR(ctx);
        return 0;
}

/* Exports ctx's program into memory. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *ret_prog, brig_error *err) {
        _cleanup_close_ int fd = memfd_create("brig-seccomp-part", MFD_CLOEXEC);
        int r;

        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: memfd_create");
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "seccomp: export program");
        return brig_seccomp_read(fd, ret_prog, err);
}

/* Puts the floor in front of the profile in one program. Each of the floor's "allow" returns becomes a jump
 * to the profile's first instruction, so the profile decides only what the floor lets through, and nothing
 * in the profile can undo a floor denial. This does not rely on how libseccomp merges rules of different
 * actions for one syscall (it keeps the first action of an unconditional rule, and conditional rules of the
 * floor and a profile would interleave); and it keeps one program, which is what brig-jail loads. Jumps
 * inside each part stay valid because no instruction is added or removed; BPF_JA takes a 32-bit offset. */
static int put_floor_first(const struct sock_fprog *floor, const struct sock_fprog *profile, int *ret_fd,
                           brig_error *err) {
        size_t n_floor = floor->len, n = n_floor + profile->len;
        _cleanup_free_ struct sock_filter *prog = NULL;
        _cleanup_close_ int fd = -1;
        size_t size = n * sizeof(struct sock_filter);

        if (n > BPF_MAXINSNS)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "seccomp: program has %zu instructions, the kernel takes at most %d",
                                      n, BPF_MAXINSNS);
        prog = malloc(size);
        if (!prog)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "seccomp: out of memory");
        memcpy(prog, floor->filter, n_floor * sizeof(struct sock_filter));
        memcpy(prog + n_floor, profile->filter, profile->len * sizeof(struct sock_filter));
        for (size_t i = 0; i < n_floor; i++) {
                if (BPF_CLASS(prog[i].code) != BPF_RET)
                        continue;
                /* libseccomp 2.5 returns constants only; a computed return could be an allow we miss. */
                if (BPF_RVAL(prog[i].code) != BPF_K)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                              "seccomp: floor program returns a computed action");
                if (prog[i].k == SCMP_ACT_ALLOW)
                        prog[i] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JA,
                                                                (uint32_t) (n_floor - i - 1), 0, 0);
        }

        fd = memfd_create("brig-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: memfd_create");
        for (size_t done = 0; done < size;) {
                ssize_t w = write(fd, (const char *) prog + done, size - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX,
                                                    "seccomp: write program");
                done += (size_t) w;
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "seccomp: seal program");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int brig_seccomp_compile_spec(const brig_seccomp_spec *spec, int *ret_fd, brig_error *err) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx floor_ctx = NULL, profile_ctx = NULL;
        struct sock_fprog floor = {0}, prof = {0};
        int r;

        assert(spec);
        assert(ret_fd);

        r = build_floor(spec, &floor_ctx, err);
        if (r < 0)
                return r;
        if (!spec->profile)
                return export_sealed(floor_ctx, ret_fd, err);

        r = build_profile(spec->profile, &profile_ctx, err);
        if (r >= 0)
                r = export_prog(floor_ctx, &floor, err);
        if (r >= 0)
                r = export_prog(profile_ctx, &prof, err);
        if (r >= 0)
                r = put_floor_first(&floor, &prof, ret_fd, err);
        free(floor.filter);
        free(prof.filter);
        return r;
}

int brig_seccomp_compile_profile(const brig_seccomp_profile *profile, const char *const *extra_deny,
                                 size_t n_extra, int errno_ret, int *ret_fd, brig_error *err) {
        brig_seccomp_spec spec = {
                .profile = profile, .deny = extra_deny, .n_deny = n_extra, .errno_ret = errno_ret};
        return brig_seccomp_compile_spec(&spec, ret_fd, err);
}

int brig_seccomp_compile(const char *const *extra_deny, size_t n_extra, int errno_ret, int *ret_fd,
                         brig_error *err) {
        return brig_seccomp_compile_profile(NULL, extra_deny, n_extra, errno_ret, ret_fd, err);
}

int brig_seccomp_read(int fd, struct sock_fprog *ret_prog, brig_error *err) {
        _cleanup_free_ struct sock_filter *filter = NULL;
        struct stat st;
        size_t size, done = 0;

        assert(ret_prog);

        if (fstat(fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "seccomp: stat program");
        if (st.st_size <= 0 || (size_t) st.st_size % sizeof(struct sock_filter) != 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_SANDBOX,
                                      "seccomp: program size %jd is not a positive multiple of %zu",
                                      (intmax_t) st.st_size, sizeof(struct sock_filter));
        size = (size_t) st.st_size;
        if (size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "seccomp: program has %zu instructions, the kernel takes at most %d",
                                      size / sizeof(struct sock_filter), BPF_MAXINSNS);

        filter = malloc(size);
        if (!filter)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "seccomp: out of memory");

        /* pread, never read: the fd is shared, and its offset sits at the end after the export. */
        while (done < size) {
                ssize_t n = pread(fd, (char *) filter + done, size - done, (off_t) done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "seccomp: read program");
                }
                if (n == 0)
                        return brig_error_set(err, -EIO, BRIG_KIND_IO,
                                              "seccomp: program shrank while reading");
                done += (size_t) n;
        }

        *ret_prog = (struct sock_fprog){
                .len = (unsigned short) (size / sizeof(struct sock_filter)),
                .filter = TAKE_PTR(filter),
        };
        return 0;
}

bool brig_seccomp_has_notify(const struct sock_fprog *prog) {
        /* Runs between fork and execve too: no allocation. */
        if (!prog || !prog->filter)
                return false;
        for (size_t i = 0; i < prog->len; i++) {
                const struct sock_filter *f = &prog->filter[i];
                if (BPF_CLASS(f->code) == BPF_RET && BPF_RVAL(f->code) == BPF_K &&
                    (f->k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
                        return true;
        }
        return false;
}

int brig_seccomp_load_listener(const struct sock_fprog *prog, int *ret_listener) {
        unsigned flags = 0;
        long r;

        /* Runs between fork and execve: no assert (it may print), no allocation. */
        if (!prog || !prog->filter || prog->len == 0)
                return -EINVAL;
        /* Audited denials wait for a listener; without one the kernel fails them with ENOSYS. */
        if (brig_seccomp_has_notify(prog)) {
                if (!ret_listener)
                        return -EINVAL;
                flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
        }

        /* no_new_privs lets an unprivileged process install a filter (a setuid binary could otherwise be
         * fooled by one) and is what we want for the tool anyway. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        /* With NEW_LISTENER the result is the listener fd, born close-on-exec (kernel/seccomp.c). */
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog);
        if (r < 0)
                return -errno;
        if (ret_listener)
                *ret_listener = flags ? (int) r : -1;
        return 0;
}

int brig_seccomp_load(const struct sock_fprog *prog) {
        return brig_seccomp_load_listener(prog, NULL);
}
