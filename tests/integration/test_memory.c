/* SPDX-License-Identifier: MIT */
/* The institutional memory against a real brigd: what environment A writes, environment B of the same owner
 * reads; another owner sees a memory of its own; a read-only policy refuses writes, an "off" policy hides
 * the tools; history and restore bring back an overwritten memory; every write is audited without its
 * content. */
#include <errno.h>
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

#include <cmocka.h>

#include "common/fs.h"
#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;
static char dir[64];

static void write_policy(const char *name, const char *json) {
        char path[128];

        snprintf(path, sizeof(path), "%s/%s.json", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(json, f);
        fclose(f);
        chmod(path, 0644);
}

static int setup(void **state) {
        char path[128];

        (void) state;
        snprintf(dir, sizeof(dir), "/tmp/brig-memory-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        write_policy("default", "{}");
        write_policy("readonly", "{\"memory\": {\"mode\": \"read_only\"}}");
        write_policy("off", "{\"memory\": {\"mode\": \"off\"}}");
        write_policy("own", "{\"memory\": {\"scope\": \"environment\"}}");
        write_policy("ownmount", "{\"memory\": {\"scope\": \"environment\", \"mount\": true}}");
        write_policy("team", "{\"memory\": {\"scope\": \"team-build\"}}");
        /* Jails that run a shell: the shipped default's root. */
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"extends\": \"%s/policies/default.json\", \"memory\": {\"mount\": true}}", source_dir());
        write_policy("mount", json);
        snprintf(json, sizeof(json), "{\"extends\": \"%s/policies/default.json\"}", source_dir());
        write_policy("shell", json);
        snprintf(path, sizeof(path), "%s/default.json", dir);
        if (brigd_start(&d, path, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        (void) brig_rm_rf(dir);
        return 0;
}

static int attach(const char *env, const char *policy) {
        char meta[256];

        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        if (policy)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env,
                         policy);
        else
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

/* The text of a memory tool call's result (static buffer); *is_error says whether it failed. */
static const char *call(int fd, const char *tool, const char *args, bool *is_error) {
        static char out[65536];
        static int id = 100;
        cJSON *r = client_tool_call(fd, id++, tool, args, NULL, NULL);

        assert_non_null(r);
        const cJSON *res = cJSON_GetObjectItem(r, "result");
        if (!res)
                fail_msg("%s %s: %s", tool, args, cJSON_PrintUnformatted(r));
        *is_error = result_is_error(r);
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "content"), 0);
        snprintf(out, sizeof(out), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "text")));
        cJSON_Delete(r);
        return out;
}

static const char *ok(int fd, const char *tool, const char *args) {
        bool err;
        const char *out = call(fd, tool, args, &err);

        if (err)
                fail_msg("%s %s failed: %s", tool, args, out);
        return out;
}

static const char *fails(int fd, const char *tool, const char *args) {
        bool err;
        const char *out = call(fd, tool, args, &err);

        if (!err)
                fail_msg("%s %s succeeded: %s", tool, args, out);
        return out;
}

static void test_memory__environments_of_one_owner_share_it(void **state) {
        (void) state;
        int a = attach("mem-a", NULL);
        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/build.md\",\"file_text\":\"use ninja -C "
           "build\\n\"}");
        close(a);
        int b = attach("mem-b", NULL);
        assert_string_equal(
                ok(b, "memory", "{\"command\":\"view\",\"path\":\"/memories/build.md\"}"),
                "Here's the content of /memories/build.md with line numbers:\n     1\tuse ninja -C "
                "build\n");
        const char *h = ok(b, "memory_history", "{}");
        assert_non_null(strstr(h, "create /memories/build.md by environment mem-a"));
        /* An environment-scoped policy reaches a memory of its own, not the owner's. */
        int own = attach("mem-own", "own");
        assert_non_null(
                strstr(fails(own, "memory", "{\"command\":\"view\",\"path\":\"/memories/build.md\"}"),
                       "does not exist"));
        close(own);
        close(b);
}

/* A named scope is shared by every environment whose policy names it, and by no other. */
static void test_memory__a_named_scope_is_shared_by_its_policy_only(void **state) {
        (void) state;
        int t1 = attach("mem-team-1", "team");
        ok(t1, "memory", "{\"command\":\"create\",\"path\":\"/memories/team.md\",\"file_text\":\"t\"}");
        close(t1);
        int t2 = attach("mem-team-2", "team");
        assert_non_null(strstr(ok(t2, "memory", "{\"command\":\"view\",\"path\":\"/memories\"}"),
                               "/memories/team.md"));
        close(t2);
        int o = attach("mem-not-team", NULL);
        assert_null(strstr(ok(o, "memory", "{\"command\":\"view\",\"path\":\"/memories\"}"), "team.md"));
        close(o);
}

