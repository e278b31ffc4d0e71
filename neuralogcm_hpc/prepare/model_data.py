"""Test files in GLORYS layout made by running the project's own PE model.

A "nature run" for the prepare -> train -> evaluate chain without downloads: the
`global` case at a finer grid than the one being trained (default 60 x 32 cells
= 6 x 5 degrees, 8 levels from 10 m, float64) with its idealised continents on
a 4000 m flat sea floor and a mid-Atlantic ridge rising to 1600 m (``sea_floor``),
started from its stratified rest state plus warm and cold eddies (Gaussian
temperature anomalies of 3 degC in the upper ocean, which adjust
geostrophically and drift), spun up for
``spinup_days`` under the case's analytic wind and restoring, then sampled once
a day. Each snapshot is written as a reanalysis would be: velocities averaged
from the C-grid faces to the cell centres (A-grid), NaN over land and below the
sea floor, ``depth`` = level centres in m positive down, ``time`` as dates,
float32, CF attributes, the GLORYS names uo, vo, zos, thetao, so
(``synthetic.write_files``).

    python -m neuralogcm_hpc.prepare.model_data OUT_DIR --days 12
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.physics.constants import SECONDS_PER_DAY
from neuralogcm_hpc.prepare.synthetic import write_files

# (lon, lat, amplitude degC) of the initial eddies; radius EDDY_RADIUS degrees,
# e-folding depth EDDY_DEPTH m
EDDIES = ((200.0, 30.0, 3.0), (160.0, -35.0, -3.0), (330.0, 10.0, 3.0),
          (60.0, -40.0, -3.0), (230.0, -15.0, 3.0))
EDDY_RADIUS = 8.0
EDDY_DEPTH = 300.0


def nature_config(nx: int = 60, ny: int = 32, nz: int = 8) -> Config:
    """The `global` case at nx x ny x nz (default 6 x 5 degrees from 80S to 80N,
    levels from 10 m to 4000 m). dt = 5400 s: f dt = 0.77 at 80 degrees
    (forward-backward Coriolis needs < 2); 16 barotropic sub-steps of 337.5 s
    give sqrt(g H) dts / dx = 198 x 337.5 / 144e3 = 0.46 at the narrowest
    (77.5 degree, 6-degree) row (2-D limit ~0.7). Viscosity 2e5 m2 s-1 (x cos^2
    lat): nu dt / dx^2 = 2.4e-3 at the equator."""
    from neuralogcm_hpc.cases import case_config

    return case_config("global").replace(
        **{
            "grid.nx": nx,
            "grid.ny": ny,
            "grid.nz": nz,
            "grid.dz_surface": 10.0,
            "grid.coastlines": "idealised",  # the land of sea_floor
            "time.dt": 5400.0,
            "physics.pe_barotropic_substeps": 16,
            "physics.viscosity": 2e5,
            "precision": "float64",
        }
    )


def sea_floor(config: Config) -> np.ndarray:
    """Resting depth (ny, nx) [m]: the `global` case's idealised land, 4000 m
    elsewhere, less a ridge of 2400 m (e-folding half-width 12 degrees) along
    30W, so the deepest level (top at 1853 m) is dry over it (NaN below the
    sea floor). The
    case's own 1-2-cell shelves are left out: at 6 degrees they make 500 m ->
    4000 m steps within two cells, and a deep jet over them in the 3-cell
    Drake Passage grew from 0.6 to 6.7 m/s in 6 days (measured; flat floor
    plus this ridge: |u| <= 1.16 m/s over 17 days, at the equator)."""
    from neuralogcm_hpc.cases import global_ocean

    lat, lon = global_ocean._lat_lon(config)
    land = global_ocean.idealised(config) == 0
    ridge = 4000.0 - 2400.0 * np.exp(-(((lon - 330.0) / 12.0) ** 2))
    return np.where(land, 0.0, ridge)


def eddies(config: Config, temp: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``temp`` (nz, ny, nx) plus the EDDIES' temperature anomalies."""
    g = config.grid
    lon = g.lon_west + (np.arange(g.nx) + 0.5) * (g.lon_east - g.lon_west) / g.nx
    lat = g.lat_south + (np.arange(g.ny) + 0.5) * (g.lat_north - g.lat_south) / g.ny
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    bump = np.zeros_like(la)
    for x0, y0, amp in EDDIES:
        dlon = (lo - x0 + 180.0) % 360.0 - 180.0
        dist2 = (dlon * np.cos(np.radians(y0))) ** 2 + (la - y0) ** 2
        bump += amp * np.exp(-dist2 / EDDY_RADIUS**2)
    return temp + bump[None] * np.exp(-z / EDDY_DEPTH)[:, None, None]


