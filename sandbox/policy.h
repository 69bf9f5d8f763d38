/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/error.h"
#include "sandbox/seccomp_profile.h"

/* A validated policy: what a jail may see and use. Built only by brig_policy_parse()/brig_policy_load(),
 * which check every field and never return a half-filled policy. The file format is docs/policy.md. */

typedef enum brig_network_mode {
        BRIG_NETWORK_NONE,  /* own network namespace with loopback only */
        BRIG_NETWORK_PROXY, /* the same, plus the worker's HTTP proxy on loopback, deciding by policy */
        _BRIG_NETWORK_MODE_MAX,
        _BRIG_NETWORK_MODE_INVALID = -22,
} brig_network_mode;

typedef struct brig_bind {
        char *source; /* absolute host path */
        char *dest;   /* absolute jail path */
        bool read_only;
        bool optional; /* a missing source is skipped instead of failing the jail */
} brig_bind;

typedef struct brig_tmpfs {
        char *dest;
        uint64_t size_bytes;
        unsigned mode;
} brig_tmpfs;

typedef enum brig_cgroup_use {
        BRIG_CGROUP_AUTO,     /* use cgroups where the host lets brigd, rlimits only elsewhere */
        BRIG_CGROUP_REQUIRED, /* refuse to start an environment without cgroup limits */
        BRIG_CGROUP_OFF,      /* rlimits only */
        _BRIG_CGROUP_USE_MAX,
        _BRIG_CGROUP_USE_INVALID = -22,
} brig_cgroup_use;

typedef enum brig_landlock_use {
        BRIG_LANDLOCK_AUTO,     /* apply Landlock where the kernel has it, skip it silently elsewhere */
        BRIG_LANDLOCK_OFF,      /* mount namespace only */
        BRIG_LANDLOCK_REQUIRED, /* refuse to start a jail without Landlock */
        _BRIG_LANDLOCK_USE_MAX,
        _BRIG_LANDLOCK_USE_INVALID = -22,
} brig_landlock_use;

/* How "filesystem.workspace_quota" is enforced (worker/env_quota.c, sandbox/wsimage.h). */
typedef enum brig_quota_enforce {
        BRIG_QUOTA_AUTO, /* hard (a filesystem of the quota's size) where the host allows, else soft */
        BRIG_QUOTA_HARD, /* hard or the environment does not start */
        BRIG_QUOTA_SOFT, /* measured after each writing call; calls that write are refused once over it */
        _BRIG_QUOTA_ENFORCE_MAX,
        _BRIG_QUOTA_ENFORCE_INVALID = -22,
} brig_quota_enforce;

const char *brig_quota_enforce_name(brig_quota_enforce e);
brig_quota_enforce brig_quota_enforce_from_name(const char *s);

typedef struct brig_limits {
        uint64_t wall_time_ms;    /* default and maximum timeout of one call */
        uint64_t cpu_time_ms;     /* RLIMIT_CPU (rounded up to seconds) */
        uint64_t memory_bytes;    /* RLIMIT_DATA (cgroups come later) */
        uint64_t processes;       /* RLIMIT_NPROC */
        uint64_t open_files;      /* RLIMIT_NOFILE */
        uint64_t file_size_bytes; /* RLIMIT_FSIZE */
        uint64_t output_bytes;    /* stdout + stderr kept per call; more is dropped and marked truncated */
        double cpus;              /* CPU time per second for a whole environment (cgroup cpu quota) */
        brig_cgroup_use cgroups;  /* whether an environment's limits must also be cgroup limits */
} brig_limits;

/* The policy is grouped by the JSON sections of docs/policy.md: each sub-struct below is one section (its
 * name is the section's key), parsed, defaulted and explained by one row of the section table in
 * sandbox/policy_sections.c. The sections the jail applies (filesystem .. identity) come first; "tools",
 * "history", "audit" and "environment" configure the layers above sandbox/ (tools/, worker/) and are
 * carried here only because the policy file is one document. */

/* "filesystem" */
typedef struct brig_policy_filesystem {
        brig_bind *binds; /* in file order: read_only entries, then read_write entries */
        size_t n_binds;
        brig_tmpfs *tmpfs;
        size_t n_tmpfs;
        char *workspace; /* jail path of the workspace, default "/workspace" */
        char **hidden;   /* NULL-terminated jail paths masked by an empty read-only mount */
        size_t n_hidden;
        uint64_t quota;                   /* "workspace_quota": bytes the workspace may use; 0: none */
        brig_quota_enforce quota_enforce; /* "workspace_quota.enforce", default AUTO */
} brig_policy_filesystem;

/* "env" */
typedef struct brig_policy_env {
        char **vars; /* NULL-terminated "NAME=value" list, sorted by name ("env" or "env.set") */
        size_t n_vars;
        char **pass; /* NULL-terminated names or NAME_PREFIX* patterns taken from the host ("env.pass") */
        size_t n_pass;
} brig_policy_env;

