/* SPDX-License-Identifier: MIT */
/* "network.secrets" of a proxy-mode policy: which credentials the worker's proxy adds to requests, for which
 * hosts, where the worker reads each value and how it is injected. Pure: the values are never read here,
 * only the shape of their sources checked (docs/policy.md, "Secrets"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "sandbox/netpolicy.h"
#include "sandbox/policy_internal.h"

#define MAX_SECRETS 64
#define MAX_SECRET_HOSTS 64
#define MAX_HEADER_BYTES 1024
#define SECRET_MARK "{secret}"

/* An HTTP header name: RFC 9110 token characters. */
static bool header_name_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "Header-Name: text {secret} text": one header, the mark exactly once in its value, no control character
 * but tab (a CR or LF would let the template write a second header or end the request). */
static bool header_template_ok(const char *s, const char **ret_why) {
        const char *colon = strchr(s, ':'), *mark = strstr(s, SECRET_MARK);

        if (strlen(s) > MAX_HEADER_BYTES)
                return *ret_why = "longer than 1024 bytes", false;
        for (const char *q = s; *q; q++)
                if ((unsigned char) *q < 0x20 ? *q != '\t' : *q == 0x7f)
                        return *ret_why = "contains a control character (CR, LF, ...)", false;
        if (!colon || colon == s)
                return *ret_why = "expected \"Header-Name: ...{secret}...\"", false;
        for (const char *q = s; q < colon; q++)
                if (!header_name_char(*q))
                        return *ret_why = "the header name has a character other than a token's", false;
        /* The proxy writes these itself (Host, Connection) or frames the request by what the client sent
         * (Content-Length, Transfer-Encoding): a template of one would make the upstream read another
         * request than the one checked. Proxy-* never leaves the proxy. */
        static const char *const own[] = {"host",  "content-length", "transfer-encoding", "connection",
                                          "te",    "trailer",        "upgrade",           "keep-alive",
                                          "proxy-"};
        size_t name_len = (size_t) (colon - s);
        for (size_t i = 0; i < sizeof(own) / sizeof(*own); i++) {
                size_t n = strlen(own[i]);
                bool prefix = own[i][n - 1] == '-';
                if ((prefix ? name_len >= n : name_len == n) && strncasecmp(s, own[i], n) == 0)
                        return *ret_why = "the header is one the proxy writes or frames the request by",
                               false;
        }
        if (!mark || mark < colon || strstr(mark + 1, SECRET_MARK))
                return *ret_why = "the header value must contain {secret} exactly once", false;
        return true;
}

/* A wildcard or name host is allowed by network.allow at some port the proxy would open: the policy's ports
 * or a port an allow rule names. A wildcard is probed with a name below it. */
static bool host_allowed(const brig_policy *p, const brig_net_rule *h) {
        const brig_net_policy *n = p->network.net;
        char host[BRIG_NET_HOST_MAX + 32], reason[BRIG_NET_REASON_MAX];

        (void) snprintf(host, sizeof(host), "%s%s", h->kind == BRIG_NET_WILDCARD ? "brig-probe." : "",
                        h->host);
        for (size_t i = 0; i < n->n_ports; i++)
                if (brig_net_decide(p, host, n->ports[i], reason))
                        return true;
        for (size_t i = 0; i < n->n_allow; i++)
                if (n->allow[i].port && brig_net_decide(p, host, n->allow[i].port, reason))
                        return true;
        return false;
}

static void parse_hosts(brig__policy_ctx *c, const cJSON *arr, const char *path, const brig_policy *p,
                        brig_net_secret *s) {
        size_t n = brig__policy_array_len(c, arr, path, MAX_SECRET_HOSTS);
        const cJSON *it = arr && n ? arr->child : NULL;
        char ipath[PATHBUF], why[128], q[QUOTEBUF];

        if (arr && cJSON_IsArray(arr) && n == 0)
                (void) brig__policy_problem(c, path, "expected at least one host");
        if (!(s->hosts = calloc(n + 1, sizeof(*s->hosts)))) {
                c->oom = true;
                return;
        }
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                brig_net_rule *h = &s->hosts[s->n_hosts];
                brig__policy_path_index(ipath, path, i);
                if (!brig__policy_check_type(c, ipath, it, cJSON_IsString(it), "a host name or *.domain"))
                        continue;
                if (!brig_net_rule_parse(it->valuestring, h, why, sizeof(why)))
                        (void) brig__policy_problem(c, ipath, "%s, got %s", why,
                                                    brig__policy_quote(q, it->valuestring));
                else if ((h->kind != BRIG_NET_NAME && h->kind != BRIG_NET_WILDCARD) || h->port)
                        (void) brig__policy_problem(
                                c, ipath, "expected a host name or *.domain without a port, got %s",
                                brig__policy_quote(q, it->valuestring));
                else if (!host_allowed(p, h))
                        (void) brig__policy_problem(c, ipath, "%s is not allowed by network.allow",
                                                    brig__policy_quote(q, it->valuestring));
                else
                        s->n_hosts++;
        }
}

