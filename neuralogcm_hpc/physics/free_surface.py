"""Split-explicit free surface: forward-backward barotropic sub-cycling."""

from __future__ import annotations

import dataclasses
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
    coriolis = DepthWeightedCoriolis.build(depth_u, depth_v, grid)
    # in the fields' precision: float64 weights would promote a float32 cycle
    state_w, flux_w = (jnp.asarray(w, eta.dtype) for w in filter_weights(substeps))

    def one(i, carry):
        eta, ubar, vbar, *sums = carry
        flux_u, flux_v = face_u * ubar, face_v * vbar
        eta = grid.mask_c * (eta - dts * op.divergence(flux_u, flux_v, grid))
        # Coriolis forward-backward: U with the old V, then V with the new U, in
        # the depth-weighted energy-conserving form (DepthWeightedCoriolis)
        # (neutral for f dts < 2, so the barotropic inertia-gravity waves stay
        # bounded; with Coriolis in the frozen forcing they grow)
        push_u = forcing_u + coriolis.at_u(vbar) - gravity * op.grad_x(eta, grid)
        ubar = grid.mask_u * (ubar + dts * push_u)
        push_v = forcing_v - coriolis.at_v(ubar) - gravity * op.grad_y(eta, grid)
        vbar = grid.mask_v * (vbar + dts * push_v)
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


@dataclasses.dataclass(frozen=True)
class DepthWeightedCoriolis:
    """f k x U of the depth-mean flow: the depth mean of the 3-D per-level
    Coriolis term (baroclinic.coriolis_at_u/_v) for a depth-uniform flow.

        C_u = 1 / (H_u dx_u) sum_pairs f_q / 4 min(H_u, H_v) V dx_v

    over the four v faces of the u face's two corners (and the mirror for
    C_v). Each (u, v) pair shares its common wet depth min(H_u, H_v) (full
    cells: the levels both faces have), so the weights are symmetric and the
    work sum(area_u H_u U C_u - area_v H_v V C_v) is exactly 0: the term
    exchanges barotropic kinetic energy between U and V without making any.

    The plain f avg(V) (what the cycle used) is the depth mean only over a
    flat bottom. Beside a step from a 2214 m trough to a 535 m shelf (3-degree
    `global`, 75.5N) it applied the shelf's full V to the whole trough column,
    4 x the 3-D term's depth mean, and its work, H_u U f V - H_v V f U, is not
    0: the barotropic flow there grew by ~1.7 m/s per day and ended every run
    with real coastlines (benchmarks/results/global_coastlines.md).
    """

    se: jax.Array  # common depth of u (j, i) with v (j, i), v (j, i-1),
    sw: jax.Array  # v (j+1, i) and v (j+1, i-1) [m]; 0 where either is dry
    ne: jax.Array
    nw: jax.Array
    rhu: jax.Array  # 1 / H_u, 1 / H_v (0 on land)
    rhv: jax.Array
    grid: object

    @classmethod
    def build(cls, depth_u, depth_v, grid) -> DepthWeightedCoriolis:
        def rec(h):
            return jnp.where(h > 0, 1.0 / jnp.where(h > 0, h, 1.0), 0.0)

        return cls(
            se=jnp.minimum(depth_u, depth_v),
            sw=jnp.minimum(depth_u, op.xm(depth_v)),
            ne=jnp.minimum(depth_u, op.yp(depth_v)),
            nw=jnp.minimum(depth_u, op.yp(op.xm(depth_v))),
            rhu=rec(depth_u),
            rhv=rec(depth_v),
            grid=grid,
        )

    def at_u(self, vbar):
        """+f V at u faces [m s-2]."""
        g = self.grid
        vdx = vbar * g.dx_v
        south = g.f_q * (self.se * vdx + self.sw * op.xm(vdx))
        north = op.yp(g.f_q) * (self.ne * op.yp(vdx) + self.nw * op.yp(op.xm(vdx)))
        return 0.25 * (south + north) * self.rhu * g.rdx_u

    def at_v(self, ubar):
        """+f U at v faces [m s-2] (the v equation subtracts it)."""
        g = self.grid
        udy = ubar * g.dy_u
        west = self.se * udy + op.ym(self.ne * udy)
        east = op.xp(self.sw * udy) + op.xp(op.ym(self.nw * udy))
        return 0.25 * g.f_q * (west + east) * self.rhv * g.rdy_v
