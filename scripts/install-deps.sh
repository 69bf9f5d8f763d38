#!/bin/sh
# Installs the Debian packages named on the command line that are missing, plus Node.js for the MCP SDK
# end-to-end test when no node/npm is on PATH at all (that one is optional: without it the test skips
# loudly). Only as root; otherwise lists what is missing and carries on.
missing=""
for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
optional=""
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || optional="nodejs npm"
[ -z "$missing$optional" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
        echo "brig: missing Debian packages:$missing $optional (run as root, or install them)" >&2
        exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
if [ -n "$missing" ]; then
        echo "brig: installing$missing"
        apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
fi
if [ -n "$optional" ]; then
        apt-get install -y -qq --no-install-recommends $optional >/dev/null 2>&1 ||
                echo "brig: could not install $optional; the MCP SDK end-to-end test will be skipped" >&2
fi
exit 0
