/* SPDX-License-Identifier: MIT */
/* brig/environment.export and its transfer: the archive is written whole to a file first (env_export.c),
 * then the client pulls it in chunks of its choosing (export.read), so a slow client holds a file, never
 * memory, and flow control is its own pace. An archive belongs to the connection that made it: another one
 * cannot name it, and it goes with export.close or with its connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/text.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/env_archive.h"
#include "worker/env_disk.h"
#include "worker/env_export.h"
#include "worker/mcp_internal.h"

/* Archives one connection may have open (being written or not yet closed). */
#define MAX_EXPORTS_PER_CONN 4
/* Reads of one archive at a time: each holds a chunk and a thread of the pool until it is answered, and a
 * client may send many before it reads an answer. */
#define MAX_READS_PER_EXPORT 2

typedef struct brig_export {
        struct brig_export *next;
        brig_conn *c; /* holds a reference while the archive is being written */
        cJSON *id;    /* the export request's, until it is answered */
        char token[BRIG_ENV_EXPORT_TOKEN_LEN + 1];
        char *path;
        int fd; /* -1 while being written */
        uint64_t bytes;
        int refs;         /* the connection's list, and each read in flight */
        unsigned reading; /* reads in flight */
        bool into_fd;     /* written into the client's descriptor: answered, then dropped */
} brig_export;

typedef struct read_req {
        uv_fs_t fs;
        brig_export *ex; /* holds a reference */
        brig_conn *c;    /* holds a reference */
        cJSON *id;
        char *buf;
        uint64_t offset;
} read_req;

static void unlink_cb(uv_fs_t *req) {
        uv_fs_req_cleanup(req);
        free(req);
}

/* Removes the file on the thread pool. */
static void remove_file(uv_loop_t *loop, const char *path) {
        uv_fs_t *req = malloc(sizeof(*req));
        if (!req || uv_fs_unlink(loop, req, path, unlink_cb) < 0) {
                free(req);
                (void) unlink(path); /* the last resort: a lookup and an unlink */
        }
}

static void export_unref(brig_export *ex) {
        if (--ex->refs > 0)
                return;
        if (ex->fd >= 0)
                (void) close(ex->fd);
        cJSON_Delete(ex->id);
        free(ex->path);
        free(ex);
}

static void export_unlist(brig_conn *c, brig_export *ex) {
        for (brig_export **p = &c->exports; *p; p = &(*p)->next)
                if (*p == ex) {
                        *p = ex->next;
                        break;
                }
}

/* Out of the connection's list, its file removed. */
static void export_drop(brig_conn *c, brig_export *ex) {
        export_unlist(c, ex);
        if (ex->path)
                remove_file(c->w->loop, ex->path);
        export_unref(ex);
}

