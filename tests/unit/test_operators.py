"""C-grid operators against closed-form results, convergence and discrete identities."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import build_grid
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.parallel.halo import Halo
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.constants import EARTH_RADIUS

SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)


def setup(depth=None, **changes):
    cfg = Config().replace(**changes)
    g = cfg.grid
    d = Decomposition(g.nx, g.ny, 1, 1, g.periodic_x, g.periodic_y)
    return build_grid(cfg, d, 0, depth), Halo(d, g.halo, SERIAL)


def rows_cols(grid):
    """Tile-row y and tile-column x (global units) of centres and faces."""
    (x0, y0), (dx, dy) = grid.coord_origin, grid.coord_spacing
    j = np.arange(grid.shape[0]) - grid.halo
    i = np.arange(grid.shape[1]) - grid.halo
    return x0 + (i + 0.5) * dx, x0 + i * dx, y0 + (j + 0.5) * dy, y0 + j * dy


def inner(grid, a, ring=1):
    """Interior without its outermost ``ring`` cells (stencils near walls)."""
    a = np.asarray(grid.interior(a))
    return a[ring : a.shape[0] - ring, ring : a.shape[1] - ring]


def test_linear_fields_are_differentiated_exactly():
    # beta plane, uniform spacing: a centred difference of a linear function and
    # the circulation of solid-body rotation are exact up to round-off (1e-12)
    g, _ = setup(**{"grid.nx": 12, "grid.ny": 10, "grid.periodic_x": False})
    xc, xu, yc, yf = rows_cols(g)
    c = 3e-6 * xc[None, :] - 2e-6 * yc[:, None]
    np.testing.assert_allclose(inner(g, op.grad_x(c, g)), 3e-6, rtol=1e-12)
    np.testing.assert_allclose(inner(g, op.grad_y(c, g)), -2e-6, rtol=1e-12)
    omega = 1e-5
    u = -omega * yc[:, None] * np.ones_like(xu)
    v = omega * xc[None, :] * np.ones_like(yf)[:, None]
    zeta = op.curl(jnp.asarray(u), jnp.asarray(v), g)
    np.testing.assert_allclose(inner(g, zeta, 2), 2 * omega, rtol=1e-12)


def test_sphere_vorticity_of_solid_body_rotation_converges_at_second_order():
    # exact: zeta = 2 U sin(lat) / a for u = U cos(lat); error ratio 4 per halving
    errors = []
    for ny in (16, 32):
        g, _ = setup(**{"grid.kind": "sphere", "grid.nx": 2 * ny, "grid.ny": ny})
        _, _, yc, yf = rows_cols(g)
        u = 40.0 * np.cos(np.radians(yc))[:, None] * np.ones(g.shape)
        zeta = op.curl(jnp.asarray(u), jnp.zeros(g.shape), g)
        exact = 2 * 40.0 * np.sin(np.radians(yf))[:, None] / EARTH_RADIUS
        errors.append(np.abs(inner(g, zeta - exact, 1)).max())
    assert math.log2(errors[0] / errors[1]) == pytest.approx(2.0, abs=0.2)


def test_vector_laplacian_converges_at_second_order():
    # u = sin(k x): Lap u = -k^2 sin(k x) (nu = 1), periodic in x
    errors = []
    for nx in (16, 32):
        g, _ = setup(**{"grid.nx": nx, "grid.ny": 6, "grid.dx": 1e5 / nx})
        xc, xu, yc, yf = rows_cols(g)
        k = 2 * math.pi / 1e5
        u = np.sin(k * xu)[None, :] * np.ones(g.shape)
        lu, lv = op.vector_laplacian(jnp.asarray(u), jnp.zeros(g.shape), 1.0, 1.0, g)
        err = inner(g, lu, 0)[1:-1] + k * k * np.sin(k * xu)[g.halo : -g.halo]
        errors.append(np.abs(err).max() / k**2)
        assert np.abs(inner(g, lv, 0)).max() < 1e-20
    assert math.log2(errors[0] / errors[1]) == pytest.approx(2.0, abs=0.1)


def test_tracer_laplacian_exact_on_quadratic_and_conservative_with_land():
    g, _ = setup(**{"grid.nx": 10, "grid.ny": 8, "grid.periodic_x": False})
    xc, _, yc, _ = rows_cols(g)
    c = jnp.asarray((xc[None, :] ** 2 + 0 * yc[:, None]) / 1e6)
    lap = op.tracer_laplacian(c, 1.0, 1.0, g)
    # div grad x^2 = 2 (x^2/1e6 -> 2e-6), exact for centred differences
    np.testing.assert_allclose(inner(g, lap, 1), 2e-6, rtol=1e-9)
    depth = np.full((8, 10), 50.0)
    depth[3:5, 4] = 0.0  # an island
    g, halo = setup(depth, **{"grid.nx": 10, "grid.ny": 8})
    tracer = halo(jnp.asarray(np.random.default_rng(1).normal(size=g.shape)))
    lap = op.tracer_laplacian(tracer, 100.0, 100.0, g) * g.mask_c
    total = float(jnp.sum(g.interior(lap * g.area_c)))
    scale = float(jnp.sum(jnp.abs(g.interior(lap * g.area_c))))
    assert abs(total) < 1e-13 * scale  # no flux through walls, land or seam


def test_coriolis_energy_form_does_no_work_on_the_sphere():
    # Sadourny (1975): sum(U du dx_u + V dv dy_v) = 0 exactly; random fields,
    # an island and band walls; 1e-13 of the summed magnitude is round-off
    depth = np.full((12, 24), 4000.0)
    depth[5:7, 10:13] = 0.0
    g, halo = setup(depth, **{"grid.kind": "sphere", "grid.nx": 24, "grid.ny": 12})
    rng = np.random.default_rng(2)
    u, v, q, h = (halo(jnp.asarray(rng.normal(size=g.shape))) for _ in range(4))
    u, v = u * g.mask_u, v * g.mask_v
    big_u = op.c_to_u(h + 10) * u * g.dy_u
    big_v = op.c_to_v(h + 10) * v * g.dx_v
    du, dv = op.coriolis_energy(q, big_u, big_v, g)
    work = g.interior(big_u * du * g.dx_u) + g.interior(big_v * dv * g.dy_v)
    assert abs(float(work.sum())) < 1e-13 * float(jnp.abs(work).sum())


def test_divergence_theorem_on_the_sphere():
    g, halo = setup(**{"grid.kind": "sphere", "grid.nx": 24, "grid.ny": 12})
    rng = np.random.default_rng(3)
    u = halo(jnp.asarray(rng.normal(size=g.shape))) * g.mask_u
    v = halo(jnp.asarray(rng.normal(size=g.shape))) * g.mask_v
    div = op.divergence(u * g.dy_u, v * g.dx_v, g) * g.area_c
    assert abs(float(g.interior(div).sum())) < 1e-13 * float(
        jnp.abs(g.interior(div)).sum()
    )
