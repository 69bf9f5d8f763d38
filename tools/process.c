/* SPDX-License-Identifier: MIT */
/* The process table: background processes started through the exec tool, a bounded log of their output and
 * a description of each on disk (see process.h), both loaded again after a restart, and the tools
 * process_list, process_output, process_write and process_kill. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/signal_name.h"
#include "common/text.h"
#include "tools/process.h"

/* --- files ------------------------------------------------------------------------------------------ */

/* <dir>/processes/<prefix><id><suffix>: beside the workspace, not in it, out of the jail's reach. */
static char *file_path(const brig_process *p, const char *prefix, const char *suffix) {
        char *path = NULL;
        if (asprintf(&path, "%s/processes/%s%s%s", p->table->dir, prefix, p->id, suffix) < 0)
                return NULL;
        return path;
}

static void forget_files(brig_process *p) {
        _cleanup_free_ char *json = file_path(p, "", ".json"), *log = file_path(p, "", ".log");

        brig_process_log_close(&p->log);
        if (!p->on_disk)
                return;
        p->on_disk = false;
        if (json && unlink(json) < 0 && errno != ENOENT)
                (void) log_warning_errno(-errno, "remove '%s': %m, ignoring", json);
        if (log && unlink(log) < 0 && errno != ENOENT)
                (void) log_warning_errno(-errno, "remove '%s': %m, ignoring", log);
}

static int add_number_or_null(cJSON *o, const char *key, bool present, double v) {
        return present ? cJSON_AddNumberToObject(o, key, v) != NULL : cJSON_AddNullToObject(o, key) != NULL;
}

/* Its description, <id>.json, replaced whole through a temporary name and rename(2), so the next worker
 * reads the old one or the new one, never half of either. A few hundred bytes on the loop thread, like the
 * audit log's append. No fsync: what a power loss can cost is the last end state, and a process without
 * one is listed as ended with the worker, which after the host went down is what happened anyway. */
static int write_meta(const brig_process *p) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL, *tmp = file_path(p, ".", ".json.tmp"),
                            *path = file_path(p, "", ".json");
        _cleanup_close_ int fd = -1;

        if (!o || !tmp || !path || !cJSON_AddNumberToObject(o, "version", 1) ||
            !cJSON_AddStringToObject(o, "process_id", p->id) ||
            !cJSON_AddStringToObject(o, "command", p->command) ||
            !cJSON_AddNumberToObject(o, "started", (double) p->started) ||
            !add_number_or_null(o, "ended", p->exited, (double) p->ended) ||
            !add_number_or_null(o, "exit_code", p->exited && p->exit_code >= 0, p->exit_code) ||
            !add_number_or_null(o, "signal", p->signal != 0, p->signal) ||
            !add_number_or_null(o, "duration_ms", p->exited, (double) p->duration_ms) ||
            !cJSON_AddNumberToObject(o, "output_bytes", (double) p->total) ||
            (p->error[0] && !cJSON_AddStringToObject(o, "error", p->error)) || !(text = cJSON_Print(o)))
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        int r = n < 0 ? -errno : (size_t) n < len ? -ENOSPC : rename(tmp, path) < 0 ? -errno : 0;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* Creates the log, then the description: a worker killed in between leaves a log without one, which the
 * next worker removes. */
static int persist_start(brig_process *p, brig_error *err) {
        _cleanup_free_ char *dir = NULL, *log = file_path(p, "", ".log");
        int r;

        if (!log || asprintf(&dir, "%s/processes", p->table->dir) < 0)
                return brig_error_oom(err);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "process %s: create '%s'", p->id,
                                            dir);
        if ((r = brig_process_log_create(AT_FDCWD, log, BRIG_PROCESS_LOG_BYTES, &p->log, err)) < 0)
                return brig_error_prefix(err, "process %s", p->id);
        p->on_disk = true;
        if ((r = write_meta(p)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "process %s: write its description",
                                            p->id);
        return 0;
}

/* --- running ---------------------------------------------------------------------------------------- */

