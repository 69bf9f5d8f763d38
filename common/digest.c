/* SPDX-License-Identifier: MIT */
/* SHA-256 through libcrypto's EVP interface, as lower-case hex (see digest.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "common/digest.h"

struct brig_sha256 {
        EVP_MD_CTX *md;
        bool failed;
};

brig_sha256 *brig_sha256_new(void) {
        brig_sha256 *d = calloc(1, sizeof(*d));

        if (!d)
                return NULL;
        if (!(d->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(d->md, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(d->md);
                free(d);
                return NULL;
        }
        return d;
}

void brig_sha256_update(brig_sha256 *d, const void *data, size_t len) {
        if (d && !d->failed && len > 0 && !EVP_DigestUpdate(d->md, data, len))
                d->failed = true;
}

int brig_sha256_finish(brig_sha256 *d, char out[static BRIG_SHA256_HEX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        int r = 0;

        if (!d)
                return -ENOMEM;
        if (d->failed || !EVP_DigestFinal_ex(d->md, md, &n) || n != 32)
                r = -EIO;
        EVP_MD_CTX_free(d->md);
        free(d);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", md[i]);
        out[64] = 0;
        return 0;
}

int brig_sha256_hex(const void *data, size_t len, char out[static BRIG_SHA256_HEX]) {
        brig_sha256 *d = brig_sha256_new();

        brig_sha256_update(d, data, len);
        return brig_sha256_finish(d, out);
}