def to_a_grid(fields: dict, mask3: np.ndarray, mask2: np.ndarray) -> dict:
    """C-grid interior fields of the whole domain -> GLORYS variables at cell
    centres: uo the mean of the west and east faces (periodic in x), vo of the
    south and north faces (the northern wall's face is 0), NaN where the
    cell (level) is land; float32."""
    u, v = np.asarray(fields["u"]), np.asarray(fields["v"])
    uc = 0.5 * (u + np.roll(u, -1, axis=-1))
    v_north = np.concatenate([v[:, 1:], np.zeros_like(v[:, :1])], axis=1)
    vc = 0.5 * (v + v_north)
    wet3, wet2 = mask3 > 0, mask2 > 0
    out = {
        "uo": np.where(wet3, uc, np.nan),
        "vo": np.where(wet3, vc, np.nan),
        "thetao": np.where(wet3, np.asarray(fields["temp"]), np.nan),
        "so": np.where(wet3, np.asarray(fields["salt"]), np.nan),
        "zos": np.where(wet2, np.asarray(fields["ssh"]), np.nan),
    }
    return {n: x.astype(np.float32) for n, x in out.items()}


def simulate(config: Config, days: int, spinup_days: int = 2, log=None) -> dict:
    """Run ``config`` serially for spinup_days + days; returns the GLORYS axes
    (lon, lat, depth) and ``data`` (name -> (days, ...) float32) of the daily
    snapshots after the spin-up (the first at the end of the spin-up)."""
    import jax

    from neuralogcm_hpc.cases import global_ocean
    from neuralogcm_hpc.parallel.context import ParallelContext
    from neuralogcm_hpc.physics.primitive import PrimitiveModel
    from neuralogcm_hpc.precision import enable_x64

    enable_x64()
    clock = time.perf_counter()
    serial = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    model = PrimitiveModel(
        config, serial, sea_floor(config), global_ocean.initial, "global"
    )
    grid = model.grid
    per_day = round(SECONDS_PER_DAY / config.time.dt)
    if abs(per_day * config.time.dt - SECONDS_PER_DAY) > 1e-9:
        raise ValueError(f"time.dt = {config.time.dt} s does not divide a day")
    state = model.initial_state()
    inner = {n: np.asarray(x) for n, x in model.fields(state).items()}
    z = np.asarray(grid.z_centre, np.float64)
    inner["temp"] = eddies(config, inner["temp"], z) * np.asarray(
        grid.interior(grid.mask3_c)
    )
    state = model.with_fields(state, {n: jax.numpy.asarray(x) for n, x in
                                      inner.items()})
    params = model.default_params()
    day = jax.jit(lambda s, p: model.advance(s, p, per_day))
    mask3 = np.asarray(grid.interior(grid.mask3_c))
    mask2 = np.asarray(grid.interior(grid.mask_c))
    snaps = []
    for k in range(spinup_days + days):
        state = day(state, params)
        if k >= spinup_days - 1 and len(snaps) < days:
            snaps.append(to_a_grid(model.fields(state), mask3, mask2))
    wet = {"zos": mask2 > 0}
    for name, x in snaps[-1].items():
        inside = x[wet.get(name, mask3 > 0)]
        if not np.isfinite(inside).all() or np.abs(inside).max() > 100.0:
            raise FloatingPointError(
                f"nature run: {name} left its range (max |{name}| = "
                f"{np.abs(inside).max():.3g}) after {spinup_days + days} days"
            )
    g = config.grid
    lon = g.lon_west + (np.arange(g.nx) + 0.5) * (g.lon_east - g.lon_west) / g.nx
    lat = g.lat_south + (np.arange(g.ny) + 0.5) * (g.lat_north - g.lat_south) / g.ny
    if log:
        log(f"nature run: {spinup_days + days} days of {g.nx} x {g.ny} x {g.nz} "
            f"in {time.perf_counter() - clock:.1f} s")
    return {
        "lon": lon,
        "lat": lat,
        "depth": z,
        "data": {n: np.stack([s[n] for s in snaps]) for n in snaps[0]},
    }


def write(
    out_dir: str | Path,
    days: int = 12,
    nx: int = 60,
    ny: int = 32,
    nz: int = 8,
    spinup_days: int = 2,
    files: int = 3,
    fmt: str = "netcdf",
    start: str = "2020-01-01",
    log=None,
) -> list[Path]:
    """Daily snapshots of a nature run (``simulate``) in GLORYS layout under
    ``out_dir``; returns the file paths."""
    run = simulate(nature_config(nx, ny, nz), days, spinup_days, log)
    title = (
        f"neuralogcm_hpc primitive-equation nature run, global case at {nx} x {ny}"
        f" x {nz}, in GLORYS layout (neuralogcm_hpc.prepare.model_data)"
    )
    return write_files(out_dir, run["lon"], run["lat"], run["depth"], run["data"],
                       start, files, fmt, title)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m neuralogcm_hpc.prepare.model_data",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("out", help="directory for the files")
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--nx", type=int, default=60)
    parser.add_argument("--ny", type=int, default=32)
    parser.add_argument("--nz", type=int, default=8)
    parser.add_argument("--spinup-days", type=int, default=2)
    parser.add_argument("--format", choices=("netcdf", "zarr"), default="netcdf")
    args = parser.parse_args(argv)
    for path in write(args.out, args.days, args.nx, args.ny, args.nz,
                      args.spinup_days, fmt=args.format, log=print):
        print(path)


if __name__ == "__main__":
    main()
