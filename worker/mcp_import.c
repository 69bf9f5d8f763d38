/* SPDX-License-Identifier: MIT */
/* brig/environment.import (docs/protocol.md): the client pushes the archive in base64 chunks, each answered
 * once written (its flow control; two may be in flight, written in order), into
 * <state-dir>/environments/.upload-<token>.brig; the last one starts
 * the import (worker/env_import.h). An upload belongs to its connection, which may hold
 * BRIG_UPLOADS_PER_CONN of them; closing the connection removes them. Every file operation runs on the
 * thread pool. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "sandbox/policy.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/env_archive.h"
#include "worker/env_import.h"
#include "worker/mcp_internal.h"

#define BRIG_UPLOADS_PER_CONN 2
/* Chunks of an upload in flight: one written on the thread pool, one waiting behind it (decoded, at most
 * 1 MiB), so that a client need not wait for an answer before it sends the next. */
#define CHUNKS_IN_FLIGHT 2
#define UPLOAD_MAX_DEFAULT (UINT64_C(4) << 30)

typedef struct brig_upload {
        struct brig_upload *next;
        brig_conn *c; /* NULL once its connection closed */
        brig_worker *w;
        char token[33];
        char *path;
        int fd;
        uint64_t bytes, max;
        uint64_t accepted;         /* bytes: written, being written and waiting */
        bool busy;                 /* an operation on the thread pool */
        bool ended;                /* the last chunk is accepted */
        bool over;                 /* a chunk past max came while busy: the upload goes when that op ends */
        struct upload_op *waiting; /* the next chunk, while busy */
} brig_upload;

typedef enum { OP_CREATE, OP_APPEND, OP_DROP } op_kind;

typedef struct upload_op upload_op;
struct upload_op {
        uv_work_t req;
        brig_upload *u;
        brig_conn *c; /* its connection when queued: a reference */
        op_kind kind;
        unsigned char *data;
        size_t len;
        int src_fd; /* the client's file, copied whole instead of data (brig/descriptor.pass), or -1 */
        bool end;
        char *as, *policy;
        cJSON *id;
        int r;
};

static void upload_free(brig_upload *u) {
        free(u->path);
        free(u);
}

