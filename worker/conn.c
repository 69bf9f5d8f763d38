/* SPDX-License-Identifier: MIT */
/* One client connection: reading and framing, a bounded write queue with backpressure on the commands it
 * streams from, and a reference count so the connection outlives the calls still finishing after it
 * closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/json_frame.h"
#include "common/log.h"
#include "worker/audit_events.h"
#include "worker/rpc.h"
#include "worker/worker.h"

/* A frame with encoded segments (a command's output, common/json_frame.h) is encoded and written a part of
 * at most PART_BYTES at a time, so it is held raw once plus one part; the frames queued after it wait in
 * the connection's list until it is out, so that lines never interleave. */
#define PART_BYTES (256u * 1024u)
#define PART_IOVS 16

typedef struct write_req {
        uv_write_t req;
        brig_conn *conn;
        struct write_req *next; /* in c->waiting */
        size_t len;
        brig_json_frame frame;   /* the serialised message and its newline */
        brig_json_frame_pos pos; /* written in parts: how far */
        char *part;              /* written in parts: the part being written */
} write_req;

static void write_req_free(write_req *wr) {
        brig__budget_queued(wr->conn, -(int64_t) wr->len);
        brig_json_frame_done(&wr->frame);
        free(wr->part);
        free(wr);
}

/* Frames that will never be written: the connection is closing. */
static void drop_waiting(brig_conn *c) {
        while (c->waiting) {
                write_req *wr = c->waiting;
                c->waiting = wr->next;
                write_req_free(wr);
        }
        c->waiting_tail = NULL;
        c->unsent = 0;
}

static void conn_free(brig_conn *c) {
        brig_worker *w = c->w;

        for (brig_conn **p = &w->conns; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        w->n_conns--;
        brig_framer_done(&c->framer);
        drop_waiting(c);
        if (c->passed_fd >= 0)
                (void) close(c->passed_fd);
        if (c->env)
                brig_env_detach(c->env);
        free(c);
}

void brig__conn_unref(brig_conn *c) {
        if (--c->refs > 0)
                return;
        conn_free(c);
}

static void handle_closed_cb(uv_handle_t *h) {
        brig__conn_unref(h->data);
}

void brig__conn_close(brig_conn *c, const char *reason) {
        if (c->closing)
                return;
        c->closing = true;
        log_info("connection %llu closed: %s", (unsigned long long) c->id, reason);
        (void) brig__worker_audit(c->w,
                                  brig_audit_connection_close(c->id, reason, c->env ? c->env->id : NULL));
        brig__mcp_conn_closing(c);
        uv_close((uv_handle_t *) &c->pipe, handle_closed_cb);
        uv_close((uv_handle_t *) &c->stall_timer, handle_closed_cb);
}

void brig__conn_apply_pause(brig_conn *c) {
        for (brig_call *call = c->calls; call; call = call->next) {
                bool want = c->paused || (c->budget_paused && call != c->w->budget.exempt);
                if (!call->exec || call->state != BRIG_CALL_RUNNING || call->exec_paused == want)
                        continue;
                call->exec_paused = want;
                brig_exec_set_paused(call->exec, want);
        }
}

static void set_paused(brig_conn *c, bool paused) {
        if (c->paused == paused)
                return;
        c->paused = paused;
        brig__conn_apply_pause(c);
        if (paused)
                brig__budget_conn_paused(c);
}

/* Bytes queued and not yet taken by the client: libuv counts partial writes of a large reply down in its
 * queue size; unsent ones are still ours. */
static uint64_t queue_size(brig_conn *c) {
        return uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) + c->unsent;
}

static uint64_t bytes_sent(brig_conn *c) {
        return c->bytes_queued - queue_size(c);
}

/* A slow reader is fine; one that reads nothing at all for --client-stall-timeout while we wait on it (its
 * queue is over its mark, or the worker is over its client budget) is gone. */
