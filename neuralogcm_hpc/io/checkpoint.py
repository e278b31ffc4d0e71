"""Atomic, checksummed, decomposition-independent checkpoints in Zarr + JSON.

Usage (all calls collective; every rank passes its own interior tiles)::

    ckpt = Checkpointer(cfg.checkpoint.dir, decomposition, ctx, cfg.checkpoint.keep)
    ckpt.save(step, tiled={"u": u_tile, "ssh": ssh_tile, ...},
              replicated={"step": np.int64(step), "key": key_data,
                          **tree_to_arrays("params", params)},
              metadata={"config": to_dict(cfg), "data_position": 123})
    restored = ckpt.load_latest(required=args.resume)   # None: cold start allowed
    params = tree_from_arrays("params", model.default_params(), restored.replicated)

Layout of a committed checkpoint ``DIR/ckpt-<step:012d>/``: a Zarr v3 group with
``tiled/<name>`` (global arrays ``(..., ny, nx)``, one chunk per tile of the
writing run, each rank writes its chunks) and ``replicated/<name>`` (written by
rank 0), ``metadata.json`` and ``manifest.json`` (sha256 of every file). Commit:
write to ``DIR/.tmp-ckpt-<step>-<id>``, fsync, rank 0 gathers the chunk checksums
of every rank, writes the manifest, renames the directory, fsyncs ``DIR``. A
crash at any point leaves either the previous checkpoints or the new one complete;
``.tmp-`` directories are never loaded. Reading slices the global arrays with the
current decomposition, so a restart may use another rank count. No pickle.

A run that writes calls ``claim(resume)`` first (lock file ``DIR/.lock``, see
io/locks.py) and ``release()`` at the end. Pruning keeps the newest ``keep``
checkpoints that verify and never deletes the one this run loaded or wrote last,
nor a corrupt one, nor anything that is not a plain directory (symlinks are
skipped, never followed). Manifest entries must be plain relative names inside
the checkpoint; anything else fails verification.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import zarr

from neuralogcm_hpc.io.locks import FileLock
from neuralogcm_hpc.io.manifest import FORMAT, manifest_of, plain_dir, problems_in
from neuralogcm_hpc.io.storage import (
    code_version,
    compressors,
    fsync_dir,
    fsync_file,
    fsync_tree,
    sha256_file,
    write_json,
)
from neuralogcm_hpc.parallel.context import ParallelContext, RootError
from neuralogcm_hpc.parallel.decomposition import Decomposition

COMMITTED = re.compile(r"^ckpt-(\d{12})$")
TEMPORARY = re.compile(r"^\.tmp-ckpt-\d{12}-[0-9a-f]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_EMPTY_CHUNKS = {"write_empty_chunks": True}  # every chunk is a file to checksum
_FAILED = "failed"  # key of a rank's error report (never a file path)


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a checkpoint that cannot be written."""


class CheckpointWarning(UserWarning):
    """A checkpoint failed verification and was skipped."""


@dataclasses.dataclass
class Restored:
    """A verified checkpoint read back for this rank's tile."""

    name: str
    step: int
    tiled: dict[str, np.ndarray]
    replicated: dict[str, np.ndarray]
    metadata: dict
    path: Path


