/* SPDX-License-Identifier: MIT */
/* Unit tests for sandbox/policy_merge.c through brig_policy_load(): "extends" lookup, the merge rule, cycle
 * and depth checks, parent paths, provenance and the exact text of every error. Real files in a temporary
 * directory; no root, no network. */
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
#include "common/fs.h"
#include "sandbox/policy.h"
#include "sandbox/policy_merge.h"

#define GIB (UINT64_C(1) << 30)

static char tmpdir[] = "/tmp/brig-test-merge.XXXXXX";

/* Writes DIR/name with json, single quotes turned into double quotes; returns the path (static buffer
 * rotation is not needed: callers copy it when they keep it). */
static const char *put(const char *name, const char *json) {
        static char path[4][512];
        static int k;
        char *p = path[k++ % 4];
        _cleanup_free_ char *text = strdup(json);
        FILE *f;

        assert_non_null(text);
        for (char *c = text; *c; c++)
                if (*c == '\'')
                        *c = '"';
        (void) snprintf(p, 512, "%s/%s", tmpdir, name);
        f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        return p;
}

static brig_policy *load_ok(const char *name) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char path[512];
        int r;

        (void) snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        r = brig_policy_load(path, &p, &d, &err);
        if (r < 0)
                print_error("unexpected failure: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_int_equal(d.n, 0);
        brig_policy_diags_done(&d);
        return p;
}

/* Asserts that loading name fails with err.msg == expected, and that the first diagnostic is in file
 * (NULL: the loaded file itself) with message expected minus its "FILE: " prefix. */
static void load_fails(const char *name, const char *expected, const char *file) {
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char path[512], want[1024], got[1024];

        (void) snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        if (brig_policy_load(path, &p, &d, &err) != -EINVAL)
                fail_msg("%s loaded, expected %s", name, expected);
        assert_null(p);
        assert_int_equal(err.kind, BRIG_KIND_POLICY);
        assert_string_equal(err.msg, expected);
        assert_true(d.n >= 1);
        assert_int_equal(d.items[0].severity, BRIG_POLICY_ERROR);
        (void) snprintf(want, sizeof(want), "%s", file ? file : "");
        assert_string_equal(d.items[0].file, want);
        (void) snprintf(got, sizeof(got), "%s%s%s%s%s", file ? file : "", file ? ": " : "", d.items[0].path,
                        d.items[0].path[0] ? ": " : "", d.items[0].msg);
        assert_string_equal(got, expected);
        brig_policy_diags_done(&d);
}

static char *in_tmp(const char *name) {
        char *s = NULL;
        assert_true(asprintf(&s, "%s/%s", tmpdir, name) > 0);
        return s;
}

static void test_policy_merge__maps_merge_key_by_key(void **state) {
        brig_policy *p;

        (void) state;
        put("base.json",
            "{'name': 'base', 'description': 'from base', 'limits': {'memory': '2G', 'processes': "
            "100}, 'env': {'A': '1', 'B': '2'}, 'hostname': 'basehost'}");
        put("child.json", "{'extends': 'base', 'limits': {'processes': 50}, 'env': {'B': '3', 'C': '4'}}");
        p = load_ok("child.json");
        assert_int_equal(p->limits.memory_bytes, 2 * GIB);
        assert_int_equal(p->limits.processes, 50);
        assert_int_equal(p->limits.open_files, 1024); /* built-in default */
        assert_int_equal(p->env.n_vars, 3);
        assert_string_equal(brig_policy_getenv(p, "A"), "1");
        assert_string_equal(brig_policy_getenv(p, "B"), "3");
        assert_string_equal(brig_policy_getenv(p, "C"), "4");
        assert_string_equal(p->hostname, "basehost");
        /* The name is never inherited; the description is, unless set. */
        assert_string_equal(p->name, "child");
        assert_string_equal(p->description, "from base");
        brig_policy_free(p);
}

static void test_policy_merge__arrays_and_scalars_replace(void **state) {
        brig_policy *p;

        (void) state;
        put("base.json", "{'description': 'b', 'filesystem': {'read_only': ['/usr', '/bin']}, "
                         "'seccomp': {'deny': ['acct']}}");
        put("child.json",
            "{'extends': 'base.json', 'description': 'c', 'filesystem': {'read_only': ['/lib']}, "
            "'seccomp': {'deny': []}}");
        p = load_ok("child.json");
        assert_int_equal(p->filesystem.n_binds, 1);
        assert_string_equal(p->filesystem.binds[0].dest, "/lib");
        assert_int_equal(p->seccomp.n_deny, 0);
        assert_string_equal(p->description, "c");
        brig_policy_free(p);
}

