/* SPDX-License-Identifier: MIT */
/* Unit tests for sandbox/plan.c and sandbox/plan_json.c: what a jail is built from a policy and a request
 * (namespaces, ids, mount order, rlimits, environment, cwd, argv bounds) and the plan's JSON round trip. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/landlock.h"
#include "sandbox/plan.h"
#include "sandbox/policy.h"

#define MIB (UINT64_C(1) << 20)

static const brig_identity ident = {.uid_outside = 4242, .gid_outside = 4343, .root = false};

static const char *const default_argv[] = {"/bin/echo", "hello", NULL};

/* Test JSON is written with single quotes for readability; this turns them into double quotes. */
static char *dq(const char *s) {
        char *d = strdup(s);
        assert_non_null(d);
        for (char *c = d; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return d;
}

static brig_policy *policy(const char *json) {
        _cleanup_free_ char *text = dq(json);
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        int r = brig_policy_parse(text, strlen(text), "<inline>", &p, NULL, &err);

        if (r < 0)
                print_error("policy: %s\n", err.msg);
        assert_int_equal(r, 0);
        return p;
}

static const char *full_policy =
        "{'filesystem': {'read_only': ['/usr', {'source': '/lib64', 'optional': true}],"
        "                'read_write': [{'source': '/srv/out', 'dest': '/out'}],"
        "                'tmpfs': [{'path': '/tmp', 'size': '64M', 'mode': '1777'}],"
        "                'workspace': '/work'},"
        " 'limits': {'cpu_time': '1500ms', 'memory': '512M', 'processes': 64, 'open_files': 256,"
        "            'file_size': '10M'},"
        " 'env': {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'HOME': '/work'},"
        " 'hostname': 'box'}";

static brig_plan *build_ok(const brig_policy *p, const brig_plan_request *req) {
        brig_error err = BRIG_ERROR_INIT;
        brig_plan *plan = NULL;
        int r = brig_plan_build(p, req, &ident, &plan, &err);

        if (r < 0)
                print_error("build: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(plan);
        return plan;
}

/* Builds expecting failure with code r and a message containing msg_part. */
static void build_fails(const brig_policy *p, const brig_plan_request *req, int want, const char *msg_part) {
        brig_error err = BRIG_ERROR_INIT;
        brig_plan *plan = NULL;
        int r = brig_plan_build(p, req, &ident, &plan, &err);

        assert_int_equal(r, want);
        assert_null(plan);
        assert_int_equal(err.code, want);
        if (!strstr(err.msg, msg_part))
                print_error("message '%s' lacks '%s'\n", err.msg, msg_part);
        assert_non_null(strstr(err.msg, msg_part));
}

static const brig_mount *find_mount(const brig_plan *plan, brig_mount_kind kind, const char *dest) {
        for (size_t i = 0; i < plan->n_mounts; i++)
                if (plan->mounts[i].kind == kind && strcmp(plan->mounts[i].dest, dest) == 0)
                        return &plan->mounts[i];
        return NULL;
}

static bool rlimit_of(const brig_plan *plan, int resource, uint64_t *ret) {
        for (size_t i = 0; i < plan->n_rlimits; i++)
                if (plan->rlimits[i].resource == resource) {
                        *ret = plan->rlimits[i].value;
                        return true;
                }
        return false;
}

static size_t strv_len(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static const char *strv_find_prefix(char *const *v, const char *prefix) {
        for (; v && *v; v++)
                if (strncmp(*v, prefix, strlen(prefix)) == 0)
                        return *v;
        return NULL;
}

static void test_plan__namespaces_are_all_new(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        const unsigned long want = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                                   CLONE_NEWNET | CLONE_NEWCGROUP;

        (void) state;
        assert_int_equal(plan->namespaces & want, want);
        assert_true(plan->loopback);
        assert_true(plan->seccomp);
        assert_string_equal(plan->hostname, "brig");
}

#define PROXY_POLICY "{\"network\":{\"mode\":\"proxy\",\"allow\":[\"example.org\"]}}"

static void test_plan__proxy_mode_hold_plan_carries_port_and_resolv_conf(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(PROXY_POLICY);
        brig_plan_request req = {.mode = BRIG_PLAN_HOLD, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_true(plan->namespaces & CLONE_NEWNET);
        assert_true(plan->loopback);
        assert_int_equal(plan->proxy_port, 3128);
        const brig_mount *m = find_mount(plan, BRIG_MOUNT_FILE, "/etc/resolv.conf");
        assert_non_null(m);
        assert_non_null(strstr(m->content, "nameserver 127.0.0.1\n"));
        assert_non_null(strstr(m->content, "http://127.0.0.1:3128"));
}

static void test_plan__proxy_mode_commands_get_proxy_variables(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(PROXY_POLICY);
        static const char *const env[] = {"https_proxy=http://mine", NULL};
        brig_plan_request req = {.mode = BRIG_PLAN_ENTER, .argv = default_argv, .env = env};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_int_equal(plan->proxy_port, 3128);
        assert_string_equal(strv_find_prefix(plan->envp, "HTTP_PROXY="), "HTTP_PROXY=http://127.0.0.1:3128");
        assert_string_equal(strv_find_prefix(plan->envp, "HTTPS_PROXY="),
                            "HTTPS_PROXY=http://127.0.0.1:3128");
        assert_string_equal(strv_find_prefix(plan->envp, "http_proxy="), "http_proxy=http://127.0.0.1:3128");
        assert_string_equal(strv_find_prefix(plan->envp, "NO_PROXY="), "NO_PROXY=localhost,127.0.0.1,::1");
        assert_string_equal(strv_find_prefix(plan->envp, "no_proxy="), "no_proxy=localhost,127.0.0.1,::1");
        /* The request's own setting stays, once. */
        assert_string_equal(strv_find_prefix(plan->envp, "https_proxy="), "https_proxy=http://mine");
        size_t n = 0;
        for (char **e = plan->envp; *e; e++)
                n += strncmp(*e, "https_proxy=", 12) == 0;
        assert_int_equal(n, 1);
}

/* network.secrets placeholders (made by the worker) join the environment unless the call sets the name. */
static void test_plan__secret_placeholders_join_the_environment(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(PROXY_POLICY);
        static const char *const env[] = {"MINE=call", NULL};
        static const char *const secrets[] = {"TOKEN=brig-secret-00", "MINE=brig-secret-11", NULL};
        brig_plan_request req = {
                .mode = BRIG_PLAN_ENTER, .argv = default_argv, .env = env, .secret_env = secrets};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_string_equal(strv_find_prefix(plan->envp, "TOKEN="), "TOKEN=brig-secret-00");
        assert_string_equal(strv_find_prefix(plan->envp, "MINE="), "MINE=call");
}

/* The CA bundle of TLS interception: bound read-only above the policy's mounts in the environment's jail,
 * named by the four variables in it and in its commands, which a call may still set otherwise. */
static void test_plan__ca_bundle_is_bound_and_named(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(PROXY_POLICY);
        static const char *const names[] = BRIG_PLAN_CA_VARS;
        static const char *const env[] = {"GIT_SSL_CAINFO=/mine.pem", NULL};
        brig_plan_request hold = {
                .mode = BRIG_PLAN_HOLD, .workspace = "/srv/ws", .ca_bundle = "/var/lib/brig/e/ca.pem"};
        brig_plan_request enter = {
                .mode = BRIG_PLAN_ENTER, .argv = default_argv, .env = env, .ca_bundle = BRIG_PLAN_CA_BUNDLE};
        brig_plan_request none = {.mode = BRIG_PLAN_ENTER, .argv = default_argv};
        _cleanup_(brig_plan_freep) brig_plan *h = build_ok(p, &hold);
        _cleanup_(brig_plan_freep) brig_plan *e = build_ok(p, &enter);
        _cleanup_(brig_plan_freep) brig_plan *n = build_ok(p, &none);
        char want[128];

        (void) state;
        const brig_mount *m = find_mount(h, BRIG_MOUNT_BIND, BRIG_PLAN_CA_BUNDLE);
        assert_non_null(m);
        assert_string_equal(m->source, "/var/lib/brig/e/ca.pem");
        assert_true(m->read_only);
        /* After every mount of the policy's, so that none hides it. */
        for (const brig_mount *o = m + 1; o < h->mounts + h->n_mounts; o++)
                assert_true(o->kind == BRIG_MOUNT_PROC || o->kind == BRIG_MOUNT_DEV);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                (void) snprintf(want, sizeof(want), "%s=%s", names[i], BRIG_PLAN_CA_BUNDLE);
                assert_string_equal(strv_find_prefix(h->envp, names[i]), want);
                if (strcmp(names[i], "GIT_SSL_CAINFO") != 0)
                        assert_string_equal(strv_find_prefix(e->envp, names[i]), want);
                assert_null(strv_find_prefix(n->envp, names[i]));
        }
        assert_string_equal(strv_find_prefix(e->envp, "GIT_SSL_CAINFO="), "GIT_SSL_CAINFO=/mine.pem");
        assert_null(find_mount(n, BRIG_MOUNT_BIND, BRIG_PLAN_CA_BUNDLE));
}

static void test_plan__proxy_mode_one_shot_run_has_no_proxy(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(PROXY_POLICY);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_true(plan->namespaces & CLONE_NEWNET);
        assert_int_equal(plan->proxy_port, 0);
        assert_null(strv_find_prefix(plan->envp, "HTTP_PROXY="));
        assert_null(find_mount(plan, BRIG_MOUNT_FILE, "/etc/resolv.conf"));
}

static void test_plan__no_network_has_no_proxy(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.mode = BRIG_PLAN_ENTER, .argv = default_argv};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_int_equal(plan->proxy_port, 0);
        assert_null(strv_find_prefix(plan->envp, "HTTP_PROXY="));
        assert_null(strv_find_prefix(plan->envp, "https_proxy="));
}

static void test_plan__ids_map_inside_1000_to_identity(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_int_equal(plan->uid_inside, 1000);
        assert_int_equal(plan->gid_inside, 1000);
        assert_int_equal(plan->uid_outside, 4242);
        assert_int_equal(plan->gid_outside, 4343);
}

static void test_plan__identity_and_capabilities_follow_the_policy(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p =
                policy("{'identity': {'uid': 4000, 'gid': 4001}, 'capabilities': ['CAP_NET_BIND_SERVICE']}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_int_equal(plan->uid_inside, 4000);
        assert_int_equal(plan->gid_inside, 4001);
        /* The host side of the map does not move. */
        assert_int_equal(plan->uid_outside, 4242);
        assert_int_equal(plan->gid_outside, 4343);
        assert_int_equal(plan->capabilities, UINT64_C(1) << 10);
        assert_non_null(strstr(find_mount(plan, BRIG_MOUNT_FILE, "/etc/passwd")->content,
                               "\nagent:x:4000:4001:brig agent:/workspace:/bin/sh\n"));
        assert_non_null(
                strstr(find_mount(plan, BRIG_MOUNT_FILE, "/etc/group")->content, "\nagent:x:4001:\n"));

        /* An environment's command carries them too: the init forks it with the environment's sets, and
         * the ids come from the plan. */
        brig_plan_request enter = {.mode = BRIG_PLAN_ENTER, .argv = default_argv};
        _cleanup_(brig_plan_freep) brig_plan *e = build_ok(p, &enter);
        assert_int_equal(e->uid_inside, 4000);
        assert_int_equal(e->capabilities, UINT64_C(1) << 10);

        /* The default: nothing kept. */
        _cleanup_(brig_policy_freep) brig_policy *d = policy("{}");
        _cleanup_(brig_plan_freep) brig_plan *dp = build_ok(d, &req);
        assert_int_equal(dp->capabilities, 0);
}

/* Security: generated files are written into the fresh root; a bind mounted before them could let the
 * write land on the host. */
static void test_plan__generated_files_come_before_binds(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        static const char *const files[] = {"/etc/passwd", "/etc/group", "/etc/hostname", "/etc/hosts"};
        size_t first_bind = SIZE_MAX, last_file = 0, n_files = 0;

        (void) state;
        for (size_t i = 0; i < plan->n_mounts; i++) {
                if (plan->mounts[i].kind == BRIG_MOUNT_BIND && first_bind == SIZE_MAX)
                        first_bind = i;
                if (plan->mounts[i].kind == BRIG_MOUNT_FILE) {
                        last_file = i;
                        n_files++;
                }
        }
        assert_int_not_equal(first_bind, SIZE_MAX);
        assert_int_equal(n_files, ELEMENTSOF(files));
        assert_true(last_file < first_bind);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const brig_mount *m = find_mount(plan, BRIG_MOUNT_FILE, files[i]);
                assert_non_null(m);
                assert_non_null(m->content);
                assert_null(m->source);
                assert_true(m->read_only);
        }
}

static void test_plan__generated_files_content(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_non_null(strstr(find_mount(plan, BRIG_MOUNT_FILE, "/etc/passwd")->content,
                               "\nagent:x:1000:1000:brig agent:/work:/bin/sh\n"));
        assert_non_null(
                strstr(find_mount(plan, BRIG_MOUNT_FILE, "/etc/group")->content, "\nagent:x:1000:\n"));
        assert_string_equal(find_mount(plan, BRIG_MOUNT_FILE, "/etc/hostname")->content, "box\n");
        assert_non_null(strstr(find_mount(plan, BRIG_MOUNT_FILE, "/etc/hosts")->content, "localhost box\n"));
}

static void test_plan__workspace_is_read_write_policy_binds_keep_mode(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        const brig_mount *m;

        (void) state;
        m = find_mount(plan, BRIG_MOUNT_BIND, "/work");
        assert_non_null(m);
        assert_string_equal(m->source, "/srv/ws");
        assert_false(m->read_only);
        assert_false(m->optional);

        m = find_mount(plan, BRIG_MOUNT_BIND, "/usr");
        assert_non_null(m);
        assert_string_equal(m->source, "/usr");
        assert_true(m->read_only);
        assert_false(m->optional);

        m = find_mount(plan, BRIG_MOUNT_BIND, "/lib64");
        assert_non_null(m);
        assert_true(m->read_only);
        assert_true(m->optional);

        /* The policy's own read_write entry stays writable. */
        m = find_mount(plan, BRIG_MOUNT_BIND, "/out");
        assert_non_null(m);
        assert_string_equal(m->source, "/srv/out");
        assert_false(m->read_only);

        m = find_mount(plan, BRIG_MOUNT_TMPFS, "/tmp");
        assert_non_null(m);
        assert_int_equal(m->size, 64 * MIB);
        assert_int_equal(m->mode, 01777);

        /* Nothing else is writable. */
        for (size_t i = 0; i < plan->n_mounts; i++)
                if (plan->mounts[i].kind == BRIG_MOUNT_BIND && !plan->mounts[i].read_only)
                        assert_true(strcmp(plan->mounts[i].dest, "/work") == 0 ||
                                    strcmp(plan->mounts[i].dest, "/out") == 0);
}

static void test_plan__default_policy_binds_are_read_only(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p =
                policy("{'filesystem': {'read_only': ['/usr', '/bin']}}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        size_t rw = 0;

        (void) state;
        for (size_t i = 0; i < plan->n_mounts; i++)
                if (plan->mounts[i].kind == BRIG_MOUNT_BIND && !plan->mounts[i].read_only) {
                        rw++;
                        assert_string_equal(plan->mounts[i].dest, "/workspace");
                        assert_string_equal(plan->mounts[i].source, "/srv/ws");
                }
        assert_int_equal(rw, 1);
        assert_true(find_mount(plan, BRIG_MOUNT_BIND, "/usr")->read_only);
        assert_true(find_mount(plan, BRIG_MOUNT_BIND, "/bin")->read_only);
}

static void test_plan__proc_and_dev_are_mounted(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_non_null(find_mount(plan, BRIG_MOUNT_PROC, "/proc"));
        assert_non_null(find_mount(plan, BRIG_MOUNT_DEV, "/dev"));
}

static void test_plan__rlimits_follow_limits(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        uint64_t v;

        (void) state;
        assert_true(plan->n_rlimits <= ELEMENTSOF(plan->rlimits));
        assert_true(rlimit_of(plan, RLIMIT_CORE, &v));
        assert_int_equal(v, 0);
        assert_true(rlimit_of(plan, RLIMIT_NOFILE, &v));
        assert_int_equal(v, 256);
        assert_true(rlimit_of(plan, RLIMIT_NPROC, &v));
        assert_int_equal(v, 64);
        assert_true(rlimit_of(plan, RLIMIT_DATA, &v));
        assert_int_equal(v, 512 * MIB);
        assert_true(rlimit_of(plan, RLIMIT_FSIZE, &v));
        assert_int_equal(v, 10 * MIB);
        /* 1500 ms of CPU rounds up, never down to 1 s. */
        assert_true(rlimit_of(plan, RLIMIT_CPU, &v));
        assert_int_equal(v, 2);
}

static void test_plan__cpu_limit_exact_seconds_stay(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{'limits': {'cpu_time': '3s'}}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        uint64_t v;

        (void) state;
        assert_true(rlimit_of(plan, RLIMIT_CPU, &v));
        assert_int_equal(v, 3);
}

static void test_plan__env_merges_policy_and_request(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        static const char *const env[] = {"FOO=1", "PATH=/opt/bin", "BAR=a", "FOO=2", "BAR=b=c", NULL};
        brig_plan_request req = {.argv = default_argv, .env = env, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;

        (void) state;
        /* Something in the worker's own environment must never leak into a jail. */
        assert_int_equal(setenv("BRIG_TEST_MARKER", "leaked", 1), 0);
        plan = build_ok(p, &req);
        assert_null(strv_find_prefix(plan->envp, "BRIG_TEST_MARKER="));
        assert_int_equal(unsetenv("BRIG_TEST_MARKER"), 0);

        /* Policy: PATH, LANG, HOME; request overrides PATH, adds FOO and BAR, each once, last wins. */
        assert_int_equal(strv_len(plan->envp), 5);
        assert_string_equal(strv_find_prefix(plan->envp, "PATH="), "PATH=/opt/bin");
        assert_string_equal(strv_find_prefix(plan->envp, "LANG="), "LANG=C.UTF-8");
        assert_string_equal(strv_find_prefix(plan->envp, "HOME="), "HOME=/work");
        assert_string_equal(strv_find_prefix(plan->envp, "FOO="), "FOO=2");
        assert_string_equal(strv_find_prefix(plan->envp, "BAR="), "BAR=b=c");
}

static void test_plan__env_name_prefix_does_not_override(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{'env': {'PATH': '/bin'}}");
        static const char *const env[] = {"PAT=x", "PATHX=y", NULL};
        brig_plan_request req = {.argv = default_argv, .env = env, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        assert_int_equal(strv_len(plan->envp), 3);
        assert_string_equal(strv_find_prefix(plan->envp, "PATH="), "PATH=/bin");
        assert_string_equal(strv_find_prefix(plan->envp, "PAT="), "PAT=x");
        assert_string_equal(strv_find_prefix(plan->envp, "PATHX="), "PATHX=y");
}

static void test_plan__env_rejects_bad_names(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        static const char *const bad[] = {"NOEQUALS", "=x", "1A=x", "A-B=x", "A B=x", ""};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *env[] = {bad[i], NULL};
                brig_plan_request req = {.argv = default_argv, .env = env, .workspace = "/srv/ws"};
                build_fails(p, &req, -EINVAL, "env:");
        }
}

static void test_plan__env_limits(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        const size_t n = BRIG_PLAN_MAX_ENV + 1;
        char **env = calloc(n + 1, sizeof(char *));
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;

        (void) state;
        assert_non_null(env);
        for (size_t i = 0; i < n; i++)
                assert_true(asprintf(&env[i], "V%zu=x", i) > 0);
        req.env = (const char *const *) env;
        build_fails(p, &req, -E2BIG, "env: more than 512 variables");
        /* Exactly the maximum is fine. */
        free(env[n - 1]);
        env[n - 1] = NULL;
        plan = build_ok(p, &req);
        assert_true(strv_len(plan->envp) >= BRIG_PLAN_MAX_ENV);
        brig_strv_free(env);

        /* Total size. */
        _cleanup_free_ char *big = malloc(BRIG_PLAN_MAX_TOTAL_BYTES / 2 + 8);
        assert_non_null(big);
        memset(big, 'v', BRIG_PLAN_MAX_TOTAL_BYTES / 2 + 7);
        memcpy(big, "A=", 2);
        big[BRIG_PLAN_MAX_TOTAL_BYTES / 2 + 7] = 0;
        const char *two[] = {big, big, NULL};
        req.env = two;
        build_fails(p, &req, -E2BIG, "env: more than");
}

static void test_plan__cwd_joins_workspace(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        brig_plan *plan;

        (void) state;
        plan = build_ok(p, &req);
        assert_string_equal(plan->cwd, "/work");
        brig_plan_free(plan);

        req.cwd = "";
        plan = build_ok(p, &req);
        assert_string_equal(plan->cwd, "/work");
        brig_plan_free(plan);

        req.cwd = "a/b";
        plan = build_ok(p, &req);
        assert_string_equal(plan->cwd, "/work/a/b");
        brig_plan_free(plan);
}

static void test_plan__relpath_check_accepts(void **state) {
        static const char *const ok[] = {"", "a", "a/b", "a/b/", "...", ".a/b.", "a..b", "a/.hidden"};
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                int r = brig_relpath_check(ok[i], "cwd", &err);
                if (r < 0)
                        print_error("rejected '%s': %s\n", ok[i], err.msg);
                assert_int_equal(r, 0);
        }
}

static void test_plan__relpath_check_rejects(void **state) {
        static const char *const bad[] = {"/etc", "/",    "..",  "a/../b", "a//b", "./a", ".",
                                          "a/.",  "a/..", "//a", "a/./b",  "../x", "a//"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                brig_error err = BRIG_ERROR_INIT;
                int r = brig_relpath_check(bad[i], "arguments.cwd", &err);
                if (r != -EINVAL)
                        print_error("accepted '%s'\n", bad[i]);
                assert_int_equal(r, -EINVAL);
                assert_int_equal(err.kind, BRIG_KIND_INVALID_ARGUMENT);
                assert_true(strncmp(err.msg, "arguments.cwd: ", 15) == 0);
        }

        /* The message says why. */
        brig_error e1 = BRIG_ERROR_INIT, e2 = BRIG_ERROR_INIT;
        assert_int_equal(brig_relpath_check("/etc", "cwd", &e1), -EINVAL);
        assert_string_equal(e1.msg, "cwd: must be relative to the workspace, got \"/etc\"");
        assert_int_equal(brig_relpath_check("a/../b", "cwd", &e2), -EINVAL);
        assert_string_equal(e2.msg,
                            "cwd: must not contain empty, \".\" or \"..\" components, got \"a/../b\"");

        /* Too long. */
        char *longp = malloc(4097);
        brig_error err = BRIG_ERROR_INIT;
        assert_non_null(longp);
        memset(longp, 'a', 4096);
        longp[4096] = 0;
        assert_int_equal(brig_relpath_check(longp, "cwd", &err), -ENAMETOOLONG);
        assert_true(strncmp(err.msg, "cwd: ", 5) == 0);
        longp[4095] = 0;
        assert_int_equal(brig_relpath_check(longp, "cwd", &err), 0);
        free(longp);
}

static void test_plan__build_rejects_bad_cwd(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        static const char *const bad[] = {"/etc", "..", "a/../b", "a//b", "./a"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                brig_plan_request req = {.argv = default_argv, .cwd = bad[i], .workspace = "/srv/ws"};
                build_fails(p, &req, -EINVAL, "cwd: ");
        }
}

static void test_plan__build_rejects_empty_argv(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        static const char *const none[] = {NULL};
        static const char *const empty0[] = {"", "x", NULL};
        brig_plan_request req = {.argv = none, .workspace = "/srv/ws"};

        (void) state;
        build_fails(p, &req, -EINVAL, "argv: must name a program");
        req.argv = empty0;
        build_fails(p, &req, -EINVAL, "argv: must name a program");
        req.argv = NULL;
        build_fails(p, &req, -EINVAL, "argv: must name a program");
}

static void test_plan__build_rejects_relative_workspace(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.argv = default_argv, .workspace = "srv/ws"};

        (void) state;
        build_fails(p, &req, -EINVAL, "workspace");
        req.workspace = NULL;
        build_fails(p, &req, -EINVAL, "workspace");
}

static void test_plan__argv_limits(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        brig_plan_request req = {.workspace = "/srv/ws"};
        const char **argv = calloc(BRIG_PLAN_MAX_ARGS + 2, sizeof(char *));
        _cleanup_free_ char *big = malloc(BRIG_PLAN_MAX_ARG_BYTES + 2);
        brig_plan *plan;

        (void) state;
        assert_non_null(argv);
        assert_non_null(big);

        /* Count: exactly the maximum passes, one more fails. */
        for (size_t i = 0; i <= BRIG_PLAN_MAX_ARGS; i++)
                argv[i] = "x";
        req.argv = argv;
        build_fails(p, &req, -E2BIG, "argv: more than 4096 arguments");
        argv[BRIG_PLAN_MAX_ARGS] = NULL;
        plan = build_ok(p, &req);
        assert_int_equal(strv_len(plan->argv), BRIG_PLAN_MAX_ARGS);
        brig_plan_free(plan);

        /* One argument's length. */
        memset(big, 'a', BRIG_PLAN_MAX_ARG_BYTES + 1);
        big[BRIG_PLAN_MAX_ARG_BYTES + 1] = 0;
        argv[0] = "/bin/true";
        argv[1] = big;
        argv[2] = NULL;
        build_fails(p, &req, -E2BIG, "argv[1]: longer than");
        big[BRIG_PLAN_MAX_ARG_BYTES] = 0;
        plan = build_ok(p, &req);
        assert_int_equal(strlen(plan->argv[1]), BRIG_PLAN_MAX_ARG_BYTES);
        brig_plan_free(plan);

        /* Total length: 9 arguments of 128 KiB exceed 1 MiB. */
        for (size_t i = 1; i <= 9; i++)
                argv[i] = big;
        argv[10] = NULL;
        build_fails(p, &req, -E2BIG, "argv: more than");
        free(argv);
}

static void test_plan__argv_is_copied(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy("{}");
        char a0[] = "/bin/echo", a1[] = "hi";
        const char *argv[] = {a0, a1, NULL};
        brig_plan_request req = {.argv = argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);

        (void) state;
        a1[0] = 'X';
        assert_int_equal(strv_len(plan->argv), 2);
        assert_string_equal(plan->argv[0], "/bin/echo");
        assert_string_equal(plan->argv[1], "hi");
        assert_null(plan->argv[2]);
}

static void assert_strv_equal(char *const *a, char *const *b) {
        assert_int_equal(strv_len(a), strv_len(b));
        for (size_t i = 0; a && a[i]; i++)
                assert_string_equal(a[i], b[i]);
}

static void assert_opt_string_equal(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_plans_equal(const brig_plan *a, const brig_plan *b) {
        assert_int_equal(a->namespaces, b->namespaces);
        assert_int_equal(a->uid_inside, b->uid_inside);
        assert_int_equal(a->uid_outside, b->uid_outside);
        assert_int_equal(a->gid_inside, b->gid_inside);
        assert_int_equal(a->gid_outside, b->gid_outside);
        assert_string_equal(a->hostname, b->hostname);
        assert_int_equal(a->loopback, b->loopback);
        assert_int_equal(a->proxy_port, b->proxy_port);
        assert_int_equal(a->seccomp, b->seccomp);
        assert_string_equal(a->cwd, b->cwd);
        assert_strv_equal(a->argv, b->argv);
        assert_strv_equal(a->envp, b->envp);
        assert_int_equal(a->n_mounts, b->n_mounts);
        for (size_t i = 0; i < a->n_mounts; i++) {
                const brig_mount *x = &a->mounts[i], *y = &b->mounts[i];
                assert_int_equal(x->kind, y->kind);
                assert_opt_string_equal(x->source, y->source);
                assert_string_equal(x->dest, y->dest);
                assert_opt_string_equal(x->content, y->content);
                assert_int_equal(x->size, y->size);
                assert_int_equal(x->mode, y->mode);
                assert_int_equal(x->read_only, y->read_only);
                assert_int_equal(x->optional, y->optional);
        }
        assert_int_equal(a->n_rlimits, b->n_rlimits);
        for (size_t i = 0; i < a->n_rlimits; i++) {
                assert_int_equal(a->rlimits[i].resource, b->rlimits[i].resource);
                assert_int_equal(a->rlimits[i].value, b->rlimits[i].value);
        }
        assert_int_equal(a->capabilities, b->capabilities);
        assert_int_equal(a->landlock, b->landlock);
        assert_int_equal(a->n_landlock_rules, b->n_landlock_rules);
        for (size_t i = 0; i < a->n_landlock_rules; i++) {
                assert_string_equal(a->landlock_rules[i].path, b->landlock_rules[i].path);
                assert_int_equal(a->landlock_rules[i].access, b->landlock_rules[i].access);
        }
}

static void test_plan__json_round_trip(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        static const char *const env[] = {"QUOTE=a\"b\\c\n", "UTF=\xc3\xa9", NULL};
        static const char *const argv[] = {"/bin/sh", "-c", "echo \"$QUOTE\" | tr a b", "", NULL};
        brig_plan_request req = {.argv = argv, .env = env, .cwd = "sub/dir", .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        _cleanup_(brig_plan_freep) brig_plan *back = NULL;
        _cleanup_free_ char *json = NULL, *again = NULL;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        /* Make every field differ from its zero value, so a dropped field shows. */
        plan->loopback = true;
        plan->proxy_port = 3128;
        plan->mounts[0].size = 12345;
        plan->mounts[0].mode = 0750;
        plan->mounts[0].optional = true;
        plan->landlock = BRIG_LANDLOCK_REQUIRED;
        plan->capabilities = (UINT64_C(1) << 10) | (UINT64_C(1) << 40);
        assert_true(plan->n_landlock_rules > 0);
        json = brig_plan_to_json(plan);
        assert_non_null(json);
        assert_int_equal(brig_plan_from_json(json, strlen(json), &back, &err), 0);
        assert_plans_equal(plan, back);
        /* And serialising again gives the same bytes. */
        again = brig_plan_to_json(back);
        assert_non_null(again);
        assert_string_equal(json, again);
        /* Byte for byte as cJSON prints it (brig_plan_to_json() prints without cJSON's printer). */
        _cleanup_json_ cJSON *parsed = cJSON_Parse(json);
        _cleanup_free_ char *by_cjson = cJSON_PrintUnformatted(parsed);
        assert_non_null(by_cjson);
        assert_string_equal(json, by_cjson);

        /* The negations of the booleans survive too. */
        brig_plan_free(back);
        back = NULL;
        plan->loopback = false;
        plan->seccomp = false;
        free(json);
        json = brig_plan_to_json(plan);
        assert_non_null(json);
        assert_int_equal(brig_plan_from_json(json, strlen(json), &back, &err), 0);
        assert_plans_equal(plan, back);
}

/* Serialises a plan, lets edit change the JSON, and expects brig_plan_from_json to fail with msg_part. */
static void from_json_fails(void (*edit)(cJSON *root), int want, const char *msg_part) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        _cleanup_(brig_plan_freep) brig_plan *back = NULL;
        _cleanup_free_ char *json = brig_plan_to_json(plan), *edited = NULL;
        _cleanup_json_ cJSON *root = NULL;
        brig_error err = BRIG_ERROR_INIT;

        assert_non_null(json);
        root = cJSON_Parse(json);
        assert_non_null(root);
        edit(root);
        edited = cJSON_PrintUnformatted(root);
        assert_non_null(edited);
        assert_int_equal(brig_plan_from_json(edited, strlen(edited), &back, &err), want);
        assert_null(back);
        if (!strstr(err.msg, msg_part))
                print_error("message '%s' lacks '%s'\n", err.msg, msg_part);
        assert_non_null(strstr(err.msg, msg_part));
}

static void edit_version_2(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "version", cJSON_CreateNumber(2)));
}

static void edit_no_version(cJSON *root) {
        cJSON_DeleteItemFromObject(root, "version");
}

static void edit_unknown_mount_kind(cJSON *root) {
        cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "mounts"), 2);
        assert_non_null(cJSON_ReplaceItemInObject(m, "kind", cJSON_CreateString("overlay")));
}

