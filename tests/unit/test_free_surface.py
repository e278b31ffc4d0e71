"""The split-explicit barotropic cycle: exact response to a constant push,
volume conservation, the transport identity tracers rely on, the time filter's
weights, and communication avoiding that changes no bit."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.reductions import exact_reference_sum
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import free_surface as fs
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.primitive import PrimitiveModel
from tests.basins import HIGH_LATITUDE, shelves_and_trough

SUBSTEPS = 10


def channel(serial_context, **physics):
    """A doubly periodic 16 x 16 x 2 flat box on an f-plane (no walls: uniform
    flow is exact; f constant, so the periodic halo is consistent in y too)."""
    config = case_config("double_gyre").replace(
        **{
            "grid.nx": 16,
            "grid.ny": 16,
            "grid.nz": 2,
            "grid.periodic_x": True,
            "grid.periodic_y": True,
            "physics.pe_barotropic_substeps": SUBSTEPS,
            "physics.beta": 0.0,
            **{f"physics.{k}": v for k, v in physics.items()},
        }
    )
    return build_model(config, serial_context)


def cycle(m, eta, ubar, vbar, gu, gv, batch=None):
    wide = m.geometry.barotropic
    fields = m.bt_halo.tree(tuple(wide.grid.pad(a) for a in (eta, ubar, vbar, gu, gv)))
    out = fs.barotropic_substeps(
        *fields,
        wide.depth_u,
        wide.depth_v,
        wide.grid,
        m.config.physics.gravity,
        m.dt_step,
        SUBSTEPS,
        m.bt_halo.tree,
        batch or wide.batch,
    )
    return [wide.grid.interior(a) for a in out]


def test_filter_weights_sum_to_one_centred_on_dt():
    for n in (1, 2, 7, 24):
        a, b = fs.filter_weights(n)
        m = np.arange(a.size)
        assert a.min() >= 0 and a.sum() == pytest.approx(1.0)
        assert (a * m).sum() == pytest.approx(n)  # the filtered state sits at dt
        assert b.sum() == pytest.approx(n)
        np.testing.assert_allclose(b, [a[k + 1 :].sum() for k in range(b.size)])
    assert fs.cycle_length(24) == 36 and fs.halo_fills(36, 38) == 1
    assert fs.halo_fills(36, 10) == 4
    with pytest.raises(ValueError, match="batch must be >= 1"):
        fs.halo_fills(36, 0)


def test_a_constant_push_gives_exactly_g_dt(serial_context):
    m = channel(serial_context, f0=0.0, beta=0.0)
    zero = jnp.zeros((16, 16))
    push = jnp.full((16, 16), 1e-6)  # m s-2
    eta, ubar, vbar, _, _ = cycle(m, zero, zero, zero, push, zero)
    np.testing.assert_allclose(ubar, 1e-6 * m.dt_step, rtol=1e-13)
    np.testing.assert_array_equal(eta, 0.0)
    np.testing.assert_array_equal(vbar, 0.0)


def test_volume_is_conserved_and_matches_the_mean_transports(serial_context):
    m = channel(serial_context)
    rng = np.random.default_rng(1)
    eta, ubar, vbar, gu, gv = (
        jnp.asarray(rng.standard_normal((16, 16)) * s)
        for s in (0.1, 0.05, 0.05, 1e-6, 1e-6)
    )
    eta_new, _, _, flux_u, flux_v = cycle(m, eta, ubar, vbar, gu, gv)
    area = np.asarray(m.grid.interior(m.grid.area_c * m.grid.mask_c))
    before = exact_reference_sum(area * np.asarray(eta))
    after = exact_reference_sum(area * np.asarray(eta_new))
    assert abs(after - before) <= 1e-13 * exact_reference_sum(np.abs(area * eta))
    # eta_new = eta - dt div(mean transport): what keeps tracers consistent
    g = m.grid
    flux = m.halo.tree((g.pad(flux_u), g.pad(flux_v)))
    div = g.interior(op.divergence(*flux, g))
    np.testing.assert_allclose(eta_new, eta - m.dt_step * div, atol=1e-15)


def test_refilling_in_smaller_batches_changes_no_bit(serial_context):
    # the wide halo lets all 15 sub-steps run after one exchange; batches of 3
    # refill four more times and must reproduce the same values exactly
    m = channel(serial_context)
    rng = np.random.default_rng(2)
    args = [
        jnp.asarray(rng.standard_normal((16, 16)) * s)
        for s in (0.1, 0.05, 0.05, 1e-6, 1e-6)
    ]
    wide = cycle(m, *args)
    refilled = cycle(m, *args, batch=3)
    for a, b in zip(wide, refilled, strict=True):
        np.testing.assert_array_equal(a, b)


def shelf_basin(serial_context, nz=6):
    """``tests.basins``' high-latitude shelves and 1-cell trough, 6 levels."""
    config = case_config("double_gyre").replace(
        **HIGH_LATITUDE,
        **{"grid.nz": nz, "physics.pe_barotropic_substeps": SUBSTEPS},
    )
    return PrimitiveModel(config, serial_context, bathymetry=shelves_and_trough())


