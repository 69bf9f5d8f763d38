/* SPDX-License-Identifier: MIT */
/* Unit tests for sandbox/cgroup.c's renaming of a group (an adopted spare's), on plain directories standing
 * in for cgroupfs: v2's one directory listed thrice moves once, v1's three each move, and a group that
 * cannot take the name keeps its old path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/cgroup.h"

typedef struct fixture {
        char top[64];
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->top, "/tmp/brig-cgroup-XXXXXX");
        assert_non_null(mkdtemp(f->top));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        assert_int_equal(brig_rm_rf(f->top), 0);
        free(f);
        return 0;
}

static void make_dir(const fixture *f, const char *name, char *ret, size_t size) {
        (void) snprintf(ret, size, "%s/%s", f->top, name);
        assert_int_equal(mkdir(ret, 0755), 0);
}

static bool is_dir(const fixture *f, const char *name) {
        char path[128];
        struct stat st;

        (void) snprintf(path, sizeof(path), "%s/%s", f->top, name);
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_cgroup__rename_v2_moves_the_one_directory_once(void **state) {
        fixture *f = *state;
        brig_cgroup cg = {.mode = BRIG_CGROUP_V2, .oom_fd = -1};
        char want[128];

        make_dir(f, ".spare-1", cg.path[BRIG_CG_MEMORY], sizeof(cg.path[0]));
        strcpy(cg.path[BRIG_CG_PIDS], cg.path[BRIG_CG_MEMORY]);
        strcpy(cg.path[BRIG_CG_CPU], cg.path[BRIG_CG_MEMORY]);
        brig_cgroup_rename(&cg, "work");
        (void) snprintf(want, sizeof(want), "%s/work", f->top);
        for (int i = 0; i < _BRIG_CG_MAX; i++)
                assert_string_equal(cg.path[i], want);
        assert_true(is_dir(f, "work"));
        assert_false(is_dir(f, ".spare-1"));
}

static void test_cgroup__rename_v1_moves_each_hierarchy(void **state) {
        fixture *f = *state;
        brig_cgroup cg = {.mode = BRIG_CGROUP_V1, .oom_fd = -1};
        static const char *const ctl[] = {"memory", "pids", "cpu"};
        char dir[128], want[128];

        for (int i = 0; i < _BRIG_CG_MAX; i++) {
                make_dir(f, ctl[i], dir, sizeof(dir));
                (void) snprintf(dir, sizeof(dir), "%s/.spare-1", ctl[i]);
                make_dir(f, dir, cg.path[i], sizeof(cg.path[0]));
        }
        brig_cgroup_rename(&cg, "work");
        for (int i = 0; i < _BRIG_CG_MAX; i++) {
                (void) snprintf(want, sizeof(want), "%s/%s/work", f->top, ctl[i]);
                assert_string_equal(cg.path[i], want);
                (void) snprintf(dir, sizeof(dir), "%s/work", ctl[i]);
                assert_true(is_dir(f, dir));
        }
}

/* A name taken already (as v2 refusing every rename): the group keeps its path, and still exists. */
static void test_cgroup__rename_refused_keeps_the_old_path(void **state) {
        fixture *f = *state;
        brig_cgroup cg = {.mode = BRIG_CGROUP_V2, .oom_fd = -1};
        char taken[128], old[sizeof(cg.path[0])], file[160];

        make_dir(f, ".spare-1", cg.path[BRIG_CG_MEMORY], sizeof(cg.path[0]));
        strcpy(cg.path[BRIG_CG_PIDS], cg.path[BRIG_CG_MEMORY]);
        strcpy(cg.path[BRIG_CG_CPU], cg.path[BRIG_CG_MEMORY]);
        memcpy(old, cg.path[0], sizeof(old));
        make_dir(f, "work", taken, sizeof(taken));
        (void) snprintf(file, sizeof(file), "%s/busy", taken);
        FILE *fp = fopen(file, "we");
        assert_non_null(fp);
        (void) fclose(fp);
        brig_cgroup_rename(&cg, "work");
        for (int i = 0; i < _BRIG_CG_MAX; i++)
                assert_string_equal(cg.path[i], old);
        assert_true(is_dir(f, ".spare-1"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cgroup__rename_v2_moves_the_one_directory_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_cgroup__rename_v1_moves_each_hierarchy, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_cgroup__rename_refused_keeps_the_old_path, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
