/* SPDX-License-Identifier: MIT */
/* Policy reload on SIGHUP against a real brigd: new environments get the new policy, running ones keep
 * theirs, a reload that fails keeps every old policy, and added and removed files come and go. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "tests/integration/harness.h"

static char dir[64];

/* A policy that runs a shell, with MARK set to mark. */
static void write_policy(const char *name, const char *mark) {
        char path[128];

        snprintf(path, sizeof(path), "%s/%s.json", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        if (mark)
                fprintf(f,
                        "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                        "\"optional\":true}]},\"env\":{\"PATH\":\"/usr/bin:/bin\",\"MARK\":\"%s\"}}",
                        mark);
        else
                fputs("{\"limits\":{\"memory\":\"lots\"}}", f);
        fclose(f);
        chmod(path, 0644);
}

/* Number of policy_reload events in the audit log, and whether the last one was ok. */
static int reloads(const brigd *d, bool *ret_last_ok) {
        FILE *f = fopen(d->audit, "r");
        char line[8192];
        int n = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (strstr(line, "\"type\":\"policy_reload\"")) {
                        n++;
                        *ret_last_ok = strstr(line, "\"ok\":true") != NULL;
                }
        fclose(f);
        return n;
}

/* Sends SIGHUP and waits for the reload's audit event; returns whether it succeeded. */
static bool reload(brigd *d) {
        bool ok = false;
        int before = reloads(d, &ok);

        assert_int_equal(kill(d->pid, SIGHUP), 0);
        for (int i = 0; i < 1000 && reloads(d, &ok) == before; i++)
                usleep(10000);
        assert_int_equal(reloads(d, &ok), before + 1);
        return ok;
}

/* $MARK in environment env (attached with policy, or the default when NULL); "" when the attach fails. */
static const char *mark_in(const brigd *d, const char *env, const char *policy) {
        static char out[64];
        char meta[256];
        int fd = client_connect(d);

        assert_true(fd >= 0);
        if (policy)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env,
                         policy);
        else
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        cJSON *init = client_initialize(fd, meta);
        out[0] = 0;
        if (init && !cJSON_GetObjectItem(init, "error")) {
                cJSON *r = client_call(fd, 1, "{\"command\":\"printf %s \\\"$MARK\\\"\"}", NULL, NULL);
                assert_non_null(r);
                snprintf(out, sizeof(out), "%s", sc_str(r, "stdout") ? sc_str(r, "stdout") : "");
                cJSON_Delete(r);
        }
        cJSON_Delete(init);
        close(fd);
        return out;
}

static void test_reload__new_environments_get_new_policies_running_ones_keep_theirs(void **state) {
        (void) state;
        const char *why = NULL;
        char path[128];
        brigd d;

        snprintf(dir, sizeof(dir), "/tmp/brig-reload-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        write_policy("default", "one");
        write_policy("other", "x");
        snprintf(path, sizeof(path), "%s/default.json", dir);
        if (brigd_start(&d, path, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                (void) brig_rm_rf(dir);
                skip();
        }
        /* A connection that stays keeps its environment running across the reloads. */
        int keep = client_connect(&d);
        cJSON_Delete(client_initialize(keep, "{\"brig/environment\":\"kept\"}"));
        cJSON *r = client_call(keep, 1, "{\"command\":\"printf %s \\\"$MARK\\\"\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "one");
        cJSON_Delete(r);
        assert_string_equal(mark_in(&d, "o1", "other"), "x");

        write_policy("default", "two");
        assert_true(reload(&d));
        /* Spares of the old default were replaced: a new environment gets the new policy. */
        assert_string_equal(mark_in(&d, "fresh", NULL), "two");
        r = client_call(keep, 2, "{\"command\":\"printf %s \\\"$MARK\\\"\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "one");
        cJSON_Delete(r);

        /* A policy that served and no longer loads fails the whole reload: nothing changes. */
        write_policy("default", NULL);
        write_policy("third", "three");
        assert_false(reload(&d));
        assert_string_equal(mark_in(&d, "fresh2", NULL), "two");
        assert_string_equal(mark_in(&d, "t0", "third"), "");

        /* Fixed: the added file serves, the removed one is gone, and the kept environment still runs. */
        write_policy("default", "four");
        snprintf(path, sizeof(path), "%s/other.json", dir);
        assert_int_equal(unlink(path), 0);
        assert_true(reload(&d));
        assert_string_equal(mark_in(&d, "t1", "third"), "three");
        assert_string_equal(mark_in(&d, "o2", "other"), "");
        assert_string_equal(mark_in(&d, "fresh3", NULL), "four");
        r = client_call(keep, 3, "{\"command\":\"printf %s \\\"$MARK\\\"\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "one");
        cJSON_Delete(r);
        close(keep);

        assert_int_equal(brigd_stop(&d), 0);
        (void) brig_rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reload__new_environments_get_new_policies_running_ones_keep_theirs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
