/* SPDX-License-Identifier: MIT */
/* TLS interception of a CONNECT to a secret's host (network.secrets): the two TLS ends of an intercepted
 * connection, their handshakes, the pumps between them and the requests inside.
 *
 * Theory of operation (worker/proxy_tls.h): after the CONNECT's 200, the jail's TLS handshake ends here
 * with a certificate for exactly its host, and brigd makes its own TLS connection to that host, verified
 * as any client would (the system's trust store and --upstream-ca, the host's name). The first request's
 * head inside is read, checked and rewritten exactly like a plain HTTP request's (worker/proxy.c: one
 * request, Connection: close), then the rest flows both ways through the two TLS ends on the loop (memory
 * BIOs), each side read only while the other's writes keep up. The first request's body is passed on to
 * its end (worker/proxy_body.h); what the client sends after it is its next request, never sent upstream
 * but checked, and refused after the first's response if it holds another host's placeholder. Both
 * handshakes and the first head come within BRIG_PROXY_HEADER_TIMEOUT_MS of the 200. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/error.h"
#include "worker/audit_events.h"
#include "worker/proxy_internal.h"
#include "worker/proxy_secrets.h"

/* A CONNECT to a secret's host is intercepted with a certificate for exactly that host from the
 * environment's CA (worker/proxy_ca.h), or refused: never tunnelled without the credential. */
bool brig__intercept_prepare(pconn *c) {
        brig_env *env = c->p->env;
        brig_error err = BRIG_ERROR_INIT;

        if (!env->tls_ca)
                (void) brig_error_set(&err, -ENOKEY, BRIG_KIND_INTERNAL, "the environment has no CA");
        else if (brig_tls_leaf(env->tls_ca, c->host, &c->leaf, &err) >= 0) {
                c->intercept = true;
                return true;
        }
        (void) snprintf(c->reason, sizeof(c->reason), "TLS interception for network.secrets failed: %s",
                        err.msg);
        brig__pconn_deny(c, false);
        return false;
}

/* Bytes read from a socket at once, and re-encrypted before they are sent on: large batches halve the
 * system calls and wake-ups of 64 KiB ones (bench_proxy's intercepted download about doubled). */
#define TLS_CHUNK (256 * 1024)
#define TLS_QUEUE_MAX (1024 * 1024) /* bytes waiting for a socket before the other side's reads stop */

static void intercept_pump(pconn *c, bool up);
static void response_done(pconn *c);
static void next_read(pconn *c);

static uv_stream_t *side_stream(pconn *c, bool up) {
        return (uv_stream_t *) (up ? &c->upstream.tcp : &c->client.tcp);
}

static void tls_written_cb(uv_write_t *req, int status) {
        chunk *k = container_of(req, chunk, req);
        pconn *c = k->c;
        free(k);
        c->pending--;
        if (c->state == PCONN_CLOSING) {
                brig__pconn_maybe_free(c);
                return;
        }
        if (status < 0 || (c->close_after_writes && c->pending == 0)) {
                brig__pconn_close(c);
                return;
        }
        /* A side whose writes caught up lets the other one read again. */
        for (int up = 0; up < 2; up++)
                if (c->paused[up] &&
                    uv_stream_get_write_queue_size(side_stream(c, up)) < TLS_QUEUE_MAX / 4) {
                        c->paused[up] = false;
                        intercept_pump(c, !up);
                }
}

/* Sends what the TLS end of side up has for its peer: what the socket takes at once straight from the TLS
 * end, and a copy of the rest queued behind it (uv_try_write() takes nothing while writes are queued, so
 * the order stays). Few writes: tls_forward() flushes batches of records. */
