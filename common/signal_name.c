/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "signal_name.h"

const char *brig_signal_name(int sig, char buf[16]) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev)
                (void) snprintf(buf, 16, "SIG%s", abbrev);
        else
                (void) snprintf(buf, 16, "SIG%d", sig);
        return buf;
}
