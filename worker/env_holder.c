/* SPDX-License-Identifier: MIT */
/* An environment's holder: the brig-jail whose init is the environment's pid 1 (sandbox/jailctl.h), started
 * from a HOLD plan in the environment's cgroups, watched through its status pipe and control socket until
 * it runs or fails within the start timeout, and stopped; calls wait for it in the ready waiters, and those
 * that arrive while it stops in the restart waiters. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"
#include "worker/audit_events.h"
#include "worker/cgreap.h"
#include "worker/denials.h"
#include "worker/env.h"
#include "worker/env_control.h"
#include "worker/env_holder.h"
#include "worker/memory_view.h"
#include "worker/env_registry.h"
#include "worker/env_spares.h"
#include "worker/proxy.h"
#include "worker/proxy_ca.h"
#include "worker/proxy_tls.h"
#include "worker/worker.h"

void brig__env_free_waiters(brig_env_waiter *list, brig_env *env, const brig_error *err) {
        while (list) {
                brig_env_waiter *next = list->next;
                if (env)
                        list->cb(env, err, list->userdata);
                free(list);
                list = next;
        }
}

/* Calls back (and frees) the calls waiting for the start. */
static void fire_waiters(brig_env *env, const brig_error *err) {
        brig_env_waiter *list = env->holder.waiters;

        env->holder.waiters = NULL;
        brig__env_free_waiters(list, env, err);
}

static void prepared_cb(brig_env *env, const brig_error *qerr, void *userdata);
static void start_timer_cb(uv_timer_t *t);
static void view_ready_cb(brig_env *env, const brig_error *qerr);

/* Its holder is still going away: nothing can run in it, nor can it start yet. */
static bool going_away(const brig_env *env) {
        return env->holder.stopping ||
               (env->state == BRIG_ENV_STOPPED && !brig_handles_none(&env->holder.handles));
}

/* Appends list to the waiters at *tail. */
static void waiters_append(brig_env_waiter **tail, brig_env_waiter *list) {
        while (*tail)
                tail = &(*tail)->next;
        *tail = list;
}

/* The answer to calls waiting for an environment that is destroyed or stopped with the worker. */
static void gone_error(const brig_env *env, brig_error *err) {
        (void) brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was %s", env->id,
                              env->destroyed ? "destroyed" : "stopped with the worker");
}

/* Starts it for its waiters unless a start is under way: its preparation on disk first. */
static void start(brig_env *env) {
        if (env->state == BRIG_ENV_STARTING || env->disk.prepare.start_waiting)
                return;
        env->disk.prepare.start_waiting = true;
        brig__env_prepare(env, prepared_cb, NULL);
}

/* The last holder handle is closed: calls that came while it stopped get a new start (or, when the
 * environment or the worker is going away, an answer saying so). */
static void restart_after_stop(brig_env *env) {
        brig_env_waiter *list = env->holder.restart_waiters;
        brig_error err = BRIG_ERROR_INIT;

        if (!list)
                return;
        env->holder.restart_waiters = NULL;
        if (env->destroyed || env->w->stopping) {
                gone_error(env, &err);
                brig__env_free_waiters(list, env, &err);
                return;
        }
        waiters_append(&env->holder.waiters, list);
        start(env);
}

/* The holder's handles are closed: it may start again, and a destroyed environment may go. */
static void holder_all_closed(void *userdata) {
        brig_env *env = userdata;

        env->holder.stopping = false;
        /* The restart's callbacks must not free env under us. */
        brig__env_hold(env);
        restart_after_stop(env);
        brig__env_release(env);
}

BRIG_HANDLES_CLOSED_CB(holder_closed_cb, brig_env, holder.handles)

void brig__env_holder_init(brig_env *env) {
        brig_handles_init(&env->holder.handles, holder_all_closed, env);
}

/* The init exits when we hang up; commands still running keep their references, and their KILLs then fail
 * cleanly (-ESHUTDOWN). */
