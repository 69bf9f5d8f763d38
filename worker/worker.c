/* SPDX-License-Identifier: MIT */
/* The worker's lifetime: loading the policy and compiling its seccomp program once, opening the audit log,
 * owning the listening socket (worker/sockfile.c: its mode and group from birth, stale sockets replaced, a
 * live one refused) and stopping cleanly on SIGINT/SIGTERM with every jail killed and the socket removed. */
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "worker/audit_events.h"
#include "worker/env_control.h"
#include "worker/proxy_tls.h"
#include "worker/sockfile.h"
#include "worker/worker.h"

int brig__worker_audit(brig_worker *w, cJSON *event) {
        brig_error err = BRIG_ERROR_INIT;
        int r;

        if (!w->audit) {
                cJSON_Delete(event);
                return -EBADF;
        }
        r = brig_audit_emit(w->audit, event, &err);
        if (r < 0)
                (void) log_error_errno(r, "audit: %s", err.msg);
        return r;
}

/* Each record, once in the log, to where else it goes. */
static void audit_sink(const char *line, size_t len, void *userdata) {
        brig_worker *w = userdata;
        brig__audit_syslog_send(w, line, len);
        brig__audit_subscribers_send(w, line, len);
}

bool brig__worker_is_admin(const brig_worker *w, uid_t uid) {
        for (size_t i = 0; i < w->n_admin_uids; i++)
                if (w->admin_uids[i] == uid)
                        return true;
        return false;
}

brig_call *brig__worker_find_call(brig_worker *w, const brig_env *env, brig_call_match_fn match,
                                  const void *key) {
        for (brig_conn *conn = w->conns; conn; conn = conn->next) {
                if (conn->env != env)
                        continue;
                for (brig_call *call = conn->calls; call; call = call->next)
                        if (match(call, key))
                                return call;
        }
        return NULL;
}

static int check_helper(const char *path, brig_error *err) {
        if (access(path, X_OK) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_NOT_FOUND, "jail helper '%s'", path);
        return 0;
}

