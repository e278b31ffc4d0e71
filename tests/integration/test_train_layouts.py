"""One training step through the CLI on a 2 x 2 layout equals 1 rank's."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import many_ranks_train  # noqa: E402


def test_two_by_two_training_step_equals_one_rank(tmp_path):
    # Before parallel/halo.py's _in_turn this hung for ever in MPI_Sendrecv:
    # with 2 tiles along y both y messages go to the same neighbour, a wall
    # leaves one of them unused, and the ranks of the two rows sent them in
    # different orders inside the rematerialised backward pass. 32 x 32 cells
    # (tiles of 16; the corrector's depth-3 stencil crosses the tile edges and
    # corners). Tolerances: benchmarks/many_ranks_train.py (not bitwise: the
    # gradient is summed over ranks in another order than over one grid).
    code = many_ranks_train.main([
        "--layouts", "1x1,2x2", "--workdir", str(tmp_path),
        "--set", "grid.nx=32", "--set", "grid.ny=32",
        "--timeout", "600", "--out-dir", str(tmp_path),
    ])
    rows = json.loads((tmp_path / "many_ranks_train.json").read_text())["results"]
    assert [r["ranks"] for r in rows] == [1, 4]
    assert code == 0 and rows[1]["within_tolerance"], rows[1]
