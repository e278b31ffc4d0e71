"""Nothing global on one rank: peak memory of rank 0 against the other ranks.

    .venv/bin/python benchmarks/rank_memory.py [--ranks 1 4 16] [--nx 1024 --ny 512]

Runs the CLI (`python -m mpi4py -m neuralogcm_hpc.run simulate`) on a beta plane
(1024 x 512 by default: 16 tiles of 128 x 256 at 16 ranks, the grid 16x a tile) with
everything that could gather to rank 0 switched on: output snapshots and
time means, checkpoints, the state_sha256 digest and the diagnostics. Every
rank's peak RSS comes from the run's SUMMARY (`peak_rss_mib`). Rank 0 holding
a global field would show as rank 0's peak exceeding the others' by at least
one global field per variable (8 nx ny bytes: 4 MiB at 1024 x 512, 64 MiB at
4096 x 2048, against ~400 MiB of JAX runtime per rank).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import last_json_line, mpirun, write_result  # noqa: E402

RUN = Path(__file__).resolve().parents[1] / "neuralogcm_hpc" / "run.py"


def one(ranks: int, workdir: Path, nx: int, ny: int) -> dict:
    args = [
        "simulate", "--case", "beta_plane", "--steps", "40",
        "--set", f"grid.nx={nx}", "--set", f"grid.ny={ny}",
        "--set", "output.every=10", "--set", "output.average_every=20",
        "--set", "checkpoint.every=20", "--set", "time.steps_per_call=10",
        "--output", str(workdir / f"out{ranks}.zarr"),
        "--checkpoint-dir", str(workdir / f"ckpt{ranks}"),
    ]
    out = mpirun(RUN, ranks, args, timeout=3600)
    summary = last_json_line(out.stdout, "SUMMARY ")
    peaks = summary["peak_rss_mib"]
    others = peaks["others_max"]
    return {
        "ranks": ranks,
        "grid": [nx, ny],
        "decomposition": summary["decomposition"],
        "rank0_mib": peaks["rank0"],
        "others_max_mib": others,
        "others_min_mib": min(peaks["per_rank"][1:], default=None),
        "rank0_over_others": None if others is None else peaks["rank0"] / others,
        "state_sha256": summary["state_sha256"],
        "wall_seconds": summary["wall_seconds"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--nx", type=int, default=1024)
    parser.add_argument("--ny", type=int, default=512)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one(n, Path(tmp), args.nx, args.ny) for n in args.ranks]
    for r in rows:
        print(r)
    name = f"rank_memory_{args.nx}x{args.ny}"
    write_result(name, rows, command=f"benchmarks/rank_memory.py --ranks "
                 f"{' '.join(map(str, args.ranks))} --nx {args.nx} --ny {args.ny}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
