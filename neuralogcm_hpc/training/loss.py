"""Normalised, area-weighted, land-masked MSE over checkpointed multi-step rollouts."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from neuralogcm_hpc import solver
from neuralogcm_hpc.parallel.halo import interior
from neuralogcm_hpc.parallel.jax_internals import allow_mpi_in_remat
from neuralogcm_hpc.parallel.reductions import fast_sum, global_sum


def cell_weights(hybrid) -> dict[str, jax.Array]:
    """Interior area x wet mask at each field's C-grid position, (levels|1, y, x)."""
    g, h = hybrid.grid, hybrid.halo.width
    out = {}
    for name in hybrid.names:
        kind = {"u": "u", "v": "v"}.get(name, "c")
        area = interior(getattr(g, f"area_{kind}") * jnp.ones_like(g.mask_c), h)
        mask = hybrid.out_masks[name]
        out[name] = (area * mask).reshape((-1,) + mask.shape[-2:])
    return out


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Per-field weights ``w / (sum_all_ranks(w) * std**2 * n_fields)`` so that the
    tile sums of ``w (pred - target)**2`` add up, over ranks, to the mean over
    fields of the area-weighted MSE in units of each field's variance.

    ``volume``: weight of the volume-drift penalty ``(dV / (A std_ssh))**2``
    (dV: predicted minus true ocean volume, m3; A: global ocean area, m2; needs an
    ``ssh`` field); 0 switches it off.
    """

    weights: dict[str, jax.Array]
    ssh_area: jax.Array | None  # interior wet cell areas at centres, m2
    volume_scale: float  # (A std_ssh)**2, m6
    volume: float = 0.0

    @classmethod
    def build(cls, hybrid, stats, context, volume: float = 0.0) -> LossSpec:
        raw = cell_weights(hybrid)
        weights = {}
        for name, w in raw.items():
            std = jnp.asarray(stats.std[name]).reshape(-1, 1, 1)
            w = w * jnp.ones((std.shape[0], 1, 1))
            weights[name] = w / (global_sum(w, context) * std**2 * len(raw))
        if volume and "ssh" not in raw:
            raise ValueError("train.volume_penalty needs an ssh field; set it to 0")
        ssh_area = raw.get("ssh")
        scale = 1.0
        if ssh_area is not None:
            scale = float(global_sum(ssh_area, context) * stats.std["ssh"][0]) ** 2
        return cls(weights, ssh_area, scale, volume)


def step_loss(spec: LossSpec, fields: dict, targets: dict, context):
    """This tile's share of one lead time's loss.

    Returns ``(local_mse, surrogate, penalty)``: ``local_mse`` sums over ranks to
    the global normalised MSE; ``penalty`` is the (global, same on every rank)
    volume-drift penalty. The penalty couples all ranks through one global sum;
    the surrogate ``local_mse + 2 lambda dV dV_tile / scale`` (dV held constant)
    has exactly the penalty's gradient once every rank differentiates its own
    surrogate and the parameter gradients are summed over ranks, so no gradient
    has to pass through an MPI reduction.
    """
    mse = jnp.zeros(())
    for name, w in spec.weights.items():
        err = (fields[name] - targets[name]).reshape(w.shape)
        mse = mse + jnp.sum(w * err**2)
    if not spec.volume:
        return mse, mse, jnp.zeros(())
    d_tile = jnp.sum(spec.ssh_area * (fields["ssh"] - targets["ssh"]))
    d_total = jax.lax.stop_gradient(fast_sum(d_tile, context))
    penalty = spec.volume * d_total**2 / spec.volume_scale
    surrogate = mse + 2 * spec.volume * d_total * d_tile / spec.volume_scale
    return mse, surrogate, penalty


def rollout_loss(hybrid, params, state, targets: dict, spec: LossSpec, context,
                 segment: int = 0):
    """Mean over ``R`` lead times of ``step_loss`` along a hybrid rollout.

    ``targets[name]``: (R, ...) interior tiles at hybrid steps 1..R. Returns
    ``(surrogate, (local_mse, penalty))`` for ``jax.grad(..., has_aux=True)``.
    ``segment > 0`` nests ``jax.checkpoint``: the outer scan keeps one state per
    segment and each segment's steps are recomputed in the backward pass, so
    memory is O(R / segment + segment) states instead of O(R) (segment ~ sqrt R).
    """
    length = next(iter(targets.values())).shape[0]
    if segment and context.size > 1:
        allow_mpi_in_remat()
    # Checkpointing each step as well keeps only states, not every stage's
    # intermediates, while a segment is recomputed.
    step = jax.checkpoint(hybrid.step) if segment else hybrid.step

    def one(carry, target):
        state, acc = carry
        state = step(state, params)
        terms = step_loss(spec, hybrid.model.fields(state), target, context)
        return (state, tuple(a + t for a, t in zip(acc, terms, strict=True))), None

    zero = (jnp.zeros(()),) * 3
    if 0 < segment < length and length % segment:
        raise ValueError(f"rollout {length} is not a multiple of the checkpoint "
                         f"segment {segment}; set train.remat_segment to a divisor")
    _, acc = solver.checkpointed_scan(one, (state, zero), targets, segment=segment)
    mse, surrogate, penalty = (a / length for a in acc)
    return surrogate, (mse, penalty)
