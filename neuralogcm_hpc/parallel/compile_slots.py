"""At most N ranks of a node compile at once, and each hands its compiler's memory
back when done (setting ``compile_concurrency``).

Why: compiling the primitive-equation step takes one CPU rank's private memory
from 156 to ~430 MiB (/proc/self/smaps_rollup, `double_gyre`), and glibc keeps
the freed heap (218 MiB after ``malloc_trim``). 64 ranks on a 2-core, 23.5 GiB
node all compile at once: 64 x 430 MiB does not fit, 64 x ~250 MiB + 2 x 270
MiB does. When the ranks outnumber the cores they share the cores anyway, so
taking turns costs little time.

How: JAX reports each program's lowering and compilation as monitoring events.
A rank takes a slot (an exclusive ``flock`` on one of N files in a node-local
directory) when a lowering ends, which is right before its compilation, and
gives it back, after ``malloc_trim``, when that compilation ends or the program
came from the persistent cache. A rank holds a slot only while compiling, never
while communicating, so turns cannot deadlock the halo exchanges; a dead rank's
slots are freed by the kernel with its file descriptors.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import tempfile
import time

from neuralogcm_hpc.parallel.context import ParallelContext

_POLL_S = 0.05  # waiting for a slot sleeps: it must not take a shared core
_LOWERED = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_COMPILED = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


class _Slots:
    def __init__(self, directory: str, count: int):
        self.files = [
            os.open(os.path.join(directory, f"slot{i}"), os.O_RDWR | os.O_CREAT)
            for i in range(count)
        ]
        self.held: int | None = None

    def take(self) -> None:
        if self.held is not None:  # a lowering whose compilation never came
            return
        while True:
            for fd in self.files:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                self.held = fd
                return
            time.sleep(_POLL_S)

    def give_back(self) -> None:
        if self.held is None:
            return
        _release_freed_memory()
        fcntl.flock(self.held, fcntl.LOCK_UN)
        self.held = None


def limit_concurrent_compilation(context: ParallelContext, slots: int):
    """From now on at most ``slots`` ranks of each node compile at once (0 or a
    one-rank job: no limit). Collective: every rank calls it once, before its
    first compilation. Returns a function that lifts the limit again (JAX
    keeps its listeners; they then do nothing)."""
    if slots <= 0 or context.host_comm is None:
        return lambda: None
    import jax
    from mpi4py import MPI

    node = context.host_comm.Split_type(MPI.COMM_TYPE_SHARED)
    directory = tempfile.mkdtemp(prefix="neuralogcm-slots-") if node.rank == 0 else None
    directory = node.bcast(directory)
    turns = _Slots(directory, slots)
    node.Barrier()  # every rank has opened the files: the directory may go
    if node.rank == 0:
        for i in range(slots):
            os.unlink(os.path.join(directory, f"slot{i}"))
        os.rmdir(directory)
    node.Free()

    active = [True]

    def on_duration(event: str, _seconds: float, **_kwargs) -> None:
        if event == _LOWERED and active[0]:
            turns.take()
        elif event == _COMPILED:
            turns.give_back()

    def on_event(event: str, **_kwargs) -> None:
        if event == _CACHE_HIT:
            turns.give_back()

    def lift() -> None:
        active[0] = False
        turns.give_back()

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    return lift


def _release_freed_memory() -> None:
    """Return the heap the compiler freed to the OS (glibc; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
