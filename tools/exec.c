/* SPDX-License-Identifier: MIT */
/* The exec tool at run time: one command in an environment, its stdout/stderr/status pipes on the loop, a
 * wall-clock timer, an output budget, and one teardown path from every state.
 *
 * Theory of operation. brig_exec_start() builds the command's plan (pure), writes it to a memfd and sends
 * it, with the child ends of fresh stdout, stderr, status (and stdin) pipes, to the environment's init over
 * its control socket (RUN, sandbox/jailctl.h); the init forks the command. When the command ends, the status
 * pipe says "started" (unless it failed before execve) and "exit N" or "signal N"; the call is over once
 * that is known and stdout, stderr and status have reached EOF, or, for output held open by a background
 * child, DRAIN_MS later and only after everything already in the pipes has been read (a timer alone never
 * ends a call while bytes are pending: under load the loop can run the timer before it polls the pipes).
 * Only then is ops->done called, once. Cancel and timeout ask the init to SIGKILL the command's process
 * group. The call holds its own reference to the environment's control socket (brig_jailctl): once the
 * environment has hung up, a KILL fails with -ESHUTDOWN instead of reaching whatever reuses the fd number.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/handles.h"
#include "common/json.h"
#include "common/json_frame.h"
#include "common/signal_name.h"
#include "sandbox/jailctl.h"
#include "tools/exec.h"

/* In an environment, a background child can hold the command's output open after the command exits; we
 * wait this long for EOF, then read what is already in the pipes and stop. */
#define DRAIN_MS 250
/* Reads of up to this much: a loop turn per 64 KiB (the default pipe) costs more than the bytes. */
#define SCRATCH_BYTES (256u * 1024u)

/* libuv reads one stream at a time on a loop's thread and hands the bytes over before the next read, so
 * every call on the thread shares one read buffer: 10,000 calls in flight must not hold 10,000 of them. */
static _Thread_local char scratch[SCRATCH_BYTES];

typedef enum exec_state {
        EXEC_RUNNING,
        EXEC_DONE, /* done callback delivered; handles closing */
} exec_state;

struct brig_exec {
        brig_exec_context ctx;
        brig_exec_ops ops;
        void *userdata;
        exec_state state;

        uint64_t id;           /* the spawner's name for this command */
        brig_jailctl *control; /* our reference to the environment's control socket */
        uv_pipe_t out, err, status, in;
        uv_timer_t timer, drain;
        uv_write_t in_req;
        bool has_in;
        brig_handles handles; /* counted as they are closed */

        bool exited, out_eof, err_eof, status_eof;
        bool paused, killed, timed_out, cancelled;
        uint64_t start_ns;

        brig_buf out_buf, err_buf;
        size_t out_populated, err_populated; /* prefault_ahead() */
        brig_text_scan out_scan, err_scan;   /* what is kept, classified as it arrives */
        uint64_t budget;                     /* bytes of output kept, both streams together */
        uint64_t out_total, err_total;
        bool truncated;

        brig_jail_status_reader status_reader;
        bool started, have_final, have_error;
        brig_jail_status final, error;

        char *stdin_data;
        size_t stdin_len;
        bool background;
        bool stdin_closing; /* a close was asked for: no more writes */
};

uint64_t brig_exec_id(const brig_exec *e) {
        return e->id;
}

/* The stdin pipe may close long before the rest: free only once the call is over too. */
static void exec_all_closed(void *userdata) {
        brig_exec *e = userdata;

        if (e->state != EXEC_DONE)
                return;
        brig_buf_done(&e->out_buf);
        brig_buf_done(&e->err_buf);
        free(e->stdin_data);
        brig_jailctl_unref(e->control);
        free(e);
}

BRIG_HANDLES_CLOSED_CB(handle_closed_cb, brig_exec, handles)

