/* SPDX-License-Identifier: MIT */
/* The network proxy end to end: a real brigd with --resolve entries pointing test names at an HTTP and a
 * TLS server on the host's loopback (python3, a self-signed certificate made here), and a proxy-mode
 * policy. Allowed names go through (plain HTTP and CONNECT), others get 403 with the reason, audited and
 * streamed to their call; a name resolving to a private address is refused; the jail has no route and no
 * DNS of its own; the connection and byte limits hold. Nothing leaves loopback, no real DNS is asked. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

#define BIG_BYTES (3 * 1024 * 1024)

static const char server_py[] =
        "import http.server, os, ssl, sys, threading\n"
        "d = sys.argv[1]\n"
        "os.chdir(os.path.join(d, 'www'))\n"
        "class H(http.server.SimpleHTTPRequestHandler):\n"
        "    def log_message(self, *a): pass\n"
        "h = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "t = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "ctx.load_cert_chain(os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem'))\n"
        "t.socket = ctx.wrap_socket(t.socket, server_side=True)\n"
        "for s in (h, t): threading.Thread(target=s.serve_forever, daemon=True).start()\n"
        "with open(os.path.join(d, 'ports.tmp'), 'w') as f: f.write('%d %d\\n' % (h.server_port, "
        "t.server_port))\n"
        "os.rename(os.path.join(d, 'ports.tmp'), os.path.join(d, 'ports'))\n"
        "threading.Event().wait()\n";

static struct {
        char dir[64];
        pid_t server;
        int http_port, tls_port;
        int closed_port; /* allowed, and nothing listens on it */
        brigd d;
        bool started;
        const char *skip;
} g;

static const char *const brigd_args[] = {
        "--resolve", "allowed.test=127.0.0.1", "--resolve", "other.test=127.0.0.1",
        "--resolve", "private.test=10.0.0.1",  "--resolve", "a.wild.test=127.0.0.1",
        NULL};

static void write_file(const char *path, const char *text, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_true(write(fd, text, len) == (ssize_t) len);
        close(fd);
}

static int run(const char *cmd) {
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int group_setup(void **state) {
        char path[256], cmd[1024], policy[8192];
        (void) state;

        memset(&g, 0, sizeof(g));
        if (access("/usr/bin/python3", X_OK) < 0 || access("/usr/bin/openssl", X_OK) < 0) {
                g.skip = "python3 or openssl not installed";
                return 0;
        }
        strcpy(g.dir, "/tmp/brig-proxytest-XXXXXX");
        assert_non_null(mkdtemp(g.dir));
        (void) chmod(g.dir, 0755);
        snprintf(path, sizeof(path), "%s/www", g.dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/www/hello.txt", g.dir);
        write_file(path, "hello-brig\n", 11);
        /* What `npm view leftpad` asks a registry for. */
        static const char packument[] =
                "{\"name\":\"leftpad\",\"dist-tags\":{\"latest\":\"1.0.0\"},\"versions\":{\"1.0.0\":"
                "{\"name\":\"leftpad\",\"version\":\"1.0.0\",\"description\":\"through the brig proxy\"}},"
                "\"time\":{\"1.0.0\":\"2020-01-01T00:00:00.000Z\"}}";
        snprintf(path, sizeof(path), "%s/www/leftpad", g.dir);
        write_file(path, packument, sizeof(packument) - 1);
        char *big = calloc(1, BIG_BYTES);
        assert_non_null(big);
        snprintf(path, sizeof(path), "%s/www/big.bin", g.dir);
        write_file(path, big, BIG_BYTES);
        free(big);
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                 "-subj /CN=allowed.test -addext subjectAltName=DNS:allowed.test,DNS:*.wild.test "
                 "-keyout %s/key.pem -out %s/cert.pem 2>/dev/null",
                 g.dir, g.dir);
        assert_int_equal(run(cmd), 0);
        snprintf(path, sizeof(path), "%s/server.py", g.dir);
        write_file(path, server_py, sizeof(server_py) - 1);

        g.server = fork();
        assert_true(g.server >= 0);
        if (g.server == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                execl("/usr/bin/python3", "python3", path, g.dir, (char *) NULL);
                _exit(127);
        }
        snprintf(path, sizeof(path), "%s/ports", g.dir);
        for (int i = 0; i < 500; i++) {
                FILE *f = fopen(path, "r");
                if (f) {
                        assert_int_equal(fscanf(f, "%d %d", &g.http_port, &g.tls_port), 2);
                        fclose(f);
                        break;
                }
                usleep(20 * 1000);
        }
        assert_true(g.http_port > 0 && g.tls_port > 0);
        /* A port that was just free: bound, named, closed. */
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sin_len = sizeof(sin);
        assert_true(s >= 0);
        assert_int_equal(bind(s, (struct sockaddr *) &sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *) &sin, &sin_len), 0);
        g.closed_port = ntohs(sin.sin_port);
        close(s);

        /* The default policy's filesystem, with the proxy. */
        snprintf(policy, sizeof(policy),
                 "{\"name\":\"proxytest\","
                 "\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                 "\"optional\":true},{\"source\":\"/etc/ld.so.cache\",\"optional\":true},"
                 "{\"source\":\"/etc/ssl\",\"optional\":true},{\"source\":\"/etc/alternatives\","
                 "\"optional\":true}],\"tmpfs\":[{\"path\":\"/tmp\",\"size\":\"64M\",\"mode\":\"1777\"}]},"
                 "\"env\":{\"PATH\":\"/usr/bin:/bin\",\"HOME\":\"/workspace\"},"
                 "\"network\":{\"mode\":\"proxy\",\"allow\":[\"allowed.test\",\"*.wild.test\","
                 "\"private.test\"],\"deny\":[\"blocked.wild.test\"],\"ports\":[%d,%d,%d],"
                 "\"allow_private\":[\"127.0.0.1/32\"],\"max_connections\":4,\"max_bytes\":\"1M\"}}",
                 g.http_port, g.tls_port, g.closed_port);
        snprintf(path, sizeof(path), "%s/proxytest.json", g.dir);
        write_file(path, policy, strlen(policy));
        if (brigd_start_args(&g.d, path, brigd_args, &g.skip) < 0)
                return 0;
        g.started = true;
        return 0;
}

