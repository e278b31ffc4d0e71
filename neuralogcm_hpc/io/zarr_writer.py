"""One global, CF-described Zarr v3 output store written by every rank through Dask.

Usage (the Simulation owns the loop; all calls are collective, every rank calls them
at the same steps)::

    writer = OutputWriter(path, decomposition, ctx, variables, coords, dt=model.dt,
                          attrs={"config": cfg.to_json()}, snapshot_every=N,
                          average_every=M, mode="a" if resuming else "w",
                          resume_step=step0)
    if resuming:
        writer.restore_average_state(restored.tiled, restored.replicated)
    writer.update(step0, model.fields(state))      # once at the start of a segment
    for each advance call:
        state = advance(state, ...)
        writer.update(step, model.fields(state))   # snapshots / means on schedule
        if checkpoint due:
            tiled, replicated = writer.checkpoint_state()   # flushes pending writes
            checkpointer.save(step, {**fields, **tiled}, {**..., **replicated}, meta)
    writer.write(step, model.fields(state))        # final snapshot (skipped if written)
    writer.close()

Layout: snapshot variables ``name(time, [depth,] y, x)`` with coordinates ``time``
(seconds since ``time_units``' epoch, time = step * dt) and ``step``; time means
``name_mean(time_mean, ...)`` with ``time_mean_bounds`` and ``cell_methods``. A chunk
is one tile at one record; ``records_per_block`` consecutive chunks of a tile share
one file (a Zarr v3 shard, see OutputLayout; an existing store keeps its own
layout). On ``mode="a"`` records with step >= resume_step (means
ending after it) are dropped first, so a resumed run continues the time axis with
no duplicate and no gap. ``mode="w"`` refuses an existing store unless
``overwrite`` (the old store is renamed aside, then deleted). Rank 0 holds the
lock file ``<path>.lock`` from open to close.

A record joins the time axis only once every rank has written its chunks and
every earlier record is in: before each record the ranks exchange how far they
got and whether a write failed (one small allgather). A failure stops every rank
at that point with an OutputError; the axis then ends at the last record all
ranks completed, so no hole, no fill value and no later record is ever visible,
and a checkpoint (which flushes first) never follows a failed record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import dask
import numpy as np
import zarr

from neuralogcm_hpc.io.locks import FileLock
from neuralogcm_hpc.io.output_store import (
    MARKER,
    CoordSpec,
    OutputError,
    OutputLayout,
    VariableSpec,
    consolidate,
    is_ours,
    unbounded,
)
from neuralogcm_hpc.io.routing import ChunkRouting
from neuralogcm_hpc.io.storage import code_version, compressors
from neuralogcm_hpc.io.write_queue import WriteQueue, dask_store
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

__all__ = ["CoordSpec", "OutputError", "OutputWriter", "VariableSpec"]


@dataclasses.dataclass
class _Stream:
    """Snapshots ("") or time means ("_mean"): a time axis and its variables."""

    suffix: str
    count: int = 0
    last_step: int = -1


class OutputWriter:
    """Writes interior tiles of named fields into one global store; see module doc."""

    def __init__(
        self,
        path: str | Path,
        decomposition: Decomposition,
        context: ParallelContext,
        variables: Mapping[str, VariableSpec],
        coords: Mapping[str, CoordSpec],
        dt: float,
        *,
        attrs: Mapping[str, object] | None = None,
        codec: str = "blosc-zstd",
        level: int = 3,
        max_in_flight: int = 4,
        snapshot_every: int = 0,
        average_every: int = 0,
        mode: str = "w",
        overwrite: bool = False,
        resume_step: int = 0,
        records_per_block: int = 1,
        time_units: str = "seconds since 2000-01-01 00:00:00",
        calendar: str = "proleptic_gregorian",
    ):
        if mode not in ("w", "a"):
            raise ValueError(
                f"mode must be 'w' (new store) or 'a' (append), not {mode!r}"
            )
        if snapshot_every < 0 or average_every < 0:
            raise ValueError("snapshot_every and average_every must be >= 0")
        if records_per_block < 1:
            raise ValueError(f"records_per_block must be >= 1, not {records_per_block}")
        self.path = Path(path)
        self.decomposition, self.context = decomposition, context
        self.variables, self.coords = dict(variables), dict(coords)
        self.dt, self.snapshot_every, self.average_every = (
            dt,
            snapshot_every,
            average_every,
        )
        self._layout = OutputLayout(
            self.variables,
            self.coords,
            decomposition,
            compressors(codec, level),
            {"units": time_units, "calendar": calendar},
            records_per_block,
        )
        self._layout.check()
        self._overwrite = overwrite
        self._lock = FileLock(f"{self.path}.lock", f"output store {self.path}")
        self._streams = {"": _Stream("")}
        if average_every:
            self._streams["_mean"] = _Stream("_mean")
        error, counts = None, None
        if context.is_root:
            try:
                # a new store may go into a new directory (runs/ on a fresh clone)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock.acquire()
                counts = self._prepare(mode, resume_step, dict(attrs or {}))
            except Exception as exc:  # any failure must reach every rank, not hang
                self._lock.release()
                error = f"{type(exc).__name__}: {exc}"
        error, counts = context.bcast((error, counts))
        if error:
            raise OutputError(f"output store {self.path}: {error}")
        context.barrier()  # metadata exists before any rank opens it
        # never the consolidated snapshot: it lags the arrays' own metadata
        self._group = zarr.open_group(
            self.path, mode="r+", zarr_format=3, use_consolidated=False
        )
        for suffix, (count, last) in counts.items():
            self._streams[suffix].count, self._streams[suffix].last_step = count, last
        self._views = {}
        for stream in self._streams.values():
            names = [n + stream.suffix for n in self.variables]
            names += ["time" + stream.suffix, "step" + stream.suffix]
            names += ["time_mean_bounds"] if stream.suffix else []
            self._views.update({n: unbounded(self._group[n]) for n in names})
        # rank 0's handles for growing the time axis; only they resize, so their
        # in-memory shapes stay the truth
        self._resizable = {n: self._group[n] for n in self._views}
        first = self._group[next(iter(self.variables))]
        # the unit one rank must own whole is the file: the shard when there is one
        unit = first.shards or first.chunks
        self._routing = ChunkRouting(decomposition, unit[-2:], context.rank)
        self._queue = WriteQueue(max_in_flight)
        self._meta_lock = threading.Lock()
        # Records sharing a shard are read-modify-write of one file: two writer
        # threads updating it at once would lose one record, so such writes take
        # turns (the time loop still does not wait for them).
        self._shard_lock = threading.Lock() if unit[0] > 1 else contextlib.nullcontext()
        self._uncommitted: list[tuple] = []  # rank 0: records not yet in metadata
        # records are numbered in submission order (both streams); under _meta_lock
        self._submitted, self._done, self._written = 0, set(), 0
        self._agreed = 0  # records 0.._agreed-1 are on disk on every rank
        self._broken = False  # a failure was agreed: no more writes or commits
        self._sums: dict[str, np.ndarray] = {}
        self._mean_state = np.array([0, resume_step, resume_step], np.int64)
        self._previous_update: int | None = None

    # -- public API -----------------------------------------------------------
    def update(self, step: int, fields: Mapping[str, object]) -> None:
        """Apply the schedules at ``step`` (call at segment start and after each
        advance): snapshot when ``step % snapshot_every == 0``; add to the running
        time mean (rectangle rule: each sample weighs the steps since the last one)
        and write the mean when ``step % average_every == 0``."""
        previous, self._previous_update = self._previous_update, step
        for every in (self.snapshot_every, self.average_every):
            if every and previous is not None and step // every > previous // every:
                if step % every:
                    raise OutputError(
                        f"step {step} jumped over an output time (every {every} "
                        "steps); make output intervals multiples of "
                        "time.steps_per_call"
                    )
        host = None  # one host copy serves the snapshot and the running mean
        if self.snapshot_every and step % self.snapshot_every == 0:
            host = self._host(fields)
            self._snapshot(step, host)
        if self.average_every:
            self._accumulate(step, fields if host is None else host)

    def write(self, step: int, fields: Mapping[str, object]) -> None:
        """Write a snapshot record now (skipped if ``step`` is already written)."""
        self._snapshot(step, self._host(fields))

    def flush(self) -> None:
        """Wait until every pending record of every rank is on disk (collective)."""
        self._settle()

    def close(self) -> None:
        """Flush and stop the background writers (collective, unless a failure
        was already agreed: then every rank only stops its own writers)."""
        try:
            if not self._broken:
                self._settle()
        finally:
            self._queue.abandon()
            if self.context.is_root:
                self._lock.release()

    def abandon(self) -> None:
        """Stop this rank's writers without any collective call (for an error
        that may be this rank's alone); nothing more is committed."""
        self._broken = True
        self._queue.abandon()
        if self.context.is_root:
            self._lock.release()

    def _settle(self) -> None:
        """Wait for this rank's writes, agree, commit rank 0's metadata, agree
        again: a failure on any rank raises on every rank (no rank hangs)."""
        failure = None
        try:
            self._queue.wait()
        except RuntimeError as exc:  # reported to every rank by _agree
            failure = exc.__cause__ or exc
        self._agree(failure)
        failure = None
        try:
            with self._meta_lock:
                self._commit_pending()
        except Exception as exc:  # reported to every rank below
            failure = exc
        if self.context.any_rank(failure is not None):  # also the barrier
            where = f": {failure}" if failure else " (see rank 0's error)"
            self._broken = True
            raise OutputError(
                f"writing {self.path} failed on at least one rank{where}"
            ) from failure

    def _agree(self, failure: BaseException | None = None) -> None:
        """Collective: advance the records every rank has written; raise the
        first failure of any rank on every rank (the axis stays gap-free)."""
        failure = failure or self._queue.failure
        with self._meta_lock:
            mine = (self._written, None if failure is None else f"{failure}")
        reports = self.context.allgather(mine)
        with self._meta_lock:
            self._agreed = max(self._agreed, min(n for n, _ in reports))
        failed = [f"rank {r}: {why}" for r, (_, why) in enumerate(reports) if why]
        if failed:
            self._broken = True
            # best effort: the error below ends the run on every rank either way
            with contextlib.suppress(Exception), self._meta_lock:
                self._commit_pending()  # the records before the failure
            raise OutputError(
                f"writing {self.path} failed ({'; '.join(failed)}); the store "
                "ends at its last complete record"
            )

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Flush, then return (tiled, replicated) running-mean arrays for a
        checkpoint; ``restore_average_state`` takes them back after a restart."""
        self.flush()
        if not self.average_every:
            return {}, {}
        tiled = {f"output_mean_sum.{n}": s.copy() for n, s in self._sums.items()}
        return tiled, {"output_mean_state": self._mean_state.copy()}

    def restore_average_state(
        self, tiled: Mapping[str, np.ndarray], replicated: Mapping[str, np.ndarray]
    ) -> None:
        """Continue the running means saved by ``checkpoint_state``."""
        if not self.average_every or "output_mean_state" not in replicated:
            return
        self._mean_state = np.asarray(replicated["output_mean_state"], np.int64).copy()
        self._sums = {
            name: np.asarray(tiled[f"output_mean_sum.{name}"], np.float64).copy()
            for name in self.variables
            if f"output_mean_sum.{name}" in tiled
        }

    @property
    def stats(self) -> dict[str, float]:
        """Seconds the caller spent blocked on I/O, records written, peak in flight."""
        q = self._queue
        return {"waited_s": q.waited_s, "records": q.jobs, "peak": q.peak_in_flight}

    # -- records ----------------------------------------------------------------
    def _snapshot(self, step: int, host: dict[str, np.ndarray]) -> None:
        stream = self._streams[""]
        if step > stream.last_step:
            self._write_record(stream, step, (step * self.dt,), host)

    def _accumulate(self, step: int, fields: Mapping[str, object]) -> None:
        weight, start, last = (int(v) for v in self._mean_state)
        if step > last:
            for name, tile in self._host(fields).items():
                add = tile.astype(np.float64) * (step - last)
                self._sums[name] = self._sums[name] + add if name in self._sums else add
            weight, last = weight + step - last, step
        if step % self.average_every == 0 and weight > 0:
            means = {
                n: (s / weight).astype(self.variables[n].dtype)
                for n, s in self._sums.items()
            }
            times = (0.5 * (start + step) * self.dt, start * self.dt, step * self.dt)
            self._write_record(self._streams["_mean"], step, times, means)
            self._sums, weight, start = {}, 0, step
        self._mean_state = np.array([weight, start, last], np.int64)

    def _host(self, fields: Mapping[str, object]) -> dict[str, np.ndarray]:
        missing = set(self.variables) - set(fields)
        if missing:
            raise OutputError(
                f"fields missing for output: {', '.join(sorted(missing))}"
            )
        d, host = self.decomposition, {}
        for name, spec in self.variables.items():
            # an owned host copy: the device buffer may be donated to the next step
            # and a caller's numpy array may be reused while the write is pending
            tile = np.array(fields[name], dtype=spec.dtype, copy=True)
            want = self._layout.lead_shape(spec) + (d.tile_ny, d.tile_nx)
            if tile.shape != want:
                raise OutputError(
                    f"{name}: tile shape {tile.shape} != {want}; pass interior tiles "
                    "(model.fields(state)), not arrays with halo"
                )
            host[name] = tile
        return host

    def _write_record(self, stream: _Stream, step: int, times: tuple, tiles) -> None:
        self._agree()  # a failed earlier record stops the run here, on every rank
        seq, self._submitted = self._submitted, self._submitted + 1
        index = stream.count
        stream.count, stream.last_step = index + 1, step
        pieces = self._routing.exchange(tiles, self.context)
        stores = []
        for name, parts in pieces.items():
            view = self._views[name + stream.suffix]
            for (ys, xs), data in parts:
                lead = (slice(None),) * (data.ndim - 2)
                stores.append(
                    (view, (slice(index, index + 1), *lead, ys, xs), data[None])
                )
        root = self.context.is_root

        def job():  # graph building, encoding and writing all off the loop's thread
            with self._shard_lock:
                dask.compute(*dask_store(stores), scheduler="threads", num_workers=2)
            with self._meta_lock:  # this rank's records 0..k-1 are now all on disk
                self._done.add(seq)
                while self._written in self._done:
                    self._done.discard(self._written)
                    self._written += 1
            if root:
                self._commit_record(seq, stream, index, step, times)

        self._queue.submit(job)

    def _commit_record(
        self, seq: int, stream: _Stream, index: int, step: int, times
    ) -> None:
        """Rank 0, after its chunks of a record: queue the record's coordinates;
        commit them unless a later job is still running (it will commit them too).

        Committing (coordinate values, growing the time axis, consolidating) costs
        ~40 ms of CPU per record; coalescing keeps that off a busy machine while
        writes pile up. ``flush`` commits whatever is left.
        """
        with self._meta_lock:
            self._uncommitted.append((seq, stream.suffix, index, step, times))
            if self._queue.in_flight <= 1:  # only this job: nobody else will
                self._commit_pending()

    def _commit_pending(self) -> None:
        """Rank 0, under ``_meta_lock``: write the queued coordinates of records
        every rank has written (``_agreed``: a gap-free prefix), then grow each
        time axis to cover its highest record (grow only: records finish out of
        order), then refresh the consolidated metadata."""
        ready = [r for r in self._uncommitted if r[0] < self._agreed]
        if not ready:
            return
        self._uncommitted = [r for r in self._uncommitted if r[0] >= self._agreed]
        top: dict[str, int] = {}
        for _, s, index, step, times in ready:
            self._views["time" + s][index] = times[0]
            self._views["step" + s][index] = step
            if s:
                self._views["time_mean_bounds"][index] = times[1:]
            top[s] = max(top.get(s, -1), index)
        for s, index in top.items():
            for name in self._layout.stream_arrays(s):
                array = self._resizable[name]
                if array.shape[0] <= index:
                    array.resize((index + 1, *array.shape[1:]))
        consolidate(self.path)

    # -- store creation (rank 0) ------------------------------------------------
    def _prepare(self, mode: str, resume_step: int, attrs: dict) -> dict:
        # debris of a replaced store whose delete was cut short; ours (we hold
        # the store's lock), never loaded
        for debris in self.path.parent.glob(f".{self.path.name}.replaced-*"):
            if debris.is_dir() and not debris.is_symlink():
                shutil.rmtree(debris)
        exists = self.path.exists()
        if exists and not is_ours(self.path):
            raise OutputError(
                "path exists and is not an output store of this model; "
                "choose another output path or remove it yourself"
            )
        if mode == "w" and exists:
            if not self._overwrite:
                raise OutputError(
                    "the store exists; pass --overwrite to replace it, --resume to "
                    "continue the run that wrote it, or choose another --output"
                )
            # aside first (atomic), then delete: a kill inside a plain rmtree
            # could take the root zarr.json and leave a store that no longer
            # looks like ours, so even --overwrite would refuse it
            aside = self.path.with_name(
                f".{self.path.name}.replaced-{uuid.uuid4().hex[:12]}"
            )
            os.rename(self.path, aside)
            shutil.rmtree(aside)
        if mode == "w" or not exists:
            group = zarr.open_group(self.path, mode="w", zarr_format=3)
            meta = {"Conventions": "CF-1.8", MARKER: 1, **code_version(), **attrs}
            group.update_attributes(meta)
            self._layout.create_coords(group)
        else:
            group = zarr.open_group(
                self.path, mode="r+", zarr_format=3, use_consolidated=False
            )
            self._layout.check_compatible(group)
            history = group.attrs.get("history", "")
            line = f"resumed at step {resume_step} by {code_version()['git_commit']}"
            group.update_attributes(
                {**code_version(), **attrs, "history": f"{history}\n{line}".strip()}
            )
        counts = {}
        for suffix in self._streams:
            if "step" + suffix not in group:
                self._layout.create_stream(group, suffix)
            steps = group["step" + suffix][:]
            every = self.average_every if suffix else self.snapshot_every
            keep = _kept(steps, resume_step, suffix, every) if mode == "a" else 0
            for name in self._layout.stream_arrays(suffix):
                array = group[name]
                array.resize((keep, *array.shape[1:]))
            counts[suffix] = (keep, int(steps[keep - 1]) if keep else -1)
        consolidate(self.path)
        return counts


def _kept(steps: np.ndarray, resume_step: int, suffix: str, every: int) -> int:
    """Records a resumed run keeps: snapshots before ``resume_step`` and means
    ending at or before it (the resumed run rewrites the rest). Only the leading
    strictly increasing run of valid steps is trusted (a store damaged by an older
    version may hold fill values or repeats after a hole); searchsorted is only
    ever applied to that sorted prefix. A store whose kept records stop more than
    one interval before ``resume_step`` has lost records: refused (a gap)."""
    steps = np.asarray(steps, np.int64)
    bad = np.flatnonzero((steps < 0) | (np.diff(steps, prepend=-1) <= 0))
    valid = int(bad[0]) if bad.size else steps.size
    if valid < steps.size:
        warnings.warn(
            f"output store: step{suffix} axis is not strictly increasing after "
            f"record {valid}; records from there on are dropped and rewritten",
            stacklevel=2,
        )
    side = "right" if suffix else "left"
    keep = int(np.searchsorted(steps[:valid], resume_step, side=side))
    if keep and every and steps[keep - 1] < resume_step - every:
        raise OutputError(
            f"step{suffix} records end at step {steps[keep - 1]} but the run "
            f"resumes at step {resume_step} (every {every}): records are missing; "
            "resume from an older checkpoint or start a new store (--overwrite)"
        )
    return keep
