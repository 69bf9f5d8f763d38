/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* SHA-256 (Nettle) as lower-case hex, for content keys: the audit chain, policy and filter caches. */

#define BRIG_SHA256_HEX 65 /* 64 hex digits and a NUL */

typedef struct brig_sha256 brig_sha256;

/* Starts a digest; NULL on allocation failure. */
brig_sha256 *brig_sha256_new(void);
/* Feeds len bytes. Safe on a NULL digest (an earlier failure), which brig_sha256_finish() then reports. */
void brig_sha256_update(brig_sha256 *d, const void *data, size_t len);
/* Writes the hex digest to out, frees d (NULL included) and returns 0, or -ENOMEM/-EIO. */
int brig_sha256_finish(brig_sha256 *d, char out[static BRIG_SHA256_HEX]);

/* One-shot form of the above. */
int brig_sha256_hex(const void *data, size_t len, char out[static BRIG_SHA256_HEX]);
