/* SPDX-License-Identifier: MIT */
/* `brig exec`: a small MCP client of a running brigd. Streams the command's output to our stdout/stderr
 * as brig/output notifications arrive, cancels the call on Ctrl-C, and exits with the command's code. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/paths.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/text.h"
#include "common/fdpass.h"
#include "common/framing.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
        (void) sig;
        interrupted = 1;
}

static int send_line(int fd, cJSON *msg) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(msg);
        cJSON_Delete(msg);
        if (!text)
                return -ENOMEM;
        size_t len = strlen(text);
        text[len] = '\n'; /* replaces the NUL; we write len + 1 bytes */
        for (size_t off = 0; off < len + 1;) {
                ssize_t n = send(fd, text + off, len + 1 - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                off += (size_t) n;
        }
        return 0;
}

typedef struct reader {
        int fd;
        brig_buf buf;
        size_t start;
} reader;

/* Returns a complete line (NUL-terminated, valid until the next call), NULL at EOF, or sets *r < 0. */
static char *read_line(reader *rd, int *r) {
        for (;;) {
                char *base = rd->buf.data ? rd->buf.data + rd->start : NULL;
                size_t avail = rd->buf.len - rd->start;
                char *nl = base ? memchr(base, '\n', avail) : NULL;
                if (nl) {
                        *nl = 0;
                        rd->start += (size_t) (nl - base) + 1;
                        return base;
                }
                if (rd->start > 0) {
                        memmove(rd->buf.data, base, avail);
                        rd->buf.len = avail;
                        rd->start = 0;
                }
                if (rd->buf.len > BRIG_MAX_MESSAGE_BYTES) {
                        *r = -EMSGSIZE;
                        return NULL;
                }
                struct pollfd p = {.fd = rd->fd, .events = POLLIN};
                if (poll(&p, 1, -1) < 0) {
                        if (errno == EINTR && !interrupted)
                                continue;
                        *r = errno == EINTR ? -EINTR : -errno;
                        return NULL;
                }
                char chunk[65536];
                ssize_t n = recv(rd->fd, chunk, sizeof(chunk), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        *r = -errno;
                        return NULL;
                }
                if (n == 0) {
                        *r = 0;
                        return NULL;
                }
                if ((*r = brig_buf_append(&rd->buf, chunk, (size_t) n)) < 0)
                        return NULL;
        }
}

const char *brig_cli_socket;

static int connect_path(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, e;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return fd;
        e = errno;
        (void) close(fd);
        return -e;
}

int brig_cli_connect(const char *flag) {
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_free_ char *path = NULL;
        const char *source = NULL;
        int fd;

        if (brig_client_socket_path(flag ? flag : brig_cli_socket, &path, &source, &err) < 0) {
                fprintf(stderr, "brig: %s\n", err.msg);
                return -1;
        }
        fd = connect_path(path);
        if (fd >= 0)
                return fd;
        /* No brigd of our own: the system one, if there is one (see common/paths.h). */
        bool fallback = fd == -ENOENT && strcmp(source, "the default path") == 0 && !brig_host_root();
        if (fallback) {
                int fd2 = connect_path(BRIG_SOCKET_SYSTEM_PATH);
                if (fd2 >= 0)
                        return fd2;
                fprintf(stderr, "brig: cannot connect to brigd at %s (the default path): %s\n", path,
                        strerror(-fd));
                fd = fd2;
                source = "the system brigd's path";
        }
        fprintf(stderr, "brig: cannot connect to brigd at %s (%s): %s\n",
                fallback ? BRIG_SOCKET_SYSTEM_PATH : path, source, strerror(-fd));
        if (fd == -EACCES)
                fprintf(stderr,
                        "brig: the socket does not let uid %u in: brigd's --socket-mode and --socket-group "
                        "choose who may connect\n",
                        (unsigned) geteuid());
        fprintf(stderr, "brig: start brigd there (`brigd` without --socket listens on the default path), or "
                        "name another socket with --socket PATH or BRIG_SOCKET=PATH (see `brig --help`)\n");
        return -1;
}