static void close_handle(brig_exec *e, uv_handle_t *h) {
        if (uv_is_closing(h))
                return;
        h->data = e;
        brig_handles_add(&e->handles, 1);
        uv_close(h, handle_closed_cb);
}

/* The last close frees e (exec_all_closed()). */
static void close_all(brig_exec *e) {
        close_handle(e, (uv_handle_t *) &e->out);
        close_handle(e, (uv_handle_t *) &e->err);
        close_handle(e, (uv_handle_t *) &e->status);
        close_handle(e, (uv_handle_t *) &e->timer);
        close_handle(e, (uv_handle_t *) &e->drain);
        if (e->has_in)
                close_handle(e, (uv_handle_t *) &e->in);
}

static void finish(brig_exec *e) {
        brig_exec_result res = {0};

        if (e->state != EXEC_RUNNING || !e->exited || !e->out_eof || !e->err_eof || !e->status_eof)
                return;
        e->state = EXEC_DONE;
        (void) uv_timer_stop(&e->timer);
        (void) uv_timer_stop(&e->drain);

        /* The reaper says "started" only with the command's end: with neither that end nor an error, it
         * was killed (timeout, cancel, the environment going) and the command may well have run. */
        res.started = e->started || (!e->have_final && !e->have_error);
        res.timed_out = e->timed_out;
        res.cancelled = e->cancelled;
        res.truncated = e->truncated;
        res.duration_ms = (uv_hrtime() - e->start_ns) / 1000000;
        res.stdout_bytes = e->out_total;
        res.stderr_bytes = e->err_total;
        res.out = &e->out_buf;
        res.err = &e->err_buf;
        res.out_kind = brig_text_scan_is_text(&e->out_scan) ? BRIG_OUTPUT_TEXT : BRIG_OUTPUT_BINARY;
        res.err_kind = brig_text_scan_is_text(&e->err_scan) ? BRIG_OUTPUT_TEXT : BRIG_OUTPUT_BINARY;
        if (res.out_kind == BRIG_OUTPUT_TEXT)
                res.out_escaped_len = e->out_scan.escaped_len;
        if (res.err_kind == BRIG_OUTPUT_TEXT)
                res.err_escaped_len = e->err_scan.escaped_len;
        if (e->have_final && e->final.outcome == BRIG_JAIL_EXITED) {
                res.exited = true;
                res.exit_code = e->final.value;
        } else if (e->have_final && e->final.outcome == BRIG_JAIL_SIGNALED)
                res.signal = e->final.value;
        else if (e->killed)
                res.signal = SIGKILL;
        if (e->have_error)
                (void) brig_jail_status_to_error(&e->error, &res.error);
        else if (!e->have_final && !e->killed)
                (void) brig_error_set(&res.error, -EPROTO, BRIG_KIND_SANDBOX,
                                      "sandbox helper ended without reporting a result");

        e->ops.done(&res, e->userdata);

        close_all(e);
}

static void kill_jail(brig_exec *e) {
        if (e->exited || e->killed)
                return;
        e->killed = true;
        /* The spawner kills the command's whole process group. If it is gone (or the environment hung up on
         * it), so is everything it ran. */
        (void) brig_jailctl_kill(e->control, e->id, SIGKILL);
        /* Drain whatever is left so EOF arrives. */
        brig_exec_set_paused(e, false);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        (void) h;
        (void) suggested;
        *buf = uv_buf_init(scratch, sizeof(scratch));
}

/* Populates the next PREFAULT_BYTES of b's room past what it holds in one call, before the reads to come
 * copy into them: one page fault per 4 KiB of a large output cost a third of brigd's CPU. Never more than
 * PREFAULT_BYTES past what b holds. *populated: offset in b below which pages are known present. */
