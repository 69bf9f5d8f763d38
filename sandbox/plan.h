/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "sandbox/policy.h"

/* A jail plan: everything brig-jail will do, as plain data. Built by pure code from a policy and a request
 * (brig_plan_build), carried to the helper as JSON (brig_plan_to_json / brig_plan_from_json) and applied
 * there (sandbox/jail.h). Keeping it data makes it testable without privileges and reusable for the
 * persistent environments to come. */

/* The uid/gid every jailed process has inside its user namespace unless the policy's "identity" says. */
#define BRIG_JAIL_UID 1000
#define BRIG_JAIL_GID 1000
/* Host id that jails map to when brigd is real root (override with brigd --jail-id). */
#define BRIG_JAIL_HOST_ID_DEFAULT 100000

typedef enum brig_mount_kind {
        BRIG_MOUNT_BIND,
        BRIG_MOUNT_TMPFS,
        BRIG_MOUNT_PROC,
        BRIG_MOUNT_DEV,
        BRIG_MOUNT_FILE, /* a generated read-only file with `content` */
        BRIG_MOUNT_HIDE, /* masks what is at dest: an empty read-only directory or file */
        _BRIG_MOUNT_KIND_MAX,
        _BRIG_MOUNT_KIND_INVALID = -22,
} brig_mount_kind;

typedef struct brig_mount {
        brig_mount_kind kind;
        char *source;  /* BIND: absolute host path */
        char *dest;    /* absolute jail path */
        char *content; /* FILE */
        uint64_t size; /* TMPFS bytes */
        unsigned mode; /* TMPFS */
        bool read_only;
        bool optional;
} brig_mount;

/* One Landlock rule: the rights (BRIG_LANDLOCK_FS_*, sandbox/landlock.h) granted beneath a jail path. The
 * jail keeps the rights the kernel's ABI knows, and only file rights on a path that is not a directory. */
typedef struct brig_landlock_rule {
        char *path; /* absolute jail path */
        uint64_t access;
} brig_landlock_rule;

/* What brig-jail does with the plan. */
typedef enum brig_plan_mode {
        BRIG_PLAN_RUN,   /* build a fresh jail, run the command in it, tear it all down */
        BRIG_PLAN_HOLD,  /* build an environment's jail and keep its init alive as the environment's pid 1 */
        BRIG_PLAN_ENTER, /* a command for a held environment: its init (the spawner) forks and runs it */
        _BRIG_PLAN_MODE_MAX,
        _BRIG_PLAN_MODE_INVALID = -22,
} brig_plan_mode;

typedef struct brig_plan_rlimit {
        int resource;   /* RLIMIT_* */
        uint64_t value; /* soft = hard */
} brig_plan_rlimit;

typedef struct brig_plan {
        brig_plan_mode mode;
        unsigned long namespaces; /* CLONE_NEW* flags created (RUN, HOLD) */
        uid_t uid_inside, uid_outside;
        gid_t gid_inside, gid_outside;
        char *hostname;
        bool loopback; /* bring `lo` up in the new network namespace */
        /* HOLD: port of the HTTP proxy listener the init creates on 127.0.0.1 in the new network namespace
         * and sends to brigd (BRIG_JAILCTL_PROXY, sandbox/jailctl.h); 0 for none. ENTER: the port the proxy
         * variables in envp name. */
        uint16_t proxy_port;

        brig_mount *mounts;
        size_t n_mounts;

        brig_plan_rlimit rlimits[8];
        size_t n_rlimits;

        char *cwd;    /* absolute jail path */
        char **argv;  /* NULL-terminated, argv[0] looked up in the plan's PATH */
        char **envp;  /* NULL-terminated NAME=value */
        bool seccomp; /* a seccomp program must be supplied and loaded */

        /* Landlock (RUN and HOLD; an ENTER command inherits its environment's domain): rules are empty
         * when landlock is OFF. */
        brig_landlock_use landlock;
        brig_landlock_rule *landlock_rules;
        size_t n_landlock_rules;

        uint64_t capabilities; /* bit n: capability n stays, in every set (RUN, HOLD); usually 0 */
} brig_plan;

