/* SPDX-License-Identifier: MIT */
/* base64 of text.h, through OpenSSL's libcrypto (not by hand). An object of its own, apart from text.c: a
 * program that uses the buffers or the UTF-8 checks but no base64 (brig-jail) then links no libcrypto,
 * whose loading and relocated data cost every process that maps it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "text.h"

char *brig_base64_encode(const void *data, size_t len) {
        if (len > (SIZE_MAX / 4) * 3 - 3 || len > INT32_MAX)
                return NULL;
        size_t out_len = 4 * ((len + 2) / 3) + 1;
        char *out = malloc(out_len);
        if (!out)
                return NULL;
        (void) EVP_EncodeBlock((unsigned char *) out, data, (int) len);
        return out;
}

int brig_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len) {
        if (len % 4 != 0 || len > INT32_MAX)
                return -EINVAL;
        /* EVP_DecodeBlock is lenient about '=' inside the text; padding may only end it. */
        size_t pad = len >= 1 && text[len - 1] == '=' ? (len >= 2 && text[len - 2] == '=' ? 2 : 1) : 0;
        for (size_t i = 0; i < len - pad; i++)
                if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
                      (text[i] >= '0' && text[i] <= '9') || text[i] == '+' || text[i] == '/'))
                        return -EINVAL;
        unsigned char *out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        int n = EVP_DecodeBlock(out, (const unsigned char *) text, (int) len);
        if (n < 0) {
                free(out);
                return -EINVAL;
        }
        /* EVP_DecodeBlock counts padding as zero bytes; take them back off. */
        if (len >= 1 && text[len - 1] == '=')
                n--;
        if (len >= 2 && text[len - 2] == '=')
                n--;
        *ret = out;
        *ret_len = (size_t) n;
        return n;
}
