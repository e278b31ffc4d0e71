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