static void hang_up(brig_env *env) {
        brig__env_control_close(env);
}

static void holder_gone(brig_env *env) {
        brig_error err = BRIG_ERROR_INIT;

        if (!env->holder.exited || !env->holder.status_eof)
                return;
        brig__denials_stop(env);
        brig__proxy_stop(env);
        brig__env_audit(env, BRIG_AUDIT_ENVIRONMENT_STOP,
                        env->holder.start_error.code ? env->holder.start_error.msg : NULL);
        hang_up(env);
        env->init_pid = 0;
        brig__env_set_state(env, BRIG_ENV_STOPPED);
        brig__cgroup_release(env->w, &env->limits.cg);
        if (!uv_is_closing((uv_handle_t *) &env->holder.status_pipe))
                uv_close((uv_handle_t *) &env->holder.status_pipe, holder_closed_cb);
        uv_close((uv_handle_t *) &env->holder.start_timer, holder_closed_cb);
        if (env->holder.waiters) {
                if (env->holder.start_error.code)
                        err = env->holder.start_error;
                else
                        (void) brig_error_set(&err, -ECHILD, BRIG_KIND_SANDBOX, "environment \"%s\" stopped",
                                              env->id);
                fire_waiters(env, &err);
        }
        log_info("environment %s stopped", env->id);
        brig__env_spare_dir_gone(env);
        /* Not built for anyone yet: nothing to keep. */
        if (env->spare.pooled && !env->destroyed)
                brig_env_destroy(env);
}

static void holder_exit_cb(brig_child *p, int wstatus) {
        brig_env *env = p->data;
        (void) wstatus;
        env->holder.exited = true;
        holder_gone(env);
}

/* The init sent its descriptors before "ready": the proxy's listening socket (proxy mode) and its seccomp
 * listener (audited denials). None waits when the policy asks for neither. A message that cannot be read
 * whole (MSG_CTRUNC: we had no free descriptor for what it carried) fails the start: an environment never
 * runs without the listener or proxy its policy asked for. */
static int init_messages(brig_env *env, brig_error *err) {
        for (int i = 0; i < 5 && brig_jailctl_is_open(env->control); i++) {
                int fds[BRIG_JAILCTL_MAX_FDS];
                size_t n_fds = 0;
                brig_jailctl_msg m;
                int r = brig_jailctl_recv_from(env->control, &m, fds, &n_fds);

                if (r == -EAGAIN)
                        return 0;
                if (r == 0)
                        return brig_error_set(err, -ECONNRESET, BRIG_KIND_SANDBOX,
                                              "environment \"%s\": its init hung up", env->id);
                if (r < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX,
                                                    "environment \"%s\": descriptors from its init lost",
                                                    env->id);
                if (m.op == BRIG_JAILCTL_LISTENER && n_fds == 1) {
                        brig__denials_start(env, fds[0]);
                        if (!env->denials)
                                return brig_error_set(
                                        err, -EIO, BRIG_KIND_SANDBOX,
                                        "environment \"%s\": cannot watch its seccomp listener", env->id);
                } else if (m.op == BRIG_JAILCTL_RECONNECT && n_fds == 0)
                        brig__env_control_may_step_away(env);
                else if (m.op == BRIG_JAILCTL_PROXY && (n_fds == 1 || n_fds == 2))
                        brig__proxy_start(env, fds[0], n_fds == 2 ? fds[1] : -1);
                else {
                        for (size_t k = 0; k < n_fds; k++)
                                (void) close(fds[k]);
                        return brig_error_set(
                                err, -EBADMSG, BRIG_KIND_SANDBOX,
                                "environment \"%s\": unexpected message %u with %zu descriptors "
                                "from its init",
                                env->id, m.op, n_fds);
                }
        }
        return 0;
}

/* A start that cannot complete: its callers get err now, whatever the holder does next, and the holder is
 * killed (holder_gone() then cleans up as for any stop). */
