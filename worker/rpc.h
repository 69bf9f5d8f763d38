/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/error.h"

/* JSON-RPC 2.0 messages as MCP uses them. Pure; any thread. */

enum {
        BRIG_RPC_PARSE_ERROR = -32700,
        BRIG_RPC_INVALID_REQUEST = -32600,
        BRIG_RPC_METHOD_NOT_FOUND = -32601,
        BRIG_RPC_INVALID_PARAMS = -32602,
        BRIG_RPC_INTERNAL_ERROR = -32603,
        /* Server-defined range. */
        BRIG_RPC_REFUSED = -32001, /* audit log unavailable, worker stopping, limits */
};

typedef enum brig_rpc_kind {
        BRIG_RPC_REQUEST,      /* method + id */
        BRIG_RPC_NOTIFICATION, /* method, no id */
        BRIG_RPC_RESPONSE,     /* result or error, with id: a reply to something we sent */
        _BRIG_RPC_KIND_MAX,
        _BRIG_RPC_KIND_INVALID = -22,
} brig_rpc_kind;

typedef struct brig_rpc_msg {
        cJSON *root; /* owned */
        brig_rpc_kind kind;
        const cJSON *id;     /* borrowed from root: string or number; NULL for notifications */
        const char *method;  /* borrowed from root */
        const cJSON *params; /* borrowed from root; may be NULL */
} brig_rpc_msg;

/* Parses one line. On failure returns a negative errno and sets *ret_code to the JSON-RPC error code to
 * answer with (-32700 or -32600; -32603 when out of memory), msg->id to the id when one could be recovered
 * (else NULL: the caller answers with id null), and err to the message. The caller frees msg->root with
 * brig_rpc_msg_done(), also after a failure. */
int brig_rpc_parse(const char *line, size_t len, brig_rpc_msg *msg, int *ret_code, brig_error *err);
void brig_rpc_msg_done(brig_rpc_msg *msg);

/* New response objects; id may be NULL (serialised as null). result and data (which may be NULL) are
 * consumed, also when these fail. NULL on ENOMEM. */
cJSON *brig_rpc_result(const cJSON *id, cJSON *result);
cJSON *brig_rpc_error(const cJSON *id, int code, const char *message, cJSON *data);
/* params is required (NULL, as from a failed allocation, returns NULL). */
cJSON *brig_rpc_notification(const char *method, cJSON *params);

/* A stable string key for an id ("n:42", "s:abc"), for looking up in-flight requests. */
int brig_rpc_id_key(const cJSON *id, char *buf, size_t size);
