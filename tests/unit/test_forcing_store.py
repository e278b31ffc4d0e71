"""Time-varying forcing from a Zarr store: per-tile reading, linear in time."""

import jax
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.physics.forcing_store import write_store

SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
DAY = 86400.0


def small(**changes):
    """The double gyre's flat basin at 12 x 8 x 3 cells."""
    base = {"grid.nx": 12, "grid.ny": 8, "grid.nz": 3, "physics.pe_restore_days": 10.0}
    return case_config("double_gyre").replace(**{**base, **changes})


def test_forcing_is_linear_in_time_and_read_per_tile(tmp_path):
    cfg = small()
    path = tmp_path / "forcing.zarr"
    taux = np.stack([np.zeros((8, 12)), np.full((8, 12), 0.2)])
    sst = np.stack([np.full((8, 12), 10.0), np.full((8, 12), 20.0)])
    write_store(path, np.array([0.0, DAY]), taux=taux, temp_star=sst)
    whole = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    g = whole.grid
    f = whole.forcing_at(24)  # 24 steps of 1800 s: half a day, halfway
    np.testing.assert_allclose(
        np.asarray(f.taux), 0.1 * np.asarray(g.mask_u), rtol=1e-15
    )
    np.testing.assert_allclose(
        np.asarray(g.interior(f.temp_star)), 15.0 * np.asarray(g.interior(g.mask_c))
    )
    # before the first and after the last record the end records hold
    assert float(whole.forcing_at(-5).taux.max()) == 0.0
    assert float(whole.forcing_at(500).taux.max()) == pytest.approx(0.2)
    # tauy is not in the store: the analytic one (zero) stays
    assert float(abs(f.tauy).max()) == 0.0
    # a tile of 2 ranks reads its own window, halo included
    from neuralogcm_hpc.parallel.decomposition import Decomposition
    from neuralogcm_hpc.physics.forcing_store import read_series

    ramp = np.arange(12.0)[None, None] * np.ones((2, 8, 1))
    write_store(tmp_path / "ramp.zarr", np.array([0.0, DAY]), temp_star=ramp)
    d = Decomposition(12, 8, 2, 1, False, False)
    from neuralogcm_hpc.grid import build_grid

    tile = build_grid(cfg, d, 1, None)
    series = read_series(str(tmp_path / "ramp.zarr"), cfg, tile, d, 1, whole.forcing)
    row = np.asarray(series.fields["temp_star"][0, tile.halo])
    h = tile.halo
    np.testing.assert_array_equal(row[h:-h], np.arange(6.0, 12.0))
    assert np.all(row[-h:] == 0)  # beyond the eastern wall


def test_constant_store_steps_like_the_analytic_forcing(tmp_path):
    cfg = small()
    analytic = build_model(cfg, SERIAL)
    f = analytic.forcing
    inner = analytic.grid.interior
    path = tmp_path / "same.zarr"
    records = {
        n: np.stack([np.asarray(inner(getattr(f, n)))] * 2)
        for n in ("taux", "tauy", "temp_star", "salt_star")
    }
    write_store(path, np.array([0.0, 30 * DAY]), **records)
    stored = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    outs = []
    for m in (analytic, stored):
        step = jax.jit(lambda s, p, m=m: m.advance(s, p, 2))
        outs.append(m.fields(step(m.initial_state(), m.default_params())))
    # not bitwise: XLA folds the constant analytic forcing into the step (e.g.
    # taux / rho0 becomes one constant) but computes the interpolated one at
    # run time, so last bits differ (measured 1.4e-14 relative after 2 steps)
    for name in outs[0]:
        np.testing.assert_allclose(
            np.asarray(outs[0][name]),
            np.asarray(outs[1][name]),
            rtol=1e-12,
            atol=1e-15,
            err_msg=name,
        )


def test_periodic_records_wrap_and_keep_the_model_precision(tmp_path):
    cfg = small(precision="float32")
    path = tmp_path / "cycle.zarr"
    taux = np.stack([np.zeros((8, 12)), np.full((8, 12), 0.2)])
    write_store(path, np.array([0.0, DAY]), period=2 * DAY, taux=taux)
    model = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    mask = np.asarray(model.grid.mask_u)
    # 1.5 days: halfway from the second record back to the first (at 2 days)
    f = model.forcing_at(72)  # 72 x 1800 s
    assert f.taux.dtype == np.float32
    np.testing.assert_allclose(np.asarray(f.taux), 0.1 * mask, rtol=1e-6)
    # 2.5 days = 0.5 days of the next cycle
    np.testing.assert_allclose(
        np.asarray(model.forcing_at(120).taux), 0.1 * mask, rtol=1e-6
    )


