/* SPDX-License-Identifier: MIT */
/* File and history tools on the thread pool: a queue per environment, the working thread's filesystem uid,
 * the history repository's life, and automatic snapshots. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "tools/history.h"
#include "tools/registry.h"
#include "tools/wsusage.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/policies.h"
#include "worker/worker.h"
#include "worker/toolpool.h"

/* How long after a walk of the workspace the soft quota may count file calls' own accounts instead. */
#define ACCOUNT_MS 1000

/* The history is packed at rest (brig_toolpool_repack_if_idle()) once no call came for this long, and only
 * when this many objects are loose: a pack per few snapshots would pile up packs that every lookup
 * searches, and a small history costs little as loose files. */
#define REPACK_IDLE_S 2
#define REPACK_MIN_LOOSE 1000
/* Objects and bytes per pass: a call that comes during a repack waits behind it in the queue, so a pass is
 * kept to a fraction of a second (about 0.2 ms an object here, and large objects cost their bytes); the
 * sweep queues the next pass while the environment still rests. */
#define REPACK_MAX_OBJECTS 2000
#define REPACK_MAX_BYTES (64u << 20)
/* Packs per history: each is searched by every lookup that misses and costs an fd while read
 * (BRIG_HISTORY_OPEN_PACKS); past this many, the rest stays loose. */
#define REPACK_MAX_PACKS 8

typedef struct wsjob {
        struct wsjob *next;
        uv_work_t req;
        brig_env *env;
        char tool[32];
        const brig_tool *def; /* NULL for an automatic snapshot after a call that ran elsewhere */
        cJSON *args;
        char call_id[24];
        bool snapshot_after; /* a successful mutating call is followed by an automatic snapshot */
        bool snapshot_only;  /* the automatic snapshot after a call that ran elsewhere (exec) */
        brig_toolpool_history_fn history_fn; /* a worker's own history work (brig_toolpool_run_history) */
        void *history_userdata;
        bool measure; /* measure the workspace afterwards (a quota applies) */
        bool account; /* ...by the call's own account of its change, from base_bytes, if it has one */
        bool measured, walked;
        uint64_t base_bytes, ws_bytes;
        brig_toolpool_done_cb cb;
        void *userdata;

        /* Copied on the loop thread, read on the work thread. */
        brig_files_ctx fctx;
        char *workspace, *git_dir;
        uid_t fsuid;
        gid_t fsgid;
        bool switch_ids;
        brig_history_options hopts;

        brig_toolpool_result res;
} wsjob;

bool brig_toolpool_busy(const brig_env *env) {
        return env->ws_queue != NULL;
}

void brig_toolpool_free(brig_env *env) {
        brig_history_free(env->history);
        env->history = NULL;
}

/* The filesystem uid and gid of this thread only (Linux keeps them per thread; glibc does not broadcast
 * setfsuid): the file tools then act with exactly the rights of the environment's processes. */
static int become(uid_t uid, gid_t gid) {
        (void) setfsgid(gid);
        (void) setfsuid(uid);
        /* Both calls return the previous value, and an invalid id (-1) changes nothing: the query tells
         * whether the first call took, without the kernel preparing new credentials again. */
        if ((uid_t) setfsuid((uid_t) -1) != uid || (gid_t) setfsgid((gid_t) -1) != gid)
                return -EPERM;
        return 0;
}

static void run_files(wsjob *j) {
        _cleanup_close_ int root = -1;
        brig_error *err = &j->res.error;

        if (j->switch_ids && become(j->fsuid, j->fsgid) < 0) {
                (void) brig_error_set(err, -EPERM, BRIG_KIND_INTERNAL, "cannot take the environment's uid");
                goto out;
        }
        root = open(j->workspace, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0) {
                (void) brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open the workspace");
                goto out;
        }
        j->fctx.root_fd = root;
        if (brig_files_call(j->tool, &j->fctx, j->args, &j->res.sc, &j->res.report, err) >= 0)
                *err = (brig_error) BRIG_ERROR_INIT;
out:
        if (j->switch_ids && become(0, 0) < 0)
                /* A pool thread that cannot get its ids back must not serve anything else. */
                abort();
}

static int open_history(wsjob *j, brig_error *err) {
        if (j->env->history)
                return 0;
        return brig_history_open(j->git_dir, j->workspace, &j->hopts, &j->env->history, err);
}

/* The workspace's usage, as the environment's uid sees it (its own files; what it cannot read it could not
 * have written either). */
