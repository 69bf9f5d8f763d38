/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/error.h"

typedef struct brig_env brig_env;

/* The HTTP proxy of a proxy-mode environment (network.mode "proxy"; see worker/proxy.c). Loop thread only.
 */

#define BRIG_PROXY_HEADER_MAX (16 * 1024)  /* bytes of a request line plus headers */
#define BRIG_PROXY_HEADER_TIMEOUT_MS 30000 /* to send them, and for the upstream to accept */
#define BRIG_PROXY_MAX_RESOLVE 256         /* brigd --resolve entries */
#define BRIG_PROXY_OVER_LIMIT 16           /* refused connections kept to answer beyond max_connections */

/* A static name → address entry (brigd --resolve NAME=ADDR): the proxy uses it instead of DNS. */
typedef struct brig_proxy_resolve {
        char name[254]; /* normalized (lower case, no trailing dot) */
        struct sockaddr_storage addr;
        socklen_t addr_len;
} brig_proxy_resolve;

/* Parses "NAME=ADDR" (ADDR an IPv4 or IPv6 literal) into *ret. -EINVAL with a message naming the part that
 * is wrong. Pure. */
int brig_proxy_resolve_parse(const char *arg, brig_proxy_resolve *ret, brig_error *err);

/* Starts env's proxy on fd, the listening socket its init created on loopback in the environment's network
 * namespace, with diag_fd, a NETLINK_SOCK_DIAG socket of that namespace, or -1 (connections are then
 * attributed to no call). Both are taken (closed on failure). Logs its own failures: the environment then
 * has no way out. */
void brig__proxy_start(brig_env *env, int fd, int diag_fd);

/* Whether env's calls may run as far as network.secrets go: 0, or -ENOKEY naming the first secret whose
 * value could not be read (never the value), or saying the proxy is not running. */
int brig__proxy_secrets_check(const brig_env *env, brig_error *err);

/* The NAME=placeholder variables of env's network.secrets for its commands, or NULL (borrowed from env). */
const char *const *brig__proxy_secret_env(const brig_env *env);

/* After env->policy changed (a restart after a reload), rebuilds env's network.secrets for it, placeholders
 * kept by name, before the policy they borrow from is released. */
void brig__proxy_secrets_follow(brig_env *env);

/* Stops it (the holder is going): open connections are cut and audited. Idempotent. */
void brig__proxy_stop(brig_env *env);
