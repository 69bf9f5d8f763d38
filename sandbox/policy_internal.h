/* SPDX-License-Identifier: MIT */
#pragma once

/* What the policy parser's files share: the parse context, bounds, the helpers that report problems with
 * JSON paths, and each section's parse and explain functions for the section table (policy_document.c).
 * Not for other modules. The files, one per stage and then one per group of sections:
 *   policy.c             loading: text, syntax, "extends" (policy_merge.c), seccomp.profile files; the
 *                        entry points, the digest, the seccomp spec. The only one that reads files.
 *   policy_merge.c       the "extends" loader: reads parent files and merges their documents.
 *   policy_document.c    the section table; validates a merged document (pure); explain's defaults.
 *   policy_filesystem.c  "filesystem".
 *   policy_sections.c    the other sections the jail applies: limits, env, seccomp, network, landlock,
 *                        capabilities, identity.
 *   policy_secrets.c     "network.secrets".
 *   policy_layers.c      the sections of the layers above the jail: tools, history, audit, environment.
 *   policy_memory.c      "memory" (a layer above the jail too, grown past a few lines).
 *   policy_util.c        problems, paths, typed getters, and the value formats explain prints. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sandbox/policy.h"
#include "sandbox/seccomp_profile.h"

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
        /* The loader's reader of seccomp.profile files (brig_seccomp_profile_load()): the document parser
         * itself reads no file. */
        int (*read_profile)(const char *file, brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                            brig_error *err);
} brig__policy_ctx;

/* Appends one diagnostic to c->diags, when the caller asked for them. */
void brig__policy_diag_append(brig__policy_ctx *c, brig_policy_severity severity, const char *path,
                              const char *msg, unsigned line, unsigned column);
/* Records one problem: into diags (the first MAX_DIAGS of them) and, if it is the first, into err as
 * "PATH: MESSAGE". Returns -EINVAL so that helpers can `return brig__policy_problem(...)`. */
__attribute__((format(printf, 5, 6))) int brig__policy_problem_at(brig__policy_ctx *c, const char *path,
                                                                  unsigned line, unsigned column,
                                                                  const char *fmt, ...);
/* The policy is refused for the problems already recorded: err holds the first of them (set by
 * brig__policy_problem_at), so this only returns its code, -EINVAL. Asserts that a problem was recorded. */
int brig__policy_refused(const brig__policy_ctx *c);
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

/* Where `brig policy explain` lists the defaults of each part (as it always has: its output does not
 * change); values of one rank keep the order their section added them in. */
typedef enum brig__explain_rank {
        BRIG__EXPLAIN_NAME,
        BRIG__EXPLAIN_ENV,
        BRIG__EXPLAIN_FILESYSTEM,
        BRIG__EXPLAIN_LIMITS,
        BRIG__EXPLAIN_SECCOMP_ERRNO,
        BRIG__EXPLAIN_NETWORK_MODE,
        BRIG__EXPLAIN_HOSTNAME,
        BRIG__EXPLAIN_ENVIRONMENT,
        BRIG__EXPLAIN_TOOLS,
        BRIG__EXPLAIN_HISTORY,
        BRIG__EXPLAIN_MEMORY,
        BRIG__EXPLAIN_SECCOMP_AUDIT,
        BRIG__EXPLAIN_LANDLOCK,
        BRIG__EXPLAIN_CAPABILITIES,
        BRIG__EXPLAIN_IDENTITY,
        BRIG__EXPLAIN_AUDIT,
        BRIG__EXPLAIN_NETWORK_PROXY,
} brig__explain_rank;

/* The effective values sections add for explain. */
typedef struct brig__policy_values {
        brig_policy_value *items;
        size_t n;
        bool oom;
} brig__policy_values;

/* Adds path = json (consumed; NULL is an allocation failure, remembered in v). unless (static) is the path
 * whose presence in the file hides the value, NULL for path itself. */
void brig__policy_value_add(brig__policy_values *v, brig__explain_rank rank, const char *path,
                            const char *unless, char *json);
/* Values as JSON text in the policy language: "1G", "60s", "\"text\"", true. New strings or NULL. */
char *brig__policy_show_size(uint64_t v);
char *brig__policy_show_duration(uint64_t ms);
char *brig__policy_show_string(const char *s);
char *brig__policy_show_bool(bool b);
__attribute__((format(printf, 1, 2))) char *brig__policy_show(const char *fmt, ...);

/* "network.secrets" (policy_secrets.c), after the rest of "network" in proxy mode. */
void brig__policy_parse_secrets(brig__policy_ctx *c, const cJSON *arr, brig_policy *p);

/* Validates a merged document into p: every row of the section table, in order. Pure. */
void brig__policy_parse_document(brig__policy_ctx *c, const cJSON *root, brig_policy *p);

/* The sections of the table: each parse validates its member (NULL: absent) and sets its defaults first;
 * each explain adds its effective values. */
#define BRIG__POLICY_SECTION(name)                                                                          \
        void brig__policy_parse_##name(brig__policy_ctx *c, const cJSON *it, brig_policy *p);               \
        void brig__policy_explain_##name(const brig_policy *p, brig__policy_values *v)
BRIG__POLICY_SECTION(filesystem);   /* policy_filesystem.c */
BRIG__POLICY_SECTION(limits);       /* policy_sections.c */
BRIG__POLICY_SECTION(env);          /* policy_sections.c */
BRIG__POLICY_SECTION(seccomp);      /* policy_sections.c */
BRIG__POLICY_SECTION(network);      /* policy_sections.c */
BRIG__POLICY_SECTION(landlock);     /* policy_sections.c */
BRIG__POLICY_SECTION(capabilities); /* policy_sections.c */
BRIG__POLICY_SECTION(identity);     /* policy_sections.c */
BRIG__POLICY_SECTION(environment);  /* policy_layers.c */
BRIG__POLICY_SECTION(tools);        /* policy_layers.c */
BRIG__POLICY_SECTION(history);      /* policy_layers.c */
BRIG__POLICY_SECTION(audit);        /* policy_layers.c */
BRIG__POLICY_SECTION(memory);       /* policy_memory.c */