static void process_free(brig_process *p) {
        if (!p)
                return;
        brig_process_log_close(&p->log);
        free(p);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_process *, process_free);

static void process_output_cb(const char *data, size_t len, brig_stream stream, ssize_t escaped_extra,
                              void *userdata) {
        brig_process *p = userdata;
        brig_error e = BRIG_ERROR_INIT;
        int r;

        (void) stream;
        (void) escaped_extra;
        p->total += len;
        /* A page-cache write (two or three, plus the header) on the loop thread per chunk read from the
         * pipe, as the audit log appends (worker/audit.c): cheaper than the client message the chunk
         * often turns into, and it never waits for the disk. */
        if (p->log.fd >= 0 && !p->log_error && (r = brig_process_log_append(&p->log, data, len, &e)) < 0) {
                p->log_error = r;
                log_warning("environment %s: process %s: %s; its output is no longer kept", p->table->name,
                            p->id, e.msg);
        }
        if (p->on_output)
                p->on_output(p, data, len, p->listener);
}

static void process_done_cb(const brig_exec_result *res, void *userdata) {
        brig_process *p = userdata;
        brig_process_table *t = p->table;
        brig_error res_err = BRIG_ERROR_INIT;
        int r;

        p->exec = NULL;
        p->exited = true;
        p->exit_code = res->exited ? res->exit_code : -1;
        p->signal = res->signal;
        p->ended = time(NULL);
        p->duration_ms = res->duration_ms;
        if (res->error.code)
                (void) snprintf(p->error, sizeof(p->error), "%s", res->error.msg);
        t->running--;
        if (t->running_all)
                (*t->running_all)--;
        /* From now on its output is read from the file, which keeps only the space its output takes. */
        if (p->log.fd >= 0 && !p->log_error && brig_process_log_trim(&p->log, &res_err) < 0)
                log_warning("environment %s: process %s: %s, ignoring", t->name, p->id, res_err.msg);
        brig_process_log_close(&p->log);
        if (p->on_disk && !t->dir_removed && (r = write_meta(p)) < 0)
                (void) log_warning_errno(r,
                                         "environment %s: process %s: write its description: %m, ignoring",
                                         t->name, p->id);
        if (t->hooks.exited)
                t->hooks.exited(p, res, t->hooks.userdata);
        if (p->on_exit)
                p->on_exit(p, p->listener);
        /* Last: the owner may free the table (and p) from here. */
        if (t->hooks.idle)
                t->hooks.idle(t->hooks.userdata);
}

static void prune(brig_process_table *t) {
        /* Over the limit: forget the oldest processes that have ended, and their files. */
        while (t->n >= BRIG_MAX_PROCESSES) {
                brig_process **oldest = NULL;
                for (brig_process **pp = &t->list; *pp; pp = &(*pp)->next)
                        if ((*pp)->exited)
                                oldest = pp;
                if (!oldest || (*oldest)->hidden)
                        return;
                brig_process *dead = *oldest;
                *oldest = dead->next;
                forget_files(dead);
                process_free(dead);
                t->n--;
        }
}

static int start(brig_process_table *t, const brig_exec_context *ctx, const brig_exec_args *args,
                 bool hidden, brig_process **ret, brig_error *err) {
        static const brig_exec_ops ops = {.output = process_output_cb, .done = process_done_cb};
        _cleanup_(process_freep) brig_process *p = NULL;
        size_t used = 0;
        int r;

        prune(t);
        if (t->n >= BRIG_MAX_PROCESSES)
                return brig_error_set(err, -EAGAIN, BRIG_KIND_LIMIT,
                                      "more than %d background processes running", BRIG_MAX_PROCESSES);
        p = calloc(1, sizeof(*p));
        if (!p)
                return brig_error_oom(err);
        p->log = (brig_process_log) BRIG_PROCESS_LOG_INIT;
        p->table = t;
        p->hidden = hidden;
        p->number = ++t->next_number;
        (void) snprintf(p->id, sizeof(p->id), "p%u", p->number);
        for (char **a = args->argv; *a && used + 2 < sizeof(p->command); a++)
                used += (size_t) snprintf(p->command + used, sizeof(p->command) - used, "%s%s",
                                          used ? " " : "", *a);
        p->started = time(NULL);
        p->start_ns = uv_hrtime();
        if (!hidden && (r = persist_start(p, err)) < 0) {
                forget_files(p);
                return r;
        }
        r = brig_exec_start(ctx, args, &ops, p, &p->exec, err);
        if (r < 0) {
                forget_files(p);
                return r;
        }
        p->next = t->list;
        t->list = p;
        t->n++;
        t->running++;
        if (t->running_all)
                (*t->running_all)++;
        *ret = TAKE_PTR(p);
        return 0;
}

