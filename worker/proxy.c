/* SPDX-License-Identifier: MIT */
/* The HTTP proxy of proxy-mode environments: the only way out of their network namespace. Owns the
 * accepted connections, the allow/deny decision per request (sandbox/netpolicy.h), name resolution, the
 * splice between client and upstream, the per-environment limits and the "net_connect" audit events.
 *
 * Theory of operation. An environment's jail has a network namespace of its own with only loopback. Its
 * init (pid 1, already in that namespace) creates a TCP socket listening on 127.0.0.1:<network proxy port>
 * and sends it to brigd over the control socket (BRIG_JAILCTL_PROXY, sandbox/jailctl.h) before "ready";
 * brigd uv_tcp_open()s it into its own loop. brigd never enters the namespace (no setns, no extra process:
 * the same rootless), and accepted connections are sockets of that namespace whose other ends belong to the
 * jail's processes, which find the proxy through HTTP(S)_PROXY in their environment (sandbox/plan.c).
 * Upstream connections are brigd's own, made in brigd's namespace.
 *
 * One request per client connection: `CONNECT host:port` opens a tunnel (TLS stays end to end), and an
 * absolute-form request (`GET http://host/path`) is sent upstream in origin form, with hop-by-hop and
 * Proxy-* headers dropped, Host taken from the target and `Connection: close`; the response is relayed as
 * is. The decision comes first (deny rules, allow rules, ports); only an allowed name is resolved (a
 * --resolve entry, else uv_getaddrinfo on the thread pool), and then every address is checked again
 * (private, loopback, link-local, metadata: DNS rebinding) before one is connected to. A refusal is
 * "403 Forbidden" with the reason in the body and in X-Brig-Reason.
 *
 * Secrets (network.secrets, worker/proxy_secrets.h) come before that decision: a placeholder in a request
 * to a host that is not among its secret's hosts refuses it; a plain HTTP request to one gets its header
 * lines rewritten with the values; a CONNECT to one is intercepted (TLS terminated with a certificate from
 * the environment's CA, worker/proxy_intercept.c), and its requests inside are checked and rewritten the
 * same way. In an environment with secrets, a plain HTTP request is passed on to the end of its body only
 * (worker/proxy_body.h), whatever its host: what the client pipelined after it is checked for placeholders
 * like the first (refused after the first's response when it holds another host's), never sent upstream.
 *
 * Attribution (worker/proxy_attribution.c): the accepted socket names the process of the environment that
 * holds its other end, and that process a call or background process.
 *
 * Relay: once connected, both sockets leave libuv's streams for a relay (worker/proxy_relay.h) that moves
 * the bytes with splice(2) through a pipe per direction, without copying them through brigd, and reads a
 * side only when the other has taken what came before: TCP flow control is the backpressure, and a
 * connection holds at most a pipe's worth (256 KiB) per direction in the kernel. The client of a checked
 * plain HTTP request is read through brigd instead (relay_up_cb), to find its body's end. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <uv.h>

#include "common/handles.h"
#include "common/log.h"
#include "common/parse.h"
#include "sandbox/netpolicy.h"
#include "worker/audit_events.h"
#include "worker/culprit.h"
#include "worker/proxy.h"
#include "worker/proxy_internal.h"
#include "worker/proxy_relay.h"
#include "worker/proxy_secrets.h"
#include "worker/worker.h"

#define MAX_USAGE 256 /* per-call byte counters kept per environment */

static const brig_policy *policy_of(const brig_proxy *p) {
        return p->env->policy->policy;
}

static void usage_put(usage *u) {
        if (u)
                u->refs--;
}

static usage *usage_get(brig_proxy *p, uint64_t call_id) {
        usage *u, **pp;

        for (u = p->usage; u; u = u->next)
                if (u->call_id == call_id) {
                        u->refs++;
                        return u;
                }
        if (p->n_usage >= MAX_USAGE) {
                /* Forget the oldest call without open connections. */
                usage **victim = NULL;
                for (pp = &p->usage; *pp; pp = &(*pp)->next)
                        if ((*pp)->refs == 0)
                                victim = pp;
                if (victim) {
                        u = *victim;
                        *victim = u->next;
                        free(u);
                        p->n_usage--;
                }
        }
        u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->call_id = call_id;
        u->refs = 1;
        u->next = p->usage;
        p->usage = u;
        p->n_usage++;
        return u;
}

static bool call_has_id(const brig_call *call, const void *key) {
        return call->call_id == *(const uint64_t *) key;
}

static brig_call *find_call(brig_env *env, uint64_t call_id) {
        return call_id ? brig__worker_find_call(env->w, env, call_has_id, &call_id) : NULL;
}

/* Audit. */

static void audit(pconn *c, bool allowed) {
        brig_env *env = c->p->env;
        cJSON *ev;

        if (c->audited || !env)
                return;
        c->audited = true;
        ev = brig_audit_net_connect(&(brig_audit_net){
                .host = c->host,
                .port = c->port,
                .address = c->address,
                .tunnel = c->tunnel,
                .allowed = allowed,
                .reason = c->reason,
                .error = c->error,
                .bytes_up = c->up,
                .bytes_down = c->down,
                .duration_ms = uv_now(env->w->loop) - c->started_ms,
                .environment = env->id,
                .call_id = c->call_id,
                .process_id = c->process_id,
        });
        if (ev) {
                brig_call *call = c->process_id[0] ? NULL : find_call(env, c->call_id);
                if (call)
                        brig__culprit_notify(call, ev, "brig/network");
        }
        (void) brig__worker_audit(env->w, ev);
}

static void audit_secret(pconn *c, brig_audit_type type, size_t secret) {
        brig_env *env = c->p->env;

        (void) brig__worker_audit(env->w, brig_audit_secret(type, env->secrets->items[secret].def->name,
                                                            c->host, c->call_id, env->id));
}