static void export_done_cb(brig_env_export_result *res, const brig_error *err, void *userdata) {
        brig_export *ex = userdata;
        brig_conn *c = ex->c;
        cJSON *o = NULL;

        ex->c = NULL;
        if (res && res->path && !(ex->path = strdup(res->path)))
                (void) unlink(res->path);
        if (c->closing) {
                export_drop(c, ex);
        } else if (err) {
                brig__mcp_send_brig_error(c, ex->id, brig__mcp_env_error_code(err), err);
                export_drop(c, ex);
        } else if ((!ex->path && !ex->into_fd) || !(o = cJSON_CreateObject()) ||
                   (!ex->into_fd && !cJSON_AddStringToObject(o, "export", res->token)) ||
                   !cJSON_AddNumberToObject(o, "bytes", (double) res->bytes) ||
                   !cJSON_AddStringToObject(o, "sha256", res->sha256) ||
                   !cJSON_AddStringToObject(o, "snapshot", res->snapshot)) {
                cJSON_Delete(o);
                brig__mcp_send_error(c, ex->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                export_drop(c, ex);
        } else if (ex->into_fd) {
                (void) brig__conn_send(c, brig_rpc_result(ex->id, o));
                export_drop(c, ex);
        } else {
                memcpy(ex->token, res->token, sizeof(ex->token));
                ex->bytes = res->bytes;
                ex->fd = res->fd;
                res->fd = -1;
                (void) brig__conn_send(c, brig_rpc_result(ex->id, o));
        }
        brig__conn_unref(c);
}

void brig__mcp_handle_export(brig_conn *c, const brig_rpc_msg *m) {
        brig_error err = BRIG_ERROR_INIT;
        brig_export *ex;
        unsigned n = 0;
        bool into_fd = false;
        int out_fd = -1;
        brig_env *env;
        int r;

        if (brig_json_get_bool(m->params, "params", "fd", &into_fd, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        if (!(env = brig__mcp_env_param(c, m, "brig/environment.export", "id")))
                return;
        if (env->disk.quarantined) {
                (void) brig__env_quarantined_error(env, &err);
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        for (ex = c->exports; ex; ex = ex->next)
                n++;
        if (n >= MAX_EXPORTS_PER_CONN) {
                char msg[96];
                (void) snprintf(msg, sizeof(msg), "at most %d exports open per connection: close one first",
                                MAX_EXPORTS_PER_CONN);
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, msg);
                return;
        }
        if (brig__worker_audit(c->w, brig_audit_environment_export(c->id, env->id, c->peer.uid)) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, "audit log unavailable");
                return;
        }
        if (into_fd && (out_fd = brig__mcp_take_fd(c, m, O_WRONLY)) < 0)
                return;
        if (!(ex = calloc(1, sizeof(*ex))) || !(ex->id = cJSON_Duplicate(m->id, true))) {
                free(ex);
                if (out_fd >= 0)
                        (void) close(out_fd);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        ex->fd = -1;
        ex->into_fd = into_fd;
        ex->refs = 1;
        ex->c = c;
        ex->next = c->exports;
        c->exports = ex;
        c->refs++;
        if ((r = brig_env_export(env, out_fd, export_done_cb, ex, &err)) < 0) {
                brig__mcp_send_brig_error(c, m->id, brig__mcp_env_error_code(&err), &err);
                ex->c = NULL;
                export_drop(c, ex);
                brig__conn_unref(c);
        }
}

/* The connection's finished archive named by params.export; answers the error itself otherwise. */
static brig_export *export_param(brig_conn *c, const brig_rpc_msg *m) {
        brig_error err = BRIG_ERROR_INIT;
        const char *token = NULL;

        if (brig_json_get_string(m->params, "params", "export", true, &token, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return NULL;
        }
        for (brig_export *ex = c->exports; ex; ex = ex->next)
                if (ex->fd >= 0 && strcmp(ex->token, token) == 0)
                        return ex;
        char msg[128];
        (void) snprintf(msg, sizeof(msg), "no export \"%.64s\"", token);
        brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, msg);
        return NULL;
}

static void read_cb(uv_fs_t *fs) {
        read_req *rr = (read_req *) fs;
        ssize_t n = fs->result;
        char *data = NULL;
        cJSON *o = NULL;

        uv_fs_req_cleanup(fs);
        if (n < 0) {
                char msg[160];
                (void) snprintf(msg, sizeof(msg), "export.read: %s", uv_strerror((int) n));
                brig__mcp_send_error(rr->c, rr->id, BRIG_RPC_INTERNAL_ERROR, msg);
        } else if (!(data = brig_base64_encode_in_place(rr->buf, (size_t) n)) || (rr->buf = data, false) ||
                   !(o = cJSON_CreateObject()) || !cJSON_AddStringToObject(o, "data", data) ||
                   !cJSON_AddBoolToObject(o, "eof", rr->offset + (uint64_t) n >= rr->ex->bytes)) {
                cJSON_Delete(o);
                brig__mcp_send_error(rr->c, rr->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
        } else
                (void) brig__conn_send(rr->c, brig_rpc_result(rr->id, o));
        free(rr->buf);
        cJSON_Delete(rr->id);
        rr->ex->reading--;
        export_unref(rr->ex);
        brig__conn_unref(rr->c);
        free(rr);
}

void brig__mcp_handle_export_read(brig_conn *c, const brig_rpc_msg *m) {
        brig_error err = BRIG_ERROR_INIT;
        uint64_t offset = 0, length = BRIG_ARCHIVE_CHUNK_MAX;
        brig_export *ex;
        read_req *rr;
        int r;

        if (!(ex = export_param(c, m)))
                return;
        if (brig_json_get_u64(m->params, "params", "offset", UINT64_MAX, &offset, &err) < 0 ||
            brig_json_get_u64(m->params, "params", "length", BRIG_ARCHIVE_CHUNK_MAX, &length, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        if (ex->reading >= MAX_READS_PER_EXPORT) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED,
                                     "export.read: two reads of this export in flight: wait for an answer");
                return;
        }
        if (offset > ex->bytes) {
                char msg[160];
                (void) snprintf(msg, sizeof(msg),
                                "params.offset: %llu is past the end of the archive (%llu bytes)",
                                (unsigned long long) offset, (unsigned long long) ex->bytes);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, msg);
                return;
        }
        if (length > ex->bytes - offset)
                length = ex->bytes - offset;
        /* Room for the base64 it becomes in place, grown there (common/text.h). */
        if (!(rr = calloc(1, sizeof(*rr))) || !(rr->buf = malloc(length ? length : 1)) ||
            !(rr->id = cJSON_Duplicate(m->id, true))) {
                if (rr)
                        free(rr->buf);
                free(rr);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        rr->ex = ex;
        rr->c = c;
        rr->offset = offset;
        uv_buf_t buf = uv_buf_init(rr->buf, (unsigned) length);
        if ((r = uv_fs_read(c->w->loop, &rr->fs, ex->fd, &buf, 1, (int64_t) offset, read_cb)) < 0) {
                char msg[160];
                (void) snprintf(msg, sizeof(msg), "export.read: %s", uv_strerror(r));
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, msg);
                cJSON_Delete(rr->id);
                free(rr->buf);
                free(rr);
                return;
        }
        ex->refs++;
        ex->reading++;
        c->refs++;
}

typedef struct close_req {
        uv_fs_t fs;
        brig_conn *c; /* holds a reference */
        cJSON *id;
} close_req;

/* The file is gone: the answer says so. */
static void close_cb(uv_fs_t *fs) {
        close_req *cr = (close_req *) fs;
        cJSON *o = cJSON_CreateObject();

        if (fs->result < 0 && fs->result != UV_ENOENT)
                log_warning("remove '%s': %s, ignoring", fs->path, uv_strerror((int) fs->result));
        uv_fs_req_cleanup(fs);
        if (o && cJSON_AddBoolToObject(o, "closed", true))
                (void) brig__conn_send(cr->c, brig_rpc_result(cr->id, o));
        else {
                cJSON_Delete(o);
                brig__mcp_send_error(cr->c, cr->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
        }
        cJSON_Delete(cr->id);
        brig__conn_unref(cr->c);
        free(cr);
}

void brig__mcp_handle_export_close(brig_conn *c, const brig_rpc_msg *m) {
        brig_export *ex = export_param(c, m);
        close_req *cr;

        if (!ex)
                return;
        if (!(cr = calloc(1, sizeof(*cr))) || !(cr->id = cJSON_Duplicate(m->id, true))) {
                free(cr);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        cr->c = c;
        export_unlist(c, ex);
        if (uv_fs_unlink(c->w->loop, &cr->fs, ex->path, close_cb) < 0) {
                cJSON_Delete(cr->id);
                free(cr);
                export_drop(c, ex); /* removed anyway, as a connection's last archive would be */
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR,
                                     "export.close: cannot queue the removal");
                return;
        }
        c->refs++;
        export_unref(ex);
}

void brig__mcp_exports_closing(brig_conn *c) {
        /* One still being written is removed when it is (export_done_cb()). */
        for (brig_export *ex = c->exports, *next; ex; ex = next) {
                next = ex->next;
                if (ex->fd >= 0)
                        export_drop(c, ex);
        }
}
