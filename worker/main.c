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
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/paths.h"
#include "tools/history.h"
#include "worker/options.h"
#include "worker/worker.h"

/* brig.audit.jsonl in dir, or beside the file path when !is_dir. */
static char *default_audit(const char *path, bool is_dir) {
        _cleanup_free_ char *copy = strdup(path);
        char *s = NULL;

        if (!copy)
                return NULL;
        return asprintf(&s, "%s/" BRIG_AUDIT_FILE_NAME, is_dir ? copy : dirname(copy)) < 0 ? NULL : s;
}

/* Fds our launcher left open (a shell's, a service manager's) would reach every jail's init through the
 * helpers we spawn; none is ours but an activated socket, which is fd 3 (SD_LISTEN_FDS_START) and kept by
 * starting at first = 4. */
static void close_inherited_fds(int first) {
#if HAVE_CLOSE_RANGE
        if (close_range((unsigned) first, ~0U, 0) == 0)
                return;
#endif
        /* FIXME: remove once the minimum kernel is >= 5.9 (close_range). */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = first; fd < (max > 0 ? max : 65536); fd++)
                (void) close((int) fd);
}

/* The socket a service manager passed us (brigd.socket; LISTEN_FDS and LISTEN_PID, which are unset so
 * that no jail sees them): *ret_fd and its path in *ret_path, or *ret_fd = -1 when brigd was not
 * socket-activated. It must be one listening Unix stream socket with a path, the only kind brigd serves. */
static int activation_socket(int *ret_fd, char **ret_path, brig_error *err) {
        struct sockaddr_un sa = {0};
        socklen_t len = sizeof(sa);
        int n = sd_listen_fds(1);

        *ret_fd = -1;
        if (n < 0)
                return brig_error_set(err, n, BRIG_KIND_IO, "socket activation: %s", strerror(-n));
        if (n == 0)
                return 0;
        if (n != 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "socket activation: expected one listening Unix stream socket, got %d "
                                      "fd(s) (ListenStream= a path, and only that, in brigd.socket)",
                                      n);
        if (getsockname(SD_LISTEN_FDS_START, (struct sockaddr *) &sa, &len) < 0)
                return brig_error_set(err, -errno, BRIG_KIND_IO, "socket activation: getsockname: %s",
                                      strerror(errno));
        if (len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] != '/')
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "socket activation: the socket has no path (an abstract or unnamed "
                                      "socket); clients find brigd by path");
        if (!(*ret_path = strndup(sa.sun_path, sizeof(sa.sun_path))))
                return brig_error_oom(err);
        *ret_fd = SD_LISTEN_FDS_START;
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
        _cleanup_free_ char *state_dir = NULL, *helper = NULL, *audit = NULL, *default_policy = NULL,
                            *default_socket = NULL, *policy_dir = NULL, *activated_path = NULL;
        /* Values in o point into what it read: freed when main returns. */
        _cleanup_(brigd_cmdline_done) brigd_cmdline cmd = {0};
        brig_worker_options o;
        brig_error err = BRIG_ERROR_INIT;
        brig_worker w;
        uv_loop_t loop;
        int r, listen_fd;

        brig_log_set_ident("brigd");
        if (activation_socket(&listen_fd, &activated_path, &err) < 0) {
                fprintf(stderr, "brigd: %s\n", err.msg);
                return 1;
        }
        close_inherited_fds(listen_fd >= 0 ? listen_fd + 1 : 3);
        if (brigd_cmdline_parse(&cmd, argc, argv, BRIGD_DEFAULT_CONFIG) < 0)
                return 2;
        if (cmd.help) {
                brigd_cmdline_help(stdout);
                return 0;
        }
        if (cmd.version) {
                printf("brigd %s\n", BRIG_VERSION);
                return 0;
        }
        o = cmd.o;
        _cleanup_free_ char *policy_copy = o.policy_path ? strdup(o.policy_path) : NULL;
        if (!o.policy_dir && policy_copy)
                o.policy_dir = dirname(policy_copy);
        else if (!o.policy_dir) {
                if (!(policy_dir = brig_find_policy_dir()))
                        return 1;
                o.policy_dir = policy_dir;
        }
        if (!o.policy_path) {
                if (asprintf(&default_policy, "%s/default.json", o.policy_dir) < 0)
                        return 1;
                o.policy_path = default_policy;
        }
        if (!o.state_dir) {
                if (brig_default_state_dir(&state_dir, &err) < 0) {
                        fprintf(stderr, "brigd: %s\n", err.msg);
                        return 1;
                }
                o.state_dir = state_dir;
        }
        if (!o.jail_helper) {
                if (!(helper = brig_find_jail_helper()))
                        return 1;
                o.jail_helper = helper;
        }
        if (activated_path) {
                /* Its mode and group are the socket unit's (SocketMode=, SocketGroup=). */
                if (o.socket_path && strcmp(o.socket_path, activated_path) != 0)
                        log_warning("--socket %s ignored: serving the socket systemd passed, %s",
                                    o.socket_path, activated_path);
                if (o.socket_mode || o.socket_set_gid)
                        log_warning("--socket-mode and --socket-group ignored: the socket unit sets them");
                o.socket_path = activated_path;
        } else if (!o.socket_path) {
                if (brig_default_socket_path(&default_socket, &err) < 0) {
                        fprintf(stderr, "brigd: %s\n", err.msg);
                        return 1;
                }
                o.socket_path = default_socket;
                o.socket_make_parent = true;
        }
        if (!o.socket_mode)
                o.socket_mode = o.socket_set_gid ? 0660 : 0600;
        if (!o.audit_path) {
                /* Beside a socket we were told to use (`make run`'s ./brig.sock); the default or an
                 * activated socket's directory is under /run, a tmpfs, where the log would not outlive a
                 * reboot. */
                bool in_state = o.socket_make_parent || activated_path;
                if (!(audit = default_audit(in_state ? o.state_dir : o.socket_path, in_state)))
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
        if (brig_history_library_hold(&err) < 0) {
                fprintf(stderr, "brigd: %s\n", err.msg);
                (void) uv_loop_close(&loop);
                return 1;
        }
        r = brig_worker_init(&w, &loop, &o, &err);
        if (r >= 0)
                r = brig_worker_listen(&w, o.socket_path, listen_fd, &err);
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
        printf("brigd %s listening on %s (policy %s from %s, audit %s). Try: %s%s%s exec -- python3 -c "
               "'print(6*7)'\n",
               BRIG_VERSION, o.socket_path, w.default_policy->name, o.policy_dir, o.audit_path,
               cli && strstr(cli, "libexec") == NULL ? cli : "brig",
               o.socket_make_parent ? "" : " --socket ", o.socket_make_parent ? "" : o.socket_path);
        fflush(stdout);
        /* Type=notify: started once it serves. Unset so that nothing we spawn can speak for us. */
        (void) sd_notify(1, "READY=1");
        log_info("jails run as host uid %u%s, built by %s", w.identity.uid_outside,
                 w.identity.root ? "" : " (rootless)", o.jail_helper);

        (void) uv_run(&loop, UV_RUN_DEFAULT);
        brig_worker_done(&w);
        r = uv_loop_close(&loop);
        if (r < 0)
                (void) log_warning_errno(r, "loop closed with handles open, ignoring");
        return 0;
}
