"""Time-varying surface forcing read per tile from a Zarr store, linear in time."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import ConfigError
from neuralogcm_hpc.physics.forcing import SurfaceForcing

# store variable -> position; each (time, y, x) on the model's global grid
FIELDS = {"taux": "u", "tauy": "v", "temp_star": "c", "salt_star": "c"}


class ForcingSeries(eqx.Module):
    """Records of ``SurfaceForcing`` fields on this tile (halo included) at
    ``times`` [s of model time, step x dt]; ``at(t)`` interpolates linearly
    between the two records around t, holding the first / last record outside
    them, or wrapping t into [times[0], times[0] + period) when ``period`` > 0
    (a climatological cycle). A field the store lacks stays the analytic one."""

    times: jax.Array  # (n,)
    fields: dict[str, jax.Array]  # name -> (n, ny_t, nx_t)
    base: SurfaceForcing
    period: float = eqx.field(static=True)

    def at(self, t: jax.Array) -> SurfaceForcing:
        times = self.times
        if self.period > 0:
            t = times[0] + jnp.mod(t - times[0], self.period)
            # the step from the last record back to the first, one period later
            times = jnp.concatenate([times, times[:1] + self.period])
            fields = {n: jnp.concatenate([x, x[:1]]) for n, x in self.fields.items()}
        else:
            fields = self.fields
        i = jnp.clip(jnp.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        w = jnp.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
        # w in the fields' precision: a float64 weight would promote a float32
        # model's forcing, and with it the scanned state, to float64
        now = {
            n: (1 - w.astype(x.dtype)) * x[i] + w.astype(x.dtype) * x[i + 1]
            for n, x in fields.items()
        }
        return eqx.tree_at(
            lambda f: [getattr(f, n) for n in now],
            self.base,
            [now[n] for n in now],
        )


def _window(start: int, size: int, halo: int, n: int, periodic: bool):
    """Global indices of a tile axis with its halo (wrapped or clipped) and a
    0/1 weight that zeroes cells beyond a wall."""
    index = np.arange(start - halo, start + size + halo)
    if periodic:
        return np.mod(index, n), np.ones(index.size)
    inside = (index >= 0) & (index < n)
    return np.clip(index, 0, n - 1), inside.astype(float)


def read_series(
    path: str, config, grid, decomposition, rank: int, base: SurfaceForcing
) -> ForcingSeries:
    """This rank's tile (with halo) of every record in the store ``path``.

    Store layout: variables among ``taux``, ``tauy`` [N m-2, at u / v points],
    ``temp_star`` [degC], ``salt_star`` [psu] (restoring targets at centres),
    dims (time, y, x) on the model's global grid; coordinate ``time`` in seconds
    of model time (0 = the model's step 0; prepared training data start at the
    first source snapshot); optional attribute ``period`` [s]. Only this tile's
    rows and columns are read; all records are held (a year of daily records on
    a 1.5-degree, 2-rank tile: 365 x 114 x 128 x 8 B = 43 MB per field).
    """
    import xarray as xr

    if not Path(path).exists():
        raise ConfigError(f"physics.forcing: {path} does not exist")
    ds = xr.open_zarr(path, consolidated=False)
    names = [n for n in FIELDS if n in ds]
    if not names:
        raise ConfigError(
            f"physics.forcing: {path} has none of {', '.join(FIELDS)} "
            f"(it has {', '.join(map(str, ds.data_vars))})"
        )
    g = config.grid
    for n in names:
        if ds[n].dims != ("time", "y", "x") or ds[n].shape[1:] != (g.ny, g.nx):
            raise ConfigError(
                f"physics.forcing: {path}:{n} is {dict(ds[n].sizes)}; expected "
                f"(time, y={g.ny}, x={g.nx})"
            )
    times = np.asarray(ds["time"].values, np.float64)
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise ConfigError(
            f"physics.forcing: {path} needs >= 2 records at increasing times [s]"
        )
    x0, y0 = decomposition.offsets(rank)
    h = grid.halo
    xs, wx = _window(x0, decomposition.tile_nx, h, g.nx, g.periodic_x)
    ys, wy = _window(y0, decomposition.tile_ny, h, g.ny, g.periodic_y)
    dtype = grid.mask_c.dtype
    masks = {"u": grid.mask_u, "v": grid.mask_v, "c": grid.mask_c}
    fields = {}
    for n in names:
        tile = np.asarray(ds[n].isel(y=ys, x=xs).values, np.float64)
        tile = tile * (wy[:, None] * wx[None, :])
        fields[n] = jnp.asarray(tile, dtype) * masks[FIELDS[n]]
    return ForcingSeries(
        times=jnp.asarray(times),
        fields=fields,
        base=base,
        period=float(ds.attrs.get("period", 0.0)),
    )


def write_store(path, times: np.ndarray, period: float = 0.0, **fields) -> None:
    """Write a forcing store: ``fields`` name -> (time, y, x) global arrays at
    ``times`` [s of model time]; ``period`` > 0 makes it a repeating cycle."""
    import xarray as xr

    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(
            f"unknown forcing field(s) {sorted(unknown)}; known: {', '.join(FIELDS)}"
        )
    units = {"taux": "N m-2", "tauy": "N m-2", "temp_star": "degC", "salt_star": "1e-3"}
    ds = xr.Dataset(
        {
            n: (
                ("time", "y", "x"),
                np.asarray(x),
                {"units": units[n], "position": FIELDS[n]},
            )
            for n, x in fields.items()
        },
        coords={"time": ("time", np.asarray(times, np.float64), {"units": "s"})},
        attrs={"period": float(period)},
    )
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
