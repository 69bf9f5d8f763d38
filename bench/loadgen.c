/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/loadgen.h"

typedef struct lcall {
        char token[64];
        double sent_at, retry_at; /* retry_at > 0: a busy refusal to send again then */
        unsigned retries;
        bool done;
} lcall;

typedef struct lconn {
        int fd;
        bool connected, closed;
        char *out;
        size_t out_len, out_off, out_cap;
        char *in;
        size_t in_len, in_cap;
        lcall *calls;
        size_t pending; /* calls not answered yet */
} lconn;

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void count_kind(loadgen_stats *st, const char *what) {
        for (size_t i = 0; i < st->n_kinds; i++)
                if (strcmp(st->kinds[i].what, what) == 0) {
                        st->kinds[i].n++;
                        return;
                }
        if (st->n_kinds == LOADGEN_MAX_KINDS) {
                st->other_kinds++;
                return;
        }
        (void) snprintf(st->kinds[st->n_kinds].what, sizeof(st->kinds[0].what), "%s", what);
        st->kinds[st->n_kinds++].n = 1;
}

/* Error messages name ids, sizes and paths; digits out makes one kind of one kind. */
static void normalise(char *s) {
        for (char *p = s; *p; p++)
                if (*p >= '0' && *p <= '9')
                        *p = '#';
                else if (*p == '\n')
                        *p = ' ';
}

static int out_append(lconn *c, const char *s) {
        size_t len = strlen(s);
        if (c->out_len + len + 1 > c->out_cap) {
                size_t cap = (c->out_len + len + 1) * 2;
                char *b = realloc(c->out, cap);
                if (!b)
                        return -1;
                c->out = b;
                c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, s, len);
        c->out[c->out_len + len] = '\n';
        c->out_len += len + 1;
        return 0;
}

static int send_call(lconn *c, unsigned j) {
        char msg[512];
        (void) snprintf(msg, sizeof(msg),
                        "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":{\"name\":"
                        "\"exec\",\"arguments\":{\"command\":\"echo %s\"}}}",
                        j + 1, c->calls[j].token);
        c->calls[j].sent_at = now_ms();
        c->calls[j].retry_at = 0;
        return out_append(c, msg);
}

static int start_conn(const loadgen_opts *o, lconn *c, unsigned i) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char msg[512], meta[160] = "";

        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return -1;
        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->socket);
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                (void) close(c->fd);
                c->fd = -1;
                return errno == EAGAIN ? 1 : -1; /* backlog full: again later */
        }
        c->connected = true;
        if (o->n_envs)
                (void) snprintf(meta, sizeof(meta), ",\"_meta\":{\"brig/environment\":\"%s-%u\"}",
                                o->env_prefix, i % o->n_envs);
        (void) snprintf(msg, sizeof(msg),
                        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                        "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":"
                        "\"loadgen\",\"version\":\"1\"}%s}}",
                        meta);
        if (out_append(c, msg) < 0 ||
            out_append(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}") < 0)
                return -1;
        for (unsigned j = 0; j < o->n_calls; j++)
                if (send_call(c, j) < 0)
                        return -1;
        return 0;
}

static void finish_call(lconn *c, lcall *call, loadgen_stats *st, double *lat, size_t *n_lat) {
        call->done = true;
        c->pending--;
        st->received++;
        lat[(*n_lat)++] = now_ms() - call->sent_at;
}

