/* SPDX-License-Identifier: MIT */
#pragma once

/* The proxy's connections, shared by the files of the proxy (worker/proxy.c: accepting, deciding,
 * resolving, connecting, relaying; worker/proxy_intercept.c: TLS interception) and no one else. Loop
 * thread only; none of these log. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "common/handles.h"
#include "sandbox/netpolicy.h"
#include "worker/proxy.h"
#include "worker/proxy_body.h"
#include "worker/proxy_relay.h"
#include "worker/proxy_tls.h"
#include "worker/worker.h"

#define container_of(ptr, type, member) ((type *) (void *) ((char *) (ptr) -offsetof(type, member)))

#define MAX_ADDRS 8

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
         * sent. One carrying another host's is refused (403) once the first's response has ended. Done
         * for every intercepted connection and every plain HTTP one in an environment with secrets. */
        brig_proxy_body body;
        size_t head_body; /* plain HTTP: bytes of the first request's body read with its head */
        bool checked;     /* plain HTTP: the body's end is found and what follows checked */
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

/* Connections (worker/proxy.c). */

/* Closes c's handles (and audits it if allowed); it is freed once they and its requests have called
 * back. Idempotent. */
void brig__pconn_close(pconn *c);
/* Frees c if nothing of it is left open or pending. */
void brig__pconn_maybe_free(pconn *c);
/* Answers with code and status_text, reason (X-Brig-Reason) and text (the body), inside the jail's TLS
 * connection once it is up, then closes. */
void brig__pconn_reply_error(pconn *c, int code, const char *status_text, const char *reason,
                             const char *text);
/* Answers with c->reason: 403, or 503 for a limit; brig__pconn_deny() also audits the refusal. */
void brig__pconn_refusal_reply(pconn *c, bool limit);
void brig__pconn_deny(pconn *c, bool limit);
/* Counts n bytes passed on up (to the upstream) or down against network.max_bytes: false once over it
 * (c->error then says so). */
bool brig__pconn_counted(pconn *c, bool up, size_t n);
/* The request in origin form for the upstream (Connection: close), followed by the first rest bytes the
 * client sent after its headers: -ENOMEM, or *ret (the caller wipes and frees it). */
int brig__pconn_build_request(pconn *c, size_t rest, char **ret, size_t *ret_len);
/* network.secrets for the request in c->head, whose header lines start at lines: true when it was
 * answered (refused, or failed) and c goes no further. */
bool brig__pconn_secrets_refused(pconn *c, const char *lines);
/* Audits secret i's placeholder sent to c's host, not among its hosts; c->reason says so. */
void brig__pconn_placeholder_refused(pconn *c, size_t i);
/* n more bytes of a head in c->head: whether it is complete (c->head_end then set). */
bool brig__pconn_head_add(pconn *c, size_t n);
/* One secret_used per secret that went into the request. */
void brig__pconn_audit_used(pconn *c);
/* The first request's body framing from its header lines (c->body): how many of the bytes after its head
 * in c->head belong to it, or -1 once answered with 400 (ambiguous or malformed framing). */
int64_t brig__pconn_body_start(pconn *c, const char *lines);
/* n bytes after the first request's body: kept in c->head as the next request's head. */
void brig__pconn_next_keep(pconn *c, const char *data, size_t n);
/* Checks the next request in c->head once its head is complete, as large as a head may be, or (force) the
 * client ended: c->next_refused (audited) when it holds a placeholder for another host. Whether it has
 * been checked; the caller then reads the client no more. */
bool brig__pconn_next_check(pconn *c, bool force);

/* Attributes c, whose client socket is accepted, to the call or background process whose process holds
 * its other end (c->call_id, c->process_id); left 0 when it cannot be told. Reads /proc on the loop thread,
 * bounded (worker/proxy_attribution.c). */
void brig__pconn_attribute(pconn *c);

/* TLS interception (worker/proxy_intercept.c). */

/* A CONNECT to a secret's host: its certificate made, true; or refused (answered), false. */
bool brig__intercept_prepare(pconn *c);
/* Connected to the upstream: the 200, then both handshakes and the request. */
void brig__intercept_start(pconn *c);
/* The proxy's own answer inside the jail's TLS connection, then its end. */
void brig__intercept_reply(pconn *c, const char *data, size_t len);
/* Frees what interception holds of c (wiping the request). */
void brig__intercept_done(pconn *c);
