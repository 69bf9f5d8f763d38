#!/bin/sh
# brigd's configuration file (--config; the format is in brigd --help and brigd(8)): brigd started with
# nothing but --config serves the socket, state directory, policies and audit log the file names, and a
# flag overrides the file; a bad line stops it naming FILE:LINE; the shipped default (etc/brigd.conf.in)
# names every option brigd --help lists, and is accepted as it is.
set -eu
build=${BRIG_BUILD_DIR:?}
src=${BRIG_SOURCE_DIR:?}
. "$(dirname "$0")/lib.sh"

conf=$tmp/brigd.conf
cat >"$conf" <<CONF
# written by config_check.sh
socket = $tmp/from-config.sock
state-dir = $tmp/state
policy-dir = $src/policies
audit = $tmp/from-config.audit.jsonl
spare-environments = 0
CONF
start_brigd "$build/brigd" --config "$conf"
grep -q "listening on $tmp/from-config.sock " "$tmp/brigd.out" || fail "brigd did not use the file's socket"
out=$("$build/brig" --socket "$tmp/from-config.sock" exec -- echo configured) || fail "brig exec failed"
[ "$out" = configured ] || fail "brig exec printed '$out'"
[ -d "$tmp/state/environments" ] || fail "brigd did not use the file's state directory"
grep -q '"worker_start"' "$tmp/from-config.audit.jsonl" || fail "brigd did not write the file's audit log"
stop_brigd

start_brigd "$build/brigd" --config "$conf" --socket "$tmp/from-flag.sock"
grep -q "listening on $tmp/from-flag.sock " "$tmp/brigd.out" || fail "--socket did not override the file"
stop_brigd

printf 'state-dir = %s\nspare-environments = lots\n' "$tmp/state" >"$tmp/bad.conf"
if "$build/brigd" --config "$tmp/bad.conf" >"$tmp/brigd.out" 2>"$tmp/brigd.err"; then
        fail "brigd started with a bad configuration file"
fi
grep -q "$tmp/bad.conf:2: spare-environments: expected 0 to" "$tmp/brigd.err" || fail "the error does not name FILE:LINE"
"$build/brigd" --config "$tmp/missing.conf" >"$tmp/brigd.out" 2>"$tmp/brigd.err" &&
        fail "brigd started with a missing --config file"

shipped=$build/etc/brigd.conf
for o in $("$build/brigd" --help | grep -o -- '^  --[a-z-]*' | sed 's/^  --//'); do
        case $o in help | version | config) continue ;; esac
        grep -q "^# $o = " "$shipped" || fail "the shipped brigd.conf does not show '# $o = '"
done
start_brigd "$build/brigd" --config "$shipped" --socket "$tmp/shipped.sock" --state-dir "$tmp/state" \
        --policy-dir "$src/policies"
stop_brigd
echo "ok: brigd honours its configuration file"
