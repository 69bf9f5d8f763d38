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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/jail.h"
#include "sandbox/jailctl.h"
#include "sandbox/seccomp_eval.h"

#define SPAWN_MAX_CHILDREN 1024

/* Reapers are reused: one whose command's whole tree is gone waits on a channel of its own to the spawner
 * for the next command, which then costs a CLONE_VFORK of the reaper instead of a fork of the spawner and
 * an exit (about 150-250 us of a warm call here). At most SPARE_CHANNELS reapers have a channel (the
 * others exit after their command). The spawner looks at a reaper SPARE_IDLE_MS after it handed it its
 * command or read its IDLE, and sends it away unless it was found idle during this very look (it then gets
 * SPARE_IDLE_MS more): an environment between bursts of calls keeps no process or descriptor more. A reaper
 * still busy at its look goes too (its IDLE then fails and it exits once its command's tree is gone): a
 * look per SPARE_IDLE_MS for as long as a daemon the command left runs would keep an idle environment's
 * pid 1 waking. The spawner does not wake for a reaper's IDLE: it reads it when the next
 * command comes or such a look is due (spare_collect()), one wakeup and a context switch less per call. A
 * reaper gets a channel only when the previous command came less than SPARE_IDLE_MS before: a lone call (the
 * first of a new environment, one a minute) leaves nothing behind. */
#define SPARE_CHANNELS 16
#define SPARE_IDLE_MS 3000
#define SPARE_NAME "brig-spare"

typedef struct spawn_child {
        pid_t pid;   /* the command's reaper */
        uint64_t id; /* the command it runs (not while idle) */
        int chan;    /* the spawner's end of the reaper's channel, or -1 */
        bool idle;   /* waits on chan for a command (its IDLE read: spare_collect()) */
        /* When its command was handed to it or its IDLE was read (spare_heard()) */
        struct timespec since;
} spawn_child;

/* The inline plan of the RUN at hand (jailctl.h: FLAG_PLAN; fds[0] is then -1): the spawner's while it
 * passes the RUN on, a reaper's own copy once forked. */
static char run_plan[BRIG_JAILCTL_PLAN_INLINE_MAX];
static size_t run_plan_len;

#define KILL_MAX 4096 /* processes a kill pass keeps aside while their parents are unknown */
#define KILL_TIMEOUT_MS 10000

typedef struct command_args {
        const brig_plan *plan;
        const struct sock_fprog *prog;
        int status;
        volatile int *started;
} command_args;

/* Where the command says it is about to execve, in a page the reaper shares with it (fork or not), so that
 * the reaper says "started" with the end: brigd needs it only then (worker/mcp.c: whether to snapshot), and
 * a record of its own woke brigd once more per call. NULL (no page): the command writes it itself. */
static volatile int *command_started;

#ifndef __SANITIZE_ADDRESS__
/* The command's own stack while it shares the reaper's memory (it runs until execve). */
static char command_stack[64 * 1024] __attribute__((aligned(16)));
#endif

static int command_start(void *arg) {
        const command_args *a = arg;
        sigset_t none;

        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        brig__command_main(a->plan, a->prog, a->status, -1, false, a->started);
}

/* What a process of the environment (same uid) could change in a reaper and so in every command it would
 * run next: its resource limits (prlimit) and priority. Taken when the reaper starts; a reaper found
 * changed runs no other command. */
static struct rlimit reaper_limits[RLIM_NLIMITS];
static int reaper_nice;

static void reaper_note_state(void) {
        for (int r = 0; r < RLIM_NLIMITS; r++)
                (void) getrlimit(r, &reaper_limits[r]);
        errno = 0;
        reaper_nice = getpriority(PRIO_PROCESS, 0);
}

static bool reaper_state_kept(void) {
        for (int r = 0; r < RLIM_NLIMITS; r++) {
                struct rlimit now;
                if (getrlimit(r, &now) < 0 || now.rlim_cur != reaper_limits[r].rlim_cur ||
                    now.rlim_max != reaper_limits[r].rlim_max)
                        return false;
        }
        errno = 0;
        int nice = getpriority(PRIO_PROCESS, 0);
        return errno == 0 && nice == reaper_nice;
}

/* Tells the spawner this reaper is free (IDLE) on its channel: whether it could. */
static bool say_idle(int chan) {
        brig_jailctl_msg idle = {.op = BRIG_JAILCTL_IDLE};
        return chan >= 0 && brig_jailctl_send(chan, &idle, NULL, 0) == 0;
}

