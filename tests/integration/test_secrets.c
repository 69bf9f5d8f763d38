/* SPDX-License-Identifier: MIT */
/* network.secrets end to end, plain HTTP and HTTPS (docs/policy.md, "Secrets"): a real brigd with
 * --resolve entries pointing test names at HTTP and HTTPS servers on the host's loopback (python3, with
 * certificates from a test CA made by openssl(1) that brigd trusts upstream through --upstream-ca) that
 * check the credential they receive and never echo it. A placeholder in the jail's environment becomes
 * the value in headers to the secret's host (curl, Python urllib; over HTTPS through TLS interception with
 * the environment's CA, whose bundle the jail trusts); a header template is injected, replacing the
 * client's own; the placeholder sent to another allowed host is refused and audited, and never reaches it;
 * an upstream certificate for another name or from an unknown CA is refused; an unreadable source fails
 * calls naming the secret; and the value is found nowhere: not in the jail's /proc/PID/environ, the call
 * results, the audit log, brigd's stderr or its state directory. Nothing leaves loopback. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

#define ENV_VALUE "ghp-env-VALUE-7f3a9c1e55d04b2a"
#define FILE_VALUE "filekey-VALUE-0b8e6d2c9a714f33"

/* Checks what it is sent, answers only "authenticated" or "refused", and logs each request's path; /nolength
 * answers with no length and ends the connection without TLS's close_notify. The last port's server (plain
 * HTTP) answers the first request's head and logs every byte it was sent on the connection (raw.log), so
 * that a pipelined request is seen even though an HTTP server would not read it after Connection: close. */
static const char server_py[] =
        "import http.server, os, socket, ssl, sys, threading\n"
        "d = sys.argv[1]\n"
        "env_value, file_value = sys.argv[2], sys.argv[3]\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def log_message(self, *a): pass\n"
        "    def do_GET(self):\n"
        "        with open(os.path.join(d, 'requests.log'), 'a') as f: f.write(self.path + '\\n')\n"
        "        auth = self.headers.get_all('Authorization') or []\n"
        "        key = self.headers.get_all('X-Api-Key') or []\n"
        "        if self.path.startswith('/bearer'): ok = auth == ['Bearer ' + env_value]\n"
        "        elif self.path.startswith('/key'): ok = key == ['key=' + file_value]\n"
        "        else: ok = True\n"
        "        body = b'authenticated\\n' if ok else b'refused\\n'\n"
        "        self.send_response(200 if ok else 401)\n"
        "        if not self.path.startswith('/nolength'): self.send_header('Content-Length', "
        "str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "        if self.path.startswith('/nolength'):\n"
        "            self.wfile.flush()\n"
        "            self.connection.shutdown(socket.SHUT_RDWR)  # TCP's end, no close_notify\n"
        "def serve(cert):\n"
        "    h = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "    if cert:\n"
        "        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "        ctx.load_cert_chain(os.path.join(d, cert + '.pem'), os.path.join(d, cert + '.key'))\n"
        "        h.socket = ctx.wrap_socket(h.socket, server_side=True)\n"
        "    threading.Thread(target=h.serve_forever, daemon=True).start()\n"
        "    return h.server_port\n"
        "def raw(c):\n"
        "    data = b''\n"
        "    while b'\\r\\n\\r\\n' not in data:\n"
        "        b = c.recv(65536)\n"
        "        if not b: break\n"
        "        data += b\n"
        "    if b'-slow' in data: threading.Event().wait(1)  # the client writes more meanwhile\n"
        "    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 14\\r\\n\\r\\nauthenticated\\n')\n"
        "    c.shutdown(socket.SHUT_WR)\n"
        "    while True:\n"
        "        b = c.recv(65536)\n"
        "        if not b: break\n"
        "        data += b\n"
        "    with open(os.path.join(d, 'raw.log'), 'ab') as f: f.write(data)\n"
        "    c.close()\n"
        "def serve_raw():\n"
        "    s = socket.create_server(('127.0.0.1', 0))\n"
        "    def loop():\n"
        "        while True: threading.Thread(target=raw, args=(s.accept()[0],), daemon=True).start()\n"
        "    threading.Thread(target=loop, daemon=True).start()\n"
        "    return s.getsockname()[1]\n"
        "ports = [serve(c) for c in (None, 'good', 'badname', 'badca')] + [serve_raw()]\n"
        "with open(os.path.join(d, 'port.tmp'), 'w') as f: f.write('%d %d %d %d %d\\n' % tuple(ports))\n"
        "os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))\n"
        "threading.Event().wait()\n";

/* The upstream's certificates (openssl(1)): a test CA that brigd trusts (--upstream-ca) signs one for the
 * secrets' test hosts and one for another name; an unknown CA signs one for the right name. */
static const char certs_sh[] =
        "set -e\n"
        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \\\n"
        "  -out $1.pem -days 2 -subj /CN=$1 -addext basicConstraints=critical,CA:TRUE \\\n"
        "  -addext keyUsage=critical,keyCertSign 2>/dev/null; }\n"
        "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \\\n"
        "  -out $1.csr -subj /CN=$3 2>/dev/null\n"
        "  printf 'subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n' \"$4\" > $1.ext\n"
        "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2 \\\n"
        "  -extfile $1.ext -out $1.pem 2>/dev/null; }\n"
        "ca testca; ca rogueca\n"
        "leaf good testca api.test DNS:api.test,DNS:key.test,DNS:other.test\n"
        "leaf badname testca elsewhere.test DNS:elsewhere.test\n"
        "leaf badca rogueca badca.test DNS:badca.test\n"
        "chmod 644 *.key\n";