static int group_teardown(void **state) {
        char cmd[128];
        (void) state;

        if (g.started)
                assert_int_equal(brigd_stop(&g.d), 0);
        if (g.server > 0) {
                kill(g.server, SIGKILL);
                waitpid(g.server, NULL, 0);
        }
        if (g.dir[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
                (void) run(cmd);
        }
        return 0;
}

static int connect_env(void) {
        if (!g.started) {
                fprintf(stderr, "# SKIP: %s\n", g.skip ? g.skip : "brigd failed to start");
                skip();
        }
        int fd = client_connect(&g.d);
        assert_true(fd >= 0);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"proxy-1\"}"));
        return fd;
}

#define sh client_shf

static cJSON *sh_notes(int fd, int id, cJSON **ret_notes, const char *command) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, id, json, NULL, ret_notes);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        return r;
}

/* net_connect events of the audit log for host (NULL: any), waiting up to 3 s for at least one. */
static cJSON *net_events(const char *host) {
        return audit_events_wait(&g.d, "net_connect", host);
}

static const char *ev_str(const cJSON *ev, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(ev, key);
        return cJSON_IsString(v) ? v->valuestring : "";
}

static double ev_num(const cJSON *ev, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(ev, key);
        return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_proxy__allowed_name_over_http(void **state) {
        (void) state;
        int fd = connect_env();

        cJSON *r = sh(fd, 1, "curl -sS http://allowed.test:%d/hello.txt", g.http_port);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "hello-brig\n");
        cJSON_Delete(r);

        cJSON *evs = net_events("allowed.test");
        assert_true(cJSON_GetArraySize(evs) >= 1);
        const cJSON *ev = cJSON_GetArrayItem(evs, 0);
        assert_string_equal(ev_str(ev, "decision"), "allowed");
        assert_non_null(strstr(ev_str(ev, "reason"), "allowed.test"));
        assert_string_equal(ev_str(ev, "environment"), "proxy-1");
        assert_true(ev_num(ev, "port") == g.http_port);
        assert_true(ev_num(ev, "call_id") > 0);
        assert_true(ev_num(ev, "bytes_down") > 11);
        assert_true(ev_num(ev, "bytes_up") > 0);
        assert_true(ev_num(ev, "duration_ms") >= 0);
        cJSON_Delete(evs);
        close(fd);
}

/* An allowed upstream that refuses the connection: the attempt's handle is closed (and the next address
 * tried, of which there is none here), and the client gets 502 with the reason; the connection is audited
 * with its error and the proxy goes on serving. */