/* Runs one command (a RUN's fds: plan, stdout, stderr, status[, stdin], all taken) below this reaper, and
 * returns once it and everything it started are gone, having reported how it ended on its status fd and
 * told the spawner on chan that it is free (IDLE): whether it could. Anything failing before the command
 * runs is reported on the status fd and ends the reaper. */
static bool reaper_run(const brig_jailctl_msg *m, int *fds, const struct sock_fprog *prog, int chan) {
        bool has_stdin = m->flags & BRIG_JAILCTL_FLAG_STDIN;
        brig_error err = BRIG_ERROR_INIT;
        brig_plan *plan = NULL;
        char name[BRIG_JAILCTL_REAPER_NAME_MAX];
        pid_t cmd, pid;
        int st, r;

        /* brigd attributes a denied syscall or a connection to its call by the name of the reaper it runs
         * under (worker/culprit.c); only this process can change its own comm. */
        brig_jailctl_reaper_name(m->id, name);
        (void) prctl(PR_SET_NAME, name, 0, 0, 0);
        int status = fcntl(fds[3], F_DUPFD_CLOEXEC, 3);
        if (status < 0)
                _exit(127);
        r = fds[0] < 0 ? brig_plan_from_json(run_plan, run_plan_len, &plan, &err)
                       : brig_jailctl_plan_read(fds[0], &plan, &err);
        if (r >= 0 && plan->mode != BRIG_PLAN_ENTER)
                r = -EINVAL;
        if (r < 0) {
                brig_jail_report_error(status, "plan", r, "read command plan");
                _exit(127);
        }
        /* What arrived may sit on 0..2 (a new reaper has none open): every source moves above 2 first,
         * then onto 0..2 (a dup2() result is inheritable); command_main closes everything else. */
        int src[3] = {has_stdin ? fds[4] : open("/dev/null", O_RDONLY | O_CLOEXEC), fds[1], fds[2]};
        for (int fd = 0; fd < 3; fd++)
                if (src[fd] >= 0 && src[fd] < 3)
                        src[fd] = fcntl(src[fd], F_DUPFD_CLOEXEC, 3);
        if (src[0] < 0 || src[1] < 0 || src[2] < 0 || dup2(src[0], 0) < 0 || dup2(src[1], 1) < 0 ||
            dup2(src[2], 2) < 0) {
                brig_jail_report_error(status, "stdio", -errno, "");
                _exit(127);
        }
        /* The reaper only waits while the command runs: it lends the command its memory until execve
         * (CLONE_VM | CLONE_VFORK, as posix_spawn does), which saves a copy of its page tables per call. */
        command_args a = {plan, prog, status, command_started};
        if (command_started)
                *command_started = 0;
        /* The command sets environ in the memory it shares with us until execve: ours must not keep
         * pointing into the plan freed below. */
        char **env = environ;
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
        environ = env;
        brig_plan_free(plan);
        /* Only the status fd, the channel and the command's stdout and stderr (1, 2), which we close as we
         * report its end: the output reaches EOF when the command and its children are done with it and its
         * end is known, not later, and brigd sees both ends in one wakeup rather than the command's exit and
         * ours apart. */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0)
                (void) dup2(null, 0);
        (void) brig__close_fds_except(status, chan);
        for (bool idle_said = false;;) {
                pid = waitpid(-1, &st, 0);
                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid < 0 && status >= 0) /* the command was our child: not seen */
                        _exit(127);
                if (pid < 0)
                        return idle_said || (reaper_state_kept() && say_idle(chan));
                if (pid != cmd)
                        continue;
                /* Nothing left below us: the spawner hears we are free before brigd hears the command
                 * ended, so a client's next call, sent on this one's answer, finds this reaper. */
                if (chan >= 0 && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD && reaper_state_kept())
                        idle_said = say_idle(chan);
                /* The record first, then the three ends back to back: brigd, woken by the first, finds
                 * them all in the same loop turn (the other order woke it once more per call). */
                brig_jail_report_end(status, command_started && *command_started, st);
                (void) close(1);
                (void) close(2);
                (void) close(status);
                status = -1;
                if (idle_said)
                        return true;
        }
}

/* Between the init and a command: a child subreaper in a session of its own, so that the command's
 * process group is the reaper's (signals reach it by that group) and whatever the command leaves behind,
 * setsid() or not, stays below the reaper, where a kill finds it. Reports how the command ended on the
 * status fd, then lingers, reaping, for as long as anything the command started still runs. Then, with a
 * channel, it tells the spawner so (IDLE) and waits there for the next RUN; a hang-up sends it away. */
