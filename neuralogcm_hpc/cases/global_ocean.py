"""Case global: 1.5-degree global ocean, 23 levels, real or idealised coastlines."""

from __future__ import annotations

import numpy as np

from neuralogcm_hpc import topography
from neuralogcm_hpc.cases.case import Case
from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import level_thicknesses
from neuralogcm_hpc.physics.forcing import sss_profile, sst_profile


def config() -> Config:
    """240 x 106 cells (1.5 deg x 1.51 deg) from 80S to 80N, 23 levels to 4000 m
    (10 m at the top), real coastlines (global-land-mask at the model's
    resolution) with the idealised depth of ``shelf_profile``, analytic
    forcing; ``grid.coastlines = idealised`` gives idealised continents and a
    ridge, ``grid.bathymetry`` a depth from data. A year is bounded at this
    resolution and at 3 degrees (depth-weighted barotropic Coriolis,
    energy-conserving momentum advection;
    benchmarks/results/global_coastlines.md).

    160 degrees of latitude do not divide into 1.5-degree rows; 106 rows
    (1.509 deg) keep the grid divisible by 2 ranks in y. dt = 1800 s;
    24 barotropic sub-steps of 75 s give sqrt(g H) dts / dx = 0.48 at the
    narrowest (31 km) row. Viscosity 1e5 m2 s-1 at the equator (Munk layer
    ~ dx there) scaled by cos^2(lat) so nu dt / dx^2 < 0.01 everywhere.

    Shear mixing (Pacanowski-Philander, nu0 = 1e-2 m2 s-1) carries the wind
    stress below the 10 m top level. Without it the easterly stress at the
    equator (f ~ 0, no Ekman balance) accelerated the top level alone by
    tau / (rho0 dz0) = 0.1 / (1025 x 10) = 1e-5 m s-2 = 0.84 m/s per day: the
    surface jet on the equator reached 3.6 m/s at day 5 (measured 0.7 m/s/day).
    """
    return Config().replace(
        **{
            "case": "global",
            "grid.kind": "sphere",
            "grid.nx": 240,
            "grid.ny": 106,
            "grid.nz": 23,
            "grid.lat_south": -80.0,
            "grid.lat_north": 80.0,
            "grid.depth": 4000.0,
            "grid.dz_surface": 10.0,
            "grid.periodic_x": True,
            "grid.periodic_y": False,
            "grid.halo": 4,
            "physics.mode": "primitive",
            "physics.pe_eos": "jmfwg06",
            "physics.viscosity": 1e5,
            "physics.diffusivity": 1000.0,
            "physics.wind_stress": 0.1,
            "physics.pe_barotropic_substeps": 24,
            "physics.pe_shear_viscosity": 1e-2,
            "physics.pe_restore_days": 30.0,
            "physics.pe_thermocline": 700.0,
            "physics.pe_temp_deep": 2.0,
            "time.dt": 1800.0,
            "time.steps": 480,
            "time.steps_per_call": 48,
        }
    )


def _lat_lon(config: Config):
    g = config.grid
    lon = g.lon_west + (np.arange(g.nx) + 0.5) * (g.lon_east - g.lon_west) / g.nx
    lat = g.lat_south + (np.arange(g.ny) + 0.5) * (g.lat_north - g.lat_south) / g.ny
    return np.meshgrid(lat, lon, indexing="ij")


def bathymetry(config: Config) -> np.ndarray:
    """Resting depth (ny, nx) [m], 0 on land: from the store ``grid.bathymetry``
    when set (e.g. prepared reanalysis data); else the land of
    ``grid.coastlines`` with an idealised depth profile."""
    if config.grid.bathymetry:
        return topography.from_store(config)
    if config.grid.coastlines == "globe":
        return shelf_profile(topography.globe_land(config), config.grid.depth)
    return idealised(config)


def shelf_profile(land: np.ndarray, depth: float | np.ndarray) -> np.ndarray:
    """The idealised depth where only the land is known: ``depth`` (grid.depth,
    4000 m in `global`) in the open ocean, a 2000 m slope two cells from land and
    a 500 m shelf next to it (at 1.5 degrees a cell is 80-170 km, the width of
    real shelves and slopes); no ridges. The northern and southern walls count
    as coast: the 80N wall cuts through the open Arctic. (Added while runs with
    real coastlines blew up, before the barotropic Coriolis was depth-weighted;
    the year runs in benchmarks/results/global_coastlines.md use it.)"""
    walled = np.pad(land, ((1, 1), (0, 0)), constant_values=True)
    near1 = _dilate(walled)[1:-1]
    near2 = _dilate(_dilate(walled))[1:-1]
    out = np.where(near2, 2000.0, depth)
    out = np.where(near1, 500.0, out)
    return np.where(land, 0.0, out)


def idealised(config: Config) -> np.ndarray:
    """Idealised America, Afro-Eurasia, Australia, Antarctica and an Arctic cap;
    shelves 1-2 cells wide; a mid-Atlantic ridge."""
    lat, lon = _lat_lon(config)
    land = (
        (lat < -70.0)
        | (lat > 74.0)
        | ((lon > 270.0) & (lon < 300.0) & (lat > -56.0) & (lat < 72.0))
        | ((lon > 5.0) & (lon < 45.0) & (lat > -35.0) & (lat < 35.0))
        | ((lon > 0.0) & (lon < 130.0) & (lat > 35.0))
        | ((lon > 115.0) & (lon < 150.0) & (lat > -38.0) & (lat < -12.0))
    )
    ridge = config.grid.depth - 1500.0 * np.exp(-(((lon - 330.0) / 8.0) ** 2))
    return shelf_profile(land, ridge)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Cells within one cell of ``mask`` (periodic in longitude)."""
    out = mask | np.roll(mask, 1, 1) | np.roll(mask, -1, 1)
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def initial(config: Config) -> dict[str, np.ndarray]:
    """T and S relaxing with depth from the restoring surface values to the deep
    ones over ``physics.pe_thermocline``; at rest."""
    p, g = config.physics, config.grid
    lat, _ = _lat_lon(config)
    dz = level_thicknesses(g.nz, float(bathymetry(config).max()), g.dz_surface)
    z = (np.cumsum(dz) - 0.5 * dz)[:, None, None]
    decay = np.exp(-z / p.pe_thermocline)
    temp = p.pe_temp_deep + (sst_profile(lat)[None] - p.pe_temp_deep) * decay
    salt = 34.7 + (sss_profile(lat)[None] - 34.7) * decay
    return {"temp": temp, "salt": salt}


CASES = (
    Case(
        "global",
        config,
        bathymetry=bathymetry,
        initial=initial,
        forcing="global",
        reads=("grid.bathymetry", "grid.coastlines"),
    ),
)
