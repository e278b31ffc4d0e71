"""Strong and weak scaling of the model's step under MPI; throughput and SYPD.

Usage: python benchmarks/scaling.py [--case beta_plane] [--strong 1024x512]
           [--strong-ranks 1 2 4] [--weak 256x256] [--weak-ranks 1 2 4] [--steps 10]
Each (grid, ranks) point is its own `mpirun -n R python -m mpi4py` job with one core
per rank (benchmarks/common.py). A job builds the case's model through the model
API (cases.build_model), compiles a jitted, state-donating `advance` of --steps
steps, and times --repeat calls after warm-up; a sample is the slowest rank's.
  strong  fixed global grid: efficiency E(R) = T(1) / (R T(R))
  weak    fixed tile per rank (the grid grows along x, then y): E(R) = T(1) / T(R)
  cpu     the same from CPU seconds per step (process time, slowest rank), which
          other programs on a shared machine do not inflate
  SYPD    simulated years per wall-clock day = dt / (365 x seconds per step)
  roofline  compulsory bytes per step / step time / ranks, as a fraction of one
          core's STREAM-triad bandwidth (a lower bound of the bandwidth used)
Results: benchmarks/results/scaling.json (plot: benchmarks/plot.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def worker(case: str, nx: int, ny: int, steps: int, repeat: int) -> None:
    from neuralogcm_hpc.parallel.devices import configure_devices

    configure_devices()  # one GPU per rank on GPU nodes; CPU runs untouched
    import jax

    jax.config.update("jax_enable_x64", True)
    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.parallel.context import get_context

    ctx = get_context()
    cfg = case_config(case).replace(**{"grid.nx": nx, "grid.ny": ny})
    model = build_model(cfg, ctx)
    params, state = model.default_params(), model.initial_state()
    advance = jax.jit(lambda s, p: model.advance(s, p, steps), donate_argnums=0)
    state, timing = common.time_rollout(advance, state, params, steps, repeat, ctx)
    model.check(jax.device_get(model.health(state)), int(state.step))  # no NaN/CFL
    per_step = timing["step_s"]  # best of `repeat`: least disturbed when shared
    d = model.decomposition
    stages = getattr(getattr(model, "integrator", None), "stages", 1)
    prognostic_cells = (
        nx
        * ny
        * sum(
            cfg.grid.nz if name in ("u", "v", "temp", "salt") and cfg.grid.nz > 1 else 1
            for name in model.prognostic_names
        )
    )
    result = {
        "case": case,
        "grid": [nx, ny],
        "ranks": ctx.size,
        "layout": [d.px, d.py],
        "step_s": per_step,
        "step_median_s": timing["step_median_s"],
        # CPU seconds per step of the slowest rank (steady under machine load)
        "step_cpu_s": timing["cpu_step_s"],
        "compile_s": timing["first_call_s"],
        "cell_updates_per_s": nx * ny * cfg.grid.nz / per_step,
        "sypd": cfg.time.dt / (365.0 * per_step),
        "dt_s": cfg.time.dt,
        "exchanges_per_step": getattr(model, "exchanges_per_step", None),
        # Compulsory memory traffic: every stage reads and writes each prognostic
        # value once (8 bytes each way); real kernels move more, so the bandwidth
        # derived from it is a lower bound of what the step achieves.
        "compulsory_bytes_per_step": 2 * 8 * prognostic_cells * stages,
    }
    if ctx.is_root:
        print("RESULT " + json.dumps(result), flush=True)


def _grid(text: str) -> tuple[int, int]:
    nx, _, ny = text.partition("x")
    return int(nx), int(ny)


def weak_grid(tile: tuple[int, int], ranks: int) -> tuple[int, int]:
    """Global grid holding ``ranks`` tiles: double x, then y, then x, ..."""
    nx, ny = tile
    grow_x = True
    while ranks > 1:
        if ranks % 2:
            raise ValueError(f"weak scaling here takes powers of two, not {ranks}")
        nx, ny = (nx * 2, ny) if grow_x else (nx, ny * 2)
        grow_x, ranks = not grow_x, ranks // 2
    return nx, ny


def run_point(case, grid, ranks, args) -> dict:
    job = common.mpirun(
        Path(__file__),
        ranks,
        [
            "--worker",
            "--case",
            case,
            "--grid",
            f"{grid[0]}x{grid[1]}",
            "--steps",
            str(args.steps),
            "--repeat",
            str(args.repeat),
        ],
    )
    row = common.last_json_line(job.stdout)
    print(
        f"{case} {grid[0]}x{grid[1]} on {ranks} rank(s): {row['step_s'] * 1e3:.2f} "
        f"ms/step, {row['cell_updates_per_s'] / 1e6:.2f} Mcell/s, "
        f"SYPD {row['sypd']:.3f}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="beta_plane")
    parser.add_argument("--strong", type=_grid, default=(1024, 512))
    parser.add_argument("--strong-ranks", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--weak", type=_grid, default=(256, 256))
    parser.add_argument("--weak-ranks", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=10, help="steps per timed call")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--name", default="scaling", help="results file stem")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=_grid, help=argparse.SUPPRESS)
    parser.add_argument("--triad", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.case, *args.grid, args.steps, args.repeat)
        return 0
    if args.triad:
        from neuralogcm_hpc.parallel.devices import configure_devices

        configure_devices()
        print("RESULT " + json.dumps(common.triad_bandwidth()), flush=True)
        return 0
    triad = common.last_json_line(common.mpirun(Path(__file__), 1, ["--triad"]).stdout)
    print(f"triad bandwidth (one core): {triad['best_gb_per_s']:.2f} GB/s", flush=True)
    strong = [run_point(args.case, args.strong, r, args) for r in args.strong_ranks]
    weak = [
        run_point(args.case, weak_grid(args.weak, r), r, args) for r in args.weak_ranks
    ]
    for rows, kind in ((strong, "strong"), (weak, "weak")):
        base = next((r for r in rows if r["ranks"] == 1), None)
        for row in rows:
            if base is None:
                continue
            share = row["ranks"] if kind == "strong" else 1
            row["efficiency"] = base["step_s"] / share / row["step_s"]
            row["efficiency_cpu"] = base["step_cpu_s"] / share / row["step_cpu_s"]
            ranks, eff = row["ranks"], row["efficiency"]
            print(f"{kind} efficiency at {ranks} rank(s): {eff:.2f}")
    for row in strong + weak:
        achieved = row["compulsory_bytes_per_step"] / row["step_s"] / row["ranks"]
        row["roofline_fraction_per_rank"] = achieved / 1e9 / triad["best_gb_per_s"]
    path = common.write_result(
        args.name,
        {"strong": strong, "weak": weak},
        case=args.case,
        steps_per_call=args.steps,
        triad=triad,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
