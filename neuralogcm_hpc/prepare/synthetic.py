"""Small files in GLORYS layout without downloads (tests, the docs' dry run).

Analytic fields, not a model run: a stratified ocean with an eastward-propagating
baroclinic wave (period 20 days, zonal wavenumber 3), its ssh signature and
velocities, on an A-grid with two box continents, a shelf and a sloping abyss, so
the NaN pattern (land, and levels below the sea floor) exercises the mask and
bathymetry derivation. Layout as the Copernicus GLORYS daily files: variables
uo, vo, zos, thetao, so (float32, NaN over land), coordinates time (dates),
depth (level centres in m, positive down), latitude, longitude, CF attributes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

ATTRS = {
    "uo": {"standard_name": "eastward_sea_water_velocity", "units": "m s-1"},
    "vo": {"standard_name": "northward_sea_water_velocity", "units": "m s-1"},
    "zos": {"standard_name": "sea_surface_height_above_geoid", "units": "m"},
    "thetao": {"standard_name": "sea_water_potential_temperature", "units": "degC"},
    "so": {"standard_name": "sea_water_salinity", "units": "1e-3"},
}


def grid(resolution: float, levels: int, max_depth: float = 4000.0):
    """GLORYS-like axes: longitude -180 .. 180 - res, latitude -80 .. 90,
    level centres growing geometrically from 0.5 m to ``max_depth``."""
    lon = -180.0 + resolution * np.arange(round(360 / resolution))
    lat = -80.0 + resolution * np.arange(round(170 / resolution) + 1)
    depth = 0.5 * (2 * max_depth) ** (np.arange(levels) / (levels - 1))
    return lon, lat, depth


def sea_floor(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Depth [m] (lat, lon) with land as 0: two box continents, Antarctica
    south of 70S, an Arctic cap north of 80N, shelves and a slope."""
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    land = (
        (la < -70)
        | (la > 80)
        | ((lo > -100) & (lo < -60) & (np.abs(la) < 50))
        | ((lo > 20) & (lo < 60) & (la > -30) & (la < 60))
    )
    depth = 3500.0 + 400.0 * np.cos(np.radians(3 * lo)) * np.cos(np.radians(2 * la))
    depth = np.where(np.abs(la) > 60, 800.0, depth)  # shallow high latitudes
    return np.where(land, 0.0, depth).astype(np.float64)


def fields(lon, lat, depth, days: np.ndarray) -> dict[str, np.ndarray]:
    """(time, depth, lat, lon) float32 arrays, NaN over land and below the floor."""
    la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    z = depth[:, None, None]
    floor = sea_floor(lon, lat)
    wet3 = z < floor[None]
    decay = np.exp(-z / 800.0)
    out = {n: [] for n in ATTRS}
    for day in days:
        phase = 3 * lo - 2 * np.pi * day / 20.0
        wave = np.cos(phase) * np.cos(la) ** 2
        temp = 2.0 + (26.0 * np.cos(la) ** 2 + 1.5 * wave) * decay
        salt = (
            34.7
            + (0.8 * np.exp(-(((np.abs(la) - 0.44) / 0.26) ** 2)) + 0.1 * wave) * decay
        )
        ssh = 0.6 * np.cos(la) ** 2 - 0.3 + 0.1 * wave
        u = (0.3 * np.sin(2 * la) + 0.05 * wave) * decay
        v = 0.05 * np.sin(phase) * np.cos(la) ** 2 * decay
        for name, x, wet in (
            ("thetao", temp, wet3),
            ("so", salt, wet3),
            ("uo", u, wet3),
            ("vo", v, wet3),
            ("zos", ssh, floor > 0),
        ):
            out[name].append(np.where(wet, x, np.nan).astype(np.float32))
    return {n: np.stack(x) for n, x in out.items()}


def write(
    out_dir: str | Path,
    days: int = 30,
    resolution: float = 2.5,
    levels: int = 12,
    files: int = 3,
    start: str = "2020-01-01",
    fmt: str = "netcdf",
) -> list[Path]:
    """``days`` daily snapshots in ``files`` files (NetCDF4 or Zarr) under
    ``out_dir``; returns their paths."""
    lon, lat, depth = grid(resolution, levels)
    data = fields(lon, lat, depth, np.arange(days, dtype=np.float64))
    title = "synthetic GLORYS-layout test data (neuralogcm_hpc.prepare.synthetic)"
    return write_files(out_dir, lon, lat, depth, data, start, files, fmt, title)


def write_files(
    out_dir: str | Path,
    lon: np.ndarray,
    lat: np.ndarray,
    depth: np.ndarray,
    data: dict[str, np.ndarray],
    start: str = "2020-01-01",
    files: int = 3,
    fmt: str = "netcdf",
    title: str = "GLORYS-layout test data",
) -> list[Path]:
    """Daily snapshots ``data`` (name -> (time, [depth,] lat, lon), float32, NaN
    over land; names as ATTRS) in ``files`` files in GLORYS layout: CF time as
    dates (days since 1950-01-01), depth in m positive down, float32 axes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    days = next(iter(data.values())).shape[0]
    time = np.datetime64(start, "ns") + np.arange(days) * np.timedelta64(1, "D")
    paths = []
    for part in np.array_split(np.arange(days), files):
        ds = xr.Dataset(
            {
                n: (("time", "depth", "latitude", "longitude"), x[part], ATTRS[n])
                for n, x in data.items()
                if n != "zos"
            }
            | {
                "zos": (
                    ("time", "latitude", "longitude"),
                    data["zos"][part],
                    ATTRS["zos"],
                )
            },
            coords={
                "time": ("time", time[part], {"standard_name": "time"}),
                "depth": (
                    "depth",
                    depth.astype(np.float32),
                    {"standard_name": "depth", "units": "m", "positive": "down"},
                ),
                "latitude": (
                    "latitude",
                    lat.astype(np.float32),
                    {"standard_name": "latitude", "units": "degrees_north"},
                ),
                "longitude": (
                    "longitude",
                    lon.astype(np.float32),
                    {"standard_name": "longitude", "units": "degrees_east"},
                ),
            },
            attrs={"Conventions": "CF-1.6", "title": title},
        )
        encoding = {"time": {"units": "days since 1950-01-01", "dtype": "float64"}}
        stamp = str(time[part[0]])[:10].replace("-", "")
        if fmt == "zarr":
            path = out_dir / f"glorys_{stamp}.zarr"
            ds.to_zarr(
                path, mode="w", encoding=encoding, zarr_format=3, consolidated=False
            )
        else:
            path = out_dir / f"glorys_{stamp}.nc"
            ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m neuralogcm_hpc.prepare.synthetic",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("out", help="directory for the files")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--resolution", type=float, default=2.5, help="degrees")
    parser.add_argument("--levels", type=int, default=12)
    parser.add_argument("--format", choices=("netcdf", "zarr"), default="netcdf")
    args = parser.parse_args(argv)
    for path in write(
        args.out, args.days, args.resolution, args.levels, fmt=args.format
    ):
        print(path)


if __name__ == "__main__":
    main()
