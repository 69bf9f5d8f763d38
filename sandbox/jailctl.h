/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>

#include "common/error.h"
#include "sandbox/plan.h"

/* Jail control: the one protocol between brigd (or brig) and the jails brig-jail builds. Both sides include
 * this header; no fd number, message or status string is spelled anywhere else.
 *
 * Theory of operation. Processes:
 *   brigd     the threaded daemon. Never forks: starts the helper with posix_spawn() (a vfork-like clone
 *             and an exec, worker/env_holder.c) for each environment (a HOLD plan), reaps it by pid
 *             (worker/child_watch.h), and keeps the environment's control socket and status pipe; runs each
 * command by sending RUN to the environment's spawner. brig      the CLI (`brig run`, `brig policy test`):
 * single-threaded, forks the helper with a RUN plan and waits for it. Its child runs the helper's code
 * without executing brig-jail (brig_jail_start_forked(), sandbox/jail.h): the same descriptors, its
 * environment wiped, every other descriptor closed, and the plan as it is in memory rather than on fd 3.
 *   helper    brig-jail (sandbox/jail_main.c, sandbox/jail.c; sandbox/jail_start.c from its descriptors
 *             on). Reads the plan and the seccomp program,
 *             clones the init with every namespace flag but the cgroup one, writes its uid/gid maps, says
 *             "holder PID" (HOLD), releases the init over a private sync pipe, moves it into the cgroups it
 *             is given (the init then takes its cgroup namespace, rooted there) and waits for it,
 *             keeping no descriptor meanwhile (its exit, which brigd sees, is the init's). Dies with its
 *             parent (PR_SET_PDEATHSIG), and the init with it: killing the helper kills the jail.
 *   init      pid 1 of the jail's pid namespace (sandbox/jail.c). Builds the root, the hostname, loopback,
 *             waits for its cgroups and takes its cgroup namespace, drops capabilities, sets no_new_privs,
 *             applies Landlock. RUN: forks the command and reports how it ended. HOLD: sends PROXY (proxy
 *             mode), loads the seccomp filter (sending LISTENER), says "ready" and becomes the spawner.
 *   spawner   the init of a built environment (sandbox/spawner.c): hands each RUN to an idle reaper or
 *             forks a new one, signals on KILL, reaps orphans, and exits (ending the environment) when
 *             brigd hangs up the control socket, or, given a listening one, waits for brigd's next
 *             connection. Its only descriptors are the control socket (listening, and brigd's connection
 *             while it has one) and, while they run and for 3 s after, the channels of up to 16 reapers:
 *             an idle environment costs brigd and the jail as few descriptors as possible (brigd: the
 *             seccomp listener, and a cgroup's while calls run).
 *   reaper    one per running command (sandbox/spawner.c): a child subreaper in a session of its own,
 *             named brig_jailctl_reaper_name(id) so that a seccomp denial or a connection finds its call
 *             (worker/culprit.c).
 *             Starts the command, reports "exit N"/"signal N" for it (closing its copies of the
 *             command's stdout and stderr right after: brigd sees both ends at once) and lingers while
 *             its children run. Then, if it has a channel (a SOCK_SEQPACKET socketpair with the spawner),
 *             it says IDLE there and takes the next RUN the spawner passes on; a hang-up ends it.
 *   command   what the agent asked for: rlimits, every fd but 0-2 (and status) closed, cwd, "started"
 *             (in an environment: in memory shared with its reaper, which reports it), the seccomp
 *             filter (one-shot: its LISTENER sent to brig), execve().
 *
 * Channels (helper's fds are the BRIG_JAILCTL_FD_* below, named on its command line):
 *   plan      fd 3, brigd -> helper: the plan as JSON in a sealed memfd (brig_jailctl_plan_memfd()).
 *   status    fd 4, helper, init and command -> brigd/brig: one-line records (brig_jail_status below);
 *             each RUN has a status pipe of its own, written by the spawner, reaper and command. HOLD: it
 *             ends (EOF) after "ready", as the helper and the spawner close it.
 *   seccomp   fd 5, brigd -> helper: the compiled filter in a sealed memfd (sandbox/seccomp.h); brig
 *             sends it later instead (SECCOMP below).
 *   control   fd 6, a SOCK_SEQPACKET socketpair, one message per request with its fds (SCM_RIGHTS):
 *               brigd -> spawner  RUN id (fds: ENTER plan memfd, stdout, stderr, status[, stdin]); a
 *                                 plan of at most BRIG_JAILCTL_PLAN_INLINE_MAX bytes comes as JSON after
 *                                 the message instead (FLAG_PLAN), without its memfd,
 *                                 KILL id sig (to the command's process group, SIGKILL: its whole tree);
 *               init -> brigd     RECONNECT (no fds) before "ready" when the spawner keeps accepting
 *                                 on a listening control socket (below);
 *               init -> brigd     PROXY (fds: listening TCP socket on 127.0.0.1:<plan's proxy_port> in the
 *                                 jail's network namespace, and a NETLINK_SOCK_DIAG socket of it when the
 *                                 kernel has one) before LISTENER; LISTENER (fd: the seccomp listener,
 *                                 when the filter has audited denials) before "ready";
 *               command -> brig   LISTENER (one-shot: brig answers the denials itself), after "started",
 *                                 before execve();
 *               brig -> init      SECCOMP (fd: the compiled filter) when brig started the helper without
 *                                 one (one-shot): brig compiles it while the jail is built, and the init
 *                                 forks no command before it has it; a hang-up instead stops the jail.
 *                                 Before it, CGROUPS (fds: v1 `tasks` files) when brig started the helper
 *                                 without cgroups on v1 (one-shot): brig makes the groups and sets their
 *                                 limits while the jail is built, and the init joins them (as the first
 *                                 thing it does otherwise) before it forks anything or takes its cgroup
 *                                 namespace; a hang-up instead stops the jail.
 *             A reaper's channel carries RUN (spawner -> reaper, as received) and IDLE (reaper -> spawner:
 *             its command and everything below it are gone; sent before its "exit N" when nothing else
 *             ran below it, so a call sent on the previous one's answer finds the reaper free).
 *             A hang-up by brigd ends the environment (the spawner exits, and with it the namespace),
 *             unless brigd gave a listening socket instead (on-demand connections, worker/env_control.h):
 *             brigd binds it in its private control directory and connects before starting the helper;
 *             the init accepts that connection and keeps the listening socket (no reaper or command gets
 *             it). When its filter lets it accept4() later it says RECONNECT, and then a hang-up only
 *             means brigd stepped away: the spawner accepts brigd's next connection, and brigd's death
 *             still ends the jail through PR_SET_PDEATHSIG (helper, then init). An idle environment then
 *             costs one descriptor in the jail (the listening socket) and one in brigd (the seccomp
 *             listener, when its policy audits denials).
 *             brigd's end is a brig_jailctl object, shared by the environment and its running commands.
 *   cgroup    fds 7.., brigd/brig -> helper: cgroup.procs files the helper moves the init into, while
 *             the init builds the root and before it forks anything (sandbox/jail.c says why). brig run
 *             on v1 gives none here and sends the `tasks` files later instead (CGROUPS above).
 *   limits    fd 11 (one-shot only), brig -> helper: a socket on which brig sends one byte once it has set
 *             the cgroups' limits. brig writes them after it starts the helper, while the helper starts and
 *             the init builds the root (a v1 cpu.cfs_quota_us write walks every cpu cgroup of the host);
 *             the helper releases the init to fork the command only after that byte, and stops the jail
 *             when the socket closes without it.
 * Writes of status lines are below PIPE_BUF, so lines of different processes never interleave. */

