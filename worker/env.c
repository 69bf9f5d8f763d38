/* SPDX-License-Identifier: MIT */
/* Environment registry and holders: creation on first use, meta.json on disk, the holder's start (a HOLD
 * plan run by brig-jail) and stop, and removal. See env.h for the model. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/audit_events.h"
#include "worker/cgreap.h"
#include "worker/denials.h"
#include "worker/proxy.h"
#include "worker/worker.h"
#include "worker/wstools.h"

#define META_MAX_BYTES 65536
#define SPARE_PREFIX ".spare-"
#define SPARE_DELAY_MS 20 /* after an adoption: the first call goes first */
#define SPARE_RETRY_S 60  /* after a spare failed to start */

static const char *const state_names[_BRIG_ENV_STATE_MAX] = {
        [BRIG_ENV_STOPPED] = "stopped",
        [BRIG_ENV_STARTING] = "starting",
        [BRIG_ENV_RUNNING] = "running",
};

const char *brig_env_state_name(brig_env_state s) {
        return s >= 0 && s < _BRIG_ENV_STATE_MAX ? state_names[s] : "invalid";
}

int brig_env_id_check(const char *id, brig_error *err) {
        size_t n = strlen(id);

        if (n == 0 || n > BRIG_ENV_ID_MAX || id[0] == '.' || id[0] == '-')
                goto bad;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                      (id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' || id[i] == '-'))
                        goto bad;
        return 0;
bad:
        return brig_error_set(
                err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                "brig/environment: expected 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -), "
                "got \"%.80s\"",
                id);
}

brig_env *brig_env_find(brig_worker *w, const char *id) {
        for (brig_env *e = w->envs; e; e = e->next)
                if (strcmp(e->id, id) == 0)
                        return e;
        return NULL;
}

static void env_free(brig_env *env) {
        brig_policies_release(&env->w->policies, env->policy);
        brig_wstools_free(env);
        brig_repl_set_free(&env->repls);
        brig_process_table_free(&env->processes);
        free(env->policy_key);
        free(env->quarantine_reason);
        free(env->spare_dir);
        free(env->spare_leftover);
        brig_jailctl_unref(env->control);
        free(env->dir);
        free(env->workspace);
        free(env);
}

static void env_unlink(brig_env *env) {
        for (brig_env **p = &env->w->envs; *p; p = &(*p)->next)
                if (*p == env) {
                        *p = env->next;
                        env->w->n_envs--;
                        return;
                }
}

static void remove_dir_async(brig_worker *w, const char *path);

/* A destroyed environment's directory goes once nothing can write into it any more: its processes are
 * gone with its holder, and no metadata, file or history work is in flight (a file created while the
 * removal runs would keep the directory, and a meta.json would bring the environment back at restart). */
static void maybe_remove(brig_env *env) {
        if (env->destroyed && env->remove_pending && brig_handles_none(&env->holder_handles) &&
            brig_handles_none(&env->repls.handles) && env->processes.running == 0 && env->holds == 0) {
                env->remove_pending = false;
                remove_dir_async(env->w, env->dir);
        }
}

/* Frees a destroyed environment once nothing refers to it any more. */
static void maybe_free(brig_env *env) {
        maybe_remove(env);
        if (env->destroyed && env->attached == 0 && brig_handles_none(&env->holder_handles) &&
            brig_handles_none(&env->repls.handles) && env->processes.running == 0 && env->holds == 0 &&
            !env->remove_pending)
                env_free(env);
}

/* The process table's hooks (tools/process.h). */
static void process_exited(const brig_process *p, const brig_exec_result *res, void *userdata) {
        brig_env *env = userdata;

        (void) brig__worker_audit(env->w, brig_audit_process_exit(env->id, p->id, res, p->total));
}

static void processes_idle(void *userdata) {
        maybe_free(userdata);
}

void brig__env_hold(brig_env *env) {
        env->holds++;
}

void brig__env_release(brig_env *env) {
        env->holds--;
        maybe_free(env);
}

/* The smallest slot no other environment holds (slot 0 is the shared id of older environments). */
static unsigned free_slot(const brig_worker *w) {
        for (unsigned s = 1; s < BRIG_ENV_SLOTS; s++) {
                bool used = false;
                for (const brig_env *e = w->envs; e && !used; e = e->next)
                        used = e->slot == s;
                if (!used)
                        return s;
        }
        return 0;
}

static void set_identity(brig_env *env) {
        env->identity = env->w->identity;
        if (env->identity.root) {
                env->identity.uid_outside += env->slot;
                env->identity.gid_outside += env->slot;
        }
}

static void holder_all_closed(void *userdata);

static brig_env *env_new(brig_worker *w, const char *id, uid_t owner, const char *policy_key,
                         const brig_policy_entry *policy) {
        brig_env *env = calloc(1, sizeof(*env));

        if (!env)
                return NULL;
        env->w = w;
        env->owner = owner;
        env->policy = policy;
        brig_policies_hold(policy);
        env->cg.oom_fd = -1;
        brig_handles_init(&env->holder_handles, holder_all_closed, env);
        (void) snprintf(env->id, sizeof(env->id), "%s", id);
        brig_process_hooks hooks = {.exited = process_exited, .idle = processes_idle, .userdata = env};
        brig_repl_set_init(&env->repls, &env->processes);
        if (!(env->policy_key = strdup(policy_key)) || asprintf(&env->dir, "%s/%s", w->envs_dir, id) < 0 ||
            asprintf(&env->workspace, "%s/%s/workspace", w->envs_dir, id) < 0 ||
            brig_process_table_init(&env->processes, env->id, env->dir, &hooks) < 0) {
                env_free(env);
                return NULL;
        }
        env->created = env->last_used = time(NULL);
        env->slot = free_slot(w);
        set_identity(env);
        env->next = w->envs;
        w->envs = env;
        w->n_envs++;
        return env;
}

/* --- on disk ------------------------------------------------------------------------------------------ */

typedef struct rm_work {
        uv_work_t req;
        char *path;
        int r;
} rm_work;

static void rm_work_cb(uv_work_t *req) {
        rm_work *rw = (rm_work *) req;
        rw->r = brig__env_rm_dir(rw->path);
}

static void rm_after_cb(uv_work_t *req, int status) {
        rm_work *rw = (rm_work *) req;
        if (status == 0 && rw->r < 0)
                (void) log_warning_errno(rw->r, "remove '%s': %m, ignoring", rw->path);
        free(rw->path);
        free(rw);
}

/* Removal may be large (a whole workspace): on the thread pool. */
static void remove_dir_async(brig_worker *w, const char *path) {
        rm_work *rw = calloc(1, sizeof(*rw));
        if (!rw || !(rw->path = strdup(path))) {
                free(rw);
                return;
        }
        if (uv_queue_work(w->loop, &rw->req, rm_work_cb, rm_after_cb) < 0) {
                free(rw->path);
                free(rw);
        }
}

/* A directory that looks like an environment but whose metadata cannot be read (a full disk when it was
 * written, damage, a crash from before metadata was written first) belongs to nobody we can name: it is
 * listed (to root: owner 0) as "quarantined" and refused to every attach, whatever the policy or owner, so
 * its workspace is never handed to a new environment of the same name. `brig env rm` removes it. */
static int quarantine(brig_worker *w, const char *id, const char *why) {
        brig_env *env = env_new(w, id, 0, "", NULL);
        struct stat st;

        if (!env || !(env->quarantine_reason = strdup(why)))
                return -ENOMEM;
        log_warning("environment directory '%s': unreadable metadata (%s): quarantined, never adopted; "
                    "inspect it and remove it with `brig env rm %s`",
                    env->dir, why, id);
        env->quarantined = true;
        env->on_disk = true;
        env->slot = 0;
        set_identity(env);
        if (stat(env->dir, &st) == 0)
                env->created = env->last_used = st.st_mtime;
        return 0;
}

int brig_envs_load(brig_worker *w, brig_error *err) {
        DIR *d = opendir(w->envs_dir);
        struct dirent *de;

        if (!d)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", w->envs_dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *meta = NULL, *dir = NULL, *text = NULL;
                _cleanup_json_ cJSON *o = NULL;
                brig_error e2 = BRIG_ERROR_INIT;
                const brig_policy_entry *policy = NULL;
                const char *policy_key = NULL;
                uint64_t owner = 0, created = 0, last = 0, slot = 0;
                bool ephemeral = false;

                if (strncmp(de->d_name, SPARE_PREFIX, strlen(SPARE_PREFIX)) == 0) {
                        _cleanup_free_ char *leftover = NULL;
                        if (asprintf(&leftover, "%s/%s", w->envs_dir, de->d_name) >= 0)
                                (void) brig__env_rm_dir(leftover);
                        continue;
                }
                if (brig_env_id_check(de->d_name, NULL) < 0)
                        continue;
                if (asprintf(&dir, "%s/%s", w->envs_dir, de->d_name) < 0 ||
                    asprintf(&meta, "%s/meta.json", dir) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                text = malloc(META_MAX_BYTES + 1);
                int fd = open(meta, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                ssize_t n = fd >= 0 && text ? read(fd, text, META_MAX_BYTES) : -1;
                if (fd >= 0)
                        close(fd);
                if (n <= 0 || brig_json_parse(text, (size_t) n, &o, &e2) < 0 ||
                    brig_json_get_u64(o, "", "owner_uid", UINT32_MAX - 1, &owner, &e2) < 0 ||
                    brig_json_get_string(o, "", "policy", true, &policy_key, &e2) < 0 ||
                    brig_json_get_bool(o, "", "ephemeral", &ephemeral, &e2) < 0 ||
                    brig_json_get_u64(o, "", "created", UINT64_C(1) << 52, &created, &e2) < 0 ||
                    brig_json_get_u64(o, "", "last_used", UINT64_C(1) << 52, &last, &e2) < 0 ||
                    brig_json_get_u64(o, "", "slot", BRIG_ENV_SLOTS - 1, &slot, &e2) < 0) {
                        if (quarantine(w, de->d_name, e2.msg[0] ? e2.msg : "missing") < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        continue;
                }
                if (ephemeral) {
                        /* An unnamed environment outlived its worker: nobody can name it to come back. */
                        (void) brig__env_rm_dir(dir);
                        continue;
                }
                if (brig_policies_get(&w->policies, policy_key, true, &policy, &e2) < 0) {
                        log_warning("environment '%s': %s; it stays on disk but cannot start", de->d_name,
                                    e2.msg);
                        policy = NULL;
                }
                brig_env *env = env_new(w, de->d_name, (uid_t) owner, policy_key, policy);
                if (!env) {
                        closedir(d);
                        return -ENOMEM;
                }
                env->created = (int64_t) created;
                env->last_used = (int64_t) last;
                /* Its files belong to the id it was created with. */
                env->slot = (unsigned) slot;
                set_identity(env);
                env->on_disk = true;
                env->restarted = true;
                /* Its processes ended with the previous worker; their descriptions and output remain. */
                int r = brig_process_table_load(&env->processes);
                if (r < 0) {
                        closedir(d);
                        return r;
                }
        }
        closedir(d);
        return 0;
}

/* --- attach ------------------------------------------------------------------------------------------- */

/* --- spares ------------------------------------------------------------------------------------------ */

/* Building an environment's jail costs several plain fork+execs (namespaces, a network namespace, mounts).
 * brigd keeps `spares` environments of its default policy built ahead, unnamed and unlisted; a new
 * environment of that policy adopts one: its directory is renamed (the jail's workspace bind follows the
 * directory, not its name), and so are its cgroups where the hierarchy allows (v1; v2 keeps the spare's
 * name), and a replacement is built shortly after. */

static void audit_env(brig_env *env, brig_audit_type type, const char *error);

static void spare_ready_cb(brig_env *env, const brig_error *err, void *userdata) {
        (void) userdata;
        if (!err || !env->spare)
                return;
        log_warning("spare environment: %s; retrying in %d s", err->msg, SPARE_RETRY_S);
        env->w->spare_failed_at = time(NULL);
        brig_env_destroy(env);
}

void brig_spares_fill(brig_worker *w) {
        unsigned have = 0;

        if (w->stopping || !w->default_policy ||
            (w->spare_failed_at && time(NULL) - w->spare_failed_at < SPARE_RETRY_S))
                return;
        for (const brig_env *e = w->envs; e; e = e->next)
                have += e->spare && !e->destroyed;
        while (have < w->spares_wanted && w->n_envs < BRIG_MAX_ENVIRONMENTS) {
                uint8_t rnd[6];
                char id[32];
                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return;
                (void) snprintf(id, sizeof(id), SPARE_PREFIX "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                                rnd[2], rnd[3], rnd[4], rnd[5]);
                brig_env *env = env_new(w, id, getuid(), w->default_policy->name, w->default_policy);
                if (!env)
                        return;
                env->spare = env->ephemeral = true;
                have++;
                brig_env_ensure_running(env, spare_ready_cb, NULL);
        }
}

static void spare_timer_cb(uv_timer_t *t) {
        brig_spares_fill(t->data);
}

/* A running spare of the policy becomes the environment `id` at once; its directory takes the new name on
 * the thread pool once the new metadata is in it, durably (brig__env_prepare(), worker/env_disk.c), and
 * every call waits for that as for a new environment's directory. */
static brig_env *adopt_spare(brig_worker *w, const char *id, bool ephemeral, uid_t owner,
                             const char *policy_key, const brig_policy_entry *policy) {
        _cleanup_free_ char *dir = NULL, *workspace = NULL, *key = NULL;
        brig_env *env;

        for (env = w->envs; env; env = env->next)
                if (env->spare && !env->destroyed && env->state == BRIG_ENV_RUNNING &&
                    env->policy == policy && !env->prepare.running)
                        break;
        if (!env || asprintf(&dir, "%s/%s", w->envs_dir, id) < 0 ||
            asprintf(&workspace, "%s/workspace", dir) < 0 || !(key = strdup(policy_key)) ||
            brig_process_table_set_dir(&env->processes, dir) < 0)
                return NULL;
        log_info("environment %s starts from spare %s", id, env->id);
        (void) snprintf(env->id, sizeof(env->id), "%s", id);
        free(env->workspace);
        free(env->policy_key);
        env->spare_dir = env->dir;
        env->dir = TAKE_PTR(dir);
        env->workspace = TAKE_PTR(workspace);
        env->policy_key = TAKE_PTR(key);
        env->on_disk = false;
        env->owner = owner;
        env->spare = false;
        env->ephemeral = ephemeral;
        env->created = env->last_used = time(NULL);
        if (!uv_is_closing((uv_handle_t *) &w->spare_timer))
                (void) uv_timer_start(&w->spare_timer, spare_timer_cb, SPARE_DELAY_MS, 0);
        return env;
}

/* Removes the directory of a spare whose adoption failed once its jail is gone. */
static void spare_dir_gone(brig_env *env) {
        if (!env->spare_leftover || env->state != BRIG_ENV_STOPPED)
                return;
        remove_dir_async(env->w, env->spare_leftover);
        free(env->spare_leftover);
        env->spare_leftover = NULL;
}

void brig__env_adopted(brig_env *env, const brig_error *err) {
        if (err) {
                /* The spare's jail goes with its directory; the next call creates the environment anew. */
                log_warning("environment %s from spare '%s': %s", env->id, env->spare_dir, err->msg);
                free(env->spare_leftover);
                env->spare_leftover = TAKE_PTR(env->spare_dir);
                brig_env_stop(env);
                spare_dir_gone(env);
                return;
        }
        free(env->spare_dir);
        env->spare_dir = NULL;
        brig_cgroup_rename(&env->cg, env->id);
        if (!env->destroyed)
                audit_env(env, BRIG_AUDIT_ENVIRONMENT_START, NULL);
}

int brig_env_attach(brig_worker *w, const char *id, const char *policy_key, const struct ucred *peer,
                    brig_env **ret, brig_error *err) {
        const brig_policy_entry *policy = NULL;
        char fresh[32];
        brig_env *env;
        int r;

        if (id && (r = brig_env_id_check(id, err)) < 0)
                return r;
        if (id && (env = brig_env_find(w, id))) {
                if (env->quarantined)
                        return brig__env_quarantined_error(env, err);
                if (peer->uid != env->owner && peer->uid != 0)
                        return brig_error_set(err, -EACCES, BRIG_KIND_DENIED,
                                              "environment \"%s\" belongs to another user", id);
                if (policy_key && strcmp(policy_key, env->policy_key) != 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                              "environment \"%s\" runs policy \"%.100s\", not \"%.100s\"",
                                              id, env->policy_key, policy_key);
                env->attached++;
                env->last_used = time(NULL);
                *ret = env;
                return 0;
        }
        if (w->n_envs >= BRIG_MAX_ENVIRONMENTS)
                return brig_error_set(err, -ENOSPC, BRIG_KIND_LIMIT, "more than %d environments",
                                      BRIG_MAX_ENVIRONMENTS);
        bool admin = peer->uid == 0 || brig__worker_is_admin(w, peer->uid);
        if (!policy_key)
                policy = w->default_policy;
        else if ((r = brig_policies_get(&w->policies, policy_key, admin, &policy, err)) < 0)
                return r;
        if (!id) {
                uint8_t rnd[8];
                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "getrandom");
                (void) snprintf(fresh, sizeof(fresh), "env-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                                rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        }
        env = adopt_spare(w, id ? id : fresh, !id, peer->uid, policy_key ? policy_key : policy->name,
                          policy);
        if (!env)
                env = env_new(w, id ? id : fresh, peer->uid, policy_key ? policy_key : policy->name, policy);
        if (!env)
                return -ENOMEM;
        env->ephemeral = !id;
        env->attached = 1;
        *ret = env;
        return 0;
}

void brig_env_detach(brig_env *env) {
        env->attached--;
        if (env->destroyed) {
                maybe_free(env);
                return;
        }
        env->last_used = time(NULL);
        if (env->attached == 0 && env->ephemeral)
                brig_env_destroy(env);
        else if (env->on_disk)
                (void) brig__env_meta_update(env, NULL);
}

/* --- the holder --------------------------------------------------------------------------------------- */

static void fire_waiters(brig_env *env, const brig_error *err) {
        brig_env_waiter *list = env->waiters;

        env->waiters = NULL;
        while (list) {
                brig_env_waiter *next = list->next;
                list->cb(env, err, list->userdata);
                free(list);
                list = next;
        }
}

static void prepared_cb(brig_env *env, const brig_error *qerr, void *userdata);

static void free_waiters(brig_env_waiter *list, brig_env *env, const brig_error *err) {
        while (list) {
                brig_env_waiter *next = list->next;
                if (env)
                        list->cb(env, err, list->userdata);
                free(list);
                list = next;
        }
}

/* The last holder handle is closed: calls that came while it stopped get a new start (or, when the
 * environment or the worker is going away, an answer saying so). */
static void restart_after_stop(brig_env *env) {
        brig_env_waiter *list = env->restart_waiters, **tail = &env->waiters;
        brig_error err = BRIG_ERROR_INIT;

        if (!list)
                return;
        env->restart_waiters = NULL;
        if (env->destroyed || env->w->stopping) {
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was %s",
                                      env->id, env->destroyed ? "destroyed" : "stopped with the worker");
                free_waiters(list, env, &err);
                return;
        }
        while (*tail)
                tail = &(*tail)->next;
        *tail = list;
        if (env->state == BRIG_ENV_STARTING || env->prepare.start_waiting)
                return;
        env->prepare.start_waiting = true;
        brig__env_prepare(env, prepared_cb, NULL);
}

/* The holder's handles are closed: it may start again, and a destroyed environment may go. */
static void holder_all_closed(void *userdata) {
        brig_env *env = userdata;

        env->stopping = false;
        /* The restart's callbacks must not free env under us. */
        brig__env_hold(env);
        restart_after_stop(env);
        brig__env_release(env);
}

BRIG_HANDLES_CLOSED_CB(holder_closed_cb, brig_env, holder_handles)

static void audit_env(brig_env *env, brig_audit_type type, const char *error) {
        cJSON *ev;

        /* A spare becomes an environment, and is audited as one, when it is adopted. */
        if (env->spare)
                return;
        ev = brig_audit_environment(type, env->id, env->policy_key, env->owner, env->init_pid);
        brig_audit_set_error(ev, error);
        (void) brig__worker_audit(env->w, ev);
}

/* The init exits when we hang up; commands still running keep their references, and their KILLs then fail
 * cleanly (-ESHUTDOWN). */
static void hang_up(brig_env *env) {
        brig_jailctl_hangup(env->control);
        env->control = brig_jailctl_unref(env->control);
}

static void holder_gone(brig_env *env) {
        brig_error err = BRIG_ERROR_INIT;

        if (!env->holder_exited || !env->status_eof)
                return;
        brig__denials_stop(env);
        brig__proxy_stop(env);
        audit_env(env, BRIG_AUDIT_ENVIRONMENT_STOP, env->start_error.code ? env->start_error.msg : NULL);
        hang_up(env);
        env->init_pid = 0;
        env->state = BRIG_ENV_STOPPED;
        brig__cgroup_release(env->w, &env->cg);
        uv_close((uv_handle_t *) &env->holder, holder_closed_cb);
        uv_close((uv_handle_t *) &env->holder_status, holder_closed_cb);
        uv_close((uv_handle_t *) &env->start_timer, holder_closed_cb);
        if (env->waiters) {
                if (env->start_error.code)
                        err = env->start_error;
                else
                        (void) brig_error_set(&err, -ECHILD, BRIG_KIND_SANDBOX, "environment \"%s\" stopped",
                                              env->id);
                fire_waiters(env, &err);
        }
        log_info("environment %s stopped", env->id);
        spare_dir_gone(env);
        /* Not built for anyone yet: nothing to keep. */
        if (env->spare && !env->destroyed)
                brig_env_destroy(env);
}

static void holder_exit_cb(uv_process_t *p, int64_t status, int sig) {
        brig_env *env = p->data;
        (void) status;
        (void) sig;
        env->holder_exited = true;
        holder_gone(env);
}

/* The init sent its descriptors before "ready": the proxy's listening socket (proxy mode) and its seccomp
 * listener (audited denials). None waits when the policy asks for neither. A message that cannot be read
 * whole (MSG_CTRUNC: we had no free descriptor for what it carried) fails the start: an environment never
 * runs without the listener or proxy its policy asked for. */
static int init_messages(brig_env *env, brig_error *err) {
        for (int i = 0; i < 4 && brig_jailctl_is_open(env->control); i++) {
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
                } else if (m.op == BRIG_JAILCTL_PROXY && (n_fds == 1 || n_fds == 2))
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
        if (!env->start_error.code)
                env->start_error = *err;
        (void) uv_timer_stop(&env->start_timer);
        fire_waiters(env, &env->start_error);
        brig_env_stop(env);
}

/* Running once both the holder's pid and the init's "ready" arrived, in either order. */
static void maybe_running(brig_env *env) {
        brig_error err = BRIG_ERROR_INIT;

        if (!env->ready_seen || env->init_pid <= 0 || env->state != BRIG_ENV_STARTING ||
            env->start_error.code || env->holder_exited)
                return;
        if (init_messages(env, &err) < 0) {
                start_failed(env, &err);
                return;
        }
        (void) uv_timer_stop(&env->start_timer);
        env->state = BRIG_ENV_RUNNING;
        log_info("environment %s running (init pid %d)", env->id, env->init_pid);
        audit_env(env, BRIG_AUDIT_ENVIRONMENT_START, NULL);
        fire_waiters(env, NULL);
}

static void start_timer_cb(uv_timer_t *t) {
        brig_env *env = t->data;
        brig_error err = BRIG_ERROR_INIT;

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
        else if (st->outcome == BRIG_JAIL_ERROR && !env->start_error.code)
                (void) brig_jail_status_to_error(st, &env->start_error);
        else if (st->outcome == BRIG_JAIL_READY) {
                env->ready_seen = true;
                maybe_running(env);
        }
}

static void holder_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        brig_env *env = h->data;
        (void) suggested;
        char *base;
        size_t len;

        brig_jail_status_reader_space(&env->status, &base, &len);
        *buf = uv_buf_init(base, (unsigned) len);
}

static void holder_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        brig_env *env = s->data;
        (void) buf;

        if (n < 0) {
                (void) uv_read_stop(s);
                env->status_eof = true;
                holder_gone(env);
                return;
        }
        brig_jail_status_reader_feed(&env->status, (size_t) n, holder_record_cb, env);
}

/* A start that failed after creating the environment's cgroups removes them; returns r. */
static int undo_cgroups(brig_env *env, int r) {
        brig__cgroup_release(env->w, &env->cg);
        return r;
}

_Static_assert(_BRIG_CG_MAX <= BRIG_JAILCTL_MAX_CGROUP_FDS, "the helper takes every cgroup");

static int holder_start(brig_env *env, brig_error *err) {
        brig_worker *w = env->w;
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        _cleanup_close_ int plan_fd = -1;
        char *argv[BRIG_JAILCTL_ARGV_MAX];
        int pair[2], cg_fds[_BRIG_CG_MAX], n_cg = 0;
        char *envp[] = {NULL};
        uv_stdio_container_t stdio[BRIG_JAILCTL_FD_CGROUP + _BRIG_CG_MAX];
        uv_process_options_t opts = {0};
        int r;

        /* A (re)start takes the policy served under the environment's key today: after a reload, the new
         * one; after its file was removed, none. */
        const brig_policy_entry *now = brig_policies_find(&w->policies, env->policy_key);
        if (!now)
                return brig_error_set(err, -ENOENT, BRIG_KIND_POLICY,
                                      "environment \"%s\": its policy \"%.100s\" is no longer available",
                                      env->id, env->policy_key);
        if (now != env->policy) {
                brig_policies_hold(now);
                brig_policies_release(&w->policies, env->policy);
                env->policy = now;
        }
        /* Only after brig__env_prepare(): its directory and workspace exist. */
        if (!env->on_disk)
                return brig_error_set(err, -ENOENT, BRIG_KIND_INTERNAL, "environment \"%s\" is not on disk",
                                      env->id);
        const brig_limits *lim = &env->policy->policy->limits;
        if (lim->cgroups == BRIG_CGROUP_REQUIRED && w->cgroups.mode == BRIG_CGROUP_NONE)
                return brig_error_set(err, -EOPNOTSUPP, BRIG_KIND_SANDBOX,
                                      "environment \"%s\": its policy requires cgroup limits, but %s",
                                      env->id, w->cgroups.why);
        brig_plan_request req = {.mode = BRIG_PLAN_HOLD, .workspace = env->workspace};
        if ((r = brig_plan_build(env->policy->policy, &req, &env->identity, &plan, err)) < 0)
                return r;
        if ((r = brig_jailctl_plan_memfd(plan, &plan_fd, err)) < 0)
                return r;

        /* Last before the spawn, and removed again if it fails: the next start creates it anew. */
        env->cg = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
        if (lim->cgroups != BRIG_CGROUP_OFF && w->cgroups.mode != BRIG_CGROUP_NONE &&
            (r = brig_cgroup_create(&w->cgroups, env->id, lim, &env->cg, err)) < 0)
                return undo_cgroups(env, r);
        /* SEQPACKET keeps each request one message; ours is non-blocking so a stuck init cannot stall us. */
        if ((n_cg = brig_cgroup_open_procs(&env->cg, cg_fds, err)) < 0)
                return undo_cgroups(env, n_cg);
        /* The helper joins the environment's cgroups itself, before it forks the init. */
        brig_jailctl_helper_argv(w->jail_helper, (size_t) n_cg, argv);
        for (int i = 0; i < n_cg; i++)
                stdio[BRIG_JAILCTL_FD_CGROUP + i] =
                        (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = cg_fds[i]};
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
                r = brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "control socket");
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                return undo_cgroups(env, r);
        }
        (void) fcntl(pair[0], F_SETFL, O_NONBLOCK);
        if ((r = brig_jailctl_new(pair[0], &env->control)) < 0) {
                (void) close(pair[1]);
                for (int i = 0; i < n_cg; i++)
                        (void) close(cg_fds[i]);
                return undo_cgroups(env, brig_error_set(err, r, BRIG_KIND_INTERNAL, "out of memory"));
        }
        env->start_error = (brig_error) BRIG_ERROR_INIT;
        env->holder_exited = env->status_eof = false;
        env->status = (brig_jail_status_reader){0};
        env->init_pid = 0;
        env->ready_seen = false;
        (void) uv_pipe_init(w->loop, &env->holder_status, 0);
        (void) uv_timer_init(w->loop, &env->start_timer);
        env->holder_status.data = env->holder.data = env->start_timer.data = env;
        stdio[0] = (uv_stdio_container_t){.flags = UV_IGNORE};
        stdio[1] = (uv_stdio_container_t){.flags = UV_IGNORE};
        stdio[2] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = 2};
        stdio[BRIG_JAILCTL_FD_PLAN] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = plan_fd};
        stdio[BRIG_JAILCTL_FD_STATUS] =
                (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                       .data.stream = (uv_stream_t *) &env->holder_status};
        stdio[BRIG_JAILCTL_FD_SECCOMP] =
                (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = env->policy->seccomp_fd};
        stdio[BRIG_JAILCTL_FD_CONTROL] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = pair[1]};
        opts.file = w->jail_helper;
        opts.args = argv;
        opts.env = envp;
        opts.stdio = stdio;
        opts.stdio_count = BRIG_JAILCTL_FD_CGROUP + n_cg;
        opts.exit_cb = holder_exit_cb;
        opts.flags = UV_PROCESS_DETACHED;
        brig_handles_add(&env->holder_handles, 3);
        r = uv_spawn(w->loop, &env->holder, &opts);
        (void) close(pair[1]);
        for (int i = 0; i < n_cg; i++)
                (void) close(cg_fds[i]);
        if (r < 0) {
                hang_up(env);
                uv_close((uv_handle_t *) &env->holder, holder_closed_cb);
                uv_close((uv_handle_t *) &env->holder_status, holder_closed_cb);
                uv_close((uv_handle_t *) &env->start_timer, holder_closed_cb);
                return undo_cgroups(env, brig_error_set(err, r, BRIG_KIND_SANDBOX,
                                                        "environment \"%s\": spawn holder: %s", env->id,
                                                        uv_strerror(r)));
        }
        (void) uv_read_start((uv_stream_t *) &env->holder_status, holder_alloc_cb, holder_read_cb);
        env->state = BRIG_ENV_STARTING;
        (void) uv_timer_start(&env->start_timer, start_timer_cb, (uint64_t) w->start_timeout_s * 1000, 0);
        log_info("environment %s starting", env->id);
        return 0;
}

