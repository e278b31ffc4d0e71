"""Chunk ownership after a restart on another rank count: every chunk has one writer."""

import numpy as np
import pytest

from neuralogcm_hpc.io.routing import ChunkRouting
from neuralogcm_hpc.parallel.decomposition import Decomposition


@pytest.mark.parametrize(
    "layout, chunks",
    [((2, 2), (8, 16)), ((4, 1), (4, 8)), ((1, 4), (8, 4)), ((2, 1), (4, 4))],
)
def test_each_cell_is_written_by_exactly_one_rank(layout, chunks):
    d = Decomposition(16, 8, *layout)
    count = np.zeros((8, 16), int)
    for rank in range(d.size):
        routing = ChunkRouting(d, chunks, rank)
        for ys, xs in routing.own_regions():
            count[ys, xs] += 1
    np.testing.assert_array_equal(count, 1)


def test_aligned_when_tiles_are_whole_chunks():
    d = Decomposition(16, 8, 2, 2)
    assert ChunkRouting(d, (4, 8), 0).aligned  # store written by these tiles
    assert ChunkRouting(d, (2, 4), 0).aligned  # finer store (4 x 4 ranks)
    assert not ChunkRouting(d, (8, 16), 0).aligned  # coarser store (1 rank)


def test_exchange_without_communication_when_aligned():
    d = Decomposition(16, 8, 2, 2)
    tile = np.arange(32.0).reshape(4, 8)
    pieces = ChunkRouting(d, (4, 8), 3).exchange({"a": tile}, context=None)
    ((region, data),) = pieces["a"]
    assert region == d.global_slices(3) and data is tile
