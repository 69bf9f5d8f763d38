/* SPDX-License-Identifier: MIT */
/* The repl tool: per-environment interpreters behind a line protocol, with sentinel-delimited results. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/text.h"
#include "tools/repl.h"

#define SENTINEL "\036brig-repl-done "

/* Requests are one JSON line {"id": N, "code": "..."}; stderr goes to stdout so the order is kept. */
static const char python_driver[] =
        "import ast, json, os, sys, traceback\n"
        "os.dup2(1, 2)\n"
        "sys.stderr = sys.stdout\n"
        "g = {'__name__': '__main__', '__builtins__': __builtins__}\n"
        "while True:\n"
        "    try:\n"
        "        line = sys.stdin.readline()\n"
        "    except KeyboardInterrupt:\n"
        "        continue\n"
        "    if not line:\n"
        "        break\n"
        "    req = json.loads(line)\n"
        "    status = 'ok'\n"
        "    try:\n"
        "        tree = ast.parse(req['code'], '<repl>', 'exec')\n"
        "        last = None\n"
        "        if tree.body and isinstance(tree.body[-1], ast.Expr):\n"
        "            last = ast.Expression(tree.body.pop().value)\n"
        "        exec(compile(tree, '<repl>', 'exec'), g)\n"
        "        if last is not None:\n"
        "            v = eval(compile(last, '<repl>', 'eval'), g)\n"
        "            if v is not None:\n"
        "                print(repr(v))\n"
        "    except KeyboardInterrupt:\n"
        "        e = sys.exc_info()\n"
        "        traceback.print_exception(e[0], e[1], e[2].tb_next)\n"
        "        status = 'interrupted'\n"
        "    except SystemExit:\n"
        "        status = 'error'\n"
        "        print('SystemExit: the interpreter keeps running')\n"
        "    except BaseException:\n"
        "        e = sys.exc_info()\n"
        "        traceback.print_exception(e[0], e[1], e[2].tb_next)\n"
        "        status = 'error'\n"
        "    sys.stdout.flush()\n"
        "    sys.stdout.write('\\x1ebrig-repl-done %d %s\\n' % (req['id'], status))\n"
        "    sys.stdout.flush()\n";

/* Code that does not compile because of a top-level await is rewritten the way node's own REPL does it
 * (declarations stay global, the last expression is the value), then awaited; an interrupt while awaiting
 * ends the request and leaves the promise running. The rewriter is internal to node: without it (another
 * node), top-level await stays a syntax error. */
static const char node_driver[] =
        "const vm = require('vm'), util = require('util'), readline = require('readline');\n"
        "let tla = null;\n"
        "try { tla = require('internal/repl/await').processTopLevelAwait; } catch (e) {}\n"
        "process.stderr.write = process.stdout.write.bind(process.stdout);\n"
        "const ctx = vm.createContext(Object.assign(Object.create(globalThis), {require, console, process,"
        " Buffer, setTimeout, setInterval, clearTimeout, clearInterval, setImmediate, clearImmediate}));\n"
        "const done = (id, status) => process.stdout.write('\\x1ebrig-repl-done ' + id + ' ' + status + "
        "'\\n');\n"
        "const report = (e) => {\n"
        "  const msg = e && e.stack ? e.stack : String(e);\n"
        "  console.log(msg);\n"
        "  return /Script execution (was )?interrupted/.test(msg) ? 'interrupted' : 'error';\n"
        "};\n"
        "let awaiting = null;\n"
        "process.on('SIGINT', () => {\n"
        "  if (awaiting === null) return;\n"
        "  const id = awaiting;\n"
        "  awaiting = null;\n"
        "  console.log('Interrupted while awaiting (the promise is not cancelled)');\n"
        "  done(id, 'interrupted');\n"
        "});\n"
        "const rl = readline.createInterface({input: process.stdin, terminal: false});\n"
        "rl.on('line', (line) => {\n"
        "  const req = JSON.parse(line);\n"
        "  let code = req.code, wrapped = false, v;\n"
        "  try { new vm.Script(code, {filename: '<repl>'}); } catch (e) {\n"
        "    const w = tla && e instanceof SyntaxError ? tla(code) : null;\n"
        "    if (w) { code = w; wrapped = true; }\n"
        "  }\n"
        "  try {\n"
        "    v = vm.runInContext(code, ctx, {filename: '<repl>', breakOnSigint: true});\n"
        "  } catch (e) {\n"
        "    return done(req.id, report(e));\n"
        "  }\n"
        "  if (!wrapped) {\n"
        "    if (v !== undefined) console.log(util.inspect(v));\n"
        "    return done(req.id, 'ok');\n"
        "  }\n"
        "  awaiting = req.id;\n"
        "  Promise.resolve(v).then((r) => {\n"
        "    if (awaiting !== req.id) return;\n"
        "    awaiting = null;\n"
        "    if (r && r.value !== undefined) console.log(util.inspect(r.value));\n"
        "    done(req.id, 'ok');\n"
        "  }, (e) => {\n"
        "    if (awaiting !== req.id) return;\n"
        "    awaiting = null;\n"
        "    done(req.id, report(e));\n"
        "  });\n"
        "});\n";

