/* SPDX-License-Identifier: MIT */
/* brig/descriptor.pass: a local client hands brigd one open file over its connection (SCM_RIGHTS), which
 * the next brig/environment.export or .import with `fd: true` takes instead of base64 chunks: brigd then
 * writes the archive straight into the client's file, or copies the client's file into its upload.
 *
 * Theory of operation. libuv reads a non-ipc pipe with read(), which drops passed descriptors, so the
 * descriptor travels apart from the JSON lines:
 *   1. the client sends the request and waits for its answer;
 *   2. brigd stops reading the connection (no later byte reaches libuv), answers `{ready: true}` and waits
 *      on the thread pool (poll, bounded by FD_WAIT_MS) for one byte carrying exactly one descriptor, read
 *      with recvmsg(MSG_CMSG_CLOEXEC);
 *   3. the client sends that byte with its descriptor (sendmsg), then its next request;
 *   4. brigd checks the descriptor (a regular file, not on FUSE, whose reads and writes could hang a thread
 *      of the pool at the client's will, nor on proc, sysfs and the like), keeps it as the connection's (one
 * at most) and reads again. A line that comes after the request before the byte (the client did not wait)
 * closes the connection. The descriptor is the client's own file, opened with its own rights: brigd reads or
 * writes only that. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "worker/mcp_internal.h"

/* How long the client has to send the byte once told it may. */
#define FD_WAIT_MS 10000

typedef struct fd_wait {
        uv_poll_t poll; /* on sock, a duplicate of the connection's: its own number, which a close of the
                         * connection does not free for reuse while polled */
        uv_timer_t timer;
        uv_work_t req;
        brig_conn *c; /* holds a reference */
        int sock;
        int fd;
        int handles;     /* open: poll, timer */
        bool ending;     /* the handles are closing */
        const char *why; /* the refusal, or NULL */
} fd_wait;

/* Thread pool: what the descriptor is. */
static void check_work_cb(uv_work_t *req) {
        fd_wait *fw = req->data;
        fw->why = brig_fdpass_refusal(fw->fd);
}

static void check_after_cb(uv_work_t *req, int status) {
        fd_wait *fw = req->data;
        brig_conn *c = fw->c;

        c->fd_wait = NULL;
        if (!c->closing && !fw->why && status == 0) {
                c->passed_fd = TAKE_FD(fw->fd);
                if (uv_read_start((uv_stream_t *) &c->pipe, brig__conn_alloc_cb, brig__conn_read_cb) < 0)
                        brig__conn_close(c, "cannot read again");
        } else if (!c->closing) {
                char msg[96];
                (void) snprintf(msg, sizeof(msg), "descriptor.pass: %s", fw->why ? fw->why : "cancelled");
                brig__conn_close(c, msg);
        }
        if (fw->fd >= 0)
                (void) close(fw->fd);
        brig__conn_unref(c);
        free(fw);
}

static void closed_cb(uv_handle_t *h) {
        fd_wait *fw = h->data;
        brig_conn *c = fw->c;

        if (--fw->handles > 0)
                return;
        (void) close(fw->sock);
        if (!fw->why && !c->closing &&
            uv_queue_work(c->w->loop, &fw->req, check_work_cb, check_after_cb) == 0)
                return;
        fw->why = fw->why ? fw->why : "cannot queue";
        check_after_cb(&fw->req, 0);
}

/* Ends the wait: the handles closed, then the check (or the refusal). */
static void wait_end(fd_wait *fw, const char *why) {
        if (fw->ending)
                return;
        fw->ending = true;
        fw->why = why;
        uv_close((uv_handle_t *) &fw->poll, closed_cb);
        uv_close((uv_handle_t *) &fw->timer, closed_cb);
}

static void timeout_cb(uv_timer_t *t) {
        wait_end(t->data, "no descriptor came");
}

/* The byte is there (or the client went): read it with its descriptor, never blocking. */
static void readable_cb(uv_poll_t *p, int status, int events) {
        fd_wait *fw = p->data;
        int r = status < 0 ? status : brig_fdpass_recv(fw->sock, &fw->fd);

        (void) events;
        if (r == -EAGAIN) /* woken for nothing: the timer still runs */
                return;
        (void) uv_poll_stop(p);
        (void) uv_timer_stop(&fw->timer);
        if (status < 0)
                wait_end(fw, "the connection failed");
        else if (r < 0)
                wait_end(fw, "not one byte with one descriptor");
        else
                wait_end(fw, NULL);
}

void brig__mcp_fd_conn_closing(brig_conn *c) {
        if (c->fd_wait)
                wait_end(c->fd_wait, "the connection closed");
}

void brig__mcp_handle_fd_pass(brig_conn *c, const brig_rpc_msg *m) {
        fd_wait *fw = NULL;
        uv_os_fd_t sock;
        cJSON *o = NULL;
        int dup_fd = -1;

        if (c->passed_fd >= 0 || c->fd_wait) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED,
                                     "descriptor.pass: one is held already: use it first");
                return;
        }
        if (uv_fileno((uv_handle_t *) &c->pipe, &sock) < 0 ||
            (dup_fd = fcntl(sock, F_DUPFD_CLOEXEC, 3)) < 0 || !(fw = calloc(1, sizeof(*fw))) ||
            !(o = cJSON_CreateObject()) || !cJSON_AddBoolToObject(o, "ready", true) ||
            uv_poll_init(c->w->loop, &fw->poll, dup_fd) < 0) {
                cJSON_Delete(o);
                free(fw);
                if (dup_fd >= 0)
                        (void) close(dup_fd);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "descriptor.pass: out of resources");
                return;
        }
        fw->req.data = fw->poll.data = fw->timer.data = fw;
        fw->c = c;
        fw->sock = dup_fd;
        fw->fd = -1;
        fw->handles = 2;
        (void) uv_timer_init(c->w->loop, &fw->timer);
        c->fd_wait = fw;
        c->refs++;
        /* Before the answer: no byte the client sends after reading it may reach libuv's read(). */
        (void) uv_read_stop((uv_stream_t *) &c->pipe);
        if (uv_poll_start(&fw->poll, UV_READABLE | UV_DISCONNECT, readable_cb) < 0 ||
            uv_timer_start(&fw->timer, timeout_cb, FD_WAIT_MS, 0) < 0) {
                cJSON_Delete(o);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "descriptor.pass: cannot wait");
                wait_end(fw, "cannot wait");
                return;
        }
        (void) brig__conn_send(c, brig_rpc_result(m->id, o));
}
int brig__mcp_take_fd(brig_conn *c, const brig_rpc_msg *m, int want_mode) {
        int fd = c->passed_fd, fl;

        c->passed_fd = -1;
        if (fd < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params.fd: no descriptor passed (brig/descriptor.pass) first");
                return -1;
        }
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_PATH) ||
            (want_mode == O_RDONLY ? (fl & O_ACCMODE) == O_WRONLY : (fl & O_ACCMODE) == O_RDONLY)) {
                (void) close(fd);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     want_mode == O_RDONLY
                                             ? "params.fd: the descriptor is not open for reading"
                                             : "params.fd: the descriptor is not open for writing");
                return -1;
        }
        return fd;
}
