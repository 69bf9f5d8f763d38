/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Hard workspace quotas: an environment's workspace on its own ext4 filesystem, a sparse image file in the
 * environment's directory sized to the quota, attached to a loop device and mounted (nosuid, nodev) on the
 * workspace directory in brigd's mount namespace. Writes past the quota fail with ENOSPC inside the jail,
 * whatever wrote them. Needs root in the host's user namespace (loop devices, ext4 mounts) and mkfs.ext4.
 *
 * Every function but brig_wsimage_probe() blocks (mkfs, fsync, mount): call them from a work thread or at
 * start-up. None logs. */

/* Where an image lives, relative to the environment's directory. */
#define BRIG_WSIMAGE_NAME "workspace.img"

/* Whether this process can set up images: 0, or -EPERM/-ENOENT/... with why[] saying why not (for the
 * operator: "brigd is not root in the host's user namespace", "no /dev/loop-control", ...). Cheap; no
 * side effects. */
int brig_wsimage_probe(char *why, size_t why_size);

/* Creates image (must not exist) as a sparse file of `bytes` formatted ext4. With template_dir, it is a
 * sparse copy of the template of that size kept there (formatted on first use, then reused: the same
 * filesystem, UUID included): a ready copy renamed into place when there is one (brig_wsimage_fill_ready(),
 * which image must be on the same filesystem as), else one made now; without, it is formatted itself.
 * Formatting runs mkfs.ext4, started with posix_spawn (fork+exec) and waited for by pid. Thread-safe. On
 * failure the image is removed. */
int brig_wsimage_create(const char *image, uint64_t bytes, const char *template_dir, brig_error *err);

/* Ready copies of each size kept in <template_dir>/ready for brig_wsimage_create(). */
#define BRIG_WSIMAGE_READY_MAX 4

/* Tops the ready copies of `bytes` up to BRIG_WSIMAGE_READY_MAX, each complete and synced before it can be
 * taken (formatting the template first if there is none). Returns at once when another fill is under way.
 * Thread-safe; blocking. */
int brig_wsimage_fill_ready(const char *template_dir, uint64_t bytes, brig_error *err);

/* Attaches image to a free loop device (autoclear: it detaches when the last mount goes) and mounts it on
 * mountpoint, unless something is mounted there already (then 0: after a brigd restart the mount of the
 * previous one is kept). fresh: the filesystem is new: its root becomes uid:gid 0700 and lost+found goes. */
int brig_wsimage_mount(const char *image, const char *mountpoint, uid_t uid, gid_t gid, bool fresh,
                       brig_error *err);

/* Whether path is the root of a mount (its device differs from its parent's): 1, 0, or -errno. */
int brig_wsimage_is_mounted(const char *path);

/* Unmounts mountpoint if something is mounted there (lazily: a jail still holding it keeps its copy until
 * it ends; the loop device then detaches itself). 0 when nothing was mounted, 1 when unmounted, or -errno.
 */
int brig_wsimage_unmount(const char *mountpoint);
