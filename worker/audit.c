/* SPDX-License-Identifier: MIT */
/* Append-only, hash-chained JSONL audit log. Each line is
 *   {"version":1,"seq":N,"ts":"RFC3339","type":...,<event fields>,"prev":"<hex>","hash":"<hex>"}
 * where hash = SHA-256(prev + "\n" + the line up to, not including, ',"hash"' followed by '}'). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/json_print.h"
#include "common/text.h"
#include "worker/audit.h"

#define TAIL_BYTES 65536
#define TAIL_MAX_BYTES BRIG_AUDIT_MAX_LINE_BYTES

struct brig_audit {
        int fd;
        uint64_t seq;
        char prev[65];
        off_t end;        /* where the last whole record ends: a failed append is cut back to here */
        char *checkpoint; /* its checkpoint file (common/audit_chain.h) */
        brig_audit_sink_fn sink;
        void *sink_data;
};

void brig_audit_free(brig_audit *a) {
        if (!a)
                return;
        brig_closep(&a->fd);
        free(a->checkpoint);
        free(a);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_audit *, brig_audit_free);

/* Picks up seq and hash from the last complete line, so a restarted worker extends the same chain. The
 * window grows until it holds that whole line: one event can be large (many elided arguments). */
static int resume_chain(brig_audit *a, brig_error *err) {
        struct stat st;

        if (fstat(a->fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "stat audit log");
        a->end = st.st_size;
        for (size_t win = TAIL_BYTES;; win *= 2) {
                _cleanup_free_ char *tail = NULL;
                off_t off = st.st_size > (off_t) win ? st.st_size - (off_t) win : 0;
                size_t len = (size_t) (st.st_size - off);

                if (st.st_size == 0)
                        return 0;
                tail = malloc(len + 1);
                if (!tail)
                        return brig_error_oom(err);
                ssize_t n = pread(a->fd, tail, len, off);
                if (n < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read audit log");
                tail[n] = 0;
                while (n > 0 && tail[n - 1] == '\n')
                        tail[--n] = 0;
                char *last = strrchr(tail, '\n');
                if (!last && off > 0) {
                        if (win >= TAIL_MAX_BYTES)
                                return brig_error_set(err, -EFBIG, BRIG_KIND_IO,
                                                      "audit log: last line longer than %d bytes",
                                                      TAIL_MAX_BYTES);
                        continue;
                }
                last = last ? last + 1 : tail;
                _cleanup_json_ cJSON *o = cJSON_Parse(last);
                const cJSON *hash = brig_json_member(o, "hash"), *seq = brig_json_member(o, "seq");
                if (!cJSON_IsString(hash) || strlen(hash->valuestring) != 64 || !cJSON_IsNumber(seq))
                        return brig_error_set(
                                err, -EBADMSG, BRIG_KIND_IO,
                                "audit log: last line is not a brig audit event; refusing to extend "
                                "it");
                memcpy(a->prev, hash->valuestring, 65);
                a->seq = (uint64_t) seq->valuedouble + 1;
                return 0;
        }
}

/* A log that ends before its checkpoint lost its tail (or was replaced): extending it would bury that under
 * new records and a new checkpoint, so brigd refuses to, as it refuses to write unaudited. Only the last
 * record is compared: the whole chain is `brig audit verify`'s to check. */
static int check_checkpoint(const brig_audit *a, const char *path, brig_error *err) {
        brig_audit_mark m;
        int r = brig_audit_checkpoint_read(a->checkpoint, &m, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (a->seq == 0 || m.seq > a->seq - 1)
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                      "audit log '%s' ends before seq %llu, which its checkpoint '%s' "
                                      "records: its end was cut off; check it with `brig audit verify`, "
                                      "and move the log and its checkpoint aside to start a new one",
                                      path, (unsigned long long) m.seq, a->checkpoint);
        if (m.seq == a->seq - 1 && strcmp(m.hash, a->prev) != 0)
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                      "audit log '%s': its last record (seq %llu) is not the one its "
                                      "checkpoint '%s' records; check it with `brig audit verify`",
                                      path, (unsigned long long) m.seq, a->checkpoint);
        return 0;
}

int brig_audit_open(const char *path, brig_audit **ret, brig_error *err) {
        _cleanup_(brig_audit_freep) brig_audit *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return brig_error_oom(err);
        memcpy(a->prev, BRIG_AUDIT_GENESIS, sizeof(a->prev));
        a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (a->fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open audit log '%s'", path);
        if ((r = resume_chain(a, err)) < 0)
                return r;
        if (!(a->checkpoint = brig_audit_checkpoint_path(path)))
                return brig_error_oom(err);
        if ((r = check_checkpoint(a, path, err)) < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

cJSON *brig_audit_event(const char *type) {
        cJSON *o = cJSON_CreateObject();
        if (o && !cJSON_AddStringToObject(o, "type", type)) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

static cJSON *elide(const cJSON *v, size_t max, int depth) {
        if (depth > 32)
                return cJSON_CreateString("<elided: nested too deep>");
        if (cJSON_IsString(v)) {
                size_t len = strlen(v->valuestring);
                if (len <= max)
                        return cJSON_CreateString(v->valuestring);
                _cleanup_free_ char *s = NULL;
                /* Cut on a character boundary so the log stays valid UTF-8. */
                size_t cut = max;
                while (cut > 0 && ((unsigned char) v->valuestring[cut] & 0xc0) == 0x80)
                        cut--;
                if (asprintf(&s, "%.*s...<elided, %zu bytes>", (int) cut, v->valuestring, len) < 0)
                        return NULL;
                return cJSON_CreateString(s);
        }
        if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
                cJSON *c = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
                const cJSON *it;
                cJSON_ArrayForEach (it, v) {
                        cJSON *e = elide(it, max, depth + 1);
                        if (!c || !e) {
                                cJSON_Delete(c);
                                cJSON_Delete(e);
                                return NULL;
                        }
                        if (cJSON_IsArray(v))
                                cJSON_AddItemToArray(c, e);
                        else
                                cJSON_AddItemToObject(c, it->string, e);
                }
                return c;
        }
        return cJSON_Duplicate(v, true);
}

cJSON *brig_audit_elide(const cJSON *arguments, size_t max_string) {
        return arguments ? elide(arguments, max_string, 0) : cJSON_CreateNull();
}

cJSON *brig_audit_elide_content(const cJSON *arguments, size_t max_string, const char *const *content) {
        cJSON *c = brig_audit_elide(arguments, max_string);

        for (size_t i = 0; c && cJSON_IsObject(arguments) && content && content[i]; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(arguments, content[i]);
                char s[64];
                if (!cJSON_IsString(v))
                        continue;
                (void) snprintf(s, sizeof(s), "<elided, %zu bytes>", strlen(v->valuestring));
                cJSON *n = cJSON_CreateString(s);
                if (!n || !cJSON_ReplaceItemInObjectCaseSensitive(c, content[i], n)) {
                        cJSON_Delete(n);
                        cJSON_Delete(c);
                        return NULL;
                }
        }
        return c;
}

/* s with every byte that is not part of valid UTF-8 (a NUL included) replaced by U+FFFD; NULL on ENOMEM. */
static char *utf8_scrubbed(const char *s) {
        size_t len = strlen(s), i = 0;
        brig_buf out = {0};

        while (i < len) {
                size_t good = brig_utf8_valid_prefix(s + i, len - i);
                if (brig_buf_append(&out, s + i, good) < 0 ||
                    (i + good < len && brig_buf_append(&out, "\xef\xbf\xbd", 3) < 0)) {
                        brig_buf_done(&out);
                        return NULL;
                }
                i += good + (i + good < len);
        }
        /* brig_buf keeps its data NUL-terminated. */
        return out.data ? out.data : strdup("");
}

/* The log must stay valid UTF-8 JSON whatever an event carries (a host name from a jail, a file name):
 * strings and keys that are not UTF-8 are written with U+FFFD in place of each bad byte. */
static int scrub(cJSON *item, int depth) {
        if (depth > 64)
                return 0;
        for (cJSON *it = item; it; it = it->next) {
                if (it->string && !brig_utf8_valid(it->string, strlen(it->string))) {
                        char *k = utf8_scrubbed(it->string);
                        if (!k)
                                return -ENOMEM;
                        if (!(it->type & cJSON_StringIsConst))
                                cJSON_free(it->string);
                        it->string = k;
                        it->type &= ~cJSON_StringIsConst;
                }
                if (cJSON_IsString(it) && !brig_utf8_valid(it->valuestring, strlen(it->valuestring))) {
                        char *v = utf8_scrubbed(it->valuestring);
                        if (!v)
                                return -ENOMEM;
                        cJSON_free(it->valuestring);
                        it->valuestring = v;
                }
                if (it->child && scrub(it->child, depth + 1) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* A record is appended whole or not at all: part of one left behind (a full disk cuts a write short)
 * would glue the next record onto it, and the chain could no longer be verified line by line. */
static int append_whole(brig_audit *a, const char *line, size_t len, brig_error *err) {
        struct stat st;
        size_t done = 0;
        int r = 0;

        /* A cut that failed last time left a partial record: remove it before anything follows it. */
        if (fstat(a->fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "write audit log: stat");
        if (st.st_size != a->end) {
                if (st.st_size < a->end)
                        return brig_error_set(
                                err, -EIO, BRIG_KIND_IO,
                                "write audit log: the file shrank under us (%lld < %lld bytes)",
                                (long long) st.st_size, (long long) a->end);
                if (ftruncate(a->fd, a->end) < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO,
                                                    "write audit log: remove a partial record");
        }
        while (done < len) {
                ssize_t w = write(a->fd, line + done, len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        /* The retry after a short write says why it was short (ENOSPC, EFBIG, EDQUOT). */
                        r = w < 0 ? -errno : -EIO;
                        break;
                }
                done += (size_t) w;
        }
        if (r == 0) {
                a->end += (off_t) len;
                return 0;
        }
        /* Should this cut fail too, the next append makes it again before it writes. */
        if (done > 0)
                (void) !ftruncate(a->fd, a->end);
        return brig_error_set_errno(err, r, BRIG_KIND_IO,
                                    "write audit log (record of %zu bytes not written)", len);
}

/* Now as RFC 3339 in UTC with microseconds. */
static void format_now(char ts[static 40]) {
        struct timespec now;
        struct tm tm;

        (void) clock_gettime(CLOCK_REALTIME, &now);
        (void) gmtime_r(&now.tv_sec, &tm);
        size_t n = strftime(ts, 40, "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(ts + n, 40 - n, ".%06ldZ", now.tv_nsec / 1000);
}

void brig_audit_set_sink(brig_audit *a, brig_audit_sink_fn sink, void *userdata) {
        a->sink = sink;
        a->sink_data = userdata;
}

uint64_t brig_audit_next_seq(const brig_audit *a) {
        return a->seq;
}

const char *brig_audit_checkpoint_file(const brig_audit *a) {
        return a->checkpoint;
}

bool brig_audit_mark_now(const brig_audit *a, brig_audit_mark *ret) {
        if (a->seq == 0)
                return false;
        *ret = (brig_audit_mark){.seq = a->seq - 1};
        memcpy(ret->hash, a->prev, sizeof(ret->hash));
        format_now(ret->ts);
        return true;
}

int brig_audit_sync(brig_audit *a, brig_error *err) {
        if (fdatasync(a->fd) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fdatasync audit log");
        return 0;
}

/* The record's body: {"version":…,"seq":…,"ts":…, the event's members, "prev":…} as one line (fixed members
 * first, in a fixed order, so lines are easy to read and to verify), printed as cJSON prints it. */
static int print_body(const brig_audit *a, const cJSON *ev, brig_buf *out) {
        char ts[40], num[BRIG_JSON_NUMBER_SIZE];
        cJSON n = {.type = cJSON_Number};
        int r;

        format_now(ts);
        if (brig_buf_append(out, "{\"version\":", 11) < 0)
                return -ENOMEM;
        n.valuedouble = BRIG_AUDIT_VERSION;
        if ((r = brig_json_print_number(&n, num)) < 0 || brig_buf_append(out, num, (size_t) r) < 0 ||
            brig_buf_append(out, ",\"seq\":", 7) < 0)
                return -ENOMEM;
        n.valuedouble = (double) a->seq;
        if ((r = brig_json_print_number(&n, num)) < 0 || brig_buf_append(out, num, (size_t) r) < 0 ||
            brig_buf_append(out, ",\"ts\":", 6) < 0 || brig_json_print_string(out, ts, strlen(ts)) < 0)
                return -ENOMEM;
        for (const cJSON *it = ev->child; it; it = it->next)
                if (brig_buf_append(out, ",", 1) < 0 ||
                    brig_json_print_string(out, it->string, it->string ? strlen(it->string) : 0) < 0 ||
                    brig_buf_append(out, ":", 1) < 0 || (r = brig_json_print_append(it, out)) < 0)
                        return r < 0 ? r : -ENOMEM;
        if (brig_buf_append(out, ",\"prev\":", 8) < 0 || brig_json_print_string(out, a->prev, 64) < 0 ||
            brig_buf_append(out, "}", 1) < 0)
                return -ENOMEM;
        return 0;
}

int brig_audit_emit(brig_audit *a, cJSON *event, brig_error *err) {
        _cleanup_json_ cJSON *ev = event;
        _cleanup_(brig_buf_done) brig_buf line = {0};
        char hash[65];
        int r;

        /* An event without its type lost its members to an allocation failure (worker/audit_events.c). */
        if (!ev || !cJSON_GetObjectItemCaseSensitive(ev, "type"))
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "audit event: out of memory");
        if (scrub(ev->child, 0) < 0 || (r = print_body(a, ev, &line)) == -ENOMEM)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "audit event: out of memory");
        if (r < 0)
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "audit event: cannot be printed");
        if ((r = brig_audit_line_hash(a->prev, line.data, hash)) < 0)
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "audit event: hash");
        /* The hash goes in as the last member: the line up to it is what was hashed. */
        line.len--;
        if (brig_buf_append(&line, ",\"hash\":\"", 9) < 0 || brig_buf_append(&line, hash, 64) < 0 ||
            brig_buf_append(&line, "\"}\n", 3) < 0)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "audit event: out of memory");
        if ((r = append_whole(a, line.data, line.len, err)) < 0)
                return r;
        memcpy(a->prev, hash, sizeof(a->prev));
        a->seq++;
        /* After the chain moved on: the sink may record events of its own (a subscriber it drops). */
        if (a->sink)
                a->sink(line.data, line.len - 1, a->sink_data);
        return 0;
}
