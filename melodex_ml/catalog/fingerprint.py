"""A cheap signature of the library roots, for sensors that only need to know "did anything change"."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def library_fingerprint(roots: Iterable[Path]) -> str:
    """Hash of every entry's path, size and mtime: stat calls only, no file is opened."""
    digest = hashlib.blake2b(digest_size=16)
    for root in sorted(str(r) for r in roots):
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                digest.update(f"!{folder}".encode("utf-8", "surrogateescape"))
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    stat = entry.stat()
                except OSError:
                    continue
                digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
