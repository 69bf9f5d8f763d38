/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The egress rules of a policy's `network` proxy mode (docs/policy.md): which hosts and ports the worker's
 * proxy may connect to for a jail, and which resolved addresses it must refuse. Pure; any thread. */

typedef struct brig_policy brig_policy;

#define BRIG_NET_REASON_MAX 160
#define BRIG_NET_HOST_MAX 253
#define BRIG_NET_DEFAULT_PROXY_PORT 3128

typedef enum brig_net_host_kind {
        BRIG_NET_NAME,     /* "api.github.com" */
        BRIG_NET_WILDCARD, /* "*.pypi.org": any name below pypi.org, not pypi.org itself */
        BRIG_NET_IPV4,
        BRIG_NET_IPV6,
        _BRIG_NET_HOST_KIND_MAX,
        _BRIG_NET_HOST_KIND_INVALID = -22,
} brig_net_host_kind;

typedef struct brig_net_rule {
        brig_net_host_kind kind;
        char host[BRIG_NET_HOST_MAX + 1];  /* normalized; for WILDCARD the suffix without "*." */
        uint8_t addr[16];                  /* IPV4 (4 bytes), IPV6 */
        uint16_t port;                     /* 0: the policy's ports */
        char text[BRIG_NET_HOST_MAX + 12]; /* as written, for reasons */
} brig_net_rule;

typedef struct brig_net_cidr {
        int family; /* AF_INET or AF_INET6 */
        uint8_t addr[16];
        unsigned prefix;
        char text[64];
} brig_net_cidr;

/* "network.secrets": a credential the proxy adds to requests to its hosts; its value is read by the worker
 * from source when an environment starts and never enters the policy or the jail. */
#define BRIG_NET_SECRET_NAME_MAX 64
#define BRIG_NET_SECRET_PLACEHOLDER_PREFIX "brig-secret-"

typedef enum brig_net_secret_source {
        BRIG_NET_SECRET_FILE, /* {"file": "/abs/path"}: a regular file of the worker's user, mode 0600 or
                                 less */
        BRIG_NET_SECRET_ENV,  /* {"env": "VAR"}: a variable of the worker's environment */
        _BRIG_NET_SECRET_SOURCE_MAX,
        _BRIG_NET_SECRET_SOURCE_INVALID = -22,
} brig_net_secret_source;

typedef struct brig_net_secret {
        char name[BRIG_NET_SECRET_NAME_MAX + 1]; /* an environment variable name, unique in the policy */
        brig_net_rule *hosts;                    /* NAME or WILDCARD rules without a port */
        size_t n_hosts;
        brig_net_secret_source source;
        char *source_ref; /* the file's absolute path or the variable's name */
        char *header;     /* NULL: "placeholder"; else the template "Name: ...{secret}..." */
} brig_net_secret;

typedef struct brig_net_policy {
        brig_net_secret *secrets;
        size_t n_secrets;
        brig_net_rule *allow, *deny;
        size_t n_allow, n_deny;
        uint16_t *ports; /* default 80 and 443 */
        size_t n_ports;
        brig_net_cidr *allow_private;
        size_t n_allow_private;
} brig_net_policy;

void brig_net_policy_free(brig_net_policy *n);

/* Parses one allow/deny entry: NAME, *.SUFFIX, IPV4, IPV6 or [IPV6], each optionally with :PORT
 * ([IPV6]:PORT). false with why set ("expected ...") when malformed. */
bool brig_net_rule_parse(const char *s, brig_net_rule *ret, char *why, size_t why_size);

/* Whether a normalized host is one of the secret's hosts. */
bool brig_net_secret_covers(const brig_net_secret *s, const char *host);

/* Parses "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6); host bits must be zero. */
bool brig_net_cidr_parse(const char *s, brig_net_cidr *ret, char *why, size_t why_size);

/* Normalizes a host from a request (lower case, no trailing dot, IPv6 brackets removed) and checks its
 * form; false when it is not a valid host name or IP literal. Numeric forms other than dotted quads
 * ("127.1", "0x7f.1", "2130706433") are refused: resolvers read them as addresses. */
bool brig_net_host_normalize(const char *in, char *out, size_t out_size);

/* Decides a normalized host and port before any resolution: deny rules win, then allow rules and ports;
 * an IP literal only matches a rule that lists it. */
/* Whether host (normalized, brig_net_host_normalize()) matches r, ports aside: a "*.suffix" rule matches
 * the names below suffix, not suffix itself. */
bool brig_net_rule_matches(const brig_net_rule *r, const char *host);

bool brig_net_decide(const brig_policy *p, const char *host, uint16_t port,
                     char reason[static BRIG_NET_REASON_MAX]);

/* After resolution, for each address: refuses loopback, private, link-local (cloud metadata included),
 * CGNAT, unique-local, multicast, unspecified, reserved and documentation ranges, and IPv4-mapped or
 * NAT64 forms of them, unless network.allow_private covers the address. */
bool brig_net_address_allowed(const brig_policy *p, const struct sockaddr *sa,
                              char reason[static BRIG_NET_REASON_MAX]);
