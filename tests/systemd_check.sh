#!/bin/sh
# systemd-analyze verify passes on brigd.service (as configured for this build, ExecStart pointed at the
# built brigd) and brigd.socket, with their Documentation= man pages found among this build's; any warning
# fails. No install: the test needs only the build's own files. Skips, saying why, where systemd-analyze is
# missing (the Makefile installs systemd).
set -eu
build=${BRIG_BUILD_DIR:?}
src=${BRIG_SOURCE_DIR:?}
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze not installed (Debian: systemd)"; exit 77; }
tmp=$(mktemp -d /tmp/brig-systemd-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

exec_start=$(sed -n 's/^ExecStart=//p' "$build/systemd/brigd.service")
case $exec_start in */bin/brigd) ;; *) fail "ExecStart=$exec_start is not brigd in a bindir" ;; esac
mkdir "$tmp/units" "$tmp/man" "$tmp/man/man5" "$tmp/man/man8"
sed "s|^ExecStart=$exec_start|ExecStart=$build/brigd|" "$build/systemd/brigd.service" >"$tmp/units/brigd.service"
cp "$src/systemd/brigd.socket" "$tmp/units/"
cp "$build/brigd.8" "$tmp/man/man8/"
cp "$src/docs/brig-policy.5" "$tmp/man/man5/"
MANPATH=$tmp/man systemd-analyze verify "$tmp/units/brigd.socket" "$tmp/units/brigd.service" \
        >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"; }
if [ -s "$tmp/verify.log" ]; then
        cat "$tmp/verify.log" >&2
        fail "systemd-analyze verify warned"
fi
echo "ok: systemd-analyze verify passes on brigd.service and brigd.socket"