#define PREFAULT_BYTES (1u << 20)
static void prefault_ahead(brig_buf *b, size_t *populated) {
        uintptr_t page = (uintptr_t) getpagesize(), base = (uintptr_t) b->data;
        size_t want = b->len + PREFAULT_BYTES < b->cap ? b->len + PREFAULT_BYTES : b->cap;

        if (*populated == SIZE_MAX || b->cap < 2 * PREFAULT_BYTES)
                return;
        if (*populated < b->len)
                *populated = b->len;
        if (*populated + PREFAULT_BYTES / 2 > want)
                return; /* far enough ahead */
        uintptr_t start = (base + *populated + page - 1) & ~(page - 1), end = (base + want) & ~(page - 1);
        if (end <= start)
                return;
        /* FIXME: drop the fallback once the minimum kernel is >= 5.14 (MADV_POPULATE_WRITE). */
        if (madvise((void *) start, end - start, MADV_POPULATE_WRITE) < 0) {
                *populated = SIZE_MAX; /* not supported: faults as before */
                return;
        }
        *populated = end - base;
}

/* Keeps (within the budget) and forwards n > 0 bytes the command wrote. */
static void take_output(brig_exec *e, bool is_out, const uv_buf_t *buf, ssize_t n) {
        brig_buf *b = is_out ? &e->out_buf : &e->err_buf;

        if (is_out)
                e->out_total += (uint64_t) n;
        else
                e->err_total += (uint64_t) n;

        if (e->background) {
                /* Everything goes to the caller, who bounds what it keeps. */
                if (e->ops.output)
                        e->ops.output(buf->base, (size_t) n,
                                      is_out ? BRIG_STREAM_STDOUT : BRIG_STREAM_STDERR, -1, e->userdata);
                return;
        }
        uint64_t kept = e->out_buf.len + e->err_buf.len;
        size_t take = (size_t) n;
        if (kept + take > e->budget) {
                take = kept >= e->budget ? 0 : (size_t) (e->budget - kept);
                e->truncated = true;
        }
        if (take == 0)
                return; /* past the budget: keep draining so the command can finish, drop the bytes */
        if (take < (size_t) n) {
                /* Cut on a character boundary, so text output stays text. */
                size_t keep_tail = brig_utf8_incomplete_tail(buf->base, take);
                if (brig_utf8_valid(buf->base, take - keep_tail))
                        take -= keep_tail;
        }
        if (take == 0 || brig_buf_append(b, buf->base, take) < 0) {
                e->truncated = true;
                return;
        }
        prefault_ahead(b, is_out ? &e->out_populated : &e->err_populated);
        /* While the chunk is in the cache: the result then needs no pass over the whole output to choose
         * its encoding. */
        brig_text_scan *scan = is_out ? &e->out_scan : &e->err_scan;
        uint64_t escaped_before = scan->escaped_len;
        brig_text_scan_feed(scan, buf->base, take);
        /* Handed on, so that streaming the chunk does not count it again. */
        ssize_t escaped_extra = scan->invalid ? -1 : (ssize_t) (scan->escaped_len - escaped_before - take);
        if (e->ops.output)
                e->ops.output(buf->base, take, is_out ? BRIG_STREAM_STDOUT : BRIG_STREAM_STDERR,
                              escaped_extra, e->userdata);
}

/* At its end a pipe is closed at once rather than only no longer read: stopped, it would stay in the
 * loop's epoll set until its close, and its hang-up would wake the loop once more for nothing. On an error
 * it is only no longer read, as a writer may still hold it. */
static void stop_reading(brig_exec *e, uv_stream_t *s, ssize_t n) {
        if (n == UV_EOF)
                close_handle(e, (uv_handle_t *) s);
        else
                (void) uv_read_stop(s);
}

static void output_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        brig_exec *e = s->data;
        bool is_out = s == (uv_stream_t *) &e->out;

        if (n < 0) {
                stop_reading(e, s, n);
                if (is_out)
                        e->out_eof = true;
                else
                        e->err_eof = true;
                finish(e);
                return;
        }
        if (n > 0)
                take_output(e, is_out, buf, n);
}

