/* SPDX-License-Identifier: MIT */
/* Unit tests for common/parse.c: whole-string numbers, sizes and durations, overflow at every multiplier,
 * and garbage that must never be half-accepted. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/parse.h"

#define SENTINEL UINT64_C(0xdeadbeefcafe)

static void test_parse__u64_accepts_whole_numbers(void **state) {
        static const struct {
                const char *s;
                uint64_t want;
        } ok[] = {
                {"0", 0}, {"7", 7}, {"007", 7}, {"4096", 4096}, {"18446744073709551615", UINT64_MAX},
        };
        uint64_t v;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                v = SENTINEL;
                assert_int_equal(brig_parse_u64(ok[i].s, &v), 0);
                assert_int_equal(v, ok[i].want);
        }
}

static void test_parse__u64_rejects_garbage(void **state) {
        static const char *const bad[] = {"",   " ",   "-1",  "+1",  " 1",  "1 ",  "0x10",
                                          "1a", "1.0", "1e3", "one", "1\n", "\t1", "١"};
        uint64_t v = SENTINEL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(brig_parse_u64(bad[i], &v), -EINVAL);
                assert_int_equal(v, SENTINEL);
        }
        assert_int_equal(brig_parse_u64(NULL, &v), -EINVAL);
        assert_int_equal(v, SENTINEL);
}

static void test_parse__u64_detects_overflow(void **state) {
        uint64_t v = SENTINEL;

        (void) state;
        assert_int_equal(brig_parse_u64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(brig_parse_u64("18446744073709551620", &v), -ERANGE);
        assert_int_equal(brig_parse_u64("99999999999999999999999999999", &v), -ERANGE);
        assert_int_equal(v, SENTINEL);
}

static void test_parse__int_range(void **state) {
        int v = 42;

        (void) state;
        assert_int_equal(brig_parse_int("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(brig_parse_int("-17", &v), 0);
        assert_int_equal(v, -17);
        assert_int_equal(brig_parse_int("2147483647", &v), 0);
        assert_int_equal(v, INT_MAX);
        assert_int_equal(brig_parse_int("-2147483648", &v), 0);
        assert_int_equal(v, INT_MIN);

        v = 42;
        assert_int_equal(brig_parse_int("2147483648", &v), -ERANGE);
        assert_int_equal(brig_parse_int("-2147483649", &v), -ERANGE);
        assert_int_equal(brig_parse_int("-99999999999999999999999", &v), -ERANGE);
        assert_int_equal(brig_parse_int("-", &v), -EINVAL);
        assert_int_equal(brig_parse_int("--1", &v), -EINVAL);
        assert_int_equal(brig_parse_int("-+1", &v), -EINVAL);
        assert_int_equal(brig_parse_int("+1", &v), -EINVAL);
        assert_int_equal(brig_parse_int("", &v), -EINVAL);
        assert_int_equal(brig_parse_int("1-", &v), -EINVAL);
        assert_int_equal(brig_parse_int(NULL, &v), -EINVAL);
        assert_int_equal(v, 42);
}

static void test_parse__size_units(void **state) {
        static const struct {
                const char *s;
                uint64_t want;
        } ok[] = {
                {"0", 0},
                {"4096", 4096},
                {"1B", 1},
                {"64K", UINT64_C(64) << 10},
                {"64k", UINT64_C(64) << 10},
                {"1KB", UINT64_C(1) << 10},
                {"1KiB", UINT64_C(1) << 10},
                {"512M", UINT64_C(512) << 20},
                {"512MiB", UINT64_C(512) << 20},
                {"2G", UINT64_C(2) << 30},
                {"2GB", UINT64_C(2) << 30},
                {"1T", UINT64_C(1) << 40},
                {"1TiB", UINT64_C(1) << 40},
                {"18446744073709551615", UINT64_MAX},
                {"16777215T", UINT64_C(16777215) << 40},
        };
        uint64_t v;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                v = SENTINEL;
                if (brig_parse_size(ok[i].s, &v) != 0)
                        print_error("rejected \"%s\"\n", ok[i].s);
                assert_int_equal(brig_parse_size(ok[i].s, &v), 0);
                assert_int_equal(v, ok[i].want);
        }
}

static void test_parse__size_detects_overflow(void **state) {
        static const char *const bad[] = {
                "16777216T",          "16777216TiB",          "17179869184G",         "17592186044416M",
                "18014398509481984K", "18446744073709551616", "99999999999999999999M"};
        uint64_t v = SENTINEL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (brig_parse_size(bad[i], &v) != -ERANGE)
                        print_error("\"%s\" not -ERANGE\n", bad[i]);
                assert_int_equal(brig_parse_size(bad[i], &v), -ERANGE);
        }
        assert_int_equal(v, SENTINEL);
        /* The largest representable values at each multiplier still parse. */
        assert_int_equal(brig_parse_size("17179869183G", &v), 0);
        assert_int_equal(v, UINT64_C(17179869183) << 30);
}

