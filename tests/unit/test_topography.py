"""Real coastlines of the `global` case (global-land-mask) and bay filling."""

import numpy as np

from neuralogcm_hpc.cases import case_config
from neuralogcm_hpc.cases.global_ocean import bathymetry
from neuralogcm_hpc.topography import fill_bays, land_fraction


def test_land_fraction_at_model_resolution_matches_the_continents():
    # 10 x 10-degree cells from 80S to 80N: ~29 % of the Earth is land, more of
    # it in the north; spot checks: central Africa and Asia land, mid-Pacific
    # and mid-Atlantic ocean
    frac = land_fraction(36, 16, 0.0, 360.0, -80.0, 80.0)
    lat = -75.0 + 10.0 * np.arange(16)
    lon = 5.0 + 10.0 * np.arange(36)
    at = lambda la, lo: frac[np.argmin(abs(lat - la)), np.argmin(abs(lon - lo))]  # noqa: E731
    assert at(5, 25) > 0.9 and at(45, 95) > 0.9  # Congo, Mongolia
    assert at(5, 185) < 0.05 and at(25, 325) < 0.05  # Pacific, Atlantic
    area = np.cos(np.radians(lat))[:, None] * np.ones(36)
    assert 0.25 < np.sum(frac * area) / area.sum() < 0.35


def test_fill_bays_closes_dead_ends_but_keeps_channels_open():
    land = np.ones((6, 8), bool)
    land[2, 1:7] = False  # an east-west channel, closed at both ends
    land[3, 3] = False  # a one-cell bay off it
    filled = fill_bays(land, periodic_x=False)
    # the bay and then, end by end, the whole dead-end channel fill in
    assert filled.all()
    ring = np.ones((5, 8), bool)
    ring[2] = False  # a zonally periodic channel has no dead end
    assert not fill_bays(ring, periodic_x=True)[2].any()


def test_global_case_with_real_coastlines_has_shelves():
    cfg = case_config("global").replace(
        **{"grid.nx": 36, "grid.ny": 16, "grid.coastlines": "globe"}
    )
    depth = bathymetry(cfg)
    assert set(np.unique(depth)) <= {0.0, 500.0, 2000.0, cfg.grid.depth}
    assert depth[8, 2] == 0.0  # 25E, 5N: Africa
    assert depth[8, 18] == cfg.grid.depth  # 185E, 5N: the open Pacific
