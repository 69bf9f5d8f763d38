/* SPDX-License-Identifier: MIT */
/* Fuzz target: environment archives (docs/archive.md), as brig env import unpacks them: the bytes as the
 * archive's fd, unpacked into a fresh directory with small limits. Whatever it accepts or refuses, nothing
 * may land outside that directory (a crash, a leak or a sanitizer report fails it). The corpus was made by
 * tests/fuzz/make_import_corpus.sh (zstd-compressed and plain tar). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fs.h"
#include "worker/env_import_extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char dir[] = "/tmp/brig-fuzz-import-XXXXXX";
        brig_archive_limits limits = {.file_size = 1 << 20, .total = 16 << 20};
        brig_archive_info info;
        brig_error err = BRIG_ERROR_INIT;
        int fd = memfd_create("archive", MFD_CLOEXEC), dest;

        if (fd < 0)
                abort();
        for (size_t off = 0; off < size;) {
                ssize_t n = write(fd, data + off, size - off);
                if (n <= 0)
                        abort();
                off += (size_t) n;
        }
        if (lseek(fd, 0, SEEK_SET) != 0 || !mkdtemp(dir) ||
            (dest = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                abort();
        int r = brig_archive_extract(fd, dest, &limits, (uid_t) -1, (gid_t) -1, &info, &err);
        /* BRIG_FUZZ_VERBOSE=1: what each input came to, to check the seeds do what their names say. */
        if (getenv("BRIG_FUZZ_VERBOSE"))
                fprintf(stderr, "%s\n", r < 0 ? err.msg : "ok");
        if (lseek(fd, 0, SEEK_SET) != 0)
                abort();
        (void) brig_archive_read_info(fd, &info, &err);
        close(dest);
        close(fd);
        if (brig_rm_rf(dir) < 0)
                abort();
        return 0;
}