static _Noreturn void reaper_main(brig_jailctl_msg m, int *fds, size_t n_fds, const struct sock_fprog *prog,
                                  int chan) {
        int run_fds[BRIG_JAILCTL_MAX_FDS];
        sigset_t all;
        int r;

        (void) sigfillset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                brig_jail_report_error(fds[3], "reaper", -errno, "");
                _exit(127);
        }
        memcpy(run_fds, fds, n_fds * sizeof(int));
        void *page = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        command_started = page == MAP_FAILED ? NULL : page;
        reaper_note_state();
        for (;;) {
                if (!reaper_run(&m, run_fds, prog, chan))
                        _exit(0);
                (void) prctl(PR_SET_NAME, SPARE_NAME, 0, 0, 0);
                do
                        r = brig_jailctl_recv_run(chan, &m, run_plan, &run_plan_len, run_fds, &n_fds);
                while (r == -EINTR);
                /* The spawner checked the message before it passed it on. */
                if (r <= 0 || m.op != BRIG_JAILCTL_RUN ||
                    n_fds != (m.flags & BRIG_JAILCTL_FLAG_STDIN ? 5u : 4u))
                        _exit(0);
                /* Changed while it waited: the command fails rather than run with what another process
                 * chose for it. */
                if (!reaper_state_kept()) {
                        brig_jail_report_error(run_fds[3], "reaper", EPERM,
                                               "changed while idle by a process of the environment");
                        _exit(127);
                }
        }
}

static void spare_dismiss(spawn_child *c) {
        if (c->chan >= 0)
                (void) close(c->chan);
        c->chan = -1;
        c->idle = false;
}

