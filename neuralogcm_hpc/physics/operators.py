"""Arakawa C-grid finite-volume stencils on halo-padded tiles (metrics from a Grid).

Index convention (see grid.Grid): u[j, i] on the WEST face of cell (j, i), v[j, i]
on the SOUTH face, q (vorticity, PV) at the SOUTH-WEST corner. Every operator
returns an array of the full tile shape; a stencil of reach r is exact everywhere
except the outer r rings of the halo, which hold garbage. Each reach-1
operator therefore "uses up" one halo ring: with a halo of 2 and one exchange per
stage, compositions of reach <= 2 (e.g. the biharmonic) are exact in the interior.
No operator reduces over the tile, so results never depend on the tile shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neuralogcm_hpc.physics.window import Window


# -- neighbours: a slice padded back to the tile shape. The padded edge (zeros)
# lands in the outermost halo ring, which no interior result reads. Pads fuse
# into XLA loops; rolls (slice + concatenate) measured 15% slower and 45 vs 27
# fusions per step on the 360 x 180 beta plane. A Window (physics/window.py)
# crops instead, which is faster still: every operator below accepts both.
def _shift(a: jax.Array, axis: int, step: int) -> jax.Array:
    if isinstance(a, Window):
        return a.shift(axis, step)
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    if step > 0:  # value from the lower neighbour
        pad[axis] = (1, 0)
        return jnp.pad(jax.lax.slice_in_dim(a, 0, n - 1, axis=axis), pad)
    pad[axis] = (0, 1)
    return jnp.pad(jax.lax.slice_in_dim(a, 1, n, axis=axis), pad)


def xm(a: jax.Array) -> jax.Array:
    """a[j, i-1]"""
    return _shift(a, a.ndim - 1, 1)


def xp(a: jax.Array) -> jax.Array:
    """a[j, i+1]"""
    return _shift(a, a.ndim - 1, -1)


def ym(a: jax.Array) -> jax.Array:
    """a[j-1, i]"""
    return _shift(a, a.ndim - 2, 1)


def yp(a: jax.Array) -> jax.Array:
    """a[j+1, i]"""
    return _shift(a, a.ndim - 2, -1)


# -- two-point averages between staggered positions ----------------------------
def c_to_u(a):  # centres (j, i-1), (j, i) -> west face of (j, i)
    return 0.5 * (a + xm(a))


def c_to_v(a):  # centres (j-1, i), (j, i) -> south face
    return 0.5 * (a + ym(a))


def u_to_c(a):  # west and east faces -> centre
    return 0.5 * (a + xp(a))


def v_to_c(a):  # south and north faces -> centre
    return 0.5 * (a + yp(a))


def u_to_q(a):  # u at (j-1, i), (j, i) -> corner (j, i)
    return 0.5 * (a + ym(a))


def v_to_q(a):  # v at (j, i-1), (j, i) -> corner (j, i)
    return 0.5 * (a + xm(a))


def q_to_u(a):  # corners (j, i), (j+1, i) -> u (j, i)
    return 0.5 * (a + yp(a))


def q_to_v(a):  # corners (j, i), (j, i+1) -> v (j, i)
    return 0.5 * (a + xp(a))


def wet_corner_weight(mask_c):
    """1 / (number of wet cells around each corner), 0 where none is wet; static,
    so models compute it once for ``c_to_q_masked``."""
    count = mask_c + xm(mask_c)
    count = count + ym(count)
    return jnp.where(count > 0, 1.0 / jnp.maximum(count, 1.0), 0.0)


def c_to_q_masked(a, mask_c, weight=None):
    """Mean of the wet cells among the four around a corner (0 if none is wet);
    ``weight``: precomputed ``wet_corner_weight(mask_c)``."""
    weight = wet_corner_weight(mask_c) if weight is None else weight
    total = a * mask_c
    total = total + xm(total)
    total = total + ym(total)
    return total * weight


# -- differential operators ----------------------------------------------------
def grad_x(c, g):
    """d/dx of a centre field at u points."""
    return (c - xm(c)) * g.rdx_u


def grad_y(c, g):
    """d/dy of a centre field at v points."""
    return (c - ym(c)) * g.rdy_v


def divergence(u_transport, v_transport, g):
    """Flux divergence at centres; transports are volume fluxes through faces
    (u * dy_u [* h], v * dx_v [* h]). Telescopes: sum(area_c * div) = boundary flux.
    """
    return (xp(u_transport) - u_transport + yp(v_transport) - v_transport) * g.rarea_c


def curl(u, v, g):
    """Relative vorticity at corners by circulation around the dual cell (Stokes),
    masked to 0 at corners touching land (free slip)."""
    vdy, udx = v * g.dy_v, u * g.dx_u
    return g.mask_q * ((vdy - xm(vdy)) - (udx - ym(udx))) * g.rarea_q


def kinetic_energy(u, v):
    """(u^2 + v^2) / 2 at centres from face values (two-point means of squares)."""
    return 0.5 * (u_to_c(u * u) + v_to_c(v * v))


def tracer_laplacian(c, kappa_u, kappa_v, g, mask_u=None, mask_v=None):
    """div(kappa grad c) at centres with no flux through land faces.

    ``kappa_u``/``kappa_v``: diffusivity at u and v faces (scalar or field).
    Conserves sum(area_c * c) exactly (flux form)."""
    mask_u = g.mask_u if mask_u is None else mask_u
    mask_v = g.mask_v if mask_v is None else mask_v
    fx = kappa_u * mask_u * g.dy_u * grad_x(c, g)
    fy = kappa_v * mask_v * g.dx_v * grad_y(c, g)
    return divergence(fx, fy, g)


def vector_laplacian(u, v, nu_c, nu_q, g, zeta=None):
    """Viscous acceleration grad(nu D) - curl(nu zeta) at u, v (reach 1).

    Vector-invariant form of nu * Laplacian(u) with divergence D at centres and
    vorticity zeta at corners; nu_c / nu_q: viscosity at centres / corners.
    Free slip (zeta = 0 on land corners); land faces get 0. ``zeta``: the
    caller's ``curl(u, v, g)`` if it has it already.
    """
    div = g.mask_c * divergence(u * g.dy_u, v * g.dx_v, g)
    zeta = curl(u, v, g) if zeta is None else zeta
    nd, nz = nu_c * div, nu_q * zeta
    du = grad_x(nd, g) - (yp(nz) - nz) * g.rdy_u
    dv = grad_y(nd, g) + (xp(nz) - nz) * g.rdx_v
    return g.mask_u * du, g.mask_v * dv


def coriolis_energy(q, u_transport, v_transport, g):
    """The (f + zeta) k x u term in Sadourny's (1975) energy-conserving form.

    ``q`` = (f + zeta) / h at corners; transports U = h u dy_u, V = h v dx_v.
    du = + avg_y(q avg_x V) / dx_u,  dv = - avg_x(q avg_y U) / dy_v.
    Summation by parts shows sum(U du dx_u + V dv dy_v) = 0: the term does no work.
    """
    du = q_to_u(q * v_to_q(v_transport)) * g.rdx_u
    dv = -q_to_v(q * u_to_q(u_transport)) * g.rdy_v
    return g.mask_u * du, g.mask_v * dv