/* Teardown: every handle gets one uv_close(); the connection is freed once they and every request have
 * called back. */

void brig__pconn_maybe_free(pconn *c) {
        if (!brig_handles_none(&c->handles) || c->pending > 0)
                return;
        if (c->headers)
                explicit_bzero(c->headers, c->headers_len);
        free(c->headers);
        brig__intercept_done(c);
        free(c);
}

static void handles_all_closed(void *owner) {
        brig__pconn_maybe_free(owner);
}

BRIG_HANDLES_CLOSED_CB(timer_closed_cb, pconn, handles)

static void side_closed_cb(uv_handle_t *h) {
        side *s = h->data;
        brig_handles_closed(&s->c->handles);
}

void brig__pconn_close(pconn *c) {
        brig_proxy *p = c->p;

        if (c->state == PCONN_CLOSING)
                return;
        if (c->allowed)
                audit(c, true);
        c->state = PCONN_CLOSING;
        if (c->next)
                c->next->prev = c->prev;
        *c->prev = c->next;
        if (c->over_limit)
                p->n_over--;
        else
                p->n_active--;
        usage_put(c->usage);
        c->usage = NULL;
        if (c->resolving)
                (void) uv_cancel((uv_req_t *) &c->gai);
        brig_proxy_relay_close(c->relay);
        c->relay = NULL;
        if (c->client_open)
                uv_close((uv_handle_t *) &c->client.tcp, side_closed_cb);
        uv_close((uv_handle_t *) &c->timer, timer_closed_cb);
        if (c->upstream_open)
                uv_close((uv_handle_t *) &c->upstream.tcp, side_closed_cb);
        c->client_open = c->upstream_open = false;
}

/* Responses of the proxy itself. */

static void reply_written_cb(uv_write_t *req, int status) {
        chunk *k = container_of(req, chunk, req);
        pconn *c = k->c;
        (void) status;
        free(k);
        c->pending--;
        brig__pconn_close(c);
        brig__pconn_maybe_free(c);
}

static void printable(char *out, size_t size, const char *in) {
        size_t n = 0;
        for (const char *s = in; *s && n < size - 1; s++)
                out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
        out[n] = 0;
}

/* An answer with status, reason (X-Brig-Reason) and text (the body), both one line made printable: NULL
 * when out of memory. */
static chunk *reply_new(pconn *c, int code, const char *status_text, const char *reason, const char *text,
                        size_t *ret_len) {
        char safe_reason[BRIG_NET_REASON_MAX + 200], safe[BRIG_NET_REASON_MAX + 300];
        size_t size = sizeof(safe_reason) + sizeof(safe) + 256;
        chunk *k;

        printable(safe_reason, sizeof(safe_reason), reason);
        printable(safe, sizeof(safe), text);
        k = malloc(sizeof(*k) + size);
        if (!k)
                return NULL;
        k->c = c;
        *ret_len = (size_t) snprintf(k->data, size,
                                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nX-Brig-Reason: %s\r\n"
                                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                                     code, status_text, safe_reason, strlen(safe) + 1, safe);
        return k;
}

/* Answers with status, reason and text, then closes. */
void brig__pconn_reply_error(pconn *c, int code, const char *status_text, const char *reason,
                             const char *text) {
        size_t len;
        chunk *k = reply_new(c, code, status_text, reason, text, &len);

        if (!k) {
                brig__pconn_close(c);
                return;
        }
        uv_buf_t b = uv_buf_init(k->data, (unsigned) len);
        c->state = PCONN_REPLYING;
        (void) uv_read_stop((uv_stream_t *) &c->client.tcp);
        if (c->client_tls_up) {
                /* Inside the jail's TLS connection: the answer is encrypted like the rest. */
                brig__intercept_reply(c, k->data, len);
                free(k);
                return;
        }
        if (uv_write(&k->req, (uv_stream_t *) &c->client.tcp, &b, 1, reply_written_cb) < 0) {
                free(k);
                brig__pconn_close(c);
                return;
        }
        c->pending++;
}

static void refusal_text(const pconn *c, char *text, size_t size) {
        (void) snprintf(text, size, "brig: %s:%u refused: %s", c->host, (unsigned) c->port, c->reason);
}

/* Answers with c->reason: 403, or 503 for a limit. */
void brig__pconn_refusal_reply(pconn *c, bool limit) {
        char text[BRIG_NET_REASON_MAX + 300];

        refusal_text(c, text, sizeof(text));
        if (limit)
                brig__pconn_reply_error(c, 503, "Service Unavailable", c->reason, text);
        else
                brig__pconn_reply_error(c, 403, "Forbidden", c->reason, text);
}

/* Refuses with c->reason, audited. */
void brig__pconn_deny(pconn *c, bool limit) {
        audit(c, false);
        brig__pconn_refusal_reply(c, limit);
}

/* Relay (worker/proxy_relay.h). */

static bool relay_bytes_cb(brig_proxy_relay *r, brig_proxy_relay_dir which, size_t n, void *userdata) {
        pconn *c = userdata;
        uint64_t max = policy_of(c->p)->network.max_bytes;
        (void) r;

        /* Counted once passed on: the read that crosses the limit is dropped with the connection. */
        if (c->usage) {
                c->usage->bytes += n;
                if (c->usage->bytes > max)
                        goto cut;
        }
        if (which == BRIG_PROXY_RELAY_UP)
                c->up += n;
        else
                c->down += n;
        return true;
cut:
        (void) snprintf(c->error, sizeof(c->error), "cut: network.max_bytes (%" PRIu64 ") exceeded by %s",
                        max, c->call_id ? "its call" : "connections attributed to no call");
        log_info("environment %s: proxy connection to %s:%u %s", c->p->env->id, c->host, (unsigned) c->port,
                 c->error);
        return false;
}

