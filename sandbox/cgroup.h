/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/policy.h"

/* Per-environment cgroups: memory, pids and cpu limits on a whole environment, on cgroup v2 (production
 * hosts) or v1 (one hierarchy per controller). Groups live under brigd's own cgroup, in
 * "brig/<instance>/<name>", so the host's layout and delegation are respected and two workers on one host
 * (each its own instance, named after its state directory) never touch each other's groups. Without a
 * writable hierarchy (rootless without delegation) the mode is NONE and rlimits are the only limits.
 * Blocking file I/O on small cgroupfs files: call at start-up and when an environment starts or stops. */

typedef enum brig_cgroup_mode {
        BRIG_CGROUP_NONE,
        BRIG_CGROUP_V1,
        BRIG_CGROUP_V2,
        _BRIG_CGROUP_MODE_MAX,
        _BRIG_CGROUP_MODE_INVALID = -22,
} brig_cgroup_mode;

enum { BRIG_CG_MEMORY, BRIG_CG_PIDS, BRIG_CG_CPU, _BRIG_CG_MAX };

typedef struct brig_cgroup_root {
        brig_cgroup_mode mode;
        char base[_BRIG_CG_MAX][512]; /* ".../brig/<instance>" per controller (v2: the same directory
                                         thrice), or ".../brig" itself when shared */
        bool shared;                  /* brig_cgroup_detect_shared() */
        char why[256];                /* NONE: why not */
} brig_cgroup_root;

typedef struct brig_cgroup {
        brig_cgroup_mode mode;
        char path[_BRIG_CG_MAX][600];
        int oom_fd; /* memory.events (v2) or memory.oom_control (v1) while calls read it, else -1 */
} brig_cgroup;

/* The instance name of the worker whose state directory is state_dir ("d-" and 16 hex digits). */
int brig_cgroup_instance_name(const char *state_dir, char *ret, size_t size);
/* Finds a usable hierarchy for this process and creates the brig/<instance> parent (removing empty
 * leftovers of a previous worker of the same instance, and only those). Never fails: a hierarchy that
 * cannot be used gives mode NONE with a reason. */
void brig_cgroup_detect(const char *instance, brig_cgroup_root *ret);
/* The same, but the root is the brig/ parent itself, for groups the caller names uniquely (brig run's
 * "run-<pid>": one directory per hierarchy instead of two, as each costs a mkdir and an rmdir on the
 * run's path). Nothing there is removed: other workers' and runs' groups live beside. */
void brig_cgroup_detect_shared(brig_cgroup_root *ret);
const char *brig_cgroup_mode_name(brig_cgroup_mode m);

/* Creates the group `name` (or `name.N` while an older group of that name is still being removed) with
 * the policy's limits, or none yet when l is NULL: ret->path says which. */
int brig_cgroup_create(const brig_cgroup_root *root, const char *name, const brig_limits *l,
                       brig_cgroup *ret, brig_error *err);
/* Writes the policy's memory, pids and cpu limits into the group. Blocking (cgroupfs): a v1
 * cpu.cfs_quota_us write walks every cpu cgroup of the host (1.5 ms at 11,000 of them). */
int brig_cgroup_set_limits(const brig_cgroup *cg, const brig_limits *l, brig_error *err);
/* Opens the files that move a process into the group, once per hierarchy (v2: one, v1: three). Returns
 * how many (0 without cgroups); the caller closes them. On v2 they are cgroup.procs, written with the pid
 * by a parent. On v1 (brig_cgroup_joins_self()) they are `tasks`, written with "0" by the single-threaded
 * process itself before it forks: a thread moving itself takes no global lock, where a cgroup.procs write
 * waits for an RCU grace period (~8 ms on an idle host; 0.1 ms this way). */
int brig_cgroup_open_procs(const brig_cgroup *cg, int fds[_BRIG_CG_MAX], brig_error *err);
static inline bool brig_cgroup_joins_self(const brig_cgroup *cg) {
        return cg->mode == BRIG_CGROUP_V1;
}
/* Renames the group to `name` (same parent) in each hierarchy that allows it: v1 does; v2 refuses every
 * rename, so the group keeps its old name there. cg->path follows. Never fails: a group that keeps its
 * name still works. Blocking (cgroupfs). */
void brig_cgroup_rename(brig_cgroup *cg, const char *name);
/* Out-of-memory kills so far in the group. Opens oom_fd on first use and keeps it, for the reads that
 * bracket a call; brig_cgroup_oom_release() closes it when no call runs, so that an idle group holds no
 * descriptor (issue 17: fds per idle environment). */
int brig_cgroup_oom_kills(brig_cgroup *cg, uint64_t *ret);
void brig_cgroup_oom_release(brig_cgroup *cg);
/* Closes oom_fd and removes the group's directories, each one that has no process left (a group is busy
 * while the last processes of a killed jail exit): the removed ones' paths are cleared, the others kept
 * for a retry. Returns 0 once every one is gone, else the first error (-EBUSY while processes remain). */
int brig_cgroup_remove(brig_cgroup *cg);
/* SIGKILLs every process still in the group (what outlived its jail's init). */
void brig_cgroup_kill(const brig_cgroup *cg);
/* Removes the instance's own parent directories if empty (a stopping worker's, brig doctor's probe's);
 * never a shared root. */
void brig_cgroup_root_remove(brig_cgroup_root *root);
/* True once every directory of the group is removed (or none was created). */
bool brig_cgroup_empty(const brig_cgroup *cg);
