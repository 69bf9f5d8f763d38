#!/usr/bin/env bash
# End-to-end test of brigd against the official MCP TypeScript client SDK (tests/e2e/mcp_sdk.mjs).
#
# Called by meson as test 'mcp_sdk' (suite e2e) with BRIG_BUILD_DIR and BRIG_SOURCE_DIR set; runs by
# hand too. Exits 77 (meson's "skipped") when node or the SDK is unavailable, else node's status; fails
# as well if brigd does not stop cleanly on SIGTERM.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${BRIG_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${BRIG_BUILD_DIR:-/work/main/build}
e2e=$src/tests/e2e

skip() {
        echo "SKIP: mcp_sdk e2e test: $*" >&2
        echo "SKIP: mcp_sdk e2e test: $*"
        exit 77
}

have_sdk() {
        command -v node >/dev/null 2>&1 && [ -f "$e2e/node_modules/@modelcontextprotocol/sdk/package.json" ]
}

if ! have_sdk && command -v npm >/dev/null 2>&1; then
        echo "# installing tests/e2e dependencies with npm ci"
        (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) || true
fi
if ! command -v node >/dev/null 2>&1; then
        skip "node is not installed"
fi
if ! have_sdk; then
        skip "@modelcontextprotocol/sdk is not installed (run 'npm ci' in tests/e2e)"
fi
for b in brigd brig-jail; do
        [ -x "$build/$b" ] || { echo "FAIL: $build/$b is missing; build first" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/brig-e2e.XXXXXX") || exit 1
# Jails run as an unprivileged uid: the state dir's ancestors must be searchable by it.
chmod 755 "$tmp"
sock=$tmp/brig.sock
audit=$tmp/audit.jsonl
log=$tmp/brigd.log
brigd_pid=

stop_brigd() {
        # Stops brigd with SIGTERM (SIGKILL after 10 s); sets brigd_status.
        brigd_status=0
        [ -n "$brigd_pid" ] || return 0
        kill -TERM "$brigd_pid" 2>/dev/null
        for _ in $(seq 1 100); do
                kill -0 "$brigd_pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$brigd_pid" 2>/dev/null; then
                echo "FAIL: brigd did not exit within 10 s of SIGTERM; killing it" >&2
                kill -KILL "$brigd_pid" 2>/dev/null
        fi
        wait "$brigd_pid"
        brigd_status=$?
        brigd_pid=
}

cleanup() {
        stop_brigd
        # Workspaces on filesystem images (hard quotas, brigd as root) stay mounted after brigd: unmount
        # them first, or the removal leaves them and their loop devices behind.
        awk -v d="$tmp/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
                while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$build/brigd" --socket "$sock" --state-dir "$tmp/state" --audit "$audit" \
        --policy "$src/policies/default.json" >"$log" 2>&1 &
brigd_pid=$!

for _ in $(seq 1 100); do
        [ -S "$sock" ] && break
        kill -0 "$brigd_pid" 2>/dev/null || break
        sleep 0.1
done
if [ ! -S "$sock" ]; then
        echo "FAIL: brigd did not create $sock within 10 s; its output:" >&2
        sed 's/^/  brigd: /' "$log" >&2
        exit 1
fi

(cd "$e2e" && node mcp_sdk.mjs "$sock" "$audit")
node_status=$?

stop_brigd
status=$node_status
if [ "$brigd_status" -ne 0 ]; then
        echo "FAIL: brigd exited with status $brigd_status after SIGTERM (expected 0)" >&2
        status=1
elif [ -e "$sock" ]; then
        echo "FAIL: brigd left its socket $sock behind" >&2
        status=1
fi
if [ "$status" -ne 0 ]; then
        echo "# brigd output:" >&2
        sed 's/^/  brigd: /' "$log" >&2
fi
exit "$status"
