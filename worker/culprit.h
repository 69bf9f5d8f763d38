/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct brig_env brig_env;
typedef struct brig_call brig_call;
typedef struct brig_process brig_process;

/* Which call or background process an event in an environment belongs to (worker/culprit.c), used by the
 * audited seccomp denials and the network proxy. Loop thread only. */

/* What an event in an environment is attributed to (both NULL: nothing). Borrowed. */
typedef struct brig_culprit {
        brig_call *call;       /* a running call's command, or NULL */
        brig_process *process; /* a background process, or NULL */
} brig_culprit;

/* Attributes host pid `pid`, a process of env, to the running call or background process whose command it
 * belongs to (see the theory of operation in culprit.c). Reads /proc: a few small reads. */
brig_culprit brig__culprit_of(brig_env *env, pid_t pid);

/* Streams an audit event to the client of the call that caused it, as an MCP `notifications/message` with
 * `logger`, when the call still runs and its connection is open. ev stays the caller's. */
void brig__culprit_notify(brig_call *call, const cJSON *ev, const char *logger);