static void start_failed(brig_env *env, const brig_error *err) {
        log_warning("%s", err->msg);
        if (!env->holder.start_error.code)
                env->holder.start_error = *err;
        (void) uv_timer_stop(&env->holder.start_timer);
        fire_waiters(env, &env->holder.start_error);
        brig_env_stop(env);
}

/* Running once both the holder's pid and the init's "ready" arrived, in either order. */
static void maybe_running(brig_env *env) {
        brig_error err = BRIG_ERROR_INIT;

        if (!env->holder.ready_seen || env->init_pid <= 0 || env->state != BRIG_ENV_STARTING ||
            env->holder.start_error.code || env->holder.exited)
                return;
        if (init_messages(env, &err) < 0) {
                start_failed(env, &err);
                return;
        }
        (void) uv_timer_stop(&env->holder.start_timer);
        if (env->holder.reconnects)
                (void) uv_timer_start(&env->holder.start_timer, start_timer_cb, BRIG_CONTROL_IDLE_MS,
                                      BRIG_CONTROL_IDLE_MS);
        brig__env_set_state(env, BRIG_ENV_RUNNING);
        log_info("environment %s running (init pid %d)", env->id, env->init_pid);
        brig__env_audit(env, BRIG_AUDIT_ENVIRONMENT_START, NULL);
        fire_waiters(env, NULL);
}

static void start_timer_cb(uv_timer_t *t) {
        brig_env *env = t->data;
        brig_error err = BRIG_ERROR_INIT;

        /* Running, it is the idle check of the control connection (worker/env_control.h). */
        if (env->state == BRIG_ENV_RUNNING)
                brig__env_control_idle_tick(env);
        if (env->state != BRIG_ENV_STARTING)
                return;
        (void) brig_error_set(&err, -ETIMEDOUT, BRIG_KIND_SANDBOX,
                              "environment \"%s\" did not start within %u s", env->id,
                              env->w->start_timeout_s);
        start_failed(env, &err);
}

static void holder_record_cb(const brig_jail_status *st, void *userdata) {
        brig_env *env = userdata;

        if (st->outcome == BRIG_JAIL_HOLDER) {
                env->init_pid = st->value;
                maybe_running(env);
        } else if (st->outcome == BRIG_JAIL_LAYER)
                log_info("environment %s: layer %s %s (%d)", env->id, st->stage, st->detail, st->value);
        else if (st->outcome == BRIG_JAIL_ERROR && !env->holder.start_error.code)
                (void) brig_jail_status_to_error(st, &env->holder.start_error);
        else if (st->outcome == BRIG_JAIL_READY) {
                env->holder.ready_seen = true;
                maybe_running(env);
        }
}

static void holder_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        brig_env *env = h->data;
        (void) suggested;
        char *base;
        size_t len;

        brig_jail_status_reader_space(&env->holder.status, &base, &len);
        *buf = uv_buf_init(base, (unsigned) len);
}

static void holder_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        brig_env *env = s->data;
        (void) buf;

        if (n < 0) {
                (void) uv_read_stop(s);
                env->holder.status_eof = true;
                /* A running environment's helper and init close their ends once it is "ready": the pipe's
                 * end is not the holder's, whose exit we learn from the process, so the descriptor need not
                 * stay open for as long as the environment runs. */
                uv_close((uv_handle_t *) s, holder_closed_cb);
                holder_gone(env);
                return;
        }
        brig_jail_status_reader_feed(&env->holder.status, (size_t) n, holder_record_cb, env);
}

/* A start that failed after creating the environment's cgroups removes them; returns r. */
static int undo_cgroups(brig_env *env, int r) {
        brig__cgroup_release(env->w, &env->limits.cg);
        return r;
}

_Static_assert(_BRIG_CG_MAX <= BRIG_JAILCTL_MAX_CGROUP_FDS, "the helper takes every cgroup");

/* A (re)start takes the policy served under the environment's key today: after a reload, the new one; after
 * its file was removed, none. Taken before anything of the start reads the policy (the CA, the view). */
