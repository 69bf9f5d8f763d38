/* SPDX-License-Identifier: MIT */
/* The life of one jail, run by the single-threaded brig-jail helper.
 *
 * Theory of operation. Three processes:
 *   helper   started by brigd (uv_spawn) or brig (fork+exec) with the plan on an fd. Stays in the host's
 *            namespaces, clones the init with every namespace flag, writes its uid/gid maps (only the parent
 *            namespace may), releases it over a sync pipe and waits for it. Dies with its parent
 *            (PR_SET_PDEATHSIG), which is how brigd kills a whole call: SIGKILL the helper.
 *   init     pid 1 of the new pid namespace, full capabilities in the new user namespace only. Takes the
 *            mapped ids, builds the root (mounts.c), names the host, raises loopback, drops every
 *            capability but the policy's (caps.c, usually all), sets no_new_privs, restricts itself with
 *            Landlock (landlock.c: inherited by all it forks), forks the command and reaps until the
 *            command ends; its exit
 * then kills everything left in the namespace (background children included). Dies with the helper. command
 * setsid() (no controlling tty, so no TIOCSTI into the caller's terminal), rlimits, all fds but 0/1/2
 * closed, cwd, then the seccomp filter as the very last step, and execve(). All three report on the status
 * fd (see jail.h); stdio is inherited from the helper unchanged.
 * Audited denials: a filter that returns SECCOMP_RET_USER_NOTIF is loaded with NEW_LISTENER, and whoever
 * loads it (an environment's init, or a one-shot command) sends the listener over the control socket
 * (SCM_RIGHTS, sandbox/spawn.h) to brigd or brig and closes its own copy before anything untrusted runs.
 * Each command's reaper is named "brig-r<id>" after brigd's id for it, so denials find their call. */
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
#include "sandbox/spawn.h"

extern char **environ;

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...) {
        char line[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(line) - 1)
                n = sizeof(line) - 2;
        /* Details come from policies and argv: keep the record on one line. */
        for (int i = 0; i < n; i++)
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        line[n++] = '\n';
        (void) !write(fd, line, (size_t) n);
}

static void report_error(int fd, const char *stage, int r, const char *detail) {
        report(fd, "error %s %d %s", stage, r < 0 ? -r : r, detail ? detail : "");
}

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
        brig_spawn_msg m = {.op = BRIG_SPAWN_PROXY};
        int fds[2] = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                      socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
        int r = 0;

        if (fds[0] < 0)
                r = -errno;
        else if (bind(fds[0], (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fds[0], 128) < 0)
                r = -errno;
        else
                /* Without sock_diag (a kernel without it) connections are attributed to no call. */
                r = brig_spawn_send(control, &m, fds, fds[1] >= 0 ? 2 : 1);
        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        (void) close(fds[i]);
        return r;
}

/* The status record for a command's end: "exit N" or "signal N". */
static void report_end(int status, int wstatus) {
        if (WIFEXITED(wstatus))
                report(status, "exit %d", WEXITSTATUS(wstatus));
        else
                report(status, "signal %d", WTERMSIG(wstatus));
}

