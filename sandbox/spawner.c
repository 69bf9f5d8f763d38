/* SPDX-License-Identifier: MIT */
/* The spawner: the init of a built environment (a HOLD plan), which runs every command of the environment
 * on brigd's request (RUN, KILL: sandbox/jailctl.h), one reaper per command. Runs in the single-threaded
 * brig-jail helper's init, as the jail user with no capabilities, no_new_privs and the seccomp filter. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/jail.h"
#include "sandbox/jailctl.h"

#define SPAWN_MAX_CHILDREN 1024

typedef struct spawn_child {
        pid_t pid; /* the command's reaper */
        uint64_t id;
} spawn_child;

#define KILL_MAX 4096 /* processes a kill pass keeps aside while their parents are unknown */
#define KILL_TIMEOUT_MS 10000

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
        brig__command_main(a->plan, a->prog, a->status, -1, false);
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
                brig_jail_report_error(status, "reaper", -errno, "");
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
                brig_jail_report_error(status, "fork", -errno, "command");
                _exit(127);
        }
        /* Only the status fd: the command's output must reach EOF when the command and its children are
         * done with it, not when we are. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
                (void) dup2(null, fd);
        (void) brig__close_fds_except(status);
        for (;;) {
                pid = waitpid(-1, &st, 0);
                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid < 0)
                        _exit(0);
                if (pid != cmd)
                        continue;
                brig_jail_report_end(status, st);
                (void) close(status);
                status = -1;
        }
}

/* Forks one command. fds: plan, stdout, stderr, status[, stdin]. Takes ownership of all of them. */
static void spawn_run(const brig_jailctl_msg *m, int *fds, size_t n_fds, const struct sock_fprog *prog,
                      spawn_child *children, size_t *n_children) {
        bool has_stdin = m->flags & BRIG_JAILCTL_FLAG_STDIN;
        brig_error err = BRIG_ERROR_INIT;
        brig_plan *plan = NULL;
        int status = n_fds >= 4 ? fds[3] : -1, r;
        pid_t pid;

        if (n_fds != (has_stdin ? 5u : 4u)) {
                if (status >= 0)
                        brig_jail_report_error(status, "spawn", EBADMSG, "wrong descriptors");
                goto out;
        }
        if (*n_children >= SPAWN_MAX_CHILDREN) {
                brig_jail_report_error(status, "spawn", EAGAIN,
                                       "too many commands running in this environment");
                goto out;
        }
        if ((r = brig_jailctl_plan_read(fds[0], &plan, &err)) >= 0 && plan->mode != BRIG_PLAN_ENTER)
                r = -EINVAL;
        if (r < 0) {
                brig_jail_report_error(status, "plan", r, "read command plan");
                goto out;
        }
        pid = fork();
        if (pid < 0) {
                brig_jail_report_error(status, "fork", -errno, "command");
                goto out;
        }
        if (pid == 0) {
                /* The spawner keeps no 0..2, so what arrived may sit there: every source moves above 2
                 * first, then onto 0..2 (a dup2() result is inheritable); command_main closes everything
                 * else. */
                int src[3] = {has_stdin ? fds[4] : open("/dev/null", O_RDONLY | O_CLOEXEC), fds[1], fds[2]};
                int st = fcntl(status, F_DUPFD_CLOEXEC, 3);
                for (int fd = 0; fd < 3; fd++)
                        if (src[fd] >= 0 && src[fd] < 3)
                                src[fd] = fcntl(src[fd], F_DUPFD_CLOEXEC, 3);
                if (st < 0 || src[0] < 0 || src[1] < 0 || src[2] < 0 || dup2(src[0], 0) < 0 ||
                    dup2(src[1], 1) < 0 || dup2(src[2], 2) < 0) {
                        brig_jail_report_error(st >= 0 ? st : status, "stdio", -errno, "");
                        _exit(127);
                }
                /* brigd attributes a denied syscall or a connection to its call by the name of the reaper
                 * it runs under (worker/culprit.c); only this process can change its own comm. */
                char name[BRIG_JAILCTL_REAPER_NAME_MAX];
                brig_jailctl_reaper_name(m->id, name);
                (void) prctl(PR_SET_NAME, name, 0, 0, 0);
                reaper_main(plan, prog, st);
        }
        children[(*n_children)++] = (spawn_child){.pid = pid, .id = m->id};
        brig_jail_report(status, "pid %d", (int) pid);
out:
        brig_plan_free(plan);
        for (size_t i = 0; i < n_fds; i++)
                (void) close(fds[i]);
}

