/* SPDX-License-Identifier: MIT */
/* Unit tests for common/paths.c: the default socket path for root and for other users (XDG_RUNTIME_DIR
 * set, unset or relative), and the client's order --socket > $BRIG_SOCKET > the default path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/paths.h"

static void expect_default(const char *want) {
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_free_ char *p = NULL;
        assert_int_equal(brig_default_socket_path(&p, &err), 0);
        assert_string_equal(p, want);
}

static void test_paths__default_follows_the_uid_and_xdg_runtime_dir(void **state) {
        (void) state;
        char want[128];

        setenv("XDG_RUNTIME_DIR", "/run/user/4321", 1);
        if (brig_host_root()) {
                /* Root ignores XDG_RUNTIME_DIR: one system socket whatever the login's environment. */
                expect_default("/run/brig/brig.sock");
                return;
        }
        /* uid 0 of a user namespace (`unshare -r`) is a user: its socket is in its runtime directory. */
        expect_default("/run/user/4321/brig/brig.sock");
        snprintf(want, sizeof(want), "/run/user/%u/brig/brig.sock", (unsigned) geteuid());
        unsetenv("XDG_RUNTIME_DIR");
        expect_default(want);
        setenv("XDG_RUNTIME_DIR", "relative", 1);
        expect_default(want);
}

static void test_paths__client_order_is_flag_then_env_then_default(void **state) {
        (void) state;
        brig_error err = BRIG_ERROR_INIT;
        const char *source = NULL;
        char *p = NULL, *def = NULL;

        assert_int_equal(brig_default_socket_path(&def, &err), 0);
        setenv("BRIG_SOCKET", "/e.sock", 1);
        assert_int_equal(brig_client_socket_path("/f.sock", &p, &source, &err), 0);
        assert_string_equal(p, "/f.sock");
        assert_string_equal(source, "--socket");
        free(p);
        assert_int_equal(brig_client_socket_path(NULL, &p, &source, &err), 0);
        assert_string_equal(p, "/e.sock");
        assert_string_equal(source, "$BRIG_SOCKET");
        free(p);
        /* Empty counts as unset, as a launcher's "BRIG_SOCKET=" would mean. */
        setenv("BRIG_SOCKET", "", 1);
        assert_int_equal(brig_client_socket_path(NULL, &p, &source, &err), 0);
        assert_string_equal(p, def);
        assert_string_equal(source, "the default path");
        free(p);
        free(def);
        unsetenv("BRIG_SOCKET");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths__default_follows_the_uid_and_xdg_runtime_dir),
                cmocka_unit_test(test_paths__client_order_is_flag_then_env_then_default),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
