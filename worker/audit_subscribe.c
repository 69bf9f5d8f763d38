/* SPDX-License-Identifier: MIT */
/* Live audit subscriptions: `brig/audit.subscribe` (root and --admin-uid only) makes a connection receive
 * each record appended to the audit log from then on as a `brig/audit` notification whose params are the
 * record, as a SIEM shipper consumes it. A subscriber that falls behind by more than
 * BRIG_AUDIT_SUBSCRIBER_QUEUE unread bytes is unsubscribed with a final `brig/audit.dropped` notification
 * naming the first seq it missed, so an idle reader costs brigd at most that much; the log has the rest. */
#include <stdio.h>
#include <string.h>

#include "worker/audit_events.h"
#include "worker/mcp_internal.h"
#include "worker/rpc.h"
#include "worker/worker.h"

#define BRIG_AUDIT_SUBSCRIBER_QUEUE (1u << 20)

static void unsubscribe(brig_conn *c) {
        if (!c->audit_subscribed)
                return;
        c->audit_subscribed = false;
        c->w->n_audit_subscribers--;
}

void brig__audit_conn_closing(brig_conn *c) {
        unsubscribe(c);
}

/* The subscriber stopped keeping up: it gets one last, small notice instead of the record. */
static void drop(brig_conn *c, uint64_t seq) {
        cJSON *p = cJSON_CreateObject();

        unsubscribe(c);
        if (p && (!cJSON_AddNumberToObject(p, "missed_seq", (double) seq) ||
                  !cJSON_AddStringToObject(p, "reason", "more than 1 MiB of audit records unread"))) {
                cJSON_Delete(p);
                p = NULL;
        }
        (void) brig__conn_send(c, brig_rpc_notification("brig/audit.dropped", p));
}

void brig__audit_subscribers_send(brig_worker *w, const char *line, size_t len) {
        if (!w->n_audit_subscribers)
                return;
        cJSON *record = cJSON_ParseWithLength(line, len);
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(record, "seq");
        for (brig_conn *c = w->conns; c; c = c->next) {
                if (!c->audit_subscribed || c->closing)
                        continue;
                /* queued: what brigd holds for it and has not handed to the socket yet (worker/budget.c). */
                if (c->queued > BRIG_AUDIT_SUBSCRIBER_QUEUE) {
                        drop(c, cJSON_IsNumber(seq) ? (uint64_t) seq->valuedouble : 0);
                        continue;
                }
                cJSON *copy = record ? cJSON_Duplicate(record, true) : NULL;
                /* Out of memory: this subscriber misses the record, and is told so. */
                if (!copy || brig__conn_notify(c, brig_rpc_notification("brig/audit", copy)) == -ENOMEM)
                        drop(c, cJSON_IsNumber(seq) ? (uint64_t) seq->valuedouble : 0);
        }
        cJSON_Delete(record);
}

void brig__audit_subscribe(brig_conn *c, const struct brig_rpc_msg *m) {
        brig_worker *w = c->w;
        cJSON *res;

        if (c->peer.uid != 0 && !brig__worker_is_admin(w, c->peer.uid)) {
                (void) brig__worker_audit(
                        w, brig_audit_refused(c->id, "brig/audit.subscribe", "not root or an --admin-uid"));
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED,
                                     "brig/audit.subscribe: only root and brigd's --admin-uid users may "
                                     "read the audit trail");
                return;
        }
        res = cJSON_CreateObject();
        if (!res || !cJSON_AddNumberToObject(res, "next_seq", (double) brig_audit_next_seq(w->audit))) {
                cJSON_Delete(res);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        /* The answer first: every notification after it is a record from next_seq on. */
        if (brig__conn_send(c, brig_rpc_result(m->id, res)) < 0)
                return;
        if (!c->audit_subscribed) {
                c->audit_subscribed = true;
                w->n_audit_subscribers++;
        }
}
