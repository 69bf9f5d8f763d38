/* SPDX-License-Identifier: MIT */
/* Test harness: a real brigd on a temporary socket, and a line-framed JSON-RPC client for it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fdpass.h"
#include "common/fs.h"
#include "sandbox/cgroup.h"
#include "sandbox/wsimage.h"
#include "tests/integration/harness.h"
#include "worker/audit_events.h"

const char *build_dir(void) {
        const char *s = getenv("BRIG_BUILD_DIR");
        return s ? s : "build";
}

const char *source_dir(void) {
        const char *s = getenv("BRIG_SOURCE_DIR");
        return s ? s : ".";
}

static long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The test process itself, as opposed to a child a test forked: only the former may fail a cmocka test. */
static pid_t harness_pid;

__attribute__((constructor)) static void remember_harness_pid(void) {
        harness_pid = getpid();
}

/* A brigd that does not come up is a failure of the test, never a skip: a start-up crash (an ASan abort
 * included) must turn the suite red. In a child a test forked (which must not jump into cmocka's state) the
 * caller gets -1 and no skip reason, and must fail itself. */
/* What brigd wrote to stderr and nobody read (the pipe is non-blocking; at most 4 MiB), NUL-terminated. */
static char *read_stderr(brigd *d) {
        size_t len = 0, cap = 1 << 16;
        char *buf = malloc(cap);

        if (!buf)
                return NULL;
        for (ssize_t r; d->stderr_fd >= 0 && (r = read(d->stderr_fd, buf + len, cap - 1 - len)) > 0;) {
                len += (size_t) r;
                char *bigger;
                if (len == cap - 1 && cap < (4u << 20) && (bigger = realloc(buf, cap * 2))) {
                        buf = bigger;
                        cap *= 2;
                }
        }
        buf[len] = 0;
        return buf;
}

static void print_stderr_tail(brigd *d, const char *what) {
        char *buf = read_stderr(d);
        size_t len = buf ? strlen(buf) : 0;

        fprintf(stderr, "brigd %s; its stderr:\n%s\n", what,
                buf ? buf + (len > 65536 ? len - 65536 : 0) : "");
        free(buf);
}

/* Whether a TSan report is about a file descriptor's number rather than memory: it says so, or both of its
 * accesses are calls that create, poll or close fds. libuv closes fds with a raw syscall TSan does not see,
 * so a number libuv closed and the loop or a thread reused looks like a race on the number
 * (tests/tsan.supp). */
static bool tsan_fd_report(const char *report, size_t len) {
        static const char *const fd_calls[] = {
                "open",    "open64",    "openat",       "openat64",     "close",      "closedir",
                "opendir", "pipe",      "pipe2",        "socket",       "socketpair", "accept",
                "accept4", "epoll_ctl", "dup",          "dup2",         "dup3",       "fcntl",
                "eventfd", "signalfd",  "memfd_create", "inotify_init1"};
        int fd_accesses = 0, accesses = 0;

        if (memmem(report, len, "Location is file descriptor", 27))
                return true;
        /* Each access is a "Write of size"/"Read of size" line followed by its "#0 function" frame. */
        for (const char *p = report; (p = memmem(p, len - (size_t) (p - report), " of size ", 9));) {
                const char *f = memmem(p, len - (size_t) (p - report), "#0 ", 3);
                if (!f)
                        break;
                f += 3;
                size_t n = strcspn(f, " \n");
                accesses++;
                for (size_t i = 0; i < sizeof(fd_calls) / sizeof(fd_calls[0]); i++)
                        if (strlen(fd_calls[i]) == n && strncmp(f, fd_calls[i], n) == 0)
                                fd_accesses++;
                p = f;
        }
        return accesses > 0 && fd_accesses == accesses;
}

/* ThreadSanitizer reports in brigd's stderr (the TSan build runs it with exitcode=0), but for those about a
 * file descriptor's number. Returns how many were printed. */
static int print_tsan_reports(const char *err) {
        static const char sep[] = "==================\n";
        int n = 0;

        for (const char *p = strstr(err, "WARNING: ThreadSanitizer:"); p;
             p = strstr(p, "WARNING: ThreadSanitizer:")) {
                const char *end = strstr(p, sep);
                size_t len = end ? (size_t) (end - p) : strlen(p);
                if (!tsan_fd_report(p, len)) {
                        fprintf(stderr, "brigd: %.*s\n", (int) len, p);
                        n++;
                }
                p += len;
        }
        return n;
}

