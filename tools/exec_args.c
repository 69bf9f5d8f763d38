/* SPDX-License-Identifier: MIT */
/* The exec tool's arguments: validation (its schemas are in tools/registry.c). */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "tools/exec.h"

void brig_exec_args_done(brig_exec_args *a) {
        brig_strv_free(a->argv);
        brig_strv_free(a->env);
        free(a->cwd);
        free(a->stdin_data);
        *a = (brig_exec_args){0};
}

/* One variable: "NAME=value" into *ret, the name checked. */
static int env_entry(const char *name, const cJSON *value, const char *where, char **ret, brig_error *err) {
        if (!cJSON_IsString(value))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: expected a string, got %s", where, brig_json_type_name(value));
        if (!name[0] || strchr(name, '='))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.env: invalid variable name \"%.64s\"", name);
        if (asprintf(ret, "%s=%s", name, value->valuestring) < 0) {
                *ret = NULL;
                return brig_error_oom(err);
        }
        return 0;
}

/* env is published as an array of {name, value} (a closed schema, so strict-mode clients can send it);
 * the older object of strings is still accepted. */
static int parse_env(const cJSON *env, brig_exec_args *a, brig_error *err) {
        static const char *const keys[] = {"name", "value", NULL};
        size_t n = (size_t) cJSON_GetArraySize(env), i = 0;
        const cJSON *it;
        char where[96];
        int r;

        if (!cJSON_IsObject(env) && !cJSON_IsArray(env))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.env: expected an array of {name, value}, got %s",
                                      brig_json_type_name(env));
        if (n > BRIG_PLAN_MAX_ENV)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "arguments.env: more than %d variables",
                                      BRIG_PLAN_MAX_ENV);
        a->env = calloc(n + 1, sizeof(char *));
        if (!a->env)
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, env) {
                const char *name = it->string;
                const cJSON *value = it;
                if (cJSON_IsArray(env)) {
                        (void) snprintf(where, sizeof(where), "arguments.env[%zu]", i);
                        if (!cJSON_IsObject(it))
                                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                                      "%s: expected an object {name, value}, got %s", where,
                                                      brig_json_type_name(it));
                        if ((r = brig_json_check_keys(it, where, keys, err)) < 0 ||
                            (r = brig_json_get_string(it, where, "name", true, &name, err)) < 0)
                                return r;
                        value = brig_json_member(it, "value");
                        (void) snprintf(where, sizeof(where), "arguments.env[%zu].value", i);
                        if (!value)
                                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                                      "arguments.env[%zu]: missing required field \"value\"",
                                                      i);
                } else
                        (void) snprintf(where, sizeof(where), "arguments.env.%.64s", name);
                if ((r = env_entry(name, value, where, &a->env[i], err)) < 0)
                        return r;
                i++;
        }
        return 0;
}

static int parse_into(const cJSON *args, brig_exec_args *a, brig_error *err) {
        static const char *const keys[] = {"command", "argv",       "cwd",        "env",
                                           "stdin",   "timeout_ms", "background", NULL};
        const char *command = NULL, *cwd = NULL, *in = NULL;
        const cJSON *argv = brig_json_member(args, "argv"), *env = brig_json_member(args, "env");
        size_t n = 0;
        int r;

        if (!cJSON_IsObject(args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object, got %s", brig_json_type_name(args));
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "command", false, &command, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "cwd", false, &cwd, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "stdin", false, &in, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "timeout_ms", BRIG_EXEC_MAX_TIMEOUT_MS, &a->timeout_ms,
                                   err)) < 0)
                return r;
        if ((r = brig_json_get_bool(args, "arguments", "background", &a->background, err)) < 0)
                return r;
        if (a->background && brig_json_member(args, "timeout_ms"))
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "arguments.timeout_ms: a background process has no timeout; stop it with "
                        "process_kill");
        if (!!command == !!argv)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: exactly one of \"command\" and \"argv\" is required");
        if (brig_json_member(args, "timeout_ms") && a->timeout_ms == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.timeout_ms: must be at least 1");
        if (command) {
                if (!command[0])
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.command: must not be empty");
                if (strlen(command) > BRIG_PLAN_MAX_ARG_BYTES)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                              "arguments.command: longer than %d bytes",
                                              BRIG_PLAN_MAX_ARG_BYTES);
                a->argv = calloc(4, sizeof(char *));
                if (!a->argv || !(a->argv[0] = strdup("/bin/sh")) || !(a->argv[1] = strdup("-c")) ||
                    !(a->argv[2] = strdup(command)))
                        return brig_error_oom(err);
        } else {
                r = brig_json_get_strv(args, "arguments", "argv", BRIG_PLAN_MAX_ARGS,
                                       BRIG_PLAN_MAX_ARG_BYTES, &a->argv, &n, err);
                if (r < 0)
                        return r;
                if (n == 0 || !a->argv[0][0])
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.argv: must name a program");
        }
        if (cwd && cwd[0]) {
                if ((r = brig_relpath_check(cwd, "arguments.cwd", err)) < 0)
                        return r;
                if (!(a->cwd = strdup(cwd)))
                        return brig_error_oom(err);
        }
        if (env && (r = parse_env(env, a, err)) < 0)
                return r;
        if (in) {
                a->stdin_len = strlen(in);
                if (a->stdin_len > BRIG_EXEC_MAX_STDIN)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                              "arguments.stdin: longer than %u bytes", BRIG_EXEC_MAX_STDIN);
                if (!(a->stdin_data = strdup(in)))
                        return brig_error_oom(err);
                a->has_stdin = true;
        }
        return 0;
}

int brig_exec_args_parse(const cJSON *arguments, brig_exec_args *ret, brig_error *err) {
        brig_exec_args a = {0};
        int r = parse_into(arguments, &a, err);

        if (r < 0) {
                brig_exec_args_done(&a);
                return r;
        }
        *ret = a;
        return 0;
}
