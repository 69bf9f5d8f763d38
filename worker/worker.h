/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/plan.h"
#include "sandbox/policy.h"
#include "tools/exec.h"
#include "tools/history.h"
#include "worker/audit.h"
#include "worker/env.h"
#include "common/framing.h"
#include "worker/policies.h"

/* The worker: one libuv loop serving MCP connections on a Unix socket. Everything here runs on the loop
 * thread. Limits on what a client controls are the BRIG_MAX_* below, documented in docs/protocol.md. */

#define BRIG_MAX_CONNECTIONS 1024
/* Connections root and the admin uids may open past BRIG_MAX_CONNECTIONS, so that an operator always gets
 * in; and the default cap on one uid's connections (--max-connections-per-uid; root and admins have none).
 */
#define BRIG_ADMIN_CONNECTIONS 16
#define BRIG_MAX_CONNECTIONS_PER_UID_DEFAULT 256
/* A connection that has not initialised this long after it was accepted is closed (--handshake-timeout). */
#define BRIG_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
/* Admission (worker/admission.c): what a call and an environment hold in fds at most, and the fds kept
 * out of every budget so that accepting, auditing and answering never lack one. */
#define BRIG_FDS_PER_CALL 8
/* A running environment's own: its seccomp listener, and its control socket while brigd is connected
 * (BRIG_FDS_PER_CONTROL: only while calls come, worker/env_control.h; its background processes, calls and
 * proxy are counted apart); an idle one holds no more, so this bounds how many brigd can hold.
 * A proxy: its listening and sock_diag sockets and the connections it relays at a time, most of them. */
#define BRIG_FDS_PER_ENV 1
#define BRIG_FDS_PER_CONTROL 1
#define BRIG_FDS_PER_PROXY 8
/* The reserve includes the packs libgit2 may keep open for the pool threads' history work. */
#define BRIG_FD_RESERVE (64 + BRIG_HISTORY_OPEN_PACKS)
#define BRIG_MAX_CALLS_CAP 1024
#define BRIG_MAX_CALLS_PER_ENV_DEFAULT 16
#define BRIG_MAX_CALLS_PER_CONNECTION 64
/* Write-queue marks: above HIGH the connection's running commands stop being read (they block on a full
 * pipe); below LOW they resume; a client that reads nothing for STALL_MS while above HIGH, or whose
 * notifications would take the queue above HARD, is disconnected and its calls cancelled. */
#define BRIG_WRITE_QUEUE_LOW (1u << 20)
#define BRIG_WRITE_QUEUE_HIGH (4u << 20)
#define BRIG_WRITE_QUEUE_HARD (64u << 20)
#define BRIG_WRITE_STALL_MS 30000
/* The default budget of bytes held for all clients together (worker/budget.c, --max-client-bytes): 1/16 of
 * the host's memory, within these bounds. */
#define BRIG_CLIENT_BYTES_MIN_DEFAULT (64ull << 20)
#define BRIG_CLIENT_BYTES_MAX_DEFAULT (1ull << 30)
/* Environments at once, spares included: each holds a slot of host ids (BRIG_ENV_SLOTS), two holder
 * processes and a few fds in brigd (which raises its fd limit to fit them, worker/admission.c). */
#define BRIG_MAX_ENVIRONMENTS 16384
/* The fd limit brigd raises itself to when it may (CAP_SYS_RESOURCE, bounded by fs.nr_open): what the caps
 * above need together, so that the environments' count, not the fds, is what bounds them. */
#define BRIG_FD_LIMIT_WANTED                                                                                \
        (BRIG_FD_RESERVE + BRIG_MAX_CONNECTIONS + BRIG_ADMIN_CONNECTIONS +                                  \
         BRIG_MAX_CALLS_CAP * BRIG_FDS_PER_CALL +                                                           \
         BRIG_MAX_ENVIRONMENTS * (BRIG_FDS_PER_ENV + BRIG_FDS_PER_CONTROL + BRIG_FDS_PER_PROXY))