/* --- the helper's command line ------------------------------------------------------------------- */

enum {
        BRIG_JAILCTL_FD_PLAN = 3,
        BRIG_JAILCTL_FD_STATUS = 4,
        BRIG_JAILCTL_FD_SECCOMP = 5,
        BRIG_JAILCTL_FD_CONTROL = 6,
        BRIG_JAILCTL_FD_CGROUP = 7,  /* the first of up to BRIG_JAILCTL_MAX_CGROUP_FDS */
        BRIG_JAILCTL_FD_LIMITS = 11, /* after the last cgroup fd */
};

#define BRIG_JAILCTL_MAX_CGROUP_FDS 4
#define BRIG_JAILCTL_OPT_PLAN "plan-fd"
#define BRIG_JAILCTL_OPT_STATUS "status-fd"
#define BRIG_JAILCTL_OPT_SECCOMP "seccomp-fd"
#define BRIG_JAILCTL_OPT_CONTROL "control-fd"
#define BRIG_JAILCTL_OPT_CGROUP "cgroup-fd"
#define BRIG_JAILCTL_OPT_CGROUP_SELF "cgroup-self-fd"
#define BRIG_JAILCTL_OPT_LIMITS "limits-fd"
#define BRIG_JAILCTL_ARGV_MAX (12 + 2 * BRIG_JAILCTL_MAX_CGROUP_FDS)