static void stall_cb(uv_timer_t *t) {
        brig_conn *c = t->data;
        if (!c->queued || (!c->paused && !brig__budget_over(c->w)))
                return;
        if (bytes_sent(c) == c->stall_mark) {
                brig__conn_close(c, "client stopped reading");
                return;
        }
        c->stall_mark = bytes_sent(c);
        (void) uv_timer_start(&c->stall_timer, stall_cb, c->w->stall_timeout_ms, 0);
}

void brig__conn_watch_stall(brig_conn *c) {
        if (c->closing || uv_is_active((uv_handle_t *) &c->stall_timer))
                return;
        c->stall_mark = bytes_sent(c);
        (void) uv_timer_start(&c->stall_timer, stall_cb, c->w->stall_timeout_ms, 0);
}

static void written(brig_conn *c, int status) {
        if (c->closing)
                return;
        if (status < 0) {
                brig__conn_close(c, uv_strerror(status));
                return;
        }
        if (c->paused && queue_size(c) < BRIG_WRITE_QUEUE_LOW)
                set_paused(c, false);
}

static void write_cb(uv_write_t *req, int status) {
        write_req *wr = (write_req *) req;
        brig_conn *c = wr->conn;

        /* Also when the write was cancelled by a close: the bytes are no longer held. */
        write_req_free(wr);
        written(c, status);
}

static int write_waiting(brig_conn *c);

static void part_cb(uv_write_t *req, int status) {
        write_req *wr = (write_req *) req;
        brig_conn *c = wr->conn;
        int r = status;

        if (status < 0) {
                /* Cancelled by a close, or the socket failed: nothing more of it, or after it, goes out. */
                drop_waiting(c);
        } else
                r = write_waiting(c);
        written(c, r);
}

/* Hands the next part of c's first waiting frame (written in parts) to the socket, or, once it is out,
 * moves on. */
static int write_part(brig_conn *c, write_req *wr) {
        struct iovec iov[PART_IOVS];
        uv_buf_t bufs[PART_IOVS];
        size_t n = brig_json_frame_next(&wr->frame, &wr->pos, wr->part, PART_BYTES, iov, PART_IOVS);
        size_t len = 0;

        if (n == 0) {
                c->waiting = wr->next;
                if (!c->waiting)
                        c->waiting_tail = NULL;
                write_req_free(wr);
                return write_waiting(c);
        }
        for (size_t i = 0; i < n; i++) {
                bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned) iov[i].iov_len);
                len += iov[i].iov_len;
        }
        c->unsent -= len;
        return uv_write(&wr->req, (uv_stream_t *) &c->pipe, bufs, (unsigned) n, part_cb);
}

/* Drops the first done bytes of bufs (a short write took them). */
static void skip_written(uv_buf_t **bufs, size_t *n, size_t done) {
        while (*n > 0 && done >= (*bufs)->len) {
                done -= (*bufs)->len;
                (*bufs)++;
                (*n)--;
        }
        if (*n > 0) {
                (*bufs)->base += done;
                (*bufs)->len -= done;
        }
}

/* Hands c's waiting frames to the socket in order, up to the first written in parts, whose first part
 * goes too. */
static int write_waiting(brig_conn *c) {
        int r;

        while (c->waiting) {
                write_req *wr = c->waiting;
                if (wr->part)
                        return write_part(c, wr); /* its part was written: the next */
                if (wr->frame.encoded) {
                        if (!(wr->part = malloc(PART_BYTES)))
                                return -ENOMEM;
                        return write_part(c, wr);
                }
                _cleanup_free_ uv_buf_t *bufs = malloc(wr->frame.n * sizeof(*bufs));
                if (!bufs)
                        return -ENOMEM;
                for (size_t i = 0; i < wr->frame.n; i++)
                        bufs[i] = uv_buf_init(wr->frame.segs[i].data, (unsigned) wr->frame.segs[i].len);
                c->waiting = wr->next;
                if (!c->waiting)
                        c->waiting_tail = NULL;
                c->unsent -= wr->len;
                /* Most frames fit the socket's buffer whole: written now, they cost no request, no
                 * callback on the next loop turn and no re-arming of the socket's poll (uv_write() of
                 * an idle stream writes at once too, but then does all three). */
                uv_buf_t *rest = bufs;
                size_t n_rest = wr->frame.n;
                int w = uv_try_write((uv_stream_t *) &c->pipe, bufs, (unsigned) wr->frame.n);
                if (w > 0 && (size_t) w == wr->len) {
                        write_req_free(wr);
                        written(c, 0);
                        continue;
                }
                if (w > 0)
                        skip_written(&rest, &n_rest, (size_t) w);
                /* libuv copies the buffer list: only the data must live until write_cb. Errors other
                 * than a full socket come from uv_write() too, through write_cb, as before. */
                if ((r = uv_write(&wr->req, (uv_stream_t *) &c->pipe, rest, (unsigned) n_rest, write_cb)) <
                    0) {
                        write_req_free(wr);
                        return r;
                }
        }
        return 0;
}