/* brigd --spare-environments: the pool of spare environments (worker/env_spares.c). */
#define BRIG_SPARES_DEFAULT 4
#define BRIG_SPARES_MAX 64
/* brigd --spare-environments-max: what the pool may grow to after bursts. Each spare holds two idle
 * processes, a few fds (BRIG_FDS_PER_ENV) and a host id slot, and counts against BRIG_MAX_ENVIRONMENTS. */
#define BRIG_SPARES_GROW_DEFAULT 128
#define BRIG_SPARES_GROW_MAX 1024
#define BRIG_MAX_ADMIN_UIDS 64
#define BRIG_MAX_REFUSED_IN_RESULT 16

typedef struct brig_conn brig_conn;
typedef struct brig_call brig_call;

typedef struct brig_worker_options {
        const char *socket_path;
        mode_t socket_mode;  /* 0: 0600 */
        bool socket_set_gid; /* give the socket socket_gid; else it has brigd's group */
        gid_t socket_gid;
        bool socket_make_parent; /* socket_path is the default path: create its directory */
        const char *policy_path; /* default policy for environments that name none */
        const char *policy_dir;  /* policies clients may name */
        const uid_t *admin_uids; /* may also name policy files by path */
        size_t n_admin_uids;
        const char *audit_path;
        const char *audit_syslog; /* also send records to this syslog socket, or NULL */
        const char *state_dir;
        const char *jail_helper;
        uid_t jail_id;
        unsigned spares;                          /* environments of the default policy kept built ahead */
        unsigned spares_max;                      /* what the pool may grow to after bursts */
        unsigned start_timeout_s;                 /* an environment start that takes longer fails */
        const struct brig_proxy_resolve *resolve; /* brigd --resolve entries for the proxy (borrowed) */
        size_t n_resolve;
        const char
                *upstream_ca; /* brigd --upstream-ca: also trusted upstream by TLS interception, or NULL */
        /* Admission: 0 means the default, derived from the fd limit (see docs/protocol.md, "Admission"). */
        unsigned max_calls;         /* calls running at once in the worker */
        unsigned max_calls_per_env; /* calls running at once in one environment */
        unsigned max_queued;        /* calls waiting for a slot before calls are refused as busy */
        unsigned max_conns_per_uid; /* connections of one uid, root and admins excepted */
        unsigned handshake_timeout_ms;
        uint64_t max_client_bytes; /* held for clients in all, 0: the default (see worker/budget.c) */
        unsigned stall_timeout_ms; /* 0: BRIG_WRITE_STALL_MS */
} brig_worker_options;

/* Calls that run commands (exec, repl) take a slot; past the limits they wait in a FIFO queue, and past
 * max_queued they are refused with the busy error. Loop thread only. */
typedef struct brig_admission {
        unsigned max_calls, max_calls_per_env, max_queued;
        uint64_t fd_limit; /* the soft RLIMIT_NOFILE at start */
        unsigned in_flight, queued;
        brig_call *head, *tail; /* the queue */
        double avg_call_ms;     /* recent calls' running time, for the retry hint */
        bool pumping, pump_again;
        uv_timer_t pump_timer; /* starts queued calls on the next loop turn after a slot was freed */
        bool timer_ready;
} brig_admission;

/* Bytes held for clients: replies queued on their sockets and output kept by running calls. Loop thread. */
typedef struct brig_budget {
        uint64_t max;
        uint64_t held, queued; /* all connections' */
        unsigned n_holding;    /* connections holding anything: the budget's share is max / n_holding */
        unsigned n_paused;     /* connections whose commands are left unread for the budget */
        brig_call *exempt;     /* the one call that runs on past the budget, or NULL */
        uv_timer_t timer;      /* rebalances on the next loop turn */
        bool timer_ready;
} brig_budget;

