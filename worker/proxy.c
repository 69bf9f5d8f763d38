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
 * the environment's CA, below), and its request inside is checked and rewritten the same way.
 *
 * Attribution: the accepted socket's addresses name the client's socket through sock_diag in the jail's
 * namespace (a netlink socket the init made there), whose inode one process of the environment holds
 * (/proc/PID/fd, walking the init's descendants, at most MAX_WALK_ENTRIES /proc entries); that pid goes
 * through the attribution of worker/culprit.h to a call or background process. A socket passed
 * elsewhere, closed in the meantime, or past the walk's bound is attributed to no call.
 *
 * Relay: once connected, both sockets leave libuv's streams for a relay (worker/proxy_relay.h) that moves
 * the bytes with splice(2) through a pipe per direction, without copying them through brigd, and reads a
 * side only when the other has taken what came before: TCP flow control is the backpressure, and a
 * connection holds at most a pipe's worth (256 KiB) per direction in the kernel. */
#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
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

#include "common/cleanup.h"
#include "common/handles.h"
#include "common/log.h"
#include "common/parse.h"
#include "sandbox/netpolicy.h"
#include "worker/audit_events.h"
#include "worker/culprit.h"
#include "tools/process.h"
#include "worker/proxy.h"
#include "worker/proxy_body.h"
#include "worker/proxy_relay.h"
#include "worker/proxy_secrets.h"
#include "worker/proxy_tls.h"
#include "worker/worker.h"

#define container_of(ptr, type, member) ((type *) (void *) ((char *) (ptr) -offsetof(type, member)))

#define MAX_ADDRS 8
#define MAX_USAGE 256 /* per-call byte counters kept per environment */
#define MAX_WALK 4096 /* processes of an environment looked through for a socket's owner */

typedef struct usage {
        struct usage *next;
        uint64_t call_id; /* 0: connections attributed to no call */
        uint64_t bytes;
        int refs; /* open connections */
} usage;

typedef struct brig_proxy {
        brig_env *env; /* borrowed; NULL once stopped */
        uv_tcp_t listener;
        int diag_fd; /* NETLINK_SOCK_DIAG in the jail's network namespace, or -1 */
        struct pconn *conns;
        unsigned n_active; /* connections within max_connections */
        unsigned n_over;   /* connections being refused for the limit */
        usage *usage;      /* newest first */
        size_t n_usage;
} brig_proxy;

typedef enum pconn_state {
        PCONN_HEAD,       /* reading the request */
        PCONN_RESOLVING,  /* allowed; its name is being resolved */
        PCONN_CONNECTING, /* to addrs[next_addr - 1] */
        PCONN_SPLICE,     /* relaying */
        PCONN_INTERCEPT,  /* TLS interception: both ends' handshakes, then the request and the response */
        PCONN_REPLYING,   /* sending the proxy's own answer, then closing */
        PCONN_CLOSING,
} pconn_state;

typedef struct side {
        uv_tcp_t tcp;
        struct pconn *c;
} side;

typedef struct pconn {
        brig_proxy *p;
        struct pconn *next, **prev;
        side client, upstream;
        uv_timer_t timer;
        uv_getaddrinfo_t gai;
        uv_connect_t connect;
        /* Freed when both are done: its handles (the client's and upstream's tcp, the timer) closed, and its
         * requests (getaddrinfo, connect, a reply's write) called back. Requests are counted apart: they
         * end in their own callbacks, not in a close callback. */
        brig_handles handles;
        int pending;
        pconn_state state;
        bool client_open, upstream_open, over_limit, audited, allowed, tunnel, resolving;
        brig_proxy_relay *relay; /* SPLICE */

        char head[BRIG_PROXY_HEADER_MAX + 1];
        size_t head_len, head_end; /* bytes read; where the headers end (0: not yet) */
        char host[256];
        char authority[300]; /* as the client wrote it, for Host */
        char *headers;       /* the header lines rewritten for network.secrets (wiped), or NULL */
        size_t headers_len;
        uint64_t secrets_used; /* bit i: the environment's secret i is in headers */
        const char *path;      /* into head */
        size_t path_len;
        uint16_t port;
        char reason[BRIG_NET_REASON_MAX];
        char error[160];
        char address[INET6_ADDRSTRLEN + 8];

        struct sockaddr_storage addrs[MAX_ADDRS];
        size_t n_addrs, next_addr;

        /* TLS interception (a CONNECT to a secret's host): the jail's TLS ends at tls_client, which presents
         * leaf (a reference), and brigd's own connection to the host is tls_upstream. The rewritten request
         * waits in upq (wiped) while the upstream's handshake runs. */
        bool intercept, client_tls_up, upstream_tls_up, upstream_failed, request_sent;
        bool close_after_writes; /* once the writes below are done */
        bool paused[2];          /* reading the other side stopped while this one's writes pile up */
        brig_tls_conn *tls_client, *tls_upstream;
        SSL_CTX *leaf;
        char *upq;
        size_t upq_len;
        /* Only the first request goes upstream (with Connection: close): its body is passed on to its end,
         * and what follows is read into head as the next request, checked for placeholders but never
         * sent. One carrying another host's is refused (403) once the first's response has ended. */
        brig_proxy_body body;
        bool next_checked, next_refused;

        uint64_t call_id;
        char process_id[16];
        usage *usage;
        uint64_t up, down;
        uint64_t started_ms;
} pconn;

/* An answer of the proxy itself. */
typedef struct chunk {
        uv_write_t req;
        pconn *c;
        char data[];
} chunk;

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

/* Attribution (see the theory of operation). */

/* The inode of the jail's end of an accepted connection: the socket whose source is our peer and whose
 * destination is our local address, looked up by its 4-tuple through sock_diag in the jail's namespace
 * (one hash lookup in the kernel). -ENOENT when it is gone. */
static int peer_inode(int diag_fd, const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                      unsigned long *ret) {
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 r;
        } req = {
                .nlh = {.nlmsg_len = sizeof(req),
                        .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                        .nlmsg_flags = NLM_F_REQUEST},
                .r = {.sdiag_family = (uint8_t) peer->ss_family,
                      .sdiag_protocol = IPPROTO_TCP,
                      .idiag_states = ~0u,
                      .id.idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}},
        };
        union {
                struct nlmsghdr nlh;
                char buf[8192];
        } resp;
        struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
        ssize_t n;

        if (peer->ss_family == AF_INET) {
                const struct sockaddr_in *p = (const void *) peer, *l = (const void *) local;
                req.r.id.idiag_sport = p->sin_port;
                req.r.id.idiag_dport = l->sin_port;
                memcpy(req.r.id.idiag_src, &p->sin_addr, 4);
                memcpy(req.r.id.idiag_dst, &l->sin_addr, 4);
        } else if (peer->ss_family == AF_INET6) {
                const struct sockaddr_in6 *p = (const void *) peer, *l = (const void *) local;
                req.r.id.idiag_sport = p->sin6_port;
                req.r.id.idiag_dport = l->sin6_port;
                memcpy(req.r.id.idiag_src, &p->sin6_addr, 16);
                memcpy(req.r.id.idiag_dst, &l->sin6_addr, 16);
        } else
                return -EAFNOSUPPORT;
        do
                n = sendto(diag_fd, &req, sizeof(req), MSG_DONTWAIT, (struct sockaddr *) &nl, sizeof(nl));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        /* The kernel answers before sendto() returns. */
        /* Only the kernel's answer counts (nl_pid 0): with capabilities a policy granted, a process of the
         * jail could queue messages on this socket. */
        socklen_t nl_len = sizeof(nl);
        do
                n = recvfrom(diag_fd, &resp, sizeof(resp), MSG_DONTWAIT, (struct sockaddr *) &nl, &nl_len);
        while (n < 0 && errno == EINTR);
        if (n >= 0 && nl.nl_pid != 0)
                return -ENOENT;
        if (n < 0)
                return -errno;
        for (struct nlmsghdr *h = &resp.nlh; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE)
                        return -ENOENT;
                if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                        continue;
                const struct inet_diag_msg *m = NLMSG_DATA(h);
                if (m->idiag_inode == 0 || m->id.idiag_sport != req.r.id.idiag_sport ||
                    m->id.idiag_dport != req.r.id.idiag_dport)
                        return -ENOENT;
                *ret = m->idiag_inode;
                return 0;
        }
        return -ENOENT;
}

