/* SPDX-License-Identifier: MIT */
/* The key of a seccomp program: the SHA-256 of everything it is compiled from (sandbox/seccomp.h). Apart
 * from seccomp.c so that brig-jail, which loads programs but never keys them, links no digest library. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/digest.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_profile.h"

/* A tripwire for most new fields of the spec (one that fits in padding escapes it, test_policy's key test
 * does not): serialize the field in brig_seccomp_spec_key() below, then update the count. */
static_assert(sizeof(brig_seccomp_spec) == 3 * sizeof(void *) + sizeof(size_t) + 2 * sizeof(int),
              "brig_seccomp_spec changed: serialize the new field in brig_seccomp_spec_key()");

int brig_seccomp_spec_key(const brig_seccomp_spec *spec, char out[static BRIG_SHA256_HEX]) {
        brig_sha256 *d = brig_sha256_new();
        char num[64];

        assert(spec);

        (void) snprintf(num, sizeof(num), "errno %d\naudit %d\ndeny %zu\n", spec->errno_ret, spec->audit,
                        spec->n_deny);
        brig_sha256_update(d, num, strlen(num));
        /* Each entry with the audit it is compiled with, whether its own or the spec's. */
        for (size_t i = 0; i < spec->n_deny; i++) {
                bool audit = spec->deny_audit ? spec->deny_audit[i] : spec->audit;
                brig_sha256_update(d, spec->deny[i], strlen(spec->deny[i]) + 1);
                brig_sha256_update(d, audit ? "a" : "-", 1);
        }
        brig_sha256_update(d, "\nprofile ", 9);
        if (spec->profile)
                brig_sha256_update(d, spec->profile->digest, strlen(spec->profile->digest));
        return brig_sha256_finish(d, out);
}