struct brig_worker {
        uv_loop_t *loop;
        brig_policies policies;
        const brig_policy_entry *default_policy; /* borrowed from policies */
        uid_t admin_uids[BRIG_MAX_ADMIN_UIDS];
        size_t n_admin_uids;
        brig_audit *audit;
        char *jail_helper;
        char *socket_path;
        mode_t socket_mode;
        gid_t socket_gid;
        bool socket_make_parent;
        bool socket_inherited; /* from the service manager, which owns its path */
        char *envs_dir;        /* <state-dir>/environments */
        char *memory_dir;      /* <state-dir>/memory: the memory scopes (worker/memory.h), brigd's alone */
        brig_env *envs;
        size_t n_envs;
        struct brig_env_index *env_index; /* by id, slot and spare (worker/env_registry.c) */
        brig_identity identity;
        brig_cgroup_root cgroups;

        uv_pipe_t listener;
        bool listening;
        uv_signal_t sigint, sigterm, sighup;
        brig_child_watch children;           /* the holders (worker/child_watch.h) */
        struct brig_policies_reload *reload; /* in flight on the thread pool, or NULL */
        uv_work_t reload_work;
        bool reload_again;      /* SIGHUP arrived during a reload */
        uv_timer_t sweep;       /* idle stop and retention of environments */
        uv_timer_t spare_timer; /* builds a spare environment soon after one was taken */
        unsigned spares_wanted;
        unsigned spares_max;       /* spares_target's bound */
        unsigned spares_target;    /* spares_wanted, raised after the pool ran dry (worker/env_spares.c) */
        unsigned spares_demand;    /* new environments of the default policy since the pool was last full */
        int64_t spares_drained_at; /* when the pool last ran dry, or the target last decayed */
        unsigned start_timeout_s;
        int64_t spare_failed_at; /* a spare that failed to start is not retried for a while */
        brig_conn *conns;
        size_t n_conns;
        uint64_t next_conn_id;
        uint64_t next_call_id;
        bool stopping;
        size_t trimmed_free;                      /* free heap bytes after the last malloc_trim (worker.c) */
        const struct brig_proxy_resolve *resolve; /* borrowed from the options: lives as long as main() */
        size_t n_resolve;
        /* The proxy's TLS client context for intercepted connections (worker/proxy_tls.h): the system trust
         * store plus --upstream-ca. Made at start-up, so that a CA file that cannot be loaded stops brigd
         * rather than each intercepted connection. */
        struct ssl_ctx_st *upstream_tls;
        brig_admission admission;
        unsigned max_conns_per_uid;
        unsigned handshake_timeout_ms;
        unsigned stall_timeout_ms; /* a client we wait on that reads nothing this long is dropped */
        brig_budget budget;
        bool checkpointing;       /* an audit checkpoint is being written on the thread pool */
        bool checkpoint_failing;  /* the last one failed (logged once until one succeeds) */
        uint64_t checkpoint_next; /* the log's next seq when the last checkpoint was taken */
        uint64_t checkpoint_at;   /* uv_now() then */
        size_t n_audit_subscribers;
        unsigned n_proxies;  /* environments' network proxies running (admission counts their fds) */
        int control_dir_fd;  /* <state-dir>/control: the environments' control sockets, or -1 */
        unsigned n_controls; /* environments' control connections open (admission counts them) */
        int syslog_fd;       /* --audit-syslog (worker/audit_syslog.c), or -1 */
        char *syslog_path;
        uint64_t syslog_dropped; /* records it did not take, since it last took one */
};

typedef enum brig_call_state {
        BRIG_CALL_RUNNING,
        BRIG_CALL_CANCELLED, /* client cancelled or left: no response will be sent */
        BRIG_CALL_DONE,
} brig_call_state;