static cJSON *request(int id, const char *method, cJSON *params) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "jsonrpc", "2.0");
        cJSON_AddNumberToObject(o, "id", id);
        cJSON_AddStringToObject(o, "method", method);
        cJSON_AddItemToObject(o, "params", params);
        return o;
}

static void print_output(const cJSON *params) {
        const cJSON *stream = brig_json_member(params, "stream"), *data = brig_json_member(params, "data"),
                    *enc = brig_json_member(params, "encoding");
        int fd = cJSON_IsString(stream) && strcmp(stream->valuestring, "stderr") == 0 ? 2 : 1;

        if (!cJSON_IsString(data))
                return;
        if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0) {
                _cleanup_free_ unsigned char *bytes = NULL;
                size_t n = 0;
                if (brig_base64_decode(data->valuestring, strlen(data->valuestring), &bytes, &n) >= 0)
                        (void) brig_write_all(fd, bytes, n);
        } else
                (void) brig_write_all(fd, data->valuestring, strlen(data->valuestring));
}

/* Exit code of `brig exec`: the command's, 128+N for a signal, 124 for a timeout (as timeout(1)), 125 when
 * brig itself failed. */
static int finish(const cJSON *msg) {
        const cJSON *result = brig_json_member(msg, "result"), *error = brig_json_member(msg, "error");
        const cJSON *sc = brig_json_member(result, "structuredContent");

        if (error) {
                const cJSON *m = brig_json_member(error, "message");
                fprintf(stderr, "brig: %s\n", cJSON_IsString(m) ? m->valuestring : "error");
                return 125;
        }
        const cJSON *code = brig_json_member(sc, "exit_code"), *sig = brig_json_member(sc, "signal"),
                    *e = brig_json_member(brig_json_member(sc, "error"), "message");
        if (cJSON_IsTrue(brig_json_member(sc, "truncated")))
                fprintf(stderr, "brig: output truncated by the policy's output limit\n");
        if (cJSON_IsString(e))
                fprintf(stderr, "brig: %s\n", e->valuestring);
        if (cJSON_IsTrue(brig_json_member(sc, "timed_out"))) {
                fprintf(stderr, "brig: timed out\n");
                return 124;
        }
        if (cJSON_IsNumber(code))
                return code->valueint;
        if (cJSON_IsString(sig)) {
                fprintf(stderr, "brig: killed by %s\n", sig->valuestring);
                int n = 0;
                for (int s = 1; s < 65; s++) {
                        const char *abbrev = sigabbrev_np(s);
                        if (abbrev && strcmp(sig->valuestring + 3, abbrev) == 0)
                                n = s;
                }
                return 128 + n;
        }
        return 125;
}

static void exec_help(void) {
        printf("Usage: brig [--socket PATH] exec [OPTIONS] -- COMMAND [ARG]...\n"
               "\n"
               "Runs COMMAND in a jail of the brigd listening on the socket, streaming its output as it "
               "comes.\n"
               "Exits with the command's exit code (128+N if killed by signal N, 124 on timeout, 125 if "
               "brig\n"
               "failed). Ctrl-C cancels the call, killing the whole process tree in the jail.\n"
               "\n"
               "Options:\n"
               "  --socket PATH     brigd's socket (see below)\n"
               "  --env ID          run in the named environment, creating it on first use; without it,\n"
               "                    a fresh environment that goes away when the command ends\n"
               "  --policy NAME     policy for a new environment (a name from brigd's policy directory)\n"
               "  --cwd DIR         working directory, relative to the workspace\n"
               "  --timeout MS      wall-clock limit in milliseconds (at most the policy's wall_time)\n"
               "  -e NAME=VALUE     add an environment variable (repeatable)\n"
               "  -c, --command STR run STR with /bin/sh -c instead of COMMAND\n"
               "\n" BRIG_SOCKET_LOOKUP_HELP);
}

typedef struct exec_opts {
        const char *sock, *cwd, *command, *env_id, *policy;
        uint64_t timeout_ms;
        cJSON *env;  /* [{name, value}] for the call's env, as the tool's schema has it */
        char **argv; /* the command, when not --command */
        int argc;
} exec_opts;

