/* SPDX-License-Identifier: MIT */
/* Persistent environments against a real brigd: state shared between calls and connections, isolation
 * between environments, ownership, management, policy choice, and surviving a worker SIGKILL. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

/* Connects and initializes with the given environment (NULL: none) and optional policy. */
static int attach(const char *env, const char *policy, cJSON **ret_init) {
        char meta[256] = "{}";
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        if (env && policy)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\",\"brig/policy\":\"%s\"}", env,
                         policy);
        else if (env)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        if (ret_init)
                *ret_init = init;
        else {
                assert_non_null(init);
                cJSON_Delete(init);
        }
        return fd;
}

/* Runs a shell command and returns its stdout (static buffer). */
static const char *sh(int fd, const char *command) {
        static char out[65536];
        static int id = 1000;
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        const char *s = sc_str(r, "stdout");
        if (sc_int(r, "exit_code") != 0)
                fprintf(stderr, "# %s: exit %d, stderr %s\n", command, sc_int(r, "exit_code"),
                        sc_str(r, "stderr"));
        snprintf(out, sizeof(out), "%s", s ? s : "");
        cJSON_Delete(r);
        return out;
}

static cJSON *rpc(int fd, const char *method, const char *params) {
        static int id = 5000;
        char msg[512];
        snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
                 method, params);
        assert_int_equal(client_send(fd, msg), 0);
        for (;;) {
                cJSON *m = client_recv(fd, 20000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id) {
                        id++;
                        return m;
                }
                cJSON_Delete(m);
        }
}

static void test_env__calls_share_files_tmp_processes_and_loopback(void **state) {
        (void) state;
        int fd = attach("web-1", "default", NULL);
        /* The example: a server started in one call answers the next. */
        assert_string_equal(
                sh(fd, "cd /workspace && (python3 -m http.server 8000 >/tmp/log 2>&1 &); echo up"), "up\n");
        const char *s = sh(
                fd, "python3 -c 'import time, urllib.request\n"
                    "for i in range(100):\n"
                    "    try:\n"
                    "        print(urllib.request.urlopen(\"http://localhost:8000\").read().decode()[:15]);"
                    " break\n"
                    "    except OSError: time.sleep(0.05)'");
        assert_string_equal(s, "<!DOCTYPE HTML>\n");
        assert_string_equal(sh(fd, "test -s /tmp/log && echo tmp-kept"), "tmp-kept\n");
        close(fd);
}

static void test_env__reconnect_finds_everything(void **state) {
        (void) state;
        int fd = attach("keep-1", NULL, NULL);
        assert_string_equal(
                sh(fd, "echo data > file; echo t > /tmp/t; (sleep 4242 >/dev/null 2>&1 &); echo ok"),
                "ok\n");
        close(fd);
        fd = attach("keep-1", NULL, NULL);
        assert_string_equal(sh(fd, "cat file /tmp/t; pgrep -c -f 'sleep 424[2]'"), "data\nt\n1\n");
        close(fd);
}

static void test_env__environments_are_isolated(void **state) {
        (void) state;
        int a = attach("iso-a", NULL, NULL), b = attach("iso-b", NULL, NULL);
        assert_string_equal(
                sh(a, "echo secret > mine; echo t > /tmp/mine; ipcmk -M 4096 >/dev/null;"
                      " (python3 -m http.server 8123 >/dev/null 2>&1 &); (sleep 4343 >/dev/null 2>&1 &);"
                      " echo ok"),
                "ok\n");
        const char *s =
                sh(b, "ls -A /workspace | wc -l; ls -A /tmp | wc -l; pgrep -c -f 'sleep 434[3]';"
                      " ipcs -m | grep -c 0x;"
                      " python3 -c 'import socket, time\n"
                      "time.sleep(0.5)\n"
                      "try: socket.create_connection((\"127.0.0.1\", 8123), timeout=1); print(\"reached\")\n"
                      "except OSError: print(\"refused\")'");
        assert_string_equal(s, "0\n0\n0\n0\nrefused\n");
        close(a);
        close(b);
}

static void test_env__owner_check_refuses_other_users(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                /* Under setpriv or unshare, peer credentials are seen through brigd's user namespace: "root"
                 * is a different user there, so this scenario only means something with brigd as root. */
                fprintf(stderr, "# SKIP: needs brigd and the test as root, to act as two other users\n");
                skip();
        }
        /* Let other users reach the socket, as an operator granting access would. */
        assert_int_equal(chmod(d.socket, 0666), 0);
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        if (pid == 0) {
                int ok = 0;
                if (setgid(65534) == 0 && setuid(65534) == 0) {
                        int fd = client_connect(&d);
                        cJSON *init = client_initialize(fd, "{\"brig/environment\":\"nobodys\"}");
                        ok = init != NULL;
                        cJSON_Delete(init);
                        close(fd);
                }
                _exit(ok ? 0 : 1);
        }
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        pid = fork();
        if (pid == 0) {
                int code = 2;
                if (setgid(65533) == 0 && setuid(65533) == 0) {
                        int fd = client_connect(&d);
                        client_send(
                                fd,
                                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                                "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                                "\"name\":"
                                "\"x\",\"version\":\"1\"},\"_meta\":{\"brig/environment\":\"nobodys\"}}}");
                        cJSON *m = client_recv(fd, 10000);
                        cJSON *e = cJSON_GetObjectItem(m, "error");
                        code = e && cJSON_GetObjectItem(e, "code")->valueint == -32001 &&
                                               strstr(cJSON_GetObjectItem(e, "message")->valuestring,
                                                      "another user")
                                       ? 0
                                       : 3;
                        cJSON_Delete(m);
                        close(fd);
                }
                _exit(code);
        }
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        /* Root may attach to anyone's. */
        int fd = attach("nobodys", NULL, NULL);
        close(fd);
        assert_int_equal(chmod(d.socket, 0600), 0);
        /* The refusal is in the audit log. */
        FILE *f = fopen(d.audit, "r");
        char line[8192];
        bool found = false;
        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, "\"type\":\"refused\"") && strstr(line, "another user"))
                        found = true;
        if (f)
                fclose(f);
        assert_true(found);
}

/* The state letter of pid in /proc/PID/stat, its parent and its session; 0 when it is gone. */
static char process_stat(pid_t pid, pid_t *ret_parent, pid_t *ret_session) {
        char path[64], buf[512], st = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *end = strrchr(buf, ')');
        int parent = 0, session = 0;
        if (!end || sscanf(end + 1, " %c %d %*d %d", &st, &parent, &session) != 3)
                return 0;
        if (ret_parent)
                *ret_parent = (pid_t) parent;
        if (ret_session)
                *ret_session = (pid_t) session;
        return st;
}

static char process_state(pid_t pid, pid_t *ret_parent) {
        return process_stat(pid, ret_parent, NULL);
}

/* The pid of environment id's init (brig/environment.info on admin), and its parent, the helper. */
static pid_t init_pid_of(int admin, const char *id, pid_t *ret_helper) {
        char params[128];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", id);
        cJSON *m = rpc(admin, "brig/environment.info", params);
        const cJSON *pid = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "init_pid");
        assert_true(cJSON_IsNumber(pid));
        pid_t init = (pid_t) pid->valueint, helper = 0;
        cJSON_Delete(m);
        if (ret_helper) {
                assert_true(process_state(init, &helper) != 0);
                assert_true(helper > 1);
                *ret_helper = helper;
        }
        return init;
}