int brig_process_start(brig_process_table *t, const brig_exec_context *ctx, const brig_exec_args *args,
                       brig_process **ret, brig_error *err) {
        return start(t, ctx, args, false, ret, err);
}

int brig_process_start_hidden(brig_process_table *t, const brig_exec_context *ctx,
                              const brig_exec_args *args,
                              void (*on_output)(brig_process *p, const char *data, size_t len,
                                                void *userdata),
                              void (*on_exit)(brig_process *p, void *userdata), void *listener,
                              brig_process **ret, brig_error *err) {
        brig_process *p = NULL;
        int r = start(t, ctx, args, true, &p, err);

        if (r < 0)
                return r;
        p->on_output = on_output;
        p->on_exit = on_exit;
        p->listener = listener;
        *ret = p;
        return 0;
}

static cJSON *describe(const brig_process *p) {
        cJSON *o = cJSON_CreateObject();
        char sig[16];

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "process_id", p->id);
        cJSON_AddStringToObject(o, "command", p->command);
        cJSON_AddStringToObject(o, "state", p->lost ? "lost" : p->exited ? "exited" : "running");
        if (p->exited && p->exit_code >= 0)
                cJSON_AddNumberToObject(o, "exit_code", p->exit_code);
        else
                cJSON_AddNullToObject(o, "exit_code");
        if (p->signal)
                cJSON_AddStringToObject(o, "signal", brig_signal_name(p->signal, sig));
        else
                cJSON_AddNullToObject(o, "signal");
        cJSON_AddNumberToObject(o, "started", (double) p->started);
        if (p->lost)
                cJSON_AddNullToObject(o, "duration_ms"); /* its end was never seen */
        else
                cJSON_AddNumberToObject(
                        o, "duration_ms",
                        (double) (p->exited ? p->duration_ms : (uv_hrtime() - p->start_ns) / 1000000));
        cJSON_AddNumberToObject(o, "output_bytes", (double) p->total);
        if (p->error[0])
                cJSON_AddStringToObject(o, "error", p->error);
        return o;
}

static brig_process *find(brig_process_table *t, const cJSON *args, brig_error *err) {
        const char *id = NULL;

        if (brig_json_get_string(args, "arguments", "process_id", true, &id, err) < 0)
                return NULL;
        for (brig_process *p = t->list; p; p = p->next)
                if (strcmp(p->id, id) == 0 && !p->hidden)
                        return p;
        (void) brig_error_set(err, -ESRCH, BRIG_KIND_NOT_FOUND,
                              "arguments.process_id: no process \"%.32s\" in this environment", id);
        return NULL;
}

static int ended_error(const brig_process *p, brig_error *err) {
        if (p->lost)
                return brig_error_set(err, -ESRCH, BRIG_KIND_INVALID_ARGUMENT,
                                      "process %s ended with the worker (brigd restarted); start it again",
                                      p->id);
        return brig_error_set(err, -ESRCH, BRIG_KIND_INVALID_ARGUMENT, "process %s has exited", p->id);
}