static void handle_message(const loadgen_opts *o, lconn *c, cJSON *m, loadgen_stats *st, double *lat,
                           size_t *n_lat) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(m, "error");
        char what[200];

        if (!cJSON_IsNumber(id))
                return; /* a notification */
        if (id->valueint == 0) {
                if (error) {
                        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
                        (void) snprintf(what, sizeof(what), "initialize refused: %.60s",
                                        cJSON_IsString(msg) ? msg->valuestring : "?");
                        normalise(what);
                        count_kind(st, what);
                }
                return;
        }
        if (id->valueint < 1 || (unsigned) id->valueint > o->n_calls)
                return;
        lcall *call = &c->calls[id->valueint - 1];
        if (call->done || call->retry_at > 0)
                return;
        if (error) {
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
                const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
                const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
                const cJSON *reason = cJSON_GetObjectItemCaseSensitive(data, "reason");
                const cJSON *retry = cJSON_GetObjectItemCaseSensitive(data, "retry_after_ms");
                bool busy = cJSON_IsNumber(code) && code->valueint == -32001 && cJSON_IsString(reason) &&
                            strcmp(reason->valuestring, "busy") == 0;
                if (busy && call->retries < o->max_retries) {
                        double after = cJSON_IsNumber(retry) ? retry->valuedouble : 100;
                        call->retries++;
                        st->busy_retried++;
                        call->retry_at = now_ms() + (after < 1 ? 1 : after > 5000 ? 5000 : after);
                        return;
                }
                finish_call(c, call, st, lat, n_lat);
                if (busy) {
                        st->busy_final++;
                        count_kind(st, "busy refusal (retries exhausted)");
                        return;
                }
                st->errors++;
                (void) snprintf(what, sizeof(what), "rpc %d: %.80s",
                                cJSON_IsNumber(code) ? code->valueint : 0,
                                cJSON_IsString(msg) ? msg->valuestring : "?");
                normalise(what);
                count_kind(st, what);
                return;
        }
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(m, "result");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(sc, "stdout");
        finish_call(c, call, st, lat, n_lat);
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(result, "isError"))) {
                const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 0), "text");
                st->errors++;
                (void) snprintf(what, sizeof(what), "tool error: %.80s",
                                cJSON_IsString(text) ? text->valuestring : "?");
                normalise(what);
                count_kind(st, what);
                return;
        }
        char expected[80];
        (void) snprintf(expected, sizeof(expected), "%s\n", call->token);
        if (cJSON_IsString(out) && strcmp(out->valuestring, expected) == 0)
                st->ok++;
        else if (cJSON_IsString(out) && out->valuestring[0] == 0) {
                st->empty++;
                count_kind(st, "empty stdout");
        } else {
                st->wrong++;
                count_kind(st, "wrong stdout");
        }
}

static void close_conn(lconn *c) {
        if (c->fd >= 0)
                (void) close(c->fd);
        c->fd = -1;
        c->closed = true;
}