/* An idle environment costs as few descriptors as can be (issue 17, up to 10,000 of them): once brigd
 * stepped away from it (worker/env_control.h), its init keeps only the listening control socket, and the
 * helper that waits for the init none; the next call connects again, and runs. */
static void test_env__idle_holder_keeps_only_its_listening_control_socket(void **state) {
        (void) state;
        int fd = attach("fds-1", NULL, NULL);
        assert_string_equal(sh(fd, "echo ok"), "ok\n");
        int admin = attach(NULL, NULL, NULL);
        pid_t helper = 0, init = init_pid_of(admin, "fds-1", &helper);
        /* brigd hung up its connection: the init's end of it is gone. */
        assert_true(client_wait_stepped_away(admin, "fds-1"));
        assert_int_equal(count_fds(init), 1);
        assert_int_equal(count_fds(helper), 0);
        /* Its socket: a name no jail can list or guess, in a directory nobody lists. */
        char dir[160];
        struct stat st;
        snprintf(dir, sizeof(dir), "%s/control", d.state);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0300);
        assert_int_equal(chmod(dir, 0700), 0);
        DIR *dd = opendir(dir);
        assert_non_null(dd);
        int sockets = 0;
        for (struct dirent *e; (e = readdir(dd));) {
                if (e->d_name[0] == '.')
                        continue;
                sockets++;
                assert_int_equal(strlen(e->d_name), 32);
                assert_int_equal(strspn(e->d_name, "0123456789abcdef"), 32);
        }
        closedir(dd);
        assert_int_equal(chmod(dir, 0300), 0);
        assert_true(sockets >= 1);
        assert_string_equal(sh(fd, "echo again"), "again\n");
        assert_int_equal(init_pid_of(admin, "fds-1", NULL), init);
        close(admin);
        close(fd);
}

/* "sleep N.PID": a command line no other test run on the host (another mode of this test, say) shares, so
 * that counting processes by it counts only ours. */
static const char *sleeper(int n) {
        static char bufs[4][48];
        static unsigned next;
        char *b = bufs[next++ % 4];

        snprintf(b, sizeof(bufs[0]), "sleep %d.%07d", n, (int) (getpid() % 10000000));
        return b;
}

static void test_env__management_lists_describes_and_destroys(void **state) {
        (void) state;
        int fd = attach("managed-1", NULL, NULL);
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "echo x > f; (%s >/dev/null 2>&1 &)", sleeper(4444));
        sh(fd, cmd);
        int admin = attach(NULL, NULL, NULL);
        cJSON *m = rpc(admin, "brig/environment.list", "{}");
        char *text = cJSON_PrintUnformatted(m);
        assert_non_null(strstr(text, "\"id\":\"managed-1\""));
        free(text);
        cJSON_Delete(m);
        m = rpc(admin, "brig/environment.info", "{\"id\":\"managed-1\"}");
        cJSON *res = cJSON_GetObjectItem(m, "result");
        assert_string_equal(cJSON_GetObjectItem(res, "state")->valuestring, "running");
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(res, "init_pid")));
        cJSON_Delete(m);
        m = rpc(admin, "brig/environment.info", "{\"id\":\"no-such\"}");
        assert_non_null(cJSON_GetObjectItem(m, "error"));
        cJSON_Delete(m);
        m = rpc(admin, "brig/environment.destroy", "{\"id\":\"managed-1\"}");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "destroyed")));
        cJSON_Delete(m);
        for (int i = 0; i < 500 && count_processes(sleeper(4444)) > 0; i++)
                usleep(10000);
        assert_int_equal(count_processes(sleeper(4444)), 0);
        /* The attached connection learns it is gone. */
        cJSON *r = client_call(fd, 77, "{\"command\":\"true\"}", NULL, NULL);
        assert_true(result_is_error(r));
        cJSON_Delete(r);
        close(fd);
        close(admin);
}

static void test_env__policy_is_chosen_by_name_only(void **state) {
        (void) state;
        cJSON *init = NULL;
        int fd = attach("pol-1", "no-such-policy", &init);
        assert_null(init);
        close(fd);
        fd = attach("pol-2", "/etc/passwd", &init);
        assert_null(init); /* a path: refused for clients that are not admins (root is, so: not a policy) */
        close(fd);
        fd = attach("pol-3", "default", NULL);
        assert_string_equal(sh(fd, "echo fine"), "fine\n");
        close(fd);
        /* An existing environment keeps its policy. */
        fd = attach("pol-3", "other", &init);
        assert_null(init);
        close(fd);
}

static void test_env__unnamed_environment_goes_with_its_connection(void **state) {
        (void) state;
        cJSON *init = NULL;
        int fd = attach(NULL, NULL, &init);
        const char *id =
                cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(init, "result"), "_meta"),
                                    "brig/environment")
                        ->valuestring;
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/environments/%s", d.state, id);
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "(%s >/dev/null 2>&1 &)", sleeper(4545));
        sh(fd, cmd);
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        cJSON_Delete(init);
        close(fd);
        for (int i = 0; i < 500 && (count_processes(sleeper(4545)) > 0 || stat(dir, &st) == 0); i++)
                usleep(10000);
        assert_int_equal(count_processes(sleeper(4545)), 0);
        assert_int_equal(stat(dir, &st), -1);
}

static void test_env__survives_worker_sigkill(void **state) {
        (void) state;
        int fd = attach("durable", NULL, NULL);
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "echo kept > file; (%s >/dev/null 2>&1 &); echo ok", sleeper(4646));
        assert_string_equal(sh(fd, cmd), "ok\n");
        close(fd);
        assert_int_equal(count_processes(sleeper(4646)), 1);

        /* SIGKILL: no clean-up code runs, yet nothing of the environment may survive on the host. */
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        for (int i = 0; i < 500 && count_processes(sleeper(4646)) > 0; i++)
                usleep(10000);
        assert_int_equal(count_processes(sleeper(4646)), 0);

        /* Restart on the same state directory and socket path. */
        const char *why = NULL;
        assert_int_equal(brigd_restart(&d, &why), 0);
        int admin = attach(NULL, NULL, NULL);
        cJSON *m = rpc(admin, "brig/environment.list", "{}");
        char *text = cJSON_PrintUnformatted(m);
        assert_non_null(strstr(text, "\"id\":\"durable\""));
        assert_non_null(strstr(text, "\"id\":\"keep-1\""));
        free(text);
        cJSON_Delete(m);
        close(admin);

        fd = attach("durable", NULL, NULL);
        cJSON *r = client_call(fd, 88, "{\"command\":\"cat file; pgrep -c -f 'sleep 464[6]' || true\"}",
                               NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "kept\n0\n");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "environment_restarted")));
        cJSON_Delete(r);
        /* Said once, on the first call only. */
        r = client_call(fd, 89, "{\"command\":\"true\"}", NULL, NULL);
        assert_null(cJSON_GetObjectItem(result_sc(r), "environment_restarted"));
        cJSON_Delete(r);
        close(fd);
}

