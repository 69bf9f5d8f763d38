/* SPDX-License-Identifier: MIT */
#pragma once

/* Signal names for results and messages. Pure; any thread. Its own file so that what needs only a name
 * (brig run) links none of the exec tool's event loop. */

/* "SIGKILL" etc., or "SIG<n>". Returns the caller's buffer. */
const char *brig_signal_name(int sig, char buf[16]);
