/* SPDX-License-Identifier: MIT */
/* `brig audit`: `verify` checks an audit log's hash chain line by line, and its end against the checkpoint
 * brigd keeps beside it (common/audit_chain.h); `tail` is in cli/audit_tail.c. Both read the log as a
 * stream: memory is bounded by one record (BRIG_AUDIT_MAX_LINE_BYTES). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/audit_chain.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/paths.h"

#define HASH_MEMBER ",\"hash\":\""
/* `,"hash":"` + 64 hex digits + `"}` end every record. */
#define HASH_TAIL_LEN (sizeof(HASH_MEMBER) - 1 + 64 + 2)
#define READ_CHUNK 65536

void brig_cli_audit_help(void) {
        printf("Usage: brig audit verify [--checkpoint FILE] [--json] [LOG]\n"
               "       brig audit tail [-f] [--type TYPE] [--environment ID] [-n N] [LOG]\n"
               "\n"
               "brigd appends every event to a hash-chained JSONL audit log (docs/protocol.md, \"Audit\").\n"
               "LOG defaults to the log of a brigd started without --socket and --audit:\n"
               "STATEDIR/" BRIG_AUDIT_FILE_NAME " (STATEDIR: /var/lib/brig as root, else "
               "$XDG_STATE_HOME/brig\nor ~/.local/state/brig).\n"
               "\n"
               "`verify` reads the log line by line and checks each record's seq (one more than the line\n"
               "before), prev (the hash of the line before) and hash. It reports the first broken line:\n"
               "an edited record (hash mismatch), a deleted one (seq gap), an inserted or repeated one\n"
               "(seq not increasing, or prev not the line before's hash). It then compares the end with\n"
               "the checkpoint brigd writes beside the log (LOG" BRIG_AUDIT_CHECKPOINT_SUFFIX
               ", or --checkpoint FILE) on each\n"
               "clean stop and every few seconds while the log grows: a log that ends before the\n"
               "checkpoint's seq, or whose record at that seq has another hash, was cut off or rewritten.\n"
               "Without a checkpoint a cut-off end cannot be detected, and verify says so.\n"
               "--json prints the result as one JSON object. Exit status: 0 intact, 1 broken, 2 usage or\n"
               "I/O error.\n"
               "\n"
               "`tail` prints the last N records (default 10) that match the filters, one JSON object a\n"
               "line; --type keeps events of that type (call_start, refused, ...), --environment those\n"
               "whose \"environment\" is ID. -f then follows the log as brigd appends to it, and reopens\n"
               "it when it is replaced (rotated) or truncated.\n"
               "\n"
               "Live records without reading the file: the brig/audit.subscribe method (root and\n"
               "--admin-uid only; docs/protocol.md).\n");
}

char *brig_cli_audit_default_log(void) {
        _cleanup_free_ char *dir = NULL;
        brig_error err = BRIG_ERROR_INIT;
        char *s = NULL;

        if (brig_default_state_dir(&dir, &err) < 0 || asprintf(&s, "%s/" BRIG_AUDIT_FILE_NAME, dir) < 0) {
                fprintf(stderr, "brig audit: out of memory\n");
                return NULL;
        }
        return s;
}

void brig_cli_lines_done(brig_cli_lines *r) {
        free(r->buf);
        *r = (brig_cli_lines){.fd = -1};
}

int brig_cli_lines_next(brig_cli_lines *r, char **ret_line, size_t *ret_len) {
        for (;;) {
                char *nl = r->len > r->start ? memchr(r->buf + r->start, '\n', r->len - r->start) : NULL;
                if (nl) {
                        *nl = 0;
                        *ret_line = r->buf + r->start;
                        *ret_len = (size_t) (nl - (r->buf + r->start));
                        r->start = (size_t) (nl - r->buf) + 1;
                        return 1;
                }
                if (r->start) {
                        memmove(r->buf, r->buf + r->start, r->len - r->start);
                        r->len -= r->start;
                        r->start = 0;
                }
                /* The bound is checked before the buffer grows past it. */
                if (r->len > BRIG_AUDIT_MAX_LINE_BYTES)
                        return -EFBIG;
                if (r->cap - r->len < READ_CHUNK) {
                        size_t cap = r->cap ? r->cap * 2 : 2 * READ_CHUNK;
                        if (cap > BRIG_AUDIT_MAX_LINE_BYTES + 2 * READ_CHUNK)
                                cap = BRIG_AUDIT_MAX_LINE_BYTES + 2 * READ_CHUNK;
                        char *b = realloc(r->buf, cap);
                        if (!b)
                                return -ENOMEM;
                        r->buf = b;
                        r->cap = cap;
                }
                ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                r->len += (size_t) n;
        }
}