/* The environment's init died (killed, out of memory) and brigd has not heard yet: a call in that window
 * waits for the restart instead of failing on the dead control socket. The helper that holds the init is
 * stopped (SIGSTOP): brigd hears of the init's death from the helper's exit, which cannot come. */
static void test_env__call_after_its_init_died_restarts_it(void **state) {
        (void) state;
        int fd = attach("orphaned-1", NULL, NULL);
        assert_string_equal(sh(fd, "echo x > kept"), "");
        int admin = attach(NULL, NULL, NULL);
        pid_t helper = 0, init = init_pid_of(admin, "orphaned-1", &helper);

        assert_int_equal(kill(helper, SIGSTOP), 0);
        for (int i = 0; i < 500 && process_state(helper, NULL) != 'T'; i++)
                usleep(10000);
        assert_int_equal(process_state(helper, NULL), 'T');
        assert_int_equal(kill(init, SIGKILL), 0);
        /* Dead: a zombie its stopped helper cannot reap, or gone; its descriptors are closed either way. */
        char st = 'R';
        for (int i = 0; i < 500 && (st = process_state(init, NULL)) != 'Z' && st != 0; i++)
                usleep(10000);
        assert_true(st == 'Z' || st == 0);
        cJSON *r = client_call(fd, 77, "{\"command\":\"cat kept\"}", NULL, NULL);
        (void) kill(helper, SIGCONT); /* brigd killed it for the restart, or the call failed */
        assert_non_null(r);
        if (sc_int(r, "exit_code") != 0) {
                char *text = cJSON_PrintUnformatted(r);
                fail_msg("the call after the init died: %s", text);
        }
        assert_string_equal(sc_str(r, "stdout"), "x\n");
        cJSON_Delete(r);
        /* It ran in a new init. */
        assert_int_not_equal(init_pid_of(admin, "orphaned-1", NULL), init);
        close(admin);
        close(fd);
}

/* brigd starts each holder itself (posix_spawn, not libuv's): in a session of its own, and reaped when it
 * exits. Its init killed, the helper exits and must not stay a zombie of brigd's; the next call restarts
 * the environment in a new holder. */
static void test_env__holder_whose_init_died_is_reaped(void **state) {
        (void) state;
        int fd = attach("reaped-1", NULL, NULL);
        assert_string_equal(sh(fd, "echo ok"), "ok\n");
        int admin = attach(NULL, NULL, NULL);
        pid_t helper = 0, init = init_pid_of(admin, "reaped-1", &helper);
        pid_t session = 0;
        assert_true(process_stat(helper, NULL, &session) != 0);
        assert_int_equal(session, helper);

        assert_int_equal(kill(init, SIGKILL), 0);
        /* Gone, not a zombie: brigd waited for it (before the fix libuv's handle did; without a reap it
         * stays 'Z' for as long as brigd runs). */
        char st = 'R';
        for (int i = 0; i < 1000 && (st = process_state(helper, NULL)) != 0; i++)
                usleep(10000);
        if (st != 0)
                fail_msg("the holder %d whose init died is still there, state %c", (int) helper, st);
        assert_string_equal(sh(fd, "echo again"), "again\n");
        assert_int_not_equal(init_pid_of(admin, "reaped-1", NULL), init);
        close(admin);
        close(fd);
}

/* Calls a process tool and returns its structuredContent (caller frees the whole response in *ret_resp). */
static const cJSON *tool(int fd, const char *name, const char *args, cJSON **ret_resp) {
        static int id = 7000;
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                 "\"arguments\":%s}}",
                 id, name, args);
        assert_int_equal(client_send(fd, msg), 0);
        for (;;) {
                cJSON *m = client_recv(fd, 20000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id) {
                        id++;
                        *ret_resp = m;
                        return result_sc(m);
                }
                cJSON_Delete(m);
        }
}

static void test_env__background_process_outlives_connection_and_resumes_output(void **state) {
        (void) state;
        cJSON *r1, *r2, *r3, *r4, *r5;
        int fd = attach("bg-1", NULL, NULL);
        const cJSON *sc =
                tool(fd, "exec",
                     "{\"command\":\"echo first; read line; echo got $line; sleep 0.2; echo last\","
                     "\"background\":true}",
                     &r1);
        assert_string_equal(cJSON_GetObjectItem(sc, "process_id")->valuestring, "p1");
        assert_string_equal(cJSON_GetObjectItem(sc, "state")->valuestring, "running");
        /* Wait for the first line, remember where we are, and leave. */
        double next = 0;
        for (int i = 0; i < 500 && next == 0; i++) {
                sc = tool(fd, "process_output", "{\"process_id\":\"p1\"}", &r2);
                next = cJSON_GetObjectItem(sc, "next_offset")->valuedouble;
                if (next == 0) {
                        cJSON_Delete(r2);
                        usleep(10000);
                }
        }
        assert_string_equal(cJSON_GetObjectItem(sc, "data")->valuestring, "first\n");
        close(fd);

        /* Another connection feeds it and reads on from the offset. */
        fd = attach("bg-1", NULL, NULL);
        tool(fd, "process_write", "{\"process_id\":\"p1\",\"data\":\"hello\\n\"}", &r3);
        char args[128];
        snprintf(args, sizeof(args), "{\"process_id\":\"p1\",\"offset\":%.0f}", next);
        char seen[256] = "";
        bool exited = false;
        for (int i = 0; i < 500 && !exited; i++) {
                cJSON *r;
                sc = tool(fd, "process_output", args, &r);
                strncat(seen, cJSON_GetObjectItem(sc, "data")->valuestring, sizeof(seen) - strlen(seen) - 1);
                snprintf(args, sizeof(args), "{\"process_id\":\"p1\",\"offset\":%.0f}",
                         cJSON_GetObjectItem(sc, "next_offset")->valuedouble);
                exited = strcmp(cJSON_GetObjectItem(sc, "state")->valuestring, "exited") == 0;
                cJSON_Delete(r);
                if (!exited)
                        usleep(10000);
        }
        assert_true(exited);
        assert_string_equal(seen, "got hello\nlast\n");
        sc = tool(fd, "process_list", "{}", &r4);
        cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(sc, "processes"), 0);
        assert_int_equal(cJSON_GetObjectItem(p, "exit_code")->valueint, 0);
        sc = tool(fd, "process_output", "{\"process_id\":\"p99\"}", &r5);
        assert_true(result_is_error(r5));
        cJSON_Delete(r1);
        cJSON_Delete(r2);
        cJSON_Delete(r3);
        cJSON_Delete(r4);
        cJSON_Delete(r5);
        close(fd);
}