/* Returns 0, or an exit status: 0 after --help, 2 after a usage error. */
static int parse_exec_opts(int argc, char **argv, exec_opts *o, bool *ret_done) {
        static const struct option opts[] = {
                {"socket", required_argument, NULL, 's'},  {"cwd", required_argument, NULL, 'd'},
                {"timeout", required_argument, NULL, 't'}, {"command", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},          {"env", required_argument, NULL, 'E'},
                {"policy", required_argument, NULL, 'P'},  {},
        };
        int c;

        *ret_done = true;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+he:c:", opts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->sock = optarg;
                        break;
                case 'd':
                        o->cwd = optarg;
                        break;
                case 't':
                        if (brig_parse_u64(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0) {
                                fprintf(stderr, "brig exec: --timeout: expected milliseconds, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'c':
                        o->command = optarg;
                        break;
                case 'E':
                        o->env_id = optarg;
                        break;
                case 'P':
                        o->policy = optarg;
                        break;
                case 'e': {
                        const char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg) {
                                fprintf(stderr, "brig exec: -e: expected NAME=VALUE, got '%s'\n", optarg);
                                return 2;
                        }
                        _cleanup_free_ char *name = strndup(optarg, (size_t) (eq - optarg));
                        cJSON *var = cJSON_CreateObject();
                        if (!name || !var || !cJSON_AddItemToArray(o->env, var) ||
                            !cJSON_AddStringToObject(var, "name", name) ||
                            !cJSON_AddStringToObject(var, "value", eq + 1)) {
                                fprintf(stderr, "brig exec: out of memory\n");
                                return 125;
                        }
                        break;
                }
                case 'h':
                        exec_help();
                        return 0;
                default:
                        return 2;
                }
        }
        if (!o->command && optind >= argc) {
                fprintf(stderr, "brig exec: no command given\nTry 'brig exec --help'.\n");
                return 2;
        }
        o->argv = argv + optind;
        o->argc = argc - optind;
        *ret_done = false;
        return 0;
}

/* initialize's params, as brig's own client: _meta names the environment and policy when given. */
static cJSON *initialize_params(const char *env_id, const char *policy, bool brig_output) {
        cJSON *params = cJSON_CreateObject(), *meta;
        cJSON_AddStringToObject(params, "protocolVersion", "2025-11-25");
        cJSON_AddObjectToObject(params, "capabilities");
        cJSON *info = cJSON_AddObjectToObject(params, "clientInfo");
        cJSON_AddStringToObject(info, "name", "brig-cli");
        cJSON_AddStringToObject(info, "version", BRIG_VERSION);
        if (!brig_output && !env_id && !policy)
                return params;
        meta = cJSON_AddObjectToObject(params, "_meta");
        if (brig_output)
                cJSON_AddBoolToObject(meta, "brig/output", true);
        if (env_id)
                cJSON_AddStringToObject(meta, "brig/environment", env_id);
        if (policy)
                cJSON_AddStringToObject(meta, "brig/policy", policy);
        return params;
}

static cJSON *notification(const char *method, cJSON *params) {
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "jsonrpc", "2.0");
        cJSON_AddStringToObject(n, "method", method);
        if (params)
                cJSON_AddItemToObject(n, "params", params);
        return n;
}

/* tools/call's params for exec; takes o->env. */
static cJSON *exec_call_params(exec_opts *o) {
        cJSON *args = cJSON_CreateObject(), *params = cJSON_CreateObject();

        if (o->command)
                cJSON_AddStringToObject(args, "command", o->command);
        else {
                cJSON *a = cJSON_AddArrayToObject(args, "argv");
                for (int i = 0; i < o->argc; i++)
                        cJSON_AddItemToArray(a, cJSON_CreateString(o->argv[i]));
        }
        if (o->cwd)
                cJSON_AddStringToObject(args, "cwd", o->cwd);
        if (o->timeout_ms)
                cJSON_AddNumberToObject(args, "timeout_ms", (double) o->timeout_ms);
        if (cJSON_GetArraySize(o->env) > 0)
                cJSON_AddItemToObject(args, "env", TAKE_PTR(o->env));
        cJSON_AddStringToObject(params, "name", "exec");
        cJSON_AddItemToObject(params, "arguments", args);
        return params;
}

