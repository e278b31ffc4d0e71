"""3-D terms of the primitive equations against analytic values and the
conservation laws their docstrings claim."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.reductions import exact_reference_sum
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import operators as op

N, NZ = 12, 3


@pytest.fixture
def box(serial_context):
    """A doubly periodic f-plane box, 3 levels (every sum is over a closed
    domain with no walls, so conservation is exact in the discrete sense)."""
    config = case_config("double_gyre").replace(
        **{
            "grid.nx": N,
            "grid.ny": N,
            "grid.nz": NZ,
            "grid.periodic_x": True,
            "grid.periodic_y": True,
            "physics.beta": 0.0,
        }
    )
    return build_model(config, serial_context)


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