/* Queues msg (consumed) as one line. Its large strings (a command's output) are written from the buffers
 * they were built in, or encoded a part at a time as they are written (common/json_frame.h): the queue
 * holds each byte once. */
static int conn_queue(brig_conn *c, cJSON *msg, bool droppable) {
        brig_json_frame frame = {0};
        bool busy = c->waiting; /* a frame is being written in parts: this one waits its turn */
        write_req *wr;
        int r;

        if (!msg)
                return -ENOMEM;
        if (c->closing) {
                cJSON_Delete(msg);
                return -ECONNRESET;
        }
        if ((r = brig_json_frame_print(msg, &frame)) < 0)
                return r;
        if (droppable && queue_size(c) + frame.total > BRIG_WRITE_QUEUE_HARD) {
                brig_json_frame_done(&frame);
                brig__conn_close(c, "write queue over its limit");
                return -ENOBUFS;
        }
        wr = calloc(1, sizeof(*wr));
        if (!wr) {
                brig_json_frame_done(&frame);
                return -ENOMEM;
        }
        wr->frame = frame;
        wr->len = frame.total;
        wr->conn = c;
        c->bytes_queued += wr->len;
        c->unsent += wr->len;
        brig__budget_queued(c, (int64_t) wr->len);
        if (c->waiting_tail)
                c->waiting_tail->next = wr;
        else
                c->waiting = wr;
        c->waiting_tail = wr;
        if (!busy && (r = write_waiting(c)) < 0) {
                drop_waiting(c);
                brig__conn_close(c, uv_strerror(r));
                return r;
        }
        if (!c->paused && queue_size(c) > BRIG_WRITE_QUEUE_HIGH)
                set_paused(c, true);
        if (c->paused || brig__budget_over(c->w))
                brig__conn_watch_stall(c);
        return 0;
}
int brig__conn_send(brig_conn *c, cJSON *msg) {
        /* Responses are bounded by the policy's output limit and must arrive whatever the queue holds. */
        return conn_queue(c, msg, false);
}

int brig__conn_notify(brig_conn *c, cJSON *msg) {
        return conn_queue(c, msg, true);
}

static int line_cb(const char *line, size_t len, void *userdata) {
        brig_conn *c = userdata;
        /* Read with the request before reading stopped: the client did not wait for its answer, and the
         * byte carrying the descriptor may have been read too, its descriptor dropped (worker/mcp_fd.c). */
        if (c->fd_wait) {
                brig__conn_close(c, "a message while a descriptor is awaited");
                return -ECONNRESET;
        }
        brig__mcp_handle_line(c, line, len);
        return c->closing ? -ECONNRESET : 0;
}

void brig__conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        (void) h;
        buf->base = malloc(suggested);
        buf->len = buf->base ? suggested : 0;
}

