"""A cheap signature of folder trees: "did anything change since last time?" without opening a file.

It is the data version of the library roots (what the scan reads) and the identity of a folder of
model weights, so it sees what the scan sees: directory symlinks are followed, each real folder
once, and hidden entries are left out like the scan leaves them out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def library_fingerprint(roots: Iterable[Path | str]) -> str:
    """Hash of every entry's path, size and mtime under ``roots``: stat calls only."""
    digest = hashlib.blake2b(digest_size=16)
    visited: set[str] = set()
    for root in sorted(str(r) for r in roots):
        stack = [root]
        while stack:
            folder = stack.pop()
            real = os.path.realpath(folder)
            if real in visited:  # a symlink loop, or a folder linked twice: the scan reads it once too
                continue
            visited.add(real)
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                digest.update(f"!{folder}".encode("utf-8", "surrogateescape"))
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir():  # follows symlinks, as the scan does
                        stack.append(entry.path)
                        continue
                    stat = entry.stat()
                except OSError:
                    continue
                digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
