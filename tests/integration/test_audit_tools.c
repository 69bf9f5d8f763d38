/* SPDX-License-Identifier: MIT */
/* The audit tooling against a real brigd: `brig audit verify` on a log spanning a restart and on each kind
 * of tampering (an edited, deleted or inserted record, a cut-off end found through the checkpoint), brigd
 * refusing to extend a cut-off log, `brig audit tail -f` with its filters, and brig/audit.subscribe (records
 * to an admin, a refusal to anyone else). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/audit_chain.h"
#include "common/fs.h"
#include "tests/integration/harness.h"

static void start(brigd *d) {
        const char *why = NULL;
        if (brigd_start(d, NULL, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
}

/* Stops brigd cleanly (SIGTERM, exit 0) and keeps its directory, for a restart or a look at the log. */
static void stop_keep(brigd *d) {
        int st;
        assert_int_equal(kill(d->pid, SIGTERM), 0);
        while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
                ;
        d->pid = 0;
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

/* Runs a shell command line; its exit status, and its stdout (and stderr with 2>&1) in out. */
static int run(char *out, size_t size, const char *fmt, ...) {
        char cmd[4096];
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, size - 1, p);
        out[n] = 0;
        int st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void one_call(const brigd *d, const char *env, const char *command) {
        int fd = client_attach(d, env, NULL);
        assert_string_equal(client_sh(fd, command), "ok\n");
        close(fd);
}

/* The lines of a file (at most 256), each with its newline; *ret_n set. */
static char **read_lines(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        char **lines = calloc(256, sizeof(char *)), *line = NULL;
        size_t cap = 0, n = 0;
        assert_non_null(f);
        while (n < 256 && getline(&line, &cap, f) > 0)
                lines[n++] = strdup(line);
        free(line);
        fclose(f);
        *ret_n = n;
        return lines;
}

static void write_lines(const char *path, char **lines, size_t n) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        for (size_t i = 0; i < n; i++)
                if (lines[i])
                        fputs(lines[i], f);
        assert_int_equal(fclose(f), 0);
}

/* `brig audit verify --json` on log; its exit status, and the problem and line it reports (or "" and 0). */
static int verify(const char *log, const char *extra, char *problem, size_t size, int *ret_line) {
        char out[8192];
        int rc = run(out, sizeof(out), "%s/brig audit verify --json %s %s", build_dir(), extra, log);
        cJSON *o = cJSON_Parse(out);
        assert_non_null(o);
        const cJSON *b = cJSON_GetObjectItem(o, "broken");
        problem[0] = 0;
        *ret_line = 0;
        if (cJSON_IsObject(b)) {
                snprintf(problem, size, "%s", cJSON_GetObjectItem(b, "problem")->valuestring);
                *ret_line = cJSON_GetObjectItem(b, "line")->valueint;
        }
        assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "intact")));
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(o, "intact")), rc == 0);
        cJSON_Delete(o);
        return rc;
}