int brig_worker_init(brig_worker *w, uv_loop_t *loop, const brig_worker_options *o, brig_error *err) {
        char blocker[PATH_MAX];
        cJSON *ev;
        int r;

        *w = (brig_worker){.loop = loop, .syslog_fd = -1, .control_dir_fd = -1};
        if (o->n_admin_uids > BRIG_MAX_ADMIN_UIDS)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "more than %d admin uids",
                                      BRIG_MAX_ADMIN_UIDS);
        memcpy(w->admin_uids, o->admin_uids, o->n_admin_uids * sizeof(uid_t));
        w->n_admin_uids = o->n_admin_uids;
        if ((r = brig_policies_init(&w->policies, o->policy_dir, err)) < 0)
                return r;
        if ((r = brig_policies_add_file(&w->policies, o->policy_path, &w->default_policy, err)) < 0)
                return brig_error_prefix(err, "policy '%s'", o->policy_path);
        if (!(w->jail_helper = strdup(o->jail_helper)) || !(w->socket_path = strdup(o->socket_path)))
                return brig_error_oom(err);
        w->socket_mode = o->socket_mode ? o->socket_mode : 0600;
        w->socket_gid = o->socket_set_gid ? o->socket_gid : (gid_t) -1;
        w->socket_make_parent = o->socket_make_parent;
        if ((r = check_helper(w->jail_helper, err)) < 0)
                return r;
        w->spares_wanted = o->spares;
        w->spares_max = o->spares_max > o->spares ? o->spares_max : o->spares;
        w->start_timeout_s = o->start_timeout_s ? o->start_timeout_s : BRIG_ENV_START_TIMEOUT_S;
        w->max_conns_per_uid = o->max_conns_per_uid;
        w->handshake_timeout_ms = o->handshake_timeout_ms;
        w->stall_timeout_ms = o->stall_timeout_ms ? o->stall_timeout_ms : BRIG_WRITE_STALL_MS;
        brig__admission_init(w, o);
        brig__budget_init(w, o);
        w->resolve = o->resolve;
        w->n_resolve = o->n_resolve;
        if ((r = brig_tls_client_ctx(o->upstream_ca, &w->upstream_tls, err)) < 0)
                return o->upstream_ca ? brig_error_prefix(err, "--upstream-ca") : r;
        if ((r = brig_identity_detect(o->jail_id, &w->identity, err)) < 0)
                return r;

        if (asprintf(&w->envs_dir, "%s/environments", o->state_dir) < 0)
                return brig_error_oom(err);
        if (asprintf(&w->memory_dir, "%s/memory", o->state_dir) < 0) {
                w->memory_dir = NULL;
                return brig_error_oom(err);
        }
        if ((r = brig_mkdir_p(o->state_dir, 0711)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "create state directory '%s'",
                                            o->state_dir);
        if ((r = brig_mkdir_p(w->envs_dir, 0711)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "create '%s'", w->envs_dir);
        /* Jails run as another uid when we are root: every ancestor of the workspaces must let it pass. */
        if (w->identity.root && chmod(w->envs_dir, 0711) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "chmod '%s'", w->envs_dir);
        if (w->identity.root &&
            brig_path_searchable_by(w->envs_dir, w->identity.uid_outside, blocker, sizeof(blocker)) < 0)
                return brig_error_set(
                        err, -EACCES, BRIG_KIND_IO,
                        "state directory: jails (host uid %u) cannot reach '%s' because '%s' is not "
                        "searchable by others; choose another --state-dir or chmod o+x it",
                        w->identity.uid_outside, w->envs_dir, blocker);
        if ((r = brig__env_control_dir_open(w, o->state_dir, err)) < 0)
                return r;
        /* This worker's groups are its own: another brigd on the host (another state directory) never
         * shares or removes them, and start-up cleans only this one's leftovers. */
        char instance[32];
        if ((r = brig_cgroup_instance_name(o->state_dir, instance, sizeof(instance))) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "state directory '%s'", o->state_dir);
        brig_cgroup_detect(instance, &w->cgroups);
        if (w->cgroups.mode == BRIG_CGROUP_NONE)
                log_info("environments get rlimits only: %s", w->cgroups.why);
        else
                log_info("environments get cgroup %s limits under %s",
                         brig_cgroup_mode_name(w->cgroups.mode), w->cgroups.base[BRIG_CG_MEMORY]);
        if ((r = brig_envs_load(w, err)) < 0)
                return r;

        if ((r = brig_audit_open(o->audit_path, &w->audit, err)) < 0)
                return r;
        if ((r = brig__audit_syslog_open(w, o->audit_syslog, err)) < 0)
                return r;
        brig_audit_set_sink(w->audit, audit_sink, w);
        ev = brig_audit_worker_start(getpid(), BRIG_VERSION, w->default_policy->name, w->n_envs,
                                     o->socket_path, w->identity.uid_outside);
        if ((r = brig_audit_emit(w->audit, ev, err)) < 0)
                return r;
        return 0;
}

/* The audit checkpoint (common/audit_chain.h) while the log grows: at most every CHECKPOINT_EVERY_MS,
 * or sooner after CHECKPOINT_RECORDS records, checked on the 1 s sweep. It costs an fdatasync of the log and
 * an fsync of a 150-byte file and of its directory, so it runs on the thread pool, one at a time: a slow
 * disk delays the checkpoint, never the loop. Records after the last checkpoint are not covered against a
 * cut of the tail until the next one (or the clean stop's). A checkpoint that cannot be written is logged
 * and retried, and calls go on: the log itself is still written or calls are refused (fail closed), and the
 * checkpoint adds tail-truncation evidence to it, so losing it weakens that evidence but records nothing
 * less. */
#define CHECKPOINT_EVERY_MS 5000
#define CHECKPOINT_RECORDS 1000

typedef struct checkpoint_job {
        uv_work_t work;
        brig_worker *w;
        brig_audit_mark mark;
        brig_error err;
        int r;
} checkpoint_job;

static int checkpoint_write(brig_audit *a, const brig_audit_mark *m, brig_error *err) {
        int r = brig_audit_sync(a, err);
        return r < 0 ? r : brig_audit_checkpoint_write(brig_audit_checkpoint_file(a), m, err);
}

static void checkpoint_work_cb(uv_work_t *req) {
        checkpoint_job *j = (checkpoint_job *) req; /* work is its first member */
        j->r = checkpoint_write(j->w->audit, &j->mark, &j->err);
}

static void checkpoint_result(brig_worker *w, int r, const brig_error *err) {
        if (r < 0 && !w->checkpoint_failing)
                (void) log_warning_errno(r, "%s; retrying, the log itself is still written", err->msg);
        else if (r >= 0 && w->checkpoint_failing)
                log_info("audit checkpoint written again");
        w->checkpoint_failing = r < 0;
}

static void checkpoint_after_cb(uv_work_t *req, int status) {
        checkpoint_job *j = (checkpoint_job *) req; /* work is its first member */
        (void) status;
        j->w->checkpointing = false;
        checkpoint_result(j->w, j->r, &j->err);
        free(j);
}

static void checkpoint_tick(brig_worker *w) {
        uint64_t next = w->audit ? brig_audit_next_seq(w->audit) : 0, now = uv_now(w->loop);
        checkpoint_job *j;

        if (w->checkpointing || next == w->checkpoint_next ||
            (now - w->checkpoint_at < CHECKPOINT_EVERY_MS && next - w->checkpoint_next < CHECKPOINT_RECORDS))
                return;
        if (!(j = calloc(1, sizeof(*j))))
                return;
        *j = (checkpoint_job){.w = w, .err = BRIG_ERROR_INIT};
        if (!brig_audit_mark_now(w->audit, &j->mark) ||
            uv_queue_work(w->loop, &j->work, checkpoint_work_cb, checkpoint_after_cb) < 0) {
                free(j);
                return;
        }
        w->checkpointing = true;
        w->checkpoint_next = next;
        w->checkpoint_at = now;
}

/* Below this much free heap, trimming is not worth the walk. */
#define TRIM_MIN_FREE (4u << 20)

/* After a peak (thousands of calls in flight, each with its buffers) glibc keeps the freed heap and RSS
 * stays at the peak. Once no call is in flight, hand free memory back: malloc_trim also releases free pages
 * inside the heap and the thread arenas, not only at the top. Once per idle period: the free figure changes
 * whenever anything ran since. */
static void release_memory(brig_worker *w) {
        for (brig_conn *c = w->conns; c; c = c->next)
                if (c->n_calls)
                        return;
        struct mallinfo2 mi = mallinfo2();
        if (mi.fordblks < TRIM_MIN_FREE || mi.fordblks == w->trimmed_free)
                return;
        (void) malloc_trim(0);
        w->trimmed_free = mallinfo2().fordblks;
}

/* A connection that never initialises holds a slot (and an fd) for nothing: it gets the handshake timeout
 * to do so. Checked once a second, with the environments' sweep. */
static void close_idle_handshakes(brig_worker *w) {
        uint64_t now = uv_now(w->loop);

        if (!w->handshake_timeout_ms)
                return;
        for (brig_conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                if (!c->initialized && !c->closing && now - c->accepted_at >= w->handshake_timeout_ms)
                        brig__conn_close(c, "no initialize within the handshake timeout");
        }
}

static void sweep_cb(uv_timer_t *t) {
        brig_worker *w = t->data;
        brig_envs_sweep(w);
        close_idle_handshakes(w);
        /* Environments stopped by the sweep gave their fds back. */
        brig__admission_pump(w);
        release_memory(w);
        checkpoint_tick(w);
}

static void connection_cb(uv_stream_t *server, int status) {
        brig_worker *w = server->data;
        if (status < 0) {
                (void) log_warning_errno(status, "accept: %s, ignoring", uv_strerror(status));
                return;
        }
        brig__conn_accept(w);
}

int brig_worker_listen(brig_worker *w, const char *path, int inherited_fd, brig_error *err) {
        const brig_sockfile s = {.path = path,
                                 .mode = w->socket_mode,
                                 .gid = w->socket_gid,
                                 .make_parent = w->socket_make_parent};
        _cleanup_close_ int fd = inherited_fd;
        int r;

        w->socket_inherited = inherited_fd >= 0;
        if (fd < 0 && (fd = brig_sockfile_listen(&s, err)) < 0)
                return fd;
        (void) uv_pipe_init(w->loop, &w->listener, 0);
        w->listener.data = w;
        if ((r = uv_pipe_open(&w->listener, fd)) < 0)
                return brig_error_set(err, r, BRIG_KIND_IO, "listen: %s", uv_strerror(r));
        fd = -1; /* owned by the handle now */
        w->listening = true;
        if ((r = uv_listen((uv_stream_t *) &w->listener, 128, connection_cb)) < 0)
                return brig_error_set(err, r, BRIG_KIND_IO, "listen: %s", uv_strerror(r));
        (void) uv_timer_init(w->loop, &w->sweep);
        w->sweep.data = w;
        (void) uv_timer_start(&w->sweep, sweep_cb, 1000, 1000);
        (void) uv_timer_init(w->loop, &w->spare_timer);
        w->spare_timer.data = w;
        brig__admission_start(w);
        brig__budget_start(w);
        brig_spares_fill(w);
        return 0;
}

void brig_worker_stop(brig_worker *w) {
        if (w->stopping)
                return;
        w->stopping = true;
        log_info("stopping: closing %zu connection(s)", w->n_conns);
        if (w->listening) {
                uv_close((uv_handle_t *) &w->listener, NULL);
                uv_close((uv_handle_t *) &w->sweep, NULL);
                uv_close((uv_handle_t *) &w->spare_timer, NULL);
                brig__admission_stop(w);
                brig__budget_stop(w);
                /* An activated socket stays for the next start, which it triggers. */
                if (!w->socket_inherited)
                        (void) unlink(w->socket_path);
        }
        for (brig_conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                brig__conn_close(c, "worker stopping");
        }
        brig_envs_stop_all(w);
        /* The loop runs on until the holders killed above are reaped. */
        brig_child_watch_stop(&w->children);
        (void) brig__worker_audit(w, brig_audit_worker_stop(getpid()));
}

void brig_worker_done(brig_worker *w) {
        brig_audit_mark m;

        /* The clean stop's checkpoint: the loop has run dry (no checkpoint job in flight), worker_stop is
         * the last record. Blocking here costs only the stop. */
        if (w->audit && brig_audit_mark_now(w->audit, &m)) {
                brig_error err = BRIG_ERROR_INIT;
                checkpoint_result(w, checkpoint_write(w->audit, &m, &err), &err);
        }
        brig_envs_free_all(w);
        /* Our brig/<instance> parents, empty once the environments' groups are reaped (the loop waited for
         * that): each worker with a new state directory left one per hierarchy for good, and a v1
         * cpu.cfs_quota_us write walks every cpu cgroup of the host (1.5 ms at 11,000). */
        brig_cgroup_root_remove(&w->cgroups);
        brig_policies_done(&w->policies);
        brig_audit_free(w->audit);
        brig__audit_syslog_close(w);
        SSL_CTX_free(w->upstream_tls);
        free(w->jail_helper);
        free(w->socket_path);
        free(w->envs_dir);
        free(w->memory_dir);
        brig__env_control_dir_close(w);
        *w = (brig_worker){0};
}