/* The environment is ready on disk (its directory, metadata and workspace quota, worker/env_disk.h): the
 * holder may start. */
static void prepared_cb(brig_env *env, const brig_error *qerr, void *userdata) {
        brig_error err = BRIG_ERROR_INIT;

        (void) userdata;
        env->prepare.start_waiting = false;
        if (qerr)
                fire_waiters(env, qerr);
        else if (env->destroyed || env->w->stopping) {
                /* A set-up that ends after brig_envs_stop_all() must not start a holder nobody stops. */
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was %s",
                                      env->id, env->destroyed ? "destroyed" : "stopped with the worker");
                fire_waiters(env, &err);
        } else if (env->stopping ||
                   (env->state == BRIG_ENV_STOPPED && !brig_handles_none(&env->holder_handles))) {
                /* It stopped while being prepared: start anew once it has. */
                brig_env_waiter **tail = &env->restart_waiters;
                while (*tail)
                        tail = &(*tail)->next;
                *tail = env->waiters;
                env->waiters = NULL;
        } else if (env->state == BRIG_ENV_RUNNING)
                /* Adopted from a spare: its jail runs already. */
                fire_waiters(env, NULL);
        else if (holder_start(env, &err) < 0)
                fire_waiters(env, &err);
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
                cb(env, NULL, userdata);
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
        if (env->stopping || (env->state == BRIG_ENV_STOPPED && !brig_handles_none(&env->holder_handles))) {
                /* Its holder is still going away: nothing can run in it, nor can it start yet. */
                wt->next = env->restart_waiters;
                env->restart_waiters = wt;
                return;
        }
        wt->next = env->waiters;
        env->waiters = wt;
        if (env->state == BRIG_ENV_STARTING || env->prepare.start_waiting)
                return;
        env->prepare.start_waiting = true;
        brig__env_prepare(env, prepared_cb, NULL);
}