/* "seccomp": what the jail's program is compiled from (brig_policy_compile_seccomp()). */
typedef struct brig_policy_seccomp {
        char **deny; /* NULL-terminated extra syscall names denied on top of brig's fixed floor */
        size_t n_deny;
        bool *deny_audit; /* per deny entry: its denials are audited (seccomp.audit default) */
        bool audit;       /* floor denials go to the worker's listener, default true */
        int errno_ret;    /* "errno": positive errno returned by denied syscalls, default EPERM */
        brig_seccomp_profile *profile; /* "profile", NULL when none */
} brig_policy_seccomp;

/* "network" */
typedef struct brig_policy_network {
        brig_network_mode mode;
        struct brig_net_policy *net; /* PROXY: allow, deny, ports, allow_private (sandbox/netpolicy.h) */
        uint16_t proxy_port;         /* PROXY: port of the proxy on the jail's loopback, default 3128 */
        uint32_t max_connections;    /* PROXY: proxied connections open at once per environment */
        uint64_t max_bytes;          /* PROXY: bytes up and down per call, all connections together */
} brig_policy_network;

/* "identity" */
typedef struct brig_policy_identity {
        uint32_t uid; /* the command's uid and gid inside the jail, default 1000 */
        uint32_t gid;
} brig_policy_identity;

/* "tools" (tools/, worker/) */
typedef struct brig_policy_tools {
        char **allow; /* NULL: every tool; else the NULL-terminated names allowed */
        struct {
                bool read_only;       /* file tools may read but not change the workspace */
                uint64_t max_read;    /* bytes one read_file returns */
                uint64_t max_write;   /* bytes one write_file or edit_file writes */
                uint64_t max_results; /* entries of list_directory, glob, grep */
                bool fsync;           /* write_file and edit_file reach the disk before they answer */
        } files;
} brig_policy_tools;

/* "history" (tools/history.c) */
typedef struct brig_policy_history {
        bool auto_snapshot;     /* snapshot after every mutating call */
        char **exclude;         /* NULL-terminated gitignore-style patterns left out of snapshots */
        uint64_t max_file_size; /* files bigger than this are left out of snapshots */
} brig_policy_history;

/* "memory": the institutional memory an environment's agent reaches through the memory tool
 * (tools/memory_store.h). */
typedef enum brig_memory_mode {
        BRIG_MEMORY_READ_WRITE, /* view and change */
        BRIG_MEMORY_READ_ONLY,  /* view and history only: writes and restores are refused */
        BRIG_MEMORY_OFF,        /* the memory tools are hidden from tools/list and refused */
        _BRIG_MEMORY_MODE_MAX,
        _BRIG_MEMORY_MODE_INVALID = -22,
} brig_memory_mode;

typedef enum brig_memory_scope_kind {
        BRIG_MEMORY_SCOPE_OWNER,       /* every environment of the same client uid */
        BRIG_MEMORY_SCOPE_ENVIRONMENT, /* this environment only */
        BRIG_MEMORY_SCOPE_NAMED, /* the operator-named scope `scope_name`, shared by every policy naming it
                                  */
        _BRIG_MEMORY_SCOPE_KIND_MAX,
        _BRIG_MEMORY_SCOPE_KIND_INVALID = -22,
} brig_memory_scope_kind;

typedef struct brig_policy_memory {
        brig_memory_scope_kind scope;
        char *scope_name; /* NAMED: [a-z0-9][a-z0-9._-]{0,63}; else NULL */
        brig_memory_mode mode;
        uint64_t max_bytes; /* bytes of all of a scope's memories together */
        uint64_t max_files; /* memory files of a scope */
        bool mount;         /* the scope's files read-only at /memories in the jail (worker/memory_view.h) */
} brig_policy_memory;

/* "audit" (worker/audit.c) */
typedef struct brig_policy_audit {
        bool file_reads;     /* record calls of file tools that only read (read_file, grep, ...) */
        uint64_t max_string; /* strings in a call's recorded arguments are cut to this many bytes */
} brig_policy_audit;

/* "environment": lifetimes of persistent environments (worker/env.c) */
typedef struct brig_policy_environment {
        uint64_t idle_stop_ms; /* stop an environment no connection used for this long (workspace kept) */
        uint64_t retention_ms; /* delete an environment no connection used for this long */
} brig_policy_environment;

typedef struct brig_policy {
        char *name;        /* "name" field, else the file name without .json */
        char *description; /* may be NULL */

        brig_policy_filesystem filesystem;
        brig_limits limits;
        brig_policy_env env;
        brig_policy_seccomp seccomp;
        brig_policy_network network;
        char *hostname;             /* default "brig" */
        brig_landlock_use landlock; /* "landlock" */
        uint64_t capabilities; /* "capabilities": bit n: the command keeps capability n (sandbox/caps.h) */
        brig_policy_identity identity;

        brig_policy_tools tools;
        brig_policy_history history;
        brig_policy_memory memory;
        brig_policy_audit audit;
        brig_policy_environment environment;

        char digest[65]; /* SHA-256 of everything the policy was built from: equal digests, equal policies */
} brig_policy;