static int tls_flush(pconn *c, bool up) {
        brig_tls_conn *t = up ? c->tls_upstream : c->tls_client;
        size_t n, done;
        const char *data = brig_tls_conn_output(t, &n);

        if (n == 0)
                return 0;
        uv_buf_t b = uv_buf_init((char *) data, (unsigned) n);
        int w = uv_try_write(side_stream(c, up), &b, 1);
        if (w < 0 && w != UV_EAGAIN)
                return -EIO;
        done = w > 0 ? (size_t) w : 0;
        if (done < n) {
                chunk *k = malloc(sizeof(*k) + n - done);
                if (!k)
                        return -ENOMEM;
                memcpy(k->data, data + done, n - done);
                k->c = c;
                b = uv_buf_init(k->data, (unsigned) (n - done));
                if (uv_write(&k->req, side_stream(c, up), &b, 1, tls_written_cb) < 0) {
                        free(k);
                        return -EIO;
                }
                c->pending++;
        }
        brig_tls_conn_sent(t, n);
        return 0;
}

/* Ends the jail's TLS connection once what is on its way to it is written. */
static void tls_finish(pconn *c) {
        brig_tls_conn_close_notify(c->tls_client);
        c->close_after_writes = true;
        if (tls_flush(c, false) < 0 || c->pending == 0)
                brig__pconn_close(c);
}

/* The proxy's own answer inside the jail's TLS connection, then its end. */
void brig__intercept_reply(pconn *c, const char *data, size_t len) {
        brig_error err = BRIG_ERROR_INIT;

        if (brig_tls_conn_write(c->tls_client, data, len, &err) < 0) {
                brig__pconn_close(c);
                return;
        }
        tls_finish(c);
}

/* The upstream's TLS failed before its handshake ended: the jail learns why once its own is done. */
static void upstream_tls_failed(pconn *c, const char *why) {
        (void) snprintf(c->error, sizeof(c->error), "TLS to the upstream: %s", why);
        c->upstream_failed = true;
        (void) uv_read_stop(side_stream(c, true));
        if (c->client_tls_up)
                brig__pconn_reply_error(c, 502, "Bad Gateway", c->error,
                                        "brig: the upstream's TLS connection failed");
}

/* Ciphertext is read straight into its TLS end (brig_tls_conn_space()). */
static void tls_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        side *sd = h->data;
        pconn *c = sd->c;
        char *space = brig_tls_conn_space(sd == &c->upstream ? c->tls_upstream : c->tls_client, TLS_CHUNK);
        (void) suggested;

        /* None: libuv reports UV_ENOBUFS, which ends the connection. */
        *buf = uv_buf_init(space, space ? TLS_CHUNK : 0);
}

/* Ciphertext from side up, read into its TLS end: whether there is more to do with it. */
static bool tls_fed(pconn *c, bool up, ssize_t n) {
        if (n > 0)
                brig_tls_conn_fed(up ? c->tls_upstream : c->tls_client, (size_t) n);
        if (n == 0 || c->state != PCONN_INTERCEPT)
                return false;
        if (n > 0)
                return true;
        if (up && !c->upstream_tls_up)
                upstream_tls_failed(c, n == UV_ENOBUFS ? "out of memory" : "closed by the upstream");
        else if (up && c->client_tls_up && c->next_refused)
                /* The proxy's own answer to the request it held back, then its own end. */
                brig__pconn_refusal_reply(c, false);
        else
                /* The upstream went without its close_notify (or sent a broken record): the jail's
                 * connection ends as abruptly, never with a clean end the upstream did not give, which
                 * would pass a cut response off as whole. */
                brig__pconn_close(c);
        return false;
}

static void tls_read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
        side *sd = stream->data;
        pconn *c = sd->c;
        bool up = sd == &c->upstream;

        (void) buf;
        if (tls_fed(c, up, n))
                intercept_pump(c, up);
}

/* Reads side up's socket (again); a no-op while it reads. */
static void read_on(pconn *c, bool up) {
        (void) uv_read_start(side_stream(c, up), tls_alloc_cb, tls_read_cb);
}

