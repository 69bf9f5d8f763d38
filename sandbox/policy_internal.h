/* SPDX-License-Identifier: MIT */
#pragma once

/* What the policy parser's files share (sandbox/policy.c, policy_util.c, policy_sections.c): the parse
 * context, bounds, and the helpers that report problems with JSON paths. Not for other modules. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sandbox/policy.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define MAX_NET_RULES 1024
#define TIB (UINT64_C(1) << 40)

#define POLICY_MAX_BYTES (1024 * 1024) /* documented in docs/policy.md, as are the bounds below */
#define MAX_PATH_BYTES 4095
#define MAX_NAME_BYTES 64
#define MAX_DESCRIPTION_BYTES 1024
#define MAX_BINDS 256 /* per list */
#define MAX_TMPFS 64
#define MAX_ENV 256
#define MAX_ENV_NAME_BYTES 255
#define MAX_ENV_VALUE_BYTES (32 * 1024)
#define MAX_DENY 512
#define MAX_SYSCALL_NAME_BYTES 64
#define MAX_DIAGS 100
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact doubles */

#define PATHBUF 128 /* == sizeof(brig_policy_diag.path); longer paths are cut */
#define QUOTEBUF 80

typedef struct brig__policy_ctx {
        brig_policy_diags *diags; /* borrowed from the caller, may be NULL */
        brig_error *err;          /* borrowed from the caller, may be NULL */
        const char *origin;       /* borrowed from the caller: a path or "<inline>", may be NULL */
        size_t n_problems;
        size_t n_warnings;
        bool oom;
} brig__policy_ctx;

/* Appends one diagnostic to c->diags, when the caller asked for them. */
void brig__policy_diag_append(brig__policy_ctx *c, brig_policy_severity severity, const char *path,
                              const char *msg, unsigned line, unsigned column);
/* Records one problem: into diags (the first MAX_DIAGS of them) and, if it is the first, into err as
 * "PATH: MESSAGE". Returns -EINVAL so that helpers can `return brig__policy_problem(...)`. */
__attribute__((format(printf, 5, 6))) int brig__policy_problem_at(brig__policy_ctx *c, const char *path,
                                                                  unsigned line, unsigned column,
                                                                  const char *fmt, ...);
/* Records something ignored: into diags only; never fails the policy. */
void brig__policy_warning(brig__policy_ctx *c, const char *path, const char *msg);
/* Whether a member name can appear in a path without brackets and quotes. */
bool brig__policy_is_plain_key(const char *s);
/* File-controlled text, quoted, escaped and cut after about 64 bytes, for messages. */
const char *brig__policy_quote(char buf[static QUOTEBUF], const char *s);
/* JSON paths of diagnostics: parent.key (or parent["key"]) and parent[i]. */
const char *brig__policy_path_key(char buf[static PATHBUF], const char *parent, const char *key);
const char *brig__policy_path_index(char buf[static PATHBUF], const char *parent, size_t i);
/* strdup that records running out of memory in c. */
char *brig__policy_xstrdup(brig__policy_ctx *c, const char *s);
/* Type and shape checks that record a problem at path and return false (or 0) when they fail. */
bool brig__policy_check_type(brig__policy_ctx *c, const char *path, const cJSON *it, bool ok,
                             const char *what);
void brig__policy_check_keys(brig__policy_ctx *c, const cJSON *obj, const char *path,
                             const char *const *allowed);
size_t brig__policy_array_len(brig__policy_ctx *c, const cJSON *arr, const char *path, size_t max);
bool brig__policy_charset_ok(const char *s, const char *extra, size_t max);
/* Typed getters: each checks bounds and leaves *ret untouched on a problem. */
bool brig__policy_get_size(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min,
                           uint64_t max, const char *range, uint64_t *ret);
void brig__policy_get_duration(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min,
                               uint64_t max, const char *range, uint64_t *ret);
void brig__policy_get_int(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min, uint64_t max,
                          uint64_t *ret);
char **brig__policy_get_strv(brig__policy_ctx *c, const cJSON *arr, const char *path, size_t max,
                             bool (*ok)(brig__policy_ctx *c, const char *path, const char *s));
void brig__policy_get_bool(brig__policy_ctx *c, const char *path, const cJSON *it, bool *ret);

#define brig__policy_problem(c, path, ...) brig__policy_problem_at(c, path, 0, 0, __VA_ARGS__)

/* Sections parsed in policy_sections.c; each sets its fields' defaults and validates what is given. */
void brig__policy_parse_env(brig__policy_ctx *c, const cJSON *env, brig_policy *p);
void brig__policy_parse_environment(brig__policy_ctx *c, const cJSON *sec, brig_policy *p);
void brig__policy_parse_tools(brig__policy_ctx *c, const cJSON *sec, brig_policy *p);
void brig__policy_parse_history(brig__policy_ctx *c, const cJSON *sec, brig_policy *p);
void brig__policy_parse_audit(brig__policy_ctx *c, const cJSON *sec, brig_policy *p);
void brig__policy_parse_landlock(brig__policy_ctx *c, const cJSON *it, brig_policy *p);
void brig__policy_parse_capabilities(brig__policy_ctx *c, const cJSON *arr, brig_policy *p);
void brig__policy_parse_identity(brig__policy_ctx *c, const cJSON *sec, brig_policy *p);
void brig__policy_parse_network(brig__policy_ctx *c, const cJSON *it, brig_policy *p);
