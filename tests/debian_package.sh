#!/bin/sh
# debian/ builds an installable package: `dpkg-buildpackage -us -uc -b` on a copy of the source tree (its
# tracked and untracked, not ignored, files: what is being tested, committed or not), then the .deb is
# checked and unpacked into a temporary root (the host is not changed) and its binaries run from there:
# brigd and brig --version, and brig doctor, which must find the unpacked policies and helper relative to
# itself and run every shipped policy. Skips, saying why, where dpkg-buildpackage or debhelper is missing
# (the Makefile's deps install both).
set -eu
src=${BRIG_SOURCE_DIR:?}
command -v dpkg-buildpackage >/dev/null 2>&1 || { echo "SKIP: dpkg-buildpackage not installed (Debian: dpkg-dev)"; exit 77; }
command -v dh >/dev/null 2>&1 || { echo "SKIP: dh not installed (Debian: debhelper)"; exit 77; }
. "$(dirname "$0")/lib.sh"
# Nothing of the caller's make, or of a test run's brig, may reach the package build or the unpacked binaries.
unset MAKEFLAGS MFLAGS MAKELEVEL BRIG_JAIL_HELPER BRIG_SOCKET

mkdir "$tmp/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        # --ignore-failed-read: a tracked file deleted in the work tree is not part of what is tested.
        (cd "$src" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
                tar -xf - -C "$tmp/src"
else
        (cd "$src" && tar --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf - .) | tar -xf - -C "$tmp/src"
fi
[ -x "$tmp/src/debian/rules" ] || fail "debian/rules missing or not executable in the copied tree"

start=$(date +%s)
(cd "$tmp/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
        { tail -n 60 "$tmp/build.log" >&2; fail "dpkg-buildpackage -us -uc -b"; }
echo "dpkg-buildpackage took $(($(date +%s) - start)) s"
set -- "$tmp"/brig_*.deb
[ $# -eq 1 ] && [ -f "$1" ] || fail "no single brig_*.deb built: $*"
deb=$1

# What an operator relies on is in the package: binaries, helper, policies, man pages, units, the brig group,
# completion and the configuration (a conffile, so local edits survive upgrades).
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$tmp/contents"
for f in ./usr/bin/brig ./usr/bin/brigd ./usr/lib/brig/brig-jail ./usr/lib/brig/brig-memory ./usr/share/brig/policies/default.json \
        ./usr/share/man/man1/brig.1.gz ./usr/share/man/man8/brigd.8.gz ./usr/share/man/man5/brig-policy.5.gz \
        ./usr/share/bash-completion/completions/brig ./etc/brig/brigd.conf ./usr/lib/sysusers.d/brig.conf \
        ./usr/share/doc/brig/copyright; do
        grep -qxF "$f" "$tmp/contents" || fail "$f is not in the package"
done
for u in brigd.service brigd.socket; do
        grep -Eqx "\./(usr/)?lib/systemd/system/$u" "$tmp/contents" || fail "$u is not in the package"
done
dpkg-deb -I "$deb" conffiles | grep -qxF /etc/brig/brigd.conf || fail "/etc/brig/brigd.conf is not a conffile"
dpkg-deb -I "$deb" postinst | grep -q 'systemd-sysusers.*brig.conf' || fail "postinst does not create the brig group"
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in *libseccomp*) ;; *) fail "Depends lacks the shared libraries: '$depends'" ;; esac
version=$(dpkg-deb -f "$deb" Version)

dpkg -x "$deb" "$tmp/root"
root=$tmp/root
# No ./policies here: only the unpacked ones can be found.
cd "$tmp"
out=$("$root/usr/bin/brigd" --version) || fail "brigd --version"
[ "$out" = "brigd $version" ] || fail "brigd --version printed '$out', the package is $version"
out=$("$root/usr/bin/brig" --version) || fail "brig --version"
[ "$out" = "brig $version" ] || fail "brig --version printed '$out', the package is $version"

# brig doctor runs a one-shot jail of each shipped policy; as root every one of them must run here.
if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: brig doctor from the package needs root (jails of every policy, as in CI)"
        exit 77
fi
rc=0
"$root/usr/bin/brig" doctor >"$tmp/doctor.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/doctor.out" >&2; fail "brig doctor exited $rc"; }
grep -qxF "OK    policy:default: /bin/true ran in a one-shot jail of $root/usr/bin/../share/brig/policies/default.json" \
        "$tmp/doctor.out" || { cat "$tmp/doctor.out" >&2; fail "brig doctor did not run the unpacked default policy"; }
if grep '^[A-Z]* *policy:' "$tmp/doctor.out" | grep -v '^OK '; then
        cat "$tmp/doctor.out" >&2
        fail "a shipped policy did not run"
fi
echo "ok: dpkg-buildpackage built $(basename "$deb"); its brigd and brig run, and brig doctor ran every shipped policy"