static int start_failed(brigd *d, const char *what, const char **why) {
        if (d->pid > 0) {
                (void) kill(d->pid, SIGKILL);
                (void) waitpid(d->pid, NULL, 0);
                d->pid = 0;
        }
        print_stderr_tail(d, what);
        *why = NULL;
        if (getpid() == harness_pid)
                fail_msg("brigd %s (BRIG_TEST_MODE=%s)", what,
                         getenv("BRIG_TEST_MODE") ? getenv("BRIG_TEST_MODE") : "");
        return -1;
}

/* Runs `argv` with its output discarded; true when it exits 0. */
static bool runs_ok(const char *const *argv) {
        int st;
        pid_t pid = fork();

        if (pid < 0)
                return false;
        if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 1);
                dup2(devnull, 2);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return false;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The one privilege a mode may lack without that being brig's fault: a mode this host cannot run is a skip
 * (with the reason), decided before brigd starts so that brigd's own failures stay failures. */
static const char *mode_unavailable(const char *mode) {
        static const char *const setpriv_true[] = {
                "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "true", NULL};
        static const char *const userns_true[] = {"unshare", "-r", "--", "true", NULL};
        static const char *const userns_as_nobody[] = {"setpriv",
                                                       "--reuid=65534",
                                                       "--regid=65534",
                                                       "--clear-groups",
                                                       "--",
                                                       "unshare",
                                                       "-r",
                                                       "--",
                                                       "true",
                                                       NULL};

        static const char *cached;
        static bool probed;

        if (!mode)
                return NULL;
        /* One probe per test process: the host does not change between its tests. */
        if (probed)
                return cached;
        probed = true;
        if (strcmp(mode, "setpriv") == 0) {
                if (geteuid() != 0)
                        cached = "BRIG_TEST_MODE=setpriv needs root";
                else if (!runs_ok(setpriv_true))
                        cached = "setpriv(1) is not installed or cannot change ids here";
        }
        if (strcmp(mode, "userns") == 0) {
                if (access("/usr/bin/unshare", X_OK) < 0)
                        cached = "unshare(1) not installed";
                else if (!runs_ok(geteuid() == 0 ? userns_as_nobody : userns_true))
                        cached = "user namespaces are not available to unprivileged users here (unshare -r "
                                 "fails)";
        }
        return cached;
}

static int brigd_spawn(brigd *d, const char **why) {
        const char *mode = getenv("BRIG_TEST_MODE");
        char brigd_path[512], helper[512];
        int errpipe[2];

        snprintf(brigd_path, sizeof(brigd_path), "%s/brigd", build_dir());
        /* BRIG_JAIL_HELPER: another build's brig-jail (the TSan build's brigd with the plain build's helper:
         * the TSan runtime cannot run in the jail's init, and the helper has no threads to check). */
        if (getenv("BRIG_JAIL_HELPER"))
                snprintf(helper, sizeof(helper), "%s", getenv("BRIG_JAIL_HELPER"));
        else
                snprintf(helper, sizeof(helper), "%s/brig-jail", build_dir());
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -1;
        d->pid = fork();
        if (d->pid == 0) {
                const char *args[64];
                int n = 0;
                if (mode && strcmp(mode, "setpriv") == 0) {
                        args[n++] = "setpriv";
                        args[n++] = "--reuid=65534";
                        args[n++] = "--regid=65534";
                        args[n++] = "--clear-groups";
                        args[n++] = "--pdeathsig=TERM";
                        args[n++] = "--";
                } else if (mode && strcmp(mode, "userns") == 0) {
                        /* As a developer would: an unprivileged user who is "root" only in its own user
                         * namespace. When the suite runs as root, become nobody first. */
                        if (geteuid() == 0) {
                                args[n++] = "setpriv";
                                args[n++] = "--reuid=65534";
                                args[n++] = "--regid=65534";
                                args[n++] = "--clear-groups";
                                args[n++] = "--";
                        }
                        args[n++] = "unshare";
                        args[n++] = "-r";
                        args[n++] = "--";
                        /* Entering the user namespace cleared the death signal: set it again inside. */
                        args[n++] = "setpriv";
                        args[n++] = "--pdeathsig=TERM";
                        args[n++] = "--";
                }
                args[n++] = brigd_path;
                args[n++] = "--socket";
                args[n++] = d->socket;
                args[n++] = "--audit";
                args[n++] = d->audit;
                args[n++] = "--state-dir";
                args[n++] = d->state;
                args[n++] = "--policy";
                args[n++] = d->policy;
                args[n++] = "--jail-helper";
                args[n++] = helper;
                for (const char *const *e = d->extra_args; e && *e && n < 62; e++)
                        args[n++] = *e;
                args[n++] = NULL;
                /* A test killed midway (a timeout, a failed assertion in a test with a brigd of its own)
                 * must not leave its brigd behind. An id change clears this again: setpriv sets it anew
                 * after its own and inside `unshare -r`. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
                dup2(errpipe[1], 2);
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 1);
                /* A marker the jail must never see. */
                setenv("BRIG_TEST_WORKER_SECRET", "hunter2", 1);
                execvp(args[0], (char *const *) args);
                _exit(127);
        }
        close(errpipe[1]);
        d->stderr_fd = errpipe[0];
        (void) fcntl(d->stderr_fd, F_SETFL, O_NONBLOCK);
        /* Read only when brigd stops: room for its warnings and a sanitizer's reports, so it never blocks.
         */
        (void) fcntl(d->stderr_fd, F_SETPIPE_SZ, 1 << 20);
        /* Readiness, not timing: wait until the socket accepts, or brigd exits. The bound only keeps a hung
         * brigd from hanging the suite; it is generous for a loaded machine and the sanitizer build. */
        for (long deadline = now_ms() + 60000; now_ms() < deadline;) {
                int st;
                if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
                        d->pid = 0;
                        return start_failed(
                                d, WIFSIGNALED(st) ? "was killed by a signal at start" : "exited at start",
                                why);
                }
                int fd = client_connect(d);
                if (fd >= 0) {
                        close(fd);
                        return 0;
                }
                usleep(10000);
        }
        return start_failed(d, "did not listen within 60 s", why);
}