static int check_keys(const cJSON *args, const char *const *keys, brig_error *err) {
        if (args && !cJSON_IsObject(args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object");
        return brig_json_check_keys(args, "arguments", keys, err);
}

/* describe() for a tool's result: out of memory is the call's error. */
static cJSON *described(const brig_process *p, brig_error *err) {
        cJSON *o = describe(p);
        if (!o)
                (void) brig_error_oom(err);
        return o;
}

static cJSON *process_list(brig_process_table *t, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {NULL};
        cJSON *o, *arr;

        if (check_keys(args, keys, err) < 0)
                return NULL;
        o = cJSON_CreateObject();
        if (!o || !(arr = cJSON_AddArrayToObject(o, "processes"))) {
                cJSON_Delete(o);
                (void) brig_error_oom(err);
                return NULL;
        }
        /* Oldest first: the list is kept newest first. */
        _cleanup_free_ const brig_process **v = calloc(t->n + 1, sizeof(*v));
        size_t n = 0;
        if (!v) {
                cJSON_Delete(o);
                (void) brig_error_oom(err);
                return NULL;
        }
        for (brig_process *p = t->list; p && n < t->n; p = p->next)
                if (!p->hidden)
                        v[n++] = p;
        while (n > 0)
                if (!cJSON_AddItemToArray(arr, describe(v[--n]))) {
                        cJSON_Delete(o);
                        (void) brig_error_oom(err);
                        return NULL;
                }
        return o;
}

static cJSON *process_output(brig_process_table *t, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "offset", "limit", NULL};
        uint64_t offset = 0, limit = 65536;
        brig_process *p;

        if (check_keys(args, keys, err) < 0 || !(p = find(t, args, err)) ||
            brig_json_get_u64(args, "arguments", "offset", UINT64_C(1) << 52, &offset, err) < 0 ||
            brig_json_get_u64(args, "arguments", "limit", BRIG_PROCESS_READ_MAX, &limit, err) < 0)
                return NULL;
        /* A running process appends to its open log; one that ended is read from the file. */
        _cleanup_(brig_process_log_close) brig_process_log ended = BRIG_PROCESS_LOG_INIT;
        const brig_process_log *log = &p->log;
        if (p->log.fd < 0) {
                _cleanup_free_ char *path = file_path(p, "", ".log");
                if (!path) {
                        (void) brig_error_oom(err);
                        return NULL;
                }
                if (brig_process_log_open(AT_FDCWD, path, &ended, err) < 0) {
                        (void) brig_error_prefix(err, "process %s: output", p->id);
                        return NULL;
                }
                log = &ended;
        }
        uint64_t first = log->start;
        uint64_t from = offset < first ? first : offset > log->end ? log->end : offset;
        size_t n = log->end - from < limit ? (size_t) (log->end - from) : (size_t) limit;
        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf) {
                (void) brig_error_oom(err);
                return NULL;
        }
        if (brig_process_log_read(log, from, buf, n, &from, &n, err) < 0) {
                (void) brig_error_prefix(err, "process %s: output", p->id);
                return NULL;
        }
        buf[n] = 0;
        /* Hand out whole characters: hold back a sequence cut at the end of the window. */
        size_t tail = brig_utf8_incomplete_tail(buf, (size_t) n);
        if (tail < n && brig_utf8_valid(buf, (size_t) n - tail)) {
                n -= tail;
                buf[n] = 0;
        }
        cJSON *o = described(p, err);
        if (o) {
                bool text = brig_utf8_valid(buf, (size_t) n);
                _cleanup_free_ char *b64 = text ? NULL : brig_base64_encode(buf, (size_t) n);
                bool ok =
                        (text || b64) && cJSON_AddStringToObject(o, "data", text ? buf : b64) &&
                        cJSON_AddStringToObject(o, "encoding", text ? "utf8" : "base64") &&
                        cJSON_AddNumberToObject(o, "offset", (double) from) &&
                        cJSON_AddNumberToObject(o, "next_offset", (double) (from + n)) &&
                        /* Bytes the client asked for that the retention window no longer holds. */
                        cJSON_AddNumberToObject(o, "dropped_bytes",
                                                (double) (offset < first ? first - offset : 0)) &&
                        /* Bytes produced after the log could no longer be written: what it kept stays
                         * readable, the rest is counted, never passed over in silence. */
                        cJSON_AddNumberToObject(o, "lost_bytes",
                                                (double) (p->total > log->end ? p->total - log->end : 0)) &&
                        (!p->log_error || cJSON_AddStringToObject(o, "log_error", strerror(-p->log_error)));
                if (!ok) {
                        cJSON_Delete(o);
                        (void) brig_error_oom(err);
                        return NULL;
                }
        }
        return o;
}

