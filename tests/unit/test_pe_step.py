"""The primitive-equation step's stages, each against the property it promises:
wind momentum in, the depth mean handed over, tracers conserved and a uniform
tracer kept uniform, volume conserved by the whole step."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.reductions import exact_reference_sum
from neuralogcm_hpc.physics import pe_step

N, NZ = 16, 4


@pytest.fixture
def basin(serial_context):
    """A closed 16 x 16 x 4 double-gyre basin with the restoring switched off
    (so heat and salt can only be moved, never gained)."""
    config = case_config("double_gyre").replace(
        **{
            "grid.nx": N,
            "grid.ny": N,
            "grid.nz": NZ,
            "physics.pe_restore_days": 0.0,
            "physics.pe_barotropic_substeps": 10,
        }
    )
    return build_model(config, serial_context)


def stirred(m, seed=0):
    """The initial state with random currents and ssh (halos filled, masked)."""
    rng = np.random.default_rng(seed)
    state = m.initial_state()
    f = m.fields(state)
    f["u"] = f["u"] + 0.1 * rng.standard_normal(f["u"].shape)
    f["v"] = f["v"] + 0.1 * rng.standard_normal(f["v"].shape)
    f["ssh"] = 0.05 * rng.standard_normal(f["ssh"].shape)
    f["temp"] = f["temp"] + rng.standard_normal(f["temp"].shape)
    return m.with_fields(state, f)


def coefficients(m):
    return m._coefficients(m.default_params())


def step_once(m, state) -> dict:
    """The fields after one baroclinic step of ``state`` (no correction)."""
    new, _ = pe_step.baroclinic_step(
        m.geometry, m.terms, state.fields, state.memory, coefficients(m), None
    )
    return new


def total(m, values) -> tuple[float, float]:
    area = np.asarray(m.grid.interior(m.grid.area_c * m.grid.mask_c))
    a = area * np.asarray(m.grid.interior(values))
    return exact_reference_sum(a), exact_reference_sum(np.abs(a))


def test_predictor_puts_exactly_the_wind_stress_into_the_column(basin):
    # at rest, f = 0, no drag, no pressure gradient (uniform T, S): the column's
    # momentum after the step is dt tau / rho0, however the implicit vertical
    # viscosity spreads it
    cfg = basin.config.replace(
        **{"physics.f0": 0.0, "physics.beta": 0.0, "physics.pe_bottom_drag": 0.0}
    )
    m = build_model(cfg, basin.context)
    state = m.initial_state()
    f = m.fields(state)
    f["temp"] = jnp.full_like(f["temp"], 10.0)
    state = m.with_fields(state, f)
    pred = pe_step.momentum_predictor(
        m.geometry, m.terms, state.fields, state.memory, coefficients(m), {}
    )
    g = m.geometry
    column = np.asarray(g.grid.interior(jnp.sum(g.dz3 * pred.u, axis=0)))
    tau = np.asarray(g.grid.interior(m.forcing.taux))
    wet = np.asarray(g.grid.interior(g.grid.mask_u)) > 0
    expected = m.dt_step * tau / m.eos.rho0
    np.testing.assert_allclose(column[wet], expected[wet], rtol=1e-12, atol=1e-16)


def test_corrected_velocity_carries_the_cycles_depth_mean(basin):
    state = stirred(basin)
    geo, terms = basin.geometry, basin.terms
    pred = pe_step.momentum_predictor(
        geo, terms, state.fields, state.memory, coefficients(basin), {}
    )
    bt = pe_step.barotropic_cycle(geo, terms, state.fields, pred)
    u, _ = pe_step.corrected_velocity(geo, pred, bt)
    g = geo.grid
    mean = jnp.sum(geo.dz3 * g.mask3_u * u, 0) / jnp.where(
        geo.depth_u > 0, geo.depth_u, 1.0
    )
    np.testing.assert_allclose(
        g.interior(mean * g.mask_u), g.interior(bt.ubar * g.mask_u), atol=1e-14
    )


def test_step_conserves_volume_heat_and_salt(basin):
    state = stirred(basin, seed=1)
    new = step_once(basin, state)
    geo = basin.geometry
    for name, before, after in [
        ("volume", state.fields["ssh"], new["ssh"]),
        (
            "heat",
            jnp.sum(geo.thickness(state.fields["ssh"]) * state.fields["temp"], 0),
            jnp.sum(geo.thickness(new["ssh"]) * new["temp"], 0),
        ),
        (
            "salt",
            jnp.sum(geo.thickness(state.fields["ssh"]) * state.fields["salt"], 0),
            jnp.sum(geo.thickness(new["ssh"]) * new["salt"], 0),
        ),
    ]:
        (b, scale), (a, _) = total(basin, before), total(basin, after)
        assert abs(a - b) <= 1e-13 * scale, name


def test_a_uniform_tracer_stays_uniform_under_any_flow(basin):
    state = stirred(basin, seed=2)
    f = basin.fields(state)
    f["salt"] = jnp.full_like(f["salt"], 35.0)
    state = basin.with_fields(state, f)
    # the flow, the moving free surface (z* levels stretch) and the vertical
    # mixing must all leave S = 35 where the currents are random
    new = step_once(basin, state)
    g = basin.grid
    wet = np.asarray(g.interior(g.mask3_c)) > 0
    np.testing.assert_allclose(
        np.asarray(g.interior(new["salt"]))[wet], 35.0, rtol=1e-13
    )
