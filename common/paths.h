/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "common/error.h"

/* Where brig and brigd meet when no socket is named. One definition for both, so that a client that was
 * given nothing (an MCP launcher passes only HOME, PATH, USER, LOGNAME, SHELL and TERM to its servers)
 * still finds the worker:
 *   root:     /run/brig/brig.sock (uid 0 of the host; uid 0 of a user namespace counts as other)
 *   other:    $XDG_RUNTIME_DIR/brig/brig.sock, and /run/user/UID/brig/brig.sock when XDG_RUNTIME_DIR is
 *             unset or not absolute (the directory pam_systemd gives it; nothing under /tmp, which any
 *             user could have prepared for us). */
#define BRIG_SOCKET_ROOT_DIR "/run/brig"
#define BRIG_SOCKET_NAME "brig.sock"
/* The system brigd's socket (brigd as root, default path). A client that is not root and finds no socket
 * at its own default path tries this one next: only root can create it, so it cannot be spoofed. */
#define BRIG_SOCKET_SYSTEM_PATH BRIG_SOCKET_ROOT_DIR "/" BRIG_SOCKET_NAME

/* The help text saying how a client finds the socket, for brig's --help pages. */
#define BRIG_SOCKET_LOOKUP_HELP                                                                             \
        "brigd's socket is, in this order: --socket PATH; else $BRIG_SOCKET; else the default path,\n"      \
        "where brigd listens when started without --socket: /run/brig/brig.sock as root, and\n"             \
        "$XDG_RUNTIME_DIR/brig/brig.sock otherwise (/run/user/UID/brig/brig.sock when XDG_RUNTIME_DIR\n"    \
        "is unset); when that does not exist, a user other than root tries the system brigd's\n"            \
        "/run/brig/brig.sock next.\n"

/* uid 0 of the host (the initial user namespace): the one that uses /run/brig. */
bool brig_host_root(void);

/* The default socket's directory for this process (malloc'd into *ret), see above. */
int brig_default_socket_dir(char **ret, brig_error *err);
/* The default socket path for this process (malloc'd into *ret). */
int brig_default_socket_path(char **ret, brig_error *err);

/* The socket a client uses: flag (--socket) when not NULL, else $BRIG_SOCKET when set and not empty, else
 * the default path. *ret is malloc'd; *ret_source names where it came from ("--socket", "$BRIG_SOCKET" or
 * "the default path"), for error messages. */
int brig_client_socket_path(const char *flag, char **ret, const char **ret_source, brig_error *err);

/* brigd's default state directory for this process (malloc'd into *ret): /var/lib/brig as root (euid 0,
 * of any user namespace), else $XDG_STATE_HOME/brig, else $HOME/.local/state/brig, else /tmp/brig-UID.
 * brigd uses it without --state-dir; `brig doctor` checks it. */
int brig_default_state_dir(char **ret, brig_error *err);
/* The audit log's name in the state directory (brigd's default --audit with the default socket). */
#define BRIG_AUDIT_FILE_NAME "brig.audit.jsonl"
/* Installed files, found without flags. Each is looked for from the executable first (beside it in a build
 * tree, then where meson installs it relative to the bindir, so that an install under any prefix or DESTDIR
 * works as it is), then at the path compiled in. Caller frees; NULL only when out of memory. */
/* The helper program name: beside the executable, <bindir>/../libexec/NAME, else BRIG_LIBEXECDIR/NAME. */
char *brig_find_libexec(const char *name);
/* brig-jail, found as brig_find_libexec() finds it. */
char *brig_find_jail_helper(void);
/* The shipped policies: ./policies when it exists (a source tree), <bindir>/../share/brig/policies, else
 * BRIG_POLICYDIR. */
char *brig_find_policy_dir(void);