/* Reads what is there; -1 when brigd closed the connection. */
static int conn_read(const loadgen_opts *o, lconn *c, loadgen_stats *st, double *lat, size_t *n_lat) {
        for (;;) {
                if (c->in_cap - c->in_len < 65536) {
                        size_t cap = c->in_cap ? c->in_cap * 2 : 1 << 17;
                        char *b = realloc(c->in, cap);
                        if (!b)
                                return -1;
                        c->in = b;
                        c->in_cap = cap;
                }
                ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                if (n <= 0)
                        return -1;
                c->in_len += (size_t) n;
        }
        size_t start = 0;
        for (char *nl; (nl = memchr(c->in + start, '\n', c->in_len - start));) {
                size_t line = (size_t) (nl - (c->in + start));
                cJSON *m = cJSON_ParseWithLength(c->in + start, line);
                if (m)
                        handle_message(o, c, m, st, lat, n_lat);
                cJSON_Delete(m);
                start += line + 1;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        return 0;
}

int loadgen_run(const loadgen_opts *o, pid_t pid, loadgen_stats *st) {
        size_t total = (size_t) o->n_conns * o->n_calls, n_lat = 0;
        lconn *conns = calloc(o->n_conns, sizeof(*conns));
        struct pollfd *pfd = calloc(o->n_conns, sizeof(*pfd));
        double *lat = calloc(total + 1, sizeof(double));
        double start = now_ms(), last_sample = 0;
        unsigned *idx = calloc(o->n_conns, sizeof(unsigned));
        size_t open_conns = o->n_conns;

        *st = (loadgen_stats){.expected = total};
        if (!conns || !pfd || !lat || !idx) {
                free(conns);
                free(pfd);
                free(lat);
                free(idx);
                return -1;
        }
        for (unsigned i = 0; i < o->n_conns; i++) {
                conns[i].fd = -1;
                conns[i].pending = o->n_calls;
                conns[i].calls = calloc(o->n_calls ? o->n_calls : 1, sizeof(lcall));
                if (!conns[i].calls)
                        return -1;
                for (unsigned j = 0; j < o->n_calls; j++)
                        (void) snprintf(conns[i].calls[j].token, sizeof(conns[i].calls[j].token),
                                        "tok%u-%u-%u-%08x", (unsigned) getpid(), i, j,
                                        (unsigned) (rand() & 0x7fffffff));
        }
        while (open_conns > 0) {
                double now = now_ms(), next_retry = now + 100;
                nfds_t n = 0;

                if (now - start > o->deadline_ms)
                        break;
                if (pid > 0 && now - last_sample >= 100) {
                        long rss = loadgen_rss_kb(pid);
                        if (rss > st->rss_peak_kb)
                                st->rss_peak_kb = rss;
                        last_sample = now;
                }
                for (unsigned i = 0; i < o->n_conns; i++) {
                        lconn *c = &conns[i];
                        if (c->closed)
                                continue;
                        if (!c->connected) {
                                int r = start_conn(o, c, i);
                                if (r < 0) {
                                        st->conn_failed++;
                                        count_kind(st, "could not connect");
                                        close_conn(c);
                                        open_conns--;
                                        continue;
                                }
                                if (r > 0)
                                        continue;
                        }
                        for (unsigned j = 0; j < o->n_calls; j++) {
                                lcall *call = &c->calls[j];
                                if (call->done || call->retry_at <= 0)
                                        continue;
                                if (call->retry_at <= now)
                                        (void) send_call(c, j);
                                else if (call->retry_at < next_retry)
                                        next_retry = call->retry_at;
                        }
                        pfd[n] = (struct pollfd){
                                .fd = c->fd,
                                .events = (short) (POLLIN | (c->out_off < c->out_len ? POLLOUT : 0))};
                        idx[n++] = i;
                }
                int timeout = (int) (next_retry - now) + 1;
                if (poll(pfd, n, timeout < 1 ? 1 : timeout) < 0 && errno != EINTR)
                        break;
                for (nfds_t k = 0; k < n; k++) {
                        lconn *c = &conns[idx[k]];
                        if (pfd[k].revents & POLLOUT) {
                                ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                                if (w > 0)
                                        c->out_off += (size_t) w;
                                if (c->out_off == c->out_len)
                                        c->out_off = c->out_len = 0;
                        }
                        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                                if (conn_read(o, c, st, lat, &n_lat) < 0) {
                                        if (c->pending) {
                                                char what[96];
                                                st->conn_failed++;
                                                (void) snprintf(what, sizeof(what),
                                                                "connection closed by brigd with calls "
                                                                "unanswered");
                                                count_kind(st, what);
                                        }
                                        close_conn(c);
                                        open_conns--;
                                        continue;
                                }
                        }
                        if (c->pending == 0) {
                                close_conn(c);
                                open_conns--;
                        }
                }
        }
        st->elapsed_ms = now_ms() - start;
        /* Unanswered at the deadline, or on a connection brigd closed: lost either way. */
        st->hung = total - st->received;
        for (unsigned i = 0; i < o->n_conns; i++) {
                close_conn(&conns[i]);
                free(conns[i].out);
                free(conns[i].in);
                free(conns[i].calls);
        }
        if (n_lat) {
                qsort(lat, n_lat, sizeof(double), cmp_double);
                st->p50_ms = lat[(size_t) (0.5 * (double) (n_lat - 1) + 0.5)];
                st->p99_ms = lat[(size_t) (0.99 * (double) (n_lat - 1) + 0.5)];
        }
        free(conns);
        free(pfd);
        free(lat);
        free(idx);
        return 0;
}