static cJSON *process_write(brig_process_table *t, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "data", "close_stdin", NULL};
        const char *data = "";
        bool close_stdin = false;
        brig_process *p;
        int r;

        if (check_keys(args, keys, err) < 0 || !(p = find(t, args, err)) ||
            brig_json_get_string(args, "arguments", "data", false, &data, err) < 0 ||
            brig_json_get_bool(args, "arguments", "close_stdin", &close_stdin, err) < 0)
                return NULL;
        if (!p->exec) {
                (void) ended_error(p, err);
                return NULL;
        }
        size_t len = strlen(data);
        if ((r = brig_exec_write_stdin(p->exec, data, len, close_stdin)) < 0) {
                (void) brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "process %s: %s", p->id,
                                      r == -EPIPE     ? "its stdin is closed"
                                      : r == -ENOBUFS ? "more than 8 MiB would wait unread on its stdin"
                                                      : strerror(-r));
                return NULL;
        }
        cJSON *o = described(p, err);
        if (o && !cJSON_AddNumberToObject(o, "written", (double) len)) {
                cJSON_Delete(o);
                (void) brig_error_oom(err);
                return NULL;
        }
        return o;
}

static int parse_signal(const char *name) {
        const char *n = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
        for (int s = 1; s < 32; s++) {
                const char *abbrev = sigabbrev_np(s);
                if (abbrev && strcmp(abbrev, n) == 0)
                        return s;
        }
        return -1;
}

static cJSON *process_kill(brig_process_table *t, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "signal", NULL};
        const char *name = "SIGTERM";
        brig_process *p;
        int sig, r;

        if (check_keys(args, keys, err) < 0 || !(p = find(t, args, err)) ||
            brig_json_get_string(args, "arguments", "signal", false, &name, err) < 0)
                return NULL;
        if ((sig = parse_signal(name)) < 0) {
                (void) brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.signal: unknown signal \"%.32s\"", name);
                return NULL;
        }
        if (!p->exec) {
                (void) ended_error(p, err);
                return NULL;
        }
        if ((r = brig_exec_signal(p->exec, sig)) < 0) {
                (void) brig_error_set(err, r, BRIG_KIND_SANDBOX, "signal process %s: %s", p->id,
                                      strerror(-r));
                return NULL;
        }
        cJSON *o = described(p, err);
        if (o && !cJSON_AddBoolToObject(o, "signalled", true)) {
                cJSON_Delete(o);
                (void) brig_error_oom(err);
                return NULL;
        }
        return o;
}

cJSON *brig_process_call(brig_process_table *t, const char *tool, const cJSON *args, brig_error *err) {
        static const struct {
                const char *name;
                cJSON *(*fn)(brig_process_table *t, const cJSON *args, brig_error *err);
        } handlers[] = {
                {"process_list", process_list},
                {"process_output", process_output},
                {"process_write", process_write},
                {"process_kill", process_kill},
        };
        for (size_t i = 0; tool && i < ELEMENTSOF(handlers); i++)
                if (strcmp(handlers[i].name, tool) == 0)
                        return handlers[i].fn(t, args, err);
        (void) brig_error_set(err, -ENOSYS, BRIG_KIND_INTERNAL, "no handler for %s", tool ? tool : "(null)");
        return NULL;
}

/* --- the table -------------------------------------------------------------------------------------- */

int brig_process_table_init(brig_process_table *t, const char *name, const char *dir,
                            const brig_process_hooks *hooks) {
        *t = (brig_process_table){.name = name, .hooks = *hooks};
        return brig_process_table_set_dir(t, dir);
}

int brig_process_table_set_dir(brig_process_table *t, const char *dir) {
        char *copy = strdup(dir);

        if (!copy)
                return -ENOMEM;
        free(t->dir);
        t->dir = copy;
        return 0;
}