static void test_policy_merge__plus_appends_to_inherited_array(void **state) {
        brig_policy *p;

        (void) state;
        put("base.json", "{'filesystem': {'read_only': ['/usr', '/bin']}, 'seccomp': {'deny': []}}");
        put("child.json", "{'extends': 'base', 'filesystem': {'+read_only': ['/lib', {'source': '/opt', "
                          "'optional': true}]}, 'seccomp': {'+deny': ['acct']}}");
        p = load_ok("child.json");
        assert_int_equal(p->filesystem.n_binds, 4);
        assert_string_equal(p->filesystem.binds[0].dest, "/usr");
        assert_string_equal(p->filesystem.binds[1].dest, "/bin");
        assert_string_equal(p->filesystem.binds[2].dest, "/lib");
        assert_string_equal(p->filesystem.binds[3].dest, "/opt");
        assert_true(p->filesystem.binds[3].optional);
        assert_int_equal(p->seccomp.n_deny, 1);
        assert_string_equal(p->seccomp.deny[0], "acct");
        brig_policy_free(p);
}

static void test_policy_merge__chain_of_three_with_provenance(void **state) {
        brig_policy_tree t = {0};
        _cleanup_free_ char *gp = in_tmp("sub/../grand.json"), *pa = in_tmp("sub/parent.json"),
                            *ch = in_tmp("child.json");
        brig_policy *p;

        (void) state;
        assert_int_equal(brig_mkdir_p(pa, 0755), 0);
        assert_int_equal(rmdir(pa), 0);
        put("grand.json", "{'limits': {'memory': '3G', 'processes': 10, 'open_files': 100}, "
                          "'filesystem': {'read_only': ['/usr']}}");
        put("sub/parent.json",
            "{'extends': '../grand.json', 'limits': {'processes': 20, 'open_files': 200}, "
            "'filesystem': {'+read_only': ['/bin']}}");
        put("child.json", "{'extends': 'sub/parent.json', 'limits': {'open_files': 300}}");
        p = load_ok("child.json");
        assert_int_equal(p->limits.memory_bytes, 3 * GIB);
        assert_int_equal(p->limits.processes, 20);
        assert_int_equal(p->limits.open_files, 300);
        assert_int_equal(p->filesystem.n_binds, 2);
        brig_policy_free(p);

        assert_int_equal(brig_policy_tree_load(ch, &t, NULL, NULL), 0);
        assert_int_equal(t.n_files, 3);
        assert_string_equal(t.files[0], ch);
        assert_string_equal(t.files[1], pa);
        assert_string_equal(t.files[2], gp);
        assert_null(t.files[3]);
        assert_null(cJSON_GetObjectItem(t.root, "extends"));
        assert_int_equal(t.n_leaves, 5);
        assert_string_equal(t.leaves[0].path, "limits.memory");
        assert_string_equal(t.leaves[0].file, gp);
        assert_string_equal(t.leaves[1].path, "limits.processes");
        assert_string_equal(t.leaves[1].file, pa);
        assert_string_equal(t.leaves[2].path, "limits.open_files");
        assert_string_equal(t.leaves[2].file, ch);
        assert_string_equal(t.leaves[3].path, "filesystem.read_only[0]");
        assert_string_equal(t.leaves[3].file, gp);
        assert_string_equal(t.leaves[4].path, "filesystem.read_only[1]");
        assert_string_equal(t.leaves[4].file, pa);
        assert_ptr_equal(brig_policy_tree_file_at(&t, "limits.processes"), t.files[1]);
        /* Below a leaf, and a subtree that one file set entirely, or not. */
        assert_ptr_equal(brig_policy_tree_file_at(&t, "filesystem.read_only[0].source"), t.files[2]);
        assert_null(brig_policy_tree_file_at(&t, "filesystem.read_only"));
        assert_null(brig_policy_tree_file_at(&t, "limits"));
        brig_policy_tree_done(&t);
        brig_policy_tree_done(&t);
}

static void test_policy_merge__reports_cycles(void **state) {
        _cleanup_free_ char *a = in_tmp("a.json"), *b = in_tmp("b.json"), *want = NULL;

        (void) state;
        put("a.json", "{'extends': 'b'}");
        put("b.json", "{'extends': 'a.json'}");
        assert_true(asprintf(&want, "%s: extends: cycle: %s -> %s -> %s", b, a, b, a) > 0);
        load_fails("a.json", want, b);
}