/* What can be wrong, in the order verify checks a line. The names are the --json "problem". */
typedef enum problem {
        PROBLEM_NONE,
        PROBLEM_LINE_TOO_LONG,
        PROBLEM_INCOMPLETE_LINE,
        PROBLEM_NOT_A_RECORD,
        PROBLEM_SEQ_GAP,
        PROBLEM_SEQ_NOT_INCREASING,
        PROBLEM_PREV_MISMATCH,
        PROBLEM_HASH_MISMATCH,
        PROBLEM_CUT_OFF,
        PROBLEM_CHECKPOINT_MISMATCH,
        _PROBLEM_MAX,
} problem;

static const char *const problem_names[_PROBLEM_MAX] = {
        [PROBLEM_NONE] = NULL,
        [PROBLEM_LINE_TOO_LONG] = "line_too_long",
        [PROBLEM_INCOMPLETE_LINE] = "incomplete_line",
        [PROBLEM_NOT_A_RECORD] = "not_a_record",
        [PROBLEM_SEQ_GAP] = "seq_gap",
        [PROBLEM_SEQ_NOT_INCREASING] = "seq_not_increasing",
        [PROBLEM_PREV_MISMATCH] = "prev_mismatch",
        [PROBLEM_HASH_MISMATCH] = "hash_mismatch",
        [PROBLEM_CUT_OFF] = "cut_off",
        [PROBLEM_CHECKPOINT_MISMATCH] = "checkpoint_mismatch",
};

typedef struct verify {
        uint64_t line;    /* lines read */
        uint64_t records; /* intact records */
        uint64_t next_seq;
        char prev[65];
        bool have_checkpoint, checkpoint_seen;
        brig_audit_mark checkpoint;
        problem problem;
        uint64_t bad_line;
        bool bad_seq_known;
        uint64_t bad_seq;
        char message[512];
} verify;

