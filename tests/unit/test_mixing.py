"""Implicit vertical mixing: conservation, analytic decay, convective mixing, drag."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.physics.mixing import (
    convective_diffusivity,
    implicit_vertical_diffusion,
    solve_tridiagonal,
    unstable_interfaces,
)


def test_thomas_matches_dense_solve():
    rng = np.random.default_rng(0)
    n = 7
    lower, upper = -rng.uniform(0, 1, n), -rng.uniform(0, 1, n)
    diag = 2.5 + rng.uniform(0, 1, n)  # diagonally dominant like implicit diffusion
    rhs = rng.normal(size=n)
    dense = np.diag(diag) + np.diag(lower[1:], -1) + np.diag(upper[:-1], 1)
    x = solve_tridiagonal(*(jnp.asarray(a)[:, None] for a in (lower, diag, upper, rhs)))
    # condition number < 10 here, so 1e-13 is ~100 ulp of headroom
    np.testing.assert_allclose(x[:, 0], np.linalg.solve(dense, rhs), rtol=1e-13)


def test_column_content_conserved_to_round_off():
    rng = np.random.default_rng(1)
    nz, ny, nx = 12, 3, 4
    field = jnp.asarray(rng.normal(10, 3, (nz, ny, nx)))
    h = jnp.asarray(rng.uniform(5, 200, (nz, ny, nx)))
    kappa = jnp.asarray(rng.uniform(1e-5, 10.0, (nz - 1, ny, nx)))  # 1 m2/s: convective
    spacing = 0.5 * (h[:-1] + h[1:])
    mask = jnp.ones((nz, ny, nx)).at[8:, 0, 0].set(0.0)  # a shallow column
    flux = jnp.asarray(rng.normal(0, 1e-4, (ny, nx)))
    dt = 3600.0
    new = implicit_vertical_diffusion(field, h, kappa, spacing, dt, mask, flux)
    before = jnp.sum(h * field * mask, axis=0) + dt * flux
    after = jnp.sum(h * new * mask, axis=0)
    # round-off: ~nz operations of relative size 1e-16 on column contents ~1e4
    rel = jnp.max(jnp.abs(after - before)) / jnp.max(jnp.abs(before))
    assert rel < 1e-14
    assert jnp.all(new[8:, 0, 0] == field[8:, 0, 0])  # dry cells untouched


def test_cosine_mode_decays_at_the_discrete_and_analytic_rate():
    nz, depth, kappa, dt, steps = 40, 1000.0, 1e-2, 3600.0, 48
    dz = depth / nz
    z = (np.arange(nz) + 0.5) * dz
    mode = np.cos(np.pi * z / depth)  # first Neumann mode: no flux at both ends
    field = jnp.asarray(mode)[:, None, None]
    ones = jnp.ones((nz, 1, 1))
    step = jax.jit(
        lambda c: implicit_vertical_diffusion(
            c, dz * ones, kappa * ones[1:], dz * ones[1:], dt, ones
        )
    )
    for _ in range(steps):
        field = step(field)
    # cos(pi (k + 1/2) / N) is an exact eigenvector of the discrete operator with
    # eigenvalue 4 kappa / dz^2 sin^2(pi / 2N); backward Euler divides by
    # (1 + dt lambda) each step, so the shape and amplitude match to round-off.
    lam = 4 * kappa / dz**2 * np.sin(np.pi / (2 * nz)) ** 2
    np.testing.assert_allclose(
        field[:, 0, 0], mode * (1 + dt * lam) ** -steps, rtol=1e-12, atol=1e-14
    )
    # The continuous solution decays as exp(-kappa (pi/D)^2 t): here
    # kappa (pi/D)^2 t = 0.017, and the O(dt lambda) + O(dz^2) errors of
    # backward Euler + second-order space are ~1.5e-4 of the amplitude.
    analytic = mode * np.exp(-kappa * (np.pi / depth) ** 2 * dt * steps)
    np.testing.assert_allclose(field[:, 0, 0], analytic, atol=3e-4)


def test_convective_mixing_homogenises_an_unstable_column():
    nz, dz, dt = 6, 10.0, 3600.0
    temp = jnp.array([5.0, 5.0, 5.0, 15.0, 15.0, 15.0])[:, None, None]  # cold on top
    rho = -2e-4 * temp  # linear EOS anomaly (per rho0): cold = dense
    unstable = unstable_interfaces(rho[:-1], rho[1:])
    assert unstable[:, 0, 0].tolist() == [0, 0, 1, 0, 0]
    ones = jnp.ones((nz, 1, 1))

    @jax.jit
    def step(temp):  # re-diagnose instability each step, as the model does
        rho = -2e-4 * temp
        unstable = unstable_interfaces(rho[:-1], rho[1:])
        kappa = convective_diffusivity(1e-5, 100.0, unstable)
        return implicit_vertical_diffusion(
            temp, dz * ones, kappa, dz * ones[1:], dt, ones
        )

    for _ in range(20):
        temp = step(temp)
    # Content conserved: kappa dt / dz^2 = 3600 makes the matrix ill-conditioned
    # (~1e4), so 20 solves lose ~1e-12 relative to round-off; 1e-11 bounds it.
    assert float(jnp.sum(temp)) == pytest.approx(60.0, rel=1e-11)
    # and the overturned column ends statically stable
    assert bool(jnp.all(temp[:-1, 0, 0] >= temp[1:, 0, 0] - 1e-6))


def test_implicit_bottom_drag_and_gradient():
    nz, dz, dt, r = 4, 50.0, 3600.0, 1e-3
    ones = jnp.ones((nz, 1, 1))
    drag = jnp.zeros((nz, 1, 1)).at[-1].set(r)
    u0 = 0.1 * ones

    def final(kappa):
        return implicit_vertical_diffusion(
            u0, dz * ones, kappa * ones[1:], dz * ones[1:], dt, ones, drag=drag
        )

    u = final(1e6)  # infinitely fast mixing: the column decays as one slab
    # sum h u' + dt r u'_bottom = sum h u  with u' uniform => u' = u H / (H + dt r)
    expected = 0.1 * (nz * dz) / (nz * dz + dt * r)
    np.testing.assert_allclose(u[:, 0, 0], expected, rtol=1e-7)  # 1/kappa error
    grad = jax.grad(lambda k: jnp.sum(final(k)))(1e-2)
    fd = (jnp.sum(final(1e-2 + 1e-6)) - jnp.sum(final(1e-2 - 1e-6))) / 2e-6
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)
