/* SPDX-License-Identifier: MIT */
/* The helper's entry: from its descriptors to the jail (sandbox/jailctl.h). brig-jail's main calls it once
 * its command line is read; `brig run` calls it in a forked child of its own, without the execve of
 * brig-jail (a one-shot jail then costs one exec and one dynamic link less), after making that child look
 * like a freshly executed helper: its descriptors only, no environment. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "sandbox/seccomp.h"

extern char **environ;

int brig_jail_start(const brig_plan *plan, const brig_jail_fds *fds) {
        struct sock_fprog prog = {0};
        brig_error err = BRIG_ERROR_INIT;
        sigset_t none;
        int r;

        /* Start from a clean signal state whatever the parent left behind. */
        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        if (fds->seccomp >= 0) {
                r = brig_seccomp_read(fds->seccomp, &prog, &err);
                if (r < 0) {
                        brig_jail_report_error(fds->status, "seccomp", r, err.msg);
                        return 1;
                }
                (void) close(fds->seccomp);
        }
        r = brig_jail_run(plan, fds->seccomp < 0 && fds->seccomp_later ? NULL : &prog, fds->status,
                          fds->control, fds->cgroup, fds->n_cgroup, fds->cgroup_self, fds->cgroup_later,
                          fds->limits);
        free(prog.filter);
        return r;
}

/* Moves each descriptor of fds to its number on brig-jail's command line, close-on-exec, and closes every
 * other one from 3 up: the child keeps nothing of its parent's (a copy of a pipe's or socket's other end
 * would keep it from ever reporting a hang-up). */
static int place_fds(brig_jail_fds *fds) {
        enum { TOP = BRIG_JAILCTL_FD_LIMITS, CLEAR = TOP + 1 };
        _Static_assert(BRIG_JAILCTL_FD_CGROUP + BRIG_JAILCTL_MAX_CGROUP_FDS <= TOP, "one slot each");
        int *slot[TOP + 1] = {NULL};
        int r = 0;

        slot[BRIG_JAILCTL_FD_STATUS] = &fds->status;
        slot[BRIG_JAILCTL_FD_SECCOMP] = &fds->seccomp;
        slot[BRIG_JAILCTL_FD_CONTROL] = &fds->control;
        for (size_t i = 0; i < fds->n_cgroup; i++)
                slot[BRIG_JAILCTL_FD_CGROUP + i] = &fds->cgroup[i];
        slot[BRIG_JAILCTL_FD_LIMITS] = &fds->limits;
        /* First out of the way of the numbers they go to, then each to its own. */
        for (int t = 3; t <= TOP && r == 0; t++) {
                int moved = slot[t] && *slot[t] >= 0 ? fcntl(*slot[t], F_DUPFD_CLOEXEC, CLEAR) : -1;
                if (moved >= 0)
                        *slot[t] = moved;
                else if (slot[t] && *slot[t] >= 0)
                        r = -errno;
        }
        for (int t = 3; t <= TOP && r == 0; t++) {
                if (!slot[t] || *slot[t] < 0)
                        (void) close(t);
                else if (dup3(*slot[t], t, O_CLOEXEC) < 0)
                        r = -errno;
                else
                        *slot[t] = t;
        }
        if (r < 0)
                return r;
        /* With its stdio closed, the parent's own pipes and sockets may sit at 0-2: gone at exec (they are
         * close-on-exec), so gone here too, or a copy of control would keep the init from seeing it hang up.
         */
        for (int t = 0; t < 3; t++) {
                int flags = fcntl(t, F_GETFD);
                if (flags >= 0 && (flags & FD_CLOEXEC))
                        (void) close(t);
        }
        return brig__close_fds_from(CLEAR);
}

_Noreturn void brig_jail_start_forked(const brig_plan *plan, brig_jail_fds fds) {
        int r;

        if (fds.n_cgroup > BRIG_JAILCTL_MAX_CGROUP_FDS) {
                brig_jail_report_error(fds.status, "fds", -EINVAL, "too many cgroups");
                _exit(1);
        }
        if ((r = place_fds(&fds)) < 0) {
                brig_jail_report_error(fds.status, "fds", r, "");
                _exit(1);
        }
        /* The caller's environment is no business of the jail's: brig-jail is executed with none. Its
         * strings stay in our memory, where /proc/PID/environ reads them (the init, pid 1 of the jail, is
         * this process's clone): wipe them. The init also makes itself non-dumpable (sandbox/jail.c), as
         * it carries the rest of brig's memory. */
        for (char **e = environ; e && *e; e++)
                explicit_bzero(*e, strlen(*e));
        static char *no_env[] = {NULL};
        environ = no_env;
        _exit(brig_jail_start(plan, &fds));
}
