/* SPDX-License-Identifier: MIT */
/* The egress rules of proxy-mode environments: parsing the host:port rules and refused CIDRs of a policy's
 * `network` section, and deciding a destination against them (see netpolicy.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"

void brig_net_policy_free(brig_net_policy *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_secrets; i++) {
                free(n->secrets[i].hosts);
                free(n->secrets[i].source_ref);
                free(n->secrets[i].header);
        }
        free(n->secrets);
        free(n->allow);
        free(n->deny);
        free(n->ports);
        free(n->allow_private);
        free(n);
}

static bool label_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A host name in lower case: labels of 1 to 63 letters, digits, "-" or "_", not starting or ending with
 * "-"; at most 253 bytes. The last label must not be numeric: resolvers would read "127.1" or "0x7f.1" as
 * an address. */
static bool name_ok(const char *s) {
        size_t n = strlen(s), label = 0;
        const char *last = s;

        if (n == 0 || n > BRIG_NET_HOST_MAX)
                return false;
        for (size_t i = 0; i <= n; i++) {
                if (s[i] == '.' || s[i] == 0) {
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                        if (s[i] == '.')
                                last = s + i + 1;
                        continue;
                }
                if (!label_char(s[i]))
                        return false;
                label++;
        }
        bool numeric = true;
        for (const char *q = last; *q; q++)
                numeric = numeric && isdigit((unsigned char) *q);
        return !numeric && strncmp(last, "0x", 2) != 0;
}

static void lower(char *s) {
        for (; *s; s++)
                *s = (char) tolower((unsigned char) *s);
}

static bool parse_port(const char *s, uint16_t *ret) {
        unsigned long v = 0;

        if (!*s || strlen(s) > 5)
                return false;
        for (const char *q = s; *q; q++) {
                if (!isdigit((unsigned char) *q))
                        return false;
                v = v * 10 + (unsigned long) (*q - '0');
        }
        if (v == 0 || v > 65535)
                return false;
        *ret = (uint16_t) v;
        return true;
}

bool brig_net_rule_parse(const char *s, brig_net_rule *ret, char *why, size_t why_size) {
        char buf[BRIG_NET_HOST_MAX + 16], *host = buf, *port = NULL;
        brig_net_rule r = {0};
        size_t colons = 0;

        if (strlen(s) >= sizeof(buf)) {
                (void) snprintf(why, why_size, "longer than %d bytes", (int) sizeof(buf) - 1);
                return false;
        }
        (void) snprintf(r.text, sizeof(r.text), "%s", s);
        strcpy(buf, s);
        lower(buf);
        for (const char *q = buf; *q; q++)
                colons += *q == ':';
        if (buf[0] == '[') {
                char *end = strchr(buf, ']');
                if (!end || (end[1] && end[1] != ':')) {
                        (void) snprintf(why, why_size, "expected [IPV6] or [IPV6]:PORT");
                        return false;
                }
                *end = 0;
                host = buf + 1;
                port = end[1] ? end + 2 : NULL;
                if (inet_pton(AF_INET6, host, r.addr) != 1) {
                        (void) snprintf(why, why_size, "expected an IPv6 address in brackets");
                        return false;
                }
                r.kind = BRIG_NET_IPV6;
        } else if (colons >= 2) {
                if (inet_pton(AF_INET6, buf, r.addr) != 1) {
                        (void) snprintf(why, why_size,
                                        "expected an IPv6 address (write [ADDR]:PORT for a port)");
                        return false;
                }
                r.kind = BRIG_NET_IPV6;
        } else {
                if ((port = strchr(buf, ':')))
                        *port++ = 0;
                if (strlen(host) > 1 && host[strlen(host) - 1] == '.')
                        host[strlen(host) - 1] = 0;
                if (inet_pton(AF_INET, host, r.addr) == 1)
                        r.kind = BRIG_NET_IPV4;
                else if (strncmp(host, "*.", 2) == 0 && name_ok(host + 2) && strchr(host + 2, '*') == NULL) {
                        r.kind = BRIG_NET_WILDCARD;
                        host += 2;
                } else if (name_ok(host))
                        r.kind = BRIG_NET_NAME;
                else {
                        (void) snprintf(why, why_size,
                                        strchr(host, '*')
                                                ? "a wildcard may only be a leading \"*.\" label"
                                                : "expected a host name, *.DOMAIN or an IP address");
                        return false;
                }
        }
        if (port && !parse_port(port, &r.port)) {
                (void) snprintf(why, why_size, "expected a port from 1 to 65535 after \":\"");
                return false;
        }
        (void) snprintf(r.host, sizeof(r.host), "%s", host);
        *ret = r;
        return true;
}

