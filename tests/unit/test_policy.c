/* SPDX-License-Identifier: MIT */
/* Unit tests for sandbox/policy.c: defaults, every field's bounds, exact error text, diagnostics, and the
 * shipped policies/default.json. Pure: temporary files only, no root, no network. */
#include <dirent.h>
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

#include "common/cleanup.h"
#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

static char tmpdir[] = "/tmp/brig-test-policy.XXXXXX";

/* Test JSON is written with single quotes for readability; this turns them into double quotes. */
static char *dq(const char *s) {
        char *d = strdup(s);
        assert_non_null(d);
        for (char *c = d; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return d;
}

static int parse(const char *json, brig_policy **ret, brig_policy_diags *diags, brig_error *err) {
        _cleanup_free_ char *text = dq(json);
        return brig_policy_parse(text, strlen(text), "<inline>", ret, diags, err);
}

static brig_policy *parse_ok(const char *json) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        int r = parse(json, &p, &d, &err);

        if (r < 0)
                print_error("unexpected failure: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(p);
        assert_int_equal(d.n, 0);
        assert_int_equal(err.code, 0);
        brig_policy_diags_done(&d);
        return p;
}

/* Asserts that json is rejected with exactly `expected` ("PATH: MESSAGE") as its first problem. */
static void assert_fails(const char *json, const char *expected) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char first[512];
        int r = parse(json, &p, &d, &err);

        assert_int_equal(r, -EINVAL);
        assert_null(p);
        assert_int_equal(err.code, -EINVAL);
        assert_int_equal(err.kind, BRIG_KIND_POLICY);
        assert_string_equal(err.msg, expected);
        assert_true(d.n >= 1);
        (void) snprintf(first, sizeof(first), "%s%s%s", d.items[0].path, d.items[0].path[0] ? ": " : "",
                        d.items[0].msg);
        assert_string_equal(first, expected);
        brig_policy_diags_done(&d);
}

/* Asserts that json is rejected and that some problem is reported at path. */
static void assert_fails_at(const char *json, const char *path) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        bool found = false;

        assert_int_equal(parse(json, &p, &d, &err), -EINVAL);
        assert_null(p);
        for (size_t i = 0; i < d.n; i++)
                if (strcmp(d.items[i].path, path) == 0)
                        found = true;
        if (!found)
                print_error("no problem at '%s'; first was: %s\n", path, err.msg);
        assert_true(found);
        brig_policy_diags_done(&d);
}

static const char *full_example =
        "{\n"
        "  'name': 'full-1.0_x',\n"
        "  'description': 'everything set',\n"
        "  'filesystem': {\n"
        "    'read_only': ['/usr', {'source': '/lib64', 'optional': true},\n"
        "                  {'source': '/etc/ssl', 'dest': '/etc/ssl2', 'optional': false}],\n"
        "    'read_write': ['/srv/cache', {'source': '/srv/out', 'dest': '/out'}],\n"
        "    'tmpfs': [{'path': '/tmp', 'size': '256M', 'mode': '1777'}, {'path': '/run', 'size': 4096}],\n"
        "    'workspace': '/work'\n"
        "  },\n"
        "  'limits': {'wall_time': '90s', 'cpu_time': '2m', 'memory': '512M', 'processes': 64,\n"
        "             'open_files': 256, 'file_size': '10M', 'output': '64K'},\n"
        "  'env': {'PATH': '/usr/bin:/bin', 'A1': 'x', 'A': 'y', 'HOME': '/work'},\n"
        "  'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'ENOSYS'},\n"
        "  'network': 'none',\n"
        "  'hostname': 'box.local'\n"
        "}\n";

static void test_policy__empty_object_gets_defaults(void **state) {
        brig_policy *p = parse_ok("{}");

        (void) state;
        assert_string_equal(p->name, "inline");
        assert_null(p->description);
        assert_int_equal(p->filesystem.n_binds, 0);
        assert_int_equal(p->filesystem.n_tmpfs, 0);
        assert_string_equal(p->filesystem.workspace, "/workspace");
        assert_int_equal(p->limits.wall_time_ms, 60000);
        assert_int_equal(p->limits.cpu_time_ms, 60000);
        assert_int_equal(p->limits.memory_bytes, GIB);
        assert_int_equal(p->limits.processes, 256);
        assert_int_equal(p->limits.open_files, 1024);
        assert_int_equal(p->limits.file_size_bytes, GIB);
        assert_int_equal(p->limits.output_bytes, MIB);
        assert_int_equal(p->env.n_vars, 4);
        assert_string_equal(p->env.vars[0], "HOME=/workspace");
        assert_string_equal(p->env.vars[1], "LANG=C.UTF-8");
        assert_string_equal(p->env.vars[2], "PATH=/usr/local/bin:/usr/bin:/bin");
        assert_string_equal(p->env.vars[3], "TMPDIR=/tmp");
        assert_null(p->env.vars[4]);
        assert_non_null(p->seccomp.deny);
        assert_int_equal(p->seccomp.n_deny, 0);
        assert_null(p->seccomp.deny[0]);
        assert_int_equal(p->seccomp.errno_ret, EPERM);
        assert_int_equal(p->network.mode, BRIG_NETWORK_NONE);
        assert_string_equal(p->hostname, "brig");
        assert_int_equal(p->landlock, BRIG_LANDLOCK_AUTO);
        brig_policy_free(p);
}

static void test_policy__parses_full_example(void **state) {
        brig_policy *p = parse_ok(full_example);

        (void) state;
        assert_string_equal(p->name, "full-1.0_x");
        assert_string_equal(p->description, "everything set");

        assert_int_equal(p->filesystem.n_binds, 5);
        assert_string_equal(p->filesystem.binds[0].source, "/usr");
        assert_string_equal(p->filesystem.binds[0].dest, "/usr");
        assert_true(p->filesystem.binds[0].read_only);
        assert_false(p->filesystem.binds[0].optional);
        assert_string_equal(p->filesystem.binds[1].dest, "/lib64");
        assert_true(p->filesystem.binds[1].optional);
        assert_string_equal(p->filesystem.binds[2].source, "/etc/ssl");
        assert_string_equal(p->filesystem.binds[2].dest, "/etc/ssl2");
        assert_false(p->filesystem.binds[2].optional);
        assert_string_equal(p->filesystem.binds[3].source, "/srv/cache");
        assert_false(p->filesystem.binds[3].read_only);
        assert_string_equal(p->filesystem.binds[4].source, "/srv/out");
        assert_string_equal(p->filesystem.binds[4].dest, "/out");
        assert_false(p->filesystem.binds[4].read_only);

        assert_int_equal(p->filesystem.n_tmpfs, 2);
        assert_string_equal(p->filesystem.tmpfs[0].dest, "/tmp");
        assert_int_equal(p->filesystem.tmpfs[0].size_bytes, 256 * MIB);
        assert_int_equal(p->filesystem.tmpfs[0].mode, 01777);
        assert_string_equal(p->filesystem.tmpfs[1].dest, "/run");
        assert_int_equal(p->filesystem.tmpfs[1].size_bytes, 4096);
        assert_int_equal(p->filesystem.tmpfs[1].mode, 01777);
        assert_string_equal(p->filesystem.workspace, "/work");

        assert_int_equal(p->limits.wall_time_ms, 90000);
        assert_int_equal(p->limits.cpu_time_ms, 120000);
        assert_int_equal(p->limits.memory_bytes, 512 * MIB);
        assert_int_equal(p->limits.processes, 64);
        assert_int_equal(p->limits.open_files, 256);
        assert_int_equal(p->limits.file_size_bytes, 10 * MIB);
        assert_int_equal(p->limits.output_bytes, 64 * 1024);

        /* Sorted by name, not by "NAME=value": "A" comes before "A1" although '1' < '='. */
        assert_int_equal(p->env.n_vars, 4);
        assert_string_equal(p->env.vars[0], "A=y");
        assert_string_equal(p->env.vars[1], "A1=x");
        assert_string_equal(p->env.vars[2], "HOME=/work");
        assert_string_equal(p->env.vars[3], "PATH=/usr/bin:/bin");
        assert_null(p->env.vars[4]);

        assert_int_equal(p->seccomp.n_deny, 2);
        assert_string_equal(p->seccomp.deny[0], "syslog");
        assert_string_equal(p->seccomp.deny[1], "acct");
        assert_null(p->seccomp.deny[2]);
        assert_int_equal(p->seccomp.errno_ret, ENOSYS);
        assert_string_equal(p->hostname, "box.local");
        brig_policy_free(p);
}

static void test_policy__name_defaults_to_file_basename(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(brig_policy_parse("{}", 2, "/etc/brig/strict.json", &p, NULL, &err), 0);
        assert_string_equal(p->name, "strict");
        brig_policy_free(p);
        p = NULL;
        assert_int_equal(brig_policy_parse("{}", 2, "relaxed", &p, NULL, &err), 0);
        assert_string_equal(p->name, "relaxed");
        brig_policy_free(p);
        p = NULL;
        assert_int_equal(brig_policy_parse("{}", 2, NULL, &p, NULL, &err), 0);
        assert_string_equal(p->name, "inline");
        brig_policy_free(p);
        p = NULL;
        /* An explicit name wins over the file name. */
        assert_int_equal(brig_policy_parse("{\"name\": \"x\"}", 13, "/a/b.json", &p, NULL, &err), 0);
        assert_string_equal(p->name, "x");
        brig_policy_free(p);
        p = NULL;
        assert_int_equal(brig_policy_parse("{}", 2, "/a/my policy.json", &p, NULL, &err), -EINVAL);
        assert_null(p);
        assert_non_null(strstr(err.msg, "name: no \"name\" field, and the file name \"my policy\""));
}

static void test_policy__rejects_unknown_field(void **state) {
        (void) state;
        assert_fails("{'filesystem': {'tmpfz': []}}", "filesystem.tmpfz: unknown field");
        assert_fails("{'netwrok': 'none'}", "netwrok: unknown field");
        assert_fails("{'limits': {'memroy': '1G'}}", "limits.memroy: unknown field");
        assert_fails("{'seccomp': {'allow': []}}", "seccomp.allow: unknown field");
        assert_fails("{'filesystem': {'read_only': [{'source': '/usr', 'readonly': true}]}}",
                     "filesystem.read_only[0].readonly: unknown field");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/tmp', 'uid': 0}]}}",
                     "filesystem.tmpfs[0].uid: unknown field");
        /* Keys that are not identifiers are quoted and escaped, never printed raw. */
        assert_fails("{'a b\\n': 1}", "[\"a b\\x0a\"]: unknown field");
}

static void test_policy__rejects_duplicate_field(void **state) {
        (void) state;
        /* cJSON would silently use the first; another reader might use the last. */
        assert_fails("{'network': 'none', 'network': 'host'}", "network: duplicate field");
        assert_fails("{'limits': {'memory': '1G', 'memory': '2G'}}", "limits.memory: duplicate field");
        assert_fails("{'env': {'A': '1', 'A': '2'}}", "env.A: duplicate field");
}

static void test_policy__rejects_extends_of_missing_policy(void **state) {
        (void) state;
        /* Inheritance itself is tested in test_policy_merge.c. */
        assert_fails(
                "{'extends': 'no-such-policy'}",
                "extends: no policy \"no-such-policy\": neither \"no-such-policy.json\" nor " BRIG_POLICYDIR
                "/no-such-policy.json exists");
}

