/* SPDX-License-Identifier: MIT */
/* The life of one jail in the single-threaded brig-jail helper: the helper, the init and the command (the
 * processes and channels are described in sandbox/jailctl.h; the spawner an environment's init becomes is in
 * sandbox/spawner.c).
 *   helper   stays in the host's namespaces, clones the init with every namespace flag, writes its uid/gid
 *            maps (only the parent namespace may), releases it over a sync pipe and waits for it.
 *   init     full capabilities in the new user namespace only. Takes the mapped ids, builds the root
 *            (mounts.c), names the host, raises loopback, drops every capability but the policy's (caps.c,
 *            usually all), sets no_new_privs, restricts itself with Landlock (landlock.c: inherited by all
 *            it forks), then forks the command and reaps until it ends (its exit kills everything left in
 *            the namespace, background children included) or, for an environment, becomes the spawner.
 *   command  setsid() (no controlling tty, so no TIOCSTI into the caller's terminal), rlimits, all fds but
 *            0/1/2 closed, cwd, then the seccomp filter as the very last step, and execve(). stdio is
 *            inherited from the helper unchanged.
 * Audited denials: a filter that returns SECCOMP_RET_USER_NOTIF is loaded with NEW_LISTENER, and whoever
 * loads it (an environment's init, or a one-shot command) sends the listener over the control socket
 * (LISTENER) to brigd or brig and closes its own copy before anything untrusted runs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/jail.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"
#include "sandbox/jailctl.h"

extern char **environ;

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int r = n < 0 ? -errno : 0;
        (void) close(fd);
        return r;
}

static int write_maps(pid_t pid, const brig_plan *plan) {
        char path[64], map[64];
        int r;

        /* "deny" is required before an unprivileged gid_map, and keeps the jail from setgroups() later. */
        (void) snprintf(path, sizeof(path), "/proc/%d/setgroups", (int) pid);
        if ((r = write_file(path, "deny")) < 0 && r != -ENOENT)
                return r;
        (void) snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        (void) snprintf(map, sizeof(map), "%u %u 1\n", plan->uid_inside, plan->uid_outside);
        if ((r = write_file(path, map)) < 0)
                return r;
        (void) snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
        (void) snprintf(map, sizeof(map), "%u %u 1\n", plan->gid_inside, plan->gid_outside);
        return write_file(path, map);
}

static int loopback_up(void) {
        struct ifreq ifr = {0};
        int r = 0;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        else {
                ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
                if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                        r = -errno;
        }
        (void) close(fd);
        return r;
}

/* The proxy's listening socket, created here so that it lives in the jail's network namespace: brigd
 * accepts on it without ever entering the namespace (no setns, so rootless works the same), and nothing
 * else can take the port first, as no command has run yet. With it goes a sock_diag netlink socket of the
 * same namespace, with which brigd looks up the jail's end of an accepted connection (to attribute it to a
 * call) in O(1), where reading /proc/PID/net/tcp walks the host's whole TCP hash table. Both are sent to
 * brigd and closed: the jail keeps no copy. Async-signal-safe. */
static int proxy_listener_send(uint16_t port, int control) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fds[2] = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                      socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
        int r = 0;

        if (fds[0] < 0)
                r = -errno;
        else if (bind(fds[0], (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fds[0], 128) < 0)
                r = -errno;
        else
                /* Without sock_diag (a kernel without it) connections are attributed to no call. */
                r = brig_jailctl_send_proxy(control, fds[0], fds[1]);
        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        (void) close(fds[i]);
        return r;
}

int brig__close_fds_from(int lo) {
#if HAVE_CLOSE_RANGE
        if (close_range((unsigned) lo, ~0U, 0) == 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;
#endif
        /* FIXME: remove once the minimum kernel is >= 5.9 (close_range). */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = lo; fd < (max > 0 ? max : 65536); fd++)
                (void) close((int) fd);
        return 0;
}

int brig__close_fds_except(int keep, int also) {
        int lo = keep < also ? keep : also, hi = keep < also ? also : keep;

        if (lo < 0)
                lo = hi;
#if HAVE_CLOSE_RANGE
        if ((lo <= 3 || close_range(3, (unsigned) lo - 1, 0) == 0) &&
            (hi <= lo + 1 || close_range((unsigned) lo + 1, (unsigned) hi - 1, 0) == 0))
                return brig__close_fds_from(hi + 1);
        if (errno != ENOSYS)
                return -errno;
#endif
        for (int fd = 3; fd < hi; fd++)
                if (fd != lo)
                        (void) close(fd);
        return brig__close_fds_from(hi + 1);
}

