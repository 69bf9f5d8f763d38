/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"

/* Docker/OCI JSON seccomp profiles (docs/policy.md, "seccomp.profile"), turned into plain data for the
 * native architecture: rules whose includes/excludes do not match this machine are dropped, syscall names
 * are resolved to numbers, actions and comparisons are libseccomp values. Compiling is sandbox/seccomp.c's
 * job, under brig's floor. */

#define BRIG_SECCOMP_PROFILE_MAX_BYTES (1024 * 1024)
#define BRIG_SECCOMP_PROFILE_MAX_RULES 4096
#define BRIG_SECCOMP_PROFILE_MAX_ARGS 6
#define BRIG_SECCOMP_PROFILE_MAX_NAMES 1024 /* per rule */

typedef struct brig_seccomp_profile_arg {
        unsigned index;     /* 0..5 */
        int op;             /* enum scmp_compare */
        uint64_t value;     /* MASKED_EQ: the mask */
        uint64_t value_two; /* MASKED_EQ: the value compared after masking */
} brig_seccomp_profile_arg;

typedef struct brig_seccomp_profile_rule {
        size_t json_index; /* position in "syscalls", for messages */
        int *nrs;          /* native syscall numbers (names unknown here are dropped with a warning) */
        size_t n_nrs;
        uint32_t action; /* libseccomp action (SCMP_ACT_*) */
        brig_seccomp_profile_arg args[BRIG_SECCOMP_PROFILE_MAX_ARGS];
        size_t n_args;
} brig_seccomp_profile_rule;

typedef struct brig_seccomp_profile {
        uint32_t default_action;          /* libseccomp action */
        brig_seccomp_profile_rule *rules; /* only the rules that apply on this machine, in file order */
        size_t n_rules;
        char digest[65]; /* SHA-256 of the profile's JSON: equal digests compile to equal programs */
} brig_seccomp_profile;

typedef struct brig_seccomp_profile_diag {
        bool warning;   /* false: an error, the profile is refused */
        char path[128]; /* JSON path including the caller's prefix, e.g. "seccomp.profile.syscalls[3].action"
                         */
        char msg[256];
} brig_seccomp_profile_diag;

typedef struct brig_seccomp_profile_diags {
        brig_seccomp_profile_diag *items;
        size_t n;
} brig_seccomp_profile_diags;

/* Parses a profile from JSON. prefix starts every diagnostic's path ("seccomp.profile"). kernel_release
 * ("6.1.0-18-amd64") decides minKernel; NULL asks uname(2). On success returns 0 and a new profile (caller
 * frees); warnings (unknown syscall names, ignored features) may be appended to diags. On failure returns
 * -EINVAL with the first error as "PATH: MESSAGE" in err and every error and warning in diags, or -ENOMEM.
 * diags may be NULL; the caller frees it with brig_seccomp_profile_diags_done(). Does not log; any thread.
 */
int brig_seccomp_profile_parse(const cJSON *json, const char *prefix, const char *kernel_release,
                               brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                               brig_error *err);

/* Reads the file at path (a regular file of at most BRIG_SECCOMP_PROFILE_MAX_BYTES) and parses it as above.
 * I/O and JSON syntax errors are reported at prefix itself, and returned with err holding the same code: the
 * errno of open/stat/read (-ENOENT: kind not_found), -EFBIG for a file over the limit, -EINVAL for one that
 * is not a regular file or not JSON. Blocking I/O: not for the event-loop thread. */
int brig_seccomp_profile_load(const char *path, const char *prefix, const char *kernel_release,
                              brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                              brig_error *err);

void brig_seccomp_profile_free(brig_seccomp_profile *p);
void brig_seccomp_profile_diags_done(brig_seccomp_profile_diags *d);
