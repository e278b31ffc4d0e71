"""Persistent XLA compilation cache: a restarted or repeated run loads its programs."""

from __future__ import annotations

import os
from pathlib import Path

from neuralogcm_hpc.user_cache import user_cache_dir

ENV_VAR = "NEURALOGCM_COMPILATION_CACHE"  # a directory, or "off"; beats the config


def cache_dir(setting: str, env: dict | None = None) -> Path | None:
    """The cache directory a run uses: ``$NEURALOGCM_COMPILATION_CACHE`` if set,
    else the ``compilation_cache`` setting; ``auto`` is
    ``$XDG_CACHE_HOME/neuralogcm_hpc/jax`` (``~/.cache/...``), ``off`` is None."""
    env = os.environ if env is None else env
    value = (env.get(ENV_VAR) or setting or "auto").strip()
    if value.lower() == "off":
        return None
    if value.lower() == "auto":
        return user_cache_dir("jax", env)
    return Path(value).expanduser()


def enable_compilation_cache(setting: str) -> Path | None:
    """Point JAX's persistent compilation cache at ``cache_dir(setting)``; call
    before the first compilation. Every program is cached (no minimum compile
    time): start-up is many small programs besides the step (initial state,
    health, diagnostics), ~0.1-0.5 s each on the CPU. Ranks share the
    directory; an entry is keyed by the program, the backend and XLA_FLAGS, so
    a rank loads only a program identical to its own, and a damaged entry is
    recompiled with a warning by JAX. Programs with halo exchanges miss on
    every run: mpi4jax puts the communicator's handle (a pointer) into them."""
    import jax

    path = cache_dir(setting)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home on a compute node: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
