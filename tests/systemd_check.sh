#!/bin/sh
# systemd-analyze verify passes on brigd.service and brigd.socket as installed (into a DESTDIR, ExecStart
# pointed at the brigd installed there), with their Documentation= man pages found among the installed ones;
# any warning fails. Skips, saying why, where systemd-analyze is missing (the Makefile installs systemd).
set -eu
build=${BRIG_BUILD_DIR:?}
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze not installed (Debian: systemd)"; exit 77; }
tmp=$(mktemp -d /tmp/brig-systemd-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log" >&2; fail "meson install"; }
service=$(find "$tmp/dest" -path '*/systemd/system/brigd.service')
[ -n "$service" ] || fail "brigd.service not installed"
unitdir=$(dirname "$service")
[ -f "$unitdir/brigd.socket" ] || fail "brigd.socket not installed beside brigd.service"
exec_start=$(sed -n 's/^ExecStart=//p' "$service")
[ -x "$tmp/dest$exec_start" ] || fail "ExecStart=$exec_start is not the installed brigd"
mkdir "$tmp/units"
sed "s|^ExecStart=$exec_start|ExecStart=$tmp/dest$exec_start|" "$service" >"$tmp/units/brigd.service"
cp "$unitdir/brigd.socket" "$tmp/units/"
prefix=${exec_start%/bin/brigd}
MANPATH=$tmp/dest$prefix/share/man systemd-analyze verify "$tmp/units/brigd.socket" \
        "$tmp/units/brigd.service" >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"; }
if [ -s "$tmp/verify.log" ]; then
        cat "$tmp/verify.log" >&2
        fail "systemd-analyze verify warned"
fi
echo "ok: systemd-analyze verify passes on brigd.service and brigd.socket"