static void walk(wsjob *j) {
        _cleanup_close_ int root = -1;
        brig_error err = BRIG_ERROR_INIT;
        brig_wsusage u;

        if (j->switch_ids && become(j->fsuid, j->fsgid) < 0)
                return;
        root = open(j->workspace, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* A workspace that cannot be measured (nested past the walk's depth, unreadable) counts as over
         * any quota: the quota must not be switched off by making it unmeasurable. */
        bool ok = root >= 0 && brig_wsusage_measure(root, &u, &err) >= 0;
        int r = ok ? 0 : root < 0 ? -errno : err.code;
        /* Out of fds or memory for now, the last measurement stands: the next one decides. */
        if (ok || (r != -EMFILE && r != -ENFILE && r != -ENOMEM)) {
                j->ws_bytes = ok ? u.bytes : UINT64_MAX;
                j->measured = j->walked = true;
        }
        if (j->switch_ids && become(0, 0) < 0)
                abort();
}

/* A write_file or edit_file that knows what it added needs no walk of a workspace nothing else wrote to. */
static void measure(wsjob *j) {
        const brig_files_report *rep = &j->res.report;

        if (!j->account || j->res.error.code || !rep->usage_known) {
                walk(j);
                return;
        }
        if (rep->usage_delta < 0)
                j->ws_bytes = (uint64_t) -rep->usage_delta > j->base_bytes
                                      ? 0
                                      : j->base_bytes - (uint64_t) -rep->usage_delta;
        else
                j->ws_bytes = j->base_bytes + (uint64_t) rep->usage_delta;
        j->measured = true;
}

static void work_cb(uv_work_t *req) {
        wsjob *j = req->data;

        if (j->history_fn) {
                if (open_history(j, &j->res.error) >= 0 &&
                    j->history_fn(j->env->history, j->history_userdata, &j->res.error) >= 0)
                        j->res.error = (brig_error) BRIG_ERROR_INIT;
                return;
        }
        if (j->snapshot_only)
                ;
        else if (j->def->runner == BRIG_TOOL_RUN_FILES)
                run_files(j);
        else if (open_history(j, &j->res.error) >= 0 &&
                 brig_history_call(j->env->history, j->tool, j->args, j->call_id, &j->res.sc,
                                   &j->res.error) >= 0)
                j->res.error = (brig_error) BRIG_ERROR_INIT;
        if (j->measure && (j->snapshot_only || (j->def->flags & BRIG_TOOL_MUTATES)))
                measure(j);
        if (j->res.error.code || !j->snapshot_after)
                return;
        /* The snapshot that records this call: its failure is reported beside the call's own success. */
        brig_error serr = BRIG_ERROR_INIT;
        cJSON *snap = NULL;
        if (open_history(j, &serr) >= 0 &&
            brig_history_snapshot(j->env->history, NULL, j->call_id, j->tool, &snap, &serr) >= 0) {
                const cJSON *sid = cJSON_GetObjectItemCaseSensitive(snap, "id");
                if (cJSON_IsString(sid))
                        (void) snprintf(j->res.snapshot, sizeof(j->res.snapshot), "%s", sid->valuestring);
        } else if (j->res.sc)
                cJSON_AddStringToObject(j->res.sc, "snapshot_error", serr.msg);
        else if (j->snapshot_only)
                j->res.error = serr;
        cJSON_Delete(snap);
}

static void start_next(brig_env *env);

static void job_free(wsjob *j) {
        cJSON_Delete(j->args);
        cJSON_Delete(j->res.sc);
        free(j->res.text);
        brig_files_report_done(&j->res.report);
        free(j->workspace);
        free(j->git_dir);
        free(j);
}

static void audit_snapshot(wsjob *j) {
        cJSON *ev = brig_audit_snapshot(j->env->id, j->call_id, j->tool, j->res.snapshot,
                                        j->res.error.code ? j->res.error.msg : NULL);
        if (!ev)
                return;
        (void) brig__worker_audit(j->env->w, ev);
}

static void after_cb(uv_work_t *req, int status) {
        wsjob *j = req->data;
        brig_env *env = j->env;

        if (status < 0 && !j->res.error.code)
                (void) brig_error_set(&j->res.error, status, BRIG_KIND_INTERNAL, "workspace call cancelled");
        if (j->res.sc && j->res.snapshot[0])
                cJSON_AddStringToObject(j->res.sc, "snapshot", j->res.snapshot);
        if (j->res.sc && !j->res.text) {
                j->res.text = j->def->runner == BRIG_TOOL_RUN_FILES
                                      ? brig_files_result_text(j->tool, j->res.sc)
                                      : brig_history_result_text(j->tool, j->res.sc);
        }
        if (j->measured) {
                env->limits.ws_bytes = j->ws_bytes;
                env->limits.ws_measured = true;
        }
        if (j->walked)
                env->limits.ws_walked_at = uv_now(env->w->loop);
        env->ws_queue = j->next;
        if (j->snapshot_only && j->snapshot_after)
                audit_snapshot(j);
        if (j->cb)
                j->cb(&j->res, j->userdata);
        job_free(j);
        if (env->ws_queue)
                start_next(env);
        else
                brig__env_release(env);
}

/* Whether a file call's own account of its change may stand for a walk of the workspace: nothing else can
 * have written since the last measurement (no exec or repl call and no background process runs; file calls
 * run one at a time), and the last walk is recent, which bounds what the accounts miss (directories that
 * grew, a process that outlived its command). */
static bool may_account(const brig_env *env) {
        return env->limits.ws_measured && env->limits.ws_bytes != UINT64_MAX &&
               env->processes.running == 0 && env->calls_in_flight == 0 &&
               uv_now(env->w->loop) - env->limits.ws_walked_at < ACCOUNT_MS;
}

/* The first job runs once the environment is ready on disk (its directory, metadata and workspace quota:
 * worker/env_disk.h). */
static void prepared_cb(brig_env *env, const brig_error *err, void *userdata) {
        wsjob *j = env->ws_queue;

        (void) userdata;
        if (err) {
                j->res.error = *err;
                after_cb(&j->req, 0);
                return;
        }
        /* Read here, not when queued: the jobs before this one have measured by now. */
        j->account = j->measure && !j->snapshot_only && may_account(env);
        j->base_bytes = env->limits.ws_bytes;
        int r = uv_queue_work(env->w->loop, &j->req, work_cb, after_cb);
        if (r < 0) {
                (void) brig_error_set(&j->res.error, r, BRIG_KIND_INTERNAL, "queue workspace call: %s",
                                      uv_strerror(r));
                after_cb(&j->req, 0);
        }
}

static void start_next(brig_env *env) {
        brig__env_prepare(env, prepared_cb, NULL);
}

/* A hard quota is the filesystem's to enforce (worker/env_quota.h): nothing to measure. */
static bool quota_to_measure(const brig_env *env) {
        return env->policy->policy->filesystem.quota > 0 && env->limits.quota.mode != BRIG_ENV_QUOTA_HARD;
}

static wsjob *job_new(brig_env *env, const char *tool, const cJSON *args, uint64_t call_id,
                      brig_error *err) {
        const brig_policy *p = env->policy->policy;
        wsjob *j = calloc(1, sizeof(*j));

        if (j && asprintf(&j->git_dir, "%s/history.git", env->dir) < 0)
                j->git_dir = NULL;
        if (!j || !j->git_dir || (args && !(j->args = cJSON_Duplicate(args, true))) ||
            !(j->workspace = strdup(env->workspace))) {
                if (j)
                        job_free(j);
                (void) brig_error_oom(err);
                return NULL;
        }
        j->req.data = j;
        j->env = env;
        (void) snprintf(j->tool, sizeof(j->tool), "%s", tool);
        (void) snprintf(j->call_id, sizeof(j->call_id), "%llu", (unsigned long long) call_id);
        j->fctx = (brig_files_ctx){
                .root_fd = -1,
                .uid = (uid_t) -1,
                .gid = (gid_t) -1,
                .max_read = p->tools.files.max_read,
                .max_write = p->tools.files.max_write,
                .max_results = p->tools.files.max_results,
                .fsync = p->tools.files.fsync,
                .read_only = p->tools.files.read_only,
        };
        /* As root, files are made by the environment's own host ids (its jail's uid 1000). */
        j->switch_ids = env->identity.root;
        j->fsuid = env->identity.uid_outside;
        j->fsgid = env->identity.gid_outside;
        j->measure = quota_to_measure(env);
        j->hopts = (brig_history_options){
                .exclude = p->history.exclude,
                .max_file_size = p->history.max_file_size,
                .author = "brig",
        };
        return j;
}

static void enqueue(brig_env *env, wsjob *j) {
        wsjob **tail = &env->ws_queue;
        bool idle = !*tail;

        /* Only a job that may write objects (a snapshot, a history tool, the worker's own history work)
         * asks brig_toolpool_repack_if_idle() to pack them once the environment rests: after file calls
         * alone, the repack would open (and create) a history for nothing. */
        if (j->snapshot_after || j->history_fn || (j->def && j->def->runner != BRIG_TOOL_RUN_FILES))
                env->history_repack_wanted = true;

        while (*tail)
                tail = &(*tail)->next;
        *tail = j;
        if (idle) {
                brig__env_hold(env);
                start_next(env);
        }
}

int brig_toolpool_run(brig_env *env, const brig_tool *tool, const cJSON *args, uint64_t call_id,
                      brig_toolpool_done_cb cb, void *userdata, brig_error *err) {
        const brig_policy *p = env->policy->policy;
        wsjob *j;

        if (env->destroyed)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was destroyed",
                                      env->id);
        if (!(j = job_new(env, tool->name, args, call_id, err)))
                return brig_error_oom(err);
        j->def = tool;
        j->cb = cb;
        j->userdata = userdata;
        j->snapshot_after = p->history.auto_snapshot && tool->runner == BRIG_TOOL_RUN_FILES &&
                            (tool->flags & BRIG_TOOL_SNAPSHOT_AFTER) &&
                            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "dry_run"));
        enqueue(env, j);
        return 0;
}