static void test_policy_merge__reports_self_extends(void **state) {
        _cleanup_free_ char *a = in_tmp("self.json"), *want = NULL;

        (void) state;
        put("self.json", "{'extends': 'self'}");
        assert_true(asprintf(&want, "extends: cycle: %s -> %s", a, a) > 0);
        load_fails("self.json", want, NULL);
}

static void test_policy_merge__reports_missing_parent(void **state) {
        _cleanup_free_ char *want = NULL, *want2 = NULL;

        (void) state;
        put("orphan.json", "{'extends': 'nope/base.json'}");
        assert_true(asprintf(&want, "extends: cannot open \"%s/nope/base.json\": No such file or directory",
                             tmpdir) > 0);
        load_fails("orphan.json", want, NULL);

        put("orphan.json", "{'extends': 'no-such-policy'}");
        assert_true(asprintf(&want2,
                             "extends: no policy \"no-such-policy\": neither \"%s/no-such-policy.json\" nor "
                             "%s/no-such-policy.json exists",
                             tmpdir, BRIG_POLICYDIR) > 0);
        load_fails("orphan.json", want2, NULL);
}

static void test_policy_merge__limits_chain_depth(void **state) {
        _cleanup_free_ char *want = NULL, *last = NULL;
        char name[32], json[64];

        (void) state;
        /* d0 extends d1 ... d16: 17 files, one more than allowed. */
        for (int i = 0; i <= BRIG_POLICY_MAX_CHAIN; i++) {
                (void) snprintf(name, sizeof(name), "d%d.json", i);
                (void) snprintf(json, sizeof(json), "{'extends': 'd%d'}", i + 1);
                put(name, i == BRIG_POLICY_MAX_CHAIN ? "{}" : json);
        }
        (void) snprintf(name, sizeof(name), "d%d.json", BRIG_POLICY_MAX_CHAIN - 1);
        last = in_tmp(name);
        assert_true(asprintf(&want, "%s: extends: more than 16 policy files in the chain", last) > 0);
        load_fails("d0.json", want, last);
        /* 16 files are fine. */
        put("d1.json", "{}");
        put("d0.json", "{'extends': 'd2'}");
        brig_policy_free(load_ok("d0.json"));
}

static void test_policy_merge__error_in_parent_names_parent(void **state) {
        _cleanup_free_ char *base = in_tmp("base.json"), *want = NULL, *want2 = NULL, *want3 = NULL;
        brig_policy_diags d = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        _cleanup_free_ char *child = in_tmp("child.json");

        (void) state;
        put("base.json", "{\n  'limits': {'memory': '1G',}\n}\n");
        put("child.json", "{'extends': 'base'}");
        assert_true(asprintf(&want, "%s: invalid JSON at 2:30", base) > 0);
        load_fails("child.json", want, base);
        assert_int_equal(brig_policy_load(child, &p, &d, &err), -EINVAL);
        assert_int_equal(d.items[0].line, 2);
        assert_int_equal(d.items[0].column, 30);
        brig_policy_diags_done(&d);

        put("base.json", "['not', 'an', 'object']");
        assert_true(asprintf(&want2, "%s: expected an object, got array", base) > 0);
        load_fails("child.json", want2, base);

        /* A value the parent set that fails validation: the diagnostic names the parent. */
        put("base.json", "{'limits': {'memory': 'lots'}, 'hostname': 'ok'}");
        put("child.json", "{'extends': 'base', 'hostname': 'bad host'}");
        assert_int_equal(brig_policy_load(child, &p, &d, &err), -EINVAL);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].path, "limits.memory");
        assert_string_equal(d.items[0].file, base);
        assert_string_equal(d.items[1].path, "hostname");
        assert_string_equal(d.items[1].file, "");
        brig_policy_diags_done(&d);

        put("base.json", "{'extends': 42}");
        put("child.json", "{'extends': 'base'}");
        assert_true(asprintf(&want3, "%s: extends: expected a policy name or a path, got number", base) > 0);
        load_fails("child.json", want3, base);
}