static void test_memory__another_owner_cannot_see_it(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                /* Under setpriv or unshare, peer credentials are seen through brigd's user namespace: the
                 * test cannot act as another user brigd tells apart. */
                fprintf(stderr, "# SKIP: needs brigd and the test as root, to act as another user\n");
                skip();
        }
        int a = attach("mem-owner", NULL);
        ok(a, "memory", "{\"command\":\"create\",\"path\":\"/memories/secret.md\",\"file_text\":\"mine\"}");
        close(a);
        assert_int_equal(chmod(d.socket, 0666), 0);
        pid_t pid = fork();
        if (pid == 0) {
                int code = 2;
                if (setgid(65534) == 0 && setuid(65534) == 0) {
                        int fd = client_connect(&d);
                        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"mem-nobody\"}"));
                        cJSON *r = client_tool_call(
                                fd, 1, "memory", "{\"command\":\"view\",\"path\":\"/memories/secret.md\"}",
                                NULL, NULL);
                        cJSON *w = client_tool_call(
                                fd, 2, "memory",
                                "{\"command\":\"create\",\"path\":\"/memories/n.md\",\"file_text\":\"n\"}",
                                NULL, NULL);
                        code = result_is_error(r) && !result_is_error(w) ? 0 : 3;
                        cJSON_Delete(r);
                        cJSON_Delete(w);
                        close(fd);
                }
                _exit(code);
        }
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        /* And its write did not land in this owner's memory. */
        a = attach("mem-owner", NULL);
        assert_non_null(strstr(fails(a, "memory", "{\"command\":\"view\",\"path\":\"/memories/n.md\"}"),
                               "does not exist"));
        close(a);
}

static void test_memory__read_only_refuses_writes_and_off_hides_the_tools(void **state) {
        (void) state;
        int a = attach("mem-rw", NULL);
        ok(a, "memory", "{\"command\":\"create\",\"path\":\"/memories/ro.md\",\"file_text\":\"x\"}");
        close(a);
        int r = attach("mem-ro", "readonly");
        assert_string_equal(fails(r, "memory",
                                  "{\"command\":\"create\",\"path\":\"/memories/b.md\",\"file_text\":"
                                  "\"y\"}"),
                            "the memory is read-only for this environment (policy memory.mode)");
        assert_non_null(
                strstr(ok(r, "memory", "{\"command\":\"view\",\"path\":\"/memories/ro.md\"}"), "1\tx"));
        close(r);
        int o = attach("mem-off", "off");
        assert_int_equal(client_send(o, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\"}"), 0);
        cJSON *list = client_recv(o, 10000);
        assert_non_null(list);
        char *text = cJSON_PrintUnformatted(list);
        assert_null(strstr(text, "\"memory"));
        assert_non_null(strstr(text, "\"read_file\""));
        free(text);
        cJSON_Delete(list);
        cJSON *refused = client_tool_call(o, 10, "memory", "{\"command\":\"view\",\"path\":\"/memories\"}",
                                          NULL, NULL);
        assert_non_null(cJSON_GetObjectItem(refused, "error"));
        cJSON_Delete(refused);
        close(o);
}

