/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "common/error.h"

/* Disk usage of a workspace, for the policy's workspace quota. */

typedef struct brig_wsusage {
        uint64_t bytes; /* allocated blocks (st_blocks * 512), as du(1) counts them */
        uint64_t files; /* entries of any type, directories included */
} brig_wsusage;

/* Walks the tree below root_fd (a directory), neither following symlinks nor crossing into other file
 * systems, counting each hard-linked file once. Entries that vanish during the walk are skipped. Blocking
 * I/O: thread pool or CLI only. Returns 0, or a negative errno with err set. */
int brig_wsusage_measure(int root_fd, brig_wsusage *ret, brig_error *err);