def _level_coriolis_mean(m, ubar, vbar):
    """The independent reference: the depth mean of the 3-D per-level Coriolis
    terms (baroclinic.coriolis_at_u/_v, what the momentum predictor applies) for
    a depth-uniform flow, each level masked to its wet faces."""
    geo = m.geometry
    g, dz = geo.grid, geo.dz3
    at_u = bc.level_sum(dz * g.mask3_u * bc.coriolis_at_u(g.mask3_v * vbar, g))
    at_v = bc.level_sum(dz * g.mask3_v * bc.coriolis_at_v(g.mask3_u * ubar, g))
    safe = lambda h: jnp.where(h > 0, h, 1.0)  # noqa: E731
    return at_u / safe(geo.depth_u), at_v / safe(geo.depth_v)


def random_depth_mean_flow(serial_context, seed):
    """(model, random depth-mean U, V on the shelf basin's wet faces, its
    depth-weighted barotropic Coriolis term)."""
    m = shelf_basin(serial_context)
    geo, rng = m.geometry, np.random.default_rng(seed)
    g = geo.grid
    ubar = g.mask_u * jnp.asarray(rng.standard_normal(g.mask_u.shape))
    vbar = g.mask_v * jnp.asarray(rng.standard_normal(g.mask_v.shape))
    return m, ubar, vbar, fs.DepthWeightedCoriolis.build(geo.depth_u, geo.depth_v, g)


def test_barotropic_coriolis_is_the_depth_mean_of_the_level_coriolis(serial_context):
    m, ubar, vbar, coriolis = random_depth_mean_flow(serial_context, 3)
    g = m.geometry.grid
    ref_u, ref_v = _level_coriolis_mean(m, ubar, vbar)
    # round-off: sums of ~10 products of O(1e-4) terms, 1e-12 relative
    scale = float(jnp.abs(ref_u).max())
    inner = g.interior
    np.testing.assert_allclose(
        inner(g.mask_u * coriolis.at_u(vbar)), inner(ref_u), atol=1e-12 * scale
    )
    np.testing.assert_allclose(
        inner(g.mask_v * coriolis.at_v(ubar)), inner(ref_v), atol=1e-12 * scale
    )
    # the plain f avg(V) the cycle used is NOT the depth mean beside the steps
    plain = bc.coriolis_at_u(vbar, g)
    assert float(jnp.abs(inner(g.mask_u * plain - ref_u)).max()) > 0.1 * scale


def test_barotropic_coriolis_does_no_work(serial_context):
    # sum(area_u H_u U C_u(V)) = sum(area_v H_v V C_v(U)) for any U, V: the term
    # only turns the depth-mean flow; over steps the plain form did work
    m, ubar, vbar, coriolis = random_depth_mean_flow(serial_context, 4)
    geo = m.geometry
    g = geo.grid

    def work(cu, cv):
        pu = g.interior(g.area_u * geo.depth_u * ubar * cu)
        pv = g.interior(g.area_v * geo.depth_v * vbar * cv)
        return exact_reference_sum(np.asarray(pu)), exact_reference_sum(
            np.asarray(pv)
        ), exact_reference_sum(np.abs(np.asarray(pu)))

    on_u, on_v, size = work(coriolis.at_u(vbar), coriolis.at_v(ubar))
    assert abs(on_u - on_v) < 1e-13 * size  # round-off of ~100 terms
    on_u, on_v, size = work(bc.coriolis_at_u(vbar, g), bc.coriolis_at_v(ubar, g))
    assert abs(on_u - on_v) > 1e-2 * size
