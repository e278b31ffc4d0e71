"""Shared storage helpers: compression codecs, fsync, JSON files, code version."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

from zarr.codecs import BloscCodec, ZstdCodec

CODECS = ("blosc-zstd", "blosc-lz4", "zstd", "none")


def compressors(codec: str, level: int = 3) -> list:
    """Zarr v3 compressor list for a codec name.

    "blosc-zstd" (the default: byte shuffle makes the exponent bytes of smooth float
    fields compress well), "blosc-lz4" (faster, weaker), "zstd" (no shuffle) or
    "none". ``level`` is the compression level (1 fast .. 9 small for Blosc).
    """
    if codec == "blosc-zstd":
        return [BloscCodec(cname="zstd", clevel=level, shuffle="shuffle")]
    if codec == "blosc-lz4":
        return [BloscCodec(cname="lz4", clevel=level, shuffle="shuffle")]
    if codec == "zstd":
        return [ZstdCodec(level=level)]
    if codec == "none":
        return []
    raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")


def fsync_file(path: str | Path) -> None:
    """Force a file's bytes to stable storage (a rename is only atomic after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make a directory's entries (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file and directory below ``root`` (deepest first)."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_file(os.path.join(directory, name))
        fsync_dir(directory)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | Path, data: dict) -> None:
    """Write JSON and fsync it."""
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())


@functools.cache
def code_version() -> dict[str, str]:
    """Package version and, inside a git checkout, the commit (with "-dirty")."""
    try:
        version = importlib.metadata.version("neuralogcm_hpc")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"package_version": version, "git_commit": commit or "unknown"}
