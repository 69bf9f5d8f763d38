/* SPDX-License-Identifier: MIT */
/* Audited seccomp denials end to end: a real brigd, a real jail and real denied syscalls. Each denial
 * must fail with the policy's errno, reach the client of the call that caused it (notifications/message)
 * and the audit log with that call's id; a storm of them is bounded in the log and does not stall the
 * worker; a Docker profile cannot take mount out of the audit; seccomp.audit false turns it off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"
#include "worker/denials.h"

/* mount(2) from python3 (in every policy's /usr): prints "<return> <errno>". */
#define MOUNT_ARGV                                                                                          \
        "{\"argv\":[\"python3\",\"-c\",\"import ctypes;l=ctypes.CDLL(None,use_errno=True);"                 \
        "r=l.mount(b'none',b'/tmp',b'tmpfs',0,None);print(r,ctypes.get_errno())\"]}"
/* A system call of another ABI, from python3 through ctypes: x32 (getpid with __X32_SYSCALL_BIT, through
 * libc's syscall()) prints "x32 <return> <errno>"; i386 (getpid, 20 in the i386 table, through int 0x80
 * from a page of machine code) prints "i386 <return>" (the raw -errno). */
#define X32_ARGV                                                                                            \
        "{\"argv\":[\"python3\",\"-c\",\"import ctypes;l=ctypes.CDLL(None,use_errno=True);"                 \
        "r=l.syscall(0x40000000|39);print('x32',r,ctypes.get_errno())\"]}"
#define I386_ARGV                                                                                           \
        "{\"argv\":[\"python3\",\"-c\",\"import ctypes,mmap;m=mmap.mmap(-1,4096,prot=7);"                   \
        "m.write(b'\\\\xb8\\\\x14\\\\x00\\\\x00\\\\x00\\\\xcd\\\\x80\\\\xc3');"                             \
        "f=ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)));"                 \
        "print('i386',f())\"]}"
#define STORM_COUNT 10000
#define STORM_ARGV                                                                                          \
        "{\"argv\":[\"python3\",\"-c\",\"import ctypes;l=ctypes.CDLL(None,use_errno=True);"                 \
        "n=sum(1 for i in range(10000) if l.mount(b'none',b'/tmp',b'tmpfs',0,None)==-1 and "                \
        "ctypes.get_errno()==1);print(n)\"]}"

static void start(brigd *d, const char *policy) {
        const char *why = NULL;
        if (brigd_start(d, policy, &why) < 0) {
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
}

/* brigd with the default policy and a connection to environment env: the connection. */
static int start_in(brigd *d, const char *env) {
        char meta[128];
        start(d, "default");
        int fd = client_connect(d);
        snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        cJSON_Delete(client_initialize(fd, meta));
        return fd;
}

/* A policy file like the default one, with extra seccomp settings; path receives its name. */
static void write_policy(char *path, const char *seccomp_json) {
        char text[1024];
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        int n = snprintf(text, sizeof(text),
                         "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                         "\"optional\":true},{\"source\":\"/etc/ld.so.cache\",\"optional\":true}]},"
                         "\"env\":{\"PATH\":\"/usr/bin:/bin\"},\"seccomp\":%s}",
                         seccomp_json);
        assert_true(write(fd, text, (size_t) n) == n);
        close(fd);
        chmod(path, 0644);
}

/* The audit log's events of a type, as a JSON array (caller frees). */
static cJSON *audit_events(const brigd *d, const char *type) {
        return audit_events_read(d, type, NULL);
}

/* The call_id of the n-th (0-based) call_start of tool exec in the log. */
static double nth_exec_call_id(const brigd *d, int n) {
        cJSON *starts = audit_events(d, "call_start");
        double id = -1;
        const cJSON *ev;
        cJSON_ArrayForEach (ev, starts) {
                const cJSON *tool = cJSON_GetObjectItem(ev, "tool");
                if (cJSON_IsString(tool) && strcmp(tool->valuestring, "exec") == 0 && n-- == 0) {
                        id = cJSON_GetObjectItem(ev, "call_id")->valuedouble;
                        break;
                }
        }
        cJSON_Delete(starts);
        return id;
}

/* The streamed denials among notes: data of notifications/message from logger brig/seccomp. */
static int count_streamed(const cJSON *notes, const char *syscall, int request_id, double *ret_call_id) {
        const cJSON *m;
        int n = 0;
        cJSON_ArrayForEach (m, notes) {
                const cJSON *method = cJSON_GetObjectItem(m, "method");
                if (!cJSON_IsString(method) || strcmp(method->valuestring, "notifications/message") != 0)
                        continue;
                const cJSON *params = cJSON_GetObjectItem(m, "params");
                const cJSON *data = cJSON_GetObjectItem(params, "data");
                assert_string_equal(cJSON_GetObjectItem(params, "level")->valuestring, "warning");
                assert_string_equal(cJSON_GetObjectItem(data, "type")->valuestring, "syscall_denied");
                if (strcmp(cJSON_GetObjectItem(data, "syscall")->valuestring, syscall) != 0)
                        continue;
                assert_int_equal(cJSON_GetObjectItem(data, "requestId")->valueint, request_id);
                assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(data, "args")), 6);
                if (ret_call_id)
                        *ret_call_id = cJSON_GetObjectItem(data, "call_id")->valuedouble;
                n++;
        }
        return n;
}