/* Writes DIR/name with exactly len bytes of data. */
static void put_bytes(const char *name, const char *data, size_t len) {
        _cleanup_free_ char *path = in_tmp(name);
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void test_policy_merge__reports_unreadable_parents(void **state) {
        static const struct {
                const char *text;
                size_t len;
                const char *msg;
        } cases[] = {
                {"", 0, "empty file at 1:1"},
                {"{}\n{}", 5, "unexpected data after the JSON value at 2:1"},
                {"{\"a\": \"\xff\"}", 9, "not valid UTF-8 text (or contains a NUL byte)"},
                {"{\"a\": 1, \0}", 11, "not valid UTF-8 text (or contains a NUL byte)"},
                {"{\"hostname\": \"a\\u0000b\"}", 24, "\"\\u0000\" is not allowed in strings at 1:16"},
        };
        _cleanup_free_ char *base = in_tmp("base.json"), *big = NULL;
        char want[1024];

        (void) state;
        put("child.json", "{'extends': 'base'}");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                put_bytes("base.json", cases[i].text, cases[i].len);
                (void) snprintf(want, sizeof(want), "%s: %s", base, cases[i].msg);
                load_fails("child.json", want, base);
        }
        big = malloc(1024 * 1024 + 1);
        assert_non_null(big);
        memset(big, ' ', 1024 * 1024 + 1);
        big[0] = '{';
        big[1024 * 1024] = '}';
        put_bytes("base.json", big, 1024 * 1024 + 1);
        (void) snprintf(want, sizeof(want), "%s: larger than the 1048576 byte (1 MiB) limit", base);
        load_fails("child.json", want, base);
        /* Exactly 1 MiB is fine. */
        big[1024 * 1024 - 1] = '}';
        put_bytes("base.json", big, 1024 * 1024);
        brig_policy_free(load_ok("child.json"));
        put("child.json", "{'extends': '/dev/null'}");
        load_fails("child.json", "/dev/null: not a regular file", "/dev/null");
}

static void test_policy_merge__rejects_bad_extends_values(void **state) {
        (void) state;
        put("x.json", "{'extends': ['a', 'b']}");
        load_fails("x.json", "extends: expected a policy name or a path, got array", NULL);
        put("x.json", "{'extends': ''}");
        load_fails("x.json",
                   "extends: expected a policy name or a path of 1 to 4095 bytes without control characters",
                   NULL);
        put("x.json", "{'extends': 'a\\nb'}");
        load_fails("x.json",
                   "extends: expected a policy name or a path of 1 to 4095 bytes without control characters",
                   NULL);
}

static void test_policy_merge__plus_errors(void **state) {
        _cleanup_free_ char *base = in_tmp("base.json"), *want = NULL;

        (void) state;
        put("base.json", "{'filesystem': {'read_only': ['/usr']}, 'limits': {'memory': '1G'}}");
        put("c.json", "{'extends': 'base', 'filesystem': {'+read_only': '/bin'}}");
        load_fails("c.json",
                   "filesystem[\"+read_only\"]: \"+\" appends to an inherited array: expected an array, got "
                   "string",
                   NULL);
        put("c.json", "{'extends': 'base', 'limits': {'+memory': ['2G']}}");
        load_fails("c.json", "limits[\"+memory\"]: the inherited \"memory\" is a string, not an array",
                   NULL);
        put("c.json", "{'extends': 'base', '+limits': []}");
        load_fails("c.json", "[\"+limits\"]: the inherited \"limits\" is an object, not an array", NULL);
        put("c.json", "{'extends': 'base', 'filesystem': {'read_only': [], '+read_only': ['/bin']}}");
        load_fails("c.json", "filesystem[\"+read_only\"]: \"read_only\" and \"+read_only\" are both set",
                   NULL);
        put("c.json", "{'extends': 'base', 'filesystem': {'+tmpfs': [{'path': '/tmp'}]}}");
        load_fails("c.json", "filesystem[\"+tmpfs\"]: nothing inherited to append to", NULL);
        /* Inside an object the parent does not have, and in the first file of the chain. */
        put("c.json", "{'extends': 'base', 'history': {'+exclude': ['x']}}");
        load_fails("c.json", "history[\"+exclude\"]: nothing inherited to append to", NULL);
        put("base.json", "{'seccomp': {'+deny': ['acct']}}");
        put("c.json", "{'extends': 'base'}");
        assert_true(asprintf(&want, "%s: seccomp[\"+deny\"]: nothing inherited to append to", base) > 0);
        load_fails("c.json", want, base);
}

static void test_policy_merge__rejects_duplicate_fields(void **state) {
        (void) state;
        put("base.json", "{}");
        put("c.json", "{'extends': 'base', 'limits': {'memory': '1G', 'memory': '2G'}}");
        load_fails("c.json", "limits.memory: duplicate field", NULL);
        put("c.json", "{'extends': 'base', 'extends': 'base'}");
        load_fails("c.json", "extends: duplicate field", NULL);
}

