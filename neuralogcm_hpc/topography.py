"""Land and sea floor of lon-lat cases from data: a bathymetry store, or the
coastlines of the ``global-land-mask`` package at the model's resolution."""

from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import importlib.util
import os
import sys
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neuralogcm_hpc.config import Config, ConfigError
from neuralogcm_hpc.user_cache import user_cache_dir

# global-land-mask ships GLOBE's 1 km mask: (21600, 43200) booleans, True =
# ocean, rows from 90N southward, columns from 180W eastward, 1/120 degree apart
_SAMPLES_PER_DEGREE = 120
_ROWS_PER_READ = 720  # 6 degrees of latitude = 31 MB of mask per read
_MASK_NAME = "globe_combined_mask_compressed.npz"
_SHIPPED = Path(__file__).parent / "data"  # fractions of the default grids


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


class CellGrid(NamedTuple):
    """nx x ny lon-lat cells between the edges [degrees]."""

    nx: int
    ny: int
    lon_west: float
    lon_east: float
    lat_south: float
    lat_north: float

    def normalised(self) -> CellGrid:
        """Integers and floats: 0 and 0.0 name the same cache file."""
        return CellGrid(int(self.nx), int(self.ny), *map(float, self[2:]))


@functools.lru_cache(maxsize=4)
def land_fraction(grid: CellGrid) -> np.ndarray:
    """Fraction (ny, nx) of each lon-lat cell's 1 km samples that are land.

    Counting the 933 million samples takes ~4 s (130 MB), so each grid's result is
    kept: shipped with the package for the `global` case's default grids
    (``neuralogcm_hpc/data``, made by ``python -m neuralogcm_hpc.topography``),
    else in the user cache (``$XDG_CACHE_HOME/neuralogcm_hpc/land_fraction``),
    where the first process of a run computes it while the others wait on a
    ``flock`` and then read it (one count per node, not one per rank).
    """
    name = _file_name(grid)
    if (_SHIPPED / name).exists():
        return np.load(_SHIPPED / name)
    directory = user_cache_dir("land_fraction")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT)
    except OSError:  # read-only home on a compute node: count, keep nothing
        return count_land(grid)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if we die
        cached = _load_checked(directory / name, (grid.ny, grid.nx))
        if cached is not None:
            return cached
        print(
            f"counting land in {grid.nx} x {grid.ny} cells from global-land-mask "
            f"(~4 s, once: kept in {directory})",
            file=sys.stderr,
            flush=True,
        )
        fraction = count_land(grid)
        _save_atomically(directory / name, fraction)
        return fraction
    finally:
        os.close(lock)


def count_land(grid: CellGrid) -> np.ndarray:
    """``land_fraction`` counted from global-land-mask's file.

    The 933 MB mask is streamed from the package's compressed file a few
    hundred rows at a time: importing ``global_land_mask`` would load all of
    it (its ``__init__`` imports ``globe``, which reads the whole mask; peak
    RSS 1.0 GB against ~0.1 GB streamed). Samples count equally: within a
    1.5-degree cell cos(latitude) varies by < 3 % below 70 degrees.
    """
    nx, ny, lon_west, lon_east, lat_south, lat_north = grid
    lon = -180.0 + np.arange(360 * _SAMPLES_PER_DEGREE) / _SAMPLES_PER_DEGREE
    column = np.floor((np.mod(lon - lon_west, 360.0)) * nx / (lon_east - lon_west))
    inside_x = column < nx
    column = np.where(inside_x, column, 0).astype(int)
    ocean, total = np.zeros((ny, nx)), np.zeros((ny, nx))
    with zipfile.ZipFile(_mask_file()) as archive, archive.open("mask.npy") as handle:
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


def _mask_file() -> Path:
    """global-land-mask's mask file, found without importing the package."""
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "grid.coastlines = globe needs the global-land-mask package: "
            "pip install global-land-mask (or set grid.coastlines = idealised)"
        )
    return Path(spec.submodule_search_locations[0]) / _MASK_NAME


def _file_name(grid: CellGrid) -> str:
    """The cache file of one grid; names the mask's version, so an upgraded
    global-land-mask is counted afresh."""
    nx, ny, west, east, south, north = grid.normalised()
    try:
        version = importlib.metadata.version("global-land-mask")
    except importlib.metadata.PackageNotFoundError:
        version = "missing"
    return (
        f"land_fraction_{nx}x{ny}_lon{west!r}_{east!r}_lat{south!r}_{north!r}"
        f"_glm{version}.npy"
    )


def _load_checked(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached fraction, or None when absent or damaged (then recounted)."""
    if not path.exists():
        return None
    try:
        fraction = np.load(path)
    except (OSError, ValueError, EOFError) as exc:
        warnings.warn(f"recounting the damaged {path}: {exc}", stacklevel=3)
        return None
    if fraction.shape != shape or not np.all((fraction >= 0) & (fraction <= 1)):
        warnings.warn(f"recounting the damaged {path}", stacklevel=3)
        return None
    return fraction


def _save_atomically(path: Path, fraction: np.ndarray) -> None:
    """Write to a temporary file and rename it: a reader never sees half a file."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, fraction)
        os.replace(tmp, path)
    except OSError as exc:  # full or read-only: the run goes on without the cache
        warnings.warn(f"cannot keep the land fraction in {path}: {exc}", stacklevel=3)
        tmp.unlink(missing_ok=True)


def globe_land(config: Config) -> np.ndarray:
    """Land (ny, nx) at the model's resolution: cells more than half land, with
    one-cell bays and dead-end channels filled (``fill_bays``)."""
    g = config.grid
    fraction = land_fraction(
        CellGrid(g.nx, g.ny, g.lon_west, g.lon_east, g.lat_south, g.lat_north)
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


# the `global` case's grids: 1.5 degrees (its default) and 3 degrees
# (benchmarks/global_year.py, the slow 30-day test)
SHIPPED_GRIDS = (
    CellGrid(240, 106, 0.0, 360.0, -80.0, 80.0),
    CellGrid(120, 53, 0.0, 360.0, -80.0, 80.0),
)


def ship() -> None:
    """Count and write the land fractions shipped in ``neuralogcm_hpc/data``."""
    _SHIPPED.mkdir(exist_ok=True)
    for grid in SHIPPED_GRIDS:
        path = _SHIPPED / _file_name(grid)
        np.save(path, count_land(grid))
        print(f"wrote {path}")


if __name__ == "__main__":
    ship()
