"""Many ranks on one machine: start-up breakdown, peak memory per rank, and the
final state's digest against 1 rank (mpirun --oversubscribe).

    python benchmarks/many_ranks.py                      # 1x1, 2x2, 4x4, 8x8
    python benchmarks/many_ranks.py --case double_gyre --layouts 1x1,8x8

Each layout PXxPY runs as one ``mpirun -n PX*PY`` job of this file with
``--worker``; every rank times its phases (import of JAX and the package,
model build, trace, XLA compile, the first call of ``--steps`` steps) and
reports its peak RSS; rank 0 prints them as one JSON line. The driver writes
benchmarks/results/many_ranks.json (many_ranks_CASE.json for other cases):
per layout the median and maximum over ranks of each phase, rank 0's and the
largest other rank's peak RSS, the state_sha256 and whether it equals the
first layout's (1x1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

START = time.perf_counter()  # before JAX and the package: the import phase

MARK = "MANY_RANKS "
# beta_plane_small at 128 x 128 cells: 8 x 8 tiles of 16, 64 x 1 tiles of 2
# columns and 1 x 64 tiles of 2 rows (the halo is 2) all tile it
DEFAULT_SETS = ["grid.ny=128"]


def worker(args) -> None:
    import jax

    import neuralogcm_hpc  # noqa: F401  (codegen flags before the backend starts)
    from neuralogcm_hpc.cases import build_model
    from neuralogcm_hpc.parallel.compile_slots import limit_concurrent_compilation
    from neuralogcm_hpc.parallel.context import get_context
    from neuralogcm_hpc.parallel.digest import global_digest
    from neuralogcm_hpc.precision import enable_x64
    from neuralogcm_hpc.run import build_parser, resolve_config

    enable_x64()
    times = {"import": time.perf_counter() - START}
    ctx = get_context()
    px, py = args.layout.split("x")
    sets = [*args.set, f"decomposition.px={px}", f"decomposition.py={py}"]
    cli = ["--case", args.case, *(x for s in sets for x in ("--set", s))]
    config = resolve_config(build_parser().parse_args(cli))  # as the CLI reads it
    limit_concurrent_compilation(ctx, config.compile_concurrency)  # as run.py does
    t = time.perf_counter()
    model = build_model(config, ctx)
    state, params = model.initial_state(), model.default_params()
    times["build"] = time.perf_counter() - t
    run = jax.jit(lambda s, p: model.advance(s, p, args.steps))
    t = time.perf_counter()
    lowered = run.lower(state, params)
    times["trace"] = time.perf_counter() - t
    t = time.perf_counter()
    compiled = lowered.compile()
    times["compile"] = time.perf_counter() - t
    t = time.perf_counter()
    final = jax.block_until_ready(compiled(state, params))
    times["first_call"] = time.perf_counter() - t
    fields = {n: jax.device_get(x) for n, x in model.fields(final).items()}
    digest = global_digest(fields, model.decomposition, ctx)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = ctx.gather({"times": times, "peak_rss_mib": rss_mib})
    if ctx.is_root:
        print(MARK + json.dumps({"ranks": report, "state_sha256": digest}))


def launch(args, layout: str) -> dict:
    px, py = (int(x) for x in layout.split("x"))
    ranks = px * py
    here = Path(__file__).resolve()
    cmd = [sys.executable]
    if ranks > 1:
        mpirun = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks)]
        mpirun += ["--oversubscribe"] + (["--allow-run-as-root"] * (os.geteuid() == 0))
        cmd = mpirun + [sys.executable, "-m", "mpi4py"]
    cmd += [str(here), "--worker", "--case", args.case, "--layout", layout]
    cmd += ["--steps", str(args.steps)] + [f"--set={s}" for s in args.set]
    # one XLA thread per rank, and ranks yield while waiting (2 cores here)
    env = dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1")
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()
    t = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=here.parents[1]
    )
    wall = time.perf_counter() - t
    lines = [x for x in proc.stdout.splitlines() if x.startswith(MARK)]
    if proc.returncode or not lines:
        raise SystemExit(f"{layout} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    found = json.loads(lines[-1][len(MARK) :])
    return summarise(layout, found, wall)


def summarise(layout: str, found: dict, wall: float) -> dict:
    import statistics

    ranks = found["ranks"]
    phases = ranks[0]["times"]
    out = {"layout": layout, "ranks": len(ranks), "wall_seconds": round(wall, 1)}
    for phase in phases:
        values = [r["times"][phase] for r in ranks]
        out[f"{phase}_s_median"] = round(statistics.median(values), 2)
        out[f"{phase}_s_max"] = round(max(values), 2)
    rss = [r["peak_rss_mib"] for r in ranks]
    out["peak_rss_mib_rank0"] = round(rss[0])
    out["peak_rss_mib_other_max"] = round(max(rss[1:])) if len(rss) > 1 else None
    out["peak_rss_mib_total"] = round(sum(rss))
    out["state_sha256"] = found["state_sha256"]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="1x1", help=argparse.SUPPRESS)
    parser.add_argument("--case", default="beta_plane_small")
    parser.add_argument("--layouts", default="1x1,2x2,4x4,8x8")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--out-dir", default=None, help="default benchmarks/results")
    args = parser.parse_args(argv)
    if args.set is None:
        args.set = DEFAULT_SETS if args.case == "beta_plane_small" else []
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import RESULTS, write_result

    rows = []
    for layout in args.layouts.split(","):
        rows.append(launch(args, layout))
        rows[-1]["equal_to_first"] = rows[-1]["state_sha256"] == rows[0]["state_sha256"]
        print(json.dumps(rows[-1]), flush=True)
    name = (
        "many_ranks" if args.case == "beta_plane_small" else f"many_ranks_{args.case}"
    )
    out_dir = Path(args.out_dir) if args.out_dir else RESULTS
    path = write_result(
        name, rows, out_dir, case=args.case, set=args.set, steps=args.steps
    )
    if not all(r["equal_to_first"] for r in rows):
        raise SystemExit(f"state_sha256 differs between layouts: see {path}")


if __name__ == "__main__":
    main()