/* Reads what is in the pipe now, without waiting: at most what FIONREAD reports when we start, so a
 * background child that keeps writing cannot hold the call open. Sets *eof when the pipe reached it. */
static void drain_now(brig_exec *e, uv_pipe_t *p, bool *eof) {
        bool is_out = p == &e->out;
        uv_os_fd_t fd;
        int pending = 0;

        (void) uv_read_stop((uv_stream_t *) p);
        if (uv_fileno((uv_handle_t *) p, &fd) < 0 || ioctl(fd, FIONREAD, &pending) < 0)
                pending = 0;
        /* The pipe is non-blocking (uv_pipe_open): a read never waits. */
        for (size_t left = (size_t) pending; left > 0;) {
                ssize_t n = read(fd, scratch, left < sizeof(scratch) ? left : sizeof(scratch));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                uv_buf_t b = uv_buf_init(scratch, (unsigned) n);
                take_output(e, is_out, &b, n);
                left -= (size_t) n;
        }
        /* Anything written from here on comes after the call's end. */
        *eof = true;
}

static void drain_cb(uv_timer_t *t) {
        brig_exec *e = t->data;

        /* The loop may run this timer before it polls pipes that became readable long ago: read them. */
        if (!e->out_eof)
                drain_now(e, &e->out, &e->out_eof);
        if (!e->err_eof)
                drain_now(e, &e->err, &e->err_eof);
        finish(e);
}

/* The command is over (its final status line, or the status pipe's EOF); its output may not be. */
static void command_ended(brig_exec *e) {
        if (e->exited)
                return;
        e->exited = true;
        if (!e->out_eof || !e->err_eof) {
                /* Keep reading what is already in flight, then give up on pipes held by others. */
                brig_exec_set_paused(e, false);
                /* From now, not from when this loop iteration began. */
                uv_update_time(e->ctx.loop);
                (void) uv_timer_start(&e->drain, drain_cb, DRAIN_MS, 0);
        }
        finish(e);
}

static void status_record_cb(const brig_jail_status *st, void *userdata) {
        brig_exec *e = userdata;

        switch (st->outcome) {
        case BRIG_JAIL_STARTED:
                e->started = true;
                break;
        case BRIG_JAIL_ERROR:
                if (!e->have_error) {
                        e->error = *st;
                        e->have_error = true;
                }
                break;
        case BRIG_JAIL_EXITED:
        case BRIG_JAIL_SIGNALED:
                e->final = *st;
                e->have_final = true;
                command_ended(e);
                break;
        case BRIG_JAIL_LAYER: /* the environment's layers are reported when it starts */
        case BRIG_JAIL_READY:
        case BRIG_JAIL_HOLDER:
                break;
        case _BRIG_JAIL_OUTCOME_MAX:
        case _BRIG_JAIL_OUTCOME_INVALID:
                break;
        }
}

static void status_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
        brig_exec *e = h->data;
        char *base;
        size_t len;

        (void) suggested;
        brig_jail_status_reader_space(&e->status_reader, &base, &len);
        *buf = uv_buf_init(base, (unsigned) len);
}

static void status_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
        brig_exec *e = s->data;

        if (n < 0) {
                stop_reading(e, s, n);
                e->status_eof = true;
                command_ended(e);
                finish(e);
                return;
        }
        (void) buf; /* read into the reader's space (status_alloc_cb) */
        brig_jail_status_reader_feed(&e->status_reader, (size_t) n, status_record_cb, e);
}

static void timer_cb(uv_timer_t *t) {
        brig_exec *e = t->data;
        e->timed_out = true;
        kill_jail(e);
}

static void stdin_written_cb(uv_write_t *req, int status) {
        brig_exec *e = req->data;
        (void) status; /* a command that exits without reading its input is not an error */
        if (e->background && !e->stdin_closing)
                return; /* stays open for process_write */
        close_handle(e, (uv_handle_t *) &e->in);
        e->has_in = false;
}

