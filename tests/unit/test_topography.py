"""Real coastlines of the `global` case (global-land-mask), the land fractions
kept between runs, and bay filling."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from neuralogcm_hpc import topography
from neuralogcm_hpc.cases import case_config
from neuralogcm_hpc.cases.global_ocean import bathymetry
from neuralogcm_hpc.topography import CellGrid, count_land, fill_bays, land_fraction

TEN_DEGREES = CellGrid(36, 16, 0, 360, -80, 80)


def test_land_fraction_at_model_resolution_matches_the_continents():
    # 10 x 10-degree cells from 80S to 80N: ~29 % of the Earth is land, more of
    # it in the north; spot checks: central Africa and Asia land, mid-Pacific
    # and mid-Atlantic ocean
    frac = count_land(TEN_DEGREES)
    # streamed: importing the package would hold its whole 933 MB mask
    assert "global_land_mask" not in sys.modules
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


def test_shipped_fractions_are_the_counts():
    # the default grid's fraction ships with the package; it must be exactly
    # what counting gives (a stale file would silently move the coastlines)
    for grid in topography.SHIPPED_GRIDS:
        assert (topography._SHIPPED / topography._file_name(grid)).exists(), grid
    default = topography.SHIPPED_GRIDS[0]
    g = case_config("global").grid
    assert default == (g.nx, g.ny, g.lon_west, g.lon_east, g.lat_south, g.lat_north)
    assert np.array_equal(land_fraction(default), count_land(default))


@pytest.fixture
def fake_count(tmp_path, monkeypatch):
    """The user cache in tmp_path and a counter that records its calls."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def count(grid):
        calls.append((grid.nx, grid.ny))
        return np.full((grid.ny, grid.nx), 0.25)

    monkeypatch.setattr(topography, "count_land", count)
    land_fraction.cache_clear()
    yield calls, tmp_path / "neuralogcm_hpc" / "land_fraction"
    land_fraction.cache_clear()


def test_a_grid_is_counted_once_then_read_from_the_user_cache(fake_count):
    calls, directory = fake_count
    first = land_fraction(TEN_DEGREES)
    land_fraction.cache_clear()  # a new process
    again = land_fraction(TEN_DEGREES)
    assert calls == [(36, 16)] and np.array_equal(first, again)
    kept = [p.name for p in directory.iterdir() if not p.name.endswith(".lock")]
    assert kept == [topography._file_name(TEN_DEGREES)]  # no temporary left


def test_a_damaged_cache_file_is_counted_again(fake_count):
    calls, directory = fake_count
    land_fraction(TEN_DEGREES)
    path = directory / topography._file_name(TEN_DEGREES)
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
    land_fraction.cache_clear()
    with pytest.warns(UserWarning, match="recounting the damaged"):
        fraction = land_fraction(TEN_DEGREES)
    assert len(calls) == 2 and np.all(fraction == 0.25)
    assert np.all(np.load(path) == 0.25)  # and rewritten whole


def test_an_unwritable_cache_still_gives_the_fraction(fake_count):
    calls, directory = fake_count
    directory.parent.mkdir(parents=True)
    directory.write_text("a file where the directory should be")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(land_fraction(TEN_DEGREES) == 0.25)
    assert calls == [(36, 16)]


def test_processes_starting_together_count_once(tmp_path):
    # as the ranks of one run do: the first counts under the lock, the others
    # wait and read its file (one count per node, not one per rank)
    script = textwrap.dedent(
        f"""
        import os, time, numpy as np
        from neuralogcm_hpc import topography
        def count(grid):
            with open({str(tmp_path / "counts")!r}, "a") as log:
                log.write(f"{{os.getpid()}}\\n")
            time.sleep(1.0)
            return np.full((grid.ny, grid.nx), 0.5)
        topography.count_land = count
        grid = topography.CellGrid{tuple(TEN_DEGREES)}
        assert (topography.land_fraction(grid) == 0.5).all()
        """
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(3)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0, 0]
    assert len((tmp_path / "counts").read_text().split()) == 1