static struct {
        char dir[64];
        pid_t server;
        int port, tls_port, badname_port, badca_port, raw_port;
        brigd d;
        bool started;
        const char *skip;
        char results[1 << 16]; /* every call's response, for the search for the values */
        size_t results_len;
} g;

static char upstream_ca[128];
static const char *const brigd_args[] = {
        "--resolve", "api.test=127.0.0.1",   "--resolve",     "key.test=127.0.0.1",
        "--resolve", "other.test=127.0.0.1", "--resolve",     "badname.test=127.0.0.1",
        "--resolve", "badca.test=127.0.0.1", "--upstream-ca", upstream_ca,
        NULL};

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_true(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static int run(const char *cmd) {
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* brigd's user owns the secret files: 65534 in the modes that run it as nobody. */
static void own_by_brigd(const char *path) {
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && mode[0] && geteuid() == 0)
                assert_int_equal(chown(path, 65534, 65534), 0);
}

static void write_policy(const char *name, const char *secrets) {
        char path[256], policy[16384];

        snprintf(policy, sizeof(policy),
                 "{\"name\":\"%s\","
                 "\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                 "\"optional\":true},{\"source\":\"/etc/ld.so.cache\",\"optional\":true},"
                 "{\"source\":\"/etc/ssl\",\"optional\":true},{\"source\":\"/etc/alternatives\","
                 "\"optional\":true}],\"tmpfs\":[{\"path\":\"/tmp\",\"size\":\"64M\",\"mode\":\"1777\"}]},"
                 "\"env\":{\"PATH\":\"/usr/bin:/bin\",\"HOME\":\"/workspace\"},"
                 "\"network\":{\"mode\":\"proxy\",\"allow\":[\"api.test\",\"key.test\",\"other.test\","
                 "\"badname.test\",\"badca.test\",\"*.api.test\"],\"ports\":[%d,%d,%d,%d,%d,443],"
                 "\"allow_private\":[\"127.0.0.1/32\"],\"secrets\":[%s]}}",
                 name, g.port, g.tls_port, g.badname_port, g.badca_port, g.raw_port, secrets);
        snprintf(path, sizeof(path), "%s/%s.json", g.dir, name);
        write_file(path, policy, 0644);
}

static int group_setup(void **state) {
        char path[256], secrets[1024];
        (void) state;

        memset(&g, 0, sizeof(g));
        if (access("/usr/bin/python3", X_OK) < 0 || access("/usr/bin/curl", X_OK) < 0 ||
            access("/usr/bin/openssl", X_OK) < 0) {
                g.skip = "python3, curl or openssl not installed";
                return 0;
        }
        strcpy(g.dir, "/tmp/brig-secretstest-XXXXXX");
        assert_non_null(mkdtemp(g.dir));
        (void) chmod(g.dir, 0755);
        snprintf(path, sizeof(path), "%s/certs.sh", g.dir);
        write_file(path, certs_sh, 0644);
        snprintf(secrets, sizeof(secrets), "cd '%s' && sh certs.sh", g.dir);
        assert_int_equal(run(secrets), 0);
        snprintf(upstream_ca, sizeof(upstream_ca), "%s/testca.pem", g.dir);
        snprintf(path, sizeof(path), "%s/server.py", g.dir);
        write_file(path, server_py, 0644);
        g.server = fork();
        assert_true(g.server >= 0);
        if (g.server == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                execl("/usr/bin/python3", "python3", path, g.dir, ENV_VALUE, FILE_VALUE, (char *) NULL);
                _exit(127);
        }
        snprintf(path, sizeof(path), "%s/port", g.dir);
        for (int i = 0; i < 500 && g.port == 0; i++) {
                FILE *f = fopen(path, "r");
                if (f) {
                        assert_int_equal(fscanf(f, "%d %d %d %d %d", &g.port, &g.tls_port, &g.badname_port,
                                                &g.badca_port, &g.raw_port),
                                         5);
                        fclose(f);
                        break;
                }
                usleep(20 * 1000);
        }
        assert_true(g.port > 0);

        /* The secret file, brigd's own and private, with the trailing newline an editor leaves. */
        snprintf(path, sizeof(path), "%s/api.key", g.dir);
        write_file(path, FILE_VALUE "\n", 0600);
        own_by_brigd(path);
        snprintf(secrets, sizeof(secrets),
                 "{\"name\":\"GITHUB_TOKEN\",\"hosts\":[\"api.test\",\"badname.test\",\"badca.test\"],"
                 "\"source\":{\"env\":\"BRIG_TEST_GH_TOKEN\"},\"inject\":\"placeholder\"},"
                 "{\"name\":\"API_KEY\",\"hosts\":[\"key.test\"],\"source\":{\"file\":\"%s\"},"
                 "\"inject\":\"X-Api-Key: key={secret}\"}",
                 path);
        write_policy("secrets", secrets);
        /* Unreadable sources, each in a policy of its own. */
        write_policy("missing-env",
                     "{\"name\":\"MISSING_TOKEN\",\"hosts\":[\"api.test\"],\"source\":{\"env\":"
                     "\"BRIG_TEST_NO_SUCH_VARIABLE\"},\"inject\":\"placeholder\"}");
        snprintf(path, sizeof(path), "%s/open.key", g.dir);
        write_file(path, FILE_VALUE, 0644);
        own_by_brigd(path);
        snprintf(secrets, sizeof(secrets),
                 "{\"name\":\"OPEN_KEY\",\"hosts\":[\"key.test\"],\"source\":{\"file\":\"%s\"},"
                 "\"inject\":\"X-Api-Key: key={secret}\"}",
                 path);
        write_policy("open-file", secrets);

        /* More secret hosts than a CA's name constraints take (BRIG_TLS_CA_HOSTS_MAX): 5 x 60. */
        static char many[8192];
        size_t used = 0;
        for (int i = 0; i < 5; i++) {
                used += (size_t) snprintf(many + used, sizeof(many) - used,
                                          "%s{\"name\":\"MANY_%d\",\"hosts\":[", i ? "," : "", i);
                for (int k = 0; k < 60; k++)
                        used += (size_t) snprintf(many + used, sizeof(many) - used, "%s\"h%d-%d.api.test\"",
                                                  k ? "," : "", i, k);
                used += (size_t) snprintf(
                        many + used, sizeof(many) - used,
                        "],\"source\":{\"env\":\"BRIG_TEST_GH_TOKEN\"},\"inject\":\"placeholder\"}");
        }
        write_policy("many-hosts", many);

        assert_int_equal(setenv("BRIG_TEST_GH_TOKEN", ENV_VALUE, 1), 0);
        (void) unsetenv("BRIG_TEST_NO_SUCH_VARIABLE");
        snprintf(path, sizeof(path), "%s/secrets.json", g.dir);
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

static int attach(const char *env, const char *policy) {
        char meta[256];
        if (!g.started) {
                fprintf(stderr, "# SKIP: %s\n", g.skip ? g.skip : "brigd failed to start");
                skip();
        }
        int fd = client_connect(&g.d);
        assert_true(fd >= 0);
        if (policy)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env,
                         policy);
        else
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        cJSON_Delete(client_initialize(fd, meta));
        return fd;
}

/* Runs a shell command in the environment; the response is kept for the search for the values. */
#define sh(...) kept(client_shf(__VA_ARGS__))
static cJSON *kept(cJSON *r) {
        char *text = cJSON_PrintUnformatted(r);
        size_t n = strlen(text);
        if (g.results_len + n < sizeof(g.results)) {
                memcpy(g.results + g.results_len, text, n);
                g.results_len += n;
        }
        free(text);
        return r;
}

static cJSON *events(const char *type, const char *host) {
        return audit_events_wait(&g.d, type, host);
}

static const char *ev_str(const cJSON *ev, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(ev, key);
        return cJSON_IsString(v) ? v->valuestring : "";
}

static void assert_secret_event(const char *type, const char *host, const char *name, const char *env) {
        cJSON *evs = events(type, host);
        bool seen = false;
        for (int i = 0; i < cJSON_GetArraySize(evs); i++) {
                const cJSON *ev = cJSON_GetArrayItem(evs, i);
                const cJSON *call = cJSON_GetObjectItem(ev, "call_id");
                seen = seen || (strcmp(ev_str(ev, "name"), name) == 0 &&
                                strcmp(ev_str(ev, "environment"), env) == 0 && cJSON_IsNumber(call) &&
                                call->valuedouble > 0);
        }
        if (!seen)
                fail_msg("no %s event for %s to %s in %s", type, name, host, env);
        cJSON_Delete(evs);
}

static bool server_saw(const char *path) {
        char log[256], line[512];
        bool seen = false;
        snprintf(log, sizeof(log), "%s/requests.log", g.dir);
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof(line), f))
                seen = seen || strncmp(line, path, strlen(path)) == 0;
        if (f)
                fclose(f);
        return seen;
}

