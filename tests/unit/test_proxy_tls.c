/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/proxy_tls.h: the per-environment CA's properties, leaves for names and addresses
 * that verify against the CA alone, the leaf cache and its bound, real handshakes over socketpairs (the
 * jail's side trusting only the CA; the upstream side refusing an unknown CA unless told to trust it), the
 * memory-BIO connection ends, and the CA bundle. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "worker/proxy_tls.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);

static X509 *leaf_cert(SSL_CTX *ctx) {
        X509 *x = SSL_CTX_get0_certificate(ctx);
        assert_non_null(x);
        return x;
}

/* X509_verify_cert() of x against a store holding only ca's certificate. */
static int verify_with_only(const brig_tls_ca *ca, X509 *x) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *sctx = X509_STORE_CTX_new();
        int r;

        assert_non_null(store);
        assert_non_null(sctx);
        assert_int_equal(X509_STORE_add_cert(store, brig_tls_ca_cert(ca)), 1);
        assert_int_equal(X509_STORE_CTX_init(sctx, store, x, NULL), 1);
        assert_int_equal(X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_SERVER), 1);
        r = X509_verify_cert(sctx);
        X509_STORE_CTX_free(sctx);
        X509_STORE_free(store);
        ERR_clear_error();
        return r;
}

static void test_proxy_tls__ca_is_a_self_signed_leaf_only_ca(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        _cleanup_free_ char *pem = NULL;
        brig_error err = BRIG_ERROR_INIT;
        X509 *x;
        char cn[128];
        int days, secs;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env-1", NULL, 0, &ca, &err), 0);
        x = brig_tls_ca_cert(ca);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);
        assert_int_equal(X509_check_ca(x), 1);
        assert_true(X509_get_extension_flags(x) & EXFLAG_CA);
        assert_int_equal(X509_get_pathlen(x), 0);
        assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
        assert_int_equal(X509_check_issued(x, x), X509_V_OK);
        assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
        assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_EC);
        assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
        assert_string_equal(cn, "brig environment env-1 CA");
        /* A random serial of more than 64 bits. */
        assert_true(ASN1_INTEGER_get_int64(&(int64_t){0}, X509_get0_serialNumber(x)) == 0);
        ERR_clear_error();
        /* Valid now, for BRIG_TLS_CA_DAYS (and the hour before). */
        assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
        assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
        assert_int_equal(days, BRIG_TLS_CA_DAYS);
        assert_int_equal(secs, 3600);

        /* The PEM is that certificate. */
        assert_int_equal(brig_tls_ca_pem(ca, &pem), 0);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        _cleanup_(X509_freep) X509 *back = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(back);
        assert_int_equal(X509_cmp(back, x), 0);
        assert_null(strstr(pem, "PRIVATE"));

        /* Two environments, two keys. */
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *other = NULL;
        assert_int_equal(brig_tls_ca_new("env-2", NULL, 0, &other, &err), 0);
        assert_int_not_equal(X509_verify(brig_tls_ca_cert(other), X509_get0_pubkey(x)), 1);
        ERR_clear_error();

        assert_int_equal(brig_tls_ca_new("", NULL, 0, &other, &err), -EINVAL);
}

