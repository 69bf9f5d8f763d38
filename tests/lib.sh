# Shared by the shell tests that start brigd (install_check.sh, activation_check.sh, config_check.sh):
# a temporary directory $tmp removed at exit with the brigd started in it, fail(), and start_brigd.
# shellcheck shell=sh
tmp=$(mktemp -d /tmp/brig-test-XXXXXX)
# A jail running as another uid reaches its workspace below this directory.
chmod 0755 "$tmp"
pid=
cleanup() {
        [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
        [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
        echo "FAIL: $*" >&2
        for f in "$tmp"/brigd.out "$tmp"/brigd.err; do
                [ -f "$f" ] && sed "s|^|$(basename "$f"): |" "$f" >&2
        done
        exit 1
}
# start_brigd COMMAND...: runs it in the background ($pid), output in $tmp/brigd.out and .err, until it
# listens or exits (the test's timeout bounds a hang); fails when it does not listen.
start_brigd() {
        : >"$tmp/brigd.out"
        "$@" >"$tmp/brigd.out" 2>"$tmp/brigd.err" &
        pid=$!
        while kill -0 "$pid" 2>/dev/null && ! grep -q 'listening on' "$tmp/brigd.out"; do sleep 0.05; done
        grep -q 'listening on' "$tmp/brigd.out" || fail "brigd did not start: $*"
}
# stop_brigd: SIGTERM, and a clean exit.
stop_brigd() {
        kill "$pid"
        wait "$pid" || fail "brigd did not stop cleanly on SIGTERM"
        pid=
}
