/* SPDX-License-Identifier: MIT */
/* The proxy's relay: two sockets, a pipe per direction, splice(2) in and out. A direction reads its source
 * only when its pipe is empty and writes the pipe out before reading again; when the destination's socket
 * buffer is full (EAGAIN) it waits for the destination to become writable and leaves its source unread, so
 * a slow reader slows the writer through TCP flow control and brigd holds at most one pipe per direction.
 * A checked client (up_cb) is read into a buffer instead, written on the same way before the next read.
 * One uv_poll per socket watches for what either direction waits for. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/handles.h"
#include "worker/proxy_relay.h"

#define MAX_ROUNDS 16            /* splices per direction per event, so other connections get their turn */
#define CHECKED_READ (64 * 1024) /* bytes of a checked client read at once */

typedef struct dir {
        int src, dst; /* indices into fd[] */
        int pipe[2];
        size_t pipe_size, in_pipe;
        char *pre, *end, *buf; /* owned: sent first; sent after the source's end; a checked read */
        size_t pre_len, end_len;
        const char *out; /* from user space (pre, buf or end), written before anything else */
        size_t out_len, out_off;
        bool eof, done, stopped, end_sent;
        bool want_read, want_write;
} dir;

struct brig_proxy_relay {
        uv_poll_t poll[2];
        int fd[2]; /* 0: client, 1: upstream */
        int events[2];
        dir d[2];
        brig_handles handles; /* the polls: r is freed once both are closed */
        bool closing, finished;
        brig_proxy_relay_bytes_cb bytes_cb;
        brig_proxy_relay_up_cb up_cb;
        brig_proxy_relay_done_cb done_cb;
        void *userdata;
};

static void relay_free(brig_proxy_relay *r) {
        for (int i = 0; i < 2; i++) {
                brig_closep(&r->fd[i]);
                brig_closep(&r->d[i].pipe[0]);
                brig_closep(&r->d[i].pipe[1]);
                /* A request may carry network.secrets values (worker/proxy_secrets.h). */
                if (r->d[i].pre)
                        explicit_bzero(r->d[i].pre, r->d[i].pre_len);
                free(r->d[i].pre);
                free(r->d[i].end);
                free(r->d[i].buf);
        }
        free(r);
}

static void relay_all_closed(void *userdata) {
        relay_free(userdata);
}

BRIG_HANDLES_CLOSED_CB(poll_closed_cb, brig_proxy_relay, handles)

void brig_proxy_relay_close(brig_proxy_relay *r) {
        if (!r || r->closing)
                return;
        r->closing = true;
        for (int i = 0; i < 2; i++)
                uv_close((uv_handle_t *) &r->poll[i], poll_closed_cb);
}

static void finish(brig_proxy_relay *r, int error) {
        if (r->finished || r->closing)
                return;
        r->finished = true;
        for (int i = 0; i < 2; i++)
                (void) uv_poll_stop(&r->poll[i]);
        r->done_cb(r, error, r->userdata);
}

static void send_out(dir *d, const char *data, size_t len) {
        d->out = data;
        d->out_len = len;
        d->out_off = 0;
}

/* Reads a checked client once: what up_cb passes is sent on before the next read. -EAGAIN (waiting to
 * read), -EINTR, another negative errno to end the relay, or 0. */
static int read_checked(brig_proxy_relay *r, dir *d) {
        bool stop = false;
        ssize_t n = recv(r->fd[d->src], d->buf, CHECKED_READ, MSG_DONTWAIT);

        if (n < 0 && errno == EAGAIN)
                d->want_read = true;
        if (n < 0)
                return -errno;
        int64_t take = r->up_cb(r, d->buf, (size_t) n, &stop, r->userdata);
        if (take < 0)
                return (int) take;
        if (r->closing)
                return 0;
        d->eof = n == 0;
        d->stopped = stop;
        if (take > 0 && !r->bytes_cb(r, BRIG_PROXY_RELAY_UP, (size_t) take, r->userdata))
                return -EDQUOT;
        send_out(d, d->buf, (size_t) take);
        return 0;
}

