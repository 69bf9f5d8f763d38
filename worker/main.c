/* SPDX-License-Identifier: MIT */
/* brigd: the brig worker daemon. Parses options, builds the worker and runs the loop until SIGINT/SIGTERM
 * (SIGHUP reloads policies).
 */
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/paths.h"
#include "worker/proxy.h"
#include "worker/worker.h"

static void help(void) {
        printf("Usage: brigd [OPTIONS]\n"
               "\n"
               "The brig worker: serves MCP (JSON-RPC 2.0, one message per line) on a Unix socket and runs "
               "each\n"
               "tool call in a jail built from the policy (namespaces, seccomp, no capabilities, rlimits).\n"
               "\n"
               "Options:\n"
               "  --socket PATH     socket to listen on (default: /run/brig/brig.sock as root, else\n"
               "                    $XDG_RUNTIME_DIR/brig/brig.sock, or /run/user/UID/brig/brig.sock when\n"
               "                    XDG_RUNTIME_DIR is unset: where `brig` looks when given no socket;\n"
               "                    brigd creates that directory, 0700, or 0755 when --socket-mode lets\n"
               "                    group or others in)\n"
               "  --socket-mode MODE\n"
               "                    octal permissions of the socket, e.g. 0660 (default 0600, 0660 with\n"
               "                    --socket-group); the owner's rw are required. Connecting needs write\n"
               "                    permission on it: this and --socket-group choose who may connect\n"
               "  --socket-group GROUP\n"
               "                    group (name or gid) of the socket. Mode and group are the socket's\n"
               "                    from the moment its path exists (it is bound in a private directory\n"
               "                    and renamed into place), so no chmod is needed and none can race\n"
               "  --policy FILE     default policy, for environments that name none\n"
               "                    (default: default.json in the policy directory)\n"
               "  --policy-dir DIR  policies clients may name with brig/policy (default: the directory of\n"
               "                    --policy, else ./policies if it exists, else %s)\n"
               "  --admin-uid UID   a uid that may also name policy files by path (repeatable; root always "
               "may)\n"
               "  --audit PATH      audit log, hash-chained JSONL (default: brig.audit.jsonl beside the\n"
               "                    socket given by --socket, else in the state directory)\n"
               "  --state-dir DIR   where workspaces live (default: /var/lib/brig as root,\n"
               "                    $XDG_STATE_HOME/brig otherwise)\n"
               "  --jail-helper P   path of brig-jail (default: beside brigd, else %s/brig-jail)\n"
               "  --jail-id ID      when brigd is root, environment n runs as host uid/gid ID+n (default: "
               "%d)\n"
               "  --spare-environments N\n"
               "                    environments of the default policy kept built ahead, so that a new\n"
               "                    environment starts without waiting for its jail (0 to 8, default 1)\n"
               "  --start-timeout S an environment that is not running S seconds after its start began "
               "fails\n"
               "                    to start, and its jail is killed (1 to 3600, default %d)\n"
               "  --resolve NAME=ADDR\n"
               "                    the network proxy of proxy-mode environments resolves NAME to the IPv4\n"
               "                    or IPv6 address ADDR instead of asking DNS (repeatable; the policy's\n"
               "                    allow rules and address checks still apply)\n"
               "  --max-calls N     calls running commands at once in the worker (default: from the fd\n"
               "                    limit, at most %d); calls beyond wait in a queue\n"
               "  --max-calls-per-environment N\n"
               "                    calls running commands at once in one environment (default %d)\n"
               "  --max-queued N    calls waiting for a slot; past it calls are refused at once with\n"
               "                    JSON-RPC error -32001, data.reason \"busy\" and data.retry_after_ms\n"
               "                    (default: 8 x --max-calls)\n"
               "  --max-connections-per-uid N\n"
               "                    connections one uid may hold, 0 for no cap; root and --admin-uid\n"
               "                    have none (default %d; %d in all, root and admins get %d more)\n"
               "  --handshake-timeout MS\n"
               "                    a connection that has not sent initialize after MS milliseconds is\n"
               "                    closed, 0 never (default %d)\n"
               "  --max-client-bytes SIZE\n"
               "                    bytes held for all clients together: replies not yet read and output\n"
               "                    kept for running calls' results. Past it, the commands of the\n"
               "                    connections holding more than an equal share are not read (they wait\n"
               "                    on a full pipe) until their clients read; others go on (default: 1/16\n"
               "                    of memory, %llu to %llu MiB; 0 for the default)\n"
               "  --client-stall-timeout MS\n"
               "                    a client whose replies wait (its output is paused, or the worker is\n"
               "                    over --max-client-bytes) and that reads nothing for MS milliseconds\n"
               "                    is disconnected and its calls cancelled (default %d)\n"
               "  --log-level L     error, warning, info or debug (default: info)\n"
               "  -h, --help        show this help\n"
               "  --version         show the version\n"
               "\n"
               "At start brigd raises its soft fd limit to the hard one and closes every fd it inherited\n"
               "but stdin, stdout and stderr.\n"
               "Stop with Ctrl-C or SIGTERM: running calls are killed and the socket is removed.\n"
               "SIGHUP reloads the policy files: new environments get the new policies, running ones keep\n"
               "theirs until they stop; a reload that fails keeps every old policy and logs why.\n"
               "Docs: docs/protocol.md (wire protocol), docs/policy.md (policy format).\n",
               BRIG_POLICYDIR, BRIG_LIBEXECDIR, BRIG_JAIL_HOST_ID_DEFAULT, BRIG_ENV_START_TIMEOUT_S,
               BRIG_MAX_CALLS_CAP, BRIG_MAX_CALLS_PER_ENV_DEFAULT, BRIG_MAX_CONNECTIONS_PER_UID_DEFAULT,
               BRIG_MAX_CONNECTIONS, BRIG_ADMIN_CONNECTIONS, BRIG_HANDSHAKE_TIMEOUT_MS_DEFAULT,
               (unsigned long long) (BRIG_CLIENT_BYTES_MIN_DEFAULT >> 20),
               (unsigned long long) (BRIG_CLIENT_BYTES_MAX_DEFAULT >> 20), BRIG_WRITE_STALL_MS);
}