struct brig_call {
        brig_conn *conn; /* holds a reference */
        brig_call *next;
        brig_call_state state;
        uint64_t call_id; /* worker-wide, for the audit trail */
        cJSON *id;        /* the JSON-RPC id (owned copy) */
        char key[160];
        char tool[32];
        const struct brig_tool *def; /* its entry in the tool registry (tools/registry.h) */
        cJSON *progress_token;       /* owned copy, or NULL */
        double progress;
        uint64_t seq;
        bool restarted_notice;  /* first call after the environment lost its processes in a restart */
        bool init_gone_retried; /* it found the environment's init gone once and waited for a restart */
        uint64_t oom_before;    /* the environment's OOM kills when the call started */
        bool oom_known;
        brig_exec_args args;    /* kept while the environment starts */
        cJSON *repl_args;       /* repl: the arguments, kept while the environment starts */
        struct brig_repl *repl; /* repl: the interpreter running this call */
        char carry[2][4];       /* incomplete UTF-8 tail per stream, held back for the next chunk */
        size_t carry_len[2];
        bool carry_reset[2]; /* a chunk of the stream went as base64, carrying nothing: from then on the
                              * carry may differ from tools/exec.c's scan, whose counts are not used */
        brig_exec *exec;
        bool unaudited;      /* a read the policy keeps out of the trail (audit.file_reads false) */
        cJSON *refused;      /* what the policy refused this call (syscalls, connections), for its result */
        size_t refused_more; /* refusals past BRIG_MAX_REFUSED_IN_RESULT, counted only */
        char *audit_path;    /* file tools: the path the call acted on, for its call_end record */
        uint64_t audit_bytes;
        bool admitted;            /* holds a slot of the worker and of its environment */
        bool queued;              /* waits in the admission queue */
        brig_call *qprev, *qnext; /* in the admission queue */
        brig_env *slot_env;       /* the environment whose slot it holds */
        uint64_t admitted_at;     /* uv_now() */
        uint64_t kept;            /* output kept for its result, counted in the budget */
        bool exec_paused;         /* its command's output is left unread */
};

struct brig_conn {
        brig_worker *w;
        brig_conn *next;
        uv_pipe_t pipe;
        uv_timer_t stall_timer;
        uint64_t id;
        struct ucred peer;
        brig_framer framer;
        int refs; /* pipe + timer handles + one per call */
        bool closing;
        bool initialized;
        bool paused;        /* its write queue is over BRIG_WRITE_QUEUE_HIGH */
        bool budget_paused; /* it holds more than its share of the client budget while the worker is over */
        bool brig_output;   /* client asked for brig/output notifications */
        int log_level;      /* notifications/message below this syslog severity index are not sent */
        uint64_t bytes_queued; /* for the client so far */
        uint64_t stall_mark;   /* bytes sent when the stall timer was armed */
        uint64_t held, queued; /* in the budget: all it holds, and its unwritten replies */
        struct write_req *waiting, *waiting_tail; /* frames not yet handed to the socket: the first is
                                                   * written in parts (worker/conn.c) */
        uint64_t unsent;                          /* their wire bytes not yet handed to the socket */
        uint64_t accepted_at; /* uv_now(): an uninitialised connection is closed after the handshake timeout
                               */
        brig_env *env;        /* attached at initialize */
        brig_call *calls;
        size_t n_calls;
        struct brig_export *exports; /* archives it made and has not closed (worker/mcp_export.c) */
        struct brig_upload *uploads; /* brig/environment.import uploads (worker/mcp_import.c) */
        bool audit_subscribed;       /* gets brig/audit notifications (worker/audit_subscribe.c) */
        int passed_fd;               /* brig/descriptor.pass's, until a request takes it, or -1 */
        struct fd_wait *fd_wait;     /* reading stopped until that descriptor comes (worker/mcp_fd.c) */
};

/* worker.c */
int brig_worker_init(brig_worker *w, uv_loop_t *loop, const brig_worker_options *opts, brig_error *err);
/* Serves on path: a socket bound there now, or fd >= 0, a socket already listening there that brigd was
 * given (systemd's socket activation), used as it is and left in place when brigd stops. */
int brig_worker_listen(brig_worker *w, const char *path, int fd, brig_error *err);
void brig_worker_stop(brig_worker *w);
void brig_worker_done(brig_worker *w);
/* Reloads the policy files (SIGHUP), see worker/reload.c. */
void brig_worker_reload(brig_worker *w);
/* Audits an event; on failure logs once and returns the error (callers refuse the call). */
int brig__worker_audit(brig_worker *w, cJSON *event);
bool brig__worker_is_admin(const brig_worker *w, uid_t uid);
/* Live audit subscriptions (worker/audit_subscribe.c): each record to the subscribers; the connection
 * closing; brig/audit.subscribe. */