static int take_current_policy(brig_env *env, brig_error *err) {
        brig_worker *w = env->w;
        const brig_policy_entry *now = brig_policies_find(&w->policies, env->policy_key);

        if (!now)
                return brig_error_set(err, -ENOENT, BRIG_KIND_POLICY,
                                      "environment \"%s\": its policy \"%.100s\" is no longer available",
                                      env->id, env->policy_key);
        if (now != env->policy) {
                const brig_policy_entry *before = env->policy;
                brig_policies_hold(now);
                env->policy = now;
                /* The secrets borrow from the policy: they follow it before it may go. */
                brig__proxy_secrets_follow(env);
                brig_policies_release(&w->policies, before);
        }
        return 0;
}

/* Starts the helper with from[i] as its descriptor i (sandbox/jailctl.h: plan, status, seccomp, control,
 * cgroups; -1 for 0 and 1 is /dev/null), every other one closed, no environment, the signal mask and
 * dispositions reset, in a session of its own; returns 0 with *ret_pid, or a negative errno (the exec's
 * too). posix_spawn() rather than uv_spawn(): libuv (before 1.45) forks, and the child copies brigd's
 * page tables, which grow with the number of environments, only to drop them at the exec; glibc's
 * posix_spawn clones with CLONE_VM | CLONE_VFORK, at a cost that does not depend on brigd's size. libuv
 * does not know the child then: the worker's child watch reaps it (worker/child_watch.h). */
static int spawn_helper(const char *path, char **argv, const int *from, int n, pid_t *ret_pid) {
        int tmp[BRIG_JAILCTL_FD_CGROUP + _BRIG_CG_MAX];
        char *envp[] = {NULL};
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r = 0;

        assert(n <= (int) ELEMENTSOF(tmp));
        /* Each source out of the way of the numbers the helper's descriptors take, so that no dup2 replaces
         * one still to be placed; fd 2 too, which a dup2 onto itself would leave close-on-exec if it was. */
        for (int i = 0; i < n; i++)
                tmp[i] = from[i] >= 0 && from[i] < n ? fcntl(from[i], F_DUPFD_CLOEXEC, n) : -1;
        for (int i = 0; i < n && r == 0; i++)
                if (from[i] >= 0 && from[i] < n && tmp[i] < 0)
                        r = -errno;
        if (r == 0 && (r = -posix_spawn_file_actions_init(&fa)) == 0) {
                for (int i = 0; i < n && r == 0; i++) {
                        int src = tmp[i] >= 0 ? tmp[i] : from[i];
                        r = -(src < 0 ? posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                                         i == 0 ? O_RDONLY : O_RDWR, 0)
                                      : posix_spawn_file_actions_adddup2(&fa, src, i));
                }
#if HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
                /* Ours are close-on-exec already: this keeps one that is not (a library's) from the jail. */
                if (r == 0)
                        r = -posix_spawn_file_actions_addclosefrom_np(&fa, n);
#endif
                (void) posix_spawnattr_init(&attr);
                (void) sigemptyset(&none);
                (void) sigfillset(&all);
                (void) posix_spawnattr_setsigmask(&attr, &none);
                (void) posix_spawnattr_setsigdefault(&attr, &all);
                (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                               POSIX_SPAWN_SETSID);
                if (r == 0)
                        r = -posix_spawn(ret_pid, path, &fa, &attr, argv, envp);
                (void) posix_spawnattr_destroy(&attr);
                (void) posix_spawn_file_actions_destroy(&fa);
        }
        for (int i = 0; i < n; i++)
                if (tmp[i] >= 0)
                        (void) close(tmp[i]);
        return r;
}