static void test_secrets__placeholder_with_curl(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        /* The jail holds a placeholder, not the value. */
        cJSON *r = sh(fd, 1, "printf %%s \"$GITHUB_TOKEN\"");
        assert_int_equal(strncmp(sc_str(r, "stdout"), "brig-secret-", 12), 0);
        assert_int_equal(strlen(sc_str(r, "stdout")), 12 + 64);
        cJSON_Delete(r);
        r = sh(fd, 2, "curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" http://api.test:%d/bearer-curl",
               g.port);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        assert_secret_event("secret_used", "api.test", "GITHUB_TOKEN", "secrets-1");
        close(fd);
}

static void test_secrets__placeholder_with_python(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1,
                      "python3 -c \"import os, urllib.request as u; "
                      "q = u.Request('http://api.test:%d/bearer-python', "
                      "headers={'Authorization': 'Bearer ' + os.environ['GITHUB_TOKEN']}); "
                      "print(u.urlopen(q).read().decode(), end='')\"",
                      g.port);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        close(fd);
}

static void test_secrets__header_template_replaces_the_clients(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1, "curl -sS http://key.test:%d/key-plain", g.port);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        r = sh(fd, 2, "curl -sS -H 'x-api-key: key=guess' http://key.test:%d/key-replaced", g.port);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        assert_secret_event("secret_used", "key.test", "API_KEY", "secrets-1");
        /* Another host gets no key. */
        r = sh(fd, 3, "curl -sS http://other.test:%d/key-elsewhere", g.port);
        assert_string_equal(sc_str(r, "stdout"), "refused\n");
        cJSON_Delete(r);
        close(fd);
}

static void test_secrets__placeholder_to_another_host_is_refused(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(
                fd, 1,
                "curl -sS -D - -o /dev/null -H \"X-Token: x$GITHUB_TOKEN\" http://other.test:%d/leak-http",
                g.port);
        const char *out = sc_str(r, "stdout");
        assert_non_null(strstr(out, "403"));
        assert_non_null(strstr(out, "X-Brig-Reason: the placeholder of secret GITHUB_TOKEN"));
        cJSON_Delete(r);
        assert_secret_event("secret_exfiltration_refused", "other.test", "GITHUB_TOKEN", "secrets-1");
        assert_false(server_saw("/leak-http"));

        /* In the headers of a CONNECT, too. */
        r = sh(fd, 2,
               "curl -sS -o /dev/null -w '%%{http_connect}' --proxy-header \"X-Token: $GITHUB_TOKEN\" "
               "https://other.test:443/leak-connect");
        assert_string_equal(sc_str(r, "stdout"), "403");
        cJSON_Delete(r);
        close(fd);
}

