/* SPDX-License-Identifier: MIT */
/* Flow control against a real brigd: a client that stops reading makes the worker stop reading the
 * command (which then blocks on its full pipe) instead of buffering without bound; once the client reads
 * again, everything arrives. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

#define FLOOD_BYTES 60000000

static long rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

/* brigd's own pid: under setpriv/unshare the harness's child execs into brigd, so it is d.pid. */
static void test_flow__slow_client_pauses_the_command(void **state) {
        (void) state;
        char policy[] = "/tmp/brig-flow-policy-XXXXXX";
        const char *why = NULL;
        brigd d;

        /* The default policy with room for all of the flood in the result. */
        int pfd = mkstemp(policy);
        const char *text =
                "{\"filesystem\":{\"read_only\":[\"/usr\",\"/bin\",\"/lib\",{\"source\":\"/lib64\","
                "\"optional\":true}]},\"limits\":{\"output\":\"64M\"}}";
        assert_true(write(pfd, text, strlen(text)) == (ssize_t) strlen(text));
        close(pfd);
        chmod(policy, 0644);
        if (brigd_start(&d, policy, &why) < 0) {
                unlink(policy);
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
        int fd = client_connect(&d);
        /* A small receive buffer, so the kernel cannot absorb the flood for us. */
        int small = 64 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        cJSON_Delete(client_initialize(fd, "{\"brig/output\":true}"));
        long before = rss_kib(d.pid);

        char msg[512];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"command\":\"head -c %d /dev/zero | tr '\\\\0' a\"},"
                 "\"_meta\":{\"progressToken\":1}}}",
                 FLOOD_BYTES);
        assert_int_equal(client_send(fd, msg), 0);

        /* Do not read. Wait until the command has been running a while; it must still be running (blocked).
         */
        char needle[64];
        snprintf(needle, sizeof(needle), "head -c %d", FLOOD_BYTES);
        int running = 0;
        for (int i = 0; i < 300 && running == 0; i++) {
                running = count_processes(needle);
                usleep(10000);
        }
        assert_true(running >= 1);
        sleep(2);
        assert_true(count_processes(needle) >= 1);
        long during = rss_kib(d.pid);
        fprintf(stderr, "# brigd RSS before %ld KiB, while the client is not reading %ld KiB\n", before,
                during);
        /* Unbounded buffering would hold the 60 MB output several times over (result, progress,
         * brig/output). */
        assert_true(during - before < 40 * 1024);

        /* Read everything: the call completes with the whole output. */
        cJSON *resp = NULL;
        long streamed = 0;
        for (;;) {
                cJSON *m = client_recv(fd, 60000);
                assert_non_null(m);
                cJSON *method = cJSON_GetObjectItem(m, "method");
                if (cJSON_IsString(method) && strcmp(method->valuestring, "brig/output") == 0)
                        streamed += (long) strlen(
                                cJSON_GetObjectItem(cJSON_GetObjectItem(m, "params"), "data")->valuestring);
                if (!method) {
                        resp = m;
                        break;
                }
                cJSON_Delete(m);
        }
        assert_int_equal(sc_int(resp, "exit_code"), 0);
        assert_int_equal(sc_int(resp, "stdout_bytes"), FLOOD_BYTES);
        assert_int_equal(strlen(sc_str(resp, "stdout")), FLOOD_BYTES);
        assert_int_equal(streamed, FLOOD_BYTES);
        cJSON_Delete(resp);
        close(fd);
        assert_int_equal(brigd_stop(&d), 0);
        unlink(policy);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_flow__slow_client_pauses_the_command),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
