"""Bounded background queue of Dask store tasks: the time loop never waits on disk
unless ``max_in_flight`` records are already pending (back-pressure)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import dask
import numpy as np


def _store_into(target, region: tuple[slice, ...]) -> Callable[[np.ndarray], None]:
    def store(data: np.ndarray) -> None:
        target[region] = data

    return store


def dask_store(
    pieces: Sequence[tuple[object, tuple[slice, ...], np.ndarray]],
) -> list:
    """Lazy Dask tasks writing each host array into ``target[region]``.

    Every piece is one Zarr chunk-aligned region, so the tasks touch disjoint
    chunks and need no lock. Measured per 19 MB record: ``da.from_array`` +
    ``da.store`` spent ~130 ms hashing the data and walking the Zarr array object,
    more than encoding and writing it; here the target travels inside a closure
    (dask does not traverse it) and ``pure=False`` gives random task keys.
    """
    return [
        dask.delayed(_store_into(target, region), pure=False)(data)
        for target, region, data in pieces
    ]


class WriteQueue:
    """Runs write jobs on a small thread pool with at most ``max_in_flight`` pending.

    ``submit`` blocks while the bound is reached, so memory held by pending host
    copies stays below ``max_in_flight`` records. ``max_in_flight=0`` runs every job
    synchronously in the caller (the baseline for the I/O benchmark). A failed job
    is raised from the next ``wait`` (not from ``submit``: the writer raises it at
    a collective point where all ranks agree, so no rank is left waiting on one
    that stopped); the run never loses output silently. ``waited_s`` accumulates
    the time callers spent blocked on I/O.
    """

    def __init__(self, max_in_flight: int = 4, workers: int = 2):
        if max_in_flight < 0:
            raise ValueError(f"max_in_flight must be >= 0, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max(max_in_flight, 1))
        self._pool = ThreadPoolExecutor(max(workers, 1)) if max_in_flight else None
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.waited_s = 0.0
        self.jobs = 0
        self.peak_in_flight = 0

    def submit(self, job: Callable[[], object]) -> None:
        """Run ``job`` in the background (``dask.compute`` of a store graph, ...)."""
        self.jobs += 1
        start = time.perf_counter()
        if self._pool is None:
            try:
                job()
            except Exception as exc:  # kept for wait(), like a background failure
                self._error = self._error or exc
            self.waited_s += time.perf_counter() - start
            return
        self._slots.acquire()
        self.waited_s += time.perf_counter() - start
        future = self._pool.submit(job)
        with self._lock:
            self._pending.add(future)
            self.peak_in_flight = max(self.peak_in_flight, len(self._pending))
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
            if future.exception() is not None and self._error is None:
                self._error = future.exception()
        self._slots.release()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait(self) -> None:
        """Block until every submitted job has finished; raise the first failure."""
        start = time.perf_counter()
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            for future in pending:
                future.exception()  # waits; failures are recorded by _done
        self.waited_s += time.perf_counter() - start
        self._raise_failure()

    @property
    def failure(self) -> BaseException | None:
        """The first failure so far (kept for ``wait``), without waiting."""
        with self._lock:
            return self._error

    def abandon(self) -> None:
        """Stop without waiting: queued jobs are cancelled, running ones finish."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"a background output write failed: {error}") from error