static problem broken(verify *v, problem p, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static problem broken(verify *v, problem p, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(v->message, sizeof(v->message), fmt, ap);
        va_end(ap);
        v->problem = p;
        return p;
}

/* Checks one whole line (NUL-terminated, without its newline) against the chain so far. */
static problem check_line(verify *v, char *line, size_t len) {
        char hash[65], computed[65];

        _cleanup_json_ cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *seq = brig_json_member(o, "seq"), *prev = brig_json_member(o, "prev"),
                    *h = brig_json_member(o, "hash");
        if (!cJSON_IsNumber(seq) || seq->valuedouble < 0 || !cJSON_IsString(prev) || !cJSON_IsString(h) ||
            !brig_audit_is_hash(h->valuestring) || len < HASH_TAIL_LEN ||
            memcmp(line + len - HASH_TAIL_LEN, HASH_MEMBER, sizeof(HASH_MEMBER) - 1) != 0 ||
            strcmp(line + len - 2, "\"}") != 0)
                return broken(v, PROBLEM_NOT_A_RECORD,
                              "not a brig audit record (JSON with seq, prev and a final hash member)");
        uint64_t s = (uint64_t) seq->valuedouble;
        v->bad_seq_known = true;
        v->bad_seq = s;
        if (s > v->next_seq)
                return broken(v, PROBLEM_SEQ_GAP,
                              "seq %llu where %llu was expected: %llu record(s) before it were deleted",
                              (unsigned long long) s, (unsigned long long) v->next_seq,
                              (unsigned long long) (s - v->next_seq));
        if (s < v->next_seq)
                return broken(v, PROBLEM_SEQ_NOT_INCREASING,
                              "seq %llu where %llu was expected: a record was inserted or repeated here",
                              (unsigned long long) s, (unsigned long long) v->next_seq);
        if (strcmp(prev->valuestring, v->prev) != 0)
                return broken(v, PROBLEM_PREV_MISMATCH,
                              v->line == 1 ? "prev is not the chain's start (64 zeros): the log does not "
                                             "begin with its first record"
                                           : "prev is not the hash of the line before: a record was "
                                             "replaced, inserted or deleted here");
        memcpy(hash, h->valuestring, sizeof(hash));
        /* The record as it was hashed: without its hash member. */
        memcpy(line + len - HASH_TAIL_LEN, "}", 2);
        int r = brig_audit_line_hash(v->prev, line, computed);
        if (r < 0)
                return broken(v, PROBLEM_HASH_MISMATCH, "cannot compute the hash: %s", strerror(-r));
        if (strcmp(computed, hash) != 0)
                return broken(v, PROBLEM_HASH_MISMATCH,
                              "hash mismatch: the record was edited after it was written");
        if (v->have_checkpoint && s == v->checkpoint.seq) {
                v->checkpoint_seen = true;
                if (strcmp(hash, v->checkpoint.hash) != 0)
                        return broken(
                                v, PROBLEM_CHECKPOINT_MISMATCH,
                                "the record at the checkpoint's seq %llu is not the one the checkpoint "
                                "names (hash %.12s...): the log was rewritten up to here",
                                (unsigned long long) s, v->checkpoint.hash);
        }
        memcpy(v->prev, hash, sizeof(v->prev));
        v->next_seq = s + 1;
        v->records++;
        return PROBLEM_NONE;
}

static int verify_stream(verify *v, int fd) {
        _cleanup_(brig_cli_lines_done) brig_cli_lines in = {.fd = fd};
        char *line;
        size_t len;
        int r;

        while ((r = brig_cli_lines_next(&in, &line, &len)) > 0) {
                v->line++;
                if (check_line(v, line, len) != PROBLEM_NONE) {
                        v->bad_line = v->line;
                        return 0;
                }
        }
        if (r == -EFBIG) {
                v->bad_line = v->line + 1;
                broken(v, PROBLEM_LINE_TOO_LONG, "longer than %d bytes without a newline",
                       BRIG_AUDIT_MAX_LINE_BYTES);
                return 0;
        }
        if (r < 0)
                return r;
        if (in.len > 0) {
                v->bad_line = v->line + 1;
                broken(v, PROBLEM_INCOMPLETE_LINE,
                       "the last line has no newline: a record was cut in the middle");
                return 0;
        }
        if (v->have_checkpoint && !v->checkpoint_seen) {
                v->bad_line = v->line;
                if (v->records)
                        broken(v, PROBLEM_CUT_OFF,
                               "the log ends at seq %llu, but its checkpoint (%s) records seq %llu: "
                               "%llu record(s) were cut off its end",
                               (unsigned long long) (v->next_seq - 1), v->checkpoint.ts,
                               (unsigned long long) v->checkpoint.seq,
                               (unsigned long long) (v->checkpoint.seq - (v->next_seq - 1)));
                else
                        broken(v, PROBLEM_CUT_OFF,
                               "the log is empty, but its checkpoint (%s) records seq %llu: it was cut off",
                               v->checkpoint.ts, (unsigned long long) v->checkpoint.seq);
        }
        return 0;
}

static void print_json(const verify *v, const char *log, const char *ckpt) {
        cJSON *o = cJSON_CreateObject(), *b;
        cJSON_AddStringToObject(o, "log", log);
        cJSON_AddBoolToObject(o, "intact", v->problem == PROBLEM_NONE);
        cJSON_AddNumberToObject(o, "records", (double) v->records);
        if (v->records) {
                cJSON_AddNumberToObject(o, "last_seq", (double) (v->next_seq - 1));
                cJSON_AddStringToObject(o, "last_hash", v->prev);
        }
        if (v->have_checkpoint) {
                cJSON *c = cJSON_AddObjectToObject(o, "checkpoint");
                cJSON_AddStringToObject(c, "file", ckpt);
                cJSON_AddNumberToObject(c, "seq", (double) v->checkpoint.seq);
                cJSON_AddStringToObject(c, "hash", v->checkpoint.hash);
                cJSON_AddStringToObject(c, "ts", v->checkpoint.ts);
        } else
                cJSON_AddNullToObject(o, "checkpoint");
        if (v->problem != PROBLEM_NONE && (b = cJSON_AddObjectToObject(o, "broken"))) {
                cJSON_AddNumberToObject(b, "line", (double) v->bad_line);
                if (v->bad_seq_known && v->problem != PROBLEM_CUT_OFF)
                        cJSON_AddNumberToObject(b, "seq", (double) v->bad_seq);
                cJSON_AddStringToObject(b, "problem", problem_names[v->problem]);
                cJSON_AddStringToObject(b, "message", v->message);
        } else
                cJSON_AddNullToObject(o, "broken");
        _cleanup_free_ char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!text) {
                fprintf(stderr, "brig audit verify: out of memory\n");
                return;
        }
        printf("%s\n", text);
}

