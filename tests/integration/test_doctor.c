/* SPDX-License-Identifier: MIT */
/* `brig doctor` on this host, run as each mode's user (root, nobody through setpriv, `unshare -r`) against
 * a real brigd: the checks it prints and their JSON, a feature taken away by a seccomp filter (Landlock,
 * through tests/integration/enosys.c) reported as missing with its cost, a hard requirement taken away
 * (mount_setattr) and a policy that cannot run failing the exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;

/* How this mode's user runs a command: the harness runs brigd the same way. */
static const char *mode_prefix(void) {
        const char *mode = getenv("BRIG_TEST_MODE");
        bool root = geteuid() == 0;

        if (mode && strcmp(mode, "setpriv") == 0)
                return "setpriv --reuid=65534 --regid=65534 --clear-groups -- ";
        if (mode && strcmp(mode, "userns") == 0)
                return root ? "setpriv --reuid=65534 --regid=65534 --clear-groups -- unshare -r -- "
                            : "unshare -r -- ";
        return "";
}

/* Runs `[wrapper] brig doctor ARGS` as this mode's user against our brigd, its state directory and the
 * shipped policies unless ARGS name others; returns the exit status and stdout (stderr too) in *ret_out. */
static int doctor(char **ret_out, const char *wrapper, const char *fmt, ...) {
        char args[2048], cmd[8192];
        size_t n = 0, cap = 1 << 16;
        char *out = malloc(cap);
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        (void) vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        char policies[600] = "";
        if (!strstr(args, "--policy-dir"))
                (void) snprintf(policies, sizeof(policies), "--policy-dir %s/policies", source_dir());
        (void) snprintf(cmd, sizeof(cmd), "%s%s%s/brig --socket '%s' doctor --state-dir '%s' %s %s 2>&1",
                        mode_prefix(), wrapper, build_dir(), d.socket, d.state, policies, args);
        assert_non_null(out);
        assert_non_null(p = popen(cmd, "r"));
        for (size_t k; (k = fread(out + n, 1, cap - n - 1, p)) > 0;) {
                n += k;
                if (cap - n < 4096)
                        assert_non_null(out = realloc(out, cap *= 2));
        }
        out[n] = 0;
        int st = pclose(p);
        *ret_out = out;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The line of check name ("NAME: ..."), which must exist; its status is one of statuses ("OK|WARN"). */
static const char *line_of(const char *out, const char *name, const char *statuses) {
        char needle[128];
        snprintf(needle, sizeof(needle), " %s: ", name);
        for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *m = strstr(l, needle);
                size_t len = strcspn(l, "\n");
                if (!m || m - l >= (ptrdiff_t) len || strncmp(l, "      ", 6) == 0)
                        continue;
                char status[8];
                snprintf(status, sizeof(status), "%.*s", (int) strcspn(l, " "), l);
                char *allowed = strdup(statuses);
                bool ok = false;
                for (char *s = strtok(allowed, "|"); s; s = strtok(NULL, "|"))
                        ok = ok || strcmp(s, status) == 0;
                free(allowed);
                if (!ok)
                        fail_msg("%s is %s, not %s, in:\n%s", name, status, statuses, out);
                return l;
        }
        fail_msg("no %s line in:\n%s", name, out);
        return NULL;
}

/* The "costs:" line that follows a check's line. */
static bool cost_says(const char *line, const char *text) {
        const char *next = strchr(line, '\n');
        if (!next || strncmp(next + 1, "      costs: ", 13) != 0)
                return false;
        const char *end = strchr(next + 1, '\n');
        const char *m = strstr(next + 1, text);
        return m && (!end || m < end);
}