void brig_process_table_free(brig_process_table *t) {
        for (brig_process *p = t->list, *next; p; p = next) {
                next = p->next;
                process_free(p);
        }
        t->list = NULL;
        t->n = 0;
        free(t->dir);
        t->dir = NULL;
}

/* --- after a restart -------------------------------------------------------------------------------- */

#define META_MAX_BYTES 65536

/* "p<n>.json" or "p<n>.log" in canonical form (no sign, no leading zeros): n and whether it is the json. */
static bool parse_file_name(const char *name, unsigned *ret_n, bool *ret_json) {
        char digits[16], canon[32];
        uint64_t n;
        size_t len = strspn(name + (name[0] == 'p'), "0123456789");

        if (name[0] != 'p' || len == 0 || len >= sizeof(digits))
                return false;
        memcpy(digits, name + 1, len);
        digits[len] = 0;
        /* Far below UINT_MAX, so that the table's next_number cannot wrap around to "p0". */
        if (brig_parse_u64(digits, &n) < 0 || n == 0 || n > INT_MAX)
                return false;
        bool json = strcmp(name + 1 + len, ".json") == 0;
        (void) snprintf(canon, sizeof(canon), "p%u%s", (unsigned) n, json ? ".json" : ".log");
        if (strcmp(canon, name) != 0)
                return false;
        *ret_n = (unsigned) n;
        *ret_json = json;
        return true;
}

/* A member that may be absent or null (*ret_present false) or an integer within [0, max]. */
static int get_optional_u64(const cJSON *o, const char *key, uint64_t max, uint64_t *ret, bool *ret_present,
                            brig_error *err) {
        const cJSON *v = brig_json_member(o, key);
        *ret_present = v && !cJSON_IsNull(v);
        return *ret_present ? brig_json_get_u64(o, "", key, max, ret, err) : 0;
}

/* Reads processes/p<number>.json into a new ended process. */
static int load_one(brig_process_table *t, int dir_fd, unsigned number, brig_process **ret,
                    brig_error *err) {
        _cleanup_(process_freep) brig_process *p = calloc(1, sizeof(*p));
        _cleanup_free_ char *text = malloc(META_MAX_BYTES + 1);
        _cleanup_json_ cJSON *o = NULL;
        _cleanup_close_ int fd = -1;
        char name[32];
        const char *id = NULL, *command = NULL, *error = NULL;
        uint64_t started = 0, ended = 0, exit_code = 0, sig = 0, duration = 0, total = 0;
        bool has_end = false, has_exit = false, has_sig = false, has_duration = false;
        int r;

        if (!p || !text)
                return brig_error_oom(err);
        p->log = (brig_process_log) BRIG_PROCESS_LOG_INIT;
        (void) snprintf(name, sizeof(name), "p%u.json", number);
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open");
        ssize_t n = read(fd, text, META_MAX_BYTES);
        if (n < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read");
        if ((r = brig_json_parse(text, (size_t) n, &o, err)) < 0 ||
            (r = brig_json_get_string(o, "", "process_id", true, &id, err)) < 0 ||
            (r = brig_json_get_string(o, "", "command", true, &command, err)) < 0 ||
            (r = brig_json_get_string(o, "", "error", false, &error, err)) < 0 ||
            (r = brig_json_get_u64(o, "", "started", UINT64_C(1) << 52, &started, err)) < 0 ||
            (r = brig_json_get_u64(o, "", "output_bytes", UINT64_C(1) << 52, &total, err)) < 0 ||
            (r = get_optional_u64(o, "ended", UINT64_C(1) << 52, &ended, &has_end, err)) < 0 ||
            (r = get_optional_u64(o, "exit_code", 255, &exit_code, &has_exit, err)) < 0 ||
            (r = get_optional_u64(o, "signal", 64, &sig, &has_sig, err)) < 0 ||
            (r = get_optional_u64(o, "duration_ms", UINT64_C(1) << 52, &duration, &has_duration, err)) < 0)
                return r;
        p->table = t;
        p->number = number;
        (void) snprintf(p->id, sizeof(p->id), "p%u", number);
        if (strcmp(id, p->id) != 0)
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO, "describes \"%.32s\"", id);
        (void) snprintf(p->command, sizeof(p->command), "%s", command);
        p->started = (int64_t) started;
        p->exited = true;
        p->on_disk = true;
        p->exit_code = has_exit ? (int) exit_code : -1;
        p->signal = has_sig ? (int) sig : 0;
        if (has_end) {
                p->ended = (int64_t) ended;
                p->duration_ms = duration;
                p->total = total;
                (void) snprintf(p->error, sizeof(p->error), "%s", error ? error : "");
        } else {
                /* Running when the worker died, which took it along. Its log says how far it got. */
                _cleanup_(brig_process_log_close) brig_process_log log = BRIG_PROCESS_LOG_INIT;
                brig_error e2 = BRIG_ERROR_INIT;
                (void) snprintf(name, sizeof(name), "p%u.log", number);
                if (brig_process_log_open(dir_fd, name, &log, &e2) < 0)
                        log_warning("environment %s: process %s: %s, ignoring", t->name, p->id, e2.msg);
                p->lost = true;
                p->total = log.end;
                (void) snprintf(p->error, sizeof(p->error), "ended with the worker (brigd restarted)");
        }
        *ret = TAKE_PTR(p);
        return 0;
}

