/* SPDX-License-Identifier: MIT */
/* JSON-RPC 2.0 envelope checks and builders; what each method means is worker/mcp.c's business. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "worker/rpc.h"

void brig_rpc_msg_done(brig_rpc_msg *msg) {
        cJSON_Delete(msg->root);
        *msg = (brig_rpc_msg){0};
}

static bool id_valid(const cJSON *id) {
        /* MCP: a string or an integer, never null. */
        return cJSON_IsString(id) || (cJSON_IsNumber(id) && floor(id->valuedouble) == id->valuedouble &&
                                      fabs(id->valuedouble) < 9e15);
}

/* Whether a string id appears in the raw text as it was parsed ("id": then exactly its printed form). An id
 * cJSON cut at a \u0000 does not, and must not be answered as if it were the caller's. */
static bool id_is_verbatim(const cJSON *id, const char *line, size_t len) {
        _cleanup_free_ char *printed = cJSON_PrintUnformatted(id);
        size_t plen = printed ? strlen(printed) : 0;

        if (!printed)
                return false;
        for (const char *p = line; (p = memmem(p, len - (size_t) (p - line), printed, plen)); p++) {
                const char *q = p;
                while (q > line && memchr(" \t\r\n", q[-1], 4))
                        q--;
                if (q == line || *--q != ':')
                        continue;
                while (q > line && memchr(" \t\r\n", q[-1], 4))
                        q--;
                if (q - line >= 4 && memcmp(q - 4, "\"id\"", 4) == 0)
                        return true;
        }
        return false;
}

/* A message that is JSON in form but not acceptable in content (bytes that are not UTF-8, a \u0000) is
 * answered with its own id where one can be read, so the caller is not left waiting for an answer it can
 * never match. Only an id that is itself clean is used: the answer must be valid JSON text too. */
static int refuse_content(const char *line, size_t len, brig_rpc_msg *msg, int r, int *ret_code) {
        const cJSON *id;

        /* Invalid UTF-8 makes the text not JSON (RFC 8259 section 8.1); a \u0000 is valid JSON we refuse. */
        *ret_code = r == -EILSEQ ? BRIG_RPC_PARSE_ERROR : BRIG_RPC_INVALID_REQUEST;
        msg->root = cJSON_ParseWithLength(line, len);
        id = brig_json_member(msg->root, "id");
        if (id && id_valid(id) &&
            (!cJSON_IsString(id) ||
             (brig_utf8_valid(id->valuestring, strlen(id->valuestring)) && id_is_verbatim(id, line, len))))
                msg->id = id;
        return r;
}

int brig_rpc_parse(const char *line, size_t len, brig_rpc_msg *msg, int *ret_code, brig_error *err) {
        const cJSON *v, *id, *method;
        int r;

        *msg = (brig_rpc_msg){.kind = _BRIG_RPC_KIND_INVALID};
        *ret_code = BRIG_RPC_PARSE_ERROR;
        r = brig_json_parse(line, len, &msg->root, err);
        if (r == -EILSEQ || r == -EOPNOTSUPP)
                return refuse_content(line, len, msg, r, ret_code);
        if (r == -ENOMEM) /* the line may be fine: not a parse error */
                *ret_code = BRIG_RPC_INTERNAL_ERROR;
        if (r < 0)
                return r;
        *ret_code = BRIG_RPC_INVALID_REQUEST;
        if (cJSON_IsArray(msg->root))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "batches are not supported");
        if (!cJSON_IsObject(msg->root))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "expected a JSON object, got %s", brig_json_type_name(msg->root));
        id = brig_json_member(msg->root, "id");
        if (id && id_valid(id))
                msg->id = id;
        v = brig_json_member(msg->root, "jsonrpc");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, "2.0") != 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "jsonrpc: must be \"2.0\"");
        if (id && !msg->id)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "id: must be a string or an integer, got %s", brig_json_type_name(id));
        method = brig_json_member(msg->root, "method");
        if (!method) {
                if (msg->id &&
                    (brig_json_member(msg->root, "result") || brig_json_member(msg->root, "error"))) {
                        msg->kind = BRIG_RPC_RESPONSE;
                        return 0;
                }
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "method: required");
        }
        if (!cJSON_IsString(method) || !method->valuestring[0])
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "method: expected a string");
        msg->method = method->valuestring;
        v = brig_json_member(msg->root, "params");
        if (v && !cJSON_IsObject(v) && !cJSON_IsArray(v))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "params: expected an object, got %s", brig_json_type_name(v));
        msg->params = v;
        msg->kind = msg->id ? BRIG_RPC_REQUEST : BRIG_RPC_NOTIFICATION;
        return 0;
}

static cJSON *envelope(const cJSON *id) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
                return NULL;
        if (!cJSON_AddStringToObject(o, "jsonrpc", "2.0") ||
            !brig_json_add(o, "id", id ? cJSON_Duplicate(id, false) : cJSON_CreateNull())) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

cJSON *brig_rpc_result(const cJSON *id, cJSON *result) {
        cJSON *o = envelope(id);
        if (!o || !result || !cJSON_AddItemToObject(o, "result", result)) {
                cJSON_Delete(o);
                cJSON_Delete(result);
                return NULL;
        }
        return o;
}

cJSON *brig_rpc_error(const cJSON *id, int code, const char *message, cJSON *data) {
        cJSON *o = envelope(id), *e = cJSON_CreateObject();

        /* brig_json_add() consumes what it is given, also when it fails; what is left is freed below. */
        if (o && e && cJSON_AddNumberToObject(e, "code", code) &&
            cJSON_AddStringToObject(e, "message", message) &&
            (!data || brig_json_add(e, "data", TAKE_PTR(data))) && brig_json_add(o, "error", TAKE_PTR(e)))
                return o;
        cJSON_Delete(data);
        cJSON_Delete(e);
        cJSON_Delete(o);
        return NULL;
}

cJSON *brig_rpc_notification(const char *method, cJSON *params) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "jsonrpc", "2.0") ||
            !cJSON_AddStringToObject(o, "method", method) || !params ||
            !cJSON_AddItemToObject(o, "params", params)) {
                cJSON_Delete(o);
                cJSON_Delete(params);
                return NULL;
        }
        return o;
}

int brig_rpc_id_key(const cJSON *id, char *buf, size_t size) {
        int n;
        if (cJSON_IsString(id))
                n = snprintf(buf, size, "s:%s", id->valuestring);
        else if (cJSON_IsNumber(id))
                n = snprintf(buf, size, "n:%.0f", id->valuedouble);
        else
                return -EINVAL;
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}
