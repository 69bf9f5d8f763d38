/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/options.c: brigd's option table parses each kind of option with its bounds, refuses
 * what is out of them, and documents every option it parses in --help. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "worker/options.h"

#define MAX_ARGS 32

/* Arguments are string literals: getopt_long does not write to them. */
static int parse(brigd_cmdline *c, ...) {
        static char name[] = "brigd";
        char *argv[MAX_ARGS + 2] = {name};
        int argc = 1;
        va_list ap;

        va_start(ap, c);
        for (char *a; (a = va_arg(ap, char *));) {
                assert_true(argc <= MAX_ARGS);
                argv[argc++] = a;
        }
        va_end(ap);
        argv[argc] = NULL;
        return brigd_cmdline_parse(c, argc, argv);
}

static char *help_text(void) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        brigd_cmdline_help(f);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_options__defaults_and_each_kind(void **state) {
        (void) state;
        brigd_cmdline c;

        assert_int_equal(parse(&c, NULL), 0);
        assert_int_equal(c.o.spares, BRIG_SPARES_DEFAULT);
        assert_int_equal(c.o.start_timeout_s, BRIG_ENV_START_TIMEOUT_S);
        assert_int_equal(c.o.jail_id, BRIG_JAIL_HOST_ID_DEFAULT);
        assert_null(c.o.socket_path);

        assert_int_equal(parse(&c, "--socket", "/tmp/s", "--max-calls", "7", "--socket-mode", "0660",
                               "--socket-group", "4242", "--admin-uid", "5", "--admin-uid", "6",
                               "--max-client-bytes", "2M", "--start-timeout", "3600", "--jail-id", "200000",
                               NULL),
                         0);
        assert_string_equal(c.o.socket_path, "/tmp/s");
        assert_int_equal(c.o.max_calls, 7);
        assert_int_equal(c.o.socket_mode, 0660);
        assert_true(c.o.socket_set_gid);
        assert_int_equal(c.o.socket_gid, 4242);
        assert_int_equal(c.o.n_admin_uids, 2);
        assert_int_equal(c.o.admin_uids[1], 6);
        assert_int_equal(c.o.max_client_bytes, 2u << 20);
        assert_int_equal(c.o.start_timeout_s, 3600);
        assert_int_equal(c.o.jail_id, 200000);
        assert_false(c.help);

        assert_int_equal(parse(&c, "-h", NULL), 0);
        assert_true(c.help);
        assert_int_equal(parse(&c, "--version", NULL), 0);
        assert_true(c.version);
}

static void test_options__out_of_bounds_and_unknown_are_refused(void **state) {
        (void) state;
        brigd_cmdline c;

        assert_int_equal(parse(&c, "--start-timeout", "0", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--start-timeout", "3601", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--client-stall-timeout", "0", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--spare-environments", "x", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--jail-id", "0", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--socket-mode", "0400", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--max-client-bytes", "5", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--log-level", "loud", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--no-such-option", NULL), -EINVAL);
        assert_int_equal(parse(&c, "stray", NULL), -EINVAL);
        assert_int_equal(parse(&c, "--socket", NULL), -EINVAL);
}

/* Every option getopt accepts appears in --help, and the help fits a terminal. */
static void test_options__help_names_every_option(void **state) {
        (void) state;
        _cleanup_free_ char *help = help_text();
        static const char *const names[] = {
                "socket",
                "socket-mode",
                "socket-group",
                "policy",
                "policy-dir",
                "admin-uid",
                "audit",
                "state-dir",
                "jail-helper",
                "jail-id",
                "spare-environments",
                "start-timeout",
                "resolve",
                "max-calls",
                "max-calls-per-environment",
                "max-queued",
                "max-connections-per-uid",
                "handshake-timeout",
                "max-client-bytes",
                "client-stall-timeout",
                "log-level",
                "help",
                "version",
        };
        char needle[64];

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(needle, sizeof(needle), "--%s ", names[i]);
                char *hit = strstr(help, needle);
                if (!hit) {
                        snprintf(needle, sizeof(needle), "--%s\n", names[i]);
                        hit = strstr(help, needle);
                }
                if (!hit)
                        fail_msg("--help does not name --%s", names[i]);
        }
        for (const char *line = help; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                if (len > 100)
                        fail_msg("help line longer than 100 columns: %.*s", (int) len, line);
                line += len + (nl ? 1 : 0);
        }
        /* The defaults are filled in, not left as conversions. */
        assert_null(strstr(help, "%llu"));
        assert_non_null(strstr(help, "default 60)"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_options__defaults_and_each_kind),
                cmocka_unit_test(test_options__out_of_bounds_and_unknown_are_refused),
                cmocka_unit_test(test_options__help_names_every_option),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