void brig_env_stop(brig_env *env) {
        if (env->state == BRIG_ENV_STOPPED || env->holder_exited)
                return;
        /* The init exits when we hang up; the helper's death takes it too (PR_SET_PDEATHSIG), and the init's
         * death the whole pid namespace. */
        env->stopping = true;
        hang_up(env);
        (void) uv_process_kill(&env->holder, SIGKILL);
}

void brig_env_destroy(brig_env *env) {
        if (env->destroyed)
                return;
        log_info("environment %s destroyed", env->id);
        brig_env_stop(env);
        env->destroyed = true;
        env->processes.dir_removed = true;
        brig_repl_set_close(&env->repls);
        env_unlink(env);
        env->remove_pending = env->on_disk;
        maybe_free(env);
}

int brig_env_oom_kills(brig_env *env, uint64_t *ret) {
        return brig_cgroup_oom_kills(&env->cg, ret);
}

void brig_envs_sweep(brig_worker *w) {
        int64_t now = time(NULL);

        brig_spares_fill(w);
        for (brig_env *e = w->envs, *next; e; e = next) {
                next = e->next;
                if (e->attached > 0 || !e->policy || e->spare)
                        continue;
                int64_t unused_ms = (now - e->last_used) * 1000;
                const brig_policy *p = e->policy->policy;
                if (unused_ms >= (int64_t) p->environment.retention_ms) {
                        audit_env(e, BRIG_AUDIT_ENVIRONMENT_EXPIRED, NULL);
                        brig_env_destroy(e);
                } else if (e->state == BRIG_ENV_RUNNING &&
                           unused_ms >= (int64_t) p->environment.idle_stop_ms) {
                        audit_env(e, BRIG_AUDIT_ENVIRONMENT_IDLE_STOP, NULL);
                        log_info("environment %s idle: stopping it (workspace kept)", e->id);
                        brig_env_stop(e);
                }
        }
}