static void sigchld_noop(int sig) {
        (void) sig;
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

/* Whether a failure to read a process's /proc entry means it is gone (or going: exiting tasks answer ESRCH)
 * rather than that the read itself failed, which a fork bomb at its memory limit causes: the kernel charges
 * the read's buffer to the environment's memory cgroup, and ENOMEM there must not read as "no process". */
static bool proc_gone(int e) {
        return e == ENOENT || e == ESRCH;
}

/* One entry of /proc: its pid, parent and whether it is a zombie. 1 when read, 0 when the process is gone
 * or not a process, -1 when it could not be read. */
static int proc_stat(const char *name, int *ret_pid, int *ret_ppid, bool *ret_zombie) {
        char path[64], buf[512], state;
        int pid, fd, e;

        if (brig_parse_int(name, &pid) < 0 || pid <= 1)
                return 0;
        (void) snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return proc_gone(errno) ? 0 : -1;
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        e = errno;
        (void) close(fd);
        if (len == 0 || (len < 0 && proc_gone(e)))
                return 0;
        if (len < 0)
                return -1;
        buf[len] = 0;
        /* "pid (comm) state ppid ...": comm may hold anything, ')' included. */
        char *end = strrchr(buf, ')');
        if (!end || sscanf(end + 1, " %c %d", &state, ret_ppid) != 2)
                return -1;
        *ret_pid = pid;
        *ret_zombie = state == 'Z' || state == 'X';
        return 1;
}

/* The pids found below the reaper in one pass: open addressing; an environment has at most its
 * limits.processes (pids.max, RLIMIT_NPROC), far fewer than the slots. */
#define TREE_SLOTS 16384
static pid_t tree[TREE_SLOTS];

static size_t tree_slot(pid_t pid) {
        size_t i = ((size_t) pid * 2654435761u) & (TREE_SLOTS - 1);
        while (tree[i] != 0 && tree[i] != pid)
                i = (i + 1) & (TREE_SLOTS - 1);
        return i;
}

static bool tree_has(pid_t pid) {
        return pid > 0 && tree[tree_slot(pid)] == pid; /* 0 marks a free slot */
}

static size_t tree_n;
static bool tree_full;

/* Kept three quarters full at most, so that probing ends; past that (a tree of over 12,288 processes, which
 * limits.processes allows) the pass is incomplete and the next one goes on. */
static void tree_add(pid_t pid) {
        if (tree_n >= TREE_SLOTS / 4 * 3) {
                tree_full = true;
                return;
        }
        size_t i = tree_slot(pid);
        tree_n += tree[i] != pid;
        tree[i] = pid;
}

/* Joins a process to the tree if its parent is in it, and kills it if it lives. Returns whether it was
 * killed. */
static bool kill_if_below(pid_t pid, pid_t ppid, bool zombie) {
        if (!tree_has(ppid))
                return false;
        tree_add(pid);
        if (zombie)
                return false;
        (void) kill(pid, SIGKILL);
        return true;
}

/* One reading of /proc (ours: the environment's pid namespace) that kills every live process below root.
 * Each is killed as soon as it is read: /proc lists pids in ascending order, so a parent comes before the
 * children it forked, and what a process forks before its SIGKILL lands is read later in this same pass
 * (a process with SIGKILL pending cannot finish a fork). Killing only after a whole reading would leave the
 * newest generation unseen, and a fork bomb whose spawner gets little CPU would refill the pids we free
 * faster than we read them. Entries read out of order (a parent read after its child, after pid wrap) are
 * joined afterwards. Returns how many it killed; *ret_complete is false when some entry could not be read:
 * then a pass that killed nothing proves nothing. The directory is read into a static buffer, since no
 * allocation is sure to succeed in a full cgroup. */
static size_t kill_pass(pid_t root, bool *ret_complete) {
        static pid_t pid_of[KILL_MAX], ppid_of[KILL_MAX];
        static bool zombie[KILL_MAX], joined[KILL_MAX];
        static char dents[16384] __attribute__((aligned(8)));
        size_t n_procs = 0, killed = 0;
        bool complete = true, grew = true;
        _cleanup_close_ int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        memset(tree, 0, sizeof(tree));
        tree_n = 0;
        tree_full = false;
        tree_add(root);
        if (dir < 0)
                complete = false;
        for (ssize_t len; dir >= 0;) {
                if ((len = syscall(SYS_getdents64, dir, dents, sizeof(dents))) <= 0) {
                        complete = complete && len == 0;
                        break;
                }
                for (ssize_t off = 0; off < len;
                     off += ((const struct dirent64 *) (dents + off))->d_reclen) {
                        const struct dirent64 *de = (const struct dirent64 *) (dents + off);
                        int pid, ppid;
                        bool z;
                        int r = proc_stat(de->d_name, &pid, &ppid, &z);
                        complete = complete && r >= 0;
                        if (r <= 0)
                                continue;
                        if (tree_has(ppid)) {
                                killed += kill_if_below(pid, ppid, z);
                                continue;
                        }
                        /* Not (yet) known to be below root: kept for the joining below. */
                        if (n_procs == KILL_MAX) {
                                complete = false;
                                continue;
                        }
                        pid_of[n_procs] = pid;
                        ppid_of[n_procs] = ppid;
                        zombie[n_procs] = z;
                        joined[n_procs++] = false;
                }
        }
        while (grew) {
                grew = false;
                for (size_t i = 0; i < n_procs; i++)
                        if (!joined[i] && tree_has(ppid_of[i])) {
                                joined[i] = grew = true;
                                killed += kill_if_below(pid_of[i], ppid_of[i], zombie[i]);
                        }
        }
        *ret_complete = complete && !tree_full;
        return killed;
}

static long elapsed_ms(const struct timespec *since) {
        struct timespec now;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (long) (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Kills a command's reaper and everything below it. Orphans of the command are reparented to its reaper
 * (a child subreaper), so this reaches what left the command's session too. /proc is no snapshot (a
 * process reparented while we read can be missed once), so read and kill again until a whole reading
 * finds nothing below the reaper alive. The reaper goes last: orphans that reached the init instead would
 * live on. Bounded by KILL_TIMEOUT_MS, after which what is left goes with the environment.
 *
 * The reaper is stopped first, so that it reaps nothing while we kill: a killed process keeps its place in
 * RLIMIT_NPROC and pids.max until it is reaped, so a fork bomb at its limit cannot fork into the places its
 * dead free. Reaped as they died, the dead made room for new forks faster than a spawner short of CPU
 * (one of hundreds of runnable processes) could read /proc, and the bomb outlived the kill (seen: 200 of
 * 254 processes alive seconds after their call ended). It also makes the call end when its tree is gone:
 * the reaper's status pipe closes only then. */
static void kill_tree(pid_t reaper) {
        struct timespec start;
        bool complete = false;

        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        (void) kill(reaper, SIGSTOP);
        while ((kill_pass(reaper, &complete) > 0 || !complete) && elapsed_ms(&start) < KILL_TIMEOUT_MS)
                (void) usleep(1000);
        (void) kill(reaper, SIGKILL);
}

/* The environment's pid 1 once it is built: forks the commands brigd sends over the control socket, tells
 * each one's status fd how it ended, reaps everything reparented to it, and exits (taking the whole
 * environment down) when brigd hangs up. Runs as the jail user with no capabilities and no_new_privs. */
_Noreturn void brig__spawner_main(int status, int control, const struct sock_fprog *prog) {
        static spawn_child children[SPAWN_MAX_CHILDREN];
        size_t n_children = 0;
        struct sigaction sa = {.sa_handler = sigchld_noop};
        sigset_t wait_mask;

        /* Same uid as the agent's processes: not dumpable, so they cannot open our /proc/1/mem and such. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* SIGCHLD, blocked but while we wait in ppoll(), ends the wait (EINTR) rather than a signalfd: one
         * descriptor less for every environment, which keeps only its control socket from here on (brigd
         * reads "ready", then sees the status pipe's end; 0..2 are no one's). */
        if (sigaction(SIGCHLD, &sa, NULL) < 0) {
                brig_jail_report_error(status, "sigaction", -errno, "");
                _exit(1);
        }
        (void) sigfillset(&wait_mask);
        (void) sigdelset(&wait_mask, SIGCHLD);
        brig_jail_report(status, "ready");
        (void) close(status);
        for (int fd = 0; fd < 3; fd++)
                if (fd != control)
                        (void) close(fd);
        for (;;) {
                struct pollfd p[1] = {{.fd = control, .events = POLLIN}};
                if (ppoll(p, 1, NULL, &wait_mask) < 0) {
                        if (errno == EINTR) {
                                spawn_reap(children, &n_children);
                                continue;
                        }
                        _exit(1);
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        brig_jailctl_msg m;
                        int fds[BRIG_JAILCTL_MAX_FDS];
                        size_t n_fds = 0;
                        int r = brig_jailctl_recv(control, &m, fds, &n_fds);
                        if (r == 0 || (r < 0 && r != -EBADMSG && r != -EAGAIN))
                                _exit(0); /* brigd is gone: so is the environment */
                        if (r < 0)
                                continue;
                        if (m.op == BRIG_JAILCTL_RUN)
                                spawn_run(&m, fds, n_fds, prog, children, &n_children);
                        else {
                                for (size_t i = 0; i < n_fds; i++)
                                        (void) close(fds[i]);
                                if (m.op == BRIG_JAILCTL_KILL && m.signal > 0 && m.signal < 65)
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