static int setup(void **state) {
        (void) state;
        if (brigd_start(&d, NULL, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        return 0;
}

static void test_doctor__passes_on_this_host(void **state) {
        const char *mode = getenv("BRIG_TEST_MODE");
        char *out;

        (void) state;
        if (skip_why)
                skip();
        assert_int_equal(doctor(&out, "", ""), 0);
        line_of(out, "kernel", "OK");
        line_of(out, "userns", "OK");
        line_of(out, "seccomp", "OK");
        line_of(out, "seccomp_notify", "OK");
        line_of(out, "mount_setattr", "OK");
        /* Newer than the 5.12 brig needs, and optional layers: present, or missing with their cost. */
        const char *l = line_of(out, "landlock", "OK|WARN");
        assert_true(strncmp(l, "OK", 2) == 0 || cost_says(l, "Landlock"));
        l = line_of(out, "openat2", "OK|WARN");
        assert_true(strncmp(l, "OK", 2) == 0 || cost_says(l, "RESOLVE_BENEATH"));
        /* Root gets cgroups (test_cgroups needs them too); the rootless modes have none delegated here. */
        l = line_of(out, "cgroups", mode && *mode ? "OK|WARN" : "OK");
        assert_true(strncmp(l, "OK", 2) == 0 || cost_says(l, "rlimits only"));
        line_of(out, "subuid", "OK");
        line_of(out, "fd_limit", "OK|WARN");
        /* brigd made it, with its own mode and owner. */
        l = line_of(out, "state_dir", "OK");
        assert_non_null(strstr(l, "(mode 0711, owner uid "));
        line_of(out, "socket", "OK");
        line_of(out, "policy:default", "OK");
        line_of(out, "policy:strict", "OK");
        assert_non_null(strstr(out, "brig doctor: brig can run here\n"));
        free(out);

        /* No brigd there: a warning with its cost, not a failure. */
        assert_int_equal(doctor(&out, "", "--socket %s/none.sock", d.dir), 0);
        l = line_of(out, "socket", "WARN");
        assert_non_null(strstr(l, "none.sock"));
        assert_true(cost_says(l, "need a running brigd"));
        free(out);

        assert_int_equal(doctor(&out, "", "--help"), 0);
        assert_non_null(strstr(out, "Usage: brig"));
        free(out);
        assert_int_equal(doctor(&out, "", "--bogus"), 2);
        free(out);
}

static void test_doctor__json(void **state) {
        static const char *const names[] = {
                "kernel",    "userns",        "seccomp",        "seccomp_notify", "landlock",
                "openat2",   "mount_setattr", "cgroups",        "subuid",         "fd_limit",
                "state_dir", "socket",        "policy:default", "policy:strict"};
        char *out;

        (void) state;
        if (skip_why)
                skip();
        assert_int_equal(doctor(&out, "", "--json 2>/dev/null"), 0);
        cJSON *j = cJSON_Parse(out);
        if (!j)
                fail_msg("not JSON:\n%s", out);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
        const cJSON *checks = cJSON_GetObjectItem(j, "checks"), *c;
        assert_true(cJSON_IsArray(checks));
        for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
                bool found = false;
                cJSON_ArrayForEach (c, checks) {
                        const cJSON *name = cJSON_GetObjectItem(c, "name");
                        if (cJSON_IsString(name) && strcmp(name->valuestring, names[i]) == 0)
                                found = true;
                }
                if (!found)
                        fail_msg("no check %s in:\n%s", names[i], out);
        }
        cJSON_ArrayForEach (c, checks) {
                const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
                const cJSON *cost = cJSON_GetObjectItem(c, "cost");
                assert_non_null(status);
                assert_true(strcmp(status, "OK") == 0 || strcmp(status, "WARN") == 0);
                assert_true(cJSON_IsString(cJSON_GetObjectItem(c, "detail")));
                /* What is not OK says what it costs. */
                assert_true(strcmp(status, "OK") == 0 ? cJSON_IsNull(cost) : cJSON_IsString(cost));
        }
        cJSON_Delete(j);
        free(out);
}

static void put(const char *dir, const char *name, const char *text) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_non_null(f = fopen(path, "we"));
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, 0644), 0);
}