/* After initialize (id 1) was sent: sends the call (id 2) once it is answered, prints the output
 * notifications as they come, cancels on Ctrl-C. Returns the exit code; *r < 0 when the connection failed.
 */
static int run_call(reader *rd, cJSON *params, int *r) {
        bool sent_call = false;
        int code = 125;
        char *line;

        for (;;) {
                line = read_line(rd, r);
                if (interrupted && sent_call) {
                        cJSON *p = cJSON_CreateObject();
                        cJSON_AddNumberToObject(p, "requestId", 2);
                        cJSON_AddStringToObject(p, "reason", "interrupted");
                        (void) send_line(rd->fd, notification("notifications/cancelled", p));
                        code = 130;
                        break;
                }
                if (!line) {
                        if (*r == 0 && !interrupted)
                                fprintf(stderr, "brig: brigd closed the connection\n");
                        break;
                }
                _cleanup_json_ cJSON *msg = cJSON_Parse(line);
                const cJSON *id = brig_json_member(msg, "id"), *method = brig_json_member(msg, "method");
                if (cJSON_IsString(method) && strcmp(method->valuestring, "brig/output") == 0) {
                        print_output(brig_json_member(msg, "params"));
                        continue;
                }
                if (!cJSON_IsNumber(id))
                        continue;
                if (id->valueint == 2 || brig_json_member(msg, "error")) {
                        code = finish(msg);
                        break;
                }
                if (id->valueint == 1 && !sent_call) {
                        if ((*r = send_line(rd->fd, notification("notifications/initialized", NULL))) < 0 ||
                            (*r = send_line(rd->fd, request(2, "tools/call", TAKE_PTR(params)))) < 0)
                                break;
                        sent_call = true;
                }
        }
        cJSON_Delete(params);
        return code;
}

int brig_cli_exec(int argc, char **argv) {
        _cleanup_json_ cJSON *env = cJSON_CreateArray();
        exec_opts o = {.env = env};
        reader rd = {.fd = -1};
        bool done;
        int r = 0, code;

        if (!env)
                return 125;
        code = parse_exec_opts(argc, argv, &o, &done);
        if (done)
                return code;
        rd.fd = brig_cli_connect(o.sock);
        if (rd.fd < 0)
                return 125;

        cJSON *params = exec_call_params(&o);
        if (!o.env)
                env = NULL; /* taken by the call */
        struct sigaction sa = {.sa_handler = on_sigint};
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        if ((r = send_line(rd.fd, request(1, "initialize", initialize_params(o.env_id, o.policy, true)))) <
            0)
                cJSON_Delete(params);
        else
                code = run_call(&rd, params, &r);
        if (r < 0 && r != -EINTR)
                fprintf(stderr, "brig: connection to brigd: %s\n", strerror(-r));
        brig_buf_done(&rd.buf);
        (void) close(rd.fd);
        return code;
}

/* Answers that came before the one waited for (requests in flight together may be answered in any order). */
#define SESSION_EARLY_MAX 8

struct brig_cli_session {
        reader rd;
        int next_id;
        cJSON *early[SESSION_EARLY_MAX];
        size_t n_early;
};

brig_cli_session *brig_cli_session_open(const char *sock) {
        brig_cli_session *s = calloc(1, sizeof(*s));

        if (!s) {
                fprintf(stderr, "brig: out of memory\n");
                return NULL;
        }
        s->next_id = 2;
        if ((s->rd.fd = brig_cli_connect(sock)) < 0) {
                free(s);
                return NULL;
        }
        if (send_line(s->rd.fd, request(1, "initialize", initialize_params(NULL, NULL, false))) < 0) {
                fprintf(stderr, "brig: connection to brigd lost\n");
                brig_cli_session_close(s);
                return NULL;
        }
        return s;
}

void brig_cli_session_close(brig_cli_session *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_early; i++)
                cJSON_Delete(s->early[i]);
        brig_buf_done(&s->rd.buf);
        close(s->rd.fd);
        free(s);
}

