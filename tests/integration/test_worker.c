/* SPDX-License-Identifier: MIT */
/* brigd as a process and the brig CLI: socket ownership and mode, the audit trail's chain, clean stops,
 * no jail surviving its worker, and the commands a developer types. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "tests/integration/harness.h"
#include "worker/audit.h"

static void start(brigd *d) {
        const char *why = NULL;
        if (brigd_start(d, NULL, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
}

static int wait_for_count(const char *needle, int want) {
        int n = -1;
        for (int i = 0; i < 500 && (n = count_processes(needle)) != want; i++)
                usleep(10000);
        return n;
}

/* Runs a command line, returns its exit status and (first bytes of) its stdout+stderr. */
static int run(const char *cmd, char *out, size_t size) {
        FILE *p = popen(cmd, "r");
        size_t n = 0;
        if (!p)
                return -1;
        if (out && size) {
                n = fread(out, 1, size - 1, p);
                out[n] = 0;
        } else {
                char buf[4096];
                while (fread(buf, 1, sizeof(buf), p) > 0)
                        ;
        }
        int st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_worker__socket_is_private(void **state) {
        (void) state;
        brigd d;
        struct stat st;
        start(&d);
        assert_int_equal(stat(d.socket, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_worker__refuses_a_socket_owned_by_a_live_worker(void **state) {
        (void) state;
        brigd d;
        char cmd[1024], out[4096];
        start(&d);
        snprintf(cmd, sizeof(cmd),
                 "%s/brigd --socket %s --state-dir %s/state2 --audit %s/a2 --policy "
                 "%s/policies/default.json 2>&1",
                 build_dir(), d.socket, d.dir, d.dir, source_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 1);
        assert_non_null(strstr(out, "another brigd"));
        /* The live worker still answers. */
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_worker__replaces_a_stale_socket(void **state) {
        (void) state;
        brigd d;
        start(&d);
        /* A worker killed outright leaves its socket file behind. */
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        struct stat st;
        assert_int_equal(stat(d.socket, &st), 0);
        /* A child brigd forked for a jail helper holds the listening socket until its exec closes it: only
         * then is the old worker wholly gone, and only then does a connect tell the new one apart. */
        int probe = -1;
        for (int i = 0; i < 500 && (probe = client_connect(&d)) >= 0; i++) {
                close(probe);
                usleep(10000);
        }
        assert_true(probe < 0);
        char dir[64];
        snprintf(dir, sizeof(dir), "%s", d.dir);
        /* Start again on the same path (brigd_start makes a new dir, so do it by hand). */
        pid_t pid = fork();
        if (pid == 0) {
                char b[512], p[512], s[256], a[256];
                snprintf(b, sizeof(b), "%s/brigd", build_dir());
                snprintf(p, sizeof(p), "%s/policies/default.json", source_dir());
                snprintf(s, sizeof(s), "%s/state", dir);
                snprintf(a, sizeof(a), "%s/audit.jsonl", dir);
                (void) !freopen("/dev/null", "w", stdout);
                (void) !freopen("/dev/null", "w", stderr);
                execl(b, b, "--socket", d.socket, "--state-dir", s, "--audit", a, "--policy", p,
                      (char *) NULL);
                _exit(127);
        }
        int fd = -1;
        for (int i = 0; i < 500 && fd < 0; i++) {
                fd = client_connect(&d);
                if (fd < 0)
                        usleep(10000);
        }
        assert_true(fd >= 0);
        close(fd);
        d.pid = pid;
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_worker__sigterm_removes_socket_and_kills_jails(void **state) {
        (void) state;
        brigd d;
        char sock[128];
        start(&d);
        snprintf(sock, sizeof(sock), "%s", d.socket);
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        client_send(fd,
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                    "\"arguments\":{\"command\":\"sleep 42431 & echo ready; "
                    "wait\"},\"_meta\":{\"progressToken\":1}}}");
        cJSON *m = client_recv(fd, 20000);
        assert_non_null(m);
        cJSON_Delete(m);
        assert_true(count_processes("sleep 42431") >= 1);
        kill(d.pid, SIGTERM);
        int st;
        waitpid(d.pid, &st, 0);
        d.pid = 0;
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_int_equal(access(sock, F_OK), -1);
        assert_int_equal(wait_for_count("sleep 42431", 0), 0);
        close(fd);
        (void) brigd_stop(&d);
}

/* Pids of the direct children of parent (the jail helpers of a brigd). */
static int children_of(pid_t parent, pid_t *out, int max) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;

        while (d && (de = readdir(d)) && n < max) {
                char path[300], buf[512];
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                FILE *f = fopen(path, "r");
                if (!f)
                        continue;
                size_t len = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[len] = 0;
                char *close_paren = strrchr(buf, ')');
                int ppid = 0;
                if (close_paren && sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == parent)
                        out[n++] = atoi(de->d_name);
        }
        if (d)
                closedir(d);
        return n;
}

static void test_worker__sigkill_of_worker_leaves_no_jail_behind(void **state) {
        (void) state;
        brigd d;
        start(&d);
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        client_send(fd,
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                    "\"arguments\":{\"command\":\"sleep 42432 & echo ready; "
                    "wait\"},\"_meta\":{\"progressToken\":1}}}");
        cJSON *m = client_recv(fd, 20000);
        assert_non_null(m);
        cJSON_Delete(m);
        assert_true(count_processes("sleep 42432") >= 1);
        pid_t helpers[16];
        int n = children_of(d.pid, helpers, 16);
        assert_true(n >= 1);
        kill(d.pid, SIGKILL);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        assert_int_equal(wait_for_count("sleep 42432", 0), 0);
        for (int i = 0; i < n; i++) {
                int tries = 0;
                while (kill(helpers[i], 0) == 0 && tries++ < 500)
                        usleep(10000);
                assert_int_equal(kill(helpers[i], 0), -1);
        }
        close(fd);
        (void) brigd_stop(&d);
}

static void test_worker__audit_log_is_a_hash_chain(void **state) {
        (void) state;
        brigd d;
        char audit[128];
        start(&d);
        snprintf(audit, sizeof(audit), "%s", d.audit);
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        cJSON_Delete(client_call(fd, 1, "{\"command\":\"echo audited\",\"stdin\":\"%s\"}", NULL, NULL));
        close(fd);

        /* Read while the worker still runs, once the close has been recorded. */
        char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
        bool saw_start = false, saw_end = false, saw_open = false;
        int lines = 0;
        for (int tries = 0; tries < 200; tries++) {
                FILE *f = fopen(audit, "r");
                char line[65536];
                lines = 0;
                saw_start = saw_end = saw_open = false;
                memcpy(prev, "0000000000000000000000000000000000000000000000000000000000000000", 65);
                while (f && fgets(line, sizeof(line), f)) {
                        cJSON *o = cJSON_Parse(line);
                        assert_non_null(o);
                        assert_int_equal(cJSON_GetObjectItem(o, "version")->valueint, 1);
                        assert_int_equal(cJSON_GetObjectItem(o, "seq")->valueint, lines);
                        assert_string_equal(cJSON_GetObjectItem(o, "prev")->valuestring, prev);
                        const char *hash = cJSON_GetObjectItem(o, "hash")->valuestring;
                        char *cut = strstr(line, ",\"hash\":\"");
                        assert_non_null(cut);
                        strcpy(cut, "}");
                        char computed[65];
                        assert_int_equal(brig_audit_line_hash(prev, line, computed), 0);
                        assert_string_equal(computed, hash);
                        memcpy(prev, hash, 65);
                        const char *type = cJSON_GetObjectItem(o, "type")->valuestring;
                        if (strcmp(type, "connection_open") == 0) {
                                saw_open = true;
                                assert_true(cJSON_IsNumber(
                                        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "peer"), "uid")));
                        }
                        if (strcmp(type, "call_start") == 0) {
                                saw_start = true;
                                assert_string_equal(cJSON_GetObjectItem(o, "tool")->valuestring, "exec");
                        }
                        if (strcmp(type, "call_end") == 0) {
                                saw_end = true;
                                assert_int_equal(cJSON_GetObjectItem(o, "exit_code")->valueint, 0);
                        }
                        cJSON_Delete(o);
                        lines++;
                }
                if (f)
                        fclose(f);
                if (saw_open && saw_start && saw_end)
                        break;
                usleep(10000);
        }
        assert_true(saw_open && saw_start && saw_end);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_cli__exec_streams_and_returns_exit_code(void **state) {
        (void) state;
        brigd d;
        char cmd[1024], out[4096];
        start(&d);
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s exec -- python3 -c 'print(6*7)'", build_dir(),
                 d.socket);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_string_equal(out, "42\n");
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s exec -- sh -c 'exit 7'", build_dir(), d.socket);
        assert_int_equal(run(cmd, NULL, 0), 7);
        snprintf(cmd, sizeof(cmd), "%s/brig --socket %s exec --timeout 200 -- sleep 10 2>&1", build_dir(),
                 d.socket);
        assert_int_equal(run(cmd, out, sizeof(out)), 124);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_cli__run_is_a_one_shot_jail(void **state) {
        (void) state;
        char cmd[1024], out[4096];
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && *mode) {
                fprintf(stderr, "# SKIP: brig run is covered by the default mode\n");
                skip();
        }
        snprintf(cmd, sizeof(cmd),
                 "%s/brig run --policy %s/policies/default.json -- sh -c 'id -u; ls /; pwd'", build_dir(),
                 source_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_string_equal(
                out, "1000\nbin\ndev\netc\nlib\nlib64\nproc\nsbin\ntmp\nusr\nworkspace\n/workspace\n");
        snprintf(cmd, sizeof(cmd), "%s/brig run --policy %s/policies/default.json -- no-such-program 2>&1",
                 build_dir(), source_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 127);
        assert_non_null(strstr(out, "no-such-program"));
}

static void test_cli__run_binds_host_paths(void **state) {
        (void) state;
        char cmd[2048], out[4096], dir[] = "/tmp/brig-binds-XXXXXX", file[64];
        const char *mode = getenv("BRIG_TEST_MODE");
        if (mode && *mode) {
                fprintf(stderr, "# SKIP: brig run is covered by the default mode\n");
                skip();
        }
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0777);
        snprintf(file, sizeof(file), "%s/f", dir);
        FILE *f = fopen(file, "w");
        fputs("hello\n", f);
        fclose(f);
        chmod(file, 0666);
        /* Read-only at another path, writable at its own path below the policy's /tmp tmpfs. */
        snprintf(cmd, sizeof(cmd),
                 "%s/brig run --policy %s/policies/default.json --ro-bind %s:/opt/data --bind %s -- sh -c "
                 "'cat /opt/data/f; (echo x > /opt/data/g) 2>/dev/null || echo ro; echo w > %s/g; ls %s' "
                 "2>&1",
                 build_dir(), source_dir(), dir, dir, dir, dir);
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_string_equal(out, "hello\nro\nf\ng\n");
        snprintf(file, sizeof(file), "%s/g", dir);
        assert_int_equal(access(file, F_OK), 0);
        /* Checked as a policy's binds are. */
        snprintf(cmd, sizeof(cmd),
                 "%s/brig run --policy %s/policies/default.json --ro-bind %s:/proc/x -- true 2>&1",
                 build_dir(), source_dir(), dir);
        assert_int_equal(run(cmd, out, sizeof(out)), 2);
        assert_non_null(strstr(out, "--ro-bind: \"/proc/x\" is reserved"));
        snprintf(cmd, sizeof(cmd),
                 "%s/brig run --policy %s/policies/default.json --bind /no/such/dir -- true 2>&1",
                 build_dir(), source_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 125);
        assert_non_null(strstr(out, "--bind /no/such/dir: No such file or directory"));
        (void) brig_rm_rf(dir);
}

static void test_cli__policy_check_reports_errors(void **state) {
        (void) state;
        char cmd[1024], out[4096], path[] = "/tmp/brig-policy-XXXXXX";
        int fd = mkstemp(path);
        const char *bad = "{\"limits\": {\"memory\": \"lots\"}}\n";
        assert_true(write(fd, bad, strlen(bad)) > 0);
        close(fd);
        snprintf(cmd, sizeof(cmd), "%s/brig policy check %s/policies/default.json", build_dir(),
                 source_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "OK"));
        snprintf(cmd, sizeof(cmd), "%s/brig policy check %s", build_dir(), path);
        assert_int_equal(run(cmd, out, sizeof(out)), 1);
        assert_non_null(strstr(out, "limits.memory: expected a size like \"512M\", got \"lots\""));
        unlink(path);
}

static void test_cli__mcp_bridge_serves_stdio_in_a_named_environment(void **state) {
        (void) state;
        brigd d;
        char cmd[2048], out[8192];
        start(&d);
        /* Two sessions, as a stdio MCP client would start them; the second sees the first one's file. */
        for (int i = 0; i < 2; i++) {
                snprintf(cmd, sizeof(cmd),
                         "printf '%%s\\n' "
                         "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                         "\"protocolVersion\":"
                         "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":"
                         "\"1\"}}}' "
                         "'{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
                         "call\",\"params\":{\"name\":\"exec\","
                         "\"arguments\":{\"command\":\"cat note 2>/dev/null || echo first; echo seen > "
                         "note\"}}}' "
                         "| %s/brig --socket %s mcp --environment bridged --policy default",
                         build_dir(), d.socket);
                assert_int_equal(run(cmd, out, sizeof(out)), 0);
                char *second = strchr(out, '\n');
                assert_non_null(second);
                *second++ = 0;
                cJSON *init = cJSON_Parse(out), *res = cJSON_Parse(second);
                assert_string_equal(
                        cJSON_GetObjectItem(
                                cJSON_GetObjectItem(cJSON_GetObjectItem(init, "result"), "_meta"),
                                "brig/environment")
                                ->valuestring,
                        "bridged");
                assert_string_equal(sc_str(res, "stdout"), i == 0 ? "first\n" : "seen\n");
                cJSON_Delete(init);
                cJSON_Delete(res);
        }
        assert_int_equal(brigd_stop(&d), 0);
}

/* Only where the test itself is root and brigd runs as it does (not under setpriv or `unshare -r`). */
static bool root_mode(void) {
        const char *mode = getenv("BRIG_TEST_MODE");
        if (geteuid() == 0 && (!mode || !mode[0]))
                return true;
        fprintf(stderr, "# SKIP: needs the test as root with brigd as root (BRIG_TEST_MODE unset)\n");
        return false;
}

/* brigd with argv after its path (NULL-terminated), run through the command prefix (NULL-terminated, may
 * be NULL), stdout and stderr to /dev/null; returns its pid. */
static pid_t spawn_brigd_via(const char *const *prefix, const char *const *args) {
        pid_t pid = fork();
        if (pid == 0) {
                const char *argv[48];
                char b[512], h[512];
                int n = 0;
                snprintf(b, sizeof(b), "%s/brigd", build_dir());
                snprintf(h, sizeof(h), "%s/brig-jail", build_dir());
                for (; prefix && *prefix && n < 16; prefix++)
                        argv[n++] = *prefix;
                argv[n++] = b;
                argv[n++] = "--jail-helper";
                argv[n++] = h;
                for (; *args && n < 46; args++)
                        argv[n++] = *args;
                argv[n] = NULL;
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
                (void) !freopen("/dev/null", "w", stdout);
                (void) !freopen("/dev/null", "w", stderr);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        return pid;
}

static pid_t spawn_brigd(const char *const *args) {
        return spawn_brigd_via(NULL, args);
}

/* SIGTERM and wait: brigd's exit status, 0 for a clean stop (a sanitizer report is not). */
static int stop_brigd(pid_t pid) {
        int st = 0;
        kill(pid, SIGTERM);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int connect_path(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -errno;
        }
        return fd;
}

/* In a child with uid/gid 65534 and the supplementary groups given (n may be 0): 0 when it can connect to
 * path and initialize, else the connect errno. */
static int connect_as_nobody(const char *path, const gid_t *groups, size_t n) {
        pid_t pid = fork();
        if (pid == 0) {
                if (setgroups(n, groups) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(65534, 65534, 65534) < 0)
                        _exit(100);
                int fd = connect_path(path);
                if (fd < 0)
                        _exit(-fd);
                cJSON *init = client_initialize(fd, NULL);
                _exit(init ? 0 : 101);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A root brigd serves the members of --socket-group and no one else, with no chmod by anyone. */
static void test_worker__socket_group_lets_members_in_and_no_one_else(void **state) {
        (void) state;
        static const char *const args[] = {"--socket-mode", "0660", "--socket-group", "4242", NULL};
        const gid_t member[] = {4242};
        const char *why = NULL;
        struct stat st;
        brigd d;

        if (!root_mode())
                skip();
        if (brigd_start_args(&d, NULL, args, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
        assert_int_equal(lstat(d.socket, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(st.st_gid, 4242);
        assert_int_equal(connect_as_nobody(d.socket, member, 1), 0);
        assert_int_equal(connect_as_nobody(d.socket, NULL, 0), EACCES);
        assert_int_equal(brigd_stop(&d), 0);
}

/* The socket's path never names a socket with another mode or group: inotify reports every event on the
 * name from before brigd starts, so a chmod or chown after the name appeared (IN_ATTRIB), or a socket
 * bound in place (IN_CREATE, then the change), is seen whatever the timing. */
static void test_worker__socket_has_its_mode_and_group_from_birth(void **state) {
        (void) state;
        char dir[] = "/tmp/brig-sockmode-XXXXXX", sock[128], st_dir[128], audit[128], pol[512];
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        bool appeared = false, changed = false;
        struct stat st;
        int fd;

        if (!root_mode())
                skip();
        assert_non_null(mkdtemp(dir));
        (void) chmod(dir, 0755);
        snprintf(sock, sizeof(sock), "%s/brig.sock", dir);
        snprintf(st_dir, sizeof(st_dir), "%s/state", dir);
        snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
        snprintf(pol, sizeof(pol), "%s/policies/default.json", source_dir());
        int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        assert_true(in >= 0);
        assert_true(inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) >= 0);
        const char *const args[] = {"--socket",    sock,   "--socket-mode", "0660", "--socket-group", "4242",
                                    "--state-dir", st_dir, "--audit",       audit,  "--policy",       pol,
                                    NULL};
        pid_t pid = spawn_brigd(args);
        /* Readiness, not timing: until it accepts (the bound only keeps a hung brigd from hanging us). */
        for (int i = 0; i < 6000 && (fd = connect_path(sock)) < 0; i++) {
                assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
                usleep(10000);
        }
        assert_true(fd >= 0);
        close(fd);
        /* And at the first moment the path existed: */
        for (ssize_t n; (n = read(in, u.buf, sizeof(u.buf))) > 0;)
                for (char *p = u.buf; p < u.buf + n; p += sizeof(struct inotify_event) + u.ev.len) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if (!ev->len || strcmp(ev->name, "brig.sock") != 0)
                                continue;
                        if (ev->mask & (IN_CREATE | IN_ATTRIB))
                                changed = true;
                        if (ev->mask & IN_MOVED_TO)
                                appeared = true;
                }
        assert_false(changed);
        assert_true(appeared);
        assert_int_equal(lstat(sock, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(st.st_gid, 4242);
        close(in);
        assert_int_equal(stop_brigd(pid), 0);
        /* No private directory left behind. */
        DIR *dd = opendir(dir);
        for (struct dirent *de; (de = readdir(dd));)
                assert_true(strncmp(de->d_name, ".brigd-", 7) != 0);
        closedir(dd);
        (void) brig_rm_rf(dir);
}

/* An MCP launcher passes only HOME, PATH and USER (and a few more): `brig mcp` finds a brigd started
 * without --socket at the default path. /run is a fresh tmpfs in a private mount namespace here, so the
 * test neither sees nor disturbs a real /run/brig. Per mode: brigd as root on /run/brig/brig.sock;
 * as nobody (setpriv) with no XDG_RUNTIME_DIR, on /run/user/65534/brig/brig.sock; as `unshare -r` root
 * with XDG_RUNTIME_DIR=/run/user/65534 (a developer's session), there too. The client runs as brigd's
 * user outside any namespace, with nothing but HOME, PATH and USER. */
static void test_cli__mcp_finds_brigd_at_the_default_path_with_a_stripped_environment(void **state) {
        (void) state;
        static const char *const as_nobody[] = {"setpriv", "--reuid=65534", "--regid=65534",
                                                "--clear-groups", "--"};
        const char *mode = getenv("BRIG_TEST_MODE");
        bool userns = mode && strcmp(mode, "userns") == 0,
             rootless = userns || (mode && strcmp(mode, "setpriv") == 0);
        char dir[] = "/tmp/brig-defsock-XXXXXX", st_dir[128], audit[128], pol[512], cmd[2048], out[8192];
        const char *prefix[16], *sock = rootless ? "/run/user/65534/brig/brig.sock" : "/run/brig/brig.sock";
        int fd = -1, n = 0;

        if (geteuid() != 0) {
                fprintf(stderr, "# SKIP: a private /run needs the test as root\n");
                skip();
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0) {
                fprintf(stderr, "# SKIP: no private mount namespace with a tmpfs on /run: %s\n",
                        strerror(errno));
                skip();
        }
        assert_non_null(mkdtemp(dir));
        (void) chmod(dir, 0755);
        snprintf(st_dir, sizeof(st_dir), "%s/state", dir);
        snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
        snprintf(pol, sizeof(pol), "%s/policies/default.json", source_dir());
        prefix[n++] = "env";
        prefix[n++] = "-u";
        prefix[n++] = "XDG_RUNTIME_DIR";
        if (rootless) {
                /* What pam_systemd makes for a login. */
                assert_int_equal(mkdir("/run/user", 0755), 0);
                assert_int_equal(mkdir("/run/user/65534", 0700), 0);
                assert_int_equal(chown("/run/user/65534", 65534, 65534), 0);
                assert_int_equal(chown(dir, 65534, 65534), 0);
                for (size_t i = 0; i < sizeof(as_nobody) / sizeof(*as_nobody); i++)
                        prefix[n++] = as_nobody[i];
        }
        if (userns) {
                prefix[n++] = "unshare";
                prefix[n++] = "-r";
                prefix[n++] = "--";
                prefix[n++] = "env";
                prefix[n++] = "XDG_RUNTIME_DIR=/run/user/65534";
        }
        prefix[n] = NULL;
        const char *const args[] = {"--state-dir", st_dir, "--audit", audit, "--policy", pol, NULL};
        pid_t pid = spawn_brigd_via(prefix, args);
        for (int i = 0; i < 6000 && (fd = connect_path(sock)) < 0; i++) {
                assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
                usleep(10000);
        }
        assert_true(fd >= 0);
        close(fd);
        /* The directory brigd made serves its owner only (no --socket-mode). */
        struct stat st;
        *strrchr(strcpy(cmd, sock), '/') = 0;
        assert_int_equal(stat(cmd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        /* From /, so that no ./brig.sock could help, and with BRIG_SOCKET set in the caller's environment
         * only: the launcher drops it. */
        snprintf(cmd, sizeof(cmd),
                 "cd / && printf '%%s\\n' "
                 "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}' "
                 "'{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"command\":\"echo via-default\"}}}' "
                 "| BRIG_SOCKET=/nonexistent %s env -i HOME=/ PATH=/usr/bin:/bin USER=%s %s/brig mcp 2>&1",
                 rootless ? "setpriv --reuid=65534 --regid=65534 --clear-groups --" : "",
                 rootless ? "nobody" : "root", build_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "via-default\\n"));
        assert_int_equal(stop_brigd(pid), 0);
        (void) umount2("/run", MNT_DETACH);
        (void) brig_rm_rf(dir);
}

/* With nothing listening, the error names the path tried, where it came from, and how to pick another. */
static void test_cli__connect_error_names_the_path_and_the_ways_to_choose(void **state) {
        (void) state;
        char cmd[1024], out[4096];
        snprintf(cmd, sizeof(cmd), "%s/brig --socket /nonexistent/brig.sock env list 2>&1", build_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 1);
        assert_non_null(strstr(out, "/nonexistent/brig.sock (--socket)"));
        assert_non_null(strstr(out, "BRIG_SOCKET=PATH"));
        assert_null(strstr(out, "make run"));
        snprintf(cmd, sizeof(cmd), "%s/brig mcp --help", build_dir());
        assert_int_equal(run(cmd, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "$BRIG_SOCKET"));
        assert_non_null(strstr(out, "/run/brig/brig.sock"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_worker__socket_is_private),
                cmocka_unit_test(test_worker__refuses_a_socket_owned_by_a_live_worker),
                cmocka_unit_test(test_worker__replaces_a_stale_socket),
                cmocka_unit_test(test_worker__sigterm_removes_socket_and_kills_jails),
                cmocka_unit_test(test_worker__sigkill_of_worker_leaves_no_jail_behind),
                cmocka_unit_test(test_worker__audit_log_is_a_hash_chain),
                cmocka_unit_test(test_cli__exec_streams_and_returns_exit_code),
                cmocka_unit_test(test_cli__run_is_a_one_shot_jail),
                cmocka_unit_test(test_cli__run_binds_host_paths),
                cmocka_unit_test(test_cli__policy_check_reports_errors),
                cmocka_unit_test(test_cli__mcp_bridge_serves_stdio_in_a_named_environment),
                cmocka_unit_test(test_worker__socket_group_lets_members_in_and_no_one_else),
                cmocka_unit_test(test_worker__socket_has_its_mode_and_group_from_birth),
                cmocka_unit_test(test_cli__connect_error_names_the_path_and_the_ways_to_choose),
                /* Last: it leaves the test in a mount namespace of its own. */
                cmocka_unit_test(test_cli__mcp_finds_brigd_at_the_default_path_with_a_stripped_environment),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
