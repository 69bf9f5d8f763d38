/* SPDX-License-Identifier: MIT */
/* Jail control: framing of control messages, brigd's shared end of the control socket, the helper's
 * command line, the plan memfd, reaper names and status lines. The protocol is described in jailctl.h. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "sandbox/jailctl.h"
#include "sandbox/seccomp.h"

/* --- control messages ---------------------------------------------------------------------------- */

/* A message, data[0..len) after it (a RUN's inline plan), and its descriptors. */
static int send_data(int control, const brig_jailctl_msg *m, const void *data, size_t len, const int *fds,
                     size_t n_fds) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * BRIG_JAILCTL_MAX_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov[2] = {{.iov_base = (void *) m, .iov_len = sizeof(*m)},
                               {.iov_base = (void *) data, .iov_len = len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};

        if (n_fds > BRIG_JAILCTL_MAX_FDS)
                return -E2BIG;
        if (n_fds > 0) {
                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        for (;;) {
                ssize_t n = sendmsg(control, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                return n == (ssize_t) (sizeof(*m) + len) ? 0 : -EIO;
        }
}

int brig_jailctl_send(int control, const brig_jailctl_msg *m, const int *fds, size_t n_fds) {
        return send_data(control, m, NULL, 0, fds, n_fds);
}

/* A message and up to cap bytes of data after it (*ret_len of them; more is -EBADMSG). */
static int recv_data(int control, brig_jailctl_msg *m, void *data, size_t cap, size_t *ret_len, int *fds,
                     size_t *ret_n_fds) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * BRIG_JAILCTL_MAX_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov[2] = {{.iov_base = m, .iov_len = sizeof(*m)}, {.iov_base = data, .iov_len = cap}};
        struct msghdr mh = {.msg_iov = iov,
                            .msg_iovlen = cap > 0 ? 2 : 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        size_t n_fds = 0;
        ssize_t n;

        do
                n = recvmsg(control, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (n_fds < BRIG_JAILCTL_MAX_FDS)
                                        fds[n_fds++] = fd;
                                else
                                        (void) close(fd);
                        }
                }
        if (n < (ssize_t) sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                for (size_t i = 0; i < n_fds; i++)
                        (void) close(fds[i]);
                /* Cut short with room left in our buffer: the kernel could not install a descriptor for
                 * us (out of fds, which passes); a full buffer means more were sent than the protocol
                 * has (a broken peer). */
                if (n >= (ssize_t) sizeof(*m) && !(mh.msg_flags & MSG_TRUNC) && n_fds < BRIG_JAILCTL_MAX_FDS)
                        return -EMFILE;
                return -EBADMSG;
        }
        *ret_len = (size_t) n - sizeof(*m);
        *ret_n_fds = n_fds;
        return 1;
}

int brig_jailctl_recv(int control, brig_jailctl_msg *m, int *fds, size_t *ret_n_fds) {
        size_t len;
        return recv_data(control, m, NULL, 0, &len, fds, ret_n_fds);
}

int brig_jailctl_recv_run(int control, brig_jailctl_msg *m, char plan[BRIG_JAILCTL_PLAN_INLINE_MAX],
                          size_t *ret_plan_len, int fds[BRIG_JAILCTL_MAX_FDS], size_t *ret_n_fds) {
        int r = recv_data(control, m, plan, BRIG_JAILCTL_PLAN_INLINE_MAX, ret_plan_len, fds, ret_n_fds);

        if (r <= 0)
                return r;
        bool inline_plan = m->op == BRIG_JAILCTL_RUN && (m->flags & BRIG_JAILCTL_FLAG_PLAN);
        if (inline_plan != (*ret_plan_len > 0) || (inline_plan && *ret_n_fds >= BRIG_JAILCTL_MAX_FDS)) {
                for (size_t i = 0; i < *ret_n_fds; i++)
                        (void) close(fds[i]);
                return -EBADMSG;
        }
        if (inline_plan) {
                /* In the place of the memfd that did not come: fds keep one layout either way. */
                memmove(fds + 1, fds, *ret_n_fds * sizeof(int));
                fds[0] = -1;
                (*ret_n_fds)++;
        }
        return 1;
}

int brig_jailctl_forward_run(int control, const brig_jailctl_msg *m, const char *plan, size_t plan_len,
                             const int *fds, size_t n_fds) {
        bool inline_plan = n_fds > 0 && fds[0] < 0;
        return send_data(control, m, plan, inline_plan ? plan_len : 0, fds + inline_plan,
                         n_fds - inline_plan);
}

int brig_jailctl_send_listener(int control, int listener) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_LISTENER};
        return brig_jailctl_send(control, &m, &listener, 1);
}