/* Advances side up's handshake and sends what it made: 1 once done, -EAGAIN while it waits for the peer
 * (reading on), or the failure. */
static int handshake_step(pconn *c, bool up, brig_error *err) {
        int r = brig_tls_conn_handshake(up ? c->tls_upstream : c->tls_client, err);

        if (tls_flush(c, up) < 0)
                r = brig_error_set(err, -EIO, BRIG_KIND_IO, "write failed");
        if (r == -EAGAIN)
                read_on(c, up);
        return r;
}

/* Reads the client's next request until it can be checked (brig__pconn_next_check()): never sent
 * upstream, and refused after the first's response if it holds a placeholder for another host. */
static void next_read(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;

        while (!brig__pconn_next_check(c, false)) {
                ssize_t n = brig_tls_conn_read(c->tls_client, c->head + c->head_len,
                                               BRIG_PROXY_HEADER_MAX - c->head_len, &err);
                if (n == -EAGAIN) {
                        read_on(c, false);
                        return;
                }
                if (n < 0) {
                        (void) snprintf(c->error, sizeof(c->error), "TLS from the jail: %s", err.msg);
                        brig__pconn_close(c);
                        return;
                }
                if (n == 0) {
                        (void) brig__pconn_next_check(c, true);
                        break;
                }
                (void) brig__pconn_head_add(c, (size_t) n);
        }
        /* Checked: the client is read no more. */
        (void) uv_read_stop(side_stream(c, false));
}

/* The upstream's clean end is its response's (it was sent Connection: close): the jail reads it to its own
 * end, or to the refusal of its next request. */
static void response_done(pconn *c) {
        if (c->next_refused)
                brig__pconn_refusal_reply(c, false);
        else
                tls_finish(c);
}

/* Plaintext from one TLS end into the other, while the receiving socket keeps up; then reads on. */
static void tls_forward(pconn *c, bool up) {
        brig_tls_conn *from = up ? c->tls_upstream : c->tls_client;
        brig_tls_conn *to = up ? c->tls_client : c->tls_upstream;
        brig_error err = BRIG_ERROR_INIT;
        char buf[16384]; /* a TLS record's worth */
        bool go_on = true;

        while (go_on) {
                /* Records are re-encrypted one by one and sent in batches: fewer writes, fewer wake-ups. */
                if (brig_tls_conn_pending(to) >= TLS_CHUNK && tls_flush(c, !up) < 0)
                        break;
                if (uv_stream_get_write_queue_size(side_stream(c, !up)) > TLS_QUEUE_MAX) {
                        c->paused[!up] = true;
                        (void) uv_read_stop(side_stream(c, up));
                        return;
                }
                ssize_t n = brig_tls_conn_read(from, buf, sizeof(buf), &err);
                if (n == -EAGAIN)
                        break;
                /* Up to the end of the request's body; what follows is the next request's. */
                int64_t take = n;
                if (n > 0 && !up && (take = brig_proxy_body_take(&c->body, buf, (size_t) n)) < 0)
                        (void) brig_error_set(&err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "malformed chunked request body");
                else if (n > 0 && !up && c->body.done)
                        brig__pconn_next_keep(c, buf + take, (size_t) (n - take));
                if (n > 0 && take >= 0 &&
                    (take == 0 || (brig__pconn_counted(c, !up, (size_t) take) &&
                                   brig_tls_conn_write(to, buf, (size_t) take, &err) >= 0))) {
                        if (!up && c->body.done)
                                break;
                        continue;
                }
                go_on = false;
                if ((n < 0 || take < 0) && !c->error[0])
                        (void) snprintf(c->error, sizeof(c->error), "%s", err.msg);
        }
        explicit_bzero(buf, sizeof(buf));
        if (tls_flush(c, !up) < 0)
                go_on = false;
        if (!go_on) {
                if (up && !c->error[0])
                        response_done(c);
                else
                        brig__pconn_close(c);
                return;
        }
        if (!up && c->body.done)
                next_read(c);
        else
                read_on(c, up);
}