int brig_cli_session_send(brig_cli_session *s, const char *method, cJSON *params) {
        int id = s->next_id++;

        if (send_line(s->rd.fd, request(id, method, params)) < 0) {
                fprintf(stderr, "brig: connection to brigd lost\n");
                return -1;
        }
        return id;
}

static cJSON *answer_result(cJSON *msg) {
        const cJSON *e = brig_json_member(brig_json_member(msg, "error"), "message");
        cJSON *result = NULL;

        if (cJSON_IsString(e))
                fprintf(stderr, "brig: %s\n", e->valuestring);
        else
                result = cJSON_DetachItemFromObject(msg, "result");
        cJSON_Delete(msg);
        return result;
}

static bool answers(const cJSON *msg, int id) {
        const cJSON *mid = brig_json_member(msg, "id");
        return cJSON_IsNumber(mid) && mid->valueint == id;
}

/* The whole message answering id (answers to other requests read meanwhile are kept for their waits), or
 * NULL after saying the connection was lost. */
static cJSON *wait_msg(brig_cli_session *s, int id) {
        char *line;
        int r = 0;

        for (size_t i = 0; i < s->n_early; i++)
                if (answers(s->early[i], id)) {
                        cJSON *msg = s->early[i];
                        memmove(&s->early[i], &s->early[i + 1], (s->n_early - i - 1) * sizeof(*s->early));
                        s->n_early--;
                        return msg;
                }
        while ((line = read_line(&s->rd, &r))) {
                cJSON *msg = cJSON_Parse(line);
                const cJSON *mid = brig_json_member(msg, "id");
                if (answers(msg, id))
                        return msg;
                /* Another request's answer, kept for its wait; notifications and the rest go. */
                if (cJSON_IsNumber(mid) && mid->valueint > 1 && mid->valueint < s->next_id &&
                    s->n_early < SESSION_EARLY_MAX) {
                        s->early[s->n_early++] = msg;
                        continue;
                }
                cJSON_Delete(msg);
        }
        fprintf(stderr, "brig: connection to brigd lost%s%s\n", r < 0 ? ": " : "",
                r < 0 ? strerror(-r) : "");
        return NULL;
}

cJSON *brig_cli_session_wait(brig_cli_session *s, int id) {
        cJSON *msg = wait_msg(s, id);
        return msg ? answer_result(msg) : NULL;
}

int brig_cli_session_pass_fd(brig_cli_session *s, int fd) {
        /* What brigd would refuse (and close the connection for) goes in chunks. */
        if (brig_fdpass_refusal(fd))
                return 1;
        int id = brig_cli_session_send(s, "brig/descriptor.pass", cJSON_CreateObject());
        cJSON *msg;
        int r;

        if (id < 0)
                return -1;
        /* Its answer before the byte (worker/mcp_fd.c): brigd stops reading first, so that the byte and its
         * descriptor are not read as part of the stream. */
        if (!(msg = wait_msg(s, id)))
                return -1;
        /* A brigd without it (unknown method) or refusing it: the caller sends the data itself. */
        r = cJSON_IsTrue(brig_json_member(brig_json_member(msg, "result"), "ready"));
        cJSON_Delete(msg);
        if (!r)
                return 1;
        if ((r = brig_fdpass_send(s->rd.fd, fd)) < 0) {
                fprintf(stderr, "brig: pass a descriptor to brigd: %s\n", strerror(-r));
                return -1;
        }
        return 0;
}

cJSON *brig_cli_session_request(brig_cli_session *s, const char *method, cJSON *params) {
        int id = brig_cli_session_send(s, method, params);
        return id < 0 ? NULL : brig_cli_session_wait(s, id);
}

/* One request on a fresh connection (after initialize); returns the response's result, or NULL after
 * printing why not. */
cJSON *brig_cli_request(const char *sock, const char *method, cJSON *params) {
        brig_cli_session *s = brig_cli_session_open(sock);
        cJSON *result;

        if (!s) {
                cJSON_Delete(params);
                return NULL;
        }
        result = brig_cli_session_request(s, method, params);
        brig_cli_session_close(s);
        return result;
}
