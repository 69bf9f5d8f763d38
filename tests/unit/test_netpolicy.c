/* SPDX-License-Identifier: MIT */
/* The network proxy's rules: parsing allow/deny entries and CIDRs, normalizing requested hosts, deciding
 * host:port, and refusing private addresses after resolution. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"

static brig_policy *parse(const char *json) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        if (brig_policy_parse(json, strlen(json), "<inline>", &p, NULL, &err) < 0)
                print_error("%s\n", err.msg);
        assert_non_null(p);
        return p;
}

static void fails(const char *json, const char *msg) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        assert_int_equal(brig_policy_parse(json, strlen(json), "<inline>", &p, NULL, &err), -EINVAL);
        assert_string_equal(err.msg, msg);
}

static void test_net__rules_parse(void **state) {
        (void) state;
        brig_net_rule r;
        char why[128];

        assert_true(brig_net_rule_parse("API.GitHub.com", &r, why, sizeof(why)));
        assert_int_equal(r.kind, BRIG_NET_NAME);
        assert_string_equal(r.host, "api.github.com");
        assert_int_equal(r.port, 0);
        assert_true(brig_net_rule_parse("*.pypi.org", &r, why, sizeof(why)));
        assert_int_equal(r.kind, BRIG_NET_WILDCARD);
        assert_string_equal(r.host, "pypi.org");
        assert_true(brig_net_rule_parse("registry.npmjs.org:443", &r, why, sizeof(why)));
        assert_int_equal(r.port, 443);
        assert_true(brig_net_rule_parse("10.1.2.3:8080", &r, why, sizeof(why)));
        assert_int_equal(r.kind, BRIG_NET_IPV4);
        assert_true(brig_net_rule_parse("[2001:db8::1]:443", &r, why, sizeof(why)));
        assert_int_equal(r.kind, BRIG_NET_IPV6);
        assert_int_equal(r.port, 443);
        assert_true(brig_net_rule_parse("2001:db8::1", &r, why, sizeof(why)));
        assert_int_equal(r.port, 0);

        static const char *const bad[] = {"",           "a..b",       "-a.com",  "a-.com",  "*",
                                          "*.",         "a.*.com",    "**.com",  "host:0",  "host:65536",
                                          "host:x",     "[::1",       "[::1]x",  "[x]:1",   "127.1",
                                          "0x7f.0.0.1", "2130706433", "a b.com", "ex ample"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why[0] = 0;
                if (brig_net_rule_parse(bad[i], &r, why, sizeof(why)))
                        fail_msg("accepted \"%s\"", bad[i]);
                assert_int_not_equal(why[0], 0);
        }
}

static void test_net__cidrs_parse(void **state) {
        (void) state;
        brig_net_cidr c;
        char why[128];

        assert_true(brig_net_cidr_parse("127.0.0.1", &c, why, sizeof(why)));
        assert_int_equal(c.prefix, 32);
        assert_true(brig_net_cidr_parse("10.0.0.0/8", &c, why, sizeof(why)));
        assert_true(brig_net_cidr_parse("fd00::/8", &c, why, sizeof(why)));
        assert_int_equal(c.family, AF_INET6);
        assert_false(brig_net_cidr_parse("10.0.0.1/8", &c, why, sizeof(why)));
        assert_string_equal(why, "host bits are set after /8");
        assert_false(brig_net_cidr_parse("10.0.0.0/33", &c, why, sizeof(why)));
        assert_false(brig_net_cidr_parse("10.0.0.0/", &c, why, sizeof(why)));
        assert_false(brig_net_cidr_parse("example.com/8", &c, why, sizeof(why)));
}

static void test_net__hosts_normalize(void **state) {
        (void) state;
        char out[BRIG_NET_HOST_MAX + 1];

        assert_true(brig_net_host_normalize("Example.COM.", out, sizeof(out)));
        assert_string_equal(out, "example.com");
        assert_true(brig_net_host_normalize("[2001:DB8:0::1]", out, sizeof(out)));
        assert_string_equal(out, "2001:db8::1");
        assert_true(brig_net_host_normalize("127.0.0.1", out, sizeof(out)));
        assert_string_equal(out, "127.0.0.1");
        /* Numeric forms a resolver reads as addresses, and anything not a host. */
        static const char *const bad[] = {"127.1", "0x7f000001", "2130706433", "0177.0.0.1",    "",
                                          "a/b",   "a b",        "[::1",       "exa_mple..com", "-x.com"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (brig_net_host_normalize(bad[i], out, sizeof(out)))
                        fail_msg("accepted \"%s\" as %s", bad[i], out);
}

