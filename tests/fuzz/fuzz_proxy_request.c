/* SPDX-License-Identifier: MIT */
/* Fuzz target: what a jail sends through the egress proxy to a host with network.secrets, after the proxy
 * has split off the request head: the placeholder scan and header rewriting (worker/proxy_secrets.c) and
 * the body framing that decides where the next request starts (worker/proxy_body.c). The jail writes all
 * of these bytes, so none of them may be trusted.
 * Input: one byte choosing the host, one choosing how the body is fed (piece size), then the request: its
 * head up to the first blank line, then body bytes. "@P@" in the input stands for the placeholder of the
 * policy's placeholder secret (random in every run), so that a corpus can reach the substitution paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sandbox/policy.h"
#include "worker/proxy_body.h"
#include "worker/proxy_secrets.h"

#define INPUT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const hosts[] = {"api.test", "x.files.test", "other.test"};

/* Two secrets, as a policy names them: a placeholder for api.test and a header template for *.files.test. */
static const char policy_json[] =
        "{\"network\": {\"mode\": \"proxy\", \"allow\": [\"api.test\", \"*.files.test\", \"other.test\"], "
        "\"secrets\": ["
        "{\"name\": \"TOKEN\", \"hosts\": [\"api.test\"], \"source\": {\"env\": \"BRIG_FUZZ_TOKEN\"}, "
        "\"inject\": \"placeholder\"},"
        "{\"name\": \"KEY\", \"hosts\": [\"*.files.test\"], \"source\": {\"env\": \"BRIG_FUZZ_KEY\"}, "
        "\"inject\": \"Authorization: Bearer {secret}\"}]}}";

static brig_proxy_secrets *secrets(void) {
        static brig_proxy_secrets *s;
        static brig_policy *p;
        brig_error err = BRIG_ERROR_INIT;

        if (s)
                return s;
        (void) setenv("BRIG_FUZZ_TOKEN", "token-value", 1);
        (void) setenv("BRIG_FUZZ_KEY", "key-value", 1);
        if (brig_policy_parse(policy_json, strlen(policy_json), "<fuzz>", &p, NULL, &err) < 0 ||
            brig_proxy_secrets_new(p->network.net, NULL, &s, &err) < 0)
                abort(); /* the target itself is broken: no input could be tested */
        brig_proxy_secrets_load(s);
        if (brig_proxy_secrets_check(s, &err) < 0)
                abort();
        return s;
}

/* data with every "@P@" replaced by the placeholder; NULL when out of memory. */
static char *expand(const brig_proxy_secrets *s, const uint8_t *data, size_t size, size_t *ret_len) {
        const char *ph = s->items[0].placeholder;
        size_t phl = strlen(ph), n = 0;
        char *out = malloc(size / 3 * phl + size + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < size;) {
                if (i + 3 <= size && memcmp(data + i, "@P@", 3) == 0) {
                        memcpy(out + n, ph, phl);
                        n += phl;
                        i += 3;
                } else
                        out[n++] = (char) data[i++];
        }
        out[n] = 0;
        *ret_len = n;
        return out;
}

/* Where the head ends (after its blank line), or 0 when it has none. */
static size_t head_end(const char *buf, size_t len) {
        for (size_t i = 0; i + 1 < len; i++) {
                if (buf[i] == '\n' && buf[i + 1] == '\n')
                        return i + 2;
                if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
                        return i + 4;
        }
        return 0;
}

static void body(const char *lines, size_t lines_len, const char *rest, size_t rest_len, size_t piece) {
        brig_proxy_body b;

        if (brig_proxy_body_init(&b, lines, lines_len) < 0)
                return;
        for (size_t off = 0; off < rest_len && !b.done;) {
                size_t n = rest_len - off < piece ? rest_len - off : piece;
                int64_t took = brig_proxy_body_take(&b, rest + off, n);
                if (took < 0)
                        return;
                if ((size_t) took > n)
                        abort(); /* more taken than given */
                off += (size_t) took;
                if ((size_t) took < n && !b.done)
                        abort(); /* stopped short of its piece without ending */
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        brig_proxy_secrets *s = secrets();
        brig_proxy_rewrite rw = {0};
        size_t len, end, secret;
        char *buf;

        if (size < 2 || size > INPUT_MAX)
                return 0;
        const char *host = hosts[data[0] % 3];
        size_t piece = (size_t) data[1] % 64 + 1;
        if (!(buf = expand(s, data + 2, size - 2, &len)))
                return 0;
        if (!(end = head_end(buf, len))) {
                free(buf);
                return 0;
        }
        /* The header lines follow the request line. */
        const char *nl = memchr(buf, '\n', end);
        const char *lines = nl ? nl + 1 : buf + end;
        size_t lines_len = (size_t) (buf + end - lines);
        /* Without the blank line, as the proxy hands them over. */
        while (lines_len > 0 && (lines[lines_len - 1] == '\n' || lines[lines_len - 1] == '\r'))
                lines_len--;
        char *copy = strndup(lines, lines_len);
        if (copy) {
                size_t clen = strlen(copy);
                /* Each line must end in "\n": the last one gets it back. */
                char *l = malloc(clen + 2);
                if (l) {
                        memcpy(l, copy, clen);
                        l[clen] = '\n';
                        l[clen + 1] = 0;
                        (void) brig_proxy_secrets_scan(s, host, buf, end, &secret);
                        if (brig_proxy_secrets_rewrite(s, host, buf, end, l, clen + 1, &rw) >= 0) {
                                /* The value of a secret of another host never enters a request. */
                                if (strcmp(host, "api.test") != 0 && !memmem(buf, len, "token-value", 11) &&
                                    memmem(rw.headers, rw.len, "token-value", 11))
                                        abort();
                                if (strcmp(host, "x.files.test") != 0 && !memmem(buf, len, "key-value", 9) &&
                                    memmem(rw.headers, rw.len, "key-value", 9))
                                        abort();
                                free(rw.headers);
                        }
                        body(l, clen + 1, buf + end, len - end, piece);
                        free(l);
                }
                free(copy);
        }
        free(buf);
        return 0;
}
