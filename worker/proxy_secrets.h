/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct brig_net_policy;
struct brig_net_secret;

/* The values of a proxy-mode environment's network.secrets (docs/policy.md, "Secrets"): read by brigd from
 * their sources when the environment starts, held in memory only (wiped when freed), and put into requests
 * by the proxy: a header template's header, or the value in place of a placeholder the jail's environment
 * holds. Loop thread only; the header rewriting is pure. */

#define BRIG_PROXY_SECRET_VALUE_MAX 8192
/* "brig-secret-" and 32 random bytes in hex. */
#define BRIG_PROXY_SECRET_PLACEHOLDER_LEN (12 + 64)

typedef struct brig_proxy_secret {
        const struct brig_net_secret *def; /* borrowed from the environment's policy */
        char name[64 + 1];                 /* def's, kept across a change of policy */
        char *value;                       /* NULL while unread or unreadable */
        size_t value_len;
        char placeholder[BRIG_PROXY_SECRET_PLACEHOLDER_LEN + 1]; /* "" for header templates */
        char error[200]; /* why value is NULL: names the secret, never a value */
} brig_proxy_secret;

typedef struct brig_proxy_secrets {
        const struct brig_net_policy *net; /* borrowed: the policy section they were made for */
        brig_proxy_secret *items;
        size_t n;
        char **env; /* NULL-terminated NAME=placeholder of the placeholder secrets, for every command */
} brig_proxy_secrets;

/* The secrets of n with no values yet, and placeholders: those of keep (NULL: none) for the placeholder
 * secrets of the same name, else fresh ones (getrandom). */
int brig_proxy_secrets_new(const struct brig_net_policy *n, const brig_proxy_secrets *keep,
                           brig_proxy_secrets **ret, brig_error *err);
/* Reads every source again (blocking: small local files and brigd's environment). A file must be a regular
 * file owned by brigd's effective uid and not readable by group or others; a variable must be set and not
 * empty; a value must be 1 to 8192 bytes without control characters (one trailing newline of a file is
 * dropped). Failures are kept per secret. */
void brig_proxy_secrets_load(brig_proxy_secrets *s);
/* 0, or -ENOKEY with the first unreadable secret's error. */
int brig_proxy_secrets_check(const brig_proxy_secrets *s, brig_error *err);
/* Wipes the values and frees. Accepts NULL. */
void brig_proxy_secrets_free(brig_proxy_secrets *s);

/* What the proxy does with one request's head for host (normalized). */
typedef struct brig_proxy_rewrite {
        char *headers; /* the rewritten header lines; the caller wipes and frees them */
        size_t len;
        uint64_t used; /* bit i: items[i] was put into the request */
        size_t secret; /* on -EACCES or -ENOKEY: the index of the secret refused */
} brig_proxy_rewrite;

/* Refuses a request whose head (request line and headers, head_len bytes) holds the placeholder of a secret
 * host is not among the hosts of: -EACCES with ret->secret. Pure; s may be NULL. */
int brig_proxy_secrets_scan(const brig_proxy_secrets *s, const char *host, const char *head, size_t head_len,
                            size_t *ret_secret);
/* The first secret whose hosts include host, or -ENOENT. */
int brig_proxy_secrets_for_host(const brig_proxy_secrets *s, const char *host, size_t *ret_secret);
/* Rewrites the header lines (each ending in "\n", without the blank line) of a plain HTTP request to host:
 * each secret of host with a header template replaces the headers of that name with its own; each
 * placeholder of a secret of host is replaced by its value wherever it occurs. Scans first
 * (brig_proxy_secrets_scan()): -EACCES. -ENOKEY when a secret needed has no value. Pure. */
int brig_proxy_secrets_rewrite(const brig_proxy_secrets *s, const char *host, const char *head,
                               size_t head_len, const char *lines, size_t lines_len,
                               brig_proxy_rewrite *ret);
