"""Training data: fine runs coarse-grained to the model grid (Zarr); tile reader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

SPLITS = ("train", "val", "test")
# dims of a prognostic variable in a dataset store (levels only for 3-D fields)
DIMS_2D = ("trajectory", "time", "y", "x")
DIMS_3D = ("trajectory", "time", "z", "y", "x")


@dataclasses.dataclass
class TileDataset:
    """This rank's tile of a set of trajectories, in memory.

    ``fields[name]``: (trajectories, times, [levels,] ny_tile, nx_tile) interior
    tiles at the model's C-grid positions; snapshots ``dt`` seconds apart (one
    hybrid step). ``start_time``: model time [s] of each trajectory's first
    snapshot (prepared reanalyses: seconds since their first snapshot), which
    time-varying forcing is read at; None = every trajectory starts at 0.
    """

    fields: dict[str, np.ndarray]
    dt: float
    start_time: np.ndarray | None = None

    def time_of(self, trajectory: int, snapshot: int) -> float:
        """Model time [s] of a snapshot."""
        start = 0.0 if self.start_time is None else float(self.start_time[trajectory])
        return start + snapshot * self.dt

    @property
    def shape(self) -> tuple[int, int]:
        """(trajectories, times)."""
        return next(iter(self.fields.values())).shape[:2]

    def windows(self, length: int) -> np.ndarray:
        """All (trajectory, start) pairs with ``length`` steps after the start."""
        n_traj, n_time = self.shape
        if n_time <= length:
            raise ValueError(f"trajectories have {n_time} snapshots, too few for a "
                             f"rollout of {length}; shorten train.rollout")
        return np.array([(t, s) for t in range(n_traj) for s in range(n_time - length)])

    def window(self, trajectory: int, start: int, length: int):
        """Initial fields and the (length, ...) targets that follow them."""
        first = {n: x[trajectory, start] for n, x in self.fields.items()}
        targets = {n: x[trajectory, start + 1 : start + 1 + length]
                   for n, x in self.fields.items()}
        return first, targets


# -- coarse-graining -------------------------------------------------------------
def coarsen(fields: dict, fine_grid, r: int) -> dict[str, np.ndarray]:
    """Conservative r x r coarse-graining of interior C-grid tiles.

    Centres: area-weighted block mean (sum of fine cell values x areas / coarse
    area, so volume and tracer content are conserved). u (west faces): the coarse
    west face is made of the r fine west faces at the block's first column; their
    face-length-weighted mean conserves the transport through it. v likewise along
    the block's south row.
    """
    g = fine_grid
    h = g.halo
    inner = (slice(h, h + g.ny), slice(h, h + g.nx))
    full = np.ones((g.ny, g.nx))
    area = np.asarray(g.area_c)[inner[0]] * full
    dy_u = np.asarray(g.dy_u)[inner[0]] * full
    dx_v = np.asarray(g.dx_v)[inner[0]] * full

    def blocks(x):  # (..., ny, nx) -> (..., ny/r, r, nx/r, r)
        return x.reshape(x.shape[:-2] + (x.shape[-2] // r, r, x.shape[-1] // r, r))

    out = {}
    for name, x in fields.items():
        x = np.asarray(x)
        if name == "u":
            w = blocks(dy_u)[..., 0]
            out[name] = (blocks(x)[..., 0] * w).sum(-2) / w.sum(-2)
        elif name == "v":
            w = blocks(dx_v)[:, 0]
            out[name] = (blocks(x)[..., 0, :, :] * w).sum(-1) / w.sum(-1)
        else:
            w = blocks(area)
            out[name] = (blocks(x) * w).sum((-3, -1)) / w.sum((-3, -1))
    return out


def fine_config(config: Config) -> Config:
    """The generator's fine-grid configuration: ``refine`` x the resolution, the
    same domain, time step / refine (same CFL number) and viscosity x factor."""
    t, g, r = config.train, config.grid, config.train.refine
    return config.replace(**{
        "grid.nx": g.nx * r, "grid.ny": g.ny * r,
        "grid.dx": g.dx / r, "grid.dy": g.dy / r,
        "grid.halo": g.halo,
        "time.dt": config.time.dt / r,
        "physics.viscosity": config.physics.viscosity * t.fine_viscosity_factor,
        "physics.biharmonic": config.physics.biharmonic
        * t.fine_viscosity_factor / r**2,
    })


def split_counts(config: Config) -> dict[str, int]:
    try:
        counts = [int(c) for c in config.train.trajectories.split(",")]
    except ValueError:
        counts = []
    if len(counts) != 3 or min(counts) < 1:
        raise ValueError(f"train.trajectories must be three positive integers "
                         f"'train,val,test', got {config.train.trajectories!r}")
    return dict(zip(SPLITS, counts, strict=True))


def generate(config: Config, context: ParallelContext, out_dir: str | Path,
             build_model) -> dict:
    """Run the fine model, coarse-grain, write ``out_dir/{train,val,test}.zarr``.

    One long fine-grid run: ``spinup`` hybrid steps are discarded, then the
    trajectories of train, val and test follow each other (disjoint in time, test
    last), each ``trajectory_length`` snapshots one hybrid step (``cadence``
    model steps) apart. With ``refine = 1`` and ``fine_viscosity_factor = 1`` the
    data are the model's own (identical-twin experiments). Collective.
    """
    t, r = config.train, config.train.refine
    fine = fine_config(config)
    model = build_model(fine, context)
    params = model.default_params()
    per_snapshot = t.cadence * r  # fine steps per coarse hybrid step
    advance = jax.jit(model.advance, static_argnums=2)
    state = model.initial_state()
    if t.spinup:
        state = advance(state, params, t.spinup * per_snapshot)
    counts = split_counts(config)
    coarse_d = Decomposition(config.grid.nx, config.grid.ny, model.decomposition.px,
                             model.decomposition.py, config.grid.periodic_x,
                             config.grid.periodic_y)
    stores = {}
    for split, n_traj in counts.items():
        snapshots = {n: [] for n in model.prognostic_names}
        for _ in range(n_traj * t.trajectory_length):
            fields = coarsen(jax.device_get(model.fields(state)), model.grid, r)
            for n, x in fields.items():
                snapshots[n].append(x)
            state = advance(state, params, per_snapshot)
        tiles = {
            n: np.stack(x).reshape((n_traj, t.trajectory_length) + x[0].shape)
            for n, x in snapshots.items()
        }
        path = Path(out_dir) / f"{split}.zarr"
        write_dataset(path, tiles, coarse_d, context, config.time.dt * t.cadence,
                      {"config": json.loads(config.to_json()), "refine": r})
        stores[split] = str(path)
    return stores


# -- Zarr stores ---------------------------------------------------------------------
def write_dataset(path, tiles: dict, decomposition: Decomposition,
                  context: ParallelContext, dt: float, attrs: dict) -> None:
    """Write every rank's tiles into one global Zarr store (collective).

    Rank 0 lays out the store (metadata only); each rank then writes its own
    tile-aligned chunks, so no data is gathered on one rank.
    """
    d, path = decomposition, Path(path)
    n_traj, n_time = next(iter(tiles.values())).shape[:2]
    if context.is_root:
        import dask.array as da

        variables = {}
        for name, x in tiles.items():
            dims = DIMS_3D if x.ndim == 5 else DIMS_2D
            shape = x.shape[:-2] + (d.ny, d.nx)
            chunks = x.shape[:-2] + (d.tile_ny, d.tile_nx)
            variables[name] = (dims, da.zeros(shape, chunks=chunks, dtype=x.dtype),
                               {"position": {"u": "west_face", "v": "south_face"}
                                .get(name, "centre")})
        coords = {"time": ("time", np.arange(n_time) * dt, {"units": "s"})}
        ds = xr.Dataset(variables, coords=coords,
                        attrs={"dt": dt, "generator": json.dumps(attrs)})
        ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False)
    context.barrier()
    ys, xs = d.global_slices(context.rank)
    region = {"trajectory": slice(0, n_traj), "time": slice(0, n_time),
              "y": ys, "x": xs}
    part = xr.Dataset({
        name: (DIMS_3D if x.ndim == 5 else DIMS_2D, x) for name, x in tiles.items()
    })
    if any(x.ndim == 5 for x in tiles.values()):
        region["z"] = slice(None)
    part.to_zarr(path, region=region, mode="r+", zarr_format=3, consolidated=False)
    context.barrier()


def split_path(data_dir, split: str) -> Path:
    """``data_dir/<split>.zarr``, or ``<split>.nc`` when only that exists (a user
    dataset may come as NetCDF; the generator writes Zarr)."""
    zarr, netcdf = (Path(data_dir) / f"{split}{s}" for s in (".zarr", ".nc"))
    return netcdf if netcdf.exists() and not zarr.exists() else zarr


def read_tiles(path, names: tuple[str, ...], decomposition: Decomposition,
               rank: int, dt: float | None = None) -> TileDataset:
    """This rank's tile of a dataset (Zarr or NetCDF, read lazily through dask).

    Any dataset works that has the variables ``names`` with dims
    (trajectory, time, [z,] y, x) at the model's C-grid positions and the model's
    global shape; only this rank's (y, x) window is read from disk. ``dt``
    (seconds between snapshots) is taken from the store's ``dt`` attribute or,
    failing that, from a ``time`` coordinate in seconds.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"training data {path} not found; generate it with "
            "neuralogcm_hpc.training.data.generate or set train.data")
    if path.suffix == ".nc":
        ds = xr.open_dataset(path, chunks={})
    else:
        ds = xr.open_zarr(path, consolidated=False)
    missing = [n for n in names if n not in ds]
    if missing:
        raise KeyError(
            f"{path} lacks variable(s) {missing}; it has {list(ds.data_vars)}")
    d = decomposition
    if (ds.sizes.get("y"), ds.sizes.get("x")) != (d.ny, d.nx):
        raise ValueError(f"{path} is {ds.sizes.get('y')} x {ds.sizes.get('x')} (y, x); "
                         f"the model grid is {d.ny} x {d.nx}")
    ys, xs = d.global_slices(rank)
    fields = {}
    for name in names:
        var = ds[name]
        if set(var.dims) - {"z"} != set(DIMS_2D):
            raise ValueError(f"{path}:{name} has dims {var.dims}; expected "
                             f"{DIMS_3D} or {DIMS_2D}")
        var = var.transpose(*(DIMS_3D if "z" in var.dims else DIMS_2D))
        fields[name] = np.asarray(var.isel(y=ys, x=xs).values)
    if dt is None:
        dt = float(ds.attrs["dt"]) if "dt" in ds.attrs else float(
            ds["time"].values[1] - ds["time"].values[0])
    start = (np.asarray(ds["start_time"].values, np.float64)
             if "start_time" in ds.variables else None)
    return TileDataset(fields, dt, start)