static void test_policy__reports_every_problem(void **state) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        static const char *const want[] = {"bogus",         "filesystem.read_only[1].source",
                                           "limits.memory", "limits.processes",
                                           "env.1BAD",      "seccomp.deny[0]",
                                           "network",       "hostname"};

        (void) state;
        assert_int_equal(parse("{'bogus': 1, 'filesystem': {'read_only': ['/usr', {'source': 'usr'}]},"
                               " 'limits': {'memory': 'lots', 'processes': 0}, 'env': {'1BAD': 'x'},"
                               " 'seccomp': {'deny': ['nosuchcall']}, 'network': 'host', 'hostname': ''}",
                               &p, &d, &err),
                         -EINVAL);
        assert_null(p);
        assert_string_equal(err.msg, "bogus: unknown field");
        assert_int_equal(d.n, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(d.items[i].path, want[i]);
        brig_policy_diags_done(&d);
        assert_null(d.items);
        assert_int_equal(d.n, 0);
}

static void test_policy__syntax_error_has_line_and_column(void **state) {
        const char *text = "{\n  \"limits\": {\n    \"memory\": ,\n  }\n}\n";
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(brig_policy_parse(text, strlen(text), "x.json", &p, &d, &err), -EINVAL);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_POLICY);
        assert_string_equal(err.msg, "invalid JSON at 3:15");
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].path, "");
        assert_string_equal(d.items[0].msg, "invalid JSON at 3:15");
        assert_int_equal(d.items[0].line, 3);
        assert_int_equal(d.items[0].column, 15);
        brig_policy_diags_done(&d);
}

static void test_policy__value_errors_have_line_and_column(void **state) {
        const char *text = "{\n  \"filesystem\": {\"tmpfz\": [],\n    \"read_only\": [\"/usr\", \"rel\"]},\n"
                           "  \"limits\": {\"memory\": \"lots\"},\n  \"env\": {\"A b\": \"x\"}\n}\n";
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(brig_policy_parse(text, strlen(text), "x.json", &p, &d, &err), -EINVAL);
        assert_int_equal(d.n, 4);
        assert_string_equal(d.items[0].path, "filesystem.tmpfz");
        assert_int_equal(d.items[0].line, 2);
        assert_int_equal(d.items[0].column, 27);
        assert_string_equal(d.items[1].path, "filesystem.read_only[1]");
        assert_int_equal(d.items[1].line, 3);
        assert_int_equal(d.items[1].column, 27);
        assert_string_equal(d.items[2].path, "limits.memory");
        assert_int_equal(d.items[2].line, 4);
        assert_int_equal(d.items[2].column, 24);
        assert_string_equal(d.items[3].path, "env[\"A b\"]");
        assert_int_equal(d.items[3].line, 5);
        assert_int_equal(d.items[3].column, 18);
        brig_policy_diags_done(&d);
}

static void test_policy__rejects_trailing_data_and_empty_input(void **state) {
        (void) state;
        assert_fails("{} {}", "unexpected data after the JSON value at 1:4");
        assert_fails("{}\n\n x", "unexpected data after the JSON value at 3:2");
        assert_fails("", "empty file at 1:1");
        assert_fails("   ", "invalid JSON at 1:3");
        /* Trailing whitespace is fine. */
        brig_policy_free(parse_ok("{} \r\n\t"));
}

static void test_policy__rejects_nul_and_invalid_utf8(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        /* A NUL byte inside the given length. */
        assert_int_equal(brig_policy_parse("{}\0{\"x\":1}", 10, "<inline>", &p, NULL, &err), -EINVAL);
        assert_null(p);
        assert_int_equal(brig_policy_parse("{\"name\": \"\xff\"}", 13, "<inline>", &p, NULL, &err), -EINVAL);
        assert_null(p);
        assert_non_null(strstr(err.msg, "UTF-8"));
        /* "\u0000" would cut "/etc\u0000/../usr" down to "/etc" inside cJSON. */
        assert_fails("{'filesystem': {'read_only': ['/etc\\u0000/../usr']}}",
                     "\"\\u0000\" is not allowed in strings at 1:36");
        /* An escaped backslash followed by "u0000" is ordinary text, not a NUL. */
        assert_fails("{'description': 'a\\\\u0000', 'x': 1}", "x: unknown field");
}

static void test_policy__rejects_relative_path(void **state) {
        (void) state;
        assert_fails("{'filesystem': {'read_only': ['/usr', '/bin', {'source': 'usr'}]}}",
                     "filesystem.read_only[2].source: must be an absolute path, got \"usr\"");
        assert_fails("{'filesystem': {'read_write': ['data']}}",
                     "filesystem.read_write[0]: must be an absolute path, got \"data\"");
        assert_fails("{'filesystem': {'workspace': ''}}",
                     "filesystem.workspace: must be an absolute path, got \"\"");
        assert_fails("{'filesystem': {'tmpfs': [{'path': 'tmp'}]}}",
                     "filesystem.tmpfs[0].path: must be an absolute path, got \"tmp\"");
        assert_fails("{'filesystem': {'read_only': [{'source': '/a', 'dest': 'b'}]}}",
                     "filesystem.read_only[0].dest: must be an absolute path, got \"b\"");
        assert_fails("{'filesystem': {'read_only': [42]}}",
                     "filesystem.read_only[0]: expected a path string or an object, got number");
        assert_fails("{'filesystem': {'read_only': [{'dest': '/x'}]}}",
                     "filesystem.read_only[0].source: required");
}

static void test_policy__rejects_unnormalized_paths(void **state) {
        static const char *const bad[] = {"/usr/", "//usr",   "/usr//lib", "/usr/./lib", "/usr/..",
                                          "/./x",  "/a/../b", "/.",        "/.."};
        char json[256], want[256];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                (void) snprintf(json, sizeof(json), "{'filesystem': {'read_only': ['%s']}}", bad[i]);
                (void) snprintf(
                        want, sizeof(want),
                        "filesystem.read_only[0]: must be normalized (no \"//\", \".\" or \"..\" and no "
                        "trailing \"/\"), got \"%s\"",
                        bad[i]);
                assert_fails(json, want);
        }
        assert_fails("{'filesystem': {'read_only': ['/a\\nb']}}",
                     "filesystem.read_only[0]: must not contain control characters, got \"/a\\x0ab\"");

        /* 4095 bytes is the limit. */
        char *long_path = malloc(4096 + 64);
        assert_non_null(long_path);
        memset(long_path, 'a', 4096);
        long_path[0] = '/';
        long_path[4096] = 0;
        char *doc = NULL;
        assert_true(asprintf(&doc, "{'filesystem': {'workspace': '%s'}}", long_path) > 0);
        assert_fails(doc, "filesystem.workspace: longer than 4095 bytes");
        free(doc);
        long_path[4095] = 0;
        assert_true(asprintf(&doc, "{'filesystem': {'workspace': '%s'}}", long_path) > 0);
        brig_policy *p = parse_ok(doc);
        assert_int_equal(strlen(p->filesystem.workspace), 4095);
        brig_policy_free(p);
        free(doc);
        free(long_path);

        /* Dots inside names are fine. */
        p = parse_ok("{'filesystem': {'read_only': ['/etc/ld.so.conf.d', '/a/..b', '/a/.c']}}");
        assert_int_equal(p->filesystem.n_binds, 3);
        brig_policy_free(p);
}

static void test_policy__rejects_reserved_mount_points(void **state) {
        (void) state;
        assert_fails("{'filesystem': {'read_only': ['/proc']}}",
                     "filesystem.read_only[0]: \"/proc\" is reserved: brig mounts or generates it");
        assert_fails("{'filesystem': {'read_only': [{'source': '/', 'optional': true}]}}",
                     "filesystem.read_only[0].source: cannot mount over \"/\"");
        assert_fails("{'filesystem': {'read_write': [{'source': '/srv', 'dest': '/'}]}}",
                     "filesystem.read_write[0].dest: cannot mount over \"/\"");
        assert_fails("{'filesystem': {'read_only': ['/dev/sda']}}",
                     "filesystem.read_only[0]: \"/dev/sda\" is reserved: brig mounts or generates it");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/dev'}]}}",
                     "filesystem.tmpfs[0].path: \"/dev\" is reserved: brig mounts or generates it");
        assert_fails("{'filesystem': {'workspace': '/proc/self'}}",
                     "filesystem.workspace: \"/proc/self\" is reserved: brig mounts or generates it");
        assert_fails("{'filesystem': {'workspace': '/'}}", "filesystem.workspace: cannot mount over \"/\"");
        assert_fails_at("{'filesystem': {'read_only': [{'source': '/x', 'dest': '/etc/passwd'}]}}",
                        "filesystem.read_only[0].dest");
        assert_fails_at("{'filesystem': {'read_only': ['/etc/group']}}", "filesystem.read_only[0]");
        assert_fails_at("{'filesystem': {'read_only': ['/etc/hosts']}}", "filesystem.read_only[0]");
        assert_fails_at("{'filesystem': {'read_only': ['/etc/hostname']}}", "filesystem.read_only[0]");
        /* /etc itself would hide the generated files. */
        assert_fails_at("{'filesystem': {'read_only': ['/etc']}}", "filesystem.read_only[0]");

        /* A sibling sharing a reserved path's prefix is allowed; /dev and /proc may be bind sources. */
        brig_policy *p = parse_ok("{'filesystem': {'read_only': ['/etc/ssl', '/process', '/devices', "
                                  "'/etc/passwd.d', {'source': '/dev/shm', 'dest': '/shm'}]}}");
        assert_int_equal(p->filesystem.n_binds, 5);
        brig_policy_free(p);
}

static void test_policy__rejects_duplicate_mount_points(void **state) {
        (void) state;
        assert_fails("{'filesystem': {'read_only': ['/usr', '/usr']}}",
                     "filesystem.read_only[1]: \"/usr\" is already mounted by filesystem.read_only[0]");
        assert_fails("{'filesystem': {'read_only': ['/data'], 'read_write': [{'source': '/x', 'dest': "
                     "'/data'}]}}",
                     "filesystem.read_write[0]: \"/data\" is already mounted by filesystem.read_only[0]");
        assert_fails("{'filesystem': {'read_only': ['/tmp'], 'tmpfs': [{'path': '/tmp'}]}}",
                     "filesystem.tmpfs[0]: \"/tmp\" is already mounted by filesystem.read_only[0]");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/workspace'}]}}",
                     "filesystem.workspace: \"/workspace\" is already mounted by filesystem.tmpfs[0]");
        assert_fails("{'filesystem': {'workspace': '/w', 'read_write': ['/w']}}",
                     "filesystem.workspace: \"/w\" is already mounted by filesystem.read_write[0]");
        /* Nested mount points are fine. */
        brig_policy *p =
                parse_ok("{'filesystem': {'read_only': ['/usr'], 'tmpfs': [{'path': '/usr/tmp'}]}}");
        brig_policy_free(p);
}