typedef struct stdin_write {
        uv_write_t req;
        brig_exec *e;
        bool close_after;
        char data[];
} stdin_write;

static void later_write_cb(uv_write_t *req, int status) {
        stdin_write *w = (stdin_write *) req;
        brig_exec *e = w->e;
        (void) status;
        if (w->close_after && e->has_in) {
                close_handle(e, (uv_handle_t *) &e->in);
                e->has_in = false;
        }
        free(w);
}

int brig_exec_write_stdin(brig_exec *e, const char *data, size_t len, bool close_after) {
        stdin_write *w;
        int r;

        if (e->state != EXEC_RUNNING || !e->has_in || e->stdin_closing)
                return -EPIPE;
        /* The process may never read: what waits for it is bounded, not just each write. */
        if (len > BRIG_EXEC_MAX_STDIN ||
            uv_stream_get_write_queue_size((uv_stream_t *) &e->in) + len > BRIG_EXEC_MAX_STDIN)
                return -ENOBUFS;
        w = malloc(sizeof(*w) + len + 1);
        if (!w)
                return -ENOMEM;
        memcpy(w->data, data, len);
        w->e = e;
        w->close_after = close_after;
        if (close_after)
                e->stdin_closing = true;
        uv_buf_t b = uv_buf_init(w->data, (unsigned) len);
        w->req.data = e;
        r = uv_write(&w->req, (uv_stream_t *) &e->in, &b, 1, later_write_cb);
        if (r < 0) {
                free(w);
                return r;
        }
        return 0;
}

int brig_exec_signal(brig_exec *e, int sig) {
        if (e->state != EXEC_RUNNING || e->exited)
                return -ESRCH;
        return brig_jailctl_kill(e->control, e->id, sig);
}

void brig_exec_cancel(brig_exec *e) {
        if (e->state != EXEC_RUNNING)
                return;
        e->cancelled = true;
        kill_jail(e);
}

void brig_exec_set_paused(brig_exec *e, bool paused) {
        /* Once the command is over its output is bounded and must be read before the call can end. */
        if (e->state != EXEC_RUNNING || (paused && (e->killed || e->exited)))
                return;
        e->paused = paused;
        if (!e->out_eof) {
                if (paused)
                        (void) uv_read_stop((uv_stream_t *) &e->out);
                else
                        (void) uv_read_start((uv_stream_t *) &e->out, alloc_cb, output_read_cb);
        }
        if (!e->err_eof) {
                if (paused)
                        (void) uv_read_stop((uv_stream_t *) &e->err);
                else
                        (void) uv_read_start((uv_stream_t *) &e->err, alloc_cb, output_read_cb);
        }
}

static void close_pair(int p[2]) {
        brig_closep(&p[0]);
        brig_closep(&p[1]);
}