static void test_proxy_tls__leaf_names_its_host_and_verifies_against_the_ca(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL, *other = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *name = NULL, *ip4 = NULL, *ip6 = NULL, *foreign = NULL;
        brig_error err = BRIG_ERROR_INIT;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", NULL, 0, &ca, &err), 0);
        assert_int_equal(brig_tls_leaf(ca, "API.Example.com", &name, &err), 0);
        assert_int_equal(X509_check_host(leaf_cert(name), "api.example.com", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(leaf_cert(name), "other.example.com", 0, 0, NULL), 0);
        assert_int_equal(X509_check_host(leaf_cert(name), "x.api.example.com", 0, 0, NULL), 0);
        assert_int_equal(X509_check_ca(leaf_cert(name)), 0);
        assert_true(X509_get_extended_key_usage(leaf_cert(name)) & XKU_SSL_SERVER);
        assert_int_equal(verify_with_only(ca, leaf_cert(name)), 1);

        assert_int_equal(brig_tls_leaf(ca, "127.0.0.1", &ip4, &err), 0);
        assert_int_equal(X509_check_ip_asc(leaf_cert(ip4), "127.0.0.1", 0), 1);
        assert_int_equal(X509_check_ip_asc(leaf_cert(ip4), "127.0.0.2", 0), 0);
        assert_int_equal(X509_check_host(leaf_cert(ip4), "127.0.0.1", 0, 0, NULL), 0);
        assert_int_equal(verify_with_only(ca, leaf_cert(ip4)), 1);

        assert_int_equal(brig_tls_leaf(ca, "::1", &ip6, &err), 0);
        assert_int_equal(X509_check_ip_asc(leaf_cert(ip6), "::1", 0), 1);
        assert_int_equal(verify_with_only(ca, leaf_cert(ip6)), 1);

        /* Another environment's leaf does not verify against this CA. */
        assert_int_equal(brig_tls_ca_new("env-other", NULL, 0, &other, &err), 0);
        assert_int_equal(brig_tls_leaf(other, "api.example.com", &foreign, &err), 0);
        assert_int_not_equal(verify_with_only(ca, leaf_cert(foreign)), 1);

        /* Names that are not one host are refused, not minted. */
        const char *bad[] = {"",       "*.example.com", "a b",  "a\nb",
                             "../etc", ".example.com",  "a..b", "x,DNS:y"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SSL_CTX *ctx = NULL;
                assert_int_equal(brig_tls_leaf(ca, bad[i], &ctx, &err), -EINVAL);
                assert_null(ctx);
        }
}

static void test_proxy_tls__leaf_cache_reuses_and_is_bounded(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        SSL_CTX *ctx[BRIG_TLS_LEAF_CACHE_MAX + 1] = {NULL};
        SSL_CTX *again = NULL;
        brig_error err = BRIG_ERROR_INIT;
        char host[64];
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", NULL, 0, &ca, &err), 0);
        for (size_t i = 0; i < BRIG_TLS_LEAF_CACHE_MAX; i++) {
                snprintf(host, sizeof(host), "h%zu.example.com", i);
                assert_int_equal(brig_tls_leaf(ca, host, &ctx[i], &err), 0);
        }
        assert_int_equal(brig_tls_leaf_cached(ca), BRIG_TLS_LEAF_CACHE_MAX);

        /* The same host (in any case) gets the same context; h0 is now the most recently used. */
        assert_int_equal(brig_tls_leaf(ca, "H0.example.COM", &again, &err), 0);
        assert_ptr_equal(again, ctx[0]);
        SSL_CTX_free(again);

        /* One more host: the cache stays at its bound by dropping the least recently used, h1. */
        assert_int_equal(brig_tls_leaf(ca, "new.example.com", &ctx[BRIG_TLS_LEAF_CACHE_MAX], &err), 0);
        assert_int_equal(brig_tls_leaf_cached(ca), BRIG_TLS_LEAF_CACHE_MAX);
        assert_int_equal(brig_tls_leaf(ca, "h0.example.com", &again, &err), 0);
        assert_ptr_equal(again, ctx[0]);
        SSL_CTX_free(again);
        /* h1 is minted again (the old context, still referenced here, is another object). */
        assert_int_equal(brig_tls_leaf(ca, "h1.example.com", &again, &err), 0);
        assert_ptr_not_equal(again, ctx[1]);
        assert_int_equal(X509_check_host(leaf_cert(again), "h1.example.com", 0, 0, NULL), 1);
        SSL_CTX_free(again);
        assert_int_equal(brig_tls_leaf_cached(ca), BRIG_TLS_LEAF_CACHE_MAX);

        /* Contexts handed out outlive the CA. */
        brig_tls_ca_free(TAKE_PTR(ca));
        assert_int_equal(X509_check_host(leaf_cert(ctx[5]), "h5.example.com", 0, 0, NULL), 1);
        for (size_t i = 0; i < ELEMENTSOF(ctx); i++)
                SSL_CTX_free(ctx[i]);
}

/* A TLS handshake over a non-blocking socketpair, the client checking host, then one record each way. 0 when
 * both ends completed, -1 otherwise; the client's verification result in *ret_verify. No sleeps: each step
 * either progresses or waits for the other end, which runs next. */
static int handshake(SSL_CTX *server_ctx, SSL_CTX *client_ctx, const char *host, long *ret_verify) {
        int sv[2], client_done = 0, server_done = 0, failed = 0, r = -1;
        brig_error err = BRIG_ERROR_INIT;
        char buf[8];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        SSL *s = SSL_new(server_ctx), *c = SSL_new(client_ctx);
        assert_non_null(s);
        assert_non_null(c);
        assert_int_equal(SSL_set_fd(s, sv[0]), 1);
        assert_int_equal(SSL_set_fd(c, sv[1]), 1);
        assert_int_equal(brig_tls_client_set_host(c, host, &err), 0);

        for (int i = 0; i < 1000 && !failed && !(client_done && server_done); i++) {
                if (!client_done) {
                        int k = SSL_connect(c), e = SSL_get_error(c, k);
                        client_done = k == 1;
                        failed |= k != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
                }
                if (!server_done && !failed) {
                        int k = SSL_accept(s), e = SSL_get_error(s, k);
                        server_done = k == 1;
                        failed |= k != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
                }
        }
        *ret_verify = SSL_get_verify_result(c);
        if (client_done && server_done) {
                assert_int_equal(SSL_write(c, "ping", 4), 4);
                assert_int_equal(SSL_read(s, buf, sizeof(buf)), 4);
                assert_memory_equal(buf, "ping", 4);
                assert_int_equal(SSL_write(s, "pong", 4), 4);
                assert_int_equal(SSL_read(c, buf, sizeof(buf)), 4);
                assert_memory_equal(buf, "pong", 4);
                r = 0;
        }
        SSL_free(s);
        SSL_free(c);
        close(sv[0]);
        close(sv[1]);
        ERR_clear_error();
        return r;
}

/* A client context like the jail's would be with the bundle: verifying, but trusting only the CA. */
static SSL_CTX *client_trusting_only(const brig_tls_ca *ca) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        assert_non_null(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), brig_tls_ca_cert(ca)), 1);
        return ctx;
}

