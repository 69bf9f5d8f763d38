/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/* How brigd's listening socket is created (brigd --socket, --socket-mode, --socket-group). */
typedef struct brig_sockfile {
        const char *path;
        mode_t mode;      /* permission bits of the socket file; the owner's rw are required */
        gid_t gid;        /* group of the socket file, (gid_t) -1 to keep ours */
        bool make_parent; /* create the path's directory (the default path): 0700, 0755 when mode lets
                           * group or others in, so that they can reach the socket */
} brig_sockfile;

/* Binds and listens on a stream socket at s->path that has s->mode and s->gid from the moment the path
 * exists: it is bound under a private directory beside the path, given its group and mode there, and only
 * then renamed into place. A stale socket (nothing answers) is replaced; a live one or any other file is
 * refused. Blocking, for start-up. Returns the listening fd (non-blocking, close-on-exec) or -errno. */
int brig_sockfile_listen(const brig_sockfile *s, brig_error *err);