bool brig__pconn_counted(pconn *c, bool up, size_t n) {
        return relay_bytes_cb(NULL, up ? BRIG_PROXY_RELAY_UP : BRIG_PROXY_RELAY_DOWN, n, c);
}

/* Whether every request of a connection is checked for placeholders: in an environment with secrets, a
 * placeholder sent to any host not among its secret's hosts is refused, whatever the host. */
static bool requests_checked(const pconn *c) {
        return c->p->env->secrets && c->p->env->secrets->n > 0;
}

/* The refusal of the next request reaches the client after the first's response. */
static void refuse_next(pconn *c, brig_proxy_relay *r) {
        char text[BRIG_NET_REASON_MAX + 300];
        size_t len;

        refusal_text(c, text, sizeof(text));
        chunk *k = reply_new(c, 403, "Forbidden", c->reason, text, &len);
        /* Without it, the connection only ends: the request was refused all the same. */
        if (k)
                (void) brig_proxy_relay_down_end(r, k->data, len);
        free(k);
}

/* What follows the first request's body in plain HTTP: the next request, kept and checked as an intercepted
 * connection's (never sent upstream). */
static int64_t relay_up_cb(brig_proxy_relay *r, const char *data, size_t n, bool *stop, void *userdata) {
        pconn *c = userdata;
        int64_t take;

        /* Nothing past the first request's body goes upstream, whichever read it comes in: the parser takes
         * nothing once the body is done (or there was none). */
        if (c->next_checked)
                take = 0;
        else if ((take = brig_proxy_body_take(&c->body, data, n)) < 0) {
                (void) snprintf(c->error, sizeof(c->error), "malformed chunked request body");
                return -EINVAL;
        }
        if (c->body.done && !c->next_checked) {
                brig__pconn_next_keep(c, data + take, n - (size_t) take);
                if (brig__pconn_next_check(c, n == 0) && c->next_refused)
                        refuse_next(c, r);
        }
        *stop = c->next_checked;
        return take;
}

static void relay_done_cb(brig_proxy_relay *r, int error, void *userdata) {
        pconn *c = userdata;
        (void) r;

        if (error < 0 && error != -EDQUOT && !c->error[0])
                (void) snprintf(c->error, sizeof(c->error), "relay: %s", strerror(-error));
        brig__pconn_close(c);
}

