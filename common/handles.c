/* SPDX-License-Identifier: MIT */
/* Handle lifetime: counts an owner's libuv handles and calls it back once the last one is closed. */
#include <assert.h>

#include "common/handles.h"

void brig_handles_init(brig_handles *hs, brig_handles_all_closed_fn all_closed, void *owner) {
        *hs = (brig_handles){.all_closed = all_closed, .owner = owner};
}

void brig_handles_closed(brig_handles *hs) {
        assert(hs->open > 0);
        if (--hs->open == 0 && hs->all_closed)
                hs->all_closed(hs->owner);
}