int brig_jailctl_send_reconnect(int control) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_RECONNECT};
        return brig_jailctl_send(control, &m, NULL, 0);
}

int brig_jailctl_accept_first(int *control, int *ret_listener) {
        int listening = 0, fd;
        socklen_t len = sizeof(listening);

        *ret_listener = -1;
        if (getsockopt(*control, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
                return -errno;
        if (!listening)
                return 0;
        do
                fd = accept4(*control, NULL, NULL, SOCK_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        if (fd < 0)
                return -errno;
        *ret_listener = *control;
        *control = fd;
        return 0;
}

int brig_jailctl_send_proxy(int control, int listen_fd, int diag_fd) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_PROXY};
        int fds[2] = {listen_fd, diag_fd};
        return brig_jailctl_send(control, &m, fds, diag_fd >= 0 ? 2 : 1);
}

int brig_jailctl_send_seccomp(int control, int filter) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_SECCOMP};
        return brig_jailctl_send(control, &m, &filter, 1);
}

int brig_jailctl_recv_seccomp(int control, struct sock_fprog *ret, brig_error *err) {
        brig_jailctl_msg m;
        int fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0;
        int r = brig_jailctl_recv(control, &m, fds, &n);

        if (r == 0)
                r = brig_error_set(err, -ECANCELED, BRIG_KIND_IO, "no filter sent");
        else if (r < 0)
                r = brig_error_set(err, r, BRIG_KIND_IO, "receive the filter");
        else if (m.op != BRIG_JAILCTL_SECCOMP || n != 1)
                r = brig_error_set(err, -EBADMSG, BRIG_KIND_IO, "message %u instead of the filter", m.op);
        else
                r = brig_seccomp_read(fds[0], ret, err);
        for (size_t i = 0; i < n; i++)
                (void) close(fds[i]);
        return r < 0 ? r : 0;
}

int brig_jailctl_send_cgroups(int control, const int *fds, size_t n) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_CGROUPS};
        return brig_jailctl_send(control, &m, fds, n);
}

int brig_jailctl_recv_cgroups(int control, int fds[BRIG_JAILCTL_MAX_FDS], size_t *ret_n, brig_error *err) {
        brig_jailctl_msg m;
        size_t n = 0;
        int r = brig_jailctl_recv(control, &m, fds, &n);

        *ret_n = 0;
        if (r == 0)
                return brig_error_set(err, -ECANCELED, BRIG_KIND_IO, "no cgroups sent");
        if (r < 0)
                return brig_error_set(err, r, BRIG_KIND_IO, "receive the cgroups");
        if (m.op != BRIG_JAILCTL_CGROUPS || n == 0) {
                for (size_t i = 0; i < n; i++)
                        (void) close(fds[i]);
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO, "message %u instead of the cgroups",
                                      m.op);
        }
        *ret_n = n;
        return 0;
}

/* --- brigd's end -------------------------------------------------------------------------------- */

struct brig_jailctl {
        unsigned refs;
        int fd; /* -1 once hung up */
};

int brig_jailctl_new(int fd, brig_jailctl **ret) {
        brig_jailctl *c = malloc(sizeof(*c));

        if (!c) {
                (void) brig_close_nointr(fd);
                return -ENOMEM;
        }
        *c = (brig_jailctl){.refs = 1, .fd = fd};
        *ret = c;
        return 0;
}

