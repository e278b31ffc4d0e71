"""Analytic surface forcing: the formulas' documented values, tiling invariance,
and the restoring flux's sign and piston velocity."""

import numpy as np
import pytest

from neuralogcm_hpc.cases import case_config
from neuralogcm_hpc.grid import build_grid, decomposition_for
from neuralogcm_hpc.physics import forcing
from neuralogcm_hpc.physics.constants import SECONDS_PER_DAY

CONFIG = case_config("double_gyre").replace(
    **{"grid.nx": 8, "grid.ny": 16, "grid.nz": 3, "grid.halo": 4}
)


def tile(config, size, rank):
    d = decomposition_for(
        config.replace(**{"decomposition.px": 1, "decomposition.py": size}), size
    )
    return build_grid(config, d, rank)


def test_row_coordinates_come_from_global_rows_on_any_tiling():
    whole = forcing.row_coordinate(CONFIG, tile(CONFIG, 1, 0))
    h = CONFIG.grid.halo
    for rank in range(2):
        part = forcing.row_coordinate(CONFIG, tile(CONFIG, 2, rank))
        rows = slice(rank * 8, rank * 8 + 8 + 2 * h)
        np.testing.assert_array_equal(part, whole[rows])  # bitwise: same formula


def test_basin_wind_and_global_profiles_have_their_documented_values():
    length = 1000.0
    y = np.array([0.0, 250.0, 500.0, 1000.0])
    np.testing.assert_allclose(
        forcing.basin_wind(y, length, 0.1), [-0.1, 0.0, 0.1, -0.1], atol=1e-16
    )
    lat = np.array([-50.0, 0.0, 50.0])
    wind = forcing.global_wind(lat, 0.2)
    assert wind[0] == pytest.approx(1.5 * wind[2])  # stronger Southern Ocean
    assert wind[1] < 0  # trade easterlies on the equator
    np.testing.assert_allclose(forcing.sst_profile(np.array([0.0, 90.0])), [28.0, -1.5])
    assert forcing.sss_profile(np.array([25.0]))[0] == pytest.approx(35.5)


def test_basin_forcing_restores_towards_the_target_with_the_piston_velocity():
    grid = tile(CONFIG, 1, 0)
    f = forcing.build_forcing(CONFIG, grid, "basin")
    days = CONFIG.physics.pe_restore_days
    assert f.piston == pytest.approx(float(grid.dz[0]) / (days * SECONDS_PER_DAY))
    temp = f.temp_star - 2.0  # 2 K colder than the target everywhere
    flux_t, flux_s = f.tracer_fluxes(temp, f.salt_star)
    np.testing.assert_allclose(flux_t, 2.0 * f.piston)  # warms towards the target
    np.testing.assert_array_equal(flux_s, 0.0)
    # SST target linear from south to north wall values
    rows = forcing.row_coordinate(CONFIG, grid)
    south, north = CONFIG.physics.pe_sst_south, CONFIG.physics.pe_sst_north
    length = CONFIG.grid.ny * CONFIG.grid.dy
    np.testing.assert_allclose(
        np.asarray(f.temp_star)[:, 0], south + (north - south) * rows / length
    )
    # no stress through walls: the u faces on land (the western wall) carry none
    assert float(np.abs(np.asarray(f.taux) * (1 - np.asarray(grid.mask_u))).max()) == 0


def test_restoring_off_and_unknown_kind():
    grid = tile(CONFIG, 1, 0)
    off = CONFIG.replace(**{"physics.pe_restore_days": 0.0})
    assert forcing.build_forcing(off, grid, "basin").piston == 0.0
    with pytest.raises(ValueError, match="forcing kind must be"):
        forcing.build_forcing(CONFIG, grid, "tropical")