/* Fills argv (NULL-terminated) to run helper with the plan, status, seccomp and control fds at their
 * BRIG_JAILCTL_FD_* numbers and n_cgroup_fds (at most BRIG_JAILCTL_MAX_CGROUP_FDS) cgroup fds from
 * BRIG_JAILCTL_FD_CGROUP on, which the init writes "0" to itself when cgroup_self
 * (brig_cgroup_joins_self(), sandbox/cgroup.h) and the helper writes the init's pid to otherwise, and
 * with limits_gate the limits pipe at BRIG_JAILCTL_FD_LIMITS. The strings are static. Async-signal-safe. */
void brig_jailctl_helper_argv(const char *helper, size_t n_cgroup_fds, bool cgroup_self, bool limits_gate,
                              char *argv[BRIG_JAILCTL_ARGV_MAX]);

/* The plan as JSON in a new memfd, positioned at 0 and sealed against change, for the helper (fd 3) or a
 * RUN message. */
int brig_jailctl_plan_memfd(const brig_plan *plan, int *ret_fd, brig_error *err);
/* The same for a plan already printed (json[0..len)). */
int brig_jailctl_plan_memfd_json(const char *json, size_t len, int *ret_fd, brig_error *err);

/* Reads a plan from a memfd such as brig_jailctl_plan_memfd() makes (from offset 0, at most
 * BRIG_JAILCTL_PLAN_MAX bytes). For the helper and the spawner; no allocation survives a failure. */
#define BRIG_JAILCTL_PLAN_MAX (16 * 1024 * 1024)
int brig_jailctl_plan_read(int fd, brig_plan **ret, brig_error *err);

/* --- control messages ---------------------------------------------------------------------------- */

enum {
        BRIG_JAILCTL_RUN = 1,
        BRIG_JAILCTL_KILL = 2,
        BRIG_JAILCTL_LISTENER = 3,
        BRIG_JAILCTL_PROXY = 4,
        BRIG_JAILCTL_IDLE = 5,
        BRIG_JAILCTL_SECCOMP = 6,
        BRIG_JAILCTL_CGROUPS = 7,
        BRIG_JAILCTL_RECONNECT = 8,
};

enum {
        BRIG_JAILCTL_FLAG_STDIN = 1 << 0,
        /* RUN: the plan's JSON follows the message, and no plan memfd comes with it. */
        BRIG_JAILCTL_FLAG_PLAN = 1 << 1,
};

#define BRIG_JAILCTL_MAX_FDS 5
/* The longest plan a RUN carries inline (FLAG_PLAN): a warm call's plan is well below a page, and a memfd
 * costs brigd five system calls (create, write, seek, seal, close) on every call. Longer ones (many
 * environment variables) go in a memfd. */
#define BRIG_JAILCTL_PLAN_INLINE_MAX (16 * 1024)

typedef struct brig_jailctl_msg {
        uint32_t op;
        uint32_t flags;
        uint64_t id;
        int32_t signal;
        uint32_t reserved;
} brig_jailctl_msg;

/* Sends one message with n_fds descriptors. Returns 0 or -errno (-EAGAIN when the init's queue is full).
 * Async-signal-safe; any thread. */
int brig_jailctl_send(int control, const brig_jailctl_msg *m, const int *fds, size_t n_fds);

/* Receives one message; descriptors arrive close-on-exec in fds (at most BRIG_JAILCTL_MAX_FDS), their
 * number in *ret_n_fds. Returns 1, 0 on hang-up, or -errno. A message of the wrong size, or with more
 * descriptors than that, is -EBADMSG; one whose descriptors we had no room to receive (out of fds) is
 * -EMFILE. Either way its descriptors are closed. */
int brig_jailctl_recv(int control, brig_jailctl_msg *m, int *fds, size_t *ret_n_fds);