static void test_policy__hidden_paths(void **state) {
        (void) state;
        brig_policy *p = parse_ok("{'filesystem': {'read_only': ['/usr'], 'hidden': ['/usr/bin/pip3', "
                                  "'/usr/lib/python3/dist-packages', '/opt']}}");
        assert_int_equal(p->filesystem.n_hidden, 3);
        assert_string_equal(p->filesystem.hidden[0], "/usr/bin/pip3");
        assert_string_equal(p->filesystem.hidden[2], "/opt");
        assert_null(p->filesystem.hidden[3]);
        brig_policy_free(p);
        p = parse_ok("{}");
        assert_int_equal(p->filesystem.n_hidden, 0);
        brig_policy_free(p);

        assert_fails("{'filesystem': {'read_only': ['/usr'], 'hidden': ['/usr']}}",
                     "filesystem.hidden[0]: \"/usr\" would hide /usr, mounted by filesystem.read_only[0]");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/srv/tmp'}], 'hidden': ['/srv']}}",
                     "filesystem.hidden[0]: \"/srv\" would hide /srv/tmp, mounted by filesystem.tmpfs[0]");
        assert_fails("{'filesystem': {'hidden': ['/']}}", "filesystem.hidden[0]: cannot mount over \"/\"");
        assert_fails(
                "{'filesystem': {'workspace': '/home/agent', 'hidden': ['/home']}}",
                "filesystem.hidden[0]: \"/home\" would hide /home/agent, mounted by filesystem.workspace");
        /* A sibling sharing a prefix is not below it. */
        p = parse_ok("{'filesystem': {'hidden': ['/work']}}");
        brig_policy_free(p);
        assert_fails("{'filesystem': {'hidden': ['/opt', '/opt']}}",
                     "filesystem.hidden[1]: \"/opt\" is listed twice");
        assert_fails("{'filesystem': {'hidden': ['/proc/kcore']}}",
                     "filesystem.hidden[0]: \"/proc/kcore\" is reserved: brig mounts or generates it");
        assert_fails("{'filesystem': {'hidden': ['opt']}}",
                     "filesystem.hidden[0]: must be an absolute path, got \"opt\"");
        assert_fails("{'filesystem': {'hidden': '/opt'}}",
                     "filesystem.hidden: expected an array, got string");
}

static void test_policy__workspace_quota(void **state) {
        (void) state;
        brig_policy *p = parse_ok("{}");
        assert_int_equal(p->filesystem.quota, 0);
        brig_policy_free(p);
        p = parse_ok("{'filesystem': {'workspace_quota': '2G'}}");
        assert_int_equal(p->filesystem.quota, 2ULL << 30);
        brig_policy_free(p);
        assert_fails("{'filesystem': {'workspace_quota': '512K'}}",
                     "filesystem.workspace_quota: expected a size from 1M to 1T, got \"512K\"");
        assert_fails("{'filesystem': {'workspace_quota': 'big'}}",
                     "filesystem.workspace_quota: expected a size like \"512M\", got \"big\"");
        p = parse_ok("{'filesystem': {'workspace_quota': {'size': '1G', 'enforce': 'hard'}}}");
        assert_int_equal(p->filesystem.quota, 1ULL << 30);
        assert_int_equal(p->filesystem.quota_enforce, BRIG_QUOTA_HARD);
        brig_policy_free(p);
        assert_fails("{'filesystem': {'workspace_quota': {'size': '1G', 'enforce': 'maybe'}}}",
                     "filesystem.workspace_quota.enforce: expected \"auto\", \"hard\" or \"soft\"");
        assert_fails("{'filesystem': {'workspace_quota': {'enforce': 'hard'}}}",
                     "filesystem.workspace_quota.size: required");
}

static void test_policy__bind_optional_must_be_boolean(void **state) {
        (void) state;
        assert_fails("{'filesystem': {'read_only': [{'source': '/x', 'optional': 'yes'}]}}",
                     "filesystem.read_only[0].optional: expected a boolean, got string");
        assert_fails("{'filesystem': {'read_only': '/usr'}}",
                     "filesystem.read_only: expected an array, got string");
        assert_fails("{'filesystem': {'read_only': [{'source': null}]}}",
                     "filesystem.read_only[0].source: expected a path string, got null");
}

static void test_policy__memory_accepts_sizes_and_bytes(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{'limits': {'memory': '4M'}}");
        assert_int_equal(p->limits.memory_bytes, 4 * MIB);
        brig_policy_free(p);
        p = parse_ok("{'limits': {'memory': 4194304}}");
        assert_int_equal(p->limits.memory_bytes, 4 * MIB);
        brig_policy_free(p);
        p = parse_ok("{'limits': {'memory': '1T'}}");
        assert_int_equal(p->limits.memory_bytes, TIB);
        brig_policy_free(p);
        p = parse_ok("{'limits': {'memory': '2GiB'}}");
        assert_int_equal(p->limits.memory_bytes, 2 * GIB);
        brig_policy_free(p);
}

static void test_policy__rejects_bad_sizes(void **state) {
        (void) state;
        assert_fails("{'limits': {'memory': 'lots'}}",
                     "limits.memory: expected a size like \"512M\", got \"lots\"");
        assert_fails("{'limits': {'memory': '1.5G'}}",
                     "limits.memory: expected a size like \"512M\", got \"1.5G\"");
        assert_fails("{'limits': {'memory': true}}",
                     "limits.memory: expected a size like \"512M\", got boolean");
        assert_fails("{'limits': {'memory': '4194303'}}",
                     "limits.memory: expected a size from 4M to 1T, got \"4194303\"");
        assert_fails("{'limits': {'memory': 4194303}}",
                     "limits.memory: expected a size from 4M to 1T, got 4194303");
        assert_fails("{'limits': {'memory': '1025G'}}",
                     "limits.memory: expected a size from 4M to 1T, got \"1025G\"");
        assert_fails("{'limits': {'memory': -1}}", "limits.memory: expected a size from 4M to 1T, got -1");
        assert_fails("{'limits': {'memory': 4e6}}",
                     "limits.memory: expected a size from 4M to 1T, got 4000000");
        assert_fails("{'limits': {'memory': 4194304.5}}",
                     "limits.memory: expected a size from 4M to 1T, got 4194304.5");
        assert_fails("{'limits': {'memory': 1e300}}",
                     "limits.memory: expected a size from 4M to 1T, got 1e+300");
        /* Overflowing uint64 is a range problem, not garbage. */
        assert_fails("{'limits': {'memory': '99999999999999999999999T'}}",
                     "limits.memory: expected a size from 4M to 1T, got \"99999999999999999999999T\"");
        assert_fails("{'limits': {'file_size': 0}}",
                     "limits.file_size: expected a size from 1 to 1T, got 0");
        assert_fails("{'limits': {'output': '1023'}}",
                     "limits.output: expected a size from 1K to 256M, got \"1023\"");
        assert_fails("{'limits': {'output': '257M'}}",
                     "limits.output: expected a size from 1K to 256M, got \"257M\"");
        brig_policy *p = parse_ok("{'limits': {'output': '1K', 'file_size': 1}}");
        assert_int_equal(p->limits.output_bytes, 1024);
        assert_int_equal(p->limits.file_size_bytes, 1);
        brig_policy_free(p);
}

static void test_policy__integer_limits_are_bounded(void **state) {
        brig_policy *p;

        (void) state;
        assert_fails("{'limits': {'processes': 0}}",
                     "limits.processes: expected an integer from 1 to 65536");
        assert_fails("{'limits': {'processes': 65537}}",
                     "limits.processes: expected an integer from 1 to 65536");
        assert_fails("{'limits': {'processes': 1.5}}",
                     "limits.processes: expected an integer from 1 to 65536");
        assert_fails("{'limits': {'processes': '10'}}",
                     "limits.processes: expected an integer from 1 to 65536");
        assert_fails("{'limits': {'processes': -3}}",
                     "limits.processes: expected an integer from 1 to 65536");
        assert_fails("{'limits': {'open_files': 15}}",
                     "limits.open_files: expected an integer from 16 to 1048576");
        assert_fails("{'limits': {'open_files': 1048577}}",
                     "limits.open_files: expected an integer from 16 to 1048576");
        p = parse_ok("{'limits': {'processes': 65536, 'open_files': 16}}");
        assert_int_equal(p->limits.processes, 65536);
        assert_int_equal(p->limits.open_files, 16);
        brig_policy_free(p);
        p = parse_ok("{'limits': {'processes': 1, 'open_files': 1048576}}");
        assert_int_equal(p->limits.processes, 1);
        assert_int_equal(p->limits.open_files, 1048576);
        brig_policy_free(p);
}

static void test_policy__tools_and_history_sections(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{}");
        assert_null(p->tools.allow);
        assert_true(brig_policy_allows_tool(p, "write_file"));
        assert_false(p->tools.files.read_only);
        assert_true(p->tools.files.fsync);
        assert_int_equal(p->tools.files.max_read, 16 << 20);
        assert_false(p->history.auto_snapshot);
        assert_null(p->history.exclude);
        brig_policy_free(p);

        p = parse_ok(
                "{'tools': {'allow': ['exec', 'read_file'], 'files': {'read_only': true, 'max_read': '1M', "
                "'max_results': 10, 'fsync': false}}, 'history': {'auto_snapshot': true, 'exclude': "
                "['node_modules/', '*.pyc'], 'max_file_size': '1M'}}");
        assert_true(brig_policy_allows_tool(p, "read_file"));
        assert_false(brig_policy_allows_tool(p, "write_file"));
        assert_true(p->tools.files.read_only);
        assert_false(p->tools.files.fsync);
        assert_int_equal(p->tools.files.max_read, 1 << 20);
        assert_int_equal(p->tools.files.max_results, 10);
        assert_true(p->history.auto_snapshot);
        assert_string_equal(p->history.exclude[1], "*.pyc");
        assert_null(p->history.exclude[2]);
        assert_int_equal(p->history.max_file_size, 1 << 20);
        brig_policy_free(p);

        assert_fails("{'tools': {'allow': ['exec', 'sudo']}}", "tools.allow[1]: unknown tool \"sudo\"");
        assert_fails("{'tools': {'allow': ['exec', 'exec']}}", "tools.allow[1]: \"exec\" is listed twice");
        assert_fails("{'tools': {'files': {'read_only': 1}}}",
                     "tools.files.read_only: expected true or false, got number");
        assert_fails("{'tools': {'files': {'max_read': '1G5'}}}",
                     "tools.files.max_read: expected a size like \"512M\", got \"1G5\"");
        assert_fails("{'history': {'exclude': ['']}}",
                     "history.exclude[0]: expected a gitignore-style pattern of 1 to 255 bytes on one line");
        assert_fails("{'history': {'auto': true}}", "history.auto: unknown field");
}

