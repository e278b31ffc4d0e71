"""Field statistics (area-weighted over wet cells, all ranks) for normalisation."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.neural.corrector import Normaliser
from neuralogcm_hpc.parallel.halo import interior
from neuralogcm_hpc.parallel.reductions import global_sum

# Floors keep a constant field (e.g. f = f0 on an f-plane, a flat bottom) from
# dividing by zero: it then normalises to 0, which carries no information anyway.
_STD_FLOOR = 1e-30


@dataclasses.dataclass(frozen=True)
class FieldStats:
    """Per level, per prognostic field (arrays of shape (levels,)).

    ``mean``/``std``: of the field itself (field units); ``tendency_std``: of its
    change over one hybrid step divided by the step length (field units s-1), the
    natural scale of a correction tendency.
    """

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    tendency_std: dict[str, np.ndarray]


def weighted_moments(x, weight, context) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per level of ``x`` (..., levels, y, x) with cell weights
    ``weight`` (levels or 1, y, x), over every leading axis and all ranks.

    Reproducible sums, so every rank (and every rank count) gets the same bits.
    """
    x = jnp.asarray(x)
    x = x.reshape((-1,) + x.shape[-3:])
    w = jnp.broadcast_to(jnp.asarray(weight), x.shape[1:])
    levels = x.shape[1]
    mean, std = np.empty(levels), np.empty(levels)
    for k in range(levels):
        total = global_sum(w[k], context) * x.shape[0]
        m = global_sum(x[:, k] * w[k], context) / total
        var = global_sum((x[:, k] - m) ** 2 * w[k], context) / total
        mean[k], std[k] = float(m), max(float(jnp.sqrt(var)), _STD_FLOOR)
    return mean, std


def field_stats(data, weights: dict, context) -> FieldStats:
    """Statistics of a TileDataset; ``weights[name]``: interior area x wet mask.

    The velocity components u and v share one scale, the root mean of their two
    variances (per level, for the field and for its tendency): they are parts of
    one vector, so the loss and the corrector stay rotation-invariant. Separate
    scales break in a zonal jet, where v's variance is 1e-4 of u's (std 4e-5 vs
    0.5 m/s in the training benchmark): a 1e-3 m/s error in v then weighed 1e4
    times one in u, and the training fitted v at the expense of u.
    """
    mean, std, tend = {}, {}, {}
    for name, x in data.fields.items():
        x3 = x if x.ndim == 5 else x[:, :, None]
        mean[name], std[name] = weighted_moments(x3, weights[name], context)
        increments = (x3[:, 1:] - x3[:, :-1]) / data.dt
        _, tend[name] = weighted_moments(increments, weights[name], context)
    if "u" in std and "v" in std:
        for scales in (std, tend):
            shared = np.sqrt(0.5 * (scales["u"] ** 2 + scales["v"] ** 2))
            scales["u"], scales["v"] = shared, shared.copy()
    return FieldStats(mean, std, tend)


def corrector_normaliser(stats: FieldStats, hybrid, context) -> Normaliser:
    """Input/output scales for the hybrid's corrector: prognostic fields, then the
    static forcing channels (Coriolis, depth), in the corrector's channel order."""
    h = hybrid.halo.width
    wet = interior(hybrid.mask, h)[None]
    area = interior(hybrid.grid.area_c * jnp.ones_like(hybrid.mask), h)[None]
    means = [stats.mean[n] for n in hybrid.names]
    stds = [stats.std[n] for n in hybrid.names]
    for name in ("f", "depth"):
        m, s = weighted_moments(interior(hybrid.forcing[name], h)[None, None],
                                area * wet, context)
        means.append(m)
        stds.append(s)
    # Output scales per network channel: a velocity's tendency std; for a
    # conserved field's flux F (div F is its tendency) the tendency std times
    # the mean cell width, so |div F| ~ std when F varies over one cell.
    width = float(jnp.sqrt(global_sum(area * wet, context)
                           / global_sum(wet, context)))
    scale = []
    for channel, _ in hybrid.adapter.outputs(tuple((n, 1) for n in hybrid.names)):
        name = channel.split(":")[0]
        factor = width if ":" in channel else 1.0
        scale.append(stats.tendency_std[name] * factor)
    return Normaliser(
        jnp.asarray(np.concatenate(means)),
        jnp.asarray(np.concatenate(stds)),
        jnp.asarray(np.concatenate(scale)),
    )
