"""Prepared Zarr stores: the training reader's layout, CF metadata, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from neuralogcm_hpc.prepare.names import CF
from neuralogcm_hpc.training.data import DIMS_2D, DIMS_3D

POSITION = {"u": "west_face", "v": "south_face"}


def coordinates(config, z_centre: np.ndarray) -> dict:
    """CF coordinates of the model grid: centres, u and v face positions, levels."""
    g = config.grid
    dlon, dlat = (g.lon_east - g.lon_west) / g.nx, (g.lat_north - g.lat_south) / g.ny
    lon = g.lon_west + (np.arange(g.nx) + 0.5) * dlon
    lat = g.lat_south + (np.arange(g.ny) + 0.5) * dlat
    return {
        "lon": ("x", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        "lat": ("y", lat, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon_u": (
            "x",
            lon - 0.5 * dlon,
            {"long_name": "longitude of west faces", "units": "degrees_east"},
        ),
        "lat_v": (
            "y",
            lat - 0.5 * dlat,
            {"long_name": "latitude of south faces", "units": "degrees_north"},
        ),
        "z": (
            "z",
            np.asarray(z_centre),
            {"standard_name": "depth", "units": "m", "positive": "down", "axis": "Z"},
        ),
    }


def layout(
    path: Path,
    shapes: dict,
    coords: dict,
    n_traj: int,
    n_time: int,
    dt: float,
    starts: np.ndarray,
    epoch: np.datetime64,
    attrs: dict,
    dtype,
) -> None:
    """Create the store's metadata: (trajectory, time, [z,] y, x) variables, one
    chunk per snapshot (a rank reads its tile of the snapshots it needs)."""
    variables = {}
    for name, shape in shapes.items():
        dims = DIMS_3D if len(shape) == 3 else DIMS_2D
        full = (n_traj, n_time) + shape
        variables[name] = (
            dims,
            da.zeros(full, chunks=(1, 1) + shape, dtype=dtype),
            {**CF[name], "position": POSITION.get(name, "centre")},
        )
    time = (
        "time",
        np.arange(n_time) * dt,
        {"units": "s", "long_name": "time since the trajectory's start"},
    )
    start = (
        "trajectory",
        starts,
        {"long_name": "date of the trajectory's first snapshot"},
    )
    # model time of the first snapshot: seconds since the source's first one
    # (the epoch of a physics.forcing store made for these data)
    seconds = (starts - epoch) / np.timedelta64(1, "s")
    start_time = (
        "trajectory",
        seconds,
        {"units": "s", "long_name": "model time of the trajectory's first snapshot"},
    )
    ds = xr.Dataset(
        variables,
        coords={**coords, "time": time, "start": start, "start_time": start_time},
        attrs={"Conventions": "CF-1.10", "dt": dt, "epoch": str(epoch), **attrs},
    )
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False)


def write_trajectory(path: Path, index: int, fields: dict) -> None:
    """Write trajectory ``index``: name -> (time, [z,] y, x) arrays."""
    part = xr.Dataset(
        {n: (DIMS_3D if x.ndim == 4 else DIMS_2D, x[None]) for n, x in fields.items()}
    )
    dims = {d for x in part.data_vars.values() for d in x.dims} - {"trajectory"}
    region = {"trajectory": slice(index, index + 1)} | dict.fromkeys(dims, slice(None))
    part.to_zarr(path, region=region, mode="r+", zarr_format=3, consolidated=False)


def json_attrs(**values) -> dict[str, str]:
    """Nested provenance as JSON strings (Zarr attributes stay flat and portable)."""
    return {k: json.dumps(v, sort_keys=True) for k, v in values.items()}
