/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "common/error.h"
#include "common/handles.h"
#include "sandbox/cgroup.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/audit_events.h"
#include "worker/child_watch.h"
#include "worker/env_disk.h"
#include "worker/env_quota.h"
#include "worker/policies.h"

/* Environments: named, persistent jails. Each has a directory under <state-dir>/environments/<id> holding
 * meta.json and the workspace, and, while running, a holder: a brig-jail whose init is the environment's
 * pid 1 and owns its namespaces (pid, mount with its /tmp, ipc, uts, net, cgroup, user). That init forks
 * every command of the environment on brigd's request (sandbox/jailctl.h), so calls share files, /tmp,
 * background processes and loopback, and cost a fork and an exec, not a jail. A holder dies with
 * the worker; after a restart the environment is started again, with its workspace, on first use.
 * The parts, each a file and a sub-struct of brig_env: the registry (env_registry.c: attach, detach, find,
 * names, slots), the on-disk store (env_disk.c: meta.json, preparation, quarantine, loading at start-up;
 * `disk`), the holder (env_holder.c: start, stop, waiters; `holder`), the spare pool (env_spares.c;
 * `spare`) and the limits (cgroups, workspace quota: env_quota.c; `limits`); env.c is the lifecycle core.
 * Loop thread only. */

typedef struct brig_worker brig_worker;
typedef struct brig_env brig_env;

typedef enum brig_env_state {
        BRIG_ENV_STOPPED,
        BRIG_ENV_STARTING,
        BRIG_ENV_RUNNING,
        _BRIG_ENV_STATE_MAX,
        _BRIG_ENV_STATE_INVALID = -22,
} brig_env_state;

#define BRIG_ENV_ID_MAX 64
/* Host ids for environments when brigd is root: base .. base + BRIG_ENV_SLOTS - 1 (slot 0: environments
 * created before per-environment ids, which keep the base id). */
#define BRIG_ENV_SLOTS 65536
/* Default bound on an environment's start (brigd --start-timeout): a jail builds in well under a second. */
#define BRIG_ENV_START_TIMEOUT_S 60

/* Called once the environment runs (err NULL) or could not be started. */
typedef void (*brig_env_ready_cb)(brig_env *env, const brig_error *err, void *userdata);

typedef struct brig_env_waiter {
        brig_env_ready_cb cb;
        void *userdata;
        struct brig_env_waiter *next;
} brig_env_waiter;

/* The holder (env_holder.c): the brig-jail process whose init is the environment's pid 1, from its spawn
 * until its handles are closed, and the calls waiting for it. */
typedef struct brig_env_holder {
        brig_child process; /* started with posix_spawn, reaped by the worker's child watch */
        uv_pipe_t status_pipe;
        uv_timer_t start_timer; /* a start that is not running by then fails (worker's start_timeout_ms) */
        brig_handles handles;   /* status_pipe, start_timer */
        bool exited, status_eof;
        brig_jail_status_reader status; /* read from status_pipe */
        bool ready_seen;                /* the init said "ready"; running once its pid is known too */
        brig_error start_error;
        brig_env_waiter *waiters;
        /* Asked to stop (idle, a failed adoption): until the process is gone and the handles are closed, a
         * new call cannot run in it, nor can it start again. Calls arriving then wait in restart_waiters,
         * and it starts anew for them once the handles are closed. */
        bool stopping;
        brig_env_waiter *restart_waiters;
        bool restarted; /* lost with a previous worker: say so on the next call */
        /* Its control connection on demand (worker/env_control.h). */
        char control_name[33];  /* its socket's name in the worker's control directory (random hex); "": none
                                 */
        bool reconnects;        /* the init takes brigd's next connection after a hang-up */
        bool control_counted;   /* env->control is open and counted in the worker's n_controls */
        uint64_t control_uses;  /* calls that asked for the connection */
        uint64_t control_heard; /* control_uses at the last idle check */
} brig_env_holder;