static char *default_state_dir(void) {
        const char *xdg = secure_getenv("XDG_STATE_HOME"), *home = secure_getenv("HOME");
        char *s = NULL;

        if (geteuid() == 0)
                return strdup("/var/lib/brig");
        if (xdg && xdg[0] == '/')
                return asprintf(&s, "%s/brig", xdg) < 0 ? NULL : s;
        if (home && home[0] == '/')
                return asprintf(&s, "%s/.local/state/brig", home) < 0 ? NULL : s;
        return asprintf(&s, "/tmp/brig-%u", geteuid()) < 0 ? NULL : s;
}

static char *default_helper(void) {
        char *s = brig_sibling_path("brig-jail");
        return s ? s : strdup(BRIG_LIBEXECDIR "/brig-jail");
}

/* brig.audit.jsonl in dir, or beside the file path when !is_dir. */
static char *default_audit(const char *path, bool is_dir) {
        _cleanup_free_ char *copy = strdup(path);
        char *s = NULL;

        if (!copy)
                return NULL;
        return asprintf(&s, "%s/brig.audit.jsonl", is_dir ? copy : dirname(copy)) < 0 ? NULL : s;
}

/* --socket-mode: octal permission bits that keep the owner's read and write (brigd's own probe of a
 * stale socket, and root's clients, need no more; an owner locked out is a typo). */
static int parse_socket_mode(const char *arg, mode_t *ret) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(arg, &end, 8);
        if (errno || !end || end == arg || *end || v > 0777 || (v & 0600) != 0600) {
                fprintf(stderr,
                        "brigd: --socket-mode: expected octal permissions from 0600 to 0777 with the "
                        "owner's rw (e.g. 0660), got '%s'\n",
                        arg);
                return -EINVAL;
        }
        *ret = (mode_t) v;
        return 0;
}

/* --socket-group: a group name, or a numeric gid (which need not be named in /etc/group). */
static int parse_group(const char *arg, gid_t *ret) {
        struct group gr, *res = NULL;
        char buf[4096];
        uint64_t v;

        if (brig_parse_u64(arg, &v) == 0) {
                if (v >= 0xffffffffu) {
                        fprintf(stderr, "brigd: --socket-group: gid out of range: '%s'\n", arg);
                        return -EINVAL;
                }
                *ret = (gid_t) v;
                return 0;
        }
        int r = getgrnam_r(arg, &gr, buf, sizeof(buf), &res);
        if (r != 0 || !res) {
                fprintf(stderr, "brigd: --socket-group: no group named '%s'%s%s\n", arg, r ? ": " : "",
                        r ? strerror(r) : "");
                return -EINVAL;
        }
        *ret = res->gr_gid;
        return 0;
}

