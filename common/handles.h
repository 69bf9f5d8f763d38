/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <uv.h>

/* Handle lifetime: an object that embeds several libuv handles may be freed only once every one of them
 * is closed (libuv docs/src/handle.rst: the memory stays in use until the close callback). brig_handles
 * counts an owner's open handles and calls its `all_closed` function when the last one's close callback
 * has run. Each handle's close callback calls brig_handles_closed() (BRIG_HANDLES_CLOSED_CB writes one).
 * Loop thread only. */

typedef void (*brig_handles_all_closed_fn)(void *owner);

typedef struct brig_handles {
        unsigned open; /* initialised and not yet through their close callback */
        brig_handles_all_closed_fn all_closed;
        void *owner;
} brig_handles;

void brig_handles_init(brig_handles *hs, brig_handles_all_closed_fn all_closed, void *owner);

/* Counts n handles just initialised: each must be closed exactly once. */
static inline void brig_handles_add(brig_handles *hs, unsigned n) {
        hs->open += n;
}

/* Whether every counted handle is closed. */
static inline bool brig_handles_none(const brig_handles *hs) {
        return hs->open == 0;
}

/* Called from a counted handle's close callback: at the last one, all_closed(owner), which may free the
 * owner (hs with it). */
void brig_handles_closed(brig_handles *hs);

/* A close callback for handles whose data is the owner, a `type *` with its brig_handles in `member`. */
#define BRIG_HANDLES_CLOSED_CB(name, type, member)                                                          \
        static void name(uv_handle_t *h) {                                                                  \
                type *owner_ = h->data;                                                                     \
                brig_handles_closed(&owner_->member);                                                       \
        }
