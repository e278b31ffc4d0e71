"""3-D terms of the primitive equations against analytic values and the
conservation laws their docstrings claim."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.reductions import exact_reference_sum
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.primitive import PrimitiveModel
from tests.basins import HIGH_LATITUDE, shelves_and_trough

N, NZ = 12, 3


def periodic_box(serial_context, n=N, levels=NZ):
    """A doubly periodic f-plane box of n x n cells (every sum is over a closed
    domain with no walls, so conservation is exact in the discrete sense)."""
    config = case_config("double_gyre").replace(
        **{
            "grid.nx": n,
            "grid.ny": n,
            "grid.nz": levels,
            "grid.periodic_x": True,
            "grid.periodic_y": True,
            "physics.beta": 0.0,
        }
    )
    return build_model(config, serial_context)


@pytest.fixture
def box(serial_context):
    return periodic_box(serial_context)


def random_field(m, rng, scale, levels=NZ):
    tile = jnp.asarray(rng.standard_normal((levels, N, N)) * scale)
    return m.halo(m.grid.pad(tile))


def test_hydrostatic_pressure_of_a_uniform_anomaly():
    dz = jnp.array([10.0, 20.0, 40.0])
    rho = jnp.full((3, 2, 2), 0.5)
    p = bc.hydrostatic_pressure(rho, dz, 9.81, 1035.0)
    b = 9.81 * 0.5 / 1035.0
    np.testing.assert_allclose(p[:, 0, 0], b * np.array([5.0, 20.0, 50.0]), rtol=1e-15)


def test_vertical_velocity_closes_continuity_below_the_top():
    div = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3, 3)))
    w = bc.vertical_velocity(div)
    np.testing.assert_array_equal(w[0], 0.0)  # the free surface takes the total
    for k in range(1, 4):
        np.testing.assert_allclose(w[k], -np.sum(div[k:], axis=0), rtol=1e-14)


def test_coriolis_does_no_work(box):
    g, rng = box.grid, np.random.default_rng(1)
    u, v = random_field(box, rng, 0.3), random_field(box, rng, 0.3)
    fv, fu = bc.coriolis_at_u(v, g), bc.coriolis_at_v(u, g)
    work_u = np.asarray(g.interior(g.area_u * u * fv))
    work_v = np.asarray(g.interior(g.area_v * v * fu))
    total = exact_reference_sum(work_u) - exact_reference_sum(work_v)
    scale = exact_reference_sum(np.abs(work_u)) + exact_reference_sum(np.abs(work_v))
    assert abs(total) <= 1e-14 * scale


def _baroclinic_flow(m, rng):
    """Random u, v on wet faces with no depth-integrated transport, their
    transports and the w continuity gives them: with no net column
    convergence the free surface
    stays still, so continuity closes in every cell and energy conservation
    is exact (not only up to the surface's motion)."""
    geo = m.geometry
    g, dz = geo.grid, geo.dz3

    def no_column_transport(mask3, depth):
        a = mask3 * jnp.asarray(rng.standard_normal(mask3.shape))
        mean = bc.level_sum(dz * a) / jnp.where(depth > 0, depth, 1.0)
        return mask3 * (a - mean)

    u = no_column_transport(g.mask3_u, geo.depth_u)
    v = no_column_transport(g.mask3_v, geo.depth_v)
    transports = (u * g.dy_u * dz, v * g.dx_v * dz)
    div = g.mask3_c * op.divergence(*transports, g)
    return u, v, transports, bc.vertical_velocity(div)


def test_momentum_advection_does_no_work_over_shelves_and_a_trough(serial_context):
    # Walls, 1-level shelves, a 1-cell 3-level trough with closed ends, on the
    # sphere at 62-80N (metric terms tan(lat) = 1.9-5.7): the advective form
    # this replaced turned flow into the trough's dead end into a jet (the
    # 1.5-degree `globe` blow-up). Here sum(V u du + V v dv) must be round-off:
    # ~6 x 500 terms of O(1e-13) relative error each
    config = case_config("double_gyre").replace(**HIGH_LATITUDE, **{"grid.nz": 6})
    m = PrimitiveModel(config, serial_context, bathymetry=shelves_and_trough())
    geo, rng = m.geometry, np.random.default_rng(5)
    g = geo.grid
    u, v, transports, w = _baroclinic_flow(m, rng)
    du, dv = bc.momentum_advection(
        u, v, transports, w, geo.dz3, geo.levels, geo.tan_q, geo.radius
    )
    work_u = np.asarray(g.interior(g.area_u * geo.dz3 * u * du))
    work_v = np.asarray(g.interior(g.area_v * geo.dz3 * v * dv))
    total = exact_reference_sum(work_u) + exact_reference_sum(work_v)
    scale = exact_reference_sum(np.abs(work_u)) + exact_reference_sum(np.abs(work_v))
    assert scale > 0 and abs(total) <= 1e-13 * scale
    # the metric terms alone do no work either (tan(lat) u at corners)
    metric_q = op.u_to_q(u) * geo.tan_q / geo.radius
    mu = g.mask3_u * bc.rotation_at_u(v, metric_q, g)
    mv = g.mask3_v * bc.rotation_at_v(u, metric_q, g)
    on_u = exact_reference_sum(np.asarray(g.interior(g.area_u * geo.dz3 * u * mu)))
    on_v = exact_reference_sum(np.asarray(g.interior(g.area_v * geo.dz3 * v * mv)))
    assert abs(on_u - on_v) <= 1e-13 * (abs(on_u) + abs(on_v))


def _shear_wave_error(serial_context, n):
    """max |error| / amplitude of the advection of v = sin(kx) by a uniform
    u = 0.3 m/s in a periodic f-plane box of n x n cells: exact -u k cos(kx)."""
    m = periodic_box(serial_context, n, levels=2)
    g, geo = m.grid, m.geometry
    k = 2 * np.pi / (n * m.config.grid.dx)
    x = np.broadcast_to(np.asarray(g.x_c), (2, n, n))
    u = m.halo(g.pad(jnp.full((2, n, n), 0.3)))
    v = m.halo(g.pad(jnp.asarray(np.sin(k * x))))
    transports = (u * g.dy_u * geo.dz3, v * g.dx_v * geo.dz3)  # no divergence
    du, dv = bc.momentum_advection(u, v, transports, jnp.zeros_like(u), geo.dz3,
                                   geo.levels, geo.tan_q, geo.radius)
    np.testing.assert_array_equal(g.interior(du), 0.0)  # v(x) does not move u
    exact = -0.3 * k * np.cos(k * x)
    return float(np.max(np.abs(np.asarray(g.interior(dv)) - exact))) / (0.3 * k)


def test_momentum_advection_is_second_order(serial_context):
    # centred differences: the error of a 12-cell wave (k dx = 0.52) is
    # (k dx)^2 / 6 = 4.6 % and a quarter of that at 24 cells
    coarse = _shear_wave_error(serial_context, 12)
    fine = _shear_wave_error(serial_context, 24)
    assert 0.04 < coarse < 0.05
    assert 3.8 < coarse / fine < 4.2


def test_tracer_advection_conserves_and_keeps_a_uniform_tracer_uniform(box):
    g, dz, rng = box.grid, box.geometry.dz3, np.random.default_rng(2)
    tu = random_field(box, rng, 1e6) * g.mask3_u
    tv = random_field(box, rng, 1e6) * g.mask3_v
    w = bc.vertical_velocity(g.mask3_c * op.divergence(tu, tv, g))
    c = random_field(box, rng, 1.0) + 10.0
    change = np.asarray(g.interior(bc.tracer_advection(c, tu, tv, w, 600.0, g, dz)))
    area = np.asarray(g.interior(g.area_c * g.mask_c))
    content = exact_reference_sum(area * change)
    assert abs(content) <= 1e-13 * exact_reference_sum(np.abs(area * change))
    # uniform flow (no divergence anywhere): a uniform tracer feels nothing
    ones = jnp.ones_like(c)
    flat_u = 1e6 * g.mask3_u * ones
    still = bc.tracer_advection(ones, flat_u, 0 * flat_u, 0 * w, 600.0, g, dz)
    np.testing.assert_allclose(g.interior(still), 0.0, atol=1e-18)


def test_horizontal_diffusion_conserves_and_smooths(box):
    g, rng = box.grid, np.random.default_rng(3)
    c = random_field(box, rng, 1.0)
    geo = box.geometry
    change = bc.horizontal_diffusion(c, 1000.0, geo.dz3, geo.levels)
    area = np.asarray(g.interior(g.area_c * g.mask_c))
    ch, ci = np.asarray(g.interior(change)), np.asarray(g.interior(c))
    assert abs(exact_reference_sum(area * ch)) <= 1e-13 * np.abs(area * ch).sum()
    assert exact_reference_sum(area * ch * ci) < 0  # variance decays
