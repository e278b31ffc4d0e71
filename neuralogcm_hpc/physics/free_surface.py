"""Split-explicit free surface: forward-backward barotropic sub-cycling."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from neuralogcm_hpc.physics import operators as op


def barotropic_substeps(
    eta: jax.Array,
    ubar: jax.Array,
    vbar: jax.Array,
    forcing_u: jax.Array,
    forcing_v: jax.Array,
    depth_u: jax.Array,
    depth_v: jax.Array,
    grid,
    gravity: float,
    dt: float,
    substeps: int,
    exchange: Callable,
    batch: int,
):
    """Integrate the depth-mean flow and ssh over one baroclinic step ``dt``.

        eta^{m+1} = eta^m - dts div(H U^m)
        U^{m+1}   = U^m + dts (f V^m - g d(eta^{m+1})/dx + G_u)  (dts = dt / substeps)
        V^{m+1}   = V^m + dts (-f U^{m+1} - g d(eta^{m+1})/dy + G_v)

    (forward-backward: stable for sqrt(gH) dts / dx below ~0.7 in 2-D). ``G``
    (``forcing_u``/``forcing_v``) is the depth mean of every slow tendency
    (advection, baroclinic pressure, friction, wind, and the baroclinic part of
    Coriolis: the caller removes the depth-mean Coriolis), frozen over the step.
    ``depth_u``/``depth_v``: resting water depth at the faces (a linearised
    transport, so the same depths close the 3-D continuity exactly).

    Returns (eta, U, V, mean_u_transport, mean_v_transport); the mean transports
    [m3 s-1] are the average of the fluxes that moved eta, so
    eta_new = eta - dt div(mean transport) up to round-off: tracers advected with
    them conserve volume and stay consistent with the free surface.

    Halos (communication avoiding): every array lives on a tile with a WIDE
    halo (``grid``'s), all valid on entry, ``forcing`` included. A sub-step uses
    up one ring of valid halo per side (V's east side two on the first), so
    ``batch`` sub-steps run between refills of (eta, U, V) by ``exchange`` (one
    packed message of three 2-D arrays): with a halo of W, batch = W - 2 leaves
    the outputs valid on the first halo ring, all the caller needs. With W >=
    substeps + 2 the whole cycle runs without an exchange.
    """
    dts = dt / substeps
    face_u = depth_u * grid.dy_u
    face_v = depth_v * grid.dx_v

    def one(_, carry):
        eta, ubar, vbar, sum_u, sum_v = carry
        flux_u, flux_v = face_u * ubar, face_v * vbar
        eta = grid.mask_c * (eta - dts * op.divergence(flux_u, flux_v, grid))
        # Coriolis forward-backward: U with the old V, then V with the new U, in
        # the energy-conserving form of baroclinic.coriolis_at_u/_v
        # (neutral for f dts < 2, so the barotropic inertia-gravity waves stay
        # bounded; with Coriolis in the frozen forcing they grow)
        coriolis_u = op.q_to_u(grid.f_q * op.v_to_q(vbar * grid.dx_v)) * grid.rdx_u
        ubar = grid.mask_u * (
            ubar + dts * (forcing_u + coriolis_u - gravity * op.grad_x(eta, grid))
        )
        coriolis_v = -op.q_to_v(grid.f_q * op.u_to_q(ubar * grid.dy_u)) * grid.rdy_v
        vbar = grid.mask_v * (
            vbar + dts * (forcing_v + coriolis_v - gravity * op.grad_y(eta, grid))
        )
        return eta, ubar, vbar, sum_u + flux_u, sum_v + flux_v

    def refill(carry):  # the halo rings the previous batch used up
        return (*exchange(carry[:3]), *carry[3:])

    def batched(i, carry):
        due = (i > 0) & (i % batch == 0)
        return one(i, jax.lax.cond(due, refill, lambda c: c, carry))

    # One loop of all sub-steps whatever the batch: loops of other trip counts
    # (e.g. a remainder batch of 1, which XLA inlines and fuses differently)
    # round differently, and the batch depends on the tile size, so the rank
    # count would change the last bits of the result.
    carry = (eta, ubar, vbar, jnp.zeros_like(ubar), jnp.zeros_like(vbar))
    body = batched if batch < substeps else one
    eta, ubar, vbar, sum_u, sum_v = jax.lax.fori_loop(0, substeps, body, carry)
    return eta, ubar, vbar, sum_u / substeps, sum_v / substeps


def batch_sizes(substeps: int, batch: int) -> list[int]:
    """Sub-steps between halo refills: ``batch`` each, the remainder last."""
    if batch < 1:
        raise ValueError(f"barotropic batch must be >= 1, not {batch}")
    full, rest = divmod(substeps, batch)
    return [batch] * full + ([rest] if rest else [])
