/* SPDX-License-Identifier: MIT */
/* enosys SYSCALL... -- COMMAND [ARG]...: runs COMMAND under a seccomp filter that fails the named system
 * calls with ENOSYS, as a kernel without them would (containers/crun tests/no_openat2.c does the same for
 * openat2). The filter is inherited by everything COMMAND starts, jails included. Built without
 * sanitizers: their runtimes make calls of their own before main. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

int main(int argc, char **argv) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        int i;

        if (!ctx)
                return 125;
        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                int nr = seccomp_syscall_resolve_name(argv[i]);
                if (nr == __NR_SCMP_ERROR || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) < 0) {
                        fprintf(stderr, "enosys: unknown system call '%s'\n", argv[i]);
                        return 125;
                }
        }
        if (i + 1 >= argc) {
                fprintf(stderr, "usage: enosys SYSCALL... -- COMMAND [ARG]...\n");
                return 125;
        }
        /* libseccomp sets no_new_privs first (SCMP_FLTATR_CTL_NNP), which an unprivileged caller needs. */
        if (seccomp_load(ctx) < 0) {
                fprintf(stderr, "enosys: cannot load the filter\n");
                return 125;
        }
        seccomp_release(ctx);
        execvp(argv[i + 1], argv + i + 1);
        fprintf(stderr, "enosys: %s: %s\n", argv[i + 1], strerror(errno));
        return 127;
}
