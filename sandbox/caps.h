/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* Capability names for policies, and which of them a policy may keep (see docs/policy.md, `capabilities`).
 * The applying side (brig__caps_keep_only) is declared in sandbox/jail.h. */

#define BRIG_CAP_MAX 41 /* CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40) */

/* Looks up a capability by name: upper or lower case, with or without the "CAP_" prefix
 * ("CAP_NET_BIND_SERVICE", "net_bind_service"). Returns its number (0 to BRIG_CAP_MAX - 1), or -ENOENT for
 * a name brig does not know. When the capability is one no policy may keep, *ret_refused (if non-NULL) is
 * set to the reason ("mount, namespaces and most of the kernel"), else to NULL. Pure; any thread. */
int brig_capability_lookup(const char *name, const char **ret_refused);

/* "CAP_NET_BIND_SERVICE" for 10; NULL for numbers brig does not know. */
const char *brig_capability_name(int cap);
