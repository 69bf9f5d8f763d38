#!/bin/bash
# The generated bash completion (completion/gen_bash.py) completes every command `brig --help` lists, the
# subcommands of env and policy, and each command's options: what a user sees when pressing Tab.
set -eu
build=${BRIG_BUILD_DIR:?}
brig=$build/brig
# shellcheck source=/dev/null
source "$build/completion/brig"
complete_line() { # words...: what Tab offers after them
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _brig
        printf '%s\n' "${COMPREPLY[@]}" | sort
}
fail() { echo "FAIL: $*" >&2; exit 1; }

# The commands, read here from brig --help's "Commands:" section independently of the generator.
want=$("$brig" --help | awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ {print $1}' | sort -u)
[ -n "$want" ] || fail "no commands in brig --help"
got=$(complete_line brig "" | grep -v '^--')
[ "$got" = "$want" ] || fail "brig <Tab> offers '$(echo $got)', brig --help lists '$(echo $want)'"
got=$(complete_line brig --socket /tmp/s "" | grep -v '^--')
[ "$got" = "$want" ] || fail "brig --socket S <Tab> offers '$(echo $got)'"
complete_line brig --s | grep -qx -- --socket || fail "brig --s<Tab> does not offer --socket"

[ "$(complete_line brig policy "" | tr '\n' ' ')" = "check explain test " ] || fail "brig policy <Tab>: $(complete_line brig policy "")"
for s in list info rm; do complete_line brig env "" | grep -qx "$s" || fail "brig env <Tab> lacks $s"; done
for c in $want; do
        [ "$c" = help ] && continue
        for o in $("$brig" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u | grep -vx -- '--socket\|--help'); do
                complete_line brig "$c" -- | grep -qx -- "$o" ||
                        fail "brig $c --<Tab> does not offer $o"
        done
done
complete_line brig run --policy "$build/meson-info" | grep -q meson-info || fail "brig run --policy <Tab> completes no file"
complete_line brig exec -- tru | grep -qx true || fail "brig exec -- tru<Tab> completes no command"
echo "ok: bash completion matches brig --help"
