#!/usr/bin/env bash
# End-to-end tests of brigd with real MCP clients: run.sh [CLIENT]
#
#   mcp_sdk    the official MCP TypeScript SDK over the socket (mcp_sdk.mjs; the default)
#   openai     the OpenAI Agents SDK, strict schemas on           (clients/openai.mjs)
#   vercel     the Vercel AI SDK's MCP client                     (clients/vercel.mjs)
#   langchain  LangChain's MCP adapters and LangGraph's ToolNode  (clients/langchain.mjs)
#   inspector  the MCP Inspector CLI                              (clients/inspector.mjs)
#
# All but mcp_sdk reach brigd through `brig mcp` (stdio). Called by meson as tests 'mcp_sdk', 'e2e_openai',
# ... (suite e2e) with BRIG_BUILD_DIR and BRIG_SOURCE_DIR set; runs by hand too. Installs the pinned
# packages (package-lock.json) with `npm ci` when they are missing or stale. Exits 77 (meson's "skipped")
# only when node is not installed; a failed `npm ci` (or a missing npm) fails the test. Else node's status;
# fails as well if brigd does not stop cleanly on SIGTERM.
set -u

client=${1:-mcp_sdk}
case $client in
mcp_sdk) script=mcp_sdk.mjs ;;
openai | vercel | langchain | inspector) script=clients/$client.mjs ;;
*) echo "usage: $0 [mcp_sdk|openai|vercel|langchain|inspector]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
src=${BRIG_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${BRIG_BUILD_DIR:-/work/main/build}
e2e=$src/tests/e2e

skip() {
        echo "SKIP: $client e2e test: $*" >&2
        echo "SKIP: $client e2e test: $*"
        exit 77
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
# node_modules matches the lockfile when npm's own record of the install is newer than both manifests.
# Tests run in parallel: one `npm ci` at a time (it deletes node_modules first), the others wait for it.
if ! (
        flock 9
        [ "$e2e/node_modules/.package-lock.json" -nt "$e2e/package-lock.json" ] &&
                [ "$e2e/node_modules/.package-lock.json" -nt "$e2e/package.json" ] && exit 0
        echo "# installing tests/e2e dependencies with npm ci"
        cd "$e2e" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
) 9>"$build/e2e-npm-ci.lock"; then
        echo "FAIL: npm ci in $e2e failed (the e2e tests need the packages pinned in package-lock.json)" >&2
        exit 1
fi
for b in brigd brig-jail brig; do
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

if [ "$client" = mcp_sdk ]; then
        (cd "$e2e" && node "$script" "$sock" "$audit")
else
        (cd "$e2e" && node "$script" "$sock" "$build")
fi
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