static void test_proxy__refused_upstream_gets_502(void **state) {
        (void) state;
        int fd = connect_env();

        cJSON *r = sh(fd, 1, "curl -sS -o /dev/null -w '%%{http_code}' http://allowed.test:%d/x",
                      g.closed_port);
        assert_string_equal(sc_str(r, "stdout"), "502");
        cJSON_Delete(r);
        cJSON *evs = net_events("allowed.test");
        bool seen = false;
        for (int i = 0; i < cJSON_GetArraySize(evs); i++) {
                const cJSON *ev = cJSON_GetArrayItem(evs, i);
                seen = seen ||
                       (ev_num(ev, "port") == g.closed_port && strstr(ev_str(ev, "error"), "connect"));
        }
        assert_true(seen);
        cJSON_Delete(evs);
        r = sh(fd, 2, "curl -sS http://allowed.test:%d/hello.txt", g.http_port);
        assert_string_equal(sc_str(r, "stdout"), "hello-brig\n");
        cJSON_Delete(r);
        close(fd);
}

/* Package managers find the proxy through the environment alone: npm view reads a registry through it,
 * and pip's request for an unlisted index is the proxy's to refuse (it has no other way out). */
static void test_proxy__package_managers_honour_the_proxy_env(void **state) {
        (void) state;
        bool npm = access("/usr/bin/npm", X_OK) == 0,
             pip = access("/usr/lib/python3/dist-packages/pip", F_OK) == 0;
        int fd = connect_env();

        if (!npm && !pip) {
                close(fd);
                fprintf(stderr, "# SKIP: neither npm nor pip is installed\n");
                skip();
        }
        if (npm) {
                cJSON *r =
                        sh(fd, 30,
                           "HOME=/tmp npm view leftpad description --registry http://allowed.test:%d/ 2>&1",
                           g.http_port);
                assert_string_equal(sc_str(r, "stdout"), "through the brig proxy\n");
                cJSON_Delete(r);
                r = sh(fd, 31,
                       "HOME=/tmp npm view leftpad --registry http://npm.unlisted.test:%d/ >/dev/null 2>&1",
                       g.http_port);
                assert_int_not_equal(sc_int(r, "exit_code"), 0);
                cJSON_Delete(r);
                cJSON *evs = net_events("npm.unlisted.test");
                assert_true(cJSON_GetArraySize(evs) >= 1);
                assert_string_equal(ev_str(cJSON_GetArrayItem(evs, 0), "decision"), "denied");
                cJSON_Delete(evs);
        }
        if (pip) {
                cJSON *r = sh(fd, 32,
                              "python3 -m pip download --no-deps --no-cache-dir --retries 0 --dest /tmp/dl "
                              "--trusted-host pip.unlisted.test "
                              "--index-url http://pip.unlisted.test:%d/simple/ leftpad >/dev/null 2>&1",
                              g.http_port);
                assert_int_not_equal(sc_int(r, "exit_code"), 0);
                cJSON_Delete(r);
                cJSON *evs = net_events("pip.unlisted.test");
                assert_true(cJSON_GetArraySize(evs) >= 1);
                const cJSON *ev = cJSON_GetArrayItem(evs, 0);
                assert_string_equal(ev_str(ev, "decision"), "denied");
                assert_string_equal(ev_str(ev, "reason"), "not in network.allow");
                cJSON_Delete(evs);
        }
        close(fd);
}

static void test_proxy__allowed_wildcard_over_tls_with_python(void **state) {
        (void) state;
        int fd = connect_env();

        /* urllib honours https_proxy with CONNECT; the certificate is the test's own. */
        cJSON *r = sh(fd, 2,
                      "python3 -c \"import ssl,urllib.request;"
                      "c=ssl._create_unverified_context();"
                      "print(urllib.request.urlopen('https://a.wild.test:%d/hello.txt',context=c)"
                      ".read().decode(),end='')\"",
                      g.tls_port);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "hello-brig\n");
        cJSON_Delete(r);
        cJSON *evs = net_events("a.wild.test");
        assert_true(cJSON_GetArraySize(evs) >= 1);
        const cJSON *ev = cJSON_GetArrayItem(evs, 0);
        assert_string_equal(ev_str(ev, "decision"), "allowed");
        assert_string_equal(ev_str(ev, "method"), "CONNECT");
        assert_non_null(strstr(ev_str(ev, "reason"), "*.wild.test"));
        cJSON_Delete(evs);
        close(fd);
}