static const char *stdout_of(const cJSON *resp) {
        const char *s = sc_str(resp, "stdout");
        assert_non_null(s);
        return s;
}

/* A mount call (request id) in fd's environment: refused with EPERM, streamed to its client and audited,
 * once in all. The audited events, which the caller frees. */
static cJSON *mount_denied_once(const brigd *d, int fd, int id) {
        cJSON *notes = NULL;
        cJSON *r = client_call(fd, id, MOUNT_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_string_equal(stdout_of(r), "-1 1\n");
        assert_int_equal(count_streamed(notes, "mount", id, NULL), 1);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        cJSON *denied = audit_events(d, "syscall_denied");
        assert_int_equal(cJSON_GetArraySize(denied), 1);
        return denied;
}

static void test_denials__mount_reaches_its_client_and_the_log(void **state) {
        (void) state;
        brigd d;
        cJSON *notes = NULL;
        double streamed_id = -1;

        start(&d, "default");
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"denials-1\"}"));
        /* Calls that deny nothing, so that ids of the calls differ, and so that the mount runs in the
         * reaper that ran the call before it (sandbox/spawner.c), which must take the mount's call's name.
         */
        cJSON_Delete(client_call(fd, 100, "{\"command\":\"true\"}", NULL, NULL));
        cJSON *r = client_call(fd, 1, "{\"command\":\"true\"}", NULL, &notes);
        assert_int_equal(count_streamed(notes, "mount", 1, NULL), 0);
        assert_null(cJSON_GetObjectItem(result_sc(r), "refused"));
        cJSON_Delete(notes);
        cJSON_Delete(r);

        r = client_call(fd, 2, MOUNT_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_string_equal(stdout_of(r), "-1 1\n");
        assert_int_equal(count_streamed(notes, "mount", 2, &streamed_id), 1);
        /* The call's own result says what was refused, for agents that read only results. */
        const cJSON *refused = cJSON_GetObjectItem(result_sc(r), "refused");
        assert_int_equal(cJSON_GetArraySize(refused), 1);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(refused, 0), "syscall")->valuestring,
                            "mount");
        const cJSON *text = cJSON_GetObjectItem(
                cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "content"), 0),
                "text");
        assert_non_null(strstr(text->valuestring, "the policy refused 1 system call(s) or connection(s)"));
        cJSON_Delete(notes);
        cJSON_Delete(r);

        double call_id = nth_exec_call_id(&d, 2);
        assert_true(call_id > 0);
        assert_true(call_id != nth_exec_call_id(&d, 1));
        assert_true(streamed_id == call_id);
        cJSON *denied = audit_events(&d, "syscall_denied");
        assert_int_equal(cJSON_GetArraySize(denied), 1);
        const cJSON *ev = cJSON_GetArrayItem(denied, 0);
        assert_string_equal(cJSON_GetObjectItem(ev, "syscall")->valuestring, "mount");
        assert_string_equal(cJSON_GetObjectItem(ev, "environment")->valuestring, "denials-1");
        assert_true(cJSON_GetObjectItem(ev, "call_id")->valuedouble == call_id);
        assert_true(cJSON_GetObjectItem(ev, "pid")->valuedouble > 0);
        /* mount(source, target, type, flags, data): flags is 0. */
        assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "args"), 3)->valuestring, "0x0");
        cJSON_Delete(denied);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