/* Landlock taken away by a seccomp filter (landlock_create_ruleset fails with ENOSYS, as on a kernel
 * without it): reported missing with what it costs, the policies that allow that still run, and one that
 * requires Landlock cannot, which fails the exit status. */
static void test_doctor__reports_missing_landlock(void **state) {
        char wrapper[600], dir[256], text[1024], *out;

        (void) state;
        if (skip_why)
                skip();
        snprintf(wrapper, sizeof(wrapper), "%s/tests/integration/enosys landlock_create_ruleset -- ",
                 build_dir());
        assert_int_equal(doctor(&out, wrapper, ""), 0);
        const char *l = line_of(out, "landlock", "WARN");
        assert_non_null(strstr(l, "missing"));
        assert_non_null(strstr(l, "ENOSYS"));
        assert_true(cost_says(l, "jails lose Landlock"));
        line_of(out, "policy:default", "OK");
        free(out);

        snprintf(dir, sizeof(dir), "%s/policies-landlock", d.dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(text, sizeof(text),
                 "{\"name\": \"needs-landlock\", \"extends\": \"%s/policies/default.json\", "
                 "\"landlock\": \"required\"}\n",
                 source_dir());
        put(dir, "needs-landlock.json", text);
        assert_int_equal(doctor(&out, wrapper, "--policy-dir %s", dir), 1);
        l = line_of(out, "policy:needs-landlock", "FAIL");
        assert_non_null(strstr(l, "andlock"));
        free(out);
        /* The same policy runs where Landlock is not taken away. */
        assert_int_equal(doctor(&out, "", "--policy-dir %s", dir), 0);
        line_of(out, "policy:needs-landlock", "OK");
        free(out);
}

/* A hard requirement missing (mount_setattr, as before Linux 5.12): FAIL, with what it costs, and every
 * policy fails to run, as brig refuses to build a weaker jail. */
static void test_doctor__fails_without_mount_setattr(void **state) {
        char wrapper[600], *out;

        (void) state;
        if (skip_why)
                skip();
        snprintf(wrapper, sizeof(wrapper), "%s/tests/integration/enosys mount_setattr -- ", build_dir());
        assert_int_equal(doctor(&out, wrapper, ""), 1);
        const char *l = line_of(out, "mount_setattr", "FAIL");
        assert_non_null(strstr(l, "ENOSYS"));
        assert_true(cost_says(l, "refuses to build the jail"));
        line_of(out, "openat2", "OK|WARN");
        line_of(out, "policy:default", "FAIL");
        free(out);
}

/* A policy directory with a policy that cannot run: a FAIL line naming why, exit status 1. */
static void test_doctor__fails_on_a_policy_that_cannot_run(void **state) {
        char dir[256], text[1024], *out;

        (void) state;
        if (skip_why)
                skip();
        snprintf(dir, sizeof(dir), "%s/policies-broken", d.dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        put(dir, "broken.json", "{\"name\": \"broken\", \"limits\": {\"memory\": \"lots\"}}\n");
        snprintf(text, sizeof(text), "{\"name\": \"fine\", \"extends\": \"%s/policies/default.json\"}\n",
                 source_dir());
        put(dir, "fine.json", text);
        assert_int_equal(doctor(&out, "", "--policy-dir %s", dir), 1);
        const char *l = line_of(out, "policy:broken", "FAIL");
        assert_non_null(strstr(l, "memory"));
        line_of(out, "policy:fine", "OK");
        assert_non_null(strstr(out, "brig doctor: a requirement is missing or a policy could not run\n"));
        free(out);
        assert_int_equal(doctor(&out, "", "--json --policy-dir %s 2>/dev/null", dir), 1);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
        cJSON_Delete(j);
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_doctor__passes_on_this_host),
                cmocka_unit_test(test_doctor__json),
                cmocka_unit_test(test_doctor__reports_missing_landlock),
                cmocka_unit_test(test_doctor__fails_without_mount_setattr),
                cmocka_unit_test(test_doctor__fails_on_a_policy_that_cannot_run),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
