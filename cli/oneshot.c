/* SPDX-License-Identifier: MIT */
/* `brig run`: a one-shot jail with no daemon, for trying a policy or a tool locally. The CLI is
 * single-threaded, so it may fork: a child of ours builds the jail with brig-jail's own code
 * (brig_jail_start_forked(), sandbox/jail.h) rather than executing it, as brigd must. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/wsdiff.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/paths.h"
#include "common/signal_name.h"
#include "sandbox/cgroup.h"
#include "sandbox/jail.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_notify.h"

static void run_help(void) {
        printf("Usage: brig run [--policy FILE] [--workspace DIR] [--cwd DIR] [--timeout MS]\n"
               "                [--ro-bind HOST[:JAIL]]... [--bind HOST[:JAIL]]... -- COMMAND [ARG]...\n"
               "\n"
               "Runs COMMAND once in a jail built from the policy, without a daemon. The workspace (a "
               "fresh\n"
               "temporary directory, removed afterwards, unless --workspace is given) is mounted read-write "
               "at\n"
               "/workspace and is the working directory. stdin/stdout/stderr are this terminal's. Exits "
               "with\n"
               "the command's code (128+N for signal N, 124 on timeout, 125 if the jail could not be "
               "built).\n"
               "--policy defaults to default.json among the shipped policies: ./policies when it exists,\n"
               "else the installed ones (<bindir>/../share/brig/policies, else " BRIG_POLICYDIR ").\n"
               "As root, the jail runs as host uid %d: a --workspace must be writable by it.\n"
               "--ro-bind and --bind add a host path (read-only or writable) at JAIL, or at the same\n"
               "path, to the policy's binds, checked as the policy's own are; repeat them as needed.\n"
               "Syscalls the policy denies with audit (seccomp.audit, on by default) fail with its errno\n"
               "and are printed as `brig: denied NAME(ARGS)` on stderr (the first 50, then a count).\n"
               "Where brig can create cgroups (root, or a delegated cgroup v2 subtree), the policy's "
               "memory,\n"
               "processes and cpus limits also apply to the whole run, as under brigd; a policy with\n"
               "limits.cgroups \"required\" refuses to run without them (exit 125).\n",
               BRIG_JAIL_HOST_ID_DEFAULT);
}

/* Where one-shot denials and limits go: messages on stderr (`brig run`) or JSON lines on stdout (`brig
 * policy test`). */
typedef struct reporter {
        bool json;
        int errno_ret;
        unsigned shown;
        uint64_t hidden;
} reporter;

#define SHOWN_MAX_TEXT 50
#define SHOWN_MAX_JSON 1000

static void print_event(cJSON *ev) {
        _cleanup_free_ char *line = ev ? cJSON_PrintUnformatted(ev) : NULL;
        if (line)
                printf("%s\n", line);
        cJSON_Delete(ev);
}

static void report_denial(reporter *rep, const brig_seccomp_denial *d) {
        if (rep->shown >= (rep->json ? SHOWN_MAX_JSON : SHOWN_MAX_TEXT)) {
                rep->hidden++;
                return;
        }
        rep->shown++;
        if (rep->json) {
                cJSON *ev = cJSON_CreateObject();
                if (ev && (!cJSON_AddStringToObject(ev, "type", "syscall_denied") ||
                           brig_seccomp_denial_to_json(d, ev) < 0)) {
                        cJSON_Delete(ev);
                        ev = NULL;
                }
                print_event(ev);
        } else {
                char call[512];
                fprintf(stderr, "brig: denied %s\n", brig_seccomp_denial_format(d, call, sizeof(call)));
        }
}

static void report_hidden(reporter *rep) {
        if (rep->hidden == 0)
                return;
        if (rep->json) {
                cJSON *ev = cJSON_CreateObject();
                if (ev) {
                        cJSON_AddStringToObject(ev, "type", "syscall_denied_suppressed");
                        cJSON_AddNumberToObject(ev, "count", (double) rep->hidden);
                }
                print_event(ev);
        } else
                fprintf(stderr, "brig: %llu more denied syscalls not shown\n",
                        (unsigned long long) rep->hidden);
        rep->hidden = 0;
}