/* brigd keeps an idle environment's seccomp listener when it hangs up its control connection
 * (worker/env_control.h): a denial in the call that connects it again is still answered and audited. */
static void test_denials__still_audited_after_brigd_stepped_away(void **state) {
        (void) state;
        brigd d;
        int fd = start_in(&d, "denials-idle");

        cJSON_Delete(client_call(fd, 1, "{\"command\":\"true\"}", NULL, NULL));
        assert_true(client_wait_stepped_away(fd, "denials-idle"));
        cJSON *denied = mount_denied_once(&d, fd, 2);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(denied, 0), "environment")->valuestring,
                            "denials-idle");
        cJSON_Delete(denied);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

/* logging/setLevel above warning stops the streamed denials on that connection only; the call's result still
 * lists them. */
static void test_denials__set_level_filters_messages(void **state) {
        (void) state;
        brigd d;
        cJSON *notes = NULL;
        int fd = start_in(&d, "denials-level");

        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"logging/setLevel\","
                                         "\"params\":{\"level\":\"error\"}}"),
                         0);
        cJSON *ok = client_recv(fd, 10000);
        assert_non_null(cJSON_GetObjectItem(ok, "result"));
        cJSON_Delete(ok);
        cJSON *r = client_call(fd, 2, MOUNT_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_int_equal(count_streamed(notes, "mount", 2, NULL), 0);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(result_sc(r), "refused")), 1);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        /* Back to warning: they stream again. */
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"logging/setLevel\","
                                         "\"params\":{\"level\":\"warning\"}}"),
                         0);
        ok = client_recv(fd, 10000);
        assert_non_null(cJSON_GetObjectItem(ok, "result"));
        cJSON_Delete(ok);
        r = client_call(fd, 3, MOUNT_ARGV, NULL, &notes);
        assert_int_equal(count_streamed(notes, "mount", 3, NULL), 1);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_denials__background_process_is_attributed_to_its_call(void **state) {
        (void) state;
        brigd d;

        start(&d, "default");
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"denials-bg\"}"));
        /* The call returns at once; the denial comes later, from the process it left running. */
        cJSON *r =
                client_call(fd, 5,
                            "{\"background\":true,\"argv\":[\"python3\",\"-c\",\"import ctypes,time;"
                            "time.sleep(0.3);ctypes.CDLL(None).mount(b'none',b'/tmp',b'tmpfs',0,None)\"]}",
                            NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "process_id"), "p1");
        cJSON_Delete(r);
        double call_id = nth_exec_call_id(&d, 0);
        cJSON *denied = NULL;
        for (int i = 0; i < 100; i++) {
                cJSON_Delete(denied);
                denied = audit_events(&d, "syscall_denied");
                if (cJSON_GetArraySize(denied) > 0)
                        break;
                usleep(50 * 1000);
        }
        assert_int_equal(cJSON_GetArraySize(denied), 1);
        const cJSON *ev = cJSON_GetArrayItem(denied, 0);
        assert_string_equal(cJSON_GetObjectItem(ev, "process_id")->valuestring, "p1");
        assert_true(cJSON_GetObjectItem(ev, "call_id")->valuedouble == call_id);
        assert_string_equal(cJSON_GetObjectItem(ev, "environment")->valuestring, "denials-bg");
        cJSON_Delete(denied);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_denials__repl_call_gets_its_denials(void **state) {
        (void) state;
        brigd d;
        cJSON *notes = NULL;

        start(&d, "default");
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        cJSON *r = client_tool_call(fd, 6, "repl",
                                    "{\"language\":\"python\",\"code\":\"import ctypes\\n"
                                    "l=ctypes.CDLL(None,use_errno=True)\\n"
                                    "print(l.mount(b'none',b'/tmp',b'tmpfs',0,None),ctypes.get_errno())\"}",
                                    NULL, &notes);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "output"), "-1 1\n");
        assert_int_equal(count_streamed(notes, "mount", 6, NULL), 1);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void test_denials__storm_is_bounded_and_the_worker_keeps_serving(void **state) {
        (void) state;
        brigd d;
        char msg[1024];

        start(&d, "default");
        int storm = client_connect(&d);
        cJSON_Delete(client_initialize(storm, "{\"brig/environment\":\"storm\"}"));
        int other = client_connect(&d);
        cJSON_Delete(client_initialize(other, "{\"brig/environment\":\"bystander\"}"));
        cJSON_Delete(client_call(other, 1, "{\"command\":\"true\"}", NULL, NULL));

        double t0 = now_s();
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":%s}}",
                 STORM_ARGV);
        assert_int_equal(client_send(storm, msg), 0);
        /* Another client is served while the storm runs. */
        for (int i = 0; i < 5; i++) {
                cJSON *r = client_call(other, 10 + i, "{\"command\":\"echo still here\"}", NULL, NULL);
                assert_non_null(r);
                assert_string_equal(stdout_of(r), "still here\n");
                cJSON_Delete(r);
        }
        cJSON *r = NULL;
        while ((r = client_recv(storm, 120000))) {
                const cJSON *id = cJSON_GetObjectItem(r, "id");
                if (cJSON_IsNumber(id) && id->valueint == 7 && !cJSON_GetObjectItem(r, "method"))
                        break;
                cJSON_Delete(r);
        }
        assert_non_null(r);
        double elapsed = now_s() - t0;
        char want[32];
        snprintf(want, sizeof(want), "%d\n", STORM_COUNT);
        assert_string_equal(stdout_of(r), want);
        cJSON_Delete(r);
        /* The last summary follows a second after the last suppressed denial. */
        usleep(1500 * 1000);

        cJSON *denied = audit_events(&d, "syscall_denied");
        cJSON *summaries = audit_events(&d, "syscall_denied_suppressed");
        int logged = cJSON_GetArraySize(denied);
        double suppressed = 0;
        const cJSON *ev;
        cJSON_ArrayForEach (ev, summaries) {
                assert_string_equal(cJSON_GetObjectItem(ev, "environment")->valuestring, "storm");
                suppressed += cJSON_GetObjectItem(ev, "count")->valuedouble;
        }
        fprintf(stderr, "# storm: %.2f s, %d logged, %.0f suppressed in %d summaries\n", elapsed, logged,
                suppressed, cJSON_GetArraySize(summaries));
        assert_true(logged <= BRIG_DENIALS_BURST + (int) (elapsed * BRIG_DENIALS_RATE) + 1);
        assert_true(cJSON_GetArraySize(summaries) >= 1);
        assert_true(cJSON_GetArraySize(summaries) <= (int) elapsed + 2);
        /* Every denial is accounted for, individually or in a summary. */
        assert_true((double) logged + suppressed == STORM_COUNT);
        cJSON_Delete(denied);
        cJSON_Delete(summaries);
        close(storm);
        close(other);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_denials__docker_profile_keeps_mount_audited(void **state) {
        (void) state;
        brigd d;
        start(&d, "docker-seccomp");
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        cJSON_Delete(mount_denied_once(&d, fd, 3));
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

/* Whether this host runs i386 system calls at all (int 0x80 needs IA32 emulation, which a kernel may lack or
 * switch off): without it the jail's task dies of SIGSEGV before seccomp sees anything. */
static bool host_has_int80(void) {
        return system("python3 -c \"import ctypes,mmap;m=mmap.mmap(-1,4096,prot=7);"
                      "m.write(b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3');"
                      "ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()\" "
                      ">/dev/null 2>&1") == 0;
}

/* The one syscall_denied event of the log from ABI arch. */
static void assert_foreign_event(const brigd *d, const char *arch, double nr, double call_id) {
        cJSON *denied = audit_events(d, "syscall_denied");
        const cJSON *ev, *found = NULL;
        cJSON_ArrayForEach (ev, denied) {
                const cJSON *a = cJSON_GetObjectItem(ev, "arch");
                if (cJSON_IsString(a) && strcmp(a->valuestring, arch) == 0) {
                        assert_null(found);
                        found = ev;
                }
        }
        assert_non_null(found);
        assert_string_equal(cJSON_GetObjectItem(found, "syscall")->valuestring, "getpid");
        assert_true(cJSON_GetObjectItem(found, "nr")->valuedouble == nr);
        assert_true(cJSON_GetObjectItem(found, "call_id")->valuedouble == call_id);
        assert_string_equal(cJSON_GetObjectItem(found, "environment")->valuestring, "denials-abi");
        cJSON_Delete(denied);
}

/* A call of another ABI (x32, or i386 through int 0x80) fails with the policy's errno like any other
 * audited denial, and is reported with its ABI and its number as given, instead of killing the process
 * with nothing in the log. */
static void test_denials__other_abi_is_denied_and_audited(void **state) {
        (void) state;
        brigd d;
        cJSON *notes = NULL;
        double streamed_id = -1;

#ifndef __x86_64__
        skip();
#endif
        start(&d, "default");
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, "{\"brig/environment\":\"denials-abi\"}"));
        cJSON *r = client_call(fd, 7, X32_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_string_equal(stdout_of(r), "x32 -1 1\n");
        assert_int_equal(count_streamed(notes, "getpid", 7, &streamed_id), 1);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        assert_true(streamed_id == nth_exec_call_id(&d, 0));
        assert_foreign_event(&d, "x32", (double) (0x40000000 | 39), streamed_id);

        if (host_has_int80()) {
                r = client_call(fd, 8, I386_ARGV, NULL, &notes);
                assert_non_null(r);
                assert_string_equal(stdout_of(r), "i386 -1\n");
                assert_int_equal(count_streamed(notes, "getpid", 8, &streamed_id), 1);
                cJSON_Delete(notes);
                cJSON_Delete(r);
                assert_true(streamed_id == nth_exec_call_id(&d, 1));
                assert_foreign_event(&d, "i386", 20, streamed_id);
        } else {
                fprintf(stderr, "# no int 0x80 on this host: i386 part not run\n");
        }
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
}