static void test_net__decide(void **state) {
        (void) state;
        char why[BRIG_NET_REASON_MAX];
        brig_policy *p =
                parse("{\"network\": {\"mode\": \"proxy\", \"allow\": [\"api.github.com\", \"*.pypi.org\", "
                      "\"registry.npmjs.org:443\", \"10.1.2.3\", \"*.corp.example\"], "
                      "\"deny\": [\"evil.pypi.org\", \"secret.corp.example:443\"], \"ports\": [443, 80]}}");

        assert_true(brig_net_decide(p, "api.github.com", 443, why));
        assert_string_equal(why, "allowed by network.allow[0] \"api.github.com\"");
        assert_true(brig_net_decide(p, "files.pypi.org", 80, why));
        assert_true(brig_net_decide(p, "a.b.pypi.org", 443, why));
        assert_false(brig_net_decide(p, "pypi.org", 443, why));
        assert_string_equal(why, "not in network.allow");
        assert_false(brig_net_decide(p, "evilpypi.org", 443, why));
        assert_false(brig_net_decide(p, "evil.pypi.org", 443, why));
        assert_string_equal(why, "denied by network.deny[0] \"evil.pypi.org\"");
        assert_false(brig_net_decide(p, "api.github.com", 22, why));
        assert_string_equal(why, "port 22 is not allowed for this host");
        /* A rule's own port is the only one for that rule. */
        assert_true(brig_net_decide(p, "registry.npmjs.org", 443, why));
        assert_false(brig_net_decide(p, "registry.npmjs.org", 80, why));
        /* IP literals match only rules that list them; names never match address rules. */
        assert_true(brig_net_decide(p, "10.1.2.3", 443, why));
        assert_false(brig_net_decide(p, "140.82.112.5", 443, why));
        /* A deny rule with a port denies only that port. */
        assert_false(brig_net_decide(p, "secret.corp.example", 443, why));
        assert_true(brig_net_decide(p, "secret.corp.example", 80, why));
        brig_policy_free(p);

        p = parse("{}");
        assert_false(brig_net_decide(p, "api.github.com", 443, why));
        assert_string_equal(why, "the policy has no network access");
        brig_policy_free(p);
}

static bool allowed(const brig_policy *p, const char *addr, char why[static BRIG_NET_REASON_MAX]) {
        struct sockaddr_in a4 = {.sin_family = AF_INET};
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1)
                return brig_net_address_allowed(p, (struct sockaddr *) &a4, why);
        assert_int_equal(inet_pton(AF_INET6, addr, &a6.sin6_addr), 1);
        return brig_net_address_allowed(p, (struct sockaddr *) &a6, why);
}