/* HTTPS to a secret's host is intercepted: the jail trusts its environment's CA (curl and Python find it
 * through SSL_CERT_FILE), the proxy puts the value in and talks TLS to the real host itself. */
static void test_secrets__https_placeholder_with_curl(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r =
                sh(fd, 1,
                   "curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" https://api.test:%d/bearer-tls-curl",
                   g.tls_port);
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), "authenticated\n") != 0)
                fail_msg("curl over HTTPS: %s %s", sc_str(r, "stdout"), sc_str(r, "stderr"));
        cJSON_Delete(r);
        assert_true(server_saw("/bearer-tls-curl"));
        assert_secret_event("secret_used", "api.test", "GITHUB_TOKEN", "secrets-1");
        close(fd);
}

static void test_secrets__https_placeholder_with_python(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1,
                      "python3 -c \"import os, urllib.request as u; "
                      "q = u.Request('https://api.test:%d/bearer-tls-python', "
                      "headers={'Authorization': 'Bearer ' + os.environ['GITHUB_TOKEN']}); "
                      "print(u.urlopen(q).read().decode(), end='')\"",
                      g.tls_port);
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), "authenticated\n") != 0)
                fail_msg("python over HTTPS: %s %s", sc_str(r, "stdout"), sc_str(r, "stderr"));
        cJSON_Delete(r);
        close(fd);
}

/* Node: its fetch() of this version ignores HTTPS_PROXY, so the request goes through a CONNECT of its own
 * http module; its TLS client trusts the environment's CA through NODE_EXTRA_CA_CERTS only. */
static const char node_js[] =
        "const http = require('http'), https = require('https'), tls = require('tls');"
        "const p = new URL(process.env.HTTPS_PROXY), port = +process.argv[1];"
        "http.request({host: p.hostname, port: p.port, method: 'CONNECT', path: 'api.test:' + port})"
        ".on('connect', (res, sock) => https.get({host: 'api.test', port, path: '/bearer-tls-node',"
        " headers: {Authorization: 'Bearer ' + process.env.GITHUB_TOKEN},"
        " createConnection: () => tls.connect({socket: sock, servername: 'api.test'})},"
        " r => { let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }))"
        ".end();";

static void test_secrets__https_placeholder_with_node(void **state) {
        (void) state;
        if (access("/usr/bin/node", X_OK) < 0) {
                fprintf(stderr, "# SKIP: node not installed\n");
                skip();
        }
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1, "node -e \"%s\" %d", node_js, g.tls_port);
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), "authenticated\n") != 0)
                fail_msg("node over HTTPS: %s %s", sc_str(r, "stdout"), sc_str(r, "stderr"));
        cJSON_Delete(r);
        /* Without the variable, Node's own roots do not know the environment's CA. */
        r = sh(fd, 2, "NODE_EXTRA_CA_CERTS= node -e \"%s\" %d", node_js, g.tls_port);
        assert_int_not_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        close(fd);
}

static void test_secrets__https_header_template(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1, "curl -sS -H 'X-Api-Key: key=guess' https://key.test:%d/key-tls", g.tls_port);
        if (strcmp(sc_str(r, "stdout"), "authenticated\n") != 0)
                fail_msg("header template over HTTPS: %s %s", sc_str(r, "stdout"), sc_str(r, "stderr"));
        cJSON_Delete(r);
        assert_secret_event("secret_used", "key.test", "API_KEY", "secrets-1");
        close(fd);
}

/* Inside an intercepted connection, the placeholder of a secret the host is not among the hosts of is
 * refused like in plain HTTP, and never reaches the host. */
static void test_secrets__https_placeholder_of_another_secret_is_refused(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r =
                sh(fd, 1,
                   "curl -sS -D - -o /dev/null -H \"X-Token: $GITHUB_TOKEN\" https://key.test:%d/leak-tls",
                   g.tls_port);
        const char *out = sc_str(r, "stdout");
        if (!strstr(out, "403") || !strstr(out, "X-Brig-Reason: the placeholder of secret GITHUB_TOKEN"))
                fail_msg("not refused: %s %s", out, sc_str(r, "stderr"));
        cJSON_Delete(r);
        assert_secret_event("secret_exfiltration_refused", "key.test", "GITHUB_TOKEN", "secrets-1");
        assert_false(server_saw("/leak-tls"));
        close(fd);
}

/* Two requests written at once in one intercepted connection (a body of its own on the first, of a
 * Content-Length or chunked with an extension and a trailer): each is checked, and the second's placeholder
 * for another host is refused inside TLS after the first's answer, audited, and never reaches the host. */
static const char pipelined_py[] =
        "import os, socket, ssl, sys, urllib.parse\n"
        "port, token = int(sys.argv[1]), os.environ['GITHUB_TOKEN'].encode()\n"
        "body = (b'Transfer-Encoding: chunked\\r\\n\\r\\n5;x=y\\r\\nhello\\r\\n0\\r\\nX-T: 1\\r\\n\\r\\n'\n"
        "        if sys.argv[2] == 'chunked' else b'Content-Length: 5\\r\\n\\r\\nhello')\n"
        "p = urllib.parse.urlsplit(os.environ['HTTPS_PROXY'])\n"
        "s = socket.create_connection((p.hostname, p.port))\n"
        "s.sendall(b'CONNECT key.test:%d HTTP/1.1\\r\\nHost: key.test\\r\\n\\r\\n' % port)\n"
        "head = b''\n"
        "while not head.endswith(b'\\r\\n\\r\\n'): head += s.recv(1)\n"
        "t = ssl.create_default_context().wrap_socket(s, server_hostname='key.test')\n"
        "t.sendall(b'GET /pipe-one HTTP/1.1\\r\\nHost: key.test\\r\\n' + body +\n"
        "          b'GET /pipe-leak HTTP/1.1\\r\\nHost: key.test\\r\\nX-Token: ' + token + "
        "b'\\r\\n\\r\\n')\n"
        "out = b''\n"
        "try:\n"
        "    while True:\n"
        "        d = t.recv(65536)\n"
        "        if not d: break\n"
        "        out += d\n"
        "except (ssl.SSLError, OSError): pass\n"
        "sys.stdout.write(out.decode())\n";

