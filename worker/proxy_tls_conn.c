/* SPDX-License-Identifier: MIT */
/* One end of an intercepted TLS connection on a pair of memory BIOs (worker/proxy_tls.h): the handshake,
 * plaintext in and out, and the ciphertext the proxy moves to and from its sockets. No socket, no blocking:
 * OpenSSL only ever waits for bytes the caller feeds. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "worker/proxy_tls.h"

struct brig_tls_conn {
        SSL *ssl;
        BIO *net_in, *net_out; /* borrowed from ssl (SSL_set_bio() gave them to it) */
};

int brig_tls_conn_new(SSL_CTX *ctx, const char *upstream_host, brig_tls_conn **ret, brig_error *err) {
        _cleanup_(brig_tls_conn_freep) brig_tls_conn *c = calloc(1, sizeof(*c));
        BIO *in, *out;
        int r;

        assert(ctx && ret);
        if (!c)
                return brig_error_oom(err);
        c->ssl = SSL_new(ctx);
        if (!c->ssl)
                return brig__tls_error(err, -ENOMEM, "TLS connection");
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        if (!in || !out) {
                BIO_free(in);
                BIO_free(out);
                return brig_error_oom(err);
        }
        /* An empty input is "retry" (SSL_ERROR_WANT_READ), not the end of the stream: BIO_s_mem()'s default,
         * stated because everything here depends on it. */
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(c->ssl, in, out);
        c->net_in = in;
        c->net_out = out;
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
        SSL_free(c->ssl); /* and its BIOs */
        free(c);
}

int brig_tls_conn_feed(brig_tls_conn *c, const void *data, size_t len, brig_error *err) {
        size_t written;

        if (len > 0 && (!BIO_write_ex(c->net_in, data, len, &written) || written != len))
                return brig__tls_error(err, -ENOMEM, "TLS input");
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
        return BIO_ctrl_pending(c->net_out);
}

size_t brig_tls_conn_drain(brig_tls_conn *c, void *buf, size_t size) {
        size_t n = 0;

        if (size == 0 || BIO_ctrl_pending(c->net_out) == 0 || !BIO_read_ex(c->net_out, buf, size, &n))
                return 0;
        return n;
}
