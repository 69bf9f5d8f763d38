/* SPDX-License-Identifier: MIT */
/* Replays a fuzz corpus through a target without libFuzzer, so every build (gcc included) keeps the corpus
 * as regression tests: `fuzz_x DIR...` runs each file in each DIR once. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;
        uint8_t chunk[65536];

        if (!f)
                return -1;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (len + n > cap) {
                        cap = (len + n) * 2;
                        uint8_t *p = realloc(buf, cap);
                        if (!p) {
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = p;
                }
                memcpy(buf + len, chunk, n);
                len += n;
        }
        fclose(f);
        (void) LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *) "", len);
        free(buf);
        return 0;
}

int main(int argc, char **argv) {
        int count = 0;

        printf("1..1\n");
        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                if (!d) {
                        printf("not ok 1 - cannot open corpus %s\n", argv[i]);
                        return 1;
                }
                while ((de = readdir(d))) {
                        char path[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
                        if (run_file(path) < 0) {
                                printf("not ok 1 - cannot read %s\n", path);
                                closedir(d);
                                return 1;
                        }
                        count++;
                }
                closedir(d);
        }
        printf("ok 1 - replayed %d corpus inputs\n", count);
        return count > 0 ? 0 : 1;
}