static void test_policy__memory_section(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{}");
        assert_int_equal(p->memory.scope, BRIG_MEMORY_SCOPE_OWNER);
        assert_null(p->memory.scope_name);
        assert_int_equal(p->memory.mode, BRIG_MEMORY_READ_WRITE);
        assert_int_equal(p->memory.max_bytes, 16 << 20);
        assert_int_equal(p->memory.max_files, 1000);
        assert_false(p->memory.mount);
        brig_policy_free(p);

        p = parse_ok("{'memory': {'scope': 'environment', 'mode': 'read_only', 'max_bytes': '1M', "
                     "'max_files': 5, 'mount': true}}");
        assert_int_equal(p->memory.scope, BRIG_MEMORY_SCOPE_ENVIRONMENT);
        assert_true(p->memory.mount);
        assert_int_equal(p->memory.mode, BRIG_MEMORY_READ_ONLY);
        assert_int_equal(p->memory.max_bytes, 1 << 20);
        assert_int_equal(p->memory.max_files, 5);
        brig_policy_free(p);

        p = parse_ok("{'memory': {'scope': 'team-build.2', 'mode': 'off'}}");
        assert_int_equal(p->memory.scope, BRIG_MEMORY_SCOPE_NAMED);
        assert_string_equal(p->memory.scope_name, "team-build.2");
        assert_int_equal(p->memory.mode, BRIG_MEMORY_OFF);
        brig_policy_free(p);

        static const char scope_msg[] =
                "memory.scope: expected \"owner\", \"environment\" or a scope name of 1 "
                "to 64 characters a-z, 0-9, '.', '_' and '-' (starting with a letter "
                "or digit)";
        assert_fails("{'memory': {'scope': '../etc'}}", scope_msg);
        assert_fails("{'memory': {'scope': '.hidden'}}", scope_msg);
        assert_fails("{'memory': {'scope': 'Team'}}", scope_msg);
        assert_fails("{'memory': {'scope': ''}}", scope_msg);
        assert_fails("{'memory': {'scope': 3}}", scope_msg);
        assert_fails("{'memory': {'mode': 'write'}}",
                     "memory.mode: expected \"read_write\", \"read_only\" or \"off\"");
        assert_fails("{'memory': {'max_bytes': '2G'}}",
                     "memory.max_bytes: expected a size from 1K to 1G, got \"2G\"");
        assert_fails("{'memory': {'max_files': 0}}",
                     "memory.max_files: expected an integer from 1 to 100000");
        assert_fails("{'memory': {'mount': 'yes'}}", "memory.mount: expected true or false, got string");
        assert_fails("{'memory': {'mounts': true}}", "memory.mounts: unknown field");
        assert_fails("{'memory': []}", "memory: expected an object, got array");
}

static void test_policy__durations_are_bounded(void **state) {
        brig_policy *p;

        (void) state;
        assert_fails("{'limits': {'wall_time': '0s'}}",
                     "limits.wall_time: expected a duration from 1ms to 24h, got \"0s\"");
        assert_fails("{'limits': {'wall_time': '25h'}}",
                     "limits.wall_time: expected a duration from 1ms to 24h, got \"25h\"");
        assert_fails("{'limits': {'wall_time': '30'}}",
                     "limits.wall_time: expected a duration like \"30s\", got \"30\"");
        assert_fails("{'limits': {'wall_time': 30}}",
                     "limits.wall_time: expected a duration like \"30s\", got number");
        assert_fails("{'limits': {'cpu_time': '999ms'}}",
                     "limits.cpu_time: expected a duration from 1s to 24h, got \"999ms\"");
        assert_fails("{'limits': {'cpu_time': '99999999999999999999h'}}",
                     "limits.cpu_time: expected a duration from 1s to 24h, got \"99999999999999999999h\"");
        p = parse_ok("{'limits': {'wall_time': '1ms', 'cpu_time': '24h'}}");
        assert_int_equal(p->limits.wall_time_ms, 1);
        assert_int_equal(p->limits.cpu_time_ms, 24 * 3600 * 1000);
        brig_policy_free(p);
        p = parse_ok("{'limits': {'wall_time': '1440m', 'cpu_time': '1500ms'}}");
        assert_int_equal(p->limits.wall_time_ms, 24 * 3600 * 1000);
        assert_int_equal(p->limits.cpu_time_ms, 1500);
        brig_policy_free(p);
}

static void test_policy__tmpfs_size_and_mode(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok(
                "{'filesystem': {'tmpfs': [{'path': '/a'}, {'path': '/b', 'size': '64G', 'mode': '0755'},"
                " {'path': '/c', 'mode': '700'}, {'path': '/d', 'mode': '07777'}, {'path': '/e', 'mode': "
                "'0'}]}}");
        assert_int_equal(p->filesystem.n_tmpfs, 5);
        assert_int_equal(p->filesystem.tmpfs[0].size_bytes, 64 * MIB);
        assert_int_equal(p->filesystem.tmpfs[0].mode, 01777);
        assert_int_equal(p->filesystem.tmpfs[1].size_bytes, 64 * GIB);
        assert_int_equal(p->filesystem.tmpfs[1].mode, 0755);
        assert_int_equal(p->filesystem.tmpfs[2].mode, 0700);
        assert_int_equal(p->filesystem.tmpfs[3].mode, 07777);
        assert_int_equal(p->filesystem.tmpfs[4].mode, 0);
        brig_policy_free(p);

        /* size=0 means "unlimited" to the kernel. */
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/a', 'size': 0}]}}",
                     "filesystem.tmpfs[0].size: expected a size from 1 to 64G, got 0");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/a', 'size': '65G'}]}}",
                     "filesystem.tmpfs[0].size: expected a size from 1 to 64G, got \"65G\"");
        assert_fails(
                "{'filesystem': {'tmpfs': [{'path': '/a', 'mode': '8'}]}}",
                "filesystem.tmpfs[0].mode: expected an octal mode string from \"0\" to \"7777\", got \"8\"");
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/a', 'mode': '17777'}]}}",
                     "filesystem.tmpfs[0].mode: expected an octal mode string from \"0\" to \"7777\", got "
                     "\"17777\"");
        assert_fails(
                "{'filesystem': {'tmpfs': [{'path': '/a', 'mode': ''}]}}",
                "filesystem.tmpfs[0].mode: expected an octal mode string from \"0\" to \"7777\", got \"\"");
        /* A JSON number would be decimal: 1777 is not 01777. */
        assert_fails("{'filesystem': {'tmpfs': [{'path': '/a', 'mode': 1777}]}}",
                     "filesystem.tmpfs[0].mode: expected an octal mode string from \"0\" to \"7777\", got "
                     "number");
        assert_fails("{'filesystem': {'tmpfs': [{'size': '1M'}]}}", "filesystem.tmpfs[0].path: required");
        assert_fails("{'filesystem': {'tmpfs': ['/tmp']}}",
                     "filesystem.tmpfs[0]: expected an object, got string");
}

static void test_policy__env_replaces_defaults(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{'env': {}}");
        assert_int_equal(p->env.n_vars, 0);
        assert_non_null(p->env.vars);
        assert_null(p->env.vars[0]);
        assert_null(brig_policy_getenv(p, "PATH"));
        brig_policy_free(p);

        p = parse_ok("{'env': {'_X': '', 'Z9': 'a=b', 'PATH': '/bin'}}");
        assert_int_equal(p->env.n_vars, 3);
        assert_string_equal(p->env.vars[0], "PATH=/bin");
        assert_string_equal(p->env.vars[1], "Z9=a=b");
        assert_string_equal(p->env.vars[2], "_X=");
        assert_string_equal(brig_policy_getenv(p, "Z9"), "a=b");
        assert_string_equal(brig_policy_getenv(p, "_X"), "");
        assert_null(brig_policy_getenv(p, "Z"));
        assert_null(brig_policy_getenv(p, "PAT"));
        assert_null(brig_policy_getenv(p, "PATH=/bin"));
        brig_policy_free(p);
}

static void test_policy__env_pass_through(void **state) {
        (void) state;
        char *host[] = {
                (char *) "TERM=xterm", (char *) "LC_ALL=C", (char *) "LC_TIME=en_GB", (char *) "SECRET=x",
                (char *) "FOO=host",   (char *) "LCX=1",    (char *) "noequals",      NULL};
        brig_policy *p = parse_ok("{'env': {'set': {'FOO': 'set', 'PATH': '/bin'}, 'pass': ['TERM', 'LC_*', "
                                  "'FOO*', 'ABSENT']}}");
        assert_int_equal(p->env.n_pass, 4);
        assert_int_equal(brig_policy_env_pass(p, host), 3);
        assert_int_equal(p->env.n_vars, 5);
        /* Sorted, the policy's own FOO kept, nothing unlisted. */
        assert_string_equal(p->env.vars[0], "FOO=set");
        assert_string_equal(p->env.vars[1], "LC_ALL=C");
        assert_string_equal(p->env.vars[2], "LC_TIME=en_GB");
        assert_string_equal(p->env.vars[3], "PATH=/bin");
        assert_string_equal(p->env.vars[4], "TERM=xterm");
        assert_null(p->env.vars[5]);
        brig_policy_free(p);

        /* Without "set", the default environment; the flat form passes nothing. */
        p = parse_ok("{'env': {'pass': ['TERM']}}");
        assert_string_equal(brig_policy_getenv(p, "LANG"), "C.UTF-8");
        assert_int_equal(brig_policy_env_pass(p, host), 1);
        assert_string_equal(brig_policy_getenv(p, "TERM"), "xterm");
        brig_policy_free(p);
        p = parse_ok("{'env': {'TERM': 'dumb'}}");
        assert_int_equal(brig_policy_env_pass(p, host), 0);
        assert_string_equal(brig_policy_getenv(p, "TERM"), "dumb");
        brig_policy_free(p);

        assert_fails("{'env': {'set': {}, 'pass': ['A'], 'other': 1}}", "env.other: unknown field");
        assert_fails("{'env': {'set': {'A': '1'}, 'pass': ['A']}}",
                     "env.pass[0]: \"A\" is also set by env.set; keep one");
        assert_fails("{'env': {'pass': ['B', 'B']}}", "env.pass[1]: \"B\" is listed twice");
        assert_fails("{'env': {'pass': ['*']}}",
                     "env.pass[0]: expected a variable name or NAME_PREFIX*, got \"*\"");
        assert_fails("{'env': {'pass': ['1x']}}",
                     "env.pass[0]: expected a variable name or NAME_PREFIX*, got \"1x\"");
        assert_fails("{'env': {'pass': [1]}}", "env.pass[0]: expected a string, got number");
        assert_fails("{'env': {'set': {'A': 1}, 'pass': []}}", "env.set.A: expected a string, got number");
}

static void test_policy__check_host_finds_missing_bind_sources(void **state) {
        (void) state;
        brig_policy_diags d = {0};
        brig_policy *p = parse_ok("{'filesystem': {'read_only': ['/usr', {'source': '/nonexistent-ro', "
                                  "'optional': true}, '/nonexistent-a'], 'read_write': ['/tmp', "
                                  "{'source': '/nonexistent-b', 'dest': '/b'}]}}");
        assert_int_equal(brig_policy_check_host(p, &d), 2);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].path, "filesystem.read_only[2]");
        assert_string_equal(d.items[0].msg,
                            "\"/nonexistent-a\": No such file or directory on this host (mark "
                            "the bind \"optional\" if that is expected)");
        assert_string_equal(d.items[1].path, "filesystem.read_write[1]");
        brig_policy_diags_done(&d);
        brig_policy_free(p);
}