static void test_parse__size_rejects_garbage(void **state) {
        static const char *const bad[] = {"",    "M",   "1X",   "1.5G",  "-1M", " 1M",  "1M ",
                                          "1 M", "1MM", "1iB",  "1Bi",   "1PB", "0x1M", "+1M",
                                          "1E",  "1Mi", "1m s", "1GiBB", "G1",  "1\n"};
        uint64_t v = SENTINEL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (brig_parse_size(bad[i], &v) != -EINVAL)
                        print_error("accepted \"%s\"\n", bad[i]);
                assert_int_equal(brig_parse_size(bad[i], &v), -EINVAL);
        }
        assert_int_equal(brig_parse_size(NULL, &v), -EINVAL);
        assert_int_equal(v, SENTINEL);
}

static void test_parse__duration_units(void **state) {
        static const struct {
                const char *s;
                uint64_t want;
        } ok[] = {
                {"0ms", 0},
                {"250ms", 250},
                {"1s", 1000},
                {"30s", 30000},
                {"5m", 300000},
                {"1h", 3600000},
                {"24h", 86400000},
                {"7d", 604800000},
                {"1440m", 86400000},
                {"18446744073709551615ms", UINT64_MAX},
                {"5124095576030h", UINT64_C(5124095576030) * 3600000},
        };
        uint64_t v;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                v = SENTINEL;
                assert_int_equal(brig_parse_duration_ms(ok[i].s, &v), 0);
                assert_int_equal(v, ok[i].want);
        }
}

static void test_parse__duration_needs_a_unit(void **state) {
        static const char *const bad[] = {"30",  "0",   "",    "s",   "1D",   "1S",    "1MS", "1H",  "1.5s",
                                          "-1s", " 1s", "1s ", "1 s", "1sec", "1m30s", "1us", "1ns", "+1s"};
        uint64_t v = SENTINEL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (brig_parse_duration_ms(bad[i], &v) != -EINVAL)
                        print_error("accepted \"%s\"\n", bad[i]);
                assert_int_equal(brig_parse_duration_ms(bad[i], &v), -EINVAL);
        }
        assert_int_equal(brig_parse_duration_ms(NULL, &v), -EINVAL);
        assert_int_equal(v, SENTINEL);
}

static void test_parse__duration_detects_overflow(void **state) {
        static const char *const bad[] = {"5124095576031h", "307445734561826m", "18446744073709552s",
                                          "18446744073709551616ms"};
        uint64_t v = SENTINEL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (brig_parse_duration_ms(bad[i], &v) != -ERANGE)
                        print_error("\"%s\" not -ERANGE\n", bad[i]);
                assert_int_equal(brig_parse_duration_ms(bad[i], &v), -ERANGE);
        }
        assert_int_equal(v, SENTINEL);
        assert_int_equal(brig_parse_duration_ms("18446744073709551s", &v), 0);
        assert_int_equal(v, UINT64_C(18446744073709551000));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse__u64_accepts_whole_numbers),
                cmocka_unit_test(test_parse__u64_rejects_garbage),
                cmocka_unit_test(test_parse__u64_detects_overflow),
                cmocka_unit_test(test_parse__int_range),
                cmocka_unit_test(test_parse__size_units),
                cmocka_unit_test(test_parse__size_detects_overflow),
                cmocka_unit_test(test_parse__size_rejects_garbage),
                cmocka_unit_test(test_parse__duration_units),
                cmocka_unit_test(test_parse__duration_needs_a_unit),
                cmocka_unit_test(test_parse__duration_detects_overflow),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