static void test_denials__audit_false_denies_without_reporting(void **state) {
        (void) state;
        char policy[] = "/tmp/brig-denials-policy-XXXXXX";
        brigd d;
        cJSON *notes = NULL;

        write_policy(policy, "{\"audit\":false}");
        start(&d, policy);
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, NULL));
        cJSON *r = client_call(fd, 4, MOUNT_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_string_equal(stdout_of(r), "-1 1\n");
        assert_int_equal(count_streamed(notes, "mount", 4, NULL), 0);
        cJSON_Delete(notes);
        cJSON_Delete(r);
#ifdef __x86_64__
        /* Without an audit there is no listener to answer: a call of another ABI still kills the process. */
        r = client_call(fd, 5, X32_ARGV, NULL, &notes);
        assert_non_null(r);
        assert_string_equal(stdout_of(r), "");
        assert_int_equal(count_streamed(notes, "getpid", 5, NULL), 0);
        cJSON_Delete(notes);
        cJSON_Delete(r);
#endif
        cJSON *denied = audit_events(&d, "syscall_denied");
        assert_int_equal(cJSON_GetArraySize(denied), 0);
        cJSON_Delete(denied);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unlink(policy);
}

/* Runs the brig CLI with args (a shell fragment), returning its exit code and its stdout and stderr. */
static int run_cli(const char *args, char *out, size_t out_size, char *err, size_t err_size) {
        char cmd[2048], err_path[] = "/tmp/brig-denials-err-XXXXXX";
        int efd = mkstemp(err_path);
        assert_true(efd >= 0);
        close(efd);
        /* The CLI runs the way brigd does in this mode (tests/integration/harness.c). */
        const char *mode = getenv("BRIG_TEST_MODE"), *prefix = "";
        if (mode && strcmp(mode, "setpriv") == 0)
                prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups -- ";
        else if (mode && strcmp(mode, "userns") == 0)
                prefix = geteuid() == 0
                                 ? "setpriv --reuid=65534 --regid=65534 --clear-groups -- unshare -r -- "
                                 : "unshare -r -- ";
        chmod(err_path, 0666);
        snprintf(cmd, sizeof(cmd), "cd %s && %s%s/brig %s 2>%s", source_dir(), prefix, build_dir(), args,
                 err_path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, out_size - 1, p);
        out[n] = 0;
        int st = pclose(p);
        FILE *f = fopen(err_path, "r");
        n = f ? fread(err, 1, err_size - 1, f) : 0;
        err[n] = 0;
        if (f)
                fclose(f);
        unlink(err_path);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_denials__cli_reports_one_shot_denials(void **state) {
        (void) state;
        static char out[65536], err[65536];
        const char *mount_py = "python3 -c \"import ctypes;l=ctypes.CDLL(None,use_errno=True);"
                               "print(l.mount(b'none',b'/tmp',b'tmpfs',0,None),ctypes.get_errno())\"";
        char args[1024];

        if (getenv("BRIG_TEST_MODE") && strcmp(getenv("BRIG_TEST_MODE"), "setpriv") == 0 && geteuid() != 0) {
                fprintf(stderr, "# SKIP: BRIG_TEST_MODE=setpriv needs root\n");
                skip();
        }
        /* brig run: the command sees EPERM, stderr names the denied call. */
        snprintf(args, sizeof(args), "run --policy policies/default.json -- %s", mount_py);
        int code = run_cli(args, out, sizeof(out), err, sizeof(err));
        if (code == 125) {
                fprintf(stderr, "# SKIP: no one-shot jail here: %s\n", err);
                skip();
        }
        assert_int_equal(code, 0);
        assert_string_equal(out, "-1 1\n");
        assert_non_null(strstr(err, "brig: denied mount(0x"));
#ifdef __x86_64__
        /* A call of another ABI is denied and reported too, naming the ABI. */
        snprintf(args, sizeof(args),
                 "run --policy policies/default.json -- python3 -c \"import ctypes;"
                 "l=ctypes.CDLL(None,use_errno=True);print(l.syscall(0x40000000|39),ctypes.get_errno())\"");
        assert_int_equal(run_cli(args, out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, "-1 1\n");
        assert_non_null(strstr(err, "brig: denied getpid(0x"));
        assert_non_null(strstr(err, ") from the x32 ABI\n"));
#endif

        /* brig policy test: JSON lines, the denial first, then the exit. */
        snprintf(args, sizeof(args), "policy test policies/docker-seccomp.json -- python3 -c \"%s\"",
                 "import ctypes,sys;ctypes.CDLL(None).mount(b'none',b'/tmp',b'tmpfs',0,None);sys.exit(3)");
        code = run_cli(args, out, sizeof(out), err, sizeof(err));
        assert_int_equal(code, 3);
        char *nl = strchr(out, '\n');
        assert_non_null(nl);
        *nl = 0;
        cJSON *ev = cJSON_Parse(out);
        assert_non_null(ev);
        assert_string_equal(cJSON_GetObjectItem(ev, "type")->valuestring, "syscall_denied");
        assert_string_equal(cJSON_GetObjectItem(ev, "syscall")->valuestring, "mount");
        cJSON_Delete(ev);
        ev = cJSON_Parse(nl + 1);
        assert_non_null(ev);
        assert_string_equal(cJSON_GetObjectItem(ev, "type")->valuestring, "exit");
        assert_int_equal(cJSON_GetObjectItem(ev, "code")->valueint, 3);
        cJSON_Delete(ev);

        /* And what the command did to its workspace, after it exited. */
        snprintf(args, sizeof(args), "policy test policies/strict.json -- sh -c 'mkdir d && echo hi > d/f'");
        code = run_cli(args, out, sizeof(out), err, sizeof(err));
        assert_int_equal(code, 0);
        assert_non_null(strstr(out, "{\"type\":\"exit\",\"code\":0}\n"
                                    "{\"type\":\"workspace_change\",\"change\":\"created\",\"path\":\"d\","
                                    "\"kind\":\"directory\"}\n"
                                    "{\"type\":\"workspace_change\",\"change\":\"created\",\"path\":\"d/f\","
                                    "\"kind\":\"file\",\"bytes\":3}\n"));

        /* With seccomp.audit false nothing is reported, and the call still fails. */
        char policy[] = "/tmp/brig-denials-policy-XXXXXX";
        write_policy(policy, "{\"audit\":false}");
        snprintf(args, sizeof(args), "run --policy %s -- %s", policy, mount_py);
        code = run_cli(args, out, sizeof(out), err, sizeof(err));
        unlink(policy);
        assert_int_equal(code, 0);
        assert_string_equal(out, "-1 1\n");
        assert_null(strstr(err, "denied"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_denials__mount_reaches_its_client_and_the_log),
                cmocka_unit_test(test_denials__still_audited_after_brigd_stepped_away),
                cmocka_unit_test(test_denials__set_level_filters_messages),
                cmocka_unit_test(test_denials__background_process_is_attributed_to_its_call),
                cmocka_unit_test(test_denials__repl_call_gets_its_denials),
                cmocka_unit_test(test_denials__storm_is_bounded_and_the_worker_keeps_serving),
                cmocka_unit_test(test_denials__docker_profile_keeps_mount_audited),
                cmocka_unit_test(test_denials__other_abi_is_denied_and_audited),
                cmocka_unit_test(test_denials__audit_false_denies_without_reporting),
                cmocka_unit_test(test_denials__cli_reports_one_shot_denials),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