static void test_policy__add_bind_checks_like_the_parser(void **state) {
        (void) state;
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = parse_ok("{'filesystem': {'read_only': ['/usr'], 'read_write': ['/srv'], "
                                  "'hidden': ['/opt/secret']}}");

        assert_int_equal(brig_policy_add_bind(p, "/data", "/mnt/data", true, &err), 0);
        assert_int_equal(brig_policy_add_bind(p, "/cache", NULL, false, &err), 0);
        assert_int_equal(p->filesystem.n_binds, 4);
        /* Read-only binds stay in front of the writable ones. */
        assert_string_equal(p->filesystem.binds[1].dest, "/mnt/data");
        assert_true(p->filesystem.binds[1].read_only);
        assert_string_equal(p->filesystem.binds[2].dest, "/srv");
        assert_string_equal(p->filesystem.binds[3].dest, "/cache");
        assert_false(p->filesystem.binds[3].read_only);

        assert_int_equal(brig_policy_add_bind(p, "/x", "/usr", true, &err), -EINVAL);
        assert_string_equal(err.msg, "--ro-bind: \"/usr\" is already mounted by filesystem.read_only[0]");
        assert_int_equal(brig_policy_add_bind(p, "x", NULL, false, &err), -EINVAL);
        assert_string_equal(err.msg, "--bind: must be an absolute path, got \"x\"");
        assert_int_equal(brig_policy_add_bind(p, "/x", "/dev/x", false, &err), -EINVAL);
        assert_string_equal(err.msg, "--bind: \"/dev/x\" is reserved: brig mounts or generates it");
        assert_int_equal(brig_policy_add_bind(p, "/x", "/opt/secret/y", true, &err), -EINVAL);
        assert_string_equal(err.msg,
                            "--ro-bind: \"/opt/secret/y\" is hidden by the policy (filesystem.hidden[0])");
        assert_int_equal(brig_policy_add_bind(p, "/x", "/workspace", true, &err), -EINVAL);
        assert_int_equal(p->filesystem.n_binds, 4);
        brig_policy_free(p);
}

static void test_policy__audit_section(void **state) {
        (void) state;
        brig_policy *p = parse_ok("{}");
        assert_true(p->audit.file_reads);
        assert_int_equal(p->audit.max_string, 1024);
        brig_policy_free(p);
        p = parse_ok("{'audit': {'file_reads': false, 'max_string': '4K'}}");
        assert_false(p->audit.file_reads);
        assert_int_equal(p->audit.max_string, 4096);
        brig_policy_free(p);
        assert_fails("{'audit': {'file_reads': 'no'}}",
                     "audit.file_reads: expected true or false, got string");
        assert_fails("{'audit': {'max_string': 8}}",
                     "audit.max_string: expected a size from 16 bytes to 64K, got 8");
        assert_fails("{'audit': {'calls': true}}", "audit.calls: unknown field");
        assert_fails("{'audit': []}", "audit: expected an object, got array");
}

static void test_policy__default_home_follows_workspace(void **state) {
        brig_policy *p = parse_ok("{'filesystem': {'workspace': '/home/agent/src'}}");

        (void) state;
        assert_string_equal(brig_policy_getenv(p, "HOME"), "/home/agent/src");
        assert_string_equal(brig_policy_getenv(p, "PATH"), "/usr/local/bin:/usr/bin:/bin");
        assert_string_equal(brig_policy_getenv(p, "LANG"), "C.UTF-8");
        assert_string_equal(brig_policy_getenv(p, "TMPDIR"), "/tmp");
        brig_policy_free(p);
}

static void test_policy__rejects_bad_env(void **state) {
        (void) state;
        assert_fails("{'env': {'1X': 'a'}}",
                     "env.1X: expected a name matching [A-Za-z_][A-Za-z0-9_]* of at most 255 bytes");
        assert_fails("{'env': {'A-B': 'a'}}",
                     "env[\"A-B\"]: expected a name matching [A-Za-z_][A-Za-z0-9_]* of at most 255 bytes");
        assert_fails("{'env': {'': 'a'}}",
                     "env[\"\"]: expected a name matching [A-Za-z_][A-Za-z0-9_]* of at most 255 bytes");
        assert_fails("{'env': {'A': 1}}", "env.A: expected a string, got number");
        assert_fails("{'env': ['A=1']}", "env: expected an object, got array");

        /* 256 variables are fine, 257 are not; values up to 32 KiB. */
        size_t cap = 257 * 16 + 64;
        char *doc = malloc(cap), *w = doc;
        assert_non_null(doc);
        w += sprintf(w, "{'env': {");
        for (int i = 0; i < 257; i++)
                w += sprintf(w, "%s'V%d': 'x'", i ? ", " : "", i);
        (void) sprintf(w, "}}");
        assert_fails(doc, "env: more than 256 variables");
        free(doc);

        char *value = malloc(32 * 1024 + 2);
        assert_non_null(value);
        memset(value, 'v', 32 * 1024 + 1);
        value[32 * 1024 + 1] = 0;
        assert_true(asprintf(&doc, "{'env': {'BIG': '%s'}}", value) > 0);
        assert_fails(doc, "env.BIG: value longer than 32768 bytes");
        free(doc);
        value[32 * 1024] = 0;
        assert_true(asprintf(&doc, "{'env': {'BIG': '%s'}}", value) > 0);
        brig_policy *p = parse_ok(doc);
        assert_int_equal(strlen(brig_policy_getenv(p, "BIG")), 32 * 1024);
        brig_policy_free(p);
        free(doc);
        free(value);
}

static void test_policy__seccomp_deny_resolves_names(void **state) {
        (void) state;
        assert_fails("{'seccomp': {'deny': ['nosuchcall']}}",
                     "seccomp.deny[0]: unknown syscall \"nosuchcall\" on this architecture");
        assert_fails("{'seccomp': {'deny': ['syslog', 'SYSLOG']}}",
                     "seccomp.deny[1]: expected a syscall name like \"syslog\", got \"SYSLOG\"");
        assert_fails("{'seccomp': {'deny': ['sys log']}}",
                     "seccomp.deny[0]: expected a syscall name like \"syslog\", got \"sys log\"");
        assert_fails("{'seccomp': {'deny': ['']}}",
                     "seccomp.deny[0]: expected a syscall name like \"syslog\", got \"\"");
        assert_fails("{'seccomp': {'deny': [103]}}", "seccomp.deny[0]: expected a syscall name, got number");
        assert_fails("{'seccomp': {'deny': ['acct', 'acct']}}", "seccomp.deny[1]: \"acct\" is listed twice");
        assert_fails("{'seccomp': {'deny': 'syslog'}}", "seccomp.deny: expected an array, got string");
        assert_fails("{'seccomp': []}", "seccomp: expected an object, got array");
}

static void test_policy__seccomp_errno_names_and_numbers(void **state) {
        static const struct {
                const char *json;
                int want;
        } ok[] = {
                {"{'seccomp': {'errno': 'EPERM'}}", EPERM},
                {"{'seccomp': {'errno': 'EACCES'}}", EACCES},
                {"{'seccomp': {'errno': 'ENOSYS'}}", ENOSYS},
                {"{'seccomp': {'errno': 'EINVAL'}}", EINVAL},
                {"{'seccomp': {'errno': 1}}", 1},
                {"{'seccomp': {'errno': 4095}}", 4095},
                {"{'seccomp': {}}", EPERM},
        };
        static const char *const bad[] = {"'ENOENT'", "'eperm'", "0", "4096", "1.5", "-1", "true"};
        char json[128];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                brig_policy *p = parse_ok(ok[i].json);
                assert_int_equal(p->seccomp.errno_ret, ok[i].want);
                brig_policy_free(p);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                (void) snprintf(json, sizeof(json), "{'seccomp': {'errno': %s}}", bad[i]);
                assert_fails(json,
                             "seccomp.errno: expected one of \"EPERM\", \"EACCES\", \"ENOSYS\", \"EINVAL\" "
                             "or an integer from 1 to 4095");
        }
}

static void test_policy__seccomp_audit_defaults_on_and_per_entry(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok(
                "{'seccomp': {'deny': ['syslog', {'name': 'acct', 'audit': false}, {'name': 'kcmp'}]}}");
        assert_true(p->seccomp.audit);
        assert_int_equal(p->seccomp.n_deny, 3);
        assert_string_equal(p->seccomp.deny[1], "acct");
        assert_true(p->seccomp.deny_audit[0]);
        assert_false(p->seccomp.deny_audit[1]);
        assert_true(p->seccomp.deny_audit[2]);
        brig_policy_free(p);

        p = parse_ok("{'seccomp': {'audit': false, 'deny': ['syslog', {'name': 'acct', 'audit': true}]}}");
        assert_false(p->seccomp.audit);
        assert_false(p->seccomp.deny_audit[0]);
        assert_true(p->seccomp.deny_audit[1]);
        brig_policy_free(p);

        p = parse_ok("{}");
        assert_true(p->seccomp.audit);
        brig_policy_free(p);

        assert_fails("{'seccomp': {'audit': 'yes'}}", "seccomp.audit: expected true or false, got string");
        assert_fails("{'seccomp': {'deny': [{'audit': false}]}}", "seccomp.deny[0].name: is required");
        assert_fails("{'seccomp': {'deny': [{'name': 'acct', 'audit': 1}]}}",
                     "seccomp.deny[0].audit: expected true or false, got number");
        assert_fails("{'seccomp': {'deny': [{'name': 'acct', 'level': 1}]}}",
                     "seccomp.deny[0].level: unknown field");
        assert_fails("{'seccomp': {'deny': [{'name': 7}]}}",
                     "seccomp.deny[0].name: expected a syscall name, got number");
        assert_fails("{'seccomp': {'deny': ['acct', {'name': 'acct'}]}}",
                     "seccomp.deny[1]: \"acct\" is listed twice");
}

static void test_policy__rejects_network_other_than_none_or_proxy(void **state) {
        brig_policy *p;

        (void) state;
        /* Nothing like the host's network: "none", or the governed proxy (tests/unit/test_netpolicy.c). */
        assert_fails("{'network': 'host'}",
                     "network: expected \"none\" or an object with \"mode\": \"proxy\", got \"host\"");
        assert_fails("{'network': 'None'}",
                     "network: expected \"none\" or an object with \"mode\": \"proxy\", got \"None\"");
        assert_fails("{'network': false}", "network: expected \"none\" or an object, got boolean");
        p = parse_ok("{'network': 'none'}");
        assert_int_equal(p->network.mode, BRIG_NETWORK_NONE);
        brig_policy_free(p);
}

#define SECRETS_NET(secrets)                                                                                \
        "{'network': {'mode': 'proxy', 'allow': ['api.github.com', '*.example.com', 'other.test'], "        \
        "'secrets': [" secrets "]}}"

static void test_policy__network_secrets(void **state) {
        brig_policy *p;
        const brig_net_secret *s;

        (void) state;
        p = parse_ok(
                SECRETS_NET("{'name': 'GITHUB_TOKEN', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                            "'inject': 'placeholder'},"
                            "{'name': 'API_KEY', 'hosts': ['*.example.com', 'a.example.com'], "
                            "'source': {'file': '/etc/brig/key'}, 'inject': 'X-Api-Key: key={secret}'}"));
        assert_int_equal(p->network.net->n_secrets, 2);
        s = &p->network.net->secrets[0];
        assert_string_equal(s->name, "GITHUB_TOKEN");
        assert_int_equal(s->source, BRIG_NET_SECRET_ENV);
        assert_string_equal(s->source_ref, "GH");
        assert_null(s->header);
        assert_true(brig_net_secret_covers(s, "api.github.com"));
        assert_false(brig_net_secret_covers(s, "other.test"));
        s = &p->network.net->secrets[1];
        assert_int_equal(s->source, BRIG_NET_SECRET_FILE);
        assert_string_equal(s->source_ref, "/etc/brig/key");
        assert_string_equal(s->header, "X-Api-Key: key={secret}");
        assert_true(brig_net_secret_covers(s, "b.example.com"));
        assert_false(brig_net_secret_covers(s, "example.com"));
        brig_policy_free(p);
}

