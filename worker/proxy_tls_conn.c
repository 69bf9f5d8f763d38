/* SPDX-License-Identifier: MIT */
/* One end of an intercepted TLS connection on a BIO of its own (worker/proxy_tls.h): the handshake,
 * plaintext in and out, and the ciphertext the proxy moves to and from its sockets. No socket, no blocking:
 * OpenSSL only ever waits for bytes the caller feeds.
 *
 * The BIO is two byte queues that the proxy reads its socket into and writes its socket from in place:
 * BIO_s_mem() costs a copy each way and zeroes every byte it takes (BUF_MEM_grow_clean()), a fifth of
 * brigd's time in an intercepted download. Both queues grow as needed, like a memory BIO's. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "worker/proxy_tls.h"

/* Bytes data[start, start + len) of cap. */
typedef struct queue {
        char *data;
        size_t start, len, cap;
} queue;

struct brig_tls_conn {
        SSL *ssl;
        queue in, out; /* ciphertext from the peer, and for it */
};

/* Room for want more bytes after the queue's end: false when out of memory. */
static bool queue_reserve(queue *q, size_t want) {
        if (q->cap - q->start - q->len >= want)
                return true;
        /* What is left is a partial record at most, usually: moved to the front. */
        if (q->start > 0) {
                memmove(q->data, q->data + q->start, q->len);
                q->start = 0;
                if (q->cap - q->len >= want)
                        return true;
        }
        size_t cap = q->cap ? q->cap : 16384;
        while (cap - q->len < want)
                cap *= 2;
        char *data = realloc(q->data, cap);
        if (!data)
                return false;
        q->data = data;
        q->cap = cap;
        return true;
}

static void queue_consume(queue *q, size_t n) {
        q->start += n;
        q->len -= n;
        if (q->len == 0)
                q->start = 0;
}

static int queue_bio_read(BIO *b, char *out, int size) {
        brig_tls_conn *c = BIO_get_data(b);
        size_t n = size > 0 ? (size_t) size : 0;

        BIO_clear_retry_flags(b);
        /* Empty is "retry" (SSL_ERROR_WANT_READ), not the end of the stream. */
        if (c->in.len == 0) {
                BIO_set_retry_read(b);
                return -1;
        }
        if (n > c->in.len)
                n = c->in.len;
        memcpy(out, c->in.data + c->in.start, n);
        queue_consume(&c->in, n);
        return (int) n;
}

static int queue_bio_write(BIO *b, const char *data, int len) {
        brig_tls_conn *c = BIO_get_data(b);
        size_t n = len > 0 ? (size_t) len : 0;

        BIO_clear_retry_flags(b);
        if (!queue_reserve(&c->out, n))
                return -1;
        memcpy(c->out.data + c->out.start + c->out.len, data, n);
        c->out.len += n;
        return (int) n;
}

static long queue_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
        brig_tls_conn *c = BIO_get_data(b);
        (void) num;
        (void) ptr;

        switch (cmd) {
        case BIO_CTRL_FLUSH:
                return 1;
        case BIO_CTRL_PENDING:
                return (long) c->in.len;
        case BIO_CTRL_WPENDING:
                return (long) c->out.len;
        default:
                return 0;
        }
}

static BIO_METHOD *queue_method;

static void queue_method_make(void) {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "brig TLS queue");

        if (m && (!BIO_meth_set_read(m, queue_bio_read) || !BIO_meth_set_write(m, queue_bio_write) ||
                  !BIO_meth_set_ctrl(m, queue_bio_ctrl))) {
                BIO_meth_free(m);
                m = NULL;
        }
        queue_method = m;
}

static BIO_METHOD *queue_method_get(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&once, queue_method_make);
        return queue_method;
}

int brig_tls_conn_new(SSL_CTX *ctx, const char *upstream_host, brig_tls_conn **ret, brig_error *err) {
        _cleanup_(brig_tls_conn_freep) brig_tls_conn *c = calloc(1, sizeof(*c));
        BIO_METHOD *m = queue_method_get();
        BIO *bio;
        int r;

        assert(ctx && ret);
        if (!c)
                return brig_error_oom(err);
        c->ssl = SSL_new(ctx);
        if (!c->ssl)
                return brig__tls_error(err, -ENOMEM, "TLS connection");
        if (!m || !(bio = BIO_new(m)))
                return brig_error_oom(err);
        BIO_set_data(bio, c);
        BIO_set_init(bio, 1);
        /* Read and written both: one reference, which ssl takes. */
        SSL_set_bio(c->ssl, bio, bio);
        if (upstream_host) {
                r = brig_tls_client_set_host(c->ssl, upstream_host, err);
                if (r < 0)
                        return r;
                SSL_set_connect_state(c->ssl);
        } else
                SSL_set_accept_state(c->ssl);
        *ret = TAKE_PTR(c);
        return 0;
}

