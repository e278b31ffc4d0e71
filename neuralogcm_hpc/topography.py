"""Land and sea floor of lon-lat cases from data: a bathymetry store, or the
coastlines of the ``global-land-mask`` package at the model's resolution."""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from neuralogcm_hpc.config import Config, ConfigError

# global-land-mask ships GLOBE's 1 km mask: (21600, 43200) booleans, True =
# ocean, rows from 90N southward, columns from 180W eastward, 1/120 degree apart
_SAMPLES_PER_DEGREE = 120
_ROWS_PER_READ = 720  # 6 degrees of latitude = 31 MB of mask per read


def from_store(config: Config) -> np.ndarray:
    """``bathymetry`` (y, x) [m] from the Zarr store ``grid.bathymetry``."""
    import xarray as xr

    path, g = Path(config.grid.bathymetry), config.grid
    if not path.exists():
        raise ConfigError(f"grid.bathymetry: {path} does not exist")
    ds = xr.open_zarr(path, consolidated=False)
    if "bathymetry" not in ds:
        raise ConfigError(f"grid.bathymetry: {path} has no variable 'bathymetry'")
    depth = np.asarray(ds["bathymetry"].values, np.float64)
    if depth.shape != (g.ny, g.nx):
        raise ConfigError(
            f"grid.bathymetry: {path} is {depth.shape[0]} x {depth.shape[1]} (y, x) "
            f"but the grid is {g.ny} x {g.nx}; prepare the data for this grid"
        )
    return depth


@functools.lru_cache(maxsize=4)
def land_fraction(
    nx: int,
    ny: int,
    lon_west: float,
    lon_east: float,
    lat_south: float,
    lat_north: float,
) -> np.ndarray:
    """Fraction (ny, nx) of each lon-lat cell's 1 km samples that are land.

    The 933 MB mask is streamed from the package's compressed file a few
    hundred rows at a time (importing ``global_land_mask.globe`` would load all
    of it into every rank's memory). Samples count equally: within a 1.5-degree
    cell cos(latitude) varies by < 3 % below 70 degrees.
    """
    import global_land_mask

    path = Path(global_land_mask.__file__).parent / "globe_combined_mask_compressed.npz"
    lon = -180.0 + np.arange(360 * _SAMPLES_PER_DEGREE) / _SAMPLES_PER_DEGREE
    column = np.floor((np.mod(lon - lon_west, 360.0)) * nx / (lon_east - lon_west))
    inside_x = column < nx
    column = np.where(inside_x, column, 0).astype(int)
    ocean, total = np.zeros((ny, nx)), np.zeros((ny, nx))
    with zipfile.ZipFile(path) as archive, archive.open("mask.npy") as handle:
        fmt = np.lib.format
        header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        shape, fortran, dtype = header[fmt.read_magic(handle)](handle)
        assert not fortran and dtype == np.bool_, "unexpected global-land-mask layout"
        for first in range(0, shape[0], _ROWS_PER_READ):
            count = min(_ROWS_PER_READ, shape[0] - first)
            raw = handle.read(count * shape[1] * dtype.itemsize)
            block = np.frombuffer(raw, dtype).reshape(count, shape[1])
            lat = 90.0 - (first + np.arange(count)) / _SAMPLES_PER_DEGREE
            row = np.floor((lat - lat_south) * ny / (lat_north - lat_south))
            for j in np.unique(row[(row >= 0) & (row < ny)]).astype(int):
                hits = block[row == j][:, inside_x].sum(axis=0)
                ocean[j] += np.bincount(column[inside_x], hits, minlength=nx)
                total[j] += (
                    np.bincount(column[inside_x], minlength=nx) * (row == j).sum()
                )
    return 1.0 - ocean / np.maximum(total, 1)


def globe_land(config: Config) -> np.ndarray:
    """Land (ny, nx) at the model's resolution: cells more than half land, with
    one-cell bays and dead-end channels filled (``fill_bays``)."""
    g = config.grid
    fraction = land_fraction(
        g.nx, g.ny, g.lon_west, g.lon_east, g.lat_south, g.lat_north
    )
    return fill_bays(fraction > 0.5, g.periodic_x)


def fill_bays(land: np.ndarray, periodic_x: bool) -> np.ndarray:
    """``land`` with every ocean cell that has land on 3 or 4 of its sides made
    land, repeated until none is left (a 1-cell-wide inlet closes from its end).

    Such a cell has one wet face: its only velocity point is a dead end the
    C-grid cannot carry a circulation through, and at 1.5-3 degrees these are
    fjords and sounds the grid does not resolve (141 cells, 0.8 % of the ocean,
    at 1.5 degrees; 59 cells, 1.3 %, at 3 degrees). Walls (beyond the first
    and last rows) count as land.
    """
    land = land.copy()
    while True:
        padded = np.pad(land, 1, constant_values=True)
        if periodic_x:
            padded[:, 0], padded[:, -1] = padded[:, -2], padded[:, 1]
        sides = (
            padded[:-2, 1:-1].astype(int)
            + padded[2:, 1:-1]
            + padded[1:-1, :-2]
            + padded[1:-1, 2:]
        )
        enclosed = ~land & (sides >= 3)
        if not enclosed.any():
            return land
        land |= enclosed