brig_jailctl *brig_jailctl_ref(brig_jailctl *c) {
        assert(c && c->refs > 0);
        c->refs++;
        return c;
}

brig_jailctl *brig_jailctl_unref(brig_jailctl *c) {
        if (!c)
                return NULL;
        assert(c->refs > 0);
        if (--c->refs == 0) {
                brig_closep(&c->fd);
                free(c);
        }
        return NULL;
}

void brig_jailctl_unrefp(brig_jailctl **c) {
        *c = brig_jailctl_unref(*c);
}

void brig_jailctl_hangup(brig_jailctl *c) {
        if (c)
                brig_closep(&c->fd);
}

bool brig_jailctl_shared(const brig_jailctl *c) {
        return c && c->refs > 1;
}

bool brig_jailctl_is_open(const brig_jailctl *c) {
        return c && c->fd >= 0;
}

int brig_jailctl_run(brig_jailctl *c, uint64_t id, const char *plan_json, size_t plan_len, int plan_fd,
                     int out, int err, int status, int in) {
        bool inline_plan = plan_fd < 0;
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_RUN,
                              .id = id,
                              .flags = (in >= 0 ? BRIG_JAILCTL_FLAG_STDIN : 0) |
                                       (inline_plan ? BRIG_JAILCTL_FLAG_PLAN : 0)};
        int fds[BRIG_JAILCTL_MAX_FDS] = {plan_fd, out, err, status, in};

        if (!brig_jailctl_is_open(c))
                return -ESHUTDOWN;
        if (inline_plan && (plan_len == 0 || plan_len > BRIG_JAILCTL_PLAN_INLINE_MAX))
                return -EMSGSIZE;
        return brig_jailctl_forward_run(c->fd, &m, plan_json, plan_len, fds, in >= 0 ? 5 : 4);
}

int brig_jailctl_kill(brig_jailctl *c, uint64_t id, int sig) {
        brig_jailctl_msg m = {.op = BRIG_JAILCTL_KILL, .id = id, .signal = sig};

        if (!brig_jailctl_is_open(c))
                return -ESHUTDOWN;
        return brig_jailctl_send(c->fd, &m, NULL, 0);
}

int brig_jailctl_recv_from(brig_jailctl *c, brig_jailctl_msg *m, int *fds, size_t *ret_n_fds) {
        if (!brig_jailctl_is_open(c))
                return -ESHUTDOWN;
        return brig_jailctl_recv(c->fd, m, fds, ret_n_fds);
}

/* --- the helper's command line and plan ---------------------------------------------------------- */

void brig_jailctl_helper_argv(const char *helper, size_t n_cgroup_fds, bool cgroup_self, bool limits_gate,
                              char *argv[BRIG_JAILCTL_ARGV_MAX]) {
#define FD_NAME(n) [n] = #n
        static const char *const fd_names[] = {FD_NAME(3), FD_NAME(4), FD_NAME(5),  FD_NAME(6), FD_NAME(7),
                                               FD_NAME(8), FD_NAME(9), FD_NAME(10), FD_NAME(11)};
#undef FD_NAME
        _Static_assert(BRIG_JAILCTL_FD_CGROUP + BRIG_JAILCTL_MAX_CGROUP_FDS == BRIG_JAILCTL_FD_LIMITS &&
                               BRIG_JAILCTL_FD_LIMITS < ELEMENTSOF(fd_names),
                       "a name for every fd");
        size_t n = 0;

        argv[n++] = (char *) helper;
        argv[n++] = (char *) "--" BRIG_JAILCTL_OPT_PLAN;
        argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_PLAN];
        argv[n++] = (char *) "--" BRIG_JAILCTL_OPT_STATUS;
        argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_STATUS];
        argv[n++] = (char *) "--" BRIG_JAILCTL_OPT_SECCOMP;
        argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_SECCOMP];
        argv[n++] = (char *) "--" BRIG_JAILCTL_OPT_CONTROL;
        argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_CONTROL];
        for (size_t i = 0; i < n_cgroup_fds && i < BRIG_JAILCTL_MAX_CGROUP_FDS; i++) {
                argv[n++] = (char *) (cgroup_self ? "--" BRIG_JAILCTL_OPT_CGROUP_SELF
                                                  : "--" BRIG_JAILCTL_OPT_CGROUP);
                argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_CGROUP + i];
        }
        if (limits_gate) {
                argv[n++] = (char *) "--" BRIG_JAILCTL_OPT_LIMITS;
                argv[n++] = (char *) fd_names[BRIG_JAILCTL_FD_LIMITS];
        }
        argv[n] = NULL;
}