/* {"file": "/abs/path"} or {"env": "VAR"}: where the worker reads the value; never the value itself. */
static void parse_source(brig__policy_ctx *c, const cJSON *it, const char *path, brig_net_secret *s) {
        static const char *const keys[] = {"file", "env", NULL};
        const cJSON *file, *env;
        char kpath[PATHBUF], q[QUOTEBUF];

        if (!brig__policy_check_type(c, path, it, cJSON_IsObject(it),
                                     "{\"file\": \"/absolute/path\"} or {\"env\": \"VARIABLE\"}"))
                return;
        brig__policy_check_keys(c, it, path, keys);
        file = brig_json_member(it, "file");
        env = brig_json_member(it, "env");
        if (!file == !env) {
                (void) brig__policy_problem(c, path, "expected exactly one of \"file\" and \"env\"");
                return;
        }
        if (file) {
                brig__policy_path_key(kpath, path, "file");
                if (!brig__policy_check_type(c, kpath, file, cJSON_IsString(file), "an absolute path"))
                        return;
                if (file->valuestring[0] != '/' || strlen(file->valuestring) > MAX_PATH_BYTES)
                        (void) brig__policy_problem(c, kpath, "expected an absolute path, got %s",
                                                    brig__policy_quote(q, file->valuestring));
                else if ((s->source_ref = brig__policy_xstrdup(c, file->valuestring)))
                        s->source = BRIG_NET_SECRET_FILE;
                return;
        }
        brig__policy_path_key(kpath, path, "env");
        if (!brig__policy_check_type(c, kpath, env, cJSON_IsString(env), "an environment variable name"))
                return;
        if (!brig__policy_charset_ok(env->valuestring, "_", MAX_ENV_NAME_BYTES) ||
            (env->valuestring[0] >= '0' && env->valuestring[0] <= '9'))
                (void) brig__policy_problem(c, kpath, "expected an environment variable name, got %s",
                                            brig__policy_quote(q, env->valuestring));
        else if ((s->source_ref = brig__policy_xstrdup(c, env->valuestring)))
                s->source = BRIG_NET_SECRET_ENV;
}

static void parse_secret(brig__policy_ctx *c, const cJSON *it, const char *path, brig_policy *p,
                         brig_net_secret *s) {
        static const char *const keys[] = {"name", "hosts", "source", "inject", NULL};
        const brig_net_policy *n = p->network.net;
        const cJSON *name, *inject, *source;
        char kpath[PATHBUF], q[QUOTEBUF];
        const char *why = NULL;

        if (!brig__policy_check_type(c, path, it, cJSON_IsObject(it), "an object"))
                return;
        brig__policy_check_keys(c, it, path, keys);
        brig__policy_path_key(kpath, path, "name");
        if (!(name = brig_json_member(it, "name")))
                (void) brig__policy_problem(c, kpath, "required: the variable name of the secret");
        else if (brig__policy_check_type(c, kpath, name, cJSON_IsString(name), "a variable name")) {
                bool dup = false;
                for (size_t i = 0; i < n->n_secrets; i++)
                        dup = dup || strcmp(n->secrets[i].name, name->valuestring) == 0;
                if (!brig__policy_charset_ok(name->valuestring, "_", BRIG_NET_SECRET_NAME_MAX) ||
                    (name->valuestring[0] >= '0' && name->valuestring[0] <= '9'))
                        (void) brig__policy_problem(
                                c, kpath,
                                "expected a variable name (letters, digits, _; at most 64 "
                                "bytes), got %s",
                                brig__policy_quote(q, name->valuestring));
                else if (dup)
                        (void) brig__policy_problem(c, kpath, "secret %s is listed twice",
                                                    brig__policy_quote(q, name->valuestring));
                else
                        strcpy(s->name, name->valuestring);
        }
        brig__policy_path_key(kpath, path, "hosts");
        if (!brig_json_member(it, "hosts"))
                (void) brig__policy_problem(c, kpath, "required: the hosts the secret is sent to");
        else
                parse_hosts(c, brig_json_member(it, "hosts"), kpath, p, s);
        brig__policy_path_key(kpath, path, "source");
        if (!(source = brig_json_member(it, "source")))
                (void) brig__policy_problem(c, kpath, "required: {\"file\": PATH} or {\"env\": VARIABLE}");
        else
                parse_source(c, source, kpath, s);
        brig__policy_path_key(kpath, path, "inject");
        if (!(inject = brig_json_member(it, "inject")))
                (void) brig__policy_problem(
                        c, kpath,
                        "required: \"placeholder\" or a header like \"Authorization: Bearer "
                        "{secret}\"");
        else if (brig__policy_check_type(c, kpath, inject, cJSON_IsString(inject),
                                         "\"placeholder\" or a header template") &&
                 strcmp(inject->valuestring, "placeholder") != 0) {
                if (!header_template_ok(inject->valuestring, &why))
                        (void) brig__policy_problem(c, kpath, "%s, got %s", why,
                                                    brig__policy_quote(q, inject->valuestring));
                else
                        s->header = brig__policy_xstrdup(c, inject->valuestring);
        }
}

void brig__policy_parse_secrets(brig__policy_ctx *c, const cJSON *arr, brig_policy *p) {
        brig_net_policy *n = p->network.net;
        size_t len = brig__policy_array_len(c, arr, "network.secrets", MAX_SECRETS);
        const cJSON *it = arr && len ? arr->child : NULL;
        char path[PATHBUF];

        if (!len)
                return;
        if (!(n->secrets = calloc(len, sizeof(*n->secrets)))) {
                c->oom = true;
                return;
        }
        for (size_t i = 0; it && i < len; it = it->next, i++) {
                brig__policy_path_index(path, "network.secrets", i);
                /* Counted first: a half-parsed entry is still freed with the policy. */
                parse_secret(c, it, path, p, &n->secrets[n->n_secrets++]);
        }
}
