/* SPDX-License-Identifier: MIT */
/* Unit tests for common/handles.c on a real loop: the owner's all_closed runs once, after the last close
 * callback and not before, whatever order the handles close in, and the loop closes cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/handles.h"

typedef struct owner {
        uv_timer_t a, b;
        uv_idle_t c;
        brig_handles handles;
        int all_closed;
        unsigned open_seen; /* hs->open when all_closed ran */
} owner;

static void owner_all_closed(void *userdata) {
        owner *o = userdata;
        o->all_closed++;
        o->open_seen = o->handles.open;
}

BRIG_HANDLES_CLOSED_CB(owner_closed_cb, owner, handles)

static void owner_init(uv_loop_t *loop, owner *o) {
        *o = (owner){0};
        brig_handles_init(&o->handles, owner_all_closed, o);
        assert_int_equal(uv_timer_init(loop, &o->a), 0);
        assert_int_equal(uv_timer_init(loop, &o->b), 0);
        assert_int_equal(uv_idle_init(loop, &o->c), 0);
        o->a.data = o->b.data = o->c.data = o;
        brig_handles_add(&o->handles, 3);
}

static void test_handles__all_closed_once_after_the_last_close(void **state) {
        uv_loop_t loop;
        owner o;

        (void) state;
        assert_int_equal(uv_loop_init(&loop), 0);
        owner_init(&loop, &o);
        assert_false(brig_handles_none(&o.handles));
        uv_close((uv_handle_t *) &o.b, owner_closed_cb);
        uv_close((uv_handle_t *) &o.a, owner_closed_cb);
        assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
        /* Two of three closed: not yet. */
        assert_int_equal(o.all_closed, 0);
        assert_int_equal(o.handles.open, 1);
        uv_close((uv_handle_t *) &o.c, owner_closed_cb);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(o.all_closed, 1);
        assert_int_equal(o.open_seen, 0);
        assert_true(brig_handles_none(&o.handles));
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* Handles counted as they are closed (an owner whose handles are not all initialised) work the same. */
static void test_handles__counted_at_close(void **state) {
        uv_loop_t loop;
        uv_timer_t t;
        owner o = {0};

        (void) state;
        assert_int_equal(uv_loop_init(&loop), 0);
        brig_handles_init(&o.handles, owner_all_closed, &o);
        assert_true(brig_handles_none(&o.handles));
        assert_int_equal(uv_timer_init(&loop, &t), 0);
        t.data = &o;
        brig_handles_add(&o.handles, 1);
        uv_close((uv_handle_t *) &t, owner_closed_cb);
        assert_int_equal(o.all_closed, 0);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(o.all_closed, 1);
        assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_handles__all_closed_once_after_the_last_close),
                cmocka_unit_test(test_handles__counted_at_close),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
