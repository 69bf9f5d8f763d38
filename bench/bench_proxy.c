/* SPDX-License-Identifier: MIT */
/* Measures the network proxy of proxy-mode environments against direct connections in the same run:
 *   throughput  a 100 MiB download from a loopback server: through the proxy from inside a jail, and
 *               directly on the host by the same client (python3), ratio proxied / direct (goal >= 50%)
 *   latency     a request for an empty body, new connection each time: median time through the proxy minus
 *               the direct median (goal <= 1 ms added per connection)
 *   TLS interception (network.secrets over HTTPS, a header template for bench.test): a 100 MiB download
 *               over HTTPS intercepted by the proxy vs direct HTTPS on the host (goal >= 50%), and the
 *               latency of an intercepted HTTPS request vs a tunnelled one (tunnel.test: the same server,
 *               no secret), both from the jail
 * The servers are threads of this program (HTTP, and HTTPS with a certificate from a test CA made by
 * openssl(1), which brigd trusts upstream through --upstream-ca and the host's client through its cafile);
 * brigd resolves bench.test and tunnel.test to them with --resolve. Medians of the
 * repetitions; absolute numbers drift, compare the ratio and the difference. Not a test: asserts nothing.
 * Usage: bench_proxy BUILD_DIR SOURCE_DIR [REPS] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/ssl.h>

#include "bench/bench_util.h"
#include "common/fs.h"

#define BULK_BYTES (100u * 1024 * 1024)
#define LATENCY_REPS 300

static char chunk[1 << 20];

/* The client, run on the host and in the jail alike: prints one line per request, the seconds it took.
 * argv: MODE (bulk|small) HOST PORT VIA_PROXY(0|1) N [CA]: with CA (a file, a PEM certificate, or "-": the
 * default trust, which SSL_CERT_FILE names in the jail) HTTPS, through the proxy with a CONNECT. */
static const char client_py[] =
        "import socket,ssl,sys,time\n"
        "mode,host,port,via,n=sys.argv[1],sys.argv[2],int(sys.argv[3]),sys.argv[4]=='1',int(sys.argv[5])\n"
        "ca=sys.argv[6] if len(sys.argv)>6 else None\n"
        "ctx=ssl.create_default_context(cafile=None if ca=='-' or ca[0]=='-' else ca,\n"
        " cadata=ca if ca and ca[:5]=='-----' else None) if ca else None\n"
        "path='/bulk' if mode=='bulk' else '/small'\n"
        "buf=bytearray(1<<20)\n"
        "for i in range(n):\n"
        " t=time.perf_counter()\n"
        " if via and ctx:\n"
        "  s=socket.create_connection(('127.0.0.1',3128))\n"
        "  s.sendall(b'CONNECT %s:%d HTTP/1.1\\r\\n\\r\\n'%(host.encode(),port))\n"
        "  r=b''\n"
        "  while b'\\r\\n\\r\\n' not in r: r+=s.recv(1)\n"
        " elif via:\n"
        "  s=socket.create_connection(('127.0.0.1',3128))\n"
        "  s.sendall(b'GET http://%s:%d%s HTTP/1.1\\r\\nHost: "
        "%s\\r\\n\\r\\n'%(host.encode(),port,path.encode(),"
        "host.encode()))\n"
        " else:\n"
        "  s=socket.create_connection(('127.0.0.1',port))\n"
        " if ctx: s=ctx.wrap_socket(s,server_hostname=host)\n"
        " if ctx or not via: s.sendall(b'GET %s HTTP/1.1\\r\\nHost: "
        "%s\\r\\n\\r\\n'%(path.encode(),host.encode()))\n"
        " total=0\n"
        " while True:\n"
        "  try: k=s.recv_into(buf)\n"
        "  except ssl.SSLEOFError: k=0\n"
        "  if k==0: break\n"
        "  total+=k\n"
        " s.close()\n"
        " print('%.9f %d'%(time.perf_counter()-t,total))\n";

/* The HTTPS server's certificate for bench.test and tunnel.test, from a test CA. */
static const char certs_sh[] =
        "set -e\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
        "\\\n"
        " -days 2 -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE \\\n"
        " -addext keyUsage=critical,keyCertSign 2>/dev/null\n"
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr "
        "\\\n"
        " -subj /CN=bench.test 2>/dev/null\n"
        "printf 'subjectAltName=DNS:bench.test,DNS:tunnel.test\\nextendedKeyUsage=serverAuth\\n' > "
        "server.ext\n"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "
        "server.ext \\\n"
        " -out server.pem 2>/dev/null\n";

/* One connection of either server: reads go through ssl when it is not NULL. */
typedef struct sconn {
        int fd;
        SSL *ssl;
} sconn;