static void test_policy_merge__relative_profile_in_parent(void **state) {
        _cleanup_free_ char *dir = in_tmp("prof/x"), *path = NULL;
        brig_policy *p;

        (void) state;
        assert_int_equal(brig_mkdir_p(dir, 0755), 0);
        put("prof/x/profile.json", "{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['chmod'], "
                                   "'action': 'SCMP_ACT_ERRNO'}]}");
        put("prof/base.json", "{'seccomp': {'profile': 'x/profile.json'}}");
        /* The child is in another directory, where "x/profile.json" does not exist. */
        put("child.json", "{'extends': 'prof/base.json'}");
        p = load_ok("child.json");
        assert_non_null(p->seccomp.profile);
        brig_policy_free(p);
        /* The child's own relative path still resolves against the child. */
        put("profile2.json", "{'defaultAction': 'SCMP_ACT_ALLOW'}");
        put("child.json", "{'extends': 'prof/base.json', 'seccomp': {'profile': 'profile2.json'}}");
        p = load_ok("child.json");
        assert_non_null(p->seccomp.profile);
        brig_policy_free(p);
        put("child.json", "{'extends': 'prof/base.json', 'seccomp': {'profile': 'x/profile.json'}}");
        path = in_tmp("child.json");
        assert_int_equal(brig_policy_load(path, &p, NULL, NULL), -EINVAL);
}

static void test_policy_merge__inline_resolves_against_cwd(void **state) {
        const char *json = "{\"extends\": \"base\", \"limits\": {\"processes\": 7}}";
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char cwd[4096];

        (void) state;
        put("base.json", "{'limits': {'memory': '2G'}}");
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(tmpdir), 0);
        assert_int_equal(brig_policy_parse(json, strlen(json), "<inline>", &p, NULL, &err), 0);
        assert_int_equal(chdir(cwd), 0);
        assert_string_equal(p->name, "inline");
        assert_int_equal(p->limits.memory_bytes, 2 * GIB);
        assert_int_equal(p->limits.processes, 7);
        brig_policy_free(p);
}

static void test_policy_merge__extends_shipped_default(void **state) {
        _cleanup_free_ char *json = NULL;
        const char *src = getenv("BRIG_SOURCE_DIR");
        brig_policy *p;

        (void) state;
        if (!src)
                skip();
        assert_true(asprintf(&json,
                             "{'extends': '%s/policies/default.json', 'limits': {'memory': '2G'}, "
                             "'filesystem': {'+read_write': ['/srv']}}",
                             src) > 0);
        put("strict.json", json);
        p = load_ok("strict.json");
        assert_string_equal(p->name, "strict");
        assert_int_equal(p->limits.memory_bytes, 2 * GIB);
        assert_true(p->filesystem.n_binds > 3);
        assert_string_equal(p->filesystem.binds[p->filesystem.n_binds - 1].dest, "/srv");
        assert_false(p->filesystem.binds[p->filesystem.n_binds - 1].read_only);
        assert_false(p->tools.files.fsync);
        brig_policy_free(p);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        return brig_rm_rf(tmpdir) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_merge__maps_merge_key_by_key),
                cmocka_unit_test(test_policy_merge__arrays_and_scalars_replace),
                cmocka_unit_test(test_policy_merge__plus_appends_to_inherited_array),
                cmocka_unit_test(test_policy_merge__chain_of_three_with_provenance),
                cmocka_unit_test(test_policy_merge__reports_cycles),
                cmocka_unit_test(test_policy_merge__reports_self_extends),
                cmocka_unit_test(test_policy_merge__reports_missing_parent),
                cmocka_unit_test(test_policy_merge__limits_chain_depth),
                cmocka_unit_test(test_policy_merge__error_in_parent_names_parent),
                cmocka_unit_test(test_policy_merge__reports_unreadable_parents),
                cmocka_unit_test(test_policy_merge__rejects_bad_extends_values),
                cmocka_unit_test(test_policy_merge__plus_errors),
                cmocka_unit_test(test_policy_merge__rejects_duplicate_fields),
                cmocka_unit_test(test_policy_merge__relative_profile_in_parent),
                cmocka_unit_test(test_policy_merge__inline_resolves_against_cwd),
                cmocka_unit_test(test_policy_merge__extends_shipped_default),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