static long ms_since(const struct timespec *since) {
        struct timespec now;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (long) (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Whether pid is stopped or traced (a process of the environment can SIGSTOP an idle reaper): it would
 * not run a command handed to it. */
static bool stopped(pid_t pid) {
        char path[64], buf[512];
        int fd;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return true;
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (len <= 0)
                return true;
        buf[len] = 0;
        const char *end = strrchr(buf, ')');
        return !end || end[1] != ' ' || end[2] == 'T' || end[2] == 't';
}

/* Whether the command before this one came less than SPARE_IDLE_MS ago; notes this one's time. */
static bool calls_come_often(void) {
        static struct timespec last;
        bool often = last.tv_sec != 0 && ms_since(&last) < SPARE_IDLE_MS;

        (void) clock_gettime(CLOCK_MONOTONIC, &last);
        return often;
}

/* A reaper's word on its channel: IDLE or a hang-up. */
static void spare_heard(spawn_child *c) {
        brig_jailctl_msg m;
        int fds[BRIG_JAILCTL_MAX_FDS];
        size_t n_fds = 0;
        int r = brig_jailctl_recv(c->chan, &m, fds, &n_fds);

        for (size_t i = 0; r > 0 && i < n_fds; i++)
                (void) close(fds[i]);
        if (r == -EAGAIN || r == -EINTR)
                return;
        if (r <= 0 || m.op != BRIG_JAILCTL_IDLE || n_fds) {
                spare_dismiss(c);
                return;
        }
        c->idle = true;
        /* It may have been idle for long already, but a look that read it now must not send it away at
         * once: it gets SPARE_IDLE_MS from here. */
        (void) clock_gettime(CLOCK_MONOTONIC, &c->since);
}

/* Reads the IDLEs (or hang-ups) reapers not known idle sent since the last look, with one poll() of their
 * channels that does not wait. A reaper says IDLE before its command's end reaches brigd, so a command sent
 * on the previous one's answer finds it here. */
static void spare_collect(spawn_child *children, size_t n_children) {
        struct pollfd p[SPARE_CHANNELS];
        spawn_child *of[SPARE_CHANNELS];
        size_t n_p = 0;

        for (size_t i = 0; i < n_children && n_p < ELEMENTSOF(p); i++)
                if (children[i].chan >= 0 && !children[i].idle) {
                        of[n_p] = &children[i];
                        p[n_p++] = (struct pollfd){.fd = children[i].chan, .events = POLLIN};
                }
        if (n_p == 0 || poll(p, n_p, 0) <= 0)
                return;
        for (size_t i = 0; i < n_p; i++)
                if (p[i].revents)
                        spare_heard(of[i]);
}

/* brigd's listening control socket (brig__spawner_main()), or -1: no reaper keeps it. */
static int control_listener = -1;

/* Forks one command's reaper, or hands the command to an idle one. fds: plan, stdout, stderr, status[,
 * stdin]. Takes ownership of all of them. */
static void spawn_run(int control, const brig_jailctl_msg *m, int *fds, size_t n_fds,
                      const struct sock_fprog *prog, spawn_child *children, size_t *n_children) {
        bool has_stdin = m->flags & BRIG_JAILCTL_FLAG_STDIN;
        int status = n_fds >= 4 ? fds[3] : -1, pair[2] = {-1, -1};
        bool often = calls_come_often();
        size_t n_chans = 0;
        pid_t pid;

        if (n_fds != (has_stdin ? 5u : 4u)) {
                if (status >= 0)
                        brig_jail_report_error(status, "spawn", EBADMSG, "wrong descriptors");
                goto out;
        }
        spare_collect(children, *n_children);
        for (size_t i = 0; i < *n_children; i++) {
                spawn_child *c = &children[i];
                if (c->idle && !stopped(c->pid) &&
                    brig_jailctl_forward_run(c->chan, m, run_plan, run_plan_len, fds, n_fds) == 0) {
                        c->idle = false;
                        c->id = m->id;
                        (void) clock_gettime(CLOCK_MONOTONIC, &c->since);
                        goto out;
                }
                /* Stopped or gone while idle (by a process of the environment): the command goes to a
                 * new reaper, and a stopped one goes for good. */
                if (c->idle) {
                        (void) kill(c->pid, SIGKILL);
                        spare_dismiss(c);
                }
                n_chans += c->chan >= 0;
        }
        if (*n_children >= SPAWN_MAX_CHILDREN) {
                brig_jail_report_error(status, "spawn", EAGAIN,
                                       "too many commands running in this environment");
                goto out;
        }
        /* Without a channel (a lone call, none free, or socketpair() refused by the policy) the reaper
         * exits after its command, as every reaper once did. */
        if (often && n_chans < SPARE_CHANNELS &&
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                pair[0] = pair[1] = -1;
        pid = fork();
        if (pid < 0) {
                brig_jail_report_error(status, "fork", -errno, "command");
                goto out;
        }
        if (pid == 0) {
                /* Nothing of the spawner's: a channel held here would keep its reaper from seeing it close.
                 */
                (void) close(control);
                if (control_listener >= 0)
                        (void) close(control_listener);
                for (size_t i = 0; i < *n_children; i++)
                        if (children[i].chan >= 0)
                                (void) close(children[i].chan);
                if (pair[0] >= 0)
                        (void) close(pair[0]);
                reaper_main(*m, fds, n_fds, prog, pair[1]);
        }
        children[*n_children] = (spawn_child){.pid = pid, .id = m->id, .chan = pair[0]};
        (void) clock_gettime(CLOCK_MONOTONIC, &children[(*n_children)++].since);
        pair[0] = -1;
out:
        for (size_t i = 0; i < 2; i++)
                if (pair[i] >= 0)
                        (void) close(pair[i]);
        for (size_t i = 0; i < n_fds; i++)
                if (fds[i] >= 0) /* -1: the plan came inline */
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
                                spare_dismiss(&children[i]);
                                children[i] = children[--(*n_children)];
                                break;
                        }
}

/* The look at the reapers with a channel that is due SPARE_IDLE_MS after each was handed its command or its
 * IDLE was read: sends away those still idle or still busy; one whose IDLE this look reads is looked at
 * again SPARE_IDLE_MS later (spare_heard()). Returns the ppoll() timeout until the next look (-1: no reaper
 * has a channel). */
static int spare_expire(spawn_child *children, size_t n_children) {
        long next = -1;
        bool due = false;

        for (size_t i = 0; i < n_children; i++)
                due = due || (children[i].chan >= 0 && ms_since(&children[i].since) >= SPARE_IDLE_MS);
        if (due)
                spare_collect(children, n_children);
        for (size_t i = 0; i < n_children; i++) {
                spawn_child *c = &children[i];
                if (c->chan < 0)
                        continue;
                long left = SPARE_IDLE_MS - ms_since(&c->since);
                if (left <= 0) {
                        spare_dismiss(c);
                        continue;
                }
                if (next < 0 || left < next)
                        next = left;
        }
        return (int) next;
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
        while ((kill_pass(reaper, &complete) > 0 || !complete) && ms_since(&start) < KILL_TIMEOUT_MS)
                (void) usleep(1000);
        (void) kill(reaper, SIGKILL);
}

/* Whether the filter lets us accept4() brigd's next connection on listener (a policy may deny the call).
 * Asked of the program rather than of the kernel: a denial that is audited would wait for brigd, which
 * reads the seccomp listener only once we said "ready". */
static bool may_accept(const struct sock_fprog *prog, int listener) {
        struct seccomp_data d = {.nr = __NR_accept4, .arch = seccomp_arch_native()};
        uint32_t action;

        if (!prog || !prog->filter)
                return true;
        d.args[0] = (uint64_t) listener;
        d.args[3] = SOCK_CLOEXEC;
        return brig_seccomp_eval(prog, &d, &action) == 0 &&
               (action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW;
}

/* A new connection from brigd on listener after it stepped away: the new control socket, or -1 when
 * there is none yet (a connection that went before we took it). Exits when the listener fails. */
static int accept_brigd(int listener) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                _exit(1);
        return fd;
}

/* The environment's pid 1 once it is built: forks the commands brigd sends over the control socket, tells
 * each one's status fd how it ended, reaps everything reparented to it, and exits (taking the whole
 * environment down) when brigd hangs up. Runs as the jail user with no capabilities and no_new_privs. */
_Noreturn void brig__spawner_main(int status, int control, int listener, const struct sock_fprog *prog) {
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
        /* Without accept4() a hang-up must end the environment, as brigd then knows (no RECONNECT). */
        if (listener >= 0 && !(may_accept(prog, listener) && brig_jailctl_send_reconnect(control) == 0)) {
                (void) close(listener);
                listener = -1;
        }
        control_listener = listener;
        brig_jail_report(status, "ready");
        (void) close(status);
        for (int fd = 0; fd < 3; fd++)
                if (fd != control && fd != listener)
                        (void) close(fd);
        for (;;) {
                struct pollfd p[1] = {{.fd = control, .events = POLLIN}};
                int wait_ms = spare_expire(children, n_children);
                struct timespec ts = {wait_ms / 1000, (long) (wait_ms % 1000) * 1000000};

                /* Stepped away (control -1): brigd's next connection comes on the listener. */
                p[0].fd = control >= 0 ? control : listener;
                if (ppoll(p, 1, wait_ms < 0 ? NULL : &ts, &wait_mask) < 0) {
                        if (errno == EINTR) {
                                spawn_reap(children, &n_children);
                                continue;
                        }
                        _exit(1);
                }
                if (control < 0 && p[0].revents) {
                        control = accept_brigd(listener);
                } else if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        brig_jailctl_msg m;
                        int fds[BRIG_JAILCTL_MAX_FDS];
                        size_t n_fds = 0;
                        int r = brig_jailctl_recv_run(control, &m, run_plan, &run_plan_len, fds, &n_fds);
                        if (r == 0 && listener >= 0) {
                                /* brigd stepped away (its death kills our helper, and so us): every
                                 * message it sent before came first. */
                                (void) close(control);
                                control = -1;
                                continue;
                        }
                        if (r == 0 || (r < 0 && r != -EBADMSG && r != -EAGAIN))
                                _exit(0); /* brigd is gone: so is the environment */
                        if (r < 0)
                                continue;
                        if (m.op == BRIG_JAILCTL_RUN)
                                spawn_run(control, &m, fds, n_fds, prog, children, &n_children);
                        else {
                                for (size_t i = 0; i < n_fds; i++)
                                        (void) close(fds[i]);
                                /* A reaper that said IDLE has no command left to signal. */
                                if (m.op == BRIG_JAILCTL_KILL)
                                        spare_collect(children, n_children);
                                if (m.op == BRIG_JAILCTL_KILL && m.signal > 0 && m.signal < 65)
                                        for (size_t i = 0; i < n_children; i++) {
                                                if (children[i].id != m.id || children[i].idle)
                                                        continue;
                                                /* Other signals go to the command's process group (the
                                                 * reaper, in it, blocks them all). */
                                                if (m.signal == SIGKILL) {
                                                        kill_tree(children[i].pid);
                                                        /* An IDLE it sent before dying must not make it
                                                         * take the next command. */
                                                        spare_dismiss(&children[i]);
                                                } else
                                                        (void) kill(-children[i].pid, m.signal);
                                        }
                        }
                        /* A command may have ended before its pid was recorded. */
                        spawn_reap(children, &n_children);
                }
        }
}
