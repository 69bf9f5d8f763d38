/* SPDX-License-Identifier: MIT */
/* brig-jail: the single-threaded helper that builds one jail and runs one command in it. Started by brigd
 * and brig with the plan (JSON) on one fd, the seccomp program on another and a status pipe on a third (the
 * command line brig_jailctl_helper_argv() builds, sandbox/jailctl.h); not meant to be run by hand. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/jail.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"

static void usage(void) {
        printf("Usage: brig-jail --plan-fd FD --status-fd FD [--seccomp-fd FD] [--control-fd FD]\n"
               "                 [--cgroup-fd FD | --cgroup-self-fd FD]... [--limits-fd FD]\n\n"
               "Builds one jail from the plan read from FD (JSON, written by brigd or brig), runs its "
               "command and\n"
               "reports on the status FD. This is an internal helper; use `brig run` instead.\n");
}

static int parse_fd(const char *s, int *ret) {
        int fd;
        if (brig_parse_int(s, &fd) < 0 || fd < 0) {
                fprintf(stderr, "brig-jail: invalid fd '%s'\n", s);
                return -EINVAL;
        }
        *ret = fd;
        return 0;
}

/* brigd starts us with posix_spawn (worker/env_holder.c), whose child in glibc (posix/spawni.c, before 2.38)
 * sets glibc's internal signals (SIGCANCEL and SIGSETXID, 32 and 33) to SIG_IGN so that the vfork'd child
 * runs none of the parent's handlers; an ignored signal stays ignored across execve, and would be so in the
 * jail's init and every command. Back to SIG_DFL, as after a fork: with the raw system call, since glibc's
 * sigaction() refuses its internal signals. A zeroed kernel sigaction is SIG_DFL on every layout. */
static void internal_signals_default(void) {
        unsigned long ksa[8] = {0}; /* larger than any layout's */

        for (int sig = 32; sig < SIGRTMIN; sig++)
                (void) syscall(SYS_rt_sigaction, sig, ksa, NULL, (size_t) 8);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {BRIG_JAILCTL_OPT_PLAN, required_argument, NULL, 'p'},
                {BRIG_JAILCTL_OPT_STATUS, required_argument, NULL, 's'},
                {BRIG_JAILCTL_OPT_SECCOMP, required_argument, NULL, 'c'},
                {BRIG_JAILCTL_OPT_CONTROL, required_argument, NULL, 't'},
                {BRIG_JAILCTL_OPT_CGROUP, required_argument, NULL, 'g'},
                {BRIG_JAILCTL_OPT_CGROUP_SELF, required_argument, NULL, 'G'},
                {BRIG_JAILCTL_OPT_LIMITS, required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        int plan_fd = -1, status_fd = -1, seccomp_fd = -1, control_fd = -1, limits_fd = -1, c, r;
        int cgroup_fds[BRIG_JAILCTL_MAX_CGROUP_FDS];
        size_t n_cgroup_fds = 0;
        int cgroup_join = 0; /* 'g' or 'G', one kind for all */
        brig_error err = BRIG_ERROR_INIT;

        internal_signals_default();
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        if (parse_fd(optarg, &plan_fd) < 0)
                                return 2;
                        break;
                case 's':
                        if (parse_fd(optarg, &status_fd) < 0)
                                return 2;
                        break;
                case 'c':
                        if (parse_fd(optarg, &seccomp_fd) < 0)
                                return 2;
                        break;
                case 't':
                        if (parse_fd(optarg, &control_fd) < 0)
                                return 2;
                        break;
                case 'g':
                case 'G':
                        if (cgroup_join && cgroup_join != c) {
                                fprintf(stderr,
                                        "brig-jail: --" BRIG_JAILCTL_OPT_CGROUP
                                        " and --" BRIG_JAILCTL_OPT_CGROUP_SELF " exclude each other\n");
                                return 2;
                        }
                        cgroup_join = c;
                        if (n_cgroup_fds >= BRIG_JAILCTL_MAX_CGROUP_FDS) {
                                fprintf(stderr, "brig-jail: at most %d --" BRIG_JAILCTL_OPT_CGROUP "\n",
                                        BRIG_JAILCTL_MAX_CGROUP_FDS);
                                return 2;
                        }
                        if (parse_fd(optarg, &cgroup_fds[n_cgroup_fds++]) < 0)
                                return 2;
                        break;
                case 'l':
                        if (parse_fd(optarg, &limits_fd) < 0)
                                return 2;
                        break;
                case 'h':
                        usage();
                        return 0;
                default:
                        return 2;
                }
        }
        if (plan_fd < 0 || status_fd < 0) {
                usage();
                return 2;
        }
        r = brig_jailctl_plan_read(plan_fd, &plan, &err);
        if (r < 0) {
                brig_jail_report_error(status_fd, "plan", r, err.msg);
                return 1;
        }
        (void) close(plan_fd);
        brig_jail_fds fds = {.status = status_fd,
                             .seccomp = seccomp_fd,
                             .control = control_fd,
                             .limits = limits_fd,
                             .n_cgroup = n_cgroup_fds,
                             .cgroup_self = cgroup_join == 'G'};
        memcpy(fds.cgroup, cgroup_fds, n_cgroup_fds * sizeof(int));
        return brig_jail_start(plan, &fds);
}