int brigd_restart(brigd *d, const char **why) {
        if (d->stderr_fd >= 0)
                close(d->stderr_fd);
        d->stderr_fd = -1;
        return brigd_spawn(d, why);
}

int brigd_start(brigd *d, const char *policy, const char **why) {
        return brigd_start_args(d, policy, NULL, why);
}

int brigd_start_args(brigd *d, const char *policy, const char *const *extra_args, const char **why) {
        const char *mode = getenv("BRIG_TEST_MODE");
        char policy_path[512];

        memset(d, 0, sizeof(*d));
        d->stderr_fd = -1;
        d->extra_args = extra_args;
        if ((*why = mode_unavailable(mode)))
                return -1;
        strcpy(d->dir, "/tmp/brig-itest-XXXXXX");
        if (!mkdtemp(d->dir)) {
                *why = "mkdtemp failed";
                return -1;
        }
        /* Jails run as another uid: it must be able to pass through to the workspaces. */
        (void) chmod(d->dir, 0755);
        snprintf(d->socket, sizeof(d->socket), "%s/brig.sock", d->dir);
        snprintf(d->audit, sizeof(d->audit), "%s/audit.jsonl", d->dir);
        snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
        if (policy && policy[0] == '/')
                snprintf(policy_path, sizeof(policy_path), "%s", policy);
        else
                snprintf(policy_path, sizeof(policy_path), "%s/policies/%s.json", source_dir(),
                         policy ? policy : "default");
        if (mode && geteuid() == 0 && (strcmp(mode, "setpriv") == 0 || strcmp(mode, "userns") == 0))
                (void) !chown(d->dir, 65534, 65534);

        snprintf(d->policy, sizeof(d->policy), "%s", policy_path);
        return brigd_spawn(d, why);
}

/* A brigd that was killed (fault tests) left its environments' groups: empty once their inits saw it go,
 * but nobody else removes them, as each test's state directory names a new instance. Left to pile up,
 * they slow every v1 cpu quota write and memory cgroup creation on the host. */
static void remove_cgroups(const brigd *d) {
        brig_cgroup_root root;
        char instance[32];

        if (brig_cgroup_instance_name(d->state, instance, sizeof(instance)) < 0)
                return;
        /* Removes the instance's empty groups, as a new brigd of this state directory would. */
        brig_cgroup_detect(instance, &root);
        if (root.mode == BRIG_CGROUP_NONE)
                return;
        for (size_t i = 0; i < _BRIG_CG_MAX; i++)
                (void) rmdir(root.base[i]);
}

