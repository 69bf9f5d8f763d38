/* SPDX-License-Identifier: MIT */
/* Resource limits against a real brigd: a fork bomb, a memory bomb, a full /tmp, a file past RLIMIT_FSIZE,
 * fd exhaustion, a CPU spin and an output flood, each run inside one environment. Each must be contained by
 * the default policy's limits and leave brigd, the bombed environment and another environment ("other")
 * responsive. Every wait is a bounded loop on an observable condition, never a timing assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

/* policies/default.json */
#define LIMIT_PROCESSES 256
#define LIMIT_OPEN_FILES 1024
#define LIMIT_OUTPUT (1024 * 1024)
#define LIMIT_MEMORY_KB (1024 * 1024)
#define TMP_SIZE 268435456LL

static brigd d;
static const char *skip_why;
static int next_id = 1;
/* Markers in the command lines of what the tests start, so the test can count them on the host. They name
 * this test process: the suite may run more than once on a host at a time (build and build-asan). */
static char fork_mark[64], sid_mark[64], spin_mark[64], flood_mark[64];

static int setup(void **state) {
        (void) state;
        snprintf(fork_mark, sizeof(fork_mark), "brig-limits-%d-fork", (int) getpid());
        snprintf(sid_mark, sizeof(sid_mark), "brig-limits-%d-setsid", (int) getpid());
        snprintf(spin_mark, sizeof(spin_mark), "brig-limits-%d-spin", (int) getpid());
        snprintf(flood_mark, sizeof(flood_mark), "brig-limits-%d-flood", (int) getpid());
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

/* Connects and initializes with the given environment (NULL: none). */
static int attach(const char *env) {
        char meta[256] = "{}";
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        if (env)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

/* The exec arguments for a shell command, with a timeout when timeout_ms > 0. Caller frees. */
static char *exec_args(const char *command, int timeout_ms) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        if (timeout_ms > 0)
                cJSON_AddNumberToObject(args, "timeout_ms", timeout_ms);
        char *json = cJSON_PrintUnformatted(args);
        cJSON_Delete(args);
        return json;
}

/* Runs an exec call to its end and returns the whole response (caller frees). */
static cJSON *run(int fd, const char *command, int timeout_ms) {
        char *json = exec_args(command, timeout_ms);
        cJSON *r = client_call(fd, next_id++, json, NULL, NULL);
        free(json);
        assert_non_null(r);
        return r;
}

/* Runs a shell command and returns its stdout (static buffer). */
static const char *sh(int fd, const char *command) {
        static char out[65536];
        cJSON *r = run(fd, command, 0);
        const char *s = sc_str(r, "stdout");
        if (sc_int(r, "exit_code") != 0)
                fprintf(stderr, "# %s: exit %d, stderr %s\n", command, sc_int(r, "exit_code"),
                        sc_str(r, "stderr"));
        snprintf(out, sizeof(out), "%s", s ? s : "");
        cJSON_Delete(r);
        return out;
}

/* Starts an exec call without waiting for it; returns its id. */
static int send_exec(int fd, const char *command, int timeout_ms) {
        int id = next_id++;
        char *args = exec_args(command, timeout_ms);
        size_t len = strlen(args) + 256;
        char *msg = malloc(len);
        snprintf(msg, len,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":%s}}",
                 id, args);
        assert_int_equal(client_send(fd, msg), 0);
        free(msg);
        free(args);
        return id;
}

/* The response with this id if it arrives within timeout_ms, else NULL. Other messages are dropped. */
static cJSON *poll_response(int fd, int id, int timeout_ms) {
        for (;;) {
                cJSON *m = client_recv(fd, timeout_ms);
                if (!m)
                        return NULL;
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id && !cJSON_GetObjectItem(m, "method"))
                        return m;
                cJSON_Delete(m);
        }
}

/* Calls a non-exec tool or method and returns the response (caller frees). */
static cJSON *rpc(int fd, const char *method, const char *params) {
        int id = next_id++;
        char msg[1024];
        snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", id,
                 method, params);
        assert_int_equal(client_send(fd, msg), 0);
        cJSON *m = poll_response(fd, id, 30000);
        assert_non_null(m);
        return m;
}

/* One line of at most 200 bytes of s, for the test log (static buffer per slot). */
static const char *oneline(const char *s, int slot) {
        static char buf[2][201];
        size_t n = 0;
        for (; s && s[n] && n < 200; n++)
                buf[slot][n] = s[n] == '\n' ? '|' : s[n];
        buf[slot][n] = 0;
        return buf[slot];
}

