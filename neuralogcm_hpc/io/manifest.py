"""Checkpoint manifests: reading them and checking every entry against its file."""

from __future__ import annotations

import json
from pathlib import Path

from neuralogcm_hpc.io.storage import sha256_file

FORMAT = "neuralogcm_hpc-checkpoint-1"


def describe(rel: str) -> str:
    """'tiled/u/c/0/1' -> "array 'u' (tiled), chunk c/0/1" for error messages."""
    parts = rel.split("/")
    if len(parts) >= 2 and parts[0] in ("tiled", "replicated"):
        what = (
            "metadata" if parts[-1] == "zarr.json" else f"chunk {'/'.join(parts[2:])}"
        )
        return f"array '{parts[1]}' ({parts[0]}), {what}"
    return f"file {rel}"


def plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def manifest_of(path: Path) -> dict | str:
    """The parsed manifest, or why it cannot be used."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        if not isinstance(manifest.get("files"), dict):
            return "manifest.json has no file table"
        return manifest
    except (OSError, ValueError, AttributeError) as exc:
        return f"manifest.json missing or unreadable ({exc})"


def problems_in(path: Path, manifest: dict | str, rank: int = 0, size: int = 1):
    """What is wrong with checkpoint ``path``; this rank checks every size-th file.

    Entries must be plain relative names that stay inside ``path`` after
    following symlinks: a manifest naming /etc/hostname or ../other/ckpt-7
    must not verify, let alone be read.
    """
    if isinstance(manifest, str):
        return [manifest]
    problems = [] if manifest.get("format") == FORMAT else ["unknown format"]
    files = sorted(manifest["files"].items())
    if "metadata.json" not in manifest["files"]:
        problems.append("metadata.json is not in the manifest")
    root = path.resolve()
    for rel, digest in files[rank::size]:
        parts = rel.split("/")
        inside = (
            not rel.startswith("/")
            and all(p not in ("", ".", "..") for p in parts)
            and (path / rel).resolve().is_relative_to(root)
        )
        if not inside:
            problems.append(f"manifest entry {rel!r} is not a file inside {path.name}")
            continue
        try:
            ok = sha256_file(path / rel) == digest
        except OSError:
            ok = False
        if not ok:
            problems.append(f"{describe(rel)}: checksum mismatch or missing file")
    return problems