static void test_proxy__denied_name_gets_403_audit_and_notification(void **state) {
        (void) state;
        int fd = connect_env();
        cJSON *notes = NULL;
        char command[256];

        snprintf(command, sizeof(command), "curl -sS -i http://other.test:%d/hello.txt", g.http_port);
        cJSON *r = sh_notes(fd, 3, &notes, command);
        const char *out = sc_str(r, "stdout");
        assert_non_null(out);
        assert_non_null(strstr(out, "HTTP/1.1 403 Forbidden"));
        assert_non_null(strstr(out, "X-Brig-Reason: not in network.allow"));
        assert_null(strstr(out, "hello-brig"));

        /* Streamed to this call's client. */
        const cJSON *m;
        int streamed = 0;
        double streamed_call = -1;
        cJSON_ArrayForEach (m, notes) {
                const cJSON *method = cJSON_GetObjectItem(m, "method");
                if (!cJSON_IsString(method) || strcmp(method->valuestring, "notifications/message") != 0)
                        continue;
                const cJSON *params = cJSON_GetObjectItem(m, "params");
                const cJSON *data = cJSON_GetObjectItem(params, "data");
                if (strcmp(ev_str(data, "type"), "net_connect") != 0)
                        continue;
                assert_string_equal(ev_str(params, "logger"), "brig/network");
                assert_string_equal(ev_str(data, "decision"), "denied");
                assert_string_equal(ev_str(data, "host"), "other.test");
                assert_int_equal(cJSON_GetObjectItem(data, "requestId")->valueint, 3);
                streamed_call = ev_num(data, "call_id");
                streamed++;
        }
        assert_int_equal(streamed, 1);
        /* And in the call's own result. */
        const cJSON *refused = cJSON_GetArrayItem(cJSON_GetObjectItem(result_sc(r), "refused"), 0);
        assert_string_equal(ev_str(refused, "type"), "net_connect");
        assert_string_equal(ev_str(refused, "host"), "other.test");
        assert_string_equal(ev_str(refused, "reason"), "not in network.allow");
        cJSON_Delete(notes);
        cJSON_Delete(r);

        cJSON *evs = net_events("other.test");
        assert_int_equal(cJSON_GetArraySize(evs), 1);
        const cJSON *ev = cJSON_GetArrayItem(evs, 0);
        assert_string_equal(ev_str(ev, "decision"), "denied");
        assert_string_equal(ev_str(ev, "reason"), "not in network.allow");
        assert_true(ev_num(ev, "call_id") > 0);
        assert_true(ev_num(ev, "call_id") == streamed_call);
        assert_true(ev_num(ev, "bytes_up") == 0);
        cJSON_Delete(evs);

        /* deny wins over a matching wildcard. */
        r = sh(fd, 4, "curl -sS -i http://blocked.wild.test:%d/hello.txt", g.http_port);
        assert_non_null(strstr(sc_str(r, "stdout"), "403 Forbidden"));
        assert_non_null(strstr(sc_str(r, "stdout"), "network.deny[0]"));
        cJSON_Delete(r);
        close(fd);
}

static void test_proxy__private_address_after_resolution_is_refused(void **state) {
        (void) state;
        int fd = connect_env();

        cJSON *r = sh(fd, 5, "curl -sS -i http://private.test:%d/hello.txt", g.http_port);
        const char *out = sc_str(r, "stdout");
        assert_non_null(strstr(out, "403 Forbidden"));
        assert_non_null(strstr(out, "10.0.0.1"));
        cJSON_Delete(r);
        cJSON *evs = net_events("private.test");
        assert_int_equal(cJSON_GetArraySize(evs), 1);
        const cJSON *ev = cJSON_GetArrayItem(evs, 0);
        assert_string_equal(ev_str(ev, "decision"), "denied");
        assert_string_equal(ev_str(ev, "address"), "10.0.0.1");
        assert_non_null(strstr(ev_str(ev, "reason"), "allow_private"));
        cJSON_Delete(evs);
        /* An IP literal is only allowed when listed, whatever allow_private says. */
        r = sh(fd, 6, "curl -sS -i http://127.0.0.1:%d/hello.txt --noproxy '' --proxy http://127.0.0.1:3128",
               g.http_port);
        assert_non_null(strstr(sc_str(r, "stdout"), "403 Forbidden"));
        cJSON_Delete(r);
        close(fd);
}