static void test_secrets__https_pipelined_request_is_checked(void **state) {
        static const char *const framings[] = {"length", "chunked"};
        (void) state;

        for (size_t i = 0; i < 2; i++) {
                char env[32];
                snprintf(env, sizeof(env), "secrets-pipe-%s", framings[i]);
                int fd = attach(env, NULL);
                cJSON *r = sh(fd, 1, "cat > /tmp/pipe.py <<'EOF'\n%sEOF\npython3 /tmp/pipe.py %d %s",
                              pipelined_py, g.tls_port, framings[i]);
                const char *out = sc_str(r, "stdout");
                if (!strstr(out, "authenticated\n") || !strstr(out, "403 Forbidden") ||
                    !strstr(out, "X-Brig-Reason: the placeholder of secret GITHUB_TOKEN"))
                        fail_msg("pipelined (%s): %s %s", framings[i], out, sc_str(r, "stderr"));
                cJSON_Delete(r);
                assert_secret_event("secret_exfiltration_refused", "key.test", "GITHUB_TOKEN", env);
                close(fd);
        }
        assert_true(server_saw("/pipe-one"));
        assert_false(server_saw("/pipe-leak"));
}

/* The same in plain HTTP, where the relay would otherwise pass on all the client sends: two requests written
 * at once, the first with a body; the second's placeholder for another host is refused after the first's
 * answer, audited, and never sent upstream — to a secret's host or to any other. */
static const char plain_pipelined_py[] =
        "import os, socket, sys, time, urllib.parse\n"
        "host, port, token = sys.argv[1], int(sys.argv[2]), os.environ['GITHUB_TOKEN'].encode()\n"
        "body = {'chunked': b'Transfer-Encoding: chunked\\r\\n\\r\\n5;x=y\\r\\nhello\\r\\n0\\r\\nX-T: "
        "1\\r\\n\\r\\n',\n"
        "        'length': b'Content-Length: 5\\r\\n\\r\\nhello', 'none': b'\\r\\n'}[sys.argv[3]]\n"
        "p = urllib.parse.urlsplit(os.environ['HTTP_PROXY'])\n"
        "s = socket.create_connection((p.hostname, p.port))\n"
        "u = b'http://%s:%d/plain-pipe' % (host.encode(), port)\n"
        "first = b'POST ' + u + b'-one HTTP/1.1\\r\\nHost: x\\r\\n' + body\n"
        "second = b'GET ' + u + b'-leak HTTP/1.1\\r\\nHost: x\\r\\nX-Token: ' + token + b'\\r\\n\\r\\n'\n"
        "if len(sys.argv) > 4:  # the next request in a later read, while the upstream is still answering\n"
        "    s.sendall(first.replace(b'-one ', b'-one-slow ')); time.sleep(0.3)\n"
        "    try: s.sendall(second + second)\n"
        "    except OSError: pass\n"
        "else:\n"
        "    s.sendall(first + second)\n"
        "out = b''\n"
        "while True:\n"
        "    d = s.recv(65536)\n"
        "    if not d: break\n"
        "    out += d\n"
        "sys.stdout.write(out.decode())\n";

static bool raw_server_saw(const char *text) {
        char log[256], data[1 << 16];
        snprintf(log, sizeof(log), "%s/raw.log", g.dir);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(data, 1, sizeof(data) - 1, f) : 0;
        if (f)
                fclose(f);
        data[n] = 0;
        return strstr(data, text) != NULL;
}

static void test_secrets__plain_pipelined_request_is_checked(void **state) {
        /* A secret's host (its header injected into the first request) and a host without secrets. */
        static const char *const cases[][2] = {{"key.test", "length"}, {"other.test", "chunked"}};
        (void) state;
        int fd = attach("secrets-plain-pipe", NULL);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                cJSON *r = sh(fd, (int) i + 1,
                              "cat > /tmp/pipe.py <<'EOF'\n%sEOF\npython3 /tmp/pipe.py %s %d %s",
                              plain_pipelined_py, cases[i][0], g.raw_port, cases[i][1]);
                const char *out = sc_str(r, "stdout");
                if (!strstr(out, "authenticated\n") || !strstr(out, "403 Forbidden") ||
                    !strstr(out, "X-Brig-Reason: the placeholder of secret GITHUB_TOKEN"))
                        fail_msg("pipelined to %s (%s): %s %s", cases[i][0], cases[i][1], out,
                                 sc_str(r, "stderr"));
                cJSON_Delete(r);
                assert_secret_event("secret_exfiltration_refused", cases[i][0], "GITHUB_TOKEN",
                                    "secrets-plain-pipe");
        }
        /* The next request in a read of its own, after a body or after none: never sent upstream either. */
        static const char *const later[] = {"length", "none"};
        for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
                cJSON_Delete(sh(fd, (int) i + 10, "python3 /tmp/pipe.py other.test %d %s split", g.raw_port,
                                later[i]));
        assert_true(raw_server_saw("/plain-pipe-one"));
        assert_true(raw_server_saw("hello"));
        assert_false(raw_server_saw("/plain-pipe-leak"));
        assert_false(raw_server_saw("brig-secret-"));

        /* A body whose end the upstream could read elsewhere is refused before anything is sent. */
        cJSON *r = sh(
                fd, 3,
                "python3 -c \"import os, socket, urllib.parse as u; p = "
                "u.urlsplit(os.environ['HTTP_PROXY']); "
                "s = socket.create_connection((p.hostname, p.port)); "
                "s.sendall(b'POST http://other.test:%d/plain-ambiguous HTTP/1.1\\r\\nContent-Length: 5\\r\\n"
                "Transfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n'); print(s.recv(4096).decode())\"",
                g.raw_port);
        if (!strstr(sc_str(r, "stdout"), "400 Bad Request"))
                fail_msg("ambiguous framing: %s %s", sc_str(r, "stdout"), sc_str(r, "stderr"));
        cJSON_Delete(r);
        assert_false(raw_server_saw("/plain-ambiguous"));
        close(fd);
}