static void print_text(const verify *v, const char *log, const char *ckpt) {
        if (v->problem == PROBLEM_CUT_OFF) {
                printf("%s: broken at its end (after line %llu): %s\n", log,
                       (unsigned long long) v->bad_line, v->message);
                return;
        }
        if (v->problem != PROBLEM_NONE) {
                printf("%s: broken at line %llu", log, (unsigned long long) v->bad_line);
                if (v->bad_seq_known)
                        printf(" (seq %llu)", (unsigned long long) v->bad_seq);
                printf(": %s\n", v->message);
                printf("%llu record(s) before it are intact.\n", (unsigned long long) v->records);
                return;
        }
        printf("%s: intact, %llu record(s)", log, (unsigned long long) v->records);
        if (v->records)
                printf(", last seq %llu", (unsigned long long) (v->next_seq - 1));
        if (v->have_checkpoint)
                printf("; its end matches the checkpoint %s (seq %llu, %s)\n", ckpt,
                       (unsigned long long) v->checkpoint.seq, v->checkpoint.ts);
        else
                printf("; no checkpoint at %s, so a cut-off end cannot be detected\n", ckpt);
}

static int audit_verify(int argc, char **argv) {
        _cleanup_free_ char *default_log = NULL, *default_ckpt = NULL;
        const char *log = NULL, *ckpt = NULL;
        bool json = false;
        brig_error err = BRIG_ERROR_INIT;
        verify v = {0};
        int r;

        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        brig_cli_audit_help();
                        return 0;
                } else if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc)
                        ckpt = argv[++i];
                else if (argv[i][0] != '-' && !log)
                        log = argv[i];
                else {
                        fprintf(stderr, "brig audit verify: unexpected '%s'\nTry 'brig audit --help'.\n",
                                argv[i]);
                        return 2;
                }
        }
        if (!log && !(log = default_log = brig_cli_audit_default_log()))
                return 2;
        if (!ckpt && !(ckpt = default_ckpt = brig_audit_checkpoint_path(log)))
                return 2;
        _cleanup_close_ int fd = open(log, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "brig audit verify: open '%s': %s\n", log, strerror(errno));
                return 2;
        }
        r = brig_audit_checkpoint_read(ckpt, &v.checkpoint, &err);
        /* The default checkpoint may be missing (a log from before checkpoints, or never stopped cleanly
         * nor running long enough); one named with --checkpoint must be there. */
        if (r < 0 && (r != -ENOENT || default_ckpt == NULL)) {
                fprintf(stderr, "brig audit verify: %s\n", err.msg);
                return 2;
        }
        v.have_checkpoint = r >= 0;
        memcpy(v.prev, BRIG_AUDIT_GENESIS, sizeof(v.prev));
        if ((r = verify_stream(&v, fd)) < 0) {
                fprintf(stderr, "brig audit verify: read '%s': %s\n", log, strerror(-r));
                return 2;
        }
        if (json)
                print_json(&v, log, ckpt);
        else
                print_text(&v, log, ckpt);
        return v.problem == PROBLEM_NONE ? 0 : 1;
}

int brig_cli_audit(int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                brig_cli_audit_help();
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "verify") == 0)
                return audit_verify(argc, argv);
        if (strcmp(argv[1], "tail") == 0)
                return brig_cli_audit_tail(argc, argv);
        fprintf(stderr, "brig audit: expected verify or tail\nTry 'brig audit --help'.\n");
        return 2;
}