/* /proc entries one attribution may read: the agent decides how many processes, threads and fds its
 * environment has, and this runs on the loop thread. Past it, the connection is attributed to no call. */
#define MAX_WALK_ENTRIES 16384

static bool holds_socket(pid_t pid, const char *want, size_t *budget) {
        char path[64], target[64];
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        (void) snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        if (!(d = opendir(path)))
                return false;
        while (*budget > 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                (*budget)--;
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                if (strcmp(target, want) == 0)
                        return true;
        }
        return false;
}

/* The host pid of the environment's process holding socket inode, or -ENOENT. Walks the init's
 * descendants breadth first through /proc/PID/task/TID/children. */
static pid_t socket_owner(pid_t init, unsigned long inode) {
        _cleanup_free_ pid_t *queue = malloc(MAX_WALK * sizeof(pid_t));
        size_t head = 0, tail = 0, budget = MAX_WALK_ENTRIES;
        char want[64];

        if (!queue)
                return -ENOMEM;
        (void) snprintf(want, sizeof(want), "socket:[%lu]", inode);
        queue[tail++] = init;
        while (head < tail && budget > 0) {
                pid_t pid = queue[head++];
                char path[64];
                if (pid != init && holds_socket(pid, want, &budget))
                        return pid;
                (void) snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
                _cleanup_(closedirp) DIR *tasks = opendir(path);
                struct dirent *de;
                while (tasks && budget > 0 && (de = readdir(tasks))) {
                        char cpath[128];
                        if (de->d_name[0] == '.')
                                continue;
                        budget--;
                        (void) snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int) pid,
                                        de->d_name);
                        _cleanup_fclose_ FILE *f = fopen(cpath, "re");
                        int child;
                        while (f && tail < MAX_WALK && fscanf(f, "%d", &child) == 1)
                                queue[tail++] = child;
                }
        }
        return -ENOENT;
}