static void test_env__stdin_backlog_of_a_process_is_bounded(void **state) {
        (void) state;
        cJSON *r1, *r3;
        int fd = attach("bg-3", NULL, NULL);
        tool(fd, "exec", "{\"command\":\"sleep 4848\",\"background\":true}", &r1);
        /* It never reads: after the pipe fills, writes wait in brigd, and that wait is bounded. */
        size_t n = 5u << 20;
        char *msg = malloc(n + 512);
        int len = snprintf(msg, 512,
                           "{\"jsonrpc\":\"2.0\",\"id\":%%d,\"method\":\"tools/call\",\"params\":{\"name\":"
                           "\"process_write\",\"arguments\":{\"process_id\":\"p1\",\"data\":\"");
        memset(msg + len, 'a', n);
        strcpy(msg + len + n, "\"}}}");
        bool refused = false;
        for (int i = 0; i < 2; i++) {
                char *one = malloc(n + 512);
                snprintf(one, n + 512, msg, 9000 + i);
                assert_int_equal(client_send(fd, one), 0);
                free(one);
                cJSON *m = NULL;
                while ((m = client_recv(fd, 20000)) && !cJSON_GetObjectItem(m, "id"))
                        cJSON_Delete(m);
                assert_non_null(m);
                char *text = cJSON_PrintUnformatted(m);
                if (i == 1)
                        refused = strstr(text, "unread") != NULL;
                else
                        assert_null(cJSON_GetObjectItem(m, "error"));
                free(text);
                cJSON_Delete(m);
        }
        free(msg);
        assert_true(refused);
        tool(fd, "process_kill", "{\"process_id\":\"p1\",\"signal\":\"SIGKILL\"}", &r3);
        cJSON_Delete(r1);
        cJSON_Delete(r3);
        close(fd);
}

static void test_env__process_kill_signals_the_group(void **state) {
        (void) state;
        cJSON *r1, *r2, *r3;
        int fd = attach("bg-2", NULL, NULL);
        char args[160];
        snprintf(args, sizeof(args), "{\"command\":\"%s & %s; wait\",\"background\":true}", sleeper(4747),
                 sleeper(4747));
        tool(fd, "exec", args, &r1);
        /* Three: both sleeps and the shell, whose command line names them too. Wait for all three: a child
         * forked for "sleep &" that has not yet exec'd counts as a second shell. */
        for (int i = 0; i < 500 && count_processes(sleeper(4747)) < 3; i++)
                usleep(10000);
        assert_int_equal(count_processes(sleeper(4747)), 3);
        const cJSON *sc = tool(fd, "process_kill", "{\"process_id\":\"p1\",\"signal\":\"SIGKILL\"}", &r2);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sc, "signalled")));
        for (int i = 0; i < 500 && count_processes(sleeper(4747)) > 0; i++)
                usleep(10000);
        assert_int_equal(count_processes(sleeper(4747)), 0);
        sc = tool(fd, "process_kill", "{\"process_id\":\"p1\",\"signal\":\"NOPE\"}", &r3);
        assert_true(result_is_error(r3) || cJSON_GetObjectItem(r3, "error"));
        cJSON_Delete(r1);
        cJSON_Delete(r2);
        cJSON_Delete(r3);
        close(fd);
}

static void test_env__process_kill_reaches_what_left_the_session(void **state) {
        (void) state;
        cJSON *r1, *r2, *r3;
        int fd = attach("bg-3", NULL, NULL);
        char args[128], cmd[160];
        snprintf(cmd, sizeof(cmd), "{\"command\":\"setsid %s & %s\",\"background\":true}", sleeper(4949),
                 sleeper(4747));
        const cJSON *sc = tool(fd, "exec", cmd, &r1);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(sc, "process_id")));
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\",\"signal\":\"SIGKILL\"}",
                 cJSON_GetObjectItem(sc, "process_id")->valuestring);
        for (int i = 0; i < 500 && count_processes(sleeper(4949)) < 1; i++)
                usleep(10000);
        assert_true(count_processes(sleeper(4949)) >= 1);
        sc = tool(fd, "process_kill", args, &r2);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sc, "signalled")));
        for (int i = 0; i < 300 && count_processes(sleeper(4949)) > 0; i++)
                usleep(10000);
        int left = count_processes(sleeper(4949));
        cJSON_Delete(r1);
        cJSON_Delete(r2);
        r3 = rpc(fd, "brig/environment.destroy", "{\"id\":\"bg-3\"}");
        cJSON_Delete(r3);
        close(fd);
        assert_int_equal(left, 0);
}

static const cJSON *repl(int fd, const char *lang, const char *code, int timeout_ms, cJSON **resp) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "language", lang);
        cJSON_AddStringToObject(args, "code", code);
        if (timeout_ms)
                cJSON_AddNumberToObject(args, "timeout_ms", timeout_ms);
        char *json = cJSON_PrintUnformatted(args);
        const cJSON *sc = tool(fd, "repl", json, resp);
        free(json);
        cJSON_Delete(args);
        return sc;
}

static void test_env__repl_keeps_state_per_language(void **state) {
        (void) state;
        static const char *const cases[][4] = {
                /* language, set, read, the read's output */
                {"python", "x = 41", "print(x + 1)", "42\n"},
                {"bash", "X=41; cd /tmp", "echo $((X + 1)) $PWD", "42 /tmp\n"},
                {"node", "let x = 41", "x + 1", "42\n"},
        };
        int fd = attach("repl-1", NULL, NULL);
        for (size_t i = 0; i < 3; i++) {
                cJSON *r1, *r2;
                const cJSON *sc = repl(fd, cases[i][0], cases[i][1], 0, &r1);
                assert_string_equal(cJSON_GetObjectItem(sc, "status")->valuestring, "ok");
                sc = repl(fd, cases[i][0], cases[i][2], 0, &r2);
                assert_string_equal(cJSON_GetObjectItem(sc, "output")->valuestring, cases[i][3]);
                assert_false(result_is_error(r2));
                cJSON_Delete(r1);
                cJSON_Delete(r2);
        }
        close(fd);
}

static void test_env__repl_timeout_interrupts_and_keeps_state(void **state) {
        (void) state;
        cJSON *r1, *r2, *r3, *r4;
        int fd = attach("repl-2", NULL, NULL);
        repl(fd, "python", "kept = 'yes'", 0, &r1);
        const cJSON *sc = repl(fd, "python", "while True: pass", 300, &r2);
        assert_string_equal(cJSON_GetObjectItem(sc, "status")->valuestring, "interrupted");
        assert_true(result_is_error(r2));
        sc = repl(fd, "python", "kept", 0, &r3);
        assert_string_equal(cJSON_GetObjectItem(sc, "output")->valuestring, "'yes'\n");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sc, "restarted")));
        /* An error is reported as one, and the interpreter lives on. */
        sc = repl(fd, "python", "1/0", 0, &r4);
        assert_string_equal(cJSON_GetObjectItem(sc, "status")->valuestring, "error");
        assert_non_null(strstr(cJSON_GetObjectItem(sc, "output")->valuestring, "ZeroDivisionError"));
        cJSON_Delete(r1);
        cJSON_Delete(r2);
        cJSON_Delete(r3);
        cJSON_Delete(r4);
        close(fd);
}

