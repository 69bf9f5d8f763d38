/* SPDX-License-Identifier: MIT */
/* SHA-256 through Nettle, as lower-case hex (see digest.h). Nettle rather than OpenSSL's libcrypto: the
 * digest is all we need of either, and libcrypto costs every program that links it about a millisecond of
 * loading and relocation, plus over a millisecond of initialization on the first digest (`brig run` hashes
 * its policy); Nettle's SHA-256 needs neither. */
#include <errno.h>
#include <stdlib.h>

#include <nettle/sha2.h>

#include "common/digest.h"

struct brig_sha256 {
        struct sha256_ctx ctx;
};

brig_sha256 *brig_sha256_new(void) {
        brig_sha256 *d = malloc(sizeof(*d));

        if (!d)
                return NULL;
        sha256_init(&d->ctx);
        return d;
}

void brig_sha256_update(brig_sha256 *d, const void *data, size_t len) {
        if (d && len > 0)
                sha256_update(&d->ctx, len, data);
}

int brig_sha256_finish(brig_sha256 *d, char out[static BRIG_SHA256_HEX]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t md[SHA256_DIGEST_SIZE];

        if (!d)
                return -ENOMEM;
        sha256_digest(&d->ctx, sizeof(md), md);
        free(d);
        for (size_t i = 0; i < sizeof(md); i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 0xf];
        }
        out[2 * sizeof(md)] = 0;
        return 0;
}

int brig_sha256_hex(const void *data, size_t len, char out[static BRIG_SHA256_HEX]) {
        brig_sha256 *d = brig_sha256_new();

        brig_sha256_update(d, data, len);
        return brig_sha256_finish(d, out);
}