/* Loads the filter and, when it has audited denials, hands its listener to brigd or brig over sock
 * (LISTENER, sandbox/jailctl.h) and closes our copy: only the receiver answers notifications. A
 * filter with audited denials and no one to send the listener to is refused (its denials would all be
 * ENOSYS). Async-signal-safe. */
static int load_filter(const struct sock_fprog *prog, int sock) {
        int listener = -1, r;

        if (brig_seccomp_has_notify(prog) && sock < 0)
                return -ENOTCONN;
        r = brig_seccomp_load_listener(prog, &listener);
        if (r < 0)
                return r;
        if (listener >= 0) {
                /* The socket may be non-blocking in the receiver only; ours blocks, and one message fits. */
                r = brig_jailctl_send_listener(sock, listener);
                (void) close(listener);
        }
        return r;
}

static const char *rlimit_name(int resource) {
        switch (resource) {
        case RLIMIT_CORE:
                return "core";
        case RLIMIT_CPU:
                return "cpu";
        case RLIMIT_DATA:
                return "data";
        case RLIMIT_NPROC:
                return "nproc";
        case RLIMIT_NOFILE:
                return "nofile";
        case RLIMIT_FSIZE:
                return "fsize";
        default:
                return "other";
        }
}

/* notify: where a one-shot command sends its filter's listener (see load_filter), else -1. */
_Noreturn void brig__command_main(const brig_plan *plan, const struct sock_fprog *prog, int status,
                                  int notify, bool new_session, volatile int *started) {
        int r;

        if (new_session && setsid() < 0) {
                brig_jail_report_error(status, "setsid", -errno, "");
                _exit(127);
        }
        for (size_t i = 0; i < plan->n_rlimits; i++) {
                struct rlimit rl = {plan->rlimits[i].value, plan->rlimits[i].value};
                if (setrlimit(plan->rlimits[i].resource, &rl) < 0) {
                        brig_jail_report_error(status, "rlimit", -errno,
                                               rlimit_name(plan->rlimits[i].resource));
                        _exit(127);
                }
        }
        if (fcntl(status, F_SETFD, FD_CLOEXEC) < 0 ||
            (notify >= 0 && fcntl(notify, F_SETFD, FD_CLOEXEC) < 0) ||
            (r = brig__close_fds_except(status, notify)) < 0) {
                brig_jail_report_error(status, "fds", -errno, "");
                _exit(127);
        }
        if (chdir(plan->cwd) < 0) {
                brig_jail_report_error(status, "cwd", -errno, plan->cwd);
                _exit(127);
        }
        environ = plan->envp;
        (void) signal(SIGPIPE, SIG_DFL);
        if (started)
                *started = 1;
        else
                brig_jail_report(status, "started");
        /* In an environment (ENTER) the filter is already in force, inherited from its init. */
        if (plan->mode != BRIG_PLAN_ENTER && plan->seccomp && (r = load_filter(prog, notify)) < 0) {
                brig_jail_report_error(status, "seccomp", r, "load filter");
                _exit(127);
        }
        if (notify >= 0)
                (void) close(notify);
        /* execvp() searches the PATH of `environ`, which is now the plan's. */
        execvp(plan->argv[0], plan->argv);
        brig_jail_report_error(status, "execve", -errno, plan->argv[0]);
        _exit(127);
}

/* The Landlock layer, once the root is built and no_new_privs is set; says on the status fd whether it was
 * applied (and at which ABI) or why not. */
static int landlock_layer(const brig_plan *plan, int status) {
        char detail[300] = "";
        int r = brig_landlock_apply(plan, detail, sizeof(detail));

        if (r < 0)
                brig_jail_report_error(status, "landlock", r, detail);
        else if (plan->landlock == BRIG_LANDLOCK_OFF)
                brig_jail_report(status, "layer landlock 0 off by policy");
        else if (r == 0)
                brig_jail_report(status, "layer landlock 0 skipped: not supported by this kernel");
        else
                brig_jail_report(status, "layer landlock %d applied", r);
        return r;
}

/* Moves the calling thread, the init's only one, into each v1 hierarchy's group: "0" written to `tasks`. */
static int join_cgroups_self(const int *tasks_fds, size_t n) {
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                if (r == 0 && write(tasks_fds[i], "0", 1) < 0)
                        r = -errno;
                (void) close(tasks_fds[i]);
        }
        return r;
}

