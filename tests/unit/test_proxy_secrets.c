/* SPDX-License-Identifier: MIT */
/* The values of network.secrets (worker/proxy_secrets.h): loading them from files and brigd's environment
 * with the checks on their sources, and rewriting a request's headers: placeholders replaced in every
 * header for the secret's hosts only, header templates replacing a header of the same name whatever its
 * case, a placeholder for another host refused, and never a CR or LF written. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"
#include "worker/proxy_secrets.h"

#define VALUE "s3cr3t-value"

static char dir[] = "/tmp/brig-test-secrets-XXXXXX";

static brig_policy *parse(const char *json) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        if (brig_policy_parse(json, strlen(json), "<inline>", &p, NULL, &err) < 0)
                print_error("%s\n", err.msg);
        assert_non_null(p);
        return p;
}

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        (void) close(fd);
}

/* A policy with a placeholder secret (env) for api.test and a header secret (file) for *.files.test. */
static brig_policy *policy(const char *file) {
        char json[1024];
        (void) snprintf(json, sizeof(json),
                        "{\"network\": {\"mode\": \"proxy\", \"allow\": [\"api.test\", \"*.files.test\", "
                        "\"other.test\"], \"secrets\": ["
                        "{\"name\": \"TOKEN\", \"hosts\": [\"api.test\"], \"source\": {\"env\": "
                        "\"BRIG_TEST_SECRET\"}, \"inject\": \"placeholder\"},"
                        "{\"name\": \"KEY\", \"hosts\": [\"*.files.test\"], \"source\": {\"file\": \"%s\"}, "
                        "\"inject\": \"Authorization: Bearer {secret}\"}]}}",
                        file);
        return parse(json);
}

static int setup(void **state) {
        (void) state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(setenv("BRIG_TEST_SECRET", VALUE, 1), 0);
        return 0;
}

static int teardown(void **state) {
        char path[256];
        (void) state;
        (void) snprintf(path, sizeof(path), "%s/key", dir);
        (void) unlink(path);
        (void) snprintf(path, sizeof(path), "%s/key2", dir);
        (void) unlink(path);
        return rmdir(dir);
}

static brig_proxy_secrets *loaded(const brig_policy *p) {
        brig_error err = BRIG_ERROR_INIT;
        brig_proxy_secrets *s = NULL;
        assert_int_equal(brig_proxy_secrets_new(p->network.net, NULL, &s, &err), 0);
        brig_proxy_secrets_load(s);
        return s;
}

static void test_secrets__load_checks_sources(void **state) {
        char file[256];
        brig_error err = BRIG_ERROR_INIT;
        (void) state;

        (void) snprintf(file, sizeof(file), "%s/key", dir);
        write_file(file, "file-value\n", 0600);
        brig_policy *p = policy(file);
        brig_proxy_secrets *s = loaded(p);
        assert_int_equal(brig_proxy_secrets_check(s, &err), 0);
        assert_string_equal(s->items[0].value, VALUE);
        assert_string_equal(s->items[1].value, "file-value");
        /* Placeholders: the jail's environment, random, and only for "placeholder" secrets. */
        assert_int_equal(strlen(s->items[0].placeholder), BRIG_PROXY_SECRET_PLACEHOLDER_LEN);
        assert_int_equal(strncmp(s->items[0].placeholder, "brig-secret-", 12), 0);
        assert_string_equal(s->items[1].placeholder, "");
        assert_int_equal(strncmp(s->env[0], "TOKEN=brig-secret-", 18), 0);
        assert_null(s->env[1]);
        /* Fresh for another environment; kept, by name, across a change of the policy. */
        brig_proxy_secrets *other = loaded(p), *next = NULL;
        assert_string_not_equal(other->items[0].placeholder, s->items[0].placeholder);
        assert_int_equal(brig_proxy_secrets_new(p->network.net, s, &next, &err), 0);
        assert_string_equal(next->items[0].placeholder, s->items[0].placeholder);
        brig_proxy_secrets_free(next);
        brig_proxy_secrets_free(other);

        /* Readable by others: refused, the error names the secret and not the value. */
        assert_int_equal(chmod(file, 0644), 0);
        brig_proxy_secrets_load(s);
        assert_int_equal(brig_proxy_secrets_check(s, &err), -ENOKEY);
        assert_non_null(strstr(err.msg, "secret KEY"));
        assert_non_null(strstr(err.msg, "group or others"));
        assert_null(strstr(err.msg, "file-value"));
        assert_null(s->items[1].value);

        assert_int_equal(chmod(file, 0600), 0);
        assert_int_equal(unsetenv("BRIG_TEST_SECRET"), 0);
        brig_proxy_secrets_load(s);
        err = (brig_error) BRIG_ERROR_INIT;
        assert_int_equal(brig_proxy_secrets_check(s, &err), -ENOKEY);
        assert_string_equal(err.msg, "network.secrets: secret TOKEN: cannot read variable BRIG_TEST_SECRET: "
                                     "brigd's environment variable is not set or empty");
        assert_int_equal(setenv("BRIG_TEST_SECRET", "a\r\nb", 1), 0);
        brig_proxy_secrets_load(s);
        assert_null(s->items[0].value);
        assert_int_equal(setenv("BRIG_TEST_SECRET", VALUE, 1), 0);
        brig_proxy_secrets_free(s);
        brig_policy_free(p);
}

static brig_proxy_secrets *ready(brig_policy **ret_p) {
        char file[256];
        (void) snprintf(file, sizeof(file), "%s/key2", dir);
        write_file(file, "file-value", 0600);
        *ret_p = policy(file);
        return loaded(*ret_p);
}