/* Host identity the jail maps to: the caller's own uid, or, for real root, an unprivileged host id. */
typedef struct brig_identity {
        uid_t uid_outside;
        gid_t gid_outside;
        bool root; /* real root in the initial user namespace: ids are remapped and workspaces chowned */
} brig_identity;

/* Decides the identity for this process: real root (uid 0 with the full initial uid map) maps jails to
 * host_id; anyone else (a user, or root inside `unshare -r`) maps to itself. Reads /proc: blocking. */
int brig_identity_detect(uid_t host_id, brig_identity *ret, brig_error *err);

typedef struct brig_plan_request {
        brig_plan_mode mode;
        const char *const *argv; /* NULL-terminated; required unless mode is HOLD */
        const char *const *env;  /* optional extra NAME=value, override the policy's */
        const char *cwd;         /* relative to the workspace; NULL or "" for its root */
        const char *workspace;   /* absolute host path, bound read-write at the policy's workspace path */
        /* optional NAME=placeholder of the policy's network.secrets (made by the worker), set unless env or
         * the policy sets the same name */
        const char *const *secret_env;
        const char *memories; /* absolute host path bound read-only at BRIG_PLAN_MEMORIES; NULL: none */
        /* optional: the host path of the environment's CA bundle (the system roots and the CA of its TLS
         * interception for network.secrets, worker/proxy_ca.h), which a HOLD plan binds read-only at
         * BRIG_PLAN_CA_BUNDLE; an ENTER plan only needs it not NULL once its environment's jail has it.
         * Proxy-mode plans then point BRIG_PLAN_CA_VARS at it, unless env or the policy sets them. */
        const char *ca_bundle;
} brig_plan_request;

/* Where a memory scope's files appear in the jail with the policy's memory.mount. */
#define BRIG_PLAN_MEMORIES "/memories"

/* Where a jail sees its environment's CA bundle: a file of its own under /etc, the jail's generated
 * directory, so that a policy's read-only bind of /etc/ssl stays as it is. */
#define BRIG_PLAN_CA_BUNDLE "/etc/brig/ca-bundle.pem"
/* The variables naming it: OpenSSL, curl and Python's ssl; Python requests; Node (added to its own roots);
 * git. */
#define BRIG_PLAN_CA_VARS                                                                                   \
        { "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO" }

/* Limits on what a request may carry (checked by brig_plan_build and the exec tool). */
#define BRIG_PLAN_MAX_ARGS 4096
#define BRIG_PLAN_MAX_ARG_BYTES (128 * 1024)
#define BRIG_PLAN_MAX_ENV 512
#define BRIG_PLAN_MAX_TOTAL_BYTES (1024 * 1024)

/* Pure: validates the request against the policy and returns a new plan (caller frees). RUN and HOLD plans
 * carry the mounts; an ENTER plan carries only what the command needs (ids, env, cwd, rlimits), as the
 * environment already has its root. Errors name the offending field ("cwd: must be relative to the
 * workspace, got \"/etc\""). Any thread. */
int brig_plan_build(const brig_policy *policy, const brig_plan_request *req, const brig_identity *id,
                    brig_plan **ret, brig_error *err);

void brig_plan_free(brig_plan *plan);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_plan *, brig_plan_free);

/* Validates a workspace-relative path: non-empty components, no "." or "..", not absolute, <= 4095 bytes. */
int brig_relpath_check(const char *path, const char *field, brig_error *err);

/* Transport between the daemon/CLI and brig-jail. to_json returns a new string (caller frees) or NULL. */
char *brig_plan_to_json(const brig_plan *plan);
int brig_plan_from_json(const char *text, size_t len, brig_plan **ret, brig_error *err);