static void test_env__repl_reports_a_restarted_interpreter(void **state) {
        (void) state;
        cJSON *r1, *r2, *r3;
        int fd = attach("repl-3", NULL, NULL);
        repl(fd, "python", "lost = 1", 0, &r1);
        /* The interpreter dies: the next call gets a fresh one, and says so. */
        const cJSON *sc = repl(fd, "python", "import os; os._exit(3)", 0, &r2);
        assert_true(result_is_error(r2));
        sc = repl(fd, "python", "'lost' in globals()", 0, &r3);
        assert_string_equal(cJSON_GetObjectItem(sc, "output")->valuestring, "False\n");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sc, "restarted")));
        cJSON_Delete(r1);
        cJSON_Delete(r2);
        cJSON_Delete(r3);
        close(fd);
}

/* The output of a repl call, which must have the given status and not have restarted its interpreter. */
static char *repl_out(int fd, const char *lang, const char *code, int timeout_ms, const char *status) {
        cJSON *r;
        const cJSON *sc = repl(fd, lang, code, timeout_ms, &r);
        const cJSON *st = cJSON_GetObjectItem(sc, "status"), *out = cJSON_GetObjectItem(sc, "output");
        if (!cJSON_IsString(st) || strcmp(st->valuestring, status) != 0 || !cJSON_IsString(out) ||
            cJSON_IsTrue(cJSON_GetObjectItem(sc, "restarted"))) {
                char *t = cJSON_PrintUnformatted(r);
                fprintf(stderr, "# repl %s %s: expected %s, got %s\n", lang, code, status, t);
                free(t);
                fail();
        }
        char *o = strdup(out->valuestring);
        cJSON_Delete(r);
        return o;
}

/* A bash timeout interrupts the running command, a builtin loop too, and the shell lives on with its
 * variables, functions and working directory. */
static void test_env__repl_bash_timeout_keeps_the_shell(void **state) {
        (void) state;
        int fd = attach("repl-bash", NULL, NULL);
        free(repl_out(fd, "bash", "X=41; f() { echo fn; }; cd /tmp", 0, "ok"));
        free(repl_out(fd, "bash", "while true; do :; done; echo after", 300, "interrupted"));
        char *o = repl_out(fd, "bash", "echo $((X + 1)) $PWD; f", 0, "ok");
        assert_string_equal(o, "42 /tmp\nfn\n");
        free(o);
        o = repl_out(fd, "bash", "sleep 4949; echo after", 300, "interrupted");
        assert_null(strstr(o, "after"));
        free(o);
        /* Code of several lines, quotes, backslashes and a syntax error reported as an error. */
        o = repl_out(fd, "bash", "printf '%s\\n' \"a'b\" 'c\\d'\necho $X!", 0, "ok");
        assert_string_equal(o, "a'b\nc\\d\n41!\n");
        free(o);
        free(repl_out(fd, "bash", "if then", 0, "error"));
        o = repl_out(fd, "bash", "f", 0, "ok");
        assert_string_equal(o, "fn\n");
        free(o);
        close(fd);
}

/* node: top-level await, with declarations kept; output printed between calls comes with the next one. */
static void test_env__repl_node_await_and_late_output(void **state) {
        (void) state;
        cJSON *r;
        int fd = attach("repl-node", NULL, NULL);
        free(repl_out(fd, "node", "const a = await Promise.resolve(41)", 0, "ok"));
        char *o = repl_out(fd, "node", "a + 1", 0, "ok");
        assert_string_equal(o, "42\n");
        free(o);
        o = repl_out(fd, "node", "await new Promise((r) => setTimeout(() => r(5), 10))", 0, "ok");
        assert_string_equal(o, "5\n");
        free(o);
        /* Interrupted while awaiting: the call ends, the interpreter lives on. */
        free(repl_out(fd, "node", "await new Promise(() => {})", 300, "interrupted"));
        free(repl_out(
                fd, "node",
                "setTimeout(() => { console.log('late'); require('fs').writeFileSync('/tmp/late', ''); "
                "}, 50); 1",
                0, "ok"));
        /* Printed (and the file written after it) while no call was running. */
        bool seen = false;
        for (int i = 0; i < 1000 && !seen; i++) {
                const cJSON *sc = tool(fd, "exec", "{\"command\":\"test -e /tmp/late\"}", &r);
                seen = cJSON_GetObjectItem(sc, "exit_code")->valueint == 0;
                cJSON_Delete(r);
                if (!seen)
                        usleep(10000);
        }
        assert_true(seen);
        o = repl_out(fd, "node", "a", 0, "ok");
        assert_string_equal(o, "late\n41\n");
        free(o);
        close(fd);
}

static void test_env__idle_environments_stop_then_expire(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-idle-XXXXXX", path[128];
        const char *why = NULL;
        brigd e;

        if (skip_why)
                skip();
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        snprintf(path, sizeof(path), "%s/short.json", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                   "\"optional\":true}]},\"environment\":{\"idle_stop\":\"1s\",\"retention\":\"3s\"}}");
        fclose(f);
        chmod(path, 0644);
        assert_int_equal(brigd_start(&e, path, &why), 0);
        int fd = client_connect(&e);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"short-lived\"}"));
        cJSON_Delete(client_call(fd, 1, "{\"command\":\"echo x > f\"}", NULL, NULL));
        close(fd);

        /* Watch it go from running to stopped to gone, from another connection. */
        int admin = client_connect(&e);
        cJSON_Delete(client_initialize(admin, NULL));
        bool stopped = false, gone = false;
        for (int i = 0; i < 1000 && !gone; i++) {
                cJSON *m = rpc(admin, "brig/environment.list", "{}");
                char *text = cJSON_PrintUnformatted(m);
                char *at = strstr(text, "\"id\":\"short-lived\"");
                if (!at)
                        gone = true;
                else if (strstr(at, "\"state\":\"stopped\""))
                        stopped = true;
                free(text);
                cJSON_Delete(m);
                if (!gone)
                        usleep(20000);
        }
        assert_true(stopped);
        assert_true(gone);
        char envdir[512];
        snprintf(envdir, sizeof(envdir), "%s/environments/short-lived", e.state);
        struct stat st;
        for (int i = 0; i < 500 && stat(envdir, &st) == 0; i++)
                usleep(10000);
        assert_int_equal(stat(envdir, &st), -1);
        close(admin);
        assert_int_equal(brigd_stop(&e), 0);
        (void) unlink(path);
        (void) rmdir(dir);
}

