/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

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
/* The relay ended: 0 when the upstream's end reached the client (or both ends were passed on), else a
 * negative errno. Called once; the relay must still be freed with brig_proxy_relay_close(). */
typedef void (*brig_proxy_relay_done_cb)(brig_proxy_relay *r, int error, void *userdata);

/* Takes client_fd and upstream_fd (connected, non-blocking, closed on failure too) and starts relaying.
 * pre[dir] (may be NULL) is sent before anything relayed in that direction (copied). Returns 0 or -errno. */
int brig_proxy_relay_start(uv_loop_t *loop, int client_fd, int upstream_fd, const char *const pre[2],
                           const size_t pre_len[2], brig_proxy_relay_bytes_cb bytes_cb,
                           brig_proxy_relay_done_cb done_cb, void *userdata, brig_proxy_relay **ret);

/* Stops relaying and closes both sockets; no callback follows. Frees the relay once its handles closed.
 * Accepts NULL. Callable from its own callbacks. */
void brig_proxy_relay_close(brig_proxy_relay *r);