void brig_tls_conn_free(brig_tls_conn *c) {
        if (!c)
                return;
        SSL_free(c->ssl); /* and its BIO */
        free(c->in.data);
        free(c->out.data);
        free(c);
}

void *brig_tls_conn_space(brig_tls_conn *c, size_t size) {
        return queue_reserve(&c->in, size) ? c->in.data + c->in.start + c->in.len : NULL;
}

void brig_tls_conn_fed(brig_tls_conn *c, size_t len) {
        assert(len <= c->in.cap - c->in.start - c->in.len);
        c->in.len += len;
}

int brig_tls_conn_feed(brig_tls_conn *c, const void *data, size_t len, brig_error *err) {
        void *space = len > 0 ? brig_tls_conn_space(c, len) : NULL;

        if (len == 0)
                return 0;
        if (!space)
                return brig_error_oom(err);
        memcpy(space, data, len);
        brig_tls_conn_fed(c, len);
        return 0;
}

/* The result of an SSL call k: -EAGAIN when it waits for the peer, 0 for a clean close, else -EPROTO with
 * the reason (a failed certificate check named, as the caller's audit wants it). */
static int conn_result(brig_tls_conn *c, int k, const char *what, brig_error *err) {
        long v;

        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
                ERR_clear_error();
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                ERR_clear_error();
                return 0;
        default:
                v = SSL_get_verify_result(c->ssl);
                if (v != X509_V_OK) {
                        ERR_clear_error();
                        return brig_error_set(err, -EPROTO, BRIG_KIND_DENIED, "%s: certificate: %s", what,
                                              X509_verify_cert_error_string(v));
                }
                return brig__tls_error(err, -EPROTO, what);
        }
}

int brig_tls_conn_handshake(brig_tls_conn *c, brig_error *err) {
        int k = SSL_do_handshake(c->ssl), r;

        if (k == 1)
                return 1;
        r = conn_result(c, k, "TLS handshake", err);
        /* A close before the handshake ended is a failure, not an empty stream. */
        return r == 0 ? brig_error_set(err, -EPROTO, BRIG_KIND_IO, "TLS handshake: closed by the peer") : r;
}

ssize_t brig_tls_conn_read(brig_tls_conn *c, void *buf, size_t size, brig_error *err) {
        size_t n;
        int k;

        /* Before the handshake's end SSL_read_ex() advances it and wants more: -EAGAIN. */
        k = SSL_read_ex(c->ssl, buf, size, &n);
        return k == 1 ? (ssize_t) n : conn_result(c, k, "TLS read", err);
}

ssize_t brig_tls_conn_write(brig_tls_conn *c, const void *data, size_t len, brig_error *err) {
        size_t n;
        int k;

        /* Before the handshake's end SSL_write_ex() advances it and wants more: -EAGAIN. A memory BIO takes
         * everything, so the write is whole. */
        k = SSL_write_ex(c->ssl, data, len, &n);
        if (k == 1)
                return (ssize_t) n;
        k = conn_result(c, k, "TLS write", err);
        return k == 0 ? brig_error_set(err, -EPIPE, BRIG_KIND_IO, "TLS write: closed by the peer") : k;
}

void brig_tls_conn_close_notify(brig_tls_conn *c) {
        /* Sends ours without waiting for the peer's: the proxy closes its socket next. */
        (void) SSL_shutdown(c->ssl);
        ERR_clear_error();
}

size_t brig_tls_conn_pending(brig_tls_conn *c) {
        return c->out.len;
}

const void *brig_tls_conn_output(brig_tls_conn *c, size_t *len) {
        *len = c->out.len;
        return c->out.data + c->out.start;
}

void brig_tls_conn_sent(brig_tls_conn *c, size_t len) {
        assert(len <= c->out.len);
        queue_consume(&c->out, len);
}

size_t brig_tls_conn_drain(brig_tls_conn *c, void *buf, size_t size) {
        size_t n = size < c->out.len ? size : c->out.len;

        if (n > 0)
                memcpy(buf, c->out.data + c->out.start, n);
        queue_consume(&c->out, n);
        return n;
}
