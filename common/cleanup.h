/* SPDX-License-Identifier: MIT */
#pragma once

/* Scope-bound cleanup, after systemd's src/basic/alloc-util.h: every variable declared with one of these
 * is initialised, and ownership leaves the scope only through TAKE_PTR()/TAKE_FD(). */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(brig_freep)
#define _cleanup_close_ _cleanup_(brig_closep)
#define _cleanup_fclose_ _cleanup_(brig_fclosep)
#define _cleanup_strv_free_ _cleanup_(brig_strv_freep)

#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                __typeof__(p) _p = (p);                                                                     \
                (p) = NULL;                                                                                 \
                _p;                                                                                         \
        })

#define TAKE_FD(fd)                                                                                         \
        ({                                                                                                  \
                int _fd = (fd);                                                                             \
                (fd) = -1;                                                                                  \
                _fd;                                                                                        \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Defines `name##p(type **)` calling func on a non-NULL pointer, for _cleanup_(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                             \
        static inline void func##p(type *p) {                                                               \
                if (*p)                                                                                     \
                        func(*p);                                                                           \
        }

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static inline void brig_freep(void *p) {
        free(*(void **) p);
}

/* Closes without disturbing errno, so cleanup never hides the error being returned. */
static inline int brig_close_nointr(int fd) {
        int saved = errno;
        if (fd >= 0)
                (void) close(fd);
        errno = saved;
        return -1;
}

static inline void brig_closep(int *fd) {
        if (*fd >= 0)
                brig_close_nointr(*fd);
        *fd = -1;
}

static inline void brig_fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* NULL-terminated string vectors. */
static inline void brig_strv_free(char **v) {
        if (!v)
                return;
        for (char **s = v; *s; s++)
                free(*s);
        free(v);
}

static inline void brig_strv_freep(char ***v) {
        brig_strv_free(*v);
}