int brig_exec_start(const brig_exec_context *ctx, const brig_exec_args *args, const brig_exec_ops *ops,
                    void *userdata, brig_exec **ret, brig_error *err) {
        static uint64_t next_id;
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        _cleanup_close_ int plan_fd = -1;
        uint64_t timeout = args->timeout_ms ? args->timeout_ms : ctx->policy->limits.wall_time_ms;
        bool want_stdin = args->has_stdin || args->background;
        int out[2] = {-1, -1}, errp[2] = {-1, -1}, st[2] = {-1, -1}, in[2] = {-1, -1};
        brig_exec *e;
        int r;

        if (timeout > ctx->policy->limits.wall_time_ms)
                return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                      "arguments.timeout_ms: %llu exceeds the policy's wall_time of %llu ms",
                                      (unsigned long long) timeout,
                                      (unsigned long long) ctx->policy->limits.wall_time_ms);
        if (!brig_jailctl_is_open(ctx->control))
                return brig_error_set(err, -EBADF, BRIG_KIND_INTERNAL, "no environment to run in");
        brig_plan_request req = {
                .argv = (const char *const *) args->argv,
                .env = (const char *const *) args->env,
                .cwd = args->cwd,
                .mode = BRIG_PLAN_ENTER,
                .secret_env = ctx->secret_env,
                .ca_bundle = ctx->ca_bundle,
        };
        if ((r = brig_plan_build(ctx->policy, &req, &ctx->identity, &plan, err)) < 0)
                return r;
        _cleanup_free_ char *plan_json = brig_plan_to_json(plan);
        if (!plan_json)
                return brig_error_oom(err);
        size_t plan_len = strlen(plan_json);
        if (plan_len > BRIG_JAILCTL_PLAN_INLINE_MAX &&
            (r = brig_jailctl_plan_memfd_json(plan_json, plan_len, &plan_fd, err)) < 0)
                return r;
        /* Output as pipes, not sockets: what the command sees is what a shell would give it. */
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0 ||
            (want_stdin && pipe2(in, O_CLOEXEC) < 0)) {
                r = brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "pipes for the command");
                close_pair(out);
                close_pair(errp);
                close_pair(st);
                close_pair(in);
                return r;
        }

        /* The pipes keep the kernel's default size (64 KiB): what a command has written when it exits is
         * read whatever the client budget says (test_load's stalled clients), so a larger pipe would let
         * every paused call hold that much more (1 MiB pipes: 322 MB instead of 65 MB there). */
        e = calloc(1, sizeof(*e));
        if (!e) {
                close_pair(out);
                close_pair(errp);
                close_pair(st);
                close_pair(in);
                return brig_error_oom(err);
        }
        brig_handles_init(&e->handles, exec_all_closed, e);
        e->ctx = *ctx;
        e->ops = *ops;
        e->userdata = userdata;
        e->budget = ctx->policy->limits.output_bytes;
        e->start_ns = uv_hrtime();
        e->control = brig_jailctl_ref(ctx->control);
        e->ctx.control = NULL; /* borrowed: ours is e->control */
        e->id = ++next_id;
        e->background = args->background;

        (void) uv_pipe_init(ctx->loop, &e->out, 0);
        (void) uv_pipe_init(ctx->loop, &e->err, 0);
        (void) uv_pipe_init(ctx->loop, &e->status, 0);
        (void) uv_timer_init(ctx->loop, &e->timer);
        (void) uv_timer_init(ctx->loop, &e->drain);
        e->out.data = e->err.data = e->status.data = e->timer.data = e->drain.data = e;
        (void) uv_pipe_open(&e->out, out[0]);
        (void) uv_pipe_open(&e->err, errp[0]);
        (void) uv_pipe_open(&e->status, st[0]);
        if (want_stdin) {
                (void) uv_pipe_init(ctx->loop, &e->in, 0);
                e->in.data = e;
                (void) uv_pipe_open(&e->in, in[1]);
                e->has_in = true;
        }

        r = brig_jailctl_run(e->control, e->id, plan_json, plan_len, plan_fd, out[1], errp[1], st[1], in[0]);
        /* The child ends now live in the spawner (or nowhere): ours must go, or EOF would never come. */
        brig_closep(&out[1]);
        brig_closep(&errp[1]);
        brig_closep(&st[1]);
        brig_closep(&in[0]);
        if (r < 0) {
                (void) brig_error_set(err, r, BRIG_KIND_SANDBOX, "hand the command to its environment: %s",
                                      r == -EAGAIN ? "the environment is busy" : strerror(-r));
                /* No callbacks will come: close what was initialised and let the last close free e. */
                e->state = EXEC_DONE;
                close_all(e);
                return r;
        }
        (void) uv_read_start((uv_stream_t *) &e->out, alloc_cb, output_read_cb);
        (void) uv_read_start((uv_stream_t *) &e->err, alloc_cb, output_read_cb);
        (void) uv_read_start((uv_stream_t *) &e->status, status_alloc_cb, status_read_cb);
        if (!e->background)
                (void) uv_timer_start(&e->timer, timer_cb, timeout, 0);
        if (e->has_in && (args->has_stdin || !e->background)) {
                e->stdin_data = args->stdin_data ? strdup(args->stdin_data) : NULL;
                e->stdin_len = args->stdin_len;
                uv_buf_t b =
                        uv_buf_init(e->stdin_data ? e->stdin_data : (char *) "", (unsigned) e->stdin_len);
                e->in_req.data = e;
                if (uv_write(&e->in_req, (uv_stream_t *) &e->in, &b, 1, stdin_written_cb) < 0) {
                        close_handle(e, (uv_handle_t *) &e->in);
                        e->has_in = false;
                }
        }
        *ret = e;
        return 0;
}