/* bash runs interactive (so that SIGINT ends the running command, loops and builtins included, and the
 * shell returns to its prompt with its variables, functions and cwd), without job control (so that its
 * commands stay in its process group, which the interrupt reaches), with no prompt and no history. Each
 * request is one line, "__brig_req=ID; eval $'CODE'", and PROMPT_COMMAND, which runs before every prompt,
 * after an interrupt too, prints the sentinel with the status of the code. The startup warnings about
 * the missing terminal go to /dev/null; the prelude then sends stderr to stdout. */
static const char bash_prelude[] =
        "exec 2>&1; export -n PS1; PS2=; PS0=; unset HISTFILE; set +o history +H; "
        "PROMPT_COMMAND='__brig_s=$?; if [ -n \"$__brig_req\" ]; then [ $__brig_s -eq 0 ] && __brig_s=ok "
        "|| __brig_s=error; printf \"\\036brig-repl-done %s %s\\n\" \"$__brig_req\" $__brig_s; fi; "
        "__brig_req='\n";

typedef struct language {
        const char *name;
        const char *const *argv;
} language;

static const char *const python_argv[] = {"python3", "-u", "-c", python_driver, NULL};
static const char *const bash_argv[] = {"bash",
                                        "--noprofile",
                                        "--norc",
                                        "-c",
                                        "PS1= exec bash --noprofile --norc --noediting +m -i -s 2>/dev/null",
                                        NULL};
static const char *const node_argv[] = {"node", "--expose-internals", "-e", node_driver, NULL};

static const language languages[] = {
        {"python", python_argv},
        {"bash", bash_argv},
        {"node", node_argv},
};

struct brig_repl {
        brig_repl *next;
        brig_repl_set *set;
        const language *lang;
        brig_process *proc;
        bool died; /* the interpreter ended: the next request starts a fresh one and says so */
        bool closed;
        uv_timer_t timer;
        brig_buf late;       /* output while no request was in flight (timers, threads): the next one's */
        uint64_t output_max; /* the policy's output_bytes as of the last request */
        uint64_t next_id;

        /* The request in flight, if any. */
        bool busy;
        uint64_t req_id;
        uint64_t start_ns;
        bool interrupting, restarted;
        brig_buf out;
        char tail[64]; /* the end of what came before, to find a sentinel split across chunks */
        size_t tail_len;
        size_t streamed; /* bytes of out handed to output */
        brig_repl_output_cb output;
        brig_repl_done_cb cb;
        void *userdata;
};

brig_process *brig_repl_process(const brig_repl *r) {
        return r->proc;
}

int brig_repl_args_check(const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"language", "code", "timeout_ms", NULL};
        const char *lang = NULL, *code = NULL;
        uint64_t t = 0;
        int r;

        if (!cJSON_IsObject(args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object");
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "language", true, &lang, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "code", true, &code, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "timeout_ms", BRIG_EXEC_MAX_TIMEOUT_MS, &t, err)) < 0)
                return r;
        bool known = false;
        for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
                if (strcmp(lang, languages[i].name) == 0)
                        known = true;
        if (!known)
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "arguments.language: expected \"python\", \"bash\" or \"node\", got \"%.32s\"",
                        lang);
        if (strlen(code) > BRIG_REPL_MAX_CODE)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "arguments.code: longer than %u bytes",
                                      BRIG_REPL_MAX_CODE);
        if (brig_json_member(args, "timeout_ms") && t == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.timeout_ms: must be at least 1");
        return 0;
}