static char *rewrite(const brig_proxy_secrets *s, const char *host, const char *lines, int want) {
        brig_proxy_rewrite rw;
        int r = brig_proxy_secrets_rewrite(s, host, lines, strlen(lines), lines, strlen(lines), &rw);
        assert_int_equal(r, want);
        if (r < 0)
                return NULL;
        assert_int_equal(strlen(rw.headers), rw.len);
        return rw.headers;
}

static void test_secrets__placeholder_replaced_in_every_header(void **state) {
        brig_policy *p;
        brig_proxy_secrets *s = ready(&p);
        char lines[1024], want[1024];
        const char *ph = s->items[0].placeholder;
        (void) state;

        (void) snprintf(lines, sizeof(lines), "Authorization: Bearer %s\r\nX-Two: %s,%s\r\nAccept: */*\r\n",
                        ph, ph, ph);
        char *out = rewrite(s, "api.test", lines, 0);
        (void) snprintf(want, sizeof(want), "Authorization: Bearer %s\r\nX-Two: %s,%s\r\nAccept: */*\r\n",
                        VALUE, VALUE, VALUE);
        assert_string_equal(out, want);
        free(out);

        /* Another host, even an allowed one: refused, whichever header carries it. */
        brig_proxy_rewrite rw;
        (void) snprintf(lines, sizeof(lines), "Accept: */*\r\nX-Leak: a%sb\r\n", ph);
        assert_int_equal(
                brig_proxy_secrets_rewrite(s, "other.test", lines, strlen(lines), lines, strlen(lines), &rw),
                -EACCES);
        assert_int_equal(rw.secret, 0);
        size_t bad = 9;
        assert_int_equal(brig_proxy_secrets_scan(s, "other.test", lines, strlen(lines), &bad), -EACCES);
        assert_int_equal(bad, 0);
        assert_int_equal(brig_proxy_secrets_scan(s, "api.test", lines, strlen(lines), &bad), 0);

        /* Without a placeholder, nothing changes. */
        out = rewrite(s, "other.test", "Accept: */*\r\n", 0);
        assert_string_equal(out, "Accept: */*\r\n");
        free(out);
        brig_proxy_secrets_free(s);
        brig_policy_free(p);
}

static void test_secrets__template_replaces_header_of_any_case(void **state) {
        brig_policy *p;
        brig_proxy_secrets *s = ready(&p);
        (void) state;

        char *out = rewrite(s, "a.files.test",
                            "authorization: Basic evil\r\nAccept: */*\r\nAUTHORIZATION: x\r\n", 0);
        assert_string_equal(out, "Accept: */*\r\nAuthorization: Bearer file-value\r\n");
        free(out);
        out = rewrite(s, "a.files.test", "", 0);
        assert_string_equal(out, "Authorization: Bearer file-value\r\n");
        free(out);
        /* Not for the domain itself, nor for another host. */
        out = rewrite(s, "files.test", "Authorization: mine\r\n", 0);
        assert_string_equal(out, "Authorization: mine\r\n");
        free(out);
        /* A header whose name only starts like the template's stays. */
        out = rewrite(s, "a.files.test", "Authorization-X: y\r\n", 0);
        assert_string_equal(out, "Authorization-X: y\r\nAuthorization: Bearer file-value\r\n");
        free(out);
        brig_proxy_secrets_free(s);
        brig_policy_free(p);
}

static void test_secrets__unreadable_secret_refuses_its_hosts(void **state) {
        brig_policy *p;
        brig_proxy_secrets *s = ready(&p);
        brig_proxy_rewrite rw;
        const char *h = "Accept: */*\r\n";
        char lines[512];
        (void) state;

        assert_int_equal(unsetenv("BRIG_TEST_SECRET"), 0);
        brig_proxy_secrets_load(s);
        assert_int_equal(setenv("BRIG_TEST_SECRET", VALUE, 1), 0);
        /* Its placeholder to its host cannot be sent as is. */
        (void) snprintf(lines, sizeof(lines), "Authorization: Bearer %s\r\n", s->items[0].placeholder);
        assert_int_equal(
                brig_proxy_secrets_rewrite(s, "api.test", lines, strlen(lines), lines, strlen(lines), &rw),
                -ENOKEY);
        assert_int_equal(rw.secret, 0);
        /* A request without it still goes. */
        char *out = rewrite(s, "api.test", h, 0);
        assert_string_equal(out, h);
        free(out);
        brig_proxy_secrets_free(s);
        brig_policy_free(p);
}

static void test_secrets__never_writes_cr_or_lf(void **state) {
        brig_policy *p;
        brig_proxy_secrets *s = ready(&p);
        char lines[1024];
        const char *ph = s->items[0].placeholder;
        (void) state;

        /* The values carry none (refused at load); the output's line breaks are exactly the input's plus one
         * per template. */
        (void) snprintf(lines, sizeof(lines), "A: %s\r\nB: %s%s\r\n", ph, ph, ph);
        char *out = rewrite(s, "api.test", lines, 0);
        size_t breaks = 0;
        for (const char *q = out; *q; q++)
                breaks += *q == '\n' || *q == '\r';
        assert_int_equal(breaks, 4);
        free(out);
        brig_proxy_secrets_free(s);
        brig_policy_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secrets__load_checks_sources),
                cmocka_unit_test(test_secrets__placeholder_replaced_in_every_header),
                cmocka_unit_test(test_secrets__template_replaces_header_of_any_case),
                cmocka_unit_test(test_secrets__unreadable_secret_refuses_its_hosts),
                cmocka_unit_test(test_secrets__never_writes_cr_or_lf),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
