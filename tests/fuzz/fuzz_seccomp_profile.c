/* SPDX-License-Identifier: MIT */
/* Fuzz target: Docker/OCI seccomp profiles, through the importer and, for those it accepts, the compiler
 * that puts brig's floor in front of them. The kernel release is fixed so minKernel is reproducible. */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sandbox/seccomp.h"
#include "sandbox/seccomp_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        brig_seccomp_profile_diags diags = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_seccomp_profile *p = NULL;
        cJSON *json;

        if (size > (1u << 20))
                return 0;
        json = cJSON_ParseWithLength((const char *) data, size);
        if (!json)
                return 0;
        if (brig_seccomp_profile_parse(json, "seccomp.profile", "6.1.0", &p, &diags, &err) >= 0) {
                int fd = -1;
                if (brig_seccomp_compile_profile(p, NULL, 0, 1, &fd, &err) >= 0)
                        (void) close(fd);
                brig_seccomp_profile_free(p);
        }
        brig_seccomp_profile_diags_done(&diags);
        cJSON_Delete(json);
        return 0;
}