/* On disk (env_disk.c). */
typedef struct brig_env_disk {
        bool present;               /* its directory and metadata exist (else created on first use) */
        bool quarantined;           /* found without readable metadata: listed, never attached */
        char *quarantine_reason;    /* why its metadata could not be read */
        bool remove_pending;        /* destroyed: its directory goes once nothing writes into it any more */
        bool memory_remove_pending; /* destroyed: its own memory scope goes too (worker/memory.h) */
        bool forking; /* being built by a fork (worker/env_fork.h): its id is taken, nothing else sees it */
        brig_env_prepare prepare; /* its preparation (worker/env_disk.h) */
} brig_env_disk;

/* The spare pool (env_spares.c). */
typedef struct brig_env_spare {
        bool pooled;    /* built ahead, unlisted, for a new environment to adopt (id ".spare-...") */
        brig_env *next; /* pooled: the next in the pool (env_registry.h) */
        char *dir;      /* adopted from a spare: its directory until it has the environment's name */
        char *leftover; /* a spare's directory that could not take the name: removed once stopped */
} brig_env_spare;

/* Resource limits beyond the jail's rlimits. */
typedef struct brig_env_limits {
        brig_cgroup cg;       /* while running; mode NONE when rlimits are the only limits */
        brig_env_quota quota; /* how the workspace quota is enforced (worker/env_quota.h) */
        uint64_t ws_bytes;    /* workspace usage as last measured (policies with a quota only) */
        bool ws_measured;
        uint64_t ws_walked_at; /* uv_now() of the last walk of the workspace (worker/toolpool.c) */
} brig_env_limits;

struct brig_env {
        /* In the registry (env_registry.c). */
        brig_worker *w;
        brig_env *next;
        brig_env **pprev; /* what points at it in the worker's list (unlinking walks nothing), or NULL */
        brig_env *hnext;  /* in the index's hash bucket of its id */
        char id[BRIG_ENV_ID_MAX + 1];
        uid_t owner;
        unsigned slot;          /* as root: the environment's host uid/gid is the worker's base id + slot */
        brig_identity identity; /* host ids this environment's jail maps to */
        bool ephemeral;         /* unnamed: goes away with its last connection */
        const brig_policy_entry *policy; /* borrowed from the worker's policy cache */
        char *policy_key;                /* as named at creation (a name, or a path for admins) */
        char *dir, *workspace;
        int64_t created, last_used; /* unix seconds */
        int attached;               /* connections */

        /* Lifecycle (env.c): freed once destroyed and nothing refers to it any more. */
        brig_env_state state;
        bool destroyed;
        int holds;                /* work in flight that keeps a destroyed environment's memory */
        unsigned calls_in_flight; /* admitted calls running here (worker/admission.c) */

        brig_env_holder holder;
        brig_env_disk disk;
        brig_env_spare spare;
        brig_env_limits limits;

        /* While running, shared with the commands, the denial audit and the proxy. */
        pid_t init_pid;
        brig_jailctl *control; /* to the holder's init, the spawner of every command (sandbox/jailctl.h);
                                * running commands hold references too */
        struct brig_denials *denials; /* audited seccomp denials while running (worker/denials.h) */
        struct brig_proxy *proxy;     /* the network proxy while running, proxy mode only (worker/proxy.h) */
        /* network.secrets (worker/proxy_secrets.h): placeholders made at the first start and kept for the
         * environment's life in this brigd; values read again at each start. */
        struct brig_proxy_secrets *secrets;
        /* The CA of its TLS interception for those secrets, made anew at each start before the jail
         * (worker/proxy_ca.h); loop thread only. */
        struct brig_tls_ca *tls_ca;

        /* What calls leave behind. */
        brig_process_table processes; /* background processes (tools/process.h) */
        brig_repl_set repls;          /* interpreters of the repl tool, among processes (tools/repl.h) */
        struct wsjob *ws_queue;       /* file and history calls, the first one running (worker/toolpool.h) */
        struct brig_history *history; /* open on first use; touched only by the running ws_queue job */
        bool history_repack_wanted;   /* objects may have been written since the last pass (toolpool.h) */
};

