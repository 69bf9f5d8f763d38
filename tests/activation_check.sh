#!/bin/sh
# Socket activation without systemd: tests/activate.py binds and listens as brigd.socket would, and execs
# brigd with LISTEN_FDS=1 and LISTEN_PID (sd_listen_fds(3)'s protocol). brigd must serve that socket (the
# same inode: it binds nothing), leave it in place when it stops, and refuse an fd 3 that is not a
# listening Unix socket.
set -eu
build=${BRIG_BUILD_DIR:?}
src=${BRIG_SOURCE_DIR:?}
. "$(dirname "$0")/lib.sh"
sock=$tmp/activated.sock
brigd_args="--state-dir $tmp/state --policy-dir $src/policies"

start_brigd python3 "$src/tests/activate.py" socket "$sock" "$build/brigd" $brigd_args
grep -q "listening on $sock " "$tmp/brigd.out" || fail "activated brigd does not serve $sock"
[ "$(stat -c %i "$sock")" = "$(cat "$tmp/activated.sock.inode")" ] || fail "brigd bound a socket of its own"
[ "$(stat -c %a "$sock")" = 660 ] || fail "the socket's mode is not the launcher's 0660"
out=$("$build/brig" --socket "$sock" exec -- echo activated) || fail "brig exec on the activated socket failed"
[ "$out" = activated ] || fail "brig exec printed '$out'"
[ -f "$tmp/state/brig.audit.jsonl" ] || fail "the audit log of an activated brigd is not in its state directory"
stop_brigd
[ -S "$sock" ] || fail "brigd removed the socket systemd owns"

# fd 3 a regular file: refused, with the reason.
if python3 "$src/tests/activate.py" file "$tmp/not-a-socket" "$build/brigd" $brigd_args \
        >"$tmp/brigd.out" 2>"$tmp/brigd.err"; then
        fail "brigd served a file passed as its socket"
fi
grep -q 'expected one listening Unix stream socket' "$tmp/brigd.err" || fail "no reason given for the bad fd"
echo "ok: brigd serves the socket it is passed, and leaves it in place"