static void test_proxy_tls__jail_side_handshake_checks_the_name(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *server = NULL, *ip = NULL, *client = NULL;
        brig_error err = BRIG_ERROR_INIT;
        long verify;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", NULL, 0, &ca, &err), 0);
        assert_int_equal(brig_tls_leaf(ca, "api.example.com", &server, &err), 0);
        client = client_trusting_only(ca);

        assert_int_equal(handshake(server, client, "api.example.com", &verify), 0);
        assert_int_equal(verify, X509_V_OK);
        assert_int_equal(handshake(server, client, "other.example.com", &verify), -1);
        assert_int_equal(verify, X509_V_ERR_HOSTNAME_MISMATCH);

        assert_int_equal(brig_tls_leaf(ca, "127.0.0.1", &ip, &err), 0);
        assert_int_equal(handshake(ip, client, "127.0.0.1", &verify), 0);
        assert_int_equal(handshake(ip, client, "127.0.0.2", &verify), -1);
        assert_int_equal(verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
}

/* rules as a policy names a secret's hosts. */
static size_t parse_rules(const char *const *texts, brig_net_rule *rules) {
        char why[128];
        size_t n = 0;

        for (; texts[n]; n++)
                assert_true(brig_net_rule_parse(texts[n], &rules[n], why, sizeof(why)));
        return n;
}

/* NAME_CONSTRAINTS_check() of a leaf (minted by another, unconstrained CA) against ca's constraints. */
static int constraint_check(const brig_tls_ca *ca, const char *host) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *any = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        brig_error err = BRIG_ERROR_INIT;
        int crit = 0, r;

        assert_int_equal(brig_tls_ca_new("unconstrained", NULL, 0, &any, &err), 0);
        assert_int_equal(brig_tls_leaf(any, host, &ctx, &err), 0);
        NAME_CONSTRAINTS *nc = X509_get_ext_d2i(brig_tls_ca_cert(ca), NID_name_constraints, &crit, NULL);
        assert_non_null(nc);
        assert_int_equal(crit, 1);
        r = NAME_CONSTRAINTS_check(leaf_cert(ctx), nc);
        NAME_CONSTRAINTS_free(nc);
        return r;
}