bool brig_toolpool_auto_snapshot(brig_env *env, uint64_t call_id, const char *tool, brig_toolpool_done_cb cb,
                                 void *userdata) {
        const brig_policy *p = env->policy->policy;
        brig_error err = BRIG_ERROR_INIT;
        wsjob *j;

        /* Without a snapshot and with a quota the filesystem enforces (or none), the job would do nothing:
         * not worth a hop to a pool thread and back on every exec call. */
        if ((!p->history.auto_snapshot && !quota_to_measure(env)) || env->destroyed)
                return false;
        if (!(j = job_new(env, "snapshot", NULL, call_id, &err))) {
                log_error("environment %s: automatic snapshot: %s", env->id, err.msg);
                return false;
        }
        /* A quota's measurement alone is not worth holding a result for. */
        if (p->history.auto_snapshot) {
                j->cb = cb;
                j->userdata = userdata;
        }
        /* Not a tool call: the work is the snapshot alone, tagged with the call that caused it, and the
         * workspace's usage when a quota applies. */
        (void) snprintf(j->tool, sizeof(j->tool), "%s", tool);
        j->snapshot_only = true;
        j->snapshot_after = p->history.auto_snapshot;
        /* enqueue may end the job at once (the environment could not be prepared): j is gone after it. */
        enqueue(env, j);
        return p->history.auto_snapshot && cb;
}

