"""Tiling arithmetic: offsets, neighbours, automatic layouts and clear refusals."""

import numpy as np
import pytest

from neuralogcm_hpc.parallel.decomposition import (
    Decomposition,
    DecompositionError,
    valid_rank_counts,
)


def test_tiles_cover_the_grid_exactly_once():
    d = Decomposition(12, 9, px=4, py=3)
    cover = np.zeros((9, 12), int)
    for rank in range(d.size):
        ys, xs = d.global_slices(rank)
        cover[ys, xs] += 1
    assert (cover == 1).all()
    assert d.offsets(5) == (3, 3)  # rank 5 = tile (1, 1) with x fastest


def test_neighbours_wrap_on_periodic_axes_and_stop_at_walls():
    d = Decomposition(8, 8, px=2, py=2, periodic_x=True, periodic_y=False)
    assert d.neighbours(0) == {"west": 1, "east": 1, "south": None, "north": 2}
    assert d.at_wall(3) == {"west": False, "east": False, "south": False, "north": True}


def test_auto_prefers_short_perimeter():
    d = Decomposition.auto(64, 64, 4)
    assert (d.px, d.py) == (2, 2)
    d = Decomposition.auto(360, 180, 2)
    assert (d.px, d.py) == (2, 1)  # 180+180 < 360+90 cells of tile perimeter


def test_uneven_rank_count_is_refused_with_valid_counts():
    with pytest.raises(DecompositionError, match="3 ranks cannot tile the 8 x 8") as e:
        Decomposition.auto(8, 8, 3)
    assert "1, 2, 4, 8, 16" in str(e.value)
    assert valid_rank_counts(8, 8, up_to=8) == [1, 2, 4, 8]


def test_explicit_layout_that_does_not_divide_is_refused():
    with pytest.raises(DecompositionError, match="does not divide the 10 x 8 grid"):
        Decomposition(10, 8, px=4, py=1)


def test_halo_wider_than_tile_is_refused():
    with pytest.raises(DecompositionError, match="halo width 3 exceeds the 2 x 8"):
        Decomposition(8, 8, px=4, py=1).check_halo(3)


def test_local_tile_slices_last_two_axes():
    g = np.arange(2 * 4 * 6).reshape(2, 4, 6)
    d = Decomposition(6, 4, px=3, py=2)
    np.testing.assert_array_equal(d.local_tile(g, 4), g[:, 2:4, 2:4])
