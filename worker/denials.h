/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct brig_env brig_env;

/* Audited seccomp denials of one environment (see worker/denials.c). Loop thread only. */

/* Rate bound per environment: a token bucket of BRIG_DENIALS_BURST events refilled at BRIG_DENIALS_RATE
 * per second; at most BRIG_DENIALS_BATCH notifications are handled per loop iteration. */
#define BRIG_DENIALS_RATE 20
#define BRIG_DENIALS_BURST 50
#define BRIG_DENIALS_BATCH 32

/* Called once env's init reported "ready", with the seccomp listener it sent on the control socket (when
 * its policy audits denials; the fd is taken): starts answering and auditing them. Logs its own failures:
 * the environment then runs with audited calls failing with ENOSYS. */
void brig__denials_start(brig_env *env, int fd);

/* Stops watching (the holder is going): pending notifications are left to the kernel, which fails them
 * with ENOSYS once the listener is closed. Idempotent. */
void brig__denials_stop(brig_env *env);