class Checkpointer:
    """Saves and loads checkpoints under ``directory``; see the module docstring."""

    def __init__(
        self,
        directory: str | Path,
        decomposition: Decomposition,
        context: ParallelContext,
        keep: int = 2,
        codec: str = "blosc-zstd",
        level: int = 3,
    ):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.decomposition, self.context, self.keep = decomposition, context, keep
        self._compressors = compressors(codec, level)
        self._lock = FileLock(self.directory / ".lock", f"checkpoint dir {directory}")
        # known good on rank 0 (written or verified by this run): never re-read
        self._verified: set[str] = set()
        self._protected: set[str] = set()  # loaded / last written: never pruned

    # -- ownership --------------------------------------------------------------
    def claim(self, resume: bool) -> None:
        """Lock the directory for this run (collective; rank 0 decides for all).

        Without ``resume`` a directory that already holds checkpoints is refused,
        so a new run never prunes or mixes with an old run's checkpoints.
        """

        def work():
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
            existing = [] if resume else self.committed()
            if existing:
                self._lock.release()
                raise CheckpointError(
                    f"{self.directory} already holds checkpoints (newest "
                    f"{existing[0].name}); pass --resume to continue that run or "
                    "choose another --checkpoint-dir"
                )

        self._collective(work)

    def release(self) -> None:
        """Drop this run's lock (rank 0 holds it; a no-op elsewhere)."""
        if self.context.is_root:
            self._lock.release()

    # -- saving -----------------------------------------------------------------
    def save(
        self,
        step: int,
        tiled: Mapping[str, np.ndarray],
        replicated: Mapping[str, np.ndarray],
        metadata: Mapping[str, object],
    ) -> Path:
        """Write, checksum and atomically commit ``ckpt-<step>``; keep the newest K."""
        tiled = {n: np.ascontiguousarray(a) for n, a in tiled.items()}
        self._check_tiles(tiled, replicated)
        ctx = self.context
        tmp = self._collective(lambda: self._create(step, tiled, replicated, metadata))
        try:
            sums = self._write_tiles(Path(tmp), tiled)
        except Exception as exc:  # reported through rank 0 so no rank hangs
            sums = {_FAILED: f"rank {ctx.rank}: {type(exc).__name__}: {exc}"}
        gathered = ctx.gather(sums)
        final = self._collective(lambda: self._commit(step, Path(tmp), gathered))
        return Path(final)

    def _collective(self, root_work):
        """Run ``root_work`` on rank 0; every rank gets its result or its error."""
        try:
            return self.context.on_root(root_work)
        except RootError as error:
            raise CheckpointError(f"checkpoint in {self.directory}: {error}") from None

    def _create(self, step: int, tiled, replicated, metadata) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.iterdir():
            if not TEMPORARY.match(stale.name):
                continue
            if plain_dir(stale):
                shutil.rmtree(stale)  # debris of a crashed save; never loadable
            else:  # planted or foreign: never followed, never deleted
                warnings.warn(f"ignoring {stale}: not a plain directory", stacklevel=2)
        final = self.directory / f"ckpt-{step:012d}"
        if final.exists() or final.is_symlink():
            if not plain_dir(final):  # renaming over it would hide someone's data
                raise CheckpointError(f"{final} is not a plain directory; remove it")
        tmp = self.directory / f".tmp-ckpt-{step:012d}-{uuid.uuid4().hex[:12]}"
        root = zarr.open_group(tmp, mode="w-", zarr_format=3)
        d = self.decomposition
        for name, tile in tiled.items():
            lead = tile.shape[:-2]
            root.create_array(
                f"tiled/{name}",
                shape=(*lead, d.ny, d.nx),
                chunks=(*lead, d.tile_ny, d.tile_nx),
                dtype=tile.dtype,
                compressors=self._compressors,
                config=_EMPTY_CHUNKS,
            )
        for name, value in replicated.items():
            value = np.asarray(value)
            array = root.create_array(
                f"replicated/{name}",
                shape=value.shape,
                chunks=value.shape,
                dtype=value.dtype,
                compressors=self._compressors,
                config=_EMPTY_CHUNKS,
            )
            array[...] = value
        info = {
            "format": FORMAT,
            "step": int(step),
            "code_version": code_version(),
            "written_by": {"ranks": d.size, "px": d.px, "py": d.py},
            "tiled": sorted(tiled),
            "replicated": sorted(replicated),
            "metadata": dict(metadata),
        }
        write_json(tmp / "metadata.json", info)
        return str(tmp)

    def _write_tiles(self, tmp: Path, tiled) -> dict[str, str]:
        """Write this rank's chunk of every tiled array; return their checksums."""
        d, rank = self.decomposition, self.context.rank
        ys, xs = d.global_slices(rank)
        ix, iy = d.coords(rank)
        sums = {}
        for name, tile in tiled.items():
            array = zarr.open_array(tmp / "tiled" / name, mode="r+")
            array = array.with_config(_EMPTY_CHUNKS)
            array[..., ys, xs] = tile
            key = array.metadata.encode_chunk_key((0,) * (tile.ndim - 2) + (iy, ix))
            path = tmp / "tiled" / name / key
            fsync_file(path)
            sums[f"tiled/{name}/{key}"] = sha256_file(path)
        return sums

    def _commit(self, step: int, tmp: Path, gathered: list[dict]) -> str:
        failures = [sums[_FAILED] for sums in gathered if _FAILED in sums]
        if failures:
            raise CheckpointError(f"{tmp.name} not committed: {'; '.join(failures)}")
        files = {k: v for sums in gathered for k, v in sums.items()}
        expected = len(json.loads((tmp / "metadata.json").read_text())["tiled"])
        if len(files) != expected * self.decomposition.size:
            raise CheckpointError(f"{tmp.name}: ranks reported {len(files)} chunks")
        for directory, _, names in os.walk(tmp):
            for fname in names:
                rel = os.path.relpath(os.path.join(directory, fname), tmp)
                if rel not in files:  # rank 0's files: metadata, replicated chunks
                    files[rel] = sha256_file(os.path.join(directory, fname))
        write_json(
            tmp / "manifest.json", {"format": FORMAT, "step": step, "files": files}
        )
        fsync_tree(tmp)
        final = self.directory / f"ckpt-{step:012d}"
        aside = None
        if final.exists():  # same step saved again (e.g. after skipping a corrupt one)
            aside = self.directory / f".tmp-ckpt-{step:012d}-{uuid.uuid4().hex[:12]}"
            os.rename(final, aside)
        os.rename(tmp, final)
        fsync_dir(self.directory)
        if aside is not None:
            shutil.rmtree(aside)
        self._verified.add(final.name)  # its checksums were just computed
        self._prune(protect={final.name, *self._protected})
        return str(final)

    def _prune(self, protect: set[str]) -> None:
        """Delete verified checkpoints beyond the newest ``keep`` that verify.

        Only checkpoints that verify count towards ``keep`` (a corrupt newer one
        must not push the last good one out) and only they are deleted; corrupt
        ones stay for inspection. ``protect`` (loaded, just written) is never
        deleted. Each is first renamed to a ``.tmp-`` name (atomic), then deleted:
        a kill during the delete leaves debris that is never loaded and is swept
        by the next save, never a ``ckpt-*`` directory that has lost its manifest.
        """
        good = [p for p in self.committed() if self._verified_here(p)]
        for old in good[self.keep :]:
            if old.name in protect:
                continue
            doomed = old.with_name(f".tmp-{old.name}-{uuid.uuid4().hex[:12]}")
            os.rename(old, doomed)
            fsync_dir(self.directory)
            shutil.rmtree(doomed)
            self._verified.discard(old.name)

    def _verified_here(self, path: Path) -> bool:
        """Rank 0 alone (inside a commit): whether ``path`` verifies; cached."""
        if path.name not in self._verified and not problems_in(path, manifest_of(path)):
            self._verified.add(path.name)
        return path.name in self._verified

    def _check_tiles(self, tiled, replicated) -> None:
        d = self.decomposition
        for name in (*tiled, *replicated):
            if not _NAME.match(name):
                raise CheckpointError(
                    f"array name {name!r}: use letters, digits, _ . -"
                )
        for name, tile in tiled.items():
            if tile.ndim < 2 or tile.shape[-2:] != (d.tile_ny, d.tile_nx):
                raise CheckpointError(
                    f"tiled array {name}: shape {tile.shape} does not end in the "
                    f"interior tile shape {(d.tile_ny, d.tile_nx)}; pass interiors"
                )

    # -- loading ----------------------------------------------------------------
    def committed(self) -> list[Path]:
        """Committed checkpoint directories, newest step first (this process's
        view: collective callers use rank 0's, see ``load``). A ``ckpt-*`` that is
        not a plain directory (e.g. a symlink) is skipped with a warning."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            if not COMMITTED.match(p.name):
                continue
            if plain_dir(p):
                found.append(p)
            else:
                warnings.warn(
                    f"ignoring {p}: not a plain directory", CheckpointWarning, 2
                )
        return sorted(found, key=lambda p: p.name, reverse=True)

    def verify(self, path: str | Path) -> list[str]:
        """Problems found in a checkpoint (empty: it verifies). Ranks share the
        reading: rank r checks every size-th file."""
        path, ctx = Path(path), self.context
        manifest = manifest_of(path)
        problems = problems_in(path, manifest, ctx.rank, ctx.size)
        return sorted({p for part in ctx.allgather(problems) for p in part})

    def load_latest(
        self, decomposition: Decomposition | None = None, required: bool = False
    ) -> Restored | None:
        """The newest checkpoint that verifies, read for ``decomposition``."""
        return self.load(None, decomposition=decomposition, required=required)

    def load(
        self,
        name: str | None = None,
        *,
        decomposition: Decomposition | None = None,
        required: bool = False,
    ) -> Restored | None:
        """Load checkpoint ``name`` (or the newest valid one); corrupt ones are
        reported and skipped. None when there is none and ``required`` is False."""
        # rank 0's listing for all: a shared file system may list late elsewhere,
        # and every rank must verify the same checkpoints (collective calls)
        names = [name] if name else [p.name for p in self.committed()]
        candidates = [self.directory / n for n in self.context.bcast(names)]
        reasons = []
        for path in candidates:
            problems = self.verify(path)
            if not problems:
                self._verified.add(path.name)
                self._protected.add(path.name)
                return self._read(path, decomposition or self.decomposition)
            reason = (
                f"checkpoint {path.name} is corrupt, skipped: {'; '.join(problems)}"
            )
            reasons.append(reason)
            if self.context.is_root:
                warnings.warn(reason, CheckpointWarning, stacklevel=2)
        if required:
            found = "; ".join(reasons) or "no committed checkpoint (ckpt-*) found"
            raise CheckpointError(
                f"resume requested but no valid checkpoint in {self.directory}: "
                f"{found}; run without --resume to cold-start"
            )
        return None

    def _read(self, path: Path, d: Decomposition) -> Restored:
        info = json.loads((path / "metadata.json").read_text())
        bad = [n for n in (*info["tiled"], *info["replicated"]) if not _NAME.match(n)]
        if bad:  # a name like ../../x would read another directory's arrays
            raise CheckpointError(f"{path.name}: array names {bad} are not plain")
        ys, xs = d.global_slices(self.context.rank)
        tiled = {}
        for name in info["tiled"]:
            array = zarr.open_array(path / "tiled" / name, mode="r")
            if array.shape[-2:] != (d.ny, d.nx):
                raise CheckpointError(
                    f"{path.name}: {name} is {array.shape[-2:]} (ny, nx) but this "
                    f"run's grid is {(d.ny, d.nx)}; restart with the checkpoint's grid"
                )
            tiled[name] = array[..., ys, xs]
        replicated = {
            name: np.asarray(zarr.open_array(path / "replicated" / name, mode="r")[...])
            for name in info["replicated"]
        }
        return Restored(
            path.name, info["step"], tiled, replicated, info["metadata"], path
        )