static void unmount_workspaces(const brigd *d) {
        char envs[256], ws[1024];
        DIR *dir;
        struct dirent *de;

        snprintf(envs, sizeof(envs), "%s/environments", d->state);
        if (!(dir = opendir(envs)))
                return;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.' || strncmp(de->d_name, ".spare", 6) == 0) {
                        snprintf(ws, sizeof(ws), "%s/%s/workspace", envs, de->d_name);
                        (void) brig_wsimage_unmount(ws);
                }
        closedir(dir);
}

/* Every event brigd recorded is of a type in the audit event table (worker/audit_events.c), and has only
 * members of that type's row besides the envelope: what docs/protocol.md documents is what brigd writes.
 * Lines that are not JSON objects with a "type" are left to the tests that damage the log on purpose. */
static void check_audit_log(const brigd *d) {
        static const char *const envelope[] = {"version", "seq", "ts", "prev", "hash", "type"};
        FILE *f = fopen(d->audit, "re");
        char *line = NULL;
        size_t cap = 0;

        for (; f && getline(&line, &cap, f) > 0;) {
                cJSON *ev = cJSON_Parse(line);
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type"), *m;
                const brig_audit_type_info *t = NULL;
                const char *bad = NULL;

                for (size_t i = 0; cJSON_IsString(type) && i < _BRIG_AUDIT_TYPE_MAX; i++)
                        if (strcmp(brig_audit_types[i].name, type->valuestring) == 0)
                                t = &brig_audit_types[i];
                if (cJSON_IsString(type) && !t)
                        bad = "type";
                const cJSON *members = t ? ev : NULL;
                cJSON_ArrayForEach (m, members) {
                        bool known = false;
                        for (size_t i = 0; i < sizeof(envelope) / sizeof(*envelope); i++)
                                known = known || strcmp(m->string, envelope[i]) == 0;
                        for (const char *const *field = t->fields; *field; field++)
                                known = known || strcmp(m->string, *field) == 0;
                        if (!known && !bad)
                                bad = m->string;
                }
                if (bad && getpid() == harness_pid) {
                        fprintf(stderr, "audit log %s: %s is not in worker/audit_events.c: %s", d->audit,
                                bad, line);
                        fail_msg("audit event with a %s not in the event table", bad);
                }
                cJSON_Delete(ev);
        }
        free(line);
        if (f)
                fclose(f);
}

int brigd_stop(brigd *d) {
        int st = -1;

        if (d->pid > 0) {
                kill(d->pid, SIGTERM);
                while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
                        ;
                d->pid = 0;
                /* A sanitizer's report (ASan, UBSan) is the only account of why. */
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        print_stderr_tail(d, "exited badly");
                } else {
                        char *err = read_stderr(d);
                        if (err && print_tsan_reports(err) > 0)
                                st = 1 << 8; /* exit status 1 */
                        free(err);
                }
        }
        if (d->stderr_fd >= 0)
                close(d->stderr_fd);
        d->stderr_fd = -1;
        /* Workspaces on filesystem images (hard quotas, brigd as root) stay mounted after brigd: unmount
         * them first, or the removal leaves them and their loop devices behind. */
        if (d->dir[0])
                unmount_workspaces(d);
        if (d->dir[0])
                check_audit_log(d);
        if (d->dir[0])
                remove_cgroups(d);
        if (d->dir[0])
                (void) brig_rm_rf(d->dir);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int client_connect(const brigd *d) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->socket);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

int client_send(int fd, const char *json) {
        size_t len = strlen(json);
        char *buf = malloc(len + 1);
        memcpy(buf, json, len);
        buf[len] = '\n';
        for (size_t off = 0; off < len + 1;) {
                ssize_t n = send(fd, buf + off, len + 1 - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(buf);
                        return -errno;
                }
                off += (size_t) n;
        }
        free(buf);
        return 0;
}

/* One pending-bytes buffer per fd is enough for these tests. `scanned` avoids rescanning a long line that
 * arrives in many pieces (a 60 MB result would otherwise cost quadratic time). */
static struct {
        int fd;
        char *buf;
        size_t len, cap, scanned;
} pending[64];

