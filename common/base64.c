/* SPDX-License-Identifier: MIT */
/* base64 of text.h, through OpenSSL's libcrypto (not by hand). An object of its own, apart from text.c: a
 * program that uses the buffers or the UTF-8 checks but no base64 (brig-jail) then links no libcrypto,
 * whose loading and relocated data cost every process that maps it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

#define B64_BLOCK (3u * 4096u)

char *brig_base64_encode_in_place(char *data, size_t len) {
        static _Thread_local unsigned char block[B64_BLOCK];

        if (len > (SIZE_MAX / 4) * 3 - 3)
                return NULL;
        size_t out_len = 4 * ((len + 2) / 3);
        char *out = realloc(data, out_len + 1);
        if (!out)
                return NULL;
        /* Blocks of whole 3-byte groups from the end: block k's encoding lands at or past its source, and
         * only over sources of blocks already encoded (each block is copied out before it is overwritten).
         */
        size_t start = len / B64_BLOCK * B64_BLOCK, end = len;
        if (start == len && start > 0)
                start -= B64_BLOCK;
        for (;;) {
                size_t n = end - start, at = start / 3 * 4, after = at + 4 * ((n + 2) / 3);
                /* EVP_EncodeBlock ends with a NUL, over the first byte of the block encoded before. */
                char keep = out[after];
                memcpy(block, out + start, n);
                (void) EVP_EncodeBlock((unsigned char *) out + at, block, (int) n);
                out[after] = keep;
                if (start == 0)
                        break;
                end = start;
                start -= B64_BLOCK;
        }
        out[out_len] = 0;
        return out;
}
