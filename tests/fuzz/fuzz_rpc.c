/* SPDX-License-Identifier: MIT */
/* Fuzz target: bytes from a client, through the framer, the JSON-RPC envelope checks and the exec tool's
 * argument validation: everything brigd does with a message before anything runs. */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "tools/exec.h"
#include "common/framing.h"
#include "worker/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int line_cb(const char *line, size_t len, void *userdata) {
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg msg;
        char key[160];
        int code;

        (void) userdata;
        if (brig_rpc_parse(line, len, &msg, &code, &err) >= 0) {
                (void) brig_rpc_id_key(msg.id, key, sizeof(key));
                brig_exec_args args = {0};
                if (brig_exec_args_parse(brig_json_member(msg.params, "arguments"), &args, &err) >= 0)
                        brig_exec_args_done(&args);
                cJSON_Delete(brig_rpc_result(msg.id, cJSON_CreateObject()));
        } else
                cJSON_Delete(brig_rpc_error(msg.id, code, err.msg, NULL));
        brig_rpc_msg_done(&msg);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        brig_framer f;

        /* A small maximum so that the size check is reached too. */
        brig_framer_init(&f, 4096);
        (void) brig_framer_feed(&f, (const char *) data, size, line_cb, NULL);
        brig_framer_done(&f);
        return 0;
}
