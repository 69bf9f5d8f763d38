/* SPDX-License-Identifier: MIT */
/* Fuzz target: a model's memory tool calls, as brigd runs them on a work thread (tools/memory_tool.c),
 * against a real store (a bare git repository and its search index) in a temporary directory. Every
 * argument comes from the agent: the command, paths, texts, line numbers and ranges, versions, queries.
 * Input: the tool's name, a newline, then its arguments as JSON. The store lives for the whole run, so a
 * corpus file can build on what earlier ones wrote; each call also checks that the store still opens and
 * lists within its limits afterwards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/fs.h"
#include "tools/memory_store.h"
#include "tools/memory_tool.h"

#define INPUT_MAX (64 * 1024)
#define FUZZ_MAX_BYTES 16384
#define FUZZ_MAX_FILES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/brig-fuzz-memory-XXXXXX";

static void remove_store(void) {
        (void) brig_rm_rf(dir);
}

static const char *store(void) {
        static bool made;

        if (!made) {
                if (!mkdtemp(dir))
                        abort(); /* the target itself is broken: no input could be tested */
                (void) atexit(remove_store);
                made = true;
        }
        return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const brig_memory_ctx ctx = {.limits = {.max_bytes = FUZZ_MAX_BYTES, .max_files = FUZZ_MAX_FILES},
                                     .environment = "fuzz",
                                     .call_id = "1",
                                     .peer_uid = 1000};
        brig_memory *m = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_memory_report rep = {0};
        cJSON *args, *sc = NULL, *files = NULL;
        char tool[32];
        uint64_t total = 0;

        if (size > INPUT_MAX)
                return 0;
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl || (size_t) (nl - data) >= sizeof(tool))
                return 0;
        memcpy(tool, data, (size_t) (nl - data));
        tool[nl - data] = 0;
        if (!brig_memory_is_tool(tool))
                return 0;
        size_t off = (size_t) (nl - data) + 1;
        if (!(args = cJSON_ParseWithLength((const char *) data + off, size - off)))
                return 0;
        if (brig_memory_open(store(), &m, &err) < 0)
                abort();
        if (brig_memory_lock(m, &err) < 0)
                abort();
        if (brig_memory_call(m, tool, args, &ctx, &sc, &rep, &err) >= 0 && !sc)
                abort(); /* a call that succeeds always has a result */
        cJSON_Delete(sc);
        /* Whatever the call did, the store is whole and within its limits. */
        if (brig_memory_list(m, "", UINT32_MAX, &files, &total, &err) < 0)
                abort();
        size_t n_files = 0;
        const cJSON *f;
        cJSON_ArrayForEach (f, files)
                n_files += !cJSON_IsTrue(cJSON_GetObjectItem(f, "dir"));
        if (total > FUZZ_MAX_BYTES || n_files > FUZZ_MAX_FILES)
                abort();
        cJSON_Delete(files);
        brig_memory_free(m);
        cJSON_Delete(args);
        return 0;
}