static void test_proxy__no_route_and_no_dns_without_the_proxy(void **state) {
        (void) state;
        int fd = connect_env();

        /* The host's loopback server is in another network namespace: nothing listens on the jail's. */
        cJSON *r =
                sh(fd, 7, "curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:%d/hello.txt", g.http_port);
        assert_int_not_equal(sc_int(r, "exit_code"), 0);
        assert_null(strstr(sc_str(r, "stdout"), "hello-brig"));
        cJSON_Delete(r);
        /* No route anywhere but loopback. */
        r = sh(fd, 8,
               "python3 -c \"import socket\ntry:\n socket.create_connection(('10.0.0.1',80),timeout=5)\n"
               "except OSError as e: print(e.errno)\"");
        assert_string_equal(sc_str(r, "stdout"), "101\n"); /* ENETUNREACH */
        cJSON_Delete(r);
        /* No DNS: the jail's resolver is a loopback port where nothing answers. */
        r = sh(fd, 9,
               "python3 -c \"import socket\ntry:\n print(socket.getaddrinfo('example.com',80))\n"
               "except socket.gaierror as e: print('gaierror')\"");
        assert_string_equal(sc_str(r, "stdout"), "gaierror\n");
        cJSON_Delete(r);
        close(fd);
}

static void test_proxy__connection_limit_per_environment(void **state) {
        (void) state;
        int fd = connect_env();

        /* max_connections is 4: six tunnels held open at once, the last two refused with 503. */
        cJSON *r = sh(fd, 10,
                      "python3 -c \"import socket\n"
                      "ss=[]\n"
                      "for i in range(6):\n"
                      " s=socket.create_connection(('127.0.0.1',3128))\n"
                      " s.sendall(b'CONNECT allowed.test:%d HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
                      " print(s.recv(100).split(b' ')[1].decode())\n"
                      " ss.append(s)\"",
                      g.http_port);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "200\n200\n200\n200\n503\n503\n");
        cJSON_Delete(r);
        cJSON *evs = net_events("allowed.test");
        const cJSON *ev;
        int limited = 0;
        cJSON_ArrayForEach (ev, evs)
                if (strstr(ev_str(ev, "reason"), "max_connections"))
                        limited++;
        assert_int_equal(limited, 2);
        cJSON_Delete(evs);
        close(fd);
}

static void test_proxy__byte_limit_cuts_the_connection(void **state) {
        (void) state;
        int fd = connect_env();

        /* max_bytes is 1M per call: a 3 MiB download is cut short. */
        cJSON *r = sh(fd, 11,
                      "curl -sS -o /tmp/big http://allowed.test:%d/big.bin; echo $?; stat -c %%s /tmp/big",
                      g.http_port);
        const char *out = sc_str(r, "stdout");
        int curl_exit = -1;
        long size = -1;
        assert_int_equal(sscanf(out, "%d %ld", &curl_exit, &size), 2);
        assert_int_not_equal(curl_exit, 0);
        assert_true(size < BIG_BYTES);
        cJSON_Delete(r);
        cJSON *evs = net_events("allowed.test");
        const cJSON *ev;
        int cut = 0;
        cJSON_ArrayForEach (ev, evs)
                if (strstr(ev_str(ev, "error"), "network.max_bytes")) {
                        cut++;
                        assert_string_equal(ev_str(ev, "decision"), "allowed");
                        assert_true(ev_num(ev, "bytes_down") <= 1024 * 1024);
                }
        assert_int_equal(cut, 1);
        cJSON_Delete(evs);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proxy__allowed_name_over_http),
                cmocka_unit_test(test_proxy__package_managers_honour_the_proxy_env),
                cmocka_unit_test(test_proxy__allowed_wildcard_over_tls_with_python),
                cmocka_unit_test(test_proxy__denied_name_gets_403_audit_and_notification),
                cmocka_unit_test(test_proxy__private_address_after_resolution_is_refused),
                cmocka_unit_test(test_proxy__refused_upstream_gets_502),
                cmocka_unit_test(test_proxy__no_route_and_no_dns_without_the_proxy),
                cmocka_unit_test(test_proxy__connection_limit_per_environment),
                cmocka_unit_test(test_proxy__byte_limit_cuts_the_connection),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
