#!/bin/sh
# brig starts for every `brig run` (issue 17's one-shot goal): each library it maps costs every run its
# loading. libgit2, libarchive and SQLite (with libxml2, ICU and Kerberos behind them) cost about 7 ms, so
# the commands that need them are programs of their own (brig-memory), and brig links none of them, nor
# OpenSSL (brigd's alone).
set -eu
cli=${1:?usage: cli_links.sh BRIG}
needed=$(readelf -d "$cli" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$cli links: $(echo $needed)"
bad=$(echo "$needed" | grep -E '^lib(git2|archive|sqlite3|crypto|ssl|xml2|icu[a-z]*)\.' || true)
if [ -n "$bad" ]; then
        echo "not ok: brig links $(echo $bad)" >&2
        exit 1
fi