void brig__audit_subscribers_send(brig_worker *w, const char *line, size_t len);
void brig__audit_conn_closing(brig_conn *c);
struct brig_rpc_msg;
void brig__audit_subscribe(brig_conn *c, const struct brig_rpc_msg *m);
/* --audit-syslog (worker/audit_syslog.c): connecting at start (path NULL: none; a failure is the start's),
 * each record, closing. */
int brig__audit_syslog_open(brig_worker *w, const char *path, brig_error *err);
void brig__audit_syslog_send(brig_worker *w, const char *line, size_t len);
void brig__audit_syslog_close(brig_worker *w);
/* The first call running in env, on any of its connections, for which match(call, key) holds; NULL if
 * none. Borrowed: valid until the loop runs again. */
typedef bool (*brig_call_match_fn)(const brig_call *call, const void *key);
brig_call *brig__worker_find_call(brig_worker *w, const brig_env *env, brig_call_match_fn match,
                                  const void *key);

/* conn.c */
void brig__conn_accept(brig_worker *w);
/* The connection's read callbacks, for reading again after a stop (worker/mcp_fd.c). */
void brig__conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void brig__conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
/* Serialises and queues a response (consumed). Returns < 0 when the connection is closing. */
int brig__conn_send(brig_conn *c, cJSON *msg);
/* The same for a notification; one that would take the queue past BRIG_WRITE_QUEUE_HARD disconnects the
 * client instead. */
int brig__conn_notify(brig_conn *c, cJSON *msg);
void brig__conn_close(brig_conn *c, const char *reason);
void brig__conn_unref(brig_conn *c);
/* Pauses or resumes its calls' commands as its write queue and the budget want. */
void brig__conn_apply_pause(brig_conn *c);
/* Closes it if it reads nothing for --client-stall-timeout while it is paused or the worker is over budget.
 */
void brig__conn_watch_stall(brig_conn *c);

/* budget.c */
void brig__budget_init(brig_worker *w, const brig_worker_options *o);
void brig__budget_start(brig_worker *w);
void brig__budget_stop(brig_worker *w);
bool brig__budget_over(const brig_worker *w);
/* Output a call keeps, and replies a connection queues, grow or shrink by delta bytes. */
void brig__budget_kept(brig_call *call, int64_t delta);
void brig__budget_queued(brig_conn *c, int64_t delta);
/* A call ends: what it kept leaves the budget. */
/* Its connection was paused at its write-queue mark: an exempt call of it can no longer end. */
void brig__budget_conn_paused(brig_conn *c);
void brig__budget_call_gone(brig_call *call);

/* mcp.c */
void brig__mcp_handle_line(brig_conn *c, const char *line, size_t len);
void brig__mcp_conn_closing(brig_conn *c);
/* Starts an admitted call (its environment first). */
void brig__mcp_call_start(brig_call *call);
/* Whether the client asked (logging/setLevel) for notifications/message at level ("warning", ...). */
bool brig__mcp_log_wanted(const brig_conn *c, const char *level);

/* admission.c */
/* Raises the soft RLIMIT_NOFILE to the hard one and sets the limits (options, else derived from it). */
void brig__admission_init(brig_worker *w, const brig_worker_options *o);
/* Admits call (true: the caller starts it now), queues it (false), or refuses: -EBUSY, nothing done. */
int brig__admission_admit(brig_call *call);
/* A call ends: gives back its slot or leaves the queue, then starts what now fits. */
void brig__admission_release(brig_call *call);
/* Whether one more spare environment fits in the fds: the environments' stay within half of them. */
bool brig__admission_spare_fits(const brig_worker *w);
/* Starts queued calls that fit now (also run periodically: environments that stop free fds). */
void brig__admission_pump(brig_worker *w);
/* The pump's timer, with the listener's lifetime. */
void brig__admission_start(brig_worker *w);
void brig__admission_stop(brig_worker *w);
/* The documented busy refusal: JSON-RPC -32001, data {"reason": "busy", "retry_after_ms": N, ...}. */
cJSON *brig__admission_busy(brig_worker *w, const cJSON *id, const char *what);