static void test_memory__history_and_restore_bring_back_an_overwritten_memory(void **state) {
        (void) state;
        char args[256], line[4096];
        int a = attach("mem-h", NULL);

        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/q.md\",\"file_text\":\"the right answer\"}");
        ok(a, "memory",
           "{\"command\":\"str_replace\",\"path\":\"/memories/"
           "q.md\",\"old_str\":\"right\",\"new_str\":\"wrong\"}");
        /* A writer that read before the change: the error carries the current text. */
        assert_string_equal(fails(a, "memory",
                                  "{\"command\":\"str_replace\",\"path\":\"/memories/"
                                  "q.md\",\"old_str\":\"right\",\"new_str\":"
                                  "\"best\"}"),
                            "No replacement was performed, old_str `right` did not appear verbatim in "
                            "/memories/q.md.\nThe "
                            "current text of the file:\nthe wrong answer");
        const char *h = ok(a, "memory_history", "{\"path\":\"/memories/q.md\"}");
        /* Newest first: the second line is the create. */
        const char *second = strchr(h, '\n') + 1;
        snprintf(args, sizeof(args), "{\"version\":\"%.12s\",\"path\":\"/memories/q.md\"}", second);
        assert_non_null(strstr(ok(a, "memory_restore", args), "Restored /memories/q.md"));
        assert_non_null(strstr(ok(a, "memory", "{\"command\":\"view\",\"path\":\"/memories/q.md\"}"),
                               "the right answer"));
        close(a);

        /* Audited with path, bytes and digest, never the content. */
        FILE *f = fopen(d.audit, "re");
        assert_non_null(f);
        int writes = 0;
        bool leaked = false;
        while (fgets(line, sizeof(line), f)) {
                /* Neither the writes nor the calls' recorded arguments copy a memory's text. */
                leaked = leaked || strstr(line, "answer");
                if (!strstr(line, "\"type\":\"memory_write\""))
                        continue;
                if (strstr(line, "\"environment\":\"mem-h\"")) {
                        writes++;
                        assert_non_null(strstr(line, "\"path\":\"/memories/q.md\""));
                }
        }
        fclose(f);
        assert_int_equal(writes, 3);
        assert_false(leaked);
}

/* The first search result's path, from memory_search's text ("" when none). */
static const char *first_hit(int fd, const char *query) {
        static char path[256];
        char args[256];

        snprintf(args, sizeof(args), "{\"query\":\"%s\"}", query);
        const char *out = ok(fd, "memory_search", args);
        snprintf(path, sizeof(path), "%.*s", (int) strcspn(out, " \n"),
                 strncmp(out, "/memories/", 10) ? "" : out);
        return path;
}

/* Environment B finds by search what environment A wrote; "wrong" feedback sinks a memory and flags it. */
static void test_memory__search_and_feedback_across_environments(void **state) {
        (void) state;
        int a = attach("mem-search-a", NULL);
        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/quirks/api.md\",\"file_text\":\"The billing API "
           "returns 429 when polled: back off 2 s.\\n\"}");
        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/quirks/old.md\",\"file_text\":\"billing API: poll "
           "it in a tight loop, the billing API never limits polling.\\n\"}");
        close(a);
        int b = attach("mem-search-b", NULL);
        assert_string_equal(first_hit(b, "billing polling"), "/memories/quirks/old.md");
        assert_non_null(
                strstr(ok(b, "memory_feedback",
                          "{\"path\":\"/memories/quirks/old.md\",\"outcome\":\"wrong\",\"note\":\"it "
                          "returns 429\"}"),
                       "Recorded wrong feedback on /memories/quirks/old.md"));
        assert_string_equal(first_hit(b, "billing polling"), "/memories/quirks/api.md");
        assert_non_null(strstr(ok(b, "memory_search", "{\"query\":\"billing\"}"),
                               "/memories/quirks/old.md (line 1) [reported wrong]"));
        assert_non_null(
                strstr(ok(b, "memory", "{\"command\":\"view\",\"path\":\"/memories/quirks/old.md\"}"),
                       "[feedback: reported wrong 1"));
        assert_non_null(strstr(ok(b, "memory_history", "{}"),
                               "feedback /memories/quirks/old.md by environment "
                               "mem-search-b"));
        close(b);

        /* Audited as a memory write with the note's size and digest, never the note. */
        char line[4096];
        FILE *f = fopen(d.audit, "re");
        assert_non_null(f);
        int feedback = 0;
        bool leaked = false;
        while (fgets(line, sizeof(line), f)) {
                leaked = leaked || strstr(line, "it returns 429");
                feedback += strstr(line, "\"type\":\"memory_write\"") &&
                            strstr(line, "\"command\":\"feedback\"") &&
                            strstr(line, "\"environment\":\"mem-search-b\"") &&
                            strstr(line, "\"path\":\"/memories/quirks/old.md\"") &&
                            strstr(line, "\"bytes\":14");
        }
        fclose(f);
        assert_int_equal(feedback, 1);
        assert_false(leaked);
}

/* memory.mount: a script in one environment reads what another environment's agent wrote, also what it
 * writes after the jail started, and cannot write /memories; without it there is no /memories. */