static bool stream_is_text(const brig_buf *b, brig_output_kind kind) {
        if (kind != BRIG_OUTPUT_UNKNOWN)
                return kind == BRIG_OUTPUT_TEXT;
        return brig_output_is_text(b->data ? b->data : "", b->len);
}

/* The stream's output as a JSON string: b's own buffer when take (b is left empty; a string only
 * brig_json_frame_print() prints right), else a copy. */
static cJSON *stream_string(brig_buf *b, bool text, bool take, uint64_t escaped_len) {
        if (!take || !b->data) {
                const char *data = b->data ? b->data : "";
                if (text)
                        return cJSON_CreateString(data);
                _cleanup_free_ char *b64 = brig_base64_encode(data, b->len);
                return b64 ? cJSON_CreateString(b64) : NULL;
        }
        /* Held raw and encoded as the frame is written: never held twice, even in part. */
        cJSON *s = !text         ? brig_json_bytes_take(b->data, b->len, BRIG_JSON_BASE64)
                   : escaped_len ? brig_json_escaped_take(b->data, b->len, (size_t) escaped_len)
                                 : brig_json_bytes_take(b->data, b->len, BRIG_JSON_ESCAPE);
        *b = (brig_buf){.max = b->max, .truncated = b->truncated};
        return s;
}

static int add_stream(cJSON *o, const char *name, const char *enc_name, brig_buf *b, brig_output_kind kind,
                      uint64_t escaped_len, bool take) {
        /* Text when it stays text on the wire; control bytes (6 bytes each as JSON escapes) go as base64. */
        bool text = stream_is_text(b, kind);
        cJSON *s = stream_string(b, text, take, escaped_len);

        if (!s || !brig_json_add(o, name, s))
                return -ENOMEM;
        return cJSON_AddStringToObject(o, enc_name, text ? "utf8" : "base64") ? 0 : -ENOMEM;
}

static cJSON *result_json(const brig_exec_result *res, bool take) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        char sig[16];
        bool ok = o;

        ok = ok && (res->exited ? cJSON_AddNumberToObject(o, "exit_code", res->exit_code)
                                : cJSON_AddNullToObject(o, "exit_code"));
        ok = ok && (res->signal ? cJSON_AddStringToObject(o, "signal", brig_signal_name(res->signal, sig))
                                : cJSON_AddNullToObject(o, "signal"));
        ok = ok && add_stream(o, "stdout", "stdout_encoding", res->out, res->out_kind, res->out_escaped_len,
                              take) >= 0;
        ok = ok && add_stream(o, "stderr", "stderr_encoding", res->err, res->err_kind, res->err_escaped_len,
                              take) >= 0;
        ok = ok && cJSON_AddNumberToObject(o, "stdout_bytes", (double) res->stdout_bytes);
        ok = ok && cJSON_AddNumberToObject(o, "stderr_bytes", (double) res->stderr_bytes);
        ok = ok && cJSON_AddBoolToObject(o, "truncated", res->truncated);
        ok = ok && cJSON_AddBoolToObject(o, "timed_out", res->timed_out);
        ok = ok && cJSON_AddNumberToObject(o, "duration_ms", (double) res->duration_ms);
        if (ok && res->error.code) {
                cJSON *e = cJSON_AddObjectToObject(o, "error");
                ok = e && cJSON_AddStringToObject(e, "kind", brig_kind_name(res->error.kind)) &&
                     cJSON_AddStringToObject(e, "message", res->error.msg);
        }
        return ok ? TAKE_PTR(o) : NULL;
}

