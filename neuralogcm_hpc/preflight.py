"""Checks before the first step: usable output and checkpoint paths, enough memory."""

from __future__ import annotations

import math
import os
from pathlib import Path

from neuralogcm_hpc.config import Config, ConfigError

# Peak memory of one rank ~ base + FACTOR x (prognostic values of its tile, halo
# included) x bytes per value, plus, once per node, the library code every rank
# maps (jaxlib/XLA, ~0.15 GiB of file-backed pages the kernel shares between the
# ranks: counting them per rank, as RSS does, refused 64 ranks of a tiny tile on a
# 23.5 GiB node that holds them). Measured with /usr/bin/time and
# /proc/PID/smaps_rollup, float64: shallow water (rk4) 563 B per cell = 23.5 x 3
# fields x 8 B; primitive (double_gyre, 12 levels) 12.3 kB per column = 31 x 49
# levels x 8 B; private (anonymous) intercepts: shallow water 0.23 GiB per rank at
# 8 ranks after compiling (peak RSS 0.37 GiB = 0.23 private + 0.15 shared),
# primitive 0.45 GiB (its step is ~8x the program to compile). The bases round up.
# FACTOR covers grid metrics and masks, integrator stages, XLA temporaries and the
# output writer.
# Of each base, COMPILE_BYTES is the compiler's transient (primitive: a rank's
# private memory 156 -> 430 MiB while compiling its step, 218 MiB after
# malloc_trim), needed only by the ranks compiling at once (compile_concurrency).
FACTOR = 32
BASE_BYTES = {"shallow_water": 0.3 * 2**30, "primitive": 0.55 * 2**30}
COMPILE_BYTES = {"shallow_water": 0.05 * 2**30, "primitive": 0.25 * 2**30}
SHARED_BYTES = 0.15 * 2**30


def check(config: Config, context) -> None:
    """Raise ConfigError (on every rank) before anything is built or written."""
    # The file system is asked once, by rank 0, so all ranks take one decision.
    problem = _path_problem(config) if context.is_root else None
    problem = context.bcast(problem)
    if problem:
        raise ConfigError(problem)
    _check_memory(config, context)


def _path_problem(config: Config) -> str | None:
    for key, path in (
        ("output.path (--output)", config.output.path),
        ("checkpoint.dir (--checkpoint-dir)", config.checkpoint.dir),
    ):
        if path:
            try:
                problem = _directory_problem(Path(path))
            except OSError as error:  # e.g. a parent we may not list
                problem = f"cannot be checked: {error.strerror or error}"
            if problem:
                return f"{key} {path}: {problem}"
    return None


def _directory_problem(path: Path) -> str | None:
    """Why ``path`` cannot be (or become) a directory this process writes to."""
    if path.exists():
        if not path.is_dir():
            return "is an existing file, not a directory; choose another path"
        return None if _writable(path) else "directory is not writable"
    parent = path.parent
    while not parent.exists():  # the nearest existing ancestor decides
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is a file, not a directory"
    if not _writable(parent):
        return f"cannot be created: {parent} is not writable"
    return None


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def values_per_cell(config: Config) -> int:
    """Prognostic values per horizontal cell: u, v, ssh (+ T, S per level)."""
    nz = config.grid.nz
    return 3 if config.physics.mode == "shallow_water" else 4 * nz + 1


def rank_bytes(config: Config, px: int, py: int) -> float:
    """Estimated peak memory of one rank for a px x py tiling (see FACTOR)."""
    g = config.grid
    cells = (g.nx // px + 2 * g.halo) * (g.ny // py + 2 * g.halo)
    size = 4 if config.precision == "float32" else 8
    fields = FACTOR * values_per_cell(config) * size * cells
    return BASE_BYTES[config.physics.mode] + fields


def _check_memory(config: Config, context) -> None:
    """The CPU backend keeps fields in host memory: refuse a tile that cannot fit.

    Budget per rank = MemAvailable / ranks on this node; every rank checks its node
    and the job stops on all ranks if any node is short. GPU runs are not checked
    (fields live in device memory, which JAX preallocates and reports itself)."""
    import jax

    available = _mem_available()
    if jax.default_backend() != "cpu" or available is None:
        return
    local = _local_ranks(context)
    compiling = min(local, config.compile_concurrency or local)
    idle_compilers = (local - compiling) * COMPILE_BYTES[config.physics.mode]
    budget = (available - SHARED_BYTES + idle_compilers) / local
    need = min(rank_bytes(config, px, py) for px, py in _layouts(config, context.size))
    short = context.any_rank(need > budget)
    if not short:
        return
    fits = _ranks_that_fit(config, budget)
    g = config.grid
    advice = (
        f"run on at least {fits} ranks ({local} per node) or use a smaller grid"
        if fits
        else "use a smaller grid or fewer ranks per node"
    )
    raise ConfigError(
        f"the {g.nx} x {g.ny} x {g.nz} grid in {config.precision} needs about "
        f"{need / 2**30:.1f} GiB per rank on {context.size} rank(s) (estimate: "
        f"{FACTOR} x values x bytes x tile cells + "
        f"{BASE_BYTES[config.physics.mode] / 2**30:.2f} GiB), but some node has only "
        f"{budget / 2**30:.1f} GiB available per rank ((MemAvailable - "
        f"{SHARED_BYTES / 2**30:.2f} GiB shared code) / {local} local ranks, "
        f"{compiling} compiling at once); {advice}"
        + ("" if compiling < local else "; or limit how many ranks compile at once "
           "(--set compile_concurrency=N, N = the node's cores)")
    )


def _layouts(config: Config, ranks: int) -> list[tuple[int, int]]:
    d, g = config.decomposition, config.grid
    if d.px and d.py:
        return [(d.px, d.py)]
    found = [(px, ranks // px) for px in _divisors(ranks) if g.nx % px == 0]
    found = [(px, py) for px, py in found if g.ny % py == 0]
    return found or [(ranks, 1)]  # no even tiling: the decomposition will say so


def _ranks_that_fit(config: Config, budget: float) -> int | None:
    """The smallest rank count with an even tiling whose tile fits ``budget``."""
    g = config.grid
    best = None
    for px in _divisors(g.nx):
        for py in _divisors(g.ny):
            if rank_bytes(config, px, py) <= budget and (
                best is None or px * py < best
            ):
                best = px * py
    return best


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _mem_available() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _local_ranks(context) -> int:
    """Ranks sharing this node's memory (the launcher's count, else all ranks)."""
    for name in (
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return context.size
