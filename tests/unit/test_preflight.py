"""The per-rank memory estimate and the smallest rank count whose tile fits."""

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.preflight import (
    BASE_BYTES,
    FACTOR,
    _ranks_that_fit,
    rank_bytes,
    values_per_cell,
)


def test_estimate_is_factor_times_fields_times_tile_cells_plus_base():
    config = Config().replace(**{"grid.nx": 64, "grid.ny": 32, "grid.halo": 2})
    tile = (32 + 4) * (16 + 4)  # 2 x 2 tiles with their halos
    base = BASE_BYTES["shallow_water"]
    assert rank_bytes(config, 2, 2) == base + FACTOR * 3 * 8 * tile
    f32 = config.replace(precision="float32")
    assert rank_bytes(f32, 2, 2) == base + FACTOR * 3 * 4 * tile
    pe = config.replace(**{"physics.mode": "primitive", "grid.nz": 10})
    assert values_per_cell(pe) == 41  # u, v, T, S per level + ssh
    pe_base = BASE_BYTES["primitive"]
    assert rank_bytes(pe, 2, 2) == pe_base + FACTOR * 41 * 8 * tile


def test_the_named_rank_count_is_the_smallest_that_fits():
    config = Config().replace(**{"grid.nx": 360, "grid.ny": 180})
    budget = rank_bytes(config, 6, 5)
    n = _ranks_that_fit(config, budget)
    layouts = [
        (px, py)
        for px in range(1, 361)
        for py in range(1, 181)
        if 360 % px == 0 and 180 % py == 0
    ]
    fits = {px * py for px, py in layouts if rank_bytes(config, px, py) <= budget}
    assert n == min(fits) <= 30
    base = BASE_BYTES["shallow_water"]
    assert _ranks_that_fit(config, base) is None  # nothing fits below the base
