/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/proxy_relay.h (the proxy's splice relay) over socketpairs, and for the proxy's
 * --resolve parser: bytes both ways in order, the proxy's own first bytes, ends passed on, a large transfer
 * through the pipes, the byte callback stopping it, and a checked client. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "worker/proxy.h"
#include "worker/proxy_relay.h"

typedef struct fixture {
        uv_loop_t loop;
        int client, upstream; /* the test's ends */
        brig_proxy_relay *relay;
        int done, error;
        size_t bytes[2];
        size_t stop_after; /* 0: never */
        bool checked;      /* up_cb: the client's first pass_up bytes go on, the rest is kept */
        size_t pass_up, kept_len;
        char kept[64];
} fixture;

static bool bytes_cb(brig_proxy_relay *r, brig_proxy_relay_dir dir, size_t n, void *userdata) {
        fixture *f = userdata;
        (void) r;
        f->bytes[dir] += n;
        return f->stop_after == 0 || f->bytes[dir] <= f->stop_after;
}

static int64_t up_cb(brig_proxy_relay *r, const char *data, size_t n, bool *stop, void *userdata) {
        fixture *f = userdata;
        size_t take = n < f->pass_up ? n : f->pass_up;
        (void) r;
        f->pass_up -= take;
        assert_true(f->kept_len + n - take <= sizeof(f->kept));
        memcpy(f->kept + f->kept_len, data + take, n - take);
        f->kept_len += n - take;
        *stop = f->pass_up == 0;
        return (int64_t) take;
}

static void done_cb(brig_proxy_relay *r, int error, void *userdata) {
        fixture *f = userdata;
        (void) r;
        f->done++;
        f->error = error;
}

static void start(fixture *f, const char *pre_up, const char *pre_down) {
        int a[2], b[2];
        const char *pre[2] = {pre_up, pre_down};
        size_t pre_len[2] = {pre_up ? strlen(pre_up) : 0, pre_down ? strlen(pre_down) : 0};

        assert_int_equal(uv_loop_init(&f->loop), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
        f->client = a[0];
        f->upstream = b[1];
        assert_int_equal(fcntl(a[1], F_SETFL, O_NONBLOCK), 0);
        assert_int_equal(fcntl(b[0], F_SETFL, O_NONBLOCK), 0);
        assert_int_equal(brig_proxy_relay_new(&f->loop, a[1], b[0], pre, pre_len, bytes_cb,
                                              f->checked ? up_cb : NULL, done_cb, f, &f->relay),
                         0);
        brig_proxy_relay_run(f->relay);
}

static void stop(fixture *f) {
        brig_proxy_relay_close(f->relay);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        close(f->client);
        close(f->upstream);
}

/* Reads until EOF (or want bytes), running the loop in between. */
static size_t read_all(fixture *f, int fd, char *buf, size_t size) {
        size_t len = 0;
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        for (int spins = 0; spins < 100000 && len < size; spins++) {
                (void) uv_run(&f->loop, UV_RUN_NOWAIT);
                ssize_t n = read(fd, buf + len, size - len);
                if (n == 0)
                        break;
                if (n > 0)
                        len += (size_t) n;
        }
        return len;
}

static void test_proxy_relay__both_ways_with_first_bytes_and_ends(void **state) {
        fixture f = {0};
        char buf[256];
        (void) state;

        start(&f, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 Connection established\r\n\r\n");
        assert_int_equal(write(f.client, "ping", 4), 4);
        assert_int_equal(shutdown(f.client, SHUT_WR), 0);
        size_t n = read_all(&f, f.upstream, buf, sizeof(buf));
        assert_int_equal(n, 22);
        assert_memory_equal(buf, "GET / HTTP/1.1\r\n\r\nping", 22);
        assert_int_equal(f.done, 0);

        assert_int_equal(write(f.upstream, "pong", 4), 4);
        assert_int_equal(shutdown(f.upstream, SHUT_WR), 0);
        n = read_all(&f, f.client, buf, sizeof(buf));
        assert_int_equal(n, 43);
        assert_memory_equal(buf + 39, "pong", 4);
        assert_int_equal(f.done, 1);
        assert_int_equal(f.error, 0);
        assert_int_equal(f.bytes[BRIG_PROXY_RELAY_UP], 4);
        assert_int_equal(f.bytes[BRIG_PROXY_RELAY_DOWN], 4);
        stop(&f);
}

static void test_proxy_relay__large_transfer_arrives_intact(void **state) {
        fixture f = {0};
        const size_t total = 8 * 1024 * 1024;
        char *out = malloc(total), *in = malloc(total);
        size_t sent = 0, got = 0;
        (void) state;

        assert_non_null(out);
        assert_non_null(in);
        for (size_t i = 0; i < total; i++)
                out[i] = (char) (i * 7 + i / 4096);
        start(&f, NULL, NULL);
        (void) fcntl(f.upstream, F_SETFL, O_NONBLOCK);
        (void) fcntl(f.client, F_SETFL, O_NONBLOCK);
        for (int spins = 0; spins < 1000000 && got < total; spins++) {
                if (sent < total) {
                        ssize_t n =
                                write(f.upstream, out + sent, total - sent < 65536 ? total - sent : 65536);
                        if (n > 0)
                                sent += (size_t) n;
                        if (sent == total)
                                assert_int_equal(shutdown(f.upstream, SHUT_WR), 0);
                }
                (void) uv_run(&f.loop, UV_RUN_NOWAIT);
                /* A slow reader: a little at a time. */
                ssize_t n = read(f.client, in + got, total - got < 32768 ? total - got : 32768);
                if (n > 0)
                        got += (size_t) n;
        }
        assert_int_equal(got, total);
        assert_memory_equal(in, out, total);
        char c;
        assert_int_equal(read_all(&f, f.client, &c, 1), 0);
        assert_int_equal(f.done, 1);
        assert_int_equal(f.error, 0);
        assert_int_equal(f.bytes[BRIG_PROXY_RELAY_DOWN], total);
        stop(&f);
        free(out);
        free(in);
}

static void test_proxy_relay__bytes_callback_stops_it(void **state) {
        fixture f = {.stop_after = 10};
        char buf[64];
        (void) state;

        start(&f, NULL, NULL);
        assert_int_equal(write(f.upstream, "0123456789abcdef", 16), 16);
        for (int i = 0; i < 1000 && !f.done; i++)
                (void) uv_run(&f.loop, UV_RUN_NOWAIT);
        assert_int_equal(f.done, 1);
        assert_int_equal(f.error, -EDQUOT);
        /* Nothing of the read that crossed the limit was passed on. */
        (void) fcntl(f.client, F_SETFL, O_NONBLOCK);
        assert_true(read(f.client, buf, sizeof(buf)) < 0);
        stop(&f);
}

/* A checked client: what up_cb keeps is never sent upstream, the client is read no more once it says stop,
 * and the bytes for after the upstream's end reach the client before that end. */
static void test_proxy_relay__checked_client_and_bytes_after_the_end(void **state) {
        fixture f = {.checked = true, .pass_up = 5};
        char buf[64];
        (void) state;

        start(&f, "HEAD\n", NULL);
        assert_int_equal(brig_proxy_relay_down_end(f.relay, "END", 3), 0);
        assert_int_equal(brig_proxy_relay_down_end(f.relay, "END", 3), -EBUSY);
        assert_int_equal(write(f.client, "helloNEXT", 9), 9);
        assert_int_equal(read_all(&f, f.upstream, buf, 10), 10);
        assert_memory_equal(buf, "HEAD\nhello", 10);
        assert_int_equal(f.kept_len, 4);
        assert_memory_equal(f.kept, "NEXT", 4);
        /* Read no more: what the client sends now stays unread, and the upstream is not ended. */
        assert_int_equal(write(f.client, "MORE", 4), 4);
        for (int i = 0; i < 1000; i++)
                (void) uv_run(&f.loop, UV_RUN_NOWAIT);
        assert_int_equal(f.kept_len, 4);
        assert_true(read(f.upstream, buf, sizeof(buf)) < 0 && errno == EAGAIN);
        assert_int_equal(f.bytes[BRIG_PROXY_RELAY_UP], 5);

        assert_int_equal(write(f.upstream, "resp", 4), 4);
        assert_int_equal(shutdown(f.upstream, SHUT_WR), 0);
        assert_int_equal(read_all(&f, f.client, buf, sizeof(buf)), 7);
        assert_memory_equal(buf, "respEND", 7);
        assert_int_equal(f.done, 1);
        assert_int_equal(f.error, 0);
        stop(&f);
}

static void test_proxy_relay__close_before_anything_happened(void **state) {
        fixture f = {0};
        (void) state;

        start(&f, "x", "y");
        stop(&f);
        assert_int_equal(f.done, 0);
}

static void test_proxy__resolve_parse(void **state) {
        brig_proxy_resolve e;
        brig_error err = BRIG_ERROR_INIT;
        (void) state;

        assert_int_equal(brig_proxy_resolve_parse("Allowed.TEST.=127.0.0.1", &e, &err), 0);
        assert_string_equal(e.name, "allowed.test");
        assert_int_equal(e.addr.ss_family, AF_INET);
        assert_int_equal(((struct sockaddr_in *) &e.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        assert_int_equal(brig_proxy_resolve_parse("v6.test=::1", &e, &err), 0);
        assert_int_equal(e.addr.ss_family, AF_INET6);

        assert_int_equal(brig_proxy_resolve_parse("noequals", &e, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "expected NAME=ADDR"));
        assert_int_equal(brig_proxy_resolve_parse("=1.2.3.4", &e, &err), -EINVAL);
        assert_int_equal(brig_proxy_resolve_parse("a.test=example.org", &e, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not an IPv4 or IPv6 address"));
        assert_int_equal(brig_proxy_resolve_parse("bad name=1.2.3.4", &e, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "invalid host name"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proxy_relay__both_ways_with_first_bytes_and_ends),
                cmocka_unit_test(test_proxy_relay__large_transfer_arrives_intact),
                cmocka_unit_test(test_proxy_relay__bytes_callback_stops_it),
                cmocka_unit_test(test_proxy_relay__checked_client_and_bytes_after_the_end),
                cmocka_unit_test(test_proxy_relay__close_before_anything_happened),
                cmocka_unit_test(test_proxy__resolve_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
