"""Test-wide settings: float64 everywhere, shared fixtures for serial and MPI runs."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)

from neuralogcm_hpc.parallel.context import ParallelContext, get_context  # noqa: E402


@pytest.fixture
def context() -> ParallelContext:
    """This process's context: serial under plain pytest, N ranks under mpirun."""
    return get_context()


@pytest.fixture
def serial_context() -> ParallelContext:
    """A one-rank context for serial reference runs inside an MPI job."""
    return ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)


@pytest.fixture
def shared_tmp_path(tmp_path, context):
    """One temporary directory that every rank sees (rank 0's tmp_path)."""
    from pathlib import Path

    return Path(context.bcast(str(tmp_path)))


@pytest.fixture
def layout(context):
    """kind -> (px, py) of a "tall", "wide" or "square" tiling of this job's
    ranks (4: 4 x 1, 1 x 4, 2 x 2); skips the test if there is none besides
    the serial run (1 rank; square on 2)."""

    def tiling(kind: str) -> tuple[int, int]:
        size = context.size
        side = round(size**0.5)
        found = {"tall": (size, 1), "wide": (1, size), "square": (side, side)}[kind]
        if size == 1 or found[0] * found[1] != size:
            pytest.skip(f"no {kind} layout of {size} rank(s) besides serial")
        return found

    return tiling