static void test_memory__mount_shows_the_scope_read_only(void **state) {
        (void) state;
        int a = attach("mnt-a", "mount");
        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/m/note.md\",\"file_text\":\"from a\\n\"}");
        int b = attach("mnt-b", "mount");
        assert_string_equal(client_sh(b, "cat /memories/m/note.md"), "from a\n");
        ok(a, "memory",
           "{\"command\":\"create\",\"path\":\"/memories/m/later.md\",\"file_text\":\"later\\n\"}");
        ok(a, "memory", "{\"command\":\"delete\",\"path\":\"/memories/m/note.md\"}");
        assert_string_equal(
                client_sh(b, "cat /memories/m/later.md; test -e /memories/m/note.md || echo gone"),
                "later\ngone\n");
        assert_string_equal(client_sh(b, "touch /memories/x 2>/dev/null || echo refused; "
                                         "echo y > /memories/m/later.md 2>/dev/null || echo refused"),
                            "refused\nrefused\n");
        /* Read-only as a mount, not only for want of permissions. */
        assert_string_equal(
                client_sh(b, "awk '$5 == \"/memories\" { print $6 }' /proc/self/mountinfo | cut -d, -f1"),
                "ro\n");
        close(a);
        close(b);
        int c = attach("mnt-c", "shell");
        assert_string_equal(client_sh(c, "test -e /memories || echo absent"), "absent\n");
        close(c);
}

/* Whether path exists, once what brigd removes on its thread pool is gone (or it never goes). */
static bool exists_after_removal(const char *path) {
        for (int i = 0; i < 600 && access(path, F_OK) == 0; i++)
                usleep(50 * 1000);
        return access(path, F_OK) == 0;
}

/* An environment's own scope (policy scope "environment") and its view go when the environment is
 * destroyed for good: a later environment of the same name starts with an empty memory, and the owner's
 * scope outlives it. A destroyed environment's connection cannot make its scope anew. */
static void test_memory__an_environments_own_scope_goes_with_it(void **state) {
        (void) state;
        char store[256], view[256];
        int e = attach("mem-gone", "ownmount");
        ok(e, "memory", "{\"command\":\"create\",\"path\":\"/memories/own.md\",\"file_text\":\"mine\\n\"}");
        int o = attach("mem-gone-owner", NULL);
        ok(o, "memory", "{\"command\":\"create\",\"path\":\"/memories/kept.md\",\"file_text\":\"kept\\n\"}");
        snprintf(store, sizeof(store), "%s/memory/environment/mem-gone", d.state);
        snprintf(view, sizeof(view), "%s/memory-view/environment/mem-gone", d.state);
        assert_int_equal(access(store, F_OK), 0);
        assert_int_equal(access(view, F_OK), 0);

        cJSON *r = client_rpc(e, "brig/environment.destroy", "{\"id\":\"mem-gone\"}");
        assert_non_null(cJSON_GetObjectItem(r, "result"));
        cJSON_Delete(r);
        r = client_tool_call(e, 900, "memory",
                             "{\"command\":\"create\",\"path\":\"/memories/again.md\",\"file_text\":\"x\"}",
                             NULL, NULL);
        assert_true(cJSON_GetObjectItem(r, "error") || result_is_error(r));
        cJSON_Delete(r);
        close(e);
        r = client_rpc(o, "brig/environment.destroy", "{\"id\":\"mem-gone-owner\"}");
        assert_non_null(cJSON_GetObjectItem(r, "result"));
        cJSON_Delete(r);
        close(o);
        assert_false(exists_after_removal(store));
        assert_false(exists_after_removal(view));

        e = attach("mem-gone", "ownmount");
        assert_non_null(strstr(fails(e, "memory", "{\"command\":\"view\",\"path\":\"/memories/own.md\"}"),
                               "does not exist"));
        close(e);
        o = attach("mem-gone-later", NULL);
        assert_non_null(
                strstr(ok(o, "memory", "{\"command\":\"view\",\"path\":\"/memories/kept.md\"}"), "kept"));
        close(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_memory__environments_of_one_owner_share_it),
                cmocka_unit_test(test_memory__a_named_scope_is_shared_by_its_policy_only),
                cmocka_unit_test(test_memory__another_owner_cannot_see_it),
                cmocka_unit_test(test_memory__read_only_refuses_writes_and_off_hides_the_tools),
                cmocka_unit_test(test_memory__history_and_restore_bring_back_an_overwritten_memory),
                cmocka_unit_test(test_memory__search_and_feedback_across_environments),
                cmocka_unit_test(test_memory__mount_shows_the_scope_read_only),
                cmocka_unit_test(test_memory__an_environments_own_scope_goes_with_it),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