static int holder_start(brig_env *env, brig_error *err) {
        brig_worker *w = env->w;
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        _cleanup_close_ int plan_fd = -1;
        char *argv[BRIG_JAILCTL_ARGV_MAX];
        int listener = -1, cg_fds[_BRIG_CG_MAX], n_cg = 0;
        int from[BRIG_JAILCTL_FD_CGROUP + _BRIG_CG_MAX], status[2] = {-1, -1};
        pid_t pid = 0;
        int r;

        if ((r = take_current_policy(env, err)) < 0)
                return r;
        /* Only after brig__env_prepare(): its directory and workspace exist. */
        if (!env->disk.present)
                return brig_error_set(err, -ENOENT, BRIG_KIND_INTERNAL, "environment \"%s\" is not on disk",
                                      env->id);
        const brig_limits *lim = &env->policy->policy->limits;
        if (lim->cgroups == BRIG_CGROUP_REQUIRED && w->cgroups.mode == BRIG_CGROUP_NONE)
                return brig_error_set(err, -EOPNOTSUPP, BRIG_KIND_SANDBOX,
                                      "environment \"%s\": its policy requires cgroup limits, but %s",
                                      env->id, w->cgroups.why);
        _cleanup_free_ char *memories = NULL;
        if ((r = brig_memory_view_of(env, env->owner, NULL, &memories, err)) < 0)
                return r;
        char ca_bundle[PATH_MAX];
        (void) snprintf(ca_bundle, sizeof(ca_bundle), "%s/%s", env->dir, BRIG_PROXY_CA_BUNDLE_NAME);
        brig_plan_request req = {.mode = BRIG_PLAN_HOLD,
                                 .workspace = env->workspace,
                                 .memories = memories,
                                 .ca_bundle = env->tls_ca ? ca_bundle : NULL};
        if ((r = brig_plan_build(env->policy->policy, &req, &env->identity, &plan, err)) < 0)
                return r;
        if ((r = brig_jailctl_plan_memfd(plan, &plan_fd, err)) < 0)
                return r;

        /* Last before the spawn, and removed again if it fails: the next start creates it anew. */
        env->limits.cg = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
        if (lim->cgroups != BRIG_CGROUP_OFF && w->cgroups.mode != BRIG_CGROUP_NONE &&
            (r = brig_cgroup_create(&w->cgroups, env->id, lim, &env->limits.cg, err)) < 0)
                return undo_cgroups(env, r);
        /* SEQPACKET keeps each request one message; ours is non-blocking so a stuck init cannot stall us. */
        if ((n_cg = brig_cgroup_open_procs(&env->limits.cg, cg_fds, err)) < 0)
                return undo_cgroups(env, n_cg);
        /* The init is moved into the environment's cgroups (by the helper, or on v1 by itself) before it
         * forks anything. */
        brig_jailctl_helper_argv(w->jail_helper, (size_t) n_cg, brig_cgroup_joins_self(&env->limits.cg),
                                 false, argv);
        for (int i = 0; i < n_cg; i++)
                from[BRIG_JAILCTL_FD_CGROUP + i] = cg_fds[i];
        if ((r = brig_child_watch_ready(&w->children, w->loop)) < 0) {
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                return undo_cgroups(env, brig_error_set(err, r, BRIG_KIND_INTERNAL, "watch SIGCHLD: %s",
                                                        uv_strerror(r)));
        }
        /* A pipe of ours rather than libuv's socketpair: the helper writes records, we read them. */
        if (pipe2(status, O_CLOEXEC) < 0) {
                r = brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "status pipe");
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                return undo_cgroups(env, r);
        }
        /* The init's end listens: brigd connects when calls need it (worker/env_control.h). */
        if ((r = brig__env_control_listen(env, &listener, err)) < 0) {
                (void) close(status[0]);
                (void) close(status[1]);
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                return undo_cgroups(env, r);
        }
        env->holder.start_error = (brig_error) BRIG_ERROR_INIT;
        env->holder.exited = env->holder.status_eof = false;
        env->holder.status = (brig_jail_status_reader){0};
        env->init_pid = 0;
        env->holder.ready_seen = false;
        (void) uv_pipe_init(w->loop, &env->holder.status_pipe, 0);
        (void) uv_timer_init(w->loop, &env->holder.start_timer);
        env->holder.status_pipe.data = env->holder.process.data = env->holder.start_timer.data = env;
        from[0] = from[1] = -1;
        from[2] = 2;
        from[BRIG_JAILCTL_FD_PLAN] = plan_fd;
        from[BRIG_JAILCTL_FD_STATUS] = status[1];
        from[BRIG_JAILCTL_FD_SECCOMP] = env->policy->seccomp_fd;
        from[BRIG_JAILCTL_FD_CONTROL] = listener;
        brig_handles_add(&env->holder.handles, 2);
        /* The handle owns the read end once open (uv_close() closes it). */
        if ((r = uv_pipe_open(&env->holder.status_pipe, status[0])) < 0)
                (void) close(status[0]);
        else
                r = spawn_helper(w->jail_helper, argv, from, BRIG_JAILCTL_FD_CGROUP + n_cg, &pid);
        (void) close(status[1]);
        (void) close(listener);
        for (int i = 0; i < n_cg; i++)
                (void) close(cg_fds[i]);
        if (r < 0) {
                hang_up(env);
                uv_close((uv_handle_t *) &env->holder.status_pipe, holder_closed_cb);
                uv_close((uv_handle_t *) &env->holder.start_timer, holder_closed_cb);
                return undo_cgroups(env, brig_error_set_errno(err, r, BRIG_KIND_SANDBOX,
                                                              "environment \"%s\": spawn holder", env->id));
        }
        brig_child_watch_add(&w->children, &env->holder.process, pid, holder_exit_cb);
        (void) uv_read_start((uv_stream_t *) &env->holder.status_pipe, holder_alloc_cb, holder_read_cb);
        brig__env_set_state(env, BRIG_ENV_STARTING);
        (void) uv_timer_start(&env->holder.start_timer, start_timer_cb, (uint64_t) w->start_timeout_s * 1000,
                              0);
        log_info("environment %s starting", env->id);
        return 0;
}

