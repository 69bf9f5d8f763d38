/* SPDX-License-Identifier: MIT */
/* brigd's listening socket, created with its final mode and group before anyone can reach it.
 *
 * bind() creates the file with the umask's mode and our group; a chmod or chown after it would leave a
 * window in which the socket is reachable with the wrong permissions (too open, or closed to the group a
 * client was promised). So the socket is bound in a fresh 0700 directory (mkdtemp) beside its final path,
 * where no other user can reach or replace it, given its group and mode there, made to listen, and renamed
 * into place: rename is atomic, so the final path never names anything but the finished socket. The
 * private directory shares the final path's filesystem, so the rename cannot fail with EXDEV. */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/sockfile.h"

/* A socket file that answers belongs to a live worker; one that refuses is a leftover from a crash. */
static int claim_path(const char *path, brig_error *err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;
        _cleanup_close_ int fd = -1;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0
                                       : brig_error_set_errno(err, -errno, BRIG_KIND_IO, "stat '%s'", path);
        if (!S_ISSOCK(st.st_mode))
                return brig_error_set(err, -EEXIST, BRIG_KIND_IO, "'%s' exists and is not a socket", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "socket");
        memcpy(sa.sun_path, path, strlen(path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return brig_error_set(err, -EADDRINUSE, BRIG_KIND_IO,
                                      "another brigd is listening on '%s'; stop it first", path);
        if (errno != ECONNREFUSED)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "probe '%s'", path);
        if (unlink(path) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "remove stale socket '%s'", path);
        return 0;
}

/* The default path's directory: ours, not writable by anyone else, and searchable by others when the
 * socket is for them. Its parent (/run, $XDG_RUNTIME_DIR) is the system's: never created here. */
static int make_parent(const char *dir, mode_t sock_mode, brig_error *err) {
        mode_t want = (sock_mode & 077) ? 0755 : 0700;
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (mkdir(dir, want) < 0 && errno != EEXIST) {
                int r = -errno;
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "create the socket directory '%s'%s", dir,
                                            r == -ENOENT ? " (its parent does not exist: set "
                                                           "XDG_RUNTIME_DIR, or choose a path with --socket)"
                                                         : "");
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open the socket directory '%s'",
                                            dir);
        if (st.st_uid != geteuid() || (st.st_mode & 022))
                return brig_error_set(err, -EPERM, BRIG_KIND_IO,
                                      "the socket directory '%s' must be owned by uid %u and writable by "
                                      "no one else (it is uid %u, mode %04o)",
                                      dir, (unsigned) geteuid(), (unsigned) st.st_uid,
                                      (unsigned) (st.st_mode & 07777));
        /* Made 0700 by an earlier brigd that served only its owner: open it for the socket's readers. */
        if ((st.st_mode & 0777) != want && (want & 055) && fchmod(fd, want) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "chmod '%s'", dir);
        return 0;
}

/* Binds in the private directory priv, gives the socket its group and mode, listens, and renames it to
 * s->path. Returns the listening fd or -errno; the caller removes priv and what is left in it. */
static int bind_and_move(const brig_sockfile *s, const char *priv, brig_error *err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        mode_t old;
        int r;

        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", priv);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "socket");
        /* Born 0600 even inside the private directory: never more open than asked, at any moment. */
        old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        (void) umask(old);
        if (r < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "bind '%s'", sa.sun_path);
        if (s->gid != (gid_t) -1 && chown(sa.sun_path, (uid_t) -1, s->gid) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "give the socket group %u",
                                            (unsigned) s->gid);
        if (chmod(sa.sun_path, s->mode) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "chmod the socket to %04o",
                                            (unsigned) s->mode);
        /* Listening before the socket has its name: a client that finds the path can connect at once. */
        if (listen(fd, 128) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "listen '%s'", s->path);
        /* NOREPLACE: a file that appeared since claim_path is someone else's, not ours to replace. */
        if (renameat2(AT_FDCWD, sa.sun_path, AT_FDCWD, s->path, RENAME_NOREPLACE) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "move the socket to '%s'", s->path);
        return TAKE_FD(fd);
}

int brig_sockfile_listen(const brig_sockfile *s, brig_error *err) {
        struct sockaddr_un sa;
        _cleanup_free_ char *copy = strdup(s->path);
        char priv[sizeof(sa.sun_path)], left[sizeof(sa.sun_path) + 2];
        const char *dir;
        int r, n;

        if (!copy)
                return brig_error_oom(err);
        dir = dirname(copy);
        /* The private directory's path plus "/s" must fit sun_path too. */
        n = snprintf(priv, sizeof(priv), "%s/.brigd-XXXXXX", dir);
        if (strlen(s->path) >= sizeof(sa.sun_path) || n < 0 || (size_t) n + 2 >= sizeof(sa.sun_path))
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                      "socket path '%s' too long: its directory must have fewer than %zu "
                                      "bytes, and the path fewer than %zu",
                                      s->path, sizeof(sa.sun_path) - sizeof("/.brigd-XXXXXX/s") + 1,
                                      sizeof(sa.sun_path));
        if (s->make_parent && (r = make_parent(dir, s->mode, err)) < 0)
                return r;
        if ((r = claim_path(s->path, err)) < 0)
                return r;
        if (!mkdtemp(priv))
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create a directory in '%s'", dir);
        r = bind_and_move(s, priv, err);
        /* After a failure the socket is still in the private directory; after success it is gone. */
        (void) snprintf(left, sizeof(left), "%s/s", priv);
        (void) unlink(left);
        (void) rmdir(priv);
        return r;
}