static void detach(brig_upload *u) {
        if (!u->c)
                return;
        for (brig_upload **p = &u->c->uploads; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        u->c = NULL;
}

static void op_free(upload_op *op) {
        if (op->src_fd >= 0)
                (void) close(op->src_fd);
        free(op->data);
        free(op->as);
        free(op->policy);
        cJSON_Delete(op->id);
        free(op);
}

static void work_cb(uv_work_t *req) {
        upload_op *op = req->data;
        brig_upload *u = op->u;

        if (op->kind == OP_DROP) {
                if (u->fd >= 0)
                        (void) close(u->fd);
                u->fd = -1;
                (void) unlink(u->path);
                return;
        }
        if (op->kind == OP_CREATE &&
            (u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
                op->r = -errno;
                return;
        }
        /* One operation at a time per upload (busy): the file is written in order. */
        if (op->src_fd >= 0) {
                /* The client's file as it is now, within the upload's bound: what the chunks would carry. */
                int64_t n = brig_copy_fd(op->src_fd, u->fd, u->max);
                op->r = n < 0 ? (int) n : (uint64_t) n > u->max ? -EFBIG : 0;
                op->len = n > 0 ? (size_t) n : 0;
        } else
                op->r = brig_write_all(u->fd, op->data, op->len);
        /* No fsync: the upload is scratch, read back at once (from the page cache) and removed after the
         * import; a crash loses it whatever was synced, and start-up removes what is left. */
        if (op->end) {
                (void) close(u->fd);
                u->fd = -1;
        }
}

static int queue(brig_upload *u, upload_op *op);

/* Answers the chunk waiting behind the one that failed (when its connection is there) and frees it. */
static void fail_waiting(brig_upload *u, brig_conn *c, const char *msg) {
        upload_op *w = TAKE_PTR(u->waiting);

        if (!w)
                return;
        if (c)
                brig__mcp_send_error(c, w->id, BRIG_RPC_INTERNAL_ERROR, msg);
        op_free(w);
}

/* Removes the upload's file and frees it (detached from its connection first). */
static void drop(brig_upload *u) {
        upload_op *op = calloc(1, sizeof(*op));

        fail_waiting(u, NULL, NULL);
        detach(u);
        if (op)
                op->src_fd = -1;
        if (!op || (op->u = u, op->kind = OP_DROP, queue(u, op)) < 0) {
                /* Start-up removes what is left (worker/env_disk.c). */
                free(op);
                if (u->fd >= 0)
                        (void) close(u->fd);
                upload_free(u);
        }
}

typedef struct import_reply {
        brig_conn *c; /* holds a reference */
        cJSON *id;
        brig_upload *u;
} import_reply;

static void import_done_cb(brig_env *env, const brig_archive_info *info, bool matches, const brig_error *err,
                           void *userdata) {
        import_reply *ir = userdata;
        cJSON *res;

        if (err)
                brig__mcp_send_brig_error(ir->c, ir->id, brig__mcp_env_error_code(err), err);
        else if ((res = brig_env_describe(env, false)) &&
                 cJSON_AddStringToObject(res, "imported_from", info->id) &&
                 cJSON_AddStringToObject(res, "snapshot", info->snapshot) &&
                 cJSON_AddBoolToObject(res, "policy_digest_matches", matches))
                (void) brig__conn_send(ir->c, brig_rpc_result(ir->id, res));
        else {
                cJSON_Delete(res);
                brig__mcp_send_error(ir->c, ir->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
        }
        drop(ir->u);
        cJSON_Delete(ir->id);
        brig__conn_unref(ir->c);
        free(ir);
}

/* The last chunk is written: import the file. */
static void start_import(brig_conn *c, upload_op *op) {
        brig_error err = BRIG_ERROR_INIT;
        brig_upload *u = op->u;
        import_reply *ir;

        detach(u);
        if (brig__worker_audit(c->w, brig_audit_environment_import(c->id, op->as, op->policy, u->bytes,
                                                                   c->peer.uid)) < 0) {
                brig__mcp_send_error(c, op->id, BRIG_RPC_REFUSED, "audit log unavailable");
                drop(u);
                return;
        }
        if (!(ir = calloc(1, sizeof(*ir)))) {
                brig__mcp_send_error(c, op->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                drop(u);
                return;
        }
        ir->c = c;
        ir->u = u;
        ir->id = TAKE_PTR(op->id);
        c->refs++;
        if (brig_env_import(c->w, u->path, op->as, op->policy, &c->peer, import_done_cb, ir, &err) < 0) {
                brig__mcp_send_brig_error(c, ir->id, brig__mcp_env_error_code(&err), &err);
                cJSON_Delete(ir->id);
                free(ir);
                brig__conn_unref(c);
                drop(u);
        }
}

static void send_over(brig_conn *c, const brig_upload *u, const cJSON *id) {
        char msg[160];
        (void) snprintf(msg, sizeof(msg), "import upload: over %llu bytes", (unsigned long long) u->max);
        brig__mcp_send_error(c, id, BRIG_RPC_REFUSED, msg);
}

static void after_cb(uv_work_t *req, int status) {
        upload_op *op = req->data;
        brig_upload *u = op->u;
        brig_conn *c = u->c;
        cJSON *res;

        u->busy = false;
        if (op->kind == OP_DROP) {
                if (op->c)
                        brig__conn_unref(op->c);
                upload_free(u);
                op_free(op);
                return;
        }
        if (status < 0 && op->r == 0)
                op->r = status;
        if (!c) /* the connection closed meanwhile */
                drop(u);
        else if (u->over || (op->src_fd >= 0 && op->r == -EFBIG)) {
                send_over(c, u, op->id);
                fail_waiting(u, c, "import upload: over its bound");
                drop(u);
        } else if (op->r < 0) {
                char msg[200];
                (void) snprintf(msg, sizeof(msg), "import upload: write: %s", strerror(-op->r));
                brig__mcp_send_error(c, op->id, BRIG_RPC_INTERNAL_ERROR, msg);
                fail_waiting(u, c, msg);
                drop(u);
        } else {
                upload_op *next = TAKE_PTR(u->waiting);
                u->bytes += op->len;
                if (op->end)
                        start_import(c, op);
                else if ((res = cJSON_CreateObject()) && cJSON_AddStringToObject(res, "upload", u->token) &&
                         cJSON_AddNumberToObject(res, "bytes", (double) u->bytes))
                        (void) brig__conn_send(c, brig_rpc_result(op->id, res));
                else {
                        cJSON_Delete(res);
                        brig__mcp_send_error(c, op->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                }
                /* In order: the chunk that came meanwhile is written next. */
                if (next && queue(u, next) < 0) {
                        brig__mcp_send_error(c, next->id, BRIG_RPC_INTERNAL_ERROR,
                                             "import upload: cannot queue");
                        op_free(next);
                        drop(u);
                }
        }
        if (op->c)
                brig__conn_unref(op->c);
        op_free(op);
}

static int queue(brig_upload *u, upload_op *op) {
        int r;

        op->req.data = op;
        if ((r = uv_queue_work(u->w->loop, &op->req, work_cb, after_cb)) < 0)
                return r;
        u->busy = true;
        if ((op->c = u->c))
                u->c->refs++;
        return 0;
}

/* The most an upload may hold: twice the default policy's workspace quota, else 4 GiB. */
static uint64_t upload_max(const brig_worker *w) {
        const brig_policy_entry *p = w->default_policy;
        return p && p->policy->filesystem.quota ? 2 * p->policy->filesystem.quota : UPLOAD_MAX_DEFAULT;
}

static brig_upload *upload_new(brig_conn *c, brig_error *err) {
        unsigned char rnd[16];
        brig_upload *u;
        size_t n = 0;

        for (brig_upload *x = c->uploads; x; x = x->next)
                n++;
        if (n >= BRIG_UPLOADS_PER_CONN) {
                (void) brig_error_set(err, -ENOSPC, BRIG_KIND_LIMIT,
                                      "more than %d imports uploading on one connection",
                                      BRIG_UPLOADS_PER_CONN);
                return NULL;
        }
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
                (void) brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "getrandom");
                return NULL;
        }
        if (!(u = calloc(1, sizeof(*u)))) {
                (void) brig_error_oom(err);
                return NULL;
        }
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(u->token + 2 * i, 3, "%02x", rnd[i]);
        if (asprintf(&u->path, "%s/" BRIG_ENV_UPLOAD_PREFIX "%s.brig", c->w->envs_dir, u->token) < 0) {
                free(u);
                (void) brig_error_oom(err);
                return NULL;
        }
        u->fd = -1;
        u->w = c->w;
        u->c = c;
        u->max = upload_max(c->w);
        u->next = c->uploads;
        c->uploads = u;
        return u;
}

void brig__mcp_handle_env_import(brig_conn *c, const brig_rpc_msg *m) {
        brig_error err = BRIG_ERROR_INIT;
        const char *data = NULL, *token = NULL, *as = NULL, *policy = NULL;
        bool end = false, from_fd = false;
        brig_upload *u = NULL;
        upload_op *op;
        op_kind kind = OP_APPEND;

        if (brig_json_get_string(m->params, "params", "data", false, &data, &err) < 0 ||
            brig_json_get_string(m->params, "params", "upload", false, &token, &err) < 0 ||
            brig_json_get_string(m->params, "params", "as", false, &as, &err) < 0 ||
            brig_json_get_string(m->params, "params", "policy", false, &policy, &err) < 0 ||
            brig_json_get_bool(m->params, "params", "end", &end, &err) < 0 ||
            brig_json_get_bool(m->params, "params", "fd", &from_fd, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        /* The whole archive from the client's file: one request, the first and the last. */
        if (from_fd && (data || token)) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params.fd: the whole archive, without data or upload");
                return;
        }
        if ((op = calloc(1, sizeof(*op))))
                op->src_fd = -1;
        if (!op || !(op->id = cJSON_Duplicate(m->id, true)) || (as && !(op->as = strdup(as))) ||
            (policy && !(op->policy = strdup(policy)))) {
                if (op)
                        op_free(op);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        /* Sized before it is decoded: a frame may be far larger than a chunk. */
        if (data && strlen(data) > 4 * ((BRIG_ARCHIVE_CHUNK_MAX + 2) / 3)) {
                op_free(op);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params.data: a chunk over 1 MiB (BRIG_ARCHIVE_CHUNK_MAX)");
                return;
        }
        if (data && brig_base64_decode(data, strlen(data), &op->data, &op->len) < 0) {
                op_free(op);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, "params.data: not base64");
                return;
        }
        if (from_fd) {
                if ((op->src_fd = brig__mcp_take_fd(c, m, O_RDONLY)) < 0) {
                        op_free(op);
                        return;
                }
                end = true;
        }
        if (op->len > BRIG_ARCHIVE_CHUNK_MAX) {
                op_free(op);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params.data: a chunk over 1 MiB (BRIG_ARCHIVE_CHUNK_MAX)");
                return;
        }
        if (token) {
                for (u = c->uploads; u && strcmp(u->token, token) != 0; u = u->next)
                        ;
                if (!u || u->waiting || u->ended || u->over) {
                        op_free(op);
                        brig__mcp_send_error(
                                c, m->id, BRIG_RPC_INVALID_PARAMS,
                                !u         ? "params.upload: no such upload on this connection"
                                : u->over  ? "params.upload: over its bound, being removed"
                                : u->ended ? "params.upload: its last chunk came already"
                                           : "params.upload: busy: two chunks in flight, wait for an "
                                             "answer");
                        return;
                }
        } else if ((u = upload_new(c, &err)))
                kind = OP_CREATE;
        else {
                op_free(op);
                brig__mcp_send_brig_error(c, m->id, brig__mcp_env_error_code(&err), &err);
                return;
        }
        if (op->len > u->max - u->accepted) {
                op_free(op);
                send_over(c, u, m->id);
                /* Never dropped under an operation on the thread pool: after_cb() does it. */
                if (u->busy)
                        u->over = true;
                else
                        drop(u);
                return;
        }
        op->u = u;
        op->kind = kind;
        op->end = end;
        u->accepted += op->len;
        u->ended = end;
        if (u->busy) {
                u->waiting = op;
                return;
        }
        if (queue(u, op) < 0) {
                op_free(op);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "import upload: cannot queue");
                drop(u);
        }
}

void brig__mcp_import_conn_closing(brig_conn *c) {
        while (c->uploads) {
                brig_upload *u = c->uploads;
                detach(u);
                /* One in flight drops it when it ends (after_cb). */
                if (!u->busy)
                        drop(u);
        }
}
