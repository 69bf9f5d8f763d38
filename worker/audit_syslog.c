/* SPDX-License-Identifier: MIT */
/* `brigd --audit-syslog SOCKET`: each audit record, once in the log, also goes to syslog (journald or
 * rsyslog on /dev/log) as one datagram, facility authpriv, severity info, tag "brigd-audit", the record's
 * JSON as the message: a copy of the trail on a system the agent cannot touch. syslog(3) may block when
 * the daemon's queue is full, and the loop must not: this sends on a non-blocking socket of its own. A
 * record the socket cannot take at once is dropped and counted (the log has it; it is the record, and
 * still fails closed), and the drops are logged once per streak. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "worker/worker.h"

#define TAG "brigd-audit"

static int syslog_connect(const char *path, brig_error *err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;

        if (strlen(path) >= sizeof(sa.sun_path))
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                      "--audit-syslog: socket path too long");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "--audit-syslog: socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "--audit-syslog: connect to '%s'",
                                            path);
        return TAKE_FD(fd);
}

int brig__audit_syslog_open(brig_worker *w, const char *path, brig_error *err) {
        int fd;

        w->syslog_fd = -1;
        if (!path)
                return 0;
        if ((fd = syslog_connect(path, err)) < 0)
                return fd;
        if (!(w->syslog_path = strdup(path))) {
                (void) close(fd);
                return brig_error_oom(err);
        }
        w->syslog_fd = fd;
        return 0;
}

void brig__audit_syslog_close(brig_worker *w) {
        brig_closep(&w->syslog_fd);
        free(w->syslog_path);
        w->syslog_path = NULL;
}

static int send_line(brig_worker *w, const char *head, const char *line, size_t len) {
        struct iovec iov[2] = {{.iov_base = (void *) head, .iov_len = strlen(head)},
                               {.iov_base = (void *) line, .iov_len = len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

        for (int attempt = 0;; attempt++) {
                if (sendmsg(w->syslog_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                        return 0;
                /* The syslog daemon restarted (its socket is new): connect again, once. */
                if ((errno != ECONNREFUSED && errno != ENOTCONN) || attempt > 0)
                        return -errno;
                brig_error err = BRIG_ERROR_INIT;
                int fd = syslog_connect(w->syslog_path, &err);
                if (fd < 0)
                        return fd;
                (void) close(w->syslog_fd);
                w->syslog_fd = fd;
        }
}

void brig__audit_syslog_send(brig_worker *w, const char *line, size_t len) {
        char head[96], stamp[32], stub[160];
        time_t now = time(NULL);
        struct tm tm;
        int r;

        if (w->syslog_fd < 0)
                return;
        (void) localtime_r(&now, &tm);
        (void) strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        (void) snprintf(head, sizeof(head), "<%d>%s " TAG "[%d]: ", LOG_AUTHPRIV | LOG_INFO, stamp,
                        getpid());
        r = send_line(w, head, line, len);
        if (r == -EMSGSIZE) {
                /* Larger than a datagram may be: say which record, and that the log has it. */
                cJSON *o = cJSON_ParseWithLength(line, len);
                const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
                (void) snprintf(stub, sizeof(stub),
                                "{\"seq\":%.0f,\"record_bytes\":%zu,\"too_large_for_syslog\":true}",
                                cJSON_IsNumber(seq) ? seq->valuedouble : -1.0, len);
                cJSON_Delete(o);
                r = send_line(w, head, stub, strlen(stub));
        }
        if (r < 0) {
                if (!w->syslog_dropped++)
                        (void) log_warning_errno(r,
                                                 "audit syslog: record not sent to %s: %m; counting "
                                                 "the ones dropped until it takes them again",
                                                 w->syslog_path);
                return;
        }
        if (w->syslog_dropped) {
                log_warning("audit syslog: %llu record(s) were not sent to %s; they are in the log",
                            (unsigned long long) w->syslog_dropped, w->syslog_path);
                w->syslog_dropped = 0;
        }
}
