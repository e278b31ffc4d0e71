"""Grid: metrics against closed-form geometry, masks from bathymetry, tiles = slices."""

import math

import numpy as np
import pytest

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import (
    EARTH_RADIUS,
    OMEGA,
    build_grid,
    column_if_x_invariant,
    decomposition_for,
    global_coordinates,
    level_thicknesses,
    x_invariant_columns,
)
from neuralogcm_hpc.parallel.decomposition import Decomposition


def sphere_config(**changes):
    base = {"grid.kind": "sphere", "grid.nx": 36, "grid.ny": 16}
    base.update(changes)
    return Config().replace(**base)


def serial(config, bathymetry=None):
    d = Decomposition(
        config.grid.nx,
        config.grid.ny,
        1,
        1,
        config.grid.periodic_x,
        config.grid.periodic_y,
    )
    return build_grid(config, d, 0, bathymetry)


def test_sphere_areas_sum_to_band_area():
    # exact area of the 80S-80N band: 2 pi a^2 (sin 80 - sin -80); 1e-13 relative
    # is float64 round-off of 576 cell areas
    g = serial(sphere_config())
    total = float((g.interior(g.area_c * np.ones(g.shape))).sum())
    band = 2 * math.pi * EARTH_RADIUS**2 * 2 * math.sin(math.radians(80))
    assert abs(total / band - 1) < 1e-13


def test_sphere_metrics_and_coriolis_at_their_points():
    g = serial(sphere_config())
    h = g.halo
    lat_c = math.radians(-80 + 5)  # first interior row centre (10 degree cells)
    lat_f = math.radians(-80)  # its south face
    dlon = math.radians(10)
    assert float(g.dx_u[h, 0]) == pytest.approx(EARTH_RADIUS * math.cos(lat_c) * dlon)
    assert float(g.dx_v[h, 0]) == pytest.approx(EARTH_RADIUS * math.cos(lat_f) * dlon)
    assert float(g.f_q[h, 0]) == pytest.approx(2 * OMEGA * math.sin(lat_f))
    assert float(g.f_u[h, 0]) == pytest.approx(2 * OMEGA * math.sin(lat_c))
    assert g.x_c[0] == 5.0 and g.y_v[0] == -80.0


def test_beta_plane_coriolis_is_linear_about_mid_channel():
    cfg = Config().replace(**{"grid.nx": 8, "grid.ny": 10, "physics.f0": 2e-4})
    g = serial(cfg)
    y_face = (np.arange(g.shape[0]) - g.halo) * cfg.grid.dy
    expected = 2e-4 + cfg.physics.beta * (y_face - 5 * cfg.grid.dy)
    np.testing.assert_allclose(np.asarray(g.f_q)[:, 0], expected, rtol=1e-14)


def test_masks_from_bathymetry_walls_and_periodicity():
    cfg = Config().replace(**{"grid.nx": 8, "grid.ny": 6})
    depth = np.full((6, 8), 100.0)
    depth[2, 3] = -5.0  # an island cell
    g = serial(cfg, depth)
    h = g.halo
    c, u, v, q = (
        np.asarray(g.interior(m)) for m in (g.mask_c, g.mask_u, g.mask_v, g.mask_q)
    )
    assert c[2, 3] == 0 and c.sum() == 47
    assert u[2, 3] == 0 and u[2, 4] == 0 and u[2, 5] == 1  # both island faces shut
    assert v[2, 3] == 0 and v[3, 3] == 0
    assert (v[0] == 0).all()  # south wall: the first row's south faces
    assert u[0, 0] == 1  # periodic in x: the seam face is open
    assert q[2, 3] == 0 and q[3, 4] == 0 and q[0, 0] == 0
    assert float(np.asarray(g.mask_v)[h + 6, h]) == 0  # north wall face
    assert float(np.asarray(g.depth)[h + 2, h + 3]) == 0