static void test_policy__rejects_bad_network_secrets(void **state) {
#define ONE(fields) SECRETS_NET("{" fields "}")
#define GOOD_REST "'hosts': ['api.github.com'], 'source': {'env': 'GH'}, 'inject': 'placeholder'"
        (void) state;
        assert_fails(
                ONE("'name': '1X', " GOOD_REST),
                "network.secrets[0].name: expected a variable name (letters, digits, _; at most 64 bytes), "
                "got \"1X\"");
        assert_fails(
                ONE("'name': 'A-B', " GOOD_REST),
                "network.secrets[0].name: expected a variable name (letters, digits, _; at most 64 bytes), "
                "got \"A-B\"");
        assert_fails(SECRETS_NET("{'name': 'T', " GOOD_REST "}, {'name': 'T', " GOOD_REST "}"),
                     "network.secrets[1].name: secret \"T\" is listed twice");
        assert_fails(ONE(GOOD_REST), "network.secrets[0].name: required: the variable name of the secret");
        assert_fails(ONE("'name': 'T', 'hosts': [], 'source': {'env': 'GH'}, 'inject': 'placeholder'"),
                     "network.secrets[0].hosts: expected at least one host");
        assert_fails(
                ONE("'name': 'T', 'hosts': ['evil.test'], 'source': {'env': 'GH'}, 'inject': 'placeholder'"),
                "network.secrets[0].hosts[0]: \"evil.test\" is not allowed by network.allow");
        assert_fails(ONE("'name': 'T', 'hosts': ['*.github.com'], 'source': {'env': 'GH'}, 'inject': "
                         "'placeholder'"),
                     "network.secrets[0].hosts[0]: \"*.github.com\" is not allowed by network.allow");
        assert_fails(
                ONE("'name': 'T', 'hosts': ['10.0.0.1'], 'source': {'env': 'GH'}, 'inject': 'placeholder'"),
                "network.secrets[0].hosts[0]: expected a host name or *.domain without a port, got "
                "\"10.0.0.1\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com:443'], 'source': {'env': 'GH'}, "
                         "'inject': 'placeholder'"),
                     "network.secrets[0].hosts[0]: expected a host name or *.domain without a port, got "
                     "\"api.github.com:443\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'file': 'rel/path'}, "
                         "'inject': 'placeholder'"),
                     "network.secrets[0].source.file: expected an absolute path, got \"rel/path\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'A B'}, "
                         "'inject': 'placeholder'"),
                     "network.secrets[0].source.env: expected an environment variable name, got \"A B\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'A', 'file': '/x'}, "
                         "'inject': 'placeholder'"),
                     "network.secrets[0].source: expected exactly one of \"file\" and \"env\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'value': 'hunter2'}, "
                         "'inject': 'placeholder'"),
                     "network.secrets[0].source.value: unknown field");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                         "'inject': 'Authorization: Bearer'"),
                     "network.secrets[0].inject: the header value must contain {secret} exactly once, got "
                     "\"Authorization: Bearer\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                         "'inject': 'A: {secret}{secret}'"),
                     "network.secrets[0].inject: the header value must contain {secret} exactly once, got "
                     "\"A: {secret}{secret}\"");
        assert_fails(
                ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                    "'inject': 'content-length: {secret}'"),
                "network.secrets[0].inject: the header is one the proxy writes or frames the request by, "
                "got \"content-length: {secret}\"");
        assert_fails(
                ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                    "'inject': 'Proxy-Authorization: Basic {secret}'"),
                "network.secrets[0].inject: the header is one the proxy writes or frames the request by, "
                "got \"Proxy-Authorization: Basic {secret}\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                         "'inject': '{secret}: x'"),
                     "network.secrets[0].inject: the header name has a character other than a token's, got "
                     "\"{secret}: x\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                         "'inject': 'A: {secret}\\r\\nB: c'"),
                     "network.secrets[0].inject: contains a control character (CR, LF, ...), got "
                     "\"A: {secret}\\x0d\\x0aB: c\"");
        assert_fails(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}, "
                         "'inject': 'Bearer {secret}'"),
                     "network.secrets[0].inject: expected \"Header-Name: ...{secret}...\", got \"Bearer "
                     "{secret}\"");
        assert_fails_at(ONE("'name': 'T', 'hosts': ['api.github.com'], 'source': {'env': 'GH'}"),
                        "network.secrets[0].inject");
        assert_fails_at(ONE("'name': 'T', 'hosts': ['api.github.com'], 'inject': 'placeholder'"),
                        "network.secrets[0].source");
        assert_fails_at(ONE("'name': 'T', 'source': {'env': 'GH'}, 'inject': 'placeholder'"),
                        "network.secrets[0].hosts");
#undef ONE
#undef GOOD_REST
}

static void test_policy__landlock_modes(void **state) {
        static const struct {
                const char *json;
                brig_landlock_use want;
        } ok[] = {
                {"{}", BRIG_LANDLOCK_AUTO},
                {"{'landlock': 'auto'}", BRIG_LANDLOCK_AUTO},
                {"{'landlock': 'off'}", BRIG_LANDLOCK_OFF},
                {"{'landlock': 'required'}", BRIG_LANDLOCK_REQUIRED},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                brig_policy *p = parse_ok(ok[i].json);
                assert_int_equal(p->landlock, ok[i].want);
                brig_policy_free(p);
        }
}

static void test_policy__rejects_bad_landlock(void **state) {
        (void) state;
        assert_fails("{'landlock': 'on'}",
                     "landlock: expected \"auto\", \"off\" or \"required\", got \"on\"");
        assert_fails("{'landlock': 'Required'}",
                     "landlock: expected \"auto\", \"off\" or \"required\", got \"Required\"");
        assert_fails("{'landlock': ''}", "landlock: expected \"auto\", \"off\" or \"required\", got \"\"");
        assert_fails("{'landlock': true}",
                     "landlock: expected \"auto\", \"off\" or \"required\", got boolean");
        assert_fails("{'landlock': {'mode': 'auto'}}",
                     "landlock: expected \"auto\", \"off\" or \"required\", got object");
        assert_fails("{'landlock': null}", "landlock: expected \"auto\", \"off\" or \"required\", got null");
}

static void test_policy__capabilities_are_an_allow_list(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{}");
        assert_int_equal(p->capabilities, 0);
        brig_policy_free(p);
        p = parse_ok("{'capabilities': []}");
        assert_int_equal(p->capabilities, 0);
        brig_policy_free(p);
        /* Any case, with or without the prefix. */
        p = parse_ok("{'capabilities': ['CAP_NET_BIND_SERVICE', 'net_raw', 'Cap_Chown', 'SYS_CHROOT']}");
        assert_int_equal(p->capabilities, (UINT64_C(1) << 10) | (UINT64_C(1) << 13) | (UINT64_C(1) << 0) |
                                                  (UINT64_C(1) << 18));
        brig_policy_free(p);
}

static void test_policy__rejects_bad_capabilities(void **state) {
        static const struct {
                const char *name, *why;
        } refused[] = {
                {"CAP_SYS_ADMIN", "mount, namespaces and most of the kernel: it undoes the jail"},
                {"CAP_SYS_PTRACE", "it traces and rewrites other processes of the jail, its init included"},
                {"CAP_SYS_MODULE", "it loads kernel code"},
                {"CAP_SYS_RAWIO", "it gives raw device and I/O port access"},
                {"CAP_SYS_BOOT", "reboot() kills the jail's init"},
                {"CAP_SYS_RESOURCE", "it raises rlimits above the policy's limits"},
                {"CAP_SYS_TIME", "the clock is the host's"},
                {"CAP_MAC_ADMIN", "it changes the host's mandatory access control"},
                {"CAP_MAC_OVERRIDE", "it overrides the host's mandatory access control"},
                {"CAP_BPF", "BPF programs run in the kernel"},
                {"CAP_PERFMON", "perf events expose the kernel and other processes"},
                {"CAP_SETPCAP", "it changes the bounding set and securebits brig relies on"},
                {"CAP_SETFCAP", "file capabilities outlive the jail"},
                {"CAP_NET_ADMIN", "it configures the network stack, a large kernel attack surface"},
                {"CAP_DAC_READ_SEARCH", "open_by_handle_at() reaches files outside the jail's mounts"},
                {"CAP_SYSLOG", "the kernel log is the host's and leaks kernel addresses"},
                {"CAP_IPC_LOCK", "locked memory escapes RLIMIT_MEMLOCK"},
                {"CAP_CHECKPOINT_RESTORE", "it picks pids and reads other processes' mappings"},
        };
        char json[128], want[256];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                snprintf(json, sizeof(json), "{'capabilities': ['%s']}", refused[i].name);
                snprintf(want, sizeof(want), "capabilities[0]: %s is never allowed: %s", refused[i].name,
                         refused[i].why);
                assert_fails(json, want);
        }
        /* The refusal names the canonical name whatever the spelling. */
        assert_fails(
                "{'capabilities': ['sys_admin']}",
                "capabilities[0]: CAP_SYS_ADMIN is never allowed: mount, namespaces and most of the kernel: "
                "it undoes the jail");
        assert_fails("{'capabilities': ['CAP_NET_BIND_SERVICE', 'net_bind_service']}",
                     "capabilities[1]: CAP_NET_BIND_SERVICE is listed twice");
        assert_fails("{'capabilities': ['CAP_FLY']}", "capabilities[0]: unknown capability \"CAP_FLY\"");
        assert_fails("{'capabilities': ['ALL']}", "capabilities[0]: unknown capability \"ALL\"");
        assert_fails("{'capabilities': ['CAP_']}", "capabilities[0]: unknown capability \"CAP_\"");
        assert_fails(
                "{'capabilities': [10]}",
                "capabilities[0]: expected a capability name like \"CAP_NET_BIND_SERVICE\", got number");
        assert_fails("{'capabilities': 'CAP_CHOWN'}", "capabilities: expected an array, got string");
        assert_fails_at(
                "{'capabilities': ['CAP_CHOWN', 'CAP_KILL', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_FOWNER', "
                "'CAP_FSETID', 'CAP_SETUID', 'CAP_SETGID', 'CAP_NET_RAW', 'CAP_NET_BROADCAST', "
                "'CAP_IPC_OWNER', 'CAP_SYS_NICE', 'CAP_SYS_CHROOT', 'CAP_DAC_OVERRIDE', "
                "'CAP_NET_BIND_SERVICE', "
                "'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', "
                "'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', "
                "'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', "
                "'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN', 'CAP_CHOWN']}",
                "capabilities");
}

