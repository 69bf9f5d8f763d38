/* SPDX-License-Identifier: MIT */
/* An environment's control connection on demand: the listening socket its init keeps, brigd's connections
 * to it, and the idle check that hangs up so that an idle environment costs brigd no control socket.
 *
 * Theory of operation. Before starting an environment's helper, brigd binds a SOCK_SEQPACKET socket named
 * by a serial number in <state-dir>/control (0700: only brigd's uid reaches it; the jail's mount namespace
 * does not have it), listens, connects to it and hands the listening socket to the helper as its control
 * fd. The init accepts that first connection and keeps the listening socket (sandbox/jailctl.h). When its
 * seccomp filter lets it accept again it says RECONNECT before "ready", and from then on brigd hangs up
 * once no call asked for the environment for BRIG_CONTROL_IDLE_MS, none is in flight and no command holds
 * the connection (a running command, a background process: their KILLs go on it); the init then waits on
 * the listening socket. The next call connects again before it sends anything (a Unix connect() does not
 * wait for the accept: what brigd sends queues meanwhile). A connect that fails means the holder is gone:
 * the call waits for the restart. The holder's death is learned from SIGCHLD (worker/child_watch.h), never
 * from this socket; brigd's death ends the jail through PR_SET_PDEATHSIG (the helper's, then the init's).
 * Paths go through /proc/self/fd/<directory fd>/<name>: sun_path holds 108 bytes, a state directory may
 *
 * Who may connect: the init takes any connection on its socket as brigd's. The directory is brigd's uid's
 * alone, but a rootless brigd's jails run as that same uid, and a policy may bind a directory holding the
 * state directory (a read-only $HOME) into a jail: so the directory is 0300 (nobody lists it, and a
 * read-only bind cannot chmod it) and each socket's name is 128 random bits, which a jail can neither read
 * nor guess. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "worker/env.h"
#include "worker/env_control.h"
#include "worker/worker.h"

#define CONTROL_DIR "control"
#define CONTROL_BACKLOG 4

/* Write and search only: see the theory of operation. */
#define CONTROL_DIR_MODE 0300

int brig__env_control_dir_open(brig_worker *w, const char *state_dir, brig_error *err) {
        _cleanup_free_ char *dir = NULL;
        int r;

        w->control_dir_fd = -1;
        if (asprintf(&dir, "%s/" CONTROL_DIR, state_dir) < 0) {
                dir = NULL;
                return brig_error_oom(err);
        }
        /* Sockets of a brigd that did not stop cleanly (their inits died with it: PR_SET_PDEATHSIG) go
         * with the directory, which is made anew with our bits. */
        (void) chmod(dir, 0700);
        if ((r = brig_rm_rf(dir)) < 0 && r != -ENOENT)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "remove '%s'", dir);
        if ((r = brig_mkdir_p(dir, CONTROL_DIR_MODE)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "create '%s'", dir);
        /* Whatever the umask left. */
        if (chmod(dir, CONTROL_DIR_MODE) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "chmod '%s'", dir);
        if ((w->control_dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", dir);
        return 0;
}

void brig__env_control_dir_close(brig_worker *w) {
        brig_closep(&w->control_dir_fd);
}

static void control_addr(const brig_env *env, struct sockaddr_un *sa) {
        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        (void) snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", env->w->control_dir_fd,
                        env->holder.control_name);
}

static void unlink_name(brig_env *env) {
        if (!env->holder.control_name[0])
                return;
        (void) unlinkat(env->w->control_dir_fd, env->holder.control_name, 0);
        env->holder.control_name[0] = 0;
}

static int new_name(brig_env *env) {
        uint8_t rnd[16];

        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -errno;
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(env->holder.control_name + 2 * i, 3, "%02x", rnd[i]);
        return 0;
}

/* env->control becomes c (NULL: none), the worker's count following. */
static void set_control(brig_env *env, brig_jailctl *c) {
        bool open = brig_jailctl_is_open(c);

        if (env->holder.control_counted && !open)
                env->w->n_controls--;
        else if (!env->holder.control_counted && open)
                env->w->n_controls++;
        env->holder.control_counted = open;
        env->control = c;
}

/* A new connection to env's init: 0 with env->control set, or -errno. */
static int connect_control(brig_env *env) {
        struct sockaddr_un sa;
        brig_jailctl *c;
        int fd, r;

        control_addr(env, &sa);
        /* Non-blocking: a stuck init cannot stall us (the queue is what the init has not read). */
        if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        if ((r = brig_jailctl_new(fd, &c)) < 0)
                return r;
        set_control(env, c);
        return 0;
}

int brig__env_control_listen(brig_env *env, int *ret_listener, brig_error *err) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        int r;

        unlink_name(env);
        env->holder.reconnects = false;
        env->holder.control_uses = env->holder.control_heard = 0;
        if ((r = new_name(env)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL, "getrandom");
        control_addr(env, &sa);
        /* Non-blocking for the init too: an accept after poll() never waits (our first connection is
         * queued before the helper starts). */
        if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
                env->holder.control_name[0] = 0;
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "control socket");
        }
        /* The name is not in the message: it is what keeps jails out. */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                env->holder.control_name[0] = 0;
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL, "bind control socket");
        }
        if (listen(fd, CONTROL_BACKLOG) < 0) {
                r = -errno;
                unlink_name(env);
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL, "listen on control socket");
        }
        if ((r = connect_control(env)) < 0) {
                unlink_name(env);
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL, "connect control socket");
        }
        *ret_listener = TAKE_FD(fd);
        return 0;
}

void brig__env_control_may_step_away(brig_env *env) {
        env->holder.reconnects = true;
        env->holder.control_heard = env->holder.control_uses;
}

int brig__env_control_ensure(brig_env *env, brig_error *err) {
        int r;

        env->holder.control_uses++;
        if (brig_jailctl_is_open(env->control) || !env->holder.reconnects)
                return 0;
        if ((r = connect_control(env)) < 0) {
                (void) log_warning_errno(r, "environment %s: connect to its init: %m", env->id);
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL,
                                            "environment \"%s\": connect to its init", env->id);
        }
        (void) uv_timer_again(&env->holder.start_timer);
        return 0;
}

void brig__env_control_idle_tick(brig_env *env) {
        bool quiet = env->holder.control_uses == env->holder.control_heard;

        env->holder.control_heard = env->holder.control_uses;
        if (!quiet || env->calls_in_flight || env->holder.waiters || !brig_jailctl_is_open(env->control) ||
            brig_jailctl_shared(env->control))
                return;
        set_control(env, brig_jailctl_unref(env->control));
        (void) uv_timer_stop(&env->holder.start_timer);
}

void brig__env_control_close(brig_env *env) {
        brig_jailctl_hangup(env->control);
        set_control(env, brig_jailctl_unref(env->control));
        env->holder.reconnects = false;
        unlink_name(env);
}