static int cmp_desc(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
        return x < y ? 1 : x > y ? -1 : 0;
}

static bool kept(const unsigned *numbers, size_t n, unsigned number) {
        for (size_t i = 0; i < n; i++)
                if (numbers[i] == number)
                        return true;
        return false;
}

int brig_process_table_load(brig_process_table *t) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ unsigned *numbers = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;

        if (asprintf(&path, "%s/processes", t->dir) < 0)
                return -ENOMEM;
        if (!(d = opendir(path))) {
                if (errno != ENOENT)
                        (void) log_warning_errno(-errno, "environment %s: open '%s': %m, ignoring", t->name,
                                                 path);
                return 0;
        }
        /* Pass 1: the descriptions, and the highest id of any file so none is ever handed out again. */
        while ((de = readdir(d))) {
                unsigned number;
                bool json;
                if (!parse_file_name(de->d_name, &number, &json))
                        continue;
                if (number > t->next_number)
                        t->next_number = number;
                if (!json)
                        continue;
                if (n == cap) {
                        unsigned *grown = reallocarray(numbers, cap ? cap * 2 : 64, sizeof(*numbers));
                        if (!grown) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        numbers = grown;
                        cap = cap ? cap * 2 : 64;
                }
                numbers[n++] = number;
        }
        if (n > 0) /* numbers is NULL then, which qsort may not be given */
                qsort(numbers, n, sizeof(*numbers), cmp_desc);
        if (n > BRIG_MAX_PROCESSES)
                n = BRIG_MAX_PROCESSES;
        /* Pass 2: files of processes not kept (the oldest past the limit, logs whose description was never
         * written) and temporaries of descriptions being replaced when the worker died. */
        rewinddir(d);
        while ((de = readdir(d))) {
                unsigned number;
                bool json;
                if (parse_file_name(de->d_name, &number, &json) ? kept(numbers, n, number)
                                                                : strncmp(de->d_name, ".p", 2) != 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        (void) log_warning_errno(-errno, "environment %s: remove '%s/%s': %m, ignoring",
                                                 t->name, path, de->d_name);
        }
        /* Oldest first, each in front: the list ends up newest first. */
        int r = 0;
        for (size_t i = n; i-- > 0;) {
                brig_process *p = NULL;
                brig_error e = BRIG_ERROR_INIT;
                if ((r = load_one(t, dirfd(d), numbers[i], &p, &e)) == -ENOMEM)
                        break;
                if (r < 0) {
                        log_warning("environment %s: process description '%s/p%u.json': %s, ignoring",
                                    t->name, path, numbers[i], e.msg);
                        continue;
                }
                p->next = t->list;
                t->list = p;
                t->n++;
        }
        closedir(d);
        return r == -ENOMEM ? r : 0;
}