/* Fds our launcher left open (a shell's, a service manager's) would reach every jail's init through the
 * helpers we spawn; none is ours, since brigd takes no fd by option. */
static void close_inherited_fds(void) {
#if HAVE_CLOSE_RANGE
        if (close_range(3, ~0U, 0) == 0)
                return;
#endif
        /* FIXME: remove once the minimum kernel is >= 5.9 (close_range). */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
                (void) close((int) fd);
}

/* A count option: 0 to max. */
static int parse_count(const char *name, const char *arg, uint64_t max, unsigned *ret) {
        uint64_t v;
        if (brig_parse_u64(arg, &v) < 0 || v > max) {
                fprintf(stderr, "brigd: --%s: expected 0 to %llu, got '%s'\n", name,
                        (unsigned long long) max, arg);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static void signal_cb(uv_signal_t *s, int signum) {
        brig_worker *w = s->data;
        log_info("received %s", strsignal(signum));
        brig_worker_stop(w);
        uv_close((uv_handle_t *) &w->sigint, NULL);
        uv_close((uv_handle_t *) &w->sigterm, NULL);
        uv_close((uv_handle_t *) &w->sighup, NULL);
}

static void sighup_cb(uv_signal_t *s, int signum) {
        (void) signum;
        log_info("received SIGHUP: reloading policies");
        brig_worker_reload(s->data);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"socket", required_argument, NULL, 's'},
                {"policy", required_argument, NULL, 'p'},
                {"audit", required_argument, NULL, 'a'},
                {"state-dir", required_argument, NULL, 'd'},
                {"jail-helper", required_argument, NULL, 'j'},
                {"jail-id", required_argument, NULL, 'i'},
                {"log-level", required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {"policy-dir", required_argument, NULL, 'P'},
                {"admin-uid", required_argument, NULL, 'A'},
                {"spare-environments", required_argument, NULL, 'S'},
                {"resolve", required_argument, NULL, 'R'},
                {"start-timeout", required_argument, NULL, 'T'},
                {"max-calls", required_argument, NULL, 'C'},
                {"max-calls-per-environment", required_argument, NULL, 'E'},
                {"max-queued", required_argument, NULL, 'Q'},
                {"max-connections-per-uid", required_argument, NULL, 'U'},
                {"handshake-timeout", required_argument, NULL, 'H'},
                {"max-client-bytes", required_argument, NULL, 'B'},
                {"client-stall-timeout", required_argument, NULL, 'W'},
                {"socket-mode", required_argument, NULL, 'M'},
                {"socket-group", required_argument, NULL, 'G'},
                {},
        };
        _cleanup_free_ char *state_dir = NULL, *helper = NULL, *audit = NULL, *default_policy = NULL,
                            *default_socket = NULL;
        uid_t admins[BRIG_MAX_ADMIN_UIDS];
        static brig_proxy_resolve resolve[BRIG_PROXY_MAX_RESOLVE];
        brig_worker_options o = {.socket_path = NULL,
                                 .jail_id = BRIG_JAIL_HOST_ID_DEFAULT,
                                 .spares = 1,
                                 .start_timeout_s = BRIG_ENV_START_TIMEOUT_S,
                                 .max_conns_per_uid = BRIG_MAX_CONNECTIONS_PER_UID_DEFAULT,
                                 .handshake_timeout_ms = BRIG_HANDSHAKE_TIMEOUT_MS_DEFAULT};
        brig_error err = BRIG_ERROR_INIT;
        brig_worker w;
        uv_loop_t loop;
        uint64_t id;
        int c, r;

        close_inherited_fds();
        brig_log_set_ident("brigd");
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o.socket_path = optarg;
                        break;
                case 'p':
                        o.policy_path = optarg;
                        break;
                case 'P':
                        o.policy_dir = optarg;
                        break;
                case 'A':
                        if (brig_parse_u64(optarg, &id) < 0 || id >= 0xffffffffu) {
                                fprintf(stderr, "brigd: --admin-uid: expected a uid, got '%s'\n", optarg);
                                return 2;
                        }
                        if (o.n_admin_uids >= BRIG_MAX_ADMIN_UIDS) {
                                fprintf(stderr, "brigd: --admin-uid: at most %d\n", BRIG_MAX_ADMIN_UIDS);
                                return 2;
                        }
                        admins[o.n_admin_uids++] = (uid_t) id;
                        break;
                case 'R':
                        if (o.n_resolve >= BRIG_PROXY_MAX_RESOLVE) {
                                fprintf(stderr, "brigd: --resolve: at most %d\n", BRIG_PROXY_MAX_RESOLVE);
                                return 2;
                        }
                        if (brig_proxy_resolve_parse(optarg, &resolve[o.n_resolve], &err) < 0) {
                                fprintf(stderr, "brigd: %s\n", err.msg);
                                return 2;
                        }
                        o.n_resolve++;
                        break;
                case 'C':
                        if (parse_count("max-calls", optarg, 65536, &o.max_calls) < 0)
                                return 2;
                        break;
                case 'E':
                        if (parse_count("max-calls-per-environment", optarg, 65536, &o.max_calls_per_env) <
                            0)
                                return 2;
                        break;
                case 'Q':
                        if (parse_count("max-queued", optarg, 1u << 20, &o.max_queued) < 0)
                                return 2;
                        break;
                case 'U':
                        if (parse_count("max-connections-per-uid", optarg, BRIG_MAX_CONNECTIONS,
                                        &o.max_conns_per_uid) < 0)
                                return 2;
                        break;
                case 'H':
                        if (parse_count("handshake-timeout", optarg, 86400000, &o.handshake_timeout_ms) < 0)
                                return 2;
                        break;
                case 'W':
                        if (parse_count("client-stall-timeout", optarg, 86400000, &o.stall_timeout_ms) < 0)
                                return 2;
                        if (o.stall_timeout_ms == 0) {
                                fprintf(stderr,
                                        "brigd: --client-stall-timeout: expected 1 to 86400000 ms\n");
                                return 2;
                        }
                        break;
                case 'B': {
                        uint64_t bytes;
                        if (brig_parse_size(optarg, &bytes) < 0 || (bytes && bytes < (1u << 20))) {
                                fprintf(stderr,
                                        "brigd: --max-client-bytes: expected 0 or a size from 1M, got "
                                        "'%s'\n",
                                        optarg);
                                return 2;
                        }
                        o.max_client_bytes = bytes;
                        break;
                }
                case 'M':
                        if (parse_socket_mode(optarg, &o.socket_mode) < 0)
                                return 2;
                        break;
                case 'G':
                        if (parse_group(optarg, &o.socket_gid) < 0)
                                return 2;
                        o.socket_set_gid = true;
                        break;
                case 'a':
                        o.audit_path = optarg;
                        break;
                case 'd':
                        o.state_dir = optarg;
                        break;
                case 'j':
                        o.jail_helper = optarg;
                        break;
                case 'i':
                        if (brig_parse_u64(optarg, &id) < 0 || id == 0 || id >= 0xffffffffu) {
                                fprintf(stderr,
                                        "brigd: --jail-id: expected a uid from 1 to 4294967294, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        o.jail_id = (uid_t) id;
                        break;
                case 'S':
                        if (brig_parse_u64(optarg, &id) < 0 || id > 8) {
                                fprintf(stderr, "brigd: --spare-environments: expected 0 to 8, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        o.spares = (unsigned) id;
                        break;
                case 'T':
                        if (brig_parse_u64(optarg, &id) < 0 || id < 1 || id > 3600) {
                                fprintf(stderr,
                                        "brigd: --start-timeout: expected 1 to 3600 seconds, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        o.start_timeout_s = (unsigned) id;
                        break;
                case 'l': {
                        static const char *const names[] = {"error", "warning", "info", "debug"};
                        int level = -1;
                        for (int i = 0; i < 4; i++)
                                if (strcmp(optarg, names[i]) == 0)
                                        level = i;
                        if (level < 0) {
                                fprintf(stderr,
                                        "brigd: --log-level: expected error, warning, info or debug\n");
                                return 2;
                        }
                        brig_log_set_level((brig_log_level) level);
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("brigd %s\n", BRIG_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'brigd --help'.\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "brigd: unexpected argument '%s'\nTry 'brigd --help'.\n", argv[optind]);
                return 2;
        }
        o.admin_uids = admins;
        o.resolve = resolve;
        _cleanup_free_ char *policy_copy = o.policy_path ? strdup(o.policy_path) : NULL;
        if (!o.policy_dir && policy_copy)
                o.policy_dir = dirname(policy_copy);
        else if (!o.policy_dir)
                o.policy_dir = access("policies", R_OK | X_OK) == 0 ? "policies" : BRIG_POLICYDIR;
        if (!o.policy_path) {
                if (asprintf(&default_policy, "%s/default.json", o.policy_dir) < 0)
                        return 1;
                o.policy_path = default_policy;
        }
        if (!o.state_dir) {
                if (!(state_dir = default_state_dir()))
                        return 1;
                o.state_dir = state_dir;
        }
        if (!o.jail_helper) {
                if (!(helper = default_helper()))
                        return 1;
                o.jail_helper = helper;
        }
        if (!o.socket_mode)
                o.socket_mode = o.socket_set_gid ? 0660 : 0600;
        if (!o.socket_path) {
                if (brig_default_socket_path(&default_socket, &err) < 0) {
                        fprintf(stderr, "brigd: %s\n", err.msg);
                        return 1;
                }
                o.socket_path = default_socket;
                o.socket_make_parent = true;
        }
        if (!o.audit_path) {
                /* Beside a socket we were told to use (`make run`'s ./brig.sock); the default socket's
                 * directory is under /run, a tmpfs, where the log would not outlive a reboot. */
                if (!(audit = default_audit(o.socket_make_parent ? o.state_dir : o.socket_path,
                                            o.socket_make_parent)))
                        return 1;
                o.audit_path = audit;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        if (uv_loop_init(&loop) < 0)
                return 1;
        /* Held back until the loop watches for them: a client may see the socket, and stop us, before. */
        sigset_t stop_signals;
        (void) sigemptyset(&stop_signals);
        (void) sigaddset(&stop_signals, SIGINT);
        (void) sigaddset(&stop_signals, SIGTERM);
        (void) sigaddset(&stop_signals, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &stop_signals, NULL);
        r = brig_worker_init(&w, &loop, &o, &err);
        if (r >= 0)
                r = brig_worker_listen(&w, o.socket_path, &err);
        if (r < 0) {
                (void) log_error_errno(r, "%s", err.msg);
                fprintf(stderr, "brigd: %s\n", err.msg);
                brig_worker_stop(&w);
                (void) uv_run(&loop, UV_RUN_DEFAULT);
                brig_worker_done(&w);
                (void) uv_loop_close(&loop);
                return 1;
        }
        (void) uv_signal_init(&loop, &w.sigint);
        (void) uv_signal_init(&loop, &w.sigterm);
        (void) uv_signal_init(&loop, &w.sighup);
        w.sigint.data = w.sigterm.data = w.sighup.data = &w;
        (void) uv_signal_start(&w.sigint, signal_cb, SIGINT);
        (void) uv_signal_start(&w.sigterm, signal_cb, SIGTERM);
        (void) uv_signal_start(&w.sighup, sighup_cb, SIGHUP);
        (void) sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);

        _cleanup_free_ char *cli = strdup(o.jail_helper);
        size_t cl = cli ? strlen(cli) : 0;
        /* brig sits beside brig-jail in a build tree; elsewhere it is on PATH. */
        if (cl > 9 && strcmp(cli + cl - 9, "brig-jail") == 0 && strstr(cli, "libexec") == NULL)
                cli[cl - 5] = 0;
        /* On the default path clients need no --socket: say so by leaving it out. */
        printf("brigd %s listening on %s (policy %s, audit %s). Try: %s%s%s exec -- python3 -c "
               "'print(6*7)'\n",
               BRIG_VERSION, o.socket_path, w.default_policy->name, o.audit_path,
               cli && strstr(cli, "libexec") == NULL ? cli : "brig",
               o.socket_make_parent ? "" : " --socket ", o.socket_make_parent ? "" : o.socket_path);
        fflush(stdout);
        log_info("jails run as host uid %u%s", w.identity.uid_outside, w.identity.root ? "" : " (rootless)");

        (void) uv_run(&loop, UV_RUN_DEFAULT);
        brig_worker_done(&w);
        r = uv_loop_close(&loop);
        if (r < 0)
                (void) log_warning_errno(r, "loop closed with handles open, ignoring");
        return 0;
}