/* Starts a private brigd with a policy written from json; returns 0 or skips. */
static void start_with_policy(brigd *e, const char *name, const char *json, char *dir, size_t dir_size) {
        char path[256];
        const char *why = NULL;

        if (skip_why)
                skip();
        snprintf(dir, dir_size, "/tmp/brig-pol-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        snprintf(path, sizeof(path), "%s/%s.json", dir, name);
        FILE *f = fopen(path, "w");
        fputs(json, f);
        fclose(f);
        chmod(path, 0644);
        assert_int_equal(brigd_start(e, path, &why), 0);
}

static void test_env__cgroups_limit_the_whole_environment(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        char dir[64];
        brigd e;

        start_with_policy(
                &e, "small",
                "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                "\"optional\":true}]},\"limits\":{\"memory\":\"96M\",\"processes\":64,\"cpus\":0.5}}",
                dir, sizeof(dir));
        int fd = client_connect(&e);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"capped\"}"));
        cJSON_Delete(client_call(fd, 1, "{\"command\":\"true\"}", NULL, NULL));
        cJSON *m = rpc(fd, "brig/environment.info", "{\"id\":\"capped\"}");
        cJSON *info = cJSON_GetObjectItem(m, "result");
        const char *limits = cJSON_GetObjectItem(info, "limits")->valuestring;
        if (strcmp(limits, "rlimits") == 0) {
                /* Only acceptable where brigd could not have cgroups: not as real root. */
                assert_true(geteuid() != 0 || (mode && *mode));
                assert_non_null(cJSON_GetObjectItem(info, "cgroups_unavailable"));
                fprintf(stderr, "# SKIP: no cgroups for brigd here: %s\n",
                        cJSON_GetObjectItem(info, "cgroups_unavailable")->valuestring);
                cJSON_Delete(m);
                close(fd);
                brigd_stop(&e);
                (void) brig_rm_rf(dir);
                skip();
        }
        /* The limits are on the host's cgroup files, and the environment's processes are inside. */
        char path[700], buf[64] = "";
        snprintf(path, sizeof(path), "%s/pids.max", cJSON_GetObjectItem(info, "cgroup_pids")->valuestring);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_string_equal(buf, "64\n");
        cJSON_Delete(m);
        /* Several processes, each within its own rlimit, together past the environment's memory. */
        cJSON *r = client_call(
                fd, 2,
                "{\"command\":\"for i in 1 2 3 4; do python3 -c 'b = bytearray(40 << 20); import time; "
                "time.sleep(2)' & done; wait\"}",
                NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "oom_killed")));
        cJSON_Delete(r);
        /* Between calls brigd lets go of the counter's fd: a quiet call is not blamed for the earlier kill,
         * and a later kill is seen again. */
        r = client_call(fd, 3, "{\"command\":\"true\"}", NULL, NULL);
        assert_null(cJSON_GetObjectItem(result_sc(r), "oom_killed"));
        cJSON_Delete(r);
        r = client_call(
                fd, 4,
                "{\"command\":\"for i in 1 2 3 4; do python3 -c 'b = bytearray(40 << 20); import time; "
                "time.sleep(2)' & done; wait\"}",
                NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "oom_killed")));
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&e), 0);
        (void) brig_rm_rf(dir);
}

static void test_env__policy_requiring_cgroups_is_refused_without_them(void **state) {
        (void) state;
        char dir[64];
        brigd e;

        start_with_policy(
                &e, "strict-cg",
                "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                "\"optional\":true}]},\"limits\":{\"cgroups\":\"required\"}}",
                dir, sizeof(dir));
        int fd = client_connect(&e);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"needs-cg\"}"));
        cJSON *r = client_call(fd, 1, "{\"command\":\"echo ran\"}", NULL, NULL);
        cJSON *m = rpc(fd, "brig/environment.info", "{\"id\":\"needs-cg\"}");
        bool have = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "cgroups_unavailable") == NULL;
        if (have)
                assert_string_equal(sc_str(r, "stdout"), "ran\n");
        else {
                /* Fail closed: the call is refused, naming the missing layer. */
                assert_true(result_is_error(r));
                const cJSON *e2 = cJSON_GetObjectItem(result_sc(r), "error");
                assert_non_null(strstr(cJSON_GetObjectItem(e2, "message")->valuestring, "requires cgroup"));
        }
        cJSON_Delete(m);
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&e), 0);
        (void) brig_rm_rf(dir);
}

static void test_env__each_environment_has_its_own_host_uid(void **state) {
        (void) state;
        const char *mode = getenv("BRIG_TEST_MODE");
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                /* Rootless, jails can only map to brigd's own uid. */
                fprintf(stderr, "# SKIP: per-environment host ids need brigd as real root\n");
                skip();
        }
        int a = attach("uid-a", NULL, NULL), b = attach("uid-b", NULL, NULL);
        assert_string_equal(sh(a, "id -u; touch made-by-a"), "1000\n");
        assert_string_equal(sh(b, "id -u; touch made-by-b"), "1000\n");
        char pa[512], pb[512];
        struct stat sa, sb;
        snprintf(pa, sizeof(pa), "%s/environments/uid-a/workspace/made-by-a", d.state);
        snprintf(pb, sizeof(pb), "%s/environments/uid-b/workspace/made-by-b", d.state);
        assert_int_equal(stat(pa, &sa), 0);
        assert_int_equal(stat(pb, &sb), 0);
        /* Unprivileged, and different: per-uid limits and file ownership separate them too. */
        assert_true(sa.st_uid >= 100000 && sb.st_uid >= 100000);
        assert_int_not_equal(sa.st_uid, sb.st_uid);
        /* And it is what brig env info reports. */
        cJSON *m = rpc(a, "brig/environment.info", "{\"id\":\"uid-a\"}");
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "jail_uid")->valueint,
                         (int) sa.st_uid);
        cJSON_Delete(m);
        close(a);
        close(b);
}

static int jail_uid(int fd, const char *id) {
        char params[128];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", id);
        cJSON *m = rpc(fd, "brig/environment.info", params);
        const cJSON *uid = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "jail_uid");
        assert_true(cJSON_IsNumber(uid));
        int r = uid->valueint;
        cJSON_Delete(m);
        return r;
}

/* A connection to brigd x with environment env, after a first call that put it on disk. */
static int attach_to(brigd *x, const char *env) {
        char meta[128];
        snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(x);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        assert_string_equal(sh(fd, "echo up"), "up\n");
        return fd;
}

/* Spare directories (built or being built) in x's environments directory. */
static int count_spares(const brigd *x) {
        char envs[256];
        int n = 0;
        snprintf(envs, sizeof(envs), "%s/environments", x->state);
        DIR *dir = opendir(envs);
        assert_non_null(dir);
        for (struct dirent *de; (de = readdir(dir));)
                n += strncmp(de->d_name, ".spare-", 7) == 0;
        closedir(dir);
        return n;
}

/* Polls until x has at least n spare directories, and returns how many it has (the caller checks). */
static int wait_spares(const brigd *x, int n) {
        for (int i = 0; i < 6000 && count_spares(x) < n; i++)
                usleep(10000);
        return count_spares(x);
}

/* x started with --spare-environments 1, once its one spare's directory is there. */
static void start_with_one_spare(brigd *x) {
        static const char *const args[] = {"--spare-environments", "1", NULL};
        const char *why = NULL;
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        assert_int_equal(brigd_start_args(x, NULL, args, &why), 0);
        assert_int_equal(wait_spares(x, 1), 1);
}

/* A pool that ran dry grows ahead of the next burst: with --spare-environments 1, an environment that took
 * the only spare leaves brigd building two. Polled, not timed: a pool that stays at one never passes. */
static void test_env__spare_pool_grows_after_running_dry(void **state) {
        (void) state;
        brigd x;
        start_with_one_spare(&x);
        int a = attach_to(&x, "burst-a");
        assert_int_equal(wait_spares(&x, 2), 2);
        close(a);
        assert_int_equal(brigd_stop(&x), 0);
}

