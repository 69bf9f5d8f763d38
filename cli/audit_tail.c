/* SPDX-License-Identifier: MIT */
/* `brig audit tail`: the last records of an audit log that match the filters, then (-f) each new one as
 * brigd appends it. Following polls: the log grows a few records a second at most in the usual case, and
 * polling needs no inotify watch (which a log on some file systems would not get) to notice a rotation. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/audit_chain.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/parse.h"

#define TAIL_MAX_N 100000
#define FOLLOW_POLL_US 200000

typedef struct tail {
        const char *type, *environment;
        size_t n;
        char **ring; /* the last n matching lines before following */
        size_t ring_used, ring_next;
} tail;

static bool matches(const tail *t, const char *line, size_t len) {
        if (!t->type && !t->environment)
                return true;
        _cleanup_json_ cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *type = brig_json_member(o, "type"), *env = brig_json_member(o, "environment");
        if (t->type && !(cJSON_IsString(type) && strcmp(type->valuestring, t->type) == 0))
                return false;
        return !t->environment || (cJSON_IsString(env) && strcmp(env->valuestring, t->environment) == 0);
}

static int keep(tail *t, const char *line) {
        char *copy;
        if (!t->n)
                return 0;
        if (!(copy = strdup(line)))
                return -ENOMEM;
        free(t->ring[t->ring_next]);
        t->ring[t->ring_next] = copy;
        t->ring_next = (t->ring_next + 1) % t->n;
        if (t->ring_used < t->n)
                t->ring_used++;
        return 0;
}

static void print_kept(tail *t) {
        size_t first = (t->ring_next + t->n - t->ring_used) % (t->n ? t->n : 1);
        for (size_t i = 0; i < t->ring_used; i++) {
                char **s = &t->ring[(first + i) % t->n];
                printf("%s\n", *s);
                free(*s);
                *s = NULL;
        }
        t->ring_used = 0;
}

/* Whether path now names another file than fd (rotated or recreated), or none. */
static bool replaced(int fd, const char *path) {
        struct stat a, b;
        return fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static int follow(tail *t, const char *path, brig_cli_lines *in) {
        char *line;
        size_t len;
        int r;

        for (;;) {
                while ((r = brig_cli_lines_next(in, &line, &len)) > 0)
                        if (matches(t, line, len))
                                printf("%s\n", line);
                if (r < 0)
                        return r;
                if (fflush(stdout) != 0)
                        return -errno;
                (void) usleep(FOLLOW_POLL_US);
                struct stat st;
                off_t pos = lseek(in->fd, 0, SEEK_CUR);
                if (replaced(in->fd, path)) {
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue; /* between the rename and brigd's new file: wait for it */
                        /* What the old file got before it was replaced was read above. */
                        fprintf(stderr, "brig audit tail: %s was replaced; following the new file\n", path);
                        (void) close(in->fd);
                        brig_cli_lines_done(in);
                        in->fd = fd;
                } else if (fstat(in->fd, &st) == 0 && pos >= 0 && st.st_size < pos) {
                        fprintf(stderr, "brig audit tail: %s was truncated; reading it from the start\n",
                                path);
                        int fd = in->fd;
                        in->fd = -1;
                        brig_cli_lines_done(in);
                        in->fd = fd;
                        (void) lseek(fd, 0, SEEK_SET);
                }
        }
}

int brig_cli_audit_tail(int argc, char **argv) {
        _cleanup_free_ char *default_log = NULL;
        const char *log = NULL;
        bool f = false;
        tail t = {.n = 10};
        int r;

        for (int i = 2; i < argc; i++) {
                uint64_t n;
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        brig_cli_audit_help();
                        return 0;
                } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
                        f = true;
                else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
                        t.type = argv[++i];
                else if (strcmp(argv[i], "--environment") == 0 && i + 1 < argc)
                        t.environment = argv[++i];
                else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
                        if (brig_parse_u64(argv[++i], &n) < 0 || n > TAIL_MAX_N) {
                                fprintf(stderr, "brig audit tail: -n: expected 0 to %d, got '%s'\n",
                                        TAIL_MAX_N, argv[i]);
                                return 2;
                        }
                        t.n = (size_t) n;
                } else if (argv[i][0] != '-' && !log)
                        log = argv[i];
                else {
                        fprintf(stderr, "brig audit tail: unexpected '%s'\nTry 'brig audit --help'.\n",
                                argv[i]);
                        return 2;
                }
        }
        if (!log && !(log = default_log = brig_cli_audit_default_log()))
                return 2;
        int fd = open(log, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "brig audit tail: open '%s': %s\n", log, strerror(errno));
                return 2;
        }
        _cleanup_(brig_cli_lines_done) brig_cli_lines in = {.fd = fd};
        _cleanup_free_ char **ring = t.n ? calloc(t.n, sizeof(char *)) : NULL;
        char *line;
        size_t len;
        if (t.n && !ring) {
                fprintf(stderr, "brig audit tail: out of memory\n");
                return 2;
        }
        t.ring = ring;
        while ((r = brig_cli_lines_next(&in, &line, &len)) > 0)
                if (matches(&t, line, len) && (r = keep(&t, line)) < 0)
                        break;
        print_kept(&t);
        if (r == 0 && f)
                r = follow(&t, log, &in);
        (void) close(in.fd);
        in.fd = -1;
        if (r < 0) {
                fprintf(stderr, "brig audit tail: %s: %s\n", log,
                        r == -EFBIG ? "a line longer than the record limit" : strerror(-r));
                return 2;
        }
        return 0;
}