void brig_envs_stop_all(brig_worker *w) {
        for (brig_env *e = w->envs; e; e = e->next) {
                brig_env_stop(e);
                brig_repl_set_close(&e->repls);
        }
}

void brig_envs_free_all(brig_worker *w) {
        for (brig_env *e = w->envs, *next; e; e = next) {
                next = e->next;
                free_waiters(e->waiters, NULL, NULL);
                free_waiters(e->restart_waiters, NULL, NULL);
                brig__env_prepare_free(e);
                env_free(e);
        }
        w->envs = NULL;
        w->n_envs = 0;
}

cJSON *brig_env_describe(const brig_env *env, bool detailed) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddStringToObject(o, "id", env->id) &&
                  cJSON_AddNumberToObject(o, "owner_uid", env->owner) &&
                  cJSON_AddStringToObject(o, "policy", env->policy_key) &&
                  cJSON_AddStringToObject(
                          o, "state", env->quarantined ? "quarantined" : brig_env_state_name(env->state)) &&
                  (!env->quarantined ||
                   cJSON_AddStringToObject(o, "quarantine_reason", env->quarantine_reason)) &&
                  cJSON_AddBoolToObject(o, "ephemeral", env->ephemeral) &&
                  cJSON_AddNumberToObject(o, "created", (double) env->created) &&
                  cJSON_AddNumberToObject(o, "last_used", (double) env->last_used) &&
                  cJSON_AddNumberToObject(o, "connections", env->attached);
        if (ok && detailed) {
                const brig_identity *id = &env->identity;
                ok = cJSON_AddStringToObject(o, "workspace", env->workspace) &&
                     cJSON_AddNumberToObject(o, "jail_uid", id->uid_outside) &&
                     (env->init_pid > 0 ? cJSON_AddNumberToObject(o, "init_pid", env->init_pid)
                                        : cJSON_AddNullToObject(o, "init_pid")) &&
                     cJSON_AddStringToObject(o, "limits",
                                             env->cg.mode == BRIG_CGROUP_V2   ? "cgroup v2 + rlimits"
                                             : env->cg.mode == BRIG_CGROUP_V1 ? "cgroup v1 + rlimits"
                                                                              : "rlimits") &&
                     (env->cg.mode == BRIG_CGROUP_NONE ||
                      (cJSON_AddStringToObject(o, "cgroup_memory", env->cg.path[BRIG_CG_MEMORY]) &&
                       cJSON_AddStringToObject(o, "cgroup_pids", env->cg.path[BRIG_CG_PIDS]) &&
                       cJSON_AddStringToObject(o, "cgroup_cpu", env->cg.path[BRIG_CG_CPU]))) &&
                     (env->cg.mode != BRIG_CGROUP_NONE || !env->w->cgroups.why[0] ||
                      cJSON_AddStringToObject(o, "cgroups_unavailable", env->w->cgroups.why)) &&
                     (!env->policy ||
                      (cJSON_AddNumberToObject(o, "idle_stop_ms",
                                               (double) env->policy->policy->environment.idle_stop_ms) &&
                       cJSON_AddNumberToObject(o, "retention_ms",
                                               (double) env->policy->policy->environment.retention_ms)));
                if (ok && env->policy && env->policy->policy->filesystem.quota)
                        ok = cJSON_AddNumberToObject(o, "workspace_quota",
                                                     (double) env->policy->policy->filesystem.quota) &&
                             (env->ws_measured && env->ws_bytes != UINT64_MAX
                                      ? cJSON_AddNumberToObject(o, "workspace_bytes", (double) env->ws_bytes)
                                      : cJSON_AddNullToObject(o, "workspace_bytes"));
                ok = ok && brig__env_quota_describe(env, o);
                if (ok && env->policy) {
                        const brig_limits *l = &env->policy->policy->limits;
                        cJSON *lim = cJSON_AddObjectToObject(o, "rlimits");
                        ok = lim && cJSON_AddNumberToObject(lim, "memory_bytes", (double) l->memory_bytes) &&
                             cJSON_AddNumberToObject(lim, "processes", (double) l->processes) &&
                             cJSON_AddNumberToObject(lim, "open_files", (double) l->open_files) &&
                             cJSON_AddNumberToObject(lim, "cpu_time_ms", (double) l->cpu_time_ms) &&
                             cJSON_AddNumberToObject(lim, "wall_time_ms", (double) l->wall_time_ms);
                }
        }
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}