/* The pool learns a burst's size: with --spare-environments 1, ten environments created at once (their
 * initializes all sent before any reply is read, so they meet the pool before a refill can finish) leave
 * brigd building the ten and the one it keeps (12 directories when the first took the built spare: an
 * adopted spare keeps its directory's name until its first call). A pool that only doubled up to 8 times
 * its size never reaches 11. Polled, not timed. */
static void test_env__spare_pool_grows_to_the_demand_of_a_burst(void **state) {
        (void) state;
        int fds[10], i;
        brigd x;
        start_with_one_spare(&x);
        for (i = 0; i < 10; i++) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                         "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":"
                         "\"itest\",\"version\":\"1\"},\"_meta\":{\"brig/environment\":\"demand-%d\"}}}",
                         i);
                fds[i] = client_connect(&x);
                assert_true(fds[i] >= 0);
                assert_int_equal(client_send(fds[i], msg), 0);
        }
        for (i = 0; i < 10; i++) {
                cJSON *resp = client_recv(fds[i], 30000);
                assert_non_null(cJSON_GetObjectItem(resp, "result"));
                cJSON_Delete(resp);
                close(fds[i]);
        }
        assert_in_range(wait_spares(&x, 11), 11, 12);
        assert_int_equal(brigd_stop(&x), 0);
}

/* The host ids (slots) of environments loaded at start-up stay theirs: a new environment never gets one
 * of them (without spares, the smallest free slot is the first one loaded, were it not counted). */
static void test_env__host_ids_stay_unique_across_a_restart(void **state) {
        (void) state;
        static const char *const args[] = {"--spare-environments", "0", NULL};
        const char *mode = getenv("BRIG_TEST_MODE"), *why = NULL;
        brigd x;
        if (skip_why || geteuid() != 0 || (mode && *mode)) {
                fprintf(stderr, "# SKIP: per-environment host ids need brigd as real root\n");
                skip();
        }
        assert_int_equal(brigd_start_args(&x, NULL, args, &why), 0);
        int a = attach_to(&x, "slot-a"), b = attach_to(&x, "slot-b");
        int uid_a = jail_uid(a, "slot-a"), uid_b = jail_uid(b, "slot-b");
        close(a);
        close(b);
        kill(x.pid, SIGKILL);
        waitpid(x.pid, NULL, 0);
        x.pid = 0;
        assert_int_equal(brigd_restart(&x, &why), 0);

        int c = attach_to(&x, "slot-c");
        int uid_c = jail_uid(c, "slot-c");
        assert_int_not_equal(uid_c, uid_a);
        assert_int_not_equal(uid_c, uid_b);
        assert_int_equal(jail_uid(c, "slot-a"), uid_a);
        assert_int_equal(jail_uid(c, "slot-b"), uid_b);
        close(c);
        assert_int_equal(brigd_stop(&x), 0);
}

/* Waits until process_output of id from offset 0 holds want; returns the last structuredContent (in *resp).
 */
static const cJSON *wait_output(int fd, const char *id, const char *want, cJSON **resp) {
        char args[128];
        const cJSON *sc = NULL;
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\",\"offset\":0}", id);
        for (int i = 0; i < 500; i++) {
                sc = tool(fd, "process_output", args, resp);
                const cJSON *data = cJSON_GetObjectItem(sc, "data");
                if (cJSON_IsString(data) && strstr(data->valuestring, want))
                        return sc;
                cJSON_Delete(*resp);
                usleep(10000);
        }
        fail_msg("process %s never printed \"%s\"", id, want);
        return NULL;
}

static const cJSON *find_process(const cJSON *list_sc, const char *id) {
        const cJSON *p;
        cJSON_ArrayForEach (p, cJSON_GetObjectItem(list_sc, "processes"))
                if (strcmp(cJSON_GetObjectItem(p, "process_id")->valuestring, id) == 0)
                        return p;
        fail_msg("process %s is not listed", id);
        return NULL;
}