/* What a call came back with, for the test log. */
static void show(const char *what, const cJSON *r) {
        const char *sig = sc_str(r, "signal");
        fprintf(stderr,
                "# %s: exit %d, signal %s, timed_out %d, truncated %d, %.0f ms, stdout '%s', stderr '%s'\n",
                what, sc_int(r, "exit_code"), sig ? sig : "none",
                cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "timed_out")),
                cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "truncated")),
                cJSON_GetNumberValue(cJSON_GetObjectItem(result_sc(r), "duration_ms")),
                oneline(sc_str(r, "stdout"), 0), oneline(sc_str(r, "stderr"), 1));
}

static bool sc_true(const cJSON *resp, const char *key) {
        return cJSON_IsTrue(cJSON_GetObjectItem(result_sc(resp), key));
}

static double sc_num(const cJSON *resp, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(result_sc(resp), key);
        return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* brigd and another environment answer: a fresh connection to "other" runs a command. */
static void assert_other_alive(void) {
        int fd = attach("other");
        assert_string_equal(sh(fd, "echo alive"), "alive\n");
        close(fd);
}

/* Waits (bounded) until no host process names marker; returns how many are left. */
static int wait_gone(const char *marker, int tries, int sleep_ms) {
        int n = count_processes(marker);
        for (int i = 0; i < tries && n > 0; i++) {
                usleep((useconds_t) sleep_ms * 1000);
                n = count_processes(marker);
        }
        return n;
}

/* The bombed environment still runs commands, including ones that fork; zombies may take a moment to be
 * reaped, so ask a few times. */
static void assert_env_works(int fd) {
        const char *s = "";
        for (int i = 0; i < 200; i++) {
                s = sh(fd, "echo $(echo again); ps -e -o comm= | grep -c '^python3$' || true");
                if (strcmp(s, "again\n0\n") == 0)
                        break;
                usleep(20000);
        }
        assert_string_equal(s, "again\n0\n");
        cJSON *r = rpc(fd, "tools/call", "{\"name\":\"process_list\",\"arguments\":{}}");
        assert_false(result_is_error(r));
        assert_null(cJSON_GetObjectItem(r, "error"));
        cJSON_Delete(r);
}

/* Runs a fork bomb (marker in its argv) with a timeout, counting its host processes while it runs and
 * checking "other" once it is well under way. Returns the response; *ret_max is the most processes seen. */
static cJSON *run_bomb(int fd, const char *command, const char *marker, int *ret_max) {
        int id = send_exec(fd, command, 3000), max_seen = 0;
        bool other_checked = false;
        cJSON *r = NULL;

        /* Bounded: at least 20 ms per round, the call itself ends after 3 s. */
        for (int i = 0; i < 3000 && !r; i++) {
                int n = count_processes(marker);
                if (n > max_seen)
                        max_seen = n;
                if (!other_checked && n >= 50) {
                        /* brigd and another environment answer while the bomb is at its worst. */
                        assert_other_alive();
                        other_checked = true;
                }
                r = poll_response(fd, id, 20);
        }
        assert_non_null(r);
        fprintf(stderr, "# %s: at most %d processes seen\n", marker, max_seen);
        show(marker, r);
        assert_true(other_checked); /* the bomb really forked (else this test shows nothing) */
        *ret_max = max_seen;
        return r;
}

static void test_limits__fork_bomb_is_contained(void **state) {
        (void) state;
        int fd = attach("bomb"), max_seen;
        char command[256];
        assert_other_alive();

        snprintf(command, sizeof(command),
                 "python3 -c 'import errno, os\n"
                 "failed = False\n"
                 "while True:\n"
                 "  try: os.fork()\n"
                 "  except OSError as e:\n"
                 "    if not failed: failed = True; print(errno.errorcode[e.errno], flush=True)' %s",
                 fork_mark);
        cJSON *r = run_bomb(fd, command, fork_mark, &max_seen);
        /* The bomb ran into the limit (sampling alone could miss a limit it never reached), and was never
         * seen past it: RLIMIT_NPROC counts every process of the jail user in the environment. */
        assert_non_null(sc_str(r, "stdout"));
        assert_non_null(strstr(sc_str(r, "stdout"), "EAGAIN"));
        assert_true(max_seen <= LIMIT_PROCESSES);
        assert_true(sc_true(r, "timed_out"));
        assert_string_equal(sc_str(r, "signal"), "SIGKILL");
        cJSON_Delete(r);

        /* Killed with everything below its reaper, and the call ends only once all of it is dead: nothing of
         * it lives when the result arrives (before, a bomb could refill the places of its dead faster than
         * the kill read /proc, and outlive its call). */
        assert_int_equal(count_processes(fork_mark), 0);
        assert_env_works(fd);
        assert_other_alive();
        close(fd);
}

static void test_limits__setsid_fork_bomb_is_contained_and_gone_after_its_call(void **state) {
        (void) state;
        int fd = attach("bomb-sid"), max_seen;
        char command[256];
        assert_other_alive();

        /* Every child leaves the process group that the timeout kills. At the limit they retry gently: what
         * survives the call must not take the (shared) host's CPUs while the test looks at it. */
        snprintf(command, sizeof(command),
                 "python3 -c 'import errno, os, time\n"
                 "failed = False\n"
                 "while True:\n"
                 "  try:\n"
                 "    if os.fork() == 0: os.setsid()\n"
                 "  except OSError as e:\n"
                 "    if not failed: failed = True; print(errno.errorcode[e.errno], flush=True)\n"
                 "    time.sleep(0.05)' %s",
                 sid_mark);
        cJSON *r = run_bomb(fd, command, sid_mark, &max_seen);
        bool timed_out = sc_true(r, "timed_out");
        bool hit_limit = sc_str(r, "stdout") && strstr(sc_str(r, "stdout"), "EAGAIN");
        cJSON_Delete(r);
        /* The command's reaper had everything it started below it, whatever session it was in: all of it was
         * killed before the call ended. */
        assert_int_equal(count_processes(sid_mark), 0);
        assert_true(hit_limit);
        assert_true(max_seen <= LIMIT_PROCESSES);
        assert_true(timed_out);
        assert_other_alive();
        assert_env_works(fd);
        close(fd);
}

static void test_limits__memory_bomb_is_contained(void **state) {
        (void) state;
        int fd = attach("mem");
        assert_other_alive();

        cJSON *r = run(fd,
                       "python3 -c 'import resource\n"
                       "a = []\n"
                       "try:\n"
                       "  while True: a.append(b\"x\" * 10**7)\n"
                       "except MemoryError:\n"
                       "  del a\n"
                       "  print(\"MemoryError\", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)'",
                       30000);
        const char *out = sc_str(r, "stdout");
        long maxrss_kb = -1;
        show("memory bomb", r);
        assert_non_null(out);
        assert_int_equal(sscanf(out, "MemoryError %ld", &maxrss_kb), 1);
        assert_false(sc_true(r, "timed_out"));
        assert_int_equal(sc_int(r, "exit_code"), 0);
        /* Stopped at RLIMIT_DATA: close to 1 GiB, never past it. */
        assert_true(maxrss_kb <= LIMIT_MEMORY_KB);
        assert_true(maxrss_kb >= LIMIT_MEMORY_KB * 3 / 4);
        cJSON_Delete(r);

        assert_string_equal(sh(fd, "echo $(echo again)"), "again\n");
        assert_other_alive();
        close(fd);
}

static void test_limits__filling_tmp_fails_with_enospc(void **state) {
        (void) state;
        int fd = attach("disk");
        long long size = -1;
        int rc = -1;
        assert_other_alive();

        cJSON *r = run(fd, "head -c 400M /dev/zero > /tmp/big; echo $? $(stat -c %s /tmp/big)", 30000);
        const char *out = sc_str(r, "stdout"), *err = sc_str(r, "stderr");
        show("/tmp fill", r);
        assert_non_null(out);
        assert_non_null(err);
        assert_int_equal(sscanf(out, "%d %lld", &rc, &size), 2);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(err, "No space left on device"));
        assert_true(size <= TMP_SIZE);
        assert_true(size >= TMP_SIZE / 2);
        cJSON_Delete(r);

        /* Another environment's /tmp is its own. */
        int other = attach("other");
        assert_string_equal(sh(other, "head -c 1M /dev/zero > /tmp/x && rm /tmp/x && echo room"), "room\n");
        close(other);

        /* Removing the file gives the room back. */
        assert_string_equal(sh(fd, "rm /tmp/big && head -c 1M /dev/zero > /tmp/small && rm /tmp/small && ls "
                                   "-A /tmp | wc -l"),
                            "0\n");
        assert_other_alive();
        close(fd);
}