/* Streams what can no longer turn out to be part of the sentinel: all but an end that is a prefix of it
 * (usually nothing), or everything once the request is over. */
static void stream_out(brig_repl *r, bool final) {
        char want[64];
        size_t hold = 0;

        if (!final) {
                int wn = snprintf(want, sizeof(want), SENTINEL "%llu ", (unsigned long long) r->req_id);
                for (size_t k = (size_t) wn - 1; k > 0 && hold == 0; k--)
                        if (k <= r->out.len && memcmp(r->out.data + r->out.len - k, want, k) == 0)
                                hold = k;
        }
        size_t end = r->out.len > hold ? r->out.len - hold : 0;

        if (r->output && end > r->streamed)
                r->output(r->out.data + r->streamed, end - r->streamed, r->userdata);
        if (end > r->streamed)
                r->streamed = end;
}

static void complete(brig_repl *r, const char *status) {
        brig_repl_done_cb cb = r->cb;
        void *userdata = r->userdata;
        cJSON *o = cJSON_CreateObject();
        const char *data = r->out.data ? r->out.data : "";

        (void) uv_timer_stop(&r->timer);
        stream_out(r, true);
        r->busy = false;
        r->cb = NULL;
        r->output = NULL;
        if (o) {
                bool text = brig_utf8_valid(data, r->out.len);
                char *b64 = text ? NULL : brig_base64_encode(data, r->out.len);
                cJSON_AddStringToObject(o, "language", r->lang->name);
                cJSON_AddStringToObject(o, "status", status);
                cJSON_AddStringToObject(o, "output", text ? data : b64 ? b64 : "");
                cJSON_AddStringToObject(o, "output_encoding", text ? "utf8" : "base64");
                cJSON_AddBoolToObject(o, "truncated", r->out.truncated);
                cJSON_AddBoolToObject(o, "restarted", r->restarted);
                cJSON_AddNumberToObject(o, "duration_ms", (double) ((uv_hrtime() - r->start_ns) / 1000000));
                free(b64);
        }
        brig_buf_done(&r->out);
        r->tail_len = 0;
        cb(o, strcmp(status, "ok") != 0, userdata);
}

static void late_output(brig_repl *r, const char *data, size_t len) {
        if (r->late.max == 0)
                r->late.max = r->output_max;
        (void) brig_buf_append(&r->late, data, len);
}

/* Output of the interpreter: collect it for the request in flight and watch for its sentinel. */
static void repl_output(brig_process *p, const char *data, size_t len, void *userdata) {
        brig_repl *r = userdata;
        char want[64];
        (void) p;

        if (!r->busy) {
                late_output(r, data, len);
                return;
        }
        int wn = snprintf(want, sizeof(want), SENTINEL "%llu ", (unsigned long long) r->req_id);
        /* Search the previous tail and this chunk together, without keeping more than that. */
        size_t n = r->tail_len + len;
        char *scan = malloc(n + 1);
        if (!scan)
                return;
        memcpy(scan, r->tail, r->tail_len);
        memcpy(scan + r->tail_len, data, len);
        scan[n] = 0;
        char *hit = memmem(scan, n, want, (size_t) wn);
        if (!hit) {
                (void) brig_buf_append(&r->out, data, len);
                size_t keep = n < sizeof(r->tail) ? n : sizeof(r->tail);
                memcpy(r->tail, scan + n - keep, keep);
                r->tail_len = keep;
                free(scan);
                stream_out(r, false);
                return;
        }
        /* Output before the sentinel belongs to the request (some of it may already be collected). */
        size_t before = (size_t) (hit - scan);
        if (before > r->tail_len)
                (void) brig_buf_append(&r->out, scan + r->tail_len, before - r->tail_len);
        else if (r->out.len >= r->tail_len - before)
                r->out.len -= r->tail_len - before;
        char status[32] = "error";
        (void) sscanf(hit + wn, "%31[a-z]", status);
        /* What follows the sentinel's line in this chunk came after the request. */
        const char *nl = memchr(hit + wn, '\n', n - (size_t) (hit + wn - scan));
        if (nl && nl + 1 < scan + n)
                late_output(r, nl + 1, n - (size_t) (nl + 1 - scan));
        free(scan);
        /* bash only sees its command fail: it was our SIGINT that made it. */
        complete(r, r->interrupting && strcmp(status, "error") == 0 ? "interrupted" : status);
}

