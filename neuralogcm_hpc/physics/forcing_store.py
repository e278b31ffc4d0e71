"""Time-varying surface forcing read per tile from a Zarr store, linear in time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import ConfigError
from neuralogcm_hpc.physics.bulk import to_faces, wind_stress
from neuralogcm_hpc.physics.forcing import SurfaceForcing

# store variable -> position; each (time, y, x) on the model's global grid
FIELDS = {
    "taux": "u",
    "tauy": "v",
    "temp_star": "c",
    "salt_star": "c",
    "heat_flux": "c",
}
# 10 m winds at centres, turned into taux / tauy by the bulk formula on reading
WINDS = ("u10", "v10")
UNITS = {
    "taux": "N m-2",
    "tauy": "N m-2",
    "temp_star": "degC",
    "salt_star": "1e-3",
    "heat_flux": "W m-2",
    "u10": "m s-1",
    "v10": "m s-1",
}
# accepted spellings (lower case, blanks removed) of each unit
SPELLINGS = {
    "N m-2": {"nm-2", "n/m2", "n/m^2", "nm**-2", "pa"},
    "degC": {"degc", "degree_c", "degrees_c", "celsius", "°c"},
    "1e-3": {"1e-3", "psu", "0.001", "1", "pss-78", "g/kg"},
    "W m-2": {"wm-2", "w/m2", "w/m^2", "wm**-2"},
    "m s-1": {"ms-1", "m/s", "ms**-1"},
}


class HostRecords:
    """A tile's forcing records held in host memory (numpy), outside every
    compiled program: ``fetch(i)`` returns records i and i + 1 of each field.
    Identity-hashed, so it can be a static field of an eqx.Module."""

    def __init__(self, fields: dict[str, np.ndarray], period: bool):
        # with a period the last record steps back to the first one
        self.fields = {
            n: np.concatenate([x, x[:1]]) if period else x for n, x in fields.items()
        }
        self.names = tuple(self.fields)

    def fetch(self, i) -> tuple[np.ndarray, ...]:
        i = int(np.asarray(i))
        return tuple(self.fields[n][i : i + 2] for n in self.names)

    def shapes(self) -> tuple[jax.ShapeDtypeStruct, ...]:
        return tuple(
            jax.ShapeDtypeStruct((2, *x.shape[1:]), x.dtype)
            for x in self.fields.values()
        )


class ForcingSeries(eqx.Module):
    """Records of ``SurfaceForcing`` fields on this tile (halo included) at
    ``times`` [s of model time, step x dt]; ``at(t)`` interpolates linearly
    between the two records around t, holding the first / last record outside
    them, or wrapping t into [times[0], times[0] + period) when ``period`` > 0
    (a climatological cycle). A field the store lacks stays the analytic one.

    The records are DATA, not constants of the compiled step: they stay on the
    host (``HostRecords``) and the step fetches the two around t through a
    ``jax.pure_callback`` (only the record index crosses; no gradient flows
    into forcing). A jitted step that closed over them embedded every record
    in the program: measured on a 96 x 64 tile, 22 MB of StableHLO for 30
    daily records and 183 MB for 365; now the program is the same size for any
    record count (docs/real_data.md, benchmarks/forcing_records.py)."""

    times: jax.Array  # (n,), or (n + 1,) with the period's closing record
    records: HostRecords = eqx.field(static=True)
    base: SurfaceForcing
    period: float = eqx.field(static=True)

    @property
    def fields(self) -> dict[str, np.ndarray]:
        """name -> (n, ny_t, nx_t) host arrays (the period's closing record
        excluded)."""
        n = len(self.times) - (1 if self.period > 0 else 0)
        return {k: x[:n] for k, x in self.records.fields.items()}

    def at(self, t: jax.Array) -> SurfaceForcing:
        times = self.times
        if self.period > 0:
            t = times[0] + jnp.mod(t - times[0], self.period)
        i = jnp.clip(jnp.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        w = jnp.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
        pairs = jax.pure_callback(
            self.records.fetch,
            self.records.shapes(),
            jax.lax.stop_gradient(i),
            vmap_method="sequential",
        )
        # w in the fields' precision: a float64 weight would promote a float32
        # model's forcing, and with it the scanned state, to float64
        now = {
            n: (1 - w.astype(x.dtype)) * x[0] + w.astype(x.dtype) * x[1]
            for n, x in zip(self.records.names, pairs, strict=True)
        }
        return dataclasses.replace(self.base, **now)


def _window(start: int, size: int, halo: int, n: int, periodic: bool):
    """Global indices of a tile axis with its halo (wrapped or clipped) and a
    0/1 weight that zeroes cells beyond a wall."""
    index = np.arange(start - halo, start + size + halo)
    if periodic:
        return np.mod(index, n), np.ones(index.size)
    inside = (index >= 0) & (index < n)
    return np.clip(index, 0, n - 1), inside.astype(float)


def check_variables(path, ds, g) -> list[str]:
    """The store's forcing variables, after checking shapes, units and the
    wind pair; raises ConfigError naming what is wrong."""
    names = [n for n in (*FIELDS, *WINDS) if n in ds]
    if not names:
        raise ConfigError(
            f"physics.forcing: {path} has none of {', '.join((*FIELDS, *WINDS))} "
            f"(it has {', '.join(map(str, ds.data_vars))})"
        )
    winds = [n for n in WINDS if n in ds]
    if winds and len(winds) != 2:
        raise ConfigError(
            f"physics.forcing: {path} has {winds[0]} but not "
            f"{({*WINDS} - {winds[0]}).pop()}: the bulk formula needs both 10 m "
            "wind components [m s-1, at cell centres]"
        )
    if winds and ({"taux", "tauy"} & set(names)):
        raise ConfigError(
            f"physics.forcing: {path} has both 10 m winds (u10, v10) and wind "
            "stress (taux/tauy): give one of them"
        )
    for n in names:
        if ds[n].dims != ("time", "y", "x") or ds[n].shape[1:] != (g.ny, g.nx):
            raise ConfigError(
                f"physics.forcing: {path}:{n} is {dict(ds[n].sizes)}; expected "
                f"(time, y={g.ny}, x={g.nx})"
            )
        units = ds[n].attrs.get("units")
        if units is not None and "".join(str(units).split()).lower() not in (
            SPELLINGS[UNITS[n]] | {"".join(UNITS[n].split()).lower()}
        ):
            raise ConfigError(
                f"physics.forcing: {path}:{n} has units {units!r}; expected "
                f"{UNITS[n]!r}"
            )
    return names


def read_series(
    path: str, config, grid, decomposition, rank: int, base: SurfaceForcing
) -> ForcingSeries:
    """This rank's tile (with halo) of every record in the store ``path``.

    Store layout: variables among ``taux``, ``tauy`` [N m-2, at u / v points]
    or ``u10``, ``v10`` [m s-1, 10 m wind at centres, made into stress by the
    bulk formula of physics/bulk.py and averaged onto the faces],
    ``temp_star`` [degC], ``salt_star`` [psu] (restoring targets at centres),
    ``heat_flux`` [W m-2, net surface heat flux into the ocean, at centres],
    dims (time, y, x) on the model's global grid; coordinate ``time`` in seconds
    of model time (0 = the model's step 0; prepared training data start at the
    first source snapshot); optional attribute ``period`` [s]. Only this tile's
    rows and columns are read; all records are held in host memory, outside the
    compiled step (a year of daily records on a 1.5-degree, 2-rank tile:
    365 x 114 x 128 x 8 B = 43 MB per field).
    """
    import xarray as xr

    if not Path(path).exists():
        raise ConfigError(f"physics.forcing: {path} does not exist")
    ds = xr.open_zarr(path, consolidated=False)
    g = config.grid
    names = check_variables(path, ds, g)
    times = np.asarray(ds["time"].values, np.float64)
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise ConfigError(
            f"physics.forcing: {path} needs >= 2 records at increasing times [s]"
        )
    x0, y0 = decomposition.offsets(rank)
    h = grid.halo
    nx_t, ny_t = decomposition.tile_nx, decomposition.tile_ny
    xs, wx = _window(x0, nx_t, h, g.nx, g.periodic_x)
    ys, wy = _window(y0, ny_t, h, g.ny, g.periodic_y)
    dtype = np.dtype(grid.mask_c.dtype)
    masks = {"u": grid.mask_u, "v": grid.mask_v, "c": grid.mask_c}
    tiles = {
        n: np.asarray(ds[n].isel(y=ys, x=xs).values, np.float64)
        for n in names
        if n in FIELDS
    }
    if "u10" in names:  # one more ring: a face averages the centres either side
        xs1, _ = _window(x0, nx_t, h + 1, g.nx, g.periodic_x)
        ys1, _ = _window(y0, ny_t, h + 1, g.ny, g.periodic_y)
        u10, v10 = (np.asarray(ds[n].isel(y=ys1, x=xs1).values, np.float64)
                    for n in WINDS)
        tiles["taux"], tiles["tauy"] = to_faces(*wind_stress(u10, v10))
    fields = {}
    for n, tile in tiles.items():
        tile = tile * (wy[:, None] * wx[None, :])
        fields[n] = tile.astype(dtype) * np.asarray(masks[FIELDS[n]], dtype)
    period = float(ds.attrs.get("period", 0.0))
    if period > 0:  # the closing record: the first one, a period later
        times = np.concatenate([times, times[:1] + period])
    return ForcingSeries(
        times=jnp.asarray(times),
        records=HostRecords(fields, period > 0),
        base=base,
        period=period,
    )


def write_store(path, times: np.ndarray, period: float = 0.0, **fields) -> None:
    """Write a forcing store: ``fields`` name -> (time, y, x) global arrays at
    ``times`` [s of model time]; ``period`` > 0 makes it a repeating cycle."""
    import xarray as xr

    unknown = set(fields) - set(UNITS)
    if unknown:
        raise ValueError(
            f"unknown forcing field(s) {sorted(unknown)}; known: {', '.join(UNITS)}"
        )
    units = UNITS
    ds = xr.Dataset(
        {
            n: (
                ("time", "y", "x"),
                np.asarray(x),
                {"units": units[n], "position": FIELDS.get(n, "c")},
            )
            for n, x in fields.items()
        },
        coords={"time": ("time", np.asarray(times, np.float64), {"units": "s"})},
        attrs={"period": float(period)},
    )
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
