/* SPDX-License-Identifier: MIT */
/* base64 of text.h, through Nettle (not by hand), which brig and brigd link for SHA-256 already: libcrypto,
 * used for nothing else, cost every start of brig ~0.9 ms of loading and relocation. An object of its own,
 * apart from text.c: a program that uses the buffers or the UTF-8 checks but no base64 (brig-jail) then
 * links no such library. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "text.h"

char *brig_base64_encode(const void *data, size_t len) {
        if (len > (SIZE_MAX / 4) * 3 - 3 || len > INT32_MAX)
                return NULL;
        char *out = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
        if (!out)
                return NULL;
        base64_encode_raw(out, len, data);
        out[BASE64_ENCODE_RAW_LENGTH(len)] = 0;
        return out;
}

size_t brig_base64_encode_to(char *dst, const void *data, size_t len) {
        base64_encode_raw(dst, len, data);
        return BASE64_ENCODE_RAW_LENGTH(len);
}

int brig_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len) {
        struct base64_decode_ctx ctx;
        size_t n = 0;

        if (len % 4 != 0 || len > INT32_MAX)
                return -EINVAL;
        /* Nettle skips white space and takes '=' anywhere; here only the alphabet, padding only at the end.
         */
        size_t pad = len >= 1 && text[len - 1] == '=' ? (len >= 2 && text[len - 2] == '=' ? 2 : 1) : 0;
        for (size_t i = 0; i < len - pad; i++)
                if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
                      (text[i] >= '0' && text[i] <= '9') || text[i] == '+' || text[i] == '/'))
                        return -EINVAL;
        unsigned char *out = malloc(BASE64_DECODE_LENGTH(len) + 1);
        if (!out)
                return -ENOMEM;
        base64_decode_init(&ctx);
        if (!base64_decode_update(&ctx, &n, out, len, text) || !base64_decode_final(&ctx)) {
                free(out);
                return -EINVAL;
        }
        *ret = out;
        *ret_len = n;
        return (int) n;
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
                size_t n = end - start, at = start / 3 * 4;
                memcpy(block, out + start, n);
                base64_encode_raw(out + at, n, block);
                if (start == 0)
                        break;
                end = start;
                start -= B64_BLOCK;
        }
        out[out_len] = 0;
        return out;
}