static _Noreturn void init_main(const brig_plan *plan, const struct sock_fprog *prog, int status,
                                int sync_fd, int control, const int *tasks_fds, size_t n_tasks_fds,
                                bool cgroup_later) {
        bool new_cgroup_ns = plan->namespaces & CLONE_NEWCGROUP;
        const char *stage = NULL;
        char detail[300] = "";
        sigset_t mask;
        pid_t cmd;
        char c;
        int r;

        if ((r = join_cgroups_self(tasks_fds, n_tasks_fds)) < 0) {
                brig_jail_report_error(status, "cgroup", r, "join the environment's cgroup");
                _exit(1);
        }
        /* Wait until the helper has written our maps; EOF means it died. */
        if (read(sync_fd, &c, 1) != 1)
                _exit(1);

        if (setresgid(plan->gid_inside, plan->gid_inside, plan->gid_inside) < 0 ||
            setresuid(plan->uid_inside, plan->uid_inside, plan->uid_inside) < 0) {
                brig_jail_report_error(status, "identity", -errno, "set jail uid/gid");
                _exit(1);
        }
        /* Set after the id change, which would clear it. If the helper is already gone the sync pipe has
         * hung up: its write end was the helper's. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                _exit(1);
        struct pollfd pfd = {.fd = sync_fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP))
                _exit(1);
        /* The commands run as our uid: not dumpable, so they cannot read our /proc/1/mem, environ and such
         * (under `brig run` we are a clone of brig itself, sandbox/jail_start.c). Only now, as the helper
         * could not have written our maps into a /proc/PID owned by root. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
                brig_jail_report_error(status, "dumpable", -errno, "");
                _exit(1);
        }

        if ((r = brig__mounts_apply(plan, detail, sizeof(detail), &stage)) < 0) {
                brig_jail_report_error(status, stage, r, detail);
                _exit(1);
        }
        if ((plan->namespaces & CLONE_NEWUTS) && sethostname(plan->hostname, strlen(plan->hostname)) < 0) {
                brig_jail_report_error(status, "hostname", -errno, plan->hostname);
                _exit(1);
        }
        if (plan->loopback && (r = loopback_up()) < 0) {
                brig_jail_report_error(status, "network", r, "bring up loopback");
                _exit(1);
        }
        /* brigd's on-demand control: the connection it made before starting us comes first. */
        int listener = -1;
        if (plan->mode == BRIG_PLAN_HOLD && (r = brig_jailctl_accept_first(&control, &listener)) < 0) {
                brig_jail_report_error(status, "control", r, "accept brigd's connection");
                _exit(1);
        }
        if (plan->mode == BRIG_PLAN_HOLD && plan->proxy_port &&
            (r = proxy_listener_send(plan->proxy_port, control)) < 0) {
                brig_jail_report_error(status, "network", r, "proxy listener on 127.0.0.1");
                _exit(1);
        }
        /* We are in the environment's cgroups once the helper says so (brig_jail_run() says why then): wait
         * for that before anything is forked, and only then take a cgroup namespace, rooted there. */
        if (read(sync_fd, &c, 1) != 1)
                _exit(1);
        (void) close(sync_fd);
        /* brig made our groups while we built the root: still single-threaded, we join them ourselves. */
        if (cgroup_later) {
                brig_error err = BRIG_ERROR_INIT;
                int late[BRIG_JAILCTL_MAX_FDS];
                size_t n_late;
                if ((r = brig_jailctl_recv_cgroups(control, late, &n_late, &err)) < 0 ||
                    (r = join_cgroups_self(late, n_late)) < 0) {
                        brig_jail_report_error(status, "cgroup", r,
                                               err.msg[0] ? err.msg : "join the run's cgroup");
                        _exit(1);
                }
        }
        if (new_cgroup_ns && unshare(CLONE_NEWCGROUP) < 0) {
                brig_jail_report_error(status, "namespace", -errno, "cgroup");
                _exit(1);
        }
        if ((r = brig__caps_keep_only(plan->capabilities)) < 0) {
                brig_jail_report_error(status, "capabilities", r,
                                       plan->capabilities ? "keep the policy's" : "drop all");
                _exit(1);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                brig_jail_report_error(status, "no_new_privs", -errno, "");
                _exit(1);
        }
        if (landlock_layer(plan, status) < 0)
                _exit(1);

        if (plan->mode == BRIG_PLAN_HOLD) {
                /* As pid 1 we ignore signals without handlers anyway; SIGCHLD must be blocked for signalfd.
                 */
                sigset_t all;
                (void) sigfillset(&all);
                (void) sigprocmask(SIG_BLOCK, &all, NULL);
                /* The environment is built: from here on the init only forks, signals and reaps, all allowed
                 * by the filter. Loading it now, once, puts every command of the environment under it (a
                 * filter survives fork and execve and cannot be removed), and the init too. */
                if (plan->seccomp && (r = load_filter(prog, control)) < 0) {
                        brig_jail_report_error(status, "seccomp", r, "load filter");
                        _exit(1);
                }
                brig__spawner_main(status, control, listener, prog);
        }

        /* brig compiled the filter while we built the root: nothing runs before it is here. */
        struct sock_fprog late = {0};
        if (!prog && plan->seccomp) {
                brig_error err = BRIG_ERROR_INIT;
                if ((r = brig_jailctl_recv_seccomp(control, &late, &err)) < 0) {
                        brig_jail_report_error(status, "seccomp", r, err.msg);
                        _exit(1);
                }
                prog = &late;
        }
        cmd = fork();
        if (cmd < 0) {
                brig_jail_report_error(status, "fork", -errno, "command");
                _exit(1);
        }
        if (cmd == 0)
                brig__command_main(plan, prog, status, control, true, NULL);

        /* As pid 1 we ignore signals without handlers; block them anyway so nothing interrupts reaping. */
        (void) sigfillset(&mask);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) brig__close_fds_except(status, -1);
        (void) close(0);
        (void) close(1);
        (void) close(2);
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0)
                        _exit(1);
                if (p != cmd)
                        continue;
                brig_jail_report_end(status, false, st);
                _exit(0);
        }
}