cJSON *brig_exec_result_to_json(const brig_exec_result *res) {
        return result_json(res, false);
}

cJSON *brig_exec_result_take_json(const brig_exec_result *res) {
        return result_json(res, true);
}

/* Appends text output whole when short, else its head and tail around a pointer to structuredContent, which
 * has all of it: the text block must not carry megabytes a second time. Cuts fall on character
 * boundaries. */
static int append_excerpt(brig_buf *t, const char *data, size_t len, const char *name) {
        size_t head = BRIG_EXEC_TEXT_HEAD, tail_start = len - BRIG_EXEC_TEXT_TAIL;
        int r;

        if (len <= BRIG_EXEC_TEXT_HEAD + BRIG_EXEC_TEXT_TAIL)
                return brig_buf_append(t, data, len);
        head -= brig_utf8_incomplete_tail(data, head);
        /* Continuation bytes (10xxxxxx) belong to the character before them. */
        while (tail_start < len && ((unsigned char) data[tail_start] & 0xC0) == 0x80)
                tail_start++;
        if ((r = brig_buf_append(t, data, head)) < 0 ||
            (r = brig_buf_appendf(
                     t, "\n[... %zu bytes not shown here; structuredContent.%s has all of them ...]\n",
                     tail_start - head, name)) < 0)
                return r;
        return brig_buf_append(t, data + tail_start, len - tail_start);
}

char *brig_exec_result_to_text(const brig_exec_result *res) {
        brig_buf t = {0};
        char line[512], sig[16];
        bool ok = true;

        for (int i = 0; i < 2 && ok; i++) {
                const brig_buf *b = i == 0 ? res->out : res->err;
                const char *data = b->data ? b->data : "";
                if (b->len == 0)
                        continue;
                if (i == 1 && t.len)
                        ok = brig_buf_append(&t, "\n[stderr]\n", 10) >= 0;
                if (stream_is_text(b, i == 0 ? res->out_kind : res->err_kind))
                        ok = ok && append_excerpt(&t, data, b->len, i == 0 ? "stdout" : "stderr") >= 0;
                else {
                        int n = snprintf(line, sizeof(line), "[%zu bytes of binary output, base64 in %s]",
                                         b->len, i == 0 ? "stdout" : "stderr");
                        ok = ok && brig_buf_append(&t, line, (size_t) n) >= 0;
                }
        }
        int n;
        if (res->error.code)
                n = snprintf(line, sizeof(line), "\n[error: %s]", res->error.msg);
        else if (res->timed_out)
                n = snprintf(line, sizeof(line), "\n[timed out after %llu ms]",
                             (unsigned long long) res->duration_ms);
        else if (res->exited)
                n = snprintf(line, sizeof(line), "\n[exit code %d]", res->exit_code);
        else
                n = snprintf(line, sizeof(line), "\n[killed by %s]", brig_signal_name(res->signal, sig));
        ok = ok && brig_buf_append(&t, line, (size_t) n) >= 0;
        if (ok && res->truncated) {
                n = snprintf(line, sizeof(line),
                             "\n[output truncated: %llu bytes produced, the policy keeps %zu]",
                             (unsigned long long) (res->stdout_bytes + res->stderr_bytes),
                             res->out->len + res->err->len);
                ok = brig_buf_append(&t, line, (size_t) n) >= 0;
        }
        if (!ok) {
                brig_buf_done(&t);
                return NULL;
        }
        return t.data ? t.data : strdup("");
}
