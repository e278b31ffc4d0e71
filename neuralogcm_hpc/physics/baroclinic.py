"""3-D terms of the primitive equations: pressure, continuity, advection, diffusion."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neuralogcm_hpc.physics import operators as op

_TINY = 1e-30  # keeps the limiter's 0/0 finite; far below any tracer difference


def level_sum(x):
    """Sum over the level axis (0) in one fixed order, top level first.

    ``jnp.sum`` leaves the order to XLA, which chooses it from the array shape:
    the resting depth of the 12-level double_gyre columns, summed on a 24 x 24
    wide-halo tile and on the 48 x 48 serial one, differed by 1 ulp (9e-13 of
    3000 m), and 2 ranks then differed from 1 from the first step. A chain of
    adds has the same order on every tile shape (numpy or JAX arrays)."""
    total = x[0]
    for k in range(1, x.shape[0]):
        total = total + x[k]
    return total


def hydrostatic_pressure(
    rho_anomaly: jax.Array, dz: jax.Array, gravity: float, rho0: float
) -> jax.Array:
    """p' / rho0 [m2 s-2] at level centres from the density anomaly (nz, ny, nx):
    the weight of the anomalies above, half of the own level included. The
    surface pressure g eta is left to the barotropic mode."""
    b = gravity * rho_anomaly / rho0 * dz[:, None, None]
    above = jnp.cumsum(b, axis=0) - b
    return above + 0.5 * b


def vertical_velocity(div_h: jax.Array) -> jax.Array:
    """Upward volume flux per area [m s-1] through the TOP of each level, from
    continuity with no flow through the bottom: W_k = -sum_{k' >= k} div_k'.
    The top interface is set to 0: the free surface absorbs the column total."""
    below = jnp.flip(jnp.cumsum(jnp.flip(div_h, 0), axis=0), 0)
    return jnp.concatenate([jnp.zeros_like(div_h[:1]), -below[1:]], axis=0)


def _limited(a: jax.Array, b: jax.Array) -> jax.Array:
    """van Leer's limited slope: the harmonic mean of the upwind difference ``a``
    and the downwind one ``b`` when they share a sign, else 0 (TVD)."""
    return (a * jnp.abs(b) + jnp.abs(a) * b) / (jnp.abs(a) + jnp.abs(b) + _TINY)


def _face_value(up2, up, down, courant):
    """Lax-Wendroff face value limited towards upwind (TVD for |courant| <= 1)."""
    return up + 0.5 * (1.0 - jnp.abs(courant)) * _limited(up - up2, down - up)


def tracer_advection(c, transport_u, transport_v, w_top, dt, grid, dz):
    """-div(flux) of tracer ``c`` [c m s-1 per unit area] with flux-limited
    (van Leer) second-order upwind fluxes in x, y and z.

    ``transport_u``/``transport_v``: volume transports through the faces of each
    level [m3 s-1]; ``w_top`` upward flux per area through the top of each level.
    Flux form: the domain sum of area * tendency is exactly zero in a closed
    basin. Reach 2 (needs grid.halo >= 2 beyond the faces used)."""
    u = transport_u / (grid.dy_u * dz)
    v = transport_v / (grid.dx_v * dz)
    cu, cv = u * dt / grid.dx_u, v * dt / grid.dy_v
    west, east = op.xm(c), c
    fx = jnp.where(
        u >= 0,
        _face_value(op.xm(west), west, east, cu),
        _face_value(op.xp(east), east, west, cu),
    )
    south, north = op.ym(c), c
    fy = jnp.where(
        v >= 0,
        _face_value(op.ym(south), south, north, cv),
        _face_value(op.yp(north), north, south, cv),
    )
    horizontal = op.divergence(transport_u * fx, transport_v * fy, grid)
    # vertical: face at the top of level k between above = c[k-1], below = c[k]
    pad_top = jnp.concatenate([c[:1], c[:1], c], axis=0)  # edge-replicated
    pad = jnp.concatenate([pad_top, c[-1:]], axis=0)
    above2, above, below, below2 = pad[:-3], pad[1:-2], pad[2:-1], pad[3:]
    dzw = jnp.concatenate([dz[:1], 0.5 * (dz[1:] + dz[:-1])], axis=0)
    cw = w_top * dt / dzw
    fz = jnp.where(
        w_top >= 0,  # upward: level k (below) is upwind
        _face_value(below2, below, above, cw),
        _face_value(above2, above, below, cw),
    )
    flux_top = w_top * fz
    flux_bottom = jnp.concatenate([flux_top[1:], jnp.zeros_like(flux_top[:1])], 0)
    return -horizontal - flux_top + flux_bottom


def momentum_advection(u, v, transports, w_top, h, grid3, tan_q, radius):
    """-(u.grad)u - w du/dz (+ spherical metric terms), energy-conserving.

    Every direction is written "flux form minus u times continuity" with centred
    face values: each face of a u (v) control volume carries the average of the
    two volume transports [m3 s-1] next to it, F, and contributes
    -F (a_beyond - a_here) / (2 V). This operator is skew-symmetric, so it moves
    sum(V u^2) around without creating any: the total changes only by
    u^2/2 times the net convergence, which continuity (the vertical transports
    are the area-weighted averages of the z* w the tracers see) cancels.
    The advective form -u (u[i+1] - u[i-1]) / 2dx it replaces is +u[i] u[i-1] / 2dx
    next to a closed end: flow into a 1-cell dead end accelerated itself, which
    blew the 1.5-degree `globe` run up at day 22 (77.7N, 85 m/s; see
    benchmarks/results/global_coastlines.md).

    Metric terms (u v tan / a, -u^2 tan / a) act like an extra Coriolis
    parameter u tan(lat) / a and take the same energy-conserving corner form as
    ``coriolis_at_u``: they do no work either. ``transports``: the volume
    transports (u, v) [m3 s-1] through the faces of each level, the very
    arrays whose divergence gave ``w_top``, the upward velocity through the
    top of each level at centres (else continuity does not close and energy
    is not conserved); ``h``: level thicknesses;
    ``tan_q``: tan(latitude) at corner rows (0 on a beta plane).
    Reach 1 in x and y."""
    g = grid3
    transport_u, transport_v = transports
    transport_w = g.area_c * w_top
    # u control volume: east / west faces at centres, north / south at corners
    east = op.u_to_c(transport_u)
    south = op.v_to_q(transport_v)
    du = _skew_advection(
        u, (east, op.xm(east), op.yp(south), south), op.c_to_u(transport_w),
        g.area_u * h,
    )
    # v control volume: east / west faces at corners, north / south at centres
    west = op.u_to_q(transport_u)
    north = op.v_to_c(transport_v)
    dv = _skew_advection(
        v, (op.xp(west), west, north, op.ym(north)), op.c_to_v(transport_w),
        g.area_v * h,
    )
    if radius:
        metric_q = op.u_to_q(u) * tan_q / radius
        du = du + rotation_at_u(v, metric_q, g)
        dv = dv - rotation_at_v(u, metric_q, g)
    return g.mask_u * du, g.mask_v * dv


def _skew_advection(a, horizontal, transport_top, volume):
    """-sum over faces F (a_beyond - a) / (2 V): ``horizontal`` holds the
    transports through the east, west, north and south faces (positive
    eastward / northward), ``transport_top`` the upward ones through the top of
    each level (0 through the bottom)."""
    east, west, north, south = horizontal
    above = jnp.concatenate([a[:1], a[:-1]], axis=0)
    below = jnp.concatenate([a[1:], a[-1:]], axis=0)
    bottom = jnp.concatenate(
        [transport_top[1:], jnp.zeros_like(transport_top[:1])], axis=0
    )
    change = (
        east * (op.xp(a) - a)
        + west * (a - op.xm(a))
        + north * (op.yp(a) - a)
        + south * (a - op.ym(a))
        + transport_top * (above - a)
        + bottom * (a - below)
    )
    return -change / (2 * volume)


def horizontal_diffusion(c, kappa, dz, grid3):
    """div(kappa h grad c) per level [c m s-1], no flux through land faces."""
    k = kappa * dz
    return op.tracer_laplacian(c, k, k, grid3, grid3.mask_u, grid3.mask_v)


def rotation_at_u(v, f_q, grid):
    """f v at u points for a rotation rate ``f_q`` given at corners, in the
    energy-conserving form (Sadourny 1975, per level):
    avg_y(f_q avg_x(v dx_v)) / dx_u. With ``rotation_at_v`` the work
    sum(area_u u f v_u - area_v v f u_v) is exactly 0 on the sphere; plain
    averages f_u avg(v) are not adjoint where cos(lat) changes (8 % per 1.5-degree
    row at 72 N), so they did work there."""
    return op.q_to_u(f_q * op.v_to_q(v * grid.dx_v)) * grid.rdx_u


def rotation_at_v(u, f_q, grid):
    """f u at v points, the partner of ``rotation_at_u``."""
    return op.q_to_v(f_q * op.u_to_q(u * grid.dy_u)) * grid.rdy_v


def coriolis_at_u(v, grid):
    """The Coriolis term f v at u points (``rotation_at_u`` with the grid's f)."""
    return rotation_at_u(v, grid.f_q, grid)


def coriolis_at_v(u, grid):
    """f u at v points, the partner of ``coriolis_at_u``."""
    return rotation_at_v(u, grid.f_q, grid)