static void test_audit__verify_finds_each_tampering(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-audit-XXXXXX", log[128], ckpt[128], copy[128], problem[64], out[8192];
        brigd d;
        int line;
        size_t n;

        start(&d);
        one_call(&d, "before", "echo ok");
        stop_keep(&d);
        /* A clean stop leaves the checkpoint; the restarted brigd continues the same chain. */
        const char *why = NULL;
        assert_int_equal(brigd_restart(&d, &why), 0);
        one_call(&d, "after", "echo ok");
        stop_keep(&d);
        assert_non_null(mkdtemp(dir));
        /* A root brigd (below) wants its state directory reachable by the jails' uid. */
        assert_int_equal(chmod(dir, 0755), 0);
        snprintf(log, sizeof(log), "%s/audit.jsonl", dir);
        snprintf(ckpt, sizeof(ckpt), "%s/audit.jsonl.checkpoint", dir);
        snprintf(copy, sizeof(copy), "%s/copy.jsonl", dir);
        assert_int_equal(run(out, sizeof(out), "cp %s %s.checkpoint %s/", d.audit, d.audit, dir), 0);
        (void) brigd_stop(&d); /* already stopped: removes its directory */
        assert_int_equal(run(out, sizeof(out), "cp %s %s", log, copy), 0);

        char **lines = read_lines(log, &n);
        int starts = 0;
        for (size_t i = 0; i < n; i++)
                starts += strstr(lines[i], "\"type\":\"worker_start\"") != NULL;
        assert_int_equal(starts, 2);
        assert_true(n > 8);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 0);
        assert_int_equal(run(out, sizeof(out), "%s/brig audit verify %s", build_dir(), log), 0);
        assert_non_null(strstr(out, "intact"));
        assert_non_null(strstr(out, "matches the checkpoint"));

        /* Edited: one member of line 3 changed, the line otherwise as it was. */
        char *edited = strdup(lines[2]), *at = strstr(edited, "\"seq\":2,");
        assert_non_null(at);
        char *ts = strstr(edited, "\"ts\":\"") + 6;
        ts[3] = ts[3] == '0' ? '1' : '0'; /* the year */
        char *saved = lines[2];
        lines[2] = edited;
        write_lines(log, lines, n);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "hash_mismatch");
        assert_int_equal(line, 3);
        assert_int_equal(run(out, sizeof(out), "%s/brig audit verify %s", build_dir(), log), 1);
        assert_non_null(strstr(out, "broken at line 3 (seq 2): hash mismatch"));
        lines[2] = saved;
        free(edited);

        /* Deleted: line 4 gone. */
        saved = lines[3];
        lines[3] = NULL;
        write_lines(log, lines, n);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "seq_gap");
        assert_int_equal(line, 4);
        lines[3] = saved;

        /* Inserted: a copy of line 2 after line 5 (a record replayed), whose own hash is right. */
        char **more = calloc(n + 1, sizeof(char *));
        memcpy(more, lines, 5 * sizeof(char *));
        more[5] = lines[1];
        memcpy(more + 6, lines + 5, (n - 5) * sizeof(char *));
        write_lines(log, more, n + 1);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "seq_not_increasing");
        assert_int_equal(line, 6);
        free(more);

        /* The first record deleted: the log no longer starts the chain. */
        write_lines(log, lines + 1, n - 1);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "seq_gap");
        assert_int_equal(line, 1);

        /* Rewritten: the last record forged with a recomputed, valid hash. The chain holds; the checkpoint
         * names another record at that seq. */
        {
                char *last = strdup(lines[n - 1]), prev[65], hash[65];
                char *p = strstr(lines[n - 2], "\"hash\":\"") + 8;
                memcpy(prev, p, 64);
                prev[64] = 0;
                char *cut = strstr(last, ",\"hash\":\"");
                strcpy(cut, "}");
                ts = strstr(last, "\"ts\":\"") + 6;
                ts[3] = ts[3] == '0' ? '1' : '0';
                assert_int_equal(brig_audit_line_hash(prev, last, hash), 0);
                char *forged = NULL;
                assert_true(asprintf(&forged, "%.*s,\"hash\":\"%s\"}\n", (int) (cut - last), last, hash) >
                            0);
                saved = lines[n - 1];
                lines[n - 1] = forged;
                write_lines(log, lines, n);
                assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
                assert_string_equal(problem, "checkpoint_mismatch");
                assert_int_equal(line, (int) n);
                lines[n - 1] = saved;
                free(forged);
                free(last);
        }

        /* Cut off: the last two records gone. Every remaining line is intact; only the checkpoint shows it.
         */
        write_lines(log, lines, n - 2);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "cut_off");
        assert_int_equal(run(out, sizeof(out), "%s/brig audit verify %s", build_dir(), log), 1);
        assert_non_null(strstr(out, "2 record(s) were cut off its end"));
        /* The same checkpoint named explicitly; and without one, nothing can tell. */
        assert_int_equal(run(out, sizeof(out), "mv %s %s/elsewhere", ckpt, dir), 0);
        assert_int_equal(verify(log, "", problem, sizeof(problem), &line), 0);
        char flag[160];
        snprintf(flag, sizeof(flag), "--checkpoint %s/elsewhere", dir);
        assert_int_equal(verify(log, flag, problem, sizeof(problem), &line), 1);
        assert_string_equal(problem, "cut_off");
        assert_int_equal(run(out, sizeof(out), "mv %s/elsewhere %s", dir, ckpt), 0);

        /* brigd refuses to extend the cut-off log, which would bury the cut under new records (a brigd that
         * started instead is stopped by timeout, and its status 124 fails the check). */
        assert_int_equal(run(out, sizeof(out),
                             "timeout 60 %s/brigd --socket %s/s --state-dir %s/state --audit %s --policy "
                             "%s/policies/default.json 2>&1",
                             build_dir(), dir, dir, log, source_dir()),
                         1);
        if (!strstr(out, "its end was cut off"))
                fail_msg("brigd said: %s", out);

        /* A missing checkpoint given by name is an error, not a pass. */
        assert_int_equal(run(out, sizeof(out), "%s/brig audit verify --checkpoint %s/none %s 2>&1",
                             build_dir(), dir, copy),
                         2);
        assert_int_equal(run(out, sizeof(out), "%s/brig audit verify %s/none 2>&1", build_dir(), dir), 2);

        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        assert_int_equal(brig_rm_rf(dir), 0);
}

