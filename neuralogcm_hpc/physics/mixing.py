"""Implicit vertical mixing (one tridiagonal solve per column) and convective mixing."""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def solve_tridiagonal(lower: Array, diag: Array, upper: Array, rhs: Array) -> Array:
    """Solve one tridiagonal system per column along axis 0 (Thomas algorithm).

    ``lower[k]`` multiplies x[k-1] (lower[0] unused), ``upper[k]`` x[k+1]
    (upper[-1] unused). The level loop is unrolled in Python (nz is small and
    static, e.g. 23) and every column is vectorised, so XLA fuses it and reverse
    mode differentiates it directly. Stable without pivoting for the diagonally
    dominant matrices of implicit diffusion (|diag| >= |lower| + |upper|).
    """
    nz = diag.shape[0]
    c_prime, d_prime = [], []
    c_k = upper[0] / diag[0]
    d_k = rhs[0] / diag[0]
    c_prime.append(c_k)
    d_prime.append(d_k)
    for k in range(1, nz):
        denom = diag[k] - lower[k] * c_k
        c_k = upper[k] / denom
        d_k = (rhs[k] - lower[k] * d_k) / denom
        c_prime.append(c_k)
        d_prime.append(d_k)
    x = [None] * nz
    x[nz - 1] = d_prime[nz - 1]
    for k in range(nz - 2, -1, -1):
        x[k] = d_prime[k] - c_prime[k] * x[k + 1]
    return jnp.stack(x)


def implicit_vertical_diffusion(
    field: Array,
    thickness: Array,
    kappa: Array,
    spacing: Array,
    dt: float | Array,
    mask: Array,
    surface_flux: Array | None = None,
    drag: Array | None = None,
) -> Array:
    """Backward-Euler vertical diffusion of ``field`` (nz, ny, nx) in each column.

    Solves, for every wet level k (k = 0 at the surface, increasing downward),
        h_k (c_k' - c_k) / dt = D_{k-1/2} - D_{k+1/2} - r_k c_k' + F delta_k0,
        D_{k+1/2} = kappa_{k+1/2} (c_k' - c_{k+1}') / spacing_{k+1/2},
    with ``thickness`` h (nz, ny, nx), ``kappa`` (nz-1, ...) at the interfaces
    between levels k and k+1 [m2 s-1], ``spacing`` (nz-1, ...) the distance
    between the level centres [m], optional ``surface_flux`` F into the top cell
    [field units x m s-1] (explicit) and optional linear ``drag`` r_k [m s-1]
    (implicit; the bottom drag of momentum). Interfaces touching land get no
    flux, so sum_k h_k c_k changes only by dt (F - sum_k r_k c_k'): the column
    content is conserved to round-off. Dry cells are returned unchanged.
    """
    wet = mask > 0
    h = jnp.where(wet, thickness, 1.0)  # dry rows become the identity
    both_wet = mask[:-1] * mask[1:]
    a = dt * kappa * both_wet / spacing  # (nz-1, ...) interface conductances x dt
    zeros = jnp.zeros_like(a[:1])
    a_above = jnp.concatenate([zeros, a], axis=0)  # interface k-1/2 of level k
    a_below = jnp.concatenate([a, zeros], axis=0)  # interface k+1/2 of level k
    diag = h + a_above + a_below
    if drag is not None:
        diag = diag + dt * drag * mask
    rhs = h * field
    if surface_flux is not None:
        rhs = rhs.at[0].add(dt * surface_flux * mask[0])
    return solve_tridiagonal(-a_above, diag, -a_below, rhs)


def unstable_interfaces(rho_upper: Array, rho_lower: Array) -> Array:
    """1.0 where the upper cell is denser than the one below it, else 0.0.

    Both densities must be referenced to the interface's pressure (locally
    referenced potential density), so compressibility does not count as
    instability with a nonlinear EOS.
    """
    return (rho_upper > rho_lower).astype(rho_upper.dtype)


def convective_diffusivity(
    background: Array | float, convective: float, unstable: Array
) -> Array:
    """Vertical diffusivity with ``convective`` [m2 s-1] where N^2 < 0.

    Enhanced diffusion is the implicit form of convective adjustment
    (Cox 1984; Marotzke 1991): with convective * dt / dz^2 >> 1 an unstable
    pair of cells is mixed to its mean within one step, without an iteration.
    """
    return jnp.where(unstable > 0, convective, background)


def richardson_mixing(
    n2: Array, shear2: Array, nu0: float, alpha: float = 5.0
) -> tuple[Array, Array]:
    """Shear-driven vertical viscosity and diffusivity of Pacanowski & Philander
    (1981) at interfaces, to be added to the background coefficients:

        Ri = N^2 / S^2,  nu = nu0 / (1 + alpha Ri)^2,  kappa = nu / (1 + alpha Ri).

    ``n2``: buoyancy frequency squared [s-2] (locally referenced), ``shear2``:
    (du/dz)^2 + (dv/dz)^2 [s-2]. Ri is clipped at 0 (statically unstable
    interfaces get nu0; their tracers mix by the convective diffusivity). The
    1e-14 s-2 floor on S^2 (shear of 1e-7 s-1, far below the 1e-5 s-1 of a 1 cm/s
    difference over 1 km) keeps Ri finite at rest, where nu -> 0 smoothly.
    """
    ri = jnp.maximum(n2, 0.0) / (shear2 + 1e-14)
    damping = 1.0 / (1.0 + alpha * ri)
    nu = nu0 * damping**2
    return nu, nu * damping