/* The environment is ready on disk (its directory, metadata and workspace quota, worker/env_disk.h) and,
 * once view_done, its memory view is current (worker/memory_view.h; policy memory.mount): the holder may
 * start. */
static void start_ready(brig_env *env, const brig_error *qerr, bool view_done) {
        brig_error err = BRIG_ERROR_INIT;

        env->disk.prepare.start_waiting = false;
        if (qerr)
                fire_waiters(env, qerr);
        else if (env->destroyed || env->w->stopping) {
                /* A set-up that ends after brig_envs_stop_all() must not start a holder nobody stops. */
                gone_error(env, &err);
                fire_waiters(env, &err);
        } else if (going_away(env)) {
                /* It stopped while being prepared: start anew once it has. */
                waiters_append(&env->holder.restart_waiters, env->holder.waiters);
                env->holder.waiters = NULL;
        } else if (env->state == BRIG_ENV_RUNNING) {
                /* Adopted from a spare: its jail runs already, though brigd may have stepped away from
                 * it; one that cannot be reached is restarted for its waiters. */
                int r = brig__env_control_ensure(env, &err);
                if (r == 0)
                        fire_waiters(env, NULL);
                else if (!brig__env_control_gone(r))
                        fire_waiters(env, &err);
                else {
                        waiters_append(&env->holder.restart_waiters, env->holder.waiters);
                        env->holder.waiters = NULL;
                        brig_env_stop(env);
                }
        } else if (!view_done) {
                /* Still starting for start(): no second preparation meanwhile. */
                env->disk.prepare.start_waiting = true;
                brig_memory_view_refresh(env, view_ready_cb);
        } else if (holder_start(env, &err) < 0)
                fire_waiters(env, &err);
}

static void view_ready_cb(brig_env *env, const brig_error *qerr) {
        start_ready(env, qerr, true);
}

static void ca_ready_cb(brig_env *env, const brig_error *qerr) {
        start_ready(env, qerr, false);
}

