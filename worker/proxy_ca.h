/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "common/error.h"

typedef struct brig_env brig_env;

/* The certificate authority of an environment's TLS interception (network.secrets over HTTPS; the
 * building blocks are worker/proxy_tls.h). Each start of an environment whose policy is in proxy mode and
 * names secrets gets a new CA for exactly the secrets' hosts (a reload may have changed them), before its
 * jail's plan is built: the plan binds the CA bundle read-only into the jail (sandbox/plan.h,
 * BRIG_PLAN_CA_BUNDLE), and the proxy, which only starts once the jail is up, finds the CA in env->tls_ca.
 * The key is made and the bundle written on the thread pool (the bundle is fsynced); the CA is handed to the
 * loop thread in the callback and used only there from then on. Its private key never leaves brigd's
 * memory. */

/* The bundle's name in the environment's directory, which the jail does not see (only the bind). */
#define BRIG_PROXY_CA_BUNDLE_NAME "ca-bundle.pem"

/* Whether env's policy needs TLS interception: proxy mode with network.secrets. */
bool brig__proxy_ca_needed(const brig_env *env);

/* err NULL: env->tls_ca holds a new CA and its bundle is in env's directory. */
typedef void (*brig_proxy_ca_cb)(brig_env *env, const brig_error *err);

/* Replaces env's CA and bundle (env->tls_ca is freed now; the proxy is not running between a jail's stop
 * and its start) and calls cb on the loop thread; env is held until then. On failure (-ENOMEM) cb is not
 * called. */
int brig__proxy_ca_make(brig_env *env, brig_proxy_ca_cb cb, brig_error *err);