static ssize_t s_read(sconn *c, void *buf, size_t n) {
        if (!c->ssl)
                return read(c->fd, buf, n);
        size_t k;
        return SSL_read_ex(c->ssl, buf, n, &k) ? (ssize_t) k : -1;
}

static ssize_t s_write(sconn *c, const void *buf, size_t n) {
        if (!c->ssl)
                return write(c->fd, buf, n);
        size_t k;
        return SSL_write_ex(c->ssl, buf, n, &k) ? (ssize_t) k : -1;
}

static void *serve_one(void *arg) {
        sconn *c = arg;
        char req[4096];
        size_t len = 0;

        if (c->ssl && (!SSL_set_fd(c->ssl, c->fd) || SSL_accept(c->ssl) != 1))
                goto done;
        for (;;) {
                ssize_t n = s_read(c, req + len, sizeof(req) - 1 - len);
                if (n <= 0)
                        goto done;
                len += (size_t) n;
                req[len] = 0;
                if (strstr(req, "\r\n\r\n"))
                        break;
                if (len == sizeof(req) - 1)
                        goto done;
        }
        bool bulk = strstr(req, " /bulk ") != NULL;
        size_t body = bulk ? BULK_BYTES : 0;
        char head[128];
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", body);
        if (s_write(c, head, (size_t) hl) != hl)
                goto done;
        while (body > 0) {
                size_t k = body < sizeof(chunk) ? body : sizeof(chunk);
                ssize_t n = s_write(c, chunk, k);
                if (n <= 0)
                        goto done;
                body -= (size_t) n;
        }
        if (c->ssl)
                (void) SSL_shutdown(c->ssl);
done:
        SSL_free(c->ssl);
        close(c->fd);
        free(c);
        return NULL;
}

typedef struct listener {
        int fd;
        SSL_CTX *tls;
} listener;

static void *serve(void *arg) {
        listener *l = arg;
        for (;;) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                int one = 1;
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                sconn *c = calloc(1, sizeof(*c));
                pthread_t t;
                if (!c || (l->tls && !(c->ssl = SSL_new(l->tls)))) {
                        free(c);
                        close(fd);
                        continue;
                }
                c->fd = fd;
                if (pthread_create(&t, NULL, serve_one, c) != 0) {
                        SSL_free(c->ssl);
                        free(c);
                        close(fd);
                } else
                        pthread_detach(t);
        }
        return NULL;
}

/* A loopback listener served by a thread; returns its port. */
static int listen_on(listener *l) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        pthread_t t;

        l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l->fd < 0 || bind(l->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l->fd, 512) < 0 ||
            getsockname(l->fd, (struct sockaddr *) &sa, &sl) < 0 || pthread_create(&t, NULL, serve, l) != 0)
                exit(1);
        return ntohs(sa.sin_port);
}

static bench_client cl = {.fd = -1};

/* Parses the client's lines into seconds; returns the median, or -1 if a transfer came up short. */
static double median_of(const char *out, int n, size_t want) {
        double *v = calloc((size_t) n, sizeof(double));
        int k = 0;
        for (const char *p = out; p && *p && k < n; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                double t;
                size_t bytes;
                if (sscanf(p, "%lf %zu", &t, &bytes) != 2)
                        break;
                if (bytes < want) {
                        free(v);
                        return -1;
                }
                v[k++] = t;
        }
        if (k == 0) {
                free(v);
                return -1;
        }
        double m = bench_median(v, (size_t) k);
        free(v);
        return m;
}

/* Runs the client in the jail through the proxy (HTTPS when ca is not NULL: "-" for the jail's bundle, else
 * a PEM certificate); returns its stdout (caller frees). */
static char *in_jail(int id, const char *mode, const char *host, int port, int n, const char *ca) {
        char sport[16], sn[16];
        snprintf(sport, sizeof(sport), "%d", port);
        snprintf(sn, sizeof(sn), "%d", n);
        const char *argv[] = {"python3", "-c", client_py, mode, host, sport, "1", sn, ca};
        cJSON *msg = cJSON_CreateObject(), *params, *args;
        cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
        cJSON_AddNumberToObject(msg, "id", id);
        cJSON_AddStringToObject(msg, "method", "tools/call");
        params = cJSON_AddObjectToObject(msg, "params");
        cJSON_AddStringToObject(params, "name", "exec");
        args = cJSON_AddObjectToObject(params, "arguments");
        cJSON_AddItemToObject(args, "argv", cJSON_CreateStringArray(argv, ca ? 9 : 8));
        cJSON_AddNumberToObject(args, "timeout_ms", 600000);
        char *text = cJSON_PrintUnformatted(msg);
        bench_client_send(&cl, text);
        free(text);
        cJSON_Delete(msg);
        cJSON *m = bench_client_wait(&cl, id);
        cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent");
        cJSON *out = cJSON_GetObjectItem(sc, "stdout");
        char *s = cJSON_IsString(out) ? strdup(out->valuestring) : NULL;
        if (!s || !cJSON_IsNumber(cJSON_GetObjectItem(sc, "exit_code")) ||
            cJSON_GetObjectItem(sc, "exit_code")->valueint != 0) {
                char *t = cJSON_PrintUnformatted(m);
                fprintf(stderr, "bench: proxied client failed: %.2000s\n", t);
                exit(1);
        }
        cJSON_Delete(m);
        return s;
}