static void edit_no_argv(cJSON *root) {
        cJSON_DeleteItemFromObject(root, "argv");
}

static void edit_argv_not_strings(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "argv", cJSON_CreateIntArray((int[]){1, 2}, 2)));
}

static void edit_no_hostname(cJSON *root) {
        cJSON_DeleteItemFromObject(root, "hostname");
}

static void edit_bind_without_source(cJSON *root) {
        cJSON *it;
        cJSON_ArrayForEach (it, cJSON_GetObjectItem(root, "mounts"))
                if (strcmp(cJSON_GetObjectItem(it, "kind")->valuestring, "bind") == 0)
                        cJSON_DeleteItemFromObject(it, "source");
}

static void edit_mounts_not_array(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "mounts", cJSON_CreateObject()));
}

static void edit_negative_uid(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "uid_outside", cJSON_CreateNumber(-1)));
}

static void edit_too_many_rlimits(cJSON *root) {
        cJSON *rl = cJSON_GetObjectItem(root, "rlimits");
        for (int i = 0; i < 8; i++)
                assert_true(cJSON_AddItemToArray(rl, cJSON_Duplicate(cJSON_GetArrayItem(rl, 0), true)));
}

static void edit_unknown_capability(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "capabilities",
                                                  cJSON_CreateNumber((double) (UINT64_C(1) << 41))));
}

