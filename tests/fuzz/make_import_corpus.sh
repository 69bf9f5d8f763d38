#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes the seed corpus of fuzz_import (tests/fuzz/corpus/import): a small valid environment archive made
# by tar --zstd (tests/integration/brig_archive.py) and malformed ones of each kind an import refuses.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/tests/fuzz/corpus/import
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S=$tmp/src
mkdir -p "$S/workspace/dir" "$S/processes"
echo one > "$S/workspace/a.txt"
printf '#!/bin/sh\necho hi\n' > "$S/workspace/dir/run.sh"
ln -s ../a.txt "$S/workspace/dir/up"
chmod 644 "$S/workspace/a.txt"; chmod 755 "$S/workspace" "$S/workspace/dir" "$S/workspace/dir/run.sh"
git init -q --bare -b main "$S/history.git"
rm -rf "$S/history.git/hooks" "$S/history.git/description"
git clone -q "$S/history.git" "$tmp/clone" 2>/dev/null
cp -a "$S/workspace/." "$tmp/clone/"
(cd "$tmp/clone" && git add -A && git -c user.name=brig -c user.email=brig@localhost commit -qm first &&
 git push -q origin HEAD:main)
snap=$(git --git-dir="$S/history.git" rev-parse main)
find "$S/history.git" -type d -exec chmod 755 {} +
printf '{"version":1,"process_id":"p1","command":"sleep 1","started":1,"ended":2,"exit_code":0,"signal":null,"duration_ms":1000,"output_bytes":0}' > "$S/processes/p1.json"
chmod 644 "$S/processes/p1.json"
printf '{"format":"brig-environment","version":1,"id":"seed","owner":0,"policy":"default","policy_digest":"","created":1,"last_used":2,"exported_at":3,"snapshot":"%s","brig_version":"0"}' "$snap" > "$S/brig-environment.json"
chmod 644 "$S/brig-environment.json"
mkdir -p "$out"
python3 "$top/tests/integration/brig_archive.py" "$S" "$out/valid.brig"
for bad in dotdot absolute layout symlink-out symlink-abs hardlink device fifo setuid sha missing unlisted \
           no-manifest after-manifest truncated; do
        python3 "$top/tests/integration/brig_archive.py" "$S" "$out/$bad.brig" --bad "$bad"
done
# Uncompressed too (libarchive reads them as well): mutations then reach the entries, not only zstd's frames.
for f in valid sha symlink-out hardlink; do
        zstd -q -d -c "$out/$f.brig" > "$out/$f.tar"
done
# A pack whose one delta is its own base, as its .idx claims; one whose delta expands a thousandfold; and a
# packed history, as brigd keeps one at rest (uncompressed, so mutations reach the pack: every pack goes
# through libgit2's indexer).
for bad in pack-self-delta pack-bomb; do
        python3 "$top/tests/integration/brig_archive.py" "$S" "$out/$bad.brig" --bad "$bad"
done
git --git-dir="$S/history.git" -c pack.writeReverseIndex=false -c repack.writeBitmaps=false repack -adnq
python3 "$top/tests/integration/brig_archive.py" "$S" "$tmp/packed.brig"
zstd -q -d -c "$tmp/packed.brig" > "$out/packed.tar"
# A memory scope's archive (`brig memory export`): the same layout without processes/, format brig-memory.
rm -rf "$S/processes"
sed -i 's/"brig-environment"/"brig-memory"/; s/"id":"seed"/"id":"owner\/0"/' "$S/brig-environment.json"
python3 "$top/tests/integration/brig_archive.py" "$S" "$out/memory.brig"