/* A RUN as the spawner and a reaper take it, inline plan or not: fds always plan, out, err, status[, in],
 * with plan -1 when the plan's JSON came inline, in plan[0..*ret_plan_len) (not NUL-terminated). Other
 * messages as brig_jailctl_recv() (*ret_plan_len 0). -EBADMSG, its descriptors closed, for data after a
 * message that is not a RUN with FLAG_PLAN, or none after one. */
int brig_jailctl_recv_run(int control, brig_jailctl_msg *m, char plan[BRIG_JAILCTL_PLAN_INLINE_MAX],
                          size_t *ret_plan_len, int fds[BRIG_JAILCTL_MAX_FDS], size_t *ret_n_fds);
/* Passes on a RUN as brig_jailctl_recv_run() took it (the spawner to a reaper). Async-signal-safe. */
int brig_jailctl_forward_run(int control, const brig_jailctl_msg *m, const char *plan, size_t plan_len,
                             const int *fds, size_t n_fds);

/* LISTENER and PROXY, sent by the jail (diag: -1 for none). Async-signal-safe. */
int brig_jailctl_send_listener(int control, int listener);
int brig_jailctl_send_proxy(int control, int listen_fd, int diag_fd);
/* RECONNECT, sent by an environment's init whose control is a listening socket it keeps accepting on:
 * brigd may then close an idle environment's connection and connect again. Async-signal-safe. */
int brig_jailctl_send_reconnect(int control);
/* An environment's init (HOLD) given a listening control socket (brigd's on-demand connections): accepts
 * the first connection, which brigd made before starting the helper, into *control and returns the
 * listening socket in *ret_listener; given a connected socket (a socketpair: brig, tests), leaves *control
 * alone and sets *ret_listener to -1. 0 or -errno. Async-signal-safe. */
int brig_jailctl_accept_first(int *control, int *ret_listener);
/* SECCOMP, sent by brig to a one-shot init started without its filter (fd: the sealed memfd). */
int brig_jailctl_send_seccomp(int control, int filter);
/* The filter from the SECCOMP message the init waits for on control: the program in *ret (caller frees
 * ret->filter), every descriptor received closed. -ECANCELED when control hangs up first, -EBADMSG for any
 * other message. */
int brig_jailctl_recv_seccomp(int control, struct sock_fprog *ret, brig_error *err);
/* CGROUPS, sent by brig to a one-shot init told to wait for it (fds: the v1 `tasks` files of the run's
 * groups, made while the jail was built). */
int brig_jailctl_send_cgroups(int control, const int *fds, size_t n);
/* The files of the CGROUPS message the init waits for on control, in fds (*ret_n of them, at least one;
 * the caller closes them). -ECANCELED when control hangs up first, -EBADMSG for any other message (its
 * descriptors closed). */
int brig_jailctl_recv_cgroups(int control, int fds[BRIG_JAILCTL_MAX_FDS], size_t *ret_n, brig_error *err);

/* brigd's end of an environment's control socket, shared by the environment and every command it runs:
 * each holder has a reference, and the socket is closed on the last unref. brig_jailctl_hangup() closes it
 * at once (the environment stops: its spawner exits), after which sends fail with -ESHUTDOWN instead of
 * reaching whatever reuses the number. Loop thread only (the count is not atomic). */
typedef struct brig_jailctl brig_jailctl;

/* Takes fd (also on failure). */
int brig_jailctl_new(int fd, brig_jailctl **ret);
brig_jailctl *brig_jailctl_ref(brig_jailctl *c);
brig_jailctl *brig_jailctl_unref(brig_jailctl *c); /* returns NULL; accepts NULL */
void brig_jailctl_unrefp(brig_jailctl **c);
void brig_jailctl_hangup(brig_jailctl *c); /* accepts NULL */
/* Whether a command holds a reference besides the environment's (accepts NULL). */
bool brig_jailctl_shared(const brig_jailctl *c);
bool brig_jailctl_is_open(const brig_jailctl *c);

/* RUN: the plan, printed (plan_json[0..plan_len)), inline when plan_fd is -1, else in plan_fd (a memfd as
 * brig_jailctl_plan_memfd_json() makes); fds out, err, status and in (-1: none, the command's stdin is
 * /dev/null). -ESHUTDOWN after a hang-up; -EMSGSIZE for an inline plan over BRIG_JAILCTL_PLAN_INLINE_MAX. */
int brig_jailctl_run(brig_jailctl *c, uint64_t id, const char *plan_json, size_t plan_len, int plan_fd,
                     int out, int err, int status, int in);