/* Runs the client on the host, directly (HTTPS when cafile is not NULL); returns its stdout (caller
 * frees). */
static char *on_host(const char *mode, int port, int n, const char *cafile) {
        char sport[16], sn[16], *out = malloc(1 << 20);
        size_t len = 0;
        int p[2];

        snprintf(sport, sizeof(sport), "%d", port);
        snprintf(sn, sizeof(sn), "%d", n);
        if (!out || pipe2(p, O_CLOEXEC) < 0)
                exit(1);
        pid_t pid = fork();
        if (pid == 0) {
                dup2(p[1], 1);
                execl("/usr/bin/python3", "python3", "-c", client_py, mode,
                      cafile ? "bench.test" : "127.0.0.1", sport, "0", sn, cafile, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        for (ssize_t r; (r = read(p[0], out + len, (1 << 20) - 1 - len)) > 0;)
                len += (size_t) r;
        out[len] = 0;
        close(p[0]);
        waitpid(pid, NULL, 0);
        return out;
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int reps = argc > 3 ? atoi(argv[3]) : 5;
        char dir[] = "/tmp/brig-bench-proxy-XXXXXX", sock[256], policy[512], text[2048], cafile[256];
        listener plain = {0}, tls = {0};

        if (reps < 1 || reps > 100)
                reps = 5;
        (void) signal(SIGPIPE, SIG_IGN);
        if (!mkdtemp(dir))
                return 1;
        (void) chmod(dir, 0755);
        snprintf(text, sizeof(text), "cd '%s' && sh -e", dir);
        FILE *sh = popen(text, "w");
        if (!sh || fputs(certs_sh, sh) < 0 || pclose(sh) != 0) {
                fprintf(stderr, "bench: openssl could not make the test certificates\n");
                return 1;
        }
        snprintf(cafile, sizeof(cafile), "%s/ca.pem", dir);
        tls.tls = SSL_CTX_new(TLS_server_method());
        snprintf(text, sizeof(text), "%s/server.pem", dir);
        if (!tls.tls || SSL_CTX_use_certificate_chain_file(tls.tls, text) != 1)
                return 1;
        snprintf(text, sizeof(text), "%s/server.key", dir);
        if (SSL_CTX_use_PrivateKey_file(tls.tls, text, SSL_FILETYPE_PEM) != 1)
                return 1;
        int port = listen_on(&plain), tls_port = listen_on(&tls);
        /* A tunnelled connection's TLS is the jail's own: it trusts the test CA itself. */
        char ca_pem[4096] = "";
        FILE *caf = fopen(cafile, "re");
        if (!caf || fread(ca_pem, 1, sizeof(ca_pem) - 1, caf) == 0)
                return 1;
        fclose(caf);
        /* The secret brigd injects into requests to bench.test: a header template, so every intercepted
         * request carries it. */
        (void) setenv("BRIG_BENCH_KEY", "bench-secret-value", 1);

        snprintf(policy, sizeof(policy), "%s/bench-proxy.json", dir);
        snprintf(text, sizeof(text),
                 "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                 "\"optional\":true},{\"source\":\"/etc/ld.so.cache\",\"optional\":true},"
                 "{\"source\":\"/etc/ssl\",\"optional\":true}]},"
                 "\"env\":{\"PATH\":\"/usr/bin:/"
                 "bin\"},\"limits\":{\"wall_time\":\"600s\",\"cpu_time\":\"600s\"},"
                 "\"network\":{\"mode\":\"proxy\",\"allow\":[\"bench.test\",\"tunnel.test\"],"
                 "\"ports\":[%d,%d],\"allow_private\":[\"127.0.0.1/32\"],\"max_bytes\":\"1T\","
                 "\"secrets\":[{\"name\":\"BENCH_KEY\",\"hosts\":[\"bench.test\"],"
                 "\"source\":{\"env\":\"BRIG_BENCH_KEY\"},\"inject\":\"X-Key: {secret}\"}]}}",
                 port, tls_port);
        FILE *f = fopen(policy, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                return 1;
        (void) chmod(policy, 0644);
        snprintf(sock, sizeof(sock), "%s/brig.sock", dir);
        static const char resolve[] = "bench.test=127.0.0.1", resolve2[] = "tunnel.test=127.0.0.1";
        pid_t d = fork();
        if (d == 0) {
                char b1[1024], b2[1024], b3[1024], b5[1024];
                snprintf(b1, sizeof(b1), "%s/brigd", build);
                snprintf(b2, sizeof(b2), "%s/state", dir);
                snprintf(b3, sizeof(b3), "%s/audit.jsonl", dir);
                snprintf(b5, sizeof(b5), "%s/brig-jail", build);
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
                /* A bench that fails midway exits without stopping us. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
                execl(b1, b1, "--socket", sock, "--state-dir", b2, "--audit", b3, "--policy", policy,
                      "--jail-helper", b5, "--log-level", "error", "--resolve", resolve, "--resolve",
                      resolve2, "--upstream-ca", cafile, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 500 && bench_client_connect(&cl, sock) < 0; i++)
                usleep(10000);
        if (cl.fd < 0) {
                fprintf(stderr, "bench: brigd did not start\n");
                return 1;
        }
        /* A name of its own: a previous run's environment may still be going away. */
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"},"
                 "\"_meta\":{\"brig/environment\":\"bench-proxy-%d\"}}}",
                 (int) getpid());
        bench_client_send(&cl, text);
        cJSON_Delete(bench_client_wait(&cl, 0));
        (void) source;

        /* Warm up both paths (page cache, python, the environment). */
        free(in_jail(1, "small", "bench.test", port, 3, NULL));
        free(on_host("small", port, 3, NULL));

        char *px = in_jail(2, "bulk", "bench.test", port, reps, NULL),
             *dx = on_host("bulk", port, reps, NULL);
        double tp = median_of(px, reps, BULK_BYTES), td = median_of(dx, reps, BULK_BYTES);
        char *pl = in_jail(3, "small", "bench.test", port, LATENCY_REPS, NULL),
             *dl = on_host("small", port, LATENCY_REPS, NULL);
        double lp = median_of(pl, LATENCY_REPS, 0), ld = median_of(dl, LATENCY_REPS, 0);
        free(px);
        free(dx);
        free(pl);
        free(dl);
        /* HTTPS: intercepted (bench.test has a secret) and tunnelled (tunnel.test has none) from the jail,
         * direct on the host. */
        char *ix = in_jail(4, "bulk", "bench.test", tls_port, reps, "-"),
             *hx = on_host("bulk", tls_port, reps, cafile);
        double ti = median_of(ix, reps, BULK_BYTES), th = median_of(hx, reps, BULK_BYTES);
        char *il = in_jail(5, "small", "bench.test", tls_port, LATENCY_REPS, "-"),
             *tl = in_jail(6, "small", "tunnel.test", tls_port, LATENCY_REPS, ca_pem);
        double li = median_of(il, LATENCY_REPS, 0), lt = median_of(tl, LATENCY_REPS, 0);
        free(ix);
        free(hx);
        free(il);
        free(tl);
        if (tp <= 0 || td <= 0 || lp <= 0 || ld <= 0 || ti <= 0 || th <= 0 || li <= 0 || lt <= 0) {
                fprintf(stderr, "bench: a transfer came up short\n");
                return 1;
        }
        double mib = BULK_BYTES / 1048576.0;
        printf("proxy throughput (100 MiB, median of %d): direct %.0f MiB/s, proxied %.0f MiB/s, ratio "
               "%.0f%% "
               "(goal >= 50%%)\n",
               reps, mib / td, mib / tp, 100.0 * td / tp);
        printf("proxy latency (empty body, new connection, median of %d): direct %.0f us, proxied %.0f us, "
               "added %.0f us (goal <= 1000 us)\n",
               LATENCY_REPS, ld * 1e6, lp * 1e6, (lp - ld) * 1e6);
        printf("TLS interception throughput (100 MiB over HTTPS, median of %d): direct %.0f MiB/s, "
               "intercepted "
               "%.0f MiB/s, ratio %.0f%% (goal >= 50%%)\n",
               reps, mib / th, mib / ti, 100.0 * th / ti);
        printf("TLS interception latency (empty body, new connection, median of %d): tunnelled %.0f us, "
               "intercepted %.0f us, added %.0f us\n",
               LATENCY_REPS, lt * 1e6, li * 1e6, (li - lt) * 1e6);

        bench_client_close(&cl);
        kill(d, SIGTERM);
        waitpid(d, NULL, 0);
        return bench_rm_state(dir) == 0 ? 0 : 1;
}