/* Runs `brig audit tail ARGS` with its stdout to out_path; returns its pid. */
static pid_t spawn_tail(const char *out_path, const char *const *args) {
        const char *argv[16];
        char brig[512];
        size_t n = 0;
        snprintf(brig, sizeof(brig), "%s/brig", build_dir());
        argv[n++] = brig;
        argv[n++] = "audit";
        argv[n++] = "tail";
        for (; *args; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* A failed assertion leaves it running otherwise, holding the test's stderr open. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
                int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, 1) < 0)
                        _exit(127);
                execv(brig, (char *const *) argv);
                _exit(127);
        }
        return pid;
}

/* Waits (a minute at most) until the file holds needle; its text then (caller frees). */
static char *wait_for_text(const char *path, const char *needle) {
        for (int i = 0; i < 600; i++) {
                FILE *f = fopen(path, "re");
                char *text = calloc(1, 1 << 20);
                if (f) {
                        size_t n = fread(text, 1, (1 << 20) - 1, f);
                        text[n] = 0;
                        fclose(f);
                }
                if (strstr(text, needle))
                        return text;
                free(text);
                usleep(100000);
        }
        fail_msg("'%s' did not appear in %s", needle, path);
        return NULL;
}

static void test_audit__tail_follows_new_records_with_filters(void **state) {
        (void) state;
        char out_path[160];
        brigd d;

        start(&d);
        snprintf(out_path, sizeof(out_path), "%s.tail", d.audit);
        one_call(&d, "tail-early", "echo ok");
        /* Not following: the last record of that type, as a line of JSON. */
        char out[8192];
        assert_int_equal(
                run(out, sizeof(out), "%s/brig audit tail -n 1 --type call_end %s", build_dir(), d.audit),
                0);
        cJSON *rec = cJSON_Parse(out);
        assert_non_null(rec);
        assert_string_equal(cJSON_GetObjectItem(rec, "type")->valuestring, "call_end");
        assert_string_equal(cJSON_GetObjectItem(rec, "environment")->valuestring, "tail-early");
        cJSON_Delete(rec);

        const char *const args[] = {"-f", "--type", "call_start", "--environment", "tail-b", d.audit, NULL};
        pid_t pid = spawn_tail(out_path, args);
        /* Records appended after it started, of another environment first: in file order, so once the
         * second shows, the first was read and filtered out. */
        one_call(&d, "tail-a", "echo ok");
        one_call(&d, "tail-b", "echo ok");
        char *text = wait_for_text(out_path, "\"environment\":\"tail-b\"");
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        assert_null(strstr(text, "tail-a"));
        assert_null(strstr(text, "tail-early"));
        assert_null(strstr(text, "call_end"));
        assert_non_null(strstr(text, "\"type\":\"call_start\""));
        free(text);
        assert_int_equal(brigd_stop(&d), 0);
}