static void test_proxy_tls__ca_is_constrained_to_its_hosts(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL, *names_only = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *api = NULL, *sub = NULL, *ip = NULL, *client = NULL;
        const char *texts[] = {"api.example.com", "*.pkg.example.org", "127.0.0.1", NULL};
        const char *names[] = {"api.example.com:443", NULL};
        brig_net_rule rules[4];
        brig_error err = BRIG_ERROR_INIT;
        long verify;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", rules, parse_rules(texts, rules), &ca, &err), 0);

        /* Leaves for the hosts only, as the policy's rules match them. */
        assert_int_equal(brig_tls_leaf(ca, "API.example.com", &api, &err), 0);
        assert_int_equal(brig_tls_leaf(ca, "a.b.pkg.example.org", &sub, &err), 0);
        assert_int_equal(brig_tls_leaf(ca, "127.0.0.1", &ip, &err), 0);
        const char *refused[] = {"pkg.example.org", "evil.com", "x.api.example.com", "127.0.0.2", "::1"};
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                SSL_CTX *ctx = NULL;
                assert_int_equal(brig_tls_leaf(ca, refused[i], &ctx, &err), -EPERM);
                assert_null(ctx);
                assert_int_equal(err.kind, BRIG_KIND_DENIED);
        }
        assert_int_equal(brig_tls_leaf_cached(ca), 3);

        /* The certificate itself says so: a client trusting it accepts its hosts' leaves and no others. */
        assert_int_equal(verify_with_only(ca, leaf_cert(api)), 1);
        assert_int_equal(verify_with_only(ca, leaf_cert(sub)), 1);
        client = client_trusting_only(ca);
        assert_int_equal(handshake(api, client, "api.example.com", &verify), 0);
        assert_int_equal(handshake(ip, client, "127.0.0.1", &verify), 0);
        assert_int_equal(constraint_check(ca, "api.example.com"), X509_V_OK);
        assert_int_equal(constraint_check(ca, "x.pkg.example.org"), X509_V_OK);
        assert_int_equal(constraint_check(ca, "127.0.0.1"), X509_V_OK);
        assert_int_equal(constraint_check(ca, "evil.com"), X509_V_ERR_PERMITTED_VIOLATION);
        assert_int_equal(constraint_check(ca, "example.org"), X509_V_ERR_PERMITTED_VIOLATION);
        assert_int_equal(constraint_check(ca, "10.0.0.1"), X509_V_ERR_PERMITTED_VIOLATION);
        /* No IPv6 rule: no IPv6 address (OpenSSL already refuses it for the IPv4 subtree; the exclusion is
         * for clients that compare each family on its own). */
        assert_int_not_equal(constraint_check(ca, "::1"), X509_V_OK);

        /* Names only: no address at all. */
        assert_int_equal(brig_tls_ca_new("env", rules, parse_rules(names, rules), &names_only, &err), 0);
        assert_int_equal(constraint_check(names_only, "api.example.com"), X509_V_OK);
        assert_int_equal(constraint_check(names_only, "127.0.0.1"), X509_V_ERR_EXCLUDED_VIOLATION);

        brig_tls_ca *none = NULL;
        assert_int_equal(brig_tls_ca_new("env", rules, 0, &none, &err), -EINVAL);
        assert_null(none);
}

