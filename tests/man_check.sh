#!/bin/sh
# The man pages render without a single groff warning (-wall, and -ww for the undefined macros "all" leaves
# out; as `man -l` would render them), and brigd(8) stays
# true to brigd: every option of `brigd --help` and every signal worker/main.c handles is described in it.
set -eu
build=${BRIG_BUILD_DIR:?}
src=${BRIG_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
brigd_man=$build/brigd.8

for page in "$brigd_man" "$src"/docs/*.[1-8]; do
        [ -f "$page" ] || continue
        warnings=$(LC_ALL=C.UTF-8 groff -wall -ww -mandoc -Tutf8 "$page" 2>&1 >/dev/null)
        [ -z "$warnings" ] || fail "$page: groff warns: $warnings"
done

for o in $("$build/brigd" --help | grep -oE -- '^  (-[a-z], )?--[a-z-]+' | sed 's/.*--//'); do
        grep -qF -- "\\-\\-$(echo "$o" | sed 's/-/\\-/g')" "$brigd_man" ||
                fail "brigd(8) does not describe --$o (brigd --help lists it)"
done
for sig in $(grep -oE 'uv_signal_start\([^)]*SIG[A-Z]+' "$src/worker/main.c" | grep -oE 'SIG[A-Z]+$'); do
        grep -qE "^\.BR? (.*[^A-Z])?$sig([^A-Z].*)?$" "$brigd_man" || fail "brigd(8) has no entry for $sig (worker/main.c handles it)"
done
echo "ok: man pages render cleanly; brigd(8) names every option and signal"