static void edit_no_landlock(cJSON *root) {
        cJSON_DeleteItemFromObject(root, "landlock");
}

static void edit_unknown_landlock(cJSON *root) {
        assert_non_null(cJSON_ReplaceItemInObject(root, "landlock", cJSON_CreateString("maybe")));
}

static void edit_landlock_rule_unknown_right(cJSON *root) {
        cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "landlock_rules"), 0);
        assert_non_null(cJSON_ReplaceItemInObject(r, "access", cJSON_CreateNumber(1 << 16)));
}

static void edit_landlock_rule_relative(cJSON *root) {
        cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "landlock_rules"), 0);
        assert_non_null(cJSON_ReplaceItemInObject(r, "path", cJSON_CreateString("usr")));
}

static void test_plan__from_json_rejects_bad_documents(void **state) {
        (void) state;
        from_json_fails(edit_version_2, -EPROTO, "version 2, expected 3");
        from_json_fails(edit_no_version, -EPROTO, "version 0, expected 3");
        from_json_fails(edit_unknown_mount_kind, -EINVAL, "unknown kind");
        from_json_fails(edit_no_argv, -EINVAL, "plan.argv: required");
        from_json_fails(edit_argv_not_strings, -EINVAL, "plan.argv[0]");
        from_json_fails(edit_no_hostname, -EINVAL, "plan.hostname: required");
        from_json_fails(edit_bind_without_source, -EINVAL, "source: required");
        from_json_fails(edit_mounts_not_array, -EINVAL, "plan.mounts");
        from_json_fails(edit_negative_uid, -EINVAL, "plan.uid_outside");
        from_json_fails(edit_too_many_rlimits, -E2BIG, "plan.rlimits");
        from_json_fails(edit_no_landlock, -EINVAL, "plan.landlock: required");
        from_json_fails(edit_unknown_capability, -EINVAL, "plan.capabilities");
        from_json_fails(edit_unknown_landlock, -EINVAL, "plan.landlock: unknown");
        from_json_fails(edit_landlock_rule_unknown_right, -EINVAL, "plan.landlock_rules[].access");
        from_json_fails(edit_landlock_rule_relative, -EINVAL, "must be absolute");
}