/* brigd's own connection upstream verifies like a client: a certificate for another name, or from a CA
 * it does not trust, is refused and nothing is sent. */
/* What a TLS client in the jail sees at the end of a connection-delimited response: "clean" (close_notify)
 * or "ragged" (the connection ended without one). Python reads with ragged ends reported. */
static const char tls_end_py[] =
        "import os, socket, ssl, sys, urllib.parse\n"
        "p = urllib.parse.urlparse(os.environ[\"HTTPS_PROXY\"]); port = sys.argv[1]\n"
        "s = socket.create_connection((p.hostname, p.port))\n"
        "s.sendall((\"CONNECT api.test:%s HTTP/1.1\\r\\nHost: api.test\\r\\n\\r\\n\" % port).encode())\n"
        "head = b\"\"\n"
        "while not head.endswith(b\"\\r\\n\\r\\n\"): head += s.recv(1)\n"
        "ctx = ssl.create_default_context(cafile=os.environ[\"SSL_CERT_FILE\"])\n"
        "ctx.options &= ~getattr(ssl, \"OP_IGNORE_UNEXPECTED_EOF\", 0)\n"
        "t = ctx.wrap_socket(s, server_hostname=\"api.test\", suppress_ragged_eofs=False)\n"
        "t.sendall(b\"GET /nolength HTTP/1.1\\r\\nHost: api.test\\r\\n\\r\\n\")\n"
        "try:\n"
        "    while t.recv(4096): pass\n"
        "    print(\"clean\")\n"
        "except ssl.SSLError:  # SSLEOFError, or UNEXPECTED_EOF_WHILE_READING\n"
        "    print(\"ragged\")\n";

/* An upstream that ends its TLS connection without close_notify ends the jail's the same way: a response
 * delimited by the connection's end is not passed off as whole. */
static void test_secrets__https_upstream_end_is_passed_on_as_it_came(void **state) {
        char command[64];
        (void) state;
        int fd = attach("secrets-1", NULL);
        cJSON *args = cJSON_CreateObject();

        snprintf(command, sizeof(command), "python3 - %d", g.tls_port);
        cJSON_AddStringToObject(args, "command", command);
        cJSON_AddStringToObject(args, "stdin", tls_end_py);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = kept(client_call(fd, 1, json, NULL, NULL));
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), "ragged\n") != 0)
                fail_msg("the end of a connection the upstream cut: %s %s", sc_str(r, "stdout"),
                         sc_str(r, "stderr"));
        cJSON_Delete(r);
        free(json);
        cJSON_Delete(args);
        close(fd);
}

static void test_secrets__https_upstream_must_verify(void **state) {
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1,
                      "curl -sS -D - -o /dev/null -H \"Authorization: Bearer $GITHUB_TOKEN\" "
                      "https://badname.test:%d/bearer-badname",
                      g.badname_port);
        const char *out = sc_str(r, "stdout");
        if (!strstr(out, "502") || !strstr(out, "X-Brig-Reason: TLS to the upstream:"))
                fail_msg("a certificate for another name was accepted: %s %s", out, sc_str(r, "stderr"));
        cJSON_Delete(r);
        r = sh(fd, 2,
               "curl -sS -D - -o /dev/null -H \"Authorization: Bearer $GITHUB_TOKEN\" "
               "https://badca.test:%d/bearer-badca",
               g.badca_port);
        out = sc_str(r, "stdout");
        if (!strstr(out, "502") || !strstr(out, "X-Brig-Reason: TLS to the upstream:"))
                fail_msg("an unknown CA was accepted: %s %s", out, sc_str(r, "stderr"));
        cJSON_Delete(r);
        assert_false(server_saw("/bearer-badname"));
        assert_false(server_saw("/bearer-badca"));
        close(fd);
}

/* The environment's CA for TLS interception: its bundle is in the jail, read-only, named by the four
 * variables, and holds the system roots and then the CA made for this environment; no private key is in
 * the jail or in brigd's state directory. */