bool brig_net_cidr_parse(const char *s, brig_net_cidr *ret, char *why, size_t why_size) {
        char buf[64];
        brig_net_cidr c = {0};
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);

        if (n >= sizeof(buf)) {
                (void) snprintf(why, why_size, "expected ADDRESS or ADDRESS/PREFIX");
                return false;
        }
        memcpy(buf, s, n);
        buf[n] = 0;
        if (inet_pton(AF_INET, buf, c.addr) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, buf, c.addr) == 1)
                c.family = AF_INET6;
        else {
                (void) snprintf(why, why_size, "expected an IPv4 or IPv6 address, optionally with /PREFIX");
                return false;
        }
        unsigned max = c.family == AF_INET ? 32 : 128;
        c.prefix = max;
        if (slash) {
                char *end;
                unsigned long v = strtoul(slash + 1, &end, 10);
                if (!isdigit((unsigned char) slash[1]) || *end || v > max) {
                        (void) snprintf(why, why_size, "expected a prefix length from 0 to %u after \"/\"",
                                        max);
                        return false;
                }
                c.prefix = (unsigned) v;
        }
        for (unsigned bit = c.prefix; bit < max; bit++)
                if (c.addr[bit / 8] & (0x80 >> (bit % 8))) {
                        (void) snprintf(why, why_size, "host bits are set after /%u", c.prefix);
                        return false;
                }
        (void) snprintf(c.text, sizeof(c.text), "%s", s);
        *ret = c;
        return true;
}

bool brig_net_host_normalize(const char *in, char *out, size_t out_size) {
        char buf[BRIG_NET_HOST_MAX + 2];
        uint8_t a[16];
        size_t n = strlen(in);

        if (n == 0 || n >= sizeof(buf))
                return false;
        if (in[0] == '[') {
                if (in[n - 1] != ']' || n - 2 >= sizeof(buf))
                        return false;
                memcpy(buf, in + 1, n - 2);
                buf[n - 2] = 0;
                return inet_pton(AF_INET6, buf, a) == 1 && inet_ntop(AF_INET6, a, out, (socklen_t) out_size);
        }
        strcpy(buf, in);
        lower(buf);
        if (inet_pton(AF_INET6, buf, a) == 1)
                return inet_ntop(AF_INET6, a, out, (socklen_t) out_size) != NULL;
        if (n > 1 && buf[n - 1] == '.')
                buf[n - 1] = 0;
        if (inet_pton(AF_INET, buf, a) == 1)
                return inet_ntop(AF_INET, a, out, (socklen_t) out_size) != NULL;
        if (!name_ok(buf) || strlen(buf) >= out_size)
                return false;
        strcpy(out, buf);
        return true;
}

bool brig_net_rule_matches(const brig_net_rule *r, const char *host) {
        uint8_t a[16];

        switch (r->kind) {
        case BRIG_NET_NAME:
                return strcmp(r->host, host) == 0;
        case BRIG_NET_WILDCARD: {
                size_t hl = strlen(host), sl = strlen(r->host);
                return hl > sl + 1 && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, r->host) == 0;
        }
        case BRIG_NET_IPV4:
                return inet_pton(AF_INET, host, a) == 1 && memcmp(a, r->addr, 4) == 0;
        case BRIG_NET_IPV6:
                return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, r->addr, 16) == 0;
        case _BRIG_NET_HOST_KIND_MAX:
        case _BRIG_NET_HOST_KIND_INVALID:
                break;
        }
        return false;
}

bool brig_net_secret_covers(const brig_net_secret *s, const char *host) {
        for (size_t i = 0; i < s->n_hosts; i++)
                if (brig_net_rule_matches(&s->hosts[i], host))
                        return true;
        return false;
}

bool brig_net_decide(const brig_policy *p, const char *host, uint16_t port,
                     char reason[static BRIG_NET_REASON_MAX]) {
        const brig_net_policy *n = p->network.net;
        bool port_listed = false, other_port = false;

        if (p->network.mode != BRIG_NETWORK_PROXY || !n) {
                (void) snprintf(reason, BRIG_NET_REASON_MAX, "the policy has no network access");
                return false;
        }
        for (size_t i = 0; i < n->n_deny; i++)
                if (brig_net_rule_matches(&n->deny[i], host) &&
                    (!n->deny[i].port || n->deny[i].port == port)) {
                        (void) snprintf(reason, BRIG_NET_REASON_MAX,
                                        "denied by network.deny[%zu] \"%.100s\"", i, n->deny[i].text);
                        return false;
                }
        for (size_t i = 0; i < n->n_ports; i++)
                port_listed = port_listed || n->ports[i] == port;
        for (size_t i = 0; i < n->n_allow; i++) {
                const brig_net_rule *r = &n->allow[i];
                if (!brig_net_rule_matches(r, host))
                        continue;
                if (r->port ? r->port == port : port_listed) {
                        (void) snprintf(reason, BRIG_NET_REASON_MAX,
                                        "allowed by network.allow[%zu] \"%.100s\"", i, r->text);
                        return true;
                }
                other_port = true;
        }
        if (other_port)
                (void) snprintf(reason, BRIG_NET_REASON_MAX, "port %u is not allowed for this host", port);
        else
                (void) snprintf(reason, BRIG_NET_REASON_MAX, "not in network.allow");
        return false;
}