/* Closes a subscriber's connection once brigd closed its side: the harness keeps what client_recv() read
 * ahead (records) per descriptor number until EOF, which a later connection on the same number would get. */
static void close_drained(int fd) {
        cJSON *m;
        (void) shutdown(fd, SHUT_WR);
        while ((m = client_recv(fd, 10000)))
                cJSON_Delete(m);
        close(fd);
}

/* A log replaced under `tail -f` (rotated: renamed, a new file made) is followed into the new file, and one
 * truncated in place is read again from its start. No brigd: the records need not be chained to be shown. */
static void test_audit__tail_follows_a_rotated_log(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-tail-XXXXXX", log[128], old[128], out_path[128], cmd[512];
        char *text;

        assert_non_null(mkdtemp(dir));
        snprintf(log, sizeof(log), "%s/a.jsonl", dir);
        snprintf(old, sizeof(old), "%s/a.jsonl.1", dir);
        snprintf(out_path, sizeof(out_path), "%s/out", dir);
        snprintf(cmd, sizeof(cmd), "echo '{\"type\":\"x\",\"n\":1}' > %s", log);
        assert_int_equal(system(cmd), 0);
        const char *const args[] = {"-f", log, NULL};
        pid_t pid = spawn_tail(out_path, args);
        free(wait_for_text(out_path, "\"n\":1"));
        snprintf(cmd, sizeof(cmd), "mv %s %s && echo '{\"type\":\"x\",\"n\":2}' > %s", log, old, log);
        assert_int_equal(system(cmd), 0);
        free(wait_for_text(out_path, "\"n\":2"));
        snprintf(cmd, sizeof(cmd), "echo '{\"type\":\"x\",\"n\":3}' >> %s", log);
        assert_int_equal(system(cmd), 0);
        free(wait_for_text(out_path, "\"n\":3"));
        /* Truncated, then shorter than what was read: from the start again. */
        snprintf(cmd, sizeof(cmd), "echo '{\"n\":4}' > %s", log);
        assert_int_equal(system(cmd), 0);
        text = wait_for_text(out_path, "\"n\":4");
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        /* Each record once, in order. */
        assert_string_equal(text, "{\"type\":\"x\",\"n\":1}\n{\"type\":\"x\",\"n\":2}\n"
                                  "{\"type\":\"x\",\"n\":3}\n{\"n\":4}\n");
        free(text);
        assert_int_equal(brig_rm_rf(dir), 0);
}

static const cJSON *wait_for_record(int fd, const char *type, cJSON **keep) {
        for (;;) {
                cJSON *m = client_recv(fd, 60000);
                assert_non_null(m);
                const cJSON *method = cJSON_GetObjectItem(m, "method");
                if (cJSON_IsString(method) && strcmp(method->valuestring, "brig/audit") == 0) {
                        const cJSON *p = cJSON_GetObjectItem(m, "params");
                        if (strcmp(cJSON_GetObjectItem(p, "type")->valuestring, type) == 0) {
                                *keep = m;
                                return p;
                        }
                }
                cJSON_Delete(m);
        }
}