void loadgen_print(const char *title, const loadgen_stats *st) {
        printf("%s\n", title);
        printf("  responses expected %zu, received %zu, unanswered (lost or hung) %zu, in %.1f s\n",
               st->expected, st->received, st->hung, st->elapsed_ms / 1e3);
        printf("  correct %zu, wrong %zu, empty %zu, errors %zu, busy refusals retried %zu, busy final %zu, "
               "connections failed %zu\n",
               st->ok, st->wrong, st->empty, st->errors, st->busy_retried, st->busy_final, st->conn_failed);
        printf("  latency p50 %.1f ms, p99 %.1f ms\n", st->p50_ms, st->p99_ms);
        for (size_t i = 0; i < st->n_kinds; i++)
                printf("    %6zu  %s\n", st->kinds[i].n, st->kinds[i].what);
        if (st->other_kinds)
                printf("    %6zu  (other kinds)\n", st->other_kinds);
}

long loadgen_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        (void) fclose(f);
        return kb;
}

static int count_entries(const char *path, bool dirs_only) {
        DIR *d = opendir(path);
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' && (!dirs_only || de->d_type == DT_DIR))
                        n++;
        (void) closedir(d);
        return n;
}

int loadgen_fds(pid_t pid) {
        char path[64];
        (void) snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        return count_entries(path, false);
}

static pid_t ppid_of(const char *pid) {
        char path[64], buf[512];
        (void) snprintf(path, sizeof(path), "/proc/%s/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        int ppid = -1;
        if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1)
                return -1;
        return ppid;
}

int loadgen_descendants(pid_t pid) {
        return loadgen_descendant_pids(pid, NULL, 0);
}

int loadgen_descendant_pids(pid_t pid, pid_t *out, size_t max) {
        /* Few enough processes on a test host to walk each one's ancestry. */
        DIR *d = opendir("/proc");
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                pid_t p = ppid_of(de->d_name);
                for (int depth = 0; p > 1 && depth < 64; depth++) {
                        if (p == pid) {
                                if (out && (size_t) n < max)
                                        out[n] = (pid_t) atoi(de->d_name);
                                n++;
                                break;
                        }
                        char s[16];
                        (void) snprintf(s, sizeof(s), "%d", (int) p);
                        p = ppid_of(s);
                }
        }
        (void) closedir(d);
        return n;
}

int loadgen_env_dirs(const char *state_dir) {
        char path[1024];
        (void) snprintf(path, sizeof(path), "%s/environments", state_dir);
        return count_entries(path, false);
}

/* Directories in every brig* directory directly below base. */
static int count_brig_cgroups(const char *base) {
        DIR *d = opendir(base);
        int n = 0;
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_type == DT_DIR && strncmp(de->d_name, "brig", 4) == 0) {
                        char sub[1400];
                        (void) snprintf(sub, sizeof(sub), "%s/%s", base, de->d_name);
                        int k = count_entries(sub, true);
                        if (k > 0)
                                n += k;
                }
        (void) closedir(d);
        return n;
}

/* brig's cgroups below pid's own: the unified hierarchy (v2), or v1's memory controller. */
int loadgen_cgroups(pid_t pid) {
        char path[512], line[512], base[1100];
        int n = 0;
        (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                char *own = strchr(line, ':') ? strchr(strchr(line, ':') + 1, ':') : NULL;
                if (!own)
                        continue;
                *own++ = 0;
                own[strcspn(own, "\n")] = 0;
                const char *ctrl = strchr(line, ':') + 1;
                if (ctrl[0] == 0)
                        (void) snprintf(base, sizeof(base), "/sys/fs/cgroup%s",
                                        strcmp(own, "/") == 0 ? "" : own);
                else if (strcmp(ctrl, "memory") == 0)
                        (void) snprintf(base, sizeof(base), "/sys/fs/cgroup/memory%s",
                                        strcmp(own, "/") == 0 ? "" : own);
                else
                        continue;
                n += count_brig_cgroups(base);
        }
        (void) fclose(f);
        return n;
}