/* The environment is ready on disk (its directory, metadata and workspace quota, worker/env_disk.h): the
 * holder may start, once an environment with network.secrets has a new CA for its TLS interception. Fails
 * closed: without its CA the environment does not start. */
static void prepared_cb(brig_env *env, const brig_error *qerr, void *userdata) {
        brig_error err = BRIG_ERROR_INIT;

        (void) userdata;
        /* Only for a start that goes ahead (start_ready() decides the others): the jail is gone, so is its
         * proxy, and nothing uses the previous CA any more. */
        bool starts = !qerr && !env->destroyed && !env->w->stopping && !going_away(env) &&
                      env->state != BRIG_ENV_RUNNING;
        if (starts && take_current_policy(env, &err) < 0) {
                start_ready(env, &err, false);
                return;
        }
        if (starts && brig__proxy_ca_needed(env)) {
                if (brig__proxy_ca_make(env, ca_ready_cb, &err) < 0)
                        start_ready(env, &err, false);
                return;
        }
        if (starts) {
                brig_tls_ca_free(env->tls_ca);
                env->tls_ca = NULL;
        }
        start_ready(env, qerr, false);
}

void brig_env_ensure_running(brig_env *env, brig_env_ready_cb cb, void *userdata) {
        brig_error err = BRIG_ERROR_INIT;
        brig_env_waiter *wt;

        if (env->destroyed) {
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was destroyed",
                                      env->id);
                cb(env, &err, userdata);
                return;
        }
        /* A running environment adopted from a spare may still wait for its directory (worker/env_disk.h).
         */
        if (env->state == BRIG_ENV_RUNNING && brig__env_prepared(env)) {
                /* brigd stepped away from it while idle: a connect that fails finds its holder gone. */
                int r = brig__env_control_ensure(env, &err);
                if (brig__env_control_gone(r))
                        brig_env_ensure_restarted(env, cb, userdata);
                else
                        cb(env, r < 0 ? &err : NULL, userdata);
                return;
        }
        wt = calloc(1, sizeof(*wt));
        if (!wt) {
                (void) brig_error_set(&err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
                cb(env, &err, userdata);
                return;
        }
        wt->cb = cb;
        wt->userdata = userdata;
        if (going_away(env)) {
                wt->next = env->holder.restart_waiters;
                env->holder.restart_waiters = wt;
                return;
        }
        wt->next = env->holder.waiters;
        env->holder.waiters = wt;
        start(env);
}

void brig_env_ensure_restarted(brig_env *env, brig_env_ready_cb cb, void *userdata) {
        brig_env_waiter *wt;

        if (env->state == BRIG_ENV_STOPPED || env->destroyed) {
                brig_env_ensure_running(env, cb, userdata);
                return;
        }
        wt = calloc(1, sizeof(*wt));
        if (!wt) {
                brig_error err = BRIG_ERROR_INIT;
                (void) brig_error_set(&err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
                cb(env, &err, userdata);
                return;
        }
        brig_env_stop(env);
        /* Also when its holder has exited already: holder_gone() is still to come, and the restart waits
         * for its handles to close (holder_all_closed()). */
        env->holder.stopping = true;
        wt->cb = cb;
        wt->userdata = userdata;
        waiters_append(&env->holder.restart_waiters, wt);
}

void brig_env_stop(brig_env *env) {
        if (env->state == BRIG_ENV_STOPPED || env->holder.exited)
                return;
        /* The init exits when we hang up; the helper's death takes it too (PR_SET_PDEATHSIG), and the init's
         * death the whole pid namespace. */
        env->holder.stopping = true;
        hang_up(env);
        /* Not reaped yet (exited is set when it is): the pid is still the holder's. */
        if (env->holder.process.pid > 0)
                (void) kill(env->holder.process.pid, SIGKILL);
}

int brig_env_oom_kills(brig_env *env, uint64_t *ret) {
        return brig_cgroup_oom_kills(&env->limits.cg, ret);
}

void brig_env_calls_idle(brig_env *env) {
        brig_cgroup_oom_release(&env->limits.cg);
}