int brig_jailctl_plan_memfd(const brig_plan *plan, int *ret_fd, brig_error *err) {
        _cleanup_free_ char *json = brig_plan_to_json(plan);

        if (!json)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        return brig_jailctl_plan_memfd_json(json, strlen(json), ret_fd, err);
}

int brig_jailctl_plan_memfd_json(const char *json, size_t len, int *ret_fd, brig_error *err) {
        _cleanup_close_ int fd = memfd_create("brig-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "memfd for the plan");
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, json + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "write plan");
                off += (size_t) n;
        }
        /* The helper reads from the offset, the spawner with pread() from 0: both see the whole plan, and
         * nobody who holds the fd can change it under them. */
        if (lseek(fd, 0, SEEK_SET) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "seal plan");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int brig_jailctl_plan_read(int fd, brig_plan **ret, brig_error *err) {
        _cleanup_free_ char *text = NULL;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "read plan");
        if (st.st_size <= 0 || st.st_size > BRIG_JAILCTL_PLAN_MAX)
                return brig_error_set(err, -EFBIG, BRIG_KIND_INTERNAL, "read plan: %lld bytes",
                                      (long long) st.st_size);
        size_t len = (size_t) st.st_size;
        if (!(text = malloc(len + 1)))
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        for (size_t off = 0; off < len;) {
                ssize_t n = pread(fd, text + off, len - off, (off_t) off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "read plan");
                if (n == 0)
                        return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "read plan: cut short");
                off += (size_t) n;
        }
        text[len] = 0;
        return brig_plan_from_json(text, len, ret, err);
}

/* --- reapers ------------------------------------------------------------------------------------- */

#define REAPER_PREFIX "brig-r"

void brig_jailctl_reaper_name(uint64_t id, char buf[BRIG_JAILCTL_REAPER_NAME_MAX]) {
        (void) snprintf(buf, BRIG_JAILCTL_REAPER_NAME_MAX, REAPER_PREFIX "%" PRIx64, id);
}

int brig_jailctl_reaper_parse(const char *comm, uint64_t *ret_id) {
        size_t prefix = strlen(REAPER_PREFIX);
        uint64_t id;

        /* A 15-byte name may have been cut short: not ours to trust. */
        if (strncmp(comm, REAPER_PREFIX, prefix) != 0 || strlen(comm) >= BRIG_JAILCTL_REAPER_NAME_MAX - 1 ||
            sscanf(comm + prefix, "%" SCNx64, &id) != 1)
                return -EINVAL;
        *ret_id = id;
        return 0;
}

/* --- status lines -------------------------------------------------------------------------------- */

void brig_jail_report(int fd, const char *fmt, ...) {
        char line[BRIG_JAIL_STATUS_LINE_MAX];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(line) - 1)
                n = sizeof(line) - 2;
        /* Details come from policies and argv: keep the record on one line. */
        for (int i = 0; i < n; i++)
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        line[n++] = '\n';
        (void) !write(fd, line, (size_t) n);
}

void brig_jail_report_error(int fd, const char *stage, int r, const char *detail) {
        brig_jail_report(fd, "error %s %d %s", stage, r < 0 ? -r : r, detail ? detail : "");
}