static void test_secrets__jail_trusts_its_ca(void **state) {
        char cmd[512];
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1,
                      "echo $SSL_CERT_FILE $REQUESTS_CA_BUNDLE $NODE_EXTRA_CA_CERTS $GIT_SSL_CAINFO; "
                      "test \"$(grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\")\" -gt 1 && echo roots; "
                      "awk '/BEGIN CERT/ {c = \"\"} {c = c $0 \"\\n\"} END {printf \"%%s\", c}' "
                      "\"$SSL_CERT_FILE\" | openssl x509 -noout -subject; "
                      "echo x 2>/dev/null >> \"$SSL_CERT_FILE\" || echo read-only; "
                      "grep -rlE 'BEGIN [A-Z ]*PRIVATE KEY' /etc /workspace /tmp 2>/dev/null; "
                      "sha256sum < \"$SSL_CERT_FILE\"");
        const char *out = sc_str(r, "stdout");
        /* The CA names the environment it was made for: this one, or the spare it adopted. */
        if (!strstr(out, "/etc/brig/ca-bundle.pem /etc/brig/ca-bundle.pem /etc/brig/ca-bundle.pem "
                         "/etc/brig/ca-bundle.pem\nroots\n") ||
            !strstr(out, "CN = brig environment ") || !strstr(out, " CA\nread-only\n"))
                fail_msg("the jail does not trust its CA: %s", out);
        /* The jail's bundle is the one brigd wrote in the environment's directory. */
        char sum[128];
        snprintf(cmd, sizeof(cmd), "sha256sum < '%s/environments/secrets-1/ca-bundle.pem'", g.d.state);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(sum, sizeof(sum), p));
        pclose(p);
        /* Nothing between: no file in the jail's own directories held a private key. */
        char tail[160];
        snprintf(tail, sizeof(tail), "read-only\n%s", sum);
        if (!strstr(out, tail))
                fail_msg("the jail's bundle is not brigd's, or it holds a key: %s vs %s", out, sum);
        cJSON_Delete(r);
        /* A pattern that does not match itself, as the audit log holds the commands. */
        snprintf(cmd, sizeof(cmd), "grep -rqaE 'BEGIN [A-Z ]*PRIVATE KEY' '%s' '%s'", g.d.state, g.d.audit);
        assert_int_equal(run(cmd), 1); /* searched, nothing found */
        close(fd);
}

static void assert_call_fails_naming(const char *env, const char *policy, const char *name) {
        int fd = attach(env, policy);
        cJSON *r = sh(fd, 1, "true");
        char *text = cJSON_PrintUnformatted(r);
        if (!strstr(text, name) || !strstr(text, "network.secrets"))
                fail_msg("expected an error naming %s: %s", name, text);
        assert_null(strstr(text, FILE_VALUE));
        free(text);
        cJSON_Delete(r);
        close(fd);
}

/* An environment whose CA cannot be made does not start: its calls fail and say why. */
static void test_secrets__ca_that_cannot_be_made_fails_closed(void **state) {
        (void) state;
        int fd = attach("secrets-many", "many-hosts");
        cJSON *r = sh(fd, 1, "true");
        char *text = cJSON_PrintUnformatted(r);
        if (!strstr(text, "network.secrets: TLS interception: its CA"))
                fail_msg("expected the CA's failure: %s", text);
        free(text);
        cJSON_Delete(r);
        close(fd);
}

static void test_secrets__unreadable_source_fails_calls(void **state) {
        (void) state;
        assert_call_fails_naming("secrets-missing", "missing-env", "secret MISSING_TOKEN");
        assert_call_fails_naming("secrets-open", "open-file", "secret OPEN_KEY");
}

/* A reload changes the policy; the environment, restarted onto it, keeps its placeholder and its
 * credentials (the secrets are rebuilt for the new policy, none left pointing into the old one). */
static void test_secrets__reload_keeps_the_placeholder(void **state) {
        char path[256], secrets[1024], before[128];
        (void) state;
        int fd = attach("secrets-1", NULL);

        cJSON *r = sh(fd, 1, "printf %%s \"$GITHUB_TOKEN\"");
        snprintf(before, sizeof(before), "%s", sc_str(r, "stdout"));
        cJSON_Delete(r);
        snprintf(path, sizeof(path), "%s/api.key", g.dir);
        snprintf(secrets, sizeof(secrets),
                 "{\"name\":\"GITHUB_TOKEN\",\"hosts\":[\"api.test\"],\"source\":{\"env\":"
                 "\"BRIG_TEST_GH_TOKEN\"},\"inject\":\"placeholder\"},"
                 "{\"name\":\"API_KEY\",\"hosts\":[\"key.test\",\"other.test\"],\"source\":{\"file\":"
                 "\"%s\"},\"inject\":\"X-Api-Key:  key={secret}\"}",
                 path);
        write_policy("secrets", secrets);
        cJSON *done = audit_events_read(&g.d, "policy_reload", NULL);
        int reloads = cJSON_GetArraySize(done);
        cJSON_Delete(done);
        assert_int_equal(kill(g.d.pid, SIGHUP), 0);
        for (int i = 0; i < 500; i++) {
                cJSON *evs = audit_events_read(&g.d, "policy_reload", NULL);
                int n = cJSON_GetArraySize(evs);
                cJSON_Delete(evs);
                if (n > reloads)
                        break;
                usleep(10000);
        }
        /* Its init killed, the environment starts again on its next call, with the reloaded policy. */
        cJSON *starts = audit_events_read(&g.d, "environment_start", NULL);
        double init = -1;
        const cJSON *ev;
        cJSON_ArrayForEach (ev, starts)
                if (strcmp(ev_str(ev, "environment"), "secrets-1") == 0 &&
                    cJSON_IsNumber(cJSON_GetObjectItem(ev, "init_pid")))
                        init = cJSON_GetObjectItem(ev, "init_pid")->valuedouble;
        cJSON_Delete(starts);
        assert_true(init > 1);
        assert_int_equal(kill((pid_t) init, SIGKILL), 0);
        for (int i = 0; i < 500 && kill((pid_t) init, 0) == 0; i++)
                usleep(10000);
        close(fd);

        fd = attach("secrets-1", NULL);
        r = sh(fd, 2, "printf %%s \"$GITHUB_TOKEN\"");
        assert_string_equal(sc_str(r, "stdout"), before);
        cJSON_Delete(r);
        r = sh(fd, 3,
               "curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" http://api.test:%d/bearer-reloaded",
               g.port);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        r = sh(fd, 4, "curl -sS http://key.test:%d/key-reloaded", g.port);
        assert_string_equal(sc_str(r, "stdout"), "authenticated\n");
        cJSON_Delete(r);
        /* A host the reload added is intercepted too: the restart's CA is made for the reloaded policy. */
        r = sh(fd, 5, "curl -sS https://other.test:%d/key-tls-reloaded", g.tls_port);
        if (sc_int(r, "exit_code") != 0 || strcmp(sc_str(r, "stdout"), "authenticated\n") != 0)
                fail_msg("HTTPS to a host the reload added: %s %s", sc_str(r, "stdout"),
                         sc_str(r, "stderr"));
        cJSON_Delete(r);
        close(fd);
}