static void test_env__process_logs_survive_worker_sigkill(void **state) {
        (void) state;
        cJSON *r[10];
        int fd = attach("plog-1", NULL, NULL);
        /* One that ends before the worker dies, and one still running when it does. */
        const cJSON *sc =
                tool(fd, "exec", "{\"command\":\"echo done-5151; exit 3\",\"background\":true}", &r[0]);
        assert_string_equal(cJSON_GetObjectItem(sc, "process_id")->valuestring, "p1");
        sc = tool(fd, "exec", "{\"command\":\"echo marker-5151; exec sleep 5151\",\"background\":true}",
                  &r[1]);
        assert_string_equal(cJSON_GetObjectItem(sc, "process_id")->valuestring, "p2");
        wait_output(fd, "p2", "marker-5151\n", &r[2]);
        sc = wait_output(fd, "p1", "done-5151\n", &r[3]);
        for (int i = 0; i < 500 && strcmp(cJSON_GetObjectItem(sc, "state")->valuestring, "exited") != 0;
             i++) {
                cJSON_Delete(r[3]);
                usleep(10000);
                sc = wait_output(fd, "p1", "done-5151\n", &r[3]);
        }
        assert_int_equal(cJSON_GetObjectItem(sc, "exit_code")->valueint, 3);
        /* An interpreter is a hidden process: it leaves no files. */
        cJSON *rr;
        sc = repl(fd, "python", "print(6 * 7)", 0, &rr);
        assert_string_equal(cJSON_GetObjectItem(sc, "status")->valuestring, "ok");
        cJSON_Delete(rr);
        close(fd);

        /* The logs live beside the workspace, where the jail cannot reach them. */
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/environments/plog-1/processes/p2.log", d.state);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        snprintf(path, sizeof(path), "%s/environments/plog-1/processes", d.state);
        DIR *dir = opendir(path);
        assert_non_null(dir);
        char names[256] = "";
        size_t used = 0;
        for (struct dirent *de; (de = readdir(dir)) && used < sizeof(names);)
                if (de->d_name[0] != '.')
                        used += (size_t) snprintf(names + used, sizeof(names) - used, " %s", de->d_name);
        closedir(dir);
        const char *expect[] = {" p1.json", " p1.log", " p2.json", " p2.log"};
        for (size_t i = 0; i < 4; i++)
                if (!strstr(names, expect[i]))
                        fail_msg("processes/ holds%s", names);
        assert_int_equal(strlen(names), strlen(" p1.json p1.log p2.json p2.log"));

        /* A second environment whose previous worker left more records than are kept, a log whose
         * description was never written and a description being replaced. */
        fd = attach("plog-2", NULL, NULL);
        tool(fd, "exec", "{\"command\":\"true\",\"background\":true}", &rr);
        cJSON_Delete(rr);
        close(fd);
        struct stat owner;
        snprintf(path, sizeof(path), "%s/environments/plog-2/processes", d.state);
        assert_int_equal(stat(path, &owner), 0);
        for (int n = 2; n <= 300; n++) {
                char body[256];
                snprintf(path, sizeof(path), "%s/environments/plog-2/processes/p%d.json", d.state, n);
                int len = snprintf(
                        body, sizeof(body),
                        "{\"version\":1,\"process_id\":\"p%d\",\"command\":\"old %d\",\"started\":1,"
                        "\"ended\":2,\"exit_code\":0,\"signal\":null,\"duration_ms\":5,"
                        "\"output_bytes\":0}",
                        n, n);
                int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                assert_true(f >= 0);
                assert_int_equal(write(f, body, (size_t) len), len);
                assert_int_equal(fchown(f, owner.st_uid, owner.st_gid), 0); /* brigd may run as nobody */
                close(f);
        }
        const char *leftovers[] = {"p301.log", ".p7.json.tmp"};
        for (size_t i = 0; i < 2; i++) {
                snprintf(path, sizeof(path), "%s/environments/plog-2/processes/%s", d.state, leftovers[i]);
                close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        }

        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        for (int i = 0; i < 500 && count_processes("sleep 5151") > 0; i++)
                usleep(10000);
        assert_int_equal(count_processes("sleep 5151"), 0);
        const char *why = NULL;
        assert_int_equal(brigd_restart(&d, &why), 0);

        fd = attach("plog-1", NULL, NULL);
        sc = tool(fd, "process_list", "{}", &r[4]);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sc, "processes")), 2);
        const cJSON *p1 = find_process(sc, "p1"), *p2 = find_process(sc, "p2");
        assert_string_equal(cJSON_GetObjectItem(p1, "state")->valuestring, "exited");
        assert_int_equal(cJSON_GetObjectItem(p1, "exit_code")->valueint, 3);
        assert_int_equal(cJSON_GetObjectItem(p1, "output_bytes")->valueint, 10);
        assert_string_equal(cJSON_GetObjectItem(p2, "state")->valuestring, "lost");
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(p2, "exit_code")));
        assert_non_null(strstr(cJSON_GetObjectItem(p2, "error")->valuestring, "ended with the worker"));
        assert_int_equal(cJSON_GetObjectItem(p2, "output_bytes")->valueint, 12);

        /* Their output reads as before, with the same offsets. */
        sc = tool(fd, "process_output", "{\"process_id\":\"p2\",\"offset\":0}", &r[5]);
        assert_false(result_is_error(r[5]));
        assert_string_equal(cJSON_GetObjectItem(sc, "data")->valuestring, "marker-5151\n");
        assert_int_equal(cJSON_GetObjectItem(sc, "next_offset")->valueint, 12);
        assert_int_equal(cJSON_GetObjectItem(sc, "dropped_bytes")->valueint, 0);
        sc = tool(fd, "process_output", "{\"process_id\":\"p2\",\"offset\":7}", &r[6]);
        assert_string_equal(cJSON_GetObjectItem(sc, "data")->valuestring, "5151\n");
        sc = tool(fd, "process_output", "{\"process_id\":\"p1\"}", &r[7]);
        assert_string_equal(cJSON_GetObjectItem(sc, "data")->valuestring, "done-5151\n");

        /* A lost process takes no input, and says why. */
        tool(fd, "process_write", "{\"process_id\":\"p2\",\"data\":\"x\"}", &r[8]);
        char *text = cJSON_PrintUnformatted(r[8]);
        assert_true(result_is_error(r[8]) || cJSON_GetObjectItem(r[8], "error"));
        assert_non_null(strstr(text, "ended with the worker"));
        free(text);

        /* Ids go on after the highest one kept: p2 is never reused. */
        sc = tool(fd, "exec", "{\"command\":\"true\",\"background\":true}", &r[9]);
        assert_string_equal(cJSON_GetObjectItem(sc, "process_id")->valuestring, "p3");
        for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
                cJSON_Delete(r[i]);
        close(fd);

        /* The newest 256 records were kept, the files of the others removed with the leftovers. */
        fd = attach("plog-2", NULL, NULL);
        sc = tool(fd, "process_list", "{}", &rr);
        const cJSON *all = cJSON_GetObjectItem(sc, "processes");
        assert_int_equal(cJSON_GetArraySize(all), 256);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(all, 0), "process_id")->valuestring,
                            "p45");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(all, 255), "process_id")->valuestring,
                            "p300");
        cJSON_Delete(rr);
        const char *gone[] = {"p1.json", "p1.log", "p44.json", "p301.log", ".p7.json.tmp"};
        for (size_t i = 0; i < 5; i++) {
                snprintf(path, sizeof(path), "%s/environments/plog-2/processes/%s", d.state, gone[i]);
                if (stat(path, &st) == 0)
                        fail_msg("%s is still there", gone[i]);
        }
        /* A new one goes after the orphaned log's id, and pushes out the oldest record, files and all. */
        sc = tool(fd, "exec", "{\"command\":\"true\",\"background\":true}", &rr);
        assert_string_equal(cJSON_GetObjectItem(sc, "process_id")->valuestring, "p302");
        cJSON_Delete(rr);
        snprintf(path, sizeof(path), "%s/environments/plog-2/processes/p45.json", d.state);
        assert_int_equal(stat(path, &st), -1);
        snprintf(path, sizeof(path), "%s/environments/plog-2/processes/p46.json", d.state);
        assert_int_equal(stat(path, &st), 0);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env__calls_share_files_tmp_processes_and_loopback),
                cmocka_unit_test(test_env__reconnect_finds_everything),
                cmocka_unit_test(test_env__environments_are_isolated),
                cmocka_unit_test(test_env__owner_check_refuses_other_users),
                cmocka_unit_test(test_env__idle_holder_keeps_only_its_listening_control_socket),
                cmocka_unit_test(test_env__management_lists_describes_and_destroys),
                cmocka_unit_test(test_env__policy_is_chosen_by_name_only),
                cmocka_unit_test(test_env__unnamed_environment_goes_with_its_connection),
                cmocka_unit_test(test_env__background_process_outlives_connection_and_resumes_output),
                cmocka_unit_test(test_env__stdin_backlog_of_a_process_is_bounded),
                cmocka_unit_test(test_env__process_kill_signals_the_group),
                cmocka_unit_test(test_env__process_kill_reaches_what_left_the_session),
                cmocka_unit_test(test_env__repl_keeps_state_per_language),
                cmocka_unit_test(test_env__repl_timeout_interrupts_and_keeps_state),
                cmocka_unit_test(test_env__repl_reports_a_restarted_interpreter),
                cmocka_unit_test(test_env__repl_bash_timeout_keeps_the_shell),
                cmocka_unit_test(test_env__repl_node_await_and_late_output),
                cmocka_unit_test(test_env__idle_environments_stop_then_expire),
                cmocka_unit_test(test_env__cgroups_limit_the_whole_environment),
                cmocka_unit_test(test_env__policy_requiring_cgroups_is_refused_without_them),
                cmocka_unit_test(test_env__each_environment_has_its_own_host_uid),
                cmocka_unit_test(test_env__host_ids_stay_unique_across_a_restart),
                cmocka_unit_test(test_env__spare_pool_grows_after_running_dry),
                cmocka_unit_test(test_env__spare_pool_grows_to_the_demand_of_a_burst),
                cmocka_unit_test(test_env__call_after_its_init_died_restarts_it),
                cmocka_unit_test(test_env__holder_whose_init_died_is_reaped),
                cmocka_unit_test(test_env__survives_worker_sigkill),
                cmocka_unit_test(test_env__process_logs_survive_worker_sigkill),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