static void repl_exit(brig_process *p, void *userdata) {
        brig_repl *r = userdata;
        (void) p;
        r->proc = NULL;
        r->died = true;
        if (r->busy)
                complete(r, r->interrupting ? "killed" : "crashed");
}

static void kill_cb(uv_timer_t *t) {
        brig_repl *r = t->data;
        if (r->proc && r->proc->exec)
                (void) brig_exec_signal(r->proc->exec, SIGKILL);
}

static void timeout_cb(uv_timer_t *t) {
        brig_repl_interrupt(t->data);
}

void brig_repl_interrupt(brig_repl *r) {
        if (!r->busy || r->interrupting || !r->proc || !r->proc->exec)
                return;
        r->interrupting = true;
        (void) brig_exec_signal(r->proc->exec, SIGINT);
        (void) uv_timer_start(&r->timer, kill_cb, BRIG_REPL_KILL_MS, 0);
}

static int start_interpreter(brig_repl *r, const brig_exec_context *ctx, brig_error *err) {
        brig_exec_args args = {.background = true};
        brig_process *p = NULL;
        size_t n = 0;
        int rc;

        while (r->lang->argv[n])
                n++;
        args.argv = calloc(n + 1, sizeof(char *));
        if (!args.argv)
                return brig_error_oom(err);
        for (size_t i = 0; i < n; i++)
                if (!(args.argv[i] = strdup(r->lang->argv[i]))) {
                        brig_exec_args_done(&args);
                        return brig_error_oom(err);
                }
        rc = brig_process_start_hidden(r->set->processes, ctx, &args, repl_output, repl_exit, r, &p, err);
        brig_exec_args_done(&args);
        if (rc < 0)
                return rc;
        (void) snprintf(p->command, sizeof(p->command), "repl %s", r->lang->name);
        r->proc = p;
        if (strcmp(r->lang->name, "bash") == 0)
                (void) brig_exec_write_stdin(p->exec, bash_prelude, strlen(bash_prelude), false);
        return 0;
}

static brig_repl *repl_get(brig_repl_set *s, uv_loop_t *loop, const char *lang) {
        for (brig_repl *r = s->list; r; r = r->next)
                if (strcmp(r->lang->name, lang) == 0)
                        return r;
        for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
                if (strcmp(lang, languages[i].name) == 0) {
                        brig_repl *r = calloc(1, sizeof(*r));
                        if (!r)
                                return NULL;
                        r->set = s;
                        r->lang = &languages[i];
                        (void) uv_timer_init(loop, &r->timer);
                        r->timer.data = r;
                        brig_handles_add(&s->handles, 1);
                        r->next = s->list;
                        s->list = r;
                        return r;
                }
        return NULL;
}

/* code as one ANSI-C quoted word, $'...', on one line: bash's input stays one line per request. */
static char *bash_quote(const char *code) {
        size_t n = strlen(code);
        char *q = malloc(4 * n + 4), *o = q;

        if (!q)
                return NULL;
        *o++ = '$';
        *o++ = '\'';
        for (const unsigned char *c = (const unsigned char *) code; *c; c++) {
                if (*c == '\\' || *c == '\'') {
                        *o++ = '\\';
                        *o++ = (char) *c;
                } else if (*c < 0x20 || *c == 0x7f)
                        o += sprintf(o, "\\x%02x", *c);
                else
                        *o++ = (char) *c;
        }
        *o++ = '\'';
        *o = 0;
        return q;
}

