/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "common/error.h"

/* The policy's memory.mount: a memory scope's store is a bare git repository (tools/memory_store.h), which
 * a script cannot read, so brigd keeps a checked-out copy of its current version in a plain directory,
 * <state-dir>/memory-view/<kind>/<name>, that jails of such a policy get read-only at /memories
 * (sandbox/plan.h). brigd is its only writer: before an environment's jail is built and after each change
 * of the scope. A file is replaced by a rename of a complete new file, so a reader sees the old content
 * or the new, never a part; files the store no longer has go. The directory itself stays (the jails' bind
 * mounts hold it), so an environment sees later changes. Blocking: a work thread's. */

/* Brings view_dir (created 0755 with missing parents) to the current version of the store in store_dir,
 * holding the store's writer lock meanwhile. Errors: the store's, -EIO/IO and others of the files. */
int brig_memory_view_update(const char *store_dir, const char *view_dir, brig_error *err);

typedef struct brig_env brig_env;

/* The view directory (new string in *ret) of env's scope when its policy has memory.mount and its memory is
 * not off; else *ret is NULL. The owner scope is the environment owner's. Loop thread; no I/O. Errors:
 * -ENOMEM, brig_memory_scope_dir()'s. */
int brig_memory_view_of(brig_env *env, uid_t uid, char **ret_store, char **ret_view, brig_error *err);

/* Brings env's view (brig_memory_view_of() for its owner) up to date on the thread pool, env held
 * meanwhile; cb comes once, on the loop thread, with NULL or why not. Loop thread. */
typedef void (*brig_memory_view_cb)(brig_env *env, const brig_error *err);
void brig_memory_view_refresh(brig_env *env, brig_memory_view_cb cb);