static void test_limits__file_past_rlimit_fsize_is_refused(void **state) {
        (void) state;
        int fd = attach("fsize");
        assert_other_alive();

        /* Sparse files, so nothing is really written: up to 1 GiB is allowed, one byte more is not. */
        assert_string_equal(sh(fd, "python3 -c 'import errno\n"
                                   "f = open(\"big\", \"wb\", buffering=0)\n"
                                   "f.seek(1024**3 - 1)\n"
                                   "f.write(b\"x\")\n"
                                   "print(f.tell())\n"
                                   "try:\n"
                                   "  f.write(b\"y\")\n"
                                   "  print(\"written\")\n"
                                   "except OSError as e:\n"
                                   "  print(errno.errorcode[e.errno])'"),
                            "1073741824\nEFBIG\n");
        /* A program that does not ignore SIGXFSZ (python does) is killed by it. */
        cJSON *r = client_call(fd, next_id++,
                               "{\"argv\":[\"dd\",\"if=/dev/zero\",\"of=big2\",\"bs=1\",\"count=1\","
                               "\"seek=1073741824\"]}",
                               NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "signal"), "SIGXFSZ");
        cJSON_Delete(r);
        assert_string_equal(sh(fd, "stat -c %s big big2; rm big big2; ls -A | wc -l"),
                            "1073741824\n1073741824\n0\n");
        assert_other_alive();
        close(fd);
}

