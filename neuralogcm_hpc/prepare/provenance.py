"""Provenance of prepared data: source files with their sha256, sizes and times."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20  # bytes read at a time: hashing never holds a file in memory


def sha256(path: Path) -> str:
    """sha256 of a file, or of a directory store (each file's relative path and
    contents, in sorted order)."""
    digest = hashlib.sha256()
    files = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with f.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def describe(files: list[Path]) -> list[dict]:
    """[{path, sha256, bytes}] of each source file or store."""
    out = []
    for f in files:
        size = (
            sum(p.stat().st_size for p in f.rglob("*") if p.is_file())
            if f.is_dir()
            else f.stat().st_size
        )
        out.append({"path": str(f.resolve()), "sha256": sha256(f), "bytes": size})
    return out