/* Moves what it can in one direction; < 0 on a socket error or when the bytes callback says stop. */
static int pump(brig_proxy_relay *r, brig_proxy_relay_dir which) {
        dir *d = &r->d[which];
        int src = r->fd[d->src], dst = r->fd[d->dst];

        d->want_read = d->want_write = false;
        for (int round = 0; round < MAX_ROUNDS && !d->done; round++) {
                if (d->out_off < d->out_len) {
                        ssize_t n = send(dst, d->out + d->out_off, d->out_len - d->out_off,
                                         MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0 && errno == EAGAIN) {
                                d->want_write = true;
                                return 0;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -errno;
                        d->out_off += (size_t) n;
                        continue;
                }
                if (d->in_pipe > 0) {
                        ssize_t n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
                                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                        if (n < 0 && errno == EAGAIN) {
                                d->want_write = true;
                                return 0;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -errno;
                        d->in_pipe -= (size_t) n;
                        continue;
                }
                if (d->eof && d->end && !d->end_sent) {
                        d->end_sent = true;
                        send_out(d, d->end, d->end_len);
                        continue;
                }
                if (d->eof) {
                        /* Everything before the end is written: pass the end on. */
                        (void) shutdown(dst, SHUT_WR);
                        d->done = true;
                        return 0;
                }
                if (d->stopped) {
                        d->done = true;
                        return 0;
                }
                if (d->buf) {
                        int e = read_checked(r, d);
                        if (e < 0 && e != -EINTR)
                                return e == -EAGAIN ? 0 : e;
                        if (r->closing)
                                return 0;
                        continue;
                }
                ssize_t n =
                        splice(src, NULL, d->pipe[1], NULL, d->pipe_size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0 && errno == EAGAIN) {
                        d->want_read = true;
                        return 0;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        d->eof = true;
                        continue;
                }
                d->in_pipe = (size_t) n;
                if (!r->bytes_cb(r, which, (size_t) n, r->userdata))
                        return -EDQUOT;
                if (r->closing)
                        return 0;
        }
        /* Out of rounds with work left: come back on the next event. */
        if (!d->done) {
                if (d->out_off < d->out_len || d->in_pipe > 0)
                        d->want_write = true;
                else
                        d->want_read = true;
        }
        return 0;
}

static void poll_cb(uv_poll_t *h, int status, int events);

static void update(brig_proxy_relay *r) {
        int want[2] = {0, 0};

        /* UP reads the client and writes the upstream; DOWN the other way round. */
        for (int w = 0; w < 2; w++) {
                const dir *d = &r->d[w];
                if (d->want_read)
                        want[d->src] |= UV_READABLE;
                if (d->want_write)
                        want[d->dst] |= UV_WRITABLE;
        }
        for (int i = 0; i < 2; i++) {
                if (want[i] == r->events[i])
                        continue;
                r->events[i] = want[i];
                if (want[i])
                        (void) uv_poll_start(&r->poll[i], want[i], poll_cb);
                else
                        (void) uv_poll_stop(&r->poll[i]);
        }
}

static void run(brig_proxy_relay *r) {
        int e = 0;

        for (int w = 0; w < 2 && e == 0 && !r->closing; w++)
                e = pump(r, (brig_proxy_relay_dir) w);
        if (r->closing)
                return;
        if (e < 0) {
                finish(r, e);
                return;
        }
        /* The upstream's end reached the client: the exchange is over (one request per connection). */
        if (r->d[BRIG_PROXY_RELAY_DOWN].done) {
                finish(r, 0);
                return;
        }
        update(r);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
        brig_proxy_relay *r = h->data;
        (void) events;

        if (r->closing || r->finished)
                return;
        /* An error on the socket shows in the next splice. */
        (void) status;
        run(r);
}

int brig_proxy_relay_new(uv_loop_t *loop, int client_fd, int upstream_fd, const char *const pre[2],
                         const size_t pre_len[2], brig_proxy_relay_bytes_cb bytes_cb,
                         brig_proxy_relay_up_cb up_cb, brig_proxy_relay_done_cb done_cb, void *userdata,
                         brig_proxy_relay **ret) {
        brig_proxy_relay *r = calloc(1, sizeof(*r));
        int e;

        if (!r) {
                (void) close(client_fd);
                (void) close(upstream_fd);
                return -ENOMEM;
        }
        brig_handles_init(&r->handles, relay_all_closed, r);
        r->fd[0] = client_fd;
        r->fd[1] = upstream_fd;
        r->bytes_cb = bytes_cb;
        r->up_cb = up_cb;
        r->done_cb = done_cb;
        r->userdata = userdata;
        r->d[BRIG_PROXY_RELAY_UP] = (dir){.src = 0, .dst = 1, .pipe = {-1, -1}};
        r->d[BRIG_PROXY_RELAY_DOWN] = (dir){.src = 1, .dst = 0, .pipe = {-1, -1}};
        for (int w = 0; w < 2; w++) {
                dir *d = &r->d[w];
                if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                        e = -errno;
                        relay_free(r);
                        return e;
                }
                int size = fcntl(d->pipe[1], F_SETPIPE_SZ, BRIG_PROXY_RELAY_PIPE_SIZE);
                if (size < 0)
                        size = fcntl(d->pipe[1], F_GETPIPE_SZ);
                d->pipe_size = size > 0 ? (size_t) size : 65536;
                if (pre && pre[w] && pre_len[w] > 0) {
                        if (!(d->pre = malloc(pre_len[w]))) {
                                relay_free(r);
                                return -ENOMEM;
                        }
                        memcpy(d->pre, pre[w], pre_len[w]);
                        d->pre_len = pre_len[w];
                        send_out(d, d->pre, d->pre_len);
                }
        }
        if (up_cb && !(r->d[BRIG_PROXY_RELAY_UP].buf = malloc(CHECKED_READ))) {
                relay_free(r);
                return -ENOMEM;
        }
        for (int i = 0; i < 2; i++) {
                if ((e = uv_poll_init_socket(loop, &r->poll[i], r->fd[i])) < 0) {
                        if (i == 1) {
                                r->closing = true;
                                uv_close((uv_handle_t *) &r->poll[0], poll_closed_cb);
                        } else
                                relay_free(r);
                        return e;
                }
                r->poll[i].data = r;
                brig_handles_add(&r->handles, 1);
        }
        *ret = r;
        return 0;
}

void brig_proxy_relay_run(brig_proxy_relay *r) {
        run(r);
}

int brig_proxy_relay_down_end(brig_proxy_relay *r, const char *data, size_t len) {
        dir *d = &r->d[BRIG_PROXY_RELAY_DOWN];

        if (d->end || d->end_sent)
                return -EBUSY;
        if (!(d->end = malloc(len)))
                return -ENOMEM;
        memcpy(d->end, data, len);
        d->end_len = len;
        return 0;
}