typedef enum brig_policy_severity {
        BRIG_POLICY_ERROR,   /* the policy is refused */
        BRIG_POLICY_WARNING, /* something was ignored (e.g. a profile's syscall unknown on this machine) */
        _BRIG_POLICY_SEVERITY_MAX,
        _BRIG_POLICY_SEVERITY_INVALID = -22,
} brig_policy_severity;

/* One problem found while checking a policy file. */
typedef struct brig_policy_diag {
        brig_policy_severity severity;
        char path[128];        /* JSON path, e.g. "limits.memory"; "" for the document */
        char msg[256];         /* e.g. "expected a size like \"512M\", got \"lots\"" */
        unsigned line, column; /* 1-based position of the value in the file when known, else 0 */
        char file[256]; /* the parent file (reached through "extends") the problem is in; "" for the file
                           being loaded. line and column are positions in this file */
} brig_policy_diag;

typedef struct brig_policy_diags {
        brig_policy_diag *items;
        size_t n;
} brig_policy_diags;

/* Parses and validates a policy from text. origin names the source in messages (a path or "<inline>"); a
 * relative seccomp.profile path resolves against origin's directory. On success returns 0 and a new policy
 * (caller frees); warnings may still be appended to diags. On failure returns a negative errno, fills err
 * with the first error as "PATH: MESSAGE", and, when diags is non-NULL, appends every error and warning
 * found (caller frees with brig_policy_diags_done()). Never half-applies; any thread. Reads the parent files
 * "extends" names (sandbox/policy_merge.h) and a seccomp.profile path (blocking I/O: not for the event-loop
 * thread); validating the resulting document reads nothing (sandbox/policy_document.c). */
int brig_policy_parse(const char *text, size_t len, const char *origin, brig_policy **ret,
                      brig_policy_diags *diags, brig_error *err);

/* Reads a file (at most 1 MiB) and parses it as above; the default name is the file's basename without
 * ".json". Blocking I/O: not for the event-loop thread. */
int brig_policy_load(const char *path, brig_policy **ret, brig_policy_diags *diags, brig_error *err);

/* What a loaded policy needs from this host and cannot know from its text: every bind's source that is not
 * optional exists. Appends an error per problem to diags; returns how many, or -ENOMEM. Blocking I/O. */
int brig_policy_check_host(const brig_policy *p, brig_policy_diags *diags);

/* Adds a bind of host path source at jail path dest (NULL: the same path) to a loaded policy, checked as a
 * policy's binds are (absolute, normalized, not reserved, not a mount point twice, not below a hidden
 * path); messages name the option ("--ro-bind" or "--bind"). For `brig run`. Returns 0 or -EINVAL/-ENOMEM
 * with err set. */
int brig_policy_add_bind(brig_policy *p, const char *source, const char *dest, bool read_only,
                         brig_error *err);

/* Compiles the policy's seccomp program exactly as brigd and `brig run` load it (floor, seccomp.deny,
 * seccomp.audit, seccomp.profile): a sealed memfd in *ret_fd (sandbox/seccomp.h). Any thread. */
int brig_policy_compile_seccomp(const brig_policy *p, int *ret_fd, brig_error *err);

/* The key of the program brig_policy_compile_seccomp() makes, from the same spec (brig_seccomp_spec_key()):
 * equal keys, equal programs. Returns 0 or -ENOMEM. */
int brig_policy_seccomp_key(const brig_policy *p, char out[static BRIG_SHA256_HEX]);

/* One effective value of a policy, as `brig policy explain` shows it where no file set it. */
typedef struct brig_policy_value {
        char *path;         /* JSON path, e.g. "limits.memory" */
        char *json;         /* the value as JSON text in the policy language, e.g. "\"1G\"" */
        const char *unless; /* the path whose presence in a file hides it ("env" for env.NAME), NULL: path */
        unsigned rank;      /* order keys (sandbox/policy_internal.h) */
        size_t seq;
} brig_policy_value;

/* Every value of p that has a default (docs/policy.md), from the section table: the document's name
 * first, then the rest in the order `brig policy explain` lists them. Returns 0 and a new array (free with
 * brig_policy_values_free()), or -ENOMEM. */
int brig_policy_defaults(const brig_policy *p, brig_policy_value **ret, size_t *ret_n);
void brig_policy_values_free(brig_policy_value *values, size_t n);

void brig_policy_free(brig_policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_policy *, brig_policy_free);
void brig_policy_diags_done(brig_policy_diags *d);

/* Whether the policy lets agents call the tool `name`. */
bool brig_policy_allows_tool(const brig_policy *p, const char *name);

/* Every tool name a policy's tools.allow may list. */
extern const char *const brig_tool_names[];

/* Adds to p->env.vars the variables of host_env (brigd's or brig's own environment) that env.pass names and
 * the policy does not set, keeping it sorted. Call once, right after loading. Returns how many were added,
 * or -ENOMEM. */
int brig_policy_env_pass(brig_policy *p, char *const *host_env);

/* Returns the policy's value for env NAME, or NULL. */
const char *brig_policy_getenv(const brig_policy *p, const char *name);