static void test_plan__from_json_rejects_garbage(void **state) {
        static const char *const bad[] = {"",     "garbage",         "{",     "[]",
                                          "null", "{\"version\":2}", "{} {}", "{\"version\":\"1\"}"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_plan *plan = NULL;
                int r = brig_plan_from_json(bad[i], strlen(bad[i]), &plan, &err);
                if (r >= 0)
                        print_error("accepted '%s'\n", bad[i]);
                assert_true(r < 0);
                assert_null(plan);
                assert_int_not_equal(err.msg[0], 0);
        }
}

static const brig_landlock_rule *find_rule(const brig_plan *plan, const char *path) {
        const brig_landlock_rule *found = NULL;
        for (size_t i = 0; i < plan->n_landlock_rules; i++)
                if (strcmp(plan->landlock_rules[i].path, path) == 0) {
                        assert_null(found); /* one rule per path */
                        found = &plan->landlock_rules[i];
                }
        return found;
}

static void test_plan__landlock_rules_follow_the_mounts(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *p = policy(full_policy);
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *plan = build_ok(p, &req);
        static const struct {
                const char *path;
                uint64_t access;
        } want[] = {
                {"/", BRIG_LANDLOCK_FS_READ_DIR},
                {"/usr", BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_READ_DIR | BRIG_LANDLOCK_FS_EXECUTE},
                {"/lib64",
                 BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_READ_DIR | BRIG_LANDLOCK_FS_EXECUTE},
                {"/out", BRIG_LANDLOCK_FS_ALL},
                {"/tmp", BRIG_LANDLOCK_FS_ALL},
                {"/work", BRIG_LANDLOCK_FS_ALL},
                {"/proc", BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_WRITE_FILE |
                                  BRIG_LANDLOCK_FS_READ_DIR | BRIG_LANDLOCK_FS_TRUNCATE},
                {"/dev", BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_WRITE_FILE |
                                 BRIG_LANDLOCK_FS_READ_DIR | BRIG_LANDLOCK_FS_IOCTL_DEV},
                {"/dev/shm", BRIG_LANDLOCK_FS_ALL},
                {"/etc/passwd", BRIG_LANDLOCK_FS_READ_FILE},
                {"/etc/group", BRIG_LANDLOCK_FS_READ_FILE},
                {"/etc/hosts", BRIG_LANDLOCK_FS_READ_FILE},
                {"/etc/hostname", BRIG_LANDLOCK_FS_READ_FILE},
        };

        (void) state;
        assert_int_equal(plan->landlock, BRIG_LANDLOCK_AUTO);
        assert_int_equal(plan->n_landlock_rules, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const brig_landlock_rule *r = find_rule(plan, want[i].path);
                if (!r)
                        print_error("no rule for %s\n", want[i].path);
                assert_non_null(r);
                assert_int_equal(r->access, want[i].access);
        }
        /* Outside the mounts only listing: no rule of its own for /etc, which the root's covers. */
        assert_null(find_rule(plan, "/etc"));
        /* No MAKE_* in /dev, no EXECUTE in /proc, nothing but reading under a read-only bind. */
        assert_int_equal(find_rule(plan, "/dev")->access & BRIG_LANDLOCK_FS_MAKE_CHAR, 0);
        assert_int_equal(find_rule(plan, "/proc")->access & BRIG_LANDLOCK_FS_EXECUTE, 0);
        assert_int_equal(find_rule(plan, "/usr")->access &
                                 (BRIG_LANDLOCK_FS_WRITE_FILE | BRIG_LANDLOCK_FS_REFER |
                                  BRIG_LANDLOCK_FS_TRUNCATE | BRIG_LANDLOCK_FS_MAKE_REG),
                         0);
}

