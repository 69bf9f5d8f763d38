#!/bin/sh
# Fails when BINARY links a library whose name matches PATTERN (an extended regex over the part after
# "lib", e.g. 'crypto|ssl'). Each binary's reason is beside its test in tests/meson.build.
set -eu
bin=${1:?usage: no_links.sh BINARY PATTERN}
pattern=${2:?usage: no_links.sh BINARY PATTERN}
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$bin links: $(echo $needed)"
bad=$(echo "$needed" | grep -E "^lib($pattern)\." || true)
if [ -n "$bad" ]; then
        echo "not ok: $(basename "$bin") links $(echo $bad)" >&2
        exit 1
fi
