/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Taking a pack from an untrusted source (an imported archive, docs/archive.md) into a history's
 * objects/pack: the pack's bytes are streamed through libgit2's indexer, which hashes every object,
 * resolves every delta by content (a delta's base must be in the same pack: no thin packs), fails on a
 * cycle, a missing base, a bad checksum or a truncation, and writes a pack and an index of its own. The
 * source's index, and anything else it says about the pack, is never used. Blocking: a work thread's. */
typedef struct brig_pack_in brig_pack_in;

/* Starts a pack of pack_bytes bytes (what its header may say it holds is bounded by that) in the directory
 * pack_dirfd (a history's objects/pack); the files written are chowned to uid:gid unless uid is (uid_t) -1.
 * No object of the pack may expand to more than max_object bytes, nor all of them together to more than
 * max_total (UINT64_MAX: no bound), else -EFBIG/LIMIT: what the pack's entry headers and its deltas say is
 * checked as the bytes pass, before the indexer resolves anything. */
int brig_pack_in_new(int pack_dirfd, uid_t uid, gid_t gid, uint64_t pack_bytes, uint64_t max_object,
                     uint64_t max_total, brig_pack_in **ret, brig_error *err);
/* The next bytes of the pack: -EINVAL/INVALID_ARGUMENT for what is not a pack, -EFBIG/LIMIT over a
 * bound. */
int brig_pack_in_append(brig_pack_in *p, const void *data, size_t n, brig_error *err);
/* The pack is complete: resolves its deltas and writes pack-<name>.pack and .idx (mode 0444). Returns 0,
 * or -EINVAL/INVALID_ARGUMENT for a pack that is not one. */
int brig_pack_in_commit(brig_pack_in *p, brig_error *err);
/* What the pack's objects expand to, as read so far. */
uint64_t brig_pack_in_expanded(const brig_pack_in *p);
/* Frees p; a pack not committed leaves at most libgit2's temporary file, which the caller's removal of the
 * directory takes. NULL is fine. */
void brig_pack_in_free(brig_pack_in *p);
