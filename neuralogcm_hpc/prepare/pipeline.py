"""Reanalysis files -> grid.zarr and train/val/test stores on the model grid."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import build_grid, level_thicknesses
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.physics.forcing_store import write_store
from neuralogcm_hpc.prepare import store
from neuralogcm_hpc.prepare.fields import SnapshotMapper
from neuralogcm_hpc.prepare.landsea import model_bathymetry, source_columns
from neuralogcm_hpc.prepare.names import PrepareError, mapping
from neuralogcm_hpc.prepare.provenance import describe
from neuralogcm_hpc.prepare.source import expand, open_source, snapshot_interval
from neuralogcm_hpc.prepare.target import Target, regridders
from neuralogcm_hpc.prepare.vertical import source_level_edges
from neuralogcm_hpc.training.data import SPLITS


def split_starts(n_time: int, fractions: str, length: int) -> dict[str, list[int]]:
    """First snapshot of every trajectory (``length`` snapshots, not overlapping)
    of each split, cut from contiguous blocks of the time series: train first,
    test last, so the test period follows the training period."""
    try:
        parts = [float(f) for f in fractions.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) <= 0:
        raise PrepareError(
            f"prepare.split must be three positive fractions "
            f"'train,val,test', got {fractions!r}"
        )
    bounds = np.floor(np.cumsum([0.0] + parts) / sum(parts) * n_time).astype(int)
    starts = {
        s: list(range(bounds[k], bounds[k + 1] - length + 1, length))
        for k, s in enumerate(SPLITS)
    }
    short = [s for s, n in starts.items() if not n]
    if short:
        raise PrepareError(
            f"{n_time} snapshots split {fractions} leave no trajectory of "
            f"train.trajectory_length = {length} for {', '.join(short)}: supply "
            "more files or shorten train.trajectory_length"
        )
    return starts


def write_restoring(path: Path, surface: dict, interval: float, config=None,
                    epoch=None) -> Path:
    """A physics.forcing store whose restoring targets are the data's own
    top-level temperature and salinity at every prepared snapshot, at model time
    (seconds since the first source snapshot, as the stores' start_time);
    between splits the forcing interpolates linearly. With
    ``prepare.forcing_sources`` (ERA5) it also holds the bulk-formula wind
    stress and the net heat flux at the same times (prepare/atmosphere.py);
    without, wind stress stays analytic (an ocean reanalysis has none)."""
    index = sorted(surface)
    at = np.asarray(index, np.float64) * interval
    extra = {}
    if config is not None and config.prepare.forcing_sources:
        from neuralogcm_hpc.prepare.atmosphere import atmosphere_forcing

        extra = atmosphere_forcing(config, at, epoch, interval)
    write_store(
        path,
        at,
        temp_star=np.stack([surface[i][0] for i in index]),
        salt_star=np.stack([surface[i][1] for i in index]),
        **extra,
    )
    return path


def model_masks(config: Config, bathymetry: np.ndarray) -> dict[str, np.ndarray]:
    """The model's own wet masks for this bathymetry (grid.build_grid on one
    tile), so the data are zero exactly where the model is land."""
    g = config.grid
    grid = build_grid(
        config,
        Decomposition(g.nx, g.ny, 1, 1, g.periodic_x, g.periodic_y),
        0,
        bathymetry,
    )
    inner = grid.interior
    return {
        "u": np.asarray(inner(grid.mask3_u)),
        "v": np.asarray(inner(grid.mask3_v)),
        "temp": np.asarray(inner(grid.mask3_c)),
        "salt": np.asarray(inner(grid.mask3_c)),
        "ssh": np.asarray(inner(grid.mask_c)),
    }


def prepare(config: Config, out_dir: str | Path, log=print) -> dict:
    """Map ``config.prepare.sources`` onto ``config``'s grid; write
    ``out_dir``/grid.zarr (bathymetry, wet fraction) and {train,val,test}.zarr.
    Returns a summary (paths, sizes, seconds)."""
    clock, p, out_dir = time.perf_counter(), config.prepare, Path(out_dir)
    files = expand(p.sources)
    table = mapping(p.preset, p.names)
    ds = open_source(files, table)
    interval = snapshot_interval(ds)
    hybrid_dt = config.time.dt * config.train.cadence
    if abs(interval - hybrid_dt) > 1e-6 * interval:
        raise PrepareError(
            f"the files are {interval:g} s apart but one hybrid step is time.dt x "
            f"train.cadence = {hybrid_dt:g} s; set train.cadence = "
            f"{interval / config.time.dt:g} (or a time.dt that divides {interval:g})"
        )
    if p.forcing_sources:  # refuse bad atmospheric files before any mapping
        from neuralogcm_hpc.prepare.atmosphere import open_atmosphere

        span = (0.0, (ds.sizes["time"] - 1) * interval)
        open_atmosphere(config, ds.time.values[0], span)
    target = Target.from_config(config)
    maps = regridders(target, ds.lon.values, ds.lat.values)
    src_edges = source_level_edges(ds.depth.values)
    columns = source_columns(ds.temp, src_edges)
    bathymetry, fraction = model_bathymetry(
        columns, maps["c"], target, p.min_wet_fraction
    )
    g = config.grid
    dz = level_thicknesses(g.nz, float(bathymetry.max()), g.dz_surface)
    model_edges = np.concatenate([[0.0], np.cumsum(dz)])
    masks = model_masks(config, bathymetry)
    mapper = SnapshotMapper(maps, src_edges, model_edges, masks)
    coords = store.coordinates(config, model_edges[:-1] + 0.5 * dz)

    provenance = store.json_attrs(
        sources=describe(files),
        mapping=table,
        preset=p.preset,
        config=json.loads(config.to_json()),
        method={
            "horizontal": "conservative: exact spherical overlap areas of lon-lat "
            "cells, NaN excluded (mean over the wet overlap); u, v on cells "
            "centred on west / south faces",
            "vertical": "thickness-weighted mean over source layers (interfaces "
            "halfway between level centres)",
            "land": f"model cell is ocean if >= {p.min_wet_fraction} of its area is "
            "wet in the source's first snapshot; depth = area mean of source "
            "column depths",
        },
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    xr.Dataset(
        {
            "bathymetry": (
                ("y", "x"),
                bathymetry,
                {"standard_name": "sea_floor_depth_below_geoid", "units": "m"},
            ),
            "wet_fraction": (("y", "x"), fraction, {"units": "1"}),
        },
        coords={k: v for k, v in coords.items() if k != "z"}
        | {"dz": ("z", dz, {"units": "m"})},
        attrs={"Conventions": "CF-1.10", **provenance},
    ).to_zarr(out_dir / "grid.zarr", mode="w", zarr_format=3, consolidated=False)

    length = config.train.trajectory_length
    shapes = {n: m.shape for n, m in masks.items()}
    dtype = np.dtype(config.precision)
    written = {}
    surface = {}  # snapshot index -> (top-level temp, salt): restoring targets
    for split, starts in split_starts(ds.sizes["time"], p.split, length).items():
        path = out_dir / f"{split}.zarr"
        dates = ds.time.values[starts]
        store.layout(
            path,
            shapes,
            coords,
            len(starts),
            length,
            interval,
            dates,
            ds.time.values[0],
            provenance,
            dtype,
        )
        for index, start in enumerate(starts):
            snaps = [mapper.snapshot(ds, start + t) for t in range(length)]
            for t, snap in enumerate(snaps):
                surface[start + t] = (snap["temp"][0], snap["salt"][0])
            store.write_trajectory(
                path,
                index,
                {n: np.stack([s[n] for s in snaps]).astype(dtype) for n in shapes},
            )
        log(
            f"prepare: {split}: {len(starts)} trajectories of {length} snapshots "
            f"from {str(dates[0])[:10]} -> {path}"
        )
        written[split] = str(path)
    forcing = write_restoring(
        out_dir / "forcing.zarr", surface, interval, config, ds.time.values[0]
    )
    return {
        "stores": written,
        "grid": str(out_dir / "grid.zarr"),
        "forcing": str(forcing),
        "wet_cells": int((bathymetry > 0).sum()),
        "max_depth": float(dz.sum()),
        "seconds": time.perf_counter() - clock,
    }