def test_x_invariant_fields_become_columns_and_land_keeps_full_tiles():
    """A zonal channel's masks and flat depth do not vary along x: columns of
    the same values; an island makes them vary, so they stay full tiles. Only
    when no rank's field varies does the column form apply (any_rank)."""
    cfg = Config().replace(**{"grid.nx": 8, "grid.ny": 6})
    channel = x_invariant_columns(serial(cfg))
    full = serial(cfg)
    for name in ("depth", "mask_c", "mask_u", "mask_v", "mask_q"):
        column, tile = (
            np.asarray(getattr(channel, name)),
            np.asarray(getattr(full, name)),
        )
        assert column.shape == (tile.shape[0], 1), name
        np.testing.assert_array_equal(np.broadcast_to(column, tile.shape), tile)
    depth = np.full((6, 8), 100.0)
    depth[2, 3] = -5.0  # an island cell
    basin = x_invariant_columns(serial(cfg, depth))
    assert np.asarray(basin.mask_c).shape == full.shape
    assert np.asarray(basin.depth).shape == full.shape
    # another rank's field varies: every rank keeps the full tile
    mask = full.mask_c
    assert column_if_x_invariant(mask, lambda flag: True).shape == mask.shape
    assert column_if_x_invariant(mask, lambda flag: flag).shape == (mask.shape[0], 1)


def test_levels_and_3d_masks():
    dz = level_thicknesses(23, 1000.0, 1.0)
    assert dz.sum() == pytest.approx(1000.0, rel=1e-14)
    assert dz[0] == pytest.approx(1.0) and np.all(np.diff(dz) > 0)
    np.testing.assert_array_equal(level_thicknesses(4, 100.0), [25.0] * 4)
    with pytest.raises(ValueError, match="dz_surface"):
        level_thicknesses(10, 5.0, 1.0)
    cfg = Config().replace(**{"grid.nx": 4, "grid.ny": 4, "grid.nz": 10})
    depth = np.full((4, 4), 100.0)
    depth[1, 1] = 45.0  # wet in levels 0..4 (tops 0, 10, .., 40 m)
    g = serial(cfg, depth)
    column = np.asarray(g.interior(g.mask3_c))[:, 1, 1]
    np.testing.assert_array_equal(column, [1] * 5 + [0] * 5)
    u_col = np.asarray(g.interior(g.mask3_u))[:, 1, 2]  # east face of that cell
    np.testing.assert_array_equal(u_col, [1] * 5 + [0] * 5)


@pytest.mark.parametrize("kind", ["sphere", "beta_plane"])
def test_tiles_equal_slices_of_the_serial_grid(kind):
    cfg = sphere_config(**{"grid.kind": kind, "grid.nz": 3})
    rng = np.random.default_rng(0)
    depth = rng.uniform(-50, 4000, size=(16, 36))
    ref = serial(cfg, depth)
    d = Decomposition(36, 16, 2, 2, True, False)
    h = ref.halo
    for rank in range(4):
        tile = build_grid(cfg, d, rank, depth)
        ys, xs = d.global_slices(rank)
        rows = slice(ys.start, ys.stop + 2 * h)
        cols = slice(xs.start, xs.stop + 2 * h)
        for name in ("mask_c", "mask_u", "mask_v", "mask_q", "depth", "mask3_v"):
            np.testing.assert_array_equal(
                getattr(tile, name),
                np.asarray(getattr(ref, name))[..., rows, cols],
                err_msg=name,
            )
        for name in ("dx_u", "area_c", "f_q"):
            np.testing.assert_array_equal(
                getattr(tile, name), np.asarray(getattr(ref, name))[rows], name
            )
        np.testing.assert_array_equal(tile.x_c, ref.x_c[xs])


def test_coordinates_location_and_decomposition():
    cfg = sphere_config()
    c = global_coordinates(cfg)
    assert c["x_c"][0] == 5.0 and c["y_c"][-1] == 75.0
    g = serial(cfg)
    assert g.location(0, 0) == "lon=5.00, lat=-75.00 (i=0, j=0)"
    with pytest.raises(ValueError, match="mpirun -n 4"):
        decomposition_for(
            cfg.replace(**{"decomposition.px": 2, "decomposition.py": 2}), 2
        )
    assert decomposition_for(cfg, 2).size == 2
