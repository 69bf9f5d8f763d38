/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "worker/rpc.h"
#include "worker/worker.h"

/* What mcp.c lends the files that answer some of its methods (the environment archive's, env_export.c and
 * env_import.c): answering errors and finding the environment a request names. Loop thread only. */

/* Answers the request with a JSON-RPC error. */
void brig__mcp_send_error(brig_conn *c, const cJSON *id, int code, const char *msg);
/* The same with err's message and data.kind. */
void brig__mcp_send_brig_error(brig_conn *c, const cJSON *id, int code, const brig_error *err);
/* Whether this client may see and manage env: root, or its owner. */
bool brig__mcp_may_manage(const brig_conn *c, const brig_env *env);
/* The environment named by params.<member>, if this client may see it; answers the error itself otherwise
 * (and then returns NULL). */
brig_env *brig__mcp_env_param(brig_conn *c, const brig_rpc_msg *m, const char *method, const char *member);
/* brig/environment.export, .export.read and .export.close (mcp_export.c). */
void brig__mcp_handle_export(brig_conn *c, const brig_rpc_msg *m);
void brig__mcp_handle_export_read(brig_conn *c, const brig_rpc_msg *m);
void brig__mcp_handle_export_close(brig_conn *c, const brig_rpc_msg *m);
/* The connection is closing: its archives are removed (one still being written, once it is). */
void brig__mcp_exports_closing(brig_conn *c);

/* The JSON-RPC code of an environment management error: limits are refusals, what the caller named wrong
 * is a bad parameter, the rest the worker's own failure. */
int brig__mcp_env_error_code(const brig_error *err);

/* brig/environment.import (mcp_import.c): one chunk of an upload, or its last, which starts the import. */
void brig__mcp_handle_env_import(brig_conn *c, const brig_rpc_msg *m);
/* The connection closes: its uploads are removed. */
void brig__mcp_import_conn_closing(brig_conn *c);

/* brig/descriptor.pass (mcp_fd.c): the client's next byte carries a descriptor, kept as the connection's
 * for the next request with `fd: true`. */
void brig__mcp_handle_fd_pass(brig_conn *c, const brig_rpc_msg *m);
/* Takes the connection's passed descriptor (the caller owns it) if it is open for want_mode (O_RDONLY or
 * O_WRONLY); otherwise answers the error itself and returns -1. */
/* The connection closes: a descriptor awaited is no longer. */
void brig__mcp_fd_conn_closing(brig_conn *c);
int brig__mcp_take_fd(brig_conn *c, const brig_rpc_msg *m, int want_mode);
