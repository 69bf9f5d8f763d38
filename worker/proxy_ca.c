/* SPDX-License-Identifier: MIT */
/* The per-environment CA of TLS interception (worker/proxy_ca.h): which hosts it may vouch for, made with
 * its bundle on the thread pool. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "sandbox/netpolicy.h"
#include "worker/env.h"
#include "worker/proxy_ca.h"
#include "worker/proxy_tls.h"
#include "worker/worker.h"

typedef struct ca_job {
        uv_work_t req;
        brig_env *env; /* held */
        brig_proxy_ca_cb cb;
        char env_id[BRIG_ENV_ID_MAX + 1];
        char *dir;
        brig_net_rule *hosts; /* every secret's, copied: the policy may be reloaded meanwhile */
        size_t n_hosts;
        brig_tls_ca *ca; /* made */
        brig_error err;
        int r;
} ca_job;

bool brig__proxy_ca_needed(const brig_env *env) {
        const brig_policy *p = env->policy->policy;

        return p->network.mode == BRIG_NETWORK_PROXY && p->network.net && p->network.net->n_secrets > 0;
}

static void ca_work_cb(uv_work_t *req) {
        ca_job *j = req->data;
        _cleanup_close_ int dirfd = -1;

        j->r = brig_tls_ca_new(j->env_id, j->hosts, j->n_hosts, &j->ca, &j->err);
        if (j->r < 0)
                return;
        dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                j->r = brig_error_set_errno(&j->err, -errno, BRIG_KIND_INTERNAL, "%s", j->dir);
                return;
        }
        j->r = brig_tls_bundle_write(dirfd, BRIG_PROXY_CA_BUNDLE_NAME, j->ca, NULL, &j->err);
}

static void ca_after_cb(uv_work_t *req, int status) {
        ca_job *j = req->data;
        brig_env *env = j->env;

        if (status < 0 && j->r == 0)
                j->r = brig_error_set(&j->err, status, BRIG_KIND_INTERNAL, "cancelled");
        if (j->r < 0) {
                (void) brig_error_prefix(&j->err, "network.secrets: TLS interception: its CA");
                brig_tls_ca_free(j->ca);
        } else
                env->tls_ca = j->ca;
        j->cb(env, j->r < 0 ? &j->err : NULL);
        free(j->hosts);
        free(j->dir);
        free(j);
        brig__env_release(env);
}

int brig__proxy_ca_make(brig_env *env, brig_proxy_ca_cb cb, brig_error *err) {
        const brig_net_policy *n = env->policy->policy->network.net;
        _cleanup_free_ ca_job *j = calloc(1, sizeof(*j));
        size_t total = 0;
        int r;

        if (!j)
                return brig_error_oom(err);
        for (size_t i = 0; i < n->n_secrets; i++)
                total += n->secrets[i].n_hosts;
        j->hosts = calloc(total, sizeof(*j->hosts));
        j->dir = strdup(env->dir);
        if (!j->hosts || !j->dir) {
                free(j->hosts);
                free(j->dir);
                return brig_error_oom(err);
        }
        for (size_t i = 0; i < n->n_secrets; i++)
                for (size_t k = 0; k < n->secrets[i].n_hosts; k++)
                        j->hosts[j->n_hosts++] = n->secrets[i].hosts[k];
        (void) snprintf(j->env_id, sizeof(j->env_id), "%s", env->id);
        j->env = env;
        j->cb = cb;
        j->err = (brig_error) BRIG_ERROR_INIT;
        j->req.data = j;
        brig_tls_ca_free(env->tls_ca);
        env->tls_ca = NULL;
        if ((r = uv_queue_work(env->w->loop, &j->req, ca_work_cb, ca_after_cb)) < 0) {
                free(j->hosts);
                free(j->dir);
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "queue work: %s", uv_strerror(r));
        }
        brig__env_hold(env);
        TAKE_PTR(j);
        return 0;
}