/* Answers what waits on the jail's seccomp listener (at most a batch, so the status pipe is not starved).
 * Returns false once the listener is done with. */
static bool serve_listener(int listener, reporter *rep) {
        for (int i = 0; i < 64; i++) {
                brig_seccomp_denial d;
                int r = brig_seccomp_notify_pending(listener);
                if (r == 0)
                        return true;
                if (r < 0)
                        return false;
                r = brig_seccomp_notify_recv(listener, &d);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return false;
                /* Never SECCOMP_USER_NOTIF_FLAG_CONTINUE: the answer is always the policy's errno. */
                (void) brig_seccomp_notify_deny(listener, d.id, rep->errno_ret);
                report_denial(rep, &d);
        }
        return true;
}

/* Takes the listener the command sends on sock before it executes (sandbox/jailctl.h, LISTENER). */
static int take_listener(int sock) {
        brig_jailctl_msg m;
        int fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0;

        if (brig_jailctl_recv(sock, &m, fds, &n) <= 0)
                return -EPIPE;
        if (m.op != BRIG_JAILCTL_LISTENER || n != 1) {
                for (size_t i = 0; i < n; i++)
                        (void) close(fds[i]);
                return -EBADMSG;
        }
        return fds[0];
}

static const char *limit_of_signal(int sig) {
        switch (sig) {
        case SIGXCPU:
                return "cpu_time";
        case SIGXFSZ:
                return "file_size";
        default:
                return NULL;
        }
}

/* What the status pipe said: how the command ended, and the first error. */
typedef struct run_status {
        brig_jail_status final, error;
        bool have_error;
} run_status;

static void run_status_cb(const brig_jail_status *st, void *userdata) {
        run_status *res = userdata;

        if (st->outcome == BRIG_JAIL_ERROR && !res->have_error) {
                res->error = *st;
                res->have_error = true;
        } else if (st->outcome == BRIG_JAIL_EXITED || st->outcome == BRIG_JAIL_SIGNALED)
                res->final = *st;
}

/* The run's cgroups, as brigd gives an environment: a group "brig/run-<pid>" under our own cgroup,
 * its limits set by run_jail() while the helper starts. First the hierarchy: returns 0 with root's mode
 * NONE for rlimits only (where the policy allows it), or -1 after saying why not (fail closed:
 * limits.cgroups "required" and no usable hierarchy). */
static int run_cgroup_root(const brig_policy *policy, brig_cgroup_root *root) {
        *root = (brig_cgroup_root){.mode = BRIG_CGROUP_NONE};
        if (policy->limits.cgroups == BRIG_CGROUP_OFF)
                return 0;
        brig_cgroup_detect_shared(root);
        if (root->mode == BRIG_CGROUP_NONE && policy->limits.cgroups == BRIG_CGROUP_REQUIRED) {
                fprintf(stderr, "brig: the policy requires cgroup limits, but %s\n", root->why);
                return -1;
        }
        return 0;
}

/* Then the group and the files that move the jail's init into it. Returns how many (0 without a
 * hierarchy), or -1 after saying why not. */
static int run_cgroup_open(const brig_cgroup_root *root, brig_cgroup *cg, int fds[_BRIG_CG_MAX]) {
        brig_error err = BRIG_ERROR_INIT;
        char name[32];
        int n;

        if (root->mode == BRIG_CGROUP_NONE)
                return 0;
        (void) snprintf(name, sizeof(name), "run-%d", (int) getpid());
        if (brig_cgroup_create(root, name, NULL, cg, &err) < 0 ||
            (n = brig_cgroup_open_procs(cg, fds, &err)) < 0) {
                fprintf(stderr, "brig: %s\n", err.msg);
                return -1;
        }
        return n;
}

/* Sets the cgroups' limits while the helper starts and the init builds the root, then lets the helper
 * release the init (sandbox/jailctl.h, "limits"); on failure the socket closes unwritten and the jail stops.
 */
