/* SPDX-License-Identifier: MIT */
/* Fuzz target: policy files, through the parser and, for those it accepts, the plan builder. */
#include <stddef.h>
#include <stdint.h>

#include "sandbox/plan.h"
#include "sandbox/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        brig_policy_diags diags = {0};
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        if (brig_policy_parse((const char *) data, size, "fuzz.json", &p, &diags, &err) >= 0) {
                static const char *const argv[] = {"true", NULL};
                brig_plan_request req = {.argv = argv, .workspace = "/tmp/ws"};
                brig_identity id = {.uid_outside = 100000, .gid_outside = 100000, .root = true};
                brig_plan *plan = NULL;
                if (brig_plan_build(p, &req, &id, &plan, &err) >= 0) {
                        char *json = brig_plan_to_json(plan);
                        brig_plan *back = NULL;
                        if (json && brig_plan_from_json(json, __builtin_strlen(json), &back, &err) >= 0)
                                brig_plan_free(back);
                        __builtin_free(json);
                        brig_plan_free(plan);
                }
                brig_policy_free(p);
        }
        brig_policy_diags_done(&diags);
        return 0;
}