int brig_repl_run(brig_repl_set *s, const brig_exec_context *ctx, const cJSON *args,
                  brig_repl_output_cb output, brig_repl_done_cb cb, void *userdata, brig_repl **ret,
                  brig_error *err) {
        const char *lang = cJSON_GetObjectItemCaseSensitive(args, "language")->valuestring;
        const char *code = cJSON_GetObjectItemCaseSensitive(args, "code")->valuestring;
        uint64_t max_timeout_ms = ctx->policy->limits.wall_time_ms, timeout = max_timeout_ms;
        char *req = NULL;
        brig_repl *r;
        int rc;

        (void) brig_json_get_u64(args, "arguments", "timeout_ms", BRIG_EXEC_MAX_TIMEOUT_MS, &timeout, NULL);
        if (timeout > max_timeout_ms)
                return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                      "arguments.timeout_ms: exceeds the policy's wall_time of %llu ms",
                                      (unsigned long long) max_timeout_ms);
        if (!(r = repl_get(s, ctx->loop, lang)))
                return brig_error_oom(err);
        if (r->busy)
                return brig_error_set(err, -EBUSY, BRIG_KIND_LIMIT,
                                      "the %s interpreter of this environment is busy with another call",
                                      lang);
        r->restarted = false;
        r->output_max = ctx->policy->limits.output_bytes;
        if (!r->proc) {
                r->restarted = r->died;
                if ((rc = start_interpreter(r, ctx, err)) < 0)
                        return rc;
        }
        r->req_id = ++r->next_id;
        if (strcmp(lang, "bash") == 0) {
                _cleanup_free_ char *q = bash_quote(code);
                rc = q ? asprintf(&req, "__brig_req=%llu; eval %s\n", (unsigned long long) r->req_id, q)
                       : -1;
        } else {
                cJSON *o = cJSON_CreateObject();
                char *j = NULL;
                if (o && cJSON_AddNumberToObject(o, "id", (double) r->req_id) &&
                    cJSON_AddStringToObject(o, "code", code))
                        j = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
                rc = j ? asprintf(&req, "%s\n", j) : -1;
                free(j);
        }
        if (rc < 0)
                return brig_error_oom(err);
        rc = brig_exec_write_stdin(r->proc->exec, req, strlen(req), false);
        free(req);
        if (rc < 0)
                return brig_error_set(err, rc, BRIG_KIND_SANDBOX, "write to the %s interpreter", lang);
        r->busy = true;
        r->interrupting = false;
        r->start_ns = uv_hrtime();
        r->out = (brig_buf){.max = r->output_max};
        /* Output printed since the last request ended comes first. */
        if (r->late.len) {
                (void) brig_buf_append(&r->out, r->late.data, r->late.len);
                r->out.truncated |= r->late.truncated;
        }
        brig_buf_done(&r->late);
        r->tail_len = 0;
        r->streamed = 0;
        r->output = output;
        r->cb = cb;
        r->userdata = userdata;
        (void) uv_timer_start(&r->timer, timeout_cb, timeout, 0);
        *ret = r;
        return 0;
}

static void timer_closed_cb(uv_handle_t *h) {
        brig_repl *r = h->data;
        brig_handles_closed(&r->set->handles);
}

/* The set may be freed now: the process table's idle hook says so to its owner. */
static void set_all_closed(void *userdata) {
        const brig_process_hooks *hooks = &((brig_repl_set *) userdata)->processes->hooks;

        if (hooks->idle)
                hooks->idle(hooks->userdata);
}

void brig_repl_set_init(brig_repl_set *s, brig_process_table *processes) {
        *s = (brig_repl_set){.processes = processes};
        brig_handles_init(&s->handles, set_all_closed, s);
}

void brig_repl_set_close(brig_repl_set *s) {
        for (brig_repl *r = s->list; r; r = r->next)
                if (!r->closed) {
                        r->closed = true;
                        uv_close((uv_handle_t *) &r->timer, timer_closed_cb);
                }
}

void brig_repl_set_free(brig_repl_set *s) {
        for (brig_repl *r = s->list, *next; r; r = next) {
                next = r->next;
                brig_buf_done(&r->out);
                brig_buf_done(&r->late);
                free(r);
        }
        s->list = NULL;
}