cJSON *client_recv(int fd, int timeout_ms) {
        size_t slot = 0;
        for (; slot < 64; slot++)
                if (pending[slot].fd == fd && pending[slot].buf)
                        break;
        if (slot == 64)
                for (slot = 0; slot < 64 && pending[slot].buf; slot++)
                        ;
        if (slot == 64)
                return NULL;
        pending[slot].fd = fd;
        long deadline = now_ms() + timeout_ms;
        for (;;) {
                char *base = pending[slot].buf;
                char *nl = base ? memchr(base + pending[slot].scanned, '\n',
                                         pending[slot].len - pending[slot].scanned)
                                : NULL;
                if (nl) {
                        size_t n = (size_t) (nl - base);
                        cJSON *o = cJSON_ParseWithLength(base, n);
                        memmove(base, nl + 1, pending[slot].len - n - 1);
                        pending[slot].len -= n + 1;
                        pending[slot].scanned = 0;
                        return o;
                }
                pending[slot].scanned = pending[slot].len;
                long left = deadline - now_ms();
                if (left <= 0)
                        return NULL;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, (int) left) <= 0)
                        return NULL;
                if (pending[slot].len + 65536 > pending[slot].cap) {
                        size_t cap = pending[slot].cap ? pending[slot].cap * 2 : 1 << 20;
                        pending[slot].buf = realloc(pending[slot].buf, cap);
                        pending[slot].cap = cap;
                }
                ssize_t r = recv(fd, pending[slot].buf + pending[slot].len, 65536, 0);
                if (r <= 0) {
                        free(pending[slot].buf);
                        pending[slot].buf = NULL;
                        pending[slot].len = pending[slot].cap = pending[slot].scanned = 0;
                        return NULL;
                }
                pending[slot].len += (size_t) r;
        }
}

cJSON *client_initialize(int fd, const char *meta_json) {
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"itest\",\"version\":\"1\"}%"
                 "s%s}}",
                 meta_json ? ",\"_meta\":" : "", meta_json ? meta_json : "");
        if (client_send(fd, msg) < 0)
                return NULL;
        cJSON *resp = client_recv(fd, 10000);
        if (!resp || !cJSON_GetObjectItem(resp, "result")) {
                cJSON_Delete(resp);
                return NULL;
        }
        client_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        return resp;
}

cJSON *client_call(int fd, int id, const char *arguments_json, const char *meta_json, cJSON **ret_notes) {
        return client_tool_call(fd, id, "exec", arguments_json, meta_json, ret_notes);
}

cJSON *client_tool_call(int fd, int id, const char *tool, const char *arguments_json, const char *meta_json,
                        cJSON **ret_notes) {
        size_t len = strlen(arguments_json) + strlen(tool) + 512;
        char *msg = malloc(len);
        cJSON *notes = cJSON_CreateArray();

        snprintf(msg, len,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                 "\"arguments\":%s%s%s}}",
                 id, tool, arguments_json, meta_json ? ",\"_meta\":" : "", meta_json ? meta_json : "");
        int r = client_send(fd, msg);
        free(msg);
        if (r < 0)
                return NULL;
        for (;;) {
                cJSON *m = client_recv(fd, 60000);
                if (!m)
                        break;
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id && !cJSON_GetObjectItem(m, "method")) {
                        if (ret_notes)
                                *ret_notes = notes;
                        else
                                cJSON_Delete(notes);
                        return m;
                }
                cJSON_AddItemToArray(notes, m);
        }
        cJSON_Delete(notes);
        return NULL;
}

const cJSON *result_sc(const cJSON *resp) {
        return cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "result"), "structuredContent");
}

const char *sc_str(const cJSON *resp, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(result_sc(resp), key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sc_int(const cJSON *resp, const char *key) {
        const cJSON *v = cJSON_GetObjectItem(result_sc(resp), key);
        return cJSON_IsNumber(v) ? v->valueint : -1000;
}

bool result_is_error(const cJSON *resp) {
        return cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "result"), "isError"));
}

int count_processes(const char *needle) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int count = 0;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char path[300], buf[4096];
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n <= 0)
                        continue;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == 0)
                                buf[i] = ' ';
                buf[n] = 0;
                if (strstr(buf, needle))
                        count++;
        }
        closedir(d);
        return count;
}

int client_rpc_send(int fd, const char *method, const char *params_json) {
        static int next_id = 900000;
        size_t len = strlen(method) + strlen(params_json) + 128;
        char *msg = malloc(len);

        assert_non_null(msg);
        snprintf(msg, len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", next_id,
                 method, params_json);
        assert_int_equal(client_send(fd, msg), 0);
        free(msg);
        return next_id++;
}

