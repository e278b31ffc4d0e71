"""The per-user cache directory (``$XDG_CACHE_HOME/neuralogcm_hpc``): compiled
programs and land fractions that later runs reuse."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(name: str, env: dict | None = None) -> Path:
    """``$XDG_CACHE_HOME/neuralogcm_hpc/<name>``, ``~/.cache/...`` by default."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neuralogcm_hpc" / name