void brig__conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        brig_conn *c = s->data;
        int r;

        if (n < 0) {
                free(buf->base);
                brig__conn_close(c, n == UV_EOF ? "client closed" : uv_strerror((int) n));
                return;
        }
        /* Calls may close the connection from inside the feed; keep it alive until we are out. */
        c->refs++;
        r = brig_framer_feed(&c->framer, buf->base, (size_t) n, line_cb, c);
        free(buf->base);
        if (r == -EMSGSIZE && !c->closing) {
                char msg[96];
                (void) snprintf(msg, sizeof(msg), "message larger than %u bytes", BRIG_MAX_MESSAGE_BYTES);
                (void) brig__conn_send(c, brig_rpc_error(NULL, BRIG_RPC_INVALID_REQUEST, msg, NULL));
                brig__conn_close(c, msg);
        } else if (r < 0 && r != -ECONNRESET && !c->closing)
                brig__conn_close(c, "out of memory");
        brig__conn_unref(c);
}

/* Writes msg (consumed) at once, if the socket takes it whole: for the last words before a close, which
 * would cancel a queued write. A new connection's socket buffer is empty. */
static void conn_say_now(brig_conn *c, cJSON *msg) {
        _cleanup_free_ char *text = msg ? cJSON_PrintUnformatted(msg) : NULL;
        _cleanup_free_ char *line = NULL;

        cJSON_Delete(msg);
        if (!text || asprintf(&line, "%s\n", text) < 0)
                return;
        uv_buf_t buf = uv_buf_init(line, (unsigned) strlen(line));
        (void) uv_try_write((uv_stream_t *) &c->pipe, &buf, 1);
}

/* Why a new connection c (already counted) may not stay, or NULL. Root and the admin uids get
 * BRIG_ADMIN_CONNECTIONS past the global cap and have no per-uid cap, so that idle connections of other
 * users never lock the operator out. */
static const char *conn_refusal(const brig_worker *w, const brig_conn *c) {
        bool admin = c->peer.uid == 0 || brig__worker_is_admin(w, c->peer.uid);
        size_t same_uid = 0;

        if (w->n_conns > BRIG_MAX_CONNECTIONS + (admin ? BRIG_ADMIN_CONNECTIONS : 0))
                return "too many connections";
        if (admin || !w->max_conns_per_uid)
                return NULL;
        for (const brig_conn *o = w->conns; o; o = o->next)
                if (!o->closing && o->peer.uid == c->peer.uid)
                        same_uid++;
        return same_uid > w->max_conns_per_uid ? "too many connections from this uid" : NULL;
}

void brig__conn_accept(brig_worker *w) {
        brig_conn *c;
        socklen_t len = sizeof(struct ucred);
        uv_os_fd_t fd;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->w = w;
        c->passed_fd = -1;
        c->id = ++w->next_conn_id;
        brig_framer_init(&c->framer, BRIG_MAX_MESSAGE_BYTES);
        (void) uv_pipe_init(w->loop, &c->pipe, 0);
        (void) uv_timer_init(w->loop, &c->stall_timer);
        c->pipe.data = c->stall_timer.data = c;
        c->refs = 2;
        c->accepted_at = uv_now(w->loop);
        c->next = w->conns;
        w->conns = c;
        w->n_conns++;

        r = uv_accept((uv_stream_t *) &w->listener, (uv_stream_t *) &c->pipe);
        if (r < 0) {
                c->closing = true;
                uv_close((uv_handle_t *) &c->pipe, handle_closed_cb);
                uv_close((uv_handle_t *) &c->stall_timer, handle_closed_cb);
                return;
        }
        if (uv_fileno((uv_handle_t *) &c->pipe, &fd) == 0)
                (void) getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len);
        if (brig__worker_audit(w, brig_audit_connection_open(c->id, &c->peer)) < 0) {
                brig__conn_close(c, "audit log unavailable");
                return;
        }
        const char *refusal = conn_refusal(w, c);
        if (refusal) {
                /* Said on the wire too, so that the client can tell a full worker from a broken one. */
                conn_say_now(c, brig__admission_busy(w, NULL, refusal));
                brig__conn_close(c, refusal);
                return;
        }
        log_info("connection %llu from uid=%u pid=%d", (unsigned long long) c->id, c->peer.uid, c->peer.pid);
        (void) uv_read_start((uv_stream_t *) &c->pipe, brig__conn_alloc_cb, brig__conn_read_cb);
}
