"""Start-up cost at 1 and 4 ranks: import, tracing, compilation, first step, memory,
without the persistent compilation cache, with an empty one and with a filled one.

Usage: python benchmarks/startup.py [--ranks 1 4] [--case beta_plane_small]
           [--steps 50]
Each point is one `mpirun -n R python -m mpi4py` job (common.mpirun; the worker
stops the clock at each phase, slowest rank):
  import      interpreter start-up excluded: jax, the package, MPI and mpi4jax's
              bridge (the start-up MPI check imports it) and the parallel context
  build       case config, grid, model, initial state and parameters
  trace       jax.jit(advance of --steps steps).lower: Python tracing to HLO
  compile     lowered.compile(): XLA, or a load from the persistent cache
  first_step  the first call (--steps model steps, the simulate loop's call)
  rss_mib     peak resident memory of the rank
for cache = off (NEURALOGCM_COMPILATION_CACHE=off, the previous behaviour), cold
(a new, empty directory: every rank compiles and writes) and warm (the same
directory again: a restarted segment or a repeated run). Then the whole process
of `python -m neuralogcm_hpc.run simulate` (launcher to exit, --steps steps) for
off and warm. Results: benchmarks/results/startup.json
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before the heavy imports: they are measured

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def worker(case: str, steps: int) -> None:
    import resource

    import jax

    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.compile_cache import enable_compilation_cache
    from neuralogcm_hpc.parallel.context import get_context
    from neuralogcm_hpc.precision import enable_x64

    enable_x64()
    ctx = get_context()
    cache = enable_compilation_cache("auto")
    marks = {"import": time.perf_counter()}
    cfg = case_config(case)
    model = build_model(cfg, ctx)
    state, params = model.initial_state(), model.default_params()
    jax.block_until_ready(state)
    marks["build"] = time.perf_counter()
    advance = jax.jit(lambda s, p: model.advance(s, p, steps), donate_argnums=0)
    lowered = advance.lower(state, params)
    marks["trace"] = time.perf_counter()
    compiled = lowered.compile()
    marks["compile"] = time.perf_counter()
    jax.block_until_ready(compiled(state, params))
    marks["first_step"] = time.perf_counter()
    out, last = {}, START
    for phase, at in marks.items():
        out[f"{phase}_s"] = common.slowest(at - last, ctx)
        last = at
    out["total_s"] = common.slowest(last - START, ctx)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_mib_max"] = common.slowest(rss, ctx)
    out["rss_mib_rank0"] = rss
    out["cache"] = str(cache) if cache else "off"
    if ctx.is_root:
        print("RESULT " + json.dumps(out), flush=True)


def whole_process(ranks: int, case: str, steps: int, env: dict) -> float:
    """Seconds from launching the CLI to its exit (launcher included)."""
    cmd = [str(common.ROOT / "launch" / "mpirun.sh"), "-n", str(ranks), "simulate"]
    cmd += ["--case", case, "--steps", str(steps)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=common.ROOT)
    return time.perf_counter() - start


def _entries(cache: str) -> int:
    """Programs in a cache directory (0 for "off")."""
    path = Path(cache)
    return len(list(path.glob("*-cache"))) if path.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--case", default="beta_plane_small")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    if args.worker:
        worker(args.case, args.steps)
        return
    rows = []
    job = ["--worker", "--case", args.case, "--steps", str(args.steps)]
    for ranks in args.ranks:
        # one new cache for the worker's programs, one for the CLI's
        caches = [tempfile.mkdtemp(prefix="jax-cache-") for _ in range(2)]
        try:
            modes = (("off", "off"), ("cold", caches[0]), ("warm", caches[0]))
            for mode, value in modes:
                before = _entries(value)
                os.environ["NEURALOGCM_COMPILATION_CACHE"] = value
                result = common.last_json_line(
                    common.mpirun(Path(__file__), ranks, job).stdout
                )
                # programs this run compiled anew (0 = all loaded from the cache)
                result["new_cache_entries"] = _entries(value) - before
                rows.append({"ranks": ranks, "mode": mode, **result})
                print(json.dumps(rows[-1]), flush=True)
            modes = (("off", "off"), ("cold", caches[1]), ("warm", caches[1]))
            for mode, value in modes:
                before = _entries(value)
                env = {**os.environ, "NEURALOGCM_COMPILATION_CACHE": value}
                seconds = whole_process(ranks, args.case, args.steps, env)
                new = _entries(value) - before
                row = {"mode": mode, "cli_process_s": seconds, "new_cache_entries": new}
                rows.append({"ranks": ranks, **row})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            for cache in caches:
                shutil.rmtree(cache)
    path = common.write_result("startup", rows, case=args.case, steps=args.steps)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