static void run_cgroup_limits(const brig_cgroup *cg, const brig_limits *limits, int gate) {
        brig_error err = BRIG_ERROR_INIT;

        if (brig_cgroup_set_limits(cg, limits, &err) < 0)
                fprintf(stderr, "brig: %s\n", err.msg);
        /* A helper that failed early has gone: no SIGPIPE for us then, its status says why. */
        else if (send(gate, "l", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE)
                fprintf(stderr, "brig: cgroup limits: %s\n", strerror(errno));
        (void) close(gate);
}

/* Compiles the policy's seccomp filter and sends it to the jail's init (sandbox/jailctl.h, SECCOMP), which
 * forks the command only once it has it. Done while the child builds the jail, on the other core. Returns
 * -errno after saying why when there is no filter to send; a jail already gone (its status says why) is
 * no error of ours. */
static int send_filter(const brig_policy *policy, int control) {
        _cleanup_close_ int fd = -1;
        brig_error err = BRIG_ERROR_INIT;
        int r = brig_policy_compile_seccomp(policy, &fd, &err);

        if (r < 0) {
                fprintf(stderr, "brig: %s\n", err.msg);
                return r;
        }
        r = brig_jailctl_send_seccomp(control, fd);
        return r == -EPIPE || r == -ECONNRESET ? 0 : r;
}

/* Runs the jail. cg_fds are the v2 group's (*n_cg of them), made before; v1's are made here once the child
 * builds the jail, which waits for them (CGROUPS, sandbox/jailctl.h): the init joins them itself anyway,
 * and the mkdirs and limits then cost no time of the run's. *n_cg says how many the caller closes. */
static int run_jail(const brig_policy *policy, const brig_plan *plan, const brig_cgroup_root *cg_root,
                    brig_cgroup *cg, int cg_fds[_BRIG_CG_MAX], int *n_cg, uint64_t timeout_ms,
                    reporter *rep) {
        int status_pipe[2], notify_pair[2], gate[2] = {-1, -1}, st, code = 125;
        run_status res = {.final = {.outcome = _BRIG_JAIL_OUTCOME_INVALID}};
        brig_jail_status_reader status = {0};
        bool timed_out = false;
        _cleanup_close_ int notify = -1, listener = -1;
        bool cg_later = cg_root->mode == BRIG_CGROUP_V1 && *n_cg == 0;
        pid_t pid;

        if (pipe2(status_pipe, O_CLOEXEC) < 0)
                return 125;
        /* The command sends its seccomp listener here before it executes (audited denials). */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify_pair) < 0)
                return 125;
        notify = notify_pair[0];
        if ((*n_cg > 0 || cg_later) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gate) < 0)
                return 125;
        _Static_assert(_BRIG_CG_MAX <= BRIG_JAILCTL_MAX_CGROUP_FDS, "the helper takes every cgroup");
        /* The init is moved into the cgroups before it forks anything, as under brigd. */
        brig_jail_fds fds = {.status = status_pipe[1],
                             .seccomp = -1,
                             .control = notify_pair[1],
                             .limits = gate[0],
                             .n_cgroup = (size_t) *n_cg,
                             .cgroup_self = brig_cgroup_joins_self(cg),
                             .seccomp_later = plan->seccomp,
                             .cgroup_later = cg_later};
        memcpy(fds.cgroup, cg_fds, (size_t) *n_cg * sizeof(int));
        /* We are single-threaded: the child builds the jail as brig-jail would, without executing it. */
        pid = fork();
        if (pid < 0)
                return 125;
        if (pid == 0) {
                /* The plan holds copies of what it needs from our command line. */
                if (brig_cli_args)
                        explicit_bzero(brig_cli_args, brig_cli_args_len);
                brig_jail_start_forked(plan, fds);
        }
        (void) close(status_pipe[1]);
        (void) close(notify_pair[1]);
        if (gate[0] >= 0)
                (void) close(gate[0]);
        if (cg_later && (*n_cg = run_cgroup_open(cg_root, cg, cg_fds)) < 0) {
                /* Without its groups the init never forks the command: stop it now. */
                *n_cg = 0;
                (void) kill(pid, SIGKILL);
                (void) close(gate[1]);
        } else if (gate[1] >= 0) {
                run_cgroup_limits(cg, &policy->limits, gate[1]);
                int r = cg_later ? brig_jailctl_send_cgroups(notify, cg_fds, (size_t) *n_cg) : 0;
                if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
                        fprintf(stderr, "brig: cgroups: %s\n", strerror(-r));
                        (void) kill(pid, SIGKILL);
                }
        }
        /* Without it the init stops the jail before the command (its helper dies with us). */
        if (plan->seccomp && send_filter(policy, notify) < 0)
                (void) kill(pid, SIGKILL);
        /* Our terminal's Ctrl-C reaches the helper too (same process group); wait for the jail to end. */
        (void) signal(SIGINT, SIG_IGN);

        struct timespec start;
        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct timespec now;
                (void) clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t elapsed =
                        (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                int64_t left = (int64_t) timeout_ms - elapsed;
                if (left <= 0) {
                        timed_out = true;
                        (void) kill(pid, SIGKILL);
                        break;
                }
                struct pollfd p[3] = {{.fd = status_pipe[0], .events = POLLIN},
                                      {.fd = notify, .events = POLLIN},
                                      {.fd = listener, .events = POLLIN}};
                int n = poll(p, 3, left > 1000000 ? 1000000 : (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        continue;
                if (p[2].revents && !serve_listener(listener, rep))
                        listener = brig_close_nointr(listener);
                if (p[1].revents) {
                        int l = take_listener(notify);
                        if (l >= 0 && listener < 0)
                                listener = l;
                        else if (l >= 0)
                                (void) close(l);
                        /* One listener per jail: the channel is done either way. */
                        notify = brig_close_nointr(notify);
                }
                if (!p[0].revents)
                        continue;
                char *space;
                size_t room;
                brig_jail_status_reader_space(&status, &space, &room);
                ssize_t got = read(status_pipe[0], space, room);
                if (got <= 0)
                        break;
                brig_jail_status_reader_feed(&status, (size_t) got, run_status_cb, &res);
        }
        /* Whatever still waits was called before the end: answer it (its task is gone or going). */
        if (listener >= 0)
                (void) serve_listener(listener, rep);
        (void) close(status_pipe[0]);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        report_hidden(rep);
        if (res.have_error) {
                brig_error e = BRIG_ERROR_INIT;
                (void) brig_jail_status_to_error(&res.error, &e);
                fprintf(stderr, "brig: %s\n", e.msg);
        }
        if (timed_out) {
                if (rep->json) {
                        cJSON *ev = cJSON_CreateObject();
                        if (ev) {
                                cJSON_AddStringToObject(ev, "type", "limit_hit");
                                cJSON_AddStringToObject(ev, "limit", "wall_time");
                                cJSON_AddNumberToObject(ev, "timeout_ms", (double) timeout_ms);
                        }
                        print_event(ev);
                } else
                        fprintf(stderr, "brig: timed out after %llu ms\n", (unsigned long long) timeout_ms);
                code = 124;
        } else if (res.final.outcome == BRIG_JAIL_EXITED)
                code = res.final.value;
        else if (res.final.outcome == BRIG_JAIL_SIGNALED) {
                char name[16];
                const char *limit = limit_of_signal(res.final.value);
                if (rep->json && limit) {
                        cJSON *ev = cJSON_CreateObject();
                        if (ev) {
                                cJSON_AddStringToObject(ev, "type", "limit_hit");
                                cJSON_AddStringToObject(ev, "limit", limit);
                                cJSON_AddStringToObject(ev, "signal",
                                                        brig_signal_name(res.final.value, name));
                        }
                        print_event(ev);
                } else if (!rep->json)
                        fprintf(stderr, "brig: killed by signal %d\n", res.final.value);
                code = 128 + res.final.value;
        }
        if (rep->json) {
                char name[16];
                cJSON *ev = cJSON_CreateObject();
                if (ev) {
                        cJSON_AddStringToObject(ev, "type", "exit");
                        if (res.final.outcome == BRIG_JAIL_SIGNALED)
                                cJSON_AddStringToObject(ev, "signal",
                                                        brig_signal_name(res.final.value, name));
                        cJSON_AddNumberToObject(ev, "code", code);
                }
                print_event(ev);
                (void) fflush(stdout);
        }
        return code;
}

int brig_cli_run(int argc, char **argv) {
        static const struct option opts[] = {
                {"policy", required_argument, NULL, 'p'},  {"workspace", required_argument, NULL, 'w'},
                {"cwd", required_argument, NULL, 'd'},     {"timeout", required_argument, NULL, 't'},
                {"ro-bind", required_argument, NULL, 'r'}, {"bind", required_argument, NULL, 'b'},
                {"help", no_argument, NULL, 'h'},          {},
        };
        _cleanup_free_ char **binds = calloc((size_t) argc, sizeof(char *));
        _cleanup_free_ bool *binds_ro = calloc((size_t) argc, sizeof(bool));
        _cleanup_free_ char *policy_dir = NULL, *default_policy = NULL;
        brig_oneshot o = {0};
        int c;

        if (!binds || !binds_ro) {
                fprintf(stderr, "brig run: out of memory\n");
                return 125;
        }
        o.binds = binds;
        o.binds_ro = binds_ro;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        o.policy_path = optarg;
                        break;
                case 'w':
                        o.workspace = optarg;
                        break;
                case 'd':
                        o.cwd = optarg;
                        break;
                case 't':
                        if (brig_parse_u64(optarg, &o.timeout_ms) < 0 || o.timeout_ms == 0) {
                                fprintf(stderr, "brig run: --timeout: expected milliseconds, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'r':
                case 'b':
                        binds_ro[o.n_binds] = c == 'r';
                        binds[o.n_binds++] = optarg;
                        break;
                case 'h':
                        run_help();
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "brig run: no command given\nTry 'brig run --help'.\n");
                return 2;
        }
        if (!o.policy_path) {
                if (!(policy_dir = brig_find_policy_dir()) ||
                    asprintf(&default_policy, "%s/default.json", policy_dir) < 0) {
                        fprintf(stderr, "brig run: out of memory\n");
                        return 125;
                }
                o.policy_path = default_policy;
        }
        o.argv = argv + optind;
        return brig_cli_oneshot(&o);
}

/* After the jail: whatever is still in the group outlived its init; then the group goes (brig/ stays,
 * shared with other runs and workers). The groups are empty by now as a rule (the init's exit killed the
 * jail): the removal is tried first, and only a group still busy is searched for what to kill, as reading
 * every hierarchy's cgroup.procs costs more than the rmdirs (and a busy group cannot go anyway). */
static void run_cgroup_close(brig_cgroup *cg) {
        int r = 0;

        for (int i = 0; i < 200 && cg->mode != BRIG_CGROUP_NONE; i++) {
                if ((r = brig_cgroup_remove(cg)) == 0)
                        break;
                brig_cgroup_kill(cg);
                (void) usleep(10000);
        }
        for (int i = 0; r < 0 && i < _BRIG_CG_MAX; i++)
                if (cg->path[i][0])
                        fprintf(stderr, "brig: cgroup '%s' not removed: %s\n", cg->path[i], strerror(-r));
}

int brig_cli_oneshot(const brig_oneshot *o) {
        const char *policy_path = o->policy_path, *workspace = o->workspace, *cwd = o->cwd;
        _cleanup_(brig_policy_freep) brig_policy *policy = NULL;
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_policy_diags diags = {0};
        char tmp_ws[] = "/tmp/brig-run-XXXXXX", real_ws[4096];
        brig_identity id;
        brig_cgroup_root cg_root = {.mode = BRIG_CGROUP_NONE};
        brig_cgroup cg = {.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
        int cg_fds[_BRIG_CG_MAX], n_cg = 0;
        uint64_t timeout = o->timeout_ms;
        bool made_ws = false;
        int r, code;

        r = brig_policy_load(policy_path, &policy, &diags, &err);
        brig_policy_diags_done(&diags);
        if (r < 0) {
                fprintf(stderr, "brig: %s: %s\n", policy_path, err.msg);
                return 125;
        }
        if (brig_policy_env_pass(policy, environ) < 0) {
                fprintf(stderr, "brig: out of memory\n");
                return 125;
        }
        for (size_t i = 0; i < o->n_binds; i++) {
                _cleanup_free_ char *host = strdup(o->binds[i]);
                char *jail = host ? strstr(host, ":/") : NULL;
                struct stat st;
                if (!host) {
                        fprintf(stderr, "brig: out of memory\n");
                        return 125;
                }
                /* HOST:JAIL splits where a jail path starts; a bare HOST is bound at the same path. */
                if (jail)
                        *jail++ = 0;
                if (host[0] == '/' && stat(host, &st) < 0) {
                        fprintf(stderr, "brig: %s %s: %s\n", o->binds_ro[i] ? "--ro-bind" : "--bind", host,
                                strerror(errno));
                        return 125;
                }
                if (brig_policy_add_bind(policy, host, jail, o->binds_ro[i], &err) < 0) {
                        fprintf(stderr, "brig: %s\n", err.msg);
                        return 2;
                }
        }
        if (timeout == 0)
                timeout = policy->limits.wall_time_ms;
        if (timeout > policy->limits.wall_time_ms) {
                fprintf(stderr, "brig: --timeout %llu exceeds the policy's wall_time of %llu ms\n",
                        (unsigned long long) timeout, (unsigned long long) policy->limits.wall_time_ms);
                return 2;
        }
        if ((r = brig_identity_detect(BRIG_JAIL_HOST_ID_DEFAULT, &id, &err)) < 0) {
                fprintf(stderr, "brig: %s\n", err.msg);
                return 125;
        }
        if (!workspace) {
                if (!mkdtemp(tmp_ws)) {
                        fprintf(stderr, "brig: create workspace: %s\n", strerror(errno));
                        return 125;
                }
                made_ws = true;
                workspace = tmp_ws;
                if (id.root && chown(tmp_ws, id.uid_outside, id.gid_outside) < 0) {
                        fprintf(stderr, "brig: chown workspace: %s\n", strerror(errno));
                        (void) brig_rm_rf(tmp_ws);
                        return 125;
                }
        }
        if (!realpath(workspace, real_ws)) {
                fprintf(stderr, "brig: workspace '%s': %s\n", workspace, strerror(errno));
                return 125;
        }
        brig_plan_request req = {
                .argv = (const char *const *) o->argv,
                .cwd = cwd,
                .workspace = real_ws,
        };
        code = 125;
        if ((r = brig_plan_build(policy, &req, &id, &plan, &err)) < 0)
                fprintf(stderr, "brig: %s\n", err.msg);
        /* v2's helper moves the init into the group, made first; v1's run_jail() makes meanwhile. */
        else if (run_cgroup_root(policy, &cg_root) < 0 ||
                 (cg_root.mode == BRIG_CGROUP_V2 && (n_cg = run_cgroup_open(&cg_root, &cg, cg_fds)) < 0))
                n_cg = 0;
        else {
                reporter rep = {.json = o->json_events, .errno_ret = policy->seccomp.errno_ret};
                /* brig policy test also says what the command did to its workspace. */
                brig_wslist *before = o->json_events ? brig_wslist_take(real_ws) : NULL;
                code = run_jail(policy, plan, &cg_root, &cg, cg_fds, &n_cg, timeout, &rep);
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                brig_wslist *after = before ? brig_wslist_take(real_ws) : NULL;
                if (before && after) {
                        brig_wslist_report(before, after);
                        (void) fflush(stdout);
                }
                brig_wslist_free(before);
                brig_wslist_free(after);
        }
        run_cgroup_close(&cg);
        if (made_ws)
                (void) brig_rm_rf(tmp_ws);
        return code;
}