/* An upstream CA file (brigd --upstream-ca) that cannot be loaded stops brigd at start-up: TLS interception
 * never runs with a trust store other than the one the operator asked for. */
static void test_secrets__upstream_ca_that_cannot_load_stops_brigd(void **state) {
        char path[256], cmd[2048], out[4096] = "";
        (void) state;
        if (!g.started) {
                fprintf(stderr, "# SKIP: %s\n", g.skip ? g.skip : "brigd failed to start");
                skip();
        }
        snprintf(path, sizeof(path), "%s/not-a-ca.pem", g.dir);
        write_file(path, "not a certificate\n", 0644);
        /* timeout(1) only keeps a brigd that wrongly started from hanging the test: it then fails. */
        snprintf(
                cmd, sizeof(cmd),
                "timeout 60 '%s/brigd' --upstream-ca '%s' --socket '%s/bad.sock' --state-dir '%s/bad-state' "
                "--audit '%s/bad.audit' --policy '%s/secrets.json' 2>&1",
                build_dir(), path, g.dir, g.dir, g.dir, g.dir);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = 0;
        int st = pclose(p);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
        if (!strstr(out, "--upstream-ca: upstream CA file"))
                fail_msg("brigd did not name --upstream-ca: %s", out);
        snprintf(path, sizeof(path), "%s/bad.sock", g.dir);
        assert_int_equal(access(path, F_OK), -1);
}

/* Last: everything the other tests did is searched for both values. */
static void test_secrets__values_are_nowhere(void **state) {
        char cmd[512], err[1 << 16];
        (void) state;
        int fd = attach("secrets-1", NULL);

        /* Every process of the jail, while one holds a placeholder in its environment. */
        cJSON *r =
                sh(fd, 1, "sleep 5 & cat /proc/*/environ | tr '\\0' '\\n' | grep -c brig-secret-; kill %%1");
        assert_true(atoi(sc_str(r, "stdout")) >= 1);
        cJSON_Delete(r);
        r = sh(fd, 2, "cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n'");
        assert_non_null(strstr(sc_str(r, "stdout"), "GITHUB_TOKEN=brig-secret-"));
        assert_null(strstr(sc_str(r, "stdout"), "BRIG_TEST_GH_TOKEN"));
        cJSON_Delete(r);
        close(fd);

        g.results[g.results_len] = 0;
        assert_null(strstr(g.results, ENV_VALUE));
        assert_null(strstr(g.results, FILE_VALUE));
        /* brigd keeps writing meanwhile (a spare's CA bundle, an environment's metadata) through temporary
         * files that may be gone by the time grep opens them: a search that could not read everything (2)
         * is made again. */
        snprintf(cmd, sizeof(cmd), "grep -rqaF -e '%s' -e '%s' '%s' '%s'", ENV_VALUE, FILE_VALUE, g.d.audit,
                 g.d.state);
        int found = 2;
        for (int i = 0; i < 10 && found == 2; i++)
                found = run(cmd);
        assert_int_equal(found, 1); /* searched, nothing found */
        ssize_t n = read(g.d.stderr_fd, err, sizeof(err) - 1);
        err[n > 0 ? n : 0] = 0;
        assert_null(strstr(err, ENV_VALUE));
        assert_null(strstr(err, FILE_VALUE));
        /* The log names the unreadable secrets, so the search above had something to look through. */
        assert_non_null(strstr(err, "MISSING_TOKEN"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secrets__placeholder_with_curl),
                cmocka_unit_test(test_secrets__placeholder_with_python),
                cmocka_unit_test(test_secrets__header_template_replaces_the_clients),
                cmocka_unit_test(test_secrets__placeholder_to_another_host_is_refused),
                cmocka_unit_test(test_secrets__https_placeholder_with_curl),
                cmocka_unit_test(test_secrets__https_placeholder_with_python),
                cmocka_unit_test(test_secrets__https_placeholder_with_node),
                cmocka_unit_test(test_secrets__https_header_template),
                cmocka_unit_test(test_secrets__https_placeholder_of_another_secret_is_refused),
                cmocka_unit_test(test_secrets__https_pipelined_request_is_checked),
                cmocka_unit_test(test_secrets__plain_pipelined_request_is_checked),
                cmocka_unit_test(test_secrets__https_upstream_end_is_passed_on_as_it_came),
                cmocka_unit_test(test_secrets__https_upstream_must_verify),
                cmocka_unit_test(test_secrets__jail_trusts_its_ca),
                cmocka_unit_test(test_secrets__ca_that_cannot_be_made_fails_closed),
                cmocka_unit_test(test_secrets__unreadable_source_fails_calls),
                cmocka_unit_test(test_secrets__reload_keeps_the_placeholder),
                cmocka_unit_test(test_secrets__upstream_ca_that_cannot_load_stops_brigd),
                cmocka_unit_test(test_secrets__values_are_nowhere),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
