"""Trained parameter sets shipped with the package, found by name for --params."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def shipped() -> list[str]:
    """Names of the shipped sets (directories holding one training checkpoint)."""
    return sorted(p.name for p in HERE.iterdir() if p.is_dir()
                  and not p.name.startswith(("_", ".")))


def resolve(value: str | Path) -> Path:
    """``value`` as a path; a bare name of a shipped set (e.g.
    ``eddying_gyre_40km``) that is not an existing path means that set."""
    path = Path(value)
    if not path.exists() and path.name == str(value) and (HERE / path).is_dir():
        return HERE / path
    return path
