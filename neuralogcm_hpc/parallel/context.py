"""Which process this is: rank, size and the communicators, with or without MPI."""

from __future__ import annotations

import dataclasses
import functools
import os

# Launchers export the world size before Python starts; reading it first lets a
# single-process run (laptop, GPU image without mpi4jax) skip importing MPI at all.
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


class RootError(RuntimeError):
    """A failure of work done on rank 0 for all ranks, raised on every rank."""


@dataclasses.dataclass(frozen=True, eq=False)
class ParallelContext:
    """This process's place in the job.

    ``jax_comm`` is a clone of COMM_WORLD reserved for mpi4jax inside jitted code;
    ``host_comm`` is a second clone for mpi4py calls on the host (error agreement,
    broadcasts). Mixing the two kinds of call on one communicator can deadlock.
    Both are None in a single-process run. ``mpi_libraries`` says which MPI
    library mpi4py and mpi4jax's bridge run on (checked equal at start-up).
    """

    rank: int
    size: int
    jax_comm: object | None
    host_comm: object | None
    mpi_libraries: str | None = None

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def any_rank(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (host-side, blocking)."""
        if self.host_comm is None:
            return flag
        from mpi4py import MPI

        return bool(self.host_comm.allreduce(bool(flag), op=MPI.LOR))

    def bcast(self, value, root: int = 0):
        """Rank ``root``'s ``value`` on every rank (host-side, plain builtins only)."""
        if self.host_comm is None:
            return value
        return self.host_comm.bcast(value, root=root)

    def gather(self, value, root: int = 0) -> list | None:
        """Every rank's ``value`` in rank order on ``root`` (None elsewhere)."""
        if self.host_comm is None:
            return [value]
        return self.host_comm.gather(value, root=root)

    def allgather(self, value) -> list:
        """Every rank's ``value`` in rank order, on every rank."""
        if self.host_comm is None:
            return [value]
        return self.host_comm.allgather(value)

    def alltoall(self, values: list) -> list:
        """``values[r]`` sent to rank r; returns what each rank sent here, in
        rank order (host-side, plain builtins and numpy arrays)."""
        if self.host_comm is None:
            return list(values)
        return self.host_comm.alltoall(values)

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (after an error only this rank saw:
        the others would otherwise wait forever in their next exchange)."""
        if self.size > 1:
            from mpi4py import MPI

            MPI.COMM_WORLD.Abort(code)

    def on_root(self, work):
        """Run ``work()`` on rank 0 only and return its result on every rank; an
        exception there is re-raised on every rank as ``RootError`` (never a rank
        left waiting): decisions that read the file system are taken once."""
        result, error = None, None
        if self.is_root:
            try:
                result = work()
            except Exception as exc:  # must reach every rank, not hang them
                error = f"{type(exc).__name__}: {exc}"
        result, error = self.bcast((result, error))
        if error is not None:
            raise RootError(error)
        return result

    def barrier(self) -> None:
        if self.host_comm is not None:
            self.host_comm.Barrier()


def _launched_size() -> int | None:
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return None


@functools.cache
def get_context() -> ParallelContext:
    """The process's context; MPI is imported only when the job has several ranks,
    and then mpi4py and mpi4jax must run on the same MPI library (else
    ``MpiMismatchError`` on every rank, before any communication)."""
    launched = _launched_size()
    if launched is None or launched == 1:
        return ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if world.Get_size() == 1:  # e.g. SLURM_NTASKS set, but started without srun
        return ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    from neuralogcm_hpc.parallel.mpi_check import check_mpi_libraries

    libraries = check_mpi_libraries().describe()
    return ParallelContext(
        rank=world.Get_rank(),
        size=world.Get_size(),
        jax_comm=world.Clone(),
        host_comm=world.Clone(),
        mpi_libraries=libraries,
    )
