"""64 MPI ranks on one machine (oversubscribed): same state as 1 rank."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import many_ranks  # noqa: E402


def available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


# Memory of the whole 64-rank job on one node (MemAvailable before and at its
# lowest; shared library pages count once): ~15 GiB for the channel, ~13 GiB
# for the basin with two ranks compiling at a time (benchmarks/README.md).
@pytest.mark.slow
@pytest.mark.parametrize(
    "case, layouts, sets, gib_per_rank",
    [
        # 128 x 128 channel: 8 x 8 tiles of 16, 64 x 1 tiles of 2 columns
        ("beta_plane_small", "1x1,8x8,64x1", [], 0.24),
        # 64 x 64 x 12 basin: 8 x 8 tiles of 8 (the halo is 4); all 64 ranks
        # compiling at once would need 64 x 430 MiB
        ("double_gyre", "1x1,8x8", ["--set", "compile_concurrency=2"], 0.21),
    ],
)
def test_64_ranks_give_the_state_of_1_rank(tmp_path, case, layouts, sets,
                                           gib_per_rank):
    need = 64 * gib_per_rank
    if available_gib() < need * 1.1:
        pytest.skip(f"64 ranks of {case} need ~{need:.0f} GiB of memory")
    many_ranks.main(
        ["--case", case, "--layouts", layouts, "--steps", "10", *sets]
        + ["--out-dir", str(tmp_path)]
    )  # raises SystemExit if a layout's state_sha256 differs from 1x1's
    name = "many_ranks" if case == "beta_plane_small" else f"many_ranks_{case}"
    rows = json.loads((tmp_path / f"{name}.json").read_text())["results"]
    assert [r["ranks"] for r in rows][-1] == 64 and all(
        r["equal_to_first"] for r in rows
    )