static void test_audit__subscription_streams_to_admins_only(void **state) {
        (void) state;
        brigd d;

        start(&d);
        int admin = client_attach(&d, NULL, NULL);
        cJSON *r = client_rpc(admin, "brig/audit.subscribe", "{}");
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && strcmp(mode, "userns") == 0 && geteuid() == 0) {
                /* brigd runs as nobody in a user namespace of its own, where the test's root is not mapped:
                 * it sees an unmapped user (the overflow uid), who is no admin. */
                const cJSON *err = cJSON_GetObjectItem(r, "error");
                assert_non_null(err);
                assert_int_equal(cJSON_GetObjectItem(err, "code")->valueint, -32001);
                cJSON_Delete(r);
                close(admin);
                assert_int_equal(brigd_stop(&d), 0);
                fprintf(stderr, "# SKIP: the test as root is no admin to brigd in its user namespace\n");
                skip();
        }
        const cJSON *res = cJSON_GetObjectItem(r, "result");
        assert_non_null(res);
        int next_seq = cJSON_GetObjectItem(res, "next_seq")->valueint;
        cJSON_Delete(r);

        one_call(&d, "watched", "echo ok");
        cJSON *m;
        const cJSON *p = wait_for_record(admin, "call_start", &m);
        assert_string_equal(cJSON_GetObjectItem(p, "environment")->valuestring, "watched");
        assert_true(cJSON_GetObjectItem(p, "seq")->valueint >= next_seq);
        /* The record as the log has it: chained. */
        assert_int_equal(strlen(cJSON_GetObjectItem(p, "hash")->valuestring), 64);
        cJSON_Delete(m);

        if (geteuid() != 0) {
                fprintf(stderr, "# SKIP: acting as a user who is not an admin needs the test as root\n");
                close(admin);
                brigd_stop(&d);
                skip();
        }
        /* Another user, let through the socket as an operator granting access would, is refused. */
        assert_int_equal(chmod(d.socket, 0666), 0);
        pid_t pid = fork();
        if (pid == 0) {
                int code = 2;
                if (setgid(65533) == 0 && setuid(65533) == 0) {
                        int fd = client_connect(&d);
                        cJSON *init = client_initialize(fd, NULL);
                        cJSON *e = client_rpc(fd, "brig/audit.subscribe", "{}");
                        const cJSON *err = cJSON_GetObjectItem(e, "error");
                        code = init && err && cJSON_GetObjectItem(err, "code")->valueint == -32001 &&
                                               strstr(cJSON_GetObjectItem(err, "message")->valuestring,
                                                      "--admin-uid")
                                       ? 0
                                       : 3;
                        cJSON_Delete(init);
                        cJSON_Delete(e);
                        close(fd);
                }
                _exit(code);
        }
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        /* The admin saw the refusal go into the log. */
        p = wait_for_record(admin, "refused", &m);
        assert_string_equal(cJSON_GetObjectItem(p, "method")->valuestring, "brig/audit.subscribe");
        cJSON_Delete(m);
        close_drained(admin);
        assert_int_equal(brigd_stop(&d), 0);
}

#define INIT                                                                                                \
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"          \
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"flood\",\"version\":\"1\"}}}"

/* A subscriber that reads nothing holds at most about 1 MiB of brigd's memory: past that it is dropped, told
 * so once, and gets nothing more. */
