/* SPDX-License-Identifier: MIT */
/* Capability dropping for jailed processes: the bounding set, the ambient set and every capability the
 * process holds in its user namespace. After this, no execve() can regain any capability. */
#include <errno.h>
#include <sys/prctl.h>

#include <sys/capability.h>

#include "sandbox/jail.h"

int brig__caps_drop_all(void) {
        cap_value_t last = (cap_value_t) cap_max_bits() - 1;
        cap_t empty;
        int r = 0;

        /* Bounding set first: dropping it needs CAP_SETPCAP, which the capset below removes. */
        for (cap_value_t c = 0; c <= last; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        empty = cap_init();
        if (!empty)
                return -ENOMEM;
        if (cap_set_proc(empty) < 0)
                r = -errno;
        (void) cap_free(empty);
        return r;
}