void brig_jail_report_end(int fd, bool started, int wstatus) {
        char lines[64];
        int n = snprintf(lines, sizeof(lines), "%s%s %d\n", started ? "started\n" : "",
                         WIFEXITED(wstatus) ? "exit" : "signal",
                         WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));

        /* One write: both records reach the reader together (below PIPE_BUF, so whole). */
        (void) !write(fd, lines, (size_t) n);
}

void brig_jail_status_reader_space(brig_jail_status_reader *r, char **ret_buf, size_t *ret_len) {
        *ret_buf = r->line + r->len;
        *ret_len = sizeof(r->line) - r->len;
}

void brig_jail_status_reader_feed(brig_jail_status_reader *r, size_t n, brig_jail_status_cb cb,
                                  void *userdata) {
        char *nl;

        r->len += n;
        while ((nl = memchr(r->line, '\n', r->len))) {
                size_t used = (size_t) (nl - r->line) + 1;
                brig_jail_status st;
                if (!r->overlong && brig_jail_status_parse(r->line, used - 1, &st) == 0)
                        cb(&st, userdata);
                r->overlong = false;
                memmove(r->line, nl + 1, r->len - used);
                r->len -= used;
        }
        /* No line of ours is this long: drop it up to its newline. */
        if (r->len == sizeof(r->line)) {
                r->len = 0;
                r->overlong = true;
        }
}

static const struct {
        const char *name;
        brig_jail_outcome outcome;
} outcome_names[] = {
        {"error", BRIG_JAIL_ERROR},     {"started", BRIG_JAIL_STARTED}, {"exit", BRIG_JAIL_EXITED},
        {"signal", BRIG_JAIL_SIGNALED}, {"ready", BRIG_JAIL_READY},     {"holder", BRIG_JAIL_HOLDER},
        {"layer", BRIG_JAIL_LAYER},
};

int brig_jail_status_parse(const char *line, size_t len, brig_jail_status *ret) {
        char buf[512], *p, *word;
        brig_jail_status st = {.outcome = _BRIG_JAIL_OUTCOME_INVALID};

        if (len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, line, len);
        buf[len] = 0;
        word = strtok_r(buf, " ", &p);
        for (size_t i = 0; word && i < ELEMENTSOF(outcome_names); i++)
                if (strcmp(word, outcome_names[i].name) == 0)
                        st.outcome = outcome_names[i].outcome;
        if (st.outcome == _BRIG_JAIL_OUTCOME_INVALID)
                return -EINVAL;
        if (st.outcome == BRIG_JAIL_STARTED || st.outcome == BRIG_JAIL_READY) {
                *ret = st;
                return 0;
        }
        if (st.outcome == BRIG_JAIL_ERROR || st.outcome == BRIG_JAIL_LAYER) {
                word = strtok_r(NULL, " ", &p);
                if (!word)
                        return -EINVAL;
                (void) snprintf(st.stage, sizeof(st.stage), "%s", word);
        }
        word = strtok_r(NULL, " ", &p);
        if (!word)
                return -EINVAL;
        int v;
        int max = st.outcome == BRIG_JAIL_HOLDER ? INT32_MAX : 4096;
        if (brig_parse_int(word, &v) < 0 || v < 0 || v > max)
                return -EINVAL;
        st.value = v;
        if ((st.outcome == BRIG_JAIL_ERROR || st.outcome == BRIG_JAIL_LAYER) && p)
                (void) snprintf(st.detail, sizeof(st.detail), "%s", p);
        *ret = st;
        return 0;
}

int brig_jail_status_to_error(const brig_jail_status *st, brig_error *err) {
        int code = st->value > 0 ? -st->value : -EIO;

        if (strcmp(st->stage, "execve") == 0)
                return brig_error_set_errno(err, code,
                                            st->value == ENOENT ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO,
                                            "execve '%s'", st->detail);
        if (strcmp(st->stage, "cwd") == 0)
                return brig_error_set_errno(err, code, BRIG_KIND_INVALID_ARGUMENT, "cwd '%s'", st->detail);
        return brig_error_set_errno(err, code, BRIG_KIND_SANDBOX, "sandbox layer %s '%s'", st->stage,
                                    st->detail);
}