/* clone() failed: find which namespace the kernel refused, so the error names the layer. */
static const char *failing_namespace(unsigned long flags) {
        static const struct {
                unsigned long flag;
                const char *name;
        } table[] = {
                {CLONE_NEWUSER, "user"},     {CLONE_NEWPID, "pid"}, {CLONE_NEWNS, "mount"},
                {CLONE_NEWIPC, "ipc"},       {CLONE_NEWUTS, "uts"}, {CLONE_NEWNET, "net"},
                {CLONE_NEWCGROUP, "cgroup"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!(flags & table[i].flag))
                        continue;
                unsigned long probe =
                        table[i].flag | (table[i].flag == CLONE_NEWUSER ? 0 : (flags & CLONE_NEWUSER));
                pid_t p = (pid_t) syscall(SYS_clone, probe | SIGCHLD, NULL, NULL, NULL, 0);
                if (p == 0)
                        _exit(0);
                if (p < 0)
                        return table[i].name;
                (void) waitpid(p, NULL, 0);
        }
        return "namespaces";
}

/* Writes pid into every cgroup.procs file and closes them all. */
static int join_cgroups(pid_t pid, const int *cgroup_fds, size_t n) {
        char text[16];
        int r = 0;

        (void) snprintf(text, sizeof(text), "%d", (int) pid);
        for (size_t i = 0; i < n; i++) {
                if (r == 0 && write(cgroup_fds[i], text, strlen(text)) < 0)
                        r = -errno;
                (void) close(cgroup_fds[i]);
        }
        return r;
}

/* Waits for the byte that says the cgroups' limits are set, and closes limits. */
static int wait_limits(int limits) {
        char c;
        ssize_t n;

        while ((n = read(limits, &c, 1)) < 0 && errno == EINTR)
                ;
        int r = n == 1 ? 0 : n == 0 ? -ECANCELED : -errno;
        (void) close(limits);
        return r;
}

/* Stops a jail whose init we released but could not finish. */
static int abandon(pid_t init, int status, const char *stage, int r, const char *detail) {
        brig_jail_report_error(status, stage, r, detail);
        (void) kill(init, SIGKILL);
        (void) waitpid(init, NULL, 0);
        return 1;
}

/* The init is moved into the environment's cgroups after it is cloned, not born there. Moving a process
 * through cgroup.procs makes the kernel wait for an RCU grace period (~8 ms on an idle host), so on v2 the
 * helper does it while the init builds its root. On v1 the init moves itself first thing: a single thread
 * writing "0" to `tasks` skips that lock (0.1 ms); or, with cgroup_later, once brig run has sent it the
 * groups it made while the root was built (CGROUPS, sandbox/jailctl.h), right after the second byte. Either
 * way the init waits for the helper's second byte on the sync pipe before it forks anything or drops its
 * capabilities, and takes its cgroup namespace only then, so that the namespace is rooted in the
 * environment's cgroup as when the clone made it. brig run sets the cgroups' limits meanwhile: with a limits
 * socket, that byte also waits for brig's. */
