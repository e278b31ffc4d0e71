"""Split-explicit free surface: forward-backward barotropic sub-cycling."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

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

    Time filter (Shchepetkin & McWilliams 2005): the cycle runs on to
    dt + dt/2 (``cycle_length`` sub-steps) and returns the trapezoidal average
    of (eta, U, V) over [dt/2, 3dt/2], centred on dt: slow motions come back at
    the right time (a constant acceleration gives exactly U + G dt) while a
    barotropic wave of frequency w is damped by ~sinc(w dt / 2), and never
    amplified (non-negative weights). The last sub-step's state instead
    carried undamped fast waves into the slow step, where the frozen forcing
    re-excited them (`global`: an ssh mode grew from day ~23, docs/limits.md).

    Returns (eta, U, V, mean_u_transport, mean_v_transport): the filtered
    state, and the transports [m3 s-1] weighted so that
    eta_new = eta - dt div(mean transport) up to round-off (each flux counts
    with the share of the averaging window still ahead of it): tracers advected
    with them conserve volume and stay consistent with the free surface.

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
    # in the fields' precision: float64 weights would promote a float32 cycle
    state_w, flux_w = (jnp.asarray(w, eta.dtype) for w in filter_weights(substeps))

    def one(i, carry):
        eta, ubar, vbar, *sums = carry
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
        a, b = state_w[i + 1], flux_w[i]
        new = (eta, ubar, vbar, flux_u, flux_v)
        weights = (a, a, a, b, b)
        return (eta, ubar, vbar) + tuple(
            acc + w * x for acc, w, x in zip(sums, weights, new, strict=True)
        )

    def refill(carry):  # the halo rings the previous batch used up
        return (*exchange(carry[:3]), *carry[3:])

    def batched(i, carry):
        due = (i > 0) & (i % batch == 0)
        return one(i, jax.lax.cond(due, refill, lambda c: c, carry))

    # One loop of all sub-steps whatever the batch: loops of other trip counts
    # (e.g. a remainder batch of 1, which XLA inlines and fuses differently)
    # round differently, and the batch depends on the tile size, so the rank
    # count would change the last bits of the result.
    zeros = (jnp.zeros_like(eta), jnp.zeros_like(ubar), jnp.zeros_like(vbar))
    carry = (eta, ubar, vbar, *zeros, *zeros[1:])
    body = batched if batch < cycle_length(substeps) else one
    carry = jax.lax.fori_loop(0, cycle_length(substeps), body, carry)
    eta, ubar, vbar, sum_u, sum_v = carry[3:]
    return eta, ubar, vbar, sum_u / substeps, sum_v / substeps


def cycle_length(substeps: int) -> int:
    """Sub-steps of one barotropic cycle: on to dt + dt/2 (the filter window)."""
    return substeps + substeps // 2


def filter_weights(substeps: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): a[m] weights the state after sub-step m (m = 0..cycle_length),
    trapezoidal over m = N - N//2 .. N + N//2 (N = substeps; sum 1, centroid N:
    the filtered state sits at dt); b[k] = sum of a[m > k] weights the flux of
    sub-step k, so sum_m a[m] eta^m = eta^0 - dts div(sum_k b[k] F^k) and
    sum_k b[k] = N. N = 1 has no window: a = [0, 1], the plain last state."""
    half, length = substeps // 2, cycle_length(substeps)
    a = np.zeros(length + 1)
    if half == 0:
        a[substeps] = 1.0
    else:
        a[substeps - half : substeps + half + 1] = 1.0 / (2 * half)
        a[[substeps - half, substeps + half]] = 1.0 / (4 * half)
    b = 1.0 - np.cumsum(a)[:-1]
    return a, b


def halo_fills(cycle: int, batch: int) -> int:
    """Halo fills of a cycle of ``cycle`` sub-steps: the opening exchange and a
    refill before every ``batch``-th sub-step (``barotropic_substeps``' rule)."""
    if batch < 1:
        raise ValueError(f"barotropic batch must be >= 1, not {batch}")
    return -(-cycle // batch)
