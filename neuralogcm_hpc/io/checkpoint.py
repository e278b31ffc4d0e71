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

from neuralogcm_hpc.io.storage import (
    code_version,
    compressors,
    fsync_dir,
    fsync_file,
    fsync_tree,
    sha256_file,
    write_json,
)
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

FORMAT = "neuralogcm_hpc-checkpoint-1"
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
        gathered = ctx.host_comm.gather(sums, root=0) if ctx.host_comm else [sums]
        final = self._collective(lambda: self._commit(step, Path(tmp), gathered))
        return Path(final)

    def _collective(self, root_work) -> str:
        """Run ``root_work`` on rank 0; every rank gets its result or its error."""
        result, error = None, None
        if self.context.is_root:
            try:
                result = root_work()
            except Exception as exc:  # any failure must reach every rank, not hang
                error = f"{type(exc).__name__}: {exc}"
        result, error = self.context.bcast((result, error))
        if error:
            raise CheckpointError(f"checkpoint in {self.directory}: {error}")
        return result

    def _create(self, step: int, tiled, replicated, metadata) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.iterdir():
            if TEMPORARY.match(stale.name) and stale.is_dir():
                shutil.rmtree(stale)  # debris of a crashed save; never loadable
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
        self._prune()
        return str(final)

    def _prune(self) -> None:
        """Delete committed checkpoints beyond the newest ``keep`` (ours only).

        Each is first renamed to a ``.tmp-`` name (atomic), then deleted: a kill
        during the delete leaves debris that is never loaded and is swept by the
        next save, never a ``ckpt-*`` directory that has lost its manifest.
        """
        for old in self.committed()[self.keep :]:
            if _manifest_format(old) != FORMAT:
                warnings.warn(f"not deleting {old}: no manifest of ours", stacklevel=2)
                continue
            doomed = old.with_name(f".tmp-{old.name}-{uuid.uuid4().hex[:12]}")
            os.rename(old, doomed)
            fsync_dir(self.directory)
            shutil.rmtree(doomed)

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
        """Committed checkpoint directories, newest step first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if COMMITTED.match(p.name)]
        return sorted(found, key=lambda p: p.name, reverse=True)

    def verify(self, path: str | Path) -> list[str]:
        """Problems found in a checkpoint (empty: it verifies). Ranks share the
        reading: rank r checks every size-th file."""
        path, ctx = Path(path), self.context
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            files = sorted(manifest["files"].items())
            problems = [] if manifest.get("format") == FORMAT else ["unknown format"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            files, problems = [], [f"manifest.json missing or unreadable ({exc})"]
        for rel, digest in files[ctx.rank :: ctx.size]:
            try:
                ok = sha256_file(path / rel) == digest
            except OSError:
                ok = False
            if not ok:
                problems.append(f"{_describe(rel)}: checksum mismatch or missing file")
        if ctx.host_comm is not None:
            problems = sorted(
                {p for part in ctx.host_comm.allgather(problems) for p in part}
            )
        return problems

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


def _describe(rel: str) -> str:
    """'tiled/u/c/0/1' -> "array 'u' (tiled), chunk c/0/1" for error messages."""
    parts = rel.split("/")
    if len(parts) >= 2 and parts[0] in ("tiled", "replicated"):
        what = (
            "metadata" if parts[-1] == "zarr.json" else f"chunk {'/'.join(parts[2:])}"
        )
        return f"array '{parts[1]}' ({parts[0]}), {what}"
    return f"file {rel}"


def _manifest_format(path: Path) -> str | None:
    try:
        return json.loads((path / "manifest.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return None