/* The request, once the upstream's handshake is done. */
static void send_request(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;
        int r = (int) brig_tls_conn_write(c->tls_upstream, c->upq, c->upq_len, &err);

        explicit_bzero(c->upq, c->upq_len);
        free(c->upq);
        c->upq = NULL;
        if (r < 0 || tls_flush(c, true) < 0) {
                (void) snprintf(c->error, sizeof(c->error), "TLS to the upstream: %s",
                                r < 0 ? err.msg : "write failed");
                brig__pconn_close(c);
                return;
        }
        c->request_sent = true;
        (void) uv_timer_stop(&c->timer);
        brig__pconn_audit_used(c);
}

/* The first request's head inside the jail's TLS connection, in origin form. */
static void intercept_head(pconn *c) {
        const char *p = c->head, *line_end = memchr(p, '\n', c->head_end);
        const char *sp1 = memchr(p, ' ', (size_t) (line_end - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (line_end - sp1 - 1)) : NULL;
        char *request;
        int64_t body;

        if (!sp1 || !sp2 || sp1[1] != '/' || line_end - sp2 < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
                brig__pconn_reply_error(c, 400, "Bad Request", "bad request",
                                        "brig: expected an HTTP/1.x request in origin form");
                return;
        }
        c->path = sp1 + 1;
        c->path_len = (size_t) (sp2 - c->path);
        if (brig__pconn_secrets_refused(c, line_end + 1) ||
            (body = brig__pconn_body_start(c, line_end + 1)) < 0)
                return;
        if (brig__pconn_build_request(c, (size_t) body, &request, &c->upq_len) < 0) {
                brig__pconn_reply_error(c, 503, "Service Unavailable", "out of memory",
                                        "brig: out of memory");
                return;
        }
        /* Its body so far went with it; what follows is the next request's. */
        size_t next = c->head_end + (size_t) body, next_len = c->head_len - next;
        c->head_len = c->head_end = 0;
        if (c->body.done)
                brig__pconn_next_keep(c, c->head + next, next_len);
        c->upq = request;
        c->up += c->upq_len;
        if (c->upstream_tls_up)
                send_request(c);
}

/* The jail's side once its handshake is done: its first request's head, then its body, then its next
 * request. */
static void from_client(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;

        while (!c->request_sent) {
                /* What follows the head waits in the TLS end until the request is on its way. */
                if (c->upq) {
                        /* Not read meanwhile: the TLS end would hold all the jail sends, unbounded. */
                        (void) uv_read_stop(side_stream(c, false));
                        return;
                }
                ssize_t n = brig_tls_conn_read(c->tls_client, c->head + c->head_len,
                                               BRIG_PROXY_HEADER_MAX - c->head_len, &err);
                if (n == -EAGAIN) {
                        read_on(c, false);
                        return;
                }
                if (n <= 0) {
                        brig__pconn_close(c);
                        return;
                }
                if (brig__pconn_head_add(c, (size_t) n)) {
                        intercept_head(c);
                        if (c->state != PCONN_INTERCEPT)
                                return;
                } else if (c->head_len == BRIG_PROXY_HEADER_MAX) {
                        brig__pconn_reply_error(c, 431, "Request Header Fields Too Large", "bad request",
                                                "brig: request headers too large");
                        return;
                }
        }
        if (c->body.done)
                next_read(c);
        else
                tls_forward(c, false);
}

/* Moves side up on: its handshake, then what it has for the other side. */
static void intercept_pump(pconn *c, bool up) {
        brig_error err = BRIG_ERROR_INIT;
        bool *tls_up = up ? &c->upstream_tls_up : &c->client_tls_up;

        if (c->state != PCONN_INTERCEPT)
                return;
        if (!*tls_up) {
                int r = handshake_step(c, up, &err);
                if (r == -EAGAIN)
                        return;
                if (r < 0 && up) {
                        upstream_tls_failed(c, err.msg);
                        return;
                }
                if (r < 0) {
                        (void) snprintf(c->error, sizeof(c->error), "TLS from the jail: %s", err.msg);
                        brig__pconn_close(c);
                        return;
                }
                *tls_up = true;
                /* The jail hears of the upstream's failure once it can be told; a request waiting for the
                 * upstream's handshake goes now. */
                if (!up && c->upstream_failed) {
                        brig__pconn_reply_error(c, 502, "Bad Gateway", c->error,
                                                "brig: the upstream's TLS connection failed");
                        return;
                }
                if (up && c->upq) {
                        send_request(c);
                        intercept_pump(c, false);
                }
                if (c->state != PCONN_INTERCEPT)
                        return;
        }
        if (up)
                tls_forward(c, true);
        else
                from_client(c);
}

/* The timer ran out before the request went upstream: the jail's handshake or its request's head did not
 * come, or the upstream's handshake did not end (answered inside the jail's TLS when it is up). */
static void intercept_timer_cb(uv_timer_t *t) {
        pconn *c = t->data;

        if (c->state != PCONN_INTERCEPT || c->request_sent)
                return;
        if (!c->client_tls_up || c->upq == NULL) {
                (void) snprintf(c->error, sizeof(c->error), "%s timed out",
                                c->client_tls_up ? "the request's head" : "TLS from the jail: handshake");
                brig__pconn_close(c);
                return;
        }
        (void) snprintf(c->error, sizeof(c->error), "TLS to the upstream: handshake timed out");
        brig__pconn_reply_error(c, 504, "Gateway Timeout", c->error,
                                "brig: the upstream did not answer in time");
}

/* Connected to the upstream: the 200, then both handshakes (the jail's may have begun already). */
void brig__intercept_start(pconn *c) {
        static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        brig_error err = BRIG_ERROR_INIT;
        size_t early = c->head_len - c->head_end;
        chunk *k = malloc(sizeof(*k) + sizeof(established));

        c->state = PCONN_INTERCEPT;
        /* Both handshakes and the request's head in the same time as a CONNECT's: a client that never
         * handshakes holds no connection (and no upstream's) beyond it. */
        (void) uv_timer_start(&c->timer, intercept_timer_cb, BRIG_PROXY_HEADER_TIMEOUT_MS, 0);
        if (!k || brig_tls_conn_new(c->leaf, NULL, &c->tls_client, &err) < 0 ||
            brig_tls_conn_new(c->p->env->w->upstream_tls, c->host, &c->tls_upstream, &err) < 0 ||
            brig_tls_conn_feed(c->tls_client, c->head + c->head_end, early, &err) < 0) {
                free(k);
                (void) snprintf(c->error, sizeof(c->error), "TLS interception: %s",
                                err.msg[0] ? err.msg : "out of memory");
                brig__pconn_reply_error(c, 502, "Bad Gateway", c->error, "brig: TLS interception failed");
                return;
        }
        c->head_len = c->head_end = 0;
        memcpy(k->data, established, sizeof(established));
        k->c = c;
        uv_buf_t b = uv_buf_init(k->data, sizeof(established) - 1);
        if (uv_write(&k->req, side_stream(c, false), &b, 1, tls_written_cb) < 0) {
                free(k);
                brig__pconn_close(c);
                return;
        }
        c->pending++;
        intercept_pump(c, true);
        intercept_pump(c, false);
}

void brig__intercept_done(pconn *c) {
        if (c->upq)
                explicit_bzero(c->upq, c->upq_len);
        free(c->upq);
        c->upq = NULL;
        brig_tls_conn_free(c->tls_client);
        brig_tls_conn_free(c->tls_upstream);
        c->tls_client = c->tls_upstream = NULL;
        SSL_CTX_free(c->leaf);
        c->leaf = NULL;
}
