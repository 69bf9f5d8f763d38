/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* A bidirectional byte relay between two connected sockets with splice(2) through a pipe per direction:
 * the bytes never enter user space, and a direction whose destination does not keep up stops reading its
 * source (its pipe stays full), so the kernel's TCP windows are the backpressure. Used by the network
 * proxy (worker/proxy.c) once a connection is established. Loop thread only. */

typedef struct brig_proxy_relay brig_proxy_relay;

typedef enum brig_proxy_relay_dir {
        BRIG_PROXY_RELAY_UP,   /* client -> upstream */
        BRIG_PROXY_RELAY_DOWN, /* upstream -> client */
} brig_proxy_relay_dir;

#define BRIG_PROXY_RELAY_PIPE_SIZE (256 * 1024) /* asked for; the default 64 KiB when the system refuses */

/* Bytes read from a direction's source (before they are written on). Return false to stop the relay:
 * done_cb then follows with -EDQUOT. */
typedef bool (*brig_proxy_relay_bytes_cb)(brig_proxy_relay *r, brig_proxy_relay_dir dir, size_t n,
                                          void *userdata);
/* The bytes a checked client sent (n == 0: its end), read through user space instead of spliced: returns how
 * many of the first of them are passed on upstream (the rest stay the caller's), or a negative errno to
 * end the relay (done_cb follows with it). *stop set: the client is no longer read. */
typedef int64_t (*brig_proxy_relay_up_cb)(brig_proxy_relay *r, const char *data, size_t n, bool *stop,
                                          void *userdata);
/* The relay ended: 0 when the upstream's end reached the client (or both ends were passed on), else a
 * negative errno. Called once; the relay must still be freed with brig_proxy_relay_close(). */
typedef void (*brig_proxy_relay_done_cb)(brig_proxy_relay *r, int error, void *userdata);

/* Takes client_fd and upstream_fd (connected, non-blocking, closed on failure too) for a relay that starts
 * with brig_proxy_relay_run(). pre[dir] (may be NULL) is sent before anything relayed in that direction
 * (copied). up_cb (may be NULL: all is spliced) checks what the client sends. Returns 0 or -errno. */
int brig_proxy_relay_new(uv_loop_t *loop, int client_fd, int upstream_fd, const char *const pre[2],
                         const size_t pre_len[2], brig_proxy_relay_bytes_cb bytes_cb,
                         brig_proxy_relay_up_cb up_cb, brig_proxy_relay_done_cb done_cb, void *userdata,
                         brig_proxy_relay **ret);

/* Sends len bytes at data (copied) to the client after the upstream's clean end, before passing that end
 * on; at most once: -EBUSY, -ENOMEM or 0. Before brig_proxy_relay_run() too: the upstream may answer and
 * end before the run's first call returns. */
int brig_proxy_relay_down_end(brig_proxy_relay *r, const char *data, size_t len);

/* Starts relaying (its first moves happen in this call: done_cb may follow before it returns). */
void brig_proxy_relay_run(brig_proxy_relay *r);

/* Stops relaying and closes both sockets; no callback follows. Frees the relay once its handles closed.
 * Accepts NULL. Callable from its own callbacks. */
void brig_proxy_relay_close(brig_proxy_relay *r);