static void test_net__addresses_after_resolution(void **state) {
        (void) state;
        char why[BRIG_NET_REASON_MAX];
        brig_policy *p = parse("{\"network\": {\"mode\": \"proxy\", \"allow\": [\"x.test\"], "
                               "\"allow_private\": [\"127.0.0.1\", \"10.20.0.0/16\", \"fd12::/16\"]}}");
        static const char *const refused[] = {
                "10.0.0.1",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.1.1",
                "127.0.0.2",
                "169.254.169.254",
                "169.254.1.1",
                "100.64.0.1",
                "0.0.0.0",
                "224.0.0.1",
                "255.255.255.255",
                "192.0.2.1",
                "::1",
                "::",
                "fe80::1",
                "fd00:ec2::254",
                "fc00::1",
                "ff02::1",
                "::ffff:10.0.0.1",
                "64:ff9b::a00:1",
                "2002:a00:1::",
                "2001:db8::1",
                "::ffff:169.254.169.254",
        };

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                if (allowed(p, refused[i], why))
                        fail_msg("allowed %s: %s", refused[i], why);
        assert_false(allowed(p, "169.254.169.254", why));
        assert_string_equal(why, "resolves to 169.254.169.254, a cloud metadata address (not in "
                                 "network.allow_private)");
        assert_true(allowed(p, "127.0.0.1", why));
        assert_string_equal(why, "127.0.0.1 allowed by network.allow_private[0] \"127.0.0.1\"");
        assert_true(allowed(p, "10.20.3.4", why));
        assert_true(allowed(p, "::ffff:10.20.3.4", why));
        assert_true(allowed(p, "fd12::5", why));
        assert_true(allowed(p, "140.82.112.5", why));
        assert_string_equal(why, "140.82.112.5 is a public address");
        assert_true(allowed(p, "2606:4700::1111", why));
        assert_true(allowed(p, "172.32.0.1", why));
        brig_policy_free(p);
}

static void test_net__policy_errors(void **state) {
        (void) state;
        brig_policy *p = parse("{\"network\": {\"mode\": \"proxy\"}}");
        assert_int_equal(p->network.mode, BRIG_NETWORK_PROXY);
        assert_int_equal(p->network.net->n_ports, 2);
        assert_int_equal(p->network.proxy_port, 3128);
        assert_int_equal(p->network.max_connections, 64);
        assert_int_equal(p->network.max_bytes, 1ULL << 30);
        brig_policy_free(p);
        p = parse("{\"network\": {\"mode\": \"none\"}}");
        assert_int_equal(p->network.mode, BRIG_NETWORK_NONE);
        brig_policy_free(p);

        fails("{\"network\": \"all\"}",
              "network: expected \"none\" or an object with \"mode\": \"proxy\", got \"all\"");
        fails("{\"network\": {\"allow\": []}}", "network.mode: required: \"proxy\" or \"none\"");
        fails("{\"network\": {\"mode\": \"open\"}}",
              "network.mode: expected \"proxy\" or \"none\", got \"open\"");
        fails("{\"network\": {\"mode\": \"none\", \"allow\": []}}",
              "network: with \"mode\": \"none\" no other field applies");
        fails("{\"network\": {\"mode\": \"proxy\", \"allow\": [\"a.*.com\"]}}",
              "network.allow[0]: a wildcard may only be a leading \"*.\" label, got \"a.*.com\"");
        fails("{\"network\": {\"mode\": \"proxy\", \"deny\": [7]}}",
              "network.deny[0]: expected a host, *.domain or IP address, got number");
        fails("{\"network\": {\"mode\": \"proxy\", \"ports\": [443, 443]}}",
              "network.ports[1]: port 443 is listed twice");
        fails("{\"network\": {\"mode\": \"proxy\", \"ports\": [0]}}",
              "network.ports[0]: expected an integer from 1 to 65535");
        fails("{\"network\": {\"mode\": \"proxy\", \"allow_private\": [\"10.0.0.1/8\"]}}",
              "network.allow_private[0]: host bits are set after /8, got \"10.0.0.1/8\"");
        fails("{\"network\": {\"mode\": \"proxy\", \"max_connections\": 0}}",
              "network.max_connections: expected an integer from 1 to 4096");
        fails("{\"network\": {\"mode\": \"proxy\", \"proxy_port\": 80}}",
              "network.proxy_port: expected an integer from 1024 to 65535");
        fails("{\"network\": {\"mode\": \"proxy\", \"dns\": true}}", "network.dns: unknown field");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_net__rules_parse),
                cmocka_unit_test(test_net__cidrs_parse),
                cmocka_unit_test(test_net__hosts_normalize),
                cmocka_unit_test(test_net__decide),
                cmocka_unit_test(test_net__addresses_after_resolution),
                cmocka_unit_test(test_net__policy_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