static bool header_is(const char *line, size_t name_len, const char *name) {
        return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* Hop-by-hop and proxy headers, and those the client's Connection header names (RFC 9110 7.6.1). */
static bool header_dropped(const char *line, size_t name_len, const char *connection,
                           size_t connection_len) {
        static const char *const names[] = {"connection",
                                            "proxy-connection",
                                            "keep-alive",
                                            "proxy-authorization",
                                            "proxy-authenticate",
                                            "te",
                                            "trailer",
                                            "upgrade",
                                            "host"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (header_is(line, name_len, names[i]))
                        return true;
        if (name_len >= 6 && strncasecmp(line, "proxy-", 6) == 0)
                return true;
        /* The body's framing stays whatever Connection names: without it the upstream would read the body
         * as further requests, which the proxy checked as body bytes (request smuggling). */
        if (header_is(line, name_len, "content-length") || header_is(line, name_len, "transfer-encoding"))
                return false;
        for (size_t i = 0; connection && i < connection_len;) {
                size_t tok = strcspn(connection + i, ", \t\r");
                if (tok > connection_len - i)
                        tok = connection_len - i;
                if (tok == name_len && strncasecmp(connection + i, line, tok) == 0)
                        return true;
                i += tok + 1;
        }
        return false;
}

/* The request in origin form for the upstream, followed by the first rest bytes the client sent after its
 * headers; the caller frees *ret. */
int brig__pconn_build_request(pconn *c, size_t rest, char **ret, size_t *ret_len) {
        const char *p = c->head, *end = c->head + c->head_end;
        const char *line_end = memchr(p, '\n', (size_t) (end - p));
        const char *method_end = memchr(p, ' ', (size_t) (line_end - p));
        const char *connection = NULL, *lines = line_end + 1;
        size_t connection_len = 0, n = 0;
        char *out = malloc(c->head_end + c->headers_len + sizeof(c->authority) + 64 + rest);

        if (!out)
                return -ENOMEM;
        if (c->headers) {
                lines = c->headers;
                end = c->headers + c->headers_len;
        }
        /* Find Connection first: it names more headers to drop. */
        for (const char *l = lines; l < end;) {
                const char *e = memchr(l, '\n', (size_t) (end - l));
                const char *colon = memchr(l, ':', (size_t) (e - l));
                if (colon && header_is(l, (size_t) (colon - l), "connection")) {
                        connection = colon + 1;
                        connection_len = (size_t) (e - connection);
                }
                l = e + 1;
        }
        n += (size_t) sprintf(out, "%.*s %s%.*s HTTP/1.1\r\nHost: %s\r\n", (int) (method_end - p), p,
                              c->path_len > 0 && c->path[0] == '/' ? "" : "/", (int) c->path_len, c->path,
                              c->authority);
        for (const char *l = lines; l < end;) {
                const char *e = memchr(l, '\n', (size_t) (end - l));
                const char *colon = memchr(l, ':', (size_t) (e - l));
                size_t len = (size_t) (e - l) + 1;
                if (colon && !header_dropped(l, (size_t) (colon - l), connection, connection_len)) {
                        memcpy(out + n, l, len);
                        n += len;
                }
                l = e + 1;
        }
        n += (size_t) sprintf(out + n, "Connection: close\r\n\r\n");
        memcpy(out + n, c->head + c->head_end, rest);
        *ret = out;
        *ret_len = n + rest;
        return 0;
}

/* The request holds secret values when headers does: wiped before it is freed. */
static void request_wipe(char **request, size_t len) {
        if (*request)
                explicit_bzero(*request, len);
        free(*request);
        *request = NULL;
}

/* One secret_used per secret that went into the request. */
void brig__pconn_audit_used(pconn *c) {
        for (size_t i = 0; c->secrets_used && i < 64; i++)
                if (c->secrets_used & (UINT64_C(1) << i))
                        audit_secret(c, BRIG_AUDIT_SECRET_USED, i);
}

/* Hands both sockets to a relay: the uv_tcp handles that accepted and connected them close, the relay
 * keeps duplicates. The first bytes each way are the proxy's: the request upstream (or, for a tunnel, what
 * the client sent after CONNECT), the 200 for a tunnel down. A plain HTTP request that is checked goes with
 * its body only: the relay passes on the rest of its body and checks what follows (relay_up_cb). */
static void start_relay(pconn *c) {
        static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        bool checked = c->checked;
        size_t rest = checked ? c->head_body : c->head_len - c->head_end;
        char *request = NULL;
        const char *pre[2] = {NULL, NULL};
        size_t pre_len[2] = {0, 0};
        uv_os_fd_t cfd = -1, ufd = -1;
        int dc = -1, du = -1, r;

        c->state = PCONN_SPLICE;
        (void) uv_timer_stop(&c->timer);
        if (c->tunnel) {
                pre[BRIG_PROXY_RELAY_UP] = c->head + c->head_end;
                pre_len[BRIG_PROXY_RELAY_UP] = rest;
                pre[BRIG_PROXY_RELAY_DOWN] = established;
                pre_len[BRIG_PROXY_RELAY_DOWN] = sizeof(established) - 1;
        } else if (brig__pconn_build_request(c, rest, &request, &pre_len[BRIG_PROXY_RELAY_UP]) < 0) {
                brig__pconn_close(c);
                return;
        } else
                pre[BRIG_PROXY_RELAY_UP] = request;
        if (checked) {
                /* What followed its body is the next request's. */
                size_t next = c->head_end + rest, next_len = c->head_len - next;
                c->head_len = c->head_end = 0;
                if (c->body.done) {
                        brig__pconn_next_keep(c, c->head + next, next_len);
                        (void) brig__pconn_next_check(c, false);
                }
        }
        c->up += pre_len[BRIG_PROXY_RELAY_UP];
        if (uv_fileno((uv_handle_t *) &c->client.tcp, &cfd) < 0 ||
            uv_fileno((uv_handle_t *) &c->upstream.tcp, &ufd) < 0 ||
            (dc = fcntl(cfd, F_DUPFD_CLOEXEC, 3)) < 0 || (du = fcntl(ufd, F_DUPFD_CLOEXEC, 3)) < 0) {
                if (dc >= 0)
                        (void) close(dc);
                request_wipe(&request, pre_len[BRIG_PROXY_RELAY_UP]);
                brig__pconn_close(c);
                return;
        }
        c->client_open = c->upstream_open = false;
        uv_close((uv_handle_t *) &c->client.tcp, side_closed_cb);
        uv_close((uv_handle_t *) &c->upstream.tcp, side_closed_cb);
        r = brig_proxy_relay_new(c->p->env->w->loop, dc, du, pre, pre_len, relay_bytes_cb,
                                 checked ? relay_up_cb : NULL, relay_done_cb, c, &c->relay);
        request_wipe(&request, pre_len[BRIG_PROXY_RELAY_UP]);
        if (r < 0) {
                (void) snprintf(c->error, sizeof(c->error), "relay: %s", strerror(-r));
                brig__pconn_close(c);
                return;
        }
        /* Checked with its head: the refusal is in place before the upstream can answer. */
        if (c->next_refused)
                refuse_next(c, c->relay);
        brig_proxy_relay_run(c->relay);
        brig__pconn_audit_used(c);
}

/* Resolution and connection. */

static void try_connect(pconn *c);

/* A failed attempt's handle is closed before the next attempt may initialise (and count) it again. While
 * still connecting, the client's handle and the timer are open, so this close is not the last and c lives
 * on; otherwise it may be, and frees c. */
static void upstream_retry_cb(uv_handle_t *h) {
        side *s = h->data;
        pconn *c = s->c;
        bool retry = c->state == PCONN_CONNECTING;

        assert(!retry || c->handles.open > 1);
        brig_handles_closed(&c->handles);
        if (retry)
                try_connect(c);
}

static void upstream_failed(pconn *c, int r) {
        (void) snprintf(c->error, sizeof(c->error), "connect %s: %s", c->address, uv_strerror(r));
        c->upstream_open = false;
        uv_close((uv_handle_t *) &c->upstream.tcp, upstream_retry_cb);
}

static void connect_cb(uv_connect_t *req, int status) {
        pconn *c = req->data;

        c->pending--;
        if (c->state != PCONN_CONNECTING) {
                brig__pconn_maybe_free(c);
                return;
        }
        if (status < 0) {
                upstream_failed(c, status);
                return;
        }
        c->error[0] = 0;
        if (c->intercept)
                brig__intercept_start(c);
        else
                start_relay(c);
}

static void format_address(const struct sockaddr *sa, char *out, size_t size) {
        const void *addr = sa->sa_family == AF_INET
                                   ? (const void *) &((const struct sockaddr_in *) sa)->sin_addr
                                   : (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
        if (!inet_ntop(sa->sa_family, addr, out, (socklen_t) size))
                (void) snprintf(out, size, "?");
}

static void try_connect(pconn *c) {
        brig_env *env = c->p->env;
        int r;

        if (c->next_addr >= c->n_addrs) {
                brig__pconn_reply_error(c, 502, "Bad Gateway",
                                        c->error[0] ? c->error : "no address to connect to",
                                        "brig: the upstream could not be reached");
                return;
        }
        struct sockaddr_storage *sa = &c->addrs[c->next_addr++];
        format_address((struct sockaddr *) sa, c->address, sizeof(c->address));
        if ((r = uv_tcp_init(env->w->loop, &c->upstream.tcp)) < 0) {
                brig__pconn_reply_error(c, 502, "Bad Gateway", uv_strerror(r),
                                        "brig: the upstream could not be reached");
                return;
        }
        c->upstream.tcp.data = &c->upstream;
        c->upstream_open = true;
        brig_handles_add(&c->handles, 1);
        (void) uv_tcp_nodelay(&c->upstream.tcp, 1);
        c->state = PCONN_CONNECTING;
        c->connect.data = c;
        if ((r = uv_tcp_connect(&c->connect, &c->upstream.tcp, (struct sockaddr *) sa, connect_cb)) < 0) {
                upstream_failed(c, r);
                return;
        }
        c->pending++;
}

/* Keeps the addresses the policy allows; none: refused with the first one's reason. */
static void addresses_checked(pconn *c, const struct sockaddr *const *sas, size_t n) {
        const brig_policy *pol = policy_of(c->p);
        char reason[BRIG_NET_REASON_MAX];
        bool refused = false;

        c->n_addrs = 0;
        for (size_t i = 0; i < n && c->n_addrs < MAX_ADDRS; i++) {
                const struct sockaddr *sa = sas[i];
                if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
                        continue;
                if (!brig_net_address_allowed(pol, sa, reason)) {
                        if (!refused) {
                                (void) snprintf(c->reason, sizeof(c->reason), "%s", reason);
                                format_address(sa, c->address, sizeof(c->address));
                        }
                        refused = true;
                        continue;
                }
                size_t len =
                        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
                memcpy(&c->addrs[c->n_addrs], sa, len);
                if (sa->sa_family == AF_INET)
                        ((struct sockaddr_in *) &c->addrs[c->n_addrs])->sin_port = htons(c->port);
                else
                        ((struct sockaddr_in6 *) &c->addrs[c->n_addrs])->sin6_port = htons(c->port);
                c->n_addrs++;
        }
        if (c->n_addrs == 0) {
                if (!refused)
                        (void) snprintf(c->reason, sizeof(c->reason), "%s has no address", c->host);
                c->allowed = false;
                brig__pconn_deny(c, false);
                return;
        }
        c->address[0] = 0;
        try_connect(c);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
        pconn *c = req->data;
        const struct sockaddr *sas[MAX_ADDRS * 2];
        size_t n = 0;

        c->pending--;
        c->resolving = false;
        if (c->state != PCONN_RESOLVING) {
                uv_freeaddrinfo(res);
                brig__pconn_maybe_free(c);
                return;
        }
        if (status < 0) {
                (void) snprintf(c->error, sizeof(c->error), "resolve: %s", uv_strerror(status));
                uv_freeaddrinfo(res);
                brig__pconn_reply_error(c, 502, "Bad Gateway", c->error,
                                        "brig: the upstream could not be reached");
                return;
        }
        for (struct addrinfo *ai = res; ai && n < ELEMENTSOF(sas); ai = ai->ai_next)
                sas[n++] = ai->ai_addr;
        addresses_checked(c, sas, n);
        uv_freeaddrinfo(res);
}

static void resolve(pconn *c) {
        brig_worker *w = c->p->env->w;
        struct sockaddr_storage lit = {0};
        const struct sockaddr *sa = NULL;
        int r;

        c->state = PCONN_RESOLVING;
        for (size_t i = 0; i < w->n_resolve; i++)
                if (strcmp(w->resolve[i].name, c->host) == 0) {
                        sa = (const struct sockaddr *) &w->resolve[i].addr;
                        break;
                }
        if (!sa && inet_pton(AF_INET, c->host, &((struct sockaddr_in *) &lit)->sin_addr) == 1) {
                lit.ss_family = AF_INET;
                sa = (const struct sockaddr *) &lit;
        } else if (!sa && inet_pton(AF_INET6, c->host, &((struct sockaddr_in6 *) &lit)->sin6_addr) == 1) {
                lit.ss_family = AF_INET6;
                sa = (const struct sockaddr *) &lit;
        }
        if (sa) {
                addresses_checked(c, &sa, 1);
                return;
        }
        /* Off the loop thread; only names the policy allowed get here. */
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        c->gai.data = c;
        if ((r = uv_getaddrinfo(w->loop, &c->gai, gai_cb, c->host, NULL, &hints)) < 0) {
                (void) snprintf(c->error, sizeof(c->error), "resolve: %s", uv_strerror(r));
                brig__pconn_reply_error(c, 502, "Bad Gateway", c->error,
                                        "brig: the upstream could not be reached");
                return;
        }
        c->pending++;
        c->resolving = true;
}

/* The request. */

/* Splits "host:port" or "[v6]:port" (port required unless default_port); false when malformed. */
static bool split_authority(const char *a, size_t len, int default_port, char *host, size_t host_size,
                            uint16_t *ret_port) {
        const char *colon = NULL;
        size_t host_len;
        uint64_t port;
        char num[8];

        if (len == 0 || memchr(a, '@', len))
                return false;
        if (a[0] == '[') {
                const char *close = memchr(a, ']', len);
                if (!close)
                        return false;
                if ((size_t) (close + 1 - a) < len) {
                        if (close[1] != ':')
                                return false;
                        colon = close + 1;
                }
                host_len = (size_t) (close + 1 - a);
        } else {
                colon = memrchr(a, ':', len);
                host_len = colon ? (size_t) (colon - a) : len;
        }
        if (colon) {
                size_t plen = len - (size_t) (colon + 1 - a);
                if (plen == 0 || plen >= sizeof(num))
                        return false;
                memcpy(num, colon + 1, plen);
                num[plen] = 0;
                if (brig_parse_u64(num, &port) < 0 || port == 0 || port > 65535)
                        return false;
        } else if (default_port > 0)
                port = (uint64_t) default_port;
        else
                return false;
        if (host_len == 0 || host_len >= host_size)
                return false;
        memcpy(host, a, host_len);
        host[host_len] = 0;
        *ret_port = (uint16_t) port;
        return true;
}

/* The placeholder of secret i in a request to a host not among its hosts: audited, and c->reason says so
 * for the refusal. */
void brig__pconn_placeholder_refused(pconn *c, size_t i) {
        audit_secret(c, BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED, i);
        (void) snprintf(c->reason, sizeof(c->reason),
                        "the placeholder of secret %s is only sent to its hosts (network.secrets)",
                        c->p->env->secrets->items[i].def->name);
}

/* Where the first request's body ends (its framing, strict: a body that ends elsewhere for the upstream
 * would smuggle a request past the checks), and how many of the bytes after its head in c->head are of it;
 * -1 once refused. */
int64_t brig__pconn_body_start(pconn *c, const char *lines) {
        const char *p = c->head;
        int64_t body;

        if (brig_proxy_body_init(&c->body, lines, (size_t) (p + c->head_end - lines)) < 0 ||
            (body = brig_proxy_body_take(&c->body, p + c->head_end, c->head_len - c->head_end)) < 0) {
                brig__pconn_reply_error(c, 400, "Bad Request", "bad request",
                                        "brig: ambiguous or malformed framing of the request body");
                return -1;
        }
        return body;
}

/* n bytes the client sent after the first request's body: the next request's head, kept in head to be
 * checked (beyond a head's size they are dropped: nothing of it is sent on). */
void brig__pconn_next_keep(pconn *c, const char *data, size_t n) {
        size_t room = BRIG_PROXY_HEADER_MAX - c->head_len;

        if (n > room)
                n = room;
        memmove(c->head + c->head_len, data, n);
        (void) brig__pconn_head_add(c, n);
}

bool brig__pconn_next_check(pconn *c, bool force) {
        const brig_proxy_secrets *s = c->p->env->secrets;
        size_t i;

        if (c->next_checked || (!force && c->head_end == 0 && c->head_len < BRIG_PROXY_HEADER_MAX))
                return c->next_checked;
        c->next_checked = true;
        if (s &&
            brig_proxy_secrets_scan(s, c->host, c->head, c->head_end ? c->head_end : c->head_len, &i) < 0) {
                brig__pconn_placeholder_refused(c, i);
                c->next_refused = true;
        }
        return true;
}

/* network.secrets (worker/proxy_secrets.h), before the allow/deny decision so that a placeholder sent
 * anywhere else is refused and audited as such: a placeholder for another host refuses the request; a
 * CONNECT to a secret's host is intercepted, or refused if it cannot be; otherwise (a plain HTTP request,
 * or the request inside an intercepted connection) the header lines are rewritten for the upstream. */
bool brig__pconn_secrets_refused(pconn *c, const char *lines) {
        const brig_proxy_secrets *s = c->p->env->secrets;
        brig_proxy_rewrite rw;
        size_t i;
        int r;

        if (!s || s->n == 0)
                return false;
        if (brig_proxy_secrets_scan(s, c->host, c->head, c->head_end, &i) < 0) {
                brig__pconn_placeholder_refused(c, i);
                brig__pconn_deny(c, false);
                return true;
        }
        /* The CONNECT itself; its requests come here again once inside (worker/proxy_intercept.c). */
        if (c->tunnel && !c->client_tls_up) {
                if (brig_proxy_secrets_for_host(s, c->host, &i) < 0)
                        return false;
                return !brig__intercept_prepare(c);
        }
        /* Without the final blank line. */
        r = brig_proxy_secrets_rewrite(s, c->host, c->head, c->head_end, lines,
                                       (size_t) (c->head + c->head_end - 2 - lines), &rw);
        if (r == -ENOKEY) {
                (void) snprintf(c->reason, sizeof(c->reason), "%s", s->items[rw.secret].error);
                brig__pconn_deny(c, false);
                return true;
        }
        if (r < 0) {
                brig__pconn_reply_error(c, 503, "Service Unavailable", "out of memory",
                                        "brig: out of memory");
                return true;
        }
        c->headers = rw.headers;
        c->headers_len = rw.len;
        c->secrets_used = rw.used;
        return false;
}

static void head_complete(pconn *c) {
        const char *p = c->head, *line_end = memchr(p, '\n', c->head_end);
        const char *sp1 = memchr(p, ' ', (size_t) (line_end - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (line_end - sp1 - 1)) : NULL;
        char raw_host[256];

        (void) uv_read_stop((uv_stream_t *) &c->client.tcp);
        if (!sp1 || !sp2 || line_end - sp2 < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
                brig__pconn_reply_error(c, 400, "Bad Request", "bad request",
                                        "brig: not an HTTP/1.x proxy request");
                return;
        }
        const char *target = sp1 + 1;
        size_t target_len = (size_t) (sp2 - target);
        c->tunnel = (size_t) (sp1 - p) == 7 && strncmp(p, "CONNECT", 7) == 0;
        const char *authority = target;
        size_t authority_len = target_len;
        if (!c->tunnel) {
                if (target_len < 7 || strncasecmp(target, "http://", 7) != 0) {
                        brig__pconn_reply_error(
                                c, 400, "Bad Request", "bad request",
                                "brig: expected CONNECT host:port or an absolute http:// URL");
                        return;
                }
                authority = target + 7;
                authority_len = strcspn(authority, "/?# ");
                if (authority + authority_len > sp2)
                        authority_len = (size_t) (sp2 - authority);
                c->path = authority + authority_len;
                c->path_len = (size_t) (sp2 - c->path);
                /* "http://h" or "http://h?q": brig__pconn_build_request() puts the leading slash of origin
                 * form. */
        }
        if (authority_len >= sizeof(c->authority) ||
            !split_authority(authority, authority_len, c->tunnel ? 0 : 80, raw_host, sizeof(raw_host),
                             &c->port) ||
            !brig_net_host_normalize(raw_host, c->host, sizeof(c->host))) {
                brig__pconn_reply_error(c, 400, "Bad Request", "bad request",
                                        "brig: invalid host or port in the request target");
                return;
        }
        memcpy(c->authority, authority, authority_len);
        c->authority[authority_len] = 0;

        brig__pconn_attribute(c);
        c->usage = usage_get(c->p, c->call_id);
        if (!c->usage) {
                brig__pconn_reply_error(c, 503, "Service Unavailable", "out of memory",
                                        "brig: out of memory");
                return;
        }
        if (c->over_limit) {
                (void) snprintf(c->reason, sizeof(c->reason),
                                "network.max_connections (%" PRIu32 ") reached in this environment",
                                policy_of(c->p)->network.max_connections);
                brig__pconn_deny(c, true);
                return;
        }
        if (brig__pconn_secrets_refused(c, line_end + 1))
                return;
        /* Decided once: a reload may change the secrets before the relay starts. */
        c->checked = !c->tunnel && requests_checked(c);
        if (c->checked) {
                int64_t body = brig__pconn_body_start(c, line_end + 1);
                if (body < 0)
                        return;
                c->head_body = (size_t) body;
        }
        if (!brig_net_decide(policy_of(c->p), c->host, c->port, c->reason)) {
                brig__pconn_deny(c, false);
                return;
        }
        c->allowed = true;
        resolve(c);
}

/* n more bytes of a head in c->head: whether it is complete (c->head_end then set). */
bool brig__pconn_head_add(pconn *c, size_t n) {
        size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
        c->head_len += n;
        c->head[c->head_len] = 0;
        char *end = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
        if (!end)
                return false;
        c->head_end = (size_t) (end + 4 - c->head);
        return true;
}

static void head_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        side *s = h->data;
        pconn *c = s->c;
        (void) suggested;
        *buf = uv_buf_init(c->head + c->head_len, (unsigned) (BRIG_PROXY_HEADER_MAX - c->head_len));
}

static void head_read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
        side *s = stream->data;
        pconn *c = s->c;
        (void) buf;

        if (n == 0 || c->state != PCONN_HEAD)
                return;
        if (n < 0) {
                brig__pconn_close(c);
                return;
        }
        if (brig__pconn_head_add(c, (size_t) n)) {
                head_complete(c);
                return;
        }
        if (c->head_len == BRIG_PROXY_HEADER_MAX)
                brig__pconn_reply_error(c, 431, "Request Header Fields Too Large", "bad request",
                                        "brig: request headers too large");
}

static void timer_cb(uv_timer_t *t) {
        pconn *c = t->data;

        if (c->state == PCONN_HEAD)
                brig__pconn_close(c);
        else if (c->state == PCONN_RESOLVING || c->state == PCONN_CONNECTING) {
                (void) snprintf(c->error, sizeof(c->error), "%s timed out",
                                c->state == PCONN_RESOLVING ? "resolve" : "connect");
                brig__pconn_reply_error(c, 504, "Gateway Timeout", c->error,
                                        "brig: the upstream did not answer in time");
        }
}

static void accept_cb(uv_stream_t *server, int status) {
        brig_proxy *p = server->data;
        brig_env *env = p->env;
        pconn *c;

        if (status < 0 || !env)
                return;
        c = calloc(1, sizeof(*c));
        if (!c || uv_tcp_init(env->w->loop, &c->client.tcp) < 0) {
                free(c);
                /* Take it off the backlog all the same, or the loop spins on it; no handle needed. */
                uv_os_fd_t lfd;
                if (uv_fileno((uv_handle_t *) server, &lfd) == 0) {
                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (fd >= 0)
                                (void) close(fd);
                }
                return;
        }
        c->p = p;
        c->client.c = c->upstream.c = c;
        c->client.tcp.data = &c->client;
        c->upstream.tcp.data = &c->upstream;
        c->timer.data = c;
        brig_handles_init(&c->handles, handles_all_closed, c);
        brig_handles_add(&c->handles, 2);
        c->client_open = true;
        c->started_ms = uv_now(env->w->loop);
        (void) uv_timer_init(env->w->loop, &c->timer);
        c->next = p->conns;
        if (c->next)
                c->next->prev = &c->next;
        c->prev = &p->conns;
        p->conns = c;
        if (uv_accept(server, (uv_stream_t *) &c->client.tcp) < 0) {
                p->n_active++;
                brig__pconn_close(c);
                return;
        }
        if (p->n_active >= policy_of(p)->network.max_connections) {
                c->over_limit = true;
                p->n_over++;
                /* Beyond what is worth answering: just close. */
                if (p->n_over > BRIG_PROXY_OVER_LIMIT) {
                        brig__pconn_close(c);
                        return;
                }
        } else
                p->n_active++;
        (void) uv_tcp_nodelay(&c->client.tcp, 1);
        (void) uv_timer_start(&c->timer, timer_cb, BRIG_PROXY_HEADER_TIMEOUT_MS, 0);
        if (uv_read_start((uv_stream_t *) &c->client.tcp, head_alloc_cb, head_read_cb) < 0)
                brig__pconn_close(c);
}

static void listener_closed_cb(uv_handle_t *h) {
        brig_proxy *p = h->data;
        brig_closep(&p->diag_fd);
        free(p);
}

/* network.secrets: the placeholders once per environment, the values again at each start (a rotated
 * file or variable is taken then). Failures stay with the secrets: calls then fail closed
 * (brig__proxy_secrets_check()). */
void brig__proxy_secrets_follow(brig_env *env) {
        const brig_net_policy *n = env->policy->policy->network.net;
        brig_error err = BRIG_ERROR_INIT;

        /* Secrets of the same name keep their placeholders. */
        if (env->secrets && env->secrets->net != n) {
                brig_proxy_secrets *now = NULL;
                if (n && n->n_secrets > 0 && brig_proxy_secrets_new(n, env->secrets, &now, &err) < 0)
                        log_error("environment %s: network.secrets: %s", env->id, err.msg);
                brig_proxy_secrets_free(env->secrets);
                env->secrets = now;
        }
}

static void secrets_start(brig_env *env) {
        const brig_net_policy *n = env->policy->policy->network.net;
        brig_error err = BRIG_ERROR_INIT;

        brig__proxy_secrets_follow(env);
        if (!n || n->n_secrets == 0)
                return;
        if (!env->secrets && brig_proxy_secrets_new(n, NULL, &env->secrets, &err) < 0) {
                log_error("environment %s: network.secrets: %s", env->id, err.msg);
                return;
        }
        brig_proxy_secrets_load(env->secrets);
        for (size_t i = 0; i < env->secrets->n; i++)
                if (!env->secrets->items[i].value)
                        log_error("environment %s: %s: its calls are refused", env->id,
                                  env->secrets->items[i].error);
}

int brig__proxy_secrets_check(const brig_env *env, brig_error *err) {
        const brig_net_policy *n = env->policy->policy->network.net;

        if (env->policy->policy->network.mode != BRIG_NETWORK_PROXY || !n || n->n_secrets == 0)
                return 0;
        if (!env->secrets || env->secrets->net != n || !env->proxy)
                return brig_error_set(err, -ENOKEY, BRIG_KIND_POLICY,
                                      "network.secrets: the environment's proxy is not running");
        return brig_proxy_secrets_check(env->secrets, err);
}

const char *const *brig__proxy_secret_env(const brig_env *env) {
        const brig_policy *p = env->policy->policy;

        if (p->network.mode != BRIG_NETWORK_PROXY || !env->secrets || env->secrets->net != p->network.net)
                return NULL;
        return (const char *const *) env->secrets->env;
}

void brig__proxy_start(brig_env *env, int fd, int diag_fd) {
        brig_proxy *p;
        int r;

        if (env->proxy || env->policy->policy->network.mode != BRIG_NETWORK_PROXY) {
                (void) close(fd);
                brig_closep(&diag_fd);
                return;
        }
        secrets_start(env);
        p = calloc(1, sizeof(*p));
        if (!p) {
                (void) close(fd);
                brig_closep(&diag_fd);
                log_error("environment %s: out of memory: it has no network proxy", env->id);
                return;
        }
        p->env = env;
        p->diag_fd = diag_fd;
        if (diag_fd < 0)
                log_warning(
                        "environment %s: no sock_diag: its proxied connections are attributed to no call",
                        env->id);
        if ((r = uv_tcp_init(env->w->loop, &p->listener)) < 0) {
                (void) close(fd);
                brig_closep(&p->diag_fd);
                free(p);
                log_error_errno(r, "environment %s: proxy: %s: it has no network", env->id, uv_strerror(r));
                return;
        }
        p->listener.data = p;
        if ((r = uv_tcp_open(&p->listener, fd)) < 0 ||
            (r = uv_listen((uv_stream_t *) &p->listener, 128, accept_cb)) < 0) {
                if (r != 0 && p->listener.io_watcher.fd < 0)
                        (void) close(fd);
                uv_close((uv_handle_t *) &p->listener, listener_closed_cb);
                log_error_errno(r, "environment %s: proxy: %s: it has no network", env->id, uv_strerror(r));
                return;
        }
        env->proxy = p;
        env->w->n_proxies++;
        log_info("environment %s: network proxy on 127.0.0.1:%u in its namespace", env->id,
                 (unsigned) env->policy->policy->network.proxy_port);
}

void brig__proxy_stop(brig_env *env) {
        brig_proxy *p = env->proxy;

        if (!p)
                return;
        while (p->conns) {
                pconn *c = p->conns;
                if (c->allowed && !c->error[0])
                        (void) snprintf(c->error, sizeof(c->error), "cut: the environment stopped");
                brig__pconn_close(c);
        }
        for (usage *u = p->usage, *next; u; u = next) {
                next = u->next;
                free(u);
        }
        p->usage = NULL;
        p->env = NULL;
        env->proxy = NULL;
        env->w->n_proxies--;
        uv_close((uv_handle_t *) &p->listener, listener_closed_cb);
}

int brig_proxy_resolve_parse(const char *arg, brig_proxy_resolve *ret, brig_error *err) {
        const char *eq = strchr(arg, '=');
        brig_proxy_resolve e = {0};
        char name[256];

        if (!eq || eq == arg || (size_t) (eq - arg) >= sizeof(name))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "--resolve: expected NAME=ADDR, got \"%.100s\"", arg);
        memcpy(name, arg, (size_t) (eq - arg));
        name[eq - arg] = 0;
        if (!brig_net_host_normalize(name, e.name, sizeof(e.name)))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "--resolve: invalid host name \"%.100s\"", name);
        struct sockaddr_in *s4 = (struct sockaddr_in *) &e.addr;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &e.addr;
        if (inet_pton(AF_INET, eq + 1, &s4->sin_addr) == 1) {
                s4->sin_family = AF_INET;
                e.addr_len = sizeof(*s4);
        } else if (inet_pton(AF_INET6, eq + 1, &s6->sin6_addr) == 1) {
                s6->sin6_family = AF_INET6;
                e.addr_len = sizeof(*s6);
        } else
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "--resolve: \"%.100s\" is not an IPv4 or IPv6 address", eq + 1);
        *ret = e;
        return 0;
}
