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
