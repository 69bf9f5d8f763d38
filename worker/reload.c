/* SPDX-License-Identifier: MIT */
/* Policy reload on SIGHUP. Loading and compiling happen on the thread pool (file I/O and libseccomp), the
 * swap on the loop. Environments keep the policy they started with until they stop; those that start
 * afterwards, spares included, get the new one. One reload runs at a time; a SIGHUP during one asks for
 * another after it. */
#include <stdlib.h>

#include "common/log.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/worker.h"

static void reload_work(uv_work_t *req) {
        brig_worker *w = req->data;
        brig_policies_reload_run(w->reload);
}

static void reload_done(uv_work_t *req, int status) {
        brig_worker *w = req->data;
        brig_policies_reload *rl = w->reload;
        brig_error err = BRIG_ERROR_INIT;
        const brig_policy_entry *def = w->default_policy;
        cJSON *ev = brig_audit_policy_reload();
        int r;

        w->reload = NULL;
        if (w->stopping) {
                brig_policies_reload_free(rl);
                cJSON_Delete(ev);
                return;
        }
        r = status < 0 ? brig_error_set(&err, status, BRIG_KIND_INTERNAL, "reload: %s", uv_strerror(status))
                       : brig_policies_reload_commit(&w->policies, rl, &def, ev, &err);
        brig_policies_reload_free(rl);
        if (r < 0) {
                log_error("policy reload failed, keeping the policies loaded before: %s", err.msg);
                brig_audit_policy_reload_result(ev, false, err.msg, NULL);
        } else {
                w->default_policy = def;
                log_info("policies reloaded from %s (default policy %s)", w->policies.dir, def->name);
                brig_audit_policy_reload_result(ev, true, NULL, def->name);
                /* Spares built with a policy that is no longer the default would never be adopted. */
                for (brig_env *e = w->envs, *next; e; e = next) {
                        next = e->next;
                        if (e->spare.pooled && !e->destroyed && e->policy != w->default_policy)
                                brig_env_destroy(e);
                }
                brig_spares_fill(w);
        }
        brig_policies_gc(&w->policies);
        (void) brig__worker_audit(w, ev);
        if (w->reload_again) {
                w->reload_again = false;
                brig_worker_reload(w);
        }
}

void brig_worker_reload(brig_worker *w) {
        int r;

        if (w->stopping)
                return;
        if (w->reload) {
                w->reload_again = true;
                return;
        }
        if (!(w->reload = brig_policies_reload_new(&w->policies))) {
                log_error("policy reload: out of memory");
                return;
        }
        w->reload_work.data = w;
        if ((r = uv_queue_work(w->loop, &w->reload_work, reload_work, reload_done)) < 0) {
                log_error("policy reload: %s", uv_strerror(r));
                brig_policies_reload_free(w->reload);
                w->reload = NULL;
        }
}
