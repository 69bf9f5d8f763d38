/* SPDX-License-Identifier: MIT */
/* Unit tests for common/log.c: a message reads back as written (quotes, backslashes and control characters
 * escaped, never replaced), cannot forge a key or a second line, and carries the syslog priority of its
 * level when stderr is the journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

static void test_log__quotes_and_backslashes_are_escaped_not_replaced(void **state) {
        char line[256];

        (void) state;
        brig_log_format(line, sizeof(line), "brigd", BRIG_LOG_INFO, "open \"/tmp/a b\": c:\\d", false);
        assert_string_equal(line, "brigd level=info msg=\"open \\\"/tmp/a b\\\": c:\\\\d\"\n");
}

static void test_log__control_characters_cannot_forge_a_line(void **state) {
        char line[256];

        (void) state;
        brig_log_format(line, sizeof(line), "brigd", BRIG_LOG_WARNING,
                        "a\nbrigd level=error msg=\"x\"\t\x01\x7f", false);
        assert_string_equal(
                line, "brigd level=warning msg=\"a\\nbrigd level=error msg=\\\"x\\\"\\t\\x01\\x7f\"\n");
        assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
}

static void test_log__journal_lines_carry_the_priority(void **state) {
        static const struct {
                brig_log_level level;
                const char *want;
        } cases[] = {
                {BRIG_LOG_ERROR, "<3>brig level=error msg=\"m\"\n"},
                {BRIG_LOG_WARNING, "<4>brig level=warning msg=\"m\"\n"},
                {BRIG_LOG_INFO, "<6>brig level=info msg=\"m\"\n"},
                {BRIG_LOG_DEBUG, "<7>brig level=debug msg=\"m\"\n"},
        };
        char line[64];

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                brig_log_format(line, sizeof(line), "brig", cases[i].level, "m", true);
                assert_string_equal(line, cases[i].want);
        }
}

/* Cut to the buffer, still terminated, and the length the whole line needs is returned. */
static void test_log__long_lines_are_cut_and_terminated(void **state) {
        char line[16], big[128];

        (void) state;
        size_t need = brig_log_format(big, sizeof(big), "brig", BRIG_LOG_INFO, "\"\"\"\"", false);
        assert_int_equal(need, strlen(big));
        assert_int_equal(brig_log_format(line, sizeof(line), "brig", BRIG_LOG_INFO, "\"\"\"\"", false),
                         need);
        assert_int_equal(strlen(line), sizeof(line) - 1);
        assert_memory_equal(line, big, sizeof(line) - 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log__quotes_and_backslashes_are_escaped_not_replaced),
                cmocka_unit_test(test_log__control_characters_cannot_forge_a_line),
                cmocka_unit_test(test_log__journal_lines_carry_the_priority),
                cmocka_unit_test(test_log__long_lines_are_cut_and_terminated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
