/* SPDX-License-Identifier: MIT */
#pragma once

#include "sandbox/cgroup.h"

typedef struct brig_worker brig_worker;

/* Removes a stopped environment's cgroup: now if it is empty, else retried on the loop with backoff (the
 * last processes of a killed jail take a moment to leave it; stragglers are killed) until it is gone or
 * the retries run out, which is logged with the paths left behind. Takes *cg over and resets it to mode
 * NONE. Loop thread only; never blocks beyond small cgroupfs calls. */
void brig__cgroup_release(brig_worker *w, brig_cgroup *cg);
