"""Open reanalysis files lazily (xarray + dask) under canonical names, checked."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import xarray as xr

from neuralogcm_hpc.prepare.names import VARIABLES, PrepareError, check_units


def expand(patterns: str) -> list[Path]:
    """Comma-separated paths or glob patterns -> the sorted files they match."""
    files: list[Path] = []
    for pattern in filter(None, (p.strip() for p in patterns.split(","))):
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise PrepareError(f"prepare.sources: nothing matches {pattern!r}")
        files.extend(Path(m) for m in matched)
    if not files:
        raise PrepareError("prepare.sources is empty: name the reanalysis files")
    return files


def open_source(files: list[Path], table: dict[str, str]) -> xr.Dataset:
    """The files as one lazy Dataset with canonical names (u, v, ssh, temp, salt;
    lon, lat, depth, time), latitude ascending, longitude as in the files.

    Chunks are one (time, depth) slab of the full horizontal grid, so a read
    never holds more than one level of one snapshot of one variable (GLORYS12:
    4320 x 2041 float32 = 35 MB).
    """
    zarr = [f for f in files if f.suffix == ".zarr" or (f / "zarr.json").exists()]
    engine = "zarr" if len(zarr) == len(files) else None
    if zarr and engine is None:
        raise PrepareError("prepare.sources mixes Zarr stores and NetCDF files")
    rename = {table[k]: k for k in ("lon", "lat", "depth", "time")}
    chunks = {table["time"]: 1, table["depth"]: 1}
    try:
        ds = xr.open_mfdataset(
            [str(f) for f in files],
            engine=engine,
            chunks=chunks,
            combine="by_coords",
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="exact",
        )
    except (OSError, ValueError) as error:
        raise PrepareError(f"cannot open {files[0]} ...: {error}") from None
    for key in ("lon", "lat", "time"):
        if table[key] not in ds.variables:
            raise PrepareError(
                f"coordinate {key} ({table[key]!r}) is not in the files; they have "
                f"{sorted(map(str, ds.variables))} (rename with prepare.names)"
            )
    missing = [f"{k} ({table[k]!r})" for k in VARIABLES if table[k] not in ds]
    if missing:
        raise PrepareError(
            f"variable(s) {', '.join(missing)} not in the files; they have "
            f"{sorted(map(str, ds.data_vars))} (rename with prepare.names)"
        )
    for key in ("lon", "lat"):
        if ds[table[key]].ndim != 1:
            raise PrepareError(
                f"cannot map this grid: {key} ({table[key]!r}) is "
                f"{ds[table[key]].ndim}-D (a curvilinear grid such as ORCA); "
                "remap the files to a regular lon-lat grid first (e.g. cdo remapcon)"
            )
    ds = ds[[table[k] for k in VARIABLES]].rename(
        {**rename, **{table[k]: k for k in VARIABLES}}
    )
    for name in VARIABLES + ("depth",):
        if name in ds.variables:
            check_units(name, table[name], ds[name].attrs.get("units"))
    ds = _orient(ds)
    return ds


def _orient(ds: xr.Dataset) -> xr.Dataset:
    """Latitude ascending; depth positive down; 3-D variables have depth."""
    if ds.lat.size > 1 and ds.lat.values[1] < ds.lat.values[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    if "depth" not in ds.dims:
        raise PrepareError(
            "the files have no depth dimension: 3-D u, v, temp, salt "
            "are needed (rename with prepare.names depth=...)"
        )
    positive = ds.depth.attrs.get("positive", "down")
    if positive == "up" or np.all(ds.depth.values <= 0) and ds.depth.size > 1:
        ds = ds.assign_coords(depth=-ds.depth)
    for name in ("u", "v", "temp", "salt"):
        if "depth" not in ds[name].dims:
            raise PrepareError(f"{name} has dims {ds[name].dims}; it needs depth")
    if set(ds.ssh.dims) != {"time", "lat", "lon"}:
        raise PrepareError(f"ssh has dims {ds.ssh.dims}; expected (time, lat, lon)")
    return ds


def snapshot_interval(ds: xr.Dataset) -> float:
    """Seconds between snapshots; raises unless the spacing is uniform."""
    t = ds.time.values
    if t.size < 2:
        raise PrepareError("the files hold fewer than 2 snapshots")
    if np.issubdtype(t.dtype, np.datetime64):
        seconds = (t - t[0]) / np.timedelta64(1, "s")
    else:
        raise PrepareError("time must be decoded dates (CF units 'days since ...')")
    steps = np.diff(seconds)
    if np.any(np.abs(steps - steps[0]) > 1e-6 * steps[0]):
        raise PrepareError(
            f"snapshots are not evenly spaced ({steps.min():g} to {steps.max():g} s "
            "apart); select a regular subset of the files"
        )
    return float(steps[0])
