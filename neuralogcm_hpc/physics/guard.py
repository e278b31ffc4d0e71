"""Stability guard: in-jit NaN/Inf and CFL health with global reductions; host check."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.reductions import global_max, global_min


class StabilityError(RuntimeError):
    """The run produced NaN/Inf or exceeded the CFL limit; names step, field, place."""


class Health(eqx.Module):
    """Global (every rank holds the same values) health of a state.

    ``bad_key`` / ``cfl_key`` encode (field, k, j, i) of the first non-finite value
    and of the largest CFL number as ((field * nz + k) * NY + j) * NX + i with
    GLOBAL indices; -1 = none. ``cfl`` is the global maximum CFL number.
    """

    bad_key: jax.Array
    cfl: jax.Array
    cfl_key: jax.Array

    @property
    def ok(self) -> bool:
        return int(self.bad_key) < 0


def _local_keys(arrays, offset, shape_global, nz):
    """Global keys of every cell of each (interior) array, as int64."""
    (ox, oy), (ny, nx) = offset, shape_global
    keys = []
    for f, a in enumerate(arrays):
        a3 = a.reshape((-1,) + a.shape[-2:])
        k = jnp.arange(a3.shape[0], dtype=jnp.int64)[:, None, None]
        j = jnp.arange(a3.shape[1], dtype=jnp.int64)[None, :, None] + oy
        i = jnp.arange(a3.shape[2], dtype=jnp.int64)[None, None, :] + ox
        keys.append(((f * nz + k) * ny + j) * nx + i)
    return keys


def health(
    fields: list[jax.Array],
    cfl: list[jax.Array],
    offset: tuple[int, int],
    shape_global: tuple[int, int],
    nz: int,
    context: ParallelContext,
) -> Health:
    """Health from interior tiles: ``fields`` in prognostic order, ``cfl`` the CFL
    number arrays (same order/shapes, e.g. for u and v; others may be omitted).
    Two MIN and one MAX allreduce; no gradient flows (stop_gradient)."""
    fields = [jax.lax.stop_gradient(a) for a in fields]
    cfl = [jax.lax.stop_gradient(a) for a in cfl]
    sentinel = jnp.iinfo(jnp.int64).max
    first_bad = jnp.asarray(sentinel)
    for a, key in zip(
        fields, _local_keys(fields, offset, shape_global, nz), strict=True
    ):
        bad = ~jnp.isfinite(a.reshape(key.shape))
        first_bad = jnp.minimum(first_bad, jnp.min(jnp.where(bad, key, sentinel)))
    first_bad = global_min(first_bad, context)
    # a NaN in u or v makes its CFL NaN; ignore those so the message names the NaN
    local_max = jnp.asarray(0.0, jnp.float64)
    for c in cfl:
        local_max = jnp.maximum(local_max, jnp.max(jnp.where(jnp.isfinite(c), c, 0)))
    cfl_max = global_max(local_max, context)
    where_max = jnp.asarray(sentinel)
    for c, key in zip(cfl, _local_keys(cfl, offset, shape_global, nz), strict=True):
        hit = c.reshape(key.shape) == cfl_max
        where_max = jnp.minimum(where_max, jnp.min(jnp.where(hit, key, sentinel)))
    where_max = global_min(where_max, context)
    return Health(
        bad_key=jnp.where(first_bad == sentinel, -1, first_bad),
        cfl=cfl_max,
        cfl_key=jnp.where(where_max == sentinel, -1, where_max),
    )


def _decode(key: int, names, nz, shape_global):
    ny, nx = shape_global
    key, i = divmod(key, nx)
    key, j = divmod(key, ny)
    f, k = divmod(key, nz)
    return names[f], k, j, i


def check(
    h: Health,
    step: int,
    names: tuple[str, ...],
    grid,
    cfl_limit: float,
    cfl_names: tuple[str, ...] = ("u", "v"),
) -> None:
    """Raise StabilityError naming step, field and place if ``h`` is unhealthy.

    Every rank holds the same Health, so every rank raises (non-zero exit on all).
    """
    shape_global = (grid.global_ny, grid.global_nx)
    bad = int(np.asarray(h.bad_key))
    if bad >= 0:
        name, k, j, i = _decode(bad, names, grid.nz, shape_global)
        level = f", level k={k}" if grid.nz > 1 else ""
        raise StabilityError(
            f"step {step}: NaN/Inf in {name} at {grid.location(j, i)}{level}; the "
            "run is unstable: reduce time.dt, raise the viscosity, or check forcing"
        )
    cfl = float(np.asarray(h.cfl))
    if cfl > cfl_limit:
        name, k, j, i = _decode(
            int(np.asarray(h.cfl_key)), cfl_names, grid.nz, shape_global
        )
        level = f", level k={k}" if grid.nz > 1 else ""
        raise StabilityError(
            f"step {step}: CFL {cfl:.3g} > {cfl_limit:g} in {name} at "
            f"{grid.location(j, i)}{level}; reduce time.dt (or raise "
            "physics.substeps)"
        )