int brig_jail_run(const brig_plan *plan, const struct sock_fprog *prog, int status, int control,
                  const int *cgroup_fds, size_t n_cgroup_fds, bool cgroup_self, bool cgroup_later,
                  int limits) {
        _cleanup_close_ int sync_r = -1, sync_w = -1;
        int fds[2], st, r;
        pid_t init;

        /* Without a program, a RUN plan's init takes it from control before it forks the command. */
        if (plan->seccomp && (prog ? !prog->filter : (plan->mode != BRIG_PLAN_RUN || control < 0))) {
                brig_jail_report_error(status, "seccomp", EINVAL, "no filter supplied");
                return 1;
        }
        if (cgroup_later && (plan->mode != BRIG_PLAN_RUN || control < 0 || n_cgroup_fds > 0)) {
                brig_jail_report_error(status, "cgroup", EINVAL,
                                       "late cgroups need a run plan with control");
                return 1;
        }
        /* Die with whoever started us; if that already happened, do nothing. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
                return 1;
        /* Real root carries supplementary groups (0 among them) that would otherwise follow into the jail.
         */
        if (geteuid() == 0 && setgroups(0, NULL) < 0 && errno != EPERM) {
                brig_jail_report_error(status, "identity", -errno, "drop supplementary groups");
                return 1;
        }
        if (plan->mode == BRIG_PLAN_ENTER) {
                brig_jail_report_error(status, "plan", EINVAL,
                                       "an enter plan is run by an environment's init");
                return 1;
        }
        if (plan->mode == BRIG_PLAN_HOLD && control < 0) {
                brig_jail_report_error(status, "plan", EBADF, "a hold plan needs a control socket");
                return 1;
        }
        if (pipe2(fds, O_CLOEXEC) < 0) {
                brig_jail_report_error(status, "pipe", -errno, "sync");
                return 1;
        }
        sync_r = fds[0];
        sync_w = fds[1];

        init = (pid_t) syscall(SYS_clone, (plan->namespaces & ~(unsigned long) CLONE_NEWCGROUP) | SIGCHLD,
                               NULL, NULL, NULL, 0);
        if (init < 0) {
                r = -errno;
                brig_jail_report_error(status, "namespace", r, failing_namespace(plan->namespaces));
                return 1;
        }
        if (init == 0) {
                (void) close(sync_w);
                if (limits >= 0)
                        (void) close(limits);
                if (!cgroup_self)
                        for (size_t i = 0; i < n_cgroup_fds; i++)
                                (void) close(cgroup_fds[i]);
                init_main(plan, prog, status, sync_r, control, cgroup_fds, cgroup_self ? n_cgroup_fds : 0,
                          cgroup_later);
        }
        if (cgroup_self) {
                for (size_t i = 0; i < n_cgroup_fds; i++)
                        (void) close(cgroup_fds[i]);
                n_cgroup_fds = 0;
        }
        sync_r = brig_close_nointr(sync_r);
        /* Only the init talks to brigd: our copy would keep the socket alive after it. */
        if (control >= 0)
                (void) close(control);

        if ((plan->namespaces & CLONE_NEWUSER) && (r = write_maps(init, plan)) < 0)
                return abandon(init, status, "uid_map", r, "map jail ids");
        /* Before the release: the init's "ready" can only follow it (brigd accepts either order anyway). */
        if (plan->mode == BRIG_PLAN_HOLD)
                brig_jail_report(status, "holder %d", (int) init);
        if (write(sync_w, "x", 1) != 1)
                return abandon(init, status, "sync", -errno, "release init");
        if ((r = join_cgroups(init, cgroup_fds, n_cgroup_fds)) < 0)
                return abandon(init, status, "cgroup", r, "join the environment's cgroup");
        if (limits >= 0 && (r = wait_limits(limits)) < 0)
                return abandon(init, status, "cgroup", r, "limits not set");
        if (write(sync_w, "c", 1) != 1)
                return abandon(init, status, "sync", -errno, "release init");
        /* From here on we only wait for the init, which has copies of all it needs: keep no descriptor, as
         * an environment's helper lives as long as it does (sandbox/jailctl.h counts them). sync_w goes
         * last, once the init has closed its end (the pipe then reports an error to us), because the init
         * reads a hang-up before that as our death. */
        (void) close(status);
        for (int fd = 0; fd < 3; fd++)
                (void) close(fd);
        struct pollfd pfd = {.fd = sync_w};
        while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
                ;
        sync_w = brig_close_nointr(sync_w);
        while ((r = (int) waitpid(init, &st, 0)) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return 1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