/* Validates an environment id: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
int brig_env_id_check(const char *id, brig_error *err);

/* Loads the environments found on disk (start-up; blocking). Unnamed leftovers are removed. */
int brig_envs_load(brig_worker *w, brig_error *err);

/* Finds or creates the environment `id` (NULL: a fresh unnamed one) for a client with credentials peer.
 * An existing one is refused unless peer is its owner or root (-EACCES); policy_key (NULL: the worker's
 * default) must match the one it was created with. Creation is lazy: nothing is on disk until first use
 * (brig__env_prepare(), worker/env_disk.h).
 * The connection holds an attachment until brig_env_detach(). */
int brig_env_attach(brig_worker *w, const char *id, const char *policy_key, const struct ucred *peer,
                    brig_env **ret, brig_error *err);
void brig_env_detach(brig_env *env);

/* Makes sure the environment runs, then calls cb (possibly before returning). A start completes or fails
 * within the worker's start timeout, whatever the order of its helper's messages: cb is always called. */
void brig_env_ensure_running(brig_env *env, brig_env_ready_cb cb, void *userdata);

/* Like brig_env_ensure_running(), for a call that found the environment's init gone (handing it a command
 * failed) before the worker heard of it (the holder's exit and status EOF are still on their way): the
 * environment stops, if it has not yet, and cb is called once it has started again. */
void brig_env_ensure_restarted(brig_env *env, brig_env_ready_cb cb, void *userdata);

/* Out-of-memory kills in the environment so far; -EOPNOTSUPP without cgroups. */
int brig_env_oom_kills(brig_env *env, uint64_t *ret);
/* No call runs in the environment any more: it lets go of what only calls need (the OOM counter's fd). */
void brig_env_calls_idle(brig_env *env);

/* Stops the holder, killing everything in the environment; the workspace stays. */
void brig_env_stop(brig_env *env);
/* Stops it and removes its directory; connections still attached get errors from then on. */
void brig_env_destroy(brig_env *env);

brig_env *brig_env_find(brig_worker *w, const char *id);
/* A description for brig/environment.list and .info. New object or NULL. */
cJSON *brig_env_describe(const brig_env *env, bool detailed);
const char *brig_env_state_name(brig_env_state s);

/* Stops environments unused past their policy's idle_stop and deletes those unused past its retention
 * (audited). Called periodically by the worker. */
void brig_envs_sweep(brig_worker *w);

/* Starts spare environments of the default policy up to the number wanted (see brig_env_attach). */
void brig_spares_fill(brig_worker *w);

/* Stops every holder (worker shutdown). */
void brig_envs_stop_all(brig_worker *w);
/* Work on the thread pool for env starts and ends: a destroyed environment is freed only after. */
void brig__env_hold(brig_env *env);
void brig__env_release(brig_env *env);
/* The directory of an environment adopted from a spare took its name (err NULL), or could not
 * (env_spares.c). */
void brig__env_adopted(brig_env *env, const brig_error *err);
/* Frees the registry once the loop has ended (every handle closed). */
void brig_envs_free_all(brig_worker *w);

/* Internals of the environment's parts (env*.c). */
/* A new environment, registered (env_registry.h); NULL when out of memory. Nothing is on disk yet. */
brig_env *brig__env_new(brig_worker *w, const char *id, uid_t owner, const char *policy_key,
                        const brig_policy_entry *policy);
/* Frees a destroyed environment once nothing refers to it any more (and removes its directory once nothing
 * writes into it). */
void brig__env_maybe_free(brig_env *env);
/* Audits a state change of env (type: an environment.* event), with error when not NULL; spares are not
 * audited. */
void brig__env_audit(brig_env *env, brig_audit_type type, const char *error);
