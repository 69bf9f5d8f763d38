/* SPDX-License-Identifier: MIT */
#pragma once

/* The byte that carries a descriptor over a Unix stream socket (SCM_RIGHTS), both halves: brig's client
 * (cli/client.c) sends it after brig/descriptor.pass is answered, brigd (worker/mcp_fd.c) receives it. One
 * byte with exactly one descriptor; anything else is refused. Blocking as the socket is; any thread. */

/* Why brigd does not take fd (a static string), or NULL: only a regular file, and none of FUSE, whose
 * server could leave a read or write unanswered and a thread of brigd's pool with it, nor of the kernel's
 * own filesystems (proc, sysfs, ...), whose files say what the reader (brigd, root) may see rather than what
 * the client may. The filesystem is found through /proc, never by a call into it. The client asks first and
 * sends what is refused in chunks. Blocking (reads /proc). */
const char *brig_fdpass_refusal(int fd);
/* Sends fd (borrowed) with one byte. 0 or -errno. */
int brig_fdpass_send(int sock, int fd);
/* Receives the byte without waiting (MSG_DONTWAIT) and its descriptor, born close-on-exec; *ret_fd is the
 * caller's. 0; -EAGAIN when no byte is there; -EPROTO for a byte without exactly one descriptor (extra ones
 * are closed by the kernel), or the end of the stream; other -errno. */
int brig_fdpass_recv(int sock, int *ret_fd);