static void test_proxy_tls__upstream_refuses_unknown_ca_unless_trusted(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *test_ca = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *server = NULL, *system_only = NULL, *with_test_ca = NULL;
        _cleanup_free_ char *pem = NULL;
        brig_error err = BRIG_ERROR_INIT;
        char dir[] = "/tmp/brig-test-tls-XXXXXX", path[64];
        long verify;
        int fd;
        (void) state;

        /* The upstream's certificate comes from a CA of its own, which no system trust store holds. */
        assert_int_equal(brig_tls_ca_new("upstream-test", NULL, 0, &test_ca, &err), 0);
        assert_int_equal(brig_tls_leaf(test_ca, "upstream.test", &server, &err), 0);

        assert_int_equal(brig_tls_client_ctx(NULL, &system_only, &err), 0);
        assert_int_equal(handshake(server, system_only, "upstream.test", &verify), -1);
        assert_int_equal(verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/ca.pem", dir);
        assert_int_equal(brig_tls_ca_pem(test_ca, &pem), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(brig_write_all(fd, pem, strlen(pem)), 0);
        close(fd);
        assert_int_equal(brig_tls_client_ctx(path, &with_test_ca, &err), 0);
        assert_int_equal(handshake(server, with_test_ca, "upstream.test", &verify), 0);
        assert_int_equal(verify, X509_V_OK);
        /* Trusting the CA does not waive the name check. */
        assert_int_equal(handshake(server, with_test_ca, "elsewhere.test", &verify), -1);
        assert_int_equal(verify, X509_V_ERR_HOSTNAME_MISMATCH);

        snprintf(path, sizeof(path), "%s/missing.pem", dir);
        SSL_CTX *none = NULL;
        assert_int_equal(brig_tls_client_ctx(path, &none, &err), -ENOENT);
        assert_null(none);
        assert_non_null(strstr(err.msg, "missing.pem"));
        assert_int_equal(brig_rm_rf(dir), 0);
}

/* Moves at most max bytes of ciphertext from a to b in place (brig_tls_conn_output(),
 * brig_tls_conn_space()): how many. */
static size_t move_in_place(brig_tls_conn *a, brig_tls_conn *b, size_t max) {
        size_t n;
        const char *out = brig_tls_conn_output(a, &n);

        n = n > max ? max : n;
        char *space = brig_tls_conn_space(b, n);
        assert_non_null(space);
        memcpy(space, out, n);
        brig_tls_conn_fed(b, n);
        brig_tls_conn_sent(a, n);
        return n;
}

/* Moves ciphertext both ways between two ends until neither has more to send: from a in place in uneven
 * pieces, from b through a buffer. */
static void shuttle(brig_tls_conn *a, brig_tls_conn *b) {
        char buf[4096];
        size_t n;
        bool moved = true;

        while (moved) {
                moved = false;
                while (move_in_place(a, b, 3001) > 0)
                        moved = true;
                while ((n = brig_tls_conn_drain(b, buf, sizeof(buf))) > 0) {
                        assert_int_equal(brig_tls_conn_feed(a, buf, n, NULL), 0);
                        moved = true;
                }
        }
}

/* Drives both handshakes to their end; the client's result (1, or its error) in *ret_client. */
static void handshake_mem(brig_tls_conn *client, brig_tls_conn *server, int *ret_client, brig_error *err) {
        int c = -EAGAIN, s = -EAGAIN;

        for (int i = 0; i < 100 && (c == -EAGAIN || s == -EAGAIN); i++) {
                if (c == -EAGAIN)
                        c = brig_tls_conn_handshake(client, err);
                shuttle(client, server);
                if (s == -EAGAIN)
                        s = brig_tls_conn_handshake(server, NULL);
                shuttle(client, server);
                if (c < 0 && c != -EAGAIN)
                        break;
        }
        *ret_client = c;
}

static void test_proxy_tls__memory_conn_carries_plaintext_after_verifying(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *server_ctx = NULL, *client_ctx = NULL;
        _cleanup_free_ char *big = NULL, *got = NULL;
        const size_t big_len = 1 << 20;
        brig_error err = BRIG_ERROR_INIT;
        char buf[64];
        int r;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", NULL, 0, &ca, &err), 0);
        assert_int_equal(brig_tls_leaf(ca, "api.example.com", &server_ctx, &err), 0);
        client_ctx = client_trusting_only(ca);

        {
                _cleanup_(brig_tls_conn_freep) brig_tls_conn *client = NULL, *server = NULL;
                assert_int_equal(brig_tls_conn_new(client_ctx, "api.example.com", &client, &err), 0);
                assert_int_equal(brig_tls_conn_new(server_ctx, NULL, &server, &err), 0);
                /* Nothing to read before the handshake. */
                assert_int_equal(brig_tls_conn_read(server, buf, sizeof(buf), &err), -EAGAIN);
                assert_int_equal(brig_tls_conn_write(client, "x", 1, &err), -EAGAIN);
                handshake_mem(client, server, &r, &err);
                assert_int_equal(r, 1);

                assert_int_equal(brig_tls_conn_write(client, "GET / HTTP/1.1\r\n", 16, &err), 16);
                shuttle(client, server);
                assert_int_equal(brig_tls_conn_read(server, buf, sizeof(buf), &err), 16);
                assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
                assert_int_equal(brig_tls_conn_read(server, buf, sizeof(buf), &err), -EAGAIN);

                /* A megabyte back, in records, all of it in order. */
                big = malloc(big_len);
                got = malloc(big_len);
                assert_non_null(big);
                assert_non_null(got);
                for (size_t i = 0; i < big_len; i++)
                        big[i] = (char) (i * 7);
                assert_int_equal(brig_tls_conn_write(server, big, big_len, &err), (ssize_t) big_len);
                shuttle(client, server);
                size_t have = 0;
                ssize_t n;
                while ((n = brig_tls_conn_read(client, got + have, big_len - have, &err)) > 0)
                        have += (size_t) n;
                assert_int_equal(n, -EAGAIN);
                assert_int_equal(have, big_len);
                assert_memory_equal(got, big, big_len);

                /* And up, in place, in pieces that end within records, read as they come: what is left of
                 * a record moves to the front of its queue for the next one. */
                memset(got, 0, big_len);
                have = 0;
                for (size_t sent = 0, rounds = 0; have < big_len && rounds < 10000; rounds++) {
                        size_t k = big_len - sent < 20000 ? big_len - sent : 20000;
                        if (k > 0)
                                assert_int_equal(brig_tls_conn_write(client, big + sent, k, &err),
                                                 (ssize_t) k);
                        sent += k;
                        (void) move_in_place(client, server, 9001);
                        while ((n = brig_tls_conn_read(server, got + have, big_len - have, &err)) > 0)
                                have += (size_t) n;
                        assert_int_equal(n, -EAGAIN);
                }
                assert_int_equal(have, big_len);
                assert_memory_equal(got, big, big_len);
        }

        /* The wrong name: the client end refuses, and says why. */
        {
                _cleanup_(brig_tls_conn_freep) brig_tls_conn *client = NULL, *server = NULL;
                assert_int_equal(brig_tls_conn_new(client_ctx, "other.example.com", &client, &err), 0);
                assert_int_equal(brig_tls_conn_new(server_ctx, NULL, &server, &err), 0);
                handshake_mem(client, server, &r, &err);
                assert_int_equal(r, -EPROTO);
                assert_int_equal(err.kind, BRIG_KIND_DENIED);
                assert_non_null(strstr(err.msg, "hostname mismatch"));
        }

        /* Garbage from the peer is a TLS error, not a hang. */
        {
                _cleanup_(brig_tls_conn_freep) brig_tls_conn *server = NULL;
                assert_int_equal(brig_tls_conn_new(server_ctx, NULL, &server, &err), 0);
                assert_int_equal(brig_tls_conn_feed(server, "GET / HTTP/1.1\r\n\r\n", 18, &err), 0);
                assert_int_equal(brig_tls_conn_handshake(server, &err), -EPROTO);
        }
}

static char *slurp(int dirfd, const char *name, size_t *ret_len, mode_t *ret_mode) {
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        char *buf;

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        buf = calloc(1, (size_t) st.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(read(fd, buf, (size_t) st.st_size), st.st_size);
        close(fd);
        *ret_len = (size_t) st.st_size;
        *ret_mode = st.st_mode & 07777;
        return buf;
}

static void test_proxy_tls__bundle_is_system_roots_then_the_ca(void **state) {
        _cleanup_(brig_tls_ca_freep) brig_tls_ca *ca = NULL;
        _cleanup_free_ char *pem = NULL, *got = NULL, *got2 = NULL, *expect = NULL;
        brig_error err = BRIG_ERROR_INIT;
        char dir[] = "/tmp/brig-test-tls-XXXXXX", sys[64];
        const char roots[] = "-----BEGIN CERTIFICATE-----\nfake system root\n-----END CERTIFICATE-----\n";
        size_t len;
        mode_t mode;
        int dirfd, fd;
        (void) state;

        assert_int_equal(brig_tls_ca_new("env", NULL, 0, &ca, &err), 0);
        assert_int_equal(brig_tls_ca_pem(ca, &pem), 0);
        assert_non_null(mkdtemp(dir));
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dirfd >= 0);
        snprintf(sys, sizeof(sys), "%s/system.crt", dir);
        fd = open(sys, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(brig_write_all(fd, roots, strlen(roots)), 0);
        close(fd);

        /* The system bundle's bytes, then the CA; readable by the jail's user; no temporary file left. */
        assert_int_equal(brig_tls_bundle_write(dirfd, "ca-bundle.crt", ca, sys, &err), 0);
        got = slurp(dirfd, "ca-bundle.crt", &len, &mode);
        assert_int_equal(asprintf(&expect, "%s%s", roots, pem), (int) (strlen(roots) + strlen(pem)));
        assert_int_equal(len, strlen(expect));
        assert_memory_equal(got, expect, len);
        assert_int_equal(mode, 0644);
        assert_int_equal(faccessat(dirfd, ".ca-bundle.crt.tmp", F_OK, 0), -1);

        /* Rewritten in place (a new CA, or a system bundle without its final newline). */
        fd = open(sys, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(brig_write_all(fd, "no newline", 10), 0);
        close(fd);
        assert_int_equal(brig_tls_bundle_write(dirfd, "ca-bundle.crt", ca, sys, &err), 0);
        got2 = slurp(dirfd, "ca-bundle.crt", &len, &mode);
        assert_int_equal(len, 11 + strlen(pem));
        assert_memory_equal(got2, "no newline\n", 11);
        assert_string_equal(got2 + 11, pem);

        /* Without a system bundle nothing is written: fail closed rather than a jail trusting only brig. */
        snprintf(sys, sizeof(sys), "%s/absent.crt", dir);
        assert_int_equal(brig_tls_bundle_write(dirfd, "other.crt", ca, sys, &err), -ENOENT);
        assert_int_equal(faccessat(dirfd, "other.crt", F_OK, 0), -1);
        assert_int_equal(faccessat(dirfd, ".other.crt.tmp", F_OK, 0), -1);

        close(dirfd);
        assert_int_equal(brig_rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proxy_tls__ca_is_a_self_signed_leaf_only_ca),
                cmocka_unit_test(test_proxy_tls__leaf_names_its_host_and_verifies_against_the_ca),
                cmocka_unit_test(test_proxy_tls__leaf_cache_reuses_and_is_bounded),
                cmocka_unit_test(test_proxy_tls__jail_side_handshake_checks_the_name),
                cmocka_unit_test(test_proxy_tls__ca_is_constrained_to_its_hosts),
                cmocka_unit_test(test_proxy_tls__upstream_refuses_unknown_ca_unless_trusted),
                cmocka_unit_test(test_proxy_tls__memory_conn_carries_plaintext_after_verifying),
                cmocka_unit_test(test_proxy_tls__bundle_is_system_roots_then_the_ca),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