static bool in_cidr(const brig_net_cidr *c, int family, const uint8_t *a) {
        if (c->family != family)
                return false;
        unsigned full = c->prefix / 8, rest = c->prefix % 8;
        if (memcmp(a, c->addr, full) != 0)
                return false;
        return rest == 0 || ((a[full] ^ c->addr[full]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

/* What special range an IPv4 address is in, or NULL for a public one. */
static const char *v4_range(const uint8_t *a) {
        uint32_t x = (uint32_t) a[0] << 24 | (uint32_t) a[1] << 16 | (uint32_t) a[2] << 8 | a[3];
        static const struct {
                uint32_t net;
                unsigned prefix;
                const char *name;
        } ranges[] = {
                {0xa9fea9fe, 32, "a cloud metadata address"},
                {0x00000000, 8, "an unspecified (\"this network\") address"},
                {0x0a000000, 8, "a private address"},
                {0x64400000, 10, "a shared (carrier-grade NAT) address"},
                {0x7f000000, 8, "a loopback address"},
                {0xa9fe0000, 16, "a link-local address"},
                {0xac100000, 12, "a private address"},
                {0xc0000000, 24, "an IETF protocol address"},
                {0xc0000200, 24, "a documentation address"},
                {0xc0586300, 24, "a 6to4 relay address"},
                {0xc0a80000, 16, "a private address"},
                {0xc6120000, 15, "a benchmarking address"},
                {0xc6336400, 24, "a documentation address"},
                {0xcb007100, 24, "a documentation address"},
                {0xe0000000, 4, "a multicast address"},
                {0xf0000000, 4, "a reserved address"},
        };

        for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
                uint32_t mask = ranges[i].prefix ? ~UINT32_C(0) << (32 - ranges[i].prefix) : 0;
                if ((x & mask) == ranges[i].net)
                        return ranges[i].name;
        }
        return NULL;
}

/* The same for IPv6; *ret_v4 is set to an embedded IPv4 address to check as well (mapped, NAT64, 6to4). */
static const char *v6_range(const uint8_t *a, const uint8_t **ret_v4) {
        static const uint8_t zero[16],
                mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
                nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0},
                metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};

        *ret_v4 = NULL;
        if (memcmp(a, zero, 16) == 0)
                return "an unspecified address";
        if (memcmp(a, zero, 15) == 0 && a[15] == 1)
                return "a loopback address";
        if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
                *ret_v4 = a + 12;
                return NULL;
        }
        if (a[0] == 0x20 && a[1] == 0x02) {
                *ret_v4 = a + 2;
                return NULL;
        }
        if (memcmp(a, metadata, 16) == 0)
                return "a cloud metadata address";
        if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1)
                return "a local NAT64 address";
        if (a[0] == 0x01 && a[1] == 0 && memcmp(a + 2, zero, 6) == 0)
                return "a discard-only address";
        if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
                return "a documentation address";
        if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02)
                return "an IETF protocol address";
        if ((a[0] & 0xfe) == 0xfc)
                return "a unique-local (private) address";
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
                return "a link-local address";
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
                return "a site-local address";
        if (a[0] == 0xff)
                return "a multicast address";
        if (memcmp(a, zero, 12) == 0)
                return "an IPv4-compatible address";
        return NULL;
}

bool brig_net_address_allowed(const brig_policy *p, const struct sockaddr *sa,
                              char reason[static BRIG_NET_REASON_MAX]) {
        const brig_net_policy *n = p->network.net;
        const uint8_t *a, *v4 = NULL;
        const char *range;
        char text[INET6_ADDRSTRLEN] = "?";
        int family = sa->sa_family;

        if (family == AF_INET)
                a = (const uint8_t *) &((const struct sockaddr_in *) sa)->sin_addr;
        else if (family == AF_INET6)
                a = (const uint8_t *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
        else {
                (void) snprintf(reason, BRIG_NET_REASON_MAX, "not an IP address");
                return false;
        }
        (void) inet_ntop(family, a, text, sizeof(text));
        for (size_t i = 0; n && i < n->n_allow_private; i++) {
                const brig_net_cidr *c = &n->allow_private[i];
                if (in_cidr(c, family, a)) {
                        (void) snprintf(reason, BRIG_NET_REASON_MAX,
                                        "%s allowed by network.allow_private[%zu] \"%s\"", text, i, c->text);
                        return true;
                }
        }
        range = family == AF_INET ? v4_range(a) : v6_range(a, &v4);
        if (!range && v4) {
                range = v4_range(v4);
                for (size_t i = 0; range && n && i < n->n_allow_private; i++)
                        if (in_cidr(&n->allow_private[i], AF_INET, v4)) {
                                (void) snprintf(reason, BRIG_NET_REASON_MAX,
                                                "%s allowed by network.allow_private[%zu] \"%s\"", text, i,
                                                n->allow_private[i].text);
                                return true;
                        }
        }
        if (range) {
                (void) snprintf(reason, BRIG_NET_REASON_MAX,
                                "resolves to %s, %s (not in network.allow_private)", text, range);
                return false;
        }
        (void) snprintf(reason, BRIG_NET_REASON_MAX, "%s is a public address", text);
        return true;
}