/* KILL: sig to command id's process group (SIGKILL: its whole tree). -ESHUTDOWN after a hang-up. */
int brig_jailctl_kill(brig_jailctl *c, uint64_t id, int sig);
/* The next message from the init, as brig_jailctl_recv(); -ESHUTDOWN after a hang-up. */
int brig_jailctl_recv_from(brig_jailctl *c, brig_jailctl_msg *m, int *fds, size_t *ret_n_fds);

/* --- reapers ------------------------------------------------------------------------------------- */

/* The comm of command id's reaper: "brig-r<id in hex>". */
#define BRIG_JAILCTL_REAPER_NAME_MAX 16
void brig_jailctl_reaper_name(uint64_t id, char buf[BRIG_JAILCTL_REAPER_NAME_MAX]);
/* The id in a /proc/PID/comm (without newline) named so; -EINVAL for any other name, or one of 15 bytes
 * (the kernel may have cut it short). */
int brig_jailctl_reaper_parse(const char *comm, uint64_t *ret_id);

/* --- status lines -------------------------------------------------------------------------------- *
 *   "error STAGE ERRNO DETAIL\n"  a layer could not be applied (or execve failed); nothing ran
 *   "started\n"                   the command is about to execve; an environment's reaper says it with
 *                                 the command's end, in the same write
 *   "exit CODE\n" | "signal SIGNO\n"  how the command ended
 *   "holder PID\n"                HOLD: host pid of the environment's init, to enter it later; written
 *                                 before the init is released, so before its "ready" (readers accept
 *                                 both orders all the same)
 *   "ready\n"                     HOLD: the environment is built
 *   "layer NAME VALUE DETAIL\n"    an optional layer's fate: "layer landlock 7 applied" (VALUE: the ABI),
 *                                 "layer landlock 0 skipped: ..." or "layer landlock 0 off by policy" */

#define BRIG_JAIL_STATUS_LINE_MAX 512

typedef enum brig_jail_outcome {
        BRIG_JAIL_ERROR,
        BRIG_JAIL_STARTED,
        BRIG_JAIL_EXITED,
        BRIG_JAIL_SIGNALED,
        BRIG_JAIL_READY,
        BRIG_JAIL_HOLDER,
        BRIG_JAIL_LAYER,
        _BRIG_JAIL_OUTCOME_MAX,
        _BRIG_JAIL_OUTCOME_INVALID = -22,
} brig_jail_outcome;

typedef struct brig_jail_status {
        brig_jail_outcome outcome;
        int value;        /* exit code, signal number, positive errno or pid */
        char stage[32];   /* ERROR: the failed stage; LAYER: the layer's name */
        char detail[200]; /* ERROR, LAYER */
} brig_jail_status;

/* Writes one record (newlines in it become spaces) with one write() of a stack buffer: used by the helper,
 * the init and, between fork and execve, the command. */
void brig_jail_report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void brig_jail_report_error(int fd, const char *stage, int r, const char *detail);
/* "exit N" or "signal N" for a waitpid() status, after "started" when started (a reaper's command said so
 * in memory rather than on fd), in one write. */
void brig_jail_report_end(int fd, bool started, int wstatus);

/* Parses one status line (without the newline). Pure. */
int brig_jail_status_parse(const char *line, size_t len, brig_jail_status *ret);

/* Turns an ERROR status into a client error: "sandbox: mount '/usr': permission denied". */
int brig_jail_status_to_error(const brig_jail_status *st, brig_error *err);

/* Splits a status stream into records. Read into brig_jail_status_reader_space(), then hand the number of
 * bytes read to brig_jail_status_reader_feed(), which calls cb with every complete line that parses. A line
 * longer than BRIG_JAIL_STATUS_LINE_MAX is dropped whole. */
typedef struct brig_jail_status_reader {
        char line[BRIG_JAIL_STATUS_LINE_MAX];
        size_t len;
        bool overlong; /* dropping the rest of a line that did not fit */
} brig_jail_status_reader;

typedef void (*brig_jail_status_cb)(const brig_jail_status *st, void *userdata);

void brig_jail_status_reader_space(brig_jail_status_reader *r, char **ret_buf, size_t *ret_len);
void brig_jail_status_reader_feed(brig_jail_status_reader *r, size_t n, brig_jail_status_cb cb,
                                  void *userdata);
