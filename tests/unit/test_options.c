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
#include <unistd.h>

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
        return brigd_cmdline_parse(c, argc, argv, NULL);
}

/* A configuration file holding text; its path in path (a mkstemp template's size). */
static void write_config(char *path, const char *text) {
        strcpy(path, "/tmp/brigd-conf-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(close(fd), 0);
}

/* brigd_cmdline_parse with --config path and the flags after it; what it wrote to stderr in *ret_err. */
static int parse_config(brigd_cmdline *c, const char *path, char **ret_err, ...) {
        static char name[] = "brigd", flag[] = "--config";
        char *argv[MAX_ARGS + 4] = {name, flag, (char *) path};
        int argc = 3, saved = dup(2), r;
        FILE *err = tmpfile();
        size_t len = 0;
        va_list ap;

        assert_non_null(err);
        va_start(ap, ret_err);
        for (char *a; (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        assert_true(saved >= 0);
        assert_true(dup2(fileno(err), 2) >= 0);
        r = brigd_cmdline_parse(c, argc, argv, NULL);
        assert_true(dup2(saved, 2) >= 0);
        (void) close(saved);
        rewind(err);
        *ret_err = calloc(1, 4096);
        assert_non_null(*ret_err);
        len = fread(*ret_err, 1, 4095, err);
        (*ret_err)[len] = 0;
        (void) fclose(err);
        return r;
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
        assert_int_equal(c.o.spares_max, BRIG_SPARES_GROW_DEFAULT);
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
        assert_int_equal(parse(&c, "--spare-environments-max", "1025", NULL), -EINVAL);
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
                "config",
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
                "spare-environments-max",
                "start-timeout",
                "resolve",
                "upstream-ca",
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

static void test_options__config_file_sets_what_flags_set(void **state) {
        (void) state;
        static brigd_cmdline c;
        char path[32];
        _cleanup_free_ char *err = NULL;

        write_config(path, "# brigd.conf\n"
                           "\n"
                           "socket = /run/x/brig.sock\n"
                           "  socket-mode=0660  \n"
                           "state-dir = /srv/brig state\n"
                           "policy-dir = /etc/brig/policies\n"
                           "policy = /etc/brig/policies/strict.json\n"
                           "audit = /var/log/brig/brig.audit.jsonl\n"
                           "admin-uid = 5\n"
                           "admin-uid = 6\n"
                           "jail-id = 200000\n"
                           "spare-environments = 2\n"
                           "resolve = example.test=192.0.2.1\n"
                           "max-client-bytes = 2M\n");
        assert_int_equal(parse_config(&c, path, &err, NULL), 0);
        assert_string_equal(err, "");
        assert_string_equal(c.o.socket_path, "/run/x/brig.sock");
        assert_int_equal(c.o.socket_mode, 0660);
        assert_string_equal(c.o.state_dir, "/srv/brig state");
        assert_string_equal(c.o.policy_dir, "/etc/brig/policies");
        assert_string_equal(c.o.policy_path, "/etc/brig/policies/strict.json");
        assert_string_equal(c.o.audit_path, "/var/log/brig/brig.audit.jsonl");
        assert_int_equal(c.o.n_admin_uids, 2);
        assert_int_equal(c.o.admin_uids[0], 5);
        assert_int_equal(c.o.admin_uids[1], 6);
        assert_int_equal(c.o.jail_id, 200000);
        assert_int_equal(c.o.spares, 2);
        assert_int_equal(c.o.n_resolve, 1);
        assert_int_equal(c.o.max_client_bytes, 2u << 20);
        brigd_cmdline_done(&c);
        free(TAKE_PTR(err));

        /* Flags win; a list given as a flag replaces the file's, one not given keeps it. */
        assert_int_equal(parse_config(&c, path, &err, "--spare-environments", "7", "--admin-uid", "9",
                                      "--socket", "/tmp/flag.sock", NULL),
                         0);
        assert_int_equal(c.o.spares, 7);
        assert_int_equal(c.o.n_admin_uids, 1);
        assert_int_equal(c.o.admin_uids[0], 9);
        assert_string_equal(c.o.socket_path, "/tmp/flag.sock");
        assert_int_equal(c.o.n_resolve, 1);
        assert_int_equal(c.o.jail_id, 200000);
        brigd_cmdline_done(&c);
        assert_int_equal(unlink(path), 0);
}

static void test_options__config_file_errors_name_file_and_line(void **state) {
        (void) state;
        static brigd_cmdline c;
        static const struct {
                const char *text, *message;
        } cases[] = {
                {"spare-environments = 2\n\nno-such-key = 1\n", ":3: unknown key 'no-such-key'"},
                {"# x\nspare-environments = 999\n", ":2: spare-environments: expected 0 to 64, got '999'"},
                {"socket-mode = 0400\n", ":1: socket-mode: expected octal permissions"},
                {"admin-uid = me\n", ":1: admin-uid: expected a uid, got 'me'"},
                {"resolve = nothing\n", ":1: resolve: "},
                {"log-level\n", ":1: log-level: expected `log-level = VALUE`"},
                {"state-dir =\n", ":1: state-dir: expected `state-dir = VALUE`"},
                /* Only the command line's: a file cannot name another or ask for help. */
                {"config = /etc/other.conf\n", ":1: unknown key 'config'"},
                {"help = yes\n", ":1: unknown key 'help'"},
        };
        char path[32], want[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_free_ char *err = NULL;
                write_config(path, cases[i].text);
                assert_int_equal(parse_config(&c, path, &err, NULL), -EINVAL);
                snprintf(want, sizeof(want), "brigd: %s%s", path, cases[i].message);
                if (!strstr(err, want))
                        fail_msg("case %zu: expected '%s' in '%s'", i, want, err);
                brigd_cmdline_done(&c);
                assert_int_equal(unlink(path), 0);
        }

        /* A bad file does not stop --help; a missing --config file is an error, a missing default not. */
        _cleanup_free_ char *err = NULL;
        write_config(path, "nonsense\n");
        assert_int_equal(parse_config(&c, path, &err, "--help", NULL), 0);
        assert_true(c.help);
        assert_int_equal(unlink(path), 0);
        free(TAKE_PTR(err));
        assert_int_equal(parse_config(&c, "/nonexistent/brigd.conf", &err, NULL), -ENOENT);
        assert_non_null(strstr(err, "/nonexistent/brigd.conf: No such file or directory"));
        char name[] = "brigd";
        char *argv[] = {name, NULL};
        assert_int_equal(brigd_cmdline_parse(&c, 1, argv, "/nonexistent/brigd.conf"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_options__defaults_and_each_kind),
                cmocka_unit_test(test_options__out_of_bounds_and_unknown_are_refused),
                cmocka_unit_test(test_options__help_names_every_option),
                cmocka_unit_test(test_options__config_file_sets_what_flags_set),
                cmocka_unit_test(test_options__config_file_errors_name_file_and_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