static void test_policy__identity(void **state) {
        brig_policy *p;

        (void) state;
        p = parse_ok("{}");
        assert_int_equal(p->identity.uid, 1000);
        assert_int_equal(p->identity.gid, 1000);
        brig_policy_free(p);
        p = parse_ok("{'identity': {'uid': 4242}}");
        assert_int_equal(p->identity.uid, 4242);
        assert_int_equal(p->identity.gid, 1000);
        brig_policy_free(p);
        p = parse_ok("{'identity': {'uid': 1, 'gid': 65533}}");
        assert_int_equal(p->identity.uid, 1);
        assert_int_equal(p->identity.gid, 65533);
        brig_policy_free(p);

        assert_fails("{'identity': {'uid': 0}}", "identity.uid: expected an integer from 1 to 65533");
        assert_fails("{'identity': {'uid': 65534}}", "identity.uid: expected an integer from 1 to 65533");
        assert_fails("{'identity': {'gid': -1}}", "identity.gid: expected an integer from 1 to 65533");
        assert_fails("{'identity': {'gid': 1.5}}", "identity.gid: expected an integer from 1 to 65533");
        assert_fails("{'identity': {'uid': '1000'}}", "identity.uid: expected an integer from 1 to 65533");
        assert_fails("{'identity': {'user': 'agent'}}", "identity.user: unknown field");
        assert_fails("{'identity': 1000}", "identity: expected an object, got number");
}

static void test_policy__validates_name_and_hostname(void **state) {
        brig_policy *p;

        (void) state;
        assert_fails("{'name': 'a/b'}",
                     "name: expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"a/b\"");
        assert_fails("{'name': ''}",
                     "name: expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"\"");
        assert_fails("{'name': '..'}",
                     "name: expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"..\"");
        assert_fails("{'name': 7}", "name: expected a string, got number");
        assert_fails("{'hostname': 'a_b'}",
                     "hostname: expected 1 to 64 letters, digits, \".\" or \"-\", got \"a_b\"");
        /* 64 bytes is the limit; long values are cut in messages. */
        char host[66], doc[128], want[256];
        memset(host, 'h', 65);
        host[65] = 0;
        (void) snprintf(doc, sizeof(doc), "{'hostname': '%s'}", host);
        (void) snprintf(want, sizeof(want),
                        "hostname: expected 1 to 64 letters, digits, \".\" or \"-\", got \"%.63s...\"",
                        host);
        assert_fails(doc, want);
        host[64] = 0;
        (void) snprintf(doc, sizeof(doc), "{'name': 'A.b_c-9', 'hostname': '%s'}", host);
        p = parse_ok(doc);
        assert_string_equal(p->name, "A.b_c-9");
        assert_int_equal(strlen(p->hostname), 64);
        brig_policy_free(p);
}

static void test_policy__rejects_long_description(void **state) {
        char *doc = NULL, *text = malloc(1026);
        brig_policy *p;

        (void) state;
        assert_non_null(text);
        memset(text, 'd', 1025);
        text[1025] = 0;
        assert_true(asprintf(&doc, "{'description': '%s'}", text) > 0);
        assert_fails(doc, "description: longer than 1024 bytes");
        free(doc);
        text[1024] = 0;
        assert_true(asprintf(&doc, "{'description': '%s'}", text) > 0);
        p = parse_ok(doc);
        assert_int_equal(strlen(p->description), 1024);
        brig_policy_free(p);
        free(doc);
        free(text);
        assert_fails("{'description': null}", "description: expected a string, got null");
}

static void test_policy__rejects_non_object_document_and_sections(void **state) {
        (void) state;
        assert_fails("[]", "expected an object, got array");
        assert_fails("\"x\"", "expected an object, got string");
        assert_fails("{'filesystem': 1}", "filesystem: expected an object, got number");
        assert_fails("{'limits': []}", "limits: expected an object, got array");
}

static void test_policy__bounds_array_sizes(void **state) {
        char *doc = malloc(600 * 16), *w = doc;

        (void) state;
        assert_non_null(doc);
        w += sprintf(w, "{'filesystem': {'read_only': [");
        for (int i = 0; i < 257; i++)
                w += sprintf(w, "%s'/d%d'", i ? ", " : "", i);
        (void) sprintf(w, "]}}");
        assert_fails(doc, "filesystem.read_only: more than 256 entries");

        w = doc + sprintf(doc, "{'filesystem': {'tmpfs': [");
        for (int i = 0; i < 65; i++)
                w += sprintf(w, "%s{'path': '/t%d'}", i ? ", " : "", i);
        (void) sprintf(w, "]}}");
        assert_fails(doc, "filesystem.tmpfs: more than 64 entries");

        w = doc + sprintf(doc, "{'seccomp': {'deny': [");
        for (int i = 0; i < 513; i++)
                w += sprintf(w, "%s'x'", i ? "," : "");
        (void) sprintf(w, "]}}");
        assert_fails(doc, "seccomp.deny: more than 512 entries");
        free(doc);
}

static void test_policy__caps_number_of_diags(void **state) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char *doc = malloc(300 * 16), *w = doc;

        (void) state;
        assert_non_null(doc);
        w += sprintf(w, "{");
        for (int i = 0; i < 300; i++)
                w += sprintf(w, "%s'k%d': 1", i ? ", " : "", i);
        (void) sprintf(w, "}");
        assert_int_equal(parse(doc, &p, &d, &err), -EINVAL);
        assert_int_equal(d.n, 101);
        assert_string_equal(d.items[0].path, "k0");
        assert_string_equal(d.items[99].path, "k99");
        assert_string_equal(d.items[100].path, "");
        assert_string_equal(d.items[100].msg, "too many problems, only the first 100 are listed");
        brig_policy_diags_done(&d);
        free(doc);
}

static void test_policy__appends_to_existing_diags(void **state) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(parse("{'a': 1}", &p, &d, &err), -EINVAL);
        assert_int_equal(parse("{'b': 1}", &p, &d, &err), -EINVAL);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].path, "a");
        assert_string_equal(d.items[1].path, "b");
        /* Success leaves existing entries alone. */
        assert_int_equal(parse("{}", &p, &d, &err), 0);
        assert_int_equal(d.n, 2);
        brig_policy_free(p);
        brig_policy_diags_done(&d);
        /* No diags and no err are both fine. */
        p = NULL;
        assert_int_equal(parse("{'a': 1}", &p, NULL, NULL), -EINVAL);
        assert_null(p);
}

static void test_policy__rejects_oversized_text(void **state) {
        size_t len = 1024 * 1024 + 1;
        char *text = malloc(len);
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_non_null(text);
        memset(text, ' ', len);
        text[0] = '{';
        text[len - 1] = '}';
        assert_int_equal(brig_policy_parse(text, len, "<inline>", &p, &d, &err), -EFBIG);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_LIMIT);
        assert_non_null(strstr(err.msg, "1 MiB"));
        assert_int_equal(d.n, 1);
        brig_policy_diags_done(&d);
        /* Exactly 1 MiB is accepted. */
        text[len - 2] = '}';
        assert_int_equal(brig_policy_parse(text, len - 1, "<inline>", &p, NULL, &err), 0);
        brig_policy_free(p);
        free(text);
}

static void check_fails_cleanly(const char *text, size_t len) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        int r = brig_policy_parse(text, len, "<inline>", &p, &d, &err);

        if (r == 0) {
                assert_non_null(p);
                assert_int_equal(d.n, 0);
                brig_policy_free(p);
                return;
        }
        assert_int_equal(r, -EINVAL);
        assert_null(p);
        assert_int_not_equal(err.msg[0], 0);
        assert_true(d.n >= 1);
        brig_policy_diags_done(&d);
}

static void test_policy__every_truncation_and_byte_flip_fails_cleanly(void **state) {
        _cleanup_free_ char *text = dq(full_example);
        size_t len = strlen(text);

        (void) state;
        /* Every proper prefix is invalid JSON (trailing whitespace aside). */
        for (size_t n = 0; n + 2 < len; n++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_policy *p = NULL;
                assert_int_equal(brig_policy_parse(text, n, "<inline>", &p, NULL, &err), -EINVAL);
                assert_null(p);
        }
        /* Mutations must either parse or fail with a message; ASan checks the rest. */
        for (size_t i = 0; i < len; i++) {
                static const char subst[] = {'"', '\\', '{', '[', '0', '/', '.', 'x', ' ', ','};
                char saved = text[i];
                for (size_t k = 0; k < sizeof(subst); k++) {
                        text[i] = subst[k];
                        check_fails_cleanly(text, len);
                }
                text[i] = saved;
        }
}

static char *source_path(const char *rel) {
        const char *dir = getenv("BRIG_SOURCE_DIR");
        char *s = NULL;

        assert_true(asprintf(&s, "%s/%s", dir && *dir ? dir : ".", rel) > 0);
        return s;
}

/* Lints every shipped policy as `brig policy check` does, and compiles its filter as brigd does. Only a
 * profile's syscall names unknown on this architecture may warn. Returns how many files it checked. */
static size_t lint_dir(const char *rel) {
        _cleanup_free_ char *dir = source_path(rel);
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
                    strcmp(de->d_name, "schema.json") == 0)
                        continue;
                _cleanup_free_ char *path = NULL;
                assert_true(asprintf(&path, "%s/%s", dir, de->d_name) > 0);
                brig_policy_diags diags = {0};
                brig_error err = BRIG_ERROR_INIT;
                brig_policy *p = NULL;
                if (brig_policy_load(path, &p, &diags, &err) < 0)
                        print_error("%s: %s\n", path, err.msg);
                assert_non_null(p);
                for (size_t i = 0; i < diags.n; i++) {
                        if (!strstr(diags.items[i].msg, "unknown"))
                                print_error("%s: %s: %s\n", path, diags.items[i].path, diags.items[i].msg);
                        assert_non_null(strstr(diags.items[i].msg, "unknown"));
                }
                assert_int_equal(brig_policy_check_host(p, &diags), 0);
                /* A shipped policy says what it is for. */
                assert_non_null(p->description);
                int fd = -1;
                assert_int_equal(brig_policy_compile_seccomp(p, &fd, &err), 0);
                close(fd);
                brig_policy_diags_done(&diags);
                brig_policy_free(p);
                n++;
        }
        closedir(d);
        return n;
}

static void test_policy__every_shipped_policy_lints_and_compiles(void **state) {
        (void) state;
        assert_true(lint_dir("policies") >= 4);
        assert_true(lint_dir("policies/examples") >= 5);
}