static void test_audit__subscriber_that_does_not_read_is_dropped(void **state) {
        (void) state;
        brigd d;

        start(&d);
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && strcmp(mode, "userns") == 0 && geteuid() == 0) {
                assert_int_equal(brigd_stop(&d), 0);
                fprintf(stderr, "# SKIP: the test as root is no admin to brigd in its user namespace\n");
                skip();
        }
        int sub = client_attach(&d, NULL, NULL);
        cJSON_Delete(client_rpc(sub, "brig/audit.subscribe", "{}"));
        /* Each connection adds three records (open, initialize, close) of about 300 bytes: 4000 of them
         * are several times the bound and the socket's buffer together. */
        for (int i = 0; i < 4000; i++) {
                int fd = client_connect(&d);
                assert_true(fd >= 0);
                /* By hand: the harness's client_recv keeps a buffer per descriptor it saw until EOF. */
                assert_int_equal(client_send(fd, INIT), 0);
                char buf[4096];
                ssize_t n = 0;
                while (n >= 0 && !memchr(buf, '\n', (size_t) n))
                        n = recv(fd, buf, sizeof(buf), 0);
                assert_true(n > 0 && strstr(buf, "\"result\""));
                close(fd);
        }
        /* A last record, after the drop: it must not come. */
        one_call(&d, "after-drop", "echo ok");
        bool dropped = false;
        int records = 0;
        for (;;) {
                cJSON *m = client_recv(sub, dropped ? 2000 : 60000);
                if (!m)
                        break;
                const cJSON *method = cJSON_GetObjectItem(m, "method");
                if (cJSON_IsString(method) && strcmp(method->valuestring, "brig/audit.dropped") == 0) {
                        assert_false(dropped);
                        dropped = true;
                        assert_true(cJSON_IsNumber(
                                cJSON_GetObjectItem(cJSON_GetObjectItem(m, "params"), "missed_seq")));
                } else if (cJSON_IsString(method) && strcmp(method->valuestring, "brig/audit") == 0) {
                        assert_false(dropped);
                        records++;
                }
                cJSON_Delete(m);
        }
        assert_true(dropped);
        assert_true(records > 0 && records < 12000);
        close_drained(sub);
        assert_int_equal(brigd_stop(&d), 0);
}

/* --audit-syslog: each record also arrives at the syslog socket as a datagram, the record's JSON after the
 * tag, whole and chained. A socket of the test's own stands in for /dev/log. */
static void test_audit__records_go_to_syslog_too(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-syslog-XXXXXX", path[128], dgram[65536];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        brigd d;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(chmod(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/log", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        assert_int_equal(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
        /* brigd may run as another user (setpriv, userns): let it send, as /dev/log lets everyone. */
        assert_int_equal(chmod(path, 0666), 0);
        const char *const args[] = {"--audit-syslog", path, NULL};
        const char *why = NULL;
        if (brigd_start_args(&d, NULL, args, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
        one_call(&d, "to-syslog", "echo ok");
        struct timeval tv = {.tv_sec = 60};
        assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        bool seen = false;
        while (!seen) {
                ssize_t n = recv(s, dgram, sizeof(dgram) - 1, 0);
                assert_true(n > 0);
                dgram[n] = 0;
                /* <authpriv.info>TIMESTAMP brigd-audit[PID]: RECORD */
                assert_true(strncmp(dgram, "<86>", 4) == 0);
                char *msg = strstr(dgram, " brigd-audit[");
                assert_non_null(msg);
                msg = strstr(msg, "]: ");
                assert_non_null(msg);
                cJSON *rec = cJSON_Parse(msg + 3);
                assert_non_null(rec);
                const cJSON *env = cJSON_GetObjectItem(rec, "environment");
                seen = strcmp(cJSON_GetObjectItem(rec, "type")->valuestring, "call_start") == 0 &&
                       cJSON_IsString(env) && strcmp(env->valuestring, "to-syslog") == 0;
                assert_int_equal(strlen(cJSON_GetObjectItem(rec, "hash")->valuestring), 64);
                cJSON_Delete(rec);
        }
        assert_int_equal(brigd_stop(&d), 0);
        close(s);
        assert_int_equal(brig_rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_audit__verify_finds_each_tampering),
                cmocka_unit_test(test_audit__tail_follows_new_records_with_filters),
                cmocka_unit_test(test_audit__tail_follows_a_rotated_log),
                cmocka_unit_test(test_audit__subscription_streams_to_admins_only),
                cmocka_unit_test(test_audit__subscriber_that_does_not_read_is_dropped),
                cmocka_unit_test(test_audit__records_go_to_syslog_too),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
