#!/bin/sh
# Installs the Debian packages named on the command line that are missing. Only as root; otherwise lists
# what is missing and carries on (the build will say what it cannot find).
missing=""
for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
        echo "brig: missing Debian packages:$missing (run as root, or install them, to build)" >&2
        exit 0
fi
echo "brig: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