static void attribute(pconn *c) {
        brig_env *env = c->p->env;
        struct sockaddr_storage peer, local;
        int plen = sizeof(peer), llen = sizeof(local);
        unsigned long inode = 0;
        pid_t owner;

        if (env->init_pid <= 0 || c->p->diag_fd < 0 ||
            uv_tcp_getpeername(&c->client.tcp, (struct sockaddr *) &peer, &plen) < 0 ||
            uv_tcp_getsockname(&c->client.tcp, (struct sockaddr *) &local, &llen) < 0 ||
            peer_inode(c->p->diag_fd, &peer, &local, &inode) < 0 ||
            (owner = socket_owner(env->init_pid, inode)) <= 0)
                return;
        brig_culprit who = brig__culprit_of(env, owner);
        if (who.call)
                c->call_id = who.call->call_id;
        else if (who.process) {
                c->call_id = who.process->call_id;
                (void) snprintf(c->process_id, sizeof(c->process_id), "%s", who.process->id);
        }
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

static void maybe_free(pconn *c) {
        if (!brig_handles_none(&c->handles) || c->pending > 0)
                return;
        if (c->headers)
                explicit_bzero(c->headers, c->headers_len);
        free(c->headers);
        if (c->upq)
                explicit_bzero(c->upq, c->upq_len);
        free(c->upq);
        brig_tls_conn_free(c->tls_client);
        brig_tls_conn_free(c->tls_upstream);
        SSL_CTX_free(c->leaf);
        free(c);
}

static void handles_all_closed(void *owner) {
        maybe_free(owner);
}

BRIG_HANDLES_CLOSED_CB(timer_closed_cb, pconn, handles)

static void side_closed_cb(uv_handle_t *h) {
        side *s = h->data;
        brig_handles_closed(&s->c->handles);
}

static void conn_close(pconn *c) {
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
        conn_close(c);
        maybe_free(c);
}

static void printable(char *out, size_t size, const char *in) {
        size_t n = 0;
        for (const char *s = in; *s && n < size - 1; s++)
                out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
        out[n] = 0;
}

static void tls_reply(pconn *c, const char *data, size_t len);
static bool secrets_refused(pconn *c, const char *lines);
static bool head_add(pconn *c, size_t n);

/* Answers with status, reason (X-Brig-Reason) and text (the body), both one line made printable, then
 * closes. */
static void reply_error(pconn *c, int code, const char *status_text, const char *reason, const char *text) {
        char safe_reason[BRIG_NET_REASON_MAX + 200], safe[BRIG_NET_REASON_MAX + 300];
        size_t size = sizeof(safe_reason) + sizeof(safe) + 256;
        chunk *k;

        printable(safe_reason, sizeof(safe_reason), reason);
        printable(safe, sizeof(safe), text);
        k = malloc(sizeof(*k) + size);
        if (!k) {
                conn_close(c);
                return;
        }
        k->c = c;
        int len = snprintf(k->data, size,
                           "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nX-Brig-Reason: %s\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                           code, status_text, safe_reason, strlen(safe) + 1, safe);
        uv_buf_t b = uv_buf_init(k->data, (unsigned) len);
        c->state = PCONN_REPLYING;
        (void) uv_read_stop((uv_stream_t *) &c->client.tcp);
        if (c->client_tls_up) {
                /* Inside the jail's TLS connection: the answer is encrypted like the rest. */
                tls_reply(c, k->data, (size_t) len);
                free(k);
                return;
        }
        if (uv_write(&k->req, (uv_stream_t *) &c->client.tcp, &b, 1, reply_written_cb) < 0) {
                free(k);
                conn_close(c);
                return;
        }
        c->pending++;
}

/* Answers with c->reason: 403, or 503 for a limit. */
static void refusal_reply(pconn *c, bool limit) {
        char text[BRIG_NET_REASON_MAX + 300];

        (void) snprintf(text, sizeof(text), "brig: %s:%u refused: %s", c->host, (unsigned) c->port,
                        c->reason);
        if (limit)
                reply_error(c, 503, "Service Unavailable", c->reason, text);
        else
                reply_error(c, 403, "Forbidden", c->reason, text);
}

/* Refuses with c->reason, audited. */
static void deny(pconn *c, bool limit) {
        audit(c, false);
        refusal_reply(c, limit);
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

static void relay_done_cb(brig_proxy_relay *r, int error, void *userdata) {
        pconn *c = userdata;
        (void) r;

        if (error < 0 && error != -EDQUOT && !c->error[0])
                (void) snprintf(c->error, sizeof(c->error), "relay: %s", strerror(-error));
        conn_close(c);
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
static int build_request(pconn *c, size_t rest, char **ret, size_t *ret_len) {
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
static void audit_used(pconn *c) {
        for (size_t i = 0; c->secrets_used && i < 64; i++)
                if (c->secrets_used & (UINT64_C(1) << i))
                        audit_secret(c, BRIG_AUDIT_SECRET_USED, i);
}

/* Hands both sockets to a relay: the uv_tcp handles that accepted and connected them close, the relay
 * keeps duplicates. The first bytes each way are the proxy's: the request upstream (or, for a tunnel, what
 * the client sent after CONNECT), the 200 for a tunnel down. */
static void start_relay(pconn *c) {
        static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        char *request = NULL;
        const char *pre[2] = {NULL, NULL};
        size_t pre_len[2] = {0, 0};
        uv_os_fd_t cfd = -1, ufd = -1;
        int dc = -1, du = -1, r;

        c->state = PCONN_SPLICE;
        (void) uv_timer_stop(&c->timer);
        if (c->tunnel) {
                pre[BRIG_PROXY_RELAY_UP] = c->head + c->head_end;
                pre_len[BRIG_PROXY_RELAY_UP] = c->head_len - c->head_end;
                pre[BRIG_PROXY_RELAY_DOWN] = established;
                pre_len[BRIG_PROXY_RELAY_DOWN] = sizeof(established) - 1;
        } else if (build_request(c, c->head_len - c->head_end, &request, &pre_len[BRIG_PROXY_RELAY_UP]) <
                   0) {
                conn_close(c);
                return;
        } else
                pre[BRIG_PROXY_RELAY_UP] = request;
        c->up += pre_len[BRIG_PROXY_RELAY_UP];
        if (uv_fileno((uv_handle_t *) &c->client.tcp, &cfd) < 0 ||
            uv_fileno((uv_handle_t *) &c->upstream.tcp, &ufd) < 0 ||
            (dc = fcntl(cfd, F_DUPFD_CLOEXEC, 3)) < 0 || (du = fcntl(ufd, F_DUPFD_CLOEXEC, 3)) < 0) {
                if (dc >= 0)
                        (void) close(dc);
                request_wipe(&request, pre_len[BRIG_PROXY_RELAY_UP]);
                conn_close(c);
                return;
        }
        c->client_open = c->upstream_open = false;
        uv_close((uv_handle_t *) &c->client.tcp, side_closed_cb);
        uv_close((uv_handle_t *) &c->upstream.tcp, side_closed_cb);
        r = brig_proxy_relay_start(c->p->env->w->loop, dc, du, pre, pre_len, relay_bytes_cb, relay_done_cb,
                                   c, &c->relay);
        request_wipe(&request, pre_len[BRIG_PROXY_RELAY_UP]);
        if (r < 0) {
                (void) snprintf(c->error, sizeof(c->error), "relay: %s", strerror(-r));
                conn_close(c);
                return;
        }
        audit_used(c);
}

/* TLS interception (worker/proxy_tls.h): after the CONNECT's 200, the jail's TLS handshake ends here with
 * a certificate for exactly its host, and brigd makes its own TLS connection to that host, verified as any
 * client would (the system's trust store and --upstream-ca, the host's name). The first request's head
 * inside is read, checked and rewritten exactly like a plain HTTP request's (secrets_refused(),
 * build_request(): one request, Connection: close), then the rest flows both ways through the two TLS
 * ends on the loop (memory BIOs), each side read only while the other's writes keep up. */

/* Bytes read from a socket at once, and re-encrypted before they are sent on: large batches halve the
 * system calls and wake-ups of 64 KiB ones (bench_proxy's intercepted download about doubled). */
#define TLS_CHUNK (256 * 1024)
#define TLS_QUEUE_MAX (1024 * 1024) /* bytes waiting for a socket before the other side's reads stop */

static void intercept_pump_client(pconn *c);
static void intercept_pump_upstream(pconn *c);
static void response_done(pconn *c);
static void timer_cb(uv_timer_t *t);
static void next_keep(pconn *c, const char *data, size_t n);
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
                maybe_free(c);
                return;
        }
        if (status < 0 || (c->close_after_writes && c->pending == 0)) {
                conn_close(c);
                return;
        }
        /* A side whose writes caught up lets the other one read again. */
        for (int up = 0; up < 2; up++)
                if (c->paused[up] &&
                    uv_stream_get_write_queue_size(side_stream(c, up)) < TLS_QUEUE_MAX / 4) {
                        c->paused[up] = false;
                        if (up)
                                intercept_pump_client(c);
                        else
                                intercept_pump_upstream(c);
                }
}

/* Sends what the TLS end of side up has for its peer. */
static int tls_flush(pconn *c, bool up) {
        brig_tls_conn *t = up ? c->tls_upstream : c->tls_client;

        /* One write for all of it: tls_forward() flushes batches of records. */
        for (size_t want; (want = brig_tls_conn_pending(t)) > 0;) {
                chunk *k = malloc(sizeof(*k) + want);
                if (!k)
                        return -ENOMEM;
                size_t n = brig_tls_conn_drain(t, k->data, want);
                k->c = c;
                uv_buf_t b = uv_buf_init(k->data, (unsigned) n);
                if (uv_write(&k->req, side_stream(c, up), &b, 1, tls_written_cb) < 0) {
                        free(k);
                        return -EIO;
                }
                c->pending++;
        }
        return 0;
}

/* Ends the jail's TLS connection once what is on its way to it is written. */
static void tls_finish(pconn *c) {
        brig_tls_conn_close_notify(c->tls_client);
        c->close_after_writes = true;
        if (tls_flush(c, false) < 0 || c->pending == 0)
                conn_close(c);
}

/* The proxy's own answer inside the jail's TLS connection, then its end. */
static void tls_reply(pconn *c, const char *data, size_t len) {
        brig_error err = BRIG_ERROR_INIT;

        if (brig_tls_conn_write(c->tls_client, data, len, &err) < 0) {
                conn_close(c);
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
                reply_error(c, 502, "Bad Gateway", c->error, "brig: the upstream's TLS connection failed");
}

static void tls_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        (void) h;
        (void) suggested;
        buf->base = malloc(TLS_CHUNK);
        buf->len = buf->base ? TLS_CHUNK : 0;
}

/* Ciphertext from side up into its TLS end: whether there is more to do with it. */
static bool tls_fed(pconn *c, bool up, ssize_t n, const uv_buf_t *buf) {
        brig_error err = BRIG_ERROR_INIT;
        int r = 0;

        if (n > 0)
                r = brig_tls_conn_feed(up ? c->tls_upstream : c->tls_client, buf->base, (size_t) n, &err);
        free(buf->base);
        if (n == 0 || c->state != PCONN_INTERCEPT)
                return false;
        if (n > 0 && r == 0)
                return true;
        if (up && !c->upstream_tls_up)
                upstream_tls_failed(c, n < 0 ? "closed by the upstream" : err.msg);
        else if (up && c->client_tls_up)
                response_done(c);
        else
                conn_close(c);
        return false;
}

static void client_tls_read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
        pconn *c = ((side *) stream->data)->c;
        if (tls_fed(c, false, n, buf))
                intercept_pump_client(c);
}

static void upstream_tls_read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
        pconn *c = ((side *) stream->data)->c;
        if (tls_fed(c, true, n, buf))
                intercept_pump_upstream(c);
}

/* Reads side up's socket (again); a no-op while it reads. */
static void read_on(pconn *c, bool up) {
        (void) uv_read_start(side_stream(c, up), tls_alloc_cb,
                             up ? upstream_tls_read_cb : client_tls_read_cb);
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

/* The placeholder of secret i in a request to a host not among its hosts: audited, and c->reason says so
 * for the refusal. */
static void placeholder_refused(pconn *c, size_t i) {
        audit_secret(c, BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED, i);
        (void) snprintf(c->reason, sizeof(c->reason),
                        "the placeholder of secret %s is only sent to its hosts (network.secrets)",
                        c->p->env->secrets->items[i].def->name);
}

/* n bytes the client sent after the first request's body: the next request's head, kept in head to be
 * checked (beyond a head's size they are dropped: nothing of it is sent on). */
static void next_keep(pconn *c, const char *data, size_t n) {
        size_t room = BRIG_PROXY_HEADER_MAX - c->head_len;

        if (n > room)
                n = room;
        memmove(c->head + c->head_len, data, n);
        (void) head_add(c, n);
}

/* Checks the next request once its head is complete, as large as a head may be, or (force) the client
 * ended: never sent upstream, and refused after the first's response if it holds a placeholder for
 * another host. The client is then no longer read. */
static void next_check(pconn *c, bool force) {
        size_t i;

        if (c->next_checked || (!force && c->head_end == 0 && c->head_len < BRIG_PROXY_HEADER_MAX))
                return;
        c->next_checked = true;
        (void) uv_read_stop(side_stream(c, false));
        if (brig_proxy_secrets_scan(c->p->env->secrets, c->host, c->head,
                                    c->head_end ? c->head_end : c->head_len, &i) < 0) {
                placeholder_refused(c, i);
                c->next_refused = true;
        }
}

/* Reads the client's next request until it can be checked. */
static void next_read(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;

        for (next_check(c, false); !c->next_checked; next_check(c, false)) {
                ssize_t n = brig_tls_conn_read(c->tls_client, c->head + c->head_len,
                                               BRIG_PROXY_HEADER_MAX - c->head_len, &err);
                if (n == -EAGAIN) {
                        read_on(c, false);
                        return;
                }
                if (n < 0) {
                        (void) snprintf(c->error, sizeof(c->error), "TLS from the jail: %s", err.msg);
                        conn_close(c);
                        return;
                }
                if (n == 0) {
                        next_check(c, true);
                        return;
                }
                (void) head_add(c, (size_t) n);
        }
}

/* The upstream's clean end is its response's (it was sent Connection: close): the jail reads it to its own
 * end, or to the refusal of its next request. */
static void response_done(pconn *c) {
        if (c->next_refused)
                refusal_reply(c, false);
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
                        next_keep(c, buf + take, (size_t) (n - take));
                if (n > 0 && take >= 0 &&
                    (take == 0 || (relay_bytes_cb(NULL, up ? BRIG_PROXY_RELAY_DOWN : BRIG_PROXY_RELAY_UP,
                                                  (size_t) take, c) &&
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
                        conn_close(c);
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
                conn_close(c);
                return;
        }
        c->request_sent = true;
        (void) uv_timer_stop(&c->timer);
        audit_used(c);
}

/* The first request's head inside the jail's TLS connection, in origin form. */
static void intercept_head(pconn *c) {
        const char *p = c->head, *line_end = memchr(p, '\n', c->head_end);
        const char *sp1 = memchr(p, ' ', (size_t) (line_end - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (line_end - sp1 - 1)) : NULL;
        char *request;
        int64_t body;

        if (!sp1 || !sp2 || sp1[1] != '/' || line_end - sp2 < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
                reply_error(c, 400, "Bad Request", "bad request",
                            "brig: expected an HTTP/1.x request in origin form");
                return;
        }
        c->path = sp1 + 1;
        c->path_len = (size_t) (sp2 - c->path);
        if (secrets_refused(c, line_end + 1))
                return;
        /* A body that ends elsewhere for the upstream would smuggle a request past the checks. */
        if (brig_proxy_body_init(&c->body, line_end + 1, (size_t) (p + c->head_end - line_end - 1)) < 0 ||
            (body = brig_proxy_body_take(&c->body, p + c->head_end, c->head_len - c->head_end)) < 0) {
                reply_error(c, 400, "Bad Request", "bad request",
                            "brig: ambiguous or malformed framing of the request body");
                return;
        }
        if (build_request(c, (size_t) body, &request, &c->upq_len) < 0) {
                reply_error(c, 503, "Service Unavailable", "out of memory", "brig: out of memory");
                return;
        }
        /* Its body so far went with it; what follows is the next request's. */
        size_t next = c->head_end + (size_t) body, next_len = c->head_len - next;
        c->head_len = c->head_end = 0;
        if (c->body.done)
                next_keep(c, c->head + next, next_len);
        c->upq = request;
        c->up += c->upq_len;
        if (c->upstream_tls_up)
                send_request(c);
}

static void intercept_pump_client(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;

        if (c->state != PCONN_INTERCEPT)
                return;
        if (!c->client_tls_up) {
                int r = handshake_step(c, false, &err);
                if (r == -EAGAIN)
                        return;
                if (r < 0) {
                        (void) snprintf(c->error, sizeof(c->error), "TLS from the jail: %s", err.msg);
                        conn_close(c);
                        return;
                }
                c->client_tls_up = true;
                if (c->upstream_failed) {
                        reply_error(c, 502, "Bad Gateway", c->error,
                                    "brig: the upstream's TLS connection failed");
                        return;
                }
        }
        while (!c->request_sent) {
                /* What follows the head waits in the TLS end until the request is on its way. */
                if (c->upq)
                        return;
                ssize_t n = brig_tls_conn_read(c->tls_client, c->head + c->head_len,
                                               BRIG_PROXY_HEADER_MAX - c->head_len, &err);
                if (n == -EAGAIN) {
                        read_on(c, false);
                        return;
                }
                if (n <= 0) {
                        conn_close(c);
                        return;
                }
                if (head_add(c, (size_t) n)) {
                        intercept_head(c);
                        if (c->state != PCONN_INTERCEPT)
                                return;
                } else if (c->head_len == BRIG_PROXY_HEADER_MAX) {
                        reply_error(c, 431, "Request Header Fields Too Large", "bad request",
                                    "brig: request headers too large");
                        return;
                }
        }
        if (c->body.done)
                next_read(c);
        else
                tls_forward(c, false);
}

static void intercept_pump_upstream(pconn *c) {
        brig_error err = BRIG_ERROR_INIT;

        if (c->state != PCONN_INTERCEPT)
                return;
        if (!c->upstream_tls_up) {
                int r = handshake_step(c, true, &err);
                if (r == -EAGAIN)
                        return;
                if (r < 0) {
                        upstream_tls_failed(c, err.msg);
                        return;
                }
                c->upstream_tls_up = true;
                if (c->upq) {
                        send_request(c);
                        intercept_pump_client(c);
                }
                if (c->state != PCONN_INTERCEPT)
                        return;
        }
        tls_forward(c, true);
}

/* The timer ran out before the request went upstream: the jail's handshake or its request's head did not
 * come, or the upstream's handshake did not end (answered inside the jail's TLS when it is up). */
static void intercept_timed_out(pconn *c) {
        if (!c->client_tls_up || c->upq == NULL) {
                (void) snprintf(c->error, sizeof(c->error), "%s timed out",
                                c->client_tls_up ? "the request's head" : "TLS from the jail: handshake");
                conn_close(c);
                return;
        }
        (void) snprintf(c->error, sizeof(c->error), "TLS to the upstream: handshake timed out");
        reply_error(c, 504, "Gateway Timeout", c->error, "brig: the upstream did not answer in time");
}

/* Connected to the upstream: the 200, then both handshakes (the jail's may have begun already). */
static void intercept_start(pconn *c) {
        static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        brig_error err = BRIG_ERROR_INIT;
        size_t early = c->head_len - c->head_end;
        chunk *k = malloc(sizeof(*k) + sizeof(established));

        c->state = PCONN_INTERCEPT;
        /* Both handshakes and the request's head in the same time as a CONNECT's: a client that never
         * handshakes holds no connection (and no upstream's) beyond it. */
        (void) uv_timer_start(&c->timer, timer_cb, BRIG_PROXY_HEADER_TIMEOUT_MS, 0);
        if (!k || brig_tls_conn_new(c->leaf, NULL, &c->tls_client, &err) < 0 ||
            brig_tls_conn_new(c->p->env->w->upstream_tls, c->host, &c->tls_upstream, &err) < 0 ||
            brig_tls_conn_feed(c->tls_client, c->head + c->head_end, early, &err) < 0) {
                free(k);
                (void) snprintf(c->error, sizeof(c->error), "TLS interception: %s",
                                err.msg[0] ? err.msg : "out of memory");
                reply_error(c, 502, "Bad Gateway", c->error, "brig: TLS interception failed");
                return;
        }
        c->head_len = c->head_end = 0;
        memcpy(k->data, established, sizeof(established));
        k->c = c;
        uv_buf_t b = uv_buf_init(k->data, sizeof(established) - 1);
        if (uv_write(&k->req, side_stream(c, false), &b, 1, tls_written_cb) < 0) {
                free(k);
                conn_close(c);
                return;
        }
        c->pending++;
        intercept_pump_upstream(c);
        intercept_pump_client(c);
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
                maybe_free(c);
                return;
        }
        if (status < 0) {
                upstream_failed(c, status);
                return;
        }
        c->error[0] = 0;
        if (c->intercept)
                intercept_start(c);
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
                reply_error(c, 502, "Bad Gateway", c->error[0] ? c->error : "no address to connect to",
                            "brig: the upstream could not be reached");
                return;
        }
        struct sockaddr_storage *sa = &c->addrs[c->next_addr++];
        format_address((struct sockaddr *) sa, c->address, sizeof(c->address));
        if ((r = uv_tcp_init(env->w->loop, &c->upstream.tcp)) < 0) {
                reply_error(c, 502, "Bad Gateway", uv_strerror(r),
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
                deny(c, false);
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
                maybe_free(c);
                return;
        }
        if (status < 0) {
                (void) snprintf(c->error, sizeof(c->error), "resolve: %s", uv_strerror(status));
                uv_freeaddrinfo(res);
                reply_error(c, 502, "Bad Gateway", c->error, "brig: the upstream could not be reached");
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
                reply_error(c, 502, "Bad Gateway", c->error, "brig: the upstream could not be reached");
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

/* A CONNECT to a secret's host is intercepted with a certificate for exactly that host from the
 * environment's CA (worker/proxy_ca.h), or refused: never tunnelled without the credential. */
static bool intercept_prepare(pconn *c) {
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
        deny(c, false);
        return false;
}

/* network.secrets (worker/proxy_secrets.h), before the allow/deny decision so that a placeholder sent
 * anywhere else is refused and audited as such: a placeholder for another host refuses the request; a
 * CONNECT to a secret's host is intercepted, or refused if it cannot be; otherwise (a plain HTTP request,
 * or the request inside an intercepted connection) the header lines are rewritten for the upstream. */
static bool secrets_refused(pconn *c, const char *lines) {
        const brig_proxy_secrets *s = c->p->env->secrets;
        brig_proxy_rewrite rw;
        size_t i;
        int r;

        if (!s || s->n == 0)
                return false;
        if (brig_proxy_secrets_scan(s, c->host, c->head, c->head_end, &i) < 0) {
                placeholder_refused(c, i);
                deny(c, false);
                return true;
        }
        /* The CONNECT itself; its requests come here again once inside (intercept_head()). */
        if (c->tunnel && !c->client_tls_up) {
                if (brig_proxy_secrets_for_host(s, c->host, &i) < 0)
                        return false;
                return !intercept_prepare(c);
        }
        /* Without the final blank line. */
        r = brig_proxy_secrets_rewrite(s, c->host, c->head, c->head_end, lines,
                                       (size_t) (c->head + c->head_end - 2 - lines), &rw);
        if (r == -ENOKEY) {
                (void) snprintf(c->reason, sizeof(c->reason), "%s", s->items[rw.secret].error);
                deny(c, false);
                return true;
        }
        if (r < 0) {
                reply_error(c, 503, "Service Unavailable", "out of memory", "brig: out of memory");
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
                reply_error(c, 400, "Bad Request", "bad request", "brig: not an HTTP/1.x proxy request");
                return;
        }
        const char *target = sp1 + 1;
        size_t target_len = (size_t) (sp2 - target);
        c->tunnel = (size_t) (sp1 - p) == 7 && strncmp(p, "CONNECT", 7) == 0;
        const char *authority = target;
        size_t authority_len = target_len;
        if (!c->tunnel) {
                if (target_len < 7 || strncasecmp(target, "http://", 7) != 0) {
                        reply_error(c, 400, "Bad Request", "bad request",
                                    "brig: expected CONNECT host:port or an absolute http:// URL");
                        return;
                }
                authority = target + 7;
                authority_len = strcspn(authority, "/?# ");
                if (authority + authority_len > sp2)
                        authority_len = (size_t) (sp2 - authority);
                c->path = authority + authority_len;
                c->path_len = (size_t) (sp2 - c->path);
                /* "http://h" or "http://h?q": build_request() puts the leading slash of origin form. */
        }
        if (authority_len >= sizeof(c->authority) ||
            !split_authority(authority, authority_len, c->tunnel ? 0 : 80, raw_host, sizeof(raw_host),
                             &c->port) ||
            !brig_net_host_normalize(raw_host, c->host, sizeof(c->host))) {
                reply_error(c, 400, "Bad Request", "bad request",
                            "brig: invalid host or port in the request target");
                return;
        }
        memcpy(c->authority, authority, authority_len);
        c->authority[authority_len] = 0;

        attribute(c);
        c->usage = usage_get(c->p, c->call_id);
        if (!c->usage) {
                reply_error(c, 503, "Service Unavailable", "out of memory", "brig: out of memory");
                return;
        }
        if (c->over_limit) {
                (void) snprintf(c->reason, sizeof(c->reason),
                                "network.max_connections (%" PRIu32 ") reached in this environment",
                                policy_of(c->p)->network.max_connections);
                deny(c, true);
                return;
        }
        if (secrets_refused(c, line_end + 1))
                return;
        if (!brig_net_decide(policy_of(c->p), c->host, c->port, c->reason)) {
                deny(c, false);
                return;
        }
        c->allowed = true;
        resolve(c);
}

/* n more bytes of a head in c->head: whether it is complete (c->head_end then set). */
static bool head_add(pconn *c, size_t n) {
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
                conn_close(c);
                return;
        }
        if (head_add(c, (size_t) n)) {
                head_complete(c);
                return;
        }
        if (c->head_len == BRIG_PROXY_HEADER_MAX)
                reply_error(c, 431, "Request Header Fields Too Large", "bad request",
                            "brig: request headers too large");
}

static void timer_cb(uv_timer_t *t) {
        pconn *c = t->data;

        if (c->state == PCONN_HEAD)
                conn_close(c);
        else if (c->state == PCONN_INTERCEPT && !c->request_sent)
                intercept_timed_out(c);
        else if (c->state == PCONN_RESOLVING || c->state == PCONN_CONNECTING) {
                (void) snprintf(c->error, sizeof(c->error), "%s timed out",
                                c->state == PCONN_RESOLVING ? "resolve" : "connect");
                reply_error(c, 504, "Gateway Timeout", c->error,
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
                conn_close(c);
                return;
        }
        if (p->n_active >= policy_of(p)->network.max_connections) {
                c->over_limit = true;
                p->n_over++;
                /* Beyond what is worth answering: just close. */
                if (p->n_over > BRIG_PROXY_OVER_LIMIT) {
                        conn_close(c);
                        return;
                }
        } else
                p->n_active++;
        (void) uv_tcp_nodelay(&c->client.tcp, 1);
        (void) uv_timer_start(&c->timer, timer_cb, BRIG_PROXY_HEADER_TIMEOUT_MS, 0);
        if (uv_read_start((uv_stream_t *) &c->client.tcp, head_alloc_cb, head_read_cb) < 0)
                conn_close(c);
}

static void listener_closed_cb(uv_handle_t *h) {
        brig_proxy *p = h->data;
        brig_closep(&p->diag_fd);
        free(p);
}

/* network.secrets: the placeholders once per environment, the values again at each start (a rotated
 * file or variable is taken then). Failures stay with the secrets: calls then fail closed
 * (brig__proxy_secrets_check()). */
static void secrets_start(brig_env *env) {
        const brig_net_policy *n = env->policy->policy->network.net;
        brig_error err = BRIG_ERROR_INIT;

        /* A reload changed the policy: secrets of the same name keep their placeholders. */
        if (env->secrets && env->secrets->net != n) {
                brig_proxy_secrets *now = NULL;
                if (n && n->n_secrets > 0 && brig_proxy_secrets_new(n, env->secrets, &now, &err) < 0)
                        log_error("environment %s: network.secrets: %s", env->id, err.msg);
                brig_proxy_secrets_free(env->secrets);
                env->secrets = now;
        }
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
                conn_close(c);
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