/* Closes every fd from 3 up but keep and also (-1: none). Async-signal-safe. */
static int close_fds_except_two(int keep, int also) {
        int lo = keep < also ? keep : also, hi = keep < also ? also : keep;

        if (lo < 0)
                lo = hi;
#if HAVE_CLOSE_RANGE
        if ((lo <= 3 || close_range(3, (unsigned) lo - 1, 0) == 0) &&
            (hi <= lo + 1 || close_range((unsigned) lo + 1, (unsigned) hi - 1, 0) == 0) &&
            close_range((unsigned) hi + 1, ~0U, 0) == 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;
#endif
        /* FIXME: remove once the minimum kernel is >= 5.9 (close_range). */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
                if (fd != lo && fd != hi)
                        (void) close((int) fd);
        return 0;
}

static int close_fds_except(int keep) {
        return close_fds_except_two(keep, -1);
}

/* Loads the filter and, when it has audited denials, hands its listener to brigd or brig over sock
 * (SCM_RIGHTS, op BRIG_SPAWN_LISTENER) and closes our copy: only the receiver answers notifications. A
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
                brig_spawn_msg m = {.op = BRIG_SPAWN_LISTENER};
                /* The socket may be non-blocking in the receiver only; ours blocks, and one message fits. */
                r = brig_spawn_send(sock, &m, &listener, 1);
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
static _Noreturn void command_main(const brig_plan *plan, const struct sock_fprog *prog, int status,
                                   int notify, bool new_session) {
        int r;

        if (new_session && setsid() < 0) {
                report_error(status, "setsid", -errno, "");
                _exit(127);
        }
        for (size_t i = 0; i < plan->n_rlimits; i++) {
                struct rlimit rl = {plan->rlimits[i].value, plan->rlimits[i].value};
                if (setrlimit(plan->rlimits[i].resource, &rl) < 0) {
                        report_error(status, "rlimit", -errno, rlimit_name(plan->rlimits[i].resource));
                        _exit(127);
                }
        }
        if (fcntl(status, F_SETFD, FD_CLOEXEC) < 0 ||
            (notify >= 0 && fcntl(notify, F_SETFD, FD_CLOEXEC) < 0) ||
            (r = close_fds_except_two(status, notify)) < 0) {
                report_error(status, "fds", -errno, "");
                _exit(127);
        }
        if (chdir(plan->cwd) < 0) {
                report_error(status, "cwd", -errno, plan->cwd);
                _exit(127);
        }
        environ = plan->envp;
        (void) signal(SIGPIPE, SIG_DFL);
        report(status, "started");
        /* In an environment (ENTER) the filter is already in force, inherited from its init. */
        if (plan->mode != BRIG_PLAN_ENTER && plan->seccomp && (r = load_filter(prog, notify)) < 0) {
                report_error(status, "seccomp", r, "load filter");
                _exit(127);
        }
        if (notify >= 0)
                (void) close(notify);
        /* execvp() searches the PATH of `environ`, which is now the plan's. */
        execvp(plan->argv[0], plan->argv);
        report_error(status, "execve", -errno, plan->argv[0]);
        _exit(127);
}

/* --- the resident spawner: an environment's pid 1 --------------------------------------------------- */

#define SPAWN_MAX_CHILDREN 1024
#define SPAWN_PLAN_MAX (16 * 1024 * 1024)

typedef struct spawn_child {
        pid_t pid; /* the command's reaper */
        uint64_t id;
} spawn_child;

#define KILL_MAX 4096 /* processes one kill looks at; an environment has at most its limits.processes */

typedef struct command_args {
        const brig_plan *plan;
        const struct sock_fprog *prog;
        int status;
} command_args;

#ifndef __SANITIZE_ADDRESS__
/* The command's own stack while it shares the reaper's memory (it runs until execve). */
static char command_stack[64 * 1024] __attribute__((aligned(16)));
#endif

static int command_start(void *arg) {
        const command_args *a = arg;
        sigset_t none;

        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        command_main(a->plan, a->prog, a->status, -1, false);
}

/* Between the init and a command: a child subreaper in a session of its own, so that the command's
 * process group is the reaper's (signals reach it by that group) and whatever the command leaves behind,
 * setsid() or not, stays below the reaper, where a kill finds it. Reports how the command ended on the
 * status fd, then lingers, reaping, for as long as anything the command started still runs. */
static _Noreturn void reaper_main(const brig_plan *plan, const struct sock_fprog *prog, int status) {
        sigset_t all;
        pid_t cmd, pid;
        int st;

        (void) sigfillset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                report_error(status, "reaper", -errno, "");
                _exit(127);
        }
        /* The reaper only waits while the command runs: it lends the command its memory until execve
         * (CLONE_VM | CLONE_VFORK, as posix_spawn does), which saves a copy of its page tables per call. */
        command_args a = {plan, prog, status};
#ifdef __SANITIZE_ADDRESS__
        /* ASan cannot follow a switch to a stack of our own: a plain fork in sanitizer builds. */
        cmd = fork();
        if (cmd == 0)
                _exit(command_start(&a));
#else
        cmd = clone(command_start, command_stack + sizeof(command_stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
                    &a);
#endif
        if (cmd < 0) {
                report_error(status, "fork", -errno, "command");
                _exit(127);
        }
        /* Only the status fd: the command's output must reach EOF when the command and its children are
         * done with it, not when we are. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
                (void) dup2(null, fd);
        (void) close_fds_except(status);
        for (;;) {
                pid = waitpid(-1, &st, 0);
                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid < 0)
                        _exit(0);
                if (pid != cmd)
                        continue;
                report_end(status, st);
                (void) close(status);
                status = -1;
        }
}

static int read_plan_fd(int fd, brig_plan **ret) {
        struct stat st;
        char *text;
        brig_error err = BRIG_ERROR_INIT;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size > SPAWN_PLAN_MAX)
                return -EFBIG;
        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        ssize_t n = pread(fd, text, (size_t) st.st_size, 0);
        if (n != st.st_size) {
                free(text);
                return n < 0 ? -errno : -EIO;
        }
        r = brig_plan_from_json(text, (size_t) n, ret, &err);
        free(text);
        if (r >= 0 && (*ret)->mode != BRIG_PLAN_ENTER) {
                brig_plan_free(*ret);
                r = -EINVAL;
        }
        return r;
}

/* Forks one command. fds: plan, stdout, stderr, status[, stdin]. Takes ownership of all of them. */
static void spawn_run(const brig_spawn_msg *m, int *fds, size_t n_fds, const struct sock_fprog *prog,
                      spawn_child *children, size_t *n_children) {
        bool has_stdin = m->flags & BRIG_SPAWN_FLAG_STDIN;
        brig_plan *plan = NULL;
        int status = n_fds >= 4 ? fds[3] : -1, r;
        pid_t pid;

        if (n_fds != (has_stdin ? 5u : 4u)) {
                if (status >= 0)
                        report_error(status, "spawn", EBADMSG, "wrong descriptors");
                goto out;
        }
        if (*n_children >= SPAWN_MAX_CHILDREN) {
                report_error(status, "spawn", EAGAIN, "too many commands running in this environment");
                goto out;
        }
        if ((r = read_plan_fd(fds[0], &plan)) < 0) {
                report_error(status, "plan", r, "read command plan");
                goto out;
        }
        pid = fork();
        if (pid < 0) {
                report_error(status, "fork", -errno, "command");
                goto out;
        }
        if (pid == 0) {
                int in = has_stdin ? fds[4] : open("/dev/null", O_RDONLY | O_CLOEXEC);
                /* 0..2 first, then the status fd out of their way: command_main closes everything else. */
                int st = fcntl(status, F_DUPFD_CLOEXEC, 3);
                if (in < 0 || st < 0 || dup2(in, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0) {
                        report_error(status, "stdio", -errno, "");
                        _exit(127);
                }
                /* dup2() onto itself keeps close-on-exec, which the descriptors arrived with. */
                for (int fd = 0; fd < 3; fd++)
                        (void) fcntl(fd, F_SETFD, 0);
                /* brigd attributes a denied syscall to its call by the name of the reaper it runs under
                 * (worker/denials.c); only this process can change its own comm. */
                char name[16];
                (void) snprintf(name, sizeof(name), "brig-r%" PRIx64, m->id);
                (void) prctl(PR_SET_NAME, name, 0, 0, 0);
                reaper_main(plan, prog, st);
        }
        children[(*n_children)++] = (spawn_child){.pid = pid, .id = m->id};
        report(status, "pid %d", (int) pid);
out:
        brig_plan_free(plan);
        for (size_t i = 0; i < n_fds; i++)
                (void) close(fds[i]);
}

static void spawn_reap(spawn_child *children, size_t *n_children) {
        pid_t pid;

        /* Each command's reaper reported how its command ended; here they and orphans only go. */
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
                for (size_t i = 0; i < *n_children; i++)
                        if (children[i].pid == pid) {
                                children[i] = children[--(*n_children)];
                                break;
                        }
}

/* The live processes below root in this pid namespace, from /proc (ours: the environment's), into pids
 * (at most KILL_MAX). Zombies are left out: they are dead already, and their reaping is their parent's. */
static size_t live_descendants(pid_t root, pid_t *pids) {
        static pid_t pid_of[KILL_MAX], ppid_of[KILL_MAX];
        static bool zombie[KILL_MAX];
        size_t n_procs = 0, n = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;

        while (d && (de = readdir(d)) && n_procs < KILL_MAX) {
                char path[64], buf[512], state;
                int pid, fd, ppid;
                if (brig_parse_int(de->d_name, &pid) < 0 || pid <= 1)
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%d/stat", pid);
                if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                        continue;
                ssize_t len = read(fd, buf, sizeof(buf) - 1);
                (void) close(fd);
                if (len <= 0)
                        continue;
                buf[len] = 0;
                /* "pid (comm) state ppid ...": comm may hold anything, ')' included. */
                char *end = strrchr(buf, ')');
                if (end && sscanf(end + 1, " %c %d", &state, &ppid) == 2) {
                        pid_of[n_procs] = pid;
                        ppid_of[n_procs] = ppid;
                        zombie[n_procs++] = state == 'Z' || state == 'X';
                }
        }
        if (d)
                closedir(d);
        /* Breadth first from root; pids[] doubles as the queue (zombies are walked through, then dropped).
         */
        static pid_t queue[KILL_MAX];
        size_t head = 0, tail = 0;
        queue[tail++] = root;
        while (head < tail)
                for (size_t i = 0, parent = (size_t) queue[head++]; i < n_procs && tail < KILL_MAX; i++)
                        if ((size_t) ppid_of[i] == parent) {
                                queue[tail++] = pid_of[i];
                                if (!zombie[i])
                                        pids[n++] = pid_of[i];
                        }
        return n;
}

/* Kills a command's reaper and everything below it. Orphans of the command are reparented to its reaper
 * (a child subreaper), so this reaches what left the command's session too. A process with SIGKILL pending
 * cannot finish a fork, but /proc is no snapshot (a process reparented while we read can be missed once):
 * so look and kill again until nothing below the reaper lives. The reaper goes last, so that no orphan
 * escapes to the init meanwhile. Bounded: at most about two seconds. */
static void kill_tree(pid_t reaper) {
        static pid_t pids[KILL_MAX];

        for (int pass = 0; pass < 2000; pass++) {
                size_t n = live_descendants(reaper, pids);
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        (void) kill(pids[i], SIGKILL);
                (void) usleep(1000);
        }
        (void) kill(reaper, SIGKILL);
}

/* The environment's pid 1 once it is built: forks the commands brigd sends over the control socket, tells
 * each one's status fd how it ended, reaps everything reparented to it, and exits (taking the whole
 * environment down) when brigd hangs up. Runs as the jail user with no capabilities and no_new_privs. */
static _Noreturn void hold_main(int status, int control, const struct sock_fprog *prog) {
        static spawn_child children[SPAWN_MAX_CHILDREN];
        size_t n_children = 0;
        sigset_t chld;
        int sfd;

        /* Same uid as the agent's processes: not dumpable, so they cannot open our /proc/1/mem and such. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        (void) sigemptyset(&chld);
        (void) sigaddset(&chld, SIGCHLD);
        sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                report_error(status, "signalfd", -errno, "");
                _exit(1);
        }
        /* Keep 0..2 taken, so descriptors that arrive with requests never land there. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
                if (fd != null)
                        (void) dup3(null, fd, O_CLOEXEC);
        if (null > 2)
                (void) close(null);
        report(status, "ready");
        for (;;) {
                struct pollfd p[2] = {{.fd = control, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(1);
                }
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) == sizeof(si))
                                ;
                        spawn_reap(children, &n_children);
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        brig_spawn_msg m;
                        int fds[BRIG_SPAWN_MAX_FDS];
                        size_t n_fds = 0;
                        int r = brig_spawn_recv(control, &m, fds, &n_fds);
                        if (r == 0 || (r < 0 && r != -EBADMSG && r != -EAGAIN))
                                _exit(0); /* brigd is gone: so is the environment */
                        if (r < 0)
                                continue;
                        if (m.op == BRIG_SPAWN_RUN)
                                spawn_run(&m, fds, n_fds, prog, children, &n_children);
                        else {
                                for (size_t i = 0; i < n_fds; i++)
                                        (void) close(fds[i]);
                                if (m.op == BRIG_SPAWN_KILL && m.signal > 0 && m.signal < 65)
                                        for (size_t i = 0; i < n_children; i++) {
                                                if (children[i].id != m.id)
                                                        continue;
                                                /* Other signals go to the command's process group (the
                                                 * reaper, in it, blocks them all). */
                                                if (m.signal == SIGKILL)
                                                        kill_tree(children[i].pid);
                                                else
                                                        (void) kill(-children[i].pid, m.signal);
                                        }
                        }
                        /* A command may have ended before its pid was recorded. */
                        spawn_reap(children, &n_children);
                }
        }
}

/* The Landlock layer, once the root is built and no_new_privs is set; says on the status fd whether it was
 * applied (and at which ABI) or why not. */
static int landlock_layer(const brig_plan *plan, int status) {
        char detail[300] = "";
        int r = brig_landlock_apply(plan, detail, sizeof(detail));

        if (r < 0)
                report_error(status, "landlock", r, detail);
        else if (plan->landlock == BRIG_LANDLOCK_OFF)
                report(status, "layer landlock 0 off by policy");
        else if (r == 0)
                report(status, "layer landlock 0 skipped: not supported by this kernel");
        else
                report(status, "layer landlock %d applied", r);
        return r;
}

static _Noreturn void init_main(const brig_plan *plan, const struct sock_fprog *prog, int status,
                                int sync_fd, int control) {
        const char *stage = NULL;
        char detail[300] = "";
        sigset_t mask;
        pid_t cmd;
        char c;
        int r;

        /* Wait until the helper has written our maps; EOF means it died. */
        if (read(sync_fd, &c, 1) != 1)
                _exit(1);

        if (setresgid(plan->gid_inside, plan->gid_inside, plan->gid_inside) < 0 ||
            setresuid(plan->uid_inside, plan->uid_inside, plan->uid_inside) < 0) {
                report_error(status, "identity", -errno, "set jail uid/gid");
                _exit(1);
        }
        /* Set after the id change, which would clear it. If the helper is already gone the sync pipe has
         * hung up: its write end was the helper's. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                _exit(1);
        struct pollfd pfd = {.fd = sync_fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP))
                _exit(1);
        (void) close(sync_fd);

        if ((r = brig__mounts_apply(plan, detail, sizeof(detail), &stage)) < 0) {
                report_error(status, stage, r, detail);
                _exit(1);
        }
        if ((plan->namespaces & CLONE_NEWUTS) && sethostname(plan->hostname, strlen(plan->hostname)) < 0) {
                report_error(status, "hostname", -errno, plan->hostname);
                _exit(1);
        }
        if (plan->loopback && (r = loopback_up()) < 0) {
                report_error(status, "network", r, "bring up loopback");
                _exit(1);
        }
        if (plan->mode == BRIG_PLAN_HOLD && plan->proxy_port &&
            (r = proxy_listener_send(plan->proxy_port, control)) < 0) {
                report_error(status, "network", r, "proxy listener on 127.0.0.1");
                _exit(1);
        }
        if ((r = brig__caps_keep_only(plan->capabilities)) < 0) {
                report_error(status, "capabilities", r,
                             plan->capabilities ? "keep the policy's" : "drop all");
                _exit(1);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                report_error(status, "no_new_privs", -errno, "");
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
                        report_error(status, "seccomp", r, "load filter");
                        _exit(1);
                }
                hold_main(status, control, prog);
        }

        cmd = fork();
        if (cmd < 0) {
                report_error(status, "fork", -errno, "command");
                _exit(1);
        }
        if (cmd == 0)
                command_main(plan, prog, status, control, true);

        /* As pid 1 we ignore signals without handlers; block them anyway so nothing interrupts reaping. */
        (void) sigfillset(&mask);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) close_fds_except(status);
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
                report_end(status, st);
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

int brig_jail_run(const brig_plan *plan, const struct sock_fprog *prog, int status, int control) {
        _cleanup_close_ int sync_r = -1, sync_w = -1;
        int fds[2], st, r;
        pid_t init;

        if (plan->seccomp && (!prog || !prog->filter)) {
                report_error(status, "seccomp", EINVAL, "no filter supplied");
                return 1;
        }
        /* Die with whoever started us; if that already happened, do nothing. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
                return 1;
        /* Real root carries supplementary groups (0 among them) that would otherwise follow into the jail.
         */
        if (geteuid() == 0 && setgroups(0, NULL) < 0 && errno != EPERM) {
                report_error(status, "identity", -errno, "drop supplementary groups");
                return 1;
        }
        if (plan->mode == BRIG_PLAN_ENTER) {
                report_error(status, "plan", EINVAL, "an enter plan is run by an environment's init");
                return 1;
        }
        if (plan->mode == BRIG_PLAN_HOLD && control < 0) {
                report_error(status, "plan", EBADF, "a hold plan needs a control socket");
                return 1;
        }
        if (pipe2(fds, O_CLOEXEC) < 0) {
                report_error(status, "pipe", -errno, "sync");
                return 1;
        }
        sync_r = fds[0];
        sync_w = fds[1];

        init = (pid_t) syscall(SYS_clone, plan->namespaces | SIGCHLD, NULL, NULL, NULL, 0);
        if (init < 0) {
                r = -errno;
                report_error(status, "namespace", r, failing_namespace(plan->namespaces));
                return 1;
        }
        if (init == 0) {
                (void) close(sync_w);
                init_main(plan, prog, status, sync_r, control);
        }
        sync_r = brig_close_nointr(sync_r);
        /* Only the init talks to brigd: our copy would keep the socket alive after it. */
        if (control >= 0)
                (void) close(control);

        if ((plan->namespaces & CLONE_NEWUSER) && (r = write_maps(init, plan)) < 0) {
                report_error(status, "uid_map", r, "map jail ids");
                (void) kill(init, SIGKILL);
                (void) waitpid(init, NULL, 0);
                return 1;
        }
        /* Before the release: the init's "ready" can only follow it (brigd accepts either order anyway). */
        if (plan->mode == BRIG_PLAN_HOLD)
                report(status, "holder %d", (int) init);
        if (write(sync_w, "x", 1) != 1) {
                report_error(status, "sync", -errno, "release init");
                (void) kill(init, SIGKILL);
                (void) waitpid(init, NULL, 0);
                return 1;
        }
        /* sync_w stays open until we exit: the init reads a hang-up as our death. */
        while ((r = (int) waitpid(init, &st, 0)) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return 1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static const struct {
        const char *name;
        brig_jail_outcome outcome;
} outcome_names[] = {
        {"error", BRIG_JAIL_ERROR},     {"started", BRIG_JAIL_STARTED}, {"exit", BRIG_JAIL_EXITED},
        {"signal", BRIG_JAIL_SIGNALED}, {"ready", BRIG_JAIL_READY},     {"holder", BRIG_JAIL_HOLDER},
        {"pid", BRIG_JAIL_PID},         {"layer", BRIG_JAIL_LAYER},
};

int brig_jail_status_parse(const char *line, size_t len, brig_jail_status *ret) {
        char buf[512], *p, *word;
        brig_jail_status st = {.outcome = _BRIG_JAIL_OUTCOME_INVALID};

        if (len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, line, len);
        buf[len] = 0;
        word = strtok_r(buf, " ", &p);
        for (size_t i = 0; word && i < ELEMENTSOF(outcome_names); i++)
                if (strcmp(word, outcome_names[i].name) == 0)
                        st.outcome = outcome_names[i].outcome;
        if (st.outcome == _BRIG_JAIL_OUTCOME_INVALID)
                return -EINVAL;
        if (st.outcome == BRIG_JAIL_STARTED || st.outcome == BRIG_JAIL_READY) {
                *ret = st;
                return 0;
        }
        if (st.outcome == BRIG_JAIL_ERROR || st.outcome == BRIG_JAIL_LAYER) {
                word = strtok_r(NULL, " ", &p);
                if (!word)
                        return -EINVAL;
                (void) snprintf(st.stage, sizeof(st.stage), "%s", word);
        }
        word = strtok_r(NULL, " ", &p);
        if (!word)
                return -EINVAL;
        int v;
        int max = st.outcome == BRIG_JAIL_HOLDER || st.outcome == BRIG_JAIL_PID ? INT32_MAX : 4096;
        if (brig_parse_int(word, &v) < 0 || v < 0 || v > max)
                return -EINVAL;
        st.value = v;
        if ((st.outcome == BRIG_JAIL_ERROR || st.outcome == BRIG_JAIL_LAYER) && p)
                (void) snprintf(st.detail, sizeof(st.detail), "%s", p);
        *ret = st;
        return 0;
}

int brig_jail_status_to_error(const brig_jail_status *st, brig_error *err) {
        int code = st->value > 0 ? -st->value : -EIO;

        if (strcmp(st->stage, "execve") == 0)
                return brig_error_set_errno(err, code,
                                            st->value == ENOENT ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO,
                                            "execve '%s'", st->detail);
        if (strcmp(st->stage, "cwd") == 0)
                return brig_error_set_errno(err, code, BRIG_KIND_INVALID_ARGUMENT, "cwd '%s'", st->detail);
        return brig_error_set_errno(err, code, BRIG_KIND_SANDBOX, "sandbox layer %s '%s'", st->stage,
                                    st->detail);
}