cJSON *client_rpc_wait(int fd, int id) {
        for (;;) {
                cJSON *m = client_recv(fd, 60000);
                assert_non_null(m);
                cJSON *mid = cJSON_GetObjectItem(m, "id");
                if (cJSON_IsNumber(mid) && mid->valueint == id)
                        return m;
                cJSON_Delete(m);
        }
}

cJSON *client_rpc(int fd, const char *method, const char *params_json) {
        return client_rpc_wait(fd, client_rpc_send(fd, method, params_json));
}

int client_send_fd(int fd, int pass) {
        return brig_fdpass_send(fd, pass);
}

void client_pass_fd(int fd, int pass) {
        cJSON *m = client_rpc(fd, "brig/descriptor.pass", "{}");
        cJSON *res = cJSON_GetObjectItem(m, "result");
        if (!cJSON_IsTrue(cJSON_GetObjectItem(res, "ready"))) {
                char *t = cJSON_PrintUnformatted(m);
                fail_msg("descriptor.pass: %s", t);
        }
        cJSON_Delete(m);
        assert_int_equal(client_send_fd(fd, pass), 0);
}

void brigd_restart_with(brigd *d, const char *var, const char *value) {
        const char *why = NULL;
        if (d->pid > 0)
                assert_int_equal(brigd_stop(d), 0);
        if (value)
                setenv(var, value, 1);
        else
                unsetenv(var);
        assert_int_equal(brigd_restart(d, &why), 0);
}

int client_attach(const brigd *d, const char *env, const char *skip_why) {
        char meta[256] = "{}";

        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        if (env)
                snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

cJSON *client_tool_sc(int fd, const char *name, const char *args) {
        static int id = 7000;
        cJSON *r = client_tool_call(fd, id++, name, args, NULL, NULL);
        assert_non_null(r);
        if (result_is_error(r)) {
                char *t = cJSON_PrintUnformatted(r);
                fail_msg("%s %s: %s", name, args, t);
        }
        cJSON *sc = cJSON_Duplicate(result_sc(r), true);
        cJSON_Delete(r);
        return sc;
}

bool client_env_listed(int fd, const char *id) {
        cJSON *m = client_rpc(fd, "brig/environment.list", "{}"), *e;
        bool found = false;
        cJSON_ArrayForEach (e, cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "environments"))
                found |= strcmp(cJSON_GetObjectItem(e, "id")->valuestring, id) == 0;
        cJSON_Delete(m);
        return found;
}

char *client_history_ids(int fd) {
        cJSON *sc = client_tool_sc(fd, "history", "{\"limit\":1000}"), *s;
        char *out = calloc(1, 64 * 1024);
        assert_non_null(out);
        cJSON_ArrayForEach (s, cJSON_GetObjectItem(sc, "snapshots")) {
                strcat(out, cJSON_GetObjectItem(s, "id")->valuestring);
                strcat(out, " ");
        }
        cJSON_Delete(sc);
        return out;
}

char *client_tree_hash(int fd) {
        return strdup(client_sh(
                fd, "cd /workspace && find . -mindepth 1 -printf '%p %y %m %l\\n' | LC_ALL=C sort | "
                    "sha256sum && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | "
                    "sha256sum"));
}

void client_pack_dir(int fd, const char *env, char *dir, size_t size) {
        char params[128];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", env);
        cJSON *m = client_rpc(fd, "brig/environment.info", params);
        const cJSON *ws = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "workspace");
        assert_true(cJSON_IsString(ws));
        snprintf(dir, size, "%s/../history.git/objects/pack", ws->valuestring);
        cJSON_Delete(m);
}

/* The name of the first pack-*.pack in dir into name ("" when there is none). */
static void pack_find(const char *dir, char *name, size_t size) {
        DIR *dp = opendir(dir);
        name[0] = 0;
        for (struct dirent *de; dp && (de = readdir(dp));)
                if (strncmp(de->d_name, "pack-", 5) == 0 && strstr(de->d_name, ".pack")) {
                        snprintf(name, size, "%s", de->d_name);
                        break;
                }
        if (dp)
                closedir(dp);
}

void client_wait_packed(int fd, const char *env, char *name, size_t size) {
        char dir[PATH_MAX];

        client_pack_dir(fd, env, dir, sizeof(dir));
        for (int i = 0; i < 600; i++) {
                pack_find(dir, name, size);
                if (name[0])
                        return;
                usleep(100 * 1000);
        }
        fail_msg("no pack in %s after a minute at rest", dir);
}