static void test_policy__default_json_parses(void **state) {
        _cleanup_free_ char *path = source_path("policies/default.json");
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        bool usr = false, tmp = false;

        (void) state;
        if (brig_policy_load(path, &p, &d, &err) < 0)
                print_error("%s: %s\n", path, err.msg);
        assert_non_null(p);
        assert_int_equal(d.n, 0);
        assert_string_equal(p->name, "default");
        assert_non_null(p->description);
        assert_int_equal(p->network.mode, BRIG_NETWORK_NONE);
        assert_string_equal(p->filesystem.workspace, "/workspace");
        assert_string_equal(p->hostname, "brig");
        for (size_t i = 0; i < p->filesystem.n_binds; i++) {
                const brig_bind *b = &p->filesystem.binds[i];
                /* Nothing writable from the host, no account or home data. */
                assert_true(b->read_only);
                assert_string_not_equal(b->source, "/etc/passwd");
                assert_string_not_equal(b->source, "/etc/shadow");
                assert_string_not_equal(b->source, "/etc");
                assert_true(strncmp(b->source, "/root", 5) != 0);
                assert_true(strncmp(b->source, "/home", 5) != 0);
                if (strcmp(b->source, "/usr") == 0 && !b->optional)
                        usr = true;
                if (strncmp(b->source, "/etc/", 5) == 0)
                        assert_true(b->optional);
        }
        assert_true(usr);
        for (size_t i = 0; i < p->filesystem.n_tmpfs; i++)
                if (strcmp(p->filesystem.tmpfs[i].dest, "/tmp") == 0 &&
                    p->filesystem.tmpfs[i].size_bytes == 256 * MIB && p->filesystem.tmpfs[i].mode == 01777)
                        tmp = true;
        assert_true(tmp);
        assert_int_equal(p->limits.wall_time_ms, 60000);
        assert_int_equal(p->limits.cpu_time_ms, 60000);
        assert_int_equal(p->limits.memory_bytes, GIB);
        assert_int_equal(p->limits.processes, 256);
        assert_int_equal(p->limits.open_files, 1024);
        assert_int_equal(p->limits.file_size_bytes, GIB);
        assert_int_equal(p->limits.output_bytes, MIB);
        assert_string_equal(brig_policy_getenv(p, "HOME"), "/workspace");
        assert_string_equal(brig_policy_getenv(p, "PATH"), "/usr/local/bin:/usr/bin:/bin");
        assert_int_equal(p->seccomp.errno_ret, EPERM);
        brig_policy_free(p);
}

static char *write_file(const char *name, const char *data, size_t len) {
        char *path = NULL;
        int fd;

        assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
        return path;
}

static void test_policy__load_takes_name_from_file(void **state) {
        const char *text = "{\"limits\": {\"processes\": 8}}\n";
        _cleanup_free_ char *path = write_file("strict.json", text, strlen(text));
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(brig_policy_load(path, &p, NULL, &err), 0);
        assert_string_equal(p->name, "strict");
        assert_int_equal(p->limits.processes, 8);
        brig_policy_free(p);
        assert_int_equal(unlink(path), 0);
}

static void test_policy__load_reports_missing_and_special_files(void **state) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char path[128];

        (void) state;
        (void) snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
        assert_int_equal(brig_policy_load(path, &p, &d, &err), -ENOENT);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        assert_string_equal(err.msg, "cannot open: No such file or directory");
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].msg, err.msg);
        brig_policy_diags_done(&d);

        assert_int_equal(brig_policy_load(tmpdir, &p, NULL, &err), -EINVAL);
        assert_null(p);
        assert_string_equal(err.msg, "not a regular file");

        /* Opening a FIFO must not wait for a writer. */
        (void) snprintf(path, sizeof(path), "%s/fifo.json", tmpdir);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(brig_policy_load(path, &p, NULL, &err), -EINVAL);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_IO);
        assert_string_equal(err.msg, "not a regular file");
        assert_int_equal(unlink(path), 0);
}

static void test_policy__load_rejects_oversized_file(void **state) {
        size_t len = 1024 * 1024 + 1;
        _cleanup_free_ char *data = malloc(len);
        _cleanup_free_ char *path = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_non_null(data);
        memset(data, ' ', len);
        data[0] = '{';
        data[len - 1] = '}';
        path = write_file("big.json", data, len);
        assert_int_equal(brig_policy_load(path, &p, NULL, &err), -EFBIG);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_LIMIT);
        assert_string_equal(err.msg, "larger than the 1048576 byte (1 MiB) limit");
        assert_int_equal(unlink(path), 0);
        free(path);

        /* Exactly at the limit loads. */
        data[len - 2] = '}';
        path = write_file("edge.json", data, len - 1);
        assert_int_equal(brig_policy_load(path, &p, NULL, &err), 0);
        assert_string_equal(p->name, "edge");
        brig_policy_free(p);
        assert_int_equal(unlink(path), 0);
}

static void test_policy__free_accepts_null(void **state) {
        brig_policy_diags d = {0};

        (void) state;
        brig_policy_free(NULL);
        brig_policy_diags_done(NULL);
        brig_policy_diags_done(&d);
        assert_null(brig_policy_getenv(NULL, "PATH"));
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        return rmdir(tmpdir);
}

static void policy_key(const char *json, char out[static BRIG_SHA256_HEX]) {
        _cleanup_(brig_policy_freep) brig_policy *p = parse_ok(json);
        assert_int_equal(brig_policy_seccomp_key(p, out), 0);
}

/* The seccomp cache key (worker/policies.c shares compiled programs by it): every policy below differs from
 * the base in one field the program is compiled from, so each must have a key of its own; a policy that
 * differs only outside seccomp shares the base's. Dropping a field from brig_seccomp_spec_key() makes two of
 * these collide. */
static void test_policy__seccomp_key_covers_every_field(void **state) {
        static const char *const base = "{'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'EPERM'}}";
        static const char *const differing[] = {
                "{'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'EACCES'}}",                /* errno */
                "{'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'EPERM', 'audit': false}}", /* audit */
                /* audit of the floor alone: each entry keeps its audit */
                "{'seccomp': {'deny': [{'name': 'syslog', 'audit': true}, {'name': 'acct', 'audit': true}], "
                "'errno': 'EPERM', 'audit': false}}",
                "{'seccomp': {'deny': ['syslog'], 'errno': 'EPERM'}}",           /* n_deny */
                "{'seccomp': {'deny': ['syslog', 'ptrace'], 'errno': 'EPERM'}}", /* deny */
                "{'seccomp': {'deny': ['acct', 'syslog'], 'errno': 'EPERM'}}",   /* order */
                "{'seccomp': {'deny': ['syslog', {'name': 'acct', 'audit': false}], 'errno': 'EPERM'}}",
                "{'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'EPERM', 'profile': " /* profile */
                "{'defaultAction': 'SCMP_ACT_ALLOW'}}}",
                "{'seccomp': {'deny': ['syslog', 'acct'], 'errno': 'EPERM', 'profile': "
                "{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['uname'], 'action': "
                "'SCMP_ACT_ERRNO'}]}}}",
        };
        char keys[ELEMENTSOF(differing) + 1][BRIG_SHA256_HEX], same[BRIG_SHA256_HEX];
        (void) state;

        policy_key(base, keys[0]);
        for (size_t i = 0; i < ELEMENTSOF(differing); i++)
                policy_key(differing[i], keys[i + 1]);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                for (size_t j = 0; j < i; j++)
                        if (strcmp(keys[i], keys[j]) == 0)
                                fail_msg("policies %zu and %zu share a seccomp key", j, i);

        /* Equal programs, equal keys: the same text again, and fields outside seccomp changed. */
        policy_key(base, same);
        assert_string_equal(same, keys[0]);
        policy_key("{'name': 'other', 'limits': {'memory': '2G'}, 'hostname': 'h', 'seccomp': {'deny': "
                   "['syslog', 'acct'], 'errno': 1}}",
                   same);
        assert_string_equal(same, keys[0]);
        /* A deny entry's own audit equal to the section's is the same program. */
        policy_key("{'seccomp': {'deny': ['syslog', {'name': 'acct', 'audit': true}], 'errno': 'EPERM'}}",
                   same);
        assert_string_equal(same, keys[0]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy__empty_object_gets_defaults),
                cmocka_unit_test(test_policy__seccomp_key_covers_every_field),
                cmocka_unit_test(test_policy__parses_full_example),
                cmocka_unit_test(test_policy__name_defaults_to_file_basename),
                cmocka_unit_test(test_policy__rejects_unknown_field),
                cmocka_unit_test(test_policy__rejects_duplicate_field),
                cmocka_unit_test(test_policy__rejects_extends_of_missing_policy),
                cmocka_unit_test(test_policy__reports_every_problem),
                cmocka_unit_test(test_policy__syntax_error_has_line_and_column),
                cmocka_unit_test(test_policy__value_errors_have_line_and_column),
                cmocka_unit_test(test_policy__rejects_trailing_data_and_empty_input),
                cmocka_unit_test(test_policy__rejects_nul_and_invalid_utf8),
                cmocka_unit_test(test_policy__rejects_relative_path),
                cmocka_unit_test(test_policy__rejects_unnormalized_paths),
                cmocka_unit_test(test_policy__rejects_reserved_mount_points),
                cmocka_unit_test(test_policy__rejects_duplicate_mount_points),
                cmocka_unit_test(test_policy__hidden_paths),
                cmocka_unit_test(test_policy__workspace_quota),
                cmocka_unit_test(test_policy__bind_optional_must_be_boolean),
                cmocka_unit_test(test_policy__memory_accepts_sizes_and_bytes),
                cmocka_unit_test(test_policy__rejects_bad_sizes),
                cmocka_unit_test(test_policy__integer_limits_are_bounded),
                cmocka_unit_test(test_policy__durations_are_bounded),
                cmocka_unit_test(test_policy__tools_and_history_sections),
                cmocka_unit_test(test_policy__memory_section),
                cmocka_unit_test(test_policy__tmpfs_size_and_mode),
                cmocka_unit_test(test_policy__env_replaces_defaults),
                cmocka_unit_test(test_policy__default_home_follows_workspace),
                cmocka_unit_test(test_policy__env_pass_through),
                cmocka_unit_test(test_policy__audit_section),
                cmocka_unit_test(test_policy__add_bind_checks_like_the_parser),
                cmocka_unit_test(test_policy__check_host_finds_missing_bind_sources),
                cmocka_unit_test(test_policy__rejects_bad_env),
                cmocka_unit_test(test_policy__seccomp_deny_resolves_names),
                cmocka_unit_test(test_policy__seccomp_errno_names_and_numbers),
                cmocka_unit_test(test_policy__seccomp_audit_defaults_on_and_per_entry),
                cmocka_unit_test(test_policy__rejects_network_other_than_none_or_proxy),
                cmocka_unit_test(test_policy__network_secrets),
                cmocka_unit_test(test_policy__rejects_bad_network_secrets),
                cmocka_unit_test(test_policy__landlock_modes),
                cmocka_unit_test(test_policy__rejects_bad_landlock),
                cmocka_unit_test(test_policy__capabilities_are_an_allow_list),
                cmocka_unit_test(test_policy__rejects_bad_capabilities),
                cmocka_unit_test(test_policy__identity),
                cmocka_unit_test(test_policy__validates_name_and_hostname),
                cmocka_unit_test(test_policy__rejects_long_description),
                cmocka_unit_test(test_policy__rejects_non_object_document_and_sections),
                cmocka_unit_test(test_policy__bounds_array_sizes),
                cmocka_unit_test(test_policy__caps_number_of_diags),
                cmocka_unit_test(test_policy__appends_to_existing_diags),
                cmocka_unit_test(test_policy__rejects_oversized_text),
                cmocka_unit_test(test_policy__every_truncation_and_byte_flip_fails_cleanly),
                cmocka_unit_test(test_policy__default_json_parses),
                cmocka_unit_test(test_policy__every_shipped_policy_lints_and_compiles),
                cmocka_unit_test(test_policy__load_takes_name_from_file),
                cmocka_unit_test(test_policy__load_reports_missing_and_special_files),
                cmocka_unit_test(test_policy__load_rejects_oversized_file),
                cmocka_unit_test(test_policy__free_accepts_null),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