static void test_limits__fd_exhaustion_stops_at_the_limit(void **state) {
        (void) state;
        int fd = attach("fds");
        int n = -1;
        char name[32] = "";
        assert_other_alive();

        const char *out = sh(fd, "python3 -c 'import errno\n"
                                 "fs = []\n"
                                 "try:\n"
                                 "  while True: fs.append(open(\"/dev/null\"))\n"
                                 "except OSError as e:\n"
                                 "  print(len(fs), errno.errorcode[e.errno])'");
        fprintf(stderr, "# fd exhaustion: %s", out);
        assert_int_equal(sscanf(out, "%d %31s", &n, name), 2);
        assert_string_equal(name, "EMFILE");
        /* 0, 1, 2 and what python opens itself come first. */
        assert_true(n < LIMIT_OPEN_FILES);
        assert_true(n >= LIMIT_OPEN_FILES - 16);
        assert_string_equal(sh(fd, "ulimit -n; echo $(echo again)"), "1024\nagain\n");
        assert_other_alive();
        close(fd);
}

static void test_limits__cpu_spin_times_out(void **state) {
        (void) state;
        int fd = attach("cpu");
        char command[128];
        assert_other_alive();

        snprintf(command, sizeof(command), "while true; do :; done # %s", spin_mark);
        int id = send_exec(fd, command, 1000);
        /* While it spins, brigd and another environment answer. */
        for (int i = 0; i < 500 && count_processes(spin_mark) == 0; i++)
                usleep(10000);
        assert_other_alive();
        cJSON *r = poll_response(fd, id, 60000);
        assert_non_null(r);
        show("cpu spin", r);
        assert_true(sc_true(r, "timed_out"));
        assert_string_equal(sc_str(r, "signal"), "SIGKILL");
        cJSON_Delete(r);
        assert_int_equal(wait_gone(spin_mark, 500, 10), 0);
        /* The CPU rlimit backs the wall clock up for commands that outlive a call. */
        assert_string_equal(sh(fd, "ulimit -t"), "60\n");
        assert_other_alive();
        close(fd);
}

static void test_limits__output_flood_is_truncated(void **state) {
        (void) state;
        int fd = attach("flood");
        char command[128], head[256];
        assert_other_alive();

        /* Long enough that the concurrent call below surely ends first, even on a busy host. */
        snprintf(command, sizeof(command), "yes %s", flood_mark);
        int id = send_exec(fd, command, 5000);
        for (int i = 0; i < 500 && count_processes(flood_mark) == 0; i++)
                usleep(10000);
        assert_true(count_processes(flood_mark) > 0);
        /* A call on another connection completes while the flood runs. */
        assert_other_alive();
        assert_true(count_processes(flood_mark) > 0);

        cJSON *r = poll_response(fd, id, 60000);
        assert_non_null(r);
        const char *out = sc_str(r, "stdout"), *err = sc_str(r, "stderr");
        assert_non_null(out);
        assert_non_null(err);
        fprintf(stderr, "# output flood: %.0f bytes produced, %zu kept, %.0f ms\n",
                sc_num(r, "stdout_bytes"), strlen(out), sc_num(r, "duration_ms"));
        assert_true(sc_true(r, "truncated"));
        assert_true(sc_true(r, "timed_out"));
        assert_true(strlen(out) + strlen(err) <= LIMIT_OUTPUT);
        assert_true(strlen(out) >= LIMIT_OUTPUT - 64);
        assert_true(sc_num(r, "stdout_bytes") > LIMIT_OUTPUT);
        snprintf(head, sizeof(head), "%s\n%s\n", flood_mark, flood_mark);
        assert_memory_equal(out, head, strlen(head));
        cJSON_Delete(r);
        assert_int_equal(wait_gone(flood_mark, 500, 10), 0);

        assert_string_equal(sh(fd, "echo $(echo again)"), "again\n");
        assert_other_alive();
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_limits__fork_bomb_is_contained),
                cmocka_unit_test(test_limits__setsid_fork_bomb_is_contained_and_gone_after_its_call),
                cmocka_unit_test(test_limits__memory_bomb_is_contained),
                cmocka_unit_test(test_limits__filling_tmp_fails_with_enospc),
                cmocka_unit_test(test_limits__file_past_rlimit_fsize_is_refused),
                cmocka_unit_test(test_limits__fd_exhaustion_stops_at_the_limit),
                cmocka_unit_test(test_limits__cpu_spin_times_out),
                cmocka_unit_test(test_limits__output_flood_is_truncated),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
