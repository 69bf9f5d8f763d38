#!/bin/sh
# brig-jail runs once per environment and stays resident (its init): every library it maps costs each
# environment its relocated data, and each start its loading. It needs no digest or crypto library (issue 17:
# libcrypto alone was 404 KiB of an idle environment's 659), so it must link none.
set -eu
helper=${1:?usage: jail_links.sh BRIG-JAIL}
needed=$(readelf -d "$helper" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$helper links: $(echo $needed)"
bad=$(echo "$needed" | grep -E '^lib(crypto|ssl|nettle|hogweed|gcrypt|git2|uv)\.' || true)
if [ -n "$bad" ]; then
        echo "not ok: brig-jail links $(echo $bad)" >&2
        exit 1
fi