cJSON *client_shf(int fd, int id, const char *fmt, ...) {
        char command[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(command, sizeof(command), fmt, ap);
        va_end(ap);
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, id, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        return r;
}

cJSON *audit_events_read(const brigd *d, const char *type, const char *host) {
        cJSON *out = cJSON_CreateArray();
        FILE *f = fopen(d->audit, "re");
        char *line = NULL;
        size_t cap = 0;

        while (f && getline(&line, &cap, f) > 0) {
                cJSON *ev = cJSON_Parse(line);
                const cJSON *t = cJSON_GetObjectItem(ev, "type");
                const cJSON *h = cJSON_GetObjectItem(ev, "host");
                if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 &&
                    (!host || (cJSON_IsString(h) && strcmp(h->valuestring, host) == 0)))
                        cJSON_AddItemToArray(out, ev);
                else
                        cJSON_Delete(ev);
        }
        free(line);
        if (f)
                fclose(f);
        return out;
}

cJSON *audit_events_wait(const brigd *d, const char *type, const char *host) {
        cJSON *out = audit_events_read(d, type, host);
        for (int i = 0; i < 60 && cJSON_GetArraySize(out) == 0; i++) {
                usleep(50 * 1000);
                cJSON_Delete(out);
                out = audit_events_read(d, type, host);
        }
        return out;
}

const char *client_sh(int fd, const char *command) {
        static char out[65536];
        static int id = 800000;
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *json = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, id++, json, NULL, NULL);
        free(json);
        cJSON_Delete(args);
        assert_non_null(r);
        if (sc_int(r, "exit_code") != 0)
                fail_msg("%s: exit %d, stderr %s", command, sc_int(r, "exit_code"), sc_str(r, "stderr"));
        snprintf(out, sizeof(out), "%s", sc_str(r, "stdout") ? sc_str(r, "stdout") : "");
        cJSON_Delete(r);
        return out;
}

int run_shell(char *out, size_t size, const char *fmt, ...) {
        char cmd[8192];
        va_list ap;
        FILE *p;
        size_t n;
        int st;

        va_start(ap, fmt);
        (void) vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_non_null(p = popen(cmd, "r"));
        n = fread(out, 1, size - 1, p);
        out[n] = 0;
        /* The rest unread would block the command on a full pipe. */
        while (fgetc(p) != EOF)
                ;
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool file_contains(const char *path, const char *needle) {
        char buf[4096];
        bool found = false;
        FILE *f = fopen(path, "re");

        if (!f)
                return false;
        while (!found && fgets(buf, sizeof(buf), f))
                found = strstr(buf, needle) != NULL;
        fclose(f);
        return found;
}

bool loop_backed_below(const char *dir) {
        char path[64];
        for (int i = 0; i < 1024; i++) {
                snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", i);
                if (file_contains(path, dir))
                        return true;
        }
        return false;
}

int ready_copies(const char *dir, ino_t *inodes, int max) {
        int n = 0;

        for (int i = 0; i < 1000 && n < max; i++) {
                DIR *d = opendir(dir);
                struct dirent *de;
                n = 0;
                while (d && (de = readdir(d)))
                        if (strlen(de->d_name) > 4 &&
                            strcmp(de->d_name + strlen(de->d_name) - 4, ".img") == 0 && n < max)
                                inodes[n++] = de->d_ino;
                if (d)
                        closedir(d);
                if (n < max)
                        usleep(10000);
        }
        return n;
}

int count_fds(pid_t pid) {
        char path[64];
        int n = 0;
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *dir = opendir(path);
        if (!dir)
                return -1;
        for (struct dirent *de; (de = readdir(dir));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return n;
}

bool client_wait_stepped_away(int fd, const char *env) {
        char params[160];
        snprintf(params, sizeof(params), "{\"id\":\"%s\"}", env);
        cJSON *m = client_rpc(fd, "brig/environment.info", params);
        const cJSON *pid = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "init_pid");
        pid_t init = cJSON_IsNumber(pid) ? (pid_t) pid->valueint : 0;
        cJSON_Delete(m);
        /* While connected: the listening socket and brigd's connection. */
        for (int i = 0; init > 0 && i < 600; i++) {
                if (count_fds(init) == 1)
                        return true;
                usleep(100000);
        }
        return false;
}
