#!/bin/sh
# `meson install` into a DESTDIR, the tree then moved elsewhere, runs with no flags about policies or the
# helper: the installed brigd finds <bindir>/../share/brig/policies and <bindir>/../libexec/brig-jail, and the
# installed brig runs a one-shot jail of the installed default policy. The tree is moved so that nothing
# compiled in (/usr/local/...) can stand in for what was installed, even on a host where brig is installed.
# Then the same without the installed policies: brigd must refuse to start.
set -eu
build=${BRIG_BUILD_DIR:?}
. "$(dirname "$0")/lib.sh"

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log" >&2; fail "meson install"; }
installed=$(find "$tmp/dest" -path '*/bin/brigd' -type f)
[ -n "$installed" ] || fail "no bin/brigd installed"
prefix=$(dirname "$(dirname "$installed")")
mv "$prefix" "$tmp/moved"
root=$tmp/moved
[ -x "$root/bin/brig" ] || fail "brig not installed in bin"
for f in "$root"/share/brig/policies/default.json "$root"/share/man/man5/brig-policy.5 "$root"/share/man/man8/brigd.8 "$root"/share/man/man1/brig.1 \
        "$root"/share/bash-completion/completions/brig "$root"/etc/brig/brigd.conf \
        "$root"/lib/systemd/system/brigd.service "$root"/lib/systemd/system/brigd.socket \
        "$root"/lib/sysusers.d/brig.conf; do
        [ -f "$f" ] || fail "$f not installed"
done

# No ./policies here: only the installed ones can be found.
cd "$tmp"
mkdir state
start_brigd "$root/bin/brigd" --socket "$tmp/brig.sock" --state-dir "$tmp/state" --audit "$tmp/audit.jsonl"
grep -q "from $root/bin/../share/brig/policies" "$tmp/brigd.out" || fail "brigd did not use the installed policies"
grep -q "built by $root/bin/../libexec/brig-jail" "$tmp/brigd.err" || fail "brigd did not use the installed brig-jail"
out=$("$root/bin/brig" --socket "$tmp/brig.sock" exec -- echo installed-exec) || fail "brig exec failed"
[ "$out" = installed-exec ] || fail "brig exec printed '$out'"
stop_brigd

out=$("$root/bin/brig" run -- echo installed-run 2>"$tmp/run.err") || { cat "$tmp/run.err" >&2; fail "brig run failed"; }
[ "$out" = installed-run ] || fail "brig run printed '$out'"
# `brig memory` is the installed brig-memory, found from brig's own location.
"$root/bin/brig" memory --state-dir "$tmp/state" list >"$tmp/memory.out" 2>&1 || { cat "$tmp/memory.out" >&2; fail "brig memory failed"; }

# Without the installed policies nothing else may be taken for them.
rm -rf "$root/share/brig/policies"
rm -f "$tmp/brig.sock"
"$root/bin/brigd" --socket "$tmp/brig.sock" --state-dir "$tmp/state" --audit "$tmp/audit.jsonl" \
        >"$tmp/brigd.out" 2>"$tmp/brigd.err" && fail "brigd started without its policies"
grep -q 'policies' "$tmp/brigd.err" || fail "brigd's refusal does not name the policies"
echo "ok: installed brigd, brig exec and brig run found their policies and helper without flags"