static void test_plan__landlock_off_and_required(void **state) {
        _cleanup_(brig_policy_freep) brig_policy *off = policy("{'landlock': 'off'}");
        _cleanup_(brig_policy_freep) brig_policy *req_p = policy("{'landlock': 'required'}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        _cleanup_(brig_plan_freep) brig_plan *a = build_ok(off, &req);
        _cleanup_(brig_plan_freep) brig_plan *b = build_ok(req_p, &req);

        (void) state;
        assert_int_equal(a->landlock, BRIG_LANDLOCK_OFF);
        assert_int_equal(a->n_landlock_rules, 0);
        assert_int_equal(b->landlock, BRIG_LANDLOCK_REQUIRED);
        assert_non_null(find_rule(b, "/workspace"));

        /* An environment's command inherits the init's domain: no rules of its own, but the decision. */
        brig_plan_request enter = {.mode = BRIG_PLAN_ENTER, .argv = default_argv};
        _cleanup_(brig_plan_freep) brig_plan *c = build_ok(req_p, &enter);
        assert_int_equal(c->landlock, BRIG_LANDLOCK_REQUIRED);
        assert_int_equal(c->n_landlock_rules, 0);
}

static void test_plan__free_accepts_null(void **state) {
        (void) state;
        brig_plan_free(NULL);
}

/* Parents are mounted before what lies below them, whatever the policy's order; then hidden paths. */
static void test_plan__mounts_go_parents_first(void **state) {
        (void) state;
        brig_policy *p =
                policy("{'filesystem': {'read_only': ['/usr', {'source': '/srv/vendor', 'dest': "
                       "'/work/vendor'}], 'read_write': [{'source': '/srv/c', 'dest': '/tmp/cache'}], "
                       "'tmpfs': [{'path': '/tmp'}], 'workspace': '/work', 'hidden': ['/usr/share/doc']}}");
        brig_plan_request req = {.argv = default_argv, .workspace = "/srv/ws"};
        brig_plan *plan = build_ok(p, &req);
        const char *order[8];
        size_t n = 0;

        for (size_t i = 0; i < plan->n_mounts && n < 8; i++)
                if (plan->mounts[i].kind == BRIG_MOUNT_BIND || plan->mounts[i].kind == BRIG_MOUNT_TMPFS ||
                    plan->mounts[i].kind == BRIG_MOUNT_HIDE)
                        order[n++] = plan->mounts[i].dest;
        assert_int_equal(n, 6);
        assert_string_equal(order[0], "/usr");
        assert_string_equal(order[1], "/tmp");
        assert_string_equal(order[2], "/work");
        assert_string_equal(order[3], "/work/vendor");
        assert_string_equal(order[4], "/tmp/cache");
        assert_string_equal(order[5], "/usr/share/doc");
        brig_plan_free(plan);
        brig_policy_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan__namespaces_are_all_new),
                cmocka_unit_test(test_plan__mounts_go_parents_first),
                cmocka_unit_test(test_plan__ids_map_inside_1000_to_identity),
                cmocka_unit_test(test_plan__identity_and_capabilities_follow_the_policy),
                cmocka_unit_test(test_plan__generated_files_come_before_binds),
                cmocka_unit_test(test_plan__generated_files_content),
                cmocka_unit_test(test_plan__workspace_is_read_write_policy_binds_keep_mode),
                cmocka_unit_test(test_plan__default_policy_binds_are_read_only),
                cmocka_unit_test(test_plan__proc_and_dev_are_mounted),
                cmocka_unit_test(test_plan__rlimits_follow_limits),
                cmocka_unit_test(test_plan__proxy_mode_hold_plan_carries_port_and_resolv_conf),
                cmocka_unit_test(test_plan__proxy_mode_commands_get_proxy_variables),
                cmocka_unit_test(test_plan__secret_placeholders_join_the_environment),
                cmocka_unit_test(test_plan__ca_bundle_is_bound_and_named),
                cmocka_unit_test(test_plan__proxy_mode_one_shot_run_has_no_proxy),
                cmocka_unit_test(test_plan__no_network_has_no_proxy),
                cmocka_unit_test(test_plan__cpu_limit_exact_seconds_stay),
                cmocka_unit_test(test_plan__env_merges_policy_and_request),
                cmocka_unit_test(test_plan__env_name_prefix_does_not_override),
                cmocka_unit_test(test_plan__env_rejects_bad_names),
                cmocka_unit_test(test_plan__env_limits),
                cmocka_unit_test(test_plan__cwd_joins_workspace),
                cmocka_unit_test(test_plan__relpath_check_accepts),
                cmocka_unit_test(test_plan__relpath_check_rejects),
                cmocka_unit_test(test_plan__build_rejects_bad_cwd),
                cmocka_unit_test(test_plan__build_rejects_empty_argv),
                cmocka_unit_test(test_plan__build_rejects_relative_workspace),
                cmocka_unit_test(test_plan__argv_limits),
                cmocka_unit_test(test_plan__argv_is_copied),
                cmocka_unit_test(test_plan__json_round_trip),
                cmocka_unit_test(test_plan__from_json_rejects_bad_documents),
                cmocka_unit_test(test_plan__from_json_rejects_garbage),
                cmocka_unit_test(test_plan__landlock_rules_follow_the_mounts),
                cmocka_unit_test(test_plan__landlock_off_and_required),
                cmocka_unit_test(test_plan__free_accepts_null),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