int brig_toolpool_run_history(brig_env *env, brig_toolpool_history_fn fn, void *fn_userdata,
                              brig_toolpool_done_cb cb, void *userdata, brig_error *err) {
        wsjob *j;

        if (env->destroyed)
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was destroyed",
                                      env->id);
        if (!(j = job_new(env, "history", NULL, 0, err)))
                return brig_error_oom(err);
        j->history_fn = fn;
        j->history_userdata = fn_userdata;
        j->measure = false;
        j->cb = cb;
        j->userdata = userdata;
        enqueue(env, j);
        return 0;
}

typedef struct repack_job {
        brig_env *env;
        brig_history_repack_result res; /* written on the pool thread, read in repack_done_cb */
} repack_job;

static int repack_fn(brig_history *h, void *userdata, brig_error *err) {
        static const brig_history_repack_limits lim = {
                .min_loose = REPACK_MIN_LOOSE,
                .max_objects = REPACK_MAX_OBJECTS,
                .max_bytes = REPACK_MAX_BYTES,
                .max_packs = REPACK_MAX_PACKS,
        };
        repack_job *job = userdata;

        return brig_history_repack(h, &lim, &job->res, err);
}

static void repack_done_cb(brig_toolpool_result *res, void *userdata) {
        _cleanup_free_ repack_job *job = userdata;

        /* The loose objects are still there and still read: only export, import and fork stay slower. */
        if (res->error.code)
                log_warning("environment %s: pack the history: %s, ignoring", job->env->id, res->error.msg);
        else if (job->res.more)
                job->env->history_repack_wanted = true; /* more left for the next pass */
}

void brig_toolpool_repack_if_idle(brig_env *env, int64_t now) {
        brig_error err = BRIG_ERROR_INIT;

        /* holds: queued or running calls, and exports and forks, which read the history's files outside
         * the queue (their snapshot is taken in it, so one that starts now waits for the repack). */
        if (!env->history_repack_wanted || env->holds > 0 || env->destroyed || !env->policy ||
            env->spare.pooled || now - env->last_used < REPACK_IDLE_S)
                return;
        repack_job *job = calloc(1, sizeof(*job));
        if (!job)
                return; /* tried again at the next sweep */
        job->env = env;
        if (brig_toolpool_run_history(env, repack_fn, job, repack_done_cb, job, &err) < 0) {
                log_warning("environment %s: pack the history: %s, ignoring", env->id, err.msg);
                free(job);
                return;
        }
        /* Set again by the repack's own job: nothing new to pack after it. */
        env->history_repack_wanted = false;
}
