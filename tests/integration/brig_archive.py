#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes an environment archive (docs/archive.md) from a directory, as the tests' reference: the directory
holds brig-environment.json, workspace/, history.git/ and processes/; MANIFEST.json is computed here. With
--bad CASE it writes one of the malformed archives an import must refuse (tests/integration/test_env_import.c).

    brig_archive.py SRC OUT [--bad CASE]

A valid archive is written by `tar --zstd`; a malformed one by Python's tarfile (pax), compressed by zstd(1).
Either way `tar --zstd -xf OUT` reads it back."""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zlib

TOP = ["brig-environment.json", "workspace", "history.git", "processes"]


def walk(src):
    for top in TOP:
        path = os.path.join(src, top)
        if not os.path.lexists(path):
            continue
        yield top
        if os.path.isdir(path) and not os.path.islink(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(dirs + files):
                    yield os.path.relpath(os.path.join(root, name), src)


def info_of(src, rel):
    st = os.lstat(os.path.join(src, rel))
    ti = tarfile.TarInfo(rel)
    ti.mode = st.st_mode & 0o7777
    ti.mtime = int(st.st_mtime)
    if os.path.islink(os.path.join(src, rel)):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(os.path.join(src, rel))
        ti.mode = 0o777
        return ti, None
    if os.path.isdir(os.path.join(src, rel)):
        ti.type = tarfile.DIRTYPE
        return ti, None
    with open(os.path.join(src, rel), "rb") as f:
        data = f.read()
    ti.size = len(data)
    return ti, data


def manifest_entry(ti, data):
    if ti.type == tarfile.SYMTYPE:
        return {"path": ti.name, "type": "symlink", "target": ti.linkname}
    if ti.type == tarfile.DIRTYPE:
        return {"path": ti.name, "type": "dir", "mode": ti.mode}
    if not ti.isreg() or data is None:  # what no valid archive has
        return {"path": ti.name, "type": "other", "mode": ti.mode}
    return {"path": ti.name, "type": "file", "mode": ti.mode, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


class Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def varint(n):
    """A delta header's size: 7 bits a byte, low first."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def pack_entry_header(type_, size):
    """A pack entry's type and size: 4 bits of size in the first byte, 7 in each next."""
    out, c = bytearray(), (type_ << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(c | 0x80)
        c, size = size & 0x7F, size >> 7
    out.append(c)
    return bytes(out)


def self_delta_pack(oid):
    """A version 2 pack of one OBJ_REF_DELTA entry whose base is oid, and a version 2 index that says oid is
    that entry: a reader that trusts the index follows the delta to itself, forever (libgit2 1.5)."""
    delta = varint(2) + varint(2) + bytes([2]) + b"hi"  # base size, result size, insert "hi"
    head = pack_entry_header(7, len(delta))  # OBJ_REF_DELTA
    entry = head + oid + zlib.compress(delta)
    body = b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + entry
    pack = body + hashlib.sha1(body).digest()
    fanout = b"".join((0 if i < oid[0] else 1).to_bytes(4, "big") for i in range(256))
    idx = (b"\xfftOc" + (2).to_bytes(4, "big") + fanout + oid + zlib.crc32(entry).to_bytes(4, "big") +
           (12).to_bytes(4, "big") + pack[-20:])
    return pack, idx + hashlib.sha1(idx).digest()


def delta_bomb_pack():
    """A valid version 2 pack: a blob of 64 KiB of zeros, and a delta of a thousand one-byte copies of all
    of it: 64 MiB, from a pack of a few hundred bytes."""
    base = bytes(1 << 16)
    entry = pack_entry_header(3, len(base)) + zlib.compress(base)  # OBJ_BLOB
    oid = hashlib.sha1(b"blob %d\0" % len(base) + base).digest()
    delta = varint(len(base)) + varint(1024 << 16) + b"\x80" * 1024  # copy offset 0, size 0 = 64 KiB
    entry += pack_entry_header(7, len(delta)) + oid + zlib.compress(delta)  # OBJ_REF_DELTA
    body = b"PACK" + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + entry
    return body + hashlib.sha1(body).digest()


def one_blob_pack():
    """A valid version 2 pack of one blob."""
    data = b"hello\n" * 100
    entry = pack_entry_header(3, len(data)) + zlib.compress(data)  # OBJ_BLOB
    body = b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + entry
    return body + hashlib.sha1(body).digest()


def extra(case):
    """The entries a bad case adds: a list of (TarInfo, data), or one, or None."""
    def file(name, data=b"x", mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), mode
        return ti, data

    def special(name, type_, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode = type_, link, 0o644
        return ti, None

    return {
        "dotdot": lambda: file("workspace/../evil"),
        "absolute": lambda: file("/tmp/brig-evil"),
        "layout": lambda: file("etc/passwd"),
        "symlink-out": lambda: special("workspace/out", tarfile.SYMTYPE, "../../../etc/passwd"),
        "symlink-abs": lambda: special("workspace/abs", tarfile.SYMTYPE, "/etc/passwd"),
        "symlink-chain": lambda: special("workspace/dir/chain", tarfile.SYMTYPE, "up/../../x"),
        "alternates": lambda: file("history.git/objects/info/alternates", b"/var/lib/brig/environments/x/history.git/objects\n"),
        "symlink-history": lambda: special("history.git/link", tarfile.SYMTYPE, "HEAD"),
        "hardlink": lambda: special("workspace/hard", tarfile.LNKTYPE, "workspace/a.txt"),
        "device": lambda: special("workspace/dev", tarfile.CHRTYPE),
        "fifo": lambda: special("workspace/fifo", tarfile.FIFOTYPE),
        "setuid": lambda: file("workspace/suid", b"#!/bin/sh\n", 0o4755),
        "mode": lambda: file("workspace/wide", b"x", 0o666),
        "deep": lambda: file("workspace/" + "d/" * 250 + "f"),
        "processes-dir": lambda: file("processes/sub/p1.json", b"{}"),
        "pack-self-delta": lambda: [file(PACK + ".pack", self_delta_pack(OID)[0], 0o444),
                                    file(PACK + ".idx", self_delta_pack(OID)[1], 0o444)],
        "pack-bomb": lambda: file(PACK + ".pack", delta_bomb_pack(), 0o444),
        "pack-count": lambda: file(PACK + ".pack", one_blob_pack()[:8] + b"\xff" * 4 + one_blob_pack()[12:], 0o444),
        "pack-truncated": lambda: file(PACK + ".pack", one_blob_pack()[:-30], 0o444),
        "multi-pack-index": lambda: file("history.git/objects/pack/multi-pack-index", b"MIDX", 0o444),
        "commit-graph": lambda: file("history.git/objects/info/commit-graph", b"CGPH", 0o444),
    }.get(case, lambda: None)()


PACK = "history.git/objects/pack/pack-" + "1" * 40
OID = bytes.fromhex("ce013625030ba8dba906f756967f9e9ca394464a")  # any id


def main():
    src, out = sys.argv[1], sys.argv[2]
    case = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--bad" else None
    entries = [info_of(src, rel) for rel in walk(src)]
    added = extra(case)
    for e in [added] if isinstance(added, tuple) else added or []:
        entries.insert(len(entries) - 1 if case != "layout" else len(entries), e)
    if case == "memory":  # a memory scope's archive (`brig memory export`), which `brig env import` refuses
        ti, data = entries[0]
        data = data.replace(b'"brig-environment"', b'"brig-memory"')
        ti.size = len(data)
        entries[0] = (ti, data)
    big = None
    if case == "bomb":  # 64 MiB of zeros: a few KiB compressed, over a small quota
        big = tarfile.TarInfo("workspace/zeros")
        big.size, big.mode = 64 << 20, 0o644
    manifest = {"version": 1, "entries": [manifest_entry(ti, d) for ti, d in entries]}
    if big:
        manifest["entries"].append({"path": big.name, "type": "file", "mode": 0o644, "size": big.size,
                                    "sha256": "0" * 64})
    if case == "sha":
        for e in manifest["entries"]:
            if e["path"].startswith("workspace/") and e["type"] == "file":
                e["sha256"] = "0" * 64
                break
    if case == "size":
        for e in manifest["entries"]:
            if e["path"].startswith("workspace/") and e["type"] == "file":
                e["size"] += 1
                break
    if case == "unlisted":
        manifest["entries"].pop()
    if case == "missing":
        manifest["entries"].append({"path": "workspace/ghost", "type": "file", "mode": 420, "size": 0,
                                    "sha256": hashlib.sha256(b"").hexdigest()})
    mtext = json.dumps(manifest, indent=1).encode()
    if case is None:  # a valid one, as tar(1) writes it: the entries in the documented order
        with tempfile.TemporaryDirectory() as mdir:
            with open(os.path.join(mdir, "MANIFEST.json"), "wb") as f:
                f.write(mtext)
            names = [ti.name for ti, _ in entries]
            subprocess.run(["tar", "--zstd", "--format=pax", "--no-recursion", "--numeric-owner",
                            "--owner=0", "--group=0", "-cf", out, "-C", src, *names, "-C", mdir,
                            "MANIFEST.json"], check=True)
        return
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        if big:
            t.addfile(big, io.BufferedReader(Zeros(big.size)))
        if case != "no-manifest":
            ti = tarfile.TarInfo("MANIFEST.json")
            ti.size, ti.mode = len(mtext), 0o644
            t.addfile(ti, io.BytesIO(mtext))
        if case == "after-manifest":
            ti = tarfile.TarInfo("workspace/late")
            t.addfile(ti, io.BytesIO(b""))
    data = subprocess.run(["zstd", "-q", "-c"], input=tar_bytes.getvalue(), check=True,
                          stdout=subprocess.PIPE).stdout
    if case == "truncated":
        data = data[: len(data) // 2]
    if case == "corrupt":
        data = data[:8] + bytes(b ^ 0x5A for b in data[8:64]) + data[64:]
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