def test_settings_that_only_primitive_mode_reads_are_refused_elsewhere():
    from neuralogcm_hpc.cases import check_case
    from neuralogcm_hpc.config import ConfigError, validate

    shallow = case_config("beta_plane_small")
    with pytest.raises(ConfigError, match="physics.forcing"):
        validate(shallow.replace(**{"physics.forcing": "f.zarr"}))
    # only the global case reads grid.bathymetry: a double gyre refuses it
    with pytest.raises(ConfigError, match="grid.bathymetry = .* read by case global"):
        check_case(small(**{"grid.bathymetry": "grid.zarr"}))


def test_ten_metre_winds_become_stress_on_the_faces(tmp_path):
    from neuralogcm_hpc.physics.bulk import wind_stress

    cfg = small()
    path = tmp_path / "winds.zarr"
    ones = np.ones((2, 8, 12))
    write_store(path, np.array([0.0, DAY]), u10=6.0 * ones, v10=8.0 * ones)
    model = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    f, g = model.forcing_at(3), model.grid
    tx, ty = wind_stress(6.0, 8.0)  # uniform wind: every face gets the same
    np.testing.assert_allclose(np.asarray(f.taux), tx * np.asarray(g.mask_u),
                               rtol=1e-14)
    np.testing.assert_allclose(np.asarray(f.tauy), ty * np.asarray(g.mask_v),
                               rtol=1e-14)


def test_store_errors_name_the_variable_and_the_fix(tmp_path):
    from neuralogcm_hpc.config import ConfigError

    cfg, ones = small(), np.ones((2, 8, 12))
    cases = {
        "half.zarr": ({"u10": ones}, "has u10 but not v10"),
        "both.zarr": ({"u10": ones, "v10": ones, "taux": ones}, "give one of them"),
    }
    for name, (fields, message) in cases.items():
        write_store(tmp_path / name, np.array([0.0, DAY]), **fields)
        with pytest.raises(ConfigError, match=message):
            build_model(cfg.replace(**{"physics.forcing": str(tmp_path / name)}),
                        SERIAL)
    import xarray as xr

    xr.Dataset(
        {"u10": (("time", "y", "x"), ones, {"units": "km/h"}),
         "v10": (("time", "y", "x"), ones, {"units": "m s-1"})},
        coords={"time": [0.0, DAY]},
    ).to_zarr(tmp_path / "kmh.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(ConfigError, match="u10 has units 'km/h'; expected 'm s-1'"):
        build_model(cfg.replace(**{"physics.forcing": str(tmp_path / "kmh.zarr")}),
                    SERIAL)


def test_net_heat_flux_warms_by_exactly_q_over_rho_cp(tmp_path):
    """No restoring (piston 0): the heat content [degC m3] grows by
    dt sum(area) Q / (rho0 cp0) per step; advection and diffusion conserve it
    (to round-off: 1e-12 relative over 2 steps)."""
    from neuralogcm_hpc.physics.constants import CP0, RHO0

    cfg = small(**{"physics.pe_restore_days": 0.0})
    path = tmp_path / "heat.zarr"
    write_store(path, np.array([0.0, DAY]), heat_flux=np.full((2, 8, 12), 100.0))
    model = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    state, params = model.initial_state(), model.default_params()
    before = float(model.diagnostics(state)["heat"])
    after = jax.jit(lambda s, p: model.advance(s, p, 2))(state, params)
    g = model.grid
    wet_area = float(np.sum(np.asarray(g.interior(g.area_c * g.mask_c))))
    expected = 2 * cfg.time.dt * wet_area * 100.0 / (RHO0 * CP0)
    gained = float(model.diagnostics(after)["heat"]) - before
    assert gained == pytest.approx(expected, rel=1e-9)


def test_program_size_does_not_grow_with_the_record_count(tmp_path):
    """The records are fetched at run time (a host callback), not embedded:
    before, 30 daily records of a 96 x 64 tile made 22 MB of StableHLO and 365
    made 183 MB (benchmarks/forcing_records.py)."""
    cfg = small()
    sizes = []
    for n in (3, 60):
        path = tmp_path / f"r{n}.zarr"
        write_store(path, np.arange(n) * DAY, temp_star=np.ones((n, 8, 12)))
        model = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
        fn = jax.jit(lambda s, p, m=model: m.advance(s, p, 1))
        text = fn.lower(model.initial_state(), model.default_params()).as_text()
        sizes.append(len(text))
    # the times vector (n floats) is the only part that grows: 57 x ~25 chars
    assert abs(sizes[1] - sizes[0]) < 0.01 * sizes[0]
